//! iisnode.yml: iisnode's own `key: value` line format, which is **not YAML**.
//!
//! iisnode reads the override file with a small hand-written C parser
//! (`CModuleConfiguration::ApplyYamlConfigOverrides`), not with a YAML library. This module
//! reproduces that parser byte for byte and adds precise diagnostics. The grammar:
//!
//! * The file is read as raw bytes and ends at the first NUL byte.
//! * A line ends at LF or CR (so LF, CRLF and a lone CR all work).
//! * On each line the **first `#`** starts a comment (there is no quoting or escaping) and the
//!   **first `:`** separates the key from the value, even when that colon is inside the comment.
//! * Only the space character is whitespace. Tabs, a UTF-8 byte order mark and non-breaking
//!   spaces are ordinary characters.
//! * A line with nothing but spaces before its comment (or its end) is ignored.
//! * Any other line must read `KEY [spaces] : [spaces] VALUE [spaces] [# comment]`: a line
//!   without a colon, a line whose first non-space character is the colon, or a key followed by
//!   anything but spaces before the colon makes iisnode reject the **whole file**.
//! * The key runs from the first non-space character to the first space or colon; the value
//!   from the first non-space character after the colon to the last one before the comment.
//!   Colons inside the value are kept (`C:\...`), quotes are not stripped.
//! * A line with an empty value is ignored, even for a known key. Keys are compared without
//!   regard to ASCII case; unknown keys are ignored. Lines apply in file order (last one wins).
//! * Values are converted per key: booleans accept `true/false/yes/no/1/0` in any case and
//!   reject the file otherwise; numbers go through C `atol` (lenient: `"4"` is 0, `12abc` is
//!   12, `-1` is 4294967295) and reject the file only on 32-bit signed overflow.
//!
//! Why not YAML: iisnode's own sample file is not valid YAML (`watchedFiles: *.js;iisnode.yml`
//! is an alias to an unknown anchor, `"C:\Program Files\..."` holds invalid escapes, and stray
//! lines such as `http://foo.com/...` parse as the key `http`), while files that are valid YAML
//! (nested maps, lists, quoted values) mean something else, or nothing, to iisnode.
//!
//! One quirk follows from iisnode's C code and is not in the written spec: when the first `#`
//! of a line comes before its first `:` and no space separates the key from that colon
//! (`foo#note:bar`), iisnode does not fail. It cuts the key at the `#` (`foo`) and takes the
//! value from just after the colon **to the end of the file**. [`parse`] reproduces this and
//! warns about it.
//!
//! [`parse`] applies the line grammar and reports syntax problems; [`resolve`] maps entries to
//! attributes with iisnode's converters. Both return diagnostics next to their data and never
//! panic.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::config::schema::{self, Attr, Kind, LEGACY, SCHEMA};
use crate::config::source::{SourceId, Span, Spanned};
use crate::diag::{Diagnostic, Severity, codes};

/// One `key: value` line with a non-empty value, in file order.
///
/// The value is non-empty except in one quirk: a key containing `#` directly followed by the
/// colon at the very end of the file (`foo#x:`), which iisnode applies with an empty value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YmlEntry {
    pub key: Spanned<String>,
    pub value: Spanned<String>,
}

/// The file as iisnode's grammar reads it.
#[derive(Clone, Debug)]
pub struct RawIisnodeYml {
    pub entries: Vec<YmlEntry>,
    /// false when iisnode would reject the whole file (a syntax error): iisn then shows
    /// iisnode's "unable to read the configuration file iisnode.yml" page.
    pub syntax_ok: bool,
    pub diagnostics: Vec<Diagnostic>,
}

/// A typed override for one attribute.
///
/// `Str` is verbatim, **not** `%VAR%`-expanded: the caller expands the keys whose schema entry
/// has `yml_expanded`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum YmlValue {
    Uint(u32),
    Bool(bool),
    Str(String),
}

/// One valid override, with where its key and value are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YmlOverride {
    pub attr: Attr,
    pub value: YmlValue,
    pub key_span: Span,
    pub value_span: Span,
}

/// The result of [`resolve`].
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Every valid override in file order (several for the same attribute when a key repeats;
    /// applying them in order gives iisnode's "last one wins").
    pub overrides: Vec<YmlOverride>,
    /// false when a value error makes iisnode reject the file (invalid boolean, 32-bit
    /// overflow). Syntax errors are reported by [`RawIisnodeYml::syntax_ok`] instead; the file
    /// is accepted only when both are true.
    pub ok: bool,
    pub diagnostics: Vec<Diagnostic>,
}

/// The result of [`parse_dword`]: C `atol` then a cast to a 32-bit unsigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Atol {
    /// The value iisnode stores. On overflow this is `atol`'s clamped result cast to unsigned
    /// (2147483647 or 2147483648), but iisnode then rejects the file instead.
    pub value: u32,
    /// The number is out of the 32-bit signed range: iisnode rejects the file.
    pub overflow: bool,
    /// None when the text is a plain decimal 0..=2147483647
    pub lenient: Option<String>,
}

/// iisnode's `GetBOOL(char*)`: true/1/yes, false/0/no, ASCII case-insensitive; anything else
/// None.
pub fn parse_bool(value: &str) -> Option<bool> {
    let is = |word: &str| value.eq_ignore_ascii_case(word);
    if is("false") || is("0") || is("no") {
        Some(false)
    } else if is("true") || is("1") || is("yes") {
        Some(true)
    } else {
        None
    }
}

/// iisnode's `GetDWORD(char*)` = C `atol` then cast to a 32-bit unsigned.
///
/// `atol` skips leading C whitespace (space, tab, LF, VT, FF, CR), accepts one sign, reads
/// decimal digits up to the first non-digit and yields 0 when there are none. A result outside
/// the 32-bit signed range is an overflow (iisnode rejects the file); a negative result wraps.
pub fn parse_dword(value: &str) -> Atol {
    const POSITIVE_LIMIT: u64 = i32::MAX as u64;
    const NEGATIVE_LIMIT: u64 = POSITIVE_LIMIT + 1;

    let bytes = value.as_bytes();
    let mut i = 0;
    while bytes
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        i += 1;
    }
    let leading_space = i > 0;
    let sign = match bytes.get(i) {
        Some(&c @ (b'+' | b'-')) => {
            i += 1;
            Some(c)
        }
        _ => None,
    };
    let negative = sign == Some(b'-');
    let digits_start = i;
    let mut magnitude: u64 = 0;
    while let Some(&d) = bytes.get(i).filter(|c| c.is_ascii_digit()) {
        // Saturate just above the largest magnitude atol accepts; more digits cannot fix it.
        magnitude = (magnitude * 10 + u64::from(d - b'0')).min(NEGATIVE_LIMIT + 1);
        i += 1;
    }
    let has_digits = i > digits_start;
    let rest = value.get(i..).unwrap_or_default();

    let overflow = magnitude
        > if negative {
            NEGATIVE_LIMIT
        } else {
            POSITIVE_LIMIT
        };
    let signed: i64 = match (overflow, negative) {
        (true, false) => i64::from(i32::MAX),
        (true, true) => i64::from(i32::MIN),
        (false, false) => magnitude as i64,
        (false, true) => -(magnitude as i64),
    };
    let result = i32::try_from(signed).unwrap_or(0) as u32;

    let plain = !leading_space && sign.is_none() && has_digits && rest.is_empty() && !overflow;
    let lenient = (!plain).then(|| {
        if !has_digits {
            return "no leading digits".to_string();
        }
        if overflow {
            return "out of the 32-bit signed range".to_string();
        }
        let mut reasons = Vec::new();
        if leading_space {
            reasons.push("leading whitespace skipped".to_string());
        }
        match sign {
            Some(b'+') => reasons.push("`+` sign ignored".to_string()),
            Some(_) if result == 0 => reasons.push("`-` sign ignored".to_string()),
            Some(_) => reasons.push(format!("negative, wraps to {result}")),
            None => {}
        }
        if !rest.is_empty() {
            reasons.push(format!("trailing text {} ignored", show(rest)));
        }
        reasons.join(", ")
    });
    Atol {
        value: result,
        overflow,
        lenient,
    }
}

/// Parse `text` (the whole file as the SourceMap holds it; a leading U+FEFF BOM is still in
/// it, and spans are byte offsets into `text`).
pub fn parse(source: SourceId, text: &str) -> RawIisnodeYml {
    Parser {
        source,
        text,
        bytes: text.as_bytes(),
        limit: text.find('\0').unwrap_or(text.len()),
        entries: Vec::new(),
        diagnostics: Vec::new(),
        syntax_ok: true,
    }
    .run()
}

/// Dispatch entries to attributes with iisnode's converters, in file order.
pub fn resolve(raw: &RawIisnodeYml) -> Resolved {
    let mut overrides: Vec<YmlOverride> = Vec::new();
    let mut diagnostics = Vec::new();
    let mut ok = true;

    for entry in &raw.entries {
        let key = entry.key.value.as_str();
        let value = entry.value.value.as_str();
        let key_span = entry.key.span;
        let value_span = entry.value.span;
        let Some(attr) = Attr::from_yml_key(key) else {
            // The BOM glued to the first key is explained once, by parse's YML_BOM.
            if !(key_span.start == 0 && key.starts_with('\u{feff}')) {
                diagnostics.push(unknown_key(entry));
            }
            continue;
        };
        let schema = attr.schema();
        let name = schema.yml_key.unwrap_or(schema.name);
        let typed = match schema.kind {
            Kind::Bool => match parse_bool(value) {
                Some(b) => Some(YmlValue::Bool(b)),
                None => {
                    ok = false;
                    diagnostics.push(
                        Diagnostic::new(
                            &codes::YML_INVALID_BOOL,
                            format!("invalid boolean {} for `{name}`", show(value)),
                        )
                        .at(value_span)
                        .help(bool_help(value)),
                    );
                    None
                }
            },
            Kind::Uint | Kind::UintOrInfinite => {
                let n = parse_dword(value);
                if n.overflow {
                    ok = false;
                    let mut help = "Use a number from 0 to 2147483647: iisnode reads numbers \
                                    with C `atol` and rejects the whole file when one does not \
                                    fit a 32-bit signed integer."
                        .to_string();
                    if attr == Attr::MaxConcurrentRequestsPerProcess {
                        help.push_str(" For no practical limit, write 2147483647.");
                    }
                    diagnostics.push(
                        Diagnostic::new(
                            &codes::YML_NUMBER_OVERFLOW,
                            format!(
                                "number {} for `{name}` is out of the 32-bit signed range",
                                show(value)
                            ),
                        )
                        .at(value_span)
                        .help(help),
                    );
                    None
                } else {
                    if let Some(reason) = &n.lenient {
                        diagnostics.push(
                            Diagnostic::new(
                                &codes::YML_LENIENT_NUMBER,
                                format!("iisnode reads {} as {} ({reason})", show(value), n.value),
                            )
                            .at(value_span)
                            .help(lenient_help(attr, value, n.value)),
                        );
                    }
                    Some(YmlValue::Uint(n.value))
                }
            }
            Kind::Str => {
                let quoted = value.starts_with(['"', '\'']);
                if quoted && !matches!(attr, Attr::NodeProcessCommandLine | Attr::Interceptor) {
                    diagnostics.push(
                        Diagnostic::new(
                            &codes::YML_QUOTED_VALUE,
                            format!(
                                "the quotes are part of the value of `{name}`: {}",
                                show(value)
                            ),
                        )
                        .at(value_span)
                        .help(
                            "Remove the quotes: iisnode.yml takes values verbatim and does not \
                             strip quote characters.",
                        ),
                    );
                }
                Some(YmlValue::Str(value.to_string()))
            }
        };
        if let Some(value) = typed {
            overrides.push(YmlOverride {
                attr,
                value,
                key_span,
                value_span,
            });
        }
    }

    // Duplicates: every earlier line for an attribute is dead; point at the one that wins.
    let mut last: BTreeMap<Attr, usize> = BTreeMap::new();
    for (i, o) in overrides.iter().enumerate() {
        last.insert(o.attr, i);
    }
    for (i, o) in overrides.iter().enumerate() {
        let Some(winner) = last.get(&o.attr).and_then(|&j| overrides.get(j)) else {
            continue;
        };
        if last.get(&o.attr) == Some(&i) {
            continue;
        }
        let schema = o.attr.schema();
        let name = schema.yml_key.unwrap_or(schema.name);
        diagnostics.push(
            Diagnostic::new(
                &codes::YML_DUPLICATE_KEY,
                format!("`{name}` is set again later in the file, so this line has no effect"),
            )
            .at(o.key_span)
            .label(winner.key_span, "iisnode uses this later line")
            .help(
                "Delete one of the lines: iisnode applies iisnode.yml lines in order, so the \
                 last one wins.",
            ),
        );
    }

    Resolved {
        overrides,
        ok,
        diagnostics,
    }
}

// ---------------------------------------------------------------------------------------------
// The line parser.

/// What became of the first line (for the byte order mark diagnostic).
enum LineOutcome {
    Blank,
    Error,
    Key(String),
}

/// One physical line: `[start, end)` excludes the terminator.
struct Line {
    start: usize,
    end: usize,
    /// First `:` on the line, comments included.
    colon: Option<usize>,
    /// First `#` on the line.
    hash: Option<usize>,
}

impl Line {
    /// Where the comment starts, or the line end.
    fn comment(&self) -> usize {
        self.hash.unwrap_or(self.end)
    }
}

/// A character iisnode treats as text but a reader sees as blank.
enum Invisible {
    Bom,
    Tab,
    Other(String),
}

impl Invisible {
    fn of(c: char, offset: usize) -> Option<Self> {
        match c {
            '\t' => Some(Invisible::Tab),
            '\u{feff}' if offset == 0 => Some(Invisible::Bom),
            '\u{0b}' => Some(Invisible::Other("a vertical tab".into())),
            '\u{0c}' => Some(Invisible::Other("a form feed".into())),
            '\u{a0}' => Some(Invisible::Other("a no-break space (U+00A0)".into())),
            '\u{feff}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200d}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{2060}'
            | '\u{3000}' => Some(Invisible::Other(format!(
                "an invisible character (U+{:04X})",
                u32::from(c)
            ))),
            _ => None,
        }
    }

    /// Why iisnode trips over it (the first clause of a message).
    fn lead(&self) -> String {
        match self {
            Invisible::Bom => "iisnode reads the byte order mark as text".into(),
            Invisible::Tab => "iisnode does not treat a tab as whitespace".into(),
            Invisible::Other(name) => format!("iisnode does not treat {name} as whitespace"),
        }
    }

    /// How to get rid of it (the start of a help sentence).
    fn fix(&self) -> &'static str {
        match self {
            Invisible::Bom => "Save the file as UTF-8 without a byte order mark",
            Invisible::Tab => "Delete the tab or replace it with spaces",
            Invisible::Other(_) => "Delete the character or replace it with an ordinary space",
        }
    }
}

const REJECTS_FILE: &str = "iisnode rejects the whole file because of this line.";

struct Parser<'a> {
    source: SourceId,
    text: &'a str,
    bytes: &'a [u8],
    /// Offset of the first NUL byte, or the length: iisnode reads nothing past it.
    limit: usize,
    entries: Vec<YmlEntry>,
    diagnostics: Vec<Diagnostic>,
    syntax_ok: bool,
}

impl<'a> Parser<'a> {
    fn run(mut self) -> RawIisnodeYml {
        let mut first: Option<LineOutcome> = None;
        let mut start = 0;
        while start < self.limit {
            let line = self.scan_line(start);
            let outcome = self.line(&line);
            first.get_or_insert(outcome);
            let mut next = line.end;
            match self.byte(next) {
                b'\r' => {
                    next += 1;
                    if self.byte(next) == b'\n' {
                        next += 1;
                    }
                }
                b'\n' => next += 1,
                _ => {}
            }
            start = next;
        }

        if self.text.starts_with('\u{feff}') {
            let consequence = match &first {
                Some(LineOutcome::Key(key)) => format!(
                    "so it sees the first key as {} instead of {} and ignores that line",
                    show(key),
                    show(key.trim_start_matches('\u{feff}'))
                ),
                _ => "which turns the first line into a syntax error".to_string(),
            };
            let bom = Diagnostic::new(
                &codes::YML_BOM,
                "iisnode.yml starts with a UTF-8 byte order mark, which iisnode reads as text",
            )
            .at(self.span(0, '\u{feff}'.len_utf8()))
            .help(format!(
                "Save the file as UTF-8 without a byte order mark: iisnode reads its three bytes \
                 as part of the first line, {consequence}."
            ));
            self.diagnostics.insert(0, bom);
        }

        if self.limit < self.text.len() {
            let rest = self.text.get(self.limit..).unwrap_or_default();
            self.diagnostics.push(
                Diagnostic::new(
                    &codes::YML_NUL,
                    format!(
                        "a NUL byte ends the file for iisnode: it ignores the {} bytes after it",
                        rest.len().saturating_sub(1)
                    ),
                )
                .at(self.span(self.limit, self.limit + 1))
                .help(
                    "Delete the NUL byte: iisnode reads the file as a C string, which ends at \
                     the first NUL.",
                ),
            );
        }

        RawIisnodeYml {
            entries: self.entries,
            syntax_ok: self.syntax_ok,
            diagnostics: self.diagnostics,
        }
    }

    /// The byte at `i`, or 0 at and past the first NUL (as iisnode's C string reads).
    fn byte(&self, i: usize) -> u8 {
        if i < self.limit {
            self.bytes.get(i).copied().unwrap_or(0)
        } else {
            0
        }
    }

    /// `i` clamped into the text and moved back onto a char boundary.
    fn boundary(&self, i: usize) -> usize {
        let mut i = i.min(self.text.len());
        while i > 0 && !self.text.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    fn span(&self, start: usize, end: usize) -> Span {
        let start = self.boundary(start);
        Span::new(self.source, start, self.boundary(end).max(start))
    }

    fn slice(&self, range: Range<usize>) -> &'a str {
        let start = self.boundary(range.start);
        let end = self.boundary(range.end).max(start);
        self.text.get(start..end).unwrap_or_default()
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.text.get(self.boundary(i)..)?.chars().next()
    }

    /// The span of the character starting at `i`.
    fn char_span(&self, i: usize) -> Span {
        let len = self.char_at(i).map_or(0, char::len_utf8);
        self.span(i, i + len)
    }

    fn scan_line(&self, start: usize) -> Line {
        let mut end = start;
        let mut colon = None;
        let mut hash = None;
        loop {
            match self.byte(end) {
                0 | b'\r' | b'\n' => break,
                b':' => {
                    colon.get_or_insert(end);
                }
                b'#' => {
                    hash.get_or_insert(end);
                }
                _ => {}
            }
            end += 1;
        }
        Line {
            start,
            end,
            colon,
            hash,
        }
    }

    fn skip_spaces(&self, mut p: usize, until: usize) -> usize {
        while p < until && self.byte(p) == b' ' {
            p += 1;
        }
        p
    }

    fn syntax_error(&mut self, diagnostic: Diagnostic) {
        self.syntax_ok = false;
        self.diagnostics.push(diagnostic);
    }

    /// One line, exactly as iisnode's loop body reads it.
    fn line(&mut self, line: &Line) -> LineOutcome {
        let comment = line.comment();
        let key_start = self.skip_spaces(line.start, comment);
        if key_start >= comment {
            self.check_chars(line, None, None);
            return LineOutcome::Blank;
        }
        let Some(colon) = line.colon else {
            self.no_colon(line, key_start);
            return LineOutcome::Error;
        };
        if colon == key_start {
            self.syntax_error(
                Diagnostic::new(
                    &codes::YML_SYNTAX,
                    "line starts with `:`, so the key is empty",
                )
                .at(self.char_span(colon))
                .help(format!(
                    "Write the key before the colon (`key: value`), or start the line with \
                         `#` to make it a comment; {REJECTS_FILE}"
                )),
            );
            return LineOutcome::Error;
        }
        let mut p = key_start;
        while p < colon && self.byte(p) != b' ' {
            p += 1;
        }
        let key_end = p;
        p = self.skip_spaces(p, colon);
        if p != colon {
            self.junk_before_colon(line, key_start, key_end, p);
            return LineOutcome::Error;
        }

        let value_start = self.skip_spaces(colon + 1, comment);
        if value_start == comment {
            let key = self.slice(key_start..key_end).to_string();
            self.empty_value(&key, key_start, key_end);
            self.check_chars(line, Some(key_start..colon), None);
            return LineOutcome::Key(key);
        }

        if value_start < comment {
            let mut value_end = comment;
            while value_end > value_start + 1 && self.byte(value_end - 1) == b' ' {
                value_end -= 1;
            }
            let key = self.push_entry(key_start..key_end, value_start..value_end);
            self.check_hash_in_value(line, &key, value_start, value_end);
            self.check_chars(line, Some(key_start..colon), Some(colon + 1..comment));
            return LineOutcome::Key(key);
        }

        // The first `#` comes before the colon and no space separates them from the key:
        // iisnode ends the key at the `#` and takes everything after the colon, up to the end
        // of the file, as the value.
        let key = self.push_entry(key_start..comment, colon + 1..self.limit);
        self.diagnostics.push(
            Diagnostic::new(
                &codes::YML_HASH_IN_VALUE,
                format!(
                    "`#` before the `:` starts a comment, so iisnode reads the key as {} and the \
                     value as the rest of the file",
                    show(&key)
                ),
            )
            .at(self.char_span(comment))
            .label(
                self.span(colon + 1, self.limit),
                "iisnode's value runs from here to the end of the file",
            )
            .help(format!(
                "Put the comment after the value (`{}: value # comment`): as written, iisnode \
                 takes every byte after the `:`, line breaks included, as the value of {}.",
                show_plain(&key),
                show(&key)
            )),
        );
        self.check_chars(line, Some(key_start..comment), Some(colon + 1..line.end));
        LineOutcome::Key(key)
    }

    fn push_entry(&mut self, key: Range<usize>, value: Range<usize>) -> String {
        let key_text = self.slice(key.clone()).to_string();
        let entry = YmlEntry {
            key: Spanned::new(key_text.clone(), self.span(key.start, key.end)),
            value: Spanned::new(
                self.slice(value.clone()).to_string(),
                self.span(value.start, value.end),
            ),
        };
        self.entries.push(entry);
        key_text
    }

    /// When everything before the comment is spaces and invisible characters, the first
    /// invisible character (the real cause of the error).
    fn invisible_only(&self, range: Range<usize>) -> Option<(usize, Invisible)> {
        let text = self.slice(range.clone());
        let mut first = None;
        for (i, c) in text.char_indices() {
            let at = range.start + i;
            if c == ' ' {
                continue;
            }
            let kind = Invisible::of(c, at)?;
            first.get_or_insert((at, kind));
        }
        first
    }

    /// A line that looks blank or like a comment, made an error by a tab, BOM or other
    /// invisible character before its comment. Returns false when that is not the cause.
    fn invisible_line_error(&mut self, line: &Line, key_start: usize) -> bool {
        let Some((at, kind)) = self.invisible_only(key_start..line.comment()) else {
            return false;
        };
        let what = if line.hash.is_some() {
            "comment line"
        } else {
            "blank-looking line"
        };
        self.syntax_error(
            Diagnostic::new(
                &codes::YML_SYNTAX,
                format!("{}, so this {what} is a key without a `:`", kind.lead()),
            )
            .at(self.char_span(at))
            .help(format!("{}; {REJECTS_FILE}", kind.fix())),
        );
        true
    }

    fn no_colon(&mut self, line: &Line, key_start: usize) {
        let comment = line.comment();
        if self.invisible_line_error(line, key_start) {
            return;
        }
        let mut content_end = comment;
        while content_end > key_start && self.byte(content_end - 1) == b' ' {
            content_end -= 1;
        }
        let content = self.slice(key_start..content_end);
        let help = if content.starts_with('-') || content.starts_with("...") {
            format!(
                "Write one `key: value` per line, or start the line with `#` to make it a \
                 comment: iisnode.yml is not YAML and has no documents (`---`), lists or \
                 nesting; {REJECTS_FILE}"
            )
        } else {
            format!(
                "Write the line as `key: value`, or start it with `#` to make it a comment; \
                 {REJECTS_FILE}"
            )
        };
        self.syntax_error(
            Diagnostic::new(
                &codes::YML_SYNTAX,
                format!(
                    "missing `:` in {}: iisnode expects `key: value` on every line that is not \
                     blank or a comment",
                    show(content)
                ),
            )
            .at(self.span(key_start, content_end))
            .help(help),
        );
    }

    fn junk_before_colon(&mut self, line: &Line, key_start: usize, key_end: usize, at: usize) {
        let comment = line.comment();
        if self.invisible_line_error(line, key_start) {
            return;
        }
        // The key is nothing but an invisible character (a BOM or tab before the indentation).
        if let Some((inv, kind)) = self.invisible_only(key_start..key_end) {
            let word_end = self.word_end(at, line);
            self.syntax_error(
                Diagnostic::new(
                    &codes::YML_SYNTAX,
                    format!(
                        "{}, so it is read as a key and {} cannot follow it before the `:`",
                        kind.lead(),
                        show(self.slice(at..word_end))
                    ),
                )
                .at(self.char_span(inv))
                .label(
                    self.span(at, word_end),
                    "read as text between the key and the `:`",
                )
                .help(format!("{}; {REJECTS_FILE}", kind.fix())),
            );
            return;
        }
        let key = self.slice(key_start..key_end.min(comment)).to_string();
        if comment <= at {
            // The only colon is inside the comment.
            self.syntax_error(
                Diagnostic::new(
                    &codes::YML_SYNTAX,
                    format!(
                        "missing `:` after the key {}: the only colon on the line is inside the \
                         comment",
                        show(&key)
                    ),
                )
                .at(self.char_span(comment))
                .help(format!(
                    "Put the colon right after the key (`{}: value # comment`), or start the \
                     line with `#` to make it all a comment; {REJECTS_FILE}",
                    show_plain(&key)
                )),
            );
            return;
        }
        let word_end = self.word_end(at, line);
        let word = self.slice(at..word_end);
        if let Some((inv, kind)) = self.invisible_only(at..word_end) {
            self.syntax_error(
                Diagnostic::new(
                    &codes::YML_SYNTAX,
                    format!(
                        "{}, so it is not allowed between the key {} and the `:`",
                        kind.lead(),
                        show(&key)
                    ),
                )
                .at(self.char_span(inv))
                .help(format!(
                    "{}: only spaces may stand between a key and its colon; {REJECTS_FILE}",
                    kind.fix()
                )),
            );
            return;
        }
        self.syntax_error(
            Diagnostic::new(
                &codes::YML_SYNTAX,
                format!(
                    "unexpected {} after the key {}: keys cannot contain spaces",
                    show(word),
                    show(&key)
                ),
            )
            .at(self.span(at, word_end))
            .help(format!(
                "Remove the space or the extra words before the colon (`{}: value`), or start \
                 the line with `#` to make it a comment; {REJECTS_FILE}",
                show_plain(&key)
            )),
        );
    }

    /// End of the word starting at `at`: the next space, colon, comment or line end.
    fn word_end(&self, at: usize, line: &Line) -> usize {
        let stop = line.colon.unwrap_or(line.end).min(line.comment());
        let mut p = at;
        while p < stop && self.byte(p) != b' ' {
            p += 1;
        }
        p.max(at)
    }

    fn empty_value(&mut self, key: &str, key_start: usize, key_end: usize) {
        let help = if Attr::from_yml_key(key).is_some() {
            "Give the key a value or delete the line: iisnode.yml cannot clear a setting, so \
             the web.config or environment value stays in force."
                .to_string()
        } else {
            let mut help = format!(
                "Delete the line or give it a value; {} is not an iisnode.yml key either.",
                show(key)
            );
            if let Some((_, hint)) = unknown_key_hint(key, "") {
                help.push(' ');
                help.push_str(&hint);
            }
            help
        };
        self.diagnostics.push(
            Diagnostic::new(
                &codes::YML_EMPTY_VALUE,
                format!(
                    "{} has an empty value, so iisnode ignores this line",
                    show(key)
                ),
            )
            .at(self.span(key_start, key_end))
            .help(help),
        );
    }

    fn check_hash_in_value(
        &mut self,
        line: &Line,
        key: &str,
        value_start: usize,
        value_end: usize,
    ) {
        let Some(hash) = line.hash else { return };
        let value = self.slice(value_start..value_end);
        let attached = value_end == hash;
        let open_quote =
            value.matches('"').count() % 2 == 1 || value.matches('\'').count() % 2 == 1;
        if !attached && !open_quote {
            return;
        }
        let what = if attached {
            "`#` starts a comment"
        } else {
            "`#` inside the quotes starts a comment"
        };
        let mut cut_end = line.end;
        while cut_end > hash + 1 && self.byte(cut_end - 1) == b' ' {
            cut_end -= 1;
        }
        self.diagnostics.push(
            Diagnostic::new(
                &codes::YML_HASH_IN_VALUE,
                format!(
                    "{what}, so iisnode cuts the value of {} to {}",
                    show(key),
                    show(value)
                ),
            )
            .at(self.span(hash, cut_end))
            .help(
                "Set this value in web.config instead, or put a space before the `#` if it is \
                 meant as a comment: iisnode.yml has no way to write `#` in a value (quotes do \
                 not help).",
            ),
        );
    }

    /// Tabs and non-ASCII characters on a line iisnode accepted.
    fn check_chars(&mut self, line: &Line, key: Option<Range<usize>>, value: Option<Range<usize>>) {
        let line_text = self.slice(line.start..line.end);
        let in_range =
            |r: &Option<Range<usize>>, at: usize| r.as_ref().is_some_and(|r| r.contains(&at));
        let mut tab_key = None;
        let mut tab_value = None;
        let mut tab_other = None;
        let mut wide_key = None;
        let mut wide_value = None;
        for (i, c) in line_text.char_indices() {
            let at = line.start + i;
            if c == '\t' {
                let slot = if in_range(&key, at) {
                    &mut tab_key
                } else if in_range(&value, at) {
                    &mut tab_value
                } else {
                    &mut tab_other
                };
                slot.get_or_insert(at);
            } else if !c.is_ascii() && (at != 0 || c != '\u{feff}') {
                if in_range(&key, at) {
                    wide_key.get_or_insert((at, c));
                } else if in_range(&value, at) {
                    wide_value.get_or_insert((at, c));
                }
            }
        }
        let key_text = key
            .as_ref()
            .map(|r| self.slice(r.clone()).trim_end_matches(' ').to_string());
        let value_text = value
            .as_ref()
            .map(|r| self.slice(r.clone()).trim_matches(' ').to_string());

        if let Some(at) = tab_key {
            self.diagnostics.push(
                Diagnostic::new(
                    &codes::YML_TAB,
                    "tab in the key: iisnode does not treat tabs as whitespace",
                )
                .at(self.char_span(at))
                .help(format!(
                    "Replace the tab with spaces: iisnode reads the key as {}, which matches no \
                     setting, and ignores the line.",
                    show(key_text.as_deref().unwrap_or_default())
                )),
            );
        }
        if let Some(at) = tab_value {
            self.diagnostics.push(
                Diagnostic::new(
                    &codes::YML_TAB,
                    "tab in the value: iisnode does not treat tabs as whitespace",
                )
                .at(self.char_span(at))
                .help(format!(
                    "Replace the tab with spaces or delete it: iisnode reads the value as {}, \
                     tab included.",
                    show(value_text.as_deref().unwrap_or_default())
                )),
            );
        }
        if let Some(at) = tab_other.filter(|_| tab_key.is_none() && tab_value.is_none()) {
            self.diagnostics.push(
                Diagnostic::new(
                    &codes::YML_TAB,
                    "tab in a comment: harmless here, but iisnode does not treat tabs as whitespace",
                )
                .severity(Severity::Info)
                .at(self.char_span(at))
                .help(
                    "Use spaces: a tab before a comment or on an otherwise blank line makes \
                     iisnode reject the whole file.",
                ),
            );
        }
        if let Some((at, c)) = wide_key {
            self.diagnostics.push(
                Diagnostic::new(
                    &codes::YML_NON_ASCII,
                    format!("non-ASCII character {} in the key", show_char(c)),
                )
                .at(self.char_span(at))
                .help(
                    "Type the key with ASCII letters: iisnode compares keys as ASCII text, so \
                     this one matches no setting.",
                ),
            );
        }
        if let Some((at, c)) = wide_value {
            self.diagnostics.push(
                Diagnostic::new(
                    &codes::YML_NON_ASCII,
                    format!("non-ASCII character {} in the value", show_char(c)),
                )
                .at(self.char_span(at))
                .help(
                    "Keep iisnode.yml ASCII where you can: iisnode converts values with the \
                     server's Windows ANSI code page, so this character may change on a Windows \
                     server.",
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers for resolve's messages.

/// The code and help for a key that sets nothing: a web.config spelling, a legacy name, a
/// typo, or a stray URL.
fn unknown_key_hint(key: &str, value: &str) -> Option<(&'static codes::Lint, String)> {
    if key.eq_ignore_ascii_case("debuggerPortRange") {
        let example = if value.is_empty() { "5058-6058" } else { value };
        return Some((
            &codes::YML_WRONG_KEY,
            format!(
                "In iisnode.yml the key is `debugPortRange` (the web.config attribute is \
                 `debuggerPortRange`): write `debugPortRange: {}`.",
                show_plain(example)
            ),
        ));
    }
    if key.eq_ignore_ascii_case("configOverrides") {
        return Some((
            &codes::YML_WRONG_KEY,
            "Set configOverrides in web.config or with the IISNODE_configOverrides environment \
             variable: it names this file, so this file cannot set it."
                .to_string(),
        ));
    }
    let visible: String = key
        .chars()
        .filter(|&c| Invisible::of(c, 0).is_none())
        .collect();
    if visible != key
        && let Some(attr) = Attr::from_yml_key(&visible)
    {
        let name = attr.schema().yml_key.unwrap_or(attr.name());
        return Some((
            &codes::YML_UNKNOWN_KEY,
            format!(
                "Remove the invisible characters (tabs are not whitespace for iisnode): the key \
                 would then be `{name}`."
            ),
        ));
    }
    if let Some((name, _, what)) = LEGACY.iter().find(|(n, _, _)| n.eq_ignore_ascii_case(key)) {
        return Some((
            &codes::YML_UNKNOWN_KEY,
            format!(
                "This is a setting from old iisnode releases ({what}); `{name}` sets nothing now."
            ),
        ));
    }
    if (key.eq_ignore_ascii_case("http") || key.eq_ignore_ascii_case("https"))
        && value.starts_with("//")
    {
        return Some((
            &codes::YML_UNKNOWN_KEY,
            format!(
                "This line looks like a URL: iisnode reads it as the key {} and ignores it. \
                 Start the line with `#` to make it a comment.",
                show(key)
            ),
        ));
    }
    let keys = SCHEMA.iter().filter_map(|s| s.yml_key);
    schema::suggest(key, keys).map(|s| {
        (
            &codes::YML_UNKNOWN_KEY,
            format!("Did you mean `{s}`? Keys are compared without regard to case."),
        )
    })
}

fn unknown_key(entry: &YmlEntry) -> Diagnostic {
    let key = entry.key.value.as_str();
    let (lint, help) = unknown_key_hint(key, &entry.value.value).unwrap_or((
        &codes::YML_UNKNOWN_KEY,
        "Check the spelling: iisnode.yml keys are the `<iisnode>` attribute names (with \
         `debugPortRange` for `debuggerPortRange`), compared without regard to case."
            .to_string(),
    ));
    let message = if lint == &codes::YML_WRONG_KEY {
        if key.eq_ignore_ascii_case("configOverrides") {
            "`configOverrides` cannot be set from iisnode.yml, so iisnode ignores this line"
                .to_string()
        } else {
            format!(
                "{} is not an iisnode.yml key, so iisnode ignores this line",
                show(key)
            )
        }
    } else {
        format!("unknown key {}: iisnode ignores this line", show(key))
    };
    Diagnostic::new(lint, message).at(entry.key.span).help(help)
}

fn bool_help(value: &str) -> String {
    let accepted = "iisnode accepts only true, false, yes, no, 1 and 0 (in any case)";
    let unquoted = value.trim_matches(['"', '\'']);
    if unquoted != value && parse_bool(unquoted).is_some() {
        return format!(
            "Remove the quotes and write `{}`: iisnode does not strip them.",
            show_plain(unquoted)
        );
    }
    let trimmed =
        value.trim_matches(|c: char| c == '\t' || c == ' ' || Invisible::of(c, 1).is_some());
    if trimmed != value && parse_bool(trimmed).is_some() {
        return format!(
            "Remove the tab or invisible character around `{}`: iisnode does not treat it as \
             whitespace.",
            show_plain(trimmed)
        );
    }
    format!("Write true or false; {accepted}.")
}

fn lenient_help(attr: Attr, value: &str, read: u32) -> String {
    let cleaned = value.trim_matches(|c: char| matches!(c, '"' | '\'' | ' ' | '\t'));
    let mut help = if !cleaned.is_empty()
        && cleaned != value
        && parse_dword(cleaned).lenient.is_none()
    {
        format!(
            "Write `{cleaned}` without quotes or extra characters: iisnode.yml numbers are plain decimal digits."
        )
    } else {
        "Write a plain decimal number from 0 to 2147483647.".to_string()
    };
    if attr == Attr::MaxConcurrentRequestsPerProcess && value.eq_ignore_ascii_case("infinite") {
        help.push_str(" iisnode.yml has no `Infinite`: write 2147483647 for no practical limit.");
    }
    if read == 0 {
        match attr {
            Attr::NodeProcessCountPerApplication | Attr::AsyncCompletionThreadCount => {
                help.push_str(" As written, the 0 means one per CPU.");
            }
            Attr::MaxConcurrentRequestsPerProcess => {
                help.push_str(" As written, the 0 makes every request fail with HTTP 503.");
            }
            Attr::InitialRequestBufferSize => {
                help.push_str(" As written, the 0 makes iisnode hang on the first request.");
            }
            _ => {}
        }
    }
    help
}

/// How many characters of a value a message shows.
const SHOW_MAX: usize = 40;

/// `text` for a message: invisible and control characters escaped, long text shortened.
fn show_plain(text: &str) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == SHOW_MAX {
            out.push('…');
            break;
        }
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() || (c != ' ' && Invisible::of(c, 1).is_some()) => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` in backticks, as messages quote code.
fn show(text: &str) -> String {
    format!("`{}`", show_plain(text))
}

fn show_char(c: char) -> String {
    let mut buf = [0u8; 4];
    format!("{} (U+{:04X})", show(c.encode_utf8(&mut buf)), u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::SourceFile;
    use crate::diag::Lint;

    const SRC: SourceId = SourceId(7);

    fn run(text: &str) -> (RawIisnodeYml, Resolved) {
        let raw = parse(SRC, text);
        let res = resolve(&raw);
        (raw, res)
    }

    /// iisnode accepts the file.
    fn accepted(text: &str) -> bool {
        let (raw, res) = run(text);
        raw.syntax_ok && res.ok
    }

    fn all_diags(text: &str) -> Vec<Diagnostic> {
        let (raw, res) = run(text);
        raw.diagnostics.into_iter().chain(res.diagnostics).collect()
    }

    fn codes_of(text: &str) -> Vec<&'static str> {
        all_diags(text).iter().map(|d| d.code()).collect()
    }

    fn has(text: &str, lint: &Lint) -> bool {
        all_diags(text).iter().any(|d| d.lint == lint)
    }

    fn diag(text: &str, lint: &Lint) -> Diagnostic {
        all_diags(text)
            .into_iter()
            .find(|d| d.lint == lint)
            .unwrap_or_else(|| panic!("no {} in {:?}", lint.code, all_diags(text)))
    }

    /// (line, column) of a diagnostic's primary span.
    fn at(text: &str, d: &Diagnostic) -> (u32, u32) {
        let f = SourceFile::new("iisnode.yml".into(), text.to_string());
        let lc = f.line_col(d.primary.expect("primary span").start);
        (lc.line, lc.column)
    }

    fn snippet(text: &str, span: Span) -> &str {
        text.get(span.start as usize..span.end as usize)
            .expect("span in bounds")
    }

    fn applied(text: &str) -> Vec<(Attr, YmlValue)> {
        run(text)
            .1
            .overrides
            .into_iter()
            .map(|o| (o.attr, o.value))
            .collect()
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(SRC, text)
            .entries
            .into_iter()
            .map(|e| (e.key.value, e.value.value))
            .collect()
    }

    // ---- iisnode functional test 126_node_config_syntax: the eight cases ----

    #[test]
    fn test126_empty() {
        let (raw, res) = run("");
        assert!(raw.syntax_ok && res.ok);
        assert!(raw.entries.is_empty() && raw.diagnostics.is_empty() && res.diagnostics.is_empty());
    }

    #[test]
    fn test126_no_key1() {
        let text = ": foo";
        assert!(!accepted(text));
        let d = diag(text, &codes::YML_SYNTAX);
        assert_eq!(at(text, &d), (1, 1));
        assert_eq!(snippet(text, d.primary.expect("span")), ":");
        assert!(
            d.help
                .as_deref()
                .expect("help")
                .contains("key before the colon")
        );
    }

    #[test]
    fn test126_no_key2() {
        let text = "   : bar";
        assert!(!accepted(text));
        let d = diag(text, &codes::YML_SYNTAX);
        assert_eq!(at(text, &d), (1, 4));
    }

    #[test]
    fn test126_empty_value1() {
        let text = "foo:";
        assert!(accepted(text));
        assert!(pairs(text).is_empty());
        assert_eq!(codes_of(text), ["IISN3006"]);
        assert_eq!(at(text, &diag(text, &codes::YML_EMPTY_VALUE)), (1, 1));
    }

    #[test]
    fn test126_empty_value2() {
        let text = "foo:    # comment";
        assert!(accepted(text));
        assert!(pairs(text).is_empty());
        assert_eq!(codes_of(text), ["IISN3006"]);
    }

    #[test]
    fn test126_unrecognized_key() {
        let text = "foo: bar\nbaz: 12";
        assert!(accepted(text));
        assert!(applied(text).is_empty());
        assert_eq!(codes_of(text), ["IISN3005", "IISN3005"]);
        let d = all_diags(text);
        assert_eq!(at(text, &d[1]), (2, 1));
    }

    #[test]
    fn test126_invalid_bool() {
        let text = "loggingEnabled: foobar";
        let (raw, res) = run(text);
        assert!(raw.syntax_ok);
        assert!(!res.ok);
        let d = diag(text, &codes::YML_INVALID_BOOL);
        assert!(d.is_error());
        assert_eq!(at(text, &d), (1, 17));
        assert_eq!(d.message, "invalid boolean `foobar` for `loggingEnabled`");
    }

    #[test]
    fn test126_empty_line() {
        let text = "foo:bar\n\n\nbaz:7";
        assert!(accepted(text));
        assert_eq!(
            pairs(text),
            [("foo".into(), "bar".into()), ("baz".into(), "7".into())]
        );
        let d = all_diags(text);
        assert_eq!(at(text, &d[1]), (4, 1));
    }

    // ---- spec §3.4 "Consequences worth testing" ----

    #[test]
    fn table_node_process_count() {
        let text = "nodeProcessCountPerApplication: 4";
        assert_eq!(
            applied(text),
            [(Attr::NodeProcessCountPerApplication, YmlValue::Uint(4))]
        );
        assert!(all_diags(text).is_empty());
    }

    #[test]
    fn table_no_colon() {
        let text = "foo";
        assert!(!accepted(text));
        let d = diag(text, &codes::YML_SYNTAX);
        assert_eq!(at(text, &d), (1, 1));
        assert_eq!(snippet(text, d.primary.expect("span")), "foo");
        let text = "node_env: x\n  foo bar  # note";
        let d = diag(text, &codes::YML_SYNTAX);
        assert_eq!(at(text, &d), (2, 3));
        assert_eq!(snippet(text, d.primary.expect("span")), "foo bar");
    }

    #[test]
    fn table_bool_words() {
        for (v, b) in [
            ("TRUE", true),
            ("Yes", true),
            ("1", true),
            ("no", false),
            ("FALSE", false),
            ("0", false),
        ] {
            let text = format!("loggingEnabled: {v}");
            assert_eq!(
                applied(&text),
                [(Attr::LoggingEnabled, YmlValue::Bool(b))],
                "{v}"
            );
            assert!(all_diags(&text).is_empty());
        }
    }

    #[test]
    fn table_quoted_number_is_zero() {
        let text = "nodeProcessCountPerApplication: \"4\"";
        assert!(accepted(text));
        assert_eq!(
            applied(text),
            [(Attr::NodeProcessCountPerApplication, YmlValue::Uint(0))]
        );
        let d = diag(text, &codes::YML_LENIENT_NUMBER);
        assert_eq!(d.message, "iisnode reads `\"4\"` as 0 (no leading digits)");
        let help = d.help.clone().expect("help");
        assert!(help.contains("Write `4`"), "{help}");
        assert!(help.contains("one per CPU"), "{help}");
        assert_eq!(at(text, &d), (1, 33));
    }

    #[test]
    fn table_infinite_is_zero() {
        let text = "maxConcurrentRequestsPerProcess: Infinite";
        assert!(accepted(text));
        assert_eq!(
            applied(text),
            [(Attr::MaxConcurrentRequestsPerProcess, YmlValue::Uint(0))]
        );
        let d = diag(text, &codes::YML_LENIENT_NUMBER);
        assert!(d.message.contains("as 0"));
        let help = d.help.clone().expect("help");
        assert!(
            help.contains("2147483647") && help.contains("503"),
            "{help}"
        );
    }

    #[test]
    fn table_tab_before_key() {
        let text = "\tnodeProcessCountPerApplication: 2";
        assert!(accepted(text));
        assert!(applied(text).is_empty());
        assert_eq!(pairs(text)[0].0, "\tnodeProcessCountPerApplication");
        let tab = diag(text, &codes::YML_TAB);
        assert_eq!(tab.severity, Severity::Warning);
        assert_eq!(at(text, &tab), (1, 1));
        let unknown = diag(text, &codes::YML_UNKNOWN_KEY);
        assert!(
            unknown
                .help
                .expect("help")
                .contains("`nodeProcessCountPerApplication`")
        );
    }

    #[test]
    fn table_tab_after_colon() {
        let text = "loggingEnabled:\ttrue";
        let (raw, res) = run(text);
        assert!(raw.syntax_ok && !res.ok);
        assert_eq!(raw.entries[0].value.value, "\ttrue");
        let tab = diag(text, &codes::YML_TAB);
        assert_eq!(at(text, &tab), (1, 16));
        let bad = diag(text, &codes::YML_INVALID_BOOL);
        assert!(bad.help.expect("help").contains("Remove the tab"));
    }

    #[test]
    fn table_tab_only_line_and_tab_comment() {
        for text in [
            "\t",
            "node_env: x\n\t\n",
            "\t# comment",
            "  \t  # comment: with colon",
        ] {
            assert!(!accepted(text), "{text:?}");
            let d = diag(text, &codes::YML_SYNTAX);
            assert!(d.message.contains("tab"), "{}", d.message);
            assert_eq!(snippet(text, d.primary.expect("span")), "\t");
            // The syntax error is the tab diagnostic for this line.
            assert!(!has(text, &codes::YML_TAB), "{text:?}");
        }
        let text = "node_env: x\n\t\n";
        assert_eq!(at(text, &diag(text, &codes::YML_SYNTAX)), (2, 1));
        let text = "  \t  # comment";
        assert_eq!(at(text, &diag(text, &codes::YML_SYNTAX)), (1, 3));
    }

    #[test]
    fn table_bom_then_comment() {
        let text = "\u{feff}# comment\nnode_env: x";
        let (raw, _) = run(text);
        assert!(!raw.syntax_ok);
        let syntax = diag(text, &codes::YML_SYNTAX);
        assert_eq!(snippet(text, syntax.primary.expect("span")), "\u{feff}");
        assert!(syntax.message.contains("byte order mark"));
        let bom = diag(text, &codes::YML_BOM);
        assert_eq!(bom.severity, Severity::Warning);
        assert_eq!(snippet(text, bom.primary.expect("span")), "\u{feff}");
        assert!(bom.help.expect("help").contains("syntax error"));
    }

    #[test]
    fn table_bom_then_key() {
        let text = "\u{feff}nodeProcessCountPerApplication: 3\nloggingEnabled: false";
        let (raw, res) = run(text);
        assert!(raw.syntax_ok && res.ok);
        assert_eq!(
            raw.entries[0].key.value,
            "\u{feff}nodeProcessCountPerApplication"
        );
        assert_eq!(raw.entries[0].key.span.start, 0);
        assert_eq!(
            applied(text),
            [(Attr::LoggingEnabled, YmlValue::Bool(false))]
        );
        let bom = diag(text, &codes::YML_BOM);
        assert!(
            bom.help
                .expect("help")
                .contains("`nodeProcessCountPerApplication`")
        );
        // Explained once, by YML_BOM.
        assert!(!has(text, &codes::YML_UNKNOWN_KEY));
    }

    #[test]
    fn bom_then_indented_key_is_an_error() {
        let text = "\u{feff}  node_env: x";
        assert!(!accepted(text));
        let d = diag(text, &codes::YML_SYNTAX);
        assert_eq!(snippet(text, d.primary.expect("span")), "\u{feff}");
        assert_eq!(snippet(text, d.secondary[0].span), "node_env");
    }

    #[test]
    fn table_debugger_port_range_is_wrong_key() {
        let text = "debuggerPortRange: 6000-7000";
        assert!(accepted(text));
        assert!(applied(text).is_empty());
        let d = diag(text, &codes::YML_WRONG_KEY);
        assert!(
            d.help
                .expect("help")
                .contains("`debugPortRange: 6000-7000`")
        );
        assert_eq!(
            applied("debugPortRange: 6000-7000"),
            [(Attr::DebuggerPortRange, YmlValue::Str("6000-7000".into()))]
        );
    }

    #[test]
    fn config_overrides_is_wrong_key() {
        let text = "configOverrides: other.yml";
        assert!(accepted(text));
        assert!(applied(text).is_empty());
        let d = diag(text, &codes::YML_WRONG_KEY);
        assert!(d.message.contains("cannot be set from iisnode.yml"));
    }

    #[test]
    fn table_empty_node_env() {
        let text = "node_env:";
        assert!(accepted(text) && applied(text).is_empty());
        let d = diag(text, &codes::YML_EMPTY_VALUE);
        assert!(d.help.expect("help").contains("cannot clear"));
    }

    #[test]
    fn table_watched_files_space_kept() {
        let text = "watchedFiles: *.js; iisnode.yml";
        assert_eq!(
            applied(text),
            [(
                Attr::WatchedFiles,
                YmlValue::Str("*.js; iisnode.yml".into())
            )]
        );
    }

    // ---- C18 extras ----

    #[test]
    fn c18_key_case_insensitive() {
        let text = "NODEPROCESSCOUNTPERAPPLICATION: 3";
        assert_eq!(
            applied(text),
            [(Attr::NodeProcessCountPerApplication, YmlValue::Uint(3))]
        );
        assert!(all_diags(text).is_empty());
    }

    #[test]
    fn c18_space_before_colon() {
        let text = "nodeProcessCountPerApplication   :   3   ";
        assert!(accepted(text));
        assert_eq!(
            applied(text),
            [(Attr::NodeProcessCountPerApplication, YmlValue::Uint(3))]
        );
        let e = &parse(SRC, text).entries[0];
        assert_eq!(snippet(text, e.value.span), "3");
    }

    #[test]
    fn c18_two_words() {
        let text = "two words: x";
        assert!(!accepted(text));
        let d = diag(text, &codes::YML_SYNTAX);
        assert_eq!(at(text, &d), (1, 5));
        assert_eq!(snippet(text, d.primary.expect("span")), "words");
        assert!(d.message.contains("keys cannot contain spaces"));
    }

    #[test]
    fn c18_trailing_comment() {
        let text = "node_env: production   # the live site";
        assert!(accepted(text));
        assert_eq!(
            applied(text),
            [(Attr::NodeEnv, YmlValue::Str("production".into()))]
        );
        assert!(all_diags(text).is_empty());
    }

    #[test]
    fn c18_url_line() {
        let text = "http://example/app.js/debug, the debugger";
        assert!(accepted(text));
        assert_eq!(
            pairs(text),
            [("http".into(), "//example/app.js/debug, the debugger".into())]
        );
        let d = diag(text, &codes::YML_UNKNOWN_KEY);
        assert!(d.help.expect("help").contains("looks like a URL"));
    }

    #[test]
    fn c18_yes_no() {
        let text = "devErrorsEnabled: yes\nflushResponse: NO";
        assert_eq!(
            applied(text),
            [
                (Attr::DevErrorsEnabled, YmlValue::Bool(true)),
                (Attr::FlushResponse, YmlValue::Bool(false))
            ]
        );
    }

    // ---- iisnode's sample file ----

    #[test]
    fn iisnode_sample_style() {
        let text = "# The optional iisnode.yml file provides overrides\r\n\
                    \r\n\
                    node_env:\r\n\
                    # nodeProcessCommandLine: \"C:\\Program Files\\nodejs\\node.exe\"\r\n\
                    nodeProcessCommandLine: \"C:\\Program Files\\nodejs\\node.exe\"\r\n\
                    interceptor: \"c:\\Program Files\\iisnode\\interceptor.js\"\r\n\
                    watchedFiles: *.js;iisnode.yml\r\n\
                    debuggerPortRange: 5058-6058\r\n\
                    # debuggerPathSegment - URL path segment; given a node.js application at\r\n\
                    http://foo.com/bar/baz.js, the debugger can be accessed at\r\n\
                    http://foo.com/bar/baz.js/debug\r\n\
                    \r\n\
                    debuggerPathSegment: debug\r\n\
                    maxTotalLogFileSizeInKB: 1024\r\n    \r\n\
                    promoteServerVars:     ";
        let (raw, res) = run(text);
        assert!(raw.syntax_ok && res.ok, "{:?}", raw.diagnostics);
        assert_eq!(
            res.overrides
                .iter()
                .map(|o| (o.attr, o.value.clone()))
                .collect::<Vec<_>>(),
            [
                (
                    Attr::NodeProcessCommandLine,
                    YmlValue::Str("\"C:\\Program Files\\nodejs\\node.exe\"".into())
                ),
                (
                    Attr::Interceptor,
                    YmlValue::Str("\"c:\\Program Files\\iisnode\\interceptor.js\"".into())
                ),
                (Attr::WatchedFiles, YmlValue::Str("*.js;iisnode.yml".into())),
                (Attr::DebuggerPathSegment, YmlValue::Str("debug".into())),
                (Attr::MaxTotalLogFileSizeInKB, YmlValue::Uint(1024)),
            ]
        );
        // Quotes are right for the command line and the interceptor.
        assert!(!has(text, &codes::YML_QUOTED_VALUE));
        let wrong = diag(text, &codes::YML_WRONG_KEY);
        assert_eq!(at(text, &wrong), (8, 1));
        let codes = codes_of(text);
        assert_eq!(codes.iter().filter(|c| **c == "IISN3006").count(), 2);
        assert_eq!(codes.iter().filter(|c| **c == "IISN3005").count(), 2);
        let last_empty = all_diags(text)
            .into_iter()
            .rfind(|d| d.lint == &codes::YML_EMPTY_VALUE)
            .expect("empty value");
        assert_eq!(at(text, &last_empty), (16, 1));
    }

    // ---- atol ----

    #[test]
    fn atol_cases() {
        let cases: &[(&str, u32, bool, bool)] = &[
            ("4", 4, false, false),
            ("0", 0, false, false),
            ("007", 7, false, false),
            ("2147483647", 2147483647, false, false),
            ("\"4\"", 0, false, true),
            ("Infinite", 0, false, true),
            ("", 0, false, true),
            ("-", 0, false, true),
            ("0x10", 0, false, true),
            ("-1", 4294967295, false, true),
            ("-0", 0, false, true),
            ("-2147483648", 2147483648, false, true),
            ("12abc", 12, false, true),
            ("+5", 5, false, true),
            (" \t7", 7, false, true),
            ("\n\x0b\x0c\r9", 9, false, true),
            ("7\t", 7, false, true),
            ("2147483648", 2147483647, true, true),
            ("99999999999999999999999999", 2147483647, true, true),
            ("-2147483649", 2147483648, true, true),
            ("00000000000000000000000000000042", 42, false, false),
        ];
        for &(text, value, overflow, lenient) in cases {
            let a = parse_dword(text);
            assert_eq!(a.value, value, "{text:?}");
            assert_eq!(a.overflow, overflow, "{text:?}");
            assert_eq!(a.lenient.is_some(), lenient, "{text:?}: {:?}", a.lenient);
        }
        assert_eq!(
            parse_dword("\"4\"").lenient.as_deref(),
            Some("no leading digits")
        );
        assert_eq!(
            parse_dword("-1").lenient.as_deref(),
            Some("negative, wraps to 4294967295")
        );
        assert_eq!(
            parse_dword("12abc").lenient.as_deref(),
            Some("trailing text `abc` ignored")
        );
        assert_eq!(
            parse_dword("+5").lenient.as_deref(),
            Some("`+` sign ignored")
        );
        assert_eq!(
            parse_dword(" \t7").lenient.as_deref(),
            Some("leading whitespace skipped")
        );
    }

    #[test]
    fn number_overflow_rejects_file() {
        let text = "maxRequestBufferSize: 4294967295";
        let (raw, res) = run(text);
        assert!(raw.syntax_ok && !res.ok);
        assert!(res.overrides.is_empty());
        let d = diag(text, &codes::YML_NUMBER_OVERFLOW);
        assert!(d.is_error());
        assert_eq!(at(text, &d), (1, 23));
        assert!(!has(text, &codes::YML_LENIENT_NUMBER));
    }

    #[test]
    fn lenient_number_messages_state_the_value() {
        let text = "gracefulShutdownTimeout: -1\nmaxLogFiles: 12abc";
        assert!(accepted(text));
        let msgs: Vec<_> = all_diags(text).into_iter().map(|d| d.message).collect();
        assert_eq!(
            msgs,
            [
                "iisnode reads `-1` as 4294967295 (negative, wraps to 4294967295)",
                "iisnode reads `12abc` as 12 (trailing text `abc` ignored)",
            ]
        );
    }

    #[test]
    fn parse_bool_words() {
        for (s, v) in [
            ("true", Some(true)),
            ("YES", Some(true)),
            ("1", Some(true)),
            ("False", Some(false)),
            ("nO", Some(false)),
            ("0", Some(false)),
            ("on", None),
            ("\"true\"", None),
            ("true\t", None),
            ("", None),
            ("01", None),
        ] {
            assert_eq!(parse_bool(s), v, "{s:?}");
        }
        let d = diag("loggingEnabled: \"true\"", &codes::YML_INVALID_BOOL);
        assert!(d.help.expect("help").contains("Remove the quotes"));
    }

    // ---- line grammar details ----

    #[test]
    fn line_endings_lf_crlf_cr() {
        let text = "node_env: a\r\nlogDirectory: b\rwatchedFiles: c\ndebuggerPathSegment: d";
        assert_eq!(
            pairs(text),
            [
                ("node_env".into(), "a".into()),
                ("logDirectory".into(), "b".into()),
                ("watchedFiles".into(), "c".into()),
                ("debuggerPathSegment".into(), "d".into()),
            ]
        );
        let text = "node_env: a\r\rfoo";
        assert_eq!(at(text, &diag(text, &codes::YML_SYNTAX)), (3, 1));
    }

    #[test]
    fn colons_in_value_and_inner_spaces_kept() {
        let text = "logDirectory:C:\\logs\\my app  ";
        assert_eq!(
            pairs(text),
            [("logDirectory".into(), "C:\\logs\\my app".into())]
        );
    }

    #[test]
    fn comment_colon_counts_for_the_no_colon_rule() {
        // iisnode looks for the first colon anywhere, comments included.
        let text = "key # note: x";
        assert!(!accepted(text));
        let d = diag(text, &codes::YML_SYNTAX);
        assert_eq!(at(text, &d), (1, 5));
        assert!(d.message.contains("inside the comment"));
        // A comment line with a colon is fine.
        assert!(accepted("# note: x\n   # indented: y"));
    }

    #[test]
    fn hash_attached_to_value() {
        let text = "node_env: prod#1";
        assert!(accepted(text));
        assert_eq!(
            applied(text),
            [(Attr::NodeEnv, YmlValue::Str("prod".into()))]
        );
        let d = diag(text, &codes::YML_HASH_IN_VALUE);
        assert_eq!(at(text, &d), (1, 15));
        assert_eq!(snippet(text, d.primary.expect("span")), "#1");
        let text = "promoteServerVars: a.com/#x";
        assert_eq!(pairs(text)[0].1, "a.com/");
        assert!(has(text, &codes::YML_HASH_IN_VALUE));
        // A quoted string cut by `#`.
        let text = "nodeProcessCommandLine: \"C:\\my #1\\node.exe\"";
        assert_eq!(pairs(text)[0].1, "\"C:\\my");
        assert!(
            diag(text, &codes::YML_HASH_IN_VALUE)
                .message
                .contains("inside the quotes")
        );
        // An ordinary comment is not reported.
        assert!(!has("node_env: prod # one", &codes::YML_HASH_IN_VALUE));
    }

    #[test]
    fn hash_before_colon_quirk() {
        // iisnode cuts the key at `#` and reads the value to the end of the file.
        let text = "node_env#note: prod\nloggingEnabled: false\n";
        let (raw, res) = run(text);
        assert!(raw.syntax_ok && res.ok);
        assert_eq!(raw.entries[0].key.value, "node_env");
        assert_eq!(raw.entries[0].value.value, " prod\nloggingEnabled: false\n");
        assert_eq!(
            applied(text),
            [
                (
                    Attr::NodeEnv,
                    YmlValue::Str(" prod\nloggingEnabled: false\n".into())
                ),
                (Attr::LoggingEnabled, YmlValue::Bool(false)),
            ]
        );
        let d = diag(text, &codes::YML_HASH_IN_VALUE);
        assert_eq!(at(text, &d), (1, 9));
        // For a boolean key the multi-line value is invalid.
        assert!(!accepted("loggingEnabled#x: true\n"));
        // At the very end of the file the value is empty but still applied.
        assert_eq!(
            applied("maxLogFiles#x:"),
            [(Attr::MaxLogFiles, YmlValue::Uint(0))]
        );
        // A NUL ends the value too.
        assert_eq!(pairs("a#b:c\nd\0e"), [("a".into(), "c\nd".into())]);
    }

    #[test]
    fn quoted_value_warning() {
        let text = "node_env: \"production\"";
        assert_eq!(
            applied(text),
            [(Attr::NodeEnv, YmlValue::Str("\"production\"".into()))]
        );
        let d = diag(text, &codes::YML_QUOTED_VALUE);
        assert_eq!(at(text, &d), (1, 11));
        assert!(has("watchedFiles: '*.js'", &codes::YML_QUOTED_VALUE));
        assert!(!has("interceptor: \"x.js\"", &codes::YML_QUOTED_VALUE));
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let text = "nodeProcessCountPerApplication: 2\nNodeProcessCountPerApplication: 4\n";
        assert_eq!(
            applied(text),
            [
                (Attr::NodeProcessCountPerApplication, YmlValue::Uint(2)),
                (Attr::NodeProcessCountPerApplication, YmlValue::Uint(4)),
            ]
        );
        let d = diag(text, &codes::YML_DUPLICATE_KEY);
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(at(text, &d), (1, 1));
        let f = SourceFile::new("y".into(), text.into());
        assert_eq!(f.line_col(d.secondary[0].span.start).line, 2);
        assert_eq!(codes_of(text), ["IISN3011"]);
    }

    #[test]
    fn non_ascii() {
        let text = "node_env: prodüction\n# Konfiguration für später\n";
        let d = diag(text, &codes::YML_NON_ASCII);
        assert_eq!(at(text, &d), (1, 15));
        assert_eq!(snippet(text, d.primary.expect("span")), "ü");
        // Comments are not converted: nothing to report there.
        assert_eq!(codes_of(text), ["IISN3012"]);
        assert!(has("nоde_env: x", &codes::YML_NON_ASCII)); // Cyrillic o
    }

    #[test]
    fn nul_ends_the_file() {
        let text = "node_env: a\0\nfoo\n";
        let (raw, _) = run(text);
        assert!(raw.syntax_ok);
        assert_eq!(pairs(text), [("node_env".into(), "a".into())]);
        let d = diag(text, &codes::YML_NUL);
        assert_eq!(d.severity, Severity::Info);
        assert_eq!(at(text, &d), (1, 12));
    }

    #[test]
    fn tab_in_comment_is_info() {
        let text = "#\tindented comment\nnode_env: x # a\tb";
        let tabs: Vec<_> = all_diags(text)
            .into_iter()
            .filter(|d| d.lint == &codes::YML_TAB)
            .collect();
        assert_eq!(tabs.len(), 2);
        assert!(tabs.iter().all(|d| d.severity == Severity::Info));
    }

    #[test]
    fn tab_between_key_and_colon() {
        // `key\t:` reads the key as `key\t`; `key \t:` is a syntax error.
        let text = "node_env\t: x";
        assert!(accepted(text));
        assert_eq!(pairs(text)[0].0, "node_env\t");
        let text = "node_env \t: x";
        assert!(!accepted(text));
        let d = diag(text, &codes::YML_SYNTAX);
        assert_eq!(at(text, &d), (1, 10));
        assert!(d.message.contains("tab"));
    }

    #[test]
    fn yaml_constructs_are_errors() {
        let text = "---\nnode_env: x";
        let d = diag(text, &codes::YML_SYNTAX);
        assert!(d.help.expect("help").contains("not YAML"));
        assert!(!accepted("- item"));
        // Nested maps parse as flat keys; indentation has no meaning.
        assert_eq!(
            pairs("iisnode:\n  node_env: x"),
            [("node_env".into(), "x".into())]
        );
    }

    #[test]
    fn every_syntax_error_is_reported() {
        let text = "a\nb\nnode_env: ok\n: c";
        let errors: Vec<_> = all_diags(text)
            .into_iter()
            .filter(|d| d.lint == &codes::YML_SYNTAX)
            .collect();
        assert_eq!(errors.len(), 3);
        assert_eq!(at(text, &errors[2]), (4, 1));
        assert!(
            errors
                .iter()
                .all(|d| d.help.as_deref().is_some_and(|h| h.ends_with('.')))
        );
    }

    #[test]
    fn unknown_key_suggestions() {
        let d = diag("loggingEnable: true", &codes::YML_UNKNOWN_KEY);
        assert!(
            d.help
                .expect("help")
                .contains("Did you mean `loggingEnabled`?")
        );
        let d = diag("maxProcessCountPerApplication: 2", &codes::YML_UNKNOWN_KEY);
        assert!(d.help.expect("help").contains("old iisnode releases"));
        let d = diag("zzz: 1", &codes::YML_UNKNOWN_KEY);
        assert_eq!(d.message, "unknown key `zzz`: iisnode ignores this line");
    }

    #[test]
    fn messages_follow_the_style() {
        let texts = [
            ": x",
            "foo",
            "a b: c",
            "\t",
            "\u{feff}#c",
            "k # c: d",
            "loggingEnabled: x",
            "maxLogFiles: 9999999999",
            "maxLogFiles: 1x",
            "zzz: 1",
            "foo:",
            "node_env: \"a\"",
            "node_env: a#b",
            "a#b: c",
            "node_env\t: é",
            "x: 1\0",
            "node_env: a\nnode_env: b",
            "node_env:",
            "\u{feff}node_env: x",
            "maxConcurrentRequestsPerProcess: Infinite",
            "nodeProcessCountPerApplication: \"4\"",
            "loggingEnable: 1",
            "maxProcessCountPerApplication: 1",
            "http://x",
            "\tnode_env: x",
            "node_env: \"a #b\"",
            "a\u{a0}: b",
            "  \u{a0}",
            "x \u{a0}: y",
            "\u{feff}  a: b",
            "debuggerPortRange: 1",
            "configOverrides: a",
        ];
        for text in texts {
            for d in all_diags(text) {
                let first = d.message.chars().next().expect("message");
                assert!(!first.is_uppercase(), "{text:?}: {}", d.message);
                assert!(!d.message.ends_with('.'), "{text:?}: {}", d.message);
                let help = d.help.as_deref().expect("every diagnostic has help");
                assert!(
                    help.ends_with('.') || help.ends_with('?'),
                    "{text:?}: {help}"
                );
                assert!(
                    help.chars().next().is_some_and(char::is_uppercase),
                    "{text:?}: {help}"
                );
                assert!(d.primary.is_some());
            }
        }
    }

    // ---- an independent transliteration of iisnode's C loop, for differential testing ----

    /// Runs iisnode's algorithm on a NUL-terminated byte buffer, writing NULs into it exactly as
    /// the C code does. Returns the (key, value) C strings handed to
    /// `ApplyConfigOverrideKeyValue`, or None when the parser fails.
    fn reference(text: &str) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut buf: Vec<u8> = text.as_bytes().to_vec();
        buf.push(0);
        let cstr = |buf: &[u8], at: usize| -> Vec<u8> {
            buf.get(at..)
                .unwrap_or_default()
                .iter()
                .take_while(|&&c| c != 0)
                .copied()
                .collect()
        };
        let b = |buf: &[u8], i: usize| buf.get(i).copied().unwrap_or(0);
        let mut out = Vec::new();
        let (mut line_start, mut line_end) = (0usize, 0usize);
        while b(&buf, line_start) != 0 {
            let (mut colon, mut comment) = (None, None);
            while !matches!(b(&buf, line_end), 0 | b'\r' | b'\n') {
                match b(&buf, line_end) {
                    b':' if colon.is_none() => colon = Some(line_end),
                    b'#' if comment.is_none() => comment = Some(line_end),
                    _ => {}
                }
                line_end += 1;
            }
            let comment = comment.unwrap_or(line_end);
            while matches!(b(&buf, line_end), b' ' | b'\r' | b'\n') {
                line_end += 1;
            }
            while line_start < comment && b(&buf, line_start) == b' ' {
                line_start += 1;
            }
            if line_start < comment {
                let key_start = line_start;
                let colon = colon?;
                if key_start == colon {
                    return None;
                }
                while line_start < colon && b(&buf, line_start) != b' ' {
                    line_start += 1;
                }
                let key_last = line_start - 1;
                while line_start < colon && b(&buf, line_start) == b' ' {
                    line_start += 1;
                }
                if line_start != colon {
                    return None;
                }
                line_start += 1;
                while line_start < comment && b(&buf, line_start) == b' ' {
                    line_start += 1;
                }
                if line_start != comment {
                    let value_start = line_start;
                    let mut value_last = comment - 1;
                    while value_last > value_start && b(&buf, value_last) == b' ' {
                        value_last -= 1;
                    }
                    buf[key_last + 1] = 0;
                    buf[value_last + 1] = 0;
                    out.push((cstr(&buf, key_start), cstr(&buf, value_start)));
                }
            }
            line_start = line_end;
        }
        Some(out)
    }

    /// A reference for atol with i128 arithmetic.
    fn reference_atol(s: &str) -> (i64, bool) {
        let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
        let (neg, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
        let digits = digits.trim_start_matches('0');
        if digits.len() > 15 {
            return (0, true);
        }
        let m: i128 = digits.parse().unwrap_or(0);
        let v = if neg { -m } else { m };
        if v > i128::from(i32::MAX) || v < i128::from(i32::MIN) {
            return (0, true);
        }
        (v as i64, false)
    }

    fn check_spans(
        text: &str,
        spans: impl IntoIterator<Item = Span>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        for s in spans {
            proptest::prop_assert_eq!(s.source, SRC);
            proptest::prop_assert!(s.start <= s.end && s.end as usize <= text.len(), "{:?}", s);
            proptest::prop_assert!(
                text.is_char_boundary(s.start as usize) && text.is_char_boundary(s.end as usize)
            );
        }
        Ok(())
    }

    fn yml_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just(":".to_string()),
            Just("#".to_string()),
            Just(" ".to_string()),
            Just("  ".to_string()),
            Just("\t".to_string()),
            Just("\r".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\0".to_string()),
            Just("\"".to_string()),
            Just("'".to_string()),
            Just("\u{feff}".to_string()),
            Just("é".to_string()),
            Just("𝄞".to_string()),
            Just("\u{a0}".to_string()),
            Just("node_env".to_string()),
            Just("loggingEnabled".to_string()),
            Just("maxLogFiles".to_string()),
            Just("debuggerPortRange".to_string()),
            Just("true".to_string()),
            Just("-1".to_string()),
            Just("99999999999".to_string()),
            "[a-z0-9+-]{1,6}",
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics_and_spans_are_sound(text in yml_text()) {
            let (raw, res) = run(&text);
            for e in &raw.entries {
                proptest::prop_assert!(!e.key.value.is_empty());
                proptest::prop_assert!(!e.key.value.contains([' ', ':']));
                proptest::prop_assert_eq!(snippet(&text, e.key.span), e.key.value.as_str());
                proptest::prop_assert_eq!(snippet(&text, e.value.span), e.value.value.as_str());
                check_spans(&text, [e.key.span, e.value.span])?;
            }
            for d in raw.diagnostics.iter().chain(&res.diagnostics) {
                check_spans(&text, d.primary.into_iter().chain(d.secondary.iter().map(|l| l.span)))?;
                proptest::prop_assert!(d.help.is_some());
            }
            for o in &res.overrides {
                check_spans(&text, [o.key_span, o.value_span])?;
            }
            let syntax_errors = raw.diagnostics.iter().any(|d| d.lint == &codes::YML_SYNTAX);
            proptest::prop_assert_eq!(raw.syntax_ok, !syntax_errors);
            proptest::prop_assert_eq!(res.ok, !res.diagnostics.iter().any(Diagnostic::is_error));
        }

        #[test]
        fn matches_iisnode_c_loop(text in yml_text()) {
            let raw = parse(SRC, &text);
            match reference(&text) {
                None => proptest::prop_assert!(!raw.syntax_ok),
                Some(expected) => {
                    proptest::prop_assert!(raw.syntax_ok, "{:?}", raw.diagnostics);
                    let got: Vec<(Vec<u8>, Vec<u8>)> = raw
                        .entries
                        .iter()
                        .map(|e| (e.key.value.as_bytes().to_vec(), e.value.value.as_bytes().to_vec()))
                        .collect();
                    proptest::prop_assert_eq!(got, expected);
                }
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(text in proptest::prelude::any::<String>()) {
            let (raw, res) = run(&text);
            for d in raw.diagnostics.iter().chain(&res.diagnostics) {
                check_spans(&text, d.primary)?;
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let (raw, _) = run(&text);
            for e in &raw.entries {
                check_spans(&text, [e.key.span, e.value.span])?;
            }
        }

        #[test]
        fn dword_matches_reference(s in "[ \t+\\-0-9a-z\"]{0,14}|-?[0-9]{9,12}") {
            let a = parse_dword(&s);
            let (v, overflow) = reference_atol(&s);
            proptest::prop_assert_eq!(a.overflow, overflow);
            if !overflow {
                proptest::prop_assert_eq!(a.value, (v as i32) as u32);
            }
            let plain = !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && !overflow;
            proptest::prop_assert_eq!(a.lenient.is_none(), plain);
        }
    }
}
