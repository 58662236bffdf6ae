//! `iisn completions SHELL` and `iisn man`: generated from the clap definitions.
//!
//! Both are derived from [`super::Cli`] at run time (clap_complete, clap_mangen), so they
//! can never list a subcommand or flag that does not exist, and there is no build script.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::Error;
use crate::cli::Cli;

pub const COMPLETIONS_AFTER_HELP: &str = "\
Examples:
  source <(iisn completions bash)                          bash, this session
  iisn completions zsh > \"${fpath[1]}/_iisn\"               zsh
  iisn completions fish > ~/.config/fish/completions/iisn.fish
  iisn completions powershell >> $PROFILE                   PowerShell";

pub const MAN_AFTER_HELP: &str = "\
Examples:
  iisn man | man -l -                 read it now
  iisn man --out-dir /usr/local/share/man/man1
                                      install iisn.1 and one page per subcommand";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write iisn.1 and one page per subcommand (iisn-serve.1, ...) into this folder instead
    /// of printing iisn.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The command tree the completion scripts describe: [`Cli`] without its hidden
/// subcommands. clap_complete lists a subcommand even when it is hidden, so `iisn <TAB>`
/// would offer `__guard`, which only `iisn serve` itself runs.
pub fn completion_command() -> clap::Command {
    let full = Cli::command();
    let mut cmd = clap::Command::new("iisn")
        .version(env!("CARGO_PKG_VERSION"))
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd
}

pub fn completions(args: &CompletionsArgs) -> Result<(), Error> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut completion_command(), "iisn", &mut buf);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&buf).map_err(Error::Output)?;
    stdout.flush().map_err(Error::Output)
}

pub fn man(args: &ManArgs) -> Result<(), Error> {
    let cmd = Cli::command();
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).map_err(|source| Error::Path {
            what: "cannot create the folder",
            path: dir.clone(),
            source,
        })?;
        return clap_mangen::generate_to(cmd, dir).map_err(|source| Error::Path {
            what: "cannot write man pages into",
            path: dir.clone(),
            source,
        });
    }
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(Error::Output)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&buf).map_err(Error::Output)?;
    stdout.flush().map_err(Error::Output)
}
