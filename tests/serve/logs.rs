//! Logs: the live JSON lines, and iisnode-style files `<host>-<pid>-<stream>-<ms>.txt` in
//! `<scriptDir>/<logDirectory>` with rollover, pruning and `index.html` (DECISIONS.md §13).

use crate::harness::{Server, Site, TIMEOUT, hostname, is_output};

/// Log files (everything but `index.html`) in `iisnode/`.
fn log_files(site: &Site, dir: &str) -> Vec<String> {
    site.files_in(dir)
        .into_iter()
        .filter(|f| f != "index.html")
        .collect()
}

/// Splits `<host>-<pid>-<stream>-<ms>.txt`.
fn parse_name(name: &str) -> (String, u32, String, u64) {
    let stem = name
        .strip_suffix(".txt")
        .unwrap_or_else(|| panic!("{name} ends with .txt"));
    let mut parts = stem.rsplitn(4, '-');
    let ms = parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{name}: ms"));
    let stream = parts.next().expect("stream").to_string();
    let pid = parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{name}: pid"));
    let host = parts.next().expect("host").to_string();
    (host, pid, stream, ms)
}

fn wait_stdout(server: &Server, text: &str) {
    server.wait_for_event(|e| is_output(e, "stdout", text), TIMEOUT);
}

/// Worker output is shown live, one JSON object per line, tagged with app, worker and pid.
#[test]
fn live_output_as_json_lines() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    let server = site.serve();
    let r = server.get("/hello.js?err");
    let pid = r.pid();
    let out = server.wait_for_event(|e| is_output(e, "stdout", "Request1"), TIMEOUT);
    assert_eq!(out["app"], "hello.js", "{out}");
    assert_eq!(out["worker"], 1, "{out}");
    assert_eq!(out["pid"], pid, "{out}");
    assert!(
        out["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{out}"
    );
    let err = server.wait_for_event(|e| is_output(e, "stderr", "Oops1"), TIMEOUT);
    assert_eq!(err["pid"], pid, "{err}");
}

/// C41 / 105_logging: one stdout file per process with exactly what it printed (LF line
/// ends), an index.html beside it, and no stderr file when nothing went to stderr.
#[test]
fn log_file_naming_and_content() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    let server = site.serve();
    let mut pid = 0;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    for n in 1..=5 {
        let r = server.get("/hello.js");
        assert_eq!(r.text(), format!("Hello, world {n}"));
        pid = r.pid();
    }
    wait_stdout(&server, "Request5");

    assert_eq!(
        site.files_in("iisnode")
            .iter()
            .filter(|f| *f == "index.html")
            .count(),
        1
    );
    let files = log_files(&site, "iisnode");
    assert_eq!(files.len(), 1, "{files:?}");
    let (host, file_pid, stream, ms) = parse_name(&files[0]);
    assert_eq!(host, hostname());
    assert_eq!(file_pid, pid);
    assert_eq!(stream, "stdout");
    assert!(
        ms >= before.saturating_sub(60_000) && ms <= before + 60_000,
        "{ms} vs {before}"
    );
    let text = std::fs::read_to_string(site.path("iisnode").join(&files[0])).expect("read log");
    assert_eq!(text, "Request1\nRequest2\nRequest3\nRequest4\nRequest5\n");

    // stderr gets its own file.
    server.get("/hello.js?err");
    server.wait_for_event(|e| is_output(e, "stderr", "Oops6"), TIMEOUT);
    let files = log_files(&site, "iisnode");
    let stderr: Vec<&String> = files.iter().filter(|f| f.contains("-stderr-")).collect();
    assert_eq!(stderr.len(), 1, "{files:?}");
    assert_eq!(
        std::fs::read_to_string(site.path("iisnode").join(stderr[0])).expect("read"),
        "Oops6\n"
    );
    let index = std::fs::read_to_string(site.path("iisnode/index.html")).expect("index.html");
    for f in &files {
        assert!(index.contains(f.as_str()), "index.html lists {f}");
    }
}

/// C42 / 110_log_size_quota: maxLogFileSizeInKB="1": the second 1 KiB line starts a new file.
#[test]
fn log_rollover() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config("hello.js", r#"maxLogFileSizeInKB="1""#);
    let server = site.serve();
    let line = "x".repeat(1024);
    for _ in 0..2 {
        let mark = server.mark();
        server.get("/hello.js?big");
        server.wait_for_event_after(mark, |e| is_output(e, "stdout", &line), TIMEOUT);
    }
    let files = log_files(&site, "iisnode");
    // The first line (1025 bytes with its LF) fits in a new file; the second finds that file
    // over the limit and starts another.
    assert_eq!(files.len(), 2, "{files:?}");
    let mut contents: Vec<(u64, String)> = files
        .iter()
        .map(|f| {
            (
                parse_name(f).3,
                std::fs::read_to_string(site.path("iisnode").join(f)).expect("read"),
            )
        })
        .collect();
    contents.sort();
    assert_eq!(contents[0].1, format!("{line}\n"));
    assert_eq!(contents[1].1, format!("{line}\n"));
    assert!(site.path("iisnode/index.html").is_file());
}

/// C43: maxLogFiles="3" with 1 KiB files: after many rollovers at most 4 log files remain
/// (iisnode's interceptor prunes to 3 before it creates the next file), the newest among
/// them, and index.html lists exactly those.
#[test]
fn log_pruning() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config(
        "hello.js",
        r#"maxLogFileSizeInKB="1" maxLogFiles="3" logDirectory="logs\deep""#,
    );
    let server = site.serve();
    for _ in 0..10 {
        server.get("/hello.js?big");
    }
    server.get("/hello.js");
    wait_stdout(&server, "Request11");
    let files = log_files(&site, "logs/deep");
    assert!(!files.is_empty() && files.len() <= 4, "{files:?}");
    let newest = files
        .iter()
        .max_by_key(|f| parse_name(f).3)
        .expect("a file");
    let text = std::fs::read_to_string(site.path("logs/deep").join(newest)).expect("read");
    assert!(
        text.ends_with("Request11\n"),
        "the newest file is kept: {text:?}"
    );
    let index = std::fs::read_to_string(site.path("logs/deep/index.html")).expect("index.html");
    for f in &files {
        assert!(index.contains(f.as_str()), "index.html lists {f}");
    }
    assert!(
        !site.path("iisnode").exists(),
        "logDirectory replaces the default folder"
    );
}

/// C15 / 111: loggingEnabled="false" writes no files; the terminal still shows the output.
#[test]
fn logging_disabled_writes_no_files() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    site.web_config("hello.js", r#"loggingEnabled="false""#);
    let server = site.serve();
    server.get("/hello.js?err");
    wait_stdout(&server, "Request1");
    server.wait_for_event(|e| is_output(e, "stderr", "Oops1"), TIMEOUT);
    assert!(
        !site.path("iisnode").exists(),
        "{:?}",
        site.files_in("iisnode")
    );
}

/// A worker flooding stdout: every line reaches the terminal and the log file, in order, and
/// iisn keeps answering.
#[test]
fn flooding_stdout_loses_nothing() {
    let Some(site) = Site::new("flood") else {
        return;
    };
    // Large enough limits that nothing is pruned.
    site.web_config(
        "hello.js",
        r#"maxLogFileSizeInKB="256" maxTotalLogFileSizeInKB="65536""#,
    );
    let server = site.serve();
    const N: usize = 20_000;
    let r = server.get(&format!("/hello.js?lines={N}"));
    assert_eq!(r.text(), format!("done {N}"));
    let last = format!("line {} {}", N - 1, ".".repeat(80));
    wait_stdout(&server, &last);
    let lines: Vec<String> = server
        .events()
        .iter()
        .filter(|e| e["stream"] == "stdout")
        .filter_map(|e| e["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(lines.len(), N);
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.starts_with(&format!("line {i} ")),
            "line {i} out of order: {l}"
        );
    }
    let files = log_files(&site, "iisnode");
    let total: usize = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(site.path("iisnode").join(f))
                .expect("read")
                .lines()
                .count()
        })
        .sum();
    assert_eq!(total, N, "{files:?}");
    assert_eq!(server.get("/hello.js").text(), "quiet");
}

/// `-v`: one access-log event per request (method, URL, status, ms, worker).
#[test]
fn verbose_access_log() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    let server = site.iisn().arg("-v").start();
    let pid = server.get("/hello.js?q=1").pid();
    let e = server.wait_for_event(
        |e| crate::harness::is_event(e, "request") && e["url"] == "/hello.js?q=1",
        TIMEOUT,
    );
    assert_eq!(e["method"], "GET", "{e}");
    assert_eq!(e["status"], 200, "{e}");
    assert_eq!(e["pid"], pid, "{e}");
    assert_eq!(e["worker"], 1, "{e}");
    assert!(e["ms"].is_u64(), "{e}");
    server.get("/nothing");
    let e = server.wait_for_event(
        |e| crate::harness::is_event(e, "request") && e["url"] == "/nothing",
        TIMEOUT,
    );
    assert_eq!(e["status"], 404, "{e}");
}

/// iisnode's tests 105 and 110 read the log files from disk as soon as the answer arrives:
/// iisnode wrote node's output synchronously, so the line a script logged before answering
/// was there. iisn reads the output through pipes on other tasks, and holds an answer
/// until what its worker wrote before it is in the file.
#[test]
fn the_line_logged_before_an_answer_is_on_disk_when_it_arrives() {
    let Some(site) = Site::new("counter") else {
        return;
    };
    let server = site.serve();
    let dir = site.path("iisnode");
    let mut missed = Vec::new();
    for n in 1..=200 {
        assert_eq!(server.get("/hello.js").text(), format!("Hello, world {n}"));
        let text: String = log_files(&site, "iisnode")
            .iter()
            .filter(|f| f.contains("-stdout-"))
            .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
            .collect();
        if !text.contains(&format!("Request{n}\n")) {
            missed.push(n);
        }
    }
    assert!(
        missed.is_empty(),
        "lines not yet in the file when their answer arrived: {missed:?}"
    );
}

/// iisnode's interceptor creates the log folder and prunes it as node starts, before the
/// application writes anything: old files beyond maxLogFiles go even for a silent app.
#[test]
fn old_logs_are_pruned_when_a_worker_starts() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.web_config("hello.js", r#"maxLogFiles="2""#);
    for i in 0..5 {
        site.write(&format!("iisnode/vm-1-stdout-{i}.txt"), "old\n");
    }
    let server = site.serve();
    server.wait_ready(1);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while log_files(&site, "iisnode").len() > 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            log_files(&site, "iisnode")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
