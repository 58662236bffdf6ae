//! Rule and condition patterns: compile once, match with numbered captures.
//!
//! IIS URL Rewrite has three pattern syntaxes, chosen per rule by `patternSyntax`
//! (iis-webconfig.md §1.3, §1.4, §1.12):
//!
//! * **ECMAScript** (the default): a regular expression, case-insensitive unless
//!   `ignoreCase="false"`, with *search* semantics: `blog` matches `blogger` and `demo/blog`.
//!   Compiled with [`regress`], an ECMAScript (ES2018+) engine with lookaround and
//!   back-references. IIS's own engine is "Perl compatible", so real configs contain escapes
//!   that strict ECMAScript rejects (`\_`, `\-` outside a class, `\ `) and legacy forms such as
//!   `[\w-.]`; [`compile`] accepts them through a fallback and says so in
//!   [`Pattern::fallback`], which `iisn check` reports as a warning. What IIS's engine does
//!   *not* have is refused, so that a rule IIS answers 500.50 for fails here too: the module's
//!   errors are those of Visual C++'s `std::regex` (its `error_badrepeat` text, word for word,
//!   in IIS's 500.5x page for a condition pattern `^/{C:1}`), whose ECMAScript grammar has
//!   lookahead but no lookbehind and no named groups, and takes `{` only as a repetition
//!   count (`{n}`, `{n,}`, `{n,m}`) (Microsoft's "Regular Expressions (C++)" reference).
//! * **Wildcard**: the whole input must match; each `*` matches any run of characters and
//!   makes a capture (`*.*` on `logo.jpg` gives `logo` and `jpg`). `?` is a literal character:
//!   the documentation calls it "one character", but the IIS team has said it is not
//!   supported, so iisn does not guess (and `iisn check` warns about it). When a `*` could
//!   take several lengths, the earlier `*` takes as much as it can (as a regex `(.*)` would);
//!   IIS does not document this.
//! * **ExactMatch**: the whole input equals the pattern (ignoring case unless
//!   `ignoreCase="false"`); no captures.
//!
//! In every syntax capture 0 is the whole match and captures 1.. are the groups (`{R:1}`).
//!
//! # Bounded input and backtracking
//!
//! regress is a backtracking engine: a pattern with nested unbounded quantifiers such as
//! `^(a+)+$` takes exponential time on an input that almost matches (measured: 8.6 s for 28
//! `a`s and a `!`). iisn bounds the risk three ways: [`Pattern::find`] refuses inputs longer
//! than [`MAX_INPUT_LEN`] (IIS's default `maxUrl`, 4096, so a URL that IIS would accept always
//! fits), [`Pattern::nested_quantifier`] finds the shape so that `iisn check` can warn about
//! it, and the patterns come from the site's own configuration, not from clients. The
//! Wildcard matcher is polynomial (no backtracking).
//!
//! This module does no I/O and never panics on any pattern or input.

use std::fmt;
use std::ops::Range;

pub use crate::config::web_config::PatternSyntax;

/// The longest input (in bytes) a pattern is matched against: IIS's default `maxUrl`.
/// Longer inputs never match (see [`Pattern::find`]).
pub const MAX_INPUT_LEN: usize = 4096;

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    source: String,
    syntax: PatternSyntax,
    ignore_case: bool,
    captures_len: usize,
    fallback: Option<Fallback>,
    matcher: Matcher,
}

#[derive(Clone, Debug)]
enum Matcher {
    Regex(regress::Regex),
    Wildcard(Wildcard),
    Exact(Vec<char>),
}

/// How a pattern that strict ECMAScript rejects was accepted anyway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Backslashes before characters that need no escape were removed (`\_` → `_`,
    /// `\-` → `-` outside a class, `\ ` → ` `); the pattern was compiled as `compiled_as`.
    IdentityEscapes {
        /// The pattern as compiled.
        compiled_as: String,
        /// The escapes that were removed, as written (`\_`), without repeats.
        removed: Vec<String>,
    },
    /// Compiled with the legacy (web browser, "Annex B") grammar, which accepts forms that
    /// strict ECMAScript rejects, such as `[\w-.]` or a lone `]` (a `{` that is not a
    /// repetition count is an error, as in IIS). `reason` is what the strict parser said.
    Legacy { reason: String },
}

/// Why a pattern does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// What is wrong, lowercase (`unbalanced parenthesis`).
    pub message: String,
    /// A sentence on how to fix it, when iisn knows a likely cause.
    pub hint: Option<String>,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PatternError {}

/// The result of a successful [`Pattern::find`]: group 0 is the whole match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captures<'t> {
    text: &'t str,
    groups: Vec<Option<Range<usize>>>,
}

impl<'t> Captures<'t> {
    /// The text of group `n` (0 = the whole match); `None` when the group did not take part
    /// in the match or does not exist. URL Rewrite expands both to the empty string.
    pub fn get(&self, n: usize) -> Option<&'t str> {
        self.range(n).and_then(|r| self.text.get(r))
    }

    /// The byte range of group `n` in the input.
    pub fn range(&self, n: usize) -> Option<Range<usize>> {
        self.groups.get(n).cloned().flatten()
    }

    /// The number of groups including group 0.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Always false: group 0 exists in every match.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Compiles `pattern` in `syntax`. `ignore_case` is the `ignoreCase` attribute (IIS's
/// default is `true`).
pub fn compile(
    syntax: PatternSyntax,
    pattern: &str,
    ignore_case: bool,
) -> Result<Pattern, PatternError> {
    let (matcher, captures_len, fallback) = match syntax {
        PatternSyntax::EcmaScript => {
            let (regex, fallback) = compile_ecmascript(pattern, ignore_case)?;
            (Matcher::Regex(regex), scan(pattern).groups, fallback)
        }
        PatternSyntax::Wildcard => {
            let w = Wildcard::new(pattern, ignore_case);
            let n = w.literals.len().saturating_sub(1);
            (Matcher::Wildcard(w), n, None)
        }
        PatternSyntax::ExactMatch => (Matcher::Exact(fold_all(pattern, ignore_case)), 0, None),
    };
    Ok(Pattern {
        source: pattern.to_string(),
        syntax,
        ignore_case,
        captures_len,
        fallback,
        matcher,
    })
}

impl Pattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn syntax(&self) -> PatternSyntax {
        self.syntax
    }

    pub fn ignore_case(&self) -> bool {
        self.ignore_case
    }

    /// The number of capture groups, not counting group 0: the highest `n` for which
    /// `{R:n}` (or `{C:n}`) can be non-empty.
    pub fn captures_len(&self) -> usize {
        self.captures_len
    }

    /// How a pattern strict ECMAScript rejects was accepted, if it was.
    pub fn fallback(&self) -> Option<&Fallback> {
        self.fallback.as_ref()
    }

    /// Searches `text` (ECMAScript: anywhere; Wildcard and ExactMatch: the whole text) and
    /// returns the captures of the first match. Inputs longer than [`MAX_INPUT_LEN`] bytes
    /// never match: IIS rejects such URLs before URL Rewrite runs (404.14), and the bound
    /// keeps backtracking finite; a caller matching longer values (a header) gets `None`.
    pub fn find<'t>(&self, text: &'t str) -> Option<Captures<'t>> {
        if text.len() > MAX_INPUT_LEN {
            return None;
        }
        let groups = match &self.matcher {
            Matcher::Regex(re) => {
                let m = re.find(text)?;
                let mut groups = Vec::with_capacity(m.captures.len() + 1);
                groups.push(Some(m.range.clone()));
                groups.extend(m.captures.iter().cloned());
                groups
            }
            Matcher::Wildcard(w) => w.find(text)?,
            Matcher::Exact(want) => {
                let got = fold_all(text, self.ignore_case);
                if got != *want {
                    return None;
                }
                vec![Some(0..text.len())]
            }
        };
        Some(Captures { text, groups })
    }

    /// Whether [`Pattern::find`] finds a match.
    pub fn is_match(&self, text: &str) -> bool {
        self.find(text).is_some()
    }

    /// For ECMAScript patterns: the byte range of a group that repeats something that itself
    /// repeats without bound at its end (`(a+)+`, `(.*)*`, `(\w+\s?)*`), the shape that makes
    /// a backtracking engine take exponential time on an input that almost matches.
    pub fn nested_quantifier(&self) -> Option<Range<usize>> {
        match self.syntax {
            PatternSyntax::EcmaScript => scan(&self.source).nested_quantifier,
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// ECMAScript
// ---------------------------------------------------------------------------------------

fn flags(ignore_case: bool, unicode: bool) -> regress::Flags {
    regress::Flags {
        icase: ignore_case,
        unicode,
        ..Default::default()
    }
}

/// Strict ECMAScript (unicode mode) first; then without needless escapes; then the legacy
/// grammar.
fn compile_ecmascript(
    pattern: &str,
    ignore_case: bool,
) -> Result<(regress::Regex, Option<Fallback>), PatternError> {
    if let Some(e) = not_in_iis_grammar(pattern) {
        return Err(e);
    }
    let strict = match regress::Regex::with_flags(pattern, flags(ignore_case, true)) {
        Ok(re) => return Ok((re, None)),
        Err(e) => e,
    };
    let (rewritten, removed) = strip_identity_escapes(pattern);
    if !removed.is_empty()
        && let Ok(re) = regress::Regex::with_flags(&rewritten, flags(ignore_case, true))
    {
        return Ok((
            re,
            Some(Fallback::IdentityEscapes {
                compiled_as: rewritten,
                removed,
            }),
        ));
    }
    let reason = lowercase_first(&strict.text);
    if let Some(letter) = perl_only_escape(pattern) {
        return Err(PatternError {
            message: format!("`\\{letter}` is not an ECMAScript escape"),
            hint: Some(perl_escape_hint(letter)),
        });
    }
    match regress::Regex::with_flags(pattern, flags(ignore_case, false)) {
        Ok(re) => Ok((re, Some(Fallback::Legacy { reason }))),
        Err(_) => Err(PatternError {
            hint: syntax_hint(pattern, &reason),
            message: reason,
        }),
    }
}

/// The first construct regress accepts that IIS's ECMAScript engine (Visual C++'s
/// `std::regex`) rejects: lookbehind, a named group, or a `{` that does not start a repetition
/// count. Escapes (`\{`) and character classes (`[{]`) are skipped, as both engines read them
/// literally.
fn not_in_iis_grammar(pattern: &str) -> Option<PatternError> {
    let b = pattern.as_bytes();
    let mut in_class = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class && b[i + 1..].starts_with(b"?<") => {
                let lookbehind = matches!(b.get(i + 3), Some(b'=' | b'!'));
                let written = pattern.get(i..i + if lookbehind { 4 } else { 3 })?;
                return Some(if lookbehind {
                    PatternError {
                        message: format!("lookbehind `{written}` is not supported by URL Rewrite"),
                        hint: Some("IIS's ECMAScript engine has lookahead (`(?=`, `(?!`) but no lookbehind, and answers 500.50 for this rule; write the test another way (a condition with negate=\"true\" often replaces `(?<!...)`).".into()),
                    }
                } else {
                    PatternError {
                        message: "named groups `(?<name>...)` are not supported by URL Rewrite".into(),
                        hint: Some("Use a plain group `(...)` and refer to it by number ({R:1}, {C:1}); IIS answers 500.50 for this rule.".into()),
                    }
                });
            }
            b'{' if !in_class => match repetition_count_len(&b[i..]) {
                Some(len) => {
                    i += len;
                    continue;
                }
                None => {
                    return Some(PatternError {
                        message: "`{` does not start a repetition count such as `{2}` or `{1,3}`"
                            .into(),
                        hint: Some("Escape a brace meant literally as `\\{`. `{...}` expressions such as {C:1} or {HTTP_HOST} are not expanded inside a pattern, only in inputs and actions; IIS answers 500.50 for this rule.".into()),
                    });
                }
            },
            _ => {}
        }
        i += 1;
    }
    None
}

/// The length of the repetition count `{n}`, `{n,}` or `{n,m}` (with n <= m) that `b` starts
/// with, if it starts with one.
fn repetition_count_len(b: &[u8]) -> Option<usize> {
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let number = |from: usize, len: usize| {
        std::str::from_utf8(&b[from..from + len])
            .ok()?
            .parse::<u64>()
            .ok()
    };
    let min_len = digits(1);
    if min_len == 0 {
        return None;
    }
    let min = number(1, min_len);
    let mut j = 1 + min_len;
    match b.get(j) {
        Some(b'}') => return Some(j + 1),
        Some(b',') => j += 1,
        _ => return None,
    }
    let max_len = digits(j);
    let max = (max_len > 0).then(|| number(j, max_len)).flatten();
    j += max_len;
    if b.get(j) != Some(&b'}') {
        return None;
    }
    match (min, max) {
        (Some(lo), Some(hi)) if hi < lo => None,
        _ => Some(j + 1),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

const SYNTAX_CHARS: &str = "^$\\.*+?()[]{}|/";

/// Removes the backslash from escapes of characters that need none (`\_`, `\-` outside a
/// class, `\ `, `\%`). Letters and digits keep theirs: `\d` or `\1` mean something.
fn strip_identity_escapes(pattern: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(pattern.len());
    let mut removed: Vec<String> = Vec::new();
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push(c);
                    break;
                };
                let needed =
                    n.is_ascii_alphanumeric() || SYNTAX_CHARS.contains(n) || (n == '-' && in_class);
                if !needed {
                    let written = format!("\\{n}");
                    if !removed.contains(&written) {
                        removed.push(written);
                    }
                } else {
                    out.push('\\');
                }
                out.push(n);
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    (out, removed)
}

/// A `\<letter>` that ECMAScript does not define (Perl's `\A`, `\Z`, `\z`, `\e`, `\h`, ...):
/// the legacy grammar would read it as a plain letter, silently changing the meaning.
fn perl_only_escape(pattern: &str) -> Option<char> {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let n = chars.next()?;
            if n.is_ascii_alphabetic() && !"dDwWsSbBfnrtvcxupPk".contains(n) {
                return Some(n);
            }
        }
    }
    None
}

fn perl_escape_hint(letter: char) -> String {
    match letter {
        'A' => "Use `^` for the start of the input.".into(),
        'Z' | 'z' => "Use `$` for the end of the input.".into(),
        'e' => "Write the character as `\\x1b` instead.".into(),
        'h' => "Use `[ \\t]` for horizontal white space.".into(),
        _ => "Remove the backslash if the letter is meant literally, or rewrite the pattern with ECMAScript syntax.".into(),
    }
}

fn syntax_hint(pattern: &str, reason: &str) -> Option<String> {
    if reason.contains("group modifier") || pattern.contains("(?i") {
        return Some("ECMAScript has no inline flags such as `(?i)`; matching already ignores case unless ignoreCase=\"false\".".into());
    }
    if reason.contains("parenthesis") {
        return Some(
            "Balance the parentheses; escape a literal parenthesis as `\\(` or `\\)`.".into(),
        );
    }
    if reason.contains("bracket") {
        return Some(
            "Close the character class with `]`, or escape a literal `[` as `\\[`.".into(),
        );
    }
    if reason.contains("quantifier") || reason.contains("atom") {
        return Some("A quantifier (`*`, `+`, `?`, `{n,m}`) must follow something it repeats; escape a literal one with a backslash.".into());
    }
    None
}

/// What a single pass over an ECMAScript pattern finds out.
#[derive(Debug, Default)]
struct Scan {
    groups: usize,
    nested_quantifier: Option<Range<usize>>,
}

#[derive(Debug)]
struct OpenGroup {
    start: usize,
    /// Some branch so far ended in an unboundedly repeated item.
    any_branch_tail: bool,
    /// The current branch ends in an unboundedly repeated item (optional items after it do
    /// not change that).
    tail: bool,
}

/// An unbounded quantifier at `i` (`*`, `+`, `{n,}`), with its length; `Some(false)` for a
/// bounded one (`?`, `{n}`, `{n,m}`), with its length; `None` when `i` starts none.
fn quantifier_at(chars: &[(usize, char)], i: usize) -> Option<(bool, bool, usize)> {
    // (unbounded, optional (may repeat zero times), length in chars)
    let (_, c) = *chars.get(i)?;
    let (unbounded, optional, mut len) = match c {
        '*' => (true, true, 1),
        '+' => (true, false, 1),
        '?' => (false, true, 1),
        '{' => {
            let mut j = i + 1;
            let mut min = String::new();
            while let Some(&(_, d)) = chars.get(j).filter(|(_, d)| d.is_ascii_digit()) {
                min.push(d);
                j += 1;
            }
            if min.is_empty() {
                return None;
            }
            let mut unbounded = false;
            let mut max = String::new();
            if chars.get(j).map(|x| x.1) == Some(',') {
                j += 1;
                while let Some(&(_, d)) = chars.get(j).filter(|(_, d)| d.is_ascii_digit()) {
                    max.push(d);
                    j += 1;
                }
                unbounded = max.is_empty();
            }
            if chars.get(j).map(|x| x.1) != Some('}') {
                return None;
            }
            let optional = min.trim_start_matches('0').is_empty();
            (unbounded, optional, j + 1 - i)
        }
        _ => return None,
    };
    // A lazy `?` after the quantifier changes nothing here.
    if chars.get(i + len).map(|x| x.1) == Some('?') {
        len += 1;
    }
    Some((unbounded, optional, len))
}

fn scan(pattern: &str) -> Scan {
    let chars: Vec<(usize, char)> = pattern.char_indices().collect();
    let mut out = Scan::default();
    let mut stack: Vec<OpenGroup> = Vec::new();
    // The outermost "group" is the pattern itself; only real groups are checked.
    let mut top = OpenGroup {
        start: 0,
        any_branch_tail: false,
        tail: false,
    };
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        // One atom: its extent is [i, next).
        let next = match c {
            '\\' => (i + 2).min(chars.len()),
            '[' => {
                let mut j = i + 1;
                if chars.get(j).map(|x| x.1) == Some('^') {
                    j += 1;
                }
                while j < chars.len() && chars[j].1 != ']' {
                    if chars[j].1 == '\\' {
                        j += 1;
                    }
                    j += 1;
                }
                (j + 1).min(chars.len())
            }
            '(' => {
                let rest: String = chars[i + 1..].iter().take(3).map(|x| x.1).collect();
                let capturing = !rest.starts_with('?')
                    || (rest.starts_with("?<")
                        && !rest.starts_with("?<=")
                        && !rest.starts_with("?<!"));
                if capturing {
                    out.groups += 1;
                }
                let cur = std::mem::replace(
                    &mut top,
                    OpenGroup {
                        start: chars[i].0,
                        any_branch_tail: false,
                        tail: false,
                    },
                );
                stack.push(cur);
                i += 1;
                continue;
            }
            ')' => {
                let Some(parent) = stack.pop() else {
                    i += 1;
                    continue;
                };
                let inner = std::mem::replace(&mut top, parent);
                let inner_tail = inner.any_branch_tail || inner.tail;
                let q = quantifier_at(&chars, i + 1);
                let end_byte = |k: usize| chars.get(k).map_or(pattern.len(), |x| x.0);
                match q {
                    Some((unbounded, optional, len)) => {
                        if unbounded && inner_tail && out.nested_quantifier.is_none() {
                            out.nested_quantifier = Some(inner.start..end_byte(i + 1 + len));
                        }
                        if unbounded {
                            top.tail = true;
                        } else if !optional {
                            top.tail = inner_tail;
                        }
                        i += 1 + len;
                    }
                    None => {
                        top.tail = inner_tail;
                        i += 1;
                    }
                }
                continue;
            }
            '|' => {
                top.any_branch_tail |= top.tail;
                top.tail = false;
                i += 1;
                continue;
            }
            '^' | '$' => {
                i += 1;
                continue;
            }
            _ => i + 1,
        };
        match quantifier_at(&chars, next) {
            Some((unbounded, optional, len)) => {
                if unbounded {
                    top.tail = true;
                } else if !optional {
                    top.tail = false;
                }
                i = next + len;
            }
            None => {
                top.tail = false;
                i = next;
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Wildcard and ExactMatch
// ---------------------------------------------------------------------------------------

/// One character for comparison: lowercased when ignoring case (simple, one-to-one folding).
fn fold(c: char, ignore_case: bool) -> char {
    if !ignore_case {
        c
    } else if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        let mut l = c.to_lowercase();
        match (l.next(), l.next()) {
            (Some(one), None) => one,
            _ => c,
        }
    }
}

fn fold_all(s: &str, ignore_case: bool) -> Vec<char> {
    s.chars().map(|c| fold(c, ignore_case)).collect()
}

/// `lit0 * lit1 * ... * litk`, whole-string.
#[derive(Clone, Debug)]
struct Wildcard {
    literals: Vec<Vec<char>>,
    ignore_case: bool,
}

impl Wildcard {
    fn new(pattern: &str, ignore_case: bool) -> Self {
        Wildcard {
            literals: pattern
                .split('*')
                .map(|lit| fold_all(lit, ignore_case))
                .collect(),
            ignore_case,
        }
    }

    /// Dynamic programming over (star, position): `ok[s][j]` says whether
    /// `lit_s * ... * lit_k` matches the text from character `j` to the end with `lit_s`
    /// starting at `j`. Then each star, left to right, takes the longest run that still
    /// lets the rest match. O(stars × chars × literal length); no backtracking.
    fn find(&self, text: &str) -> Option<Vec<Option<Range<usize>>>> {
        let idx: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .collect();
        let t: Vec<char> = text.chars().map(|c| fold(c, self.ignore_case)).collect();
        let n = t.len();
        let lits = &self.literals;
        let k = lits.len().checked_sub(1)?;
        let starts = |j: usize, lit: &[char]| t.get(j..j + lit.len()) == Some(lit);
        if !starts(0, &lits[0]) {
            return None;
        }
        if k == 0 {
            return (n == lits[0].len()).then(|| vec![Some(0..text.len())]);
        }
        // ok[s - 1] for s in 1..=k.
        let mut ok: Vec<Vec<bool>> = vec![Vec::new(); k];
        ok[k - 1] = (0..=n)
            .map(|j| n.checked_sub(j) == Some(lits[k].len()) && starts(j, &lits[k]))
            .collect();
        for s in (1..k).rev() {
            // any_after[p]: some j' >= p with ok[s][j'] (the next layer).
            let next = &ok[s];
            let mut any_after = vec![false; n + 2];
            for p in (0..=n).rev() {
                any_after[p] = any_after[p + 1] || next[p];
            }
            let lit = &lits[s];
            ok[s - 1] = (0..=n)
                .map(|j| {
                    starts(j, lit) && j + lit.len() <= n && any_after[(j + lit.len()).min(n + 1)]
                })
                .collect();
        }
        let mut groups = vec![Some(0..text.len())];
        let mut pos = lits[0].len();
        for s in 1..=k {
            let layer = &ok[s - 1];
            let j = (pos..=n).rev().find(|&j| layer[j])?;
            groups.push(Some(idx[pos]..idx[j]));
            pos = j + lits[s].len();
        }
        Some(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecma(p: &str) -> Pattern {
        compile(PatternSyntax::EcmaScript, p, true).expect("compiles")
    }

    fn groups(p: &Pattern, text: &str) -> Option<Vec<Option<String>>> {
        let c = p.find(text)?;
        Some((0..c.len()).map(|i| c.get(i).map(str::to_string)).collect())
    }

    fn s(v: &[&str]) -> Option<Vec<Option<String>>> {
        Some(v.iter().map(|x| Some((*x).to_string())).collect())
    }

    #[test]
    fn ecmascript_searches_anywhere_and_ignores_case() {
        let p = ecma("blog");
        assert!(p.is_match("demo/BLOGGER"));
        let p = compile(PatternSyntax::EcmaScript, "blog", false).expect("compiles");
        assert!(!p.is_match("BLOG"));
        let p = ecma(r"^api/(\d+)/(.*)$");
        assert_eq!(p.captures_len(), 2);
        assert_eq!(groups(&p, "api/12/x/y"), s(&["api/12/x/y", "12", "x/y"]));
    }

    #[test]
    fn real_world_patterns_compile() {
        for p in [
            r"^server.js\/debug[\/]?",
            r"^(?!api/)",
            r"^[a-zA-Z0-9_\-]+\.js\.logs\/\d+\.txt$",
            "/*",
            "(.*)",
            r"^api\/(.*)",
            "iisnode.+",
            r"\d{1,3}",
            r"^\{id\}$",
            "[{}]",
            "x{2,}",
            "^public",
        ] {
            let c = ecma(p);
            assert!(c.fallback().is_none(), "{p}");
        }
        assert!(
            ecma("/*").is_match("anything"),
            "`/*` is zero or more slashes"
        );
    }

    #[test]
    fn identity_escapes_fall_back_with_a_note() {
        let p = ecma(r"^my\_app\-v2\ x$");
        match p.fallback() {
            Some(Fallback::IdentityEscapes {
                compiled_as,
                removed,
            }) => {
                assert_eq!(compiled_as, "^my_app-v2 x$");
                assert_eq!(removed, &[r"\_", r"\-", r"\ "]);
            }
            other => panic!("{other:?}"),
        }
        assert!(p.is_match("MY_APP-V2 x"));
        // `\-` inside a class is valid ECMAScript and stays.
        assert!(ecma(r"[a\-z]").fallback().is_none());
    }

    #[test]
    fn legacy_forms_fall_back_and_perl_escapes_fail() {
        let p = ecma(r"^[\w-.]+$");
        assert!(matches!(p.fallback(), Some(Fallback::Legacy { .. })));
        assert!(p.is_match("a-b.c"));
        let e = compile(PatternSyntax::EcmaScript, r"\Aapi", true).expect_err("fails");
        assert_eq!(e.message, "`\\A` is not an ECMAScript escape");
        assert!(e.hint.is_some());
        let e = compile(PatternSyntax::EcmaScript, "(api", true).expect_err("fails");
        assert_eq!(e.message, "unbalanced parenthesis");
        let e = compile(PatternSyntax::EcmaScript, "(?i)api", true).expect_err("fails");
        assert!(e.hint.unwrap_or_default().contains("inline flags"));
    }

    #[test]
    fn what_iis_engine_lacks_does_not_compile() {
        // Visual C++'s std::regex, the engine behind IIS's error texts: lookahead only, no
        // named groups, and `{` only as a repetition count.
        for (p, says) in [
            ("^(?<!api/)x", "lookbehind `(?<!`"),
            ("(?<=/)x", "lookbehind `(?<=`"),
            ("(?<id>\\d+)", "named groups"),
            ("^/{C:1}", "`{` does not start"),
            ("^api/{id}$", "`{` does not start"),
            ("a{2", "`{` does not start"),
            ("a{3,1}", "`{` does not start"),
            ("{", "`{` does not start"),
        ] {
            let e = compile(PatternSyntax::EcmaScript, p, true).expect_err(p);
            assert!(e.message.contains(says), "{p}: {}", e.message);
            assert!(e.hint.is_some_and(|h| h.contains("500.50")), "{p}");
        }
        // Escaped or in a class, a brace is a character in both engines.
        assert!(ecma(r"^a\{1\}$").is_match("a{1}"));
        assert!(ecma("^[{]x").is_match("{x"));
        assert!(ecma("^a{2}$").is_match("aa"));
        // Wildcard and ExactMatch patterns are not regular expressions.
        assert!(compile(PatternSyntax::Wildcard, "api/{id}/*", true).is_ok());
    }

    #[test]
    fn capture_counting() {
        for (p, n) in [
            ("abc", 0),
            ("(a)(b)", 2),
            ("(?:a)(b)", 1),
            ("(?=a)(?!b)", 0),
            (r"\(a\)", 0),
            ("[(](a)", 1),
            (r"[\]()](a)", 1),
            ("((a)(b))", 3),
        ] {
            assert_eq!(ecma(p).captures_len(), n, "{p}");
            assert_eq!(group_count_by_regress(p), n, "{p}");
        }
    }

    /// The exact group count, from regress: `(?:P)|` always matches the empty string.
    fn group_count_by_regress(p: &str) -> usize {
        regress::Regex::with_flags(&format!("(?:{p})|"), flags(true, true))
            .or_else(|_| regress::Regex::with_flags(&format!("(?:{p})|"), flags(true, false)))
            .ok()
            .and_then(|r| r.find("").map(|m| m.captures.len()))
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn nested_quantifiers_are_found() {
        for p in ["^(a+)+$", "(.*)*", r"(\w+\s?)*$", "(x|y+)+", "((a*))+"] {
            assert!(ecma(p).nested_quantifier().is_some(), "{p}");
        }
        for p in [
            "^([a-z]+/)*[a-z]+$",
            "(a+)?",
            "(a)+",
            "(.*)",
            r"^(\d+)/(.*)$",
            "(a+){2}",
        ] {
            assert!(ecma(p).nested_quantifier().is_none(), "{p}");
        }
        assert_eq!(ecma("x(a+)+y").nested_quantifier(), Some(1..6));
    }

    #[test]
    fn wildcard_is_whole_string_with_captures() {
        let p = compile(PatternSyntax::Wildcard, "*.*", true).expect("compiles");
        assert_eq!(p.captures_len(), 2);
        assert_eq!(groups(&p, "logo.jpg"), s(&["logo.jpg", "logo", "jpg"]));
        // The earlier star takes as much as it can.
        assert_eq!(groups(&p, "a.b.c"), s(&["a.b.c", "a.b", "c"]));
        let p = compile(PatternSyntax::Wildcard, "*/*.html", true).expect("compiles");
        assert_eq!(
            groups(&p, "contoso/TEST.html"),
            s(&["contoso/TEST.html", "contoso", "TEST"])
        );
        assert!(!p.is_match("contoso/test.htm"));
        let p = compile(PatternSyntax::Wildcard, "api/*", false).expect("compiles");
        assert!(!p.is_match("API/x"));
        assert!(p.is_match("api/"));
        let p = compile(PatternSyntax::Wildcard, "a?c", true).expect("compiles");
        assert!(p.is_match("a?c") && !p.is_match("abc"), "`?` is literal");
        let p = compile(PatternSyntax::Wildcard, "", true).expect("compiles");
        assert!(p.is_match("") && !p.is_match("x"));
        let p = compile(PatternSyntax::Wildcard, "**", true).expect("compiles");
        assert_eq!(groups(&p, "ab"), s(&["ab", "ab", ""]));
    }

    #[test]
    fn wildcard_handles_non_ascii_and_many_stars_quickly() {
        let p = compile(PatternSyntax::Wildcard, "é*ß", true).expect("compiles");
        assert_eq!(groups(&p, "Éxyß"), s(&["Éxyß", "xy"]));
        let p = compile(PatternSyntax::Wildcard, &"*a".repeat(30), true).expect("compiles");
        let text = "a".repeat(MAX_INPUT_LEN - 1) + "b";
        let t = std::time::Instant::now();
        assert!(!p.is_match(&text));
        assert!(t.elapsed().as_secs() < 5);
    }

    #[test]
    fn exact_match() {
        let p = compile(PatternSyntax::ExactMatch, "Index.html", true).expect("compiles");
        assert_eq!(p.captures_len(), 0);
        assert!(p.is_match("index.HTML"));
        assert!(!p.is_match("x/index.html"));
        let p = compile(PatternSyntax::ExactMatch, "Index.html", false).expect("compiles");
        assert!(!p.is_match("index.html"));
    }

    #[test]
    fn long_inputs_never_match() {
        let p = ecma("a");
        assert!(p.is_match(&"a".repeat(MAX_INPUT_LEN)));
        assert!(!p.is_match(&"a".repeat(MAX_INPUT_LEN + 1)));
    }

    proptest::proptest! {
        #[test]
        fn compile_and_find_never_panic(
            pattern in r"[a-z()\[\]{}*+?.|^$\\/_\- 0-9:<=!,é]{0,24}",
            text in r"[a-zA-Z0-9/._\- é]{0,40}",
            syntax in 0u8..3,
            ignore_case: bool,
        ) {
            let syntax = match syntax {
                0 => PatternSyntax::EcmaScript,
                1 => PatternSyntax::Wildcard,
                _ => PatternSyntax::ExactMatch,
            };
            if let Ok(p) = compile(syntax, &pattern, ignore_case) {
                // Keep catastrophic shapes away from the matcher: this test is about panics.
                if p.nested_quantifier().is_none()
                    && let Some(c) = p.find(&text)
                {
                    for i in 0..c.len() + 2 {
                        let _ = c.get(i);
                    }
                    proptest::prop_assert!(c.get(0).is_some());
                    if syntax != PatternSyntax::EcmaScript {
                        proptest::prop_assert_eq!(c.get(0), Some(text.as_str()));
                    }
                    if syntax == PatternSyntax::EcmaScript && p.fallback().is_none() {
                        proptest::prop_assert_eq!(c.len(), p.captures_len() + 1);
                    }
                }
                if syntax == PatternSyntax::EcmaScript && p.fallback().is_none() {
                    proptest::prop_assert_eq!(p.captures_len(), group_count_by_regress(&pattern));
                }
            }
        }
    }
}
