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
//! matches (an exact sub-status before `-1`), else `defaultPath`; `File` streams a file of the
//! site (a path relative to the folder whose web.config added the entry; Windows paths such as
//! `%SystemDrive%\inetpub\custerr\...` do not exist here and fall back to the stock page),
//! `ExecuteURL` streams the static file at that URL (iisn does not re-run node for it), and
//! `Redirect` answers 302. Without an entry, the stock page names the status and sub-status.
//!
//! For node's responses `existingResponse` decides: `PassThrough` never touches them (the Kudu
//! template sets it: "make sure error responses are left untouched"); `Auto`, the default,
//! also leaves them alone, because iisnode passes node's status through without asking IIS to
//! replace it (inferred); `Replace` swaps any 4xx/5xx body from node for the error page.
//!
//! The wire carries the bare status; the sub-status is in the page and in the log line
//! (DECISIONS.md §19).

use std::path::{Path, PathBuf};

use http::{HeaderValue, Method, Response, StatusCode, header};

use crate::config::model::Entry;
use crate::config::web_config::{ErrorMode, ErrorPage, ExistingResponse, ResponseMode};
use crate::serve::pages::{self, DetailedError};
use crate::serve::proxy::Body;

use super::static_files::{self, FileRequest, Resolved};
use super::{FolderConfig, Pipeline, normalize_path, strip_prefix_ci};

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
    /// The requested URL (decoded, with the `--app-path` prefix) and the Host header.
    pub url: &'a str,
    pub host: &'a str,
    pub logon_user: &'a str,
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
        (404, 10) => (
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

fn substatus_header(resp: &mut Response<Body>, substatus: u32) {
    if substatus > 0
        && let Ok(v) = HeaderValue::from_str(&substatus.to_string())
    {
        resp.headers_mut().insert("x-iisn-substatus", v);
    }
}

/// Whether the detailed page is shown.
fn detailed(cx: &ErrorContext<'_>) -> bool {
    match cx.config.eff.http_errors.error_mode {
        ErrorMode::Detailed => true,
        ErrorMode::DetailedLocalOnly => cx.local,
        ErrorMode::Custom => false,
    }
}

/// The response for an error iisn produced.
pub async fn respond(cx: &ErrorContext<'_>, err: &IisError) -> Response<Body> {
    let status = err.status_code();
    let mut resp = if detailed(cx) {
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
            url: &format!("http://{}{}", cx.host, cx.url),
            physical: &physical,
            logon_user: cx.logon_user,
            config: err.config.as_deref(),
        })
    } else {
        match custom_page(cx, err.status, err.substatus).await {
            Some(r) => r,
            None => pages::iis_error(status, err.substatus, "", false),
        }
    };
    *resp.status_mut() = status;
    set_reason(&mut resp, err.reason.as_deref());
    substatus_header(&mut resp, err.substatus);
    super::static_files::allow_header(&mut resp, err.status, err.module);
    // For HEAD, hyper sends the headers (with the page's length) and drops the body.
    resp
}

/// The configured custom error page for `status.substatus`, if one applies and exists.
async fn custom_page(cx: &ErrorContext<'_>, status: u16, substatus: u32) -> Option<Response<Body>> {
    let he = &cx.config.eff.http_errors;
    let entry = find_entry(cx.config, status, substatus);
    let (path, mode, level) = match entry {
        Some(e) => (
            e.item.path.as_ref().map(|p| p.value.clone()),
            e.item.response_mode.unwrap_or(he.default_response_mode),
            e.level.clone(),
        ),
        None => (
            he.default_path.as_ref().map(|p| p.value.clone()),
            he.default_response_mode,
            String::new(),
        ),
    };
    let path = path
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())?;
    let code = StatusCode::from_u16(status).ok()?;
    match mode {
        ResponseMode::Redirect => {
            let mut r = Response::new(crate::serve::proxy::empty());
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_str(&path).ok()?);
            Some(r)
        }
        ResponseMode::File | ResponseMode::ExecuteUrl => {
            // Windows paths (`%SystemDrive%\...`, `C:\...`, UNC) do not exist here.
            if path.contains(':') || path.starts_with('%') || path.starts_with("\\\\") {
                return None;
            }
            let site_path = if mode == ResponseMode::ExecuteUrl || path.starts_with('/') {
                let unified = path.replace('\\', "/");
                let inside = strip_prefix_ci(&unified, cx.pipeline.app_path())?.to_string();
                normalize_path(&inside)?
            } else {
                let rel = path.replace('\\', "/");
                normalize_path(&format!("/{level}/{rel}"))?
            };
            let file =
                match static_files::resolve(cx.pipeline.root(), &site_path, &cx.config.filter) {
                    Resolved::File(f) => f,
                    _ => return None,
                };
            let name = file.file_name()?.to_string_lossy().into_owned();
            let mime = cx
                .config
                .mime_type(&name)
                .unwrap_or("text/html")
                .to_string();
            let headers = http::HeaderMap::new();
            Some(
                static_files::serve_file(
                    &file,
                    FileRequest {
                        method: cx.method,
                        headers: &headers,
                        cache: &cx.config.eff.client_cache,
                        mime: &mime,
                        status: Some(code),
                    },
                )
                .await,
            )
        }
    }
}

/// `existingResponse` applied to node's response.
pub async fn node_response(cx: &ErrorContext<'_>, resp: Response<Body>) -> Response<Body> {
    let replace = cx.config.eff.http_errors.existing_response == ExistingResponse::Replace;
    if !replace || resp.status().as_u16() < 400 {
        return resp;
    }
    let err = IisError::new(
        resp.status().as_u16(),
        0,
        "The node application answered with an error status; httpErrors existingResponse=\"Replace\" substitutes IIS's error page.",
    );
    respond(cx, &err).await
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
            (404, 10),
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
}
