//! `iisn serve`: IIS + iisnode in one foreground process.
//!
//! # Theory of operation
//!
//! ```text
//!            TCP :8080                        Unix sockets (PORT) in a private 0700 dir
//!  client ─> front/downstream ─> pipeline ─> router ──> AppPool ── slot 1 ──> node <loader> app.js
//!                  │        │ filtering   │ handler   (round robin, └─ slot 2 ──> node ...
//!                  │        │ URL Rewrite │ mapping,   sticky, limits)     │ stdout/stderr
//!                  │        │ static files│ PATH_INFO                      ▼
//!                  │        └ default documents, httpErrors      capture ──> log files + events
//!                  └─ pages (IIS and iisnode errors)                                  │
//!                                                                                     ▼
//!  supervisor: watchers, config reloads, recycle signal, rs, app_offline.htm    term (text/JSON)
//! ```
//!
//! * [`pipeline`] is IIS in front of node: request filtering, URL Rewrite, handler selection,
//!   static files, default documents and error pages, in IIS's order, decided without
//!   sockets so it can be tested as a function.
//! * [`supervisor`] owns everything that changes a running site: recycles (watchedFiles,
//!   the recycle signal, `rs`), configuration reloads, `app_offline.htm`; [`watcher`] detects
//!   file changes with iisnode's semantics.
//! * [`plan`] resolves everything per application before anything opens (command line,
//!   environment, limits, log files).
//! * [`pool`] owns the slots of one application: round robin with iisnode's ticket, sticky
//!   sessions, the concurrency limit, spawning into empty slots.
//! * [`process`] spawns one worker (own process group, PR_SET_PDEATHSIG on Linux, from one
//!   long-lived thread), captures its output, notices its exit, stops it and what it started.
//! * [`job`] stands in for iisnode's job object: it finds the processes of a run or of one
//!   worker by the run directory in their environment (the worker's `PORT`), and runs the
//!   guardian that kills them if iisn is killed.
//! * [`proxy`] talks HTTP/1.1 to the worker over its socket with pooled connections, streams
//!   bodies both ways and tunnels upgrades: requests without a body go through iisn's own
//!   lean client ([`upstream`]: one write for the head, node's answer parsed from the
//!   connection's buffer, its body read by the client's task), requests with a body and
//!   upgrades through hyper's client.
//! * [`downstream`] serves the client's connection: iisn's own HTTP/1.1 loop for simple
//!   `GET`/`HEAD` requests (parsed with httparse, answered with hyper's exact encoding
//!   rules), handing the connection to hyper's server, with the bytes read so far, at the
//!   first request that is not simple (a body, an upgrade, `Expect`, HTTP/1.0, a malformed
//!   or incomplete head), so hyper's strictness toward clients stays whole. [`http_sys`]
//!   refuses what HTTP.sys refuses before IIS sees it (heads over 16 KiB, a missing or
//!   invalid Host, a target that is not a path).
//! * [`front`] accepts connections and runs the request pipeline ([`front::handle`], for
//!   both servers); [`router`] maps URLs to applications; [`pages`] renders IIS's and
//!   iisnode's own responses.
//!
//! Threads: the front runs one thread per core, each with a single-threaded tokio runtime
//! and its own listening socket (`SO_REUSEPORT`), so that a request, its worker connection
//! (pooled per thread) never leave one thread, and that connection is driven by the
//! request's own task (the client connection's task, which also polls node's response body;
//! only an upgrade request's connection gets a task of its own, since it may become a
//! tunnel); the hot path crosses threads only for the shared counters of the pool. Everything else
//! (supervisor, watchers, terminal, process spawning) runs on a small multi-threaded
//! runtime of its own. See `bench/` for how this is measured against nginx and PM2.
//! * [`debugger`] answers iisnode's `<script>/debug/` URLs with node's inspector (one
//!   worker in debug mode) and picks inspector ports for `--inspect`.
//! * [`events`] is the only bridge to the terminal ([`term`]).
//!
//! Shutdown: the first Ctrl-C (or SIGTERM, or SIGHUP: the terminal closed) stops accepting, lets requests in flight finish
//! (up to `gracefulShutdownTimeout`), then stops workers (SIGTERM to each process group and
//! to what each worker detached, SIGKILL after 2 s); a second Ctrl-C kills everything at
//! once. Then whatever still carries the run's mark is killed (children detached by workers
//! that had exited, workers of a pool still draining), and iisn waits for its guardian to
//! exit: no process of the run outlives iisn. If iisn never gets there (`kill -9`, a
//! panic), the workers die with it (PR_SET_PDEATHSIG) and the guardian, a second iisn
//! process waiting on a pipe from this one, kills what they started and removes the socket
//! directory; failing that, the next run removes the directory. All of this is Linux's: on
//! macOS only the workers' process groups are stopped (see [`job`]). iisn then exits with
//! 128 + the number of the first signal (130, 143, 129), as a shell reports a program that
//! signal ended, so a script can tell a stop from a clean exit (peers.md §4.2).

pub mod cmdline;
pub mod debugger;
pub mod downstream;
pub mod events;
pub mod front;
pub mod http_sys;
pub mod job;
pub mod live_trace;
pub mod loader;
pub mod logs;
pub mod pages;
pub mod pipeline;
pub mod plan;
pub mod pool;
pub mod process;
pub mod proxy;
pub mod router;
pub mod server_vars;
pub mod supervisor;
pub mod term;
pub mod transport;
pub mod upstream;
pub mod watcher;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::watch;

use crate::Error;
use crate::config::{LoadOptions, LoadedSite};

use events::{Events, ServeEvent};
use plan::PlanContext;
use pool::Shared;
use server_vars::AuthEmulation;

/// Everything `serve` needs, resolved from the command line.
#[derive(Debug)]
pub struct ServeOptions {
    pub host: IpAddr,
    pub port: u16,
    pub lazy: bool,
    pub esm: bool,
    pub processes: Option<usize>,
    pub auth: Option<AuthEmulation>,
    pub term: term::TermOptions,
    pub load: LoadOptions,
    /// The site as given on the command line (re-read on configuration changes).
    pub site_path: std::path::PathBuf,
    /// Watch files (`--no-watch` turns it off).
    pub watch: bool,
    /// Read `rs` + Enter from stdin (stdin is a terminal).
    pub stdin_commands: bool,
    /// Colour diagnostics printed on stderr.
    pub err_color: bool,
    /// Mount the site at this virtual path (`--app-path /PREFIX`), as an IIS application
    /// below a site's root: only URLs under it are served, and node sees them unchanged.
    pub app_path: Option<String>,
    /// `--inspect`: every worker starts with node's inspector on a port from its
    /// application's debuggerPortRange, and the terminal prints its DevTools address.
    pub inspect: bool,
}

fn hostname() -> String {
    #[cfg(unix)]
    {
        if let Ok(h) = nix::unistd::gethostname() {
            let h = h.to_string_lossy().into_owned();
            if !h.is_empty() {
                return h;
            }
        }
    }
    std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

/// Runs the site until Ctrl-C. Builds its own runtime.
pub fn run(site: LoadedSite, opts: ServeOptions) -> Result<(), Error> {
    let files = raise_open_files_limit();
    tracing::debug!(
        ?files,
        "open files limit (soft, hard) before and after raising it"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("iisn")
        .build()
        .map_err(|e| Error::ServeStart {
            message: format!("cannot start the async runtime: {e}"),
            hint: None,
        })?;
    rt.block_on(run_async(site, opts))
}

/// Raises this process's soft limit on open files to its hard limit, as node, nginx
/// (`worker_rlimit_nofile`) and Go programs do: every client and every connection to a
/// worker is a file, and the usual soft limit of 1,024 would refuse connections at about
/// 500 concurrent clients. Returns the soft limit before and after (`None` when it could
/// not be read). As Go does, the workers get the original limit back (on Linux; node raises
/// its own anyway), see `process::ORIGINAL_OPEN_FILES`.
#[cfg(unix)]
fn raise_open_files_limit() -> Option<(nix::libc::rlim_t, nix::libc::rlim_t)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let _ = process::ORIGINAL_OPEN_FILES.set((soft, hard));
    if soft >= hard {
        return Some((soft, soft));
    }
    // macOS reports an unlimited hard limit but refuses a soft limit above OPEN_MAX.
    let targets = [hard, hard.min(10_240)];
    for target in targets {
        if target > soft && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
            return Some((soft, target));
        }
    }
    Some((soft, soft))
}

#[cfg(not(unix))]
fn raise_open_files_limit() -> Option<(u64, u64)> {
    None
}

async fn run_async(site: LoadedSite, opts: ServeOptions) -> Result<(), Error> {
    let (events, rx) = Events::channel();
    let term_task = tokio::spawn(term::run(rx, opts.term.clone()));

    let sockets = transport::SocketDir::create().map_err(|e| Error::ServeStart {
        message: format!("cannot create the private directory for worker sockets: {e}"),
        hint: Some("set TMPDIR to a writable directory with a short path".into()),
    })?;
    // Kills what is left of the run if iisn dies without doing it (`kill -9`); see [`job`].
    #[cfg(target_os = "linux")]
    let guardian = match job::Guardian::start(sockets.path()) {
        Ok(g) => Some(g),
        Err(e) => {
            events.emit(ServeEvent::Warning {
                text: format!(
                    "cannot start iisn's guardian process ({e}): if iisn is killed, processes the workers started may keep running"
                ),
            });
            None
        }
    };
    #[cfg(not(target_os = "linux"))]
    let guardian: Option<job::Guardian> = None;
    let loader_path = loader::write_loader(sockets.path()).map_err(|e| Error::ServeStart {
        message: format!(
            "cannot write iisn's loader script into {}: {e}",
            sockets.path().display()
        ),
        hint: None,
    })?;
    let spawner = process::Spawner::new(tokio::runtime::Handle::current()).map_err(|e| {
        Error::ServeStart {
            message: format!("cannot start the spawner thread: {e}"),
            hint: None,
        }
    })?;
    let hostname = hostname();
    let shared = Arc::new(Shared {
        spawner,
        events: events.clone(),
        sockets,
        total_requests: AtomicU64::new(0),
        debug_port: std::sync::Mutex::new(0),
    });
    let control_path = shared.sockets.path().join("control.sock");
    let control_listener = tokio::net::UnixListener::bind(&control_path).ok();
    let ctx = PlanContext {
        loader: loader_path,
        hostname: hostname.clone(),
        env: opts
            .load
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        esm: opts.esm,
        processes: opts.processes,
        control_socket: control_listener.as_ref().map(|_| control_path.clone()),
        cpu_count: opts.load.cpu_count,
        inspect: opts.inspect,
    };

    let pools = supervisor::new_pools(&site, &ctx, &shared);
    let addr = SocketAddr::new(opts.host, opts.port);
    let listeners = front::bind(addr).await.map_err(|e| Error::ServeStart {
        message: format!("cannot listen on {addr}: {e}"),
        hint: Some(if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "port {} is taken; pass --port with another port, or --port 0 for any free one",
                opts.port
            )
        } else if e.kind() == std::io::ErrorKind::PermissionDenied && opts.port < 1024 {
            // Ports below 1024 are privileged on Unix (IIS's port 80 is no exception).
            format!(
                "ports below 1024 need privileges (root, or CAP_NET_BIND_SERVICE); pass a port of 1024 or more, e.g. --port 8080 (the default), and put a proxy in front if port {} matters",
                opts.port
            )
        } else {
            "check --host and --port".into()
        }),
    })?;
    let local_addr = listeners
        .first()
        .ok_or_else(|| std::io::Error::other("no listening socket"))
        .and_then(std::net::TcpListener::local_addr)
        .map_err(|e| Error::ServeStart {
            message: format!("cannot read the listening address: {e}"),
            hint: None,
        })?;

    // Folders whose web.config IIS itself would refuse: 500.19 below them (DECISIONS.md §5).
    let load_failures = site.load_failures();
    for f in &load_failures {
        events.emit(ServeEvent::Warning {
            text: format!(
                "{} cannot be loaded (above): every URL under /{} answers IIS's 500.19 until it is fixed",
                f.file.strip_prefix(&site.root).unwrap_or(&f.file).display(),
                if f.dir_rel.is_empty() { String::new() } else { format!("{}/", f.dir_rel) }
            ),
        });
    }
    let mut notes = std::collections::HashSet::new();
    for p in &pools {
        // An application in such a folder is never reached: the 500.19 warning covers it.
        if load_failures
            .iter()
            .any(|f| crate::config::site::is_ancestor(&f.dir_rel, &p.plan.name))
        {
            continue;
        }
        supervisor::announce(&events, p, &mut notes);
    }

    let offline = supervisor::initial_offline(&site.root);
    let site_root = site.root.clone();
    let server_ctx = Arc::new(front::ServerCtx {
        router: router::Router::new(
            Arc::new(site),
            if offline.is_some() {
                Vec::new()
            } else {
                pools.clone()
            },
            shared.clone(),
            ctx.clone(),
            opts.load.clone(),
        )
        .with_app_path(opts.app_path.as_deref()),
        auth: opts.auth.clone(),
        local_addr,
        hostname: hostname.clone(),
        offline: offline.clone(),
        access_log: opts.term.verbose > 0,
    });
    let url = match local_addr {
        SocketAddr::V6(a) => format!("http://[{}]:{}", a.ip(), a.port()),
        SocketAddr::V4(a) => format!("http://{}:{}", a.ip(), a.port()),
    };

    if offline.is_some() {
        events.emit(ServeEvent::Warning {
            text: format!(
                "{} found in {}: the site is offline (every request gets it with 503) until it is removed",
                supervisor::APP_OFFLINE,
                site_root.display()
            ),
        });
    } else if !opts.lazy {
        for p in &pools {
            if p.can_start() && !p.plan.on_demand {
                let p = p.clone();
                tokio::spawn(async move { p.start_all().await });
            }
        }
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (drain_tx, drain_rx) = watch::channel(false);
    let (ctx_tx, ctx_rx) = watch::channel(server_ctx);
    let server = tokio::spawn(front::serve(listeners, ctx_rx, shutdown_rx, drain_rx));

    // The supervisor: watchers, the recycle signal, `rs`, reloads.
    let (control_tx, control_rx) = tokio::sync::mpsc::channel(64);
    if let Some(l) = control_listener {
        tokio::spawn(supervisor::control_socket(
            l,
            control_tx.clone(),
            events.clone(),
        ));
    }
    if opts.stdin_commands {
        supervisor::read_stdin_commands(control_tx.clone());
    }
    let sup = supervisor::Supervisor::new(
        supervisor::Settings {
            site_path: opts.site_path.clone(),
            load: opts.load.clone(),
            plan_ctx: ctx,
            shared: shared.clone(),
            auth: opts.auth.clone(),
            local_addr,
            hostname,
            lazy: opts.lazy,
            watch: opts.watch,
            err_color: opts.err_color,
            access_log: opts.term.verbose > 0,
            quiet: opts.term.quiet,
            app_path: opts.app_path.clone(),
        },
        ctx_tx.clone(),
        control_tx,
    );
    let sup_task = tokio::spawn(sup.run(control_rx));
    // Before it says it listens: a Ctrl-C right after that line must find the handlers
    // installed (or the default action would kill iisn without stopping the workers).
    let mut signals = Signals::new()?;
    // After the watchers are set up, so that the site is watched once it says it listens.
    // Under --app-path the root answers 404: the line also gives the URL to open.
    let site_url = opts
        .app_path
        .as_deref()
        .map(crate::serve::pipeline::normalize_app_path)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let segments: Vec<String> = p
                .split('/')
                .map(crate::serve::pipeline::static_files::percent_encode_segment)
                .collect();
            format!("{url}{}/", segments.join("/"))
        });
    events.emit(ServeEvent::Listening { url, site_url });

    let stopped_by = signals.next().await;
    sup_task.abort();
    let current = ctx_tx.borrow().clone();
    let all = current.router.pools();
    let in_flight: usize = all
        .iter()
        .map(|p| p.active.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    events.emit(ServeEvent::Note {
        text: format!(
            "stopping: {} in flight (Ctrl-C again to stop at once)",
            crate::ui::plural(in_flight, "request", "requests")
        ),
    });
    let _ = shutdown_tx.send(true);
    let drain_limit = all
        .iter()
        .map(|p| p.plan.graceful_timeout)
        .max()
        .unwrap_or(Duration::ZERO);
    let mut forced = false;
    tokio::select! {
        _ = server => {}
        _ = signals.next() => forced = true,
        _ = tokio::time::sleep(drain_limit) => {}
    }
    let _ = drain_tx.send(true);
    if forced {
        for p in &all {
            p.kill_all().await;
        }
    } else {
        let stops = all.iter().map(|p| p.stop_all(Duration::from_secs(2)));
        tokio::select! {
            _ = pool::futures_join_all(stops) => {}
            _ = signals.next() => {
                for p in &all {
                    p.kill_all().await;
                }
            }
        }
    }
    // What the workers left: children they detached before they exited, workers of pools
    // still draining after a configuration change. (The guardian does the same if iisn
    // never gets here.)
    let run_mark = job::Mark::run(shared.sockets.path());
    let exclude: Vec<u32> = guardian.iter().map(job::Guardian::pid).collect();
    let killed = tokio::task::spawn_blocking(move || job::kill_marked(&run_mark, &exclude))
        .await
        .unwrap_or(0);
    if killed > 0 {
        events.emit(ServeEvent::Note {
            text: format!(
                "killed {} left running by the workers",
                crate::ui::plural(killed, "process", "processes")
            ),
        });
    }
    events.emit(ServeEvent::Note {
        text: "stopped".into(),
    });
    drop(events);
    drop(all);
    drop(current);
    drop(ctx_tx);
    drop(pools);
    drop(shared);
    let _ = tokio::time::timeout(Duration::from_millis(500), term_task).await;
    // Closes its pipe: it finds nothing left, removes the run directory and exits.
    drop(guardian);
    Err(Error::Stopped { signal: stopped_by })
}

/// SIGINT, SIGTERM and SIGHUP as one stream. SIGHUP (the terminal closed, or a service
/// manager stopping iisn) stops gracefully like SIGTERM: its default action would kill iisn
/// without stopping the workers' children or draining requests.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, Error> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let err = |e: std::io::Error| Error::ServeStart {
                message: format!("cannot install signal handlers: {e}"),
                hint: None,
            };
            Ok(Signals {
                int: signal(SignalKind::interrupt()).map_err(err)?,
                term: signal(SignalKind::terminate()).map_err(err)?,
                hup: signal(SignalKind::hangup()).map_err(err)?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next signal and returns its number.
    async fn next(&mut self) -> i32 {
        #[cfg(unix)]
        {
            use nix::libc::{SIGHUP, SIGINT, SIGTERM};
            tokio::select! {
                _ = self.int.recv() => SIGINT,
                _ = self.term.recv() => SIGTERM,
                _ = self.hup.recv() => SIGHUP,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            2
        }
    }
}
