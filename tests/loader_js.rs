//! The built-in loader (`src/serve/loader.js`) run by a real `node`.
//!
//! Each test writes the loader with `write_loader` into a private directory and a small app
//! into another, then runs `node <loader> <app>` from the app's folder, as iisn starts
//! workers. Without `node` on PATH the tests print a note and pass.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use iisn::serve::loader::write_loader;
use tempfile::TempDir;

const LEAD_IN: &str = "Application has thrown an uncaught exception and is terminated:\n";

fn node_available() -> bool {
    let ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "`node` is not on PATH, and CI must run these tests"
        );
        println!("skipped: `node` is not on PATH");
    }
    ok
}

struct Fixture {
    _tmp: TempDir,
    loader: PathBuf,
    app: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = TempDir::new().expect("tempdir");
        let run = tmp.path().join("run");
        let app = tmp.path().join("site");
        fs::create_dir(&run).expect("run dir");
        fs::create_dir(&app).expect("app dir");
        let loader = write_loader(&run).expect("write loader");
        Fixture {
            _tmp: tmp,
            loader,
            app,
        }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.app.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, text).expect("write app file");
        path
    }

    /// Runs `node <loader> <script> [args]` in the app folder, killed after 20 s.
    fn run(&self, script: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("node");
        cmd.arg(&self.loader)
            .arg(script)
            .args(args)
            .current_dir(&self.app)
            .env_remove("IISN_ESM")
            .env_remove("NODE_OPTIONS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn node");
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(out) => out.expect("wait for node"),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("node did not exit within 20 s");
            }
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn argv_1_is_the_script_and_the_loader_is_gone() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file(
        "server.js",
        "console.log(JSON.stringify({ argv: process.argv.slice(1), self: __filename, cwd: process.cwd() }));",
    );
    let out = fx.run(&app, &["--flag"], &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json line");
    let app_str = app.to_str().expect("utf-8 path");
    assert_eq!(v["argv"], serde_json::json!([app_str, "--flag"]));
    assert_eq!(v["self"], app_str);
    assert!(
        out.stderr.is_empty(),
        "the loader prints nothing: {}",
        text(&out.stderr)
    );
}

#[test]
fn require_main_is_the_loader_not_the_app() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file(
        "server.js",
        "console.log(String(require.main === module));\nconsole.log(require.main.filename);",
    );
    let out = fx.run(&app, &[], &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("false"));
    assert_eq!(lines.next().map(PathBuf::from), Some(fx.loader.clone()));
}

#[test]
fn uncaught_exception_prints_the_lead_in_and_exits_1() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file(
        "server.js",
        "console.log('\"&<>\\'');\nsetTimeout(function () { throw new Error('kaboom'); }, 10);\nsetInterval(function () {}, 1000);",
    );
    let out = fx.run(&app, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{LEAD_IN}Error: kaboom\n    at ")),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("server.js"),
        "the stack names the app: {stderr}"
    );
    assert!(
        !stderr.contains("iisn:"),
        "no ES module advice for ordinary errors: {stderr}"
    );
    assert_eq!(text(&out.stdout), "\"&<>'\n");
}

#[test]
fn startup_crash_names_the_missing_module_test_120() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file(
        "hello.js",
        "console.log('starting');\nrequire('idontexist');",
    );
    let out = fx.run(&app, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with(LEAD_IN), "stderr: {stderr}");
    assert!(
        stderr.contains("Cannot find module 'idontexist'"),
        "stderr: {stderr}"
    );
}

#[test]
fn non_error_throw_and_unhandled_rejection_are_reported() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file("throws.js", "throw 'just a string';");
    let out = fx.run(&app, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    // As iisnode's interceptor: `e.stack || new Error(e).stack`.
    assert!(
        stderr.starts_with(&format!("{LEAD_IN}Error: just a string\n    at ")),
        "stderr: {stderr}"
    );

    let app = fx.file(
        "rejects.js",
        "Promise.reject(new Error('rejected'));\nsetInterval(function () {}, 1000);",
    );
    let out = fx.run(&app, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{LEAD_IN}Error: rejected")),
        "stderr: {stderr}"
    );
}

#[test]
fn an_app_handler_takes_over_uncaught_exceptions() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file(
        "server.js",
        r#"var n = 0;
process.on('uncaughtException', function (e) { n++; console.log('handled ' + n + ' ' + e.message); });
setTimeout(function () { throw new Error('first'); }, 10);
setTimeout(function () { throw new Error('second'); }, 30);
setTimeout(function () { console.log('still running'); }, 60);
"#,
    );
    let out = fx.run(&app, &[], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(
        text(&out.stdout),
        "handled 1 first\nhandled 2 second\nstill running\n"
    );
    assert!(!stderr.contains(LEAD_IN.trim_end()), "stderr: {stderr}");
}

#[test]
fn a_long_report_is_flushed_before_exit() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    // Far more than a pipe buffer: part of the write is queued, and must still arrive.
    let app = fx.file(
        "server.js",
        "setInterval(function () {}, 1000);\nthrow new Error('x'.repeat(300000) + 'END-OF-MESSAGE');",
    );
    let out = fx.run(&app, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with(LEAD_IN));
    assert!(
        stderr.contains("END-OF-MESSAGE\n    at "),
        "whole stack written ({} bytes)",
        stderr.len()
    );
}

fn assert_esm_refused(out: &Output, entry: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("is an ES module"), "stderr: {stderr}");
    assert!(
        stderr.contains("loads the entry point with require()"),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("on IIS this application fails"),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains(&format!("import('./{entry}');")),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("--esm"), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "the app never ran: {}",
        text(&out.stdout)
    );
}

#[test]
fn mjs_entry_is_refused_with_an_explanation() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file("app.mjs", "console.log('ran');\nexport default 1;");
    let out = fx.run(&app, &[], &[]);
    assert_esm_refused(&out, "app.mjs");
}

#[test]
fn type_module_entry_is_refused_with_an_explanation() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    fx.file("package.json", r#"{ "name": "x", "type": "module" }"#);
    let app = fx.file(
        "src/app.js",
        "import os from 'os';\nconsole.log('ran', os.EOL.length);",
    );
    let out = fx.run(&app, &[], &[]);
    assert_esm_refused(&out, "app.js");

    // A .cjs entry in the same package is CommonJS and runs.
    let cjs = fx.file("src/server.cjs", "console.log('cjs ran');");
    let out = fx.run(&cjs, &[], &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "cjs ran\n");
}

/// Regression: a real deployment maps iisnode to `server/index.ts` in a `"type": "module"`
/// package. A package's type decides only for `.js`: require(), as iisnode's interceptor
/// calls it, compiles any other name as CommonJS, so code that is plain CommonJS runs (and
/// TypeScript syntax fails as a syntax error). The loader refused it as "an ES module" and
/// suggested `--esm`, whose import() cannot load a `.ts` file at all.
#[test]
fn package_type_decides_only_for_js_entries() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    fx.file("package.json", r#"{ "name": "x", "type": "module" }"#);
    for name in ["server/index.ts", "server/app.es6"] {
        let app = fx.file(name, "console.log('ran', typeof require);");
        let out = fx.run(&app, &[], &[]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "ran function\n", "{name}");
    }
}

#[test]
fn the_suggested_commonjs_wrapper_works() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    fx.file(
        "app.mjs",
        "console.log('esm via wrapper', process.argv[1].endsWith('server.cjs'));",
    );
    let wrapper = fx.file("server.cjs", "import('./app.mjs');");
    let out = fx.run(&wrapper, &[], &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "esm via wrapper true\n");
}

#[test]
fn esm_syntax_in_a_commonjs_file_is_refused() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    // No "type": "module": node either fails to parse it as CommonJS (older versions) or
    // detects the syntax and loads it as a module (20.19+, 22.12+). Both end the same way.
    let app = fx.file(
        "server.js",
        "import os from 'os';\nexport const n = os.EOL.length;",
    );
    let out = fx.run(&app, &[], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("uses ES module syntax"), "stderr: {stderr}");
    assert!(
        stderr.contains("rename it to server.mjs and"),
        "stderr: {stderr}"
    );
}

#[cfg(unix)]
#[test]
fn esm_syntax_is_refused_through_a_symlinked_folder_too() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    fx.file(
        "real/server.js",
        "import os from 'os';\nexport const n = os.EOL.length;",
    );
    let link = fx.app.join("link");
    std::os::unix::fs::symlink(fx.app.join("real"), &link).expect("symlink");
    let out = fx.run(&link.join("server.js"), &[], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("uses ES module syntax"), "stderr: {stderr}");
}

#[test]
fn a_commonjs_entry_exporting_an_es_module_is_not_refused() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    fx.file("dep.mjs", "export const answer = 42;");
    let app = fx.file(
        "server.js",
        "module.exports = require('./dep.mjs');\nconsole.log('answer', module.exports.answer);",
    );
    let out = fx.run(&app, &[], &[]);
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("uses ES module syntax"),
        "stderr: {stderr}"
    );
    if out.status.success() {
        // node 20.19+ / 22.12+: require() loads the ES module dependency.
        assert_eq!(text(&out.stdout), "answer 42\n");
    } else {
        // Older node: ERR_REQUIRE_ESM, reported with advice.
        assert!(
            stderr.contains("iisn: an ES module was loaded with require()"),
            "stderr: {stderr}"
        );
    }
}

#[test]
fn iisn_esm_loads_es_modules_with_import() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file(
        "app.mjs",
        "await Promise.resolve();\nconsole.log(JSON.stringify({ argv1: process.argv[1], url: import.meta.url, env: process.env.IISN_ESM === undefined }));",
    );
    let out = fx.run(&app, &[], &[("IISN_ESM", "1")]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json line");
    assert_eq!(v["argv1"], app.to_str().expect("utf-8 path"));
    assert!(
        v["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("file://") && u.ends_with("/app.mjs"))
    );
    assert_eq!(
        v["env"], true,
        "IISN_ESM is removed from the app's environment"
    );

    fx.file("pkg/package.json", r#"{ "type": "module" }"#);
    let app = fx.file("pkg/index.js", "console.log('module scope ok');");
    let out = fx.run(&app, &[], &[("IISN_ESM", "1")]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "module scope ok\n");
}

#[test]
fn iisn_esm_reports_a_throwing_module_as_uncaught() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file(
        "app.mjs",
        "setInterval(function () {}, 1000);\nthrow new Error('esm boom');",
    );
    let out = fx.run(&app, &[], &[("IISN_ESM", "1")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.starts_with(&format!("{LEAD_IN}Error: esm boom")),
        "stderr: {stderr}"
    );
}

#[test]
fn an_esm_dependency_with_top_level_await_gets_advice() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    // require() of a module with top-level await fails on every node version.
    fx.file("dep.mjs", "await Promise.resolve();\nexport default 1;");
    let app = fx.file("server.js", "require('./dep.mjs');");
    let out = fx.run(&app, &[], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.starts_with(LEAD_IN), "stderr: {stderr}");
    assert!(stderr.contains("ERR_REQUIRE_"), "stderr: {stderr}");
    assert!(
        stderr.contains("iisn: an ES module was loaded with require()"),
        "stderr: {stderr}"
    );
}

#[test]
fn the_loader_file_is_readable_javascript() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let mut src = String::new();
    fs::File::open(&fx.loader)
        .and_then(|mut f| f.read_to_string(&mut src))
        .expect("read loader");
    assert_eq!(src, iisn::serve::loader::LOADER_JS);
    let out = Command::new("node")
        .arg("--check")
        .arg(&fx.loader)
        .output()
        .expect("node --check");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Environment names ignore case, as on Windows (issue 14): `process.env.port` is PORT,
/// writes and deletes through another spelling change the existing variable, and each
/// variable is still listed (and passed to child processes) once under its own spelling.
#[test]
fn environment_names_ignore_case_as_on_windows() {
    if !node_available() {
        return;
    }
    let fx = Fixture::new();
    let app = fx.file(
        "server.js",
        r#"
var out = {};
out.port = process.env.port;
out.Port = process.env.Port;
out.has = 'port' in process.env;
out.missing = process.env.NO_SUCH_VARIABLE_HERE;
process.env.greeting = 'hi';
out.greeting = process.env.GREETING;
out.spellings = Object.keys(process.env).filter(function (k) { return /^port$/i.test(k); });
process.env.Port = 'changed';
out.changed = process.env.PORT;
delete process.env.pOrT;
out.deleted = process.env.PORT === undefined;
out.child = require('child_process').execSync('echo "$greeting"').toString().trim();
console.log(JSON.stringify(out));
"#,
    );
    let out = fx.run(&app, &[], &[("PORT", "/tmp/iisn-test.sock")]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json line");
    assert_eq!(v["port"], "/tmp/iisn-test.sock");
    assert_eq!(v["Port"], "/tmp/iisn-test.sock");
    assert_eq!(v["has"], true);
    assert!(v["missing"].is_null());
    assert_eq!(v["greeting"], "hi");
    assert_eq!(v["spellings"], serde_json::json!(["PORT"]));
    assert_eq!(v["changed"], "changed");
    assert_eq!(v["deleted"], true);
    assert_eq!(v["child"], "hi");
}
