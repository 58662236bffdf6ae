//! Merging web.config levels: IIS's collection semantics and attribute inheritance.
//!
//! IIS builds the configuration for a URL by starting from applicationHost.config (here:
//! [`super::apphost`]) and applying every web.config from the site root down to the URL's
//! folder, with `<location path>` blocks applied at the folder they name. Within a level:
//!
//! * attributes override the inherited value one by one;
//! * collections apply `<add>`, `<remove>` and `<clear/>` in document order; adding a key
//!   the collection already holds is a configuration error (500.19, HRESULT 0x800700b7);
//! * `handlers` and `defaultDocument/files` are `mergeAppend="false"`: a level's own entries
//!   go *before* the inherited ones, so a site's iisnode mapping beats StaticFile.
//!
//! Rewrite rules keep the folder that defined them, because a rule's input URL is relative to
//! that folder.

use crate::config::apphost;
use crate::config::model::{ClientCache, EffectiveConfig, Entry, HttpErrors, RequestLimits};
use crate::config::schema::SCHEMA;
use crate::config::source::{Span, Spanned};
use crate::config::web_config::{
    Collection, CollectionOp, CustomHeader, DefaultDocumentFile, ErrorMode, ErrorPage,
    ExistingResponse, FileExtensionRule, HandlerEntry, HiddenSegment, Keyed, MimeMapEntry,
    ResourceType, ResponseMode, Sections,
};
use crate::diag::{Diagnostic, codes};

fn builtin(s: &str) -> Spanned<String> {
    Spanned::new(s.to_string(), Span::builtin())
}

fn stock<T>(item: T) -> Entry<T> {
    Entry {
        item,
        level: String::new(),
    }
}

/// IIS's server-level defaults: what every site inherits before its own web.config.
pub fn iis_defaults() -> EffectiveConfig {
    let handlers = apphost::STOCK_HANDLERS
        .iter()
        .map(|h| {
            stock(HandlerEntry {
                name: builtin(h.name),
                path: builtin(h.path),
                verb: builtin(h.verb),
                modules: Some(builtin(h.modules)),
                script_processor: None,
                type_: None,
                resource_type: match h.resource_type {
                    "File" => ResourceType::File,
                    "Directory" => ResourceType::Directory,
                    "Either" => ResourceType::Either,
                    _ => ResourceType::Unspecified,
                },
                require_access: Some(builtin(h.require_access)),
                pre_condition: None,
                span: Span::builtin(),
            })
        })
        .collect();
    EffectiveConfig {
        iisnode: vec![None; SCHEMA.len()],
        handlers,
        access_policy: crate::config::web_config::access::STOCK,
        rules: Vec::new(),
        rewrite_maps: Vec::new(),
        default_document_enabled: true,
        default_documents: apphost::DEFAULT_DOCUMENTS
            .iter()
            .map(|d| {
                stock(DefaultDocumentFile {
                    value: builtin(d),
                    span: Span::builtin(),
                })
            })
            .collect(),
        directory_browse: false,
        mime_maps: apphost::MIME_MAP
            .iter()
            .map(|(ext, mime)| {
                stock(MimeMapEntry {
                    file_extension: builtin(ext),
                    mime_type: builtin(mime),
                    span: Span::builtin(),
                })
            })
            .collect(),
        client_cache: ClientCache::default(),
        static_content_unreadable: None,
        hidden_segments: apphost::HIDDEN_SEGMENTS
            .iter()
            .map(|s| {
                stock(HiddenSegment {
                    segment: builtin(s),
                    span: Span::builtin(),
                })
            })
            .collect(),
        file_extensions_allow_unlisted: true,
        file_extensions: apphost::DENIED_EXTENSIONS
            .iter()
            .map(|e| {
                stock(FileExtensionRule {
                    file_extension: builtin(e),
                    allowed: false,
                    span: Span::builtin(),
                })
            })
            .collect(),
        request_limits: RequestLimits {
            max_allowed_content_length: apphost::MAX_ALLOWED_CONTENT_LENGTH,
            max_url: u64::from(apphost::MAX_URL),
            max_query_string: u64::from(apphost::MAX_QUERY_STRING),
        },
        allow_double_escaping: false,
        allow_high_bit_characters: true,
        remove_server_header: false,
        verbs_allow_unlisted: true,
        verbs: Vec::new(),
        deny_url_sequences: Vec::new(),
        deny_query_string_sequences: Vec::new(),
        filtering_rules: Vec::new(),
        always_allowed_urls: Vec::new(),
        always_allowed_query_strings: Vec::new(),
        header_limits: Vec::new(),
        outbound_rules: Vec::new(),
        pre_conditions: Vec::new(),
        http_errors: HttpErrors {
            error_mode: ErrorMode::DetailedLocalOnly,
            existing_response: ExistingResponse::Auto,
            default_path: None,
            default_response_mode: ResponseMode::File,
            // The server's rows (401, 403, 404, 405, 406, 412, 500, 501, 502, any
            // sub-status): a site's `<error statusCode="404">` needs a `<remove>` first.
            errors: apphost::HTTP_ERROR_PAGES
                .iter()
                .map(|&(status, page)| {
                    stock(ErrorPage {
                        key: builtin(&status.to_string()),
                        status_code: status,
                        sub_status_code: -1,
                        path: Some(builtin(page)),
                        response_mode: None,
                        prefix_language_file_path: Some(builtin(apphost::HTTP_ERRORS_PREFIX)),
                        span: Span::builtin(),
                    })
                })
                .collect(),
            unreadable: None,
        },
        web_socket_enabled: true,
        web_socket_span: None,
        custom_headers: apphost::CUSTOM_HEADERS
            .iter()
            .map(|&(name, value)| {
                stock(CustomHeader {
                    name: builtin(name),
                    value: builtin(value),
                    span: Span::builtin(),
                })
            })
            .collect(),
        app_settings: Vec::new(),
        app_settings_file: None,
        not_emulated: Vec::new(),
    }
}

fn same_key<T: Keyed>(a: &str, b: &str) -> bool {
    if T::CASE_SENSITIVE {
        a == b
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

/// Applies one level's collection operations to an inherited list.
fn apply_collection<T: Keyed + Clone>(
    list: &mut Vec<Entry<T>>,
    ops: &Collection<T>,
    level: &str,
    prepend: bool,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let mut added: Vec<Entry<T>> = Vec::new();
    for op in &ops.ops {
        match op {
            CollectionOp::Add(item) => {
                let key = &item.key().value;
                let existing = list
                    .iter()
                    .chain(added.iter())
                    .find(|e| same_key::<T>(&e.item.key().value, key));
                if let Some(prev) = existing {
                    let mut d = Diagnostic::new(
                        &codes::DUPLICATE_KEY,
                        format!("{what} `{key}` is already in the collection"),
                    )
                    .at(item.key().span);
                    let prev_span = prev.item.span();
                    if prev_span.is_builtin() {
                        d = d.note(format!(
                            "`{key}` is one of IIS's built-in {} entries",
                            what.trim_end_matches(" for")
                        ));
                    } else {
                        d = d.label(prev_span, "first added here");
                    }
                    diags.push(d.help(format!(
                        "Add <remove {}=\"{key}\"/> before this <add>, or delete one of the two (IIS answers HTTP 500.19 otherwise).",
                        key_attr_name(what)
                    )));
                    continue;
                }
                added.push(Entry {
                    item: item.clone(),
                    level: level.to_string(),
                });
            }
            CollectionOp::Remove(key) => {
                list.retain(|e| !same_key::<T>(&e.item.key().value, &key.value));
                added.retain(|e| !same_key::<T>(&e.item.key().value, &key.value));
            }
            CollectionOp::Clear(_) => {
                list.clear();
                added.clear();
            }
        }
    }
    if prepend {
        added.append(list);
        *list = added;
    } else {
        list.append(&mut added);
    }
}

fn key_attr_name(what: &str) -> &'static str {
    match what {
        "handler" | "rewrite rule" | "rewrite map" | "custom header" | "outbound rule"
        | "precondition" | "filtering rule" => "name",
        "mime map for" | "file extension" | "applies-to extension" => "fileExtension",
        "hidden segment" => "segment",
        "default document" => "value",
        "error page" => "statusCode",
        "header limit" => "header",
        "verb" => "verb",
        "denied URL sequence" | "denied query string sequence" => "sequence",
        "scanned header" => "requestHeader",
        "deny string" => "string",
        "always allowed URL" => "url",
        "always allowed query string" => "queryString",
        _ => "key",
    }
}

/// The entries of a collection that has no parent level (one nested in another entry, such
/// as a filtering rule's `denyStrings`), with `<remove>`/`<clear/>` applied and duplicates
/// reported as [`apply_collection`] reports them.
pub fn resolve_local<T: Keyed + Clone>(
    ops: &Collection<T>,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<T> {
    let mut list = Vec::new();
    apply_collection(&mut list, ops, "", false, what, diags);
    list.into_iter().map(|e| e.item).collect()
}

/// Applies one level's sections (its own or a `<location>`'s) on top of `cfg`.
pub fn apply(cfg: &mut EffectiveConfig, s: &Sections, level: &str, diags: &mut Vec<Diagnostic>) {
    if let Some(sec) = &s.iisnode {
        for v in &sec.values {
            if v.valid {
                cfg.iisnode[v.attr as usize] = Some(Entry {
                    item: v.clone(),
                    level: level.to_string(),
                });
            }
        }
    }
    if let Some(h) = &s.handlers {
        apply_collection(&mut cfg.handlers, h, level, true, "handler", diags);
    }
    if let Some(p) = &s.handlers_access_policy {
        cfg.access_policy = p.value;
    }
    if let Some(rw) = &s.rewrite {
        if let Some(rules) = &rw.rules {
            apply_collection(&mut cfg.rules, rules, level, false, "rewrite rule", diags);
        }
        if let Some(maps) = &rw.maps {
            apply_collection(
                &mut cfg.rewrite_maps,
                maps,
                level,
                false,
                "rewrite map",
                diags,
            );
        }
        if let Some(ob) = &rw.outbound {
            apply_collection(
                &mut cfg.outbound_rules,
                &ob.rules,
                level,
                false,
                "outbound rule",
                diags,
            );
            if let Some(pc) = &ob.pre_conditions {
                apply_collection(
                    &mut cfg.pre_conditions,
                    pc,
                    level,
                    false,
                    "precondition",
                    diags,
                );
            }
        }
    }
    if let Some(dd) = &s.default_document {
        if let Some(e) = &dd.enabled {
            cfg.default_document_enabled = e.value;
        }
        if let Some(files) = &dd.files {
            apply_collection(
                &mut cfg.default_documents,
                files,
                level,
                true,
                "default document",
                diags,
            );
        }
    }
    if let Some(db) = s.directory_browse.as_ref().and_then(|d| d.enabled.as_ref()) {
        cfg.directory_browse = db.value;
    }
    if let Some(sc) = &s.static_content {
        if let Some(m) = &sc.mime_maps {
            // A duplicate entry fails the static files only (IISN1012), which are what read
            // the section, not the whole folder as other duplicate keys do.
            let before = diags.len();
            apply_collection(&mut cfg.mime_maps, m, level, false, "mime map for", diags);
            for d in &mut diags[before..] {
                if d.lint.code == codes::DUPLICATE_KEY.code {
                    d.lint = &codes::STATIC_CONTENT_UNREADABLE;
                    d.severity = codes::STATIC_CONTENT_UNREADABLE.severity;
                    d.message.push_str(
                        ": IIS answers every static file below this folder with HTTP 500.19, while node's pages still serve",
                    );
                    cfg.static_content_unreadable
                        .get_or_insert((0x8007_00b7, d.clone()));
                }
            }
        }
        if let Some(cc) = &sc.client_cache {
            if let Some(d) = &cc.fault {
                cfg.static_content_unreadable
                    .get_or_insert((0x8007_000d, d.clone()));
            }
            let c = &mut cfg.client_cache;
            if let Some(m) = &cc.mode {
                c.mode = m.value;
            }
            if let Some(m) = &cc.max_age {
                c.max_age_secs = m.value;
            }
            if let Some(v) = &cc.http_expires {
                c.http_expires = Some(v.value.clone());
            }
            if let Some(v) = &cc.custom {
                c.custom = Some(v.value.clone());
            }
            if let Some(v) = &cc.set_etag {
                c.set_etag = v.value;
            }
        }
    }
    if let Some(rf) = &s.request_filtering {
        if let Some(hs) = &rf.hidden_segments {
            apply_collection(
                &mut cfg.hidden_segments,
                hs,
                level,
                false,
                "hidden segment",
                diags,
            );
        }
        if let Some(fe) = &rf.file_extensions {
            if let Some(a) = &fe.allow_unlisted {
                cfg.file_extensions_allow_unlisted = a.value;
            }
            apply_collection(
                &mut cfg.file_extensions,
                &fe.entries,
                level,
                false,
                "file extension",
                diags,
            );
        }
        if let Some(rl) = &rf.request_limits {
            let l = &mut cfg.request_limits;
            if let Some(v) = &rl.max_allowed_content_length {
                l.max_allowed_content_length = v.value;
            }
            if let Some(v) = &rl.max_url {
                l.max_url = v.value;
            }
            if let Some(v) = &rl.max_query_string {
                l.max_query_string = v.value;
            }
        }
        if let Some(rl) = &rf.request_limits
            && let Some(hl) = &rl.header_limits
        {
            apply_collection(
                &mut cfg.header_limits,
                hl,
                level,
                false,
                "header limit",
                diags,
            );
        }
        if let Some(v) = &rf.verbs {
            if let Some(a) = &v.allow_unlisted {
                cfg.verbs_allow_unlisted = a.value;
            }
            apply_collection(&mut cfg.verbs, &v.entries, level, false, "verb", diags);
        }
        if let Some(c) = &rf.deny_url_sequences {
            apply_collection(
                &mut cfg.deny_url_sequences,
                c,
                level,
                false,
                "denied URL sequence",
                diags,
            );
        }
        if let Some(c) = &rf.deny_query_string_sequences {
            apply_collection(
                &mut cfg.deny_query_string_sequences,
                c,
                level,
                false,
                "denied query string sequence",
                diags,
            );
        }
        if let Some(c) = &rf.filtering_rules {
            apply_collection(
                &mut cfg.filtering_rules,
                c,
                level,
                false,
                "filtering rule",
                diags,
            );
        }
        if let Some(c) = &rf.always_allowed_urls {
            apply_collection(
                &mut cfg.always_allowed_urls,
                c,
                level,
                false,
                "always allowed URL",
                diags,
            );
        }
        if let Some(c) = &rf.always_allowed_query_strings {
            apply_collection(
                &mut cfg.always_allowed_query_strings,
                c,
                level,
                false,
                "always allowed query string",
                diags,
            );
        }
        if let Some(v) = &rf.allow_double_escaping {
            cfg.allow_double_escaping = v.value;
        }
        if let Some(v) = &rf.allow_high_bit_characters {
            cfg.allow_high_bit_characters = v.value;
        }
        if let Some(v) = &rf.remove_server_header {
            cfg.remove_server_header = v.value;
        }
    }
    if let Some(he) = &s.http_errors {
        let h = &mut cfg.http_errors;
        if let Some(v) = &he.error_mode {
            h.error_mode = v.value;
        }
        if let Some(v) = &he.existing_response {
            h.existing_response = v.value;
        }
        if let Some(v) = &he.default_path {
            h.default_path = Some(v.clone());
            // Locked on IIS's server configuration (lockAttributes="...,defaultPath").
            let d = Diagnostic::new(
                &codes::ERROR_PAGES_UNREADABLE,
                "httpErrors defaultPath is locked at IIS's server level: every error response below this folder is HTTP 500.19 (lock violation)",
            )
            .at(v.span)
            .help("Give each status its own <error statusCode=\"...\" path=\"...\"/> row (after <remove statusCode=\"...\"/> for the ones IIS already has) instead of defaultPath.");
            h.unreadable.get_or_insert((0x8007_0021, d.clone()));
            diags.push(d);
        }
        if let Some(v) = &he.default_response_mode {
            h.default_response_mode = v.value;
        }
        // A duplicate row fails only the responses the CustomErrorModule looks at (status
        // 400 or more), not the whole folder as other duplicate keys do.
        let before = diags.len();
        apply_collection(&mut h.errors, &he.errors, level, false, "error page", diags);
        for d in &mut diags[before..] {
            if d.lint.code == codes::DUPLICATE_KEY.code {
                d.lint = &codes::ERROR_PAGES_UNREADABLE;
                d.severity = codes::ERROR_PAGES_UNREADABLE.severity;
                d.message.push_str(
                    ": IIS answers every error response below this folder with HTTP 500.19, while pages that succeed still serve",
                );
                h.unreadable.get_or_insert((0x8007_00b7, d.clone()));
            }
        }
    }
    if let Some(e) = s.web_socket.as_ref().and_then(|ws| ws.enabled.as_ref()) {
        cfg.web_socket_enabled = e.value;
        cfg.web_socket_span = Some(e.span);
    }
    if let Some(ch) = &s.custom_headers {
        apply_collection(
            &mut cfg.custom_headers,
            ch,
            level,
            false,
            "custom header",
            diags,
        );
    }
    if let Some(app) = &s.app_settings {
        apply_collection(
            &mut cfg.app_settings,
            &app.entries,
            level,
            false,
            "appSettings key",
            diags,
        );
        if let Some(f) = &app.file {
            cfg.app_settings_file = Some(f.clone());
        }
    }
    cfg.not_emulated.extend(s.not_emulated.iter().cloned());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::SourceId;
    use crate::config::web_config;

    fn sections(id: u32, text: &str, diags: &mut Vec<Diagnostic>) -> Sections {
        web_config::parse(SourceId(id), text, diags)
            .expect("parses")
            .sections
    }

    #[test]
    fn handlers_prepend_and_static_file_stays_last() {
        let mut d = Vec::new();
        let mut cfg = iis_defaults();
        let root = sections(
            0,
            r#"<configuration><system.webServer><handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
            &mut d,
        );
        apply(&mut cfg, &root, "", &mut d);
        let child = sections(
            1,
            r#"<configuration><system.webServer><handlers><add name="api" path="api.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
            &mut d,
        );
        apply(&mut cfg, &child, "api", &mut d);
        assert!(d.is_empty(), "{d:#?}");
        let names: Vec<_> = cfg
            .handlers
            .iter()
            .map(|h| h.item.name.value.as_str())
            .collect();
        assert_eq!(names[0], "api");
        assert_eq!(names[1], "iisnode");
        assert_eq!(names.last().copied(), Some("StaticFile"));
        assert_eq!(cfg.iisnode_handlers().count(), 2);
    }

    #[test]
    fn duplicates_removes_and_clears() {
        let mut d = Vec::new();
        let mut cfg = iis_defaults();
        let root = sections(
            0,
            r#"<configuration>
<appSettings><add key="a" value="1"/><add key="a" value="2"/><add key="A" value="3"/></appSettings>
<system.webServer>
  <staticContent><mimeMap fileExtension=".json" mimeType="application/json"/><remove fileExtension=".woff2"/><mimeMap fileExtension=".woff2" mimeType="font/woff2"/></staticContent>
  <security><requestFiltering><hiddenSegments><remove segment="bin"/><add segment="node_modules"/></hiddenSegments><fileExtensions><clear/></fileExtensions></requestFiltering></security>
</system.webServer></configuration>"#,
            &mut d,
        );
        apply(&mut cfg, &root, "", &mut d);
        let codes: Vec<_> = d.iter().map(|d| (d.code(), d.message.clone())).collect();
        assert_eq!(codes.len(), 2, "{codes:#?}");
        let app = d
            .iter()
            .find(|d| d.message.contains("appSettings key `a`"))
            .expect("dup a");
        assert_eq!(app.secondary.len(), 1, "points at the first <add>");
        let json = d
            .iter()
            .find(|d| d.message.contains(".json"))
            .expect("dup .json");
        assert!(
            json.note.is_some(),
            "built-in entries get a note, not a label"
        );
        let apps: Vec<_> = cfg
            .app_settings
            .iter()
            .map(|e| e.item.key.value.as_str())
            .collect();
        assert_eq!(apps, ["a", "A"], "appSettings keys are case-sensitive");
        assert!(
            cfg.hidden_segments
                .iter()
                .all(|h| h.item.segment.value != "bin")
        );
        assert!(
            cfg.hidden_segments
                .iter()
                .any(|h| h.item.segment.value == "node_modules")
        );
        assert!(cfg.file_extensions.is_empty());
        let woff2 = cfg
            .mime_maps
            .iter()
            .find(|m| m.item.file_extension.value == ".woff2")
            .expect("woff2");
        assert_eq!(woff2.item.mime_type.value, "font/woff2");
    }

    /// Regression: IIS's server rows for 401, 403, 404, 405, 406, 412, 500, 501 and 502
    /// were missing, so a site's `<error statusCode="404">` without `<remove>` passed,
    /// where IIS answers 500.19 ("Cannot add duplicate collection entry of type 'error'").
    #[test]
    fn error_pages_start_with_the_servers_rows() {
        let stock: Vec<_> = iis_defaults()
            .http_errors
            .errors
            .iter()
            .map(|e| e.item.key.value.clone())
            .collect();
        assert_eq!(
            stock,
            [
                "401", "403", "404", "405", "406", "412", "500", "501", "502"
            ]
        );
        let page = |inner: &str| {
            let mut d = Vec::new();
            let mut cfg = iis_defaults();
            let text = format!(
                "<configuration><system.webServer><httpErrors>{inner}</httpErrors></system.webServer></configuration>"
            );
            apply(&mut cfg, &sections(0, &text, &mut d), "", &mut d);
            let codes: Vec<_> = d.iter().map(|d| d.code()).collect();
            (codes, cfg.http_errors.errors)
        };
        // A duplicate row fails the error responses only (IISN1011), not the folder.
        let (codes, _) =
            page(r#"<error statusCode="404" path="/404.html" responseMode="ExecuteURL"/>"#);
        assert_eq!(codes, ["IISN1011"]);
        let (codes, _) = page(r#"<error statusCode="500" subStatusCode="-1" path="500.html"/>"#);
        assert_eq!(codes, ["IISN1011"]);
        let (codes, errors) = page(
            r#"<remove statusCode="404"/><error statusCode="404" path="/404.html" responseMode="ExecuteURL"/>"#,
        );
        assert!(codes.is_empty(), "{codes:?}");
        assert_eq!(errors.len(), 9);
        let (codes, _) = page(r#"<error statusCode="404" subStatusCode="3" path="e.html"/>"#);
        assert!(
            codes.is_empty(),
            "a sub-status of its own is another key: {codes:?}"
        );
        let (codes, errors) = page(r#"<clear/><error statusCode="404" path="e.html"/>"#);
        assert!(codes.is_empty(), "{codes:?}");
        assert_eq!(errors.len(), 1);
        let (codes, _) = page(r#"<error statusCode="400" path="e.html"/>"#);
        assert!(codes.is_empty(), "no server row for 400: {codes:?}");
        // What IIS fails on is kept with its HRESULT, for serve's error responses.
        let unreadable = |text: &str| {
            let mut d = Vec::new();
            let mut cfg = iis_defaults();
            apply(&mut cfg, &sections(0, text, &mut d), "", &mut d);
            cfg.http_errors.unreadable.map(|(hr, d)| (hr, d.code()))
        };
        let wrap = |attrs: &str, inner: &str| {
            format!(
                "<configuration><system.webServer><httpErrors{attrs}>{inner}</httpErrors></system.webServer></configuration>"
            )
        };
        assert_eq!(
            unreadable(&wrap("", r#"<error statusCode="404" path="e.html"/>"#)),
            Some((0x8007_00b7, "IISN1011"))
        );
        assert_eq!(
            unreadable(&wrap(r#" defaultPath="/e.html""#, "")),
            Some((0x8007_0021, "IISN1011"))
        );
        assert_eq!(unreadable(&wrap(r#" errorMode="Custom""#, "")), None);
    }

    /// Regression: a `<mimeMap>` for an extension IIS already maps, or a `cacheControlMaxAge`
    /// that is not a time span, failed the whole folder (node's pages too) with 500.19; IIS
    /// reads `<staticContent>` only to serve a static file, so only those fail (observed on
    /// IIS 10: a bad `cacheControlMaxAge` gave static files 500.19 and a page 200).
    #[test]
    fn a_static_content_iis_cannot_read_fails_static_files_only() {
        let static_content = |inner: &str| {
            let mut d = Vec::new();
            let mut cfg = iis_defaults();
            let text = format!(
                "<configuration><system.webServer><staticContent>{inner}</staticContent></system.webServer></configuration>"
            );
            apply(&mut cfg, &sections(0, &text, &mut d), "", &mut d);
            let codes: Vec<_> = d.iter().map(|d| d.code()).collect();
            let fault = cfg.static_content_unreadable.map(|(hr, d)| (hr, d.code()));
            (codes, fault)
        };
        assert_eq!(
            static_content(r#"<mimeMap fileExtension=".json" mimeType="application/json"/>"#),
            (vec!["IISN1012"], Some((0x8007_00b7, "IISN1012")))
        );
        assert_eq!(
            static_content(
                r#"<clientCache cacheControlMode="UseMaxAge" cacheControlMaxAge="7d"/>"#
            ),
            (vec!["IISN1012"], Some((0x8007_000d, "IISN1012")))
        );
        assert_eq!(
            static_content(r#"<clientCache cacheControlMode="Forever"/>"#),
            (vec!["IISN1012"], Some((0x8007_000d, "IISN1012")))
        );
        assert_eq!(
            static_content(
                r#"<remove fileExtension=".json"/><mimeMap fileExtension=".json" mimeType="application/json"/><clientCache cacheControlMode="UseMaxAge" cacheControlMaxAge="7.00:00:00"/>"#
            ),
            (vec![], None)
        );
        // Neither is among the errors IIS fails the whole folder for.
        assert_eq!(
            codes::iis_load_hresult(&codes::STATIC_CONTENT_UNREADABLE),
            None
        );
    }

    /// IIS's server file has `X-Powered-By: ASP.NET` in customHeaders: `<remove>` drops it,
    /// and adding the name again without `<remove>` is a duplicate (500.19 on IIS).
    #[test]
    fn custom_headers_start_with_x_powered_by() {
        let headers = |inner: &str| {
            let mut d = Vec::new();
            let mut cfg = iis_defaults();
            let text = format!(
                "<configuration><system.webServer><httpProtocol><customHeaders>{inner}</customHeaders></httpProtocol></system.webServer></configuration>"
            );
            apply(&mut cfg, &sections(0, &text, &mut d), "", &mut d);
            let codes: Vec<_> = d.iter().map(|d| d.code()).collect();
            let names: Vec<_> = cfg
                .custom_headers
                .iter()
                .map(|h| format!("{}: {}", h.item.name.value, h.item.value.value))
                .collect();
            (codes, names)
        };
        let (codes, names) = headers("");
        assert!(codes.is_empty());
        assert_eq!(names, ["X-Powered-By: ASP.NET"]);
        let (codes, _) = headers(r#"<add name="x-powered-by" value="node"/>"#);
        assert_eq!(codes, ["IISN1004"]);
        let (codes, names) = headers(r#"<remove name="X-Powered-By"/><add name="X-A" value="1"/>"#);
        assert!(codes.is_empty(), "{codes:?}");
        assert_eq!(names, ["X-A: 1"]);
        let (codes, names) = headers(r#"<clear/>"#);
        assert!(codes.is_empty() && names.is_empty());
    }

    #[test]
    fn attributes_inherit_one_by_one() {
        let mut d = Vec::new();
        let mut cfg = iis_defaults();
        let root = sections(
            0,
            r#"<configuration><system.webServer><iisnode nodeProcessCountPerApplication="2" loggingEnabled="false"/><webSocket enabled="false"/></system.webServer></configuration>"#,
            &mut d,
        );
        let child = sections(
            1,
            r#"<configuration><system.webServer><iisnode nodeProcessCountPerApplication="4"/></system.webServer></configuration>"#,
            &mut d,
        );
        apply(&mut cfg, &root, "", &mut d);
        apply(&mut cfg, &child, "sub", &mut d);
        use crate::config::schema::Attr;
        let n = cfg
            .iisnode_value(Attr::NodeProcessCountPerApplication)
            .expect("set");
        assert_eq!((n.item.raw.as_str(), n.level.as_str()), ("4", "sub"));
        let l = cfg.iisnode_value(Attr::LoggingEnabled).expect("set");
        assert_eq!((l.item.raw.as_str(), l.level.as_str()), ("false", ""));
        assert!(!cfg.web_socket_enabled);
    }
}
