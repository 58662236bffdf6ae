//! The `iisn` binary: parse the command line, run, turn the result into an exit code.

use clap::{CommandFactory, FromArgMatches};

// `iisn serve` allocates on every request (hyper's buffers and header maps on both sides),
// and glibc's allocator spent about 12% of the proxy's CPU time under load (bench/README.md,
// "Profiling"); mimalloc's per-thread free lists suit the one-runtime-per-core front.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut cmd = iisn::cli::Cli::command();
    // clap prints help and usage errors before `--color` is parsed, so the flag is looked up
    // first: an explicit `--color never` wins over the environment there too (peers.md §4.3).
    if let Some(choice) = color_flag(std::env::args_os().skip(1)) {
        cmd = cmd.color(choice);
    }
    let cli = iisn::cli::Cli::from_arg_matches(&cmd.get_matches_mut())
        .unwrap_or_else(|e| e.format(&mut cmd).exit());
    let styles = iisn::ui::Styles::new(cli.global.color.enabled(iisn::ui::Stream::Stderr));
    match iisn::cli::run(cli) {
        Ok(()) => std::process::exit(iisn::error::exit::OK),
        Err(e) if e.is_broken_pipe() => std::process::exit(iisn::error::exit::OK),
        Err(e) => {
            eprint!("{}", e.render(&styles));
            std::process::exit(e.exit_code());
        }
    }
}

/// The last `--color WHEN` or `--color=WHEN` before `--`, for clap's own output; a value
/// clap would reject is left to clap to report.
fn color_flag(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<clap::ColorChoice> {
    let mut args = args.into_iter();
    let mut found = None;
    while let Some(arg) = args.next() {
        let value = match arg.to_str() {
            Some("--") => break,
            Some("--color") => args.next(),
            Some(a) => match a.strip_prefix("--color=") {
                Some(v) => Some(v.into()),
                None => continue,
            },
            None => continue,
        };
        found = match value.as_ref().and_then(|v| v.to_str()) {
            Some("always") => Some(clap::ColorChoice::Always),
            Some("never") => Some(clap::ColorChoice::Never),
            Some("auto") => Some(clap::ColorChoice::Auto),
            _ => found,
        };
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(args: &[&str]) -> Option<clap::ColorChoice> {
        color_flag(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn color_flag_is_found_in_both_spellings_and_the_last_wins() {
        assert_eq!(
            flag(&["--color", "never", "--help"]),
            Some(clap::ColorChoice::Never)
        );
        assert_eq!(
            flag(&["check", "--color=always"]),
            Some(clap::ColorChoice::Always)
        );
        assert_eq!(
            flag(&["--color=always", "--color", "never"]),
            Some(clap::ColorChoice::Never)
        );
        assert_eq!(flag(&["--color", "blue"]), None);
        assert_eq!(flag(&["--", "--color", "never"]), None);
        assert_eq!(flag(&["check"]), None);
    }
}
