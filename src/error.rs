//! The user-facing error type and the exit codes, in one place.
//!
//! | code | meaning                                                        |
//! |------|----------------------------------------------------------------|
//! | 0    | success                                                        |
//! | 1    | the configuration has errors (`iisn config`, `iisn check`)     |
//! | 2    | usage error, or a path that is missing or unreadable           |
//! | 3    | `iisn serve` could not start (port taken, no socket directory)  |
//! | 128+n | `iisn serve` stopped gracefully after signal n: 130 SIGINT (Ctrl-C), 143 SIGTERM, 129 SIGHUP |

use std::path::PathBuf;

use crate::config::LoadSiteError;
use crate::ui::Styles;

/// Exit codes, documented in `--help` and the README.
pub mod exit {
    pub const OK: i32 = 0;
    pub const CONFIG_ERRORS: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const SERVE_FAILED: i32 = 3;
    /// Added to a signal's number after `iisn serve` stopped on it, as shells report it.
    pub const SIGNAL_BASE: i32 = 128;
}

/// A failure that ends a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    LoadSite(#[from] LoadSiteError),
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// The command ran, printed its findings, and they include errors.
    #[error("the configuration has errors")]
    ConfigErrors,
    /// `iisn serve` could not start (bind, socket directory, runtime).
    #[error("{message}")]
    ServeStart {
        message: String,
        hint: Option<String>,
    },
    /// `iisn serve` stopped gracefully on a signal. Not a failure, and nothing is printed,
    /// but the exit status is the signal-conventional 128 + its number (peers.md §4.2), so
    /// a script or service manager can tell a stop from a clean exit.
    #[error("stopped by signal {signal}")]
    Stopped { signal: i32 },
    #[error("{what}: {path}")]
    Path {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::ConfigErrors => exit::CONFIG_ERRORS,
            Error::LoadSite(_) | Error::Usage { .. } | Error::Path { .. } => exit::USAGE,
            Error::Output(_) => exit::USAGE,
            Error::ServeStart { .. } => exit::SERVE_FAILED,
            Error::Stopped { signal } => exit::SIGNAL_BASE + signal,
        }
    }

    /// The error as `command` reports it: a site folder that does not exist gets a hint with
    /// an example of that command (`iisn serve examples/hello`), not of another one.
    pub fn for_command(self, example: &str) -> Error {
        match self {
            Error::LoadSite(e @ LoadSiteError::NotFound { .. }) => Error::Usage {
                message: e.to_string(),
                hint: Some(format!(
                    "pass the folder that holds the site's web.config, e.g. `{example}`"
                )),
            },
            other => other,
        }
    }

    /// Whether the error is a closed stdout (`iisn config | head`): exit quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The message for stderr: `error: ...`, the cause chain, and what to do next.
    pub fn render(&self, st: &Styles) -> String {
        if matches!(self, Error::ConfigErrors | Error::Stopped { .. }) {
            return String::new();
        }
        let mut out = format!("{} {self}\n", st.error.apply_to("error:"));
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            out.push_str(&format!("  caused by: {s}\n"));
            source = s.source();
        }
        let hint = match self {
            // Commands add an example of themselves first (`for_command`).
            Error::LoadSite(LoadSiteError::NotFound { .. }) => {
                Some("pass the folder that holds the site's web.config")
            }
            Error::Usage { hint, .. } | Error::ServeStart { hint, .. } => hint.as_deref(),
            _ => None,
        };
        if let Some(h) = hint {
            out.push_str(&format!("  {} {h}\n", st.help.apply_to("help:")));
        }
        out
    }
}
