//! The supervisor: everything that changes a running site.
//!
//! It owns the current set of pools and the [`ServerCtx`] requests see, and acts on
//! [`Control`] messages from four sources:
//!
//! * the `watchedFiles` watcher of each application → recycle that application (or re-read
//!   the configuration when the changed entry is the `configOverrides` file);
//! * the configuration watcher (every web.config, `app_offline.htm`) → re-read everything
//!   from scratch and recycle exactly the applications whose effective configuration changed
//!   (DECISIONS.md §3), or take the site offline and back;
//! * the recycle signal socket (`IISNODE_CONTROL_PIPE`) → recycle every application, as
//!   many times as asked (DECISIONS.md §10);
//! * `rs` + Enter on a terminal (nodemon's convention) → recycle every application.
//!
//! A broken configuration never stops the site: the affected applications answer with
//! iisnode's configuration error page until the file is fixed (DECISIONS.md §5).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::schema::Attr;
use crate::config::{LoadOptions, LoadedSite, load_site};
use crate::diag::{Severity, render};
use crate::ui::Styles;

use super::events::{Events, ServeEvent};
use super::front::ServerCtx;
use super::plan::{AppPlan, PlanContext};
use super::pool::{AppPool, Shared};
use super::router::Router;
use super::server_vars::AuthEmulation;
use super::watcher::{self, Fingerprints, WatchEntry};

/// What the supervisor is asked to do.
#[derive(Debug)]
pub enum Control {
    /// Recycle one application (by name) or all.
    Recycle {
        app: Option<Arc<str>>,
        trigger: String,
    },
    /// Re-read the configuration; `force` names an application to recycle even if its
    /// effective configuration did not change (iisnode recycles on every iisnode.yml write).
    Reload {
        trigger: String,
        force: Option<Arc<str>>,
    },
}

/// The name of the maintenance file (ASP.NET Core Module's convention).
pub const APP_OFFLINE: &str = "app_offline.htm";

/// Static inputs of the supervisor.
pub struct Settings {
    pub site_path: PathBuf,
    pub load: LoadOptions,
    pub plan_ctx: PlanContext,
    pub shared: Arc<Shared>,
    pub auth: Option<AuthEmulation>,
    pub local_addr: std::net::SocketAddr,
    pub hostname: String,
    pub lazy: bool,
    pub watch: bool,
    /// Print diagnostics found on reload to stderr with colour.
    pub err_color: bool,
    /// Emit per-request events (`-v`).
    pub access_log: bool,
    pub quiet: bool,
    /// `--app-path`: the virtual path the site is mounted at.
    pub app_path: Option<String>,
}

pub struct Supervisor {
    s: Settings,
    ctx_tx: watch::Sender<Arc<ServerCtx>>,
    control_tx: mpsc::Sender<Control>,
    app_watchers: Vec<JoinHandle<()>>,
    config_watcher: Option<JoinHandle<()>>,
    offline: Option<Bytes>,
    /// Fingerprints of the configuration files as they were when the current configuration
    /// was read: a change that lands while a reload runs is still noticed afterwards.
    config_baseline: std::collections::HashMap<PathBuf, u64>,
}

/// Rendered error diagnostics, for the configuration error page.
pub fn error_text(site: &LoadedSite) -> String {
    site.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| render::human(d, &site.sources, &site.root, &Styles::plain()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Builds the pools of a freshly loaded site (no worker started).
pub fn new_pools(site: &LoadedSite, ctx: &PlanContext, shared: &Arc<Shared>) -> Vec<Arc<AppPool>> {
    let text = error_text(site);
    site.apps
        .iter()
        .map(|app| {
            AppPool::new(
                Arc::new(AppPlan::resolve(app, ctx, text.clone())),
                shared.clone(),
            )
        })
        .collect()
}

fn read_offline(root: &Path) -> Option<Bytes> {
    std::fs::read(root.join(APP_OFFLINE)).ok().map(Bytes::from)
}

impl Supervisor {
    pub fn new(
        s: Settings,
        ctx_tx: watch::Sender<Arc<ServerCtx>>,
        control_tx: mpsc::Sender<Control>,
    ) -> Supervisor {
        let offline = ctx_tx.borrow().offline.clone();
        let site = ctx_tx.borrow().router.site().clone();
        let config_baseline = config_fingerprints(&config_files(&site));
        Supervisor {
            s,
            ctx_tx,
            control_tx,
            app_watchers: Vec::new(),
            config_watcher: None,
            offline,
            config_baseline,
        }
    }

    fn events(&self) -> &Events {
        &self.s.shared.events
    }

    fn current(&self) -> Arc<ServerCtx> {
        self.ctx_tx.borrow().clone()
    }

    fn make_ctx(
        &self,
        site: Arc<LoadedSite>,
        pools: Vec<Arc<AppPool>>,
        offline: Option<Bytes>,
    ) -> Arc<ServerCtx> {
        Arc::new(ServerCtx {
            router: Router::new(
                site,
                pools,
                self.s.shared.clone(),
                self.s.plan_ctx.clone(),
                self.s.load.clone(),
            )
            .with_app_path(self.s.app_path.as_deref()),
            auth: self.s.auth.clone(),
            local_addr: self.s.local_addr,
            hostname: self.s.hostname.clone(),
            offline,
            access_log: self.s.access_log,
        })
    }

    /// Starts the watchers and handles control messages until the channel closes.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Control>) {
        self.restart_watchers();
        while let Some(c) = rx.recv().await {
            match c {
                Control::Recycle { app, trigger } => self.recycle(app.as_deref(), &trigger).await,
                Control::Reload { trigger, force } => self.reload(&trigger, force.as_deref()).await,
            }
        }
        self.stop_watchers();
    }

    async fn recycle(&mut self, app: Option<&str>, trigger: &str) {
        if self.offline.is_some() {
            return;
        }
        let pools = self.current().router.pools();
        let targets: Vec<_> = pools
            .into_iter()
            .filter(|p| app.is_none_or(|a| *p.plan.name == *a))
            .collect();
        super::pool::futures_join_all(targets.iter().map(|p| p.recycle(self.s.lazy, trigger)))
            .await;
    }

    /// Re-reads the site from scratch and swaps in the new configuration.
    async fn reload(&mut self, trigger: &str, force: Option<&str>) {
        let before = config_files(&self.current().router.site().clone());
        self.config_baseline = config_fingerprints(&before);
        let site = match load_site(&self.s.site_path, &self.s.load) {
            Ok(s) => s,
            Err(e) => {
                self.events().emit(ServeEvent::Warning {
                    text: format!("{trigger}: cannot re-read the site: {e}"),
                });
                return;
            }
        };
        self.print_diagnostics(&site);
        if !self.s.quiet {
            self.events().emit(ServeEvent::Note {
                text: format!("{trigger}: configuration re-read"),
            });
        }
        let offline = read_offline(&site.root);
        let old = self.current();
        let old_pools = old.router.pools();

        if offline.is_some() {
            if self.offline.is_none() {
                self.events().emit(ServeEvent::Warning {
                    text: format!(
                        "{APP_OFFLINE} found: the site is offline (every request gets it with 503) until it is removed"
                    ),
                });
            }
            self.offline = offline.clone();
            let ctx = self.make_ctx(Arc::new(site), Vec::new(), offline);
            let _ = self.ctx_tx.send(ctx);
            for p in old_pools {
                p.retire().await;
            }
            self.restart_watchers();
            return;
        }
        let was_offline = self.offline.take().is_some();
        if was_offline {
            self.events().emit(ServeEvent::Note {
                text: format!("{APP_OFFLINE} removed: the site is back online"),
            });
        }

        let fresh = new_pools(&site, &self.s.plan_ctx, &self.s.shared);
        let mut pools = Vec::new();
        let mut started = Vec::new();
        for p in fresh {
            let forced = force.is_some_and(|f| *p.plan.name == *f);
            let same = old_pools.iter().find(|o| {
                !forced && o.plan.name == p.plan.name && o.plan.signature == p.plan.signature
            });
            tracing::debug!(trigger, app = %p.plan.name, unchanged = same.is_some(), forced, "reload: application compared with the running one");
            match same {
                Some(o) if !was_offline => pools.push(o.clone()),
                _ => {
                    if old_pools.iter().any(|o| o.plan.name == p.plan.name) {
                        self.events().emit(ServeEvent::RecycleStarted {
                            app: p.plan.name.clone(),
                            trigger: trigger.to_string(),
                        });
                    }
                    started.push(p.clone());
                    pools.push(p);
                }
            }
        }
        if !self.s.lazy {
            let starts = started
                .iter()
                .filter(|p| p.can_start())
                .map(|p| p.start_ready());
            super::pool::futures_join_all(starts).await;
        }
        let ctx = self.make_ctx(Arc::new(site), pools.clone(), None);
        let _ = self.ctx_tx.send(ctx);
        for o in old_pools {
            if !pools.iter().any(|p| Arc::ptr_eq(p, &o)) {
                if let Some(p) = pools.iter().find(|p| p.plan.name == o.plan.name) {
                    self.events().emit(ServeEvent::RecycleSwitched {
                        app: p.plan.name.clone(),
                        ready_after: None,
                        in_flight: o.active.load(std::sync::atomic::Ordering::Acquire),
                    });
                }
                o.retire().await;
            }
        }
        if started.is_empty() && !was_offline {
            self.events().emit(ServeEvent::Note {
                text: "no application changed".into(),
            });
        }
        self.restart_watchers();
    }

    fn print_diagnostics(&self, site: &LoadedSite) {
        let st = Styles::new(self.s.err_color);
        let base = std::env::current_dir().unwrap_or_default();
        // The same loaders and lints as `iisn check` and as at start.
        for d in &crate::check::all(site) {
            let show = match d.severity {
                Severity::Error => true,
                Severity::Warning => !self.s.quiet,
                Severity::Info => false,
            };
            if show {
                eprintln!("{}", render::human(d, &site.sources, &base, &st));
            }
        }
    }

    fn stop_watchers(&mut self) {
        for h in self.app_watchers.drain(..) {
            h.abort();
        }
        if let Some(h) = self.config_watcher.take() {
            h.abort();
        }
    }

    fn restart_watchers(&mut self) {
        self.stop_watchers();
        if !self.s.watch {
            return;
        }
        let ctx = self.current();
        let site = ctx.router.site().clone();
        let config_files = config_files(&site);
        let mut poll = Duration::from_millis(5000);
        for p in ctx.router.pools() {
            let s = &p.plan.settings;
            poll = poll.min(Duration::from_millis(u64::from(
                s.uint(Attr::UncFileChangesPollingInterval).max(100),
            )));
            let (entries, skipped) = watcher::parse_watched_files(
                s.str(Attr::WatchedFiles),
                &p.plan.script_dir,
                s.str(Attr::ConfigOverrides),
            );
            for sk in skipped.iter().filter(|k| !k.why.starts_with("web.config")) {
                self.events().emit(ServeEvent::Warning {
                    text: format!(
                        "{}: watchedFiles entry `{}` is not watched: {}",
                        p.plan.name, sk.raw, sk.why
                    ),
                });
            }
            let handle = tokio::spawn(watch_app(
                p.plan.name.clone(),
                entries,
                poll,
                self.control_tx.clone(),
            ));
            self.app_watchers.push(handle);
        }
        let known = site.levels.iter().map(|l| l.file.clone()).collect();
        self.config_watcher = Some(tokio::spawn(watch_config(
            site.root.clone(),
            config_files,
            known,
            self.config_baseline.clone(),
            poll,
            self.control_tx.clone(),
        )));
    }
}

async fn watch_app(
    app: Arc<str>,
    entries: Vec<WatchEntry>,
    poll: Duration,
    tx: mpsc::Sender<Control>,
) {
    let dirs: BTreeSet<PathBuf> = entries.iter().map(|e| e.dir.clone()).collect();
    let (_watcher, mut rx) = watcher::watch_dirs(&dirs);
    let mut fps = Fingerprints::new(entries, watcher::fingerprint);
    loop {
        watcher::next_batch(&mut rx, poll).await;
        let changed = fps.changed(watcher::fingerprint);
        let Some(first) = changed.first() else {
            continue;
        };
        let path = first.dir.join(&first.name);
        let msg = if let Some(yml) = changed.iter().find(|e| e.config_overrides) {
            Control::Reload {
                trigger: format!("{} changed", yml.dir.join(&yml.name).display()),
                force: Some(app.clone()),
            }
        } else {
            Control::Recycle {
                app: Some(app.clone()),
                trigger: if first.wildcard {
                    format!(
                        "a file matching {} changed (watchedFiles entry `{}`)",
                        path.display(),
                        first.raw
                    )
                } else {
                    format!(
                        "{} changed (watchedFiles entry `{}`)",
                        path.display(),
                        first.raw
                    )
                },
            }
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Every configuration file of a site (existing or not): the web.config of each level and
/// of the root, and `app_offline.htm`.
fn config_files(site: &LoadedSite) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = site.levels.iter().map(|l| l.file.clone()).collect();
    files.push(site.root.join("web.config"));
    files.push(site.root.join(APP_OFFLINE));
    files.sort();
    files.dedup();
    files
}

fn file_fingerprint(p: &Path) -> u64 {
    watcher::fingerprint(&WatchEntry {
        raw: String::new(),
        dir: p.parent().map(Path::to_path_buf).unwrap_or_default(),
        name: p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        wildcard: false,
        config_overrides: false,
    })
}

fn config_fingerprints(files: &[PathBuf]) -> std::collections::HashMap<PathBuf, u64> {
    files
        .iter()
        .map(|f| (f.clone(), file_fingerprint(f)))
        .collect()
}

async fn watch_config(
    root: PathBuf,
    files: Vec<PathBuf>,
    known: BTreeSet<PathBuf>,
    baseline: std::collections::HashMap<PathBuf, u64>,
    poll: Duration,
    tx: mpsc::Sender<Control>,
) {
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .chain(std::iter::once(root.clone()))
        .collect();
    let (_watcher, mut rx) = watcher::watch_dirs(&dirs);
    let fp = |p: &PathBuf| file_fingerprint(p);
    // Start from the fingerprints the configuration was read with, so a change made while
    // it was being (re)loaded is caught by the first check below.
    let mut fps = Fingerprints::new(files, |p| baseline.get(p).copied().unwrap_or_else(|| fp(p)));
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            watcher::next_batch(&mut rx, poll).await;
        }
        let changed = fps.changed(fp);
        let trigger = match changed.first() {
            Some(first) => format!("{} changed", first.display()),
            None => {
                // A web.config that appeared in (or vanished from) a folder nobody watches:
                // compare the set of files with the one the configuration was read from.
                let walk_root = root.clone();
                let found: BTreeSet<PathBuf> = tokio::task::spawn_blocking(move || {
                    crate::config::site::discover_config_files(&walk_root)
                        .into_iter()
                        .collect()
                })
                .await
                .unwrap_or_else(|_| known.clone());
                match found.symmetric_difference(&known).next() {
                    Some(p) if found.contains(p) => format!("{} appeared", p.display()),
                    Some(p) => format!("{} was removed", p.display()),
                    None => continue,
                }
            }
        };
        let msg = Control::Reload {
            trigger,
            force: None,
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Listens on the recycle-signal socket: a client writing `recycle` recycles every
/// application. Unlike iisnode (one signal per worker process lifetime), it keeps
/// listening.
pub async fn control_socket(listener: tokio::net::UnixListener, tx: mpsc::Sender<Control>) {
    use tokio::io::AsyncReadExt;
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(64);
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                let mut chunk = [0u8; 64];
                while buf.len() < 64 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            })
            .await;
            let text = String::from_utf8_lossy(&buf);
            if read.is_ok() && text.trim().eq_ignore_ascii_case("recycle") {
                let _ = tx
                    .send(Control::Recycle {
                        app: None,
                        trigger: "recycle signal from node (IISNODE_CONTROL_PIPE)".into(),
                    })
                    .await;
            }
        });
    }
}

/// `rs` + Enter recycles everything (stdin must be a terminal).
pub fn read_stdin_commands(tx: mpsc::Sender<Control>) {
    let _ = std::thread::Builder::new()
        .name("iisn-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut line = String::new();
            loop {
                line.clear();
                match stdin.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line.trim() == "rs" {
                    let msg = Control::Recycle {
                        app: None,
                        trigger: "rs typed in the terminal".into(),
                    };
                    if tx.blocking_send(msg).is_err() {
                        return;
                    }
                }
            }
        });
}

/// Whether the site starts offline.
pub fn initial_offline(root: &Path) -> Option<Bytes> {
    read_offline(root)
}
