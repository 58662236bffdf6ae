//! Finding the programs a site runs (node, or whatever nodeProcessCommandLine names) on this
//! machine. Synchronous and free of the server's runtime, so that `iisn check` and
//! `iisn serve` resolve programs the same way.

use std::path::{Path, PathBuf};

/// The first directory of `path` (a `PATH` value) that holds an executable `program`.
pub fn find_on_path(path: Option<&str>, program: &str) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

/// A regular file this user may execute (on Unix, any execute bit; elsewhere, any file).
pub fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// A Windows-only path (`C:\...`, `\\server\...`).
pub fn is_windows_path(p: &str) -> bool {
    let b = p.as_bytes();
    (b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic()) || p.starts_with("\\\\")
}

/// `nodeProcessCommandLine` as iisn runs it: the program and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCommand {
    /// The program to run: `node` (looked up on `PATH`) or the program as written.
    pub program: String,
    /// The arguments after the program, split with Windows rules.
    pub args: Vec<String>,
    /// The Windows program that iisn replaced with `node` from `PATH`, when it did.
    pub substituted: Option<String>,
}

/// The file name of a Windows or Unix path.
fn file_name(p: &str) -> &str {
    p.rsplit(['\\', '/']).next().unwrap_or(p)
}

fn is_node_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("node.exe") || name.eq_ignore_ascii_case("node")
}

/// A program that can only mean a Windows location: a drive or UNC path, a path with `\`
/// separators, or one still holding a `%VAR%` this machine does not define
/// (`%programfiles%\nodejs\node.exe`).
fn is_windows_program(p: &str) -> bool {
    is_windows_path(p) || p.contains('\\') || p.contains('%')
}

/// Splits `nodeProcessCommandLine` (expanded) and maps node.exe to this machine.
///
/// iisnode hands the line to `CreateProcess`, so:
/// * a quoted program is taken as it is (`"%programfiles%\nodejs\node.exe" --harmony`);
/// * an unquoted one with spaces is resolved as CreateProcess does: each longer
///   space-separated prefix is tried in turn (`C:\Program` then `C:\Program Files\nodejs\node.exe`),
///   and the first naming node.exe is the program, the rest its arguments (Visual Studio's
///   Node.js Tools template writes `C:\Program Files\nodejs\node.exe` unquoted);
/// * `node.exe`, `node`, and any Windows path whose file is node.exe mean `node` from `PATH`
///   here, with every argument kept; `substituted` then names what was replaced.
///
/// `Err` says why the line cannot run here (an unbalanced quote, an empty line, a Windows
/// program that is not node).
pub fn node_command(line: &str) -> Result<NodeCommand, String> {
    use crate::serve::cmdline::split;
    let trimmed = line.trim_start_matches([' ', '\t']);
    let tokens =
        split(trimmed).map_err(|e| format!("nodeProcessCommandLine cannot be parsed: {e}"))?;
    let Some(first) = tokens.first().filter(|t| !t.is_empty()) else {
        return Err("nodeProcessCommandLine is empty".into());
    };
    let (program, args) = if !trimmed.starts_with('"') && is_windows_program(first) {
        // CreateProcess's search through the prefixes of an unquoted path with spaces.
        let bounds: Vec<usize> = trimmed
            .char_indices()
            .filter(|(i, c)| (*c == ' ' || *c == '\t') && *i > 0)
            .map(|(i, _)| i)
            .chain(std::iter::once(trimmed.len()))
            .collect();
        let found = bounds.iter().find_map(|&end| {
            let cand = &trimmed[..end];
            (is_node_name(file_name(cand)) && !cand.contains('"')).then_some(end)
        });
        match found {
            Some(end) if end > first.len() => {
                let rest = split(&format!("x {}", &trimmed[end..]))
                    .map_err(|e| format!("nodeProcessCommandLine cannot be parsed: {e}"))?;
                (trimmed[..end].to_string(), rest[1..].to_vec())
            }
            _ => (first.clone(), tokens[1..].to_vec()),
        }
    } else {
        (first.clone(), tokens[1..].to_vec())
    };
    if program.eq_ignore_ascii_case("node.exe") || program.eq_ignore_ascii_case("node") {
        return Ok(NodeCommand {
            program: "node".into(),
            args,
            substituted: None,
        });
    }
    if is_windows_program(&program) {
        if is_node_name(file_name(&program)) {
            return Ok(NodeCommand {
                program: "node".into(),
                args,
                substituted: Some(program),
            });
        }
        return Err(format!(
            "nodeProcessCommandLine starts with the Windows program `{program}`, which cannot run on this machine"
        ));
    }
    Ok(NodeCommand {
        program,
        args,
        substituted: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> (String, Vec<String>, Option<String>) {
        let c = node_command(line).expect("resolves");
        (c.program, c.args, c.substituted)
    }

    #[test]
    fn windows_node_paths_mean_node_from_path() {
        // iisnode's own sample web.config (quoted, %VAR% left unexpanded off Windows).
        let (p, a, s) = run(r#""%programfiles%\nodejs\node.exe" --harmony"#);
        assert_eq!((p.as_str(), a), ("node", vec!["--harmony".to_string()]));
        assert_eq!(s.as_deref(), Some(r"%programfiles%\nodejs\node.exe"));
        // Visual Studio's template: unquoted, with a space, resolved as CreateProcess does.
        let (p, a, s) = run(r"C:\Program Files\nodejs\node.exe --max-old-space-size=4096 x.js");
        assert_eq!(p, "node");
        assert_eq!(a, ["--max-old-space-size=4096", "x.js"]);
        assert_eq!(s.as_deref(), Some(r"C:\Program Files\nodejs\node.exe"));
        // After %VAR% expansion.
        let (p, _, s) = run(r#""C:\Program Files (x86)\nodejs\NODE.EXE""#);
        assert_eq!((p.as_str(), s.is_some()), ("node", true));
        let (p, a, s) = run(r"%NODE_HOME%\node.exe");
        assert_eq!((p.as_str(), a.len(), s.is_some()), ("node", 0, true));
        assert_eq!(run("node.exe --inspect").0, "node");
        assert_eq!(run("node.exe --inspect").2, None);
        assert_eq!(run("/usr/local/bin/node a").0, "/usr/local/bin/node");
        assert!(node_command(r"C:\tools\bun.exe x").is_err());
        assert!(node_command(r"C:\Program Files\other\run.exe x").is_err());
        assert!(node_command("   ").is_err());
        assert!(node_command(r#""C:\node.exe"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(line in r#"[a-zA-Z:%\\ ."]{0,40}"#) {
            let _ = node_command(&line);
        }
    }
}
