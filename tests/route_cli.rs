//! `iisn route`: the trace in words and as JSON (docs/route-json.md), on the examples and on
//! small sites written here, and its exit codes (0 routed, 1 configuration errors, 2 usage).
//! That `route` agrees with a real `iisn serve` is tested in tests/serve/route_vs_serve.rs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn iisn() -> Command {
    let mut c = Command::cargo_bin("iisn").expect("the iisn binary");
    c.env("NO_COLOR", "1").env_remove("IISN_LOG");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy()
            .to_ascii_uppercase()
            .starts_with("IISNODE_")
        {
            c.env_remove(&k);
        }
    }
    c
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// Runs `iisn route <site> <urls> --format json` and parses one object per line.
fn route_json(site: &Path, urls: &[&str], extra: &[&str]) -> Vec<Value> {
    let out = iisn()
        .arg("route")
        .arg(site)
        .args(urls)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .expect("run iisn");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let v: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(v.len(), urls.len(), "{text}");
    v
}

fn site_with(web_config: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("web.config"), web_config).expect("write web.config");
    for (rel, text) in files {
        let p = dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }
    dir
}

#[test]
fn kudu_explains_each_outcome() {
    let out = iisn()
        .args(["route"])
        .arg(example("kudu"))
        .args(["/", "/about.html", "/web.config"])
        .output()
        .expect("run iisn");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // `/`: StaticContent rewrites to public/, which is not a file, so DynamicContent sends
    // it to server.js, mapped to iisnode.
    assert!(text.contains("GET /\n"), "{text}");
    assert!(
        text.contains(r#"rule "DynamicContent" (web.config:22:10)"#),
        "{text}"
    );
    assert!(
        text.contains(r#"handler "iisnode" at web.config:12:8"#),
        "{text}"
    );
    assert!(text.contains("→ app 200: server.js"), "{text}");
    // `/about.html`: public/about.html exists, so the IsFile condition keeps it static.
    assert!(text.contains("conditions not met"), "{text}");
    assert!(text.contains("→ file 200: public/about.html"), "{text}");
    // `/web.config`: request filtering, before any rule.
    assert!(
        text.contains("the request /web.config is denied: 404.8 by hiddenSegments"),
        "{text}"
    );
    assert!(text.contains("→ error 404.8"), "{text}");
}

#[test]
fn json_has_the_documented_fields() {
    let v = route_json(&example("kudu"), &["/", "/about.html", "/web.config"], &[]);
    let stages = [
        "filter",
        "rewrite",
        "handler",
        "default-document",
        "static",
        "error-page",
    ];
    for o in &v {
        for key in [
            "url",
            "outcome",
            "status",
            "substatus",
            "app",
            "file",
            "location",
            "rewritten_url",
            "rules",
            "steps",
        ] {
            assert!(o.get(key).is_some(), "{key} missing in {o}");
        }
        for r in o["rules"].as_array().expect("rules") {
            for key in ["name", "config", "input", "matched"] {
                assert!(r.get(key).is_some(), "{key} missing in rule {r}");
            }
            assert_eq!(r.get("action").is_some(), r["matched"] == true, "{r}");
        }
        for s in o["steps"].as_array().expect("steps") {
            let stage = s["stage"].as_str().expect("stage");
            assert!(stages.contains(&stage), "{stage}");
        }
    }
    assert_eq!(v[0]["outcome"], "app");
    assert_eq!(v[0]["app"]["script"], "server.js");
    assert_eq!(v[0]["app"]["path_info"], "");
    assert_eq!(v[0]["rewritten_url"], "/server.js");
    assert_eq!(v[1]["outcome"], "file");
    assert_eq!(v[1]["status"], 200);
    assert_eq!(v[1]["file"], "public/about.html");
    assert_eq!(v[1]["rewritten_url"], "/public/about.html");
    let rules: Vec<(&str, bool)> = v[1]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| (r["name"].as_str().unwrap_or(""), r["matched"] == true))
        .collect();
    assert_eq!(
        rules,
        [
            ("NodeInspector", false),
            ("StaticContent", true),
            ("DynamicContent", false)
        ]
    );
    assert_eq!(v[1]["rules"][1]["config"], "web.config:19:10");
    assert_eq!(v[1]["rules"][1]["action"]["type"], "Rewrite");
    assert_eq!(v[2]["outcome"], "error");
    assert_eq!(
        (&v[2]["status"], &v[2]["substatus"]),
        (&404.into(), &8.into())
    );
    assert_eq!(v[2]["rewritten_url"], Value::Null);
    assert_eq!(v[2]["rules"].as_array().map(Vec::len), Some(0));
    assert_eq!(v[2]["steps"][0]["check"], "hiddenSegments");
    assert_eq!(v[2]["steps"][1]["stage"], "error-page");
}

const RULES: &str = r#"<configuration>
  <system.webServer>
    <handlers>
      <add name="php" path="*.php" verb="*" modules="FastCgiModule" scriptProcessor="php-cgi" resourceType="Unspecified" />
      <add name="iisnode" path="app.js" verb="*" modules="iisnode" />
    </handlers>
    <directoryBrowse enabled="true" />
    <rewrite>
      <rules>
        <rule name="abort" stopProcessing="true">
          <match url="^abort$" />
          <action type="AbortRequest" />
        </rule>
        <rule name="teapot" stopProcessing="true">
          <match url="^tea/(\w+)$" />
          <conditions>
            <add input="{QUERY_STRING}" pattern="cup=(\d+)" />
          </conditions>
          <action type="CustomResponse" statusCode="418" subStatusCode="3" statusReason="Teapot" />
        </rule>
        <rule name="moved" stopProcessing="true">
          <match url="^old/(.*)" />
          <action type="Redirect" url="new/{R:1}" redirectType="Found" />
        </rule>
        <rule name="api" stopProcessing="true">
          <match url="^api/(.*)" />
          <action type="Rewrite" url="app.js/{R:1}" />
        </rule>
      </rules>
    </rewrite>
  </system.webServer>
</configuration>"#;

#[test]
fn every_outcome() {
    let site = site_with(
        RULES,
        &[
            ("app.js", "//"),
            ("index.php", "<?php"),
            ("files/a.txt", "a"),
        ],
    );
    let urls = [
        "/abort",
        "/tea/green?cup=2",
        "/tea/green",
        "/old/x/y?q=1",
        "/api/users/7?z=1",
        "/index.php",
        "/files/",
        "/files/a.txt",
        "/nothing",
    ];
    let v = route_json(site.path(), &urls, &[]);
    let got: Vec<(String, Value, Value)> = v
        .iter()
        .map(|o| {
            (
                o["outcome"].as_str().unwrap_or("").to_string(),
                o["status"].clone(),
                o["substatus"].clone(),
            )
        })
        .collect();
    let want = [
        ("abort", Value::Null, 0),
        ("custom-response", 418.into(), 3),
        ("error", 404.into(), 0),
        ("redirect", 302.into(), 0),
        ("app", 200.into(), 0),
        ("not-emulated", 500.into(), 21),
        ("listing", 200.into(), 0),
        ("file", 200.into(), 0),
        ("error", 404.into(), 0),
    ];
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (g.0.as_str(), &g.1, &g.2),
            (w.0, &w.1, &w.2.into()),
            "{v:?}"
        );
    }
    // The condition's expanded input and its captures are in the trace.
    let tea = &v[1]["steps"][2];
    assert_eq!(tea["name"], "teapot");
    assert_eq!(tea["conditions"][0]["expanded"], "cup=2");
    assert_eq!(tea["condition_captures"], serde_json::json!(["cup=2", "2"]));
    assert_eq!(v[3]["location"], "http://localhost:8080/new/x/y?q=1");
    assert_eq!(v[4]["app"]["script"], "app.js");
    assert_eq!(v[4]["app"]["path_info"], "/users/7");
    assert_eq!(v[4]["rewritten_url"], "/app.js/users/7?z=1");
    assert_eq!(v[7]["file"], "files/a.txt");
}

/// Regression: a file below a web.config iisn never reads (in node_modules) is a 500.19 in
/// `iisn serve`, which will not send it as if the file were not there; `iisn route` said
/// "file 200" for it.
#[test]
fn a_file_below_an_unread_web_config_is_a_500_19_as_in_serve() {
    let site = site_with(
        r#"<configuration><system.webServer><handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
        &[
            ("server.js", "//"),
            ("node_modules/pkg/a.js", "// source"),
            (
                "node_modules/pkg/web.config",
                r#"<configuration><system.webServer><handlers><add name="pkg" path="a.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
            ),
            ("node_modules/other/b.js", "// public"),
        ],
    );
    let v = route_json(
        site.path(),
        &["/node_modules/pkg/a.js", "/node_modules/other/b.js"],
        &[],
    );
    assert_eq!(v[0]["outcome"], "error", "{}", v[0]);
    assert_eq!(v[0]["status"], 500, "{}", v[0]);
    assert_eq!(v[0]["substatus"], 19, "{}", v[0]);
    assert_eq!(v[1]["outcome"], "file", "{}", v[1]);
}

/// A `#fragment` is not part of what the server gets (serve's HTTP parser drops it); route
/// looked for a file named `a.txt#top`.
#[test]
fn a_fragment_is_not_part_of_the_path() {
    let site = site_with("<configuration/>", &[("a.txt", "a")]);
    let v = route_json(site.path(), &["/a.txt#top", "/a.txt?x=1#top"], &[]);
    assert_eq!(v[0]["outcome"], "file", "{}", v[0]);
    assert_eq!(v[1]["outcome"], "file", "{}", v[1]);
}

#[test]
fn app_path_applies_as_in_serve() {
    let v = route_json(
        &example("hello"),
        &["/node/hello.js/x", "/hello.js"],
        &["--app-path", "/node"],
    );
    assert_eq!(v[0]["outcome"], "app");
    assert_eq!(v[0]["app"]["path_info"], "/x");
    assert_eq!(v[1]["outcome"], "error");
    assert_eq!(v[1]["status"], 404);
}

#[test]
fn method_and_headers_reach_the_pipeline() {
    let v = route_json(
        &example("kudu"),
        &["/about.html"],
        &["--method", "post", "--header", "Content-Length: 40000000"],
    );
    assert_eq!(v[0]["method"], "POST");
    assert_eq!(
        (&v[0]["status"], &v[0]["substatus"]),
        (&413.into(), &1.into())
    );
    assert_eq!(v[0]["steps"][0]["check"], "maxAllowedContentLength");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["route"],
        vec!["route", "examples/kudu"],
        vec!["route", "examples/kudu", "about.html"],
        vec!["route", "examples/kudu", "/", "--header", "nocolon"],
        vec!["route", "examples/kudu", "/", "--method", "GE T"],
        vec!["route", "examples/does-not-exist", "/"],
        vec!["route", "examples/kudu", "/", "--format", "xml"],
    ] {
        let out = iisn()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(&args)
            .output()
            .expect("run iisn");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn configuration_errors_exit_1_with_check_diagnostics() {
    let site = site_with(
        r#"<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="a.js" verb="*" modules="iisnode" />
      <add name="iisnode" path="b.js" verb="*" modules="iisnode" />
    </handlers>
  </system.webServer>
</configuration>"#,
        &[("a.js", "//")],
    );
    let out = iisn()
        .arg("route")
        .arg(site.path())
        .arg("/a.js")
        .output()
        .expect("run iisn");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error[IISN1004]"), "{err}");
    assert!(err.contains("web.config:5:"), "{err}");
    // The URL is still routed, as serve answers it: IIS cannot load this web.config.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("500.19"), "{stdout}");
}

#[test]
fn iisnode_error_pages_are_an_outcome() {
    // An unknown <iisnode> attribute: iisnode answers its configuration error page for the
    // script (static files are still served); a handler for a missing script: 404.
    let site = site_with(
        r#"<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="a.js" verb="*" modules="iisnode" />
      <add name="iisnode-b" path="b.js" verb="*" modules="iisnode" />
    </handlers>
    <iisnode idontexist="1" />
  </system.webServer>
</configuration>"#,
        &[("a.js", "//"), ("index.html", "hi")],
    );
    let out = iisn()
        .args(["route", "--format", "json"])
        .arg(site.path())
        .args(["/a.js", "/index.html"])
        .output()
        .expect("run iisn");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["outcome"], "iisnode-error", "{stdout}");
    assert_eq!(lines[0]["status"], 200, "{stdout}");
    assert!(
        lines[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("configuration")),
        "{stdout}"
    );
    assert_eq!(lines[1]["outcome"], "file", "{stdout}");

    let site = site_with(
        r#"<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="gone.js" verb="*" modules="iisnode" />
    </handlers>
  </system.webServer>
</configuration>"#,
        &[],
    );
    let out = iisn()
        .args(["route", "--format", "json"])
        .arg(site.path())
        .arg("/gone.js")
        .output()
        .expect("run iisn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["outcome"], "iisnode-error", "{stdout}");
    assert_eq!(v["status"], 404, "{stdout}");
}

#[test]
fn the_ci_script_passes_on_the_spa_example() {
    let jq = std::process::Command::new("jq").arg("--version").output();
    if !jq.is_ok_and(|o| o.status.success()) {
        // CI installs jq (.ci/run): a skip there would hide a broken script.
        assert!(
            std::env::var_os("CI").is_none(),
            "jq is not installed, and CI must run this test"
        );
        eprintln!("skipped: jq is not installed");
        return;
    }
    let out = std::process::Command::new("sh")
        .arg(example("route-ci.sh"))
        .env("IISN", env!("CARGO_BIN_EXE_iisn"))
        .output()
        .expect("run the script");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The error-page step says what `iisn serve` sends for a custom error page: a static
/// file, or IIS's short page for an ExecuteURL page node would write.
#[test]
fn custom_error_pages_are_explained_as_serve_sends_them() {
    let site = site_with(
        r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>
  <httpErrors errorMode="Custom">
    <remove statusCode="404"/><error statusCode="404" path="/server.js" responseMode="ExecuteURL"/>
    <remove statusCode="403"/><error statusCode="403" path="/errors/403.html" responseMode="ExecuteURL"/>
    <remove statusCode="405"/><error statusCode="405" path="/errors/403.html" responseMode="Redirect"/>
  </httpErrors>
</system.webServer></configuration>"#,
        &[
            ("server.js", "//"),
            ("errors/403.html", "forbidden"),
            ("empty/a.txt", "a"),
        ],
    );
    let v = route_json(site.path(), &["/missing", "/empty/"], &[]);
    let page = |o: &Value| {
        o["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["stage"] == "error-page"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(page(&v[0])["page"], "iis", "{v:?}");
    assert_eq!(page(&v[1])["page"], "custom", "{v:?}");
    // Regression: serve answers an ExecuteURL static page with 200 (IIS's child request),
    // but the JSON step only gave the error status (403), so a script comparing route with
    // serve saw them disagree; the human text said "answered 200".
    assert_eq!(page(&v[0])["answered"], 404, "{v:?}");
    assert_eq!(page(&v[1])["answered"], 200, "{v:?}");
    assert_eq!(page(&v[1])["status"], 403, "{v:?}");
    let v = route_json(site.path(), &["/errors/403.html"], &["-X", "POST"]);
    assert_eq!(page(&v[0])["status"], 405, "{v:?}");
    assert_eq!(page(&v[0])["answered"], 302, "{v:?}");
    let out = iisn()
        .arg("route")
        .arg(site.path())
        .args(["/missing", "/empty/"])
        .output()
        .expect("run iisn");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ExecuteURL"), "{text}");
    assert!(text.contains("errors/403.html"), "{text}");
}

/// Regression: route had --auth-user but no --auth-type, so a rule testing {AUTH_TYPE}
/// could only be traced for Negotiate, while `iisn serve --auth-type Basic` answers otherwise.
#[test]
fn auth_type_reaches_rule_conditions_as_in_serve() {
    let dir = site_with(
        r#"<configuration><system.webServer><rewrite><rules>
  <rule name="basic-only" stopProcessing="true">
    <match url=".*"/>
    <conditions><add input="{AUTH_TYPE}" pattern="^Basic$"/></conditions>
    <action type="CustomResponse" statusCode="418" statusReason="Basic" statusDescription="basic"/>
  </rule>
</rules></rewrite></system.webServer></configuration>"#,
        &[],
    );
    let with = |extra: &[&str]| route_json(dir.path(), &["/x"], extra)[0]["status"].clone();
    assert_eq!(
        with(&["--auth-user", "CORP\\alice", "--auth-type", "Basic"]),
        418
    );
    assert_eq!(with(&["--auth-user", "CORP\\alice"]), 404);
    let out = iisn()
        .arg("route")
        .arg(dir.path())
        .args(["/x", "--auth-type", "Basic"])
        .output()
        .expect("run iisn");
    assert_eq!(out.status.code(), Some(2), "--auth-type needs --auth-user");
}
