//! A web.config iisn has not read, found as a file is about to be served.
//!
//! IIS reads a folder's web.config when a request for that folder comes in, so a
//! web.config copied into a folder applies to the very next request: its handler mappings
//! keep a script from being sent as text, and a broken one gives 500.19 (DECISIONS.md §5).
//! iisn reads the configuration when it starts and when a watched file changes; a
//! web.config that appears in a folder nobody watches (a new folder, or one that had none)
//! is found by the next poll, seconds later, and the folders it never searches
//! (`node_modules`, hidden folders, very deep ones: [`unsearched_reason`]) not at all.
//!
//! So before a static file or a folder listing goes out, every folder of its URL from the
//! site root down (the URL's folders, as IIS reads configuration by path, through links)
//! that iisn has no web.config for is looked at: one `stat` of the folder per
//! request, and a read of its entries only when the folder changed since the last look. If
//! one holds a web.config, the file is not served: the request gets 500.19 naming the file,
//! and the configuration is read again at once ([`super::super::events::Events`]'s poke)
//! so that the next request follows it. Requests that go to node are not affected: what
//! could leak is the content of files, and only the static file handler sends that.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::config::site::unsearched_reason;

/// A web.config in a folder of the path being served that the configuration does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// The web.config.
    pub file: PathBuf,
    /// Its folder.
    pub dir: PathBuf,
    /// Why iisn will not read it (`None`: it will, once the configuration is read again).
    pub never: Option<String>,
}

impl Unread {
    /// What iisn says about it (the terminal's warning, the 500.19 page's message).
    pub fn message(&self) -> String {
        match &self.never {
            None => format!(
                "{} appeared after iisn read the configuration; iisn reads it now, and the next request follows it",
                self.file.display()
            ),
            Some(reason) => format!(
                "{reason}, but IIS would apply {} to the files below it: iisn serves none of them; move the file, or hide the folder (hiddenSegments)",
                self.file.display()
            ),
        }
    }

    /// IIS's 500.19 for a file or listing below it (`iisn serve` answers it, `iisn route`
    /// shows it).
    pub fn error(&self) -> super::errors::IisError {
        let fault = super::errors::ConfigFault {
            hresult: 0x8007_000d,
            message: self.message(),
            file: self.file.clone(),
            line: 0,
            column: 0,
            source_lines: Vec::new(),
        };
        super::errors::IisError::config_invalid(fault, self.dir.clone())
    }
}

/// Folders known to hold a web.config, and what was last seen in the others.
#[derive(Debug)]
pub struct UnreadCheck {
    root: PathBuf,
    /// Folders whose web.config is part of the configuration.
    known: HashSet<PathBuf>,
    /// Per folder looked at: its modification time then, and the web.config it held.
    seen: Mutex<HashMap<PathBuf, (SystemTime, Option<PathBuf>)>>,
}

/// How old a folder's modification time must be for what was seen in it to be trusted.
const RECENT: std::time::Duration = std::time::Duration::from_secs(1);

/// Folders remembered at most (a site with more is looked at afresh past that).
const MAX_SEEN: usize = 4096;

impl UnreadCheck {
    /// For a site under `root` whose configuration holds the web.config files `files`.
    pub fn new(root: &Path, files: impl IntoIterator<Item = PathBuf>) -> UnreadCheck {
        UnreadCheck {
            root: root.to_path_buf(),
            known: files
                .into_iter()
                .filter_map(|f| f.parent().map(Path::to_path_buf))
                .collect(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The first web.config (from the root down) in the folders of the site path
    /// `site_path` (a normalised, decoded URL path relative to the site, `/a/b.txt`) that the
    /// configuration does not hold. The folders are the URL's, as IIS reads configuration
    /// by path (through links), each spelled as on disk ([`super::ci_path`]); `site_path` is
    /// a file's, or a folder's when `is_dir` (a listing).
    pub fn find(&self, site_path: &str, is_dir: bool) -> Option<Unread> {
        let mut segments: Vec<&str> = site_path.split('/').filter(|s| !s.is_empty()).collect();
        // (A default document's URL is its folder's, `/docs/`.)
        if !is_dir && !site_path.ends_with('/') {
            segments.pop();
        }
        let mut dir = self.root.clone();
        let mut url_dir = String::new();
        for i in 0..=segments.len() {
            if i > 0 {
                let seg = segments[i - 1];
                dir.push(seg);
                if std::fs::symlink_metadata(&dir).is_err() {
                    // Another spelling, as the file was found; nothing there at all: nothing
                    // below it is served either.
                    dir = super::ci_path::on_disk_cached(&self.root, &dir)?;
                }
                if !url_dir.is_empty() {
                    url_dir.push('/');
                }
                url_dir.push_str(&dir.file_name()?.to_string_lossy());
            }
            if self.known.contains(&dir) {
                continue;
            }
            if let Some(file) = self.web_config_in(&dir) {
                return Some(Unread {
                    file,
                    dir: dir.clone(),
                    never: unsearched_reason(&url_dir),
                });
            }
        }
        None
    }

    /// The web.config in `dir` (any case: a file, a link, or a folder, which cannot be
    /// read), as the web.config search takes it; looked up again only when the folder changed.
    fn web_config_in(&self, dir: &Path) -> Option<PathBuf> {
        let mtime = std::fs::metadata(dir).and_then(|m| m.modified()).ok()?;
        // (A folder changed in the last moments is read again: its time has the kernel's
        // coarse clock, so a second change within one tick leaves it as it was.)
        let settled = SystemTime::now()
            .duration_since(mtime)
            .is_ok_and(|age| age > RECENT);
        if settled
            && let Ok(seen) = self.seen.lock()
            && let Some((at, found)) = seen.get(dir)
            && *at == mtime
        {
            return found.clone();
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .eq_ignore_ascii_case("web.config")
                    && e.file_type()
                        .is_ok_and(|t| t.is_file() || t.is_symlink() || t.is_dir())
            })
            .map(|e| e.path())
            .collect();
        found.sort();
        let found = found.into_iter().next();
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= MAX_SEEN {
                seen.clear();
            }
            seen.insert(dir.to_path_buf(), (mtime, found.clone()));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_web_config_the_configuration_does_not_hold_is_found() {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path();
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        std::fs::create_dir_all(root.join("node_modules/p")).expect("mkdir");
        std::fs::write(root.join("web.config"), "<configuration/>").expect("w");
        std::fs::write(root.join("a/b/x.js"), "x").expect("w");
        std::fs::write(root.join("node_modules/p/y.js"), "y").expect("w");
        let check = UnreadCheck::new(root, [root.join("web.config")]);
        assert_eq!(check.find("/a/b/x.js", false), None);
        assert_eq!(check.find("/a/b", true), None);
        assert_eq!(check.find("/a/b/", false), None);

        // A web.config appears in a folder that had none; the cached look is redone
        // because the folder changed.
        std::fs::write(root.join("a/Web.Config"), "<configuration/>").expect("w");
        let found = check.find("/A/b/x.js", false).expect("found");
        assert_eq!(found.file, root.join("a/Web.Config"));
        assert_eq!(found.dir, root.join("a"));
        assert_eq!(found.never, None);
        // A default document (`/a/b/` serves a/b/index.html) is below it too.
        assert!(check.find("/a/b/", false).is_some());

        // One in a folder the search skips: iisn will never read it.
        std::fs::write(root.join("node_modules/p/web.config"), "<configuration/>").expect("w");
        let found = check.find("/node_modules/p/y.js", false).expect("found");
        assert!(found.never.is_some_and(|r| r.contains("node_modules")));

        // A folder named web.config is one IIS cannot read (500.19), as the search takes it.
        std::fs::create_dir_all(root.join("c/web.config")).expect("mkdir");
        let found = check.find("/c/z.txt", false).expect("found");
        assert_eq!(found.file, root.join("c/web.config"));
        // A folder that does not exist: nothing below it to serve.
        assert_eq!(check.find("/nowhere/z.txt", false), None);
    }
}
