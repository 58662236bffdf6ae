//! iisnode's functional tests that depend on IIS: 102 (default document), 103 (URL Rewrite),
//! 111 (PATH_INFO and the static 404) and 200 (the samples under a virtual directory).

use super::serve;
use crate::harness::Site;

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
    assert_eq!(r.header("location"), Some("/102_defaultdocument/?x=1"));
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
    assert_eq!(r.header("location"), Some("/node/defaultdocument/"));
    // Outside the application path there is nothing.
    assert_eq!(s.raw_get("/urlrewrite/myapp/foo").status, 404);
    assert_eq!(s.raw_get("/nodes/urlrewrite/myapp/foo").status, 404);
}
