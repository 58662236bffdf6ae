//! The basics: a request reaches node and comes back; routing; the listen address.

use std::net::TcpListener;

use crate::harness::{Site, is_event};

/// C01 / 100_helloworld: status, body, content type passed through, no debug header.
#[test]
fn hello_world() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    let server = site.serve();
    assert!(
        server.url().starts_with("http://127.0.0.1:"),
        "{}",
        server.url()
    );

    let r = server.get("/hello.js");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello, world!");
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(
        r.header("iisnode-debug").is_none(),
        "debugHeaderEnabled is off by default"
    );
    assert!(r.header("x-iisn-substatus").is_none());
}

/// C02 / 101_helloworld_sequence: one long-lived process answers every request.
#[test]
fn process_reuse() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    let server = site.serve();
    let spawned = server.wait_for_event(|e| is_event(e, "spawned"), crate::harness::TIMEOUT);

    let mut pids = Vec::new();
    for n in 1..=5 {
        let r = server.get("/hello.js");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("Hello, world {n}"));
        pids.push(r.pid());
    }
    assert!(pids.iter().all(|p| *p == pids[0]), "one process: {pids:?}");
    assert_eq!(
        u64::from(pids[0]),
        spawned["pid"].as_u64().expect("pid"),
        "the spawned worker answers"
    );
    assert_eq!(spawned["app"], "hello.js");
    assert_eq!(spawned["worker"], 1);
    assert_eq!(server.event_pids("spawned").len(), 1, "no respawn");
}

/// C10: the raw original request target (PATH_INFO and query, not decoded) reaches node.
#[test]
fn path_info_and_raw_target_reach_the_app() {
    let Some(site) = Site::new("echo") else {
        return;
    };
    let server = site.serve();
    for target in [
        "/echo.js/a/b%20c?x=1&y=%2F",
        "/echo.js",
        "/echo.js?",
        "/ECHO.JS/x",
    ] {
        let r = server.get(target);
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.text(), target, "node sees the target as sent");
    }
}

/// 111: a URL that no handler maps (and no file backs) is IIS's 404, and never reaches node.
#[test]
fn unmapped_urls_are_404() {
    let Some(site) = Site::new("echo") else {
        return;
    };
    let server = site.serve();
    for target in [
        "/nothing.txt",
        "/echo.js.logs/0.txt",
        "/web.config",
        "/dir/",
    ] {
        let r = server.get(target);
        assert_eq!(r.status, 404, "{target}: {}", r.text());
        assert!(r.text().contains("404"), "an IIS error page: {}", r.text());
    }
    assert_eq!(server.get("/echo.js").status, 200);
}

/// `--port` taken: exit code 3 and a message naming the problem.
#[test]
fn port_in_use_exits_with_code_3() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("addr").port();

    let (status, _out, err) = site.iisn().port(port).run_to_exit();
    assert_eq!(status.code(), Some(3), "stderr: {err}");
    assert!(
        err.contains(&port.to_string()),
        "the message names the port: {err}"
    );
    assert!(err.contains("listen") || err.contains("taken"), "{err}");
}

/// Handler `*.js`: each script is its own application, started on first use; a `.js` that
/// does not exist is 404.
#[test]
fn wildcard_handler_creates_applications_on_demand() {
    let Some(site) = Site::new("wildcard") else {
        return;
    };
    let server = site.serve();
    let a = server.get("/a.js");
    let b = server.get("/b.js/x?y");
    let c = server.get("/sub/c.js");
    assert_eq!((a.status, a.text()), (200, "a.js /a.js".to_string()));
    assert_eq!((b.status, b.text()), (200, "b.js /b.js/x?y".to_string()));
    assert_eq!((c.status, c.text()), (200, "c.js /sub/c.js".to_string()));
    assert!(a.pid() != b.pid() && b.pid() != c.pid() && a.pid() != c.pid());
    assert_eq!(server.get("/a.js").pid(), a.pid(), "one pool per script");
    assert_eq!(server.get("/missing.js").status, 404);
}

/// C21: a handler naming a script that does not exist gives 404, and a script no handler
/// maps is never run. (Whether IIS's static file handler serves its source instead is the
/// static-files step's business, not iisnode's.)
#[test]
fn mapped_script_missing_is_404() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.web_config("app.js", "");
    let server = site.serve();
    let r = server.get("/app.js");
    assert_eq!(r.status, 404, "{}", r.text());
    let r = server.get("/hello.js");
    assert_ne!(
        r.text(),
        "Hello, world!",
        "hello.js is not mapped to iisnode: never run"
    );
    assert!(server.event_pids("spawned").is_empty());
}

/// `--processes N` overrides nodeProcessCountPerApplication.
#[test]
fn processes_flag() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    let server = site.iisn().arg("--processes").arg("2").start();
    let bodies: Vec<String> = (0..4).map(|_| server.get("/hello.js").text()).collect();
    assert_eq!(
        bodies,
        [
            "Hello, world 1",
            "Hello, world 1",
            "Hello, world 2",
            "Hello, world 2"
        ]
    );
}

/// A URL must not reach a script outside the site folder: `..` segments (plain or
/// percent-encoded) are resolved inside the site or refused, as IIS does; a `.js` file next to
/// the site is never run.
#[test]
fn dot_dot_segments_never_leave_the_site() {
    let Some(site) = Site::new("wildcard") else {
        return;
    };
    let outside = site.root().parent().expect("parent").join("outside.js");
    std::fs::write(
        &outside,
        "require('http').createServer(function (q, s) { s.end('escaped the site'); }).listen(process.env.PORT);\n",
    )
    .expect("write outside.js");
    let server = site.serve();
    let mut escaped = Vec::new();
    for target in [
        "/../outside.js",
        "/sub/../../outside.js",
        "/%2e%2e/outside.js",
        "/sub/%2E%2E/%2e%2e/outside.js",
        "/..%2foutside.js",
        "/sub/..%2F..%2Foutside.js",
    ] {
        let r = server.raw(&format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n"));
        if r.text().contains("escaped the site") || !(r.status == 400 || r.status == 404) {
            escaped.push(format!("{target} -> {} {:?}", r.status, r.text()));
        }
    }
    assert!(
        escaped.is_empty(),
        "URLs that reached outside the site: {escaped:#?}"
    );
    let spawned: Vec<serde_json::Value> = server
        .events()
        .into_iter()
        .filter(|e| is_event(e, "spawned"))
        .collect();
    assert!(spawned.is_empty(), "{spawned:?}");
}
