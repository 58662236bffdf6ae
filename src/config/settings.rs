//! Effective `<iisnode>` settings for one application, each with its origin.
//!
//! Precedence, lowest to highest (DECISIONS.md §1, iisnode's `GetConfig`):
//!
//! ```text
//! schema default < web.config hierarchy < IISNODE_<attr> env var < iisnode.yml
//! ```
//!
//! then iisnode's `ApplyDefaults` turns `0` into the CPU count for
//! `nodeProcessCountPerApplication` and `asyncCompletionThreadCount`. `%VAR%` expansion
//! applies to web.config attributes the schema marks expanded and to the five expanded
//! iisnode.yml keys, never to environment values. Everything is recomputed from scratch on
//! each load, so a key removed from iisnode.yml reverts (iisnode's no-revert bug is fixed).

use std::path::{Path, PathBuf};

use crate::config::env::{self, EnvOverride, Environment, SettingValue};
use crate::config::iisnode_yml::{self, YmlValue};
use crate::config::model::EffectiveConfig;
use crate::config::schema::{Attr, AttrSchema, Emulation, Kind, SCHEMA, is_stock_interceptor};
use crate::config::source::Span;
use crate::diag::{Diagnostic, codes};

/// Where an effective value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The schema default.
    Default,
    /// A web.config attribute.
    WebConfig { span: Span },
    /// An `IISNODE_<attr>` environment variable (its name as set).
    Env { var: String },
    /// An iisnode.yml line.
    Yml { span: Span },
}

/// One effective setting.
#[derive(Clone, Debug)]
pub struct Setting {
    pub attr: Attr,
    pub value: SettingValue,
    /// The value as written in its source, before `%VAR%` expansion.
    pub raw: String,
    pub origin: Origin,
    /// What iisn did to the value, e.g. "0 means one per CPU: 2".
    pub note: Option<String>,
}

impl Setting {
    pub fn schema(&self) -> &'static AttrSchema {
        self.attr.schema()
    }
}

/// All 34 effective settings of one application.
#[derive(Clone, Debug)]
pub struct IisnodeSettings {
    settings: Vec<Setting>,
}

impl IisnodeSettings {
    pub fn get(&self, attr: Attr) -> &Setting {
        &self.settings[attr as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Setting> {
        self.settings.iter()
    }

    pub fn uint(&self, attr: Attr) -> u32 {
        match self.get(attr).value {
            SettingValue::Uint(n) => n,
            _ => 0,
        }
    }

    pub fn bool(&self, attr: Attr) -> bool {
        matches!(self.get(attr).value, SettingValue::Bool(true))
    }

    pub fn str(&self, attr: Attr) -> &str {
        match &self.get(attr).value {
            SettingValue::Str(s) => s,
            _ => "",
        }
    }

    /// `NODE_ENV` for node: `None` when node_env is empty or still the literal
    /// `%node_env%` (iisnode's "leave it alone" rule, compared case-sensitively).
    pub fn node_env(&self) -> Option<&str> {
        let v = self.str(Attr::NodeEnv);
        (!v.is_empty() && v != "%node_env%").then_some(v)
    }

    /// Whether `interceptor` is one of the stock values, which iisn replaces with its own
    /// built-in loader (DECISIONS.md §4).
    pub fn uses_builtin_loader(&self) -> bool {
        is_stock_interceptor(&self.get(Attr::Interceptor).raw)
    }
}

/// The inputs for resolving one application's settings.
pub struct Inputs<'a> {
    pub effective: &'a EffectiveConfig,
    pub env: &'a Environment,
    pub env_overrides: &'a [EnvOverride],
    /// The folder of the entry script: iisnode.yml is looked up relative to it.
    pub script_dir: &'a Path,
    pub cpu_count: usize,
}

/// What resolving found out about iisnode.yml.
#[derive(Clone, Debug, Default)]
pub struct YmlOutcome {
    /// Where iisnode.yml would be; `None` when `configOverrides` is empty or unusable.
    pub path: Option<PathBuf>,
    /// Whether the file exists and was read.
    pub present: bool,
    /// iisnode would reject the file (every request gets the iisnode.yml error page).
    pub failed: bool,
}

/// How [`resolve`] reads an iisnode.yml file (a seam so tests and the loader decide).
pub trait YmlSource {
    /// `Ok(None)`: no file. `Ok(Some(id, text))`: read. `Err(diag)`: unreadable.
    fn read_yml(
        &mut self,
        path: &Path,
    ) -> Result<Option<(crate::config::source::SourceId, String)>, Diagnostic>;
}

/// Computes the effective settings. Diagnostics about expansion, the configOverrides path
/// and iisnode.yml are pushed to `diags`.
pub fn resolve(
    inputs: &Inputs<'_>,
    yml_source: &mut dyn YmlSource,
    diags: &mut Vec<Diagnostic>,
) -> (IisnodeSettings, YmlOutcome) {
    let mut settings: Vec<Setting> = SCHEMA
        .iter()
        .map(|s| Setting {
            attr: s.attr,
            value: default_value(s),
            raw: s.default.to_string(),
            origin: Origin::Default,
            note: None,
        })
        .collect();

    // The schema defaults of expanded attributes are expanded too (`%node_env%` picks up
    // NODE_ENV from iisn's environment, as IIS does with w3wp's).
    for s in SCHEMA.iter().filter(|s| s.expanded) {
        let x = env::expand(s.default, inputs.env);
        settings[s.attr as usize].value = SettingValue::Str(x.text);
    }

    // web.config
    for s in SCHEMA {
        let Some(entry) = inputs.effective.iisnode_value(s.attr) else {
            continue;
        };
        let v = &entry.item;
        let value = match s.kind {
            Kind::Str if s.expanded => {
                let x = env::expand(&v.raw, inputs.env);
                report_undefined(s, &x.undefined, v.value_span, diags);
                SettingValue::Str(x.text)
            }
            Kind::Str => {
                if v.raw.contains('%') && v.raw.matches('%').count() >= 2 {
                    diags.push(
                        Diagnostic::new(
                            &codes::NOT_EXPANDED,
                            format!("{} is not expanded, so `%...%` stays in it literally", s.name),
                        )
                        .at(v.value_span)
                        .help("Write the value out; IIS expands %VAR% only in the attributes its schema marks as expanded."),
                    );
                }
                SettingValue::Str(v.raw.clone())
            }
            Kind::Bool => SettingValue::Bool(v.raw.trim().eq_ignore_ascii_case("true")),
            Kind::Uint | Kind::UintOrInfinite => {
                if v.raw.trim().eq_ignore_ascii_case("infinite") {
                    SettingValue::Uint(u32::MAX)
                } else {
                    SettingValue::Uint(
                        crate::config::web_config::parse_iis_uint(&v.raw)
                            .and_then(|n| u32::try_from(n).ok())
                            .unwrap_or(0),
                    )
                }
            }
        };
        settings[s.attr as usize] = Setting {
            attr: s.attr,
            value,
            raw: v.raw.clone(),
            origin: Origin::WebConfig { span: v.value_span },
            note: None,
        };
    }

    // IISNODE_* environment variables (never expanded).
    for o in inputs.env_overrides {
        settings[o.attr as usize] = Setting {
            attr: o.attr,
            value: o.value.clone(),
            // As written in the environment (`12abc` reads as 12).
            raw: inputs
                .env
                .get(&o.var)
                .map_or_else(|| o.value.to_string(), str::to_string),
            origin: Origin::Env { var: o.var.clone() },
            note: None,
        };
    }

    // iisnode.yml, at <script dir>/<configOverrides> (configOverrides itself cannot come
    // from the yml file).
    let mut outcome = YmlOutcome::default();
    let co = &settings[Attr::ConfigOverrides as usize];
    let co_value = co.value.to_string();
    let co_span = match &co.origin {
        Origin::WebConfig { span } => Some(*span),
        _ => None,
    };
    match yml_relative_path(&co_value) {
        Err(why) => {
            let mut d = Diagnostic::new(&codes::CONFIG_OVERRIDES_PATH, why.message())
                .help(why.help())
                .severity(why.severity());
            if let Some(span) = co_span {
                d = d.at(span);
            }
            diags.push(d);
            outcome.failed = why == ConfigOverridesProblem::Absolute;
        }
        Ok(rel) => {
            // NTFS ignores case: `IISNODE.YML` names iisnode.yml (as written when it exists).
            let path = inputs
                .script_dir
                .join(crate::config::site::on_disk_spelling(
                    inputs.script_dir,
                    &rel.to_string_lossy(),
                ));
            outcome.path = Some(path.clone());
            match yml_source.read_yml(&path) {
                Err(d) => {
                    diags.push(d);
                    outcome.present = true;
                    outcome.failed = true;
                }
                Ok(None) => {}
                Ok(Some((id, text))) => {
                    outcome.present = true;
                    let raw = iisnode_yml::parse(id, &text);
                    let syntax_ok = raw.syntax_ok;
                    diags.extend(raw.diagnostics.iter().cloned());
                    let resolved = iisnode_yml::resolve(&raw);
                    diags.extend(resolved.diagnostics);
                    outcome.failed = !syntax_ok || !resolved.ok;
                    for o in resolved.overrides {
                        let s = o.attr.schema();
                        // As written in the file (`+3`, `YES`), not as read.
                        let written = |fallback: String| {
                            text.get(o.value_span.start as usize..o.value_span.end as usize)
                                .map(str::trim)
                                .filter(|t| !t.is_empty())
                                .map_or(fallback, str::to_string)
                        };
                        let (value, raw) = match o.value {
                            YmlValue::Uint(n) => (SettingValue::Uint(n), written(n.to_string())),
                            YmlValue::Bool(b) => (SettingValue::Bool(b), written(b.to_string())),
                            YmlValue::Str(text) if s.yml_expanded => {
                                let x = env::expand(&text, inputs.env);
                                report_undefined(s, &x.undefined, o.value_span, diags);
                                (SettingValue::Str(x.text), text)
                            }
                            YmlValue::Str(text) => (SettingValue::Str(text.clone()), text),
                        };
                        settings[o.attr as usize] = Setting {
                            attr: o.attr,
                            value,
                            raw,
                            origin: Origin::Yml { span: o.value_span },
                            note: None,
                        };
                    }
                }
            }
        }
    }

    // iisnode's ApplyDefaults.
    for attr in [
        Attr::NodeProcessCountPerApplication,
        Attr::AsyncCompletionThreadCount,
    ] {
        let s = &mut settings[attr as usize];
        if s.value == SettingValue::Uint(0) {
            let n = u32::try_from(inputs.cpu_count.max(1)).unwrap_or(u32::MAX);
            s.value = SettingValue::Uint(n);
            s.note = Some(format!("0 means one per CPU: {n}"));
        }
    }
    for s in settings.iter_mut() {
        if s.schema().emulation == Emulation::Ignored {
            const IGNORED: &str = "accepted and ignored by iisn (Windows-only)";
            s.note = Some(match s.note.take() {
                Some(n) => format!("{n}; {IGNORED}"),
                None => IGNORED.into(),
            });
        }
    }
    let ns = &mut settings[Attr::NodeEnv as usize];
    if ns.value.to_string() == "%node_env%" || ns.value.to_string().is_empty() {
        ns.note = Some("NODE_ENV is left as it is".into());
    }
    let interceptor = &mut settings[Attr::Interceptor as usize];
    if is_stock_interceptor(&interceptor.raw) {
        interceptor.note = Some("the stock interceptor: iisn uses its built-in loader".into());
    }
    let ncl = &mut settings[Attr::NodeProcessCommandLine as usize];
    if !cfg!(windows)
        && ncl
            .value
            .to_string()
            .trim()
            .eq_ignore_ascii_case("node.exe")
    {
        ncl.note = Some("node.exe means `node` from PATH on this OS".into());
    }
    let mrc = &mut settings[Attr::MaxConcurrentRequestsPerProcess as usize];
    if mrc.value == SettingValue::Uint(u32::MAX) {
        mrc.note = Some("Infinite".into());
    }
    (IisnodeSettings { settings }, outcome)
}

fn default_value(s: &AttrSchema) -> SettingValue {
    match s.kind {
        Kind::Bool => SettingValue::Bool(s.default == "true"),
        Kind::Uint | Kind::UintOrInfinite => SettingValue::Uint(s.default.parse().unwrap_or(0)),
        Kind::Str => SettingValue::Str(s.default.to_string()),
    }
}

/// Undefined `%VAR%` references are worth a warning, except the stock defaults that rely
/// on them (`%node_env%` means "unset", `%programfiles%` names the stock interceptor).
fn report_undefined(s: &AttrSchema, undefined: &[String], span: Span, diags: &mut Vec<Diagnostic>) {
    for name in undefined {
        let expected = (s.attr == Attr::NodeEnv && name == "node_env")
            || (s.attr == Attr::Interceptor
                && name.to_ascii_lowercase().starts_with("programfiles"));
        if expected {
            continue;
        }
        diags.push(
            Diagnostic::new(
                &codes::UNDEFINED_VARIABLE,
                format!("{} refers to %{name}%, which is not defined in this environment", s.name),
            )
            .at(span)
            .help(format!(
                "Set {name} before starting iisn, or write the value out; the text `%{name}%` is used literally."
            )),
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConfigOverridesProblem {
    Empty,
    Absolute,
}

impl ConfigOverridesProblem {
    fn message(self) -> &'static str {
        match self {
            ConfigOverridesProblem::Empty => {
                "configOverrides is empty: real iisnode then fails every request with its iisnode.yml error page"
            }
            ConfigOverridesProblem::Absolute => {
                "configOverrides is an absolute path, which iisnode appends to the script's folder"
            }
        }
    }

    fn help(self) -> &'static str {
        match self {
            ConfigOverridesProblem::Empty => {
                "iisn reads no iisnode.yml in this case; to be safe on IIS, set configOverrides=\"iisnode.yml\" (or any relative file name)."
            }
            ConfigOverridesProblem::Absolute => {
                "Use a path relative to the entry script's folder, such as iisnode.yml or config\\iisnode.yml."
            }
        }
    }

    fn severity(self) -> crate::diag::Severity {
        match self {
            ConfigOverridesProblem::Empty => crate::diag::Severity::Warning,
            ConfigOverridesProblem::Absolute => crate::diag::Severity::Error,
        }
    }
}

/// `configOverrides` → a path relative to the script folder (`\` separators accepted).
fn yml_relative_path(value: &str) -> Result<PathBuf, ConfigOverridesProblem> {
    if value.is_empty() {
        return Err(ConfigOverridesProblem::Empty);
    }
    let v = value.replace('\\', "/");
    let bytes = v.as_bytes();
    let drive = bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic();
    if v.starts_with('/') || drive {
        return Err(ConfigOverridesProblem::Absolute);
    }
    Ok(v.split('/').filter(|s| !s.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::merge;
    use crate::config::source::{SourceId, SourceMap};
    use crate::config::web_config;

    struct MemYml(Option<String>, SourceMap);
    impl YmlSource for MemYml {
        fn read_yml(&mut self, path: &Path) -> Result<Option<(SourceId, String)>, Diagnostic> {
            Ok(self
                .0
                .clone()
                .map(|t| (self.1.add(path.to_path_buf(), t.clone()), t)))
        }
    }

    fn run(
        web: &str,
        env_pairs: &[(&str, &str)],
        yml: Option<&str>,
    ) -> (IisnodeSettings, YmlOutcome, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let mut cfg = merge::iis_defaults();
        let s = web_config::parse(SourceId(0), web, &mut d)
            .expect("xml")
            .sections;
        merge::apply(&mut cfg, &s, "", &mut d);
        let env = Environment::from_pairs(env_pairs.iter().copied());
        let (ov, ed) = env::iisnode_overrides(&env);
        d.extend(ed);
        let inputs = Inputs {
            effective: &cfg,
            env: &env,
            env_overrides: &ov,
            script_dir: Path::new("/site"),
            cpu_count: 3,
        };
        let mut src = MemYml(yml.map(str::to_string), SourceMap::new());
        let (s, o) = resolve(&inputs, &mut src, &mut d);
        (s, o, d)
    }

    const WEB: &str = r#"<configuration><system.webServer><iisnode nodeProcessCountPerApplication="2" maxLogFiles="7" node_env="%MODE%" promoteServerVars="%X%,AUTH_USER" maxConcurrentRequestsPerProcess="Infinite"/></system.webServer></configuration>"#;

    #[test]
    fn precedence_default_web_env_yml() {
        let (s, o, d) = run(
            WEB,
            &[
                ("IISNODE_nodeProcessCountPerApplication", "3"),
                ("IISNODE_maxLogFiles", "9"),
                ("MODE", "staging"),
            ],
            Some("nodeProcessCountPerApplication: 4\n"),
        );
        assert!(o.present && !o.failed);
        assert_eq!(s.uint(Attr::NodeProcessCountPerApplication), 4);
        assert!(matches!(
            s.get(Attr::NodeProcessCountPerApplication).origin,
            Origin::Yml { .. }
        ));
        assert_eq!(s.uint(Attr::MaxLogFiles), 9);
        assert_eq!(
            s.get(Attr::MaxLogFiles).origin,
            Origin::Env {
                var: "IISNODE_maxLogFiles".into()
            }
        );
        assert_eq!(s.node_env(), Some("staging"));
        assert!(matches!(
            s.get(Attr::NodeEnv).origin,
            Origin::WebConfig { .. }
        ));
        assert_eq!(s.get(Attr::NodeEnv).raw, "%MODE%");
        assert_eq!(s.uint(Attr::MaxConcurrentRequestsPerProcess), u32::MAX);
        assert_eq!(s.uint(Attr::GracefulShutdownTimeout), 60000);
        assert_eq!(s.get(Attr::GracefulShutdownTimeout).origin, Origin::Default);
        assert!(s.uses_builtin_loader());
        assert_eq!(d.iter().map(|d| d.code()).collect::<Vec<_>>(), ["IISN2005"]);
    }

    #[test]
    fn zero_means_cpu_count_and_node_env_default_means_unset() {
        let (s, _, _) = run(
            "<configuration/>",
            &[],
            Some("nodeProcessCountPerApplication: \"4\"\n"),
        );
        assert_eq!(s.uint(Attr::NodeProcessCountPerApplication), 3);
        assert!(s.get(Attr::NodeProcessCountPerApplication).note.is_some());
        // asyncCompletionThreadCount is resolved the same way, and also said to be ignored
        // (DECISIONS.md §20), which its "0 means one per CPU" note used to hide.
        assert_eq!(
            s.get(Attr::AsyncCompletionThreadCount).note.as_deref(),
            Some("0 means one per CPU: 3; accepted and ignored by iisn (Windows-only)")
        );
        assert_eq!(s.node_env(), None);
        let (s, _, _) = run("<configuration/>", &[("node_env", "production")], None);
        assert_eq!(s.node_env(), Some("production"));
        assert_eq!(s.get(Attr::NodeEnv).origin, Origin::Default);
    }

    #[test]
    fn bad_yml_marks_failure() {
        let (_, o, d) = run("<configuration/>", &[], Some("loggingEnabled: foobar\n"));
        assert!(o.failed);
        assert!(d.iter().any(|d| d.code() == "IISN3002"));
        let (_, o, _) = run("<configuration/>", &[], Some(": foo\n"));
        assert!(o.failed);
    }

    #[test]
    fn config_overrides_paths() {
        let (_, o, d) = run(
            r#"<configuration><system.webServer><iisnode configOverrides="C:\x\iisnode.yml"/></system.webServer></configuration>"#,
            &[],
            None,
        );
        assert!(o.failed && o.path.is_none());
        assert_eq!(d[0].code(), "IISN3016");
        let (_, o, d) = run(
            r#"<configuration><system.webServer><iisnode configOverrides=""/></system.webServer></configuration>"#,
            &[],
            None,
        );
        assert!(!o.failed && o.path.is_none());
        assert_eq!(d[0].severity, crate::diag::Severity::Warning);
        let (_, o, _) = run(
            r#"<configuration><system.webServer><iisnode configOverrides="config\over.yml"/></system.webServer></configuration>"#,
            &[],
            None,
        );
        assert_eq!(o.path, Some(PathBuf::from("/site/config/over.yml")));
    }

    #[test]
    fn yml_removed_key_reverts() {
        let (s, _, _) = run(WEB, &[], Some("maxLogFiles: 3\n"));
        assert_eq!(s.uint(Attr::MaxLogFiles), 3);
        let (s, _, _) = run(WEB, &[], Some("# nothing\n"));
        assert_eq!(s.uint(Attr::MaxLogFiles), 7);
    }
}
