//! iisnode's debugger URLs with node's inspector (DECISIONS.md §20; iisnode's 109, C10).
//!
//! Each test gives its site its own `debuggerPortRange` (below the ephemeral range), so tests
//! running in parallel do not walk the same ports.

use std::net::SocketAddr;
use std::time::Duration;

use http::Request;
use http_body_util::Empty;

use crate::harness::*;

/// The counter app (`x-pid`) with two workers and the given port range.
fn site(range: &str, extra: &str) -> Option<Site> {
    let site = Site::new("counter")?;
    site.web_config(
        "hello.js",
        &format!(
            r#"nodeProcessCountPerApplication="2" loggingEnabled="false" debuggerPortRange="{range}" {extra}"#
        ),
    );
    Some(site)
}

/// The inspector port in a DevTools address (`…&ws=127.0.0.1:<port>/<id>`).
fn devtools_port(text: &str) -> u16 {
    let at = text
        .find("ws=127.0.0.1:")
        .unwrap_or_else(|| panic!("no DevTools address in {text}"));
    text[at + "ws=127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a port")
}

/// `GET http://127.0.0.1:<port>/json/list` from node's inspector.
fn json_list(server: &Server, port: u16) -> serde_json::Value {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let req = Request::get("/json/list")
        .body(Empty::<bytes::Bytes>::new())
        .expect("request");
    let r = server.block_on(fetch(addr, req));
    assert_eq!(r.status, 200);
    serde_json::from_slice(&r.body).expect("json/list is JSON")
}

/// 109: `<script>/debug` redirects to `<script>/debug/`, keeping the query.
#[test]
fn missing_slash_redirects() {
    let Some(site) = site("29100-29119", "") else {
        return;
    };
    let server = site.serve();
    let r = server.get("/hello.js/debug");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/hello.js/debug/"));
    let r = server.get("/hello.js/DEBUG?brk");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/hello.js/DEBUG/?brk"));
}

/// 109: `?debug` starts one worker under node's inspector, which then serves every request;
/// a second `?debug` answers the same page; `?kill` returns to the normal workers.
#[test]
fn debug_then_kill() {
    let Some(site) = site("29120-29139", "") else {
        return;
    };
    let server = site.serve();
    let normal = server.wait_ready(2);

    let r = server.get("/hello.js/debug/?debug");
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    assert!(page.contains("devtools://devtools/bundled/js_app.html?experiments=true&amp;v8only=true&amp;ws=127.0.0.1:"), "{page}");
    assert!(page.contains("chrome://inspect"), "{page}");
    let port = devtools_port(&page);
    assert!((29120..=29139).contains(&port), "{port}");
    let targets = json_list(&server, port);
    let target = &targets.as_array().expect("an array")[0];
    assert_eq!(target["type"], "node", "{targets}");
    let id = target["id"].as_str().expect("an id");
    assert!(page.contains(id), "the page names the target {id}");
    assert!(
        page.contains(&format!("ws://127.0.0.1:{port}/{id}")),
        "the WebSocket URL is on the page"
    );

    // Every request goes to the one debuggee.
    let pids: Vec<u32> = (0..4).map(|_| server.get("/hello.js").pid()).collect();
    assert!(pids.iter().all(|p| *p == pids[0]), "{pids:?}");
    assert!(!normal.contains(&pids[0]), "{pids:?} vs {normal:?}");
    server.wait_for_event(
        |e| {
            is_event(e, "note")
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("debugging") && t.contains("devtools://"))
        },
        TIMEOUT,
    );

    // Again: the same debuggee, not restarted.
    let again = server.get("/hello.js/debug/");
    assert_eq!(again.status, 200);
    assert_eq!(devtools_port(&again.text()), port);
    assert_eq!(server.get("/hello.js").pid(), pids[0]);

    let r = server.get("/hello.js/debug/?kill");
    assert_eq!(r.status, 200);
    assert!(
        r.text()
            .contains("The debugger and debugee processes have been killed."),
        "{}",
        r.text()
    );
    assert!(
        wait_gone(&[pids[0]], TIMEOUT).is_empty(),
        "the debuggee is stopped"
    );
    let after: Vec<u32> = (0..4).map(|_| server.get("/hello.js").pid()).collect();
    assert!(!after.contains(&pids[0]), "{after:?}");
    let mut distinct = after.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 2, "two normal workers again: {after:?}");
}

/// 109: `?kill` with no debugger, and an unknown command.
#[test]
fn kill_when_not_debugging_and_unknown_commands() {
    let Some(site) = site("29140-29159", "") else {
        return;
    };
    let server = site.serve();
    let r = server.get("/hello.js/debug/?kill");
    assert_eq!(r.status, 200);
    assert!(
        r.text()
            .contains("The debugger for the application is not running."),
        "{}",
        r.text()
    );
    let r = server.get("/hello.js/debug/?foo");
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains(
            "Unrecognized debugging command. Supported commands are ?debug (default), ?brk, and ?kill."
        ),
        "{}",
        r.text()
    );
    // Neither reached the app (the counter would say "Hello, world").
    assert!(!r.text().contains("Hello, world"));
}

/// An invalid debuggerPortRange breaks only the debugger URL (500 with the reason).
#[test]
fn invalid_port_range_is_a_500() {
    let Some(site) = site("80-90", "") else {
        return;
    };
    let server = site.serve();
    let r = server.get("/hello.js/debug/");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("debuggerPortRange"), "{}", r.text());
    assert_eq!(server.get("/hello.js").status, 200);
}

/// 111 / C10: with debuggingEnabled="false" the debugger URLs are the app's.
#[test]
fn disabled_debugging_reaches_the_app() {
    let Some(site) = site("29160-29179", r#"debuggingEnabled="false""#) else {
        return;
    };
    let server = site.serve();
    for path in [
        "/hello.js/debug",
        "/hello.js/debug/",
        "/hello.js/debug/?kill",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.text().starts_with("Hello, world"), "{path}: {}", r.text());
    }
}

/// `iisn serve --inspect`: every worker gets an inspector and its DevTools address is
/// printed.
#[test]
fn inspect_flag_prints_devtools_addresses() {
    let Some(site) = site("29180-29199", "") else {
        return;
    };
    let server = site.iisn().arg("--inspect").start();
    let is_devtools = |e: &serde_json::Value| {
        is_event(e, "note")
            && e["text"]
                .as_str()
                .is_some_and(|t| t.contains("devtools://"))
    };
    server.wait_for_event(is_devtools, TIMEOUT);
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut ports: Vec<u16>;
    loop {
        ports = server
            .events()
            .iter()
            .filter(|e| is_devtools(e))
            .filter_map(|e| e["text"].as_str().map(devtools_port))
            .collect();
        if ports.len() >= 2 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 2, "one inspector per worker: {ports:?}");
    for port in ports {
        assert!((29180..=29199).contains(&port), "{port}");
        let targets = json_list(&server, port);
        assert_eq!(targets[0]["type"], "node", "{targets}");
    }
    assert_eq!(server.get("/hello.js").status, 200);
}
