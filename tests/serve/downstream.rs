//! iisn's own HTTP/1.1 server loop on the client's side (`src/serve/downstream.rs`): simple
//! `GET`/`HEAD` requests are parsed and answered by iisn itself (the fast path), and the
//! connection is handed to hyper, the bytes read so far included, at the first request that
//! is not simple. What is tested: pipelined requests answered in order; a hand-off in the
//! middle of a kept-alive connection (a request body, `Expect: 100-continue`, a head split
//! across writes, a malformed head, too many headers) with the connection still serving
//! afterwards; `Connection: close`; HEAD framing; the framing of node's answers (chunked,
//! Content-Length, 204, 304) and of iisn's own pages, one `Date`, Title-Cased header names;
//! many requests on one connection; a client leaving before its answer or in the middle of a
//! large download.
//!
//! The node app (`ds.js`, written by [`site`]) answers by path; its default answer is
//! `<method> <url>` with a Content-Length, and it echoes the request's `x-req` header as
//! `X-Echo`.

use std::time::{Duration, Instant};

use crate::harness::{Conn, RawResponse, Server, Site};

const APP: &str = r#"
var http = require('http');

var server = http.createServer(function (req, res) {
  var u = new URL(req.url, 'http://localhost');
  var q = u.searchParams;
  var name = u.pathname.replace(/^\/ds\.js\/?/, '');
  res.setHeader('X-Pid', String(process.pid));
  if (req.headers['x-req'] !== undefined) res.setHeader('X-Echo', req.headers['x-req']);
  switch (name) {
    case 'len':
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '11' });
      res.end(req.method === 'HEAD' ? undefined : 'hello world');
      return;
    case 'echo':
      var parts = [];
      req.on('data', function (c) { parts.push(c); });
      req.on('end', function () {
        var body = Buffer.concat(parts);
        res.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(body.length),
          'X-Method': req.method
        });
        res.end(body);
      });
      return;
    case 'chunked':
      // No length: chunked. 26 bytes first (size line "1A"), then two more writes.
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('ABCDEFGHIJKLMNOPQRSTUVWXYZ');
      setTimeout(function () {
        res.write('-second');
        res.end('-last');
      }, 30);
      return;
    case 'quickchunks':
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('one-');
      res.write('two-');
      res.end(q.get('i') || 'end');
      return;
    case 'status':
      var code = parseInt(q.get('code'), 10);
      var h = { 'ETag': '"v1"', 'X-Status': String(code) };
      if (q.get('cl')) h['Content-Length'] = q.get('cl');
      res.writeHead(code, h);
      res.end();
      return;
    case 'custom':
      res.setHeader('x-custom-thing', 'yes');
      res.setHeader('X-UPPER-CASE', 'u');
      res.setHeader('x-a.b-c', 'dots');
      res.setHeader('content-type', 'text/plain');
      res.setHeader('content-length', '6');
      res.end('custom');
      return;
    case 'slow':
      // The answer comes after 5 s (or never, when the request was dropped).
      var timer = setTimeout(function () {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '4' });
        res.end('slow');
      }, 5000);
      res.on('close', function () { clearTimeout(timer); });
      return;
    case 'big':
      var n = parseInt(q.get('n'), 10);
      var block = Buffer.alloc(1024 * 1024, 'z');
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n) });
      (function pump() {
        while (n > 0) {
          var part = n >= block.length ? block : block.subarray(0, n);
          n -= part.length;
          if (!res.write(part)) return res.once('drain', pump);
        }
        res.end();
      })();
      return;
    default:
      var text = req.method + ' ' + req.url;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(text)) });
      res.end(req.method === 'HEAD' ? undefined : text);
  }
});
server.listen(process.env.PORT);
"#;

/// The `hello` fixture with `ds.js` as the only handler and more `<iisnode>` attributes.
fn site_with(iisnode_attrs: &str) -> Option<Site> {
    let site = Site::new("hello")?;
    site.write("ds.js", APP);
    site.web_config("ds.js", iisnode_attrs);
    Some(site)
}

fn site() -> Option<Site> {
    site_with("")
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

/// Asserts the app's default answer to `<method> <target>`: 200, the text as body, its
/// Content-Length.
fn assert_echo(r: &RawResponse, method: &str, target: &str) {
    let want = format!("{method} {target}");
    assert_eq!(r.status, 200, "{want}: {}", r.head);
    assert_eq!(r.text(), want, "{}", r.head);
    assert_eq!(
        r.header("content-length"),
        Some(want.len().to_string().as_str()),
        "{}",
        r.head
    );
    assert!(!r.chunked, "{}", r.head);
}

/// `GET /ds.js/len` on `c`: the plain answer that shows a connection works.
async fn check_len(c: &mut Conn) {
    let r = c.request(&get("/ds.js/len")).await;
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("content-length"), Some("11"), "{}", r.head);
    assert_eq!(r.text(), "hello world", "{}", r.head);
}

/// Reads until iisn closes `c`, failing (rather than waiting for the harness's timeout) when
/// it is still open after 5 s.
async fn until_close(c: &mut Conn, what: &str) -> RawResponse {
    tokio::time::timeout(Duration::from_secs(5), c.read_until_close())
        .await
        .unwrap_or_else(|_| panic!("{what}: iisn kept the connection open"))
}

/// Whether every header name of `head` is Title-Cased (as hyper's `title_case_headers`
/// writes it: upper case first and after each `-`, the rest as the name has it, lower case).
fn title_case_violations(head: &str) -> Vec<String> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':').map(|(name, _)| name))
        .filter(|name| {
            let mut up = true;
            let want: String = name
                .to_ascii_lowercase()
                .chars()
                .map(|ch| {
                    let out = if up { ch.to_ascii_uppercase() } else { ch };
                    up = ch == '-';
                    out
                })
                .collect();
            *name != want
        })
        .map(str::to_string)
        .collect()
}

/// An HTTP date as hyper writes it: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn assert_one_http_date(r: &RawResponse, what: &str) {
    let dates = r.header_all("date");
    assert_eq!(dates.len(), 1, "{what}: exactly one Date: {}", r.head);
    let d = dates[0];
    assert!(
        d.len() == 29 && d.ends_with(" GMT") && d.as_bytes()[3] == b',',
        "{what}: an IMF-fixdate: {d:?}"
    );
}

/// (1) Two and three GETs (one a HEAD) in one write on one connection: each answered, in
/// order, and the connection serves a request afterwards.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let Some(site) = site() else { return };
    let server = site.serve();
    server.with_conn(async |c| {
        let mut two = get("/ds.js/p/1");
        two.extend_from_slice(&get("/ds.js/p/2"));
        c.send(&two).await;
        assert_echo(&c.read_response().await, "GET", "/ds.js/p/1");
        assert_echo(&c.read_response().await, "GET", "/ds.js/p/2");

        let mut three = get("/ds.js/p/3");
        three.extend_from_slice(b"HEAD /ds.js/p/4 HTTP/1.1\r\nHost: localhost\r\n\r\n");
        three.extend_from_slice(&get("/ds.js/p/5?x=y"));
        c.send(&three).await;
        assert_echo(&c.read_response().await, "GET", "/ds.js/p/3");
        // The HEAD answer: the GET's length, no body (read_head leaves the rest unread).
        let head = c.read_head().await;
        assert_eq!(head.status, 200, "{}", head.head);
        assert_eq!(
            head.header("content-length"),
            Some("HEAD /ds.js/p/4".len().to_string().as_str()),
            "{}",
            head.head
        );
        assert_echo(&c.read_response().await, "GET", "/ds.js/p/5?x=y");

        // Still usable, a request at a time.
        assert_echo(&c.request(&get("/ds.js/p/6")).await, "GET", "/ds.js/p/6");
        check_len(c).await;
    });
}

/// (2) A kept-alive connection starts on the fast path; a POST with a Content-Length body
/// hands it to hyper (node echoes the body); the GETs after it are answered on the same
/// connection. Then the same with everything pipelined in one write (the hand-off carries
/// the POST, its body and the GET behind it), and a chunked POST.
#[test]
fn hand_off_in_the_middle_of_a_connection() {
    let Some(site) = site() else { return };
    let server = site.serve();
    server.with_conn(async |c| {
        assert_echo(&c.request(&get("/ds.js/a")).await, "GET", "/ds.js/a");

        let r = c
            .request(
                b"POST /ds.js/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\nhello body!",
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.header("x-method"), Some("POST"), "{}", r.head);
        assert_eq!(r.text(), "hello body!");

        assert_echo(&c.request(&get("/ds.js/b")).await, "GET", "/ds.js/b");

        let r = c
            .request(
                b"POST /ds.js/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n chunk\r\n0\r\n\r\n",
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.text(), "hello chunk");
        assert_echo(&c.request(&get("/ds.js/c")).await, "GET", "/ds.js/c");
    });

    server.with_conn(async |c| {
        let mut all = get("/ds.js/1");
        all.extend_from_slice(
            b"POST /ds.js/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 7\r\n\r\npipeone",
        );
        all.extend_from_slice(&get("/ds.js/3"));
        c.send(&all).await;
        assert_echo(&c.read_response().await, "GET", "/ds.js/1");
        let r = c.read_response().await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "pipeone"),
            "{}",
            r.head
        );
        assert_echo(&c.read_response().await, "GET", "/ds.js/3");
        check_len(c).await;
    });
}

/// (3) A head split across two writes 100 ms apart (the first ends in the middle of a header
/// line, or just before the blank line): answered whole, as the first request of a
/// connection and after a fast-path one, and the connection serves on.
#[test]
fn head_split_across_writes_is_answered() {
    let Some(site) = site() else { return };
    let server = site.serve();
    let splits: [(&[u8], &[u8]); 2] = [
        (
            b"GET /ds.js/split?a=1 HTTP/1.1\r\nHost: loc",
            b"alhost\r\nX-Req: split-1\r\n\r\n",
        ),
        (
            b"GET /ds.js/split?a=1 HTTP/1.1\r\nHost: localhost\r\nX-Req: split-1\r\n",
            b"\r\n",
        ),
    ];
    for (first, second) in splits {
        for warm in [false, true] {
            server.with_conn(async |c| {
                if warm {
                    assert_echo(&c.request(&get("/ds.js/warm")).await, "GET", "/ds.js/warm");
                }
                c.send(first).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                c.send(second).await;
                let r = c.read_response().await;
                assert_echo(&r, "GET", "/ds.js/split?a=1");
                assert_eq!(r.header("x-echo"), Some("split-1"), "{}", r.head);
                assert_echo(&c.request(&get("/ds.js/next")).await, "GET", "/ds.js/next");
                check_len(c).await;
            });
        }
    }
}

/// (4) `Connection: close` on a GET (first on its connection, or after a kept-alive one; a
/// Content-Length answer, a chunked one, iisn's own 404): the answer says
/// `Connection: close`, its body is complete, and iisn closes the connection after it.
#[test]
fn connection_close_is_answered_then_closed() {
    let Some(site) = site() else { return };
    let server = site.serve();

    let r = server.with_conn(async |c| {
        c.send(b"GET /ds.js/bye HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await;
        until_close(c, "GET with Connection: close").await
    });
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header_all("connection"), ["close"], "{}", r.head);
    assert_eq!(r.header("content-length"), Some("14"), "{}", r.head);
    // Everything after the head, up to the close: exactly the body.
    assert_eq!(r.text(), "GET /ds.js/bye");

    let (first, r) = server.with_conn(async |c| {
        let first = c.request(&get("/ds.js/one")).await;
        c.send(b"GET /ds.js/two HTTP/1.1\r\nHost: localhost\r\nconnection: CLOSE\r\n\r\n")
            .await;
        (
            first,
            until_close(c, "the second request, with Connection: CLOSE").await,
        )
    });
    assert_echo(&first, "GET", "/ds.js/one");
    assert_eq!(first.header("connection"), None, "{}", first.head);
    assert_eq!(r.header_all("connection"), ["close"], "{}", r.head);
    assert_eq!(r.text(), "GET /ds.js/two", "{}", r.head);

    let r = server.with_conn(async |c| {
        c.send(b"GET /ds.js/chunked HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await;
        until_close(c, "a chunked answer with Connection: close").await
    });
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.chunked, "{}", r.head);
    assert_eq!(r.header_all("connection"), ["close"], "{}", r.head);
    assert_eq!(r.text(), "ABCDEFGHIJKLMNOPQRSTUVWXYZ-second-last");

    let r = server.with_conn(async |c| {
        c.send(b"GET /missing.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await;
        until_close(c, "iisn's 404 with Connection: close").await
    });
    assert_eq!(r.status, 404, "{}", r.head);
    assert_eq!(r.header_all("connection"), ["close"], "{}", r.head);
    let n: usize = r
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 404 page with a length: {}", r.head));
    assert_eq!(r.body.len(), n, "nothing after the 404 page: {}", r.head);
}

/// (5) HEAD to a route with a Content-Length: the header, no body bytes, and the connection
/// carries the next GET, which gets the whole body (sent separately and pipelined behind
/// the HEAD). HEAD to a chunked route: neither body nor chunked framing.
#[test]
fn head_has_the_length_and_no_body() {
    let Some(site) = site() else { return };
    let server = site.serve();
    server.with_conn(async |c| {
        for _ in 0..2 {
            c.send(b"HEAD /ds.js/len HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await;
            let head = c.read_head().await;
            assert_eq!(head.status, 200, "{}", head.head);
            assert_eq!(head.header("content-length"), Some("11"), "{}", head.head);
            assert_eq!(
                head.header("content-type"),
                Some("text/plain"),
                "{}",
                head.head
            );
            assert!(!head.chunked, "{}", head.head);
            check_len(c).await;
        }

        let mut both = b"HEAD /ds.js/len HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
        both.extend_from_slice(&get("/ds.js/len"));
        c.send(&both).await;
        let head = c.read_head().await;
        assert_eq!(head.header("content-length"), Some("11"), "{}", head.head);
        let r = c.read_response().await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "hello world"),
            "the next bytes are the GET's answer: {}",
            r.head
        );

        c.send(b"HEAD /ds.js/chunked HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        let head = c.read_head().await;
        assert_eq!(head.status, 200, "{}", head.head);
        assert!(
            head.header("transfer-encoding").is_none(),
            "no chunked framing on a HEAD answer: {}",
            head.head
        );
        check_len(c).await;
    });
}

/// (6) A head httparse refuses (a space in a header name) is hyper's: 400 and the connection
/// closes, also after a fast-path request on it. 101 headers are too many: 431; 100 pass.
#[test]
fn malformed_heads_and_too_many_headers() {
    let Some(site) = site() else { return };
    let server = site.serve();
    let bad = b"GET /ds.js/len HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n";

    let r = server.with_conn(async |c| {
        c.send(bad).await;
        until_close(c, "a malformed head").await
    });
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(!r.text().contains("hello world"), "{}", r.text());

    let (first, r) = server.with_conn(async |c| {
        let first = c.request(&get("/ds.js/before")).await;
        c.send(bad).await;
        (
            first,
            until_close(c, "a malformed head after a good request").await,
        )
    });
    assert_echo(&first, "GET", "/ds.js/before");
    assert_eq!(r.status, 400, "{}", r.head);

    // Host and `extra` more headers.
    let many = |extra: usize| {
        let mut req = String::from("GET /ds.js/many HTTP/1.1\r\nHost: localhost\r\n");
        for i in 0..extra {
            req.push_str(&format!("X-H-{i}: v{i}\r\n"));
        }
        req.push_str("\r\n");
        req.into_bytes()
    };
    let r = server.with_conn(async |c| {
        c.send(&many(100)).await;
        until_close(c, "101 headers").await
    });
    assert_eq!(r.status, 431, "101 headers: {}", r.head);

    server.with_conn(async |c| {
        // Exactly 100: within the limit, on both paths, and the connection goes on.
        assert_echo(&c.request(&many(99)).await, "GET", "/ds.js/many");
        assert_echo(&c.request(&many(99)).await, "GET", "/ds.js/many");
        c.send(&many(100)).await;
        let r = until_close(c, "101 headers after two requests").await;
        assert_eq!(r.status, 431, "101 headers, third request: {}", r.head);
    });
}

/// (7) The framing of node's answers: a chunked one (three writes, no length) arrives
/// chunked with upper-case hex sizes (as hyper writes them) and de-chunks to the whole body;
/// a Content-Length one keeps its length; 204 has neither body nor Content-Length; 304 has
/// no body. Node's answers and iisn's own 404 page carry exactly one `Date`.
#[test]
fn framing_of_node_answers_and_one_date() {
    let Some(site) = site() else { return };
    let server = site.serve();
    server.with_conn(async |c| {
        c.send(&get("/ds.js/chunked")).await;
        let head = c.read_head().await;
        assert_eq!(head.status, 200, "{}", head.head);
        assert!(head.chunked, "{}", head.head);
        assert_eq!(
            head.header_all("transfer-encoding"),
            ["chunked"],
            "{}",
            head.head
        );
        assert_eq!(head.header("content-length"), None, "{}", head.head);
        assert_one_http_date(&head, "a chunked answer");
        // The first write came alone (30 ms before the others): its size line is "1A".
        let size = c.read_line().await.expect("a chunk size line");
        assert_eq!(size, "1A", "the first chunk's size, upper-case hex");
        let mut body = c.read_exact(26).await;
        assert_eq!(c.read_exact(2).await, b"\r\n");
        while let Some(chunk) = c.read_chunk().await {
            body.extend_from_slice(&chunk);
        }
        assert_eq!(
            String::from_utf8_lossy(&body),
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ-second-last"
        );

        let r = c.request(&get("/ds.js/len")).await;
        assert_eq!(r.header_all("content-length"), ["11"], "{}", r.head);
        assert!(r.header("transfer-encoding").is_none(), "{}", r.head);
        assert_eq!(r.text(), "hello world");
        assert_one_http_date(&r, "a Content-Length answer");

        // Each bodiless answer is pipelined with a GET: the next bytes must be its answer.
        for (target, code) in [
            ("/ds.js/status?code=204", 204),
            ("/ds.js/status?code=204&cl=0", 204),
            ("/ds.js/status?code=304", 304),
            ("/ds.js/status?code=304&cl=5", 304),
        ] {
            let mut both = get(target);
            both.extend_from_slice(&get("/ds.js/after"));
            c.send(&both).await;
            let head = c.read_head().await;
            assert_eq!(head.status, code, "{target}: {}", head.head);
            assert_eq!(
                head.header("x-status"),
                Some(code.to_string().as_str()),
                "{}",
                head.head
            );
            assert!(
                head.header("transfer-encoding").is_none(),
                "{target}: {}",
                head.head
            );
            if code == 204 {
                assert_eq!(
                    head.header("content-length"),
                    None,
                    "{target}: {}",
                    head.head
                );
            } else {
                assert_eq!(head.header("etag"), Some("\"v1\""), "{}", head.head);
            }
            assert_one_http_date(&head, target);
            assert_echo(&c.read_response().await, "GET", "/ds.js/after");
        }

        let r = c.request(&get("/missing.txt")).await;
        assert_eq!(r.status, 404, "{}", r.head);
        assert_one_http_date(&r, "iisn's 404");
        check_len(c).await;
    });
}

/// (8) Header names reach the client Title-Cased whatever case node used (`x-custom-thing`,
/// `X-UPPER-CASE`), on node's answers and on iisn's own pages.
#[test]
fn header_names_are_title_cased() {
    let Some(site) = site() else { return };
    let server = site.serve();
    server.with_conn(async |c| {
        let r = c.request(&get("/ds.js/custom")).await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.text(), "custom");
        for line in [
            "\r\nX-Custom-Thing: yes\r\n",
            "\r\nX-Upper-Case: u\r\n",
            "\r\nX-A.b-C: dots\r\n",
            "\r\nContent-Type: text/plain\r\n",
            "\r\nContent-Length: 6\r\n",
        ] {
            assert!(
                format!("{}\r\n", r.head).contains(line),
                "{line:?} in:\n{}",
                r.head
            );
        }
        assert!(
            !r.head.contains("x-custom-thing") && !r.head.contains("X-UPPER-CASE"),
            "{}",
            r.head
        );
        assert_eq!(
            title_case_violations(&r.head),
            Vec::<String>::new(),
            "{}",
            r.head
        );

        let r = c.request(&get("/missing.txt")).await;
        assert_eq!(r.status, 404, "{}", r.head);
        assert_eq!(
            title_case_violations(&r.head),
            Vec::<String>::new(),
            "{}",
            r.head
        );

        c.send(b"HEAD /ds.js/custom HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        let head = c.read_head().await;
        assert!(
            head.head.contains("\r\nX-Custom-Thing: yes"),
            "HEAD: {}",
            head.head
        );
        check_len(c).await;
    });
}

/// (9) 200 requests in a row on one kept-alive connection (GETs with a per-request header,
/// HEADs, chunked answers, iisn's 404s): every answer is its own request's.
#[test]
fn many_requests_on_one_connection() {
    let Some(site) = site() else { return };
    let server = site.serve();
    let addr = server.addr();
    server.block_on_for(Duration::from_secs(60), async move {
        let mut c = Conn::connect(addr).await;
        for i in 0..200u32 {
            if i % 25 == 7 {
                let r = c.request(&get(&format!("/missing-{i}.txt"))).await;
                assert_eq!(r.status, 404, "request {i}: {}", r.head);
            } else if i % 10 == 3 {
                let target = format!("/ds.js/head/{i}");
                c.send(format!("HEAD {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
                    .await;
                let head = c.read_head().await;
                assert_eq!(head.status, 200, "request {i}: {}", head.head);
                assert_eq!(
                    head.header("content-length"),
                    Some(format!("HEAD {target}").len().to_string().as_str()),
                    "request {i}: {}",
                    head.head
                );
            } else if i % 10 == 5 {
                let r = c.request(&get(&format!("/ds.js/quickchunks?i={i}"))).await;
                assert_eq!(r.status, 200, "request {i}: {}", r.head);
                assert!(r.chunked, "request {i}: {}", r.head);
                assert_eq!(r.text(), format!("one-two-{i}"), "request {i}");
            } else {
                let target = format!("/ds.js/n/{i}?q={i}");
                let r = c
                    .request(
                        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nX-Req: r{i}\r\n\r\n")
                            .as_bytes(),
                    )
                    .await;
                assert_echo(&r, "GET", &target);
                assert_eq!(
                    r.header("x-echo"),
                    Some(format!("r{i}").as_str()),
                    "request {i}: {}",
                    r.head
                );
            }
        }
        // A request without X-Req gets no X-Echo: nothing carried over.
        let r = c.request(&get("/ds.js/last")).await;
        assert_echo(&r, "GET", "/ds.js/last");
        assert_eq!(r.header("x-echo"), None, "{}", r.head);
    });
}

/// After a client left with its request in flight (one request at a time per process):
/// `GET /ds.js/len` until it is served, answered by `pid`, within a second. iisn learns that
/// the client left asynchronously (a reset, then the connection's task runs), so a request
/// sent at once may still find the slot taken (503.1002), with hyper as with the fast path
/// (measured under CPU load: about 3 rounds in 100 on either path); only that answer is
/// retried, 20 ms apart. A request kept in flight holds the slot until node's answer ends
/// (seconds here).
fn served_soon(server: &Server, pid: u32, what: &str) {
    let left = Instant::now();
    let mut refused = 0;
    let r = loop {
        let r = server.get("/ds.js/len");
        if r.status != 503 || left.elapsed() > Duration::from_secs(1) {
            break r;
        }
        assert_eq!(
            r.header("x-iisn-substatus"),
            Some("1002"),
            "{what}: only the slot may be still taken: {:?}",
            r.headers
        );
        refused += 1;
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = left.elapsed();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello world"),
        "{what}: the slot stayed taken {took:?} after the client left ({refused} \
         times 503.1002): {:?}",
        r.headers
    );
    assert_eq!(r.pid(), pid, "{what}: the same worker");
    assert!(took < Duration::from_millis(1500), "{what}: took {took:?}");
}

/// (10) A client that leaves in the middle of a 20 MiB download (fast path, one request at a
/// time per process) does not hold its request: a new connection is answered at once by the
/// same worker, and a whole download after it arrives complete.
#[test]
fn client_leaving_mid_download_does_not_block_the_next() {
    let Some(site) = site_with(r#"maxConcurrentRequestsPerProcess="1""#) else {
        return;
    };
    let server = site.serve();
    let pid = server.get("/ds.js/len").pid();
    const N: usize = 20 * 1024 * 1024;
    for round in 0..3 {
        server.with_conn(async |c| {
            c.send(&get(&format!("/ds.js/big?n={N}"))).await;
            let head = c.read_head().await;
            assert_eq!(head.status, 200, "{}", head.head);
            assert_eq!(
                head.header("content-length"),
                Some(N.to_string().as_str()),
                "{}",
                head.head
            );
            let some = c.read_exact(256 * 1024).await;
            assert!(some.iter().all(|&b| b == b'z'));
            // Dropped here with nearly 20 MiB unread.
        });
        served_soon(&server, pid, &format!("round {round}"));
    }
    server.with_conn(async |c| {
        let r = c.request(&get("/ds.js/big?n=3000000")).await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.body.len(), 3_000_000);
        assert!(r.body.iter().all(|&b| b == b'z'));
        check_len(c).await;
    });
}

/// (10b) A client that leaves before its answer's head (node takes 5 s) has its request
/// dropped at once, as hyper does: with one request at a time per process, the next request
/// is served within a second, not refused (503.1002) until node's slow answer comes.
#[test]
fn client_leaving_before_the_answer_frees_its_request() {
    let Some(site) = site_with(r#"maxConcurrentRequestsPerProcess="1""#) else {
        return;
    };
    let server = site.serve();
    let pid = server.get("/ds.js/len").pid();
    for round in 0..2 {
        server.with_conn(async |c| {
            c.send(&get("/ds.js/slow")).await;
            // Long enough for the request to reach node and take the process's one slot.
            tokio::time::sleep(Duration::from_millis(300)).await;
            // Dropped here, unanswered.
        });
        served_soon(&server, pid, &format!("round {round}"));
    }
}

/// (11) `Expect: 100-continue` on a POST (first on its connection, and after a fast-path
/// GET): `100 Continue`, then the answer to the body sent after it, and the connection
/// serves on.
#[test]
fn expect_continue_gets_100_then_the_answer() {
    let Some(site) = site() else { return };
    let server = site.serve();
    for warm in [false, true] {
        server.with_conn(async |c| {
            if warm {
                assert_echo(&c.request(&get("/ds.js/warm")).await, "GET", "/ds.js/warm");
            }
            c.send(
                b"POST /ds.js/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n",
            )
            .await;
            let interim = c.read_any_head().await;
            assert_eq!(interim.status, 100, "{}", interim.head);
            assert_eq!(interim.head, "HTTP/1.1 100 Continue", "{}", interim.head);
            c.send(b"continued").await;
            let r = c.read_response().await;
            assert_eq!(r.status, 200, "{}", r.head);
            assert_eq!(r.header("x-method"), Some("POST"), "{}", r.head);
            assert_eq!(r.text(), "continued");
            assert_echo(&c.request(&get("/ds.js/after")).await, "GET", "/ds.js/after");
        });
    }
}
