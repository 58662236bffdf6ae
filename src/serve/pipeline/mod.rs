//! The IIS request pipeline in front of iisnode: every step IIS runs before (or instead of)
//! handing a request to node.
//!
//! IIS runs a request through its modules in a fixed order (iis-webconfig.md §6, DECISIONS.md
//! §15), and iisn keeps that order:
//!
//! ```text
//!  request ──> decode once, strip --app-path, normalise (400 on `..` above the root)
//!          ──> request filtering on the original URL      (filtering.rs: 404.x, 413)
//!          ──> URL Rewrite, parent folders' rules first     (rewrite.rs: Rewrite continues;
//!                                                            Redirect / CustomResponse /
//!                                                            AbortRequest end the request)
//!          ──> request filtering on the rewritten URL       (a rewrite cannot reach web.config)
//!          ──> handler mapping on the final URL             (router.rs, PATH_INFO split)
//!                 ├─ iisnode ──> the application's pool (front.rs)
//!                 ├─ StaticFile ──> folder: trailing-slash redirect, default document
//!                 │                 (default_document.rs, then mapping again), listing or
//!                 │                 403.14; file: MIME map (404.3) and streaming
//!                 │                 (static_files.rs)
//!                 └─ another module ──> "not emulated by iisn" (500.21)
//!  errors ──> httpErrors: detailed page for local clients, custom pages (errors.rs)
//!  response ──> outbound rules on response headers (outbound.rs), on every response
//! ```
//!
//! Before any of it, a URL at or below a web.config IIS cannot load (malformed XML, unknown
//! element or attribute, duplicate key or section) answers 500.19 ([`Pipeline::config_failure`]).
//!
//! Each step is a plain function over a [`RequestHead`] and the folder's [`FolderConfig`], so
//! the whole decision ([`Pipeline::decide`]) can be tested without sockets. Serving the
//! decision (streaming a file, proxying to node) is the front's job.
//!
//! What this module must not do: buffer bodies, or do per-request work that can be done
//! once. Effective configurations, compiled rewrite rules, MIME maps and filtering lists are
//! built once per configuration load for every folder that has its own configuration (a
//! web.config or a `<location>`), and a request only looks its folder up. Rewrite rules run on
//! a separate thread with a time budget ([`budget`]), so a pathological rule cannot stall the
//! server.

pub mod budget;
pub mod ci_path;
pub mod default_document;
pub mod errors;
pub mod filtering;
mod memo;
pub mod outbound;
pub mod rewrite;
pub mod static_files;
pub mod trace;
pub mod unread;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::config::LoadedSite;
use crate::config::model::EffectiveConfig;
use crate::config::site::is_ancestor;

use super::router::{self, HandlerChoice};
use super::server_vars::AuthEmulation;
use errors::IisError;
use trace::{HandlerTrace, Trace, rec};

/// What the pipeline needs to know about a request (no body).
#[derive(Debug)]
pub struct RequestHead {
    pub method: Method,
    /// The request target as the client sent it: raw path and query (`/a%20b?x=1`).
    pub target: String,
    pub headers: HeaderMap,
    pub remote: SocketAddr,
    pub local_addr: SocketAddr,
    pub auth: Option<AuthEmulation>,
}

impl RequestHead {
    /// The raw path and the raw query (without `?`).
    pub fn split_target(&self) -> (&str, Option<&str>) {
        match self.target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.target.as_str(), None),
        }
    }
}

/// IIS's `Server` response header, as a header line.
pub const SERVER_LINE: &[u8] = b"Server: Microsoft-IIS/10.0\r\n";
/// IIS's server-level `customHeaders` (`X-Powered-By: ASP.NET`) as a header line.
const STOCK_CUSTOM: &[u8] = b"X-Powered-By: ASP.NET\r\n";
/// What nearly every response gets after its own headers: `Server`, then `X-Powered-By`,
/// in IIS's order (CH4).
const STOCK_WIRE: &[u8] = b"Server: Microsoft-IIS/10.0\r\nX-Powered-By: ASP.NET\r\n";

/// Everything precomputed for one configuration folder.
#[derive(Debug)]
pub struct FolderConfig {
    /// The folder (or `<location>` path) the configuration belongs to, site-relative.
    pub key: String,
    pub eff: EffectiveConfig,
    pub filter: filtering::Filter,
    pub rules: rewrite::RuleSet,
    /// URL Rewrite outbound rules on response headers.
    pub outbound: outbound::OutboundRules,
    /// `httpProtocol/customHeaders`, ready to add to a response: every entry with a name
    /// and a value HTTP allows, in order (an empty value sends nothing on IIS). Built once:
    /// IIS's inherited `X-Powered-By` makes this list non-empty for nearly every site.
    pub custom_headers: Vec<(HeaderName, HeaderValue)>,
    /// IIS sends `Server: Microsoft-IIS/10.0` on every response whose handler set no
    /// `Server` of its own (CH19), unless `requestFiltering removeServerHeader="true"`
    /// (CH20); `customHeaders` cannot remove it.
    pub server_header: bool,
    /// [`SERVER_LINE`] (when [`Self::server_header`]) then the custom headers as header
    /// lines (`X-Powered-By: ASP.NET\r\n`, names as configured), for iisn's own response
    /// writer, which appends them after the response's headers without a header-map insert
    /// per entry and request. `None` when an entry must be merged with the response's own
    /// header (`Cache-Control`, `Content-Type`) or there is nothing to add.
    pub custom_wire: Option<bytes::Bytes>,
    /// The 500.19 every response with an error status gets below this folder, when IIS
    /// cannot read its `<httpErrors>` ([`crate::config::model::HttpErrors::unreadable`]).
    pub error_pages_fault: Option<IisError>,
    /// The 500.19 every static file below this folder gets, when IIS cannot read its
    /// `<staticContent>` ([`crate::config::model::EffectiveConfig::static_content_unreadable`]).
    pub static_fault: Option<IisError>,
    /// `staticContent/mimeMap`, lower-cased extension (with its dot) → MIME type.
    mime: HashMap<String, String>,
}

impl FolderConfig {
    pub fn build(key: String, eff: EffectiveConfig) -> FolderConfig {
        let filter = filtering::Filter::new(&eff);
        let rules = rewrite::RuleSet::compile(&eff);
        let outbound = outbound::OutboundRules::compile(&eff);
        let mime = eff
            .mime_maps
            .iter()
            .map(|m| {
                (
                    m.item.file_extension.value.trim().to_ascii_lowercase(),
                    m.item.mime_type.value.trim().to_string(),
                )
            })
            .collect();
        let mut wire = Vec::new();
        let custom_headers: Vec<(HeaderName, HeaderValue)> = eff
            .custom_headers
            .iter()
            .filter_map(|h| {
                let value = h.item.value.value.trim();
                if value.is_empty() {
                    return None;
                }
                let spelled = h.item.name.value.trim();
                let name = HeaderName::from_bytes(spelled.as_bytes()).ok()?;
                let value = latin1_header_value(value)?;
                for part in [spelled.as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
                    wire.extend_from_slice(part);
                }
                Some((name, value))
            })
            .collect();
        let merged =
            |n: &HeaderName| n == http::header::CACHE_CONTROL || n == http::header::CONTENT_TYPE;
        let server_header = !eff.remove_server_header;
        // IIS's own `Server` line and its inherited `X-Powered-By: ASP.NET` alone, the
        // common case, are a static: a clone per response then touches no reference count
        // shared between threads.
        let custom_wire = (!custom_headers.iter().any(|(n, _)| merged(n))
            && (server_header || !custom_headers.is_empty()))
        .then(|| {
            if server_header && wire == STOCK_CUSTOM {
                bytes::Bytes::from_static(STOCK_WIRE)
            } else if server_header && wire.is_empty() {
                bytes::Bytes::from_static(SERVER_LINE)
            } else if server_header {
                let mut lines = SERVER_LINE.to_vec();
                lines.extend_from_slice(&wire);
                bytes::Bytes::from(lines)
            } else {
                bytes::Bytes::from(wire)
            }
        });
        FolderConfig {
            key,
            eff,
            filter,
            rules,
            outbound,
            custom_headers,
            server_header,
            custom_wire,
            error_pages_fault: None,
            static_fault: None,
            mime,
        }
    }

    /// The MIME type IIS would send for `file_name`, or `None` (404.3). A name without an
    /// extension looks up the `.` entry, as IIS does. `<mimeMap fileExtension="*">` is the
    /// fallback for every file whose extension has no entry of its own, extension-less files
    /// included (IIS's static file handler tries the extension, then `*`; the wildcard is the
    /// documented way to serve "any file", e.g. ACME challenge files, which have no
    /// extension); `<remove fileExtension="*"/>` takes it away like any other entry.
    pub fn mime_type(&self, file_name: &str) -> Option<&str> {
        let ext = match file_name.rfind('.') {
            Some(i) => file_name[i..].to_ascii_lowercase(),
            None => ".".to_string(),
        };
        self.mime
            .get(&ext)
            .or_else(|| self.mime.get("*"))
            .map(String::as_str)
    }
}

/// A configured header value as IIS puts it on the wire: one byte per character, ISO-8859-1
/// (`café` is `caf\xE9`, whatever the web.config's encoding; observed on IIS 10), a
/// character beyond it as `?`. `None` for a value HTTP does not allow (a control character).
fn latin1_header_value(value: &str) -> Option<HeaderValue> {
    if value.is_ascii() {
        return HeaderValue::from_str(value).ok();
    }
    let bytes: Vec<u8> = value
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    HeaderValue::from_bytes(&bytes).ok()
}

/// The iisnode mapping a request goes to, as handler mapping found it.
#[derive(Debug)]
pub struct AppHandler {
    /// The folder configuration that holds the handler.
    pub handler_config: Arc<FolderConfig>,
    /// Index of the iisnode mapping in `handler_config.eff.handlers`.
    pub handler: usize,
    /// The script as a site-relative URL path (`app/hello.js`).
    pub script_rel: String,
    /// The script's URL as the client sees it (with the `--app-path` prefix).
    pub script_url: String,
    /// What follows the script in the URL, or empty.
    pub path_info: String,
}

/// What the pipeline decided for a request. `A` is what a request for an iisnode
/// application carries: here the mapping ([`AppHandler`]); the router swaps it for the
/// application's pool ([`super::router::Route`]) and keeps every other variant as it is.
#[derive(Debug)]
pub enum Decision<A = AppHandler> {
    /// Hand the request to an iisnode application.
    App(A),
    /// Stream a static file.
    File { path: PathBuf },
    /// A directory listing (`directoryBrowse enabled="true"`).
    Listing { dir: PathBuf },
    /// A redirect (URL Rewrite's Redirect action, or a folder URL without its slash).
    Redirect { status: u16, location: String },
    /// `OPTIONS` answered by IIS's ProtocolSupportModule.
    Options,
    /// An IIS error (request filtering, missing file, URL Rewrite's CustomResponse,
    /// 403.14, "not emulated by iisn", ...).
    Error(IisError),
    /// URL Rewrite's AbortRequest: close the connection without a response.
    Abort,
}

impl<A> Decision<A> {
    /// The same decision with the application part replaced by what `f` makes of it.
    pub fn map_app<B>(self, f: impl FnOnce(A) -> Decision<B>) -> Decision<B> {
        match self {
            Decision::App(a) => f(a),
            Decision::File { path } => Decision::File { path },
            Decision::Listing { dir } => Decision::Listing { dir },
            Decision::Redirect { status, location } => Decision::Redirect { status, location },
            Decision::Options => Decision::Options,
            Decision::Error(e) => Decision::Error(e),
            Decision::Abort => Decision::Abort,
        }
    }
}

/// A decision with the context the front needs to carry it out.
#[derive(Debug)]
pub struct Routed {
    pub decision: Decision,
    /// The configuration of the final URL (custom headers, httpErrors, MIME map).
    pub config: Arc<FolderConfig>,
    /// The final URL, decoded, as the client sees it (with the `--app-path` prefix).
    pub url: String,
    /// Whether URL Rewrite changed the URL (then node gets `X-Original-URL`).
    pub rewritten: bool,
    /// Request headers set by rules' `<serverVariables>` (`HTTP_X_FOO` → `x-foo`).
    pub set_headers: Vec<(String, String)>,
    /// Other server variables rules set (upper-case names): iisnode promotes them
    /// (`promoteServerVars`), as it reads them from IIS after URL Rewrite ran.
    pub set_vars: Vec<(String, String)>,
    /// The query string after URL Rewrite (node still gets the original target).
    pub query: Option<String>,
}

/// The routing table of one configuration load: the site, its folder configurations and
/// the `--app-path` it is mounted at. Immutable once built; a reload builds a new one.
#[derive(Debug)]
pub struct Pipeline {
    site: Arc<LoadedSite>,
    /// `""` or `/prefix` (no trailing slash).
    app_path: String,
    /// Folder configurations by lower-cased key; every key a request can resolve to.
    configs: HashMap<String, Arc<FolderConfig>>,
    /// The keys with their configurations, deepest first (so the first ancestor found is
    /// the closest): looked up on every request without lower-casing or hashing the key.
    keys: Vec<(String, Arc<FolderConfig>)>,
    /// Some folder has an enabled rewrite rule (else no request needs the rewrite thread).
    any_rules: bool,
    /// Tells this load's remembered decisions from an older load's ([`memo`]).
    id: u64,
    /// Folders whose web.config IIS could not load, parents first, with their 500.19.
    broken: Vec<(String, IisError)>,
    /// IIS's built-in configuration: what a 500.19 is rendered with (the broken file's own
    /// httpErrors, custom headers and rules cannot apply).
    defaults: Arc<FolderConfig>,
    /// Finds a web.config this configuration does not hold before a file is served.
    unread: unread::UnreadCheck,
}

/// The 500.19 IIS answers for a web.config it cannot load: the first problem, with the
/// lines around it (IIS's "Config Source").
fn load_failure_error(site: &LoadedSite, f: &crate::config::site::LoadFailure) -> IisError {
    let d = &f.diagnostic;
    let (file, line, column, lines) = match d.primary.filter(|s| site.sources.contains(s.source)) {
        Some(span) => {
            let src = site.sources.get(span.source);
            let lc = src.line_col(span.start);
            let first = lc.line.saturating_sub(1).max(1);
            let last = (lc.line + 1).min(u32::try_from(src.line_count()).unwrap_or(u32::MAX));
            let lines = (first..=last)
                .map(|n| (n, src.line_text(n).to_string()))
                .collect();
            (src.path().to_path_buf(), lc.line, lc.column, lines)
        }
        None => (f.file.clone(), 0, 0, Vec::new()),
    };
    let mut message = format!("{} [{}]", d.message, d.lint.code);
    if let Some(help) = &d.help {
        message.push_str(". ");
        message.push_str(help);
    }
    IisError::config_invalid(
        errors::ConfigFault {
            hresult: f.hresult,
            message,
            file,
            line,
            column,
            source_lines: lines,
        },
        f.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| site.root.clone()),
    )
}

/// A site-absolute `Location` (`/new`) made a whole URL with the host the client asked for
/// (`host`, the Host header's value), as IIS writes its redirects (HTTP.sys made sure there
/// is one valid Host on HTTP/1.1). Without one (HTTP/1.0) IIS named its own address (KB
/// 834141, an internal address behind NAT); iisn keeps the Location relative then. Other
/// locations (a whole URL, `//host/x`, a relative path) stay as they are.
pub(super) fn absolute_location(location: &mut String, host: &str) {
    if location.starts_with('/')
        && !location.starts_with("//")
        && super::http_sys::valid_host(host.as_bytes())
    {
        *location = format!("http://{host}{location}");
    }
}

/// The request's Host header, or "" (for [`absolute_location`]).
fn host_of(head: &RequestHead) -> &str {
    head.headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
}

fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn depth(key: &str) -> usize {
    if key.is_empty() {
        0
    } else {
        key.matches('/').count() + 1
    }
}

/// Normalises `--app-path`: `/node/`, `node` → `/node`; `/` or empty → `""`.
pub fn normalize_app_path(p: &str) -> String {
    let segs: Vec<&str> = p
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    if segs.is_empty() {
        String::new()
    } else {
        format!("/{}", segs.join("/"))
    }
}

/// A decoded URL path → the path IIS works with: backslashes are slashes (as on Windows),
/// `.` segments go, `..` removes the segment before it, repeated slashes collapse, a
/// trailing slash is kept. `None` when `..` would climb above the root or the path holds a
/// NUL or another control character (IIS answers 400 to both).
/// Whether a decoded path needs no normalizing: it starts with `/` and has no `\\`, no
/// empty segment inside and no `.` or `..` segment (one pass over the bytes).
fn already_normal(p: &str) -> bool {
    let b = p.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    // Length of the current segment so far, and whether it is all dots.
    let (mut len, mut dots) = (0usize, true);
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\\' => return false,
            b'/' => {
                if i > 0 && (len == 0 || (dots && len <= 2)) {
                    return false;
                }
                len = 0;
                dots = true;
            }
            _ => {
                len += 1;
                dots &= c == b'.';
            }
        }
    }
    !(dots && (1..=2).contains(&len))
}

/// [`normalize_path`] of an owned path: no copy when it is already normal.
pub fn normalize_path_owned(decoded: String) -> Option<String> {
    if already_normal(&decoded) && !decoded.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) {
        return Some(decoded);
    }
    normalize_path(&decoded)
}

pub fn normalize_path(decoded: &str) -> Option<String> {
    // ASCII control characters in one pass over the bytes, the others (U+0080..U+009F,
    // two bytes in UTF-8 starting with 0xC2) only when such a byte is there.
    if decoded.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2)
        && decoded.chars().any(|c| c.is_control())
    {
        return None;
    }
    // The usual case: already normal, one copy.
    if already_normal(decoded) {
        return Some(decoded.to_string());
    }
    let unified = decoded.replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in unified.split('/') {
        trailing = false;
        match seg {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                out.pop()?;
                trailing = true;
            }
            s => out.push(s),
        }
    }
    let mut p = String::with_capacity(unified.len() + 1);
    for s in &out {
        p.push('/');
        p.push_str(s);
    }
    if out.is_empty() || trailing {
        p.push('/');
    }
    Some(p)
}

/// Percent-encodes what cannot go in a `Location` header as is (controls, space,
/// non-ASCII bytes); everything else, `%` included, is kept.
pub fn location_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..0x7f).contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request's `Content-Length`, when it is one number.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// `/a/b` under `/a` → `/b`; `/a` → `/`; compared segment-wise, ignoring ASCII case.
pub fn strip_prefix_ci<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(path);
    }
    let head = path.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &path[prefix.len()..];
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

impl Pipeline {
    /// Builds every folder configuration of `site` (effective config, compiled rules,
    /// filtering lists, MIME map).
    pub fn new(site: Arc<LoadedSite>) -> Pipeline {
        let mut keys: Vec<String> = vec![String::new()];
        for level in &site.levels {
            keys.push(level.dir_rel.clone());
            if let Some(cfg) = &level.config {
                for loc in &cfg.locations {
                    keys.push(join_rel(&level.dir_rel, &loc.path.value));
                }
            }
        }
        let mut configs = HashMap::new();
        let mut unique = Vec::new();
        for k in keys {
            let lower = k.to_ascii_lowercase();
            if configs.contains_key(&lower) {
                continue;
            }
            let eff = site.effective_for(&k);
            let mut folder = FolderConfig::build(k.clone(), eff);
            // Faults IIS meets only when a module reads the section: the failure page
            // names the file and line, as a configuration error's page does.
            let fault = |(hresult, d): &(u32, crate::diag::Diagnostic), module, notification| {
                let file = d
                    .primary
                    .filter(|s| site.sources.contains(s.source))
                    .map_or_else(PathBuf::new, |s| {
                        site.sources.get(s.source).path().to_path_buf()
                    });
                let failure = crate::config::site::LoadFailure {
                    dir_rel: k.clone(),
                    file,
                    hresult: *hresult,
                    diagnostic: d.clone(),
                };
                let mut e = load_failure_error(&site, &failure);
                e.notification = notification;
                e.module = module;
                e
            };
            // IIS meets these when the response goes out (CustomErrorModule), and when its
            // static file handler serves a file.
            folder.error_pages_fault = folder
                .eff
                .http_errors
                .unreadable
                .as_ref()
                .map(|f| fault(f, "CustomErrorModule", "SendResponse"));
            folder.static_fault = folder
                .eff
                .static_content_unreadable
                .as_ref()
                .map(|f| fault(f, "StaticFileModule", "ExecuteRequestHandler"));
            let cfg = Arc::new(folder);
            configs.insert(lower, cfg.clone());
            unique.push((k, cfg));
        }
        unique.sort_by_key(|(k, _)| std::cmp::Reverse(depth(k)));
        let any_rules = configs.values().any(|c| !c.rules.is_empty());
        let broken = site
            .load_failures()
            .iter()
            .map(|f| (f.dir_rel.clone(), load_failure_error(&site, f)))
            .collect();
        let defaults = Arc::new(FolderConfig::build(
            String::new(),
            crate::config::merge::iis_defaults(),
        ));
        let unread =
            unread::UnreadCheck::new(&site.root, site.levels.iter().map(|l| l.file.clone()));
        Pipeline {
            site,
            unread,
            app_path: String::new(),
            configs,
            keys: unique,
            any_rules,
            id: {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            broken,
            defaults,
        }
    }

    /// Mounts the site at a virtual path (`--app-path /node`).
    pub fn set_app_path(&mut self, app_path: Option<&str>) {
        self.app_path = app_path.map(normalize_app_path).unwrap_or_default();
    }

    pub fn site(&self) -> &Arc<LoadedSite> {
        &self.site
    }

    pub fn root(&self) -> &Path {
        &self.site.root
    }

    /// A web.config this configuration does not hold in a folder of the site path
    /// `site_path` (a file's, or a folder's when `is_dir`), found before it is served
    /// ([`unread`]).
    pub fn unread_config(&self, site_path: &str, is_dir: bool) -> Option<unread::Unread> {
        self.unread.find(site_path, is_dir)
    }

    /// `""` or `/prefix`.
    pub fn app_path(&self) -> &str {
        &self.app_path
    }

    /// The configuration that applies to a site-relative path (`a/b/c.txt`, leading and
    /// trailing slashes ignored): the deepest folder or `<location>` above it.
    pub fn config_for(&self, site_rel: &str) -> Arc<FolderConfig> {
        let p = site_rel.trim_matches('/');
        for (k, c) in &self.keys {
            if is_ancestor(k, p) {
                return c.clone();
            }
        }
        self.root_config()
    }

    fn root_config(&self) -> Arc<FolderConfig> {
        match self.configs.get("") {
            Some(c) => c.clone(),
            // `new` always builds the root; keep a fallback rather than panic.
            None => Arc::new(FolderConfig::build(
                String::new(),
                self.site.effective_for(""),
            )),
        }
    }

    /// Every folder configuration (for diagnostics and tests).
    pub fn configs(&self) -> impl Iterator<Item = &Arc<FolderConfig>> {
        self.configs.values()
    }

    /// Whether a request for this (site-relative) path runs rewrite rules, so the decision
    /// should be made on the budgeted thread.
    pub fn needs_budget(&self, site_rel: &str) -> bool {
        !self.config_for(site_rel).rules.is_empty()
    }

    /// The full URL path the client sees for a site path (`/x` → `/node/x`).
    pub fn public_url(&self, site_path: &str) -> String {
        if self.app_path.is_empty() {
            site_path.to_string()
        } else if site_path == "/" {
            format!("{}/", self.app_path)
        } else {
            format!("{}{site_path}", self.app_path)
        }
    }

    /// The decoded site path of a request: `Err` with the IIS error when the target cannot
    /// be decoded, lies outside `--app-path`, or climbs above the root.
    pub fn site_path(&self, raw_path: &str) -> Result<(String, String), Routed> {
        let Some(decoded) = router::percent_decode(raw_path) else {
            return Err(self.error_routed(
                IisError::new(400, 0, "The URL contains an invalid escape sequence."),
                "/",
            ));
        };
        let Some(inside) = strip_prefix_ci(&decoded, &self.app_path) else {
            let err = IisError::new(
                404,
                0,
                format!(
                    "The site is mounted at {} (--app-path); this URL is outside it.",
                    self.app_path
                ),
            );
            return Err(self.error_routed(err, "/"));
        };
        let Some(norm) = normalize_path(inside) else {
            return Err(self.error_routed(
                IisError::new(
                    400,
                    0,
                    "The URL climbs above the site root or contains a control character.",
                ),
                "/",
            ));
        };
        Ok((decoded, norm))
    }

    /// The configuration of a site with no web.config: IIS's own defaults, which render the
    /// pages of configuration errors.
    pub fn defaults(&self) -> &FolderConfig {
        &self.defaults
    }

    /// IIS's 500.19 when the web.config of `site_path`'s folder, or of a folder above it,
    /// cannot be loaded: static files included, so a script whose handler mapping is in the
    /// broken file is never served as text (DECISIONS.md §5).
    pub fn config_failure(&self, site_path: &str) -> Option<Routed> {
        if self.broken.is_empty() {
            return None;
        }
        let p = site_path.trim_matches('/');
        let (_, err) = self.broken.iter().find(|(dir, _)| is_ancestor(dir, p))?;
        Some(Routed {
            decision: Decision::Error(err.clone()),
            config: self.defaults.clone(),
            url: self.public_url(site_path),
            rewritten: false,
            set_headers: Vec::new(),
            set_vars: Vec::new(),
            query: None,
        })
    }

    fn error_routed(&self, err: IisError, site_path: &str) -> Routed {
        Routed {
            decision: Decision::Error(err),
            config: self.config_for(site_path),
            url: self.public_url(site_path),
            rewritten: false,
            set_headers: Vec::new(),
            set_vars: Vec::new(),
            query: None,
        }
    }

    /// Runs the whole pipeline for `head` and says what to do. May touch the file system
    /// (rewrite conditions, default documents, static files), so the front calls it through
    /// [`Pipeline::route`].
    pub fn decide(&self, head: &RequestHead, progress: Option<&budget::Progress>) -> Routed {
        self.decide_traced(head, progress, None)
    }

    /// [`Pipeline::decide`], recording each step into `trace` when one is given (`iisn
    /// route`, `iisn serve --trace`); with `None` it is `decide` itself (see [`trace`]).
    pub fn decide_traced(
        &self,
        head: &RequestHead,
        progress: Option<&budget::Progress>,
        trace: Option<&mut Trace>,
    ) -> Routed {
        let memo_ok = trace.is_none() && progress.is_none();
        if memo_ok && let Some(routed) = self.remembered(head) {
            return routed;
        }
        self.decide_unremembered(head, progress, trace, memo_ok)
    }

    /// [`Pipeline::decide_traced`] as `iisn serve` answers the request, for `iisn route` and
    /// `serve --trace`: a file or listing below a web.config this configuration does not
    /// hold is IIS's 500.19 ([`unread`]; the front makes the same substitution), never the
    /// file.
    pub fn decide_explained(&self, head: &RequestHead, trace: &mut Trace) -> Routed {
        let mut routed = self.decide_traced(head, None, Some(trace));
        let listing = matches!(routed.decision, Decision::Listing { .. });
        if (listing || matches!(routed.decision, Decision::File { .. }))
            && let Some(u) = self.unread_config(
                strip_prefix_ci(&routed.url, &self.app_path).unwrap_or("/"),
                listing,
            )
        {
            routed.decision = Decision::Error(u.error());
        }
        routed
    }

    /// [`Pipeline::decide_traced`] once the memo has no decision for the request; `memo_ok`:
    /// the decision may be remembered.
    fn decide_unremembered(
        &self,
        head: &RequestHead,
        progress: Option<&budget::Progress>,
        mut trace: Option<&mut Trace>,
        memo_ok: bool,
    ) -> Routed {
        let (raw_path, raw_query) = head.split_target();
        let (decoded, path) = match self.site_path(raw_path) {
            Ok(p) => p,
            Err(r) => {
                if let Decision::Error(e) = &r.decision {
                    rec(&mut trace, |t| t.url_error(e));
                }
                return r;
            }
        };
        // IIS reads the URL's configuration before any module runs (iis-webconfig.md §6 step 2).
        if let Some(r) = self.config_failure(&path) {
            if let Decision::Error(e) = &r.decision {
                rec(&mut trace, |t| t.url_error(e));
            }
            return r;
        }
        let orig_cfg = self.config_for(&path);
        let mut memo_ok = memo_ok && orig_cfg.filter.memo_ok();

        // Request filtering, on the URL as requested.
        let facts = filtering::RequestFacts {
            raw_path,
            raw_query,
            decoded: &decoded,
            site_path: &path,
            content_length: content_length(&head.headers),
            method: head.method.as_str(),
            headers: Some(&head.headers),
            script: None,
        };
        let mut filtered = orig_cfg.filter.check_request(&facts);
        if let Err(e) = &filtered
            && filtering::Filter::split_matters(e)
            && let Some(script) = self.script_part(head.method.as_str(), &path, &mut memo_ok)
        {
            filtered = orig_cfg.filter.check_request(&filtering::RequestFacts {
                script: Some(script),
                ..facts
            });
        }
        rec(&mut trace, |t| {
            t.filter(&path, false, &orig_cfg, filtered.as_ref().map(|_| ()));
            t.filter_exemptions(orig_cfg.filter.exemptions(&facts));
        });
        if let Err(e) = filtered {
            return self.error_routed(e, &path);
        }

        if orig_cfg.rules.is_empty() {
            // No rewrite rules here: straight to handler mapping, without copying the URL.
            let mut pure = memo_ok;
            let mut routed =
                self.dispatch_noting(head.method.as_str(), &path, &mut trace, &mut pure);
            if pure && let Some(app) = memo::App::plain(&routed) {
                memo::put(self.id, &head.method, raw_path, app);
            }
            Self::finish_folder_redirect(&mut routed, raw_query, head);
            routed.query = raw_query.map(str::to_string);
            return routed;
        }

        // URL Rewrite.
        let mut state = rewrite::UrlState::new(path.clone(), raw_query.map(str::to_string));
        let memo_rules = memo_ok && orig_cfg.rules.memoizable();
        let probes = RefCell::new(Vec::new());
        {
            let env = rewrite::Env {
                head,
                site_root: self.root(),
                app_path: &self.app_path,
                probes: memo_rules.then_some(&probes),
            };
            rec(&mut trace, |t| t.rules_config = Some(orig_cfg.clone()));
            match orig_cfg
                .rules
                .evaluate_traced(&env, &mut state, progress, &mut trace)
            {
                rewrite::Outcome::Continue => {}
                rewrite::Outcome::Redirect {
                    status,
                    mut location,
                } => {
                    // IIS sends URL Rewrite's redirects to a site path as a whole URL too.
                    absolute_location(&mut location, host_of(head));
                    return Routed {
                        decision: Decision::Redirect { status, location },
                        config: orig_cfg,
                        url: self.public_url(&path),
                        rewritten: false,
                        set_headers: Vec::new(),
                        set_vars: Vec::new(),
                        query: None,
                    };
                }
                rewrite::Outcome::Abort => {
                    return Routed {
                        decision: Decision::Abort,
                        config: orig_cfg,
                        url: self.public_url(&path),
                        rewritten: false,
                        set_headers: Vec::new(),
                        set_vars: Vec::new(),
                        query: None,
                    };
                }
                rewrite::Outcome::Respond(e) => return self.error_routed(e, &path),
            }
        }
        let rewritten = state.rewritten;
        let set_headers = std::mem::take(&mut state.set_headers);
        let set_vars = state.take_plain_vars();
        let final_path = state.path;
        let final_query = state.query;
        // Whether finding the script of the rewritten URL (below) kept off the file system.
        let mut split_pure = true;
        if rewritten && final_path != path {
            let cfg = self.config_for(&final_path);
            let mut checked = cfg.filter.check_url(&final_path);
            if let Err(e) = &checked
                && filtering::Filter::split_matters(e)
                && let Some(script) =
                    self.script_part(head.method.as_str(), &final_path, &mut split_pure)
            {
                checked = cfg
                    .filter
                    .check_url_split(&final_path, Some(script.site_path));
            }
            rec(&mut trace, |t| {
                t.filter(&final_path, true, &cfg, checked.as_ref().map(|_| ()))
            });
            if let Err(e) = checked {
                // A rewrite cannot reach what request filtering hides (inferred IIS behaviour,
                // iis-webconfig.md §3.5: Kudu removes `bin` so that its rewrite to bin/www works).
                return self.error_routed(e, &final_path);
            }
        }
        if rewritten && let Some(r) = self.config_failure(&final_path) {
            if let Decision::Error(e) = &r.decision {
                rec(&mut trace, |t| t.url_error(e));
            }
            return r;
        }

        let mut pure = memo_rules && split_pure;
        let mut routed =
            self.dispatch_noting(head.method.as_str(), &final_path, &mut trace, &mut pure);
        Self::finish_folder_redirect(&mut routed, raw_query, head);
        routed.rewritten = rewritten;
        routed.set_headers = set_headers;
        routed.set_vars = set_vars;
        routed.query = final_query;
        if pure
            && let Some(app) =
                memo::App::through_rules(&routed, &orig_cfg, raw_query, probes.into_inner())
        {
            memo::put(self.id, &head.method, raw_path, app);
        }
        routed
    }

    /// The decision remembered for this request ([`memo`]), when there is one, its file
    /// tests answer as they did and the request's own checks pass.
    fn remembered(&self, head: &RequestHead) -> Option<Routed> {
        let (raw_path, raw_query) = head.split_target();
        let app = memo::get(self.id, &head.method, raw_path, raw_query)?;
        let facts = filtering::RequestFacts {
            raw_path,
            raw_query,
            decoded: "",
            site_path: "",
            content_length: content_length(&head.headers),
            method: head.method.as_str(),
            headers: Some(&head.headers),
            script: None,
        };
        // When a check of this request fails, the whole pipeline finds which, as IIS would.
        app.filter().filter.check_request_facts(&facts).ok()?;
        if !app.still_holds() {
            // A file appeared or went away: the decision is made again (and remembered
            // again if it can be).
            memo::forget(self.id, &head.method, raw_path, raw_query);
            return None;
        }
        Some(app.routed(raw_query))
    }

    /// The script part of `site_path` when handler mapping splits it into a script and
    /// PATH_INFO, for request filtering ([`filtering::ScriptPart`]); asked only when a check
    /// that depends on it refused the whole URL. Clears `pure` when handler mapping read the
    /// file system (a `resourceType`).
    fn script_part<'p>(
        &self,
        method: &str,
        site_path: &'p str,
        pure: &mut bool,
    ) -> Option<filtering::ScriptPart<'p>> {
        let end = router::script_end(self, method, site_path, pure)?;
        let script = &site_path[..end];
        Some(filtering::ScriptPart {
            site_path: script,
            url_len: self.app_path.len() + script.len(),
        })
    }

    /// The folder redirect (the only redirect `dispatch` makes) keeps the query string.
    fn finish_folder_redirect(routed: &mut Routed, raw_query: Option<&str>, head: &RequestHead) {
        if let Decision::Redirect { location, .. } = &mut routed.decision {
            if let Some(q) = raw_query.filter(|q| !q.is_empty()) {
                location.push('?');
                location.push_str(&location_safe(q));
            }
            // IIS's courtesy redirect names the whole URL (KB 298408).
            absolute_location(location, host_of(head));
        }
    }

    /// Handler mapping and what follows it, for a site path after URL Rewrite.
    pub fn dispatch(&self, method: &str, site_path: &str) -> Routed {
        self.dispatch_traced(method, site_path, &mut None)
    }

    /// [`Pipeline::dispatch`], recording into `trace` when there is one.
    fn dispatch_traced(
        &self,
        method: &str,
        site_path: &str,
        trace: &mut Option<&mut Trace>,
    ) -> Routed {
        self.dispatch_noting(method, site_path, trace, &mut true)
    }

    /// [`Pipeline::dispatch_traced`], clearing `pure` when the decision read the file system
    /// (a handler's `resourceType`, a static file or folder, a default document), so that it
    /// cannot be remembered ([`memo`]).
    fn dispatch_noting(
        &self,
        method: &str,
        site_path: &str,
        trace: &mut Option<&mut Trace>,
        pure: &mut bool,
    ) -> Routed {
        let mut path = site_path.to_string();
        // At most one default-document hop (IIS's DefaultDocumentModule re-maps once).
        for _ in 0..2 {
            let config = self.config_for(&path);
            let url = self.public_url(&path);
            let routed = |decision| Routed {
                decision,
                config: config.clone(),
                url: url.clone(),
                rewritten: false,
                set_headers: Vec::new(),
                set_vars: Vec::new(),
                query: None,
            };
            let choice = router::select_handler(self, method, &path, pure);
            rec(trace, |t| {
                t.handler(&path, &config, HandlerTrace::of(&choice))
            });
            match choice {
                HandlerChoice::Iisnode {
                    config: hc,
                    index,
                    script_rel,
                    path_info,
                } => {
                    // `public_url("/" + script_rel)`, without formatting.
                    let mut script_url =
                        String::with_capacity(self.app_path.len() + 1 + script_rel.len());
                    script_url.push_str(&self.app_path);
                    script_url.push('/');
                    script_url.push_str(&script_rel);
                    return routed(Decision::App(AppHandler {
                        handler_config: hc,
                        handler: index,
                        script_rel,
                        script_url,
                        path_info,
                    }));
                }
                HandlerChoice::Options => return routed(Decision::Options),
                HandlerChoice::Trace => {
                    let mut e = IisError::new(
                        501,
                        0,
                        "The TRACE method is not enabled on this server (HTTP.sys's EnableTraceMethod is off by default), so IIS's TRACEVerbHandler refuses it.",
                    );
                    e.module = "ProtocolSupportModule";
                    e.notification = "ExecuteRequestHandler";
                    e.handler = Some("TRACEVerbHandler".into());
                    return routed(Decision::Error(e));
                }
                HandlerChoice::NotEmulated { name, modules } => {
                    return routed(Decision::Error(IisError::not_emulated(&name, &modules)));
                }
                HandlerChoice::ResourceMissing { name, wanted } => {
                    let mut e = IisError::new(
                        404,
                        0,
                        format!(
                            "The handler \"{name}\" maps this URL and requires {wanted} (its resourceType), which the URL does not name."
                        ),
                    );
                    e.module = "IIS Web Core";
                    e.handler = Some(name);
                    return routed(Decision::Error(e));
                }
                HandlerChoice::None => {
                    let mut e = IisError::new(
                        404,
                        4,
                        "No handler mapping applies to this URL (the handler list was cleared and StaticFile was not added back).",
                    );
                    e.module = "IIS Web Core";
                    return routed(Decision::Error(e));
                }
                HandlerChoice::Static { .. } => {}
            }
            // The StaticFile handler: files, folders, default documents.
            *pure = false;
            let resolved = static_files::resolve(self.root(), &path, &config.filter);
            rec(trace, |t| t.resolved(&path, &resolved));
            // IIS checks that the mapping's resource exists (StaticFile's
            // resourceType="Either") while it maps the handler, before StaticFileModule
            // sees the verb: a POST to a missing file is IIS Web Core's 404.0 like a GET,
            // and only an existing file or folder gets the 405.
            if !matches!(method, "GET" | "HEAD")
                && matches!(
                    resolved,
                    static_files::Resolved::File(_) | static_files::Resolved::Dir(_)
                )
            {
                let mut e = IisError::new(
                    405,
                    0,
                    format!(
                        "The {method} verb is not allowed for static content; only GET and HEAD are."
                    ),
                );
                e.handler = Some("StaticFile".into());
                e.module = "StaticFileModule";
                return routed(Decision::Error(e));
            }
            match resolved {
                static_files::Resolved::File(file) => {
                    if path.ends_with('/') {
                        return routed(Decision::Error(IisError::not_found(
                            &file,
                            "A file was requested with a trailing slash.",
                        )));
                    }
                    let name = file
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    // The static file handler reads <staticContent> for the file.
                    if let Some(e) = &config.static_fault {
                        let mut e = e.clone();
                        e.handler = Some("StaticFile".into());
                        return routed(Decision::Error(e));
                    }
                    if config.mime_type(&name).is_none() {
                        let mut e = IisError::new(
                            404,
                            3,
                            format!(
                                "The page you are requesting cannot be served because of the extension configuration: no <mimeMap> maps the extension of \"{name}\". Add one in <staticContent>, e.g. <mimeMap fileExtension=\"{}\" mimeType=\"...\"/>.",
                                name.rfind('.').map_or(".", |i| &name[i..])
                            ),
                        );
                        e.module = "StaticFileModule";
                        e.handler = Some("StaticFile".into());
                        e.physical = Some(file);
                        return routed(Decision::Error(e));
                    }
                    return routed(Decision::File { path: file });
                }
                static_files::Resolved::Dir(dir) => {
                    if !path.ends_with('/') {
                        // IIS redirects a folder URL to its slash form (301).
                        return routed(Decision::Redirect {
                            status: 301,
                            location: location_safe(&format!("{}/", self.public_url(&path))),
                        });
                    }
                    let doc = config
                        .eff
                        .default_document_enabled
                        .then(|| default_document::find(&dir, &config.eff))
                        .flatten();
                    if config.eff.default_document_enabled {
                        rec(trace, |t| {
                            t.default_document(&path, &config, doc.as_deref())
                        });
                    }
                    if let Some(name) = doc {
                        path = format!("{path}{name}");
                        continue;
                    }
                    if config.eff.directory_browse {
                        return routed(Decision::Listing { dir });
                    }
                    let mut e = IisError::new(
                        403,
                        14,
                        "A default document is not configured for the requested URL, and directory browsing is not enabled on the server.",
                    );
                    e.module = "DirectoryListingModule";
                    e.handler = Some("StaticFile".into());
                    e.physical = Some(dir);
                    return routed(Decision::Error(e));
                }
                static_files::Resolved::Missing(p) => {
                    return routed(Decision::Error(IisError::not_found(
                        &p,
                        "The file or directory does not exist.",
                    )));
                }
                static_files::Resolved::Hidden(p, why) => {
                    return routed(Decision::Error(IisError::not_found(&p, &why)));
                }
            }
        }
        let config = self.config_for(&path);
        Routed {
            decision: Decision::Error(IisError::new(
                404,
                0,
                "The default document maps to another folder.",
            )),
            url: self.public_url(&path),
            config,
            rewritten: false,
            set_headers: Vec::new(),
            set_vars: Vec::new(),
            query: None,
        }
    }

    /// The site path of `raw_path` and the configuration whose rewrite rules apply to it,
    /// found as `decide` finds them (decoded, normalised): a URL such as `/./slow/x` must
    /// not pass for the root's rules and so escape the time budget of `slow/`'s.
    fn rules_folder(&self, raw_path: &str) -> Result<(String, Arc<FolderConfig>), Routed> {
        let (_, path) = self.site_path(raw_path)?;
        let config = self.config_for(&path);
        Ok((path, config))
    }

    /// [`Pipeline::decide`] for the front: inline when no rewrite rule applies or none of
    /// the rules' patterns can run away, else on the budgeted rewrite thread. The head is
    /// borrowed, not moved, so that it stays in place in the request's future; on the
    /// rewrite thread it travels and comes back, unless the budget runs out (then the
    /// decision is a 500.50, and `head` is left empty: no target, no headers).
    pub async fn route(self: &Arc<Self>, head: &mut RequestHead) -> Routed {
        match self.route_inline(head) {
            Ok(routed) => routed,
            Err((site_rel, config)) => self.route_budgeted(head, site_rel, config).await,
        }
    }

    /// The decision when it can be made on the calling thread; otherwise the rules folder
    /// whose patterns need the time budget.
    fn route_inline(&self, head: &RequestHead) -> Result<Routed, (String, Arc<FolderConfig>)> {
        if let Some(routed) = self.remembered(head) {
            return Ok(routed);
        }
        if !self.any_rules {
            return Ok(self.decide_unremembered(head, None, None, true));
        }
        let (site_rel, config) = match self.rules_folder(head.split_target().0) {
            Ok(found) => found,
            Err(routed) => return Ok(routed),
        };
        if config.rules.is_empty() || config.rules.inline() {
            // No pattern of these rules can run away: no time budget, no thread hop.
            return Ok(self.decide_unremembered(head, None, None, true));
        }
        Err((site_rel, config))
    }

    /// [`Pipeline::route`] on the rewrite thread, within [`budget::REWRITE_BUDGET`].
    async fn route_budgeted(
        self: &Arc<Self>,
        head: &mut RequestHead,
        site_rel: String,
        config: Arc<FolderConfig>,
    ) -> Routed {
        let head_out = RequestHead {
            method: head.method.clone(),
            target: std::mem::take(&mut head.target),
            headers: std::mem::take(&mut head.headers),
            remote: head.remote,
            local_addr: head.local_addr,
            auth: head.auth.take(),
        };
        let me = self.clone();
        let outcome = budget::run(budget::REWRITE_BUDGET, config, move |progress| {
            let routed = me.decide(&head_out, Some(progress));
            (routed, head_out)
        })
        .await;
        match outcome {
            Ok((routed, back)) => {
                *head = back;
                routed
            }
            Err(overrun) => {
                let mut e = IisError::new(
                    500,
                    50,
                    format!(
                        "URL Rewrite Module Error: {}. iisn gives each request {} ms to run its rewrite rules; a pattern with nested quantifiers such as (a+)+ can backtrack for much longer. `iisn check` points at such patterns.",
                        overrun.describe(),
                        budget::REWRITE_BUDGET.as_millis()
                    ),
                );
                e.module = "RewriteModule";
                self.error_routed(e, &site_rel)
            }
        }
    }
}

#[cfg(test)]
mod never_source;
#[cfg(test)]
mod tests;
