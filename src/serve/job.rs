//! iisnode's job object, on Linux: every process a worker started dies with iisn, however
//! iisn exits, and with its worker when the worker is stopped.
//!
//! iisnode put each node process in a job object that kills every process in it, detached
//! children included, when IIS's worker process goes (`cnodeapplicationmanager.cpp`). An
//! unprivileged Linux process has no such container (cgroups need delegation), so iisn finds
//! the processes of a run itself, by a mark they inherit:
//!
//! * **The mark.** Every process an app starts inherits the worker's environment, and a
//!   worker's `PORT` (and `IISNODE_CONTROL_PIPE`, when the recycle signal is on) is a path
//!   inside iisn's private run directory (`/tmp/iisn-<pid>-<random>/`, see
//!   [`super::transport::SocketDir`]), which no other run shares. A process whose environment
//!   holds a path in that directory (`/proc/PID/environ`: the environment it was started
//!   with) is of the run ([`Mark::run`]); one holding a worker's exact `PORT=...` is of that
//!   worker ([`Mark::worker`]). So is every child of such a process, whatever its own
//!   environment, as long as that parent lives ([`find`]). iisn adds no variable of its own:
//!   node sees the environment iisnode gives it.
//! * **A worker stopped** (Ctrl-C, a recycle, a configuration change, or its slot refilled
//!   after it exited): [`super::process::Worker::stop`] first notes the worker's tree (its
//!   children and theirs, and the processes carrying its `PORT`), then sends SIGTERM to its
//!   process group and to the noted processes outside it, waits out the grace period, and
//!   kills with SIGKILL what is left of either ([`kill_found`]).
//! * **iisn exits normally**: after the workers are stopped, `serve` kills what is left of
//!   the run ([`kill_marked`]: processes detached from a worker that had already exited,
//!   workers of a pool that was still draining).
//! * **iisn is killed** (`kill -9`, the OOM killer, a panic that aborts): the workers die at
//!   once (`PR_SET_PDEATHSIG`, [`super::process`]), and the [`Guardian`], a small process
//!   started with the run, sees the pipe from iisn close, kills what is left of the run, and
//!   removes the run directory. It sleeps in `read(2)` until then: nothing per request.
//!
//! What escapes: a process that replaced its whole environment (or the variables that carry
//! the directory) *and* whose parent has exited (its parent is then init, not a process of
//! the run); a process of another user (a setuid program); a process started after the
//! last search (each search is repeated until it finds nothing new, so only a process
//! forking faster than it is killed could). On other Unixes (macOS) there is no `/proc`:
//! a worker's process group is killed when it stops, and PR_SET_PDEATHSIG does not exist.

use std::path::Path;
use std::time::Duration;

use crate::Error;

/// The hidden command that runs the [`Guardian`]: `iisn __guard <run directory>`.
pub const GUARD_COMMAND: &str = "__guard";

/// What marks a process as belonging to a run or to one worker, in its environment.
#[derive(Clone, Debug)]
pub struct Mark {
    needle: Vec<u8>,
    /// The needle is a whole `NAME=value` entry, not a part of one.
    entry: bool,
}

impl Mark {
    /// Every process of the run whose directory is `dir`: a variable holding a path in it.
    pub fn run(dir: &Path) -> Mark {
        Mark {
            needle: format!("{}/", dir.display()).into_bytes(),
            entry: false,
        }
    }

    /// The processes of the worker listening on `socket`: its exact `PORT` (a socket path is
    /// never reused within a run).
    pub fn worker(socket: &Path) -> Mark {
        Mark {
            needle: format!("PORT={}", socket.display()).into_bytes(),
            entry: true,
        }
    }

    /// Whether an environment block (`NAME=value` entries, each ended by a NUL) carries it.
    pub fn matches(&self, environ: &[u8]) -> bool {
        let n = &self.needle[..];
        if n.is_empty() {
            return false;
        }
        if self.entry {
            environ.split(|b| *b == 0).any(|e| e == n)
        } else {
            environ.windows(n.len()).any(|w| w == n)
        }
    }
}

/// One process, as found: its pid and its start time (clock ticks after boot), which tells
/// it apart from a later process that reuses the pid.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    pub pid: u32,
    start: u64,
    /// Its process group.
    pub pgid: u32,
}

/// What `/proc/PID/stat` says of a process.
#[cfg(target_os = "linux")]
struct Stat {
    ppid: u32,
    pgid: u32,
    start: u64,
    zombie: bool,
}

#[cfg(target_os = "linux")]
fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses `/proc/PID/stat`: the fields after the command name, which is in parentheses and
/// may itself hold spaces and parentheses.
#[cfg(any(target_os = "linux", test))]
fn parse_stat_fields(text: &str) -> Option<(char, u32, u32, u64)> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // state is field 3 of proc(5), ppid 4, pgrp 5, starttime 22.
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let pgid = fields.get(2)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, ppid, pgid, start))
}

#[cfg(target_os = "linux")]
fn parse_stat(text: &str) -> Option<Stat> {
    let (state, ppid, pgid, start) = parse_stat_fields(text)?;
    Some(Stat {
        ppid,
        pgid,
        start,
        zombie: matches!(state, 'Z' | 'X'),
    })
}

/// The live processes of `mark`: those whose environment carries it, the `roots`, and the
/// children of any of them, transitively. Never this process nor `exclude`; zombies are
/// left out. Empty where there is no `/proc`.
pub fn find(mark: &Mark, roots: &[u32], exclude: &[u32]) -> Vec<Found> {
    #[cfg(target_os = "linux")]
    {
        let me = std::process::id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        // (the process, its parent, whether it is a member by itself)
        let mut all: Vec<(Found, u32, bool)> = Vec::new();
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if pid == me || exclude.contains(&pid) {
                continue;
            }
            let Some(stat) = read_stat(pid) else {
                continue;
            };
            if stat.zombie {
                continue;
            }
            let member = roots.contains(&pid)
                || std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| mark.matches(&env));
            let found = Found {
                pid,
                start: stat.start,
                pgid: stat.pgid,
            };
            all.push((found, stat.ppid, member));
        }
        let mut members: std::collections::HashSet<u32> =
            all.iter().filter(|p| p.2).map(|p| p.0.pid).collect();
        loop {
            let before = members.len();
            for (p, ppid, _) in &all {
                if members.contains(ppid) {
                    members.insert(p.pid);
                }
            }
            if members.len() == before {
                break;
            }
        }
        all.into_iter()
            .filter(|p| members.contains(&p.0.pid))
            .map(|p| p.0)
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (mark, roots, exclude);
        Vec::new()
    }
}

/// When the process `pid` started (clock ticks after boot, `/proc/PID/stat`), to tell it
/// from a later process that reuses the pid; `None` where that cannot be known.
pub fn start_time(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        read_stat(pid).map(|s| s.start)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Whether `p` still runs: the same process (same start time), not a zombie.
pub fn alive(p: &Found) -> bool {
    #[cfg(target_os = "linux")]
    {
        read_stat(p.pid).is_some_and(|s| s.start == p.start && !s.zombie)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = p;
        false
    }
}

/// Sends `signal` to `p` if it is still the process that was found. `true` if sent.
pub fn send(p: &Found, signal: nix::sys::signal::Signal) -> bool {
    alive(p) && nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid as i32), signal).is_ok()
}

/// Kills `known` (found earlier), every process of `mark`, and the children of either with
/// SIGKILL, searching again until a search finds nothing not tried already: a process may
/// start others while the killing goes on (at most 50 rounds, 10 ms apart). Returns how many
/// were killed.
pub fn kill_found(mark: &Mark, exclude: &[u32], known: &[Found]) -> usize {
    use nix::sys::signal::Signal;
    let mut tried = std::collections::HashSet::new();
    let mut killed = 0;
    let mut next: Vec<Found> = known.to_vec();
    for _ in 0..50 {
        // What was found earlier and still runs counts as marked: its children are found
        // too (the first round, before it is killed and they lose it as their parent).
        let roots: Vec<u32> = next.iter().filter(|p| alive(p)).map(|p| p.pid).collect();
        next.extend(find(mark, &roots, exclude));
        let fresh: Vec<Found> = next
            .drain(..)
            .filter(|p| tried.insert((p.pid, p.start)))
            .collect();
        if fresh.is_empty() {
            break;
        }
        killed += fresh.iter().filter(|p| send(p, Signal::SIGKILL)).count();
        std::thread::sleep(Duration::from_millis(10));
    }
    killed
}

/// Kills every process of `mark` ([`kill_found`] with nothing known beforehand).
pub fn kill_marked(mark: &Mark, exclude: &[u32]) -> usize {
    kill_found(mark, exclude, &[])
}

/// The guardian of a run: a process that outlives iisn just long enough to kill what is
/// left of the run when iisn dies without cleaning up (`kill -9`).
///
/// It is `iisn __guard <run directory>`, the same executable started again, in its own
/// process group (the terminal's Ctrl-C does not reach it; iisn's own shutdown does the work
/// then) with SIGINT, SIGTERM and SIGHUP blocked, reading a pipe whose only writer is iisn.
/// The pipe ends when iisn ends, however it ends; the guardian then kills the processes
/// carrying the run's mark (it does not carry it: its environment is iisn's) and removes the
/// run directory. It is not started with PR_SET_PDEATHSIG, so iisn's death does not kill it.
/// Dropping the `Guardian` closes the pipe and waits (up to 2 s) for it to finish.
#[derive(Debug)]
pub struct Guardian {
    child: std::process::Child,
    pipe: Option<std::process::ChildStdin>,
}

impl Guardian {
    /// Starts the guardian of the run directory `dir`.
    pub fn start(dir: &Path) -> std::io::Result<Guardian> {
        use std::os::unix::process::CommandExt;
        use std::process::Stdio;
        // /proc/self/exe runs this very executable even if its file was replaced meanwhile.
        #[cfg(target_os = "linux")]
        let exe = std::path::PathBuf::from("/proc/self/exe");
        #[cfg(not(target_os = "linux"))]
        let exe = std::env::current_exe()?;
        let mut child = std::process::Command::new(exe)
            .arg0("iisn")
            .arg(GUARD_COMMAND)
            .arg(dir)
            .current_dir("/")
            // Its read end; iisn's write end is close-on-exec, so no worker holds it.
            .stdin(Stdio::piped())
            // Never the terminal: a background process group writing to it could be stopped.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = child.stdin.take();
        Ok(Guardian { child, pipe })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        drop(self.pipe.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Ok(Some(_)) | Err(_) => return,
            }
        }
    }
}

/// `iisn __guard DIR`: the [`Guardian`]'s body. Waits for the end of stdin (iisn is gone),
/// kills what is left of the run, removes `DIR`.
pub fn guard(dir: &Path) -> Result<(), Error> {
    use std::io::Read;
    let is_run_dir = dir.is_absolute()
        && dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("iisn-"));
    if !is_run_dir {
        return Err(Error::Usage {
            message: format!("{} is not an iisn run directory", dir.display()),
            hint: Some(format!(
                "`iisn {GUARD_COMMAND}` is started by `iisn serve` itself"
            )),
        });
    }
    {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
        let mut set = SigSet::empty();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
        ] {
            set.add(s);
        }
        let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
    }
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    kill_marked(&Mark::run(dir), &[]);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_match_whole_entries_or_paths_in_the_directory() {
        let dir = Path::new("/tmp/iisn-12-abcd");
        let run = Mark::run(dir);
        let worker = Mark::worker(&dir.join("3.sock"));
        let env = b"HOME=/root\0PORT=/tmp/iisn-12-abcd/3.sock\0A=b\0";
        assert!(run.matches(env));
        assert!(worker.matches(env));
        assert!(!Mark::worker(&dir.join("1.sock")).matches(env));
        // A prefix of the directory's name, or the directory itself, is not the run.
        assert!(!run.matches(b"PORT=/tmp/iisn-12-abcdef/1.sock\0"));
        assert!(!run.matches(b"TMPDIR=/tmp/iisn-12-abcd\0"));
        assert!(run.matches(b"IISNODE_CONTROL_PIPE=/tmp/iisn-12-abcd/control.sock\0"));
        // The worker's PORT as a part of another value is not its PORT.
        assert!(!worker.matches(b"OLD_PORT=/tmp/iisn-12-abcd/3.sock\0"));
        assert!(!worker.matches(b"PORT=/tmp/iisn-12-abcd/3.sock.x\0"));
        assert!(!run.matches(b""));
    }

    #[test]
    fn stat_fields_after_a_command_name_with_spaces_and_parentheses() {
        let text = "4242 (node (a) b) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 987654 1000 10";
        assert_eq!(parse_stat_fields(text), Some(('S', 17, 4242, 987_654)));
        assert_eq!(parse_stat_fields("12 (x) Z"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_a_marked_child_and_its_unmarked_children_then_kills_them() {
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().expect("tmp");
        let run_dir = dir.path().join("iisn-1-test");
        let mark = Mark::run(&run_dir);
        // A marked shell whose child drops the mark (env -i): found through its parent.
        let mut child = Command::new("sh")
            .args(["-c", "env -i sleep 300 & wait"])
            .env("PORT", run_dir.join("1.sock"))
            .stdout(Stdio::null())
            .spawn()
            .expect("sh");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let found = loop {
            let found = find(&mark, &[], &[]);
            if found.len() >= 2 || std::time::Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let all_alive = found.iter().all(alive);
        let other_run = find(&Mark::run(&dir.path().join("iisn-2-test")), &[], &[]);
        // Killed before any assertion, so that a failure leaves no process behind.
        let killed = kill_marked(&mark, &[]);
        let _ = child.wait();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().any(|p| p.pid == child.id()));
        assert!(all_alive);
        assert!(other_run.is_empty(), "{other_run:?}");
        assert_eq!(killed, 2);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while found.iter().any(alive) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!found.iter().any(alive), "{found:?}");
    }
}
