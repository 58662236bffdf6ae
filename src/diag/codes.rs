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
//!
//! Each entry has a default severity, a one-line summary and a longer explanation (printed
//! by `iisn check --explain`, once that command exists).

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
            #[doc = $summary]
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
        "the file is not UTF-8",
        "iisn reads web.config and iisnode.yml as UTF-8 (a UTF-8 byte order mark is fine). A \
         UTF-16 file, which some Windows editors write, cannot be read. Save the file as UTF-8.";
    FILE_UNREADABLE = "IISN0003", "file-unreadable", Error,
        "a configuration file exists but cannot be read",
        "The file is there but reading it failed (permissions, or it is a directory). IIS would \
         answer HTTP 500.19 with HRESULT 0x80070005. Make the file readable by the user running iisn.";
    ROOT_ELEMENT = "IISN0004", "root-element", Error,
        "the root element of web.config is not <configuration>",
        "IIS only reads web.config files whose root element is `<configuration>`; anything else \
         is a configuration error (500.19). Wrap the sections in `<configuration>`.";

    NOT_EMULATED = "IISN1001", "not-emulated", Info,
        "a configuration section iisn reads but does not emulate",
        "The section is valid IIS configuration, but iisn does not reproduce its effect (for \
         example ASP.NET's `system.web`, `modules`, authentication, compression). It is kept, \
         not rejected; behaviour that depends on it will differ from IIS.";
    UNKNOWN_ATTRIBUTE = "IISN1002", "unknown-attribute", Warning,
        "an attribute that the IIS schema does not define for this element",
        "IIS validates every attribute against its schema and rejects unknown ones with HTTP \
         500.19. Usually this is a typo or a different case (IIS attribute names are \
         case-sensitive). Check the spelling against the IIS documentation.";
    DUPLICATE_SECTION = "IISN1003", "duplicate-section", Error,
        "the same configuration section appears twice in one file",
        "A section such as `<iisnode>` or `<handlers>` may appear once per `<system.webServer>` \
         (and once per `<location>` path). IIS rejects the file with HTTP 500.19. Merge the two \
         elements into one.";
    DUPLICATE_KEY = "IISN1004", "duplicate-key", Error,
        "a collection entry is added twice with the same key",
        "IIS collections (handlers, mimeMap, appSettings, hiddenSegments, rewrite rules, ...) are \
         keyed. Adding a key that the collection already has, in this file or inherited from a \
         parent web.config, is HTTP 500.19 with HRESULT 0x800700b7. To replace an inherited \
         entry, `<remove>` it first, then `<add>` it again.";
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
    MISPLACED_ELEMENT = "IISN1008", "misplaced-element", Warning,
        "an element in a place where IIS does not expect it",
        "The element is known, but not under this parent (for example `<iisnode>` directly \
         under `<configuration>` instead of under `<system.webServer>`). IIS ignores or rejects \
         it; iisn ignores it. Move it to the right parent.";

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
}

/// Looks a lint up by its code, case-insensitively (`iisn0001` finds `IISN0001`).
pub fn find(code: &str) -> Option<&'static Lint> {
    ALL.iter()
        .copied()
        .find(|l| l.code.eq_ignore_ascii_case(code))
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
