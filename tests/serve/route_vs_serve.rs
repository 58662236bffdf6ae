//! `iisn route` and `iisn serve` never disagree: each URL is routed by `iisn route --format
//! json` and then requested from a real `iisn serve --trace` with node on the same site copy,
//! and the outcome, status and final target must match what came over the wire:
//!
//! * `app`: the request reached a worker of the script route named (the worker in serve's
//!   trace line), and serve's own trace says the same;
//! * `file`: 200 with the bytes of the file route named;
//! * `redirect`: the status and `Location`;
//! * `error`, `custom-response`, `not-emulated`: the status and sub-status
//!   (`x-iisn-substatus`);
//! * `abort`: the connection closed without a byte.
//!
//! The sites are the README's examples (Kudu, SPA, express-subpath, default documents) and
//! the pipeline fixture with Redirect, CustomResponse and AbortRequest rules.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Site, is_event};

/// `iisn route <site> <urls> --format json`, one object per URL.
fn route(site: &Site, urls: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iisn"));
    cmd.arg("route")
        .arg(site.root())
        .args(urls)
        .args(["--format", "json"])
        // The Host the raw requests below send (IIS's folder redirect names it).
        .args(["--header", "Host: 127.0.0.1"])
        .current_dir(site.root())
        .env("NO_COLOR", "1");
    for (k, _) in std::env::vars_os() {
        let name = k.to_string_lossy().to_ascii_uppercase();
        if name.starts_with("IISNODE_") || name.starts_with("IISN_") {
            cmd.env_remove(&k);
        }
    }
    let out = cmd.output().expect("run iisn route");
    assert!(
        out.status.success(),
        "iisn route failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), urls.len(), "{text}");
    lines
}

/// Routes every URL with `iisn route`, requests it from `iisn serve --trace`, and compares.
fn compare(site: &Site, urls: &[&str]) {
    let routed = route(site, urls);
    let server = site.iisn().arg("--no-watch").arg("--trace").start();
    for (url, r) in urls.iter().zip(&routed) {
        assert_eq!(r["url"], *url);
        let outcome = r["outcome"].as_str().expect("outcome");
        let mark = server.mark();
        let resp = server.raw_get(url);
        let ctx = format!("{url}: route said {r}\nserve answered {resp:?}");
        match outcome {
            "abort" => assert_eq!(resp.raw_len, 0, "{ctx}"),
            "redirect" => {
                assert_eq!(
                    Some(resp.status),
                    r["status"].as_u64().map(|s| s as u16),
                    "{ctx}"
                );
                assert_eq!(resp.header("location"), r["location"].as_str(), "{ctx}");
            }
            "file" => {
                assert_eq!(resp.status, 200, "{ctx}");
                let file = r["file"].as_str().expect("file");
                let bytes = std::fs::read(site.path(file)).expect("the file route named");
                assert_eq!(resp.body, bytes, "{ctx}");
            }
            "listing" => {
                assert_eq!(resp.status, 200, "{ctx}");
                assert!(resp.text().contains(url), "{ctx}");
            }
            "app" => {}
            "debugger" => {
                assert_eq!(resp.status, 200, "{ctx}");
                assert!(resp.text().contains("debugger"), "{ctx}");
            }
            "error" | "custom-response" | "not-emulated" => {
                assert_eq!(
                    Some(resp.status),
                    r["status"].as_u64().map(|s| s as u16),
                    "{ctx}"
                );
                let sub = r["substatus"].as_u64().expect("substatus");
                let got = resp
                    .header("x-iisn-substatus")
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
                assert_eq!(got, sub, "{ctx}");
            }
            other => panic!("unexpected outcome {other}: {ctx}"),
        }
        // serve's own trace of the same request: same decision, and (for `app`) the worker
        // that answered belongs to the script route named.
        let t = server.wait_for_event_after(
            mark,
            |e| is_event(e, "trace") && e["url"] == *url,
            Duration::from_secs(20),
        );
        for key in [
            "outcome",
            "status",
            "substatus",
            "app",
            "file",
            "location",
            "rewritten_url",
        ] {
            assert_eq!(
                t[key], r[key],
                "{key} differs for {url}\nroute: {r}\nserve: {t}"
            );
        }
        if outcome == "app" {
            let script = r["app"]["script"].as_str().expect("script");
            assert_eq!(t["response"]["worker"]["app"], script, "{ctx}\ntrace: {t}");
        } else {
            assert!(t["response"]["worker"].is_null(), "{ctx}\ntrace: {t}");
        }
    }
}

#[test]
fn kudu() {
    let Some(site) = Site::example("kudu") else {
        return;
    };
    let urls = [
        "/",
        "/about.html",
        "/css/site.css",
        "/web.config",
        "/api/items?x=1",
        "/public/about.html",
        "/server.js",
        "/iisnode.yml",
    ];
    let r = route(&site, &urls);
    assert_eq!(r[0]["app"]["script"], "server.js");
    assert_eq!(r[1]["file"], "public/about.html");
    assert_eq!(
        (&r[3]["status"], &r[3]["substatus"]),
        (&404.into(), &8.into())
    );
    compare(&site, &urls);
}

#[test]
fn spa() {
    let Some(site) = Site::example("spa") else {
        return;
    };
    let urls = [
        "/",
        "/settings/profile",
        "/api/todos",
        "/assets/app.js",
        "/old-home?x=1",
        "/assets",
        "/web.config",
    ];
    let r = route(&site, &urls);
    assert_eq!(r[1]["file"], "index.html");
    assert_eq!(r[1]["rewritten_url"], "/index.html");
    assert_eq!(r[2]["app"]["script"], "server.js");
    compare(&site, &urls);
}

#[test]
fn express_subpath() {
    let Some(site) = Site::example("express-subpath") else {
        return;
    };
    let urls = [
        "/",
        "/index.html",
        "/api/users",
        "/api/users/2",
        "/api/node_modules/x.js",
        "/missing.html",
    ];
    let r = route(&site, &urls);
    assert_eq!(r[2]["app"]["script"], "api/app.js");
    compare(&site, &urls);
}

/// iisnode's debugger URLs: serve answers them before node, and route says so (it used to
/// say `app`).
#[test]
fn debugger_urls() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    let urls = [
        "/hello.js/debug",
        "/hello.js/debug/?kill",
        "/hello.js/DEBUG/",
        "/hello.js",
    ];
    let r = route(&site, &urls);
    assert_eq!(r[0]["outcome"], "redirect");
    assert_eq!(r[0]["location"], "/hello.js/debug/");
    assert_eq!(r[1]["outcome"], "debugger");
    assert_eq!(r[2]["outcome"], "debugger");
    assert_eq!(r[3]["outcome"], "app");
    compare(&site, &urls);
}

#[test]
fn default_document() {
    let Some(site) = Site::example("default-document") else {
        return;
    };
    let urls = [
        "/",
        "/docs",
        "/docs/",
        "/downloads/",
        "/gallery/",
        "/downloads/readme.txt",
    ];
    let r = route(&site, &urls);
    assert_eq!(r[0]["app"]["script"], "index.js");
    assert_eq!(r[1]["outcome"], "redirect");
    assert_eq!(r[2]["file"], "docs/index.html");
    assert_eq!(
        (&r[3]["status"], &r[3]["substatus"]),
        (&403.into(), &14.into())
    );
    assert_eq!(r[4]["outcome"], "listing");
    compare(&site, &urls);
}

#[test]
fn rule_actions() {
    let Some(site) = Site::pipeline("rules") else {
        return;
    };
    // replace/web.config holds a deliberate configuration error (for the httpErrors tests),
    // and `iisn route` refuses to route a site with errors (exit 1).
    std::fs::remove_dir_all(site.path("replace")).expect("remove replace/");
    let urls = [
        "/abort",
        "/gone",
        "/old/a/b?q=1",
        "/static/a.txt",
        "/Some/Path",
        "/web.config",
        "/static/missing.txt",
    ];
    let r = route(&site, &urls);
    let outcomes: Vec<&str> = r
        .iter()
        .map(|v| v["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        outcomes,
        [
            "abort",
            "custom-response",
            "redirect",
            "file",
            "app",
            "error",
            "error"
        ]
    );
    compare(&site, &urls);
}

#[test]
fn trace_pattern_limits_what_is_traced() {
    let Some(site) = Site::example("spa") else {
        return;
    };
    let server = site.iisn().arg("--no-watch").arg("--trace=/api").start();
    assert_eq!(server.raw_get("/assets/app.js").status, 200);
    assert_eq!(server.raw_get("/api/todos").status, 200);
    let t = server.wait_for_event(|e| is_event(e, "trace"), Duration::from_secs(20));
    assert_eq!(t["url"], "/api/todos");
    assert_eq!(t["response"]["status"], 200);
    // Only URLs containing the pattern are traced.
    let traced: Vec<Value> = server
        .events()
        .into_iter()
        .filter(|e| is_event(e, "trace"))
        .collect();
    assert_eq!(traced.len(), 1, "{traced:?}");
}

#[test]
fn iisn_log_shows_engine_internals() {
    let Some(site) = Site::example("hello") else {
        return;
    };
    let server = site
        .iisn()
        .arg("--no-watch")
        .env("IISN_LOG", "iisn::serve=debug")
        .start();
    assert_eq!(server.raw_get("/hello.js").status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let err = server.stderr();
        if err.contains("spawned worker") && err.contains("connected to worker") {
            assert!(
                err.contains("iisn-loader"),
                "the command line is logged: {err}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no engine debug lines on stderr:\n{err}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `filteringRules` (404.19), `alwaysAllowedUrls` and `alwaysAllowedQueryStrings`: route and
/// serve agree, and route says which rule denied (with its place) or what the always-allowed
/// lists exempted.
#[test]
fn filtering_rules_and_always_allowed() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write(
        "web.config",
        r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="hello.js" verb="*" modules="iisnode" />
    </handlers>
    <security>
      <requestFiltering>
        <denyUrlSequences><add sequence="--" /></denyUrlSequences>
        <filteringRules>
          <filteringRule name="sql" scanUrl="true" scanQueryString="true">
            <denyStrings><add string="xp_" /></denyStrings>
          </filteringRule>
        </filteringRules>
        <alwaysAllowedUrls><add url="/hello.js/a--xp_" /></alwaysAllowedUrls>
        <alwaysAllowedQueryStrings><add queryString="q=xp_" /></alwaysAllowedQueryStrings>
      </requestFiltering>
    </security>
  </system.webServer>
</configuration>
"#,
    );
    let urls = [
        "/hello.js?x=xp_",
        "/hello.js/XP_",
        "/hello.js/a--b",
        "/hello.js/a--xp_",
        "/hello.js?q=xp_",
        "/hello.js?q=ok",
    ];
    let r = route(&site, &urls);
    let got: Vec<(String, u64)> = r
        .iter()
        .map(|v| {
            (
                v["outcome"].as_str().unwrap_or("").to_string(),
                v["substatus"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let want = [
        ("error", 19),
        ("error", 19),
        ("error", 5),
        ("app", 0),
        ("app", 0),
        ("app", 0),
    ];
    assert_eq!(got, want.map(|(o, s)| (o.to_string(), s)), "{r:#?}");
    assert_eq!(r[0]["steps"][0]["check"], "filteringRules");
    assert_eq!(r[0]["steps"][0]["config"], "web.config:11:12");
    assert!(
        r[3]["steps"][0]["exempt"][0]
            .as_str()
            .is_some_and(|x| x.starts_with("alwaysAllowedUrls lists /hello.js/a--xp_")),
        "{}",
        r[3]
    );
    assert!(
        r[4]["steps"][0]["exempt"][0]
            .as_str()
            .is_some_and(|x| x.starts_with("alwaysAllowedQueryStrings lists ?q=xp_")),
        "{}",
        r[4]
    );
    compare(&site, &urls);
}

/// Attempts at a site's source and settings: route and serve agree on every one (encoded
/// and double-encoded traversal, backslashes, case, stream names, PATH_INFO climbing out of
/// a script), including the two they used to disagree on or get wrong: a script whose
/// mapping is in `<location path="api.js">` (served as text) and a file below a web.config
/// iisn never reads (route said `file`, serve answered 500.19).
#[test]
fn source_exposure_attempts() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write(
        "web.config",
        r#"<configuration>
  <system.webServer>
    <handlers><add name="iisnode" path="hello.js" verb="*" modules="iisnode"/></handlers>
  </system.webServer>
  <location path="api.js"><system.webServer><handlers>
    <add name="api" path="api.js" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
</configuration>"#,
    );
    site.write(
        "api.js",
        "require('http').createServer((q, s) => s.end('api')).listen(process.env.PORT);\n",
    );
    site.write("iisnode.yml", "nodeProcessCountPerApplication: 1\n");
    site.write("bin/x.txt", "bin\n");
    site.write("public/a.txt", "public\n");
    site.write("node_modules/pkg/a.js", "// pkg source\n");
    site.write(
        "node_modules/pkg/web.config",
        r#"<configuration><system.webServer><handlers><add name="pkg" path="a.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
    );
    site.write("node_modules/other/b.js", "// public\n");
    let urls = [
        "/api.js",
        "/api.js/x",
        "/node_modules/pkg/a.js",
        "/node_modules/other/b.js",
        "/public/a.txt",
        "/Web.Config",
        "/public/..%2fweb.config",
        "/public/..%5Cweb.config",
        "/public/%2e%2e/hello.js",
        "/%252e%252e/web.config",
        "/%2e%2e/outside.txt",
        "/hello.js/../web.config",
        "/hello.js::$DATA",
        "/web.config%20",
        "/IISNODE.YML",
        "/bin/x.txt",
    ];
    let r = route(&site, &urls);
    assert_eq!(r[0]["app"]["script"], "api.js");
    assert_eq!(r[1]["app"]["path_info"], "/x");
    assert_eq!(
        (&r[2]["status"], &r[2]["substatus"]),
        (&500.into(), &19.into())
    );
    assert_eq!(r[3]["outcome"], "file");
    for v in &r[5..] {
        assert_ne!(v["outcome"], "file", "{v}");
    }
    compare(&site, &urls);
}
