//! Balancing: strict round robin, the per-process concurrency limit, sticky sessions.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::Request;

use crate::harness::{Site, TIMEOUT, fetch, full, is_output};

/// C23 / 114_roundrobin: two workers answer 1,1,2,2 (the first request goes to slot 1).
#[test]
fn round_robin_over_two_workers() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config("hello.js", r#"nodeProcessCountPerApplication="2""#);
    let server = site.serve();
    let mut bodies = Vec::new();
    let mut pids = Vec::new();
    for _ in 0..4 {
        let r = server.get("/hello.js");
        assert_eq!(r.status, 200);
        bodies.push(r.text());
        pids.push(r.pid());
    }
    assert_eq!(
        bodies,
        [
            "Hello, world 1",
            "Hello, world 1",
            "Hello, world 2",
            "Hello, world 2"
        ]
    );
    assert_ne!(pids[0], pids[1], "{pids:?}");
    assert_eq!(
        (pids[0], pids[1]),
        (pids[2], pids[3]),
        "strict alternation: {pids:?}"
    );
    let spawned: BTreeSet<u32> = server.event_pids("spawned").into_iter().collect();
    assert_eq!(
        spawned,
        pids.iter().copied().collect(),
        "exactly the two spawned workers answer"
    );
}

/// C30: maxConcurrentRequestsPerProcess="2": a third parallel request gets 503 at once (no
/// queue); the held ones then finish, and later requests succeed.
#[test]
fn concurrency_limit_gives_an_immediate_503() {
    let Some(site) = Site::new("slow") else {
        return;
    };
    let server = site.serve();
    let addr = server.addr();
    let get = move |target: &'static str| {
        let req = Request::get(target)
            .body(full(Bytes::new()))
            .expect("request");
        fetch(addr, req)
    };
    let held_a = server.rt().spawn(get("/slow.js?hold=a"));
    let held_b = server.rt().spawn(get("/slow.js?hold=b"));
    // Both are in node (it printed so) before the third is sent.
    server.wait_for_event(|e| is_output(e, "stdout", "holding a"), TIMEOUT);
    server.wait_for_event(|e| is_output(e, "stdout", "holding b"), TIMEOUT);

    // Answered while the other two are still held: "at once" needs no clock.
    let third = server.get("/slow.js");
    assert_eq!(third.status, 503, "{}", third.text());
    assert_eq!(third.header("x-iisn-substatus"), Some("1002"));
    assert!(
        !held_a.is_finished() && !held_b.is_finished(),
        "the held requests are still in flight"
    );

    std::fs::write(site.path("a"), "").expect("release a");
    std::fs::write(site.path("b"), "").expect("release b");
    let a = server.block_on(held_a).expect("task");
    let b = server.block_on(held_b).expect("task");
    assert_eq!((a.status, a.text()), (200, "released a".to_string()));
    assert_eq!((b.status, b.text()), (200, "released b".to_string()));
    for _ in 0..3 {
        let r = server.get("/slow.js");
        assert_eq!((r.status, r.text()), (200, "fast".to_string()));
    }
}

fn session_cookie(r: &crate::harness::Resp) -> Option<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("iisnode.session.cookie="))
        .map(|v| v.split(';').next().unwrap_or(v).to_string())
}

/// C32: nodeProcessStickySessions: the first response sets iisnode's cookie; replaying it
/// pins one process; requests without it still rotate.
#[test]
fn sticky_sessions() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config(
        "hello.js",
        r#"nodeProcessCountPerApplication="3" nodeProcessStickySessions="true""#,
    );
    let server = site.serve();
    let first = server.get("/hello.js");
    assert_eq!(first.status, 200);
    let cookie =
        session_cookie(&first).unwrap_or_else(|| panic!("no session cookie: {:?}", first.headers));
    let n: usize = cookie["iisnode.session.cookie=".len()..]
        .parse()
        .expect("a number");
    assert!(n < 3, "{cookie}");

    for _ in 0..10 {
        let r = server.get_with("/hello.js", &[("cookie", &format!("a=b; {cookie}"))]);
        assert_eq!(r.status, 200);
        assert_eq!(r.pid(), first.pid(), "pinned by {cookie}");
    }
    let rotating: BTreeSet<u32> = (0..3).map(|_| server.get("/hello.js").pid()).collect();
    assert_eq!(
        rotating.len(),
        3,
        "without the cookie, round robin: {rotating:?}"
    );
}

/// A client that goes away frees its request's concurrency slot: later requests are not
/// refused because of requests nobody waits for.
#[test]
fn client_abort_frees_the_concurrency_slot() {
    let Some(site) = Site::new("slow") else {
        return;
    };
    let server = site.serve();
    let addr = server.addr();
    let conns: Vec<crate::harness::Conn> = ["x", "y"]
        .iter()
        .map(|name| {
            let mut c = server.block_on(crate::harness::Conn::connect(addr));
            server.block_on(
                c.send(format!("GET /slow.js?hold={name} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes()),
            );
            server.wait_for_event(
                |e| is_output(e, "stdout", &format!("holding {name}")),
                TIMEOUT,
            );
            c
        })
        .collect();
    assert_eq!(server.get("/slow.js").status, 503, "both slots taken");
    drop(conns);
    // iisn notices the disconnects and releases the slots (node is still holding).
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let r = server.get("/slow.js");
        if r.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slots never freed: {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(site.path("x"), "").expect("release");
    std::fs::write(site.path("y"), "").expect("release");
}

/// iisnode takes the cookie's value modulo the process count.
#[test]
fn sticky_cookie_value_is_taken_modulo_the_process_count() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config(
        "hello.js",
        r#"nodeProcessCountPerApplication="3" nodeProcessStickySessions="true""#,
    );
    let server = site.serve();
    let pid_for = |n: usize| {
        server
            .get_with(
                "/hello.js",
                &[("cookie", &format!("iisnode.session.cookie={n}"))],
            )
            .pid()
    };
    for n in 0..3 {
        assert_eq!(pid_for(n), pid_for(n + 3), "{n} and {}", n + 3);
        assert_eq!(pid_for(n), pid_for(n + 300), "{n} and {}", n + 300);
    }
    let distinct: BTreeSet<u32> = (0..3).map(pid_for).collect();
    assert_eq!(distinct.len(), 3);
}

/// iisnode-engine.md §1.1: an application starts on demand (`--lazy`, or a script mapped by
/// a wildcard), but then all N of its processes start together, not one per request.
#[test]
fn lazy_start_spawns_every_worker_of_the_application() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config("hello.js", r#"nodeProcessCountPerApplication="2""#);
    let server = site.iisn().arg("--lazy").start();
    assert!(
        server.event_pids("spawned").is_empty(),
        "--lazy starts nothing before a request"
    );
    assert_eq!(server.get("/hello.js").text(), "Hello, world 1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server.event_pids("spawned").len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first request started only {:?} of the 2 workers",
            server.event_pids("spawned")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The same for an application created by a wildcard mapping.
#[test]
fn wildcard_application_spawns_every_worker_on_first_use() {
    let Some(site) = Site::new("wildcard") else {
        return;
    };
    site.write(
        "web.config",
        r#"<configuration><system.webServer><handlers><add name="iisnode" path="*.js" verb="*" modules="iisnode" /></handlers><iisnode nodeProcessCountPerApplication="2" /></system.webServer></configuration>"#,
    );
    let server = site.serve();
    assert_eq!(server.get("/a.js").status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server.event_pids("spawned").len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first request started only {:?} of a.js's 2 workers",
            server.event_pids("spawned")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Issue 10 §3: `kill -9` of one of two workers fails at most the requests in flight on it.
/// Requests that were not sent yet (including those that would have used a kept-alive
/// connection to the dead process) go to the slot's new process, as iisnode dispatches to a
/// new process once the old one is gone.
#[test]
fn a_killed_worker_fails_only_the_requests_in_flight_on_it() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config(
        "hello.js",
        r#"nodeProcessCountPerApplication="2" devErrorsEnabled="false""#,
    );
    let server = site.serve();
    let pids = server.wait_ready(2);
    // Both workers have pooled connections.
    for _ in 0..4 {
        assert_eq!(server.get("/hello.js").status, 200);
    }
    let kill = |pid: u32| {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    };
    // Nothing is in flight: no request may fail.
    kill(pids[0]);
    for i in 0..6 {
        let r = server.get("/hello.js");
        assert_eq!(r.status, 200, "request {i} after the kill: {}", r.text());
    }
    // Under load: 8 clients in a loop; at most 8 requests are in flight on the victim.
    let victim = server.get("/hello.js").pid();
    let addr = server.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            server.rt().spawn(async move {
                let (mut ok, mut failed) = (0u32, 0u32);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let req = Request::get("/hello.js")
                        .body(full(Bytes::new()))
                        .expect("request");
                    if fetch(addr, req).await.status == 200 {
                        ok += 1;
                    } else {
                        failed += 1;
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    kill(victim);
    std::thread::sleep(std::time::Duration::from_millis(1000));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = server.block_on_for(TIMEOUT, t).expect("client task");
        ok += o;
        failed += f;
    }
    assert!(ok > 0, "the load was served");
    assert!(
        failed <= 8,
        "{failed} requests failed; only the 8 in flight on the killed worker may\n{}",
        server.transcript()
    );
    assert_eq!(server.get("/hello.js").status, 200);
}
