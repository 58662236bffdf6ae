//! `iisn completions SHELL` and `iisn man`: each generates, and names every subcommand.
//!
//! The subcommand list comes from the clap definition itself ([`iisn::cli::Cli::command`]),
//! not from a list in this file, so a subcommand added later is covered without touching
//! these tests. Where the tools exist, the output is also exercised for real: the bash
//! script is sourced and asked for completions, and the man pages go through `groff` with
//! warnings on.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use clap::CommandFactory;
use iisn::cli::Cli;

const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "powershell", "elvish"];

/// Every visible subcommand of `iisn` (clap's generated `help` excluded).
fn subcommands() -> Vec<String> {
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect();
    // The commands this round added must be among them (a sanity check on the derivation,
    // not the list being tested).
    for own in ["init", "completions", "man", "serve", "check"] {
        assert!(names.iter().any(|n| n == own), "{own} in {names:?}");
    }
    names
}

fn iisn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iisn"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run iisn")
}

fn stdout_of(args: &[&str]) -> String {
    let out = iisn(args);
    assert!(
        out.status.success(),
        "iisn {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// How each shell's script spells "the subcommand NAME".
fn marker(shell: &str, name: &str) -> String {
    match shell {
        "bash" => format!("iisn,{name})"),
        "zsh" => format!("\n'{name}:"),
        "fish" => format!("__fish_iisn_needs_command\" -f -a \"{name}\""),
        "powershell" => format!("'iisn;{name}'"),
        "elvish" => format!("&'iisn;{name}'="),
        _ => unreachable!("a shell this test knows"),
    }
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    let names = subcommands();
    for shell in SHELLS {
        let script = stdout_of(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: a real script");
        for name in &names {
            assert!(
                script.contains(&marker(shell, name)),
                "{shell} completion lacks the subcommand {name}"
            );
        }
        // The same bytes as clap_complete generates from the definition.
        let mut expected = Vec::new();
        let shell_enum: clap_complete::Shell = shell.parse().expect("shell name");
        clap_complete::generate(
            shell_enum,
            &mut iisn::cli::completions::completion_command(),
            "iisn",
            &mut expected,
        );
        assert_eq!(script.as_bytes(), expected.as_slice(), "{shell}");
    }
}

/// Hidden subcommands (`__guard`, which `iisn serve` starts itself) are not offered:
/// clap_complete would list them, so they are taken out of the tree it is given.
#[test]
fn no_shell_offers_a_hidden_subcommand() {
    let hidden: Vec<String> = Cli::command()
        .get_subcommands()
        .filter(|c| c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect();
    assert!(
        !hidden.is_empty(),
        "iisn has a hidden subcommand to test with"
    );
    for shell in SHELLS {
        let script = stdout_of(&["completions", shell]);
        for name in &hidden {
            assert!(
                !script.contains(name.as_str()),
                "{shell} completion offers the hidden subcommand {name}"
            );
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = iisn(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Sources the bash script and asks it what follows `iisn ` and `iisn init --template `.
#[test]
fn bash_completes_subcommands_and_template_names() {
    if !has("bash") {
        eprintln!("skipped: bash is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let script = tmp.path().join("iisn.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).expect("write");
    let complete = |words: &str, cword: usize| -> Vec<String> {
        let program = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _iisn iisn \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let top = complete("iisn ''", 1);
    for name in subcommands() {
        assert!(top.contains(&name), "`iisn <TAB>` offers {name}: {top:?}");
    }
    let templates = complete("iisn init --template ''", 3);
    let expected: Vec<String> = iisn::init::TEMPLATES
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(templates, expected);
}

#[test]
fn man_page_names_every_subcommand() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH iisn 1"), "{page}");
    for name in subcommands() {
        // roff escapes the hyphen: iisn\-serve(1).
        assert!(
            page.contains(&format!("iisn\\-{name}(1)")),
            "the man page lists {name}"
        );
    }
    groff_is_clean(&page);
}

#[test]
fn man_out_dir_writes_one_page_per_subcommand() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("man1");
    let out = iisn(&["man", "--out-dir", dir.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("iisn.1").is_file());
    for name in subcommands() {
        let page = read(&dir.join(format!("iisn-{name}.1")));
        assert!(page.contains(&format!(".TH iisn-{name} 1")), "{name}");
        groff_is_clean(&page);
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `groff -man -ww -z` reads the page with every warning on; it must say nothing.
fn groff_is_clean(page: &str) {
    if !has("groff") {
        eprintln!("skipped the groff check: groff is not installed");
        return;
    }
    let mut child = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("groff");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(page.as_bytes()).expect("write to groff");
    }
    let out = child.wait_with_output().expect("groff");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warnings");
}
