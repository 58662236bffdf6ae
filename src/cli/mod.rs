//! The command line: clap definitions and one `run` per command.
//!
//! `main.rs` parses [`Cli`] and calls [`run`]; each command module turns its `*Args` into
//! work and returns an [`Error`] for the exit code.

pub mod check;
pub mod completions;
pub mod config;
pub mod init;
pub mod route;
pub mod serve;

use clap::{Args, Parser, Subcommand};

use crate::Error;
use crate::ui::{ColorChoice, Stream, Styles};

const AFTER_HELP: &str = "\
Examples:
  iisn serve examples/hello           run the example site on http://127.0.0.1:8080
  iisn config examples/hello          show the effective iisnode settings and where each came from
  iisn config . --format json         the same as JSON, for scripts
  iisn check .                        validate web.config and iisnode.yml (exit 1 on errors)
  iisn init my-site                   a new site from a template (iisn init --list shows them)
  iisn route examples/kudu / /x.html  what IIS does with each URL, step by step

Exit codes:
  0    success
  1    the configuration has errors (iisn check prints them on stdout, the others on stderr)
  2    usage error, or a missing or unreadable path
  3    iisn serve could not start (port taken, no socket directory)
  130  iisn serve stopped by Ctrl-C (143 SIGTERM, 129 SIGHUP: 128 + the signal)

Documentation: README.md, docs/config-json.md";

/// Run an iisnode site on your own machine: web.config, iisnode.yml, node workers.
#[derive(Debug, Parser)]
#[command(name = "iisn", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// When to use colours: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: notes about sections iisn does not emulate, and other details; -vv also
    /// iisn's own debug log on stderr (IISN_LOG picks what, e.g. IISN_LOG=iisn::serve=trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show each application's effective iisnode settings and where each value came from.
    #[command(after_help = config::AFTER_HELP)]
    Config(config::ConfigArgs),
    /// Validate web.config and iisnode.yml files: file:line:column diagnostics for people and CI.
    #[command(after_help = check::AFTER_HELP)]
    Check(check::CheckArgs),
    /// Run the site: node workers on Unix sockets, round robin, live logs.
    #[command(after_help = serve::AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// Create a new site from a template: web.config, iisnode.yml, node code, README.
    #[command(after_help = init::AFTER_HELP)]
    Init(init::InitArgs),
    /// Show what IIS would do with URLs, step by step (filtering, rewrite rules, handlers).
    #[command(after_help = route::AFTER_HELP)]
    Route(route::RouteArgs),
    /// Print a completion script for bash, zsh, fish, PowerShell or Elvish.
    #[command(after_help = completions::COMPLETIONS_AFTER_HELP)]
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff), or write one per command with --out-dir.
    #[command(after_help = completions::MAN_AFTER_HELP)]
    Man(completions::ManArgs),
    /// Internal: `iisn serve`'s guardian, which kills what is left of a run once its iisn is
    /// gone (started by `iisn serve` itself).
    #[command(name = crate::serve::job::GUARD_COMMAND, hide = true)]
    Guard(serve::GuardArgs),
}

/// What every command needs to print.
pub struct Ui {
    pub out: Styles,
    pub err: Styles,
    pub quiet: bool,
    pub verbose: u8,
}

impl Ui {
    pub fn new(g: &GlobalArgs) -> Self {
        Ui {
            out: Styles::new(g.color.enabled(Stream::Stdout)),
            err: Styles::new(g.color.enabled(Stream::Stderr)),
            quiet: g.quiet,
            verbose: g.verbose,
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    let ui = Ui::new(&cli.global);
    crate::logging::init(cli.global.verbose, cli.global.color.enabled(Stream::Stderr));
    match cli.command {
        Command::Config(args) => {
            config::run(&args, &ui).map_err(|e| e.for_command("iisn config examples/hello"))
        }
        Command::Check(args) => check::run(&args, &ui),
        Command::Serve(args) => serve::run(&args, &ui, cli.global.color)
            .map_err(|e| e.for_command("iisn serve examples/hello")),
        Command::Init(args) => init::run(&args, &ui),
        Command::Route(args) => {
            route::run(&args, &ui).map_err(|e| e.for_command("iisn route examples/hello /hello.js"))
        }
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
        Command::Guard(args) => crate::serve::job::guard(&args.dir),
    }
}
