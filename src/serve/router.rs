//! Routing a request to an application, as IIS's handler mapping does.
//!
//! The URL path is percent-decoded once and walked segment by segment from the left. At
//! each segment, the handler list that applies to the folder above it is tried in order
//! (child levels' entries first, as IIS merges them); the first iisnode mapping whose
//! `path` matches the segment (`hello.js`, `*.js`, `server*.js`, or a path with `/`
//! compared with the URL relative to the mapping's folder) selects the script, and the
//! rest of the URL is PATH_INFO (`/app/hello.js/extra/path` runs `app/hello.js`). Each
//! distinct script is one application with its own pool; scripts a wildcard mapping
//! names get their application on first use. The rest of the IIS pipeline (request
//! filtering, URL Rewrite, static files) is a set of steps in front of this one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::config::model::{EffectiveConfig, Entry};
use crate::config::source::SourceMap;
use crate::config::web_config::HandlerEntry;
use crate::config::{LoadOptions, LoadedSite};
use crate::diag::Diagnostic;

use super::plan::{AppPlan, PlanContext};
use super::pool::{AppPool, Shared};

/// Where a request goes.
#[derive(Debug)]
pub enum Route {
    /// An iisnode application.
    App {
        pool: Arc<AppPool>,
        /// The script's URL (`/app/hello.js`).
        script_url: String,
        /// What follows the script in the URL (`/extra/path`), or empty.
        path_info: String,
    },
    /// No handler and no file: IIS's 404 with a sub-status and a reason for the page.
    NotFound { substatus: u32, detail: String },
    /// The path cannot be decoded (bad `%` escape or not UTF-8).
    BadRequest { detail: String },
}

/// Decodes `%XX` escapes once. `None` for a malformed escape or non-UTF-8 result.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (h, l) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            );
            match (h, l) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => return None,
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// IIS wildcard match (`*` any run, `?` one character), ASCII case-insensitive.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    // `*.` matches names without an extension (ASP.NET's extensionless mapping).
    if pattern == "*." {
        return !text.contains('.');
    }
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn verb_matches(h: &HandlerEntry, method: &str) -> bool {
    let v = h.verb.value.trim();
    v == "*" || v.split(',').any(|x| x.trim().eq_ignore_ascii_case(method))
}

/// Whether handler `h` maps the URL prefix `segs[..=i]`.
fn handler_matches(h: &Entry<HandlerEntry>, segs: &[&str], i: usize) -> bool {
    let path = h.item.path.value.trim().replace('\\', "/");
    if path.contains('/') {
        let want = path.trim_start_matches('/');
        let level_depth = if h.level.is_empty() {
            0
        } else {
            h.level.split('/').count()
        };
        if level_depth > i {
            return false;
        }
        let rel = segs[level_depth..=i].join("/");
        rel.eq_ignore_ascii_case(want)
    } else {
        wildcard_match(&path, segs[i])
    }
}

/// The routing table for one site.
pub struct Router {
    site: Arc<LoadedSite>,
    effective: Mutex<HashMap<String, Arc<EffectiveConfig>>>,
    apps: RwLock<HashMap<String, Arc<AppPool>>>,
    shared: Arc<Shared>,
    ctx: PlanContext,
    load_opts: LoadOptions,
    /// Files read for applications created on demand (their iisnode.yml).
    extra_sources: Mutex<SourceMap>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("site", &self.site.root)
            .finish()
    }
}

impl Router {
    pub fn new(
        site: Arc<LoadedSite>,
        pools: Vec<Arc<AppPool>>,
        shared: Arc<Shared>,
        ctx: PlanContext,
        load_opts: LoadOptions,
    ) -> Router {
        let apps = pools
            .into_iter()
            .map(|p| (p.plan.name.to_ascii_lowercase(), p))
            .collect();
        let extra_sources = Mutex::new(site.sources.continuation());
        Router {
            site,
            effective: Mutex::new(HashMap::new()),
            apps: RwLock::new(apps),
            shared,
            ctx,
            load_opts,
            extra_sources,
        }
    }

    pub fn shared_events(&self) -> &super::events::Events {
        &self.shared.events
    }

    pub fn site(&self) -> &Arc<LoadedSite> {
        &self.site
    }

    /// Every application with a pool so far.
    pub fn pools(&self) -> Vec<Arc<AppPool>> {
        self.apps
            .read()
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The effective configuration of a URL folder (cached).
    pub fn effective(&self, folder: &str) -> Arc<EffectiveConfig> {
        let key = folder.to_ascii_lowercase();
        if let Some(e) = self
            .effective
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return e;
        }
        let e = Arc::new(self.site.effective_for(folder));
        if let Ok(mut m) = self.effective.lock() {
            m.insert(key, e.clone());
        }
        e
    }

    /// Routes a decoded path (`/app/hello.js/x`) for `method`.
    pub fn route(&self, method: &str, decoded_path: &str) -> Route {
        let segs: Vec<&str> = decoded_path.split('/').filter(|s| !s.is_empty()).collect();
        for i in 0..segs.len() {
            let folder = segs[..i].join("/");
            let eff = self.effective(&folder);
            let found = eff
                .handlers
                .iter()
                .filter(|h| verb_matches(&h.item, method))
                .find(|h| h.item.path.value.trim() != "*" && handler_matches(h, &segs, i));
            let Some(h) = found else { continue };
            if !h.item.is_iisnode() {
                // Another module's mapping (ASP.NET, CGI, ...); emulated in the pipeline.
                continue;
            }
            let script_rel = segs[..=i].join("/");
            let path_info = if i + 1 < segs.len() {
                format!("/{}", segs[i + 1..].join("/"))
            } else {
                String::new()
            };
            let pool = self.pool_for(&script_rel, &h.item);
            return Route::App {
                pool,
                script_url: format!("/{script_rel}"),
                path_info,
            };
        }
        Route::NotFound {
            substatus: 0,
            detail: "The resource you are looking for has been removed, had its name changed, or is temporarily unavailable. (No handler maps this URL to iisnode, and iisn does not serve static files yet.)".into(),
        }
    }

    /// The pool for `script_rel`, creating the application on first use.
    fn pool_for(&self, script_rel: &str, handler: &HandlerEntry) -> Arc<AppPool> {
        let key = script_rel.to_ascii_lowercase();
        if let Some(p) = self.apps.read().ok().and_then(|a| a.get(&key).cloned()) {
            return p;
        }
        let mut diags: Vec<Diagnostic> = Vec::new();
        let app = match self.extra_sources.lock() {
            Ok(mut sources) => {
                let (app, d) = self.site.wildcard_application(
                    script_rel,
                    handler,
                    &self.load_opts,
                    &mut sources,
                );
                diags = d;
                app
            }
            Err(poisoned) => {
                let mut sources = poisoned.into_inner();
                self.site
                    .wildcard_application(script_rel, handler, &self.load_opts, &mut sources)
                    .0
            }
        };
        let text = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("\n");
        let plan = Arc::new(AppPlan::resolve(&app, &self.ctx, text));
        let pool = AppPool::new(plan, self.shared.clone());
        let mut apps = match self.apps.write() {
            Ok(a) => a,
            Err(p) => p.into_inner(),
        };
        apps.entry(key).or_insert(pool).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.js", "Hello.JS"));
        assert!(wildcard_match("server*.js", "server-a.js"));
        assert!(!wildcard_match("server*.js", "client.js"));
        assert!(wildcard_match("hello.js", "HELLO.js"));
        assert!(!wildcard_match("hello.js", "hello.jsx"));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("*.", "noext"));
        assert!(!wildcard_match("*.", "a.b"));
        assert!(wildcard_match("a?c", "abc"));
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("/a%20b/%2F").as_deref(), Some("/a b//"));
        assert_eq!(percent_decode("/a%2"), None);
        assert_eq!(percent_decode("/%ff"), None);
        assert_eq!(percent_decode("/plain").as_deref(), Some("/plain"));
    }

    proptest::proptest! {
        #[test]
        fn matching_never_panics(p in "[a-z*?.]{0,8}", t in "[a-z.]{0,12}", s in "[%0-9a-fA-F/]{0,12}") {
            let _ = wildcard_match(&p, &t);
            let _ = percent_decode(&s);
        }
    }
}
