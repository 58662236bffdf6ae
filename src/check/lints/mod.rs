//! The semantic lints, one file per family, and the context they share.
//!
//! | file               | codes            | looks at                                        |
//! |--------------------|------------------|-------------------------------------------------|
//! | `settings.rs`      | IISN5001–5029    | each application's effective `<iisnode>` values |
//! | `app_settings.rs`  | IISN5030–5033    | `<appSettings>`, which becomes node's env       |
//! | `handlers.rs`      | IISN6001–6004, 6021, 6024, 6025, 6027, 7001 | handler mappings and default documents |
//! | `rewrite.rs`       | IISN6005–6020 (6017: the loader), 1001 | URL Rewrite rules, patterns and targets      |
//! | `static_files.rs`  | IISN6022, 6030   | files IIS would serve without a MIME type; hidden segments removed |
//! | `http_errors.rs`   | IISN6026         | custom error pages (`<httpErrors>`)             |
//! | `headers.rs`       | IISN6028, 6029   | response headers: IIS's own `Server`, custom header names |
//! | `app.rs`           | IISN6023, 7002–7008 | the node application: script, package.json, node |
//!
//! Every lint points at the attribute value it is about (`file:line:column`), says what
//! IIS or iisnode will do, and gives the fix as a help sentence. A lint that cannot decide
//! (a dynamic rewrite target, an unreadable script) stays silent: no false positives.
//!
//! # Adding a lint
//!
//! 1. Append it to `lints!` in `src/diag/codes.rs`: the next free code of its family, a
//!    kebab-case name, the default severity, a lowercase one-line summary and an explanation
//!    that says what IIS or iisnode does and how to fix it.
//! 2. Report it from its family's file, at the span of the value it is about, with a help
//!    sentence.
//! 3. Add `tests/fixtures/check/<CODE>/bad/` and `good/`, with `<!-- expect: CODE -->` on the
//!    offending line of the bad web.config; run
//!    `INSTA_UPDATE=always cargo test --test check_fixtures` and review the new snapshots.
//! 4. Regenerate the docs: `cargo run -- check --explain-all-markdown > docs/lints.md`.

pub mod app;
pub mod app_settings;
pub mod handlers;
pub mod headers;
pub mod http_errors;
pub mod rewrite;
pub mod same_name;
pub mod settings;
pub mod static_files;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;

use crate::config::LoadedSite;
use crate::config::model::EffectiveConfig;
use crate::config::source::{SourceId, Span};
use crate::config::web_config::Sections;
use crate::diag::Diagnostic;

/// Runs every lint family over a site.
pub fn run_all(site: &LoadedSite, path_var: Option<&str>) -> Vec<Diagnostic> {
    let mut ctx = Ctx::new(site);
    ctx.path_var = path_var.map(str::to_string);
    settings::run(&mut ctx);
    app_settings::run(&mut ctx);
    handlers::run(&mut ctx);
    rewrite::run(&mut ctx);
    static_files::run(&mut ctx);
    http_errors::run(&mut ctx);
    headers::run(&mut ctx);
    app::run(&mut ctx);
    same_name::run(&mut ctx);
    ctx.out
}

/// What the lints share: the site, cached effective configurations, the output.
pub struct Ctx<'a> {
    pub site: &'a LoadedSite,
    effective: RefCell<HashMap<String, Rc<EffectiveConfig>>>,
    pub out: Vec<Diagnostic>,
    /// `PATH`, for finding node.
    pub path_var: Option<String>,
}

/// One block of sections as written: a web.config's own, or one of its `<location>`s.
pub struct SectionsAt<'a> {
    /// The URL folder the sections apply to (`""` = site root; `api` for
    /// `<location path="api">` in the root web.config).
    pub dir_rel: String,
    pub sections: &'a Sections,
    pub source: Option<SourceId>,
}

impl<'a> Ctx<'a> {
    pub fn new(site: &'a LoadedSite) -> Self {
        Ctx {
            site,
            effective: RefCell::new(HashMap::new()),
            out: Vec::new(),
            path_var: None,
        }
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    /// The merged configuration of a URL folder (cached).
    pub fn effective(&self, dir_rel: &str) -> Rc<EffectiveConfig> {
        let key = dir_rel.to_ascii_lowercase();
        if let Some(c) = self.effective.borrow().get(&key) {
            return Rc::clone(c);
        }
        let c = Rc::new(self.site.effective_for(dir_rel));
        self.effective.borrow_mut().insert(key, Rc::clone(&c));
        c
    }

    /// Every block of sections in the site, parents first, each once.
    pub fn sections(&self) -> Vec<SectionsAt<'a>> {
        let mut out = Vec::new();
        for level in &self.site.levels {
            let Some(cfg) = &level.config else { continue };
            out.push(SectionsAt {
                dir_rel: level.dir_rel.clone(),
                sections: &cfg.sections,
                source: level.source,
            });
            for loc in &cfg.locations {
                out.push(SectionsAt {
                    dir_rel: join_rel(&level.dir_rel, &loc.path.value),
                    sections: &loc.sections,
                    source: level.source,
                });
            }
        }
        out
    }

    /// The text a span covers in its file.
    pub fn text(&self, span: Span) -> &'a str {
        self.site.sources.snippet(span)
    }

    /// The span of `range` (byte offsets into `value`) inside `span`, when the file holds
    /// `value` verbatim (no XML entities); otherwise `span` itself.
    pub fn sub_span(&self, span: Span, value: &str, range: Range<usize>) -> Span {
        if !span.is_builtin() && self.text(span) == value && range.end <= value.len() {
            let start = span.start as usize;
            Span::new(span.source, start + range.start, start + range.end)
        } else {
            span
        }
    }

    /// The value span and text of attribute `name` in the start tag whose element name is
    /// at `name_span`, for attributes the model does not keep (`redirectType` as written).
    pub fn attr_in_tag(&self, name_span: Span, name: &str) -> Option<(Span, &'a str)> {
        let text = self.site.sources.get(name_span.source).text();
        let tag_start = name_span.end as usize;
        let rest = text.get(tag_start..)?;
        let mut i = 0;
        let bytes = rest.as_bytes();
        while i < bytes.len() {
            match bytes[i] {
                b'>' => return None,
                b'"' | b'\'' => {
                    let q = bytes[i];
                    let close = rest[i + 1..].find(q as char)? + i + 1;
                    i = close + 1;
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = i;
                    while i < bytes.len()
                        && (bytes[i].is_ascii_alphanumeric()
                            || matches!(bytes[i], b'_' | b':' | b'-' | b'.'))
                    {
                        i += 1;
                    }
                    let attr = &rest[start..i];
                    let mut j = i;
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if bytes.get(j) != Some(&b'=') {
                        continue;
                    }
                    j += 1;
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    let q = *bytes.get(j)?;
                    if q != b'"' && q != b'\'' {
                        return None;
                    }
                    let close = rest[j + 1..].find(q as char)? + j + 1;
                    if attr == name {
                        let s = tag_start + j + 1;
                        let e = tag_start + close;
                        return Some((Span::new(name_span.source, s, e), &text[s..e]));
                    }
                    i = close + 1;
                }
                _ => i += 1,
            }
        }
        None
    }

    /// The span of `<configuration>` in a file, or its start: where site-wide diagnostics
    /// point.
    pub fn file_anchor(&self, source: SourceId) -> Span {
        let text = self.site.sources.get(source).text();
        match text.find("<configuration") {
            Some(i) => Span::new(source, i + 1, i + "<configuration".len()),
            None => Span::point(source, 0),
        }
    }
}

/// `a` + `/` + `b` for URL folders, either side possibly empty.
pub fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

/// The folder part of a site-relative URL path (`api/server.js` → `api`).
pub fn parent_rel(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Whether a path is absolute on Windows or Unix (`C:\x`, `\\server\x`, `\x`, `/x`).
pub fn is_absolute_any(p: &str) -> bool {
    let b = p.as_bytes();
    (b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic())
        || p.starts_with('\\')
        || p.starts_with('/')
}

pub use crate::node::is_windows_path;

/// Normalises a URL path relative to `base` (a site-relative folder): `\` → `/`, a leading
/// `/` means the site root, `.` and `..` are resolved. `None` when it climbs above the root.
pub fn resolve_url_path(base: &str, target: &str) -> Option<String> {
    let t = target.replace('\\', "/");
    let (mut parts, rest): (Vec<&str>, &str) = match t.strip_prefix('/') {
        Some(r) => (Vec::new(), r),
        None => (
            base.split('/').filter(|s| !s.is_empty()).collect(),
            t.as_str(),
        ),
    };
    for seg in rest.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// `iisn check` of a temporary site: `web_config` at its root and each of `files`
/// (site-relative) holding `content`; the diagnostics it gives.
#[cfg(test)]
pub(crate) fn check_temp_site(web_config: &str, files: &[&str], content: &str) -> Vec<Diagnostic> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("web.config"), web_config).expect("write");
    for f in files {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }
    let opts = crate::config::LoadOptions {
        env: crate::config::env::Environment::from_pairs(Vec::<(String, String)>::new()),
        cpu_count: 1,
    };
    crate::check::check_path(dir.path(), &opts)
        .expect("checked")
        .diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_resolve_like_iis() {
        assert_eq!(
            resolve_url_path("", "server.js").as_deref(),
            Some("server.js")
        );
        assert_eq!(
            resolve_url_path("api", "dist\\app.js").as_deref(),
            Some("api/dist/app.js")
        );
        assert_eq!(resolve_url_path("api", "/x.js").as_deref(), Some("x.js"));
        assert_eq!(resolve_url_path("a/b", "../c").as_deref(), Some("a/c"));
        assert_eq!(resolve_url_path("", "../c"), None);
    }
}
