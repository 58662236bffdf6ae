//! iisn's own HTTP/1.1 client toward node, for the common request: no body, no upgrade.
//!
//! A body-less request (GET, HEAD, DELETE ... without a body) is most of what a site
//! serves. For it, a whole client state machine is more than the job needs: the request
//! head is written in one `write` from a per-thread scratch buffer, node's response head is
//! parsed with `httparse` straight from the connection's read buffer, and the body is read
//! by the response body that hyper's server polls ([`NodeBody`]), from the client's own
//! task. There is no dispatcher, no channel between a sender and a connection task, no
//! copy of the request kept for a resend (the head is encoded again from the request,
//! which is kept until node answers), and no header-case map.
//!
//! Requests with a body (streamed to node while its answer may already stream back) and
//! upgrades (WebSocket tunnels) keep hyper's client ([`super::proxy`]).
//!
//! The rules are hyper's client rules, kept strict toward node:
//!
//! * `1xx` answers before the final one are skipped (`101` never comes: no upgrade here);
//! * the body is empty for `HEAD`, `204` and `304`; else `Transfer-Encoding` ending in
//!   `chunked` frames it (a `Content-Length` beside it is dropped, RFC 9112 §6.3); else a
//!   `Content-Length` (several must agree); else it runs until node closes the connection;
//! * chunk sizes are hex digits only (at most 16), lines end in CRLF, extensions and
//!   trailers are skipped; anything else fails the response;
//! * the response head is limited to `maxRequestBufferSize` (at least 8 KiB to read it);
//! * a connection goes back to the pool only when its response ended exactly where node's
//!   bytes ended, and node did not ask to close it (`Connection: close`, or HTTP/1.0
//!   without `keep-alive`).

use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version, header};
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::process::Worker;
use super::proxy::{ActiveGuard, BoxError};
use super::transport;

/// Most header lines accepted in node's response head.
const MAX_HEADERS: usize = 256;
/// The longest chunk-size line (with extensions) or trailer line accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Read size while the head is awaited.
const READ_SMALL: usize = 8 * 1024;
/// Largest read, for a body of known length or a large chunk.
const READ_LARGE: usize = 256 * 1024;
/// Read size between the chunks of a chunked body, and for a body that runs until node
/// closes the connection.
const READ_STREAM: usize = 64 * 1024;

/// How much to read when `left` bytes of a body (or of a chunk) are still to come.
fn read_size(left: u64) -> usize {
    usize::try_from(left)
        .unwrap_or(usize::MAX)
        .clamp(READ_SMALL, READ_LARGE)
}

/// A connection whose buffer grew beyond this gets a fresh small one before it is pooled,
/// so idle connections hold little memory.
const POOLED_BUF: usize = 16 * 1024;

/// A connection to a worker, with what has been read from it and not used yet.
pub struct Conn {
    io: transport::Stream,
    buf: BytesMut,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl Conn {
    /// The socket's descriptor (for [`exchange_fresh`]).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.io)
    }

    pub fn new(io: transport::Stream) -> Conn {
        Conn {
            io,
            buf: BytesMut::with_capacity(READ_SMALL),
        }
    }

    /// Whether an idle connection can carry a request: node has not closed it and sent
    /// nothing unasked. Costs a system call only when the socket became readable.
    pub fn is_usable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Reads more of node's bytes into the buffer (at least `want` bytes of room); `0` at
    /// the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<std::io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < want / 2 {
            self.buf.reserve(want);
        }
        // tokio's read clears the socket's readiness after a short read, so the next read
        // waits for the next epoll event instead of trying (and failing) a system call.
        let read = self.io.read_buf(&mut self.buf);
        std::pin::pin!(read).poll(cx)
    }

    async fn fill(&mut self, want: usize) -> std::io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx, want)).await
    }
}

thread_local! {
    /// Where request heads are encoded (one per front thread, reused).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes a header name as IIS writes known headers: `Content-Type`. The names every
/// request or response carries are written from a table, the others a byte at a time.
pub(super) fn push_name(out: &mut Vec<u8>, name: &HeaderName) {
    let known: &[u8] = match *name {
        header::CONTENT_TYPE => b"Content-Type",
        header::CONTENT_LENGTH => b"Content-Length",
        header::DATE => b"Date",
        header::HOST => b"Host",
        header::CONNECTION => b"Connection",
        header::ACCEPT => b"Accept",
        header::USER_AGENT => b"User-Agent",
        header::ACCEPT_ENCODING => b"Accept-Encoding",
        header::ACCEPT_LANGUAGE => b"Accept-Language",
        header::CACHE_CONTROL => b"Cache-Control",
        header::ETAG => b"Etag",
        header::LAST_MODIFIED => b"Last-Modified",
        header::SET_COOKIE => b"Set-Cookie",
        header::COOKIE => b"Cookie",
        header::TRANSFER_ENCODING => b"Transfer-Encoding",
        _ => return title_case(out, name.as_str().as_bytes()),
    };
    out.extend_from_slice(known);
}

/// Writes a header name as IIS writes known headers to iisnode: `Content-Type`.
pub(super) fn title_case(out: &mut Vec<u8>, name: &[u8]) {
    let start = out.len();
    out.extend_from_slice(name);
    let mut up = true;
    for b in &mut out[start..] {
        if up {
            b.make_ascii_uppercase();
        }
        up = *b == b'-';
    }
}

/// Encodes a body-less request's head: the target as the client sent it, its headers
/// (hop-by-hop headers already rewritten by the caller) without `Transfer-Encoding`.
fn encode_head<B>(out: &mut Vec<u8>, req: &Request<B>) {
    out.clear();
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    let uri = req.uri();
    if uri.scheme().is_some() || uri.authority().is_some() {
        out.extend_from_slice(uri.to_string().as_bytes());
    } else {
        out.extend_from_slice(uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
    }
    out.extend_from_slice(if req.version() == Version::HTTP_10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    for (name, value) in req.headers() {
        if name == header::TRANSFER_ENCODING {
            continue;
        }
        push_name(out, name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `req`'s head to `conn`.
async fn write_head<B>(conn: &mut Conn, req: &Request<B>) -> std::io::Result<()> {
    let mut head = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    encode_head(&mut head, req);
    let r = conn.io.write_all(&head).await;
    if head.capacity() <= 64 * 1024 {
        SCRATCH.with(|s| *s.borrow_mut() = head);
    }
    r
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum ExchangeError {
    /// Node sent not one byte of an answer: the connection was closed or reset after the
    /// request was written.
    Unanswered(std::io::Error),
    /// The request head could not be written: node never saw the request.
    Unwritten(std::io::Error),
    /// Node's answer was not a valid HTTP/1.x response (or ended too early).
    Invalid(String),
    /// Node's response head was larger than allowed.
    TooLarge,
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Unanswered(e) => write!(f, "connection closed before a response: {e}"),
            ExchangeError::Unwritten(e) => write!(f, "the request could not be sent: {e}"),
            ExchangeError::Invalid(s) => f.write_str(s),
            ExchangeError::TooLarge => f.write_str("the response head is too large"),
        }
    }
}

/// How node frames the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Node's response head, parsed.
pub struct Head {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub reason: Option<hyper::ext::ReasonPhrase>,
    /// The size of node's header block (as `proxy::head_size` counts it).
    pub size: usize,
    framing: Framing,
    keep_alive: bool,
}

/// Sends a body-less request on `conn` and reads node's response head.
pub async fn exchange<B>(
    conn: &mut Conn,
    req: &Request<B>,
    max_head: usize,
) -> Result<Head, ExchangeError> {
    write_head(conn, req)
        .await
        .map_err(ExchangeError::Unwritten)?;
    let limit = max_head.max(8192);
    let mut received = false;
    loop {
        if !conn.buf.is_empty() {
            received = true;
            match parse_head(&mut conn.buf, req.method(), limit)? {
                Some(Parsed::Final(head)) => return Ok(head),
                Some(Parsed::Informational) => continue,
                None => {}
            }
        }
        match conn.fill(READ_SMALL).await {
            Ok(0) if !received => {
                return Err(ExchangeError::Unanswered(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the node process closed the connection",
                )));
            }
            Ok(0) => {
                return Err(ExchangeError::Invalid(
                    "the connection closed before the response head was complete".into(),
                ));
            }
            Ok(_) => {}
            Err(e) if !received => return Err(ExchangeError::Unanswered(e)),
            Err(e) => return Err(ExchangeError::Invalid(e.to_string())),
        }
    }
}

enum Parsed {
    Final(Head),
    /// A `1xx` answer, consumed: the final one follows.
    Informational,
}

fn invalid(what: impl Into<String>) -> ExchangeError {
    ExchangeError::Invalid(what.into())
}

/// Parses a response head at the start of `buf` (consuming it when complete).
fn parse_head(
    buf: &mut BytesMut,
    method: &Method,
    limit: usize,
) -> Result<Option<Parsed>, ExchangeError> {
    // Offsets of names and values in the head: the head becomes shared `Bytes` once the
    // borrow of the buffer ends, and the header values are slices of it.
    SPANS.with(|spans| parse_head_with(buf, method, limit, &mut spans.borrow_mut()))
}

thread_local! {
    /// Header maps of finished requests and responses, cleared, for the next ones: a map
    /// is two allocations, and each request has two maps (see [`header_map`]).
    static MAPS: std::cell::RefCell<Vec<HeaderMap>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// How many cleared maps a front thread keeps.
const MAPS_KEPT: usize = 32;
/// Maps that grew beyond this many entries are not kept.
const MAP_KEPT_CAPACITY: usize = 64;

/// An empty header map with room for `n` headers, recycled when one is at hand.
pub(super) fn header_map(n: usize) -> HeaderMap {
    match MAPS.with(|m| m.borrow_mut().pop()) {
        Some(mut h) => {
            h.reserve(n);
            h
        }
        None => HeaderMap::with_capacity(n),
    }
}

/// Gives a map that is done with back for [`header_map`].
pub(super) fn recycle_headers(mut h: HeaderMap) {
    if h.capacity() > MAP_KEPT_CAPACITY {
        return;
    }
    h.clear();
    MAPS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < MAPS_KEPT {
            m.push(h);
        }
    });
}

thread_local! {
    /// [`parse_head`]'s list of header offsets (one per front thread, reused).
    static SPANS: std::cell::RefCell<Vec<(u32, u32, u32, u32)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn parse_head_with(
    buf: &mut BytesMut,
    method: &Method,
    limit: usize,
    spans: &mut Vec<(u32, u32, u32, u32)>,
) -> Result<Option<Parsed>, ExchangeError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut []);
    spans.clear();
    let (len, code, reason, version, count) = {
        let bytes: &[u8] = buf;
        match httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut res, bytes, &mut slots)
        {
            Ok(httparse::Status::Complete(len)) => {
                if len > limit {
                    return Err(ExchangeError::TooLarge);
                }
                let base = bytes.as_ptr() as usize;
                for h in res.headers.iter() {
                    let n = h.name.as_ptr() as usize - base;
                    let v = h.value.as_ptr() as usize - base;
                    spans.push((
                        n as u32,
                        h.name.len() as u32,
                        v as u32,
                        h.value.len() as u32,
                    ));
                }
                (
                    len,
                    res.code.unwrap_or(0),
                    res.reason.unwrap_or(""),
                    res.version.unwrap_or(1),
                    res.headers.len(),
                )
            }
            Ok(httparse::Status::Partial) => {
                return if bytes.len() >= limit {
                    Err(ExchangeError::TooLarge)
                } else {
                    Ok(None)
                };
            }
            Err(httparse::Error::TooManyHeaders) => return Err(ExchangeError::TooLarge),
            Err(e) => return Err(invalid(format!("invalid response head: {e}"))),
        }
    };
    let status = StatusCode::from_u16(code).map_err(|_| invalid("invalid status code"))?;
    if status.is_informational() {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(invalid(
                "101 Switching Protocols to a request without Upgrade",
            ));
        }
        buf.advance(len);
        return Ok(Some(Parsed::Informational));
    }
    let reason = (Some(reason) != status.canonical_reason())
        .then(|| hyper::ext::ReasonPhrase::try_from(reason.as_bytes()).ok())
        .flatten();
    let head = buf.split_to(len).freeze();
    let version = if version == 1 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    let mut keep_alive = version == Version::HTTP_11;
    let mut close = false;
    let mut headers = header_map(count);
    let mut length: Option<u64> = None;
    let mut bad_length = false;
    let mut chunked = None;
    // The header block's size as `proxy::head_size` counts it (maxRequestBufferSize), of
    // everything node sent.
    let mut size = 2;
    for &(n, nl, v, vl) in &spans[..count] {
        let name = &head[n as usize..(n + nl) as usize];
        size += name.len() + vl as usize + 4;
        // `Connection` and `Keep-Alive` describe this hop only: the client never sees them
        // (told apart before a `HeaderName` is made: `Keep-Alive` would be allocated).
        if name.eq_ignore_ascii_case(b"connection") {
            for token in head[v as usize..(v + vl) as usize].split(|&b| b == b',') {
                let t = token.trim_ascii();
                if t.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
            continue;
        } else if name.eq_ignore_ascii_case(b"keep-alive") {
            continue;
        }
        let name = HeaderName::from_bytes(name).map_err(|_| invalid("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(v as usize..(v + vl) as usize))
            .map_err(|_| invalid("invalid header value"))?;
        if name == header::CONTENT_LENGTH {
            // A list of equal values (`5, 5`) counts as one, as hyper reads it; whether a
            // bad one matters is decided with the framing (not for HEAD, 204, 304, chunked).
            for v in value.as_bytes().split(|&b| b == b',') {
                match (parse_length(v), length) {
                    (Some(n), None) => length = Some(n),
                    (Some(n), Some(l)) if n == l => {}
                    _ => bad_length = true,
                }
            }
        } else if name == header::TRANSFER_ENCODING {
            if version == Version::HTTP_10 {
                return Err(invalid("Transfer-Encoding in an HTTP/1.0 response"));
            }
            // Only the last coding counts (several headers form one list).
            let last = value
                .as_bytes()
                .rsplit(|&b| b == b',')
                .next()
                .unwrap_or(b"");
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        }
        headers.append(name, value);
    }
    let framing = if *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Empty
    } else if let Some(chunked) = chunked {
        headers.remove(header::CONTENT_LENGTH);
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if bad_length {
        return Err(invalid("invalid or conflicting Content-Length"));
    } else if let Some(n) = length {
        if n == 0 {
            Framing::Empty
        } else {
            Framing::Length(n)
        }
    } else {
        Framing::UntilClose
    };
    Ok(Some(Parsed::Final(Head {
        status,
        version,
        headers,
        reason,
        framing,
        keep_alive: keep_alive && !close && framing != Framing::UntilClose,
        size,
    })))
}

/// A Content-Length value: digits only.
pub(super) fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// In a chunk's data, this many bytes to go.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines, then an empty line.
    Trailers,
}

/// What the decoder found in the buffer.
#[derive(Debug, PartialEq, Eq)]
enum Decoded {
    Data(Bytes),
    NeedMore,
    End,
}

/// One step of the chunked decoder on `buf`.
fn decode_chunk(state: &mut Chunk, buf: &mut BytesMut) -> Result<Decoded, String> {
    loop {
        match *state {
            Chunk::Size => {
                let Some(eol) = line_end(buf, "chunk-size line")? else {
                    return Ok(Decoded::NeedMore);
                };
                let line = &buf[..eol];
                let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
                if digits == 0 || digits > 16 {
                    return Err("invalid chunk size".into());
                }
                let rest = &line[digits..];
                let rest = &rest[rest
                    .iter()
                    .take_while(|&&b| b == b' ' || b == b'\t')
                    .count()..];
                if !(rest.is_empty() || rest[0] == b';') {
                    return Err("invalid chunk size".into());
                }
                let size = line[..digits].iter().fold(0u64, |n, &d| {
                    (n << 4) | u64::from((d as char).to_digit(16).unwrap_or(0))
                });
                buf.advance(eol + 2);
                *state = if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(left) => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let data = buf.split_to(n).freeze();
                let left = left - n as u64;
                *state = if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                };
                return Ok(Decoded::Data(data));
            }
            Chunk::DataEnd => {
                if buf.len() < 2 {
                    return Ok(Decoded::NeedMore);
                }
                if &buf[..2] != b"\r\n" {
                    return Err("chunk data not followed by CRLF".into());
                }
                buf.advance(2);
                *state = Chunk::Size;
            }
            Chunk::Trailers => {
                let Some(eol) = line_end(buf, "trailer line")? else {
                    return Ok(Decoded::NeedMore);
                };
                buf.advance(eol + 2);
                if eol == 0 {
                    return Ok(Decoded::End);
                }
            }
        }
    }
}

/// Where the CRLF ending the line at the start of `buf` is; `None` while it has not all
/// arrived, an error once it is longer than a chunk-size line or trailer may be.
fn line_end(buf: &[u8], what: &str) -> Result<Option<usize>, String> {
    let window = &buf[..buf.len().min(MAX_CHUNK_LINE + 2)];
    match find_crlf(window) {
        Some(eol) => Ok(Some(eol)),
        None if buf.len() > MAX_CHUNK_LINE => Err(format!("{what} too long")),
        None => Ok(None),
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Where a finished connection goes: back to this thread's pool for its worker.
pub struct Reuse {
    pub worker: Arc<Worker>,
    pub max: usize,
    pub age: std::time::Duration,
}

/// Node's response body, read from the connection by whoever polls it (hyper's server, in
/// the client connection's task). The connection goes back to the pool when the body ends
/// cleanly; the request's concurrency slot is held until the body is done or dropped.
pub struct NodeBody {
    conn: Option<Conn>,
    state: State,
    reuse: Option<Reuse>,
    _guard: ActiveGuard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

impl NodeBody {
    /// The body that follows `head` on `conn`. A body-less response hands the connection
    /// back at once.
    pub fn new(conn: Conn, head: &Head, reuse: Option<Reuse>, guard: ActiveGuard) -> NodeBody {
        let state = match head.framing {
            Framing::Empty => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Chunk::Size),
            Framing::UntilClose => State::UntilClose,
        };
        let mut body = NodeBody {
            conn: Some(conn),
            state,
            reuse: if head.keep_alive { reuse } else { None },
            _guard: guard,
        };
        if body.state == State::Done {
            body.release();
        }
        body
    }

    /// Returns the connection to the pool (once), if nothing unasked follows the response.
    fn release(&mut self) {
        if let (Some(mut conn), Some(reuse)) = (self.conn.take(), self.reuse.take()) {
            if !conn.buf.is_empty() {
                return;
            }
            if conn.buf.capacity() > POOLED_BUF {
                conn.buf = BytesMut::with_capacity(READ_SMALL);
            }
            give_back(&reuse, conn);
        }
    }

    fn finish(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state = State::Done;
        self.release();
        Poll::Ready(None)
    }
}

fn cut_short(what: &str) -> BoxError {
    format!("node's response body {what}").into()
}

impl hyper::body::Body for NodeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return if this.state == State::Done {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(cut_short("was lost"))))
                };
            };
            let want = match &mut this.state {
                State::Done => return this.finish(),
                State::Length(left) => {
                    if !conn.buf.is_empty() {
                        let n = conn
                            .buf
                            .len()
                            .min(usize::try_from(*left).unwrap_or(usize::MAX));
                        let data = conn.buf.split_to(n).freeze();
                        *left -= n as u64;
                        if *left == 0 {
                            this.state = State::Done;
                            this.release();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    read_size(*left)
                }
                State::Chunked(chunk) => match decode_chunk(chunk, &mut conn.buf) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(Decoded::End) => return this.finish(),
                    // Inside a chunk, read as much of it as there is to come (node's
                    // streamed files come in 64 KiB chunks); between chunks, the next one
                    // is likely on its way.
                    Ok(Decoded::NeedMore) => match *chunk {
                        Chunk::Data(left) => read_size(left),
                        _ => READ_STREAM,
                    },
                    Err(e) => {
                        this.conn = None;
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(cut_short(&format!("is malformed: {e}")))));
                    }
                },
                State::UntilClose => {
                    if !conn.buf.is_empty() {
                        let data = conn.buf.split().freeze();
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    READ_STREAM
                }
            };
            match ready!(conn.poll_fill(cx, want)) {
                Ok(0) if this.state == State::UntilClose => {
                    this.conn = None;
                    this.state = State::Done;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(cut_short(
                        "ended early: the node process closed the connection",
                    ))));
                }
                Ok(_) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Done => SizeHint::with_exact(0),
            State::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

/// An idle connection in a pool, since when, and its application's
/// maxNamedPipePooledConnectionAge.
struct Idle {
    conn: Conn,
    since: Instant,
    age: std::time::Duration,
}

impl Idle {
    /// Young enough, and node has not closed it.
    fn keep(&mut self) -> bool {
        self.since.elapsed() < self.age && self.conn.is_usable()
    }
}

// Idle connections to workers, per front thread (see `super::front`: a current-thread
// runtime per thread, so a connection is only ever used from the thread that made it; no
// lock, no cross-thread wake-up).
thread_local! {
    static IDLE: PerWorker<Idle> = const { PerWorker::new() };
}

/// Lists kept per worker on one thread (idle connections: this module's, and hyper's in
/// [`super::proxy`]). A worker is known by its address, with a `Weak` to it so that the
/// address cannot be reused by another worker while its entry lives; entries of exited or
/// dropped workers are pruned as they are met, and by the sweep once a second.
///
/// maxNamedPipeConnectionPoolSize is per worker (iisnode's pool is per process), and each
/// front thread has its own lists. A thread may hold up to the whole pool for a moment
/// (a connection coming back to a full list is closed); once a second the sweep cuts each
/// list back to its share (the pool size ÷ the front threads), closing only connections
/// that were not used since the previous sweep. So a thread's need may swing (it does
/// under load: one worker falls behind, its requests pile up, then the other's) without
/// connections being closed on one swing and opened again on the next, and after a burst
/// all threads together come back within the pool size. Closing at the share on every
/// return opened ~300 connections a second at 1,000 clients, and node accepts new
/// connections late under load (its accept waited a second at the median), which was the
/// 1-second tail of that benchmark (bench/RESULTS.md, round 8).
///
/// A thread also limits the fresh connections to a worker whose request node has not read
/// yet ([`FRESH_UNREAD`]): node accepts one connection per turn of its event loop, so under
/// load a burst of fresh connections waits in its accept queue for seconds while the
/// connections it already has come back in milliseconds. A request past the limit waits
/// ([`acquire`]) for whichever comes first: a connection coming back (handed over at once,
/// oldest waiter first) or a fresh connection's request being read (its slot passes on).
pub(super) struct PerWorker<T> {
    lists: std::cell::RefCell<Vec<IdleList<T>>>,
}

/// What a waiting request is given.
pub(super) enum Grant<T> {
    /// A connection that came back.
    Item(T),
    /// The right to open a fresh connection.
    Slot(FreshSlot),
}

/// One worker's idle items on one thread.
struct IdleList<T> {
    worker: std::sync::Weak<Worker>,
    /// The most recently returned last (taken first: the others stay idle and age).
    items: Vec<T>,
    /// The fewest items the list held since the last sweep: the first `low` were not taken
    /// in that time.
    low: usize,
    /// This thread's share of the worker's pool, which the sweep cuts the list back to.
    share: usize,
    /// Fresh connections whose request node has not read yet ([`FreshSlot`]s out).
    fresh: usize,
    /// Requests waiting for a connection or a slot, oldest first.
    waiters: std::collections::VecDeque<tokio::sync::oneshot::Sender<Grant<T>>>,
}

impl<T> PerWorker<T> {
    pub(super) const fn new() -> PerWorker<T> {
        PerWorker {
            lists: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Runs `f` on the list for `worker`.
    fn with<R>(&self, worker: &Arc<Worker>, f: impl FnOnce(&mut IdleList<T>) -> R) -> R {
        let mut lists = self.lists.borrow_mut();
        if let Some(i) = lists
            .iter()
            .position(|l| std::ptr::eq(l.worker.as_ptr(), Arc::as_ptr(worker)))
        {
            return f(&mut lists[i]);
        }
        // A worker not seen on this thread yet: drop the lists of workers that are gone.
        lists.retain(|l| l.worker.upgrade().is_some_and(|w| !w.has_exited()));
        lists.push(IdleList {
            worker: Arc::downgrade(worker),
            items: Vec::new(),
            low: 0,
            share: 0,
            fresh: 0,
            waiters: std::collections::VecDeque::new(),
        });
        let last = lists.len() - 1;
        f(&mut lists[last])
    }

    /// Pools `item` for `worker` whose application's pool size is `max` (dropping it when
    /// this thread already holds that many).
    pub(super) fn put(&self, worker: &Arc<Worker>, item: T, max: usize) {
        self.with(worker, |l| {
            l.share = max.div_ceil(super::front::front_threads());
            let mut item = item;
            // A waiting request takes it at once (one whose wait ended gives it back).
            while let Some(waiter) = l.waiters.pop_front() {
                // (What comes back is what was sent.)
                let Err(Grant::Item(back)) = waiter.send(Grant::Item(item)) else {
                    return;
                };
                item = back;
            }
            if l.items.len() < max {
                l.items.push(item);
            }
        });
    }

    /// Takes the most recently pooled item for `worker` for which `usable` holds, dropping
    /// the unusable ones met on the way.
    pub(super) fn take(
        &self,
        worker: &Arc<Worker>,
        mut usable: impl FnMut(&mut T) -> bool,
    ) -> Option<T> {
        self.with(worker, |l| {
            let mut found = None;
            while let Some(mut item) = l.items.pop() {
                if usable(&mut item) {
                    found = Some(item);
                    break;
                }
            }
            l.low = l.low.min(l.items.len());
            found
        })
    }

    /// A slot for a fresh connection to `worker`, or else a place in its queue.
    fn slot_or_wait(
        &self,
        worker: &Arc<Worker>,
    ) -> Result<FreshSlot, tokio::sync::oneshot::Receiver<Grant<T>>> {
        self.with(worker, |l| {
            if l.fresh < FRESH_UNREAD {
                l.fresh += 1;
                return Ok(FreshSlot {
                    worker: Some(worker.clone()),
                });
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            l.waiters.push_back(tx);
            Err(rx)
        })
    }

    /// A slot given back: it passes to the oldest waiting request, if any.
    fn release(&self, worker: Arc<Worker>) {
        let key = worker.clone();
        self.with(&key, |l| {
            let mut slot = FreshSlot {
                worker: Some(worker),
            };
            while let Some(waiter) = l.waiters.pop_front() {
                // (What comes back is what was sent.)
                let Err(Grant::Slot(back)) = waiter.send(Grant::Slot(slot)) else {
                    return;
                };
                slot = back;
            }
            // Nobody waits: the slot is free. Defused, so that its drop does not give it
            // back again.
            slot.worker = None;
            l.fresh = l.fresh.saturating_sub(1);
        });
    }

    /// Drops every item pooled for `worker`.
    pub(super) fn clear(&self, worker: &Arc<Worker>) {
        self.with(worker, |l| {
            l.items.clear();
            l.low = 0;
        });
    }

    /// Once a second: cuts each list back to its share, dropping items not taken since the
    /// last sweep (the oldest first), then keeps the items for which `keep` holds. The
    /// lists of exited workers go.
    pub(super) fn sweep(&self, mut keep: impl FnMut(&mut T) -> bool) {
        let mut lists = self.lists.borrow_mut();
        lists.retain_mut(|l| {
            let running = l.worker.upgrade().is_some_and(|w| !w.has_exited());
            if running {
                // Stale ones go first; then, beyond the share, live ones not taken since
                // the last sweep (those still among the first `low`), the oldest first.
                let (low, mut i, mut unused) = (l.low, 0, 0);
                l.items.retain_mut(|item| {
                    let kept = keep(item);
                    if kept && i < low {
                        unused += 1;
                    }
                    i += 1;
                    kept
                });
                let surplus = l.items.len().saturating_sub(l.share);
                l.items.drain(..surplus.min(unused));
                l.low = l.items.len();
            }
            running
        });
    }
}

/// Drops this thread's idle connections that node has closed (its keep-alive timeout, 5 s
/// by default) or that are older than maxNamedPipePooledConnectionAge, those beyond the
/// thread's share of the pool that were not used in the last second, and the lists of
/// exited workers. Run once a second by each front thread (`super::front`): without it, a
/// burst of concurrent requests left up to maxNamedPipeConnectionPoolSize connections, and
/// their buffers, held until the next request to the same worker on the same thread.
pub(super) fn sweep_idle() {
    IDLE.with(|idle| idle.sweep(Idle::keep));
}

/// Fresh connections to one worker that one front thread may have waiting for node to read
/// their request (see [`PerWorker`]). Node reads a new connection's request a turn of its
/// event loop after accepting it, so two per thread keep its accept queue short while
/// connections are added as fast as node takes them.
const FRESH_UNREAD: usize = 2;

/// The right to one fresh connection to a worker whose request node has not read yet;
/// given back when dropped (see [`PerWorker`]).
pub struct FreshSlot {
    /// `None` once given back.
    worker: Option<Arc<Worker>>,
}

impl std::fmt::Debug for FreshSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshSlot").finish_non_exhaustive()
    }
}

impl Drop for FreshSlot {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            // (Not while the thread's locals are being destroyed.)
            let _ = IDLE.try_with(|pool| pool.release(worker));
        }
    }
}

/// What a body-less request goes to node on.
pub enum Acquired {
    /// A connection from the pool, or one that came back while the request waited.
    Pooled(Conn),
    /// A fresh connection to open, with the slot to give back once node has read the
    /// request (`None`: open it regardless, the worker has exited or its list was dropped),
    /// and since when the request has been waiting for a connection (the connect budget
    /// counts from there).
    Fresh(Option<FreshSlot>, Instant),
    /// Nothing came back, and node read none of its newest connections' requests, within
    /// the connect budget: its event loop is held (a long synchronous job, a paused
    /// debugger).
    Busy,
}

/// A connection to `worker` for a body-less request: a pooled one; else a slot for a fresh
/// one; else the first connection to come back or the first slot given back (see
/// [`PerWorker`]), within `budget` (the connect retry budget), after which node is too busy
/// ([`Acquired::Busy`]).
pub async fn acquire(worker: &Arc<Worker>, budget: std::time::Duration) -> Acquired {
    if let Some(conn) = take_pooled(worker) {
        return Acquired::Pooled(conn);
    }
    match IDLE.with(|pool| pool.slot_or_wait(worker)) {
        Ok(slot) => Acquired::Fresh(Some(slot), Instant::now()),
        Err(rx) => {
            tracing::trace!(
                pid = worker.id.pid,
                "waiting for a connection to come back or node to read a fresh one"
            );
            Box::pin(wait_for_grant(rx, worker, budget)).await
        }
    }
}

async fn wait_for_grant(
    rx: tokio::sync::oneshot::Receiver<Grant<Idle>>,
    worker: &Arc<Worker>,
    budget: std::time::Duration,
) -> Acquired {
    let since = Instant::now();
    tokio::select! {
        () = tokio::time::sleep(budget) => Acquired::Busy,
        grant = rx => match grant {
            Ok(Grant::Item(idle)) => Acquired::Pooled(idle.conn),
            Ok(Grant::Slot(slot)) => Acquired::Fresh(Some(slot), since),
            // The worker's list went (it exited): the connect says why.
            Err(_) => Acquired::Fresh(None, since),
        },
        () = worker.wait_exit() => Acquired::Fresh(None, since),
    }
}

/// Awaits `exchange` on a fresh connection, giving `slot` back as soon as node has read
/// the request (nothing left unread in the socket), or when the exchange ends.
pub async fn exchange_fresh<F: Future>(
    exchange: F,
    conn_fd: std::os::fd::RawFd,
    slot: Option<FreshSlot>,
) -> F::Output {
    let Some(slot) = slot else {
        return exchange.await;
    };
    let mut exchange = std::pin::pin!(exchange);
    let mut slot = Some(slot);
    // Looked at after 1 ms, then less often while node does not read (up to every 16 ms):
    // a node that holds its loop for long does not wake the thread a thousand times a
    // second.
    let mut every = std::time::Duration::from_millis(1);
    let tick = tokio::time::sleep(every);
    let mut tick = std::pin::pin!(tick);
    loop {
        tokio::select! {
            biased;
            out = &mut exchange => return out,
            () = &mut tick, if slot.is_some() => {
                if transport::unread_by_peer(conn_fd).is_none_or(|n| n == 0) {
                    slot = None;
                } else {
                    every = (every * 2).min(std::time::Duration::from_millis(16));
                    tick.as_mut().reset(tokio::time::Instant::now() + every);
                }
            }
        }
    }
}

fn give_back(reuse: &Reuse, conn: Conn) {
    // (maxNamedPipePooledConnectionAge="0": no connection is reused, not even by a request
    // waiting for one.)
    if reuse.max == 0 || reuse.age.is_zero() || reuse.worker.has_exited() {
        return;
    }
    // Connections node closed, or too old, are let go by the sweep ([`sweep_idle`], once a
    // second), not here: no clock read or readiness check more per request. (Until then a
    // full list closes the connection coming back; `take_pooled` never hands out a stale one.)
    let idle = Idle {
        conn,
        since: Instant::now(),
        age: reuse.age,
    };
    IDLE.with(|pool| pool.put(&reuse.worker, idle, reuse.max));
}

/// Takes the newest idle connection to `worker` still worth keeping (`Idle::keep`),
/// closing stale ones.
pub fn take_pooled(worker: &Arc<Worker>) -> Option<Conn> {
    IDLE.with(|pool| {
        if worker.has_exited() {
            pool.clear(worker);
            return None;
        }
        let idle = pool.take(worker, Idle::keep)?;
        tracing::trace!(pid = worker.id.pid, idle = ?idle.since.elapsed(), "reusing a pooled connection");
        Some(idle.conn)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8], method: Method) -> Result<Option<Parsed>, ExchangeError> {
        let mut buf = BytesMut::from(bytes);
        parse_head(&mut buf, &method, 8192)
    }

    fn final_head(bytes: &[u8], method: Method) -> Head {
        match head(bytes, method) {
            Ok(Some(Parsed::Final(h))) => h,
            Ok(Some(Parsed::Informational)) => panic!("informational"),
            Ok(None) => panic!("partial"),
            Err(e) => panic!("error: {e}"),
        }
    }

    #[test]
    fn the_table_of_names_writes_what_title_case_writes() {
        let names = [
            "content-type",
            "content-length",
            "date",
            "host",
            "connection",
            "accept",
            "user-agent",
            "accept-encoding",
            "accept-language",
            "cache-control",
            "etag",
            "last-modified",
            "set-cookie",
            "cookie",
            "transfer-encoding",
            "x-powered-by",
            "x-custom-thing",
            "www-authenticate",
        ];
        for n in names {
            let name = HeaderName::from_static(n);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            push_name(&mut a, &name);
            title_case(&mut b, n.as_bytes());
            assert_eq!(
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                "{n}"
            );
        }
    }

    #[test]
    fn framing_follows_hypers_client_rules() {
        let h = final_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n",
            Method::GET,
        );
        assert_eq!(h.framing, Framing::Length(13));
        assert!(h.keep_alive);
        assert_eq!(h.size, super::super::proxy::head_size(&h.headers));
        assert!(h.reason.is_none());
        assert_eq!(
            h.headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"text/plain"[..])
        );

        let h = final_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n",
            Method::HEAD,
        );
        assert_eq!(h.framing, Framing::Empty);
        let h = final_head(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 13\r\n\r\n",
            Method::GET,
        );
        assert_eq!(h.framing, Framing::Empty);

        let h = final_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::GET,
        );
        assert_eq!(h.framing, Framing::Chunked);
        assert!(
            h.headers.get("content-length").is_none(),
            "TE wins, CL dropped"
        );

        let h = final_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Method::GET,
        );
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(!h.keep_alive);

        let h = final_head(b"HTTP/1.1 200 OK\r\n\r\n", Method::GET);
        assert_eq!(h.framing, Framing::UntilClose);

        let h = final_head(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
            Method::GET,
        );
        assert!(!h.keep_alive);
        let h = final_head(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", Method::GET);
        assert!(!h.keep_alive);
        let h = final_head(
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\n",
            Method::GET,
        );
        assert!(h.keep_alive);
        assert!(h.headers.get("connection").is_none() && h.headers.get("keep-alive").is_none());
        // The limit counts node's whole header block, hop-by-hop headers included.
        assert_eq!(
            h.size,
            super::super::proxy::head_size(&h.headers)
                + "connection: Keep-Alive\r\n".len()
                + "keep-alive: timeout=5\r\n".len()
        );

        let h = final_head(
            b"HTTP/1.1 299 Fine Thanks\r\nContent-Length: 0\r\n\r\n",
            Method::GET,
        );
        assert_eq!(
            h.reason.as_ref().map(|r| r.as_bytes()),
            Some(&b"Fine Thanks"[..])
        );
    }

    #[test]
    fn bad_heads_are_rejected() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            b"HTTX/1.1 200 OK\r\n\r\n",
        ] {
            assert!(
                matches!(head(bad, Method::GET), Err(ExchangeError::Invalid(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            head(b"HTTP/1.1 200 OK\r\nX: y", Method::GET),
            Ok(None)
        ));
        // A list of equal lengths is one length; a bad one does not matter where the
        // length does not frame the body.
        let h = final_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            Method::GET,
        );
        assert_eq!(h.framing, Framing::Length(5));
        let h = final_head(
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            Method::HEAD,
        );
        assert_eq!(h.framing, Framing::Empty);
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(9000));
        assert!(matches!(
            head(long.as_bytes(), Method::GET),
            Err(ExchangeError::TooLarge)
        ));
    }

    #[test]
    fn informational_answers_are_skipped() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..],
        );
        assert!(matches!(
            parse_head(&mut buf, &Method::GET, 8192),
            Ok(Some(Parsed::Informational))
        ));
        assert!(matches!(
            parse_head(&mut buf, &Method::GET, 8192),
            Ok(Some(Parsed::Final(_)))
        ));
        assert_eq!(&buf[..], b"hi");
    }

    fn decode_all(input: &[u8], step: usize) -> Result<Vec<u8>, String> {
        let mut state = Chunk::Size;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match decode_chunk(&mut state, &mut buf)? {
                Decoded::Data(d) => out.extend_from_slice(&d),
                Decoded::End => return Ok(out),
                Decoded::NeedMore => {
                    if fed >= input.len() {
                        return Err("eof".into());
                    }
                    let n = step.min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_in_any_split() {
        let wire = b"7\r\nHello, \r\n6;ext=1\r\nworld!\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in 1..wire.len() {
            assert_eq!(
                decode_all(wire, step).as_deref(),
                Ok(&b"Hello, world!"[..]),
                "step {step}"
            );
        }
        for bad in [
            &b"x\r\nabc\r\n0\r\n\r\n"[..],
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"-3\r\nabc\r\n0\r\n\r\n",
            b"3 z\r\nabc\r\n0\r\n\r\n",
            b"3\x0c;x\r\nabc\r\n0\r\n\r\n",
            b"11111111111111111\r\n",
            format!("3;{}\r\nabc\r\n0\r\n\r\n", "x".repeat(5000)).as_bytes(),
        ] {
            assert!(
                decode_all(bad, 64).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn request_heads_are_title_cased_without_transfer_encoding() {
        let mut req = Request::new(());
        *req.uri_mut() = "/a/b?c=1".parse().expect("uri");
        req.headers_mut()
            .insert(header::HOST, HeaderValue::from_static("x"));
        req.headers_mut()
            .insert("x-custom-thing", HeaderValue::from_static("1"));
        req.headers_mut().insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        let mut out = Vec::new();
        encode_head(&mut out, &req);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "GET /a/b?c=1 HTTP/1.1\r\nHost: x\r\nX-Custom-Thing: 1\r\n\r\n"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever node sends, parsing a head never panics, and a head cut anywhere
        /// before its end is incomplete, not an error.
        #[test]
        fn heads_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = parse_head(&mut buf, &Method::GET, 8192);
        }

        #[test]
        fn a_valid_head_cut_short_is_partial(
            names in proptest::collection::vec("[A-Za-z][A-Za-z0-9-]{0,12}", 0..6),
            cut in 0usize..200,
        ) {
            let mut head = String::from("HTTP/1.1 200 OK\r\n");
            for (i, n) in names.iter().enumerate() {
                head.push_str(&format!("{n}: v{i}\r\n"));
            }
            head.push_str("Content-Length: 0\r\n\r\n");
            let cut = cut.min(head.len() - 1);
            let mut buf = BytesMut::from(&head.as_bytes()[..cut]);
            proptest::prop_assert!(matches!(parse_head(&mut buf, &Method::GET, 8192), Ok(None)));
            let mut buf = BytesMut::from(head.as_bytes());
            proptest::prop_assert!(matches!(parse_head(&mut buf, &Method::GET, 8192), Ok(Some(Parsed::Final(_)))));
            proptest::prop_assert!(buf.is_empty());
        }

        /// Any chunked body, with extensions and trailers, cut into reads of any size,
        /// decodes to its data.
        #[test]
        fn chunked_round_trip(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 1..300), 0..8),
            ext in proptest::prelude::any::<bool>(),
            trailer in proptest::prelude::any::<bool>(),
            step in 1usize..64,
        ) {
            let mut wire = Vec::new();
            for c in &chunks {
                wire.extend_from_slice(format!("{:x}", c.len()).as_bytes());
                if ext {
                    wire.extend_from_slice(b";name=value");
                }
                wire.extend_from_slice(b"\r\n");
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n");
            if trailer {
                wire.extend_from_slice(b"X-Checksum: 1\r\n");
            }
            wire.extend_from_slice(b"\r\n");
            let want: Vec<u8> = chunks.concat();
            proptest::prop_assert_eq!(decode_all(&wire, step), Ok(want));
        }

        /// Garbage never panics the decoder, and it never yields more bytes than it got.
        #[test]
        fn chunked_garbage_is_safe(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), step in 1usize..32) {
            if let Ok(out) = decode_all(&bytes, step) {
                proptest::prop_assert!(out.len() <= bytes.len());
            }
        }
    }
}
