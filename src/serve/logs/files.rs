//! The log files themselves: naming, lazy creation, rollover, pruning, `index.html`, and the
//! stderr tail for the developer error page.
//!
//! Rules, from iisnode's `interceptor.js` (iisnode-engine.md §6.3-6.5), with iisn's choices:
//!
//! * one file per worker process and stream, named `<hostname>-<pid>-<stdout|stderr>-<ms>.txt`,
//!   created on the first write (a silent stream leaves no file);
//! * before a write, a file already holding **more than** `max_file_bytes` is closed and a new
//!   one started, so a file can pass the limit by one write (test 110);
//! * each new file prunes the directory: every regular file except `index.html` counts (not
//!   only log files, as in iisnode), and the least recently modified go first until both the
//!   total size and the file count are within their limits; files that cannot be deleted are
//!   skipped;
//! * each new file rewrites `index.html`;
//! * bytes are written as they come: LF stays LF (iisnode turned `\n` into `\r\n` in strings).
//!
//! Pruning and `index.html` are best effort, as in iisnode: their failures never fail a write
//! (another worker sharing the directory may be doing the same thing at the same moment).
//! Nothing here panics on I/O errors or on what it finds in the directory.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::serve::pages::escape_html;

/// How much of the stderr log the developer error page shows ("the last 64k").
pub const STDERR_TAIL_BYTES: usize = 65536;

/// `maxLogFiles="0"` behaves as iisnode's fallback.
const DEFAULT_MAX_FILES: u64 = 20;

/// The listing iisn keeps in the log directory; never pruned, never listed.
const INDEX_FILE: &str = "index.html";

/// Prefix of the temporary file `index.html` is written to before it is renamed into place.
/// Such files live for a moment only, so pruning ignores them.
const INDEX_TMP_PREFIX: &str = ".iisn-index-";

/// The page template; see [`render_template`] for its placeholders.
const INDEX_TEMPLATE: &str = include_str!("index.html");

/// Logging settings of one application, shared by its workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// `loggingEnabled`. When false, [`LogFile::write`] does nothing and [`stderr_tail`]
    /// finds nothing.
    pub enabled: bool,
    /// Absolute: `<scriptDir>/<logDirectory>`.
    pub dir: PathBuf,
    /// `maxLogFileSizeInKB * 1024`.
    pub max_file_bytes: u64,
    /// `maxTotalLogFileSizeInKB * 1024`.
    pub max_total_bytes: u64,
    /// `maxLogFiles`; 0 behaves as 20.
    pub max_files: u32,
    /// Replaces `%COMPUTERNAME%` in file names.
    pub hostname: String,
}

impl LogSettings {
    fn file_limit(&self) -> u64 {
        if self.max_files == 0 {
            DEFAULT_MAX_FILES
        } else {
            u64::from(self.max_files)
        }
    }
}

/// Which stream of the worker a file captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Stdout,
    Stderr,
}

impl StreamKind {
    /// The word used in file names and in `index.html`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Stdout => "stdout",
            StreamKind::Stderr => "stderr",
        }
    }
}

/// The current log file of one stream of one worker process.
#[derive(Debug)]
pub struct LogFile {
    settings: Arc<LogSettings>,
    pid: u32,
    kind: StreamKind,
    current: Option<PathBuf>,
    /// Bytes written to `current` by this object (iisnode's `currentSize`).
    written: u64,
    /// Timestamp of the last file started, so names are never reused.
    last_ms: u64,
}

impl LogFile {
    /// Nothing is created until the first [`write`](Self::write).
    pub fn new(settings: Arc<LogSettings>, pid: u32, kind: StreamKind) -> Self {
        LogFile {
            settings,
            pid,
            kind,
            current: None,
            written: 0,
            last_ms: 0,
        }
    }

    /// Appends `bytes` to the current file, first starting a new file when there is none yet
    /// or the current one already holds more than `max_file_bytes`. Starting a file creates
    /// the directory (with parents), prunes old files and rewrites `index.html`.
    ///
    /// Empty writes, and every write when logging is disabled, do nothing. A current file
    /// deleted by someone else (another worker's pruning) is recreated under the same name, as
    /// iisnode's open-append-close did; a deleted directory starts a new file.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() || !self.settings.enabled {
            return Ok(());
        }
        let path = match &self.current {
            Some(p) if self.written <= self.settings.max_file_bytes => p.clone(),
            _ => self.start_file()?,
        };
        let mut file = match open_append(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The directory went away (someone cleared the logs): start over in a new one.
                let path = self.start_file()?;
                open_append(&path)?
            }
            Err(e) => return Err(e),
        };
        file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// The file the next write goes to (unless it rolls over); `None` before the first write.
    pub fn current_path(&self) -> Option<&Path> {
        self.current.as_deref()
    }

    /// Creates the next file, empty, and does the housekeeping that comes with a new file:
    /// as iisnode's interceptor rolls over, the folder is pruned before the file exists, so
    /// it may then hold `maxLogFiles` + 1 files.
    fn start_file(&mut self) -> io::Result<PathBuf> {
        let settings = &self.settings;
        fs::create_dir_all(&settings.dir)?;
        prune(settings);
        let mut ms = now_ms().max(self.last_ms + 1);
        // `create_new` guarantees a fresh name even if a file with this one exists already
        // (two rollovers in one millisecond, or a pid reused across runs).
        let path = loop {
            let path =
                settings
                    .dir
                    .join(log_file_name(&settings.hostname, self.pid, self.kind, ms));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => break path,
                Err(e)
                    if e.kind() == io::ErrorKind::AlreadyExists && ms - self.last_ms < 10_000 =>
                {
                    ms += 1;
                }
                Err(e) => return Err(e),
            }
        };
        self.last_ms = ms;
        self.current = Some(path.clone());
        self.written = 0;
        // Best effort, as in iisnode: a failed listing must not stop the logging.
        let _ = write_index(settings);
        Ok(path)
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn log_file_name(hostname: &str, pid: u32, kind: StreamKind, ms: u64) -> String {
    format!("{hostname}-{pid}-{}-{ms}.txt", kind.as_str())
}

/// A file name that looks like a log file, split as iisnode's index regex
/// `(.+)-(\d+)-(stderr|stdout)-(\d+)\.txt$` splits it (the host part is greedy).
#[derive(Debug, PartialEq, Eq)]
struct ParsedName<'a> {
    computername: &'a str,
    pid: u64,
    kind: StreamKind,
    created: u64,
}

fn parse_log_name(name: &str) -> Option<ParsedName<'_>> {
    fn number(s: &str) -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Digits too long for u64 still match the regex; saturate rather than drop the file.
        Some(s.parse().unwrap_or(u64::MAX))
    }
    let stem = name.strip_suffix(".txt")?;
    let (rest, created) = stem.rsplit_once('-')?;
    let (rest, kind) = rest.rsplit_once('-')?;
    let (computername, pid) = rest.rsplit_once('-')?;
    let kind = match kind {
        "stdout" => StreamKind::Stdout,
        "stderr" => StreamKind::Stderr,
        _ => return None,
    };
    if computername.is_empty() {
        return None;
    }
    Some(ParsedName {
        computername,
        pid: number(pid)?,
        kind,
        created: number(created)?,
    })
}

/// What iisnode's interceptor does as a worker starts, before the application writes
/// anything: creates the log folder and prunes it (once per stream in iisnode; the second
/// finds nothing more to do). Best effort, as there.
pub fn prepare(settings: &LogSettings) {
    if settings.enabled && fs::create_dir_all(&settings.dir).is_ok() {
        prune(settings);
    }
}

/// Deletes the least recently modified files until the directory is within both limits
/// (iisnode's `purgeOldLogs`).
fn prune(settings: &LogSettings) {
    let Ok(entries) = fs::read_dir(&settings.dir) else {
        return;
    };
    let mut files: Vec<(SystemTime, PathBuf, u64)> = Vec::new();
    let mut total: u64 = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == OsStr::new(INDEX_FILE) || name.to_string_lossy().starts_with(INDEX_TMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        // Follows symlinks, like node's statSync: a link to a file counts as a file.
        let Ok(meta) = fs::metadata(&path) else {
            continue; // deleted meanwhile by another worker
        };
        if !meta.is_file() {
            continue;
        }
        total = total.saturating_add(meta.len());
        files.push((meta.modified().unwrap_or(UNIX_EPOCH), path, meta.len()));
    }
    let max_files = settings.file_limit();
    let mut count = files.len() as u64;
    let within = |total: u64, count: u64| total <= settings.max_total_bytes && count <= max_files;
    if within(total, count) {
        return;
    }
    files.sort();
    for (_, path, size) in files {
        // A file that cannot be deleted is left alone, as iisnode does.
        if fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(size);
            count -= 1;
            if within(total, count) {
                break;
            }
        }
    }
}

/// The last `max` bytes of the newest `<hostname>-<pid>-stderr-<ms>.txt`, decoded lossily.
/// `None` when logging is disabled, no such file exists, or it is empty.
///
/// iisnode read the oldest such file and, past 64 KiB, nothing at all (it seeked +65536 from
/// the end); iisn reads the newest and really keeps its end (DECISIONS.md §14).
pub fn stderr_tail(settings: &LogSettings, pid: u32, max: usize) -> Option<String> {
    if !settings.enabled || max == 0 {
        return None;
    }
    let prefix = format!("{}-{pid}-stderr-", settings.hostname);
    let newest = fs::read_dir(&settings.dir)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let ms = name.strip_prefix(&prefix)?.strip_suffix(".txt")?;
            if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((ms.parse::<u64>().unwrap_or(u64::MAX), name))
        })
        .max()?;
    let mut file = File::open(settings.dir.join(newest.1)).ok()?;
    let len = file.metadata().ok()?.len();
    let max = max as u64;
    let start = len.saturating_sub(max);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes).ok()?;
    let mut text: &[u8] = &bytes;
    if start > 0 {
        // The cut may fall inside a UTF-8 sequence: drop its continuation bytes.
        let skip = text
            .iter()
            .take(3)
            .take_while(|b| (**b & 0xC0) == 0x80)
            .count();
        text = &text[skip..];
    }
    if text.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(text).into_owned())
}

/// One row of the index, with iisnode's field names (its page read the same array).
#[derive(Serialize)]
struct IndexEntry<'a> {
    file: &'a str,
    computername: &'a str,
    pid: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    created: u64,
}

/// Rewrites `<dir>/index.html`: the log files now in the directory, newest first, as an HTML
/// table (readable without scripts) and as a JSON array in a `<script type="application/json">`
/// element. Every name is escaped: a file name cannot inject markup.
///
/// The page is written to a temporary file and renamed over `index.html`, so a browser never
/// sees half a page and two workers rewriting it at once cannot interleave.
pub fn write_index(settings: &LogSettings) -> io::Result<()> {
    fs::create_dir_all(&settings.dir)?;
    let names: Vec<String> = fs::read_dir(&settings.dir)?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let mut entries: Vec<IndexEntry<'_>> = names
        .iter()
        .filter_map(|file| {
            let p = parse_log_name(file)?;
            Some(IndexEntry {
                file,
                computername: p.computername,
                pid: p.pid,
                kind: p.kind.as_str(),
                created: p.created,
            })
        })
        .collect();
    entries.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.file.cmp(b.file)));
    let html = render_index(&entries, now_ms());

    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tmp = settings.dir.join(format!(
        "{INDEX_TMP_PREFIX}{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let result =
        fs::write(&tmp, html).and_then(|()| fs::rename(&tmp, settings.dir.join(INDEX_FILE)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn render_index(entries: &[IndexEntry<'_>], updated_ms: u64) -> String {
    let mut rows = String::new();
    for e in entries {
        let class = if e.kind == "stderr" {
            " class=\"stderr\""
        } else {
            ""
        };
        let _ = writeln!(
            rows,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td><time datetime=\"{}\">{}</time></td>\
             <td><a href=\"{}\">log</a></td></tr>",
            escape_html(e.computername),
            e.pid,
            e.kind,
            iso_utc(e.created),
            readable_utc(e.created),
            escape_html(&percent_encode(e.file)),
        );
    }
    if entries.is_empty() {
        rows.push_str("<tr><td colspan=\"5\">No log files.</td></tr>\n");
    }
    // serde_json cannot fail on these plain structs; an empty array is a safe fallback.
    let json = serde_json::to_string(entries).unwrap_or_else(|_| "[]".into());
    // JSON strings may hold `<`, `>` and `&`; as \u escapes they cannot end the script element.
    let json = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    render_template(INDEX_TEMPLATE, |key| match key {
        "rows" => Some(rows.clone()),
        "json" => Some(json.clone()),
        "updated_iso" => Some(iso_utc(updated_ms)),
        "updated_text" => Some(readable_utc(updated_ms)),
        _ => None,
    })
}

/// Replaces `{{name}}` placeholders in one pass: inserted text is never scanned again, so data
/// that happens to contain `{{...}}` stays as it is. Unknown names are left in place.
fn render_template(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        match after
            .find("}}")
            .and_then(|close| Some((close, value(&after[..close])?)))
        {
            Some((close, v)) => {
                out.push_str(&v);
                rest = &after[close + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a file name is always a
/// relative URL to that file (a `:` cannot make it a `javascript:` link, `#`/`?` cannot cut it).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Civil date and time in UTC of a Unix time in milliseconds.
pub(crate) fn civil_utc(ms: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    let millis = (ms % 1000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        millis,
    )
}

/// `2024-05-01T12:34:56.789Z`
fn iso_utc(ms: u64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil_utc(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `2024-05-01 12:34:56.789 UTC`, replaced by local time in the browser when scripts run.
fn readable_utc(ms: u64) -> String {
    let (y, mo, d, h, mi, s, milli) = civil_utc(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{milli:03} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn settings(dir: &Path) -> LogSettings {
        LogSettings {
            enabled: true,
            dir: dir.to_path_buf(),
            max_file_bytes: 128 * 1024,
            max_total_bytes: 1024 * 1024,
            max_files: 20,
            hostname: "box".into(),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn log_names(dir: &Path) -> Vec<String> {
        names(dir).into_iter().filter(|n| n != INDEX_FILE).collect()
    }

    /// Sets a file's mtime, so pruning order does not depend on timing.
    fn set_mtime(path: &Path, secs: u64) {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open for mtime");
        f.set_modified(t).expect("set mtime");
    }

    #[test]
    fn nothing_is_created_before_the_first_write() {
        let tmp = TempDir::new().expect("tempdir");
        let dir = tmp.path().join("iisnode");
        let mut log = LogFile::new(Arc::new(settings(&dir)), 42, StreamKind::Stdout);
        assert!(log.current_path().is_none());
        log.write(b"").expect("empty write");
        assert!(!dir.exists(), "an empty write creates nothing");
        assert!(log.current_path().is_none());
    }

    #[test]
    fn first_write_creates_directory_file_and_index() {
        let tmp = TempDir::new().expect("tempdir");
        let dir = tmp.path().join("logs").join("deep");
        let before = now_ms();
        let mut log = LogFile::new(Arc::new(settings(&dir)), 4242, StreamKind::Stdout);
        log.write(b"Request1\nRequest2\n").expect("write");
        let after = now_ms();

        let path = log.current_path().expect("a current file").to_path_buf();
        let name = path
            .file_name()
            .and_then(OsStr::to_str)
            .expect("utf-8 name")
            .to_string();
        let ms: u64 = name
            .strip_prefix("box-4242-stdout-")
            .and_then(|r| r.strip_suffix(".txt"))
            .and_then(|r| r.parse().ok())
            .expect("name is <host>-<pid>-stdout-<ms>.txt");
        assert!((before..=after).contains(&ms));
        assert_eq!(names(&dir), vec![name.clone(), INDEX_FILE.to_string()]);
        // LF as written, no CRLF conversion.
        assert_eq!(fs::read(&path).expect("read"), b"Request1\nRequest2\n");
        let index = fs::read_to_string(dir.join(INDEX_FILE)).expect("index");
        assert!(index.contains(&name));
        assert!(index.contains("Index was last updated"));
    }

    #[test]
    fn streams_get_separate_files_and_writes_append() {
        let tmp = TempDir::new().expect("tempdir");
        let s = Arc::new(settings(tmp.path()));
        let mut out = LogFile::new(s.clone(), 7, StreamKind::Stdout);
        let mut err = LogFile::new(s, 7, StreamKind::Stderr);
        out.write(b"a\n").expect("write");
        err.write(b"oops\n").expect("write");
        out.write(b"b\n").expect("write");
        let out_path = out.current_path().expect("stdout file");
        let err_path = err.current_path().expect("stderr file");
        assert!(out_path.to_string_lossy().contains("box-7-stdout-"));
        assert!(err_path.to_string_lossy().contains("box-7-stderr-"));
        assert_eq!(fs::read(out_path).expect("read"), b"a\nb\n");
        assert_eq!(fs::read(err_path).expect("read"), b"oops\n");
        assert_eq!(log_names(tmp.path()).len(), 2);
    }

    #[test]
    fn disabled_logging_writes_nothing() {
        let tmp = TempDir::new().expect("tempdir");
        let dir = tmp.path().join("iisnode");
        let s = LogSettings {
            enabled: false,
            ..settings(&dir)
        };
        let mut log = LogFile::new(Arc::new(s), 1, StreamKind::Stdout);
        log.write(b"hello\n").expect("write");
        assert!(!dir.exists());
    }

    #[test]
    fn rollover_at_the_size_limit_test_110() {
        let tmp = TempDir::new().expect("tempdir");
        let s = Arc::new(LogSettings {
            max_file_bytes: 1024,
            ..settings(tmp.path())
        });
        let mut log = LogFile::new(s, 9, StreamKind::Stdout);
        let line = [b'x'; 1024];
        log.write(&line).expect("write 1");
        log.write(b"\n")
            .expect("newline fits: the file holds exactly the limit");
        let first = log.current_path().expect("file").to_path_buf();
        log.write(&line).expect("write 2");
        log.write(b"\n").expect("newline");
        let second = log.current_path().expect("file").to_path_buf();
        assert_ne!(first, second);
        // index.html + two stdout logs, as test 110 expects.
        assert_eq!(names(tmp.path()).len(), 3);
        assert_eq!(fs::metadata(&first).expect("meta").len(), 1025);
        assert_eq!(fs::metadata(&second).expect("meta").len(), 1025);
    }

    #[test]
    fn rollover_with_exact_limit_waits_for_one_more_byte() {
        let tmp = TempDir::new().expect("tempdir");
        let s = Arc::new(LogSettings {
            max_file_bytes: 4,
            ..settings(tmp.path())
        });
        let mut log = LogFile::new(s, 9, StreamKind::Stdout);
        log.write(b"abcd").expect("write");
        log.write(b"e").expect("write: 4 is not more than 4");
        assert_eq!(log_names(tmp.path()).len(), 1);
        log.write(b"f").expect("write: 5 is more than 4");
        assert_eq!(log_names(tmp.path()).len(), 2);
    }

    #[test]
    fn names_are_never_reused_within_one_millisecond() {
        let tmp = TempDir::new().expect("tempdir");
        let s = Arc::new(LogSettings {
            max_file_bytes: 0,
            ..settings(tmp.path())
        });
        let mut log = LogFile::new(s, 5, StreamKind::Stderr);
        for i in 0..10u8 {
            log.write(&[b'0' + i]).expect("write");
        }
        let logs = log_names(tmp.path());
        assert_eq!(
            logs.len(),
            10,
            "every write rolled over to a distinct file: {logs:?}"
        );
        let mut all = Vec::new();
        for n in &logs {
            all.extend(fs::read(tmp.path().join(n)).expect("read"));
        }
        all.sort();
        assert_eq!(all, b"0123456789");
    }

    #[test]
    fn pruning_by_count_keeps_the_newest() {
        let tmp = TempDir::new().expect("tempdir");
        let s = Arc::new(LogSettings {
            max_file_bytes: 0,
            max_files: 3,
            ..settings(tmp.path())
        });
        let mut log = LogFile::new(s, 5, StreamKind::Stdout);
        let mut created = Vec::new();
        for i in 0..10u64 {
            log.write(b"line\n").expect("write");
            let p = log.current_path().expect("file").to_path_buf();
            // Make the modification order explicit: file i is older than file i+1.
            set_mtime(&p, 1_000_000 + i);
            created.push(
                p.file_name()
                    .and_then(OsStr::to_str)
                    .expect("name")
                    .to_string(),
            );
        }
        // Pruned to 3 before each new file: the 3 newest before the last, and the last.
        let mut newest: Vec<String> = created[6..].to_vec();
        newest.sort();
        assert_eq!(log_names(tmp.path()), newest);
        let index = fs::read_to_string(tmp.path().join(INDEX_FILE)).expect("index");
        for n in &newest {
            assert!(index.contains(n.as_str()), "index lists {n}");
        }
        assert!(
            !index.contains(created[0].as_str()),
            "index drops pruned files"
        );
    }

    #[test]
    fn pruning_by_total_size_keeps_the_newest() {
        let tmp = TempDir::new().expect("tempdir");
        let s = Arc::new(LogSettings {
            max_file_bytes: 0,
            max_total_bytes: 250,
            ..settings(tmp.path())
        });
        let mut log = LogFile::new(s, 5, StreamKind::Stdout);
        let mut created = Vec::new();
        for i in 0..6u64 {
            log.write(&[b'y'; 100]).expect("write");
            let p = log.current_path().expect("file").to_path_buf();
            set_mtime(&p, 2_000_000 + i);
            created.push(
                p.file_name()
                    .and_then(OsStr::to_str)
                    .expect("name")
                    .to_string(),
            );
        }
        // Each new file prunes down to <= 250 bytes before its own 100 are written: the
        // previous two files (200 bytes) plus the new one survive.
        let mut newest: Vec<String> = created[3..].to_vec();
        newest.sort();
        assert_eq!(log_names(tmp.path()), newest);
    }

    #[test]
    fn a_foreign_file_counts_for_pruning_and_can_be_deleted() {
        let tmp = TempDir::new().expect("tempdir");
        let foreign = tmp.path().join("notes.md");
        fs::write(&foreign, b"not a log").expect("write foreign");
        set_mtime(&foreign, 10);
        fs::create_dir(tmp.path().join("subdir")).expect("subdir");
        let s = Arc::new(LogSettings {
            max_file_bytes: 0,
            max_files: 2,
            ..settings(tmp.path())
        });
        let mut log = LogFile::new(s, 5, StreamKind::Stdout);
        log.write(b"a").expect("write");
        let first = log.current_path().expect("file").to_path_buf();
        set_mtime(&first, 20);
        // Two regular files (notes.md and the first log): within the limit, and the next
        // file is pruned for before it exists.
        assert!(foreign.exists());
        log.write(b"b").expect("write");
        let second = log.current_path().expect("file").to_path_buf();
        set_mtime(&second, 30);
        assert!(foreign.exists());
        log.write(b"c").expect("write");
        // Three files before the third log: the oldest, notes.md, goes; directories are not
        // counted or touched.
        assert!(!foreign.exists());
        assert!(first.exists());
        assert!(tmp.path().join("subdir").is_dir());
        assert_eq!(log_names(tmp.path()).len(), 4, "three logs and subdir");
    }

    #[test]
    fn index_html_is_never_pruned_nor_counted() {
        let tmp = TempDir::new().expect("tempdir");
        let s = Arc::new(LogSettings {
            max_file_bytes: 0,
            max_files: 1,
            ..settings(tmp.path())
        });
        let mut log = LogFile::new(s, 5, StreamKind::Stdout);
        for _ in 0..3 {
            log.write(b"z").expect("write");
        }
        let all = names(tmp.path());
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all.contains(&INDEX_FILE.to_string()));
    }

    #[test]
    fn zero_max_files_means_twenty() {
        let tmp = TempDir::new().expect("tempdir");
        let s = Arc::new(LogSettings {
            max_file_bytes: 0,
            max_files: 0,
            ..settings(tmp.path())
        });
        let mut log = LogFile::new(s, 5, StreamKind::Stdout);
        for _ in 0..25 {
            log.write(b"z").expect("write");
        }
        assert_eq!(log_names(tmp.path()).len(), 21);
    }

    #[test]
    fn a_current_file_deleted_by_someone_else_is_recreated() {
        let tmp = TempDir::new().expect("tempdir");
        let mut log = LogFile::new(Arc::new(settings(tmp.path())), 5, StreamKind::Stdout);
        log.write(b"one\n").expect("write");
        let path = log.current_path().expect("file").to_path_buf();
        fs::remove_file(&path).expect("delete");
        log.write(b"two\n").expect("write");
        assert_eq!(log.current_path(), Some(path.as_path()));
        assert_eq!(fs::read(&path).expect("read"), b"two\n");
    }

    #[test]
    fn a_deleted_directory_is_recreated_with_a_new_file() {
        let tmp = TempDir::new().expect("tempdir");
        let dir = tmp.path().join("iisnode");
        let mut log = LogFile::new(Arc::new(settings(&dir)), 5, StreamKind::Stdout);
        log.write(b"one\n").expect("write");
        fs::remove_dir_all(&dir).expect("clear logs");
        log.write(b"two\n").expect("write");
        let path = log.current_path().expect("file");
        assert_eq!(fs::read(path).expect("read"), b"two\n");
        assert!(dir.join(INDEX_FILE).exists());
    }

    #[test]
    fn unwritable_directory_returns_an_error() {
        let tmp = TempDir::new().expect("tempdir");
        // A path below a regular file cannot be created, even by root.
        let blocker = tmp.path().join("file");
        fs::write(&blocker, b"").expect("write");
        let mut log = LogFile::new(
            Arc::new(settings(&blocker.join("logs"))),
            5,
            StreamKind::Stdout,
        );
        assert!(log.write(b"x").is_err());
        assert!(log.current_path().is_none());
        assert!(write_index(&settings(&blocker.join("logs"))).is_err());
    }

    #[test]
    fn stderr_tail_reads_the_newest_file_only() {
        let tmp = TempDir::new().expect("tempdir");
        let s = settings(tmp.path());
        // Lexical and directory order would pick the first; the timestamps say otherwise.
        fs::write(tmp.path().join("box-77-stderr-1000.txt"), b"old\n").expect("write");
        fs::write(tmp.path().join("box-77-stderr-999999.txt"), b"newest\n").expect("write");
        fs::write(tmp.path().join("box-77-stderr-20000.txt"), b"middle\n").expect("write");
        fs::write(tmp.path().join("box-77-stdout-9999999.txt"), b"stdout\n").expect("write");
        fs::write(
            tmp.path().join("box-771-stderr-9999999.txt"),
            b"other pid\n",
        )
        .expect("write");
        fs::write(
            tmp.path().join("otherbox-77-stderr-9999999.txt"),
            b"other host\n",
        )
        .expect("write");
        assert_eq!(
            stderr_tail(&s, 77, STDERR_TAIL_BYTES).as_deref(),
            Some("newest\n")
        );
        assert_eq!(stderr_tail(&s, 78, STDERR_TAIL_BYTES), None);
    }

    #[test]
    fn stderr_tail_keeps_only_the_last_bytes() {
        let tmp = TempDir::new().expect("tempdir");
        let s = settings(tmp.path());
        let mut content = vec![b'a'; 100_000];
        content.extend_from_slice(b"THE END");
        fs::write(tmp.path().join("box-3-stderr-5.txt"), &content).expect("write");
        let tail = stderr_tail(&s, 3, STDERR_TAIL_BYTES).expect("tail");
        assert_eq!(tail.len(), STDERR_TAIL_BYTES);
        assert!(tail.ends_with("aaaTHE END"));
        assert_eq!(stderr_tail(&s, 3, 3).as_deref(), Some("END"));
    }

    #[test]
    fn stderr_tail_drops_a_cut_utf8_sequence() {
        let tmp = TempDir::new().expect("tempdir");
        let s = settings(tmp.path());
        fs::write(tmp.path().join("box-3-stderr-5.txt"), "x€yz".as_bytes()).expect("write");
        // The last 4 bytes start inside "€" (3 bytes): its 2 trailing bytes are dropped.
        assert_eq!(stderr_tail(&s, 3, 4).as_deref(), Some("yz"));
    }

    #[test]
    fn stderr_tail_is_none_for_empty_files_and_disabled_logging() {
        let tmp = TempDir::new().expect("tempdir");
        let s = settings(tmp.path());
        fs::write(tmp.path().join("box-3-stderr-5.txt"), b"").expect("write");
        assert_eq!(stderr_tail(&s, 3, STDERR_TAIL_BYTES), None);
        fs::write(tmp.path().join("box-3-stderr-5.txt"), b"boom").expect("write");
        let off = LogSettings {
            enabled: false,
            ..s.clone()
        };
        assert_eq!(stderr_tail(&off, 3, STDERR_TAIL_BYTES), None);
        let missing = settings(&tmp.path().join("nope"));
        assert_eq!(stderr_tail(&missing, 3, STDERR_TAIL_BYTES), None);
    }

    #[test]
    fn stderr_tail_follows_rollover() {
        let tmp = TempDir::new().expect("tempdir");
        let s = Arc::new(LogSettings {
            max_file_bytes: 4,
            ..settings(tmp.path())
        });
        let mut log = LogFile::new(s.clone(), 11, StreamKind::Stderr);
        log.write(b"first file\n").expect("write");
        log.write(b"second file\n").expect("write");
        assert_eq!(
            stderr_tail(&s, 11, STDERR_TAIL_BYTES).as_deref(),
            Some("second file\n")
        );
    }

    #[test]
    fn parse_log_name_matches_iisnode_regex() {
        assert_eq!(
            parse_log_name("my-host-12-stderr-1700000000000.txt"),
            Some(ParsedName {
                computername: "my-host",
                pid: 12,
                kind: StreamKind::Stderr,
                created: 1_700_000_000_000,
            })
        );
        assert!(parse_log_name("index.html").is_none());
        assert!(parse_log_name("-12-stdout-1.txt").is_none());
        assert!(parse_log_name("h-12-stdlog-1.txt").is_none());
        assert!(parse_log_name("h-x-stdout-1.txt").is_none());
        assert!(parse_log_name("h-1-stdout-.txt").is_none());
        assert!(parse_log_name("h-1-stdout-1.txt.bak").is_none());
    }

    #[test]
    fn index_lists_newest_first_and_highlights_stderr() {
        let tmp = TempDir::new().expect("tempdir");
        let s = settings(tmp.path());
        fs::write(tmp.path().join("box-1-stdout-1000.txt"), b"").expect("write");
        fs::write(tmp.path().join("box-1-stderr-3000.txt"), b"").expect("write");
        fs::write(tmp.path().join("box-2-stdout-2000.txt"), b"").expect("write");
        fs::write(tmp.path().join("readme.txt"), b"").expect("write");
        write_index(&s).expect("index");
        let html = fs::read_to_string(tmp.path().join(INDEX_FILE)).expect("read");
        let a = html
            .find("href=\"box-1-stderr-3000.txt\"")
            .expect("stderr row");
        let b = html.find("href=\"box-2-stdout-2000.txt\"").expect("row 2");
        let c = html.find("href=\"box-1-stdout-1000.txt\"").expect("row 3");
        assert!(a < b && b < c, "newest first");
        assert!(html.contains("<tr class=\"stderr\"><td>box</td><td>1</td><td>stderr</td>"));
        assert!(!html.contains("readme.txt"));
        assert!(html.contains("<time datetime=\"1970-01-01T00:00:03.000Z\">"));
        assert!(html.contains(
            r#"{"file":"box-1-stderr-3000.txt","computername":"box","pid":1,"type":"stderr","created":3000}"#
        ));
        assert!(!html.contains("{{"), "every placeholder is filled");
        // No temporary file is left behind.
        assert!(
            !names(tmp.path())
                .iter()
                .any(|n| n.starts_with(INDEX_TMP_PREFIX))
        );
    }

    #[test]
    fn index_escapes_hostile_file_names() {
        let tmp = TempDir::new().expect("tempdir");
        let s = settings(tmp.path());
        let evil = "<script>alert('x')<!--&\"{{rows}}-1-stdout-1.txt";
        fs::write(tmp.path().join(evil), b"").expect("write");
        fs::write(tmp.path().join("javascript:alert(1)-1-stdout-2.txt"), b"").expect("write");
        write_index(&s).expect("index");
        let html = fs::read_to_string(tmp.path().join(INDEX_FILE)).expect("read");
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<!--&"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;!--&amp;&quot;{{rows}}"));
        assert!(html.contains("\\u003cscript\\u003ealert('x')\\u003c!--\\u0026\\\"{{rows}}"));
        assert!(html.contains("href=\"javascript%3Aalert%281%29-1-stdout-2.txt\""));
        // The embedded JSON still parses back to the real names.
        let start = html.find("type=\"application/json\"").expect("json block");
        let body = &html[start..];
        let open = body.find('>').expect(">") + 1;
        let close = body.find("</script>").expect("end");
        let parsed: serde_json::Value = serde_json::from_str(&body[open..close]).expect("json");
        let files: Vec<&str> = parsed
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|e| e["file"].as_str())
            .collect();
        assert!(files.contains(&evil));
    }

    #[test]
    fn index_shows_control_bytes_in_names_as_hex() {
        let tmp = TempDir::new().expect("tempdir");
        let s = settings(tmp.path());
        fs::write(tmp.path().join("bell\u{7}host-1-stdout-1.txt"), b"").expect("write");
        write_index(&s).expect("index");
        let html = fs::read_to_string(tmp.path().join(INDEX_FILE)).expect("read");
        assert!(html.contains("<td>bell[x07]host</td>"));
        assert!(html.contains("href=\"bell%07host-1-stdout-1.txt\""));
    }

    #[test]
    fn template_placeholders_are_replaced_once() {
        let out = render_template("a{{x}}b{{y}}c{{", |k| {
            (k == "x").then(|| "{{x}}".to_string())
        });
        assert_eq!(out, "a{{x}}b{{y}}c{{");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            readable_utc(4_102_444_799_999),
            "2099-12-31 23:59:59.999 UTC"
        );
    }
}
