//! The outputs of `iisn check`: human (rustc-style), JSON, SARIF 2.1.0 and GitHub Actions
//! annotations, plus `--explain` and the generated `docs/lints.md`.
//!
//! Every format renders the same [`Diagnostic`]s; the human form reuses
//! [`crate::diag::render::human`] and the JSON form [`JsonDiagnostic`], so `iisn config`,
//! `iisn check` and `iisn serve` print diagnostics alike. Paths are shown relative to a base
//! folder (the current directory for the CLI). Nothing here does I/O.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::check::Checked;
use crate::config::source::SourceMap;
use crate::diag::codes::{self, Lint};
use crate::diag::render::{JsonDiagnostic, display_path, human, summary_line};
use crate::diag::{Diagnostic, Severity, Summary};
use crate::ui::Styles;

/// Which diagnostics the display formats (human, github) show: errors always, warnings
/// unless quiet, notes (info) only when verbose. JSON and SARIF always carry everything.
///
/// `-q` means "print only errors", and with `--deny-warnings` a warning fails the run like an
/// error, so it is shown then too: a run must never fail without saying why.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    pub quiet: bool,
    pub verbose: bool,
    pub deny_warnings: bool,
}

impl Filter {
    pub fn shows(self, d: &Diagnostic) -> bool {
        match d.severity {
            Severity::Error => true,
            Severity::Warning => !self.quiet || self.deny_warnings,
            Severity::Info => self.verbose,
        }
    }
}

fn all_diags(checked: &[Checked]) -> impl Iterator<Item = &Diagnostic> {
    checked.iter().flat_map(|c| c.diagnostics.iter())
}

/// The human report: each diagnostic, then a summary line.
pub fn human_report(checked: &[Checked], base: &Path, st: &Styles, filter: Filter) -> String {
    let mut out = String::new();
    if checked.is_empty() {
        return out;
    }
    for c in checked {
        for d in c.diagnostics.iter().filter(|d| filter.shows(d)) {
            out.push_str(&human(d, &c.site.sources, base, st));
            out.push('\n');
        }
    }
    let summary = Summary::of(all_diags(checked));
    // `-q` prints only what fails the run: no "ok" line, no count of warnings that pass.
    let fails = summary.errors > 0 || (filter.deny_warnings && summary.warnings > 0);
    if filter.quiet && !fails {
        return out;
    }
    let files: usize = checked.iter().map(|c| c.files).sum();
    let files = crate::ui::plural(files, "file", "files");
    let shown = Summary {
        infos: if filter.verbose { summary.infos } else { 0 },
        ..summary
    };
    let line = summary_line(&shown, st);
    if line.is_empty() {
        let _ = write!(out, "{} no problems in {files}", st.good.apply_to("ok:"));
    } else {
        let _ = write!(out, "{} {line} in {files}", st.bold.apply_to("check:"));
    }
    if !filter.verbose && summary.infos > 0 {
        let _ = write!(
            out,
            " ({} hidden; -v shows them)",
            crate::ui::plural(summary.infos, "note", "notes")
        );
    }
    out.push('\n');
    out
}

/// `iisn check --format json`, schema version 1 (docs/check-json.md).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonReport {
    pub schema_version: u32,
    pub diagnostics: Vec<JsonDiagnostic>,
    pub summary: JsonSummary,
}

#[derive(Serialize)]
pub struct JsonSummary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub files: usize,
}

pub fn json_report(checked: &[Checked], base: &Path) -> JsonReport {
    let s = Summary::of(all_diags(checked));
    JsonReport {
        schema_version: 1,
        diagnostics: checked
            .iter()
            .flat_map(|c| {
                c.diagnostics
                    .iter()
                    .map(|d| JsonDiagnostic::of(d, &c.site.sources, base))
            })
            .collect(),
        summary: JsonSummary {
            errors: s.errors,
            warnings: s.warnings,
            infos: s.infos,
            files: checked.iter().map(|c| c.files).sum(),
        },
    }
}

// ---------------------------------------------------------------------------------------
// GitHub Actions workflow commands
// ---------------------------------------------------------------------------------------

/// Escapes a workflow command's message.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error file=...,line=...,col=...,endLine=...,endColumn=...,title=IISNxxxx::message`
/// line per diagnostic the filter shows.
/// A path `iisn check` could not check (missing, unreadable, a script), as an annotation
/// with no file: the job's summary shows why the step failed, not only its raw log.
pub fn github_path_error(message: &str) -> String {
    format!("::error title=iisn check::{}\n", gh_data(message))
}

pub fn github_report(checked: &[Checked], base: &Path, filter: Filter) -> String {
    let mut out = String::new();
    for c in checked {
        for d in c.diagnostics.iter().filter(|d| filter.shows(d)) {
            let kind = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut props = Vec::new();
            if let Some(loc) = d
                .primary
                .and_then(|s| crate::diag::render::JsonLocation::of(&c.site.sources, s, base))
            {
                props.push(format!(
                    "file={}",
                    gh_property(&loc.file.replace('\\', "/"))
                ));
                props.push(format!("line={}", loc.line));
                props.push(format!("col={}", loc.column));
                props.push(format!("endLine={}", loc.end_line));
                props.push(format!("endColumn={}", loc.end_column));
            }
            props.push(format!("title={}", gh_property(d.lint.code)));
            let mut message = d.message.clone();
            if let Some(note) = &d.note {
                message.push_str("\nnote: ");
                message.push_str(note);
            }
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            let _ = writeln!(out, "::{kind} {}::{}", props.join(","), gh_data(&message));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// SARIF 2.1.0
// ---------------------------------------------------------------------------------------

#[derive(Serialize)]
pub struct Sarif {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub version: &'static str,
    pub runs: Vec<SarifRun>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifRun {
    pub tool: SarifTool,
    pub column_kind: &'static str,
    pub results: Vec<SarifResult>,
}

#[derive(Serialize)]
pub struct SarifTool {
    pub driver: SarifDriver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifDriver {
    pub name: &'static str,
    pub version: &'static str,
    pub semantic_version: &'static str,
    pub information_uri: &'static str,
    pub rules: Vec<SarifRule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifRule {
    pub id: &'static str,
    pub name: &'static str,
    pub short_description: SarifText,
    pub full_description: SarifText,
    pub help: SarifText,
    pub default_configuration: SarifDefaultConfiguration,
    pub properties: SarifRuleProperties,
}

#[derive(Serialize)]
pub struct SarifRuleProperties {
    pub tags: Vec<&'static str>,
}

#[derive(Serialize)]
pub struct SarifDefaultConfiguration {
    pub level: &'static str,
}

#[derive(Serialize)]
pub struct SarifText {
    pub text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    pub rule_id: &'static str,
    pub rule_index: usize,
    pub level: &'static str,
    pub message: SarifText,
    pub locations: Vec<SarifLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_locations: Vec<SarifLocation>,
    pub partial_fingerprints: std::collections::BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifLocation {
    pub physical_location: SarifPhysicalLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<SarifText>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifPhysicalLocation {
    pub artifact_location: SarifArtifactLocation,
    pub region: SarifRegion,
}

#[derive(Serialize)]
pub struct SarifArtifactLocation {
    pub uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SarifRegion {
    pub start_line: u32,
    pub start_column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A path as a URI: a relative reference for a relative path (`/` separators, reserved
/// characters percent-encoded), a `file://` URI for an absolute one.
fn uri_of(path: &str) -> String {
    let mut out = String::new();
    let p = path.replace('\\', "/");
    if Path::new(path).is_absolute() {
        out.push_str("file://");
        if !p.starts_with('/') {
            out.push('/');
        }
    }
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn sarif_location(
    sources: &SourceMap,
    span: crate::config::source::Span,
    base: &Path,
    message: Option<String>,
) -> Option<SarifLocation> {
    if span.is_builtin() {
        return None;
    }
    let file = sources.get(span.source);
    let start = file.line_col(span.start);
    let end = file.line_col(span.end);
    Some(SarifLocation {
        physical_location: SarifPhysicalLocation {
            artifact_location: SarifArtifactLocation {
                uri: uri_of(&display_path(file.path(), base)),
            },
            region: SarifRegion {
                start_line: start.line,
                start_column: file.utf16_column(span.start),
                end_line: end.line,
                end_column: file.utf16_column(span.end),
            },
        },
        message: message.map(|text| SarifText { text }),
    })
}

/// Line 1 of the site's folder itself: the location of a diagnostic in a site that has no
/// configuration file to point at (`.` when the folder is the base).
fn folder_location(dir: &Path, base: &Path) -> SarifLocation {
    let shown = display_path(dir, base);
    let rel = if dir == base { "." } else { shown.as_str() };
    SarifLocation {
        physical_location: SarifPhysicalLocation {
            artifact_location: SarifArtifactLocation { uri: uri_of(rel) },
            region: SarifRegion {
                start_line: 1,
                start_column: 1,
                end_line: 1,
                end_column: 1,
            },
        },
        message: None,
    }
}

/// FNV-1a, 64 bits: a stable fingerprint that does not depend on Rust's hasher.
fn fnv1a(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn rule_of(l: &'static Lint) -> SarifRule {
    SarifRule {
        id: l.code,
        name: l.name,
        short_description: SarifText {
            text: l.summary.to_string(),
        },
        full_description: SarifText {
            text: l.explanation.to_string(),
        },
        help: SarifText {
            text: format!("{} (run `iisn check --explain {}`)", l.explanation, l.code),
        },
        default_configuration: SarifDefaultConfiguration {
            level: sarif_level(l.severity),
        },
        properties: SarifRuleProperties {
            tags: vec!["iis", "iisnode", "configuration"],
        },
    }
}

/// The SARIF 2.1.0 log GitHub code scanning accepts: one run, every lint as a rule, each
/// result with a location (a diagnostic without one is placed at line 1 of the first file
/// of its site, or at the site's folder when the site has no file at all, as with IISN0005),
/// UTF-16 columns, and a fingerprint that survives unrelated edits. GitHub rejects a result
/// without a location.
pub fn sarif_report(checked: &[Checked], base: &Path) -> Sarif {
    let rules: Vec<SarifRule> = codes::ALL.iter().map(|l| rule_of(l)).collect();
    let mut results = Vec::new();
    for c in checked {
        let sources = &c.site.sources;
        let fallback = sources
            .files()
            .next()
            .map(|(id, _)| crate::config::source::Span::point(id, 0));
        for d in &c.diagnostics {
            let span = d.primary.filter(|s| !s.is_builtin()).or(fallback);
            let locations: Vec<SarifLocation> = span
                .and_then(|s| sarif_location(sources, s, base, None))
                .or_else(|| Some(folder_location(&c.site.root, base)))
                .into_iter()
                .collect();
            let related = d
                .secondary
                .iter()
                .filter_map(|l| sarif_location(sources, l.span, base, Some(l.message.clone())))
                .collect();
            let mut text = d.message.clone();
            if let Some(note) = &d.note {
                let _ = write!(text, "\nnote: {note}");
            }
            if let Some(help) = &d.help {
                let _ = write!(text, "\nhelp: {help}");
            }
            let (file, line_text) = span
                .filter(|s| !s.is_builtin())
                .map(|s| {
                    let f = sources.get(s.source);
                    let lc = f.line_col(s.start);
                    (
                        display_path(f.path(), base).replace('\\', "/"),
                        f.line_text(lc.line).trim().to_string(),
                    )
                })
                .unwrap_or_default();
            let mut fp = std::collections::BTreeMap::new();
            fp.insert(
                "iisn/v1",
                fnv1a(&[d.lint.code, &file, &line_text, &d.message]),
            );
            results.push(SarifResult {
                rule_id: d.lint.code,
                rule_index: codes::ALL
                    .iter()
                    .position(|l| l.code == d.lint.code)
                    .unwrap_or(0),
                level: sarif_level(d.severity),
                message: SarifText { text },
                locations,
                related_locations: related,
                partial_fingerprints: fp,
            });
        }
    }
    Sarif {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: vec![SarifRun {
            tool: SarifTool {
                driver: SarifDriver {
                    name: "iisn",
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    information_uri: "https://github.com/iisn/iisn",
                    rules,
                },
            },
            column_kind: "utf16CodeUnits",
            results,
        }],
    }
}

// ---------------------------------------------------------------------------------------
// --explain and docs/lints.md
// ---------------------------------------------------------------------------------------

/// Where a lint is reported from.
pub fn stage_of(l: &Lint) -> &'static str {
    match l.code.as_bytes().get(4) {
        Some(b'0') => "syntax",
        Some(b'1' | b'2' | b'3' | b'4') => "model",
        _ => "semantics",
    }
}

/// Wraps text at `width` columns on spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if col > 0 && col + 1 + w > width {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
    }
    out
}

/// `iisn check --explain IISNxxxx`.
pub fn explain(l: &Lint, st: &Styles) -> String {
    format!(
        "{} {} ({}, {})\n\n{}\n\n{}\n",
        st.bold.apply_to(l.code),
        st.accent.apply_to(l.name),
        l.severity.as_str(),
        stage_of(l),
        st.bold.apply_to(l.summary),
        wrap(l.explanation, 80)
    )
}

/// Markdown-safe text: `<` outside code spans would read as an HTML tag.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '<' if !in_code => out.push_str("&lt;"),
            '|' if !in_code => out.push_str("\\|"),
            _ => out.push(c),
        }
    }
    out
}

/// The text of `docs/lints.md`, generated from the registry.
pub fn lints_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Lints\n\n\
         <!-- Generated by `iisn check --explain-all-markdown`; do not edit. A test fails when\n     \
         this file and the registry in src/diag/codes.rs disagree. -->\n\n\
         Every diagnostic iisn reports has a stable code. `iisn check --explain CODE` prints the\n\
         explanation below. The stage says where it comes from: *syntax* (reading a file),\n\
         *model* (the schema, the hierarchy, the environment) or *semantics* (what IIS and\n\
         iisnode will do with the configuration; `iisn check` and `iisn serve` run the same\n\
         lints). The severity is the default; a few lints raise or lower it for a particular\n\
         case, as their explanation says.\n\n\
         | code | name | severity | stage | summary |\n\
         |---|---|---|---|---|\n",
    );
    for l in codes::ALL {
        let _ = writeln!(
            out,
            "| [{}](#{}) | `{}` | {} | {} | {} |",
            l.code,
            l.code.to_ascii_lowercase(),
            l.name,
            l.severity.as_str(),
            stage_of(l),
            md(l.summary)
        );
    }
    for l in codes::ALL {
        let _ = write!(
            out,
            "\n## {}\n\n`{}` · {} · {}\n\n**{}**\n\n{}\n",
            l.code,
            l.name,
            l.severity.as_str(),
            stage_of(l),
            md(l.summary),
            md(&wrap(l.explanation, 96))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escaping() {
        assert_eq!(gh_data("50% a\r\nb"), "50%25 a%0D%0Ab");
        assert_eq!(gh_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn uris_are_encoded() {
        assert_eq!(uri_of("my site\\web.config"), "my%20site/web.config");
        #[cfg(unix)]
        assert_eq!(
            uri_of("/srv/site/web.config"),
            "file:///srv/site/web.config"
        );
    }

    #[test]
    fn markdown_escapes_tags_outside_code() {
        assert_eq!(md("<a> `<b>` x|y"), "&lt;a> `<b>` x\\|y");
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap("a bb ccc dddd", 6), "a bb\nccc\ndddd");
    }

    #[test]
    fn every_lint_explains() {
        for l in codes::ALL {
            let e = explain(l, &Styles::plain());
            assert!(e.starts_with(l.code));
        }
        assert!(lints_markdown().contains("## IISN7008"));
    }
}
