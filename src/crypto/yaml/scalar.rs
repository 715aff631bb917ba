//! How go-yaml v3 (so sops) writes a string scalar: plain, single- or
//! double-quoted, or as a literal block, and which strings it quotes because
//! a YAML 1.1 or 1.2 reader would take them for another type.

use std::fmt::Write as _;

use super::INDENT;

/// Render a string scalar in the style go-yaml v3 picks for it.
pub fn scalar_string(s: &str, indent: usize) -> String {
    scalar_string_with_step(s, indent, INDENT)
}

/// `scalar_string` for a layout that indents by `step` (block scalar
/// content goes at `indent + step`).
pub fn scalar_string_with_step(s: &str, indent: usize, step: usize) -> String {
    if s.contains('\n') {
        if let Some(block) = literal_block(s, indent, step) {
            return block;
        }
        return double_quoted(s);
    }
    if has_special_chars(s) {
        return double_quoted(s);
    }
    if resolves_to_non_string(s) {
        return double_quoted(s);
    }
    if plain_allowed(s) {
        return s.to_string();
    }
    single_quoted(s)
}

/// Printable as go-yaml's emitter decides it: no tab, no NEL (U+0085), and
/// nothing beyond the Basic Multilingual Plane (emoji are escaped).
fn is_printable(c: char) -> bool {
    matches!(c as u32, 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD) && c != '\u{FEFF}'
}

fn has_special_chars(s: &str) -> bool {
    s.chars().any(|c| !is_printable(c))
}

fn literal_block(s: &str, indent: usize, step: usize) -> Option<String> {
    if has_special_chars(s) || s.contains(" \n") || s.ends_with(' ') {
        return None;
    }
    let mut header = String::from("|");
    if s.starts_with(' ') || s.starts_with('\n') {
        write!(header, "{step}").ok();
    }
    if !s.ends_with('\n') {
        header.push('-');
    } else if s.len() == 1 || s.ends_with("\n\n") {
        header.push('+');
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    let mut out = header;
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', indent + step));
            out.push_str(line);
        }
    }
    Some(out)
}

pub(super) fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0B' => out.push_str("\\v"),
            '\x0C' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1B' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{A0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) <= 0xFF => {
                write!(out, "\\x{:02X}", c as u32).ok();
            }
            c if (c as u32) <= 0xFFFF => {
                write!(out, "\\u{:04X}", c as u32).ok();
            }
            c => {
                write!(out, "\\U{:08X}", c as u32).ok();
            }
        }
    }
    out.push('"');
    out
}

fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Whether a plain (unquoted) scalar would read back as this same string.
fn plain_allowed(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(' ') || s.ends_with(' ') || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let second = s.chars().nth(1);
    let followed_by_blank = matches!(second, None | Some(' '));
    match first {
        '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => return false,
        '-' | '?' | ':' if followed_by_blank => return false,
        _ => {}
    }
    !(s.contains(": ") || s.contains(" #") || s.ends_with(':'))
}

/// go-yaml v3 quotes strings that a YAML 1.1 or 1.2 reader would take for
/// another type: null, booleans (old and new), numbers, base-60 numbers and
/// timestamps.
pub fn resolves_to_non_string(s: &str) -> bool {
    matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | ".nan"
            | ".NaN"
            | ".NAN"
    ) || (s.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
        && (looks_like_int(s)
            || looks_like_float(s)
            || looks_like_base60(s)
            || looks_like_timestamp(s)))
}

fn looks_like_int(s: &str) -> bool {
    let t: String = s.chars().filter(|&c| c != '_').collect();
    let t = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if t.is_empty() {
        return false;
    }
    let (digits, radix) = if let Some(r) = t.strip_prefix("0x").or(t.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = t.strip_prefix("0o").or(t.strip_prefix("0O")) {
        (r, 8)
    } else if let Some(r) = t.strip_prefix("0b").or(t.strip_prefix("0B")) {
        (r, 2)
    } else {
        (t, 10)
    };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))
}

fn looks_like_float(s: &str) -> bool {
    // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(pos) => (&t[..pos], Some(&t[pos + 1..])),
        None => (t, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (a.is_empty() && !b.is_empty() || !a.is_empty())
                && a.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        }
    };
    mantissa_ok && exponent_ok
}

fn looks_like_base60(s: &str) -> bool {
    // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (whole, _frac) = match t.split_once('.') {
        Some((w, f)) if f.chars().all(|c| c.is_ascii_digit() || c == '_') => (w, Some(f)),
        Some(_) => return false,
        None => (t, None),
    };
    let mut parts = whole.split(':');
    let head = parts.next().unwrap_or("");
    if !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let mut any = false;
    for part in parts {
        any = true;
        let ok = match part.len() {
            1 => part.chars().all(|c| c.is_ascii_digit()),
            2 => {
                let b = part.as_bytes();
                (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit()
            }
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    any
}

/// go-yaml quotes a string only when it would read back as a timestamp.
fn looks_like_timestamp(s: &str) -> bool {
    crate::crypto::tree::yaml_timestamp(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_go_yaml() {
        let cases = [
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            ("a: b", "'a: b'"),
            ("x #y", "'x #y'"),
            ("-x", "-x"),
            ("12:30", "\"12:30\""),
            ("2024-01-01", "\"2024-01-01\""),
            ("0x1F", "\"0x1F\""),
            ("tab\there", "\"tab\\there\""),
            ("ctl\x01", "\"ctl\\x01\""),
            ("@at", "'@at'"),
            ("yes", "\"yes\""),
            ("1e3", "\"1e3\""),
            (".inf", "\".inf\""),
            ("~", "\"~\""),
            ("a'b\"c", "a'b\"c"),
            ("trailing \nspace", "\"trailing \\nspace\""),
            ("012", "\"012\""),
            ("-", "'-'"),
            ("?q", "?q"),
            ("x:", "'x:'"),
            ("1_000", "\"1_000\""),
            ("Null", "\"Null\""),
            ("", "\"\""),
            ("y", "\"y\""),
            ("héllo ✓", "héllo ✓"),
            ("rocket 🚀", "\"rocket \\U0001F680\""),
            ("a\u{85}b", "\"a\\Nb\""),
            (
                "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]",
                "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(scalar_string(input, 0), expected, "input {input:?}");
        }
    }

    #[test]
    fn block_scalars_follow_go_yaml() {
        assert_eq!(
            scalar_string("line1\nline2\n", 0),
            "|\n    line1\n    line2"
        );
        assert_eq!(scalar_string("a\nb", 4), "|-\n        a\n        b");
        assert_eq!(scalar_string("ends\n\n\n", 0), "|+\n    ends\n\n");
        assert_eq!(scalar_string("\nstarts", 0), "|4-\n\n    starts");
    }
}
