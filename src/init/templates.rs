//! The templates `iisn init` writes, embedded in the binary.
//!
//! Each template is a plain folder under the repository's top-level `templates/`, readable
//! and runnable as a site (`iisn serve templates/hello`); the files are compiled in with
//! `include_str!`, so the installed binary needs no source tree. The one placeholder,
//! `{{name}}`, is filled by [`super::render`]. A unit test compares the list below with the
//! folders on disk, so a file added to a template but not listed here fails the build's
//! tests instead of silently missing from `iisn init`.

/// The placeholder every template may use: the site's name (`--name`, or the folder's).
pub const NAME_PLACEHOLDER: &str = "{{name}}";

/// One file of a template: its path relative to the template folder (`/`-separated) and its
/// text, placeholders unfilled.
#[derive(Debug)]
pub struct TemplateFile {
    pub path: &'static str,
    pub contents: &'static str,
}

/// A template: a name for `--template`, what it is, and how to run and open it.
#[derive(Debug)]
pub struct Template {
    pub name: &'static str,
    /// One line for `iisn init --list`.
    pub summary: &'static str,
    /// The `--app-path` `iisn serve` needs, placeholders unfilled (`/{{name}}`), if any.
    pub app_path: Option<&'static str>,
    /// The URL path to open once it runs, placeholders unfilled.
    pub open: &'static str,
    pub files: &'static [TemplateFile],
}

impl Template {
    /// Whether the template has a `package.json` whose dependencies `npm install` fetches.
    pub fn needs_npm(&self) -> bool {
        self.files.iter().any(|f| f.path == "package.json")
    }
}

/// `template_files!("hello" => ["web.config", ...])`: the files, embedded at compile time.
macro_rules! template_files {
    ($dir:literal => [$($path:literal),+ $(,)?]) => {
        &[$(TemplateFile {
            path: $path,
            contents: include_str!(concat!("../../templates/", $dir, "/", $path)),
        }),+]
    };
}

/// The default for `--template`.
pub const DEFAULT_TEMPLATE: &str = "hello";

/// Every template, in the order `--list` prints them.
pub static TEMPLATES: &[Template] = &[
    Template {
        name: "hello",
        summary: "a plain node http server, no dependencies; every URL goes to server.js",
        app_path: None,
        open: "/",
        files: template_files!("hello" => [
            ".gitignore",
            "README.md",
            "iisnode.yml",
            "server.js",
            "web.config",
        ]),
    },
    Template {
        name: "express",
        summary: "express with Azure's Kudu-style web.config: static files from public/, the rest to the app",
        app_path: None,
        open: "/",
        files: template_files!("express" => [
            ".gitignore",
            "README.md",
            "iisnode.yml",
            "package.json",
            "public/about.html",
            "public/css/site.css",
            "server.js",
            "web.config",
        ]),
    },
    Template {
        name: "spa",
        summary: "a static front end in public/ and an API under /api; deep links fall back to index.html",
        app_path: None,
        open: "/",
        files: template_files!("spa" => [
            ".gitignore",
            "README.md",
            "iisnode.yml",
            "public/index.html",
            "public/main.js",
            "public/style.css",
            "server.js",
            "web.config",
        ]),
    },
    Template {
        name: "websocket",
        summary: "a WebSocket echo server (ws) with IIS's WebSocket module off and sticky sessions",
        app_path: None,
        open: "/",
        files: template_files!("websocket" => [
            ".gitignore",
            "README.md",
            "iisnode.yml",
            "package.json",
            "server.js",
            "web.config",
        ]),
    },
    Template {
        name: "subdir",
        summary: "an app under a virtual path (--app-path /NAME) that knows its base path",
        app_path: Some("/{{name}}"),
        open: "/{{name}}/",
        files: template_files!("subdir" => [
            ".gitignore",
            "README.md",
            "iisnode.yml",
            "server.js",
            "static/site.css",
            "web.config",
        ]),
    },
];

/// The template called `name`.
pub fn find(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// The names, for clap's possible values and error messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().map(|t| t.name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn files_on_disk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read a template folder") {
            let entry = entry.expect("a template entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                files_on_disk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under the template");
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    /// The embedded list is exactly the files under `templates/<name>/`, and every folder
    /// under `templates/` is a listed template.
    #[test]
    fn embedded_files_match_the_templates_folder() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut folders: Vec<String> = std::fs::read_dir(&base)
            .expect("templates/")
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        folders.sort();
        let mut listed: Vec<&str> = names().collect();
        listed.sort();
        assert_eq!(folders, listed, "templates/ folders vs TEMPLATES");
        for t in TEMPLATES {
            let root = base.join(t.name);
            let mut on_disk = BTreeSet::new();
            files_on_disk(&root, &root, &mut on_disk);
            let embedded: BTreeSet<String> = t.files.iter().map(|f| f.path.to_string()).collect();
            assert_eq!(on_disk, embedded, "files of template {}", t.name);
            for f in t.files {
                let disk = std::fs::read_to_string(root.join(f.path)).expect("read");
                assert_eq!(disk, f.contents, "{}/{}", t.name, f.path);
            }
        }
    }

    /// `{{name}}` is the only placeholder, so nothing is left unfilled in a new site.
    #[test]
    fn only_known_placeholders() {
        for t in TEMPLATES {
            for f in t.files {
                let rest = f.contents.replace(NAME_PLACEHOLDER, "");
                assert!(
                    !rest.contains("{{"),
                    "{}/{} has an unknown placeholder",
                    t.name,
                    f.path
                );
            }
        }
    }

    /// Paths are relative, `/`-separated and never leave the destination folder.
    #[test]
    fn paths_stay_inside_the_destination() {
        for t in TEMPLATES {
            for f in t.files {
                assert!(!f.path.starts_with('/'), "{}", f.path);
                assert!(!f.path.contains('\\'), "{}", f.path);
                assert!(
                    f.path
                        .split('/')
                        .all(|seg| !seg.is_empty() && seg != "." && seg != ".."),
                    "{}",
                    f.path
                );
            }
        }
    }

    /// Each iisnode.yml says "every setting below shows its default": a commented-out
    /// `# key: value` line must hold the schema default, except the two the header names as
    /// examples (their default is empty or the environment's NODE_ENV).
    #[test]
    fn commented_iisnode_yml_settings_show_their_defaults() {
        use crate::config::schema::Attr;
        for t in TEMPLATES {
            let yml = t.files.iter().find(|f| f.path == "iisnode.yml");
            let text = yml.map_or("", |f| f.contents);
            assert!(
                text.contains(
                    "(node_env and\n# promoteServerVars, which default to nothing, show an example)"
                ),
                "{}: the header names the examples",
                t.name
            );
            let mut checked = 0;
            for line in text.lines() {
                let Some((key, value)) = line.strip_prefix("# ").and_then(|l| l.split_once(": "))
                else {
                    continue;
                };
                let Some(attr) = Attr::from_yml_key(key) else {
                    continue;
                };
                if matches!(key, "node_env" | "promoteServerVars") {
                    continue;
                }
                assert_eq!(
                    value,
                    attr.schema().default,
                    "{}/iisnode.yml: `{line}` is not the default",
                    t.name
                );
                checked += 1;
            }
            assert!(checked >= 8, "{}: {checked} settings checked", t.name);
        }
    }

    #[test]
    fn every_template_has_the_required_files() {
        assert!(find(DEFAULT_TEMPLATE).is_some());
        for t in TEMPLATES {
            for required in ["README.md", "iisnode.yml", ".gitignore", "web.config"] {
                assert!(
                    t.files.iter().any(|f| f.path == required),
                    "{} lacks {required}",
                    t.name
                );
            }
            let gitignore = t.files.iter().find(|f| f.path == ".gitignore");
            let lines: Vec<&str> = gitignore.map_or("", |f| f.contents).lines().collect();
            assert!(lines.contains(&"iisnode/"), "{}", t.name);
            assert!(lines.contains(&"node_modules/"), "{}", t.name);
        }
        assert_eq!(
            TEMPLATES.iter().filter(|t| t.needs_npm()).count(),
            2,
            "express and websocket"
        );
    }
}
