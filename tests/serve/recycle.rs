//! Recycling (issue 5): watched files, config changes, the recycle signal, graceful
//! generations, app_offline.htm, and a load test that recycles under steady traffic.
//!
//! Every test polls for the observable outcome (new text, new pid, an event) with an upper
//! bound instead of sleeping a fixed time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;

use crate::harness::{Resp, Server, Site, TIMEOUT, is_event, is_output};

/// Like `harness::fetch`, but a reset or truncated response is an `Err`, not a panic.
async fn try_fetch(addr: std::net::SocketAddr, path: &str) -> Result<Resp, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Replaces `from` with `to` in a file of the site (the edit a developer saves).
fn edit(site: &Site, rel: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(site.path(rel)).expect("read a site file");
    assert!(text.contains(from), "{rel} does not contain {from:?}");
    site.write(rel, &text.replace(from, to));
}

/// Serves the recycle fixture and waits until both workers listen.
fn serve_ready(site: &Site) -> Server {
    let server = site.serve();
    server.wait_ready(2);
    server
}

/// Requests `path` until `pred` holds (or fails the test after `TIMEOUT`).
fn poll_until(server: &Server, path: &str, pred: impl Fn(&Resp) -> bool) -> Resp {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = server.get(path);
        if pred(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "never saw the expected response; last: {} {}",
            r.status,
            r.text()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the next `recycleSwitched` event after `mark` (new requests go to the new
/// generation from then on).
fn wait_switched(server: &Server, mark: usize) {
    server.wait_for_event_after(mark, |e| is_event(e, "recycleSwitched"), TIMEOUT);
}

/// C33 / 106_autoupdate: the entry script changes → the next requests get the new code from
/// a new process.
#[test]
fn entry_script_change_recycles() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = site.serve();
    let before = server.get("/app.js");
    assert!(before.text().starts_with("v1 "), "{}", before.text());
    let old_pid = before.pid();
    edit(
        &site,
        "app.js",
        "var version = 'v1';",
        "var version = 'v2';",
    );
    let after = poll_until(&server, "/app.js", |r| r.text().starts_with("v2 "));
    assert_ne!(after.pid(), old_pid);
    let e = server.wait_for_event(|e| is_event(e, "recycle"), TIMEOUT);
    assert!(e["trigger"].as_str().unwrap_or("").contains("*.js"), "{e}");
}

/// C34 / 117_autoupdate_dependency: `node_modules\*.js` in watchedFiles → a dependency change
/// recycles; C35 / 121: the non-existent `idontexist\*` entry is harmless.
#[test]
fn watched_dependency_change_recycles() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = site.serve();
    assert!(server.get("/app.js").text().contains("dep=d1"));
    site.write("node_modules/dep.js", "module.exports = 'd2';\n");
    poll_until(&server, "/app.js", |r| r.text().contains("dep=d2"));
}

/// C37: a change to a file no entry matches does not recycle; adding a matching file does.
#[test]
fn unwatched_change_does_not_recycle() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = serve_ready(&site);
    let pid = server.get("/app.js").pid();
    let mark = server.mark();
    site.write("data.txt", "changed\n");
    // Longer than the debounce and a poll round: nothing may happen.
    thread::sleep(Duration::from_millis(800));
    assert!(
        server
            .try_wait_for_event(mark, |e| is_event(e, "recycle"), Duration::from_millis(10))
            .is_none(),
        "{}",
        server.transcript()
    );
    let pids: Vec<u32> = (0..2).map(|_| server.get("/app.js").pid()).collect();
    assert!(
        pids.contains(&pid),
        "the old workers still answer: {pids:?} vs {pid}"
    );
    site.write("extra.js", "// a new match of *.js\n");
    wait_switched(&server, mark);
}

/// C36 / 125_node_config_autoupdate: iisnode.yml written by the app itself changes the worker
/// count for the very next requests (after the recycle it triggers).
#[test]
fn iisnode_yml_written_by_the_app_changes_the_worker_count() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = site.serve();
    let counters = |server: &Server, n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                let t = server.get("/app.js").text();
                t.split(' ').nth(1).unwrap_or("?").to_string()
            })
            .collect()
    };
    let mark = server.mark();
    assert_eq!(server.get("/app.js?revert").text(), "iisnode.yml reverted");
    wait_switched(&server, mark);
    assert_eq!(counters(&server, 4), ["1", "1", "2", "2"]);
    let mark = server.mark();
    assert_eq!(server.get("/app.js?update").text(), "iisnode.yml updated");
    wait_switched(&server, mark);
    assert_eq!(
        counters(&server, 8),
        ["1", "1", "1", "1", "2", "2", "2", "2"]
    );
}

/// C38: a web.config appSetting change reaches node (new generation).
#[test]
fn web_config_change_is_seen() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = site.serve();
    assert!(server.get("/app.js").text().ends_with("setting=first"));
    edit(&site, "web.config", r#"value="first""#, r#"value="second""#);
    poll_until(&server, "/app.js", |r| r.text().ends_with("setting=second"));
}

/// C39: a slow request in flight during a recycle completes on the old process while new
/// requests reach the new generation.
#[test]
fn in_flight_request_survives_a_recycle() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = serve_ready(&site);
    let addr = server.addr();
    let slow = thread::spawn(move || client_runtime().block_on(try_fetch(addr, "/app.js?hold=go")));
    server.wait_for_event(|e| is_output(e, "stdout", "holding go"), TIMEOUT);
    let mark = server.mark();
    site.write("trigger.js", "// recycle\n");
    wait_switched(&server, mark);
    let fresh = server.get("/app.js");
    assert_eq!(fresh.status, 200);
    site.write("go", "");
    let old = slow
        .join()
        .expect("slow request")
        .expect("the slow request completes");
    assert_eq!(old.status, 200);
    assert_eq!(old.text(), "released go");
    assert_ne!(
        old.pid(),
        fresh.pid(),
        "the slow request stayed on the old generation"
    );
}

/// C39 variant: a request longer than gracefulShutdownTimeout is cut when the old
/// generation is stopped, without hanging the client.
#[test]
fn request_longer_than_the_graceful_timeout_is_cut() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    edit(
        &site,
        "web.config",
        r#"gracefulShutdownTimeout="10000""#,
        r#"gracefulShutdownTimeout="500""#,
    );
    let server = serve_ready(&site);
    let addr = server.addr();
    let started = Instant::now();
    let slow = thread::spawn(move || {
        client_runtime().block_on(async move {
            tokio::time::timeout(
                Duration::from_secs(15),
                try_fetch(addr, "/app.js?hold=never"),
            )
            .await
        })
    });
    server.wait_for_event(|e| is_output(e, "stdout", "holding never"), TIMEOUT);
    let mark = server.mark();
    site.write("trigger.js", "// recycle\n");
    wait_switched(&server, mark);
    let outcome = slow.join().expect("thread");
    let took = started.elapsed();
    assert!(outcome.is_ok(), "the client hung");
    assert!(took < Duration::from_secs(10), "cut after {took:?}");
    // A reset or truncated response is fine: the old worker was stopped under it.
    if let Ok(r) = outcome.expect("no timeout") {
        assert_ne!(
            r.text(),
            "released never",
            "the request cannot have completed"
        );
    }
    server.wait_for_event_after(
        mark,
        |e| is_event(e, "recycleFinished") && e["cut"].as_u64() == Some(1),
        TIMEOUT,
    );
}

/// C40 / 143_recycle_signal: the app writes `recycle` to IISNODE_CONTROL_PIPE → a new
/// generation; twice in a row (iisnode accepted only one per worker lifetime).
#[test]
fn recycle_signal_works_twice() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = serve_ready(&site);
    let mut seen = vec![server.get("/app.js").pid()];
    for _ in 0..2 {
        let mark = server.mark();
        assert_eq!(server.get("/app.js?signal").text(), "signalled");
        let e = server.wait_for_event_after(mark, |e| is_event(e, "recycle"), TIMEOUT);
        assert!(
            e["trigger"]
                .as_str()
                .unwrap_or("")
                .contains("IISNODE_CONTROL_PIPE"),
            "{e}"
        );
        wait_switched(&server, mark);
        let pid = server.get("/app.js").pid();
        assert!(
            !seen.contains(&pid),
            "a new process answers: {pid} vs {seen:?}"
        );
        seen.push(pid);
    }
}

/// iisnode reads one message from its control pipe and acts on it at once: an app that
/// writes `recycle` and keeps the connection open is recycled (iisn used to wait for the end
/// of the stream and dropped the signal after 5 s).
#[test]
fn recycle_signal_acts_on_the_message_without_waiting_for_the_end() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = serve_ready(&site);
    let before = server.get("/app.js").pid();
    let mark = server.mark();
    assert_eq!(server.get("/app.js?signal-open").text(), "signalled");
    let e = server.wait_for_event_after(mark, |e| is_event(e, "recycle"), Duration::from_secs(4));
    assert!(
        e["trigger"]
            .as_str()
            .unwrap_or("")
            .contains("IISNODE_CONTROL_PIPE"),
        "{e}"
    );
    wait_switched(&server, mark);
    assert_ne!(server.get("/app.js").pid(), before);
}

/// iisnode compares the message with `strnicmp(buffer, "recycle", 64)`: `recycle\n` is not
/// the signal, so nothing is recycled, and iisn says why.
#[test]
fn recycle_signal_with_a_line_break_is_ignored_as_by_iisnode() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = serve_ready(&site);
    let mark = server.mark();
    assert_eq!(server.get("/app.js?signal-newline").text(), "signalled");
    server.wait_for_event_after(
        mark,
        |e| {
            is_event(e, "warning")
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("IISNODE_CONTROL_PIPE"))
        },
        TIMEOUT,
    );
    assert!(
        !server.events()[mark..]
            .iter()
            .any(|e| is_event(e, "recycle")),
        "no recycle"
    );
}

/// app_offline.htm takes the site offline (503 with the file) and back.
#[test]
fn app_offline_takes_the_site_down_and_back() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = site.serve();
    assert_eq!(server.get("/app.js").status, 200);
    site.write("app_offline.htm", "<h1>Back soon</h1>");
    let down = poll_until(&server, "/app.js", |r| r.status == 503);
    assert_eq!(down.text(), "<h1>Back soon</h1>");
    std::fs::remove_file(site.path("app_offline.htm")).expect("rm");
    poll_until(&server, "/app.js", |r| r.status == 200);
}

/// The issue's load test: 10 recycles during 20 s of steady traffic (4 client threads on
/// loopback), zero failed requests. Prints its figures.
#[test]
fn ten_recycles_under_steady_traffic_fail_no_request() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = serve_ready(&site);
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            thread::spawn(move || {
                let rt = client_runtime();
                while !stop.load(Ordering::Relaxed) {
                    match rt.block_on(try_fetch(addr, "/app.js")) {
                        Ok(r) if r.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            failed
                                .lock()
                                .expect("lock")
                                .push(format!("{} {}", r.status, r.text()))
                        }
                        Err(e) => failed.lock().expect("lock").push(e),
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    for i in 0..10 {
        let mark = server.mark();
        site.write("trigger.js", &format!("// recycle {i}\n"));
        wait_switched(&server, mark);
        let next = started + Duration::from_secs(2 * (i + 1));
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let secs = started.elapsed().as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    let failed = failed.lock().expect("lock").clone();
    let recycles = server
        .events()
        .iter()
        .filter(|e| is_event(e, "recycleSwitched"))
        .count();
    println!(
        "load test: {recycles} recycles in {secs:.1} s, {ok} requests ok ({:.0}/s), {} failed",
        ok as f64 / secs,
        failed.len()
    );
    assert!(recycles >= 10);
    assert!(
        failed.is_empty(),
        "failed requests: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 100, "too little traffic to mean anything: {ok}");
}

/// iisnode recycles every application below an IIS configuration change, whatever changed
/// (`RecycleApplicationOnConfigChange`): saving web.config unchanged restarts node, as
/// touching web.config does on IIS. A web.config in a folder with no application below it
/// recycles nothing.
#[test]
fn saving_web_config_unchanged_recycles_the_applications_below_it() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    let server = serve_ready(&site);
    // Two workers, round robin.
    let before = [server.get("/app.js").pid(), server.get("/app.js").pid()];

    let mark = server.mark();
    site.write("other/web.config", "<configuration/>\n");
    // The reload's last word: "configuration re-read" comes before the recycles it starts,
    // so waiting for it alone would look for a recycle too early to see one.
    server.wait_for_event_after(
        mark,
        |e| {
            is_event(e, "note")
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("no application changed"))
        },
        TIMEOUT,
    );
    assert!(
        !server.events()[mark..]
            .iter()
            .any(|e| is_event(e, "recycle")),
        "no application below other/"
    );
    assert!(before.contains(&server.get("/app.js").pid()));

    let mark = server.mark();
    let same = std::fs::read_to_string(site.path("web.config")).expect("read");
    site.write("web.config", &same);
    let e = server.wait_for_event_after(mark, |e| is_event(e, "recycle"), TIMEOUT);
    assert!(
        e["trigger"].as_str().unwrap_or("").contains("web.config"),
        "{e}"
    );
    wait_switched(&server, mark);
    assert!(!before.contains(&server.get("/app.js").pid()));
}

/// A web.config created in a new sub-folder while iisn runs is found (by the periodic walk)
/// and its application served, without touching any existing file.
#[test]
fn web_config_in_a_new_folder_is_picked_up() {
    let Some(site) = Site::new("recycle") else {
        return;
    };
    edit(
        &site,
        "web.config",
        r#"gracefulShutdownTimeout="10000""#,
        r#"gracefulShutdownTimeout="10000" uncFileChangesPollingInterval="300""#,
    );
    let server = site.serve();
    assert_eq!(server.get("/app.js").status, 200);
    site.write(
        "sub/other.js",
        "require('http').createServer((q, r) => r.end('other')).listen(process.env.PORT);\n",
    );
    site.write(
        "sub/web.config",
        r#"<configuration><system.webServer><handlers><add name="other" path="other.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
    );
    // Until the new web.config is read, IIS's static handler serves the file's source.
    let r = poll_until(&server, "/sub/other.js", |r| r.text() == "other");
    assert_eq!(r.status, 200);
    let e = server.wait_for_event(
        |e| is_event(e, "note") && e["text"].as_str().is_some_and(|t| t.contains("appeared")),
        TIMEOUT,
    );
    assert!(
        e["text"].as_str().unwrap_or("").contains("sub/web.config"),
        "{e}"
    );
}
