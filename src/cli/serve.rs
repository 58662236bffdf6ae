//! `iisn serve`: run the site in the foreground with live logs.

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::Error;
use crate::cli::Ui;
use crate::config::{LoadOptions, load_site};
use crate::diag::{Severity, Summary, render};
use crate::serve::server_vars::AuthEmulation;
use crate::serve::{ServeOptions, term::TermOptions};
use crate::ui::Stream;

pub const AFTER_HELP: &str = "\
Examples:
  iisn serve examples/hello            run the example site on http://127.0.0.1:8080
  iisn serve . --port 0                any free port (printed in the ready line)
  iisn serve . --auth-user 'CORP\\alice' develop code that reads x-iisnode-auth_user
  iisn serve . --log-format json | jq 'select(.stream == \"stderr\")'
  iisn serve . --trace=/api            how IIS decided each request for /api... (as iisn route)

Workers listen on a Unix socket given in process.env.PORT, as under iisnode (a named pipe
on Windows): pass it to listen() as it is. Ctrl-C stops gracefully; press it twice to stop
at once. SIGTERM and SIGHUP stop gracefully too.

--host other than a loopback address (127.0.0.1, ::1, localhost) makes the site reachable
from other machines, with iisnode's debugger URLs and devErrorsEnabled pages: iisn warns.

Exit codes:
  2    usage error, or a missing or unreadable site folder
  3    could not start (port taken, no socket directory)
  130  stopped by Ctrl-C (SIGINT); 143 by SIGTERM; 129 by SIGHUP (128 + the signal)";

const NETWORK: &str = "Network";
const WORKERS: &str = "Workers";
const LOGGING: &str = "Logging";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Coloured lines prefixed with the application and worker.
    #[default]
    Text,
    /// One JSON object per line: time, app, worker, pid, stream, text.
    Json,
}

/// `iisn __guard DIR` (hidden): the guardian of a run of `iisn serve`, see
/// [`crate::serve::job::Guardian`].
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// The run's private directory.
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The site folder (the one holding the root web.config).
    #[arg(default_value = ".", value_name = "SITE")]
    pub site: PathBuf,

    /// Address to listen on: an IP address or `localhost`. The default keeps the site
    /// private to this machine; any other than a loopback address exposes it (iisn warns).
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_host, help_heading = NETWORK, env = "IISN_HOST")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, short = 'p', default_value_t = 8080, help_heading = NETWORK, env = "IISN_PORT")]
    pub port: u16,
    /// Emulate IIS Windows authentication: AUTH_USER, LOGON_USER and REMOTE_USER become this
    /// user (e.g. 'CORP\alice') for promoteServerVars.
    #[arg(long, value_name = "DOMAIN\\NAME", help_heading = NETWORK)]
    pub auth_user: Option<String>,
    /// Mount the site at a virtual path, as an IIS application below a site's root
    /// (e.g. --app-path /node, as iisnode's samples are installed): only URLs under it are
    /// served, node sees the full URL with the prefix, and a rewrite to `/x` is a server path
    /// (outside the application).
    #[arg(long, value_name = "/PREFIX", help_heading = NETWORK)]
    pub app_path: Option<String>,
    /// AUTH_TYPE reported with --auth-user.
    #[arg(long, default_value = "Negotiate", requires = "auth_user", help_heading = NETWORK)]
    pub auth_type: String,

    /// Start workers on the first request for their application, as iisnode does
    /// (by default they start at once, so start-up errors show immediately).
    #[arg(long, help_heading = WORKERS)]
    pub lazy: bool,
    /// Worker processes per application, overriding nodeProcessCountPerApplication.
    #[arg(long, value_name = "N", help_heading = WORKERS)]
    pub processes: Option<usize>,
    /// Load ES module entry points with import(). iisnode cannot: the site will still fail
    /// on IIS until its entry point is CommonJS.
    #[arg(long, help_heading = WORKERS)]
    pub esm: bool,

    /// Start every worker with node's inspector (--inspect=127.0.0.1:PORT, ports from each
    /// application's debuggerPortRange) and print each worker's DevTools address.
    #[arg(long, help_heading = WORKERS)]
    pub inspect: bool,

    /// Do not watch files: no recycling on watchedFiles changes, no configuration reloads.
    #[arg(long, help_heading = WORKERS)]
    pub no_watch: bool,

    /// Print how IIS decided each request (request filtering, every rewrite rule, handler
    /// mapping, default document), as `iisn route` does, with the worker and the final
    /// status; --trace=PATTERN only for URLs containing PATTERN.
    #[arg(long, value_name = "PATTERN", num_args = 0..=1, require_equals = true, default_missing_value = "", help_heading = LOGGING)]
    pub trace: Option<String>,

    /// Output format of the live log.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, help_heading = LOGGING)]
    pub log_format: LogFormat,
}

/// `--host`: an IP address (`[::1]` too, as in a URL), or `localhost`, which is 127.0.0.1
/// (not resolved: the default address, and what the ready line's URL shows).
fn parse_host(s: &str) -> Result<IpAddr, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse().map_err(|_| {
        format!("`{s}` is not an IP address (e.g. 127.0.0.1, ::1, 0.0.0.0) or `localhost`")
    })
}

/// What a non-loopback `--host` exposes to other machines, as a warning; `None` on a
/// loopback address. iisnode's debugger URLs answer anyone (any client can start the
/// inspector, or `?kill` the workers) and devErrorsEnabled pages show the stderr of the
/// workers to anyone; under IIS a site is usually behind a firewall and these are turned off.
fn exposure_warning(host: IpAddr, site: &crate::config::LoadedSite) -> Option<String> {
    use crate::config::schema::Attr;
    if host.is_loopback() {
        return None;
    }
    let apps: Vec<&crate::config::Application> = site
        .apps
        .iter()
        .filter(|a| a.config_error.is_none())
        .collect();
    let debugger: Vec<&str> = apps
        .iter()
        .filter(|a| a.settings.bool(Attr::DebuggingEnabled))
        .map(|a| a.script_rel.as_str())
        .collect();
    let dev_errors = apps.iter().any(|a| a.settings.bool(Attr::DevErrorsEnabled));
    let mut text = format!(
        "listening on {host}, not a loopback address: the site is reachable from other machines"
    );
    if !debugger.is_empty() {
        text.push_str(&format!(
            ", including iisnode's debugger URLs ({}: anyone can start node's inspector or kill the workers)",
            debugger
                .iter()
                .map(|s| format!("/{s}/debug/"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if dev_errors {
        text.push_str(", and devErrorsEnabled pages that show the workers' stderr");
    }
    text.push_str(
        "; use --host 127.0.0.1 (the default) unless others must reach it, and then set \
         debuggingEnabled=\"false\" and devErrorsEnabled=\"false\" in <iisnode>",
    );
    Some(text)
}

pub fn run(args: &ServeArgs, ui: &Ui, color_choice: crate::ui::ColorChoice) -> Result<(), Error> {
    let load = LoadOptions::from_process();
    let site = load_site(&args.site, &load)?;
    let base = std::env::current_dir().unwrap_or_default();
    // The same loaders and lints as `iisn check`, so the two commands never disagree.
    let diagnostics = crate::check::all(&site);
    let mut shown = 0;
    for d in &diagnostics {
        let show = match d.severity {
            Severity::Error => true,
            Severity::Warning => !ui.quiet,
            Severity::Info => ui.verbose > 0,
        };
        if show {
            eprintln!("{}", render::human(d, &site.sources, &base, &ui.err));
            shown += 1;
        }
    }
    if shown > 0 {
        eprintln!(
            "{}",
            render::summary_line(&Summary::of(&diagnostics), &ui.err)
        );
    }
    if site.sources.files().next().is_none() {
        // `iisn check` says "nothing was checked" here (IISN0005); serve would otherwise
        // start in silence and answer 404 or 403.14 for a folder that is not the site.
        if !ui.quiet {
            eprintln!(
                "{} no web.config in {} or its sub-folders: it is served as IIS serves a folder without one (static files only, node never runs); pass the folder that holds the site's web.config",
                ui.err.warning.apply_to("warning:"),
                site.root.display()
            );
        }
    } else if site.apps.is_empty()
        && site.wildcard_handlers.is_empty()
        && !diagnostics
            .iter()
            .any(|d| matches!(d.code(), "IISN6001" | "IISN6025"))
    {
        eprintln!(
            "{} no web.config in {} maps a script to iisnode; add <handlers><add name=\"iisnode\" path=\"server.js\" verb=\"*\" modules=\"iisnode\"/></handlers>",
            ui.err.warning.apply_to("warning:"),
            site.root.display()
        );
    }
    // Printed even with -q: it is about who can reach the machine, not the configuration.
    if let Some(text) = exposure_warning(args.host, &site) {
        eprintln!("{} {text}", ui.err.warning.apply_to("warning:"));
    }
    let json = args.log_format == LogFormat::Json;
    if let Some(pattern) = &args.trace {
        crate::serve::live_trace::enable(pattern);
    }
    let opts = ServeOptions {
        host: args.host,
        port: args.port,
        lazy: args.lazy,
        esm: args.esm,
        processes: args.processes.filter(|n| *n > 0),
        auth: args.auth_user.as_ref().map(|u| AuthEmulation {
            user: u.clone(),
            auth_type: args.auth_type.clone(),
        }),
        term: TermOptions {
            color: !json && color_choice.enabled(Stream::Stdout),
            json,
            quiet: ui.quiet,
            verbose: ui.verbose,
            spinner: !json && std::io::stdout().is_terminal(),
            label_width: site
                .apps
                .iter()
                .filter(|a| !a.from_wildcard)
                .map(|a| a.script_rel.len() + 3)
                .max()
                .unwrap_or(8),
        },
        load,
        site_path: args.site.clone(),
        watch: !args.no_watch,
        stdin_commands: std::io::stdin().is_terminal(),
        err_color: color_choice.enabled(Stream::Stderr),
        app_path: args.app_path.clone(),
        inspect: args.inspect,
    };
    crate::serve::run(site, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ip_addresses_or_localhost() {
        let v4 = |s: &str| parse_host(s).map(|ip| ip.to_string());
        assert_eq!(v4("localhost").as_deref(), Ok("127.0.0.1"));
        assert_eq!(v4("LocalHost").as_deref(), Ok("127.0.0.1"));
        assert_eq!(v4("::1").as_deref(), Ok("::1"));
        assert_eq!(v4("[::1]").as_deref(), Ok("::1"));
        assert_eq!(v4("0.0.0.0").as_deref(), Ok("0.0.0.0"));
        assert!(parse_host("example.com").is_err());
        assert!(parse_host("").is_err());
    }
}
