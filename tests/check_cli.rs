//! `iisn check` end to end: the real binary, its formats and its exit codes.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn iisn() -> Command {
    let mut c = Command::cargo_bin("iisn").expect("binary built");
    // A clean environment: no IISNODE_* from the developer's shell; the fixtures' stand-in
    // node on PATH.
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check/bin");
    c.env_clear()
        .env("NO_COLOR", "1")
        .env("PATH", bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

const SERVER: &str =
    "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT);\n";

/// A site with one error (IISN6006) and one warning (IISN6013) in its web.config.
fn broken_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        r#"<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="server.js" verb="*" modules="iisnode"/>
    </handlers>
    <rewrite>
      <rules>
        <rule name="api, v1: 100%">
          <match url="^api/(.*"/>
          <action type="Rewrite" url="server.js"/>
        </rule>
        <rule name="slash">
          <match url="^/x"/>
          <action type="Rewrite" url="server.js"/>
        </rule>
      </rules>
    </rewrite>
  </system.webServer>
</configuration>
"#,
    );
    write(dir.path(), "server.js", SERVER);
    dir
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn configuration_example_and_kudu_template_give_no_errors() {
    iisn()
        .args(["check", "examples/configuration", "examples/hello"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ok: no problems in 3 files"));
    iisn()
        .args(["check", "tests/fixtures/webconfigs/kudu.config"])
        .assert()
        .success();
    let out = iisn()
        .args([
            "check",
            "--format",
            "json",
            "examples/configuration",
            "tests/fixtures/webconfigs/kudu.config",
        ])
        .output()
        .expect("runs");
    let doc = json_of(&out);
    assert_eq!(doc["summary"]["errors"], 0, "{doc:#}");
    assert_eq!(doc["summary"]["warnings"], 0, "{doc:#}");
}

#[test]
fn errors_exit_1_and_warnings_only_with_deny_warnings() {
    let site = broken_site();
    iisn()
        .arg("check")
        .arg(site.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[IISN6006]"))
        .stdout(predicate::str::contains("warning[IISN6013]"))
        .stdout(predicate::str::contains("1 error, 1 warning"));
    // Only the warning left.
    let text = fs::read_to_string(site.path().join("web.config")).expect("read");
    fs::write(
        site.path().join("web.config"),
        text.replace("^api/(.*\"", "^api/(.*)\""),
    )
    .expect("write");
    iisn().arg("check").arg(site.path()).assert().success();
    iisn()
        .args(["check", "--deny-warnings"])
        .arg(site.path())
        .assert()
        .code(1);
    // -q hides warnings from the display but not from --deny-warnings.
    iisn()
        .args(["-q", "check"])
        .arg(site.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("warning[").not());
}

#[test]
fn missing_paths_exit_2_but_the_others_are_still_checked() {
    let site = broken_site();
    iisn()
        .args(["check", "does/not/exist"])
        .arg(site.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does/not/exist does not exist"))
        .stdout(predicate::str::contains("error[IISN6006]"));
    iisn().args(["check", "--format", "yaml"]).assert().code(2);
    iisn()
        .args(["check", "--explain", "IISN9999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no diagnostic has the code"));
}

#[test]
fn explain_prints_the_registry_entry() {
    iisn()
        .args(["check", "--explain", "iisn6005"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "IISN6005 rewrite-target-unmapped (error, semantics)",
        ))
        .stdout(predicate::str::contains("static file handler"));
}

#[test]
fn json_has_the_documented_fields() {
    let site = broken_site();
    let out = iisn()
        .args(["check", "--format", "json", "."])
        .current_dir(site.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["schemaVersion"], 1);
    let d = doc["diagnostics"]
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["code"] == "IISN6006")
        .expect("IISN6006");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "web.config");
    assert_eq!(d["line"], 9);
    assert_eq!(d["column"], 23);
    assert_eq!(d["endLine"], 9);
    assert_eq!(d["endColumn"], 31);
    assert!(
        d["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not compile"))
    );
    assert!(d["help"].as_str().is_some_and(|h| h.ends_with('.')));
    assert_eq!(doc["summary"]["errors"], 1);
    assert_eq!(doc["summary"]["warnings"], 1);
    assert_eq!(doc["summary"]["files"], 1);
}

#[test]
fn sarif_is_what_github_code_scanning_reads() {
    let site = broken_site();
    let out = iisn()
        .args(["check", "--format", "sarif", "."])
        .current_dir(site.path())
        .output()
        .expect("runs");
    let doc = json_of(&out);
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    assert_eq!(run["columnKind"], "utf16CodeUnits");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), iisn::diag::codes::ALL.len());
    for r in rules {
        assert!(r["shortDescription"]["text"].is_string());
        assert!(r["fullDescription"]["text"].is_string());
    }
    let results = run["results"].as_array().expect("results");
    let r = results
        .iter()
        .find(|r| r["ruleId"] == "IISN6006")
        .expect("IISN6006");
    assert_eq!(r["level"], "error");
    assert_eq!(
        rules[r["ruleIndex"].as_u64().expect("index") as usize]["id"],
        "IISN6006"
    );
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "web.config");
    assert_eq!(loc["region"]["startLine"], 9);
    assert_eq!(loc["region"]["startColumn"], 23);
    assert!(r["partialFingerprints"]["iisn/v1"].is_string());
    // Every result has a location (GitHub rejects results without one).
    assert!(results.iter().all(|r| r["locations"][0].is_object()));
}

#[test]
fn github_annotations_escape_properties_and_data() {
    let site = broken_site();
    let out = iisn()
        .args(["check", "--format", "github", "."])
        .current_dir(site.path())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("title=IISN6006"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.starts_with(
            "::error file=web.config,line=9,col=23,endLine=9,endColumn=31,title=IISN6006::"
        ),
        "{line}"
    );
    // The rule name `api, v1: 100%` is in the message: `%` escaped, `,` and `:` kept.
    assert!(line.contains("rule `api, v1: 100%25`"), "{line}");
    assert!(line.contains("%0Ahelp: "), "{line}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("::warning file=web.config,line=13,"))
    );
}

#[test]
fn colours_follow_the_flag_and_no_color() {
    let site = broken_site();
    let plain = iisn()
        .args(["check", "--color", "always"])
        .env_remove("NO_COLOR")
        .arg(site.path())
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&plain.stdout).contains("\u{1b}["));
    for args in [vec!["check"], vec!["check", "--color", "never"]] {
        let out = iisn().args(args).arg(site.path()).output().expect("runs");
        assert!(!String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
    }
    // Not a terminal and no NO_COLOR: still plain.
    let out = iisn()
        .arg("check")
        .env_remove("NO_COLOR")
        .arg(site.path())
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
}

#[test]
fn a_single_web_config_is_checked_within_its_site() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        "<configuration><system.webServer><handlers><add name=\"iisnode\" path=\"server.js\" verb=\"*\" modules=\"iisnode\"/></handlers></system.webServer></configuration>\n",
    );
    write(dir.path(), "server.js", SERVER);
    write(
        dir.path(),
        "api/web.config",
        "<configuration><system.webServer><webSocket enabled=\"maybe\"/></system.webServer></configuration>\n",
    );
    // The folder: the error in api/web.config counts.
    iisn().arg("check").arg(dir.path()).assert().code(1);
    // The root file alone: it is clean.
    iisn()
        .arg("check")
        .arg(dir.path().join("web.config"))
        .assert()
        .success();
    iisn()
        .arg("check")
        .arg(dir.path().join("api/web.config"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("IISN1006"));
}

#[test]
fn a_lone_iisnode_yml_is_checked_with_iisnodes_grammar() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "iisnode.yml", "loggingEnabled: perhaps\n");
    iisn()
        .arg("check")
        .arg(dir.path().join("iisnode.yml"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[IISN3002]"))
        .stdout(predicate::str::contains("iisnode.yml:1:17"));
}

/// iisnode re-reads iisnode.yml only when a watchedFiles entry's file-name part equals the
/// whole configOverrides value: with the file in a sub-folder no entry can, and check says so.
#[test]
fn an_iisnode_yml_in_a_sub_folder_is_never_re_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        "<configuration><system.webServer><handlers><add name=\"iisnode\" path=\"server.js\" verb=\"*\" modules=\"iisnode\"/></handlers><iisnode configOverrides=\"config\\iisnode.yml\" watchedFiles=\"*.js;config\\iisnode.yml\"/></system.webServer></configuration>\n",
    );
    write(dir.path(), "server.js", SERVER);
    write(dir.path(), "config/iisnode.yml", "node_env: production\n");
    iisn()
        .arg("check")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("warning[IISN5024]"))
        .stdout(predicate::str::contains(
            "recycles the application without re-reading it",
        ));
}

#[test]
fn the_docs_list_every_lint_and_are_fresh() {
    let out = iisn()
        .args(["check", "--explain-all-markdown"])
        .output()
        .expect("runs");
    let generated = String::from_utf8_lossy(&out.stdout);
    let committed = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/lints.md"))
        .expect("docs/lints.md exists");
    assert!(
        generated == committed,
        "docs/lints.md is stale: run `cargo run -- check --explain-all-markdown > docs/lints.md`"
    );
    for l in iisn::diag::codes::ALL {
        assert!(committed.contains(&format!("## {}", l.code)), "{}", l.code);
    }
}

/// Every web.config copied from a real project into `tests/fixtures/webconfigs/` (see its
/// README) is free of errors, each read on its own.
#[test]
fn real_world_web_configs_give_no_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webconfigs");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("webconfigs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "config"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let out = iisn()
        .args(["check", "--format", "json"])
        .args(&files)
        .output()
        .expect("runs");
    let doc = json_of(&out);
    let errors: Vec<&Value> = doc["diagnostics"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(doc["summary"]["files"], files.len());
}

/// Valid IIS sites that do not use iisnode (`tests/fixtures/webconfigs/iis-sites/`: SPA
/// fallbacks, a static site, PHP, ASP.NET Core, HttpPlatformHandler, a reverse proxy,
/// outbound header rules, configSource), written in the shape of public examples (see the
/// README): `iisn check` exits 0 with no error on each, says at most in a note that no
/// handler runs iisnode, and notes the handlers `iisn serve` does not emulate.
#[test]
fn valid_iis_sites_without_iisnode_pass_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webconfigs/iis-sites");
    let mut sites: Vec<_> = fs::read_dir(&dir)
        .expect("iis-sites")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sites.sort();
    assert!(sites.len() >= 8, "{sites:?}");
    for site in &sites {
        let name = site.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let out = iisn()
            .args(["check", "--format", "json"])
            .arg(site)
            .output()
            .expect("runs");
        let doc = json_of(&out);
        let diags = doc["diagnostics"].as_array().expect("array");
        let errors: Vec<&Value> = diags.iter().filter(|d| d["severity"] == "error").collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        assert!(out.status.success(), "{name}: exit {:?}", out.status.code());
        let no_handler: Vec<&Value> = diags.iter().filter(|d| d["code"] == "IISN6001").collect();
        assert_eq!(no_handler.len(), 1, "{name}");
        assert_eq!(no_handler[0]["severity"], "info", "{name}");
        let gaps = diags.iter().filter(|d| d["code"] == "IISN6024").count();
        let expected_gaps = match name {
            "aspnetcore" | "httpplatform-python" | "php-wordpress" => 1,
            _ => 0,
        };
        assert_eq!(gaps, expected_gaps, "{name}: {diags:#?}");
        let unknown_var = diags.iter().any(|d| {
            d["code"] == "IISN6011" && d["message"].as_str().unwrap_or("").contains("WARMUP")
        });
        assert!(
            !unknown_var,
            "{name}: WARMUP_REQUEST is a known server variable"
        );
    }
}

/// The same site with a package.json is a node repository without an iisnode handler: a
/// warning (exit 0), not an error.
#[test]
fn a_missing_iisnode_handler_in_a_node_repository_is_a_warning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webconfigs/iis-sites/spa-angular/web.config");
    fs::copy(&src, tmp.path().join("web.config")).expect("copy");
    fs::write(tmp.path().join("package.json"), "{\"name\":\"x\"}\n").expect("write");
    let out = iisn()
        .args(["check", "--format", "json"])
        .arg(tmp.path())
        .output()
        .expect("runs");
    let doc = json_of(&out);
    let d = doc["diagnostics"]
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["code"] == "IISN6001")
        .cloned()
        .expect("IISN6001");
    assert_eq!(d["severity"], "warning");
    assert!(out.status.success());
}

/// `iisn check --format json` on a site of one web.config and `server.js`: the diagnostics
/// as (code, message), and the exit code.
fn check_site(web_config: &str) -> (Vec<(String, String)>, Option<i32>) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "web.config", web_config);
    write(dir.path(), "server.js", SERVER);
    let out = iisn()
        .args(["check", "--format", "json"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let found = v["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (found, out.status.code())
}

/// A server variable an earlier rule sets (`<serverVariables><set>`) is one a later rule
/// may read: not reported as unknown (IISN6011), while setting it is (IISN6018).
#[test]
fn a_server_variable_a_rule_sets_is_known() {
    let (found, _) = check_site(
        r#"<configuration>
  <system.webServer>
    <handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>
    <rewrite>
      <rules>
        <rule name="setvar">
          <match url="^sv/"/>
          <serverVariables><set name="MY_VAR" value="hello"/></serverVariables>
          <action type="None"/>
        </rule>
        <rule name="usevar" stopProcessing="true">
          <match url=".*"/>
          <conditions><add input="{my_var}" pattern="^hello$"/><add input="{NOT_SET}" pattern="x"/></conditions>
          <action type="Rewrite" url="server.js"/>
        </rule>
      </rules>
    </rewrite>
  </system.webServer>
</configuration>
"#,
    );
    let unknown: Vec<_> = found.iter().filter(|(c, _)| c == "IISN6011").collect();
    assert_eq!(unknown.len(), 1, "{found:?}");
    assert!(unknown[0].1.contains("NOT_SET"), "{found:?}");
    assert!(found.iter().any(|(c, _)| c == "IISN6018"), "{found:?}");
}

/// A watchedFiles entry whose folder's parent does not exist: iisnode's watcher cannot open
/// it and the application does not start (IISN5023, an error); one whose last folder is
/// missing is tolerated, as iisnode tolerates it.
#[test]
fn a_watched_folder_without_its_parent_is_an_error() {
    let (found, code) = check_site(
        r#"<configuration><system.webServer>
<handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>
<iisnode watchedFiles="*.js;nodir\deeper\*.js;alsonot\*.json"/>
</system.webServer></configuration>
"#,
    );
    let found: Vec<&String> = found
        .iter()
        .filter(|(c, _)| c == "IISN5023")
        .map(|(_, m)| m)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("nodir"), "{found:?}");
    assert_eq!(code, Some(1));
}

/// `broken_site` with the error fixed: one warning (IISN6013) and nothing else.
fn warning_only_site() -> tempfile::TempDir {
    let site = broken_site();
    let text = fs::read_to_string(site.path().join("web.config")).expect("read");
    fs::write(
        site.path().join("web.config"),
        text.replace("^api/(.*\"", "^api/(.*)\""),
    )
    .expect("write");
    site
}

/// Regression: `--deny-warnings -q` failed with nothing printed. Warnings that fail the run
/// are failures, and -q still shows those.
#[test]
fn deny_warnings_shows_the_warnings_that_fail_the_run_even_with_quiet() {
    let site = warning_only_site();
    iisn()
        .args(["-q", "check", "--deny-warnings"])
        .arg(site.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("warning[IISN6013]"))
        .stdout(predicate::str::contains("check: 1 warning in 1 file"));
    iisn()
        .args(["-q", "check", "--deny-warnings", "--format", "github"])
        .arg(site.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("::warning file="));
}

/// Regression: -q printed the summary line of a run that passed. "Print only errors": the
/// summary only when something fails.
#[test]
fn quiet_prints_nothing_when_the_run_passes_and_the_summary_when_it_fails() {
    let site = warning_only_site();
    iisn()
        .args(["-q", "check"])
        .arg(site.path())
        .assert()
        .success()
        .stdout("");
    iisn()
        .args(["-q", "check", "examples/hello"])
        .assert()
        .success()
        .stdout("");
    let broken = broken_site();
    iisn()
        .args(["-q", "check"])
        .arg(broken.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("error[IISN6006]"))
        .stdout(predicate::str::contains("warning[").not())
        .stdout(predicate::str::contains(
            "check: 1 error, 1 warning in 1 file",
        ));
}

/// Regression: a folder without configuration files passed with "ok: no problems in 0
/// files". It warns (IISN0005) in every format, so --deny-warnings fails it.
#[test]
fn a_folder_with_nothing_to_check_warns() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "README.md", "not a site\n");
    iisn()
        .arg("check")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "warning[IISN0005]: nothing was checked",
        ))
        .stdout(predicate::str::contains(
            dir.path().to_string_lossy().as_ref(),
        ))
        .stdout(predicate::str::contains("check: 1 warning in 0 files"));
    iisn()
        .args(["check", "--deny-warnings"])
        .arg(dir.path())
        .assert()
        .code(1);
    let out = iisn()
        .args(["check", "--format", "json"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let doc = json_of(&out);
    assert_eq!(doc["diagnostics"][0]["code"], "IISN0005", "{doc:#}");
    assert_eq!(doc["diagnostics"][0]["file"], Value::Null, "{doc:#}");
    iisn()
        .args(["check", "--format", "github"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "::warning title=IISN0005::nothing was checked",
        ));
}

/// Regression: a diagnostic in a site with no configuration file (IISN6001 for a node
/// repository without web.config, IISN0005) had `"locations": []`, which GitHub rejects.
#[test]
fn sarif_places_a_diagnostic_of_a_site_without_files_at_its_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = dir.path().join("pkg only");
    write(&site, "package.json", r#"{"name":"x","main":"server.js"}"#);
    write(&site, "server.js", SERVER);
    let out = iisn()
        .args(["check", "--format", "sarif", "pkg only"])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    let doc = json_of(&out);
    let results = doc["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty(), "{doc:#}");
    for r in results {
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "pkg%20only", "{doc:#}");
        assert_eq!(loc["region"]["startLine"], 1, "{doc:#}");
    }
    // The current directory itself is `.`.
    let out = iisn()
        .args(["check", "--format", "sarif"])
        .current_dir(&site)
        .output()
        .expect("runs");
    let doc = json_of(&out);
    assert_eq!(
        doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        ".",
        "{doc:#}"
    );
}

/// Regression: a path given twice, or a file along with its folder, was checked and counted
/// twice.
#[test]
fn the_same_file_named_twice_is_checked_once() {
    let site = warning_only_site();
    let file = site.path().join("web.config");
    let out = iisn()
        .args(["check", "--format", "json"])
        .arg(site.path())
        .arg(&file)
        .arg(site.path().join("."))
        .output()
        .expect("runs");
    let doc = json_of(&out);
    assert_eq!(doc["summary"]["files"], 1, "{doc:#}");
    assert_eq!(doc["summary"]["warnings"], 1, "{doc:#}");
    iisn()
        .arg("check")
        .arg(&file)
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("check: 1 warning in 1 file"));
}

/// Regression: a web.config named on the command line that cannot be read exited 1 with
/// IISN0003; like a missing path, it exits 2. (Run as an unprivileged user: root reads it.)
#[cfg(unix)]
#[test]
fn an_unreadable_path_on_the_command_line_exits_2() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let site = dir.path().join("site");
    write(&site, "web.config", "<configuration/>\n");
    fs::set_permissions(&site, fs::Permissions::from_mode(0o755)).expect("chmod");
    let file = site.join("web.config");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).expect("chmod");
    let root = nix::unistd::geteuid().is_root();
    let mut cmd = if root {
        if std::process::Command::new("setpriv")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: running as root and setpriv is not available");
            return;
        }
        // A copy nobody can run, wherever the build lives (a clone under /root is not).
        let exe = dir.path().join("iisn");
        fs::copy(env!("CARGO_BIN_EXE_iisn"), &exe).expect("copy the binary");
        fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .env_clear()
            .env("NO_COLOR", "1")
            .current_dir(dir.path());
        c
    } else {
        let mut c = iisn();
        c.current_dir(dir.path());
        c
    };
    let out = cmd.arg("check").arg(&file).output().expect("runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

/// A folder named web.config, a link named web.config to a folder and one to nothing: IIS
/// cannot read any of them (500.19), so each is IISN0003 (was: the first two skipped
/// silently).
#[cfg(unix)]
#[test]
fn a_web_config_that_is_not_a_file_is_unreadable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::create_dir_all(root.join("folder/web.config")).expect("mkdir");
    fs::create_dir_all(root.join("target")).expect("mkdir");
    fs::create_dir_all(root.join("to-folder")).expect("mkdir");
    fs::create_dir_all(root.join("dangling")).expect("mkdir");
    std::os::unix::fs::symlink(root.join("target"), root.join("to-folder/web.config"))
        .expect("link");
    std::os::unix::fs::symlink(root.join("nothing"), root.join("dangling/web.config"))
        .expect("link");
    for case in ["folder", "to-folder", "dangling"] {
        let out = iisn()
            .args(["check", "--format", "json"])
            .arg(root.join(case))
            .output()
            .expect("runs");
        let doc = json_of(&out);
        assert_eq!(out.status.code(), Some(1), "{case}: {doc:#}");
        assert_eq!(doc["diagnostics"][0]["code"], "IISN0003", "{case}: {doc:#}");
    }
}

/// Regression: with node missing from PATH, IISN7005's help said "Use node.exe (node from
/// PATH)" to a configuration that already does: the fix is to install node.
#[test]
fn node_missing_from_path_says_to_install_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        r#"<configuration><system.webServer><handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
    );
    write(dir.path(), "server.js", SERVER);
    let out = iisn()
        .args(["check", "--format", "json"])
        .arg(dir.path())
        .env("PATH", dir.path().join("no-bin"))
        .output()
        .expect("runs");
    let doc = json_of(&out);
    let d = doc["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .find(|d| d["code"] == "IISN7005")
        .unwrap_or_else(|| panic!("IISN7005: {doc:#}"));
    let help = d["help"].as_str().unwrap_or_default();
    assert!(help.contains("install node"), "{help}");
    assert!(!help.contains("Use node.exe"), "{help}");
}

/// Regression (Azure's SSE sample): a second iisnode mapping whose path runs through the
/// script (`server.js/api/events`) names that script plus PATH_INFO, never a script of its
/// own: no IISN7001 "does not exist", no iisnode.yml read below a file.
#[test]
fn a_mapping_through_the_script_is_path_info() {
    let (found, code) = check_site(
        r#"<configuration><system.webServer><handlers>
  <add name="iisnode" path="server.js" verb="*" modules="iisnode"/>
  <add name="sse" path="server.js/api/events" verb="*" modules="iisnode"/>
</handlers></system.webServer></configuration>"#,
    );
    assert!(
        found
            .iter()
            .all(|(c, _)| c != "IISN7001" && c != "IISN3015"),
        "{found:?}"
    );
    assert_eq!(code, Some(0), "{found:?}");
}

/// Regression: a rule name or value holding `&#13;&#10;` was printed with a raw line break
/// by the human outputs of check, route and config, so a line of its own could start with
/// `::error ...`, which GitHub Actions runs as a workflow command when the output is in its
/// log. Every output now keeps such text on its line, escaped (`\r\n`).
#[test]
fn line_breaks_in_configuration_text_stay_escaped_in_human_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        r#"<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="server.js" verb="*" modules="iisnode"/>
    </handlers>
    <iisnode node_env="dev&#10;::warning::injected"/>
    <rewrite>
      <rules>
        <rule name="a&#13;&#10;::error file=x,line=1::injected">
          <match url="^api/(.*"/>
          <action type="Rewrite" url="server.js"/>
        </rule>
      </rules>
    </rewrite>
  </system.webServer>
</configuration>
"#,
    );
    write(dir.path(), "server.js", SERVER);
    let site = dir.path().to_str().expect("utf-8 path");
    for args in [
        vec!["check", site],
        vec!["route", site, "/api/x"],
        vec!["config", site],
    ] {
        let out = iisn().args(&args).output().expect("run iisn");
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.lines().any(|l| l.trim_start().starts_with("::")),
                "iisn {args:?} printed a line that starts with `::`:\n{text}"
            );
            assert!(!text.contains('\r'), "iisn {args:?}: {text}");
        }
        let all = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            all.contains("\\n::"),
            "iisn {args:?} shows the escape:\n{all}"
        );
    }
}

/// Regression: `iisn check server.js` read the script as XML and reported IISN0001 ("text
/// outside the root element"); a script or page named on the command line is now a usage
/// error (exit 2) that says to give its site's folder.
#[test]
fn a_script_named_on_the_command_line_is_not_read_as_xml() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "server.js", SERVER);
    let script = dir.path().join("server.js");
    let out = iisn()
        .args(["check", script.to_str().expect("utf-8 path")])
        .output()
        .expect("run iisn");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a configuration file"), "{err}");
    assert!(err.contains("give its site's folder"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("IISN0001"));
}

/// Regression: with `--format github`, a path that could not be checked was only reported
/// on stderr (exit 2); it is also an `::error` annotation, so the job summary says why.
#[test]
fn github_format_annotates_a_path_that_could_not_be_checked() {
    let out = iisn()
        .args(["check", "--format", "github", "no/such/site"])
        .output()
        .expect("run iisn");
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l == "::error title=iisn check::no/such/site does not exist"),
        "{stdout}"
    );
}

/// verdaccio's IIS guide maps iisnode with requireAccess="Execute" and leaves accessPolicy at
/// IIS's "Read, Script": the diagnostic names the access the mapping asks for (Execute) and
/// the fix (requireAccess="Script"), not a missing Script flag the file never took away.
#[test]
fn a_mapping_requiring_execute_is_reported_with_the_access_it_asks_for() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::write(
        tmp.path().join("web.config"),
        r#"<configuration><system.webServer>
  <handlers>
    <remove name="WebDAV" />
    <add name="iisnode" path="start.js" verb="*" modules="iisnode" resourceType="Unspecified" requireAccess="Execute" />
  </handlers>
  <rewrite><rules><rule name="verdaccio"><match url="/*" /><action type="Rewrite" url="start.js" /></rule></rules></rewrite>
</system.webServer></configuration>
"#,
    )
    .expect("write");
    fs::write(tmp.path().join("start.js"), "").expect("write");
    let out = iisn()
        .args(["check", "--format", "json"])
        .arg(tmp.path())
        .output()
        .expect("runs");
    let doc = json_of(&out);
    let d = doc["diagnostics"]
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["code"] == "IISN6025")
        .expect("IISN6025");
    let message = d["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("accessPolicy does not grant Execute,"),
        "{message}"
    );
    let help = d["help"].as_str().unwrap_or("");
    assert!(help.contains("requireAccess=\"Script\""), "{help}");
}
