//! `AppPlan`: everything needed to run one application, resolved before anything opens.
//!
//! This is the ripgrep "low args → high args" step: the command line is split and the node
//! binary looked up, the worker environment assembled, log and proxy settings computed. It
//! does no I/O beyond looking a program up on `PATH`, so it is tested with tables.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::schema::Attr;
use crate::config::settings::IisnodeSettings;
use crate::config::{Application, ConfigErrorKind};
use crate::node::{find_on_path, is_windows_path};

use super::cmdline;
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
    /// A note about the command line (e.g. a Windows path mapped to `node`).
    pub command_note: Option<String>,
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
/// "<script>"`), splits it with Windows rules and maps node.exe to a program here.
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
    let tokens = match cmdline::split(&line) {
        Ok(t) if !t.is_empty() && !t[0].is_empty() => t,
        Ok(_) => return (Err("nodeProcessCommandLine is empty".into()), None),
        Err(e) => {
            return (
                Err(format!("nodeProcessCommandLine cannot be parsed: {e}")),
                None,
            );
        }
    };
    let cwd = script.parent().unwrap_or(Path::new("."));
    let first = tokens[0].as_str();
    let file_name = first.rsplit(['\\', '/']).next().unwrap_or(first);
    let mut note = None;
    let program = if first.eq_ignore_ascii_case("node.exe") || first.eq_ignore_ascii_case("node") {
        "node".to_string()
    } else if is_windows_path(first) {
        if file_name.eq_ignore_ascii_case("node.exe") {
            note = Some(format!(
                "nodeProcessCommandLine names the Windows path `{first}`; iisn runs `node` from PATH instead"
            ));
            "node".to_string()
        } else {
            return (
                Err(format!(
                    "nodeProcessCommandLine starts with the Windows path `{first}`, which does not exist on this machine"
                )),
                None,
            );
        }
    } else {
        first.to_string()
    };
    match find_program(&program, cwd, &ctx.env) {
        Some(p) => (Ok((p, tokens[1..].to_vec())), note),
        None => (
            Err(format!(
                "`{program}` (from nodeProcessCommandLine `{ncl}`) was not found{}",
                if program.contains('/') {
                    ""
                } else {
                    " on PATH"
                }
            )),
            note,
        ),
    }
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
        let log_dir = script_dir.join(if log_dir_setting.is_empty() {
            "iisnode".to_string()
        } else {
            log_dir_setting.replace('\\', "/")
        });
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
        if env_get(&ctx.env, "NODE_PENDING_PIPE_INSTANCES").is_none() {
            env.push(("NODE_PENDING_PIPE_INSTANCES".into(), "5000".into()));
        }
        env.extend(app.app_settings.iter().cloned());
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
        let spawn = command.map(|(program, args)| SpawnSpec {
            program,
            args,
            cwd: script_dir.clone(),
            env,
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
        let signature = format!(
            "{:?}|{process_count}|{:?}|{:?}|{}|{}",
            spawn, app.config_error, values, app.script_exists, config_error_text
        );
        AppPlan {
            signature,
            name: Arc::from(app.script_rel.as_str()),
            script: app.script.clone(),
            script_dir,
            script_exists: app.script_exists,
            process_count,
            spawn,
            command_note,
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
                max_head: s.uint(Attr::MaxRequestBufferSize).max(1) as usize,
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
    fn command_environment_and_limits() {
        let (_d, s) = site(
            r#"<configuration><appSettings><add key="A" value="1"/><add key="" value="x"/><add key="E" value=""/></appSettings><system.webServer><handlers><add name="n" path="app.js" verb="*" modules="iisnode"/></handlers><iisnode nodeProcessCommandLine="&quot;C:\Program Files\nodejs\node.exe&quot; --max-old-space-size=64" node_env="production" nodeProcessCountPerApplication="0" promoteServerVars="REQUEST_METHOD, AUTH_USER,,X"/></system.webServer></configuration>"#,
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
        assert!(env.contains(&"COMPUTERNAME=devbox".to_string()));
        assert_eq!(p.process_count, 2, "0 means one per CPU");
        assert_eq!(p.promote, ["REQUEST_METHOD", " AUTH_USER", "X"]);
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
