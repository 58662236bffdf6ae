//! The front server: HTTP/1.1 on TCP, and the per-request pipeline.
//!
//! Connections are served by hyper with keep-alive, upgrades (WebSocket tunnels), a
//! header-read timeout and a cap on the header block, so a slow or oversized client cannot
//! hold iisn hostage. Each request goes through the pipeline: decode the path, route it
//! (handler mapping), then the application step, which plays iisnode: config-error pages,
//! the missing-script 404, X-Forwarded-*, promoted server variables, slot choice (round
//! robin or sticky), the concurrency limit, the proxy, and iisnode's error pages.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::events::{ServeEvent, WorkerId};
use super::logs;
use super::pages::{self, ConfigErrorPage, Failure};
use super::pool::{AppPool, sticky_slot};
use super::proxy::{self, ActiveGuard, Body};
use super::router::{Route, Router, percent_decode};
use super::server_vars::{AuthEmulation, RequestInfo};
use crate::config::ConfigErrorKind;
use crate::config::schema::Attr;

/// Everything a request needs.
#[derive(Debug)]
pub struct ServerCtx {
    pub router: Router,
    pub auth: Option<AuthEmulation>,
    pub local_addr: SocketAddr,
    pub hostname: String,
    /// The contents of `app_offline.htm` while the site is offline (every request gets it
    /// with 503, as ASP.NET Core Module does).
    pub offline: Option<bytes::Bytes>,
    /// Emit a `Request` event per request (only `-v` shows them; skipping them keeps the
    /// hot path free of the allocations).
    pub access_log: bool,
}

/// Limits on what a client may send before iisn gives up on it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head accepted from a client (hyper answers 431 above it).
const MAX_CLIENT_HEAD: usize = 128 * 1024;

/// Accepts connections until `shutdown` flips, then waits for open connections to finish
/// (bounded by `drain`; whatever is still open after that is dropped).
///
/// `ctx` always holds the current configuration: a reload (web.config or iisnode.yml
/// changed) swaps in a new one, and every request, on new and kept-alive connections alike,
/// uses the newest.
pub async fn serve(
    listener: TcpListener,
    ctx: watch::Receiver<Arc<ServerCtx>>,
    mut shutdown: watch::Receiver<bool>,
    drain: watch::Receiver<bool>,
) {
    // Open connections, and a signal each time one closes (for the drain).
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let closed = Arc::new(tokio::sync::Notify::new());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .preserve_header_case(true)
        .keep_alive(true)
        .max_buf_size(MAX_CLIENT_HEAD);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, remote)) = accepted else {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let ctx = ctx.clone();
                let svc = service_fn(move |req| {
                    let ctx = ctx.borrow().clone();
                    async move { Ok::<_, Infallible>(handle(req, &ctx, remote).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), svc).with_upgrades();
                let mut stop = shutdown.clone();
                let (open, closed) = (open.clone(), closed.clone());
                open.fetch_add(1, Ordering::AcqRel);
                tokio::spawn(async move {
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = async { let _ = stop.wait_for(|s| *s).await.is_ok(); } => {
                            // Finish the request in progress, then close (keep-alive off).
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.as_mut().await;
                        }
                    }
                    open.fetch_sub(1, Ordering::AcqRel);
                    closed.notify_waiters();
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
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

fn offline_response(page: bytes::Bytes) -> Response<Body> {
    let mut r = Response::new(proxy::full(page));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn is_local(remote: SocketAddr, local: SocketAddr) -> bool {
    remote.ip().is_loopback() || remote.ip() == local.ip()
}

/// One request through the pipeline, with its access-log event.
pub async fn handle(req: Request<Incoming>, ctx: &ServerCtx, remote: SocketAddr) -> Response<Body> {
    let start = Instant::now();
    let logged = ctx.access_log.then(|| {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        (req.method().as_str().to_string(), target)
    });
    let (resp, substatus, worker) = match &ctx.offline {
        Some(page) => (offline_response(page.clone()), 0, None),
        None => pipeline(req, ctx, remote).await,
    };
    if let Some((method, target)) = logged {
        ctx.router.shared_events().emit(ServeEvent::Request {
            method,
            target,
            status: resp.status().as_u16(),
            substatus,
            millis: start.elapsed().as_millis() as u64,
            worker,
        });
    }
    resp
}

async fn pipeline(
    req: Request<Incoming>,
    ctx: &ServerCtx,
    remote: SocketAddr,
) -> (Response<Body>, u32, Option<WorkerId>) {
    let local = is_local(remote, ctx.local_addr);
    let Some(decoded) = percent_decode(req.uri().path()) else {
        return (
            pages::iis_error(
                StatusCode::BAD_REQUEST,
                0,
                "The URL contains an invalid escape sequence.",
                local,
            ),
            0,
            None,
        );
    };
    match ctx.router.route(req.method().as_str(), &decoded) {
        Route::BadRequest { detail } => (
            pages::iis_error(StatusCode::BAD_REQUEST, 0, &detail, local),
            0,
            None,
        ),
        Route::NotFound { substatus, detail } => (
            pages::iis_error(StatusCode::NOT_FOUND, substatus, &detail, local),
            substatus,
            None,
        ),
        Route::App {
            pool,
            script_url,
            path_info,
        } => {
            app_request(
                req,
                ctx,
                remote,
                local,
                &decoded,
                &pool,
                &script_url,
                &path_info,
            )
            .await
        }
    }
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
            return pages::dev_error(f, None, pool.plan.log.enabled);
        }
    }
    pages::bare_failure(f, local)
}

#[allow(clippy::too_many_arguments)]
async fn app_request(
    mut req: Request<Incoming>,
    ctx: &ServerCtx,
    remote: SocketAddr,
    local: bool,
    decoded: &str,
    pool: &Arc<AppPool>,
    script_url: &str,
    path_info: &str,
) -> (Response<Body>, u32, Option<WorkerId>) {
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
        );
    }

    // Promoted server variables and X-Forwarded-* (from the request as the client sent it).
    if !plan.promote.is_empty() {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
        let info = RequestInfo {
            method: req.method().as_str(),
            target: &target,
            path: decoded,
            headers: req.headers(),
            remote,
            local: ctx.local_addr,
            script_url: Some(script_url),
            path_info: Some(path_info),
            script_file: Some(&plan.script),
            site_root: &ctx.router.site().root,
            auth: ctx.auth.as_ref(),
        };
        let values: Vec<(String, Option<String>)> = plan
            .promote
            .iter()
            .rev()
            .map(|name| (name.clone(), info.get(name)))
            .collect();
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
    if plan.xff {
        let ip = remote.ip().to_string();
        let headers = req.headers_mut();
        let xff = HeaderName::from_static("x-forwarded-for");
        let new = match headers.get(&xff).and_then(|v| v.to_str().ok()) {
            Some(existing) if existing.trim_end().ends_with(&ip) => None,
            Some(existing) => Some(format!("{existing}, {ip}")),
            None => Some(ip),
        };
        if let Some(v) = new.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(xff, v);
        }
        let xfp = HeaderName::from_static("x-forwarded-proto");
        if !headers.contains_key(&xfp) {
            headers.insert(xfp, HeaderValue::from_static("http"));
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
    let worker = match pool.worker(slot).await {
        Ok(w) => w,
        Err(f) => return (failure_response(pool, &f, None, local), f.substatus, None),
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
        );
    };
    let t0 = Instant::now();
    match proxy::send(req, &worker, guard, &plan.proxy).await {
        Ok((mut resp, retries)) => {
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
                let value = debug_header(ctx, pool, &worker, retries, t0.elapsed());
                if let Ok(v) = HeaderValue::from_str(&value) {
                    resp.headers_mut()
                        .insert(HeaderName::from_static("iisnode-debug"), v);
                }
            }
            (resp, 0, Some(worker.id.clone()))
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
