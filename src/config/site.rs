//! Loading a whole site: find every web.config, read them, resolve each application.
//!
//! An *application* is one handler-mapped script (iisnode's unit: one process pool per
//! script path). [`load_site`] finds the applications iisn can know without a request:
//! every iisnode handler whose `path` names a concrete file, in every folder that has a
//! web.config, and every script on disk that a mapping matches by file name (a wildcard,
//! `*.js`, or a path without a slash, `server.js`, which also maps `sub/server.js`; marked
//! [`Application::from_wildcard`]: IIS creates those on their first request,
//! but `iisn check`, `iisn config` and the watchers treat them as applications like any
//! other). A script created later is still created on its first request. Loading never fails on a bad value: problems become diagnostics, and an
//! application whose configuration iisnode would reject carries a [`ConfigErrorKind`].

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::env::{self, Environment};
use crate::config::merge;
use crate::config::model::{EffectiveConfig, Entry};
use crate::config::settings::{self, IisnodeSettings, YmlOutcome, YmlSource};
use crate::config::source::{SourceId, SourceMap, Span, Spanned};
use crate::config::web_config::{self, HandlerEntry, RawWebConfig};
use crate::config::xml::{self, Element};
use crate::diag::{Diagnostic, codes};

/// Folders never searched for web.config files: dependencies and hidden folders (`.git`),
/// but not `.well-known`, which iisn serves (ACME challenges keep a web.config there).
/// IIS would read a web.config there only for requests under that folder, which request
/// filtering normally hides anyway; a static file under one that holds a web.config is
/// refused instead ([`unsearched_reason`]).
fn skip_dir(name: &str) -> bool {
    name == "node_modules" || (name.starts_with('.') && !name.eq_ignore_ascii_case(".well-known"))
}

const MAX_DEPTH: usize = 32;

/// Why the web.config search does not read a web.config in the URL folder `rel` (relative
/// to the site root, `/`-separated), or `None` when it does.
pub fn unsearched_reason(rel: &str) -> Option<String> {
    let segments: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(s) = segments.iter().find(|s| skip_dir(s)) {
        return Some(format!(
            "iisn does not search `{s}` folders for web.config files (dependencies and hidden folders)"
        ));
    }
    (segments.len() > MAX_DEPTH).then(|| {
        format!(
            "iisn does not search folders more than {MAX_DEPTH} levels deep for web.config files"
        )
    })
}

/// What to load with.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The environment IIS would have: `%VAR%` expansion and `IISNODE_*` overrides.
    pub env: Environment,
    /// Logical CPUs, for `nodeProcessCountPerApplication="0"`.
    pub cpu_count: usize,
}

impl LoadOptions {
    /// The current process's environment and CPU count.
    pub fn from_process() -> Self {
        LoadOptions {
            env: Environment::from_process(),
            cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Why a site could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadSiteError {
    #[error("site folder {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("cannot read site folder {path}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A folder with a web.config.
#[derive(Debug)]
pub struct Level {
    /// The folder as a URL path relative to the site root (`""`, `api`, `api/v1`).
    pub dir_rel: String,
    pub dir: PathBuf,
    pub file: PathBuf,
    pub source: Option<SourceId>,
    /// `None` when the file could not be read or is not well-formed XML.
    pub config: Option<RawWebConfig>,
    /// Files that sections of this web.config keep their content in (`configSource`), in
    /// the order named, whether they exist or not: a change to one is a change to this
    /// level's configuration.
    pub config_sources: Vec<PathBuf>,
    /// The sources of the `configSource` files that could be read.
    pub extra_sources: Vec<SourceId>,
}

impl Level {
    /// Whether a diagnostic points into this level's files (web.config or a
    /// `configSource` file).
    pub fn owns(&self, source: SourceId) -> bool {
        self.source == Some(source) || self.extra_sources.contains(&source)
    }
}

/// A web.config IIS itself would refuse to load: every URL at or below its folder answers
/// HTTP 500.19 until it is fixed (DECISIONS.md §5).
#[derive(Clone, Debug)]
pub struct LoadFailure {
    /// The folder, as a URL path relative to the site root.
    pub dir_rel: String,
    /// The web.config.
    pub file: PathBuf,
    /// The HRESULT IIS shows (`0x8007000d` malformed, `0x800700b7` duplicate, ...).
    pub hresult: u32,
    /// The first problem IIS would stop at.
    pub diagnostic: Diagnostic,
}

/// Why iisnode would refuse to run an application until its configuration is fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ConfigErrorKind {
    /// A web.config in the chain (or an `IISNODE_*` variable) is invalid.
    WebConfig,
    /// iisnode.yml is invalid or unreadable.
    IisnodeYml,
}

/// One handler-mapped script and its effective settings.
#[derive(Debug)]
pub struct Application {
    /// Absolute path of the entry script.
    pub script: PathBuf,
    /// The script as a URL path relative to the site root (`hello.js`, `api/server.js`).
    pub script_rel: String,
    /// The URL folder whose configuration applies (the script's folder).
    pub dir_rel: String,
    /// The handler mapping that names the script.
    pub handler: HandlerEntry,
    pub script_exists: bool,
    pub settings: IisnodeSettings,
    pub yml: YmlOutcome,
    pub config_error: Option<ConfigErrorKind>,
    /// The environment iisnode adds from `<appSettings>`: non-empty keys, in order.
    pub app_settings: Vec<(String, String)>,
    /// Found on disk by file name, through a wildcard handler (`*.js`, `server*.js`) or one
    /// whose path has no slash (`server.js` also maps `sub/server.js`): IIS creates it on the
    /// first request for the script, so `iisn serve` starts it then, not at launch.
    pub from_wildcard: bool,
}

/// Everything read from a site.
#[derive(Debug)]
pub struct LoadedSite {
    pub root: PathBuf,
    pub sources: SourceMap,
    /// Folders with a web.config, parents before children.
    pub levels: Vec<Level>,
    pub apps: Vec<Application>,
    /// iisnode handlers with wildcard paths (`*.js`): applications are created per request.
    pub wildcard_handlers: Vec<Entry<HandlerEntry>>,
    /// Every diagnostic, deduplicated and sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    env: EnvState,
}

impl LoadedSite {
    /// The merged configuration for a URL folder (`""` = site root). Diagnostics from
    /// merging were reported at load time and are not repeated.
    pub fn effective_for(&self, dir_rel: &str) -> EffectiveConfig {
        effective_for(&self.levels, dir_rel, &mut Vec::new())
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The web.config files IIS would refuse to load (malformed XML, unknown elements or
    /// attributes, duplicate keys or sections...), parents first. `<iisnode>` settings
    /// errors are not among them: IIS loads those files and iisnode shows its own page.
    pub fn load_failures(&self) -> Vec<LoadFailure> {
        let mut out = Vec::new();
        for level in &self.levels {
            // Diagnostics are sorted by file and position: the first is where IIS stops.
            let found = self.diagnostics.iter().find_map(|d| {
                let span = d.primary?;
                let hresult = codes::iis_load_hresult(d.lint)?;
                level.owns(span.source).then_some((hresult, d))
            });
            let failure = match found {
                Some((hresult, d)) => Some((hresult, d.clone())),
                None if level.config.is_none() => Some((
                    0x8007_000d,
                    Diagnostic::new(
                        &codes::XML_SYNTAX,
                        format!("{} could not be read", level.file.display()),
                    ),
                )),
                None => None,
            };
            if let Some((hresult, diagnostic)) = failure {
                out.push(LoadFailure {
                    dir_rel: level.dir_rel.clone(),
                    file: level.file.clone(),
                    hresult,
                    diagnostic,
                });
            }
        }
        out
    }

    /// Every configuration file the site's web.config files consist of: each web.config
    /// and the `configSource` files they name (for watching).
    pub fn config_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for level in &self.levels {
            files.push(level.file.clone());
            files.extend(level.config_sources.iter().cloned());
        }
        files
    }
}

/// A folder's entries as (name, is a folder), sorted by name; `None` when it cannot be read.
/// Walks that list the site (wildcard applications, check's file lints) use it so they see
/// files in the same, stable order.
pub fn sorted_dir(dir: &Path) -> Option<Vec<(String, bool)>> {
    let mut names: Vec<(String, bool)> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let ft = e.file_type().ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), ft.is_dir()))
        })
        .collect();
    names.sort();
    Some(names)
}

/// Whether URL folder `ancestor` is `dir` or one of its parents (segment-wise, ignoring
/// case as IIS does).
pub fn is_ancestor(ancestor: &str, dir: &str) -> bool {
    if ancestor.is_empty() {
        return true;
    }
    let mut a = ancestor.split('/');
    let mut d = dir.split('/');
    loop {
        match (a.next(), d.next()) {
            (None, _) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => {}
            _ => return false,
        }
    }
}

fn join_rel(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

fn effective_for(levels: &[Level], dir_rel: &str, diags: &mut Vec<Diagnostic>) -> EffectiveConfig {
    let mut cfg = merge::iis_defaults();
    for level in levels.iter().filter(|l| is_ancestor(&l.dir_rel, dir_rel)) {
        let Some(config) = &level.config else {
            continue;
        };
        merge::apply(&mut cfg, &config.sections, &level.dir_rel, diags);
        let mut locs: Vec<_> = config
            .locations
            .iter()
            .map(|l| (join_rel(&level.dir_rel, &l.path.value), l))
            .filter(|(full, _)| is_ancestor(full, dir_rel))
            .collect();
        locs.sort_by_key(|(full, _)| full.matches('/').count());
        for (full, loc) in locs {
            merge::apply(&mut cfg, &loc.sections, &full, diags);
            // URL Rewrite scopes a `<location path="sub">`'s rules by the web.config that
            // declares them, not by the location: their input is relative to that file's
            // folder (`sub/x`, not `x`) and so are their targets (observed on IIS 10; the
            // documentation says otherwise). The rules apply to URLs under `sub` only.
            for r in cfg.rules.iter_mut().filter(|r| r.level == full) {
                r.level.clone_from(&level.dir_rel);
            }
        }
    }
    cfg
}

/// Reads a configuration file as UTF-8 text (BOM kept, so offsets match the file).
/// A path through a file (`server.js/iisnode.yml`) is no file, as on Windows, where it is
/// ERROR_PATH_NOT_FOUND and iisnode reads it as "no iisnode.yml".
fn read_text(path: &Path, what: &str) -> Result<Option<String>, Diagnostic> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(Diagnostic::new(
                &codes::FILE_UNREADABLE,
                format!("cannot read {}: {e}", path.display()),
            )
            .help(format!(
                "Make the {what} readable by the user running iisn."
            )));
        }
    };
    if let Some(big_endian) = utf16_bom(&bytes) {
        if what == "iisnode.yml" {
            // iisnode reads iisnode.yml as bytes in the ANSI code page: UTF-16 is not text to it.
            return Err(Diagnostic::new(
                &codes::FILE_ENCODING,
                format!(
                    "{} is UTF-16; iisnode reads iisnode.yml as 8-bit text",
                    path.display()
                ),
            )
            .help("Save iisnode.yml as UTF-8 or ASCII."));
        }
        // IIS's configuration system reads web.config files saved as UTF-16 with a byte order
        // mark (Notepad's "Unicode"); so does iisn. Spans point into the decoded text.
        return decode_utf16(&bytes[2..], big_endian)
            .map(Some)
            .map_err(|offset| {
                Diagnostic::new(
                    &codes::FILE_ENCODING,
                    format!(
                        "{} is UTF-16 but holds an unpaired surrogate at byte {offset}",
                        path.display()
                    ),
                )
                .help("Save the file again as UTF-8 or UTF-16 from a text editor.")
            });
    }
    match String::from_utf8(bytes) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            if what == "iisnode.yml" {
                // iisnode reads bytes in the ANSI code page; keep going, the yml reader
                // warns about non-ASCII text.
                Ok(Some(String::from_utf8_lossy(e.as_bytes()).into_owned()))
            } else {
                Err(Diagnostic::new(
                    &codes::FILE_ENCODING,
                    format!(
                        "{} is not valid UTF-8 (invalid byte at offset {})",
                        path.display(),
                        e.utf8_error().valid_up_to()
                    ),
                )
                .help("Save the file as UTF-8."))
            }
        }
    }
}

/// `Some(big_endian)` when the bytes start with a UTF-16 byte order mark.
fn utf16_bom(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [0xFF, 0xFE, ..] => Some(false),
        [0xFE, 0xFF, ..] => Some(true),
        _ => None,
    }
}

/// UTF-16 (after the byte order mark) to a string; `Err(byte offset)` on an unpaired
/// surrogate. An odd trailing byte is dropped, as a truncated file would be read.
pub fn decode_utf16(bytes: &[u8], big_endian: bool) -> Result<String, usize> {
    let units = bytes.chunks_exact(2).map(|c| {
        if big_endian {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_le_bytes([c[0], c[1]])
        }
    });
    let mut out = String::with_capacity(bytes.len() / 2);
    let mut unit = 0usize;
    for r in char::decode_utf16(units) {
        match r {
            Ok(c) => {
                out.push(c);
                unit += c.len_utf16();
            }
            Err(_) => return Err(2 + 2 * unit),
        }
    }
    Ok(out)
}

/// Finds the folders holding a web.config (any case: `Web.config` is common), parents
/// first, skipping dependencies and hidden folders. A symbolic link to a folder is
/// followed when it leads inside the site and not to one of its own ancestors (a loop):
/// IIS reads a folder's configuration at its path, through links and junctions, so
/// `alias/web.config` applies to `/alias/...` when `alias` links to `real`. Links out of
/// the site are not served, so their configuration never applies.
/// The web.config files of the site under `root`, as [`load_site`] finds them (for
/// noticing a web.config added to or removed from a folder while a site runs).
pub fn discover_config_files(root: &Path) -> Vec<PathBuf> {
    discover(root)
        .map(|found| found.into_iter().map(|(_, file)| file).collect())
        .unwrap_or_default()
}

fn discover(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let canon_root = fs::canonicalize(root).ok();
    // (URL folder, path, depth, the real paths of the folders walked to it, itself last.)
    let mut stack = vec![(
        String::new(),
        root.to_path_buf(),
        0usize,
        canon_root.clone().into_iter().collect::<Vec<PathBuf>>(),
    )];
    let mut walked = 0usize;
    while let Some((rel, dir, depth, chain)) = stack.pop() {
        walked += 1;
        if walked > MAX_FOLDERS_WALKED {
            tracing::warn!(
                "the web.config search stopped after {MAX_FOLDERS_WALKED} folders (links to folders multiply the paths)"
            );
            break;
        }
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if depth == 0 => return Err(e),
            Err(_) => continue,
        };
        let mut subdirs = Vec::new();
        let mut configs = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(ft) = entry.file_type() else { continue };
            // Anything called web.config is the folder's configuration, whatever it is: IIS
            // opens it and answers 500.19 when that fails, so a folder, a link to a folder
            // and a dangling link all become IISN0003 (the folder is not walked: request
            // filtering hides it anyway). A FIFO or socket is left alone: reading one blocks.
            let is_config = name.eq_ignore_ascii_case("web.config");
            let folder = if ft.is_dir() && !is_config {
                Some(chain.last().map(|c| c.join(&name)))
            } else if ft.is_symlink() && !is_config {
                linked_folder(&entry.path(), canon_root.as_deref(), &chain).map(Some)
            } else {
                None
            };
            if let Some(real) = folder {
                if depth < MAX_DEPTH && !skip_dir(&name) {
                    subdirs.push((name, real));
                }
            } else if is_config && (ft.is_file() || ft.is_symlink() || ft.is_dir()) {
                configs.push(entry.path());
            }
        }
        configs.sort();
        // Two spellings in one folder (possible off Windows): the lowest-sorting one wins,
        // as a case-insensitive file system would hold only one.
        if let Some(file) = configs.into_iter().next() {
            found.push((rel.clone(), file));
        }
        subdirs.sort();
        for (name, real) in subdirs.into_iter().rev() {
            let mut next = chain.clone();
            next.extend(real);
            stack.push((join_rel(&rel, &name), dir.join(&name), depth + 1, next));
        }
    }
    found.sort_by(|a, b| {
        let depth = |s: &str| {
            if s.is_empty() {
                0
            } else {
                s.matches('/').count() + 1
            }
        };
        depth(&a.0).cmp(&depth(&b.0)).then_with(|| a.0.cmp(&b.0))
    });
    Ok(found)
}

/// The real path of the folder the symbolic link `link` leads to, when it is one inside
/// the site (`root`, real) and not one of the folders walked to reach the link (`chain`,
/// real, the link's folder last) or an ancestor of them, which would make the walk go
/// round in a loop (two folders linking to each other included).
fn linked_folder(link: &Path, root: Option<&Path>, chain: &[PathBuf]) -> Option<PathBuf> {
    let (root, parent) = (root?, chain.last()?);
    let real = fs::canonicalize(link).ok()?;
    (real.is_dir()
        && real.starts_with(root)
        && !parent.starts_with(&real)
        && !chain.contains(&real))
    .then_some(real)
}

/// Folders the web.config search looks at most (links to folders can multiply the paths
/// even without a loop).
const MAX_FOLDERS_WALKED: usize = 20_000;

/// `configSource` files read for one web.config.
#[derive(Default)]
struct ConfigSources {
    files: Vec<PathBuf>,
    sources: Vec<SourceId>,
}

impl ConfigSources {
    /// Replaces every section that names a `configSource` with the root element of that file,
    /// as IIS does: the file lies in the web.config's folder (or below it), its root element
    /// is the section itself, and the section in web.config has no other content. Spans in
    /// the replaced section point into the other file.
    ///
    /// Only sections iisn reads are resolved (those under `<system.webServer>`, and
    /// `<appSettings>`, which iisnode promotes): .NET sections such as `<connectionStrings>`
    /// often name a file kept out of the repository, and iisn does not emulate them.
    fn resolve(
        &mut self,
        el: &mut Element,
        dir: &Path,
        sources: &mut SourceMap,
        diags: &mut Vec<Diagnostic>,
    ) {
        self.resolve_in(el, false, dir, sources, diags);
    }

    fn resolve_in(
        &mut self,
        el: &mut Element,
        in_web_server: bool,
        dir: &Path,
        sources: &mut SourceMap,
        diags: &mut Vec<Diagnostic>,
    ) {
        for child in &mut el.children {
            let read_here = in_web_server || child.name == "appSettings";
            let Some(attr) = child.attr("configSource").cloned().filter(|_| read_here) else {
                let inside = in_web_server || child.name == "system.webServer";
                if inside || child.name == "location" {
                    self.resolve_in(child, inside, dir, sources, diags);
                }
                continue;
            };
            let bad = |msg: String, help: &str| {
                Diagnostic::new(&codes::CONFIG_SOURCE, msg)
                    .at(attr.value_span)
                    .help(help.to_string())
            };
            let rel = attr.value.trim().replace('\\', "/");
            if rel.is_empty()
                || rel.starts_with('/')
                || rel.contains(':')
                || rel.split('/').any(|s| s == "..")
            {
                diags.push(bad(
                    format!("configSource=\"{}\" is not a file in this folder", attr.value),
                    "IIS only reads a configSource file by a relative path in the web.config's folder or below it (no `..`, no drive or absolute path).",
                ));
                continue;
            }
            let path = rel_to_path(dir, &rel);
            self.files.push(path.clone());
            if !child.children.is_empty()
                || child.attributes.iter().any(|a| {
                    a.name != "configSource"
                        && !a.name.starts_with("xmlns")
                        && !a.name.starts_with("xdt:")
                })
            {
                diags.push(bad(
                    format!("<{}> names a configSource and also has content of its own", child.name),
                    "A section kept in another file must be empty in web.config (IIS answers 500.19 otherwise): move its attributes and elements into the configSource file.",
                ));
                continue;
            }
            let text = match read_text(&path, "web.config") {
                Ok(Some(t)) => t,
                Ok(None) => {
                    diags.push(bad(
                        format!("configSource file {} does not exist", path.display()),
                        "Create the file (its root element is the section, e.g. <rules>...</rules>) or remove the configSource attribute. IIS answers 500.19 (\"Unable to open configSource file\") until then.",
                    ));
                    continue;
                }
                Err(d) => {
                    let id = sources.add(path.clone(), String::new());
                    self.sources.push(id);
                    diags.push(d.at(Span::point(id, 0)));
                    continue;
                }
            };
            let id = sources.add(path.clone(), text);
            self.sources.push(id);
            let text = sources.get(id).text().to_string();
            let root = match xml::parse(id, &text) {
                Ok(r) => r,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            if root.name != child.name {
                diags.push(
                    Diagnostic::new(
                        &codes::CONFIG_SOURCE,
                        format!(
                            "the root element of {} is <{}>, but it is the configSource of <{}>",
                            path.display(),
                            root.name,
                            child.name
                        ),
                    )
                    .at(root.name_span)
                    .help(format!(
                        "A configSource file holds exactly the section it replaces: make <{}> its root element.",
                        child.name
                    )),
                );
                continue;
            }
            let mut attributes: Vec<_> = child
                .attributes
                .iter()
                .filter(|a| a.name != "configSource")
                .cloned()
                .collect();
            attributes.extend(root.attributes);
            child.attributes = attributes;
            child.children = root.children;
        }
    }
}

struct FsYml<'a> {
    sources: &'a mut SourceMap,
}

impl YmlSource for FsYml<'_> {
    fn read_yml(&mut self, path: &Path) -> Result<Option<(SourceId, String)>, Diagnostic> {
        match read_text(path, "iisnode.yml") {
            Ok(Some(text)) => Ok(Some((
                self.sources.add(path.to_path_buf(), text.clone()),
                text,
            ))),
            Ok(None) => Ok(None),
            Err(d) if d.lint == &codes::FILE_UNREADABLE && path.is_dir() => Ok(None),
            Err(mut d) => {
                d.lint = &codes::YML_UNREADABLE;
                d.severity = codes::YML_UNREADABLE.severity;
                Err(d)
            }
        }
    }
}

/// The folder of a site-relative path (`api/server.js` → `api`, `server.js` → ``).
fn parent_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Whether a handler path names one file (no wildcard).
fn is_concrete(path: &str) -> bool {
    !path.contains(['*', '?']) && !path.trim().is_empty()
}

/// `hello.js` or `bin/www` relative to `level` → the script's URL path, refusing `..`.
fn script_rel(level: &str, path: &str) -> Option<String> {
    let p = path.trim().replace('\\', "/");
    let mut parts: Vec<&str> = if level.is_empty() {
        Vec::new()
    } else {
        level.split('/').collect()
    };
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            s => parts.push(s),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A site-relative URL path (`api/server.js`) as a file path under `root`.
/// Whether a proper prefix of site path `rel` (at a `/`) is a file: the rest of `rel` is then
/// PATH_INFO after that file, never a path of its own.
fn under_a_file(root: &Path, rel: &str) -> bool {
    rel.match_indices('/')
        .any(|(i, _)| rel_to_path(root, &rel[..i]).is_file())
}

pub fn rel_to_path(root: &Path, rel: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(rel.split('/').filter(|s| !s.is_empty()));
    p
}

/// IIS's "This configuration section cannot be used at this path" (500.19, 0x80070021): a
/// section that a `<location overrideMode="Deny">` (or `allowOverride="false"`) of a parent
/// web.config locks, written again in a web.config at or below the location's path (in the
/// file itself or in one of its `<location>`s). IIS refuses that file; before this check
/// iisn applied it, so a locked `<handlers>` could be emptied below and a script served as
/// text. A deeper `<location>` in the locking file itself is left alone: IIS's lock is on
/// the configuration files below, and whether it also binds the file that sets it is not
/// established.
fn locked_sections(levels: &[Level], diags: &mut Vec<Diagnostic>) {
    locked_handler_items(levels, diags);
    for level in levels {
        let Some(cfg) = &level.config else { continue };
        for lock in &cfg.locks {
            let locked_at = join_rel(&level.dir_rel, &lock.path);
            // Every configuration block of a file below this one at or below the lock: (its
            // path, its sections).
            for other in levels.iter().filter(|o| is_below(level, o)) {
                for (at, sections) in blocks(other) {
                    if !is_ancestor(&locked_at, &at) {
                        continue;
                    }
                    for d in &sections.declared {
                        if !lock.sections.iter().any(|l| l == &d.value) {
                            continue;
                        }
                        diags.push(
                            Diagnostic::new(
                                &codes::SECTION_LOCKED,
                                format!(
                                    "<{}> cannot be used here: a parent web.config locks it for `/{locked_at}` (its <location> has overrideMode=\"Deny\" or allowOverride=\"false\")",
                                    d.value.rsplit('/').next().unwrap_or(&d.value)
                                ),
                            )
                            .at(d.span)
                            .label(lock.span, "locked here")
                            .help("IIS refuses this file with HTTP 500.19 (0x80070021) for every URL at or below its folder. Remove the section from this file, or set overrideMode=\"Allow\" on the parent's <location> (in place of allowOverride=\"false\")."),
                        );
                    }
                }
            }
        }
    }
}

/// Whether `other` is a web.config in a folder below `level`'s: only such a file is bound
/// by `level`'s locks. A `<location path="api/v2">` in a file above `api/web.config` is read
/// before it, so `api/web.config`'s locks cannot refuse it.
fn is_below(level: &Level, other: &Level) -> bool {
    !other.dir_rel.eq_ignore_ascii_case(&level.dir_rel)
        && is_ancestor(&level.dir_rel, &other.dir_rel)
}

/// The configuration blocks of a web.config: its own sections at its folder, and each
/// `<location>`'s at its path.
fn blocks(level: &Level) -> Vec<(String, &web_config::Sections)> {
    let Some(cfg) = &level.config else {
        return Vec::new();
    };
    std::iter::once((level.dir_rel.clone(), &cfg.sections))
        .chain(
            cfg.locations
                .iter()
                .map(|l| (join_rel(&level.dir_rel, &l.path.value), &l.sections)),
        )
        .collect()
}

/// IIS's finer locks on the handler list (MicrosoftDocs, "How to Use Locking in IIS
/// Configuration", tasks 4 and 5): `lockElements="remove,clear"` on `<handlers>` forbids
/// those directives below, and `lockItem="true"` on an `<add>` forbids removing that entry
/// (or clearing the list) in a lower web.config. IIS refuses such a file (500.19); iisn
/// applied it, and a script whose mapping was removed went out as a file.
fn locked_handler_items(levels: &[Level], diags: &mut Vec<Diagnostic>) {
    for level in levels {
        for (locked_at, sections) in blocks(level) {
            let Some(locking) = &sections.handlers else {
                continue;
            };
            if locking.locked_directives.is_empty() && locking.locked_keys.is_empty() {
                continue;
            }
            let directive = |d: &str| {
                locking
                    .locked_directives
                    .iter()
                    .find(|l| l.value == d)
                    .map(|l| l.span)
            };
            for other in levels.iter().filter(|o| is_below(level, o)) {
                for (at, sections) in blocks(other) {
                    let Some(handlers) = sections.handlers.as_ref() else {
                        continue;
                    };
                    if !is_ancestor(&locked_at, &at) {
                        continue;
                    }
                    for op in &handlers.ops {
                        let (span, what, lock) = match op {
                            web_config::CollectionOp::Remove(k) => {
                                let item = locking
                                    .locked_keys
                                    .iter()
                                    .find(|l| l.value == k.value.trim())
                                    .map(|l| l.span);
                                let Some(lock) = directive("remove").or(item) else {
                                    continue;
                                };
                                (k.span, format!("<remove name=\"{}\"/>", k.value), lock)
                            }
                            web_config::CollectionOp::Clear(span) => {
                                let item = locking.locked_keys.first().map(|l| l.span);
                                let Some(lock) = directive("clear").or(item) else {
                                    continue;
                                };
                                (*span, "<clear/>".to_string(), lock)
                            }
                            web_config::CollectionOp::Add(h) => {
                                let Some(lock) = directive("add") else {
                                    continue;
                                };
                                (
                                    h.name.span,
                                    format!("<add name=\"{}\">", h.name.value),
                                    lock,
                                )
                            }
                        };
                        diags.push(
                            Diagnostic::new(
                                &codes::SECTION_LOCKED,
                                format!(
                                    "{what} cannot be used here: a parent web.config locks the handler list for `/{locked_at}` (lockElements or lockItem)"
                                ),
                            )
                            .at(span)
                            .label(lock, "locked here")
                            .help("IIS refuses this file with HTTP 500.19 for every URL at or below its folder. Keep the mapping, or unlock it in the parent web.config."),
                        );
                    }
                }
            }
        }
    }
}

/// Loads the site at `path` (a folder, or a web.config file whose folder is the site).
pub fn load_site(path: &Path, opts: &LoadOptions) -> Result<LoadedSite, LoadSiteError> {
    let mut root = path.to_path_buf();
    if root.is_file()
        && root
            .file_name()
            .is_some_and(|n| n.eq_ignore_ascii_case("web.config"))
    {
        root = root.parent().map(Path::to_path_buf).unwrap_or_default();
        if root.as_os_str().is_empty() {
            root = PathBuf::from(".");
        }
    }
    if !root.exists() {
        return Err(LoadSiteError::NotFound { path: root });
    }
    let root = fs::canonicalize(&root).map_err(|source| LoadSiteError::Unreadable {
        path: root.clone(),
        source,
    })?;
    let found = discover(&root).map_err(|source| LoadSiteError::Unreadable {
        path: root.clone(),
        source,
    })?;

    let mut sources = SourceMap::new();
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut levels = Vec::new();
    for (dir_rel, file) in found {
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root.clone());
        let mut extra = ConfigSources::default();
        let (source, config) = match read_text(&file, "web.config") {
            Ok(Some(text)) => {
                let id = sources.add(file.clone(), text);
                let text = sources.get(id).text().to_string();
                match xml::parse(id, &text) {
                    Ok(mut root) => {
                        extra.resolve(&mut root, &dir, &mut sources, &mut diags);
                        (Some(id), Some(web_config::read(&root, &mut diags)))
                    }
                    Err(d) => {
                        diags.push(d);
                        (Some(id), None)
                    }
                }
            }
            // Found by the search, yet not there: a link to nothing (or a file removed a
            // moment ago). IIS cannot open it either.
            Ok(None) if fs::symlink_metadata(&file).is_ok() => {
                let target = fs::read_link(&file)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                let id = sources.add(file.clone(), String::new());
                diags.push(
                    Diagnostic::new(
                        &codes::FILE_UNREADABLE,
                        format!(
                            "cannot read {}: it is a symbolic link to {target}, which does not exist",
                            file.display()
                        ),
                    )
                    .at(Span::point(id, 0))
                    .help("Make the link point to a web.config file, or remove it."),
                );
                (Some(id), None)
            }
            Ok(None) => (None, None),
            Err(d) => {
                // Point encoding and read errors at the file itself.
                let id = sources.add(file.clone(), String::new());
                diags.push(d.at(Span::point(id, 0)));
                (Some(id), None)
            }
        };
        levels.push(Level {
            dir_rel,
            dir,
            file,
            source,
            config,
            config_sources: extra.files,
            extra_sources: extra.sources,
        });
    }

    locked_sections(&levels, &mut diags);

    let (env_overrides, env_diags) = env::iisnode_overrides(&opts.env);
    let env_failed = env_diags.iter().any(Diagnostic::is_error);
    diags.extend(env_diags);

    // Applications: concrete iisnode handler paths, per configured folder and per
    // `<location>` (a mapping inside `<location path="api">` maps `api/server.js`, one inside
    // `<location path="server.js">` that very file, as IIS maps a URL with the handlers of
    // its own configuration path).
    let mut apps = Vec::new();
    let mut seen = HashSet::new();
    let mut wildcard_handlers: Vec<Entry<HandlerEntry>> = Vec::new();
    let mut level_dirs: Vec<String> = levels.iter().map(|l| l.dir_rel.clone()).collect();
    for level in &levels {
        for loc in level.config.iter().flat_map(|c| &c.locations) {
            let key = join_rel(&level.dir_rel, &loc.path.value);
            if !level_dirs.iter().any(|d| d.eq_ignore_ascii_case(&key)) {
                level_dirs.push(key);
            }
        }
    }
    for (i, level_rel) in level_dirs.iter().enumerate() {
        let cfg = effective_for(&levels, level_rel, &mut diags);
        // At a `<location>`, only its own mappings (the inherited ones are the folders'
        // and map scripts below by name, on demand, as before).
        let location = i >= levels.len();
        // A `<location>` naming a file: its mappings can map that file and nothing else.
        let at = rel_to_path(&root, level_rel);
        let last = level_rel.rsplit('/').next().unwrap_or(level_rel);
        let file_name = (!level_rel.is_empty() && at.is_file()).then_some(last);
        // One naming nothing on disk yet (`<location path="server.js">` before the build)
        // names that file for a concrete mapping of the same name: `server.js/server.js`
        // would be neither what IIS maps nor what the user meant.
        let missing_file = location && !at.exists();
        for h in cfg.iisnode_handlers() {
            // A mapping the folder's accessPolicy disables never runs (IISN6025 says so).
            if !crate::config::web_config::access::allows(
                cfg.access_policy,
                h.item.require_access.as_ref().map(|a| a.value.as_str()),
            ) {
                continue;
            }
            if location && !h.level.eq_ignore_ascii_case(level_rel) {
                continue;
            }
            let path = &h.item.path.value;
            let names_it = !path.contains(['/', '\\']) && name_matches(path.trim(), last);
            if file_name.is_some() || (missing_file && is_concrete(path) && names_it) {
                if names_it && seen.insert(level_rel.to_ascii_lowercase()) {
                    let dir_rel = parent_of(level_rel).to_string();
                    let exists = file_name.is_some();
                    apps.push((
                        level_rel.clone(),
                        at.clone(),
                        exists,
                        dir_rel,
                        h.item.clone(),
                    ));
                }
                continue;
            }
            if !is_concrete(path) {
                if !wildcard_handlers
                    .iter()
                    .any(|w| w.item.span == h.item.span && w.item.name.value == h.item.name.value)
                {
                    wildcard_handlers.push(h.clone());
                }
                continue;
            }
            let Some(rel) = script_rel(level_rel, path) else {
                continue;
            };
            let script = rel_to_path(&root, &rel);
            let exists = script.is_file();
            if !exists && under_a_file(&root, &rel) {
                // `server.js/api/events`: IIS finds the file `server.js` first and maps the
                // URL as that script plus PATH_INFO, so this mapping never names a script
                // of its own (Azure's SSE samples add one to change a setting).
                continue;
            }
            if !(exists || h.level == *level_rel) || !seen.insert(rel.to_ascii_lowercase()) {
                continue;
            }
            let dir_rel = parent_of(&rel).to_string();
            apps.push((rel, script, exists, dir_rel, h.item.clone()));
        }
    }

    let env_state = EnvState {
        overrides: env_overrides,
        failed: env_failed,
    };
    let mut applications = Vec::new();
    // A handler path without a slash matches by file name in every folder below its own
    // (iisnode issue 189): `server.js` in `sub/` runs with node too, as its own
    // application, which IIS creates on its first request. One with a slash does the same
    // for every file whose path ends with it (`dist/server.js` maps `x/dist/server.js`).
    let by_name_possible = !apps.is_empty();
    let mut on_demand: HashSet<String> = HashSet::new();
    if !wildcard_handlers.is_empty() || by_name_possible {
        let concrete: HashSet<String> = apps.iter().map(|a| a.0.to_ascii_lowercase()).collect();
        for w in wildcard_scripts(&root, &levels) {
            if !concrete.contains(&w.rel.to_ascii_lowercase()) {
                on_demand.insert(w.rel.to_ascii_lowercase());
                apps.push((w.rel, w.script, true, w.dir_rel, w.handler));
            }
        }
    }
    for (rel, script, script_exists, dir_rel, handler) in apps {
        let from_wildcard =
            !is_concrete(&handler.path.value) || on_demand.contains(&rel.to_ascii_lowercase());
        let (app, app_diags) = build_application(
            &AppInputs {
                root: &root,
                levels: &levels,
                opts,
                env: &env_state,
                earlier: &diags,
            },
            Candidate {
                rel,
                script,
                script_exists,
                dir_rel,
                from_wildcard,
                handler,
            },
            &mut sources,
        );
        diags.extend(app_diags);
        applications.push(app);
    }

    dedup(&mut diags);
    crate::diag::sort(&mut diags, &sources);
    Ok(LoadedSite {
        root,
        sources,
        levels,
        apps: applications,
        wildcard_handlers,
        diagnostics: diags,
        env: env_state,
    })
}

/// The `IISNODE_*` overrides read once per load.
#[derive(Debug)]
struct EnvState {
    overrides: Vec<env::EnvOverride>,
    failed: bool,
}

struct AppInputs<'a> {
    root: &'a Path,
    levels: &'a [Level],
    opts: &'a LoadOptions,
    env: &'a EnvState,
    /// Diagnostics found so far: an error in one of the application's web.config files
    /// makes it a configuration error.
    earlier: &'a [Diagnostic],
}

struct Candidate {
    rel: String,
    script: PathBuf,
    script_exists: bool,
    dir_rel: String,
    handler: HandlerEntry,
    from_wildcard: bool,
}

/// Resolves one application's settings (reading its iisnode.yml into `sources`).
fn build_application(
    inputs: &AppInputs<'_>,
    c: Candidate,
    sources: &mut SourceMap,
) -> (Application, Vec<Diagnostic>) {
    let mut app_diags = Vec::new();
    // iisnode reads its section (and appSettings) at the configuration path of the script's
    // URL, so a `<location path="server.js">` naming the script itself applies too.
    let cfg = effective_for(inputs.levels, &c.rel, &mut app_diags);
    let script_dir = c
        .script
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| inputs.root.to_path_buf());
    let resolve_inputs = settings::Inputs {
        effective: &cfg,
        env: &inputs.opts.env,
        env_overrides: &inputs.env.overrides,
        script_dir: &script_dir,
        cpu_count: inputs.opts.cpu_count,
    };
    let (settings, yml) =
        settings::resolve(&resolve_inputs, &mut FsYml { sources }, &mut app_diags);
    let chain: Vec<&Level> = inputs
        .levels
        .iter()
        .filter(|l| is_ancestor(&l.dir_rel, &c.dir_rel))
        .collect();
    let chain_sources: HashSet<SourceId> = chain.iter().filter_map(|l| l.source).collect();
    let web_failed = inputs.env.failed
        || chain.iter().any(|l| l.config.is_none())
        || inputs.earlier.iter().chain(app_diags.iter()).any(|d| {
            // An httpErrors or staticContent section IIS cannot read fails error responses
            // or static files, not iisnode.
            d.is_error()
                && d.lint.code != codes::ERROR_PAGES_UNREADABLE.code
                && d.lint.code != codes::STATIC_CONTENT_UNREADABLE.code
                && d.primary.is_some_and(|s| chain_sources.contains(&s.source))
        });
    let config_error = if web_failed {
        Some(ConfigErrorKind::WebConfig)
    } else if yml.failed {
        Some(ConfigErrorKind::IisnodeYml)
    } else {
        None
    };
    let app_settings = cfg
        .app_settings
        .iter()
        .filter(|e| !e.item.key.value.is_empty())
        .map(|e| (e.item.key.value.clone(), e.item.value.value.clone()))
        .collect();
    let app = Application {
        script: c.script,
        script_rel: c.rel,
        dir_rel: c.dir_rel,
        handler: c.handler,
        script_exists: c.script_exists,
        settings,
        yml,
        config_error,
        app_settings,
        from_wildcard: c.from_wildcard,
    };
    (app, app_diags)
}

impl LoadedSite {
    /// Creates the application for a script that a wildcard handler (`*.js`) maps, as
    /// iisnode does on the first request for it. Its iisnode.yml (if any) is read into
    /// `sources`, which should be a [`SourceMap::continuation`] of the site's map.
    pub fn wildcard_application(
        &self,
        script_rel: &str,
        handler: &HandlerEntry,
        opts: &LoadOptions,
        sources: &mut SourceMap,
    ) -> (Application, Vec<Diagnostic>) {
        // The handler matched the URL ignoring case, and the application is shared by every
        // spelling of it: name the script as it is on disk, so a first request written in
        // another case (`APP.JS`) does not give the application a file that does not exist
        // (on NTFS every spelling is the same file).
        let on_disk = on_disk_spelling(&self.root, script_rel);
        let script_rel = on_disk.as_str();
        let script = rel_to_path(&self.root, script_rel);
        let dir_rel = script_rel
            .rsplit_once('/')
            .map_or(String::new(), |(d, _)| d.to_string());
        build_application(
            &AppInputs {
                root: &self.root,
                levels: &self.levels,
                opts,
                env: &self.env,
                earlier: &self.diagnostics,
            },
            Candidate {
                rel: script_rel.to_string(),
                script_exists: script.is_file(),
                script,
                dir_rel,
                handler: handler.clone(),
                from_wildcard: true,
            },
            sources,
        )
    }
}

/// `rel` (a `/`-separated path under `root`) with each segment spelled as on disk when it
/// is not there as written but one entry of its folder matches it ignoring case; as
/// written where nothing matches.
pub fn on_disk_spelling(root: &Path, rel: &str) -> String {
    let mut dir = root.to_path_buf();
    let mut out: Vec<String> = Vec::new();
    for seg in rel.split('/').filter(|s| !s.is_empty()) {
        let exact = dir.join(seg);
        let name = if fs::symlink_metadata(&exact).is_ok() {
            seg.to_string()
        } else {
            fs::read_dir(&dir)
                .ok()
                .and_then(|entries| {
                    let mut found: Vec<String> = entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.eq_ignore_ascii_case(seg))
                        .collect();
                    found.sort();
                    found.into_iter().next()
                })
                .unwrap_or_else(|| seg.to_string())
        };
        dir.push(&name);
        out.push(name);
    }
    out.join("/")
}

/// Most scripts listed through wildcard handlers (a site with thousands of `.js` files
/// under `*.js` gets the first ones; the others are still created on their first request).
const MAX_WILDCARD_SCRIPTS: usize = 200;
/// Most files looked at while listing them.
const MAX_WILDCARD_WALK: usize = 20_000;

/// A script a wildcard handler maps, found on disk.
struct WildcardScript {
    rel: String,
    script: PathBuf,
    dir_rel: String,
    handler: HandlerEntry,
}

/// Whether a handler `path` with a slash (`dist/server.js`, backslashes read as slashes, a
/// leading slash ignored) names the URL segments `segs` (up to the one being mapped): they
/// end with its segments, starting at or below segment `level_depth` (the folder of the
/// web.config that declares it). IIS matches such a path against any tail of the URL at a
/// segment boundary (observed on IIS 10: `sub/marker.axd` maps `/x/sub/marker.axd`).
pub fn slash_path_matches(path: &str, segs: &[&str], level_depth: usize) -> bool {
    let want = path.trim_start_matches(['/', '\\']);
    let k = want.split(['/', '\\']).count();
    k <= segs.len()
        && segs.len() - k >= level_depth
        && segs[segs.len() - k..]
            .iter()
            .zip(want.split(['/', '\\']))
            .all(|(s, w)| s.eq_ignore_ascii_case(w))
}

/// The number of segments of a site-relative folder (`""` → 0, `a/b` → 2).
pub fn level_depth(level: &str) -> usize {
    if level.is_empty() {
        0
    } else {
        level.split('/').count()
    }
}

/// IIS's handler `path` match for one name (`*` any run, `?` one character), ignoring ASCII
/// case as IIS does.
fn name_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The scripts that iisnode handlers without a slash in their path (`*.js`, `server*.js`,
/// `server.js`) map by file name, as IIS would on a request for each: every file below the
/// handler's folder whose name the mapping matches,
/// when that mapping is the first one matching the name in the file's folder (a child
/// web.config can remove it or map the name to something else first). Skips dependencies
/// and hidden folders, as the web.config search does.
fn wildcard_scripts(root: &Path, levels: &[Level]) -> Vec<WildcardScript> {
    let mut out = Vec::new();
    let mut walked = 0usize;
    let mut stack = vec![(String::new(), root.to_path_buf(), 0usize)];
    // Per folder: its handler mappings and hidden segments.
    let mut cache: std::collections::HashMap<String, (Vec<Entry<HandlerEntry>>, Vec<String>)> =
        std::collections::HashMap::new();
    // Files a `<location>` names: their own configuration decides their mapping.
    let file_locations: HashSet<String> = levels
        .iter()
        .flat_map(|l| {
            l.config
                .iter()
                .flat_map(|c| &c.locations)
                .map(|loc| join_rel(&l.dir_rel, &loc.path.value).to_ascii_lowercase())
        })
        .collect();
    while let Some((rel, dir, depth)) = stack.pop() {
        let Some(names) = sorted_dir(&dir) else {
            continue;
        };
        for (name, is_dir) in names.into_iter().rev() {
            walked += 1;
            if walked > MAX_WILDCARD_WALK || out.len() >= MAX_WILDCARD_SCRIPTS {
                return out;
            }
            if is_dir {
                if depth < MAX_DEPTH && !skip_dir(&name) {
                    stack.push((join_rel(&rel, &name), dir.join(&name), depth + 1));
                }
                continue;
            }
            if name.eq_ignore_ascii_case("web.config") || name.eq_ignore_ascii_case("iisnode.yml") {
                continue;
            }
            let (handlers, hidden) = cache.entry(rel.clone()).or_insert_with(|| {
                let eff = effective_for(levels, &rel, &mut Vec::new());
                let hidden = eff
                    .hidden_segments
                    .iter()
                    .map(|h| h.item.segment.value.trim().to_ascii_lowercase())
                    .collect();
                (eff.handlers, hidden)
            });
            // A script request filtering hides is never requested: IIS never creates it.
            let script_rel = join_rel(&rel, &name);
            if script_rel
                .split('/')
                .any(|seg| hidden.iter().any(|h| seg.eq_ignore_ascii_case(h)))
            {
                continue;
            }
            let own;
            let handlers = if file_locations.contains(&script_rel.to_ascii_lowercase()) {
                own = effective_for(levels, &script_rel, &mut Vec::new()).handlers;
                &own
            } else {
                &*handlers
            };
            let first = handlers.iter().find(|h| {
                let p = h.item.path.value.trim();
                if p.contains(['/', '\\']) {
                    let segs: Vec<&str> = script_rel.split('/').collect();
                    slash_path_matches(p, &segs, level_depth(&h.level))
                } else {
                    name_matches(p, &name)
                }
            });
            let Some(h) = first else { continue };
            if !h.item.is_iisnode() {
                continue;
            }
            out.push(WildcardScript {
                script: dir.join(&name),
                dir_rel: rel.clone(),
                rel: script_rel,
                handler: h.item.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = HashSet::new();
    diags.retain(|d| {
        seen.insert((
            d.lint.code,
            d.primary.map(|s| (s.source, s.start, s.end)),
            d.message.clone(),
        ))
    });
}

/// The span of a value in the file, for callers that want to show where a setting came from.
pub fn span_text(sources: &SourceMap, span: Span) -> Spanned<String> {
    Spanned::new(sources.snippet(span).to_string(), span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_linking_to_each_other_are_walked_once_each_way() {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path();
        for d in ["x", "y"] {
            std::fs::create_dir(root.join(d)).expect("mkdir");
            std::fs::write(root.join(d).join("web.config"), "<configuration/>").expect("w");
        }
        for (link, to) in [
            ("x/l1", "../y"),
            ("x/l2", "../y"),
            ("y/m1", "../x"),
            ("y/m2", "../x"),
        ] {
            std::os::unix::fs::symlink(to, root.join(link)).expect("symlink");
        }
        let found: Vec<String> = discover(root)
            .expect("walks")
            .into_iter()
            .map(|(rel, _)| rel)
            .collect();
        assert_eq!(
            found,
            ["x", "y", "x/l1", "x/l2", "y/m1", "y/m2"],
            "{found:?}"
        );
    }

    #[test]
    fn paths_are_spelled_as_on_disk() {
        let t = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(t.path().join("Sub/deep")).expect("mkdir");
        std::fs::write(t.path().join("Sub/deep/app.js"), "").expect("w");
        assert_eq!(
            on_disk_spelling(t.path(), "sub/DEEP/APP.JS"),
            "Sub/deep/app.js"
        );
        assert_eq!(
            on_disk_spelling(t.path(), "Sub/deep/app.js"),
            "Sub/deep/app.js"
        );
        assert_eq!(on_disk_spelling(t.path(), "sub/none/x.js"), "Sub/none/x.js");
    }

    #[test]
    fn ancestors_are_segment_wise_and_case_insensitive() {
        assert!(is_ancestor("", "a/b"));
        assert!(is_ancestor("a", "A/b"));
        assert!(is_ancestor("a/b", "a/b"));
        assert!(!is_ancestor("a/b", "a/bc"));
        assert!(!is_ancestor("a/b", "a"));
    }

    /// Writes `text` to `rel` under `root`, creating its folders.
    fn write_at(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    /// Regression: mappings inside `<location>` made no application (`iisn config` said "no
    /// application", `iisn check` that no handler maps a script, and nothing started).
    #[test]
    fn mappings_inside_locations_are_applications() {
        let d = tempfile::tempdir().expect("tmp");
        let w = |rel: &str, text: &str| write_at(d.path(), rel, text);
        w(
            "web.config",
            r#"<configuration>
  <location path="api"><system.webServer><handlers>
    <add name="api" path="server.js" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
  <location path="main.js"><system.webServer><handlers>
    <add name="main" path="*.js" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
  <location path="tools/x.js"><system.webServer><handlers>
    <add name="other" path="y.js" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
  <location path="index.html"><system.webServer><handlers>
    <add name="page" path="index.html" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
</configuration>"#,
        );
        for f in [
            "api/server.js",
            "main.js",
            "other.js",
            "tools/x.js",
            "tools/y.js",
            "index.html",
        ] {
            w(f, "");
        }
        let site = load_site(d.path(), &LoadOptions::from_process()).expect("loads");
        let mut apps: Vec<(&str, &str)> = site
            .apps
            .iter()
            .map(|a| (a.script_rel.as_str(), a.dir_rel.as_str()))
            .collect();
        apps.sort();
        // A location naming a folder maps the script in it, as that folder's own web.config
        // would; one naming a file maps that file (never `index.html/index.html`), and a
        // mapping of another name in it (`y.js` at `tools/x.js`) maps nothing.
        assert_eq!(
            apps,
            [
                ("api/server.js", "api"),
                ("index.html", ""),
                ("main.js", "")
            ]
        );
        assert!(site.apps.iter().all(|a| a.script_exists));
    }

    /// A wildcard mapping that a `<location>` naming one file removes does not make that
    /// file an application (IIS serves it as a static file).
    #[test]
    fn a_location_naming_a_file_decides_its_wildcard_mapping() {
        let d = tempfile::tempdir().expect("tmp");
        let w = |rel: &str, text: &str| write_at(d.path(), rel, text);
        w(
            "web.config",
            r#"<configuration>
  <system.webServer><handlers><add name="iisnode" path="*.js" verb="*" modules="iisnode"/></handlers></system.webServer>
  <location path="public/app.js"><system.webServer><handlers><remove name="iisnode"/></handlers></system.webServer></location>
</configuration>"#,
        );
        for f in ["server.js", "public/app.js", "public/other.js"] {
            w(f, "");
        }
        let site = load_site(d.path(), &LoadOptions::from_process()).expect("loads");
        let mut apps: Vec<&str> = site.apps.iter().map(|a| a.script_rel.as_str()).collect();
        apps.sort();
        assert_eq!(apps, ["public/other.js", "server.js"]);
    }

    #[test]
    fn wildcard_handlers_list_the_scripts_on_disk() {
        let d = tempfile::tempdir().expect("tmp");
        let w = |rel: &str, text: &str| write_at(d.path(), rel, text);
        w(
            "web.config",
            r#"<configuration><system.webServer><handlers><add name="iisnode" path="server*.js" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
        );
        for f in [
            "server1.js",
            "Server2.JS",
            "other.js",
            "node_modules/x/server3.js",
            "api/server4.js",
            "static/server5.js",
        ] {
            w(f, "");
        }
        // A child web.config that removes the mapping: IIS serves the file as static there.
        w(
            "static/web.config",
            r#"<configuration><system.webServer><handlers><remove name="iisnode"/></handlers></system.webServer></configuration>"#,
        );
        let site = load_site(d.path(), &LoadOptions::from_process()).expect("loads");
        let mut apps: Vec<(&str, bool)> = site
            .apps
            .iter()
            .map(|a| (a.script_rel.as_str(), a.from_wildcard))
            .collect();
        apps.sort();
        assert_eq!(
            apps,
            [
                ("Server2.JS", true),
                ("api/server4.js", true),
                ("server1.js", true)
            ]
        );
        assert!(name_matches("server*.js", "SERVER-a.js") && !name_matches("server*.js", "a.js"));
        assert!(name_matches("a?c.js", "abc.js") && !name_matches("a?c.js", "ac.js"));
    }

    /// Regression: `<location path="server.js">` holding its mapping, before server.js
    /// exists (built at deploy), made the application `server.js/server.js`, so `iisn check`
    /// reported that missing path and `iisn config` listed it. A location naming a folder
    /// that does not exist yet still maps the script inside it.
    #[test]
    fn a_location_naming_a_missing_file_maps_that_file() {
        let d = tempfile::tempdir().expect("tmp");
        fs::write(
            d.path().join("web.config"),
            r#"<configuration>
  <location path="server.js"><system.webServer><handlers>
    <add name="iisnode" path="server.js" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
  <location path="api"><system.webServer><handlers>
    <add name="api" path="app.js" verb="*" modules="iisnode"/>
  </handlers></system.webServer></location>
</configuration>"#,
        )
        .expect("write");
        let site = load_site(d.path(), &LoadOptions::from_process()).expect("loads");
        let mut apps: Vec<(&str, &str, bool)> = site
            .apps
            .iter()
            .map(|a| (a.script_rel.as_str(), a.dir_rel.as_str(), a.script_exists))
            .collect();
        apps.sort();
        assert_eq!(
            apps,
            [("api/app.js", "api", false), ("server.js", "", false)]
        );
    }

    /// A wildcard mapping (`path="*"`) hands iisnode `server.js/extra` as the script: the
    /// iisnode.yml beside it, `server.js/iisnode.yml`, has a file for a folder. On Windows
    /// that path is ERROR_PATH_NOT_FOUND, which iisnode reads as "no iisnode.yml"
    /// (`CModuleConfiguration::ApplyYamlConfigOverrides`); ENOTDIR here is the same thing,
    /// not an unreadable iisnode.yml (iisnode's config-error page).
    #[test]
    fn a_script_path_below_a_file_has_no_iisnode_yml() {
        let d = tempfile::tempdir().expect("tmp");
        fs::write(
            d.path().join("web.config"),
            r#"<configuration><system.webServer><handlers><add name="iisnode" path="*" verb="*" modules="iisnode"/></handlers></system.webServer></configuration>"#,
        )
        .expect("write");
        fs::write(d.path().join("server.js"), "").expect("write");
        let site = load_site(d.path(), &LoadOptions::from_process()).expect("loads");
        let handler = site.effective_for("").handlers[0].item.clone();
        assert!(handler.is_iisnode());
        let mut sources = site.sources.continuation();
        let (app, diags) = site.wildcard_application(
            "server.js/extra",
            &handler,
            &LoadOptions::from_process(),
            &mut sources,
        );
        assert!(!app.script_exists);
        assert!(
            diags.iter().all(|d| !d.is_error()),
            "{:?}",
            diags.iter().map(|d| &d.message).collect::<Vec<_>>()
        );
    }

    #[test]
    fn script_paths() {
        assert_eq!(script_rel("", "hello.js").as_deref(), Some("hello.js"));
        assert_eq!(
            script_rel("api", "/dist\\app.js").as_deref(),
            Some("api/dist/app.js")
        );
        assert_eq!(script_rel("", "../x.js"), None);
        assert!(!is_concrete("*.js") && !is_concrete("server*.js") && is_concrete("bin/www"));
    }

    #[test]
    fn utf16_is_decoded_both_ways() {
        let text = "<configuration>é💥</configuration>";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode_utf16(&le, false).as_deref(), Ok(text));
        assert_eq!(decode_utf16(&be, true).as_deref(), Ok(text));
        // A lone high surrogate at the third unit (byte 4 of the body, 6 with the BOM).
        assert_eq!(
            decode_utf16(&[0x41, 0, 0x42, 0, 0x00, 0xD8, 0x43, 0], false),
            Err(6)
        );
    }

    proptest::proptest! {
        #[test]
        fn utf16_decoding_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64), be: bool) {
            let _ = decode_utf16(&bytes, be);
        }

        #[test]
        fn utf16_round_trips(text in "\\PC{0,40}") {
            let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
            proptest::prop_assert_eq!(decode_utf16(&le, false), Ok(text));
        }
    }

    /// Regression: a lock binds the web.config files below the one that sets it, not a
    /// `<location>` of a file above it. `api/web.config` locking `<handlers>` made the root
    /// web.config's own `<location path="api/v2">` a locked section set again (IISN1013),
    /// so the root failed to load and the whole site answered 500.19; IIS reads the root file
    /// (and its locations) before `api/web.config`, whose lock cannot refuse it.
    #[test]
    fn a_lock_does_not_bind_a_location_of_a_file_above() {
        let d = tempfile::tempdir().expect("tmp");
        let w = |rel: &str, text: &str| write_at(d.path(), rel, text);
        w(
            "web.config",
            r#"<configuration>
  <system.webServer><handlers><add name="iisnode" path="server.js" verb="*" modules="iisnode"/></handlers></system.webServer>
  <location path="api/v2"><system.webServer><handlers><add name="v2" path="v2.js" verb="*" modules="iisnode"/></handlers></system.webServer></location>
</configuration>"#,
        );
        w(
            "api/web.config",
            r#"<configuration>
  <location path="." overrideMode="Deny"><system.webServer><handlers lockElements="remove,clear"><add name="api" path="api.js" verb="*" modules="iisnode"/></handlers></system.webServer></location>
</configuration>"#,
        );
        w("server.js", "");
        w("api/api.js", "");
        let site = load_site(d.path(), &LoadOptions::from_process()).expect("loads");
        let locked: Vec<&Diagnostic> = site
            .diagnostics
            .iter()
            .filter(|d| d.lint.code == codes::SECTION_LOCKED.code)
            .collect();
        assert!(locked.is_empty(), "{locked:#?}");
        assert!(site.load_failures().is_empty());

        // A file below the lock is still bound, its `<location>`s too.
        w(
            "api/v2/web.config",
            r#"<configuration><location path="x"><system.webServer><handlers><clear/></handlers></system.webServer></location></configuration>"#,
        );
        let site = load_site(d.path(), &LoadOptions::from_process()).expect("loads");
        let failures: Vec<String> = site
            .load_failures()
            .into_iter()
            .map(|f| f.dir_rel)
            .collect();
        assert_eq!(failures, ["api/v2"]);
    }
}
