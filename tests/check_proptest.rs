//! No input makes `load_site` + `check` panic: random and mutated web.config, iisnode.yml,
//! scripts and `IISNODE_*` environments, written to a temporary site and checked.

use std::fs;
use std::path::Path;

use iisn::check;
use iisn::config::env::Environment;
use iisn::config::{LoadOptions, load_site};
use proptest::prelude::*;

/// Real configurations to mutate.
fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![
        fs::read_to_string(root.join("tests/fixtures/webconfigs/kudu.config")).expect("kudu"),
        fs::read_to_string(root.join("examples/configuration/web.config")).expect("sample"),
    ];
    let rw = root.join("tests/fixtures/check/realworld");
    let mut stack = vec![rw];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "web.config") {
                out.push(fs::read_to_string(&p).expect("web.config"));
            }
        }
    }
    out
}

/// Pieces that exercise the lints: odd values, patterns, back-references, expansions.
const PIECES: &[&str] = &[
    "\"",
    "'",
    "<",
    ">",
    "/>",
    "&amp;",
    "&quot;",
    "%",
    "%node_env%",
    "{R:9}",
    "{C:1}",
    "{X:{R:1}}",
    "{HTTP_HOST}",
    "(",
    ")",
    "[",
    "]",
    "\\",
    "\\_",
    "*",
    "?",
    "(a+)+",
    "^/",
    "0",
    "-1",
    "4294967296",
    "Infinite",
    "true",
    "yes",
    "",
    " ",
    "\t",
    "\u{0}",
    "é",
    "💥",
    ";",
    ",",
    "..",
    "C:\\x",
    "/abs",
    "bin/www",
    "*.js",
    "<rule name=\"r\"><match url=\"(\"/></rule>",
    "<add segment=\"bin\"/>",
    "<remove name=\"iisnode\"/>",
    "<clear/>",
    "<location path=\"a\"><system.webServer><iisnode/></system.webServer></location>",
    " configSource=\"rules.config\"",
    " configSource=\"../x.config\"",
    "<rewrite><rules configSource=\"rules.config\"/></rewrite>",
    "<outboundRules><rule name=\"o\" preCondition=\"p\"><match serverVariable=\"RESPONSE_X\" pattern=\"(\"/><action type=\"Rewrite\" value=\"{R:1}\"/></rule><preConditions><preCondition name=\"p\"><add input=\"{RESPONSE_CONTENT_TYPE}\" pattern=\"x\"/></preCondition></preConditions></outboundRules>",
    "<verbs allowUnlisted=\"false\"><add verb=\"GET\" allowed=\"true\"/></verbs>",
    "<denyUrlSequences><add sequence=\"..\"/></denyUrlSequences>",
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, usize),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0..PIECES.len()).prop_map(|(a, b)| Edit::Insert(a, b)),
        (any::<usize>(), 0usize..40).prop_map(|(a, b)| Edit::Delete(a, b)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 0usize..200).prop_map(|(a, b)| Edit::Duplicate(a, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut s = text.to_string();
    let boundary = |s: &str, i: usize| {
        let mut i = if s.is_empty() { 0 } else { i % (s.len() + 1) };
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    for e in edits {
        match *e {
            Edit::Insert(at, piece) => {
                let at = boundary(&s, at);
                s.insert_str(at, PIECES[piece]);
            }
            Edit::Delete(at, n) => {
                let a = boundary(&s, at);
                let b = boundary(&s, a + n);
                s.replace_range(a..b.max(a), "");
            }
            Edit::Truncate(at) => {
                let at = boundary(&s, at);
                s.truncate(at);
            }
            Edit::Duplicate(at, n) => {
                let a = boundary(&s, at);
                let b = boundary(&s, a + n).max(a);
                let chunk = s[a..b].to_string();
                s.insert_str(b, &chunk);
            }
        }
    }
    s
}

fn check_site(
    web_config: &str,
    child: Option<&str>,
    yml: &str,
    script: &str,
    env: Vec<(String, String)>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("web.config"), web_config).expect("write");
    fs::write(dir.path().join("server.js"), script).expect("write");
    fs::write(dir.path().join("iisnode.yml"), yml).expect("write");
    fs::write(
        dir.path().join("rules.config"),
        "<rules><rule name=\"x\"><match url=\".*\"/><action type=\"Rewrite\" url=\"server.js\"/></rule></rules>",
    )
    .expect("write");
    fs::write(
        dir.path().join("package.json"),
        "{\"type\":\"module\",\"dependencies\":{\"socket.io\":\"4\"}}",
    )
    .expect("write");
    if let Some(c) = child {
        fs::create_dir_all(dir.path().join("api")).expect("mkdir");
        fs::write(dir.path().join("api/web.config"), c).expect("write");
        fs::write(dir.path().join("api/app.mjs"), script).expect("write");
    }
    let opts = LoadOptions {
        env: Environment::from_pairs(env),
        cpu_count: 2,
    };
    let site = load_site(dir.path(), &opts).expect("a folder always loads");
    // What `iisn serve` answers 500.19 for is computed from any input.
    for f in site.load_failures() {
        assert!(f.diagnostic.is_error(), "{f:?}");
    }
    let diags = check::all(&site);
    // Every diagnostic renders in every format without panicking.
    for d in &diags {
        let _ = iisn::diag::render::human(d, &site.sources, dir.path(), &iisn::ui::Styles::plain());
    }
    let checked = check::check_path(dir.path(), &opts).expect("checks");
    let one = std::slice::from_ref(&checked);
    let _ = check::render::sarif_report(one, dir.path());
    let _ = check::render::github_report(one, dir.path(), check::render::Filter::default());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_configs_never_panic(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 0..8),
        child_edits in prop::collection::vec(edit(), 0..4),
        yml in "[a-zA-Z_:# \t\"0-9%\r\n-]{0,80}",
        script in "(import x from 'y';|parseInt\\(process.env.PORT\\)|listen\\(3000\\)|require\\('./a'\\)|[a-z .;()'\n]){0,6}",
        env in prop::collection::vec(("IISNODE_[a-zA-Z]{1,12}|PATH|NODE_ENV", "[a-z0-9 %-]{0,8}"), 0..3),
    ) {
        let seeds = seeds();
        let base = seed.get(&seeds);
        let text = apply(base, &edits);
        let child = apply(&seeds[seeds.len() - 1 - seed.index(seeds.len())], &child_edits);
        check_site(&text, Some(&child), &yml, &script, env);
    }

    #[test]
    fn random_configs_never_panic(
        body in prop::collection::vec(0..PIECES.len(), 0..40),
        attrs in prop::collection::vec(("[a-zA-Z]{1,12}", "[ -~]{0,16}"), 0..6),
    ) {
        let mut text = String::from("<configuration><system.webServer><handlers><add name=\"iisnode\" path=\"server.js\" verb=\"*\" modules=\"iisnode\"/></handlers><iisnode");
        for (k, v) in &attrs {
            text.push_str(&format!(" {k}=\"{}\"", v.replace(['"', '<', '&'], "")));
        }
        text.push_str("/><rewrite><rules><rule name=\"x\"><match url=\"");
        for i in &body {
            text.push_str(&PIECES[*i].replace(['"', '<', '&'], ""));
        }
        text.push_str("\"/><action type=\"Rewrite\" url=\"{R:1}\"/></rule></rules></rewrite></system.webServer></configuration>");
        check_site(&text, None, "", "", Vec::new());
    }
}
