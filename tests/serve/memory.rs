//! Memory: 200 MiB up and 200 MiB down through iisn at the same time, generated and
//! consumed on the fly, while iisn's resident memory is sampled from `/proc/<pid>/status`.
//! Streaming both ways (no whole-body buffering) keeps it flat: the peak stays under 64 MiB.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::Request;

use crate::harness::{Generated, Site, count_body, open};

const MIB: u64 = 1024 * 1024;
const EACH_WAY: u64 = 200 * MIB;
const LIMIT_KIB: u64 = 64 * 1024;

/// `VmRSS` and `VmHWM` (peak) of `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[test]
fn rss_stays_flat_with_200_mib_each_way() {
    let Some(site) = Site::new("big") else { return };
    let server = site.serve();
    server.wait_ready(1);
    let pid = server.pid();
    let (start_rss, _) = rss_kib(pid).expect("/proc/<pid>/status");

    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(start_rss));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            let mut samples = 0u32;
            while !done.load(Ordering::Acquire) {
                if let Some((rss, _)) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::AcqRel);
                    samples += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            samples
        })
    };

    let addr = server.addr();
    let t0 = Instant::now();
    let (status, down, tail) = server.block_on_for(Duration::from_secs(120), async move {
        let req = Request::post(format!("/hello.js?both&down={EACH_WAY}&chunk=65536"))
            .body(Generated::new(EACH_WAY, 64 * 1024).boxed())
            .expect("request");
        let resp = open(addr, req).await;
        let status = resp.status();
        let (n, tail) = count_body(resp.into_body(), 64).await;
        (status, n, tail)
    });
    let took = t0.elapsed();
    done.store(true, Ordering::Release);
    let samples = sampler.join().expect("sampler");
    let (end_rss, hwm) = rss_kib(pid).expect("/proc/<pid>/status");

    assert_eq!(status, 200);
    let suffix = format!("\nuploaded={EACH_WAY}\n");
    assert_eq!(
        String::from_utf8_lossy(&tail[tail.len() - suffix.len()..]),
        suffix
    );
    assert_eq!(down, EACH_WAY + suffix.len() as u64);

    let peak = peak.load(Ordering::Acquire).max(end_rss);
    eprintln!(
        "memory: 200 MiB each way in {took:.2?} ({:.0} MiB/s each way); iisn RSS {} KiB at start, \
         {} KiB at the end, sampled peak {} KiB over {samples} samples, VmHWM {} KiB",
        EACH_WAY as f64 / MIB as f64 / took.as_secs_f64(),
        start_rss,
        end_rss,
        peak,
        hwm
    );
    assert!(samples > 0);
    assert!(peak < LIMIT_KIB, "sampled peak RSS {peak} KiB >= 64 MiB");
    assert!(hwm < LIMIT_KIB, "VmHWM {hwm} KiB >= 64 MiB");
}
