//! IIS features real sites use (issue 10, item 4), end to end with real node: multi-range
//! requests (`multipart/byteranges`), request filtering (verbs, denyUrlSequences,
//! headerLimits, fileExtensions allowUnlisted, double escaping, high-bit characters),
//! outbound rules on response headers, a UTF-16 web.config and a `configSource` file.

use crate::harness::Site;

fn script(name: &str) -> String {
    format!(
        "require('http').createServer(function (req, res) {{\n  res.writeHead(200, {{ 'Content-Type': 'text/plain', 'X-Powered-By': 'Express', 'X-App': 'v3' }});\n  res.end('{name} ran ' + req.method + ' ' + req.url);\n}}).listen(process.env.PORT);\n"
    )
}

fn web_config(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <system.webServer>\r\n    <handlers>\r\n      <add name=\"svc\" path=\"svc.js\" verb=\"*\" modules=\"iisnode\" />\r\n    </handlers>\r\n{inner}  </system.webServer>\r\n</configuration>\r\n"
    )
}

fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

fn site() -> Option<Site> {
    let site = Site::new("hello")?;
    // 100 bytes: "0123456789" ten times.
    site.write("data/ten.txt", &"0123456789".repeat(10));
    for dir in ["filtered", "outbound", "u16", "cs"] {
        site.write(&format!("{dir}/svc.js"), &script(dir));
    }
    site.write("filtered/a.txt", "a text file\n");
    site.write("filtered/b.md", "markdown\n");
    site.write(
        "filtered/web.config",
        &web_config(
            r#"    <security>
      <requestFiltering allowHighBitCharacters="false" allowDoubleEscaping="false">
        <verbs allowUnlisted="true">
          <add verb="TRACE" allowed="false" />
          <add verb="DELETE" allowed="false" />
        </verbs>
        <denyUrlSequences>
          <add sequence="~" />
        </denyUrlSequences>
        <fileExtensions allowUnlisted="false">
          <add fileExtension=".js" allowed="true" />
          <add fileExtension=".txt" allowed="true" />
        </fileExtensions>
        <requestLimits>
          <headerLimits>
            <add header="X-Token" sizeLimit="10" />
          </headerLimits>
        </requestLimits>
      </requestFiltering>
    </security>
"#,
        ),
    );
    site.write(
        "outbound/web.config",
        &web_config(
            r#"    <rewrite>
      <outboundRules>
        <rule name="Remove X-Powered-By">
          <match serverVariable="RESPONSE_X_Powered_By" pattern=".+" />
          <action type="Rewrite" value="" />
        </rule>
        <rule name="Version">
          <match serverVariable="RESPONSE_X_App" pattern="^v(\d+)$" />
          <action type="Rewrite" value="app version {R:1}" />
        </rule>
        <rule name="HSTS">
          <match serverVariable="RESPONSE_Strict_Transport_Security" pattern=".*" />
          <conditions>
            <add input="{HTTP_X_FORWARDED_PROTO}" pattern="^https$" />
          </conditions>
          <action type="Rewrite" value="max-age=31536000" />
        </rule>
        <rule name="Plain text only" preCondition="IsText">
          <match serverVariable="RESPONSE_X_Text" pattern=".*" />
          <action type="Rewrite" value="yes" />
        </rule>
        <preConditions>
          <preCondition name="IsText">
            <add input="{RESPONSE_CONTENT_TYPE}" pattern="^text/plain" />
          </preCondition>
        </preConditions>
      </outboundRules>
    </rewrite>
"#,
        ),
    );
    site.write_bytes(
        "u16/web.config",
        &utf16le(&web_config("").replace("encoding=\"utf-8\"", "encoding=\"utf-16\"")),
    );
    site.write(
        "cs/web.config",
        &web_config(
            "    <rewrite>\r\n      <rules configSource=\"rewrite-rules.config\" />\r\n    </rewrite>\r\n",
        ),
    );
    site.write(
        "cs/rewrite-rules.config",
        "<rules>\r\n  <rule name=\"everything\">\r\n    <match url=\".*\" />\r\n    <action type=\"Rewrite\" url=\"svc.js\" />\r\n  </rule>\r\n</rules>\r\n",
    );
    Some(site)
}

#[test]
fn iis_features_real_sites_use() {
    let Some(site) = site() else {
        return;
    };
    let s = site.iisn().arg("--no-watch").start();

    // Several ranges: multipart/byteranges, each part with its Content-Range.
    let r = s.raw_get_with("/data/ten.txt", &["Range: bytes=0-4,12-14,-3"]);
    assert_eq!(r.status, 206, "{}", r.head);
    let ct = r.header("content-type").unwrap_or("").to_string();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("content type {ct}"));
    let body = r.text();
    assert_eq!(
        r.header("content-length")
            .and_then(|v| v.parse::<usize>().ok()),
        Some(r.body.len())
    );
    let parts: Vec<&str> = body
        .split(&format!("--{boundary}"))
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "--")
        .collect();
    assert_eq!(parts.len(), 3, "{body}");
    let expect = [
        ("0-4/100", "01234"),
        ("12-14/100", "234"),
        ("97-99/100", "789"),
    ];
    for (part, (range, data)) in parts.iter().zip(expect) {
        assert!(
            part.contains(&format!("Content-Range: bytes {range}")),
            "{part}"
        );
        assert!(part.contains("Content-Type: text/plain"), "{part}");
        assert!(part.ends_with(&format!("\r\n\r\n{data}")), "{part:?}");
    }
    // One satisfiable range among several is a plain 206.
    let r = s.raw_get_with("/data/ten.txt", &["Range: bytes=5-9,500-600"]);
    assert_eq!((r.status, r.text().as_str()), (206, "56789"));

    // Request filtering.
    let filtered = |head: &str, headers: &[&str]| {
        let mut h = head.to_string();
        for x in headers {
            h.push_str("\r\n");
            h.push_str(x);
        }
        let r = s.raw_send(&h, b"");
        (r.status, r.header("x-iisn-substatus").map(str::to_string))
    };
    let sub = |n: &str| Some(n.to_string());
    assert_eq!(filtered("GET /filtered/svc.js HTTP/1.1", &[]).0, 200);
    assert_eq!(
        filtered("TRACE /filtered/svc.js HTTP/1.1", &[]),
        (404, sub("6"))
    );
    assert_eq!(
        filtered("DELETE /filtered/a.txt HTTP/1.1", &[]),
        (404, sub("6"))
    );
    assert_eq!(
        filtered("GET /filtered/~admin/svc.js HTTP/1.1", &[]),
        (404, sub("5"))
    );
    assert_eq!(
        filtered("GET /filtered/b.md HTTP/1.1", &[]),
        (404, sub("7"))
    );
    assert_eq!(
        filtered("GET /filtered/a%252etxt HTTP/1.1", &[]),
        (404, sub("11"))
    );
    assert_eq!(
        filtered("GET /filtered/caf%C3%A9.txt HTTP/1.1", &[]),
        (404, sub("12"))
    );
    assert_eq!(
        filtered("GET /filtered/a.txt HTTP/1.1", &["X-Token: 0123456789"]).0,
        200
    );
    assert_eq!(
        filtered("GET /filtered/a.txt HTTP/1.1", &["X-Token: 0123456789a"]),
        (431, None),
        "observed on IIS 10 (RL19): 431 from request filtering, not IIS 7's 404.10"
    );
    // Outside the folder, the stock rules apply.
    assert_eq!(filtered("DELETE /hello.js HTTP/1.1", &[]).0, 200);

    // Outbound rules rewrite node's headers (and static files').
    let r = s.raw_get_with("/outbound/svc.js", &["X-Forwarded-Proto: https"]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-powered-by"), None, "{}", r.head);
    assert_eq!(r.header("x-app"), Some("app version 3"));
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_eq!(r.header("x-text"), Some("yes"));
    let r = s.raw_get("/outbound/svc.js");
    assert_eq!(r.header("strict-transport-security"), None);
    let r = s.raw_get("/hello.js");
    assert_eq!(r.header("x-text"), None, "rules stay in their folder");

    // A UTF-16 web.config is read as IIS reads it.
    let r = s.raw_get("/u16/svc.js");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "u16 ran GET /u16/svc.js")
    );

    // Rules kept in a configSource file run.
    let r = s.raw_get("/cs/any/path");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "cs ran GET /cs/any/path")
    );
}

/// A `configSource` file is watched like web.config: editing it changes the rules that run,
/// without touching web.config (issue 10, item 4).
#[test]
fn an_edited_config_source_file_is_reloaded() {
    use std::time::{Duration, Instant};
    let Some(site) = site() else {
        return;
    };
    let s = site.iisn().start();
    let r = s.raw_get("/cs/any/path");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "cs ran GET /cs/any/path")
    );
    site.write(
        "cs/rewrite-rules.config",
        "<rules>\r\n  <rule name=\"closed\">\r\n    <match url=\".*\" />\r\n    <action type=\"CustomResponse\" statusCode=\"403\" subStatusCode=\"0\" statusReason=\"Forbidden\" statusDescription=\"closed by the rules file\" />\r\n  </rule>\r\n</rules>\r\n",
    );
    let deadline = Instant::now() + crate::harness::TIMEOUT;
    loop {
        let r = s.raw_get("/cs/any/path");
        if r.status == 403 {
            break;
        }
        assert_eq!(r.status, 200, "{}", r.head);
        assert!(
            Instant::now() < deadline,
            "the edited configSource file was never read"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// NTFS ignores case, so IIS serves `Assets/Logo.txt` for `/assets/logo.txt` and URL
/// Rewrite's IsFile sees it: a link written in another case works there and here. Hidden
/// segments and web.config stay hidden in every spelling.
#[test]
fn file_names_ignore_case_as_on_ntfs() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("svc.js", &script("svc"));
    site.write("Assets/Img/Logo.txt", "logo\n");
    site.write("Public/Read Me.TXT", "readme\n");
    site.write("Bin/secret.txt", "secret\n");
    site.write(
        "web.config",
        &web_config(
            "    <rewrite><rules>\r\n      <rule name=\"static\">\r\n        <match url=\"^pub/(.*)$\" />\r\n        <action type=\"Rewrite\" url=\"public/{R:1}\" />\r\n      </rule>\r\n      <rule name=\"app\" stopProcessing=\"true\">\r\n        <match url=\"^public/\" />\r\n        <conditions><add input=\"{REQUEST_FILENAME}\" matchType=\"IsFile\" negate=\"true\" /></conditions>\r\n        <action type=\"Rewrite\" url=\"svc.js\" />\r\n      </rule>\r\n    </rules></rewrite>\r\n",
        ),
    );
    let s = site.serve();
    for target in [
        "/Assets/Img/Logo.txt",
        "/assets/img/logo.txt",
        "/ASSETS/IMG/LOGO.TXT",
    ] {
        let r = s.raw_get(target);
        assert_eq!((r.status, r.text().as_str()), (200, "logo\n"), "{target}");
    }
    // IsFile ignores case too: the rule serves the file instead of handing it to node.
    let r = s.raw_get("/pub/read%20me.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "readme\n"));
    let r = s.raw_get("/pub/none.txt");
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("svc ran"), "{}", r.text());
    // A folder in another case redirects to its URL with a slash, as the URL spells it.
    let r = s.raw_get("/assets/img");
    assert_eq!(r.status, 301);
    assert!(
        r.header("location")
            .is_some_and(|l| l.ends_with("/assets/img/"))
    );
    for target in [
        "/bin/secret.txt",
        "/BIN/secret.txt",
        "/WEB.CONFIG",
        "/Web.Config",
    ] {
        let r = s.raw_get(target);
        assert_eq!(r.status, 404, "{target}");
        assert!(!r.text().contains("secret\n"), "{target}");
    }
    assert_eq!(s.raw_get("/assets/img/missing.txt").status, 404);
    // ASCII letters only, as the choice of a folder's configuration: `backups/web.config`
    // refuses its files in any ASCII spelling, and the Kelvin sign (which Unicode lowers to
    // `k`) or a non-ASCII letter in another case name nothing.
    site.write("backups/dump.txt", "secret dump\n");
    site.write("über/x.txt", "secret x\n");
    site.write(
        "backups/web.config",
        "<configuration><system.webServer><rewrite><rules><rule name=\"deny\"><match url=\".*\" /><action type=\"CustomResponse\" statusCode=\"403\" /></rule></rules></rewrite></system.webServer></configuration>",
    );
    let deadline = std::time::Instant::now() + crate::harness::TIMEOUT;
    while s.raw_get("/backups/dump.txt").status != 403 {
        assert!(
            std::time::Instant::now() < deadline,
            "backups/web.config never applied"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(s.raw_get("/BACKUPS/dump.txt").status, 403);
    for target in [
        "/bac%E2%84%AAups/dump.txt",
        "/BAC%E2%84%AAUPS/dump.txt",
        "/%C3%9Cber/x.txt",
    ] {
        let r = s.raw_get(target);
        assert_eq!(r.status, 404, "{target}: {}", r.text());
        assert!(!r.text().contains("secret"), "{target}");
    }
}

/// A folder listing leaves out symbolic links that lead out of the site or to what request
/// filtering hides (fetching them is refused), and shows links inside the site with their
/// target's size.
#[test]
fn a_listing_shows_only_links_it_would_serve() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("files/a.txt", "a\n");
    site.write("docs/readme.txt", "read me, 23 bytes long\n");
    site.write("bin/secret.txt", "s\n");
    std::fs::write(site.outside().join("outside.txt"), "outside\n").expect("write outside");
    std::os::unix::fs::symlink(site.outside(), site.path("files/out")).expect("symlink");
    std::os::unix::fs::symlink(site.path("bin"), site.path("files/hidden")).expect("symlink");
    std::os::unix::fs::symlink(site.path("docs/readme.txt"), site.path("files/inner.txt"))
        .expect("symlink");
    site.write(
        "files/web.config",
        "<configuration><system.webServer><directoryBrowse enabled=\"true\" /></system.webServer></configuration>",
    );
    let s = site.serve();
    let r = s.raw_get("/files/");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.contains("a.txt"), "{text}");
    assert!(text.contains("inner.txt"), "{text}");
    assert!(text.contains(" 23 "), "the target's size: {text}");
    assert!(!text.contains(">out<"), "{text}");
    assert!(!text.contains(">hidden<"), "{text}");
    assert_eq!(s.raw_get("/files/out/outside.txt").status, 404);
}

/// Regression (observed on IIS 10, RL9): request filtering's `maxUrl` and `fileExtensions`
/// judge the URL up to the script, not the PATH_INFO node gets after it; iisn counted the
/// whole URL, so a long `/svc.js/...` path was 404.14 here and served there.
#[test]
fn request_filtering_leaves_path_info_alone() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("limits/svc.js", &script("limits"));
    site.write(
        "limits/web.config",
        &web_config(
            r#"    <security>
      <requestFiltering>
        <fileExtensions allowUnlisted="false">
          <add fileExtension=".js" allowed="true" />
        </fileExtensions>
        <requestLimits maxUrl="40" />
      </requestFiltering>
    </security>
"#,
        ),
    );
    let s = site.iisn().arg("--no-watch").start();
    let status = |target: &str| {
        let r = s.raw_get(target);
        (
            r.status,
            r.header("x-iisn-substatus").map(str::to_string),
            r.text(),
        )
    };
    // 100 bytes, 86 of them PATH_INFO.
    let long = format!("/limits/svc.js/{}", "segment/".repeat(11));
    assert_eq!(long.len(), 103);
    assert_eq!(status(&long), (200, None, format!("limits ran GET {long}")));
    // No script in the URL: all of it counts.
    let r = status(&format!("/limits/nosuch/{}", "segment/".repeat(11)));
    assert_eq!((r.0, r.1.as_deref()), (404, Some("14")));
    // The extension is the script's: `.js`, whatever the PATH_INFO ends with.
    assert_eq!(
        status("/limits/svc.js/reports/q1.csv"),
        (
            200,
            None,
            "limits ran GET /limits/svc.js/reports/q1.csv".into()
        )
    );
    let r = status("/limits/reports/q1.csv");
    assert_eq!((r.0, r.1.as_deref()), (404, Some("7")));
}

/// Regression (observed on IIS 10, MH28): a handler path with a slash (`dist/svc.js`) maps
/// every URL ending with it at a segment boundary; iisn sent `/old/dist/svc.js`'s source as
/// a static file where IIS runs it with node, as its own application.
#[test]
fn a_handler_path_with_a_slash_maps_the_same_tail_anywhere() {
    let Some(site) = Site::new("hello") else {
        return;
    };
    site.write("tail/dist/svc.js", &script("dist"));
    site.write("tail/old/dist/svc.js", &script("old"));
    site.write(
        "tail/web.config",
        &web_config("").replace("path=\"svc.js\"", "path=\"dist/svc.js\""),
    );
    let s = site.iisn().arg("--no-watch").start();
    let r = s.raw_get("/tail/dist/svc.js");
    assert_eq!(
        (r.status, r.text()),
        (200, "dist ran GET /tail/dist/svc.js".into())
    );
    let r = s.raw_get("/tail/old/dist/svc.js/x");
    assert_eq!(
        (r.status, r.text()),
        (200, "old ran GET /tail/old/dist/svc.js/x".into()),
        "{}",
        r.head
    );
}
