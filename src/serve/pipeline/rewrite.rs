//! IIS URL Rewrite, inbound rules: compiled once per configuration load, evaluated per
//! request.
//!
//! What is reproduced (iis-webconfig.md §1, the MUST and SHOULD lists of §7):
//!
//! * the effective rule list of the request's folder, parent levels first; each rule sees the
//!   *current* URL (after earlier rules), relative to the folder of the web.config that
//!   defined it (also for a rule inside `<location path>`, as observed on IIS 10), without a
//!   leading slash and without the query string. A rule whose
//!   folder the current URL is no longer under is skipped (inferred);
//! * `enabled`, `stopProcessing`, `patternSyntax` (ECMAScript, Wildcard, ExactMatch, applied to
//!   the match and every condition of the rule, compiled by [`crate::rewrite::pattern`]),
//!   `<match url ignoreCase negate>` and rules without `<match>` (they match everything: the
//!   Kudu template depends on it);
//! * `<conditions logicalGrouping trackAllCaptures>` with `matchType` Pattern, IsFile,
//!   IsDirectory and `negate`; IsFile/IsDirectory look at the expanded input as a physical
//!   path (the current URL's when the input is empty; `\` separates names, as on Windows)
//!   and only inside the site;
//! * substitutions: `{R:n}`, `{C:n}` (last matched condition, or all of them in order with
//!   `trackAllCaptures`), server variables (`{REQUEST_FILENAME}`, `{REQUEST_URI}`,
//!   `{QUERY_STRING}`, `{HTTP_HOST}`, `{HTTPS}`, `{HTTP_*}`, ... through
//!   [`crate::serve::server_vars`]), `{ToLower:..}`, `{UrlEncode:..}`, `{UrlDecode:..}`,
//!   `{HtmlEncode:..}` and rewrite maps `{Map:key}` (`defaultValue` when the key is missing);
//!   unknown names and missing groups expand to the empty string;
//! * `<serverVariables><set>`: `HTTP_*` names set a request header for node (`HTTP_X_FOO` →
//!   `x-foo`), others are visible to later rules; `replace="false"` leaves a variable that
//!   already has a value (`REMOTE_ADDR`, a header) alone. iisn accepts every name (IIS requires an
//!   `allowedServerVariables` list in applicationHost.config, which iisn does not have);
//! * actions: Rewrite (relative to the rule's folder, or `/`-absolute — absolute paths are
//!   server paths, so with `--app-path` they must start with the prefix; backslashes are
//!   slashes; the substitution is decoded once; `appendQueryString`), Redirect (301, 302,
//!   303, 307; relative targets resolved against the rule's folder; `appendQueryString`
//!   re-attaches the original query), CustomResponse (status, sub-status, reason,
//!   description), AbortRequest, None.
//!
//! Which server variables follow a rewrite (inferred from IIS behaviour, see
//! iis-webconfig.md §1.5 and §4.2): `URL`, `PATH_INFO`, `SCRIPT_NAME`, `QUERY_STRING` and the
//! physical-path variables (`REQUEST_FILENAME`, ...) describe the current URL;
//! `REQUEST_URI`, `HTTP_URL` and `UNENCODED_URL` stay the original request target;
//! `HTTP_X_ORIGINAL_URL` is the original target once a rule has rewritten.
//!
//! Errors IIS reports as 500.50 (a pattern that does not compile, a `{Name:...}` naming
//! neither a string function nor a rewrite map) are 500.50 here too, when a request reaches
//! the rule. A Rewrite to `http://...` needs Application Request Routing, a reverse proxy
//! iisn does not emulate: IIS without it answers 404.4 (no handler), and so does iisn. Evaluation never panics, and it is bounded: patterns refuse inputs over 4096 bytes and
//! the whole evaluation runs under [`super::budget`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::model::EffectiveConfig;
use crate::config::web_config::{ActionType, LogicalGrouping, MatchType, PatternSyntax};
use crate::rewrite::pattern::{self, Pattern};
use crate::serve::pages::escape_html;
use crate::serve::router::percent_decode;
use crate::serve::server_vars::RequestInfo;

use super::budget::{Progress, RUNAWAY_LIMIT};
use super::errors::IisError;
use super::trace::{ActionTrace, Trace, rec};
use super::{RequestHead, location_safe, normalize_path_owned, strip_prefix_ci};

// ---------------------------------------------------------------------------------------
// Templates: `{...}` expressions in inputs, substitutions and map keys
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    ToLower,
    UrlEncode,
    UrlDecode,
    HtmlEncode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    /// A server variable, upper-cased.
    Var(String),
    R(usize),
    C(usize),
    Func(Func, Template),
    Map(usize, Template),
    /// `{Name:...}` naming neither a function nor a map (the name as written): URL Rewrite
    /// cannot expand it, and a rule holding one answers 500.50 when it runs.
    Unknown(String, Template),
}

/// A parsed substitution string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

/// The index of the `}` closing the `{` at `start`.
fn matching_brace(s: &str, start: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in s.bytes().enumerate().skip(start) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

impl Template {
    /// Parses `text`; `maps` are the rewrite-map names in scope (lower-cased).
    fn parse(text: &str, maps: &[String]) -> Template {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            if rest.starts_with('{')
                && let Some(end) = matching_brace(text, i)
            {
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Self::expr(&text[i + 1..end], maps));
                i = end + 1;
                continue;
            }
            let Some(c) = rest.chars().next() else { break };
            lit.push(c);
            i += c.len_utf8();
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Template(pieces)
    }

    fn expr(inner: &str, maps: &[String]) -> Piece {
        let Some((name, arg)) = inner.split_once(':') else {
            return Piece::Var(inner.trim().to_ascii_uppercase());
        };
        let name = name.trim();
        let n = arg.trim().parse::<usize>();
        if name.eq_ignore_ascii_case("R")
            && let Ok(n) = n
        {
            return Piece::R(n);
        }
        if name.eq_ignore_ascii_case("C")
            && let Ok(n) = n
        {
            return Piece::C(n);
        }
        let func = match name.to_ascii_lowercase().as_str() {
            "tolower" => Some(Func::ToLower),
            "urlencode" => Some(Func::UrlEncode),
            "urldecode" => Some(Func::UrlDecode),
            "htmlencode" => Some(Func::HtmlEncode),
            _ => None,
        };
        let arg = Self::parse(arg, maps);
        if let Some(f) = func {
            return Piece::Func(f, arg);
        }
        match maps.iter().position(|m| m.eq_ignore_ascii_case(name)) {
            Some(i) => Piece::Map(i, arg),
            None => Piece::Unknown(name.to_string(), arg),
        }
    }
}

impl Template {
    /// A template with the rewrite maps `maps` (their names) in scope (outbound rules).
    pub(super) fn with_maps(text: &str, maps: &[String]) -> Template {
        Self::parse(text, maps)
    }

    /// Expands with `var` for server variables, the given back-references and `maps` (the
    /// maps the template was parsed with).
    pub(super) fn expand_with(
        &self,
        var: &dyn Fn(&str) -> String,
        r: &[Option<String>],
        c: &[Option<String>],
        maps: &[CompiledMap],
    ) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(name) => out.push_str(&var(name)),
                Piece::R(n) => out.push_str(r.get(*n).and_then(|x| x.as_deref()).unwrap_or("")),
                Piece::C(n) => out.push_str(c.get(*n).and_then(|x| x.as_deref()).unwrap_or("")),
                Piece::Func(f, arg) => {
                    let v = arg.expand_with(var, r, c, maps);
                    out.push_str(&match f {
                        Func::ToLower => v.to_lowercase(),
                        Func::UrlEncode => url_encode(&v),
                        Func::UrlDecode => url_decode(&v),
                        Func::HtmlEncode => escape_html(&v),
                    });
                }
                Piece::Map(i, arg) => {
                    if let Some(m) = maps.get(*i) {
                        out.push_str(m.lookup(arg.expand_with(var, r, c, maps)));
                    }
                }
                Piece::Unknown(..) => {}
            }
        }
        out
    }

    /// The first `{Name:...}` naming neither a function nor a map, nested ones included.
    fn unknown_name(&self) -> Option<&str> {
        self.0.iter().find_map(|p| match p {
            Piece::Unknown(name, _) => Some(name.as_str()),
            Piece::Func(_, arg) | Piece::Map(_, arg) => arg.unknown_name(),
            Piece::Lit(_) | Piece::Var(_) | Piece::R(_) | Piece::C(_) => None,
        })
    }
}

/// Server variables whose value is a function of the method, the request target, the
/// current URL and the configuration (`HTTPS` is always `off` in iisn): a rule set that
/// reads no others decides the same way for the same request line and file system.
const PURE_VARS: &[&str] = &[
    "URL",
    "PATH_INFO",
    "SCRIPT_NAME",
    "URL_PATH_INFO",
    "QUERY_STRING",
    "REQUEST_FILENAME",
    "SCRIPT_FILENAME",
    "PATH_TRANSLATED",
    "SCRIPT_TRANSLATED",
    "REQUEST_URI",
    "HTTP_URL",
    "UNENCODED_URL",
    "DOCUMENT_ROOT",
    "REQUEST_METHOD",
    "HTTPS",
    "SERVER_PORT_SECURE",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "GATEWAY_INTERFACE",
    "APPL_PHYSICAL_PATH",
    "APPL_MD_PATH",
    "INSTANCE_ID",
];

impl Template {
    /// Whether the template reads only [`PURE_VARS`].
    fn is_pure(&self) -> bool {
        self.0.iter().all(|p| match p {
            Piece::Var(name) => PURE_VARS.contains(&name.as_str()),
            Piece::Func(_, arg) | Piece::Map(_, arg) => arg.is_pure(),
            Piece::Lit(_) | Piece::R(_) | Piece::C(_) | Piece::Unknown(..) => true,
        })
    }
}

/// URL Rewrite's `UrlEncode`: `%XX` (upper-case hex) for what is not unreserved, with a
/// space left as it is (observed on IIS 10, UR36: `{UrlEncode:x y/z}` is `x y%2Fz`, not
/// `HttpUtility.UrlEncode`'s `x+y%2fz`).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'*'
            | b'('
            | b')' => out.push(b as char),
            b' ' => out.push(' '),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `+` → space and `%XX` decoded; invalid escapes stay as written.
fn url_decode(s: &str) -> String {
    crate::serve::router::decode_lossy(s, true)
}

// ---------------------------------------------------------------------------------------
// Compiled rules
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub(super) struct CompiledMap {
    default: String,
    ignore_case: bool,
    /// Keys lower-cased when the map ignores case.
    entries: HashMap<String, String>,
}

impl CompiledMap {
    /// The value for `key`, or the map's `defaultValue`.
    fn lookup(&self, key: String) -> &str {
        let k = if self.ignore_case {
            key.to_lowercase()
        } else {
            key
        };
        self.entries.get(&k).unwrap_or(&self.default)
    }
}

#[derive(Debug)]
struct CompiledCondition {
    input: Template,
    match_type: MatchType,
    /// `None`: no pattern, matches anything.
    pattern: Result<Option<Pattern>, String>,
    negate: bool,
}

#[derive(Debug)]
enum Action {
    None,
    Rewrite {
        url: Template,
        append_query: bool,
    },
    Redirect {
        url: Template,
        append_query: bool,
        status: u16,
    },
    Custom {
        status: Option<u64>,
        substatus: u64,
        reason: Option<Template>,
        description: Option<Template>,
    },
    Abort,
    /// An action iisn cannot carry out, with the reason (500.50 when reached).
    Broken(String),
}

#[derive(Debug)]
struct CompiledRule {
    name: String,
    /// The folder the rule's input is relative to (site-relative, no slashes at the ends).
    level: String,
    enabled: bool,
    stop: bool,
    /// `None`: no `<match url>`, matches everything.
    pattern: Result<Option<Pattern>, String>,
    negate: bool,
    grouping: LogicalGrouping,
    track_all: bool,
    conditions: Vec<CompiledCondition>,
    set_vars: Vec<(String, Template, bool)>,
    action: Action,
    /// A `{Name:...}` in the rule naming neither a function nor a map: URL Rewrite cannot
    /// expand the rule, so it answers 500.50 whenever the rule runs.
    unknown_function: Option<String>,
    /// Matches of this rule that overran the budget and are still running.
    runaway: AtomicUsize,
    /// The shortest input among them (`usize::MAX` when none runs).
    runaway_min_len: AtomicUsize,
}

impl CompiledRule {
    fn find_unknown_function(&self) -> Option<&str> {
        let action: Vec<&Template> = match &self.action {
            Action::Rewrite { url, .. } | Action::Redirect { url, .. } => vec![url],
            Action::Custom {
                reason,
                description,
                ..
            } => reason.iter().chain(description).collect(),
            Action::None | Action::Abort | Action::Broken(_) => Vec::new(),
        };
        self.conditions
            .iter()
            .map(|c| &c.input)
            .chain(self.set_vars.iter().map(|(_, t, _)| t))
            .chain(action)
            .find_map(Template::unknown_name)
    }

    /// Whether the rule decides from the request line, the configuration and file tests
    /// alone: no `<serverVariables>`, and every template reads only [`PURE_VARS`].
    fn is_pure(&self) -> bool {
        let action = match &self.action {
            Action::Rewrite { url, .. } | Action::Redirect { url, .. } => url.is_pure(),
            Action::Custom {
                reason,
                description,
                ..
            } => reason.iter().chain(description).all(Template::is_pure),
            Action::None | Action::Abort | Action::Broken(_) => true,
        };
        action && self.set_vars.is_empty() && self.conditions.iter().all(|c| c.input.is_pure())
    }

    /// Whether a request with an input of `len` bytes should fail at once rather than start
    /// another match that may run away (see [`super::budget`]).
    fn overloaded(&self, len: usize) -> bool {
        let n = self.runaway.load(Ordering::Acquire);
        n >= RUNAWAY_LIMIT || (n > 0 && len >= self.runaway_min_len.load(Ordering::Acquire) / 2)
    }
}

/// The rules that apply to one folder, ready to run.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    maps: Vec<CompiledMap>,
    any_enabled: bool,
    /// No pattern can backtrack for long: the rules run on the request's own thread
    /// ([`super::budget::can_run_inline`]).
    inline: bool,
    /// Inline, and every enabled rule [`CompiledRule::is_pure`]: a decision through these
    /// rules can be remembered ([`super::memo`]) as long as its file tests give the same
    /// answers.
    memoizable: bool,
}

fn compile_opt(
    syntax: PatternSyntax,
    text: Option<&str>,
    ignore_case: bool,
) -> Result<Option<Pattern>, String> {
    match text {
        None => Ok(None),
        Some(t) => pattern::compile(syntax, t, ignore_case)
            .map(Some)
            .map_err(|e| match e.hint {
                Some(h) => format!("{}; {h}", e.message),
                None => e.message,
            }),
    }
}

/// The effective `<rewriteMaps>` of a folder: their names (for parsing `{Name:key}`) and
/// their entries. Inbound and outbound rules share them, as in URL Rewrite.
pub(super) fn compile_maps(eff: &EffectiveConfig) -> (Vec<String>, Vec<CompiledMap>) {
    let map_names: Vec<String> = eff
        .rewrite_maps
        .iter()
        .map(|m| m.item.name.value.trim().to_string())
        .collect();
    let maps = eff
        .rewrite_maps
        .iter()
        .map(|m| {
            let ignore_case = m.item.ignore_case;
            let mut entries = HashMap::new();
            for op in &m.item.entries.ops {
                use crate::config::web_config::CollectionOp;
                match op {
                    CollectionOp::Add(e) => {
                        let k = if ignore_case {
                            e.key.value.to_lowercase()
                        } else {
                            e.key.value.clone()
                        };
                        entries.entry(k).or_insert_with(|| e.value.value.clone());
                    }
                    CollectionOp::Remove(k) => {
                        let k = if ignore_case {
                            k.value.to_lowercase()
                        } else {
                            k.value.clone()
                        };
                        entries.remove(&k);
                    }
                    CollectionOp::Clear(_) => entries.clear(),
                }
            }
            CompiledMap {
                default: m.item.default_value.clone(),
                ignore_case,
                entries,
            }
        })
        .collect();
    (map_names, maps)
}

/// The `{R:n}` captures of a rule's `<match>` on `input`, or `None` when it does not match:
/// no pattern matches everything; a negated pattern matches when the pattern does not, with
/// no captures.
fn rule_captures(
    pattern: Option<&Pattern>,
    negate: bool,
    input: &str,
) -> Option<Vec<Option<String>>> {
    match (pattern, negate) {
        (None, false) => Some(vec![Some(input.to_string())]),
        (None, true) => None,
        (Some(p), negate) => match (captures_of(p, input), negate) {
            (Some(c), false) => Some(c),
            (None, true) => Some(Vec::new()),
            _ => None,
        },
    }
}

impl RuleSet {
    /// Compiles the effective rules and maps of a folder.
    pub fn compile(eff: &EffectiveConfig) -> RuleSet {
        let (map_names, maps) = compile_maps(eff);
        let t = |s: &str| Template::parse(s, &map_names);
        let mut rules: Vec<CompiledRule> = eff
            .rules
            .iter()
            .map(|e| {
                let r = &e.item;
                let syntax = r.pattern_syntax;
                let (pattern, negate) = match &r.match_ {
                    None => (Ok(None), false),
                    Some(m) => (
                        compile_opt(
                            syntax,
                            m.url.as_ref().map(|u| u.value.as_str()),
                            m.ignore_case,
                        ),
                        m.negate,
                    ),
                };
                let conditions = r
                    .conditions
                    .items
                    .iter()
                    .map(|c| CompiledCondition {
                        input: t(&c.input.value),
                        match_type: c.match_type,
                        pattern: match c.match_type {
                            MatchType::Pattern => compile_opt(
                                syntax,
                                c.pattern.as_ref().map(|p| p.value.as_str()),
                                c.ignore_case,
                            ),
                            _ => Ok(None),
                        },
                        negate: c.negate,
                    })
                    .collect();
                let action = match &r.action {
                    None => Action::None,
                    Some(a) => {
                        let url = a.url.as_ref().map(|u| t(&u.value));
                        match a.kind {
                            ActionType::None => Action::None,
                            ActionType::AbortRequest => Action::Abort,
                            ActionType::Rewrite => match url {
                                Some(url) => Action::Rewrite {
                                    url,
                                    append_query: a.append_query_string,
                                },
                                None => {
                                    Action::Broken("the Rewrite action has no url attribute".into())
                                }
                            },
                            ActionType::Redirect => match url {
                                Some(url) => Action::Redirect {
                                    url,
                                    append_query: a.append_query_string,
                                    status: a.redirect_type.status(),
                                },
                                None => Action::Broken(
                                    "the Redirect action has no url attribute".into(),
                                ),
                            },
                            ActionType::CustomResponse => Action::Custom {
                                status: a.status_code.as_ref().map(|s| s.value),
                                substatus: a.sub_status_code,
                                reason: a.status_reason.as_ref().map(|s| t(&s.value)),
                                description: a.status_description.as_ref().map(|s| t(&s.value)),
                            },
                        }
                    }
                };
                CompiledRule {
                    name: r.name.value.clone(),
                    level: e.level.trim_matches('/').to_string(),
                    enabled: r.enabled,
                    stop: r.stop_processing,
                    pattern,
                    negate,
                    grouping: r.conditions.logical_grouping,
                    track_all: r.conditions.track_all_captures,
                    conditions,
                    set_vars: r
                        .server_variables
                        .iter()
                        .map(|s| {
                            (
                                s.name.value.trim().to_ascii_uppercase(),
                                t(&s.value.value),
                                s.replace,
                            )
                        })
                        .collect(),
                    action,
                    unknown_function: None,
                    runaway: AtomicUsize::new(0),
                    runaway_min_len: AtomicUsize::new(usize::MAX),
                }
            })
            .collect();
        for r in &mut rules {
            r.unknown_function = r.find_unknown_function().map(str::to_string);
        }
        let any_enabled = rules.iter().any(|r| r.enabled);
        let inline = rules.iter().all(|r| {
            let cond = r.conditions.iter().map(|c| &c.pattern);
            std::iter::once(&r.pattern).chain(cond).all(|p| {
                p.as_ref().map_or(true, |p| {
                    p.as_ref().is_none_or(super::budget::can_run_inline)
                })
            })
        });
        let memoizable = inline && rules.iter().all(|r| !r.enabled || r.is_pure());
        RuleSet {
            rules,
            maps,
            any_enabled,
            inline,
            memoizable,
        }
    }

    /// No enabled rule: the request skips URL Rewrite (and its thread).
    pub fn is_empty(&self) -> bool {
        !self.any_enabled
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether every pattern can run on the request's own thread (no time budget needed).
    pub fn inline(&self) -> bool {
        self.inline
    }

    /// Whether decisions through these rules may be remembered (see the field).
    pub fn memoizable(&self) -> bool {
        self.memoizable
    }

    pub fn rule_name(&self, index: usize) -> Option<&str> {
        self.rules.get(index).map(|r| r.name.as_str())
    }

    pub(super) fn runaway_started(&self, index: usize, input_len: usize) {
        if let Some(r) = self.rules.get(index) {
            r.runaway.fetch_add(1, Ordering::AcqRel);
            r.runaway_min_len.fetch_min(input_len, Ordering::AcqRel);
        }
    }

    pub(super) fn runaway_finished(&self, index: usize) {
        if let Some(r) = self.rules.get(index)
            && r.runaway
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                == Ok(1)
        {
            r.runaway_min_len.store(usize::MAX, Ordering::Release);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

/// The request as URL Rewrite sees it.
#[derive(Debug)]
pub struct Env<'a> {
    pub head: &'a RequestHead,
    /// The canonical site folder.
    pub site_root: &'a Path,
    /// `""` or `/prefix`.
    pub app_path: &'a str,
    /// Where the file tests the conditions make are recorded, when the decision is to be
    /// remembered.
    pub probes: Option<&'a RefCell<Vec<Probe>>>,
}

/// A file test (IsFile / IsDirectory) a condition made, with its answer: a remembered
/// decision holds while every one of its tests answers the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    path: String,
    /// The site root the path is under (names below it are compared ignoring case).
    root: PathBuf,
    want_dir: bool,
    found: bool,
}

impl Probe {
    /// Makes the test again: whether it answers as it did. (Only tests of paths inside the
    /// site are recorded: a path outside is false whatever the file system holds.)
    pub fn holds(&self) -> bool {
        stat_test(&self.root, &self.path, self.want_dir) == self.found
    }
}

/// The current URL and what rules have set so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlState {
    /// Site path, normalised, starting with `/`.
    pub path: String,
    /// Current query string (without `?`).
    pub query: Option<String>,
    pub original_query: Option<String>,
    pub rewritten: bool,
    /// Request headers set by `<serverVariables>` (lower-case names).
    pub set_headers: Vec<(String, String)>,
    /// Server variables set by `<serverVariables>` (upper-case names).
    vars: Vec<(String, String)>,
}

impl UrlState {
    /// The server variables rules set that are not request headers (`HTTP_*`), taken out.
    pub fn take_plain_vars(&mut self) -> Vec<(String, String)> {
        let mut vars = std::mem::take(&mut self.vars);
        vars.retain(|(n, _)| !n.starts_with("HTTP_"));
        vars
    }

    pub fn new(path: String, query: Option<String>) -> UrlState {
        UrlState {
            path,
            original_query: query.clone(),
            query,
            rewritten: false,
            set_headers: Vec::new(),
            vars: Vec::new(),
        }
    }
}

/// How evaluation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Go on into the pipeline with the (possibly rewritten) URL in the state.
    Continue,
    Redirect {
        status: u16,
        location: String,
    },
    /// An error response: CustomResponse, or a 500.50 / 400 / 404 for a rule iisn cannot run.
    Respond(IisError),
    Abort,
}

fn rewrite_error(detail: String) -> IisError {
    let mut e = IisError::new(500, 50, detail);
    e.module = "RewriteModule";
    e.notification = "BeginRequest";
    e
}

/// The current path relative to `level`, without a leading slash; `None` when the path is
/// not under that folder.
fn relative_input(path: &str, level: &str) -> Option<String> {
    let p = path.strip_prefix('/').unwrap_or(path);
    if level.is_empty() {
        return Some(p.to_string());
    }
    let head = p.get(..level.len())?;
    if !head.eq_ignore_ascii_case(level) {
        return None;
    }
    let rest = &p[level.len()..];
    if rest.is_empty() {
        Some(String::new())
    } else {
        rest.strip_prefix('/').map(str::to_string)
    }
}

/// `scheme://` or `//host`.
fn is_absolute_uri(s: &str) -> bool {
    if s.starts_with("//") {
        return true;
    }
    if !s.as_bytes().contains(&b':') {
        return false;
    }
    match s.find("://") {
        Some(i) if i > 0 => {
            let scheme = &s[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        _ => false,
    }
}

struct Scope<'a> {
    env: &'a Env<'a>,
    state: &'a UrlState,
    maps: &'a [CompiledMap],
    r: &'a [Option<String>],
    c: &'a [Option<String>],
}

impl Scope<'_> {
    fn public_url(&self) -> String {
        if self.env.app_path.is_empty() {
            self.state.path.clone()
        } else if self.state.path == "/" {
            format!("{}/", self.env.app_path)
        } else {
            format!("{}{}", self.env.app_path, self.state.path)
        }
    }

    fn var(&self, name: &str) -> String {
        if let Some((_, v)) = self.state.vars.iter().rev().find(|(n, _)| n == name) {
            return v.clone();
        }
        match name {
            "URL" | "PATH_INFO" | "SCRIPT_NAME" | "URL_PATH_INFO" => self.public_url(),
            "QUERY_STRING" => self.state.query.clone().unwrap_or_default(),
            "REQUEST_FILENAME" | "SCRIPT_FILENAME" | "PATH_TRANSLATED" | "SCRIPT_TRANSLATED" => {
                physical_path_string(self.env.site_root, &self.state.path)
            }
            // The raw request target: the most used variable of real rules ({REQUEST_URI}
            // in Azure's generated web.config), without the general lookup's copies.
            "REQUEST_URI" | "HTTP_URL" | "UNENCODED_URL" => self.env.head.target.clone(),
            "DOCUMENT_ROOT" => self.env.site_root.display().to_string(),
            "HTTP_X_ORIGINAL_URL" if self.state.rewritten => self.env.head.target.clone(),
            _ => {
                let url = self.public_url();
                let h = self.env.head;
                RequestInfo {
                    method: h.method.as_str(),
                    target: &h.target,
                    path: &url,
                    headers: &h.headers,
                    remote: h.remote,
                    local: h.local_addr,
                    script_url: None,
                    path_info: None,
                    script_file: None,
                    site_root: self.env.site_root,
                    auth: h.auth.as_ref(),
                    query: None,
                }
                .get(name)
                .unwrap_or_default()
            }
        }
    }

    /// Appends variable `name` to `out`: the common ones without a copy of their own (the
    /// same values as [`Scope::var`]).
    fn push_var(&self, name: &str, out: &mut String) {
        if let Some((_, v)) = self.state.vars.iter().rev().find(|(n, _)| n == name) {
            out.push_str(v);
            return;
        }
        match name {
            "REQUEST_URI" | "HTTP_URL" | "UNENCODED_URL" => {
                out.push_str(&self.env.head.target);
            }
            "QUERY_STRING" => out.push_str(self.state.query.as_deref().unwrap_or("")),
            "URL" | "PATH_INFO" | "SCRIPT_NAME" | "URL_PATH_INFO"
                if self.env.app_path.is_empty() =>
            {
                out.push_str(&self.state.path);
            }
            _ => out.push_str(&self.var(name)),
        }
    }

    fn expand(&self, t: &Template) -> String {
        let mut out = String::with_capacity(64);
        for p in &t.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(name) => self.push_var(name, &mut out),
                Piece::R(n) => {
                    out.push_str(self.r.get(*n).and_then(|x| x.as_deref()).unwrap_or(""))
                }
                Piece::C(n) => {
                    out.push_str(self.c.get(*n).and_then(|x| x.as_deref()).unwrap_or(""))
                }
                Piece::Func(f, arg) => {
                    let v = self.expand(arg);
                    out.push_str(&match f {
                        Func::ToLower => v.to_lowercase(),
                        Func::UrlEncode => url_encode(&v),
                        Func::UrlDecode => url_decode(&v),
                        Func::HtmlEncode => escape_html(&v),
                    });
                }
                Piece::Map(i, arg) => {
                    if let Some(m) = self.maps.get(*i) {
                        out.push_str(m.lookup(self.expand(arg)));
                    }
                }
                Piece::Unknown(..) => {}
            }
        }
        out
    }
}

/// The physical path of a site path: the site folder joined with its segments.
fn physical_path(root: &Path, site_path: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(site_path.split('/').filter(|s| !s.is_empty()));
    p
}

/// [`physical_path`] as text (what `{REQUEST_FILENAME}` expands to).
fn physical_path_string(root: &Path, site_path: &str) -> String {
    let Some(r) = root.to_str() else {
        return physical_path(root, site_path).display().to_string();
    };
    let mut out = String::with_capacity(r.len() + site_path.len() + 1);
    out.push_str(r);
    for seg in site_path.split('/').filter(|s| !s.is_empty()) {
        if !out.ends_with(std::path::MAIN_SEPARATOR) {
            out.push(std::path::MAIN_SEPARATOR);
        }
        out.push_str(seg);
    }
    out
}

/// Whether `input` names `root` or a path below it, with no `..` segment: the same test as
/// `Path::starts_with` and `Component::ParentDir`, on text (the common, UTF-8 case).
fn inside_root_text(root: &str, input: &str) -> Option<bool> {
    // A root with `//`, `/.` or `/..` in it compares differently as components: leave it
    // to `Path`.
    let odd = root
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'/' && (w[1] == b'/' || w[1] == b'.'));
    if std::path::MAIN_SEPARATOR != '/' || !root.starts_with('/') || odd {
        return None;
    }
    let root = root.trim_end_matches('/');
    let rest = input.strip_prefix(root)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Some(false);
    }
    Some(!rest.split('/').any(|seg| seg == ".."))
}

/// Whether IsFile / IsDirectory may look at `input`: only absolute paths inside the site
/// count (others are false without looking).
fn inside_site(root: &Path, input: &str) -> bool {
    let inside = root.to_str().and_then(|r| inside_root_text(r, input));
    inside.unwrap_or_else(|| {
        let p = Path::new(input);
        p.is_absolute()
            && !p.components().any(|c| matches!(c, Component::ParentDir))
            && p.starts_with(root)
    })
}

/// The input of an IsFile / IsDirectory condition as a path on this machine. IIS hands it
/// to Windows, where `\` and `/` both separate names ("File path formats on Windows
/// systems"), so real rules build it either way: `{APPL_PHYSICAL_PATH}public\{R:1}`,
/// `{DOCUMENT_ROOT}\.next\static\{R:1}`, with `{R:1}` holding `/`. A Windows file name
/// cannot contain `\`, so reading each one as `/` names the file IIS would test.
pub(super) fn windows_separators(input: String) -> String {
    if input.contains('\\') {
        input.replace('\\', "/")
    } else {
        input
    }
}

/// IsFile / IsDirectory on a path already known to be inside the site under `root`, its
/// names compared ignoring case as on NTFS ([`super::ci_path`]).
fn stat_test(root: &Path, input: &str, want_dir: bool) -> bool {
    match super::ci_path::metadata(root, Path::new(input)) {
        Some(m) => {
            if want_dir {
                m.is_dir()
            } else {
                m.is_file()
            }
        }
        None => false,
    }
}

fn captures_of(p: &Pattern, input: &str) -> Option<Vec<Option<String>>> {
    let c = p.find(input)?;
    Some((0..c.len()).map(|i| c.get(i).map(str::to_string)).collect())
}

impl RuleSet {
    /// Runs the rules against `state` (updated in place by Rewrite actions).
    pub fn evaluate(
        &self,
        env: &Env<'_>,
        state: &mut UrlState,
        progress: Option<&Progress>,
    ) -> Outcome {
        self.evaluate_traced(env, state, progress, &mut None)
    }

    /// [`RuleSet::evaluate`], recording each rule into `trace` when there is one.
    pub fn evaluate_traced(
        &self,
        env: &Env<'_>,
        state: &mut UrlState,
        progress: Option<&Progress>,
        trace: &mut Option<&mut Trace>,
    ) -> Outcome {
        let outcome = self.evaluate_inner(env, state, progress, trace);
        if let Some(p) = progress {
            p.leave_rules();
        }
        outcome
    }

    fn evaluate_inner(
        &self,
        env: &Env<'_>,
        state: &mut UrlState,
        progress: Option<&Progress>,
        trace: &mut Option<&mut Trace>,
    ) -> Outcome {
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.enabled {
                continue;
            }
            let Some(input) = relative_input(&state.path, &rule.level) else {
                continue;
            };
            if let Some(p) = progress
                && !p.enter_rule(i, input.len())
            {
                return Outcome::Respond(rewrite_error(
                    "the request was abandoned while its rules ran".into(),
                ));
            }
            if rule.overloaded(input.len()) {
                return Outcome::Respond(rewrite_error(format!(
                    "rule \"{}\" is still matching inputs like this one for earlier requests that overran iisn's time budget",
                    rule.name
                )));
            }
            // A rule URL Rewrite cannot load fails every request that reaches it.
            let broken = match (&rule.unknown_function, &rule.pattern) {
                (Some(name), _) => Some(format!(
                    "rule \"{}\" cannot be expanded: {{{name}:...}} names neither a string function (ToLower, UrlEncode, UrlDecode, HtmlEncode) nor a rewrite map",
                    rule.name
                )),
                (None, Err(e)) => Some(format!(
                    "the pattern of rule \"{}\" does not compile: {e}",
                    rule.name
                )),
                (None, Ok(_)) => None,
            };
            if let Some(why) = broken {
                rec(trace, |t| {
                    // What the pattern would have matched, for the explanation only.
                    let caps = (rule.pattern.as_ref().ok())
                        .and_then(|p| rule_captures(p.as_ref(), rule.negate, &input));
                    t.rule(i, &input, caps.as_deref());
                    t.action(ActionTrace::Error { why: why.clone() });
                });
                return Outcome::Respond(rewrite_error(why));
            }
            let Ok(pattern) = &rule.pattern else {
                continue;
            };
            let r_caps = rule_captures(pattern.as_ref(), rule.negate, &input);
            rec(trace, |t| t.rule(i, &input, r_caps.as_deref()));
            let Some(r_caps) = r_caps else { continue };
            let c_caps = self.conditions(rule, env, state, &r_caps, trace);
            rec(trace, |t| {
                t.conditions_result(c_caps.as_ref().ok().and_then(|c| c.as_deref()))
            });
            let c_caps = match c_caps {
                Ok(Some(c)) => c,
                Ok(None) => continue,
                Err(e) => {
                    rec(trace, |t| {
                        t.action(ActionTrace::Error {
                            why: e.detail.clone(),
                        })
                    });
                    return Outcome::Respond(e);
                }
            };
            let scope = Scope {
                env,
                state,
                maps: &self.maps,
                r: &r_caps,
                c: &c_caps,
            };
            // `replace="false"` keeps a variable that already has a value, the request's own
            // (`REMOTE_ADDR`, a header) included.
            let sets: Vec<(String, String, bool, bool)> = rule
                .set_vars
                .iter()
                .map(|(n, t, replace)| {
                    let has_value = !*replace && !scope.var(n).is_empty();
                    (n.clone(), scope.expand(t), *replace, has_value)
                })
                .collect();
            let action = match &rule.action {
                Action::None => None,
                Action::Rewrite { url, append_query } => {
                    Some(Ok((scope.expand(url), *append_query)))
                }
                Action::Redirect {
                    url,
                    append_query,
                    status,
                } => {
                    let target = scope.expand(url);
                    let location = redirect_location(
                        &target,
                        &rule.level,
                        env.app_path,
                        if *append_query {
                            state.original_query.as_deref()
                        } else {
                            None
                        },
                    );
                    rec(trace, |t| {
                        t.action(ActionTrace::Redirect {
                            status: *status,
                            location: location.clone(),
                        })
                    });
                    return Outcome::Redirect {
                        status: *status,
                        location,
                    };
                }
                Action::Custom {
                    status,
                    substatus,
                    reason,
                    description,
                } => {
                    let code = status.unwrap_or(0);
                    if !(100..=999).contains(&code) {
                        return Outcome::Respond(rewrite_error(format!(
                            "rule \"{}\": CustomResponse needs a statusCode between 100 and 999",
                            rule.name
                        )));
                    }
                    let mut e = IisError::new(
                        code as u16,
                        (*substatus).min(999) as u32,
                        description
                            .as_ref()
                            .map(|d| scope.expand(d))
                            .unwrap_or_default(),
                    );
                    e.reason = reason.as_ref().map(|r| scope.expand(r));
                    e.module = "RewriteModule";
                    e.notification = "BeginRequest";
                    rec(trace, |t| {
                        t.action(ActionTrace::CustomResponse {
                            status: e.status,
                            substatus: e.substatus,
                        })
                    });
                    return Outcome::Respond(e);
                }
                Action::Abort => {
                    rec(trace, |t| t.action(ActionTrace::Abort));
                    return Outcome::Abort;
                }
                Action::Broken(why) => Some(Err(why.clone())),
            };
            for (name, value, replace, has_value) in sets {
                if !has_value {
                    set_var(env, state, name, value, replace);
                }
            }
            match action {
                None => rec(trace, |t| t.action(ActionTrace::None)),
                Some(Err(why)) => {
                    rec(trace, |t| t.action(ActionTrace::Error { why: why.clone() }));
                    return Outcome::Respond(rewrite_error(format!(
                        "rule \"{}\": {why}",
                        rule.name
                    )));
                }
                Some(Ok((target, append))) => {
                    if let Err(e) = apply_rewrite(&target, &rule.level, env.app_path, append, state)
                    {
                        rec(trace, |t| {
                            t.action(ActionTrace::Error {
                                why: e.detail.clone(),
                            })
                        });
                        return Outcome::Respond(e);
                    }
                    rec(trace, |t| {
                        let mut url = state.path.clone();
                        if let Some(q) = state.query.as_deref().filter(|q| !q.is_empty()) {
                            url.push('?');
                            url.push_str(q);
                        }
                        t.action(ActionTrace::Rewrite { url })
                    });
                }
            }
            if rule.stop {
                break;
            }
        }
        Outcome::Continue
    }

    /// `Ok(Some(captures for {C:n}))` when the conditions pass, `Ok(None)` when they fail.
    fn conditions(
        &self,
        rule: &CompiledRule,
        env: &Env<'_>,
        state: &UrlState,
        r_caps: &[Option<String>],
        trace: &mut Option<&mut Trace>,
    ) -> Result<Option<Vec<Option<String>>>, IisError> {
        let mut c_caps: Vec<Option<String>> = Vec::new();
        if rule.conditions.is_empty() {
            return Ok(Some(c_caps));
        }
        let any = rule.grouping == LogicalGrouping::MatchAny;
        for (j, cond) in rule.conditions.iter().enumerate() {
            let scope = Scope {
                env,
                state,
                maps: &self.maps,
                r: r_caps,
                c: &c_caps,
            };
            let input = scope.expand(&cond.input);
            rec(trace, |t| t.condition(j, &input));
            let (matched, caps) = match cond.match_type {
                MatchType::Pattern => match &cond.pattern {
                    Err(e) => {
                        return Err(rewrite_error(format!(
                            "a condition pattern of rule \"{}\" does not compile: {e}",
                            rule.name
                        )));
                    }
                    Ok(None) => (true, Some(vec![Some(input.clone())])),
                    Ok(Some(p)) => match captures_of(p, &input) {
                        Some(c) => (true, Some(c)),
                        None => (false, None),
                    },
                },
                MatchType::IsFile | MatchType::IsDirectory => {
                    let path = if input.is_empty() {
                        physical_path(env.site_root, &state.path)
                            .display()
                            .to_string()
                    } else {
                        windows_separators(input)
                    };
                    let want_dir = cond.match_type == MatchType::IsDirectory;
                    let inside = inside_site(env.site_root, &path);
                    let found = inside && stat_test(env.site_root, &path, want_dir);
                    if inside && let Some(probes) = env.probes {
                        probes.borrow_mut().push(Probe {
                            root: env.site_root.to_path_buf(),
                            path,
                            want_dir,
                            found,
                        });
                    }
                    (found, None)
                }
            };
            let passed = matched != cond.negate;
            rec(trace, |t| t.condition_result(passed));
            if passed
                && !cond.negate
                && let Some(caps) = caps
            {
                if rule.track_all && !c_caps.is_empty() {
                    c_caps.extend(caps.into_iter().skip(1));
                } else {
                    c_caps = caps;
                }
            }
            match (any, passed) {
                (true, true) => return Ok(Some(c_caps)),
                (false, false) => return Ok(None),
                _ => {}
            }
        }
        Ok(if any { None } else { Some(c_caps) })
    }
}

fn set_var(env: &Env<'_>, state: &mut UrlState, name: String, value: String, replace: bool) {
    let header = name
        .strip_prefix("HTTP_")
        .map(|h| h.replace('_', "-").to_ascii_lowercase());
    let exists = state.vars.iter().any(|(n, _)| *n == name)
        || header
            .as_deref()
            .is_some_and(|h| env.head.headers.contains_key(h));
    if exists && !replace {
        return;
    }
    state.vars.retain(|(n, _)| *n != name);
    state.vars.push((name, value.clone()));
    if let Some(h) = header {
        state.set_headers.retain(|(n, _)| *n != h);
        state.set_headers.push((h, value));
    }
}

/// A Rewrite substitution → the new current URL and query.
fn apply_rewrite(
    target: &str,
    level: &str,
    app_path: &str,
    append_query: bool,
    state: &mut UrlState,
) -> Result<(), IisError> {
    let t = target.trim();
    if is_absolute_uri(t) {
        // Without Application Request Routing, IIS has no handler for such a URL: 404.4
        // from IIS Web Core at MapRequestHandler (observed on IIS 10).
        let mut e = IisError::new(
            404,
            4,
            format!(
                "a Rewrite to the absolute URL \"{t}\" needs Application Request Routing (a reverse proxy), which iisn does not emulate: IIS without it has no handler for the URL"
            ),
        );
        e.module = "IIS Web Core";
        e.notification = "MapRequestHandler";
        return Err(e);
    }
    let (raw_path, query) = match t.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (t, None),
    };
    let unified = if raw_path.contains('\\') {
        std::borrow::Cow::Owned(raw_path.replace('\\', "/"))
    } else {
        std::borrow::Cow::Borrowed(raw_path)
    };
    let decoded = if unified.contains('%') {
        percent_decode(&unified).map_or(unified, std::borrow::Cow::Owned)
    } else {
        unified
    };
    let site = if decoded.starts_with('/') {
        match strip_prefix_ci(&decoded, app_path) {
            Some(inside) => inside.to_string(),
            None => {
                let mut e = IisError::new(
                    404,
                    0,
                    format!(
                        "A rule rewrote the URL to {decoded}, which is outside the application mounted at {app_path}: a substitution starting with / is a server path."
                    ),
                );
                e.module = "RewriteModule";
                return Err(e);
            }
        }
    } else {
        let mut site = String::with_capacity(level.len() + decoded.len() + 2);
        site.push('/');
        if !level.is_empty() {
            site.push_str(level);
            site.push('/');
        }
        site.push_str(&decoded);
        site
    };
    let Some(path) = normalize_path_owned(site) else {
        let mut e = IisError::new(
            400,
            0,
            format!("A rule rewrote the URL to {t}, which climbs above the site root."),
        );
        e.module = "RewriteModule";
        return Err(e);
    };
    let new_query = match query {
        Some(q) => match state
            .query
            .as_deref()
            .filter(|c| append_query && !c.is_empty())
        {
            Some(current) => Some(format!("{q}&{current}")),
            None => Some(q.to_string()),
        },
        None if append_query => state.query.clone(),
        None => None,
    };
    state.path = path;
    state.query = new_query;
    state.rewritten = true;
    Ok(())
}

/// A Redirect substitution → the `Location` header.
fn redirect_location(target: &str, level: &str, app_path: &str, query: Option<&str>) -> String {
    let t = target.trim();
    let mut loc = if is_absolute_uri(t) || t.starts_with('/') {
        t.to_string()
    } else {
        let mut base = app_path.to_string();
        if !level.is_empty() {
            base.push('/');
            base.push_str(level);
        }
        format!("{base}/{t}")
    };
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        loc.push(if loc.contains('?') { '&' } else { '?' });
        loc.push_str(q);
    }
    location_safe(&loc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_inside_root_test_agrees_with_paths() {
        let path_test = |root: &str, input: &str| {
            let p = Path::new(input);
            p.is_absolute()
                && !p.components().any(|c| matches!(c, Component::ParentDir))
                && p.starts_with(Path::new(root))
        };
        for root in ["/srv/site", "/srv/site/", "/"] {
            for input in [
                "/srv/site",
                "/srv/site/",
                "/srv/site/public/a.js",
                "/srv/site/./a",
                "/srv/site/../x",
                "/srv/site/a/../b",
                "/srv/sitex/a",
                "/srv/sit",
                "/other",
                "relative/a",
                "/srv/site/a..b/c",
            ] {
                if let Some(text) = inside_root_text(root, input) {
                    assert_eq!(text, path_test(root, input), "{root} {input}");
                }
            }
        }
        assert_eq!(
            physical_path_string(Path::new("/srv/site"), "/public/a b.js"),
            physical_path(Path::new("/srv/site"), "/public/a b.js")
                .display()
                .to_string()
        );
        assert_eq!(
            physical_path_string(Path::new("/srv/site"), "/"),
            physical_path(Path::new("/srv/site"), "/")
                .display()
                .to_string()
        );
    }

    #[test]
    fn templates_parse_nested_expressions() {
        let maps = vec!["StaticRewrites".to_string()];
        let t = Template::parse(
            "{StaticRewrites:{REQUEST_URI}}x{R:1}{c:12}{ToLower:{HTTP_HOST}}{oops",
            &maps,
        );
        assert_eq!(
            t.0,
            vec![
                Piece::Map(0, Template(vec![Piece::Var("REQUEST_URI".into())])),
                Piece::Lit("x".into()),
                Piece::R(1),
                Piece::C(12),
                Piece::Func(
                    Func::ToLower,
                    Template(vec![Piece::Var("HTTP_HOST".into())])
                ),
                Piece::Lit("{oops".into()),
            ]
        );
        assert_eq!(
            Template::parse("{Nope:x}", &maps).0,
            vec![Piece::Unknown(
                "Nope".into(),
                Template(vec![Piece::Lit("x".into())])
            )]
        );
    }

    #[test]
    fn encoding_functions() {
        // Observed on IIS 10 (UR36): the space stays, the slash is `%2F`.
        assert_eq!(url_encode("x y/z"), "x y%2Fz");
        assert_eq!(url_encode("a b/c?d=é"), "a b%2Fc%3Fd%3D%C3%A9");
        assert_eq!(url_decode("a+b%2Fc%zz%"), "a b/c%zz%");
    }

    #[test]
    fn inputs_are_folder_relative() {
        assert_eq!(relative_input("/a/b/c", "").as_deref(), Some("a/b/c"));
        assert_eq!(relative_input("/A/b/c", "a").as_deref(), Some("b/c"));
        assert_eq!(relative_input("/a/", "a").as_deref(), Some(""));
        assert_eq!(relative_input("/a", "a").as_deref(), Some(""));
        assert_eq!(relative_input("/ab/c", "a"), None);
        assert_eq!(relative_input("/", "a"), None);
    }

    #[test]
    fn absolute_uris() {
        assert!(is_absolute_uri("http://x/y"));
        assert!(is_absolute_uri("HTTPS://x"));
        assert!(is_absolute_uri("//cdn/x"));
        assert!(!is_absolute_uri("/a://b"));
        assert!(!is_absolute_uri("public/x"));
    }

    #[test]
    fn redirects() {
        assert_eq!(
            redirect_location("new/x", "", "", Some("a=1")),
            "/new/x?a=1"
        );
        assert_eq!(
            redirect_location("x?b=2", "sub", "/app", Some("a=1")),
            "/app/sub/x?b=2&a=1"
        );
        assert_eq!(
            redirect_location("https://h/a b", "", "", None),
            "https://h/a%20b"
        );
    }
}
