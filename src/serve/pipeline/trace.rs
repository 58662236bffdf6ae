//! The pipeline's reasoning, step by step: what `iisn route` prints and `iisn serve --trace`
//! shows for live requests.
//!
//! On IIS the only way to see why a URL ends where it does is Failed Request Tracing
//! (FREB): request filtering's verdict, each URL Rewrite rule with its input, pattern,
//! conditions and action, the handler mapping chosen, the default document. iisn decides the
//! same things as plain functions ([`super::Pipeline::decide`]), so those functions write
//! what they do into a [`Trace`] when one is given. There is no second implementation: `decide`
//! is `decide_traced(.., None)`, and `route` and `serve` cannot disagree.
//!
//! The recorder costs nothing when off. The pipeline holds an `Option<&mut Trace>` and every
//! recording point is [`rec`], an inlined `if let Some` around a closure: with `None` no
//! closure runs, so nothing is allocated or formatted. The records are raw (indices into the
//! folder's effective configuration, the expanded inputs); turning them into words, spans
//! (`web.config:line:col`) and JSON happens afterwards, in [`Report`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::model::Entry;
use crate::config::source::Span;
use crate::config::web_config::{ActionType, HandlerEntry, MatchType};
use crate::diag::render::location;

use super::errors::{self, IisError};
use super::static_files::Resolved;
use super::{Decision, FolderConfig, Pipeline, Routed};
use crate::serve::router::HandlerChoice;

/// Runs `f` on the trace when there is one. The only way the pipeline records: with `None`
/// this is a branch on a null pointer.
#[inline(always)]
pub fn rec(trace: &mut Option<&mut Trace>, f: impl FnOnce(&mut Trace)) {
    if let Some(t) = trace {
        f(t)
    }
}

/// What the pipeline did for one request, in order.
#[derive(Debug, Default)]
pub struct Trace {
    pub steps: Vec<Step>,
    /// The configuration whose rules ran (rule indices in [`RuleStep`] point into its
    /// `eff.rules`).
    pub rules_config: Option<Arc<FolderConfig>>,
    /// How a rule ended the request, if one did (Redirect, CustomResponse, AbortRequest).
    pub ended_by: Option<ActionType>,
}

/// One step of the pipeline.
#[derive(Debug)]
pub enum Step {
    /// The URL could not be decoded or normalised, or lies outside `--app-path`.
    Url { error: IisError },
    /// Request filtering on a URL (the request's, or the rewritten one).
    Filter {
        site_path: String,
        rewritten: bool,
        config: Arc<FolderConfig>,
        denied: Option<IisError>,
        /// What `alwaysAllowedUrls` / `alwaysAllowedQueryStrings` exempted the request from.
        exempt: Vec<String>,
    },
    /// A rewrite rule considered.
    Rule(RuleStep),
    /// Handler mapping for a site path.
    Handler {
        site_path: String,
        config: Arc<FolderConfig>,
        choice: HandlerTrace,
    },
    /// The StaticFile handler looked at the file system.
    Static {
        site_path: String,
        found: &'static str,
        physical: PathBuf,
    },
    /// The default document of a folder (or none).
    DefaultDocument {
        folder: String,
        config: Arc<FolderConfig>,
        chosen: Option<String>,
    },
}

/// What handler mapping chose.
#[derive(Debug)]
pub enum HandlerTrace {
    Iisnode {
        config: Arc<FolderConfig>,
        index: usize,
        script_rel: String,
        path_info: String,
    },
    /// StaticFile, by the name of the mapping.
    Static {
        name: String,
    },
    Options,
    Trace,
    NotEmulated {
        name: String,
    },
    /// The mapping's `resourceType` does not fit the URL (404.0).
    ResourceMissing {
        name: String,
    },
    None,
}

/// One rewrite rule and what came of it.
#[derive(Debug, Default)]
pub struct RuleStep {
    /// Index in the rules configuration's `eff.rules`.
    pub index: usize,
    /// The input the pattern saw (the current URL relative to the rule's folder).
    pub input: String,
    pub matched: bool,
    /// `{R:n}` captures when the pattern matched.
    pub captures: Vec<Option<String>>,
    pub conditions: Vec<ConditionStep>,
    /// Whether the conditions passed (None: the pattern did not match, they did not run).
    pub conditions_passed: Option<bool>,
    /// `{C:n}` captures when the conditions passed.
    pub condition_captures: Vec<Option<String>>,
    pub action: Option<ActionTrace>,
}

/// One condition as evaluated.
#[derive(Debug)]
pub struct ConditionStep {
    pub index: usize,
    /// The input after expansion (`{REQUEST_FILENAME}` → a path).
    pub expanded: String,
    /// Whether it passed (negate applied).
    pub passed: bool,
}

/// What a matching rule's action did.
#[derive(Debug)]
pub enum ActionTrace {
    None,
    /// The URL (site path and query) after the rewrite.
    Rewrite {
        url: String,
    },
    Redirect {
        status: u16,
        location: String,
    },
    CustomResponse {
        status: u16,
        substatus: u32,
    },
    Abort,
    /// The rule could not run (500.50).
    Error {
        why: String,
    },
}

impl HandlerTrace {
    /// The record of a handler-mapping choice (only built when tracing).
    pub fn of(c: &HandlerChoice) -> HandlerTrace {
        match c {
            HandlerChoice::Iisnode {
                config,
                index,
                script_rel,
                path_info,
            } => HandlerTrace::Iisnode {
                config: config.clone(),
                index: *index,
                script_rel: script_rel.clone(),
                path_info: path_info.clone(),
            },
            HandlerChoice::Static { name } => HandlerTrace::Static { name: name.clone() },
            HandlerChoice::Options => HandlerTrace::Options,
            HandlerChoice::Trace => HandlerTrace::Trace,
            HandlerChoice::NotEmulated { name, .. } => {
                HandlerTrace::NotEmulated { name: name.clone() }
            }
            HandlerChoice::ResourceMissing { name, .. } => {
                HandlerTrace::ResourceMissing { name: name.clone() }
            }
            HandlerChoice::None => HandlerTrace::None,
        }
    }
}

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    fn push(&mut self, s: Step) {
        self.steps.push(s);
    }

    pub fn url_error(&mut self, e: &IisError) {
        self.push(Step::Url { error: e.clone() });
    }

    pub fn filter(
        &mut self,
        site_path: &str,
        rewritten: bool,
        config: &Arc<FolderConfig>,
        r: Result<(), &IisError>,
    ) {
        self.push(Step::Filter {
            site_path: site_path.to_string(),
            rewritten,
            config: config.clone(),
            denied: r.err().cloned(),
            exempt: Vec::new(),
        });
    }

    /// Notes on the last filter step what the always-allowed lists exempted the request from.
    pub fn filter_exemptions(&mut self, exempt: Vec<String>) {
        if let Some(Step::Filter { exempt: slot, .. }) = self.steps.last_mut() {
            *slot = exempt;
        }
    }

    fn last_rule(&mut self) -> Option<&mut RuleStep> {
        match self.steps.last_mut() {
            Some(Step::Rule(r)) => Some(r),
            _ => None,
        }
    }

    /// A rule's pattern ran on `input`; `captures` is `None` when it did not match.
    pub fn rule(&mut self, index: usize, input: &str, captures: Option<&[Option<String>]>) {
        self.push(Step::Rule(RuleStep {
            index,
            input: input.to_string(),
            matched: captures.is_some(),
            captures: captures.map(<[_]>::to_vec).unwrap_or_default(),
            ..RuleStep::default()
        }));
    }

    pub fn condition(&mut self, index: usize, expanded: &str) {
        if let Some(r) = self.last_rule() {
            r.conditions.push(ConditionStep {
                index,
                expanded: expanded.to_string(),
                passed: false,
            });
        }
    }

    pub fn condition_result(&mut self, passed: bool) {
        if let Some(c) = self.last_rule().and_then(|r| r.conditions.last_mut()) {
            c.passed = passed;
        }
    }

    pub fn conditions_result(&mut self, captures: Option<&[Option<String>]>) {
        if let Some(r) = self.last_rule() {
            r.conditions_passed = Some(captures.is_some());
            r.condition_captures = captures.map(<[_]>::to_vec).unwrap_or_default();
        }
    }

    pub fn action(&mut self, a: ActionTrace) {
        let ends = match &a {
            ActionTrace::Redirect { .. } => Some(ActionType::Redirect),
            ActionTrace::CustomResponse { .. } => Some(ActionType::CustomResponse),
            ActionTrace::Abort => Some(ActionType::AbortRequest),
            _ => None,
        };
        if ends.is_some() {
            self.ended_by = ends;
        }
        if let Some(r) = self.last_rule() {
            r.action = Some(a);
        }
    }

    pub fn handler(&mut self, site_path: &str, config: &Arc<FolderConfig>, choice: HandlerTrace) {
        self.push(Step::Handler {
            site_path: site_path.to_string(),
            config: config.clone(),
            choice,
        });
    }

    /// What the StaticFile handler found for a site path.
    pub fn resolved(&mut self, site_path: &str, r: &Resolved) {
        let (found, physical) = match r {
            Resolved::File(p) => ("file", p),
            Resolved::Dir(p) => ("folder", p),
            Resolved::Missing(p) => ("missing", p),
            Resolved::Hidden(p, _) => ("hidden", p),
        };
        self.push(Step::Static {
            site_path: site_path.to_string(),
            found,
            physical: physical.clone(),
        });
    }

    pub fn default_document(
        &mut self,
        folder: &str,
        config: &Arc<FolderConfig>,
        chosen: Option<&str>,
    ) {
        self.push(Step::DefaultDocument {
            folder: folder.to_string(),
            config: config.clone(),
            chosen: chosen.map(str::to_string),
        });
    }
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

/// A finished trace with its decision, ready to print as text or JSON.
pub struct Report<'a> {
    pub pipeline: &'a Pipeline,
    pub method: &'a str,
    /// The URL as given (request target).
    pub url: &'a str,
    pub routed: &'a Routed,
    pub trace: &'a Trace,
    /// Whether the client is local (the detailed error page with `DetailedLocalOnly`).
    pub local: bool,
}

/// One step rendered: its stage, a line of text, and its JSON object.
struct Rendered {
    stage: &'static str,
    text: Vec<String>,
    json: Value,
}

/// Quotes a value for the text trace, as written (patterns keep their single backslashes).
fn q(s: &str) -> String {
    format!("\"{s}\"")
}

/// A request for an application that iisnode answers itself instead of node: its debugger
/// (`<script>/debug`, `<script>/debug/?kill`...; `debuggingEnabled`), or one of its error
/// pages, in the order `iisn serve` checks them (front.rs `app_request`).
enum AppAnswer {
    /// 301 to the same URL with a trailing slash.
    DebuggerRedirect(String),
    /// A debugger command (the query).
    DebuggerCommand(&'static str),
    /// iisnode's own error page: the application's configuration (web.config `<iisnode>`,
    /// iisnode.yml) has errors, the script is missing, or its settings fail every request.
    Error {
        status: u16,
        substatus: u32,
        detail: String,
    },
}

impl Report<'_> {
    /// What iisnode answers for this request instead of node, when the application's
    /// settings (web.config and iisnode.yml) say so, as `iisn serve` decides it.
    fn app_answer(&self) -> Option<AppAnswer> {
        use crate::config::schema::Attr;
        use crate::serve::debugger::{self, Command, DebugUrl};
        let Decision::App(a) = &self.routed.decision else {
            return None;
        };
        let site = self.pipeline.site();
        let built;
        let app = match site
            .apps
            .iter()
            .find(|app| app.script_rel.eq_ignore_ascii_case(&a.script_rel))
        {
            Some(app) => app,
            None => {
                let handler = &a.handler_config.eff.handlers.get(a.handler)?.item;
                let mut sources = site.sources.continuation();
                built = site
                    .wildcard_application(
                        &a.script_rel,
                        handler,
                        &crate::config::LoadOptions::from_process(),
                        &mut sources,
                    )
                    .0;
                &built
            }
        };
        if let Some(kind) = app.config_error {
            let file = match kind {
                crate::config::ConfigErrorKind::WebConfig => "web.config",
                crate::config::ConfigErrorKind::IisnodeYml => "iisnode.yml",
            };
            // A local client gets the page with a 200 (iisnode's own way), others 500.1000.
            let (status, substatus) = if self.local { (200, 0) } else { (500, 1000) };
            return Some(AppAnswer::Error {
                status,
                substatus,
                detail: format!(
                    "iisnode was unable to read the configuration ({file}) of {}: it answers with its configuration error page and does not start node (`iisn check` lists the problems)",
                    app.script_rel
                ),
            });
        }
        if !app.script_exists && !app.script.is_file() {
            return Some(AppAnswer::Error {
                status: 404,
                substatus: 0,
                detail: format!("iisnode: the script {} does not exist", app.script_rel),
            });
        }
        let s = &app.settings;
        let fails = crate::serve::plan::failing_settings(s)
            .map(|(sub, why)| (sub, why.to_string()))
            .or_else(|| {
                let dir = app.script.parent()?;
                crate::serve::watcher::start_failure(s.str(Attr::WatchedFiles), dir)
                    .map(|why| (1000, why))
            });
        if let Some((substatus, detail)) = fails {
            return Some(AppAnswer::Error {
                status: 500,
                substatus,
                detail,
            });
        }
        if !s.bool(Attr::DebuggingEnabled) {
            return None;
        }
        let segment = s.str(Attr::DebuggerPathSegment);
        let query = self.url.split_once('?').map(|(_, q)| q);
        match debugger::classify(&a.path_info, segment, query)? {
            DebugUrl::Redirect => Some(AppAnswer::DebuggerRedirect(debugger::redirect_location(
                &a.script_url,
                &a.path_info,
                segment,
                query,
            ))),
            DebugUrl::Command(c) => Some(AppAnswer::DebuggerCommand(match c {
                Command::Debug { brk: false } => "debug",
                Command::Debug { brk: true } => "brk",
                Command::Kill => "kill",
                Command::Unrecognized => "unrecognized",
            })),
        }
    }

    fn loc(&self, span: Span) -> String {
        let site = self.pipeline.site();
        location(&site.sources, span, &site.root)
    }

    fn site_rel(&self, p: &Path) -> String {
        let root = self.pipeline.root();
        match p.strip_prefix(root) {
            Ok(r) => r
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/"),
            Err(_) => p.display().to_string(),
        }
    }

    /// `outcome`, `status`, `substatus`.
    pub fn outcome(&self) -> (&'static str, Option<u16>, u32) {
        match self.app_answer() {
            Some(AppAnswer::DebuggerRedirect(_)) => return ("redirect", Some(301), 0),
            Some(AppAnswer::DebuggerCommand(_)) => return ("debugger", Some(200), 0),
            Some(AppAnswer::Error {
                status, substatus, ..
            }) => return ("iisnode-error", Some(status), substatus),
            None => {}
        }
        match &self.routed.decision {
            Decision::App(_) => ("app", Some(200), 0),
            Decision::File { .. } => ("file", Some(200), 0),
            Decision::Listing { .. } => ("listing", Some(200), 0),
            Decision::Redirect { status, .. } => ("redirect", Some(*status), 0),
            Decision::Options => ("options", Some(200), 0),
            Decision::Abort => ("abort", None, 0),
            Decision::Error(e) if let Some(f) = self.error_pages_fault(e) => {
                ("error", Some(f.status), f.substatus)
            }
            Decision::Error(e) => {
                let o = if self.trace.ended_by == Some(ActionType::CustomResponse) {
                    "custom-response"
                } else if e.status == 500 && e.substatus == 21 {
                    "not-emulated"
                } else {
                    "error"
                };
                (o, Some(e.status), e.substatus)
            }
        }
    }

    /// The final target in words (`app server.js`, `file public/about.html`, ...).
    pub fn target(&self) -> String {
        match self.app_answer() {
            Some(AppAnswer::DebuggerRedirect(location)) => return format!("to {location}"),
            Some(AppAnswer::DebuggerCommand(c)) => {
                return format!("iisnode's debugger (command {c}), not the application");
            }
            Some(AppAnswer::Error { detail, .. }) => return detail,
            None => {}
        }
        match &self.routed.decision {
            Decision::App(a) => {
                if a.path_info.is_empty() {
                    a.script_rel.clone()
                } else {
                    format!("{} (PATH_INFO {})", a.script_rel, a.path_info)
                }
            }
            Decision::File { path } => self.site_rel(path),
            Decision::Listing { dir } => format!("{}/", self.site_rel(dir)),
            Decision::Redirect { location, .. } => format!("to {location}"),
            Decision::Options => "OPTIONS answered by IIS".into(),
            Decision::Abort => "connection closed without a response (AbortRequest)".into(),
            Decision::Error(e) if let Some(f) = self.error_pages_fault(e) => f.detail.clone(),
            Decision::Error(e) => e.detail.clone(),
        }
    }

    /// The 500.19 serve sends instead of the error `e` when IIS cannot read the folder's
    /// `<httpErrors>` (IISN1011).
    fn error_pages_fault(&self, e: &IisError) -> Option<&IisError> {
        let fault = self.routed.config.error_pages_fault.as_ref()?;
        (e.status >= 400).then_some(fault)
    }

    fn rewritten_url(&self) -> Option<String> {
        if !self.routed.rewritten {
            return None;
        }
        let mut u = self.routed.url.clone();
        if let Some(qs) = self.routed.query.as_deref().filter(|q| !q.is_empty()) {
            u.push('?');
            u.push_str(qs);
        }
        Some(u)
    }

    fn steps(&self) -> Vec<Rendered> {
        let mut out: Vec<Rendered> = self.trace.steps.iter().map(|s| self.step(s)).collect();
        if let Some(d) = self.app_answer() {
            let (stage, text, json) = match d {
                AppAnswer::DebuggerRedirect(location) => (
                    "debugger",
                    format!(
                        "a debugger URL without its slash (debuggingEnabled): 301 to {location}"
                    ),
                    json!({"stage": "debugger", "redirect": location}),
                ),
                AppAnswer::DebuggerCommand(c) => (
                    "debugger",
                    format!(
                        "a debugger URL (debuggingEnabled): iisnode's debugger answers `{c}`, node does not see it"
                    ),
                    json!({"stage": "debugger", "command": c}),
                ),
                AppAnswer::Error {
                    status,
                    substatus,
                    detail,
                } => (
                    "iisnode",
                    if substatus == 0 {
                        format!("{status}: {detail}")
                    } else {
                        format!("{status}.{substatus}: {detail}")
                    },
                    json!({"stage": "iisnode", "status": status, "substatus": substatus, "detail": detail}),
                ),
            };
            out.push(Rendered {
                stage,
                text: vec![text],
                json,
            });
        }
        if let Decision::Error(e) = &self.routed.decision {
            out.push(self.error_page(e));
        }
        out
    }

    fn step(&self, s: &Step) -> Rendered {
        match s {
            Step::Url { error } => Rendered {
                stage: "filter",
                text: vec![format!(
                    "the URL is refused before filtering: {}.{} {}",
                    error.status, error.substatus, error.detail
                )],
                json: json!({"stage": "filter", "check": "url", "passed": false,
                    "status": error.status, "substatus": error.substatus, "detail": error.detail}),
            },
            Step::Filter {
                site_path,
                rewritten,
                config,
                denied,
                exempt,
            } => {
                let mut r = self.filter_step(site_path, *rewritten, config, denied.as_ref());
                if !exempt.is_empty() {
                    r.text.extend(exempt.iter().map(|x| format!("  {x}")));
                    r.json["exempt"] = json!(exempt);
                }
                r
            }
            Step::Rule(r) => self.rule_step(r),
            Step::Handler {
                site_path,
                config,
                choice,
            } => self.handler_step(site_path, config, choice),
            Step::Static {
                site_path,
                found,
                physical,
            } => {
                let rel = self.site_rel(physical);
                let text = match *found {
                    "file" => format!("{site_path} is the file {rel}"),
                    "folder" => format!("{site_path} is the folder {rel}/"),
                    "missing" => format!("{site_path}: nothing at {rel}"),
                    _ => format!("{site_path}: {rel} is not served (hidden)"),
                };
                Rendered {
                    stage: "static",
                    text: vec![text],
                    json: json!({"stage": "static", "url": site_path, "found": found, "path": rel}),
                }
            }
            Step::DefaultDocument {
                folder,
                config,
                chosen,
            } => {
                let mut tried = Vec::new();
                let mut at = None;
                for e in &config.eff.default_documents {
                    let name = e.item.value.value.trim();
                    tried.push(name.to_string());
                    if chosen
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(name))
                    {
                        at = Some(self.loc(e.item.span));
                        break;
                    }
                }
                let text = match chosen {
                    Some(c) => format!(
                        "{folder}: {c} (tried {}){}",
                        tried.join(", "),
                        at.as_deref()
                            .map(|l| format!(", listed at {l}"))
                            .unwrap_or_default()
                    ),
                    None => format!("{folder}: none of {} exists", tried.join(", ")),
                };
                Rendered {
                    stage: "default-document",
                    text: vec![text],
                    json: json!({"stage": "default-document", "folder": folder, "tried": tried,
                        "chosen": chosen, "config": at}),
                }
            }
        }
    }

    fn filter_step(
        &self,
        site_path: &str,
        rewritten: bool,
        config: &FolderConfig,
        denied: Option<&IisError>,
    ) -> Rendered {
        let which = if rewritten {
            "the rewritten URL"
        } else {
            "the request"
        };
        let Some(e) = denied else {
            return Rendered {
                stage: "filter",
                text: vec![format!("{which} {site_path} passes request filtering")],
                json: json!({"stage": "filter", "url": site_path, "rewritten": rewritten, "passed": true}),
            };
        };
        let (check, setting) = match (e.status, e.substatus) {
            (404, 14) => ("maxUrl", "requestLimits maxUrl"),
            (404, 15) => ("maxQueryString", "requestLimits maxQueryString"),
            (413, 1) => (
                "maxAllowedContentLength",
                "requestLimits maxAllowedContentLength",
            ),
            (404, 11) => ("doubleEscaping", "requestFiltering allowDoubleEscaping"),
            (404, 12) => (
                "highBitCharacters",
                "requestFiltering allowHighBitCharacters",
            ),
            (404, 8) => ("hiddenSegments", "hiddenSegments"),
            (404, 7) => ("fileExtensions", "fileExtensions"),
            (404, 6) => ("verbs", "verbs"),
            (404, 5) => ("denyUrlSequences", "denyUrlSequences"),
            (404, 18) => ("denyQueryStringSequences", "denyQueryStringSequences"),
            (431, 0) => ("headerLimits", "requestLimits headerLimits"),
            (404, 19) => ("filteringRules", "filteringRules"),
            _ => ("filter", "requestFiltering"),
        };
        let at = if e.substatus == 19 {
            // The rule the denial names (`The filtering rule "NAME" denies ...`).
            config
                .eff
                .filtering_rules
                .iter()
                .find(|r| {
                    e.detail
                        .starts_with(&format!("The filtering rule \"{}\" ", r.item.name.value))
                })
                .map(|r| self.loc(r.item.span))
        } else {
            self.filter_setting(config, site_path, e.substatus)
        };
        let mut text = format!(
            "{which} {site_path} is denied: {}.{} by {setting}",
            e.status, e.substatus
        );
        if let Some(l) = &at {
            let _ = write!(text, " {}", paren(l));
        }
        Rendered {
            stage: "filter",
            text: vec![text, format!("  {}", e.detail)],
            json: json!({"stage": "filter", "url": site_path, "rewritten": rewritten, "passed": false,
                "check": check, "setting": setting, "config": at,
                "status": e.status, "substatus": e.substatus, "detail": e.detail}),
        }
    }

    /// Where the setting that denied a URL is written (`web.config:line:col`, or `(IIS
    /// defaults)` for the stock lists).
    fn filter_setting(&self, config: &FolderConfig, site_path: &str, sub: u32) -> Option<String> {
        let segs: Vec<&str> = site_path.split('/').filter(|s| !s.is_empty()).collect();
        match sub {
            8 => {
                if segs.iter().any(|s| {
                    super::filtering::ALWAYS_HIDDEN
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(s))
                }) {
                    return Some("always hidden by iisn".into());
                }
                config
                    .eff
                    .hidden_segments
                    .iter()
                    .find(|h| {
                        let seg = h.item.segment.value.trim();
                        segs.iter().any(|s| s.eq_ignore_ascii_case(seg))
                    })
                    .map(|h| self.loc(h.item.span))
            }
            7 => {
                let last = segs.last()?;
                let ext = last.rfind('.').map_or(".", |i| &last[i..]);
                config
                    .eff
                    .file_extensions
                    .iter()
                    .find(|e| {
                        let x = e.item.file_extension.value.trim();
                        x.trim_start_matches('.')
                            .eq_ignore_ascii_case(ext.trim_start_matches('.'))
                    })
                    .map(|e| self.loc(e.item.span))
            }
            _ => None,
        }
    }

    fn rule_step(&self, r: &RuleStep) -> Rendered {
        let rule = self
            .trace
            .rules_config
            .as_ref()
            .and_then(|c| c.eff.rules.get(r.index));
        let Some(rule) = rule else {
            return Rendered {
                stage: "rewrite",
                text: vec![format!("rule #{} (not found)", r.index + 1)],
                json: json!({"stage": "rewrite", "index": r.index}),
            };
        };
        let item = &rule.item;
        let name = item.name.value.as_str();
        let config = self.loc(item.span);
        let pattern = item
            .match_
            .as_ref()
            .and_then(|m| m.url.as_ref())
            .map(|u| u.value.clone());
        let negate = item.match_.as_ref().is_some_and(|m| m.negate);
        let mut text = vec![format!(
            "rule {} {} input {} {} {} → {}",
            q(name),
            paren(&config),
            q(&r.input),
            if negate { "negated pattern" } else { "pattern" },
            pattern
                .as_deref()
                .map_or("(none: matches everything)".into(), q),
            if r.matched { "matched" } else { "no match" }
        )];
        if r.matched && r.captures.len() > 1 {
            text.push(format!("  captures {}", caps("R", &r.captures)));
        }
        let mut conds = Vec::new();
        for c in &r.conditions {
            let Some(ci) = item.conditions.items.get(c.index) else {
                continue;
            };
            let kind = match ci.match_type {
                MatchType::Pattern => format!(
                    "matches {}",
                    ci.pattern.as_ref().map_or("(any)".into(), |p| q(&p.value))
                ),
                MatchType::IsFile => "IsFile".into(),
                MatchType::IsDirectory => "IsDirectory".into(),
            };
            text.push(format!(
                "  condition {} = {} {}{} → {}",
                ci.input.value,
                q(&c.expanded),
                if ci.negate { "not " } else { "" },
                kind,
                if c.passed { "true" } else { "false" }
            ));
            conds.push(json!({"input": ci.input.value, "expanded": c.expanded,
                "match_type": format!("{:?}", ci.match_type), "pattern": ci.pattern.as_ref().map(|p| p.value.clone()),
                "negate": ci.negate, "passed": c.passed, "config": self.loc(ci.span)}));
        }
        let passed = r.matched && r.conditions_passed != Some(false);
        if r.conditions_passed == Some(false) {
            text.push("  conditions not met: the rule does not apply".into());
        } else if r.conditions_passed == Some(true) && r.condition_captures.len() > 1 {
            text.push(format!("  captures {}", caps("C", &r.condition_captures)));
        }
        let action_json = r.action.as_ref().map(|a| match a {
            ActionTrace::None => json!({"type": "None"}),
            ActionTrace::Rewrite { url } => json!({"type": "Rewrite", "url": url}),
            ActionTrace::Redirect { status, location } => {
                json!({"type": "Redirect", "status": status, "location": location})
            }
            ActionTrace::CustomResponse { status, substatus } => {
                json!({"type": "CustomResponse", "status": status, "substatus": substatus})
            }
            ActionTrace::Abort => json!({"type": "AbortRequest"}),
            ActionTrace::Error { why } => json!({"type": "Error", "error": why}),
        });
        if let Some(a) = &r.action {
            let tmpl = item
                .action
                .as_ref()
                .and_then(|a| a.url.as_ref())
                .map(|u| q(&u.value))
                .unwrap_or_default();
            text.push(match a {
                ActionTrace::None => "  action None: the URL stays as it is".into(),
                ActionTrace::Rewrite { url } => format!("  action Rewrite {tmpl} → {url}"),
                ActionTrace::Redirect { status, location } => {
                    format!("  action Redirect {tmpl} → {status} to {location}")
                }
                ActionTrace::CustomResponse { status, substatus } => {
                    format!("  action CustomResponse → {status}.{substatus}")
                }
                ActionTrace::Abort => "  action AbortRequest → the connection is closed".into(),
                ActionTrace::Error { why } => format!("  the rule cannot run: {why}"),
            });
            if item.stop_processing && matches!(a, ActionTrace::None | ActionTrace::Rewrite { .. })
            {
                text.push("  stopProcessing: no further rules".into());
            }
        }
        Rendered {
            stage: "rewrite",
            text,
            json: json!({"stage": "rewrite", "name": name, "config": config, "input": r.input,
                "pattern": pattern, "negate": negate, "matched": passed, "pattern_matched": r.matched,
                "captures": r.captures, "conditions": conds, "conditions_passed": r.conditions_passed,
                "condition_captures": r.condition_captures, "action": action_json,
                "stop_processing": item.stop_processing}),
        }
    }

    fn handler_step(&self, site_path: &str, config: &FolderConfig, c: &HandlerTrace) -> Rendered {
        let find = |pred: &dyn Fn(&Entry<HandlerEntry>) -> bool| {
            config
                .eff
                .handlers
                .iter()
                .find(|h| pred(h))
                .map(|h| (h.item.name.value.clone(), self.loc(h.item.span)))
        };
        let (kind, entry, script, path_info) = match c {
            HandlerTrace::Iisnode {
                config: hc,
                index,
                script_rel,
                path_info,
            } => (
                "iisnode",
                hc.eff
                    .handlers
                    .get(*index)
                    .map(|h| (h.item.name.value.clone(), self.loc(h.item.span))),
                Some(script_rel.clone()),
                Some(path_info.clone()),
            ),
            HandlerTrace::Static { name } => (
                "StaticFile",
                find(&|h| h.item.name.value == *name),
                None,
                None,
            ),
            HandlerTrace::Options => ("OPTIONS", None, None, None),
            HandlerTrace::Trace => ("TRACE", None, None, None),
            HandlerTrace::NotEmulated { name } => (
                "not-emulated",
                find(&|h| h.item.name.value == *name),
                None,
                None,
            ),
            HandlerTrace::ResourceMissing { name } => (
                "resource-missing",
                find(&|h| h.item.name.value == *name),
                None,
                None,
            ),
            HandlerTrace::None => ("none", None, None, None),
        };
        let mut text = format!("{site_path} → {kind}");
        if let Some((name, at)) = &entry {
            match at.strip_prefix('(').and_then(|a| a.strip_suffix(')')) {
                Some(builtin) => {
                    let _ = write!(text, " (handler {}, {builtin})", q(name));
                }
                None => {
                    let _ = write!(text, " (handler {} at {at})", q(name));
                }
            }
        }
        if let Some(s) = &script {
            let _ = write!(text, ": script {s}");
        }
        if let Some(pi) = path_info.as_ref().filter(|p| !p.is_empty()) {
            let _ = write!(text, ", PATH_INFO {pi}");
        }
        Rendered {
            stage: "handler",
            text: vec![text],
            json: json!({"stage": "handler", "url": site_path, "handler": kind,
                "name": entry.as_ref().map(|e| e.0.clone()), "config": entry.as_ref().map(|e| e.1.clone()),
                "script": script, "path_info": path_info}),
        }
    }

    fn error_page(&self, e: &IisError) -> Rendered {
        // The cases where no page of the site's applies: one line, no configuration entry.
        let plain =
            |text: String, answered: u16, page: &str, module: &str, detail: &str| Rendered {
                stage: "error-page",
                text: vec![format!("{}.{}: {text}", e.status, e.substatus)],
                json: json!({"stage": "error-page", "status": e.status, "substatus": e.substatus,
                "answered": answered, "page": page, "module": module, "detail": detail,
                "config": Value::Null}),
            };
        if let Some(f) = self.error_pages_fault(e) {
            let why = f.config.as_ref().map_or("", |c| c.message.as_str());
            return plain(
                format!(
                    "IIS cannot read <httpErrors> here, so this error response becomes 500.19: {why}"
                ),
                f.status,
                "config-error",
                f.module,
                why,
            );
        }
        if errors::passes_through(&self.routed.config, e) {
            return plain(
                "no page: with httpErrors existingResponse=\"PassThrough\" IIS sends its own error responses without a body".into(),
                e.status,
                "none",
                e.module,
                &e.detail,
            );
        }
        let he = &self.routed.config.eff.http_errors;
        let detailed = errors::shows_detailed(&self.routed.config, self.local);
        let custom = errors::find_entry(&self.routed.config, e.status, e.substatus);
        // `answered`: the status the client gets, as `iisn serve` answers: the error's, but a
        // Redirect page's 302 and an ExecuteURL static page's 200 (IIS's child request).
        let (page, answered, text) = if detailed {
            (
                "detailed",
                e.status,
                format!(
                    "{}.{}: IIS's detailed error page (errorMode {:?}, a local client)",
                    e.status, e.substatus, he.error_mode
                ),
            )
        } else {
            let at = custom
                .map(|c| c.item.span)
                .or_else(|| he.default_path.as_ref().map(|p| p.span))
                .map(|span| self.loc(span))
                .unwrap_or_default();
            let code = format!("{}.{}", e.status, e.substatus);
            match errors::custom_target(self.pipeline, &self.routed.config, e.status, e.substatus) {
                Some(errors::CustomTarget::Redirect(to)) => (
                    "custom",
                    302,
                    format!("{code}: the custom error page of {at}: a 302 redirect to {to}"),
                ),
                Some(errors::CustomTarget::File(file, _)) => (
                    "custom",
                    e.status,
                    format!(
                        "{code}: the custom error page of {at}: {}",
                        self.site_rel(&file)
                    ),
                ),
                Some(errors::CustomTarget::ExecutedFile(file, _)) => (
                    "custom",
                    200,
                    format!(
                        "{code}: the custom error page of {at}: {}, answered 200 (responseMode ExecuteURL runs it as a child request, whose status is the answer's; responseMode=\"File\" keeps {})",
                        self.site_rel(&file),
                        e.status
                    ),
                ),
                Some(errors::CustomTarget::NotRun { url, script }) => (
                    "iis",
                    e.status,
                    format!(
                        "{code}: IIS's short error page: the custom error page of {at} is {url}, which IIS runs with node ({script}, responseMode ExecuteURL) and iisn does not"
                    ),
                ),
                Some(errors::CustomTarget::Refused) => (
                    "iis",
                    e.status,
                    format!(
                        "{code}: IIS's short error page: the custom error page of {at} is not a file iisn may send as a static file"
                    ),
                ),
                None => ("iis", e.status, format!("{code}: IIS's short error page")),
            }
        };
        Rendered {
            stage: "error-page",
            text: vec![text],
            json: json!({"stage": "error-page", "status": e.status, "substatus": e.substatus,
                "answered": answered, "page": page, "module": e.module, "detail": e.detail,
                "config": custom.map(|c| self.loc(c.item.span))}),
        }
    }

    /// The JSON object of docs/route-json.md.
    pub fn to_json(&self) -> Value {
        let (outcome, status, substatus) = self.outcome();
        let steps = self.steps();
        let rules: Vec<Value> = steps
            .iter()
            .filter(|s| s.stage == "rewrite")
            .map(|s| {
                let j = &s.json;
                let mut o = json!({"name": j["name"], "config": j["config"], "input": j["input"],
                    "matched": j["matched"]});
                if j["matched"] == Value::Bool(true) && !j["action"].is_null() {
                    o["action"] = j["action"].clone();
                }
                o
            })
            .collect();
        let (app, file, location) = match &self.routed.decision {
            Decision::App(a) => (
                json!({"script": a.script_rel, "path_info": a.path_info}),
                Value::Null,
                Value::Null,
            ),
            Decision::File { path } => (Value::Null, json!(self.site_rel(path)), Value::Null),
            Decision::Listing { dir } => (Value::Null, json!(self.site_rel(dir)), Value::Null),
            Decision::Redirect { location, .. } => (Value::Null, Value::Null, json!(location)),
            _ => (Value::Null, Value::Null, Value::Null),
        };
        let (location, detail) = match (self.app_answer(), &self.routed.decision) {
            (Some(AppAnswer::DebuggerRedirect(l)), _) => (json!(l), None),
            (Some(AppAnswer::Error { detail, .. }), _) => (location, Some(detail)),
            (_, Decision::Error(e)) => (location, Some(e.detail.clone())),
            _ => (location, None),
        };
        json!({
            "url": self.url,
            "method": self.method,
            "outcome": outcome,
            "status": status,
            "substatus": substatus,
            "app": app,
            "file": file,
            "location": location,
            "rewritten_url": self.rewritten_url(),
            "final_url": self.routed.url,
            "detail": detail,
            "rules": rules,
            "steps": steps.into_iter().map(|s| s.json).collect::<Vec<_>>(),
        })
    }

    /// The human trace: a heading line, one block per step, the outcome.
    pub fn to_lines(&self) -> Vec<String> {
        let mut out = vec![format!("{} {}", self.method, self.url)];
        for s in self.steps() {
            let mut first = true;
            for t in s.text {
                if first {
                    out.push(format!("  {:<16} {t}", s.stage));
                    first = false;
                } else {
                    out.push(format!("  {:<16} {t}", ""));
                }
            }
        }
        let (outcome, status, substatus) = self.outcome();
        let code = match status {
            Some(s) if substatus > 0 => format!("{s}.{substatus}"),
            Some(s) => s.to_string(),
            None => "no response".into(),
        };
        let target = format!(": {}", self.target());
        out.push(format!("  → {outcome} {code}{target}"));
        out
    }
}

/// `(web.config:3:5)`; `(IIS defaults)` stays as it is.
fn paren(l: &str) -> String {
    if l.starts_with('(') {
        l.to_string()
    } else {
        format!("({l})")
    }
}

fn caps(kind: &str, c: &[Option<String>]) -> String {
    c.iter()
        .enumerate()
        .map(|(i, v)| format!("{{{kind}:{i}}}={}", q(v.as_deref().unwrap_or(""))))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use http::{HeaderMap, HeaderValue, Method};
    use proptest::prelude::*;

    use super::*;
    use crate::config::env::Environment;
    use crate::config::{LoadOptions, load_site};
    use crate::serve::pipeline::RequestHead;

    fn pipeline(dir: &Path) -> Pipeline {
        let opts = LoadOptions {
            env: Environment::from_pairs(Vec::<(String, String)>::new()),
            cpu_count: 1,
        };
        Pipeline::new(Arc::new(load_site(dir, &opts).expect("site loads")))
    }

    fn kudu() -> Pipeline {
        pipeline(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kudu"))
    }

    fn head(target: &str) -> RequestHead {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, HeaderValue::from_static("localhost"));
        RequestHead {
            method: Method::GET,
            target: target.to_string(),
            headers,
            remote: SocketAddr::from(([127, 0, 0, 1], 50000)),
            local_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            auth: None,
        }
    }

    /// The decision with and without a recorder, as comparable text.
    fn both(p: &Pipeline, target: &str) -> (String, String, Trace) {
        let h = head(target);
        let off = p.decide(&h, None);
        let mut t = Trace::new();
        let on = p.decide_traced(&h, None, Some(&mut t));
        let show = |r: &Routed| {
            format!(
                "{:?} {} {} {:?} {:?}",
                r.decision, r.url, r.rewritten, r.query, r.set_headers
            )
        };
        (show(&off), show(&on), t)
    }

    #[test]
    fn rec_without_a_trace_runs_nothing() {
        rec(&mut None, |_| panic!("recorded without a trace"));
        let mut t = Trace::new();
        rec(&mut Some(&mut t), |t| {
            t.ended_by = Some(ActionType::AbortRequest)
        });
        assert_eq!(t.ended_by, Some(ActionType::AbortRequest));
    }

    #[test]
    fn kudu_steps_in_order() {
        let p = kudu();
        let (off, on, t) = both(&p, "/about.html");
        assert_eq!(off, on);
        let kinds: Vec<&str> = t
            .steps
            .iter()
            .map(|s| match s {
                Step::Url { .. } => "url",
                Step::Filter { .. } => "filter",
                Step::Rule(_) => "rule",
                Step::Handler { .. } => "handler",
                Step::Static { .. } => "static",
                Step::DefaultDocument { .. } => "default-document",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "filter", "rule", "rule", "rule", "filter", "handler", "static"
            ]
        );
        let Step::Rule(dynamic) = &t.steps[3] else {
            panic!("a rule step")
        };
        assert!(dynamic.matched);
        assert_eq!(dynamic.input, "public/about.html");
        assert_eq!(dynamic.conditions_passed, Some(false));
        assert_eq!(dynamic.conditions.len(), 1);
        assert!(
            dynamic.conditions[0]
                .expanded
                .ends_with("public/about.html")
        );
        assert!(!dynamic.conditions[0].passed);
        assert!(dynamic.action.is_none());
    }

    #[test]
    fn report_outcomes_and_rule_locations() {
        let p = kudu();
        let h = head("/web.config");
        let mut t = Trace::new();
        let routed = p.decide_traced(&h, None, Some(&mut t));
        let report = Report {
            pipeline: &p,
            method: "GET",
            url: "/web.config",
            routed: &routed,
            trace: &t,
            local: true,
        };
        assert_eq!(report.outcome(), ("error", Some(404), 8));
        let j = report.to_json();
        assert_eq!(j["steps"][0]["check"], "hiddenSegments");
        assert_eq!(j["steps"][0]["config"], "(IIS defaults)");

        let h = head("/x/y");
        let mut t = Trace::new();
        let routed = p.decide_traced(&h, None, Some(&mut t));
        let report = Report {
            pipeline: &p,
            method: "GET",
            url: "/x/y",
            routed: &routed,
            trace: &t,
            local: true,
        };
        let j = report.to_json();
        assert_eq!(j["outcome"], "app");
        assert_eq!(j["rules"][2]["name"], "DynamicContent");
        assert_eq!(j["rules"][2]["config"], "web.config:22:10");
        assert_eq!(j["rules"][2]["action"]["url"], "/server.js");
        let text = report.to_lines().join("\n");
        assert!(text.contains("→ app 200: server.js"), "{text}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Recording never changes a decision, and rendering never panics, whatever the URL.
        #[test]
        fn recording_never_changes_the_decision(
            path in "(/[a-zA-Z0-9._%~+-]{0,12}){0,4}/?",
            query in proptest::option::of("[a-z0-9=&%]{0,10}"),
        ) {
            let p = kudu();
            let target = match &query {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            let target = if target.starts_with('/') { target } else { format!("/{target}") };
            let (off, on, t) = both(&p, &target);
            prop_assert_eq!(off, on);
            let h = head(&target);
            let routed = p.decide(&h, None);
            let report = Report { pipeline: &p, method: "GET", url: &target, routed: &routed, trace: &t, local: false };
            let _ = report.to_json();
            let _ = report.to_lines();
        }
    }
}
