//! Issue 14: the shapes of real iisnode repositories that ran on IIS but not under iisn.
//!
//! Each test serves a small site written after one of them (iisnode's own sample, Visual
//! Studio's Node.js Tools template, the multi-process demos, iisnode issue 189, a WebSocket
//! app) with real node, and checks both what the client gets and what the terminal says.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Server, Site, TIMEOUT, is_event};

/// An iisn line (`note` or `warning`) whose text contains `needle`.
fn said(e: &Value, kind: &str, needle: &str) -> bool {
    is_event(e, kind) && e["text"].as_str().is_some_and(|t| t.contains(needle))
}

fn count(server: &Server, kind: &str, needle: &str) -> usize {
    server
        .events()
        .iter()
        .filter(|e| said(e, kind, needle))
        .count()
}

/// iisnode's sample: `"%programfiles%\nodejs\node.exe" --max-old-space-size=96` runs node
/// from PATH with the option kept, and the terminal says once what was substituted.
#[test]
fn quoted_windows_node_path_runs_node_with_its_arguments() {
    let Some(site) = Site::new("win_node_path") else {
        return;
    };
    let server = site.serve();
    let r = server.get("/hello.js");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello --max-old-space-size=96"),
        "{}",
        server.transcript()
    );
    server.wait_for_event(
        |e| said(e, "note", r"%programfiles%\nodejs\node.exe"),
        TIMEOUT,
    );
    assert_eq!(count(&server, "note", "Windows path"), 1, "said once");
}

/// Visual Studio's template: an unquoted `C:\Program Files\nodejs\node.exe` (resolved as
/// CreateProcess does) and a server listening on `process.env.port` (lower case).
#[test]
fn unquoted_node_path_with_spaces_and_lower_case_port() {
    let Some(site) = Site::new("ntvs_template") else {
        return;
    };
    let server = site.serve();
    let r = server.get("/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Hello World --max-old-space-size=80 path=string"),
        "{}",
        server.transcript()
    );
    server.wait_for_event(
        |e| said(e, "note", r"C:\Program Files\nodejs\node.exe"),
        TIMEOUT,
    );
}

/// The multi-process demos: `path="server*.js"`. The scripts on disk are applications that
/// start on their first request, and editing one recycles it.
#[test]
fn wildcard_applications_recycle_when_edited() {
    let Some(site) = Site::new("multi_server") else {
        return;
    };
    let server = site.serve();
    let one = server.get("/server1.js");
    assert!(one.text().starts_with("one-v1 "), "{}", one.text());
    assert!(server.get("/server2.js").text().starts_with("two-v1 "));
    let text = std::fs::read_to_string(site.path("server1.js")).expect("read");
    site.write("server1.js", &text.replace("one-v1", "one-v2"));
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let t = server.get("/server1.js").text();
        if t.starts_with("one-v2 ") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the edit never took effect: {t}\n{}",
            server.transcript()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Both applications watch `*.js` in their folder (the default watchedFiles), so both
    // recycle, as under iisnode.
    server.wait_for_event(
        |e| is_event(e, "recycle") && e["app"] == "server1.js",
        TIMEOUT,
    );
    assert!(server.get("/server2.js").text().starts_with("two-v1 "));
}

/// A wildcard application that cannot start says so in the terminal, whether it was on disk
/// at launch or created by its first request afterwards.
#[test]
fn wildcard_application_start_failures_are_printed() {
    let Some(site) = Site::new("multi_server") else {
        return;
    };
    let web = std::fs::read_to_string(site.path("web.config")).expect("read");
    site.write(
        "web.config",
        &web.replace(
            r#"nodeProcessCountPerApplication="1""#,
            r#"nodeProcessCountPerApplication="1" nodeProcessCommandLine="no-such-node-here""#,
        ),
    );
    let server = site.iisn().arg("--no-watch").start();
    server.wait_for_event(|e| said(e, "warning", "server1.js cannot start"), TIMEOUT);
    // iisnode's 500.1000 (its developer page answers loopback clients with 200).
    let failed = |r: &crate::harness::Resp| r.text().contains("no-such-node-here");
    assert!(failed(&server.get("/server1.js")));
    site.write(
        "server3.js",
        "require('http').createServer().listen(process.env.PORT);\n",
    );
    assert!(failed(&server.get("/server3.js")));
    server.wait_for_event(|e| said(e, "warning", "server3.js cannot start"), TIMEOUT);
}

/// `iisn config --app` shows an application of a wildcard handler.
#[test]
fn config_shows_wildcard_applications() {
    let Some(site) = Site::new("multi_server") else {
        return;
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_iisn"))
        .arg("config")
        .arg(site.root())
        .args(["--app", "server2.js", "--format", "json"])
        .output()
        .expect("run iisn config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["applications"][0]["script"], "server2.js");
    assert_eq!(doc["applications"][0]["fromWildcard"], true);
}

/// An absolute Windows logDirectory never creates a `D:` folder: the logs go to `iisnode/`.
#[test]
fn absolute_windows_log_directory_uses_the_default_folder() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.web_config("hello.js", r#"logDirectory="D:\logs\""#);
    let server = site.serve();
    assert_eq!(server.get("/hello.js").status, 200);
    server.wait_for_event(|e| said(e, "note", r"logDirectory `D:\logs\`"), TIMEOUT);
    assert!(
        !site.files_in("").iter().any(|f| f.contains(':')),
        "{:?}",
        site.files_in("")
    );
}

/// A worker that does not listen on PORT gets a line after 5 s instead of a silent wait.
#[test]
fn a_worker_that_never_listens_is_named_after_5_s() {
    let Some(site) = Site::new("never_listens") else {
        return;
    };
    let server = site.serve();
    let e = server.wait_for_event(
        |e| said(e, "warning", "has not listened on PORT for 5 s"),
        Duration::from_secs(20),
    );
    assert!(
        e["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("server.js#1 has not listened"),
        "{e}"
    );
}

/// The first WebSocket upgrade on a site whose <webSocket> is not disabled prints the
/// warning `iisn check` gives (once), naming the web.config and the fix.
#[test]
fn first_websocket_upgrade_warns_when_iis_would_take_it() {
    let Some(site) = Site::new("ws_not_disabled") else {
        return;
    };
    let server = site.serve();
    for _ in 0..2 {
        let mut c = server.conn();
        let head = server.block_on(async {
            c.send(b"GET /server.js HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").await;
            c.read_head().await
        });
        assert_eq!(head.status, 101, "{}", server.transcript());
    }
    let e = server.wait_for_event(|e| said(e, "warning", "WebSocket upgrade"), TIMEOUT);
    let text = e["text"].as_str().unwrap_or("");
    assert!(
        text.contains("web.config") && text.contains(r#"<webSocket enabled="false"/>"#),
        "{text}"
    );
    assert_eq!(count(&server, "warning", "WebSocket upgrade"), 1);
}

/// iisnode issue 189: `path="app.js"` also maps `public/js/app.js`; requesting the browser
/// script runs it with node, it crashes, and the terminal explains why.
#[test]
fn same_named_browser_script_crash_gets_a_hint() {
    let Some(site) = Site::new("same_name") else {
        return;
    };
    let server = site.serve();
    assert_eq!(server.get("/app.js").text(), "server app.js");
    let r = server.get("/public/js/app.js");
    assert!(
        r.text().contains("document is not defined"),
        "the browser script ran with node: {}",
        r.text()
    );
    let e = server.wait_for_event(
        |e| is_event(e, "exited") && e["app"] == "public/js/app.js",
        TIMEOUT,
    );
    let hint = e["hint"].as_str().unwrap_or("");
    assert!(
        hint.contains("has no slash") && hint.contains("issue 189"),
        "{e}"
    );
}

/// The static file handler's 405 says which methods it takes.
#[test]
fn static_405_has_an_allow_header() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("readme.txt", "static\n");
    let server = site.serve();
    let r = server.post("/readme.txt", &[], "x");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS, TRACE"));
}

/// IIS's server-level customHeaders entry `X-Powered-By: ASP.NET` rides every response (a
/// static file, node's, IIS's own errors) until a web.config removes it.
#[test]
fn x_powered_by_asp_net_unless_removed() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("readme.txt", "static\n");
    site.write("plain/readme.txt", "static\n");
    site.write(
        "plain/web.config",
        "<configuration><system.webServer><httpProtocol><customHeaders><remove name=\"X-Powered-By\"/></customHeaders></httpProtocol></system.webServer></configuration>",
    );
    let server = site.serve();
    for url in ["/readme.txt", "/hello.js", "/missing.txt"] {
        let r = server.raw_get(url);
        assert_eq!(
            r.header_all("x-powered-by"),
            ["ASP.NET"],
            "{url}: {}",
            r.head
        );
    }
    // Requests hyper serves (a body) get it too, the same as those iisn's own writer does.
    let r = server.post("/hello.js", &[], "x");
    assert_eq!(r.status, 200);
    let all: Vec<_> = r.headers.get_all("x-powered-by").iter().collect();
    assert_eq!(all, ["ASP.NET"], "{:?}", r.headers);
    let r = server.raw_get("/plain/readme.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-powered-by"), None, "{}", r.head);
}

/// IIS's `Server: Microsoft-IIS/10.0` rides every response (node's, a static file, IIS's own
/// errors, either writer) unless node sends its own `Server`, which IIS keeps instead (an
/// app behind IIS shows `Server: Kestrel` alone); `<remove name="Server">` in customHeaders
/// cannot touch it (CH19), `requestFiltering removeServerHeader="true"` drops it (CH20), and
/// an outbound rule blanking `RESPONSE_Server` removes it as on IIS.
#[test]
fn server_header_as_iis_sends_it() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("readme.txt", "static\n");
    let wc = |body: &str| {
        format!("<configuration><system.webServer>{body}</system.webServer></configuration>")
    };
    site.write(
        "own/web.config",
        &wc(r#"<handlers><add name="own" path="own.js" verb="*" modules="iisnode"/></handlers><httpProtocol><customHeaders><remove name="Server"/></customHeaders></httpProtocol>"#),
    );
    site.write(
        "own/own.js",
        "require('http').createServer(function (q, s) { s.writeHead(200, { Server: 'node-own' }); s.end('own'); }).listen(process.env.PORT);\n",
    );
    site.write("own/readme.txt", "static\n");
    site.write(
        "quiet/web.config",
        &wc(r#"<security><requestFiltering removeServerHeader="true"/></security>"#),
    );
    site.write("quiet/readme.txt", "static\n");
    site.write(
        "rule/web.config",
        &wc(r#"<rewrite><outboundRules><rule name="no server"><match serverVariable="RESPONSE_Server" pattern=".+"/><action type="Rewrite" value=""/></rule></outboundRules></rewrite>"#),
    );
    site.write("rule/readme.txt", "static\n");
    let server = site.serve();
    for url in [
        "/readme.txt",
        "/hello.js",
        "/missing.txt",
        "/own/readme.txt",
    ] {
        let r = server.raw_get(url);
        assert_eq!(
            r.header_all("server"),
            ["Microsoft-IIS/10.0"],
            "{url}: {}",
            r.head
        );
        // In IIS's order: `Server`, then `X-Powered-By`.
        let at = |name: &str| r.head.to_ascii_lowercase().find(name);
        assert!(
            at("\r\nserver:") < at("\r\nx-powered-by:"),
            "{url}: {}",
            r.head
        );
    }
    let r = server.post("/hello.js", &[], "x");
    assert_eq!(r.status, 200);
    let all: Vec<_> = r.headers.get_all("server").iter().collect();
    assert_eq!(all, ["Microsoft-IIS/10.0"], "{:?}", r.headers);
    let r = server.raw_get("/own/own.js");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.header_all("server"), ["node-own"], "{}", r.head);
    for url in [
        "/quiet/readme.txt",
        "/quiet/missing.txt",
        "/rule/readme.txt",
    ] {
        let r = server.raw_get(url);
        assert_eq!(r.header("server"), None, "{url}: {}", r.head);
        assert_eq!(
            r.header("x-powered-by"),
            Some("ASP.NET"),
            "{url}: {}",
            r.head
        );
    }
}

/// A mapping whose `resourceType` does not fit the URL is IIS Web Core's 404.0 (MH26), not
/// the next mapping: a script mapped with `resourceType="Directory"` is never sent as a
/// file, and a `File` mapping of a missing script is not handed to a wildcard mapping.
#[test]
fn a_resource_type_misfit_is_404_never_the_source() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write(
        "sub/web.config",
        r#"<configuration><system.webServer><handlers><add name="dir" path="app.js" verb="*" modules="iisnode" resourceType="Directory"/></handlers></system.webServer></configuration>"#,
    );
    site.write(
        "sub/app.js",
        "// SECRET-SOURCE\nrequire('http').createServer(function (q, s) { s.end('ran'); }).listen(process.env.PORT);\n",
    );
    let server = site.serve();
    let r = server.raw_get("/sub/app.js");
    assert_eq!(r.status, 404, "{}", r.head);
    assert!(!r.text().contains("SECRET-SOURCE"), "{}", r.text());
    assert!(r.text().contains("requires a directory"), "{}", r.text());
    // The site's own mapping still runs node.
    assert_eq!(server.get("/hello.js").status, 200);
}

/// A script created after launch becomes an application on its first request (as on IIS)
/// and is watched from then on: editing it recycles it.
#[test]
fn wildcard_application_created_by_a_request_is_watched() {
    let Some(site) = Site::new("multi_server") else {
        return;
    };
    let server = site.serve();
    let v1 = "require('http').createServer(function (q, s) { s.end('three-v1'); }).listen(process.env.PORT);\n";
    site.write("server3.js", v1);
    assert_eq!(server.get("/server3.js").text(), "three-v1");
    // The supervisor notices the new application within a moment and watches it.
    std::thread::sleep(Duration::from_millis(800));
    let mark = server.mark();
    site.write("server3.js", &v1.replace("three-v1", "three-v2"));
    let deadline = std::time::Instant::now() + TIMEOUT;
    while server.get("/server3.js").text() != "three-v2" {
        assert!(
            std::time::Instant::now() < deadline,
            "the edit never took effect\n{}",
            server.transcript()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A new process for server3.js after the edit: a recycle of the watched application,
    // or (when the edit lands while the reload that lists server3.js is under way) the
    // application re-created by that reload. Either way node runs the new code.
    server.wait_for_event_after(
        mark,
        |e| (is_event(e, "recycle") || is_event(e, "spawned")) && e["app"] == "server3.js",
        TIMEOUT,
    );
}

/// iisnode's sample iisnode.yml, as Tomasz Janczuk's post introducing iisnode.yml printed it
/// (trailing spaces included): the stock interceptor named by its installed path. On
/// Windows that is the file the default names; iisn ran the path itself, node could not
/// find it and every request answered 500.1002.
#[test]
fn stock_interceptor_named_by_its_installed_path_runs_the_app() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write(
        "iisnode.yml",
        "node_env: production  \nnodeProcessCommandLine: \"c:\\program files\\nodejs\\node.exe\"  \ninterceptor: \"c:\\program files\\iisnode\\interceptor.js\"  \nloggingEnabled: true  \n",
    );
    let server = site.serve();
    let r = server.get("/hello.js");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Hello, world!"),
        "{}",
        server.transcript()
    );
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_iisn"))
        .args(["--color", "never", "check"])
        .arg(site.root())
        .output()
        .expect("run iisn check");
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(!out.contains("IISN7006"), "no interceptor warning: {out}");
}
