//! Built-in IIS server-level defaults: what `applicationHost.config` supplies below every
//! site's `web.config`.
//!
//! On Windows, a site's effective `<system.webServer>` configuration is the server file
//! `applicationHost.config` merged with the `web.config` files along the URL. iisn has no
//! `applicationHost.config`, so these tables stand in for it: they are the inherited bottom
//! layer. A site's `<remove>`/`<clear>` elements operate on these entries exactly as they
//! would on the server file (for instance `<remove name="OPTIONSVerbHandler"/>`, `<remove segment="bin"/>`,
//! `<remove fileExtension=".json"/>` followed by `<mimeMap .../>`, or `<clear/>` in
//! `<handlers>`, after which the site must re-add `StaticFile` for static files to work).
//! See `iis-webconfig.md` §2.2, §3.1, §3.3–§3.6 in the project spec.
//!
//! # Which IIS
//!
//! The baseline is **IIS Express 10 as installed by Visual Studio 2017/2019** with
//! ASP.NET 4.x in an integrated-mode, .NET 4 pool, because it is the most widely captured
//! real file and matches what developers run locally. Where versions differ:
//!
//! - **MIME map** ([`MIME_MAP`], 376 entries): transcribed from the IIS Express file
//!   (spec source APPHOST). It has `.json`, `.jsonld`, `.woff2`, `.less`, `.appcache`,
//!   `.esd`, `.avi`→`video/avi`, and no `.mjs`, `.webp`, `.webmanifest` or `.wasm`. Other
//!   versions:
//!   - the older list in `JexusManager`'s template (spec source JXCFG-MIME, 374 entries) lacks
//!     `.appcache .esd .json .jsonld .less .woff2`, maps `.avi` to `video/x-msvideo`, and
//!     has `.ical .icalendar .ifb .ogx`, which IIS Express does not;
//!   - an IIS Express file from 2016 maps `.avi` to `video/msvideo` and lacks `.esd`;
//!   - current IIS 10 on Windows Server and IIS Express from Visual Studio 2022 add
//!     [`NEWER_MIME_ADDITIONS`] (`.glb`, `.wasm`) to the 376. They are kept separate so
//!     that the baseline can be switched; [`mime_type`] does not consult them.
//! - **Denied extensions** ([`DENIED_EXTENSIONS`], 43 entries): the list the ASP.NET 4.x
//!   feature installs on full IIS (spec source APPHOST-2). IIS Express has one more,
//!   `.asa` (from Classic ASP), in front of these 43. A full IIS without ASP.NET has none.
//! - **Hidden segments** ([`HIDDEN_SEGMENTS`]): the eight of IIS Express and of full IIS
//!   with ASP.NET; a full IIS without ASP.NET lists only `web.config`.
//! - **Default documents** ([`DEFAULT_DOCUMENTS`]): IIS Express's six; a full IIS without
//!   ASP.NET lacks `default.aspx`.
//! - **Handlers** ([`STOCK_HANDLERS`]): a subset, in server order; see that item.
//!
//! # Sources
//!
//! - APPHOST: IIS Express `applicationhost.config`,
//!   <https://github.com/0GiS0/webappwithazuread/blob/af675b67599a3c78d960f65445c679129a51762a/.vs/config/applicationhost.config>.
//!   The copies at the same path in `0Mr-islam0/DatingApp@3f4a35fd` (2019) and
//!   `0963403400/API_Coffee@fbd77eeb` (2022) have the same MIME map, request filtering,
//!   default documents and `httpErrors`; their handler lists lack only some .NET 2.0/3.0
//!   WCF entries (`svc-Integrated`, `xoml-ISAPI-2.0`, ...), none of which is listed here.
//! - Older IIS Express: `0AlexScott/todo-productivity-app@47ee08c2`,
//!   `.vs/config/applicationhost.config` (2016).
//! - JXCFG-MIME and IISSCHEMA: jexuswebserver/JexusManager
//!   `Microsoft.Web.Administration/Resources/original.config` and `IIS_schema.xml`
//!   (<https://github.com/jexuswebserver/JexusManager/tree/HEAD/Microsoft.Web.Administration/Resources>);
//!   the schema gives the attribute defaults (`requestLimits`, `webSocket`, `httpErrors`,
//!   handler `modules`/`resourceType`/`requireAccess`).
//! - Newer IIS 10: the `applicationHost.config` of a Windows Server IIS 10 (no ASP.NET)
//!   reproduced in `YannickAtabong9/Hack-smarter-security@86f6b09f`, `README.md` (2024),
//!   and a Visual Studio 2022 IIS Express file (found through the code index, repository
//!   not identified); both have the 376 entries plus `.glb` and `.wasm`, and the latter
//!   names the extensionless handler `ExtensionlessUrlHandler-Integrated-4.0` as full IIS
//!   does (older IIS Express: `ExtensionlessUrl-Integrated-4.0`).
//! - APPHOST-2: a full IIS `applicationHost.config` with ASP.NET 4.x (43 denied
//!   extensions, the eight hidden segments), found through the code index.

use std::cmp::Ordering;

/// One stock handler mapping, in applicationHost.config order (`StaticFile` last).
///
/// Fields hold the attribute values as IIS spells them, with schema defaults filled in where
/// the server file omits the attribute (`modules` = `ManagedPipelineHandler` for managed
/// `type=` handlers, `resourceType` = `Unspecified`, `requireAccess` = `Script`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StockHandler {
    /// Unique key (case-sensitive), the value a web.config `<remove name=.../>` names.
    pub name: &'static str,
    /// `*`, `*.ext`, `*.` (extension-less) or a file name such as `trace.axd`.
    pub path: &'static str,
    /// Comma list of verbs, or `*`.
    pub verb: &'static str,
    /// Comma list of module names.
    pub modules: &'static str,
    /// `"Unspecified"`, `"File"`, `"Directory"` or `"Either"`.
    pub resource_type: &'static str,
    /// `"None"`, `"Read"`, `"Write"`, `"Script"` or `"Execute"`.
    pub require_access: &'static str,
}

/// Schema default of `modules` for handlers declared with a managed `type=`.
const MANAGED: &str = "ManagedPipelineHandler";
/// The verb list most ASP.NET 4.x mappings use.
const ASPNET_VERBS: &str = "GET,HEAD,POST,DEBUG";

const fn handler(
    name: &'static str,
    path: &'static str,
    verb: &'static str,
    modules: &'static str,
    resource_type: &'static str,
    require_access: &'static str,
) -> StockHandler {
    StockHandler {
        name,
        path,
        verb,
        modules,
        resource_type,
        require_access,
    }
}

/// A managed (ASP.NET 4.x, integrated mode) mapping: schema defaults for the rest.
const fn managed(name: &'static str, path: &'static str, verb: &'static str) -> StockHandler {
    handler(name, path, verb, MANAGED, "Unspecified", "Script")
}

/// The handlers an IIS Express / IIS 10 site inherits that matter to a node site: the ones
/// ending the list (`TRACEVerbHandler`, `OPTIONSVerbHandler`, the ASP.NET extension-less
/// mapping, `StaticFile`) and the ones real web.configs `<remove>`, in server order.
///
/// Site-level `<add>` entries go **in front of** this list (the collection is
/// `mergeAppend="false"`), and the first entry whose path and verb match wins.
///
/// What is in it, relative to the IIS Express file (APPHOST):
/// - No `WebDAV`. IIS Express ships its `WebDAV` handler (top of the list, `path="*"`,
///   PROPFIND, PUT, DELETE, ...) and the `WebDAVModule` commented out, and on full IIS they
///   come with the optional "WebDAV Publishing" feature, which a default install leaves
///   off. Where that feature is on, it is the module, not the mapping, that answers PUT and
///   DELETE with 405 (`Allow: GET, HEAD, OPTIONS, TRACE`), which is why so many web.configs
///   carry `<remove name="WebDAV"/>` and `<remove name="WebDAVModule"/>`; removing an entry
///   that is not there is no error in IIS, so those lines change nothing here. Without
///   WebDAV, PUT and DELETE to static content are StaticFile's: 405 for a file or folder,
///   404 for nothing.
/// - All `*-Integrated-4.0` ASP.NET mappings (`PageHandlerFactory-Integrated-4.0` for
///   `*.aspx`, `*.ashx`, `*.asmx`, `*.svc`, the Razor `*.cshtml` forbidden handlers, ...).
///   In IIS they carry `preCondition="integratedMode,runtimeVersionv4.0"`, so they only
///   apply in a .NET 4 application pool (not in "No Managed Code" pools).
/// - The native Classic ASP, ISAPI, CGI and server-side-include mappings. `ISAPI-dll` and
///   `CGI-exe` also have `allowPathInfo="true"`, which this struct does not carry. PHP
///   (`PHP_via_FastCGI`, `*.php`, `FastCgiModule`) is not stock: it exists only where PHP
///   was installed, with a machine-specific `scriptProcessor`, so it is not listed.
/// - `ExtensionlessUrlHandler-Integrated-4.0`, the name used by full IIS and current IIS
///   Express (IIS Express before Visual Studio 2022 calls it `ExtensionlessUrl-Integrated-4.0`).
///
/// Left out: the classic-mode `*-ISAPI-*` mappings and the .NET 2.0 `*-Integrated` ones,
/// whose preconditions never hold in an integrated .NET 4 pool. Removing them gives the
/// relative order above unchanged.
pub static STOCK_HANDLERS: &[StockHandler] = &[
    managed("TraceHandler-Integrated-4.0", "trace.axd", ASPNET_VERBS),
    managed(
        "WebAdminHandler-Integrated-4.0",
        "WebAdmin.axd",
        "GET,DEBUG",
    ),
    managed(
        "AssemblyResourceLoader-Integrated-4.0",
        "WebResource.axd",
        "GET,DEBUG",
    ),
    managed("PageHandlerFactory-Integrated-4.0", "*.aspx", ASPNET_VERBS),
    managed(
        "SimpleHandlerFactory-Integrated-4.0",
        "*.ashx",
        ASPNET_VERBS,
    ),
    managed(
        "WebServiceHandlerFactory-Integrated-4.0",
        "*.asmx",
        ASPNET_VERBS,
    ),
    managed(
        "HttpRemotingHandlerFactory-rem-Integrated-4.0",
        "*.rem",
        ASPNET_VERBS,
    ),
    managed(
        "HttpRemotingHandlerFactory-soap-Integrated-4.0",
        "*.soap",
        ASPNET_VERBS,
    ),
    managed("svc-Integrated-4.0", "*.svc", "*"),
    managed("rules-Integrated-4.0", "*.rules", "*"),
    managed("xoml-Integrated-4.0", "*.xoml", "*"),
    managed("xamlx-Integrated-4.0", "*.xamlx", ASPNET_VERBS),
    managed("aspq-Integrated-4.0", "*.aspq", ASPNET_VERBS),
    managed("cshtm-Integrated-4.0", "*.cshtm", ASPNET_VERBS),
    managed("cshtml-Integrated-4.0", "*.cshtml", ASPNET_VERBS),
    managed("vbhtm-Integrated-4.0", "*.vbhtm", ASPNET_VERBS),
    managed("vbhtml-Integrated-4.0", "*.vbhtml", ASPNET_VERBS),
    managed(
        "ScriptHandlerFactoryAppServices-Integrated-4.0",
        "*_AppService.axd",
        "*",
    ),
    managed(
        "ScriptResourceIntegrated-4.0",
        "*ScriptResource.axd",
        "GET,HEAD",
    ),
    handler(
        "ASPClassic",
        "*.asp",
        "GET,HEAD,POST",
        "IsapiModule",
        "File",
        "Script",
    ),
    handler(
        "SecurityCertificate",
        "*.cer",
        "GET,HEAD,POST",
        "IsapiModule",
        "File",
        "Script",
    ),
    handler("ISAPI-dll", "*.dll", "*", "IsapiModule", "File", "Execute"),
    handler("CGI-exe", "*.exe", "*", "CgiModule", "File", "Execute"),
    handler(
        "SSINC-stm",
        "*.stm",
        "GET,HEAD,POST",
        "ServerSideIncludeModule",
        "File",
        "Script",
    ),
    handler(
        "SSINC-shtm",
        "*.shtm",
        "GET,HEAD,POST",
        "ServerSideIncludeModule",
        "File",
        "Script",
    ),
    handler(
        "SSINC-shtml",
        "*.shtml",
        "GET,HEAD,POST",
        "ServerSideIncludeModule",
        "File",
        "Script",
    ),
    handler(
        "TRACEVerbHandler",
        "*",
        "TRACE",
        "ProtocolSupportModule",
        "Unspecified",
        "None",
    ),
    handler(
        "OPTIONSVerbHandler",
        "*",
        "OPTIONS",
        "ProtocolSupportModule",
        "Unspecified",
        "None",
    ),
    managed("ExtensionlessUrlHandler-Integrated-4.0", "*.", ASPNET_VERBS),
    handler(
        "StaticFile",
        "*",
        "*",
        "StaticFileModule,DefaultDocumentModule,DirectoryListingModule",
        "Either",
        "Read",
    ),
];

/// `<httpProtocol><customHeaders>` of the server (full IIS and IIS Express alike:
/// `<clear /><add name="X-Powered-By" value="ASP.NET" />`): every response carries it until
/// a site removes it, and a site's `<add name="X-Powered-By">` without `<remove>` first is a
/// duplicate entry (500.19).
pub static CUSTOM_HEADERS: &[(&str, &str)] = &[("X-Powered-By", "ASP.NET")];

/// `<defaultDocument><files>`, in IIS order (first existing file wins). `enabled` defaults
/// to [`DEFAULT_DOCUMENT_ENABLED`]. Spelled as in IIS; file-name comparison is
/// case-insensitive on Windows.
pub static DEFAULT_DOCUMENTS: &[&str] = &[
    "Default.htm",
    "Default.asp",
    "index.htm",
    "index.html",
    "iisstart.htm",
    "default.aspx",
];

/// `<defaultDocument enabled>` at server level.
pub const DEFAULT_DOCUMENT_ENABLED: bool = true;

/// `<directoryBrowse enabled>` at server level.
pub const DIRECTORY_BROWSE_ENABLED: bool = false;

/// `<requestFiltering><hiddenSegments>`: a URL with any of these as a whole path segment
/// is refused with 404.8. Spelled as in IIS (note `App_code`); compared case-insensitively
/// by [`is_stock_hidden_segment`].
pub static HIDDEN_SEGMENTS: &[&str] = &[
    "web.config",
    "bin",
    "App_code",
    "App_GlobalResources",
    "App_LocalResources",
    "App_WebReferences",
    "App_Data",
    "App_Browsers",
];

/// `<requestFiltering><fileExtensions>` entries with `allowed="false"` (refused with
/// 404.7), in server order, with the leading dot, spelled as in IIS (note `.sdmDocument`).
/// `allowUnlisted` defaults to `true`. IIS Express also denies `.asa`; see the module docs.
pub static DENIED_EXTENSIONS: &[&str] = &[
    ".asax",
    ".ascx",
    ".master",
    ".skin",
    ".browser",
    ".sitemap",
    ".config",
    ".cs",
    ".csproj",
    ".vb",
    ".vbproj",
    ".webinfo",
    ".licx",
    ".resx",
    ".resources",
    ".mdb",
    ".vjsproj",
    ".java",
    ".jsl",
    ".ldb",
    ".dsdgm",
    ".ssdgm",
    ".lsad",
    ".ssmap",
    ".cd",
    ".dsprototype",
    ".lsaprototype",
    ".sdm",
    ".sdmDocument",
    ".mdf",
    ".ldf",
    ".ad",
    ".dd",
    ".ldd",
    ".sd",
    ".adprototype",
    ".lddprototype",
    ".exclude",
    ".refresh",
    ".compiled",
    ".msgx",
    ".vsdisco",
    ".rules",
];

/// `<requestLimits maxAllowedContentLength>`: request bodies above this many bytes are
/// refused (413.1 on IIS 10, 404.13 in older documentation).
pub const MAX_ALLOWED_CONTENT_LENGTH: u64 = 30_000_000;
/// `<requestLimits maxUrl>`: longer URLs get 404.14.
pub const MAX_URL: u32 = 4096;
/// `<requestLimits maxQueryString>`: longer query strings get 404.15.
pub const MAX_QUERY_STRING: u32 = 2048;

/// `<httpErrors errorMode>` schema default.
pub const HTTP_ERRORS_ERROR_MODE: &str = "DetailedLocalOnly";
/// `<httpErrors existingResponse>` schema default.
pub const HTTP_ERRORS_EXISTING_RESPONSE: &str = "Auto";
/// `<httpErrors defaultResponseMode>` schema default.
pub const HTTP_ERRORS_DEFAULT_RESPONSE_MODE: &str = "File";
/// The `prefixLanguageFilePath` of the server's `<httpErrors>` rows on full IIS (IIS Express:
/// `%IIS_BIN%\custerr`).
pub const HTTP_ERRORS_PREFIX: &str = "%SystemDrive%\\inetpub\\custerr";
/// The server's `<httpErrors>` `<error>` entries: status code (any sub-status) and the
/// custom-error page file, which IIS looks up under
/// `prefixLanguageFilePath="%IIS_BIN%\custerr"` (IIS Express) or
/// `%SystemDrive%\inetpub\custerr` (full IIS), in a language folder such as `en-US`.
pub static HTTP_ERROR_PAGES: &[(u16, &str)] = &[
    (401, "401.htm"),
    (403, "403.htm"),
    (404, "404.htm"),
    (405, "405.htm"),
    (406, "406.htm"),
    (412, "412.htm"),
    (500, "500.htm"),
    (501, "501.htm"),
    (502, "502.htm"),
];

/// `<webSocket enabled>` schema default (the server file has a bare `<webSocket />`).
/// iisnode sites set it to `false` so that node, not IIS, handles WebSocket upgrades.
pub const WEBSOCKET_ENABLED: bool = true;
/// `<webSocket receiveBufferLimit>` schema default, in bytes.
pub const WEBSOCKET_RECEIVE_BUFFER_LIMIT: u32 = 4_194_304;
/// `<webSocket pingInterval>` schema default (a .NET time span; zero = no pings).
pub const WEBSOCKET_PING_INTERVAL: &str = "00:00:00";

/// `<staticContent>` `<mimeMap>` entries, `(".ext", "type/subtype")`: the IIS Express list
/// (376 entries), sorted by extension compared ASCII case-insensitively (which is how
/// [`mime_type`] searches it); spelled as in IIS (note `.IVF`). An extension not in the
/// effective map is not served as a static file (404.3).
pub static MIME_MAP: &[(&str, &str)] = &[
    (".323", "text/h323"),
    (".3g2", "video/3gpp2"),
    (".3gp", "video/3gpp"),
    (".3gp2", "video/3gpp2"),
    (".3gpp", "video/3gpp"),
    (".aac", "audio/aac"),
    (".aaf", "application/octet-stream"),
    (".aca", "application/octet-stream"),
    (".accdb", "application/msaccess"),
    (".accde", "application/msaccess"),
    (".accdt", "application/msaccess"),
    (".acx", "application/internet-property-stream"),
    (".adt", "audio/vnd.dlna.adts"),
    (".adts", "audio/vnd.dlna.adts"),
    (".afm", "application/octet-stream"),
    (".ai", "application/postscript"),
    (".aif", "audio/x-aiff"),
    (".aifc", "audio/aiff"),
    (".aiff", "audio/aiff"),
    (".appcache", "text/cache-manifest"),
    (".application", "application/x-ms-application"),
    (".art", "image/x-jg"),
    (".asd", "application/octet-stream"),
    (".asf", "video/x-ms-asf"),
    (".asi", "application/octet-stream"),
    (".asm", "text/plain"),
    (".asr", "video/x-ms-asf"),
    (".asx", "video/x-ms-asf"),
    (".atom", "application/atom+xml"),
    (".au", "audio/basic"),
    (".avi", "video/avi"),
    (".axs", "application/olescript"),
    (".bas", "text/plain"),
    (".bcpio", "application/x-bcpio"),
    (".bin", "application/octet-stream"),
    (".bmp", "image/bmp"),
    (".c", "text/plain"),
    (".cab", "application/vnd.ms-cab-compressed"),
    (".calx", "application/vnd.ms-office.calx"),
    (".cat", "application/vnd.ms-pki.seccat"),
    (".cdf", "application/x-cdf"),
    (".chm", "application/octet-stream"),
    (".class", "application/x-java-applet"),
    (".clp", "application/x-msclip"),
    (".cmx", "image/x-cmx"),
    (".cnf", "text/plain"),
    (".cod", "image/cis-cod"),
    (".cpio", "application/x-cpio"),
    (".cpp", "text/plain"),
    (".crd", "application/x-mscardfile"),
    (".crl", "application/pkix-crl"),
    (".crt", "application/x-x509-ca-cert"),
    (".csh", "application/x-csh"),
    (".css", "text/css"),
    (".csv", "application/octet-stream"),
    (".cur", "application/octet-stream"),
    (".dcr", "application/x-director"),
    (".deploy", "application/octet-stream"),
    (".der", "application/x-x509-ca-cert"),
    (".dib", "image/bmp"),
    (".dir", "application/x-director"),
    (".disco", "text/xml"),
    (".dll", "application/x-msdownload"),
    (".dll.config", "text/xml"),
    (".dlm", "text/dlm"),
    (".doc", "application/msword"),
    (".docm", "application/vnd.ms-word.document.macroEnabled.12"),
    (
        ".docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (".dot", "application/msword"),
    (".dotm", "application/vnd.ms-word.template.macroEnabled.12"),
    (
        ".dotx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    ),
    (".dsp", "application/octet-stream"),
    (".dtd", "text/xml"),
    (".dvi", "application/x-dvi"),
    (".dvr-ms", "video/x-ms-dvr"),
    (".dwf", "drawing/x-dwf"),
    (".dwp", "application/octet-stream"),
    (".dxr", "application/x-director"),
    (".eml", "message/rfc822"),
    (".emz", "application/octet-stream"),
    (".eot", "application/vnd.ms-fontobject"),
    (".eps", "application/postscript"),
    (".esd", "application/vnd.ms-cab-compressed"),
    (".etx", "text/x-setext"),
    (".evy", "application/envoy"),
    (".exe", "application/octet-stream"),
    (".exe.config", "text/xml"),
    (".fdf", "application/vnd.fdf"),
    (".fif", "application/fractals"),
    (".fla", "application/octet-stream"),
    (".flr", "x-world/x-vrml"),
    (".flv", "video/x-flv"),
    (".gif", "image/gif"),
    (".gtar", "application/x-gtar"),
    (".gz", "application/x-gzip"),
    (".h", "text/plain"),
    (".hdf", "application/x-hdf"),
    (".hdml", "text/x-hdml"),
    (".hhc", "application/x-oleobject"),
    (".hhk", "application/octet-stream"),
    (".hhp", "application/octet-stream"),
    (".hlp", "application/winhlp"),
    (".hqx", "application/mac-binhex40"),
    (".hta", "application/hta"),
    (".htc", "text/x-component"),
    (".htm", "text/html"),
    (".html", "text/html"),
    (".htt", "text/webviewhtml"),
    (".hxt", "text/html"),
    (".ico", "image/x-icon"),
    (".ics", "text/calendar"),
    (".ief", "image/ief"),
    (".iii", "application/x-iphone"),
    (".inf", "application/octet-stream"),
    (".ins", "application/x-internet-signup"),
    (".isp", "application/x-internet-signup"),
    (".IVF", "video/x-ivf"),
    (".jar", "application/java-archive"),
    (".java", "application/octet-stream"),
    (".jck", "application/liquidmotion"),
    (".jcz", "application/liquidmotion"),
    (".jfif", "image/pjpeg"),
    (".jpb", "application/octet-stream"),
    (".jpe", "image/jpeg"),
    (".jpeg", "image/jpeg"),
    (".jpg", "image/jpeg"),
    (".js", "application/javascript"),
    (".json", "application/json"),
    (".jsonld", "application/ld+json"),
    (".jsx", "text/jscript"),
    (".latex", "application/x-latex"),
    (".less", "text/css"),
    (".lit", "application/x-ms-reader"),
    (".lpk", "application/octet-stream"),
    (".lsf", "video/x-la-asf"),
    (".lsx", "video/x-la-asf"),
    (".lzh", "application/octet-stream"),
    (".m13", "application/x-msmediaview"),
    (".m14", "application/x-msmediaview"),
    (".m1v", "video/mpeg"),
    (".m2ts", "video/vnd.dlna.mpeg-tts"),
    (".m3u", "audio/x-mpegurl"),
    (".m4a", "audio/mp4"),
    (".m4v", "video/mp4"),
    (".man", "application/x-troff-man"),
    (".manifest", "application/x-ms-manifest"),
    (".map", "text/plain"),
    (".mdb", "application/x-msaccess"),
    (".mdp", "application/octet-stream"),
    (".me", "application/x-troff-me"),
    (".mht", "message/rfc822"),
    (".mhtml", "message/rfc822"),
    (".mid", "audio/mid"),
    (".midi", "audio/mid"),
    (".mix", "application/octet-stream"),
    (".mmf", "application/x-smaf"),
    (".mno", "text/xml"),
    (".mny", "application/x-msmoney"),
    (".mov", "video/quicktime"),
    (".movie", "video/x-sgi-movie"),
    (".mp2", "video/mpeg"),
    (".mp3", "audio/mpeg"),
    (".mp4", "video/mp4"),
    (".mp4v", "video/mp4"),
    (".mpa", "video/mpeg"),
    (".mpe", "video/mpeg"),
    (".mpeg", "video/mpeg"),
    (".mpg", "video/mpeg"),
    (".mpp", "application/vnd.ms-project"),
    (".mpv2", "video/mpeg"),
    (".ms", "application/x-troff-ms"),
    (".msi", "application/octet-stream"),
    (".mso", "application/octet-stream"),
    (".mvb", "application/x-msmediaview"),
    (".mvc", "application/x-miva-compiled"),
    (".nc", "application/x-netcdf"),
    (".nsc", "video/x-ms-asf"),
    (".nws", "message/rfc822"),
    (".ocx", "application/octet-stream"),
    (".oda", "application/oda"),
    (".odc", "text/x-ms-odc"),
    (".ods", "application/oleobject"),
    (".oga", "audio/ogg"),
    (".ogg", "video/ogg"),
    (".ogv", "video/ogg"),
    (".one", "application/onenote"),
    (".onea", "application/onenote"),
    (".onepkg", "application/onenote"),
    (".onetmp", "application/onenote"),
    (".onetoc", "application/onenote"),
    (".onetoc2", "application/onenote"),
    (".osdx", "application/opensearchdescription+xml"),
    (".otf", "font/otf"),
    (".p10", "application/pkcs10"),
    (".p12", "application/x-pkcs12"),
    (".p7b", "application/x-pkcs7-certificates"),
    (".p7c", "application/pkcs7-mime"),
    (".p7m", "application/pkcs7-mime"),
    (".p7r", "application/x-pkcs7-certreqresp"),
    (".p7s", "application/pkcs7-signature"),
    (".pbm", "image/x-portable-bitmap"),
    (".pcx", "application/octet-stream"),
    (".pcz", "application/octet-stream"),
    (".pdf", "application/pdf"),
    (".pfb", "application/octet-stream"),
    (".pfm", "application/octet-stream"),
    (".pfx", "application/x-pkcs12"),
    (".pgm", "image/x-portable-graymap"),
    (".pko", "application/vnd.ms-pki.pko"),
    (".pma", "application/x-perfmon"),
    (".pmc", "application/x-perfmon"),
    (".pml", "application/x-perfmon"),
    (".pmr", "application/x-perfmon"),
    (".pmw", "application/x-perfmon"),
    (".png", "image/png"),
    (".pnm", "image/x-portable-anymap"),
    (".pnz", "image/png"),
    (".pot", "application/vnd.ms-powerpoint"),
    (
        ".potm",
        "application/vnd.ms-powerpoint.template.macroEnabled.12",
    ),
    (
        ".potx",
        "application/vnd.openxmlformats-officedocument.presentationml.template",
    ),
    (
        ".ppam",
        "application/vnd.ms-powerpoint.addin.macroEnabled.12",
    ),
    (".ppm", "image/x-portable-pixmap"),
    (".pps", "application/vnd.ms-powerpoint"),
    (
        ".ppsm",
        "application/vnd.ms-powerpoint.slideshow.macroEnabled.12",
    ),
    (
        ".ppsx",
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
    ),
    (".ppt", "application/vnd.ms-powerpoint"),
    (
        ".pptm",
        "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
    ),
    (
        ".pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    (".prf", "application/pics-rules"),
    (".prm", "application/octet-stream"),
    (".prx", "application/octet-stream"),
    (".ps", "application/postscript"),
    (".psd", "application/octet-stream"),
    (".psm", "application/octet-stream"),
    (".psp", "application/octet-stream"),
    (".pub", "application/x-mspublisher"),
    (".qt", "video/quicktime"),
    (".qtl", "application/x-quicktimeplayer"),
    (".qxd", "application/octet-stream"),
    (".ra", "audio/x-pn-realaudio"),
    (".ram", "audio/x-pn-realaudio"),
    (".rar", "application/octet-stream"),
    (".ras", "image/x-cmu-raster"),
    (".rf", "image/vnd.rn-realflash"),
    (".rgb", "image/x-rgb"),
    (".rm", "application/vnd.rn-realmedia"),
    (".rmi", "audio/mid"),
    (".roff", "application/x-troff"),
    (".rpm", "audio/x-pn-realaudio-plugin"),
    (".rtf", "application/rtf"),
    (".rtx", "text/richtext"),
    (".scd", "application/x-msschedule"),
    (".sct", "text/scriptlet"),
    (".sea", "application/octet-stream"),
    (".setpay", "application/set-payment-initiation"),
    (".setreg", "application/set-registration-initiation"),
    (".sgml", "text/sgml"),
    (".sh", "application/x-sh"),
    (".shar", "application/x-shar"),
    (".sit", "application/x-stuffit"),
    (
        ".sldm",
        "application/vnd.ms-powerpoint.slide.macroEnabled.12",
    ),
    (
        ".sldx",
        "application/vnd.openxmlformats-officedocument.presentationml.slide",
    ),
    (".smd", "audio/x-smd"),
    (".smi", "application/octet-stream"),
    (".smx", "audio/x-smd"),
    (".smz", "audio/x-smd"),
    (".snd", "audio/basic"),
    (".snp", "application/octet-stream"),
    (".spc", "application/x-pkcs7-certificates"),
    (".spl", "application/futuresplash"),
    (".spx", "audio/ogg"),
    (".src", "application/x-wais-source"),
    (".ssm", "application/streamingmedia"),
    (".sst", "application/vnd.ms-pki.certstore"),
    (".stl", "application/vnd.ms-pki.stl"),
    (".sv4cpio", "application/x-sv4cpio"),
    (".sv4crc", "application/x-sv4crc"),
    (".svg", "image/svg+xml"),
    (".svgz", "image/svg+xml"),
    (".swf", "application/x-shockwave-flash"),
    (".t", "application/x-troff"),
    (".tar", "application/x-tar"),
    (".tcl", "application/x-tcl"),
    (".tex", "application/x-tex"),
    (".texi", "application/x-texinfo"),
    (".texinfo", "application/x-texinfo"),
    (".tgz", "application/x-compressed"),
    (".thmx", "application/vnd.ms-officetheme"),
    (".thn", "application/octet-stream"),
    (".tif", "image/tiff"),
    (".tiff", "image/tiff"),
    (".toc", "application/octet-stream"),
    (".tr", "application/x-troff"),
    (".trm", "application/x-msterminal"),
    (".ts", "video/vnd.dlna.mpeg-tts"),
    (".tsv", "text/tab-separated-values"),
    (".ttf", "application/octet-stream"),
    (".tts", "video/vnd.dlna.mpeg-tts"),
    (".txt", "text/plain"),
    (".u32", "application/octet-stream"),
    (".uls", "text/iuls"),
    (".ustar", "application/x-ustar"),
    (".vbs", "text/vbscript"),
    (".vcf", "text/x-vcard"),
    (".vcs", "text/plain"),
    (".vdx", "application/vnd.ms-visio.viewer"),
    (".vml", "text/xml"),
    (".vsd", "application/vnd.visio"),
    (".vss", "application/vnd.visio"),
    (".vst", "application/vnd.visio"),
    (".vsto", "application/x-ms-vsto"),
    (".vsw", "application/vnd.visio"),
    (".vsx", "application/vnd.visio"),
    (".vtx", "application/vnd.visio"),
    (".wav", "audio/wav"),
    (".wax", "audio/x-ms-wax"),
    (".wbmp", "image/vnd.wap.wbmp"),
    (".wcm", "application/vnd.ms-works"),
    (".wdb", "application/vnd.ms-works"),
    (".webm", "video/webm"),
    (".wks", "application/vnd.ms-works"),
    (".wm", "video/x-ms-wm"),
    (".wma", "audio/x-ms-wma"),
    (".wmd", "application/x-ms-wmd"),
    (".wmf", "application/x-msmetafile"),
    (".wml", "text/vnd.wap.wml"),
    (".wmlc", "application/vnd.wap.wmlc"),
    (".wmls", "text/vnd.wap.wmlscript"),
    (".wmlsc", "application/vnd.wap.wmlscriptc"),
    (".wmp", "video/x-ms-wmp"),
    (".wmv", "video/x-ms-wmv"),
    (".wmx", "video/x-ms-wmx"),
    (".wmz", "application/x-ms-wmz"),
    (".woff", "font/x-woff"),
    (".woff2", "application/font-woff2"),
    (".wps", "application/vnd.ms-works"),
    (".wri", "application/x-mswrite"),
    (".wrl", "x-world/x-vrml"),
    (".wrz", "x-world/x-vrml"),
    (".wsdl", "text/xml"),
    (".wtv", "video/x-ms-wtv"),
    (".wvx", "video/x-ms-wvx"),
    (".x", "application/directx"),
    (".xaf", "x-world/x-vrml"),
    (".xaml", "application/xaml+xml"),
    (".xap", "application/x-silverlight-app"),
    (".xbap", "application/x-ms-xbap"),
    (".xbm", "image/x-xbitmap"),
    (".xdr", "text/plain"),
    (".xht", "application/xhtml+xml"),
    (".xhtml", "application/xhtml+xml"),
    (".xla", "application/vnd.ms-excel"),
    (".xlam", "application/vnd.ms-excel.addin.macroEnabled.12"),
    (".xlc", "application/vnd.ms-excel"),
    (".xlm", "application/vnd.ms-excel"),
    (".xls", "application/vnd.ms-excel"),
    (
        ".xlsb",
        "application/vnd.ms-excel.sheet.binary.macroEnabled.12",
    ),
    (".xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"),
    (
        ".xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (".xlt", "application/vnd.ms-excel"),
    (".xltm", "application/vnd.ms-excel.template.macroEnabled.12"),
    (
        ".xltx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
    ),
    (".xlw", "application/vnd.ms-excel"),
    (".xml", "text/xml"),
    (".xof", "x-world/x-vrml"),
    (".xpm", "image/x-xpixmap"),
    (".xps", "application/vnd.ms-xpsdocument"),
    (".xsd", "text/xml"),
    (".xsf", "text/xml"),
    (".xsl", "text/xml"),
    (".xslt", "text/xml"),
    (".xsn", "application/octet-stream"),
    (".xtp", "application/octet-stream"),
    (".xwd", "image/x-xwindowdump"),
    (".z", "application/x-compress"),
    (".zip", "application/x-zip-compressed"),
];

/// MIME entries that current IIS 10 builds (Windows Server, Visual Studio 2022 IIS Express)
/// have on top of [`MIME_MAP`]. Not part of the baseline; sorted like [`MIME_MAP`].
pub static NEWER_MIME_ADDITIONS: &[(&str, &str)] =
    &[(".glb", "model/gltf-binary"), (".wasm", "application/wasm")];

/// Orders two strings by their ASCII-lowercased bytes (the order of [`MIME_MAP`]).
fn cmp_ignore_ascii_case(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// The MIME type of `ext` (with its leading dot, e.g. `".js"`) in the stock map, compared
/// ASCII case-insensitively. `None` when IIS has no mapping (a 404.3 for a static file).
#[must_use]
pub fn mime_type(ext: &str) -> Option<&'static str> {
    MIME_MAP
        .binary_search_by(|(e, _)| cmp_ignore_ascii_case(e, ext))
        .ok()
        .map(|i| MIME_MAP[i].1)
}

/// Whether `ext` (with its leading dot, e.g. `".config"`) is in the stock deny list,
/// compared ASCII case-insensitively.
#[must_use]
pub fn is_denied_extension(ext: &str) -> bool {
    DENIED_EXTENSIONS
        .iter()
        .any(|e| e.eq_ignore_ascii_case(ext))
}

/// Whether one URL path segment (no slashes, e.g. `"bin"`) is a stock hidden segment,
/// compared ASCII case-insensitively.
#[must_use]
pub fn is_stock_hidden_segment(segment: &str) -> bool {
    HIDDEN_SEGMENTS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_file_is_last_and_exact() {
        let last = STOCK_HANDLERS.last().expect("handler list is not empty");
        assert_eq!(
            *last,
            StockHandler {
                name: "StaticFile",
                path: "*",
                verb: "*",
                modules: "StaticFileModule,DefaultDocumentModule,DirectoryListingModule",
                resource_type: "Either",
                require_access: "Read",
            }
        );
        assert_eq!(
            STOCK_HANDLERS
                .iter()
                .filter(|h| h.name == "StaticFile")
                .count(),
            1
        );
    }

    #[test]
    fn handler_tail_is_in_server_order() {
        let names: Vec<&str> = STOCK_HANDLERS.iter().map(|h| h.name).collect();
        assert_eq!(
            names[names.len() - 4..],
            [
                "TRACEVerbHandler",
                "OPTIONSVerbHandler",
                "ExtensionlessUrlHandler-Integrated-4.0",
                "StaticFile",
            ]
        );
        assert_eq!(names[0], "TraceHandler-Integrated-4.0");
        assert!(
            !names.contains(&"WebDAV"),
            "WebDAV Publishing is not installed by default"
        );
    }

    #[test]
    fn handler_names_unique_and_attributes_valid() {
        for (i, h) in STOCK_HANDLERS.iter().enumerate() {
            assert!(
                STOCK_HANDLERS[i + 1..].iter().all(|o| o.name != h.name),
                "duplicate handler {}",
                h.name
            );
            assert!(
                ["Unspecified", "File", "Directory", "Either"].contains(&h.resource_type),
                "{}",
                h.name
            );
            assert!(
                ["None", "Read", "Write", "Script", "Execute"].contains(&h.require_access),
                "{}",
                h.name
            );
            assert!(!h.path.is_empty() && !h.verb.is_empty() && !h.modules.is_empty());
        }
        let aspx = STOCK_HANDLERS
            .iter()
            .find(|h| h.name == "PageHandlerFactory-Integrated-4.0")
            .expect("aspx handler present");
        assert_eq!(
            (aspx.path, aspx.verb, aspx.modules),
            ("*.aspx", "GET,HEAD,POST,DEBUG", "ManagedPipelineHandler")
        );
    }

    #[test]
    fn default_documents_in_iis_order() {
        assert_eq!(
            DEFAULT_DOCUMENTS,
            [
                "Default.htm",
                "Default.asp",
                "index.htm",
                "index.html",
                "iisstart.htm",
                "default.aspx",
            ]
        );
    }

    #[test]
    fn denied_extensions() {
        assert_eq!(DENIED_EXTENSIONS.len(), 43);
        assert!(DENIED_EXTENSIONS.contains(&".config"));
        assert!(DENIED_EXTENSIONS.iter().all(|e| e.starts_with('.')));
        for (i, e) in DENIED_EXTENSIONS.iter().enumerate() {
            assert!(
                DENIED_EXTENSIONS[i + 1..]
                    .iter()
                    .all(|o| !o.eq_ignore_ascii_case(e)),
                "duplicate {e}"
            );
        }
        assert!(is_denied_extension(".config"));
        assert!(is_denied_extension(".CONFIG"));
        assert!(is_denied_extension(".sdmdocument"));
        assert!(is_denied_extension(".Cs"));
        assert!(!is_denied_extension(".js"));
        assert!(!is_denied_extension("config"));
        assert!(!is_denied_extension(".asa"));
    }

    #[test]
    fn hidden_segments() {
        assert_eq!(HIDDEN_SEGMENTS.len(), 8);
        assert!(is_stock_hidden_segment("web.config"));
        assert!(is_stock_hidden_segment("Web.Config"));
        assert!(is_stock_hidden_segment("BIN"));
        assert!(is_stock_hidden_segment("app_code"));
        assert!(is_stock_hidden_segment("App_Data"));
        assert!(!is_stock_hidden_segment("node_modules"));
        assert!(!is_stock_hidden_segment("iisnode"));
        assert!(!is_stock_hidden_segment("binary"));
        assert!(!is_stock_hidden_segment(""));
    }

    #[test]
    fn mime_map_sorted_without_duplicates() {
        assert_eq!(MIME_MAP.len(), 376);
        for pair in MIME_MAP.windows(2) {
            assert_eq!(
                cmp_ignore_ascii_case(pair[0].0, pair[1].0),
                Ordering::Less,
                "{} must sort before {}",
                pair[0].0,
                pair[1].0
            );
        }
        for (ext, ty) in MIME_MAP {
            assert!(ext.starts_with('.') && ext.len() > 1, "{ext}");
            assert!(ty.contains('/'), "{ext} -> {ty}");
        }
        for pair in NEWER_MIME_ADDITIONS.windows(2) {
            assert_eq!(cmp_ignore_ascii_case(pair[0].0, pair[1].0), Ordering::Less);
        }
        for (ext, _) in NEWER_MIME_ADDITIONS {
            assert_eq!(mime_type(ext), None, "{ext} must not be in the baseline");
        }
    }

    #[test]
    fn mime_values_as_in_iis() {
        assert_eq!(mime_type(".json"), Some("application/json"));
        assert_eq!(mime_type(".woff2"), Some("application/font-woff2"));
        assert_eq!(mime_type(".woff"), Some("font/x-woff"));
        assert_eq!(mime_type(".js"), Some("application/javascript"));
        assert_eq!(mime_type(".css"), Some("text/css"));
        assert_eq!(mime_type(".html"), Some("text/html"));
        assert_eq!(mime_type(".htm"), Some("text/html"));
        assert_eq!(mime_type(".svg"), Some("image/svg+xml"));
        assert_eq!(mime_type(".map"), Some("text/plain"));
        assert_eq!(mime_type(".ts"), Some("video/vnd.dlna.mpeg-tts"));
        assert_eq!(mime_type(".otf"), Some("font/otf"));
        assert_eq!(mime_type(".webm"), Some("video/webm"));
        assert_eq!(mime_type(".dll.config"), Some("text/xml"));
        assert_eq!(mime_type(".323"), Some("text/h323"));
        assert_eq!(mime_type(".zip"), Some("application/x-zip-compressed"));
    }

    #[test]
    fn mime_absent_as_in_iis() {
        for ext in [".mjs", ".wasm", ".webp", ".webmanifest", ".glb", ".md", ""] {
            assert_eq!(mime_type(ext), None, "{ext}");
        }
        assert_eq!(mime_type("js"), None, "the dot is part of the key");
    }

    #[test]
    fn lookups_are_case_insensitive() {
        assert_eq!(mime_type(".JS"), Some("application/javascript"));
        assert_eq!(mime_type(".Json"), Some("application/json"));
        assert_eq!(mime_type(".ivf"), Some("video/x-ivf"));
        assert_eq!(mime_type(".IVF"), Some("video/x-ivf"));
        assert_eq!(mime_type(".WOFF2"), Some("application/font-woff2"));
        for (ext, ty) in MIME_MAP {
            assert_eq!(mime_type(&ext.to_ascii_uppercase()), Some(*ty), "{ext}");
            assert_eq!(mime_type(&ext.to_ascii_lowercase()), Some(*ty), "{ext}");
        }
    }

    #[test]
    fn schema_defaults() {
        assert_eq!(MAX_ALLOWED_CONTENT_LENGTH, 30_000_000);
        assert_eq!(MAX_URL, 4096);
        assert_eq!(MAX_QUERY_STRING, 2048);
        assert_eq!(HTTP_ERROR_PAGES.len(), 9);
        assert_eq!(WEBSOCKET_RECEIVE_BUFFER_LIMIT, 4_194_304);
    }
}
