//! "A broken or hostile web.config never exposes source": the pipeline's decision for the
//! URLs of an iisnode site's secrets, whatever its web.config says.
//!
//! The secrets are the iisnode entry scripts (what a GET of their URL runs with node under
//! the unchanged configuration), every web.config, iisnode.yml, what request filtering hides
//! (`bin`, `App_Data`, and `node_modules` where the configuration adds it) and files outside
//! the site. Each is asked for under many spellings (case, percent-encoding, `.` and `..`
//! segments, doubled slashes and backslashes, Windows' trailing dot and space, `::$DATA`,
//! 8.3 names, a NUL, path info, HTTP.sys's `%uNNNN` escapes).
//!
//! [`mutated_configs_never_serve_secrets`] takes the real configurations of
//! `tests/fixtures/webconfigs/` and breaks them at random (truncation; a byte deleted,
//! inserted or replaced; a letter's case; a line doubled or dropped; a `<location>` around
//! the section; a byte order mark or UTF-16; quotes swapped), in the site's root or in a
//! sub-folder below a root web.config that says nothing, loads the site as `iisn serve` does
//! and routes every secret URL (the pipeline's decision, with the front's 500.19 for a file
//! below a web.config the configuration does not hold). A secret's bytes may go out only
//! where IIS sends them too, which needs a file IIS loads (no 500.19) and
//!
//! * for an entry script: its own URL is served as a file too (no spelling reaches the file
//!   while the plain URL runs node), and IIS's reason is plain: no iisnode mapping in any
//!   web.config or `<location>` names the file any more (a typo in `path`, a lost line: IIS's
//!   StaticFile handler sends it, as the brief of DECISIONS.md §5 accepts for a valid file),
//!   or `iisn check` reports a warning or error the unbroken site does not get (IISN6027,
//!   IISN6005, IISN6003, ...), or a `<location path="sub">` put around the section moved the
//!   mappings elsewhere (IIS applies them to that path only);
//! * for a file request filtering hid: the broken configuration's filter for where the file
//!   really is no longer hides it (a `<hiddenSegments>` entry lost its line), as on IIS;
//! * for a web.config, iisnode.yml or a file outside the site: never.
//!
//! It runs 256 cases by default (about 2 s; `PROPTEST_CASES` for more). 5,000 cases found no
//! source sent where IIS would not send it: a broken file is 500.19 for its folder
//! (DECISIONS.md §5), and every spelling of a path is decoded and normalised once before
//! anything reads it.
//!
//! [`hostile_shapes`] checks valid configurations written by hand, one rule of IIS each,
//! against what IIS does with them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;

use super::{Decision, Pipeline, RequestHead};
use crate::config::env::Environment;
use crate::config::{LoadOptions, LoadedSite, load_site};
use crate::diag::Severity;

/// What every secret file holds; a decision that sends a file holding it sent a secret.
const MARK: &str = "SECRET-never-served";

/// What a script does besides holding [`MARK`].
const SERVER: &str =
    "require('http').createServer(function (q, s) { s.end('ok'); }).listen(process.env.PORT);\n";

/// Scripts the fixtures map (by name, a `server*.js` wildcard, or a path with a slash),
/// created in the root and in `sub/`.
const SCRIPTS: &[&str] = &[
    "server.js",
    "server2.js",
    "app.js",
    "hello.js",
    "index.js",
    "iisnode.js",
    "bin/www",
    "dist/app.js",
];

/// Files hidden by IIS's stock request filtering or by common node configurations.
const HIDDEN: &[&str] = &[
    "bin/x.txt",
    "App_Data/x.txt",
    "App_Data/db.json",
    "node_modules/x/package.json",
    "iisnode/log.txt",
];

struct Site {
    _tmp: tempfile::TempDir,
    /// The canonical site root (`<tmp>/site`); `<tmp>/outside.txt` is outside it.
    root: PathBuf,
}

impl Site {
    fn new() -> Site {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = std::fs::canonicalize(tmp.path()).expect("canonical");
        let root = base.join("site");
        let outside = base.join("outside.txt");
        std::fs::write(&outside, MARK).expect("write");
        let site = Site { _tmp: tmp, root };
        for dir in ["", "sub/"] {
            for f in SCRIPTS {
                site.write(&format!("{dir}{f}"), &format!("// {MARK}\n{SERVER}"));
            }
            for f in HIDDEN {
                site.write(&format!("{dir}{f}"), &format!("// {MARK}\n"));
            }
            site.write(&format!("{dir}iisnode.yml"), &format!("# {MARK}\n"));
            site.write(&format!("{dir}public/a.txt"), "public");
        }
        // Links: one out of the site, one onto a hidden folder.
        #[cfg(unix)]
        {
            let _ = std::os::unix::fs::symlink(&base, site.root.join("up"));
            let _ = std::os::unix::fs::symlink(site.root.join("bin"), site.root.join("binlink"));
        }
        site
    }

    fn write(&self, rel: &str, text: &str) {
        self.write_bytes(rel, text.as_bytes());
    }

    fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        let p = self.root.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, bytes).expect("write");
    }

    fn load(&self) -> (Arc<LoadedSite>, Pipeline) {
        let opts = LoadOptions {
            env: Environment::from_pairs(Vec::<(String, String)>::new()),
            cpu_count: 1,
        };
        let site = Arc::new(load_site(&self.root, &opts).expect("site loads"));
        let p = Pipeline::new(site.clone());
        (site, p)
    }

    /// What a file a decision would send is, given the secrets of the unbroken
    /// configuration: `None` when it is no secret (a public file, or a script the unbroken
    /// configuration does not run either), else its site path (or where it is, outside the
    /// site) and how it is protected.
    fn classify(&self, path: &Path, secrets: &[(String, Secret)]) -> Option<(String, Secret)> {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let Ok(rel) = real.strip_prefix(&self.root) else {
            return Some((
                format!("outside the site: {}", real.display()),
                Secret::Always,
            ));
        };
        let rel = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
        let name = rel.rsplit('/').next().unwrap_or("");
        if name.eq_ignore_ascii_case("web.config") || name.eq_ignore_ascii_case("iisnode.yml") {
            return Some((rel, Secret::Always));
        }
        secrets
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(&rel))
            .map(|(_, kind)| (rel, *kind))
    }
}

fn head(target: &str) -> RequestHead {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::HOST,
        HeaderValue::from_static("localhost:8080"),
    );
    RequestHead {
        method: Method::GET,
        target: target.to_string(),
        headers: h,
        remote: "127.0.0.1:50000".parse().expect("addr"),
        local_addr: "127.0.0.1:8080".parse().expect("addr"),
        auth: None,
    }
}

/// What `iisn serve` does with a GET of `target`: the pipeline's decision, with the front's
/// substitution of a 500.19 for a file below a web.config the configuration does not hold.
/// `Some(path)` when it sends a file's bytes.
fn served_file(p: &Pipeline, target: &str) -> Option<PathBuf> {
    let routed = p.decide(&head(target), None);
    let Decision::File { path } = routed.decision else {
        return None;
    };
    let site_path = super::strip_prefix_ci(&routed.url, p.app_path()).unwrap_or("/");
    if p.unread_config(site_path, false).is_some() {
        return None;
    }
    Some(path)
}

/// Every spelling of a site path (`/server.js`) a client might try to reach the file with.
fn spellings(path: &str) -> Vec<String> {
    let body = &path[1..];
    let (dir, name) = match body.rfind('/') {
        Some(i) => (&body[..=i], &body[i + 1..]),
        None => ("", body),
    };
    let mut out = vec![
        path.to_string(),
        path.to_ascii_uppercase(),
        format!("/{dir}{}", flip_first_letter(name)),
        format!("/{}", body.replace('.', "%2E")),
        format!("/{}", body.replace('.', "%2e")),
        format!("/{dir}%{:02x}{}", name.as_bytes()[0], &name[1..]),
        format!("/{}", body.replace('/', "%2F")),
        format!("/{}", body.replace('/', "%5C")),
        // HTTP.sys's `%uNNNN`, which iisn decodes too (PercentUAllowed).
        format!("/{}", body.replace('.', "%u002E")),
        format!("/{dir}%u{:04X}{}", name.as_bytes()[0], &name[1..]),
        format!("/{}", body.replace('/', "%u002F")),
        format!("/{}", body.replace('/', "\\")),
        format!("{path}."),
        format!("{path}%2E"),
        format!("{path}%20"),
        format!("{path}::$DATA"),
        format!("{path}%3A%3A$DATA"),
        format!("{path}%00"),
        format!("{path}/"),
        format!("{path}/x"),
        format!("/{dir}{}", short_name(name)),
        format!("/{path}"),
        format!("/.{path}"),
        format!("/a/..{path}"),
        format!("/a/%2e%2e{path}"),
        format!("/%2e%2e{path}"),
        format!("/%5c{body}"),
        format!("/./{body}"),
    ];
    out.sort();
    out.dedup();
    out
}

fn flip_first_letter(name: &str) -> String {
    let mut b = name.as_bytes().to_vec();
    if let Some(c) = b.iter_mut().find(|c| c.is_ascii_alphabetic()) {
        *c ^= 0x20;
    }
    String::from_utf8(b).unwrap_or_default()
}

/// The 8.3 alias NTFS would give the name (`SERVER~1.JS`).
fn short_name(name: &str) -> String {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let stem: String = stem
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(6)
        .collect();
    let mut s = format!("{}~1", stem.to_ascii_uppercase());
    if !ext.is_empty() {
        s.push('.');
        s.push_str(&ext[..ext.len().min(3)].to_ascii_uppercase());
    }
    s
}

/// The site paths whose file must never go out, with how they are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    /// The unbroken configuration runs it with node when its own URL is asked for.
    Script,
    /// The unbroken configuration's request filtering hides it.
    Hidden,
    /// web.config, iisnode.yml, a file outside the site: never served.
    Always,
}

/// The secrets of the site as configured now (the unbroken configuration), in `dir`
/// (`""` or `"sub/"`).
fn secrets(p: &Pipeline, dir: &str) -> Vec<(String, Secret)> {
    let mut out = Vec::new();
    for f in SCRIPTS {
        let path = format!("/{dir}{f}");
        // Its own URL runs it (not a rewrite that sends every URL to another script).
        if let Decision::App(a) = p.decide(&head(&path), None).decision
            && a.script_rel.eq_ignore_ascii_case(&path[1..])
        {
            out.push((path, Secret::Script));
        }
    }
    for f in HIDDEN {
        let path = format!("/{dir}{f}");
        if let Decision::Error(e) = p.decide(&head(&path), None).decision
            && e.status == 404
            && matches!(e.substatus, 7 | 8)
        {
            out.push((path, Secret::Hidden));
        }
    }
    for f in ["web.config", "iisnode.yml"] {
        out.push((format!("/{dir}{f}"), Secret::Always));
    }
    out
}

/// URLs that lead out of the site.
const OUTSIDE: &[&str] = &[
    "/../outside.txt",
    "/%2e%2e/outside.txt",
    "/..%2foutside.txt",
    "/..%5coutside.txt",
    "/..\\outside.txt",
    "/sub/../../outside.txt",
    "/up/outside.txt",
    "/UP/outside.txt",
];

/// One way of breaking a web.config.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    Delete(prop::sample::Index),
    Insert(prop::sample::Index, u8),
    Replace(prop::sample::Index, u8),
    FlipCase(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    DropLine(prop::sample::Index),
    /// `<location path="...">` around `<system.webServer>`.
    Location(&'static str),
    Bom,
    Utf16,
    SwapQuotes,
}

/// Bytes worth inserting: XML syntax, quotes, letters, a NUL, bytes that are not UTF-8.
const BYTES: &[u8] = b"<>/=\"'&;! \t\r\nxX-._*?0\x00\xff\xc3";

fn mutation() -> impl Strategy<Value = Mutation> {
    let idx = any::<prop::sample::Index>;
    let byte = || prop::sample::select(BYTES);
    prop_oneof![
        2 => idx().prop_map(Mutation::Truncate),
        3 => idx().prop_map(Mutation::Delete),
        2 => (idx(), byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (idx(), byte()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        4 => idx().prop_map(Mutation::FlipCase),
        2 => idx().prop_map(Mutation::DuplicateLine),
        3 => idx().prop_map(Mutation::DropLine),
        1 => prop::sample::select(&[".", "", "server.js", "sub", "bin"][..])
            .prop_map(Mutation::Location),
        1 => Just(Mutation::Bom),
        1 => Just(Mutation::Utf16),
        1 => Just(Mutation::SwapQuotes),
    ]
}

fn lines(b: &[u8]) -> Vec<&[u8]> {
    b.split_inclusive(|&c| c == b'\n').collect()
}

fn apply(m: &Mutation, mut b: Vec<u8>) -> Vec<u8> {
    let at = |i: &prop::sample::Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match m {
        Mutation::Truncate(i) => b.truncate(at(i, b.len())),
        Mutation::Delete(i) if !b.is_empty() => {
            b.remove(at(i, b.len()));
        }
        Mutation::Insert(i, c) => b.insert(at(i, b.len() + 1), *c),
        Mutation::Replace(i, c) if !b.is_empty() => {
            let n = at(i, b.len());
            b[n] = *c;
        }
        Mutation::FlipCase(i) => {
            let letters: Vec<usize> = (0..b.len())
                .filter(|&k| b[k].is_ascii_alphabetic())
                .collect();
            if !letters.is_empty() {
                b[letters[at(i, letters.len())]] ^= 0x20;
            }
        }
        Mutation::DuplicateLine(i) => {
            let ls = lines(&b);
            let n = at(i, ls.len());
            let mut out = Vec::with_capacity(b.len() * 2);
            for (k, l) in ls.iter().enumerate() {
                out.extend_from_slice(l);
                if k == n {
                    if !l.ends_with(b"\n") {
                        out.push(b'\n');
                    }
                    out.extend_from_slice(l);
                }
            }
            return out;
        }
        Mutation::DropLine(i) => {
            let ls = lines(&b);
            let n = at(i, ls.len());
            return ls
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != n)
                .flat_map(|(_, l)| l.iter().copied())
                .collect();
        }
        Mutation::Location(path) => {
            let text = String::from_utf8_lossy(&b)
                .replace(
                    "<system.webServer>",
                    &format!("<location path=\"{path}\"><system.webServer>"),
                )
                .replace("</system.webServer>", "</system.webServer></location>");
            return text.into_bytes();
        }
        Mutation::Bom => b.splice(0..0, [0xef, 0xbb, 0xbf]).for_each(drop),
        Mutation::Utf16 => {
            let text = String::from_utf8_lossy(&b).into_owned();
            let mut out = vec![0xff, 0xfe];
            for u in text.encode_utf16() {
                out.extend_from_slice(&u.to_le_bytes());
            }
            return out;
        }
        Mutation::SwapQuotes => {
            for c in &mut b {
                *c = match *c {
                    b'"' => b'\'',
                    b'\'' => b'"',
                    o => o,
                };
            }
        }
        _ => {}
    }
    b
}

fn fixture_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webconfigs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.ends_with(".config").then_some(name)
        })
        .collect();
    names.sort();
    names.push("kudu-iisnode.config.template".into());
    names
}

/// Typical hand-written iisnode configurations, besides the fixtures.
const TYPICAL: &[&str] = &[
    r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="server.js" verb="*" modules="iisnode" />
    </handlers>
    <rewrite>
      <rules>
        <rule name="app">
          <match url="/*" />
          <action type="Rewrite" url="server.js" />
        </rule>
      </rules>
    </rewrite>
    <security>
      <requestFiltering>
        <hiddenSegments>
          <add segment="node_modules" />
          <add segment="iisnode" />
        </hiddenSegments>
      </requestFiltering>
    </security>
  </system.webServer>
</configuration>
"#,
    r#"<configuration>
  <system.webServer>
    <handlers>
      <add name="iisnode" path="app.js" verb="*" modules="iisnode"/>
    </handlers>
    <defaultDocument>
      <files>
        <add value="app.js"/>
      </files>
    </defaultDocument>
    <iisnode nodeProcessCountPerApplication="1" loggingEnabled="false"/>
  </system.webServer>
</configuration>
"#,
];

fn fixture_text(name: &str) -> Vec<u8> {
    if let Some(i) = name.strip_prefix("typical-") {
        let i: usize = i.parse().unwrap_or(0);
        return TYPICAL[i % TYPICAL.len()].as_bytes().to_vec();
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webconfigs")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.replace("{NodeStartFile}", "server.js").into_bytes()
}

/// What one configuration may expose, found from the unbroken one.
struct Baseline {
    secrets: Vec<(String, Secret)>,
    /// The codes `iisn check` reports for the unbroken site.
    codes: Vec<&'static str>,
}

fn baseline(site: &Site, dirs: &[&str]) -> Baseline {
    let (loaded, p) = site.load();
    assert!(
        loaded.load_failures().is_empty(),
        "the unbroken configuration loads: {:?}",
        loaded.load_failures()
    );
    let mut secrets = Vec::new();
    for dir in dirs {
        secrets.extend(secrets_checked(&p, site, dir));
    }
    let mut codes: Vec<&'static str> = crate::check::all(&loaded)
        .iter()
        .map(|d| d.code())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    Baseline { secrets, codes }
}

/// [`secrets`], asserting that the unbroken configuration serves none of them.
fn secrets_checked(p: &Pipeline, site: &Site, dir: &str) -> Vec<(String, Secret)> {
    let found = secrets(p, dir);
    for (path, _) in &found {
        for url in spellings(path) {
            if let Some(f) = served_file(p, &url) {
                assert!(
                    site.classify(&f, &found).is_none(),
                    "the unbroken configuration serves {url}: {}",
                    f.display()
                );
            }
        }
    }
    found
}

/// Every way the broken site sends a secret that IIS would not send: a list of
/// explanations, empty when there is none.
fn leaks(site: &Site, base: &Baseline, relocated: bool) -> Vec<String> {
    let (loaded, p) = site.load();
    let failures = loaded.load_failures();
    let mut out = Vec::new();
    let mut new_warning: Option<bool> = None;
    let mut check = |url: &str| {
        let Some(file) = served_file(&p, url) else {
            return;
        };
        let Some((what, kind)) = site.classify(&file, &base.secrets) else {
            return;
        };
        let iis_too = failures.is_empty()
            && match kind {
                Secret::Always => false,
                // Where the file really is (through a link) is what filtering hides.
                Secret::Hidden => p.config_for(&what).filter.allows(&what),
                // The script's own URL must say the same (no spelling reaches the file
                // while the plain URL runs node), and IIS's reason must be plain: no
                // iisnode mapping names the file any more (a typo in its path, a lost line),
                // or `iisn check` says why the mapping does not take it.
                Secret::Script => {
                    served_file(&p, &what).is_some()
                        && (relocated
                            || !named_by_iisnode(&loaded, &what)
                            || *new_warning.get_or_insert_with(|| {
                                crate::check::all(&loaded).iter().any(|d| {
                                    d.severity >= Severity::Warning
                                        && !base.codes.contains(&d.code())
                                })
                            }))
                }
            };
        if !iis_too {
            out.push(format!("{url}: sends {what} ({kind:?})"));
        }
    };
    for (path, _) in &base.secrets {
        for url in spellings(path) {
            check(&url);
        }
    }
    for url in OUTSIDE {
        check(url);
    }
    check("/binlink/x.txt");
    out
}

/// Whether some iisnode mapping of the site, in any web.config or `<location>`, names the
/// file at site path `path` (`/sub/server.js`): by its file name (`server.js`,
/// `server*.js`), or by a path with a slash that the path ends with, below its web.config's
/// folder (as IIS 10 matches it, MH28). Read from the configuration as written, not through
/// handler mapping: what IIS's reason to run the file with node could be.
fn named_by_iisnode(site: &LoadedSite, path: &str) -> bool {
    use crate::config::web_config::CollectionOp;
    let path = path.trim_start_matches('/');
    let name = path.rsplit('/').next().unwrap_or(path);
    site.levels.iter().any(|level| {
        let Some(cfg) = &level.config else {
            return false;
        };
        std::iter::once(&cfg.sections)
            .chain(cfg.locations.iter().map(|l| &l.sections))
            .filter_map(|s| s.handlers.as_ref())
            .flat_map(|c| &c.ops)
            .any(|op| {
                let CollectionOp::Add(h) = op else {
                    return false;
                };
                let want = h.path.value.trim().replace('\\', "/");
                h.is_iisnode()
                    && if want.contains('/') {
                        // Any tail of the path below the web.config's folder (MH28).
                        let segs: Vec<&str> = path.split('/').collect();
                        crate::config::site::slash_path_matches(
                            &want,
                            &segs,
                            crate::config::site::level_depth(&level.dir_rel),
                        )
                    } else {
                        crate::serve::router::wildcard_match(&want, name)
                    }
            })
    })
}

fn all_names() -> Vec<String> {
    let mut names = fixture_names();
    names.extend((0..TYPICAL.len()).map(|i| format!("typical-{i}")));
    names
}

/// One site per configuration, with its baseline, built once: the configuration in the
/// root, and in `sub/` below a root web.config that says nothing.
struct Prepared {
    name: String,
    root: (Site, Baseline),
    sub: (Site, Baseline),
}

fn prepared() -> &'static Vec<std::sync::Mutex<Prepared>> {
    static ALL: std::sync::OnceLock<Vec<std::sync::Mutex<Prepared>>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        all_names()
            .into_iter()
            .map(|name| {
                let text = fixture_text(&name);
                let a = Site::new();
                a.write_bytes("web.config", &text);
                let ba = baseline(&a, &["", "sub/"]);
                let b = Site::new();
                b.write("web.config", "<configuration/>");
                b.write_bytes("sub/web.config", &text);
                let bb = baseline(&b, &["sub/"]);
                std::sync::Mutex::new(Prepared {
                    name,
                    root: (a, ba),
                    sub: (b, bb),
                })
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// See the module docs.
    #[test]
    fn mutated_configs_never_serve_secrets(
        which in any::<prop::sample::Index>(),
        in_sub in any::<bool>(),
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let all = prepared();
        let prep = all[which.index(all.len())].lock().unwrap_or_else(|e| e.into_inner());
        let (site, base, file) = if in_sub {
            (&prep.sub.0, &prep.sub.1, "sub/web.config")
        } else {
            (&prep.root.0, &prep.root.1, "web.config")
        };
        let mut bytes = fixture_text(&prep.name);
        for m in &muts {
            bytes = apply(m, bytes);
        }
        site.write_bytes(file, &bytes);
        // A `<location path="sub">` around the section moves the handler mappings to that
        // path: the scripts outside it are static files on IIS (by design, not an error).
        let relocated = muts
            .iter()
            .any(|m| matches!(m, Mutation::Location(p) if !matches!(*p, "" | ".")));
        let found = leaks(site, base, relocated);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        site.write_bytes(file, &fixture_text(&prep.name));
        prop_assert!(
            found.is_empty(),
            "{} ({file}) after {muts:?}:\n{}\n--- config ---\n{text}",
            prep.name,
            found.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------
// Hostile but valid shapes, one rule of IIS each
// ---------------------------------------------------------------------------------------

/// `app server.js`, `file sub/server.js`, `error 404.8`, ... for a GET of `target`.
fn outcome(site: &Site, p: &Pipeline, target: &str) -> String {
    let routed = p.decide(&head(target), None);
    match &routed.decision {
        Decision::App(a) => format!("app {}", a.script_rel),
        Decision::File { path } => {
            let rel = path.strip_prefix(&site.root).unwrap_or(path);
            let site_path = super::strip_prefix_ci(&routed.url, p.app_path()).unwrap_or("/");
            if p.unread_config(site_path, false).is_some() {
                return "error 500.19".into();
            }
            format!("file {}", rel.to_string_lossy())
        }
        Decision::Error(e) => format!("error {}.{}", e.status, e.substatus),
        Decision::Listing { .. } => "listing".into(),
        Decision::Redirect { status, .. } => format!("redirect {status}"),
        Decision::Options => "options".into(),
        Decision::Abort => "abort".into(),
    }
}

/// `IISN6027 sub/web.config:1:58` for each warning or error `iisn check` reports.
fn reported(site: &Site, loaded: &LoadedSite) -> Vec<String> {
    crate::check::all(loaded)
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
        .filter_map(|d| {
            let span = d.primary?;
            let src = loaded.sources.get(span.source);
            let lc = src.line_col(span.start);
            let file = src.path().strip_prefix(&site.root).unwrap_or(src.path());
            Some(format!(
                "{} {}:{}:{}",
                d.code(),
                file.to_string_lossy(),
                lc.line,
                lc.column
            ))
        })
        .collect()
}

const MAP: &str =
    r#"<handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>"#;

fn ws(inner: &str) -> String {
    format!("<configuration><system.webServer>{inner}</system.webServer></configuration>")
}

/// One hostile shape: the root web.config, a sub-folder's (or none), URLs with what IIS
/// does with them, and what `iisn check` must report among its warnings and errors.
struct Shape {
    name: &'static str,
    root: String,
    sub: Option<String>,
    expect: &'static [(&'static str, &'static str)],
    reports: &'static [&'static str],
}

fn shapes() -> Vec<Shape> {
    vec![
        // `<clear/>` without StaticFile added back: IIS has no handler for anything else
        // (404.4), never the file.
        Shape {
            name: "handlers clear",
            root: ws(
                r#"<handlers><clear/><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>"#,
            ),
            sub: None,
            expect: &[
                ("/server.js", "app server.js"),
                ("/app.js", "error 404.4"),
                ("/web.config", "error 404.8"),
            ],
            reports: &[],
        },
        // A sub-folder's web.config removes the mapping that `path="server.js"` (no slash)
        // gives its server.js too (iisnode issue 189): IIS's StaticFile sends the source, and
        // so does iisn; check says so at the <remove>.
        Shape {
            name: "remove in a sub-folder",
            root: ws(MAP),
            sub: Some(ws(r#"<handlers><remove name="iisnode"/></handlers>"#)),
            expect: &[
                ("/server.js", "app server.js"),
                ("/sub/server.js", "file sub/server.js"),
            ],
            reports: &["IISN6027 sub/web.config:1:58"],
        },
        // The same removal where the parent locks the section (overrideMode="Deny", and the
        // legacy allowOverride="false"): IIS refuses the sub-folder's file, 500.19 for the
        // folder. iisn applied the removal and sent the source.
        Shape {
            name: "remove below a locked location",
            root: format!(
                r#"<configuration><location path="." overrideMode="Deny"><system.webServer>{MAP}</system.webServer></location></configuration>"#
            ),
            sub: Some(ws(r#"<handlers><remove name="iisnode"/></handlers>"#)),
            expect: &[
                ("/server.js", "app server.js"),
                ("/sub/server.js", "error 500.19"),
                ("/sub/public/a.txt", "error 500.19"),
            ],
            reports: &["IISN1013 sub/web.config:1:35"],
        },
        Shape {
            name: "remove below allowOverride=false",
            root: format!(
                r#"<configuration><location path="sub" allowOverride="false"><system.webServer><handlers accessPolicy="Read, Script"/></system.webServer></location><system.webServer>{MAP}</system.webServer></configuration>"#
            ),
            sub: Some(ws(r#"<handlers><clear/></handlers>"#)),
            expect: &[
                ("/server.js", "app server.js"),
                ("/sub/server.js", "error 500.19"),
            ],
            reports: &["IISN1013 sub/web.config:1:35"],
        },
        // Finer locks (MicrosoftDocs, "How to Use Locking in IIS Configuration", tasks 4
        // and 5): `lockItem="true"` on the mapping, `lockElements="remove,clear"` on the
        // list. A lower web.config that removes it is refused (500.19).
        Shape {
            name: "remove of a lockItem mapping",
            root: ws(
                r#"<handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode" lockItem="true"/></handlers>"#,
            ),
            sub: Some(ws(r#"<handlers><remove name="iisnode"/></handlers>"#)),
            expect: &[
                ("/server.js", "app server.js"),
                ("/sub/server.js", "error 500.19"),
            ],
            reports: &["IISN1013 sub/web.config:1:58"],
        },
        Shape {
            name: "clear below lockElements",
            root: ws(
                r#"<handlers lockElements="remove,clear"><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>"#,
            ),
            sub: Some(ws(r#"<handlers><clear/></handlers>"#)),
            expect: &[("/sub/server.js", "error 500.19")],
            reports: &["IISN1013 sub/web.config:1:45"],
        },
        // Only `clear` locked: a `<remove>` is allowed, and IIS serves the source.
        Shape {
            name: "remove below lockElements=clear",
            root: ws(
                r#"<handlers lockElements="clear"><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>"#,
            ),
            sub: Some(ws(r#"<handlers><remove name="iisnode"/></handlers>"#)),
            expect: &[("/sub/server.js", "file sub/server.js")],
            reports: &["IISN6027 sub/web.config:1:58"],
        },
        // A deeper `<location>` in the locking file itself: whether IIS's lock binds the
        // file that sets it is not established, so iisn applies the location (the source
        // goes out, as IIS sends it if the lock does not bind), and check says so.
        Shape {
            name: "remove in a deeper location of the locking file",
            root: format!(
                r#"<configuration><location path="." overrideMode="Deny"><system.webServer>{MAP}</system.webServer></location><location path="sub"><system.webServer><handlers><remove name="iisnode"/></handlers></system.webServer></location></configuration>"#
            ),
            sub: None,
            expect: &[
                ("/server.js", "app server.js"),
                ("/sub/server.js", "file sub/server.js"),
            ],
            reports: &["IISN6027 web.config:1:252"],
        },
        // A lock on another section leaves handlers free.
        Shape {
            name: "a lock on another section",
            root: format!(
                r#"<configuration><location path="." overrideMode="Deny"><system.webServer><directoryBrowse enabled="false"/></system.webServer></location><system.webServer>{MAP}</system.webServer></configuration>"#
            ),
            sub: Some(ws(r#"<handlers><remove name="iisnode"/></handlers>"#)),
            expect: &[("/sub/server.js", "file sub/server.js")],
            reports: &["IISN6027 sub/web.config:1:58"],
        },
        Shape {
            name: "location path=.",
            root: format!(
                r#"<configuration><location path="." inheritInChildApplications="false"><system.webServer>{MAP}</system.webServer></location></configuration>"#
            ),
            sub: None,
            // inheritInChildApplications concerns child applications; a folder inherits.
            expect: &[
                ("/server.js", "app server.js"),
                ("/sub/server.js", "app sub/server.js"),
            ],
            reports: &[],
        },
        // `<location path="server.js">` taking the mapping away from the script itself.
        Shape {
            name: "location path=server.js removes the mapping",
            root: format!(
                r#"<configuration><location path="server.js"><system.webServer><handlers><remove name="iisnode"/></handlers></system.webServer></location><system.webServer>{MAP}</system.webServer></configuration>"#
            ),
            sub: None,
            expect: &[
                ("/server.js", "file server.js"),
                ("/sub/server.js", "app sub/server.js"),
            ],
            reports: &["IISN6027 web.config:1:190"],
        },
        // configSource: the mapping comes from the other file; that file is a .config.
        Shape {
            name: "configSource",
            root: ws(r#"<handlers configSource="handlers.config"/>"#),
            sub: None,
            expect: &[
                ("/server.js", "app server.js"),
                ("/handlers.config", "error 404.7"),
            ],
            reports: &[],
        },
        Shape {
            name: "configSource missing",
            root: ws(r#"<handlers configSource="nothere.config"/>"#),
            sub: None,
            expect: &[
                ("/server.js", "error 500.19"),
                ("/public/a.txt", "error 500.19"),
            ],
            reports: &["IISN1009 web.config:1:58"],
        },
        // A MIME type for .js changes nothing about handler mapping.
        Shape {
            name: "staticContent mimeMap .js",
            root: ws(&format!(
                r#"{MAP}<staticContent><remove fileExtension=".js"/><mimeMap fileExtension=".js" mimeType="text/plain"/></staticContent>"#
            )),
            sub: None,
            expect: &[("/server.js", "app server.js"), ("/app.js", "file app.js")],
            reports: &[],
        },
        // Rewrites into secrets: request filtering checks the rewritten URL too.
        Shape {
            name: "rewrites to secrets",
            root: ws(&format!(
                r#"{MAP}<rewrite><rules>
<rule name="a"><match url="^a$"/><action type="Rewrite" url="web.config"/></rule>
<rule name="b"><match url="^b$"/><action type="Rewrite" url="iisnode.yml"/></rule>
<rule name="c"><match url="^c$"/><action type="Rewrite" url="bin/x.txt"/></rule>
<rule name="d"><match url="^d(.*)$"/><action type="Rewrite" url="{{UrlDecode:{{R:1}}}}"/></rule>
<rule name="e"><match url="^e$"/><action type="Rewrite" url="/server.js"/></rule>
<rule name="f"><match url="^f$"/><action type="Rewrite" url="web%2Econfig"/></rule>
</rules></rewrite>"#
            )),
            sub: None,
            expect: &[
                ("/a", "error 404.8"),
                ("/b", "error 404.8"),
                ("/c", "error 404.8"),
                ("/dweb.config", "error 404.7"),
                ("/dbin%2Fx.txt", "error 404.8"),
                ("/d%252E%252E/outside.txt", "error 404.11"),
                ("/e", "app server.js"),
                ("/f", "error 404.8"),
            ],
            reports: &[],
        },
        // hiddenSegments <clear/>: IIS serves bin and App_Data then; web.config stays
        // denied by its extension.
        Shape {
            name: "hiddenSegments clear",
            root: ws(&format!(
                r#"{MAP}<security><requestFiltering><hiddenSegments><clear/></hiddenSegments></requestFiltering></security>"#
            )),
            sub: None,
            expect: &[
                ("/bin/x.txt", "file bin/x.txt"),
                ("/App_Data/x.txt", "file App_Data/x.txt"),
                ("/web.config", "error 404.7"),
                ("/iisnode.yml", "error 404.8"),
            ],
            reports: &["IISN6030 web.config:1:165"],
        },
        // Everything that protects web.config taken away: IIS serves it. iisnode.yml
        // stays hidden (iisn's rule, stricter than IIS).
        Shape {
            name: "every protection of web.config removed",
            root: ws(&format!(
                r#"{MAP}<security><requestFiltering><hiddenSegments><clear/></hiddenSegments><fileExtensions><clear/></fileExtensions></requestFiltering></security><staticContent><mimeMap fileExtension=".config" mimeType="text/xml"/><mimeMap fileExtension=".yml" mimeType="text/plain"/></staticContent>"#
            )),
            sub: None,
            expect: &[
                ("/web.config", "file web.config"),
                ("/iisnode.yml", "error 404.8"),
                ("/server.js", "app server.js"),
            ],
            reports: &["IISN6030 web.config:1:165"],
        },
        Shape {
            name: "fileExtensions allowUnlisted=false",
            root: ws(&format!(
                r#"{MAP}<security><requestFiltering><fileExtensions allowUnlisted="false"><add fileExtension=".js" allowed="true"/></fileExtensions></requestFiltering></security>"#
            )),
            sub: None,
            expect: &[
                ("/server.js", "app server.js"),
                ("/node_modules/x/package.json", "error 404.7"),
                ("/public/a.txt", "error 404.7"),
            ],
            reports: &[],
        },
        // enabled="false": a disabled rule does not rewrite, a disabled default document
        // serves nothing, a listing never shows a hidden folder.
        Shape {
            name: "enabled=false",
            root: ws(&format!(
                r#"{MAP}<rewrite><rules><rule name="all" enabled="false"><match url=".*"/><action type="Rewrite" url="server.js"/></rule></rules></rewrite><defaultDocument enabled="false"><files><add value="server.js"/></files></defaultDocument><directoryBrowse enabled="true"/>"#
            )),
            sub: None,
            expect: &[
                ("/anything", "error 404.0"),
                ("/server.js", "app server.js"),
                ("/bin/", "error 404.8"),
                ("/public/", "listing"),
            ],
            reports: &[],
        },
        // An entry that lost its `<` is text, which IIS passes over (IIS's schema has no
        // text content; inferred, as JexusManager's reading of IIS's configuration files
        // does): no mapping, the script goes out as a file, and check points at the text.
        Shape {
            name: "an <add> that lost its <",
            root: ws(r#"<handlers>
add name="iisnode" path="server.js" verb="*" modules="iisnode"/>
</handlers>"#),
            sub: None,
            expect: &[("/server.js", "file server.js")],
            reports: &["IISN1014 web.config:2:1"],
        },
        // Character references are the characters they name; an entity needs a DTD, which
        // iisn (like IIS's configuration reader, inferred) does not read: 500.19, never the
        // folder without its mapping.
        Shape {
            name: "character reference in the path",
            root: ws(
                r#"<handlers><add name="iisnode" path="server&#46;js" verb="*" modules="&#x69;isnode"/></handlers>"#,
            ),
            sub: None,
            expect: &[("/server.js", "app server.js")],
            reports: &[],
        },
        Shape {
            name: "an entity from a DTD",
            root: String::from(
                r#"<!DOCTYPE configuration [<!ENTITY m "iisnode">]>
<configuration><system.webServer><handlers><add name="iisnode" path="server.js" verb="*" modules="&m;"/></handlers></system.webServer></configuration>"#,
            ),
            sub: None,
            expect: &[
                ("/server.js", "error 500.19"),
                ("/public/a.txt", "error 500.19"),
            ],
            reports: &["IISN0001 web.config:2:99"],
        },
        // accessPolicy without Script: IIS skips iisnode and sends the source.
        Shape {
            name: "accessPolicy Read",
            root: ws(
                r#"<handlers accessPolicy="Read"><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>"#,
            ),
            sub: None,
            expect: &[("/server.js", "file server.js")],
            reports: &["IISN6025 web.config:1:58"],
        },
    ]
}

/// See the module docs; each shape says what IIS does.
#[test]
fn hostile_shapes() {
    let mut failures = Vec::new();
    for shape in shapes() {
        let site = Site::new();
        site.write("web.config", &shape.root);
        site.write(
            "handlers.config",
            r#"<handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers>"#,
        );
        if let Some(sub) = &shape.sub {
            site.write("sub/web.config", sub);
        }
        let (loaded, p) = site.load();
        for (url, want) in shape.expect {
            let got = outcome(&site, &p, url);
            if got != *want {
                failures.push(format!("{}: {url}: {got}, IIS: {want}", shape.name));
            }
        }
        let reports = reported(&site, &loaded);
        for want in shape.reports {
            if !reports.iter().any(|r| r == want) {
                failures.push(format!(
                    "{}: check does not report {want} (it reports {reports:?})",
                    shape.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
