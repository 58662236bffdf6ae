//! `<httpErrors>` on the wire: which error responses IIS replaces (`existingResponse`), and
//! what a custom error page may send (`responseMode`).
//!
//! The fixture (`tests/fixtures/sites/http_errors`) has `errorMode="Custom"` at the root;
//! `app.js` answers errors of every shape (JSON with a length, chunked, empty), and each
//! sub-folder's web.config sets one 404 page. A loopback client counts as local, so the
//! `DetailedLocalOnly` cases use the local client and the `Custom` cases set the mode.

use std::time::Duration;

use crate::harness::{Server, Site, is_event};

fn serve(site: &Site) -> Server {
    site.iisn().arg("--no-watch").start()
}

/// The root web.config with another `<httpErrors>` element.
fn root_http_errors(site: &Site, http_errors: &str) {
    site.write(
        "web.config",
        &format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="app.js" verb="*" modules="iisnode" />
    </handlers>
    {http_errors}
  </system.webServer>
</configuration>
"#
        ),
    );
}

/// existingResponse="Auto" under errorMode Custom (IIS's rule b): node's error response is
/// replaced by the custom page, with node's status; iisnode issues #291, #295, #325.
#[test]
fn auto_replaces_node_errors_under_custom_mode() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    let s = serve(&site);
    let r = s.raw_get("/app.js/json400");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("custom 400 page"), "{}", r.text());
    assert!(!r.text().contains("node says"), "{}", r.text());
    // A chunked body is replaced too: without flushResponse iisnode buffers it.
    let r = s.raw_get("/app.js/chunked400");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("custom 400 page"), "{}", r.text());
    // With flushResponse="true" iisnode flushes each chunk as it comes, and IIS replaces
    // what the first flush carries, node's first chunk: the page, then node's later chunks
    // (observed on IIS 10), chunked, with the page's type. It passed node's body through.
    let r = s.raw_get("/flush/app.js/chunked400");
    assert_eq!(r.status, 400, "{}", r.head);
    assert!(r.chunked, "{}", r.head);
    assert_eq!(r.header("content-length"), None, "{}", r.head);
    assert_eq!(r.header("content-type"), Some("text/html"), "{}", r.head);
    let text = r.text();
    assert!(text.starts_with("<h1>custom 400 page</h1>"), "{text}");
    assert!(text.ends_with("node chunk two"), "{text}");
    assert!(!text.contains("node chunk one"), "{text}");
    // A chunked response without data was never flushed: replaced whole.
    let r = s.raw_get("/flush/app.js/chunkedempty400");
    assert_eq!(r.status, 400, "{}", r.head);
    assert_eq!(
        r.text().trim_end(),
        "<h1>custom 400 page</h1>",
        "{}",
        r.head
    );
    // ... but a response with a length is still replaced there.
    let r = s.raw_get("/flush/app.js/json400");
    assert!(r.text().contains("custom 400 page"), "{}", r.text());
    // Without an <error> entry for the status: IIS's built-in sentence (what Azure's users
    // see), never node's body.
    let r = s.raw_get("/app.js/empty500");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "The page cannot be displayed because an internal server error has occurred."
    );
    assert_eq!(r.header("content-type"), Some("text/html"));
    // Node's other responses are untouched.
    let r = s.raw_get("/app.js/fine");
    assert_eq!((r.status, r.text().as_str()), (200, "ok /app.js/fine"));
}

/// existingResponse="Auto" under the detailed mode (the default DetailedLocalOnly for a
/// loopback client, and Detailed): a response with a body passes (rule c), one without is
/// replaced by the detailed page (rule d).
#[test]
fn auto_keeps_node_error_bodies_under_detailed_mode() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    for http_errors in ["", r#"<httpErrors errorMode="Detailed" />"#] {
        root_http_errors(&site, http_errors);
        let s = serve(&site);
        let r = s.raw_get("/app.js/json400");
        assert_eq!(
            (r.status, r.text().as_str()),
            (400, r#"{"error":"node says bad request"}"#),
            "{http_errors}"
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        let r = s.raw_get("/app.js/chunked400");
        assert_eq!(
            (r.status, r.text().as_str()),
            (400, "node chunk one, node chunk two")
        );
        // A chunked body with no data is no body either (rule d).
        let r = s.raw_get("/app.js/chunkedempty404");
        assert_eq!(r.status, 404, "{http_errors}");
        assert!(r.text().contains("HTTP Error 404"), "{}", r.text());
        // No body (Content-Length: 0): IIS's detailed page, naming iisnode.
        let r = s.raw_get("/app.js/empty500");
        assert_eq!(r.status, 500, "{http_errors}");
        assert!(r.text().contains("HTTP Error 500"), "{}", r.text());
        assert!(r.text().contains("iisnode"), "{}", r.text());
        assert!(r.text().contains("/app.js/empty500"), "{}", r.text());
    }
}

/// existingResponse="PassThrough" (the Kudu template) never touches node's responses.
#[test]
fn pass_through_keeps_every_node_response() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    root_http_errors(
        &site,
        r#"<httpErrors errorMode="Custom" existingResponse="PassThrough" />"#,
    );
    let s = serve(&site);
    let r = s.raw_get("/app.js/json400");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"error":"node says bad request"}"#)
    );
    let r = s.raw_get("/app.js/empty500");
    assert_eq!((r.status, r.text().as_str()), (500, ""));
}

/// An ExecuteURL error page that an iisnode handler maps is never sent as the script's
/// source: IIS would run it, iisn answers the stock page and says why once.
#[test]
fn execute_url_to_a_node_script_never_sends_its_source() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    let s = serve(&site);
    for url in ["/missing.txt", "/missing.txt", "/exec/missing.txt"] {
        let r = s.raw_get(url);
        assert_eq!(r.status, 404, "{url}");
        assert!(!r.text().contains("SOURCE-MARKER"), "{url}: {}", r.text());
        assert_ne!(r.header("content-type"), Some("application/javascript"));
        assert!(
            r.text()
                .contains("The resource you are looking for has been removed"),
            "{url}: {}",
            r.text()
        );
    }
    let said = |e: &serde_json::Value| {
        is_event(e, "warning")
            && e["text"]
                .as_str()
                .is_some_and(|t| t.contains("ExecuteURL") && t.contains("exec/server.js"))
    };
    s.wait_for_event(said, Duration::from_secs(10));
    assert_eq!(
        s.events().iter().filter(|e| said(e)).count(),
        1,
        "said once: {}",
        s.transcript()
    );
    // An ExecuteURL page that handler mapping sends to StaticFile is served as IIS's child
    // request answers it: the StaticFile handler's 200, not the 404 (responseMode="File"
    // keeps the error status).
    let r = s.raw_get("/static-exec/missing.txt");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.text(), "<h1>custom 404 page</h1>\n");
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(r.header("etag").is_some(), "{}", r.head);
    assert!(r.header("last-modified").is_some(), "{}", r.head);
    assert_eq!(r.header("x-iisn-substatus"), None, "{}", r.head);
}

/// A File error page is sent only when a request for it would be served as a static file:
/// not web.config, a script iisnode maps, iisnode.yml, or a file outside the site.
#[test]
fn file_error_pages_never_send_what_iis_would_refuse() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    std::fs::write(site.outside().join("outside.html"), "OUTSIDE-MARKER").expect("write");
    let s = serve(&site);
    for (folder, marker) in [
        ("file-config", "<configuration>"),
        ("file-js", "SOURCE-MARKER"),
        ("file-yml", "SECRET-YML-MARKER"),
        ("file-outside", "OUTSIDE-MARKER"),
    ] {
        let r = s.raw_get(&format!("/{folder}/missing.txt"));
        assert_eq!(r.status, 404, "{folder}");
        assert!(!r.text().contains(marker), "{folder}: {}", r.text());
        assert!(
            r.text()
                .contains("The resource you are looking for has been removed"),
            "{folder}: {}",
            r.text()
        );
    }
}

/// responseMode="Redirect": IIS answers 302 with Location, not the error status, in the
/// shape of its other redirects: `302 Redirect`, the site-relative path made absolute
/// against the Host, the "Object Moved" page.
#[test]
fn redirect_error_pages_answer_302() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    let s = serve(&site);
    let r = s.raw_get("/redirect/missing.txt");
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("http://127.0.0.1/errors/404.html")),
        "{}",
        r.head
    );
    assert!(
        r.head.starts_with("HTTP/1.1 302 Redirect\r\n"),
        "{}",
        r.head
    );
    assert_eq!(
        r.header("content-type"),
        Some("text/html; charset=UTF-8"),
        "{}",
        r.head
    );
    assert!(r.text().contains("Object Moved"), "{}", r.text());
    let r = s.raw_get("/errors/404.html");
    assert_eq!(r.status, 200);
}

/// A custom page that answers with another status is logged as IIS logs it: the ExecuteURL
/// page's 200 and the Redirect's 302, without the error's sub-status; the stock page keeps
/// the error's status and sub-status (404.8 for web.config).
#[test]
fn custom_pages_are_logged_with_the_status_sent() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    let s = site.iisn().arg("--no-watch").arg("-v").start();
    for (url, status, substatus) in [
        ("/static-exec/web.config", 200, 0),
        ("/redirect/missing.txt", 302, 0),
        ("/web.config", 404, 8),
    ] {
        assert_eq!(s.raw_get(url).status, status, "{url}");
        let e = s.wait_for_event(
            |e| is_event(e, "request") && e["url"] == url,
            Duration::from_secs(10),
        );
        assert_eq!(
            (e["status"].as_u64(), e["substatus"].as_u64()),
            (Some(u64::from(status)), Some(substatus)),
            "{e}"
        );
    }
}

/// A File error page is the CustomErrorModule's entity: the error status and the file's
/// type, without the StaticFile handler's validators or `<clientCache>` headers (a 404 with
/// `max-age` and `Last-Modified` would be kept by caches).
#[test]
fn file_error_pages_carry_no_caching_headers() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    root_http_errors(
        &site,
        r#"<staticContent><clientCache cacheControlMode="UseMaxAge" /></staticContent>
    <httpErrors errorMode="Custom">
      <remove statusCode="404" />
      <error statusCode="404" path="errors\404.html" responseMode="File" />
    </httpErrors>"#,
    );
    let s = serve(&site);
    let r = s.raw_get("/missing.txt");
    assert_eq!(r.status, 404, "{}", r.head);
    assert_eq!(r.text(), "<h1>custom 404 page</h1>\n");
    assert_eq!(r.header("content-type"), Some("text/html"));
    for name in ["etag", "last-modified", "accept-ranges", "cache-control"] {
        assert_eq!(r.header(name), None, "{name}: {}", r.head);
    }
    // The page itself, requested, is a static file like any other.
    let r = s.raw_get("/errors/404.html");
    assert_eq!(
        r.header("cache-control"),
        Some("max-age=86400"),
        "{}",
        r.head
    );
    assert!(r.header("etag").is_some(), "{}", r.head);
}

/// IIS's error pages exist for 400 and above: a URL Rewrite CustomResponse answering 200 (a
/// health check) or a 204 sends its status and reason with nothing in the body, while one
/// answering 403 gets the error page.
#[test]
fn custom_responses_below_400_have_no_page() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    site.write(
        "web.config",
        r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="app.js" verb="*" modules="iisnode" /></handlers>
  <rewrite><rules>
    <rule name="health" stopProcessing="true"><match url="^health$" /><action type="CustomResponse" statusCode="200" statusReason="Alive" statusDescription="fine" /></rule>
    <rule name="empty" stopProcessing="true"><match url="^empty$" /><action type="CustomResponse" statusCode="204" /></rule>
    <rule name="closed" stopProcessing="true"><match url="^closed$" /><action type="CustomResponse" statusCode="403" statusReason="Forbidden" statusDescription="closed" /></rule>
  </rules></rewrite>
</system.webServer></configuration>"#,
    );
    let s = serve(&site);
    let r = s.raw_get("/health");
    assert_eq!((r.status, r.text().as_str()), (200, ""), "{}", r.head);
    assert!(r.head.starts_with("HTTP/1.1 200 Alive\r\n"), "{}", r.head);
    assert_eq!(r.header("content-length"), Some("0"), "{}", r.head);
    let r = s.raw_get("/empty");
    assert_eq!((r.status, r.text().as_str()), (204, ""), "{}", r.head);
    let r = s.raw_get("/closed");
    assert_eq!(r.status, 403);
    assert!(r.text().contains("HTTP Error 403"), "{}", r.text());
}

/// IIS reads `<httpErrors>` only for responses with an error status: a second `<error
/// statusCode="404">` without `<remove>` (IIS's server configuration already has one) makes
/// every error response 500.19 ("Cannot add duplicate collection entry"), node's included,
/// while pages that succeed keep serving (IISN1011).
#[test]
fn a_duplicate_error_row_fails_error_responses_only() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    root_http_errors(
        &site,
        r#"<httpErrors errorMode="Detailed"><error statusCode="404" path="/errors/404.html" responseMode="ExecuteURL" /></httpErrors>"#,
    );
    site.write("page.txt", "a page\n");
    let s = serve(&site);
    let r = s.raw_get("/page.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "a page\n"));
    let r = s.raw_get("/app.js/fine");
    assert_eq!((r.status, r.text().as_str()), (200, "ok /app.js/fine"));
    for url in ["/missing.txt", "/app.js/json400"] {
        let r = s.raw_get(url);
        assert_eq!(r.status, 500, "{url}: {}", r.text());
        assert_eq!(r.header("x-iisn-substatus"), Some("19"), "{url}");
        let text = r.text();
        assert!(text.contains("HTTP Error 500.19"), "{url}: {text}");
        assert!(text.contains("IISN1011"), "{url}: {text}");
        assert!(!text.contains("node says"), "{url}: {text}");
    }
}

/// Under existingResponse="PassThrough" (Kudu's template) IIS's own error responses go out
/// without a page as well: a missing file is a bare 404, request filtering's 404.8 too.
/// A configuration error's 500.19 still shows its page.
#[test]
fn pass_through_sends_iis_errors_without_a_page() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    root_http_errors(&site, r#"<httpErrors existingResponse="PassThrough" />"#);
    let s = serve(&site);
    for (url, sub) in [("/missing.txt", "0"), ("/web.config", "8")] {
        let r = s.raw_get(url);
        assert_eq!(
            (r.status, r.text().as_str()),
            (404, ""),
            "{url}: {}",
            r.head
        );
        assert_eq!(r.header("content-length"), Some("0"), "{url}: {}", r.head);
        let sub = (sub != "0").then_some(sub);
        assert_eq!(r.header("x-iisn-substatus"), sub, "{url}");
    }
    site.write("broken/web.config", "<configuration><system.webServer>");
    site.write("broken/a.txt", "a");
    let r = s.raw_get("/broken/a.txt");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("HTTP Error 500.19"), "{}", r.text());
}

/// Request filtering's refusals close the connection on IIS (`Connection: close`), whatever
/// page goes with them; other errors keep it open.
#[test]
fn request_filtering_refusals_close_the_connection() {
    let Some(site) = Site::new("http_errors") else {
        return;
    };
    root_http_errors(&site, "");
    let s = serve(&site);
    s.with_conn(async |c| {
        c.send(b"GET /missing.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        let r = c.read_response().await;
        assert_eq!(r.status, 404);
        assert_eq!(r.header("connection"), None, "{}", r.head);
        c.send(b"GET /web.config HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        let r = c.read_response().await;
        assert_eq!(r.status, 404);
        assert_eq!(r.header("connection"), Some("close"), "{}", r.head);
        assert!(c.read_to_end().await.is_empty(), "the connection is closed");
    });
}
