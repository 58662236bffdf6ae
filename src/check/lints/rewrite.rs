//! URL Rewrite rules (IISN6005–IISN6020, and IISN1001 for sections iisn does not emulate;
//! iis-webconfig.md §1 and §7 item 13, iisnode-config.md §6.5 rule L-84, peers.md pain 8).
//!
//! Each rule is checked once, where it is written: its patterns compile in the rule's
//! `patternSyntax` (with [`crate::rewrite::pattern`], the same code the router uses), its
//! back-references name groups that exist, its `{...}` expansions name known server
//! variables, functions and rewrite maps, and a literal Rewrite target reaches an iisnode
//! handler and is not hidden by request filtering. Reachability is checked on the effective
//! rule lists (parent web.config rules run first), so a catch-all in the root web.config
//! that stops processing also shadows a sub-folder's rules.

use std::collections::{HashMap, HashSet};

use crate::config::site::rel_to_path;
use crate::config::source::{Span, Spanned};
use crate::config::web_config::{
    ActionType, CollectionOp, MatchType, OutboundSection, PatternSyntax, RewriteRule, RuleAction,
};
use crate::diag::{Diagnostic, codes};
use crate::rewrite::pattern::{self, Fallback, Pattern};

use super::handlers::{Mapping, map_url};
use super::{Ctx, parent_rel, resolve_url_path};
use crate::serve::pipeline::strip_prefix_ci;

/// URL Rewrite's string functions (iis-webconfig.md §1.8).
const FUNCTIONS: &[&str] = &["ToLower", "UrlEncode", "UrlDecode", "HtmlEncode"];

/// Server variables URL Rewrite rules use, besides `HTTP_<HEADER>` (iis-webconfig.md §1.7,
/// and IIS's list of server variables).
const SERVER_VARIABLES: &[&str] = &[
    "ALL_HTTP",
    "ALL_RAW",
    "APP_POOL_ID",
    "APPL_MD_PATH",
    "APPL_PHYSICAL_PATH",
    "AUTH_PASSWORD",
    "AUTH_TYPE",
    "AUTH_USER",
    "CACHE_URL",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "DOCUMENT_ROOT",
    "GATEWAY_INTERFACE",
    "HTTP_URL",
    "HTTP_VERSION",
    "HTTPS",
    "INSTANCE_ID",
    "INSTANCE_META_PATH",
    "INSTANCE_NAME",
    "LOCAL_ADDR",
    "LOGON_USER",
    "PATH_INFO",
    "PATH_TRANSLATED",
    "QUERY_STRING",
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_PORT",
    "REMOTE_USER",
    "REQUEST_FILENAME",
    "REQUEST_METHOD",
    "REQUEST_URI",
    "SCRIPT_FILENAME",
    "SCRIPT_NAME",
    "SCRIPT_TRANSLATED",
    "SERVER_ADDR",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PORT_SECURE",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "UNENCODED_URL",
    "UNMAPPED_REMOTE_USER",
    "URL",
    "URL_PATH_INFO",
    "IIS_URLREWRITEMODULE",
    "IIS_WASURLREWRITTEN",
    // Application Initialization's flag, `1` on its warm-up requests (Azure's HTTPS-redirect
    // rules skip those); empty on every request iisn serves.
    "WARMUP_REQUEST",
];

/// Prefixes of server variable families (`HTTP_X_FORWARDED_PROTO`, `CERT_SUBJECT`, ...).
const SERVER_VARIABLE_PREFIXES: &[&str] = &["HTTP_", "HTTPS_", "CERT_", "RESPONSE_", "CRYPT_"];

fn known_server_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SERVER_VARIABLES.contains(&upper.as_str())
        || SERVER_VARIABLE_PREFIXES
            .iter()
            .any(|p| upper.starts_with(p) && upper.len() > p.len())
}

/// One `{...}` in a substitution or condition input.
#[derive(Debug, PartialEq, Eq)]
enum Token<'s> {
    /// `{R:n}` / `{C:n}`.
    BackRef {
        kind: char,
        n: usize,
        range: std::ops::Range<usize>,
    },
    /// `{NAME}`.
    Variable {
        name: &'s str,
        range: std::ops::Range<usize>,
    },
    /// `{Name:argument}`: a function or a rewrite map.
    Call {
        name: &'s str,
        range: std::ops::Range<usize>,
    },
}

/// The `{...}` expansions of `s`, nested ones included, with byte ranges into `s`.
fn tokens(s: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    scan_tokens(s, 0, &mut out, 0);
    out
}

fn scan_tokens<'s>(s: &'s str, base: usize, out: &mut Vec<Token<'s>>, depth: usize) {
    if depth > 16 {
        return;
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'{' {
            i += 1;
            continue;
        }
        // The matching `}`.
        let mut level = 0usize;
        let mut end = None;
        for (j, &b) in bytes.iter().enumerate().skip(i) {
            match b {
                b'{' => level += 1,
                b'}' => {
                    level -= 1;
                    if level == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { return };
        let inner = &s[i + 1..end];
        let range = base + i..base + end + 1;
        let colon = inner.find(':').filter(|&c| !inner[..c].contains('{'));
        match colon {
            Some(c) => {
                let name = &inner[..c];
                let arg = &inner[c + 1..];
                let is_ref = (name.eq_ignore_ascii_case("R") || name.eq_ignore_ascii_case("C"))
                    && !arg.is_empty()
                    && arg.bytes().all(|b| b.is_ascii_digit());
                if is_ref {
                    out.push(Token::BackRef {
                        kind: name.to_ascii_uppercase().chars().next().unwrap_or('R'),
                        n: arg.parse().unwrap_or(usize::MAX),
                        range,
                    });
                } else {
                    out.push(Token::Call { name, range });
                    scan_tokens(arg, base + i + 1 + c + 1, out, depth + 1);
                }
            }
            None => out.push(Token::Variable { name: inner, range }),
        }
        i = end + 1;
    }
}

/// Patterns that match every URL.
pub(crate) fn is_catch_all(rule: &RewriteRule) -> bool {
    let Some(m) = &rule.match_ else { return true };
    if m.negate {
        return false;
    }
    let Some(url) = &m.url else { return true };
    let p = url.value.trim();
    match rule.pattern_syntax {
        PatternSyntax::EcmaScript => matches!(
            p,
            "" | ".*"
                | "(.*)"
                | "^.*"
                | "^(.*)"
                | "^.*$"
                | "^(.*)$"
                | ".*$"
                | "(.*)$"
                | "/*"
                | "^/*"
                | "^/*(.*)"
                | "^/*(.*)$"
                | "(.*?)"
                | "^(.*?)$"
        ),
        PatternSyntax::Wildcard => p == "*" || p.is_empty(),
        PatternSyntax::ExactMatch => false,
    }
}

fn terminates(rule: &RewriteRule) -> bool {
    rule.stop_processing
        || rule.action.as_ref().is_some_and(|a| {
            matches!(
                a.kind,
                ActionType::Redirect | ActionType::CustomResponse | ActionType::AbortRequest
            )
        })
}

pub fn run(ctx: &mut Ctx<'_>) {
    let mut targets: HashMap<String, Mapping> = HashMap::new();
    // Server variables rules set (`<serverVariables><set>`): a later rule may read them.
    let set_vars: Vec<String> = ctx
        .sections()
        .iter()
        .filter_map(|b| b.sections.rewrite.as_ref()?.rules.as_ref())
        .flat_map(|rules| &rules.ops)
        .filter_map(|op| match op {
            CollectionOp::Add(rule) => Some(rule),
            _ => None,
        })
        .flat_map(|rule| &rule.server_variables)
        .map(|sv| sv.name.value.trim().to_string())
        .collect();
    for block in ctx.sections() {
        for ne in &block.sections.not_emulated {
            not_emulated(ctx, &ne.value, ne.span);
        }
        let Some(rw) = &block.sections.rewrite else {
            continue;
        };
        if let Some(ob) = &rw.outbound {
            check_outbound(ctx, ob);
        }
        let Some(rules) = &rw.rules else { continue };
        let maps: Vec<String> = ctx
            .effective(&block.dir_rel)
            .rewrite_maps
            .iter()
            .map(|m| m.item.name.value.clone())
            .collect();
        for op in &rules.ops {
            let CollectionOp::Add(rule) = op else {
                continue;
            };
            check_rule(ctx, rule, &block.dir_rel, (&maps, &set_vars), &mut targets);
        }
    }
    reachability(ctx);
    hidden_scripts(ctx);
}

/// Outbound rules: their patterns (match and conditions, preconditions) must compile; IIS
/// answers 500.52 for a response that reaches a pattern it cannot compile.
fn check_outbound(ctx: &mut Ctx<'_>, ob: &OutboundSection) {
    let mut patterns: Vec<(String, PatternSyntax, &Spanned<String>, bool)> = Vec::new();
    for rule in ob.rules.added() {
        if let Some(p) = rule
            .match_
            .as_ref()
            .and_then(|m| m.pattern.as_ref().map(|p| (p, m.ignore_case)))
        {
            patterns.push((
                format!("outbound rule `{}`", rule.name.value),
                rule.pattern_syntax,
                p.0,
                p.1,
            ));
        }
        for c in &rule.conditions.items {
            if let Some(p) = &c.pattern {
                patterns.push((
                    format!("a condition of outbound rule `{}`", rule.name.value),
                    rule.pattern_syntax,
                    p,
                    c.ignore_case,
                ));
            }
        }
    }
    for pc in ob.pre_conditions.iter().flat_map(|c| c.added()) {
        for c in &pc.conditions.items {
            if let Some(p) = &c.pattern {
                patterns.push((
                    format!("precondition `{}`", pc.name.value),
                    pc.pattern_syntax,
                    p,
                    c.ignore_case,
                ));
            }
        }
    }
    for (what, syntax, p, ignore_case) in patterns {
        if let Err(e) = pattern::compile(syntax, &p.value, ignore_case) {
            ctx.push(
                Diagnostic::new(
                    &codes::REGEX_SYNTAX,
                    format!("the pattern of {what} does not compile: {}", e.message),
                )
                .at(p.span)
                .help(e.hint.clone().unwrap_or_else(|| {
                    "Fix the regular expression (ECMAScript syntax); IIS answers 500.52 for responses that reach this rule, and iisn skips the rule.".into()
                })),
            );
        }
    }
}

/// Sections applicationHost.config declares with `overrideModeDefault="Deny"` (IIS 10).
const LOCKED_BY_DEFAULT: &[&str] = &[
    "system.webServer/security/authentication/anonymousAuthentication",
    "system.webServer/security/authentication/basicAuthentication",
    "system.webServer/security/authentication/clientCertificateMappingAuthentication",
    "system.webServer/security/authentication/digestAuthentication",
    "system.webServer/security/authentication/iisClientCertificateMappingAuthentication",
    "system.webServer/security/authentication/windowsAuthentication",
    "system.webServer/security/access",
    "system.webServer/security/ipSecurity",
    "system.webServer/serverRuntime",
    "system.webServer/asp",
];

fn not_emulated(ctx: &mut Ctx<'_>, path: &str, span: Span) {
    if let Some(locked) = LOCKED_BY_DEFAULT
        .iter()
        .find(|l| l.eq_ignore_ascii_case(path))
    {
        let name = locked.rsplit('/').next().unwrap_or(locked);
        ctx.push(
            Diagnostic::new(
                &codes::LOCKED_SECTION,
                format!(
                    "<{name}> is locked at the server level on a stock IIS: unless the server unlocks it, IIS answers 500.19 (0x80070021) for this folder"
                ),
            )
            .at(span)
            .help(format!(
                "Unlock it on the server (appcmd unlock config -section:{locked}) or remove it from web.config; iisn does not emulate it."
            )),
        );
        return;
    }
    if path.ends_with("(response body rules)") {
        ctx.push(
            Diagnostic::new(
                &codes::NOT_EMULATED,
                "outbound rules that rewrite response bodies (filterByTags, or a <match> without serverVariable) are not emulated: iisn sends the body unchanged",
            )
            .at(span)
            .help("Nothing to change for IIS; under iisn only outbound rules on response headers (serverVariable=\"RESPONSE_...\") run."),
        );
        return;
    }
    ctx.push(
        Diagnostic::new(
            &codes::NOT_EMULATED,
            format!("iisn reads <{}> but does not emulate it", path.rsplit('/').next().unwrap_or(path)),
        )
        .at(span)
        .help("Nothing to change for IIS; under iisn, behaviour that depends on this section differs."),
    );
}

/// The captures a rule's back-references may use.
struct Groups {
    /// Highest `{R:n}`; `None` when the pattern did not compile (nothing to say).
    rule: Option<usize>,
    negated: bool,
    /// Highest `{C:n}`; `None` when no condition captures anything.
    cond: Option<Option<usize>>,
}

fn compile_and_report(
    ctx: &mut Ctx<'_>,
    rule: &RewriteRule,
    text: &str,
    span: Span,
    ignore_case: bool,
    what: &str,
) -> Option<Pattern> {
    let name = &rule.name.value;
    if rule.pattern_syntax == PatternSyntax::Wildcard
        && let Some(q) = text.find('?')
    {
        ctx.push(
            Diagnostic::new(
                &codes::WILDCARD_QUESTION_MARK,
                format!("the {what} of rule `{name}` uses `?`, which Wildcard patterns do not support"),
            )
            .at(ctx.sub_span(span, text, q..q + 1))
            .help("Use `*`, or set patternSyntax=\"ECMAScript\" on the rule and write a regular expression."),
        );
    }
    match pattern::compile(rule.pattern_syntax, text, ignore_case) {
        Err(e) => {
            ctx.push(
                Diagnostic::new(
                    &codes::REGEX_SYNTAX,
                    format!("the {what} of rule `{name}` does not compile: {}", e.message),
                )
                .at(span)
                .help(e.hint.clone().unwrap_or_else(|| {
                    "Fix the regular expression (ECMAScript syntax); IIS answers 500.50 for requests that reach this rule.".into()
                })),
            );
            None
        }
        Ok(p) => {
            match p.fallback() {
                Some(Fallback::IdentityEscapes { compiled_as, removed }) => ctx.push(
                    Diagnostic::new(
                        &codes::REGEX_NONSTANDARD,
                        format!(
                            "the {what} of rule `{name}` escapes characters that need no escape in ECMAScript ({})",
                            removed.join(", ")
                        ),
                    )
                    .at(span)
                    .help(format!("Remove the needless backslashes: `{compiled_as}`.")),
                ),
                Some(Fallback::Legacy { reason }) => ctx.push(
                    Diagnostic::new(
                        &codes::REGEX_NONSTANDARD,
                        format!(
                            "the {what} of rule `{name}` is valid only in lenient ECMAScript ({reason})"
                        ),
                    )
                    .at(span)
                    .help("Escape `}` and `]` meant literally, and put `-` first or last in a character class."),
                ),
                None => {}
            }
            if let Some(r) = p.nested_quantifier() {
                ctx.push(
                    Diagnostic::new(
                        &codes::REGEX_BACKTRACKING,
                        format!(
                            "the {what} of rule `{name}` repeats a group that ends in a repetition (`{}`): some URLs take exponential time",
                            text.get(r.clone()).unwrap_or(text)
                        ),
                    )
                    .at(ctx.sub_span(span, text, r))
                    .help("Rewrite the group so that each character can match in one way only, e.g. `(a+)+` as `a+`."),
                );
            }
            Some(p)
        }
    }
}

fn check_rule(
    ctx: &mut Ctx<'_>,
    rule: &RewriteRule,
    dir_rel: &str,
    (maps, set_vars): (&[String], &[String]),
    targets: &mut HashMap<String, Mapping>,
) {
    let name = rule.name.value.clone();
    // The rule's own pattern.
    let mut groups = Groups {
        rule: Some(0),
        negated: false,
        cond: None,
    };
    if let Some(m) = &rule.match_
        && let Some(url) = &m.url
    {
        groups.negated = m.negate;
        let p = compile_and_report(ctx, rule, &url.value, url.span, m.ignore_case, "pattern");
        groups.rule = p.as_ref().map(Pattern::captures_len);
        never_matches(ctx, rule, &url.value, url.span, m.negate);
    }
    // Conditions.
    let mut any_cond_pattern = false;
    let mut cond_failed = false;
    let mut cond_max = 0usize;
    let mut cond_sum = 0usize;
    for c in &rule.conditions.items {
        if c.match_type != MatchType::Pattern {
            continue;
        }
        let Some(p) = &c.pattern else { continue };
        match compile_and_report(
            ctx,
            rule,
            &p.value,
            p.span,
            c.ignore_case,
            "condition pattern",
        ) {
            Some(compiled) if !c.negate => {
                any_cond_pattern = true;
                cond_max = cond_max.max(compiled.captures_len());
                cond_sum += compiled.captures_len();
            }
            Some(_) => {}
            None => cond_failed = true,
        }
    }
    groups.cond = if cond_failed {
        None
    } else if any_cond_pattern {
        Some(Some(if rule.conditions.track_all_captures {
            cond_sum
        } else {
            cond_max
        }))
    } else {
        Some(None)
    };
    // Expansions: condition inputs, the action, server variables.
    let mut texts: Vec<(String, Span)> = rule
        .conditions
        .items
        .iter()
        .map(|c| (c.input.value.clone(), c.input.span))
        .collect();
    if let Some(a) = &rule.action {
        for s in [&a.url, &a.status_reason, &a.status_description]
            .into_iter()
            .flatten()
        {
            texts.push((s.value.clone(), s.span));
        }
    }
    for sv in &rule.server_variables {
        texts.push((sv.value.value.clone(), sv.value.span));
    }
    for (text, span) in &texts {
        check_expansions(ctx, &name, text, *span, &groups, (maps, set_vars));
    }
    for sv in &rule.server_variables {
        ctx.push(
            Diagnostic::new(
                &codes::SERVER_VARIABLE_NOT_ALLOWED,
                format!(
                    "rule `{name}` sets the server variable {}, which IIS allows only if applicationHost.config lists it in <allowedServerVariables>",
                    sv.name.value
                ),
            )
            .at(sv.name.span)
            .help("Make sure the server allows it (on Azure App Service, with an applicationHost.xdt transform); otherwise requests that reach this rule get 500.50."),
        );
    }
    if let Some(a) = &rule.action {
        check_action(ctx, rule, a, dir_rel, targets);
    }
}

fn check_expansions(
    ctx: &mut Ctx<'_>,
    rule: &str,
    text: &str,
    span: Span,
    groups: &Groups,
    (maps, set_vars): (&[String], &[String]),
) {
    for t in tokens(text) {
        match t {
            Token::BackRef { kind, n, range } => {
                let written = text.get(range.clone()).unwrap_or_default().to_string();
                let problem = match kind {
                    'R' if groups.negated && n > 0 => Some(format!(
                        "{written} refers to a capture of rule `{rule}`, whose pattern is negated and captures nothing"
                    )),
                    'R' => match groups.rule {
                        Some(max) if n > max => Some(format!(
                            "{written} refers to group {n}, but the pattern of rule `{rule}` has {}",
                            crate::ui::plural(max, "group", "groups")
                        )),
                        _ => None,
                    },
                    _ => match groups.cond {
                        Some(None) => Some(format!(
                            "{written} refers to a condition capture, but no condition of rule `{rule}` matches a pattern"
                        )),
                        Some(Some(max)) if n > max => Some(format!(
                            "{written} refers to group {n}, but the condition patterns of rule `{rule}` have {}",
                            crate::ui::plural(max, "group", "groups")
                        )),
                        _ => None,
                    },
                };
                if let Some(msg) = problem {
                    ctx.push(
                        Diagnostic::new(&codes::MISSING_CAPTURE_GROUP, msg)
                            .at(ctx.sub_span(span, text, range))
                            .help("Refer to a group that exists (0 is the whole match), or add parentheses around the part to capture."),
                    );
                }
            }
            Token::Call { name, range } => {
                let known = FUNCTIONS.iter().any(|f| f.eq_ignore_ascii_case(name))
                    || maps.iter().any(|m| m.eq_ignore_ascii_case(name));
                if !known {
                    let d = Diagnostic::new(
                        &codes::UNKNOWN_REWRITE_FUNCTION,
                        format!("`{{{name}:...}}` in rule `{rule}` names neither a string function nor a rewrite map"),
                    )
                    .at(ctx.sub_span(span, text, range))
                    .help(if maps.is_empty() {
                        format!("Define <rewriteMap name=\"{name}\"> under <rewrite><rewriteMaps>, or use ToLower, UrlEncode, UrlDecode or HtmlEncode.")
                    } else {
                        format!(
                            "Use a defined rewrite map ({}) or a string function (ToLower, UrlEncode, UrlDecode, HtmlEncode).",
                            maps.join(", ")
                        )
                    });
                    ctx.push(d);
                }
            }
            Token::Variable { name, range } => {
                if !known_server_variable(name)
                    && !set_vars.iter().any(|v| v.eq_ignore_ascii_case(name))
                {
                    ctx.push(
                        Diagnostic::new(
                            &codes::UNKNOWN_SERVER_VARIABLE,
                            format!("`{{{name}}}` in rule `{rule}` is not a server variable: it expands to an empty string"),
                        )
                        .at(ctx.sub_span(span, text, range))
                        .help("Check the spelling (REQUEST_URI, QUERY_STRING, HTTPS, HTTP_HOST, ...); request headers are HTTP_<NAME> with `-` written as `_`."),
                    );
                }
            }
        }
    }
}

fn never_matches(ctx: &mut Ctx<'_>, rule: &RewriteRule, url: &str, span: Span, negate: bool) {
    let name = &rule.name.value;
    let p = url.trim();
    let leading_slash = match rule.pattern_syntax {
        PatternSyntax::EcmaScript => p
            .strip_prefix("^/")
            .is_some_and(|rest| !rest.starts_with(['*', '?', '{'])),
        PatternSyntax::Wildcard | PatternSyntax::ExactMatch => p.starts_with('/'),
    };
    if leading_slash && !negate {
        let fixed = match rule.pattern_syntax {
            PatternSyntax::EcmaScript => format!("^{}", &p[2..]),
            _ => p[1..].to_string(),
        };
        ctx.push(
            Diagnostic::new(
                &codes::RULE_NEVER_MATCHES,
                format!("the pattern of rule `{name}` requires a leading `/`, but the URL a rule sees has none"),
            )
            .at(span)
            .help(format!("Drop the slash: `{fixed}` (the input for /api/x at the site root is `api/x`).")),
        );
    } else if negate && is_catch_all_text(rule.pattern_syntax, p) {
        ctx.push(
            Diagnostic::new(
                &codes::RULE_NEVER_MATCHES,
                format!("rule `{name}` negates a pattern that matches every URL, so it never runs"),
            )
            .at(span)
            .help("Remove negate=\"true\", or match what should be excluded."),
        );
    }
}

fn is_catch_all_text(syntax: PatternSyntax, p: &str) -> bool {
    match syntax {
        PatternSyntax::EcmaScript => matches!(
            p,
            "" | ".*" | "(.*)" | "^.*" | "^(.*)" | "^.*$" | "^(.*)$" | "/*" | "^/*"
        ),
        PatternSyntax::Wildcard => p == "*",
        PatternSyntax::ExactMatch => false,
    }
}

/// Whether a rule after `rule` (in the rules that apply to its folder) has a pattern that
/// matches the URL `rule` rewrites to, `resolved` (site-relative, no leading slash). The
/// conditions are not evaluated: a rule that may run is enough not to call the target a 404.
fn a_later_rule_matches(ctx: &Ctx<'_>, rule: &RewriteRule, dir_rel: &str, resolved: &str) -> bool {
    let eff = ctx.effective(dir_rel);
    let mut after = false;
    for e in &eff.rules {
        let r = &e.item;
        if !after {
            after = std::ptr::eq(r, rule)
                || (r.name.value.eq_ignore_ascii_case(&rule.name.value)
                    && e.level
                        .trim_matches('/')
                        .eq_ignore_ascii_case(dir_rel.trim_matches('/')));
            continue;
        }
        if !r.enabled {
            continue;
        }
        let level = e.level.trim_matches('/');
        let input = if level.is_empty() {
            Some(resolved)
        } else {
            strip_prefix_ci(resolved, level).and_then(|rest| {
                rest.strip_prefix('/')
                    .or(Some(rest).filter(|r| r.is_empty()))
            })
        };
        let Some(input) = input else { continue };
        let Some(m) = &r.match_ else { return true };
        let Some(url) = &m.url else { return true };
        match pattern::compile(r.pattern_syntax, &url.value, m.ignore_case) {
            Ok(p) if p.is_match(input) != m.negate => return true,
            Ok(_) => {}
            // A pattern that does not compile is reported on its own.
            Err(_) => {}
        }
    }
    false
}

fn check_action(
    ctx: &mut Ctx<'_>,
    rule: &RewriteRule,
    a: &RuleAction,
    dir_rel: &str,
    targets: &mut HashMap<String, Mapping>,
) {
    let name = &rule.name.value;
    if matches!(a.kind, ActionType::Rewrite | ActionType::Redirect) && a.url.is_none() {
        ctx.push(
            Diagnostic::new(
                &codes::ACTION_MISSING_URL,
                format!("the {} action of rule `{name}` has no url", if a.kind == ActionType::Rewrite { "Rewrite" } else { "Redirect" }),
            )
            .at(a.span)
            .help("Add url=\"...\" with the substitution, or use type=\"None\" to only stop processing."),
        );
    }
    if a.kind == ActionType::Redirect
        && let Some((span, text)) = ctx.attr_in_tag(a.span, "redirectType")
    {
        let named = match text.trim() {
            "301" => Some("Permanent"),
            "302" => Some("Found"),
            "303" => Some("SeeOther"),
            "307" => Some("Temporary"),
            _ => None,
        };
        if let Some(named) = named {
            ctx.push(
                Diagnostic::new(
                    &codes::REDIRECT_TYPE_NUMERIC,
                    format!("redirectType is written as the number {}", text.trim()),
                )
                .at(span)
                .help(format!("Write redirectType=\"{named}\".")),
            );
        }
    }
    if a.kind != ActionType::Rewrite || !rule.enabled {
        return;
    }
    let Some(url) = &a.url else { return };
    let target = url.value.trim();
    if target.contains("://") {
        ctx.push(
            Diagnostic::new(
                &codes::REWRITE_TO_URL,
                format!("rule `{name}` rewrites to an absolute URL, which IIS can only do as a proxy (Application Request Routing)"),
            )
            .at(url.span)
            .help("Use type=\"Redirect\" to send the client there, or install and enable ARR on the server; iisn does not proxy."),
        );
        return;
    }
    if target.contains('{') || target.is_empty() {
        return;
    }
    let path = target.split('?').next().unwrap_or(target);
    // serve decodes the substitution's path once (`static/%61.txt` is `static/a.txt`).
    let decoded = crate::serve::router::percent_decode(path);
    let Some(resolved) = resolve_url_path(dir_rel, decoded.as_deref().unwrap_or(path)) else {
        return;
    };
    // A rule that does not stop hands the rewritten URL to the rules after it, which may
    // rewrite it again (`a` → `b`, then `b` → `server.js`).
    if !terminates(rule) && a_later_rule_matches(ctx, rule, dir_rel, &resolved) {
        return;
    }
    if hidden_by(
        ctx,
        &resolved,
        url.span,
        &format!("rule `{name}` rewrites to"),
    ) {
        return;
    }
    let mapping = targets
        .entry(resolved.clone())
        .or_insert_with(|| map_url(ctx, &resolved))
        .clone();
    if matches!(mapping, Mapping::Iisnode { .. }) {
        return;
    }
    let lower = resolved.to_ascii_lowercase();
    let exists = rel_to_path(&ctx.site.root, &resolved).exists();
    let msg = if let Mapping::Misfit { handler } = &mapping {
        format!(
            "rule `{name}` rewrites to `{resolved}`, whose handler mapping `{}` wants another kind of resource (resourceType): 404",
            handler.name.value
        )
    } else if lower.ends_with(".js") || lower.ends_with(".mjs") || lower.ends_with(".cjs") {
        if exists {
            format!(
                "rule `{name}` rewrites to `{resolved}`, which no iisnode handler maps: IIS would send its source code"
            )
        } else {
            format!(
                "rule `{name}` rewrites to `{resolved}`, which no iisnode handler maps and which does not exist: 404"
            )
        }
    } else if !exists {
        format!(
            "rule `{name}` rewrites to `{resolved}`, which does not exist and which no iisnode handler maps: 404"
        )
    } else {
        return;
    };
    let handlers: Vec<String> = ctx
        .site
        .apps
        .iter()
        .map(|a| format!("`{}`", a.script_rel))
        .collect();
    let help = if handlers.is_empty() {
        format!(
            "Add <add name=\"iisnode\" path=\"{path}\" verb=\"*\" modules=\"iisnode\"/> to <handlers>."
        )
    } else {
        format!(
            "Rewrite to a script an iisnode handler maps ({}), or add a handler for `{path}`.",
            handlers.join(", ")
        )
    };
    ctx.push(
        Diagnostic::new(&codes::REWRITE_TARGET_UNMAPPED, msg)
            .at(url.span)
            .help(help),
    );
}

/// Reports a URL path under a hidden segment; returns whether it did.
fn hidden_by(ctx: &mut Ctx<'_>, url: &str, span: Span, what: &str) -> bool {
    let eff = ctx.effective(parent_rel(url));
    let hidden = url.split('/').find_map(|seg| {
        eff.hidden_segments
            .iter()
            .find(|h| h.item.segment.value.eq_ignore_ascii_case(seg))
    });
    let Some(h) = hidden else { return false };
    let seg = h.item.segment.value.clone();
    let mut d = Diagnostic::new(
        &codes::HIDDEN_TARGET,
        format!("{what} `{url}`, under the hidden segment `{seg}`: IIS answers 404.8"),
    )
    .at(span)
    .help(format!(
        "Add <remove segment=\"{seg}\"/> under <security><requestFiltering><hiddenSegments>, or move the file."
    ));
    if h.item.span.is_builtin() {
        d = d.note(format!("`{seg}` is one of IIS's built-in hidden segments"));
    } else {
        d = d.label(h.item.span, "hidden here");
    }
    ctx.push(d);
    true
}

/// Scripts that iisnode handlers map under a hidden segment.
fn hidden_scripts(ctx: &mut Ctx<'_>) {
    let apps: Vec<(String, Span)> = ctx
        .site
        .apps
        .iter()
        .map(|a| (a.script_rel.clone(), a.handler.path.span))
        .collect();
    for (script, span) in apps {
        hidden_by(ctx, &script, span, "the handler maps");
    }
}

/// Rules after a catch-all that stops processing.
fn reachability(ctx: &mut Ctx<'_>) {
    let mut dirs: Vec<String> = ctx.sections().into_iter().map(|b| b.dir_rel).collect();
    dirs.dedup();
    let mut reported: HashSet<Span> = HashSet::new();
    for dir in dirs {
        let eff = ctx.effective(&dir);
        let mut stopper: Option<&RewriteRule> = None;
        for e in &eff.rules {
            let rule = &e.item;
            if !rule.enabled {
                continue;
            }
            if let Some(s) = stopper {
                if reported.insert(rule.name.span) {
                    let how = if s.stop_processing {
                        "stops processing"
                    } else {
                        "ends the request"
                    };
                    ctx.push(
                        Diagnostic::new(
                            &codes::UNREACHABLE_RULE,
                            format!(
                                "rule `{}` never runs: rule `{}` before it matches every URL and {how}",
                                rule.name.value, s.name.value
                            ),
                        )
                        .at(rule.name.span)
                        .label(s.name.span, "this rule catches every URL")
                        .help(format!(
                            "Move rule `{}` after the rules it should not hide, or add conditions to it.",
                            s.name.value
                        )),
                    );
                }
                continue;
            }
            if is_catch_all(rule) && rule.conditions.items.is_empty() && terminates(rule) {
                stopper = Some(rule);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_tokens() {
        let t = tokens("{ToLower:{R:1}}/{HTTP_HOST}/{C:2}{Map:{REQUEST_URI}}");
        assert_eq!(
            t,
            vec![
                Token::Call {
                    name: "ToLower",
                    range: 0..15
                },
                Token::BackRef {
                    kind: 'R',
                    n: 1,
                    range: 9..14
                },
                Token::Variable {
                    name: "HTTP_HOST",
                    range: 16..27
                },
                Token::BackRef {
                    kind: 'C',
                    n: 2,
                    range: 28..33
                },
                Token::Call {
                    name: "Map",
                    range: 33..52
                },
                Token::Variable {
                    name: "REQUEST_URI",
                    range: 38..51
                },
            ]
        );
        assert!(tokens("{unclosed").is_empty());
        assert!(tokens("plain/path").is_empty());
    }

    #[test]
    fn server_variables() {
        assert!(known_server_variable("request_uri"));
        assert!(known_server_variable("HTTP_X_FORWARDED_PROTO"));
        assert!(!known_server_variable("REQUEST_URL"));
        assert!(!known_server_variable("HTTP_"));
    }
}
