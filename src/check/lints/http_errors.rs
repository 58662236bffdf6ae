//! Custom error pages (IISN6026; iis-webconfig.md §3.4).
//!
//! An `<error responseMode="ExecuteURL">` (or `defaultPath` with `defaultResponseMode=
//! "ExecuteURL"`) is a child request on IIS: its URL goes through handler mapping, and
//! when that is an iisnode handler, node writes the error page. `iisn serve` does not run
//! node for error pages (it answers IIS's stock page, never the script's source), so the
//! site behaves differently here: said once per entry, at its `path`.

use crate::config::web_config::{CollectionOp, ResponseMode};
use crate::diag::{Diagnostic, codes};

use super::handlers::{Mapping, map_url};
use super::{Ctx, resolve_url_path};

pub fn run(ctx: &mut Ctx<'_>) {
    for block in ctx.sections() {
        let Some(he) = &block.sections.http_errors else {
            continue;
        };
        // The default mode as it stands at this level (set here or inherited).
        let default_mode = ctx
            .effective(&block.dir_rel)
            .http_errors
            .default_response_mode;
        let mut pages: Vec<(&crate::config::source::Spanned<String>, String)> = Vec::new();
        for op in &he.errors.ops {
            if let CollectionOp::Add(page) = op
                && page.response_mode.unwrap_or(default_mode) == ResponseMode::ExecuteUrl
                && let Some(path) = &page.path
            {
                pages.push((
                    path,
                    format!("the custom error page for {}", page.key.value),
                ));
            }
        }
        if let Some(path) = &he.default_path
            && default_mode == ResponseMode::ExecuteUrl
        {
            pages.push((
                path,
                "the default custom error page (defaultPath)".to_string(),
            ));
        }
        for (path, what) in pages {
            let url = path.value.trim();
            let url = url.split('?').next().unwrap_or(url);
            // A URL iisn cannot place (empty, a Windows path, climbing above the root) is
            // not judged.
            if url.is_empty() || url.contains(':') || url.starts_with('%') {
                continue;
            }
            let Some(resolved) = resolve_url_path("", url) else {
                continue;
            };
            let Mapping::Iisnode { script, .. } = map_url(ctx, &resolved) else {
                continue;
            };
            ctx.push(
                Diagnostic::new(
                    &codes::EXECUTE_URL_NODE,
                    format!(
                        "{what} runs the iisnode application `{script}` (responseMode=\"ExecuteURL\"), which `iisn serve` does not do: it answers IIS's stock error page there"
                    ),
                )
                .at(path.span)
                .help("Point the entry at a static page (an .html file), or let node answer the error itself (a rewrite rule that sends such URLs to the application), so that iisn and IIS send the same page."),
            );
        }
    }
}
