//! The basics: a request reaches node and comes back; routing; the listen address.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// `--host localhost` is 127.0.0.1 (was rejected as invalid IP syntax), and a loopback
/// address gets no exposure warning.
#[test]
fn host_localhost_is_the_loopback_address() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    let server = site.iisn().arg("--host").arg("localhost").start();
    assert!(
        server.url().starts_with("http://127.0.0.1:"),
        "{}",
        server.url()
    );
    assert_eq!(server.get("/hello.js").status, 200);
    assert!(!server.stderr().contains("reachable from other machines"));
}

/// Regression: `--host 0.0.0.0` said nothing, though other machines can then reach the site
/// and iisnode's debugger URLs (start the inspector, kill the workers).
#[test]
fn a_non_loopback_host_warns_about_what_it_exposes() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    let mut server = site.iisn().arg("--host").arg("0.0.0.0").start();
    let err = server.wait_for_stderr("--host 127.0.0.1", crate::harness::TIMEOUT);
    assert!(err.contains("warning: listening on 0.0.0.0"), "{err}");
    assert!(err.contains("reachable from other machines"), "{err}");
    assert!(err.contains("/hello.js/debug/"), "{err}");
    assert!(err.contains("--host 127.0.0.1"), "{err}");
    server.stop();
}

/// Regression: `iisn serve` on a folder without any web.config (the wrong folder) started
/// in silence and answered 404s; `iisn check` warns there (IISN0005), and so does serve.
#[test]
fn a_folder_without_web_config_is_reported() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    std::fs::remove_file(site.path("web.config")).expect("remove web.config");
    let mut server = site.serve();
    let err = server.wait_for_stderr("node never runs", crate::harness::TIMEOUT);
    assert!(
        err.contains("warning: no web.config in") && err.contains("node never runs"),
        "{err}"
    );
    server.stop();
    let with_config = Site::new("hello").expect("node is available");
    let mut server = with_config.serve();
    assert!(!server.stderr().contains("no web.config in"));
    server.stop();
}

/// Regression: under `--app-path` the ready line gave only the root URL, which answers 404
/// then; it also names the site's URL (the one the subdir template's README says to open).
#[test]
fn the_ready_line_names_the_site_url_under_app_path() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    let mut server = site.iisn().arg("--app-path").arg("my shop/").start();
    let listening = server
        .events()
        .into_iter()
        .find(|e| e["event"] == "listening")
        .expect("the listening event");
    let expected = format!("{}/my%20shop/", server.url());
    assert_eq!(listening["site_url"], expected.as_str(), "{listening}");
    assert!(
        listening["text"]
            .as_str()
            .is_some_and(|t| t.ends_with(&format!("the site at {expected}"))),
        "{listening}"
    );
    assert_eq!(server.get("/my%20shop/hello.js").status, 200);
    server.stop();
    let mut plain = site.serve();
    let listening = plain
        .events()
        .into_iter()
        .find(|e| e["event"] == "listening")
        .expect("the listening event");
    assert!(listening["site_url"].is_null(), "{listening}");
    plain.stop();
}

/// Regression: a refused bind on a port below 1024 only said "check --host and --port".
#[test]
fn a_privileged_port_says_why_it_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let Some(site) = Site::new("hello") else {
        return;
    };
    let root = nix::unistd::geteuid().is_root();
    let mut cmd = if root {
        // Run as nobody, who can read the site and write its TMPDIR.
        for (dir, mode) in [
            (site.outside().to_path_buf(), 0o755),
            (site.tmpdir(), 0o777),
        ] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).expect("chmod");
        }
        // A copy nobody can run, wherever the build lives (a clone under /root is not).
        let exe = site.outside().join("iisn");
        fs::copy(env!("CARGO_BIN_EXE_iisn"), &exe).expect("copy the binary");
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe);
        c
    } else {
        match TcpListener::bind("127.0.0.1:80") {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            _ => {
                eprintln!("skipped: this user may listen on port 80");
                return;
            }
        }
        Command::new(env!("CARGO_BIN_EXE_iisn"))
    };
    cmd.arg("serve")
        .arg(site.root())
        .args(["--port", "80", "--lazy"])
        .env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TMPDIR", site.tmpdir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let Ok(mut child) = cmd.spawn() else {
        eprintln!("skipped: cannot run setpriv");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("iisn serve --port 80 did not exit (was it allowed to bind?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("ports below 1024 need privileges"), "{err}");
    assert!(err.contains("--port 8080"), "{err}");
}
