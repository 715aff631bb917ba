//! The INI store as sops reads and writes it (through go-ini): a map of
//! sections, each a map of keys to string values (every value is
//! `type:str`); keys before the first section are in `DEFAULT`; a section
//! may appear more than once and is kept each time; `;`/`#` start a
//! comment, also after a value (`k = v ; note` is `v`); quotes around a
//! value are removed. A comment above a key is held after that key in the
//! tree and written back above it, as sops does. Written with `=` aligned
//! in each section and a blank line between sections. Errors name the
//! line, never its content.

use super::tree::{Item, Leaf, Value};
use secrecy::{ExposeSecret, SecretString};

/// The section of the keys before any `[section]` line.
pub const DEFAULT_SECTION: &str = "DEFAULT";

#[derive(Debug, PartialEq, Eq)]
pub struct IniError {
    pub line: usize,
    pub message: String,
    /// The size limit, not a syntax error (`line` is then 0).
    pub limit: bool,
}

fn strip_comment_char(line: &str) -> &str {
    line.trim_start_matches(['#', ';'])
        .trim_start_matches([' ', '\t'])
        .trim_end()
}

/// The most keys and sections an INI file may hold (memory stays bounded
/// by it, as for YAML and JSON).
pub const MAX_ENTRIES: usize = 250_000;

/// Parse an INI text into sections.
pub fn parse(text: &str) -> Result<Value, IniError> {
    let entries = text.lines().filter(|l| !l.trim().is_empty()).count();
    if entries > MAX_ENTRIES {
        return Err(IniError {
            line: 0,
            message: "the INI file is larger than ksec reads: more than 250,000 lines of keys, sections and comments".into(),
            limit: true,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<(String, Vec<Item>)> = vec![(DEFAULT_SECTION.into(), Vec::new())];
    let mut pending: Vec<String> = Vec::new();
    let mut current = 0;
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim_start();
        let err = |message: &str| IniError {
            line: n + 1,
            message: message.into(),
            limit: false,
        };
        if line.is_empty() {
            continue;
        }
        if line.starts_with(['#', ';']) {
            pending.push(strip_comment_char(line).to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| err("a section header without its closing ]"))?;
            let name = rest[..end].trim().to_string();
            if name.is_empty() {
                return Err(err("a section header without a name"));
            }
            let mut items = Vec::new();
            if !pending.is_empty() {
                items.push(Item::Comment(SecretString::from(pending.join("\n"))));
                pending.clear();
            }
            if name == DEFAULT_SECTION {
                sections[0].1.extend(items);
                current = 0;
            } else {
                sections.push((name, items));
                current = sections.len() - 1;
            }
            continue;
        }
        let (key, rest) = split_key(line)
            .ok_or_else(|| err("a line that is neither a section, a comment nor key = value"))?;
        let (value, inline) = if let Some(body) = rest.strip_prefix("\"\"\"") {
            // a value over several lines, up to the closing """
            let mut value = String::new();
            let mut body = body.to_string();
            loop {
                if let Some(end) = body.find("\"\"\"") {
                    value.push_str(&body[..end]);
                    break;
                }
                value.push_str(&body);
                value.push('\n');
                body = match lines.next() {
                    Some((_, next)) => next.to_string(),
                    None => return Err(err("a \"\"\" value without its closing \"\"\"")),
                };
            }
            (value, None)
        } else if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '`') {
            let inner = &rest[1..];
            let end = inner
                .find(q)
                .ok_or_else(|| err("a quoted value without its closing quote"))?;
            (inner[..end].to_string(), None)
        } else {
            match rest.find(['#', ';']) {
                Some(at) => (
                    rest[..at].trim_end().to_string(),
                    Some(strip_comment_char(&rest[at..]).to_string()),
                ),
                None => (rest.trim_end().to_string(), None),
            }
        };
        let comment = inline.or_else(|| (!pending.is_empty()).then(|| pending.join("\n")));
        pending.clear();
        let section = &mut sections[current].1;
        if let Some(at) = section
            .iter()
            .position(|i| matches!(i, Item::Pair(k, _) if *k == key))
        {
            section[at] = Item::Pair(key, Value::Leaf(Leaf::str(value)));
            continue;
        }
        section.push(Item::Pair(key, Value::Leaf(Leaf::str(value))));
        if let Some(c) = comment {
            section.push(Item::Comment(SecretString::from(c)));
        }
    }
    Ok(Value::Map(
        sections
            .into_iter()
            .filter(|(name, items)| name != DEFAULT_SECTION || !items.is_empty())
            .map(|(name, items)| Item::Pair(name, Value::Map(items)))
            .collect(),
    ))
}

/// `key = value` or `key: value`, the key unquoted.
fn split_key(line: &str) -> Option<(String, &str)> {
    if let Some(q) = line.chars().next().filter(|c| *c == '"' || *c == '`') {
        let end = line[1..].find(q)? + 1;
        let key = line[1..end].to_string();
        let rest = line[end + 1..].trim_start();
        let rest = rest.strip_prefix(['=', ':'])?;
        return Some((key, rest.trim_start()));
    }
    let at = line.find(['=', ':'])?;
    let key = line[..at].trim();
    if key.is_empty() {
        return None;
    }
    Some((key.to_string(), line[at + 1..].trim_start()))
}

/// A key as go-ini writes it.
fn key_text(key: &str) -> String {
    if key.contains('`') {
        format!("\"\"\"{key}\"\"\"")
    } else if key.contains(['"', '=', ':']) {
        format!("`{key}`")
    } else {
        key.to_string()
    }
}

/// A value as go-ini writes it.
fn value_text(value: &str) -> String {
    if value.contains(['\n', '`']) {
        format!("\"\"\"{value}\"\"\"")
    } else if value.contains(['#', ';']) {
        format!("`{value}`")
    } else if value.trim() != value {
        format!("\"{value}\"")
    } else {
        value.to_string()
    }
}

fn comment_lines(out: &mut String, text: &str) {
    for line in text.split('\n') {
        out.push_str("; ");
        out.push_str(line.trim());
        out.push('\n');
    }
}

/// The sections as sops writes them.
pub fn emit(value: &Value) -> Result<String, String> {
    let Value::Map(sections) = value else {
        return Err("an INI file is a map of sections".into());
    };
    let mut out = String::new();
    let mut first = true;
    for item in sections {
        let Item::Pair(name, section) = item else {
            continue;
        };
        let Value::Map(items) = section else {
            return Err(format!(
                "section {name} holds a single value; INI values live in sections"
            ));
        };
        if !first {
            out.push('\n');
        }
        first = false;
        let mut rest = items.as_slice();
        if let Some((Item::Comment(c), tail)) = rest.split_first() {
            comment_lines(&mut out, c.expose_secret());
            rest = tail;
        }
        if name != DEFAULT_SECTION {
            out.push_str(&format!("[{name}]\n"));
        }
        let width = rest
            .iter()
            .filter_map(|i| match i {
                Item::Pair(k, _) => Some(key_text(k).chars().count()),
                Item::Comment(_) => None,
            })
            .max()
            .unwrap_or(0);
        for (at, item) in rest.iter().enumerate() {
            let Item::Pair(key, value) = item else {
                continue;
            };
            if let Some(Item::Comment(c)) = rest.get(at + 1) {
                comment_lines(&mut out, c.expose_secret());
            }
            let text = match value {
                Value::Leaf(leaf) => leaf.expose().to_string(),
                Value::Null => String::new(),
                Value::Map(_) | Value::Seq(_) | Value::Comment(_) => {
                    return Err(format!(
                        "key {name}.{key} holds a nested value; INI values are text"
                    ));
                }
            };
            let k = key_text(key);
            let pad = width.saturating_sub(k.chars().count());
            out.push_str(&format!("{k}{} = {}\n", " ".repeat(pad), value_text(&text)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_as_sops_does() {
        let text = "top = t1\n# topcomment\n[s1]\nshort = a\nmuch_longer_key = b b\n; c1\nempty =\nquoted = \"q v\"\nsemi = a;b # not\nhash = x#y\nspaces =   lead  \ncolon: c\n[s2]\nk = v\n[s1]\ndup = again\n";
        let value = parse(text).unwrap();
        assert_eq!(
            emit(&value).unwrap(),
            "top = t1\n\n; topcomment\n[s1]\nshort           = a\nmuch_longer_key = b b\n; c1\nempty           = \nquoted          = q v\n; b # not\nsemi            = a\n; y\nhash            = x\nspaces          = lead\ncolon           = c\n\n[s2]\nk = v\n\n[s1]\ndup = again\n"
        );
    }

    #[test]
    fn values_that_need_quotes_read_back() {
        let text = "[s]\na = \"\"\"two\nlines\"\"\"\nb = `x;y`\nc = \" pad \"\n";
        let value = parse(text).unwrap();
        let out = emit(&value).unwrap();
        assert_eq!(
            out,
            "[s]\na = \"\"\"two\nlines\"\"\"\nb = `x;y`\nc = \" pad \"\n"
        );
        assert_eq!(emit(&parse(&out).unwrap()).unwrap(), out);
        let err = parse("[s]\nsecret-line-without-delimiter\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(!err.message.contains("secret"));
        let huge = "k = v\n".repeat(MAX_ENTRIES + 1);
        assert!(parse(&huge).unwrap_err().limit);
    }
}
