//! The environment: `%VAR%` expansion and the `IISNODE_<attribute>` override channel.
//!
//! iisnode runs on Windows, where environment variable names are case-insensitive. iisn
//! looks names up the same way on every OS (DECISIONS.md §4), so a web.config that says
//! `%ProgramFiles%` or a shell that exports `IISNODE_NODEPROCESSCOUNTPERAPPLICATION` behaves
//! as it would on the server. The environment is a snapshot passed in explicitly, never read
//! from the process here, so tests are deterministic.

use crate::config::schema::{Attr, Kind, SCHEMA};
use crate::diag::{Diagnostic, codes};

/// A snapshot of environment variables with Windows-style lookup.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    vars: Vec<(String, String)>,
}

impl Environment {
    /// The current process's environment (non-UTF-8 values are converted lossily).
    pub fn from_process() -> Self {
        Environment {
            vars: std::env::vars_os()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect(),
        }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Environment {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `name`: an exact match first, then a case-insensitive one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| self.vars.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The result of `%VAR%` expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    /// Names referenced but not defined (left in the text literally).
    pub undefined: Vec<String>,
}

/// Expands `%NAME%` references like Windows' `ExpandEnvironmentStrings`: names match
/// case-insensitively, an undefined reference stays as written, and a `%` with no closing
/// `%` is kept.
pub fn expand(value: &str, env: &Environment) -> Expanded {
    let mut text = String::with_capacity(value.len());
    let mut undefined = Vec::new();
    let mut rest = value;
    // After an undefined reference the scan restarts at its closing `%`, so the text up to
    // the next `%` reads as a name although nobody wrote it as one (`%A%\dir\%B%`): such a
    // name is expanded if defined but never reported as undefined.
    let mut between = false;
    while let Some(open) = rest.find('%') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('%') {
            Some(close) => {
                let name = &after[..close];
                match (!name.is_empty()).then(|| env.get(name)).flatten() {
                    Some(v) => {
                        text.push_str(v);
                        rest = &after[close + 1..];
                        between = false;
                    }
                    None => {
                        if !name.is_empty() && !between {
                            undefined.push(name.to_string());
                        }
                        between = !between && !name.is_empty();
                        // Keep the first `%` and rescan from the second one, as Windows
                        // does: `%undefined%FOO%` may still expand `%FOO%`.
                        text.push('%');
                        text.push_str(name);
                        rest = &after[close..];
                    }
                }
            }
            None => {
                text.push('%');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    Expanded { text, undefined }
}

/// A typed setting value, whichever channel it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingValue {
    Uint(u32),
    Bool(bool),
    Str(String),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Uint(n) => write!(f, "{n}"),
            SettingValue::Bool(b) => write!(f, "{b}"),
            SettingValue::Str(s) => f.write_str(s),
        }
    }
}

/// One `IISNODE_<attribute>` variable that applies.
#[derive(Clone, Debug)]
pub struct EnvOverride {
    pub attr: Attr,
    /// The variable name as it appears in the environment.
    pub var: String,
    pub value: SettingValue,
}

/// Names iisnode sets for node itself; not typos of attribute names.
const CHILD_NAMES: &[&str] = &[
    "IISNODE_VERSION",
    "IISNODE_CONTROL_PIPE",
    "IISNODE_LOGGINGENABLED",
    "IISNODE_LOGDIRECTORY",
    "IISNODE_MAXTOTALLOGFILESIZEINKB",
    "IISNODE_MAXLOGFILESIZEINKB",
    "IISNODE_MAXLOGFILES",
];

/// Reads every `IISNODE_<attribute>` override with iisnode's parsing rules
/// (`cmoduleconfiguration.cpp` `GetEnvVariable` and its callers): empty means unset,
/// booleans are `true`/`1`/`false`/`0`, numbers are base-10 `wcstol` (trailing text ignored,
/// negative or over 2147483647 rejected), strings are verbatim and never expanded.
pub fn iisnode_overrides(env: &Environment) -> (Vec<EnvOverride>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut diags = Vec::new();
    for (name, value) in env.iter() {
        let Some(rest) = name
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("IISNODE_"))
            .and_then(|_| name.get(8..))
        else {
            continue;
        };
        let Some(attr) = Attr::from_name_ignore_case(rest) else {
            if !CHILD_NAMES.iter().any(|c| c.eq_ignore_ascii_case(name)) {
                let mut d = Diagnostic::new(
                    &codes::ENV_UNKNOWN,
                    format!(
                        "environment variable {name} names no <iisnode> attribute, so iisnode ignores it"
                    ),
                );
                if let Some(s) = super::schema::suggest(rest, SCHEMA.iter().map(|s| s.name)) {
                    d = d.help(format!("Did you mean IISNODE_{s}?"));
                } else {
                    d = d.help("Unset it, or name one of the 34 attributes `iisn config` lists.");
                }
                diags.push(d);
            }
            continue;
        };
        if value.is_empty() {
            continue;
        }
        match parse_env_value(attr, value) {
            Ok(v) => out.push(EnvOverride {
                attr,
                var: name.to_string(),
                value: v,
            }),
            Err(why) => diags.push(
                Diagnostic::new(
                    &codes::ENV_INVALID,
                    format!("environment variable {name}=`{}` is invalid: {why}", truncate(value, 60)),
                )
                .help(format!(
                    "Fix or unset {name}; iisnode answers every request with its configuration error page while it is set."
                )),
            ),
        }
    }
    // Several spellings of one name (possible on Unix) resolve like Windows would see one:
    // keep the exact-case spelling when present, else the first.
    out.sort_by_key(|o| (o.attr, o.var != format!("IISNODE_{}", o.attr.name())));
    out.dedup_by_key(|o| o.attr);
    (out, diags)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// iisnode's environment-channel parsers.
pub fn parse_env_value(attr: Attr, value: &str) -> Result<SettingValue, String> {
    let len = value.chars().count();
    match attr.schema().kind {
        Kind::Bool => {
            if len > 7 {
                return Err("longer than the 7 characters iisnode reads for a boolean".into());
            }
            match value.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(SettingValue::Bool(true)),
                "false" | "0" => Ok(SettingValue::Bool(false)),
                _ => Err(
                    "a boolean must be true, false, 1 or 0 (yes/no are not accepted here)".into(),
                ),
            }
        }
        Kind::Uint | Kind::UintOrInfinite => {
            if len > 63 {
                return Err("longer than the 63 characters iisnode reads for a number".into());
            }
            wcstol(value).map(SettingValue::Uint)
        }
        Kind::Str => {
            if len > 1023 {
                return Err("longer than the 1023 characters iisnode reads for a string".into());
            }
            Ok(SettingValue::Str(value.to_string()))
        }
    }
}

/// `wcstol(value, NULL, 10)` as iisnode checks it: digits required, no negatives, within
/// 32-bit signed range; trailing text ignored.
fn wcstol(value: &str) -> Result<u32, String> {
    let t = value.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits.bytes().take_while(u8::is_ascii_digit).count();
    if end == 0 {
        return Err("a number must start with decimal digits".into());
    }
    let n: u64 = digits[..end].parse().unwrap_or(u64::MAX);
    if neg && n > 0 {
        return Err("negative numbers are rejected".into());
    }
    if n > i32::MAX as u64 {
        return Err("larger than 2147483647 (Infinite is not accepted here either)".into());
    }
    Ok(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn expansion_is_case_insensitive_and_keeps_unknowns() {
        let e = env(&[("ProgramFiles", "C:\\PF"), ("FOO", "bar")]);
        assert_eq!(
            expand("%programfiles%\\iisnode", &e).text,
            "C:\\PF\\iisnode"
        );
        let x = expand("%node_env%", &e);
        assert_eq!(x.text, "%node_env%");
        assert_eq!(x.undefined, ["node_env"]);
        assert_eq!(expand("100%", &e).text, "100%");
        assert_eq!(expand("%%", &e).text, "%%");
        assert_eq!(expand("%nope%FOO%", &e).text, "%nopebar");
        assert_eq!(expand("a%FOO%b%FOO%", &e).text, "abarbbar");
    }

    #[test]
    fn text_between_two_references_is_not_reported_as_a_name() {
        let e = env(&[]);
        let x = expand("\"%programfiles%\\nodejs\\%node_version%\\node.exe\"", &e);
        assert_eq!(x.undefined, ["programfiles", "node_version"]);
        assert_eq!(expand("%A%%B%", &e).undefined, ["A", "B"]);
    }

    #[test]
    fn overrides_parse_like_iisnode() {
        let e = env(&[
            ("IISNODE_nodeProcessCountPerApplication", "3"),
            ("iisnode_loggingenabled", "FALSE"),
            ("IISNODE_maxLogFiles", "12abc"),
            ("IISNODE_node_env", "%X%"),
            ("IISNODE_devErrorsEnabled", "yes"),
            ("IISNODE_gracefulShutdownTimeout", "-5"),
            ("IISNODE_maxConcurrentRequestsPerProcess", "Infinite"),
            ("IISNODE_watchedFiles", ""),
            ("IISNODE_VERSION", "0.2.27"),
            ("IISNODE_nodeProcessCountPerApp", "2"),
        ]);
        let (o, d) = iisnode_overrides(&e);
        let got: Vec<_> = o
            .iter()
            .map(|o| (o.attr.name(), o.value.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("node_env", "%X%".to_string()),
                ("nodeProcessCountPerApplication", "3".to_string()),
                ("maxLogFiles", "12".to_string()),
                ("loggingEnabled", "false".to_string()),
            ]
        );
        let codes: Vec<_> = d.iter().map(|d| d.code()).collect();
        assert_eq!(codes, ["IISN4001", "IISN4001", "IISN4001", "IISN4002"]);
        assert!(
            d[3].help
                .as_deref()
                .unwrap_or("")
                .contains("IISNODE_nodeProcessCountPerApplication")
        );
    }

    #[test]
    fn wcstol_bounds() {
        assert_eq!(wcstol(" 42"), Ok(42));
        assert_eq!(wcstol("+7x"), Ok(7));
        assert_eq!(wcstol("2147483647"), Ok(2147483647));
        assert!(wcstol("2147483648").is_err());
        assert!(wcstol("-0").is_ok());
        assert!(wcstol("").is_err());
        assert!(wcstol("99999999999999999999999").is_err());
    }

    proptest::proptest! {
        #[test]
        fn expand_never_panics(s in "[%a-zA-Z_ ]{0,40}") {
            let e = env(&[("a", "1"), ("B", "%a%")]);
            let x = expand(&s, &e);
            // Expansion is single-pass: a value containing %a% is not expanded again.
            proptest::prop_assert!(x.text.len() <= s.len() * 3 + 3);
        }

        #[test]
        fn env_values_never_panic(v in "\\PC{0,80}") {
            for s in SCHEMA {
                let _ = parse_env_value(s.attr, &v);
            }
        }
    }
}
