//! The client's side of a connection: iisn's own HTTP/1.1 server loop for the simple requests
//! that make up most of a site's traffic, and hyper for everything else.
//!
//! A connection starts here. When what has been read holds a whole request head, it is parsed
//! with httparse. A *simple* request goes through the pipeline ([`super::front::handle`]) and
//! its response is written by [`write_response`]. A request is simple when it is:
//!
//! * `GET` or `HEAD`, HTTP/1.1, with an origin-form target (`/…`);
//! * without `Content-Length`, `Transfer-Encoding`, `Expect` or `Upgrade`;
//! * with `Connection` absent, `keep-alive` or `close`;
//! * at most 100 headers (hyper's limit), all valid.
//!
//! At the first head that is not simple, cannot be parsed, or is not whole after a read, the
//! connection is handed to hyper, the bytes read so far included ([`Rewind`]), and hyper
//! serves it from then on with all its strictness: 400 for a malformed head, 414, 431,
//! request bodies, `100-continue`, HTTP/1.0 keep-alive, upgrades (WebSocket), the header-read
//! timeout. Nothing of a request is answered twice: the hand-off only happens before any
//! byte of a response is written.
//!
//! Responses follow hyper's server (`proto::h1::role::Server::encode`, hyper 1.x) rule for
//! rule, so a response is the same bytes whichever side writes it (a test compares them):
//!
//! * the status line is `HTTP/1.1`, with the custom reason phrase if the response carries
//!   one ([`hyper::ext::ReasonPhrase`]), else the canonical one;
//! * header names are Title-Cased (`title_case_headers`);
//! * a body that is already at its end has no body; one with an exact size gets
//!   `Content-Length`, one without gets `Transfer-Encoding: chunked`; a `Content-Length`
//!   header is checked against a body of unknown size and dropped from a response that has
//!   no body (except to `HEAD`); 204, 304 and `HEAD` never carry a body;
//! * `Date` is added when absent (cached per second);
//! * a request with `Connection: close`, or a response that says it, or shutdown in progress,
//!   gets `Connection: close` and the connection ends after the response.
//!
//! A response whose body fails before anything was written (URL Rewrite's AbortRequest) ends
//! the connection without a byte, as hyper does. The read buffer is the connection's; the
//! response head is encoded in a per-thread scratch buffer and goes out with the first part
//! of the body in one write when the body has it ready.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::front::{self, ServerCtx};
use super::proxy::{Body, ReqBody};
use super::upstream::title_case;

/// hyper's default limit on a request's header count (it answers 431 above it).
const MAX_HEADERS: usize = 100;
/// The read buffer of a connection (as hyper's initial one).
const READ_BUF: usize = 8 * 1024;
/// Body parts up to this size are copied next to the head (one write); larger ones go out
/// with a vectored write, uncopied.
const COPY_MAX: usize = 16 * 1024;

/// Serves one client connection until it closes, `shutdown` flips (after the request in
/// progress), or it stays idle for `idle_timeout` (hyper's header-read timeout, which also
/// closes idle kept-alive connections).
pub(super) async fn serve(
    mut stream: TcpStream,
    remote: SocketAddr,
    ctx: watch::Receiver<Arc<ServerCtx>>,
    shutdown: watch::Receiver<bool>,
    builder: hyper::server::conn::http1::Builder,
    idle_timeout: Duration,
) {
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut stop = Box::pin({
        let mut s = shutdown.clone();
        async move {
            let _ = s.wait_for(|v| *v).await;
        }
    });
    let mut stopping = *shutdown.borrow();
    // One timer for the connection's life, reset only when it fires early.
    let mut idle = Box::pin(tokio::time::sleep(idle_timeout));
    let mut last = Instant::now();
    loop {
        if !buf.is_empty() {
            let Some((req, keep_alive)) = parse_simple(&mut buf) else {
                break;
            };
            let is_head = req.method() == Method::HEAD;
            let resp = {
                let ctx = super::supervisor::settled(&ctx).await;
                front::handle(req, &ctx, remote).await
            };
            let keep_alive = keep_alive && !*shutdown.borrow();
            match write_response(&mut stream, resp, is_head, keep_alive).await {
                Written::KeepAlive => {}
                Written::Close => {
                    let _ = stream.shutdown().await;
                    return;
                }
                Written::Failed => return,
            }
            last = Instant::now();
            continue;
        }
        if stopping {
            return;
        }
        if buf.capacity() < READ_BUF / 2 {
            buf.reserve(READ_BUF);
        }
        tokio::select! {
            biased;
            r = stream.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            () = &mut stop, if !stopping => stopping = true,
            () = &mut idle => {
                let deadline = last + idle_timeout;
                if Instant::now() >= deadline {
                    return;
                }
                idle.as_mut().reset(deadline.into());
            }
        }
    }

    // Hand-off: hyper serves the rest of the connection, starting with what was read.
    let io = Rewind {
        pre: buf.freeze(),
        io: TokioIo::new(stream),
    };
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let ctx = super::supervisor::settled(&ctx);
        async move {
            let req = req.map(http_body_util::Either::Left);
            Ok::<_, std::convert::Infallible>(front::handle(req, &*ctx.await, remote).await)
        }
    });
    let conn = builder.serve_connection(io, svc).with_upgrades();
    tokio::pin!(conn);
    if !stopping {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = &mut stop => {}
        }
    }
    // Finish the request in progress, then close (keep-alive off).
    conn.as_mut().graceful_shutdown();
    let _ = conn.as_mut().await;
}

thread_local! {
    /// Where a request's header offsets are noted while it is parsed (one per front thread).
    static SPANS: std::cell::RefCell<Vec<[u32; 4]>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Where response heads are encoded (one per front thread, reused).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The `Date` header value of the current second.
    static DATE: std::cell::RefCell<(u64, [u8; 29])> = const { std::cell::RefCell::new((0, [b' '; 29])) };
}

/// Takes a simple request's head off the front of `buf`, with whether the client allows
/// keep-alive; `None` (and `buf` untouched) when the head is not whole, not simple, or not
/// valid, which hyper then handles.
pub(crate) fn parse_simple(buf: &mut BytesMut) -> Option<(Request<ReqBody>, bool)> {
    SPANS.with(|spans| parse_simple_with(buf, &mut spans.borrow_mut()))
}

fn parse_simple_with(buf: &mut BytesMut, spans: &mut Vec<[u32; 4]>) -> Option<(Request<ReqBody>, bool)> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    spans.clear();
    let mut keep_alive = true;
    let (len, method, path) = {
        let bytes: &[u8] = buf;
        let Ok(httparse::Status::Complete(len)) = httparse::ParserConfig::default()
            .parse_request_with_uninit_headers(&mut req, bytes, &mut slots)
        else {
            return None;
        };
        let method = match req.method? {
            "GET" => Method::GET,
            "HEAD" => Method::HEAD,
            _ => return None,
        };
        if req.version? != 1 {
            return None;
        }
        let path = req.path?;
        if !path.starts_with('/') {
            return None;
        }
        let base = bytes.as_ptr() as usize;
        for h in req.headers.iter() {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length")
                || name.eq_ignore_ascii_case(b"transfer-encoding")
                || name.eq_ignore_ascii_case(b"expect")
                || name.eq_ignore_ascii_case(b"upgrade")
            {
                return None;
            }
            if name.eq_ignore_ascii_case(b"connection") {
                if h.value.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if !h.value.eq_ignore_ascii_case(b"keep-alive") {
                    return None;
                }
            }
            spans.push([
                (h.name.as_ptr() as usize - base) as u32,
                h.name.len() as u32,
                (h.value.as_ptr() as usize - base) as u32,
                h.value.len() as u32,
            ]);
        }
        let p = path.as_ptr() as usize - base;
        (len, method, p..p + path.len())
    };
    let head = buf.split_to(len).freeze();
    let built = build_request(&head, method, path, spans);
    if built.is_none() {
        // Put the bytes back for hyper (a target or header http rejects; rare).
        let mut all = BytesMut::with_capacity(head.len() + buf.len());
        all.extend_from_slice(&head);
        all.extend_from_slice(buf);
        *buf = all;
    }
    built.map(|r| (r, keep_alive))
}

fn build_request(
    head: &Bytes,
    method: Method,
    path: std::ops::Range<usize>,
    spans: &[[u32; 4]],
) -> Option<Request<ReqBody>> {
    let uri = Uri::from_maybe_shared(head.slice(path)).ok()?;
    let mut headers = HeaderMap::with_capacity(spans.len());
    for &[n, nl, v, vl] in spans {
        let (n, v) = (n as usize, v as usize);
        let name = HeaderName::from_bytes(&head[n..n + nl as usize]).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice(v..v + vl as usize)).ok()?;
        headers.append(name, value);
    }
    let mut req = Request::new(http_body_util::Either::Right(http_body_util::Empty::new()));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Some(req)
}

/// How a response's body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Exactly this many bytes (0: no body).
    Length(u64),
    Chunked,
    /// Until the connection closes.
    Close,
}

/// What hyper learns of a body before it writes the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyLen {
    Known(u64),
    Unknown,
}

/// How writing a response ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// The connection serves the next request.
    KeepAlive,
    /// The response is complete and the connection ends.
    Close,
    /// The connection must be dropped (a write failed, the body failed or fell short).
    Failed,
}

/// The reason the response cannot be encoded (hyper's "user header" errors): the connection
/// is dropped without a response.
#[derive(Debug)]
struct BadHead;

fn is_chunked_last(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

fn has_close(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

fn push_line(out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
    title_case(out, name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes `name: v1, v2, …` as one line.
fn push_joined<'a>(out: &mut Vec<u8>, name: &HeaderName, values: impl Iterator<Item = &'a HeaderValue>) {
    title_case(out, name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(v.as_bytes());
    }
}

fn push_date(out: &mut Vec<u8>) {
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            let text = httpdate::fmt_http_date(now);
            if text.len() == 29 {
                d.1.copy_from_slice(text.as_bytes());
                d.0 = secs;
            }
        }
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(&d.1);
        out.extend_from_slice(b"\r\n");
    });
}

/// Encodes a response head as hyper's server would for an HTTP/1.1 request (see the module
/// docs); returns how the body goes out and whether the connection ends after it.
fn encode_head(
    out: &mut Vec<u8>,
    parts: &http::response::Parts,
    body: Option<BodyLen>,
    is_head: bool,
    keep_alive: bool,
) -> Result<(Framing, bool), BadHead> {
    let status = parts.status;
    if status.is_informational() {
        return Err(BadHead);
    }
    let reason = parts.extensions.get::<hyper::ext::ReasonPhrase>();
    if status == StatusCode::OK && reason.is_none() {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        match reason {
            Some(r) => out.extend_from_slice(r.as_bytes()),
            None => out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
    let no_content = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let can_chunk = !is_head && !no_content;
    let can_length = !no_content;
    let mut is_last = !keep_alive;
    let mut framing = Framing::Length(0);
    let mut wrote_len = false;
    let mut wrote_date = false;
    let mut saw_connection = false;
    let h = &parts.headers;
    for name in h.keys() {
        let mut values = h.get_all(name).iter();
        match *name {
            header::CONTENT_LENGTH => {
                if wrote_len {
                    return Err(BadHead);
                }
                match body {
                    Some(BodyLen::Known(n)) => {
                        if let Some(v) = values.next() {
                            push_line(out, name, v.as_bytes());
                        }
                        framing = Framing::Length(n);
                        wrote_len = true;
                    }
                    Some(BodyLen::Unknown) => {
                        let mut first = None;
                        for v in values {
                            let n = super::upstream::parse_length(v.as_bytes()).ok_or(BadHead)?;
                            match first {
                                None => {
                                    push_line(out, name, v.as_bytes());
                                    first = Some(n);
                                }
                                Some(p) if p != n => return Err(BadHead),
                                Some(_) => {}
                            }
                        }
                        if let Some(n) = first {
                            framing = Framing::Length(n);
                            wrote_len = true;
                        }
                    }
                    None if is_head => {
                        for v in values {
                            push_line(out, name, v.as_bytes());
                        }
                        wrote_len = true;
                    }
                    None => {}
                }
            }
            header::TRANSFER_ENCODING => {
                if wrote_len {
                    return Err(BadHead);
                }
                if !can_chunk {
                    continue;
                }
                wrote_len = true;
                framing = Framing::Chunked;
                let last = h.get_all(name).iter().last();
                push_joined(out, name, values);
                if !last.is_some_and(is_chunked_last) {
                    out.extend_from_slice(b", chunked");
                }
                out.extend_from_slice(b"\r\n");
            }
            header::CONNECTION => {
                saw_connection = true;
                let close = h.get_all(name).iter().any(has_close);
                is_last |= close;
                push_joined(out, name, values);
                if !keep_alive && !close {
                    out.extend_from_slice(b", close");
                }
                out.extend_from_slice(b"\r\n");
            }
            header::TRAILER => {
                if !can_chunk {
                    continue;
                }
                push_joined(out, name, values);
                out.extend_from_slice(b"\r\n");
            }
            _ => {
                if *name == header::DATE {
                    wrote_date = true;
                }
                for v in values {
                    push_line(out, name, v.as_bytes());
                }
            }
        }
    }
    if !keep_alive && !saw_connection {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if !wrote_len {
        match body {
            Some(BodyLen::Unknown) => {
                if can_chunk {
                    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                    framing = Framing::Chunked;
                } else {
                    framing = Framing::Close;
                }
            }
            None | Some(BodyLen::Known(0)) => {
                if can_length && !is_head {
                    out.extend_from_slice(b"Content-Length: 0\r\n");
                }
                framing = Framing::Length(0);
            }
            Some(BodyLen::Known(n)) => {
                if can_length {
                    out.extend_from_slice(b"Content-Length: ");
                    push_decimal(out, n);
                    out.extend_from_slice(b"\r\n");
                    framing = Framing::Length(n);
                } else {
                    framing = Framing::Length(0);
                }
            }
        }
    }
    if !can_chunk {
        framing = Framing::Length(0);
    }
    if !wrote_date {
        push_date(out);
    }
    out.extend_from_slice(b"\r\n");
    if framing == Framing::Close {
        is_last = true;
    }
    Ok((framing, is_last))
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends a chunk's size line: `n` in upper-case hex and CRLF (as hyper writes it).
fn push_chunk_size(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789ABCDEF"[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// Writes `resp` (the answer to a `HEAD` request when `is_head`) to `io`, body streamed.
pub(crate) async fn write_response<W: AsyncWrite + Unpin>(
    io: &mut W,
    resp: Response<Body>,
    is_head: bool,
    keep_alive: bool,
) -> Written {
    let mut out = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    out.clear();
    let written = write_with(io, &mut out, resp, is_head, keep_alive).await;
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.capacity() < out.capacity() && out.capacity() <= 4 * COPY_MAX {
            out.clear();
            *s = out;
        }
    });
    written
}

async fn write_with<W: AsyncWrite + Unpin>(
    io: &mut W,
    out: &mut Vec<u8>,
    resp: Response<Body>,
    is_head: bool,
    keep_alive: bool,
) -> Written {
    let (parts, mut body) = resp.into_parts();
    let len = if body.is_end_stream() {
        None
    } else {
        Some(
            body.size_hint()
                .exact()
                .map_or(BodyLen::Unknown, BodyLen::Known),
        )
    };
    let Ok((framing, is_last)) = encode_head(out, &parts, len, is_head, keep_alive) else {
        return Written::Failed;
    };
    drop(parts);
    let done = if is_last {
        Written::Close
    } else {
        Written::KeepAlive
    };
    let mut left = match framing {
        Framing::Length(0) => {
            return if io.write_all(out).await.is_ok() {
                done
            } else {
                Written::Failed
            };
        }
        Framing::Length(n) => n,
        Framing::Chunked | Framing::Close => u64::MAX,
    };
    loop {
        // Take what the body has ready; when it has nothing yet, send what is pending first.
        let frame = match std::future::poll_fn(|cx| Poll::Ready(poll_now(&mut body, cx))).await {
            Some(f) => f,
            None => {
                if !out.is_empty() {
                    if io.write_all(out).await.is_err() {
                        return Written::Failed;
                    }
                    out.clear();
                }
                body.frame().await
            }
        };
        let data = match frame {
            None => break,
            Some(Err(_)) => return Written::Failed,
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                // Trailers: hyper sends them only to a client that asked (`TE: trailers`),
                // which is not a simple request.
                Err(_) => continue,
            },
        };
        let ended = body.is_end_stream();
        if !data.is_empty() {
            let mut data = data;
            if framing != Framing::Chunked && data.len() as u64 > left {
                // More than the length said: only what is owed goes out (as hyper).
                data.truncate(left as usize);
            }
            if framing != Framing::Chunked {
                left -= data.len() as u64;
            } else {
                push_chunk_size(out, data.len());
            }
            if out.len() + data.len() <= COPY_MAX {
                out.extend_from_slice(&data);
            } else {
                if write_two(io, out, &data).await.is_err() {
                    return Written::Failed;
                }
                out.clear();
            }
            if framing == Framing::Chunked {
                out.extend_from_slice(b"\r\n");
            }
        }
        if ended || left == 0 {
            break;
        }
    }
    drop(body);
    match framing {
        Framing::Chunked => out.extend_from_slice(b"0\r\n\r\n"),
        Framing::Length(_) if left > 0 => {
            // The body ended short of its length: the client must not wait for the rest.
            let _ = io.write_all(out).await;
            return Written::Failed;
        }
        _ => {}
    }
    if !out.is_empty() && io.write_all(out).await.is_err() {
        return Written::Failed;
    }
    done
}

/// Polls `body` once: `Some` with what it yielded, `None` when it has nothing yet.
#[allow(clippy::type_complexity)]
fn poll_now(
    body: &mut Body,
    cx: &mut Context<'_>,
) -> Option<Option<Result<hyper::body::Frame<Bytes>, super::proxy::BoxError>>> {
    match Pin::new(body).poll_frame(cx) {
        Poll::Ready(f) => Some(f),
        Poll::Pending => None,
    }
}

/// Writes `a` then `b` with vectored writes.
async fn write_two<W: AsyncWrite + Unpin>(io: &mut W, a: &[u8], b: &[u8]) -> std::io::Result<()> {
    let mut bufs = [IoSlice::new(a), IoSlice::new(b)];
    let mut slices: &mut [IoSlice<'_>] = &mut bufs;
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        let n = io.write_vectored(slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// The client connection handed to hyper: the bytes already read come first.
struct Rewind {
    pre: Bytes,
    io: TokioIo<TcpStream>,
}

impl hyper::rt::Read for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre[..n]);
            self.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

