//! Static files IIS would refuse to serve (IISN6022; iis-webconfig.md §3.3).
//!
//! IIS serves a static file only when `<staticContent>` maps its extension to a MIME type;
//! otherwise the answer is 404.3. The stock map lacks several extensions modern front ends
//! produce (`.mjs`, `.webp`, `.avif`, `.wasm`, `.webmanifest`). This lint walks the site's
//! files (not `node_modules` or hidden folders, and at most `MAX_FILES` of them) and reports
//! each web-asset extension that the effective MIME map of the file's folder lacks, once per
//! extension. Extensions that are not web assets (`.md`, `.ts`) are not reported: nobody
//! expects IIS to serve them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::{Diagnostic, codes};

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
            let f = found.entry(ext).or_insert_with(|| Found {
                example: join_rel(&rel, &name),
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
