//! Edits of `ksec.yaml` as text, so comments and order survive.
//!
//! Adds or removes one entry of the top-level `namespaces:` mapping by line
//! surgery: every line outside the edited entry is kept byte for byte, and the
//! only other line that may change is the `namespaces:` key line itself, when
//! it switches between `namespaces: {}` and block form. This module never
//! re-emits YAML and never touches the file system; callers read, edit,
//! validate and write.
//!
//! The same surgery adds and removes recipients: an entry of `recipients:`,
//! and a name in the lists of `groups:`, `namespaces.<ns>.recipients` and
//! `environments.<env>.recipients` (flow `[a, b]` or block `- a`); only the
//! lines that hold the name change.
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

// ------------------------------------------------------------ recipients
//
// The recipient edits: the top-level `recipients:` mapping (name -> key) and
// the lists of names under `groups.<g>`, `namespaces.<ns>.recipients` and
// `environments.<env>.recipients`. Lists may be flow (`[a, b]`, on the key's
// line) or block (`- a` lines, indented or at the key's column). As above,
// every line that is not edited is kept byte for byte.

/// `text` with `name: key` appended as the last entry of the top-level
/// `recipients:` mapping. `recipients: {}` becomes block form (keeping a
/// trailing comment); a file without `recipients:` gets the key appended.
///
/// Fails if the name is already there, or if `recipients:` is written in flow
/// style or is not a mapping.
pub fn add_recipient(text: &str, name: &str, key: &str) -> Result<String, EditError> {
    check_entry_name(name, "recipient")?;
    let mut doc = Doc::parse(text);
    let value = crate::crypto::yaml::scalar_string(key.trim(), 0);
    let Some(node) = find_top(&doc.lines, "recipients") else {
        let mut out = text.to_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            out.push_str(doc.eol);
        }
        if doc.lines.last().is_some_and(|l| l.kind != Kind::Blank) {
            out.push_str(doc.eol);
        }
        let pad = " ".repeat(DEFAULT_STEP);
        out.push_str(&format!(
            "recipients:{eol}{pad}{}: {value}{eol}",
            yaml_key(name),
            eol = doc.eol
        ));
        return Ok(out);
    };
    let tail = &doc.lines[node.line].text[node.colon..];
    let (props, shape, comment) = parse_value(tail);
    let (at, indent) = match shape {
        Value::Flow => return Err(flow_mapping_error(&node, "recipients")),
        Value::Other => return Err(not_a_mapping(&node, "recipients")),
        Value::Empty => {
            let line =
                rewrite_key_line(&doc.lines[node.line].text, node.colon, &props, "", &comment);
            doc.lines[node.line].text = Cow::Owned(line);
            (node.line + 1, DEFAULT_STEP)
        }
        Value::Block => {
            let kids = child_nodes(&doc.lines, &node)?;
            if let Some(e) = kids.entries.iter().find(|e| e.name == name) {
                return Err(EditError(format!(
                    "ksec.yaml already has a recipient `{name}` (line {}); choose another name",
                    e.line + 1
                )));
            }
            (insertion_point(&doc.lines, &node, kids.indent), kids.indent)
        }
    };
    let line = format!("{}{}: {value}", " ".repeat(indent), yaml_key(name));
    doc.insert(at, vec![line]);
    Ok(doc.render())
}

/// `text` with `name` appended to the list of group `group` (under the
/// top-level `groups:`). Fails if there is no such group.
pub fn add_to_group(text: &str, group: &str, name: &str) -> Result<String, EditError> {
    check_entry_name(name, "recipient")?;
    let doc = Doc::parse(text);
    let Some(groups) = find_top(&doc.lines, "groups") else {
        return Err(EditError(format!(
            "ksec.yaml has no top-level `groups:`, so there is no group `{group}`"
        )));
    };
    let (_, shape, _) = parse_value(&doc.lines[groups.line].text[groups.colon..]);
    match shape {
        Value::Block => {}
        Value::Flow => return Err(flow_mapping_error(&groups, "groups")),
        _ => {
            return Err(EditError(format!(
                "ksec.yaml has no group `{group}`: `groups:` (line {}) is empty",
                groups.line + 1
            )));
        }
    }
    let kids = child_nodes(&doc.lines, &groups)?;
    let Some(node) = kids.entries.into_iter().find(|e| e.name == group) else {
        return Err(EditError(format!(
            "ksec.yaml has no group `{group}` under `groups:`"
        )));
    };
    list_add(doc, &node, &format!("groups.{group}"), name)
}

/// `text` with `name` appended to the `recipients:` list of namespace
/// `namespace`; a namespace without that key gets `recipients: [name]` as its
/// first field (`ns: {}` becomes block form).
pub fn add_to_namespace(text: &str, namespace: &str, name: &str) -> Result<String, EditError> {
    check_entry_name(name, "recipient")?;
    let mut doc = Doc::parse(text);
    let Some(namespaces) = find_top(&doc.lines, "namespaces") else {
        return Err(EditError(format!(
            "ksec.yaml has no top-level `namespaces:`, so there is no namespace `{namespace}`"
        )));
    };
    let (_, shape, _) = parse_value(&doc.lines[namespaces.line].text[namespaces.colon..]);
    match shape {
        Value::Block => {}
        Value::Flow => return Err(flow_mapping_error(&namespaces, "namespaces")),
        _ => {
            return Err(EditError(format!(
                "ksec.yaml has no namespace `{namespace}`: `namespaces:` (line {}) is empty",
                namespaces.line + 1
            )));
        }
    }
    let kids = child_nodes(&doc.lines, &namespaces)?;
    let step = kids.step;
    let Some(ns) = kids.entries.into_iter().find(|e| e.name == namespace) else {
        return Err(EditError(format!(
            "ksec.yaml has no namespace `{namespace}` under `namespaces:`"
        )));
    };
    let field = format!("namespaces.{namespace}");
    let (props, shape, comment) = parse_value(&doc.lines[ns.line].text[ns.colon..]);
    let new_field =
        |indent: usize| format!("{}recipients: [{}]", " ".repeat(indent), yaml_key(name));
    match shape {
        Value::Flow => Err(flow_mapping_error(&ns, &field)),
        Value::Other => Err(not_a_mapping(&ns, &field)),
        Value::Empty => {
            let line = rewrite_key_line(&doc.lines[ns.line].text, ns.colon, &props, "", &comment);
            doc.lines[ns.line].text = Cow::Owned(line);
            doc.insert(ns.line + 1, vec![new_field(ns.indent + step)]);
            Ok(doc.render())
        }
        Value::Block => {
            let fields = child_nodes(&doc.lines, &ns)?;
            if let Some(list) = fields.entries.into_iter().find(|e| e.name == "recipients") {
                return list_add(doc, &list, &format!("{field}.recipients"), name);
            }
            let indent = if fields.indent > ns.indent {
                fields.indent
            } else {
                ns.indent + step
            };
            doc.insert(ns.line + 1, vec![new_field(indent)]);
            Ok(doc.render())
        }
    }
}

/// `text` without recipient `name`: its entry under `recipients:` (leaving
/// `recipients: {}` if it was the only one) and every mention of it in the
/// lists of `groups:`, `namespaces.<ns>.recipients` and
/// `environments.<env>.recipients`. Returns the new text and the lists it was
/// taken out of, like `groups.payments-team` (the entry itself not included).
pub fn remove_recipient(text: &str, name: &str) -> Result<(String, Vec<String>), EditError> {
    check_entry_name(name, "recipient")?;
    let mut doc = Doc::parse(text);
    let Some(node) = find_top(&doc.lines, "recipients") else {
        return Err(EditError(format!(
            "ksec.yaml has no top-level `recipients:`, so there is no recipient `{name}`"
        )));
    };
    let (props, shape, comment) = parse_value(&doc.lines[node.line].text[node.colon..]);
    match shape {
        Value::Block => {}
        Value::Flow => return Err(flow_mapping_error(&node, "recipients")),
        Value::Other => return Err(not_a_mapping(&node, "recipients")),
        Value::Empty => {
            return Err(EditError(format!(
                "ksec.yaml has no recipient `{name}`: `recipients:` (line {}) is empty",
                node.line + 1
            )));
        }
    }
    let kids = child_nodes(&doc.lines, &node)?;
    let Some(entry) = kids.entries.iter().find(|e| e.name == name) else {
        return Err(EditError(format!(
            "ksec.yaml has no recipient `{name}` under `recipients:`"
        )));
    };
    let last = (entry.line..entry.end)
        .rev()
        .find(|&i| doc.lines[i].is_data())
        .unwrap_or(entry.line);
    if kids.entries.len() == 1 {
        let line = rewrite_key_line(
            &doc.lines[node.line].text,
            node.colon,
            &props,
            " {}",
            &comment,
        );
        doc.lines[node.line].text = Cow::Owned(line);
    }
    doc.remove(entry.line, last + 1);
    let mut text = doc.render();

    // Every list that names it, one edit at a time (line numbers move).
    let mut places = Vec::new();
    let lists = |text: &str| -> Result<Vec<(String, Node)>, EditError> {
        let doc = Doc::parse(text);
        let mut out = Vec::new();
        for top in ["groups", "namespaces", "environments"] {
            let Some(parent) = find_top(&doc.lines, top) else {
                continue;
            };
            if parse_value(&doc.lines[parent.line].text[parent.colon..]).1 != Value::Block {
                continue;
            }
            for child in child_nodes(&doc.lines, &parent)?.entries {
                if top == "groups" {
                    out.push((format!("groups.{}", child.name), child));
                    continue;
                }
                let (_, shape, _) = parse_value(&doc.lines[child.line].text[child.colon..]);
                if shape != Value::Block {
                    continue;
                }
                if let Some(list) = child_nodes(&doc.lines, &child)?
                    .entries
                    .into_iter()
                    .find(|e| e.name == "recipients")
                {
                    out.push((format!("{top}.{}.recipients", child.name), list));
                }
            }
        }
        Ok(out)
    };
    loop {
        let mut changed = false;
        for (field, node) in lists(&text)? {
            let doc = Doc::parse(&text);
            if let Some(new) = list_remove(doc, &node, &field, name)? {
                if !places.contains(&field) {
                    places.push(field);
                }
                text = new;
                changed = true;
                break;
            }
        }
        if !changed {
            return Ok((text, places));
        }
    }
}

fn check_entry_name(name: &str, what: &str) -> Result<(), EditError> {
    if name.is_empty() {
        return Err(EditError(format!("the {what} name is empty")));
    }
    if name.chars().any(|c| c.is_control()) || name.trim() != name {
        return Err(EditError(format!(
            "the {what} name {name:?} contains spaces or control characters"
        )));
    }
    Ok(())
}

fn flow_mapping_error(node: &Node, field: &str) -> EditError {
    EditError(format!(
        "`{field}` in ksec.yaml (line {}) is written in flow style (`{{…}}`), which ksec cannot \
         edit without losing its layout; rewrite it in block style, one `name: …` per line \
         below it, and try again",
        node.line + 1
    ))
}

fn not_a_mapping(node: &Node, field: &str) -> EditError {
    EditError(format!(
        "`{field}` in ksec.yaml (line {}) is not a mapping; it should be a block mapping \
         (one `name: …` per line below it) or `{{}}`",
        node.line + 1
    ))
}

/// A key of a block mapping and the lines that belong to it.
struct Node {
    name: String,
    /// Index of the key line.
    line: usize,
    /// Column of the key.
    indent: usize,
    /// Byte offset in the line just past the key's `:`.
    colon: usize,
    /// Index of the first line after its value: the next key at its column or
    /// less deep, or the end of its parent.
    end: usize,
}

struct NodeChildren {
    entries: Vec<Node>,
    /// Column of the children's keys (the parent's column when there are none).
    indent: usize,
    /// How much deeper than its key a child's own body is (default 2).
    step: usize,
}

/// The top-level key `key`.
fn find_top(lines: &[Line], key: &str) -> Option<Node> {
    let top = |l: &Line| l.kind == Kind::Content && l.indent == 0;
    let line = lines
        .iter()
        .position(|l| top(l) && parse_key(&l.text).is_some_and(|(k, _)| k == key))?;
    let (name, colon) = parse_key(&lines[line].text)?;
    let end = (line + 1..lines.len())
        .find(|&i| top(&lines[i]) && !is_sequence_item(&lines[i].text))
        .unwrap_or(lines.len());
    Some(Node {
        name,
        line,
        indent: 0,
        colon,
        end,
    })
}

/// The keys of the block mapping below `parent`.
fn child_nodes(lines: &[Line], parent: &Node) -> Result<NodeChildren, EditError> {
    let block = parent.line + 1..parent.end;
    let Some(first) = block.clone().find(|&i| lines[i].kind == Kind::Content) else {
        return Ok(NodeChildren {
            entries: Vec::new(),
            indent: parent.indent,
            step: DEFAULT_STEP,
        });
    };
    let indent = lines[first].indent;
    if indent <= parent.indent || is_sequence_item(&lines[first].text[indent..]) {
        return Err(EditError(format!(
            "`{}` in ksec.yaml (line {}) is not a mapping of names",
            parent.name,
            parent.line + 1
        )));
    }
    let starts: Vec<usize> = block
        .clone()
        .filter(|&i| lines[i].kind == Kind::Content && lines[i].indent == indent)
        .filter(|&i| !is_sequence_item(&lines[i].text[indent..]))
        .collect();
    let mut entries = Vec::new();
    for (n, &i) in starts.iter().enumerate() {
        let Some((name, colon)) = parse_key(&lines[i].text[indent..]) else {
            continue;
        };
        let end = starts.get(n + 1).copied().unwrap_or(parent.end);
        entries.push(Node {
            name,
            line: i,
            indent,
            colon: indent + colon,
            end,
        });
    }
    let step = (first + 1..parent.end)
        .find(|&i| lines[i].is_data())
        .map(|i| lines[i].indent)
        .filter(|&nested| nested > indent)
        .map_or(DEFAULT_STEP, |nested| nested - indent);
    Ok(NodeChildren {
        entries,
        indent,
        step,
    })
}

/// Where a new child of `node` goes: after its last line of data, and after
/// the comments indented under that last child.
fn insertion_point(lines: &[Line], node: &Node, child_indent: usize) -> usize {
    let mut at = (node.line + 1..node.end)
        .rev()
        .find(|&i| lines[i].is_data() && lines[i].indent > node.indent)
        .map_or(node.line + 1, |i| i + 1);
    while at < node.end && lines[at].kind == Kind::Comment && lines[at].indent > child_indent {
        at += 1;
    }
    at
}

/// A key line with a new value: `key:` + ` props` + `value` + comment.
fn rewrite_key_line(text: &str, colon: usize, props: &str, value: &str, comment: &str) -> String {
    let mut out = text[..colon].to_owned();
    if !props.is_empty() {
        out.push(' ');
        out.push_str(props);
    }
    out.push_str(value);
    out.push_str(comment);
    out
}

/// A list of names, as written.
enum List {
    /// `[a, b]` on the key's line: byte offsets of `[` and `]`, and each
    /// item's span and value.
    Flow {
        open: usize,
        close: usize,
        items: Vec<(usize, usize, String)>,
    },
    /// `- a` lines below the key: each item's line and value.
    Block { items: Vec<(usize, String)> },
    /// No value (`key:` with nothing below, `~`, `null`): the comment after it.
    Null { comment: String },
}

fn list_error(node: &Node, field: &str, why: &str) -> EditError {
    EditError(format!(
        "`{field}` in ksec.yaml (line {}) {why}; write it as a list of names, `[a, b]` on one \
         line or one `- name` per line, and try again",
        node.line + 1
    ))
}

fn parse_list(lines: &[Line], node: &Node, field: &str) -> Result<List, EditError> {
    let text: &str = &lines[node.line].text;
    let tail = &text[node.colon..];
    let code = strip_comment(tail);
    let value = code.trim();
    let comment = if value.is_empty() {
        tail.to_owned()
    } else {
        tail[code.trim_end().len()..].to_owned()
    };
    if value.is_empty() {
        let mut items = Vec::new();
        for (i, l) in lines.iter().enumerate().take(node.end).skip(node.line + 1) {
            if l.kind == Kind::Scalar {
                return Err(list_error(node, field, "holds a block scalar"));
            }
            if l.kind != Kind::Content {
                continue;
            }
            let rest = &l.text[l.indent..];
            if !is_sequence_item(rest) || l.indent < node.indent {
                return Err(list_error(node, field, "is not a list of names"));
            }
            let item = strip_comment(&rest[1..]).trim();
            match plain_or_quoted(item) {
                Some((v, n)) if n == item.len() => items.push((i, v)),
                _ => {
                    return Err(list_error(
                        node,
                        field,
                        "has an item that is not a plain name",
                    ));
                }
            }
        }
        return Ok(if items.is_empty() {
            List::Null { comment }
        } else {
            List::Block { items }
        });
    }
    if matches!(value, "~" | "null" | "Null" | "NULL") {
        return Ok(List::Null { comment });
    }
    let Some(start) = value
        .strip_prefix('[')
        .map(|_| node.colon + (tail.len() - tail.trim_start().len()))
    else {
        return Err(list_error(node, field, "is not a list"));
    };
    let open = start;
    let mut pos = open + 1;
    let mut items = Vec::new();
    let bytes = text.as_bytes();
    let skip_ws = |mut p: usize| {
        while p < bytes.len() && (bytes[p] == b' ' || bytes[p] == b'\t') {
            p += 1;
        }
        p
    };
    loop {
        pos = skip_ws(pos);
        if pos >= bytes.len() {
            return Err(list_error(
                node,
                field,
                "is a flow list that goes on over several lines",
            ));
        }
        if bytes[pos] == b']' && items.is_empty() {
            break;
        }
        let rest = &text[pos..];
        let (v, n) = if rest.starts_with(['"', '\'']) {
            plain_or_quoted(rest)
                .ok_or_else(|| list_error(node, field, "has an unreadable item"))?
        } else {
            let n = rest.find([',', ']', '#', '[', '{']).unwrap_or(rest.len());
            let v = rest[..n].trim_end();
            if v.is_empty() {
                return Err(list_error(node, field, "has an empty or nested item"));
            }
            (v.to_owned(), v.len())
        };
        items.push((pos, pos + n, v));
        pos = skip_ws(pos + n);
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            Some(b']') => break,
            None => {
                return Err(list_error(
                    node,
                    field,
                    "is a flow list that goes on over several lines",
                ));
            }
            _ => {
                return Err(list_error(
                    node,
                    field,
                    "has an item that is not a plain name",
                ));
            }
        }
    }
    let close = pos;
    let after = &text[close + 1..];
    let t = after.trim_start_matches([' ', '\t']);
    if !(t.is_empty() || (t.starts_with('#') && t.len() < after.len())) {
        return Err(list_error(node, field, "has text after its `]`"));
    }
    Ok(List::Flow { open, close, items })
}

/// A double- or single-quoted scalar at the start of `s`, or else a plain
/// one (all of `s`): its value and length in bytes.
fn plain_or_quoted(s: &str) -> Option<(String, usize)> {
    if let Some(inner) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((value, i + 2)),
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        }
        return None;
    }
    if let Some(inner) = s.strip_prefix('\'') {
        let mut value = String::new();
        let mut chars = inner.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\'' {
                value.push(c);
            } else if chars.next_if(|&(_, n)| n == '\'').is_some() {
                value.push('\'');
            } else {
                return Some((value, i + 2));
            }
        }
        return None;
    }
    if s.is_empty()
        || s.starts_with(['[', '{', '&', '*', '!', '|', '>', '-', '?', '@', '`'])
        || s.contains(": ")
        || s.contains(',')
    {
        return None;
    }
    Some((s.to_owned(), s.len()))
}

/// `doc` with `name` appended to the list at `node`.
fn list_add(mut doc: Doc, node: &Node, field: &str, name: &str) -> Result<String, EditError> {
    let item = yaml_key(name);
    match parse_list(&doc.lines, node, field)? {
        List::Flow { open, close, items } => {
            let text = &doc.lines[node.line].text;
            let line = match items.last() {
                Some(&(_, end, _)) => format!("{}, {item}{}", &text[..end], &text[end..]),
                None => format!("{}[{item}]{}", &text[..open], &text[close + 1..]),
            };
            doc.lines[node.line].text = Cow::Owned(line);
        }
        List::Block { items } => {
            let (last, _) = *items.last().expect("a block list has items");
            let l = &doc.lines[last];
            let pad = &l.text[..l.indent];
            let new = format!("{pad}- {item}");
            doc.insert(last + 1, vec![new]);
        }
        List::Null { comment } => {
            let text = &doc.lines[node.line].text;
            let line = format!("{} [{item}]{comment}", &text[..node.colon]);
            doc.lines[node.line].text = Cow::Owned(line);
            // `key: ~` keeps nothing after the value but the comment
        }
    }
    Ok(doc.render())
}

/// `doc` with every `name` taken out of the list at `node`, or `None` when
/// the list does not name it. An emptied list is written `[]`.
fn list_remove(
    mut doc: Doc,
    node: &Node,
    field: &str,
    name: &str,
) -> Result<Option<String>, EditError> {
    match parse_list(&doc.lines, node, field)? {
        List::Flow { open, close, items } => {
            if !items.iter().any(|(_, _, v)| v == name) {
                return Ok(None);
            }
            let text = &doc.lines[node.line].text;
            let line = if items.iter().all(|(_, _, v)| v == name) {
                format!("{}[]{}", &text[..open], &text[close + 1..])
            } else {
                // Each kept item with the separator that was written before
                // it, the first one with nothing before it.
                let mut out = text[..items[0].0].to_owned();
                let mut first = true;
                for (i, (start, end, v)) in items.iter().enumerate() {
                    if v == name {
                        continue;
                    }
                    if !first {
                        out.push_str(&text[items[i - 1].1..*start]);
                    }
                    first = false;
                    out.push_str(&text[*start..*end]);
                }
                out.push_str(&text[items[items.len() - 1].1..]);
                out
            };
            doc.lines[node.line].text = Cow::Owned(line);
        }
        List::Block { items } => {
            let gone: Vec<usize> = items
                .iter()
                .filter(|(_, v)| v == name)
                .map(|(i, _)| *i)
                .collect();
            if gone.is_empty() {
                return Ok(None);
            }
            if gone.len() == items.len() {
                let text = &doc.lines[node.line].text;
                let tail = &text[node.colon..];
                let line = format!("{} []{tail}", &text[..node.colon]);
                doc.lines[node.line].text = Cow::Owned(line);
            }
            for i in gone.into_iter().rev() {
                doc.remove(i, i + 1);
            }
        }
        List::Null { .. } => return Ok(None),
    }
    Ok(Some(doc.render()))
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
        // the entry goes after the last namespace, before any later top-level key
        let at = out.find("\n  search:\n").unwrap();
        assert!(out[at..].find("\n  storefront:\n").is_none());
        assert!(at > out.find("\n  storefront:\n").unwrap());
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

#[cfg(test)]
mod recipient_tests {
    use super::*;
    use serde_json::{Value as Json, json};

    fn parse(text: &str) -> Json {
        serde_saphyr::from_str::<Json>(text)
            .unwrap_or_else(|e| panic!("result does not parse: {e}\n---\n{text}"))
    }

    const KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    /// Every list style ksec.yaml may use, with comments around them.
    const TEAM: &str = "\
# the team's project
version: 1

recipients:   # people and CI
  # Alice leads
  alice: age1alice   # laptop
  bob: age1bob
  ci-prod: age1ci
# Named groups.
groups:
  payments-team: [alice, bob]   # grows
  search-team:
    - bob
  solo:
  - alice
  empty: []

environments:
  prod:
    context: prod
    recipients: [ci-prod, bob]

namespaces:
  payments:
    recipients: [payments-team]
    owners: [payments-devs]
  search:
    recipients:
      - search-team
      - bob   # temporary
  bare:
    owners: [x]
  empty-ns: {}   # nothing yet
";

    #[test]
    fn add_recipient_goes_after_the_last_entry_keeping_comments() {
        let out = add_recipient(TEAM, "carol", KEY).unwrap();
        assert_eq!(
            out,
            TEAM.replace(
                "  ci-prod: age1ci\n",
                &format!("  ci-prod: age1ci\n  carol: {KEY}\n")
            )
        );
        assert_eq!(parse(&out)["recipients"]["carol"], KEY);
    }

    #[test]
    fn add_recipient_to_an_empty_or_missing_mapping() {
        let starter = "version: 1\nrecipients: {}  # none yet\n#  alice: age1...\n\ngroups: {}\n";
        let out = add_recipient(starter, "carol", KEY).unwrap();
        assert_eq!(
            out,
            format!(
                "version: 1\nrecipients:  # none yet\n  carol: {KEY}\n#  alice: age1...\n\ngroups: {{}}\n"
            )
        );
        assert_eq!(parse(&out)["recipients"], json!({"carol": KEY}));

        let out = add_recipient("version: 1\n", "carol", KEY).unwrap();
        assert_eq!(out, format!("version: 1\n\nrecipients:\n  carol: {KEY}\n"));

        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW carol@laptop";
        let out = add_recipient("recipients:\n    a: age1a\n", "carol", ssh).unwrap();
        assert_eq!(
            out,
            format!("recipients:\n    a: age1a\n    carol: {ssh}\n")
        );
        assert_eq!(parse(&out)["recipients"]["carol"], ssh);
    }

    #[test]
    fn add_recipient_refuses_an_existing_name_or_a_flow_mapping() {
        assert!(
            add_recipient(TEAM, "bob", KEY)
                .unwrap_err()
                .0
                .contains("already has a recipient `bob` (line 7)")
        );
        assert!(
            add_recipient("recipients: {a: age1a}\n", "carol", KEY)
                .unwrap_err()
                .0
                .contains("flow style")
        );
    }

    #[test]
    fn add_to_group_in_every_list_style() {
        let out = add_to_group(TEAM, "payments-team", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace("[alice, bob]   # grows", "[alice, bob, carol]   # grows")
        );
        let out = add_to_group(TEAM, "search-team", "carol").unwrap();
        assert_eq!(out, TEAM.replace("    - bob\n", "    - bob\n    - carol\n"));
        let out = add_to_group(TEAM, "solo", "carol").unwrap();
        assert_eq!(out, TEAM.replace("  - alice\n", "  - alice\n  - carol\n"));
        assert_eq!(parse(&out)["groups"]["solo"], json!(["alice", "carol"]));
        let out = add_to_group(TEAM, "empty", "carol").unwrap();
        assert_eq!(out, TEAM.replace("empty: []", "empty: [carol]"));
        assert_eq!(
            add_to_group(TEAM, "nope", "carol").unwrap_err().0,
            "ksec.yaml has no group `nope` under `groups:`"
        );
    }

    #[test]
    fn add_to_namespace_appends_or_creates_the_list() {
        let out = add_to_namespace(TEAM, "payments", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace("[payments-team]", "[payments-team, carol]")
        );
        let out = add_to_namespace(TEAM, "search", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace(
                "      - bob   # temporary\n",
                "      - bob   # temporary\n      - carol\n"
            )
        );
        let out = add_to_namespace(TEAM, "bare", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace("  bare:\n", "  bare:\n    recipients: [carol]\n")
        );
        assert_eq!(
            parse(&out)["namespaces"]["bare"],
            json!({"recipients": ["carol"], "owners": ["x"]})
        );
        let out = add_to_namespace(TEAM, "empty-ns", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace(
                "  empty-ns: {}   # nothing yet\n",
                "  empty-ns:   # nothing yet\n    recipients: [carol]\n"
            )
        );
        assert!(
            add_to_namespace(TEAM, "nope", "carol")
                .unwrap_err()
                .0
                .contains("no namespace `nope`")
        );
    }

    #[test]
    fn remove_recipient_takes_it_out_of_every_list() {
        let (out, places) = remove_recipient(TEAM, "bob").unwrap();
        assert_eq!(
            places,
            [
                "groups.payments-team",
                "groups.search-team",
                "namespaces.search.recipients",
                "environments.prod.recipients"
            ]
        );
        let expected = TEAM
            .replace("  bob: age1bob\n", "")
            .replace("[alice, bob]   # grows", "[alice]   # grows")
            .replace("  search-team:\n    - bob\n", "  search-team: []\n")
            .replace("[ci-prod, bob]", "[ci-prod]")
            .replace("      - bob   # temporary\n", "");
        assert_eq!(out, expected);
        let v = parse(&out);
        assert_eq!(v["groups"]["search-team"], json!([]));
        assert_eq!(
            v["namespaces"]["search"]["recipients"],
            json!(["search-team"])
        );
        assert!(!out.contains("bob"));
    }

    #[test]
    fn remove_the_only_recipient_leaves_an_empty_mapping() {
        let text = "recipients:  # c\n  bob: age1bob\ngroups:\n  g: [bob]\n  h:\n  - bob\n";
        let (out, _) = remove_recipient(text, "bob").unwrap();
        assert_eq!(out, "recipients: {}  # c\ngroups:\n  g: []\n  h: []\n");
        assert_eq!(parse(&out)["groups"], json!({"g": [], "h": []}));
    }

    #[test]
    fn remove_keeps_separators_and_quotes_of_the_others() {
        let text = "recipients:\n  a: age1a\n  b: age1b\n  c: age1c\ngroups:\n  g: [ a , \"b\", 'c' ]\n  h: [b, a]\n  i: [a, b]\n";
        let (out, _) = remove_recipient(text, "b").unwrap();
        assert_eq!(
            out,
            "recipients:\n  a: age1a\n  c: age1c\ngroups:\n  g: [ a, 'c' ]\n  h: [a]\n  i: [a]\n"
        );
    }

    #[test]
    fn remove_refuses_unknown_names_and_unreadable_lists() {
        assert_eq!(
            remove_recipient(TEAM, "dave").unwrap_err().0,
            "ksec.yaml has no recipient `dave` under `recipients:`"
        );
        let text = "recipients:\n  bob: age1bob\ngroups:\n  g: [bob,\n     a]\n";
        assert!(
            remove_recipient(text, "bob")
                .unwrap_err()
                .0
                .contains("flow list that goes on over several lines")
        );
    }

    #[test]
    fn add_then_remove_gives_back_the_original() {
        let one = add_recipient(TEAM, "carol", KEY).unwrap();
        let two = add_to_group(&one, "payments-team", "carol").unwrap();
        let three = add_to_namespace(&two, "search", "carol").unwrap();
        let four = add_to_group(&three, "solo", "carol").unwrap();
        let (back, places) = remove_recipient(&four, "carol").unwrap();
        assert_eq!(back, TEAM);
        assert_eq!(
            places,
            [
                "groups.payments-team",
                "groups.solo",
                "namespaces.search.recipients"
            ]
        );
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let text = "recipients:\r\n  a: age1a\r\ngroups:\r\n  g:\r\n  - a\r\n";
        let out = add_recipient(text, "b", "age1b").unwrap();
        let out = add_to_group(&out, "g", "b").unwrap();
        assert_eq!(
            out,
            "recipients:\r\n  a: age1a\r\n  b: age1b\r\ngroups:\r\n  g:\r\n  - a\r\n  - b\r\n"
        );
        let (back, _) = remove_recipient(&out, "b").unwrap();
        assert_eq!(back, text);
    }
}
