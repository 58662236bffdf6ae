//! Value semantics of the `<iisnode>` settings (IISN5001–IISN5029): values every channel
//! accepts but that make iisnode misbehave (iisnode-config.md §6.2, rules L-04, L-10..L-39,
//! L-72).
//!
//! The lints look at each application's *effective* settings, after web.config, the
//! `IISNODE_*` environment and iisnode.yml are applied, because that is what iisnode uses.
//! A diagnostic points at the value where it was written (web.config or iisnode.yml); a value
//! from the environment has no position, so the message names the variable. Folders with an
//! `<iisnode>` section but no application of their own are checked with their web.config
//! values alone. Syntax problems (`"4"`, `Infinite` in iisnode.yml) are the loader's to
//! report; these lints only see the value iisnode ends up with.

use std::borrow::Cow;

use crate::config::Application;
use crate::config::env::Environment;
use crate::config::schema::{Attr, Emulation, SCHEMA};
use crate::config::settings::{self, IisnodeSettings, Origin, Setting, YmlSource};
use crate::config::source::{SourceId, Span};
use crate::diag::{Diagnostic, Severity, codes};

use super::{Ctx, is_absolute_any};

/// The settings of one application (or of a folder with an `<iisnode>` section).
struct View<'a> {
    settings: Cow<'a, IisnodeSettings>,
    /// Where diagnostics about defaults point: the handler that creates the application,
    /// or the `<iisnode>` element.
    anchor: Span,
    app: Option<&'a Application>,
    dir_rel: String,
}

struct NoYml;

impl YmlSource for NoYml {
    fn read_yml(&mut self, _: &std::path::Path) -> Result<Option<(SourceId, String)>, Diagnostic> {
        Ok(None)
    }
}

fn views<'a>(ctx: &Ctx<'a>) -> Vec<View<'a>> {
    let mut out: Vec<View<'a>> = ctx
        .site
        .apps
        .iter()
        .map(|app| View {
            settings: Cow::Borrowed(&app.settings),
            anchor: app.handler.name.span,
            app: Some(app),
            dir_rel: app.dir_rel.clone(),
        })
        .collect();
    // Folders whose <iisnode> section no application uses (wildcard-mapped sites, or a
    // section in a folder without a handler): check the web.config values on their own.
    for block in ctx.sections() {
        let Some(sec) = &block.sections.iisnode else {
            continue;
        };
        let covered = ctx
            .site
            .apps
            .iter()
            .any(|a| crate::config::site::is_ancestor(&block.dir_rel, &a.dir_rel));
        if covered {
            continue;
        }
        let eff = ctx.effective(&block.dir_rel);
        let dir = crate::config::site::rel_to_path(&ctx.site.root, &block.dir_rel);
        let env = Environment::default();
        let inputs = settings::Inputs {
            effective: &eff,
            env: &env,
            env_overrides: &[],
            script_dir: &dir,
            cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let (s, _) = settings::resolve(&inputs, &mut NoYml, &mut Vec::new());
        out.push(View {
            settings: Cow::Owned(s),
            anchor: sec.span,
            app: None,
            dir_rel: block.dir_rel.clone(),
        });
    }
    out
}

pub fn run(ctx: &mut Ctx<'_>) {
    for v in views(ctx) {
        let mut l = Lints { ctx, v: &v };
        l.process_count();
        l.concurrency_and_buffers();
        l.connection_retry();
        l.logging();
        l.debugging();
        l.production();
        l.node_env();
        l.command_line();
        l.promote_server_vars();
        l.watched_files();
        l.platform();
        l.env_overrides();
    }
}

struct Lints<'c, 'a, 'v> {
    ctx: &'c mut Ctx<'a>,
    v: &'v View<'a>,
}

impl Lints<'_, '_, '_> {
    fn get(&self, attr: Attr) -> &Setting {
        self.v.settings.get(attr)
    }

    fn uint(&self, attr: Attr) -> u32 {
        self.v.settings.uint(attr)
    }

    /// Places a diagnostic at the setting's value; an environment value has no position and
    /// gets a note naming the variable; a default points at the anchor.
    fn at(&self, d: Diagnostic, s: &Setting) -> Diagnostic {
        match &s.origin {
            Origin::WebConfig { span } | Origin::Yml { span } => d.at(*span),
            Origin::Env { var } => d.note(format!(
                "the value comes from the environment variable {var}"
            )),
            Origin::Default => d.at(self.v.anchor).note(format!(
                "{} is not set, so its default ({}) applies",
                s.attr.name(),
                s.attr.schema().default
            )),
        }
    }

    fn explicit(&self, attr: Attr) -> bool {
        self.get(attr).origin != Origin::Default
    }

    /// Whether the value was written as a plain number where it was written (so a lenient
    /// iisnode.yml number, which the loader reports, is not reported twice).
    fn literal_number(&self, attr: Attr) -> bool {
        match &self.get(attr).origin {
            Origin::Yml { span } => {
                let t = self.ctx.text(*span).trim();
                !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
            }
            _ => true,
        }
    }

    fn push(&mut self, d: Diagnostic) {
        self.ctx.push(d);
    }

    fn process_count(&mut self) {
        let attr = Attr::NodeProcessCountPerApplication;
        let s = self.get(attr).clone();
        if !self.explicit(attr) || !self.literal_number(attr) {
            return;
        }
        let n = self.uint(attr);
        if s.raw.trim() == "0" {
            let d = Diagnostic::new(
                &codes::PROCESS_COUNT_PER_CPU,
                "nodeProcessCountPerApplication is 0: iisnode starts one process per CPU of the server",
            )
            .help("Write the number of processes you want if the server's CPU count should not decide it.");
            let d = self.at(d, &s).note(format!(
                "on this machine that is {}",
                crate::ui::plural(n as usize, "process", "processes")
            ));
            self.push(d);
        } else if n > 64 {
            let d = Diagnostic::new(
                &codes::PROCESS_COUNT_HIGH,
                format!("nodeProcessCountPerApplication is {n}: iisnode starts all {n} node processes at once"),
            )
            .help("Use about one process per CPU, or 0 for exactly one per CPU.");
            let d = self.at(d, &s);
            self.push(d);
        }
    }

    fn concurrency_and_buffers(&mut self) {
        let mc = Attr::MaxConcurrentRequestsPerProcess;
        if self.uint(mc) == 0 && self.explicit(mc) && self.literal_number(mc) {
            let d = Diagnostic::new(
                &codes::ZERO_CONCURRENT_REQUESTS,
                "maxConcurrentRequestsPerProcess is 0: iisnode answers every request with 503",
            )
            .help("Use a positive limit (the default is 1024), or Infinite in web.config.");
            let d = self.at(d, &self.get(mc).clone());
            self.push(d);
        }
        let pool = Attr::MaxNamedPipeConnectionPoolSize;
        let age = Attr::MaxNamedPipePooledConnectionAge;
        for attr in [pool, age] {
            if self.uint(attr) == 0 && self.explicit(attr) && self.literal_number(attr) {
                let d = Diagnostic::new(
                    &codes::CONNECTION_POOLING_DISABLED,
                    format!(
                        "{} is 0: every request opens a new connection to node",
                        attr.name()
                    ),
                )
                .help(format!(
                    "Remove {} to keep the default ({}) unless pooling must be off.",
                    attr.name(),
                    attr.schema().default
                ));
                let d = self.at(d, &self.get(attr).clone());
                self.push(d);
            }
        }
        let initial = Attr::InitialRequestBufferSize;
        let max = Attr::MaxRequestBufferSize;
        if self.uint(initial) == 0 && self.explicit(initial) && self.literal_number(initial) {
            let d = Diagnostic::new(
                &codes::ZERO_REQUEST_BUFFER,
                "initialRequestBufferSize is 0: iisnode's buffer never grows and requests hang",
            )
            .help("Use a positive size, such as the default 4096.");
            let d = self.at(d, &self.get(initial).clone());
            self.push(d);
        } else if self.explicit(max) || self.explicit(initial) {
            let (i, m) = (self.uint(initial), self.uint(max));
            let msg = if m < i {
                Some(format!(
                    "maxRequestBufferSize ({m}) is smaller than initialRequestBufferSize ({i}): iisnode's buffer starts at {i} bytes and cannot grow, so header blocks up to {i} bytes pass and maxRequestBufferSize has no effect"
                ))
            } else if m < 4096 {
                Some(format!(
                    "maxRequestBufferSize is {m}: requests or responses with more than {m} bytes of headers fail"
                ))
            } else {
                None
            };
            if let Some(msg) = msg {
                let target = if self.explicit(max) { max } else { initial };
                let d = Diagnostic::new(&codes::REQUEST_BUFFER_LIMITS, msg).help(
                    "Keep maxRequestBufferSize at least 4096 and not below initialRequestBufferSize (the default is 65536).",
                );
                let d = self.at(d, &self.get(target).clone());
                self.push(d);
            }
        }
        let poll = Attr::UncFileChangesPollingInterval;
        if self.uint(poll) == 0 && self.explicit(poll) && self.literal_number(poll) {
            let d = Diagnostic::new(
                &codes::BUSY_FILE_POLLING,
                "uncFileChangesPollingInterval is 0: the file watcher polls without pause",
            )
            .help("Use an interval in milliseconds, such as the default 5000.");
            let d = self.at(d, &self.get(poll).clone());
            self.push(d);
        }
        let grace = Attr::GracefulShutdownTimeout;
        if self.uint(grace) == 0 && self.explicit(grace) && self.literal_number(grace) {
            let d = Diagnostic::new(
                &codes::NO_GRACEFUL_SHUTDOWN,
                "gracefulShutdownTimeout is 0: requests in flight fail when the application recycles",
            )
            .help("Give old processes time to finish, e.g. the default 60000 milliseconds.");
            let d = self.at(d, &self.get(grace).clone());
            self.push(d);
        }
    }

    fn connection_retry(&mut self) {
        let r = Attr::MaxNamedPipeConnectionRetry;
        let dl = Attr::NamedPipeConnectionRetryDelay;
        if !(self.explicit(r) || self.explicit(dl))
            || !self.literal_number(r)
            || !self.literal_number(dl)
        {
            return;
        }
        let (retries, delay) = (u64::from(self.uint(r)), u64::from(self.uint(dl)));
        let budget = retries * delay;
        let msg = if retries == 0 || delay == 0 {
            format!(
                "{} is 0: a request does not wait for node to start listening",
                if retries == 0 { r.name() } else { dl.name() }
            )
        } else if budget < 2000 {
            format!(
                "a request waits only {budget} ms ({retries} x {delay}) for node to start listening"
            )
        } else if budget > 120_000 {
            format!(
                "a request waits up to {} s ({retries} x {delay} ms) for a node process that never listens",
                budget / 1000
            )
        } else {
            return;
        };
        let target = if retries == 0 && self.explicit(r) {
            r
        } else if delay == 0 && self.explicit(dl) {
            dl
        } else if self.explicit(r) {
            r
        } else {
            dl
        };
        let d = Diagnostic::new(&codes::CONNECTION_RETRY_BUDGET, msg).help(
            "Keep maxNamedPipeConnectionRetry x namedPipeConnectionRetryDelay between 2 and 120 seconds (the default is 100 x 250 ms).",
        );
        let d = self.at(d, &self.get(target).clone());
        self.push(d);
    }

    fn logging(&mut self) {
        if !self.v.settings.bool(Attr::LoggingEnabled) {
            return;
        }
        let files = Attr::MaxLogFiles;
        let size = Attr::MaxLogFileSizeInKB;
        let total = Attr::MaxTotalLogFileSizeInKB;
        if self.uint(files) == 0 && self.explicit(files) && self.literal_number(files) {
            let d = Diagnostic::new(
                &codes::LOG_LIMITS,
                "maxLogFiles is 0, which iisnode treats as 20",
            )
            .help("Write the number of files to keep, e.g. 20.");
            let d = self.at(d, &self.get(files).clone());
            self.push(d);
        }
        if self.uint(size) == 0 && self.explicit(size) && self.literal_number(size) {
            let d = Diagnostic::new(
                &codes::LOG_LIMITS,
                "maxLogFileSizeInKB is 0: iisnode starts a new log file for nearly every write",
            )
            .help("Use a size in KB, e.g. the default 128.");
            let d = self.at(d, &self.get(size).clone());
            self.push(d);
        } else if self.uint(total) < self.uint(size)
            && (self.explicit(total) || self.explicit(size))
        {
            let d = Diagnostic::new(
                &codes::LOG_LIMITS,
                format!(
                    "maxTotalLogFileSizeInKB ({}) is smaller than maxLogFileSizeInKB ({}): each log file is deleted as soon as the next one starts",
                    self.uint(total),
                    self.uint(size)
                ),
            )
            .help("Make maxTotalLogFileSizeInKB a multiple of maxLogFileSizeInKB.");
            let target = if self.explicit(total) { total } else { size };
            let d = self.at(d, &self.get(target).clone());
            self.push(d);
        }
        let dir = self.get(Attr::LogDirectory).clone();
        let value = self.v.settings.str(Attr::LogDirectory).to_string();
        if value.trim().is_empty() {
            if dir.origin != Origin::Default {
                let d = Diagnostic::new(
                    &codes::EMPTY_LOG_DIRECTORY,
                    "logDirectory is empty: logs go to `iisnode`, but iisnode's error pages look in the script's folder",
                )
                .help("Name a folder, hidden from HTTP with requestFiltering.");
                let d = self.at(d, &dir);
                self.push(d);
            }
            return;
        }
        let norm = value.replace('\\', "/");
        if is_absolute_any(&value) || norm.split('/').any(|s| s == "..") {
            let d = Diagnostic::new(
                &codes::LOG_DIRECTORY_OUTSIDE,
                {
                    let t = value.trim();
                    let windows = t.len() >= 2 && t.as_bytes()[1] == b':' || t.starts_with("\\\\");
                    format!(
                        "logDirectory `{value}` is outside the script's folder: iisnode's error pages cannot show the logs{}",
                        if windows {
                            " (and `iisn serve`, which cannot write to a Windows path, writes them to the default `iisnode` folder)"
                        } else {
                            ""
                        }
                    )
                },
            )
            .help("Use a folder name under the script's folder, and hide it with requestFiltering hiddenSegments.");
            let d = self.at(d, &dir);
            self.push(d);
            return;
        }
        // The folder is served over HTTP unless a hidden segment covers it.
        let first = norm
            .split('/')
            .find(|s| !s.is_empty() && *s != ".")
            .unwrap_or("");
        if !first.eq_ignore_ascii_case("iisnode") {
            return;
        }
        let url_dir = super::join_rel(&self.v.dir_rel, &norm);
        let eff = self.ctx.effective(&url_dir);
        let hidden = eff.hidden_segments.iter().any(|h| {
            url_dir
                .split('/')
                .any(|seg| seg.eq_ignore_ascii_case(&h.item.segment.value))
        });
        if hidden {
            return;
        }
        let d = Diagnostic::new(
            &codes::GUESSABLE_LOG_DIRECTORY,
            format!("node's stdout and stderr are written to `{url_dir}/`, which IIS serves at /{url_dir}/"),
        )
        .help("Add <add segment=\"iisnode\"/> under <security><requestFiltering><hiddenSegments>, or set logDirectory to a name that cannot be guessed.");
        let d = self.at(d, &dir);
        self.push(d);
    }

    fn debugging(&mut self) {
        let enabled = self.v.settings.bool(Attr::DebuggingEnabled);
        let seg_attr = Attr::DebuggerPathSegment;
        let seg = self.get(seg_attr).clone();
        let value = self.v.settings.str(seg_attr).to_string();
        if enabled && value.is_empty() && self.explicit(seg_attr) {
            let d = Diagnostic::new(
                &codes::EMPTY_DEBUGGER_PATH_SEGMENT,
                "debuggerPathSegment is empty while debugging is enabled: iisnode fails every request with 500",
            )
            .help("Set debuggerPathSegment to a URL segment such as `debug`, or set debuggingEnabled=\"false\".");
            let d = self.at(d, &seg);
            self.push(d);
        } else if enabled
            && let Some(bad) = value
                .chars()
                .find(|c| matches!(c, '/' | '\\' | '?' | '#' | '%' | '.' | ' '))
        {
            let d = Diagnostic::new(
                &codes::DEBUGGER_PATH_SEGMENT_CHARS,
                format!("debuggerPathSegment `{value}` contains `{bad}`, which breaks the debugger's URL or folder name"),
            )
            .help("Use only letters, digits, `-` and `_`.");
            let d = self.at(d, &seg);
            self.push(d);
        }
        let range_attr = Attr::DebuggerPortRange;
        if !self.explicit(range_attr) {
            return;
        }
        let range = self.v.settings.str(range_attr).to_string();
        if let Some(why) = port_range_problem(&range) {
            let mut d = Diagnostic::new(
                &codes::DEBUGGER_PORT_RANGE,
                format!("debuggerPortRange `{range}` {why}"),
            )
            .help("Write a range such as 5058-6058, with both ports between 1025 and 65535.");
            if !enabled {
                d = d.severity(Severity::Warning);
            }
            let d = self.at(d, &self.get(range_attr).clone());
            self.push(d);
        }
    }

    fn production(&mut self) {
        let env = self.v.settings.node_env().unwrap_or_default();
        if !env.eq_ignore_ascii_case("production") {
            return;
        }
        let node_env = self.get(Attr::NodeEnv).clone();
        for (attr, lint, what, help) in [
            (
                Attr::DebuggingEnabled,
                &codes::DEBUGGING_IN_PRODUCTION,
                "the node debugger is enabled in production: anyone can start it at <script>/debug/",
                "Set debuggingEnabled=\"false\" in <iisnode>.",
            ),
            (
                Attr::DevErrorsEnabled,
                &codes::DEV_ERRORS_IN_PRODUCTION,
                "iisnode's developer error pages are enabled in production: failures show stderr to clients",
                "Set devErrorsEnabled=\"false\" in <iisnode>.",
            ),
        ] {
            if !self.v.settings.bool(attr) {
                continue;
            }
            let s = self.get(attr).clone();
            let mut d = Diagnostic::new(lint, what).help(help);
            d = if s.origin == Origin::Default {
                let d = self.at(d, &node_env);
                d.note(format!("{} is true by default", attr.name()))
            } else {
                self.at(d, &s)
            };
            self.push(d);
        }
    }

    fn node_env(&mut self) {
        let s = self.get(Attr::NodeEnv).clone();
        if s.origin != Origin::Default && s.raw.trim().is_empty() {
            let d = Diagnostic::new(
                &codes::EMPTY_NODE_ENV,
                "node_env is empty, so iisnode does not set NODE_ENV",
            )
            .help("Write the environment, e.g. node_env=\"production\", or remove the attribute.");
            let d = self.at(d, &s);
            self.push(d);
        }
    }

    fn command_line(&mut self) {
        for attr in [Attr::NodeProcessCommandLine, Attr::Interceptor] {
            let s = self.get(attr).clone();
            if s.origin == Origin::Default {
                continue;
            }
            let value = self.v.settings.str(attr).to_string();
            if value.matches('"').count() % 2 == 1 {
                let d = Diagnostic::new(
                    &codes::COMMAND_LINE_QUOTES,
                    format!(
                        "{} has an opening quote without a closing quote",
                        attr.name()
                    ),
                )
                .help("Close the quote (in web.config, write it as &quot;).");
                let d = self.at(d, &s);
                self.push(d);
                continue;
            }
            if attr == Attr::NodeProcessCommandLine && !value.trim_start().starts_with('"') {
                let lower = value.to_ascii_lowercase();
                if let Some(exe) = lower.find(".exe")
                    && value[..exe].trim_start().contains(' ')
                    && (value.contains('\\') || value.contains('/'))
                {
                    let program = value[..exe + 4].trim_start();
                    let d = Diagnostic::new(
                        &codes::COMMAND_LINE_UNQUOTED_SPACE,
                        format!("the program path `{program}` contains a space but is not quoted"),
                    )
                    .help(format!("Quote it: &quot;{program}&quot; in web.config, \"{program}\" in iisnode.yml."));
                    let d = self.at(d, &s);
                    self.push(d);
                }
            }
        }
    }

    fn promote_server_vars(&mut self) {
        let attr = Attr::PromoteServerVars;
        let s = self.get(attr).clone();
        let value = self.v.settings.str(attr).to_string();
        if s.origin == Origin::Default || value.is_empty() {
            return;
        }
        let tokens: Vec<&str> = value.split(',').collect();
        let spaced: Vec<String> = tokens
            .iter()
            .filter(|t| !t.is_empty() && t.trim() != **t)
            .map(|t| format!("`{t}`"))
            .collect();
        let empty = tokens.len() > 1 && tokens.iter().any(|t| t.is_empty());
        if spaced.is_empty() && !empty {
            return;
        }
        let msg = if spaced.is_empty() {
            "promoteServerVars has an empty name between commas".to_string()
        } else {
            format!(
                "promoteServerVars names {} with spaces, which match no server variable",
                spaced.join(", ")
            )
        };
        let fixed: Vec<&str> = tokens
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .collect();
        let d = Diagnostic::new(&codes::PROMOTE_SERVER_VARS_SPACES, msg).help(format!(
            "Write the list without spaces: `{}`.",
            fixed.join(",")
        ));
        let d = self.at(d, &s);
        self.push(d);
    }

    fn watched_files(&mut self) {
        let attr = Attr::WatchedFiles;
        let s = self.get(attr).clone();
        let value = self.v.settings.str(attr).to_string();
        let span = match &s.origin {
            Origin::WebConfig { span } | Origin::Yml { span } => Some(*span),
            _ => None,
        };
        let mut offset = 0;
        for entry in value.split(';') {
            let range = offset..offset + entry.len();
            offset += entry.len() + 1;
            if entry.is_empty() {
                continue;
            }
            let (dir, file) = entry.rsplit_once('\\').unwrap_or(("", entry));
            let problem: Option<(String, Severity)> = if file.is_empty() {
                Some((
                    format!(
                        "the watchedFiles entry `{entry}` names a folder: iisnode watches only the file named after the last `\\`, so it watches nothing for this entry"
                    ),
                    Severity::Warning,
                ))
            } else if dir.contains(['*', '?']) {
                Some((
                    format!(
                        "the watchedFiles entry `{entry}` has a wildcard in its folder part, which makes the application fail to start"
                    ),
                    Severity::Error,
                ))
            } else if entry.trim() != entry {
                Some((
                    format!(
                        "the watchedFiles entry `{entry}` has spaces around it, so it names a file that does not exist"
                    ),
                    Severity::Warning,
                ))
            } else if entry.contains('/') {
                Some((
                    format!(
                        "the watchedFiles entry `{entry}` uses `/`, which iisnode does not treat as a folder separator"
                    ),
                    Severity::Warning,
                ))
            } else if is_absolute_any(entry) || entry.split('\\').any(|p| p == "..") {
                Some((
                    format!(
                        "the watchedFiles entry `{entry}` is not a path inside the script's folder"
                    ),
                    Severity::Warning,
                ))
            } else if file.to_ascii_lowercase().ends_with("web.config") {
                let mut d = Diagnostic::new(
                    &codes::WATCHED_WEB_CONFIG,
                    format!("iisnode ignores the watchedFiles entry `{entry}`: IIS restarts the application when web.config changes anyway"),
                )
                .help("Remove the entry.");
                d = match span {
                    Some(sp) => d.at(self.ctx.sub_span(sp, &value, range.clone())),
                    None => self.at(d, &s),
                };
                self.push(d);
                None
            } else {
                // A folder whose parent does not exist: iisnode's watcher fails to open it
                // and the application does not start (`iisn serve` answers 500.1000).
                self.v
                    .app
                    .and_then(|a| a.script.parent())
                    .and_then(|dir| crate::serve::watcher::start_failure(entry, dir))
                    .map(|why| (why, Severity::Error))
            };
            if let Some((msg, sev)) = problem {
                let mut d = Diagnostic::new(&codes::WATCHED_FILES_ENTRY, msg)
                    .severity(sev)
                    .help("Write paths relative to the script's folder with `\\` between folders, wildcards only in the file name, and no spaces around `;`.");
                d = match span {
                    Some(sp) => d.at(self.ctx.sub_span(sp, &value, range)),
                    None => self.at(d, &s),
                };
                self.push(d);
            }
        }
        // iisnode.yml is re-read only when an entry's file-name part is the whole
        // configOverrides value (serve::watcher::names_config_overrides).
        let Some(app) = self.v.app else { return };
        if !app.yml.present {
            return;
        }
        let co = self.v.settings.str(Attr::ConfigOverrides).to_string();
        if value
            .split(';')
            .any(|e| crate::serve::watcher::names_config_overrides(e, &co))
        {
            return;
        }
        // An entry that watches the file all the same: named in a sub-folder
        // (`config\iisnode.yml`), or through a wildcard that matches its name (`*.yml`,
        // `iisnode.*`; `*.js` does not match iisnode.yml).
        let split = |p: &str| -> (String, String) {
            let p = p.replace('\\', "/");
            match p.rsplit_once('/') {
                Some((d, f)) => (d.to_ascii_lowercase(), f.to_string()),
                None => (String::new(), p),
            }
        };
        let (co_dir, co_name) = split(&co);
        let watched_by = value.split(';').find(|e| {
            let (dir, name) = split(e);
            dir == co_dir && super::handlers::glob_match(&name, &co_name)
        });
        let msg = match watched_by {
            Some(e) if !e.contains(['*', '?']) => format!(
                "watchedFiles names `{e}`, but iisnode re-reads `{co}` only when an entry's file name alone equals configOverrides: editing it recycles the application without re-reading it"
            ),
            Some(_) => format!(
                "watchedFiles matches `{co}` only through a wildcard: editing it recycles the application without re-reading it"
            ),
            None => {
                format!(
                    "watchedFiles does not name `{co}`: iisnode does not notice when it changes"
                )
            }
        };
        let help = if co.contains('\\') {
            format!(
                "Keep the file next to the script (configOverrides=\"iisnode.yml\", the default) and list it in watchedFiles: iisnode compares only the file-name part of an entry with configOverrides, so `{co}` is never re-read when it changes."
            )
        } else {
            format!("Add `{co}` to watchedFiles (the default is `*.js;iisnode.yml`).")
        };
        let d = Diagnostic::new(&codes::YML_NOT_WATCHED, msg).help(help);
        let d = self.at(d, &s);
        self.push(d);
    }

    fn platform(&mut self) {
        for schema in SCHEMA.iter().filter(|s| s.emulation == Emulation::Ignored) {
            let s = self.get(schema.attr).clone();
            if s.origin == Origin::Default || s.raw.trim() == schema.default {
                continue;
            }
            let d = Diagnostic::new(
                &codes::WINDOWS_ONLY_SETTING,
                format!(
                    "{} only has an effect on Windows; iisn ignores it",
                    schema.name
                ),
            )
            .help("Keep it if the site also runs on IIS; otherwise remove it.");
            let d = self.at(d, &s);
            self.push(d);
        }
        let recycle = Attr::RecycleSignalEnabled;
        if self.v.settings.bool(recycle) && self.explicit(recycle) {
            let d = Diagnostic::new(
                &codes::RECYCLE_SIGNAL_SCOPE,
                "recycleSignalEnabled: a recycle request from node restarts every application of the IIS worker, not only this one",
            )
            .help("Keep it if that is intended; iisn restarts every application of the site.");
            let d = self.at(d, &self.get(recycle).clone());
            self.push(d);
        }
        // The attribute in web.config (not its value) is what the original schema rejects.
        let sticky = Attr::NodeProcessStickySessions;
        let eff = self.ctx.effective(&self.v.dir_rel);
        if let Some(e) = eff.iisnode_value(sticky) {
            let d = Diagnostic::new(
                &codes::STICKY_SESSIONS_AZURE_ONLY,
                "nodeProcessStickySessions exists only in Azure's iisnode; the original iisnode rejects the <iisnode> section",
            )
            .help("Keep it for Azure App Service; remove it for servers with the original iisnode build.")
            .at(e.item.name_span);
            self.push(d);
        }
    }

    fn env_overrides(&mut self) {
        let eff = self.ctx.effective(&self.v.dir_rel);
        for s in self.v.settings.iter() {
            let Origin::Env { var } = &s.origin else {
                continue;
            };
            let Some(e) = eff.iisnode_value(s.attr) else {
                continue;
            };
            let d = Diagnostic::new(
                &codes::ENV_OVERRIDES_WEB_CONFIG,
                format!(
                    "the environment variable {var} overrides this {} value",
                    s.attr.name()
                ),
            )
            .help(format!("Unset {var} to use the value written here."))
            .at(e.item.value_span);
            self.ctx.push(d);
        }
    }
}

/// What is wrong with a `debuggerPortRange`, as iisnode's `GetDebugPortRange` parses it.
fn port_range_problem(value: &str) -> Option<&'static str> {
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match value.split_once('-') {
        None => match number(value) {
            None => Some("is not a port or a range of ports"),
            Some(n) if n < 1025 => Some("starts below port 1025"),
            Some(n) if n > 65535 => Some("is above 65535 (iisnode truncates it to 16 bits)"),
            Some(_) => None,
        },
        Some((a, b)) => match (number(a), number(b)) {
            (Some(a), Some(b)) => {
                if a < 1025 {
                    Some("starts below port 1025")
                } else if b > 65535 {
                    Some("ends above port 65535")
                } else if b < a {
                    Some("ends before it starts")
                } else {
                    None
                }
            }
            _ => Some("is not a port or a range of ports"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(port_range_problem("5058-6058"), None);
        assert_eq!(port_range_problem("6000"), None);
        assert!(port_range_problem("80-90").is_some());
        assert!(port_range_problem("7000-6000").is_some());
        assert!(port_range_problem("70000").is_some());
        assert!(port_range_problem("6000-70000").is_some());
        assert!(port_range_problem("").is_some());
        assert!(port_range_problem("-5").is_some());
        assert!(port_range_problem("a-b").is_some());
    }
}
