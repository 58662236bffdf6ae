//! `iisn check`: validate sites and configuration files, for people and for CI.
//!
//! Each path is checked on its own (a folder is a whole site; see
//! [`crate::check::check_path`]); a path that cannot be read is reported and the others are
//! still checked. Diagnostics go to stdout in the chosen format; problems with the command
//! itself (a missing path) go to stderr. Exit codes: 0 clean (warnings allowed), 1 errors
//! (or warnings with `--deny-warnings`), 2 a usage error or an unreadable path.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::Error;
use crate::check::{self, Checked, render};
use crate::cli::Ui;
use crate::config::LoadOptions;
use crate::diag::codes;

pub const AFTER_HELP: &str = "\
Examples:
  iisn check                               the site in the current folder
  iisn check site/ other/web.config        several paths; each folder is a whole site
  iisn check --format github .             annotations for a GitHub Actions log
  iisn check --format sarif . > iisn.sarif for github/codeql-action/upload-sarif
  iisn check --explain IISN6005            what a code means and how to fix it

Output: human (default; errors and warnings, -v adds notes, -q only errors), json
(docs/check-json.md), sarif (SARIF 2.1.0), github (workflow commands).

Exit codes:
  0  no errors (warnings allowed unless --deny-warnings)
  1  errors found (or warnings, with --deny-warnings)
  2  usage error, or a missing or unreadable path

Every code is listed in docs/lints.md.";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// rustc-style: code, message, the source line with the span underlined, help.
    #[default]
    Human,
    /// One JSON document (docs/check-json.md).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// GitHub Actions workflow commands (::error file=...,line=...::message).
    Github,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Site folders (every web.config and iisnode.yml under them, the hierarchy applied),
    /// web.config files, or iisnode.yml files.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Print the explanation of a diagnostic code (IISN6005, 6005 or its name, regex-syntax) and
    /// exit.
    #[arg(long, value_name = "CODE", conflicts_with_all = ["paths", "explain_all_markdown"])]
    pub explain: Option<String>,
    /// Print docs/lints.md (every lint and its explanation) and exit.
    #[arg(long, hide = true)]
    pub explain_all_markdown: bool,
}

pub fn run(args: &CheckArgs, ui: &Ui) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    if args.explain_all_markdown {
        stdout
            .write_all(render::lints_markdown().as_bytes())
            .map_err(Error::Output)?;
        return Ok(());
    }
    if let Some(code) = &args.explain {
        let Some(lint) = explained(code) else {
            return Err(Error::Usage {
                message: format!("no diagnostic has the code `{code}`"),
                hint: Some(
                    "codes look like IISN6005 (or its name, regex-syntax); docs/lints.md lists them all"
                        .into(),
                ),
            });
        };
        stdout
            .write_all(render::explain(lint, &ui.out).as_bytes())
            .map_err(Error::Output)?;
        return Ok(());
    }

    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let opts = LoadOptions::from_process();
    let mut checked: Vec<Checked> = Vec::new();
    let mut unreadable = 0usize;
    let mut path_errors = String::new();
    // The same file or folder named twice (`site site/`, a link to it) is checked once.
    let mut seen = std::collections::HashSet::new();
    for p in &paths {
        if let Ok(real) = std::fs::canonicalize(p)
            && !seen.insert(real)
        {
            continue;
        }
        match check::check_path(p, &opts) {
            Ok(c) => checked.push(c),
            Err(e) => {
                unreadable += 1;
                if args.format == Format::Github {
                    path_errors.push_str(&render::github_path_error(&e.to_string()));
                }
                let mut msg = format!("{} {e}\n", ui.err.error.apply_to("error:"));
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(&format!("  caused by: {s}\n"));
                    source = s.source();
                }
                if let check::CheckPathError::NotConfig { path } = &e {
                    let folder = path
                        .parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or(std::path::Path::new("."));
                    msg.push_str(&format!(
                        "  {} give its site's folder (iisn check {}), which checks the scripts its web.config maps too, or a web.config or iisnode.yml\n",
                        ui.err.help.apply_to("help:"),
                        crate::cli::init::display_dir(folder)
                    ));
                }
                eprint!("{msg}");
            }
        }
    }
    drop_files_checked_with_their_folder(&mut checked);
    let base = std::env::current_dir().unwrap_or_default();
    let filter = render::Filter {
        quiet: ui.quiet,
        verbose: ui.verbose > 0,
        deny_warnings: args.deny_warnings,
    };
    let text = match args.format {
        Format::Human => render::human_report(&checked, &base, &ui.out, filter),
        Format::Github => render::github_report(&checked, &base, filter) + &path_errors,
        Format::Json => json_text(&render::json_report(&checked, &base))?,
        Format::Sarif => json_text(&render::sarif_report(&checked, &base))?,
    };
    stdout.write_all(text.as_bytes()).map_err(Error::Output)?;
    stdout.flush().map_err(Error::Output)?;
    if unreadable > 0 {
        return Err(Error::Usage {
            message: format!(
                "{} could not be checked",
                crate::ui::plural(unreadable, "path", "paths")
            ),
            hint: None,
        });
    }
    if check::fails(
        checked.iter().flat_map(|c| c.diagnostics.iter()),
        args.deny_warnings,
    ) {
        return Err(Error::ConfigErrors);
    }
    Ok(())
}

/// The lint `--explain` names: by code (`IISN6005`, any case), by its number alone (`6005`,
/// as the code is often quoted), or by its name (`regex-syntax`, as JSON and SARIF give it).
fn explained(arg: &str) -> Option<&'static codes::Lint> {
    let arg = arg.trim();
    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) {
        return codes::find(&format!("IISN{arg}"));
    }
    codes::find(arg).or_else(|| {
        codes::ALL
            .iter()
            .copied()
            .find(|l| l.name.eq_ignore_ascii_case(arg))
    })
}

/// Drops a file given on the command line when a folder also given already checked it
/// (`iisn check site site/web.config`): its diagnostics would be reported, and the file
/// counted, twice.
fn drop_files_checked_with_their_folder(checked: &mut Vec<Checked>) {
    let in_folders: std::collections::HashSet<PathBuf> = checked
        .iter()
        .filter(|c| c.input.is_dir())
        .flat_map(|c| c.site.sources.files().map(|(_, f)| f.path().to_path_buf()))
        .collect();
    checked.retain(|c| {
        c.input.is_dir()
            || !std::fs::canonicalize(&c.input).is_ok_and(|real| in_folders.contains(&real))
    });
}

fn json_text<T: serde::Serialize>(doc: &T) -> Result<String, Error> {
    let mut s = serde_json::to_string_pretty(doc).map_err(|e| Error::Output(e.into()))?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_takes_a_code_its_number_or_its_name() {
        let code = |a: &str| explained(a).map(|l| l.code);
        assert_eq!(code("IISN6006"), Some("IISN6006"));
        assert_eq!(code(" iisn6006 "), Some("IISN6006"));
        assert_eq!(code("6006"), Some("IISN6006"));
        assert_eq!(code("regex-syntax"), Some("IISN6006"));
        assert_eq!(code("9999"), None);
        assert_eq!(code(""), None);
        assert_eq!(code("no-such-lint"), None);
    }
}
