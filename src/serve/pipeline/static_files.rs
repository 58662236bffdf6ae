//! IIS's StaticFileModule: safe path resolution, conditional GET, ranges and streaming.
//!
//! What IIS does and iisn reproduces (iis-webconfig.md §3.3, §8):
//!
//! * a file is served only when the effective `<staticContent>` MIME map has its extension
//!   (404.3 otherwise; decided in [`super::Pipeline::dispatch`]), with that `Content-Type`;
//! * `ETag` (IIS's form: the file time in hex, `:0`) and `Last-Modified`, answering
//!   `If-None-Match` / `If-Modified-Since` with 304 and a false `If-Match` /
//!   `If-Unmodified-Since` with 412, in RFC 9110 §13.2.2's order ([`precondition`]);
//!   `setEtag="false"` drops the ETag;
//! * `Accept-Ranges: bytes` and byte ranges (206, `Content-Range`; 416 with `bytes */len`
//!   when none is satisfiable; `If-Range` honoured). Several ranges get a
//!   `multipart/byteranges` body, as IIS's static file handler sends, each part with its
//!   `Content-Type` and `Content-Range`; ranges that cannot be satisfied are left out. More
//!   than [`MAX_RANGES`] ranges (a known denial-of-service pattern) get the whole file (200),
//!   which HTTP allows;
//! * `HEAD` gets the headers of `GET`;
//! * `<clientCache>`: `DisableCache` → `Cache-Control: no-cache`, `UseMaxAge` →
//!   `max-age=<seconds>`, `UseExpires` → `Expires`, with `cacheControlCustom` in front
//!   (`public,max-age=30`, as IIS writes it).
//!
//! Path resolution ([`resolve`]) must never leave the site: the URL is decoded once and
//! normalised before it gets here (`..` above the root is a 400), each segment is checked
//! again here (no `.`/`..`, backslash or NUL), names starting with a dot are never served
//! (`.git`, `.env`; `.well-known` excepted), and the real path (symbolic links followed) must
//! lie inside the canonical site root and pass request filtering again, so a link cannot
//! expose `/etc` or the site's own `web.config`.
//!
//! Files are streamed from a `tokio::fs::File` in 64 KiB frames; nothing is read whole.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncSeekExt, ReadBuf};

use crate::config::model::ClientCache;
use crate::config::web_config::CacheControlMode;
use crate::serve::pages::escape_html;
use crate::serve::proxy::{self, Body, BoxError};

use super::filtering::Filter;

/// Size of one body frame.
const CHUNK: usize = 64 * 1024;

/// Where a site path leads on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    File(PathBuf),
    Dir(PathBuf),
    /// Nothing there (404.0); the path iisn looked at.
    Missing(PathBuf),
    /// Something iisn will not serve (404.0), with the reason for the detailed page.
    Hidden(PathBuf, String),
}

/// Dot-names that are served like any other (RFC 8615's well-known URIs).
fn dot_name_allowed(seg: &str) -> bool {
    seg.eq_ignore_ascii_case(".well-known")
}

/// Maps a normalised site path (`/a/b.txt`) to a file or folder under `root` (which must be
/// canonical), refusing anything that would leave the site or expose hidden files.
pub fn resolve(root: &Path, site_path: &str, filter: &Filter) -> Resolved {
    let mut p = root.to_path_buf();
    for seg in site_path.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." || seg.contains(['\0', '\\']) {
            return Resolved::Hidden(
                p,
                "The URL contains a path segment iisn does not map to a file.".into(),
            );
        }
        p.push(seg);
        if seg.starts_with('.') && !dot_name_allowed(seg) {
            return Resolved::Hidden(
                p,
                "iisn never serves files or folders whose name starts with a dot (.git, .env, ...).".into(),
            );
        }
    }
    // Only normal components may remain (a segment like `C:` is not special off Windows,
    // but keep the check independent of the platform).
    if p.strip_prefix(root)
        .map(|rel| rel.components().any(|c| !matches!(c, Component::Normal(_))))
        .unwrap_or(true)
    {
        return Resolved::Hidden(p, "The URL does not map to a path inside the site.".into());
    }
    // As written, or else with its names as on disk in another case (NTFS ignores case:
    // `/Assets/Logo.png` is `/assets/logo.png` there).
    let real = match fs::canonicalize(&p)
        .or_else(|e| super::ci_path::on_disk_cached(root, &p).map_or(Err(e), fs::canonicalize))
    {
        Ok(r) => r,
        Err(_) => return Resolved::Missing(p),
    };
    if let Some(why) = refused_target(root, &real, filter) {
        // With no link on the way (the path is its own canonical form), only request
        // filtering can refuse it here: a default document named `web.config` or
        // `iisnode.yml`, whose folder URL passed filtering.
        let why = if real == p {
            "Request filtering hides this file or folder (a hidden segment or a denied file extension)."
        } else {
            why
        };
        return Resolved::Hidden(p, why.into());
    }
    match fs::metadata(&real) {
        Ok(m) if m.is_file() => Resolved::File(real),
        Ok(m) if m.is_dir() => Resolved::Dir(real),
        _ => Resolved::Missing(p),
    }
}

/// Why iisn will not serve `real` (the canonical path a URL led to, through any symbolic
/// links), if it will not: outside the site (`root`, canonical), a dot-name on the way, or a
/// location request filtering hides.
fn refused_target(root: &Path, real: &Path, filter: &Filter) -> Option<&'static str> {
    let Ok(rel) = real.strip_prefix(root) else {
        return Some(
            "The path leads outside the site through a symbolic link; iisn does not follow it.",
        );
    };
    let mut rel_url = String::new();
    for c in rel.components() {
        let name = c.as_os_str().to_string_lossy();
        if name.starts_with('.') && !dot_name_allowed(&name) {
            return Some("The path leads to a hidden file through a symbolic link.");
        }
        rel_url.push('/');
        rel_url.push_str(&name);
    }
    (!rel_url.is_empty() && !filter.allows(&rel_url)).then_some(
        "The path leads, through a symbolic link, to a location request filtering hides.",
    )
}

/// IIS's ETag: the file time (100 ns ticks since 1601) in hex, then `:0`.
pub fn etag_for(modified: SystemTime) -> String {
    const EPOCH_DIFF_SECS: u128 = 11_644_473_600;
    let ticks = match modified.duration_since(UNIX_EPOCH) {
        Ok(d) => {
            (d.as_secs() as u128 + EPOCH_DIFF_SECS) * 10_000_000 + (d.subsec_nanos() / 100) as u128
        }
        Err(_) => 0,
    };
    format!("\"{ticks:x}:0\"")
}

/// Most ranges one request may ask for before iisn sends the whole file instead.
pub const MAX_RANGES: usize = 64;

/// The byte range to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeSpec {
    /// The whole file (no `Range`, an invalid one, or too many ranges).
    Full,
    /// Inclusive byte offsets.
    Partial(u64, u64),
    /// Several satisfiable ranges, in the order asked: `multipart/byteranges`.
    Multi(Vec<(u64, u64)>),
    /// 416.
    Unsatisfiable,
}

/// Parses a `Range` header for a file of `len` bytes.
pub fn parse_range(value: &str, len: u64) -> RangeSpec {
    let v = value.trim();
    let Some(spec) = v
        .get(..6)
        .filter(|u| u.eq_ignore_ascii_case("bytes="))
        .map(|_| v[6..].trim())
    else {
        return RangeSpec::Full;
    };
    if !spec.contains(',') {
        return parse_one_range(spec, len);
    }
    let parts: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() > MAX_RANGES {
        return RangeSpec::Full;
    }
    let mut ranges = Vec::new();
    for p in parts {
        match parse_one_range(p, len) {
            // One invalid range makes the header invalid: it is ignored (RFC 9110 §14.2).
            RangeSpec::Full => return RangeSpec::Full,
            RangeSpec::Partial(a, b) => ranges.push((a, b)),
            RangeSpec::Unsatisfiable | RangeSpec::Multi(_) => {}
        }
    }
    match ranges.len() {
        0 => RangeSpec::Unsatisfiable,
        1 => RangeSpec::Partial(ranges[0].0, ranges[0].1),
        _ => RangeSpec::Multi(ranges),
    }
}

/// One `first-last`, `first-` or `-suffix` range.
fn parse_one_range(spec: &str, len: u64) -> RangeSpec {
    let Some((a, b)) = spec.split_once('-') else {
        return RangeSpec::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeSpec::Full;
        };
        if n == 0 || len == 0 {
            return RangeSpec::Unsatisfiable;
        }
        return RangeSpec::Partial(len.saturating_sub(n), len - 1);
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeSpec::Full;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(e) => e,
            Err(_) => return RangeSpec::Full,
        }
    };
    if end < start {
        return RangeSpec::Full;
    }
    if start >= len {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Partial(start, end.min(len - 1))
}

/// Reads the next chunk (at most [`CHUNK`] bytes, at most `remaining`) of a file being sent.
/// A file that ends before `remaining` is an error: the length was already promised.
fn poll_chunk(
    file: &mut tokio::fs::File,
    cx: &mut Context<'_>,
    remaining: u64,
) -> Poll<Result<Bytes, BoxError>> {
    let want = remaining.min(CHUNK as u64) as usize;
    let mut buf = vec![0u8; want];
    let mut rb = ReadBuf::new(&mut buf);
    match Pin::new(file).poll_read(cx, &mut rb) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Err(e)) => Poll::Ready(Err(Box::new(e))),
        Poll::Ready(Ok(())) => {
            let n = rb.filled().len();
            if n == 0 {
                return Poll::Ready(Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file became shorter while it was being sent",
                ))));
            }
            buf.truncate(n);
            Poll::Ready(Ok(Bytes::from(buf)))
        }
    }
}

/// A file body streamed in frames.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        poll_chunk(&mut this.file, cx, this.remaining).map(|read| {
            Some(read.map(|b| {
                this.remaining -= b.len() as u64;
                Frame::data(b)
            }))
        })
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// How to serve one file.
#[derive(Debug)]
pub struct FileRequest<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub cache: &'a ClientCache,
    pub mime: &'a str,
    /// An error status for a custom error page (no conditionals, no ranges).
    pub status: Option<StatusCode>,
}

/// Whether an `If-None-Match` list names `etag` (RFC 9110 §8.8.3.2: weak comparison, so
/// `W/"x"` matches `"x"`), or is `*`.
fn etag_matches(header_value: &str, etag: &str) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches("W/").to_string();
    header_value
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(etag))
}

/// Whether an `If-Match` list holds for the file: `*` matches any existing file, and an
/// entity tag matches only by strong comparison (RFC 9110 §13.1.1): neither tag weak, same
/// text. IIS's tags are strong (`"hex:0"`), so `W/"hex:0"` never matches; without an ETag
/// (`setEtag="false"`) only `*` does.
fn if_match_holds(header_value: &str, etag: Option<&str>) -> bool {
    header_value.split(',').map(str::trim).any(|t| {
        t == "*" || etag.is_some_and(|e| !t.starts_with("W/") && !e.starts_with("W/") && t == e)
    })
}

/// What the request's preconditions say about a static file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precondition {
    /// Serve the file (ranges and `If-Range` are looked at next).
    Proceed,
    /// 304: the client's copy is current.
    NotModified,
    /// 412: `If-Match` or `If-Unmodified-Since` is false.
    Failed,
}

/// The conditional headers of a GET or HEAD for a file with `etag` and `modified`, evaluated
/// in RFC 9110 §13.2.2's order, as IIS's static file handler does: `If-Match` (412 when
/// false), else `If-Unmodified-Since` (412 when the file changed after the date; ignored
/// with `If-Match`, or when the date does not parse), then `If-None-Match` (304 when it
/// matches), else `If-Modified-Since` (304 when the file has not changed since; ignored
/// when the date is later than the server's clock, as IIS does). `If-Range`
/// is the caller's, as it only decides whether a `Range` applies.
fn precondition(
    headers: &HeaderMap,
    etag: Option<&str>,
    modified: Option<SystemTime>,
) -> Precondition {
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    // HTTP dates have whole seconds; so does the comparison.
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let date = |name: header::HeaderName| {
        header(name).and_then(|v| httpdate::parse_http_date(v.trim()).ok())
    };
    if let Some(im) = header(header::IF_MATCH) {
        if !if_match_holds(im, etag) {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(m)) = (date(header::IF_UNMODIFIED_SINCE), modified)
        && secs(m) > secs(since)
    {
        return Precondition::Failed;
    }
    let not_modified = match (header(header::IF_NONE_MATCH), etag) {
        (Some(inm), Some(tag)) => etag_matches(inm, tag),
        (Some(_), None) => false,
        // A date later than the server's clock is no date (RFC 2616 §14.25): IIS answers
        // 200 to a far-future If-Modified-Since.
        (None, _) => match (date(header::IF_MODIFIED_SINCE), modified) {
            (Some(since), Some(m)) => {
                secs(m) <= secs(since) && secs(since) <= secs(SystemTime::now())
            }
            _ => false,
        },
    };
    if not_modified {
        Precondition::NotModified
    } else {
        Precondition::Proceed
    }
}

fn client_cache_headers(h: &mut HeaderMap, cache: &ClientCache) {
    if cache.mode == CacheControlMode::UseExpires
        && let Some(v) = cache
            .http_expires
            .as_deref()
            .and_then(|e| HeaderValue::from_str(e.trim()).ok())
    {
        h.insert(header::EXPIRES, v);
    }
    if let Some(v) = cache_control(cache).and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::CACHE_CONTROL, v);
    }
}

/// `<clientCache>`'s `Cache-Control`, as IIS writes it: `cacheControlCustom` first, then
/// the mode's directive (`no-cache`, `max-age=<seconds>`), joined by a comma without a
/// space (`public,max-age=30`); the custom text alone under `NoControl` and `UseExpires`.
fn cache_control(cache: &ClientCache) -> Option<String> {
    let custom = cache
        .custom
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let mode = match cache.mode {
        CacheControlMode::DisableCache => Some("no-cache".to_string()),
        CacheControlMode::UseMaxAge => Some(format!("max-age={}", cache.max_age_secs)),
        CacheControlMode::NoControl | CacheControlMode::UseExpires => None,
    };
    match (custom, mode) {
        (Some(c), Some(m)) => Some(format!("{c},{m}")),
        (Some(c), None) => Some(c.to_string()),
        (None, m) => m,
    }
}

fn simple(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(proxy::empty());
    *r.status_mut() = status;
    r
}

/// Serves `path` (already resolved and MIME-checked).
pub async fn serve_file(path: &Path, r: FileRequest<'_>) -> Response<Body> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(_) => return simple(StatusCode::NOT_FOUND),
    };
    let meta = match file.metadata().await {
        Ok(m) if m.is_file() => m,
        _ => return simple(StatusCode::NOT_FOUND),
    };
    let len = meta.len();
    let modified = meta.modified().ok();
    let etag = modified.filter(|_| r.cache.set_etag).map(etag_for);
    let last_modified = modified.map(httpdate::fmt_http_date);

    let mut resp = Response::new(proxy::empty());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(r.mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = last_modified
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Some(v) = etag.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    client_cache_headers(h, r.cache);

    let mut status = r.status.unwrap_or(StatusCode::OK);
    let mut range = RangeSpec::Full;
    if r.status.is_none() {
        let header = |name: header::HeaderName| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match precondition(r.headers, etag.as_deref(), modified) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                *resp.status_mut() = StatusCode::NOT_MODIFIED;
                resp.headers_mut().remove(header::CONTENT_TYPE);
                return resp;
            }
            Precondition::Failed => {
                *resp.status_mut() = StatusCode::PRECONDITION_FAILED;
                let h = resp.headers_mut();
                h.remove(header::CONTENT_TYPE);
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
                return resp;
            }
        }
        if *r.method == Method::GET
            && let Some(rv) = header(header::RANGE)
        {
            let if_range_ok = match header(header::IF_RANGE) {
                None => true,
                Some(ir)
                    if ir.trim_start().starts_with('"') || ir.trim_start().starts_with("W/") =>
                {
                    etag.as_deref().is_some_and(|t| ir.trim() == t)
                }
                Some(ir) => last_modified.as_deref().is_some_and(|lm| ir.trim() == lm),
            };
            if if_range_ok {
                range = parse_range(&rv, len);
            }
        }
    }
    let (start, count) = match range {
        RangeSpec::Multi(ranges) => {
            return multipart_ranges(resp, file, &ranges, len, r.mime, r.method);
        }
        RangeSpec::Full => (0, len),
        RangeSpec::Partial(a, b) => {
            status = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            (a, b - a + 1)
        }
        RangeSpec::Unsatisfiable => {
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            // IIS's reason phrase (RFC 2616's), not RFC 9110's "Range Not Satisfiable".
            resp.extensions_mut()
                .insert(hyper::ext::ReasonPhrase::from_static(
                    b"Requested Range Not Satisfiable",
                ));
            let h = resp.headers_mut();
            h.remove(header::CONTENT_TYPE);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            return resp;
        }
    };
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if *r.method == Method::HEAD || count == 0 {
        return resp;
    }
    if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return simple(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let (parts, _) = resp.into_parts();
    Response::from_parts(
        parts,
        FileBody {
            file,
            remaining: count,
        }
        .boxed(),
    )
}

/// A boundary for one multipart response: unlikely to occur in the file (it only has to be
/// unique within the body; clients read it from the header).
fn boundary(len: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("iisn_byteranges_{len:x}_{nanos:08x}")
}

/// 206 with a `multipart/byteranges` body: each range with its own headers, streamed from
/// the file (nothing is read whole).
fn multipart_ranges(
    resp: Response<Body>,
    file: tokio::fs::File,
    ranges: &[(u64, u64)],
    len: u64,
    mime: &str,
    method: &Method,
) -> Response<Body> {
    let b = boundary(len);
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut total = 0u64;
    for (i, &(a, z)) in ranges.iter().enumerate() {
        let head = format!(
            "{}--{b}\r\nContent-Type: {mime}\r\nContent-Range: bytes {a}-{z}/{len}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" }
        );
        total += head.len() as u64 + (z - a + 1);
        segments.push(Segment::Bytes(Bytes::from(head)));
        segments.push(Segment::Range {
            start: a,
            remaining: z - a + 1,
            seek: Seek::NotStarted,
        });
    }
    let tail = format!("\r\n--{b}--\r\n");
    total += tail.len() as u64;
    segments.push(Segment::Bytes(Bytes::from(tail)));

    let (mut parts, _) = resp.into_parts();
    parts.status = StatusCode::PARTIAL_CONTENT;
    if let Ok(v) = HeaderValue::from_str(&format!("multipart/byteranges; boundary={b}")) {
        parts.headers.insert(header::CONTENT_TYPE, v);
    }
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    if *method == Method::HEAD {
        return Response::from_parts(parts, proxy::empty());
    }
    segments.reverse();
    Response::from_parts(
        parts,
        MultiBody {
            file,
            segments,
            remaining: total,
        }
        .boxed(),
    )
}

enum Segment {
    Bytes(Bytes),
    Range {
        start: u64,
        remaining: u64,
        seek: Seek,
    },
}

/// Where a range is in moving the file position to its start.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seek {
    NotStarted,
    InProgress,
    Done,
}

/// The body of a multipart range response: part headers and file ranges, in order.
struct MultiBody {
    file: tokio::fs::File,
    /// Still to send, last first.
    segments: Vec<Segment>,
    remaining: u64,
}

impl hyper::body::Body for MultiBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        use tokio::io::AsyncSeek;
        let this = &mut *self;
        loop {
            let Some(seg) = this.segments.last_mut() else {
                return Poll::Ready(None);
            };
            match seg {
                Segment::Bytes(b) => {
                    let b = std::mem::take(b);
                    this.segments.pop();
                    this.remaining = this.remaining.saturating_sub(b.len() as u64);
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                Segment::Range {
                    start,
                    remaining,
                    seek,
                } => {
                    if *remaining == 0 {
                        this.segments.pop();
                        continue;
                    }
                    if *seek == Seek::NotStarted {
                        if let Err(e) =
                            Pin::new(&mut this.file).start_seek(std::io::SeekFrom::Start(*start))
                        {
                            return Poll::Ready(Some(Err(Box::new(e))));
                        }
                        *seek = Seek::InProgress;
                    }
                    if *seek == Seek::InProgress {
                        match Pin::new(&mut this.file).poll_complete(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(Box::new(e)))),
                            Poll::Ready(Ok(_)) => *seek = Seek::Done,
                        }
                    }
                    return poll_chunk(&mut this.file, cx, *remaining).map(|read| {
                        Some(read.map(|b| {
                            *remaining -= b.len() as u64;
                            this.remaining = this.remaining.saturating_sub(b.len() as u64);
                            Frame::data(b)
                        }))
                    });
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.segments.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// IIS's directory listing (`directoryBrowse enabled="true"`), without hidden entries, nor
/// symbolic links that lead out of the site (`root`, canonical) or to what it hides, which
/// [`resolve`] would refuse to serve. `url` is the folder's public URL (for links),
/// `site_path` its site path (for filtering).
pub async fn listing(
    dir: &Path,
    url: &str,
    (site_path, root): (&str, &Path),
    filter: &Filter,
    host: &str,
) -> Response<Body> {
    let mut entries: Vec<(String, bool, Option<SystemTime>, u64)> = Vec::new();
    if let Ok(mut rd) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && !dot_name_allowed(&name) {
                continue;
            }
            let child = format!("{}/{name}", site_path.trim_end_matches('/'));
            if !filter.allows(&child) {
                continue;
            }
            let Ok(mut m) = e.metadata().await else {
                continue;
            };
            if m.is_symlink() {
                // Listed only if it would be served ([`resolve`]), with its target's size.
                let Ok(real) = tokio::fs::canonicalize(e.path()).await else {
                    continue;
                };
                if refused_target(root, &real, filter).is_some() {
                    continue;
                }
                let Ok(target) = tokio::fs::metadata(&real).await else {
                    continue;
                };
                m = target;
            }
            entries.push((name, m.is_dir(), m.modified().ok(), m.len()));
        }
    }
    entries.sort_by_key(|e| e.0.to_lowercase());
    let title = format!("{} - {}", escape_html(host), escape_html(url));
    let mut body =
        format!("<html><head><title>{title}</title></head><body><H1>{title}</H1><hr>\n\n<pre>");
    if url.trim_end_matches('/').contains('/') {
        let parent = url.trim_end_matches('/');
        let parent = &parent[..parent.rfind('/').map_or(0, |i| i + 1)];
        let parent: String = parent
            .split('/')
            .map(percent_encode_segment)
            .collect::<Vec<_>>()
            .join("/");
        body.push_str(&format!(
            "<A HREF=\"{}\">[To Parent Directory]</A><br><br>",
            escape_html(&parent)
        ));
    }
    for (name, is_dir, modified, size) in entries {
        let (date, time) = modified.map(listing_date).unwrap_or_default();
        // Padded as text, then escaped: `        &lt;dir&gt;` lines up with the sizes.
        let size = if is_dir {
            format!("{:>12}", "<dir>")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        } else {
            format!("{size:>12}")
        };
        let href = format!(
            "{}/{}{}",
            url.trim_end_matches('/'),
            percent_encode_segment(&name),
            if is_dir { "/" } else { "" }
        );
        body.push_str(&format!(
            "{date:>10} {time:>8} {size} <A HREF=\"{}\">{}</A><br>",
            escape_html(&href),
            escape_html(&name)
        ));
    }
    body.push_str("</pre><hr></body></html>");
    let mut r = Response::new(proxy::full(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// A listing's date and time as IIS writes them (`12/4/2026`, `4:58 PM`: month/day/year, a
/// 12-hour clock), in UTC (IIS uses the server's time zone).
fn listing_date(t: SystemTime) -> (String, String) {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let (year, month, day, h, m, ..) = crate::serve::logs::civil_utc(ms);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    (
        format!("{month}/{day}/{year}"),
        format!("{h12}:{m:02} {ampm}"),
    )
}

/// Percent-encodes a path segment for a link.
pub fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What IIS's StaticFile handler names in the `Allow` header of its 405.
pub const STATIC_ALLOW: &str = "GET, HEAD, OPTIONS, TRACE";

/// The StaticFile handler's 405 says which methods it takes, as HTTP requires of a 405
/// (RFC 9110 §15.5.6), in IIS's words: `Allow: GET, HEAD, OPTIONS, TRACE` (the verbs the
/// StaticFile handler and the stock OPTIONS and TRACE handlers answer; that is what IIS
/// sends for a POST, DELETE or PATCH to a static file).
pub fn allow_header<B>(resp: &mut http::Response<B>, status: u16, module: &str) {
    if status == 405 && module == "StaticFileModule" {
        resp.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_static(STATIC_ALLOW),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_dates_as_iis_writes_them() {
        let at = |s: u64| {
            let (d, t) = listing_date(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
            format!("{d:>10} {t:>8}")
        };
        assert_eq!(at(0), "  1/1/1970 12:00 AM");
        // 2026-12-04 16:58 UTC
        assert_eq!(at(1_796_403_480), " 12/4/2026  4:58 PM");
        // 2024-02-29 12:05 UTC
        assert_eq!(at(1_709_208_300), " 2/29/2024 12:05 PM");
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::Partial(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::Partial(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::Partial(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), RangeSpec::Partial(0, 99));
        assert_eq!(
            parse_range("bytes=50-1000", 100),
            RangeSpec::Partial(50, 99)
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeSpec::Unsatisfiable);
        assert_eq!(
            parse_range("bytes=0-1,5-6", 100),
            RangeSpec::Multi(vec![(0, 1), (5, 6)])
        );
        assert_eq!(
            parse_range("bytes=0-1, 500-600", 100),
            RangeSpec::Partial(0, 1)
        );
        assert_eq!(
            parse_range("bytes=200-300,500-", 100),
            RangeSpec::Unsatisfiable
        );
        assert_eq!(parse_range("bytes=0-1,x", 100), RangeSpec::Full);
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(parse_range(&many, 100), RangeSpec::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=5-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("bytes=x-1", 100), RangeSpec::Full);
        assert_eq!(parse_range("BYTES=0-0", 1), RangeSpec::Partial(0, 0));
        assert_eq!(parse_range("bytes=0-", 0), RangeSpec::Unsatisfiable);
    }

    /// Regression: `cacheControlCustom` came after `max-age`; IIS 10 writes it first
    /// (`public,max-age=30`), and sends it alone when the mode adds no directive.
    #[test]
    fn cache_control_as_iis_writes_it() {
        let cc = |mode, custom: Option<&str>| {
            cache_control(&ClientCache {
                mode,
                max_age_secs: 30,
                custom: custom.map(str::to_string),
                ..ClientCache::default()
            })
        };
        use CacheControlMode::*;
        assert_eq!(cc(UseMaxAge, None).as_deref(), Some("max-age=30"));
        assert_eq!(
            cc(UseMaxAge, Some(" public ")).as_deref(),
            Some("public,max-age=30")
        );
        assert_eq!(
            cc(DisableCache, Some("private")).as_deref(),
            Some("private,no-cache")
        );
        assert_eq!(cc(DisableCache, None).as_deref(), Some("no-cache"));
        assert_eq!(
            cc(NoControl, Some("public, must-revalidate")).as_deref(),
            Some("public, must-revalidate")
        );
        assert_eq!(cc(UseExpires, Some("public")).as_deref(), Some("public"));
        assert_eq!(cc(NoControl, Some("  ")), None);
        assert_eq!(cc(UseExpires, None), None);
    }

    #[test]
    fn etags_look_like_iis() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(etag_for(t), "\"1da1747c66d0000:0\"");
        assert!(etag_matches("W/\"1:0\", \"2:0\"", "\"2:0\""));
        assert!(etag_matches("*", "\"2:0\""));
        assert!(!etag_matches("\"3:0\"", "\"2:0\""));
    }

    fn conditional(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    /// Regression: If-Match and If-Unmodified-Since were ignored on static files (IIS
    /// answers 412); the order is RFC 9110 §13.2.2's.
    #[test]
    fn preconditions_in_rfc_9110_order() {
        use Precondition::{Failed, NotModified, Proceed};
        let m = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let tag = etag_for(m);
        let before = httpdate::fmt_http_date(m - std::time::Duration::from_secs(60));
        let at = httpdate::fmt_http_date(m);
        let pc = |pairs: &[(&str, &str)]| precondition(&conditional(pairs), Some(&tag), Some(m));
        assert_eq!(pc(&[]), Proceed);
        // If-Match: strong comparison, `*` matches any existing file.
        assert_eq!(pc(&[("if-match", &tag)]), Proceed);
        assert_eq!(pc(&[("if-match", &format!("\"x:0\", {tag}"))]), Proceed);
        assert_eq!(pc(&[("if-match", "*")]), Proceed);
        assert_eq!(pc(&[("if-match", "\"x:0\"")]), Failed);
        assert_eq!(pc(&[("if-match", &format!("W/{tag}"))]), Failed);
        assert_eq!(
            precondition(&conditional(&[("if-match", "*")]), None, Some(m)),
            Proceed
        );
        assert_eq!(
            precondition(&conditional(&[("if-match", &tag)]), None, Some(m)),
            Failed,
            "without an ETag (setEtag=false) only * matches"
        );
        // If-Unmodified-Since: only without If-Match; whole seconds.
        assert_eq!(pc(&[("if-unmodified-since", &before)]), Failed);
        assert_eq!(pc(&[("if-unmodified-since", &at)]), Proceed);
        assert_eq!(pc(&[("if-unmodified-since", "not a date")]), Proceed);
        assert_eq!(
            pc(&[("if-match", "*"), ("if-unmodified-since", &before)]),
            Proceed,
            "If-Unmodified-Since is ignored when If-Match is present"
        );
        // 412 comes before 304.
        assert_eq!(
            pc(&[("if-match", "\"x:0\""), ("if-none-match", &tag)]),
            Failed
        );
        assert_eq!(
            pc(&[("if-unmodified-since", &before), ("if-modified-since", &at)]),
            Failed
        );
        // Then If-None-Match (weak comparison), else If-Modified-Since.
        assert_eq!(
            pc(&[("if-match", &tag), ("if-none-match", &tag)]),
            NotModified
        );
        assert_eq!(pc(&[("if-none-match", &format!("W/{tag}"))]), NotModified);
        assert_eq!(
            pc(&[("if-none-match", "\"x:0\""), ("if-modified-since", &at)]),
            Proceed,
            "If-Modified-Since is ignored when If-None-Match is present"
        );
        assert_eq!(pc(&[("if-modified-since", &at)]), NotModified);
        assert_eq!(pc(&[("if-modified-since", &before)]), Proceed);
        // Regression: a date in the future answered 304; IIS ignores it (200).
        let future = httpdate::fmt_http_date(
            SystemTime::now() + std::time::Duration::from_secs(86_400 * 365),
        );
        assert_eq!(pc(&[("if-modified-since", &future)]), Proceed);
    }

    proptest::proptest! {
        #[test]
        fn ranges_never_panic(v in ".{0,24}", len in 0u64..1000) {
            if let RangeSpec::Partial(a, b) = parse_range(&v, len) {
                proptest::prop_assert!(a <= b && b < len);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn ranges_stay_inside_the_file(value in "(bytes=)?[0-9, -]{0,40}", len in 0u64..1000) {
            match parse_range(&value, len) {
                RangeSpec::Partial(a, b) => proptest::prop_assert!(a <= b && b < len),
                RangeSpec::Multi(r) => {
                    proptest::prop_assert!(r.len() >= 2 && r.len() <= MAX_RANGES);
                    for (a, b) in r {
                        proptest::prop_assert!(a <= b && b < len);
                    }
                }
                RangeSpec::Full | RangeSpec::Unsatisfiable => {}
            }
        }
    }
}
