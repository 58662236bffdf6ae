//! URL Rewrite outbound rules on response headers (`<rewrite><outboundRules>`).
//!
//! URL Rewrite 2.0 runs outbound rules when IIS sends the response (iis-webconfig.md §1.11),
//! after every module has added its headers (customHeaders included), for every response of
//! the URL's folder: node's, static files, IIS's own error pages. What iisn reproduces:
//!
//! * rules of the final URL's folder, parent levels first, `enabled`, `stopProcessing`,
//!   `patternSyntax`;
//! * `<match serverVariable="RESPONSE_<name>" pattern negate ignoreCase>`: the input is the
//!   response header `<name>` (`_` stands for `-`: `RESPONSE_X_Powered_By` is
//!   `X-Powered-By`), the empty string when the header is absent, so `pattern=".*"` adds a
//!   header (the common HSTS rule) and `pattern=".+"` only touches one that exists;
//! * `preCondition="name"`: the named `<preCondition>` (its `logicalGrouping` and conditions)
//!   must hold first; a name that is not defined makes the rule never run (IIS reports a
//!   configuration error for it, 500.52);
//! * `<conditions>` (trackAllCaptures is `true` by default for outbound rules), with inputs
//!   that may use request variables (`{HTTPS}`, `{HTTP_HOST}`, `{REQUEST_URI}`, ...) and
//!   response variables (`{RESPONSE_CONTENT_TYPE}`, `{RESPONSE_STATUS}`);
//! * `<action type="Rewrite" value>`: the header gets the expanded value (`{R:n}`, `{C:n}`,
//!   server variables, `{ToLower:...}` and friends); an empty value removes it, the usual way
//!   to drop `Server` or `X-Powered-By`. `type="None"` changes nothing.
//!
//! Not emulated, and said so by `iisn check` (IISN1001): rules that rewrite the response
//! body (`filterByTags`, or a `<match>` without `serverVariable`), `customTags`, and
//! `serverVariable` names other than `RESPONSE_*` (ARR's `HTTP_ACCEPT_ENCODING` restore).
//! A pattern that does not compile makes its rule never run (IIS: 500.52; `iisn check`
//! reports it as IISN6006).
//!
//! Cost: nothing for folders without outbound rules ([`prepare`] returns `None` before
//! copying anything); otherwise the request head is copied once so that the rules can look
//! at it when the response is ready.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::config::model::EffectiveConfig;
use crate::config::web_config::{Condition, LogicalGrouping, MatchType, PatternSyntax};
use crate::rewrite::pattern::{self, Pattern};
use crate::serve::server_vars::RequestInfo;

use super::FolderConfig;
use super::rewrite::{CompiledMap, Template, compile_maps};

#[derive(Debug)]
struct CompiledCondition {
    input: Template,
    match_type: MatchType,
    /// `None` for a pattern-less condition (matches anything); `Err` when it does not
    /// compile (the condition never holds).
    pattern: Result<Option<Pattern>, ()>,
    negate: bool,
}

#[derive(Debug)]
struct CompiledConditions {
    any: bool,
    track_all: bool,
    items: Vec<CompiledCondition>,
}

#[derive(Debug)]
enum Pre {
    None,
    /// Index into [`OutboundRules::pre`].
    Named(usize),
    /// Names a precondition that does not exist: the rule never runs.
    Missing,
}

#[derive(Debug)]
struct CompiledRule {
    /// The response header the rule matches and rewrites.
    header: HeaderName,
    /// `None` when the pattern did not compile: the rule never runs.
    pattern: Option<Pattern>,
    negate: bool,
    pre: Pre,
    conditions: CompiledConditions,
    rewrite: bool,
    value: Template,
    stop: bool,
}

/// The outbound header rules of one folder, compiled once per configuration load.
#[derive(Debug, Default)]
pub struct OutboundRules {
    rules: Vec<CompiledRule>,
    pre: Vec<CompiledConditions>,
    /// The folder's rewrite maps (`{Name:key}` in a value or a condition's input).
    maps: Vec<CompiledMap>,
}

fn compile_conditions(
    items: &[Condition],
    syntax: PatternSyntax,
    any: bool,
    track_all: bool,
    maps: &[String],
) -> CompiledConditions {
    CompiledConditions {
        any,
        track_all,
        items: items
            .iter()
            .map(|c| CompiledCondition {
                input: Template::with_maps(&c.input.value, maps),
                match_type: c.match_type,
                pattern: match &c.pattern {
                    None => Ok(None),
                    Some(p) => pattern::compile(syntax, &p.value, c.ignore_case)
                        .map(Some)
                        .map_err(|_| ()),
                },
                negate: c.negate,
            })
            .collect(),
    }
}

/// `RESPONSE_X_Powered_By` → `x-powered-by`; `None` for other server variables.
fn response_header(server_variable: &str) -> Option<HeaderName> {
    let v = server_variable.trim();
    let prefix = v.get(..9)?;
    if !prefix.eq_ignore_ascii_case("RESPONSE_") {
        return None;
    }
    let name = v[9..].replace('_', "-");
    HeaderName::from_bytes(name.as_bytes()).ok()
}

impl OutboundRules {
    pub fn compile(eff: &EffectiveConfig) -> OutboundRules {
        let (map_names, maps) = compile_maps(eff);
        let mut names: Vec<String> = Vec::new();
        let mut pre = Vec::new();
        for pc in &eff.pre_conditions {
            let p = &pc.item;
            names.push(p.name.value.trim().to_ascii_lowercase());
            pre.push(compile_conditions(
                &p.conditions.items,
                p.pattern_syntax,
                p.conditions.logical_grouping == LogicalGrouping::MatchAny,
                true,
                &map_names,
            ));
        }
        let mut rules = Vec::new();
        for e in &eff.outbound_rules {
            let r = &e.item;
            if !r.enabled {
                continue;
            }
            let Some(m) = &r.match_ else { continue };
            if m.filter_by_tags.is_some() {
                continue;
            }
            let Some(header) = m
                .server_variable
                .as_ref()
                .and_then(|v| response_header(&v.value))
            else {
                continue;
            };
            let text = m.pattern.as_ref().map_or("", |p| p.value.as_str());
            let pre_ref = match &r.pre_condition {
                None => Pre::None,
                Some(name) => {
                    let n = name.value.trim().to_ascii_lowercase();
                    names
                        .iter()
                        .position(|x| *x == n)
                        .map_or(Pre::Missing, Pre::Named)
                }
            };
            rules.push(CompiledRule {
                header,
                pattern: pattern::compile(r.pattern_syntax, text, m.ignore_case).ok(),
                negate: m.negate,
                pre: pre_ref,
                conditions: compile_conditions(
                    &r.conditions.items,
                    r.pattern_syntax,
                    r.conditions.logical_grouping == LogicalGrouping::MatchAny,
                    r.conditions.track_all_captures,
                    &map_names,
                ),
                rewrite: r.rewrite,
                value: Template::with_maps(
                    r.value.as_ref().map_or("", |v| v.value.as_str()),
                    &map_names,
                ),
                stop: r.stop_processing,
            });
        }
        OutboundRules { rules, pre, maps }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// What the outbound rules may look at about the request.
#[derive(Debug)]
pub struct OutboundRequest<'a> {
    pub method: &'a Method,
    /// The request target as the client sent it.
    pub target: &'a str,
    /// The final URL, decoded (with the `--app-path` prefix).
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    pub remote: SocketAddr,
    pub local: SocketAddr,
    pub site_root: &'a Path,
}

/// A request whose response has outbound rules to run.
#[derive(Debug)]
pub struct Pending {
    config: Arc<FolderConfig>,
    method: Method,
    target: String,
    url: String,
    headers: HeaderMap,
    remote: SocketAddr,
    local: SocketAddr,
    site_root: PathBuf,
}

/// `Some` when the folder has outbound header rules: a copy of what they may need.
pub fn prepare(config: &Arc<FolderConfig>, req: &OutboundRequest<'_>) -> Option<Pending> {
    if config.outbound.is_empty() {
        return None;
    }
    Some(Pending {
        config: config.clone(),
        method: req.method.clone(),
        target: req.target.to_string(),
        url: req.url.to_string(),
        headers: req.headers.clone(),
        remote: req.remote,
        local: req.local,
        site_root: req.site_root.to_path_buf(),
    })
}

fn header_text(headers: &HeaderMap, name: &HeaderName) -> String {
    let mut out = String::new();
    for (i, v) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    out
}

fn captures_of(p: &Pattern, input: &str) -> Option<Vec<Option<String>>> {
    let c = p.find(input)?;
    Some((0..c.len()).map(|i| c.get(i).map(str::to_string)).collect())
}

impl Pending {
    /// The value of a server variable while the response is being sent.
    fn var(&self, name: &str, status: u16, resp: &HeaderMap) -> String {
        if name == "RESPONSE_STATUS" {
            return status.to_string();
        }
        if let Some(h) = response_header(name) {
            return header_text(resp, &h);
        }
        RequestInfo {
            method: self.method.as_str(),
            target: &self.target,
            path: &self.url,
            headers: &self.headers,
            remote: self.remote,
            local: self.local,
            script_url: None,
            path_info: None,
            script_file: None,
            site_root: &self.site_root,
            auth: None,
            query: None,
        }
        .get(name)
        .unwrap_or_default()
    }

    /// Evaluates conditions; `Some(captures)` when they hold.
    fn conditions(
        &self,
        set: &CompiledConditions,
        status: u16,
        resp: &HeaderMap,
        r: &[Option<String>],
    ) -> Option<Vec<Option<String>>> {
        let mut c_caps: Vec<Option<String>> = Vec::new();
        for cond in &set.items {
            let var = |n: &str| self.var(n, status, resp);
            let input = cond
                .input
                .expand_with(&var, r, &c_caps, &self.config.outbound.maps);
            let (matched, caps) = match cond.match_type {
                MatchType::Pattern => match &cond.pattern {
                    Err(()) => (false, None),
                    Ok(None) => (true, Some(vec![Some(input.clone())])),
                    Ok(Some(p)) => match captures_of(p, &input) {
                        Some(c) => (true, Some(c)),
                        None => (false, None),
                    },
                },
                MatchType::IsFile | MatchType::IsDirectory => {
                    let input = super::rewrite::windows_separators(input);
                    let p = Path::new(&input);
                    let inside = p.is_absolute()
                        && p.starts_with(&self.site_root)
                        && !p
                            .components()
                            .any(|c| matches!(c, std::path::Component::ParentDir));
                    let ok = inside
                        && super::ci_path::metadata(&self.site_root, p).is_some_and(|m| {
                            if cond.match_type == MatchType::IsDirectory {
                                m.is_dir()
                            } else {
                                m.is_file()
                            }
                        });
                    (ok, None)
                }
            };
            let passed = matched != cond.negate;
            if passed
                && !cond.negate
                && let Some(caps) = caps
            {
                if set.track_all && !c_caps.is_empty() {
                    c_caps.extend(caps.into_iter().skip(1));
                } else {
                    c_caps = caps;
                }
            }
            match (set.any, passed) {
                (true, true) => return Some(c_caps),
                (false, false) => return None,
                _ => {}
            }
        }
        if set.any && !set.items.is_empty() {
            None
        } else {
            Some(c_caps)
        }
    }

    /// Runs the folder's outbound header rules on the response about to be sent.
    pub fn apply(&self, status: u16, resp: &mut HeaderMap) {
        let rules = &self.config.outbound;
        for rule in &rules.rules {
            let Some(p) = &rule.pattern else { continue };
            match rule.pre {
                Pre::None => {}
                Pre::Missing => continue,
                Pre::Named(i) => {
                    let Some(set) = rules.pre.get(i) else {
                        continue;
                    };
                    if self.conditions(set, status, resp, &[]).is_none() {
                        continue;
                    }
                }
            }
            let input = header_text(resp, &rule.header);
            let r_caps = match (captures_of(p, &input), rule.negate) {
                (Some(c), false) => c,
                (None, true) => Vec::new(),
                _ => continue,
            };
            let Some(c_caps) = self.conditions(&rule.conditions, status, resp, &r_caps) else {
                continue;
            };
            if rule.rewrite {
                let var = |n: &str| self.var(n, status, resp);
                let value = rule.value.expand_with(&var, &r_caps, &c_caps, &rules.maps);
                if value.is_empty() {
                    resp.remove(&rule.header);
                } else if let Ok(v) = HeaderValue::from_str(&value) {
                    resp.insert(rule.header.clone(), v);
                }
            }
            if rule.stop {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_variables_name_headers() {
        assert_eq!(
            response_header("RESPONSE_X_Powered_By").map(|h| h.to_string()),
            Some("x-powered-by".into())
        );
        assert_eq!(
            response_header("response_Strict-Transport-Security").map(|h| h.to_string()),
            Some("strict-transport-security".into())
        );
        assert!(response_header("HTTP_ACCEPT_ENCODING").is_none());
        assert!(response_header("RESPONSE_").is_none());
        assert!(response_header("RESP").is_none());
    }
}
