//! IISN7009: a handler path without a slash maps same-named files in sub-folders.
//!
//! IIS matches a handler `path` that has no slash against the last segment of every URL at
//! or below the web.config that declares it, so `<add path="app.js" .../>` at the site root
//! also makes `public/js/app.js` a node application: a browser requesting its own script
//! runs it on the server (iisnode issue 189, reproduced by `iisn serve`). This lint looks
//! for such files on disk; `iisn serve` prints a hint when such an application crashes at
//! start. It only lists folders (no file is read) and stops after a bounded walk.

use std::path::Path;

use crate::config::web_config::CollectionOp;
use crate::diag::{Diagnostic, codes};

use super::Ctx;
use super::handlers::Mapping;

/// Most files looked at per handler.
const MAX_WALK: usize = 20_000;
/// Most same-named files named in the note.
const MAX_SHOWN: usize = 3;

pub fn run(ctx: &mut Ctx<'_>) {
    let site = ctx.site;
    for level in &site.levels {
        let Some(handlers) = level
            .config
            .as_ref()
            .and_then(|c| c.sections.handlers.as_ref())
        else {
            continue;
        };
        for op in &handlers.ops {
            let CollectionOp::Add(h) = op else { continue };
            let path = h.path.value.trim();
            if !h.is_iisnode() || path.is_empty() || path.contains(['/', '\\', '*', '?']) {
                continue;
            }
            let others: Vec<String> = same_named(&level.dir, path)
                .into_iter()
                .map(|r| {
                    if level.dir_rel.is_empty() {
                        r
                    } else {
                        format!("{}/{r}", level.dir_rel)
                    }
                })
                .filter(|r| !rewritten_away(ctx, &level.dir_rel, r))
                // A folder whose web.config removes the mapping does not run it (IISN6027
                // says what IIS does with it instead).
                .filter(|r| matches!(super::handlers::map_url(ctx, r), Mapping::Iisnode { .. }))
                .collect();
            if others.is_empty() {
                continue;
            }
            let shown: Vec<String> = others
                .iter()
                .take(MAX_SHOWN)
                .map(|r| format!("`{r}`"))
                .collect();
            let more = others.len().saturating_sub(MAX_SHOWN);
            ctx.push(
                Diagnostic::new(
                    &codes::SAME_NAME_SCRIPT,
                    format!(
                        "path=\"{path}\" has no slash, so IIS also runs {} with node when a browser requests it",
                        shown.join(", ")
                    ),
                )
                .at(h.path.span)
                .note(format!(
                    "IIS matches a handler path without a slash against the file name of every URL below this web.config (iisnode issue 189){}",
                    if more > 0 {
                        format!("; {more} more file(s) are named {path}")
                    } else {
                        String::new()
                    }
                ))
                .help(format!(
                    "Rename the entry script (or the other files), or add <remove name=\"{}\"/> under <handlers> in a web.config in each of those folders.",
                    h.name.value
                )),
            );
        }
    }
}

/// Whether URL Rewrite sends the URL `url` (site-relative, no leading slash) elsewhere
/// before handler mapping: an unconditional catch-all Rewrite rule reached before any rule
/// that matches `url` and stops processing (as Azure's `StaticContent` rule sends every URL
/// to `public/`). Then no request runs the file, and the lint stays silent rather than guess.
fn rewritten_away(ctx: &Ctx<'_>, dir_rel: &str, url: &str) -> bool {
    use crate::config::web_config::ActionType;
    for r in ctx.effective(dir_rel).rules.iter() {
        let rule = &r.item;
        if !rule.enabled {
            continue;
        }
        let rewrite = rule
            .action
            .as_ref()
            .is_some_and(|a| a.kind == ActionType::Rewrite);
        if rewrite && rule.conditions.items.is_empty() && super::rewrite::is_catch_all(rule) {
            return true;
        }
        if rule.stop_processing {
            let matches = match rule.match_.as_ref().and_then(|m| m.url.as_ref()) {
                None => true,
                Some(u) => crate::rewrite::pattern::compile(
                    rule.pattern_syntax,
                    &u.value,
                    rule.match_.as_ref().is_none_or(|m| m.ignore_case),
                )
                .map_or(true, |p| p.is_match(url)),
            };
            let negate = rule.match_.as_ref().is_some_and(|m| m.negate);
            if matches != negate {
                return false;
            }
        }
    }
    false
}

/// Files named `name` (ignoring ASCII case) in the sub-folders of `dir`, as site-relative
/// paths of `dir`, skipping dependencies and hidden folders.
fn same_named(dir: &Path, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut walked = 0usize;
    let mut stack = vec![(String::new(), dir.to_path_buf(), 0usize)];
    while let Some((rel, d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            walked += 1;
            if walked > MAX_WALK {
                out.sort();
                return out;
            }
            let n = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            let r = if rel.is_empty() {
                n.clone()
            } else {
                format!("{rel}/{n}")
            };
            if ft.is_dir() {
                if depth < 16 && n != "node_modules" && !n.starts_with('.') {
                    stack.push((r, e.path(), depth + 1));
                }
            } else if depth > 0 && n.eq_ignore_ascii_case(name) {
                out.push(r);
            }
        }
    }
    out.sort();
    out
}
