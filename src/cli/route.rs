//! `iisn route`: what IIS would do with a URL, step by step, without starting node.
//!
//! On IIS the layer in front of node (request filtering, URL Rewrite, handler mapping,
//! default documents) can only be watched with Failed Request Tracing on a server. iisn
//! decides all of it with [`crate::serve::pipeline::Pipeline::decide_traced`], the very
//! function `iisn serve` routes requests with, so this command shows the same reasoning
//! before deploying, and `--format json` lets CI pin it (docs/route-json.md).
//!
//! Exit codes: 0 every URL was routed (whatever the outcome), 1 the configuration has errors
//! (printed as `iisn check` prints them, on stderr; the URLs are still routed, as serve would
//! answer them: 500.19 for a web.config IIS cannot load), 2 a usage error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::Error;
use crate::cli::Ui;
use crate::config::{LoadOptions, load_site};
use crate::diag::{Severity, Summary, render};
use crate::serve::pipeline::trace::{Report, Trace};
use crate::serve::pipeline::{Pipeline, RequestHead};
use crate::serve::server_vars::AuthEmulation;

pub const AFTER_HELP: &str = "\
Examples:
  iisn route examples/kudu / /about.html /web.config
                                          why each URL ends where it does
  iisn route /api/users?id=1              the site in the current folder
  iisn route . /upload --method POST --header 'Content-Length: 40000000'
  iisn route . / /old --format json | jq -c '{url, outcome, status}'

The request is taken as coming from 127.0.0.1 to localhost:8080 (set Host with --header);
conditions that test files (IsFile, IsDirectory) look at the site on disk, as serve does.

Output: human (default) or json (one object per URL per line, docs/route-json.md).

Exit codes:
  0  every URL was routed, whatever the outcome (a 404 is an answer)
  1  the configuration has errors (printed as iisn check prints them, on stderr);
     the URLs are still routed, as serve answers them (500.19, iisnode's error page)
  2  usage error, or a missing or unreadable path";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The trace in words: one block per URL.
    #[default]
    Human,
    /// One JSON object per URL per line (docs/route-json.md).
    Json,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The site folder (optional: the current folder when the first argument starts with
    /// `/` and is not a folder holding a web.config), then one or more site-relative URLs
    /// with an optional query (`/api/x?y=1`).
    #[arg(value_name = "[SITE] URL", required = true, num_args = 1..)]
    pub args: Vec<String>,
    /// The request method.
    #[arg(long, short = 'X', default_value = "GET", value_name = "METHOD")]
    pub method: String,
    /// A request header (repeatable), e.g. --header 'Host: example.com'.
    #[arg(long = "header", short = 'H', value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Mount the site at a virtual path, as `iisn serve --app-path` does: URLs then start
    /// with the prefix.
    #[arg(long, value_name = "/PREFIX")]
    pub app_path: Option<String>,
    /// Emulate Windows authentication for the request (AUTH_USER etc.), as serve does.
    #[arg(long, value_name = "DOMAIN\\NAME")]
    pub auth_user: Option<String>,
    /// AUTH_TYPE reported with --auth-user, as serve's --auth-type.
    #[arg(long, default_value = "Negotiate", requires = "auth_user")]
    pub auth_type: String,
}

fn usage(message: impl Into<String>, hint: Option<&str>) -> Error {
    Error::Usage {
        message: message.into(),
        hint: hint.map(str::to_string),
    }
}

/// Whether an absolute first argument names a site rather than a URL: a folder with a
/// web.config (`/` itself is always a URL).
fn is_site(arg: &str) -> bool {
    arg != "/" && std::path::Path::new(arg).join("web.config").is_file()
}

/// `http://host/path?q` (or https) → the host and the path with its query (`/` when none).
fn full_url(arg: &str) -> Option<(&str, String)> {
    let (scheme, rest) = arg.split_once("://")?;
    if !["http", "https"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return None;
    }
    let (host, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Some((host, path))
}

/// Splits `[SITE] URL...` into the site and the URLs.
fn split_args(args: &[String]) -> Result<(PathBuf, Vec<String>), Error> {
    let (site, urls) = match args.first() {
        Some(first) if !(first.starts_with('/') || full_url(first).is_some()) || is_site(first) => {
            (PathBuf::from(first), &args[1..])
        }
        _ => (PathBuf::from("."), args),
    };
    if urls.is_empty() {
        return Err(usage(
            "no URL to route",
            Some("give site-relative URLs after the site: iisn route SITE / /about.html"),
        ));
    }
    // A client never sends the fragment (`#top`): browsers and curl drop it, and serve
    // routes `/a#top` as `/a`, so route does the same instead of matching rules against it.
    let urls: Vec<String> = urls
        .iter()
        .map(|u| {
            u.split_once('#')
                .map_or(u.as_str(), |(before, _)| before)
                .to_string()
        })
        .collect();
    for u in &urls {
        if let Some((host, path)) = full_url(u) {
            return Err(usage(
                format!("`{u}` is a full URL; route takes the path and query the client sends"),
                Some(&format!(
                    "give `{path}`, with --header 'Host: {host}' for the host"
                )),
            ));
        }
        if !u.starts_with('/') {
            return Err(usage(
                format!("`{u}` is not a site-relative URL"),
                Some("URLs start with `/`, e.g. /api/users?id=1 (the site folder comes first)"),
            ));
        }
        if u.chars().any(|c| c.is_control() || c == ' ') {
            return Err(usage(
                format!("{u:?} contains a space or a control character"),
                Some("percent-encode it as a browser would (%20)"),
            ));
        }
    }
    Ok((site, urls))
}

fn parse_headers(raw: &[String]) -> Result<HeaderMap, Error> {
    let mut h = HeaderMap::new();
    for line in raw {
        let Some((name, value)) = line.split_once(':') else {
            return Err(usage(
                format!("`{line}` is not a header"),
                Some("write headers as 'Name: value'"),
            ));
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| usage(format!("`{}` is not a header name", name.trim()), None))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| {
            usage(
                format!("the value of {name} is not a valid header value"),
                None,
            )
        })?;
        if name == http::header::HOST && !crate::serve::http_sys::valid_host(value.as_bytes()) {
            return Err(usage(
                format!(
                    "`{}` is not a valid Host: HTTP.sys would answer 400 (Invalid Hostname) before IIS sees the request",
                    line.trim()
                ),
                Some(
                    "give a host name or address with an optional port, e.g. 'Host: example.com:8080'",
                ),
            ));
        }
        if name == http::header::CONTENT_LENGTH
            && (value.is_empty() || !value.as_bytes().iter().all(u8::is_ascii_digit))
        {
            return Err(usage(
                format!(
                    "`{}` is not a valid Content-Length: the request would be answered 400 (Bad Request) before IIS sees it",
                    line.trim()
                ),
                Some("give the body's length in bytes, e.g. 'Content-Length: 40000000'"),
            ));
        }
        h.append(name, value);
    }
    if h.get_all(http::header::HOST).iter().count() > 1 {
        return Err(usage(
            "two Host headers: HTTP.sys would answer 400 (Invalid Hostname) before IIS sees the request".to_string(),
            None,
        ));
    }
    if !h.contains_key(http::header::HOST) {
        h.insert(
            http::header::HOST,
            HeaderValue::from_static("localhost:8080"),
        );
    }
    Ok(h)
}

pub fn run(args: &RouteArgs, ui: &Ui) -> Result<(), Error> {
    let (site_path, urls) = split_args(&args.args)?;
    let method = Method::from_bytes(args.method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| usage(format!("`{}` is not an HTTP method", args.method), None))?;
    let headers = parse_headers(&args.headers)?;

    let site = load_site(&site_path, &LoadOptions::from_process())?;
    let base = std::env::current_dir().unwrap_or_default();
    // The same lints as `iisn check` and `iisn serve`. Errors are printed (stderr) and make
    // the exit code 1, but the URLs are routed anyway, as `iisn serve` would answer them:
    // a web.config IIS cannot load gives 500.19, a rule that cannot run 500.50.
    let diagnostics = crate::check::all(&site);
    let config_errors = crate::check::fails(diagnostics.iter(), false);
    if config_errors {
        for d in diagnostics.iter().filter(|d| d.severity != Severity::Info) {
            eprintln!("{}", render::human(d, &site.sources, &base, &ui.err));
        }
        eprintln!(
            "{}",
            render::summary_line(&Summary::of(&diagnostics), &ui.err)
        );
    } else if ui.verbose > 0 {
        for d in diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
        {
            eprintln!("{}", render::human(d, &site.sources, &base, &ui.err));
        }
    }

    let mut pipeline = Pipeline::new(Arc::new(site));
    pipeline.set_app_path(args.app_path.as_deref());
    let pipeline = Arc::new(pipeline);
    let auth = args.auth_user.as_ref().map(|u| AuthEmulation {
        user: u.clone(),
        auth_type: args.auth_type.clone(),
    });

    let mut stdout = std::io::stdout().lock();
    for (i, url) in urls.iter().enumerate() {
        let head = RequestHead {
            method: method.clone(),
            target: url.clone(),
            headers: headers.clone(),
            remote: SocketAddr::from(([127, 0, 0, 1], 50000)),
            local_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            auth: auth.clone(),
        };
        let Some((routed, trace)) = decide_bounded(&pipeline, head) else {
            return Err(usage(
                format!(
                    "routing {url} did not finish within {} s: a rewrite pattern backtracks without end (serve answers 500.50)",
                    LIMIT.as_secs()
                ),
                Some("`iisn check` points at patterns with nested quantifiers such as (a+)+"),
            ));
        };
        let report = Report {
            pipeline: &pipeline,
            method: method.as_str(),
            url,
            routed: &routed,
            trace: &trace,
            local: true,
        };
        let text = match args.format {
            Format::Json => format!("{}\n", report.to_json()),
            Format::Human => {
                let mut t = String::new();
                if i > 0 {
                    t.push('\n');
                }
                let lines = report.to_lines();
                let last = lines.len().saturating_sub(1);
                let end = match report.outcome().1 {
                    Some(500..) | None => &ui.out.error,
                    Some(400..=499) => &ui.out.warning,
                    _ => &ui.out.good,
                };
                // Rule names and values come from the web.config: one line each, whatever
                // they hold (crate::ui::printable).
                for (n, l) in lines
                    .iter()
                    .map(|l| crate::ui::printable(l).into_owned())
                    .enumerate()
                {
                    if n == 0 {
                        t.push_str(&ui.out.bold.apply_to(l).to_string());
                    } else if n == last {
                        t.push_str(&end.apply_to(l).to_string());
                    } else {
                        t.push_str(&l);
                    }
                    t.push('\n');
                }
                t
            }
        };
        stdout.write_all(text.as_bytes()).map_err(Error::Output)?;
    }
    stdout.flush().map_err(Error::Output)?;
    if config_errors {
        return Err(Error::ConfigErrors);
    }
    Ok(())
}

/// How long one URL may take (rules included) before `route` gives up: well above serve's
/// per-request rewrite budget, since a CLI run has no other requests to protect.
const LIMIT: Duration = Duration::from_secs(10);

/// Runs the pipeline on a thread of its own, so that a runaway rewrite pattern ends the
/// command with an error instead of hanging it.
fn decide_bounded(
    pipeline: &Arc<Pipeline>,
    head: RequestHead,
) -> Option<(crate::serve::pipeline::Routed, Trace)> {
    let p = pipeline.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("iisn-route".into())
        .spawn(move || {
            let mut trace = Trace::new();
            let routed = p.decide_explained(&head, &mut trace);
            let _ = tx.send((routed, trace));
        })
        .ok()?;
    rx.recv_timeout(LIMIT).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn site_is_optional() {
        let (site, urls) = split_args(&s(&["/a", "/b?x=1"])).expect("urls");
        assert_eq!(site, PathBuf::from("."));
        assert_eq!(urls, s(&["/a", "/b?x=1"]));
        let (site, urls) = split_args(&s(&["examples/kudu", "/"])).expect("site and url");
        assert_eq!(site, PathBuf::from("examples/kudu"));
        assert_eq!(urls, s(&["/"]));
    }

    #[test]
    fn the_fragment_is_not_part_of_the_request() {
        let (_, urls) =
            split_args(&s(&["site", "/about.html#top", "/a?x=1#y", "/b#"])).expect("urls");
        assert_eq!(urls, s(&["/about.html", "/a?x=1", "/b"]));
        assert!(split_args(&s(&["site", "#top"])).is_err());
    }

    #[test]
    fn usage_errors() {
        assert!(split_args(&s(&["site"])).is_err());
        assert!(split_args(&s(&["site", "about.html"])).is_err());
        assert!(split_args(&s(&["site", "/a b"])).is_err());
        let Err(Error::Usage { hint, .. }) =
            split_args(&s(&["site", "http://example.com:8080/a?b=1"]))
        else {
            panic!("a full URL is a usage error");
        };
        assert_eq!(
            hint.as_deref(),
            Some("give `/a?b=1`, with --header 'Host: example.com:8080' for the host")
        );
        // Also as the first argument, which is otherwise the site when it does not start
        // with `/`.
        let Err(Error::Usage { message, hint }) = split_args(&s(&["HTTPS://example.com?q"])) else {
            panic!("a full URL is a usage error");
        };
        assert!(message.contains("is a full URL"), "{message}");
        assert!(hint.is_some_and(|h| h.starts_with("give `/?q`")));
        assert!(parse_headers(&s(&["NoColon"])).is_err());
        assert!(parse_headers(&s(&["Content-Length: abc"])).is_err());
        assert!(parse_headers(&s(&["Content-Length: -1"])).is_err());
        assert!(parse_headers(&s(&["content-length: 40000000"])).is_ok());
        assert!(parse_headers(&s(&["Bad Name: x"])).is_err());
        let h = parse_headers(&s(&["X-A: 1"])).expect("headers");
        assert_eq!(h.get("x-a").and_then(|v| v.to_str().ok()), Some("1"));
        assert!(h.contains_key("host"));
    }
}
