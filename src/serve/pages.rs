//! The responses iisn makes itself: IIS error pages, iisnode's developer error page and
//! configuration error pages.
//!
//! The wire carries the bare status; the IIS sub-status appears in the page
//! (`HTTP Error 503.1002 - Service Unavailable`), in an `X-iisn-Substatus` header and in the
//! terminal (DECISIONS.md §19). Pages with details go to loopback clients only, as IIS's
//! default `errorMode="DetailedLocalOnly"` does.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use super::pipeline::errors::ConfigFault;
use super::proxy::Body;

/// HTML-escapes text, and writes control bytes as `[xHH]` as iisnode's dev page does.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\r' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || (0x80..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("[x{:02X}]", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// iisn's `X-Iisn-Substatus` header on an IIS error response: the sub-status the wire's bare
/// status cannot carry (none for 0).
pub(crate) fn substatus_header(h: &mut http::HeaderMap, substatus: u32) {
    if substatus > 0
        && let Ok(v) = HeaderValue::from_str(&substatus.to_string())
    {
        h.insert("x-iisn-substatus", v);
    }
}

pub(super) fn html_response(status: StatusCode, substatus: u32, html: String) -> Response<Body> {
    let mut r = Response::new(super::proxy::full(Bytes::from(html)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    substatus_header(h, substatus);
    r
}

pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
<style>body{{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222}}\
h1{{color:#b00;font-size:1.5em}}pre{{background:#f4f4f4;padding:1em;overflow:auto}}\
.hint{{color:#555}}</style></head><body>\n{body}\n<p class=\"hint\">iisn {}</p></body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// An IIS error page: `HTTP Error 404.8 - Not Found`. Loopback clients get the detail.
pub fn iis_error(status: StatusCode, substatus: u32, detail: &str, local: bool) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = if substatus > 0 {
        format!("{}.{substatus}", status.as_u16())
    } else {
        status.as_u16().to_string()
    };
    let title = format!("HTTP Error {code} - {reason}");
    let body = if local && !detail.is_empty() {
        format!(
            "<h1>{}</h1>\n<p>{}</p>",
            escape_html(&title),
            escape_html(detail)
        )
    } else {
        format!("<h1>{}</h1>", escape_html(&title))
    };
    html_response(status, substatus, page(&title, &body))
}

/// The page IIS's CustomErrorModule sends when no error page of the site applies (errorMode
/// Custom, or `DetailedLocalOnly` for a remote client, and no `<error>` row of the site's own):
/// one sentence, `text/html` without a charset, as IIS sends it to a client without
/// `Accept-Language` (curl): the sentence Azure users meet ("The page cannot be displayed
/// because an internal server error has occurred."). A browser, which sends
/// `Accept-Language`, gets IIS's `custerr` file for the language there instead (observed on
/// IIS 10: 1245 bytes headed "404 - File or directory not found."), with the same status and
/// `Content-Type`; iisn sends the sentence to every client.
pub fn iis_custom_error(status: StatusCode, substatus: u32) -> Response<Body> {
    let text = match status.as_u16() {
        401 | 403 => "You do not have permission to view this directory or page.",
        404 => {
            "The resource you are looking for has been removed, had its name changed, or is temporarily unavailable."
        }
        405 => {
            "The page you are looking for cannot be displayed because an invalid method (HTTP verb) is being used."
        }
        500 => "The page cannot be displayed because an internal server error has occurred.",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    let mut r = Response::new(super::proxy::full(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    substatus_header(h, substatus);
    r
}

/// What IIS's detailed error page shows (errorMode `DetailedLocalOnly` for loopback
/// clients, or `Detailed`).
#[derive(Debug)]
pub struct DetailedError<'a> {
    pub status: u16,
    pub substatus: u32,
    /// A reason phrase replacing the standard one (URL Rewrite's `statusReason`).
    pub reason: Option<&'a str>,
    /// IIS's one-line summary for the status (may be empty).
    pub summary: &'a str,
    /// What iisn knows about this request.
    pub detail: &'a str,
    /// IIS's "Most likely causes".
    pub causes: &'a [&'a str],
    pub module: &'a str,
    pub notification: &'a str,
    pub handler: &'a str,
    pub url: &'a str,
    pub physical: &'a str,
    pub logon_user: &'a str,
    /// For 500.19: the HRESULT, "Config Error", "Config File" and "Config Source".
    pub config: Option<&'a ConfigFault>,
}

/// IIS's detailed error page: `HTTP Error 404.8 - Not Found`, the summary, the most likely
/// causes and the "Detailed Error Information" table (module, notification, handler, error
/// code, requested URL, physical path, logon method and user).
pub fn iis_detailed_error(d: &DetailedError<'_>) -> Response<Body> {
    let status = StatusCode::from_u16(d.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = d
        .reason
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error"));
    let code = if d.substatus > 0 {
        format!("{}.{}", d.status, d.substatus)
    } else {
        d.status.to_string()
    };
    let title = format!("HTTP Error {code} - {reason}");
    let mut body = format!("<h1>{}</h1>\n", escape_html(&title));
    if !d.summary.is_empty() {
        body.push_str(&format!("<h3>{}</h3>\n", escape_html(d.summary)));
    }
    if !d.detail.is_empty() {
        body.push_str(&format!("<p>{}</p>\n", escape_html(d.detail)));
    }
    if !d.causes.is_empty() {
        body.push_str("<h4>Most likely causes:</h4>\n<ul>");
        for c in d.causes {
            body.push_str(&format!("<li>{}</li>", escape_html(c)));
        }
        body.push_str("</ul>\n");
    }
    let error_code = d.config.map_or_else(
        || "0x00000000".to_string(),
        |c| format!("0x{:08x}", c.hresult),
    );
    let config_file = d.config.map(|c| {
        if c.line == 0 {
            c.file.display().to_string()
        } else {
            format!("{}:{}:{}", c.file.display(), c.line, c.column)
        }
    });
    // Before the configuration is read, IIS does not know the logon either.
    let (logon_method, logon_user) = if d.config.is_some() {
        ("Not yet determined", "Not yet determined")
    } else if d.logon_user.is_empty() {
        ("Anonymous", "Anonymous")
    } else {
        ("Anonymous", d.logon_user)
    };
    let mut rows: Vec<(&str, &str)> = vec![
        ("Module", d.module),
        ("Notification", d.notification),
        ("Handler", d.handler),
        ("Error Code", &error_code),
    ];
    if let (Some(c), Some(file)) = (d.config, config_file.as_deref()) {
        rows.push(("Config Error", &c.message));
        rows.push(("Config File", file));
    }
    rows.extend([
        ("Requested URL", d.url),
        ("Physical Path", d.physical),
        ("Logon Method", logon_method),
        ("Logon User", logon_user),
    ]);
    body.push_str("<h4>Detailed Error Information:</h4>\n<table>");
    for (k, v) in rows {
        body.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape_html(k),
            escape_html(v)
        ));
    }
    body.push_str("</table>\n");
    if let Some(c) = d.config
        && !c.source_lines.is_empty()
    {
        body.push_str("<h4>Config Source:</h4>\n<pre>");
        for (n, text) in &c.source_lines {
            body.push_str(&format!("{n:>5}: {}\n", escape_html(text)));
        }
        body.push_str("</pre>\n");
    }
    html_response(status, d.substatus, page(&title, &body))
}

/// What iisnode knows about a failure it reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub substatus: u32,
    /// A Windows-style HRESULT for the dev page (informational).
    pub hresult: u32,
    pub reason: &'static str,
    /// What happened, in words (shown on the dev page and in the terminal).
    pub detail: String,
}

/// HTML-escapes a stderr capture as iisnode's developer page does (`SendDevError`): `& < > " '`
/// become `&amp; &lt; &gt; &quot; &apos;` and control characters other than tab, line feed and
/// carriage return become `[xHH]`.
fn escape_log(s: &str) -> String {
    // escape_html writes `'` as `&#39;`; a `&#39;` of the text itself is `&amp;#39;` by then.
    escape_html(s).replace("&#39;", "&apos;")
}

/// iisnode's link for the settings its pages name.
const SAMPLE_WEB_CONFIG: &str =
    "https://github.com/tjanczuk/iisnode/blob/master/src/samples/configuration/web.config";

/// The head of iisnode's developer error page: the failure and why the page is a 200.
fn dev_error_head(f: &Failure) -> String {
    format!(
        "<h1>iisnode encountered an error when processing the request.</h1>\n<pre>HRESULT: 0x{:x}\nHTTP status: {}\nHTTP subStatus: {}\nHTTP reason: {}</pre>\n<p>{}</p>\n\
<p>You are receiving this HTTP 200 response because <a href=\"{SAMPLE_WEB_CONFIG}\">system.webServer/iisnode/@devErrorsEnabled</a> configuration setting is 'true'.</p>\n",
        f.hresult,
        f.status,
        f.substatus,
        escape_html(f.reason),
        escape_html(&f.detail)
    )
}

/// iisnode's developer error page (`devErrorsEnabled`): HTTP 200 with the failure and the
/// tail of the worker's newest stderr capture. The sentences are iisnode's (`SendDevError`).
pub fn dev_error(f: &Failure, stderr_tail: Option<&str>, logging_enabled: bool) -> Response<Body> {
    let mut body = dev_error_head(f);
    match (stderr_tail, logging_enabled) {
        (Some(t), _) if !t.is_empty() => {
            body.push_str("<p>The last 64k of the output generated by the node.exe process to stderr is shown below:</p>\n<pre>");
            body.push_str(&escape_log(t));
            body.push_str("</pre>");
        }
        (_, true) => body.push_str(
            "<p>The node.exe process has not written any information to stderr or iisnode was unable to capture this information. Frequent reason is that the iisnode module is unable to create a log file to capture stdout and stderr output from node.exe. Please check that the identity running iisn can write to the logDirectory.</p>",
        ),
        (_, false) => body.push_str(&format!(
            "<p>You may get additional information about this error condition by logging stdout and stderr of the node.exe process. To enable logging, set the <a href=\"{SAMPLE_WEB_CONFIG}\">system.webServer/iisnode/@loggingEnabled</a> configuration setting to 'true' (current value is 'false').</p>"
        )),
    }
    html_response(StatusCode::OK, f.substatus, page("iisnode error", &body))
}

/// The page for a node process that could not be started, with `devErrorsEnabled`: HTTP 200
/// with iisnode's explanation (`SendIisnodeError` for `IISNODE_ERROR_UNABLE_TO_START_NODE_EXE`)
/// after the failure, and no stderr part: no process ever ran, so there is nothing to show.
pub fn start_failure(f: &Failure) -> Response<Body> {
    let mut body = dev_error_head(f);
    body.push_str(&format!(
        "<p>The iisnode module is unable to start the node.exe process. Make sure the node.exe executable is available at the location specified in the <a href=\"{SAMPLE_WEB_CONFIG}\">system.webServer/iisnode/@nodeProcessCommandLine</a> element of web.config. By default node.exe is expected in one of the directories listed in the PATH environment variable.</p>"
    ));
    html_response(StatusCode::OK, f.substatus, page("iisnode error", &body))
}

/// A bare iisnode failure (devErrorsEnabled off, or no process attached).
pub fn bare_failure(f: &Failure, local: bool) -> Response<Body> {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    iis_error(status, f.substatus, &f.detail, local)
}

/// Which configuration file iisnode could not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigErrorPage {
    WebConfig,
    IisnodeYml,
}

/// iisnode's configuration error page: HTTP 200 to loopback clients, whatever
/// `devErrorsEnabled` says; a bare 500.1000 to others (DECISIONS.md §5).
pub fn config_error(kind: ConfigErrorPage, local: bool, diagnostics_text: &str) -> Response<Body> {
    if !local {
        return iis_error(StatusCode::INTERNAL_SERVER_ERROR, 1000, "", false);
    }
    let (headline, advice) = match kind {
        ConfigErrorPage::WebConfig => (
            "iisnode was unable to read the configuration file. Make sure the web.config file syntax is correct. In particular, verify the iisnode configuration section matches the expected schema.",
            "The schema of the iisnode section is listed by `iisn config`; `iisn check` explains each problem.",
        ),
        ConfigErrorPage::IisnodeYml => (
            "iisnode was unable to read the configuration file iisnode.yml. Make sure the iisnode.yml file syntax is correct.",
            "iisnode.yml holds one `key: value` per line; `#` starts a comment. `iisn check` explains each problem.",
        ),
    };
    let mut body = format!(
        "<h1>{}</h1>\n<p>{}</p>\n",
        escape_html(headline),
        escape_html(advice)
    );
    if !diagnostics_text.is_empty() {
        body.push_str("<pre>");
        body.push_str(&escape_html(diagnostics_text));
        body.push_str("</pre>\n");
    }
    html_response(
        StatusCode::OK,
        0,
        page("iisnode configuration error", &body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_iisnode() {
        assert_eq!(
            escape_html("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("a\u{1}b\u{85}c\n"), "a[x01]b[x85]c\n");
    }

    fn text(r: Response<Body>) -> String {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let bytes = rt
            .block_on(r.into_body().collect())
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn failure(substatus: u32, detail: &str) -> Failure {
        Failure {
            status: 500,
            substatus,
            hresult: 2,
            reason: "Internal Server Error",
            detail: detail.into(),
        }
    }

    #[test]
    fn the_dev_page_escapes_the_stderr_tail_as_iisnode_does() {
        let r = dev_error(
            &failure(1002, "x"),
            Some("Cannot find module 'a' \"&<>\" &#39; \u{1b}[31m\ttab\r\n"),
            true,
        );
        assert_eq!(r.status(), StatusCode::OK);
        let body = text(r);
        assert!(
            body.contains(
                "Cannot find module &apos;a&apos; &quot;&amp;&lt;&gt;&quot; &amp;#39; [x1B][31m\ttab\r\n"
            ),
            "{body}"
        );
    }

    #[test]
    fn the_dev_page_without_logging_says_how_to_enable_it() {
        let body = text(dev_error(&failure(1001, "x"), None, false));
        assert!(
            body.contains("configuration setting to 'true' (current value is 'false')"),
            "{body}"
        );
    }

    #[test]
    fn a_node_that_cannot_start_gets_iisnodes_page_without_a_stderr_part() {
        let r = start_failure(&failure(1000, "`nodex` was not found on PATH"));
        assert_eq!(r.status(), StatusCode::OK);
        let body = text(r);
        assert!(
            body.contains("The iisnode module is unable to start the node.exe process."),
            "{body}"
        );
        assert!(body.contains("`nodex` was not found on PATH"), "{body}");
        assert!(body.contains("HTTP subStatus: 1000"), "{body}");
        assert!(!body.contains("stderr"), "{body}");
    }
}
