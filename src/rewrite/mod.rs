//! IIS URL Rewrite: the parts shared by `iisn check` and the request router.
//!
//! [`pattern`] compiles a rule's `<match url>` or a condition's `pattern` in the rule's
//! `patternSyntax` (ECMAScript, Wildcard or ExactMatch) and matches it with numbered captures
//! for `{R:n}` / `{C:n}`. It does no I/O and knows nothing about requests.

pub mod pattern;
