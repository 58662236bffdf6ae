//! iisn's own diagnostics log (not the site's logs): what the engine does, for people
//! debugging iisn or a site's start-up.
//!
//! Built on `tracing`: engine code marks what it does with `tracing::debug!` and
//! `tracing::trace!` (spawn command lines, connect attempts, pooled-connection reuse, watcher
//! events, reloads, recycles). Nothing is installed unless asked for, so those macros stay a
//! check of a global "no subscriber" flag: free on the hot path. Asked for with `-vv`
//! (`iisn=debug`), `-vvv` (`iisn=trace`) or `IISN_LOG`, an `EnvFilter` directive list
//! (`IISN_LOG=debug`, `IISN_LOG=iisn::serve::proxy=trace`), which wins over `-v`. The log
//! goes to stderr, so it never mixes with `--format json` or `--log-format json` on stdout.

use tracing_subscriber::EnvFilter;

/// The environment variable holding the filter directives.
pub const ENV: &str = "IISN_LOG";

/// The filter for the command line's verbosity and `IISN_LOG`, or `None` when logging is
/// off. An unusable `IISN_LOG` is reported and ignored.
pub fn filter(verbose: u8, env: Option<&str>) -> Option<EnvFilter> {
    if let Some(directives) = env.map(str::trim).filter(|d| !d.is_empty()) {
        match EnvFilter::builder().parse(directives) {
            Ok(f) => return Some(f),
            Err(e) => eprintln!(
                "warning: {ENV}={directives:?} is not a filter ({e}); use e.g. {ENV}=debug or {ENV}=iisn::serve::proxy=trace"
            ),
        }
    }
    let level = match verbose {
        0 | 1 => return None,
        2 => "iisn=debug",
        _ => "iisn=trace",
    };
    EnvFilter::builder().parse(level).ok()
}

/// Installs the stderr subscriber when `-vv` or `IISN_LOG` asks for one.
pub fn init(verbose: u8, ansi: bool) {
    let env = std::env::var(ENV).ok();
    let Some(filter) = filter(verbose, env.as_deref()) else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(true)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_unless_asked() {
        assert!(filter(0, None).is_none());
        assert!(filter(1, None).is_none());
        assert!(filter(1, Some("  ")).is_none());
        assert!(filter(2, None).is_some());
        assert!(filter(0, Some("iisn::serve::proxy=trace")).is_some());
        // A broken directive falls back to the verbosity.
        assert!(filter(0, Some("iisn=[")).is_none());
    }
}
