//! The proxy benchmark: iisn side by side with the alternatives, in one run, as ratios.
//!
//! Run with `cargo bench --bench proxy` (node must be on PATH). It starts, one after the
//! other on loopback:
//!
//! * `node direct`: one node process serving the app on a TCP port (no proxy: the ceiling
//!   for a single process);
//! * `node cluster`: node's `cluster` module with the same number of workers as iisn (what
//!   PM2's cluster mode does; the kernel hands connections to workers, nothing proxies);
//! * `iisn`: `iisn serve` with `nodeProcessCountPerApplication` workers, the same app behind
//!   iisn's router and proxy over Unix sockets.
//!
//! Each gets the same closed-loop load (keep-alive connections, each sending the next
//! request when the previous answer arrived) for the same time, after a warm-up, and the
//! table shows requests per second, latency percentiles and iisn's ratio to each. The
//! machine's cores are shared with the load generator, so compare ratios, not absolute
//! numbers. Knobs: `IISN_BENCH_SECS` (default 5), `IISN_BENCH_CONNS` (default 32),
//! `IISN_BENCH_WORKERS` (default 2).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};

const APP: &str = r#"
var http = require('http');
var body = 'Hello, world! ' + new Array(100).join('x');
http.createServer(function (req, res) {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}).listen(process.env.PORT);
"#;

const CLUSTER: &str = r#"
var cluster = require('cluster');
var n = parseInt(process.env.WORKERS, 10);
if (cluster.isPrimary) {
  for (var i = 0; i < n; i++) cluster.fork();
  var ready = 0;
  cluster.on('listening', function () { if (++ready === n) console.log('ready'); });
} else {
  require(process.env.APP);
}
"#;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Target {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    path: &'static str,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_direct(dir: &Path) -> Target {
    let port = free_port();
    let child = Command::new("node")
        .arg(dir.join("app.js"))
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("node starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr);
    Target {
        name: "node direct (1 process)",
        child,
        addr,
        path: "/",
    }
}

fn start_cluster(dir: &Path, workers: u64) -> Target {
    let port = free_port();
    let mut child = Command::new("node")
        .arg(dir.join("cluster.js"))
        .env("PORT", port.to_string())
        .env("WORKERS", workers.to_string())
        .env("APP", dir.join("app.js"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("node starts");
    if let Some(out) = child.stdout.take() {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr);
    Target {
        name: "node cluster",
        child,
        addr,
        path: "/",
    }
}

fn start_iisn(dir: &Path) -> Target {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iisn"))
        .args(["serve", "--port", "0", "--log-format", "json", "--no-watch"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("iisn starts");
    let out = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(out);
    let mut url = None;
    let mut ready = 0;
    let workers = env_num("IISN_BENCH_WORKERS", 2);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["event"] == "listening" {
            url = v["url"].as_str().map(str::to_string);
        }
        if v["event"] == "ready" {
            ready += 1;
        }
        line.clear();
        if url.is_some() && ready >= workers {
            break;
        }
    }
    // Keep draining iisn's output so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    let url = url.expect("iisn printed its address");
    let addr: SocketAddr = url.trim_start_matches("http://").parse().expect("address");
    Target {
        name: "iisn",
        child,
        addr,
        path: "/app.js",
    }
}

struct Result {
    name: &'static str,
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

fn load(t: &Target, secs: u64, conns: u64) -> Result {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = t.addr;
    let path = t.path;
    rt.block_on(async move {
        let run = |dur: Duration| async move {
            let stop = Arc::new(AtomicBool::new(false));
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let stop = stop.clone();
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut errors = 0u64;
                    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
                        return (lat, 1);
                    };
                    let _ = stream.set_nodelay(true);
                    let Ok((mut sender, conn)) =
                        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                            .await
                    else {
                        return (lat, 1);
                    };
                    tokio::spawn(conn);
                    while !stop.load(Ordering::Relaxed) {
                        let req = http::Request::get(path)
                            .header("host", "127.0.0.1")
                            .body(Empty::<bytes::Bytes>::new())
                            .expect("request");
                        let t0 = Instant::now();
                        match sender.send_request(req).await {
                            Ok(resp) if resp.status() == 200 => {
                                if resp.into_body().collect().await.is_err() {
                                    errors += 1;
                                    break;
                                }
                                lat.push(t0.elapsed());
                            }
                            _ => {
                                errors += 1;
                                break;
                            }
                        }
                    }
                    (lat, errors)
                }));
            }
            tokio::time::sleep(dur).await;
            stop.store(true, Ordering::Relaxed);
            let mut all = Vec::new();
            let mut errors = 0;
            for t in tasks {
                if let Ok((l, e)) = t.await {
                    all.extend(l);
                    errors += e;
                }
            }
            (all, errors)
        };
        let _ = run(Duration::from_secs(1)).await; // warm-up
        let start = Instant::now();
        let (mut lat, errors) = run(Duration::from_secs(secs)).await;
        let took = start.elapsed().as_secs_f64();
        lat.sort();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Result {
            name: t.name,
            rps: lat.len() as f64 / took,
            p50: pct(0.5),
            p99: pct(0.99),
            errors,
        }
    })
}

fn main() {
    if Command::new("node").arg("--version").output().is_err() {
        println!("proxy benchmark skipped: node is not on PATH");
        return;
    }
    let secs = env_num("IISN_BENCH_SECS", 5);
    let conns = env_num("IISN_BENCH_CONNS", 32);
    let workers = env_num("IISN_BENCH_WORKERS", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("app.js"), APP).expect("write");
    std::fs::write(dir.path().join("cluster.js"), CLUSTER).expect("write");
    std::fs::write(
        dir.path().join("web.config"),
        format!(
            r#"<configuration><system.webServer><handlers><add name="iisnode" path="app.js" verb="*" modules="iisnode"/></handlers><iisnode nodeProcessCountPerApplication="{workers}" loggingEnabled="false"/></system.webServer></configuration>"#
        ),
    )
    .expect("write");

    println!(
        "proxy benchmark: {conns} keep-alive connections, {secs} s each, {workers} workers, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut results = Vec::new();
    for start in [
        start_direct as fn(&Path) -> Target,
        |d: &Path| start_cluster(d, env_num("IISN_BENCH_WORKERS", 2)),
        start_iisn,
    ] {
        let t = start(dir.path());
        results.push(load(&t, secs, conns));
    }
    let iisn = results
        .iter()
        .find(|r| r.name == "iisn")
        .map_or(0.0, |r| r.rps);
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>7} {:>14}",
        "target", "req/s", "p50", "p99", "errors", "iisn / target"
    );
    for r in &results {
        println!(
            "{:<26} {:>10.0} {:>8.2}ms {:>8.2}ms {:>7} {:>14.2}",
            r.name,
            r.rps,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.errors,
            if r.rps > 0.0 { iisn / r.rps } else { 0.0 }
        );
    }
}
