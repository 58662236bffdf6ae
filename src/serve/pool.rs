//! The worker pool of one application: slots, round robin, sticky sessions, respawn.
//!
//! iisnode keeps N slots per application. Each request takes the ticket `(last + 1) % N`
//! (so the first request goes to slot 1, which iisnode's test 114 depends on), or the slot
//! its `iisnode.session.cookie` names when sticky sessions are on. An empty slot (never
//! started, or its process exited) is filled by starting a process right then: no eager
//! respawn and no backoff, as in iisnode; the terminal warns about crash loops instead.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::debugger;
use super::events::{Events, ServeEvent};
use super::pages::Failure;
use super::plan::AppPlan;
use super::process::{self, Spawner, Worker};
use super::proxy;
use super::transport::SocketDir;

/// What every pool shares.
#[derive(Debug)]
pub struct Shared {
    pub spawner: Spawner,
    pub events: Events,
    pub sockets: SocketDir,
    /// Requests seen by this iisn (the debug header's `worker_total_req`).
    pub total_requests: AtomicU64,
    /// The last inspector port handed out (iisnode's walk through debuggerPortRange).
    pub debug_port: std::sync::Mutex<u32>,
}

/// An application in debug mode: one worker with node's inspector on `port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebugMode {
    pub port: u16,
    /// Started with `--inspect-brk` (paused on the first line).
    pub brk: bool,
}

/// More than this many exits within [`CRASH_WINDOW`] is a crash loop.
const CRASH_LIMIT: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct AppPool {
    pub plan: Arc<AppPlan>,
    slots: tokio::sync::Mutex<Vec<Option<Arc<Worker>>>>,
    /// A copy of `slots` for the hot path, published under the `slots` lock each time they
    /// change: a request whose slot holds a live worker takes it without the async lock
    /// (which, contended by two front threads, would park tasks and wake them across
    /// threads).
    live: std::sync::RwLock<Vec<Option<Arc<Worker>>>>,
    counter: AtomicUsize,
    /// Requests in flight across the application.
    pub active: AtomicUsize,
    shared: Arc<Shared>,
    exits: std::sync::Mutex<VecDeque<Instant>>,
    /// The first request found the pool empty: iisnode then starts every process of the
    /// application, not just the one routed to.
    started: std::sync::atomic::AtomicBool,
    /// Debug mode (the `<script>/debug/` URLs): one worker with the inspector. Entered and
    /// left with `slots` locked; a recycle also ends it.
    debug: std::sync::Mutex<Option<DebugMode>>,
}

/// `iisnode.session.cookie=<n>` in a Cookie header, parsed as iisnode does
/// (`ExtractStickySessionsProcess`): find the name anywhere, take the text after the next
/// `=` up to the next `;` (or the end), refuse it when it is 10 bytes or longer, and `atoi`
/// it (leading white space and a sign allowed, digits up to the first other character, no
/// digits at all is 0). A negative number is no slot.
pub fn sticky_slot(cookie: &str) -> Option<usize> {
    let at = cookie.find("iisnode.session.cookie")?;
    let rest = &cookie.as_bytes()[at..];
    let eq = rest.iter().position(|&b| b == b'=')?;
    let after = &rest[eq + 1..];
    let value = after
        .iter()
        .position(|&b| b == b';')
        .map_or(after, |end| &after[..end]);
    if value.len() >= 10 {
        return None;
    }
    let v = value.trim_ascii_start();
    let (negative, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let n = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0usize, |n, b| n * 10 + usize::from(b - b'0'));
    (!negative || n == 0).then_some(n)
}

impl AppPool {
    pub fn new(plan: Arc<AppPlan>, shared: Arc<Shared>) -> Arc<AppPool> {
        let n = plan.process_count;
        Arc::new(AppPool {
            plan,
            slots: tokio::sync::Mutex::new(vec![None; n]),
            live: std::sync::RwLock::new(vec![None; n]),
            counter: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            shared,
            exits: std::sync::Mutex::new(VecDeque::new()),
            started: std::sync::atomic::AtomicBool::new(false),
            debug: std::sync::Mutex::new(None),
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Debug mode, when the application is in it.
    pub fn debug_mode(&self) -> Option<DebugMode> {
        self.debug.lock().ok().and_then(|g| *g)
    }

    fn set_debug_mode(&self, mode: Option<DebugMode>) -> Option<DebugMode> {
        match self.debug.lock() {
            Ok(mut g) => std::mem::replace(&mut *g, mode),
            Err(_) => None,
        }
    }

    /// The next slot: sticky when asked and enabled, else strict round robin (slot 0
    /// while debugging: the debuggee runs alone).
    pub fn choose_slot(&self, sticky: Option<usize>) -> usize {
        if self.debug_mode().is_some() {
            return 0;
        }
        let n = self.plan.process_count.max(1);
        if let Some(k) = sticky.filter(|_| self.plan.sticky) {
            return k % n;
        }
        let prev = self
            .counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| Some((c + 1) % n))
            .unwrap_or(0);
        (prev + 1) % n
    }

    /// Publishes `slots` for the hot path (call with the `slots` lock held).
    fn publish(&self, slots: &[Option<Arc<Worker>>]) {
        match self.live.write() {
            Ok(mut live) => *live = slots.to_vec(),
            Err(p) => *p.into_inner() = slots.to_vec(),
        }
    }

    /// The worker in `slot`, starting one if the slot is empty or its process exited.
    pub async fn worker(self: &Arc<Self>, slot: usize) -> Result<Arc<Worker>, Failure> {
        if self.started.load(Ordering::Acquire)
            && let Ok(live) = self.live.read()
            && let Some(Some(w)) = live.get(slot)
            && !w.has_exited()
        {
            return Ok(w.clone());
        }
        let mut slots = self.slots.lock().await;
        let w = self.worker_locked(&mut slots, slot).await;
        self.publish(&slots);
        w
    }

    async fn worker_locked(
        self: &Arc<Self>,
        slots: &mut [Option<Arc<Worker>>],
        slot: usize,
    ) -> Result<Arc<Worker>, Failure> {
        // Debug mode began or ended after the slot was chosen.
        let slot = if slot < slots.len() { slot } else { 0 };
        if !self.started.load(Ordering::Acquire) && !self.started.swap(true, Ordering::AcqRel) {
            // iisnode creates an application with all its processes at once (engine §1.1),
            // whether it starts lazily or on a wildcard handler's first request.
            for other in (0..slots.len()).filter(|s| *s != slot) {
                if slots[other].is_none()
                    && let Ok(w) = self.spawn(other).await
                {
                    slots[other] = Some(w);
                }
            }
        }
        if let Some(w) = slots.get(slot).and_then(Option::as_ref) {
            if !w.has_exited() {
                return Ok(w.clone());
            }
            self.note_exit();
            // The exited worker leaves its slot: what it started goes too, as when a worker
            // is stopped (in the background: the request waits only for the new worker).
            let old = w.clone();
            tokio::spawn(async move { old.stop(Duration::from_secs(2)).await });
        }
        let w = self.spawn(slot).await?;
        if let Some(s) = slots.get_mut(slot) {
            *s = Some(w.clone());
        }
        Ok(w)
    }

    fn note_exit(&self) {
        let Ok(mut exits) = self.exits.lock() else {
            return;
        };
        let now = Instant::now();
        exits.push_back(now);
        while exits
            .front()
            .is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW)
        {
            exits.pop_front();
        }
        if exits.len() > CRASH_LIMIT {
            exits.clear();
            self.shared.events.emit(ServeEvent::Warning {
                text: format!(
                    "{} is crash-looping: more than {CRASH_LIMIT} restarts in {} s; fix the error above (iisnode restarts a slot on every request routed to it)",
                    self.plan.name,
                    CRASH_WINDOW.as_secs()
                ),
            });
        }
    }

    async fn spawn(self: &Arc<Self>, slot: usize) -> Result<Arc<Worker>, Failure> {
        let spec = self.plan.spawn.as_ref().map_err(|e| {
            proxy::failure(
                500,
                1000,
                0x8007_0002,
                format!("iisnode was unable to start the node.exe process: {e}"),
            )
        })?;
        let socket = self.shared.sockets.next_socket();
        let mut spec = spec.clone();
        spec.env
            .insert(0, ("PORT".into(), socket.display().to_string()));
        // node's inspector: the debuggee of debug mode, or every worker with --inspect.
        let debug = self.debug_mode();
        let inspect = match debug {
            Some(m) => Some((m.port, m.brk)),
            None if self.plan.inspect_all => {
                match debugger::choose_port(&self.shared, &self.plan.debug_ports) {
                    Ok(port) => Some((port, false)),
                    Err(e) => {
                        self.shared.events.emit(ServeEvent::Warning {
                            text: format!("{}: --inspect: {e}", self.plan.name),
                        });
                        None
                    }
                }
            }
            None => None,
        };
        if let Some((port, brk)) = inspect {
            // `[node args..., loader, script]`: node's own flags go before the loader.
            let at = spec.args.len().saturating_sub(2);
            spec.args.insert(at, debugger::inspect_flag(port, brk));
        }
        let name = self.plan.name.clone();
        // iisnode's interceptor creates the log folder and prunes it as node starts, before
        // the application writes anything.
        let log = self.plan.log.clone();
        let _ = tokio::task::spawn_blocking(move || super::logs::prepare(&log)).await;
        match process::spawn_worker(
            &self.shared.spawner,
            &spec,
            name.clone(),
            slot,
            socket,
            self.plan.log.clone(),
            &self.shared.events,
        )
        .await
        {
            Ok(w) => {
                // A debuggee paused on its first line listens only once resumed.
                if !debug.is_some_and(|m| m.brk) {
                    self.watch_ready(w.clone());
                }
                if debug.is_none()
                    && let Some((port, _)) = inspect
                {
                    debugger::announce(&self.shared, w.clone(), port);
                }
                Ok(w)
            }
            Err(e) => {
                let text = format!("{}: {e}", spec.program.display());
                self.shared.events.emit(ServeEvent::SpawnFailed {
                    app: name,
                    slot,
                    error: text.clone(),
                });
                Err(proxy::failure(
                    500,
                    1000,
                    0x8007_0002,
                    format!("iisnode was unable to start the node.exe process: {text}"),
                ))
            }
        }
    }

    /// The connect-retry budget: how long a worker may take to listen.
    pub fn ready_budget(&self) -> Duration {
        Duration::from_millis(
            u64::from(self.plan.proxy.retry_delay_ms) * u64::from(self.plan.proxy.max_retry),
        )
        .max(Duration::from_secs(1))
    }

    /// Reports when a new worker accepts its first connection (within the retry budget).
    fn watch_ready(&self, w: Arc<Worker>) {
        let events = self.shared.events.clone();
        let budget = self.ready_budget();
        tokio::spawn(async move {
            if wait_ready(&w, budget).await {
                events
                    .send(ServeEvent::WorkerReady {
                        id: w.id.clone(),
                        after: w.started.elapsed(),
                    })
                    .await;
            } else if !w.has_exited() {
                events.emit(ServeEvent::Warning {
                    text: format!(
                        "{}#{} (pid {}) is not listening on process.env.PORT after {} ms",
                        w.id.app,
                        w.id.slot + 1,
                        w.id.pid,
                        budget.as_millis()
                    ),
                });
            }
        });
    }

    /// Replaces every worker with a new generation, gracefully (DECISIONS.md §8).
    ///
    /// Eager (the default): the new workers start and become ready *before* requests are
    /// switched to them, so no request waits for a cold start. Lazy (`--lazy`, iisnode's
    /// behaviour): the slots are emptied and new workers start when requests arrive. Either
    /// way the old generation finishes its requests in flight (WebSocket tunnels included)
    /// in the background for up to `gracefulShutdownTimeout`, then gets SIGTERM, then SIGKILL
    /// after 2 s. Returns once new requests go to the new generation.
    pub async fn recycle(self: &Arc<Self>, lazy: bool, trigger: &str) {
        let events = &self.shared.events;
        events.emit(ServeEvent::RecycleStarted {
            app: self.plan.name.clone(),
            trigger: trigger.to_string(),
        });
        if self.set_debug_mode(None).is_some() {
            events.emit(ServeEvent::Note {
                text: format!("{}: the recycle ends debug mode", self.plan.name),
            });
        }
        let n = self.plan.process_count;
        tracing::debug!(app = %self.plan.name, trigger, processes = n, lazy, "recycle: starting a new generation");
        let start = Instant::now();
        let mut fresh: Vec<Option<Arc<Worker>>> = vec![None; n];
        let eager = !lazy && self.can_start();
        if eager {
            for (slot, f) in fresh.iter_mut().enumerate() {
                *f = self.spawn(slot).await.ok();
            }
            let budget = self.ready_budget();
            futures_join_all(fresh.iter().flatten().map(|w| async move {
                wait_ready(w, budget).await;
            }))
            .await;
        }
        let old: Vec<Arc<Worker>> = {
            let mut slots = self.slots.lock().await;
            let old = std::mem::replace(&mut *slots, fresh);
            self.publish(&slots);
            old.into_iter().flatten().collect()
        };
        let in_flight: usize = old.iter().map(|w| w.active.load(Ordering::Acquire)).sum();
        events.emit(ServeEvent::RecycleSwitched {
            app: self.plan.name.clone(),
            ready_after: eager.then(|| start.elapsed()),
            in_flight,
        });
        self.retire_workers(old);
    }

    /// Whether workers can start at all (no config error, a resolvable command, a script).
    pub fn can_start(&self) -> bool {
        self.plan.config_error.is_none() && self.plan.spawn.is_ok() && self.plan.script.is_file()
    }

    /// Drains and stops `old` in the background, then reports.
    fn retire_workers(&self, old: Vec<Arc<Worker>>) {
        let events = self.shared.events.clone();
        let app = self.plan.name.clone();
        let timeout = self.plan.graceful_timeout;
        tokio::spawn(async move {
            let (stopped, cut) = drain_and_stop(&old, timeout).await;
            if stopped > 0 {
                events.emit(ServeEvent::RecycleFinished { app, stopped, cut });
            }
        });
    }

    /// Takes every worker out of service and drains them in the background (the pool is
    /// being replaced: its configuration changed, or the site went offline).
    pub async fn retire(&self) {
        let old: Vec<Arc<Worker>> = {
            let mut slots = self.slots.lock().await;
            let n = slots.len();
            self.set_debug_mode(None);
            let old = std::mem::replace(&mut *slots, vec![None; n]);
            self.publish(&slots);
            old.into_iter().flatten().collect()
        };
        self.retire_workers(old);
    }

    /// Enters debug mode (iisnode's `<script>/debug/`): the workers are retired and one
    /// worker starts with node's inspector on a port from debuggerPortRange. Already in
    /// debug mode, returns the running debuggee (the third value is then `true`).
    pub async fn start_debug(
        self: &Arc<Self>,
        brk: bool,
    ) -> Result<(Arc<Worker>, DebugMode, bool), String> {
        let mut slots = self.slots.lock().await;
        if let Some(mode) = self.debug_mode() {
            drop(slots);
            let w = self.worker(0).await.map_err(|f| f.detail)?;
            return Ok((w, mode, true));
        }
        let port = debugger::choose_port(&self.shared, &self.plan.debug_ports)?;
        let mode = DebugMode { port, brk };
        self.set_debug_mode(Some(mode));
        let old: Vec<Arc<Worker>> = std::mem::replace(&mut *slots, vec![None])
            .into_iter()
            .flatten()
            .collect();
        self.publish(&slots);
        self.started.store(true, Ordering::Release);
        self.retire_workers(old);
        match self.spawn(0).await {
            Ok(w) => {
                slots[0] = Some(w.clone());
                self.publish(&slots);
                Ok((w, mode, false))
            }
            Err(f) => {
                self.set_debug_mode(None);
                *slots = vec![None; self.plan.process_count];
                self.publish(&slots);
                self.started.store(false, Ordering::Release);
                Err(f.detail)
            }
        }
    }

    /// Leaves debug mode: the debuggee is stopped, and the next request starts the normal
    /// workers (all of them, as when the application is created). `false` when the
    /// application was not in debug mode.
    pub async fn stop_debug(self: &Arc<Self>) -> bool {
        let old: Vec<Arc<Worker>> = {
            let mut slots = self.slots.lock().await;
            if self.set_debug_mode(None).is_none() {
                return false;
            }
            self.started.store(false, Ordering::Release);
            let old = std::mem::replace(&mut *slots, vec![None; self.plan.process_count]);
            self.publish(&slots);
            old.into_iter().flatten().collect()
        };
        futures_join_all(old.iter().map(|w| w.stop(Duration::from_millis(500)))).await;
        true
    }

    /// Starts every slot and waits (within the connect budget) until each listens.
    pub async fn start_ready(self: &Arc<Self>) {
        self.start_all().await;
        let budget = self.ready_budget();
        let workers = self.workers().await;
        futures_join_all(workers.iter().map(|w| async move {
            wait_ready(w, budget).await;
        }))
        .await;
    }

    /// Starts every slot now (the default for scripts named by a handler).
    pub async fn start_all(self: &Arc<Self>) {
        self.shared.events.emit(ServeEvent::Starting {
            app: self.plan.name.clone(),
            count: self.plan.process_count,
        });
        for slot in 0..self.plan.process_count {
            let _ = self.worker(slot).await;
        }
    }

    /// The live workers.
    pub async fn workers(&self) -> Vec<Arc<Worker>> {
        self.slots.lock().await.iter().flatten().cloned().collect()
    }

    /// Stops every worker: SIGTERM, SIGKILL after `grace`.
    pub async fn stop_all(&self, grace: Duration) {
        let workers = self.workers().await;
        let stops = workers.iter().map(|w| w.stop(grace));
        futures_join_all(stops).await;
    }

    /// Kills every worker at once.
    pub async fn kill_all(&self) {
        for w in self.workers().await {
            w.kill();
        }
    }
}

/// Waits for `old` workers to finish their requests (up to `timeout`), then stops them.
/// Returns (workers stopped, workers stopped with requests still running).
pub async fn drain_and_stop(old: &[Arc<Worker>], timeout: Duration) -> (usize, usize) {
    let deadline = Instant::now() + timeout;
    futures_join_all(old.iter().map(|w| async move {
        while w.active.load(Ordering::Acquire) > 0 && !w.has_exited() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }))
    .await;
    let cut = old
        .iter()
        .filter(|w| !w.has_exited() && w.active.load(Ordering::Acquire) > 0)
        .count();
    futures_join_all(old.iter().map(|w| w.stop(Duration::from_secs(2)))).await;
    (old.len(), cut)
}

/// Polls until `w` accepts a connection; `false` if it exited or `budget` ran out.
pub async fn wait_ready(w: &Worker, budget: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < budget && !w.has_exited() {
        if super::transport::connect(&w.socket).await.is_ok() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            _ = w.wait_exit() => {}
        }
    }
    false
}

/// Awaits a set of futures concurrently (a tiny join_all, to avoid a dependency).
pub async fn futures_join_all<F: std::future::Future<Output = ()>>(
    futs: impl IntoIterator<Item = F>,
) {
    let mut pinned: Vec<_> = futs.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sticky_cookie_parsing_like_iisnode() {
        assert_eq!(sticky_slot("iisnode.session.cookie=2"), Some(2));
        assert_eq!(sticky_slot("a=b; iisnode.session.cookie=7; c=d"), Some(7));
        assert_eq!(sticky_slot("iisnode.session.cookie=12x"), Some(12));
        assert_eq!(sticky_slot("iisnode.session.cookie=-1"), None);
        // atoi: no digits is 0; white space first is skipped.
        assert_eq!(sticky_slot("iisnode.session.cookie=abc"), Some(0));
        assert_eq!(sticky_slot("iisnode.session.cookie= 1; x=y"), Some(1));
        assert_eq!(sticky_slot("other=1"), None);
        // Ten bytes or more is refused, with or without a `;` after it.
        assert_eq!(sticky_slot("iisnode.session.cookie=1234567890"), None);
        assert_eq!(sticky_slot("iisnode.session.cookie=1234567890; a=b"), None);
        assert_eq!(
            sticky_slot("iisnode.session.cookie=123456789"),
            Some(123_456_789)
        );
    }
}
