//! `requestFiltering/filteringRules` (404.19), `alwaysAllowedUrls` and
//! `alwaysAllowedQueryStrings`, and `<mimeMap fileExtension="*">`, end to end with real node
//! (all three were ignored before), plus the 500.19 and `iisn check` diagnostics of a
//! duplicate key in the new collections.

use std::process::Command;

use serde_json::Value;

use super::serve;
use crate::harness::{Server, Site};

const SCRIPT: &str = "require('http').createServer(function (req, res) {\n  res.writeHead(200, { 'Content-Type': 'text/plain' });\n  res.end('svc ran ' + req.url);\n}).listen(process.env.PORT);\n";

fn web_config(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <system.webServer>\n    <handlers>\n      <add name=\"svc\" path=\"svc.js\" verb=\"*\" modules=\"iisnode\" />\n    </handlers>\n{inner}  </system.webServer>\n</configuration>\n"
    )
}

const FILTERING: &str = r#"    <security>
      <requestFiltering>
        <denyUrlSequences>
          <add sequence="--" />
        </denyUrlSequences>
        <filteringRules>
          <filteringRule name="sql" scanUrl="true" scanQueryString="true">
            <denyStrings>
              <add string="drop table" />
              <add string="xp_" />
            </denyStrings>
          </filteringRule>
          <filteringRule name="leech" scanUrl="false" scanQueryString="false">
            <scanHeaders>
              <add requestHeader="User-Agent" />
            </scanHeaders>
            <appliesTo>
              <add fileExtension=".gif" />
            </appliesTo>
            <denyStrings>
              <add string="leech-bot" />
            </denyStrings>
          </filteringRule>
        </filteringRules>
        <alwaysAllowedUrls>
          <add url="/svc.js/report--xp_" />
        </alwaysAllowedUrls>
        <alwaysAllowedQueryStrings>
          <add queryString="q=drop table" />
        </alwaysAllowedQueryStrings>
      </requestFiltering>
    </security>
    <staticContent>
      <mimeMap fileExtension="*" mimeType="application/octet-stream" />
    </staticContent>
"#;

fn site() -> Option<Site> {
    let site = Site::new("hello")?;
    site.write("svc.js", SCRIPT);
    site.write("web.config", &web_config(FILTERING));
    site.write("img/a.gif", "GIF89a");
    site.write("files/data.xyz", "xyz data\n");
    site.write("files/noext", "no extension\n");
    site.write("files/style.css", "body {}\n");
    Some(site)
}

fn assert_denied(s: &Server, target: &str, headers: &[&str], sub: &str) {
    let r = s.raw_get_with(target, headers);
    assert_eq!(r.status, 404, "{target}: {}", r.text());
    assert_eq!(r.header("x-iisn-substatus"), Some(sub), "{target}");
    assert!(
        !r.text().contains("svc ran"),
        "{target} reached node: {}",
        r.text()
    );
}

fn assert_node(s: &Server, target: &str, headers: &[&str]) {
    let r = s.raw_get_with(target, headers);
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    assert!(r.text().starts_with("svc ran "), "{target}: {}", r.text());
}

/// Regression: a deny rule in `<filteringRules>` was not enforced.
#[test]
fn filtering_rules_deny_with_404_19() {
    let Some(site) = site() else {
        return;
    };
    let s = serve(&site, &[]);
    assert_node(&s, "/svc.js?q=select", &[]);
    // The same path again (the memo), then with a query string a rule denies.
    assert_node(&s, "/svc.js?q=select", &[]);
    assert_denied(&s, "/svc.js?q=DROP%20TABLE%20users", &[], "19");
    assert_node(&s, "/svc.js?q=select", &[]);
    assert_denied(&s, "/svc.js/XP_cmdshell", &[], "19");
    assert_denied(&s, "/svc.js/drop%20table", &[], "19");
    let r = s.raw_get("/svc.js?q=xp_");
    assert!(
        r.text().contains("404.19") && r.text().contains("sql"),
        "the detailed page names the sub-status and the rule: {}",
        r.text()
    );
    // Header scans, only for the rule's extensions.
    assert_denied(&s, "/img/a.gif", &["User-Agent: the Leech-Bot/2"], "19");
    let r = s.raw_get_with("/img/a.gif", &["User-Agent: curl"]);
    assert_eq!((r.status, r.text().as_str()), (200, "GIF89a"));
    assert_node(&s, "/svc.js", &["User-Agent: leech-bot"]);
}

/// Regression: `<alwaysAllowedUrls>` / `<alwaysAllowedQueryStrings>` were ignored.
#[test]
fn always_allowed_urls_and_query_strings() {
    let Some(site) = site() else {
        return;
    };
    let s = serve(&site, &[]);
    assert_denied(&s, "/svc.js/a--b", &[], "5");
    // Listed exactly (case-insensitively): denyUrlSequences and the rule's URL scan skipped.
    assert_node(&s, "/svc.js/REPORT--xp_", &[]);
    assert_denied(&s, "/svc.js/report--xp_/more", &[], "5");
    // The query string is still scanned, unless it is listed too.
    assert_denied(&s, "/svc.js/report--xp_?x=xp_", &[], "19");
    assert_node(&s, "/svc.js?q=drop%20table", &[]);
    assert_node(&s, "/svc.js?Q=DROP%20TABLE", &[]);
    assert_denied(&s, "/svc.js?q=drop%20table&x=1", &[], "19");
}

/// Regression: `<mimeMap fileExtension="*">` did not apply (404.3).
#[test]
fn mime_map_wildcard_serves_unmapped_files() {
    let Some(site) = site() else {
        return;
    };
    let s = serve(&site, &[]);
    for (target, body) in [
        ("/files/data.xyz", "xyz data\n"),
        ("/files/noext", "no extension\n"),
    ] {
        let r = s.raw_get(target);
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert_eq!(r.text(), body);
        assert_eq!(
            r.header("content-type"),
            Some("application/octet-stream"),
            "{target}"
        );
    }
    let r = s.raw_get("/files/style.css");
    assert_eq!(r.header("content-type"), Some("text/css"), "exact first");
    site.write(
        "files/web.config",
        "<configuration><system.webServer><staticContent><remove fileExtension=\"*\" /></staticContent></system.webServer></configuration>",
    );
    drop(s);
    let s = serve(&site, &[]);
    let r = s.raw_get("/files/data.xyz");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.header("x-iisn-substatus"), Some("3"));
}

/// `iisn check --format json` on the site: the diagnostics and the exit code.
fn check(site: &Site) -> (Vec<Value>, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_iisn"))
        .args(["check", "--format", "json", "."])
        .current_dir(site.root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run iisn check");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let diags = v["diagnostics"].as_array().cloned().unwrap_or_default();
    (diags, out.status.code())
}

/// A duplicate key in the new collections is IIS's 500.19 (0x800700b7), and `iisn check`
/// reports it with its position and the fix; so is a bad attribute value (0x8007000d).
#[test]
fn duplicate_keys_and_bad_values_are_500_19() {
    let Some(site) = site() else {
        return;
    };
    site.write(
        "dup/web.config",
        "<configuration>\n<system.webServer>\n<security><requestFiltering>\n<filteringRules>\n  <filteringRule name=\"sql\" scanUrl=\"true\"><denyStrings><add string=\"x\" /></denyStrings></filteringRule>\n</filteringRules>\n</requestFiltering></security>\n</system.webServer>\n</configuration>\n",
    );
    site.write("dup/a.txt", "a\n");
    site.write(
        "bad/web.config",
        "<configuration>\n<system.webServer>\n<security><requestFiltering>\n<filteringRules>\n  <filteringRule name=\"r\" scanQueryString=\"yes\" />\n</filteringRules>\n<alwaysAllowedUrls><add url=\"/a\" /><add url=\"/A\" /></alwaysAllowedUrls>\n</requestFiltering></security>\n</system.webServer>\n</configuration>\n",
    );
    site.write("bad/a.txt", "a\n");
    let (diags, code) = check(&site);
    assert_eq!(code, Some(1), "{diags:#?}");
    let find = |code: &str, file: &str| {
        diags
            .iter()
            .find(|d| d["code"] == code && d["file"] == file)
            .unwrap_or_else(|| panic!("no {code} in {file}: {diags:#?}"))
            .clone()
    };
    let dup = find("IISN1004", "dup/web.config");
    assert_eq!(
        (dup["line"].as_u64(), dup["column"].as_u64()),
        (Some(5), Some(24))
    );
    assert!(
        dup["help"]
            .as_str()
            .is_some_and(|h| h.contains("<remove name=\"sql\"/>")),
        "{dup}"
    );
    let bad = find("IISN1006", "bad/web.config");
    assert_eq!(
        (bad["line"].as_u64(), bad["column"].as_u64()),
        (Some(5), Some(44))
    );
    let dup_url = find("IISN1004", "bad/web.config");
    assert!(
        dup_url["help"]
            .as_str()
            .is_some_and(|h| h.contains("<remove url=\"/A\"/>")),
        "{dup_url}"
    );

    let s = serve(&site, &[]);
    for (target, file, hresult) in [
        ("/dup/a.txt", "dup/web.config:5:", "0x800700b7"),
        ("/bad/a.txt", "bad/web.config:5:", "0x8007000d"),
    ] {
        let r = s.raw_get(target);
        let text = r.text();
        assert_eq!(r.status, 500, "{target}: {text}");
        assert!(text.contains("HTTP Error 500.19"), "{target}: {text}");
        assert!(text.contains(file), "{target}: no {file} in {text}");
        assert!(text.contains(hresult), "{target}: no {hresult} in {text}");
    }
    assert_node(&s, "/svc.js", &[]);
}
