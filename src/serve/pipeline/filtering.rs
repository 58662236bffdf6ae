//! IIS request filtering (`system.webServer/security/requestFiltering`), the first step of
//! the pipeline.
//!
//! IIS's RequestFilteringModule runs at BeginRequest, before URL Rewrite, and refuses a
//! request with a 404 sub-status (iis-webconfig.md §3.5, §6, §8). iisn checks, in this order:
//!
//! | check | status | setting |
//! |---|---|---|
//! | URL longer than `maxUrl` bytes (raw path, no query; see below for PATH_INFO) | 404.14 | `requestLimits maxUrl` (4096) |
//! | query string longer than `maxQueryString` bytes | 404.15 | `requestLimits maxQueryString` (2048) |
//! | `Content-Length` above `maxAllowedContentLength` | 413.1 | `requestLimits maxAllowedContentLength` (30000000) |
//! | the verb denied, or unlisted with `allowUnlisted="false"` | 404.6 | `verbs` |
//! | a `%XX` escape or `+` left after decoding once | 404.11 | `allowDoubleEscaping="false"` |
//! | a non-ASCII byte, raw or percent-decoded | 404.12 | `allowHighBitCharacters="false"` |
//! | a denied sequence in the URL (raw or decoded), ASCII case-insensitive | 404.5 | `denyUrlSequences` |
//! | a denied sequence in the query string (raw or decoded) | 404.18 | `denyQueryStringSequences` |
//! | a path segment in the hidden list | 404.8 | `hiddenSegments` (stock: `web.config`, `bin`, `App_Data`, ...) |
//! | the last segment's extension (the script's, see below) denied or unlisted | 404.7 | `fileExtensions` (stock: `.config`, `.cs`, ...) |
//! | a request header longer than its `sizeLimit` (bytes of the value; `0` = no limit) | 431 | `requestLimits/headerLimits` |
//! | a rule's deny string in what it scans, ASCII case-insensitive | 404.19 | `filteringRules` |
//!
//! `alwaysAllowedUrls` and `alwaysAllowedQueryStrings` (IIS 7.5+) exempt a request from the
//! deny-string checks of its URL or query string: Microsoft's reference says they override
//! `denyUrlSequences` and `denyQueryStringSequences`; iisn also lets them override the URL
//! scan and the query-string scan (with `denyUnescapedPercent`) of `filteringRules`, as
//! URLScan 3's `[AlwaysAllowedUrls]`, their ancestor, bypassed its rules. Every other check
//! (limits, verbs, escaping, hidden segments, extensions, header scans) still applies, so an
//! allow-list entry can never expose `web.config`. An entry matches exactly, ASCII
//! case-insensitively: a URL entry the URL path decoded once (`/search.aspx`, with the
//! `--app-path` prefix, no query string), a query-string entry the query string as sent or
//! decoded once (a leading `?` in the entry is ignored).
//!
//! `filteringRules` (iis.net, `requestFiltering/filteringRules/filteringRule`): a rule whose
//! `<appliesTo>` is empty applies to every request, else to URLs whose last segment has one
//! of the listed extensions (`.` for none, as in `fileExtensions`). It looks for each of its
//! `<denyStrings>`, ASCII case-insensitively:
//!
//! * `scanUrl`: in the URL path as sent, decoded once and normalised (IIS scans its
//!   normalised URL; the other two forms cost little and keep `%2e%2e` or `/./` from hiding a
//!   string);
//! * `scanQueryString`: in the query string as sent and decoded once (IIS makes these two
//!   scans when `unescapeQueryString` is true, its default; iisn always makes both);
//! * `<scanHeaders>`: in each value of each listed request header;
//! * `scanAllRaw`: in every request header, as a `name: value` line;
//! * `denyUnescapedPercent`: a `%` in the query string not followed by two hex digits denies
//!   the request (in the path such a `%` is already a 400).
//!
//! Rules run last, after the built-in checks they extend (IIS's reference gives no order;
//! it only decides which sub-status a request that fails two checks gets). They scan the
//! URL as requested, never the rewritten one: IIS runs request filtering once, at
//! BeginRequest. A site without rules does no work for them.
//!
//! **PATH_INFO**: when handler mapping splits the URL into a script and PATH_INFO
//! (`/server.js/a/very/long/path`, `/server.js/report.csv`), `maxUrl` and `fileExtensions`
//! judge the script's part only (observed on IIS 10: with `maxUrl="40"`, a page plus path
//! info to 100 bytes is served). The split is found ([`crate::serve::router::script_end`])
//! only when one of these two refuses the whole URL ([`Filter::split_matters`]), so a request
//! they pass does no more work; the script's length is then its decoded URL's, as IIS's
//! `SCRIPT_NAME`. Hidden segments, sequences, `filteringRules` (`appliesTo` included) and
//! the other checks still look at the whole URL (nothing observed says otherwise). The same
//! holds for the check of a rewritten URL.
//!
//! Choices where IIS's own documentation disagrees or iisn adds something:
//!
//! * **413.1, not 404.13**, for an oversized body: IIS 7's documentation and status table say
//!   404.13, the IIS 10 request-filtering reference says 413.1; iisn emulates IIS 10. Only a
//!   declared `Content-Length` is checked, as on IIS: a chunked body is not counted (iisnode's
//!   functional test 141 uploads 31 MiB chunked through the default 30 MB limit).
//! * **Hidden segments before extensions**: `GET /web.config` is denied twice over; IIS reports
//!   it as 404.8 ("hidden namespace"), so iisn checks hidden segments first.
//! * **`iisnode.yml` is always hidden** (404.8), whatever `<hiddenSegments>` says: it holds
//!   iisnode's settings (possibly a `nodeProcessCommandLine` with secrets). On IIS it is safe
//!   only by accident (no MIME map for `.yml`); iisn makes that a rule instead of adding it to
//!   the stock list, so `<clear/>` cannot expose it.
//! * Segments are compared ASCII case-insensitively, as on Windows.
//! * **431 for `headerLimits`**: IIS 7's status table names 404.10 "request header too
//!   long", the request-filtering reference 431 "Request Header Fields Too Large"; IIS 10
//!   answers 431 from RequestFilteringModule, with `Connection: close` (observed, RL19).
//!
//! [`Filter::check_url`] is also applied to the URL after URL Rewrite, so a rule cannot
//! rewrite into a hidden folder (inferred, iis-webconfig.md §3.5).

use http::HeaderMap;

use crate::config::model::{EffectiveConfig, RequestLimits};
use crate::config::web_config::FilteringRule;

use super::errors::IisError;

/// Segments iisn never serves, whatever the configuration says (see the module docs).
pub const ALWAYS_HIDDEN: &[&str] = &["iisnode.yml"];

/// The filtering lists of one folder, prepared once per configuration load.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Lower-cased hidden segments.
    hidden: Vec<String>,
    hidden_summary: Summary,
    /// Lower-cased extensions (with their dot) and whether they are allowed.
    extensions: Vec<(String, bool)>,
    extension_summary: Summary,
    allow_unlisted: bool,
    limits: RequestLimits,
    allow_double_escaping: bool,
    allow_high_bit: bool,
    /// Verbs (as written) and whether they are allowed.
    verbs: Vec<(String, bool)>,
    verbs_allow_unlisted: bool,
    /// Lower-cased denied sequences.
    deny_url: Vec<String>,
    deny_query: Vec<String>,
    /// Header names and their size limits (0 = no limit).
    header_limits: Vec<(String, u64)>,
    /// `filteringRules` that can deny something, in order.
    rules: Vec<Rule>,
    /// `alwaysAllowedUrls` (as written, trimmed) and `alwaysAllowedQueryStrings` (without a
    /// leading `?`).
    always_urls: Vec<String>,
    always_queries: Vec<String>,
}

/// A `filteringRule`, ready to scan.
#[derive(Debug, Clone)]
struct Rule {
    name: String,
    scan_url: bool,
    scan_query: bool,
    scan_all_raw: bool,
    deny_unescaped_percent: bool,
    headers: Vec<http::HeaderName>,
    /// Lower-cased extensions with their dot; empty: every request.
    applies_to: Vec<String>,
    /// Lower-cased, never empty.
    deny: Vec<String>,
}

impl Rule {
    fn compile(r: &FilteringRule) -> Option<Rule> {
        let rule = Rule {
            name: r.name.value.clone(),
            scan_url: r.scan_url,
            scan_query: r.scan_query_string,
            scan_all_raw: r.scan_all_raw,
            deny_unescaped_percent: r.deny_unescaped_percent,
            // A name that is not a valid header name can never be sent, so never matches.
            headers: r
                .scan_headers
                .iter()
                .filter_map(|h| http::HeaderName::from_bytes(h.value.trim().as_bytes()).ok())
                .collect(),
            applies_to: r
                .applies_to
                .iter()
                .map(|e| {
                    let mut ext = e.value.trim().to_ascii_lowercase();
                    if !ext.starts_with('.') {
                        ext.insert(0, '.');
                    }
                    ext
                })
                .collect(),
            deny: r
                .deny_strings
                .iter()
                .map(|d| d.value.to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
        };
        let scans =
            rule.scan_url || rule.scan_query || rule.scan_all_raw || !rule.headers.is_empty();
        (rule.deny_unescaped_percent || scans && !rule.deny.is_empty()).then_some(rule)
    }

    /// Whether the rule looks at nothing but the URL path.
    fn url_only(&self) -> bool {
        !self.scan_query
            && !self.deny_unescaped_percent
            && !self.scan_all_raw
            && self.headers.is_empty()
    }

    /// The first deny string `text` holds.
    fn found(&self, text: &[u8]) -> Option<&str> {
        self.deny
            .iter()
            .find(|d| contains_ci(text, d.as_bytes()))
            .map(String::as_str)
    }

    fn denial(&self, found: &str, place: &str) -> IisError {
        denial(
            404,
            19,
            format!(
                "The filtering rule \"{}\" denies the request: its deny string \"{found}\" is in the {place}.",
                self.name
            ),
        )
    }
}

/// What filtering looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The path as sent (percent-encoded), including any `--app-path` prefix.
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    /// The path decoded once, before normalisation.
    pub decoded: &'a str,
    /// The normalised site path (`/a/b`).
    pub site_path: &'a str,
    pub content_length: Option<u64>,
    pub method: &'a str,
    pub headers: Option<&'a HeaderMap>,
    /// The script when handler mapping splits the URL into a script and PATH_INFO
    /// (`/server.js/a/b`), else `None` (see [`Filter::split_matters`]).
    pub script: Option<ScriptPart<'a>>,
}

/// The part of a URL up to the script handler mapping found in it: what `maxUrl` and
/// `fileExtensions` look at on IIS, which leave the PATH_INFO after it alone (observed on
/// IIS 10: with `maxUrl="40"`, `/l1/probe.aspx/` plus path info to 100 bytes is served).
#[derive(Debug, Clone, Copy)]
pub struct ScriptPart<'a> {
    /// The script's site path (`/app/server.js`), normalised.
    pub site_path: &'a str,
    /// The length of the script's URL as IIS's `SCRIPT_NAME` gives it: decoded, with any
    /// `--app-path` prefix.
    pub url_len: usize,
}

fn denial(status: u16, substatus: u32, detail: String) -> IisError {
    let mut e = IisError::new(status, substatus, detail);
    e.module = "RequestFilteringModule";
    e.notification = "BeginRequest";
    e
}

/// `%` followed by two hex digits.
fn has_escape(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
}

fn sequences(
    list: &[crate::config::model::Entry<crate::config::web_config::DenySequence>],
) -> Vec<String> {
    list.iter()
        .map(|e| e.item.sequence.value.to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `text` holds `seq` (lower-cased), ASCII case-insensitively. Bytes, not `str`:
/// header values need not be UTF-8.
fn contains_ci(text: &[u8], seq: &[u8]) -> bool {
    seq.len() <= text.len()
        && text
            .windows(seq.len())
            .any(|w| w.iter().zip(seq).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// A `%` not followed by two hex digits.
fn has_bare_percent(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// The extension `fileExtensions` and `appliesTo` look at: the last segment's, with its
/// dot, or `.` for a segment without one.
fn extension(site_path: &str) -> &str {
    let last = site_path.split('/').rfind(|s| !s.is_empty()).unwrap_or("");
    last.rfind('.').map_or(".", |i| &last[i..])
}

/// A 256-bit summary of a list of names (ASCII case-insensitive): a name whose bit is
/// clear is not in the list, so most lookups skip the list (the stock extension list has
/// about 45 entries, and every request looks up its extension).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Summary([u64; 4]);

impl Summary {
    fn bit(name: &[u8]) -> usize {
        let second = name.get(1).map_or(0, u8::to_ascii_lowercase) as usize;
        let last = name.last().map_or(0, u8::to_ascii_lowercase) as usize;
        (name.len().wrapping_mul(31) ^ second.wrapping_mul(7) ^ last) & 255
    }

    fn of<'a>(names: impl Iterator<Item = &'a str>) -> Summary {
        let mut s = Summary::default();
        for n in names {
            let b = Summary::bit(n.as_bytes());
            s.0[b >> 6] |= 1 << (b & 63);
        }
        s
    }

    fn may_hold(&self, name: &str) -> bool {
        let b = Summary::bit(name.as_bytes());
        self.0[b >> 6] & (1 << (b & 63)) != 0
    }
}

impl Filter {
    pub fn new(eff: &EffectiveConfig) -> Filter {
        let mut f = Filter::lists(eff);
        f.hidden_summary = Summary::of(f.hidden.iter().map(String::as_str));
        f.extension_summary = Summary::of(f.extensions.iter().map(|(e, _)| e.as_str()));
        f
    }

    fn lists(eff: &EffectiveConfig) -> Filter {
        Filter {
            hidden_summary: Summary::default(),
            extension_summary: Summary::default(),
            hidden: eff
                .hidden_segments
                .iter()
                .map(|h| h.item.segment.value.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
            extensions: eff
                .file_extensions
                .iter()
                .map(|e| {
                    let mut ext = e.item.file_extension.value.trim().to_ascii_lowercase();
                    if !ext.starts_with('.') {
                        ext.insert(0, '.');
                    }
                    (ext, e.item.allowed)
                })
                .collect(),
            allow_unlisted: eff.file_extensions_allow_unlisted,
            limits: eff.request_limits,
            allow_double_escaping: eff.allow_double_escaping,
            allow_high_bit: eff.allow_high_bit_characters,
            verbs: eff
                .verbs
                .iter()
                .map(|v| (v.item.verb.value.trim().to_string(), v.item.allowed))
                .collect(),
            verbs_allow_unlisted: eff.verbs_allow_unlisted,
            deny_url: sequences(&eff.deny_url_sequences),
            deny_query: sequences(&eff.deny_query_string_sequences),
            header_limits: eff
                .header_limits
                .iter()
                .map(|h| (h.item.header.value.trim().to_string(), h.item.size_limit))
                .collect(),
            rules: eff
                .filtering_rules
                .iter()
                .filter_map(|r| Rule::compile(&r.item))
                .collect(),
            always_urls: eff
                .always_allowed_urls
                .iter()
                .map(|u| u.item.value.value.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect(),
            always_queries: eff
                .always_allowed_query_strings
                .iter()
                .map(|q| {
                    let q = q.item.value.value.trim();
                    q.strip_prefix('?').unwrap_or(q).to_string()
                })
                .filter(|q| !q.is_empty())
                .collect(),
        }
    }

    /// Whether a decision for a URL path passing these checks may be remembered ([`super::memo`])
    /// and used again after [`Filter::check_request_facts`] alone: not when a filtering rule
    /// reads the query string or headers, since those checks need the URL's extension
    /// (`appliesTo`), which the memo does not keep.
    pub fn memo_ok(&self) -> bool {
        self.rules.iter().all(Rule::url_only)
    }

    /// `alwaysAllowedUrls` lists the request's URL path.
    fn url_always_allowed(&self, r: &RequestFacts<'_>) -> bool {
        !self.always_urls.is_empty()
            && self
                .always_urls
                .iter()
                .any(|u| u.eq_ignore_ascii_case(r.decoded))
    }

    /// `alwaysAllowedQueryStrings` lists `raw` (as sent) or `decoded`.
    fn query_always_allowed(&self, raw: &str, decoded: &str) -> bool {
        self.always_queries
            .iter()
            .any(|a| a.eq_ignore_ascii_case(raw) || a.eq_ignore_ascii_case(decoded))
    }

    /// What `alwaysAllowedUrls` / `alwaysAllowedQueryStrings` exempt this request from, in
    /// words (`iisn route`); empty when nothing.
    pub fn exemptions(&self, r: &RequestFacts<'_>) -> Vec<String> {
        let mut out = Vec::new();
        if self.url_always_allowed(r) {
            out.push(format!(
                "alwaysAllowedUrls lists {}: denyUrlSequences and the filtering rules' URL scans do not apply",
                r.decoded
            ));
        }
        if let Some(q) = r.raw_query.filter(|q| !q.is_empty())
            && !self.always_queries.is_empty()
        {
            let decoded = super::super::router::percent_decode_lossy(q);
            if self.query_always_allowed(q, &decoded) {
                out.push(format!(
                    "alwaysAllowedQueryStrings lists ?{q}: denyQueryStringSequences and the filtering rules' query-string scans do not apply"
                ));
            }
        }
        out
    }

    pub fn limits(&self) -> RequestLimits {
        self.limits
    }

    /// Whether `e` is a refusal that depends on where the URL's script ends (`maxUrl`,
    /// `fileExtensions`), so that it must be made again with [`RequestFacts::script`] when
    /// handler mapping splits the URL into a script and PATH_INFO. The split is found only
    /// then: a request that passes (or has no PATH_INFO) does no more work.
    pub fn split_matters(e: &IisError) -> bool {
        e.status == 404 && matches!(e.substatus, 7 | 14) && e.module == "RequestFilteringModule"
    }

    /// Every check, on the URL as requested.
    pub fn check_request(&self, r: &RequestFacts<'_>) -> Result<(), IisError> {
        let (url_len, what) = match r.script {
            Some(s) => (
                s.url_len,
                "The script's URL (without the PATH_INFO after it)",
            ),
            None => (r.raw_path.len(), "The request URL"),
        };
        if url_len as u64 > self.limits.max_url {
            return Err(denial(
                404,
                14,
                format!(
                    "{what} is {url_len} bytes long; requestLimits maxUrl allows {}.",
                    self.limits.max_url
                ),
            ));
        }
        self.check_query_length(r)?;
        self.check_content_length(r)?;
        self.check_verb(r)?;
        if !self.allow_double_escaping && (has_escape(r.decoded) || r.decoded.contains('+')) {
            return Err(denial(
                404,
                11,
                "The URL contains a double escape sequence (a % escape or + left after decoding once); requestFiltering allowDoubleEscaping is false.".into(),
            ));
        }
        // The URL as decoded counts: browsers send `é` as `%C3%A9`, and IIS refuses it.
        if !self.allow_high_bit && (!r.raw_path.is_ascii() || !r.decoded.is_ascii()) {
            return Err(denial(
                404,
                12,
                "The URL contains high-bit characters; requestFiltering allowHighBitCharacters is false.".into(),
            ));
        }
        let denied = if self.deny_url.is_empty() || self.url_always_allowed(r) {
            None
        } else {
            self.deny_url.iter().find(|q| {
                contains_ci(r.raw_path.as_bytes(), q.as_bytes())
                    || contains_ci(r.decoded.as_bytes(), q.as_bytes())
            })
        };
        if let Some(seq) = denied {
            return Err(denial(
                404,
                5,
                format!(
                    "The request filtering module is configured to deny the URL sequence \"{seq}\" (denyUrlSequences)."
                ),
            ));
        }
        self.check_query_sequences(r)?;
        self.check_url_split(r.site_path, r.script.map(|s| s.site_path))?;
        self.check_header_sizes(r)?;
        self.check_rules(r, true)
    }

    /// The checks of [`Filter::check_request`] that depend on more than the method and the
    /// URL path (query string, `Content-Length`, header sizes), in the same order: for a
    /// path whose other checks are known to pass (see `memo`), the same first error.
    pub fn check_request_facts(&self, r: &RequestFacts<'_>) -> Result<(), IisError> {
        self.check_query_length(r)?;
        self.check_content_length(r)?;
        self.check_verb(r)?;
        self.check_query_sequences(r)?;
        self.check_header_sizes(r)?;
        // Only URL-only rules can be here (see `memo_ok`), and the path passed them.
        self.check_rules(r, false)
    }

    fn check_query_length(&self, r: &RequestFacts<'_>) -> Result<(), IisError> {
        let qlen = r.raw_query.map_or(0, str::len) as u64;
        if qlen > self.limits.max_query_string {
            return Err(denial(
                404,
                15,
                format!(
                    "The query string is {qlen} bytes long; requestLimits maxQueryString allows {}.",
                    self.limits.max_query_string
                ),
            ));
        }
        Ok(())
    }

    fn check_content_length(&self, r: &RequestFacts<'_>) -> Result<(), IisError> {
        if let Some(n) = r.content_length
            && n > self.limits.max_allowed_content_length
        {
            return Err(denial(
                413,
                1,
                format!(
                    "The request body is {n} bytes (Content-Length); requestLimits maxAllowedContentLength allows {}.",
                    self.limits.max_allowed_content_length
                ),
            ));
        }
        Ok(())
    }

    fn check_verb(&self, r: &RequestFacts<'_>) -> Result<(), IisError> {
        if !self.verbs.is_empty() || !self.verbs_allow_unlisted {
            let rule = self
                .verbs
                .iter()
                // Exact and case-sensitive, as IIS compares them (a `get` row is no GET).
                .find(|(v, _)| v == r.method);
            let allowed = rule.map_or(self.verbs_allow_unlisted, |(_, a)| *a);
            if !allowed {
                return Err(denial(
                    404,
                    6,
                    format!(
                        "The request filtering module is configured to deny the verb {}{}.",
                        r.method,
                        if rule.is_none() {
                            " (it is not listed and allowUnlisted is false)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_query_sequences(&self, r: &RequestFacts<'_>) -> Result<(), IisError> {
        if let Some(q) = r.raw_query.filter(|q| !q.is_empty())
            && !self.deny_query.is_empty()
        {
            let decoded = super::super::router::percent_decode_lossy(q);
            if self.query_always_allowed(q, &decoded) {
                return Ok(());
            }
            if let Some(seq) = self.deny_query.iter().find(|s| {
                contains_ci(q.as_bytes(), s.as_bytes())
                    || contains_ci(decoded.as_bytes(), s.as_bytes())
            }) {
                return Err(denial(
                    404,
                    18,
                    format!(
                        "The request filtering module is configured to deny the query string sequence \"{seq}\" (denyQueryStringSequences)."
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_header_sizes(&self, r: &RequestFacts<'_>) -> Result<(), IisError> {
        if let Some(headers) = r.headers {
            for (name, limit) in &self.header_limits {
                if *limit == 0 {
                    continue;
                }
                let Ok(hn) = http::HeaderName::from_bytes(name.as_bytes()) else {
                    continue;
                };
                if let Some(v) = headers
                    .get_all(&hn)
                    .iter()
                    .find(|v| v.len() as u64 > *limit)
                {
                    return Err(denial(
                        431,
                        0,
                        format!(
                            "The request header {name} is {} bytes long; requestFiltering headerLimits allows {limit}.",
                            v.len()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// `filteringRules` (404.19); `with_url`: the URL scans too (the memo's requests passed
    /// them already).
    fn check_rules(&self, r: &RequestFacts<'_>, with_url: bool) -> Result<(), IisError> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let ext = extension(r.site_path);
        let scan_url = with_url && !self.url_always_allowed(r);
        let query = r.raw_query.filter(|q| !q.is_empty());
        // Decoded once, when a rule needs it.
        let mut decoded_query: Option<String> = None;
        let mut query_allowed: Option<bool> = None;
        let mut line = Vec::new();
        for rule in &self.rules {
            if !rule.applies_to.is_empty()
                && !rule.applies_to.iter().any(|e| e.eq_ignore_ascii_case(ext))
            {
                continue;
            }
            if scan_url && rule.scan_url {
                for (text, place) in [
                    (r.raw_path, "URL"),
                    (r.decoded, "decoded URL"),
                    (r.site_path, "normalised URL"),
                ] {
                    if let Some(found) = rule.found(text.as_bytes()) {
                        return Err(rule.denial(found, place));
                    }
                }
            }
            if let Some(q) = query
                && (rule.scan_query || rule.deny_unescaped_percent)
            {
                let decoded = decoded_query
                    .get_or_insert_with(|| super::super::router::percent_decode_lossy(q));
                let allowed = *query_allowed
                    .get_or_insert_with(|| self.query_always_allowed(q, decoded.as_str()));
                if !allowed {
                    if rule.deny_unescaped_percent && has_bare_percent(q) {
                        return Err(denial(
                            404,
                            19,
                            format!(
                                "The filtering rule \"{}\" denies the request: the query string has a % that is not an escape (denyUnescapedPercent).",
                                rule.name
                            ),
                        ));
                    }
                    if rule.scan_query {
                        for (text, place) in
                            [(q, "query string"), (&**decoded, "decoded query string")]
                        {
                            if let Some(found) = rule.found(text.as_bytes()) {
                                return Err(rule.denial(found, place));
                            }
                        }
                    }
                }
            }
            let Some(headers) = r.headers else {
                continue;
            };
            for name in &rule.headers {
                for v in headers.get_all(name) {
                    if let Some(found) = rule.found(v.as_bytes()) {
                        return Err(rule.denial(found, &format!("{name} header")));
                    }
                }
            }
            if rule.scan_all_raw {
                for (name, v) in headers {
                    line.clear();
                    line.extend_from_slice(name.as_str().as_bytes());
                    line.extend_from_slice(b": ");
                    line.extend_from_slice(v.as_bytes());
                    if let Some(found) = rule.found(&line) {
                        return Err(rule.denial(found, &format!("{name} header (scanAllRaw)")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Hidden segments and file extensions of a site path (also used on rewritten URLs).
    pub fn check_url(&self, site_path: &str) -> Result<(), IisError> {
        self.check_url_split(site_path, None)
    }

    /// [`Filter::check_url`] of a URL handler mapping splits: hidden segments in the whole
    /// path, the extension of the script's (`script`, a prefix of `site_path`) when there is
    /// one, as IIS judges it, not the PATH_INFO's last segment.
    pub fn check_url_split(&self, site_path: &str, script: Option<&str>) -> Result<(), IisError> {
        for seg in site_path.split('/').filter(|s| !s.is_empty()) {
            if ALWAYS_HIDDEN.iter().any(|h| h.eq_ignore_ascii_case(seg)) {
                return Err(denial(
                    404,
                    8,
                    format!(
                        "The request filtering module is configured to deny a path in the URL that contains a hiddenSegment section: iisn never serves {seg}."
                    ),
                ));
            }
            if self.hidden_summary.may_hold(seg)
                && self.hidden.iter().any(|h| h.eq_ignore_ascii_case(seg))
            {
                return Err(denial(
                    404,
                    8,
                    format!(
                        "The request filtering module is configured to deny a path in the URL that contains a hiddenSegment section: \"{seg}\"."
                    ),
                ));
            }
        }
        if site_path.split('/').any(|s| !s.is_empty()) {
            let ext = extension(script.unwrap_or(site_path));
            let rule = if self.extension_summary.may_hold(ext) {
                self.extensions
                    .iter()
                    .find(|(e, _)| e.eq_ignore_ascii_case(ext))
            } else {
                None
            };
            let allowed = match rule {
                Some((_, allowed)) => *allowed,
                None => self.allow_unlisted,
            };
            if !allowed {
                return Err(denial(
                    404,
                    7,
                    format!(
                        "The request filtering module is configured to deny the file extension \"{}\"{}.",
                        ext.to_ascii_lowercase(),
                        if rule.is_none() {
                            " (it is not listed and allowUnlisted is false)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether a site path passes [`Filter::check_url`] (for listings and symlink targets).
    pub fn allows(&self, site_path: &str) -> bool {
        self.check_url(site_path).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The summary never hides a name that is in the list, whatever its case.
        #[test]
        fn summaries_never_miss(
            names in proptest::collection::vec("[a-zA-Z.\\-_é]{0,12}", 0..60),
            pick in 0usize..60,
        ) {
            let lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
            let s = Summary::of(lower.iter().map(String::as_str));
            if let Some(n) = names.get(pick) {
                proptest::prop_assert!(s.may_hold(n));
                proptest::prop_assert!(s.may_hold(&n.to_ascii_uppercase()));
            }
        }
    }
    use crate::config::merge::iis_defaults;

    fn facts<'a>(path: &'a str, query: Option<&'a str>, len: Option<u64>) -> RequestFacts<'a> {
        RequestFacts {
            raw_path: path,
            raw_query: query,
            decoded: path,
            site_path: path,
            content_length: len,
            method: "GET",
            headers: None,
            script: None,
        }
    }

    fn sub(r: Result<(), IisError>) -> Option<(u16, u32)> {
        r.err().map(|e| (e.status, e.substatus))
    }

    #[test]
    fn stock_lists() {
        let f = Filter::new(&iis_defaults());
        assert_eq!(sub(f.check_url("/web.config")), Some((404, 8)));
        assert_eq!(sub(f.check_url("/WEB.CONFIG")), Some((404, 8)));
        assert_eq!(sub(f.check_url("/bin/www")), Some((404, 8)));
        assert_eq!(sub(f.check_url("/App_Data/db.mdf")), Some((404, 8)));
        assert_eq!(sub(f.check_url("/sub/app.config")), Some((404, 7)));
        assert_eq!(sub(f.check_url("/x.cs")), Some((404, 7)));
        assert_eq!(sub(f.check_url("/iisnode.yml")), Some((404, 8)));
        assert_eq!(sub(f.check_url("/app/IISNODE.YML")), Some((404, 8)));
        assert_eq!(sub(f.check_url("/binder/x.js")), None);
        assert_eq!(sub(f.check_url("/")), None);
    }

    #[test]
    fn limits_and_escapes() {
        let f = Filter::new(&iis_defaults());
        let long = format!("/{}", "a".repeat(4096));
        assert_eq!(
            sub(f.check_request(&facts(&long, None, None))),
            Some((404, 14))
        );
        let q = "q".repeat(2049);
        assert_eq!(
            sub(f.check_request(&facts("/", Some(&q), None))),
            Some((404, 15))
        );
        assert_eq!(
            sub(f.check_request(&facts("/", None, Some(30_000_001)))),
            Some((413, 1))
        );
        assert_eq!(
            sub(f.check_request(&facts("/", None, Some(30_000_000)))),
            None
        );
        let r = RequestFacts {
            decoded: "/a%2e%2e",
            ..facts("/a%252e%252e", None, None)
        };
        assert_eq!(sub(f.check_request(&r)), Some((404, 11)));
        assert_eq!(
            sub(f.check_request(&facts("/c++", None, None))),
            Some((404, 11))
        );
    }

    fn with_config(inner: &str) -> Filter {
        let text = format!(
            "<configuration><system.webServer><security><requestFiltering>{inner}</requestFiltering></security></system.webServer></configuration>"
        );
        let mut d = Vec::new();
        let raw =
            crate::config::web_config::parse(crate::config::source::SourceId(0), &text, &mut d)
                .expect("parses");
        let mut eff = iis_defaults();
        crate::config::merge::apply(&mut eff, &raw.sections, "", &mut d);
        assert!(d.is_empty(), "{d:#?}");
        Filter::new(&eff)
    }

    fn request<'a>(
        path: &'a str,
        query: Option<&'a str>,
        headers: Option<&'a HeaderMap>,
    ) -> RequestFacts<'a> {
        RequestFacts {
            headers,
            ..facts(path, query, None)
        }
    }

    /// Regression: `<filteringRules>` were ignored, so a deny rule a site relied on was not
    /// enforced.
    #[test]
    fn filtering_rules_deny_with_404_19() {
        let f = with_config(
            r#"<filteringRules>
  <filteringRule name="sql" scanUrl="true" scanQueryString="true">
    <denyStrings><add string="DROP TABLE"/><add string="xp_"/></denyStrings>
  </filteringRule>
  <filteringRule name="leech" scanUrl="false" scanQueryString="false">
    <scanHeaders><add requestHeader="User-Agent"/></scanHeaders>
    <appliesTo><add fileExtension=".gif"/><add fileExtension="png"/></appliesTo>
    <denyStrings><add string="leech-bot"/></denyStrings>
  </filteringRule>
  <filteringRule name="raw" scanAllRaw="true"><denyStrings><add string="x-evil: 1"/></denyStrings></filteringRule>
  <filteringRule name="pct" denyUnescapedPercent="true"><appliesTo><add fileExtension=".php"/></appliesTo></filteringRule>
</filteringRules>"#,
        );
        assert!(!f.memo_ok(), "rules read headers and the query string");
        let check = |path: &str, query: Option<&str>, hs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in hs {
                h.append(
                    http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    http::HeaderValue::from_str(v).expect("value"),
                );
            }
            let decoded = crate::serve::router::percent_decode(path).expect("decodes");
            let r = RequestFacts {
                decoded: &decoded,
                ..request(path, query, Some(&h))
            };
            sub(f.check_request(&r))
        };
        assert_eq!(check("/a.js", None, &[]), None);
        // URL: raw and decoded, case-insensitive.
        assert_eq!(check("/drop%20table/x", None, &[]), Some((404, 19)));
        assert_eq!(check("/XP_cmd", None, &[]), Some((404, 19)));
        // Query string: raw and decoded.
        assert_eq!(check("/a.js", Some("q=drop%20TABLE"), &[]), Some((404, 19)));
        assert_eq!(check("/a.js", Some("q=xp_"), &[]), Some((404, 19)));
        // Headers: only for the listed extensions (with or without the dot).
        let ua = [("user-agent", "Mozilla leech-bot/1")];
        assert_eq!(check("/i.gif", None, &ua), Some((404, 19)));
        assert_eq!(check("/I.PNG", None, &ua), Some((404, 19)));
        assert_eq!(check("/i.jpg", None, &ua), None, "appliesTo");
        assert_eq!(check("/i.gif", None, &[("referer", "leech-bot")]), None);
        // scanAllRaw: every header as a `name: value` line.
        assert_eq!(check("/a", None, &[("X-Evil", "1")]), Some((404, 19)));
        assert_eq!(check("/a", None, &[("X-Evil", "2")]), None);
        // denyUnescapedPercent.
        assert_eq!(check("/a.php", Some("a=100%"), &[]), Some((404, 19)));
        assert_eq!(check("/a.php", Some("a=100%25"), &[]), None);
        assert_eq!(check("/a.js", Some("a=100%"), &[]), None, "appliesTo");
        let e = f
            .check_request(&facts("/xp_", None, None))
            .expect_err("denied");
        assert!(
            e.detail.starts_with("The filtering rule \"sql\" "),
            "{}",
            e.detail
        );
    }

    #[test]
    fn no_rules_no_work_and_url_only_rules_keep_the_memo() {
        let f = Filter::new(&iis_defaults());
        assert!(f.rules.is_empty() && f.memo_ok());
        let f = with_config(
            r#"<filteringRules>
  <filteringRule name="u" scanUrl="true"><denyStrings><add string="bad"/></denyStrings></filteringRule>
  <filteringRule name="nothing-to-scan"><denyStrings><add string="bad"/></denyStrings></filteringRule>
  <filteringRule name="no-strings" scanUrl="true" scanQueryString="true"/>
</filteringRules>"#,
        );
        assert_eq!(f.rules.len(), 1, "rules that can deny nothing are dropped");
        assert!(f.memo_ok());
        assert_eq!(
            sub(f.check_request(&facts("/bad", None, None))),
            Some((404, 19))
        );
        assert_eq!(
            sub(f.check_request(&facts("/a", Some("bad"), None))),
            None,
            "scanQueryString is off"
        );
    }

    /// Regression: `<alwaysAllowedUrls>` / `<alwaysAllowedQueryStrings>` were ignored.
    #[test]
    fn always_allowed_urls_and_query_strings() {
        let f = with_config(
            r#"<denyUrlSequences><add sequence="--"/></denyUrlSequences>
<denyQueryStringSequences><add sequence="&lt;script"/></denyQueryStringSequences>
<filteringRules>
  <filteringRule name="r" scanUrl="true" scanQueryString="true">
    <scanHeaders><add requestHeader="X-Bad"/></scanHeaders>
    <denyStrings><add string="evil"/></denyStrings>
  </filteringRule>
</filteringRules>
<alwaysAllowedUrls><add url="/Search--evil.txt"/><add url="/web.config"/></alwaysAllowedUrls>
<alwaysAllowedQueryStrings><add queryString="?q=&lt;script&gt;evil"/></alwaysAllowedQueryStrings>"#,
        );
        let go = |path: &str, query: Option<&str>, h: Option<&HeaderMap>| {
            sub(f.check_request(&request(path, query, h)))
        };
        assert_eq!(go("/other--.txt", None, None), Some((404, 5)));
        assert_eq!(go("/other-evil.txt", None, None), Some((404, 19)));
        assert_eq!(
            go("/search--EVIL.txt", None, None),
            None,
            "exact, case-insensitive: denyUrlSequences and the rule's URL scan are skipped"
        );
        assert_eq!(
            go("/search--evil.txt/x", None, None),
            Some((404, 5)),
            "exact only"
        );
        assert_eq!(
            go("/web.config", None, None),
            Some((404, 8)),
            "hidden segments still apply"
        );
        assert_eq!(
            go("/search--evil.txt", Some("x=evil"), None),
            Some((404, 19))
        );
        assert_eq!(go("/a", Some("q=<script>"), None), Some((404, 18)));
        assert_eq!(go("/a", Some("q=<script>evil"), None), None);
        assert_eq!(
            go("/a", Some("q=%3Cscript%3Eevil"), None),
            None,
            "the decoded query string matches too"
        );
        // A stray `%` or bytes that are not UTF-8 do not blind the decoded scans.
        assert_eq!(go("/a", Some("q=%3Cscript&%zz"), None), Some((404, 18)));
        assert_eq!(go("/a", Some("q=%ff&x=%65vil"), None), Some((404, 19)));
        assert_eq!(go("/a", Some("q=%65vil%"), None), Some((404, 19)));
        let mut h = HeaderMap::new();
        h.insert("x-bad", http::HeaderValue::from_static("evil"));
        assert_eq!(
            go("/search--evil.txt", None, Some(&h)),
            Some((404, 19)),
            "header scans still apply"
        );
        let notes = f.exemptions(&request("/search--evil.txt", Some("q=<script>evil"), None));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with("alwaysAllowedUrls lists /search--evil.txt"),
            "{notes:?}"
        );
        assert!(
            notes[1].starts_with("alwaysAllowedQueryStrings lists ?q=<script>evil"),
            "{notes:?}"
        );
        assert!(f.exemptions(&request("/a", None, None)).is_empty());
    }

    #[test]
    fn allow_unlisted_false() {
        let mut eff = iis_defaults();
        eff.file_extensions_allow_unlisted = false;
        let f = Filter::new(&eff);
        assert_eq!(sub(f.check_url("/a.js")), Some((404, 7)));
        assert_eq!(sub(f.check_url("/folder")), Some((404, 7)));
    }
}
