//! The one reading of `ksec.yaml` that every edit shares: the file as lines
//! (each one blank, a comment, content, or text of a block scalar), the keys
//! of block mappings as [`Node`]s with the lines they span, what a key's own
//! line holds after its `:` ([`Inline`]), and lists of names ([`List`]).
//!
//! The reading is deliberately shallow. A line at column 0 that is neither
//! blank nor a comment starts a top-level key (block-scalar content is always
//! indented, so it cannot pass for one); a top-level key's block runs to the
//! next such line that is not a sequence item (go-yaml writes a key's list at
//! the key's column). The children of a node are the keys at the indentation
//! of its first content line. Block scalars are tracked so that their `#`
//! lines are not taken for comments.
//!
//! Nothing here decides what an edit does or words an error for a person;
//! and nothing re-emits YAML: lines are kept as they were read, byte for
//! byte, unless an edit replaces them.

use super::EditError;
use std::borrow::Cow;

/// Indentation of a new block's children, and of their bodies, when the file
/// has no child to copy it from.
pub(super) const DEFAULT_STEP: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Blank,
    Comment,
    /// Anything else outside a block scalar.
    Content,
    /// A non-blank line of a block scalar's text (`|` or `>`), even one that
    /// starts with `#`.
    Scalar,
}

pub(super) struct Line<'a> {
    pub(super) text: Cow<'a, str>,
    eol: Cow<'a, str>,
    /// Leading spaces.
    pub(super) indent: usize,
    pub(super) kind: Kind,
}

impl Line<'_> {
    pub(super) fn is_data(&self) -> bool {
        matches!(self.kind, Kind::Content | Kind::Scalar)
    }
}

/// The file as lines, and how to write it back.
pub(super) struct Doc<'a> {
    bom: &'a str,
    pub(super) lines: Vec<Line<'a>>,
    /// The file's line break, for new lines.
    eol: &'static str,
}

impl<'a> Doc<'a> {
    pub(super) fn parse(text: &'a str) -> Doc<'a> {
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
    pub(super) fn insert(&mut self, at: usize, new: Vec<String>) {
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
    pub(super) fn remove(&mut self, start: usize, end: usize) {
        if end == self.lines.len() && end > start {
            let eol = self.lines[end - 1].eol.clone();
            self.lines[start - 1].eol = eol;
        }
        self.lines.drain(start..end);
    }

    /// Replaces the text of line `i` (its line break stays).
    pub(super) fn set(&mut self, i: usize, text: String) {
        self.lines[i].text = Cow::Owned(text);
    }

    /// `text` (the file this was parsed from) with a new top-level `key:` at
    /// its end, after a blank line, and `children` below it.
    pub(super) fn appended(&self, text: &str, key: &str, children: Vec<String>) -> String {
        let mut out = text.to_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            out.push_str(self.eol);
        }
        if self.lines.last().is_some_and(|l| l.kind != Kind::Blank) {
            out.push_str(self.eol);
        }
        out.push_str(key);
        out.push(':');
        out.push_str(self.eol);
        for line in children {
            out.push_str(&line);
            out.push_str(self.eol);
        }
        out
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::from(self.bom);
        for l in &self.lines {
            out.push_str(&l.text);
            out.push_str(&l.eol);
        }
        out
    }
}

/// The form of the value written on a key's own line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Value {
    /// Nothing (children follow on indented lines, or none do).
    Block,
    /// `{}`, `~` or `null`.
    Empty,
    /// A flow mapping with content: `{a: {...}}`.
    Flow,
    /// A sequence, a scalar, an alias…
    Other,
}

/// What a key's own line holds after its `:`.
pub(super) struct Inline {
    /// Anchor and tag written before the value (`&ns`, `!!map`), if any.
    props: String,
    pub(super) value: Value,
    /// Whitespace and comment after the value, if there is a comment.
    comment: String,
}

/// A key of a block mapping and the lines that belong to it.
pub(super) struct Node {
    pub(super) name: String,
    /// Index of the key line.
    pub(super) line: usize,
    /// Column of the key.
    pub(super) indent: usize,
    /// Byte offset in the line just past the key's `:`.
    pub(super) colon: usize,
    /// Index of the first line after its value: the next key at its column or
    /// less deep, or the end of its parent.
    pub(super) end: usize,
}

impl Node {
    /// What the key's line holds after its `:`.
    pub(super) fn inline(&self, lines: &[Line]) -> Inline {
        parse_inline(&lines[self.line].text[self.colon..])
    }

    /// The key line with `value` (`""` or `" {}"`) in place of the one
    /// `inline` read, keeping its properties and comment.
    pub(super) fn key_line(&self, lines: &[Line], inline: &Inline, value: &str) -> String {
        let mut out = lines[self.line].text[..self.colon].to_owned();
        if !inline.props.is_empty() {
            out.push(' ');
            out.push_str(&inline.props);
        }
        out.push_str(value);
        out.push_str(&inline.comment);
        out
    }

    /// Where a new child goes: after the node's last line of data, and after
    /// the comments indented under that last child (they belong to it).
    pub(super) fn insertion_point(&self, lines: &[Line], child_indent: usize) -> usize {
        let mut at = (self.line + 1..self.end)
            .rev()
            .find(|&i| lines[i].is_data() && lines[i].indent > self.indent)
            .map_or(self.line + 1, |i| i + 1);
        while at < self.end && lines[at].kind == Kind::Comment && lines[at].indent > child_indent {
            at += 1;
        }
        at
    }
}

/// The top-level key `key`.
pub(super) fn find_top(lines: &[Line], key: &str) -> Option<Node> {
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

/// The keys of the block mapping below a node, and how they are indented.
pub(super) struct Children {
    pub(super) entries: Vec<Node>,
    /// Column of the children's keys (one step below the parent when there
    /// are none).
    pub(super) indent: usize,
    /// How much deeper than its key a child's own body is: as the first
    /// child's body is, else as deep as the children are below their parent.
    pub(super) step: usize,
}

/// The keys of the block mapping below `parent`; fails (with a plain wording
/// the caller may replace) when what is below is not a mapping.
pub(super) fn children(lines: &[Line], parent: &Node) -> Result<Children, EditError> {
    let block = parent.line + 1..parent.end;
    let Some(first) = block.clone().find(|&i| lines[i].kind == Kind::Content) else {
        return Ok(Children {
            entries: Vec::new(),
            indent: parent.indent + DEFAULT_STEP,
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
        .map_or(indent - parent.indent, |nested| nested - indent);
    Ok(Children {
        entries,
        indent,
        step,
    })
}

/// Splits what follows a key's `:` into properties, value and comment.
fn parse_inline(tail: &str) -> Inline {
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
    let inline = |value, comment| Inline {
        props: props.clone(),
        value,
        comment,
    };
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
        return inline(Value::Block, comment);
    }
    if let Some(inner) = t.strip_prefix('{') {
        return match inner
            .trim_start_matches(ws)
            .strip_prefix('}')
            .map(comment_after)
        {
            Some(Some(comment)) => inline(Value::Empty, comment),
            _ => inline(Value::Flow, String::new()),
        };
    }
    let word = t.find(ws).unwrap_or(t.len());
    if matches!(&t[..word], "~" | "null" | "Null" | "NULL")
        && let Some(comment) = comment_after(&t[word..])
    {
        return inline(Value::Empty, comment);
    }
    inline(Value::Other, String::new())
}

/// A list of names, as written.
pub(super) enum List {
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

/// The list of names at `node`, which the person knows as `field`.
pub(super) fn parse_list(lines: &[Line], node: &Node, field: &str) -> Result<List, EditError> {
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

/// A double- or single-quoted scalar at the start of `s`: its value and its
/// length in bytes, quotes included. `None` when `s` does not start with a
/// quote or the quote is not closed.
fn quoted(s: &str) -> Option<(String, usize)> {
    let mut value = String::new();
    if let Some(inner) = s.strip_prefix('"') {
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
    } else if let Some(inner) = s.strip_prefix('\'') {
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
    }
    None
}

/// A quoted scalar at the start of `s`, or else a plain one (all of `s`):
/// its value and length in bytes.
fn plain_or_quoted(s: &str) -> Option<(String, usize)> {
    if s.starts_with(['"', '\'']) {
        return quoted(s);
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

pub(super) fn is_sequence_item(s: &str) -> bool {
    s == "-" || s.starts_with("- ") || s.starts_with("-\t")
}

/// The key of a `key: value` line (from its first non-space character), and
/// the byte offset just past its `:`. Quoted keys are unquoted.
fn parse_key(s: &str) -> Option<(String, usize)> {
    let ends_value = |rest: &str| rest.is_empty() || rest.starts_with([' ', '\t']);
    if s.starts_with(['"', '\'']) {
        let (key, close) = quoted(s)?;
        let after = &s[close..];
        let colon = close + (after.len() - after.trim_start_matches([' ', '\t']).len());
        return (s[colon..].starts_with(':') && ends_value(&s[colon + 1..]))
            .then_some((key, colon + 1));
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
