//! Terminal conventions: colour choice, styles, and small text helpers.
//!
//! Colour follows the usual order: `--color always|never` wins; otherwise `NO_COLOR`
//! (non-empty) turns colour off, `CLICOLOR_FORCE` (non-zero) turns it on, `TERM=dumb` turns
//! it off, and finally colour is on only when the stream is a terminal.

use std::io::IsTerminal;

use console::Style;

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Which stream a decision is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl ColorChoice {
    /// Whether to colour `stream`, given the environment.
    pub fn enabled(self, stream: Stream) -> bool {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                if var("NO_COLOR").is_some() {
                    return false;
                }
                if var("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
                    return true;
                }
                if std::env::var_os("TERM").is_some_and(|t| t == "dumb") {
                    return false;
                }
                match stream {
                    Stream::Stdout => std::io::stdout().is_terminal(),
                    Stream::Stderr => std::io::stderr().is_terminal(),
                }
            }
        }
    }
}

/// The styles iisn uses; all plain when colour is off.
#[derive(Clone, Debug)]
pub struct Styles {
    pub error: Style,
    pub warning: Style,
    pub info: Style,
    pub help: Style,
    pub bold: Style,
    pub dim: Style,
    pub path: Style,
    pub accent: Style,
    pub good: Style,
}

impl Styles {
    pub fn new(color: bool) -> Self {
        let s = |style: Style| style.force_styling(color);
        Styles {
            error: s(Style::new().red().bold()),
            warning: s(Style::new().yellow().bold()),
            info: s(Style::new().cyan().bold()),
            help: s(Style::new().green().bold()),
            bold: s(Style::new().bold()),
            dim: s(Style::new().dim()),
            path: s(Style::new().cyan()),
            accent: s(Style::new().blue().bold()),
            good: s(Style::new().green()),
        }
    }

    pub fn plain() -> Self {
        Styles::new(false)
    }
}

/// Text from a configuration file made safe for one terminal line: control characters
/// (`&#10;` or `&#13;` in a web.config attribute, an escape sequence) are written as escapes
/// (`\n`, `\r`, `\u{1b}`). A raw newline would start a line of its own, which GitHub
/// Actions reads as a workflow command (`::error ...`) when the human output is in its log.
/// Tabs stay.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `1 error`, `2 errors`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plural_forms() {
        assert_eq!(plural(1, "error", "errors"), "1 error");
        assert_eq!(plural(0, "error", "errors"), "0 errors");
    }

    #[test]
    fn printable_escapes_line_breaks_and_escape_sequences() {
        assert_eq!(printable("rule a\tb"), "rule a\tb");
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(
            printable("a\r\n::error file=x::y \u{1b}[31m"),
            "a\\r\\n::error file=x::y \\u{1b}[31m"
        );
    }

    #[test]
    fn plain_styles_add_no_escape_codes() {
        let s = Styles::plain();
        assert_eq!(s.error.apply_to("x").to_string(), "x");
        let c = Styles::new(true);
        assert_ne!(c.error.apply_to("x").to_string(), "x");
    }
}
