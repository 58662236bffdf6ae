//! `AppPlan`: everything needed to run one application, resolved before anything opens.
//!
//! This is the ripgrep "low args → high args" step: the command line is split and the node
//! binary looked up, the worker environment assembled, log and proxy settings computed. It
//! does no I/O beyond looking a program up on `PATH`, so it is tested with tables.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::schema::Attr;
use crate::config::settings::IisnodeSettings;
use crate::config::{Application, ConfigErrorKind};
use crate::node::{find_on_path, is_windows_path, node_command};

use super::logs::LogSettings;
use super::process::SpawnSpec;
use super::proxy::ProxySettings;

/// The iisnode version iisn reports to node (`IISNODE_VERSION`), the one it emulates.
pub const IISNODE_VERSION: &str = "0.2.27";

/// Inputs shared by every application.
#[derive(Clone, Debug)]
pub struct PlanContext {
    /// iisn's own loader script (replaces the stock interceptor).
    pub loader: PathBuf,
    pub hostname: String,
    /// iisn's environment (for PATH lookups and "only if absent" variables).
    pub env: Vec<(String, String)>,
    /// `--esm`: let the loader import() ES module entry points.
    pub esm: bool,
    /// `--processes N` overrides nodeProcessCountPerApplication.
    pub processes: Option<usize>,
    /// The recycle-signal socket, given to apps with recycleSignalEnabled as
    /// `IISNODE_CONTROL_PIPE`.
    pub control_socket: Option<PathBuf>,
    pub cpu_count: usize,
    /// `--inspect`: every worker gets node's inspector.
    pub inspect: bool,
}

/// One application, ready to run.
#[derive(Debug)]
pub struct AppPlan {
    /// The script's path relative to the site (`api/server.js`), used as its name.
    pub name: Arc<str>,
    pub script: PathBuf,
    pub script_dir: PathBuf,
    pub script_exists: bool,
    pub settings: IisnodeSettings,
    pub process_count: usize,
    /// How to start a worker (without `PORT`), or why it cannot start.
    pub spawn: Result<SpawnSpec, String>,
    /// A note about the command line (e.g. a Windows path mapped to `node`), said once.
    pub command_note: Option<String>,
    /// Other notes said once when the application is first known (a mapped logDirectory).
    pub notes: Vec<String>,
    /// Created by a wildcard handler: starts on its first request (DECISIONS.md §7).
    pub on_demand: bool,
    pub log: Arc<LogSettings>,
    pub config_error: Option<ConfigErrorKind>,
    /// The diagnostics behind `config_error`, rendered without colour, for the error page.
    pub config_error_text: String,
    pub proxy: ProxySettings,
    pub max_concurrent: usize,
    pub sticky: bool,
    pub xff: bool,
    /// promoteServerVars tokens, as iisnode splits them (no trimming, empty ones dropped).
    pub promote: Vec<String>,
    pub debug_header: bool,
    pub dev_errors: bool,
    pub recycle_signal: bool,
    pub graceful_timeout: Duration,
    /// debuggingEnabled: `<script>/<debug_segment>/` addresses the debugger.
    pub debugging: bool,
    /// debuggerPathSegment.
    pub debug_segment: String,
    /// debuggerPortRange, unparsed (parsed on use, as iisnode does).
    pub debug_ports: String,
    /// Settings with which iisnode fails every request of the application (a sub-status of
    /// 500 and why), though IIS loads them.
    pub fails_every_request: Option<(u32, Cow<'static, str>)>,
    /// `--inspect`: every worker starts with node's inspector.
    pub inspect_all: bool,
    /// Everything that shapes the running workers, as text: two plans with the same
    /// signature need no recycle when the configuration is re-read.
    pub signature: String,
}

fn env_get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Settings with which iisnode fails every request of the application before node sees it:
/// the sub-status of its 500 and why (`iisn route` shows the same).
pub fn failing_settings(s: &IisnodeSettings) -> Option<(u32, &'static str)> {
    if s.bool(Attr::DebuggingEnabled) && s.str(Attr::DebuggerPathSegment).is_empty() {
        // cnodedebugger.cpp: ERROR_INVALID_PARAMETER before any request is sent.
        Some((
            1000,
            "debuggerPathSegment is empty while debuggingEnabled is true: iisnode fails every request of the application; set debuggerPathSegment (the default is `debug`) or debuggingEnabled=\"false\"",
        ))
    } else if s.uint(Attr::InitialRequestBufferSize) == 0 {
        // CHttpProtocol::Append doubles a buffer of 0 bytes forever: IIS never answers.
        Some((
            1005,
            "initialRequestBufferSize is 0: iisnode's request buffer cannot grow, and IIS would never answer this request; use a positive size (the default is 4096)",
        ))
    } else {
        None
    }
}

/// Looks `program` up like a shell: a path with a separator is used as is (relative to
/// `cwd`), a bare name is searched on `PATH`.
pub fn find_program(program: &str, cwd: &Path, env: &[(String, String)]) -> Option<PathBuf> {
    if program.contains('/') {
        let p = cwd.join(program);
        return p.is_file().then_some(p);
    }
    find_on_path(env_get(env, "PATH"), program)
}

/// The program and its arguments, or why they cannot be resolved.
pub type ResolvedCommand = Result<(PathBuf, Vec<String>), String>;

/// Builds the command line as iisnode does (`<nodeProcessCommandLine> <interceptor>
/// "<script>"`), splits it with Windows rules and maps node.exe (and any Windows path to
/// it, quoted or not) to `node` here ([`crate::node::node_command`]). The note says what
/// was substituted.
pub fn resolve_command(
    settings: &IisnodeSettings,
    script: &Path,
    ctx: &PlanContext,
) -> (ResolvedCommand, Option<String>) {
    let ncl = settings.str(Attr::NodeProcessCommandLine);
    let interceptor = if settings.uses_builtin_loader() {
        format!("\"{}\"", ctx.loader.display())
    } else {
        settings.str(Attr::Interceptor).to_string()
    };
    let line = format!("{ncl} {interceptor} \"{}\"", script.display());
    let cmd = match node_command(&line) {
        Ok(c) => c,
        Err(e) => return (Err(e), None),
    };
    let cwd = script.parent().unwrap_or(Path::new("."));
    let found = find_program(&cmd.program, cwd, &ctx.env);
    let note = cmd.substituted.as_ref().map(|w| {
        let own = node_command(ncl).map(|c| c.args).unwrap_or_default();
        format!(
            "nodeProcessCommandLine names the Windows path `{w}`; iisn runs `node` from PATH{} instead{}",
            found
                .as_ref()
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default(),
            if own.is_empty() {
                String::new()
            } else {
                format!(", with `{}`", own.join(" "))
            }
        )
    });
    match found {
        Some(p) => (Ok((p, cmd.args)), note),
        None => (
            Err(format!(
                "`{}` (from nodeProcessCommandLine `{ncl}`) was not found{}",
                cmd.program,
                if cmd.program.contains('/') {
                    ""
                } else {
                    " on PATH"
                }
            )),
            note,
        ),
    }
}

/// The folder iisnode's log files go to, and a note when the setting was mapped.
///
/// `logDirectory` is relative to the script's folder. An absolute Windows path (`D:\logs\`,
/// `\\server\share`) names a place that does not exist here; taken literally it would create
/// a folder named `D:` inside the site, so iisn uses the default `iisnode` folder instead
/// and says so. `..` segments are kept (iisnode allows a folder beside the site).
pub fn log_dir(script_dir: &Path, setting: &str) -> (PathBuf, Option<String>) {
    if setting.is_empty() {
        return (script_dir.join("iisnode"), None);
    }
    if is_windows_path(setting) || setting.starts_with('\\') || setting.contains('%') {
        return (
            script_dir.join("iisnode"),
            Some(format!(
                "logDirectory `{setting}` is an absolute Windows path; iisn writes the logs to the default `iisnode` folder beside the script instead"
            )),
        );
    }
    let rel = setting.replace('\\', "/");
    if rel.starts_with('/') {
        return (PathBuf::from(rel), None);
    }
    (script_dir.join(rel), None)
}

/// When an application's handler `path` has no slash (`app.js`), IIS maps every file of
/// that name below the web.config, so a browser script `public/js/app.js` runs as a node
/// application too (iisnode issue 189). For such an application in a sub-folder, with a
/// file of the same name in a folder above it, the hint printed when it crashes at start.
pub fn same_name_hint(app: &Application) -> Option<String> {
    let path = app.handler.path.value.trim();
    if path.contains(['/', '\\', '*', '?']) || app.dir_rel.is_empty() {
        return None;
    }
    let name = app.script_rel.rsplit('/').next().unwrap_or(&app.script_rel);
    let mut dir = app.script.parent()?;
    let mut parents = app.dir_rel.split('/').count();
    while parents > 0 {
        dir = dir.parent()?;
        parents -= 1;
        if dir.join(name).is_file() {
            return Some(format!(
                "{} is a node application only because the handler path `{path}` has no slash: IIS maps every file named {name} in the site (iisnode issue 189). If it is not a server, rename it, or add <remove name=\"{}\"/> under <handlers> in a web.config in its folder.",
                app.script_rel, app.handler.name.value
            ));
        }
    }
    None
}

impl AppPlan {
    pub fn resolve(app: &Application, ctx: &PlanContext, config_error_text: String) -> AppPlan {
        let s = &app.settings;
        let script_dir = app
            .script
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let (command, command_note) = resolve_command(s, &app.script, ctx);
        let logging = s.bool(Attr::LoggingEnabled);
        let log_dir_setting = s.str(Attr::LogDirectory);
        let (log_dir, log_note) = log_dir(&script_dir, log_dir_setting);
        let mut notes: Vec<String> = log_note
            .filter(|_| logging)
            .map(|n| format!("{}: {n}", app.script_rel))
            .into_iter()
            .collect();
        notes.retain(|n| !n.is_empty());
        let log = Arc::new(LogSettings {
            enabled: logging,
            dir: log_dir,
            max_file_bytes: u64::from(s.uint(Attr::MaxLogFileSizeInKB)) * 1024,
            max_total_bytes: u64::from(s.uint(Attr::MaxTotalLogFileSizeInKB)) * 1024,
            max_files: s.uint(Attr::MaxLogFiles),
            hostname: ctx.hostname.clone(),
        });

        // The environment iisnode appends, in its order (later entries win here).
        let mut env: Vec<(String, String)> =
            vec![("IISNODE_VERSION".into(), IISNODE_VERSION.into())];
        let pending_set = env_get(&ctx.env, "NODE_PENDING_PIPE_INSTANCES").is_none();
        if pending_set {
            env.push(("NODE_PENDING_PIPE_INSTANCES".into(), "5000".into()));
        }
        // iisnode writes PORT, IISNODE_VERSION, NODE_PENDING_PIPE_INSTANCES (when it sets
        // it) and IISNODE_CONTROL_PIPE before the appSettings entries, and a Windows
        // program sees the first of two entries with one name (names ignore case there):
        // an appSettings key naming one of them (`PORT`, `port`) does not reach node.
        // `iisn check` warns about such keys (IISN5030).
        let set_first = |key: &str| {
            ["PORT", "IISNODE_VERSION", "IISNODE_CONTROL_PIPE"]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(key))
                || (pending_set && key.eq_ignore_ascii_case("NODE_PENDING_PIPE_INSTANCES"))
        };
        env.extend(
            app.app_settings
                .iter()
                .filter(|(k, _)| !set_first(k))
                .cloned(),
        );
        if let Some(ne) = s.node_env() {
            env.push(("NODE_ENV".into(), ne.to_string()));
        }
        if logging {
            env.push(("IISNODE_LOGGINGENABLED".into(), "1".into()));
            if !log_dir_setting.is_empty() {
                env.push(("IISNODE_LOGDIRECTORY".into(), log_dir_setting.to_string()));
            }
            env.push((
                "IISNODE_MAXTOTALLOGFILESIZEINKB".into(),
                s.uint(Attr::MaxTotalLogFileSizeInKB).to_string(),
            ));
            env.push((
                "IISNODE_MAXLOGFILESIZEINKB".into(),
                s.uint(Attr::MaxLogFileSizeInKB).to_string(),
            ));
            env.push((
                "IISNODE_MAXLOGFILES".into(),
                s.uint(Attr::MaxLogFiles).to_string(),
            ));
        }
        if env_get(&ctx.env, "COMPUTERNAME").is_none() {
            env.push(("COMPUTERNAME".into(), ctx.hostname.clone()));
        }
        if ctx.esm {
            env.push(("IISN_ESM".into(), "1".into()));
        }
        if s.bool(Attr::RecycleSignalEnabled)
            && let Some(sock) = &ctx.control_socket
        {
            env.push(("IISNODE_CONTROL_PIPE".into(), sock.display().to_string()));
        }
        let start_hint = same_name_hint(app);
        let spawn = command.map(|(program, args)| SpawnSpec {
            program,
            args,
            cwd: script_dir.clone(),
            env,
            start_hint,
        });

        let process_count = ctx
            .processes
            .unwrap_or(s.uint(Attr::NodeProcessCountPerApplication) as usize)
            .max(1);
        let promote = s
            .str(Attr::PromoteServerVars)
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        let values: Vec<String> = s.iter().map(|x| x.value.to_string()).collect();
        // The error text is site-wide: it matters only to an application that shows it.
        let signature = format!(
            "{:?}|{process_count}|{:?}|{:?}|{}|{}",
            spawn,
            app.config_error,
            values,
            app.script_exists,
            if app.config_error.is_some() {
                config_error_text.as_str()
            } else {
                ""
            }
        );
        let watch_failure = super::watcher::start_failure(s.str(Attr::WatchedFiles), &script_dir);
        AppPlan {
            signature,
            name: Arc::from(app.script_rel.as_str()),
            script: app.script.clone(),
            script_dir,
            script_exists: app.script_exists,
            process_count,
            spawn,
            command_note,
            notes,
            on_demand: app.from_wildcard,
            log,
            config_error: app.config_error,
            config_error_text,
            proxy: ProxySettings {
                max_retry: s.uint(Attr::MaxNamedPipeConnectionRetry),
                retry_delay_ms: s.uint(Attr::NamedPipeConnectionRetryDelay),
                pool_size: s.uint(Attr::MaxNamedPipeConnectionPoolSize) as usize,
                pool_age: Duration::from_millis(u64::from(
                    s.uint(Attr::MaxNamedPipePooledConnectionAge),
                )),
                // iisnode's buffer starts at initialRequestBufferSize and only its growth
                // is capped at maxRequestBufferSize (`CHttpProtocol::Append`), so the
                // larger of the two bounds a header block.
                max_head: s
                    .uint(Attr::MaxRequestBufferSize)
                    .max(s.uint(Attr::InitialRequestBufferSize))
                    .max(1) as usize,
            },
            max_concurrent: s.uint(Attr::MaxConcurrentRequestsPerProcess) as usize,
            sticky: s.bool(Attr::NodeProcessStickySessions),
            xff: s.bool(Attr::EnableXff),
            promote,
            debug_header: s.bool(Attr::DebugHeaderEnabled),
            dev_errors: s.bool(Attr::DevErrorsEnabled),
            recycle_signal: s.bool(Attr::RecycleSignalEnabled),
            graceful_timeout: Duration::from_millis(u64::from(
                s.uint(Attr::GracefulShutdownTimeout),
            )),
            debugging: s.bool(Attr::DebuggingEnabled),
            debug_segment: s.str(Attr::DebuggerPathSegment).to_string(),
            debug_ports: s.str(Attr::DebuggerPortRange).to_string(),
            fails_every_request: match failing_settings(s) {
                Some((sub, why)) => Some((sub, Cow::Borrowed(why))),
                None => watch_failure.map(|why| (1000, Cow::Owned(why))),
            },
            inspect_all: ctx.inspect,
            settings: s.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env::Environment;
    use crate::config::{LoadOptions, load_site};

    fn ctx(path: &str) -> PlanContext {
        PlanContext {
            loader: PathBuf::from("/run/iisn/iisn-loader.cjs"),
            hostname: "devbox".into(),
            env: vec![("PATH".into(), path.into())],
            esm: false,
            processes: None,
            control_socket: None,
            cpu_count: 2,
            inspect: false,
        }
    }

    fn site(web: &str) -> (tempfile::TempDir, crate::config::LoadedSite) {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("web.config"), web).expect("write");
        std::fs::write(dir.path().join("app.js"), "").expect("write");
        let opts = LoadOptions {
            env: Environment::from_pairs([("NODE_ENV", "test")]),
            cpu_count: 2,
        };
        let s = load_site(dir.path(), &opts).expect("loads");
        (dir, s)
    }

    fn bin_dir() -> (tempfile::TempDir, String) {
        let d = tempfile::tempdir().expect("tmp");
        let node = d.path().join("node");
        std::fs::write(&node, "#!/bin/sh\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let p = d.path().display().to_string();
        (d, p)
    }

    #[test]
    fn the_header_limit_is_the_larger_buffer_size() {
        let web = |attrs: &str| {
            format!(
                r#"<configuration><system.webServer><handlers><add name="n" path="app.js" verb="*" modules="iisnode"/></handlers><iisnode {attrs}/></system.webServer></configuration>"#
            )
        };
        let (_bins, path) = bin_dir();
        for (attrs, limit) in [
            ("", 65536),
            (
                r#"initialRequestBufferSize="16384" maxRequestBufferSize="8192""#,
                16384,
            ),
            (r#"maxRequestBufferSize="8192""#, 8192),
        ] {
            let (_d, s) = site(&web(attrs));
            let p = AppPlan::resolve(&s.apps[0], &ctx(&path), String::new());
            assert_eq!(p.proxy.max_head, limit, "{attrs}");
            assert_eq!(p.fails_every_request, None);
        }
        // Settings IIS loads but iisnode fails (or hangs) every request with.
        for (attrs, sub) in [
            (r#"debuggerPathSegment="""#, 1000),
            (r#"initialRequestBufferSize="0""#, 1005),
        ] {
            let (_d, s) = site(&web(attrs));
            let p = AppPlan::resolve(&s.apps[0], &ctx(&path), String::new());
            assert_eq!(p.fails_every_request.map(|f| f.0), Some(sub), "{attrs}");
        }
        let (_d, s) = site(&web(r#"debuggerPathSegment="" debuggingEnabled="false""#));
        let p = AppPlan::resolve(&s.apps[0], &ctx(&path), String::new());
        assert_eq!(p.fails_every_request, None);
    }

    #[test]
    fn command_environment_and_limits() {
        let (_d, s) = site(
            r#"<configuration><appSettings><add key="A" value="1"/><add key="" value="x"/><add key="E" value=""/><add key="port" value="1337"/><add key="IISNODE_VERSION" value="9"/></appSettings><system.webServer><handlers><add name="n" path="app.js" verb="*" modules="iisnode"/></handlers><iisnode nodeProcessCommandLine="&quot;C:\Program Files\nodejs\node.exe&quot; --max-old-space-size=64" node_env="production" nodeProcessCountPerApplication="0" promoteServerVars="REQUEST_METHOD, AUTH_USER,,X"/></system.webServer></configuration>"#,
        );
        let (_bins, path) = bin_dir();
        let p = AppPlan::resolve(&s.apps[0], &ctx(&path), String::new());
        let spec = p.spawn.as_ref().expect("resolves");
        assert!(spec.program.ends_with("node"));
        assert_eq!(spec.args[0], "--max-old-space-size=64");
        assert_eq!(spec.args[1], "/run/iisn/iisn-loader.cjs");
        assert!(spec.args[2].ends_with("app.js"));
        assert!(
            p.command_note
                .as_deref()
                .unwrap_or("")
                .contains("Windows path")
        );
        let env: Vec<_> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert!(env.contains(&"A=1".to_string()));
        assert!(env.contains(&"E=".to_string()));
        assert!(!env.iter().any(|e| e.starts_with('=')));
        assert!(env.contains(&"NODE_ENV=production".to_string()));
        assert!(env.contains(&"IISNODE_VERSION=0.2.27".to_string()));
        // What iisnode sets before the appSettings wins (PORT is added at spawn).
        assert!(
            !env.iter()
                .any(|e| e.eq_ignore_ascii_case("port=1337") || e == "IISNODE_VERSION=9"),
            "{env:?}"
        );
        assert!(env.contains(&"COMPUTERNAME=devbox".to_string()));
        assert_eq!(p.process_count, 2, "0 means one per CPU");
        assert_eq!(p.promote, ["REQUEST_METHOD", " AUTH_USER", "X"]);
    }

    #[test]
    fn visual_studio_unquoted_node_path_runs_node_with_its_arguments() {
        let (_d, s) = site(
            r#"<configuration><system.webServer><handlers><add name="n" path="app.js" verb="*" modules="iisnode"/></handlers><iisnode nodeProcessCommandLine="C:\Program Files\nodejs\node.exe --harmony"/></system.webServer></configuration>"#,
        );
        let (_bins, path) = bin_dir();
        let p = AppPlan::resolve(&s.apps[0], &ctx(&path), String::new());
        let spec = p.spawn.as_ref().expect("resolves like CreateProcess");
        assert!(spec.program.ends_with("node"));
        assert_eq!(spec.args[0], "--harmony");
        let note = p.command_note.unwrap_or_default();
        assert!(
            note.contains(r"C:\Program Files\nodejs\node.exe") && note.contains("--harmony"),
            "{note}"
        );
    }

    #[test]
    fn absolute_windows_log_directory_maps_to_the_default() {
        let dir = Path::new("/site/api");
        assert_eq!(log_dir(dir, ""), (dir.join("iisnode"), None));
        let (d, note) = log_dir(dir, r"D:\logs\");
        assert_eq!(d, dir.join("iisnode"));
        assert!(note.unwrap_or_default().contains(r"D:\logs\"));
        assert!(log_dir(dir, r"\\server\share\logs").1.is_some());
        assert_eq!(log_dir(dir, r"..\logs").0, dir.join("../logs"));
        assert_eq!(log_dir(dir, "mylogs").0, dir.join("mylogs"));
    }

    #[test]
    fn missing_node_is_a_spawn_error() {
        let (_d, s) = site(
            r#"<configuration><system.webServer><handlers><add name="n" path="app.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
        );
        let p = AppPlan::resolve(&s.apps[0], &ctx("/nonexistent"), String::new());
        let err = p.spawn.expect_err("no node");
        assert!(err.contains("`node`") && err.contains("PATH"), "{err}");
    }
}
