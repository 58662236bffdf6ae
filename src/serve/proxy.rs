//! Forwarding one request to a worker and streaming the response back.
//!
//! iisnode speaks plain HTTP/1.1 to node over the pipe. iisn does the same over the worker's
//! Unix socket. A request without a body and without an upgrade, most of what a site
//! serves, goes through iisn's own lean client ([`super::upstream`]: one write for the head,
//! node's answer parsed from the connection's buffer, the body read as the client takes
//! it). A request with a body, or an upgrade, goes through hyper's client connection, which
//! iisn polls from the request's own task (while the response head is awaited, then from
//! the response body as hyper's server sends it) rather than spawning it. Either way one
//! task per client connection does all the work, with no wake-up of a second task per
//! exchange. Both keep iisnode's rules:
//!
//! * the original request target is sent as the client wrote it (DECISIONS.md §16);
//! * `Connection` is forced to `keep-alive` unless the client asks for an upgrade, and
//!   `Expect` is removed (iisn answers `100 Continue` itself);
//! * `enableXFF` adds `X-Forwarded-For`/`X-Forwarded-Proto`; `promoteServerVars` adds
//!   `X-iisnode-<NAME>` headers in reverse list order, after dropping client-sent copies
//!   (DECISIONS.md §22);
//! * the request and response header blocks are limited to `maxRequestBufferSize`;
//! * node's `Connection` response header is dropped (it describes the socket), except on 101;
//! * bodies stream both ways, never buffered whole (the frames of a chunked response that
//!   node has already sent are gathered so they go out with the head in one write);
//! * connections are pooled per worker and per front thread (LIFO; each thread may hold up
//!   to `maxNamedPipeConnectionPoolSize` and is cut back to its share of it once a second,
//!   see `upstream::PerWorker`; idle age below `maxNamedPipePooledConnectionAge`); a
//!   pooled connection the worker closed is retried once on a fresh one;
//! * a request that never reached node because its worker had exited (killed, crashed)
//!   comes back to the caller ([`SendError::Unsent`]) to go to the slot's next process; a
//!   body-less request that failed at once on a dying worker counts as never sent, one that
//!   node held for a while fails (iisnode fails the requests in flight on a process that
//!   dies);
//! * a client whose request body cannot be read (malformed chunked encoding) gets 400, as
//!   from http.sys, and node is not blamed;
//! * connecting retries within the budget `maxNamedPipeConnectionRetry` ×
//!   `namedPipeConnectionRetryDelay`, polling often so a worker that becomes ready early is
//!   used at once, and stops early with 500.1002 when the worker has exited.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, header};
use http_body_util::BodyExt;
use http_body_util::Either;
use http_body_util::combinators::BoxBody;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::pages::Failure;
use super::pool::AppPool;
use super::process::Worker;
use super::transport;
use super::upstream;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every response body iisn sends.
pub type Body = BoxBody<Bytes, BoxError>;

/// A complete body.
pub fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// The body of a request to node: the client's, or empty when a body-less request is
/// sent again on a fresh connection.
pub type ReqBody = Either<Incoming, http_body_util::Empty<Bytes>>;

/// hyper's client connection to a worker: the state machine that reads and writes the
/// socket. iisn polls it from the request's own task (see [`drive`]) instead of spawning it.
type ClientConn = hyper::client::conn::http1::Connection<TokioIo<transport::Stream>, ReqBody>;

/// An idle connection to a worker: the handle to send on and the connection itself.
pub struct Pooled {
    pub sender: SendRequest<ReqBody>,
    conn: Pin<Box<ClientConn>>,
    pub since: Instant,
    /// maxNamedPipePooledConnectionAge of its application.
    age: Duration,
}

impl Pooled {
    /// Young enough, and node has not closed it (polling lets hyper read an EOF).
    fn keep(&mut self, cx: &mut Context<'_>) -> bool {
        self.since.elapsed() < self.age
            && self.conn.as_mut().poll(cx).is_pending()
            && !self.sender.is_closed()
    }
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled")
            .field("since", &self.since)
            .finish()
    }
}

/// Counts a request against its worker and application until dropped.
pub struct ActiveGuard {
    worker: Arc<Worker>,
    pool: Arc<AppPool>,
}

impl ActiveGuard {
    /// Takes a slot on `worker`, or `None` when `maxConcurrentRequestsPerProcess` is reached.
    pub fn acquire(worker: &Arc<Worker>, pool: &Arc<AppPool>, max: usize) -> Option<ActiveGuard> {
        let prev = worker.active.fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            worker.active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        pool.active.fetch_add(1, Ordering::AcqRel);
        Some(ActiveGuard {
            worker: worker.clone(),
            pool: pool.clone(),
        })
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.worker.active.fetch_sub(1, Ordering::AcqRel);
        self.pool.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The response body from a worker: streams node's body, returns the connection to the
/// pool when it ends cleanly, and releases the request's concurrency slot when done.
///
/// It also drives the connection (`conn`): hyper's client connection is not a task of its
/// own but is polled here, from the task of the client connection that sends this body, so
/// node's bytes are read, decoded and handed over without waking another task.
struct ProxyBody {
    inner: Incoming,
    conn: Option<Pin<Box<ClientConn>>>,
    reuse: Option<(Arc<Worker>, SendRequest<ReqBody>, usize, Duration)>,
    _guard: ActiveGuard,
}

/// Polls the connection once; `false` when it has finished (closed or failed), after which
/// it is dropped.
fn poll_conn(conn: &mut Option<Pin<Box<ClientConn>>>, cx: &mut Context<'_>) -> bool {
    match conn.as_mut() {
        Some(c) => match c.as_mut().poll(cx) {
            Poll::Ready(_) => {
                *conn = None;
                false
            }
            Poll::Pending => true,
        },
        None => false,
    }
}

/// Runs `fut` (a request being sent on `conn`) while driving the connection in the same
/// task: hyper's client connection does the reading and writing, `fut` resolves when node's
/// response head has arrived (or with the error that ended the connection).
async fn drive<F: std::future::Future>(
    conn: &mut Option<Pin<Box<ClientConn>>>,
    fut: F,
) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        poll_conn(conn, cx);
        fut.as_mut().poll(cx)
    })
    .await
}

impl hyper::body::Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let mut polled = Pin::new(&mut this.inner).poll_frame(cx);
        if polled.is_pending() && this.conn.is_some() {
            // Let the connection read what node sent, then look again.
            poll_conn(&mut this.conn, cx);
            polled = Pin::new(&mut this.inner).poll_frame(cx);
        }
        match polled {
            Poll::Ready(None) => {
                this.release();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.reuse = None;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(Some(Ok(f))) => {
                // hyper stops polling once `is_end_stream` says so (a Content-Length body
                // that is complete): hand the connection back now rather than never.
                if hyper::body::Body::is_end_stream(&this.inner) {
                    this.release();
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl ProxyBody {
    /// Returns the connection to the worker's pool (once).
    fn release(&mut self) {
        if let (Some((worker, sender, max, age)), Some(conn)) =
            (self.reuse.take(), self.conn.take())
        {
            give_back(&worker, sender, conn, max, age);
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        // A body nobody polled to its end (HEAD, 204, 304, Content-Length: 0) is complete
        // when hyper says so; anything else was cut short and its connection is unusable.
        if hyper::body::Body::is_end_stream(&self.inner) {
            self.release();
        }
    }
}

// Idle connections to workers, per thread. A front thread runs a current-thread runtime
// (see `super::front`), so a connection made by one of its requests is driven by a task on
// that thread; pooling it per thread keeps the request, the connection and its task on one
// thread, with no lock and no cross-thread wake-up (see `upstream::PerWorker`).
thread_local! {
    static IDLE: upstream::PerWorker<Pooled> = const { upstream::PerWorker::new() };
}

/// Drops this thread's idle hyper connections that node has closed or that are too old, as
/// [`upstream::sweep_idle`] does for its own.
pub(super) fn sweep_idle() {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    IDLE.with(|idle| idle.sweep(|p| p.keep(&mut cx)));
}

fn give_back(
    worker: &Arc<Worker>,
    sender: SendRequest<ReqBody>,
    mut conn: Pin<Box<ClientConn>>,
    max: usize,
    max_age: Duration,
) {
    if max == 0 || worker.has_exited() {
        return;
    }
    // Let the connection finish the exchange (it then waits for the next request). Nothing
    // needs to wake for an idle connection: it is polled again by the sweep
    // (`sweep_idle`, once a second, which also lets go of closed and too old ones) and when
    // taken from the pool.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    if conn.as_mut().poll(&mut cx).is_ready() || sender.is_closed() {
        return;
    }
    // maxNamedPipeConnectionPoolSize is per worker; how the threads share it is
    // `upstream::PerWorker`'s business.
    let pooled = Pooled {
        sender,
        conn,
        since: Instant::now(),
        age: max_age,
    };
    IDLE.with(|idle| idle.put(worker, pooled, max));
}

/// Takes the newest idle connection still worth keeping ([`Pooled::keep`]), closing stale
/// ones.
fn take_pooled(worker: &Arc<Worker>) -> Option<Pooled> {
    IDLE.with(|idle| {
        if worker.has_exited() {
            idle.clear(worker);
            return None;
        }
        // An idle connection is not polled while it waits: poll it now, so that one node
        // closed meanwhile is seen as closed (its EOF is read) and dropped.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let p = idle.take(worker, |p| p.keep(&mut cx) && p.sender.is_ready())?;
        tracing::trace!(pid = worker.id.pid, idle = ?p.since.elapsed(), "reusing a pooled connection");
        Some(p)
    })
}

/// Failures with iisnode's status and sub-status.
pub fn failure(status: u16, substatus: u32, hresult: u32, detail: impl Into<String>) -> Failure {
    let reason = match status {
        400 => "Bad Request",
        503 => "Service Unavailable",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    Failure {
        status,
        substatus,
        hresult,
        reason,
        detail: detail.into(),
    }
}

/// What a connect attempt series ended with.
struct Connected {
    sender: SendRequest<ReqBody>,
    /// The connection, to drive from the request's task; `None` for an upgrade request,
    /// whose connection runs as a task of its own (it may become a tunnel).
    conn: Option<Pin<Box<ClientConn>>>,
    retries: u32,
}

async fn handshake(
    stream: transport::Stream,
    max_head: usize,
    upgrade: bool,
) -> Result<(SendRequest<ReqBody>, Option<Pin<Box<ClientConn>>>), hyper::Error> {
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(true)
        .title_case_headers(true)
        .max_buf_size(max_head.max(8192))
        .handshake(TokioIo::new(stream))
        .await?;
    if upgrade {
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        return Ok((sender, None));
    }
    Ok((sender, Some(Box::pin(conn))))
}

/// Connects to `worker` within iisnode's retry budget and makes hyper's client connection
/// on it (requests with a body, and upgrades).
async fn connect(
    worker: &Worker,
    retry: u32,
    delay_ms: u32,
    max_head: usize,
    upgrade: bool,
) -> Result<Connected, Failure> {
    let (stream, retries) = connect_stream(worker, retry, delay_ms, Instant::now()).await?;
    match handshake(stream, max_head, upgrade).await {
        Ok((sender, conn)) => Ok(Connected {
            sender,
            conn,
            retries,
        }),
        Err(e) => Err(failure(
            500,
            1001,
            0x2,
            format!("could not set up a connection to the node process: {e}"),
        )),
    }
}

/// Connects to `worker`'s socket within iisnode's retry budget
/// (`maxNamedPipeConnectionRetry` × `namedPipeConnectionRetryDelay`, counted from `since`:
/// a request that waited for a connection has waited part of it); also returns how many
/// retry delays the connecting took.
async fn connect_stream(
    worker: &Worker,
    retry: u32,
    delay_ms: u32,
    since: Instant,
) -> Result<(transport::Stream, u32), Failure> {
    let delay = Duration::from_millis(u64::from(delay_ms));
    let budget = delay * retry;
    // Poll much faster than the configured delay: readiness shows up within milliseconds.
    let poll = delay.clamp(Duration::from_millis(1), Duration::from_millis(10));
    let start = Instant::now();
    loop {
        let err = match transport::connect(&worker.socket).await {
            Ok(stream) => {
                let retries = if delay.is_zero() {
                    0
                } else {
                    (start.elapsed().as_millis() / delay.as_millis().max(1)) as u32
                };
                tracing::debug!(pid = worker.id.pid, retries, after = ?start.elapsed(), "connected to worker");
                return Ok((stream, retries));
            }
            Err(e) => e,
        };
        tracing::trace!(pid = worker.id.pid, error = %err, "connect attempt failed");
        // No descriptor left: waiting out the budget would hold the client's (and keep
        // others from being accepted); 503 at once, saying why.
        if transport::out_of_files(&err) {
            return Err(failure(
                503,
                1003,
                0x4,
                format!(
                    "iisn cannot open a connection to the node process: {err} ({})",
                    transport::open_files_hint()
                ),
            ));
        }
        if worker.has_exited() {
            let status = worker.exit_info().map(|e| e.status).unwrap_or_default();
            // (hresult: the last pipe-open error iisnode saw, ERROR_FILE_NOT_FOUND.)
            return Err(failure(
                500,
                1002,
                0x2,
                format!("the node process exited before iisn could connect to it ({status})"),
            ));
        }
        if since.elapsed() >= budget {
            let busy = err.kind() == std::io::ErrorKind::WouldBlock;
            return Err(if busy {
                failure(
                    503,
                    1003,
                    0xe7,
                    "the node process's socket stayed too busy to accept a connection",
                )
            } else {
                failure(
                    500,
                    1001,
                    0x2,
                    format!(
                        "could not connect to the node process within {} ms (maxNamedPipeConnectionRetry × namedPipeConnectionRetryDelay): {err}; does the app listen on process.env.PORT?",
                        budget.as_millis()
                    ),
                )
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = worker.wait_exit() => {}
        }
    }
}

/// Per-request settings the proxy needs (from the application's effective settings).
#[derive(Clone, Debug)]
pub struct ProxySettings {
    pub max_retry: u32,
    pub retry_delay_ms: u32,
    pub pool_size: usize,
    pub pool_age: Duration,
    pub max_head: usize,
}

/// Whether the client asks for an upgrade: `Upgrade` present and `Connection` lists
/// `upgrade`.
fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// The serialized size of a header block (request or status line excluded).
pub fn head_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + 2
}

/// Rewrites the hop-by-hop headers for node, as iisnode does.
pub fn prepare_request_headers(headers: &mut HeaderMap) -> bool {
    // One pass over the names instead of a hashed lookup per header: most requests have
    // neither `Upgrade` nor `Expect`.
    let (mut upgrade_named, mut expect) = (false, false);
    for name in headers.keys() {
        upgrade_named |= name == header::UPGRADE;
        expect |= name == header::EXPECT;
    }
    let upgrade = upgrade_named && is_upgrade_request(headers);
    if expect {
        headers.remove(header::EXPECT);
    }
    if !upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    upgrade
}

/// Why [`send`] failed.
pub enum SendError {
    /// The request reached node (or cannot be sent anywhere): it fails.
    Failed(Failure),
    /// The request never left iisn, because the worker exited before iisn could connect to
    /// it: it comes back, to go to the slot's next process (iisnode dispatches to a new
    /// process once the old one is gone).
    Unsent(Failure, Box<Request<ReqBody>>),
}

impl From<Failure> for SendError {
    fn from(f: Failure) -> Self {
        SendError::Failed(f)
    }
}

/// Whether a failed exchange with node was the client's fault: its request body could not
/// be read (a malformed chunked encoding, a body cut short). hyper reports an error of the
/// body it was sending as a "user" error whose cause is the client side's body error.
fn client_body_error(e: &hyper::Error) -> Option<String> {
    use std::error::Error as _;
    if !e.is_user() {
        return None;
    }
    let cause = e.source()?;
    let client = cause.downcast_ref::<hyper::Error>()?;
    Some(match client.source() {
        Some(inner) => inner.to_string(),
        None => client.to_string(),
    })
}

/// The failure for a request whose body the client sent malformed: 400, as http.sys answers.
fn bad_request(detail: &str) -> Failure {
    failure(
        400,
        0,
        0x8007_000d,
        format!("the client sent a malformed request body ({detail}); node was not at fault"),
    )
}

/// How long a failed exchange waits to learn whether the worker is exiting.
const EXIT_GRACE: Duration = Duration::from_millis(250);

/// Whether a body-less request that failed on a worker that then exited may go to the
/// slot's next process: only when it failed at once (the process was already dying: a kill,
/// a crash), never once node has held it for a while (a request in flight on a worker that
/// a recycle stopped fails, as on iisnode).
fn resendable(sent_at: Instant) -> bool {
    sent_at.elapsed() < RESEND_WINDOW
}

/// See [`resendable`].
const RESEND_WINDOW: Duration = Duration::from_millis(100);

/// A body-less copy of a request's head, to send again.
fn copy_head<B>(r: &Request<B>) -> Request<ReqBody> {
    let mut c = Request::new(Either::Right(http_body_util::Empty::<Bytes>::new()));
    *c.method_mut() = r.method().clone();
    *c.uri_mut() = r.uri().clone();
    *c.version_mut() = r.version();
    *c.headers_mut() = r.headers().clone();
    c
}

/// Sends `req` to `worker` and returns node's response (body streaming).
pub async fn send(
    mut req: Box<Request<ReqBody>>,
    worker: &Arc<Worker>,
    guard: ActiveGuard,
    s: &ProxySettings,
) -> Result<(Response<Body>, u32), SendError> {
    let upgrade = prepare_request_headers(req.headers_mut());
    let target_len = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    if head_size(req.headers()) + req.method().as_str().len() + target_len + 12 > s.max_head {
        return Err(SendError::Failed(failure(
            500,
            1005,
            0x8007_0718,
            format!(
                "the request headers are larger than maxRequestBufferSize ({} bytes)",
                s.max_head
            ),
        )));
    }
    if !upgrade && hyper::body::Body::is_end_stream(req.body()) {
        return send_bodyless(req, worker, guard, s).await;
    }
    // Boxed: hyper's client futures would otherwise make every request's future (and so
    // every client connection's task) several KiB larger.
    Box::pin(send_streaming(*req, worker, guard, s, upgrade)).await
}

/// [`send`] for a request with a body or an upgrade: hyper's client.
async fn send_streaming(
    mut req: Request<ReqBody>,
    worker: &Arc<Worker>,
    guard: ActiveGuard,
    s: &ProxySettings,
    upgrade: bool,
) -> Result<(Response<Body>, u32), SendError> {
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

    // Attempt 0 may use a pooled connection; if the worker closed it, the request comes
    // back unsent and goes out once more on a fresh connection (iisnode's only retry).
    // A body-less request can be sent again if a pooled connection turns out dead: on Unix
    // a write to a socket node already closed (its keep-alive timeout) succeeds, and the
    // failure only shows when the response is read (engine spec §7.1, "fix").
    let replay = hyper::body::Body::is_end_stream(req.body()).then(|| copy_head(&req));
    let mut retries = 0;
    let mut pending = Some(req);
    let mut sent = None;
    // Whether the request may go to another process if this worker turns out to have
    // exited: not once node may have worked on it for a while (see `resendable`).
    let mut may_resend = true;
    if !upgrade
        && let Some(pooled) = take_pooled(worker)
        && let Some(r) = pending.take()
    {
        let at = Instant::now();
        let Pooled {
            sender: mut pooled,
            conn,
            ..
        } = pooled;
        let mut conn = Some(conn);
        match drive(&mut conn, pooled.try_send_request(r)).await {
            Ok(resp) => sent = Some((pooled, conn, resp)),
            Err(mut e) => match (e.take_message(), &replay) {
                (Some(back), _) => {
                    retries = 1;
                    pending = Some(back);
                }
                (None, Some(again)) => {
                    retries = 1;
                    may_resend = resendable(at);
                    pending = Some(copy_head(again));
                }
                (None, None) => {
                    if let Some(detail) = client_body_error(e.error()) {
                        return Err(bad_request(&detail).into());
                    }
                    return Err(failure(
                        500,
                        1011,
                        0x6d,
                        format!(
                            "the node process closed a kept-alive connection while the request body was being sent: {}",
                            e.error()
                        ),
                    )
                    .into());
                }
            },
        }
    }
    let (sender, conn, resp) = match (sent, pending) {
        (Some(x), _) => x,
        (None, Some(req)) => {
            let c = match connect(worker, s.max_retry, s.retry_delay_ms, s.max_head, upgrade).await
            {
                Ok(c) => c,
                Err(f) if may_resend && worker.has_exited() => {
                    return Err(SendError::Unsent(f, Box::new(req)));
                }
                Err(f) => return Err(f.into()),
            };
            retries += c.retries;
            let mut fresh = c.sender;
            let mut conn = c.conn;
            let at = Instant::now();
            let result = if conn.is_some() {
                drive(&mut conn, fresh.try_send_request(req)).await
            } else {
                fresh.try_send_request(req).await
            };
            match result {
                Ok(resp) => (fresh, conn, resp),
                Err(mut e) => {
                    if let Some(detail) = client_body_error(e.error()) {
                        return Err(bad_request(&detail).into());
                    }
                    let quick = resendable(at);
                    // A worker killed a moment ago may still accept a connection and then
                    // reset it: if it turns out to have exited, a request node never
                    // answered (and which can be sent again) goes to the slot's next process.
                    let exited = worker.has_exited()
                        || tokio::time::timeout(EXIT_GRACE, worker.wait_exit())
                            .await
                            .is_ok();
                    let f = failure(
                        500,
                        if exited { 1013 } else { 1011 },
                        0x6d,
                        if exited {
                            format!(
                                "the node process exited while handling the request: {}",
                                e.error()
                            )
                        } else {
                            format!(
                                "the node process did not answer with a valid HTTP response: {}",
                                e.error()
                            )
                        },
                    );
                    let again = e.take_message().or_else(|| {
                        replay
                            .as_ref()
                            .filter(|_| may_resend && quick)
                            .map(copy_head)
                    });
                    return Err(match again {
                        Some(again) if exited => SendError::Unsent(f, Box::new(again)),
                        _ => SendError::Failed(f),
                    });
                }
            }
        }
        (None, None) => {
            return Err(failure(
                500,
                1011,
                0x6d,
                "the request was lost before it could be sent",
            )
            .into());
        }
    };

    if head_size(resp.headers()) > s.max_head {
        return Err(SendError::Failed(head_too_large(s.max_head)));
    }
    let (mut parts, body) = resp.into_parts();
    let keep_alive = !parts
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("close"));

    if parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
        // A tunnel: splice bytes both ways; the request keeps its concurrency slot until
        // both directions end, and the connection is never pooled.
        let mut node_resp = Response::from_parts(parts.clone(), body);
        let node_upgrade = hyper::upgrade::on(&mut node_resp);
        if let Some(client_upgrade) = client_upgrade {
            tokio::spawn(async move {
                let _guard = guard;
                let _sender = sender;
                if let (Ok(client), Ok(node)) = (client_upgrade.await, node_upgrade.await) {
                    let mut client = TokioIo::new(client);
                    let mut node = TokioIo::new(node);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
                }
            });
        }
        let mut r = Response::from_parts(parts, empty());
        r.headers_mut().remove(header::CONTENT_LENGTH);
        return Ok((r, retries));
    }

    parts.headers.remove(header::CONNECTION);
    parts.headers.remove(HeaderName::from_static("keep-alive"));
    // HTTP/1.1 to the client whatever node spoke (see `node_response`).
    parts.version = http::Version::HTTP_11;
    let reuse = keep_alive.then(|| (worker.clone(), sender, s.pool_size, s.pool_age));
    let body = ProxyBody {
        inner: body,
        conn,
        reuse,
        _guard: guard,
    };
    let streamed = hyper::body::Body::is_end_stream(&body)
        || hyper::body::Body::size_hint(&body).exact().is_some();
    if streamed {
        return Ok((Response::from_parts(parts, body.boxed()), retries));
    }
    let body = Prefetched::gather(body).await.boxed();
    Ok((Response::from_parts(parts, body), retries))
}

/// The failure for an exchange with node that went wrong after the request was written.
fn exchange_failure(e: &upstream::ExchangeError, exited: bool, max_head: usize) -> Failure {
    if let upstream::ExchangeError::TooLarge = e {
        return head_too_large(max_head);
    }
    failure(
        500,
        if exited { 1013 } else { 1011 },
        0x6d,
        if exited {
            format!("the node process exited while handling the request: {e}")
        } else {
            format!("the node process did not answer with a valid HTTP response: {e}")
        },
    )
}

fn head_too_large(max_head: usize) -> Failure {
    failure(
        500,
        1012,
        0x8007_0718,
        format!(
            "the response headers from node are larger than maxRequestBufferSize ({max_head} bytes)"
        ),
    )
}

/// [`send`] for a request without a body and without an upgrade: iisn's own client
/// ([`upstream`]) on a pooled or fresh connection, with the same retry and resend rules.
async fn send_bodyless(
    mut req: Box<Request<ReqBody>>,
    worker: &Arc<Worker>,
    guard: ActiveGuard,
    s: &ProxySettings,
) -> Result<(Response<Body>, u32), SendError> {
    let mut retries = 0;
    // Whether the request may go to another process if this worker turns out to have
    // exited: not once node may have worked on it for a while (see `resendable`).
    let mut may_resend = true;
    let budget = Duration::from_millis(u64::from(s.retry_delay_ms)) * s.max_retry;
    let (slot, since) = match upstream::acquire(worker, budget).await {
        upstream::Acquired::Pooled(mut conn) => {
            let at = Instant::now();
            match upstream::exchange(&mut conn, &*req, s.max_head).await {
                Ok(head) => {
                    upstream::recycle_headers(std::mem::take(req.headers_mut()));
                    return Ok((node_response(conn, head, worker, guard, s)?, retries));
                }
                Err(e @ upstream::ExchangeError::TooLarge) => {
                    return Err(exchange_failure(&e, false, s.max_head).into());
                }
                // Node closed the kept-alive connection (its keep-alive timeout, or it is
                // exiting), or the connection held bytes node wrote after its last answer:
                // once more on a fresh one (engine spec §7.1), as for any body-less request
                // on a pooled connection (at once: no waiting for a slot).
                Err(_) => {
                    retries = 1;
                    may_resend = resendable(at);
                    (None, Instant::now())
                }
            }
        }
        // (The connect budget counts from when the request began to wait.)
        upstream::Acquired::Fresh(slot, since) => (slot, since),
        upstream::Acquired::Busy => {
            return Err(failure(
                503,
                1003,
                0xe7,
                format!(
                    "the node process read no new request within {} ms (maxNamedPipeConnectionRetry × namedPipeConnectionRetryDelay) and none of its connections came back: its event loop is held",
                    budget.as_millis()
                ),
            )
            .into());
        }
    };
    let (stream, waited) = match connect_stream(worker, s.max_retry, s.retry_delay_ms, since).await
    {
        Ok(x) => x,
        Err(f) if may_resend && worker.has_exited() => {
            return Err(SendError::Unsent(f, req));
        }
        Err(f) => return Err(f.into()),
    };
    retries += waited;
    let mut conn = upstream::Conn::new(stream);
    let at = Instant::now();
    let fd = conn.raw_fd();
    match upstream::exchange_fresh(upstream::exchange(&mut conn, &*req, s.max_head), fd, slot).await
    {
        Ok(head) => {
            upstream::recycle_headers(std::mem::take(req.headers_mut()));
            Ok((node_response(conn, head, worker, guard, s)?, retries))
        }
        Err(e) => {
            let quick = resendable(at);
            // A worker killed a moment ago may still accept a connection and then reset
            // it: if it turns out to have exited, the request goes to the slot's next
            // process.
            let exited = worker.has_exited()
                || tokio::time::timeout(EXIT_GRACE, worker.wait_exit())
                    .await
                    .is_ok();
            // A request node never received may go to the next process whenever it exits.
            let unwritten = matches!(e, upstream::ExchangeError::Unwritten(_));
            let f = exchange_failure(&e, exited, s.max_head);
            Err(if exited && (unwritten || (may_resend && quick)) {
                SendError::Unsent(f, req)
            } else {
                SendError::Failed(f)
            })
        }
    }
}

/// The response to send the client for node's response head on `conn`: hop-by-hop headers
/// dropped, the body read from the connection as the client takes it.
fn node_response(
    conn: upstream::Conn,
    head: upstream::Head,
    worker: &Arc<Worker>,
    guard: ActiveGuard,
    s: &ProxySettings,
) -> Result<Response<Body>, Failure> {
    if head.size > s.max_head {
        return Err(head_too_large(s.max_head));
    }
    let reuse = upstream::Reuse {
        worker: worker.clone(),
        max: s.pool_size,
        age: s.pool_age,
    };
    let body = upstream::NodeBody::new(conn, &head, Some(reuse), guard);
    // (`Connection` and `Keep-Alive` were left out when the head was parsed.)
    let upstream::Head {
        status,
        headers,
        reason,
        ..
    } = head;
    // The client gets HTTP/1.1 whatever node spoke (http.sys answers an HTTP/1.1 client in
    // HTTP/1.1; hyper downgrades for an HTTP/1.0 client): node's version only decided
    // whether its connection may be reused.
    let mut resp = Response::new(body.boxed());
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    if let Some(reason) = reason {
        resp.extensions_mut().insert(reason);
    }
    Ok(resp)
}

/// Frames gathered before the response is handed to hyper, at most this many bytes.
const PREFETCH_BYTES: usize = 16 * 1024;
/// ... and at most this many frames.
const PREFETCH_FRAMES: usize = 8;

/// A chunked response from node whose first frames were read before its head went out.
///
/// hyper writes what it has buffered each time the body it sends has nothing ready, so a
/// small chunked answer (`res.write()` then `res.end()`) went to the client as three writes:
/// the head with the first chunk, the second chunk, the last chunk. Gathering the frames that
/// node has already sent (the connection, polled from this body, decodes them; one yield at a
/// time) lets hyper write them with the head in one go. Nothing waits for node: as soon as
/// no frame is ready after a yield, the response goes out with what there is, so streamed
/// responses (server-sent events, progress output) are not delayed. The chunks keep their
/// framing: the client still gets `Transfer-Encoding: chunked`.
struct Prefetched {
    frames: std::collections::VecDeque<Frame<Bytes>>,
    ended: bool,
    error: Option<BoxError>,
    inner: ProxyBody,
}

impl Prefetched {
    async fn gather(mut inner: ProxyBody) -> Prefetched {
        let mut frames = std::collections::VecDeque::new();
        let (mut ended, mut error) = (false, None);
        let (mut bytes, mut yielded) = (0usize, false);
        std::future::poll_fn(|cx| {
            loop {
                match hyper::body::Body::poll_frame(Pin::new(&mut inner), cx) {
                    Poll::Ready(Some(Ok(f))) => {
                        bytes += f.data_ref().map_or(0, Bytes::len);
                        frames.push_back(f);
                        yielded = false;
                        if bytes >= PREFETCH_BYTES || frames.len() >= PREFETCH_FRAMES {
                            return Poll::Ready(());
                        }
                    }
                    Poll::Ready(None) => {
                        ended = true;
                        return Poll::Ready(());
                    }
                    Poll::Ready(Some(Err(e))) => {
                        error = Some(e);
                        return Poll::Ready(());
                    }
                    Poll::Pending if !yielded => {
                        // Give node's next bytes one turn of the runtime to arrive.
                        yielded = true;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    Poll::Pending => return Poll::Ready(()),
                }
            }
        })
        .await;
        Prefetched {
            frames,
            ended,
            error,
            inner,
        }
    }
}

impl hyper::body::Body for Prefetched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(f) = this.frames.pop_front() {
            return Poll::Ready(Some(Ok(f)));
        }
        if let Some(e) = this.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        hyper::body::Body::poll_frame(Pin::new(&mut this.inner), cx)
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
            && self.error.is_none()
            && (self.ended || hyper::body::Body::is_end_stream(&self.inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_rules() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        h.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        assert!(!prepare_request_headers(&mut h));
        assert_eq!(
            h.get(header::CONNECTION).map(|v| v.as_bytes()),
            Some(&b"keep-alive"[..])
        );
        assert!(h.get(header::EXPECT).is_none());

        // Firefox sends `keep-alive, Upgrade`: still an upgrade (iisnode#497 fixed).
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(prepare_request_headers(&mut h));
        assert_eq!(
            h.get(header::CONNECTION).map(|v| v.as_bytes()),
            Some(&b"keep-alive, Upgrade"[..])
        );
    }
}
