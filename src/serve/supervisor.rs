//! The supervisor: everything that changes a running site.
//!
//! It owns the current set of pools and the [`ServerCtx`] requests see, and acts on
//! [`Control`] messages from four sources:
//!
//! * the `watchedFiles` watcher of each application → recycle that application (or re-read
//!   the configuration when the changed entry is the `configOverrides` file);
//! * the configuration watcher (every web.config, `app_offline.htm`) → re-read everything
//!   from scratch (DECISIONS.md §3) and recycle the applications whose effective
//!   configuration changed, plus every application at or below the folder of a web.config
//!   that changed, appeared or went away, even when its content is the same (iisnode's
//!   `RecycleApplicationOnConfigChange`); or take the site offline and back;
//! * the recycle signal socket (`IISNODE_CONTROL_PIPE`) → recycle every application, as
//!   many times as asked (DECISIONS.md §10);
//! * `rs` + Enter on a terminal (nodemon's convention) → recycle every application.
//!
//! A broken configuration never stops the site: the affected applications answer with
//! iisnode's configuration error page until the file is fixed (DECISIONS.md §5).
//!
//! A change takes effect for the next request (DECISIONS.md §8): the watchers close the
//! [`ChangeGate`](super::watcher::ChangeGate) as a relevant file event happens, requests
//! wait at it ([`settled`], called by the front before it routes), and the supervisor opens
//! it right after the new configuration or generation takes new requests. A recycle or
//! reload therefore switches first and starts the new workers after (requests wait for them
//! to listen, within the connect-retry budget), and the old generation drains meanwhile.
//! The applications a wildcard handler creates on their first request are noticed within a
//! moment, watched, and their start problems printed ([`announce`]).

use std::collections::{BTreeSet, HashSet};
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
use super::watcher::{self, Fingerprints, Pending, Wake, WatchEntry};

/// What the supervisor is asked to do.
///
/// `pending` holds the [`ChangeGate`](super::watcher::ChangeGate) closed while the message
/// waits and is handled: requests wait until new ones route to the new configuration or
/// generation, and it is dropped right after that switch.
#[derive(Debug)]
pub enum Control {
    /// Recycle one application (by name) or all.
    Recycle {
        app: Option<Arc<str>>,
        trigger: String,
        pending: Option<Pending>,
    },
    /// Re-read the configuration; `force` names an application to recycle even if its
    /// effective configuration did not change (iisnode recycles on every iisnode.yml write).
    /// `fold` marks the one more check after a burst of events: it stays quiet when
    /// nothing changed.
    Reload {
        trigger: String,
        force: Option<Arc<str>>,
        /// Folders whose web.config changed: every application whose script is at or below
        /// one is recycled even if its effective configuration did not change, as iisnode
        /// recycles every application below an IIS configuration change
        /// (`RecycleApplicationOnConfigChange`), a touch of web.config included.
        force_below: Vec<PathBuf>,
        pending: Option<Pending>,
        fold: bool,
    },
    /// Applications appeared since the watchers started (a wildcard handler's first
    /// request for a script): watch them and say what is wrong with them.
    Rewatch,
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
    /// One watcher per application, kept across reloads while its entries are the same (so
    /// a change right after a reload is not lost between two watchers).
    app_watchers: std::collections::HashMap<Arc<str>, AppWatcher>,
    config_watcher: Option<JoinHandle<()>>,
    offline: Option<Bytes>,
    /// Fingerprints of the configuration files as they were when the current configuration
    /// was read: a change that lands while a reload runs is still noticed afterwards.
    config_baseline: std::collections::HashMap<PathBuf, u64>,
    /// How many applications the current watchers cover.
    watched: usize,
    /// Applications whose problems were already printed ([`announce`]).
    announced: HashSet<Arc<str>>,
    /// Command-line notes already printed (each is said once).
    notes: HashSet<String>,
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
        let pools = ctx_tx.borrow().router.pools();
        let announced = pools.iter().map(|p| p.plan.name.clone()).collect();
        let notes = pools
            .iter()
            .flat_map(|p| p.plan.command_note.iter().chain(p.plan.notes.iter()))
            .cloned()
            .collect();
        let mut sup = Supervisor {
            s,
            ctx_tx,
            control_tx,
            app_watchers: std::collections::HashMap::new(),
            config_watcher: None,
            offline,
            config_baseline,
            watched: 0,
            announced,
            notes,
        };
        // Watch from now on: a file written as soon as the site listens is noticed.
        sup.restart_watchers();
        sup
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
        tokio::spawn(notice_new_apps(
            self.ctx_tx.subscribe(),
            self.control_tx.clone(),
        ));
        while let Some(c) = rx.recv().await {
            match c {
                Control::Recycle {
                    app,
                    trigger,
                    pending,
                } => self.recycle(app.as_deref(), &trigger, pending).await,
                Control::Reload {
                    trigger,
                    force,
                    force_below,
                    pending,
                    fold,
                } => {
                    let force = Force {
                        app: force.as_deref(),
                        below: &force_below,
                    };
                    self.reload(&trigger, force, pending, fold).await
                }
                Control::Rewatch => {
                    let ctx = self.current();
                    let pools = ctx.router.pools();
                    if pools.len() != self.watched {
                        for p in &pools {
                            if self.announced.insert(p.plan.name.clone()) {
                                let events = self.s.shared.events.clone();
                                announce(&events, p, &mut self.notes);
                            }
                        }
                        self.restart_watchers();
                    }
                }
            }
        }
        self.stop_watchers();
    }

    /// Recycles `app` (or every application): a new generation takes new requests at once
    /// (they wait for it to listen, within the connect-retry budget, as after a lazy start),
    /// and the old one drains in the background (DECISIONS.md §8).
    async fn recycle(&mut self, app: Option<&str>, trigger: &str, pending: Option<Pending>) {
        if self.offline.is_some() {
            return;
        }
        let cur = self.current();
        let pools = cur.router.pools();
        if self.s.lazy {
            // iisnode's own recycle: the slots empty now, new workers start on demand.
            let targets: Vec<_> = pools
                .into_iter()
                .filter(|p| app.is_none_or(|a| *p.plan.name == *a))
                .collect();
            super::pool::futures_join_all(targets.iter().map(|p| p.recycle(true, trigger))).await;
            return;
        }
        let mut next = Vec::with_capacity(pools.len());
        let mut replaced = Vec::new();
        for p in pools {
            if app.is_none_or(|a| *p.plan.name == *a) {
                self.events().emit(ServeEvent::RecycleStarted {
                    app: p.plan.name.clone(),
                    trigger: trigger.to_string(),
                });
                if p.debug_mode().is_some() {
                    self.events().emit(ServeEvent::Note {
                        text: format!("{}: the recycle ends debug mode", p.plan.name),
                    });
                }
                let fresh = AppPool::new(p.plan.clone(), self.s.shared.clone());
                replaced.push((p, fresh.clone()));
                next.push(fresh);
            } else {
                next.push(p);
            }
        }
        if replaced.is_empty() {
            return;
        }
        let ctx = self.make_ctx(cur.router.site().clone(), next, cur.offline.clone());
        let _ = self.ctx_tx.send(ctx);
        drop(pending);
        for (old, fresh) in replaced {
            self.switch(old, fresh);
        }
    }

    /// After `fresh` replaced `old` in the routing table: starts `fresh` (unless it starts
    /// on demand), reports when it is ready, and retires `old`.
    fn switch(&self, old: Arc<AppPool>, fresh: Arc<AppPool>) {
        let events = self.events().clone();
        let in_flight = old.active.load(std::sync::atomic::Ordering::Acquire);
        let eager = !self.s.lazy && !fresh.plan.on_demand && fresh.can_start();
        let started = std::time::Instant::now();
        tokio::spawn(async move {
            let retire = old.retire();
            if eager {
                let ready = async {
                    fresh.start_ready().await;
                    events.emit(ServeEvent::RecycleSwitched {
                        app: fresh.plan.name.clone(),
                        ready_after: Some(started.elapsed()),
                        in_flight,
                    });
                };
                tokio::join!(retire, ready);
            } else {
                events.emit(ServeEvent::RecycleSwitched {
                    app: fresh.plan.name.clone(),
                    ready_after: None,
                    in_flight,
                });
                retire.await;
            }
        });
    }

    /// Re-reads the site from scratch and swaps in the new configuration. New requests
    /// route to it at once (the gate held by `pending` opens right after the swap); the
    /// applications whose configuration changed start their new generation after that.
    async fn reload(
        &mut self,
        trigger: &str,
        force: Force<'_>,
        pending: Option<Pending>,
        fold: bool,
    ) {
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
        let offline = read_offline(&site.root);
        let old = self.current();
        let old_pools = old.router.pools();

        if offline.is_some() {
            let ctx = self.make_ctx(Arc::new(site), Vec::new(), offline.clone());
            let _ = self.ctx_tx.send(ctx);
            self.restart_watchers();
            drop(pending);
            if self.offline.is_none() {
                self.events().emit(ServeEvent::Warning {
                    text: format!(
                        "{APP_OFFLINE} found: the site is offline (every request gets it with 503) until it is removed"
                    ),
                });
            }
            self.offline = offline;
            for p in old_pools {
                p.retire().await;
            }
            return;
        }
        let was_offline = self.offline.take().is_some();

        let fresh = new_pools(&site, &self.s.plan_ctx, &self.s.shared);
        let mut pools = Vec::new();
        let mut started = Vec::new();
        for p in fresh {
            let forced = force.app.is_some_and(|f| *p.plan.name == *f)
                || force.below.iter().any(|d| p.plan.script_dir.starts_with(d));
            let same = old_pools.iter().find(|o| {
                !forced && o.plan.name == p.plan.name && o.plan.signature == p.plan.signature
            });
            tracing::debug!(trigger, app = %p.plan.name, unchanged = same.is_some(), forced, "reload: application compared with the running one");
            match same {
                Some(o) if !was_offline => pools.push(o.clone()),
                _ => {
                    started.push(p.clone());
                    pools.push(p);
                }
            }
        }
        let site = Arc::new(site);
        let ctx = self.make_ctx(site.clone(), pools.clone(), None);
        let _ = self.ctx_tx.send(ctx);
        self.restart_watchers();
        drop(pending);

        if fold && started.is_empty() && !was_offline {
            // The one more check after a burst: nothing changed since the first reload.
            return;
        }
        self.print_diagnostics(&site);
        if !self.s.quiet {
            self.events().emit(ServeEvent::Note {
                text: format!("{trigger}: configuration re-read"),
            });
        }
        if was_offline {
            self.events().emit(ServeEvent::Note {
                text: format!("{APP_OFFLINE} removed: the site is back online"),
            });
        }
        let events = self.s.shared.events.clone();
        for p in &started {
            if self.announced.insert(p.plan.name.clone()) {
                announce(&events, p, &mut self.notes);
            }
        }
        let mut switched = Vec::new();
        for o in old_pools {
            if pools.iter().any(|p| Arc::ptr_eq(p, &o)) {
                continue;
            }
            match pools.iter().find(|p| p.plan.name == o.plan.name) {
                Some(p) => {
                    self.events().emit(ServeEvent::RecycleStarted {
                        app: p.plan.name.clone(),
                        trigger: trigger.to_string(),
                    });
                    switched.push(p.plan.name.clone());
                    self.switch(o, p.clone());
                }
                None => o.retire().await,
            }
        }
        // Applications that are new in this configuration start as at launch.
        if !self.s.lazy {
            for p in started
                .iter()
                .filter(|p| !switched.contains(&p.plan.name) && !p.plan.on_demand && p.can_start())
            {
                let p = p.clone();
                tokio::spawn(async move { p.start_all().await });
            }
        }
        if started.is_empty() && !was_offline {
            self.events().emit(ServeEvent::Note {
                text: "no application changed".into(),
            });
        }
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
        self.events().gate.set_sentinel(None);
        for (_, w) in self.app_watchers.drain() {
            w.task.abort();
        }
        if let Some(h) = self.config_watcher.take() {
            h.abort();
        }
    }

    /// Brings the watchers in line with the current applications. Everything is set up
    /// before this returns (the file watches and the fingerprints they compare with), so a
    /// change made right after a reload, once the gate opens, is noticed.
    fn restart_watchers(&mut self) {
        if !self.s.watch {
            self.stop_watchers();
            return;
        }
        let ctx = self.current();
        let site = ctx.router.site().clone();
        let config_files = config_files(&site);
        let mut min_poll = Duration::from_millis(5000);
        let pools = ctx.router.pools();
        self.watched = pools.len();
        let mut keep = std::collections::HashMap::new();
        for p in pools {
            let s = &p.plan.settings;
            let poll = Duration::from_millis(u64::from(
                s.uint(Attr::UncFileChangesPollingInterval).max(100),
            ));
            min_poll = min_poll.min(poll);
            let (entries, skipped) = watcher::parse_watched_files(
                s.str(Attr::WatchedFiles),
                &p.plan.script_dir,
                s.str(Attr::ConfigOverrides),
            );
            if let Some(w) = self.app_watchers.remove(&p.plan.name) {
                if w.entries == entries && w.poll == poll && !w.task.is_finished() {
                    keep.insert(p.plan.name.clone(), w);
                    continue;
                }
                w.task.abort();
            }
            for sk in skipped.iter().filter(|k| !k.why.starts_with("web.config")) {
                self.events().emit(ServeEvent::Warning {
                    text: format!(
                        "{}: watchedFiles entry `{}` is not watched: {}",
                        p.plan.name, sk.raw, sk.why
                    ),
                });
            }
            let task = watch_app(
                p.plan.name.clone(),
                entries.clone(),
                poll,
                self.control_tx.clone(),
                self.events().gate.clone(),
            );
            keep.insert(
                p.plan.name.clone(),
                AppWatcher {
                    entries,
                    poll,
                    task,
                },
            );
        }
        for (_, w) in self.app_watchers.drain() {
            w.task.abort();
        }
        // The dispatch-time check over the configuration files' folders.
        let mut names: HashSet<String> = ["web.config".to_string(), APP_OFFLINE.to_string()]
            .into_iter()
            .collect();
        let mut dirs: BTreeSet<PathBuf> = config_files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        for w in keep.values() {
            for e in w.entries.iter().filter(|e| e.config_overrides) {
                names.insert(e.name.clone());
                dirs.insert(e.dir.clone());
            }
        }
        self.events().gate.set_sentinel(watcher::Sentinel::new(
            dirs.iter().map(PathBuf::as_path),
            names,
        ));
        self.app_watchers = keep;
        if let Some(h) = self.config_watcher.take() {
            h.abort();
        }
        let known = site.levels.iter().map(|l| l.file.clone()).collect();
        self.config_watcher = Some(watch_config(
            site.root.clone(),
            config_files,
            known,
            self.config_baseline.clone(),
            min_poll,
            self.control_tx.clone(),
            self.events(),
        ));
    }
}

/// A running `watchedFiles` watcher.
struct AppWatcher {
    entries: Vec<WatchEntry>,
    poll: Duration,
    task: JoinHandle<()>,
}

/// Watches one application's `watchedFiles`: the watch and the fingerprints are set up
/// now, the loop runs in a task.
fn watch_app(
    app: Arc<str>,
    entries: Vec<WatchEntry>,
    poll: Duration,
    tx: mpsc::Sender<Control>,
    gate: Arc<watcher::ChangeGate>,
) -> JoinHandle<()> {
    let dirs: BTreeSet<PathBuf> = entries.iter().map(|e| e.dir.clone()).collect();
    let relevant_entries = entries.clone();
    let relevant: watcher::Relevant =
        Box::new(move |p: &Path| watcher::matches_entries(&relevant_entries, p));
    let (notify_watcher, rx) = watcher::watch_dirs(&dirs, Some((gate, relevant)));
    let fps = Fingerprints::new(entries, watcher::fingerprint);
    tokio::spawn(app_loop(app, notify_watcher, rx, fps, poll, tx))
}

async fn app_loop(
    app: Arc<str>,
    _watcher: Option<notify::RecommendedWatcher>,
    mut rx: mpsc::UnboundedReceiver<watcher::FileEvent>,
    mut fps: Fingerprints<WatchEntry>,
    poll: Duration,
    tx: mpsc::Sender<Control>,
) {
    loop {
        let wake = watcher::next_event(&mut rx, poll).await;
        let (event, pending) = match wake {
            Wake::Event(p) => (true, p),
            Wake::Poll => (false, None),
        };
        let changed = fps.changed(watcher::fingerprint);
        if !changed.is_empty() {
            let msg = app_change(&app, &changed, pending, false);
            if tx.send(msg).await.is_err() {
                return;
            }
        } else {
            drop(pending);
        }
        if event {
            // Fold what follows into at most one more change, and only when the files
            // now differ from what the check above read.
            let hold = watcher::settle(&mut rx).await;
            let again = fps.changed(watcher::fingerprint);
            if !again.is_empty() && tx.send(app_change(&app, &again, hold, true)).await.is_err() {
                return;
            }
        }
    }
}

/// What a reload recycles even if its configuration did not change.
#[derive(Clone, Copy)]
struct Force<'a> {
    /// This application (its iisnode.yml was written).
    app: Option<&'a str>,
    /// Every application whose script is at or below one of these folders.
    below: &'a [PathBuf],
}

/// The folder of `path` when it is a web.config file.
fn web_config_dir(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    if name.eq_ignore_ascii_case("web.config") {
        path.parent().map(Path::to_path_buf)
    } else {
        None
    }
}

/// The message for changed `watchedFiles` entries of `app`.
fn app_change(
    app: &Arc<str>,
    changed: &[WatchEntry],
    pending: Option<Pending>,
    fold: bool,
) -> Control {
    let first = &changed[0];
    let path = first.dir.join(&first.name);
    if let Some(yml) = changed.iter().find(|e| e.config_overrides) {
        return Control::Reload {
            trigger: format!("{} changed", yml.dir.join(&yml.name).display()),
            // iisnode recycles on every iisnode.yml write (the fold's check runs only when
            // the file differs from what the first check read).
            force: Some(app.clone()),
            force_below: Vec::new(),
            pending,
            fold,
        };
    }
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
        pending,
    }
}

/// Asks the supervisor to look again when the number of applications changes (a wildcard
/// handler created one on its first request).
async fn notice_new_apps(ctx_rx: watch::Receiver<Arc<ServerCtx>>, tx: mpsc::Sender<Control>) {
    // The first look always asks: applications may have appeared before this task ran.
    let mut seen = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = ctx_rx.borrow().router.pools().len();
        if now != seen {
            seen = now;
            if tx.send(Control::Rewatch).await.is_err() {
                return;
            }
        }
    }
}

/// Says once, in the terminal, what is wrong with an application before any request
/// reaches it: the command line's substitution, a configuration error, a command that
/// cannot start, a missing script. Each distinct command-line note is printed once.
pub fn announce(events: &Events, p: &AppPool, notes: &mut HashSet<String>) {
    if let Some(note) = &p.plan.command_note
        && notes.insert(note.clone())
    {
        events.emit(ServeEvent::Note { text: note.clone() });
    }
    for note in &p.plan.notes {
        if notes.insert(note.clone()) {
            events.emit(ServeEvent::Note { text: note.clone() });
        }
    }
    match (&p.plan.config_error, &p.plan.spawn) {
        (Some(_), _) => events.emit(ServeEvent::Warning {
            text: format!(
                "{} has configuration errors (above): requests get iisnode's configuration error page until the file is fixed",
                p.plan.name
            ),
        }),
        (None, Err(e)) => events.emit(ServeEvent::Warning {
            text: format!("{} cannot start: {e}", p.plan.name),
        }),
        _ => {}
    }
    if !p.plan.script_exists {
        events.emit(ServeEvent::Warning {
            text: format!(
                "{}: the script does not exist; requests for it get 404",
                p.plan.name
            ),
        });
    }
}

/// The current configuration for a request: when a file change is being applied, waits
/// (at most [`watcher::GATE_LIMIT`]) until new requests route to it. One atomic load when
/// nothing changes.
pub fn settled(
    rx: &watch::Receiver<Arc<ServerCtx>>,
) -> impl std::future::Future<Output = Arc<ServerCtx>> + Send + use<> {
    let now = rx.borrow().clone();
    let gate = &now.router.shared_events().gate;
    let fired = gate.sentinel_fired();
    let later = (fired || !gate.is_open()).then(|| rx.clone());
    async move {
        match later {
            None => now,
            // Boxed: the waits (timers) would make every request's future larger, and it
            // is moved as the request starts.
            Some(rx) => Box::pin(wait_settled(now, rx, fired)).await,
        }
    }
}

/// [`settled`] while a file change is being applied.
async fn wait_settled(
    now: Arc<ServerCtx>,
    rx: watch::Receiver<Arc<ServerCtx>>,
    fired: bool,
) -> Arc<ServerCtx> {
    let gate = now.router.shared_events().gate.clone();
    drop(now);
    if fired {
        gate.wait_taken(Duration::from_millis(100)).await;
    }
    gate.wait_open(watcher::GATE_LIMIT).await;
    rx.borrow().clone()
}

/// Every configuration file of a site (existing or not): the web.config of each level and
/// of the root, and `app_offline.htm`.
fn config_files(site: &LoadedSite) -> Vec<PathBuf> {
    // Each level's web.config and the files its sections name with `configSource`.
    let mut files: Vec<PathBuf> = site.config_files();
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

/// Watches the configuration files: set up now, the loop runs in a task.
fn watch_config(
    root: PathBuf,
    files: Vec<PathBuf>,
    known: BTreeSet<PathBuf>,
    baseline: std::collections::HashMap<PathBuf, u64>,
    poll: Duration,
    tx: mpsc::Sender<Control>,
    events: &Events,
) -> JoinHandle<()> {
    let (gate, poke) = (events.gate.clone(), events.config_poke.clone());
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .chain(std::iter::once(root.clone()))
        .collect();
    let relevant: watcher::Relevant = Box::new(|p: &Path| {
        p.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.eq_ignore_ascii_case("web.config") || n.eq_ignore_ascii_case(APP_OFFLINE)
        })
    });
    let (notify_watcher, rx) = watcher::watch_dirs(&dirs, Some((gate, relevant)));
    // Start from the fingerprints the configuration was read with, so a change made while
    // it was being (re)loaded is caught by the first check below.
    let fps = Fingerprints::new(files, |p| {
        baseline
            .get(p)
            .copied()
            .unwrap_or_else(|| file_fingerprint(p))
    });
    tokio::spawn(config_loop(
        root,
        known,
        notify_watcher,
        rx,
        fps,
        (poll, poke),
        tx,
    ))
}

async fn config_loop(
    root: PathBuf,
    known: BTreeSet<PathBuf>,
    _watcher: Option<notify::RecommendedWatcher>,
    mut rx: mpsc::UnboundedReceiver<watcher::FileEvent>,
    mut fps: Fingerprints<PathBuf>,
    (poll, poke): (Duration, Arc<tokio::sync::Notify>),
    tx: mpsc::Sender<Control>,
) {
    let fp = |p: &PathBuf| file_fingerprint(p);
    let mut first = true;
    loop {
        let (event, pending) = if std::mem::take(&mut first) {
            (false, None)
        } else {
            // A poke (a request met a web.config the configuration does not hold) checks
            // at once, as the poll would.
            let woke = tokio::select! {
                w = watcher::next_event(&mut rx, poll) => w,
                () = poke.notified() => Wake::Poll,
            };
            match woke {
                Wake::Event(p) => (true, p),
                Wake::Poll => (false, None),
            }
        };
        let changed = fps.changed(fp);
        // The folders of the web.config files that changed, appeared or went away: IIS
        // reports each as a configuration change there, and iisnode recycles every
        // application below it.
        let mut force_below: Vec<PathBuf> =
            changed.iter().filter_map(|p| web_config_dir(p)).collect();
        let trigger = match changed.first() {
            Some(first) => Some(format!("{} changed", first.display())),
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
                let first = found.symmetric_difference(&known).next();
                force_below.extend(first.and_then(|p| web_config_dir(p)));
                match first {
                    Some(p) if found.contains(p) => Some(format!("{} appeared", p.display())),
                    Some(p) => Some(format!("{} was removed", p.display())),
                    None => None,
                }
            }
        };
        if let Some(trigger) = trigger {
            let msg = Control::Reload {
                trigger,
                force: None,
                force_below,
                pending,
                fold: false,
            };
            if tx.send(msg).await.is_err() {
                return;
            }
            if event {
                let hold = watcher::settle(&mut rx).await;
                let again = fps.changed(fp);
                if let Some(p) = again.first() {
                    // The one more check of a burst recycles only what changed: the first
                    // reload already recycled everything below the files.
                    let msg = Control::Reload {
                        trigger: format!("{} changed", p.display()),
                        force: None,
                        force_below: Vec::new(),
                        pending: hold,
                        fold: true,
                    };
                    if tx.send(msg).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// What iisnode makes of one message on its control pipe.
#[derive(Debug, PartialEq, Eq)]
pub enum Signal {
    /// `recycle`, in any case: recycle.
    Recycle,
    /// Not `recycle` as written, but `recycle` once surrounding whitespace is removed (a
    /// `recycle\n`): iisnode ignores it, and iisn says why.
    Padded,
    /// Anything else: ignored, as iisnode does.
    Other,
}

/// Classifies the first message read from the control socket as iisnode's
/// `ControlSignalHandler` does: it reads one message of at most 64 bytes into a zeroed buffer
/// and compares it with `strnicmp(buffer, "recycle", 64)`, so the text must be exactly
/// `recycle` (any case) up to an optional NUL; `recycle\n` does not match.
pub fn classify_signal(message: &[u8]) -> Signal {
    let message = &message[..message.len().min(CONTROL_MESSAGE_MAX)];
    let text = message
        .iter()
        .position(|&b| b == 0)
        .map_or(message, |nul| &message[..nul]);
    if text.eq_ignore_ascii_case(b"recycle") {
        Signal::Recycle
    } else if text.trim_ascii().eq_ignore_ascii_case(b"recycle") {
        Signal::Padded
    } else {
        Signal::Other
    }
}

/// iisnode's control pipe buffer (`MAX_BUFFER_SIZE`): one message is at most 64 bytes.
const CONTROL_MESSAGE_MAX: usize = 64;

/// Listens on the recycle-signal socket: a client writing `recycle` recycles every
/// application. Unlike iisnode (one signal per worker process lifetime), it keeps
/// listening. As iisnode reads one message from its message-mode pipe, iisn acts on the first
/// read of each connection: a client that writes `recycle` and keeps the socket open
/// recycles at once, without waiting for the end of the stream.
pub async fn control_socket(
    listener: tokio::net::UnixListener,
    tx: mpsc::Sender<Control>,
    events: Events,
) {
    use tokio::io::AsyncReadExt;
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let tx = tx.clone();
        let events = events.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; CONTROL_MESSAGE_MAX];
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            let Ok(Ok(n)) = read else {
                return;
            };
            match classify_signal(&buf[..n]) {
                Signal::Recycle => {
                    let _ = tx
                        .send(Control::Recycle {
                            app: None,
                            trigger: "recycle signal from node (IISNODE_CONTROL_PIPE)".into(),
                            pending: None,
                        })
                        .await;
                }
                Signal::Padded => events.emit(ServeEvent::Warning {
                    text: format!(
                        "node wrote {:?} to IISNODE_CONTROL_PIPE: iisnode recycles only on the exact text `recycle` (no spaces or line break), so nothing is recycled",
                        String::from_utf8_lossy(&buf[..n])
                    ),
                }),
                Signal::Other => {}
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
                        pending: None,
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

/// The first WebSocket upgrade request for an iisnode application while IIS's own WebSocket
/// module is on (no `<webSocket enabled="false"/>`): on IIS that module takes the upgrade and
/// the request never reaches node, although iisn tunnels it. The terminal says so once, with
/// the same advice as `iisn check` (IISN7007), so what breaks on IIS shows up locally.
pub fn note_upgrade(
    ctx: &ServerCtx,
    config: &super::pipeline::FolderConfig,
    headers: &http::HeaderMap,
    app: &str,
) {
    // A scan of the few names, cheaper than a hashed lookup on every request.
    if !config.eff.web_socket_enabled || !headers.keys().any(|n| n == http::header::UPGRADE) {
        return;
    }
    let events = ctx.router.shared_events();
    if events
        .upgrade_noted
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        return;
    }
    let site = ctx.router.site();
    let file = match config.eff.web_socket_span {
        Some(span) => render::location(&site.sources, span, &site.root),
        None => site
            .levels
            .iter()
            .rfind(|l| {
                l.config.is_some() && crate::config::site::is_ancestor(&l.dir_rel, &config.key)
            })
            .map(|l| render::display_path(&l.file, &site.root))
            .unwrap_or_else(|| "web.config".into()),
    };
    events.emit(ServeEvent::Warning {
        text: format!(
            "a WebSocket upgrade for {app} reached node here, but on IIS it would not: IIS's WebSocket module is on ({file} does not disable it) and takes WebSocket requests before iisnode. Add <webSocket enabled=\"false\"/> under <system.webServer> in {file}."
        ),
    });
}

#[cfg(test)]
mod tests {
    use super::{Signal, classify_signal};

    #[test]
    fn the_recycle_signal_is_the_exact_word_in_any_case() {
        assert_eq!(classify_signal(b"recycle"), Signal::Recycle);
        assert_eq!(classify_signal(b"RECYCLE"), Signal::Recycle);
        assert_eq!(classify_signal(b"ReCycle"), Signal::Recycle);
        // strnicmp stops at a NUL, as the zeroed buffer ends every shorter message.
        assert_eq!(classify_signal(b"recycle\0junk"), Signal::Recycle);
    }

    #[test]
    fn padded_or_other_messages_do_not_recycle() {
        // iisnode compares up to the NUL: the line break is part of the message.
        assert_eq!(classify_signal(b"recycle\n"), Signal::Padded);
        assert_eq!(classify_signal(b"recycle\r\n"), Signal::Padded);
        assert_eq!(classify_signal(b" recycle"), Signal::Padded);
        assert_eq!(classify_signal(b"recyclex"), Signal::Other);
        assert_eq!(classify_signal(b"recycl"), Signal::Other);
        assert_eq!(classify_signal(b""), Signal::Other);
        assert_eq!(classify_signal(b"please recycle"), Signal::Other);
    }
}
