//! iisnode's functional tests that depend on IIS: 102 (default document), 103 (URL Rewrite),
//! 111 (PATH_INFO and the static 404) and 200 (the samples under a virtual directory); and
//! 125 and 126 (an application that rewrites its own iisnode.yml), run exactly as iisnode's
//! `iisnodeassert.sequence` runs them: each request is sent as soon as the previous answer
//! arrived, without waiting for iisn to notice the file change.

use super::serve;
use crate::harness::{Server, Site};

/// One `iisnodeassert.get(timeout, path, 200, expected)`: a fresh connection, the status
/// and the exact body (or, for `None`, iisnode.yml's configuration error page).
fn get_expect(s: &Server, target: &str, body: Option<&str>) {
    let r = s.raw_get(target);
    match body {
        Some(b) => assert_eq!(
            (r.status, r.text().as_str()),
            (200, b),
            "GET {target}\n{}",
            s.transcript()
        ),
        None => {
            assert_eq!(r.status, 200, "GET {target}: {}", r.text());
            assert!(
                r.text()
                    .contains("unable to read the configuration file iisnode.yml"),
                "GET {target}: not the iisnode.yml error page: {}\n{}",
                r.text(),
                s.transcript()
            );
        }
    }
}

/// 125_node_config_autoupdate: `?revert` writes iisnode.yml (2 processes) and the very next
/// request runs on the new generation; `?update` (4 processes) likewise.
#[test]
fn test_125_node_config_autoupdate() {
    let Some(site) = Site::pipeline("iisnode") else {
        return;
    };
    let s = site.iisn().start();
    let url = "/125_node_config_autoupdate/hello.js";
    let steps: &[(&str, &str)] = &[
        ("?revert", "iisnode.yml reverted"),
        ("", "Hello, world 1"),
        ("", "Hello, world 1"),
        ("", "Hello, world 2"),
        ("", "Hello, world 2"),
        ("?update", "iisnode.yml updated"),
        ("", "Hello, world 1"),
        ("", "Hello, world 1"),
        ("", "Hello, world 1"),
        ("", "Hello, world 1"),
        ("", "Hello, world 2"),
        ("", "Hello, world 2"),
        ("", "Hello, world 2"),
        ("", "Hello, world 2"),
    ];
    for (query, body) in steps {
        get_expect(&s, &format!("{url}{query}"), Some(body));
    }
}

/// 126_node_config_syntax: the eight iisnode.yml corner cases. The test deletes the file
/// between cases, and each write or deletion takes effect for the next request.
#[test]
fn test_126_node_config_syntax() {
    let Some(site) = Site::pipeline("iisnode") else {
        return;
    };
    let s = site.iisn().start();
    let url = "/126_node_config_syntax/hello.js";
    let yml = site.path("126_node_config_syntax/iisnode.yml");
    let delete = || {
        if yml.exists() {
            std::fs::remove_file(&yml).expect("delete iisnode.yml");
        }
    };
    delete();
    for (case, ok) in [
        ("empty", true),
        ("noKey1", false),
        ("noKey2", false),
        ("emptyValue1", true),
        ("emptyValue2", true),
        ("unrecognizedKey", true),
        ("invalidBool", false),
        ("emptyLine", true),
    ] {
        get_expect(&s, &format!("{url}?{case}"), Some("iisnode.yml updated"));
        get_expect(&s, url, ok.then_some("Hello, world 1"));
        delete();
    }
}

#[test]
fn test_102_default_document() {
    let Some(site) = Site::pipeline("iisnode") else {
        return;
    };
    let s = serve(&site, &[]);
    let r = s.raw_get("/102_defaultdocument/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "[defaultdocument]"),
        "{}",
        s.transcript()
    );
    let r = s.raw_get("/102_defaultdocument?x=1");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("http://127.0.0.1/102_defaultdocument/?x=1")
    );
}

#[test]
fn test_103_urlrewrite_app_sees_the_original_url() {
    let Some(site) = Site::pipeline("iisnode") else {
        return;
    };
    let s = serve(&site, &[]);
    for target in [
        "/103_urlrewrite/hello",
        "/103_urlrewrite/hello/",
        "/103_urlrewrite/hello.js",
        "/103_urlrewrite/hello?foo=bar",
        "/103_urlrewrite/hello/a/b/c",
        "/103_urlrewrite/hello/a/b/c/",
        "/103_urlrewrite/hello/a/b?foo=bar",
    ] {
        let r = s.raw_get(target);
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, target),
            "{}",
            s.transcript()
        );
    }
}

#[test]
fn test_111_path_info_and_404() {
    let Some(site) = Site::pipeline("iisnode") else {
        return;
    };
    let s = serve(&site, &[]);
    let r = s.raw_get("/111_node_env/hello.js");
    assert_eq!(r.text(), "Hello, world! [NODE_ENV]=production");
    let r = s.raw_get("/111_node_env/hello.js/debug");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Hello, world! [NODE_ENV]=production")
    );
    let r = s.raw_get("/111_node_env/hello.js.logs/0.txt");
    assert_eq!(r.status, 404);
    let r = s.raw_get("/111_node_env/nothing-here.txt");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("HTTP Error 404"), "{}", r.text());
}

#[test]
fn test_200_samples_under_app_path() {
    let Some(site) = Site::pipeline("samples") else {
        return;
    };
    let s = serve(&site, &["--app-path", "/node"]);
    let r = s.raw_get("/node/urlrewrite/myapp/foo/bar/baz");
    assert_eq!(
        r.text(),
        "Hello from urlrewrite sample. Request path: /node/urlrewrite/myapp/foo/bar/baz",
        "{}",
        s.transcript()
    );
    let r = s.raw_get("/node/urlrewrite/myapp/1/2/3?param=4");
    assert_eq!(
        r.text(),
        "Hello from urlrewrite sample. Request path: /node/urlrewrite/myapp/1/2/3?param=4"
    );
    let r = s.raw_get("/node/defaultdocument/");
    assert_eq!(
        r.text(),
        "You have reached the default node.js application at index.js! [defaultdocument sample]"
    );
    let r = s.raw_get("/node/defaultdocument");
    assert_eq!(
        r.header("location"),
        Some("http://127.0.0.1/node/defaultdocument/")
    );
    // Outside the application path there is nothing.
    assert_eq!(s.raw_get("/urlrewrite/myapp/foo").status, 404);
    assert_eq!(s.raw_get("/nodes/urlrewrite/myapp/foo").status, 404);
}
