//! `iisn serve --trace[=PATTERN]`: the pipeline's reasoning for live requests, printed with
//! the logs (the text or JSON log format), with the worker that answered and the final
//! status.
//!
//! The trace comes from [`Pipeline::decide_traced`], the function every request is routed
//! with (`decide` is `decide_traced(.., None)`), through [`Pipeline::decide_explained`] as
//! `iisn route` prints it, run on the same request head just before the request is routed.
//! So `route`, `serve --trace` and what `serve` does cannot disagree, short of a file
//! changing between the two calls.
//!
//! Off by default and free when off: [`begin`] is one load of a `OnceLock` that is never set.
//! When on, traced requests pay for the extra decision and the rendering (on a blocking
//! thread, bounded by [`LIMIT`] so that a runaway rewrite pattern cannot hold the request).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use http::Request;
use serde_json::{Value, json};

use super::events::{ServeEvent, WorkerId};
use super::front::{Peer, ServerCtx};
use super::pipeline::trace::{Report, Trace};
use super::pipeline::{Pipeline, RequestHead};

/// How long a traced decision may take before the trace gives up (the request itself is
/// routed under serve's own rewrite budget either way).
pub const LIMIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Options {
    /// Trace only targets containing this (empty: every request).
    pattern: String,
}

static OPTIONS: OnceLock<Options> = OnceLock::new();

/// Turns tracing on for this process (`serve --trace[=PATTERN]`; an empty pattern traces
/// every request).
pub fn enable(pattern: &str) {
    let _ = OPTIONS.set(Options {
        pattern: pattern.to_string(),
    });
}

/// Whether `serve --trace` is on.
pub fn enabled() -> bool {
    OPTIONS.get().is_some()
}

/// A traced request waiting for its response.
#[derive(Debug)]
pub struct Pending {
    lines: Vec<String>,
    json: Value,
}

/// Traces the request about to be routed, when `--trace` asks for it.
pub async fn begin<B>(ctx: &ServerCtx, req: &Request<B>, peer: Peer) -> Option<Pending> {
    let opts = OPTIONS.get()?;
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    if !opts.pattern.is_empty() && !target.contains(opts.pattern.as_str()) {
        return None;
    }
    let head = RequestHead {
        method: req.method().clone(),
        target: target.to_string(),
        headers: req.headers().clone(),
        remote: peer.remote,
        local_addr: peer.local,
        auth: ctx.auth.clone(),
    };
    let local = peer.is_local_call();
    let pipeline: std::sync::Arc<Pipeline> = ctx.router.pipeline().clone();
    let (method, url) = (head.method.to_string(), head.target.clone());
    let job = tokio::task::spawn_blocking(move || {
        let mut trace = Trace::new();
        let routed = pipeline.decide_explained(&head, &mut trace);
        let report = Report {
            pipeline: &pipeline,
            method: head.method.as_str(),
            url: &head.target,
            routed: &routed,
            trace: &trace,
            local,
        };
        (report.to_lines(), report.to_json())
    });
    let (lines, json) = match tokio::time::timeout(LIMIT, job).await {
        Ok(Ok(done)) => done,
        _ => (
            vec![format!(
                "{method} {url}: the trace did not finish within {} s (a rewrite pattern backtracks)",
                LIMIT.as_secs()
            )],
            json!({"url": url, "method": method, "outcome": "error", "steps": []}),
        ),
    };
    Some(Pending { lines, json })
}

impl Pending {
    /// Prints the trace with what the request got: the final status and the worker.
    pub fn finish(self, ctx: &ServerCtx, status: u16, substatus: u32, worker: Option<&WorkerId>) {
        let Pending {
            mut lines,
            mut json,
        } = self;
        let code = if substatus > 0 {
            format!("{status}.{substatus}")
        } else {
            status.to_string()
        };
        let who = worker
            .map(|w| format!(" by {}#{} (pid {})", w.app, w.slot + 1, w.pid))
            .unwrap_or_default();
        lines.push(format!("  ⇒ answered {code}{who}"));
        if let Value::Object(o) = &mut json {
            o.insert(
                "time".into(),
                json!(super::term::rfc3339(SystemTime::now())),
            );
            o.insert("stream".into(), json!("iisn"));
            o.insert("event".into(), json!("trace"));
            o.insert(
                "response".into(),
                json!({
                    "status": status,
                    "substatus": substatus,
                    "worker": worker.map(|w| json!({"app": &*w.app, "slot": w.slot + 1, "pid": w.pid})),
                }),
            );
        }
        ctx.router
            .shared_events()
            .emit(ServeEvent::Trace { lines, json });
    }
}
