//! `iisn init`: write a new site from an embedded template, then say how to run it.
//!
//! Synchronous and small: [`crate::init::plan`] decides everything (and refuses when files
//! are in the way), this module prints the plan and, unless `--dry-run`, applies it. The
//! plan and the next commands go to stdout; a refusal goes to stderr with exit code 2 and
//! nothing written.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use clap::builder::PossibleValuesParser;

use crate::Error;
use crate::cli::Ui;
use crate::init::{
    self, FileAction, InitError, InitPlan, Obstacle, PlannedFile, TEMPLATES, templates,
};

pub const AFTER_HELP: &str = "\
Examples:
  iisn init --list                         the templates, with a line about each
  iisn init my-site                        the hello template in ./my-site
  iisn init api --template express         express with Azure's Kudu-style web.config
  iisn init shop --template subdir         an app for `iisn serve shop --app-path /shop`
  iisn init . --dry-run                    show what would be written, write nothing

Existing files are never overwritten unless --force is given; a folder in the way is never
removed. The templates are the folders under templates/ in iisn's repository.";

/// The port `iisn serve` listens on by default, for the URL printed after writing.
const SERVE_DEFAULT_PORT: u16 = 8080;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to create the site in (created if missing).
    #[arg(default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// The template to start from (`--list` describes them).
    #[arg(
        long,
        short,
        default_value = init::DEFAULT_TEMPLATE,
        value_name = "NAME",
        value_parser = PossibleValuesParser::new(templates::names()),
    )]
    pub template: String,
    /// The site's name, used in package.json, page titles and the subdir template's virtual
    /// path (default: the folder's name). Lowercase letters, digits, `-`, `_` and `.`.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// List the templates and exit.
    #[arg(long, conflicts_with_all = ["template", "name", "force", "dry_run"])]
    pub list: bool,
    /// Replace files that already exist (each is named in the output).
    #[arg(long)]
    pub force: bool,
    /// Print what would be written and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: &InitArgs, ui: &Ui) -> Result<(), Error> {
    let mut out = String::new();
    if args.list {
        list(&mut out, ui);
        return print(&out);
    }
    let template = templates::find(&args.template).ok_or_else(|| Error::Usage {
        // clap's possible values make this unreachable from the command line.
        message: format!("no template is called `{}`", args.template),
        hint: Some("`iisn init --list` shows the templates".into()),
    })?;
    let mut fallback = false;
    let name = match &args.name {
        Some(n) => {
            init::validate_name(n).map_err(|why| Error::Usage {
                message: format!("invalid --name `{n}`: {why}"),
                hint: Some(
                    "use lowercase letters, digits, `-`, `_` and `.` (npm's package name rules), e.g. --name my-site"
                        .into(),
                ),
            })?;
            n.clone()
        }
        None => match init::derived_name(&args.dir) {
            Some(n) => n,
            None => {
                fallback = true;
                init::FALLBACK_NAME.to_string()
            }
        },
    };
    // Said with the name, so that `iisn-site` in package.json is not a surprise.
    let name_note = if fallback {
        format!(
            "name: {name}, as the folder's name has no letter npm allows in a name; --name sets another"
        )
    } else {
        format!("name: {name}")
    };
    let plan = init::plan(template, &args.dir, &name, args.force)
        .map_err(|e| init_error(e, &args.dir, template.name))?;

    let shown = display_dir(&args.dir);
    let st = &ui.out;
    if args.dry_run {
        let _ = writeln!(
            out,
            "{} would write the {} template to {} ({name_note})",
            st.bold.apply_to("dry run:"),
            template.name,
            st.path.apply_to(&shown)
        );
    } else {
        let _ = writeln!(
            out,
            "Writing the {} template to {} ({name_note})",
            template.name,
            st.path.apply_to(&shown)
        );
    }
    for f in &plan.files {
        let verb = match (f.action, args.dry_run) {
            (FileAction::Create, false) => st.good.apply_to("create ").to_string(),
            (FileAction::Create, true) => st.good.apply_to("would create ").to_string(),
            (FileAction::Replace, false) => st.warning.apply_to("replace").to_string(),
            (FileAction::Replace, true) => st.warning.apply_to("would replace").to_string(),
        };
        let _ = writeln!(out, "  {verb}  {}", shown_rel(f));
    }

    if args.dry_run {
        let _ = writeln!(out, "\nNothing was written (--dry-run).");
        if !ui.quiet {
            print(&out)?;
        }
        return Ok(());
    }

    plan.apply()
        .map_err(|e| init_error(e, &args.dir, template.name))?;

    let replaced: Vec<String> = plan.replaced().map(shown_rel).collect();
    if !replaced.is_empty() {
        let _ = writeln!(
            out,
            "\n{} replaced {} that existed (--force): {}",
            st.warning.apply_to("note:"),
            crate::ui::plural(replaced.len(), "file", "files"),
            replaced.join(", ")
        );
    }
    next_steps(&mut out, &plan, &shown, ui);
    if ui.quiet {
        return Ok(());
    }
    print(&out)
}

/// The file's path, plus the name it replaces when that differs in case
/// (`web.config (was Web.config)`).
fn shown_rel(f: &PlannedFile) -> String {
    let was = f
        .existing
        .as_deref()
        .filter(|e| *e != f.target)
        .and_then(Path::file_name);
    match was {
        Some(name) => format!("{} (was {})", f.rel, name.to_string_lossy()),
        None => f.rel.to_string(),
    }
}

/// `iisn init --list`: name, `(default)`, one line each.
fn list(out: &mut String, ui: &Ui) {
    let width = TEMPLATES.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in TEMPLATES {
        let default = if t.name == init::DEFAULT_TEMPLATE {
            " (default)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{}  {}{}",
            ui.out.bold.apply_to(format!("{:width$}", t.name)),
            t.summary,
            default
        );
    }
}

/// The commands to run next: `npm install` where there are dependencies, `iisn serve`, the URL.
fn next_steps(out: &mut String, plan: &InitPlan, shown: &str, ui: &Ui) {
    let st = &ui.out;
    let _ = writeln!(out, "\n{}", st.bold.apply_to("Next:"));
    if plan.template.needs_npm() {
        if shown == "." {
            let _ = writeln!(out, "  npm install");
        } else {
            let _ = writeln!(out, "  npm install --prefix {shown}");
        }
    }
    let _ = writeln!(out, "  iisn check {shown}");
    match plan.app_path() {
        Some(p) => {
            let _ = writeln!(out, "  iisn serve {shown} --app-path {p}");
        }
        None => {
            let _ = writeln!(out, "  iisn serve {shown}");
        }
    }
    let _ = writeln!(
        out,
        "  then open {}",
        st.accent.apply_to(format!(
            "http://127.0.0.1:{SERVE_DEFAULT_PORT}{}",
            plan.open_path()
        ))
    );
}

/// Turns a refusal or a write failure into the user-facing error.
fn init_error(e: InitError, dir: &Path, template: &str) -> Error {
    match e {
        InitError::DestNotFolder(path) => Error::Usage {
            message: format!("{} exists and is not a folder", path.display()),
            hint: Some("give `iisn init` a new or existing folder".into()),
        },
        InitError::Blocked { blocked, .. } => {
            let shown = display_dir(dir);
            let mut message = format!(
                "{} of the {template} template {} in the way in {shown}; nothing was written",
                crate::ui::plural(blocked.len(), "file", "files"),
                if blocked.len() == 1 { "is" } else { "are" }
            );
            let width = blocked.iter().map(|b| b.rel.len()).max().unwrap_or(0);
            for b in &blocked {
                let why = match &b.obstacle {
                    Obstacle::Exists => "exists".to_string(),
                    Obstacle::ExistsAs(other) => {
                        format!("exists as {other} (the same file on Windows)")
                    }
                    Obstacle::Folder => {
                        "is a folder (never removed, even with --force)".to_string()
                    }
                    Obstacle::ParentNotFolder(p) => {
                        format!("needs the folder {p}, which is a file (never removed)")
                    }
                };
                let _ = write!(message, "\n  {:width$}  {why}", b.rel);
            }
            let hint = if blocked.iter().all(|b| b.force_clears()) {
                "pass --force to replace these files (with --dry-run: see what it would write), or choose another folder"
            } else {
                "move what is in the way, or choose another folder"
            };
            Error::Usage {
                message,
                hint: Some(hint.into()),
            }
        }
        InitError::Inspect { path, source } => Error::Path {
            what: "cannot read",
            path,
            source,
        },
        InitError::Write {
            path,
            written,
            source,
        } => {
            // Exit code 2, like any path iisn cannot read or write.
            let hint = if written.is_empty() {
                "nothing was written; check the folder's permissions and free space".to_string()
            } else {
                format!(
                    "written before the failure: {}; run again with --force once the cause is fixed",
                    written.join(", ")
                )
            };
            Error::Usage {
                message: format!("cannot write {}: {source}", path.display()),
                hint: Some(hint),
            }
        }
    }
}

/// The folder as the user wrote it, quoted for a POSIX shell when it needs to be.
pub(crate) fn display_dir(dir: &Path) -> String {
    let s = dir.to_string_lossy();
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_' | '+' | ',' | ':' | '@')
        })
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn print(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).map_err(Error::Output)?;
    stdout.flush().map_err(Error::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(display_dir(Path::new("my-site")), "my-site");
        assert_eq!(display_dir(Path::new("./a/b")), "./a/b");
        assert_eq!(display_dir(Path::new("my site")), "'my site'");
        assert_eq!(display_dir(Path::new("it's")), r"'it'\''s'");
    }
}
