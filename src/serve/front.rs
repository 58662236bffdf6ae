//! The front server: HTTP/1.1 on TCP, and the per-request pipeline.
//!
//! Each accepted connection goes to [`super::downstream`]: simple `GET`/`HEAD` requests are
//! served by iisn's own HTTP/1.1 loop, and at the first other request the connection is handed
//! to hyper, which serves it with keep-alive, upgrades (WebSocket tunnels), a header-read
//! timeout and a cap on the header block, so a slow or oversized client cannot hold iisn
//! hostage. Each request goes through the pipeline: [`super::pipeline`] runs IIS's steps
//! (request filtering, URL Rewrite, handler mapping, default documents) and the router
//! ([`Router::routing`]) says where it goes; `pipeline` here carries that out: a static file, a
//! listing, a redirect, an IIS error page (httpErrors), a dropped connection (AbortRequest), or
//! the application step, which plays iisnode: config-error pages, the missing-script 404,
//! `X-Original-URL`, X-Forwarded-*, promoted server variables, slot choice (round robin or
//! sticky), the concurrency limit, the proxy, and iisnode's error pages; node's responses
//! with an error status then go through httpErrors' `existingResponse`
//! ([`errors::node_response`]; the others cost one comparison). Custom headers go on every
//! response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::debugger::{self, DebugUrl};
use super::events::{ServeEvent, WorkerId};
use super::logs;
use super::pages::{self, ConfigErrorPage, Failure};
use super::pipeline::errors::{self, ErrorContext};
use super::pipeline::static_files::{self, FileRequest};
use super::pipeline::{RequestHead, strip_prefix_ci};
use super::pool::{AppPool, sticky_slot};
use super::proxy::{self, ActiveGuard, Body, ReqBody, SendError};
use super::router::{AppRoute, Route, Router, Routing};
use super::server_vars::{AuthEmulation, RequestInfo};
use crate::config::ConfigErrorKind;
use crate::config::schema::Attr;

/// Everything a request needs.
#[derive(Debug)]
pub struct ServerCtx {
    pub router: Router,
    pub auth: Option<AuthEmulation>,
    /// The listening address (on a wildcard address, a connection's own local address is
    /// in its [`Peer`]).
    pub local_addr: SocketAddr,
    pub hostname: String,
    /// The contents of `app_offline.htm` while the site is offline (every request gets it
    /// with 503, as ASP.NET Core Module does).
    pub offline: Option<bytes::Bytes>,
    /// Emit a `Request` event per request (only `-v` shows them; skipping them keeps the
    /// hot path free of the allocations).
    pub access_log: bool,
}

/// A client connection's two ends: IIS's REMOTE_ADDR and LOCAL_ADDR.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// The address the client connected to: the listening address, or on a wildcard
    /// listener (`--host 0.0.0.0`) the connection's own local address.
    pub local: SocketAddr,
}

impl Peer {
    /// The two ends of an accepted connection. An IPv4 client of a dual-stack listener is
    /// seen as ::ffff:a.b.c.d; IIS reports it as IPv4, and so does iisn.
    pub fn new(remote: SocketAddr, local: SocketAddr) -> Peer {
        let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
        Peer {
            remote: canonical(remote),
            local: canonical(local),
        }
    }

    /// iisnode's `IsLocalCall` (cprotocolbridge.cpp) as meant: the two addresses are equal,
    /// or either is the loopback address (exactly 127.0.0.1, or ::1); the two must be of
    /// the same family. (iisnode compares IPv4 addresses with a byte-swapped 127.0.0.1, so
    /// on IIS only equal IPv4 addresses count; a loopback client of a loopback listener is
    /// local either way.) Only local callers see iisnode's configuration-error pages.
    pub fn is_local_call(&self) -> bool {
        match (self.remote.ip(), self.local.ip()) {
            (std::net::IpAddr::V4(r), std::net::IpAddr::V4(l)) => {
                r == l || r == std::net::Ipv4Addr::LOCALHOST || l == std::net::Ipv4Addr::LOCALHOST
            }
            (std::net::IpAddr::V6(r), std::net::IpAddr::V6(l)) => {
                r == l || r.is_loopback() || l.is_loopback()
            }
            _ => false,
        }
    }
}

/// Limits on what a client may send before iisn gives up on it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head accepted from a client (hyper answers 431 above it).
const MAX_CLIENT_HEAD: usize = 128 * 1024;

/// How many front threads serve connections: one per core (at most 16), each with its own
/// single-threaded runtime and its own listening socket.
pub(crate) fn front_threads() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .clamp(1, 16)
    })
}

/// Binds the listening sockets: one per front thread, all on `addr` (`SO_REUSEPORT`, so the
/// kernel spreads connections over the threads).
///
/// A plain bind comes first, so that a port another program (or another iisn) holds is
/// reported as taken rather than silently shared; with port 0 it also picks the port the
/// others join. Must run inside a tokio runtime (the sockets are registered, then handed
/// over as std sockets).
pub async fn bind(addr: SocketAddr) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = TcpListener::bind(addr).await?;
    let addr = first.local_addr()?;
    let n = front_threads();
    if n == 1 {
        return Ok(vec![first.into_std()?]);
    }
    #[cfg(unix)]
    {
        drop(first);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            socket.set_reuseport(true)?;
            socket.bind(addr)?;
            out.push(socket.listen(4096)?.into_std()?);
        }
        Ok(out)
    }
    #[cfg(not(unix))]
    {
        let std = first.into_std()?;
        (0..n).map(|_| std.try_clone()).collect()
    }
}

/// Accepts connections until `shutdown` flips, then waits for open connections to finish
/// (bounded by `drain`; whatever is still open after that is dropped).
///
/// Each listener gets a front thread running a current-thread runtime: a connection, its
/// requests and the worker connections they use all stay on that thread (no cross-thread
/// wake-ups on the hot path; the worker connection pools are per thread, see
/// [`super::proxy`], and each thread sweeps its own once a second). The threads keep
/// running their runtime after shutdown, so tasks a request started there (a WebSocket
/// tunnel, the output capture of a worker it spawned) live as long as the process.
///
/// `ctx` always holds the current configuration: a reload (web.config or iisnode.yml
/// changed) swaps in a new one, and every request, on new and kept-alive connections alike,
/// uses the newest.
pub async fn serve(
    listeners: Vec<std::net::TcpListener>,
    ctx: watch::Receiver<Arc<ServerCtx>>,
    shutdown: watch::Receiver<bool>,
    drain: watch::Receiver<bool>,
) {
    // Open connections, and a signal each time one closes (for the drain).
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let closed = Arc::new(tokio::sync::Notify::new());
    let mut stopped = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        let (open, closed) = (open.clone(), closed.clone());
        let run = move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let Ok(rt) = rt else { return };
            rt.block_on(async move {
                // This thread's pools of idle connections to workers: closed ones go.
                tokio::spawn(async {
                    let mut tick = tokio::time::interval(Duration::from_secs(1));
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        super::upstream::sweep_idle();
                        super::proxy::sweep_idle();
                    }
                });
                if let Ok(listener) = TcpListener::from_std(listener) {
                    accept_loop(listener, ctx, shutdown, open, closed).await;
                }
                let _ = tx.send(());
                std::future::pending::<()>().await;
            });
        };
        if std::thread::Builder::new()
            .name(format!("iisn-http-{}", i + 1))
            .spawn(run)
            .is_ok()
        {
            stopped.push(rx);
        }
    }
    for rx in stopped {
        let _ = rx.await;
    }
    let mut drain = drain;
    let all_closed = async {
        loop {
            let notified = closed.notified();
            if open.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    };
    tokio::select! {
        _ = all_closed => {}
        _ = drain.changed() => {}
    }
}

/// One front thread's accept loop; returns (dropping the listener) when `shutdown` flips.
async fn accept_loop(
    listener: TcpListener,
    ctx: watch::Receiver<Arc<ServerCtx>>,
    mut shutdown: watch::Receiver<bool>,
    open: Arc<std::sync::atomic::AtomicUsize>,
    closed: Arc<tokio::sync::Notify>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .title_case_headers(true)
        .keep_alive(true)
        .max_buf_size(MAX_CLIENT_HEAD);
    if *shutdown.borrow() {
        return;
    }
    // (Unknown: then each connection's own, as on a wildcard address.)
    let listening = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: say so once, and back off briefly instead of
                        // spinning; the connection waits in the backlog.
                        accept_failed(&e, &ctx.borrow());
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // On a wildcard address, where the client arrived (one more system call
                // per connection, only there).
                let local = if listening.ip().is_unspecified() {
                    stream.local_addr().unwrap_or(listening)
                } else {
                    listening
                };
                let peer = Peer::new(remote, local);
                let counted = OpenConn::new(&open, &closed);
                // The connection's future is the task itself: an `async move` wrapper would
                // hold it twice (captured, then awaited), doubling every connection's memory.
                // Boxed first: tokio moves a task's future by value while it spawns and
                // finishes it (about 8 copies of its 3.6 KiB); a box moves as a pointer.
                tokio::spawn(Box::pin(super::downstream::serve(
                    counted,
                    stream,
                    peer,
                    ctx.clone(),
                    shutdown.clone(),
                    builder.clone(),
                    HEADER_READ_TIMEOUT,
                )));
            }
            _ = shutdown.changed() => break,
        }
    }
}

/// Says once per run that connections cannot be accepted, when it is for lack of file
/// descriptors: the clients only see a hang.
fn accept_failed(e: &std::io::Error, ctx: &ServerCtx) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !super::transport::out_of_files(e) || SAID.swap(true, Ordering::Relaxed) {
        return;
    }
    ctx.router.shared_events().emit(ServeEvent::Warning {
        text: format!(
            "cannot accept connections: {e} ({}); new connections wait until others close",
            super::transport::open_files_hint()
        ),
    });
}

/// Counts a client connection as open until its future ends or is dropped (graceful
/// shutdown waits for the count to reach zero).
pub(super) struct OpenConn {
    open: Arc<std::sync::atomic::AtomicUsize>,
    closed: Arc<tokio::sync::Notify>,
}

impl OpenConn {
    fn new(open: &Arc<std::sync::atomic::AtomicUsize>, closed: &Arc<tokio::sync::Notify>) -> Self {
        open.fetch_add(1, Ordering::AcqRel);
        OpenConn {
            open: open.clone(),
            closed: closed.clone(),
        }
    }
}

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.closed.notify_waiters();
    }
}

fn offline_response(page: bytes::Bytes) -> Response<Body> {
    let mut r = Response::new(proxy::full(page));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// One request through the pipeline, with its access-log event.
///
/// The request is boxed (by the parser, or by hyper's service for the rest) and goes down
/// to the proxy as that one pointer. A caller that writes the response itself (`wire`:
/// iisn's own HTTP/1.1 writer) may get the folder's `customHeaders` as header lines encoded
/// once, to write after the response's headers, instead of in the response's header map.
pub async fn handle(
    req: Box<Request<ReqBody>>,
    ctx: &ServerCtx,
    peer: Peer,
    wire: bool,
) -> (Response<Body>, Option<Bytes>) {
    // The clock is read for the access log only (`-v` shows it).
    let start = ctx.access_log.then(Instant::now);
    let traced = super::live_trace::begin(ctx, &req, peer).await;
    let logged = start.map(|start| {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        (req.method().as_str().to_string(), target, start)
    });
    let (resp, substatus, worker, extra) = match &ctx.offline {
        Some(page) => (offline_response(page.clone()), 0, None, None),
        None => pipeline(req, ctx, peer, wire).await,
    };
    if let Some(t) = traced {
        t.finish(ctx, resp.status().as_u16(), substatus, worker.as_ref());
    }
    if let Some((method, target, start)) = logged {
        ctx.router.shared_events().emit(ServeEvent::Request {
            method,
            target,
            status: resp.status().as_u16(),
            substatus,
            millis: start.elapsed().as_millis() as u64,
            worker,
        });
    }
    (resp, extra)
}

async fn pipeline(
    mut req: Box<Request<ReqBody>>,
    ctx: &ServerCtx,
    peer: Peer,
    wire: bool,
) -> (Response<Body>, u32, Option<WorkerId>, Option<Bytes>) {
    let (remote, local) = (peer.remote, peer.is_local_call());
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    // The head goes through the pipeline (possibly to the rewrite thread) and comes back.
    // In its own scope, so that it is not kept in the request's future past routing.
    let (routed, original_target) = {
        let mut head = RequestHead {
            method: req.method().clone(),
            target,
            headers: std::mem::take(req.headers_mut()),
            remote,
            local_addr: peer.local,
            auth: ctx.auth.clone(),
        };
        let routed = ctx.router.pipeline().route(&mut head).await;
        // Empty when the rewrite budget ran out (the head went with the abandoned job).
        *req.headers_mut() = head.headers;
        (routed, head.target)
    };
    let Routing {
        route,
        config,
        url,
        rewritten,
        set_headers,
        set_vars,
        query: rewritten_query,
    } = ctx.router.routing(routed);
    let method = req.method().clone();
    // URL Rewrite's outbound rules look at the request when the response goes out.
    let outbound = super::pipeline::outbound::prepare(
        &config,
        &super::pipeline::outbound::OutboundRequest {
            method: &method,
            target: &original_target,
            url: &url,
            headers: req.headers(),
            remote,
            local: peer.local,
            site_root: ctx.router.pipeline().root(),
        },
    );
    // The Host header is only shown on IIS's own pages: it is kept (a reference to the
    // request's buffer, no copy) for requests iisn answers itself. For node's responses,
    // which httpErrors replaces only now and then, nothing is kept on the hot path: such a
    // page names the address the client reached.
    let host_value = if matches!(route, Route::App { .. }) {
        None
    } else {
        req.headers().get(header::HOST).cloned()
    };
    let host = host_value
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let logon_user = ctx.auth.as_ref().map_or("", |a| a.user.as_str());
    let err_cx = ErrorContext {
        pipeline: ctx.router.pipeline(),
        config: &config,
        local,
        method: &method,
        url: &url,
        host,
        local_addr: peer.local,
        logon_user,
        events: ctx.router.shared_events(),
    };
    let (mut resp, substatus, worker) = match route {
        Route::App(AppRoute {
            pool,
            script_url,
            path_info,
        }) => {
            super::supervisor::note_upgrade(ctx, &config, req.headers(), &pool.plan.name);
            let target = AppTarget {
                pool: &pool,
                script_url: &script_url,
                path_info: &path_info,
                url: &url,
                rewritten,
                set_headers: &set_headers,
                set_vars: &set_vars,
                rewritten_query: rewritten_query.as_deref(),
                original_target: &original_target,
            };
            let (resp, substatus, worker, from_node) =
                app_request(req, ctx, peer, local, &target).await;
            // httpErrors looks at error responses only: one comparison for the others.
            if resp.status().as_u16() < 400 {
                (resp, substatus, worker)
            } else {
                let from = errors::NodeError {
                    from_node,
                    flush: pool.plan.settings.bool(Attr::FlushResponse),
                    substatus,
                };
                // Boxed: rare, and it would enlarge every request's future.
                let resp = Box::pin(errors::node_response(&err_cx, resp, from)).await;
                (resp, substatus, worker)
            }
        }
        Route::File { .. } | Route::Listing { .. }
            if let Some(u) = ctx.router.pipeline().unread_config(
                strip_prefix_ci(&url, ctx.router.pipeline().app_path()).unwrap_or("/"),
                matches!(route, Route::Listing { .. }),
            ) =>
        {
            (unread_config_response(ctx, &err_cx, &u).await, 19, None)
        }
        Route::File { path } => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mime = config
                .mime_type(&name)
                .unwrap_or("application/octet-stream");
            let resp = static_files::serve_file(
                &path,
                FileRequest {
                    method: &method,
                    headers: req.headers(),
                    cache: &config.eff.client_cache,
                    mime,
                    status: None,
                },
            )
            .await;
            (resp, 0, None)
        }
        Route::Listing { dir } => {
            let pipeline = ctx.router.pipeline();
            let site_path = strip_prefix_ci(&url, pipeline.app_path()).unwrap_or("/");
            let resp = static_files::listing(
                &dir,
                &url,
                (site_path, pipeline.root()),
                &config.filter,
                host,
            )
            .await;
            (resp, 0, None)
        }
        Route::Redirect { status, location } => (redirect_response(status, &location), 0, None),
        Route::Options => (options_response(), 0, None),
        Route::Error(e) => {
            let resp = errors::respond(&err_cx, &e).await;
            // A custom page that answers with another status (an ExecuteURL page's 200, a
            // Redirect's 302) is logged with that status alone, as IIS logs it.
            let substatus = if resp.status().as_u16() == e.status {
                e.substatus
            } else {
                0
            };
            (resp, substatus, None)
        }
        Route::Abort => return (abort_response(), 0, None, None),
    };
    // httpProtocol/customHeaders go on every response IIS sends, node's included. Outbound
    // rules may read or rewrite them (and IIS's `Server`), so they are in the header map then.
    // IIS's `Server` header comes first, unless the handler (node) sent its own, which IIS
    // keeps instead.
    let own_server = config.server_header && resp.headers().contains_key(header::SERVER);
    let extra = match (&config.custom_wire, &outbound) {
        // The lines start with IIS's `Server` line when the folder sends one.
        (Some(lines), None) if wire => Some(if own_server {
            lines.slice(super::pipeline::SERVER_LINE.len()..)
        } else {
            lines.clone()
        }),
        _ => {
            if config.server_header && !own_server {
                resp.headers_mut().insert(
                    header::SERVER,
                    HeaderValue::from_static("Microsoft-IIS/10.0"),
                );
            }
            for (name, value) in &config.custom_headers {
                add_custom_header(resp.headers_mut(), name, value);
            }
            None
        }
    };
    if let Some(o) = outbound {
        o.apply(resp.status().as_u16(), resp.headers_mut());
    }
    (resp, substatus, worker, extra)
}

/// One `<customHeaders>` entry added to a response as IIS adds it: after the response's own
/// headers, never replacing one (the application's `X-Frame-Options` and the entry's are
/// both sent, even when equal: browsers then see `SAMEORIGIN, SAMEORIGIN`, or CORS's
/// "multiple values '*, *'", as on IIS); `Cache-Control` and `Content-Type`, which IIS keeps
/// as one value, get the entry's value joined with a comma (`private,no-store`). Entries
/// with an empty value, which send nothing, are left out when the configuration is built
/// ([`super::pipeline::FolderConfig::custom_headers`]).
fn add_custom_header(headers: &mut http::HeaderMap, name: &HeaderName, value: &HeaderValue) {
    if (*name == header::CACHE_CONTROL || *name == header::CONTENT_TYPE)
        && headers.contains_key(name)
    {
        let mut joined = Vec::new();
        for v in headers.get_all(name) {
            joined.extend_from_slice(v.as_bytes());
            joined.push(b',');
        }
        joined.extend_from_slice(value.as_bytes());
        if let Ok(v) = HeaderValue::from_bytes(&joined) {
            headers.insert(name.clone(), v);
        }
        return;
    }
    headers.append(name.clone(), value.clone());
}

/// 500.19 for a file or listing below a web.config the configuration does not hold
/// (`pipeline::unread`): IIS would apply it, so nothing is served as if it were not there.
/// The configuration is read again at once when iisn reads such a file at all; the
/// terminal says so once per file.
async fn unread_config_response(
    ctx: &ServerCtx,
    err_cx: &ErrorContext<'_>,
    u: &super::pipeline::unread::Unread,
) -> Response<Body> {
    static SAID: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
    let first = SAID.lock().is_ok_and(|mut said| {
        let new = !said.contains(&u.file);
        if new && said.len() < 64 {
            said.push(u.file.clone());
        }
        new
    });
    let events = ctx.router.shared_events();
    if u.never.is_none() {
        events.config_poke.notify_one();
    }
    let e = u.error();
    if first {
        events.emit(ServeEvent::Warning { text: u.message() });
    }
    errors::respond(err_cx, &e).await
}

/// IIS's response to a redirect: the status, `Location` and a short "Object Moved" page.
pub(crate) fn redirect_response(status: u16, location: &str) -> Response<Body> {
    let body = format!(
        "<head><title>Document Moved</title></head>\n<body><h1>Object Moved</h1>This document may be found <a HREF=\"{}\">here</a></body>",
        pages::escape_html(location)
    );
    let mut r = Response::new(proxy::full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    // IIS's reason phrases for these (observed on IIS 10): `302 Redirect`, `307 Moved
    // Temporarily`; 301 and 303 are the standard ones.
    let reason: Option<&'static [u8]> = match status {
        302 => Some(b"Redirect"),
        307 => Some(b"Moved Temporarily"),
        _ => None,
    };
    if let Some(reason) = reason {
        r.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(reason));
    }
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    r
}

/// IIS's ProtocolSupportModule answer to `OPTIONS`.
fn options_response() -> Response<Body> {
    let mut r = Response::new(proxy::empty());
    let verbs = HeaderValue::from_static("OPTIONS, TRACE, GET, HEAD, POST");
    r.headers_mut().insert(header::ALLOW, verbs.clone());
    r.headers_mut().insert("public", verbs);
    r
}

/// A body that fails at once: hyper then closes the connection without writing the
/// response head it had buffered, which is URL Rewrite's AbortRequest.
struct AbortBody;

impl hyper::body::Body for AbortBody {
    type Data = bytes::Bytes;
    type Error = proxy::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, proxy::BoxError>>> {
        std::task::Poll::Ready(Some(Err(
            "the request was aborted by a URL Rewrite rule".into()
        )))
    }
}

/// AbortRequest: no response, the connection is dropped. The access log shows 444 (nginx's
/// code for "closed without a response"); the client never sees a status.
fn abort_response() -> Response<Body> {
    use http_body_util::BodyExt;
    let mut r = Response::new(AbortBody.boxed());
    *r.status_mut() = StatusCode::from_u16(444).unwrap_or(StatusCode::BAD_REQUEST);
    r
}

/// The failure as the client sees it: iisnode's dev page (HTTP 200) when enabled and a
/// process is attached, else the bare status.
fn failure_response(pool: &AppPool, f: &Failure, pid: Option<u32>, local: bool) -> Response<Body> {
    if pool.plan.dev_errors && f.status >= 500 {
        if let Some(pid) = pid {
            let tail = logs::stderr_tail(&pool.plan.log, pid, 64 * 1024);
            return pages::dev_error(f, tail.as_deref(), pool.plan.log.enabled);
        }
        if f.substatus == 1000 && f.detail.contains("unable to start") {
            return pages::start_failure(f);
        }
    }
    pages::bare_failure(f, local)
}

/// Where the pipeline sent an iisnode request (borrowed from the routing decision).
struct AppTarget<'a> {
    pool: &'a Arc<AppPool>,
    script_url: &'a str,
    path_info: &'a str,
    /// The final URL (decoded), for server variables.
    url: &'a str,
    /// URL Rewrite changed the URL: node also gets `X-Original-URL`.
    rewritten: bool,
    /// Request headers set by rewrite rules' `<serverVariables>`.
    set_headers: &'a [(String, String)],
    /// Other server variables rules set, for `promoteServerVars`.
    set_vars: &'a [(String, String)],
    /// The query string after URL Rewrite (`QUERY_STRING`), when a rule rewrote the URL.
    rewritten_query: Option<&'a str>,
    /// The request target as the client sent it.
    original_target: &'a str,
}

async fn app_request(
    mut req: Box<Request<ReqBody>>,
    ctx: &ServerCtx,
    peer: Peer,
    local: bool,
    t: &AppTarget<'_>,
) -> (Response<Body>, u32, Option<WorkerId>, bool) {
    let pool = t.pool;
    let (script_url, path_info, decoded) = (t.script_url, t.path_info, t.url);
    let plan = &pool.plan;
    if let Some(kind) = plan.config_error {
        let page = match kind {
            ConfigErrorKind::WebConfig => ConfigErrorPage::WebConfig,
            ConfigErrorKind::IisnodeYml => ConfigErrorPage::IisnodeYml,
        };
        let text = if local {
            plan.config_error_text.as_str()
        } else {
            ""
        };
        return (
            pages::config_error(page, local, text),
            if local { 0 } else { 1000 },
            None,
            false,
        );
    }
    if !plan.script_exists && !plan.script.is_file() {
        return (
            pages::iis_error(
                StatusCode::NOT_FOUND,
                0,
                &format!("iisnode: the script {} does not exist.", plan.name),
                local,
            ),
            0,
            None,
            false,
        );
    }

    // Settings iisnode fails every request with (an empty debuggerPathSegment, a request
    // buffer that cannot grow): the same 500, with the reason.
    if let Some((substatus, why)) = &plan.fails_every_request {
        let substatus = *substatus;
        let f = proxy::failure(500, substatus, 0x8007_0057, why.as_ref());
        return (
            failure_response(pool, &f, None, local),
            substatus,
            None,
            false,
        );
    }
    // iisnode's debugger URLs (`<script>/debug/?kill`...) never reach the application.
    if plan.debugging {
        let query = req.uri().query();
        match debugger::classify(path_info, &plan.debug_segment, query) {
            Some(DebugUrl::Redirect) => {
                let location =
                    debugger::redirect_location(script_url, path_info, &plan.debug_segment, query);
                return (redirect_response(301, &location), 0, None, false);
            }
            Some(DebugUrl::Command(cmd)) => {
                // Boxed: rare, and large enough to double every request's future.
                return (
                    Box::pin(debugger::respond(pool, cmd, local)).await,
                    0,
                    None,
                    false,
                );
            }
            None => {}
        }
    }

    // Node sees the request target the client sent (DECISIONS.md §16); after a rewrite it
    // also gets X-Original-URL, as URL Rewrite sets it, and the headers rules set.
    if t.rewritten
        && let Ok(v) = HeaderValue::from_str(t.original_target)
    {
        const X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
        req.headers_mut().insert(X_ORIGINAL_URL, v);
    }
    for (name, value) in t.set_headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            req.headers_mut().insert(n, v);
        }
    }

    // Promoted server variables and X-Forwarded-*, in iisnode's order (X-Forwarded-For and
    // -Proto, then the X-iisnode-* headers). iisnode reads them from IIS after URL Rewrite
    // ran: the URL variables and QUERY_STRING are the rewritten ones, variables rules set
    // have their values; the raw ones (REQUEST_URI, UNENCODED_URL) are the client's.
    let promoted = (!plan.promote.is_empty()).then(|| {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        let info = RequestInfo {
            method: req.method().as_str(),
            target: &target,
            path: decoded,
            headers: req.headers(),
            remote: peer.remote,
            local: peer.local,
            script_url: Some(script_url),
            path_info: Some(path_info),
            script_file: Some(&plan.script),
            site_root: &ctx.router.site().root,
            auth: ctx.auth.as_ref(),
            query: t.rewritten_query,
        };
        plan.promote
            .iter()
            .rev()
            .map(|name| {
                let set = t
                    .set_vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name));
                let value = match set {
                    Some((_, v)) => Some(v.clone()),
                    None => info.get(name),
                };
                (name.clone(), value)
            })
            .collect::<Vec<(String, Option<String>)>>()
    });
    if plan.xff {
        let ip = peer.remote.ip().to_string();
        let headers = req.headers_mut();
        let xff = HeaderName::from_static("x-forwarded-for");
        // IIS joins repeated headers into one value before iisnode appends the client.
        let existing: Vec<&str> = headers
            .get_all(&xff)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let joined = existing.join(", ");
        let new = if existing.is_empty() {
            Some(ip)
        } else if joined.trim_end().ends_with(&ip) {
            (existing.len() > 1).then_some(joined)
        } else {
            Some(format!("{joined}, {ip}"))
        };
        if let Some(v) = new.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(xff, v);
        }
        let xfp = HeaderName::from_static("x-forwarded-proto");
        if !headers.contains_key(&xfp) {
            headers.insert(xfp, HeaderValue::from_static("http"));
        }
    }
    if let Some(values) = promoted {
        let headers = req.headers_mut();
        for (name, value) in values {
            let Ok(h) = HeaderName::from_bytes(format!("x-iisnode-{name}").as_bytes()) else {
                continue;
            };
            // A client must not forge promoted variables (DECISIONS.md §22).
            headers.remove(&h);
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.append(h, v);
            }
        }
    }
    let cookie_slot = if plan.sticky {
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(sticky_slot)
    } else {
        None
    };
    let slot = pool.choose_slot(cookie_slot);
    pool.shared().total_requests.fetch_add(1, Ordering::Relaxed);
    // A request that never reached its worker because the process had exited (killed,
    // crashed) goes once more to the slot, which then starts a new process: only the
    // requests in flight on a dying worker fail.
    let mut resent = false;
    let (worker, t0, sent) = loop {
        let worker = match pool.worker(slot).await {
            Ok(w) => w,
            Err(f) => {
                return (
                    failure_response(pool, &f, None, local),
                    f.substatus,
                    None,
                    false,
                );
            }
        };
        let Some(guard) = ActiveGuard::acquire(&worker, pool, plan.max_concurrent) else {
            let f = proxy::failure(
                503,
                1002,
                0x8007_0718,
                format!(
                    "the node process already has {} requests in flight (maxConcurrentRequestsPerProcess)",
                    plan.max_concurrent
                ),
            );
            return (
                pages::bare_failure(&f, local),
                1002,
                Some(worker.id.clone()),
                false,
            );
        };
        // Read for the iisnode-debug header only.
        let t0 = plan.debug_header.then(Instant::now);
        match proxy::send(req, &worker, guard, &plan.proxy).await {
            Err(SendError::Unsent(_, back)) if !resent => {
                resent = true;
                req = back;
            }
            Err(SendError::Unsent(f, _)) | Err(SendError::Failed(f)) => break (worker, t0, Err(f)),
            Ok(ok) => break (worker, t0, Ok(ok)),
        }
    };
    match sent {
        Ok((mut resp, retries)) => {
            // What node logged before answering is in the log file before the answer goes
            // out, as iisnode's synchronous writes had it: when this is the worker's only
            // request (a client that reads the log after each answer, as iisnode's tests
            // do). Under concurrent load the wait (a round trip to the capture task, about
            // 0.4 ms) would halve a logging app's throughput, and which line came "before"
            // which answer is not defined there anyway.
            if worker.active.load(Ordering::Relaxed) <= 1 && worker.output_pending() {
                Box::pin(worker.flush_output()).await;
            }
            if plan.sticky && cookie_slot.is_none() {
                // iisnode sets its cookie before node's own headers.
                if let Ok(v) = HeaderValue::from_str(&format!("iisnode.session.cookie={slot}")) {
                    let mut headers = http::HeaderMap::new();
                    headers.append(header::SET_COOKIE, v);
                    for (k, v) in resp.headers().iter() {
                        headers.append(k.clone(), v.clone());
                    }
                    *resp.headers_mut() = headers;
                }
            }
            if plan.debug_header {
                let elapsed = t0.map(|t| t.elapsed()).unwrap_or_default();
                let value = debug_header(ctx, pool, &worker, retries, elapsed);
                if let Ok(v) = HeaderValue::from_str(&value) {
                    resp.headers_mut()
                        .insert(HeaderName::from_static("iisnode-debug"), v);
                }
            }
            (resp, 0, Some(worker.id.clone()), true)
        }
        Err(f) if f.status == 400 => {
            // The client's fault (http.sys answers a malformed body with 400): say so,
            // and do not blame node.
            ctx.router.shared_events().emit(ServeEvent::Note {
                text: format!("400 to {}: {}", peer.remote, f.detail),
            });
            (
                pages::bare_failure(&f, local),
                0,
                Some(worker.id.clone()),
                false,
            )
        }
        Err(f) => {
            ctx.router.shared_events().emit(ServeEvent::Warning {
                text: format!(
                    "{}#{} {}.{}: {}",
                    plan.name,
                    slot + 1,
                    f.status,
                    f.substatus,
                    f.detail
                ),
            });
            (
                failure_response(pool, &f, Some(worker.id.pid), local),
                f.substatus,
                Some(worker.id.clone()),
                false,
            )
        }
    }
}

/// Resident and private memory of a process in KiB (Linux `/proc`; 0 elsewhere).
fn memory_kib(pid: u32) -> (u64, u64) {
    let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
        return (0, 0);
    };
    let mut f = statm
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let (_size, resident, shared) = (
        f.next().unwrap_or(0),
        f.next().unwrap_or(0),
        f.next().unwrap_or(0),
    );
    (resident * 4, resident.saturating_sub(shared) * 4)
}

/// iisnode's `iisnode-debug` header, with the same keys in the same order.
fn debug_header(
    ctx: &ServerCtx,
    pool: &AppPool,
    worker: &process_worker::Worker,
    retries: u32,
    took: Duration,
) -> String {
    let me = std::process::id();
    let (w_ws, w_priv) = memory_kib(me);
    let (n_ws, n_priv) = memory_kib(worker.id.pid);
    format!(
        "http://bit.ly/NsU2nd#iisnode_ver={}&node={}&dns={}&worker_pid={me}&node_pid={}&worker_mem_ws={w_ws}&worker_mem_pagefile={w_priv}&node_mem_ws={n_ws}&node_mem_pagefile={n_priv}&app_processes={}&process_active_req={}&app_active_req={}&worker_total_req={}&np_retry={retries}&req_time={}&hresult=0",
        super::plan::IISNODE_VERSION,
        pool.plan.settings.str(Attr::NodeProcessCommandLine),
        ctx.hostname,
        worker.id.pid,
        pool.plan.process_count,
        worker.active.load(Ordering::Relaxed),
        pool.active.load(Ordering::Relaxed),
        pool.shared().total_requests.load(Ordering::Relaxed),
        took.as_millis(),
    )
}

use super::process as process_worker;

#[cfg(test)]
mod tests {
    use super::Peer;

    /// Regression: an entry equal to a header the response already had was dropped, an
    /// empty value was sent as an empty header, and `Cache-Control` got a second line. IIS
    /// appends (both values are sent), sends nothing for an empty value and joins
    /// `Cache-Control` / `Content-Type` into the one value.
    #[test]
    fn custom_headers_are_added_as_iis_adds_them() {
        fn add(h: &mut http::HeaderMap, name: &str, value: &str) {
            let name = http::HeaderName::from_bytes(name.as_bytes()).expect("name");
            let value = http::HeaderValue::from_str(value).expect("value");
            super::add_custom_header(h, &name, &value);
        }
        let mut h = http::HeaderMap::new();
        h.insert("access-control-allow-origin", "*".parse().expect("value"));
        h.insert("cache-control", "private".parse().expect("value"));
        h.insert("content-type", "text/plain".parse().expect("value"));
        add(&mut h, "Access-Control-Allow-Origin", "*");
        add(&mut h, "Cache-Control", "no-store");
        add(&mut h, "Content-Type", "text/x-bogus");
        add(&mut h, "X-Multi", "a, b");
        add(&mut h, "X-Frame-Options", "DENY");
        let all = |n: &str| {
            h.get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap_or("?").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("access-control-allow-origin"), ["*", "*"]);
        assert_eq!(all("cache-control"), ["private,no-store"]);
        assert_eq!(all("content-type"), ["text/plain,text/x-bogus"]);
        assert_eq!(all("x-multi"), ["a, b"]);
        assert_eq!(all("x-frame-options"), ["DENY"]);
        // On a static file without a Cache-Control of its own, the entry is the header.
        let mut h = http::HeaderMap::new();
        add(&mut h, "Cache-Control", "no-store");
        assert_eq!(
            h.get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
    }

    /// iisnode's `IsLocalCall`, case by case (cprotocolbridge.cpp).
    #[test]
    fn local_calls_are_iisnodes() {
        let peer = |remote: &str, local: &str| {
            Peer::new(
                remote.parse().expect("remote"),
                local.parse().expect("local"),
            )
        };
        let local = [
            ("127.0.0.1:5000", "127.0.0.1:80"),
            ("192.0.2.2:5000", "192.0.2.2:80"),
            ("192.0.2.2:5000", "127.0.0.1:80"),
            ("127.0.0.1:5000", "192.0.2.2:80"),
            ("[::1]:5000", "[::1]:80"),
            ("[fd00::2]:5000", "[fd00::2]:80"),
            ("[fd00::2]:5000", "[::1]:80"),
            ("[::ffff:127.0.0.1]:5000", "[::ffff:127.0.0.1]:80"),
            ("[::ffff:192.0.2.2]:5000", "[::ffff:192.0.2.2]:80"),
        ];
        for (r, l) in local {
            assert!(peer(r, l).is_local_call(), "{r} -> {l} is local");
        }
        let remote = [
            ("192.0.2.3:5000", "192.0.2.2:80"),
            ("127.0.0.3:5000", "127.0.0.2:80"),
            ("[fd00::3]:5000", "[fd00::2]:80"),
            ("127.0.0.1:5000", "[fd00::2]:80"),
            ("[::1]:5000", "192.0.2.2:80"),
        ];
        for (r, l) in remote {
            assert!(!peer(r, l).is_local_call(), "{r} -> {l} is remote");
        }
    }
}
