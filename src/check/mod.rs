//! `iisn check`: lint a site's configuration the way IIS and iisnode would read it.
//!
//! Checking runs in three stages, as taplo's linter does, and keeps going after a bad file:
//!
//! ```text
//!  syntax    XML well-formedness, iisnode.yml lines          ┐ config::load_site
//!  model     schema values, collections, hierarchy, env      ┘ (LoadedSite::diagnostics)
//!  semantics what IIS + iisnode will do with the model       ── check::run (this module)
//! ```
//!
//! [`run`] is the semantic stage only: it takes a [`LoadedSite`] and returns new
//! diagnostics, never repeating the loader's. `iisn serve` calls it at start and on every
//! reload, and `iisn check` calls it for each path it is given, so the two commands never
//! disagree. The lints live in [`lints`], one file per family; their codes, default severities
//! and explanations are in [`crate::diag::codes`] (IISN5xxx–IISN7xxx).
//!
//! What this module must not do: print (renderers are in [`render`]), fail on any input (a
//! lint that cannot decide stays silent), or change files. It reads the site's files that a
//! lint is about (scripts, package.json) and runs `node --version` only when it reports that
//! the configured node cannot be found.

pub mod lints;
pub mod render;

use std::path::{Path, PathBuf};

use crate::config::source::{SourceId, SourceMap};
use crate::config::{LoadOptions, LoadSiteError, LoadedSite, load_site};
use crate::diag::{self, Diagnostic, Severity};

/// The semantic lints over a loaded site: diagnostics the loader did not report, sorted by
/// file and position. The loader's own diagnostics stay in `site.diagnostics`; see [`all`] for
/// both together.
pub fn run(site: &LoadedSite) -> Vec<Diagnostic> {
    run_with_path(site, std::env::var("PATH").ok().as_deref())
}

/// [`run`], with the `PATH` in which to look for node given explicitly (`iisn check` passes
/// the one of its [`LoadOptions`], so tests are independent of the machine).
pub fn run_with_path(site: &LoadedSite, path: Option<&str>) -> Vec<Diagnostic> {
    let mut out = lints::run_all(site, path);
    out.retain(|d| !site.diagnostics.contains(d));
    dedup(&mut out);
    diag::sort(&mut out, &site.sources);
    out
}

/// The loader's diagnostics and the semantic lints together, sorted: what `iisn check`
/// prints for a site.
pub fn all(site: &LoadedSite) -> Vec<Diagnostic> {
    all_with_path(site, std::env::var("PATH").ok().as_deref())
}

fn all_with_path(site: &LoadedSite, path: Option<&str>) -> Vec<Diagnostic> {
    let mut out = site.diagnostics.clone();
    out.extend(run_with_path(site, path));
    dedup(&mut out);
    diag::sort(&mut out, &site.sources);
    out
}

fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| {
        seen.insert((
            d.lint.code,
            d.primary.map(|s| (s.source, s.start, s.end)),
            d.message.clone(),
        ))
    });
}

/// One path given to `iisn check`, checked.
#[derive(Debug)]
pub struct Checked {
    /// The path as given.
    pub input: PathBuf,
    pub site: LoadedSite,
    /// What to report for this path (all diagnostics for a folder; for a single file, the
    /// ones in that file and those without a file).
    pub diagnostics: Vec<Diagnostic>,
    /// Files read, for the summary.
    pub files: usize,
}

/// Why a path could not be checked at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckPathError {
    #[error("{path} does not exist")]
    NotFound { path: PathBuf },
    #[error(transparent)]
    LoadSite(#[from] LoadSiteError),
    #[error("{} is not a configuration file", path.display())]
    NotConfig { path: PathBuf },
    #[error("cannot read {path}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Checks one path: a site folder (every web.config and iisnode.yml under it, the hierarchy
/// applied), a `web.config` file (checked within its folder's site, diagnostics limited to
/// that file), an iisnode.yml file, or any other file read as a web.config on its own.
pub fn check_path(path: &Path, opts: &LoadOptions) -> Result<Checked, CheckPathError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CheckPathError::NotFound {
            path: path.to_path_buf(),
        },
        _ => CheckPathError::Unreadable {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    if meta.is_dir() {
        let site = load_site(path, opts)?;
        let mut diagnostics = all_with_path(&site, opts.env.get("PATH"));
        let files = site.sources.files().count();
        if files == 0 && !diagnostics.iter().any(|d| d.severity >= Severity::Warning) {
            diagnostics.insert(0, nothing_checked(&site.root));
        }
        return Ok(Checked {
            input: path.to_path_buf(),
            files,
            site,
            diagnostics,
        });
    }
    // A file named on the command line that cannot be read is a problem with the command
    // (exit 2, as for a missing path), not a finding about the site: IISN0003 is for files
    // found unreadable while walking a folder, which IIS would answer with 500.19.
    if meta.is_file() {
        std::fs::File::open(path).map_err(|source| CheckPathError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    // A script or a page named on the command line would otherwise be read as XML and get
    // a confusing IISN0001; its lints (IISN7xxx) run when its site's folder is checked.
    const NOT_CONFIG: [&str; 11] = [
        "js", "mjs", "cjs", "ts", "jsx", "tsx", "json", "html", "htm", "css", "md",
    ];
    if Path::new(&name)
        .extension()
        .is_some_and(|e| NOT_CONFIG.iter().any(|x| e == *x))
    {
        return Err(CheckPathError::NotConfig {
            path: path.to_path_buf(),
        });
    }
    if name == "web.config" {
        let site = load_site(path, opts)?;
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let id = find_source(&site.sources, &canonical);
        let diagnostics = all_with_path(&site, opts.env.get("PATH"))
            .into_iter()
            .filter(|d| match d.primary {
                None => true,
                Some(s) => Some(s.source) == id,
            })
            .collect();
        return Ok(Checked {
            input: path.to_path_buf(),
            files: 1,
            site,
            diagnostics,
        });
    }
    if name.ends_with(".yml") || name.ends_with(".yaml") {
        return check_yml_file(path, opts);
    }
    check_standalone_config(path, opts)
}

/// IISN0005: a folder with no configuration file passes with nothing checked, so say so
/// (a CI step pointed at the wrong folder would otherwise go green); a warning, so that
/// `--deny-warnings` fails it.
fn nothing_checked(dir: &Path) -> Diagnostic {
    Diagnostic::new(
        &crate::diag::codes::NO_CONFIG_FILES,
        format!(
            "nothing was checked: no web.config in {} or its sub-folders",
            dir.display()
        ),
    )
    .help(
        "Pass the site's root folder (the one holding its web.config), or name the web.config \
         and iisnode.yml files; an iisnode.yml is read only for an application a web.config maps.",
    )
}

fn find_source(sources: &SourceMap, path: &Path) -> Option<SourceId> {
    sources
        .files()
        .find(|(_, f)| f.path() == path)
        .map(|(id, _)| id)
}

/// An iisnode.yml: within the site of its folder when an application there reads it, else
/// on its own (syntax and values only).
fn check_yml_file(path: &Path, opts: &LoadOptions) -> Result<Checked, CheckPathError> {
    let canonical = std::fs::canonicalize(path).map_err(|source| CheckPathError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(dir) = canonical.parent()
        && let Ok(site) = load_site(dir, opts)
        && let Some(id) = find_source(&site.sources, &canonical)
    {
        let diagnostics = all_with_path(&site, opts.env.get("PATH"))
            .into_iter()
            .filter(|d| d.primary.is_some_and(|s| s.source == id))
            .collect();
        return Ok(Checked {
            input: path.to_path_buf(),
            files: 1,
            site,
            diagnostics,
        });
    }
    // Read it on its own, inside an empty stand-in site so it renders like any other.
    let bytes = std::fs::read(path).map_err(|source| CheckPathError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let scratch = Scratch::new()?;
    let mut site = load_site(scratch.dir(), opts)?;
    let id = site.sources.add(canonical, text.clone());
    let raw = crate::config::iisnode_yml::parse(id, &text);
    let mut diagnostics = raw.diagnostics.clone();
    diagnostics.extend(crate::config::iisnode_yml::resolve(&raw).diagnostics);
    dedup(&mut diagnostics);
    diag::sort(&mut diagnostics, &site.sources);
    Ok(Checked {
        input: path.to_path_buf(),
        files: 1,
        site,
        diagnostics,
    })
}

/// Lints that need the site around a web.config (scripts, package.json, static files); they
/// are not reported for a file checked on its own.
fn needs_site(code: &str) -> bool {
    code.starts_with("IISN7") || matches!(code, "IISN6005" | "IISN6022" | "IISN6023")
}

/// A file with another name (`kudu.config`), read as the only web.config of a site.
fn check_standalone_config(path: &Path, opts: &LoadOptions) -> Result<Checked, CheckPathError> {
    let text = std::fs::read(path).map_err(|source| CheckPathError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let scratch = Scratch::new()?;
    let copy = scratch.dir().join("web.config");
    std::fs::write(&copy, text).map_err(|source| CheckPathError::Unreadable {
        path: copy.clone(),
        source,
    })?;
    let mut site = load_site(scratch.dir(), opts)?;
    let diagnostics: Vec<Diagnostic> = all_with_path(&site, opts.env.get("PATH"))
        .into_iter()
        .filter(|d| !needs_site(d.lint.code))
        .collect();
    // Show the file under its own name.
    let shown = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut remapped = SourceMap::new();
    let mut same_ids = true;
    for (id, f) in site.sources.files() {
        let p = if f.path().file_name().is_some_and(|n| n == "web.config") {
            shown.clone()
        } else {
            f.path().to_path_buf()
        };
        same_ids &= remapped.add(p, f.text().to_string()) == id;
    }
    if same_ids {
        site.sources = remapped;
    }
    Ok(Checked {
        input: path.to_path_buf(),
        files: 1,
        site,
        diagnostics,
    })
}

/// A private temporary folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, CheckPathError> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "iisn-check-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|source| CheckPathError::Unreadable {
            path: dir.clone(),
            source,
        })?;
        Ok(Scratch(dir))
    }

    fn dir(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether a set of diagnostics fails the check: any error, or any warning when warnings
/// are denied.
pub fn fails<'a>(diags: impl IntoIterator<Item = &'a Diagnostic>, deny_warnings: bool) -> bool {
    diags.into_iter().any(|d| {
        d.severity == Severity::Error || (deny_warnings && d.severity == Severity::Warning)
    })
}
