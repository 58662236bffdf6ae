//! Several applications under one root, rule actions on the wire, request limits and error
//! handling.

use super::serve;
use crate::harness::Site;

#[test]
fn two_apps_under_one_root_have_separate_pools() {
    let Some(site) = Site::pipeline("two_apps") else {
        return;
    };
    let s = serve(&site, &[]);
    let a = s.raw_get("/app1/users?x=1").json();
    let b = s.raw_get("/app2/orders").json();
    assert_eq!(a["app"], "app1/server.js", "{}", s.transcript());
    assert_eq!(b["app"], "app2/server.js");
    assert_eq!(
        a["url"], "/app1/users?x=1",
        "node sees the full path, folder included"
    );
    assert_ne!(a["pid"], b["pid"], "one pool per script");
    let a2 = s.raw_get("/app1/again").json();
    assert_eq!(a["pid"], a2["pid"]);
    assert_eq!(s.raw_get("/index.html").status, 200);
    assert_eq!(s.raw_get("/app3/x").status, 404);
}

#[test]
fn rule_actions_on_the_wire() {
    let Some(site) = Site::pipeline("rules") else {
        return;
    };
    let s = serve(&site, &[]);
    // AbortRequest: the connection closes without a byte.
    let r = s.raw_get("/abort");
    assert_eq!(r.raw_len, 0, "{r:?}");
    // CustomResponse with its reason phrase.
    let r = s.raw_send("GET /gone HTTP/1.1", b"");
    assert_eq!(r.status, 410);
    assert!(r.text().contains("This page went away."), "{}", r.text());
    // Redirect: a whole URL with the client's host, and IIS's reason phrase for 302.
    let r = s.raw_get("/old/a/b?q=1");
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("http://127.0.0.1/new/a/b?q=1"))
    );
    assert!(
        r.head.starts_with("HTTP/1.1 302 Redirect\r\n"),
        "{}",
        r.head
    );
    // Rewrite to node with a header set by <serverVariables>, and customHeaders everywhere.
    let r = s.raw_get("/Some/Path");
    let v = r.json();
    assert_eq!(v["url"], "/Some/Path");
    assert_eq!(v["headers"]["x-from-rule"], "some/path");
    assert_eq!(r.header("x-site"), Some("iisn-test"));
    let r = s.raw_get("/static/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "static a\n"));
    assert_eq!(r.header("x-site"), Some("iisn-test"));
    assert_eq!(
        s.raw_get("/static/missing.txt").header("x-site"),
        Some("iisn-test")
    );
}

#[test]
fn oversized_bodies_get_413() {
    let Some(site) = Site::pipeline("rules") else {
        return;
    };
    let s = serve(&site, &[]);
    let r = s.raw_send(
        "POST /upload HTTP/1.1\r\nContent-Length: 1001",
        &[b'x'; 1001],
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("413.1"));
    let r = s.raw_send(
        "POST /upload HTTP/1.1\r\nContent-Length: 1000",
        &[b'x'; 1000],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["bodyLength"], 1000);
}

#[test]
fn http_errors_custom_pages_and_replace() {
    let Some(site) = Site::pipeline("rules") else {
        return;
    };
    let s = serve(&site, &[]);
    // errorMode="Custom": the site's 404 page, even for a loopback client.
    let r = s.raw_get("/replace/missing.txt");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("custom not found page"), "{}", r.text());
    // existingResponse="Replace": node's error body is replaced too.
    let r = s.raw_get("/replace/node.js/status/404");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("custom not found page"), "{}", r.text());
    assert!(!r.text().contains("node error body"));
    // Elsewhere node's error passes through: existingResponse="Auto" keeps a response with a
    // body for a local client (DetailedLocalOnly is Detailed for it: IIS's rule c).
    let r = s.raw_get("/status/500");
    assert_eq!((r.status, r.text().as_str()), (500, "node error body"));
}
