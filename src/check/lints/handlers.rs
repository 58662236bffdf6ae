//! Handler mappings and default documents (IISN6001–IISN6004, IISN6021, IISN7001;
//! iisnode-config.md §5 and §6.5 rules L-80..L-83, L-85; iis-webconfig.md §2).
//!
//! This file also holds [`map_url`], the static version of IIS's handler selection that the
//! rewrite lints use to decide whether a rewrite target reaches iisnode: the ordered handler
//! list of the target's folder (the site's entries first, StaticFile last), `path` matched
//! against the file name (or, when it has a `/`, against the path relative to the handler's
//! web.config), and path-info (`server.js/debug` runs `server.js`).

use crate::config::model::Entry;
use crate::config::site::rel_to_path;
use crate::config::web_config::{CollectionOp, HandlerEntry, ResourceType};
use crate::diag::{Diagnostic, codes};

use super::Ctx;

/// What serves a URL.
#[derive(Clone, Debug)]
pub enum Mapping {
    /// An iisnode handler, for the script at this site-relative path (the rest of the URL
    /// is path info).
    Iisnode {
        script: String,
        handler: HandlerEntry,
    },
    /// Another handler (usually StaticFile).
    Other { handler: HandlerEntry },
    /// The mapping that fits the URL's path wants a resource the URL does not name
    /// (`resourceType`): IIS Web Core's 404.0 (MH26), as `iisn serve` answers.
    Misfit { handler: HandlerEntry },
    /// No handler at all (the site cleared the list).
    None,
}

/// `*`-only glob, ASCII case-insensitive, whole string (IIS handler paths).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let n: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn verb_allows_get(h: &HandlerEntry) -> bool {
    h.verb
        .value
        .split(',')
        .any(|v| v.trim() == "*" || v.trim() == "GET")
}

/// Whether handler `h` (added at URL folder `level`) matches the site-relative path
/// `prefix`, whose last segment is `name`.
pub fn path_matches(h: &Entry<HandlerEntry>, prefix: &str, name: &str) -> bool {
    let path = h.item.path.value.trim();
    if path.contains(['/', '\\']) {
        // As serve's handler mapping matches it: any tail of the URL at a segment boundary
        // below the mapping's folder (`dist/server.js` maps `old/dist/server.js`, MH28).
        let segs: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
        return crate::config::site::slash_path_matches(
            path,
            &segs,
            crate::config::site::level_depth(&h.level),
        );
    }
    if path == "*." {
        return !name.contains('.');
    }
    glob_match(path, name)
}

/// IIS's handler selection for a GET of the site-relative URL path `url`.
pub fn map_url(ctx: &Ctx<'_>, url: &str) -> Mapping {
    let segments: Vec<&str> = url.split('/').filter(|s| !s.is_empty()).collect();
    let root = &ctx.site.root;
    for i in 1..=segments.len() {
        let prefix = segments[..i].join("/");
        let name = segments[i - 1];
        // The URL's configuration up to this segment (a `<location>` naming the file counts).
        let eff = ctx.effective(&prefix);
        let fits = |h: &HandlerEntry| match h.resource_type {
            ResourceType::Unspecified => true,
            ResourceType::File => rel_to_path(root, &prefix).is_file(),
            ResourceType::Directory => rel_to_path(root, &prefix).is_dir(),
            ResourceType::Either => rel_to_path(root, &prefix).exists(),
        };
        // As serve's router: at the last segment the first mapping that fits the path is
        // IIS's choice and a resource misfit is 404.0; at an inner segment a mapping
        // applies only where its resource is there.
        let last = i == segments.len();
        let first = eff.handlers.iter().find(|h| {
            verb_allows_get(&h.item)
                && !h.item.precondition_never_holds()
                && path_matches(h, &prefix, name)
                && (last || fits(&h.item))
        });
        if let Some(h) = first
            && last
            && h.item.path.value.trim() != "*"
            && !fits(&h.item)
        {
            return Mapping::Misfit {
                handler: h.item.clone(),
            };
        }
        match first {
            Some(h) if h.item.is_iisnode() => {
                return Mapping::Iisnode {
                    script: prefix,
                    handler: h.item.clone(),
                };
            }
            Some(h) if i == segments.len() => {
                return Mapping::Other {
                    handler: h.item.clone(),
                };
            }
            None if i == segments.len() => return Mapping::None,
            _ => {}
        }
    }
    // The site root itself: the first handler for a directory.
    let eff = ctx.effective("");
    eff.handlers
        .iter()
        .find(|h| verb_allows_get(&h.item) && h.item.path.value.trim() == "*")
        .map_or(Mapping::None, |h| Mapping::Other {
            handler: h.item.clone(),
        })
}

/// What in the site suggests node, if anything: a package.json or iisnode.yml in a
/// configured folder, or a rewrite rule or default document that names a `.js` file.
fn node_hint(ctx: &Ctx<'_>) -> Option<String> {
    let site = ctx.site;
    let mut dirs: Vec<&std::path::Path> = vec![site.root.as_path()];
    dirs.extend(site.levels.iter().map(|l| l.dir.as_path()));
    for dir in dirs {
        for name in ["package.json", "iisnode.yml"] {
            if dir.join(name).is_file() {
                let shown = dir
                    .strip_prefix(&site.root)
                    .ok()
                    .filter(|r| !r.as_os_str().is_empty())
                    .map_or(name.to_string(), |r| format!("{}/{name}", r.display()));
                return Some(format!("{shown} exists"));
            }
        }
    }
    let names_js = |url: &str| {
        let path = url.split(['?', '#']).next().unwrap_or("").trim();
        path.len() > 3 && path.to_ascii_lowercase().ends_with(".js")
    };
    for at in ctx.sections() {
        let rules = at
            .sections
            .rewrite
            .as_ref()
            .and_then(|r| r.rules.as_ref())
            .into_iter()
            .flat_map(|c| c.added());
        for rule in rules {
            if let Some(url) = rule.action.as_ref().and_then(|a| a.url.as_ref())
                && names_js(&url.value)
            {
                return Some(format!(
                    "rule \"{}\" rewrites to {}",
                    rule.name.value, url.value
                ));
            }
        }
        let docs = at
            .sections
            .default_document
            .as_ref()
            .and_then(|d| d.files.as_ref())
            .into_iter()
            .flat_map(|c| c.added());
        for doc in docs {
            if names_js(&doc.value.value) {
                return Some(format!(
                    "the default document {} is a script",
                    doc.value.value
                ));
            }
        }
    }
    None
}

/// What `iisn serve` answers for a handler module it does not emulate, in words.
fn module_gap(h: &HandlerEntry) -> Option<&'static str> {
    if h.is_iisnode() {
        return None;
    }
    let has = |m: &str| h.has_module(m);
    if has("StaticFileModule")
        || has("DefaultDocumentModule")
        || has("DirectoryListingModule")
        || has("ProtocolSupportModule")
    {
        return None;
    }
    Some(if has("FastCgiModule") {
        "FastCGI (PHP, Python...)"
    } else if has("AspNetCoreModule") || has("AspNetCoreModuleV2") {
        "the ASP.NET Core Module"
    } else if has("httpPlatformHandler") {
        "HttpPlatformHandler"
    } else if has("CgiModule") {
        "CGI"
    } else if has("IsapiModule") {
        "ISAPI"
    } else if has("WebDAVModule") {
        "WebDAV"
    } else if has("ManagedPipelineHandler") || h.type_.is_some() {
        "ASP.NET"
    } else {
        "this module"
    })
}

/// IISN6024: handlers of the site's own web.config files that `iisn serve` answers with
/// "not emulated by iisn" (500.21), so nobody is surprised by it.
fn not_emulated_handlers(ctx: &mut Ctx<'_>) {
    let mut found = Vec::new();
    for at in ctx.sections() {
        let Some(handlers) = &at.sections.handlers else {
            continue;
        };
        let policy = ctx.effective(&at.dir_rel).access_policy;
        for h in handlers.added() {
            // A mapping that needs access the folder's accessPolicy (stock: Read, Script)
            // does not grant never runs, in IIS or in iisn.
            let runs = crate::config::web_config::access::allows(
                policy,
                h.require_access.as_ref().map(|a| a.value.as_str()),
            );
            if !runs {
                continue;
            }
            if let Some(what) = module_gap(h) {
                found.push(
                    Diagnostic::new(
                        &codes::HANDLER_NOT_EMULATED,
                        format!(
                            "handler `{}` runs {what}, which iisn does not emulate: `iisn serve` answers 500.21 \"not emulated by iisn\" for the URLs it maps (path=\"{}\")",
                            h.name.value, h.path.value
                        ),
                    )
                    .at(h.name.span)
                    .help("Run this part of the site on IIS itself, or map the URLs to iisnode or static files for local work."),
                );
            }
        }
    }
    for d in found {
        ctx.push(d);
    }
}

/// IISN6025: iisnode mappings a folder's accessPolicy disables: IIS skips them and the
/// StaticFile handler sends the script. Reported where the policy is set (a child folder's
/// web.config or `<location>` may take `Script` away from mappings its parent added), or at
/// a mapping added under a policy inherited from above.
fn access_denied(ctx: &mut Ctx<'_>) -> bool {
    use crate::config::web_config::access;
    let mut found = Vec::new();
    for at in ctx.sections() {
        let eff = ctx.effective(&at.dir_rel);
        let denied: Vec<&HandlerEntry> = eff
            .handlers
            .iter()
            .map(|e| &e.item)
            .filter(|h| {
                h.is_iisnode()
                    && !access::allows(
                        eff.access_policy,
                        h.require_access.as_ref().map(|a| a.value.as_str()),
                    )
            })
            .collect();
        if denied.is_empty() {
            continue;
        }
        // What each denied mapping asks for: `Script` unless its requireAccess says more
        // (verdaccio's IIS guide maps iisnode with requireAccess="Execute", which the stock
        // "Read, Script" policy does not grant).
        let mut needs: Vec<String> = Vec::new();
        for h in &denied {
            let need = h
                .require_access
                .as_ref()
                .map_or("Script", |a| a.value.trim())
                .to_string();
            if !needs.iter().any(|n| n.eq_ignore_ascii_case(&need)) {
                needs.push(need);
            }
        }
        let beyond_script = needs.iter().any(|n| !n.eq_ignore_ascii_case("Script"));
        let needs = needs.join(" or ");
        let message = |names: &str, paths: &str| {
            format!(
                "accessPolicy does not grant {needs}, which the iisnode handler {names} needs: IIS skips it and serves {paths} as a static file, its source code"
            )
        };
        let help = if beyond_script {
            format!(
                "iisnode needs only Script access: set requireAccess=\"Script\" on the mapping (or remove the attribute), or add {needs} to <handlers accessPolicy=\"...\"> (the default is \"Read, Script\")."
            )
        } else {
            "Add Script to <handlers accessPolicy=\"...\"> (the default is \"Read, Script\"), or remove the accessPolicy attribute.".to_string()
        };
        if let Some(p) = &at.sections.handlers_access_policy {
            let names: Vec<String> = denied
                .iter()
                .map(|h| format!("`{}`", h.name.value))
                .collect();
            let paths: Vec<String> = denied
                .iter()
                .map(|h| format!("`{}`", h.path.value))
                .collect();
            found.push(
                Diagnostic::new(
                    &codes::HANDLER_ACCESS_DENIED,
                    message(&names.join(", "), &paths.join(", ")),
                )
                .at(p.span)
                .help(help.clone()),
            );
        } else if let Some(handlers) = &at.sections.handlers {
            for h in handlers
                .added()
                .filter(|h| denied.iter().any(|d| d.name.value == h.name.value))
            {
                found.push(
                    Diagnostic::new(
                        &codes::HANDLER_ACCESS_DENIED,
                        message(
                            &format!("`{}`", h.name.value),
                            &format!("`{}`", h.path.value),
                        ),
                    )
                    .at(h.name.span)
                    .help(help.clone()),
                );
            }
        }
    }
    let any = !found.is_empty();
    for d in found {
        ctx.push(d);
    }
    any
}

pub fn run(ctx: &mut Ctx<'_>) {
    // Mappings accessPolicy disables are reported there, not as "no handler".
    let disabled = access_denied(ctx);
    let site = ctx.site;
    // A web.config that could not be read (or has the wrong root) hides its handlers: the
    // loader's error says enough.
    let unreadable = site.levels.iter().any(|l| l.config.is_none())
        || site
            .diagnostics
            .iter()
            .any(|d| d.lint == &codes::ROOT_ELEMENT);
    if site.apps.is_empty() && site.wildcard_handlers.is_empty() && !unreadable && !disabled {
        let mut d = Diagnostic::new(
            &codes::NO_IISNODE_HANDLER,
            "no handler maps a script to iisnode, so node never runs",
        )
        .help("Add <add name=\"iisnode\" path=\"server.js\" verb=\"*\" modules=\"iisnode\"/> under <system.webServer><handlers>, with path naming the entry script.");
        match site.levels.first().and_then(|l| l.source) {
            Some(src) => d = d.at(ctx.file_anchor(src)),
            None => d = d.note(format!("there is no web.config in {}", site.root.display())),
        }
        // A valid IIS site without iisnode (a SPA fallback, a static site, PHP, ASP.NET Core,
        // a reverse proxy) is normal, even in a node repository: only a hint of node makes
        // the missing handler worth a warning, and it never fails CI.
        match node_hint(ctx) {
            Some(why) => d = d.note(format!("{why}, so this looks like a node site")),
            None => {
                d.severity = crate::diag::Severity::Info;
                d = d.note("nothing here suggests node (no package.json, no iisnode.yml, no rewrite rule or default document naming a .js file): read as a site IIS serves without iisnode");
            }
        }
        ctx.push(d);
    }
    not_emulated_handlers(ctx);
    for app in &site.apps {
        if !app.script_exists {
            ctx.push(
                Diagnostic::new(
                    &codes::SCRIPT_MISSING,
                    format!(
                        "the handler maps `{}`, which does not exist: iisnode answers 404",
                        app.script_rel
                    ),
                )
                .at(app.handler.path.span)
                .help("Fix the path (it is relative to this web.config's folder), or build the script before deploying."),
            );
        }
    }
    for w in &site.wildcard_handlers {
        ctx.push(
            Diagnostic::new(
                &codes::WILDCARD_HANDLER,
                format!(
                    "path=\"{}\" makes every matching file its own node application, including client-side scripts",
                    w.item.path.value
                ),
            )
            .at(w.item.path.span)
            .help("Map the entry script by name (path=\"server.js\") and send other URLs to it with a rewrite rule."),
        );
    }
    for block in ctx.sections() {
        let Some(handlers) = &block.sections.handlers else {
            continue;
        };
        for op in &handlers.ops {
            let CollectionOp::Add(h) = op else { continue };
            if !h.is_iisnode() {
                continue;
            }
            let verb = h.verb.value.trim();
            if verb != "*" {
                ctx.push(
                    Diagnostic::new(
                        &codes::HANDLER_VERB,
                        format!(
                            "only {verb} requests reach the iisnode handler `{}`",
                            h.name.value
                        ),
                    )
                    .at(h.verb.span)
                    .help("Use verb=\"*\" and let the application answer other methods."),
                );
            }
            if h.path.value.contains('\\') {
                let fixed = h.path.value.replace('\\', "/");
                ctx.push(
                    Diagnostic::new(
                        &codes::HANDLER_PATH_BACKSLASH,
                        format!(
                            "the handler path `{}` uses `\\`, which URLs never contain",
                            h.path.value
                        ),
                    )
                    .at(h.path.span)
                    .help(format!("Write path=\"{fixed}\".")),
                );
            }
        }
    }
    default_documents(ctx);
    scripts_served_as_files(ctx);
}

/// IISN6027: concrete scripts that a GET of their own URL sends through StaticFile.
fn scripts_served_as_files(ctx: &mut Ctx<'_>) {
    let mut found = Vec::new();
    // (A path with a backslash is IISN6004's.)
    for app in ctx
        .site
        .apps
        .iter()
        .filter(|a| a.script_exists && !a.from_wildcard && !a.handler.path.value.contains('\\'))
    {
        let h = &app.handler;
        let handler = match map_url(ctx, &app.script_rel) {
            Mapping::Other { handler } => handler,
            Mapping::Misfit { handler } => {
                // IIS answers 404.0 (MH26): the application never runs, and nothing is sent.
                let what = match handler.resource_type {
                    ResourceType::Directory => "resourceType=\"Directory\" does not fit a file",
                    _ => "its resourceType does not fit the script",
                };
                found.push(
                    Diagnostic::new(
                        &codes::SCRIPT_SERVED_AS_FILE,
                        format!(
                            "a GET of /{} does not reach the iisnode handler `{}`: the mapping `{}` takes the URL but {what}, so IIS answers 404.0 and the application never runs",
                            app.script_rel, h.name.value, handler.name.value
                        ),
                    )
                    .at(handler.path.span)
                    .help("Drop resourceType (or make it fit the script), or remove the mapping that comes first for this URL."),
                );
                continue;
            }
            _ => continue,
        };
        if !handler.has_module("StaticFileModule") {
            continue;
        }
        let why = if !verb_allows_get(h) {
            format!("its verb=\"{}\" leaves GET out", h.verb.value.trim())
        } else {
            format!(
                "the handler list of its URL maps it to `{}` first",
                handler.name.value
            )
        };
        found.push(
            Diagnostic::new(
                &codes::SCRIPT_SERVED_AS_FILE,
                format!(
                    "a GET of /{} does not reach the iisnode handler `{}` ({why}): IIS sends the script's source code as a static file",
                    app.script_rel, h.name.value
                ),
            )
            .at(h.path.span)
            .help("Use verb=\"*\", or remove the mapping that comes first for this URL."),
        );
    }
    found.extend(scripts_unmapped_below(ctx));
    for d in found {
        ctx.push(d);
    }
}

/// IISN6027 for a `<remove>` or `<clear/>` in a sub-folder's web.config (or a `<location>`)
/// that takes an inherited iisnode mapping of a script name (`path="server.js"`, which maps
/// that name in every folder below, iisnode issue 189) away from a folder holding such a
/// file: a GET of it falls through to the StaticFile handler, its source. Reported at the
/// `<remove>` or `<clear/>`. Wildcard paths are left out (`<remove>` of a `*.js` mapping in
/// `public/` is how a site serves its client scripts), and so are files that do not look
/// like a server (a browser script named like the entry script, which IISN7009 advises
/// taking away from node this way) and scripts the site runs as applications (the lint
/// above has them).
fn scripts_unmapped_below(ctx: &Ctx<'_>) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // Folders IIS answers 500.19 for (a web.config it refuses, such as one that sets a
    // section a parent locks, IISN1013): nothing below them is sent, source or otherwise.
    let refused: Vec<String> = ctx
        .site
        .load_failures()
        .into_iter()
        .map(|f| f.dir_rel)
        .collect();
    for block in ctx.sections() {
        let Some(handlers) = &block.sections.handlers else {
            continue;
        };
        if block.dir_rel.is_empty()
            || refused
                .iter()
                .any(|dir| crate::config::site::is_ancestor(dir, &block.dir_rel))
        {
            continue;
        }
        let parent = block.dir_rel.rsplit_once('/').map_or("", |(p, _)| p);
        let inherited = ctx.effective(parent);
        for h in inherited.handlers.iter().filter(|h| h.item.is_iisnode()) {
            let name = h.item.path.value.trim();
            if name.is_empty() || name.contains(['*', '?', '/', '\\']) {
                continue;
            }
            let Some(span) = handlers.ops.iter().find_map(|op| match op {
                CollectionOp::Remove(n) if n.value.trim() == h.item.name.value.trim() => {
                    Some(n.span)
                }
                CollectionOp::Clear(span) => Some(*span),
                _ => None,
            }) else {
                continue;
            };
            // The file named in this folder, or the `<location>` naming the file itself.
            let last = block.dir_rel.rsplit('/').next().unwrap_or("");
            let url = if last.eq_ignore_ascii_case(name) {
                block.dir_rel.clone()
            } else {
                format!("{}/{name}", block.dir_rel)
            };
            let on_disk = crate::config::site::on_disk_spelling(&ctx.site.root, &url);
            if !rel_to_path(&ctx.site.root, &on_disk).is_file()
                || ctx
                    .site
                    .apps
                    .iter()
                    .any(|a| a.script_exists && a.script_rel.eq_ignore_ascii_case(&on_disk))
                || !seen.insert(on_disk.to_ascii_lowercase())
            {
                continue;
            }
            let Mapping::Other { handler } = map_url(ctx, &on_disk) else {
                continue;
            };
            // A browser script that shares the entry script's name (`public/js/app.js`) is
            // what IISN7009 tells the site to take away from node this way: only a file
            // that looks like a server is worth an error.
            if !handler.has_module("StaticFileModule")
                || !looks_like_a_server(&rel_to_path(&ctx.site.root, &on_disk))
            {
                continue;
            }
            found.push(
                Diagnostic::new(
                    &codes::SCRIPT_SERVED_AS_FILE,
                    format!(
                        "this takes the iisnode mapping `{}` (path=\"{name}\") away from /{on_disk}: a GET of it reaches `{}`, and IIS sends the script's source code as a static file",
                        h.item.name.value, handler.name.value
                    ),
                )
                .at(span)
                .help(format!(
                    "Keep the mapping here (delete the <remove>, or add it back after <clear/>), or move {name} out of this folder."
                )),
            );
        }
    }
    found
}

/// Whether a script reads like a node server rather than a browser script: it calls
/// `.listen(` or reads `process.env` (the first 256 KiB are looked at).
fn looks_like_a_server(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut text = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(256 * 1024).read_to_end(&mut text));
    if read.is_err() {
        return false;
    }
    let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
    has(b".listen(") || has(b"process.env")
}

/// `.js` default documents the site adds that no iisnode handler maps (source disclosure).
fn default_documents(ctx: &mut Ctx<'_>) {
    let mut seen = std::collections::HashSet::new();
    for block in ctx.sections() {
        let Some(dd) = &block.sections.default_document else {
            continue;
        };
        let Some(files) = &dd.files else { continue };
        let eff = ctx.effective(&block.dir_rel);
        if !eff.default_document_enabled {
            continue;
        }
        for op in &files.ops {
            let CollectionOp::Add(f) = op else { continue };
            let name = f.value.value.trim();
            let lower = name.to_ascii_lowercase();
            if !(lower.ends_with(".js") || lower.ends_with(".mjs") || lower.ends_with(".cjs")) {
                continue;
            }
            let url = super::join_rel(&block.dir_rel, name.trim_start_matches('/'));
            if !seen.insert(f.value.span) {
                continue;
            }
            if matches!(map_url(ctx, &url), Mapping::Iisnode { .. }) {
                continue;
            }
            ctx.push(
                Diagnostic::new(
                    &codes::DEFAULT_DOCUMENT_SOURCE,
                    format!("the default document `{name}` is not mapped to iisnode: IIS would send its source code"),
                )
                .at(f.value.span)
                .help(format!("Add <add name=\"iisnode\" path=\"{name}\" verb=\"*\" modules=\"iisnode\"/> to <handlers>, or remove the default document.")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.js", "App.JS"));
        assert!(glob_match("server*.js", "server2.js"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("*.js", "app.json"));
        assert!(glob_match("hello.js", "HELLO.js"));
        assert!(glob_match("*_AppService.axd", "x_appservice.axd"));
        assert!(!glob_match("a*b*c", "acb"));
    }

    fn codes_for(web_config: &str, files: &[&str]) -> Vec<String> {
        let server = "require('http').createServer().listen(process.env.PORT);\n";
        crate::check::lints::check_temp_site(web_config, files, server)
            .iter()
            .map(|d| d.lint.code.to_string())
            .collect()
    }

    /// Regression: a mapping in `<location path="server.js">` was not seen by the static
    /// handler selection, so a rewrite to the script was reported as sending its source.
    #[test]
    fn a_location_naming_the_script_maps_it() {
        let codes = codes_for(
            r#"<configuration>
  <location path="server.js"><system.webServer><handlers>
    <add name="iisnode" path="server.js" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
  <system.webServer><rewrite><rules>
    <rule name="app"><match url=".*"/><action type="Rewrite" url="server.js"/></rule>
  </rules></rewrite></system.webServer>
</configuration>"#,
            &["server.js"],
        );
        assert!(!codes.iter().any(|c| c == "IISN6005"), "{codes:?}");
    }

    /// Regression: `iisn check` matched a handler path with a slash only below the mapping's
    /// folder, while `iisn serve` (as IIS 10, MH28) maps any URL ending with it: a rule
    /// rewriting to `old/dist/server.js` was reported as sending its source (IISN6005) where
    /// serve runs it with node.
    #[test]
    fn a_slash_path_maps_any_tail_in_check_as_in_serve() {
        let codes = codes_for(
            r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="dist/server.js" verb="*" modules="iisnode"/></handlers>
  <rewrite><rules>
    <rule name="old" stopProcessing="true"><match url="^old/(.*)"/><action type="Rewrite" url="old/dist/server.js"/></rule>
  </rules></rewrite>
</system.webServer></configuration>"#,
            &["dist/server.js", "old/dist/server.js"],
        );
        assert!(!codes.iter().any(|c| c == "IISN6005"), "{codes:?}");
        // Not at a segment boundary: still no mapping, and reported.
        let codes = codes_for(
            r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="dist/server.js" verb="*" modules="iisnode"/></handlers>
  <rewrite><rules>
    <rule name="old" stopProcessing="true"><match url="^old/(.*)"/><action type="Rewrite" url="olddist/server.js"/></rule>
  </rules></rewrite>
</system.webServer></configuration>"#,
            &["dist/server.js", "olddist/server.js"],
        );
        assert!(codes.iter().any(|c| c == "IISN6005"), "{codes:?}");
    }
}
