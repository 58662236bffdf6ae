//! Snapshot tests over `tests/fixtures/check/`: one folder per lint, named after its code,
//! with a `bad/` site that seeds the mistake and a `good/` site that does not.
//!
//! Expectations are written in the fixtures themselves: a line of a web.config that carries
//! `<!-- expect: IISN6005 -->` must get exactly that diagnostic on that line, and an
//! `expected` file lists the others (`IISN3001 iisnode.yml:2`, or `IISN4001 -` for one with
//! no position). For every case, the errors and warnings found, plus the diagnostics of the
//! folder's own code, must be exactly the expected ones: a good case expects none. An `env`
//! file (`NAME=value` lines) is the environment the site is loaded with; `PATH` is
//! `tests/fixtures/check/bin`, whose `node` only prints a version, so results do not depend
//! on the machine. The human and JSON output of each bad case, and the human output of each
//! good case, are insta snapshots in `tests/snapshots/check/`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use iisn::check::{self, Checked, render};
use iisn::config::LoadOptions;
use iisn::config::env::Environment;
use iisn::diag::{Severity, codes};
use iisn::ui::Styles;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check")
}

/// The options a fixture is loaded with.
fn options(case: &Path) -> LoadOptions {
    let mut vars: Vec<(String, String)> =
        vec![("PATH".into(), fixtures().join("bin").display().to_string())];
    if let Ok(text) = fs::read_to_string(case.join("env")) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            vars.retain(|(n, _)| n != k);
            vars.push((k.to_string(), v.to_string()));
        }
    }
    LoadOptions {
        env: Environment::from_pairs(vars),
        cpu_count: 2,
    }
}

pub fn check_case(case: &Path) -> Checked {
    check::check_path(case, &options(case)).unwrap_or_else(|e| panic!("{}: {e}", case.display()))
}

/// `(code, "file:line")` pairs the fixture declares.
pub fn expected(case: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(text) = fs::read_to_string(case.join("expected")) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (code, at) = line.trim().split_once(' ').unwrap_or((line, "-"));
            out.push((code.to_string(), at.to_string()));
        }
    }
    let mut stack = vec![case.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let Ok(text) = fs::read_to_string(&p) else {
                continue;
            };
            let rel = p
                .strip_prefix(case)
                .expect("under the case")
                .display()
                .to_string()
                .replace('\\', "/");
            for (i, line) in text.lines().enumerate() {
                if let Some(rest) = line.split("expect: ").nth(1) {
                    for code in rest
                        .split_whitespace()
                        .take_while(|c| c.starts_with("IISN"))
                    {
                        out.push((code.to_string(), format!("{rel}:{}", i + 1)));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// `(code, "file:line")` of the errors and warnings found, and of `also`'s diagnostics.
pub fn found(checked: &Checked, base: &Path, also: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = checked
        .diagnostics
        .iter()
        .filter(|d| d.severity >= Severity::Warning || Some(d.lint.code) == also)
        .map(|d| {
            let at = d
                .primary
                .filter(|s| !s.is_builtin())
                .map(|s| {
                    let lc = checked.site.sources.line_col(s);
                    let file =
                        iisn::diag::render::display_path(checked.site.sources.path(s.source), base);
                    format!("{}:{}", file.replace('\\', "/"), lc.line)
                })
                .unwrap_or_else(|| "-".into());
            (d.lint.code.to_string(), at)
        })
        .collect();
    out.sort();
    out
}

pub fn human(checked: Checked, base: &Path) -> String {
    render::human_report(
        &[checked],
        base,
        &Styles::plain(),
        render::Filter {
            quiet: false,
            verbose: true,
            deny_warnings: false,
        },
    )
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/check"));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    // Absolute paths differ per checkout: the stand-in node's, and those in the loader's
    // messages about unreadable files.
    s.add_filter(
        r"`node` on PATH is [^ ]*/bin/node",
        "`node` on PATH is [fixtures]/bin/node",
    );
    s.add_filter(
        &regex_escape(&fixtures().display().to_string()),
        "[fixtures]",
    );
    s
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.^$*+?()[]{}|".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn lint_dirs() -> Vec<(String, PathBuf)> {
    let mut dirs: Vec<(String, PathBuf)> = fs::read_dir(fixtures())
        .expect("fixtures")
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| n.starts_with("IISN"))
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_lint_has_a_bad_and_a_good_fixture() {
    let dirs: BTreeMap<String, PathBuf> = lint_dirs().into_iter().collect();
    for lint in codes::ALL {
        let dir = dirs
            .get(lint.code)
            .unwrap_or_else(|| panic!("no fixture folder tests/fixtures/check/{}", lint.code));
        assert!(dir.join("bad").is_dir(), "{}: no bad/", lint.code);
        assert!(dir.join("good").is_dir(), "{}: no good/", lint.code);
    }
    for name in dirs.keys() {
        assert!(codes::find(name).is_some(), "fixture {name} names no lint");
    }
}

#[test]
fn lint_fixtures() {
    let mut failures = Vec::new();
    for (code, dir) in lint_dirs() {
        for kind in ["bad", "good"] {
            let case = dir.join(kind);
            let base = fs::canonicalize(&case).expect("case folder");
            let checked = check_case(&case);
            let want = expected(&case);
            let got = found(&checked, &base, Some(&code));
            if kind == "bad" && !want.iter().any(|(c, _)| *c == code) {
                failures.push(format!("{code}/bad expects no {code}"));
            }
            if kind == "good" && !want.is_empty() {
                failures.push(format!("{code}/good expects diagnostics: {want:?}"));
            }
            if got != want {
                failures.push(format!(
                    "{code}/{kind}:\n  expected {want:?}\n  found    {got:?}\n{}",
                    human(check_case(&case), &base)
                ));
            }
            for d in &checked.diagnostics {
                if !d.lint.code.starts_with("IISN5")
                    && !d.lint.code.starts_with("IISN6")
                    && !d.lint.code.starts_with("IISN7")
                {
                    continue;
                }
                let m = &d.message;
                let starts_lower = m
                    .chars()
                    .next()
                    .is_some_and(|c| !c.is_uppercase() || m.starts_with("IIS"));
                let help_ok = d.help.as_ref().is_some_and(|h| {
                    h.ends_with('.') && h.chars().next().is_some_and(char::is_uppercase)
                });
                if m.ends_with('.') || !starts_lower || !help_ok {
                    failures.push(format!(
                        "{code}/{kind}: style of {}: {m:?} / {:?}",
                        d.lint.code, d.help
                    ));
                }
            }
            let json =
                serde_json::to_value(render::json_report(std::slice::from_ref(&checked), &base))
                    .expect("json");
            let text = human(checked, &base);
            settings().bind(|| {
                insta::assert_snapshot!(format!("{code}-{kind}"), text);
                if kind == "bad" {
                    insta::assert_json_snapshot!(format!("{code}-{kind}-json"), json);
                }
            });
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The shapes of real-world web.configs (iis-webconfig.md §5): no errors, and exactly the
/// warnings their `expect:` markers name.
#[test]
fn real_world_configs_give_no_errors() {
    let root = fixtures().join("realworld");
    let mut sites: Vec<PathBuf> = fs::read_dir(&root)
        .expect("realworld fixtures")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sites.sort();
    assert!(sites.len() >= 10, "{sites:?}");
    let mut failures = Vec::new();
    for site in sites {
        let name = site
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = fs::canonicalize(&site).expect("site folder");
        let checked = check_case(&site);
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        if !errors.is_empty() {
            failures.push(format!("{name}: errors {errors:?}"));
        }
        let want = expected(&site);
        let got = found(&checked, &base, None);
        if got != want {
            failures.push(format!("{name}:\n  expected {want:?}\n  found    {got:?}"));
        }
        let text = human(checked, &base);
        settings().bind(|| insta::assert_snapshot!(format!("realworld-{name}"), text));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
