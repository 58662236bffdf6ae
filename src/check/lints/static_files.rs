//! Static files IIS would refuse to serve (IISN6022; iis-webconfig.md §3.3).
//!
//! IIS serves a static file only when `<staticContent>` maps its extension to a MIME type;
//! otherwise the answer is 404.3. The stock map lacks several extensions modern front ends
//! produce (`.mjs`, `.webp`, `.avif`, `.wasm`, `.webmanifest`). This lint walks the site's
//! files (not `node_modules` or hidden folders, and at most `MAX_FILES` of them) and reports
//! each web-asset extension that the effective MIME map of the file's folder lacks, once per
//! extension. Extensions that are not web assets (`.md`, `.ts`) are not reported: nobody
//! expects IIS to serve them.
//!
//! A file counts only when a GET of its own URL could reach the static file handler as that
//! file: request filtering lets it through, URL Rewrite leaves the URL alone (the rules run
//! as `iisn serve` runs them) and no other handler maps it. Sites built by nitro (Nuxt) or
//! Angular's server renderer hold many `.mjs` server chunks that their rules send to node
//! (`public{PATH_INFO}`, then the entry script), never to IIS's static file handler; a rule
//! set that may backtrack for long, or that redirects, is not run and its files count.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;

use crate::diag::{Diagnostic, codes};
use crate::serve::pipeline::rewrite::{Env, Outcome, UrlState};
use crate::serve::pipeline::{FolderConfig, RequestHead};

use super::handlers::{Mapping, map_url};
use super::{Ctx, join_rel};

const MAX_FILES: usize = 20_000;
const MAX_DEPTH: usize = 12;

/// Extensions browsers fetch, with the MIME type to suggest.
const WEB_ASSETS: &[(&str, &str)] = &[
    (".apng", "image/apng"),
    (".avif", "image/avif"),
    (".css", "text/css"),
    (".eot", "application/vnd.ms-fontobject"),
    (".gif", "image/gif"),
    (".glb", "model/gltf-binary"),
    (".gltf", "model/gltf+json"),
    (".htm", "text/html"),
    (".html", "text/html"),
    (".ico", "image/x-icon"),
    (".jpeg", "image/jpeg"),
    (".jpg", "image/jpeg"),
    (".js", "text/javascript"),
    (".json", "application/json"),
    (".jxl", "image/jxl"),
    (".map", "application/json"),
    (".mjs", "text/javascript"),
    (".mp3", "audio/mpeg"),
    (".mp4", "video/mp4"),
    (".ogg", "audio/ogg"),
    (".otf", "font/otf"),
    (".pdf", "application/pdf"),
    (".png", "image/png"),
    (".svg", "image/svg+xml"),
    (".ttf", "font/ttf"),
    (".txt", "text/plain"),
    (".wasm", "application/wasm"),
    (".wav", "audio/wav"),
    (".webm", "video/webm"),
    (".webmanifest", "application/manifest+json"),
    (".webp", "image/webp"),
    (".woff", "font/woff"),
    (".woff2", "font/woff2"),
    (".xml", "text/xml"),
];

struct Found {
    example: String,
    count: usize,
    mime: &'static str,
}

pub fn run(ctx: &mut Ctx<'_>) {
    if ctx.site.levels.is_empty() {
        return;
    }
    hidden_segments_removed(ctx);
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut budget = MAX_FILES;
    let mut reach = Reach::new(ctx);
    let mut stack: Vec<(String, usize)> = vec![(String::new(), 0)];
    while let Some((rel, depth)) = stack.pop() {
        let dir = crate::config::site::rel_to_path(&ctx.site.root, &rel);
        let Some(names) = crate::config::site::sorted_dir(&dir) else {
            continue;
        };
        for (name, is_dir) in names {
            if is_dir {
                if depth < MAX_DEPTH && name != "node_modules" && !name.starts_with('.') {
                    stack.push((join_rel(&rel, &name), depth + 1));
                }
                continue;
            }
            if budget == 0 {
                break;
            }
            budget -= 1;
            let Some(ext) = Path::new(&name)
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy().to_ascii_lowercase()))
            else {
                continue;
            };
            let Some((_, mime)) = WEB_ASSETS.iter().find(|(e, _)| *e == ext) else {
                continue;
            };
            let eff = ctx.effective(&rel);
            // `*` maps every extension without an entry of its own (as serve's `mime_type`).
            let mapped = eff.mime_maps.iter().any(|m| {
                let e = m.item.file_extension.value.trim();
                e.eq_ignore_ascii_case(&ext) || e == "*"
            });
            if mapped {
                continue;
            }
            let file = join_rel(&rel, &name);
            if !reach.served_as_itself(ctx, &file) {
                continue;
            }
            let f = found.entry(ext).or_insert_with(|| Found {
                example: file,
                count: 0,
                mime,
            });
            f.count += 1;
        }
    }
    let anchor = ctx.site.levels.first().and_then(|l| l.source).map(|s| {
        let eff_span = ctx
            .site
            .levels
            .first()
            .and_then(|l| l.config.as_ref())
            .and_then(|c| c.sections.static_content.as_ref())
            .and_then(|sc| sc.mime_maps.as_ref())
            .map(|m| m.span);
        eff_span.unwrap_or_else(|| ctx.file_anchor(s))
    });
    for (ext, f) in found {
        let files = if f.count == 1 {
            format!("`{}`", f.example)
        } else {
            format!("`{}` and {} more", f.example, f.count - 1)
        };
        let mut d = Diagnostic::new(
            &codes::MISSING_MIME_TYPE,
            format!("IIS has no MIME type for {ext}, so it answers 404.3 for {files}"),
        )
        .help(format!(
            "Add <remove fileExtension=\"{ext}\"/><mimeMap fileExtension=\"{ext}\" mimeType=\"{}\"/> under <system.webServer><staticContent>.",
            f.mime
        ));
        if let Some(a) = anchor {
            d = d.at(a);
        }
        ctx.push(d);
    }
}

/// Whether a GET of a file's own URL could reach IIS's static file handler as that file,
/// decided as `iisn serve` decides it, with each configuration folder's rules compiled once.
struct Reach {
    /// The folders a configuration belongs to (web.config folders and `<location>` paths),
    /// deepest first: a URL takes the configuration of the deepest one above it.
    keys: Vec<String>,
    folders: HashMap<String, FolderConfig>,
    head: RequestHead,
}

impl Reach {
    fn new(ctx: &Ctx<'_>) -> Reach {
        let mut keys = vec![String::new()];
        for level in &ctx.site.levels {
            keys.push(level.dir_rel.clone());
            if let Some(cfg) = &level.config {
                for loc in &cfg.locations {
                    keys.push(join_rel(&level.dir_rel, &loc.path.value));
                }
            }
        }
        keys.sort_by_key(|k| std::cmp::Reverse(k.split('/').filter(|s| !s.is_empty()).count()));
        keys.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::HOST,
            http::HeaderValue::from_static("localhost"),
        );
        Reach {
            keys,
            folders: HashMap::new(),
            head: RequestHead {
                method: http::Method::GET,
                target: String::new(),
                headers,
                remote: SocketAddr::from(([127, 0, 0, 1], 50000)),
                local_addr: SocketAddr::from(([127, 0, 0, 1], 80)),
                auth: None,
            },
        }
    }

    /// `file` is site-relative (`server/chunks/app.mjs`). The URLs tried are its own and
    /// the ones without its leading folders (`/chunks/app.mjs`, `/app.mjs`), which rules
    /// such as `public{REQUEST_URI}` or `dist/client/{R:1}` map onto it. Unsure answers
    /// are yes: the lint then reports as it did before it looked at rules.
    fn served_as_itself(&mut self, ctx: &Ctx<'_>, file: &str) -> bool {
        let target = format!("/{file}");
        let mut rest = file;
        loop {
            match self.route(ctx, &format!("/{rest}"), &target) {
                Some(true) | None => return true,
                Some(false) => {}
            }
            match rest.split_once('/') {
                Some((_, r)) => rest = r,
                None => break,
            }
        }
        false
    }

    /// Whether a GET of `url` ends at the static file handler for `target` (both site
    /// paths); `None` when that cannot be told (a redirect, rules that may backtrack).
    fn route(&mut self, ctx: &Ctx<'_>, url: &str, target: &str) -> Option<bool> {
        self.head.target.clone_from(&url.to_string());
        let folder = folder_of(&self.keys, &mut self.folders, ctx, url);
        if folder.filter.check_url(url).is_err() {
            return Some(false);
        }
        let mut final_path = url.to_string();
        if !folder.rules.is_empty() {
            if !folder.rules.inline() {
                return None;
            }
            let env = Env {
                head: &self.head,
                site_root: &ctx.site.root,
                app_path: "",
                probes: None,
            };
            let mut state = UrlState::new(final_path.clone(), None);
            match folder.rules.evaluate(&env, &mut state, None) {
                Outcome::Continue => {
                    if state.rewritten {
                        final_path = state.path;
                    }
                }
                Outcome::Redirect { .. } => return None,
                Outcome::Respond(_) | Outcome::Abort => return Some(false),
            }
        }
        if !final_path.eq_ignore_ascii_case(target) {
            return Some(false);
        }
        if final_path != url
            && folder_of(&self.keys, &mut self.folders, ctx, &final_path)
                .filter
                .check_url(&final_path)
                .is_err()
        {
            return Some(false);
        }
        Some(match map_url(ctx, target.trim_start_matches('/')) {
            Mapping::Iisnode { .. } => false,
            Mapping::Other { handler } => handler.has_module("StaticFileModule"),
            Mapping::None => true,
            Mapping::Misfit { .. } => false,
        })
    }
}

/// The configuration of the folder a site path is in (compiled once per folder): the
/// deepest of `keys` above it, as `iisn serve` picks it.
fn folder_of<'f>(
    keys: &[String],
    folders: &'f mut HashMap<String, FolderConfig>,
    ctx: &Ctx<'_>,
    site_path: &str,
) -> &'f FolderConfig {
    let rel = site_path.trim_start_matches('/');
    let key = keys
        .iter()
        .find(|k| k.is_empty() || crate::config::site::is_ancestor(k, rel))
        .cloned()
        .unwrap_or_default();
    folders
        .entry(key.to_ascii_lowercase())
        .or_insert_with(|| FolderConfig::build(key.clone(), (*ctx.effective(&key)).clone()))
}

/// The stock hidden segments that protect something on a node site (`bin` is left out: it
/// means nothing to node, and the Kudu template removes it for `bin/www`).
const PROTECTED_SEGMENTS: &[&str] = &[
    "web.config",
    "App_Data",
    "App_Code",
    "App_GlobalResources",
    "App_LocalResources",
    "App_WebReferences",
    "App_Browsers",
];

/// IISN6030: a `<clear/>` or `<remove>` in `<hiddenSegments>` after which IIS serves
/// web.config or an ASP.NET folder; an error when web.config itself goes out (its `.config`
/// extension allowed and mapped to a MIME type).
fn hidden_segments_removed(ctx: &mut Ctx<'_>) {
    use crate::config::web_config::CollectionOp;
    let mut found = Vec::new();
    for block in ctx.sections() {
        let Some(hidden) = block
            .sections
            .request_filtering
            .as_ref()
            .and_then(|r| r.hidden_segments.as_ref())
        else {
            continue;
        };
        let eff = ctx.effective(&block.dir_rel);
        let still = |seg: &str| {
            eff.hidden_segments
                .iter()
                .any(|h| h.item.segment.value.trim().eq_ignore_ascii_case(seg))
        };
        for op in &hidden.ops {
            let (span, named): (_, Vec<&str>) = match op {
                CollectionOp::Clear(span) => (*span, PROTECTED_SEGMENTS.to_vec()),
                CollectionOp::Remove(seg) => (
                    seg.span,
                    PROTECTED_SEGMENTS
                        .iter()
                        .copied()
                        .filter(|p| seg.value.trim().eq_ignore_ascii_case(p))
                        .collect(),
                ),
                CollectionOp::Add(_) => continue,
            };
            let exposed: Vec<&str> = named.into_iter().filter(|s| !still(s)).collect();
            if exposed.is_empty() {
                continue;
            }
            let config_denied = eff.file_extensions.iter().any(|e| {
                e.item
                    .file_extension
                    .value
                    .trim()
                    .eq_ignore_ascii_case(".config")
                    && !e.item.allowed
            }) || (!eff.file_extensions_allow_unlisted
                && !eff.file_extensions.iter().any(|e| {
                    e.item
                        .file_extension
                        .value
                        .trim()
                        .eq_ignore_ascii_case(".config")
                        && e.item.allowed
                }));
            let config_mapped = eff.mime_maps.iter().any(|m| {
                let ext = m.item.file_extension.value.trim();
                ext.eq_ignore_ascii_case(".config") || ext == "*"
            });
            let web_config_served =
                exposed.contains(&"web.config") && !config_denied && config_mapped;
            let list = exposed
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut d = Diagnostic::new(
                &codes::HIDDEN_SEGMENT_REMOVED,
                if web_config_served {
                    format!(
                        "request filtering no longer hides {list}, and `.config` files are allowed and have a MIME type: IIS sends web.config itself"
                    )
                } else {
                    format!(
                        "request filtering no longer hides {list}: IIS serves the files below them"
                    )
                },
            )
            .at(span)
            .help("Add the entries back (<add segment=\"App_Data\"/>, ...), or remove only the segment the site needs served.");
            if web_config_served {
                d.severity = crate::diag::Severity::Error;
            } else if exposed.contains(&"web.config") {
                d = d.note(
                    "web.config itself stays refused by its `.config` extension (fileExtensions)",
                );
            }
            found.push(d);
        }
    }
    for d in found {
        ctx.push(d);
    }
}

#[cfg(test)]
mod tests {
    /// The IISN6022 messages for a site of `web_config` and `files` (site-relative).
    fn missing_mime(web_config: &str, files: &[&str]) -> Vec<String> {
        crate::check::lints::check_temp_site(web_config, files, "export default 1;\n")
            .into_iter()
            .filter(|d| d.lint.code == "IISN6022")
            .map(|d| d.message)
            .collect()
    }

    /// nitro's iis-node preset (Nuxt): every URL is tried in `public/` and otherwise goes to
    /// `index.js`.
    const NITRO: &str = r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="index.js" verb="*" modules="iisnode"/></handlers>
  <rewrite><rules>
    <rule name="NodeInspector" patternSyntax="ECMAScript" stopProcessing="true"><match url="^index.js/debug[/]?"/></rule>
    <rule name="StaticContent"><action type="Rewrite" url="public{PATH_INFO}"/></rule>
    <rule name="DynamicContent"><conditions><add input="{REQUEST_FILENAME}" matchType="IsFile" negate="True"/></conditions><action type="Rewrite" url="index.js"/></rule>
  </rules></rewrite>
</system.webServer></configuration>"#;

    /// Regression: the `.mjs` server chunks of a nitro (or Angular SSR) build, which its
    /// rules send to node whatever their URL, were reported as files IIS answers 404.3
    /// for, with advice to add a MIME type that would serve them if the rules ever did.
    #[test]
    fn files_the_rules_never_serve_are_not_reported() {
        let found = missing_mime(
            NITRO,
            &[
                "index.js",
                "server/index.mjs",
                "server/chunks/nitro/node-server.mjs",
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    /// What the same rules do serve still counts: `/_nuxt/entry.mjs` is rewritten onto
    /// `public/_nuxt/entry.mjs`, and a site without rules serves every file by its own URL.
    #[test]
    fn files_reached_through_a_rewrite_or_by_their_own_url_are_reported() {
        let found = missing_mime(
            NITRO,
            &["index.js", "server/index.mjs", "public/_nuxt/entry.mjs"],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`public/_nuxt/entry.mjs`"), "{found:?}");

        let plain = r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>
</system.webServer></configuration>"#;
        let found = missing_mime(plain, &["server.js", "lib/app.mjs"]);
        assert_eq!(found.len(), 1, "{found:?}");

        // A hidden segment keeps the file from ever being served.
        let hidden = r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>
  <security><requestFiltering><hiddenSegments><add segment="lib"/></hiddenSegments></requestFiltering></security>
</system.webServer></configuration>"#;
        let found = missing_mime(hidden, &["server.js", "lib/app.mjs"]);
        assert!(found.is_empty(), "{found:?}");
    }
}
