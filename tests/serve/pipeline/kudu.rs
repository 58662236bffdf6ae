//! The Kudu template end to end: public/ served statically, everything else to server.js,
//! conditional GET and ranges, hidden content, traversal attempts.

use super::serve;
use crate::harness::Site;

#[test]
fn kudu_static_content_and_node() {
    let Some(site) = Site::pipeline("kudu") else {
        return;
    };
    let s = serve(&site, &[]);
    let css = s.raw_get("/css/site.css");
    assert_eq!(css.status, 200, "{}", s.transcript());
    assert_eq!(css.text(), "body { color: #333; }\n");
    assert_eq!(css.header("content-type"), Some("text/css"));
    assert_eq!(
        s.raw_get("/index.html").text(),
        "<!doctype html><title>public index</title>\n"
    );

    // Everything else reaches node, which sees the URL the client sent.
    let r = s.raw_get("/api/users%20x?x=1&y=%2F");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["url"], "/api/users%20x?x=1&y=%2F");
    assert_eq!(
        v["originalUrl"], "/api/users%20x?x=1&y=%2F",
        "X-Original-URL after a rewrite"
    );
    assert_eq!(v["app"], "server.js");
    // A client's own X-Original-URL chooses nothing: iisnode would hand node that URL (the
    // known bypass of request filtering and rules); URL Rewrite's rewrite replaces it.
    let r = s.raw_get_with("/api/x", &["X-Original-URL: /web.config"]);
    let v = r.json();
    assert_eq!(v["url"], "/api/x");
    assert_eq!(v["originalUrl"], "/api/x");
    assert_eq!(s.raw_get("/").json()["url"], "/");
    // Node's own 404 passes through (existingResponse="PassThrough").
    let r = s.raw_get("/status/404");
    assert_eq!((r.status, r.text().as_str()), (404, "node error body"));
    // iisnode's debugger path: NodeInspector stops rule processing, and iisnode's debugger
    // (debuggingEnabled defaults to true) adds the trailing slash (DECISIONS.md §20).
    let r = s.raw_get("/server.js/debug");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/server.js/debug/"));
    // Request bodies stream to node.
    let r = s.raw_send("POST /api/items HTTP/1.1\r\nContent-Length: 5", b"hello");
    assert_eq!(r.json()["bodyLength"], 5);
}

#[test]
fn static_files_conditional_get_ranges_and_head() {
    let Some(site) = Site::pipeline("kudu") else {
        return;
    };
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    site.write_bytes("public/big.bin", &data);
    site.write_bytes("web.config", std::fs::read_to_string(site.path("web.config")).expect("read").replace(
        "<httpErrors existingResponse=\"PassThrough\" />",
        "<httpErrors existingResponse=\"PassThrough\" />\n    <staticContent><remove fileExtension=\".bin\" /><mimeMap fileExtension=\".bin\" mimeType=\"application/octet-stream\" /><clientCache cacheControlMode=\"UseMaxAge\" cacheControlMaxAge=\"01:00:00\" /></staticContent>",
    ).as_bytes());
    let s = serve(&site, &[]);
    let full = s.raw_get("/big.bin");
    assert_eq!(full.status, 200, "{}", s.transcript());
    assert_eq!(full.body, data, "streamed whole");
    assert_eq!(full.header("content-length"), Some("200000"));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert_eq!(full.header("cache-control"), Some("max-age=3600"));
    let etag = full.header("etag").expect("etag").to_string();
    let lm = full
        .header("last-modified")
        .expect("last-modified")
        .to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with(":0\""),
        "IIS-style ETag {etag}"
    );

    let r = s.raw_get_with("/big.bin", &[&format!("If-None-Match: {etag}")]);
    assert_eq!((r.status, r.body.len()), (304, 0));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = s.raw_get_with("/big.bin", &[&format!("If-Modified-Since: {lm}")]);
    assert_eq!(r.status, 304);
    let r = s.raw_get_with("/big.bin", &["If-None-Match: \"other:0\""]);
    assert_eq!(r.status, 200);

    // If-Match / If-Unmodified-Since: 412 when false, checked before If-None-Match (RFC
    // 9110 §13.2.2); the comparison is strong, and `*` matches any existing file.
    let r = s.raw_get_with("/big.bin", &["If-Match: \"other:0\""]);
    assert_eq!((r.status, r.body.len()), (412, 0), "{}", r.text());
    let r = s.raw_get_with("/big.bin", &[&format!("If-Match: W/{etag}")]);
    assert_eq!(r.status, 412, "a weak tag never matches strongly");
    let r = s.raw_get_with(
        "/big.bin",
        &["If-Match: \"other:0\"", &format!("If-None-Match: {etag}")],
    );
    assert_eq!(r.status, 412, "If-Match comes before If-None-Match");
    let r = s.raw_get_with("/big.bin", &[&format!("If-Match: \"x:0\", {etag}")]);
    assert_eq!((r.status, r.body.len()), (200, 200_000));
    let r = s.raw_get_with("/big.bin", &["If-Match: *"]);
    assert_eq!(r.status, 200);
    let r = s.raw_get_with(
        "/big.bin",
        &[&format!("If-Match: {etag}"), "Range: bytes=0-9"],
    );
    assert_eq!(r.status, 206, "a true If-Match lets the range through");
    let r = s.raw_get_with(
        "/big.bin",
        &["If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT"],
    );
    assert_eq!(r.status, 412, "the file changed after the date");
    let r = s.raw_get_with("/big.bin", &[&format!("If-Unmodified-Since: {lm}")]);
    assert_eq!(r.status, 200);
    let r = s.raw_get_with(
        "/big.bin",
        &[
            "If-Match: *",
            "If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT",
        ],
    );
    assert_eq!(
        r.status, 200,
        "If-Unmodified-Since is ignored with If-Match"
    );
    let r = s.raw_send("HEAD /big.bin HTTP/1.1\r\nIf-Match: \"other:0\"", b"");
    assert_eq!((r.status, r.body.len()), (412, 0), "HEAD too");

    let r = s.raw_get_with("/big.bin", &["Range: bytes=100-199"]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/200000"));
    assert_eq!(r.body, &data[100..200]);
    let r = s.raw_get_with("/big.bin", &["Range: bytes=-10"]);
    assert_eq!((r.status, r.body.as_slice()), (206, &data[199_990..]));
    let r = s.raw_get_with("/big.bin", &["Range: bytes=300000-"]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */200000"));
    let r = s.raw_get_with("/big.bin", &["Range: bytes=0-9", "If-Range: \"stale:0\""]);
    assert_eq!(
        (r.status, r.body.len()),
        (200, 200_000),
        "a stale If-Range gets the whole file"
    );
    let r = s.raw_get_with(
        "/big.bin",
        &["Range: bytes=0-9", &format!("If-Range: {etag}")],
    );
    assert_eq!(r.status, 206);

    let r = s.raw_send("HEAD /big.bin HTTP/1.1", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("200000"));
    assert!(r.body.is_empty());
}

#[test]
fn hidden_segments_and_denied_extensions_never_serve_content() {
    let Some(site) = Site::pipeline("kudu") else {
        return;
    };
    let s = serve(&site, &[]);
    for (target, secret) in [
        ("/web.config", "<configuration"),
        ("/WEB.CONFIG", "<configuration"),
        ("/App_Data/secret.txt", "SECRET"),
        ("/app_data/secret.txt", "SECRET"),
        ("/app.config", "<configuration"),
        ("/iisnode.yml", "SECRET"),
        ("/.env", "SECRET"),
    ] {
        let r = s.raw_get(target);
        assert_eq!(r.status, 404, "{target}: {}", r.text());
        assert!(!r.text().contains(secret), "{target} leaked: {}", r.text());
    }
    // public/public/.env does not exist, so the Kudu rules send this one to node: no content.
    let r = s.raw_get("/public/.env");
    assert!(!r.text().contains("SECRET"), "{}", r.text());
    // Kudu's existingResponse="PassThrough" leaves IIS's own errors without a page, as IIS
    // does; the sub-status is in the log line (and iisn's x-iisn-substatus header).
    let r = s.raw_get("/web.config");
    assert_eq!((r.status, r.text().as_str()), (404, ""));
    assert_eq!(r.header("x-iisn-substatus"), Some("8"));
    assert_eq!(
        s.raw_get("/app.config").header("x-iisn-substatus"),
        Some("7")
    );
}

#[test]
fn traversal_attempts_never_escape_the_site() {
    let Some(site) = Site::pipeline("kudu") else {
        return;
    };
    std::fs::write(site.outside().join("outside-secret.txt"), "OUTSIDE-SECRET").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(site.outside(), site.path("public/escape")).expect("symlink");
    let s = serve(&site, &[]);
    for target in [
        "/../outside-secret.txt",
        "/%2e%2e/outside-secret.txt",
        "/%2E%2E%2Foutside-secret.txt",
        "/public/..%2f..%2foutside-secret.txt",
        "/%252e%252e/outside-secret.txt",
        "/%252e%252e%252foutside-secret.txt",
        "/..%5c..%5coutside-secret.txt",
        "/public%5c..%5c..%5coutside-secret.txt",
        "/..\\..\\outside-secret.txt",
        "/%00/../outside-secret.txt",
        "/escape/outside-secret.txt",
        "/public/escape/outside-secret.txt",
        "/escape/site/web.config",
    ] {
        let r = s.raw_get(target);
        assert!(
            !r.text().contains("OUTSIDE-SECRET") && !r.text().contains("<configuration>"),
            "{target} leaked ({}): {}",
            r.status,
            r.text()
        );
        assert!(
            r.status >= 400 || r.json().get("url").is_some(),
            "{target}: {} {}",
            r.status,
            r.text()
        );
    }
}
