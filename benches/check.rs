//! `iisn check` on a large site: a web.config with 1,000 rewrite rules (ECMAScript and
//! Wildcard patterns, conditions, back-references, rewrite targets), loaded and linted.
//! The goal is well under 100 ms per check; `cargo bench --bench check` prints the time.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use iisn::config::{LoadOptions, load_site};

const RULES: usize = 1000;

/// A web.config with `n` rules of the shapes real sites use.
fn web_config(n: usize) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <system.webServer>\n    <webSocket enabled=\"false\"/>\n    <handlers>\n      <add name=\"iisnode\" path=\"server.js\" verb=\"*\" modules=\"iisnode\"/>\n    </handlers>\n    <rewrite>\n      <rewriteMaps>\n        <rewriteMap name=\"Legacy\">\n          <add key=\"/old\" value=\"/new\"/>\n        </rewriteMap>\n      </rewriteMaps>\n      <rules>\n",
    );
    for i in 0..n {
        let _ = match i % 4 {
            0 => write!(
                s,
                "        <rule name=\"api{i}\" stopProcessing=\"true\">\n          <match url=\"^api/v{i}/(\\w+)/(\\d+)$\"/>\n          <action type=\"Rewrite\" url=\"server.js?resource={{R:1}}&amp;id={{R:2}}\"/>\n        </rule>\n"
            ),
            1 => write!(
                s,
                "        <rule name=\"static{i}\" patternSyntax=\"Wildcard\">\n          <match url=\"assets{i}/*.*\"/>\n          <action type=\"Rewrite\" url=\"public/assets{i}/{{R:1}}.{{R:2}}\"/>\n        </rule>\n"
            ),
            2 => write!(
                s,
                "        <rule name=\"redirect{i}\" stopProcessing=\"true\">\n          <match url=\"^old{i}/(.*)\"/>\n          <conditions logicalGrouping=\"MatchAny\">\n            <add input=\"{{HTTP_HOST}}\" pattern=\"^www\\.example{i}\\.com$\"/>\n            <add input=\"{{Legacy:{{REQUEST_URI}}}}\" pattern=\"(.+)\"/>\n          </conditions>\n          <action type=\"Redirect\" url=\"https://example.com/new{i}/{{R:1}}\" redirectType=\"Permanent\"/>\n        </rule>\n"
            ),
            _ => write!(
                s,
                "        <rule name=\"app{i}\">\n          <match url=\"^(?!iisnode/)section{i}/.*\"/>\n          <conditions>\n            <add input=\"{{REQUEST_FILENAME}}\" matchType=\"IsFile\" negate=\"true\"/>\n          </conditions>\n          <action type=\"Rewrite\" url=\"server.js\"/>\n        </rule>\n"
            ),
        };
    }
    s.push_str("      </rules>\n    </rewrite>\n  </system.webServer>\n</configuration>\n");
    s
}

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("web.config"), web_config(RULES)).expect("write");
    std::fs::write(
        dir.path().join("server.js"),
        "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT);\n",
    )
    .expect("write");
    dir
}

fn check(dir: &Path, opts: &LoadOptions) -> usize {
    let site = load_site(dir, opts).expect("loads");
    site.diagnostics.len() + iisn::check::run(&site).len()
}

fn bench(c: &mut Criterion) {
    let dir = site();
    let opts = LoadOptions::from_process();
    // One plain measurement first, so the number is visible without criterion's report.
    let start = Instant::now();
    let n = check(dir.path(), &opts);
    println!(
        "iisn check: {RULES} rules loaded and linted in {:.1} ms ({n} diagnostics)",
        start.elapsed().as_secs_f64() * 1000.0
    );
    c.bench_function("check a 1,000-rule web.config (load + lints)", |b| {
        b.iter(|| black_box(check(black_box(dir.path()), &opts)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
