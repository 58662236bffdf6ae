//! Diagnostics: one model, several renderers.
//!
//! Every problem iisn finds in a configuration becomes a [`Diagnostic`] with a stable code
//! (see [`codes`]), a severity, a message, the span it points at, and a help line saying how
//! to fix it. Loaders never print and never fail on a bad value: they return diagnostics next
//! to the data they could read (taplo's model), and the commands decide how to render them.

pub mod codes;
pub mod render;

use crate::config::source::{SourceMap, Span};
pub use codes::Lint;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A secondary location, such as "first defined here".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem, with its location and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub lint: &'static Lint,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is. `None` for problems with no file position (an environment
    /// variable, a missing directory); the message then names the source.
    pub primary: Option<Span>,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    pub note: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with the lint's default severity.
    pub fn new(lint: &'static Lint, message: impl Into<String>) -> Self {
        Diagnostic {
            lint,
            severity: lint.severity,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
            note: None,
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.primary = Some(span);
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn code(&self) -> &'static str {
        self.lint.code
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sort diagnostics by file, position, then code, so output is stable.
pub fn sort(diags: &mut [Diagnostic], sources: &SourceMap) {
    diags.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            d.primary
                .map(|s| (sources.path(s.source).to_path_buf(), s.start, s.end))
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a.lint.code.cmp(b.lint.code))
            .then_with(|| a.message.cmp(&b.message))
    });
}

/// Counts by severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Summary {
    pub fn of<'a>(diags: impl IntoIterator<Item = &'a Diagnostic>) -> Self {
        let mut s = Summary::default();
        for d in diags {
            match d.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Info => s.infos += 1,
            }
        }
        s
    }
}
