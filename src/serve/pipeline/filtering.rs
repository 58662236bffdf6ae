//! IIS request filtering (`system.webServer/security/requestFiltering`), the first step of
//! the pipeline.
//!
//! IIS's RequestFilteringModule runs at BeginRequest, before URL Rewrite, and refuses a
//! request with a 404 sub-status (iis-webconfig.md §3.5, §6, §8). iisn checks, in this order:
//!
//! | check | status | setting |
//! |---|---|---|
//! | URL longer than `maxUrl` bytes (raw path, no query) | 404.14 | `requestLimits maxUrl` (4096) |
//! | query string longer than `maxQueryString` bytes | 404.15 | `requestLimits maxQueryString` (2048) |
//! | `Content-Length` above `maxAllowedContentLength` | 413.1 | `requestLimits maxAllowedContentLength` (30000000) |
//! | the verb denied, or unlisted with `allowUnlisted="false"` | 404.6 | `verbs` |
//! | a `%XX` escape or `+` left after decoding once | 404.11 | `allowDoubleEscaping="false"` |
//! | a non-ASCII byte, raw or percent-decoded | 404.12 | `allowHighBitCharacters="false"` |
//! | a denied sequence in the URL (raw or decoded), ASCII case-insensitive | 404.5 | `denyUrlSequences` |
//! | a denied sequence in the query string (raw or decoded) | 404.18 | `denyQueryStringSequences` |
//! | a path segment in the hidden list | 404.8 | `hiddenSegments` (stock: `web.config`, `bin`, `App_Data`, ...) |
//! | the last segment's extension denied or unlisted | 404.7 | `fileExtensions` (stock: `.config`, `.cs`, ...) |
//! | a request header longer than its `sizeLimit` (bytes of the value; `0` = no limit) | 404.10 | `requestLimits/headerLimits` |
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
//! * **404.10 for `headerLimits`**: IIS's status table names 404.10 "request header too
//!   long" (the request-filtering reference mentions 431, which is http.sys's own answer to
//!   an oversized header block); iisn answers 404.10 for a configured `headerLimits` entry.
//!
//! [`Filter::check_url`] is also applied to the URL after URL Rewrite, so a rule cannot
//! rewrite into a hidden folder (inferred, iis-webconfig.md §3.5).

use http::HeaderMap;

use crate::config::model::{EffectiveConfig, RequestLimits};

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
}

/// What filtering looks at.
#[derive(Debug)]
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

/// Whether `text` holds `seq` (lower-cased), ASCII case-insensitively.
fn contains_ci(text: &str, seq: &str) -> bool {
    let (t, s) = (text.as_bytes(), seq.as_bytes());
    s.len() <= t.len()
        && t.windows(s.len())
            .any(|w| w.iter().zip(s).all(|(a, b)| a.to_ascii_lowercase() == *b))
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
        }
    }

    pub fn limits(&self) -> RequestLimits {
        self.limits
    }

    /// Every check, on the URL as requested.
    pub fn check_request(&self, r: &RequestFacts<'_>) -> Result<(), IisError> {
        if r.raw_path.len() as u64 > self.limits.max_url {
            return Err(denial(
                404,
                14,
                format!(
                    "The request URL is {} bytes long; requestLimits maxUrl allows {}.",
                    r.raw_path.len(),
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
        if let Some(seq) = self
            .deny_url
            .iter()
            .find(|q| contains_ci(r.raw_path, q) || contains_ci(r.decoded, q))
        {
            return Err(denial(
                404,
                5,
                format!(
                    "The request filtering module is configured to deny the URL sequence \"{seq}\" (denyUrlSequences)."
                ),
            ));
        }
        self.check_query_sequences(r)?;
        self.check_url(r.site_path)?;
        self.check_header_sizes(r)
    }

    /// The checks of [`Filter::check_request`] that depend on more than the method and the
    /// URL path (query string, `Content-Length`, header sizes), in the same order: for a
    /// path whose other checks are known to pass (see `memo`), the same first error.
    pub fn check_request_facts(&self, r: &RequestFacts<'_>) -> Result<(), IisError> {
        self.check_query_length(r)?;
        self.check_content_length(r)?;
        self.check_verb(r)?;
        self.check_query_sequences(r)?;
        self.check_header_sizes(r)
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
                .find(|(v, _)| v.eq_ignore_ascii_case(r.method));
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
            let decoded = super::super::router::percent_decode(q).unwrap_or_default();
            if let Some(seq) = self
                .deny_query
                .iter()
                .find(|s| contains_ci(q, s) || contains_ci(&decoded, s))
            {
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
                        404,
                        10,
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

    /// Hidden segments and file extensions of a site path (also used on rewritten URLs).
    pub fn check_url(&self, site_path: &str) -> Result<(), IisError> {
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
        if let Some(last) = site_path.split('/').rfind(|s| !s.is_empty()) {
            let ext = match last.rfind('.') {
                Some(i) => &last[i..],
                None => ".",
            };
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

    #[test]
    fn allow_unlisted_false() {
        let mut eff = iis_defaults();
        eff.file_extensions_allow_unlisted = false;
        let f = Filter::new(&eff);
        assert_eq!(sub(f.check_url("/a.js")), Some((404, 7)));
        assert_eq!(sub(f.check_url("/folder")), Some((404, 7)));
    }
}
