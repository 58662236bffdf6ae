//! One node worker: spawning it, capturing its output, noticing its exit, stopping it.
//!
//! Spawning happens on one dedicated thread that lives as long as iisn: on Linux the child
//! asks for `PR_SET_PDEATHSIG(SIGKILL)`, which fires when the *thread* that spawned it exits,
//! so spawning from a short-lived thread would kill workers early. stdout and stderr are pipes
//! read by two tasks that forward lines to the terminal and bytes to iisnode-style log files.
//!
//! Each worker gets its own process group, which holds what it starts without detaching.
//! [`Worker::stop`] ends the worker and everything it started, as iisnode's job object would
//! (see [`super::job`]): SIGTERM to the group and to the processes outside it that the worker
//! started (detached children, found through `/proc` on Linux), SIGKILL to what is left
//! after the grace period, even when the worker itself had already exited. It is called when
//! a worker leaves its slot: iisn stops, the application recycles or is replaced, or a
//! request refills the slot of a worker that exited. PR_SET_PDEATHSIG covers the workers
//! themselves when iisn is killed outright; the guardian ([`super::job::Guardian`]) covers
//! what they started. On macOS, which has neither `/proc` nor PR_SET_PDEATHSIG, only the
//! process group is stopped, and workers outlive an iisn killed with `kill -9`.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};

use super::events::{Events, ServeEvent, Stream, WorkerId};
use super::job;
use super::logs::{LogFile, LogSettings, StreamKind};

/// What to run: everything resolved, nothing opened.
#[derive(Clone, Debug)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// Variables added to (or replacing in) iisn's own environment.
    pub env: Vec<(String, String)>,
    /// Printed when the worker exits before it ever listened (a crash at start).
    pub start_hint: Option<String>,
}

struct SpawnJob {
    cmd: Command,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// The long-lived spawning thread.
#[derive(Clone, Debug)]
pub struct Spawner {
    tx: std::sync::mpsc::Sender<SpawnJobBox>,
}

struct SpawnJobBox(SpawnJob);

impl std::fmt::Debug for SpawnJobBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpawnJob")
    }
}

impl Spawner {
    /// Starts the thread; it needs the runtime handle to register children with tokio.
    pub fn new(handle: tokio::runtime::Handle) -> io::Result<Spawner> {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnJobBox>();
        std::thread::Builder::new()
            .name("iisn-spawner".into())
            .spawn(move || {
                let _guard = handle.enter();
                for SpawnJobBox(mut job) in rx {
                    let r = job.cmd.spawn();
                    let _ = job.reply.send(r);
                }
            })?;
        Ok(Spawner { tx })
    }

    async fn spawn(&self, cmd: Command) -> io::Result<Child> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(SpawnJobBox(SpawnJob { cmd, reply }))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
        rx.await
            .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
    }
}

/// How a worker ended.
#[derive(Clone, Debug)]
pub struct ExitInfo {
    pub status: String,
    pub at: Instant,
}

/// A running (or exited) node process.
#[derive(Debug)]
pub struct Worker {
    pub id: WorkerId,
    pub socket: PathBuf,
    pub started: Instant,
    /// Requests in flight on this worker (maxConcurrentRequestsPerProcess).
    pub active: AtomicUsize,
    exited: AtomicBool,
    exit_info: Mutex<Option<ExitInfo>>,
    exit_notify: Notify,
    /// iisn asked it to stop (recycle or shutdown): its exit is not a crash.
    stopping: AtomicBool,
    pub log: Arc<LogSettings>,
    /// When the process started (`job::start_time`): its pid names it only while that holds
    /// (the exit task marks it exited a moment after it is reaped, and a pid can be reused).
    start_time: Option<u64>,
    /// What the response path needs to keep the log files ahead of the answers
    /// ([`Worker::output_pending`], [`Worker::flush_output`]).
    output: OutputSync,
}

/// The worker's output pipes as seen from the response path.
///
/// iisnode wrote node's output to the log file synchronously from inside node, so a line
/// logged before an answer was on disk when the client had the answer (its tests 105 and
/// 110 read the files right after). iisn reads the pipes on tasks of its own, which may run
/// a moment later: before an answer goes out, [`Worker::output_pending`] and
/// [`Worker::flush_output`] make sure the lines the worker wrote so far are in the files
/// (whole lines; waiting at most 200 ms).
#[derive(Debug)]
struct OutputSync {
    /// Per stream: a capture task is between reading a chunk and having it in the file.
    busy: [AtomicBool; 2],
    /// Copies of the pipes' read ends (stdout, stderr), to see whether bytes wait in them.
    pipes: [Option<std::os::fd::OwnedFd>; 2],
    /// Asks each capture task to say when it has read and written all there is.
    flush: [tokio::sync::mpsc::UnboundedSender<oneshot::Sender<()>>; 2],
}

impl Worker {
    pub fn has_exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.exit_info.lock().ok().and_then(|g| g.clone())
    }

    /// Whether something the worker wrote to stdout or stderr may not be in its log files
    /// yet (see [`OutputSync`]); if so, [`Worker::flush_output`] waits for it. One `poll` of
    /// its two pipes per answer when logging is on; nothing when it is off.
    pub fn output_pending(&self) -> bool {
        let o = &self.output;
        if !self.log.enabled {
            return false;
        }
        // The pipes first, then the busy flags: a chunk no longer in a pipe has either been
        // written or is still marked busy (set before the read, cleared after the write).
        let empty = pipes_empty(o.pipes.iter().flatten());
        std::sync::atomic::fence(Ordering::SeqCst);
        !empty || o.busy.iter().any(|b| b.load(Ordering::SeqCst))
    }

    /// Waits (at most 200 ms) until the capture tasks have read and written all that is in
    /// the pipes.
    pub async fn flush_output(&self) {
        let acks: Vec<_> = self
            .output
            .flush
            .iter()
            .filter_map(|tx| {
                let (ack, done) = oneshot::channel();
                tx.send(ack).ok().map(|()| done)
            })
            .collect();
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            for done in acks {
                let _ = done.await;
            }
        })
        .await;
    }

    /// Resolves once the process has exited.
    pub async fn wait_exit(&self) {
        loop {
            let notified = self.exit_notify.notified();
            if self.has_exited() {
                return;
            }
            notified.await;
        }
    }

    /// Sends `signal` to the worker's process group, if it is still the worker's
    /// ([`Worker::owns_group`]).
    #[cfg(unix)]
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        use nix::sys::signal::killpg;
        use nix::unistd::Pid;
        if self.owns_group() {
            let _ = killpg(Pid::from_raw(self.id.pid as i32), signal);
        }
    }

    /// Whether the process group named by the worker's pid is the worker's, the one it
    /// started in (`process_group(0)`), with what it started there and did not detach.
    ///
    /// Until the worker is reaped its pid cannot name anything else. Once it is reaped (the
    /// exit task marks it exited a moment after), a process with that pid is another one,
    /// and so is its group; without such a process the group holds only what the worker left
    /// behind, since a new process never gets the id of a group that still has members
    /// (POSIX `fork`). (Left: the moment between that check and the signal.)
    #[cfg(unix)]
    fn owns_group(&self) -> bool {
        let pid = self.id.pid as i32;
        pid > 0
            && ((!self.has_exited() && self.is_still_the_process())
                || !super::transport::pid_alive(pid))
    }

    /// Whether the worker's pid still names the process that was started (a pid reaped a
    /// moment before the exit task marks it exited could already be another's). True where
    /// start times cannot be read.
    fn is_still_the_process(&self) -> bool {
        self.start_time
            .is_none_or(|t| job::start_time(self.id.pid).is_none_or(|now| now == t))
    }

    /// Whether anything is left in the worker's process group.
    #[cfg(unix)]
    fn group_alive(&self) -> bool {
        use nix::sys::signal::killpg;
        use nix::unistd::Pid;
        self.owns_group() && killpg(Pid::from_raw(self.id.pid as i32), None).is_ok()
    }

    /// The worker's processes as they are now ([`job::find`]): those carrying its `PORT`,
    /// and the children of the worker and of each of them. Found before anything is
    /// signalled, while the children still have their parents.
    async fn tree(&self) -> Vec<job::Found> {
        let mark = job::Mark::worker(&self.socket);
        // Its pid as a root only while it names the worker (not reaped, or reaped and not
        // reused: same start time).
        let roots = if self.has_exited() || !self.is_still_the_process() {
            Vec::new()
        } else {
            vec![self.id.pid]
        };
        tokio::task::spawn_blocking(move || job::find(&mark, &roots, &[]))
            .await
            .unwrap_or_default()
    }

    /// Stops the worker and everything it started, like iisnode's job object but per
    /// worker: SIGTERM to its process group and to the rest of its [`Worker::tree`] (children
    /// it detached), then, once the worker has exited and the rest is gone or `grace` is
    /// over, SIGKILL to whatever is left of either. A worker that had already exited (a crash)
    /// gets the same for what it left behind.
    pub async fn stop(&self, grace: Duration) {
        self.stopping.store(true, Ordering::Release);
        #[cfg(unix)]
        {
            use nix::sys::signal::Signal;
            let deadline = tokio::time::Instant::now() + grace;
            let tree = self.tree().await;
            self.signal(Signal::SIGTERM);
            for p in tree.iter().filter(|p| p.pgid != self.id.pid) {
                job::send(p, Signal::SIGTERM);
            }
            let _ = tokio::time::timeout_at(deadline, self.wait_exit()).await;
            // What it started had the same SIGTERM; it gets the rest of the grace period.
            while (self.group_alive() || tree.iter().any(job::alive))
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if !self.has_exited() || self.group_alive() {
                self.signal(Signal::SIGKILL);
                let _ = tokio::time::timeout(Duration::from_secs(2), self.wait_exit()).await;
            }
            let mark = job::Mark::worker(&self.socket);
            let killed = tokio::task::spawn_blocking(move || job::kill_found(&mark, &[], &tree))
                .await
                .unwrap_or(0);
            if killed > 0 {
                tracing::debug!(app = %self.id.app, slot = self.id.slot + 1, pid = self.id.pid, killed, "killed what the worker had started outside its process group");
            }
        }
    }

    /// Kills the worker's group at once (what it detached is left to the end of the run:
    /// `serve` kills it after the workers, see [`job`]).
    pub fn kill(&self) {
        self.stopping.store(true, Ordering::Release);
        #[cfg(unix)]
        self.signal(nix::sys::signal::Signal::SIGKILL);
    }
}

/// How long a worker may run without listening before the terminal says so.
pub const LISTEN_NOTICE: Duration = Duration::from_secs(5);

/// Lines kept from stderr for the exit message.
const TAIL_LINES: usize = 12;

/// Spawns one worker and starts its output and exit tasks.
pub async fn spawn_worker(
    spawner: &Spawner,
    spec: &SpawnSpec,
    app: Arc<str>,
    slot: usize,
    socket: PathBuf,
    log: Arc<LogSettings>,
    events: &Events,
) -> io::Result<Arc<Worker>> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    #[cfg(unix)]
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    die_with_parent(&mut cmd);

    let mut child = spawner.spawn(cmd).await?;
    let pid = child.id().unwrap_or(0);
    let id = WorkerId { app, slot, pid };
    tracing::debug!(app = %id.app, slot = slot + 1, pid, program = ?spec.program, args = ?spec.args, cwd = ?spec.cwd, env = ?spec.env, socket = ?socket, "spawned worker");
    let (out_flush, out_flushes) = tokio::sync::mpsc::unbounded_channel();
    let (err_flush, err_flushes) = tokio::sync::mpsc::unbounded_channel();
    let pipes = [
        child
            .stdout
            .as_ref()
            .and_then(|p| p.as_fd().try_clone_to_owned().ok()),
        child
            .stderr
            .as_ref()
            .and_then(|p| p.as_fd().try_clone_to_owned().ok()),
    ];
    let worker = Arc::new(Worker {
        output: OutputSync {
            busy: [AtomicBool::new(false), AtomicBool::new(false)],
            pipes,
            flush: [out_flush, err_flush],
        },
        id: id.clone(),
        socket,
        started: Instant::now(),
        active: AtomicUsize::new(0),
        exited: AtomicBool::new(false),
        exit_info: Mutex::new(None),
        exit_notify: Notify::new(),
        stopping: AtomicBool::new(false),
        log: log.clone(),
        start_time: job::start_time(id.pid),
    });
    events
        .send(ServeEvent::WorkerSpawned { id: id.clone() })
        .await;

    let tail: Arc<Mutex<VecDeque<String>>> = Arc::new(Mutex::new(VecDeque::new()));
    let out = child.stdout.take().map(|s| {
        tokio::spawn(capture(
            s,
            Stream::Stdout,
            worker.clone(),
            out_flushes,
            events.clone(),
            None,
        ))
    });
    let err = child.stderr.take().map(|s| {
        tokio::spawn(capture(
            s,
            Stream::Stderr,
            worker.clone(),
            err_flushes,
            events.clone(),
            Some(tail.clone()),
        ))
    });

    // A worker that has not listened after a few seconds gets a line in the terminal, so a
    // missing listen(process.env.PORT) is not a silent wait of the whole retry budget. A
    // debuggee paused on its first line (--inspect-brk) is expected not to listen yet.
    if !spec.args.iter().any(|a| a.starts_with("--inspect-brk")) {
        let w = worker.clone();
        let events = events.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(LISTEN_NOTICE) => {}
                _ = w.wait_exit() => return,
            }
            if !w.has_exited() && !w.stopping.load(Ordering::Acquire) && !w.socket.exists() {
                events.emit(ServeEvent::Warning {
                    text: format!(
                        "{}#{} has not listened on PORT for {} s; does it call listen(process.env.PORT)?",
                        w.id.app,
                        w.id.slot + 1,
                        LISTEN_NOTICE.as_secs()
                    ),
                });
            }
        });
    }

    let w = worker.clone();
    let events = events.clone();
    let start_hint = spec.start_hint.clone();
    tokio::spawn(async move {
        let status = match child.wait().await {
            Ok(s) => describe_status(s),
            Err(e) => format!("wait failed: {e}"),
        };
        // Let the output tasks drain what the process wrote before it died.
        for t in [out, err].into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_millis(500), t).await;
        }
        // node removes its socket only on a clean close: one left behind means it listened.
        let listened = w.socket.exists();
        let _ = std::fs::remove_file(&w.socket);
        if let Ok(mut g) = w.exit_info.lock() {
            *g = Some(ExitInfo {
                status: status.clone(),
                at: Instant::now(),
            });
        }
        w.exited.store(true, Ordering::Release);
        w.exit_notify.notify_waiters();
        let stderr_tail = tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        let expected = w.stopping.load(Ordering::Acquire);
        events
            .send(ServeEvent::WorkerExited {
                id: w.id.clone(),
                status,
                stderr_tail,
                expected,
                hint: start_hint.filter(|_| !listened && !expected),
            })
            .await;
    });
    Ok(worker)
}

/// iisn's limit on open files (soft, hard) before it raised it (`super::run`): workers start
/// with it, as they would without iisn.
#[cfg(unix)]
pub(super) static ORIGINAL_OPEN_FILES: std::sync::OnceLock<(nix::libc::rlim_t, nix::libc::rlim_t)> =
    std::sync::OnceLock::new();

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use nix::sys::signal::Signal;
    let parent = nix::unistd::getpid();
    let open_files = ORIGINAL_OPEN_FILES.get().copied();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid, setrlimit); it allocates only on the
    // error path.
    #[expect(
        unsafe_code,
        reason = "pre_exec is the only way to set PR_SET_PDEATHSIG in the child"
    )]
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            // iisn may have died between fork and prctl: then nobody would kill us. An error
            // here makes the child exit before exec.
            if nix::unistd::getppid() != parent {
                return Err(io::Error::other("iisn exited while starting the worker"));
            }
            if let Some((soft, hard)) = open_files {
                let _ = nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_NOFILE,
                    soft,
                    hard,
                );
            }
            Ok(())
        });
    }
}

fn describe_status(s: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| sig.to_string());
            return format!("killed by {name}");
        }
    }
    match s.code() {
        Some(c) => format!("exit code {c}"),
        None => "exited".into(),
    }
}

/// Longest line forwarded to the terminal in one piece.
const MAX_LINE: usize = 64 * 1024;

/// Reads one output stream of a worker until it ends: each line goes to the log file as
/// soon as it is read, then to the terminal (and the stderr tail). Answers
/// [`Worker::flush_output`]'s requests once nothing is left unread or unwritten.
async fn capture<S: AsyncRead + Unpin + AsFd>(
    stream: S,
    kind: Stream,
    worker: Arc<Worker>,
    mut flushes: tokio::sync::mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    events: Events,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let (id, log) = (&worker.id, &worker.log);
    let index = match kind {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    };
    let mut reader = BufReader::new(stream);
    let mut file = log.enabled.then(|| {
        LogFile::new(
            log.clone(),
            id.pid,
            match kind {
                Stream::Stdout => StreamKind::Stdout,
                Stream::Stderr => StreamKind::Stderr,
            },
        )
    });
    let mut warned = false;
    // The line being put together for the terminal; the bytes read so far; the flush
    // requests to answer, each once the bytes that were in the pipe when it came are read
    // and their lines written.
    let mut line = Vec::new();
    let mut consumed = 0u64;
    let mut waiting: Vec<(u64, oneshot::Sender<()>)> = Vec::new();
    let mut flushes_open = true;
    loop {
        let busy = &worker.output.busy[index];
        let read = std::future::poll_fn(|cx| {
            // Busy from before the read until the chunk is in the file (below).
            busy.store(true, Ordering::SeqCst);
            let r = std::pin::Pin::new(&mut reader)
                .poll_fill_buf(cx)
                .map_ok(<[u8]>::len);
            if r.is_pending() {
                busy.store(false, Ordering::SeqCst);
            }
            r
        });
        tokio::select! {
            biased;
            flush = flushes.recv(), if flushes_open => match flush {
                Some(ack) => flush_request(ack, consumed, &reader, &mut waiting),
                None => flushes_open = false,
            },
            read = read => {
                let n = match read {
                    Ok(0) | Err(_) => {
                        busy.store(false, Ordering::SeqCst);
                        break;
                    }
                    Ok(n) => n,
                };
                // Whole lines (at most MAX_LINE bytes each): a line is never split between
                // two log files, as iisnode wrote each console.log call at once.
                let mut done = Vec::new();
                let mut rest = &reader.buffer()[..n];
                while !rest.is_empty() {
                    let end = rest
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(rest.len(), |i| i + 1);
                    let take = end.min(MAX_LINE - line.len());
                    line.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if line.ends_with(b"\n") || line.len() >= MAX_LINE {
                        done.push(std::mem::take(&mut line));
                    }
                }
                reader.consume(n);
                consumed += n as u64;
                for l in &done {
                    if let Some(f) = file.as_mut()
                        && let Err(e) = f.write(l)
                        && !warned
                    {
                        warned = true;
                        events.emit(ServeEvent::Warning {
                            text: format!("cannot write the log file in {}: {e}", log.dir.display()),
                        });
                    }
                }
                // (A line still without its newline is not waited for: console.log always
                // ends its line.)
                busy.store(false, Ordering::SeqCst);
                settle(&mut waiting, consumed);
                for l in &done {
                    // A terminal that does not keep up holds this task, not the answers
                    // whose lines are already in the files.
                    let shown = show_line(l, kind, id, &events, tail.as_deref());
                    let mut shown = std::pin::pin!(shown);
                    loop {
                        tokio::select! {
                            biased;
                            () = &mut shown => break,
                            flush = flushes.recv(), if flushes_open => match flush {
                                Some(ack) => flush_request(ack, consumed, &reader, &mut waiting),
                                None => flushes_open = false,
                            },
                        }
                    }
                }
            }
        }
    }
    // The end of the stream: a last line without its newline.
    if !line.is_empty() {
        if let Some(f) = file.as_mut() {
            let _ = f.write(&line);
        }
        show_line(&line, kind, id, &events, tail.as_deref()).await;
    }
    for (_, w) in waiting {
        let _ = w.send(());
    }
}

/// A flush request: answered at once if nothing waits in the pipe, else once the bytes in
/// it now have been read (this task is the pipe's only reader, so they are the next ones).
fn flush_request<S: AsyncRead + Unpin + AsFd>(
    ack: oneshot::Sender<()>,
    consumed: u64,
    reader: &BufReader<S>,
    waiting: &mut Vec<(u64, oneshot::Sender<()>)>,
) {
    let pending =
        reader.buffer().len() + super::transport::readable_bytes(reader.get_ref()).unwrap_or(0);
    if pending == 0 {
        let _ = ack.send(());
    } else {
        waiting.push((consumed + pending as u64, ack));
    }
}

/// Answers the flush requests whose bytes have all been read (and their lines written).
fn settle(waiting: &mut Vec<(u64, oneshot::Sender<()>)>, consumed: u64) {
    let mut i = 0;
    while i < waiting.len() {
        if waiting[i].0 <= consumed {
            let (_, ack) = waiting.swap_remove(i);
            let _ = ack.send(());
        } else {
            i += 1;
        }
    }
}

/// One line of a worker's output to the terminal (and to the stderr tail).
async fn show_line(
    bytes: &[u8],
    kind: Stream,
    id: &WorkerId,
    events: &Events,
    tail: Option<&Mutex<VecDeque<String>>>,
) {
    let line = String::from_utf8_lossy(bytes)
        .trim_end_matches(['\n', '\r'])
        .to_string();
    if let Some(t) = tail
        && let Ok(mut t) = t.lock()
    {
        if t.len() == TAIL_LINES {
            t.pop_front();
        }
        t.push_back(line.clone());
    }
    events
        .send(ServeEvent::Log {
            id: id.clone(),
            stream: kind,
            line,
        })
        .await;
}

/// Whether no byte waits in any of `pipes` (one `poll` without waiting).
fn pipes_empty<'a>(pipes: impl Iterator<Item = &'a std::os::fd::OwnedFd>) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds: Vec<PollFd<'_>> = pipes
        .map(|p| PollFd::new(p.as_fd(), PollFlags::POLLIN))
        .collect();
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) => true,
        // Readable, or closed (POLLHUP): data may wait, or the stream is ending; the
        // capture tasks say when they are done.
        Ok(_) => fds
            .iter()
            .all(|f| f.revents().is_none_or(|r| !r.intersects(PollFlags::POLLIN))),
        Err(_) => false,
    }
}
