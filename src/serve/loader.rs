//! iisn's built-in loader script, the stand-in for iisnode's `interceptor.js`.
//!
//! Workers run `node [args] <loader> <absolute script path>` (DECISIONS.md §12). The loader
//! (`loader.js`, embedded in the binary) gives the app iisnode's argv, loads it with
//! `require()` so `require.main` is not the app, prints iisnode's uncaught-exception lead-in
//! and exits 1, and refuses ES module entry points with an explanation unless `IISN_ESM=1`
//! (`iisn serve --esm`) asks for `import()`.
//!
//! This module only writes the script into iisn's private run directory. The loader itself
//! must not log to files or otherwise touch the app's output: iisn captures stdout and stderr
//! through pipes (DECISIONS.md §13, [`super::logs`]).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The loader's source.
pub const LOADER_JS: &str = include_str!("loader.js");

/// File name of the loader inside the run directory.
pub const LOADER_FILE_NAME: &str = "iisn-loader.cjs";

/// Writes [`LOADER_JS`] as `<dir>/iisn-loader.cjs` (`.cjs`: CommonJS even under a `"type": "module"` package.json) (mode 0644 on Unix) and returns its path.
///
/// `dir` must exist (iisn's private directory). The file is written under a temporary name
/// and renamed into place, so a worker starting meanwhile never reads half a script.
pub fn write_loader(dir: &Path) -> io::Result<PathBuf> {
    let path = dir.join(LOADER_FILE_NAME);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{LOADER_FILE_NAME}.{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_file(&tmp, LOADER_JS.as_bytes()).and_then(|()| fs::rename(&tmp, &path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| path)
}

fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o644);
        let mut file = options.open(path)?;
        // The umask may have removed bits from the mode given to open(2).
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        file.write_all(bytes)?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_loader_with_mode_0644() {
        let tmp = tempfile::TempDir::new().expect("tempdir");
        let path = write_loader(tmp.path()).expect("write");
        assert_eq!(path, tmp.path().join("iisn-loader.cjs"));
        assert_eq!(fs::read_to_string(&path).expect("read"), LOADER_JS);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        // Writing again replaces it and leaves no temporary file.
        write_loader(tmp.path()).expect("rewrite");
        let names: Vec<_> = fs::read_dir(tmp.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("iisn-loader.cjs")]);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let tmp = tempfile::TempDir::new().expect("tempdir");
        assert!(write_loader(&tmp.path().join("missing")).is_err());
    }

    #[test]
    fn loader_keeps_iisnode_lead_in_and_stays_dependency_free() {
        assert!(
            LOADER_JS
                .contains("'Application has thrown an uncaught exception and is terminated:\\n'")
        );
        assert!(LOADER_JS.contains("process.argv.splice(1, 1)"));
        // Only node built-ins are required.
        for line in LOADER_JS.lines().filter(|l| l.contains("require('")) {
            assert!(
                ["'fs'", "'path'", "'url'", "'util'"]
                    .iter()
                    .any(|m| line.contains(m)),
                "unexpected require: {line}"
            );
        }
    }
}
