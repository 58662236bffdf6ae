//! What HTTP.sys, the kernel driver in front of IIS, refuses before IIS sees a request.
//!
//! On Windows every request reaches IIS (and iisnode, and node) through HTTP.sys, which
//! answers some requests itself with its own short HTML page, `Server: Microsoft-HTTPAPI/2.0`
//! and a closed connection. iisn answers the same requests the same way, so that what breaks
//! behind IIS breaks here (KB 820129 for the limits; RFC 9112 §3.2 for Host):
//!
//! * a request head larger than `MaxRequestBytes` (16,384 bytes: the request line and all
//!   headers) → 400 "Request Header Too Long"; one header line longer than `MaxFieldLength`
//!   (16,384 bytes) → 400 "Header Field Too Long". Both are HTTP.sys's defaults, which a
//!   server can raise in the registry: a site that needs more fails on a stock server;
//! * an HTTP/1.1 request without a Host header, with more than one, or with one that is
//!   not a valid host (and port) → 400 "Invalid Hostname";
//! * a request target over 16 KiB → 414 "Request URL Too Long" (observed on IIS 10);
//! * a POST or PUT that says nothing of its body's length (no `Content-Length`, not chunked)
//!   → 411 "Length Required" (observed on IIS 10: `curl -X POST` without data never reaches
//!   IIS);
//! * a request target that is neither a path (`/…`), `*`, nor an absolute URL, or a path
//!   with a segment (between slashes) longer than `UrlSegmentMaxLength` (260 characters,
//!   decoded) → 400 "Invalid URL". An absolute URL (`GET http://host/path`) is accepted, and IIS and node see only
//!   its path and query (iisnode forwards HTTP.sys's cooked absolute path), as they would
//!   for the same request in origin form.
//!
//! Simple requests (iisn's own parser, [`super::downstream`]) are checked where they are
//! parsed, at no cost: any head over the limit, without exactly one Host header, or with an
//! invalid one goes to hyper, whose requests all pass through [`check`].

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version, header};

use super::proxy::Body;

/// HTTP.sys's `MaxRequestBytes` default: the request line plus all header lines.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// HTTP.sys's `MaxFieldLength` default: one header line.
pub const MAX_FIELD_LENGTH: usize = 16 * 1024;
/// The longest request target HTTP.sys takes, in bytes: a longer one is its 414 (observed on
/// IIS 10: a 20,000-byte URL is 414 "Request-URI Too Long" from HTTP.sys, not the 400 of a
/// head over `MaxRequestBytes`).
pub const MAX_URL_BYTES: usize = 16 * 1024;
/// HTTP.sys's `UrlSegmentMaxLength` default: the characters of one path segment (between
/// slashes), decoded.
pub const URL_SEGMENT_MAX_LENGTH: usize = 260;

/// Whether a raw path may hold a segment over [`URL_SEGMENT_MAX_LENGTH`]: a cheap test on
/// the raw bytes (a decoded segment is never longer than its raw form), false for nearly
/// every request; [`check`] decides exactly.
pub fn may_have_long_segment(raw_path: &str) -> bool {
    raw_path.len() > URL_SEGMENT_MAX_LENGTH
        && raw_path
            .split('/')
            .any(|seg| seg.len() > URL_SEGMENT_MAX_LENGTH)
}

/// Whether a path has a segment longer than HTTP.sys allows, counted in characters after
/// percent-decoding.
fn has_long_segment(raw_path: &str) -> bool {
    may_have_long_segment(raw_path)
        && raw_path.split('/').any(|seg| {
            seg.len() > URL_SEGMENT_MAX_LENGTH && decoded_chars(seg) > URL_SEGMENT_MAX_LENGTH
        })
}

/// The characters of a raw segment once decoded as the rest of the pipeline decodes it
/// (`%XX` and HTTP.sys's `%uNNNN`, one character each); a segment that does not decode
/// (HTTP.sys's 400 later) is counted leniently, keeping a stray `%` as written.
fn decoded_chars(seg: &str) -> usize {
    super::router::percent_decode(seg).map_or_else(
        || super::router::percent_decode_lossy(seg).chars().count(),
        |s| s.chars().count(),
    )
}

/// Whether a Host header value is one HTTP.sys accepts: a host name, IPv4 address or
/// bracketed IPv6 address, with an optional port.
pub fn valid_host(v: &[u8]) -> bool {
    if v.is_empty() || v.len() > 255 {
        return false;
    }
    let (host, port) = if v[0] == b'[' {
        let Some(end) = v.iter().position(|&b| b == b']') else {
            return false;
        };
        let inside = &v[1..end];
        if inside.is_empty()
            || !inside
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match &v[end + 1..] {
            [] => return true,
            [b':', port @ ..] => (&v[..=end], port),
            _ => return false,
        }
    } else {
        match v.iter().rposition(|&b| b == b':') {
            Some(i) => (&v[..i], &v[i + 1..]),
            None => (v, &[][..]),
        }
    };
    let host_ok = v[0] == b'['
        || (!host.is_empty()
            && host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    let port_ok = port.len() <= 5 && port.iter().all(u8::is_ascii_digit);
    host_ok && port_ok
}

/// The HTTP.sys refusal for a request iisn's own parser did not take, if HTTP.sys would
/// refuse it; an absolute-form target becomes its path and query.
pub fn check<B>(req: &mut Request<B>) -> Option<Response<Body>> {
    if let Some(r) = check_target(req) {
        return Some(r);
    }
    if let Some(r) = check_size(req.method().as_str(), req.uri(), req.headers()) {
        return Some(r);
    }
    if let Some(r) = check_host(req.version(), req.headers()) {
        return Some(r);
    }
    check_length(req.method(), req.version(), req.headers())
}

/// A POST or PUT must say how long its body is (`Content-Length`, or chunked on HTTP/1.1):
/// HTTP.sys answers 411 before IIS runs (observed on IIS 10: "a bodiless `POST` never reaches
/// IIS", so `curl -X POST` without data fails there). Other methods may leave it out.
fn check_length(
    method: &http::Method,
    version: Version,
    headers: &HeaderMap,
) -> Option<Response<Body>> {
    if !(method == http::Method::POST || method == http::Method::PUT)
        || headers.contains_key(header::CONTENT_LENGTH)
    {
        return None;
    }
    let chunked = version == Version::HTTP_11
        && headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back()
            .is_some_and(super::downstream::is_chunked_last);
    (!chunked).then(|| {
        page(
            StatusCode::LENGTH_REQUIRED,
            "Length Required",
            "Length Required",
            "The request must be chunked or have a content length.",
        )
    })
}

fn check_target<B>(req: &mut Request<B>) -> Option<Response<Body>> {
    let uri = req.uri();
    if uri.scheme().is_some() {
        // Absolute form: IIS works with the path and query (HTTP.sys's cooked URL).
        let path = match uri.path() {
            "" => "/",
            p => p,
        };
        let origin = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        if let Some(authority) = uri.authority().map(|a| a.as_str().to_string())
            && !req.headers().contains_key(header::HOST)
            && let Ok(v) = HeaderValue::from_str(&authority)
        {
            req.headers_mut().insert(header::HOST, v);
        }
        match origin.parse::<Uri>() {
            Ok(u) => *req.uri_mut() = u,
            Err(_) => return Some(refusal("Invalid URL", "The request URL is invalid.")),
        }
        return None;
    }
    let path = uri.path();
    // `*` is OPTIONS's target only (RFC 9112 §3.2.4).
    let asterisk = path == "*" && req.method() == http::Method::OPTIONS;
    if uri.authority().is_some() || !(path.starts_with('/') || asterisk) || has_long_segment(path) {
        return Some(refusal("Invalid URL", "The request URL is invalid."));
    }
    None
}

fn check_size(method: &str, uri: &Uri, headers: &HeaderMap) -> Option<Response<Body>> {
    // `METHOD SP target SP HTTP/1.1 CRLF`
    let target = uri.path_and_query().map_or(1, |p| p.as_str().len());
    if target > MAX_URL_BYTES {
        return Some(page(
            StatusCode::URI_TOO_LONG,
            "Request URL Too Long",
            "Request URL Too Long",
            "The request URL is too long.",
        ));
    }
    let mut total = method.len() + target + 12;
    for (name, value) in headers {
        let line = name.as_str().len() + 2 + value.len() + 2;
        if line > MAX_FIELD_LENGTH {
            return Some(refusal(
                "Header Field Too Long",
                "A request header field is too long.",
            ));
        }
        total += line;
    }
    (total > MAX_REQUEST_BYTES).then(|| {
        refusal(
            "Request Header Too Long",
            "The size of the request headers is too long.",
        )
    })
}

fn check_host(version: Version, headers: &HeaderMap) -> Option<Response<Body>> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let bad = match (hosts.next(), hosts.next()) {
        (None, _) => version == Version::HTTP_11,
        (Some(h), None) => !valid_host(h.as_bytes()),
        (Some(_), Some(_)) => true,
    };
    bad.then(|| refusal("Invalid Hostname", "The request hostname is invalid."))
}

/// HTTP.sys's own 400 page (its HTML, word for word in shape), with the connection closed.
pub fn refusal(title: &str, message: &str) -> Response<Body> {
    page(
        StatusCode::BAD_REQUEST,
        "Bad Request",
        &format!("Bad Request - {title}"),
        message,
    )
}

/// One of HTTP.sys's own error pages: `title` in `<TITLE>`, `heading` in `<h2>`, then
/// "HTTP Error <status>. <message>", with the connection closed.
fn page(status: StatusCode, title: &str, heading: &str, message: &str) -> Response<Body> {
    let code = status.as_u16();
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n\
         <HTML><HEAD><TITLE>{title}</TITLE>\r\n\
         <META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n\
         <BODY><h2>{heading}</h2>\r\n\
         <hr><p>HTTP Error {code}. {message}</p>\r\n\
         </BODY></HTML>\r\n"
    );
    let mut r = Response::new(super::proxy::full(bytes::Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=us-ascii"),
    );
    h.insert(
        header::SERVER,
        HeaderValue::from_static("Microsoft-HTTPAPI/2.0"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any Host value: never a panic, and what passes is a host and an optional port.
        #[test]
        fn any_host_is_safe(v in proptest::collection::vec(any::<u8>(), 0..80)) {
            if valid_host(&v) {
                prop_assert!(!v.is_empty() && v.is_ascii());
                prop_assert!(!v.iter().any(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'@'));
            }
        }

        /// Any target and headers: never a panic; an accepted target is a path (or OPTIONS *).
        #[test]
        fn any_request_is_checked_safely(
            target in "[ -~]{0,40}",
            host in proptest::option::of("[ -~]{0,20}"),
            extra in 0usize..20_000,
        ) {
            let Ok(uri) = target.parse::<Uri>() else { return Ok(()) };
            let mut b = Request::builder().uri(uri);
            if let Some(h) = &host {
                b = b.header(header::HOST, h.as_str());
            }
            let Ok(mut r) = b.header("x-pad", "p".repeat(extra)).body(()) else {
                return Ok(());
            };
            if check(&mut r).is_none() {
                let p = r.uri().path();
                prop_assert!(p.starts_with('/'), "{p}");
                prop_assert!(r.uri().scheme().is_none());
            }
        }
    }

    fn req(target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri(target);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn hosts() {
        for ok in [
            "localhost",
            "localhost:8080",
            "example.com",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "my_host",
        ] {
            assert!(valid_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a:b",
            "[::1",
            "[zz]",
            "a/b",
            "host:123456",
            "a@b",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn refusals() {
        let status = |r: &mut Request<()>| check(r).map(|x| x.status().as_u16());
        assert_eq!(status(&mut req("/a", &[("host", "x")])), None);
        assert_eq!(status(&mut req("/a", &[])), Some(400));
        assert_eq!(
            status(&mut req("/a", &[("host", "x"), ("host", "y")])),
            Some(400)
        );
        assert_eq!(status(&mut req("/a", &[("host", "a b")])), Some(400));
        let big = "b".repeat(MAX_FIELD_LENGTH);
        assert_eq!(
            status(&mut req("/a", &[("host", "x"), ("x-big", &big)])),
            Some(400)
        );
        let half = "b".repeat(MAX_FIELD_LENGTH / 2);
        assert_eq!(
            status(&mut req(
                "/a",
                &[("host", "x"), ("x-1", &half), ("x-2", &half)]
            )),
            Some(400)
        );
        assert_eq!(
            status(&mut req("/a", &[("host", "x"), ("x-1", &half)])),
            None
        );
        // HTTP/1.0 needs no Host.
        let mut r10 = req("/a", &[]);
        *r10.version_mut() = Version::HTTP_10;
        assert_eq!(status(&mut r10), None);
        // UrlSegmentMaxLength: 260 characters per segment, decoded; the query is no segment.
        let seg = |n: usize| "a".repeat(n);
        let host = [("host", "x")];
        assert_eq!(status(&mut req(&format!("/{}/b", seg(260)), &host)), None);
        assert_eq!(
            status(&mut req(&format!("/{}/b", seg(261)), &host)),
            Some(400)
        );
        assert_eq!(status(&mut req(&format!("/b?q={}", seg(400)), &host)), None);
        // 200 two-byte characters: 600 bytes raw, 200 characters.
        let wide = "%C3%A9".repeat(200);
        assert_eq!(status(&mut req(&format!("/{wide}"), &host)), None);
        assert!(may_have_long_segment(&format!("/{wide}")));
        // Regression: `%uNNNN` (which HTTP.sys decodes, PercentUAllowed) is one character,
        // not six: 200 of them (1,200 bytes raw) are a 200-character segment.
        let wide_u = "%u00E9".repeat(200);
        assert_eq!(status(&mut req(&format!("/{wide_u}"), &host)), None);
        let too_wide_u = "%u00E9".repeat(261);
        assert_eq!(
            status(&mut req(&format!("/{too_wide_u}"), &host)),
            Some(400)
        );
        assert!(!may_have_long_segment(&format!(
            "/{}/{}",
            seg(200),
            seg(200)
        )));
    }

    /// Regression (observed on IIS 10, MH21/MH43, RL14): a POST or PUT without a length is
    /// HTTP.sys's 411, and a target over 16 KiB its 414; iisn passed the first to node and
    /// answered the second with the 400 of an oversized head.
    #[test]
    fn length_required_and_url_too_long() {
        let answer = |method: &str, version: Version, headers: &[(&str, &str)]| {
            let mut r = req("/server.js", headers);
            *r.method_mut() = http::Method::from_bytes(method.as_bytes()).expect("method");
            *r.version_mut() = version;
            check(&mut r).map(|x| x.status().as_u16())
        };
        let v11 = Version::HTTP_11;
        assert_eq!(answer("POST", v11, &[("host", "x")]), Some(411));
        assert_eq!(answer("PUT", v11, &[("host", "x")]), Some(411));
        assert_eq!(
            answer("POST", v11, &[("host", "x"), ("content-length", "0")]),
            None
        );
        assert_eq!(
            answer(
                "PUT",
                v11,
                &[("host", "x"), ("transfer-encoding", "chunked")]
            ),
            None
        );
        assert_eq!(
            answer(
                "POST",
                Version::HTTP_10,
                &[("transfer-encoding", "chunked")]
            ),
            Some(411),
            "HTTP/1.0 has no chunked bodies"
        );
        for method in ["GET", "DELETE", "OPTIONS", "PATCH"] {
            assert_eq!(answer(method, v11, &[("host", "x")]), None, "{method}");
        }
        let mut r = req("/server.js", &[("host", "x")]);
        *r.method_mut() = http::Method::POST;
        let page = check(&mut r).expect("refused");
        assert_eq!(page.headers()[header::SERVER], "Microsoft-HTTPAPI/2.0");
        assert_eq!(page.headers()[header::CONNECTION], "close");

        let host = [("host", "x")];
        let url = |n: usize| format!("/{}", "a/".repeat(n / 2));
        assert_eq!(
            check(&mut req(&url(16_000), &host)).map(|x| x.status().as_u16()),
            None
        );
        assert_eq!(
            check(&mut req(&url(20_000), &host)).map(|x| x.status().as_u16()),
            Some(414)
        );
    }

    #[test]
    fn an_absolute_target_becomes_its_path() {
        let mut r = req("http://other.example:99/server.js?x=1", &[]);
        assert!(check(&mut r).is_none());
        assert_eq!(r.uri().to_string(), "/server.js?x=1");
        assert_eq!(r.headers()[header::HOST], "other.example:99");
        let mut r = req("http://other.example", &[("host", "h")]);
        assert!(check(&mut r).is_none());
        assert_eq!(r.uri().to_string(), "/");
        assert_eq!(r.headers()[header::HOST], "h");
        let mut r = req("http://other.example?x=1", &[("host", "h")]);
        assert!(check(&mut r).is_none());
        assert_eq!(r.uri().to_string(), "/?x=1");
        // `*` is for OPTIONS only.
        let mut r = req("*", &[("host", "h")]);
        assert_eq!(check(&mut r).map(|x| x.status().as_u16()), Some(400));
        let mut r = req("*", &[("host", "h")]);
        *r.method_mut() = http::Method::OPTIONS;
        assert!(check(&mut r).is_none());
        // Authority form (no path) outside CONNECT.
        let mut r = req("server.js", &[("host", "h")]);
        assert_eq!(check(&mut r).map(|x| x.status().as_u16()), Some(400));
    }
}
