//! iisnode's debugger URLs, with node's modern inspector (DECISIONS.md §20).
//!
//! iisnode answered `<script>/<debuggerPathSegment>/` (default `debug`) with the bundled
//! node-inspector and started the application with the legacy `--debug` flag. Neither exists
//! any more, so iisn keeps the URL surface and its control verbs and swaps the machinery:
//!
//! * `<script>/debug` redirects (301) to `<script>/debug/`, keeping the query;
//! * `<script>/debug/…` with no query or `?debug` switches the application to debug mode: its
//!   workers stop and one worker starts with `--inspect=127.0.0.1:<port>` (`?brk`:
//!   `--inspect-brk`), the port taken from `debuggerPortRange` by test-binding 127.0.0.1 as
//!   iisnode does; the answer is a page with the DevTools address read from the inspector's
//!   `/json/list`. All requests to the application go to that one worker (N = 1);
//! * `?kill` leaves debug mode (the next request starts the normal workers again);
//! * any other query answers iisnode's "Unrecognized debugging command" text.
//!
//! `iisn serve --inspect` uses the same port walk to give every worker its own inspector.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::events::ServeEvent;
use super::pages;
use super::pool::{AppPool, Shared};
use super::process::Worker;
use super::proxy::Body;

/// The text of `?kill` when a debuggee ran.
pub const KILLED: &str = "The debugger and debugee processes have been killed.";
/// The text of `?kill` when none ran.
pub const NOT_RUNNING: &str = "The debugger for the application is not running.";
/// The text for any other query.
pub const UNRECOGNIZED: &str =
    "Unrecognized debugging command. Supported commands are ?debug (default), ?brk, and ?kill.";

/// How long a debuggee may take to open its inspector.
const INSPECTOR_BUDGET: Duration = Duration::from_secs(10);

/// What a URL below the script asks of the debugger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugUrl {
    /// `<script>/debug`: redirect to the same URL with a trailing slash.
    Redirect,
    /// `<script>/debug/…`: a debugger command (from the query).
    Command(Command),
}

/// A debugger command, from the query string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// No query or `?debug` (`brk: false`), `?brk` (`brk: true`).
    Debug {
        brk: bool,
    },
    Kill,
    Unrecognized,
}

/// The command a query names, as iisnode's test 109 expects.
pub fn command(query: Option<&str>) -> Command {
    match query {
        None | Some("") | Some("debug") => Command::Debug { brk: false },
        Some("brk") => Command::Debug { brk: true },
        Some("kill") => Command::Kill,
        Some(_) => Command::Unrecognized,
    }
}

/// Whether `path_info` (what follows the script, decoded) addresses the debugger at
/// `segment` (compared case-insensitively), and how.
pub fn classify(path_info: &str, segment: &str, query: Option<&str>) -> Option<DebugUrl> {
    if segment.is_empty() {
        return None;
    }
    let rest = path_info.strip_prefix('/')?;
    let head = rest.get(..segment.len())?;
    if !head.eq_ignore_ascii_case(segment) {
        return None;
    }
    let tail = &rest[segment.len()..];
    if tail.is_empty() {
        Some(DebugUrl::Redirect)
    } else if tail.starts_with('/') {
        Some(DebugUrl::Command(command(query)))
    } else {
        None
    }
}

/// The redirect target for `<script>/debug`: the segment as the client wrote it, a slash,
/// and the query.
pub fn redirect_location(
    script_url: &str,
    path_info: &str,
    segment: &str,
    query: Option<&str>,
) -> String {
    let seg = path_info.get(1..=segment.len()).unwrap_or(segment);
    let mut loc = format!("{}/{seg}/", script_url.trim_end_matches('/'));
    if let Some(q) = query {
        loc.push('?');
        loc.push_str(q);
    }
    loc
}

/// A parsed `debuggerPortRange` (`start..=end`; a single value may exceed 65535, as in
/// iisnode, and is truncated to 16 bits when used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub start: u32,
    pub end: u32,
}

/// C's `_wtoi`: leading whitespace, an optional sign, digits up to the first non-digit; no
/// digits is 0.
fn wtoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { -n } else { n }
}

/// Parses `debuggerPortRange` as iisnode's `GetDebugPortRange` (iisnode-config.md §1.3).
pub fn parse_port_range(value: &str) -> Result<PortRange, String> {
    let bad = |why: &str| Err(format!("debuggerPortRange `{value}` is invalid: {why}"));
    if value.is_empty() || value.starts_with('-') {
        return bad("write `start` or `start-end`");
    }
    let start = wtoi(value);
    if start < 1025 {
        return bad("the first port must be at least 1025");
    }
    let end = match value.find('-') {
        Some(i) => {
            let end = wtoi(&value[i + 1..]);
            if end < start {
                return bad("the range ends before it starts");
            }
            if end > 65535 {
                return bad("the last port must be at most 65535");
            }
            end
        }
        None => start,
    };
    let clamp = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(PortRange {
        start: clamp(start),
        end: clamp(end),
    })
}

/// iisnode's `FindNextDebugPort`: from the port after `last` (wrapping to the start of the
/// range), the first port `is_free` accepts.
pub fn next_port(range: PortRange, last: u32, mut is_free: impl FnMut(u16) -> bool) -> Option<u16> {
    let count = u64::from(range.end - range.start) + 1;
    let first = if last >= range.start && last < range.end {
        last + 1
    } else {
        range.start
    };
    (0..count)
        .map(|i| {
            let off = (u64::from(first - range.start) + i) % count;
            range.start + off as u32
        })
        .map(|p| (p & 0xffff) as u16)
        .find(|&p| p != 0 && is_free(p))
}

/// Whether 127.0.0.1:`port` can be bound and listened on right now.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// The next free inspector port in `range_text`, remembering it for the next walk.
pub fn choose_port(shared: &Shared, range_text: &str) -> Result<u16, String> {
    let range = parse_port_range(range_text)?;
    let mut last = shared
        .debug_port
        .lock()
        .map_err(|_| "the debug port state is unavailable".to_string())?;
    match next_port(range, *last, port_is_free) {
        Some(p) => {
            *last = u32::from(p);
            Ok(p)
        }
        None => Err(format!(
            "no free port in debuggerPortRange `{range_text}` on 127.0.0.1; free one or set @debuggerPortRange to another range"
        )),
    }
}

/// The node flag that opens the inspector on `port`.
pub fn inspect_flag(port: u16, brk: bool) -> String {
    format!(
        "--inspect{}=127.0.0.1:{port}",
        if brk { "-brk" } else { "" }
    )
}

/// One inspector target from `/json/list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub ws_url: String,
    /// The DevTools address (`devtools://…&ws=127.0.0.1:<port>/<id>`).
    pub devtools: String,
}

/// The first node target in a `/json/list` body.
pub fn parse_targets(port: u16, body: &str) -> Option<Target> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let t = v.as_array()?.iter().find(|t| t["id"].is_string())?;
    let id = t["id"].as_str()?.to_string();
    let ws_url = t["webSocketDebuggerUrl"]
        .as_str()
        .map_or_else(|| format!("ws://127.0.0.1:{port}/{id}"), str::to_string);
    let devtools = format!(
        "devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=127.0.0.1:{port}/{id}"
    );
    Some(Target {
        id,
        ws_url,
        devtools,
    })
}

/// `GET http://127.0.0.1:<port>/json/list`, the body as text.
async fn json_list(port: u16) -> std::io::Result<String> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        let req = format!(
            "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            // Stop once the head and Content-Length bytes of body are in.
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head.lines().find_map(|l| {
                    l.strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse::<usize>().ok())
                });
                if len.is_some_and(|len| buf.len() >= end + 4 + len) {
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        Ok(text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default())
    };
    tokio::time::timeout(Duration::from_secs(2), io)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("timed out")))
}

/// Polls the inspector on `port` until it lists a target (or `w` exits, or time runs out).
pub async fn wait_target(port: u16, w: &Worker) -> Option<Target> {
    let start = Instant::now();
    while start.elapsed() < INSPECTOR_BUDGET && !w.has_exited() {
        if let Ok(body) = json_list(port).await
            && let Some(t) = parse_targets(port, &body)
        {
            return Some(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Prints the DevTools address of a worker started by `iisn serve --inspect`.
pub fn announce(shared: &Arc<Shared>, w: Arc<Worker>, port: u16) {
    let events = shared.events.clone();
    tokio::spawn(async move {
        let text = match wait_target(port, &w).await {
            Some(t) => format!(
                "{}#{} (pid {}) inspector on 127.0.0.1:{port}: {}",
                w.id.app,
                w.id.slot + 1,
                w.id.pid,
                t.devtools
            ),
            None if w.has_exited() => return,
            None => format!(
                "{}#{} (pid {}): the inspector on 127.0.0.1:{port} did not answer /json/list",
                w.id.app,
                w.id.slot + 1,
                w.id.pid
            ),
        };
        events.emit(ServeEvent::Note { text });
    });
}

/// A short 200 text answer, as iisnode sends its debugger messages.
fn message(text: &str) -> Response<Body> {
    pages::html_response(StatusCode::OK, 0, pages::escape_html(text))
}

fn error_page(detail: &str, local: bool) -> Response<Body> {
    pages::iis_error(StatusCode::INTERNAL_SERVER_ERROR, 0, detail, local)
}

/// The page that gives the DevTools address of the debuggee.
fn debug_page(app: &str, port: u16, pid: u32, brk: bool, t: &Target) -> Response<Body> {
    let e = pages::escape_html;
    let paused = if brk {
        " It is paused on the first line of the application until you resume it."
    } else {
        ""
    };
    let body = format!(
        "<h1>Debugging {app}</h1>\n\
<p>node's inspector listens on 127.0.0.1:{port} (pid {pid}).{paused} Every request to the application goes to this one process.</p>\n\
<p>Open this address in Chrome or Edge (paste it into the address bar):</p>\n<pre>{devtools}</pre>\n\
<p>WebSocket debugger URL: <code>{ws}</code></p>\n\
<p>Or open <code>chrome://inspect</code>, add <code>127.0.0.1:{port}</code> under \"Discover network targets\" and pick the target.</p>\n\
<p><a href=\"?kill\">?kill</a> stops debugging and starts the normal workers again.</p>",
        app = e(app),
        devtools = e(&t.devtools),
        ws = e(&t.ws_url),
    );
    let title = format!("iisn debugger - {app}");
    pages::html_response(StatusCode::OK, 0, pages::page(&title, &body))
}

/// Carries out a debugger command for `pool`.
pub async fn respond(pool: &Arc<AppPool>, cmd: Command, local: bool) -> Response<Body> {
    let name = pool.plan.name.clone();
    let events = &pool.shared().events;
    match cmd {
        Command::Unrecognized => message(UNRECOGNIZED),
        Command::Kill => {
            if pool.stop_debug().await {
                events.emit(ServeEvent::Note {
                    text: format!(
                        "{name}: debugger killed; normal workers start on the next request"
                    ),
                });
                message(KILLED)
            } else {
                message(NOT_RUNNING)
            }
        }
        Command::Debug { brk } => {
            let (w, mode, again) = match pool.start_debug(brk).await {
                Ok(x) => x,
                Err(detail) => {
                    events.emit(ServeEvent::Warning {
                        text: format!("{name}: cannot start the debugger: {detail}"),
                    });
                    return error_page(&format!("iisn cannot start the debugger: {detail}"), local);
                }
            };
            let Some(t) = wait_target(mode.port, &w).await else {
                pool.stop_debug().await;
                let detail = format!(
                    "the debuggee (pid {}) did not open node's inspector on 127.0.0.1:{} within {} s",
                    w.id.pid,
                    mode.port,
                    INSPECTOR_BUDGET.as_secs()
                );
                events.emit(ServeEvent::Warning {
                    text: format!("{name}: {detail}"),
                });
                return error_page(&detail, local);
            };
            if !again {
                events.emit(ServeEvent::Note {
                    text: format!(
                        "{name}: debugging (pid {}{}) with node's inspector on 127.0.0.1:{}: {}",
                        w.id.pid,
                        if mode.brk {
                            ", paused on the first line"
                        } else {
                            ""
                        },
                        mode.port,
                        t.devtools
                    ),
                });
            }
            debug_page(&name, mode.port, w.id.pid, mode.brk, &t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_like_iisnode() {
        let r = |s| parse_port_range(s).map(|r| (r.start, r.end));
        assert_eq!(r("5058-6058"), Ok((5058, 6058)));
        assert_eq!(r("6000"), Ok((6000, 6000)));
        assert_eq!(r(" 6000-6010"), Ok((6000, 6010)));
        assert_eq!(
            r("6000x-6010y"),
            Ok((6000, 6010)),
            "_wtoi stops at a non-digit"
        );
        assert_eq!(r("70000"), Ok((70000, 70000)), "no upper bound without `-`");
        assert!(r("").is_err());
        assert!(r("-6000").is_err());
        assert!(r("80-90").is_err());
        assert!(r("abc").is_err());
        assert!(r("7000-6000").is_err());
        assert!(r("6000-70000").is_err());
        assert!(r("6000-").is_err(), "an empty end is 0, before the start");
    }

    #[test]
    fn port_walk_starts_after_the_last_and_wraps() {
        let range = PortRange {
            start: 6000,
            end: 6003,
        };
        assert_eq!(next_port(range, 0, |_| true), Some(6000));
        assert_eq!(next_port(range, 6000, |_| true), Some(6001));
        assert_eq!(next_port(range, 6003, |_| true), Some(6000));
        assert_eq!(next_port(range, 6001, |p| p != 6002), Some(6003));
        assert_eq!(next_port(range, 6002, |p| p == 6001), Some(6001));
        assert_eq!(next_port(range, 6002, |_| false), None);
        let big = PortRange {
            start: 70000,
            end: 70000,
        };
        assert_eq!(next_port(big, 0, |_| true), Some((70000 & 0xffff) as u16));
    }

    #[test]
    fn queries_dispatch_to_commands() {
        assert_eq!(command(None), Command::Debug { brk: false });
        assert_eq!(command(Some("")), Command::Debug { brk: false });
        assert_eq!(command(Some("debug")), Command::Debug { brk: false });
        assert_eq!(command(Some("brk")), Command::Debug { brk: true });
        assert_eq!(command(Some("kill")), Command::Kill);
        assert_eq!(command(Some("foo")), Command::Unrecognized);
        assert_eq!(command(Some("kill=1")), Command::Unrecognized);
    }

    #[test]
    fn debugger_urls_are_recognised() {
        use DebugUrl::*;
        assert_eq!(classify("/debug", "debug", None), Some(Redirect));
        assert_eq!(
            classify("/DEBUG/", "debug", Some("kill")),
            Some(Command(super::Command::Kill))
        );
        assert_eq!(
            classify("/debug/x/y", "debug", None),
            Some(Command(super::Command::Debug { brk: false }))
        );
        assert_eq!(classify("/debugger", "debug", None), None);
        assert_eq!(classify("/other/debug", "debug", None), None);
        assert_eq!(classify("", "debug", None), None);
        assert_eq!(classify("/debug", "", None), None);
        assert_eq!(
            redirect_location("/app/hello.js", "/Debug", "debug", Some("brk")),
            "/app/hello.js/Debug/?brk"
        );
        assert_eq!(
            redirect_location("/hello.js", "/debug", "debug", None),
            "/hello.js/debug/"
        );
    }

    #[test]
    fn targets_from_json_list() {
        let body = r#"[{"description":"node.js instance","id":"abc-123","type":"node","webSocketDebuggerUrl":"ws://127.0.0.1:6001/abc-123"}]"#;
        let t = parse_targets(6001, body).expect("a target");
        assert_eq!(t.id, "abc-123");
        assert_eq!(t.ws_url, "ws://127.0.0.1:6001/abc-123");
        assert_eq!(
            t.devtools,
            "devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=127.0.0.1:6001/abc-123"
        );
        assert_eq!(parse_targets(6001, "[]"), None);
        assert_eq!(parse_targets(6001, "not json"), None);
    }
}
