//! The cost of the pipeline's trace recorder: `Pipeline::decide` on the Kudu example (URL
//! Rewrite with an `IsFile` condition, a static file, request filtering, the app) with the
//! recorder off, as every `iisn serve` request runs it, and with it on, as `iisn route` and
//! `serve --trace` run it. Off must cost nothing measurable: compare `trace off` with the
//! same bench on a build without the recorder. `cargo bench --bench route`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use iisn::config::{LoadOptions, load_site};
use iisn::serve::pipeline::{Pipeline, RequestHead};

const URLS: [&str; 4] = ["/", "/about.html", "/web.config", "/api/items?page=2"];

fn kudu() -> (Pipeline, Vec<RequestHead>) {
    // IISN_BENCH_SITE: the same copy of the site for two builds (file system speed differs
    // between folders, and the pipeline stats files).
    let root = std::env::var_os("IISN_BENCH_SITE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kudu"),
        std::path::PathBuf::from,
    );
    let site = load_site(&root, &LoadOptions::from_process()).expect("examples/kudu loads");
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, HeaderValue::from_static("localhost"));
    let heads = URLS
        .iter()
        .map(|u| RequestHead {
            method: Method::GET,
            target: (*u).to_string(),
            headers: headers.clone(),
            remote: SocketAddr::from(([127, 0, 0, 1], 50000)),
            local_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            auth: None,
        })
        .collect();
    (Pipeline::new(Arc::new(site)), heads)
}

fn trace_off(c: &mut Criterion) {
    let (p, heads) = kudu();
    c.bench_function("decide kudu, 4 URLs, trace off", |b| {
        b.iter(|| {
            for h in &heads {
                black_box(p.decide(black_box(h), None));
            }
        })
    });
}

fn trace_on(c: &mut Criterion) {
    use iisn::serve::pipeline::trace::Trace;
    let (p, heads) = kudu();
    c.bench_function("decide kudu, 4 URLs, trace on", |b| {
        b.iter(|| {
            for h in &heads {
                let mut t = Trace::new();
                black_box(p.decide_traced(black_box(h), None, Some(&mut t)));
                black_box(t);
            }
        })
    });
}

criterion_group!(benches, trace_off, trace_on);
criterion_main!(benches);
