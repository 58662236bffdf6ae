//! `iisn config` end to end: the real binary on real folders.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn iisn() -> Command {
    let mut c = Command::cargo_bin("iisn").expect("binary built");
    // A clean environment: no IISNODE_* or NODE_ENV from the developer's shell.
    c.env_clear().env("NO_COLOR", "1");
    c
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

fn json(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn setting<'a>(app: &'a Value, name: &str) -> &'a Value {
    app["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no setting {name}"))
}

#[test]
fn configuration_example_shows_all_34_defaults_with_origins() {
    let doc = json(iisn().args(["config", "examples/configuration", "--format", "json"]));
    assert_eq!(doc["schemaVersion"], 1);
    assert_eq!(doc["summary"]["errors"], 0, "{doc:#}");
    let app = &doc["applications"][0];
    assert_eq!(app["script"], "hello.js");
    assert_eq!(app["scriptExists"], true);
    assert_eq!(app["configError"], Value::Null);
    assert_eq!(app["iisnodeYml"]["present"], true);
    let settings = app["settings"].as_array().expect("array");
    assert_eq!(settings.len(), 34);
    for s in settings {
        let name = s["name"].as_str().expect("name");
        let schema = iisn::config::schema::SCHEMA
            .iter()
            .find(|a| a.name == name)
            .expect("known attribute");
        // Every value is the schema default, as written in the web.config.
        assert_eq!(s["raw"], schema.default, "{name}");
        let expected_origin =
            if name == "nodeProcessCountPerApplication" || name == "debugHeaderEnabled" {
                "iisnodeYml"
            } else {
                "webConfig"
            };
        assert_eq!(s["origin"]["kind"], expected_origin, "{name}");
        assert!(
            s["origin"]["line"].as_u64().is_some_and(|l| l > 1),
            "{name} has a line"
        );
        assert!(s["origin"]["file"].as_str().is_some_and(|f| f.ends_with(
            if expected_origin == "webConfig" {
                "web.config"
            } else {
                "iisnode.yml"
            }
        )));
    }
    assert_eq!(
        setting(app, "maxConcurrentRequestsPerProcess")["value"],
        1024
    );
    assert_eq!(setting(app, "loggingEnabled")["value"], true);
    assert_eq!(setting(app, "watchedFiles")["value"], "*.js;iisnode.yml");
    // The stock interceptor is replaced by iisn's loader, and says so.
    assert!(
        setting(app, "interceptor")["note"]
            .as_str()
            .is_some_and(|n| n.contains("built-in loader"))
    );
}

#[test]
fn every_channel_wins_where_it_should() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "web.config",
        r#"<configuration>
  <appSettings>
    <add key="GREETING" value="hi" />
    <add key="" value="skipped" />
    <add key="EMPTY" value="" />
  </appSettings>
  <system.webServer>
    <iisnode nodeProcessCountPerApplication="2"
             maxLogFiles="5"
             gracefulShutdownTimeout="30000" />
  </system.webServer>
</configuration>
"#,
    );
    write(
        root,
        "api/web.config",
        r#"<configuration>
  <system.webServer>
    <handlers>
      <add name="api" path="server.js" verb="*" modules="iisnode" />
    </handlers>
    <iisnode loggingEnabled="false" />
  </system.webServer>
</configuration>
"#,
    );
    write(
        root,
        "api/server.js",
        "require('http').createServer().listen(process.env.PORT);\n",
    );
    write(
        root,
        "api/iisnode.yml",
        "# overrides\ngracefulShutdownTimeout: 1000\n",
    );
    let doc = json(
        iisn()
            .args(["config", "--format", "json"])
            .arg(root)
            .env("IISNODE_nodeProcessCountPerApplication", "3")
            .env("IISNODE_gracefulShutdownTimeout", "5"),
    );
    assert_eq!(doc["summary"]["errors"], 0, "{doc:#}");
    let apps = doc["applications"].as_array().expect("apps");
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    assert_eq!(app["script"], "api/server.js");

    // Environment beats web.config.
    let n = setting(app, "nodeProcessCountPerApplication");
    assert_eq!(n["value"], 3);
    assert_eq!(n["origin"]["kind"], "env");
    assert_eq!(
        n["origin"]["variable"],
        "IISNODE_nodeProcessCountPerApplication"
    );
    // The root web.config applies to the sub-folder application.
    let m = setting(app, "maxLogFiles");
    assert_eq!(m["value"], 5);
    assert_eq!(m["origin"]["kind"], "webConfig");
    assert_eq!(m["origin"]["line"], 9);
    assert_eq!(m["origin"]["column"], 27);
    assert!(
        m["origin"]["file"]
            .as_str()
            .expect("file")
            .ends_with("web.config")
    );
    // The sub-folder web.config overrides the root one.
    let l = setting(app, "loggingEnabled");
    assert_eq!(l["value"], false);
    assert!(
        l["origin"]["file"]
            .as_str()
            .expect("file")
            .ends_with("api/web.config")
    );
    assert_eq!(l["origin"]["line"], 6);
    // iisnode.yml beats the environment and web.config.
    let g = setting(app, "gracefulShutdownTimeout");
    assert_eq!(g["value"], 1000);
    assert_eq!(g["origin"]["kind"], "iisnodeYml");
    assert_eq!(g["origin"]["line"], 2);
    assert_eq!(g["origin"]["column"], 26);
    // Untouched settings stay at the schema default.
    assert_eq!(
        setting(app, "maxRequestBufferSize")["origin"]["kind"],
        "default"
    );
    // appSettings as iisnode promotes them: empty keys skipped, empty values kept.
    assert_eq!(
        app["appSettings"],
        serde_json::json!([{"key": "GREETING", "value": "hi"}, {"key": "EMPTY", "value": ""}])
    );
}

#[test]
fn text_report_is_a_table_with_origins() {
    iisn()
        .args(["config", "examples/configuration"])
        .assert()
        .success()
        .stdout(predicate::str::contains("application hello.js  ok"))
        .stdout(predicate::str::contains("SETTING"))
        .stdout(predicate::str::contains("nodeProcessCountPerApplication"))
        .stdout(predicate::str::contains("iisnode.yml:"))
        .stdout(predicate::str::contains("web.config:"))
        .stdout(
            predicate::str::is_match(r"maxLogFiles\s+20\s+\S*web.config:\d+:\d+").expect("regex"),
        );
}

#[test]
fn invalid_config_exits_1_with_file_line_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        "<configuration>\n  <system.webServer>\n    <handlers><add name=\"iisnode\" path=\"hello.js\" verb=\"*\" modules=\"iisnode\"/></handlers>\n    <iisnode idontexist=\"12\" />\n  </system.webServer>\n</configuration>\n",
    );
    write(dir.path(), "hello.js", "");
    let out = iisn().arg("config").arg(dir.path()).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error[IISN2001]: <iisnode> has no attribute `idontexist`"),
        "{err}"
    );
    assert!(err.contains("web.config:4:14"), "{err}");
    assert!(err.contains("^^^^^^^^^^"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("configuration error (web.config)"),
        "{stdout}"
    );
}

#[test]
fn malformed_xml_reports_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        "<configuration>\n  <system.webServer>\n  </system.web>\n</configuration>\n",
    );
    let doc = json(iisn().args(["config", "--format", "json"]).arg(dir.path()));
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "IISN0001");
    assert_eq!(d["line"], 3);
    assert_eq!(d["column"], 3);
    assert_eq!(
        d["file"].as_str().map(|f| f.ends_with("web.config")),
        Some(true)
    );
}

#[test]
fn bad_iisnode_yml_marks_the_application() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        "<configuration><system.webServer><handlers><add name=\"iisnode\" path=\"hello.js\" verb=\"*\" modules=\"iisnode\"/></handlers></system.webServer></configuration>",
    );
    write(dir.path(), "hello.js", "");
    write(
        dir.path(),
        "iisnode.yml",
        "# comment\nloggingEnabled: foobar\n",
    );
    let out = iisn()
        .args(["config", "--format", "json"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["applications"][0]["configError"], "iisnodeYml");
    assert_eq!(doc["applications"][0]["iisnodeYml"]["rejected"], true);
    let d = doc["diagnostics"]
        .as_array()
        .expect("diags")
        .iter()
        .find(|d| d["code"] == "IISN3002")
        .expect("bool error");
    assert_eq!(d["line"], 2);
}

#[test]
fn missing_site_is_a_usage_error() {
    iisn()
        .args(["config", "does/not/exist"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "error: site folder does/not/exist does not exist",
        ))
        .stderr(predicate::str::contains("help:"));
}

#[test]
fn unknown_app_is_a_usage_error_listing_the_apps() {
    iisn()
        .args(["config", "examples/hello", "--app", "nope.js"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("applications: hello.js"));
}

#[test]
fn help_has_examples() {
    iisn()
        .args(["config", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("Precedence"));
}

/// Regression: `iisn serve nonexist` and `iisn route nonexist /` suggested `iisn config`.
#[test]
fn a_missing_site_hint_names_the_command_that_ran() {
    for (args, example) in [
        (
            vec!["config", "does/not/exist"],
            "`iisn config examples/hello`",
        ),
        (
            vec!["serve", "does/not/exist"],
            "`iisn serve examples/hello`",
        ),
        (
            vec!["route", "does/not/exist", "/"],
            "`iisn route examples/hello /hello.js`",
        ),
    ] {
        iisn()
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "site folder does/not/exist does not exist",
            ))
            .stderr(predicate::str::contains(example));
    }
}

/// Regression: a web.config that cannot be parsed gave "no web.config maps a script to
/// iisnode. add <handlers>...", although the handlers may well be in the broken file.
#[test]
fn no_application_because_the_web_config_is_malformed_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        "<configuration>\n  <system.webServer>\n  </system.web>\n</configuration>\n",
    );
    iisn()
        .arg("config")
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("could not be loaded"))
        .stdout(predicate::str::contains("add <handlers>").not());
}

/// `iisn config` shows the loader's diagnostics only; when `iisn check`'s lints find more (a
/// missing script), a note points to it.
#[test]
fn config_points_to_check_for_the_lints() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.config",
        "<configuration><system.webServer><handlers><add name=\"iisnode\" path=\"missing.js\" verb=\"*\" modules=\"iisnode\"/></handlers></system.webServer></configuration>",
    );
    iisn()
        .arg("config")
        .arg(dir.path())
        .assert()
        .success()
        .stderr(predicate::str::contains("`iisn check"));
    // Nothing more to find: no note.
    iisn()
        .args(["config", "examples/hello"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "PATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check/bin"),
        )
        .assert()
        .success()
        .stderr(predicate::str::contains("iisn check").not());
}

/// Regression: `--color never` did not reach clap's own help and usage errors (forced on
/// here with CLICOLOR_FORCE, as a terminal would); the flag wins over the environment.
#[test]
fn color_never_reaches_clap_help_and_usage_errors() {
    let forced = |args: &[&str]| {
        let out = iisn()
            .env_remove("NO_COLOR")
            .env("CLICOLOR_FORCE", "1")
            .args(args)
            .output()
            .expect("runs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert!(
        forced(&["--help"]).contains('\u{1b}'),
        "the check is meaningful"
    );
    for args in [
        &["--color", "never", "--help"][..],
        &["--color=never", "check", "--help"],
        &["check", "--color", "never", "--no-such-flag"],
    ] {
        let text = forced(args);
        assert!(!text.contains('\u{1b}'), "{args:?}: {text}");
        assert!(!text.is_empty());
    }
    // --color always wins over NO_COLOR.
    let out = iisn()
        .args(["--color", "always", "--help"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
}

/// The top-level help says where each command prints the errors behind exit code 1.
#[test]
fn top_level_help_says_where_errors_go() {
    iisn()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("iisn check prints them on stdout"))
        .stdout(predicate::str::contains("130"));
}

/// A handler path without a slash maps the same file name in folders below (iisnode issue
/// 189): `iisn config` lists `sub/deep/server.js` as an application of its own (created on
/// its first request, with its folder's settings), as `iisn serve` runs it; not one hidden
/// by request filtering, which IIS never serves.
#[test]
fn same_name_scripts_below_are_applications() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "web.config",
        r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>
  <security><requestFiltering><hiddenSegments><add segment="src"/></hiddenSegments></requestFiltering></security>
</system.webServer>
<location path="sub/deep"><system.webServer><iisnode maxLogFiles="11"/></system.webServer></location>
</configuration>"#,
    );
    for f in ["server.js", "sub/deep/server.js", "src/server.js"] {
        write(
            root,
            f,
            "require('http').createServer(()=>{}).listen(process.env.PORT);\n",
        );
    }
    let doc = json(iisn().args(["config", "--format", "json"]).arg(root));
    let apps = doc["applications"].as_array().expect("applications");
    let scripts: Vec<&str> = apps.iter().filter_map(|a| a["script"].as_str()).collect();
    assert_eq!(scripts, ["server.js", "sub/deep/server.js"], "{doc}");
    assert_eq!(apps[0]["fromWildcard"], false);
    assert_eq!(apps[1]["fromWildcard"], true);
    assert_eq!(setting(&apps[1], "maxLogFiles")["value"], 11, "{}", apps[1]);
}

/// A handler path with a slash maps every file whose path ends with it (observed on IIS 10,
/// MH28): `iisn config` lists `old/dist/server.js` as an application of its own, as `iisn
/// serve` runs it; `dist/other.js` and `distx/server.js` are not.
#[test]
fn scripts_ending_with_a_slash_path_are_applications() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "web.config",
        r#"<configuration><system.webServer>
  <handlers><add name="iisnode" path="dist/server.js" verb="*" modules="iisnode"/></handlers>
</system.webServer></configuration>"#,
    );
    for f in [
        "dist/server.js",
        "old/dist/server.js",
        "dist/other.js",
        "distx/server.js",
    ] {
        write(
            root,
            f,
            "require('http').createServer(()=>{}).listen(process.env.PORT);\n",
        );
    }
    let doc = json(iisn().args(["config", "--format", "json"]).arg(root));
    let apps = doc["applications"].as_array().expect("applications");
    let scripts: Vec<&str> = apps.iter().filter_map(|a| a["script"].as_str()).collect();
    assert_eq!(scripts, ["dist/server.js", "old/dist/server.js"], "{doc}");
    assert_eq!(apps[1]["fromWildcard"], true);
}

/// `raw` is the value as written in its source (docs/config-json.md): `+3` and `YES` in
/// iisnode.yml, `12abc` in the environment, next to the values iisnode reads from them.
#[test]
fn raw_is_the_text_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "web.config",
        r#"<configuration><system.webServer><handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
    );
    write(root, "server.js", "//\n");
    write(
        root,
        "iisnode.yml",
        "nodeProcessCountPerApplication: +3\nloggingEnabled: YES\n",
    );
    let doc = json(
        iisn()
            .args(["config", "--format", "json"])
            .arg(root)
            .env("IISNODE_maxRequestBufferSize", "12abc"),
    );
    let app = &doc["applications"][0];
    for (name, value, raw) in [
        ("nodeProcessCountPerApplication", serde_json::json!(3), "+3"),
        ("loggingEnabled", serde_json::json!(true), "YES"),
        ("maxRequestBufferSize", serde_json::json!(12), "12abc"),
    ] {
        let s = setting(app, name);
        assert_eq!(s["value"], value, "{s}");
        assert_eq!(s["raw"], raw, "{s}");
    }
}

/// iisnode reads `<iisnode>` at the configuration path of the script's URL: a
/// `<location path="server.js">` that names the script applies (it was ignored).
#[test]
fn a_location_naming_the_script_applies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "web.config",
        r#"<configuration>
  <system.webServer>
    <handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>
    <iisnode node_env="main"/>
  </system.webServer>
  <location path="server.js">
    <system.webServer><iisnode nodeProcessCountPerApplication="3" node_env="fileloc"/></system.webServer>
  </location>
</configuration>"#,
    );
    write(root, "server.js", "//\n");
    let doc = json(iisn().args(["config", "--format", "json"]).arg(root));
    let app = &doc["applications"][0];
    assert_eq!(setting(app, "node_env")["value"], "fileloc", "{app}");
    assert_eq!(
        setting(app, "nodeProcessCountPerApplication")["value"],
        3,
        "{app}"
    );
}
