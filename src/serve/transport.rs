//! The transport seam: where worker sockets live and how iisn connects to them.
//!
//! iisnode gives each node process a fresh named pipe `\\.\pipe\<uuid>` in `PORT`. On Unix,
//! iisn gives it the path of a Unix domain socket instead (node's `listen(path)` accepts
//! both), inside a private directory (mode 0700) that iisn creates per run and removes on
//! exit (or its guardian does, see [`super::job`]). Directories left by an iisn that died
//! without either (its pid is gone) are removed at start.
//! Windows named pipes would slot in here.

use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// sun_path is 104 bytes on macOS (108 on Linux); stay below with the NUL.
const MAX_SOCKET_PATH: usize = 100;

/// The private directory holding this run's sockets (and the loader script).
#[derive(Debug)]
pub struct SocketDir {
    path: PathBuf,
    next: AtomicU64,
}

fn random_hex() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:08x}", h.finish() as u32)
}

fn candidate_bases() -> Vec<PathBuf> {
    let mut bases = Vec::new();
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        bases.push(PathBuf::from(x));
    }
    bases.push(std::env::temp_dir());
    bases.push(PathBuf::from("/tmp"));
    bases
}

/// Whether a process with this pid exists (whoever owns it).
#[cfg(unix)]
pub(super) fn pid_alive(pid: i32) -> bool {
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
    matches!(
        kill(Pid::from_raw(pid), None),
        Ok(()) | Err(nix::errno::Errno::EPERM)
    )
}

#[cfg(not(unix))]
pub(super) fn pid_alive(_pid: i32) -> bool {
    true
}

/// Removes `iisn-<pid>-*` directories whose iisn is gone (a crash or `kill -9`).
fn remove_stale(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("iisn-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid != std::process::id() as i32 && !pid_alive(pid) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

impl SocketDir {
    /// Creates the directory (mode 0700) under `$XDG_RUNTIME_DIR` or the temp folder.
    pub fn create() -> io::Result<SocketDir> {
        let mut last_err = None;
        for base in candidate_bases() {
            if !base.is_dir() {
                continue;
            }
            remove_stale(&base);
            let path = base.join(format!("iisn-{}-{}", std::process::id(), random_hex()));
            // Leave room for "/<n>.sock".
            if path.as_os_str().len() + 12 > MAX_SOCKET_PATH {
                continue;
            }
            let mut b = fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            match b.create(&path) {
                Ok(()) => {
                    return Ok(SocketDir {
                        path,
                        next: AtomicU64::new(1),
                    });
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no usable temporary directory for worker sockets",
            )
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh socket path for a new worker (never reused within a run).
    pub fn next_socket(&self) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.path.join(format!("{n}.sock"))
    }

    /// Removes the directory and everything in it.
    pub fn remove(&self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        self.remove();
    }
}

/// One connection to a worker.
pub type Stream = tokio::net::UnixStream;

/// Connects to a worker's socket.
pub async fn connect(path: &Path) -> io::Result<Stream> {
    tokio::net::UnixStream::connect(path).await
}

/// How many bytes written to a connection its peer has not read yet (Linux: `SIOCOUTQ`
/// on a Unix socket counts what the reader has not consumed). `None` where that cannot be
/// known: the caller then takes the request as read.
pub fn unread_by_peer(fd: std::os::fd::RawFd) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        ioctl_count(fd, nix::libc::TIOCOUTQ)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        None
    }
}

/// How many bytes wait to be read from a pipe or socket (`FIONREAD`); `None` when that
/// cannot be known.
pub fn readable_bytes(fd: &impl std::os::fd::AsFd) -> Option<usize> {
    ioctl_count(
        std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()),
        nix::libc::FIONREAD,
    )
}

/// The type of `ioctl`'s request argument.
#[cfg(any(target_os = "linux", target_os = "android"))]
type IoctlRequest = nix::libc::Ioctl;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
type IoctlRequest = nix::libc::c_ulong;

/// An `ioctl` that writes one `c_int` count (`FIONREAD`, `TIOCOUTQ`) on `fd`, which the
/// caller keeps open for the call.
fn ioctl_count(fd: std::os::fd::RawFd, request: IoctlRequest) -> Option<usize> {
    let mut n: nix::libc::c_int = 0;
    // SAFETY: `fd` is open for the call (the caller's borrow), and the request writes one
    // c_int through the pointer, which points to `n`.
    #[expect(unsafe_code, reason = "no safe wrapper for FIONREAD / SIOCOUTQ")]
    let r = unsafe { nix::libc::ioctl(fd, request, &raw mut n) };
    (r == 0).then(|| usize::try_from(n).unwrap_or(0))
}

/// Whether `e` says this process (or the system) has no file descriptor left
/// (`EMFILE`, `ENFILE`).
pub fn out_of_files(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(code) if code == nix::libc::EMFILE || code == nix::libc::ENFILE)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// What to say when [`out_of_files`]: the limit, why it is met, and what to do.
pub fn open_files_hint() -> String {
    #[cfg(unix)]
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or_else(|_| "unknown".to_string(), |(soft, _)| soft.to_string());
    #[cfg(not(unix))]
    let limit = "unknown";
    format!(
        "iisn may open {limit} files, and each client and each connection to a worker is one; raise the limit with `ulimit -n` before starting iisn"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_directory_and_unique_short_paths() {
        let d = SocketDir::create().expect("created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(d.path()).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let a = d.next_socket();
        let b = d.next_socket();
        assert_ne!(a, b);
        assert!(a.as_os_str().len() < MAX_SOCKET_PATH);
        let p = d.path().to_path_buf();
        drop(d);
        assert!(!p.exists());
    }

    #[test]
    fn stale_directories_of_dead_runs_are_removed() {
        let base = tempfile::tempdir().expect("tmp");
        // pid 0x7ffffff0 does not exist.
        let stale = base.path().join("iisn-2147483632-abcd");
        fs::create_dir(&stale).expect("mkdir");
        let mine = base
            .path()
            .join(format!("iisn-{}-abcd", std::process::id()));
        fs::create_dir(&mine).expect("mkdir");
        remove_stale(base.path());
        assert!(!stale.exists());
        assert!(mine.exists());
    }
}
