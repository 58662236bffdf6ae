//! Source files and spans: every value iisn reads remembers where it came from.
//!
//! A [`Span`] is a byte range in one [`SourceFile`] of a [`SourceMap`]. Line and column
//! numbers are computed on demand (1-based; columns count Unicode scalar values, as rustc
//! does). This module does no parsing and no I/O beyond holding the text it is given, so the
//! loaders can be tested on in-memory strings.

use std::path::{Path, PathBuf};

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

impl SourceId {
    /// The pseudo-file holding IIS's own server-level defaults (what applicationHost.config
    /// provides on a real server). Spans into it mark stock entries, such as the built-in
    /// StaticFile handler or the `.config` extension deny rule.
    pub const BUILTIN: SourceId = SourceId(u32::MAX);

    pub fn is_builtin(self) -> bool {
        self == SourceId::BUILTIN
    }
}

/// A byte range `[start, end)` in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub source: SourceId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(source: SourceId, start: usize, end: usize) -> Self {
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        let end = u32::try_from(end.max(start as usize)).unwrap_or(u32::MAX);
        Span { source, start, end }
    }

    /// The span of a stock entry from IIS's defaults.
    pub fn builtin() -> Self {
        Span::point(SourceId::BUILTIN, 0)
    }

    pub fn is_builtin(self) -> bool {
        self.source.is_builtin()
    }

    /// An empty span at `offset`.
    pub fn point(source: SourceId, offset: usize) -> Self {
        Span::new(source, offset, offset)
    }
}

/// A value together with the span it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// 1-based line and column of a byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

/// One file's text (lossily decoded to UTF-8) and its line table.
#[derive(Debug)]
pub struct SourceFile {
    path: PathBuf,
    text: String,
    line_starts: Vec<u32>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> Self {
        let mut line_starts = vec![0u32];
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => line_starts.push(u32::try_from(i + 1).unwrap_or(u32::MAX)),
                // A lone CR ends a line too (iisnode.yml accepts it, and so do editors).
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => {
                    line_starts.push(u32::try_from(i + 1).unwrap_or(u32::MAX))
                }
                _ => {}
            }
            i += 1;
        }
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Line and column (both 1-based) of a byte offset; offsets past the end clamp to it.
    pub fn line_col(&self, offset: u32) -> LineCol {
        let offset = offset.min(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts[line_idx] as usize;
        let mut end = offset as usize;
        while end > start && !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let column = self.text[start..end].chars().count() + 1;
        LineCol {
            line: u32::try_from(line_idx + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }

    /// Column counted in UTF-16 code units (1-based), as SARIF's default `columnKind` wants.
    pub fn utf16_column(&self, offset: u32) -> u32 {
        let lc = self.line_col(offset);
        let start = self.line_starts[(lc.line - 1) as usize] as usize;
        let mut end = (offset as usize).min(self.text.len());
        while end > start && !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let units: usize = self.text[start..end].chars().map(char::len_utf16).sum();
        u32::try_from(units + 1).unwrap_or(u32::MAX)
    }

    /// The text of 1-based line `line`, without its line terminator.
    pub fn line_text(&self, line: u32) -> &str {
        let idx = (line.max(1) - 1) as usize;
        let Some(&start) = self.line_starts.get(idx) else {
            return "";
        };
        let end = self
            .line_starts
            .get(idx + 1)
            .map(|&e| e as usize)
            .unwrap_or(self.text.len());
        self.text[start as usize..end].trim_end_matches(['\n', '\r'])
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

/// All files read while loading a site.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
    /// Id of `files[0]`: a map that extends another one (files read later, such as the
    /// iisnode.yml of an application created on demand) starts after it, so ids never clash.
    base: u32,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, path: PathBuf, text: String) -> SourceId {
        let n = u32::try_from(self.files.len()).unwrap_or(u32::MAX);
        let id = SourceId(self.base.saturating_add(n));
        self.files.push(SourceFile::new(path, text));
        id
    }

    /// The file behind `id`; [`SourceId::BUILTIN`] (or any unknown id) yields an empty
    /// pseudo-file named `(IIS defaults)`.
    pub fn get(&self, id: SourceId) -> &SourceFile {
        static BUILTIN: std::sync::OnceLock<SourceFile> = std::sync::OnceLock::new();
        let idx = id.0.checked_sub(self.base).map(|i| i as usize);
        idx.and_then(|i| self.files.get(i)).unwrap_or_else(|| {
            BUILTIN.get_or_init(|| SourceFile::new("(IIS defaults)".into(), String::new()))
        })
    }

    pub fn files(&self) -> impl Iterator<Item = (SourceId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (SourceId(self.base + i as u32), f))
    }

    /// An empty map whose ids start after this one's, for files read later.
    pub fn continuation(&self) -> SourceMap {
        SourceMap {
            files: Vec::new(),
            base: self.base + u32::try_from(self.files.len()).unwrap_or(0),
        }
    }

    /// Whether `id` belongs to this map.
    pub fn contains(&self, id: SourceId) -> bool {
        id.0.checked_sub(self.base)
            .is_some_and(|i| (i as usize) < self.files.len())
    }

    pub fn path(&self, id: SourceId) -> &Path {
        self.get(id).path()
    }

    pub fn line_col(&self, span: Span) -> LineCol {
        self.get(span.source).line_col(span.start)
    }

    pub fn end_line_col(&self, span: Span) -> LineCol {
        self.get(span.source).line_col(span.end)
    }

    /// The text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        let text = self.get(span.source).text();
        text.get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }
}

/// Byte offset of `part` inside `base`, when `part` is a sub-slice of it.
pub(crate) fn offset_in(base: &str, part: &str) -> Option<usize> {
    let b = base.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    (p >= b && p + part.len() <= b + base.len()).then(|| p - b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_handles_lf_crlf_and_cr() {
        let f = SourceFile::new("x".into(), "ab\ncd\r\nef\rgh".into());
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, column: 1 });
        assert_eq!(f.line_col(4), LineCol { line: 2, column: 2 });
        assert_eq!(f.line_col(7), LineCol { line: 3, column: 1 });
        assert_eq!(f.line_col(10), LineCol { line: 4, column: 1 });
        assert_eq!(f.line_text(2), "cd");
        assert_eq!(f.line_text(4), "gh");
        assert_eq!(f.line_count(), 4);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let f = SourceFile::new("x".into(), "é𝄞x".into());
        assert_eq!(f.line_col(2).column, 2);
        assert_eq!(f.line_col(6).column, 3);
        assert_eq!(f.utf16_column(6), 4);
        // An offset inside a multi-byte character clamps to its start.
        assert_eq!(f.line_col(1).column, 1);
        // Past the end clamps to the end.
        assert_eq!(f.line_col(99).column, 4);
    }

    proptest::proptest! {
        #[test]
        fn line_col_never_panics(text in ".{0,200}", offset in 0u32..400) {
            let f = SourceFile::new("p".into(), text);
            let lc = f.line_col(offset);
            proptest::prop_assert!(lc.line >= 1 && lc.column >= 1);
            let _ = f.utf16_column(offset);
            let _ = f.line_text(lc.line);
        }
    }
}
