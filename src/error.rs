//! The user-facing error type and the exit codes, in one place.
//!
//! | code | meaning                                                        |
//! |------|----------------------------------------------------------------|
//! | 0    | success                                                        |
//! | 1    | the configuration has errors (`iisn config`, later `iisn check`) |
//! | 2    | usage error, or a path that is missing or unreadable           |
//! | 3    | `iisn serve` could not start (port taken, no socket directory)  |

use std::path::PathBuf;

use crate::config::LoadSiteError;
use crate::ui::Styles;

/// Exit codes, documented in `--help` and the README.
pub mod exit {
    pub const OK: i32 = 0;
    pub const CONFIG_ERRORS: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const SERVE_FAILED: i32 = 3;
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
        }
    }

    /// Whether the error is a closed stdout (`iisn config | head`): exit quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The message for stderr: `error: ...`, the cause chain, and what to do next.
    pub fn render(&self, st: &Styles) -> String {
        if matches!(self, Error::ConfigErrors) {
            return String::new();
        }
        let mut out = format!("{} {self}\n", st.error.apply_to("error:"));
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            out.push_str(&format!("  caused by: {s}\n"));
            source = s.source();
        }
        let hint = match self {
            Error::LoadSite(LoadSiteError::NotFound { .. }) => Some(
                "pass the folder that holds the site's web.config, e.g. `iisn config examples/hello`",
            ),
            Error::Usage { hint, .. } | Error::ServeStart { hint, .. } => hint.as_deref(),
            _ => None,
        };
        if let Some(h) = hint {
            out.push_str(&format!("  {} {h}\n", st.help.apply_to("help:")));
        }
        out
    }
}
