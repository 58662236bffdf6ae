//! Watching files: `watchedFiles` recycles, config changes reload, `app_offline.htm`.
//!
//! iisnode watches the entries of `watchedFiles` (`;`-separated, relative to the script's
//! folder, `\` or `/` separators, wildcards in the file name only, not recursive) and, on any
//! write in a watched folder, re-checks every entry of that folder: a plain file by its
//! modification time, a wildcard entry by a fingerprint over the matching files' names,
//! sizes and times, so adding or removing a match counts too. iisn does the same with
//! `notify` events (debounced, so one save is one change however the editor writes) and a
//! polling fallback every `uncFileChangesPollingInterval` for file systems where events do
//! not arrive (network mounts, some containers). The fingerprints decide, so an event that
//! changed nothing recycles nothing.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

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

/// Splits `watchedFiles` as iisnode does.
pub fn parse_watched_files(
    value: &str,
    script_dir: &Path,
    config_overrides: &str,
) -> (Vec<WatchEntry>, Vec<Skipped>) {
    let co = config_overrides.replace('\\', "/");
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for raw in value.split(';').filter(|e| !e.is_empty()) {
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
        let mut dir = script_dir.to_path_buf();
        dir.extend(dir_part.split('/').filter(|s| !s.is_empty()));
        entries.push(WatchEntry {
            raw: raw.to_string(),
            dir,
            name: name.to_string(),
            wildcard: name.contains(['*', '?']),
            config_overrides: !co.is_empty() && norm == co,
        });
    }
    (entries, skipped)
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
        let Ok(m) = std::fs::metadata(e.dir.join(&e.name)) else {
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

/// Quiet time after the last event before checking (one save is one change).
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Watches `dirs` (non-recursively; missing ones are skipped) and sends `()` on
/// every event. The watcher lives as long as the returned value.
pub fn watch_dirs(
    dirs: &BTreeSet<PathBuf>,
) -> (Option<RecommendedWatcher>, mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = &res {
            tracing::trace!(kind = ?ev.kind, paths = ?ev.paths, "watcher: file system event");
            let _ = tx.send(());
        }
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

/// Waits for the next batch of events, or for `poll` to pass: whichever comes first.
/// Returns `false` when the event source is gone and polling is all that is left.
pub async fn next_batch(rx: &mut mpsc::UnboundedReceiver<()>, poll: Duration) -> bool {
    tokio::select! {
        got = rx.recv() => {
            if got.is_none() {
                tokio::time::sleep(poll).await;
                return false;
            }
            // Debounce: wait until events stop for a moment.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            tracing::debug!(debounce = ?DEBOUNCE, "watcher: events settled, checking for changes");
            true
        }
        _ = tokio::time::sleep(poll) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
