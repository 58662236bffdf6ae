//! Forwarding one request to a worker and streaming the response back.
//!
//! iisnode speaks plain HTTP/1.1 to node over the pipe. iisn does the same over the worker's
//! Unix socket with hyper's client connection, keeping iisnode's rules:
//!
//! * the original request target is sent as the client wrote it (DECISIONS.md §16);
//! * `Connection` is forced to `keep-alive` unless the client asks for an upgrade, and
//!   `Expect` is removed (iisn answers `100 Continue` itself);
//! * `enableXFF` adds `X-Forwarded-For`/`X-Forwarded-Proto`; `promoteServerVars` adds
//!   `X-iisnode-<NAME>` headers in reverse list order, after dropping client-sent copies
//!   (DECISIONS.md §22);
//! * the request and response header blocks are limited to `maxRequestBufferSize`;
//! * node's `Connection` response header is dropped (it describes the socket), except on 101;
//! * bodies stream both ways, never buffered whole;
//! * connections are pooled per worker (LIFO, `maxNamedPipeConnectionPoolSize`, idle age below
//!   `maxNamedPipePooledConnectionAge`); a pooled connection the worker closed is retried
//!   once on a fresh one;
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

/// An idle connection to a worker.
pub struct Pooled {
    pub sender: SendRequest<ReqBody>,
    pub since: Instant,
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
struct ProxyBody {
    inner: Incoming,
    reuse: Option<(Arc<Worker>, SendRequest<ReqBody>, usize)>,
    _guard: ActiveGuard,
}

impl hyper::body::Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
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
        if let Some((worker, sender, max)) = self.reuse.take() {
            give_back(&worker, sender, max);
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

fn give_back(worker: &Worker, sender: SendRequest<ReqBody>, max: usize) {
    if max == 0 || sender.is_closed() || worker.has_exited() {
        return;
    }
    if let Ok(mut idle) = worker.idle.lock()
        && idle.len() < max
    {
        idle.push(Pooled {
            sender,
            since: Instant::now(),
        });
    }
}

/// Takes the newest idle connection younger than `max_age`, closing stale ones.
fn take_pooled(worker: &Worker, max_age: Duration) -> Option<SendRequest<ReqBody>> {
    let mut idle = worker.idle.lock().ok()?;
    while let Some(p) = idle.pop() {
        if p.since.elapsed() < max_age && !p.sender.is_closed() && p.sender.is_ready() {
            tracing::trace!(pid = worker.id.pid, idle = ?p.since.elapsed(), "reusing a pooled connection");
            return Some(p.sender);
        }
    }
    None
}

/// Failures with iisnode's status and sub-status.
pub fn failure(status: u16, substatus: u32, hresult: u32, detail: impl Into<String>) -> Failure {
    let reason = match status {
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
    retries: u32,
}

async fn handshake(
    stream: transport::Stream,
    max_head: usize,
) -> Result<SendRequest<ReqBody>, hyper::Error> {
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(true)
        .max_buf_size(max_head.max(8192))
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// Connects to `worker` within iisnode's retry budget.
async fn connect(
    worker: &Worker,
    retry: u32,
    delay_ms: u32,
    max_head: usize,
) -> Result<Connected, Failure> {
    let delay = Duration::from_millis(u64::from(delay_ms));
    let budget = delay * retry;
    // Poll much faster than the configured delay: readiness shows up within milliseconds.
    let poll = delay.clamp(Duration::from_millis(1), Duration::from_millis(10));
    let start = Instant::now();
    loop {
        let err = match transport::connect(&worker.socket).await {
            Ok(stream) => match handshake(stream, max_head).await {
                Ok(sender) => {
                    let retries = if delay.is_zero() {
                        0
                    } else {
                        (start.elapsed().as_millis() / delay.as_millis().max(1)) as u32
                    };
                    tracing::debug!(pid = worker.id.pid, retries, after = ?start.elapsed(), "connected to worker");
                    return Ok(Connected { sender, retries });
                }
                Err(e) => std::io::Error::other(e),
            },
            Err(e) => e,
        };
        tracing::trace!(pid = worker.id.pid, error = %err, "connect attempt failed");
        if worker.has_exited() {
            let status = worker.exit_info().map(|e| e.status).unwrap_or_default();
            return Err(failure(
                500,
                1002,
                0x6d,
                format!("the node process exited before iisn could connect to it ({status})"),
            ));
        }
        if start.elapsed() >= budget {
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

/// Header names that only describe one hop.
fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        && headers.contains_key(header::UPGRADE)
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
    let upgrade = is_upgrade_request(headers);
    headers.remove(header::EXPECT);
    if !upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    upgrade
}

/// Sends `req` to `worker` and returns node's response (body streaming).
pub async fn send(
    mut req: Request<Incoming>,
    worker: &Arc<Worker>,
    guard: ActiveGuard,
    s: &ProxySettings,
) -> Result<(Response<Body>, u32), Failure> {
    let upgrade = prepare_request_headers(req.headers_mut());
    let target_len = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    if head_size(req.headers()) + req.method().as_str().len() + target_len + 12 > s.max_head {
        return Err(failure(
            500,
            1005,
            0x8007_0718,
            format!(
                "the request headers are larger than maxRequestBufferSize ({} bytes)",
                s.max_head
            ),
        ));
    }
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

    // Attempt 0 may use a pooled connection; if the worker closed it, the request comes
    // back unsent and goes out once more on a fresh connection (iisnode's only retry).
    // A body-less request can be sent again if a pooled connection turns out dead: on Unix
    // a write to a socket node already closed (its keep-alive timeout) succeeds, and the
    // failure only shows when the response is read (engine spec §7.1, "fix").
    let replay = hyper::body::Body::is_end_stream(req.body()).then(|| {
        let mut r = Request::new(http_body_util::Empty::<Bytes>::new());
        *r.method_mut() = req.method().clone();
        *r.uri_mut() = req.uri().clone();
        *r.version_mut() = req.version();
        *r.headers_mut() = req.headers().clone();
        r
    });
    let mut retries = 0;
    let mut pending = Some(req.map(Either::Left));
    let mut sent = None;
    if !upgrade
        && let Some(mut pooled) = take_pooled(worker, s.pool_age)
        && let Some(r) = pending.take()
    {
        match pooled.try_send_request(r).await {
            Ok(resp) => sent = Some((pooled, resp)),
            Err(mut e) => match (e.take_message(), replay) {
                (Some(back), _) => {
                    retries = 1;
                    pending = Some(back);
                }
                (None, Some(again)) => {
                    retries = 1;
                    pending = Some(again.map(Either::Right));
                }
                (None, None) => {
                    return Err(failure(
                        500,
                        1011,
                        0x6d,
                        format!(
                            "the node process closed a kept-alive connection while the request body was being sent: {}",
                            e.error()
                        ),
                    ));
                }
            },
        }
    }
    let (sender, resp) = match (sent, pending) {
        (Some(x), _) => x,
        (None, Some(req)) => {
            let c = connect(worker, s.max_retry, s.retry_delay_ms, s.max_head).await?;
            retries += c.retries;
            let mut fresh = c.sender;
            let resp = fresh.send_request(req).await.map_err(|e| {
                let exited = worker.has_exited();
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
            })?;
            (fresh, resp)
        }
        (None, None) => {
            return Err(failure(
                500,
                1011,
                0x6d,
                "the request was lost before it could be sent",
            ));
        }
    };

    if head_size(resp.headers()) > s.max_head {
        return Err(failure(
            500,
            1012,
            0x8007_0718,
            format!(
                "the response headers from node are larger than maxRequestBufferSize ({} bytes)",
                s.max_head
            ),
        ));
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
    let reuse = keep_alive.then(|| (worker.clone(), sender, s.pool_size));
    let body = ProxyBody {
        inner: body,
        reuse,
        _guard: guard,
    }
    .boxed();
    Ok((Response::from_parts(parts, body), retries))
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
