//! Handler-mapping decisions remembered per front thread, so that the requests a site gets
//! over and over (`GET /server.js`, `GET /api/items`) skip decoding, normalising, the URL
//! half of request filtering, URL Rewrite and handler mapping.
//!
//! Only an iisnode decision that is a function of the configuration, the method, the request
//! target and file tests made again on every request is remembered:
//!
//! * with no rewrite rules for the URL's folder, it is a function of the method and raw URL
//!   path alone (any query string);
//! * through rewrite rules that read nothing but the request line
//!   ([`super::rewrite::RuleSet::memoizable`]: no `{HTTP_*}` header, no address, no
//!   `<serverVariables>`; the Kudu and SPA templates qualify), it is kept for the exact query
//!   string too, with the IsFile / IsDirectory tests the conditions made: a remembered
//!   decision is used only while each test answers as it did, so a file that appears or
//!   goes away changes the decision exactly as it would without the memo;
//! * handler mapping on its first pass (no default document, which reads the folder), with
//!   no `resourceType` check along the way (which stats the file), and no trace recorded.
//!
//! Everything that depends on the rest of the request (the query string's length and
//! sequences, `Content-Length`, header sizes) is checked on every request
//! ([`super::filtering::Filter::check_request_facts`]); when one of those checks fails, the
//! whole pipeline runs again, so the error is the one IIS gives.
//!
//! Entries belong to one [`super::Pipeline`] (its `id`): a configuration reload builds a new
//! pipeline, and the first request that meets a thread's entries of an older one clears them.
//! At most [`CAPACITY`] paths are kept per thread, [`PER_PATH`] decisions each, for targets
//! of at most [`MAX_TARGET`] bytes; then the memo starts over (URLs with ids in their
//! PATH_INFO would otherwise grow it without end). A decision whose file tests answer
//! differently is forgotten.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use http::Method;

use super::rewrite::Probe;
use super::{AppHandler, Decision, FolderConfig, Routed};

/// Paths remembered per thread before the memo starts over.
pub(super) const CAPACITY: usize = 1024;

/// Decisions remembered per raw path, across methods and query strings.
pub(super) const PER_PATH: usize = 8;
/// The longest request target (path and query) whose decision is remembered: longer ones
/// are rare, and would make the memo's memory grow with the URLs clients send.
pub(super) const MAX_TARGET: usize = 512;

/// What is kept of a decision URL Rewrite took part in.
struct Rewritten {
    /// The query string the decision was made for (the rules may read it).
    raw_query: Option<String>,
    /// The query string after the rules.
    query: Option<String>,
    /// The file tests the rules' conditions made, with their answers.
    probes: Vec<Probe>,
}

/// What is kept of an iisnode decision.
pub(super) struct App {
    handler_config: Arc<FolderConfig>,
    handler: usize,
    script_rel: String,
    script_url: String,
    path_info: String,
    config: Arc<FolderConfig>,
    url: String,
    /// The configuration of the URL as requested, whose request filtering applies.
    filter: Arc<FolderConfig>,
    rewritten: bool,
    /// `None` when no rewrite rule applies to the URL's folder: then the decision holds for
    /// any query string.
    rules: Option<Rewritten>,
}

impl App {
    fn of(routed: &Routed, filter: &Arc<FolderConfig>, rules: Option<Rewritten>) -> Option<App> {
        let Decision::App(a) = &routed.decision else {
            return None;
        };
        if !routed.set_headers.is_empty() || !routed.set_vars.is_empty() {
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
            filter: filter.clone(),
            rewritten: routed.rewritten,
            rules,
        })
    }

    /// The remembered part of `routed`, when it is an iisnode decision reached without URL
    /// Rewrite (the URL's folder has no rules).
    pub(super) fn plain(routed: &Routed) -> Option<App> {
        if routed.rewritten {
            return None;
        }
        Self::of(routed, &routed.config, None)
    }

    /// The remembered part of `routed`, an iisnode decision reached through rules that
    /// read nothing but the request line ([`super::rewrite::RuleSet::memoizable`]):
    /// `filter` is the configuration of the URL as requested, `raw_query` the request's
    /// query string, `probes` the file tests the rules made.
    pub(super) fn through_rules(
        routed: &Routed,
        filter: &Arc<FolderConfig>,
        raw_query: Option<&str>,
        probes: Vec<Probe>,
    ) -> Option<App> {
        let rules = Rewritten {
            raw_query: raw_query.map(str::to_string),
            query: routed.query.clone(),
            probes,
        };
        Self::of(routed, filter, Some(rules))
    }

    /// The query string the decision was made for; `None` for a decision that holds for
    /// any (no rewrite rules) or for a request without one.
    fn raw_query(&self) -> Option<&str> {
        self.rules.as_ref().and_then(|r| r.raw_query.as_deref())
    }

    /// Whether the decision was made for a request with this query string.
    fn fits(&self, raw_query: Option<&str>) -> bool {
        self.rules.is_none() || self.raw_query() == raw_query
    }

    /// The configuration whose request filtering applies.
    pub(super) fn filter(&self) -> &Arc<FolderConfig> {
        &self.filter
    }

    /// Whether the file tests the rules made still answer the same.
    pub(super) fn still_holds(&self) -> bool {
        self.rules
            .as_ref()
            .is_none_or(|r| r.probes.iter().all(Probe::holds))
    }

    /// The decision again, for a request with this query string.
    pub(super) fn routed(&self, query: Option<&str>) -> Routed {
        let query = match &self.rules {
            Some(r) => r.query.clone(),
            None => query.map(str::to_string),
        };
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
            rewritten: self.rewritten,
            set_headers: Vec::new(),
            set_vars: Vec::new(),
            query,
        }
    }
}

/// The decisions remembered for one raw path, by method (and query string, for decisions
/// through rewrite rules).
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

/// The decision remembered for `method` on `raw_path` with `raw_query` under pipeline
/// `pipeline`.
pub(super) fn get(
    pipeline: u64,
    method: &Method,
    raw_path: &str,
    raw_query: Option<&str>,
) -> Option<Arc<App>> {
    MEMO.with(|m| {
        let m = m.borrow();
        if m.pipeline != pipeline {
            return None;
        }
        let app = m
            .map
            .get(raw_path)?
            .iter()
            .find(|(k, a)| k == method && a.fits(raw_query))
            .map(|(_, a)| a.clone());
        #[cfg(test)]
        if app.is_some() {
            HITS.with(|h| h.set(h.get() + 1));
        }
        app
    })
}

/// Forgets the decision remembered for `method` on `raw_path` with `raw_query`.
pub(super) fn forget(pipeline: u64, method: &Method, raw_path: &str, raw_query: Option<&str>) {
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.pipeline != pipeline {
            return;
        }
        if let Some(entries) = m.map.get_mut(raw_path) {
            entries.retain(|(k, a)| !(k == method && a.fits(raw_query)));
        }
    })
}

#[cfg(test)]
thread_local! {
    static HITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many decisions this thread has taken from the memo (for tests).
#[cfg(test)]
pub(super) fn hits() -> usize {
    HITS.with(std::cell::Cell::get)
}

/// Remembers `app` for `method` on `raw_path` under pipeline `pipeline`.
pub(super) fn put(pipeline: u64, method: &Method, raw_path: &str, app: App) {
    if raw_path.len() + app.raw_query().map_or(0, str::len) > MAX_TARGET {
        return;
    }
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.pipeline != pipeline {
            m.map.clear();
            m.pipeline = pipeline;
        }
        if m.map.len() >= CAPACITY && !m.map.contains_key(raw_path) {
            m.map.clear();
        }
        let entries = m.map.entry(raw_path.to_string()).or_default();
        // A raw path goes through rewrite rules or not whatever its query: the entries
        // for it are all of one kind, and `fits` tells the one `app` replaces.
        entries.retain(|(k, a)| !(k == method && a.fits(app.raw_query())));
        if entries.len() >= PER_PATH {
            entries.remove(0);
        }
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
