//! Several applications under one root, rule actions on the wire, request limits and error
//! handling.

use crate::harness::Site;

#[test]
fn two_apps_under_one_root_have_separate_pools() {
    let Some(site) = Site::new("two_apps") else {
        return;
    };
    let s = site.serve(&[]);
    let a = s.get("/app1/users?x=1").json();
    let b = s.get("/app2/orders").json();
    assert_eq!(a["app"], "app1/server.js", "{}", s.transcript());
    assert_eq!(b["app"], "app2/server.js");
    assert_eq!(
        a["url"], "/app1/users?x=1",
        "node sees the full path, folder included"
    );
    assert_ne!(a["pid"], b["pid"], "one pool per script");
    let a2 = s.get("/app1/again").json();
    assert_eq!(a["pid"], a2["pid"]);
    assert_eq!(s.get("/index.html").status, 200);
    assert_eq!(s.get("/app3/x").status, 404);
}

#[test]
fn rule_actions_on_the_wire() {
    let Some(site) = Site::new("rules") else {
        return;
    };
    let s = site.serve(&[]);
    // AbortRequest: the connection closes without a byte.
    let r = s.get("/abort");
    assert_eq!(r.raw_len, 0, "{r:?}");
    // CustomResponse with its reason phrase.
    let r = s.send("GET /gone HTTP/1.1", b"");
    assert_eq!(r.status, 410);
    assert!(r.text().contains("This page went away."), "{}", r.text());
    // Redirect.
    let r = s.get("/old/a/b?q=1");
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("/new/a/b?q=1"))
    );
    // Rewrite to node with a header set by <serverVariables>, and customHeaders everywhere.
    let r = s.get("/Some/Path");
    let v = r.json();
    assert_eq!(v["url"], "/Some/Path");
    assert_eq!(v["headers"]["x-from-rule"], "some/path");
    assert_eq!(r.header("x-site"), Some("iisn-test"));
    let r = s.get("/static/a.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "static a\n"));
    assert_eq!(r.header("x-site"), Some("iisn-test"));
    assert_eq!(
        s.get("/static/missing.txt").header("x-site"),
        Some("iisn-test")
    );
}

#[test]
fn oversized_bodies_get_413() {
    let Some(site) = Site::new("rules") else {
        return;
    };
    let s = site.serve(&[]);
    let r = s.send(
        "POST /upload HTTP/1.1\r\nContent-Length: 1001",
        &[b'x'; 1001],
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("413.1"));
    let r = s.send(
        "POST /upload HTTP/1.1\r\nContent-Length: 1000",
        &[b'x'; 1000],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["bodyLength"], 1000);
}

#[test]
fn http_errors_custom_pages_and_replace() {
    let Some(site) = Site::new("rules") else {
        return;
    };
    let s = site.serve(&[]);
    // errorMode="Custom": the site's 404 page, even for a loopback client.
    let r = s.get("/replace/missing.txt");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("custom not found page"), "{}", r.text());
    // existingResponse="Replace": node's error body is replaced too.
    let r = s.get("/replace/node.js/status/404");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("custom not found page"), "{}", r.text());
    assert!(!r.text().contains("node error body"));
    // Elsewhere node's error passes through (existingResponse="Auto").
    let r = s.get("/status/500");
    assert_eq!((r.status, r.text().as_str()), (500, "node error body"));
}
