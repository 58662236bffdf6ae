//! The `<iisnode>` schema: the 34 attributes, their types, defaults and channels.
//!
//! This is the one documented defaults table (the bottom layer of every effective setting),
//! written from iisnode's `src/config/iisnode_schema.xml` (Azure fork, 0.2.27) and
//! `cmoduleconfiguration.cpp`. Everything that needs to know about an attribute (the
//! web.config reader, the `IISNODE_*` environment channel, the iisnode.yml dispatcher, `iisn
//! config`) reads it from here.

/// The value type of an attribute, as IIS validates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 32-bit unsigned, decimal.
    Uint,
    /// 32-bit unsigned, or `Infinite` (stored as 4294967295) in web.config.
    UintOrInfinite,
    Bool,
    Str,
}

/// What iisn does with an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulation {
    /// Behaves as in iisnode.
    Emulated,
    /// Windows-only or obsolete: accepted, validated, ignored.
    Ignored,
}

macro_rules! attrs {
    ($( $variant:ident = $name:literal, $kind:ident, $default:literal, expanded: $exp:literal,
        yml: $yml:expr, yml_expanded: $ymlexp:literal, $emu:ident, $doc:literal; )*) => {
        /// One `<iisnode>` attribute, in schema order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Attr { $($variant),* }

        /// The schema, in the order of `iisnode_schema.xml`.
        pub static SCHEMA: &[AttrSchema] = &[$(
            AttrSchema {
                attr: Attr::$variant,
                name: $name,
                kind: Kind::$kind,
                default: $default,
                expanded: $exp,
                yml_key: $yml,
                yml_expanded: $ymlexp,
                emulation: Emulation::$emu,
                doc: $doc,
            }
        ),*];
    };
}

/// Everything known about one attribute.
#[derive(Debug)]
pub struct AttrSchema {
    pub attr: Attr,
    /// The attribute name, exactly as IIS spells it (case-sensitive in web.config).
    pub name: &'static str,
    pub kind: Kind,
    /// The schema default, as written in the schema (before `%VAR%` expansion).
    pub default: &'static str,
    /// IIS expands `%VAR%` in this attribute when it reads web.config.
    pub expanded: bool,
    /// The iisnode.yml key (compared case-insensitively), or `None` when the attribute
    /// cannot be set from iisnode.yml.
    pub yml_key: Option<&'static str>,
    /// iisnode runs `ExpandEnvironmentStrings` on the yml value.
    pub yml_expanded: bool,
    pub emulation: Emulation,
    /// One line for `iisn config` and the docs.
    pub doc: &'static str,
}

attrs! {
    NodeEnv = "node_env", Str, "%node_env%", expanded: true, yml: Some("node_env"), yml_expanded: true, Emulated,
        "NODE_ENV given to node; the literal %node_env% means \"leave NODE_ENV alone\"";
    AsyncCompletionThreadCount = "asyncCompletionThreadCount", Uint, "0", expanded: false, yml: Some("asyncCompletionThreadCount"), yml_expanded: false, Ignored,
        "IIS completion-port threads (0 = one per CPU); Windows-only, ignored";
    NodeProcessCountPerApplication = "nodeProcessCountPerApplication", Uint, "1", expanded: false, yml: Some("nodeProcessCountPerApplication"), yml_expanded: false, Emulated,
        "node processes per application (0 = one per CPU)";
    NodeProcessCommandLine = "nodeProcessCommandLine", Str, "node.exe", expanded: true, yml: Some("nodeProcessCommandLine"), yml_expanded: true, Emulated,
        "command line that starts node (node.exe means node from PATH off Windows)";
    Interceptor = "interceptor", Str, "\"%programfiles%\\iisnode\\interceptor.js\"", expanded: true, yml: Some("interceptor"), yml_expanded: true, Emulated,
        "script node runs before the app; the default means iisn's built-in loader";
    MaxConcurrentRequestsPerProcess = "maxConcurrentRequestsPerProcess", UintOrInfinite, "1024", expanded: false, yml: Some("maxConcurrentRequestsPerProcess"), yml_expanded: false, Emulated,
        "in-flight requests per process before new ones get 503";
    MaxNamedPipeConnectionRetry = "maxNamedPipeConnectionRetry", Uint, "100", expanded: false, yml: Some("maxNamedPipeConnectionRetry"), yml_expanded: false, Emulated,
        "connection attempts to a worker's socket before 500.1001";
    NamedPipeConnectionRetryDelay = "namedPipeConnectionRetryDelay", Uint, "250", expanded: false, yml: Some("namedPipeConnectionRetryDelay"), yml_expanded: false, Emulated,
        "milliseconds between connection attempts";
    MaxNamedPipeConnectionPoolSize = "maxNamedPipeConnectionPoolSize", Uint, "512", expanded: false, yml: Some("maxNamedPipeConnectionPoolSize"), yml_expanded: false, Emulated,
        "idle keep-alive connections kept per process (0 = no pooling)";
    MaxNamedPipePooledConnectionAge = "maxNamedPipePooledConnectionAge", Uint, "30000", expanded: false, yml: Some("maxNamedPipePooledConnectionAge"), yml_expanded: false, Emulated,
        "milliseconds an idle pooled connection may be reused";
    InitialRequestBufferSize = "initialRequestBufferSize", Uint, "4096", expanded: false, yml: Some("initialRequestBufferSize"), yml_expanded: false, Emulated,
        "initial header buffer in bytes (must be at least 1)";
    MaxRequestBufferSize = "maxRequestBufferSize", Uint, "65536", expanded: false, yml: Some("maxRequestBufferSize"), yml_expanded: false, Emulated,
        "limit in bytes on request and response header blocks";
    UncFileChangesPollingInterval = "uncFileChangesPollingInterval", Uint, "5000", expanded: false, yml: Some("uncFileChangesPollingInterval"), yml_expanded: false, Emulated,
        "milliseconds between polls where file events do not work";
    GracefulShutdownTimeout = "gracefulShutdownTimeout", Uint, "60000", expanded: false, yml: Some("gracefulShutdownTimeout"), yml_expanded: false, Emulated,
        "milliseconds old processes may drain on recycle (0 = kill at once)";
    LogDirectory = "logDirectory", Str, "iisnode", expanded: true, yml: Some("logDirectory"), yml_expanded: true, Emulated,
        "folder for stdout/stderr captures, relative to the script's folder";
    DebuggingEnabled = "debuggingEnabled", Bool, "true", expanded: false, yml: Some("debuggingEnabled"), yml_expanded: false, Emulated,
        "<script>/<debuggerPathSegment>/ starts the app under node --inspect";
    DebuggerExtensionDll = "debuggerExtensionDll", Str, "iisnode-inspector-0.7.3.dll", expanded: false, yml: Some("debuggerExtensionDll"), yml_expanded: false, Ignored,
        "node-inspector resource DLL; obsolete, ignored";
    DebugHeaderEnabled = "debugHeaderEnabled", Bool, "false", expanded: false, yml: Some("debugHeaderEnabled"), yml_expanded: false, Emulated,
        "adds the iisnode-debug response header";
    DebuggerVirtualDir = "debuggerVirtualDir", Str, "", expanded: false, yml: Some("debuggerVirtualDir"), yml_expanded: false, Ignored,
        "IIS virtual directory for debugger files; obsolete, ignored";
    DebuggerPathSegment = "debuggerPathSegment", Str, "debug", expanded: true, yml: Some("debuggerPathSegment"), yml_expanded: false, Emulated,
        "URL segment after the script name that addresses the debugger";
    DebuggerPortRange = "debuggerPortRange", Str, "5058-6058", expanded: true, yml: Some("debugPortRange"), yml_expanded: false, Emulated,
        "TCP ports for the debugger (iisnode.yml key: debugPortRange)";
    MaxLogFileSizeInKB = "maxLogFileSizeInKB", Uint, "128", expanded: false, yml: Some("maxLogFileSizeInKB"), yml_expanded: false, Emulated,
        "size in KiB after which a new log file starts";
    MaxTotalLogFileSizeInKB = "maxTotalLogFileSizeInKB", Uint, "1024", expanded: false, yml: Some("maxTotalLogFileSizeInKB"), yml_expanded: false, Emulated,
        "total KiB of log files kept; the oldest are deleted";
    MaxLogFiles = "maxLogFiles", Uint, "20", expanded: false, yml: Some("maxLogFiles"), yml_expanded: false, Emulated,
        "number of log files kept (0 acts as 20)";
    LoggingEnabled = "loggingEnabled", Bool, "true", expanded: false, yml: Some("loggingEnabled"), yml_expanded: false, Emulated,
        "capture stdout/stderr into files under logDirectory";
    DevErrorsEnabled = "devErrorsEnabled", Bool, "true", expanded: false, yml: Some("devErrorsEnabled"), yml_expanded: false, Emulated,
        "failures answer 200 with a diagnostic page and the stderr tail";
    FlushResponse = "flushResponse", Bool, "false", expanded: false, yml: Some("flushResponse"), yml_expanded: false, Emulated,
        "flush each chunk of a chunked response (iisn always streams)";
    WatchedFiles = "watchedFiles", Str, "*.js;iisnode.yml", expanded: true, yml: Some("watchedFiles"), yml_expanded: true, Emulated,
        "files whose change recycles the application (;-separated)";
    EnableXff = "enableXFF", Bool, "false", expanded: false, yml: Some("enableXFF"), yml_expanded: false, Emulated,
        "add X-Forwarded-For and X-Forwarded-Proto";
    PromoteServerVars = "promoteServerVars", Str, "", expanded: false, yml: Some("promoteServerVars"), yml_expanded: false, Emulated,
        "server variables sent to node as X-iisnode-<NAME> headers (,-separated)";
    ConfigOverrides = "configOverrides", Str, "iisnode.yml", expanded: true, yml: None, yml_expanded: false, Emulated,
        "override file next to the script (cannot be set from that file)";
    RecycleSignalEnabled = "recycleSignalEnabled", Bool, "false", expanded: false, yml: Some("recycleSignalEnabled"), yml_expanded: false, Emulated,
        "node may ask for a recycle through IISNODE_CONTROL_PIPE";
    IdlePageOutTimePeriod = "idlePageOutTimePeriod", Uint, "0", expanded: false, yml: Some("idlePageOutTimePeriod"), yml_expanded: false, Ignored,
        "Windows working-set trimming period; ignored";
    NodeProcessStickySessions = "nodeProcessStickySessions", Bool, "false", expanded: false, yml: Some("nodeProcessStickySessions"), yml_expanded: false, Emulated,
        "route by the iisnode.session.cookie cookie (Azure fork only)";
}

impl Attr {
    pub fn schema(self) -> &'static AttrSchema {
        &SCHEMA[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.schema().name
    }

    pub fn all() -> impl Iterator<Item = Attr> {
        SCHEMA.iter().map(|s| s.attr)
    }

    /// The attribute with this exact (case-sensitive) web.config name.
    pub fn from_name(name: &str) -> Option<Attr> {
        SCHEMA.iter().find(|s| s.name == name).map(|s| s.attr)
    }

    /// The attribute whose name matches ignoring case (environment variable names on
    /// Windows, and suggestions).
    pub fn from_name_ignore_case(name: &str) -> Option<Attr> {
        SCHEMA
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| s.attr)
    }

    /// The attribute an iisnode.yml key sets (keys are compared case-insensitively).
    pub fn from_yml_key(key: &str) -> Option<Attr> {
        SCHEMA
            .iter()
            .find(|s| s.yml_key.is_some_and(|k| k.eq_ignore_ascii_case(key)))
            .map(|s| s.attr)
    }
}

/// Attributes from old iisnode releases, with what replaced them.
pub static LEGACY: &[(&str, Option<Attr>, &str)] = &[
    (
        "maxProcessCountPerApplication",
        Some(Attr::NodeProcessCountPerApplication),
        "renamed to nodeProcessCountPerApplication",
    ),
    (
        "logDirectoryNameSuffix",
        Some(Attr::LogDirectory),
        "replaced by logDirectory (the folder name itself, relative to the script)",
    ),
    (
        "appendToExistingLog",
        None,
        "removed: iisnode always starts a new log file per process",
    ),
    (
        "logFileFlushInterval",
        None,
        "removed: iisnode writes log lines as they come",
    ),
];

/// Schema defaults of `interceptor` that mean "the stock interceptor": iisn substitutes its
/// own loader for any of them (DECISIONS.md §4).
pub static STOCK_INTERCEPTORS: &[&str] = &[
    "\"%programfiles%\\iisnode\\interceptor.js\"",
    "\"%programfiles%\\iisnode-express\\interceptor.js\"",
    "\"%programfiles(x86)%\\iisnode-express\\interceptor.js\"",
];

/// Whether an `interceptor` value (as written, before `%VAR%` expansion) names the
/// interceptor.js that iisnode's installer puts in place: a schema default, or the same
/// file spelt as its installed path, quoted as iisnode needs it (its command line is split
/// at spaces): `"C:\Program Files\iisnode\interceptor.js"`, as iisnode's sample
/// iisnode.yml writes it, `"%ProgramFiles(x86)%\iisnode\interceptor.js"` or `"C:\Program
/// Files (x86)\iisnode-express\interceptor.js"`. On Windows these name the stock file,
/// so iisn substitutes its own loader for all of them (DECISIONS.md §4); an unquoted path
/// with a space fails on IIS too and is left as written.
pub fn is_stock_interceptor(raw: &str) -> bool {
    let raw = raw.trim();
    if STOCK_INTERCEPTORS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(raw))
    {
        return true;
    }
    let Some(inner) = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .map(|r| r.trim().to_ascii_lowercase().replace('/', "\\"))
    else {
        return false;
    };
    let Some(folder) = inner
        .strip_suffix("\\iisnode\\interceptor.js")
        .or_else(|| inner.strip_suffix("\\iisnode-express\\interceptor.js"))
    else {
        return false;
    };
    let program_files = |rest: &str| matches!(rest, "program files" | "program files (x86)");
    match folder.as_bytes() {
        [drive, b':', b'\\', ..] if drive.is_ascii_alphabetic() => program_files(&folder[3..]),
        _ => matches!(
            folder,
            "%programfiles%" | "%programfiles(x86)%" | "%programw6432%"
        ),
    }
}

/// Closest name from `candidates` to `input` (Levenshtein, case-insensitive), if close
/// enough to be a plausible typo.
pub fn suggest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input_l = input.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let c_l = c.to_ascii_lowercase();
        // A truncated name ("nodeProcessCountPerApp") is a plausible typo too.
        let d = if input_l.len() >= 6 && c_l.starts_with(&input_l) {
            1
        } else {
            levenshtein(&input_l, &c_l)
        };
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    let limit = (input.chars().count() / 3).max(2);
    best.filter(|&(d, _)| d <= limit).map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: iisnode's sample iisnode.yml (and Tomasz Janczuk's post introducing it)
    /// write the stock interceptor as its installed path, `interceptor: "c:\program
    /// files\iisnode\interceptor.js"`; iisn ran that path, node could not find it and
    /// every request got 500.1002. Those spellings are the stock file; an unquoted path
    /// (split at its space on Windows too) and any other file are not.
    #[test]
    fn installed_paths_of_the_stock_interceptor_are_stock() {
        for stock in [
            r#""%programfiles%\iisnode\interceptor.js""#,
            r#""c:\program files\iisnode\interceptor.js""#,
            r#""C:\Program Files\iisnode\interceptor.js""#,
            r#""C:\Program Files (x86)\iisnode\interceptor.js""#,
            r#""D:/Program Files/iisnode-express/interceptor.js""#,
            r#""%ProgramFiles(x86)%\iisnode\interceptor.js""#,
            r#" "%ProgramW6432%\iisnode\interceptor.js" "#,
        ] {
            assert!(is_stock_interceptor(stock), "{stock}");
        }
        for custom in [
            r#"c:\program files\iisnode\interceptor.js"#,
            r#""c:\program files\myapp\interceptor.js""#,
            r#""c:\tools\iisnode\interceptor.js""#,
            r#""interceptor.js""#,
            r#""%programfiles%\iisnode\interceptor2.js""#,
            "",
        ] {
            assert!(!is_stock_interceptor(custom), "{custom}");
        }
    }

    #[test]
    fn schema_has_34_attributes_in_enum_order() {
        assert_eq!(SCHEMA.len(), 34);
        for (i, s) in SCHEMA.iter().enumerate() {
            assert_eq!(s.attr as usize, i);
        }
    }

    #[test]
    fn yml_keys_follow_iisnode_quirks() {
        assert_eq!(
            Attr::from_yml_key("debugPortRange"),
            Some(Attr::DebuggerPortRange)
        );
        assert_eq!(Attr::from_yml_key("debuggerPortRange"), None);
        assert_eq!(Attr::from_yml_key("configOverrides"), None);
        assert_eq!(
            Attr::from_yml_key("NODEPROCESSCOUNTPERAPPLICATION"),
            Some(Attr::NodeProcessCountPerApplication)
        );
        assert_eq!(SCHEMA.iter().filter(|s| s.yml_key.is_some()).count(), 33);
        let expanded: Vec<_> = SCHEMA
            .iter()
            .filter(|s| s.yml_expanded)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            expanded,
            [
                "node_env",
                "nodeProcessCommandLine",
                "interceptor",
                "logDirectory",
                "watchedFiles"
            ]
        );
    }

    #[test]
    fn suggestions_find_typos() {
        let names = SCHEMA.iter().map(|s| s.name);
        assert_eq!(
            suggest("nodeProcessCountPerApp", names.clone()),
            Some("nodeProcessCountPerApplication")
        );
        assert_eq!(
            suggest("loggingenabled", names.clone()),
            Some("loggingEnabled")
        );
        assert_eq!(suggest("idontexist", names), None);
    }
}
