//! HTTP fidelity: bodies, framing, streaming, headers both ways, large transfers, and the
//! metadata iisnode adds (X-Forwarded-*, promoted server variables, the debug header).

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use serde_json::Value;

use crate::harness::{Conn, Generated, Server, Site, TIMEOUT, count_body, full, open};

/// C03 / 104_echo: a request body reaches node intact.
#[test]
fn echo_post() {
    let Some(site) = Site::new("echo") else {
        return;
    };
    let server = site.serve();
    let r = server.post(
        "/echo.js",
        &[("content-type", "text/plain")],
        "A simple body",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "A simple body");
    assert_eq!(r.header("content-type"), Some("text/plain"));

    let binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let r = server.post(
        "/echo.js",
        &[("content-type", "application/octet-stream")],
        binary.clone(),
    );
    assert_eq!(r.body.as_ref(), &binary[..], "binary bodies pass unchanged");
}

fn get_raw(server: &Server, target: &str) -> crate::harness::RawResponse {
    server.raw(&format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n"))
}

/// C04 / 113_encoding: a Content-Length response keeps its length on the wire.
#[test]
fn content_length_response() {
    let Some(site) = Site::new("streaming") else {
        return;
    };
    let server = site.serve();
    let r = get_raw(&server, "/stream.js");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("content-length"), Some("23"), "{}", r.head);
    assert!(!r.chunked, "{}", r.head);
    assert_eq!(r.text(), "content-length response");
}

/// C04 / 113_encoding: a response without a length stays chunked.
#[test]
fn chunked_response() {
    let Some(site) = Site::new("streaming") else {
        return;
    };
    let server = site.serve();
    let r = get_raw(&server, "/stream.js?onechunk");
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(r.chunked, "{}", r.head);
    assert!(r.header("content-length").is_none(), "{}", r.head);
    assert_eq!(r.text(), "chunked response");

    let r = get_raw(&server, "/stream.js?tenchunks");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "0123456789");
}

/// C05: a slow response streams. node writes "first", then waits for a file that the test
/// creates only once it has received "first": a proxy that buffered the body would stall.
#[test]
fn slow_response_arrives_progressively() {
    let Some(site) = Site::new("streaming") else {
        return;
    };
    let server = site.serve();
    let release = site.path("release-1");
    server.with_conn(async move |c| {
        c.send(b"GET /stream.js?hold=release-1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        let head = c.read_head().await;
        assert_eq!(head.status, 200, "{}", head.head);
        assert!(head.chunked, "{}", head.head);
        let mut got = Vec::new();
        while !got.ends_with(b"first\n") {
            let chunk = c
                .read_chunk()
                .await
                .expect("the first chunk before the end");
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, b"first\n");
        // Only now may node finish.
        std::fs::write(&release, "").expect("release");
        while let Some(chunk) = c.read_chunk().await {
            got.extend_from_slice(&chunk);
        }
        assert_eq!(String::from_utf8_lossy(&got), "first\nlast\n");
    });
}

/// C06 / 115_customheaders: request headers (empty values too) reach node, custom response
/// headers (empty values too) reach the client.
#[test]
fn custom_and_empty_headers() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    let server = site.serve();
    let post = |extra: &str| {
        server.raw(&format!(
            "POST /hello.js HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n{extra}\r\n"
        ))
    };

    let r = post("x-foo: foobar\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header("x-bar"), Some("foobar"), "{}", r.head);
    assert_eq!(r.header("x-got-foo"), Some("true"), "{}", r.head);
    assert_eq!(r.text(), "Hello, world");

    let r = post("x-foo:\r\n");
    assert_eq!(
        r.header("x-bar"),
        Some(""),
        "an empty x-foo reaches node: {}",
        r.head
    );
    assert_eq!(r.header("x-got-foo"), Some("true"), "{}", r.head);

    let r = post("x-foo:\r\nx-baz: foobar\r\n");
    assert_eq!(r.header("x-bar"), Some(""), "{}", r.head);
    assert_eq!(r.header("x-got-foo"), Some("true"), "{}", r.head);

    let r = post("");
    assert_eq!(r.header("x-got-foo"), None, "{}", r.head);
}

/// A `customHeaders` value leaves as ISO-8859-1, one byte per character, whatever the
/// web.config's encoding (observed on IIS 10: `café` in a UTF-8 file is `caf\xE9` on the
/// wire); a character beyond Latin-1 has no byte there and goes as `?`. It was sent as the
/// file's UTF-8. Both of iisn's ways to add the entries are checked: appended lines (a
/// static file, node's page) and the header map (with a `Cache-Control` entry to merge).
#[test]
fn custom_header_values_leave_as_latin1() {
    use std::io::{Read, Write};
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("readme.txt", "static\n");
    let config = |extra: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration><system.webServer><handlers><add name=\"iisnode\" path=\"hello.js\" verb=\"*\" modules=\"iisnode\"/></handlers><httpProtocol><customHeaders><add name=\"X-NonAscii\" value=\"caf\u{e9} \u{4e2d}\"/>{extra}</customHeaders></httpProtocol></system.webServer></configuration>"
        )
    };
    site.write("web.config", &config(""));
    site.write("merged/readme.txt", "static\n");
    site.write(
        "merged/web.config",
        "<configuration><system.webServer><httpProtocol><customHeaders><add name=\"Cache-Control\" value=\"no-store\"/></customHeaders></httpProtocol></system.webServer></configuration>",
    );
    let server = site.serve();
    let head_bytes = |target: &str| {
        let mut s = std::net::TcpStream::connect(server.addr()).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read");
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head");
        out.truncate(end + 2);
        out
    };
    for target in ["/readme.txt", "/hello.js", "/merged/readme.txt"] {
        let head = head_bytes(target);
        let text = String::from_utf8_lossy(&head).into_owned();
        assert!(
            head.windows(10).any(|w| w == b": caf\xE9 ?\r\n"),
            "{target}: {text}"
        );
        assert!(
            !text.contains("caf\u{e9}"),
            "{target}: sent as UTF-8: {text}"
        );
    }
}

/// C07 / 122_multipleResponseHeaders: repeated response headers stay separate lines, with
/// node's spelling; an empty-valued header survives.
#[test]
fn duplicate_and_empty_response_headers() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    let server = site.serve();
    let r = get_raw(&server, "/hello.js?dup");
    assert_eq!(r.status, 200, "{}", r.head);
    let lines: Vec<&str> = r.head.lines().collect();
    assert!(lines.contains(&"Foo: Val1"), "{}", r.head);
    assert!(lines.contains(&"Foo: Val2"), "{}", r.head);
    assert_eq!(r.header_all("x-empty"), [""], "{}", r.head);
    assert_eq!(r.text(), "two Foo headers");
}

fn dump(server: &Server, extra_headers: &str) -> Value {
    let r = server.raw(&format!(
        "GET /hello.js?dump HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n"
    ));
    assert_eq!(r.status, 200, "{}\n{}", r.head, r.text());
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// Request pairs (name, value) as node received them (`req.rawHeaders`).
fn raw_headers(d: &Value) -> Vec<(String, String)> {
    let raw: Vec<String> = d["rawHeaders"]
        .as_array()
        .expect("rawHeaders")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    raw.chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

/// The values of every `name` header among `raw` (ASCII case ignored), in order.
fn header_values<'a>(raw: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    raw.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Duplicate and empty request headers reach node as sent (names, order, values).
#[test]
fn request_headers_reach_node_unmerged() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    let server = site.serve();
    let d = dump(
        &server,
        "X-Dup: one\r\nX-Empty:\r\nX-Dup: two\r\nX-Custom: a b  c\r\n",
    );
    let raw = raw_headers(&d);
    let dups = header_values(&raw, "x-dup");
    assert_eq!(dups, ["one", "two"], "{raw:?}");
    assert!(
        raw.iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-empty") && v.is_empty()),
        "{raw:?}"
    );
    assert_eq!(d["headers"]["x-custom"], "a b  c");
    assert_eq!(d["url"], "/hello.js?dump");
    assert_eq!(d["method"], "GET");
}

/// C08 / 123_upload: node sees whether the body was chunked or had a Content-Length.
#[test]
fn upload_framing_is_visible_to_the_app() {
    let Some(site) = Site::new("echo") else {
        return;
    };
    let server = site.serve();
    let post = |framing: &str, body: &str| {
        let r = server.raw(&format!(
            "POST /echo.js HTTP/1.1\r\nHost: localhost\r\nx-mode: framing\r\n{framing}\r\n{body}"
        ));
        assert_eq!(r.status, 200, "{}", r.head);
        r.text()
    };
    assert_eq!(
        post("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
        "true-abc"
    );
    assert_eq!(post("Content-Length: 3\r\n", "def"), "false-def");
    assert_eq!(post("Transfer-Encoding: chunked\r\n", "0\r\n\r\n"), "true-");
    assert_eq!(post("Content-Length: 0\r\n", ""), "false-");
    assert_eq!(
        post(
            "Transfer-Encoding: chunked\r\n",
            "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
        ),
        "true-abcdefg"
    );
}

const MIB: u64 = 1024 * 1024;

/// C09 / 140_large_download: 30 MiB arrive exactly.
#[test]
fn large_download() {
    let Some(site) = Site::new("big") else { return };
    let server = site.serve();
    let addr = server.addr();
    let (status, n) = server.block_on(async move {
        let req = Request::get("/hello.js")
            .body(full(Bytes::new()))
            .expect("request");
        let resp = open(addr, req).await;
        let status = resp.status();
        (status, count_body(resp.into_body(), 0).await.0)
    });
    assert_eq!(status, 200);
    assert_eq!(n, 31_457_280);
}

/// C09 / 141_large_upload: 31 MiB sent chunked are all counted by node.
#[test]
fn large_upload() {
    let Some(site) = Site::new("big") else { return };
    let server = site.serve();
    let req = Request::post("/hello.js?count")
        .body(Generated::new(31 * MIB, 1024).boxed())
        .expect("request");
    let r = server.send(req);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "32505856");
}

/// C09 / 142_large_upload_download: 31 MiB up while 30 MiB come down, at the same time
/// (node starts answering before the upload ends): no deadlock, every byte counted.
#[test]
fn large_upload_and_download_at_once() {
    let Some(site) = Site::new("big") else { return };
    let server = site.serve();
    let addr = server.addr();
    let (status, n, tail) = server.block_on_for(Duration::from_secs(30), async move {
        let req = Request::post("/hello.js?both&down=31457280")
            .body(Generated::new(31 * MIB, 16 * 1024).boxed())
            .expect("request");
        let resp = open(addr, req).await;
        let status = resp.status();
        let (n, tail) = count_body(resp.into_body(), 64).await;
        (status, n, tail)
    });
    assert_eq!(status, 200);
    let suffix = "\nuploaded=32505856\n";
    assert_eq!(
        String::from_utf8_lossy(&tail[tail.len() - suffix.len()..]),
        suffix
    );
    assert_eq!(n, 31_457_280 + suffix.len() as u64);
}

/// C45 / 118_xff: X-Forwarded-For and X-Forwarded-Proto with iisnode's append rules.
#[test]
fn enable_xff() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    site.web_config("hello.js", r#"enableXFF="true""#);
    let server = site.serve();
    let xff = |extra: &str| {
        let d = dump(&server, extra);
        (
            d["headers"]["x-forwarded-for"].as_str().map(str::to_string),
            d["headers"]["x-forwarded-proto"]
                .as_str()
                .map(str::to_string),
        )
    };
    assert_eq!(xff(""), (Some("127.0.0.1".into()), Some("http".into())));
    assert_eq!(
        xff("X-Forwarded-Proto: https\r\n"),
        (Some("127.0.0.1".into()), Some("https".into())),
        "the client's proto is kept, not duplicated"
    );
    assert_eq!(
        xff("X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\n"),
        (Some("1.1.1.1, 127.0.0.1".into()), Some("https".into()))
    );
    assert_eq!(
        xff("X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"),
        (Some("127.0.0.1".into()), Some("https".into())),
        "not appended again when the last hop is the client"
    );
}

/// Without enableXFF, iisn adds no forwarding headers.
#[test]
fn no_xff_by_default() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    let server = site.serve();
    let d = dump(&server, "");
    assert!(d["headers"].get("x-forwarded-for").is_none(), "{d}");
    assert!(d["headers"].get("x-forwarded-proto").is_none(), "{d}");
}

const PROMOTE: &str =
    r#"promoteServerVars="REQUEST_METHOD,AUTH_USER,LOGON_USER,AUTH_TYPE,QUERY_STRING""#;

/// C46 / 119_servervars: promoted server variables arrive as x-iisnode-<name>; a client
/// cannot forge them (DECISIONS.md §22); AUTH_USER is empty under anonymous access.
#[test]
fn promote_server_vars() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    site.web_config("hello.js", PROMOTE);
    let server = site.serve();
    let d = dump(
        &server,
        "x-iisnode-request_method: FORGED\r\nX-iisnode-AUTH_USER: EVIL\\admin\r\n",
    );
    let raw = raw_headers(&d);
    let values = |name: &str| header_values(&raw, name);
    assert_eq!(values("x-iisnode-request_method"), ["GET"], "{raw:?}");
    assert_eq!(values("x-iisnode-query_string"), ["dump"], "{raw:?}");
    for name in [
        "x-iisnode-auth_user",
        "x-iisnode-logon_user",
        "x-iisnode-auth_type",
    ] {
        let v = values(name);
        assert!(
            v.iter().all(|s| s.is_empty()) && v.len() <= 1,
            "{name} empty without --auth-user: {raw:?}"
        );
    }
}

/// iisnode reads promoted variables from IIS after URL Rewrite ran: QUERY_STRING is the
/// rewritten query, a variable a rule set (`<serverVariables><set>`) has its value, and
/// CACHE_URL is the whole URL (`http://host:port/...`, which rules test for the scheme).
/// Node's own `req.url` stays the client's target (DECISIONS.md §16).
#[test]
fn promoted_variables_are_read_after_url_rewrite() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    site.write(
        "web.config",
        r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="hello.js" verb="*" modules="iisnode"/></handlers>
  <iisnode promoteServerVars="QUERY_STRING,MY_VAR,CACHE_URL"/>
  <rewrite><rules>
    <rule name="r" stopProcessing="true">
      <match url="^dumpme$"/>
      <serverVariables><set name="MY_VAR" value="v-{R:0}"/></serverVariables>
      <action type="Rewrite" url="hello.js?x=1"/>
    </rule>
    <rule name="noqs" stopProcessing="true">
      <match url="^noqs$"/>
      <action type="Rewrite" url="hello.js" appendQueryString="false"/>
    </rule>
  </rules></rewrite>
</system.webServer></configuration>"#,
    );
    let server = site.serve();
    let port = server.addr().port();
    let r = server.raw("GET /dumpme?dump HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.status, 200, "{}\n{}", r.head, r.text());
    let d: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    assert_eq!(d["url"], "/dumpme?dump", "{d}");
    assert_eq!(d["headers"]["x-iisnode-query_string"], "x=1&dump", "{d}");
    assert_eq!(d["headers"]["x-iisnode-my_var"], "v-dumpme", "{d}");
    assert_eq!(
        d["headers"]["x-iisnode-cache_url"],
        format!("http://localhost:{port}/dumpme?dump"),
        "{d}"
    );
    // Rewritten to no query at all: QUERY_STRING is empty, not the client's.
    let r = server.raw("GET /noqs?dump HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.status, 200, "{}\n{}", r.head, r.text());
    let d: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    assert_eq!(d["headers"]["x-iisnode-query_string"], "", "{d}");
}

/// On a wildcard address (`--host 0.0.0.0`), LOCAL_ADDR is the address the client reached,
/// as IIS reports it, not the listening `0.0.0.0` (which also made every caller remote
/// for devErrorsEnabled's local-only details).
#[test]
fn local_addr_on_a_wildcard_listener_is_the_address_reached() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    site.web_config(
        "hello.js",
        r#"promoteServerVars="LOCAL_ADDR,REMOTE_ADDR,SERVER_PORT""#,
    );
    let server = site.iisn().arg("--host").arg("0.0.0.0").start();
    let port = server.addr().port();
    let d = dump(&server, "");
    assert_eq!(d["headers"]["x-iisnode-local_addr"], "127.0.0.1", "{d}");
    assert_eq!(d["headers"]["x-iisnode-remote_addr"], "127.0.0.1", "{d}");
    assert_eq!(
        d["headers"]["x-iisnode-server_port"],
        port.to_string(),
        "{d}"
    );
}

/// The server variables as IIS 10 gives them to a page over plain HTTP (a reading of every
/// `Request.ServerVariables` entry): `SERVER_SOFTWARE` names IIS; `SERVER_PORT` is the port
/// the client connected to, not its `Host` header's; `X-Forwarded-*` headers change nothing;
/// the certificate variables exist, empty (iisnode then sends an empty `X-iisnode-<NAME>`).
/// Request header bytes that are not ASCII (`caf\xE9`, `a\xFF\xFEb`) are accepted and reach
/// node as sent, as IIS accepts them.
#[test]
fn server_variables_as_iis_10_gives_them() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    site.web_config(
        "hello.js",
        r#"promoteServerVars="SERVER_SOFTWARE,SERVER_NAME,SERVER_PORT,HTTPS,REMOTE_ADDR,CERT_SUBJECT,CERT_FLAGS,HTTPS_KEYSIZE,HTTPS_SERVER_SUBJECT,INSTANCE_META_PATH""#,
    );
    let server = site.serve();
    let port = server.addr().port();
    let r = server.raw(
        "GET /hello.js?dump HTTP/1.1\r\nHost: shop.example.com:18112\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: front.example.com\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}\n{}", r.head, r.text());
    let d: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    let h = &d["headers"];
    assert_eq!(h["x-iisnode-server_software"], "Microsoft-IIS/10.0", "{d}");
    assert_eq!(h["x-iisnode-server_name"], "shop.example.com", "{d}");
    assert_eq!(h["x-iisnode-server_port"], port.to_string(), "{d}");
    assert_eq!(h["x-iisnode-https"], "off", "{d}");
    assert_eq!(h["x-iisnode-remote_addr"], "127.0.0.1", "{d}");
    assert_eq!(h["x-iisnode-instance_meta_path"], "/LM/W3SVC/1", "{d}");
    for name in [
        "x-iisnode-cert_subject",
        "x-iisnode-cert_flags",
        "x-iisnode-https_keysize",
        "x-iisnode-https_server_subject",
    ] {
        assert_eq!(h[name], "", "{name} is empty, not missing: {d}");
    }

    for (sent, seen) in [
        (&b"caf\xE9"[..], "caf\u{e9}"),
        (b"a\xFF\xFEb", "a\u{ff}\u{fe}b"),
    ] {
        let mut request = b"GET /hello.js?dump HTTP/1.1\r\nHost: localhost\r\nX-Probe: ".to_vec();
        request.extend_from_slice(sent);
        request.extend_from_slice(b"\r\n\r\n");
        let r = server.block_on(async {
            let mut c = Conn::connect(server.addr()).await;
            c.send(&request).await;
            c.read_response().await
        });
        assert_eq!(r.status, 200, "{}", r.head);
        let d: Value =
            serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
        // Node reads header bytes as Latin-1: one character per byte, as sent.
        assert_eq!(d["headers"]["x-probe"], seen, "{d}");
    }
}

/// `--auth-user` emulates Windows authentication for the promoted variables.
#[test]
fn auth_user_emulation() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    site.web_config("hello.js", PROMOTE);
    let server = site.iisn().arg("--auth-user").arg(r"CORP\alice").start();
    let d = dump(&server, "");
    assert_eq!(d["headers"]["x-iisnode-auth_user"], r"CORP\alice", "{d}");
    assert_eq!(d["headers"]["x-iisnode-logon_user"], r"CORP\alice", "{d}");
    assert_eq!(d["headers"]["x-iisnode-auth_type"], "Negotiate", "{d}");
    assert_eq!(d["headers"]["x-iisnode-request_method"], "GET", "{d}");
}

/// C47 / 132_debug_header: `iisnode-debug` names the serving node process.
#[test]
fn debug_header() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config(
        "hello.js",
        r#"debugHeaderEnabled="true" nodeProcessCountPerApplication="2""#,
    );
    let server = site.serve();
    for _ in 0..4 {
        let r = server.get("/hello.js");
        assert_eq!(r.status, 200);
        let h = r
            .header("iisnode-debug")
            .expect("iisnode-debug header")
            .to_string();
        assert!(h.starts_with("http://bit.ly/NsU2nd#"), "{h}");
        let pid = r.pid();
        let fields: Vec<&str> = h["http://bit.ly/NsU2nd#".len()..].split('&').collect();
        assert!(
            fields.contains(&format!("node_pid={pid}").as_str()),
            "{h} (served by {pid})"
        );
        assert!(fields.contains(&"app_processes=2"), "{h}");
        assert!(fields.iter().any(|f| f.starts_with("req_time=")), "{h}");
    }
    // Not on iisn's own responses.
    let r = server.get("/missing.txt");
    assert_eq!(r.status, 404);
    assert!(r.header("iisnode-debug").is_none());
}

/// Keep-alive: many requests over one client connection all succeed.
#[test]
fn keep_alive_connection_is_reused() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    let server = site.serve();
    server.with_conn(async |c| {
        for n in 1..=20 {
            let r = c
                .request(b"GET /hello.js HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await;
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), format!("Hello, world {n}"));
        }
    });
}

/// C12: HEAD gets headers only; 204 and 304 have no body; the connection stays usable.
#[test]
fn head_and_bodiless_statuses() {
    let Some(site) = Site::new("echo") else {
        return;
    };
    let server = site.serve();
    server.with_conn(async |c| {
        c.send(b"HEAD /echo.js/x HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        let head = c.read_head().await;
        assert_eq!(head.status, 200, "{}", head.head);
        for status in [204u16, 304] {
            let r = c
                .request(
                    format!("GET /echo.js?status={status} HTTP/1.1\r\nHost: localhost\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            assert_eq!(r.status, status, "{}", r.head);
            assert_eq!(
                r.header("x-status"),
                Some(status.to_string().as_str()),
                "{}",
                r.head
            );
            assert!(
                !r.chunked && r.header("content-length").is_none_or(|v| v == "0"),
                "{}",
                r.head
            );
        }
        // Nothing stray in between: the next answer is the next request's.
        let r = c
            .request(b"GET /echo.js/after HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        assert_eq!(
            (r.status, r.text()),
            (200, "/echo.js/after".to_string()),
            "{}",
            r.head
        );
    });
}

/// C11: `Expect: 100-continue`: iisn says 100 Continue itself and node does not see `Expect`.
#[test]
fn expect_100_continue() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    let server = site.serve();
    let (interim, r) = server.with_conn(async |c| {
        c.send(
            b"POST /hello.js?dump HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .await;
        let interim = c.read_any_head().await;
        c.send(b"hello").await;
        (interim, c.read_response().await)
    });
    assert_eq!(interim.status, 100, "{}", interim.head);
    assert_eq!(r.status, 200, "{}", r.head);
    let d: Value = serde_json::from_slice(&r.body).expect("json");
    assert!(d["headers"].get("expect").is_none(), "{d}");
    assert_eq!(d["body"], "hello");
}

/// C11: node's `Connection: close` describes its socket, not the client's: the client's
/// keep-alive connection survives it.
#[test]
fn node_connection_close_does_not_close_the_client() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    let server = site.serve();
    server.with_conn(async |c| {
        for _ in 0..5 {
            let r = c
                .request(b"GET /hello.js?close HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await;
            assert_eq!(
                (r.status, r.text()),
                (200, "closing".to_string()),
                "{}",
                r.head
            );
            assert!(
                !r.header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close")),
                "{}",
                r.head
            );
        }
        // node sees keep-alive requests whatever the client said.
        let r = c
            .request(b"GET /hello.js?dump HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await;
        let d: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(d["headers"]["connection"], "keep-alive", "{d}");
    });
}

/// maxRequestBufferSize limits the request header block (500.1005) and node's response
/// header block (500.1012).
#[test]
fn max_request_buffer_size_limits_header_blocks() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    site.web_config(
        "hello.js",
        r#"maxRequestBufferSize="4096" devErrorsEnabled="false""#,
    );
    let server = site.serve();
    assert_eq!(server.get("/hello.js").status, 200);

    let big = "a".repeat(5000);
    let r = server.get_with("/hello.js", &[("x-big", big.as_str())]);
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.header("x-iisn-substatus"), Some("1005"));

    let r = server.get("/hello.js?bighead");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.header("x-iisn-substatus"), Some("1012"));
    assert_eq!(
        server.get("/hello.js").status,
        200,
        "the worker is still fine"
    );
}

/// Pooled connections to node: quick successive requests reuse one; a pooled connection
/// that node closed while it sat idle is not used, or is retried on a fresh one: no request
/// fails.
#[test]
fn pooled_connections_to_node_and_stale_ones() {
    let Some(site) = Site::new("keepalive") else {
        return;
    };
    let server = site.serve();
    // One client connection: it stays on one front thread, and the pools of connections to
    // node are per front thread.
    let mut client = server.conn();
    // "request <n> connection <count>"
    let mut answer = |target: &str| -> (u32, u32) {
        let r = server.block_on(async {
            client
                .send(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
                .await;
            client.read_response().await
        });
        let text = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(r.status, 200, "{text}");
        let words: Vec<&str> = text.split(' ').collect();
        match (words[1].parse(), words[3].parse()) {
            (Ok(n), Ok(c)) => (n, c),
            _ => panic!("unexpected answer {text:?}"),
        }
    };
    let (_, first) = answer("/hello.js");
    let (_, second) = answer("/hello.js");
    assert_eq!(
        first, second,
        "the second request reuses the pooled connection"
    );
    let mut last = second;
    for _ in 0..5 {
        let (n, c) = answer("/hello.js?drop");
        assert_eq!(c, last);
        // node has closed the connection iisn pooled.
        let dropped = format!("dropped {n}");
        server.wait_for_event(
            |e| crate::harness::is_output(e, "stdout", &dropped),
            TIMEOUT,
        );
        let (_, now) = answer("/hello.js");
        assert!(
            now > last,
            "a fresh connection after node closed the idle one: {last} then {now}"
        );
        last = now;
    }
}

/// Pipelined requests on one client connection are answered in order.
#[test]
fn pipelined_requests() {
    let Some(site) = Site::new("echo") else {
        return;
    };
    let server = site.serve();
    server.with_conn(async |c| {
        c.send(
            b"GET /echo.js/1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo.js HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\ntwoGET /echo.js/3 HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .await;
        for want in ["/echo.js/1", "two", "/echo.js/3"] {
            let r = c.read_response().await;
            assert_eq!((r.status, r.text()), (200, want.to_string()), "{}", r.head);
        }
    });
}

/// An HTTP/1.0 client gets a response it can read (no chunked encoding), then the close.
#[test]
fn http_1_0_client() {
    let Some(site) = Site::new("streaming") else {
        return;
    };
    let server = site.serve();
    let r = server.raw("GET /stream.js?onechunk HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    assert!(!r.chunked, "no chunked encoding for HTTP/1.0: {}", r.head);
    assert_eq!(r.text(), "chunked response");
}

/// C31: 200 requests over 20 concurrent connections to 4 workers: all succeed, and strict
/// round robin gives each worker exactly 50.
#[test]
fn parallel_fan_out_is_strictly_balanced() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config("hello.js", r#"nodeProcessCountPerApplication="4""#);
    let server = site.serve();
    server.wait_ready(4);
    let addr = server.addr();
    let pids = server.block_on_for(Duration::from_secs(30), async move {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                tokio::spawn(async move {
                    let mut c = Conn::connect(addr).await;
                    let mut pids = Vec::new();
                    for _ in 0..10 {
                        let r = c
                            .request(b"GET /hello.js HTTP/1.1\r\nHost: a\r\n\r\n")
                            .await;
                        assert_eq!(r.status, 200, "{}", r.head);
                        pids.push(
                            r.header("x-pid")
                                .and_then(|p| p.parse::<u32>().ok())
                                .expect("pid"),
                        );
                    }
                    pids
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        all
    });
    let mut counts = std::collections::BTreeMap::new();
    for p in pids {
        *counts.entry(p).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(counts.values().all(|n| *n == 50), "{counts:?}");
}

/// Sticky sessions rebuild node's header block: duplicate headers and their spelling survive.
#[test]
fn sticky_cookie_keeps_duplicate_headers() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    site.web_config("hello.js", r#"nodeProcessStickySessions="true""#);
    let server = site.serve();
    let r = get_raw(&server, "/hello.js?dup");
    let lines: Vec<&str> = r.head.lines().collect();
    assert!(
        lines.contains(&"Foo: Val1") && lines.contains(&"Foo: Val2"),
        "{}",
        r.head
    );
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.starts_with("iisnode.session.cookie=")),
        "{}",
        r.head
    );
}

/// iisnode-engine.md §3 (fix): node may close a pooled connection just as iisn sends the
/// next request on it (a Unix socket whose peer closed still accepts the write; the EOF only
/// shows on read). EOF or reset before any response byte on a pooled connection is retried on
/// a fresh one, so no request fails. node closes each connection 0-3 ms after answering here.
#[test]
fn pooled_connection_closed_by_node_mid_send_is_retried() {
    let Some(site) = Site::new("keepalive") else {
        return;
    };
    site.web_config("hello.js", r#"devErrorsEnabled="false""#);
    let server = site.serve();
    let addr = server.addr();
    let failures = server.block_on_for(Duration::from_secs(60), async move {
        let mut c = Conn::connect(addr).await;
        let mut failures = Vec::new();
        for i in 0..300 {
            let r = c
                .request(
                    format!(
                        "GET /hello.js?dropafter={} HTTP/1.1\r\nHost: a\r\n\r\n",
                        i % 4
                    )
                    .as_bytes(),
                )
                .await;
            if r.status != 200 {
                failures.push(format!(
                    "#{i}: {} {}",
                    r.status,
                    r.header("x-iisn-substatus").unwrap_or("")
                ));
            }
        }
        failures
    });
    assert!(
        failures.is_empty(),
        "{} of 300 requests failed: {failures:?}",
        failures.len()
    );
}

/// 118, with a client that sends X-Forwarded-For twice: IIS joins repeated headers into one
/// value before iisnode appends the client address, so every hop the client named survives.
#[test]
fn enable_xff_keeps_every_client_supplied_hop() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    site.web_config("hello.js", r#"enableXFF="true""#);
    let server = site.serve();
    let d = dump(
        &server,
        "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n",
    );
    let raw = raw_headers(&d);
    let xff = header_values(&raw, "x-forwarded-for");
    let joined = xff.join(", ");
    assert!(
        joined.contains("1.1.1.1") && joined.contains("2.2.2.2") && joined.ends_with("127.0.0.1"),
        "node saw X-Forwarded-For {xff:?}"
    );
}

/// Issue 10 §3: a request body with a malformed chunked encoding is the client's fault:
/// 400 (as http.sys answers), and the terminal says so instead of blaming node (500.1011).
#[test]
fn a_malformed_chunked_body_gets_400_and_the_client_is_blamed() {
    let Some(site) = Site::new("echo") else {
        return;
    };
    let server = site.serve();
    assert_eq!(server.get("/echo.js").status, 200);
    let from = server.mark();
    let r = server.raw_send(
        "POST /echo.js HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain",
        b"5\r\nhello\r\nzz\r\nnot a chunk\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400, "{}", r.head);
    let note = server.wait_for_event_after(
        from,
        |e| {
            crate::harness::is_event(e, "note")
                && e["text"].as_str().is_some_and(|t| t.contains("400"))
        },
        TIMEOUT,
    );
    let text = note["text"].as_str().unwrap_or_default();
    assert!(text.contains("client"), "{text}");
    assert!(
        !server.events().iter().skip(from).any(|e| {
            crate::harness::is_event(e, "warning")
                && e["text"].as_str().is_some_and(|t| t.contains("500"))
        }),
        "node must not be blamed:\n{}",
        server.transcript()
    );
    // The workers are fine: the next request is served.
    assert_eq!(server.get("/echo.js").status, 200);
}

/// What HTTP.sys refuses before IIS (and node) sees it gets HTTP.sys's own 400 page: a
/// request head over its 16 KiB default (MaxRequestBytes / MaxFieldLength, KB 820129), an
/// HTTP/1.1 request without a Host or with two, a target that is not a path. An
/// absolute-form target reaches node as its path and query, as iisnode forwards HTTP.sys's
/// cooked URL.
#[test]
fn http_sys_refuses_what_it_refuses_on_windows() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    let server = site.serve();
    let refused = |r: &crate::harness::RawResponse, why: &str| {
        assert_eq!(r.status, 400, "{}\n{}", r.head, r.text());
        assert_eq!(
            r.header("server"),
            Some("Microsoft-HTTPAPI/2.0"),
            "{}",
            r.head
        );
        assert!(r.text().contains(why), "{why}: {}", r.text());
    };
    // One header of 17,000 bytes, and many small ones adding up to more than 16 KiB.
    let big = "b".repeat(17_000);
    refused(
        &server.raw(&format!(
            "GET /hello.js?dump HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n"
        )),
        "Header Field Too Long",
    );
    let many: String = (0..40)
        .map(|i| format!("X-{i}: {}\r\n", "v".repeat(500)))
        .collect();
    refused(
        &server.raw(&format!(
            "GET /hello.js?dump HTTP/1.1\r\nHost: localhost\r\n{many}\r\n"
        )),
        "Request Header Too Long",
    );
    // Under the limit, node gets it.
    let fits = "b".repeat(15_000);
    let r = server.raw(&format!(
        "GET /hello.js?dump HTTP/1.1\r\nHost: localhost\r\nX-Big: {fits}\r\n\r\n"
    ));
    assert_eq!(r.status, 200, "{}", r.head);
    // Host: missing, twice, or not a host name.
    refused(
        &server.raw("GET /hello.js?dump HTTP/1.1\r\n\r\n"),
        "Invalid Hostname",
    );
    refused(
        &server.raw("GET /hello.js?dump HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        "Invalid Hostname",
    );
    refused(
        &server.raw("GET /hello.js?dump HTTP/1.1\r\nHost: a b\r\n\r\n"),
        "Invalid Hostname",
    );
    // HTTP/1.0 needs no Host.
    let r = server.raw("GET /hello.js?dump HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.head);
    // A target that is not a path; an absolute URL, which node sees as a path.
    refused(
        &server.raw("GET hello.js HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        "Invalid URL",
    );
    let r =
        server.raw("GET http://other.example:99/hello.js?dump HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.status, 200, "{}\n{}", r.head, r.text());
    let d: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    assert_eq!(d["url"], "/hello.js?dump", "{d}");
}

/// Regression (observed on IIS 10, MH21/MH43 and RL14): HTTP.sys answers a POST or PUT that
/// says nothing of its body's length with 411, and a target over 16 KiB with 414; iisn passed
/// the first to node (`curl -X POST` without data worked here and failed there) and answered
/// the second with the 400 of an oversized head.
#[test]
fn http_sys_wants_a_length_and_a_short_url() {
    let Some(site) = Site::new("headers") else {
        return;
    };
    let server = site.serve();
    let sys = |r: &crate::harness::RawResponse, status: u16, why: &str| {
        assert_eq!(r.status, status, "{}\n{}", r.head, r.text());
        assert_eq!(
            r.header("server"),
            Some("Microsoft-HTTPAPI/2.0"),
            "{}",
            r.head
        );
        assert_eq!(r.header("connection"), Some("close"), "{}", r.head);
        assert!(r.text().contains(why), "{why}: {}", r.text());
    };
    for method in ["POST", "PUT"] {
        sys(
            &server.raw(&format!(
                "{method} /hello.js?dump HTTP/1.1\r\nHost: localhost\r\n\r\n"
            )),
            411,
            "HTTP Error 411. The request must be chunked or have a content length.",
        );
        for framing in ["Content-Length: 0", "Transfer-Encoding: chunked\r\n\r\n0"] {
            let r = server.raw(&format!(
                "{method} /hello.js?dump HTTP/1.1\r\nHost: localhost\r\n{framing}\r\n\r\n"
            ));
            assert_eq!(r.status, 200, "{framing}: {}\n{}", r.head, r.text());
        }
    }
    let r = server.raw("DELETE /hello.js?dump HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.status, 200, "{}\n{}", r.head, r.text());

    let long = format!("/hello.js/{}", "segment/".repeat(2_500));
    sys(
        &server.raw(&format!("GET {long} HTTP/1.1\r\nHost: localhost\r\n\r\n")),
        414,
        "HTTP Error 414. The request URL is too long.",
    );
}

/// Regression: HTTP.sys accepts `%uNNNN` escapes by default (`PercentUAllowed` is 1, KB
/// 820129) and IIS works with the character; iisn answered 400 for any such URL.
#[test]
fn percent_u_escapes_are_decoded_as_http_sys_does() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("caf\u{e9}.txt", "coffee\n");
    let server = site.serve();
    let r = server.raw_get("/%u0068ello.js");
    assert_eq!(r.status, 200, "{}\n{}", r.head, r.text());
    let r = server.raw_get("/caf%u00E9.txt");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "coffee\n"),
        "{}",
        r.head
    );
    // Not an escape: still a 400.
    assert_eq!(server.raw_get("/caf%u00.txt").status, 400);
}
