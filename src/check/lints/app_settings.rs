//! `<appSettings>`, which iisnode copies into node's environment (IISN5030–IISN5033;
//! iisnode-config.md §4.1–§4.2, rules L-73..L-75, and peers.md pain 11 for `file=`).
//!
//! iisnode appends the entries to the environment after `PORT`, `IISNODE_VERSION`,
//! `NODE_PENDING_PIPE_INSTANCES` and `IISNODE_CONTROL_PIPE`, and before `NODE_ENV` and the
//! logging variables, in one 64 KB buffer. Keys are checked where they are written (each
//! `<add>` once); the collisions and the size are checked on each application's effective
//! list, since a child web.config inherits its parent's entries.

use std::collections::HashSet;

use crate::config::web_config::CollectionOp;
use crate::diag::{Diagnostic, codes};

use super::Ctx;

/// iisnode's buffer for the variables it adds (A: 65536 bytes; `CreateNodeEnvironment`).
const ENV_BLOCK_LIMIT: usize = 65_536;

/// Variables iisnode sets before the appSettings entries.
const SET_BY_IISNODE: &[&str] = &["PORT", "DEBUGPORT", "NODE_PENDING_PIPE_INSTANCES"];

pub fn run(ctx: &mut Ctx<'_>) {
    let blocks = ctx.sections();
    for block in &blocks {
        let Some(app) = &block.sections.app_settings else {
            continue;
        };
        if let Some(file) = &app.file {
            ctx.push(
                Diagnostic::new(
                    &codes::APP_SETTINGS_FILE,
                    format!(
                        "iisnode does not read `{}`: its keys never reach process.env",
                        file.value
                    ),
                )
                .at(file.span)
                .help("Move the keys into this <appSettings> as <add key=\"...\" value=\"...\"/>, or have the application read the file itself."),
            );
        }
        for op in &app.entries.ops {
            let CollectionOp::Add(e) = op else { continue };
            let key = &e.key.value;
            let problem = if key.is_empty() {
                Some("an appSettings entry with an empty key is skipped by iisnode".to_string())
            } else if key.contains('=') || key.contains('\0') {
                Some(format!(
                    "the appSettings key `{key}` contains `=`, so it cannot be an environment variable name"
                ))
            } else if SET_BY_IISNODE.iter().any(|n| n.eq_ignore_ascii_case(key))
                || key.to_ascii_uppercase().starts_with("IISNODE_")
            {
                Some(format!(
                    "the appSettings key `{key}` collides with a variable iisnode sets for node"
                ))
            } else {
                None
            };
            if let Some(msg) = problem {
                // iisnode writes its own variables into node's environment block before the
                // appSettings entries, and the first of two equal names wins.
                let help = if key.eq_ignore_ascii_case("NODE_PENDING_PIPE_INSTANCES") {
                    "This entry has no effect: iisnode sets NODE_PENDING_PIPE_INSTANCES=5000 itself (unless IIS's own environment has it), before appSettings. It only sizes node's named pipe backlog on Windows; remove the entry, or set the variable in the environment of the IIS worker process."
                } else {
                    "Rename the key; iisnode's own variables (PORT, IISNODE_*) cannot be set from appSettings."
                };
                ctx.push(
                    Diagnostic::new(&codes::APP_SETTING_KEY, msg)
                        .at(if key.is_empty() { e.span } else { e.key.span })
                        .help(help),
                );
            }
        }
    }
    for app in &ctx.site.apps {
        let eff = ctx.effective(&app.dir_rel);
        let entries: Vec<_> = eff
            .app_settings
            .iter()
            .filter(|e| !e.item.key.value.is_empty())
            .collect();
        // NODE_ENV from appSettings clashes only when node_env sets it too.
        if let Some(env) = app.settings.node_env()
            && let Some(e) = entries
                .iter()
                .find(|e| e.item.key.value.eq_ignore_ascii_case("NODE_ENV"))
            && e.item.value.value != env
        {
            ctx.push(
                Diagnostic::new(
                    &codes::APP_SETTING_KEY,
                    format!(
                        "the appSettings key `{}` collides with node_env, which also sets NODE_ENV (to `{env}`)",
                        e.item.key.value
                    ),
                )
                .at(e.item.key.span)
                .help("Set NODE_ENV in one place: remove this entry or the node_env attribute."),
            );
        }
        let mut seen: Vec<(String, crate::config::source::Span)> = Vec::new();
        let mut reported = HashSet::new();
        for e in &entries {
            let lower = e.item.key.value.to_ascii_lowercase();
            if let Some((first, first_span)) = seen
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase() == lower && *k != e.item.key.value)
                && reported.insert(e.item.key.span)
            {
                ctx.push(
                    Diagnostic::new(
                        &codes::APP_SETTING_CASE,
                        format!(
                            "the appSettings keys `{first}` and `{}` differ only in case: on Windows node sees one of them",
                            e.item.key.value
                        ),
                    )
                    .at(e.item.key.span)
                    .label(*first_span, "the other spelling")
                    .help("Use one spelling for the key."),
                );
            }
            seen.push((e.item.key.value.clone(), e.item.key.span));
        }
        // key=value\0 per entry, in UTF-16 on Windows (2 bytes per unit).
        let size: usize = entries
            .iter()
            .map(|e| {
                2 * (e.item.key.value.encode_utf16().count()
                    + e.item.value.value.encode_utf16().count()
                    + 2)
            })
            .sum();
        if size > ENV_BLOCK_LIMIT
            && let Some(last) = entries.last()
        {
            ctx.push(
                Diagnostic::new(
                    &codes::APP_SETTINGS_SIZE,
                    format!(
                        "the appSettings of {} take {} KB of iisnode's 64 KB environment block: node cannot be started",
                        app.script_rel,
                        size.div_ceil(1024)
                    ),
                )
                .at(last.item.key.span)
                .help("Move large values into files the application reads."),
            );
        }
    }
}
