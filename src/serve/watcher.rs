//! Watching files: `watchedFiles` recycles, config changes reload, `app_offline.htm`.
//!
//! iisnode watches the entries of `watchedFiles` (`;`-separated, relative to the script's
//! folder, `\` or `/` separators, wildcards in the file name only, not recursive) and, on any
//! write in a watched folder, re-checks every entry of that folder: a plain file by its
//! modification time, a wildcard entry by a fingerprint over the matching files' names,
//! sizes and times, so adding or removing a match counts too. iisn does the same with
//! `notify` events and a
//! polling fallback every `uncFileChangesPollingInterval` for file systems where events do
//! not arrive (network mounts, some containers). The fingerprints decide, so an event that
//! changed nothing recycles nothing.
//!
//! Timing (DECISIONS.md §8): the first event is acted on at once, so the request after the
//! one that wrote a file already sees the change (iisnode's tests 125 and 126); a
//! [`ChangeGate`] closed in the watcher's callback holds requests until then. The events that
//! follow within [`DEBOUNCE`] fold into one more check, which acts only when the files now
//! differ from what the first check read (an editor's truncate-then-write ends in the file's
//! final state, without a second recycle when nothing changed in between).

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{Notify, mpsc};

/// One entry of `watchedFiles`, resolved against the script's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEntry {
    /// The entry as written.
    pub raw: String,
    pub dir: PathBuf,
    /// The file-name part; may contain `*` and `?`.
    pub name: String,
    pub wildcard: bool,
    /// The entry names the `configOverrides` file (iisnode.yml): a change re-reads the
    /// configuration, not just recycles.
    pub config_overrides: bool,
}

/// Why an entry of `watchedFiles` is not watched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub raw: String,
    pub why: &'static str,
}

/// Why iisnode cannot start an application with this `watchedFiles` (its file watcher
/// fails, and so does every request, 500.1000), if it cannot: an entry whose folder holds a
/// wildcard (an invalid name for `CreateFileW`), or whose folder's parent does not exist
/// (`ERROR_PATH_NOT_FOUND`; iisnode tolerates only `ERROR_FILE_NOT_FOUND`, a missing last
/// folder or file).
pub fn start_failure(value: &str, script_dir: &Path) -> Option<String> {
    // An entry ending in `\` is never opened (see parse_watched_files).
    for raw in value
        .split(';')
        .filter(|e| !e.is_empty() && !e.ends_with('\\'))
    {
        let norm = raw.replace('\\', "/");
        let Some((dir_part, name)) = norm.rsplit_once('/') else {
            continue;
        };
        if name.to_ascii_lowercase().ends_with("web.config") {
            continue;
        }
        if dir_part.contains(['*', '?']) {
            return Some(format!(
                "the watchedFiles entry `{raw}` has a wildcard in its folder, which iisnode's file watcher cannot open: the application does not start (wildcards are allowed in the file name only)"
            ));
        }
        let segs: Vec<&str> = dir_part.split('/').filter(|s| !s.is_empty()).collect();
        if segs.len() >= 2 && !norm.starts_with('/') && !segs.contains(&"..") {
            let parent = crate::config::site::on_disk_spelling(
                script_dir,
                &segs[..segs.len() - 1].join("/"),
            );
            if !script_dir.join(&parent).is_dir() {
                return Some(format!(
                    "the folder of the watchedFiles entry `{raw}` is inside `{parent}`, which does not exist: iisnode's file watcher fails and the application does not start (create the folder, or remove the entry)"
                ));
            }
        }
    }
    None
}

/// Splits `watchedFiles` as iisnode does.
pub fn parse_watched_files(
    value: &str,
    script_dir: &Path,
    config_overrides: &str,
) -> (Vec<WatchEntry>, Vec<Skipped>) {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for raw in value.split(';').filter(|e| !e.is_empty()) {
        // CFileWatcher::WatchFiles watches nothing for an entry whose file-name part (after
        // its last `\`) is empty: `lib\` is not a way to watch a folder.
        if raw.ends_with('\\') {
            skipped.push(Skipped {
                raw: raw.to_string(),
                why: "it names a folder, not a file (iisnode watches nothing for it)",
            });
            continue;
        }
        let norm = raw.replace('\\', "/");
        let (dir_part, name) = norm.rsplit_once('/').unwrap_or(("", norm.as_str()));
        if name.to_ascii_lowercase().ends_with("web.config") {
            skipped.push(Skipped {
                raw: raw.to_string(),
                why: "web.config changes are always noticed (iisnode leaves them to IIS)",
            });
            continue;
        }
        if dir_part.contains(['*', '?']) {
            skipped.push(Skipped {
                raw: raw.to_string(),
                why: "wildcards are allowed in the file name only (IIS fails to start the application)",
            });
            continue;
        }
        if norm.starts_with('/') || dir_part.split('/').any(|s| s == "..") {
            skipped.push(Skipped {
                raw: raw.to_string(),
                why: "entries are relative to the script's folder, without `..`",
            });
            continue;
        }
        // NTFS ignores case: the folder as it is spelled on disk (`CONF\*.json` watches
        // `conf/`), and names are compared ignoring case ([`fingerprint`]).
        let on_disk = crate::config::site::on_disk_spelling(script_dir, dir_part);
        let dir = if on_disk.is_empty() {
            script_dir.to_path_buf()
        } else {
            script_dir.join(on_disk)
        };
        entries.push(WatchEntry {
            raw: raw.to_string(),
            dir,
            name: name.to_string(),
            wildcard: name.contains(['*', '?']),
            config_overrides: names_config_overrides(raw, config_overrides),
        });
    }
    (entries, skipped)
}

/// Whether a change to the `watchedFiles` entry `raw` makes iisnode re-read iisnode.yml.
/// `CFileWatcher::WatchFile` compares the entry's file-name part (after its last `\`) with
/// the whole `configOverrides` value, exactly (`memcmp`, case-sensitive). So an entry
/// `config\iisnode.yml` never matches `configOverrides="config\iisnode.yml"`: a change to
/// it recycles the application, which keeps the settings it had.
pub fn names_config_overrides(raw: &str, config_overrides: &str) -> bool {
    let name = raw.rsplit_once('\\').map_or(raw, |(_, name)| name);
    !config_overrides.is_empty() && name == config_overrides
}

fn mtime_nanos(t: std::io::Result<SystemTime>) -> u128 {
    t.ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

/// The change signature of an entry: 0 for a missing file; for wildcards a sum over the
/// matching regular files of a hash of (name, size, mtime).
pub fn fingerprint(e: &WatchEntry) -> u64 {
    if !e.wildcard {
        // The file as named, or else its name in another case (NTFS ignores case).
        let m = std::fs::metadata(e.dir.join(&e.name)).or_else(|_| {
            std::fs::metadata(
                e.dir
                    .join(crate::config::site::on_disk_spelling(&e.dir, &e.name)),
            )
        });
        let Ok(m) = m else {
            return 0;
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (mtime_nanos(m.modified()), m.len()).hash(&mut h);
        return h.finish() | 1;
    }
    let Ok(rd) = std::fs::read_dir(&e.dir) else {
        return 0;
    };
    let mut sum = 0u64;
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if !super::router::wildcard_match(&e.name, &name) {
            continue;
        }
        let Ok(m) = ent.metadata() else { continue };
        if !m.is_file() {
            continue;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (name, m.len(), mtime_nanos(m.modified())).hash(&mut h);
        sum = sum.wrapping_add(h.finish());
    }
    sum
}

/// A set of watched things with their last fingerprints.
#[derive(Debug)]
pub struct Fingerprints<K> {
    items: Vec<(K, u64)>,
}

impl<K: Clone> Fingerprints<K> {
    pub fn new(keys: impl IntoIterator<Item = K>, f: impl Fn(&K) -> u64) -> Self {
        Fingerprints {
            items: keys
                .into_iter()
                .map(|k| {
                    let fp = f(&k);
                    (k, fp)
                })
                .collect(),
        }
    }

    /// Re-fingerprints everything; returns the keys that changed (and remembers them).
    pub fn changed(&mut self, f: impl Fn(&K) -> u64) -> Vec<K> {
        let mut out = Vec::new();
        for (k, fp) in self.items.iter_mut() {
            let now = f(k);
            if now != *fp {
                *fp = now;
                out.push(k.clone());
            }
        }
        out
    }
}

/// How long events keep folding into one more check after the first one acted: an
/// editor's truncate-then-write, or a rename over the file, ends well within it.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// The longest a request waits at the gate (a change that takes longer is served anyway).
pub const GATE_LIMIT: Duration = Duration::from_secs(10);

/// Makes requests wait while a file change is being applied (DECISIONS.md §8).
///
/// iisnode notices a change to a watched file synchronously enough that the request after
/// the one that wrote iisnode.yml already runs on the new configuration (its functional
/// tests 125 and 126). iisn closes this gate in the file watcher's own callback, on the
/// notify thread, microseconds after the write and well before the client's next request
/// can arrive; the watcher task then checks whether anything really changed (and opens the
/// gate at once if not), and the supervisor opens it once new requests route to the new
/// configuration or generation. Requests check it with one atomic load.
#[derive(Debug, Default)]
pub struct ChangeGate {
    pending: AtomicUsize,
    opened: Notify,
    /// Linux: the dispatch-time check for a configuration write (see [`Sentinel`]).
    sentinel: std::sync::Mutex<Option<Sentinel>>,
}

/// A second, non-blocking inotify instance over the folders that hold configuration files
/// (iisnode.yml, web.config, app_offline.htm), read with one system call when a request is
/// dispatched. The watchers' own events travel through notify's thread, which a busy machine
/// may schedule after the client's next request has already arrived; the kernel queues an
/// event on this instance during the write itself, so the request after one whose
/// application wrote iisnode.yml always sees it and waits for the change to be applied.
/// Off Linux the watchers' callback is all there is.
#[derive(Debug)]
pub struct Sentinel {
    #[cfg(target_os = "linux")]
    fd: nix::sys::inotify::Inotify,
    /// File names that matter, lower case.
    names: std::collections::HashSet<String>,
}

impl Sentinel {
    /// Watches `dirs` for writes to files named in `names` (any case). `None` when inotify is
    /// not available.
    pub fn new<'a>(
        dirs: impl IntoIterator<Item = &'a Path>,
        names: impl IntoIterator<Item = String>,
    ) -> Option<Sentinel> {
        let names = names.into_iter().map(|n| n.to_ascii_lowercase()).collect();
        #[cfg(target_os = "linux")]
        {
            use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
            let fd = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
            let mask = AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_MOVED_FROM;
            for d in dirs {
                let _ = fd.add_watch(d, mask);
            }
            Some(Sentinel { fd, names })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dirs.into_iter().count();
            let _ = names;
            None
        }
    }

    /// Whether a file that matters was written since the last call (reads what is queued).
    fn fired(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            let mut fired = false;
            while let Ok(events) = self.fd.read_events() {
                fired |= events.iter().any(|e| {
                    e.name.as_ref().is_some_and(|n| {
                        self.names
                            .contains(&n.to_string_lossy().to_ascii_lowercase())
                    })
                });
                if events.is_empty() {
                    break;
                }
            }
            fired
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = &self.names;
            false
        }
    }
}

/// One change being looked at or applied; the gate opens when the last one is dropped.
#[derive(Debug)]
pub struct Pending(Option<Arc<ChangeGate>>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(g) = self.0.take()
            && g.pending.fetch_sub(1, Ordering::AcqRel) == 1
        {
            g.opened.notify_waiters();
        }
    }
}

impl ChangeGate {
    /// Closes the gate until the returned value is dropped.
    pub fn hold(self: &Arc<Self>) -> Pending {
        self.pending.fetch_add(1, Ordering::AcqRel);
        Pending(Some(self.clone()))
    }

    pub fn is_open(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }

    /// Replaces the dispatch-time check (the watchers were set up again).
    pub fn set_sentinel(&self, s: Option<Sentinel>) {
        if let Ok(mut g) = self.sentinel.lock() {
            *g = s;
        }
    }

    /// Whether a configuration file was written since the last request looked (one
    /// non-blocking read; a request finding the check busy skips it).
    pub fn sentinel_fired(&self) -> bool {
        match self.sentinel.try_lock() {
            Ok(g) => g.as_ref().is_some_and(Sentinel::fired),
            Err(_) => false,
        }
    }

    /// After the sentinel fired: waits (at most `limit`) for the watcher to take hold of the
    /// change, so that the wait for the gate that follows covers it.
    pub async fn wait_taken(&self, limit: Duration) {
        let start = tokio::time::Instant::now();
        while self.is_open() && start.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Waits until no change is pending, at most `limit`.
    pub async fn wait_open(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.opened.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_open() {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }
}

/// Which paths matter to a watcher: an event on one of them closes the gate.
pub type Relevant = Box<dyn Fn(&Path) -> bool + Send + Sync>;

/// Watches `dirs` (non-recursively; missing ones are skipped) and sends one message per
/// event that may change something (reads are ignored), carrying a [`Pending`] hold on
/// `gate` when the event touches a relevant path. The watcher lives as long as the returned value.
pub fn watch_dirs(
    dirs: &BTreeSet<PathBuf>,
    gate: Option<(Arc<ChangeGate>, Relevant)>,
) -> (
    Option<RecommendedWatcher>,
    mpsc::UnboundedReceiver<FileEvent>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        tracing::trace!(kind = ?ev.kind, paths = ?ev.paths, "watcher: file system event");
        // Reads change nothing, and the watchers' own directory listings would wake them
        // again and again; a writer closing its file says the write is complete.
        use notify::event::{AccessKind, AccessMode};
        let closed = matches!(
            ev.kind,
            notify::EventKind::Access(AccessKind::Close(AccessMode::Write))
        );
        if matches!(ev.kind, notify::EventKind::Access(_)) && !closed {
            return;
        }
        let hold = match &gate {
            Some((g, relevant)) if ev.paths.iter().any(|p| relevant(p)) => Some(g.hold()),
            _ => None,
        };
        let _ = tx.send(FileEvent { hold, closed });
    });
    let Ok(mut watcher) = watcher else {
        return (None, rx);
    };
    for d in dirs {
        if d.is_dir() {
            let _ = watcher.watch(d, RecursiveMode::NonRecursive);
        }
    }
    (Some(watcher), rx)
}

/// Whether `path` is one a set of `watchedFiles` entries names (its folder and file name).
pub fn matches_entries(entries: &[WatchEntry], path: &Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let name = name.to_string_lossy();
    entries
        .iter()
        .any(|e| e.dir == dir && super::router::wildcard_match(&e.name, &name))
}

/// One file event as the watchers see it.
#[derive(Debug)]
pub struct FileEvent {
    /// The gate hold, when the event touched a relevant path.
    pub hold: Option<Pending>,
    /// A writer closed a file (the write is complete).
    pub closed: bool,
}

/// What woke a watcher.
#[derive(Debug)]
pub enum Wake {
    /// File events, with the gate hold when one touched a relevant path.
    Event(Option<Pending>),
    /// `poll` passed without events (the polling fallback).
    Poll,
}

/// How long the first burst of events may stay quiet before the change is read: long
/// enough for `writeFileSync`'s create, write and close, short enough to be unnoticed by the
/// requests the gate holds.
pub const FIRST_QUIET: Duration = Duration::from_millis(25);
/// The most the first check waits for a writer to finish.
pub const FIRST_LIMIT: Duration = Duration::from_millis(250);

/// Waits for the next change, or for `poll` to pass: whichever comes first.
///
/// The change is acted on at once (DECISIONS.md §8), once the write that caused it is
/// complete: a writer closing the file, or [`FIRST_QUIET`] without events (at most
/// [`FIRST_LIMIT`]). Reading earlier could catch a file created or truncated but not yet
/// written. The gate holds requests meanwhile, so the next request still sees the change.
pub async fn next_event(rx: &mut mpsc::UnboundedReceiver<FileEvent>, poll: Duration) -> Wake {
    let first = tokio::select! {
        got = rx.recv() => match got {
            Some(ev) => ev,
            None => {
                tokio::time::sleep(poll).await;
                return Wake::Poll;
            }
        },
        _ = tokio::time::sleep(poll) => return Wake::Poll,
    };
    let mut hold = first.hold;
    if !first.closed {
        let deadline = tokio::time::Instant::now() + FIRST_LIMIT;
        loop {
            let quiet = (tokio::time::Instant::now() + FIRST_QUIET).min(deadline);
            match tokio::time::timeout_at(quiet, rx.recv()).await {
                Ok(Some(ev)) => {
                    if hold.is_none() {
                        hold = ev.hold;
                    }
                    if ev.closed {
                        break;
                    }
                }
                _ => break,
            }
        }
    }
    tracing::debug!("watcher: the write is complete, checking for changes");
    Wake::Event(hold)
}

/// After acting on a first event: lets the events that follow fold until they stop for
/// [`DEBOUNCE`], so the caller checks once more (at most one more reload). The first gate
/// hold among them is kept for that check: a request arriving meanwhile waits for its
/// outcome (a file deleted right after it was written is gone for the next request).
pub async fn settle(rx: &mut mpsc::UnboundedReceiver<FileEvent>) -> Option<Pending> {
    let mut hold = None;
    while let Ok(Some(ev)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
        if hold.is_none() {
            hold = ev.hold;
        }
    }
    hold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_gate_holds_requests_until_every_change_is_applied() {
        let gate = Arc::new(ChangeGate::default());
        assert!(gate.is_open());
        let a = gate.hold();
        let b = gate.hold();
        assert!(!gate.is_open());
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.wait_open(Duration::from_secs(5)).await })
        };
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one change is still pending");
        drop(b);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("opened")
            .expect("task");
        assert!(gate.is_open());
        // A change that never completes holds a request at most the limit.
        let _stuck = gate.hold();
        let t = std::time::Instant::now();
        gate.wait_open(Duration::from_millis(50)).await;
        assert!(t.elapsed() >= Duration::from_millis(50));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_sentinel_fires_once_per_configuration_write() {
        let d = tempfile::tempdir().expect("tmp");
        let s = Sentinel::new([d.path()], ["iisnode.yml".to_string()]).expect("inotify");
        assert!(!s.fired());
        std::fs::write(d.path().join("data.txt"), "x").expect("write");
        assert!(!s.fired(), "a file that does not matter");
        std::fs::write(d.path().join("IISNODE.yml"), "a: 1").expect("write");
        assert!(s.fired(), "names ignore case");
        assert!(!s.fired(), "read once");
        std::fs::remove_file(d.path().join("IISNODE.yml")).expect("rm");
        assert!(s.fired(), "a deletion");
    }

    #[test]
    fn parses_like_iisnode() {
        let (e, s) = parse_watched_files(
            "*.js;node_modules\\*.js;;idontexist\\*;lib/a.json;web.config;my*\\x.js;iisnode.yml",
            Path::new("/site"),
            "iisnode.yml",
        );
        let raws: Vec<_> = e.iter().map(|e| e.raw.as_str()).collect();
        assert_eq!(
            raws,
            [
                "*.js",
                "node_modules\\*.js",
                "idontexist\\*",
                "lib/a.json",
                "iisnode.yml"
            ]
        );
        assert_eq!(e[1].dir, Path::new("/site/node_modules"));
        assert!(e[1].wildcard && !e[3].wildcard);
        assert!(e[4].config_overrides && !e[0].config_overrides);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn only_the_file_name_part_is_compared_with_config_overrides() {
        assert!(names_config_overrides("iisnode.yml", "iisnode.yml"));
        assert!(!names_config_overrides("IISNODE.YML", "iisnode.yml"));
        assert!(!names_config_overrides("iisnode.yml", ""));
        // The file-name part of `config\iisnode.yml` is `iisnode.yml`, never the whole value.
        assert!(!names_config_overrides(
            "config\\iisnode.yml",
            "config\\iisnode.yml"
        ));
        assert!(names_config_overrides("sub\\iisnode.yml", "iisnode.yml"));
        // `/` is no separator for iisnode: the whole entry is the name.
        assert!(names_config_overrides(
            "config/iisnode.yml",
            "config/iisnode.yml"
        ));
        let (e, _) = parse_watched_files(
            "*.js;config\\iisnode.yml",
            Path::new("/site"),
            "config\\iisnode.yml",
        );
        assert_eq!(e[1].dir, Path::new("/site/config"));
        assert!(!e[1].config_overrides, "recycles without re-reading");
    }

    #[test]
    fn an_entry_naming_a_folder_watches_nothing() {
        let (e, s) = parse_watched_files("*.js;lib\\;a\\b\\", Path::new("/site"), "iisnode.yml");
        assert_eq!(e.len(), 1);
        assert_eq!(
            s.iter().map(|s| s.raw.as_str()).collect::<Vec<_>>(),
            ["lib\\", "a\\b\\"]
        );
        // Never opened, so a missing parent folder does not stop the application.
        assert_eq!(start_failure("nope\\deeper\\", Path::new("/site")), None);
        assert!(start_failure("nope\\deeper\\x.js", Path::new("/site")).is_some());
    }

    #[test]
    fn names_and_folders_ignore_case_as_on_ntfs() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(d.path().join("conf")).expect("mkdir");
        let (entries, _) =
            parse_watched_files("CONF\\*.Json;Data.CFG;IISNODE.YML", d.path(), "iisnode.yml");
        assert_eq!(entries[0].dir, d.path().join("conf"));
        assert!(
            !entries[2].config_overrides,
            "compared exactly, as iisnode does"
        );
        assert_eq!(fingerprint(&entries[1]), 0);
        std::fs::write(d.path().join("data.cfg"), "1").expect("write");
        assert_ne!(fingerprint(&entries[1]), 0, "data.cfg is Data.CFG");
        std::fs::write(d.path().join("conf/a.json"), "1").expect("write");
        assert_ne!(fingerprint(&entries[0]), 0);
        assert!(matches_entries(&entries, &d.path().join("conf/A.JSON")));
    }

    #[test]
    fn entries_iisnode_cannot_watch_stop_the_application() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(d.path().join("lib")).expect("mkdir");
        for ok in [
            "*.js;iisnode.yml",
            "idontexist\\*",
            "lib\\none\\*.js",
            "LIB\\x\\a.json",
            "nodir\\web.config",
        ] {
            assert_eq!(start_failure(ok, d.path()), None, "{ok}");
        }
        for bad in ["a*\\x.js", "nodir\\deeper\\*.js"] {
            assert!(start_failure(bad, d.path()).is_some(), "{bad}");
        }
    }

    #[test]
    fn fingerprints_notice_adds_removes_and_writes() {
        let d = tempfile::tempdir().expect("tmp");
        let (entries, _) = parse_watched_files("*.js;data.txt", d.path(), "iisnode.yml");
        let mut fp = Fingerprints::new(entries.clone(), fingerprint);
        assert!(fp.changed(fingerprint).is_empty());
        std::fs::write(d.path().join("a.js"), "1").expect("write");
        assert_eq!(fp.changed(fingerprint).len(), 1, "a new match");
        std::fs::write(d.path().join("a.txt"), "1").expect("write");
        assert!(fp.changed(fingerprint).is_empty(), "not a match");
        std::fs::write(d.path().join("data.txt"), "x").expect("write");
        assert_eq!(
            fp.changed(fingerprint)[0].raw,
            "data.txt",
            "a missing file appearing"
        );
        std::fs::write(d.path().join("a.js"), "22").expect("write");
        assert_eq!(fp.changed(fingerprint).len(), 1, "a write (size changed)");
        std::fs::remove_file(d.path().join("a.js")).expect("rm");
        assert_eq!(fp.changed(fingerprint).len(), 1, "a removal");
        let missing = parse_watched_files("nope\\*", d.path(), "").0;
        assert_eq!(fingerprint(&missing[0]), 0, "a missing folder is harmless");
    }
}
