//! The client's side of a connection: iisn's own HTTP/1.1 server loop for the simple requests
//! that make up most of a site's traffic, and hyper for everything else.
//!
//! A connection starts here. When what has been read holds a whole request head, it is parsed
//! with httparse. A *simple* request goes through the pipeline ([`super::front::handle`]) and
//! its response is written by `write_response`. A request is simple when it is:
//!
//! * `GET` or `HEAD`, HTTP/1.1, with an origin-form target (`/…`);
//! * without `Content-Length`, `Transfer-Encoding`, `Expect` or `Upgrade`;
//! * with `Connection` absent, `keep-alive` or `close`;
//! * at most 100 headers (hyper's limit), all valid, with exactly one valid `Host`, the
//!   whole head within HTTP.sys's 16 KiB ([`super::http_sys`]).
//!
//! At the first head that is not simple, cannot be parsed, or is not whole after a read, the
//! connection is handed to hyper, the bytes read so far included (`Rewind`), and hyper
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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header,
};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::front::{self, ServerCtx};
use super::proxy::{Body, ReqBody};
use super::upstream::push_name;

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
    _open: front::OpenConn,
    mut stream: TcpStream,
    peer: front::Peer,
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
    {
        let (mut rd, mut wr) = stream.split();
        // One timer for the connection's life, reset only when it fires early.
        let mut idle = Box::pin(tokio::time::sleep(idle_timeout));
        let mut last = Instant::now();
        loop {
            if buf.capacity() - buf.len() < READ_BUF / 2 {
                buf.reserve(READ_BUF);
            }
            if !buf.is_empty() {
                let Some((req, keep_alive)) = parse_simple(&mut buf) else {
                    break;
                };
                let is_head = req.method() == Method::HEAD;
                let mut client = Watch {
                    rd: &mut rd,
                    buf: &mut buf,
                };
                // In its own scope: the request's future is gone before the answer is
                // written, so the connection's task holds one of them at a time.
                let resp = {
                    let handled = std::pin::pin!(async {
                        let ctx = super::supervisor::settled(&ctx).await;
                        front::handle(req, &ctx, peer, true).await
                    });
                    client.run(handled).await
                };
                // The client left before its answer: as hyper, drop the request (node's
                // slot and connection are freed) and the connection.
                let Some((resp, extra)) = resp else { return };
                let keep_alive = keep_alive && !*shutdown.borrow();
                let extra = extra.as_deref().unwrap_or_default();
                match write_response(&mut wr, &mut client, resp, is_head, keep_alive, extra).await {
                    Written::KeepAlive => {}
                    Written::Close => {
                        let _ = wr.shutdown().await;
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
            tokio::select! {
                biased;
                r = rd.read_buf(&mut buf) => match r {
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
    }

    // Hand-off: hyper serves the rest of the connection, starting with what was read.
    let io = Rewind {
        pre: buf.freeze(),
        io: TokioIo::new(stream),
    };
    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
        let ctx = super::supervisor::settled(&ctx);
        async move {
            let mut req = Box::new(req.map(http_body_util::Either::Left));
            // What HTTP.sys refuses never reaches IIS (nor the access log).
            if let Some(refused) = super::http_sys::check(&mut req) {
                return Ok(refused);
            }
            Ok::<_, std::convert::Infallible>(front::handle(req, &*ctx.await, peer, false).await.0)
        }
    });
    // Boxed: the hand-off is rare, and kept inline hyper's connection would make every
    // connection's task as large as hyper's state.
    let mut conn = Box::pin(builder.serve_connection(io, svc).with_upgrades());
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
pub(crate) fn parse_simple(buf: &mut BytesMut) -> Option<(Box<Request<ReqBody>>, bool)> {
    SPANS.with(|spans| parse_simple_with(buf, &mut spans.borrow_mut()))
}

fn parse_simple_with(
    buf: &mut BytesMut,
    spans: &mut Vec<[u32; 4]>,
) -> Option<(Box<Request<ReqBody>>, bool)> {
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
        if !path.starts_with('/') || len > super::http_sys::MAX_REQUEST_BYTES {
            return None;
        }
        // A path segment HTTP.sys may find too long (one test for nearly every request).
        if path.len() > super::http_sys::URL_SEGMENT_MAX_LENGTH
            && super::http_sys::may_have_long_segment(path.split_once('?').map_or(path, |p| p.0))
        {
            return None;
        }
        let base = bytes.as_ptr() as usize;
        let mut hosts = 0u32;
        for h in req.headers.iter() {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"host") {
                if !super::http_sys::valid_host(h.value) {
                    return None;
                }
                hosts += 1;
            }
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
        if hosts != 1 {
            return None;
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
) -> Option<Box<Request<ReqBody>>> {
    let uri = Uri::from_maybe_shared(head.slice(path)).ok()?;
    // Room for what the proxy adds (`Connection`, X-Forwarded-*, …) without growing.
    let mut headers = super::upstream::header_map(spans.len() + 4);
    for &[n, nl, v, vl] in spans {
        let (n, v) = (n as usize, v as usize);
        let name = HeaderName::from_bytes(&head[n..n + nl as usize]).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice(v..v + vl as usize)).ok()?;
        headers.append(name, value);
    }
    // Boxed where it is made: the request then travels down the pipeline to the proxy as
    // a pointer, where inline it would be copied (a ~250-byte memcpy) at each step.
    let mut req = Box::new(Request::new(http_body_util::Either::Right(
        http_body_util::Empty::new(),
    )));
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

/// The client connection's read side while a request is served. hyper reads it too
/// (`mid_message_detect_eof`): when the client closes its connection before the answer is
/// complete, the request is dropped (node's connection and concurrency slot are freed at
/// once). Bytes that arrive meanwhile (a pipelined request) stay in the buffer, and watching
/// stops until the next request.
pub(crate) struct Watch<'a, R> {
    rd: &'a mut R,
    buf: &'a mut BytesMut,
}

impl<R: AsyncRead + Unpin> Watch<'_, R> {
    /// Runs `fut` to its end: `None` when the client closed the connection first.
    /// (`fut` is pinned by the caller: a request's future is large, and moving it costs.)
    async fn run<F: std::future::Future>(&mut self, mut fut: Pin<&mut F>) -> Option<F::Output> {
        if !self.buf.is_empty() || self.buf.capacity() == self.buf.len() {
            return Some(fut.await);
        }
        tokio::select! {
            biased;
            out = fut.as_mut() => Some(out),
            r = self.rd.read_buf(self.buf) => match r {
                Ok(0) | Err(_) => None,
                Ok(_) => Some(fut.await),
            },
        }
    }
}

/// The reason the response cannot be encoded (hyper's "user header" errors): the connection
/// is dropped without a response.
#[derive(Debug)]
struct BadHead;

/// Whether a `Transfer-Encoding` value ends with `chunked` (the message is chunked).
pub(super) fn is_chunked_last(value: &HeaderValue) -> bool {
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
    push_name(out, name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes `name: v1, v2, …` as one line.
fn push_joined<'a>(
    out: &mut Vec<u8>,
    name: &HeaderName,
    values: impl Iterator<Item = &'a HeaderValue>,
) {
    push_name(out, name);
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
    (is_head, keep_alive): (bool, bool),
    extra: &[u8],
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
    let mut state = HeadState {
        framing: Framing::Length(0),
        wrote_len: false,
        wrote_date: false,
        saw_connection: false,
        is_last: false,
        can_chunk,
    };
    let h = &parts.headers;
    // The values of one name come one after another: `prev` tells the first of each.
    let mut prev: *const HeaderName = std::ptr::null();
    for (name, value) in h.iter() {
        let first = !std::ptr::eq(name, prev);
        prev = name;
        match *name {
            header::CONTENT_LENGTH
            | header::TRANSFER_ENCODING
            | header::CONNECTION
            | header::TRAILER => {
                if first {
                    special_header(out, name, h, body, is_head, keep_alive, &mut state)?;
                }
            }
            _ => {
                if *name == header::DATE {
                    state.wrote_date = true;
                }
                push_line(out, name, value.as_bytes());
            }
        }
    }
    let HeadState {
        mut framing,
        wrote_len,
        wrote_date,
        saw_connection,
        is_last: last_from_headers,
        ..
    } = state;
    is_last |= last_from_headers;
    out.extend_from_slice(extra);
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

/// What the header lines decided, as [`encode_head`] goes through them.
struct HeadState {
    framing: Framing,
    wrote_len: bool,
    wrote_date: bool,
    saw_connection: bool,
    is_last: bool,
    can_chunk: bool,
}

/// The headers hyper treats apart (`Content-Length`, `Transfer-Encoding`, `Connection`,
/// `Trailer`), all values of `name` at once.
fn special_header(
    out: &mut Vec<u8>,
    name: &HeaderName,
    h: &HeaderMap,
    body: Option<BodyLen>,
    is_head: bool,
    keep_alive: bool,
    st: &mut HeadState,
) -> Result<(), BadHead> {
    let values = h.get_all(name);
    match *name {
        header::CONTENT_LENGTH => {
            if st.wrote_len {
                return Err(BadHead);
            }
            match body {
                Some(BodyLen::Known(n)) => {
                    if let Some(v) = values.iter().next() {
                        push_line(out, name, v.as_bytes());
                    }
                    st.framing = Framing::Length(n);
                    st.wrote_len = true;
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
                        st.framing = Framing::Length(n);
                        st.wrote_len = true;
                    }
                }
                None if is_head => {
                    for v in values {
                        push_line(out, name, v.as_bytes());
                    }
                    st.wrote_len = true;
                }
                None => {}
            }
        }
        header::TRANSFER_ENCODING => {
            if st.wrote_len {
                return Err(BadHead);
            }
            if !st.can_chunk {
                return Ok(());
            }
            st.wrote_len = true;
            st.framing = Framing::Chunked;
            push_joined(out, name, values.iter());
            if !values.iter().next_back().is_some_and(is_chunked_last) {
                out.extend_from_slice(b", chunked");
            }
            out.extend_from_slice(b"\r\n");
        }
        header::CONNECTION => {
            st.saw_connection = true;
            let close = values.iter().any(has_close);
            st.is_last |= close;
            push_joined(out, name, values.iter());
            if !keep_alive && !close {
                out.extend_from_slice(b", close");
            }
            out.extend_from_slice(b"\r\n");
        }
        _ => {
            // Trailer
            if st.can_chunk {
                push_joined(out, name, values.iter());
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    Ok(())
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
/// `extra` holds header lines written after the response's own, as they are (`Name:
/// value\r\n` each): the folder's `customHeaders`, encoded once ([`front::handle`]).
pub(crate) async fn write_response<W: AsyncWrite + Unpin, R: AsyncRead + Unpin>(
    io: &mut W,
    client: &mut Watch<'_, R>,
    resp: Response<Body>,
    is_head: bool,
    keep_alive: bool,
    extra: &[u8],
) -> Written {
    let mut out = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    out.clear();
    let written = write_with(io, client, &mut out, resp, (is_head, keep_alive), extra).await;
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.capacity() < out.capacity() && out.capacity() <= 4 * COPY_MAX {
            out.clear();
            *s = out;
        }
    });
    written
}

async fn write_with<W: AsyncWrite + Unpin, R: AsyncRead + Unpin>(
    io: &mut W,
    client: &mut Watch<'_, R>,
    out: &mut Vec<u8>,
    resp: Response<Body>,
    (is_head, keep_alive): (bool, bool),
    extra: &[u8],
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
    let Ok((framing, is_last)) = encode_head(out, &parts, len, (is_head, keep_alive), extra) else {
        return Written::Failed;
    };
    super::upstream::recycle_headers(parts.headers);
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
                match client.run(std::pin::pin!(body.frame())).await {
                    Some(f) => f,
                    None => return Written::Failed,
                }
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use proptest::prelude::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A body of frames all ready at once, of unknown size (as node's chunked answers).
    struct Frames(VecDeque<Bytes>);

    impl hyper::body::Body for Frames {
        type Data = Bytes;
        type Error = super::super::proxy::BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    #[derive(Debug, Clone)]
    enum BodyKind {
        Empty,
        Full(&'static str),
        Stream(Vec<&'static str>),
    }

    #[derive(Debug, Clone)]
    struct Case {
        status: u16,
        reason: Option<&'static str>,
        headers: Vec<(&'static str, &'static str)>,
        body: BodyKind,
        head: bool,
        close: bool,
    }

    fn response(c: &Case) -> Response<Body> {
        let body = match &c.body {
            BodyKind::Empty => super::super::proxy::empty(),
            BodyKind::Full(s) => super::super::proxy::full(*s),
            BodyKind::Stream(parts) => Frames(
                parts
                    .iter()
                    .map(|p| Bytes::from_static(p.as_bytes()))
                    .collect(),
            )
            .boxed(),
        };
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::from_u16(c.status).expect("status");
        for (n, v) in &c.headers {
            r.headers_mut()
                .append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        if let Some(reason) = c.reason {
            r.extensions_mut()
                .insert(hyper::ext::ReasonPhrase::from_static(reason.as_bytes()));
        }
        r
    }

    fn request(c: &Case) -> String {
        format!(
            "{} / HTTP/1.1\r\nHost: x\r\n{}\r\n",
            if c.head { "HEAD" } else { "GET" },
            if c.close { "Connection: close\r\n" } else { "" }
        )
    }

    /// The same value in every `Date` line, so that two runs compare.
    fn fixed_date(bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mut out = String::new();
        for line in text.split_inclusive("\r\n") {
            if line.starts_with("Date: ") {
                out.push_str("Date: X\r\n");
            } else {
                out.push_str(line);
            }
        }
        out
    }

    /// What hyper's server writes for `c` (title-cased headers, as iisn configures it).
    async fn hypers(c: &Case) -> String {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let case = c.clone();
        let svc = service_fn(move |_req: Request<hyper::body::Incoming>| {
            let r = response(&case);
            async move { Ok::<_, Infallible>(r) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.title_case_headers(true);
        let conn = builder.serve_connection(TokioIo::new(server), svc);
        let task = tokio::spawn(conn);
        client
            .write_all(request(c).as_bytes())
            .await
            .expect("write");
        let mut got = Vec::new();
        // Until hyper has answered: it closes after a `close`, else read what comes.
        let _ = tokio::time::timeout(Duration::from_millis(150), async {
            let mut chunk = [0u8; 4096];
            loop {
                match client.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        task.abort();
        fixed_date(&got)
    }

    /// What [`write_response`] writes for `c`, and how it ended.
    async fn ours(c: &Case) -> (String, Written) {
        let mut buf = BytesMut::from(request(c).as_bytes());
        let (req, keep_alive) = parse_simple(&mut buf).expect("a simple request");
        assert_eq!(req.method() == Method::HEAD, c.head);
        let (mut idle_client, _keep) = tokio::io::duplex(64);
        let mut rbuf = BytesMut::with_capacity(64);
        let mut watch = Watch {
            rd: &mut idle_client,
            buf: &mut rbuf,
        };
        let mut out = Vec::new();
        let w = write_response(&mut out, &mut watch, response(c), c.head, keep_alive, b"").await;
        (fixed_date(&out), w)
    }

    fn compare(c: &Case) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            // hyper 1.12 carries its "append `, chunked`" flag of a non-chunked
            // `Transfer-Encoding` over to the next header it treats apart, so it writes
            // `Connection: close, chunked`; iisn writes `Connection: close`.
            let theirs = hypers(c)
                .await
                .replace("Connection: close, chunked", "Connection: close");
            let (mine, ended) = ours(c).await;
            if matches!(ended, Written::Failed) {
                // hyper refuses the same responses: it writes nothing and closes.
                assert_eq!(theirs, "", "{c:?}");
                assert_eq!(mine, "", "{c:?}");
            } else {
                assert_eq!(mine, theirs, "{c:?}");
                let closes =
                    theirs.contains("Connection: close") || theirs.contains("connection: close");
                assert_eq!(ended == Written::Close, closes || c.close, "{c:?}");
            }
        });
    }

    fn case(status: u16, headers: &[(&'static str, &'static str)], body: BodyKind) -> Case {
        Case {
            status,
            reason: None,
            headers: headers.to_vec(),
            body,
            head: false,
            close: false,
        }
    }

    #[test]
    fn responses_are_the_bytes_hyper_writes() {
        let full = BodyKind::Full("hello world");
        let stream = BodyKind::Stream(vec!["hello", " ", "world"]);
        let ct = ("content-type", "text/plain");
        let cases = vec![
            case(200, &[ct], full.clone()),
            case(200, &[ct, ("content-length", "11")], full.clone()),
            case(200, &[ct], stream.clone()),
            case(200, &[ct, ("content-length", "11")], stream.clone()),
            case(200, &[("content-length", "5")], stream.clone()),
            case(
                200,
                &[("content-length", "11"), ("content-length", "11")],
                stream.clone(),
            ),
            case(200, &[("transfer-encoding", "chunked")], stream.clone()),
            case(200, &[("transfer-encoding", "gzip")], stream.clone()),
            case(
                200,
                &[("date", "Mon, 01 Jan 2024 00:00:00 GMT")],
                full.clone(),
            ),
            case(200, &[("connection", "close")], full.clone()),
            case(200, &[("connection", "keep-alive")], stream.clone()),
            case(200, &[("trailer", "x-t")], stream.clone()),
            case(
                200,
                &[
                    ("set-cookie", "a=1"),
                    ("set-cookie", "b=2"),
                    ("x-multi", "1"),
                ],
                full.clone(),
            ),
            case(
                200,
                &[("www-authenticate", "Basic"), ("etag", "\"x\"")],
                BodyKind::Empty,
            ),
            case(200, &[("content-length", "0")], BodyKind::Empty),
            case(200, &[("content-length", "42")], BodyKind::Empty),
            case(204, &[("content-length", "0")], BodyKind::Empty),
            case(204, &[], stream.clone()),
            case(
                304,
                &[("etag", "\"x\""), ("content-length", "11")],
                BodyKind::Empty,
            ),
            case(304, &[], full.clone()),
            case(404, &[ct], full.clone()),
            case(500, &[], BodyKind::Empty),
            case(299, &[], full.clone()),
            case(302, &[("location", "/x")], full.clone()),
            case(200, &[("content-length", "x1")], stream.clone()),
            case(
                200,
                &[("content-length", "3"), ("content-length", "4")],
                stream.clone(),
            ),
            case(
                200,
                &[("transfer-encoding", "chunked"), ("content-length", "11")],
                stream.clone(),
            ),
        ];
        for base in cases {
            for head in [false, true] {
                for close in [false, true] {
                    for reason in [None, Some("Very Fine")] {
                        let c = Case {
                            head,
                            close,
                            reason,
                            ..base.clone()
                        };
                        compare(&c);
                    }
                }
            }
        }
    }

    #[test]
    fn simple_requests_are_told_apart() {
        let simple = |raw: &str| {
            let mut b = BytesMut::from(raw.as_bytes());
            let before = b.clone();
            let r = parse_simple(&mut b);
            if r.is_none() {
                assert_eq!(b, before, "bytes kept for hyper: {raw:?}");
            }
            r.map(|(req, ka)| (req.method().clone(), req.uri().to_string(), ka, b.len()))
        };
        assert_eq!(
            simple("GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some((Method::GET, "/a?b=c".into(), true, 0))
        );
        assert_eq!(
            simple("HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /"),
            Some((Method::HEAD, "/".into(), false, 5))
        );
        assert_eq!(
            simple("GET / HTTP/1.1\r\nhost: x:80\r\nconnection: Keep-Alive\r\n\r\n").map(|r| r.2),
            Some(true)
        );
        for raw in [
            "GET / HTTP/1.1\r\nHost: x\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
            "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: keep-alive, TE\r\n\r\n",
            "GET http://x/ HTTP/1.1\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\n\r\n",
            "DELETE / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            "GET /\x01 HTTP/1.1\r\n\r\n",
            // HTTP.sys's refusals are hyper's to answer (super::http_sys).
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        ] {
            assert_eq!(simple(raw), None, "{raw:?}");
        }
        let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            simple(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            None
        );
        let enough: String = (0..99).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(simple(&format!("GET / HTTP/1.1\r\nHost: x\r\n{enough}\r\n")).is_some());
        let big = "v".repeat(super::super::http_sys::MAX_REQUEST_BYTES);
        assert_eq!(
            simple(&format!("GET / HTTP/1.1\r\nHost: x\r\nX: {big}\r\n\r\n")),
            None
        );
    }

    #[test]
    fn numbers_are_written_as_hyper_writes_them() {
        for n in [0u64, 1, 9, 10, 99, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
        for n in [1usize, 15, 16, 255, 4096, 65536] {
            let mut out = Vec::new();
            push_chunk_size(&mut out, n);
            assert_eq!(out, format!("{n:X}\r\n").into_bytes());
        }
    }

    proptest! {
        #[test]
        fn any_bytes_are_safe(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut b = BytesMut::from(&bytes[..]);
            if parse_simple(&mut b).is_none() {
                prop_assert_eq!(&b[..], &bytes[..]);
            }
        }

        #[test]
        fn a_simple_head_cut_short_goes_to_hyper_untouched(cut in 0usize..60) {
            let raw = b"GET /x HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
            let cut = cut.min(raw.len() - 1);
            let mut b = BytesMut::from(&raw[..cut]);
            prop_assert!(parse_simple(&mut b).is_none());
            prop_assert_eq!(&b[..], &raw[..cut]);
        }
    }
}
