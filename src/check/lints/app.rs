//! The node application itself (IISN6023, IISN7002–IISN7008; peers.md §1 pains 2, 4, 5, 6,
//! iisnode-config.md §6.2 rules L-29, L-31 and §6.5 rule L-87).
//!
//! These lints read files the configuration points at: the entry script (and the local
//! files it requires, a few levels deep), the nearest `package.json`, the interceptor, and
//! `PATH` for node. They are heuristics over JavaScript text, tuned to stay silent when
//! unsure: a script that mentions `PORT` anywhere is taken to read it. Findings in a script
//! are reported at the handler that maps it, with the script's line in a note, because the
//! diagnostics point into configuration files.
//!
//! The only process this module starts is `node --version`, and only when it reports that
//! the configured node cannot be found (to say which node would run instead).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::config::Application;
use crate::config::schema::Attr;
use crate::config::settings::Origin;
use crate::config::source::Span;
use crate::diag::{Diagnostic, Severity, codes};
use crate::node::{find_on_path, is_executable};

use super::{Ctx, is_windows_path};

/// Scripts larger than this are not scanned.
const MAX_SCRIPT_BYTES: u64 = 2 * 1024 * 1024;
/// How many files (the entry and what it requires) are scanned per application.
const MAX_SCANNED: usize = 40;
const MAX_REQUIRE_DEPTH: usize = 3;

/// WebSocket libraries, and whether they start with HTTP long-polling (which needs every
/// request of a client to reach the same process).
const WS_LIBRARIES: &[(&str, bool)] = &[
    ("ws", false),
    ("socket.io", true),
    ("engine.io", true),
    ("sockjs", true),
    ("primus", true),
    ("faye-websocket", false),
    ("express-ws", false),
    ("websocket", false),
    ("@fastify/websocket", false),
    ("uws", false),
];

pub fn run(ctx: &mut Ctx<'_>) {
    let site = ctx.site;
    for app in &site.apps {
        yml_next_to_web_config(ctx, app);
        command_line(ctx, app);
        interceptor(ctx, app);
        let pkg = PackageJson::nearest(&site.root, &app.script);
        websockets(ctx, app, pkg.as_ref());
        if !app.script_exists {
            continue;
        }
        // A script a wildcard handler maps (`*.js`) may be a browser script or a helper
        // module that no one requests as a page: judge its code only when it looks like a
        // server, rather than guess.
        if app.from_wildcard
            && !read_script(&app.script)
                .is_some_and(|t| t.contains(".listen(") || t.contains("createServer("))
        {
            continue;
        }
        let esm = esm(ctx, app, pkg.as_ref());
        if !esm {
            port(ctx, app);
        }
    }
}

/// iisnode.yml beside web.config while the script (and so the file iisnode reads) is in
/// another folder.
fn yml_next_to_web_config(ctx: &mut Ctx<'_>, app: &Application) {
    let Some(level) = ctx
        .site
        .levels
        .iter()
        .filter(|l| crate::config::site::is_ancestor(&l.dir_rel, &app.dir_rel))
        .find(|l| l.config.as_ref().and_then(|c| c.sections.handlers.as_ref()).is_some_and(|h| {
            h.ops.iter().any(|op| matches!(op, crate::config::web_config::CollectionOp::Add(e) if e.span == app.handler.span))
        }))
    else {
        return;
    };
    if level.dir_rel.eq_ignore_ascii_case(&app.dir_rel) || app.yml.present {
        return;
    }
    let co = app.settings.str(Attr::ConfigOverrides);
    if co.is_empty() {
        return;
    }
    let beside = level.dir.join(co.replace('\\', "/"));
    if !beside.is_file() {
        return;
    }
    let expected = app
        .yml
        .path
        .as_ref()
        .map(|p| crate::diag::render::display_path(p, &ctx.site.root))
        .unwrap_or_default();
    ctx.push(
        Diagnostic::new(
            &codes::YML_NOT_NEXT_TO_SCRIPT,
            format!(
                "`{}` is ignored: iisnode reads {co} next to the script, at `{expected}`",
                crate::diag::render::display_path(&beside, &ctx.site.root)
            ),
        )
        .at(app.handler.path.span)
        .help(format!(
            "Move {co} into the script's folder (`{}`).",
            if app.dir_rel.is_empty() {
                "."
            } else {
                &app.dir_rel
            }
        )),
    );
}

/// Where a setting was written, for diagnostics; the handler when it is a default or
/// comes from the environment.
fn setting_span(app: &Application, attr: Attr) -> Span {
    match &app.settings.get(attr).origin {
        Origin::WebConfig { span } | Origin::Yml { span } => *span,
        _ => app.handler.name.span,
    }
}

/// The first token of a Windows command line (quotes removed).
fn program_of(line: &str) -> Option<String> {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix('"') {
        return rest.find('"').map(|e| rest[..e].to_string());
    }
    let end = t.find([' ', '\t']).unwrap_or(t.len());
    (end > 0).then(|| t[..end].to_string())
}

type NodeInfo = Option<(PathBuf, Option<String>)>;

/// `node` on `path` and its `--version`, computed once per `PATH` value per process.
fn path_node(path: Option<&str>) -> NodeInfo {
    static NODE: OnceLock<Mutex<HashMap<Option<String>, NodeInfo>>> = OnceLock::new();
    let cache = NODE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = path.map(str::to_string);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return hit;
    }
    let info = find_on_path(path, "node").map(|p| {
        let v = version_of(&p);
        (p, v)
    });
    if let Ok(mut c) = cache.lock() {
        c.insert(key, info.clone());
    }
    info
}

/// `<program> --version`, waiting at most 5 seconds.
fn version_of(program: &Path) -> Option<String> {
    let mut child = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!v.is_empty()).then_some(v)
}

fn node_note(path: Option<&str>) -> String {
    match path_node(path) {
        Some((p, Some(v))) => format!("`node` on PATH is {} ({v})", p.display()),
        Some((p, None)) => format!(
            "`node` on PATH is {} (its version could not be read)",
            p.display()
        ),
        None => "there is no `node` on PATH either".to_string(),
    }
}

/// nodeProcessCommandLine must name a program this machine can run, resolved as
/// `iisn serve` resolves it ([`crate::node::node_command`]): `node.exe`, and any Windows
/// path to node.exe (quoted or not, before or after `%VAR%` expansion), mean `node` from
/// PATH with the arguments kept; the diagnostic says once what is substituted.
fn command_line(ctx: &mut Ctx<'_>, app: &Application) {
    let path_var = ctx.path_var.clone();
    let path = path_var.as_deref();
    let line = app.settings.str(Attr::NodeProcessCommandLine);
    if line.matches('"').count() % 2 == 1 {
        return; // IISN5020 reports it.
    }
    let span = setting_span(app, Attr::NodeProcessCommandLine);
    let script_dir = app.script.parent().unwrap_or(&ctx.site.root).to_path_buf();
    // Whether the configuration already means `node` from PATH and only PATH lacks it: then
    // the fix is on the machine, not in the configuration.
    let mut needs_node_on_path = false;
    let problem = match crate::node::node_command(line) {
        Err(e) if e.contains("is empty") => return,
        Err(e) => e,
        Ok(cmd) => match cmd.substituted {
            Some(w) => {
                let kept = if cmd.args.is_empty() {
                    String::new()
                } else {
                    format!(", with `{}`", cmd.args.join(" "))
                };
                if path_node(path).is_some() {
                    format!(
                        "nodeProcessCommandLine names the Windows path `{w}`, which does not exist here; iisn runs `node` from PATH instead{kept}"
                    )
                } else {
                    needs_node_on_path = true;
                    format!(
                        "nodeProcessCommandLine names the Windows path `{w}`, and there is no `node` on PATH to run instead"
                    )
                }
            }
            None if cmd.program == "node" => {
                if path_node(path).is_some() {
                    return;
                }
                let written = program_of(line).unwrap_or_else(|| "node".into());
                needs_node_on_path = true;
                format!("nodeProcessCommandLine runs `{written}`, but there is no `node` on PATH")
            }
            None => {
                let program = cmd.program;
                let found = if program.contains(['/', '\\']) {
                    is_executable(&script_dir.join(program.replace('\\', "/")))
                } else {
                    find_on_path(path, &program).is_some()
                };
                if found {
                    return;
                }
                format!(
                    "nodeProcessCommandLine runs `{program}`, which is not found on this machine"
                )
            }
        },
    };
    let help = if needs_node_on_path {
        "The configuration is right: install node (18 or newer), or add the folder that holds it to the PATH iisn runs with."
    } else {
        "Use node.exe (node from PATH), or a path that exists on every machine that runs the site."
    };
    let d = Diagnostic::new(&codes::NODE_NOT_FOUND, problem)
        .severity(Severity::Warning)
        .at(span)
        .note(node_note(path))
        .help(help);
    ctx.push(d);
}

/// A custom interceptor must exist.
fn interceptor(ctx: &mut Ctx<'_>, app: &Application) {
    if app.settings.uses_builtin_loader() {
        return;
    }
    let raw = app.settings.str(Attr::Interceptor).trim();
    if raw.matches('"').count() % 2 == 1 {
        return; // IISN5020
    }
    let value = raw.trim_matches('"').trim();
    if value.is_empty() {
        return;
    }
    let span = setting_span(app, Attr::Interceptor);
    if is_windows_path(value) || value.contains('%') {
        ctx.push(
            Diagnostic::new(
                &codes::INTERCEPTOR_MISSING,
                format!("the interceptor `{value}` is a Windows path that cannot be checked or run here"),
            )
            .severity(Severity::Warning)
            .at(span)
            .help("Use a path relative to the script's folder, or the stock value \"%programfiles%\\iisnode\\interceptor.js\" for iisn's built-in loader."),
        );
        return;
    }
    let script_dir = app.script.parent().unwrap_or(&ctx.site.root);
    let path = script_dir.join(value.replace('\\', "/"));
    if !path.is_file() {
        ctx.push(
            Diagnostic::new(
                &codes::INTERCEPTOR_MISSING,
                format!("the interceptor `{value}` does not exist: node exits at once and every request fails"),
            )
            .at(span)
            .help("Fix the path (relative to the script's folder), or remove interceptor to use the built-in loader."),
        );
    }
}

/// The nearest package.json from the script's folder up to the site root.
struct PackageJson {
    path: PathBuf,
    json: serde_json::Value,
}

impl PackageJson {
    fn nearest(root: &Path, script: &Path) -> Option<PackageJson> {
        let mut dir = script.parent()?;
        loop {
            let p = dir.join("package.json");
            if p.is_file() {
                let text = std::fs::read_to_string(&p).ok()?;
                let json = serde_json::from_str(&text).ok()?;
                return Some(PackageJson { path: p, json });
            }
            if dir == root {
                return None;
            }
            dir = dir.parent()?;
            if !dir.starts_with(root) {
                return None;
            }
        }
    }

    fn is_module(&self) -> bool {
        self.json.get("type").and_then(|t| t.as_str()) == Some("module")
    }

    fn depends_on(&self, name: &str) -> bool {
        ["dependencies", "optionalDependencies"]
            .iter()
            .any(|k| self.json.get(k).and_then(|d| d.get(name)).is_some())
    }
}

fn rel_display(ctx: &Ctx<'_>, p: &Path) -> String {
    crate::diag::render::display_path(p, &ctx.site.root)
}

/// ES module entry scripts fail under iisnode's `require()`-based loader.
fn esm(ctx: &mut Ctx<'_>, app: &Application, pkg: Option<&PackageJson>) -> bool {
    if !app.settings.uses_builtin_loader() {
        return false;
    }
    let lower = app.script_rel.to_ascii_lowercase();
    if lower.ends_with(".cjs") {
        return false;
    }
    let why = if lower.ends_with(".mjs") {
        Some(format!("`{}` is an ES module (.mjs)", app.script_rel))
    } else if let Some(p) = pkg.filter(|p| p.is_module() && lower.ends_with(".js")) {
        Some(format!(
            "`{}` is an ES module: {} has \"type\": \"module\"",
            app.script_rel,
            rel_display(ctx, &p.path)
        ))
    } else {
        read_script(&app.script)
            .and_then(|text| esm_syntax_line(&text))
            .map(|line| {
                format!(
                    "`{}` uses `import`/`export` (line {line}) but loads as CommonJS",
                    app.script_rel
                )
            })
    };
    let Some(why) = why else { return false };
    ctx.push(
        Diagnostic::new(
            &codes::ESM_ENTRY,
            format!("{why}; iisnode loads the entry script with require(), so it fails at start"),
        )
        .at(app.handler.path.span)
        .help(format!(
            "Map a small CommonJS entry instead (for example server.cjs containing `import('./{}')`), or build the application to CommonJS.",
            app.script_rel.rsplit('/').next().unwrap_or(&app.script_rel)
        )),
    );
    true
}

fn read_script(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_SCRIPT_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A line that starts with a static `import ... from`/`import '...'` or an `export`
/// statement (outside block comments), 1-based.
fn esm_syntax_line(text: &str) -> Option<usize> {
    let mut in_comment = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if in_comment {
            if t.contains("*/") {
                in_comment = false;
            }
            continue;
        }
        if t.starts_with("/*") {
            in_comment = !t.contains("*/");
            continue;
        }
        let import = t.starts_with("import ")
            && (t.contains(" from ") || t[7..].trim_start().starts_with(['\'', '"', '{', '*']));
        let export = t.starts_with("export ")
            && [
                "default", "const", "function", "class", "let", "var", "async", "{", "*",
            ]
            .iter()
            .any(|k| t[7..].trim_start().starts_with(k));
        if import || export {
            return Some(i + 1);
        }
    }
    None
}

/// Local modules a script requires or imports: `./x`, `../y`.
fn local_requires(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["require(", "from ", "import("] {
        let mut rest = text;
        while let Some(i) = rest.find(key) {
            rest = &rest[i + key.len()..];
            let t = rest.trim_start();
            let Some(q) = t.chars().next().filter(|c| matches!(c, '\'' | '"' | '`')) else {
                continue;
            };
            let body = &t[1..];
            let Some(end) = body.find(q) else { continue };
            let spec = &body[..end];
            if spec.starts_with("./") || spec.starts_with("../") {
                out.push(spec.to_string());
            }
        }
    }
    out
}

fn resolve_module(dir: &Path, spec: &str) -> Option<PathBuf> {
    let base = dir.join(spec);
    let candidates = [
        base.clone(),
        base.with_extension("js"),
        PathBuf::from(format!("{}.js", base.display())),
        PathBuf::from(format!("{}.cjs", base.display())),
        base.join("index.js"),
    ];
    candidates.into_iter().find(|p| p.is_file())
}

/// The entry script and the local files it requires, breadth first.
fn scripts(app: &Application) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    let mut queue = vec![(app.script.clone(), 0usize)];
    while let Some((p, depth)) = queue.first().cloned() {
        queue.remove(0);
        if out.len() >= MAX_SCANNED || out.iter().any(|(q, _)| *q == p) {
            continue;
        }
        let Some(text) = read_script(&p) else {
            continue;
        };
        if depth < MAX_REQUIRE_DEPTH
            && let Some(dir) = p.parent()
        {
            for spec in local_requires(&text) {
                if let Some(m) = resolve_module(dir, &spec) {
                    queue.push((m, depth + 1));
                }
            }
        }
        out.push((p, text));
    }
    out
}

/// The `PORT` checks: read at all, and not parsed as a number.
fn port(ctx: &mut Ctx<'_>, app: &Application) {
    let files = scripts(app);
    if files.is_empty() {
        return;
    }
    let mentions = |t: &str| {
        t.match_indices("PORT").any(|(i, _)| {
            let before = t[..i].chars().next_back();
            let after = t[i + 4..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            !word(before) && !word(after)
        })
    };
    // `process.env.port` (any spelling) reads PORT: environment names ignore case on
    // Windows, and iisn's loader gives the application the same rule.
    let any_case = |t: &str| {
        let lower = t.to_ascii_lowercase();
        lower.match_indices("process.env.port").any(|(i, _)| {
            !lower[i + 16..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    if !files.iter().any(|(_, t)| mentions(t) || any_case(t)) {
        if app.from_wildcard && !files.iter().any(|(_, t)| t.contains(".listen(")) {
            // A script a wildcard handler maps that does not look like a server (a helper
            // module, a browser script): stay silent rather than guess.
            return;
        }
        ctx.push(
            Diagnostic::new(
                &codes::PORT_NOT_READ,
                format!(
                    "`{}` never reads process.env.PORT: under iisnode the app must listen on the pipe PORT names",
                    app.script_rel
                ),
            )
            .at(app.handler.path.span)
            .help("Call listen(process.env.PORT) instead of listening on a fixed port.")
            .note(format!(
                "looked for PORT in {}",
                crate::ui::plural(files.len(), "file", "files")
            )),
        );
        return;
    }
    for (path, text) in &files {
        if let Some((line, col, expr)) = parses_port(text) {
            ctx.push(
                Diagnostic::new(
                    &codes::PORT_PARSED_AS_NUMBER,
                    format!(
                        "`{}` parses process.env.PORT as a number (`{expr}`), but under iisnode PORT is a pipe path",
                        app.script_rel
                    ),
                )
                .at(app.handler.path.span)
                .note(format!("at {}:{line}:{col}", rel_display(ctx, path)))
                .help("Pass process.env.PORT to listen() as it is (a string)."),
            );
            return;
        }
    }
}

/// `parseInt(process.env.PORT`, `Number(process.env.PORT`, `+process.env.PORT`, ...: line,
/// column and the text found.
fn parses_port(text: &str) -> Option<(usize, usize, String)> {
    const CALLS: &[&str] = &[
        "parseInt(",
        "parseFloat(",
        "Number(",
        "Number.parseInt(",
        "Math.floor(",
        "+",
    ];
    for (li, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("//") || t.starts_with('*') {
            continue;
        }
        for (i, _) in line.match_indices("process.env.PORT") {
            let before = line[..i].trim_end();
            let word_after = line[i + 16..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if word_after {
                continue;
            }
            for call in CALLS {
                if before.ends_with(call) {
                    if *call == "+" && before.ends_with("++") {
                        continue;
                    }
                    // A `+` must be unary: after `(`, `=`, `,`, `:`, `?` or at the start.
                    if *call == "+" {
                        let prev = before[..before.len() - 1].trim_end().chars().next_back();
                        if !matches!(prev, None | Some('(' | '=' | ',' | ':' | '?' | '|' | '&')) {
                            continue;
                        }
                    }
                    let start = before.len() - call.len();
                    let col = line[..start].chars().count() + 1;
                    return Some((li + 1, col, format!("{call}process.env.PORT")));
                }
            }
        }
    }
    None
}

fn websockets(ctx: &mut Ctx<'_>, app: &Application, pkg: Option<&PackageJson>) {
    let Some(pkg) = pkg else { return };
    let used: Vec<(&str, bool)> = WS_LIBRARIES
        .iter()
        .copied()
        .filter(|(n, _)| pkg.depends_on(n))
        .collect();
    let Some(&(first, _)) = used.first() else {
        return;
    };
    let eff = ctx.effective(&app.dir_rel);
    if eff.web_socket_enabled {
        let d = Diagnostic::new(
            &codes::WEBSOCKET_NOT_DISABLED,
            format!(
                "{} depends on `{first}`, but IIS's WebSocket module is on: WebSocket requests never reach node on IIS",
                rel_display(ctx, &pkg.path)
            ),
        )
        .help("Add <webSocket enabled=\"false\"/> under <system.webServer>.");
        let d = match eff.web_socket_span {
            Some(s) => d.at(s),
            None => d.at(app.handler.name.span),
        };
        ctx.push(d);
    }
    let polling = used.iter().find(|(_, p)| *p).map(|(n, _)| *n);
    let count = app.settings.uint(Attr::NodeProcessCountPerApplication);
    if let Some(lib) = polling
        && count > 1
        && !app.settings.bool(Attr::NodeProcessStickySessions)
    {
        ctx.push(
            Diagnostic::new(
                &codes::WEBSOCKET_MULTI_PROCESS,
                format!(
                    "`{lib}` needs every request of a client on one process, but iisnode spreads them over {count} processes"
                ),
            )
            .at(setting_span(app, Attr::NodeProcessCountPerApplication))
            .help("Set nodeProcessCountPerApplication=\"1\", or nodeProcessStickySessions=\"true\" (Azure's iisnode)."),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esm_syntax() {
        assert_eq!(esm_syntax_line("import express from 'express';"), Some(1));
        assert_eq!(esm_syntax_line("// x\nexport default app;"), Some(2));
        assert_eq!(esm_syntax_line("const m = await import('./x.js');"), None);
        assert_eq!(
            esm_syntax_line("/*\nimport x from 'y'\n*/\nrequire('x')"),
            None
        );
        assert_eq!(esm_syntax_line("import './polyfill.js';"), Some(1));
    }

    #[test]
    fn port_parsing() {
        assert_eq!(
            parses_port("const port = parseInt(process.env.PORT, 10);").map(|x| (x.0, x.1)),
            Some((1, 14))
        );
        assert!(parses_port("app.listen(+process.env.PORT)").is_some());
        assert!(parses_port("x = Number(process.env.PORT || 3000)").is_some());
        assert!(parses_port("app.listen(process.env.PORT || 3000)").is_none());
        assert!(parses_port("var port = normalizePort(process.env.PORT || '3000');").is_none());
        assert!(parses_port("a + process.env.PORT").is_none());
        assert!(parses_port("// parseInt(process.env.PORT)").is_none());
    }

    #[test]
    fn requires() {
        assert_eq!(
            local_requires(
                "const a = require('./app');\nimport b from \"../lib/b.js\";\nrequire('express')"
            ),
            ["./app", "../lib/b.js"]
        );
    }

    #[test]
    fn programs() {
        assert_eq!(
            program_of("node.exe --harmony").as_deref(),
            Some("node.exe")
        );
        assert_eq!(
            program_of("\"C:\\Program Files\\nodejs\\node.exe\" x").as_deref(),
            Some("C:\\Program Files\\nodejs\\node.exe")
        );
        assert_eq!(program_of("  "), None);
    }
}
