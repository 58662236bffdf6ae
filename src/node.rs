//! Finding the programs a site runs (node, or whatever nodeProcessCommandLine names) on this
//! machine. Synchronous and free of the server's runtime, so that `iisn check` and
//! `iisn serve` resolve programs the same way.

use std::path::{Path, PathBuf};

/// The first directory of `path` (a `PATH` value) that holds an executable `program`.
pub fn find_on_path(path: Option<&str>, program: &str) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

/// A regular file this user may execute (on Unix, any execute bit; elsewhere, any file).
pub fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// A Windows-only path (`C:\...`, `\\server\...`).
pub fn is_windows_path(p: &str) -> bool {
    let b = p.as_bytes();
    (b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic()) || p.starts_with("\\\\")
}
