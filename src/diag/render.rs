//! Renderers: the human (rustc-style) form and the JSON form of diagnostics.
//!
//! The human form shows the code, the message, the file:line:column, the source line with
//! the span underlined, then notes and help. Paths are shown relative to a base folder when
//! they are under it. The JSON form is documented in `docs/json.md` and stable.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::{Diagnostic, Severity, Summary};
use crate::config::source::{SourceMap, Span};
use crate::ui::Styles;
use crate::ui::printable;

/// A path shown relative to `base` when it lies under it.
pub fn display_path(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `file:line:column` of a span.
pub fn location(sources: &SourceMap, span: Span, base: &Path) -> String {
    if span.is_builtin() {
        return "(IIS defaults)".to_string();
    }
    let lc = sources.line_col(span);
    format!(
        "{}:{}:{}",
        display_path(sources.path(span.source), base),
        lc.line,
        lc.column
    )
}

/// Renders one diagnostic for a terminal.
pub fn human(d: &Diagnostic, sources: &SourceMap, base: &Path, st: &Styles) -> String {
    let mut out = String::new();
    let sev_style = match d.severity {
        Severity::Error => &st.error,
        Severity::Warning => &st.warning,
        Severity::Info => &st.info,
    };
    let _ = writeln!(
        out,
        "{}{} {}",
        sev_style.apply_to(format!("{}[{}]", d.severity.as_str(), d.lint.code)),
        st.bold.apply_to(":"),
        st.bold.apply_to(printable(&d.message))
    );
    let mut gutter = 1;
    if let Some(span) = d.primary.filter(|s| !s.is_builtin()) {
        let file = sources.get(span.source);
        let lc = file.line_col(span.start);
        let num = lc.line.to_string();
        gutter = num.len() + 1;
        let pad = " ".repeat(gutter);
        let _ = writeln!(
            out,
            "{}{} {}",
            " ".repeat(gutter - 1),
            st.accent.apply_to("-->"),
            location(sources, span, base)
        );
        let line = file.line_text(lc.line);
        if !line.is_empty() || file.text().is_empty() {
            let _ = writeln!(out, "{pad}{}", st.accent.apply_to("|"));
            let shown: String = line
                .chars()
                .map(|c| match c {
                    '\t' => ' ',
                    // Show other control characters (a NUL in iisnode.yml) as visible symbols.
                    c if c.is_control() => char::from_u32(0x2400 + c as u32)
                        .filter(|_| (c as u32) < 0x20)
                        .unwrap_or('\u{FFFD}'),
                    c => c,
                })
                .collect();
            let _ = writeln!(
                out,
                "{} {} {}",
                st.accent.apply_to(&num),
                st.accent.apply_to("|"),
                shown
            );
            let end = file.line_col(span.end);
            // Columns count characters, but a terminal gives an emoji or a CJK character
            // two cells: the caret is placed and sized by display width, as the line shows.
            let before = lc.column.saturating_sub(1) as usize;
            let chars = if end.line == lc.line {
                (end.column.saturating_sub(lc.column)) as usize
            } else {
                usize::MAX
            };
            let cells = |s: String| console::measure_text_width(&s);
            let indent = cells(shown.chars().take(before).collect());
            let width = cells(shown.chars().skip(before).take(chars).collect()).max(1);
            let _ = writeln!(
                out,
                "{pad}{} {}{}",
                st.accent.apply_to("|"),
                " ".repeat(indent),
                sev_style.apply_to("^".repeat(width))
            );
        }
    }
    let pad = " ".repeat(gutter);
    for label in d.secondary.iter().filter(|l| !l.span.is_builtin()) {
        let _ = writeln!(
            out,
            "{pad}{} {}: {}",
            st.accent.apply_to("="),
            location(sources, label.span, base),
            printable(&label.message)
        );
    }
    if let Some(note) = &d.note {
        let note = printable(note);
        let _ = writeln!(
            out,
            "{pad}{} {} {note}",
            st.accent.apply_to("="),
            st.bold.apply_to("note:")
        );
    }
    if let Some(help) = &d.help {
        let help = printable(help);
        let _ = writeln!(
            out,
            "{pad}{} {} {help}",
            st.accent.apply_to("="),
            st.help.apply_to("help:")
        );
    }
    out
}

/// The summary line: `2 errors, 1 warning`.
pub fn summary_line(s: &Summary, st: &Styles) -> String {
    let mut parts = Vec::new();
    if s.errors > 0 {
        parts.push(
            st.error
                .apply_to(crate::ui::plural(s.errors, "error", "errors"))
                .to_string(),
        );
    }
    if s.warnings > 0 {
        parts.push(
            st.warning
                .apply_to(crate::ui::plural(s.warnings, "warning", "warnings"))
                .to_string(),
        );
    }
    if s.infos > 0 {
        parts.push(crate::ui::plural(s.infos, "note", "notes"));
    }
    parts.join(", ")
}

/// A position in the JSON form (1-based; `column` counts characters).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JsonLocation {
    pub file: String,
    pub line: u32,
    pub column: u32,
    #[serde(rename = "endLine")]
    pub end_line: u32,
    #[serde(rename = "endColumn")]
    pub end_column: u32,
}

impl JsonLocation {
    pub fn of(sources: &SourceMap, span: Span, base: &Path) -> Option<Self> {
        if span.is_builtin() {
            return None;
        }
        let s = sources.line_col(span);
        let e = sources.end_line_col(span);
        Some(JsonLocation {
            file: display_path(sources.path(span.source), base),
            line: s.line,
            column: s.column,
            end_line: e.line,
            end_column: e.column,
        })
    }
}

#[derive(Serialize)]
pub struct JsonLabel {
    #[serde(flatten)]
    pub location: JsonLocation,
    pub message: String,
}

/// One diagnostic in the JSON form.
#[derive(Serialize)]
pub struct JsonDiagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub name: &'static str,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    #[serde(rename = "endLine")]
    pub end_line: Option<u32>,
    #[serde(rename = "endColumn")]
    pub end_column: Option<u32>,
    pub help: Option<String>,
    pub note: Option<String>,
    pub labels: Vec<JsonLabel>,
}

impl JsonDiagnostic {
    pub fn of(d: &Diagnostic, sources: &SourceMap, base: &Path) -> Self {
        let loc = d.primary.and_then(|s| JsonLocation::of(sources, s, base));
        JsonDiagnostic {
            severity: d.severity,
            code: d.lint.code,
            name: d.lint.name,
            message: d.message.clone(),
            file: loc.as_ref().map(|l| l.file.clone()),
            line: loc.as_ref().map(|l| l.line),
            column: loc.as_ref().map(|l| l.column),
            end_line: loc.as_ref().map(|l| l.end_line),
            end_column: loc.as_ref().map(|l| l.end_column),
            help: d.help.clone(),
            note: d.note.clone(),
            labels: d
                .secondary
                .iter()
                .filter_map(|l| {
                    Some(JsonLabel {
                        location: JsonLocation::of(sources, l.span, base)?,
                        message: l.message.clone(),
                    })
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::SourceMap;
    use crate::diag::codes;

    #[test]
    fn human_form_underlines_the_span() {
        let mut sm = SourceMap::new();
        let text = "<configuration>\n  <iisnode idontexist=\"12\"/>\n</configuration>\n";
        let id = sm.add("/site/web.config".into(), text.into());
        let start = text.find("idontexist").expect("in text");
        let d = Diagnostic::new(
            &codes::IISNODE_UNKNOWN_ATTRIBUTE,
            "<iisnode> has no attribute `idontexist`",
        )
        .at(Span::new(id, start, start + 10))
        .help("Remove it.");
        let out = human(&d, &sm, Path::new("/site"), &Styles::plain());
        assert_eq!(
            out,
            "error[IISN2001]: <iisnode> has no attribute `idontexist`\n --> web.config:2:12\n  |\n2 |   <iisnode idontexist=\"12\"/>\n  |            ^^^^^^^^^^\n  = help: Remove it.\n"
        );
        let j =
            serde_json::to_value(JsonDiagnostic::of(&d, &sm, Path::new("/site"))).expect("json");
        assert_eq!(j["line"], 2);
        assert_eq!(j["column"], 12);
        assert_eq!(j["endColumn"], 22);
        assert_eq!(j["code"], "IISN2001");
        assert_eq!(j["severity"], "error");
    }

    #[test]
    fn the_caret_lines_up_under_wide_characters() {
        let mut sm = SourceMap::new();
        let text =
            "<configuration>\n  <rule name=\"😀日\"><match url=\"(x\"/></rule>\n</configuration>\n";
        let id = sm.add("/site/web.config".into(), text.into());
        let start = text.find("(x").expect("in text");
        let d = Diagnostic::new(&codes::REGEX_SYNTAX, "bad pattern").at(Span::new(
            id,
            start,
            start + 2,
        ));
        let out = human(&d, &sm, Path::new("/site"), &Styles::plain());
        let lines: Vec<&str> = out.lines().collect();
        // The source line and the caret line, after the gutter ("2 | " and "  | ").
        let source = lines[3].split_once("| ").expect("source line").1;
        let caret = lines[4].split_once("| ").expect("caret line").1;
        let cells_before = console::measure_text_width(&source[..source.find("(x").expect("(x")]);
        assert_eq!(caret, format!("{}^^", " ".repeat(cells_before)), "{out}");
        // The JSON column still counts characters.
        let j =
            serde_json::to_value(JsonDiagnostic::of(&d, &sm, Path::new("/site"))).expect("json");
        assert_eq!(j["column"], 31);
    }

    #[test]
    fn diagnostics_without_a_span_render_message_and_help() {
        let sm = SourceMap::new();
        let d = Diagnostic::new(
            &codes::ENV_INVALID,
            "environment variable IISNODE_x is invalid",
        )
        .help("Unset it.");
        let out = human(&d, &sm, Path::new("/"), &Styles::plain());
        assert_eq!(
            out,
            "error[IISN4001]: environment variable IISNODE_x is invalid\n = help: Unset it.\n"
        );
    }
}
