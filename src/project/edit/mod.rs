//! Edits of `ksec.yaml` as text, so comments, order and quoting survive.
//!
//! Adds or removes one entry of the top-level `namespaces:` mapping; adds and
//! removes recipients: an entry of `recipients:`, and a name in the lists of
//! `groups:`, `namespaces.<ns>.recipients` and `environments.<env>.recipients`
//! (flow `[a, b]` or block `- a`); sets `namespaces.<ns>.clusterKeys.<env>`
//! (`ksec gitops bootstrap`). Every line outside the edited entry is kept
//! byte for byte; the only other line that may change is the parent's key
//! line, when it switches between `{}` and block form. All edits read the
//! file through the one model in `model`.
//!
//! This module never re-emits YAML and never touches the file system;
//! callers read, edit, validate and write.

mod model;
#[cfg(test)]
mod tests;

use model::{
    Children, DEFAULT_STEP, Doc, Kind, Line, List, Node, Value, children, find_top, parse_list,
};
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
    check_name(name, "namespace", NAMESPACE_HINTS)?;
    let mut doc = Doc::parse(text);
    let Some(ns) = find_top(&doc.lines, "namespaces") else {
        let entry = entry_lines(name, body, DEFAULT_STEP, DEFAULT_STEP);
        return Ok(doc.appended(text, "namespaces", entry));
    };
    let inline = ns.inline(&doc.lines);
    let (at, indent, step) = match inline.value {
        Value::Flow => return Err(flow_error(&ns)),
        Value::Other => return Err(not_a_mapping_error(&ns)),
        Value::Empty => {
            // `namespaces: {}  # c` -> `namespaces:  # c`; the entry goes right
            // below, above any commented-out example that follows.
            doc.set(ns.line, ns.key_line(&doc.lines, &inline, ""));
            (ns.line + 1, DEFAULT_STEP, DEFAULT_STEP)
        }
        Value::Block => {
            let children = children(&doc.lines, &ns).map_err(|_| not_a_mapping_error(&ns))?;
            if let Some(e) = children.entries.iter().find(|e| e.name == name) {
                return Err(EditError(format!(
                    "ksec.yaml already has a namespace `{name}` (line {}); choose another \
                     name, or remove that entry first",
                    e.line + 1
                )));
            }
            let at = ns.insertion_point(&doc.lines, children.indent);
            (at, children.indent, children.step)
        }
    };
    doc.insert(at, entry_lines(name, body, indent, step));
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
    check_name(name, "namespace", NAMESPACE_HINTS)?;
    let mut doc = Doc::parse(text);
    let Some(ns) = find_top(&doc.lines, "namespaces") else {
        return Err(EditError(format!(
            "ksec.yaml has no top-level `namespaces:` key, so there is no namespace \
             `{name}` to remove"
        )));
    };
    let inline = ns.inline(&doc.lines);
    match inline.value {
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
    let children = children(&doc.lines, &ns).map_err(|_| not_a_mapping_error(&ns))?;
    let Some(entry) = children.entries.iter().find(|e| e.name == name) else {
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
    let key = entry.line;
    let child = children.indent;

    // The entry: its key line and everything indented deeper, without the
    // blank lines that trail it (they separate it from what follows) and
    // without the comments at its own column or less that end it (they
    // introduce what follows).
    let mut end = key + 1;
    while end < entry.end && !(lines[end].kind == Kind::Comment && lines[end].indent <= child) {
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
        doc.set(ns.line, ns.key_line(&doc.lines, &inline, " {}"));
    }
    doc.remove(start, end);
    Ok(doc.render())
}

/// The endings of the two complaints about a namespace name.
const NAMESPACE_HINTS: [&str; 2] = [
    "; give a name such as `payments`",
    "; use a Kubernetes namespace name such as `payments`",
];

/// `name` as the name of a `what` entry: not empty, no spaces at its ends,
/// no control characters. `hints` end the complaint about an empty name and
/// the one about spaces.
fn check_name(name: &str, what: &str, hints: [&str; 2]) -> Result<(), EditError> {
    if name.is_empty() {
        return Err(EditError(format!("the {what} name is empty{}", hints[0])));
    }
    if name.chars().any(|c| c.is_control()) || name.trim() != name {
        return Err(EditError(format!(
            "the {what} name {name:?} contains spaces or control characters{}",
            hints[1]
        )));
    }
    Ok(())
}

fn flow_error(ns: &Node) -> EditError {
    EditError(format!(
        "`namespaces:` in ksec.yaml (line {}) is written in flow style (`{{…}}`), which ksec \
         cannot edit without losing its layout; rewrite it in block style, `namespaces:` \
         with one indented `name:` entry per namespace below it, and try again",
        ns.line + 1
    ))
}

fn not_a_mapping_error(ns: &Node) -> EditError {
    EditError(format!(
        "`namespaces:` in ksec.yaml (line {}) is not a mapping of namespace names; it should \
         be `namespaces:` with one indented `name:` entry per namespace below it, or \
         `namespaces: {{}}` when there are none",
        ns.line + 1
    ))
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

// ------------------------------------------------------------ recipients
//
// The recipient edits: the top-level `recipients:` mapping (name -> key) and
// the lists of names under `groups.<g>`, `namespaces.<ns>.recipients` and
// `environments.<env>.recipients`. Lists may be flow (`[a, b]`, on the key's
// line) or block (`- a` lines, indented or at the key's column).

/// `text` with `name: key` appended as the last entry of the top-level
/// `recipients:` mapping. `recipients: {}` becomes block form (keeping a
/// trailing comment); a file without `recipients:` gets the key appended.
///
/// Fails if the name is already there, or if `recipients:` is written in flow
/// style or is not a mapping.
pub fn add_recipient(text: &str, name: &str, key: &str) -> Result<String, EditError> {
    check_name(name, "recipient", ["", ""])?;
    let mut doc = Doc::parse(text);
    let value = crate::crypto::yaml::scalar_string(key.trim(), 0);
    let entry = |indent: usize| format!("{}{}: {value}", " ".repeat(indent), yaml_key(name));
    let Some(node) = find_top(&doc.lines, "recipients") else {
        return Ok(doc.appended(text, "recipients", vec![entry(DEFAULT_STEP)]));
    };
    let inline = node.inline(&doc.lines);
    let (at, indent) = match inline.value {
        Value::Flow => return Err(flow_mapping_error(&node, "recipients")),
        Value::Other => return Err(not_a_mapping(&node, "recipients")),
        Value::Empty => {
            doc.set(node.line, node.key_line(&doc.lines, &inline, ""));
            (node.line + 1, DEFAULT_STEP)
        }
        Value::Block => {
            let kids = children(&doc.lines, &node)?;
            if let Some(e) = kids.entries.iter().find(|e| e.name == name) {
                return Err(EditError(format!(
                    "ksec.yaml already has a recipient `{name}` (line {}); choose another name",
                    e.line + 1
                )));
            }
            (node.insertion_point(&doc.lines, kids.indent), kids.indent)
        }
    };
    doc.insert(at, vec![entry(indent)]);
    Ok(doc.render())
}

/// `text` with `name` appended to the list of group `group` (under the
/// top-level `groups:`). Fails if there is no such group.
pub fn add_to_group(text: &str, group: &str, name: &str) -> Result<String, EditError> {
    check_name(name, "recipient", ["", ""])?;
    let doc = Doc::parse(text);
    let (_, kids, pos) = find_entry(&doc.lines, "groups", "group", group)?;
    let node = &kids.entries[pos];
    list_add(doc, node, &format!("groups.{group}"), name)
}

/// `text` with `name` appended to the `recipients:` list of namespace
/// `namespace`; a namespace without that key gets `recipients: [name]` as its
/// first field (`ns: {}` becomes block form).
pub fn add_to_namespace(text: &str, namespace: &str, name: &str) -> Result<String, EditError> {
    add_to_entry_list(text, "namespaces", "namespace", namespace, name)
}

/// `text` with `name` appended to the `recipients:` list of environment
/// `environment`, as [`add_to_namespace`] does for a namespace.
pub fn add_to_environment(text: &str, environment: &str, name: &str) -> Result<String, EditError> {
    add_to_entry_list(text, "environments", "environment", environment, name)
}

/// `name` appended to the `recipients:` list of the entry `entry` (a
/// `what`) of the top-level mapping `top`.
fn add_to_entry_list(
    text: &str,
    top: &str,
    what: &str,
    entry: &str,
    name: &str,
) -> Result<String, EditError> {
    check_name(name, "recipient", ["", ""])?;
    let mut doc = Doc::parse(text);
    let (_, kids, pos) = find_entry(&doc.lines, top, what, entry)?;
    let ns = &kids.entries[pos];
    let field = format!("{top}.{entry}");
    let inline = ns.inline(&doc.lines);
    let new_field =
        |indent: usize| format!("{}recipients: [{}]", " ".repeat(indent), yaml_key(name));
    match inline.value {
        Value::Flow => Err(flow_mapping_error(ns, &field)),
        Value::Other => Err(not_a_mapping(ns, &field)),
        Value::Empty => {
            doc.set(ns.line, ns.key_line(&doc.lines, &inline, ""));
            doc.insert(ns.line + 1, vec![new_field(ns.indent + kids.step)]);
            Ok(doc.render())
        }
        Value::Block => {
            let fields = children(&doc.lines, ns)?;
            if let Some(list) = fields.entries.iter().find(|e| e.name == "recipients") {
                return list_add(doc, list, &format!("{field}.recipients"), name);
            }
            // The entry's own step when it has fields, else the file's.
            let indent = if fields.entries.is_empty() {
                ns.indent + kids.step
            } else {
                fields.indent
            };
            doc.insert(ns.line + 1, vec![new_field(indent)]);
            Ok(doc.render())
        }
    }
}

/// `text` with `namespaces.<namespace>.clusterKeys.<environment>: name` (the
/// recipient name of the namespace's own cluster key in that environment).
/// A namespace without `clusterKeys:` gets it as its first field, in block
/// form; `clusterKeys: {}` becomes block form. Fails if the namespace
/// already has a key for the environment (a recorded key is never replaced
/// silently), or if `clusterKeys:` is written in flow style.
pub fn set_cluster_key(
    text: &str,
    namespace: &str,
    environment: &str,
    name: &str,
) -> Result<String, EditError> {
    check_name(name, "recipient", ["", ""])?;
    check_name(environment, "environment", ["", ""])?;
    let mut doc = Doc::parse(text);
    let (_, kids, pos) = find_entry(&doc.lines, "namespaces", "namespace", namespace)?;
    let ns = &kids.entries[pos];
    let field = format!("namespaces.{namespace}");
    let entry = |indent: usize| {
        format!(
            "{}{}: {}",
            " ".repeat(indent),
            yaml_key(environment),
            yaml_key(name)
        )
    };
    let block = |indent: usize, step: usize| {
        vec![
            format!("{}clusterKeys:", " ".repeat(indent)),
            entry(indent + step),
        ]
    };
    let inline = ns.inline(&doc.lines);
    match inline.value {
        Value::Flow => return Err(flow_mapping_error(ns, &field)),
        Value::Other => return Err(not_a_mapping(ns, &field)),
        Value::Empty => {
            doc.set(ns.line, ns.key_line(&doc.lines, &inline, ""));
            doc.insert(ns.line + 1, block(ns.indent + kids.step, kids.step));
        }
        Value::Block => {
            let fields = children(&doc.lines, ns)?;
            let Some(keys) = fields.entries.iter().find(|e| e.name == "clusterKeys") else {
                let indent = if fields.entries.is_empty() {
                    ns.indent + kids.step
                } else {
                    fields.indent
                };
                doc.insert(ns.line + 1, block(indent, fields.step));
                return Ok(doc.render());
            };
            let keys_field = format!("{field}.clusterKeys");
            let keys_inline = keys.inline(&doc.lines);
            match keys_inline.value {
                Value::Flow => return Err(flow_mapping_error(keys, &keys_field)),
                Value::Other => return Err(not_a_mapping(keys, &keys_field)),
                Value::Empty => {
                    doc.set(keys.line, keys.key_line(&doc.lines, &keys_inline, ""));
                    doc.insert(keys.line + 1, vec![entry(keys.indent + fields.step)]);
                }
                Value::Block => {
                    let set = children(&doc.lines, keys)?;
                    if let Some(e) = set.entries.iter().find(|e| e.name == environment) {
                        return Err(EditError(format!(
                            "ksec.yaml already has `{keys_field}.{environment}` (line {}); \
                             a recorded cluster key is not replaced",
                            e.line + 1
                        )));
                    }
                    let at = keys.insertion_point(&doc.lines, set.indent);
                    doc.insert(at, vec![entry(set.indent)]);
                }
            }
        }
    }
    Ok(doc.render())
}

/// `text` without recipient `name`: its entry under `recipients:` (leaving
/// `recipients: {}` if it was the only one) and every mention of it in the
/// lists of `groups:`, `namespaces.<ns>.recipients` and
/// `environments.<env>.recipients`. Returns the new text and the lists it was
/// taken out of, like `groups.payments-team` (the entry itself not included).
pub fn remove_recipient(text: &str, name: &str) -> Result<(String, Vec<String>), EditError> {
    check_name(name, "recipient", ["", ""])?;
    let mut doc = Doc::parse(text);
    let (node, kids, pos) = find_entry(&doc.lines, "recipients", "recipient", name)?;
    let inline = node.inline(&doc.lines);
    let entry = &kids.entries[pos];
    let last = (entry.line..entry.end)
        .rev()
        .find(|&i| doc.lines[i].is_data())
        .unwrap_or(entry.line);
    if kids.entries.len() == 1 {
        doc.set(node.line, node.key_line(&doc.lines, &inline, " {}"));
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
            if parent.inline(&doc.lines).value != Value::Block {
                continue;
            }
            for child in children(&doc.lines, &parent)?.entries {
                if top == "groups" {
                    out.push((format!("groups.{}", child.name), child));
                    continue;
                }
                if child.inline(&doc.lines).value != Value::Block {
                    continue;
                }
                if let Some(list) = children(&doc.lines, &child)?
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

/// The entry `name` of the top-level mapping `top`, a `what` to the person:
/// the mapping's node, its children, and the entry's place among them.
fn find_entry(
    lines: &[Line],
    top: &str,
    what: &str,
    name: &str,
) -> Result<(Node, Children, usize), EditError> {
    let Some(parent) = find_top(lines, top) else {
        return Err(EditError(format!(
            "ksec.yaml has no top-level `{top}:`, so there is no {what} `{name}`"
        )));
    };
    match parent.inline(lines).value {
        Value::Block => {}
        Value::Flow => return Err(flow_mapping_error(&parent, top)),
        Value::Other => return Err(not_a_mapping(&parent, top)),
        Value::Empty => {
            return Err(EditError(format!(
                "ksec.yaml has no {what} `{name}`: `{top}:` (line {}) is empty",
                parent.line + 1
            )));
        }
    }
    let kids = children(lines, &parent)?;
    let Some(pos) = kids.entries.iter().position(|e| e.name == name) else {
        return Err(EditError(format!(
            "ksec.yaml has no {what} `{name}` under `{top}:`"
        )));
    };
    Ok((parent, kids, pos))
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
            doc.set(node.line, line);
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
            doc.set(node.line, line);
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
            doc.set(node.line, line);
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
                doc.set(node.line, line);
            }
            for i in gone.into_iter().rev() {
                doc.remove(i, i + 1);
            }
        }
        List::Null { .. } => return Ok(None),
    }
    Ok(Some(doc.render()))
}
