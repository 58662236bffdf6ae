//! `iisn config`: each application's effective settings and where each value came from.
//!
//! Diagnostics go to stderr (errors always, warnings unless `-q`, notes with `-v`); the
//! settings go to stdout as a table or as JSON (`docs/config-json.md`). The exit code is 1
//! when the configuration has errors, so the command doubles as a quick validity check.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::Error;
use crate::cli::Ui;
use crate::config::env::SettingValue;
use crate::config::settings::Origin;
use crate::config::source::SourceMap;
use crate::config::{Application, ConfigErrorKind, LoadOptions, LoadedSite, load_site};
use crate::diag::render::{self, JsonDiagnostic, JsonLocation, display_path};
use crate::diag::{Severity, Summary};
use crate::ui::{Styles, printable};

pub const AFTER_HELP: &str = "\
Examples:
  iisn config                          the site in the current folder
  iisn config examples/configuration   every setting with its default
  iisn config . --app api/server.js    one application only
  iisn config . --format json | jq '.applications[0].settings[] | select(.origin.kind != \"default\")'

Precedence, lowest to highest: schema default < web.config (merged hierarchy)
< IISNODE_<attribute> environment variable < iisnode.yml next to the script.";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable table per application.
    #[default]
    Text,
    /// One JSON document (schema in docs/config-json.md).
    Json,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The site folder (the one holding the root web.config), or its web.config.
    #[arg(default_value = ".", value_name = "SITE")]
    pub site: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show only the application whose script is this path (relative to the site).
    #[arg(long, value_name = "SCRIPT")]
    pub app: Option<String>,
}

pub fn run(args: &ConfigArgs, ui: &Ui) -> Result<(), Error> {
    let site = load_site(&args.site, &LoadOptions::from_process())?;
    let apps: Vec<&Application> = match &args.app {
        None => site.apps.iter().collect(),
        Some(want) => {
            let want = script_key(want);
            let found: Vec<_> = site
                .apps
                .iter()
                .filter(|a| a.script_rel.eq_ignore_ascii_case(&want))
                .collect();
            if found.is_empty() {
                let known: Vec<_> = site.apps.iter().map(|a| a.script_rel.as_str()).collect();
                return Err(Error::Usage {
                    message: format!(
                        "no application with script `{want}` in {}",
                        site.root.display()
                    ),
                    hint: Some(if known.is_empty() {
                        "the site has no iisnode handler with a concrete script path".into()
                    } else {
                        format!("applications: {}", known.join(", "))
                    }),
                });
            }
            found
        }
    };
    let base = std::env::current_dir().unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let doc = json_document(&site, &apps, &base);
            serde_json::to_writer_pretty(&mut stdout, &doc).map_err(|e| Error::Output(e.into()))?;
            writeln!(stdout).map_err(Error::Output)?;
        }
        Format::Text => {
            print_diagnostics(&site, ui, &base);
            if !ui.quiet {
                point_to_check(&site, &args.site, ui);
            }
            // Origins read best relative to the site (`web.config:12:5`).
            let text = text_report(&site, &apps, &site.root, &ui.out);
            stdout.write_all(text.as_bytes()).map_err(Error::Output)?;
        }
    }
    if site.has_errors() {
        Err(Error::ConfigErrors)
    } else {
        Ok(())
    }
}

fn print_diagnostics(site: &LoadedSite, ui: &Ui, base: &Path) {
    let shown = site.diagnostics.iter().filter(|d| match d.severity {
        Severity::Error => true,
        Severity::Warning => !ui.quiet,
        Severity::Info => ui.verbose > 0,
    });
    let mut any = false;
    for d in shown {
        eprintln!("{}", render::human(d, &site.sources, base, &ui.err));
        any = true;
    }
    let summary = Summary::of(&site.diagnostics);
    if any {
        eprintln!("{}", render::summary_line(&summary, &ui.err));
    }
}

/// `iisn config` shows the loader's diagnostics only (what makes a setting's value wrong);
/// when the semantic lints of `iisn check` (a missing script, a rule that never matches) find
/// errors or warnings, a note says so, so that no diagnostics here is not read as "all good".
fn point_to_check(site: &LoadedSite, path: &Path, ui: &Ui) {
    let lints = crate::check::run(site);
    let more = Summary::of(lints.iter().filter(|d| d.severity >= Severity::Warning));
    if more.errors + more.warnings == 0 {
        return;
    }
    eprintln!(
        "{} iisn config shows only problems reading the settings; `iisn check {}` finds {} more",
        ui.err.info.apply_to("note:"),
        crate::cli::init::display_dir(path),
        render::summary_line(&more, &crate::ui::Styles::plain())
    );
}

/// Where a value came from, for the table.
fn origin_text(origin: &Origin, sources: &SourceMap, base: &Path) -> String {
    match origin {
        Origin::Default => "default".into(),
        Origin::WebConfig { span } | Origin::Yml { span } => render::location(sources, *span, base),
        Origin::Env { var } => format!("env {var}"),
    }
}

fn value_text(v: &SettingValue) -> String {
    match v {
        SettingValue::Str(s) if s.is_empty() => "\"\"".into(),
        other => printable(&other.to_string()).into_owned(),
    }
}

/// `--app` as the site-relative script path applications are listed by: `\` is `/`, and a
/// leading `./` or `/` (the script's URL) is dropped.
fn script_key(want: &str) -> String {
    let mut key = want.trim().replace('\\', "/");
    while let Some(rest) = key.strip_prefix("./").or_else(|| key.strip_prefix('/')) {
        key = rest.to_string();
    }
    key
}

/// The text report for a set of applications.
pub fn text_report(site: &LoadedSite, apps: &[&Application], base: &Path, st: &Styles) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        st.bold.apply_to("site"),
        st.path.apply_to(site.root.display())
    );
    let failures = site.load_failures();
    if apps.is_empty() && !failures.is_empty() {
        // The handlers are in a file that could not be read: "add a handler" would mislead.
        let files: Vec<String> = failures
            .iter()
            .map(|f| display_path(&f.file, base))
            .collect();
        let _ = writeln!(
            out,
            "\nno application: {} could not be loaded (the errors above), so its handlers are unknown.\n  fix {}, then run iisn config again",
            files.join(", "),
            if files.len() == 1 { "it" } else { "them" }
        );
    } else if apps.is_empty() {
        let _ = writeln!(
            out,
            "\nno application: no web.config maps a script to iisnode.\n  add <handlers><add name=\"iisnode\" path=\"server.js\" verb=\"*\" modules=\"iisnode\"/></handlers> under <system.webServer>"
        );
    }
    for app in apps {
        let _ = writeln!(out);
        let status = match (app.config_error, app.script_exists) {
            (Some(ConfigErrorKind::WebConfig), _) => st
                .error
                .apply_to("configuration error (web.config)")
                .to_string(),
            (Some(ConfigErrorKind::IisnodeYml), _) => st
                .error
                .apply_to("configuration error (iisnode.yml)")
                .to_string(),
            (None, false) => st
                .warning
                .apply_to("script missing: requests get 404")
                .to_string(),
            (None, true) => st.good.apply_to("ok").to_string(),
        };
        let _ = writeln!(
            out,
            "{} {}  {}",
            st.bold.apply_to("application"),
            st.accent.apply_to(printable(&app.script_rel)),
            status
        );
        let _ = writeln!(
            out,
            "  handler      {} (path=\"{}\") {}",
            printable(&app.handler.name.value),
            printable(&app.handler.path.value),
            st.dim
                .apply_to(render::location(&site.sources, app.handler.name.span, base))
        );
        if app.from_wildcard {
            let _ = writeln!(
                out,
                "  {}",
                st.dim.apply_to(
                    "found on disk by file name (a wildcard handler, or a path without a slash): IIS creates it on the first request for the script"
                )
            );
        }
        let yml = match &app.yml.path {
            None => "none (configOverrides is empty or invalid)".to_string(),
            Some(p) => format!(
                "{} ({})",
                display_path(p, base),
                match (app.yml.present, app.yml.failed) {
                    (false, _) => "not present",
                    (true, false) => "applied",
                    (true, true) => "rejected: see the errors above",
                }
            ),
        };
        let _ = writeln!(out, "  iisnode.yml  {yml}");
        if !app.app_settings.is_empty() {
            let keys: Vec<_> = app
                .app_settings
                .iter()
                .map(|(k, _)| printable(k).into_owned())
                .collect();
            let _ = writeln!(
                out,
                "  appSettings  {} (as environment variables)",
                keys.join(", ")
            );
        }
        let _ = writeln!(out);
        let rows: Vec<[String; 3]> = app
            .settings
            .iter()
            .map(|s| {
                [
                    s.attr.name().to_string(),
                    value_text(&s.value),
                    origin_text(&s.origin, &site.sources, base),
                ]
            })
            .collect();
        let w0 = rows
            .iter()
            .map(|r| r[0].chars().count())
            .max()
            .unwrap_or(0)
            .max(7);
        let w1 = rows
            .iter()
            .map(|r| r[1].chars().count())
            .max()
            .unwrap_or(0)
            .clamp(5, 44);
        let _ = writeln!(
            out,
            "  {}",
            st.dim
                .apply_to(format!("{:w0$}  {:w1$}  {}", "SETTING", "VALUE", "ORIGIN"))
        );
        for (row, s) in rows.iter().zip(app.settings.iter()) {
            let origin = if s.origin == Origin::Default {
                st.dim.apply_to(&row[2]).to_string()
            } else {
                st.path.apply_to(&row[2]).to_string()
            };
            let note = s
                .note
                .as_ref()
                .map(|n| format!("  {}", st.dim.apply_to(format!("({})", printable(n)))))
                .unwrap_or_default();
            let _ = writeln!(out, "  {:w0$}  {:w1$}  {origin}{note}", row[0], row[1]);
        }
    }
    for w in &site.wildcard_handlers {
        let _ = writeln!(
            out,
            "\n{} iisnode handler `{}` maps path=\"{}\": each requested script becomes its own application (created on its first request; the matching scripts on disk are listed above)",
            st.bold.apply_to("note:"),
            w.item.name.value,
            w.item.path.value
        );
    }
    let summary = Summary::of(&site.diagnostics);
    if summary.errors + summary.warnings > 0 {
        let _ = writeln!(out, "\n{}", render::summary_line(&summary, st));
    }
    out
}

/// `iisn config --format json`, schema version 1 (docs/config-json.md).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonDocument {
    pub schema_version: u32,
    pub site: String,
    pub applications: Vec<JsonApplication>,
    pub wildcard_handlers: Vec<JsonHandler>,
    pub diagnostics: Vec<JsonDiagnostic>,
    pub summary: Summary,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonApplication {
    pub script: String,
    pub path: String,
    pub script_exists: bool,
    pub config_error: Option<ConfigErrorKind>,
    /// Found on disk through a wildcard handler (`*.js`): created on its first request.
    pub from_wildcard: bool,
    pub handler: JsonHandler,
    pub iisnode_yml: JsonYml,
    pub app_settings: Vec<JsonKeyValue>,
    pub settings: Vec<JsonSetting>,
}

#[derive(Serialize)]
pub struct JsonHandler {
    pub name: String,
    pub path: String,
    pub location: Option<JsonLocation>,
}

#[derive(Serialize)]
pub struct JsonYml {
    pub path: Option<String>,
    pub present: bool,
    pub rejected: bool,
}

#[derive(Serialize)]
pub struct JsonKeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Serialize)]
pub struct JsonSetting {
    pub name: &'static str,
    pub value: serde_json::Value,
    pub raw: String,
    pub origin: JsonOrigin,
    pub note: Option<String>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum JsonOrigin {
    Default,
    WebConfig {
        #[serde(flatten)]
        location: Option<JsonLocation>,
    },
    Env {
        variable: String,
    },
    IisnodeYml {
        #[serde(flatten)]
        location: Option<JsonLocation>,
    },
}

pub fn json_document(site: &LoadedSite, apps: &[&Application], base: &Path) -> JsonDocument {
    let handler = |h: &crate::config::web_config::HandlerEntry| JsonHandler {
        name: h.name.value.clone(),
        path: h.path.value.clone(),
        location: JsonLocation::of(&site.sources, h.name.span, base),
    };
    JsonDocument {
        schema_version: 1,
        site: site.root.display().to_string(),
        applications: apps
            .iter()
            .map(|a| JsonApplication {
                script: a.script_rel.clone(),
                path: a.script.display().to_string(),
                script_exists: a.script_exists,
                config_error: a.config_error,
                from_wildcard: a.from_wildcard,
                handler: handler(&a.handler),
                iisnode_yml: JsonYml {
                    path: a.yml.path.as_ref().map(|p| display_path(p, base)),
                    present: a.yml.present,
                    rejected: a.yml.failed,
                },
                app_settings: a
                    .app_settings
                    .iter()
                    .map(|(k, v)| JsonKeyValue {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
                settings: a
                    .settings
                    .iter()
                    .map(|s| JsonSetting {
                        name: s.attr.name(),
                        value: match &s.value {
                            SettingValue::Uint(n) => serde_json::Value::from(*n),
                            SettingValue::Bool(b) => serde_json::Value::from(*b),
                            SettingValue::Str(t) => serde_json::Value::from(t.clone()),
                        },
                        raw: s.raw.clone(),
                        origin: match &s.origin {
                            Origin::Default => JsonOrigin::Default,
                            Origin::WebConfig { span } => JsonOrigin::WebConfig {
                                location: JsonLocation::of(&site.sources, *span, base),
                            },
                            Origin::Env { var } => JsonOrigin::Env {
                                variable: var.clone(),
                            },
                            Origin::Yml { span } => JsonOrigin::IisnodeYml {
                                location: JsonLocation::of(&site.sources, *span, base),
                            },
                        },
                        note: s.note.clone(),
                    })
                    .collect(),
            })
            .collect(),
        wildcard_handlers: site
            .wildcard_handlers
            .iter()
            .map(|w| handler(&w.item))
            .collect(),
        diagnostics: site
            .diagnostics
            .iter()
            .map(|d| JsonDiagnostic::of(d, &site.sources, base))
            .collect(),
        summary: Summary::of(&site.diagnostics),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_is_found_by_its_path_its_url_or_a_windows_path() {
        assert_eq!(script_key("api/server.js"), "api/server.js");
        assert_eq!(script_key("/api/server.js"), "api/server.js");
        assert_eq!(script_key("./api/server.js"), "api/server.js");
        assert_eq!(script_key(".\\api\\server.js"), "api/server.js");
        assert_eq!(script_key(" server.js "), "server.js");
    }
}
