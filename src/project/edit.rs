//! Edits of `ksec.yaml` as text, so comments and order survive.
//!
//! Adds or removes one entry of the top-level `namespaces:` mapping by line
//! surgery: every line outside the edited entry is kept byte for byte, and the
//! only other line that may change is the `namespaces:` key line itself, when
//! it switches between `namespaces: {}` and block form. This module never
//! re-emits YAML and never touches the file system; callers read, edit,
//! validate and write.
//!
//! The reading of the file is deliberately shallow. A line at column 0 that is
//! neither blank nor a comment starts a top-level key (block-scalar content is
//! always indented, so it cannot pass for one). The entries of `namespaces:`
//! are the keys at the indentation of its first child. Block scalars are
//! tracked so that their `#` lines are not taken for comments.

use std::borrow::Cow;
use std::fmt;

/// Why `ksec.yaml` could not be edited, worded for the person who wrote it.
#[derive(Debug, PartialEq, Eq)]
pub struct EditError(pub String);

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EditError {}

/// Indentation of a new `namespaces:` block's children, and of their bodies,
/// when the file has no child to copy it from.
const DEFAULT_STEP: usize = 2;

/// `text` with a new entry `name:` appended as the last child of the top-level
/// `namespaces:` mapping. `body` is the entry's mapping as block YAML at column 0
/// (e.g. `"owners: [devs]\nquota:\n  cpu: \"4\"\n"`); it is re-indented under the
/// key, using the indentation step the file already uses for namespaces' children
/// (detected from the first existing child and its first nested line; default 2).
///
/// The body is shifted as a whole, so its own nesting (and any block scalar in
/// it) is kept as written. An empty body gives `name: {}`. `namespaces: {}` is
/// turned into block form, keeping a trailing comment; a file without
/// `namespaces:` gets the key appended at its end. Line endings (`\n` or
/// `\r\n`) follow the file's.
///
/// Fails if the entry already exists, or if `namespaces:` is written in flow
/// style or is not a mapping.
pub fn add_namespace(text: &str, name: &str, body: &str) -> Result<String, EditError> {
    check_name(name)?;
    let mut doc = Doc::parse(text);
    let Some(ns) = find_namespaces(&doc.lines) else {
        return Ok(doc.appended(text, name, body));
    };
    let (at, indent, step) = match ns.value {
        Value::Flow => return Err(flow_error(&ns)),
        Value::Other => return Err(not_a_mapping_error(&ns)),
        Value::Empty => {
            // `namespaces: {}  # c` -> `namespaces:  # c`; the entry goes right
            // below, above any commented-out example that follows.
            let line = ns.key_line(&doc.lines, "");
            doc.lines[ns.line].text = Cow::Owned(line);
            (ns.line + 1, DEFAULT_STEP, DEFAULT_STEP)
        }
        Value::Block => {
            let children = children(&doc.lines, &ns)?;
            if let Some(e) = children.entries.iter().find(|e| e.name == name) {
                return Err(EditError(format!(
                    "ksec.yaml already has a namespace `{name}` (line {}); choose another \
                     name, or remove that entry first",
                    e.line + 1
                )));
            }
            let mut at = (ns.line + 1..ns.end)
                .rev()
                .find(|&i| doc.lines[i].is_data() && doc.lines[i].indent > 0)
                .map_or(ns.line + 1, |i| i + 1);
            // comments indented under the last entry belong to it
            while at < ns.end
                && doc.lines[at].kind == Kind::Comment
                && doc.lines[at].indent > children.indent
            {
                at += 1;
            }
            (at, children.indent, children.step)
        }
    };
    let new = entry_lines(name, body, indent, step);
    doc.insert(at, new);
    Ok(doc.render())
}

/// `text` without the entry `name` of the top-level `namespaces:` mapping:
/// its key line, everything nested under it, and the comment lines directly
/// above it at the entry's indentation (a comment block separated by a blank
/// line stays). If it was the only entry, leaves `namespaces: {}`.
///
/// One of the blank lines around the entry goes with it, so neighbours stay
/// separated as before; removing an entry that was just added with
/// [`add_namespace`] gives back the original text.
pub fn remove_namespace(text: &str, name: &str) -> Result<String, EditError> {
    check_name(name)?;
    let mut doc = Doc::parse(text);
    let Some(ns) = find_namespaces(&doc.lines) else {
        return Err(EditError(format!(
            "ksec.yaml has no top-level `namespaces:` key, so there is no namespace \
             `{name}` to remove"
        )));
    };
    match ns.value {
        Value::Flow => return Err(flow_error(&ns)),
        Value::Other => return Err(not_a_mapping_error(&ns)),
        Value::Empty => {
            return Err(EditError(format!(
                "ksec.yaml has no namespace `{name}`: `namespaces:` (line {}) is empty",
                ns.line + 1
            )));
        }
        Value::Block => {}
    }
    let children = children(&doc.lines, &ns)?;
    let Some(pos) = children.entries.iter().position(|e| e.name == name) else {
        let known: Vec<&str> = children.entries.iter().map(|e| e.name.as_str()).collect();
        return Err(EditError(if known.is_empty() {
            format!(
                "ksec.yaml has no namespace `{name}`: `namespaces:` (line {}) has no entries",
                ns.line + 1
            )
        } else {
            format!(
                "ksec.yaml has no namespace `{name}` under `namespaces:` (it has: {}); \
                 check the spelling",
                known.join(", ")
            )
        }));
    };
    let lines = &doc.lines;
    let key = children.entries[pos].line;
    let child = children.indent;

    // The entry: its key line and everything indented deeper, without the
    // blank lines that trail it (they separate it from what follows).
    let mut end = key + 1;
    while end < ns.end {
        let l = &lines[end];
        let nested = l.kind == Kind::Blank
            || l.kind == Kind::Scalar
            || l.indent > child
            || (l.indent == child && l.kind == Kind::Content && is_sequence_item(&l.text));
        if !nested {
            break;
        }
        end += 1;
    }
    while lines[end - 1].kind == Kind::Blank {
        end -= 1;
    }
    // The comments that introduce it.
    let mut start = key;
    while start - 1 > ns.line
        && lines[start - 1].kind == Kind::Comment
        && lines[start - 1].indent == child
    {
        start -= 1;
    }
    // Keep one separator where there were two.
    let blank = |i: usize| lines[i].kind == Kind::Blank;
    let after_blank = end < lines.len() && blank(end);
    if start - 1 > ns.line && blank(start - 1) && (after_blank || end == lines.len()) {
        while start - 1 > ns.line && blank(start - 1) {
            start -= 1;
        }
    } else if start == ns.line + 1 && after_blank {
        let next = (end..lines.len())
            .find(|&i| !blank(i))
            .unwrap_or(lines.len());
        if next < ns.end {
            end = next;
        }
    }

    if children.entries.len() == 1 {
        let line = ns.key_line(&doc.lines, " {}");
        doc.lines[ns.line].text = Cow::Owned(line);
    }
    doc.remove(start, end);
    Ok(doc.render())
}

fn check_name(name: &str) -> Result<(), EditError> {
    if name.is_empty() {
        return Err(EditError(
            "the namespace name is empty; give a name such as `payments`".into(),
        ));
    }
    if name.chars().any(|c| c.is_control()) || name.trim() != name {
        return Err(EditError(format!(
            "the namespace name {name:?} contains spaces or control characters; use a \
             Kubernetes namespace name such as `payments`"
        )));
    }
    Ok(())
}

fn flow_error(ns: &Namespaces) -> EditError {
    EditError(format!(
        "`namespaces:` in ksec.yaml (line {}) is written in flow style (`{{…}}`), which ksec \
         cannot edit without losing its layout; rewrite it in block style, `namespaces:` \
         with one indented `name:` entry per namespace below it, and try again",
        ns.line + 1
    ))
}

fn not_a_mapping_error(ns: &Namespaces) -> EditError {
    EditError(format!(
        "`namespaces:` in ksec.yaml (line {}) is not a mapping of namespace names; it should \
         be `namespaces:` with one indented `name:` entry per namespace below it, or \
         `namespaces: {{}}` when there are none",
        ns.line + 1
    ))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    /// Anything else outside a block scalar.
    Content,
    /// A non-blank line of a block scalar's text (`|` or `>`), even one that
    /// starts with `#`.
    Scalar,
}

struct Line<'a> {
    text: Cow<'a, str>,
    eol: Cow<'a, str>,
    /// Leading spaces.
    indent: usize,
    kind: Kind,
}

impl Line<'_> {
    fn is_data(&self) -> bool {
        matches!(self.kind, Kind::Content | Kind::Scalar)
    }
}

struct Doc<'a> {
    bom: &'a str,
    lines: Vec<Line<'a>>,
    /// The file's line break, for new lines.
    eol: &'static str,
}

impl<'a> Doc<'a> {
    fn parse(text: &'a str) -> Doc<'a> {
        let bom = if text.starts_with('\u{feff}') {
            &text[..3]
        } else {
            ""
        };
        let mut rest = &text[bom.len()..];
        let mut raw = Vec::new();
        while !rest.is_empty() {
            match rest.find('\n') {
                Some(i) => {
                    let cut = if rest[..i].ends_with('\r') { i - 1 } else { i };
                    raw.push((&rest[..cut], &rest[cut..=i]));
                    rest = &rest[i + 1..];
                }
                None => {
                    raw.push((rest, ""));
                    rest = "";
                }
            }
        }
        let eol = match raw.first() {
            Some((_, "\r\n")) => "\r\n",
            _ => "\n",
        };

        // (column the scalar belongs to, indentation of its text once seen)
        let mut scalar: Option<(usize, Option<usize>)> = None;
        let mut lines = Vec::with_capacity(raw.len());
        for (text, line_eol) in raw {
            let indent = text.len() - text.trim_start_matches(' ').len();
            let blank = text.trim().is_empty();
            let mut kind = None;
            if let Some((owner, body)) = scalar {
                if blank {
                    kind = Some(Kind::Blank);
                } else if body.map_or(indent > owner, |b| indent >= b) {
                    scalar = Some((owner, Some(body.unwrap_or(indent))));
                    kind = Some(Kind::Scalar);
                } else {
                    scalar = None;
                }
            }
            let kind = kind.unwrap_or_else(|| {
                if blank {
                    Kind::Blank
                } else if text.trim_start().starts_with('#') {
                    Kind::Comment
                } else {
                    if let Some(owner) = block_scalar_owner(text, indent) {
                        scalar = Some((owner, None));
                    }
                    Kind::Content
                }
            });
            lines.push(Line {
                text: Cow::Borrowed(text),
                eol: Cow::Borrowed(line_eol),
                indent,
                kind,
            });
        }
        Doc { bom, lines, eol }
    }

    /// Inserts `new` before line `at` (which is at least 1).
    fn insert(&mut self, at: usize, new: Vec<String>) {
        let eol = self.eol;
        let mut new: Vec<Line<'a>> = new
            .into_iter()
            .map(|text| Line {
                text: Cow::Owned(text),
                eol: Cow::Borrowed(eol),
                indent: 0,
                kind: Kind::Content,
            })
            .collect();
        // After a last line without a line break: it gets one, and the new
        // last line goes without, as the file did.
        if self.lines[at - 1].eol.is_empty() {
            self.lines[at - 1].eol = Cow::Borrowed(eol);
            if let Some(last) = new.last_mut() {
                last.eol = Cow::Borrowed("");
            }
        }
        self.lines.splice(at..at, new);
    }

    /// Removes lines `start..end` (`start` is at least 1); the mirror of
    /// [`Doc::insert`] for a last line without a line break.
    fn remove(&mut self, start: usize, end: usize) {
        if end == self.lines.len() && end > start {
            let eol = self.lines[end - 1].eol.clone();
            self.lines[start - 1].eol = eol;
        }
        self.lines.drain(start..end);
    }

    /// The whole file with a new `namespaces:` block at its end.
    fn appended(&self, text: &str, name: &str, body: &str) -> String {
        let mut out = text.to_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            out.push_str(self.eol);
        }
        if self.lines.last().is_some_and(|l| l.kind != Kind::Blank) {
            out.push_str(self.eol);
        }
        out.push_str("namespaces:");
        out.push_str(self.eol);
        for line in entry_lines(name, body, DEFAULT_STEP, DEFAULT_STEP) {
            out.push_str(&line);
            out.push_str(self.eol);
        }
        out
    }

    fn render(&self) -> String {
        let mut out = String::from(self.bom);
        for l in &self.lines {
            out.push_str(&l.text);
            out.push_str(&l.eol);
        }
        out
    }
}

/// The value written after `namespaces:` on its own line.
#[derive(Debug, PartialEq, Eq)]
enum Value {
    /// Nothing (children follow on indented lines, or none do).
    Block,
    /// `{}`, `~` or `null`.
    Empty,
    /// A flow mapping with content: `{a: {...}}`.
    Flow,
    /// A sequence, a scalar, an alias…
    Other,
}

/// The top-level `namespaces:` key.
struct Namespaces {
    /// Index of the key line.
    line: usize,
    /// Index of the first line after the block: the next top-level key, or
    /// the end of the file.
    end: usize,
    /// Byte offset just past the key's `:`.
    colon: usize,
    /// Anchor and tag written before the value (`&ns`, `!!map`), if any.
    props: String,
    /// Whitespace and comment after the value, if there is a comment.
    comment: String,
    value: Value,
}

impl Namespaces {
    /// The key line rewritten with `value` (`""` or `" {}"`) as its value.
    fn key_line(&self, lines: &[Line], value: &str) -> String {
        let text = &lines[self.line].text;
        let mut out = text[..self.colon].to_owned();
        if !self.props.is_empty() {
            out.push(' ');
            out.push_str(&self.props);
        }
        out.push_str(value);
        out.push_str(&self.comment);
        out
    }
}

fn find_namespaces(lines: &[Line]) -> Option<Namespaces> {
    let top = |l: &Line| l.kind == Kind::Content && l.indent == 0;
    let line = lines
        .iter()
        .position(|l| top(l) && parse_key(&l.text).is_some_and(|(k, _)| k == "namespaces"))?;
    let (_, colon) = parse_key(&lines[line].text)?;
    let end = (line + 1..lines.len())
        .find(|&i| top(&lines[i]))
        .unwrap_or(lines.len());
    let (props, value, comment) = parse_value(&lines[line].text[colon..]);
    Some(Namespaces {
        line,
        end,
        colon,
        props,
        comment,
        value,
    })
}

/// Splits what follows `namespaces:` into properties, value and comment.
fn parse_value(tail: &str) -> (String, Value, String) {
    let ws: &[char] = &[' ', '\t'];
    let mut rest = tail;
    let mut props = Vec::new();
    loop {
        let t = rest.trim_start_matches(ws);
        if !(t.starts_with('&') || t.starts_with('!')) {
            break;
        }
        let end = t.find(ws).unwrap_or(t.len());
        props.push(&t[..end]);
        rest = &t[end..];
    }
    let props = props.join(" ");
    // `after` is what follows a value: nothing, or whitespace and a comment.
    let comment_after = |after: &str| -> Option<String> {
        let t = after.trim_start_matches(ws);
        if t.is_empty() {
            Some(String::new())
        } else if t.starts_with('#') && t.len() < after.len() {
            Some(after.to_owned())
        } else {
            None
        }
    };
    let t = rest.trim_start_matches(ws);
    if let Some(comment) = comment_after(rest) {
        return (props, Value::Block, comment);
    }
    if let Some(inner) = t.strip_prefix('{') {
        return match inner
            .trim_start_matches(ws)
            .strip_prefix('}')
            .map(comment_after)
        {
            Some(Some(comment)) => (props, Value::Empty, comment),
            _ => (props, Value::Flow, String::new()),
        };
    }
    let word = t.find(ws).unwrap_or(t.len());
    if matches!(&t[..word], "~" | "null" | "Null" | "NULL")
        && let Some(comment) = comment_after(&t[word..])
    {
        return (props, Value::Empty, comment);
    }
    (props, Value::Other, String::new())
}

struct Entry {
    name: String,
    line: usize,
}

/// The entries of a block `namespaces:` and how they are indented.
struct Children {
    entries: Vec<Entry>,
    /// Column of the entries' keys.
    indent: usize,
    /// How much deeper than its key an entry's body is.
    step: usize,
}

fn children(lines: &[Line], ns: &Namespaces) -> Result<Children, EditError> {
    let block = ns.line + 1..ns.end;
    let Some(first) = block.clone().find(|&i| lines[i].kind == Kind::Content) else {
        // `namespaces:` then a sequence at column 0 is a list, not a mapping.
        if ns.end < lines.len() && is_sequence_item(&lines[ns.end].text) {
            return Err(not_a_mapping_error(ns));
        }
        return Ok(Children {
            entries: Vec::new(),
            indent: DEFAULT_STEP,
            step: DEFAULT_STEP,
        });
    };
    let indent = lines[first].indent;
    if is_sequence_item(&lines[first].text[indent..]) {
        return Err(not_a_mapping_error(ns));
    }
    let entries: Vec<Entry> = block
        .clone()
        .filter(|&i| lines[i].kind == Kind::Content && lines[i].indent == indent)
        .filter_map(|i| {
            let (name, _) = parse_key(&lines[i].text[indent..])?;
            Some(Entry { name, line: i })
        })
        .collect();
    let step = (first + 1..ns.end)
        .find(|&i| lines[i].is_data())
        .map(|i| lines[i].indent)
        .filter(|&nested| nested > indent)
        .map_or(indent, |nested| nested - indent);
    Ok(Children {
        entries,
        indent,
        step,
    })
}

/// The lines of a new entry: `name:` at `indent`, `body` shifted by `indent + step`.
fn entry_lines(name: &str, body: &str, indent: usize, step: usize) -> Vec<String> {
    let key = yaml_key(name);
    let pad = " ".repeat(indent);
    let body: Vec<&str> = body.lines().collect();
    let first = body.iter().position(|l| !l.trim().is_empty());
    let last = body.iter().rposition(|l| !l.trim().is_empty());
    let (Some(first), Some(last)) = (first, last) else {
        return vec![format!("{pad}{key}: {{}}")];
    };
    let body_pad = " ".repeat(indent + step);
    let mut out = vec![format!("{pad}{key}:")];
    out.extend(body[first..=last].iter().map(|l| {
        if l.trim().is_empty() {
            String::new()
        } else {
            format!("{body_pad}{l}")
        }
    }));
    out
}

/// `name` as a mapping key: plain when YAML reads it back as the same string,
/// double-quoted otherwise (`"123"`, `"null"`, `"a b"`).
fn yaml_key(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !matches!(
            name.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn is_sequence_item(s: &str) -> bool {
    s == "-" || s.starts_with("- ") || s.starts_with("-\t")
}

/// The key of a `key: value` line (from its first non-space character), and
/// the byte offset just past its `:`. Quoted keys are unquoted.
fn parse_key(s: &str) -> Option<(String, usize)> {
    let ends_value = |rest: &str| rest.is_empty() || rest.starts_with([' ', '\t']);
    let quoted = |key: String, close: usize| -> Option<(String, usize)> {
        let after = &s[close..];
        let colon = close + (after.len() - after.trim_start_matches([' ', '\t']).len());
        (s[colon..].starts_with(':') && ends_value(&s[colon + 1..])).then_some((key, colon + 1))
    };
    if let Some(inner) = s.strip_prefix('"') {
        let mut key = String::new();
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return quoted(key, 1 + i + 1),
                '\\' => match chars.next()?.1 {
                    'n' => key.push('\n'),
                    't' => key.push('\t'),
                    other => key.push(other),
                },
                c => key.push(c),
            }
        }
        return None;
    }
    if let Some(inner) = s.strip_prefix('\'') {
        let mut key = String::new();
        let mut chars = inner.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\'' {
                key.push(c);
            } else if chars.next_if(|&(_, n)| n == '\'').is_some() {
                key.push('\'');
            } else {
                return quoted(key, 1 + i + 1);
            }
        }
        return None;
    }
    if s.starts_with(['#', '{', '[', '&', '*', '!', '|', '>']) || is_sequence_item(s) {
        return None;
    }
    for (i, c) in s.char_indices() {
        if c == '#' && s[..i].ends_with([' ', '\t']) {
            return None;
        }
        if c == ':' && ends_value(&s[i + 1..]) {
            let key = s[..i].trim_end();
            return (!key.is_empty()).then(|| (key.to_owned(), i + 1));
        }
    }
    None
}

/// If `text` (indented by `indent`) opens a block scalar (`key: |`, `- >-`),
/// the column its text must be indented deeper than.
fn block_scalar_owner(text: &str, indent: usize) -> Option<usize> {
    let code = strip_comment(text).trim_end();
    let split = code.rfind([' ', '\t'])?;
    let indicator = &code[split + 1..];
    let is_indicator = indicator.starts_with(['|', '>'])
        && indicator.len() <= 3
        && indicator[1..]
            .chars()
            .all(|c| c == '+' || c == '-' || c.is_ascii_digit());
    if !is_indicator {
        return None;
    }
    // Drop properties between the indicator and its `key:` or `-`.
    let mut before = code[..split].trim_end();
    while let Some(i) = before.rfind([' ', '\t']) {
        if !before[i + 1..].starts_with(['&', '!']) {
            break;
        }
        before = before[..i].trim_end();
    }
    if before.ends_with(':') {
        // The key's column, past any `- ` that put it in a sequence item.
        let mut col = indent;
        while is_sequence_item(&text[col..]) {
            col += 1 + (text[col + 1..].len() - text[col + 1..].trim_start().len());
        }
        Some(col)
    } else if before.ends_with('-') && is_sequence_item(&text[before.len() - 1..]) {
        Some(before.len() - 1)
    } else {
        None
    }
}

/// `text` without a trailing `# comment` (a `#` after whitespace, outside quotes).
fn strip_comment(text: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    let mut prev_space = true;
    for (i, c) in text.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && prev_space => return &text[..i],
            None if (c == '"' || c == '\'') && prev_space => quote = Some(c),
            None => {}
        }
        prev_space = c == ' ' || c == '\t';
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value as Json, json};

    fn parse(text: &str) -> Json {
        serde_saphyr::from_str::<Json>(text)
            .unwrap_or_else(|e| panic!("result does not parse: {e}\n---\n{text}"))
    }

    fn names(v: &Json) -> Vec<String> {
        match &v["namespaces"] {
            Json::Object(m) => m.keys().cloned().collect(),
            other => panic!("namespaces is not a mapping: {other}"),
        }
    }

    const BODY: &str = "owners: [web-devs]\nquota:\n  cpu: \"4\"\n";

    fn web() -> Json {
        json!({"owners": ["web-devs"], "quota": {"cpu": "4"}})
    }

    /// Comments inside and around the block, a trailing commented-out entry,
    /// a column-0 comment and a blank line before the next key.
    const COMMENTED: &str = "\
# ksec project file.
version: 1
project: shop

namespaces:   # one entry per namespace
  # Payments team; ask in #payments before changing.
  payments:
    owners: [payments-devs]   # trailing comment
    configMaps:
    - name: api-config        # go-yaml style: sequence at the parent's column
      literals: {LOG_LEVEL: info}
    # retired: old-config

  # the shop front
  storefront:
    owners: [storefront-devs]
    secrets:
      - name: tls
        sources: [tls.enc.yaml]
  # search:
  #   owners: [search-devs]
# Environments follow.

environments:
  prod:
    context: prod
";

    #[test]
    fn add_goes_after_the_last_child_and_keeps_every_comment() {
        let out = add_namespace(COMMENTED, "web", BODY).unwrap();
        let expected = COMMENTED.replace(
            "        sources: [tls.enc.yaml]\n",
            "        sources: [tls.enc.yaml]\n  web:\n    owners: [web-devs]\n    quota:\n      cpu: \"4\"\n",
        );
        assert_eq!(out, expected);
        let v = parse(&out);
        assert_eq!(names(&v), ["payments", "storefront", "web"]);
        assert_eq!(v["namespaces"]["web"], web());
        assert_eq!(v["environments"]["prod"]["context"], "prod");
        assert_eq!(
            v["namespaces"]["payments"]["configMaps"][0]["name"],
            "api-config"
        );
    }

    #[test]
    fn add_uses_the_files_indentation_of_four() {
        let text = "namespaces:\n    payments:\n        owners: [p]\nversion: 1\n";
        let out = add_namespace(text, "web", BODY).unwrap();
        assert_eq!(
            out,
            "namespaces:\n    payments:\n        owners: [p]\n    web:\n        owners: [web-devs]\n        quota:\n          cpu: \"4\"\nversion: 1\n"
        );
        let v = parse(&out);
        assert_eq!(v["namespaces"]["web"], web());
        assert_eq!(v["version"], 1);
    }

    #[test]
    fn add_uses_a_step_that_differs_from_the_childrens_column() {
        // Children at 2, their bodies 4 deeper.
        let text = "namespaces:\n  payments:\n      owners: [p]\n";
        let out = add_namespace(text, "web", "owners: [w]\n").unwrap();
        assert_eq!(out, format!("{text}  web:\n      owners: [w]\n"));
        assert_eq!(parse(&out)["namespaces"]["web"], json!({"owners": ["w"]}));
    }

    /// The shape `ksec init` writes.
    const STARTER: &str = "\
# Named groups of recipients.
groups: {}
#  payments-team: [alice, bob]

# Namespaces and their objects.
namespaces: {}  # none yet
#  payments:
#    recipients: [payments-team]
#    secrets:
#      - name: db
";

    #[test]
    fn add_to_empty_flow_mapping_goes_right_below_the_key() {
        let out = add_namespace(STARTER, "web", BODY).unwrap();
        let expected = STARTER.replace(
            "namespaces: {}  # none yet\n",
            "namespaces:  # none yet\n  web:\n    owners: [web-devs]\n    quota:\n      cpu: \"4\"\n",
        );
        assert_eq!(out, expected);
        let v = parse(&out);
        assert_eq!(names(&v), ["web"]);
        assert_eq!(v["namespaces"]["web"], web());
        assert_eq!(v["groups"], json!({}));
    }

    #[test]
    fn add_to_the_real_starter_file_parses() {
        let starter = super::super::scaffold::starter_ksec_yaml("shop", &[]);
        let out = add_namespace(&starter, "web", BODY).unwrap();
        let v = parse(&out);
        assert_eq!(names(&v), ["web"]);
        assert_eq!(v["namespaces"]["web"], web());
        assert_eq!(remove_namespace(&out, "web").unwrap(), starter);
    }

    #[test]
    fn add_to_null_or_bare_namespaces() {
        for (text, expected) in [
            (
                "namespaces: ~\nversion: 1\n",
                "namespaces:\n  web:\n    owners: [w]\nversion: 1\n",
            ),
            (
                "namespaces:\n\nversion: 1\n",
                "namespaces:\n  web:\n    owners: [w]\n\nversion: 1\n",
            ),
            ("namespaces:", "namespaces:\n  web:\n    owners: [w]"),
        ] {
            let out = add_namespace(text, "web", "owners: [w]").unwrap();
            assert_eq!(out, expected);
            assert_eq!(parse(&out)["namespaces"]["web"], json!({"owners": ["w"]}));
        }
    }

    #[test]
    fn add_without_namespaces_appends_the_key() {
        for (text, expected) in [
            (
                "version: 1\n",
                "version: 1\n\nnamespaces:\n  web:\n    owners: [w]\n",
            ),
            (
                "version: 1",
                "version: 1\n\nnamespaces:\n  web:\n    owners: [w]\n",
            ),
            (
                "version: 1\n\n",
                "version: 1\n\nnamespaces:\n  web:\n    owners: [w]\n",
            ),
            ("", "namespaces:\n  web:\n    owners: [w]\n"),
        ] {
            let out = add_namespace(text, "web", "owners: [w]\n").unwrap();
            assert_eq!(out, expected, "for {text:?}");
            assert_eq!(parse(&out)["namespaces"]["web"], json!({"owners": ["w"]}));
        }
    }

    #[test]
    fn add_with_an_empty_body_writes_an_empty_mapping() {
        let out = add_namespace("namespaces:\n  a: {}\n", "b", "\n").unwrap();
        assert_eq!(out, "namespaces:\n  a: {}\n  b: {}\n");
        assert_eq!(parse(&out)["namespaces"]["b"], json!({}));
    }

    #[test]
    fn add_quotes_names_yaml_would_read_as_something_else() {
        let text = "namespaces:\n  a: {}\n";
        let out = add_namespace(text, "123", "owners: [x]\n").unwrap();
        assert_eq!(out, "namespaces:\n  a: {}\n  \"123\":\n    owners: [x]\n");
        let out = add_namespace(&out, "null", "").unwrap();
        assert_eq!(names(&parse(&out)), ["a", "123", "null"]);
        assert_eq!(
            remove_namespace(&remove_namespace(&out, "null").unwrap(), "123").unwrap(),
            text
        );
    }

    #[test]
    fn flow_style_with_content_is_refused() {
        let text = "version: 1\nnamespaces: {payments: {owners: [p]}}\n";
        let expected = EditError(
            "`namespaces:` in ksec.yaml (line 2) is written in flow style (`{…}`), which ksec \
             cannot edit without losing its layout; rewrite it in block style, `namespaces:` \
             with one indented `name:` entry per namespace below it, and try again"
                .into(),
        );
        assert_eq!(add_namespace(text, "web", BODY), Err(expected));
        assert!(
            remove_namespace(text, "payments")
                .unwrap_err()
                .0
                .contains("flow style")
        );
    }

    #[test]
    fn a_list_or_scalar_under_namespaces_is_refused() {
        for text in [
            "namespaces: [a, b]\n",
            "namespaces: payments\n",
            "namespaces:\n  - a\n",
            "namespaces:\n- a\n",
        ] {
            let err = add_namespace(text, "web", BODY).unwrap_err();
            assert_eq!(
                err.to_string(),
                "`namespaces:` in ksec.yaml (line 1) is not a mapping of namespace names; it \
                 should be `namespaces:` with one indented `name:` entry per namespace below \
                 it, or `namespaces: {}` when there are none",
                "for {text:?}"
            );
        }
    }

    #[test]
    fn add_refuses_an_existing_name() {
        assert_eq!(
            add_namespace(COMMENTED, "storefront", BODY),
            Err(EditError(
                "ksec.yaml already has a namespace `storefront` (line 15); choose another \
                 name, or remove that entry first"
                    .into()
            ))
        );
    }

    #[test]
    fn remove_refuses_an_unknown_name() {
        assert_eq!(
            remove_namespace(COMMENTED, "web"),
            Err(EditError(
                "ksec.yaml has no namespace `web` under `namespaces:` (it has: payments, \
                 storefront); check the spelling"
                    .into()
            ))
        );
        assert_eq!(
            remove_namespace("version: 1\n", "web"),
            Err(EditError(
                "ksec.yaml has no top-level `namespaces:` key, so there is no namespace `web` \
                 to remove"
                    .into()
            ))
        );
        assert_eq!(
            remove_namespace(STARTER, "web"),
            Err(EditError(
                "ksec.yaml has no namespace `web`: `namespaces:` (line 6) is empty".into()
            ))
        );
    }

    #[test]
    fn names_must_not_be_empty_or_contain_control_characters() {
        assert!(
            add_namespace(COMMENTED, "", BODY)
                .unwrap_err()
                .0
                .contains("empty")
        );
        assert!(
            add_namespace(COMMENTED, "a\nb", BODY)
                .unwrap_err()
                .0
                .contains("control characters")
        );
    }

    const THREE: &str = "\
namespaces:
  api:
    owners: [api-devs]

  # Payments: PCI scope.
  # Keep recipients small.
  payments:
    owners: [payments-devs]
    secrets:
      - name: db
        sources: [db.enc.yaml]

  # A comment block about web, separated by a blank line.

  web:
    owners: [web-devs]
";

    #[test]
    fn remove_middle_entry_keeps_neighbours_and_their_comments() {
        let out = remove_namespace(THREE, "payments").unwrap();
        assert_eq!(
            out,
            "\
namespaces:
  api:
    owners: [api-devs]

  # A comment block about web, separated by a blank line.

  web:
    owners: [web-devs]
"
        );
        let v = parse(&out);
        assert_eq!(names(&v), ["api", "web"]);
        assert_eq!(v["namespaces"]["web"], json!({"owners": ["web-devs"]}));
    }

    #[test]
    fn remove_keeps_a_comment_block_separated_by_a_blank_line() {
        let out = remove_namespace(THREE, "web").unwrap();
        assert_eq!(
            out,
            THREE.replace("\n\n  web:\n    owners: [web-devs]\n", "\n")
        );
        assert!(out.ends_with(
            "sources: [db.enc.yaml]\n\n  # A comment block about web, separated by a blank line.\n"
        ));
        assert_eq!(names(&parse(&out)), ["api", "payments"]);
    }

    #[test]
    fn remove_first_entry_drops_its_comments_and_the_separator() {
        let out = remove_namespace(COMMENTED, "payments").unwrap();
        let expected = COMMENTED.replace(
            "  # Payments team; ask in #payments before changing.\n  payments:\n    owners: [payments-devs]   # trailing comment\n    configMaps:\n    - name: api-config        # go-yaml style: sequence at the parent's column\n      literals: {LOG_LEVEL: info}\n    # retired: old-config\n\n",
            "",
        );
        assert_eq!(out, expected);
        assert!(out.contains(
            "namespaces:   # one entry per namespace\n  # the shop front\n  storefront:\n"
        ));
        let v = parse(&out);
        assert_eq!(names(&v), ["storefront"]);
        assert_eq!(v["environments"]["prod"]["context"], "prod");
    }

    #[test]
    fn remove_last_entry_keeps_trailing_comments_outside_it() {
        let out = remove_namespace(COMMENTED, "storefront").unwrap();
        let expected = COMMENTED.replace(
            "\n  # the shop front\n  storefront:\n    owners: [storefront-devs]\n    secrets:\n      - name: tls\n        sources: [tls.enc.yaml]\n",
            "\n",
        );
        assert_eq!(out, expected);
        assert!(out.contains("# retired: old-config\n\n  # search:\n"));
        assert_eq!(names(&parse(&out)), ["payments"]);
    }

    #[test]
    fn removing_the_only_entry_leaves_an_empty_mapping() {
        let text = "namespaces: # teams\n  # the only one\n  web:\n    owners: [w]\n\nversion: 1\n";
        let out = remove_namespace(text, "web").unwrap();
        assert_eq!(out, "namespaces: {} # teams\n\nversion: 1\n");
        let v = parse(&out);
        assert_eq!(v["namespaces"], json!({}));
        assert_eq!(v["version"], 1);

        let out = remove_namespace("namespaces:\n  web: {}\n", "web").unwrap();
        assert_eq!(out, "namespaces: {}\n");
        assert_eq!(parse(&out)["namespaces"], json!({}));
    }

    #[test]
    fn crlf_line_endings_are_kept() {
        let text = "# c\r\nnamespaces:\r\n  api:\r\n    owners: [a]\r\n# end\r\nversion: 1\r\n";
        let out = add_namespace(text, "web", BODY).unwrap();
        assert_eq!(
            out,
            "# c\r\nnamespaces:\r\n  api:\r\n    owners: [a]\r\n  web:\r\n    owners: [web-devs]\r\n    quota:\r\n      cpu: \"4\"\r\n# end\r\nversion: 1\r\n"
        );
        assert_eq!(parse(&out)["namespaces"]["web"], web());
        assert_eq!(remove_namespace(&out, "web").unwrap(), text);
        let out = remove_namespace(text, "api").unwrap();
        assert_eq!(out, "# c\r\nnamespaces: {}\r\n# end\r\nversion: 1\r\n");
        assert_eq!(parse(&out)["namespaces"], json!({}));

        let out = add_namespace("version: 1\r\n", "web", "owners: [w]\n").unwrap();
        assert_eq!(
            out,
            "version: 1\r\n\r\nnamespaces:\r\n  web:\r\n    owners: [w]\r\n"
        );
    }

    #[test]
    fn quoted_keys_match() {
        let text = "\"namespaces\":\n  \"payments\":\n    owners: [p]\n  'web':\n    owners: [w]\n";
        assert!(
            add_namespace(text, "payments", BODY)
                .unwrap_err()
                .0
                .contains("already has a namespace `payments`")
        );
        let out = remove_namespace(text, "web").unwrap();
        assert_eq!(out, "\"namespaces\":\n  \"payments\":\n    owners: [p]\n");
        assert_eq!(names(&parse(&out)), ["payments"]);
        let out = remove_namespace(text, "payments").unwrap();
        assert_eq!(out, "\"namespaces\":\n  'web':\n    owners: [w]\n");
        assert_eq!(names(&parse(&out)), ["web"]);
    }

    #[test]
    fn document_start_and_top_comments_are_fine() {
        let text = "---\n# top comment\n\n# about namespaces\nnamespaces:\n  a:\n    owners: [x]\n";
        let out = add_namespace(text, "b", "owners: [y]\n").unwrap();
        assert_eq!(out, format!("{text}  b:\n    owners: [y]\n"));
        assert_eq!(names(&parse(&out)), ["a", "b"]);
        assert_eq!(remove_namespace(&out, "b").unwrap(), text);
    }

    /// `namespaces:` nested in another key, and inside a block scalar.
    const DECOYS: &str = "\
version: 1
notes: |
  namespaces:
    fake: {}
# not in the scalar
defaults:
  namespaces:
    nested: {}
";

    #[test]
    fn nested_or_block_scalar_namespaces_are_not_the_top_level_key() {
        assert!(
            remove_namespace(DECOYS, "fake")
                .unwrap_err()
                .0
                .contains("no top-level `namespaces:`")
        );
        let out = add_namespace(DECOYS, "web", "owners: [w]\n").unwrap();
        assert_eq!(
            out,
            format!("{DECOYS}\nnamespaces:\n  web:\n    owners: [w]\n")
        );
        let v = parse(&out);
        assert_eq!(names(&v), ["web"]);
        assert_eq!(v["defaults"]["namespaces"], json!({"nested": {}}));

        let text = format!("{DECOYS}namespaces:\n  real:\n    owners: [r]\n");
        let out = add_namespace(&text, "nested", "owners: [n]\n").unwrap();
        assert_eq!(out, format!("{text}  nested:\n    owners: [n]\n"));
        assert_eq!(names(&parse(&out)), ["real", "nested"]);
        assert_eq!(remove_namespace(&out, "nested").unwrap(), text);
    }

    #[test]
    fn block_scalar_lines_starting_with_hash_are_not_comments() {
        let text = "\
namespaces:
  a:
    configMaps:
      - name: script
        literals:
          run.sh: |
            #!/bin/sh
            # not a comment
# trailing comment
version: 1
";
        let out = add_namespace(text, "b", "owners: [b]\n").unwrap();
        assert_eq!(
            out,
            text.replace(
                "# not a comment\n",
                "# not a comment\n  b:\n    owners: [b]\n"
            )
        );
        let v = parse(&out);
        assert_eq!(
            v["namespaces"]["a"]["configMaps"][0]["literals"]["run.sh"],
            "#!/bin/sh\n# not a comment\n"
        );
        assert_eq!(v["namespaces"]["b"], json!({"owners": ["b"]}));
        assert_eq!(remove_namespace(&out, "b").unwrap(), text);
        // Removing `a` takes its scalar along, but not the column-0 comment.
        assert_eq!(
            remove_namespace(&out, "a").unwrap(),
            "namespaces:\n  b:\n    owners: [b]\n# trailing comment\nversion: 1\n"
        );
    }

    #[test]
    fn a_name_that_prefixes_another_is_a_different_entry() {
        let text = "namespaces:\n  payments:\n    owners: [p]\n";
        assert!(
            remove_namespace(text, "pay")
                .unwrap_err()
                .0
                .contains("no namespace `pay`")
        );
        let out = add_namespace(text, "pay", "owners: [q]\n").unwrap();
        assert_eq!(out, format!("{text}  pay:\n    owners: [q]\n"));
        assert_eq!(names(&parse(&out)), ["payments", "pay"]);
        let out = remove_namespace(&out, "pay").unwrap();
        assert_eq!(out, text);
        let both = "namespaces:\n  pay: {}\n  payments: {}\n";
        assert_eq!(
            remove_namespace(both, "pay").unwrap(),
            "namespaces:\n  payments: {}\n"
        );
    }

    #[test]
    fn a_file_without_final_line_break_stays_without() {
        let text = "namespaces:\n  a:\n    owners: [x]";
        let out = add_namespace(text, "b", "owners: [y]\n").unwrap();
        assert_eq!(
            out,
            "namespaces:\n  a:\n    owners: [x]\n  b:\n    owners: [y]"
        );
        assert_eq!(names(&parse(&out)), ["a", "b"]);
        assert_eq!(remove_namespace(&out, "b").unwrap(), text);
    }

    /// Files an entry can be added to and removed from again, byte for byte.
    const SHAPES: &[&str] = &[
        COMMENTED,
        STARTER,
        THREE,
        "namespaces: {}\n",
        "version: 1\nnamespaces:\n    payments:\n        owners: [p]\n",
        "# c\r\nnamespaces:\r\n  api:\r\n    owners: [a]\r\n# end\r\nversion: 1\r\n",
        "namespaces:\n  a:\n    configMaps:\n    - name: x\n      literals:\n        k: |\n          # text\n",
        "namespaces:\n  a:\n    owners: [x]",
        "---\n# top\n\"namespaces\": # c\n  'a': {}\n\n# next\nversion: 1\n",
    ];

    #[test]
    fn add_then_remove_gives_back_the_original() {
        for text in SHAPES {
            let out = add_namespace(text, "new-ns", BODY).unwrap();
            assert_eq!(parse(&out)["namespaces"]["new-ns"], web(), "for {text:?}");
            assert_eq!(remove_namespace(&out, "new-ns").unwrap(), *text);
        }
    }

    #[test]
    fn the_demo_project_round_trips() {
        let text = include_str!("../../examples/demo/ksec.yaml");
        let out = add_namespace(text, "search", BODY).unwrap();
        assert!(out.starts_with(text.trim_end()));
        let v = parse(&out);
        assert_eq!(names(&v), ["payments", "storefront", "search"]);
        assert_eq!(v["namespaces"]["search"], web());
        assert_eq!(remove_namespace(&out, "search").unwrap(), text);
        let without = remove_namespace(text, "payments").unwrap();
        assert_eq!(names(&parse(&without)), ["storefront"]);
        assert!(without.contains("namespaces:\n  storefront:\n"));
    }

    const BODIES: &[&str] = &[
        "",
        BODY,
        "owners: [x]\nconfigMaps:\n- name: c\n  literals: {A: b}\n",
        "# a comment\nsecrets:\n  - name: s\n    sources: [s.enc.yaml]\nnote: |\n  # kept\n",
    ];

    proptest! {
        #[test]
        fn add_then_remove_round_trips(
            shape in 0..SHAPES.len(),
            body in 0..BODIES.len(),
            name in "[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?",
            other in "[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?",
        ) {
            let text = SHAPES[shape];
            let before = parse(text);
            let existing = names(&before);
            prop_assume!(!existing.contains(&name) && !existing.contains(&other) && name != other);

            let one = add_namespace(text, &name, BODIES[body]).unwrap();
            let two = add_namespace(&one, &other, BODY).unwrap();
            let v = parse(&two);
            let mut expected = existing.clone();
            expected.push(name.clone());
            expected.push(other.clone());
            prop_assert_eq!(names(&v), expected);
            let wanted = match serde_saphyr::from_str::<Json>(BODIES[body]).unwrap() {
                Json::Null => json!({}),
                v => v,
            };
            prop_assert_eq!(&v["namespaces"][&name], &wanted);
            prop_assert_eq!(&v["namespaces"][&other], &web());

            prop_assert_eq!(remove_namespace(&two, &other).unwrap(), one.clone());
            prop_assert_eq!(remove_namespace(&one, &name).unwrap(), text);
        }
    }
}
