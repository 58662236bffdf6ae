//! Splitting `nodeProcessCommandLine` the way Windows does.
//!
//! iisnode hands one string to `CreateProcessW`, so node's argv comes from Windows'
//! `CommandLineToArgvW` rules. iisn splits with the same rules on every OS, so a web.config
//! written for IIS (`"C:\Program Files\nodejs\node.exe" --max-old-space-size=4096`) means the
//! same thing here:
//!
//! * the program name (first token) ends at the first space or tab outside quotes;
//!   backslashes in it are literal;
//! * in later arguments, `2n` backslashes before a quote become `n` backslashes and the quote
//!   toggles quoting; `2n+1` backslashes before a quote become `n` backslashes and a literal
//!   quote; backslashes not before a quote are literal; `""` inside quotes is a literal quote.

/// Splits a Windows command line into arguments. `Err` names an unbalanced quote.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    // Skip leading whitespace.
    while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
        chars.next();
    }
    if chars.peek().is_none() {
        return Ok(args);
    }
    // argv[0]: quotes toggle, backslashes are literal.
    let mut program = String::new();
    let mut in_quotes = false;
    for c in chars.by_ref() {
        match c {
            '"' => in_quotes = !in_quotes,
            ' ' | '\t' if !in_quotes => break,
            _ => program.push(c),
        }
    }
    if in_quotes {
        return Err("the program name has an opening quote but no closing quote".into());
    }
    args.push(program);

    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut arg = String::new();
        let mut in_quotes = false;
        while let Some(&c) = chars.peek() {
            match c {
                '\\' => {
                    let mut n = 0;
                    while chars.peek() == Some(&'\\') {
                        chars.next();
                        n += 1;
                    }
                    if chars.peek() == Some(&'"') {
                        arg.extend(std::iter::repeat_n('\\', n / 2));
                        if n % 2 == 1 {
                            chars.next();
                            arg.push('"');
                        }
                    } else {
                        arg.extend(std::iter::repeat_n('\\', n));
                    }
                }
                '"' => {
                    chars.next();
                    if in_quotes && chars.peek() == Some(&'"') {
                        chars.next();
                        arg.push('"');
                    } else {
                        in_quotes = !in_quotes;
                    }
                }
                ' ' | '\t' if !in_quotes => break,
                _ => {
                    chars.next();
                    arg.push(c);
                }
            }
        }
        if in_quotes {
            return Err(format!(
                "the argument `{arg}` has an opening quote but no closing quote"
            ));
        }
        args.push(arg);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(line: &str) -> Vec<String> {
        split(line).expect("splits")
    }

    #[test]
    fn windows_rules() {
        assert_eq!(s("node.exe"), ["node.exe"]);
        assert_eq!(
            s(r#""C:\Program Files\nodejs\node.exe" --harmony  --max-old-space-size=4096"#),
            [
                r"C:\Program Files\nodejs\node.exe",
                "--harmony",
                "--max-old-space-size=4096"
            ]
        );
        assert_eq!(s(r#"node "a b" c\d"#), ["node", "a b", r"c\d"]);
        assert_eq!(s(r#"node a\\\"b"#), ["node", r#"a\"b"#]);
        assert_eq!(s(r#"node "a\\" b"#), ["node", r"a\", "b"]);
        assert_eq!(s(r#"node "say ""hi""""#), ["node", r#"say "hi""#]);
        assert_eq!(s("  \t "), Vec::<String>::new());
        assert_eq!(s(r"C:\a\b.exe x"), [r"C:\a\b.exe", "x"]);
        assert!(split(r#""C:\Program Files\node.exe"#).is_err());
        assert!(split(r#"node "unterminated"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(line in r#"[a-z "\\\t]{0,40}"#) {
            let _ = split(&line);
        }
    }
}
