//! The registry of diagnostic codes.
//!
//! Codes are stable: once published, a code keeps its meaning forever (retire it, never
//! reuse it). Numbering by family:
//!
//! | range      | family                                              |
//! |------------|-----------------------------------------------------|
//! | IISN0xxx   | reading files: XML syntax, encodings, unreadable    |
//! | IISN1xxx   | web.config model: sections, collections, values     |
//! | IISN2xxx   | the `<iisnode>` section and its values              |
//! | IISN3xxx   | iisnode.yml                                         |
//! | IISN4xxx   | `IISNODE_*` environment overrides                   |
//! | IISN5xxx   | `iisn check`: what iisnode does with the values     |
//! | IISN6xxx   | `iisn check`: handlers, URL Rewrite, static files   |
//! | IISN7xxx   | `iisn check`: the node application itself           |
//!
//! Each entry has a default severity, a one-line summary and a longer explanation (printed
//! by `iisn check --explain` and listed in `docs/lints.md`). IISN0xxx–IISN4xxx come from the
//! loaders (`config`); IISN5xxx–IISN7xxx from the semantic lints of `check`.

use super::Severity;

/// A kind of diagnostic: its stable code and documentation.
#[derive(Debug, PartialEq, Eq)]
pub struct Lint {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub explanation: &'static str,
}

macro_rules! lints {
    ($( $ident:ident = $code:literal, $name:literal, $sev:ident, $summary:literal, $expl:literal; )*) => {
        $(
            #[doc = concat!("Lint `", $code, "` (`", $name, "`).")]
            pub static $ident: Lint = Lint {
                code: $code,
                name: $name,
                severity: Severity::$sev,
                summary: $summary,
                explanation: $expl,
            };
        )*
        /// Every lint, in code order.
        pub static ALL: &[&Lint] = &[$(&$ident),*];
    };
}

lints! {
    XML_SYNTAX = "IISN0001", "xml-syntax", Error,
        "web.config is not well-formed XML",
        "IIS cannot parse the file and answers every request under its folder with HTTP 500.19 \
         (HRESULT 0x8007000d). iisnode never runs. Fix the markup at the reported position: an \
         unclosed tag, a mismatched end tag, an unescaped `&` or `<` in an attribute value (write \
         `&amp;` and `&lt;`), or a duplicated attribute.";
    FILE_ENCODING = "IISN0002", "file-encoding", Error,
        "the file is not in an encoding IIS or iisnode reads",
        "web.config is read as IIS reads it: UTF-8 (with or without a byte order mark), or \
         UTF-16 with a byte order mark (Notepad's \"Unicode\"). Other bytes, or UTF-16 with an \
         unpaired surrogate, cannot be read (IIS answers 500.19). iisnode.yml must be 8-bit \
         text: a UTF-16 iisnode.yml is refused. Save the file as UTF-8.";
    FILE_UNREADABLE = "IISN0003", "file-unreadable", Error,
        "a configuration file exists but cannot be read",
        "The file is there but reading it failed: permissions, a folder named web.config, or a \
         symbolic link to a folder or to nothing. IIS would answer HTTP 500.19 with HRESULT \
         0x80070005 for every URL at or below its folder. Make the file readable by the user \
         running iisn. (A file named on `iisn check`'s command line that cannot be read is not \
         this diagnostic: the command exits with 2, as for a missing path.)";
    ROOT_ELEMENT = "IISN0004", "root-element", Error,
        "the root element of web.config is not <configuration>",
        "IIS only reads web.config files whose root element is `<configuration>`; anything else \
         is a configuration error (500.19). Wrap the sections in `<configuration>`.";

    NO_CONFIG_FILES = "IISN0005", "no-config-files", Warning,
        "a folder given to `iisn check` holds no web.config: nothing was checked",
        "`iisn check FOLDER` reads every web.config in the folder and its sub-folders, and the \
         iisnode.yml of each application they map. A folder without any (a CI step pointed at \
         the repository instead of the site, a typo) would pass with nothing checked, so it is \
         a warning: `--deny-warnings` fails it. It is not reported when the folder already has \
         a warning, such as IISN6001 for a node application without a web.config. Pass the \
         site's root folder, or name the files.";

    NOT_EMULATED = "IISN1001", "not-emulated", Info,
        "a configuration section iisn reads but does not emulate",
        "The section is valid IIS configuration, but iisn does not reproduce its effect (for \
         example ASP.NET's `system.web`, `modules`, authentication, compression). It is kept, \
         not rejected; behaviour that depends on it will differ from IIS.";
    UNKNOWN_ATTRIBUTE = "IISN1002", "unknown-attribute", Error,
        "an attribute that the IIS schema does not define for this element",
        "IIS validates every attribute against its schema and rejects unknown ones with HTTP \
         500.19 (HRESULT 0x8007000d) for every URL at or below the file's folder, static files \
         included; `iisn serve` does the same. Usually this is a typo or a different case (IIS \
         attribute names are case-sensitive). Check the spelling against the IIS documentation.";
    DUPLICATE_SECTION = "IISN1003", "duplicate-section", Error,
        "the same configuration section appears twice in one file",
        "A section such as `<iisnode>` or `<handlers>` may appear once per `<system.webServer>` \
         (and once per `<location>` path). IIS rejects the file with HTTP 500.19. Merge the two \
         elements into one.";
    DUPLICATE_KEY = "IISN1004", "duplicate-key", Error,
        "a collection entry is added twice with the same key",
        "IIS collections (handlers, mimeMap, appSettings, hiddenSegments, rewrite rules, ...) are \
         keyed. Adding a key that the collection already has, in this file or inherited from a \
         parent web.config or from IIS's own server configuration (its MIME map, default \
         documents, the httpErrors rows for 401, 403, 404, 405, 406, 412, 500, 501 and 502, the \
         `X-Powered-By` custom header), is HTTP 500.19 with HRESULT 0x800700b7. To replace an \
         inherited entry, `<remove>` it first, then `<add>` it again.";
    MISSING_ATTRIBUTE = "IISN1005", "missing-attribute", Error,
        "a required attribute is missing",
        "The IIS schema marks this attribute as required (for example `name`, `path` and `verb` \
         on a handler, `key` on an appSettings entry). IIS rejects the element with HTTP 500.19.";
    INVALID_VALUE = "IISN1006", "invalid-value", Error,
        "an attribute value that the IIS schema does not accept",
        "IIS validates values against the schema: booleans are `true`/`false`, numbers are \
         decimal integers in range, enumerations take one of the listed names. An invalid value \
         is HTTP 500.19. The message lists what is accepted.";
    LOCATION_PATH = "IISN1007", "location-path", Warning,
        "a `<location path>` that iisn cannot apply",
        "`<location path=\"...\">` applies its sections to a sub-path of the folder that holds \
         the web.config. Paths are URL paths relative to that folder, without `..` or a drive \
         letter. iisn ignores a location it cannot map.";
    MISPLACED_ELEMENT = "IISN1008", "misplaced-element", Error,
        "an element in a place where IIS does not expect it",
        "The element is not in the IIS schema under this parent: a misspelt child of a section \
         IIS knows (`<rule>` inside `<handlers>`), a known section under the wrong parent \
         (`<iisnode>` directly under `<configuration>`, which has no section declaration \
         there), or a section name with a letter or two wrong or in another case \
         (`<handler>`, `<system.webserver>`: IIS section names are case-sensitive; a name far \
         from every section iisn reads is only noted, IISN1001). IIS refuses the file with HTTP 500.19 (HRESULT 0x8007000d) for every URL at or \
         below its folder, and `iisn serve` does the same. Move or rename the element.";
    CONFIG_SOURCE = "IISN1009", "config-source", Error,
        "a `configSource` file that IIS cannot use",
        "A section can keep its content in another file (`<rules configSource=\"rewrite.config\"/>`). \
         IIS reads that file from the web.config's folder (or below it, never with `..`), expects \
         the section itself as its root element, and requires the section in web.config to be \
         otherwise empty. A missing or mismatched file is HTTP 500.19 for every URL at or below \
         the folder. iisn reads the file as IIS does and reports its problems at their place in \
         that file.";
    LOCKED_SECTION = "IISN1010", "locked-section", Warning,
        "a section that IIS locks at the server level by default",
        "IIS's applicationHost.config declares some sections with `overrideModeDefault=\"Deny\"`: \
         the authentication methods (`anonymousAuthentication`, `windowsAuthentication`, \
         `basicAuthentication`, `digestAuthentication`, the client certificate mappings), \
         `security/access`, `security/ipSecurity`, `serverRuntime` and `asp`. On a server that \
         has not unlocked one, a web.config that sets it gets HTTP 500.19 (HRESULT 0x80070021, \
         \"This configuration section cannot be used at this path\") for every URL at or below \
         its folder. Unlock it on the server (`appcmd unlock config \
         -section:system.webServer/security/authentication/windowsAuthentication`, or Feature \
         Delegation in IIS Manager), or remove it from web.config. iisn does not emulate these \
         sections and serves the site.";

    ERROR_PAGES_UNREADABLE = "IISN1011", "error-pages-unreadable", Error,
        "an httpErrors configuration IIS refuses when a request fails",
        "IIS's CustomErrorModule reads `<httpErrors>` only when a response has an error status \
         (400 or more). When the section cannot be read there, every such response at or below \
         the folder becomes HTTP 500.19, while pages that succeed keep serving, so the problem \
         shows only on a 404 or a 500: a second `<error>` row for a status IIS's server \
         configuration already has (401, 403, 404, 405, 406, 412, 500, 501, 502) without \
         `<remove statusCode=\"...\"/>` first (HRESULT 0x800700b7, \"Cannot add duplicate \
         collection entry\"), or `defaultPath`, which IIS locks at the server level \
         (`lockAttributes=\"allowAbsolutePathsWhenDelegated,defaultPath\"`, HRESULT 0x80070021). \
         `iisn serve` answers the same 500.19 for those responses. Add the `<remove>`, or give \
         each status its own `<error>` row instead of `defaultPath`.";
    STATIC_CONTENT_UNREADABLE = "IISN1012", "static-content-unreadable", Error,
        "a staticContent configuration IIS refuses when it serves a file",
        "IIS reads `<staticContent>` (the MIME map and `<clientCache>`) only when its static \
         file handler serves a file. When the section cannot be read, every static file and \
         default document at or below the folder answers HTTP 500.19, while node's pages keep \
         serving: a `<mimeMap>` for an extension IIS's server configuration already maps \
         (`.json`, `.woff2`, `.svg`, ...) without `<remove fileExtension=\"...\"/>` first \
         (HRESULT 0x800700b7, \"Cannot add duplicate collection entry\"), or a \
         `<clientCache>` value the schema does not accept, such as a `cacheControlMaxAge` \
         that is not a time span (HRESULT 0x8007000d). `iisn serve` \
         answers the same 500.19 for those files. Add the `<remove>`, or write the span as \
         `[days.]hh:mm:ss`.";
    SECTION_LOCKED = "IISN1013", "section-locked", Error,
        "a section or handler mapping a parent web.config locks",
        "`<location path=\"...\" overrideMode=\"Deny\">` (or the legacy \
         `allowOverride=\"false\"`) locks the sections it holds for its path: a web.config \
         at or below that path may not set them again (nor may its `<location>`s). IIS refuses \
         such a file with HTTP 500.19 (HRESULT 0x80070021, \"This configuration section \
         cannot be used at this path\") for every URL at or below its folder, and `iisn \
         serve` does the same, so a locked `<handlers>` cannot be emptied below and a script \
         served as text. The same for the handler list's finer locks: `lockElements=\"remove,clear\"` \
         on `<handlers>` forbids those directives below, and `lockItem=\"true\"` on an \
         `<add>` forbids removing that mapping (or clearing the list). Remove the section or \
         directive from the lower file, or unlock it in the parent (`overrideMode=\"Allow\"`).";
    TEXT_CONTENT = "IISN1014", "text-content", Warning,
        "text inside a configuration element",
        "No section of IIS's schema has text content: IIS reads the elements and attributes of \
         web.config and passes over text between them, so the text has no effect. It is most \
         often an element that lost its `<` (`add name=\"iisnode\" path=\"server.js\" ... />` \
         inside `<handlers>`): the mapping is then missing, and IIS serves the script as a \
         static file, its source code. Restore the `<`, or delete the text (or make it a \
         comment).";
    IISNODE_UNKNOWN_ATTRIBUTE = "IISN2001", "iisnode-unknown-attribute", Error,
        "an attribute of <iisnode> that iisnode's schema does not define",
        "iisnode's schema defines 34 attributes; IIS rejects any other with a configuration \
         error, and iisnode answers every request with \"iisnode was unable to read the \
         configuration file\" (iisnode functional test 116). Attribute names are case-sensitive. \
         The help line suggests the closest valid name.";
    IISNODE_LEGACY_ATTRIBUTE = "IISN2002", "iisnode-legacy-attribute", Error,
        "a legacy <iisnode> attribute from an old iisnode release",
        "Early iisnode samples used attributes that later releases removed or renamed \
         (`maxProcessCountPerApplication`, `logDirectoryNameSuffix`, `appendToExistingLog`, \
         `logFileFlushInterval`). Current iisnode rejects them like any unknown attribute. Use \
         the replacement the help line names, or delete the attribute.";
    IISNODE_INVALID_VALUE = "IISN2003", "iisnode-invalid-value", Error,
        "an <iisnode> attribute value the schema rejects",
        "Numeric attributes take a decimal integer from 0 to 4294967295 (no sign, spaces or hex; \
         `maxConcurrentRequestsPerProcess` also accepts `Infinite`). Booleans take `true` or \
         `false`. IIS refuses anything else and iisnode shows its configuration error page.";
    UNDEFINED_VARIABLE = "IISN2004", "undefined-variable", Warning,
        "a %VAR% reference to an environment variable that is not defined",
        "IIS expands `%NAME%` in the attributes its schema marks as expanded, using the worker \
         process's environment; an undefined name stays in the value literally. \
         The value then contains the literal `%NAME%` text, which is rarely intended. Define the \
         variable or write the value out.";
    NOT_EXPANDED = "IISN2005", "not-expanded", Warning,
        "a %VAR% reference in an attribute that is never expanded",
        "Only some <iisnode> attributes are expanded (node_env, nodeProcessCommandLine, \
         interceptor, logDirectory, debuggerPathSegment, debuggerPortRange, watchedFiles, \
         configOverrides). In the others, `%NAME%` is kept literally.";

    YML_SYNTAX = "IISN3001", "yml-syntax", Error,
        "a line of iisnode.yml that iisnode cannot parse",
        "iisnode.yml is not YAML: iisnode reads it line by line as `key: value`, with `#` \
         starting a comment anywhere and only spaces counting as whitespace. A line without a \
         colon, a line starting with a colon, a key with a space in it, or a tab before a comment \
         makes iisnode reject the whole file: every request gets \"iisnode was unable to read \
         the configuration file iisnode.yml\".";
    YML_INVALID_BOOL = "IISN3002", "yml-invalid-bool", Error,
        "an iisnode.yml boolean that is not true/false/yes/no/1/0",
        "iisnode accepts `true`, `false`, `yes`, `no`, `1` and `0` (any case) for boolean keys \
         and rejects the whole file for anything else, including quoted values and values with \
         a trailing tab.";
    YML_NUMBER_OVERFLOW = "IISN3003", "yml-number-overflow", Error,
        "an iisnode.yml number that overflows a 32-bit signed integer",
        "iisnode parses numbers with C `atol` and rejects the file when the value is out of the \
         32-bit signed range (above 2147483647 or below -2147483648).";
    YML_LENIENT_NUMBER = "IISN3004", "yml-lenient-number", Warning,
        "an iisnode.yml number that iisnode silently reads as something else",
        "iisnode parses numbers like C `atol`: it skips leading whitespace, accepts a sign, \
         stops at the first non-digit, and reads text with no digits as 0. So `\"4\"` is 0, \
         `Infinite` is 0 (every request 503 for maxConcurrentRequestsPerProcess), `12abc` is 12 \
         and `-1` wraps to 4294967295. The message shows the value iisnode uses; write a plain \
         decimal number.";
    YML_UNKNOWN_KEY = "IISN3005", "yml-unknown-key", Warning,
        "an iisnode.yml key that iisnode ignores",
        "iisnode silently ignores keys it does not know, so a typo has no effect. Keys are \
         compared without regard to case. The help line suggests the closest key.";
    YML_EMPTY_VALUE = "IISN3006", "yml-empty-value", Warning,
        "an iisnode.yml key with an empty value, which iisnode ignores",
        "iisnode ignores a line whose value is empty: it cannot clear a setting, so the \
         web.config or environment value stays in force.";
    YML_QUOTED_VALUE = "IISN3007", "yml-quoted-value", Warning,
        "quotes in an iisnode.yml value become part of the value",
        "iisnode does not strip quotes. They are right for `nodeProcessCommandLine` and \
         `interceptor` (a Windows command line needs them around paths with spaces), but \
         anywhere else the quote characters end up in the setting: `node_env: \"production\"` \
         sets NODE_ENV to `\"production\"` with the quotes.";
    YML_HASH_IN_VALUE = "IISN3008", "yml-hash-in-value", Warning,
        "a `#` inside an iisnode.yml value starts a comment",
        "iisnode treats the first `#` on a line as the start of a comment, even inside quotes, \
         so `node_env: prod#1` sets `prod`. A value cannot contain `#`.";
    YML_TAB = "IISN3009", "yml-tab", Warning,
        "a tab in iisnode.yml, which iisnode does not treat as whitespace",
        "Only the space character is whitespace for iisnode. A tab before a key makes the key \
         unknown (silently ignored), a tab after the colon becomes part of the value (a boolean \
         then fails), and a line holding only a tab is a syntax error. Use spaces.";
    YML_BOM = "IISN3010", "yml-bom", Warning,
        "iisnode.yml starts with a UTF-8 byte order mark",
        "iisnode reads the bytes of the byte order mark as part of the first key, so the first \
         line is silently ignored, or, when it is a comment, the whole file fails. Save the \
         file as UTF-8 without BOM.";
    YML_DUPLICATE_KEY = "IISN3011", "yml-duplicate-key", Warning,
        "a key set twice in iisnode.yml",
        "iisnode applies lines in order, so the last one wins. The earlier line has no effect.";
    YML_NON_ASCII = "IISN3012", "yml-non-ascii", Warning,
        "non-ASCII text in iisnode.yml",
        "iisnode converts the file with the Windows ANSI code page, so non-ASCII characters may \
         change on the server. Keep iisnode.yml ASCII.";
    YML_NUL = "IISN3013", "yml-nul", Info,
        "a NUL byte in iisnode.yml ends the file for iisnode",
        "iisnode reads the file as a C string: everything after the first NUL byte is ignored.";
    YML_WRONG_KEY = "IISN3014", "yml-wrong-key", Warning,
        "a web.config attribute name that iisnode.yml spells differently or does not accept",
        "In iisnode.yml the debugger port range key is `debugPortRange` (the web.config \
         attribute is `debuggerPortRange`, which iisnode.yml silently ignores), and \
         `configOverrides` cannot be set from the file it names.";
    YML_UNREADABLE = "IISN3015", "yml-unreadable", Error,
        "iisnode.yml exists but cannot be read",
        "iisnode fails every request with its iisnode.yml error page when the file exists but \
         cannot be opened or read.";
    CONFIG_OVERRIDES_PATH = "IISN3016", "config-overrides-path", Error,
        "configOverrides is not a path relative to the script's folder",
        "iisnode appends `configOverrides` to the folder of the entry script, so an absolute \
         path (or a drive letter) yields an invalid path and every request gets the iisnode.yml \
         error page. An empty value also breaks real iisnode (it tries to open the folder \
         itself); iisn treats it as \"no overrides\". Use a relative path such as `iisnode.yml`.";

    ENV_INVALID = "IISN4001", "env-invalid", Error,
        "an IISNODE_* environment variable with a value iisnode rejects",
        "iisnode reads `IISNODE_<attribute>` variables before web.config. Booleans must be \
         `true`, `false`, `1` or `0`; numbers must have digits, be non-negative and fit 32-bit \
         signed; strings are at most 1023 characters. Anything else makes iisnode answer with \
         its configuration error page (error 1033).";
    ENV_UNKNOWN = "IISN4002", "env-unknown", Warning,
        "an IISNODE_* environment variable that names no attribute",
        "The variable looks like an iisnode override but matches none of the 34 attribute \
         names, so iisnode ignores it. Names iisnode itself sets for node (IISNODE_VERSION, \
         IISNODE_CONTROL_PIPE, the logging variables) are not reported.";

    PROCESS_COUNT_PER_CPU = "IISN5001", "process-count-per-cpu", Info,
        "nodeProcessCountPerApplication is 0, which means one process per CPU",
        "iisnode's `ApplyDefaults` turns `nodeProcessCountPerApplication=\"0\"` into the number of \
         processors of the server, whichever channel set it (web.config, `IISNODE_*` or \
         iisnode.yml). The server's CPU count is often not the developer's, so the same file \
         starts a different number of processes there. The note shows the count on this machine.";
    PROCESS_COUNT_HIGH = "IISN5002", "process-count-high", Warning,
        "more than 64 node processes per application",
        "iisnode starts every process of an application at once, when the application receives \
         its first request, and each process is a full node runtime (tens of megabytes). More \
         than 64 per application usually means a typo or a value meant for another setting. Use \
         the number of CPUs, or 0 for one process per CPU.";
    ZERO_CONCURRENT_REQUESTS = "IISN5003", "zero-concurrent-requests", Error,
        "maxConcurrentRequestsPerProcess is 0, so every request gets 503",
        "iisnode compares the requests in flight on a process with \
         `maxConcurrentRequestsPerProcess` before it dispatches one; with 0 the limit is always \
         reached and every request is answered with HTTP 503. Use a positive number (the default \
         is 1024) or, in web.config only, `Infinite`.";
    CONNECTION_RETRY_BUDGET = "IISN5004", "connection-retry-budget", Warning,
        "the time iisnode waits for node to listen is very short or very long",
        "A request waits up to `maxNamedPipeConnectionRetry` x `namedPipeConnectionRetryDelay` \
         milliseconds for its node process to accept the connection (the default budget is 100 \
         x 250 ms = 25 s). With a 0 in either, or a budget under 2 seconds, the first requests \
         after a start or a recycle fail with 500.1001 before node is listening; over 120 \
         seconds, a process that never listens keeps each request hanging that long.";
    CONNECTION_POOLING_DISABLED = "IISN5005", "connection-pooling-disabled", Info,
        "connections to node processes are not reused",
        "`maxNamedPipeConnectionPoolSize=\"0\"` or `maxNamedPipePooledConnectionAge=\"0\"` makes \
         iisnode open a new connection to the node process for every request. It works, but \
         costs a connection setup per request.";
    ZERO_REQUEST_BUFFER = "IISN5006", "zero-request-buffer", Error,
        "initialRequestBufferSize is 0, which makes iisnode hang",
        "iisnode grows its request header buffer by doubling it; starting from 0 the doubling \
         never gets anywhere and the request never completes. Use a positive size (the default \
         is 4096 bytes).";
    REQUEST_BUFFER_LIMITS = "IISN5007", "request-buffer-limits", Warning,
        "maxRequestBufferSize is below 4096 or below initialRequestBufferSize",
        "`maxRequestBufferSize` caps the serialized request headers sent to node and the response \
         headers read back. A cap below the initial buffer size, or below 4096 bytes, fails \
         ordinary requests with large cookies or headers. The default is 65536.";
    BUSY_FILE_POLLING = "IISN5008", "busy-file-polling", Warning,
        "uncFileChangesPollingInterval is 0, so the file watcher polls without pause",
        "iisnode's watcher thread waits `uncFileChangesPollingInterval` milliseconds between \
         polls of watched files on network shares; 0 makes it poll continuously and use a CPU. \
         The default is 5000.";
    NO_GRACEFUL_SHUTDOWN = "IISN5009", "no-graceful-shutdown", Info,
        "gracefulShutdownTimeout is 0, so requests in flight are cut on recycle",
        "On a recycle iisnode lets old processes finish their requests for up to \
         `gracefulShutdownTimeout` milliseconds before it kills them; with 0 they are killed at \
         once and the requests they were serving fail.";
    LOG_LIMITS = "IISN5010", "log-limits", Warning,
        "log rotation settings that do not do what they seem to",
        "iisnode's log capture starts a new file past `maxLogFileSizeInKB` and deletes the \
         oldest files past `maxTotalLogFileSizeInKB` or `maxLogFiles`. `maxLogFiles=\"0\"` acts \
         as 20, `maxLogFileSizeInKB=\"0\"` starts a new file for nearly every write, and a total \
         smaller than one file deletes each file as soon as the next one starts.";
    EMPTY_DEBUGGER_PATH_SEGMENT = "IISN5011", "empty-debugger-path-segment", Error,
        "debuggerPathSegment is empty while debugging is enabled, so every request fails",
        "iisnode compares the URL after the script name with `debuggerPathSegment` on every \
         request when `debuggingEnabled` is true (the default); an empty segment makes that \
         comparison fail with ERROR_INVALID_PARAMETER and every request gets HTTP 500. Set a \
         segment (the default is `debug`) or `debuggingEnabled=\"false\"`.";
    DEBUGGER_PATH_SEGMENT_CHARS = "IISN5012", "debugger-path-segment-chars", Warning,
        "debuggerPathSegment contains characters that break the debugger URL or folder",
        "The segment is used in the URL (`/app.js/debug/`) and as the suffix of a folder name \
         (`app.js.debug`). A `/`, `\\`, `?`, `#`, `%`, `.` or space makes one of the two \
         unusable. Use letters, digits, `-` and `_`.";
    DEBUGGER_PORT_RANGE = "IISN5013", "debugger-port-range", Error,
        "debuggerPortRange is not a valid port range",
        "iisnode accepts `N` or `N-M` with 1025 <= N <= M <= 65535 (a single value above 65535 \
         is silently truncated to 16 bits). Anything else makes every debugger request fail \
         with HTTP 500. It is an error while `debuggingEnabled` is true, a warning otherwise.";
    DEBUGGING_IN_PRODUCTION = "IISN5014", "debugging-in-production", Warning,
        "the node debugger is enabled in production",
        "With `debuggingEnabled=\"true\"` (the default) anyone can open \
         `<script>/<debuggerPathSegment>/` and start the application under a debugger. Set \
         `debuggingEnabled=\"false\"` wherever `node_env` is `production`.";
    DEV_ERRORS_IN_PRODUCTION = "IISN5015", "dev-errors-in-production", Warning,
        "iisnode's developer error pages are enabled in production",
        "With `devErrorsEnabled=\"true\"` (the default) iisnode answers its own failures with \
         HTTP 200 and a page that shows internal details and the last 64 KB of the \
         application's stderr. Set `devErrorsEnabled=\"false\"` wherever `node_env` is \
         `production`.";
    GUESSABLE_LOG_DIRECTORY = "IISN5016", "guessable-log-directory", Info,
        "node's logs are written to a folder served at a guessable URL",
        "With logging on (the default), iisnode writes stdout and stderr to `logDirectory` next \
         to the script, `iisnode` by default, and IIS serves that folder like any other: \
         `/iisnode/` lists the logs. iisnode's own sample warns about it. Hide the folder with \
         `<add segment=\"iisnode\"/>` under `<requestFiltering><hiddenSegments>`, or give \
         `logDirectory` a name that cannot be guessed.";
    LOG_DIRECTORY_OUTSIDE = "IISN5017", "log-directory-outside", Warning,
        "logDirectory is absolute or leaves the script's folder",
        "The log capture resolves `logDirectory` against the script's folder and accepts any \
         path, but iisnode's error page looks for the logs at `<script folder>\\<logDirectory>` \
         and finds nothing for an absolute path or one with `..`, so failures show no stderr. \
         Use a folder name under the script's folder and hide it with requestFiltering.";
    EMPTY_LOG_DIRECTORY = "IISN5018", "empty-log-directory", Info,
        "logDirectory is empty",
        "With an empty `logDirectory` the log capture falls back to `iisnode`, while iisnode's \
         error page looks in the script's folder itself, so error pages show no stderr. Name a \
         folder.";
    EMPTY_NODE_ENV = "IISN5019", "empty-node-env", Warning,
        "node_env is empty, so NODE_ENV is not set",
        "iisnode sets `NODE_ENV` only when `node_env` is neither empty nor the literal \
         `%node_env%`. An empty value therefore leaves node with whatever the server has, \
         usually nothing, and frameworks such as Express run in development mode. Write the \
         value, e.g. `node_env=\"production\"`, or remove the attribute.";
    COMMAND_LINE_QUOTES = "IISN5020", "command-line-quotes", Error,
        "unbalanced quotes in nodeProcessCommandLine or interceptor",
        "iisnode joins `nodeProcessCommandLine`, `interceptor` and the script path into one \
         Windows command line. An opening quote without its closing quote swallows the rest of \
         the line, so node cannot start (500.1002 on every request). Close the quote.";
    COMMAND_LINE_UNQUOTED_SPACE = "IISN5021", "command-line-unquoted-space", Warning,
        "nodeProcessCommandLine names a program path with a space but no quotes",
        "Windows splits a command line at the first space outside quotes, so \
         `C:\\Program Files\\nodejs\\node.exe` unquoted runs `C:\\Program` (if it exists) or \
         depends on a lenient fallback. Put the program path in quotes: \
         `&quot;C:\\Program Files\\nodejs\\node.exe&quot;` in web.config.";
    PROMOTE_SERVER_VARS_SPACES = "IISN5022", "promote-server-vars-spaces", Warning,
        "promoteServerVars has empty names or names with spaces",
        "iisnode splits `promoteServerVars` at commas without trimming, so in \
         `REQUEST_METHOD, AUTH_USER` the second name is ` AUTH_USER`, which matches no server \
         variable and is silently dropped. Write the list without spaces: \
         `REQUEST_METHOD,AUTH_USER`.";
    WATCHED_FILES_ENTRY = "IISN5023", "watched-files-entry", Warning,
        "a watchedFiles entry that iisnode cannot watch as intended",
        "Entries of `watchedFiles` are `;`-separated paths relative to the script's folder, with \
         `\\` as the only folder separator and wildcards only in the file name. An entry with \
         `/`, surrounding spaces, `..` or an absolute path never matches; an entry ending in \
         `\\` (a folder) watches nothing; a wildcard in the folder part makes the whole \
         application fail to start (an error).";
    YML_NOT_WATCHED = "IISN5024", "yml-not-watched", Warning,
        "iisnode.yml is not in watchedFiles, so editing it has no effect until a recycle",
        "iisnode re-reads iisnode.yml only when the file-name part of a `watchedFiles` entry \
         (after its last `\\`) is exactly the `configOverrides` value (case-sensitive). A \
         wildcard such as `*.yml`, or a `configOverrides` in a sub-folder (`config\\iisnode.yml`, \
         whose entry's file-name part is only `iisnode.yml`), recycles the application without \
         re-reading the file, and with no matching entry edits are ignored until IIS recycles \
         for another reason. Keep the file next to the script and add its name to \
         `watchedFiles`.";
    WATCHED_WEB_CONFIG = "IISN5025", "watched-web-config", Info,
        "a watchedFiles entry names web.config, which iisnode skips",
        "iisnode ignores `watchedFiles` entries ending in `web.config`: IIS already restarts the \
         application when web.config changes. The entry can be removed.";
    WINDOWS_ONLY_SETTING = "IISN5026", "windows-only-setting", Info,
        "a Windows-only setting, accepted and ignored by iisn",
        "`asyncCompletionThreadCount`, `idlePageOutTimePeriod`, `debuggerExtensionDll` and \
         `debuggerVirtualDir` tune IIS's thread pool, Windows memory trimming and the obsolete \
         node-inspector debugger. iisn validates them and ignores them; they still apply on IIS.";
    RECYCLE_SIGNAL_SCOPE = "IISN5027", "recycle-signal-scope", Info,
        "recycleSignalEnabled lets node recycle every application of the worker",
        "When node writes `recycle` to the pipe named by `IISNODE_CONTROL_PIPE`, IIS recycles \
         the whole worker process, restarting every application it hosts, not only the one that \
         asked. iisn restarts every application of the site.";
    STICKY_SESSIONS_AZURE_ONLY = "IISN5028", "sticky-sessions-azure-only", Info,
        "nodeProcessStickySessions exists only in Azure's build of iisnode",
        "`nodeProcessStickySessions` was added by the Azure fork of iisnode (0.2.2x). The \
         original iisnode schema does not define it, so a server with that build rejects the \
         whole `<iisnode>` section with its configuration error page.";
    ENV_OVERRIDES_WEB_CONFIG = "IISN5029", "env-overrides-web-config", Info,
        "an IISNODE_* environment variable overrides this web.config value",
        "iisnode reads `IISNODE_<attribute>` from the environment before web.config and uses it \
         instead, so the value written here has no effect while the variable is set (an \
         iisnode.yml key would override both).";
    APP_SETTING_KEY = "IISN5030", "app-setting-key", Warning,
        "an appSettings key that iisnode skips or that collides with a variable iisnode sets",
        "iisnode copies every `<appSettings>` entry into node's environment, after `PORT`, \
         `IISNODE_*` and `NODE_PENDING_PIPE_INSTANCES` and before `NODE_ENV`. An empty key is \
         skipped, a key with `=` cannot be an environment variable name, and a key equal to a \
         variable iisnode sets creates a duplicate whose winner depends on the platform. Rename \
         the key.";
    APP_SETTINGS_SIZE = "IISN5031", "app-settings-size", Warning,
        "appSettings too large for iisnode's environment block",
        "iisnode builds the variables it adds for node (appSettings included) in a 64 KB \
         buffer; when they do not fit, node cannot be started and every request fails. Move \
         large values into files the application reads.";
    APP_SETTING_CASE = "IISN5032", "app-setting-case", Info,
        "two appSettings keys that differ only in case",
        "appSettings keys are case-sensitive, but Windows environment variable names are not: \
         node on IIS sees one of the two values, depending on the order. Use one spelling.";
    APP_SETTINGS_FILE = "IISN5033", "app-settings-file", Warning,
        "appSettings file= is not read by iisnode",
        "ASP.NET merges the file named by `<appSettings file=\"...\">` into the section, but \
         iisnode reads only the `<add>` entries written in web.config, so the keys of that file \
         never reach `process.env`. Move them into web.config, or read the file from the \
         application.";

    NO_IISNODE_HANDLER = "IISN6001", "no-iisnode-handler", Warning,
        "no handler sends requests to iisnode",
        "iisnode runs only for requests that a `<handlers>` entry with `modules=\"iisnode\"` maps \
         to it; without one, IIS serves files statically and node never starts. A warning when \
         something suggests node (a package.json or iisnode.yml, a rewrite rule or default \
         document naming a `.js` file); otherwise only a note, since a valid IIS site without \
         iisnode (a SPA fallback, a static site, PHP, ASP.NET Core, a reverse proxy) is normal. \
         For a node site, add `<add name=\"iisnode\" path=\"server.js\" verb=\"*\" \
         modules=\"iisnode\"/>` under `<system.webServer><handlers>`.";
    WILDCARD_HANDLER = "IISN6002", "wildcard-handler", Warning,
        "an iisnode handler with a wildcard path such as *.js",
        "iisnode creates one application (with its own processes) per script path a handler \
         maps. With `path=\"*.js\"` every requested `.js` file becomes an application, including \
         client-side scripts, which node then executes on the server. Map the entry script by \
         name and send other URLs to it with a rewrite rule.";
    HANDLER_VERB = "IISN6003", "handler-verb", Warning,
        "an iisnode handler that only some HTTP methods reach",
        "IIS picks the first handler whose path and verb match. With a verb list such as \
         `GET,POST`, other methods (PUT, DELETE, OPTIONS for CORS) fall through to another \
         handler and never reach node. Use `verb=\"*\"` and let the application answer 405.";
    HANDLER_PATH_BACKSLASH = "IISN6004", "handler-path-backslash", Warning,
        "a handler path with a backslash",
        "Handler paths are matched against URLs, which use `/`. A path such as \
         `dist\\server.js` does not match the URL `dist/server.js` on IIS (iisnode issue 338). \
         Write `dist/server.js`.";
    REWRITE_TARGET_UNMAPPED = "IISN6005", "rewrite-target-unmapped", Error,
        "a rewrite target that no iisnode handler maps",
        "URL Rewrite runs before handler mapping: the rewritten URL then picks the handler. A \
         target such as `app.js` that no iisnode handler's path matches is served by IIS's \
         static file handler instead, which sends the script's source code, or answers 404 when \
         the file does not exist. Map the target with an iisnode handler, or rewrite to the \
         script the handler maps.";
    REGEX_SYNTAX = "IISN6006", "regex-syntax", Error,
        "a rewrite pattern that does not compile",
        "URL Rewrite compiles `<match url>` and condition patterns when a request needs them and \
         answers HTTP 500.50 when one is invalid. The pattern syntax is ECMAScript unless the \
         rule sets `patternSyntax`. The message shows what the parser rejected. IIS's engine \
         (Visual C++'s) has lookahead but no lookbehind (`(?<=`, `(?<!`) and no named groups, \
         and reads `{` only as a repetition count (`{2}`, `{1,3}`): write `\\{` for a literal \
         brace. `{C:1}` or `{HTTP_HOST}` are not expanded inside a pattern.";
    REGEX_NONSTANDARD = "IISN6007", "regex-nonstandard", Warning,
        "a rewrite pattern that only a lenient ECMAScript parser accepts",
        "IIS's regular expression engine is Perl compatible and accepts escapes that strict \
         ECMAScript rejects (`\\_`, `\\-` outside a character class, `\\ `) and legacy forms \
         such as `[\\w-.]`. iisn accepts them too, as IIS does, but another engine may not; \
         remove the needless backslashes, or put `-` last in a class.";
    REGEX_BACKTRACKING = "IISN6008", "regex-backtracking", Warning,
        "a rewrite pattern that can take exponential time",
        "A group that repeats something that itself repeats (`(a+)+`, `(.*)*`, `(\\w+\\s?)*`) \
         makes a backtracking engine try every way to split the input when it almost matches; \
         a URL of a few dozen characters can then take seconds. Rewrite the group so each \
         character can be matched one way only, e.g. `(a+)+` as `a+`.";
    MISSING_CAPTURE_GROUP = "IISN6009", "missing-capture-group", Warning,
        "a back-reference to a capture group that does not exist",
        "`{R:n}` refers to group n of the rule's pattern and `{C:n}` to group n of the last \
         matched condition (or of all conditions with trackAllCaptures); 0 is the whole match. \
         A reference beyond the groups the pattern has expands to an empty string. Count the \
         parentheses (Wildcard patterns: the `*`s), or add the group.";
    UNKNOWN_REWRITE_FUNCTION = "IISN6010", "unknown-rewrite-function", Error,
        "{Name:...} names neither a function nor a rewrite map",
        "In a substitution, `{Name:value}` is a back-reference (`R`, `C`), a string function \
         (`ToLower`, `UrlEncode`, `UrlDecode`, `HtmlEncode`) or a rewrite map defined in \
         `<rewriteMaps>`. Any other name is a configuration error for URL Rewrite (500.50). \
         Define the map, or fix the name.";
    UNKNOWN_SERVER_VARIABLE = "IISN6011", "unknown-server-variable", Warning,
        "{NAME} is not a server variable URL Rewrite knows",
        "`{NAME}` expands a server variable such as `REQUEST_URI`, `QUERY_STRING`, `HTTPS` or a \
         request header as `HTTP_<NAME>`. A misspelt name expands to an empty string, so the \
         condition or substitution silently does something else. Check the spelling.";
    UNREACHABLE_RULE = "IISN6012", "unreachable-rule", Warning,
        "a rewrite rule that can never run because an earlier rule catches every URL",
        "Rules run in order, parent web.config first. A rule that matches every URL, has no \
         conditions and stops processing (stopProcessing, or a Redirect, CustomResponse or \
         AbortRequest action) ends rule processing for every request, so the rules after it \
         never run. Move the catch-all rule last, or give it conditions.";
    RULE_NEVER_MATCHES = "IISN6013", "rule-never-matches", Warning,
        "a rewrite rule whose pattern can never match",
        "The URL a rule sees is relative to the folder of its web.config and has no leading \
         slash: for `/api/users` at the site root the input is `api/users`. A pattern that \
         requires a leading slash (`^/api`) never matches. A negated catch-all pattern never \
         matches either.";
    WILDCARD_QUESTION_MARK = "IISN6014", "wildcard-question-mark", Warning,
        "a ? in a Wildcard pattern",
        "URL Rewrite's documentation says `?` matches one character in Wildcard patterns, but \
         the IIS team has said it is not supported. iisn treats it as a literal `?`, which never \
         occurs in the URL path a rule sees. Use `*`, or patternSyntax=\"ECMAScript\".";
    REDIRECT_TYPE_NUMERIC = "IISN6015", "redirect-type-numeric", Warning,
        "redirectType written as a number",
        "The URL Rewrite schema names the redirect types `Permanent` (301), `Found` (302), \
         `SeeOther` (303) and `Temporary` (307); whether IIS accepts the numbers is not \
         documented. Write the name.";
    HIDDEN_TARGET = "IISN6016", "hidden-target", Error,
        "a rewrite target or handler path under a hidden segment",
        "Request filtering hides URLs that contain a segment listed in \
         `<hiddenSegments>` (by default `bin`, `App_Data`, `App_Code`, ...) with HTTP 404.8, \
         also after a rewrite. Express apps start from `bin/www`, so the Kudu template removes \
         `bin`: add `<remove segment=\"bin\"/>` under `<requestFiltering><hiddenSegments>`.";
    APPHOST_ONLY_SECTION = "IISN6017", "apphost-only-section", Error,
        "a section that IIS allows only in applicationHost.config",
        "`<rewrite><globalRules>` may only be defined at server level, and \
         `<rewrite><allowedServerVariables>` is locked at server level by default. In a \
         web.config both make IIS answer HTTP 500.19 (HRESULT 0x80070021) for every URL at or \
         below the folder, and `iisn serve` does the same. Move them to applicationHost.config (on \
         Azure App Service, an applicationHost.xdt transform).";
    SERVER_VARIABLE_NOT_ALLOWED = "IISN6018", "server-variable-not-allowed", Warning,
        "a rule sets a server variable, which IIS allows only when the server lists it",
        "Rules in web.config may set a server variable or request header only if \
         applicationHost.config lists it in `<allowedServerVariables>`; otherwise the request \
         fails with HTTP 500.50 when the rule runs. Make sure the server allows it.";
    REWRITE_TO_URL = "IISN6019", "rewrite-to-url", Warning,
        "a Rewrite action whose target is an absolute URL",
        "A Rewrite target with a scheme (`http://...`) makes IIS proxy the request through \
         Application Request Routing, which must be installed and enabled on the server; \
         without it IIS has no handler for the URL and answers HTTP 404.4, as `iisn serve` \
         does (iisn does not proxy). Use a Redirect, or a path on this site.";
    ACTION_MISSING_URL = "IISN6020", "action-missing-url", Error,
        "a Rewrite or Redirect action without url",
        "A Rewrite or Redirect action needs the `url` attribute (the substitution); without it \
         the rule cannot do anything useful and URL Rewrite fails the request. Add url, or use \
         `type=\"None\"` to only stop processing.";
    DEFAULT_DOCUMENT_SOURCE = "IISN6021", "default-document-source", Warning,
        "a .js default document that no iisnode handler maps",
        "A request for a folder is served by the first default document that exists. When that \
         document is a `.js` file no iisnode handler maps, IIS sends its source code. Map it \
         with an iisnode handler, or remove it from `<defaultDocument>`.";
    MISSING_MIME_TYPE = "IISN6022", "missing-mime-type", Warning,
        "static files whose extension has no MIME type on IIS",
        "IIS serves a static file only when `<staticContent>` maps its extension to a MIME type \
         and answers 404.3 otherwise. The built-in list lacks `.mjs`, `.webp`, `.avif`, `.wasm` \
         and `.webmanifest`, among others. Add a `<mimeMap>` (after a `<remove>` of the same \
         extension, in case the server has it). Only files a request can reach count: files \
         that request filtering hides, or that the site's rewrite rules send elsewhere (the \
         `.mjs` server chunks of a nitro or Angular server build), are left out.";
    YML_NOT_NEXT_TO_SCRIPT = "IISN6023", "yml-not-next-to-script", Warning,
        "iisnode.yml sits next to web.config, but iisnode reads it next to the script",
        "iisnode looks for iisnode.yml (the file `configOverrides` names) in the folder of the \
         entry script, not of web.config. With `path=\"bin/www\"` or `dist/server.js`, a file \
         beside web.config is ignored. Move it next to the script.";
    HANDLER_NOT_EMULATED = "IISN6024", "handler-not-emulated", Info,
        "a handler whose module iisn does not emulate",
        "iisn plays IIS's static file handler and iisnode. A handler that runs another module \
         (PHP or another program through FastCGI, ASP.NET Core's `aspNetCore`, \
         `httpPlatformHandler`, ASP.NET, CGI, ISAPI, WebDAV) is kept in the handler list, so \
         URL mapping works as on IIS, but `iisn serve` answers the URLs it maps with 500.21 \
         \"not emulated by iisn\" instead of running the module (never the file as text).";
    HANDLER_ACCESS_DENIED = "IISN6025", "handler-access-denied", Error,
        "an iisnode handler that the folder's accessPolicy disables",
        "A handler mapping runs only when `<handlers accessPolicy>` grants the access its \
         `requireAccess` asks for (`Script` when absent; the stock policy is `Read, Script`). An \
         iisnode mapping under a policy without `Script` (or `Execute`) is skipped, and the \
         request falls through to the StaticFile handler: IIS sends the script's source code. \
         So is a mapping that asks for more than the policy grants, such as \
         `requireAccess=\"Execute\"` under the stock policy. Add `Script` to accessPolicy; \
         iisnode needs no more, so a mapping's requireAccess can be `Script`.";
    EXECUTE_URL_NODE = "IISN6026", "execute-url-node", Warning,
        "a custom error page that IIS would run through node (ExecuteURL)",
        "An httpErrors entry with `responseMode=\"ExecuteURL\"` is a child request on IIS: its \
         URL goes through handler mapping, and when an iisnode handler maps it, node writes the \
         error page (with the error's status). `iisn serve` does not run node for error pages: \
         it answers IIS's stock error page for that status instead, and never sends the \
         script's source. Point the entry at a static page (an .html file), or let the \
         application answer the error itself.";
    SCRIPT_SERVED_AS_FILE = "IISN6027", "script-served-as-file", Error,
        "a GET of the script's own URL does not reach its iisnode handler",
        "IIS maps each request with the handler list of its URL: the first entry whose path \
         and verb fit wins. When a GET of the script's URL does not pick the iisnode mapping \
         (its verb list leaves GET out, or a `<location>` or sub-folder web.config puts \
         another mapping first), it falls through to the StaticFile handler, which sends the \
         script's source code. When the mapping chosen has a `resourceType` that does not fit \
         the script (`\"Directory\"`), IIS answers 404.0 and the application never runs. Use \
         `verb=\"*\"`, drop `resourceType`, or remove the mapping that comes first. The \
         same holds where a sub-folder's web.config (or a `<location>`) takes an inherited \
         mapping away with `<remove>` or `<clear/>` while the folder holds a server script of \
         the name it maps (`path=\"server.js\"` maps `api/server.js` too): keep the mapping \
         there, or move the script.";
    SERVER_HEADER_REMOVE = "IISN6028", "server-header-remove", Warning,
        "`<remove name=\"Server\">` in customHeaders does not remove IIS's Server header",
        "IIS writes `Server: Microsoft-IIS/10.0` itself; the customHeaders collection only \
         holds the headers it adds, so removing `Server` from it changes nothing and every \
         response still names the server. On IIS 10 (version 1709 and later) set \
         `<security><requestFiltering removeServerHeader=\"true\"/></security>`; on older \
         servers blank it with a URL Rewrite outbound rule on `RESPONSE_Server`. `iisn serve` \
         sends the header as IIS does and honours both.";
    CUSTOM_HEADER_NAME_INVALID = "IISN6029", "custom-header-name-invalid", Warning,
        "a customHeaders entry whose name is not a valid HTTP header name",
        "IIS does not validate the names in `<httpProtocol><customHeaders>`: an entry such as \
         `<add name=\"X Bad\" value=\"x\"/>` goes out as the header line `X Bad: x`, and a \
         client that checks header names (node's HTTP client, proxies, some browsers) refuses \
         the whole response. `iisn serve` cannot write such a line and leaves the entry out, \
         so the site works there and breaks on IIS. Header names are tokens: letters, digits \
         and `!#$%&'*+-.^_`|~`, no spaces or colons.";
    HIDDEN_SEGMENT_REMOVED = "IISN6030", "hidden-segment-removed", Warning,
        "request filtering no longer hides web.config or the ASP.NET folders",
        "IIS's stock `<hiddenSegments>` list keeps `web.config`, `App_Data`, `App_Code` and the \
         other ASP.NET folders from being served (404.8). A `<clear/>` of the list, or a \
         `<remove>` of one of those entries, makes IIS serve the files below them like any \
         other (databases and secrets kept in `App_Data`, say), and `iisn serve` does the same. \
         When the `.config` extension is allowed and mapped to a MIME type too, IIS sends \
         web.config itself (an error). Removing `bin` is not reported: it means nothing to \
         node, and the Kudu template removes it so that `bin/www` can run. Add the entries back \
         after `<clear/>` (`<add segment=\"web.config\"/>`, ...), or remove only what the site \
         needs served.";

    SCRIPT_MISSING = "IISN7001", "script-missing", Error,
        "the script an iisnode handler maps does not exist",
        "iisnode starts the file the handler's `path` names (relative to the web.config's \
         folder); when it does not exist, every request for it gets HTTP 404. Fix the path, or \
         build the file before deploying.";
    ESM_ENTRY = "IISN7002", "esm-entry", Error,
        "the entry script is an ES module, which iisnode's loader cannot load",
        "iisnode's interceptor loads the application with `require()`. An `.mjs` file, a `.js` \
         file under a package.json with `\"type\": \"module\"`, or a CommonJS file using \
         `import`/`export` fails at start (ERR_REQUIRE_ESM, or \"Cannot use import statement \
         outside a module\") and every request gets 500. Keep a small CommonJS entry \
         (`server.cjs`) that calls `import('./server.mjs')`, and map that.";
    PORT_NOT_READ = "IISN7003", "port-not-read", Warning,
        "the entry script never reads process.env.PORT",
        "iisnode gives each node process a named pipe (iisn: a Unix socket) in `PORT` and \
         connects to it; an application that listens on a fixed port is never reached and \
         requests fail with 500.1001. Listen on `process.env.PORT`. iisn looks for `PORT` in \
         the entry script and the local files it requires; `process.env.port` (any case) \
         counts, since environment names ignore case on Windows and in iisn's loader. For a \
         script a wildcard handler maps, only one that looks like a server is judged.";
    PORT_PARSED_AS_NUMBER = "IISN7004", "port-parsed-as-number", Warning,
        "the application parses process.env.PORT as a number",
        "Under iisnode `PORT` is a pipe or socket path, not a number: `parseInt(process.env.PORT)` \
         gives NaN and the server listens on a random port (or throws). Pass the value to \
         `listen()` as it is.";
    NODE_NOT_FOUND = "IISN7005", "node-not-found", Warning,
        "the program nodeProcessCommandLine names cannot be found on this machine",
        "iisnode starts node with `nodeProcessCommandLine` (default `node.exe`, which iisn reads \
         as `node` from PATH). A Windows path cannot run here: for node.exe (quoted or not, \
         before or after `%VAR%` expansion; an unquoted path with spaces is resolved as \
         `CreateProcess` does) iisn runs `node` from PATH instead, with the arguments after it, \
         which may be another version than the server's. The note shows which node runs and \
         its version.";
    INTERCEPTOR_MISSING = "IISN7006", "interceptor-missing", Error,
        "the interceptor script does not exist",
        "iisnode runs `interceptor` with node, which then loads the application. A custom \
         interceptor that does not exist makes node exit at once, and every request fails. The \
         stock value (`\"%programfiles%\\iisnode\\interceptor.js\"`) means iisn's built-in \
         loader. A Windows path cannot be checked here and is a warning.";
    WEBSOCKET_NOT_DISABLED = "IISN7007", "websocket-not-disabled", Warning,
        "the application uses WebSockets but IIS's WebSocket module is on",
        "When IIS's own WebSocket module is enabled (the default), it takes over the upgrade \
         handshake and WebSocket requests never reach node. iisnode applications that use \
         `ws`, socket.io or similar need `<webSocket enabled=\"false\"/>` under \
         `<system.webServer>`.";
    WEBSOCKET_MULTI_PROCESS = "IISN7008", "websocket-multi-process", Warning,
        "socket.io with several processes and no sticky sessions",
        "socket.io (and engine.io, sockjs) start with HTTP long-polling requests that must reach \
         the same process. iisnode spreads requests over its processes round robin, so with \
         more than one process the handshake fails unless `nodeProcessStickySessions=\"true\"` \
         (Azure's iisnode) routes a client back to its process. Use one process, or enable \
         sticky sessions.";
    SAME_NAME_SCRIPT = "IISN7009", "same-name-script", Warning,
        "a handler path without a slash also maps same-named files in sub-folders",
        "IIS matches a handler `path` without a slash (`app.js`) against the last segment of \
         every URL below the web.config, so `public/js/app.js` is a node application too: a \
         request for the browser script runs it on the server with node (iisnode issue 189), \
         where it usually crashes at start. iisn reproduces this. Rename one of the files, or \
         add `<remove name=\"...\"/>` under `<handlers>` in a web.config in the sub-folder.";
}

/// Looks a lint up by its code, case-insensitively (`iisn0001` finds `IISN0001`).
pub fn find(code: &str) -> Option<&'static Lint> {
    ALL.iter()
        .copied()
        .find(|l| l.code.eq_ignore_ascii_case(code))
}

/// Whether IIS itself refuses to load a web.config that has this diagnostic, and with which
/// HRESULT: such a file makes every URL at or below its folder answer HTTP 500.19
/// (iis-webconfig.md §8, DECISIONS.md §5). iisnode's own `<iisnode>` errors (IISN2xxx) are
/// not in this list: IIS loads the file and iisnode answers with its own page.
pub fn iis_load_hresult(lint: &Lint) -> Option<u32> {
    match lint.code {
        // Malformed XML, wrong encoding, unknown or misplaced elements and attributes,
        // missing required attributes and values the schema does not accept.
        "IISN0001" | "IISN0002" | "IISN0004" | "IISN1002" | "IISN1005" | "IISN1006"
        | "IISN1008" | "IISN1009" => Some(0x8007_000d),
        // "Cannot add duplicate collection entry" and a section defined twice.
        "IISN1003" | "IISN1004" => Some(0x8007_00b7),
        // A section locked at server level (applicationHost.config only), or by a parent's
        // `<location overrideMode="Deny">`.
        "IISN6017" | "IISN1013" => Some(0x8007_0021),
        // The file exists but cannot be read.
        "IISN0003" => Some(0x8007_0005),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_well_formed() {
        let mut prev = "";
        for lint in ALL {
            assert!(
                lint.code.starts_with("IISN") && lint.code.len() == 8,
                "{}",
                lint.code
            );
            assert!(lint.code > prev, "{} out of order", lint.code);
            assert!(!lint.summary.ends_with('.'), "{}", lint.code);
            assert!(lint.explanation.len() > 40, "{}", lint.code);
            prev = lint.code;
        }
        let mut names: Vec<_> = ALL.iter().map(|l| l.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn find_is_case_insensitive() {
        assert_eq!(find("iisn3001").map(|l| l.name), Some("yml-syntax"));
        assert!(find("IISN9999").is_none());
    }
}
