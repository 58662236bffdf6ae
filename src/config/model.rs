//! The effective configuration of one URL folder: every web.config level above it merged
//! with IIS's collection semantics on top of IIS's own defaults.
//!
//! Entries keep their spans, so a consumer can always say which file and line an effective
//! handler, rule or mime mapping came from; stock entries carry [`Span::builtin`] spans.

use crate::config::schema::Attr;
use crate::config::source::{Span, Spanned};
use crate::config::web_config::{
    AlwaysAllowed, AppSetting, CacheControlMode, CustomHeader, DefaultDocumentFile, DenySequence,
    ErrorMode, ErrorPage, ExistingResponse, FileExtensionRule, FilteringRule, HandlerEntry,
    HeaderLimit, HiddenSegment, IisnodeValue, MimeMapEntry, OutboundRule, PreCondition,
    ResponseMode, RewriteMap, RewriteRule, VerbRule,
};
use crate::diag::Diagnostic;

/// An entry of an effective collection, with the URL folder whose configuration added it
/// (`""` is the site root; stock entries have `""` and a builtin span).
#[derive(Clone, Debug)]
pub struct Entry<T> {
    pub item: T,
    pub level: String,
}

/// Resolved `<clientCache>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCache {
    pub mode: CacheControlMode,
    pub max_age_secs: u64,
    pub http_expires: Option<String>,
    pub custom: Option<String>,
    pub set_etag: bool,
}

impl Default for ClientCache {
    fn default() -> Self {
        ClientCache {
            mode: CacheControlMode::NoControl,
            max_age_secs: 86_400,
            http_expires: None,
            custom: None,
            set_etag: true,
        }
    }
}

/// `requestFiltering/requestLimits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    pub max_allowed_content_length: u64,
    pub max_url: u64,
    pub max_query_string: u64,
}

/// `httpErrors` attributes and its error pages.
#[derive(Clone, Debug)]
pub struct HttpErrors {
    pub error_mode: ErrorMode,
    pub existing_response: ExistingResponse,
    pub default_path: Option<Spanned<String>>,
    pub default_response_mode: ResponseMode,
    pub errors: Vec<Entry<ErrorPage>>,
    /// Why IIS cannot read this section when a response fails (IISN1011: a duplicate row,
    /// the locked `defaultPath`), with the HRESULT of its 500.19: every response with an
    /// error status becomes that 500.19, the others are untouched.
    pub unreadable: Option<(u32, Diagnostic)>,
}

/// Everything iisn knows about the configuration that applies to one URL folder.
#[derive(Clone, Debug)]
pub struct EffectiveConfig {
    /// `<iisnode>` attributes set in web.config (the last level that sets one wins), indexed
    /// by [`Attr`]. Environment and iisnode.yml come on top in [`super::settings`].
    pub iisnode: Vec<Option<Entry<IisnodeValue>>>,
    /// Handler mappings in match order (child levels' entries first, StaticFile last).
    pub handlers: Vec<Entry<HandlerEntry>>,
    /// `<handlers accessPolicy>` (the nearest level that sets it): the access flags
    /// (`web_config::access`) a mapping's `requireAccess` must find for it to run.
    pub access_policy: u8,
    /// Rewrite rules in evaluation order (parent levels first); `level` is the folder the
    /// rule's input URL is relative to.
    pub rules: Vec<Entry<RewriteRule>>,
    pub rewrite_maps: Vec<Entry<RewriteMap>>,
    pub default_document_enabled: bool,
    pub default_documents: Vec<Entry<DefaultDocumentFile>>,
    pub directory_browse: bool,
    pub mime_maps: Vec<Entry<MimeMapEntry>>,
    pub client_cache: ClientCache,
    /// Why IIS cannot read `<staticContent>` when its static file handler serves a file
    /// (IISN1012: a duplicate `<mimeMap>`, an invalid `cacheControlMaxAge`), with the
    /// HRESULT of its 500.19: static files below the folder answer that 500.19, node's
    /// pages are untouched.
    pub static_content_unreadable: Option<(u32, Diagnostic)>,
    pub hidden_segments: Vec<Entry<HiddenSegment>>,
    pub file_extensions_allow_unlisted: bool,
    pub file_extensions: Vec<Entry<FileExtensionRule>>,
    pub request_limits: RequestLimits,
    pub allow_double_escaping: bool,
    pub allow_high_bit_characters: bool,
    /// `requestFiltering/@removeServerHeader`: IIS then sends no `Server: Microsoft-IIS/10.0`.
    pub remove_server_header: bool,
    /// `requestFiltering/verbs`: unlisted verbs pass unless `allowUnlisted="false"`.
    pub verbs_allow_unlisted: bool,
    pub verbs: Vec<Entry<VerbRule>>,
    pub deny_url_sequences: Vec<Entry<DenySequence>>,
    pub deny_query_string_sequences: Vec<Entry<DenySequence>>,
    /// `requestFiltering/filteringRules`: custom deny strings (404.19).
    pub filtering_rules: Vec<Entry<FilteringRule>>,
    /// `alwaysAllowedUrls` / `alwaysAllowedQueryStrings`: exempt from the deny-string checks.
    pub always_allowed_urls: Vec<Entry<AlwaysAllowed>>,
    pub always_allowed_query_strings: Vec<Entry<AlwaysAllowed>>,
    pub header_limits: Vec<Entry<HeaderLimit>>,
    /// URL Rewrite outbound rules in evaluation order (parent levels first), and the
    /// preconditions they name.
    pub outbound_rules: Vec<Entry<OutboundRule>>,
    pub pre_conditions: Vec<Entry<PreCondition>>,
    pub http_errors: HttpErrors,
    /// `<webSocket enabled>`: IIS's own WebSocket module is on unless a level turns it off.
    pub web_socket_enabled: bool,
    pub web_socket_span: Option<Span>,
    pub custom_headers: Vec<Entry<CustomHeader>>,
    pub app_settings: Vec<Entry<AppSetting>>,
    /// `<appSettings file="...">`, which iisnode does not promote.
    pub app_settings_file: Option<Spanned<String>>,
    /// Sections present but not emulated, with where they were seen.
    pub not_emulated: Vec<Spanned<String>>,
}

impl EffectiveConfig {
    /// The `<iisnode>` attribute set in web.config, if any level set it.
    pub fn iisnode_value(&self, attr: Attr) -> Option<&Entry<IisnodeValue>> {
        self.iisnode.get(attr as usize).and_then(Option::as_ref)
    }

    /// Handler mappings served by iisnode, in match order.
    pub fn iisnode_handlers(&self) -> impl Iterator<Item = &Entry<HandlerEntry>> {
        self.handlers.iter().filter(|h| h.item.is_iisnode())
    }
}
