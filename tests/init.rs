//! `iisn init`: every template is written by the real binary, passes `iisn check` with no
//! warnings, and answers 200 on the URL its README documents under a real `iisn serve` with
//! real node (after a real `npm install` for the templates with dependencies).
//!
//! The serve half reuses the serve suite's harness (`tests/serve/harness.rs`): the written
//! site is copied into the harness's temporary folder and served with `--port 0`. Without
//! `node` on PATH those tests print a skip note and pass, as the serve suite does. The npm
//! templates (express, websocket) run `npm install`; when npm is missing or the registry
//! does not answer `npm ping` they print why they are skipped, unless `IISN_REQUIRE_NPM=1`
//! (set it in CI), which turns the skip into a failure.

#[path = "serve/harness.rs"]
mod harness;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::{Conn, Site};
use tempfile::TempDir;

/// `iisn ARGS` with a clean environment (no NODE_ENV or IISNODE_*, which change what check
/// reports), colours off.
fn iisn(args: &[&str]) -> Output {
    iisn_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// [`iisn`], run in the folder `cwd`.
fn iisn_in(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iisn"));
    cmd.current_dir(cwd);
    cmd.args(args).env("NO_COLOR", "1").stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        let name = k.to_string_lossy().to_ascii_uppercase();
        if name.starts_with("IISNODE_") || name.starts_with("IISN_") || name == "NODE_ENV" {
            cmd.env_remove(&k);
        }
    }
    cmd.output().expect("run iisn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .expect("under root")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `iisn init <tmp>/site --template T --name demo`, checked to succeed; returns the folder.
fn init(tmp: &TempDir, template: &str) -> PathBuf {
    let dir = tmp.path().join("site");
    let out = iisn(&[
        "init",
        dir.to_str().expect("utf-8 temp path"),
        "--template",
        template,
        "--name",
        "demo",
    ]);
    assert!(
        out.status.success(),
        "init --template {template}: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("iisn serve"), "next commands: {stdout}");
    dir
}

/// The URL path a template's README tells people to open, checked against the README.
fn documented_path(template: &str, site: &Path) -> String {
    let t = iisn::init::templates::find(template).expect("template");
    let path = iisn::init::render(t.open, "demo");
    let readme = fs::read_to_string(site.join("README.md")).expect("README.md");
    let url = format!("http://127.0.0.1:8080{path}");
    assert!(readme.contains(&url), "{template}'s README names {url}");
    path
}

/// `iisn check DIR --format json`: no errors, no warnings, no notes.
fn assert_checks_clean(dir: &Path) {
    let out = iisn(&[
        "check",
        dir.to_str().expect("utf-8"),
        "--format",
        "json",
        "--deny-warnings",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "iisn check: {stdout}{}",
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("check JSON");
    assert_eq!(
        v["diagnostics"].as_array().map(Vec::len),
        Some(0),
        "iisn check found something: {stdout}"
    );
}

/// Whether `npm install` can run here: npm on PATH and the registry answering `npm ping`.
/// Prints the reason when it cannot; fails instead with `IISN_REQUIRE_NPM=1`.
fn npm_available() -> bool {
    let why = match run_with_timeout(
        Command::new("npm").args(["ping", "--loglevel=error"]),
        Duration::from_secs(60),
    ) {
        Err(e) => format!("`npm` could not be run ({e})"),
        Ok((true, _)) => return true,
        Ok((false, log)) => format!("the npm registry did not answer `npm ping`:\n{log}"),
    };
    if std::env::var("IISN_REQUIRE_NPM").is_ok_and(|v| v == "1") {
        panic!("IISN_REQUIRE_NPM=1 but {why}");
    }
    eprintln!("skipped: {why} (the template needs `npm install`)");
    false
}

/// Runs a command, killing it after `limit`: (success, stdout + stderr).
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> std::io::Result<(bool, String)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            let out = child.wait_with_output()?;
            return Ok((
                out.status.success(),
                format!("{}{}", text(&out.stdout), text(&out.stderr)),
            ));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            return Ok((
                false,
                format!(
                    "timed out after {limit:?}\n{}{}",
                    text(&out.stdout),
                    text(&out.stderr)
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn npm_install(dir: &Path) {
    let (ok, log) = run_with_timeout(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir),
        Duration::from_secs(300),
    )
    .expect("run npm");
    assert!(ok, "npm install in {} failed:\n{log}", dir.display());
}

/// init, check, copy into the harness, npm install where needed. `None`: skipped (printed).
fn prepared_site(template: &str) -> Option<(TempDir, Site, String)> {
    // Without node, check would rightly warn that node cannot be found (IISN7005).
    if !harness::node_available() {
        return None;
    }
    let tmp = TempDir::new().expect("tmp");
    let dir = init(&tmp, template);
    assert_checks_clean(&dir);
    let open = documented_path(template, &dir);
    let needs_npm = dir.join("package.json").exists();
    if needs_npm && !npm_available() {
        return None;
    }
    // Site::new joins its argument onto tests/fixtures/sites; an absolute path replaces that
    // (Path::join), so this copies the folder `iisn init` wrote into the harness's own.
    let site = Site::new(dir.to_str().expect("utf-8"))?;
    if needs_npm {
        npm_install(site.root());
        // Still clean once node_modules exists (check reads package.json's dependencies).
        assert_checks_clean(site.root());
    }
    Some((tmp, site, open))
}

#[test]
fn list_names_every_template() {
    let out = iisn(&["init", "--list"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for (line, name) in lines
        .iter()
        .zip(["hello", "express", "spa", "websocket", "subdir"])
    {
        assert!(line.starts_with(name), "{line}");
        assert!(line.len() > name.len() + 10, "a description: {line}");
    }
    assert!(lines[0].ends_with("(default)"));
}

#[test]
fn hello_serves_its_documented_url() {
    let Some((_tmp, site, open)) = prepared_site("hello") else {
        return;
    };
    assert_eq!(open, "/");
    let server = site.serve();
    let r = server.get("/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().starts_with("Hello from demo! You asked for /"));
    // Every URL reaches node; the log folder and the node_modules segment do not.
    let r = server.get("/some/page?x=1");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("You asked for /some/page?x=1"));
    assert_eq!(server.get("/iisnode/").status, 404);
    assert_eq!(server.get("/web.config").status, 404);
}

#[test]
fn express_serves_its_documented_url() {
    let Some((_tmp, site, open)) = prepared_site("express") else {
        return;
    };
    let server = site.serve();
    let r = server.get(&open);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("<h1>Hello from demo</h1>"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("x-powered-by"), Some("Express"));
    // A file under public/ is served by IIS (IIS's own X-Powered-By, not express's), at the
    // site root.
    let r = server.get("/about.html");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("About demo"));
    assert_eq!(r.header("x-powered-by"), Some("ASP.NET"));
    assert_eq!(server.get("/css/site.css").status, 200);
    let r = server.get("/api/hello");
    assert_eq!(r.status, 200);
    assert!(r.text().contains(r#""message":"Hello from demo""#));
    // express's own 404 passes through (httpErrors existingResponse="PassThrough").
    let r = server.get("/nope");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("Cannot GET /nope"), "{}", r.text());
    assert_eq!(server.get("/node_modules/express/package.json").status, 404);
}

#[test]
fn spa_serves_its_documented_url_deep_links_and_api() {
    let Some((_tmp, site, open)) = prepared_site("spa") else {
        return;
    };
    let server = site.serve();
    let index = server.get(&open);
    assert_eq!(index.status, 200);
    assert!(index.text().contains("<script src=\"/main.js\"></script>"));
    // A deep link gets index.html, so the front end's router can show it.
    let deep = server.get("/orders/42");
    assert_eq!(deep.status, 200);
    assert_eq!(deep.text(), index.text());
    let js = server.get("/main.js");
    assert_eq!(js.status, 200);
    assert!(js.text().contains("fetch('/api/hello')"));
    let api = server.get("/api/hello");
    assert_eq!(api.status, 200);
    assert!(api.text().contains("Hello from the demo API"));
    let missing = server.get("/api/nope");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("no such API"), "{}", missing.text());
}

#[test]
fn subdir_serves_under_its_app_path() {
    let Some((_tmp, site, open)) = prepared_site("subdir") else {
        return;
    };
    assert_eq!(open, "/demo/");
    let server = site.iisn().arg("--app-path").arg("/demo").start();
    let r = server.get(&open);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("href=\"/demo/static/site.css\""));
    assert!(r.text().contains("node saw <code>/demo/</code>"));
    // Without the trailing slash too.
    assert_eq!(server.get("/demo").status, 200);
    let r = server.get("/demo/api/hello");
    assert_eq!(r.status, 200);
    assert!(r.text().contains(r#""base":"/demo""#));
    let css = server.get("/demo/static/site.css");
    assert_eq!(css.status, 200);
    assert!(
        css.header("content-type")
            .is_some_and(|v| v.starts_with("text/css"))
    );
    // Outside the application: nothing.
    assert_eq!(server.get("/").status, 404);
    assert_eq!(server.get("/api/hello").status, 404);
}

/// RFC 6455 §1.3's sample key and the accept value the server must answer with.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A masked client text frame (clients must mask), short payloads only.
fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

#[test]
fn websocket_serves_its_page_and_echoes_over_a_real_upgrade() {
    let Some((_tmp, site, open)) = prepared_site("websocket") else {
        return;
    };
    // Two processes, as the template's iisnode.yml anticipates: its sticky sessions make
    // iisn (as iisnode) hand out the cookie that pins a client to one process.
    let server = site.iisn().arg("--processes").arg("2").start();
    let page = server.get(&open);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/echo"));
    assert!(
        page.headers.get_all("set-cookie").iter().any(|v| v
            .to_str()
            .is_ok_and(|v| v.starts_with("iisnode.session.cookie="))),
        "nodeProcessStickySessions is on: {:?}",
        page.headers
    );
    let addr = server.addr();
    // One upgrade per process (round robin), each echoing.
    for _ in 0..2 {
        server.block_on_for(Duration::from_secs(30), echo_session(addr));
    }
}

/// A real RFC 6455 session on /echo: the handshake, then two text messages echoed back.
async fn echo_session(addr: std::net::SocketAddr) {
    let mut c = Conn::connect(addr).await;
    c.send(
        format!(
            "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    let head = c.read_head().await;
    assert_eq!(head.status, 101, "{}", head.head);
    assert_eq!(head.header("sec-websocket-accept"), Some(WS_ACCEPT));
    for msg in ["hello", "second message"] {
        c.send(&masked_text_frame(msg.as_bytes())).await;
        let h = c.read_exact(2).await;
        assert_eq!(h[0], 0x81, "a final text frame");
        assert_eq!(h[1] as usize, msg.len(), "unmasked, short");
        assert_eq!(c.read_exact(msg.len()).await, msg.as_bytes());
    }
}

#[test]
fn a_folder_with_a_web_config_is_refused_and_left_alone() {
    let tmp = TempDir::new().expect("tmp");
    let dir = tmp.path();
    fs::write(dir.join("web.config"), "<configuration/>\n").expect("write");
    fs::write(dir.join("notes.txt"), "mine\n").expect("write");
    let before = tree(dir);
    let out = iisn(&["init", dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("web.config  exists"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    assert_eq!(tree(dir), before, "nothing written");
    assert_eq!(
        fs::read_to_string(dir.join("web.config")).expect("read"),
        "<configuration/>\n"
    );
    // --dry-run does not get around it either, and the hint no longer sends the user to
    // --dry-run alone (which gives this same error): with --force it shows the plan.
    let out = iisn(&["init", dir.to_str().expect("utf-8"), "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "pass --force to replace these files (with --dry-run: see what it would write)"
        ),
        "{stderr}"
    );
    assert_eq!(tree(dir), before);
    let out = iisn(&["init", dir.to_str().expect("utf-8"), "--dry-run", "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("would replace  web.config"));
    assert_eq!(tree(dir), before);
}

#[test]
fn dry_run_writes_nothing() {
    let tmp = TempDir::new().expect("tmp");
    let dir = tmp.path().join("new");
    let out = iisn(&[
        "init",
        dir.to_str().expect("utf-8"),
        "--template",
        "express",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("would create   package.json"), "{stdout}");
    assert!(
        stdout.contains("would create   public/css/site.css"),
        "{stdout}"
    );
    assert!(stdout.contains("Nothing was written"), "{stdout}");
    assert!(!dir.exists(), "the folder is not even created");
}

#[test]
fn force_replaces_and_says_so() {
    let tmp = TempDir::new().expect("tmp");
    let dir = tmp.path();
    fs::write(dir.join("web.config"), "<configuration/>\n").expect("write");
    fs::write(dir.join("notes.txt"), "mine\n").expect("write");
    let out = iisn(&["init", dir.to_str().expect("utf-8"), "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("replace  web.config"), "{stdout}");
    assert!(stdout.contains("create   server.js"), "{stdout}");
    assert!(
        stdout.contains("replaced 1 file that existed (--force): web.config"),
        "{stdout}"
    );
    let wc = fs::read_to_string(dir.join("web.config")).expect("read");
    assert!(wc.contains(r#"modules="iisnode""#));
    assert_eq!(
        fs::read_to_string(dir.join("notes.txt")).expect("read"),
        "mine\n",
        "other files are untouched"
    );
    // (check warns when node is missing: IISN7005)
    if harness::node_available() {
        assert_checks_clean(dir);
    }
}

#[test]
fn name_fills_every_placeholder_and_next_commands_follow_the_template() {
    let tmp = TempDir::new().expect("tmp");
    let dir = tmp.path().join("shop");
    let d = dir.to_str().expect("utf-8");
    let out = iisn(&["init", d, "--template", "express", "--name", "my-shop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("npm install --prefix {d}")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("iisn serve {d}\n")), "{stdout}");
    assert!(stdout.contains("http://127.0.0.1:8080/"), "{stdout}");
    let pkg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("package.json")).expect("read"))
            .expect("package.json is JSON");
    assert_eq!(pkg["name"], "my-shop");
    for f in tree(&dir) {
        let body = fs::read_to_string(dir.join(&f)).expect("read");
        assert!(!body.contains("{{"), "{f} has an unfilled placeholder");
    }

    // Without --name, the folder's name; subdir's next commands carry its --app-path.
    let dir = tmp.path().join("Blog Site");
    let out = iisn(&["init", dir.to_str().expect("utf-8"), "--template", "subdir"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(name: blog-site)"), "{stdout}");
    assert!(stdout.contains("--app-path /blog-site"), "{stdout}");
    assert!(
        stdout.contains("http://127.0.0.1:8080/blog-site/"),
        "{stdout}"
    );
    assert!(!stdout.contains("npm install"), "no dependencies: {stdout}");
    let wc = fs::read_to_string(dir.join("web.config")).expect("read");
    assert!(wc.contains(r#"<add key="virtualDirPath" value="/blog-site" />"#));
}

#[test]
fn invalid_names_and_templates_are_usage_errors() {
    let tmp = TempDir::new().expect("tmp");
    let d = tmp.path().join("x");
    let d = d.to_str().expect("utf-8");
    let out = iisn(&["init", d, "--name", "Bad Name"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid --name `Bad Name`"));
    let out = iisn(&["init", d, "--template", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for name in ["hello", "express", "spa", "websocket", "subdir"] {
        assert!(stderr.contains(name), "possible values listed: {stderr}");
    }
    assert!(!tmp.path().join("x").exists());
}

/// The README's `iisn init` tour is the binary's real output, byte for byte.
#[test]
fn readme_shows_the_real_output() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let tmp = TempDir::new().expect("tmp");
    let list = text(&iisn_in(tmp.path(), &["init", "--list"]).stdout);
    let written = iisn_in(tmp.path(), &["init", "shop", "--template", "express"]);
    assert!(written.status.success());
    let refused = iisn_in(tmp.path(), &["init", "shop"]);
    assert_eq!(refused.status.code(), Some(2));
    let expected = format!(
        "$ iisn init --list\n{list}\n$ iisn init shop --template express\n{}\n$ iisn init shop\n{}```",
        text(&written.stdout),
        text(&refused.stderr)
    );
    assert!(
        readme.contains(&expected),
        "README.md's `iisn init` example is stale; it should read:\n{expected}"
    );
}

/// Regression: `iisn init Ünïcode -t subdir` derived `n-code`. Latin letters lose their
/// accents; a name with nothing usable falls back to `iisn-site`, and the output says why.
#[test]
fn accented_folder_names_are_transliterated_and_the_fallback_is_explained() {
    let tmp = TempDir::new().expect("tmp");
    let out = iisn_in(
        tmp.path(),
        &["init", "Ünïcode", "-t", "subdir", "--dry-run"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(name: unicode)"), "{stdout}");

    let out = iisn_in(tmp.path(), &["init", "日本語", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("name: iisn-site, as the folder's name"),
        "{stdout}"
    );
    assert!(stdout.contains("--name"), "{stdout}");
}

/// -q prints nothing when init succeeds (its help: "Print only errors").
#[test]
fn quiet_init_prints_nothing() {
    let tmp = TempDir::new().expect("tmp");
    let out = iisn_in(tmp.path(), &["-q", "init", "site"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "");
}
