//! IIS's CustomErrorModule (`system.webServer/httpErrors`): what the client sees when IIS
//! (here: iisn) or node answers with an error.
//!
//! For errors iisn produces itself (request filtering, 404.0, 403.14, 405, 500.50, ...),
//! `errorMode` decides (iis-webconfig.md §3.4):
//!
//! * `DetailedLocalOnly` (the default): loopback clients get IIS's *detailed* error page
//!   (status with sub-status, module, notification, handler, requested URL, physical path,
//!   most likely causes); others get the custom page;
//! * `Detailed`: everyone gets the detailed page; `Custom`: everyone gets the custom page.
//!
//! The custom page is the `<error statusCode subStatusCode path responseMode>` entry that
//! matches (an exact sub-status before `-1`), else `defaultPath`. Without an entry, or when
//! the entry cannot be used, the stock page is IIS's built-in sentence for the status
//! (`text/html`, no charset: "The resource you are looking for has been removed, had its name
//! changed, or is temporarily unavailable." for a 404, "The page cannot be displayed because
//! an internal server error has occurred." for a 500, the reason phrase for a status without
//! one), as IIS sends it to a client without `Accept-Language`.
//!
//! Every site inherits IIS's server rows for 401, 403, 404, 405, 406, 412, 500, 501 and 502
//! (any sub-status), whose pages are IIS's own files in `%SystemDrive%\inetpub\custerr\<the
//! client's language>` (`prefixLanguageFilePath`): they give the stock page here, and a
//! site's row for one of those statuses needs a `<remove>` first (IIS's "Cannot add
//! duplicate collection entry", a 500.19, otherwise). A site's `File` row with a
//! `prefixLanguageFilePath` of its own gives the stock page too.
//!
//! * `Redirect` answers 302 with `Location` (not the error status: IIS sends the redirect),
//!   in the shape of IIS's other redirects: reason phrase `Redirect`, the "Object Moved"
//!   page, and a site-relative path made absolute against the request's Host.
//! * `File` streams a file of the site with the error status and the file's MIME type, as
//!   the CustomErrorModule sends it (without the StaticFile handler's `ETag`,
//!   `Last-Modified`, `Accept-Ranges` or `<clientCache>` headers), from a path relative to
//!   the folder whose web.config added the entry (Windows paths such as
//!   `%SystemDrive%\inetpub\custerr\...` do not exist here and fall back to the stock
//!   page).
//! * `ExecuteURL` is a child request on IIS: the URL goes through handler mapping, and its
//!   handler produces the body and the status. When that handler is StaticFile, iisn
//!   streams the file as the StaticFile handler answers it: **200**, with `ETag` and
//!   `Last-Modified`, not the error status (IIS's child request answers 200, which is why
//!   a custom 404 page run this way is logged and sent as 200; `File` keeps the status).
//!   When it is iisnode, iisn does not run node for an error page: it answers the stock page
//!   and says so once (`iisn check` warns about the entry, IISN6026). Any other handler
//!   gets the stock page too.
//!
//! Both `File` and `ExecuteURL` go through what a request for the path would meet: a path
//! outside the site, under a web.config IIS cannot load, hidden by request filtering
//! (`web.config`, `bin`, `iisnode.yml`, a denied extension, a dot-name), mapped to iisnode
//! (a `.js` script) or to a handler iisn does not emulate, or without a MIME type, is never
//! sent: the stock page is. (IIS's `File` mode reads the file without asking the handlers;
//! iisn is stricter, so that an error page can never leak a script's source.)
//!
//! Under `existingResponse="PassThrough"` IIS's own error responses go out without a page
//! too (an empty 404 for a missing file), except a configuration error's 500.19 and iisn's
//! page for a handler it does not emulate.
//!
//! For node's responses with status 400 or above, `existingResponse` decides:
//!
//! * `PassThrough` never touches them (the Kudu template sets it: "make sure error responses
//!   are left untouched");
//! * `Replace` swaps any 4xx/5xx response from node for the error page;
//! * `Auto`, the default, follows IIS's rules (Microsoft's httpErrors reference, quoted in
//!   iisnode PR #568): (a) a module that set `fTrySkipCustomErrors` is passed through, and
//!   iisnode never sets it (`IHttpResponse::SetStatus` without it, chttpprotocol.cpp); (b)
//!   under the effective mode Custom (`Custom`, or `DetailedLocalOnly` for a remote client)
//!   the response is replaced by the custom error page; (c) under Detailed, a response with
//!   a body is passed through; (d) under Detailed, a response without one is replaced by the
//!   detailed page. This is why Azure users see "Bad Request" instead of their JSON 400
//!   remotely (iisnode issues #291, #295, #325). (iis-webconfig.md §3.4 inferred that
//!   `Auto` passes node's responses through; IIS's documented rules above replace that.)
//!
//! "A body" is judged from node's framing headers, as iisn cannot wait for the body before
//! the head goes out: `Content-Length: 0`, or neither `Content-Length` nor
//! `Transfer-Encoding`, is no body; any chunked response counts as one, even one that turns
//! out empty. Under Detailed a `HEAD` response is taken to have one (node sends no framing
//! for `HEAD`, and the answer must match `GET`'s). With `flushResponse="true"` iisnode flushes
//! a chunked response chunk by chunk, and IIS replaces only what the first flush carries:
//! the page goes out in place of node's first chunk, and node's later chunks follow it (the
//! module acts once, when the head leaves; observed on IIS 10).
//!
//! The wire carries the bare status; the sub-status is in the page and in the log line
//! (DECISIONS.md §19).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderValue, Method, Response, StatusCode, header};

use crate::config::model::Entry;
use crate::config::web_config::{ErrorMode, ErrorPage, ExistingResponse, ResponseMode};
use crate::serve::events::{Events, ServeEvent};
use crate::serve::pages::{self, DetailedError};
use crate::serve::proxy::Body;

use super::static_files::{self, FileRequest};
use super::{Decision, FolderConfig, Pipeline, normalize_path, strip_prefix_ci};

/// An error response IIS would produce, with what its detailed page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IisError {
    pub status: u16,
    pub substatus: u32,
    /// What went wrong, in words.
    pub detail: String,
    /// A reason phrase replacing the standard one (CustomResponse `statusReason`).
    pub reason: Option<String>,
    /// The IIS module that produced it (`RequestFilteringModule`, `StaticFileModule`, ...).
    pub module: &'static str,
    /// The pipeline notification (`BeginRequest`, `ExecuteRequestHandler`, ...).
    pub notification: &'static str,
    /// The handler mapping that was selected, if any.
    pub handler: Option<String>,
    pub physical: Option<PathBuf>,
    /// For 500.19: the configuration file IIS could not load and why.
    pub config: Option<Box<ConfigFault>>,
}

/// What IIS's 500.19 page shows about a web.config it could not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFault {
    pub hresult: u32,
    /// "Config Error": the problem, as `iisn check` words it.
    pub message: String,
    /// The file (web.config or a `configSource` file) and the 1-based line of the problem.
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    /// "Config Source": the lines around the problem, numbered.
    pub source_lines: Vec<(u32, String)>,
}

impl IisError {
    pub fn new(status: u16, substatus: u32, detail: impl Into<String>) -> IisError {
        IisError {
            status,
            substatus,
            detail: detail.into(),
            reason: None,
            module: "IIS Web Core",
            notification: "ExecuteRequestHandler",
            handler: None,
            physical: None,
            config: None,
        }
    }

    /// IIS's 500.19: the configuration of the URL cannot be read. Raised before any module
    /// runs (BeginRequest), so no handler is known yet.
    pub fn config_invalid(fault: ConfigFault, folder: PathBuf) -> IisError {
        let mut e = IisError::new(
            500,
            19,
            "The requested page cannot be accessed because the related configuration data for the page is invalid.",
        );
        e.notification = "BeginRequest";
        e.physical = Some(folder);
        e.config = Some(Box::new(fault));
        e
    }

    /// The StaticFile handler's 404.0.
    pub fn not_found(path: &Path, why: &str) -> IisError {
        let mut e = IisError::new(404, 0, why);
        e.module = "IIS Web Core";
        e.notification = "MapRequestHandler";
        e.handler = Some("StaticFile".into());
        e.physical = Some(path.to_path_buf());
        e
    }

    /// A handler mapping iisn does not emulate (ASP.NET, PHP via FastCGI, WebDAV, CGI, ...):
    /// IIS's 500.21 is what a handler whose module is missing gets, so iisn uses it, with a
    /// page that says so instead of serving the file as text.
    pub fn not_emulated(name: &str, modules: &str) -> IisError {
        let mut e = IisError::new(
            500,
            21,
            format!(
                "The handler \"{name}\" (modules=\"{modules}\") maps this URL, and that module is not emulated by iisn: iisn runs iisnode applications and serves static files only. Map the URL to iisnode, or remove the handler (<remove name=\"{name}\"/>) so that the request falls through to StaticFile."
            ),
        );
        e.handler = Some(name.to_string());
        e
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// What the error page needs about the request.
#[derive(Debug)]
pub struct ErrorContext<'a> {
    pub pipeline: &'a Pipeline,
    pub config: &'a FolderConfig,
    pub local: bool,
    pub method: &'a Method,
    /// The requested URL (decoded, with the `--app-path` prefix) and the Host header (empty
    /// when not kept: the detailed page then names the address the client reached, as IIS
    /// names the server's own name and port).
    pub url: &'a str,
    pub host: &'a str,
    pub local_addr: std::net::SocketAddr,
    pub logon_user: &'a str,
    /// Where the warning about an `ExecuteURL` page iisn does not run goes.
    pub events: &'a Events,
}

/// IIS's summary line and advice for a status.
fn advice(status: u16, substatus: u32) -> (&'static str, &'static [&'static str]) {
    match (status, substatus) {
        (404, 0) => (
            "The resource you are looking for has been removed, had its name changed, or is temporarily unavailable.",
            &[
                "The directory or file specified does not exist on the Web server.",
                "The URL contains a typographical error.",
                "A custom filter or module, such as URLScan, restricts access to the file.",
            ],
        ),
        (404, 3) => (
            "The page you are requesting cannot be served because of the extension configuration. If the page is a script, add a handler. If the file should be downloaded, add a MIME map.",
            &[
                "It is possible that a handler mapping is missing.",
                "The feature you are trying to use may not be installed.",
                "The appropriate MIME map is not enabled for the Web site or application.",
            ],
        ),
        (404, 4) => (
            "The resource you are looking for does not have a handler associated with it.",
            &[
                "The file extension for the requested URL does not have a handler configured to process the request on the Web server.",
            ],
        ),
        (404, 5) => (
            "The request filtering module is configured to deny a request that contains a sequence listed in denyUrlSequences.",
            &[
                "Request filtering is configured for the Web server and the request URL contains a denied sequence.",
            ],
        ),
        (404, 6) => (
            "The request filtering module is configured to deny the HTTP verb of this request.",
            &[
                "Request filtering is configured for the Web server and the verb for this request is denied, or not listed while allowUnlisted is false.",
            ],
        ),
        (431, 0) => (
            "The request filtering module is configured to deny a request where a request header is too long.",
            &[
                "Request filtering is configured on the Web server to deny the request because a header is longer than its headerLimits sizeLimit.",
            ],
        ),
        (404, 18) => (
            "The request filtering module is configured to deny a request that contains a query string sequence that is denied.",
            &[
                "Request filtering is configured for the Web server and the query string contains a sequence listed in denyQueryStringSequences.",
            ],
        ),
        (404, 7) => (
            "The request filtering module is configured to deny the file extension.",
            &[
                "Request filtering is configured for the Web server and the file extension for this request is explicitly denied.",
            ],
        ),
        (404, 8) => (
            "The request filtering module is configured to deny a path in the URL that contains a hiddenSegment section.",
            &[
                "Request filtering is configured for the Web server and the request contains a hiddenSegment section.",
            ],
        ),
        (404, 11) => (
            "The request filtering module is configured to deny a request that contains a double escape sequence.",
            &[
                "The request contained a double escape sequence and request filtering is configured on the Web server to deny double escape sequences.",
            ],
        ),
        (404, 12) => (
            "The request filtering module is configured to deny a request that contains high bit characters.",
            &[
                "The request contained high bit characters and request filtering is configured on the Web server to deny high bit characters.",
            ],
        ),
        (404, 14) => (
            "The request filtering module is configured to deny a request where the URL length exceeds the maxUrl setting.",
            &[
                "Request filtering is configured on the Web server to deny the request because the URL is too long.",
            ],
        ),
        (404, 15) => (
            "The request filtering module is configured to deny a request where the query string is too long.",
            &[
                "Request filtering is configured on the Web server to deny the request because the query string is too long.",
            ],
        ),
        (413, 1) => (
            "The request filtering module is configured to deny a request that exceeds the request content length.",
            &[
                "Request filtering is configured on the Web server to deny the request because the content length exceeds the configured value (requestLimits maxAllowedContentLength).",
            ],
        ),
        (403, 14) => (
            "The Web server is configured to not list the contents of this directory.",
            &[
                "A default document is not configured for the requested URL, and directory browsing is not enabled on the server.",
            ],
        ),
        (405, _) => (
            "The page you are looking for cannot be displayed because an invalid method (HTTP verb) is being used.",
            &[
                "The request sent to the Web server used an HTTP verb that is not allowed by the module configured to handle the request.",
            ],
        ),
        (500, 19) => (
            "The requested page cannot be accessed because the related configuration data for the page is invalid.",
            &[
                "The associated configuration file is not well-formed XML, or holds an element, attribute or value that the IIS schema does not accept.",
                "A collection entry or a section is defined twice.",
                "A configSource file is missing or does not hold the section it replaces.",
            ],
        ),
        (500, 21) => (
            "The handler mapping that applies to this URL names a module iisn does not emulate.",
            &[
                "The site relies on an IIS feature other than iisnode and static files (ASP.NET, PHP via FastCGI, WebDAV, CGI, ISAPI).",
            ],
        ),
        (500, 50) => (
            "The URL Rewrite module could not run the rules for this request.",
            &[
                "A rewrite rule has a pattern that does not compile, an action iisn cannot carry out, or a pattern that takes too long to match.",
            ],
        ),
        (400, _) => (
            "The request could not be understood by the server due to malformed syntax.",
            &[
                "The request URL contains an invalid escape sequence, a control character, or a path that climbs above the site root.",
            ],
        ),
        _ => ("", &[]),
    }
}

/// The matching `<error>` entry: exact sub-status first, then `-1`.
pub(crate) fn find_entry(
    cfg: &FolderConfig,
    status: u16,
    substatus: u32,
) -> Option<&Entry<ErrorPage>> {
    let errors = &cfg.eff.http_errors.errors;
    errors
        .iter()
        .find(|e| e.item.status_code == status && e.item.sub_status_code == substatus as i32)
        .or_else(|| {
            errors
                .iter()
                .find(|e| e.item.status_code == status && e.item.sub_status_code == -1)
        })
}

fn set_reason(resp: &mut Response<Body>, reason: Option<&str>) {
    if let Some(r) = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .and_then(|r| hyper::ext::ReasonPhrase::try_from(r.to_string()).ok())
    {
        resp.extensions_mut().insert(r);
    }
}

/// Whether the detailed page is shown: the effective `errorMode` is Detailed.
fn detailed(cx: &ErrorContext<'_>) -> bool {
    shows_detailed(cx.config, cx.local)
}

/// Whether `errorMode` gives a client (loopback or not) the detailed page.
pub fn shows_detailed(config: &FolderConfig, local: bool) -> bool {
    match config.eff.http_errors.error_mode {
        ErrorMode::Detailed => true,
        ErrorMode::DetailedLocalOnly => local,
        ErrorMode::Custom => false,
    }
}

/// IIS's 500.19 in place of an error response when the CustomErrorModule cannot read the
/// folder's `<httpErrors>` (a duplicate row, the locked `defaultPath`: IISN1011), rendered
/// with IIS's defaults as for any configuration error; `None` when it can.
async fn error_pages_fault(cx: &ErrorContext<'_>) -> Option<Response<Body>> {
    let fault = cx.config.error_pages_fault.as_ref()?;
    let defaults = cx.pipeline.defaults();
    let cx = ErrorContext {
        config: defaults,
        ..*cx
    };
    // Boxed: `respond` calls this (IIS's defaults carry no fault, so it ends there).
    Some(Box::pin(respond(&cx, fault)).await)
}

/// Whether IIS sends its own error `err` without a page: under `existingResponse=
/// "PassThrough"` (the Kudu template's) the CustomErrorModule leaves IIS's own error
/// responses alone too, and they carry no body then (a missing file is a bare 404). Not a
/// configuration error's 500.19, which IIS renders before the module can read its section,
/// nor iisn's page for a handler it does not emulate.
pub fn passes_through(config: &FolderConfig, err: &IisError) -> bool {
    config.eff.http_errors.existing_response == ExistingResponse::PassThrough
        && !(err.status == 500 && matches!(err.substatus, 19 | 21))
}

/// The response for an error iisn produced.
pub async fn respond(cx: &ErrorContext<'_>, err: &IisError) -> Response<Body> {
    let status = err.status_code();
    // IIS's error pages (detailed, custom, httpErrors entries) exist for 400 and above only:
    // a URL Rewrite CustomResponse answering 200 (a health check) or a 3xx sends its status
    // and reason with an empty body.
    if err.status < 400 {
        let mut resp = Response::new(crate::serve::proxy::empty());
        *resp.status_mut() = status;
        set_reason(&mut resp, err.reason.as_deref());
        pages::substatus_header(resp.headers_mut(), err.substatus);
        return resp;
    }
    if let Some(resp) = error_pages_fault(cx).await {
        return resp;
    }
    let mut resp = if passes_through(cx.config, err) {
        Response::new(crate::serve::proxy::empty())
    } else if detailed(cx) {
        let (summary, causes) = advice(err.status, err.substatus);
        let physical = err
            .physical
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        pages::iis_detailed_error(&DetailedError {
            status: err.status,
            substatus: err.substatus,
            reason: err.reason.as_deref(),
            summary,
            detail: &err.detail,
            causes,
            module: err.module,
            notification: err.notification,
            handler: err.handler.as_deref().unwrap_or("Not yet determined"),
            url: &if cx.host.is_empty() {
                format!("http://{}{}", cx.local_addr, cx.url)
            } else {
                format!("http://{}{}", cx.host, cx.url)
            },
            physical: &physical,
            logon_user: cx.logon_user,
            config: err.config.as_deref(),
        })
    } else {
        match custom_page(cx, err.status, err.substatus).await {
            // IIS answers a Redirect entry with the redirect itself: 302 and `Location`,
            // not the error status.
            Some(CustomPage::Redirect(mut r)) => {
                close_after_refusal(&mut r, err);
                return r;
            }
            // An ExecuteURL page is a child request: its handler's status is the answer's
            // (200 for a static file); the error status's own headers stay.
            Some(CustomPage::Executed(mut r)) => {
                super::static_files::allow_header(&mut r, err.status, err.module);
                close_after_refusal(&mut r, err);
                return r;
            }
            Some(CustomPage::Page(r)) => r,
            None => pages::iis_custom_error(status, err.substatus),
        }
    };
    *resp.status_mut() = status;
    // IIS's reason phrases are RFC 2616's where RFC 9110 renamed them.
    let stock = match err.status {
        413 => Some("Request Entity Too Large"),
        414 => Some("Request-URI Too Long"),
        _ => None,
    };
    set_reason(&mut resp, err.reason.as_deref().or(stock));
    pages::substatus_header(resp.headers_mut(), err.substatus);
    super::static_files::allow_header(&mut resp, err.status, err.module);
    close_after_refusal(&mut resp, err);
    // For HEAD, hyper sends the headers (with the page's length) and drops the body.
    resp
}

/// Request filtering's refusals (404.x, 413.1, 431) close the connection on IIS, whatever
/// page goes with them (observed on IIS 10): `Connection: close`.
fn close_after_refusal(resp: &mut Response<Body>, err: &IisError) {
    if err.module == "RequestFilteringModule" {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// A custom error page that applies.
enum CustomPage {
    /// `responseMode="Redirect"`: sent as it is (302).
    Redirect(Response<Body>),
    /// A file's content, sent with the error status (`responseMode="File"`).
    Page(Response<Body>),
    /// A static file run as `ExecuteURL`'s child request: sent as the StaticFile handler
    /// answers it, 200.
    Executed(Response<Body>),
}

/// What the custom error page of an error is, as `iisn serve` sends it (`iisn route` shows
/// the same).
#[derive(Debug)]
pub enum CustomTarget {
    /// `responseMode="Redirect"`: 302 to this location.
    Redirect(String),
    /// `responseMode="File"`: a static file sent with the error status, with the
    /// configuration of its folder (MIME type, clientCache).
    File(PathBuf, Arc<FolderConfig>),
    /// `responseMode="ExecuteURL"` to a URL the StaticFile handler serves: IIS runs it as a
    /// child request, and the child's status is the answer's: 200, not the error status (a
    /// well-known IIS surprise: a custom 404 page run this way answers 200).
    ExecutedFile(PathBuf, Arc<FolderConfig>),
    /// `ExecuteURL` to a URL an iisnode handler maps (its public URL, and the script): IIS
    /// runs node for it, iisn answers the stock page.
    NotRun { url: String, script: String },
    /// The entry names nothing iisn may send (a Windows path, a path outside the site or
    /// one a request for it would not get as a static file): the stock page.
    Refused,
}

/// The configured custom error page for `status.substatus`, if one applies and exists.
async fn custom_page(cx: &ErrorContext<'_>, status: u16, substatus: u32) -> Option<CustomPage> {
    let code = StatusCode::from_u16(status).ok()?;
    let (file, config, executed) = match custom_target(cx.pipeline, cx.config, status, substatus)? {
        CustomTarget::Redirect(mut location) => {
            HeaderValue::from_str(&location).ok()?;
            // IIS's redirect: a site-relative path made absolute against the Host the
            // client asked for, the "Object Moved" page, reason phrase "Redirect".
            super::absolute_location(&mut location, cx.host);
            let r = crate::serve::front::redirect_response(302, &location);
            return Some(CustomPage::Redirect(r));
        }
        CustomTarget::File(file, config) => (file, config, false),
        CustomTarget::ExecutedFile(file, config) => (file, config, true),
        CustomTarget::NotRun { url, script } => {
            execute_url_not_run(cx.events, &url, &script);
            return None;
        }
        CustomTarget::Refused => return None,
    };
    let name = file.file_name()?.to_string_lossy().into_owned();
    // (Handler mapping found a MIME type for it: a file without one is 404.3, never sent.)
    let mime = config.mime_type(&name)?.to_string();
    let headers = http::HeaderMap::new();
    let page = static_files::serve_file(
        &file,
        FileRequest {
            method: cx.method,
            headers: &headers,
            cache: &config.eff.client_cache,
            mime: &mime,
            status: Some(if executed { StatusCode::OK } else { code }),
        },
    )
    .await;
    if executed {
        return Some(CustomPage::Executed(page));
    }
    // A File page is the CustomErrorModule's entity, not the StaticFile handler's answer:
    // no validators, ranges or clientCache headers, which would let a client or a proxy
    // keep the error (a 404 with `max-age` and `Last-Modified` is cacheable).
    let mut page = page;
    let h = page.headers_mut();
    for name in [
        header::ETAG,
        header::LAST_MODIFIED,
        header::ACCEPT_RANGES,
        header::CACHE_CONTROL,
        header::EXPIRES,
    ] {
        h.remove(name);
    }
    Some(CustomPage::Page(page))
}

/// The `<error>` entry (or `defaultPath`) for `status.substatus` in `config`, and what it
/// leads to; `None` when none applies (the stock page).
pub fn custom_target(
    pipeline: &Pipeline,
    config: &FolderConfig,
    status: u16,
    substatus: u32,
) -> Option<CustomTarget> {
    let he = &config.eff.http_errors;
    let (path, mode, level, by_language) = match find_entry(config, status, substatus) {
        Some(e) => (
            e.item.path.as_ref().map(|p| p.value.as_str()),
            e.item.response_mode.unwrap_or(he.default_response_mode),
            declaring_folder(pipeline, e.item.span, &e.level),
            e.item
                .prefix_language_file_path
                .as_ref()
                .is_some_and(|p| !p.value.trim().is_empty()),
        ),
        None => (
            he.default_path.as_ref().map(|p| p.value.as_str()),
            he.default_response_mode,
            he.default_path
                .as_ref()
                .map_or("", |p| declaring_folder(pipeline, p.span, "")),
            false,
        ),
    };
    let path = path.map(str::trim).filter(|p| !p.is_empty())?;
    if mode == ResponseMode::Redirect {
        return Some(CustomTarget::Redirect(path.to_string()));
    }
    // `prefix\<client language>\path`: IIS's own pages in `%SystemDrive%\inetpub\custerr`
    // (the server's rows), which do not exist here.
    if mode == ResponseMode::File && by_language {
        return Some(CustomTarget::Refused);
    }
    // Windows paths (`%SystemDrive%\...`, `C:\...`, UNC) do not exist here.
    if path.contains(':') || path.starts_with('%') || path.starts_with("\\\\") {
        return Some(CustomTarget::Refused);
    }
    let site_path = if mode == ResponseMode::ExecuteUrl || path.starts_with('/') {
        // A URL (for ExecuteURL, its query string is the child request's, not the path's).
        let url = match mode {
            ResponseMode::ExecuteUrl => path.split('?').next().unwrap_or_default(),
            _ => path,
        };
        strip_prefix_ci(&url.replace('\\', "/"), pipeline.app_path()).and_then(normalize_path)
    } else {
        normalize_path(&format!("/{level}/{}", path.replace('\\', "/")))
    };
    let Some(site_path) = site_path else {
        return Some(CustomTarget::Refused);
    };
    Some(static_target(pipeline, &site_path, mode))
}

/// The folder of the web.config that declared an entry (site-relative): what a relative
/// `File` path is relative to, also for an entry inside `<location path="sub">` (IIS
/// resolves it from the file's folder, not from the location's path). `fallback` when the
/// entry is IIS's own.
fn declaring_folder<'a>(
    pipeline: &'a Pipeline,
    span: crate::config::source::Span,
    fallback: &'a str,
) -> &'a str {
    if span.is_builtin() {
        return fallback;
    }
    pipeline
        .site()
        .levels
        .iter()
        .find(|l| l.owns(span.source))
        .map_or(fallback, |l| l.dir_rel.as_str())
}

/// What a custom error page at `site_path` is: a static file when a request for it would be
/// served as one (not under a web.config IIS cannot load or one iisn has not read yet, not
/// refused by request filtering, mapped to the StaticFile handler with a MIME type). A path
/// mapped to iisnode is never streamed (that would send the script's source).
fn static_target(p: &Pipeline, site_path: &str, mode: ResponseMode) -> CustomTarget {
    if p.config_failure(site_path).is_some()
        || p.config_for(site_path).filter.check_url(site_path).is_err()
    {
        return CustomTarget::Refused;
    }
    // GET whatever the request's verb: the page is a static file, sent for HEAD without
    // its body.
    let routed = p.dispatch("GET", site_path);
    match routed.decision {
        Decision::File { path } if p.unread_config(site_path, false).is_none() => {
            if mode == ResponseMode::ExecuteUrl {
                CustomTarget::ExecutedFile(path, routed.config)
            } else {
                CustomTarget::File(path, routed.config)
            }
        }
        Decision::App(app) if mode == ResponseMode::ExecuteUrl => CustomTarget::NotRun {
            url: routed.url,
            script: app.script_rel,
        },
        _ => CustomTarget::Refused,
    }
}

/// Says once per URL (for the first 64) that an `ExecuteURL` error page mapped to iisnode
/// is answered with the stock page: IIS would run node for it as a child request.
fn execute_url_not_run(events: &Events, url: &str, script: &str) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let first = SAID.lock().is_ok_and(|mut said| {
        let new = !said.iter().any(|u| u == url);
        if new && said.len() < 64 {
            said.push(url.to_string());
        }
        new
    });
    if first {
        events.emit(ServeEvent::Warning {
            text: format!(
                "the custom error page {url} (httpErrors responseMode=\"ExecuteURL\") maps to the iisnode application {script}: IIS would run it for the error, iisn does not run node for error pages and answers IIS's stock error page instead (never the script's source); point the entry at a static page (an .html file), or let node answer the error itself"
            ),
        });
    }
}

/// Where a response with an error status came from, for `existingResponse`.
#[derive(Debug, Clone, Copy)]
pub struct NodeError {
    /// Node wrote it (not one of iisnode's own failure pages, which iisn makes itself).
    pub from_node: bool,
    /// The application has `flushResponse="true"`.
    pub flush: bool,
    /// iisnode's sub-status, for its own failures (`500.1002`); 0 for node's responses.
    pub substatus: u32,
}

/// `existingResponse` applied to a response of the application step with status 400 or
/// above (the front calls it for those only, so that node's other responses cost one
/// comparison): see the module docs for IIS's `Auto` rules.
pub async fn node_response(
    cx: &ErrorContext<'_>,
    resp: Response<Body>,
    from: NodeError,
) -> Response<Body> {
    let status = resp.status().as_u16();
    if status < 400 {
        return resp;
    }
    if let Some(fault) = error_pages_fault(cx).await {
        return fault;
    }
    // The response stays when IIS may still pass part of it (below).
    let (detail, resp) = match cx.config.eff.http_errors.existing_response {
        ExistingResponse::PassThrough => return resp,
        ExistingResponse::Replace => (
            "The node application answered with an error status; httpErrors existingResponse=\"Replace\" substitutes IIS's error page.",
            Some(resp),
        ),
        // (a) iisnode never asks IIS to skip custom errors; and iisn's own pages for
        // iisnode's failures stay as they are.
        ExistingResponse::Auto if !from.from_node => return resp,
        ExistingResponse::Auto if detailed(cx) => {
            // (c) a body is passed through; (d) none: the detailed page.
            if *cx.method == Method::HEAD {
                return resp;
            }
            match peek_body(resp).await {
                Ok(with_body) => return with_body,
                Err(_) => (
                    "The node application answered with an error status and no body; with httpErrors existingResponse=\"Auto\" IIS replaces such a response with its error page. Send a body, or set existingResponse=\"PassThrough\".",
                    None,
                ),
            }
        }
        // (b) the custom page.
        ExistingResponse::Auto => (
            "The node application answered with an error status; with httpErrors existingResponse=\"Auto\" and errorMode Custom, IIS replaces it with its error page.",
            Some(resp),
        ),
    };
    let err = node_error(status, from.substatus, detail);
    // With flushResponse="true" iisnode flushes a chunked response after each chunk: the
    // CustomErrorModule acts on the first flush, which carries node's first chunk.
    if let Some(resp) = resp.filter(|r| {
        from.flush
            && *cx.method != Method::HEAD
            && r.headers().contains_key(header::TRANSFER_ENCODING)
    }) {
        return replace_first_flush(cx, &err, resp).await;
    }
    respond(cx, &err).await
}

/// The error iisn replaces node's response with, as the detailed page names it.
fn node_error(status: u16, substatus: u32, detail: &str) -> IisError {
    let mut err = IisError::new(status, substatus, detail);
    err.module = "iisnode";
    err.handler = Some("iisnode".into());
    err
}

/// The error page for a response iisnode flushes chunk by chunk (`flushResponse="true"`),
/// as IIS sends it: the CustomErrorModule acts once, when the head leaves with the first
/// flush, and replaces what is buffered then, node's first chunk; the chunks node writes
/// after it pass through behind the page (observed on IIS 10: a page that set 404, wrote,
/// flushed and wrote again answered 404, chunked, with the error page's `Content-Type` and
/// body followed by its second write). A response that ends before any data was never
/// flushed: IIS replaces it whole.
async fn replace_first_flush(
    cx: &ErrorContext<'_>,
    err: &IisError,
    resp: Response<Body>,
) -> Response<Body> {
    use http_body_util::BodyExt;
    let mut body = resp.into_body();
    let rest = loop {
        if hyper::body::Body::is_end_stream(&body) {
            break None;
        }
        match body.frame().await {
            None => break None,
            Some(Ok(frame)) if frame.data_ref().is_some_and(bytes::Buf::has_remaining) => {
                break Some(body);
            }
            Some(Ok(_)) => {}
            // Node's body failed before its first chunk: the page alone.
            Some(Err(_)) => break None,
        }
    };
    let page = respond(cx, err).await;
    let Some(rest) = rest else {
        return page;
    };
    let (mut parts, page_body) = page.into_parts();
    // The page and node's later chunks, in the chunked framing the flush started.
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = Chain {
        first: Some(page_body),
        rest,
    };
    Response::from_parts(parts, body.boxed())
}

/// One body after another.
struct Chain {
    first: Option<Body>,
    rest: Body,
}

impl hyper::body::Body for Chain {
    type Data = bytes::Bytes;
    type Error = crate::serve::proxy::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(first) = this.first.as_mut() {
            match std::pin::Pin::new(first).poll_frame(cx) {
                std::task::Poll::Ready(None) => this.first = None,
                // The page's trailers, if it had any, would end the message early.
                std::task::Poll::Ready(Some(Ok(f))) if f.is_trailers() => this.first = None,
                other => return other,
            }
        }
        std::pin::Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }
}

/// Whether node's response has a body, from its framing headers: `Content-Length: 0` and no
/// framing at all (node does that only for responses it sends without a body) do not; a
/// chunked body may still turn out empty (`res.writeHead(404); res.end()`).
fn has_body(headers: &http::HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes().trim_ascii() != b"0")
}

/// `Ok` with the response (its body whole, the part read put back in front) when node's
/// response has a body, `Err` with it when it has none. IIS looks at the response's entity
/// chunks, which iisnode has buffered (flushResponse is off by default); a chunked body is
/// read up to its first byte of data to tell (only for error responses that IIS may
/// replace).
async fn peek_body(resp: Response<Body>) -> Result<Response<Body>, Response<Body>> {
    use http_body_util::BodyExt;
    if !has_body(resp.headers()) {
        return Err(resp);
    }
    let (parts, mut body) = resp.into_parts();
    loop {
        if hyper::body::Body::is_end_stream(&body) {
            return Err(Response::from_parts(parts, body));
        }
        match body.frame().await {
            // The end: no byte of data came.
            None => return Err(Response::from_parts(parts, crate::serve::proxy::empty())),
            Some(Ok(frame)) => {
                if frame.data_ref().is_some_and(bytes::Buf::has_remaining) || frame.is_trailers() {
                    let body = Prepend {
                        first: Some(Ok(frame)),
                        rest: body,
                    };
                    return Ok(Response::from_parts(parts, body.boxed()));
                }
            }
            // A body that fails is passed on as it is (the client sees the failure).
            Some(Err(e)) => {
                let body = Prepend {
                    first: Some(Err(e)),
                    rest: body,
                };
                return Ok(Response::from_parts(parts, body.boxed()));
            }
        }
    }
}

/// A body with a frame already read put back in front of the rest.
struct Prepend {
    first: Option<Result<hyper::body::Frame<bytes::Bytes>, crate::serve::proxy::BoxError>>,
    rest: Body,
}

impl hyper::body::Body for Prepend {
    type Data = bytes::Bytes;
    type Error = crate::serve::proxy::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(f) = this.first.take() {
            return std::task::Poll::Ready(Some(f));
        }
        std::pin::Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_exists_for_the_pipeline_statuses() {
        for (s, sub) in [
            (404, 0),
            (404, 3),
            (404, 7),
            (404, 8),
            (404, 5),
            (404, 6),
            (431, 0),
            (404, 18),
            (404, 14),
            (404, 15),
            (413, 1),
            (403, 14),
            (500, 50),
            (500, 21),
            (500, 19),
        ] {
            assert!(!advice(s, sub).0.is_empty(), "{s}.{sub}");
        }
    }

    #[test]
    fn a_body_is_judged_from_the_framing_headers() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = http::HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    HeaderValue::from_str(v).expect("value"),
                );
            }
            m
        };
        assert!(has_body(&h(&[("content-length", "12")])));
        assert!(has_body(&h(&[("transfer-encoding", "chunked")])));
        assert!(!has_body(&h(&[("content-length", "0")])));
        assert!(!has_body(&h(&[("content-length", " 0 ")])));
        assert!(!has_body(&h(&[("content-type", "text/plain")])));
    }
}
