//! The harness: a fixture site copied into a temporary folder, the real `iisn serve` running
//! on it, and HTTP clients that talk to it.
//!
//! * [`Site::new`] copies `tests/fixtures/sites/<name>/` (and [`Site::pipeline`]
//!   `tests/fixtures/pipeline/<name>/`) into a fresh temporary folder (so
//!   log files and release files never touch the repository). It returns `None`, after
//!   printing why, when `node` is not on PATH: every test starts with
//!   `let Some(site) = Site::new("hello") else { return };` (ripgrep's `cmd_exists` style).
//! * [`Site::serve`] / [`Launch::start`] spawn the built binary with
//!   `serve <site> --port 0 --log-format json`, read its stdout (one JSON object per line) on
//!   a thread, and wait for the `listening` event. The environment is scrubbed of
//!   `IISNODE_*`, `IISN_*` and `NODE_ENV`, and `TMPDIR` points into the test's own folder, so
//!   worker sockets and their cleanup can be checked.
//! * [`Server`] offers `get`/`post`/`send` (hyper's client), [`Conn`] raw HTTP/1.1 over a TCP
//!   socket for framing-exact tests, `raw_get`/`raw_send` (a request target sent exactly as
//!   written, read until iisn closes), `wait_for_event`, `stop` (SIGINT, exit status 130),
//!   `kill9`, and a `Drop` that kills iisn if it is still running and, when the test is
//!   failing, prints what iisn said.
//!
//! Timeouts are upper bounds only: every wait polls and returns as soon as its condition holds.

#![allow(
    dead_code,
    reason = "each test module uses a different part of the harness"
)]

use std::convert::Infallible;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The upper bound for anything that should happen "soon" (a start, a request, a stop).
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether `node` runs; prints the skip reason once per test that asks.
pub fn node_available() -> bool {
    static NODE: OnceLock<bool> = OnceLock::new();
    let ok = *NODE.get_or_init(|| {
        Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        // .ci/run installs node: under CI a missing node is a failure, never a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "`node` is not on PATH, and CI must run the serve tests"
        );
        eprintln!("skipped: `node` is not on PATH (install Node.js to run the serve tests)");
    }
    ok
}

fn fixtures(group: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(group)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the site folder");
    for entry in fs::read_dir(from).expect("read the fixture folder") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// A copy of a fixture site in a temporary folder.
pub struct Site {
    tmp: TempDir,
    root: PathBuf,
}

impl Site {
    /// Copies `tests/fixtures/sites/<fixture>`; `None` (test skipped) without node.
    pub fn new(fixture: &str) -> Option<Site> {
        Site::copy_of(&fixtures("sites").join(fixture))
    }

    /// Copies `tests/fixtures/pipeline/<fixture>` (the IIS pipeline sites); `None` without
    /// node.
    pub fn pipeline(fixture: &str) -> Option<Site> {
        Site::copy_of(&fixtures("pipeline").join(fixture))
    }

    /// Copies `examples/<name>` (the sites the README documents); `None` without node.
    pub fn example(name: &str) -> Option<Site> {
        Site::copy_of(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(name),
        )
    }

    fn copy_of(fixture: &Path) -> Option<Site> {
        if !node_available() {
            return None;
        }
        let tmp = TempDir::new().expect("tempdir");
        // Canonical, so paths reported by node (cwd, argv) compare equal.
        let base = fs::canonicalize(tmp.path()).expect("canonical tempdir");
        let root = base.join("site");
        copy_dir(fixture, &root);
        fs::create_dir_all(base.join("tmp")).expect("private TMPDIR");
        Some(Site { tmp, root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The `TMPDIR` given to iisn: its private socket folder is created in here.
    pub fn tmpdir(&self) -> PathBuf {
        self.outside().join("tmp")
    }

    /// The folder above the site (outside it), for traversal targets.
    pub fn outside(&self) -> &Path {
        self.root.parent().expect("site has a parent")
    }

    /// Writes (or replaces) a file of the site.
    pub fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let p = self.root.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&p, bytes).expect("write a site file");
    }

    /// Replaces `<dir>/web.config` with one mapping `script` to iisnode, with the given
    /// `<iisnode .../>` attributes (e.g. `nodeProcessCountPerApplication="2"`).
    pub fn web_config(&self, script: &str, iisnode_attrs: &str) {
        let dir = Path::new(script)
            .parent()
            .map(|p| p.to_string_lossy().into_owned());
        let name = Path::new(script)
            .file_name()
            .expect("script name")
            .to_string_lossy()
            .into_owned();
        let rel = match dir.as_deref() {
            Some(d) if !d.is_empty() => format!("{d}/web.config"),
            _ => "web.config".to_string(),
        };
        self.write(
            &rel,
            &format!(
                r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="{name}" verb="*" modules="iisnode" />
    </handlers>
    <iisnode {iisnode_attrs} />
  </system.webServer>
</configuration>
"#
            ),
        );
    }

    /// Names of the files in `<rel>` (sorted); empty when the folder does not exist.
    pub fn files_in(&self, rel: &str) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.root.join(rel)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A launcher for `iisn serve` on this site.
    pub fn iisn(&self) -> Launch<'_> {
        Launch {
            site: self,
            args: Vec::new(),
            env: Vec::new(),
            port: "0".into(),
            open_files: None,
        }
    }

    /// `iisn serve <site> --port 0 --log-format json`, waited for until it listens.
    pub fn serve(&self) -> Server {
        self.iisn().start()
    }
}

/// How to start iisn: extra arguments and environment.
pub struct Launch<'a> {
    site: &'a Site,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    port: String,
    /// Soft and (when lowered) hard limit on open files.
    open_files: Option<(u64, Option<u64>)>,
}

impl Launch<'_> {
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = port.to_string();
        self
    }

    /// Starts iisn with this soft limit on open files (the hard limit unchanged).
    pub fn open_files_limit(mut self, soft: u64) -> Self {
        self.open_files = Some((soft, None));
        self
    }

    /// Starts iisn with this soft and hard limit on open files (it cannot raise it).
    pub fn open_files_hard_limit(mut self, limit: u64) -> Self {
        self.open_files = Some((limit, Some(limit)));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_iisn"));
        cmd.arg("serve")
            .arg(self.site.root())
            .args(["--port", &self.port, "--log-format", "json"])
            .args(&self.args)
            .current_dir(self.site.root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy().to_ascii_uppercase();
            if name.starts_with("IISNODE_") || name.starts_with("IISN_") || name == "NODE_ENV" {
                cmd.env_remove(&k);
            }
        }
        cmd.env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", self.site.tmpdir())
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        // Its own process group, so signals reach it only through the harness (what the
        // shutdown tests need) and Drop can kill the whole group.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        die_with_test(&mut cmd, self.open_files);
        cmd
    }

    /// Starts iisn and waits (up to [`TIMEOUT`]) for its `listening` event.
    pub fn start(self) -> Server {
        let started = Instant::now();
        let mut child = self.command().spawn().expect("spawn iisn");
        let pid = child.id();
        let events = Arc::new(EventLog::default());
        let stdout = child.stdout.take().expect("stdout piped");
        let log = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                log.push(v);
            }
            log.close();
        });
        let stderr_buf = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr piped");
        let buf = stderr_buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match stderr.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut b) = buf.lock() {
                            b.push_str(&String::from_utf8_lossy(&chunk[..n]));
                        }
                    }
                }
            }
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("client runtime");
        let mut server = Server {
            child,
            pid,
            url: String::new(),
            addr: "127.0.0.1:0".parse().expect("addr"),
            events,
            stderr: stderr_buf,
            rt: Some(rt),
            status: None,
            site_root: self.site.root().to_path_buf(),
            tmpdir: self.site.tmpdir(),
        };
        let listening = server
            .try_wait_for_event(0, |e| is_event(e, "listening"), TIMEOUT)
            .unwrap_or_else(|| {
                server.kill9();
                panic!(
                    "iisn did not print its listening event within {TIMEOUT:?}\n{}",
                    server.transcript()
                )
            });
        let url = listening["url"]
            .as_str()
            .expect("url in the listening event")
            .to_string();
        let addr = url
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("listening url {url} is not http://ip:port"));
        server.url = url;
        server.addr = addr;
        eprintln!(
            "iisn (pid {pid}) listening on {} after {:?}",
            server.url,
            started.elapsed()
        );
        server
    }

    /// Runs iisn expecting it to exit by itself within [`TIMEOUT`]: (status, stdout, stderr).
    pub fn run_to_exit(self) -> (ExitStatus, String, String) {
        let mut child = self.command().spawn().expect("spawn iisn");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                let mut out = String::new();
                let mut err = String::new();
                if let Some(mut s) = child.stdout.take() {
                    let _ = s.read_to_string(&mut out);
                }
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                return (status, out, err);
            }
            if start.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("iisn was expected to exit by itself but still ran after {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Kills iisn if the thread that started it (the test) dies without running `Drop`, e.g.
/// when the test binary is interrupted: no iisn outlives its test. (Being in its own process
/// group, iisn would not get the terminal's Ctrl-C.)
///
/// With `open_files`, the child's soft limit on open files is set to it before exec.
fn die_with_test(cmd: &mut Command, open_files: Option<(u64, Option<u64>)>) {
    let parent = nix::unistd::getpid();
    // SAFETY: runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid, getrlimit, setrlimit).
    #[expect(
        unsafe_code,
        reason = "pre_exec is the only way to set PR_SET_PDEATHSIG"
    )]
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("the test exited while starting iisn"));
            }
            if let Some((soft, lowered)) = open_files {
                use nix::sys::resource::{Resource, getrlimit, setrlimit};
                let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
                let hard = lowered.map_or(hard, |l| l.min(hard));
                setrlimit(Resource::RLIMIT_NOFILE, soft.min(hard), hard)?;
            }
            Ok(())
        });
    }
}

/// iisn's stdout, one JSON value per line (non-JSON lines are kept as strings).
#[derive(Default)]
pub struct EventLog {
    lines: Mutex<(Vec<Value>, bool)>,
    cv: Condvar,
}

impl EventLog {
    fn push(&self, v: Value) {
        let mut g = self.lines.lock().expect("event log");
        g.0.push(v);
        self.cv.notify_all();
    }

    fn close(&self) {
        let mut g = self.lines.lock().expect("event log");
        g.1 = true;
        self.cv.notify_all();
    }
}

/// Whether `e` is iisn's own event `name` (`listening`, `spawned`, `ready`, `exited`, ...).
pub fn is_event(e: &Value, name: &str) -> bool {
    e["stream"] == "iisn" && e["event"] == name
}

/// Whether `e` is a line the worker wrote on `stream` ("stdout"/"stderr") equal to `text`.
pub fn is_output(e: &Value, stream: &str, text: &str) -> bool {
    e["stream"] == stream && e["text"] == text
}

/// A running `iisn serve`.
pub struct Server {
    child: Child,
    pid: u32,
    url: String,
    addr: SocketAddr,
    events: Arc<EventLog>,
    stderr: Arc<Mutex<String>>,
    rt: Option<tokio::runtime::Runtime>,
    status: Option<ExitStatus>,
    site_root: PathBuf,
    tmpdir: PathBuf,
}

/// A response read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The worker pid the fixture apps put in `x-pid`.
    pub fn pid(&self) -> u32 {
        self.header("x-pid")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("response without x-pid: {self:?}"))
    }
}

/// The request body type of the hyper client helpers.
pub type ReqBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A complete body (sent with Content-Length).
pub fn full(b: impl Into<Bytes>) -> ReqBody {
    Full::new(b.into())
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

/// Sends one request over a fresh connection and returns the response with its body
/// still streaming. Adds `Host` when missing.
pub async fn open<B>(addr: SocketAddr, mut req: Request<B>) -> Response<Incoming>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    if !req.headers().contains_key(http::header::HOST) {
        req.headers_mut().insert(
            http::header::HOST,
            addr.to_string().parse().expect("host header"),
        );
    }
    let stream = TcpStream::connect(addr).await.expect("connect to iisn");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .expect("send the request to iisn")
}

/// Sends one request and reads the whole response.
pub async fn fetch<B>(addr: SocketAddr, req: Request<B>) -> Resp
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let resp = open(addr, req).await;
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .expect("read the response body")
        .to_bytes();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

impl Server {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// iisn's own pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("runtime alive")
    }

    /// Runs a future on the client runtime, failing the test after [`TIMEOUT`].
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.block_on_for(TIMEOUT, f)
    }

    pub fn block_on_for<F: std::future::Future>(&self, limit: Duration, f: F) -> F::Output {
        self.rt()
            .block_on(async { tokio::time::timeout(limit, f).await })
            .unwrap_or_else(|_| {
                panic!(
                    "no answer from iisn within {limit:?}\n{}",
                    self.transcript()
                )
            })
    }

    /// Sends a request built by the test (whole response).
    pub fn send(&self, req: Request<ReqBody>) -> Resp {
        let addr = self.addr;
        self.block_on(fetch(addr, req))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.get_with(path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut b = Request::get(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(full(Bytes::new())).expect("request"))
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Resp {
        let mut b = Request::post(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(full(body)).expect("request"))
    }

    /// Runs `f` with a fresh raw connection to iisn, on the client runtime (failing the test
    /// after [`TIMEOUT`]).
    pub fn with_conn<T>(&self, f: impl AsyncFnOnce(&mut Conn) -> T) -> T {
        let addr = self.addr;
        self.block_on(async move {
            let mut c = Conn::connect(addr).await;
            f(&mut c).await
        })
    }

    /// A raw HTTP/1.1 connection to iisn.
    pub fn conn(&self) -> Conn {
        let addr = self.addr;
        self.block_on(Conn::connect(addr))
    }

    /// Sends raw request bytes on a fresh connection and reads one response.
    pub fn raw(&self, request: &str) -> RawResponse {
        let addr = self.addr;
        self.block_on(async move {
            let mut c = Conn::connect(addr).await;
            c.send(request.as_bytes()).await;
            c.read_response().await
        })
    }

    /// Sends `head` (request line and headers, without the blank line; `Host` and
    /// `Connection: close` are added) and `body` exactly as written, on a fresh connection,
    /// and reads until iisn closes it: for targets a client library would normalise or
    /// refuse (encoded dots, backslashes), and for requests iisn drops without an answer.
    pub fn raw_send(&self, head: &str, body: &[u8]) -> RawResponse {
        let addr = self.addr;
        let head = format!("{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        self.block_on(async move {
            let mut c = Conn::connect(addr).await;
            c.send(head.as_bytes()).await;
            if !body.is_empty() {
                // iisn may answer (413) and close before it reads the body.
                let _ = c.stream.write_all(body).await;
            }
            c.read_until_close().await
        })
    }

    /// `GET <target>` sent as written ([`Server::raw_send`]).
    pub fn raw_get(&self, target: &str) -> RawResponse {
        self.raw_get_with(target, &[])
    }

    /// `GET <target>` with header lines (`"Range: bytes=0-9"`), sent as written.
    pub fn raw_get_with(&self, target: &str, headers: &[&str]) -> RawResponse {
        let mut head = format!("GET {target} HTTP/1.1");
        for h in headers {
            head.push_str("\r\n");
            head.push_str(h);
        }
        self.raw_send(&head, b"")
    }

    /// Every line iisn printed so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lines.lock().expect("event log").0.clone()
    }

    /// The number of lines so far: pass it to [`Server::wait_for_event_after`] to look only at
    /// what comes next.
    pub fn mark(&self) -> usize {
        self.events.lines.lock().expect("event log").0.len()
    }

    /// The first line (from index `from`) matching `pred`, waiting up to `timeout`.
    pub fn try_wait_for_event(
        &self,
        from: usize,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        let mut g = self.events.lines.lock().expect("event log");
        let mut next = from;
        loop {
            if let Some(v) = g.0.iter().skip(next).find(|v| pred(v)) {
                return Some(v.clone());
            }
            next = g.0.len().max(from);
            let now = Instant::now();
            if g.1 || now >= deadline {
                return None;
            }
            g = self
                .events
                .cv
                .wait_timeout(g, deadline - now)
                .expect("event log")
                .0;
        }
    }

    /// The first line matching `pred` (earlier ones included); fails the test after `timeout`.
    pub fn wait_for_event(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        self.wait_for_event_after(0, pred, timeout)
    }

    pub fn wait_for_event_after(
        &self,
        from: usize,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        self.try_wait_for_event(from, pred, timeout)
            .unwrap_or_else(|| {
                panic!(
                    "the expected line did not appear on iisn's stdout within {timeout:?}\n{}",
                    self.transcript()
                )
            })
    }

    /// Waits for `n` `ready` events and returns their pids in order.
    pub fn wait_ready(&self, n: usize) -> Vec<u32> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let pids = self.event_pids("ready");
            if pids.len() >= n {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "{n} workers were not ready within {TIMEOUT:?}\n{}",
                self.transcript()
            );
            let from = self.mark();
            let _ =
                self.try_wait_for_event(from, |e| is_event(e, "ready"), Duration::from_millis(200));
        }
    }

    /// The pids of every `event` (e.g. "spawned") so far, in order.
    pub fn event_pids(&self, event: &str) -> Vec<u32> {
        self.events()
            .iter()
            .filter(|e| is_event(e, event))
            .filter_map(|e| e["pid"].as_u64())
            .map(|p| p as u32)
            .collect()
    }

    /// What iisn wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// stderr once it contains `text` (within `timeout`, else as it is then). stdout and
    /// stderr are read by two threads: the listening event can be seen before the reader
    /// of stderr has taken a warning iisn wrote before it.
    pub fn wait_for_stderr(&self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let err = self.stderr();
            if err.contains(text) || Instant::now() >= deadline {
                return err;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines of stdout and all of stderr, for failure messages.
    pub fn transcript(&self) -> String {
        let events = self.events();
        let tail: Vec<String> = events
            .iter()
            .skip(events.len().saturating_sub(40))
            .map(|e| e.to_string())
            .collect();
        format!(
            "--- iisn stdout (last {} of {} lines) ---\n{}\n--- iisn stderr ---\n{}",
            tail.len(),
            events.len(),
            tail.join("\n"),
            self.stderr()
        )
    }

    /// Sends `signal` to iisn.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), signal);
    }

    /// Waits up to `limit` for iisn to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.status {
            return Some(s);
        }
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                self.status = Some(s);
                // Let the reader thread take the last lines.
                let _ = self.try_wait_for_event(usize::MAX, |_| false, Duration::from_millis(500));
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Ctrl-C: SIGINT, then waits for iisn to exit and asserts exit status 130 (128 +
    /// SIGINT: a graceful stop on Ctrl-C).
    pub fn stop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGINT);
        let limit = Duration::from_secs(15);
        match self.wait_exit(limit) {
            Some(s) => assert!(
                s.code() == Some(130),
                "iisn exited with {s} after SIGINT (expected 130)\n{}",
                self.transcript()
            ),
            None => {
                let t = self.transcript();
                self.kill9();
                panic!("iisn did not exit within {limit:?} of SIGINT\n{t}");
            }
        }
    }

    /// `kill -9` iisn and reap it.
    pub fn kill9(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// `kill -9` iisn's whole process group (iisn and anything it left in its group; workers
    /// have their own groups and die with iisn by PR_SET_PDEATHSIG).
    fn kill_group(&mut self) {
        if self.status.is_none() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            self.status = self.child.wait().ok();
        }
    }

    /// `iisn-<pid>-*` socket folders iisn left in its TMPDIR.
    pub fn socket_dirs(&self) -> Vec<PathBuf> {
        let prefix = format!("iisn-{}-", self.pid);
        fs::read_dir(&self.tmpdir)
            .map(|r| {
                r.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn site_root(&self) -> &Path {
        &self.site_root
    }

    pub fn tmpdir(&self) -> &Path {
        &self.tmpdir
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.transcript());
        }
        self.kill_group();
        // Dropping the runtime here is fine: tests are synchronous.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Whether process `pid` is gone (no such process, or a zombie nobody reaped yet).
pub fn process_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            matches!(state, Some('Z' | 'X'))
        }
    }
}

/// Polls until every pid is gone; returns the ones still alive after `limit`.
pub fn wait_gone(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| !process_gone(*p)).collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The host name iisn puts in log file names.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .expect("hostname")
        .to_string_lossy()
        .into_owned()
}

/// A response read from a raw connection, framing kept.
#[derive(Debug, Default)]
pub struct RawResponse {
    /// Status line and header lines exactly as received (without the blank line).
    pub head: String,
    pub status: u16,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Bytes received in all, by [`Conn::read_until_close`] (0: closed without an answer).
    pub raw_len: usize,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A request body generated on the fly: `total` bytes of `fill` in `chunk`-sized frames,
/// without a length (so it goes out chunked). Never holds more than one chunk.
pub struct Generated {
    left: u64,
    chunk: Bytes,
}

impl Generated {
    pub fn new(total: u64, chunk_size: usize) -> Generated {
        Generated {
            left: total,
            chunk: Bytes::from(vec![b'u'; chunk_size]),
        }
    }

    pub fn boxed(self) -> ReqBody {
        BodyExt::boxed_unsync(self)
    }
}

impl Body for Generated {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len() as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Reads a streaming response body, counting bytes and keeping the last `keep` of them.
pub async fn count_body(mut body: hyper::body::Incoming, keep: usize) -> (u64, Vec<u8>) {
    let mut total = 0u64;
    let mut tail: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("response body frame");
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            tail.extend_from_slice(&data[data.len().saturating_sub(keep)..]);
            if tail.len() > keep {
                tail.drain(..tail.len() - keep);
            }
        }
    }
    (total, tail)
}

/// A raw HTTP/1.1 client connection (tokio TCP), for framing-exact tests and WebSockets.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect to iisn");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to iisn");
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            // A reset after a crash counts as the end of the stream.
            Err(_) => false,
        }
    }

    /// Exactly `n` bytes (panics at a premature end of stream).
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(
                self.fill().await,
                "connection closed while {n} bytes were expected"
            );
        }
        self.buf.drain(..n).collect()
    }

    /// Up to and including the next CRLF; `None` at end of stream.
    pub async fn read_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return Some(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Everything until the peer closes.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }

    /// The next response head (status line and headers), interim ones (`100 Continue`)
    /// included.
    pub async fn read_any_head(&mut self) -> RawResponse {
        let status_line = self.read_line().await.expect("a status line from iisn");
        let mut r = RawResponse {
            head: status_line.clone(),
            status: status_line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad status line {status_line:?}")),
            ..RawResponse::default()
        };
        loop {
            let line = self.read_line().await.expect("a header line from iisn");
            if line.is_empty() {
                break;
            }
            r.head.push_str("\r\n");
            r.head.push_str(&line);
            let (k, v) = line.split_once(':').unwrap_or((&line, ""));
            r.headers.push((k.to_string(), v.trim().to_string()));
        }
        r.chunked = r
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        r
    }

    /// A final response head, skipping `100 Continue`.
    pub async fn read_head(&mut self) -> RawResponse {
        loop {
            let r = self.read_any_head().await;
            if r.status != 100 {
                return r;
            }
        }
    }

    /// One chunk of a chunked body: `Some(data)`, or `None` for the last (empty) chunk.
    pub async fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let size_line = self.read_line().await.expect("a chunk size line");
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
        if size == 0 {
            // Trailers, then the blank line.
            while let Some(l) = self.read_line().await {
                if l.is_empty() {
                    break;
                }
            }
            return None;
        }
        let data = self.read_exact(size).await;
        let crlf = self.read_exact(2).await;
        assert_eq!(crlf, b"\r\n", "chunk not followed by CRLF");
        Some(data)
    }

    /// Everything until iisn closes the connection (a reset counts as closing), as one
    /// response: the body is what follows the head, de-chunked. Nothing received: status 0,
    /// `raw_len` 0; bytes without a complete head: status 0, the bytes as the body.
    pub async fn read_until_close(&mut self) -> RawResponse {
        while self.fill().await {}
        let raw_len = self.buf.len();
        if !self.buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return RawResponse {
                body: std::mem::take(&mut self.buf),
                raw_len,
                ..RawResponse::default()
            };
        }
        // The stream is at its end: these read from the buffer.
        let mut r = self.read_head().await;
        if r.chunked {
            while let Some(c) = self.read_chunk().await {
                r.body.extend_from_slice(&c);
            }
        } else {
            r.body = std::mem::take(&mut self.buf);
        }
        r.raw_len = raw_len;
        r
    }

    /// Sends a request (raw bytes) and reads its whole response.
    pub async fn request(&mut self, bytes: &[u8]) -> RawResponse {
        self.send(bytes).await;
        self.read_response().await
    }

    /// A whole response (head and body, by its framing).
    pub async fn read_response(&mut self) -> RawResponse {
        let mut r = self.read_head().await;
        if r.chunked {
            while let Some(c) = self.read_chunk().await {
                r.body.extend_from_slice(&c);
            }
        } else if let Some(n) = r
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            r.body = self.read_exact(n).await;
        } else if r.status != 204 && r.status != 304 && r.status != 101 {
            r.body = self.read_to_end().await;
        }
        r
    }
}
