//! web.config → typed sections, every value with its span.
//!
//! This reads one file. It validates each attribute the way the IIS schema would (booleans,
//! numbers, enumerations, required keys) and records problems as diagnostics, keeping
//! whatever it could read. Sections iisn does not emulate are recorded, not rejected. The
//! hierarchy (parent and child files, `<location>`, collection inheritance) is
//! [`super::merge`]'s job; this module never looks at another file.

use crate::config::schema::{self, Attr, Kind, LEGACY};
use crate::config::source::{SourceId, Span, Spanned};
use crate::config::xml::{Attribute, Element};
use crate::diag::{Diagnostic, codes};

/// One parsed web.config.
#[derive(Clone, Debug, Default)]
pub struct RawWebConfig {
    /// Sections outside any `<location>` (or in `<location path=".">`/`path=""`).
    pub sections: Sections,
    /// `<location path="sub/dir">` blocks, path normalised to `a/b` (no leading or trailing
    /// slash).
    pub locations: Vec<Location>,
    /// `<location overrideMode="Deny">` (or the legacy `allowOverride="false"`) blocks: the
    /// sections they hold may not be set again at or below their path by a deeper level.
    pub locks: Vec<SectionLock>,
}

/// The sections a `<location overrideMode="Deny">` locks.
#[derive(Clone, Debug)]
pub struct SectionLock {
    /// The location's path, normalised as [`Location::path`] (`""`: the file's own folder).
    pub path: String,
    /// The `overrideMode` or `allowOverride` attribute's value.
    pub span: Span,
    /// The sections locked, as in [`Sections::declared`].
    pub sections: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Location {
    pub path: Spanned<String>,
    pub sections: Sections,
}

/// The sections iisn reads from `system.webServer` and `appSettings`.
#[derive(Clone, Debug, Default)]
pub struct Sections {
    pub iisnode: Option<IisnodeSection>,
    pub handlers: Option<Collection<HandlerEntry>>,
    /// `<handlers accessPolicy>`: the [`access`] flags handler mappings may require.
    pub handlers_access_policy: Option<Spanned<u8>>,
    pub rewrite: Option<RewriteSection>,
    pub default_document: Option<DefaultDocumentSection>,
    pub directory_browse: Option<DirectoryBrowseSection>,
    pub static_content: Option<StaticContentSection>,
    pub request_filtering: Option<RequestFilteringSection>,
    pub http_errors: Option<HttpErrorsSection>,
    pub web_socket: Option<WebSocketSection>,
    pub custom_headers: Option<Collection<CustomHeader>>,
    /// The `<httpProtocol>` element: IIS's section (customHeaders is one of its children), so
    /// a second one at the same level is a duplicate section even when its children differ.
    pub http_protocol: Option<Span>,
    pub app_settings: Option<AppSettingsSection>,
    /// Elements kept but not emulated (`system.web`, `modules`, ...), as a path such as
    /// `system.webServer/modules`.
    pub not_emulated: Vec<Spanned<String>>,
    /// Every section written here under `<system.webServer>`, as IIS names it below that
    /// group (`handlers`, `security/requestFiltering`, `rewrite/rules`), with its element:
    /// what a parent's `<location overrideMode="Deny">` locks.
    pub declared: Vec<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------
// Collections
// ---------------------------------------------------------------------------------------

/// An IIS collection as written in one file: `<add>`, `<remove>` and `<clear/>` in order.
#[derive(Clone, Debug)]
pub struct Collection<T> {
    pub span: Span,
    pub ops: Vec<CollectionOp<T>>,
    /// `lockElements="remove,clear"` on the collection: the directives (lower-cased) a
    /// lower web.config may not use on it, with the attribute's value.
    pub locked_directives: Vec<Spanned<String>>,
    /// Keys of the entries added with `lockItem="true"`, at that attribute's value: a lower
    /// web.config may not `<remove>` them (nor `<clear/>` the collection).
    pub locked_keys: Vec<Spanned<String>>,
}

impl<T> Collection<T> {
    fn new(span: Span) -> Self {
        Collection {
            span,
            ops: Vec::new(),
            locked_directives: Vec::new(),
            locked_keys: Vec::new(),
        }
    }

    /// The entries this file adds (ignoring removes and clears).
    pub fn added(&self) -> impl Iterator<Item = &T> {
        self.ops.iter().filter_map(|op| match op {
            CollectionOp::Add(t) => Some(t),
            _ => None,
        })
    }
}

#[derive(Clone, Debug)]
pub enum CollectionOp<T> {
    Add(T),
    Remove(Spanned<String>),
    Clear(Span),
}

/// An entry of a keyed collection.
pub trait Keyed {
    /// The collection key, as written.
    fn key(&self) -> &Spanned<String>;
    /// Whether keys compare case-sensitively (handler names do; most others do not).
    const CASE_SENSITIVE: bool = false;
    /// Where the entry was added.
    fn span(&self) -> Span;
}

macro_rules! keyed {
    ($t:ty, $field:ident) => {
        keyed!($t, $field, false);
    };
    ($t:ty, $field:ident, $cs:literal) => {
        impl Keyed for $t {
            fn key(&self) -> &Spanned<String> {
                &self.$field
            }
            const CASE_SENSITIVE: bool = $cs;
            fn span(&self) -> Span {
                self.span
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Section types
// ---------------------------------------------------------------------------------------

/// `<iisnode>`: attributes kept raw (precedence and expansion happen later), each validated
/// against the schema.
#[derive(Clone, Debug)]
pub struct IisnodeSection {
    pub span: Span,
    pub values: Vec<IisnodeValue>,
}

#[derive(Clone, Debug)]
pub struct IisnodeValue {
    pub attr: Attr,
    /// Unescaped, not yet `%VAR%`-expanded.
    pub raw: String,
    pub name_span: Span,
    pub value_span: Span,
    /// Passed schema validation.
    pub valid: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Unspecified,
    File,
    Directory,
    Either,
}

#[derive(Clone, Debug)]
pub struct HandlerEntry {
    pub name: Spanned<String>,
    pub path: Spanned<String>,
    pub verb: Spanned<String>,
    pub modules: Option<Spanned<String>>,
    pub script_processor: Option<Spanned<String>>,
    pub type_: Option<Spanned<String>>,
    pub resource_type: ResourceType,
    pub require_access: Option<Spanned<String>>,
    pub pre_condition: Option<Spanned<String>>,
    pub span: Span,
}
keyed!(HandlerEntry, name, true);

impl HandlerEntry {
    /// Whether the mapping's `preCondition` can never hold where iisn's IIS runs node (an
    /// Integrated-mode pool, .NET 4 or No Managed Code): `classicMode`, or a .NET runtime
    /// before 4 (`runtimeVersionv2.0`). IIS skips such a mapping and the next one that fits
    /// takes the request (observed on IIS 10, MH25): ASP.NET's classic `*-ISAPI-*` mappings,
    /// copied into many web.configs, never answer there. `bitness32`/`bitness64` depend on the
    /// pool and are taken to hold.
    pub fn precondition_never_holds(&self) -> bool {
        self.pre_condition.as_ref().is_some_and(|p| {
            p.value.split(',').any(|t| {
                let t = t.trim();
                t.eq_ignore_ascii_case("classicMode")
                    || t.eq_ignore_ascii_case("runtimeVersionv2.0")
                    || t.eq_ignore_ascii_case("runtimeVersionv1.1")
            })
        })
    }

    /// Whether the mapping names the iisnode module (`modules="iisnode"`, case-insensitive,
    /// possibly in a comma list).
    pub fn is_iisnode(&self) -> bool {
        self.has_module("iisnode")
    }

    /// Whether `modules` names `module` (case-insensitive, in a comma list). A mapping
    /// without `modules` is a managed handler (`ManagedPipelineHandler`), which names none.
    pub fn has_module(&self, module: &str) -> bool {
        self.modules.as_ref().is_some_and(|m| {
            m.value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(module))
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternSyntax {
    EcmaScript,
    Wildcard,
    ExactMatch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicalGrouping {
    MatchAll,
    MatchAny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchType {
    Pattern,
    IsFile,
    IsDirectory,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionType {
    None,
    Rewrite,
    Redirect,
    CustomResponse,
    AbortRequest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectType {
    /// 301
    Permanent,
    /// 302
    Found,
    /// 303
    SeeOther,
    /// 307
    Temporary,
}

impl RedirectType {
    pub fn status(self) -> u16 {
        match self {
            RedirectType::Permanent => 301,
            RedirectType::Found => 302,
            RedirectType::SeeOther => 303,
            RedirectType::Temporary => 307,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct RewriteSection {
    pub rules: Option<Collection<RewriteRule>>,
    pub maps: Option<Collection<RewriteMap>>,
    pub outbound: Option<OutboundSection>,
    pub span: Option<Span>,
}

/// `<rewrite><outboundRules>`: rules run on the response (URL Rewrite 2.0).
#[derive(Clone, Debug)]
pub struct OutboundSection {
    pub rules: Collection<OutboundRule>,
    pub pre_conditions: Option<Collection<PreCondition>>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct OutboundRule {
    pub name: Spanned<String>,
    pub enabled: bool,
    pub pattern_syntax: PatternSyntax,
    pub stop_processing: bool,
    pub pre_condition: Option<Spanned<String>>,
    pub match_: Option<OutboundMatch>,
    pub conditions: Conditions,
    /// `Rewrite` (true) or `None` (false).
    pub rewrite: bool,
    /// The action's `value`: the new content.
    pub value: Option<Spanned<String>>,
    pub span: Span,
}
keyed!(OutboundRule, name);

/// An outbound `<match>`: a response header (`serverVariable="RESPONSE_X"`) or response
/// body content (`filterByTags`, not emulated).
#[derive(Clone, Debug)]
pub struct OutboundMatch {
    pub server_variable: Option<Spanned<String>>,
    pub filter_by_tags: Option<Spanned<String>>,
    pub pattern: Option<Spanned<String>>,
    pub ignore_case: bool,
    pub negate: bool,
    pub span: Span,
}

/// A named `<preCondition>`: conditions an outbound rule needs before it runs.
#[derive(Clone, Debug)]
pub struct PreCondition {
    pub name: Spanned<String>,
    pub pattern_syntax: PatternSyntax,
    pub conditions: Conditions,
    pub span: Span,
}
keyed!(PreCondition, name);

#[derive(Clone, Debug)]
pub struct RewriteRule {
    pub name: Spanned<String>,
    pub enabled: bool,
    pub pattern_syntax: PatternSyntax,
    pub stop_processing: bool,
    pub match_: Option<RuleMatch>,
    pub conditions: Conditions,
    pub server_variables: Vec<SetServerVariable>,
    pub action: Option<RuleAction>,
    pub span: Span,
}
keyed!(RewriteRule, name);

#[derive(Clone, Debug)]
pub struct RuleMatch {
    /// `None` when the attribute is absent: matches everything.
    pub url: Option<Spanned<String>>,
    pub ignore_case: bool,
    pub negate: bool,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Conditions {
    pub logical_grouping: LogicalGrouping,
    pub track_all_captures: bool,
    pub items: Vec<Condition>,
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions {
            logical_grouping: LogicalGrouping::MatchAll,
            track_all_captures: false,
            items: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Condition {
    pub input: Spanned<String>,
    pub match_type: MatchType,
    pub pattern: Option<Spanned<String>>,
    pub ignore_case: bool,
    pub negate: bool,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct SetServerVariable {
    pub name: Spanned<String>,
    pub value: Spanned<String>,
    pub replace: bool,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct RuleAction {
    pub kind: ActionType,
    pub url: Option<Spanned<String>>,
    pub append_query_string: bool,
    pub log_rewritten_url: bool,
    pub redirect_type: RedirectType,
    pub status_code: Option<Spanned<u64>>,
    pub sub_status_code: u64,
    pub status_reason: Option<Spanned<String>>,
    pub status_description: Option<Spanned<String>>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct RewriteMap {
    pub name: Spanned<String>,
    pub default_value: String,
    pub ignore_case: bool,
    pub entries: Collection<MapEntry>,
    pub span: Span,
}
keyed!(RewriteMap, name);

#[derive(Clone, Debug)]
pub struct MapEntry {
    pub key: Spanned<String>,
    pub value: Spanned<String>,
    pub span: Span,
}
keyed!(MapEntry, key);

#[derive(Clone, Debug)]
pub struct DefaultDocumentSection {
    pub enabled: Option<Spanned<bool>>,
    pub files: Option<Collection<DefaultDocumentFile>>,
}

#[derive(Clone, Debug)]
pub struct DefaultDocumentFile {
    pub value: Spanned<String>,
    pub span: Span,
}
keyed!(DefaultDocumentFile, value);

#[derive(Clone, Debug)]
pub struct DirectoryBrowseSection {
    pub enabled: Option<Spanned<bool>>,
}

#[derive(Clone, Debug, Default)]
pub struct StaticContentSection {
    pub mime_maps: Option<Collection<MimeMapEntry>>,
    pub client_cache: Option<ClientCacheRaw>,
}

#[derive(Clone, Debug)]
pub struct MimeMapEntry {
    pub file_extension: Spanned<String>,
    pub mime_type: Spanned<String>,
    pub span: Span,
}
keyed!(MimeMapEntry, file_extension);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheControlMode {
    NoControl,
    DisableCache,
    UseMaxAge,
    UseExpires,
}

#[derive(Clone, Debug)]
pub struct ClientCacheRaw {
    pub mode: Option<Spanned<CacheControlMode>>,
    /// Seconds, from the .NET `[d.]hh:mm:ss` time span.
    pub max_age: Option<Spanned<u64>>,
    pub http_expires: Option<Spanned<String>>,
    pub custom: Option<Spanned<String>>,
    pub set_etag: Option<Spanned<bool>>,
    /// A value IIS cannot read when it serves a static file (IISN1012, reported): the
    /// static files below the folder answer 500.19.
    pub fault: Option<Diagnostic>,
}

#[derive(Clone, Debug, Default)]
pub struct RequestFilteringSection {
    pub hidden_segments: Option<Collection<HiddenSegment>>,
    pub file_extensions: Option<FileExtensionsRaw>,
    pub request_limits: Option<RequestLimitsRaw>,
    pub allow_double_escaping: Option<Spanned<bool>>,
    pub allow_high_bit_characters: Option<Spanned<bool>>,
    /// `removeServerHeader` (IIS 10, version 1709 and later).
    pub remove_server_header: Option<Spanned<bool>>,
    pub verbs: Option<VerbsRaw>,
    pub deny_url_sequences: Option<Collection<DenySequence>>,
    pub deny_query_string_sequences: Option<Collection<DenySequence>>,
    pub filtering_rules: Option<Collection<FilteringRule>>,
    pub always_allowed_urls: Option<Collection<AlwaysAllowed>>,
    pub always_allowed_query_strings: Option<Collection<AlwaysAllowed>>,
    pub span: Option<Span>,
}

#[derive(Clone, Debug)]
pub struct HiddenSegment {
    pub segment: Spanned<String>,
    pub span: Span,
}
keyed!(HiddenSegment, segment);

#[derive(Clone, Debug)]
pub struct FileExtensionsRaw {
    pub allow_unlisted: Option<Spanned<bool>>,
    pub entries: Collection<FileExtensionRule>,
}

#[derive(Clone, Debug)]
pub struct FileExtensionRule {
    pub file_extension: Spanned<String>,
    pub allowed: bool,
    pub span: Span,
}
keyed!(FileExtensionRule, file_extension);

#[derive(Clone, Debug, Default)]
pub struct RequestLimitsRaw {
    pub max_allowed_content_length: Option<Spanned<u64>>,
    pub max_url: Option<Spanned<u64>>,
    pub max_query_string: Option<Spanned<u64>>,
    /// `<headerLimits>`: the longest value each named request header may have.
    pub header_limits: Option<Collection<HeaderLimit>>,
}

#[derive(Clone, Debug)]
pub struct HeaderLimit {
    pub header: Spanned<String>,
    pub size_limit: u64,
    pub span: Span,
}
keyed!(HeaderLimit, header);

/// `<verbs allowUnlisted>` and its `<add verb allowed>` entries.
#[derive(Clone, Debug)]
pub struct VerbsRaw {
    pub allow_unlisted: Option<Spanned<bool>>,
    pub entries: Collection<VerbRule>,
}

#[derive(Clone, Debug)]
pub struct VerbRule {
    pub verb: Spanned<String>,
    pub allowed: bool,
    pub span: Span,
}
keyed!(VerbRule, verb);

/// A `denyUrlSequences` / `denyQueryStringSequences` entry.
#[derive(Clone, Debug)]
pub struct DenySequence {
    pub sequence: Spanned<String>,
    pub span: Span,
}
keyed!(DenySequence, sequence);

/// A `filteringRules/filteringRule`: deny strings looked for in the parts of a request the
/// rule scans. Its own lists (`scanHeaders`, `appliesTo`, `denyStrings`) are collections
/// inside the element, resolved here (`<remove>`/`<clear/>` apply within the rule; a
/// duplicate is a 500.19 like any other): a child web.config cannot edit an inherited
/// rule's lists, only `<remove name>` it and add its own.
#[derive(Clone, Debug)]
pub struct FilteringRule {
    pub name: Spanned<String>,
    pub scan_url: bool,
    pub scan_query_string: bool,
    pub scan_all_raw: bool,
    pub deny_unescaped_percent: bool,
    /// Request header names whose values are scanned.
    pub scan_headers: Vec<Spanned<String>>,
    /// File extensions (`.gif`) the rule applies to; empty: every request.
    pub applies_to: Vec<Spanned<String>>,
    pub deny_strings: Vec<Spanned<String>>,
    pub span: Span,
}
keyed!(FilteringRule, name);

/// An `alwaysAllowedUrls` (`url`) or `alwaysAllowedQueryStrings` (`queryString`) entry.
#[derive(Clone, Debug)]
pub struct AlwaysAllowed {
    pub value: Spanned<String>,
    pub span: Span,
}
keyed!(AlwaysAllowed, value);

/// An entry of a collection nested in a `filteringRule` (`requestHeader`, `fileExtension`,
/// `string`).
#[derive(Clone, Debug)]
pub struct RuleListEntry {
    pub value: Spanned<String>,
    pub span: Span,
}
keyed!(RuleListEntry, value);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorMode {
    DetailedLocalOnly,
    Custom,
    Detailed,
}

/// `<httpErrors existingResponse>`: what IIS does with an error response a module (for
/// iisn: node, through iisnode) already wrote (`serve::pipeline::errors` has the rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExistingResponse {
    /// IIS decides: replaced under errorMode Custom, and under Detailed when it has no
    /// body (iisnode never asks IIS to skip custom errors).
    Auto,
    /// Always replaced by the error page.
    Replace,
    /// Never touched.
    PassThrough,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseMode {
    File,
    ExecuteUrl,
    Redirect,
}

#[derive(Clone, Debug)]
pub struct HttpErrorsSection {
    pub error_mode: Option<Spanned<ErrorMode>>,
    pub existing_response: Option<Spanned<ExistingResponse>>,
    pub default_path: Option<Spanned<String>>,
    pub default_response_mode: Option<Spanned<ResponseMode>>,
    pub errors: Collection<ErrorPage>,
}

#[derive(Clone, Debug)]
pub struct ErrorPage {
    /// `"404"` or `"404.13"`: the collection key (statusCode + subStatusCode).
    pub key: Spanned<String>,
    pub status_code: u16,
    /// -1 = any.
    pub sub_status_code: i32,
    pub path: Option<Spanned<String>>,
    pub response_mode: Option<ResponseMode>,
    /// The folder of per-language subfolders the `File` page is looked up in
    /// (`prefix\<language>\path`), e.g. IIS's own `%SystemDrive%\inetpub\custerr`.
    pub prefix_language_file_path: Option<Spanned<String>>,
    pub span: Span,
}
keyed!(ErrorPage, key);

#[derive(Clone, Debug)]
pub struct WebSocketSection {
    pub enabled: Option<Spanned<bool>>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct CustomHeader {
    pub name: Spanned<String>,
    pub value: Spanned<String>,
    pub span: Span,
}
keyed!(CustomHeader, name);

#[derive(Clone, Debug)]
pub struct AppSettingsSection {
    /// `file="..."`: .NET merges that file; iisnode does not promote its keys.
    pub file: Option<Spanned<String>>,
    pub entries: Collection<AppSetting>,
}

#[derive(Clone, Debug)]
pub struct AppSetting {
    pub key: Spanned<String>,
    pub value: Spanned<String>,
    pub span: Span,
}
keyed!(AppSetting, key, true);

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Attribute names every IIS element accepts (locking, configSource, transforms).
fn is_generic_attribute(name: &str) -> bool {
    name.starts_with("lock")
        || name == "configSource"
        || name.starts_with("xmlns")
        || name.starts_with("xdt:")
}

/// Reads the attributes of one element with schema validation, then reports the ones
/// nobody asked for.
struct Attrs<'a> {
    el: &'a Element,
    used: Vec<bool>,
}

impl<'a> Attrs<'a> {
    fn new(el: &'a Element) -> Self {
        Attrs {
            el,
            used: vec![false; el.attributes.len()],
        }
    }

    fn raw(&mut self, name: &str) -> Option<&'a Attribute> {
        let i = self.el.attributes.iter().position(|a| a.name == name)?;
        self.used[i] = true;
        Some(&self.el.attributes[i])
    }

    fn string(&mut self, name: &str) -> Option<Spanned<String>> {
        self.raw(name)
            .map(|a| Spanned::new(a.value.clone(), a.value_span))
    }

    fn required(&mut self, name: &str, diags: &mut Vec<Diagnostic>) -> Option<Spanned<String>> {
        let v = self.string(name);
        if v.is_none() {
            diags.push(
                Diagnostic::new(
                    &codes::MISSING_ATTRIBUTE,
                    format!(
                        "<{}> is missing its required `{name}` attribute",
                        self.el.name
                    ),
                )
                .at(self.el.name_span)
                .help(format!("Add {name}=\"...\" to this element.")),
            );
        }
        v
    }

    fn choice<T: Copy>(
        &mut self,
        name: &str,
        options: &[(&str, T)],
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Spanned<T>> {
        let a = self.raw(name)?;
        let v = a.value.trim();
        if let Some((_, t)) = options.iter().find(|(n, _)| n.eq_ignore_ascii_case(v)) {
            return Some(Spanned::new(*t, a.value_span));
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        diags.push(
            Diagnostic::new(
                &codes::INVALID_VALUE,
                format!("`{}` is not a valid value for {name}", a.value),
            )
            .at(a.value_span)
            .help(format!("Use one of: {}.", names.join(", "))),
        );
        None
    }

    fn bool(&mut self, name: &str, diags: &mut Vec<Diagnostic>) -> Option<Spanned<bool>> {
        self.choice(name, &[("true", true), ("false", false)], diags)
    }

    fn uint(&mut self, name: &str, max: u64, diags: &mut Vec<Diagnostic>) -> Option<Spanned<u64>> {
        let a = self.raw(name)?;
        match parse_iis_uint(&a.value).filter(|&n| n <= max) {
            Some(n) => Some(Spanned::new(n, a.value_span)),
            None => {
                diags.push(
                    Diagnostic::new(
                        &codes::INVALID_VALUE,
                        format!("`{}` is not a valid value for {name}", a.value),
                    )
                    .at(a.value_span)
                    .help(format!("Use a decimal integer from 0 to {max}.")),
                );
                None
            }
        }
    }

    /// Reports every attribute that was not read.
    fn finish(self, diags: &mut Vec<Diagnostic>) {
        for (a, used) in self.el.attributes.iter().zip(self.used) {
            if !used && !is_generic_attribute(&a.name) {
                diags.push(
                    Diagnostic::new(
                        &codes::UNKNOWN_ATTRIBUTE,
                        format!("<{}> has no attribute `{}` in the IIS schema", self.el.name, a.name),
                    )
                    .at(a.name_span)
                    .help("IIS rejects unknown attributes with HTTP 500.19; check the spelling and case."),
                );
            }
        }
    }

    /// Marks attributes as known without reading them (documented, not emulated).
    fn ignore(&mut self, names: &[&str]) {
        for n in names {
            let _ = self.raw(n);
        }
    }
}

/// `<handlers accessPolicy>` and a mapping's `requireAccess`: which mappings may run.
pub mod access {
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const SCRIPT: u8 = 4;
    pub const EXECUTE: u8 = 8;
    /// IIS's default: static files and script mappings (iisnode), no executables.
    pub const STOCK: u8 = READ | SCRIPT;

    /// Parses `Read, Script` (flags, case-insensitive); `Err` names the first bad flag.
    /// `Source` and the `NoRemote*` flags are accepted; they do not change what iisn runs
    /// for a local client.
    pub fn parse_policy(text: &str) -> Result<u8, String> {
        let mut bits = 0;
        for flag in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            bits |= match flag.to_ascii_lowercase().as_str() {
                "none" | "source" | "noremoteread" | "noremotewrite" | "noremotescript"
                | "noremoteexecute" => 0,
                "read" => READ,
                "write" => WRITE,
                "script" => SCRIPT,
                "execute" => EXECUTE,
                _ => return Err(flag.to_string()),
            };
        }
        Ok(bits)
    }

    /// Whether a mapping with `requireAccess` (`Script`, the schema's default, when absent)
    /// may run under `policy`. Execute access includes Script, as in IIS Manager's feature
    /// permissions.
    pub fn allows(policy: u8, require: Option<&str>) -> bool {
        let r = require.map_or("Script", str::trim);
        let need = match r.to_ascii_lowercase().as_str() {
            "read" => READ,
            "write" => WRITE,
            "script" => SCRIPT,
            "execute" => EXECUTE,
            _ => 0,
        };
        need == 0 || policy & need != 0 || (need == SCRIPT && policy & EXECUTE != 0)
    }
}

/// IIS's uint syntax: decimal digits only (surrounding spaces tolerated).
pub fn parse_iis_uint(s: &str) -> Option<u64> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) || t.len() > 20 {
        return None;
    }
    t.parse().ok()
}

const U32: u64 = u32::MAX as u64;

/// Parse one web.config (its root element must be `<configuration>`).
pub fn read(root: &Element, diags: &mut Vec<Diagnostic>) -> RawWebConfig {
    let mut cfg = RawWebConfig::default();
    if root.name != "configuration" {
        diags.push(
            Diagnostic::new(
                &codes::ROOT_ELEMENT,
                format!("the root element is <{}>, not <configuration>", root.name),
            )
            .at(root.name_span)
            .help("A web.config must have <configuration> as its root element."),
        );
        return cfg;
    }
    for child in &root.children {
        match child.name.as_str() {
            "location" => read_location(child, &mut cfg, diags),
            _ => read_top_level(child, &mut cfg.sections, diags),
        }
    }
    stray_text(root, true, diags);
    cfg
}

/// IISN1014: text inside `<configuration>`, a `<location>` or anything in
/// `<system.webServer>`, none of which has text content in IIS's schema. IIS reads elements
/// and attributes and passes over the text, so what it says has no effect: often an element
/// that lost its `<` (`add name="iisnode" ... />` inside `<handlers>`, which leaves the site
/// without its mapping and its script served as a file). `walk`: the element is one whose
/// children are looked at too.
fn stray_text(el: &Element, walk: bool, diags: &mut Vec<Diagnostic>) {
    if let Some(span) = el.text {
        diags.push(
            Diagnostic::new(
                &codes::TEXT_CONTENT,
                format!("text inside <{}>: IIS ignores it", el.name),
            )
            .at(span)
            .help(format!(
                "IIS reads only elements and attributes in <{}>; if this was meant as an element, it lost its `<` (write <add ... />). Otherwise delete the text, or make it a comment (<!-- ... -->).",
                el.name
            )),
        );
    }
    if walk {
        for child in &el.children {
            match child.name.as_str() {
                "location" => stray_text(child, true, diags),
                "system.webServer" => stray_text_below(child, diags),
                _ => {}
            }
        }
    }
}

fn stray_text_below(el: &Element, diags: &mut Vec<Diagnostic>) {
    stray_text(el, false, diags);
    for child in &el.children {
        stray_text_below(child, diags);
    }
}

fn read_location(el: &Element, cfg: &mut RawWebConfig, diags: &mut Vec<Diagnostic>) {
    let mut attrs = Attrs::new(el);
    let path = attrs.string("path");
    // `Deny` and `false` lock, in any case, as every other enumeration and boolean is read
    // here ([`Attrs::choice`]): `overrideMode="deny"` must not leave the section open.
    let lock = attrs
        .string("overrideMode")
        .filter(|v| v.value.trim().eq_ignore_ascii_case("Deny"))
        .or_else(|| {
            attrs
                .string("allowOverride")
                .filter(|v| v.value.trim().eq_ignore_ascii_case("false"))
        });
    attrs.ignore(&[
        "overrideMode",
        "inheritInChildApplications",
        "allowOverride",
    ]);
    attrs.finish(diags);
    let (norm, span) = match &path {
        Some(p) => (normalize_location_path(&p.value), p.span),
        None => (Some(String::new()), el.name_span),
    };
    let Some(norm) = norm else {
        diags.push(
            Diagnostic::new(
                &codes::LOCATION_PATH,
                format!(
                    "cannot apply <location path=\"{}\">",
                    path.as_ref().map(|p| p.value.as_str()).unwrap_or_default()
                ),
            )
            .at(span)
            .help("Use a URL path relative to this web.config's folder, such as `api` or `static/img`."),
        );
        return;
    };
    let mut sections = Sections::default();
    for child in &el.children {
        read_top_level(child, &mut sections, diags);
    }
    if let Some(lock) = lock {
        cfg.locks.push(SectionLock {
            path: norm.clone(),
            span: lock.span,
            sections: sections.declared.iter().map(|d| d.value.clone()).collect(),
        });
    }
    if norm.is_empty() {
        // `path="."` or `path=""` is this very level: a section may not appear both here
        // and outside the location (IIS), which merge_into reports as a duplicate.
        merge_sections_into(&mut cfg.sections, sections, diags);
    } else {
        cfg.locations.push(Location {
            path: Spanned::new(norm, span),
            sections,
        });
    }
}

/// `a\b/` → `a/b`; `.` or empty → ``; `..`, drive letters and absolute URLs → None.
fn normalize_location_path(p: &str) -> Option<String> {
    let t = p.trim().replace('\\', "/");
    if t.contains(':') {
        return None;
    }
    let mut parts = Vec::new();
    for seg in t.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// Moves sections from a `<location path=".">` into the file's own sections.
fn merge_sections_into(dst: &mut Sections, src: Sections, diags: &mut Vec<Diagnostic>) {
    macro_rules! take {
        ($field:ident, $name:literal, $span:expr) => {
            if let Some(v) = src.$field {
                if dst.$field.is_some() {
                    let span: Span = $span(&v);
                    diags.push(duplicate_section($name, span));
                } else {
                    dst.$field = Some(v);
                }
            }
        };
    }
    take!(iisnode, "iisnode", |v: &IisnodeSection| v.span);
    take!(handlers, "handlers", |v: &Collection<HandlerEntry>| v.span);
    take!(rewrite, "rewrite", |v: &RewriteSection| v
        .span
        .unwrap_or_else(Span::builtin));
    take!(
        default_document,
        "defaultDocument",
        |_v: &DefaultDocumentSection| Span::builtin()
    );
    take!(
        directory_browse,
        "directoryBrowse",
        |_v: &DirectoryBrowseSection| Span::builtin()
    );
    take!(
        static_content,
        "staticContent",
        |_v: &StaticContentSection| Span::builtin()
    );
    take!(
        request_filtering,
        "requestFiltering",
        |v: &RequestFilteringSection| v.span.unwrap_or_else(Span::builtin)
    );
    take!(http_errors, "httpErrors", |v: &HttpErrorsSection| v
        .errors
        .span);
    take!(web_socket, "webSocket", |v: &WebSocketSection| v.span);
    take!(http_protocol, "httpProtocol", |v: &Span| *v);
    take!(custom_headers, "customHeaders", |v: &Collection<
        CustomHeader,
    >| v.span);
    take!(app_settings, "appSettings", |v: &AppSettingsSection| v
        .entries
        .span);
    dst.not_emulated.extend(src.not_emulated);
    dst.declared.extend(src.declared);
}

fn duplicate_section(name: &str, span: Span) -> Diagnostic {
    Diagnostic::new(
        &codes::DUPLICATE_SECTION,
        format!("the <{name}> section appears more than once"),
    )
    .at(span)
    .help("IIS allows each section once per level (HTTP 500.19 otherwise); merge the two elements.")
}

/// Stores `value` in `slot`, or reports a duplicate section.
fn once<T>(slot: &mut Option<T>, value: T, name: &str, span: Span, diags: &mut Vec<Diagnostic>) {
    if slot.is_some() {
        diags.push(duplicate_section(name, span));
    } else {
        *slot = Some(value);
    }
}

fn not_emulated(sections: &mut Sections, path: String, span: Span) {
    sections.not_emulated.push(Spanned::new(path, span));
}

/// Sections IIS knows under `<configuration>` besides those iisn reads (the .NET ones, and
/// custom ones commonly declared in `<configSections>`), so that they are never taken for a
/// misspelling.
const TOP_LEVEL_KNOWN: &[&str] = &[
    "system.web",
    "system.net",
    "system.codedom",
    "system.data",
    "system.diagnostics",
    "system.serviceModel",
    "system.transactions",
    "system.identityModel",
    "system.runtime.caching",
    "system.web.extensions",
    "system.xml.serialization",
    "runtime",
    "startup",
    "connectionStrings",
    "configSections",
    "configProtectedData",
    "applicationSettings",
    "userSettings",
    "entityFramework",
    "mscorlib",
    "uri",
];

/// `system.webServer` sections of IIS and its common modules that iisn does not read.
const WEB_SERVER_KNOWN: &[&str] = &[
    "asp",
    "caching",
    "cgi",
    "fastCgi",
    "globalModules",
    "httpCompression",
    "httpLogging",
    "httpRedirect",
    "httpTracing",
    "isapiFilters",
    "modules",
    "applicationInitialization",
    "odbcLogging",
    "serverRuntime",
    "serverSideInclude",
    "tracing",
    "urlCompression",
    "validation",
    "webdav",
    "management",
    "aspNetCore",
    "httpPlatform",
    "cors",
    "proxy",
    "advancedLogging",
    "applicationRequestRouting",
    "diagnostics",
    "webFarms",
    "monitoring",
];

/// `system.webServer/security` sections iisn does not read.
const SECURITY_KNOWN: &[&str] = &[
    "access",
    "applicationDependencies",
    "authentication",
    "authorization",
    "dynamicIpSecurity",
    "ipSecurity",
    "isapiCgiRestriction",
];

/// Levenshtein distance between two ASCII-case-folded names, stopping early above `limit`.
fn distance_ci(a: &str, b: &str, limit: usize) -> usize {
    let (a, b): (Vec<u8>, Vec<u8>) = (
        a.bytes().map(|c| c.to_ascii_lowercase()).collect(),
        b.bytes().map(|c| c.to_ascii_lowercase()).collect(),
    );
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = (prev + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = here;
        }
    }
    row[b.len()]
}

/// The section `name` (unknown to IIS) was meant to be, when it is one iisn reads or one IIS
/// knows written in another case, or one iisn reads with a letter or two wrong. IIS refuses
/// such a file (500.19: section names are case-sensitive), and reading on without the
/// section would serve the site without it: a `<handler>` meant to map server.js to
/// iisnode would leave the script to the static file handler, which sends its source.
fn misspelt_section<'a>(name: &str, read: &[&'a str], known: &[&'a str]) -> Option<&'a str> {
    if known.contains(&name) {
        return None;
    }
    // (Never the name itself: "did you mean <location>?" under <location> says nothing.)
    read.iter()
        .chain(known)
        .find(|k| k.eq_ignore_ascii_case(name))
        .or_else(|| read.iter().find(|k| distance_ci(k, name, 2) <= 2))
        .copied()
        .filter(|k| *k != name)
}

/// IISN1008 for a misspelt section (see [`misspelt_section`]).
fn misspelt(el: &Element, parent: &str, meant: &str) -> Diagnostic {
    Diagnostic::new(
        &codes::MISPLACED_ELEMENT,
        format!(
            "<{}> is not a section IIS knows under <{parent}>: did you mean <{meant}>?",
            el.name
        ),
    )
    .at(el.name_span)
    .help(format!(
        "IIS refuses the whole file (HTTP 500.19, unrecognized configuration section; section names are case-sensitive) until it is written <{meant}>."
    ))
}

fn read_top_level(el: &Element, s: &mut Sections, diags: &mut Vec<Diagnostic>) {
    match el.name.as_str() {
        "system.webServer" => {
            for child in &el.children {
                read_web_server_section(child, s, diags);
            }
        }
        "appSettings" => {
            let mut attrs = Attrs::new(el);
            let file = attrs.string("file");
            attrs.finish(diags);
            let entries = collection(el, "add", diags, "key", |el, a, d| {
                let key = a.required("key", d)?;
                let value = a
                    .string("value")
                    .unwrap_or_else(|| Spanned::new(String::new(), el.name_span));
                Some(AppSetting {
                    key,
                    value,
                    span: el.name_span,
                })
            });
            once(
                &mut s.app_settings,
                AppSettingsSection { file, entries },
                "appSettings",
                el.name_span,
                diags,
            );
        }
        // Locations under <configuration> are read by the caller: this one is inside another.
        "location" => diags.push(
            Diagnostic::new(
                &codes::MISPLACED_ELEMENT,
                "<location> inside another <location>: IIS reads locations only directly under <configuration>",
            )
            .at(el.name_span)
            .help("Write one <location> with the combined path (path=\"api/v1\") directly under <configuration>: IIS has no section named location and refuses the whole file (500.19) until it moves."),
        ),
        "iisnode" | "handlers" | "rewrite" | "defaultDocument" | "staticContent" | "httpErrors" => {
            diags.push(
                Diagnostic::new(
                    &codes::MISPLACED_ELEMENT,
                    format!("<{}> belongs inside <system.webServer>", el.name),
                )
                .at(el.name_span)
                .help("Move this element into <system.webServer>: IIS has no section declared here and refuses the whole file (500.19) until it moves."),
            );
        }
        other => match misspelt_section(
            other,
            &["system.webServer", "appSettings", "location"],
            TOP_LEVEL_KNOWN,
        ) {
            Some(meant) => diags.push(misspelt(el, "configuration", meant)),
            None => not_emulated(s, other.to_string(), el.name_span),
        },
    }
}

fn read_web_server_section(el: &Element, s: &mut Sections, diags: &mut Vec<Diagnostic>) {
    let span = el.name_span;
    // `security` and `rewrite` are section groups: their children are the sections.
    if matches!(el.name.as_str(), "security" | "rewrite") {
        for child in &el.children {
            s.declared.push(Spanned::new(
                format!("{}/{}", el.name, child.name),
                child.name_span,
            ));
        }
    } else {
        s.declared.push(Spanned::new(el.name.clone(), span));
    }
    match el.name.as_str() {
        "iisnode" => {
            let sec = read_iisnode(el, diags);
            once(&mut s.iisnode, sec, "iisnode", span, diags);
        }
        "handlers" => {
            let mut attrs = Attrs::new(el);
            if let Some(a) = attrs.raw("accessPolicy") {
                match access::parse_policy(&a.value) {
                    Ok(bits) => s.handlers_access_policy = Some(Spanned::new(bits, a.value_span)),
                    Err(bad) => diags.push(
                        Diagnostic::new(
                            &codes::INVALID_VALUE,
                            format!("`{bad}` is not a valid accessPolicy flag"),
                        )
                        .at(a.value_span)
                        .help("Use a comma-separated list of: None, Read, Write, Script, Execute, Source, NoRemoteRead, NoRemoteWrite, NoRemoteScript, NoRemoteExecute (the default is \"Read, Script\")."),
                    ),
                }
            }
            attrs.finish(diags);
            let c = collection(el, "add", diags, "name", read_handler);
            once(&mut s.handlers, c, "handlers", span, diags);
        }
        "rewrite" => {
            let sec = read_rewrite(el, s, diags);
            once(&mut s.rewrite, sec, "rewrite", span, diags);
        }
        "defaultDocument" => {
            let mut attrs = Attrs::new(el);
            let enabled = attrs.bool("enabled", diags);
            attrs.finish(diags);
            let mut files = None;
            for child in &el.children {
                if child.name == "files" {
                    let c = collection(child, "add", diags, "value", |el, a, d| {
                        Some(DefaultDocumentFile {
                            value: a.required("value", d)?,
                            span: el.name_span,
                        })
                    });
                    once(&mut files, c, "files", child.name_span, diags);
                } else {
                    unexpected_child(el, child, diags);
                }
            }
            once(
                &mut s.default_document,
                DefaultDocumentSection { enabled, files },
                "defaultDocument",
                span,
                diags,
            );
        }
        "directoryBrowse" => {
            let mut attrs = Attrs::new(el);
            let enabled = attrs.bool("enabled", diags);
            attrs.ignore(&["showFlags"]);
            attrs.finish(diags);
            once(
                &mut s.directory_browse,
                DirectoryBrowseSection { enabled },
                "directoryBrowse",
                span,
                diags,
            );
        }
        "staticContent" => {
            let sec = read_static_content(el, diags);
            once(&mut s.static_content, sec, "staticContent", span, diags);
        }
        "security" => {
            Attrs::new(el).finish(diags);
            for child in &el.children {
                if child.name == "authentication" && !child.children.is_empty() {
                    // Each method is a section of its own (and most are locked by default).
                    for method in &child.children {
                        not_emulated(
                            s,
                            format!("system.webServer/security/authentication/{}", method.name),
                            method.name_span,
                        );
                    }
                } else if child.name == "requestFiltering" {
                    let rf = read_request_filtering(child, diags);
                    once(
                        &mut s.request_filtering,
                        rf,
                        "requestFiltering",
                        child.name_span,
                        diags,
                    );
                } else if let Some(meant) =
                    misspelt_section(&child.name, &["requestFiltering"], SECURITY_KNOWN)
                {
                    diags.push(misspelt(child, "security", meant));
                } else {
                    not_emulated(
                        s,
                        format!("system.webServer/security/{}", child.name),
                        child.name_span,
                    );
                }
            }
        }
        "httpErrors" => {
            let sec = read_http_errors(el, diags);
            once(&mut s.http_errors, sec, "httpErrors", span, diags);
        }
        "webSocket" => {
            let mut attrs = Attrs::new(el);
            let enabled = attrs.bool("enabled", diags);
            attrs.ignore(&["receiveBufferLimit", "pingInterval"]);
            attrs.finish(diags);
            once(
                &mut s.web_socket,
                WebSocketSection { enabled, span },
                "webSocket",
                span,
                diags,
            );
        }
        "httpProtocol" => {
            if s.http_protocol.is_some() {
                // IIS reads the section once per level: the second element is 500.19
                // ("There is a duplicate 'system.webServer/httpProtocol' section defined"),
                // whatever each holds. Its children are not read, so the first stays in force.
                diags.push(duplicate_section("httpProtocol", span));
                return;
            }
            s.http_protocol = Some(span);
            let mut attrs = Attrs::new(el);
            attrs.ignore(&["allowKeepAlive"]);
            attrs.finish(diags);
            for child in &el.children {
                if child.name == "customHeaders" {
                    let c = collection(child, "add", diags, "name", |el, a, d| {
                        Some(CustomHeader {
                            name: a.required("name", d)?,
                            value: a
                                .string("value")
                                .unwrap_or_else(|| Spanned::new(String::new(), el.name_span)),
                            span: el.name_span,
                        })
                    });
                    once(
                        &mut s.custom_headers,
                        c,
                        "customHeaders",
                        child.name_span,
                        diags,
                    );
                } else {
                    not_emulated(
                        s,
                        format!("system.webServer/httpProtocol/{}", child.name),
                        child.name_span,
                    );
                }
            }
        }
        "appSettings" => {
            diags.push(
                Diagnostic::new(
                    &codes::MISPLACED_ELEMENT,
                    "<appSettings> belongs directly under <configuration>, not inside <system.webServer>",
                )
                .at(span)
                .help("Move <appSettings> up one level, directly under <configuration>: IIS refuses the file (500.19) while it is here."),
            );
        }
        other => match misspelt_section(
            other,
            &[
                "iisnode",
                "handlers",
                "rewrite",
                "defaultDocument",
                "directoryBrowse",
                "staticContent",
                "security",
                "httpErrors",
                "webSocket",
                "httpProtocol",
                "appSettings",
            ],
            WEB_SERVER_KNOWN,
        ) {
            Some(meant) => diags.push(misspelt(el, "system.webServer", meant)),
            None => not_emulated(s, format!("system.webServer/{other}"), span),
        },
    }
}

fn unexpected_child(parent: &Element, child: &Element, diags: &mut Vec<Diagnostic>) {
    diags.push(
        Diagnostic::new(
            &codes::MISPLACED_ELEMENT,
            format!(
                "unexpected element <{}> inside <{}>",
                child.name, parent.name
            ),
        )
        .at(child.name_span)
        .help(format!(
            "IIS rejects unknown elements in <{}> (HTTP 500.19); check the spelling.",
            parent.name
        )),
    );
}

/// Reads an add/remove/clear collection. `add_name` is the element that adds (`add`,
/// `rule`, `mimeMap`, ...), `key` the attribute that names an entry in `<remove>`.
fn collection<T>(
    el: &Element,
    add_name: &str,
    diags: &mut Vec<Diagnostic>,
    key: &str,
    mut read_add: impl FnMut(&Element, &mut Attrs<'_>, &mut Vec<Diagnostic>) -> Option<T>,
) -> Collection<T> {
    let mut c = Collection::new(el.name_span);
    // IIS's generic locking attributes (the reader accepts them on every element).
    if let Some(a) = el.attr("lockElements") {
        c.locked_directives = a
            .value
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .map(|d| Spanned::new(d, a.value_span))
            .collect();
    }
    for child in &el.children {
        if child.name == add_name
            && let (Some(lock), Some(k)) = (child.attr("lockItem"), child.attr(key))
            && lock.value.trim().eq_ignore_ascii_case("true")
        {
            c.locked_keys
                .push(Spanned::new(k.value.trim().to_string(), lock.value_span));
        }
        if child.name == add_name {
            let mut a = Attrs::new(child);
            // An entry that could not be read (a missing key) was reported already; its other
            // attributes were never looked at, so they are not "unknown".
            if let Some(item) = read_add(child, &mut a, diags) {
                a.finish(diags);
                c.ops.push(CollectionOp::Add(item));
            }
        } else if child.name == "remove" {
            let mut a = Attrs::new(child);
            let k = a.required(key, diags);
            a.finish(diags);
            if let Some(k) = k {
                c.ops.push(CollectionOp::Remove(k));
            }
        } else if child.name == "clear" {
            Attrs::new(child).finish(diags);
            c.ops.push(CollectionOp::Clear(child.name_span));
        } else {
            unexpected_child(el, child, diags);
        }
    }
    c
}

fn read_iisnode(el: &Element, diags: &mut Vec<Diagnostic>) -> IisnodeSection {
    let mut values = Vec::new();
    for a in &el.attributes {
        if is_generic_attribute(&a.name) {
            continue;
        }
        let Some(attr) = Attr::from_name(&a.name) else {
            diags.push(unknown_iisnode_attribute(a));
            continue;
        };
        let valid = match attr.schema().kind {
            Kind::Uint => parse_iis_uint(&a.value).is_some_and(|n| n <= U32),
            Kind::UintOrInfinite => {
                a.value.trim().eq_ignore_ascii_case("infinite")
                    || parse_iis_uint(&a.value).is_some_and(|n| n <= U32)
            }
            Kind::Bool => {
                let v = a.value.trim();
                v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
            }
            Kind::Str => true,
        };
        if !valid {
            let expected = match attr.schema().kind {
                Kind::Uint => "a decimal integer from 0 to 4294967295".to_string(),
                Kind::UintOrInfinite => {
                    "a decimal integer from 0 to 4294967295, or Infinite".to_string()
                }
                _ => "true or false".to_string(),
            };
            diags.push(
                Diagnostic::new(
                    &codes::IISNODE_INVALID_VALUE,
                    format!("`{}` is not a valid value for {}", a.value, attr.name()),
                )
                .at(a.value_span)
                .help(format!(
                    "{} takes {expected} (schema default: {}).",
                    attr.name(),
                    attr.schema().default
                )),
            );
        }
        values.push(IisnodeValue {
            attr,
            raw: a.value.clone(),
            name_span: a.name_span,
            value_span: a.value_span,
            valid,
        });
    }
    for child in &el.children {
        unexpected_child(el, child, diags);
    }
    IisnodeSection {
        span: el.name_span,
        values,
    }
}

fn unknown_iisnode_attribute(a: &Attribute) -> Diagnostic {
    if let Some((_, replacement, why)) = LEGACY.iter().find(|(n, _, _)| *n == a.name) {
        let help = match replacement {
            Some(r) => format!(
                "This is a legacy attribute ({why}); use {} instead.",
                r.name()
            ),
            None => format!("This is a legacy attribute ({why}); delete it."),
        };
        return Diagnostic::new(
            &codes::IISNODE_LEGACY_ATTRIBUTE,
            format!(
                "`{}` is a legacy <iisnode> attribute that current iisnode rejects",
                a.name
            ),
        )
        .at(a.name_span)
        .help(help);
    }
    let mut d = Diagnostic::new(
        &codes::IISNODE_UNKNOWN_ATTRIBUTE,
        format!("<iisnode> has no attribute `{}`", a.name),
    )
    .at(a.name_span)
    .note("iisnode answers every request with its configuration error page while this attribute is present");
    if let Some(exact) = Attr::from_name_ignore_case(&a.name) {
        d = d.help(format!(
            "Attribute names are case-sensitive: write `{}`.",
            exact.name()
        ));
    } else if let Some(s) = schema::suggest(&a.name, schema::SCHEMA.iter().map(|s| s.name)) {
        d = d.help(format!("Did you mean `{s}`?"));
    } else {
        d = d.help("Remove it; `iisn config` lists the 34 attributes iisnode accepts.");
    }
    d
}

fn read_handler(el: &Element, a: &mut Attrs<'_>, d: &mut Vec<Diagnostic>) -> Option<HandlerEntry> {
    let name = a.required("name", d);
    let path = a.required("path", d);
    let verb = a.required("verb", d);
    let modules = a.string("modules");
    let script_processor = a.string("scriptProcessor");
    let type_ = a.string("type");
    let resource_type = a
        .choice(
            "resourceType",
            &[
                ("Unspecified", ResourceType::Unspecified),
                ("File", ResourceType::File),
                ("Directory", ResourceType::Directory),
                ("Either", ResourceType::Either),
            ],
            d,
        )
        .map_or(ResourceType::Unspecified, |s| s.value);
    let require_access = a.string("requireAccess");
    let pre_condition = a.string("preCondition");
    a.ignore(&["allowPathInfo", "responseBufferLimit"]);
    Some(HandlerEntry {
        name: name?,
        path: path?,
        verb: verb?,
        modules,
        script_processor,
        type_,
        resource_type,
        require_access,
        pre_condition,
        span: el.name_span,
    })
}

fn read_rewrite(el: &Element, s: &mut Sections, diags: &mut Vec<Diagnostic>) -> RewriteSection {
    Attrs::new(el).finish(diags);
    let mut sec = RewriteSection {
        span: Some(el.name_span),
        ..Default::default()
    };
    for child in &el.children {
        match child.name.as_str() {
            "rules" => {
                Attrs::new(child).finish(diags);
                let c = collection(child, "rule", diags, "name", read_rule);
                once(&mut sec.rules, c, "rules", child.name_span, diags);
            }
            "rewriteMaps" => {
                let c = collection(child, "rewriteMap", diags, "name", |el, a, d| {
                    let name = a.required("name", d)?;
                    let default_value = a
                        .string("defaultValue")
                        .map(|s| s.value)
                        .unwrap_or_default();
                    let ignore_case = a.bool("ignoreCase", d).is_none_or(|b| b.value);
                    let entries = collection(el, "add", d, "key", |el, a, d| {
                        Some(MapEntry {
                            key: a.required("key", d)?,
                            value: a.required("value", d)?,
                            span: el.name_span,
                        })
                    });
                    Some(RewriteMap {
                        name,
                        default_value,
                        ignore_case,
                        entries,
                        span: el.name_span,
                    })
                });
                once(&mut sec.maps, c, "rewriteMaps", child.name_span, diags);
            }
            "outboundRules" => {
                let ob = read_outbound(child, s, diags);
                once(
                    &mut sec.outbound,
                    ob,
                    "outboundRules",
                    child.name_span,
                    diags,
                );
            }
            // Sections only applicationHost.config may hold: IIS refuses the file (500.19).
            "globalRules" | "allowedServerVariables" => diags.push(
                Diagnostic::new(
                    &codes::APPHOST_ONLY_SECTION,
                    format!(
                        "<{}> is allowed only in applicationHost.config: IIS answers 500.19 for this web.config",
                        child.name
                    ),
                )
                .at(child.name_span)
                .help("Remove it from web.config; on the server, put it in applicationHost.config (on Azure App Service, in an applicationHost.xdt transform)."),
            ),
            // The providers of URL Rewrite's extensibility: known, not emulated.
            "providers" => not_emulated(
                s,
                format!("system.webServer/rewrite/{}", child.name),
                child.name_span,
            ),
            _ => unexpected_child(el, child, diags),
        }
    }
    sec
}

fn pattern_syntax_attr(a: &mut Attrs<'_>, d: &mut Vec<Diagnostic>) -> PatternSyntax {
    a.choice(
        "patternSyntax",
        &[
            ("ECMAScript", PatternSyntax::EcmaScript),
            ("Wildcard", PatternSyntax::Wildcard),
            ("ExactMatch", PatternSyntax::ExactMatch),
        ],
        d,
    )
    .map_or(PatternSyntax::EcmaScript, |s| s.value)
}

/// `<outboundRules>`: header rules are emulated; body rules (`filterByTags`, or a
/// `<match>` without `serverVariable`) are read and validated, and noted as not emulated.
fn read_outbound(el: &Element, s: &mut Sections, diags: &mut Vec<Diagnostic>) -> OutboundSection {
    let mut a = Attrs::new(el);
    a.ignore(&["rewriteBeforeCache"]);
    a.finish(diags);
    let mut rules = Collection::new(el.name_span);
    let mut pre_conditions = None;
    let mut body_rule = None;
    for child in &el.children {
        match child.name.as_str() {
            "rule" => {
                let mut a = Attrs::new(child);
                if let Some(rule) = read_outbound_rule(child, &mut a, diags) {
                    a.finish(diags);
                    if rule
                        .match_
                        .as_ref()
                        .is_none_or(|m| m.server_variable.is_none())
                    {
                        body_rule.get_or_insert(child.name_span);
                    }
                    rules.ops.push(CollectionOp::Add(rule));
                }
            }
            "remove" => {
                let mut a = Attrs::new(child);
                let k = a.required("name", diags);
                a.finish(diags);
                if let Some(k) = k {
                    rules.ops.push(CollectionOp::Remove(k));
                }
            }
            "clear" => {
                Attrs::new(child).finish(diags);
                rules.ops.push(CollectionOp::Clear(child.name_span));
            }
            "preConditions" => {
                Attrs::new(child).finish(diags);
                let c = collection(child, "preCondition", diags, "name", |el, a, d| {
                    let name = a.required("name", d)?;
                    let pattern_syntax = pattern_syntax_attr(a, d);
                    let mut conditions = Conditions {
                        logical_grouping: a
                            .choice(
                                "logicalGrouping",
                                &[
                                    ("MatchAll", LogicalGrouping::MatchAll),
                                    ("MatchAny", LogicalGrouping::MatchAny),
                                ],
                                d,
                            )
                            .map_or(LogicalGrouping::MatchAll, |s| s.value),
                        ..Conditions::default()
                    };
                    for item in &el.children {
                        if item.name == "add" {
                            if let Some(c) = read_condition(item, d) {
                                conditions.items.push(c);
                            }
                        } else {
                            unexpected_child(el, item, d);
                        }
                    }
                    Some(PreCondition {
                        name,
                        pattern_syntax,
                        conditions,
                        span: el.name_span,
                    })
                });
                once(
                    &mut pre_conditions,
                    c,
                    "preConditions",
                    child.name_span,
                    diags,
                );
            }
            "customTags" => not_emulated(
                s,
                "system.webServer/rewrite/outboundRules/customTags".into(),
                child.name_span,
            ),
            _ => unexpected_child(el, child, diags),
        }
    }
    if let Some(span) = body_rule {
        not_emulated(
            s,
            "system.webServer/rewrite/outboundRules (response body rules)".into(),
            span,
        );
    }
    OutboundSection {
        rules,
        pre_conditions,
        span: el.name_span,
    }
}

fn read_outbound_rule(
    el: &Element,
    a: &mut Attrs<'_>,
    d: &mut Vec<Diagnostic>,
) -> Option<OutboundRule> {
    let name = a.required("name", d);
    let enabled = a.bool("enabled", d).is_none_or(|b| b.value);
    let pattern_syntax = pattern_syntax_attr(a, d);
    let stop_processing = a.bool("stopProcessing", d).is_some_and(|b| b.value);
    let pre_condition = a
        .string("preCondition")
        .filter(|p| !p.value.trim().is_empty());
    let mut rule = OutboundRule {
        name: name?,
        enabled,
        pattern_syntax,
        stop_processing,
        pre_condition,
        match_: None,
        conditions: Conditions {
            // Outbound conditions track all captures by default (URL Rewrite's schema).
            track_all_captures: true,
            ..Conditions::default()
        },
        rewrite: true,
        value: None,
        span: el.name_span,
    };
    for child in &el.children {
        match child.name.as_str() {
            "match" => {
                let mut m = Attrs::new(child);
                let om = OutboundMatch {
                    server_variable: m.string("serverVariable"),
                    filter_by_tags: m.string("filterByTags"),
                    pattern: m.string("pattern"),
                    ignore_case: m.bool("ignoreCase", d).is_none_or(|b| b.value),
                    negate: m.bool("negate", d).is_some_and(|b| b.value),
                    span: child.name_span,
                };
                m.ignore(&["customTags"]);
                m.finish(d);
                once(&mut rule.match_, om, "match", child.name_span, d);
            }
            "conditions" => {
                let mut c = Attrs::new(child);
                if let Some(g) = c.choice(
                    "logicalGrouping",
                    &[
                        ("MatchAll", LogicalGrouping::MatchAll),
                        ("MatchAny", LogicalGrouping::MatchAny),
                    ],
                    d,
                ) {
                    rule.conditions.logical_grouping = g.value;
                }
                if let Some(t) = c.bool("trackAllCaptures", d) {
                    rule.conditions.track_all_captures = t.value;
                }
                c.finish(d);
                for item in &child.children {
                    if item.name == "add" {
                        if let Some(cond) = read_condition(item, d) {
                            rule.conditions.items.push(cond);
                        }
                    } else {
                        unexpected_child(child, item, d);
                    }
                }
            }
            "action" => {
                let mut act = Attrs::new(child);
                if let Some(k) = act.choice("type", &[("Rewrite", true), ("None", false)], d) {
                    rule.rewrite = k.value;
                }
                rule.value = act.string("value");
                act.ignore(&["replace"]);
                act.finish(d);
            }
            _ => unexpected_child(el, child, d),
        }
    }
    Some(rule)
}

fn read_rule(el: &Element, a: &mut Attrs<'_>, d: &mut Vec<Diagnostic>) -> Option<RewriteRule> {
    let name = a.required("name", d);
    let enabled = a.bool("enabled", d).is_none_or(|b| b.value);
    let pattern_syntax = a
        .choice(
            "patternSyntax",
            &[
                ("ECMAScript", PatternSyntax::EcmaScript),
                ("Wildcard", PatternSyntax::Wildcard),
                ("ExactMatch", PatternSyntax::ExactMatch),
            ],
            d,
        )
        .map_or(PatternSyntax::EcmaScript, |s| s.value);
    let stop_processing = a.bool("stopProcessing", d).is_some_and(|b| b.value);
    a.ignore(&["responseCacheDirective"]);
    let mut rule = RewriteRule {
        name: name?,
        enabled,
        pattern_syntax,
        stop_processing,
        match_: None,
        conditions: Conditions::default(),
        server_variables: Vec::new(),
        action: None,
        span: el.name_span,
    };
    for child in &el.children {
        match child.name.as_str() {
            "match" => {
                let mut m = Attrs::new(child);
                let url = m.string("url");
                // The schema's `nonEmptyString`: IIS refuses `url=""` (leaving `<match>` out
                // is how a rule applies to every URL).
                if let Some(u) = url.as_ref().filter(|u| u.value.is_empty()) {
                    d.push(
                        Diagnostic::new(&codes::INVALID_VALUE, "the `url` pattern of <match> is empty")
                            .at(u.span)
                            .help("Write a pattern (`.*` matches every URL), or remove the <match> element so the rule applies to every URL; IIS answers HTTP 500.19 for an empty one."),
                    );
                }
                let rm = RuleMatch {
                    url,
                    ignore_case: m.bool("ignoreCase", d).is_none_or(|b| b.value),
                    negate: m.bool("negate", d).is_some_and(|b| b.value),
                    span: child.name_span,
                };
                m.finish(d);
                once(&mut rule.match_, rm, "match", child.name_span, d);
            }
            "conditions" => {
                let mut c = Attrs::new(child);
                rule.conditions.logical_grouping = c
                    .choice(
                        "logicalGrouping",
                        &[
                            ("MatchAll", LogicalGrouping::MatchAll),
                            ("MatchAny", LogicalGrouping::MatchAny),
                        ],
                        d,
                    )
                    .map_or(LogicalGrouping::MatchAll, |s| s.value);
                rule.conditions.track_all_captures =
                    c.bool("trackAllCaptures", d).is_some_and(|b| b.value);
                c.finish(d);
                for item in &child.children {
                    match item.name.as_str() {
                        "add" => {
                            if let Some(c) = read_condition(item, d) {
                                rule.conditions.items.push(c);
                            }
                        }
                        "clear" => rule.conditions.items.clear(),
                        _ => unexpected_child(child, item, d),
                    }
                }
            }
            "serverVariables" => {
                for item in &child.children {
                    if item.name == "set" {
                        let mut sa = Attrs::new(item);
                        let name = sa.required("name", d);
                        let value = sa.required("value", d);
                        let replace = sa.bool("replace", d).is_none_or(|b| b.value);
                        sa.finish(d);
                        if let (Some(name), Some(value)) = (name, value) {
                            rule.server_variables.push(SetServerVariable {
                                name,
                                value,
                                replace,
                                span: item.name_span,
                            });
                        }
                    } else {
                        unexpected_child(child, item, d);
                    }
                }
            }
            "action" => {
                let action = read_action(child, d);
                once(&mut rule.action, action, "action", child.name_span, d);
            }
            _ => unexpected_child(el, child, d),
        }
    }
    Some(rule)
}

/// A condition's `<add input matchType pattern ignoreCase negate>`.
fn read_condition(item: &Element, d: &mut Vec<Diagnostic>) -> Option<Condition> {
    let mut ca = Attrs::new(item);
    let input = ca.required("input", d);
    let match_type = ca
        .choice(
            "matchType",
            &[
                ("Pattern", MatchType::Pattern),
                ("IsFile", MatchType::IsFile),
                ("IsDirectory", MatchType::IsDirectory),
            ],
            d,
        )
        .map_or(MatchType::Pattern, |s| s.value);
    let pattern = ca.string("pattern");
    let ignore_case = ca.bool("ignoreCase", d).is_none_or(|b| b.value);
    let negate = ca.bool("negate", d).is_some_and(|b| b.value);
    ca.finish(d);
    Some(Condition {
        input: input?,
        match_type,
        pattern,
        ignore_case,
        negate,
        span: item.name_span,
    })
}

fn read_action(el: &Element, d: &mut Vec<Diagnostic>) -> RuleAction {
    let mut a = Attrs::new(el);
    let kind = a
        .choice(
            "type",
            &[
                ("None", ActionType::None),
                ("Rewrite", ActionType::Rewrite),
                ("Redirect", ActionType::Redirect),
                ("CustomResponse", ActionType::CustomResponse),
                ("AbortRequest", ActionType::AbortRequest),
            ],
            d,
        )
        .map_or(ActionType::None, |s| s.value);
    let url = a.string("url");
    let append_query_string = a.bool("appendQueryString", d).is_none_or(|b| b.value);
    let log_rewritten_url = a.bool("logRewrittenUrl", d).is_some_and(|b| b.value);
    let redirect_type = match a.raw("redirectType") {
        None => RedirectType::Permanent,
        Some(attr) => {
            let v = attr.value.trim();
            let found = [
                ("Permanent", "301", RedirectType::Permanent),
                ("Found", "302", RedirectType::Found),
                ("SeeOther", "303", RedirectType::SeeOther),
                ("Temporary", "307", RedirectType::Temporary),
            ]
            .into_iter()
            .find(|(n, num, _)| n.eq_ignore_ascii_case(v) || *num == v);
            match found {
                Some((_, _, t)) => t,
                None => {
                    let help = if v == "308" || v.eq_ignore_ascii_case("PermanentRedirect") {
                        "URL Rewrite does not support 308; use Permanent (301), or Temporary (307) to keep the method."
                    } else {
                        "Use one of: Permanent (301), Found (302), SeeOther (303), Temporary (307)."
                    };
                    d.push(
                        Diagnostic::new(
                            &codes::INVALID_VALUE,
                            format!("`{}` is not a valid value for redirectType", attr.value),
                        )
                        .at(attr.value_span)
                        .help(help),
                    );
                    RedirectType::Permanent
                }
            }
        }
    };
    let status_code = a.uint("statusCode", 999, d);
    // The schema excludes 300–307 (`integerRange`, `300,307,exclude`): a redirect is a
    // Redirect action, which sends `Location`.
    if let Some(code) = status_code
        .as_ref()
        .filter(|c| (300..=307).contains(&c.value))
    {
        d.push(
            Diagnostic::new(
                &codes::INVALID_VALUE,
                format!("statusCode {} is in the range 300–307, which URL Rewrite does not allow", code.value),
            )
            .at(code.span)
            .help("For a redirect, use type=\"Redirect\" with url=\"...\" and redirectType (Permanent 301, Found 302, SeeOther 303, Temporary 307); IIS answers HTTP 500.19 for this statusCode."),
        );
    }
    let sub_status_code = a.uint("subStatusCode", 999, d).map_or(0, |s| s.value);
    let status_reason = a.string("statusReason");
    let status_description = a.string("statusDescription");
    a.finish(d);
    RuleAction {
        kind,
        url,
        append_query_string,
        log_rewritten_url,
        redirect_type,
        status_code,
        sub_status_code,
        status_reason,
        status_description,
        span: el.name_span,
    }
}

fn read_static_content(el: &Element, diags: &mut Vec<Diagnostic>) -> StaticContentSection {
    let mut attrs = Attrs::new(el);
    attrs.ignore(&["enableDocFooter", "defaultDocFooter", "isDocFooterFileName"]);
    attrs.finish(diags);
    // mimeMap entries sit directly in <staticContent>, mixed with <clientCache>.
    let mut sec = StaticContentSection::default();
    let mut maps = Collection::new(el.name_span);
    for child in &el.children {
        match child.name.as_str() {
            "mimeMap" => {
                let mut a = Attrs::new(child);
                let ext = a.required("fileExtension", diags);
                let mime = a.required("mimeType", diags);
                a.finish(diags);
                if let (Some(file_extension), Some(mime_type)) = (ext, mime) {
                    maps.ops.push(CollectionOp::Add(MimeMapEntry {
                        file_extension,
                        mime_type,
                        span: child.name_span,
                    }));
                }
            }
            "remove" => {
                let mut a = Attrs::new(child);
                let k = a.required("fileExtension", diags);
                a.finish(diags);
                if let Some(k) = k {
                    maps.ops.push(CollectionOp::Remove(k));
                }
            }
            "clear" => maps.ops.push(CollectionOp::Clear(child.name_span)),
            "clientCache" => {
                let mut a = Attrs::new(child);
                let values_from = diags.len();
                let mode = a.choice(
                    "cacheControlMode",
                    &[
                        ("NoControl", CacheControlMode::NoControl),
                        ("DisableCache", CacheControlMode::DisableCache),
                        ("UseMaxAge", CacheControlMode::UseMaxAge),
                        ("UseExpires", CacheControlMode::UseExpires),
                    ],
                    diags,
                );
                // IIS reads the value when it serves a static file: a bad one fails those
                // (IISN1012), not node's pages (observed on IIS 10).
                let mut fault = None;
                let max_age = a.raw("cacheControlMaxAge").and_then(|attr| {
                    match parse_timespan(&attr.value) {
                        Some(secs) => Some(Spanned::new(secs, attr.value_span)),
                        None => {
                            let d = Diagnostic::new(
                                &codes::STATIC_CONTENT_UNREADABLE,
                                format!("`{}` is not a valid time span for cacheControlMaxAge: IIS answers every static file below this folder with HTTP 500.19, while node's pages still serve", attr.value),
                            )
                            .at(attr.value_span)
                            .help("Write a .NET time span: [days.]hh:mm:ss, e.g. 7.00:00:00 for a week.");
                            fault = Some(d.clone());
                            diags.push(d);
                            None
                        }
                    }
                });
                let http_expires = a.string("httpExpires");
                let custom = a.string("cacheControlCustom");
                let set_etag = a.bool("setEtag", diags);
                // A value the schema does not accept (a mode, `setEtag`) fails the same way.
                for d in &mut diags[values_from..] {
                    if d.lint.code == codes::INVALID_VALUE.code {
                        d.lint = &codes::STATIC_CONTENT_UNREADABLE;
                        d.severity = codes::STATIC_CONTENT_UNREADABLE.severity;
                        d.message.push_str(": IIS answers every static file below this folder with HTTP 500.19, while node's pages still serve");
                        fault.get_or_insert_with(|| d.clone());
                    }
                }
                a.finish(diags);
                let cc = ClientCacheRaw {
                    mode,
                    max_age,
                    http_expires,
                    custom,
                    set_etag,
                    fault,
                };
                once(
                    &mut sec.client_cache,
                    cc,
                    "clientCache",
                    child.name_span,
                    diags,
                );
            }
            _ => unexpected_child(el, child, diags),
        }
    }
    if !maps.ops.is_empty() {
        sec.mime_maps = Some(maps);
    }
    sec
}

/// .NET `TimeSpan` text `[d.]hh:mm:ss[.fff]` → whole seconds.
pub fn parse_timespan(s: &str) -> Option<u64> {
    let s = s.trim();
    let (days, rest) = match s.split_once('.') {
        Some((d, r)) if r.contains(':') && !d.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, s),
    };
    let mut parts = rest.split(':');
    let h: u64 = parts.next()?.parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let sec_part = parts.next()?;
    if parts.next().is_some() || m > 59 {
        return None;
    }
    let sec: u64 = sec_part.split('.').next()?.parse().ok()?;
    if sec > 59 || h > 23 && days > 0 {
        return None;
    }
    days.checked_mul(86_400)?
        .checked_add(h.checked_mul(3600)?)?
        .checked_add(m * 60 + sec)
}

fn read_request_filtering(el: &Element, diags: &mut Vec<Diagnostic>) -> RequestFilteringSection {
    let mut attrs = Attrs::new(el);
    let mut rf = RequestFilteringSection {
        allow_double_escaping: attrs.bool("allowDoubleEscaping", diags),
        allow_high_bit_characters: attrs.bool("allowHighBitCharacters", diags),
        remove_server_header: attrs.bool("removeServerHeader", diags),
        span: Some(el.name_span),
        ..Default::default()
    };
    attrs.ignore(&["unescapeQueryString"]);
    attrs.finish(diags);
    for child in &el.children {
        match child.name.as_str() {
            "hiddenSegments" => {
                let mut a = Attrs::new(child);
                a.ignore(&["applyToWebDAV"]);
                a.finish(diags);
                let c = collection(child, "add", diags, "segment", |el, a, d| {
                    Some(HiddenSegment {
                        segment: a.required("segment", d)?,
                        span: el.name_span,
                    })
                });
                once(
                    &mut rf.hidden_segments,
                    c,
                    "hiddenSegments",
                    child.name_span,
                    diags,
                );
            }
            "fileExtensions" => {
                let mut a = Attrs::new(child);
                let allow_unlisted = a.bool("allowUnlisted", diags);
                a.ignore(&["applyToWebDAV"]);
                a.finish(diags);
                let entries = collection(child, "add", diags, "fileExtension", |el, a, d| {
                    let file_extension = a.required("fileExtension", d)?;
                    let allowed = a.bool("allowed", d).is_none_or(|b| b.value);
                    Some(FileExtensionRule {
                        file_extension,
                        allowed,
                        span: el.name_span,
                    })
                });
                once(
                    &mut rf.file_extensions,
                    FileExtensionsRaw {
                        allow_unlisted,
                        entries,
                    },
                    "fileExtensions",
                    child.name_span,
                    diags,
                );
            }
            "requestLimits" => {
                let mut a = Attrs::new(child);
                let limits = RequestLimitsRaw {
                    max_allowed_content_length: a.uint("maxAllowedContentLength", U32, diags),
                    max_url: a.uint("maxUrl", U32, diags),
                    max_query_string: a.uint("maxQueryString", U32, diags),
                    header_limits: None,
                };
                a.finish(diags);
                let mut limits = limits;
                for grandchild in &child.children {
                    if grandchild.name != "headerLimits" {
                        unexpected_child(child, grandchild, diags);
                        continue;
                    }
                    Attrs::new(grandchild).finish(diags);
                    let c = collection(grandchild, "add", diags, "header", |el, a, d| {
                        let header = a.required("header", d)?;
                        let size_limit = a.uint("sizeLimit", U32, d).map_or(0, |v| v.value);
                        Some(HeaderLimit {
                            header,
                            size_limit,
                            span: el.name_span,
                        })
                    });
                    once(
                        &mut limits.header_limits,
                        c,
                        "headerLimits",
                        grandchild.name_span,
                        diags,
                    );
                }
                once(
                    &mut rf.request_limits,
                    limits,
                    "requestLimits",
                    child.name_span,
                    diags,
                );
            }
            "verbs" => {
                let mut a = Attrs::new(child);
                let allow_unlisted = a.bool("allowUnlisted", diags);
                a.ignore(&["applyToWebDAV"]);
                a.finish(diags);
                let entries = collection(child, "add", diags, "verb", |el, a, d| {
                    let verb = a.required("verb", d)?;
                    let allowed = a.bool("allowed", d).is_none_or(|b| b.value);
                    Some(VerbRule {
                        verb,
                        allowed,
                        span: el.name_span,
                    })
                });
                once(
                    &mut rf.verbs,
                    VerbsRaw {
                        allow_unlisted,
                        entries,
                    },
                    "verbs",
                    child.name_span,
                    diags,
                );
            }
            "denyUrlSequences" | "denyQueryStringSequences" => {
                Attrs::new(child).finish(diags);
                let c = collection(child, "add", diags, "sequence", |el, a, d| {
                    Some(DenySequence {
                        sequence: a.required("sequence", d)?,
                        span: el.name_span,
                    })
                });
                let slot = if child.name == "denyUrlSequences" {
                    &mut rf.deny_url_sequences
                } else {
                    &mut rf.deny_query_string_sequences
                };
                once(slot, c, &child.name, child.name_span, diags);
            }
            "filteringRules" => {
                Attrs::new(child).finish(diags);
                let c = collection(child, "filteringRule", diags, "name", read_filtering_rule);
                once(
                    &mut rf.filtering_rules,
                    c,
                    "filteringRules",
                    child.name_span,
                    diags,
                );
            }
            "alwaysAllowedUrls" | "alwaysAllowedQueryStrings" => {
                Attrs::new(child).finish(diags);
                let key = if child.name == "alwaysAllowedUrls" {
                    "url"
                } else {
                    "queryString"
                };
                let c = collection(child, "add", diags, key, |el, a, d| {
                    Some(AlwaysAllowed {
                        value: a.required(key, d)?,
                        span: el.name_span,
                    })
                });
                let slot = if child.name == "alwaysAllowedUrls" {
                    &mut rf.always_allowed_urls
                } else {
                    &mut rf.always_allowed_query_strings
                };
                once(slot, c, &child.name, child.name_span, diags);
            }
            _ => unexpected_child(el, child, diags),
        }
    }
    rf
}

/// One `<filteringRule>` with its nested lists (IIS schema: `name` is the required key, the
/// four booleans default to `false`; each list is keyed by its one attribute).
fn read_filtering_rule(
    el: &Element,
    a: &mut Attrs<'_>,
    d: &mut Vec<Diagnostic>,
) -> Option<FilteringRule> {
    let name = a.required("name", d)?;
    let mut flag = |n: &str| a.bool(n, d).is_some_and(|b| b.value);
    let (scan_url, scan_query_string, scan_all_raw, deny_unescaped_percent) = (
        flag("scanUrl"),
        flag("scanQueryString"),
        flag("scanAllRaw"),
        flag("denyUnescapedPercent"),
    );
    let mut lists: [Option<Vec<Spanned<String>>>; 3] = [None, None, None];
    for child in &el.children {
        let (i, key, what) = match child.name.as_str() {
            "scanHeaders" => (0, "requestHeader", "scanned header"),
            "appliesTo" => (1, "fileExtension", "applies-to extension"),
            "denyStrings" => (2, "string", "deny string"),
            _ => {
                unexpected_child(el, child, d);
                continue;
            }
        };
        Attrs::new(child).finish(d);
        let c = collection(child, "add", d, key, |el, a, d| {
            Some(RuleListEntry {
                value: a.required(key, d)?,
                span: el.name_span,
            })
        });
        let items = crate::config::merge::resolve_local(&c, what, d)
            .into_iter()
            .map(|e| e.value)
            .collect();
        once(&mut lists[i], items, &child.name, child.name_span, d);
    }
    let [scan_headers, applies_to, deny_strings] = lists.map(Option::unwrap_or_default);
    Some(FilteringRule {
        name,
        scan_url,
        scan_query_string,
        scan_all_raw,
        deny_unescaped_percent,
        scan_headers,
        applies_to,
        deny_strings,
        span: el.name_span,
    })
}

fn read_http_errors(el: &Element, diags: &mut Vec<Diagnostic>) -> HttpErrorsSection {
    let mut a = Attrs::new(el);
    let response_modes = [
        ("File", ResponseMode::File),
        ("ExecuteURL", ResponseMode::ExecuteUrl),
        ("Redirect", ResponseMode::Redirect),
    ];
    let sec_attrs = (
        a.choice(
            "errorMode",
            &[
                ("DetailedLocalOnly", ErrorMode::DetailedLocalOnly),
                ("Custom", ErrorMode::Custom),
                ("Detailed", ErrorMode::Detailed),
            ],
            diags,
        ),
        a.choice(
            "existingResponse",
            &[
                ("Auto", ExistingResponse::Auto),
                ("Replace", ExistingResponse::Replace),
                ("PassThrough", ExistingResponse::PassThrough),
            ],
            diags,
        ),
        a.string("defaultPath"),
        a.choice("defaultResponseMode", &response_modes, diags),
    );
    a.ignore(&[
        "detailedMoreInformationLink",
        "allowAbsolutePathsWhenDelegated",
    ]);
    a.finish(diags);
    let mut errors = Collection::new(el.name_span);
    for child in &el.children {
        match child.name.as_str() {
            "error" | "remove" => {
                let mut ca = Attrs::new(child);
                let status = ca.uint("statusCode", 999, diags);
                let sub = match ca.raw("subStatusCode") {
                    None => -1,
                    Some(attr) => match attr.value.trim().parse::<i32>() {
                        Ok(n) if (-1..=999).contains(&n) => n,
                        _ => {
                            diags.push(
                                Diagnostic::new(
                                    &codes::INVALID_VALUE,
                                    format!(
                                        "`{}` is not a valid value for subStatusCode",
                                        attr.value
                                    ),
                                )
                                .at(attr.value_span)
                                .help("Use -1 (any) or an integer from 0 to 999."),
                            );
                            -1
                        }
                    },
                };
                let path = ca.string("path");
                let mode = ca.choice("responseMode", &response_modes, diags);
                let prefix = ca.string("prefixLanguageFilePath");
                ca.finish(diags);
                let Some(status) = status else {
                    if ca_missing_status(child) {
                        diags.push(
                            Diagnostic::new(
                                &codes::MISSING_ATTRIBUTE,
                                format!(
                                    "<{}> is missing its required `statusCode` attribute",
                                    child.name
                                ),
                            )
                            .at(child.name_span)
                            .help("Add statusCode=\"404\" (for example)."),
                        );
                    }
                    continue;
                };
                let key_text = if sub < 0 {
                    status.value.to_string()
                } else {
                    format!("{}.{sub}", status.value)
                };
                let key = Spanned::new(key_text, status.span);
                if child.name == "remove" {
                    errors.ops.push(CollectionOp::Remove(key));
                } else {
                    errors.ops.push(CollectionOp::Add(ErrorPage {
                        key,
                        status_code: u16::try_from(status.value).unwrap_or(500),
                        sub_status_code: sub,
                        path,
                        response_mode: mode.map(|m| m.value),
                        prefix_language_file_path: prefix,
                        span: child.name_span,
                    }));
                }
            }
            "clear" => errors.ops.push(CollectionOp::Clear(child.name_span)),
            _ => unexpected_child(el, child, diags),
        }
    }
    HttpErrorsSection {
        error_mode: sec_attrs.0,
        existing_response: sec_attrs.1,
        default_path: sec_attrs.2,
        default_response_mode: sec_attrs.3,
        errors,
    }
}

fn ca_missing_status(el: &Element) -> bool {
    el.attr("statusCode").is_none()
}

/// Parses a file's text into its root element and sections (syntax diagnostics included).
pub fn parse(source: SourceId, text: &str, diags: &mut Vec<Diagnostic>) -> Option<RawWebConfig> {
    match super::xml::parse(source, text) {
        Ok(root) => Some(read(&root, diags)),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (Option<RawWebConfig>, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let c = parse(SourceId(0), text, &mut d);
        (c, d)
    }

    fn codes_of(d: &[Diagnostic]) -> Vec<&'static str> {
        d.iter().map(|d| d.code()).collect()
    }

    #[test]
    fn reads_the_kudu_template() {
        let text = include_str!("../../tests/fixtures/webconfigs/kudu.config");
        let (c, d) = load(text);
        assert!(d.iter().all(|d| !d.is_error()), "{d:#?}");
        let c = c.expect("parsed");
        let handlers: Vec<_> = c
            .sections
            .handlers
            .as_ref()
            .expect("handlers")
            .added()
            .collect();
        assert_eq!(handlers[0].path.value, "server.js");
        assert!(handlers[0].is_iisnode());
        let rules: Vec<_> = c
            .sections
            .rewrite
            .as_ref()
            .and_then(|r| r.rules.as_ref())
            .expect("rules")
            .added()
            .collect();
        assert_eq!(rules.len(), 3);
        assert!(rules[1].match_.is_none());
        assert!(rules[0].stop_processing);
        assert!(rules[0].action.is_none());
        let dyn_rule = &rules[2];
        assert_eq!(dyn_rule.conditions.items[0].match_type, MatchType::IsFile);
        assert!(dyn_rule.conditions.items[0].negate);
        let rf = c.sections.request_filtering.as_ref().expect("rf");
        let hs = rf.hidden_segments.as_ref().expect("hs");
        assert!(matches!(&hs.ops[0], CollectionOp::Remove(k) if k.value == "bin"));
        assert_eq!(
            c.sections
                .http_errors
                .as_ref()
                .and_then(|h| h.existing_response.as_ref())
                .map(|s| s.value),
            Some(ExistingResponse::PassThrough)
        );
        assert_eq!(
            c.sections
                .web_socket
                .as_ref()
                .and_then(|w| w.enabled.as_ref())
                .map(|s| s.value),
            Some(false)
        );
    }

    #[test]
    fn unknown_and_legacy_iisnode_attributes() {
        let text = "<configuration><system.webServer>\n<iisnode idontexist=\"12\" maxProcessCountPerApplication=\"4\" loggingenabled=\"true\" nodeProcessCountPerApp=\"2\"/>\n</system.webServer></configuration>";
        let (_, d) = load(text);
        assert_eq!(
            codes_of(&d),
            ["IISN2001", "IISN2002", "IISN2001", "IISN2001"]
        );
        assert!(
            d[1].help
                .as_deref()
                .unwrap_or("")
                .contains("nodeProcessCountPerApplication")
        );
        assert!(
            d[2].help
                .as_deref()
                .unwrap_or("")
                .contains("loggingEnabled")
        );
        assert!(
            d[3].help
                .as_deref()
                .unwrap_or("")
                .contains("nodeProcessCountPerApplication")
        );
    }

    #[test]
    fn invalid_iisnode_values() {
        let text = "<configuration><system.webServer><iisnode nodeProcessCountPerApplication=\"-1\" loggingEnabled=\"yes\" maxConcurrentRequestsPerProcess=\"Infinite\" maxLogFiles=\"4294967296\" gracefulShutdownTimeout=\" 5 \"/></system.webServer></configuration>";
        let (c, d) = load(text);
        assert_eq!(codes_of(&d), ["IISN2003", "IISN2003", "IISN2003"]);
        let sec = c.expect("c").sections.iisnode.expect("iisnode");
        let valid: Vec<_> = sec.values.iter().map(|v| v.valid).collect();
        assert_eq!(valid, [false, false, true, false, true]);
    }

    #[test]
    fn duplicate_sections_and_misplaced_elements() {
        let text = "<configuration><system.webServer><iisnode/><iisnode/></system.webServer><iisnode/><system.webServer><appSettings/></system.webServer></configuration>";
        let (_, d) = load(text);
        assert_eq!(codes_of(&d), ["IISN1003", "IISN1008", "IISN1008"]);
    }

    /// Regression: a lock spelt in another case (`overrideMode="deny"`,
    /// `allowOverride="False"`, `lockItem="True"`) locked nothing, while every other
    /// enumeration and boolean of web.config is read in any case: a lower web.config could
    /// then remove the mapping and the script went out as a file.
    #[test]
    fn locks_are_read_in_any_case() {
        for attr in [
            r#"overrideMode="deny""#,
            r#"overrideMode="DENY""#,
            r#"allowOverride="False""#,
        ] {
            let text = format!(
                r#"<configuration><location path="." {attr}><system.webServer><handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers></system.webServer></location></configuration>"#
            );
            let (cfg, d) = load(&text);
            assert!(codes_of(&d).is_empty(), "{attr}: {d:#?}");
            let cfg = cfg.expect("parses");
            assert_eq!(cfg.locks.len(), 1, "{attr}");
            assert_eq!(cfg.locks[0].sections, ["handlers"], "{attr}");
        }
        let (cfg, _) = load(
            r#"<configuration><system.webServer><handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode" lockItem="True"/></handlers></system.webServer></configuration>"#,
        );
        let handlers = cfg.expect("parses").sections.handlers.expect("handlers");
        assert_eq!(handlers.locked_keys.len(), 1);
        assert_eq!(handlers.locked_keys[0].value, "iisnode");
    }

    /// Regression: two `<httpProtocol>` elements at one level (a real site's security
    /// headers in one, its CORS headers in another) were read as one when the second held no
    /// `<customHeaders>`, and named `<customHeaders>` when it did; IIS answers 500.19 ("There
    /// is a duplicate 'system.webServer/httpProtocol' section defined") either way.
    #[test]
    fn a_second_http_protocol_is_a_duplicate_section() {
        for second in [
            "<httpProtocol><customHeaders><add name=\"B\" value=\"2\"/></customHeaders></httpProtocol>",
            "<httpProtocol allowKeepAlive=\"true\"/>",
            "<httpProtocol><redirectHeaders/></httpProtocol>",
        ] {
            let text = format!(
                "<configuration><system.webServer><httpProtocol><customHeaders><add name=\"A\" value=\"1\"/></customHeaders></httpProtocol>{second}</system.webServer></configuration>"
            );
            let (cfg, d) = load(&text);
            assert_eq!(codes_of(&d), ["IISN1003"], "{second}: {d:#?}");
            assert!(d[0].message.contains("<httpProtocol>"), "{}", d[0].message);
            let cfg = cfg.expect("the file parses");
            let headers = cfg
                .sections
                .custom_headers
                .expect("the first section is kept");
            assert_eq!(headers.ops.len(), 1, "{second}");
        }
        // One in the file and one in `<location path=".">` are the same level.
        let text = "<configuration><system.webServer><httpProtocol/></system.webServer><location path=\".\"><system.webServer><httpProtocol allowKeepAlive=\"false\"/></system.webServer></location></configuration>";
        let (_, d) = load(text);
        assert_eq!(codes_of(&d), ["IISN1003"], "{d:#?}");
    }

    /// Regression: a misspelt or miscased section (`<handler>`, `<Handlers>`,
    /// `<system.webserver>`, `<requestfiltering>`) was read as a section iisn does not
    /// emulate (a note), so the site ran without it and server.js went out as a static file;
    /// IIS refuses such a file with 500.19. Sections IIS knows, and names far from any iisn
    /// reads, stay notes.
    #[test]
    fn misspelt_sections_are_errors() {
        for (text, meant) in [
            (
                "<configuration><system.webserver/></configuration>",
                "system.webServer",
            ),
            (
                "<configuration><AppSettings/></configuration>",
                "appSettings",
            ),
            (
                "<configuration><Location path=\"a\"/></configuration>",
                "location",
            ),
            (
                "<configuration><system.webServer><handler/></system.webServer></configuration>",
                "handlers",
            ),
            (
                "<configuration><system.webServer><Handlers/></system.webServer></configuration>",
                "handlers",
            ),
            (
                "<configuration><system.webServer><iisNode/></system.webServer></configuration>",
                "iisnode",
            ),
            (
                "<configuration><system.webServer><rewrites/></system.webServer></configuration>",
                "rewrite",
            ),
            (
                "<configuration><system.webServer><HttpCompression/></system.webServer></configuration>",
                "httpCompression",
            ),
            (
                "<configuration><system.webServer><security><requestfiltering/></security></system.webServer></configuration>",
                "requestFiltering",
            ),
        ] {
            let (_, d) = load(text);
            assert_eq!(codes_of(&d), ["IISN1008"], "{text}");
            assert!(
                d[0].message.contains(&format!("<{meant}>")),
                "{text}: {}",
                d[0].message
            );
        }
        let (c, d) = load(
            "<configuration><system.web/><connectionStrings/><system.webServer><modules/><httpCompression/><aspNetCore/><foo/><security><ipSecurity/></security></system.webServer></configuration>",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.expect("parses").sections.not_emulated.len(), 7);
    }

    /// Regression: a `<location>` nested in another was "not a section IIS knows under
    /// <configuration>: did you mean <location>?" (the misspelling check proposed the name
    /// itself); it is an error that says what is wrong.
    #[test]
    fn a_nested_location_is_named_as_such() {
        let (_, d) = load(
            r#"<configuration><location path="api"><location path="v1"><system.webServer/></location></location></configuration>"#,
        );
        assert_eq!(codes_of(&d), ["IISN1008"]);
        assert!(
            d[0].message.contains("inside another <location>"),
            "{}",
            d[0].message
        );
        assert!(!d[0].message.contains("did you mean"), "{}", d[0].message);
        assert_eq!(misspelt_section("handlers", &["handlers"], &[]), None);
    }

    /// Regression: `<filteringRules>`, `<alwaysAllowedUrls>` and `<alwaysAllowedQueryStrings>`
    /// were skipped without reading them.
    #[test]
    fn filtering_rules_and_always_allowed_lists() {
        let text = r#"<configuration><system.webServer><security><requestFiltering>
<filteringRules>
  <filteringRule name="sql" scanUrl="true" scanQueryString="TRUE" scanAllRaw="false">
    <scanHeaders><add requestHeader="User-Agent"/><add requestHeader="Referer"/><remove requestHeader="Referer"/></scanHeaders>
    <appliesTo><add fileExtension=".asp"/></appliesTo>
    <denyStrings><clear/><add string="--"/><add string="xp_"/></denyStrings>
  </filteringRule>
  <remove name="old"/>
</filteringRules>
<alwaysAllowedUrls><add url="/search.aspx"/></alwaysAllowedUrls>
<alwaysAllowedQueryStrings><add queryString="?q=--"/></alwaysAllowedQueryStrings>
</requestFiltering></security></system.webServer></configuration>"#;
        let (c, d) = load(text);
        assert!(d.is_empty(), "{d:#?}");
        let rf = c
            .expect("parses")
            .sections
            .request_filtering
            .expect("requestFiltering");
        let rules = rf.filtering_rules.expect("filteringRules");
        let rule = rules.added().next().expect("one rule");
        assert_eq!(rule.name.value, "sql");
        assert!(rule.scan_url && rule.scan_query_string && !rule.scan_all_raw);
        assert!(!rule.deny_unescaped_percent, "defaults to false");
        let values = |v: &[Spanned<String>]| v.iter().map(|s| s.value.clone()).collect::<Vec<_>>();
        assert_eq!(values(&rule.scan_headers), ["User-Agent"]);
        assert_eq!(values(&rule.applies_to), [".asp"]);
        assert_eq!(values(&rule.deny_strings), ["--", "xp_"]);
        assert!(matches!(rules.ops[1], CollectionOp::Remove(_)));
        let urls = rf.always_allowed_urls.expect("urls");
        assert_eq!(
            urls.added().next().expect("url").value.value,
            "/search.aspx"
        );
        let qs = rf.always_allowed_query_strings.expect("query strings");
        assert_eq!(qs.added().next().expect("query").value.value, "?q=--");
    }

    #[test]
    fn filtering_rule_errors_are_iis_load_errors() {
        let text = r#"<configuration><system.webServer><security><requestFiltering>
<filteringRules>
  <filteringRule name="a" scanUrl="yes">
    <denyStrings><add string="x"/><add string="X"/></denyStrings>
    <denyString/>
  </filteringRule>
  <filteringRule scanUrl="true"/>
  <filteringRule name="b" scanHeader="true"/>
</filteringRules>
<alwaysAllowedUrls><add path="/x"/></alwaysAllowedUrls>
</requestFiltering></security></system.webServer></configuration>"#;
        let (_, d) = load(text);
        assert_eq!(
            codes_of(&d),
            [
                "IISN1006", "IISN1004", "IISN1008", "IISN1005", "IISN1002", "IISN1005"
            ],
            "{d:#?}"
        );
        let dup = &d[1];
        assert!(dup.message.contains("deny string `X`"), "{}", dup.message);
        assert_eq!(dup.secondary.len(), 1, "points at the first <add>");
        assert!(
            dup.help
                .as_deref()
                .is_some_and(|h| h.contains("<remove string=\"X\"/>")),
            "{:?}",
            dup.help
        );
        for x in &d {
            assert!(x.primary.is_some(), "every error has a position: {x:#?}");
            assert!(
                crate::diag::codes::iis_load_hresult(x.lint).is_some(),
                "IIS refuses the file (500.19): {x:#?}"
            );
        }
    }

    #[test]
    fn unknown_sections_are_kept_not_rejected() {
        let text = "<configuration><system.web><compilation debug=\"true\"/></system.web><system.webServer><modules runAllManagedModulesForAllRequests=\"false\"/><security><authentication/></security></system.webServer></configuration>";
        let (c, d) = load(text);
        assert!(d.is_empty(), "{d:#?}");
        let ne: Vec<_> = c
            .expect("c")
            .sections
            .not_emulated
            .into_iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(
            ne,
            [
                "system.web",
                "system.webServer/modules",
                "system.webServer/security/authentication"
            ]
        );
    }

    #[test]
    fn collections_keep_their_operations() {
        let text = r#"<configuration>
  <appSettings file="secrets.config"><clear/><add key="a" value="1"/><remove key="b"/><add key="" value="x"/><add value="nokey"/></appSettings>
  <system.webServer>
    <staticContent><remove fileExtension=".json"/><mimeMap fileExtension=".json" mimeType="application/json"/><clientCache cacheControlMode="UseMaxAge" cacheControlMaxAge="7.00:00:00"/></staticContent>
    <defaultDocument enabled="true"><files><clear/><add value="index.js"/></files></defaultDocument>
    <httpErrors existingResponse="PassThrough"><remove statusCode="404" subStatusCode="-1"/><error statusCode="404" path="/404.html" responseMode="ExecuteURL"/></httpErrors>
  </system.webServer>
</configuration>"#;
        let (c, d) = load(text);
        assert_eq!(codes_of(&d), ["IISN1005"], "{d:#?}");
        let c = c.expect("c");
        let app = c.sections.app_settings.expect("app");
        assert_eq!(app.file.map(|f| f.value).as_deref(), Some("secrets.config"));
        assert_eq!(app.entries.ops.len(), 4);
        let sc = c.sections.static_content.expect("sc");
        assert_eq!(sc.mime_maps.expect("m").ops.len(), 2);
        assert_eq!(
            sc.client_cache.and_then(|c| c.max_age).map(|m| m.value),
            Some(7 * 86400)
        );
        let he = c.sections.http_errors.expect("he");
        assert!(matches!(&he.errors.ops[0], CollectionOp::Remove(k) if k.value == "404"));
    }

    #[test]
    fn schema_ranges_of_match_and_custom_response() {
        let text = r#"<configuration><system.webServer><rewrite><rules>
<rule name="a"><match url=""/><action type="Rewrite" url="x.js"/></rule>
<rule name="b"><match url="^old$"/><action type="CustomResponse" statusCode="301"/></rule>
<rule name="c"><match url="^gone$"/><action type="CustomResponse" statusCode="308" subStatusCode="1"/></rule>
<rule name="d"><action type="CustomResponse" statusCode="299"/></rule>
</rules></rewrite></system.webServer></configuration>"#;
        let (_, d) = load(text);
        assert_eq!(codes_of(&d), ["IISN1006", "IISN1006"], "{d:#?}");
        assert!(d[0].message.contains("empty"), "{d:#?}");
        assert!(d[1].message.contains("301"), "{d:#?}");
        assert!(d[1].help.as_deref().unwrap_or("").contains("Redirect"));
    }

    #[test]
    fn rule_values_are_validated() {
        let text = r#"<configuration><system.webServer><rewrite><rules>
<rule name="r" patternSyntax="Perl" stopProcessing="yes"><match url="x"/><action type="Redirect" url="/y" redirectType="308"/></rule>
<rule name="ok" patternSyntax="wildcard"><match url="*.*"/><conditions logicalGrouping="MatchAny"><add input="{REQUEST_FILENAME}" matchType="isFile"/></conditions><action type="rewrite" url="public/{R:0}"/></rule>
</rules></rewrite></system.webServer></configuration>"#;
        let (c, d) = load(text);
        assert_eq!(codes_of(&d), ["IISN1006", "IISN1006", "IISN1006"], "{d:#?}");
        assert!(d[2].help.as_deref().unwrap_or("").contains("308"));
        let c = c.expect("c");
        let rules: Vec<_> = c.sections.rewrite.expect("r").rules.expect("rules").ops;
        let CollectionOp::Add(ok) = &rules[1] else {
            panic!("add")
        };
        assert_eq!(ok.pattern_syntax, PatternSyntax::Wildcard);
        assert_eq!(ok.conditions.logical_grouping, LogicalGrouping::MatchAny);
        assert_eq!(
            ok.action.as_ref().map(|a| a.kind),
            Some(ActionType::Rewrite)
        );
    }

    #[test]
    fn locations() {
        let text = r#"<configuration>
<location path="."><system.webServer><iisnode loggingEnabled="false"/></system.webServer></location>
<location path="api\v1/"><system.webServer><iisnode nodeProcessCountPerApplication="2"/></system.webServer></location>
<location path="../up"><system.webServer/></location>
<system.webServer><iisnode/></system.webServer>
</configuration>"#;
        let (c, d) = load(text);
        assert_eq!(codes_of(&d), ["IISN1007", "IISN1003"], "{d:#?}");
        let c = c.expect("c");
        assert!(c.sections.iisnode.is_some());
        assert_eq!(c.locations.len(), 1);
        assert_eq!(c.locations[0].path.value, "api/v1");
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("1.00:00:00"), Some(86400));
        assert_eq!(parse_timespan("00:10:00"), Some(600));
        assert_eq!(parse_timespan("00:00:30.5"), Some(30));
        assert_eq!(parse_timespan("abc"), None);
        assert_eq!(parse_timespan("1:2"), None);
    }
}
