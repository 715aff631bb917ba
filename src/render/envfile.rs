//! Env files parsed exactly as `kubectl create configmap --from-env-file`
//! (and kustomize's `envs:`) parse them: a UTF-8 BOM is dropped from the
//! first line, leading whitespace is trimmed, blank lines and `#` lines are
//! skipped, the line splits at the first `=`, the value is kept as it is (no
//! quote stripping, trailing whitespace kept, a trailing `\r` dropped), and
//! the key must be a valid environment variable name.
//!
//! A key given twice is refused, with both lines (kubectl refuses it too).
//!
//! One deliberate difference: a line with no `=` makes kubectl read the
//! value from its own environment; ksec refuses it, so a render never
//! depends on the machine it runs on.

/// A problem on one line. Never carries the value.
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// `[-._a-zA-Z][-._a-zA-Z0-9]*`
pub fn is_env_var_name(key: &str) -> bool {
    let mut chars = key.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_') => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

pub fn parse(bytes: &[u8]) -> Result<Vec<(String, String)>, LineError> {
    let text = std::str::from_utf8(bytes).map_err(|e| LineError {
        line: bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
        message: "invalid UTF-8".into(),
    })?;
    let mut pairs = Vec::new();
    let mut lines: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (index, raw) in text.split('\n').enumerate() {
        // the last piece after a final newline is not a line
        if index > 0
            && raw.is_empty()
            && text.ends_with('\n')
            && index == text.split('\n').count() - 1
        {
            break;
        }
        let mut line = raw.strip_suffix('\r').unwrap_or(raw);
        if index == 0 {
            line = line.strip_prefix('\u{FEFF}').unwrap_or(line);
        }
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(LineError {
                line: index + 1,
                message: "expected KEY=VALUE (a line without '=' would take its value from the environment, which ksec does not do)".into(),
            });
        };
        if !is_env_var_name(key) {
            return Err(LineError {
                line: index + 1,
                message: format!(
                    "{key:?} is not a valid key name (letters, digits, '_', '-', '.'; not starting with a digit)"
                ),
            });
        }
        if let Some(first) = lines.get(key) {
            return Err(LineError {
                line: index + 1,
                message: format!(
                    "key {key} is given twice in this file (lines {first} and {}); kubectl refuses that too: keep one",
                    index + 1
                ),
            });
        }
        lines.insert(key, index + 1);
        pairs.push((key.to_string(), value.to_string()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_kubectl() {
        let input = "\u{FEFF}A=1\n  # comment\n\nB= spaced value  \nC=\"quoted\"\nD=x=y\n\tE=tab\nF=\nG=crlf\r\n";
        let pairs = parse(input.as_bytes()).unwrap();
        let expected = [
            ("A", "1"),
            ("B", " spaced value  "),
            ("C", "\"quoted\""),
            ("D", "x=y"),
            ("E", "tab"),
            ("F", ""),
            ("G", "crlf"),
        ];
        assert_eq!(
            pairs,
            expected
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn invalid_lines_name_their_line_and_not_their_value() {
        let err = parse(b"A=1\nbad line secret\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse(b"A=1\n\n1A=x\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(!err.message.contains('x'), "{}", err.message);
    }

    #[test]
    fn a_key_given_twice_names_both_lines_and_no_value() {
        let err = parse(b"A=1\n# c\nB=2\nA=secret-two\n").unwrap_err();
        assert_eq!(err.line, 4);
        assert_eq!(
            err.message,
            "key A is given twice in this file (lines 1 and 4); kubectl refuses that too: keep one"
        );
    }
}
