//! `ServeEvent`: the only bridge from the runtime to the terminal.
//!
//! Pools, workers and the proxy never print: they send events, and the printer
//! ([`super::term`]) decides how they look (coloured text or JSON lines). Worker output is sent
//! with backpressure (a flooding app is slowed down like one writing to a slow terminal);
//! per-request access lines are dropped rather than delay a response when the printer falls
//! behind.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::watcher::ChangeGate;

/// Which of a worker's streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Identifies a worker in output: the application (script path) and the slot.
#[derive(Clone, Debug)]
pub struct WorkerId {
    pub app: Arc<str>,
    pub slot: usize,
    pub pid: u32,
}

#[derive(Clone, Debug)]
pub enum ServeEvent {
    /// The front server is accepting connections.
    Listening {
        url: String,
        /// With `--app-path`: the URL of the site itself (`http://127.0.0.1:8080/shop/`),
        /// since the root answers 404 then.
        site_url: Option<String>,
    },
    /// Workers of an application are being started (drives the spinner).
    Starting {
        app: Arc<str>,
        count: usize,
    },
    WorkerSpawned {
        id: WorkerId,
    },
    /// The worker's socket accepted a connection.
    WorkerReady {
        id: WorkerId,
        after: Duration,
    },
    WorkerExited {
        id: WorkerId,
        status: String,
        /// Last lines the worker wrote to stderr.
        stderr_tail: Vec<String>,
        /// Whether this exit was expected (iisn stopped the worker).
        expected: bool,
        /// A hint about why it may have crashed at start (it never listened).
        hint: Option<String>,
    },
    SpawnFailed {
        app: Arc<str>,
        slot: usize,
        error: String,
    },
    /// One line of a worker's output.
    Log {
        id: WorkerId,
        stream: Stream,
        line: String,
    },
    /// One finished request (access log, shown with `-v`).
    Request {
        method: String,
        target: String,
        status: u16,
        substatus: u32,
        millis: u64,
        worker: Option<WorkerId>,
    },
    /// A recycle began: `trigger` says why (a file, the signal, `rs`, a config change).
    RecycleStarted {
        app: Arc<str>,
        trigger: String,
    },
    /// New requests now go to the new generation.
    RecycleSwitched {
        app: Arc<str>,
        /// How long the new generation took to be ready (eager recycles).
        ready_after: Option<Duration>,
        /// Requests still running on the old generation.
        in_flight: usize,
    },
    /// The old generation is gone.
    RecycleFinished {
        app: Arc<str>,
        stopped: usize,
        /// Workers stopped at gracefulShutdownTimeout with requests still running.
        cut: usize,
    },
    /// Text iisn prints about itself (already rendered, e.g. diagnostics).
    Note {
        text: String,
    },
    Warning {
        text: String,
    },
    /// `serve --trace`: how the pipeline decided a request (rendered by
    /// [`super::live_trace`]: text lines, and the JSON object of docs/route-json.md).
    Trace {
        lines: Vec<String>,
        json: serde_json::Value,
    },
}

/// The sending half, cheap to clone.
///
/// It also carries the site's [`ChangeGate`]: the one piece of state the watchers, the
/// supervisor and the front all reach, so that a request arriving while a file change is
/// being applied waits for the new configuration (DECISIONS.md §8).
#[derive(Clone, Debug)]
pub struct Events {
    tx: mpsc::Sender<ServeEvent>,
    pub gate: Arc<ChangeGate>,
    /// Set once the first WebSocket upgrade was reported (it is said once per run).
    pub upgrade_noted: Arc<std::sync::atomic::AtomicBool>,
    /// Asks the configuration watcher to look for added and removed web.config files now
    /// instead of at its next poll (a request found one it does not hold).
    pub config_poke: Arc<tokio::sync::Notify>,
}

/// Room for bursts of output before senders wait for the terminal.
const CAPACITY: usize = 4096;

impl Events {
    pub fn channel() -> (Events, mpsc::Receiver<ServeEvent>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        (
            Events {
                tx,
                gate: Arc::new(ChangeGate::default()),
                upgrade_noted: Arc::default(),
                config_poke: Arc::default(),
            },
            rx,
        )
    }

    /// Sends and waits for room (worker output: backpressure on the child).
    pub async fn send(&self, ev: ServeEvent) {
        let _ = self.tx.send(ev).await;
    }

    /// Sends if there is room (never delays the caller).
    pub fn emit(&self, ev: ServeEvent) {
        let _ = self.tx.try_send(ev);
    }
}
