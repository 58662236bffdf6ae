//! Handler-mapping decisions remembered per front thread, so that the requests a site gets
//! over and over (`GET /server.js`, `GET /api/items`) skip decoding, normalising, the URL
//! half of request filtering and handler mapping.
//!
//! Only a decision that is a function of the configuration, the method and the raw URL path
//! alone is remembered: an iisnode mapping reached without URL Rewrite (no rules apply to the
//! URL's folder), on the first handler-mapping pass (no default document, which reads the
//! folder), with no `resourceType` check along the way (which stats the file), and without a
//! trace being recorded. Everything that depends on the rest of the request (the query
//! string's length and sequences, `Content-Length`, header sizes) is checked on every request
//! ([`super::filtering::Filter::check_request_facts`]); when one of those checks fails, the
//! whole pipeline runs again, so the error is the one IIS gives.
//!
//! Entries belong to one [`super::Pipeline`] (its `id`): a configuration reload builds a new
//! pipeline, and the first request that meets a thread's entries of an older one clears them.
//! At most [`CAPACITY`] paths are kept per thread; then the memo starts over (URLs with ids
//! in their PATH_INFO would otherwise grow it without end).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use http::Method;

use super::{AppHandler, Decision, FolderConfig, Routed};

/// Paths remembered per thread before the memo starts over.
pub(super) const CAPACITY: usize = 1024;

/// What is kept of an iisnode decision.
pub(super) struct App {
    handler_config: Arc<FolderConfig>,
    handler: usize,
    script_rel: String,
    script_url: String,
    path_info: String,
    config: Arc<FolderConfig>,
    url: String,
}

impl App {
    /// The remembered part of `routed`, when it is an iisnode decision without URL Rewrite.
    pub(super) fn of(routed: &Routed) -> Option<App> {
        let Decision::App(a) = &routed.decision else {
            return None;
        };
        if routed.rewritten || !routed.set_headers.is_empty() {
            return None;
        }
        Some(App {
            handler_config: a.handler_config.clone(),
            handler: a.handler,
            script_rel: a.script_rel.clone(),
            script_url: a.script_url.clone(),
            path_info: a.path_info.clone(),
            config: routed.config.clone(),
            url: routed.url.clone(),
        })
    }

    /// The folder configuration whose request filtering applies.
    pub(super) fn config(&self) -> &Arc<FolderConfig> {
        &self.config
    }

    /// The decision again, for a request with this query string.
    pub(super) fn routed(&self, query: Option<&str>) -> Routed {
        Routed {
            decision: Decision::App(AppHandler {
                handler_config: self.handler_config.clone(),
                handler: self.handler,
                script_rel: self.script_rel.clone(),
                script_url: self.script_url.clone(),
                path_info: self.path_info.clone(),
            }),
            config: self.config.clone(),
            url: self.url.clone(),
            rewritten: false,
            set_headers: Vec::new(),
            query: query.map(str::to_string),
        }
    }
}

/// The decisions remembered for one raw path, by method.
type Entries = Vec<(Method, Arc<App>)>;

/// One thread's entries: raw path → (method, decision), for one pipeline.
#[derive(Default)]
struct Memo {
    pipeline: u64,
    map: HashMap<String, Entries, BuildHasherDefault<FxHasher>>,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// The decision remembered for `method` on `raw_path` under pipeline `pipeline`.
pub(super) fn get(pipeline: u64, method: &Method, raw_path: &str) -> Option<Arc<App>> {
    MEMO.with(|m| {
        let m = m.borrow();
        if m.pipeline != pipeline {
            return None;
        }
        m.map
            .get(raw_path)?
            .iter()
            .find(|(k, _)| k == method)
            .map(|(_, a)| a.clone())
    })
}

/// Remembers `app` for `method` on `raw_path` under pipeline `pipeline`.
pub(super) fn put(pipeline: u64, method: &Method, raw_path: &str, app: App) {
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.pipeline != pipeline || m.map.len() >= CAPACITY {
            m.map.clear();
            m.pipeline = pipeline;
        }
        let entries = m.map.entry(raw_path.to_string()).or_default();
        entries.retain(|(k, _)| k != method);
        entries.push((method.clone(), Arc::new(app)));
    })
}

/// The number of paths this thread remembers (for tests).
#[cfg(test)]
pub(super) fn len(pipeline: u64) -> usize {
    MEMO.with(|m| {
        let m = m.borrow();
        if m.pipeline == pipeline {
            m.map.len()
        } else {
            0
        }
    })
}

/// A word-at-a-time multiplicative hash (as rustc's FxHasher): the keys are URL paths the
/// server itself chose to remember, so no flooding resistance is needed, and SipHash would
/// cost more than the lookup saves.
#[derive(Default)]
struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
