//! Shutdown: Ctrl-C drains and stops every worker (exit 130; SIGTERM 143, SIGHUP 129), a
//! second Ctrl-C kills at once,
//! and no node process outlives iisn, even after `kill -9` (PR_SET_PDEATHSIG): neither the
//! workers nor what they started, detached or not (iisnode's job object; the guardian).

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use nix::sys::signal::Signal;

use crate::harness::{
    Server, Site, TIMEOUT, fetch, full, is_event, is_output, process_gone, wait_gone,
};

/// The counter app with two workers, both ready and answering: iisn and the workers' pids.
fn counter_with_two_workers(site: &Site) -> (Server, Vec<u32>) {
    site.web_config("hello.js", r#"nodeProcessCountPerApplication="2""#);
    let server = site.serve();
    let pids = server.wait_ready(2);
    assert_eq!(server.get("/hello.js").status, 200);
    (server, pids)
}

/// Every worker in `pids` is gone within 3 s.
fn assert_workers_gone(pids: &[u32], what: &str) {
    let alive = wait_gone(pids, Duration::from_secs(3));
    assert!(
        alive.is_empty(),
        "node processes outlived {what}: {alive:?}"
    );
}

/// iisn exits by itself within `limit` (`after` names the cause) with status 128 + the
/// number of the signal that stopped it (`signal`), and takes its workers with it.
fn assert_exits_cleanly(
    server: &mut Server,
    limit: Duration,
    after: &str,
    pids: &[u32],
    signal: Signal,
) {
    let status = server
        .wait_exit(limit)
        .unwrap_or_else(|| panic!("iisn exits {after} (waited {limit:?})"));
    assert_eq!(status.code(), Some(128 + signal as i32), "{status}");
    assert_workers_gone(pids, "iisn");
}

/// Graceful Ctrl-C: exit 0, every worker gone, the socket folder removed.
#[test]
fn ctrl_c_stops_everything() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    let (mut server, pids) = counter_with_two_workers(&site);
    assert_eq!(
        server.socket_dirs().len(),
        1,
        "iisn's private socket folder exists while it runs"
    );

    server.stop();
    assert_workers_gone(&pids, "iisn");
    assert!(
        server.socket_dirs().is_empty(),
        "socket folder left behind: {:?}",
        server.socket_dirs()
    );
    for pid in &pids {
        let exited = server.wait_for_event(|e| is_event(e, "exited") && e["pid"] == *pid, TIMEOUT);
        assert_eq!(exited["expected"], true, "{exited}");
    }
}

/// SIGTERM is a graceful stop too, exit 143 (was 0).
#[test]
fn sigterm_stops_gracefully() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    let mut server = site.serve();
    let pids = server.wait_ready(1);
    server.signal(Signal::SIGTERM);
    assert_exits_cleanly(
        &mut server,
        TIMEOUT,
        "after SIGTERM",
        &pids,
        Signal::SIGTERM,
    );
}

/// Regression: SIGHUP (the terminal closed) killed iisn with its default action, exit 129
/// without stopping anything. It stops gracefully like SIGTERM: the workers get their
/// SIGTERM, the stop is announced, and the exit status is still 129.
#[test]
fn sighup_stops_gracefully() {
    let Some(site) = Site::new("stubborn") else {
        return;
    };
    let mut server = site.serve();
    let pids = server.wait_ready(1);
    server.signal(Signal::SIGHUP);
    server.wait_for_event(|e| is_output(e, "stdout", "ignoring SIGTERM"), TIMEOUT);
    assert_exits_cleanly(&mut server, TIMEOUT, "after SIGHUP", &pids, Signal::SIGHUP);
    assert!(
        server
            .events()
            .iter()
            .any(|e| is_event(e, "note") && e["text"] == "stopped"),
        "{}",
        server.transcript()
    );
}

/// The first Ctrl-C lets a request in flight finish before the workers stop.
#[test]
fn ctrl_c_drains_requests_in_flight() {
    let Some(site) = Site::new("slow") else {
        return;
    };
    let mut server = site.serve();
    let addr = server.addr();
    let held = server.rt().spawn(async move {
        let req = Request::get("/slow.js?hold=drain")
            .body(full(Bytes::new()))
            .expect("request");
        fetch(addr, req).await
    });
    server.wait_for_event(|e| is_output(e, "stdout", "holding drain"), TIMEOUT);
    let pids = server.event_pids("spawned");

    server.signal(Signal::SIGINT);
    server.wait_for_event(
        |e| {
            is_event(e, "note")
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("stopping"))
        },
        TIMEOUT,
    );
    assert!(!held.is_finished(), "the request is still held by node");
    std::fs::write(site.path("drain"), "").expect("release");
    let r = server.block_on(held).expect("task");
    assert_eq!((r.status, r.text()), (200, "released drain".to_string()));

    assert_exits_cleanly(
        &mut server,
        TIMEOUT,
        "after draining",
        &pids,
        Signal::SIGINT,
    );
}

/// A worker that ignores SIGTERM is killed after the grace period; iisn still exits 0.
#[test]
fn stubborn_worker_is_killed() {
    let Some(site) = Site::new("stubborn") else {
        return;
    };
    let mut server = site.serve();
    let pids = server.wait_ready(1);
    assert_eq!(server.get("/hello.js").text(), "still here");
    server.stop();
    assert!(
        server
            .events()
            .iter()
            .any(|e| is_output(e, "stdout", "ignoring SIGTERM")),
        "it got SIGTERM first"
    );
    assert_workers_gone(&pids, "iisn");
}

/// A second Ctrl-C does not wait for the stubborn worker's grace period.
#[test]
fn second_ctrl_c_kills_at_once() {
    let Some(site) = Site::new("stubborn") else {
        return;
    };
    let mut server = site.serve();
    let pids = server.wait_ready(1);
    server.signal(Signal::SIGINT);
    server.wait_for_event(|e| is_output(e, "stdout", "ignoring SIGTERM"), TIMEOUT);
    server.signal(Signal::SIGINT);
    // The grace period before SIGKILL is 2 s; a second Ctrl-C must not wait it out.
    assert_exits_cleanly(
        &mut server,
        Duration::from_millis(1500),
        "promptly after the second Ctrl-C",
        &pids,
        Signal::SIGINT,
    );
}

/// `kill -9` of iisn: its workers die too (PR_SET_PDEATHSIG), within about 3 s.
#[test]
fn sigkill_of_iisn_takes_the_workers_down() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    let (mut server, pids) = counter_with_two_workers(&site);
    server.kill9();
    assert_workers_gone(&pids, "kill -9 of iisn");
}

/// Ctrl-C with idle client connections open (one kept alive after a request, one that never
/// sent anything) and a WebSocket tunnel open: iisn still stops at once, with exit 130.
#[test]
fn ctrl_c_with_idle_connections_and_an_open_tunnel() {
    let Some(site) = Site::new("websocket") else {
        return;
    };
    let mut server = site.serve();
    let pids = server.wait_ready(1);
    let addr = server.addr();
    let conns = server.block_on(async move {
        let mut kept = crate::harness::Conn::connect(addr).await;
        kept.send(b"GET /app/server.js HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert_eq!(kept.read_response().await.status, 400);
        let silent = crate::harness::Conn::connect(addr).await;
        let mut ws = crate::harness::Conn::connect(addr).await;
        ws.send(
            b"GET /app/server.js HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await;
        assert_eq!(ws.read_head().await.status, 101);
        (kept, silent, ws)
    });
    let t0 = std::time::Instant::now();
    server.stop();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "open connections held the stop for {:?}",
        t0.elapsed()
    );
    assert_workers_gone(&pids, "iisn");
    drop(conns);
}

/// The `children` app's answer to `/children.js?<query>`: the worker's pid and those of the
/// processes it started, each checked to be running.
fn start_children(server: &Server, query: &str) -> Vec<u32> {
    let r = server.get(&format!("/children.js?{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.text()).expect("JSON from the app");
    let pids: Vec<u32> = ["worker", "child", "detached", "renamed"]
        .iter()
        .filter_map(|k| v[*k].as_u64())
        .map(|p| u32::try_from(p).expect("a pid"))
        .collect();
    for p in &pids {
        assert!(!process_gone(*p), "process {p} of {v} runs");
    }
    pids
}

/// iisn's private run directory (the only one it made).
fn run_dir(server: &Server) -> std::path::PathBuf {
    let dirs = server.socket_dirs();
    assert_eq!(dirs.len(), 1, "one run directory: {dirs:?}");
    dirs.into_iter().next().expect("one")
}

/// The processes whose `/proc/PID/<file>` holds `needle`.
fn processes_with(file: &str, needle: &[u8]) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(bytes) = std::fs::read(e.path().join(file))
            && bytes.windows(needle.len()).any(|w| w == needle)
            && !process_gone(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

/// The processes of the run: a path in its directory in their environment (the mark iisn
/// looks for).
fn run_processes(dir: &std::path::Path) -> Vec<u32> {
    processes_with("environ", format!("{}/", dir.display()).as_bytes())
}

/// The guardian of the run: `iisn __guard <dir>`.
fn guardians(dir: &std::path::Path) -> Vec<u32> {
    processes_with(
        "cmdline",
        format!("__guard\0{}\0", dir.display()).as_bytes(),
    )
}

/// Within a few seconds, none of `pids` runs, nothing carries the run's mark, its guardian
/// has exited and its directory is gone.
fn assert_run_gone(dir: &std::path::Path, pids: &[u32], what: &str) {
    let alive = wait_gone(pids, Duration::from_secs(5));
    assert!(alive.is_empty(), "processes outlived {what}: {alive:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while (dir.exists() || !guardians(dir).is_empty() || !run_processes(dir).is_empty())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        run_processes(dir),
        Vec::<u32>::new(),
        "marked processes after {what}"
    );
    assert_eq!(
        guardians(dir),
        Vec::<u32>::new(),
        "the guardian after {what}"
    );
    assert!(!dir.exists(), "{} left after {what}", dir.display());
}

/// Ctrl-C: what the app started goes with the worker, detached or not, even a detached child
/// whose environment no longer names iisn's directory (found through its parent), even when
/// they all ignore SIGTERM.
#[test]
fn ctrl_c_takes_what_the_app_started() {
    let Some(site) = Site::new("children") else {
        return;
    };
    let mut server = site.serve();
    server.wait_ready(1);
    let dir = run_dir(&server);
    let mut pids = start_children(&server, "spawn&renamed");
    assert_eq!(pids.len(), 4);
    let guardian = guardians(&dir);
    assert_eq!(guardian.len(), 1, "one guardian per run");
    pids.extend(guardian);
    server.stop();
    assert_run_gone(&dir, &pids, "Ctrl-C of iisn");
}

/// `kill -9` of iisn: the guardian kills what the app started (the worker itself dies by
/// PR_SET_PDEATHSIG), then removes the run directory and exits. It ignores the signals a
/// terminal or a service manager would send it.
#[test]
fn sigkill_of_iisn_takes_what_the_app_started() {
    let Some(site) = Site::new("children") else {
        return;
    };
    let mut server = site.serve();
    server.wait_ready(1);
    let dir = run_dir(&server);
    let mut pids = start_children(&server, "spawn");
    let guardian = guardians(&dir);
    assert_eq!(guardian.len(), 1, "one guardian per run");
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(guardian[0] as i32), signal);
    }
    assert!(
        wait_gone(&guardian, Duration::from_millis(200)) == guardian,
        "the guardian survives SIGINT, SIGTERM and SIGHUP"
    );
    assert_eq!(server.get("/children.js").status, 200);
    pids.extend(guardian);
    server.kill9();
    assert_run_gone(&dir, &pids, "kill -9 of iisn");
}

/// A recycle (a watched file changed) stops the old worker and everything it started.
#[test]
fn recycle_takes_what_the_old_worker_started() {
    let Some(site) = Site::new("children") else {
        return;
    };
    let server = site.serve();
    server.wait_ready(1);
    let pids = start_children(&server, "spawn&renamed");
    let script = std::fs::read_to_string(site.path("children.js")).expect("read the app");
    site.write("children.js", &format!("{script}// edited\n"));
    let alive = wait_gone(&pids, TIMEOUT);
    assert!(
        alive.is_empty(),
        "processes outlived the recycle: {alive:?}"
    );
    let r = server.get("/children.js");
    assert_eq!(r.status, 200);
    assert_ne!(r.pid(), pids[0], "a new worker answers");
}

/// A worker that exited leaves its slot when the next request refills it; what it started
/// goes then.
#[test]
fn refilling_an_exited_workers_slot_takes_what_it_started() {
    let Some(site) = Site::new("children") else {
        return;
    };
    let server = site.serve();
    server.wait_ready(1);
    let pids = start_children(&server, "spawn&exit");
    assert_eq!(
        wait_gone(&pids[..1], TIMEOUT),
        Vec::<u32>::new(),
        "the worker exits"
    );
    assert!(
        pids[1..].iter().all(|p| !process_gone(*p)),
        "its children outlive it until its slot is refilled"
    );
    let r = server.get("/children.js");
    assert_eq!(r.status, 200);
    let alive = wait_gone(&pids, TIMEOUT);
    assert!(alive.is_empty(), "processes outlived the refill: {alive:?}");
}
