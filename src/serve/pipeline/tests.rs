//! Router tests without sockets: a site in a temporary folder (a web.config from
//! `tests/fixtures/webconfigs/` or written inline, plus the files its rules look for), a
//! [`Pipeline`] built from it, and requests fed to [`Pipeline::decide`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::*;
use crate::config::env::Environment;
use crate::config::{LoadOptions, load_site};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webconfigs")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn wrap(inner: &str) -> String {
    format!("<configuration><system.webServer>{inner}</system.webServer></configuration>")
}

struct Site {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Site {
    /// Files by site-relative path; a path ending in `/` is a folder.
    fn new(files: &[(&str, &str)]) -> Site {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(tmp.path()).expect("canonical");
        let site = Site { _tmp: tmp, root };
        for (p, text) in files {
            site.write(p, text);
        }
        site
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.root.join(rel.trim_end_matches('/'));
        if rel.ends_with('/') {
            std::fs::create_dir_all(&p).expect("mkdir");
            return;
        }
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
    }

    fn pipeline(&self) -> Pipeline {
        let opts = LoadOptions {
            env: Environment::from_pairs(Vec::<(String, String)>::new()),
            cpu_count: 1,
        };
        let site = load_site(&self.root, &opts).expect("site loads");
        Pipeline::new(Arc::new(site))
    }
}

fn head(method: &str, target: &str, headers: &[(&str, &str)]) -> RequestHead {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::HOST,
        HeaderValue::from_static("localhost:8080"),
    );
    for (k, v) in headers {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    RequestHead {
        method: Method::from_bytes(method.as_bytes()).expect("method"),
        target: target.to_string(),
        headers: h,
        remote: "127.0.0.1:50000".parse().expect("addr"),
        local_addr: "127.0.0.1:8080".parse().expect("addr"),
        auth: None,
    }
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|_| format!("OUTSIDE:{}", p.display()))
}

/// A one-line summary of a decision: `app server.js +/debug`, `file public/a.css`,
/// `redirect 301 /sub/`, `error 404.8`, `listing sub`, `options`, `abort`.
fn describe(root: &Path, r: &Routed) -> String {
    match &r.decision {
        Decision::App(AppHandler {
            script_rel,
            path_info,
            ..
        }) => {
            if path_info.is_empty() {
                format!("app {script_rel}")
            } else {
                format!("app {script_rel} +{path_info}")
            }
        }
        Decision::File { path } => format!("file {}", rel(root, path)),
        Decision::Listing { dir } => format!("listing {}", rel(root, dir)),
        Decision::Redirect { status, location } => format!("redirect {status} {location}"),
        Decision::Options => "options".into(),
        Decision::Error(e) => format!("error {}.{}", e.status, e.substatus),
        Decision::Abort => "abort".into(),
    }
}

fn go(site: &Site, p: &Pipeline, method: &str, target: &str) -> String {
    describe(&site.root, &p.decide(&head(method, target, &[]), None))
}

fn get(site: &Site, p: &Pipeline, target: &str) -> String {
    go(site, p, "GET", target)
}

fn routed(p: &Pipeline, method: &str, target: &str, headers: &[(&str, &str)]) -> Routed {
    p.decide(&head(method, target, headers), None)
}

// ---------------------------------------------------------------------------------------
// The Kudu template and the real-world configs of iis-webconfig.md §5
// ---------------------------------------------------------------------------------------

fn kudu(start: &str, files: &[(&str, &str)]) -> Site {
    let cfg = fixture("kudu-iisnode.config.template").replace("{NodeStartFile}", start);
    let site = Site::new(files);
    site.write("web.config", &cfg);
    site
}

#[test]
fn kudu_template_server_js() {
    let site = kudu(
        "server.js",
        &[
            ("server.js", "//"),
            ("public/css/site.css", "body{}"),
            ("public/index.html", "<p>"),
            ("public/sub/", ""),
            ("lib/x.js", "//"),
            ("bin/www", "//"),
        ],
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/css/site.css"), "file public/css/site.css");
    assert_eq!(
        get(&site, &p, "/css/site.css?v=1"),
        "file public/css/site.css"
    );
    assert_eq!(get(&site, &p, "/index.html"), "file public/index.html");
    let r = routed(&p, "GET", "/api/users?x=1", &[]);
    assert_eq!(describe(&site.root, &r), "app server.js");
    assert!(r.rewritten, "node gets X-Original-URL");
    assert_eq!(r.url, "/server.js");
    assert_eq!(
        get(&site, &p, "/"),
        "app server.js",
        "public/ is a folder, not a file"
    );
    assert_eq!(get(&site, &p, "/sub/"), "app server.js");
    assert_eq!(
        get(&site, &p, "/lib/x.js"),
        "app server.js",
        "files outside public go to node"
    );
    assert_eq!(
        get(&site, &p, "/bin/www"),
        "app server.js",
        "bin is not hidden"
    );
    let r = routed(&p, "GET", "/server.js/debug", &[]);
    assert_eq!(describe(&site.root, &r), "app server.js +/debug");
    assert!(
        !r.rewritten,
        "NodeInspector stops rule processing without an action"
    );
    assert_eq!(
        get(&site, &p, "/server.js/debug/"),
        "app server.js +/debug/"
    );
    assert_eq!(get(&site, &p, "/web.config"), "error 404.8");
    assert_eq!(get(&site, &p, "/iisnode.yml"), "error 404.8");
    assert_eq!(go(&site, &p, "POST", "/css/site.css"), "error 405.0");
    assert_eq!(go(&site, &p, "POST", "/api/items"), "app server.js");
    assert_eq!(go(&site, &p, "PUT", "/api/items/1"), "app server.js");
}

#[test]
fn kudu_template_bin_www() {
    let site = kudu("bin/www", &[("bin/www", "//"), ("public/a.txt", "a")]);
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/a.txt"), "file public/a.txt");
    assert_eq!(get(&site, &p, "/users/1"), "app bin/www");
    assert_eq!(get(&site, &p, "/bin/www/debug"), "app bin/www +/debug");
    assert_eq!(get(&site, &p, "/bin/www"), "app bin/www");
}

#[test]
fn iisnode_test_103_urlrewrite() {
    let site = Site::new(&[("103_urlrewrite/hello.js", "//")]);
    site.write(
        "103_urlrewrite/web.config",
        &fixture("iisnode-test-103_urlrewrite.config"),
    );
    let p = site.pipeline();
    for t in [
        "/103_urlrewrite/hello",
        "/103_urlrewrite/hello/",
        "/103_urlrewrite/hello.js",
        "/103_urlrewrite/hello?foo=bar",
        "/103_urlrewrite/hello/a/b/c",
        "/103_urlrewrite/hello/a/b/c/",
        "/103_urlrewrite/hello/a/b?foo=bar",
    ] {
        assert_eq!(get(&site, &p, t), "app 103_urlrewrite/hello.js", "{t}");
    }
    let r = routed(&p, "GET", "/103_urlrewrite/hello/a/b?foo=bar", &[]);
    assert!(r.rewritten);
    assert_eq!(
        r.query.as_deref(),
        Some("foo=bar"),
        "appendQueryString keeps the query"
    );
}

#[test]
fn iisnode_test_102_defaultdocument_and_111() {
    let site = Site::new(&[
        ("102_defaultdocument/index.js", "//"),
        ("111_node_env/hello.js", "//"),
    ]);
    site.write(
        "102_defaultdocument/web.config",
        &fixture("iisnode-test-102_defaultdocument.config"),
    );
    site.write(
        "111_node_env/web.config",
        &fixture("iisnode-test-111_node_env.config"),
    );
    let p = site.pipeline();
    assert_eq!(
        get(&site, &p, "/102_defaultdocument/"),
        "app 102_defaultdocument/index.js"
    );
    assert_eq!(
        get(&site, &p, "/102_defaultdocument?a=1"),
        "redirect 301 http://localhost:8080/102_defaultdocument/?a=1"
    );
    assert_eq!(
        get(&site, &p, "/111_node_env/hello.js"),
        "app 111_node_env/hello.js"
    );
    assert_eq!(
        get(&site, &p, "/111_node_env/hello.js/debug"),
        "app 111_node_env/hello.js +/debug"
    );
    assert_eq!(
        get(&site, &p, "/111_node_env/hello.js.logs/0.txt"),
        "error 404.0"
    );
}

#[test]
fn iisnode_samples_under_a_virtual_directory() {
    // Test 200 installs the samples under /node.
    let site = Site::new(&[
        ("urlrewrite/hello.js", "//"),
        ("express/hello.js", "//"),
        ("defaultdocument/index.js", "//"),
        ("configuration/hello.js", "//"),
    ]);
    site.write(
        "urlrewrite/web.config",
        &fixture("iisnode-sample-urlrewrite.config"),
    );
    site.write(
        "express/web.config",
        &fixture("iisnode-sample-express.config"),
    );
    site.write(
        "defaultdocument/web.config",
        &fixture("iisnode-sample-defaultdocument.config"),
    );
    site.write(
        "configuration/web.config",
        &fixture("iisnode-sample-configuration.config"),
    );
    let mut p = site.pipeline();
    p.set_app_path(Some("/node"));
    let r = routed(&p, "GET", "/node/urlrewrite/myapp/foo/bar/baz", &[]);
    assert_eq!(describe(&site.root, &r), "app urlrewrite/hello.js");
    if let Decision::App(AppHandler { script_url, .. }) = &r.decision {
        assert_eq!(script_url, "/node/urlrewrite/hello.js");
    }
    assert_eq!(
        get(&site, &p, "/node/urlrewrite/myapp/1/2/3?param=4"),
        "app urlrewrite/hello.js"
    );
    assert_eq!(
        get(&site, &p, "/node/express/myapp/foo"),
        "app express/hello.js"
    );
    assert_eq!(
        get(&site, &p, "/node/express/myapp/idonotexist"),
        "app express/hello.js"
    );
    assert_eq!(
        get(&site, &p, "/node/defaultdocument/"),
        "app defaultdocument/index.js"
    );
    assert_eq!(
        get(&site, &p, "/node/configuration/hello.js"),
        "app configuration/hello.js"
    );
    assert_eq!(
        get(&site, &p, "/NODE/configuration/hello.js"),
        "app configuration/hello.js"
    );
    assert_eq!(
        get(&site, &p, "/configuration/hello.js"),
        "error 404.0",
        "outside /node"
    );
    assert_eq!(
        get(&site, &p, "/nodex/configuration/hello.js"),
        "error 404.0"
    );
    assert_eq!(
        get(&site, &p, "/node/defaultdocument"),
        "redirect 301 http://localhost:8080/node/defaultdocument/"
    );
}

#[test]
fn lilliputten_minimal_express() {
    let site = Site::new(&[
        ("server.js", "//"),
        ("iisnode/index.html", "<p>"),
        ("public/app.css", "x"),
        ("node_modules/x/index.js", "//"),
    ]);
    site.write(
        "web.config",
        &fixture("lilliputten-minimal-iisnode-express-app.config"),
    );
    let p = site.pipeline();
    assert_eq!(
        get(&site, &p, "/iisnode/index.html"),
        "file iisnode/index.html",
        "the log folder is served"
    );
    assert_eq!(get(&site, &p, "/public/app.css"), "file public/app.css");
    assert_eq!(
        get(&site, &p, "/public/missing.css"),
        "error 404.0",
        "the ^/public condition keeps it from node"
    );
    assert_eq!(get(&site, &p, "/node_modules/x/index.js"), "error 404.8");
    assert_eq!(get(&site, &p, "/anything/else"), "app server.js");
    assert_eq!(get(&site, &p, "/server.js/debug"), "app server.js +/debug");
}

#[test]
fn chinggo_nuxt_disabled_rule() {
    let site = Site::new(&[("server.js", "//"), ("public/_nuxt/app.js", "//")]);
    site.write("web.config", &fixture("chinggo-IISNode-Nuxt3SSR.config"));
    let p = site.pipeline();
    let r = routed(&p, "GET", "/index/debug", &[]);
    assert_eq!(describe(&site.root, &r), "app server.js");
    assert!(
        r.rewritten,
        "the disabled NodeInspector rule does not stop processing"
    );
    assert_eq!(get(&site, &p, "/_nuxt/app.js"), "file public/_nuxt/app.js");
}

#[test]
fn lancetw_hidden_segments_and_log_rule() {
    let site = Site::new(&[
        ("iisnode.js", "//"),
        ("src/app.js", "//"),
        ("server.js.logs/0.txt", "log"),
        ("bin/tool.txt", "t"),
        ("static/a.png", "png"),
    ]);
    site.write(
        "web.config",
        &fixture("lancetw-react-isomorphic-bundle.config"),
    );
    let p = site.pipeline();
    for t in [
        "/src/app.js",
        "/node_modules/a",
        "/config/x.json",
        "/iisnode/index.html",
        "/lib/x",
    ] {
        assert_eq!(get(&site, &p, t), "error 404.8", "{t}");
    }
    assert_eq!(
        get(&site, &p, "/server.js.logs/0.txt"),
        "file server.js.logs/0.txt"
    );
    assert_eq!(
        get(&site, &p, "/bin/tool.txt"),
        "file bin/tool.txt",
        "bin is unhidden"
    );
    assert_eq!(get(&site, &p, "/static/a.png"), "file static/a.png");
    assert_eq!(get(&site, &p, "/page/1"), "app iisnode.js");
}

#[test]
fn mlpelon_rewrite_map() {
    let site = Site::new(&[
        ("server.js", "//"),
        ("public/index.cfm", "cf"),
        ("public/a.txt", "a"),
    ]);
    site.write("web.config", &fixture("MLPelon-iisnode-react.config"));
    let p = site.pipeline();
    let r = routed(&p, "GET", "/iisnode-react-coldfusion/index.html", &[]);
    // The map sends it to public/index.cfm, which exists; no MIME map for .cfm: 404.3, as IIS
    // without ColdFusion would answer.
    assert_eq!(describe(&site.root, &r), "error 404.3");
    assert_eq!(r.url, "/public/index.cfm");
    assert_eq!(
        get(&site, &p, "/ISSNODE-REACT-coldfusion/index.html"),
        "app server.js"
    );
    assert_eq!(get(&site, &p, "/public/a.txt"), "file public/a.txt");
    assert_eq!(
        get(&site, &p, "/whatever"),
        "app server.js",
        "an empty map value fails (.+)"
    );
}

#[test]
fn pbaio_wildcard_rule() {
    let site = Site::new(&[
        ("server.js", "//"),
        ("public/css/a.css", "x"),
        ("app.txt", "root"),
    ]);
    site.write("web.config", &fixture("pbaio-angular2-iisnode-test.config"));
    let p = site.pipeline();
    let r = routed(&p, "GET", "/css/a.css", &[]);
    assert_eq!(describe(&site.root, &r), "file public/css/a.css");
    assert_eq!(r.url, "/public/css/a.css");
    assert_eq!(
        get(&site, &p, "/app.txt"),
        "file app.txt",
        "an existing file is not rewritten"
    );
    assert_eq!(
        get(&site, &p, "/api/users"),
        "app server.js",
        "*.* needs a dot"
    );
    assert_eq!(get(&site, &p, "/socket.io/x"), "app server.js");
    assert_eq!(
        get(&site, &p, "/bin/x"),
        "error 404.8",
        "bin stays hidden (the remove is commented out)"
    );
}

#[test]
fn jokecamp_wildcard_handler_makes_one_app_per_script() {
    let site = Site::new(&[
        ("server-faye.js", "//"),
        ("server-socketio.js", "//"),
        ("client.js", "//"),
    ]);
    site.write(
        "web.config",
        &fixture("jokecamp-iisnode-multiple-server-demo.config"),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/server-faye.js"), "app server-faye.js");
    assert_eq!(
        get(&site, &p, "/server-socketio.js/x"),
        "app server-socketio.js +/x"
    );
    assert_eq!(get(&site, &p, "/client.js"), "file client.js");
}

#[test]
fn kidd1118_handlers_remove_and_execute_access() {
    let site = Site::new(&[("server.js", "//")]);
    site.write("web.config", &fixture("kidd1118-mock-service.config"));
    let p = site.pipeline();
    // WebDAV is re-added with requireAccess="Execute", which the stock accessPolicy does not
    // grant: PUT reaches node.
    assert_eq!(go(&site, &p, "PUT", "/-/package/x"), "app server.js");
    assert_eq!(go(&site, &p, "DELETE", "/x"), "app server.js");
    assert_eq!(
        get(&site, &p, "/"),
        "app server.js",
        "`/*` matches everything"
    );
}

#[test]
fn next_js_is_file_and_is_directory() {
    let site = Site::new(&[
        ("server.js", "//"),
        ("_next/static/a.js", "//"),
        ("docs/", ""),
    ]);
    site.write(
        "web.config",
        &fixture("donharice78-next-js-portfolio.config"),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/about"), "app server.js");
    assert_eq!(
        get(&site, &p, "/_next/static/a.js"),
        "file _next/static/a.js"
    );
    assert_eq!(
        get(&site, &p, "/docs"),
        "redirect 301 http://localhost:8080/docs/"
    );
    assert_eq!(get(&site, &p, "/docs/"), "error 403.14");
}

#[test]
fn is_file_inputs_built_with_backslashes_name_the_file() {
    // Real rules build IsFile inputs as Windows paths, with `\` (one or two) between the
    // names and `/` inside the back-reference; Windows reads both as separators.
    let site = rules_site(
        r#"<rules>
  <rule name="appl" stopProcessing="true"><match url="^one/(.*)"/><conditions><add input="{APPL_PHYSICAL_PATH}public\{R:1}" matchType="IsFile"/></conditions><action type="Rewrite" url="public/{R:1}"/></rule>
  <rule name="next" stopProcessing="true"><match url="^_next/static/(.*)"/><conditions><add input="{DOCUMENT_ROOT}\build\static\{R:1}" matchType="IsFile"/></conditions><action type="Rewrite" url="build/static/{R:1}"/></rule>
  <rule name="double" stopProcessing="true"><match url="^two/(.*)"/><conditions><add input="{DOCUMENT_ROOT}\\public\\{R:1}" matchType="IsDirectory"/></conditions><action type="Rewrite" url="public/{R:1}/a.css"/></rule>
  <rule name="up" stopProcessing="true"><match url="^up/(.*)"/><conditions><add input="{DOCUMENT_ROOT}\public\..\..\{R:1}" matchType="IsFile"/></conditions><action type="CustomResponse" statusCode="410"/></rule>
  <rule name="node" stopProcessing="true"><match url=".*"/><action type="Rewrite" url="app.js"/></rule>
</rules>"#,
        "",
        &[
            ("app.js", "//"),
            ("public/css/a.css", "a"),
            ("build/static/chunks/m.js", "//"),
        ],
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/one/css/a.css"), "file public/css/a.css");
    assert_eq!(get(&site, &p, "/one/css/missing.css"), "app app.js");
    assert_eq!(
        get(&site, &p, "/_next/static/chunks/m.js"),
        "file build/static/chunks/m.js"
    );
    assert_eq!(get(&site, &p, "/two/css"), "file public/css/a.css");
    // `..` written with backslashes is a `..` segment, which iisn's file tests refuse.
    let outside = site.root.file_name().and_then(|n| n.to_str()).unwrap_or("");
    assert_eq!(
        get(&site, &p, &format!("/up/{outside}/app.js")),
        "app app.js"
    );
}

#[test]
fn ciphershieldtech_api_rule() {
    let site = Site::new(&[("server.js", "//")]);
    site.write(
        "web.config",
        &fixture("dev9136128369-ciphershieldtech.config"),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/api/users/1"), "app server.js");
    assert_eq!(get(&site, &p, "/about"), "error 404.0");
}

#[test]
fn iisnode_issue_configs() {
    let site = Site::new(&[("server.js", "//"), ("node_modules/a.js", "//")]);
    site.write("web.config", &fixture("iisnode-issue-354.config"));
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/myroute/id"), "app server.js");
    assert_eq!(
        get(&site, &p, "/node_modules/a.js"),
        "error 404.8",
        "filtering runs before rewrite"
    );

    let site = Site::new(&[("dist/app.js", "//"), ("iisnode/index.html", "x")]);
    site.write("web.config", &fixture("iisnode-issue-535.config"));
    let p = site.pipeline();
    assert_eq!(
        get(&site, &p, "/anything"),
        "app dist/app.js",
        "backslash target, handler path with /"
    );
    assert_eq!(
        get(&site, &p, "/iisnode/index.html"),
        "file iisnode/index.html",
        "negated match"
    );

    let site = Site::new(&[("app.js", "//"), ("public/a.css", "x")]);
    site.write("web.config", &fixture("iisnode-issue-262.config"));
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/a.css"), "file public/a.css");
    assert_eq!(get(&site, &p, "/debug"), "app app.js");

    let site = Site::new(&[("bin/www", "//"), ("public/a.css", "x")]);
    site.write("web.config", &fixture("iisnode-issue-302.config"));
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/a.css"), "file public/a.css");
    assert_eq!(
        get(&site, &p, "/users"),
        "app bin/www",
        "absolute rewrite to /bin/www"
    );
    assert_eq!(get(&site, &p, "/bin/www/debug"), "app bin/www +/debug");
}

// ---------------------------------------------------------------------------------------
// URL Rewrite features one by one
// ---------------------------------------------------------------------------------------

fn rules_site(rules: &str, extra: &str, files: &[(&str, &str)]) -> Site {
    let site = Site::new(files);
    site.write(
        "web.config",
        &wrap(&format!(
            r#"<handlers><add name="iisnode" path="app.js" verb="*" modules="iisnode"/></handlers>
<rewrite>{rules}</rewrite>{extra}"#
        )),
    );
    site
}

#[test]
fn match_ignore_case_negate_and_syntaxes() {
    let site = rules_site(
        r#"<rules>
  <rule name="cs" stopProcessing="true"><match url="^API/" ignoreCase="false"/><action type="Rewrite" url="app.js"/></rule>
  <rule name="exact" patternSyntax="ExactMatch" stopProcessing="true"><match url="Exact/Path"/><action type="Rewrite" url="app.js"/></rule>
  <rule name="wild" patternSyntax="Wildcard" stopProcessing="true"><match url="w/*/x"/><action type="Rewrite" url="app.js?who={R:1}"/></rule>
  <rule name="lookahead" stopProcessing="true"><match url="^(?!static/)v2/(.*)"/><action type="Rewrite" url="app.js?rest={R:1}"/></rule>
  <rule name="neg" stopProcessing="true"><match url="^(static|api|API|exact|w|v2)/" negate="true"/><action type="CustomResponse" statusCode="410" statusReason="Gone Away" statusDescription="not here"/></rule>
</rules>"#,
        "",
        &[("app.js", "//"), ("static/a.txt", "a")],
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/API/x"), "app app.js");
    assert_eq!(get(&site, &p, "/api/x"), "error 404.0", "ignoreCase=false");
    assert_eq!(
        get(&site, &p, "/exact/PATH"),
        "app app.js",
        "ExactMatch ignores case by default"
    );
    assert_eq!(
        get(&site, &p, "/exact/path/more"),
        "error 404.0",
        "ExactMatch is whole-string"
    );
    let r = routed(&p, "GET", "/w/abc/x", &[]);
    assert_eq!(describe(&site.root, &r), "app app.js");
    assert_eq!(r.query.as_deref(), Some("who=abc"));
    let r = routed(&p, "GET", "/v2/a/b", &[]);
    assert_eq!(r.query.as_deref(), Some("rest=a/b"));
    assert_eq!(get(&site, &p, "/static/a.txt"), "file static/a.txt");
    let r = routed(&p, "GET", "/other", &[]);
    match &r.decision {
        Decision::Error(e) => {
            assert_eq!((e.status, e.substatus), (410, 0));
            assert_eq!(e.reason.as_deref(), Some("Gone Away"));
            assert_eq!(e.detail, "not here");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn conditions_grouping_captures_and_server_variables() {
    let site = rules_site(
        r#"<rules>
  <rule name="any" stopProcessing="true">
    <match url="^any$"/>
    <conditions logicalGrouping="MatchAny">
      <add input="{HTTP_X_A}" pattern="^yes$"/>
      <add input="{QUERY_STRING}" pattern="(?:^|&amp;)b=(\d+)"/>
    </conditions>
    <action type="Rewrite" url="app.js?c={C:1}" appendQueryString="false"/>
  </rule>
  <rule name="track" stopProcessing="true">
    <match url="^track/(\w+)$"/>
    <conditions trackAllCaptures="true">
      <add input="{HTTP_HOST}" pattern="^(\w+):(\d+)$"/>
      <add input="{R:1}" pattern="^(\w)"/>
    </conditions>
    <action type="Rewrite" url="app.js?all={C:0}|{C:1}|{C:2}|{C:3}|{R:0}" appendQueryString="false"/>
  </rule>
  <rule name="last" stopProcessing="true">
    <match url="^last$"/>
    <conditions>
      <add input="{HTTP_HOST}" pattern="^(\w+):(\d+)$"/>
      <add input="{REQUEST_METHOD}" pattern="^(G)ET"/>
    </conditions>
    <action type="Rewrite" url="app.js?c1={C:1}&amp;c2={C:2}" appendQueryString="false"/>
  </rule>
  <rule name="vars" stopProcessing="true">
    <match url="^vars$"/>
    <conditions>
      <add input="{HTTPS}" pattern="^OFF$"/>
      <add input="{REQUEST_URI}" pattern="^/vars\?q=1$"/>
      <add input="{HTTP_USER_AGENT}" pattern="^$"/>
      <add input="{SERVER_PORT}" pattern="^8080$"/>
    </conditions>
    <action type="Rewrite" url="app.js?host={ToLower:{HTTP_HOST}}&amp;enc={UrlEncode:a b/c}&amp;dec={UrlDecode:x%2Fy}&amp;url={URL}" appendQueryString="false"/>
  </rule>
</rules>"#,
        "",
        &[("app.js", "//")],
    );
    let p = site.pipeline();
    let q = |t: &str, h: &[(&str, &str)]| {
        let r = routed(&p, "GET", t, h);
        (describe(&site.root, &r), r.query)
    };
    assert_eq!(
        q("/any", &[("x-a", "yes")]),
        ("app app.js".into(), Some("c=".into()))
    );
    assert_eq!(
        q("/any?b=42", &[]),
        ("app app.js".into(), Some("c=42".into()))
    );
    assert_eq!(
        q("/any?c=1", &[]).0,
        "error 404.0",
        "MatchAny with no match"
    );
    assert_eq!(
        q("/track/zed", &[]).1.as_deref(),
        Some("all=localhost:8080|localhost|8080|z|track/zed")
    );
    assert_eq!(
        q("/last", &[]).1.as_deref(),
        Some("c1=G&c2="),
        "{{C:n}} is the last matched condition"
    );
    assert_eq!(
        q("/vars?q=1", &[]).1.as_deref(),
        Some("host=localhost:8080&enc=a b%2Fc&dec=x/y&url=/vars")
    );
}

#[test]
fn actions_redirect_abort_none_and_query_strings() {
    let site = rules_site(
        r#"<rules>
  <rule name="noop" stopProcessing="true"><match url="^keep/"/><action type="None"/></rule>
  <rule name="r301"><match url="^old/(.*)"/><action type="Redirect" url="new/{R:1}"/></rule>
  <rule name="r302"><match url="^found$"/><action type="Redirect" url="/elsewhere" redirectType="Found" appendQueryString="false"/></rule>
  <rule name="r303"><match url="^seeother$"/><action type="Redirect" url="https://example.com/x?y=1" redirectType="SeeOther"/></rule>
  <rule name="r307"><match url="^temp$"/><action type="Redirect" url="/t" redirectType="Temporary"/></rule>
  <rule name="abort"><match url="^abort$"/><action type="AbortRequest"/></rule>
  <rule name="q1" stopProcessing="true"><match url="^q1$"/><action type="Rewrite" url="app.js?x=1"/></rule>
  <rule name="q2" stopProcessing="true"><match url="^q2$"/><action type="Rewrite" url="app.js?x=1" appendQueryString="false"/></rule>
  <rule name="q3" stopProcessing="true"><match url="^q3$"/><action type="Rewrite" url="app.js" appendQueryString="false"/></rule>
</rules>"#,
        "",
        &[("app.js", "//"), ("keep/a.txt", "a")],
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/keep/a.txt"), "file keep/a.txt");
    assert_eq!(
        get(&site, &p, "/old/a/b?z=1"),
        "redirect 301 http://localhost:8080/new/a/b?z=1"
    );
    assert_eq!(
        get(&site, &p, "/found?z=1"),
        "redirect 302 http://localhost:8080/elsewhere"
    );
    assert_eq!(
        get(&site, &p, "/seeother?z=1"),
        "redirect 303 https://example.com/x?y=1&z=1"
    );
    assert_eq!(
        get(&site, &p, "/temp"),
        "redirect 307 http://localhost:8080/t"
    );
    assert_eq!(get(&site, &p, "/abort"), "abort");
    let q = |t: &str| routed(&p, "GET", t, &[]).query;
    assert_eq!(q("/q1?o=2").as_deref(), Some("x=1&o=2"));
    assert_eq!(q("/q2?o=2").as_deref(), Some("x=1"));
    assert_eq!(q("/q3?o=2"), None);
}

#[test]
fn server_variables_set_request_headers() {
    let site = rules_site(
        r#"<rules>
  <rule name="set">
    <match url="(.*)"/>
    <serverVariables>
      <set name="HTTP_X_ORIGINAL_HOST" value="{HTTP_HOST}"/>
      <set name="HTTP_X_KEEP" value="new" replace="false"/>
      <set name="MY_VAR" value="v-{R:1}"/>
    </serverVariables>
  </rule>
  <rule name="use" stopProcessing="true">
    <match url=".*"/>
    <action type="Rewrite" url="app.js?v={MY_VAR}&amp;h={HTTP_X_ORIGINAL_HOST}" appendQueryString="false"/>
  </rule>
</rules>"#,
        "",
        &[("app.js", "//")],
    );
    let p = site.pipeline();
    let r = routed(&p, "GET", "/p", &[("x-keep", "old")]);
    assert_eq!(r.query.as_deref(), Some("v=v-p&h=localhost:8080"));
    assert_eq!(
        r.set_headers,
        vec![("x-original-host".to_string(), "localhost:8080".to_string())],
        "replace=\"false\" keeps the client's x-keep"
    );
}

#[test]
fn replace_false_keeps_a_server_variable_the_request_already_has() {
    // URL Rewrite 2.0: replace "specifies whether to overwrite the value of the server
    // variable if it already exists"; REMOTE_ADDR and REQUEST_METHOD always do.
    let site = rules_site(
        r#"<rules>
  <rule name="set">
    <match url="(.*)"/>
    <serverVariables>
      <set name="REMOTE_ADDR" value="{HTTP_X_FORWARDED_FOR}" replace="false"/>
      <set name="MY_VAR" value="first" replace="false"/>
      <set name="SERVER_SOFTWARE" value="mine"/>
    </serverVariables>
  </rule>
  <rule name="again">
    <match url="(.*)"/>
    <serverVariables>
      <set name="MY_VAR" value="second" replace="false"/>
    </serverVariables>
  </rule>
  <rule name="use" stopProcessing="true">
    <match url=".*"/>
    <action type="Rewrite" url="app.js?a={REMOTE_ADDR}&amp;v={MY_VAR}&amp;s={SERVER_SOFTWARE}" appendQueryString="false"/>
  </rule>
</rules>"#,
        "",
        &[("app.js", "//")],
    );
    let p = site.pipeline();
    let r = routed(&p, "GET", "/p", &[("x-forwarded-for", "203.0.113.9")]);
    assert_eq!(r.query.as_deref(), Some("a=127.0.0.1&v=first&s=mine"));
    assert!(
        !r.set_vars.iter().any(|(n, _)| n == "REMOTE_ADDR"),
        "{:?}",
        r.set_vars
    );
}

#[test]
fn parent_rules_run_before_child_rules_relative_to_their_folder() {
    let site = Site::new(&[
        ("sub/app.js", "//"),
        ("sub/other.js", "//"),
        ("sub/x/y.txt", "y"),
    ]);
    site.write(
        "web.config",
        &wrap(
            r#"<rewrite><rules><rule name="parent"><match url="^sub/old/(.*)"/><action type="Rewrite" url="sub/new/{R:1}"/></rule></rules></rewrite>"#,
        ),
    );
    site.write(
        "sub/web.config",
        &wrap(
            r#"<handlers><add name="iisnode" path="*.js" verb="*" modules="iisnode"/></handlers>
<rewrite><rules>
  <rule name="child" stopProcessing="true"><match url="^new/(.*)"/><action type="Rewrite" url="app.js?p={R:1}"/></rule>
  <rule name="abs" stopProcessing="true"><match url="^abs$"/><action type="Rewrite" url="/sub/other.js"/></rule>
  <rule name="up" stopProcessing="true"><match url="^up$"/><action type="Rewrite" url="../../../x"/></rule>
  <rule name="hidden" stopProcessing="true"><match url="^hide$"/><action type="Rewrite" url="bin/x.js"/></rule>
  <rule name="arr" stopProcessing="true"><match url="^arr$"/><action type="Rewrite" url="http://backend/x"/></rule>
  <rule name="bad" stopProcessing="true"><match url="^bad(("/><action type="Rewrite" url="app.js"/></rule>
</rules></rewrite>"#,
        ),
    );
    let p = site.pipeline();
    let r = routed(&p, "GET", "/sub/old/a/b", &[]);
    assert_eq!(describe(&site.root, &r), "app sub/app.js");
    assert_eq!(r.query.as_deref(), Some("p=a/b"), "the child saw new/a/b");
    assert_eq!(get(&site, &p, "/sub/abs"), "app sub/other.js");
    assert_eq!(get(&site, &p, "/sub/up"), "error 400.0");
    assert_eq!(
        get(&site, &p, "/sub/hide"),
        "error 404.8",
        "a rewrite cannot reach a hidden segment"
    );
    assert_eq!(get(&site, &p, "/sub/arr"), "error 404.4");
    assert_eq!(
        get(&site, &p, "/sub/x/y.txt"),
        "error 500.50",
        "a pattern that does not compile"
    );
    assert_eq!(
        get(&site, &p, "/other"),
        "error 404.0",
        "the child's rules do not apply outside sub"
    );
}

#[test]
fn patterns_iis_cannot_compile_are_500_50() {
    // A condition pattern that tries to use {C:1} (IIS does not expand it there, and its
    // regex engine refuses the brace), lookbehind and named groups: IIS answers 500.50.
    let site = rules_site(
        r#"<rules>
  <rule name="host-folder">
    <match url="(.*)"/>
    <conditions trackAllCaptures="true">
      <add input="{HTTP_HOST}" pattern="^(localhost):\d+$"/>
      <add input="{PATH_INFO}" pattern="^/{C:1}" negate="true"/>
    </conditions>
    <action type="Rewrite" url="/{C:1}/{R:1}"/>
  </rule>
</rules>"#,
        "",
        &[("app.js", "//")],
    );
    let p = site.pipeline();
    let r = routed(&p, "GET", "/x", &[]);
    match &r.decision {
        Decision::Error(e) => {
            assert_eq!((e.status, e.substatus), (500, 50));
            assert!(e.detail.contains("repetition count"), "{}", e.detail);
        }
        other => panic!("{other:?}"),
    }
    let site = rules_site(
        r#"<rules>
  <rule name="behind" stopProcessing="true"><match url="^(?<!api/)v1/"/><action type="Rewrite" url="app.js"/></rule>
</rules>"#,
        "",
        &[("app.js", "//")],
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/v1/x"), "error 500.50");
    let site = rules_site(
        r#"<rules>
  <rule name="named" stopProcessing="true"><match url="^n/(?<id>\d+)$"/><action type="Rewrite" url="app.js"/></rule>
  <rule name="escaped" stopProcessing="true"><match url="^e/\{id\}$"/><action type="Rewrite" url="app.js"/></rule>
</rules>"#,
        "",
        &[("app.js", "//")],
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/n/1"), "error 500.50");
    let site = rules_site(
        r#"<rules>
  <rule name="escaped" stopProcessing="true"><match url="^e/\{id\}$"/><action type="Rewrite" url="app.js"/></rule>
</rules>"#,
        "",
        &[("app.js", "//")],
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/e/%7Bid%7D"), "app app.js");
}

/// Rules in `<location path="api">` are scoped by the web.config that declares them: their
/// input is relative to its folder (`api/v1/users`) and so are their targets, as observed on
/// IIS 10 (URL Rewrite's documentation says relative to the location); they apply to URLs
/// under the location only.
#[test]
fn location_rules_are_relative_to_their_web_config() {
    let site = Site::new(&[("api/app.js", "//")]);
    site.write(
        "web.config",
        r#"<configuration><location path="api"><system.webServer>
<handlers><add name="iisnode" path="app.js" verb="*" modules="iisnode"/></handlers>
<rewrite><rules>
<rule name="local" stopProcessing="true"><match url="^v1/(.*)"/><action type="Rewrite" url="api/app.js?local"/></rule>
<rule name="r"><match url="^api/v2/(.*)"/><action type="Rewrite" url="api/app.js"/></rule>
</rules></rewrite>
</system.webServer></location></configuration>"#,
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/api/v2/users"), "app api/app.js");
    assert_eq!(get(&site, &p, "/api/v1/users"), "error 404.0");
    assert_eq!(get(&site, &p, "/v1/users"), "error 404.0");
}

// ---------------------------------------------------------------------------------------
// Handlers, static files, default documents, request filtering
// ---------------------------------------------------------------------------------------

#[test]
fn handler_list_order_clear_remove_verbs_and_not_emulated() {
    let site = Site::new(&[
        ("get.js", "//"),
        ("page.aspx", "<%%>"),
        ("a.php", "<?php"),
        ("a.txt", "a"),
        ("cleared/a.txt", "a"),
        ("readd/a.txt", "a"),
        ("tool.exe", "MZ"),
    ]);
    site.write(
        "web.config",
        &wrap(
            r#"<handlers>
  <add name="getonly" path="get.js" verb="GET,HEAD" modules="iisnode"/>
  <add name="PHP_via_FastCGI" path="*.php" verb="*" modules="FastCgiModule" scriptProcessor="C:\php\php-cgi.exe" resourceType="Either"/>
</handlers>"#,
        ),
    );
    site.write("cleared/web.config", &wrap("<handlers><clear/></handlers>"));
    site.write(
        "readd/web.config",
        &wrap(r#"<handlers><clear/><add name="StaticFile" path="*" verb="*" modules="StaticFileModule,DefaultDocumentModule,DirectoryListingModule" resourceType="Either" requireAccess="Read"/></handlers>"#),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/get.js"), "app get.js");
    assert_eq!(
        go(&site, &p, "POST", "/get.js"),
        "error 405.0",
        "the verb does not match: StaticFile"
    );
    assert_eq!(
        get(&site, &p, "/page.aspx"),
        "error 500.21",
        "ASP.NET is not emulated"
    );
    assert_eq!(
        get(&site, &p, "/a.php"),
        "error 500.21",
        "PHP is not emulated"
    );
    let r = routed(&p, "GET", "/a.php", &[]);
    if let Decision::Error(e) = &r.decision {
        assert!(e.detail.contains("PHP_via_FastCGI") && e.detail.contains("not emulated by iisn"));
    }
    assert_eq!(
        go(&site, &p, "PUT", "/a.txt"),
        "error 405.0",
        "WebDAV is not installed: StaticFile"
    );
    assert_eq!(go(&site, &p, "OPTIONS", "/a.txt"), "options");
    assert_eq!(get(&site, &p, "/a.txt"), "file a.txt");
    assert_eq!(
        get(&site, &p, "/tool.exe"),
        "file tool.exe",
        "CGI needs Execute access"
    );
    assert_eq!(
        get(&site, &p, "/about"),
        "error 404.0",
        "the extension-less ASP.NET mapping does not apply"
    );
    assert_eq!(get(&site, &p, "/cleared/a.txt"), "error 404.4");
    assert_eq!(get(&site, &p, "/readd/a.txt"), "file readd/a.txt");
}

/// Regression: a mapping inside `<location path="server.js">` (the pattern ELMAH's
/// `<location path="elmah.axd">` made common) was ignored, because each segment was mapped
/// with its folder's handlers only: the script went out as a static file, its source.
#[test]
fn a_location_naming_the_file_holds_its_handler_mapping() {
    let site = Site::new(&[
        ("server.js", "// secret"),
        ("app/main.js", "// secret"),
        ("app/client.js", "// public"),
        ("other.js", "// public"),
    ]);
    site.write(
        "web.config",
        r#"<configuration>
  <location path="server.js"><system.webServer><handlers>
    <add name="iisnode" path="*.js" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
  <location path="app/main.js"><system.webServer><handlers>
    <add name="main" path="main.js" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
</configuration>"#,
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/server.js"), "app server.js");
    assert_eq!(get(&site, &p, "/SERVER.JS"), "app SERVER.JS");
    assert_eq!(get(&site, &p, "/server.js/debug"), "app server.js +/debug");
    assert_eq!(get(&site, &p, "/app/main.js"), "app app/main.js");
    // The locations name those files only.
    assert_eq!(get(&site, &p, "/other.js"), "file other.js");
    assert_eq!(get(&site, &p, "/app/client.js"), "file app/client.js");
}

/// A default document request filtering hides is not served, and the reason given is
/// filtering, not a symbolic link (there is none).
#[test]
fn a_hidden_default_document_is_refused_for_the_right_reason() {
    let site = Site::new(&[("d/iisnode.yml", "secret: 1"), ("d/app.config", "x")]);
    site.write(
        "web.config",
        &wrap(r#"<defaultDocument><files><clear/><add value="iisnode.yml"/><add value="web.config"/></files></defaultDocument>"#),
    );
    let p = site.pipeline();
    for url in ["/", "/d/"] {
        let r = routed(&p, "GET", url, &[]);
        let Decision::Error(e) = &r.decision else {
            panic!("{url}: {:?}", describe(&site.root, &r));
        };
        assert_eq!((e.status, e.substatus), (404, 0), "{url}");
        assert!(
            e.detail.starts_with("Request filtering hides"),
            "{url}: {}",
            e.detail
        );
    }
}

#[test]
fn static_mime_map_default_documents_and_listing() {
    let site = Site::new(&[
        ("a.json", "{}"),
        ("app.webmanifest", "{}"),
        ("unknown.xyz", "?"),
        ("noext", "?"),
        (".env", "SECRET=1"),
        (".git/config", "x"),
        (".well-known/acme", "token"),
        ("docs/start.htm", "<p>"),
        ("docs/index.html", "<p>"),
        ("browse/a.txt", "a"),
        ("empty/", ""),
    ]);
    site.write(
        "web.config",
        &wrap(
            r#"<staticContent>
  <remove fileExtension=".json"/>
  <mimeMap fileExtension=".webmanifest" mimeType="application/manifest+json"/>
  <mimeMap fileExtension="." mimeType="text/plain"/>
</staticContent>
<defaultDocument><files><add value="START.HTM"/></files></defaultDocument>"#,
        ),
    );
    site.write(
        "browse/web.config",
        &wrap(r#"<directoryBrowse enabled="true"/>"#),
    );
    site.write(
        "empty/web.config",
        &wrap(r#"<defaultDocument enabled="false"/>"#),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/a.json"), "error 404.3");
    assert_eq!(get(&site, &p, "/app.webmanifest"), "file app.webmanifest");
    assert_eq!(get(&site, &p, "/unknown.xyz"), "error 404.3");
    assert_eq!(
        get(&site, &p, "/noext"),
        "file noext",
        "the `.` mapping covers extension-less files"
    );
    assert_eq!(get(&site, &p, "/.env"), "error 404.0");
    assert_eq!(get(&site, &p, "/.git/config"), "error 404.0");
    assert_eq!(get(&site, &p, "/.well-known/acme"), "file .well-known/acme");
    assert_eq!(
        get(&site, &p, "/docs/"),
        "file docs/start.htm",
        "site entries come first, case-insensitive"
    );
    assert_eq!(get(&site, &p, "/browse/"), "listing browse");
    assert_eq!(get(&site, &p, "/empty/"), "error 403.14");
    assert_eq!(get(&site, &p, "/a.txt/"), "error 404.0");
    assert_eq!(
        go(&site, &p, "HEAD", "/app.webmanifest"),
        "file app.webmanifest"
    );
}

/// A decision remembered for a URL path ([`memo`]) never lets a filtering rule's query or
/// header scan go unchecked, and a site with URL-only rules keeps the memo.
#[test]
fn filtering_rules_and_the_memo() {
    for (scan, memo_ok) in [
        ("scanQueryString=\"true\"", false),
        ("scanUrl=\"true\"", true),
    ] {
        let site = Site::new(&[("app.js", "//")]);
        site.write(
            "web.config",
            &wrap(&format!(
                r#"<handlers><add name="n" path="app.js" verb="*" modules="iisnode"/></handlers>
<security><requestFiltering><filteringRules>
  <filteringRule name="r" {scan}><denyStrings><add string="evil"/></denyStrings></filteringRule>
</filteringRules></requestFiltering></security>"#
            )),
        );
        let p = site.pipeline();
        assert_eq!(p.config_for("/app.js").filter.memo_ok(), memo_ok);
        for _ in 0..2 {
            assert_eq!(get(&site, &p, "/app.js?q=fine"), "app app.js");
        }
        let q = if memo_ok {
            "app app.js"
        } else {
            "error 404.19"
        };
        assert_eq!(get(&site, &p, "/app.js?q=EVIL"), q, "{scan}");
        let u = if memo_ok {
            "error 404.19"
        } else {
            "app app.js +/evil"
        };
        assert_eq!(get(&site, &p, "/app.js/evil"), u, "{scan}");
    }
}

/// Regression: `<mimeMap fileExtension="*">` was not supported (404.3 for files it maps).
#[test]
fn mime_map_wildcard_is_the_fallback() {
    let site = Site::new(&[
        ("a.xyz", "?"),
        ("a.css", "?"),
        ("noext", "?"),
        ("sub/b.xyz", "?"),
        ("dot/c", "?"),
    ]);
    site.write(
        "web.config",
        &wrap(r#"<staticContent><mimeMap fileExtension="*" mimeType="application/octet-stream"/></staticContent>"#),
    );
    site.write(
        "sub/web.config",
        &wrap(r#"<staticContent><remove fileExtension="*"/></staticContent>"#),
    );
    site.write(
        "dot/web.config",
        &wrap(
            r#"<staticContent><mimeMap fileExtension="." mimeType="text/plain"/></staticContent>"#,
        ),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/a.xyz"), "file a.xyz");
    assert_eq!(
        get(&site, &p, "/noext"),
        "file noext",
        "extension-less files too"
    );
    assert_eq!(
        get(&site, &p, "/sub/b.xyz"),
        "error 404.3",
        "<remove> takes it away"
    );
    let root = p.config_for("/");
    assert_eq!(root.mime_type("a.xyz"), Some("application/octet-stream"));
    assert_eq!(root.mime_type("noext"), Some("application/octet-stream"));
    assert_eq!(
        root.mime_type("a.CSS"),
        Some("text/css"),
        "the exact extension wins"
    );
    let dot = p.config_for("/dot/c");
    assert_eq!(dot.mime_type("c"), Some("text/plain"), "`.` beats `*`");
    assert_eq!(dot.mime_type("c.xyz"), Some("application/octet-stream"));
    assert_eq!(p.config_for("/sub/b.xyz").mime_type("b.xyz"), None);
}

#[test]
fn request_filtering_configuration() {
    let site = Site::new(&[
        ("bin/a.txt", "a"),
        ("secret/a.txt", "a"),
        ("a.js", "//"),
        ("a.txt", "a"),
    ]);
    site.write(
        "web.config",
        &wrap(
            r#"<security><requestFiltering allowDoubleEscaping="false">
  <hiddenSegments><remove segment="bin"/><add segment="secret"/></hiddenSegments>
  <fileExtensions allowUnlisted="false"><add fileExtension=".txt" allowed="true"/></fileExtensions>
  <requestLimits maxAllowedContentLength="10" maxUrl="40" maxQueryString="8"/>
</requestFiltering></security>"#,
        ),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/bin/a.txt"), "file bin/a.txt");
    assert_eq!(get(&site, &p, "/SECRET/a.txt"), "error 404.8");
    assert_eq!(get(&site, &p, "/a.js"), "error 404.7", "unlisted");
    assert_eq!(get(&site, &p, "/a.txt"), "file a.txt");
    assert_eq!(
        get(&site, &p, &format!("/{}.txt", "a".repeat(40))),
        "error 404.14"
    );
    assert_eq!(get(&site, &p, "/a.txt?123456789"), "error 404.15");
    let r = routed(&p, "POST", "/a.txt", &[("content-length", "11")]);
    assert_eq!(describe(&site.root, &r), "error 413.1");
    assert_eq!(get(&site, &p, "/a%252etxt"), "error 404.11");

    let site = Site::new(&[("web.config", "")]);
    site.write(
        "web.config",
        &wrap(r#"<security><requestFiltering><hiddenSegments><clear/></hiddenSegments><fileExtensions><clear/></fileExtensions></requestFiltering></security><staticContent><mimeMap fileExtension=".yml" mimeType="text/plain"/><mimeMap fileExtension=".config" mimeType="text/xml"/></staticContent>"#),
    );
    site.write("iisnode.yml", "x: 1");
    let p = site.pipeline();
    assert_eq!(
        get(&site, &p, "/web.config"),
        "file web.config",
        "the site cleared every protection"
    );
    assert_eq!(
        get(&site, &p, "/iisnode.yml"),
        "error 404.8",
        "iisnode.yml stays hidden"
    );
}

/// Regression (observed on IIS 10, RL9): `maxUrl` and `fileExtensions` judge the URL up to
/// the script handler mapping finds in it, not the PATH_INFO after it; iisn counted the
/// whole URL, so `/server.js/<long path>` was 404.14 and `/server.js/x.config` 404.7.
#[test]
fn request_filtering_judges_the_script_not_its_path_info() {
    let site = Site::new(&[("server.js", "//"), ("sub/page.aspx", "")]);
    site.write(
        "web.config",
        &wrap(
            r#"<handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>
<security><requestFiltering>
  <fileExtensions allowUnlisted="false"><add fileExtension=".js" allowed="true"/><add fileExtension=".aspx" allowed="true"/></fileExtensions>
  <requestLimits maxUrl="40"/>
</requestFiltering></security>"#,
        ),
    );
    let p = site.pipeline();
    let long = format!("/server.js/{}", "a/".repeat(40));
    assert_eq!(
        get(&site, &p, &long),
        format!("app server.js +{}", &long[10..])
    );
    assert_eq!(
        get(&site, &p, &format!("/nosuch/{}", "a/".repeat(40))),
        "error 404.14",
        "no script: the whole URL counts"
    );
    assert_eq!(
        get(&site, &p, &format!("/{}server.js/x", "a".repeat(40))),
        "error 404.14",
        "the script's own URL is over"
    );
    assert_eq!(get(&site, &p, "/server.js/a/b"), "app server.js +/a/b");
    assert_eq!(
        get(&site, &p, "/server.js/x.config"),
        "app server.js +/x.config"
    );
    assert_eq!(get(&site, &p, "/other/x"), "error 404.7", "unlisted `.`");
    assert_eq!(
        get(&site, &p, "/server.js/web.config"),
        "error 404.8",
        "hidden segments still look at the whole URL"
    );
    // Any mapping splits the URL, not only iisnode's (`*.aspx` is ASP.NET's, not emulated).
    assert_eq!(get(&site, &p, "/sub/page.aspx/x.cs"), "error 500.21");
    // After a rewrite too: `/api/x` becomes `/server.js/x.data`, whose script is `.js`.
    let site2 = Site::new(&[("server.js", "//")]);
    site2.write(
        "web.config",
        &wrap(
            r#"<handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>
<security><requestFiltering>
  <fileExtensions allowUnlisted="false"><add fileExtension=".js" allowed="true"/><add fileExtension="." allowed="true"/></fileExtensions>
</requestFiltering></security>
<rewrite><rules><rule name="api"><match url="^api/(.*)$"/><action type="Rewrite" url="server.js/{R:1}.data"/></rule></rules></rewrite>"#,
        ),
    );
    let p2 = site2.pipeline();
    assert_eq!(get(&site2, &p2, "/api/x"), "app server.js +/x.data");
    assert_eq!(get(&site2, &p2, "/x.data"), "error 404.7");
}

/// Regression (observed on IIS 10, MH28): a handler path with a slash maps any URL that
/// ends with it at a segment boundary (`sub/marker.axd` took `/x/sub/marker.axd`), not only
/// the one below the mapping's folder; iisn served `/x/dist/server.js` as a static file.
#[test]
fn a_handler_path_with_a_slash_maps_any_tail_of_the_url() {
    let site = Site::new(&[("dist/server.js", "//"), ("x/dist/server.js", "//")]);
    site.write(
        "web.config",
        &wrap(r#"<handlers><add name="iisnode" path="dist/server.js" verb="*" modules="iisnode"/></handlers>"#),
    );
    site.write(
        "sub/web.config",
        &wrap(r#"<handlers><add name="api" path="api/app.js" verb="*" modules="iisnode"/></handlers>"#),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/dist/server.js"), "app dist/server.js");
    assert_eq!(get(&site, &p, "/X/Dist/Server.js"), "app X/Dist/Server.js");
    assert_eq!(get(&site, &p, "/x/dist/server.js"), "app x/dist/server.js");
    assert_eq!(
        get(&site, &p, "/x/dist/server.js/a/b"),
        "app x/dist/server.js +/a/b"
    );
    assert_eq!(
        get(&site, &p, "/server.js"),
        "error 404.0",
        "the whole tail"
    );
    assert_eq!(
        get(&site, &p, "/xdist/server.js"),
        "error 404.0",
        "at a boundary"
    );
    // A mapping in sub/web.config applies below sub/ only.
    assert_eq!(get(&site, &p, "/sub/y/api/app.js"), "app sub/y/api/app.js");
    assert_eq!(get(&site, &p, "/sub/api/app.js"), "app sub/api/app.js");
    assert_eq!(get(&site, &p, "/api/app.js"), "error 404.0");
}

#[test]
fn traversal_never_leaves_the_site() {
    let outer = tempfile::tempdir().expect("tempdir");
    std::fs::write(outer.path().join("secret.txt"), "s").expect("write");
    let site = Site::new(&[("public/a.txt", "a")]);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outer.path(), site.root.join("public/link")).expect("symlink");
        std::os::unix::fs::symlink(
            site.root.join("web.config"),
            site.root.join("public/wc.txt"),
        )
        .expect("symlink");
    }
    site.write("web.config", &wrap(""));
    let p = site.pipeline();
    for t in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/public/%2E%2E/%2e%2e/secret.txt",
        "/public/..%2f..%2fsecret.txt",
        "/public\\..\\..\\secret.txt",
        "/public%5c..%5c..%5csecret.txt",
        "/a%00.txt",
    ] {
        assert_eq!(get(&site, &p, t), "error 400.0", "{t}");
    }
    assert_eq!(
        get(&site, &p, "/%252e%252e/secret.txt"),
        "error 404.11",
        "double encoding"
    );
    assert_eq!(
        get(&site, &p, "/public/a.txt/../a.txt"),
        "file public/a.txt"
    );
    #[cfg(unix)]
    {
        assert_eq!(get(&site, &p, "/public/link/secret.txt"), "error 404.0");
        assert_eq!(
            get(&site, &p, "/public/wc.txt"),
            "error 404.0",
            "a link to web.config"
        );
    }
}

#[test]
fn app_path_and_absolute_rewrites() {
    let site = rules_site(
        r#"<rules>
  <rule name="abs" stopProcessing="true"><match url="^abs$"/><action type="Rewrite" url="/app.js"/></rule>
  <rule name="full" stopProcessing="true"><match url="^full$"/><action type="Rewrite" url="/base/app.js"/></rule>
  <rule name="redir" stopProcessing="true"><match url="^go$"/><action type="Redirect" url="there"/></rule>
</rules>"#,
        "",
        &[("app.js", "//"), ("dir/", "")],
    );
    let mut p = site.pipeline();
    p.set_app_path(Some("/base/"));
    assert_eq!(p.app_path(), "/base");
    assert_eq!(get(&site, &p, "/base/app.js"), "app app.js");
    assert_eq!(
        get(&site, &p, "/base/abs"),
        "error 404.0",
        "/app.js is a server path outside /base"
    );
    assert_eq!(get(&site, &p, "/base/full"), "app app.js");
    assert_eq!(
        get(&site, &p, "/base/go"),
        "redirect 301 http://localhost:8080/base/there"
    );
    assert_eq!(
        get(&site, &p, "/base/dir"),
        "redirect 301 http://localhost:8080/base/dir/"
    );
    assert_eq!(get(&site, &p, "/base"), "error 403.14");
    assert_eq!(get(&site, &p, "/other/app.js"), "error 404.0");
}

#[test]
fn configs_are_built_once_per_folder() {
    let site = Site::new(&[("a/b/c.txt", "c")]);
    site.write("web.config", &wrap(""));
    site.write(
        "a/web.config",
        &wrap(r#"<rewrite><rules><rule name="x"><match url="q"/></rule></rules></rewrite>"#),
    );
    site.write(
        "a/web.config",
        r#"<configuration><system.webServer><rewrite><rules><rule name="x"><match url="q"/></rule></rules></rewrite></system.webServer><location path="b/c.txt"><system.webServer><staticContent><remove fileExtension=".txt"/></staticContent></system.webServer></location></configuration>"#,
    );
    let p = site.pipeline();
    assert_eq!(p.configs().count(), 3);
    assert_eq!(p.config_for("a/b/c.txt").key, "a/b/c.txt");
    assert_eq!(p.config_for("a/b").key, "a");
    assert_eq!(p.config_for("A/x").key, "a");
    assert_eq!(p.config_for("zzz").key, "");
    assert!(Arc::ptr_eq(&p.config_for("a/x"), &p.config_for("a/y/z")));
    assert!(!p.config_for("a/x").rules.is_empty());
    assert!(p.config_for("x").rules.is_empty());
    assert_eq!(
        get(&site, &p, "/a/b/c.txt"),
        "error 404.3",
        "the <location> applies to the file"
    );
}

#[test]
fn the_one_pass_normal_path_test_agrees_with_the_plain_one() {
    let plain = |d: &str| {
        d.starts_with('/')
            && !d.contains('\\')
            && !d.contains("//")
            && !d.split('/').any(|s| s == "." || s == "..")
    };
    let alphabet = ['/', '.', 'a', '\\'];
    let mut all = vec![String::new()];
    let mut frontier = vec![String::new()];
    for _ in 0..6 {
        let mut next = Vec::new();
        for s in &frontier {
            for c in alphabet {
                let mut t = s.clone();
                t.push(c);
                next.push(t);
            }
        }
        all.extend(next.iter().cloned());
        frontier = next;
    }
    for s in &all {
        assert_eq!(super::already_normal(s), plain(s), "{s:?}");
    }
    assert_eq!(
        normalize_path("/a\u{85}b"),
        None,
        "C1 controls are refused too"
    );
    assert_eq!(normalize_path("/caf\u{e9}").as_deref(), Some("/caf\u{e9}"));
}

#[test]
fn normalisation() {
    assert_eq!(normalize_path("/a/./b/../c").as_deref(), Some("/a/c"));
    assert_eq!(normalize_path("/a//b/").as_deref(), Some("/a/b/"));
    assert_eq!(normalize_path("/a/..").as_deref(), Some("/"));
    assert_eq!(normalize_path("/a\\b").as_deref(), Some("/a/b"));
    assert_eq!(normalize_path("/..").as_deref(), None);
    assert_eq!(normalize_path("/a\0b"), None);
    assert_eq!(normalize_path("").as_deref(), Some("/"));
    assert_eq!(strip_prefix_ci("/App/x", "/app"), Some("/x"));
    assert_eq!(strip_prefix_ci("/app", "/app"), Some("/"));
    assert_eq!(strip_prefix_ci("/apps", "/app"), None);
    assert_eq!(normalize_app_path("node/"), "/node");
    assert_eq!(normalize_app_path("/"), "");
}

// ---------------------------------------------------------------------------------------
// The time budget
// ---------------------------------------------------------------------------------------

#[test]
fn a_pathological_rule_cannot_stall_other_requests() {
    let site = rules_site(
        r#"<rules>
  <rule name="evil" stopProcessing="true"><match url="^evil/(a+)+$"/><action type="Rewrite" url="app.js"/></rule>
</rules>"#,
        "",
        &[("app.js", "//")],
    );
    let p = Arc::new(site.pipeline());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let evil = format!("/evil/{}!", "a".repeat(40));
    let started = std::time::Instant::now();
    let mut h1 = head("GET", &evil, &[]);
    let r1 = rt.block_on(p.route(&mut h1));
    assert!(
        h1.target.is_empty() && h1.headers.is_empty(),
        "the head stays with the abandoned thread"
    );
    assert_eq!(describe(&site.root, &r1), "error 500.50");
    if let Decision::Error(e) = &r1.decision {
        assert!(e.detail.contains("\"evil\""), "{}", e.detail);
    }
    assert!(started.elapsed() < budget::REWRITE_BUDGET * 3);
    // A normal request still gets through at once.
    let t = std::time::Instant::now();
    let r2 = rt.block_on(p.route(&mut head("GET", "/app.js", &[])));
    assert_eq!(describe(&site.root, &r2), "app app.js");
    assert!(t.elapsed() < budget::REWRITE_BUDGET);
    // Another long input fails fast while the runaway runs; short ones are still matched.
    let t = std::time::Instant::now();
    let r3 = rt.block_on(p.route(&mut head("GET", &format!("/evil/{}", "a".repeat(30)), &[])));
    assert_eq!(describe(&site.root, &r3), "error 500.50");
    assert!(
        t.elapsed() < budget::REWRITE_BUDGET,
        "fails fast while the runaway runs"
    );
    // Matched on the rewrite thread in time: the head comes back whole.
    let mut h4 = head("GET", "/evil/aaa", &[]);
    let r4 = rt.block_on(p.route(&mut h4));
    assert_eq!(h4.target, "/evil/aaa");
    assert!(h4.headers.contains_key(http::header::HOST));
    assert_eq!(describe(&site.root, &r4), "app app.js");
    let r5 = rt.block_on(p.route(&mut head("GET", "/x/app.js", &[])));
    assert_eq!(
        describe(&site.root, &r5),
        "app x/app.js",
        "other URLs still route"
    );
    rt.shutdown_background();
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever the URL, a static decision stays inside the site.
    #[test]
    fn the_path_resolver_never_escapes(
        target in r"/[a-zA-Z0-9%./\\:;~ +-]{0,40}",
    ) {
        static SITE: std::sync::OnceLock<(Site, Pipeline)> = std::sync::OnceLock::new();
        let (site, p) = SITE.get_or_init(|| {
            let site = Site::new(&[("a/b.txt", "b"), ("c.txt", "c"), ("a/d/", "")]);
            site.write("web.config", &wrap(r#"<directoryBrowse enabled="true"/>"#));
            let p = site.pipeline();
            (site, p)
        });
        let r = p.decide(&head("GET", &target, &[]), None);
        match &r.decision {
            Decision::File { path } | Decision::Listing { dir: path } => {
                proptest::prop_assert!(path.starts_with(&site.root), "{target} -> {}", path.display());
            }
            _ => {}
        }
        let resolved = static_files::resolve(&site.root, &target, &p.config_for("").filter);
        match resolved {
            static_files::Resolved::File(f) | static_files::Resolved::Dir(f) => {
                proptest::prop_assert!(f.starts_with(&site.root));
            }
            _ => {}
        }
    }

    /// Rule evaluation never panics, whatever the URL, the headers and the query.
    #[test]
    fn rewrite_evaluation_never_panics(
        path in r"/[a-zA-Z0-9%./\\{}:?&=+-]{0,30}",
        host in r"[a-zA-Z0-9.:{}%-]{0,20}",
        method in "(GET|POST|PUT|OPTIONS|HEAD|DELETE|TRACE)",
    ) {
        static SITE: std::sync::OnceLock<(Site, Pipeline)> = std::sync::OnceLock::new();
        let (_, p) = SITE.get_or_init(|| {
            let site = rules_site(
                r#"<rules>
  <rule name="n" stopProcessing="true"><match url="^server.js\/debug[\/]?"/></rule>
  <rule name="s"><action type="Rewrite" url="public{REQUEST_URI}"/></rule>
  <rule name="m"><match url="^(.*)/(.*)$"/><conditions trackAllCaptures="true"><add input="{HTTP_HOST}" pattern="(.*)"/><add input="{QUERY_STRING}" pattern="(.*)"/></conditions><action type="Rewrite" url="{ToLower:{R:2}}/{UrlDecode:{C:2}}?{UrlEncode:{C:1}}"/></rule>
  <rule name="d"><conditions logicalGrouping="MatchAny"><add input="{REQUEST_FILENAME}" matchType="IsFile" negate="true"/><add input="{R:9}" matchType="IsDirectory"/></conditions><action type="Rewrite" url="app.js"/></rule>
  <rule name="r"><match url="^zz(.*)"/><action type="Redirect" url="{R:1}{R:7}"/></rule>
</rules>"#,
                "",
                &[("app.js", "//"), ("public/a.txt", "a")],
            );
            let p = site.pipeline();
            (site, p)
        });
        let h = HeaderValue::from_str(&host).map(|_| host.clone()).unwrap_or_default();
        let _ = p.decide(&head(&method, &path, &[("x-host", &h)]), None);
    }
}

// ---------------------------------------------------------------------------------------
// Configuration IIS cannot load (500.19), UTF-16 files, configSource (issue 10)
// ---------------------------------------------------------------------------------------

const NODE_SVC: &str =
    r#"<handlers><add name="svc" path="svc.js" verb="*" modules="iisnode"/></handlers>"#;

#[test]
fn a_broken_web_config_is_500_19_at_and_below_its_folder_only() {
    let site = Site::new(&[
        ("web.config", &wrap("")),
        ("index.html", "home"),
        ("api/svc.js", "// source"),
        ("api/a.css", "x"),
        ("api/deep/b.txt", "x"),
        // `</handlers>` missing.
        (
            "api/web.config",
            "<configuration><system.webServer><handlers><add name=\"svc\" path=\"svc.js\" verb=\"*\" modules=\"iisnode\"/></system.webServer></configuration>",
        ),
        ("apix/c.txt", "x"),
    ]);
    let p = site.pipeline();
    for t in [
        "/api/svc.js",
        "/api/a.css",
        "/api/deep/b.txt",
        "/api/",
        "/API/svc.js",
    ] {
        assert_eq!(get(&site, &p, t), "error 500.19", "{t}");
    }
    assert_eq!(get(&site, &p, "/index.html"), "file index.html");
    assert_eq!(get(&site, &p, "/apix/c.txt"), "file apix/c.txt");
    let r = p.decide(&head("GET", "/api/a.css", &[]), None);
    let Decision::Error(e) = &r.decision else {
        panic!("error expected")
    };
    let fault = e.config.as_deref().expect("config fault");
    assert_eq!(fault.hresult, 0x8007_000d);
    assert!(fault.file.ends_with("api/web.config"));
    assert_eq!(fault.line, 1);
    assert!(fault.message.contains("IISN0001"), "{}", fault.message);
    // Rendered with IIS's defaults, not the broken file's settings.
    assert_eq!(
        r.config.eff.http_errors.error_mode,
        crate::config::web_config::ErrorMode::DetailedLocalOnly
    );
}

#[test]
fn a_rewrite_into_a_broken_folder_is_500_19() {
    let site = Site::new(&[
        (
            "web.config",
            &wrap(
                r#"<rewrite><rules><rule name="r"><match url="^go$"/><action type="Rewrite" url="api/a.css"/></rule></rules></rewrite>"#,
            ),
        ),
        ("api/a.css", "x"),
        (
            "api/web.config",
            &wrap(r#"<directoryBrowse enabled="true" showFlags="Date" bogus="1"/>"#),
        ),
    ]);
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/go"), "error 500.19");
}

#[test]
fn iisnode_settings_errors_are_not_500_19() {
    let site = Site::new(&[
        ("api/svc.js", "x"),
        ("api/a.css", "x"),
        (
            "api/web.config",
            &wrap(&format!(r#"{NODE_SVC}<iisnode idontexist="1"/>"#)),
        ),
    ]);
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/api/a.css"), "file api/a.css");
    assert_eq!(get(&site, &p, "/api/svc.js"), "app api/svc.js");
}

#[test]
fn the_500_19_page_is_detailed_for_loopback_clients_and_bare_otherwise() {
    let site = Site::new(&[
        ("a.txt", "x"),
        (
            "web.config",
            "<configuration>\n<system.webServer>\n<defaultDocument enabeld=\"true\"/>\n</system.webServer>\n</configuration>\n",
        ),
    ]);
    let p = site.pipeline();
    let r = p.decide(&head("GET", "/a.txt", &[]), None);
    let Decision::Error(e) = &r.decision else {
        panic!("error expected")
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (events, _rx) = crate::serve::events::Events::channel();
    let body_of = |local: bool| {
        let cx = errors::ErrorContext {
            pipeline: &p,
            config: &r.config,
            local,
            method: &Method::GET,
            url: "/a.txt",
            host: "localhost",
            local_addr: "127.0.0.1:8080".parse().expect("addr"),
            logon_user: "",
            events: &events,
        };
        rt.block_on(async {
            use http_body_util::BodyExt;
            let resp = errors::respond(&cx, e).await;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        })
    };
    let (status, local) = body_of(true);
    assert_eq!(status, 500);
    assert!(local.contains("HTTP Error 500.19"), "{local}");
    assert!(local.contains("0x8007000d"), "{local}");
    assert!(local.contains("web.config:3:"), "{local}");
    assert!(local.contains("enabeld"), "{local}");
    assert!(local.contains("Config Source"), "{local}");
    let (status, remote) = body_of(false);
    assert_eq!(status, 500);
    assert!(!remote.contains("web.config"), "{remote}");
    assert!(!remote.contains("enabeld"), "{remote}");
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[test]
fn a_utf16_web_config_is_read_as_iis_reads_it() {
    let site = Site::new(&[("svc.js", "x"), ("a.txt", "x")]);
    let text = format!(
        "<?xml version=\"1.0\" encoding=\"utf-16\"?>\r\n<configuration><system.webServer>{NODE_SVC}</system.webServer></configuration>\r\n"
    );
    std::fs::write(site.root.join("web.config"), utf16le_with_bom(&text)).expect("write");
    let p = site.pipeline();
    assert!(!p.site().has_errors(), "{:#?}", p.site().diagnostics);
    assert_eq!(get(&site, &p, "/svc.js"), "app svc.js");
    // Big-endian too.
    let mut be = vec![0xFE, 0xFF];
    for u in text.encode_utf16() {
        be.extend_from_slice(&u.to_be_bytes());
    }
    std::fs::write(site.root.join("web.config"), be).expect("write");
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/svc.js"), "app svc.js");
}

#[test]
fn config_source_sections_are_read_from_their_file() {
    let site = Site::new(&[
        ("svc.js", "x"),
        (
            "web.config",
            &wrap(&format!(
                r#"{NODE_SVC}<rewrite><rules configSource="rules.config"/></rewrite>"#
            )),
        ),
        (
            "rules.config",
            r#"<rules><rule name="all"><match url=".*"/><action type="Rewrite" url="svc.js"/></rule></rules>"#,
        ),
    ]);
    let p = site.pipeline();
    assert!(!p.site().has_errors(), "{:#?}", p.site().diagnostics);
    assert_eq!(get(&site, &p, "/anything/here"), "app svc.js");
    let files = p.site().config_files();
    assert!(
        files.iter().any(|f| f.ends_with("rules.config")),
        "{files:?}"
    );

    // A problem in the configSource file is reported there and breaks the folder.
    site.write(
        "rules.config",
        r#"<rules><rule name="all" bogus="1"><match url=".*"/></rule></rules>"#,
    );
    let p = site.pipeline();
    let d = p
        .site()
        .diagnostics
        .iter()
        .find(|d| d.code() == "IISN1002")
        .expect("unknown attribute");
    let span = d.primary.expect("span");
    assert!(p.site().sources.path(span.source).ends_with("rules.config"));
    assert_eq!(get(&site, &p, "/x"), "error 500.19");

    // A missing file, or one with the wrong root element, is IISN1009 and 500.19.
    std::fs::remove_file(site.root.join("rules.config")).expect("rm");
    let p = site.pipeline();
    assert!(p.site().diagnostics.iter().any(|d| d.code() == "IISN1009"));
    assert_eq!(get(&site, &p, "/x"), "error 500.19");
    site.write("rules.config", "<rewrite/>");
    let p = site.pipeline();
    assert!(p.site().diagnostics.iter().any(|d| d.code() == "IISN1009"));
    // `..` is refused.
    site.write(
        "web.config",
        &wrap(&format!(
            r#"{NODE_SVC}<rewrite><rules configSource="../rules.config"/></rewrite>"#
        )),
    );
    let p = site.pipeline();
    assert!(p.site().diagnostics.iter().any(|d| d.code() == "IISN1009"));
}

#[test]
fn request_filtering_verbs_sequences_headers_and_escapes() {
    let site = Site::new(&[
        ("svc.js", "x"),
        ("a.txt", "x"),
        ("b.bak", "x"),
        ("c.md", "x"),
        ("caf\u{e9}.txt", "x"),
        (
            "web.config",
            &wrap(&format!(
                r#"{NODE_SVC}<security><requestFiltering allowHighBitCharacters="false">
<verbs allowUnlisted="true"><add verb="TRACE" allowed="false"/><add verb="PUT" allowed="false"/></verbs>
<denyUrlSequences><add sequence="~"/><add sequence="./"/></denyUrlSequences>
<denyQueryStringSequences><add sequence="&lt;script"/></denyQueryStringSequences>
<fileExtensions allowUnlisted="false"><add fileExtension=".txt" allowed="true"/><add fileExtension=".js" allowed="true"/><add fileExtension=".bak" allowed="false"/></fileExtensions>
<requestLimits><headerLimits><add header="X-Token" sizeLimit="8"/></headerLimits></requestLimits>
</requestFiltering></security>"#
            )),
        ),
    ]);
    let p = site.pipeline();
    let d = |m: &str, t: &str, h: &[(&str, &str)]| describe(&site.root, &routed(&p, m, t, h));
    assert!(!p.site().has_errors(), "{:#?}", p.site().diagnostics);
    assert_eq!(d("GET", "/a.txt", &[]), "file a.txt");
    assert_eq!(d("TRACE", "/a.txt", &[]), "error 404.6");
    assert_eq!(d("PUT", "/svc.js", &[]), "error 404.6");
    // Verbs are compared exactly, case included, as IIS does: `put` is not the denied PUT.
    assert_eq!(d("put", "/svc.js", &[]), "app svc.js");
    assert_eq!(d("POST", "/svc.js", &[]), "app svc.js");
    assert_eq!(d("GET", "/~user/a.txt", &[]), "error 404.5");
    assert_eq!(d("GET", "/%7Euser/a.txt", &[]), "error 404.5");
    assert_eq!(d("GET", "/svc.js?q=%3CSCRIPT%3E", &[]), "error 404.18");
    assert_eq!(d("GET", "/svc.js?q=ok", &[]), "app svc.js");
    assert_eq!(d("GET", "/b.bak", &[]), "error 404.7");
    assert_eq!(d("GET", "/c.md", &[]), "error 404.7");
    assert_eq!(d("GET", "/caf%C3%A9.txt", &[]), "error 404.12");
    assert_eq!(d("GET", "/a%252e.txt", &[]), "error 404.11");
    assert_eq!(d("GET", "/a.txt", &[("x-token", "12345678")]), "file a.txt");
    assert_eq!(
        d("GET", "/a.txt", &[("x-token", "123456789")]),
        "error 431.0",
        "observed on IIS 10 (RL19): 431, not the 404.10 of IIS 7's table"
    );
}

fn run_outbound(
    p: &Pipeline,
    target: &str,
    req: &[(&str, &str)],
    status: u16,
    resp: &[(&str, &str)],
) -> HeaderMap {
    let routed = routed(p, "GET", target, req);
    let h = head("GET", target, req);
    let pending = outbound::prepare(
        &routed.config,
        &outbound::OutboundRequest {
            method: &h.method,
            target: &h.target,
            url: &routed.url,
            headers: &h.headers,
            remote: h.remote,
            local: h.local_addr,
            site_root: p.root(),
        },
    );
    let mut out = HeaderMap::new();
    for (k, v) in resp {
        out.append(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    if let Some(o) = pending {
        o.apply(status, &mut out);
    }
    out
}

#[test]
fn outbound_rules_rewrite_response_headers() {
    let site = Site::new(&[
        ("a.css", "x"),
        ("plain/b.txt", "x"),
        (
            "web.config",
            &wrap(
                r#"<rewrite><outboundRules>
<rule name="Remove X-Powered-By"><match serverVariable="RESPONSE_X_Powered_By" pattern=".+"/><action type="Rewrite" value=""/></rule>
<rule name="HSTS"><match serverVariable="RESPONSE_Strict_Transport_Security" pattern=".*"/><conditions><add input="{HTTP_X_FORWARDED_PROTO}" pattern="^https$"/></conditions><action type="Rewrite" value="max-age=31536000"/></rule>
<rule name="Cache assets" preCondition="IsCss"><match serverVariable="RESPONSE_Cache_Control" pattern=".*"/><action type="Rewrite" value="public, max-age=60"/></rule>
<rule name="Rename" stopProcessing="true"><match serverVariable="RESPONSE_X_App" pattern="^v(\d+)$"/><action type="Rewrite" value="version {R:1} for {HTTP_HOST}"/></rule>
<rule name="After stop"><match serverVariable="RESPONSE_X_App" pattern=".*"/><action type="Rewrite" value="never"/></rule>
<rule name="Undefined precondition" preCondition="Nope"><match serverVariable="RESPONSE_X_Other" pattern=".*"/><action type="Rewrite" value="never"/></rule>
<rule name="Body" preCondition="IsCss"><match filterByTags="A" pattern="x"/><action type="Rewrite" value="y"/></rule>
<preConditions><preCondition name="IsCss"><add input="{RESPONSE_CONTENT_TYPE}" pattern="^text/css"/></preCondition></preConditions>
</outboundRules></rewrite>"#,
            ),
        ),
        (
            "plain/web.config",
            &wrap(r#"<rewrite><outboundRules><clear/></outboundRules></rewrite>"#),
        ),
    ]);
    let p = site.pipeline();
    assert!(!p.site().has_errors(), "{:#?}", p.site().diagnostics);
    let h = run_outbound(
        &p,
        "/a.css",
        &[("x-forwarded-proto", "https")],
        200,
        &[
            ("x-powered-by", "Express"),
            ("content-type", "text/css"),
            ("x-app", "v12"),
        ],
    );
    assert!(h.get("x-powered-by").is_none(), "{h:?}");
    assert_eq!(
        h.get("strict-transport-security")
            .map(|v| v.to_str().unwrap_or("")),
        Some("max-age=31536000")
    );
    assert_eq!(
        h.get("cache-control").map(|v| v.to_str().unwrap_or("")),
        Some("public, max-age=60")
    );
    assert_eq!(
        h.get("x-app").map(|v| v.to_str().unwrap_or("")),
        Some("version 12 for localhost:8080")
    );
    assert!(h.get("x-other").is_none());
    // No HTTPS, not CSS, no X-App: only the removal applies.
    let h = run_outbound(
        &p,
        "/a.css",
        &[],
        200,
        &[("x-powered-by", "Express"), ("content-type", "text/html")],
    );
    assert!(h.get("x-powered-by").is_none());
    assert!(h.get("strict-transport-security").is_none());
    assert!(h.get("cache-control").is_none());
    // A child folder that clears the inherited rules.
    let h = run_outbound(&p, "/plain/b.txt", &[], 200, &[("x-powered-by", "Express")]);
    assert_eq!(
        h.get("x-powered-by").map(|v| v.to_str().unwrap_or("")),
        Some("Express")
    );
}

#[test]
fn an_apphost_only_section_is_500_19_as_check_says() {
    let site = Site::new(&[
        ("a.txt", "x"),
        (
            "web.config",
            &wrap(
                r#"<rewrite><globalRules><rule name="g"><match url=".*"/></rule></globalRules></rewrite>"#,
            ),
        ),
    ]);
    let p = site.pipeline();
    assert!(p.site().diagnostics.iter().any(|d| d.code() == "IISN6017"));
    let r = p.decide(&head("GET", "/a.txt", &[]), None);
    let Decision::Error(e) = &r.decision else {
        panic!("error expected")
    };
    assert_eq!((e.status, e.substatus), (500, 19));
    assert_eq!(e.config.as_deref().map(|c| c.hresult), Some(0x8007_0021));
}

#[test]
fn config_source_is_read_for_the_sections_iisn_reads_only() {
    let site = Site::new(&[
        ("svc.js", "x"),
        (
            "web.config",
            &format!(
                r#"<configuration><connectionStrings configSource="connections.config"/><appSettings configSource="settings.config"/><system.webServer>{NODE_SVC}</system.webServer></configuration>"#
            ),
        ),
        (
            "settings.config",
            r#"<appSettings><add key="FROM_FILE" value="yes"/></appSettings>"#,
        ),
    ]);
    let p = site.pipeline();
    // connections.config is missing (kept out of the repository, as is common): .NET's
    // business, not a reason for a 500.19 under iisn.
    assert!(!p.site().has_errors(), "{:#?}", p.site().diagnostics);
    assert_eq!(get(&site, &p, "/svc.js"), "app svc.js");
    let app = &p.site().apps[0];
    assert_eq!(
        app.app_settings,
        vec![("FROM_FILE".to_string(), "yes".to_string())]
    );
}

/// Handler mapping walks a URL's segments from the left, on the stack up to 16 of them and
/// on the heap beyond: a script deep in a folder tree, and PATH_INFO after it, come out
/// the same either way.
#[test]
fn handler_mapping_of_deep_urls() {
    for depth in [1usize, 15, 16, 17, 30] {
        let folders: Vec<String> = (0..depth).map(|i| format!("d{i}")).collect();
        let dir = folders.join("/");
        let site = Site::new(&[(&format!("{dir}/app.js"), "//")]);
        site.write(
            "web.config",
            &wrap(r#"<handlers><add name="iisnode" path="app.js" verb="*" modules="iisnode"/></handlers>"#),
        );
        let p = site.pipeline();
        assert_eq!(
            get(&site, &p, &format!("/{dir}/app.js")),
            format!("app {dir}/app.js"),
            "depth {depth}"
        );
        let tail: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
        assert_eq!(
            get(&site, &p, &format!("/{dir}/app.js/{}", tail.join("/"))),
            format!("app {dir}/app.js +/{}", tail.join("/")),
            "depth {depth} with PATH_INFO"
        );
    }
}

/// A mapping whose `preCondition` never holds in an Integrated pool (`classicMode`, a .NET
/// runtime before 4) is skipped, and the next mapping that fits takes the request (observed
/// on IIS 10, MH25): ASP.NET's classic ISAPI mappings copied into a web.config neither
/// answer 500.21 nor take the URLs from StaticFile or iisnode. The Integrated twin holds.
#[test]
fn handler_preconditions_that_never_hold_are_skipped() {
    let site = Site::new(&[("server.js", "//"), ("a.txt", "a"), ("b.txt", "b")]);
    site.write(
        "web.config",
        &wrap(
            r#"<handlers>
<add name="classic-txt" path="a.txt" verb="*" modules="IsapiModule" scriptProcessor="c:\x.dll" preCondition="classicMode,runtimeVersionv4.0,bitness32"/>
<add name="v2-js" path="server.js" verb="*" type="X.Handler" preCondition="integratedMode, RuntimeVersionV2.0"/>
<add name="integrated-txt" path="b.txt" verb="*" type="X.Handler" preCondition="integratedMode,runtimeVersionv4.0"/>
<add name="iisnode" path="server.js" verb="*" modules="iisnode"/>
</handlers>"#,
        ),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/a.txt"), "file a.txt");
    assert_eq!(get(&site, &p, "/server.js"), "app server.js");
    assert!(
        get(&site, &p, "/b.txt").contains("500.21"),
        "{}",
        get(&site, &p, "/b.txt")
    );
}

/// IIS picks the mapping whose path and verb fit, then checks its `resourceType`: a misfit
/// is IIS Web Core's 404.0 naming that handler (observed on IIS 10, MH26), never the next
/// mapping. A `Directory` mapping of a script is a 404, not StaticFile sending its source;
/// a `File` mapping of a missing script is a 404 even when a wildcard mapping follows.
#[test]
fn a_mapping_whose_resource_type_does_not_fit_is_404_not_the_next_mapping() {
    let site = Site::new(&[("server.js", "//"), ("a.js", "//"), ("d.js/x.txt", "x")]);
    site.write(
        "web.config",
        &wrap(
            r#"<handlers>
<add name="dir-only" path="server.js" verb="*" modules="iisnode" resourceType="Directory"/>
<add name="files" path="*.js" verb="*" modules="iisnode" resourceType="File"/>
<add name="rest" path="*" verb="*" modules="iisnode"/>
</handlers>"#,
        ),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/server.js"), "error 404.0");
    assert_eq!(get(&site, &p, "/a.js"), "app a.js");
    assert_eq!(get(&site, &p, "/missing.js"), "error 404.0");
    // A folder named like a script does not fit `resourceType="File"` either.
    assert_eq!(get(&site, &p, "/d.js"), "error 404.0");
    // Past an inner segment the mapping applies only where its file is there: the rest is
    // not PATH_INFO after a missing script.
    assert_eq!(get(&site, &p, "/a.js/more"), "app a.js +/more");
    let r = routed(&p, "GET", "/server.js", &[]);
    match &r.decision {
        Decision::Error(e) => assert_eq!(e.handler.as_deref(), Some("dir-only")),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Remembered decisions (memo.rs)
// ---------------------------------------------------------------------------------------

#[test]
fn remembered_decisions_are_the_decisions() {
    let site = Site::new(&[
        ("server.js", "//"),
        ("app/index.js", "//"),
        ("sub/a.txt", "a"),
    ]);
    site.write(
        "web.config",
        &wrap(
            r#"<handlers><add name="iisnode" path="*.js" verb="GET,HEAD" modules="iisnode"/></handlers>
<defaultDocument><files><clear/><add value="index.js"/></files></defaultDocument>
<security><requestFiltering>
  <requestLimits maxAllowedContentLength="10" maxQueryString="12">
    <headerLimits><add header="x-big" sizeLimit="5"/></headerLimits>
  </requestLimits>
  <denyQueryStringSequences><add sequence="evil"/></denyQueryStringSequences>
</requestFiltering></security>"#,
        ),
    );
    let p = site.pipeline();
    let targets = [
        "/server.js",
        "/Server.JS/a/b/?x=1",
        "/app/",
        "/app",
        "/app/index.js",
        "/sub/a.txt",
        "/nope.txt",
        "/server.js/%2e%2e/x",
    ];
    for method in ["GET", "HEAD", "POST"] {
        let first: Vec<String> = targets.iter().map(|t| go(&site, &p, method, t)).collect();
        let again: Vec<String> = targets.iter().map(|t| go(&site, &p, method, t)).collect();
        assert_eq!(first, again, "{method}");
    }
    assert_eq!(
        get(&site, &p, "/Server.JS/a/b/?x=1"),
        "app Server.JS +/a/b/"
    );
    assert_eq!(
        go(&site, &p, "POST", "/server.js"),
        "error 405.0",
        "StaticFile takes it"
    );
    // Remembered: the iisnode mappings reached without reading the file system (not the
    // default document of /app/, nor static files, errors or redirects).
    assert_eq!(
        memo::len(p.id),
        3,
        "/server.js, /Server.JS/a/b/, /app/index.js"
    );

    // What depends on the rest of the request is checked each time, in IIS's order.
    assert_eq!(get(&site, &p, "/server.js?1234567890123"), "error 404.15");
    assert_eq!(get(&site, &p, "/server.js?a=evil"), "error 404.18");
    let r = routed(&p, "GET", "/server.js", &[("content-length", "11")]);
    assert_eq!(describe(&site.root, &r), "error 413.1");
    let r = routed(&p, "GET", "/server.js", &[("x-big", "123456")]);
    assert_eq!(describe(&site.root, &r), "error 431.0");
    let r = routed(&p, "GET", "/server.js?q=1", &[("x-big", "12345")]);
    assert_eq!(describe(&site.root, &r), "app server.js");
    assert_eq!(
        r.query.as_deref(),
        Some("q=1"),
        "the query is this request's"
    );
    assert_eq!(r.url, "/server.js");
    let r = routed(&p, "GET", "/server.js", &[]);
    assert_eq!(r.query, None);
}

#[test]
fn decisions_that_read_the_file_system_are_not_remembered() {
    // resourceType="File": the mapping holds only while the file exists.
    let site = Site::new(&[("a.js", "//"), ("d/index.js", "//")]);
    site.write(
        "web.config",
        &wrap(
            r#"<handlers><add name="iisnode" path="*.js" verb="*" modules="iisnode" resourceType="File"/></handlers>
<defaultDocument><files><clear/><add value="index.js"/></files></defaultDocument>"#,
        ),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/a.js"), "app a.js");
    assert_eq!(get(&site, &p, "/d/"), "app d/index.js");
    assert_eq!(memo::len(p.id), 0);
    std::fs::remove_file(site.root.join("a.js")).expect("rm");
    std::fs::remove_file(site.root.join("d/index.js")).expect("rm");
    assert_eq!(get(&site, &p, "/a.js"), "error 404.0");
    assert_eq!(get(&site, &p, "/d/"), "error 403.14");

    // A reload is a new pipeline: nothing remembered under the old one applies.
    let site = Site::new(&[("a.js", "//")]);
    site.write(
        "web.config",
        &wrap(
            r#"<handlers><add name="iisnode" path="a.js" verb="*" modules="iisnode"/></handlers>"#,
        ),
    );
    let old = site.pipeline();
    assert_eq!(get(&site, &old, "/a.js"), "app a.js");
    site.write("web.config", &wrap("<handlers><clear/></handlers>"));
    let new = site.pipeline();
    assert_ne!(old.id, new.id);
    assert_eq!(get(&site, &new, "/a.js"), "error 404.4");
    assert_eq!(get(&site, &old, "/a.js"), "app a.js");
}

#[test]
fn the_memo_is_bounded() {
    let site = Site::new(&[("server.js", "//")]);
    site.write(
        "web.config",
        &wrap(r#"<handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>"#),
    );
    let p = site.pipeline();
    for i in 0..memo::CAPACITY + 10 {
        assert_eq!(
            get(&site, &p, &format!("/server.js/{i}")),
            format!("app server.js +/{i}")
        );
        assert!(memo::len(p.id) <= memo::CAPACITY);
    }
    assert_eq!(memo::len(p.id), 10, "started over when full");
}

/// What a decision says, in full: `describe` and the fields node sees.
fn decision_text(site: &Site, r: &Routed) -> String {
    format!(
        "{} url={} rewritten={} query={:?}",
        describe(&site.root, r),
        r.url,
        r.rewritten,
        r.query
    )
}

#[test]
fn decisions_through_request_line_rules_are_remembered_with_their_file_tests() {
    let site = kudu(
        "server.js",
        &[
            ("server.js", "//"),
            ("public/a.txt", "a"),
            ("public/d/", ""),
        ],
    );
    let p = site.pipeline();
    assert!(p.config_for("/").rules.memoizable(), "the Kudu rules");
    let targets = [
        "/server.js",
        "/api/items?z=1",
        "/api/items?z=2",
        "/api/items",
        "/api/items?",
        "/a.txt",
        "/d/",
        "/server.js/debug",
        "/web.config",
    ];
    // A traced decision is never remembered nor taken from the memo: the reference.
    let unremembered = |method: &str, target: &str| {
        let mut t = super::trace::Trace::new();
        let r = p.decide_traced(&head(method, target, &[]), None, Some(&mut t));
        decision_text(&site, &r)
    };
    for method in ["GET", "HEAD", "POST"] {
        for round in ["first", "remembered"] {
            let hits = memo::hits();
            let got: Vec<String> = targets
                .iter()
                .map(|t| decision_text(&site, &routed(&p, method, t, &[])))
                .collect();
            let want: Vec<String> = targets.iter().map(|t| unremembered(method, t)).collect();
            assert_eq!(got, want, "{method} {round}");
            // Remembered: the 7 iisnode decisions (not the static file nor the 404.8).
            let expected = if round == "first" { 0 } else { 7 };
            assert_eq!(memo::hits() - hits, expected, "{method} {round}");
        }
    }
    assert!(
        unremembered("GET", "/api/items?z=2")
            .starts_with("app server.js url=/server.js rewritten=true query=Some(\"z=2"),
        "node gets X-Original-URL and the query"
    );
    // Remembered: the iisnode decisions (by raw path), not the static file or the error.
    assert_eq!(
        memo::len(p.id),
        4,
        "/server.js, /api/items, /d/, /server.js/debug"
    );

    // The file tests are made again: a file that appears under public/ is served, and
    // node has the URL again once it is gone.
    for _ in 0..2 {
        assert_eq!(get(&site, &p, "/api/list.txt?z=1"), "app server.js");
    }
    site.write("public/api/list.txt", "static");
    assert_eq!(
        get(&site, &p, "/api/list.txt?z=1"),
        "file public/api/list.txt"
    );
    assert_eq!(get(&site, &p, "/api/list.txt"), "file public/api/list.txt");
    std::fs::remove_file(site.root.join("public/api/list.txt")).expect("rm");
    assert_eq!(get(&site, &p, "/api/list.txt?z=1"), "app server.js");

    // The request's own checks still run on a remembered decision.
    let r = routed(&p, "GET", "/api/items", &[("content-length", "40000000")]);
    assert_eq!(describe(&site.root, &r), "error 413.1");
}

#[test]
fn rules_reading_more_than_the_request_line_are_not_remembered() {
    let rules = |cond: &str| {
        wrap(&format!(
            r#"<handlers><add name="iisnode" path="*.js" verb="*" modules="iisnode"/></handlers>
<rewrite><rules><rule name="r">
  <match url=".*"/>
  <conditions>{cond}</conditions>
  <action type="Rewrite" url="a.js"/>
</rule></rules></rewrite>"#
        ))
    };
    let site = Site::new(&[("a.js", "//"), ("b.js", "//")]);
    site.write(
        "web.config",
        &rules(r#"<add input="{HTTP_X_TENANT}" pattern="^x$"/>"#),
    );
    let p = site.pipeline();
    assert!(!p.config_for("/").rules.memoizable());
    let x = routed(&p, "GET", "/b.js", &[("x-tenant", "x")]);
    let y = routed(&p, "GET", "/b.js", &[("x-tenant", "y")]);
    assert_eq!(describe(&site.root, &x), "app a.js");
    assert_eq!(describe(&site.root, &y), "app b.js");
    assert_eq!(memo::len(p.id), 0);

    // The query string is part of what request-line rules read: one decision per query.
    site.write(
        "web.config",
        &rules(r#"<add input="{QUERY_STRING}" pattern="^v=1$"/>"#),
    );
    let p = site.pipeline();
    assert!(p.config_for("/").rules.memoizable());
    for _ in 0..2 {
        assert_eq!(get(&site, &p, "/b.js?v=1"), "app a.js");
        assert_eq!(get(&site, &p, "/b.js?v=2"), "app b.js");
        assert_eq!(get(&site, &p, "/b.js"), "app b.js");
    }
    assert_eq!(memo::len(p.id), 1);
    // Targets longer than memo::MAX_TARGET are decided each time (bounded memory).
    let long = format!("/b.js?v=1&pad={}", "x".repeat(memo::MAX_TARGET));
    let hits = memo::hits();
    for _ in 0..2 {
        assert_eq!(get(&site, &p, &long), "app b.js");
    }
    assert_eq!(memo::hits(), hits);

    // <serverVariables> set request headers: not remembered.
    site.write(
        "web.config",
        &wrap(
            r#"<handlers><add name="iisnode" path="*.js" verb="*" modules="iisnode"/></handlers>
<rewrite><rules><rule name="r">
  <match url=".*"/>
  <serverVariables><set name="HTTP_X_FROM" value="{REQUEST_URI}"/></serverVariables>
  <action type="Rewrite" url="a.js"/>
</rule></rules></rewrite>"#,
        ),
    );
    let p = site.pipeline();
    assert!(!p.config_for("/").rules.memoizable());
    let r = routed(&p, "GET", "/b.js", &[]);
    assert_eq!(
        r.set_headers,
        vec![("x-from".to_string(), "/b.js".to_string())]
    );
    assert_eq!(memo::len(p.id), 0);
}

#[test]
fn the_front_takes_remembered_decisions_and_finds_the_rules_folder_as_decide_does() {
    let site = kudu("server.js", &[("server.js", "//"), ("public/a.txt", "a")]);
    let p = Arc::new(site.pipeline());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let hits = memo::hits();
    for _ in 0..3 {
        let mut h = head("GET", "/api/items?x=1", &[]);
        let r = rt.block_on(p.route(&mut h));
        assert_eq!(h.target, "/api/items?x=1", "the head comes back");
        assert!(
            h.headers.contains_key(http::header::HOST),
            "the head comes back"
        );
        assert_eq!(describe(&site.root, &r), "app server.js");
        assert!(r.rewritten);
        let r = rt.block_on(p.route(&mut head("GET", "/a.txt", &[])));
        assert_eq!(describe(&site.root, &r), "file public/a.txt");
    }
    assert_eq!(
        memo::hits() - hits,
        2,
        "the second and third /api/items?x=1"
    );

    // The folder whose rules (and time budget) apply is the normalised URL's.
    let site = rules_site(
        r#"<rules><rule name="root"><match url="^x$"/><action type="Rewrite" url="app.js"/></rule></rules>"#,
        "",
        &[("app.js", "//"), ("slow/app.js", "//")],
    );
    site.write(
        "slow/web.config",
        &wrap(
            r#"<rewrite><rules><rule name="evil"><match url="^(a+)+$"/><action type="Rewrite" url="app.js"/></rule></rules></rewrite>"#,
        ),
    );
    let p = site.pipeline();
    let slow = p.config_for("/slow/aaa");
    assert!(!slow.rules.inline());
    for t in [
        "/slow/aaa",
        "/./slow/aaa",
        "/SLOW/aaa",
        "/x/../slow/aaa",
        "/%73low/aaa",
    ] {
        let Ok((path, cfg)) = p.rules_folder(t) else {
            panic!("{t}: an error")
        };
        assert!(Arc::ptr_eq(&cfg, &slow), "{t} -> {path}");
    }
}

/// `{CACHE_URL}` is the whole URL, scheme and port included: the idiom that keeps the
/// protocol in a redirect (`^(https?)://` on it) works; the raw target variables do not
/// carry the scheme.
#[test]
fn cache_url_carries_the_scheme_and_port() {
    let site = Site::new(&[]);
    site.write(
        "web.config",
        &wrap(
            r#"<rewrite><rules>
  <rule name="proto" stopProcessing="true">
    <match url="^proto/(.*)$"/>
    <conditions><add input="{CACHE_URL}" pattern="^(https?)://"/></conditions>
    <action type="Redirect" url="{C:1}://www.example.com/{R:1}" redirectType="Found"/>
  </rule>
  <rule name="whole" stopProcessing="true">
    <match url="^whole$"/>
    <action type="Redirect" url="/seen?u={UrlEncode:{CACHE_URL}}" appendQueryString="false"/>
  </rule>
</rules></rewrite>"#,
        ),
    );
    let p = site.pipeline();
    assert_eq!(
        get(&site, &p, "/proto/abc"),
        "redirect 302 http://www.example.com/abc"
    );
    assert_eq!(
        get(&site, &p, "/whole?q=1"),
        "redirect 301 http://localhost:8080/seen?u=http%3A%2F%2Flocalhost%3A8080%2Fwhole%3Fq%3D1"
    );
}

/// Outbound rules read the same `<rewriteMaps>` as inbound rules: a value or a condition
/// input with `{Map:key}` is looked up (the map's defaultValue for a missing key), not
/// expanded to nothing.
#[test]
fn outbound_rules_use_rewrite_maps() {
    let site = Site::new(&[
        ("a.txt", "x"),
        (
            "web.config",
            &wrap(
                r#"<rewrite>
<rewriteMaps><rewriteMap name="Hosts" defaultValue="unknown-host">
  <add key="internal:9999" value="www.example.com"/>
</rewriteMap></rewriteMaps>
<outboundRules>
<rule name="loc"><match serverVariable="RESPONSE_Location" pattern="^http://([^/]+)/(.*)$"/>
  <conditions><add input="{Hosts:{R:1}}" pattern="^(?!none$)"/></conditions>
  <action type="Rewrite" value="https://{Hosts:{R:1}}/{R:2}"/></rule>
</outboundRules></rewrite>"#,
            ),
        ),
    ]);
    let p = site.pipeline();
    assert!(!p.site().has_errors(), "{:#?}", p.site().diagnostics);
    let loc = |from: &str| {
        let h = run_outbound(&p, "/a.txt", &[], 302, &[("location", from)]);
        h.get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        loc("http://internal:9999/x/y"),
        "https://www.example.com/x/y"
    );
    assert_eq!(loc("http://other/z"), "https://unknown-host/z");
}

/// `<handlers accessPolicy>`: a mapping runs only when the policy grants what it requires
/// (`Script` when `requireAccess` is absent). Granting Write turns on a Write mapping
/// (here an ISAPI one: not emulated, 500.21); taking Script away skips iisnode, and the
/// StaticFile handler gets the URL, as on IIS (`iisn check` reports it, IISN6025).
#[test]
fn access_policy_decides_which_mappings_run() {
    let site = Site::new(&[("server.js", "//"), ("a.dat", "x")]);
    let config = |policy: &str| {
        wrap(&format!(
            r#"<handlers accessPolicy="{policy}">
  <add name="iisnode" path="server.js" verb="*" modules="iisnode"/>
  <add name="cfg" path="*.dat" verb="*" modules="IsapiModule" requireAccess="Write"/>
</handlers>
<staticContent><mimeMap fileExtension=".dat" mimeType="text/plain"/></staticContent>"#
        ))
    };
    site.write("web.config", &config("Read, Script"));
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/server.js"), "app server.js");
    assert_eq!(get(&site, &p, "/a.dat"), "file a.dat");
    site.write("web.config", &config("Read, Script, Write"));
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/a.dat"), "error 500.21");
    site.write("web.config", &config("Read"));
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/server.js"), "file server.js");
    site.write("web.config", &config("Read, Execute"));
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/server.js"), "app server.js");
}

/// The server's httpErrors rows point into `%SystemDrive%\inetpub\custerr\<language>`, which
/// does not exist here: under errorMode Custom they give the stock page, never a file of the
/// site that happens to be called `404.htm`; nor does a site row with a language prefix.
#[test]
fn server_error_rows_and_language_prefixed_rows_give_the_stock_page() {
    let site = Site::new(&[
        ("404.htm", "a page of the site"),
        ("500.htm", "another"),
        ("errors/403.html", "forbidden page"),
        (
            "web.config",
            &wrap(
                r#"<httpErrors errorMode="Custom">
  <remove statusCode="500"/>
  <error statusCode="500" prefixLanguageFilePath="custerr" path="500.htm"/>
  <remove statusCode="403"/>
  <error statusCode="403" prefixLanguageFilePath="" path="/errors/403.html" responseMode="ExecuteURL"/>
</httpErrors>"#,
            ),
        ),
    ]);
    let p = site.pipeline();
    let config = p.dispatch("GET", "/").config;
    let target = |status| errors::custom_target(&p, &config, status, 0);
    assert!(matches!(target(404), Some(errors::CustomTarget::Refused)));
    assert!(matches!(target(500), Some(errors::CustomTarget::Refused)));
    assert!(
        matches!(target(403), Some(errors::CustomTarget::ExecutedFile(..))),
        "an empty prefix is no prefix"
    );
    assert!(target(400).is_none(), "no row, no defaultPath");
}

/// Regression: a relative `File` error page declared in `<location path="sub">` was looked
/// up under `sub/`; IIS resolves it from the folder of the web.config that declares it.
#[test]
fn a_relative_file_error_page_is_relative_to_its_web_config() {
    let site = Site::new(&[
        ("errors/404.html", "root page"),
        ("sub/errors/404.html", "decoy"),
        ("sub/a.txt", "a"),
        ("folder/errors/404.html", "folder page"),
        (
            "folder/web.config",
            &wrap(
                r#"<httpErrors errorMode="Custom"><remove statusCode="404"/><error statusCode="404" path="errors\404.html"/></httpErrors>"#,
            ),
        ),
        (
            "web.config",
            r#"<configuration><location path="sub"><system.webServer>
<httpErrors errorMode="Custom"><remove statusCode="404"/><error statusCode="404" path="errors\404.html"/></httpErrors>
</system.webServer></location></configuration>"#,
        ),
    ]);
    let p = site.pipeline();
    let page = |dir: &str| {
        let config = p.dispatch("GET", &format!("/{dir}/missing.txt")).config;
        match errors::custom_target(&p, &config, 404, 0) {
            Some(errors::CustomTarget::File(f, _)) => rel(&site.root, &f),
            other => panic!("{dir}: {other:?}"),
        }
    };
    assert_eq!(page("sub"), "errors/404.html");
    assert_eq!(page("folder"), "folder/errors/404.html");
}

/// `customHeaders` as a response gets them: IIS's `Server` and inherited `X-Powered-By`
/// first, the folder's entries in order, nothing for an empty value, a folder below
/// inheriting them.
#[test]
fn custom_headers_are_built_once_per_folder() {
    let site = Site::new(&[
        (
            "web.config",
            &wrap(
                r#"<httpProtocol><customHeaders><add name="X-Frame-Options" value="DENY"/><add name="X-Empty" value=" "/></customHeaders></httpProtocol>"#,
            ),
        ),
        (
            "sub/web.config",
            &wrap(
                r#"<httpProtocol><customHeaders><remove name="X-Powered-By"/></customHeaders></httpProtocol>"#,
            ),
        ),
    ]);
    let p = site.pipeline();
    let names = |rel: &str| {
        p.config_for(rel)
            .custom_headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("?")))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names("a.txt"),
        ["x-powered-by: ASP.NET", "x-frame-options: DENY"]
    );
    assert_eq!(names("sub/a.txt"), ["x-frame-options: DENY"]);
    // The same as header lines for iisn's own writer, names as configured.
    let wire = |rel: &str| {
        p.config_for(rel)
            .custom_wire
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    // IIS's own `Server` comes first (CH4).
    assert_eq!(
        wire("a.txt").as_deref(),
        Some("Server: Microsoft-IIS/10.0\r\nX-Powered-By: ASP.NET\r\nX-Frame-Options: DENY\r\n")
    );
    assert_eq!(
        wire("sub/a.txt").as_deref(),
        Some("Server: Microsoft-IIS/10.0\r\nX-Frame-Options: DENY\r\n")
    );
    // Cache-Control is merged into the response's own value: header map only.
    site.write(
        "sub/web.config",
        &wrap(
            r#"<httpProtocol><customHeaders><add name="Cache-Control" value="no-store"/></customHeaders></httpProtocol>"#,
        ),
    );
    let p = site.pipeline();
    assert!(p.config_for("sub/a.txt").custom_wire.is_none());
    assert!(p.config_for("sub/a.txt").server_header);
    assert_eq!(p.config_for("sub/a.txt").custom_headers.len(), 3);
    // `removeServerHeader` (CH20) drops the `Server` line; with no custom header left
    // there is nothing to add at all. `<remove name="Server">` (CH19) changes nothing.
    site.write(
        "sub/web.config",
        &wrap(
            r#"<security><requestFiltering removeServerHeader="true"/></security><httpProtocol><customHeaders><clear/></customHeaders></httpProtocol>"#,
        ),
    );
    site.write(
        "other/web.config",
        &wrap(
            r#"<httpProtocol><customHeaders><remove name="Server"/><remove name="X-Powered-By"/></customHeaders></httpProtocol>"#,
        ),
    );
    let p = site.pipeline();
    assert!(!p.config_for("sub/a.txt").server_header);
    assert!(p.config_for("sub/a.txt").custom_wire.is_none());
    assert_eq!(
        p.config_for("other/a.txt")
            .custom_wire
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .as_deref(),
        Some("Server: Microsoft-IIS/10.0\r\nX-Frame-Options: DENY\r\n")
    );
}

/// `{Name:...}` naming neither a function nor a rewrite map cannot be expanded by URL
/// Rewrite: the rule answers 500.50 whenever a request reaches it, matching or not, as a
/// pattern that does not compile does (IISN6010 in `iisn check`), instead of expanding to
/// nothing and rewriting somewhere else. Requests that rules before it end are unaffected.
#[test]
fn unknown_rewrite_functions_are_500_50_when_their_rule_runs() {
    let site = Site::new(&[
        ("app.js", ""),
        ("a.txt", "a"),
        (
            "web.config",
            &wrap(
                r#"<handlers><add name="iisnode" path="app.js" verb="*" modules="iisnode"/></handlers>
<rewrite><rules>
  <rule name="files" stopProcessing="true"><match url="^a\.txt$"/><action type="None"/></rule>
  <rule name="typo" stopProcessing="true"><match url="^b/(.*)"/><action type="Rewrite" url="app.js?x={ToLowr:{R:1}}"/></rule>
  <rule name="cond" stopProcessing="true"><match url="^c/"/><conditions><add input="{Nope:{URL}}" pattern="^$" negate="true"/></conditions><action type="Rewrite" url="app.js"/></rule>
</rules></rewrite>"#,
            ),
        ),
    ]);
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/a.txt"), "file a.txt");
    assert_eq!(get(&site, &p, "/b/X"), "error 500.50");
    assert_eq!(get(&site, &p, "/c/x"), "error 500.50");
    assert_eq!(get(&site, &p, "/d"), "error 500.50");
}

/// IIS checks that the StaticFile mapping's resource exists (`resourceType="Either"`) while
/// mapping the handler, before StaticFileModule looks at the verb: a POST, PUT or DELETE to
/// a file that is not there is IIS Web Core's 404.0, like a GET; only an existing file or
/// folder gets StaticFileModule's 405.
#[test]
fn static_file_missing_is_404_for_every_verb() {
    let site = Site::new(&[("a.txt", "a"), ("sub/index.html", "x")]);
    let p = site.pipeline();
    for method in ["POST", "PATCH"] {
        assert_eq!(
            go(&site, &p, method, "/nope.txt"),
            "error 404.0",
            "{method}"
        );
        assert_eq!(
            go(&site, &p, method, "/no/such/dir/"),
            "error 404.0",
            "{method}"
        );
        assert_eq!(go(&site, &p, method, "/a.txt"), "error 405.0", "{method}");
        assert_eq!(go(&site, &p, method, "/sub/"), "error 405.0", "{method}");
    }
    let r = routed(&p, "POST", "/nope.txt", &[]);
    let Decision::Error(e) = &r.decision else {
        panic!("not an error: {:?}", r.decision)
    };
    assert_eq!(
        (e.module, e.notification),
        ("IIS Web Core", "MapRequestHandler")
    );
}

/// WebDAV is not part of the server IIS Express, a default full IIS or iisn's baseline
/// installs (IIS Express ships its `WebDAV` handler and `WebDAVModule` commented out), so
/// PUT and DELETE to static content reach StaticFile: 405 for a file, 404 for nothing.
#[test]
fn put_and_delete_to_static_content_are_static_file_answers() {
    let site = Site::new(&[("a.txt", "a"), ("sub/index.html", "x")]);
    let p = site.pipeline();
    for method in ["PUT", "DELETE", "MKCOL", "PROPFIND"] {
        assert_eq!(go(&site, &p, method, "/a.txt"), "error 405.0", "{method}");
        assert_eq!(go(&site, &p, method, "/sub/"), "error 405.0", "{method}");
        assert_eq!(
            go(&site, &p, method, "/nope.txt"),
            "error 404.0",
            "{method}"
        );
    }
    // A site that maps WebDAV itself gets the "not emulated" page, as before.
    site.write(
        "web.config",
        &wrap(r#"<handlers><add name="WebDAV" path="*" verb="PUT,DELETE" modules="WebDAVModule" resourceType="Unspecified" requireAccess="None"/></handlers>"#),
    );
    let p = site.pipeline();
    assert_eq!(go(&site, &p, "PUT", "/a.txt"), "error 500.21");
}

/// The handler list is one ordered list, `path="*"` entries included: IIS uses the first
/// entry whose path, verb and resource fit. A site's wildcard iisnode mapping (in front of
/// every inherited entry) therefore takes `/page.aspx` too, and a list that puts StaticFile
/// before an iisnode mapping serves the script as a file, as IIS does.
#[test]
fn a_wildcard_mapping_earlier_in_the_list_wins_over_later_specific_ones() {
    let site = Site::new(&[
        ("server.js", "//"),
        ("page.aspx", "<%%>"),
        ("a.txt", "a"),
        ("static/app.js", "// source"),
    ]);
    site.write(
        "web.config",
        &wrap(r#"<handlers><add name="iisnode" path="*" verb="*" modules="iisnode"/></handlers>"#),
    );
    site.write(
        "static/web.config",
        &wrap(
            r#"<handlers><clear/>
  <add name="StaticFile" path="*" verb="*" modules="StaticFileModule,DefaultDocumentModule,DirectoryListingModule" resourceType="Either" requireAccess="Read"/>
  <add name="iisnode" path="app.js" verb="*" modules="iisnode"/>
</handlers>"#,
        ),
    );
    let p = site.pipeline();
    assert_eq!(get(&site, &p, "/page.aspx"), "app page.aspx");
    assert_eq!(get(&site, &p, "/a.txt"), "app a.txt");
    assert_eq!(get(&site, &p, "/server.js"), "app server.js");
    assert_eq!(get(&site, &p, "/static/app.js"), "file static/app.js");
}

/// A mapping of its own to StaticFileModule (`path="*.js"` in front of iisnode so that
/// scripts under a folder go out as files, `path="hostingstart.html"`, `path="*.exe"` for
/// downloads) is IIS's static file handler like the stock `StaticFile`, whatever its name
/// and path: `iisn check` counts it as emulated, and serve serves the file.
#[test]
fn a_specific_static_file_module_mapping_serves_the_file() {
    let site = Site::new(&[
        ("server.js", "//"),
        ("public/app.js", "// client"),
        ("hostingstart.html", "<p>"),
    ]);
    site.write(
        "web.config",
        &wrap(
            r#"<handlers>
  <add name="StaticFileStart" path="hostingstart.html" verb="*" modules="StaticFileModule" resourceType="Either" requireAccess="Read"/>
  <add name="iisnode" path="*.js" verb="*" modules="iisnode"/>
</handlers>"#,
        ),
    );
    site.write(
        "public/web.config",
        &wrap(
            r#"<handlers><add name="StaticFileModuleJs" path="*.js" verb="*" modules="StaticFileModule" resourceType="File" requireAccess="Read"/></handlers>"#,
        ),
    );
    let p = site.pipeline();
    assert_eq!(
        get(&site, &p, "/hostingstart.html"),
        "file hostingstart.html"
    );
    assert_eq!(get(&site, &p, "/public/app.js"), "file public/app.js");
    assert_eq!(go(&site, &p, "POST", "/public/app.js"), "error 405.0");
    assert_eq!(get(&site, &p, "/server.js"), "app server.js");
}

/// TRACE reaches IIS's TRACEVerbHandler (ProtocolSupportModule), which answers 501 while
/// HTTP.sys's EnableTraceMethod is off (its default), as observed on IIS 10; a mapping
/// before it that takes every verb (iisnode's `verb="*"`) gets the request instead.
#[test]
fn trace_is_501_unless_a_mapping_before_the_protocol_handler_takes_it() {
    let site = Site::new(&[
        ("a.txt", "a"),
        ("app.js", "//"),
        (
            "web.config",
            &wrap(
                r#"<handlers><add name="iisnode" path="app.js" verb="*" modules="iisnode"/></handlers>"#,
            ),
        ),
    ]);
    let p = site.pipeline();
    assert_eq!(go(&site, &p, "TRACE", "/a.txt"), "error 501.0");
    assert_eq!(go(&site, &p, "TRACE", "/missing"), "error 501.0");
    assert_eq!(go(&site, &p, "TRACE", "/app.js"), "app app.js");
}

/// A handler's `verb` list is compared case-sensitively, as IIS does: `verb="get"` takes no
/// GET, which then falls to the StaticFile handler.
#[test]
fn handler_verbs_are_case_sensitive() {
    let site = Site::new(&[
        ("app.js", "//"),
        (
            "web.config",
            &wrap(
                r#"<handlers><add name="iisnode" path="app.js" verb="get,POST" modules="iisnode"/></handlers>"#,
            ),
        ),
    ]);
    let p = site.pipeline();
    assert_eq!(go(&site, &p, "POST", "/app.js"), "app app.js");
    assert_ne!(go(&site, &p, "GET", "/app.js"), "app app.js");
}
