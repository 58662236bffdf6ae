//! Handler mapping, as IIS does it, and the router the front asks where a request goes.
//!
//! The front runs the IIS pipeline ([`super::pipeline::Pipeline::route`]: request filtering,
//! URL Rewrite, handler mapping, default documents, static files) and the router turns its
//! decision into a [`Route`] ([`Router::routing`]); an iisnode decision gets the application's
//! pool, created on first use for scripts a wildcard mapping (`*.js`) names. Each distinct
//! script is one application with its own pool, counters, environment and log directory
//! (iisnode keys applications by script path).
//!
//! Handler mapping ([`select_handler`]) walks the final URL's segments from the left. At each
//! segment, the handler list of the URL up to that segment is tried in order (its folder's
//! configuration, with any `<location>` naming the segment itself: IIS reads handlers at the
//! request URL's configuration path; child levels' entries come first, as IIS merges them,
//! so a site's mapping beats the stock ones); the first mapping
//! whose `path` matches the segment (`hello.js`, `*.js`, `server*.js`, or a path with `/`
//! compared with the URL's segments ending there, from any segment below the mapping's
//! folder: `dist/server.js` maps `/x/dist/server.js` too, as IIS 10 does) and whose `verb` and
//! `resourceType` fit selects the handler, and the rest of the URL is PATH_INFO
//! (`/app/hello.js/extra/path` runs `app/hello.js`). `path="*"` mappings take part at the
//! last segment only, in their place in the list (a site's wildcard iisnode mapping beats the
//! stock `*.aspx`; StaticFile put in front of an iisnode mapping serves the script), so when
//! nothing more specific comes first, the first `path="*"` mapping of the URL's folder
//! applies: normally `StaticFile`, the last stock entry.
//!
//! Mappings IIS would not run are skipped: those needing access the folder's
//! `<handlers accessPolicy>` does not grant (the stock policy is `Read, Script`, so CGI and
//! ISAPI executables stay downloads, as `kidd1118/mock-service`'s re-added WebDAV shows; a
//! site that grants `Write` or `Execute` turns them on), ASP.NET's extension-less mapping
//! (`*.`), whose `runtimeVersionv4.0` precondition does not hold in the "No Managed Code"
//! pool node sites use, and mappings whose `preCondition` needs Classic mode or a .NET
//! runtime before 4 (ASP.NET's `*-ISAPI-*` mappings, often copied into web.configs). Any other mapping that is not iisnode, StaticFile or OPTIONS (ASP.NET
//! pages, PHP, a WebDAV mapping a site adds, ...) answers with a "not emulated by iisn" page (500.21)
//! naming the handler, never the file's source.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::config::model::Entry;
use crate::config::source::SourceMap;
use crate::config::web_config::HandlerEntry;
use crate::config::{LoadOptions, LoadedSite};
use crate::diag::Diagnostic;

use super::pipeline::errors::IisError;
use super::pipeline::{Decision, FolderConfig, Pipeline, Routed};
use super::plan::{AppPlan, PlanContext};
use super::pool::{AppPool, Shared};

/// Where a request goes: the pipeline's [`Decision`], with an iisnode application's pool in
/// place of its handler mapping.
pub type Route = Decision<AppRoute>;

/// An iisnode application a request goes to.
#[derive(Debug)]
pub struct AppRoute {
    pub pool: Arc<AppPool>,
    /// The script's URL (`/app/hello.js`, with the `--app-path` prefix).
    pub script_url: String,
    /// What follows the script in the URL (`/extra/path`), or empty.
    pub path_info: String,
}

/// A [`Route`] with the context needed to carry it out.
#[derive(Debug)]
pub struct Routing {
    pub route: Route,
    /// The final URL's configuration (custom headers, httpErrors, client cache).
    pub config: Arc<FolderConfig>,
    /// The final URL (decoded, with the `--app-path` prefix).
    pub url: String,
    /// URL Rewrite changed the URL: node gets `X-Original-URL`.
    pub rewritten: bool,
    /// Request headers set by `<serverVariables>`.
    pub set_headers: Vec<(String, String)>,
    /// Other server variables set by `<serverVariables>` (for `promoteServerVars`).
    pub set_vars: Vec<(String, String)>,
    /// The query string after URL Rewrite, when a rule rewrote the URL (`QUERY_STRING`).
    pub query: Option<String>,
}

/// What handler mapping selected for a URL.
#[derive(Debug)]
pub enum HandlerChoice {
    Iisnode {
        /// The folder configuration the mapping was found in.
        config: Arc<FolderConfig>,
        /// Index in `config.eff.handlers`.
        index: usize,
        /// The script, site-relative (`app/hello.js`).
        script_rel: String,
        path_info: String,
    },
    /// IIS's StaticFile handler (static files, default documents, directory listing), by
    /// the name of the mapping that chose it.
    Static { name: String },
    /// ProtocolSupportModule for OPTIONS.
    Options,
    /// ProtocolSupportModule for TRACE (`TRACEVerbHandler`): 501, as IIS answers while
    /// HTTP.sys's `EnableTraceMethod` is off (its default).
    Trace,
    /// A mapping to a module iisn does not emulate.
    NotEmulated { name: String, modules: String },
    /// The mapping that fits the URL's path and verb wants a resource the URL does not
    /// name (`resourceType="File"` for a missing file or a folder, `"Directory"` for a
    /// file): IIS Web Core's 404.0 naming that handler (observed on IIS 10, MH26), not the
    /// next mapping.
    ResourceMissing { name: String, wanted: &'static str },
    /// No mapping at all (the site cleared the list): 404.4.
    None,
}

/// Decodes `%XX` escapes once, keeping a malformed escape as written and replacing bytes
/// that are not UTF-8: for scanning text (request filtering), where one stray `%` must not
/// hide the rest.
pub fn percent_decode_lossy(s: &str) -> String {
    decode_lossy(s, false)
}

/// [`percent_decode_lossy`], with `+` read as a space when `plus` (URL Rewrite's
/// `UrlDecode`).
pub fn decode_lossy(s: &str, plus: bool) -> String {
    if !(s.contains('%') || plus && s.contains('+')) {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(16));
        match (b[i], hex(b.get(i + 1)), hex(b.get(i + 2))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) if plus => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes `%XX` escapes once, and HTTP.sys's `%uNNNN` (a UTF-16 code unit; a surrogate pair
/// as two escapes), which it accepts by default (`PercentUAllowed`, 1, KB 820129). `None` for
/// a malformed escape or a result that is not UTF-8 (HTTP.sys's 400).
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
                _ => {
                    let (c, used) = percent_u(&b[i..])?;
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    i += used;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The character of a `%uNNNN` escape at the start of `b` (two for a surrogate pair,
/// `%uD83D%uDE00`) and the bytes it takes; `None` when it is not one.
fn percent_u(b: &[u8]) -> Option<(char, usize)> {
    let unit = |b: &[u8]| -> Option<u32> {
        let digits = b
            .strip_prefix(b"%u")
            .or_else(|| b.strip_prefix(b"%U"))?
            .get(..4)?;
        let text = std::str::from_utf8(digits).ok()?;
        if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    };
    let first = unit(b)?;
    if (0xD800..0xDC00).contains(&first) {
        let second = unit(b.get(6..)?)?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        let c = char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))?;
        return Some((c, 12));
    }
    Some((char::from_u32(first)?, 6))
}

/// IIS wildcard match (`*` any run, `?` one character), ASCII case-insensitive.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    // `*.` matches names without an extension (ASP.NET's extensionless mapping).
    if pattern == "*." {
        return !text.contains('.');
    }
    // Most mappings name one file (`server.js`): no wildcard, a plain comparison.
    if !pattern.contains(['*', '?']) {
        return pattern.eq_ignore_ascii_case(text);
    }
    if pattern.is_ascii() && text.is_ascii() {
        return glob(pattern.as_bytes(), text.as_bytes(), |a, b| {
            a.eq_ignore_ascii_case(b)
        });
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob(&p, &t, |a: &char, b: &char| a.eq_ignore_ascii_case(b))
}

/// `*` and `?` matching (no allocation; `same` compares one character).
fn glob<T: Copy + PartialEq + From<u8>>(p: &[T], t: &[T], same: impl Fn(&T, &T) -> bool) -> bool {
    let (star_c, any_c) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == any_c || (p[pi] != star_c && same(&p[pi], &t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star_c {
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
    while pi < p.len() && p[pi] == star_c {
        pi += 1;
    }
    pi == p.len()
}

/// Whether a mapping's `verb` list takes `method`: `*`, or the method by name, compared
/// case-sensitively as IIS does (observed on IIS 10: `verb="get"` never matches `GET`).
fn verb_matches(h: &HandlerEntry, method: &str) -> bool {
    let v = h.verb.value.trim();
    v == "*" || v.split(',').any(|x| x.trim() == method)
}

/// Whether handler `h` maps the URL prefix `segs[..=i]`.
fn handler_matches(h: &Entry<HandlerEntry>, segs: &[&str], i: usize) -> bool {
    let path = h.item.path.value.trim();
    if path.contains(['/', '\\']) {
        // The URL's last segments, wherever they start below the mapping's folder.
        crate::config::site::slash_path_matches(
            path,
            &segs[..=i],
            crate::config::site::level_depth(&h.level),
        )
    } else {
        wildcard_match(path, segs[i])
    }
}

/// Whether the folder's `accessPolicy` (stock: `Read, Script`) lets the mapping run: a
/// mapping that requires more is disabled, and handler mapping goes on to the next one.
fn access_allowed(h: &HandlerEntry, policy: u8) -> bool {
    crate::config::web_config::access::allows(
        policy,
        h.require_access.as_ref().map(|a| a.value.as_str()),
    )
}

/// A mapping whose precondition does not hold: ASP.NET's extension-less mapping in the pool
/// node sites use, and any mapping for Classic mode or an old .NET runtime
/// ([`HandlerEntry::precondition_never_holds`]).
fn precondition_fails(h: &HandlerEntry) -> bool {
    if h.precondition_never_holds() {
        return true;
    }
    h.path.value.trim() == "*."
        && h.modules.as_ref().is_some_and(|m| {
            m.value
                .trim()
                .eq_ignore_ascii_case("ManagedPipelineHandler")
        })
}

/// `resourceType`: File / Directory / Either need the mapped prefix to exist as such.
fn resource_fits(h: &HandlerEntry, p: &Pipeline, segs: &[&str], pure: &mut bool) -> bool {
    use crate::config::web_config::ResourceType;
    if h.resource_type == ResourceType::Unspecified {
        return true;
    }
    *pure = false;
    let mut path = p.root().to_path_buf();
    path.extend(segs.iter().copied());
    match super::pipeline::ci_path::metadata(p.root(), &path) {
        Some(m) => match h.resource_type {
            ResourceType::File => m.is_file(),
            ResourceType::Directory => m.is_dir(),
            _ => true,
        },
        None => false,
    }
}

/// What a mapping's `resourceType` asks for, in IIS's words.
fn resource_wanted(h: &HandlerEntry) -> &'static str {
    use crate::config::web_config::ResourceType;
    match h.resource_type {
        ResourceType::File => "a file",
        ResourceType::Directory => "a directory",
        _ => "a file or directory",
    }
}

/// A mapping to a module iisn does not emulate (500.21 names it).
fn not_emulated(h: &HandlerEntry) -> HandlerChoice {
    HandlerChoice::NotEmulated {
        name: h.name.value.clone(),
        modules: h
            .modules
            .as_ref()
            .map(|m| m.value.clone())
            .unwrap_or_default(),
    }
}

/// The mapping handler mapping finds for a URL's segments.
enum Mapped {
    /// A mapping (entry `index` of `cfg`'s list) whose `path` names segment `i`, which ends
    /// at byte `end` of the site path; the rest of the URL is PATH_INFO.
    At {
        cfg: Arc<FolderConfig>,
        index: usize,
        i: usize,
        end: usize,
    },
    /// The first `path="*"` mapping that applies (at the last segment, or for no segment).
    Star {
        cfg: Arc<FolderConfig>,
        index: usize,
    },
    /// A mapping that names the last segment but whose `resourceType` does not fit it.
    Misfit {
        cfg: Arc<FolderConfig>,
        index: usize,
    },
    /// None at all (the site cleared the list).
    None,
}

/// IIS's handler mapping for a site path after URL Rewrite (see the module docs). Clears
/// `pure` when a handler's `resourceType` made it read the file system.
pub fn select_handler(
    p: &Pipeline,
    method: &str,
    site_path: &str,
    pure: &mut bool,
) -> HandlerChoice {
    map_segments(p, method, site_path, pure, |mapped, segs| match mapped {
        Mapped::At { cfg, index, i, .. } => {
            let h = &cfg.eff.handlers[index].item;
            if h.has_module("StaticFileModule") {
                // A mapping of the site's own to the static file handler (`*.js` so that a
                // folder's scripts go out as files, `hostingstart.html`, `*.exe` downloads):
                // IIS's StaticFile, whatever its name. Past an inner segment the file with
                // the rest of the URL is not there, and StaticFile says 404.
                return HandlerChoice::Static {
                    name: h.name.value.clone(),
                };
            }
            if h.is_iisnode() {
                let script_rel = segs[..=i].join("/");
                let path_info = if i + 1 < segs.len() {
                    let mut pi = format!("/{}", segs[i + 1..].join("/"));
                    if site_path.ends_with('/') {
                        pi.push('/');
                    }
                    pi
                } else {
                    String::new()
                };
                return HandlerChoice::Iisnode {
                    config: cfg.clone(),
                    index,
                    script_rel,
                    path_info,
                };
            }
            not_emulated(h)
        }
        Mapped::Star { cfg, index } => {
            star_choice(&cfg, index, &cfg.eff.handlers[index].item, segs, method)
        }
        Mapped::Misfit { cfg, index } => {
            let h = &cfg.eff.handlers[index].item;
            HandlerChoice::ResourceMissing {
                name: h.name.value.clone(),
                wanted: resource_wanted(h),
            }
        }
        Mapped::None => HandlerChoice::None,
    })
}

/// Where the script ends in `site_path` (a byte offset) when handler mapping splits it into
/// a script and PATH_INFO (`/app/server.js/a/b` → 14), whatever the mapping's module; `None`
/// when nothing follows the mapped segment. What request filtering's `maxUrl` and
/// `fileExtensions` look at on IIS (see [`super::pipeline::filtering::ScriptPart`]).
pub fn script_end(p: &Pipeline, method: &str, site_path: &str, pure: &mut bool) -> Option<usize> {
    let mut end = None;
    map_segments(p, method, site_path, pure, |mapped, segs| {
        if let Mapped::At { i, end: e, .. } = mapped
            && i + 1 < segs.len()
        {
            end = Some(e);
        }
    });
    end
}

/// Handler mapping's walk over the segments of `site_path` (see the module docs): `then`
/// gets the mapping found and the segments.
fn map_segments<R>(
    p: &Pipeline,
    method: &str,
    site_path: &str,
    pure: &mut bool,
    then: impl FnOnce(Mapped, &[&str]) -> R,
) -> R {
    // Segments with their byte offsets, so that each folder is a slice, not a new string
    // (on the stack up to 16 segments).
    const ON_STACK: usize = 16;
    let mut stack_segs = [""; ON_STACK];
    let mut stack_starts = [0usize; ON_STACK];
    let mut heap: Option<(Vec<&str>, Vec<usize>)> = None;
    let mut n = 0;
    let mut at = 0;
    for seg in site_path.split('/') {
        if !seg.is_empty() {
            if n < ON_STACK {
                stack_segs[n] = seg;
                stack_starts[n] = at;
            } else {
                let (s, t) =
                    heap.get_or_insert_with(|| (stack_segs.to_vec(), stack_starts.to_vec()));
                s.push(seg);
                t.push(at);
            }
            n += 1;
        }
        at += seg.len() + 1;
    }
    let (segs, starts): (&[&str], &[usize]) = match &heap {
        Some((s, t)) => (s, t),
        None => (&stack_segs[..n], &stack_starts[..n]),
    };
    let usable = |h: &Entry<HandlerEntry>, policy: u8| {
        verb_matches(&h.item, method)
            && access_allowed(&h.item, policy)
            && !precondition_fails(&h.item)
    };
    for i in 0..segs.len() {
        // The configuration of the URL up to and including this segment: its folder's, and a
        // `<location>` naming the segment itself (`<location path="elmah.axd">` holding the
        // mapping for elmah.axd, a pattern IIS honours), which the folder's alone would miss.
        let end = starts[i] + segs[i].len();
        let cfg = p.config_for(&site_path[..end]);
        // At the last segment the whole list counts in its order, `path="*"` entries too:
        // a wildcard mapping in front of `*.aspx` takes `/page.aspx`, and StaticFile in
        // front of an iisnode mapping takes the script. (A `*` entry never splits the URL
        // at an inner segment, and its resource is not checked here: StaticFile answers
        // 404 for a missing file itself, as IIS does.)
        // At the last segment the first mapping that fits the path and verb is IIS's
        // choice, and its `resourceType` is checked after (MH26: a misfit is 404.0, not the
        // next mapping); at an inner segment a mapping applies only where its resource is
        // there, so that the rest of the URL can be PATH_INFO after it.
        let last = i + 1 == segs.len();
        let found = cfg.eff.handlers.iter().enumerate().find(|(_, h)| {
            if h.item.path.value.trim() == "*" {
                return last && usable(h, cfg.eff.access_policy);
            }
            usable(h, cfg.eff.access_policy)
                && handler_matches(h, segs, i)
                && (last || resource_fits(&h.item, p, &segs[..=i], pure))
        });
        let Some((index, h)) = found else { continue };
        let mapped = if h.item.path.value.trim() == "*" {
            Mapped::Star { cfg, index }
        } else if last && !resource_fits(&h.item, p, &segs[..=i], pure) {
            Mapped::Misfit { cfg, index }
        } else {
            Mapped::At { cfg, index, i, end }
        };
        return then(mapped, segs);
    }
    // No segment matched: the first `path="*"` mapping of the URL's folder.
    let cfg = p.config_for(site_path);
    let found = cfg
        .eff
        .handlers
        .iter()
        .position(|h| h.item.path.value.trim() == "*" && usable(h, cfg.eff.access_policy));
    match found {
        Some(index) => then(Mapped::Star { cfg, index }, segs),
        None => then(Mapped::None, segs),
    }
}

/// What a `path="*"` mapping (entry `index` of `cfg`'s list) does with the URL `segs`.
fn star_choice(
    cfg: &Arc<FolderConfig>,
    index: usize,
    h: &HandlerEntry,
    segs: &[&str],
    method: &str,
) -> HandlerChoice {
    if h.has_module("StaticFileModule") {
        return HandlerChoice::Static {
            name: h.name.value.clone(),
        };
    }
    if h.is_iisnode() && !segs.is_empty() {
        return HandlerChoice::Iisnode {
            config: cfg.clone(),
            index,
            script_rel: segs.join("/"),
            path_info: String::new(),
        };
    }
    if h.has_module("ProtocolSupportModule") && method.eq_ignore_ascii_case("OPTIONS") {
        return HandlerChoice::Options;
    }
    if h.has_module("ProtocolSupportModule") && method.eq_ignore_ascii_case("TRACE") {
        return HandlerChoice::Trace;
    }
    not_emulated(h)
}

/// The routing table for one site (one configuration load).
pub struct Router {
    site: Arc<LoadedSite>,
    pipeline: Arc<Pipeline>,
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
            .field("app_path", &self.pipeline.app_path())
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
        let pipeline = Arc::new(Pipeline::new(site.clone()));
        Router {
            site,
            pipeline,
            apps: RwLock::new(apps),
            shared,
            ctx,
            load_opts,
            extra_sources,
        }
    }

    /// Mounts the site at a virtual path (`iisn serve --app-path /PREFIX`): only URLs under
    /// it are served, and applications see the full URL, prefix included.
    pub fn with_app_path(mut self, app_path: Option<&str>) -> Router {
        match Arc::get_mut(&mut self.pipeline) {
            Some(p) => p.set_app_path(app_path),
            None => {
                let mut p = Pipeline::new(self.site.clone());
                p.set_app_path(app_path);
                self.pipeline = Arc::new(p);
            }
        }
        self
    }

    pub fn shared_events(&self) -> &super::events::Events {
        &self.shared.events
    }

    pub fn site(&self) -> &Arc<LoadedSite> {
        &self.site
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Every application with a pool so far.
    pub fn pools(&self) -> Vec<Arc<AppPool>> {
        self.apps
            .read()
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Where a request goes, from the IIS pipeline's decision
    /// ([`super::pipeline::Pipeline::route`]): an iisnode decision becomes its pool.
    pub fn routing(&self, routed: Routed) -> Routing {
        let route =
            routed.decision.map_app(
                |app| match app.handler_config.eff.handlers.get(app.handler) {
                    Some(h) => Route::App(AppRoute {
                        pool: self.pool_for(&app.script_rel, &h.item),
                        script_url: app.script_url,
                        path_info: app.path_info,
                    }),
                    None => Route::Error(IisError::new(500, 0, "handler index out of range")),
                },
            );
        Routing {
            route,
            config: routed.config,
            url: routed.url,
            rewritten: routed.rewritten,
            set_headers: routed.set_headers,
            set_vars: routed.set_vars,
            // Rewritten to no query at all is an empty QUERY_STRING, not the client's.
            query: routed.rewritten.then(|| routed.query.unwrap_or_default()),
        }
    }

    /// The pool for `script_rel`, creating the application on first use.
    fn pool_for(&self, script_rel: &str, handler: &HandlerEntry) -> Arc<AppPool> {
        // Looked up on every request: lower-case (allocate) only when the name needs it.
        let key: std::borrow::Cow<'_, str> = if script_rel.bytes().any(|b| b.is_ascii_uppercase()) {
            script_rel.to_ascii_lowercase().into()
        } else {
            script_rel.into()
        };
        if let Some(p) = self
            .apps
            .read()
            .ok()
            .and_then(|a| a.get(key.as_ref()).cloned())
        {
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
        apps.entry(key.into_owned()).or_insert(pool).clone()
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
        // HTTP.sys's `%uNNNN` (PercentUAllowed, on by default).
        assert_eq!(percent_decode("/%u0041.txt").as_deref(), Some("/A.txt"));
        assert_eq!(percent_decode("/caf%U00E9").as_deref(), Some("/café"));
        assert_eq!(percent_decode("/%uD83D%uDE00").as_deref(), Some("/😀"));
        for bad in ["/%u00", "/%u00zz", "/%uD83D", "/%uD83Dx", "/%uDE00", "/%u"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn matching_never_panics(p in "[a-z*?.]{0,8}", t in "[a-z.]{0,12}", s in "[%0-9a-fA-F/]{0,12}") {
            let _ = wildcard_match(&p, &t);
            let _ = percent_decode(&s);
        }
    }
}
