//! A fast path for reading the body of an encrypted YAML file: nested block
//! maps whose leaves are `ENC[…]` values or `""`, which is what sops writes
//! for a typical secrets file. It accepts only that strict subset and gives
//! up (`None`) on anything else — a sequence, a comment, a quoted key, a
//! blank line, a duplicate key — and the caller then parses the document
//! with the full YAML parser. Both paths give the same tree (tested).
//!
//! Why: for a 5,000-key file the general parser is half of `ksec decrypt`'s
//! time.

use super::cipher::is_encrypted;
use super::tree::{Item, Leaf, Value};
use std::collections::HashSet;

/// Split `text` into the body (before a `sops:` line at column 0 that runs
/// to the end of the file) and the metadata block, and parse the body.
/// Returns the body's items and the `sops:` block's text.
pub fn split_and_parse(text: &str) -> Option<(Vec<Item>, &str)> {
    // YAML breaks lines at a lone `\r` too, where `lines()` does not: leave
    // such a file (and CRLF files) to the full parser
    if text.contains('\r') {
        return None;
    }
    let at = metadata_start(text)?;
    let (body, meta) = text.split_at(at);
    Some((parse_body(body)?, meta))
}

/// Where the `sops:` block starts when it is the last top-level key: a line
/// that is just `sops:` at column 0 (not a scalar such as `sops:x`),
/// followed by indented or empty lines only. The fast path splits the file
/// there, and a change to the metadata alone rewrites it from there.
pub(crate) fn metadata_start(text: &str) -> Option<usize> {
    let at = if text.starts_with("sops:") {
        0
    } else {
        text.find("\nsops:")? + 1
    };
    let mut lines = text[at..].lines();
    let first = lines.next()?;
    if first.trim_end() != "sops:" {
        return None;
    }
    lines
        .all(|l| l.is_empty() || l.starts_with(' '))
        .then_some(at)
}

/// Nesting the fast path builds at most: the full parser's own limit, so
/// that no deeper tree reaches the recursive walks.
const MAX_DEPTH: usize = 64;

struct Level {
    indent: usize,
    /// The key in the parent level that this map belongs to.
    key: String,
    items: Vec<Item>,
    seen: HashSet<String>,
}

fn parse_body(body: &str) -> Option<Vec<Item>> {
    let mut stack = vec![Level {
        indent: 0,
        key: String::new(),
        items: Vec::new(),
        seen: HashSet::new(),
    }];
    // A key whose value is a nested map starting on the next line.
    let mut opened: Option<String> = None;
    for line in body.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        let (key, value) = rest.split_once(':')?;
        if !simple_key(key) {
            return None;
        }
        if let Some(parent_key) = opened.take() {
            if indent <= stack.last()?.indent {
                return None; // an empty value (null): let the full parser decide
            }
            if stack.len() >= MAX_DEPTH {
                return None; // the full parser enforces (and reports) the limit
            }
            stack.push(Level {
                indent,
                key: parent_key,
                items: Vec::new(),
                seen: HashSet::new(),
            });
        } else {
            while indent < stack.last()?.indent {
                close(&mut stack)?;
            }
            if indent != stack.last()?.indent {
                return None;
            }
        }
        let level = stack.last_mut()?;
        if !level.seen.insert(key.to_string()) {
            return None;
        }
        match value {
            "" => opened = Some(key.to_string()),
            " \"\"" => level
                .items
                .push(Item::Pair(key.to_string(), Value::Leaf(Leaf::str("")))),
            v => {
                let v = v.strip_prefix(' ')?;
                if !simple_enc(v) {
                    return None;
                }
                level
                    .items
                    .push(Item::Pair(key.to_string(), Value::Leaf(Leaf::str(v))));
            }
        }
    }
    if opened.is_some() {
        return None;
    }
    while stack.len() > 1 {
        close(&mut stack)?;
    }
    stack.pop().map(|level| level.items)
}

fn close(stack: &mut Vec<Level>) -> Option<()> {
    let done = stack.pop()?;
    let parent = stack.last_mut()?;
    parent
        .items
        .push(Item::Pair(done.key, Value::Map(done.items)));
    Some(())
}

/// A key that every YAML reader takes as this same string: starts with a
/// letter or `_`, then letters, digits, `_`, `-`, `.`, `/`; and not a word
/// the core schema resolves to a boolean or null.
fn simple_key(key: &str) -> bool {
    let mut chars = key.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !matches!(
            key,
            "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "null" | "Null" | "NULL"
        )
}

/// `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` made only of base64 and the
/// fixed punctuation, so it is a plain scalar with nothing to interpret.
fn simple_enc(value: &str) -> bool {
    is_encrypted(value)
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'+' | b'/' | b'=' | b',' | b':' | b'[' | b']' | b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::yaml;

    fn same_tree(text: &str) {
        let (fast, meta) = split_and_parse(text).expect("fast path accepts it");
        let mut all = fast;
        let meta_value = yaml::parse(meta).unwrap();
        if let Value::Map(items) = meta_value {
            all.extend(items);
        }
        let slow = yaml::parse(text).unwrap();
        assert_eq!(yaml::emit(&Value::Map(all)), yaml::emit(&slow));
    }

    #[test]
    fn a_lone_carriage_return_is_left_to_the_full_parser() {
        // YAML reads `\r` as a line break: `b` is a top-level key after sops
        let whole = format!("a: {ENC}\nsops:\n    version: 3.9.0\n");
        assert!(
            split_and_parse(&whole).is_some(),
            "the control is not taken"
        );
        let text = format!("a: {ENC}\nsops:\n    version: 3.9.0\rb: {ENC}\n");
        assert!(split_and_parse(&text).is_none());
        assert!(split_and_parse(&whole.replace('\n', "\r\n")).is_none());
    }

    const ENC: &str = "ENC[AES256_GCM,data:Kq0=,iv:TV0dT0LtaoXpqHGR05nS5TGP4E7RW607hGyowFAmSrw=,tag:Dneg1I5l6axitdApbatUpg==,type:str]";

    #[test]
    fn nested_maps_match_the_full_parser() {
        let text = format!(
            "a: {ENC}\nb:\n    c: {ENC}\n    d:\n        e: \"\"\n    f: {ENC}\ng: {ENC}\nsops:\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: {ENC}\n"
        );
        same_tree(&text);
    }

    #[test]
    fn anything_unusual_falls_back() {
        let cases = [
            format!("a:\n    - {ENC}\nsops:\n    x: y\n"), // sequence
            format!("# c\na: {ENC}\nsops:\n    x: y\n"),   // comment
            format!("\"a\": {ENC}\nsops:\n    x: y\n"),    // quoted key
            format!("a: {ENC}\n\nb: {ENC}\nsops:\n    x: y\n"), // blank line
            format!("a: {ENC}\na: {ENC}\nsops:\n    x: y\n"), // duplicate
            format!("a:\nb: {ENC}\nsops:\n    x: y\n"),    // null value
            "a: plain\nsops:\n    x: y\n".to_string(),     // not encrypted
            format!("true: {ENC}\nsops:\n    x: y\n"),     // resolves to bool
            format!("sops:\n    x: y\na: {ENC}\n"),        // sops not last
            format!("a: {ENC}\n  b: {ENC}\nsops:\n    x: y\n"), // bad indent
        ];
        for case in cases {
            assert!(split_and_parse(&case).is_none(), "{case}");
        }
    }
}
