//! Failures: a node that cannot start, an app that dies at start-up, mid-run or mid-request.
//! iisnode's answers: the devErrorsEnabled page (HTTP 200) or a bare 5xx; never a hang.

use std::time::{Duration, Instant};

use crate::harness::{Site, TIMEOUT, is_event};

const DEV_PAGE: &str = "iisnode encountered an error when processing the request";

/// C25 / 112_dev_errors (on): a command that does not exist gives the developer page.
#[test]
fn spawn_failure_with_dev_errors() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.web_config("hello.js", r#"nodeProcessCommandLine="doesnotexist""#);
    let server = site.serve();
    let r = server.get("/hello.js");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    assert!(body.contains(DEV_PAGE), "{body}");
    assert!(body.contains("HTTP subStatus: 1000"), "{body}");
    assert!(
        body.contains("doesnotexist"),
        "the page names the command: {body}"
    );
    assert_eq!(r.header("cache-control"), Some("no-cache"));
}

/// C25 / 112_dev_errors (off): a bare 500.
#[test]
fn spawn_failure_without_dev_errors() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.web_config(
        "hello.js",
        r#"nodeProcessCommandLine="doesnotexist" devErrorsEnabled="false""#,
    );
    let server = site.serve();
    let r = server.get("/hello.js");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.header("x-iisn-substatus"), Some("1000"));
    assert!(!r.text().contains(DEV_PAGE));
}

/// C26 / 120_dev_errors_exception (on): the app throws before it listens. The answer comes
/// fast (no waiting out the connection-retry budget) and shows the HTML-escaped stderr.
#[test]
fn startup_crash_with_dev_errors() {
    let Some(site) = Site::new("startup_crash") else {
        return;
    };
    let server = site.serve();
    let t0 = Instant::now();
    let r = server.get("/hello.js");
    let took = t0.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    assert!(body.contains(DEV_PAGE), "{body}");
    assert!(body.contains("HTTP subStatus: 1002"), "{body}");
    assert!(
        body.contains("Application has thrown an uncaught exception and is terminated"),
        "{body}"
    );
    assert!(
        body.contains("Cannot find module &apos;idontexist&apos;"),
        "{body}"
    );
    assert!(
        body.contains("special characters: &quot;&amp;&lt;&gt;&apos;"),
        "escaped: {body}"
    );
    assert!(took < Duration::from_secs(5), "answered in {took:?}");
}

/// C26 (off): a bare 500.
#[test]
fn startup_crash_without_dev_errors() {
    let Some(site) = Site::new("startup_crash") else {
        return;
    };
    site.web_config("hello.js", r#"devErrorsEnabled="false""#);
    let server = site.serve();
    let t0 = Instant::now();
    let r = server.get("/hello.js");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.header("x-iisn-substatus"), Some("1002"));
    assert!(
        !r.text().contains("idontexist"),
        "no stderr without devErrorsEnabled"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "answered in {:?}",
        t0.elapsed()
    );
}

/// C28: an app that exits after answering /crash: iisn reports the exit, the slot restarts
/// on the next request routed to it, the other worker is untouched.
#[test]
fn crash_mid_run_then_recovery() {
    let Some(site) = Site::new("crash") else {
        return;
    };
    site.web_config("hello.js", r#"nodeProcessCountPerApplication="2""#);
    let server = site.serve();
    let a = server.get("/hello.js").pid(); // slot 2
    let b = server.get("/hello.js").pid(); // slot 1
    assert_ne!(a, b);

    let r = server.get("/hello.js/crash"); // slot 2 again
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("crashing {a}"));
    let exited = server.wait_for_event(|e| is_event(e, "exited") && e["pid"] == a, TIMEOUT);
    assert_eq!(exited["status"], "exit code 1", "{exited}");
    assert_eq!(exited["expected"], false, "{exited}");

    let mut seen = Vec::new();
    for _ in 0..10 {
        let r = server.get("/hello.js");
        assert_eq!(r.status, 200, "{}", r.text());
        seen.push(r.pid());
    }
    assert!(!seen.contains(&a), "the crashed process is gone: {seen:?}");
    assert_eq!(
        seen.iter().filter(|p| **p == b).count(),
        5,
        "the other slot keeps its process: {seen:?}"
    );
    let new: Vec<u32> = seen.iter().copied().filter(|p| *p != b).collect();
    assert!(
        new.iter().all(|p| *p == new[0]),
        "one new process in the crashed slot: {seen:?}"
    );
    assert_eq!(server.event_pids("spawned").len(), 3);
}

/// C29: the app dies after sending the headers and half the body: the client sees a
/// truncated response, not a hang, and the next request is served by a new process.
#[test]
fn crash_mid_request_does_not_hang() {
    let Some(site) = Site::new("crash") else {
        return;
    };
    let server = site.serve();
    let first = server.get("/hello.js").pid();

    let t0 = Instant::now();
    let addr = server.addr();
    let (head, rest) = server.block_on_for(Duration::from_secs(5), async move {
        let mut c = crate::harness::Conn::connect(addr).await;
        c.send(b"GET /hello.js/crash-mid HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await;
        let head = c.read_head().await;
        (head, c.read_to_end().await)
    });
    assert_eq!(head.status, 200, "{}", head.head);
    let rest = String::from_utf8_lossy(&rest).into_owned();
    assert!(rest.contains("half of the body"), "{rest:?}");
    assert!(
        !rest.ends_with("0\r\n\r\n"),
        "a truncated body must not look complete: {rest:?}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );

    server.wait_for_event(|e| is_event(e, "exited") && e["pid"] == first, TIMEOUT);
    let r = server.get("/hello.js");
    assert_eq!(r.status, 200);
    assert_ne!(r.pid(), first, "a new process");
}

/// The app dies before answering a request in flight: the answer is iisnode's error (dev
/// page), at once.
#[test]
fn worker_dies_with_a_request_in_flight() {
    let Some(site) = Site::new("crash") else {
        return;
    };
    let server = site.serve();
    let first = server.get("/hello.js").pid();
    let t0 = Instant::now();
    let r = server.get("/hello.js/die");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(r.status, 200, "dev page: {}", r.text());
    assert!(r.text().contains(DEV_PAGE), "{}", r.text());

    server.wait_for_event(|e| is_event(e, "exited") && e["pid"] == first, TIMEOUT);
    let r = server.get("/hello.js");
    assert_eq!(r.status, 200);
    assert_ne!(r.pid(), first);
}

/// C27: an app that never listens fails each request after the connection-retry budget
/// (5 x 100 ms here) with 500.1001, and no sooner.
#[test]
fn app_that_never_listens() {
    let Some(site) = Site::new("late_listen") else {
        return;
    };
    let server = site.serve();
    let t0 = Instant::now();
    let r = server.get("/never/never.js");
    let took = t0.elapsed();
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.header("x-iisn-substatus"), Some("1001"));
    assert!(
        took >= Duration::from_millis(400),
        "the budget is waited out: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// A worker that starts listening late is used as soon as its socket appears, not after the
/// next retry (3 s apart here).
#[test]
fn late_listener_is_noticed_at_once() {
    let Some(site) = Site::new("late_listen") else {
        return;
    };
    let server = site.serve();
    let t0 = Instant::now();
    let r = server.get("/late/late.js");
    let took = t0.elapsed();
    assert_eq!((r.status, r.text()), (200, "late but here".to_string()));
    assert!(
        took < Duration::from_millis(2500),
        "the 3 s retry delay was slept out: {took:?}"
    );
}

/// iisn warns about a crash loop (more than 5 exits in 10 s) instead of spinning silently.
#[test]
fn crash_loop_warning() {
    let Some(site) = Site::new("startup_crash") else {
        return;
    };
    let server = site.serve();
    for _ in 0..7 {
        assert_eq!(server.get("/hello.js").status, 200);
    }
    let w = server.wait_for_event(
        |e| is_event(e, "warning") && e["text"].as_str().is_some_and(|t| t.contains("crash")),
        TIMEOUT,
    );
    assert!(
        w["text"].as_str().unwrap_or_default().contains("hello.js"),
        "{w}"
    );
}

/// With logging off, the developer page cannot show stderr and says how to get it.
#[test]
fn startup_crash_dev_page_without_logging() {
    let Some(site) = Site::new("startup_crash") else {
        return;
    };
    site.web_config("hello.js", r#"loggingEnabled="false""#);
    let server = site.serve();
    let r = server.get("/hello.js");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(DEV_PAGE), "{}", r.text());
    assert!(r.text().contains("loggingEnabled"), "{}", r.text());
    assert!(!site.path("iisnode").exists());
}
