//! File names that ignore case, as on the NTFS volume IIS serves from.
//!
//! On Windows `/Assets/Logo.png`, `/assets/logo.png` and `/ASSETS/LOGO.PNG` are one file:
//! the static file handler serves it for each, and URL Rewrite's IsFile / IsDirectory
//! conditions see it. Linux file systems tell them apart, so a link written in another case
//! than the file works on IIS and would 404 (or fall through to node) here. iisn looks a
//! path up as written first; only when nothing is there does it look for the same names in
//! another case ([`on_disk`]), and uses the file found.
//!
//! The second look must not cost what a miss costs on the hot path (Azure's Kudu rules test
//! IsFile on `public/<url>` for every request that goes to node): each front thread keeps,
//! for [`FRESH`], what the second look found for each path (one cheap hash of the path's
//! bytes when the same path misses again: about 400 instructions on Kudu's path, measured
//! with `bench/instructions.sh`), and the names of the folders it read, folded to lower
//! case. A file added in another case than the request's is found after at most that long;
//! one named as the request names it is found at once, by the first look.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a folder's names are used before they are read again.
const FRESH: Duration = Duration::from_secs(1);
/// Folders remembered per thread.
const MAX_FOLDERS: usize = 512;
/// A folder with more entries is not searched ignoring case (its names are not kept).
const MAX_ENTRIES: usize = 10_000;

/// One folder's names by their lower-case form (sorted: more than one only where names
/// differ in case alone, which a Linux folder allows).
struct Names {
    read: Instant,
    /// `None`: the folder cannot be read, or has more than [`MAX_ENTRIES`] entries.
    by_lower: Option<HashMap<String, Vec<String>>>,
}

thread_local! {
    static FOLDERS: RefCell<HashMap<PathBuf, Names>> = RefCell::new(HashMap::new());
    /// Paths looked up recently that were not there as written, with what [`on_disk`] said
    /// then: the path Kudu's IsFile tests on every request costs one hash of its bytes.
    static MISSES: RefCell<Misses> = const { RefCell::new(HashMap::with_hasher(Quick)) };
}

/// A path's bytes → when it was looked up, and its spelling on disk then.
type Misses = HashMap<Box<[u8]>, (Instant, Option<PathBuf>), Quick>;

/// Paths remembered in [`MISSES`] per thread.
const MAX_MISSES: usize = 4096;

/// A cheap hasher for the miss cache (paths under the site, not chosen by an attacker in a
/// way that matters: the map is bounded and cleared when full).
#[derive(Clone, Copy, Default)]
struct Quick;

impl std::hash::BuildHasher for Quick {
    type Hasher = QuickHasher;
    fn build_hasher(&self) -> QuickHasher {
        QuickHasher(0)
    }
}

/// Multiply-rotate over 8-byte words (the `FxHash` scheme).
struct QuickHasher(u64);

impl std::hash::Hasher for QuickHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Lower case for comparing names: ASCII letters only, the rule every other name
/// comparison in iisn uses (folder configurations, `<location>`, handler paths, request
/// filtering). A wider rule would let one URL name a file under one folder's configuration
/// and be matched against another's: Unicode lower-casing turns the Kelvin sign (U+212A)
/// into `k`, so `/bac\u{212A}ups/x` would reach `backups/x` without `backups/web.config`.
fn fold(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    }
}

fn read_names(dir: &Path) -> Option<HashMap<String, Vec<String>>> {
    let mut names: HashMap<String, Vec<String>> = HashMap::new();
    for (i, entry) in std::fs::read_dir(dir).ok()?.flatten().enumerate() {
        if i >= MAX_ENTRIES {
            return None;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let spellings = names.entry(fold(&name).into_owned()).or_default();
        spellings.push(name);
        spellings.sort();
    }
    Some(names)
}

/// The entry of `dir` named `name` ignoring case, as spelled on disk: `name` itself if it
/// is there, else the lowest-sorting spelling (as the web.config search takes one).
fn find_in(dir: &Path, name: &str) -> Option<String> {
    FOLDERS.with(|folders| {
        let mut folders = folders.borrow_mut();
        let stale = folders.get(dir).is_none_or(|n| n.read.elapsed() >= FRESH);
        if stale {
            if folders.len() >= MAX_FOLDERS {
                folders.clear();
            }
            folders.insert(
                dir.to_path_buf(),
                Names {
                    read: Instant::now(),
                    by_lower: read_names(dir),
                },
            );
        }
        let spellings = folders
            .get(dir)?
            .by_lower
            .as_ref()?
            .get(fold(name).as_ref())?;
        spellings
            .iter()
            .find(|s| *s == name)
            .or_else(|| spellings.first())
            .cloned()
    })
}

/// `path` (under `root`, which is taken as it is) spelled as on disk, when some spelling of
/// it exists and `path` itself does not; `None` when nothing matches (or `path` is not under
/// `root`). Only names below `root` are compared ignoring case.
pub fn on_disk(root: &Path, path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix(root).ok()?;
    let mut actual = root.to_path_buf();
    let mut changed = false;
    for c in rel.components() {
        let Component::Normal(seg) = c else {
            return None;
        };
        let seg = seg.to_str()?;
        let name = find_in(&actual, seg)?;
        changed |= name != seg;
        actual.push(name);
    }
    changed.then_some(actual)
}

/// [`on_disk`], remembered per thread for [`FRESH`].
pub fn on_disk_cached(root: &Path, path: &Path) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let key = path.as_os_str().as_bytes();
    let known = MISSES.with(|m| {
        m.borrow()
            .get(key)
            .filter(|(at, _)| at.elapsed() < FRESH)
            .map(|(_, found)| found.clone())
    });
    if let Some(found) = known {
        return found;
    }
    let found = on_disk(root, path);
    MISSES.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_MISSES {
            m.clear();
        }
        m.insert(key.into(), (Instant::now(), found.clone()));
    });
    found
}

/// `std::fs::metadata` of `path`, or else of its spelling on disk (see [`on_disk`]).
pub fn metadata(root: &Path, path: &Path) -> Option<std::fs::Metadata> {
    match std::fs::metadata(path) {
        Ok(m) => Some(m),
        Err(_) => std::fs::metadata(on_disk_cached(root, path)?).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_in_any_case() {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path();
        std::fs::create_dir_all(root.join("Assets/Img")).expect("mkdir");
        std::fs::write(root.join("Assets/Img/Logo.PNG"), "x").expect("w");
        // (Made before the first look: a folder's names are kept for a second.)
        std::fs::create_dir_all(root.join("backups")).expect("mkdir");
        std::fs::write(root.join("über.js"), "x").expect("w");
        assert_eq!(
            on_disk(root, &root.join("assets/img/logo.png")),
            Some(root.join("Assets/Img/Logo.PNG"))
        );
        // As written: nothing to change.
        assert_eq!(on_disk(root, &root.join("Assets/Img/Logo.PNG")), None);
        assert_eq!(on_disk(root, &root.join("assets/none.png")), None);
        // ASCII letters only, as every other name comparison: not the Kelvin sign for `k`,
        // nor `Ü` for `ü`.
        assert_eq!(on_disk(root, &root.join("bac\u{212A}ups")), None);
        assert_eq!(on_disk(root, &root.join("BAC\u{212A}UPS")), None);
        assert_eq!(on_disk(root, &root.join("\u{dc}ber.js")), None);
        assert_eq!(
            on_disk(root, &root.join("BACKUPS")),
            Some(root.join("backups"))
        );
        assert_eq!(on_disk(root, Path::new("/etc/passwd")), None);
        assert!(metadata(root, &root.join("ASSETS/IMG/LOGO.png")).is_some_and(|m| m.is_file()));
        assert!(metadata(root, &root.join("assets/img")).is_some_and(|m| m.is_dir()));
        // A file added in another case is found once the folder's names are read again.
        std::fs::write(root.join("Assets/Img/New.txt"), "y").expect("w");
        std::thread::sleep(FRESH + Duration::from_millis(50));
        assert_eq!(
            on_disk(root, &root.join("assets/img/new.TXT")),
            Some(root.join("Assets/Img/New.txt"))
        );
    }
}
