//! `iisn init`: a new site from an embedded template.
//!
//! Two steps, so that `--dry-run` and the refusal to overwrite are the same code path as a
//! real run: [`plan`] looks at the destination and decides, for every file, whether it is
//! created or replaced, or whether something is in the way; [`InitPlan::apply`] then writes.
//! Nothing is written unless the whole plan is clear, so a refused `init` leaves the folder
//! exactly as it was. This module does no printing (the command in `cli/init.rs` does) and
//! writes only below the destination folder: template paths are fixed, relative and free of
//! `..` (checked by a unit test), and a replaced symbolic link is removed, never written
//! through. (A sub-folder that is a link to a folder is used as a folder, as `mkdir -p`
//! would.)

pub mod templates;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use templates::{DEFAULT_TEMPLATE, TEMPLATES, Template, TemplateFile};

/// What happens to one file of the template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileAction {
    Create,
    /// The file exists and `--force` was given.
    Replace,
}

/// One file the plan writes.
#[derive(Debug)]
pub struct PlannedFile {
    /// The template path (`public/index.html`), also the path relative to the destination.
    pub rel: &'static str,
    pub target: PathBuf,
    pub contents: String,
    pub action: FileAction,
    /// What is replaced: the target itself, or a file whose name differs only in case
    /// (`Web.config`), which IIS on Windows would read as the same file.
    pub existing: Option<PathBuf>,
}

/// Why a file cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obstacle {
    /// A file (or link) exists there; `--force` replaces it.
    Exists,
    /// A file whose name differs only in case exists (`Web.config` for `web.config`): the
    /// same file on Windows, where the site is deployed; `--force` replaces it.
    ExistsAs(String),
    /// A folder exists where the template has a file; never removed, even with `--force`.
    Folder,
    /// A parent of the file (`public`) exists and is not a folder.
    ParentNotFolder(String),
}

/// A file of the template that something on disk is in the way of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub rel: &'static str,
    pub obstacle: Obstacle,
}

impl Blocked {
    /// Whether `--force` would clear this one.
    pub fn force_clears(&self) -> bool {
        matches!(self.obstacle, Obstacle::Exists | Obstacle::ExistsAs(_))
    }
}

/// Why `init` cannot go ahead.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} is not a folder", .0.display())]
    DestNotFolder(PathBuf),
    #[error("files in the way in {}", .dest.display())]
    Blocked {
        dest: PathBuf,
        blocked: Vec<Blocked>,
    },
    #[error("cannot read {}", .path.display())]
    Inspect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        /// Files already written before the failure (relative paths).
        written: Vec<&'static str>,
        #[source]
        source: std::io::Error,
    },
}

/// Everything `init` will do, decided before anything is written.
#[derive(Debug)]
pub struct InitPlan {
    pub template: &'static Template,
    pub dest: PathBuf,
    pub name: String,
    pub files: Vec<PlannedFile>,
}

/// Fills the template's placeholders.
pub fn render(text: &str, name: &str) -> String {
    text.replace(templates::NAME_PLACEHOLDER, name)
}

/// Checks a `--name`. It ends up in package.json's `name`, a URL path (`--app-path /NAME`),
/// an XML attribute and JavaScript strings, so it follows npm's package name rules
/// (lowercase letters, digits, `-`, `_`, `.`, not starting with `.` or `_`, at most 214
/// characters), which also makes it safe in all of those without escaping.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 214 {
        return Err(format!(
            "the name is {} characters long; npm allows 214",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("`{}` is not allowed in a name", c.escape_default()));
    }
    if name.starts_with('.') || name.starts_with('_') {
        return Err("a name cannot start with `.` or `_`".into());
    }
    if name == "node_modules" || name == "favicon.ico" {
        return Err(format!("`{name}` is reserved by npm"));
    }
    Ok(())
}

/// The name used when neither `--name` nor the folder's name gives one.
pub const FALLBACK_NAME: &str = "iisn-site";

/// The name to use when `--name` is not given: the destination folder's name, made valid
/// (`My Site` becomes `my-site`, `Ünïcode` becomes `unicode`), or [`FALLBACK_NAME`] when
/// nothing usable is left.
pub fn default_name(dest: &Path) -> String {
    derived_name(dest).unwrap_or_else(|| FALLBACK_NAME.to_string())
}

/// The destination folder's name made into a valid package name, if anything is left of it.
/// npm allows only URL-safe ASCII in new package names, so Latin letters with accents lose
/// them (`é` → `e`, `ß` → `ss`) and other characters become `-`.
pub fn derived_name(dest: &Path) -> Option<String> {
    let folder = fs::canonicalize(dest)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dest.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut name = String::new();
    for c in folder.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.') {
            name.push(c);
        } else if let Some(plain) = unaccented(c) {
            name.push_str(plain);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name
        .trim_start_matches(['.', '_', '-'])
        .trim_end_matches('-');
    let name: String = name.chars().take(214).collect();
    validate_name(&name).is_ok().then_some(name)
}

/// A lowercase Latin letter with a diacritic (Latin-1 and Latin Extended-A), as ASCII.
fn unaccented(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' | 'ĸ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// Decides what `init` does in `dest`. With `force`, existing files are replaced; folders in
/// the way, or files where the template needs a folder, are never removed.
pub fn plan(
    template: &'static Template,
    dest: &Path,
    name: &str,
    force: bool,
) -> Result<InitPlan, InitError> {
    match fs::metadata(dest) {
        Ok(m) if !m.is_dir() => return Err(InitError::DestNotFolder(dest.to_path_buf())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(InitError::Inspect {
                path: dest.to_path_buf(),
                source,
            });
        }
    }
    let mut files = Vec::new();
    let mut blocked = Vec::new();
    for f in template.files {
        let target = dest.join(f.path);
        if let Some(parent) = first_non_folder_parent(dest, f.path) {
            blocked.push(Blocked {
                rel: f.path,
                obstacle: Obstacle::ParentNotFolder(parent),
            });
            continue;
        }
        let existing = match find_existing(&target) {
            Ok(e) => e,
            Err(source) => {
                return Err(InitError::Inspect {
                    path: target,
                    source,
                });
            }
        };
        let (action, existing) = match existing {
            None => (FileAction::Create, None),
            Some((_, is_dir)) if is_dir => {
                blocked.push(Blocked {
                    rel: f.path,
                    obstacle: Obstacle::Folder,
                });
                continue;
            }
            Some((path, _)) if force => (FileAction::Replace, Some(path)),
            Some((path, _)) => {
                let obstacle = match path.file_name() {
                    Some(n) if path != target => {
                        Obstacle::ExistsAs(n.to_string_lossy().into_owned())
                    }
                    _ => Obstacle::Exists,
                };
                blocked.push(Blocked {
                    rel: f.path,
                    obstacle,
                });
                continue;
            }
        };
        files.push(PlannedFile {
            rel: f.path,
            target,
            contents: render(f.contents, name),
            action,
            existing,
        });
    }
    if !blocked.is_empty() {
        return Err(InitError::Blocked {
            dest: dest.to_path_buf(),
            blocked,
        });
    }
    Ok(InitPlan {
        template,
        dest: dest.to_path_buf(),
        name: name.to_string(),
        files,
    })
}

/// What exists at `target`: the path itself or, failing that, an entry of its folder whose
/// name differs only in ASCII case (IIS on Windows, like iisn's own loader, treats
/// `Web.config` as `web.config`); with whether it is a folder. Links are not followed.
fn find_existing(target: &Path) -> std::io::Result<Option<(PathBuf, bool)>> {
    match fs::symlink_metadata(target) {
        Ok(m) => return Ok(Some((target.to_path_buf(), m.is_dir()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Ok(None);
    };
    let name = name.to_string_lossy();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .eq_ignore_ascii_case(&name)
        {
            let is_dir = entry.file_type()?.is_dir();
            return Ok(Some((entry.path(), is_dir)));
        }
    }
    Ok(None)
}

/// The first folder on the way from `dest` to `rel` that exists but is not a folder
/// (a symbolic link to a folder counts as a folder, as it would for `mkdir -p`).
fn first_non_folder_parent(dest: &Path, rel: &str) -> Option<String> {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut sofar = dest.to_path_buf();
    for (i, part) in parts.iter().enumerate().take(parts.len().saturating_sub(1)) {
        sofar.push(part);
        if sofar.exists() && !sofar.is_dir() {
            return Some(parts[..=i].join("/"));
        }
        if fs::symlink_metadata(&sofar).is_ok() && !sofar.exists() {
            // A dangling link: create_dir_all would fail on it.
            return Some(parts[..=i].join("/"));
        }
    }
    None
}

impl InitPlan {
    /// The `--app-path` the site is served under, filled (`/my-site`), if the template has one.
    pub fn app_path(&self) -> Option<String> {
        self.template.app_path.map(|p| render(p, &self.name))
    }

    /// The URL path to open once the site runs.
    pub fn open_path(&self) -> String {
        render(self.template.open, &self.name)
    }

    /// The files that already existed and are replaced.
    pub fn replaced(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files
            .iter()
            .filter(|f| f.action == FileAction::Replace)
    }

    /// Writes the files. A replaced file (or symbolic link) is removed first and the new one
    /// created in its place, so a link is never followed out of the folder; a file that
    /// appeared since [`plan`] looked is not overwritten (`create_new`).
    pub fn apply(&self) -> Result<(), InitError> {
        let mut written = Vec::new();
        for f in &self.files {
            let fail = |source, written: &Vec<&'static str>| InitError::Write {
                path: f.target.clone(),
                written: written.clone(),
                source,
            };
            if let Some(parent) = f.target.parent() {
                fs::create_dir_all(parent).map_err(|e| fail(e, &written))?;
            }
            if let Some(existing) = &f.existing {
                match fs::remove_file(existing) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(fail(e, &written)),
                }
            }
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&f.target)
                .map_err(|e| fail(e, &written))?;
            out.write_all(f.contents.as_bytes())
                .map_err(|e| fail(e, &written))?;
            written.push(f.rel);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hello() -> &'static Template {
        templates::find("hello").expect("hello")
    }

    #[test]
    fn names() {
        assert!(validate_name("my-site").is_ok());
        assert!(validate_name("a.b_c-1").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("My").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("<x>").is_err());
        assert!(validate_name(".x").is_err());
        assert!(validate_name("_x").is_err());
        assert!(validate_name("node_modules").is_err());
        assert!(validate_name(&"a".repeat(215)).is_err());
    }

    #[test]
    fn default_names() {
        assert_eq!(default_name(Path::new("/no/such/My Site!")), "my-site");
        assert_eq!(default_name(Path::new("/no/such/.hidden")), "hidden");
        assert_eq!(default_name(Path::new("/no/such/日本")), "iisn-site");
        assert_eq!(derived_name(Path::new("/no/such/日本")), None);
        assert_eq!(default_name(Path::new("/no/such/Ünïcode")), "unicode");
        assert_eq!(
            default_name(Path::new("/no/such/Café Straße")),
            "cafe-strasse"
        );
        assert_eq!(default_name(Path::new("/no/such/Łódź 2")), "lodz-2");
        assert_eq!(default_name(Path::new("/")), "iisn-site");
    }

    proptest! {
        /// Whatever the folder is called, the derived name is valid.
        #[test]
        fn default_name_is_always_valid(folder in "\\PC{0,300}") {
            let name = default_name(&Path::new("/no/such/parent").join(folder.replace('/', "")));
            prop_assert!(validate_name(&name).is_ok(), "{name}");
        }

        /// validate_name never panics, and what it accepts needs no escaping anywhere.
        #[test]
        fn valid_names_need_no_escaping(name in "\\PC{0,40}") {
            if validate_name(&name).is_ok() {
                prop_assert!(!name.contains(['"', '\'', '<', '>', '&', '/', '\\', ' ']));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever subset of a template's files already exists (some with their name in
        /// other case), without --force exactly those block and nothing changes on disk;
        /// with --force the result is the template, and unrelated files are untouched.
        #[test]
        fn refusal_and_force_over_any_existing_subset(
            which in 0usize..5,
            present in proptest::collection::vec(0u8..3, 8),
        ) {
            let t = &TEMPLATES[which];
            let tmp = tempfile::tempdir().expect("tmp");
            let dest = tmp.path();
            fs::write(dest.join("unrelated.txt"), "mine").expect("write");
            let mut expected_blocked = Vec::new();
            for (f, how) in t.files.iter().zip(present.iter().chain(std::iter::repeat(&0))) {
                let name = match how {
                    0 => continue,
                    1 => f.path.to_string(),
                    _ => f.path.to_ascii_uppercase(),
                };
                if name.contains('/') {
                    let parent = Path::new(f.path).parent().expect("parent");
                    fs::create_dir_all(dest.join(parent)).expect("mkdir");
                    let base = name.rsplit('/').next().expect("base");
                    fs::write(dest.join(parent).join(base), "old").expect("write");
                } else {
                    fs::write(dest.join(&name), "old").expect("write");
                }
                expected_blocked.push(f.path);
            }
            let before = snapshot(dest);
            match plan(t, dest, "demo", false) {
                Ok(p) => prop_assert!(expected_blocked.is_empty() && p.replaced().count() == 0),
                Err(InitError::Blocked { blocked, .. }) => {
                    let got: Vec<&str> = blocked.iter().map(|b| b.rel).collect();
                    prop_assert_eq!(got, expected_blocked.clone());
                    prop_assert!(blocked.iter().all(Blocked::force_clears));
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
            prop_assert_eq!(snapshot(dest), before, "planning writes nothing");
            let p = plan(t, dest, "demo", true).expect("force plan");
            prop_assert_eq!(p.replaced().count(), expected_blocked.len());
            p.apply().expect("apply");
            for f in t.files {
                let got = fs::read_to_string(dest.join(f.path)).expect("written");
                prop_assert_eq!(got, render(f.contents, "demo"));
            }
            prop_assert_eq!(fs::read_to_string(dest.join("unrelated.txt")).expect("kept"), "mine");
            // No case variant is left beside the template's file.
            let after = snapshot(dest);
            prop_assert_eq!(after.len(), t.files.len() + 1, "{:?}", after);
        }
    }

    /// Every file under `dir` with its contents, sorted.
    fn snapshot(dir: &Path) -> Vec<(String, String)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
            for e in fs::read_dir(dir).expect("read").flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let rel = p
                        .strip_prefix(root)
                        .expect("under")
                        .to_string_lossy()
                        .into_owned();
                    out.push((rel, fs::read_to_string(&p).unwrap_or_default()));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    #[test]
    fn plan_into_a_new_folder_creates_everything() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dest = tmp.path().join("new");
        let p = plan(hello(), &dest, "demo", false).expect("plan");
        assert_eq!(p.files.len(), hello().files.len());
        assert!(p.files.iter().all(|f| f.action == FileAction::Create));
        assert!(!dest.exists(), "planning writes nothing");
        p.apply().expect("apply");
        let server = fs::read_to_string(dest.join("server.js")).expect("server.js");
        assert!(server.contains("Hello from demo!"));
        assert!(!server.contains("{{"));
    }

    #[test]
    fn existing_files_block_unless_forced() {
        let tmp = tempfile::tempdir().expect("tmp");
        fs::write(tmp.path().join("web.config"), "<configuration/>").expect("write");
        fs::create_dir(tmp.path().join("server.js")).expect("mkdir");
        let Err(InitError::Blocked { blocked, .. }) = plan(hello(), tmp.path(), "x", false) else {
            panic!("expected Blocked");
        };
        assert_eq!(
            blocked,
            vec![
                Blocked {
                    rel: "server.js",
                    obstacle: Obstacle::Folder
                },
                Blocked {
                    rel: "web.config",
                    obstacle: Obstacle::Exists
                },
            ]
        );
        // --force replaces files but never removes a folder.
        let Err(InitError::Blocked { blocked, .. }) = plan(hello(), tmp.path(), "x", true) else {
            panic!("expected Blocked");
        };
        assert_eq!(blocked.len(), 1);
        assert!(!blocked[0].force_clears());
        fs::remove_dir(tmp.path().join("server.js")).expect("rmdir");
        let p = plan(hello(), tmp.path(), "x", true).expect("plan");
        let replaced: Vec<&str> = p.replaced().map(|f| f.rel).collect();
        assert_eq!(replaced, vec!["web.config"]);
        p.apply().expect("apply");
        let wc = fs::read_to_string(tmp.path().join("web.config")).expect("read");
        assert!(wc.contains("iisnode"));
    }

    /// `Web.config` is the same file as `web.config` on Windows: it blocks, and `--force`
    /// replaces it rather than leaving two configurations side by side.
    #[test]
    fn a_name_differing_in_case_counts_as_existing() {
        let tmp = tempfile::tempdir().expect("tmp");
        fs::write(tmp.path().join("Web.config"), "<configuration/>").expect("write");
        let Err(InitError::Blocked { blocked, .. }) = plan(hello(), tmp.path(), "x", false) else {
            panic!("expected Blocked");
        };
        assert_eq!(
            blocked,
            vec![Blocked {
                rel: "web.config",
                obstacle: Obstacle::ExistsAs("Web.config".into())
            }]
        );
        assert!(blocked[0].force_clears());
        let p = plan(hello(), tmp.path(), "x", true).expect("plan");
        assert_eq!(p.replaced().count(), 1);
        p.apply().expect("apply");
        let mut names: Vec<String> = fs::read_dir(tmp.path())
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.eq_ignore_ascii_case("web.config"))
            .collect();
        names.sort();
        assert_eq!(names, vec!["web.config"]);
    }

    #[test]
    fn a_file_where_a_folder_is_needed_blocks() {
        let tmp = tempfile::tempdir().expect("tmp");
        fs::write(tmp.path().join("public"), "").expect("write");
        let express = templates::find("express").expect("express");
        let Err(InitError::Blocked { blocked, .. }) = plan(express, tmp.path(), "x", true) else {
            panic!("expected Blocked");
        };
        assert!(
            blocked
                .iter()
                .all(|b| b.obstacle == Obstacle::ParentNotFolder("public".into()))
        );
        assert_eq!(blocked.len(), 2);
    }

    #[test]
    fn dest_that_is_a_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let f = tmp.path().join("f");
        fs::write(&f, "").expect("write");
        assert!(matches!(
            plan(hello(), &f, "x", true),
            Err(InitError::DestNotFolder(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn force_replaces_a_link_instead_of_writing_through_it() {
        let tmp = tempfile::tempdir().expect("tmp");
        let outside = tmp.path().join("outside.txt");
        fs::write(&outside, "keep me").expect("write");
        let site = tmp.path().join("site");
        fs::create_dir(&site).expect("mkdir");
        std::os::unix::fs::symlink(&outside, site.join("server.js")).expect("symlink");
        plan(hello(), &site, "x", true)
            .expect("plan")
            .apply()
            .expect("apply");
        assert_eq!(fs::read_to_string(&outside).expect("read"), "keep me");
        assert!(
            !fs::symlink_metadata(site.join("server.js"))
                .expect("meta")
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn subdir_fills_its_app_path() {
        let tmp = tempfile::tempdir().expect("tmp");
        let subdir = templates::find("subdir").expect("subdir");
        let p = plan(subdir, tmp.path(), "shop", false).expect("plan");
        assert_eq!(p.app_path().as_deref(), Some("/shop"));
        assert_eq!(p.open_path(), "/shop/");
        let wc = p
            .files
            .iter()
            .find(|f| f.rel == "web.config")
            .expect("web.config");
        assert!(wc.contents.contains(r#"value="/shop""#));
    }
}
