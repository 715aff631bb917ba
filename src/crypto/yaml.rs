//! The YAML store: reads a YAML document into a [`Value`] tree and writes a
//! tree back out the way sops (go-yaml v3, indent 4) writes it, so a file that
//! sops wrote and ksec rewrote differs only where values changed.
//!
//! Parse errors carry a line and column but never the offending text: the
//! document may be plaintext secrets.

mod comments;
mod scalar;

use scalar::double_quoted;
pub use scalar::{resolves_to_non_string, scalar_string, scalar_string_with_step};

use super::tree::{Item, Kind, Leaf, Value, bool_text, float_text};
use secrecy::{ExposeSecret, SecretString};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// A YAML syntax or structure problem, located but value-free.
#[derive(Debug)]
pub struct YamlError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    /// A size or nesting limit was hit: the YAML may be valid, only too big.
    pub limit: bool,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

fn options() -> serde_saphyr::Options {
    // go-yaml v3 (what sops uses) resolves only true/false as booleans, and
    // we keep numbers with leading zeros as text so a PIN like 0123 survives.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    options.with_snippet = false;
    // `.inf`, `-.inf` and `.nan` are floats to go-yaml and sops
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    options
}

/// Turn a serde-saphyr error into a located error. With `redact`, anything
/// quoted in the message is cut, in case it echoes the (secret) input.
pub fn located_error(err: &serde_saphyr::Error, redact: bool) -> YamlError {
    let location = err.location();
    let (line, column) = match location {
        Some(loc) => (Some(loc.line() as usize), Some(loc.column() as usize)),
        None => (None, None),
    };
    let mut inner = err;
    #[allow(deprecated)]
    while let serde_saphyr::Error::WithSnippet { error, .. }
    | serde_saphyr::Error::AliasError { error, .. } = inner
    {
        inner = error;
    }
    match inner {
        serde_saphyr::Error::Budget { breach, .. } => {
            return YamlError {
                line,
                column,
                message: budget_message(breach),
                limit: true,
            };
        }
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => {
            let key = match key {
                Some(k) if !redact || k.chars().all(|c| !c.is_control()) => format!("key {k}"),
                _ => "a key".into(),
            };
            return YamlError {
                line,
                column,
                message: format!("duplicate {key}: a key may appear only once in a map"),
                limit: false,
            };
        }
        _ => {}
    }
    // The message of a syntax error describes the grammar, not the content;
    // still, cut anything after a quote or backtick in case it echoes input.
    let raw = err.to_string();
    // The scanner's own guard against deep flow nesting (`[[[…`), hit
    // before the depth budget: the same limit, not a syntax error.
    if raw.contains("recursion limit exceeded") {
        return YamlError {
            line,
            column,
            message: limit_message(DEPTH_LIMIT),
            limit: true,
        };
    }
    let first = raw.lines().next().unwrap_or("invalid YAML");
    let message = if redact {
        redact_quoted(first)
    } else {
        first.to_string()
    };
    // drop advice aimed at programmers using the library
    let message = message
        .split("; ")
        .next()
        .unwrap_or(&message)
        .split(" (set ")
        .next()
        .unwrap_or(&message)
        .to_string();
    let message = strip_location_suffix(&message);
    YamlError {
        line,
        column,
        message: if message.is_empty() {
            "invalid YAML".into()
        } else {
            message
        },
        limit: false,
    }
}

/// The limits ksec's YAML reader enforces (serde-saphyr's defaults), in
/// words; the README lists them too.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let (what, limit) = match breach {
        B::Nodes { .. } => ("values (scalars, maps and lists)", "250,000"),
        B::Depth { .. } => DEPTH_LIMIT,
        B::Events { .. } => ("parser events", "1,000,000"),
        B::Aliases { .. } => ("aliases (*name)", "50,000"),
        B::Anchors { .. } => ("anchors (&name)", "50,000"),
        B::Documents { .. } => ("documents (---)", "1,024"),
        B::ScalarBytes { .. } => ("bytes of scalar text", "64 MiB"),
        B::MergeKeys { .. } => ("merge keys (<<)", "10,000"),
        B::AliasAnchorRatio { .. } => ("aliases per anchor", "10 times the anchors"),
        B::InputBytes { .. } => ("bytes of input", "256 MiB"),
        _ => ("alias expansion or nesting", "the reader's built-in limit"),
    };
    limit_message((what, limit))
}

/// What the depth budget allows (the scanner's recursion guard says it too).
const DEPTH_LIMIT: (&str, &str) = ("levels of nesting", "64");

fn limit_message((what, limit): (&str, &str)) -> String {
    format!("the YAML is larger than ksec reads: more than {limit} {what}")
}

/// Replace every quoted part of a message with `…`, and anything after an
/// unmatched quote too.
fn redact_quoted(message: &str) -> String {
    let mut out = String::new();
    let mut open: Option<char> = None;
    for c in message.chars() {
        match open {
            Some(q) if c == q => {
                open = None;
                out.push('…');
            }
            Some(_) => {}
            None if matches!(c, '`' | '"' | '\'') => open = Some(c),
            None => out.push(c),
        }
    }
    if open.is_some() {
        out.push('…');
    }
    out
}

fn strip_location_suffix(message: &str) -> String {
    match message.find(" at line ") {
        Some(pos) => message[..pos].to_string(),
        None => message.to_string(),
    }
}

/// Parse one YAML document into a tree. An empty document is an empty map.
pub fn parse(text: &str) -> Result<Value, YamlError> {
    if text.trim().is_empty() {
        return Ok(Value::Map(Vec::new()));
    }
    let _source = SourceGuard::set(text);
    let _comments = comments::Guard::set(text);
    let value: Value = serde_saphyr::from_str_with_options(text, options())
        .map_err(|e| located_error(&e, true))?;
    // a document of comments only (nothing else, or `{}`): sops reads it
    // as an empty map with the comments
    let value = match value {
        Value::Null | Value::Map(_) if !comments::active() => value,
        Value::Null => {
            let items: Vec<Item> = comments::only_comments()
                .into_iter()
                .map(Item::Comment)
                .collect();
            if items.is_empty() {
                Value::Null
            } else {
                Value::Map(items)
            }
        }
        Value::Map(mut items) if !has_pair(&items) => {
            items.extend(comments::only_comments().into_iter().map(Item::Comment));
            Value::Map(items)
        }
        other => other,
    };
    Ok(value)
}

thread_local! {
    /// The text being parsed, while it may hold a plain timestamp or end in
    /// a block scalar: serde does not say how a scalar was written, its span
    /// in the source does. Plaintext: wiped when the parse ends.
    static SOURCE: std::cell::RefCell<Option<zeroize::Zeroizing<String>>> =
        const { std::cell::RefCell::new(None) };
}

/// Holds the source for [`refine`] during one parse.
struct SourceGuard;

impl SourceGuard {
    fn set(text: &str) -> SourceGuard {
        // a timestamp starts with four digits and a dash
        let maybe = text
            .as_bytes()
            .windows(5)
            .any(|w| w[..4].iter().all(u8::is_ascii_digit) && w[4] == b'-');
        // a block scalar may end the file without a line break
        let maybe = maybe || !text.ends_with('\n');
        SOURCE.with(|s| *s.borrow_mut() = maybe.then(|| zeroize::Zeroizing::new(text.to_string())));
        SourceGuard
    }
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        SOURCE.with(|s| *s.borrow_mut() = None);
    }
}

fn source_active() -> bool {
    SOURCE.with(|s| s.borrow().is_some())
}

/// A scalar read as go-yaml (so sops) reads it, where serde-saphyr differs:
/// - a plain, untagged scalar in a timestamp form is a timestamp (sops
///   encrypts it with `type:time`); quoted, block and `!!str` ones stay
///   strings;
/// - a block scalar (`|`, `|+`, `>`) that ends the file without a final
///   line break has no trailing newline.
fn refine(spanned: serde_saphyr::Spanned<Value>) -> Value {
    let span = spanned.defined.span();
    let mut value = spanned.value;
    let Value::Leaf(leaf) = &mut value else {
        return value;
    };
    if leaf.kind != Kind::Str {
        return value;
    }
    if leaf.expose().ends_with('\n')
        && let (Some(start), Some(len)) = (span.byte_offset(), span.byte_len())
        && block_scalar_at_end(start as usize, (start + len) as usize)
    {
        let mut text = leaf.expose().to_string();
        text.pop();
        leaf.text = SecretString::from(text);
        return value;
    }
    with_time(leaf, span).unwrap_or(value)
}

/// Whether the scalar at `start..end` of the source is a block scalar that
/// runs to the end of a text without a final line break.
fn block_scalar_at_end(start: usize, end: usize) -> bool {
    SOURCE.with(|s| {
        let source = s.borrow();
        let Some(text) = source.as_deref() else {
            return false;
        };
        if text.ends_with('\n') || text.get(end..).is_none_or(|rest| !rest.trim().is_empty()) {
            return false;
        }
        let Some(before) = text.get(..start) else {
            return false;
        };
        let header_line = before.trim_end().rsplit('\n').next().unwrap_or("");
        let header = header_line
            .split(" #")
            .next()
            .unwrap_or("")
            .trim_end()
            .rsplit([' ', '\t'])
            .next()
            .unwrap_or("");
        let mut chars = header.chars();
        matches!(chars.next(), Some('|' | '>'))
            && chars.all(|c| c == '+' || c == '-' || c.is_ascii_digit())
    })
}

fn with_time(leaf: &Leaf, span: serde_saphyr::Span) -> Option<Value> {
    let canonical = super::tree::yaml_timestamp(leaf.expose())?;
    let (start, len) = (span.byte_offset()?, span.byte_len()?);
    let plain = SOURCE.with(|s| {
        let source = s.borrow();
        let Some(text) = source.as_deref() else {
            return false;
        };
        let (start, end) = (start as usize, (start + len) as usize);
        let Some(token) = text.get(start..end) else {
            return false;
        };
        let before = text[..start].trim_end_matches([' ', '\t']);
        token == leaf.expose() && !before.ends_with("!!str") && !before.ends_with("!str")
    });
    plain.then(|| {
        Value::Leaf(Leaf {
            kind: Kind::Time,
            text: SecretString::from(canonical),
        })
    })
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(leaf(Kind::Bool, bool_text(v).to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(leaf(Kind::Int, v.to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        // sops refuses (and could not decrypt) an int beyond int64
        if i64::try_from(v).is_err() {
            return Err(E::custom(
                "an integer larger than 9223372036854775807, which sops cannot store: quote it to keep it as text",
            ));
        }
        Ok(leaf(Kind::Int, v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(leaf(Kind::Float, float_text(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(leaf(Kind::Str, v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(leaf(Kind::Str, v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        if comments::active() {
            return comments::read_seq(seq);
        }
        if source_active() {
            while let Some(v) = seq.next_element::<serde_saphyr::Spanned<Value>>()? {
                values.push(refine(v));
            }
            return Ok(Value::Seq(values));
        }
        while let Some(v) = seq.next_element::<Value>()? {
            values.push(v);
        }
        Ok(Value::Seq(values))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if comments::active() {
            return comments::read_map(map);
        }
        let mut items: Vec<Item> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let spans = source_active();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            check_unique(&mut seen, &key)?;
            let value = if spans {
                refine(map.next_value::<serde_saphyr::Spanned<Value>>()?)
            } else {
                map.next_value::<Value>()?
            };
            items.push(Item::Pair(key, value));
        }
        Ok(Value::Map(items))
    }
}

/// serde-saphyr rejects duplicate keys itself (DuplicateKeyPolicy::Error),
/// but compares nodes: `!!str a` and `a`, or `? ` and `? !x`, are two keys
/// to it and one key (`a`, `null`) once read as text.
fn check_unique<E: serde::de::Error>(seen: &mut HashSet<String>, key: &str) -> Result<(), E> {
    if seen.insert(key.to_string()) {
        return Ok(());
    }
    let shown = if key.chars().any(char::is_control) {
        "a key".to_string()
    } else {
        format!("key {key}")
    };
    Err(E::custom(format!(
        "duplicate {shown}: a key may appear only once in a map (two keys read as the same text)"
    )))
}

/// Where a spanned node is in the source: `start..end` in bytes.
fn span_of<T>(spanned: &serde_saphyr::Spanned<T>) -> (usize, usize) {
    let span = spanned.defined.span();
    let start = span.byte_offset().unwrap_or(0) as usize;
    (start, start + span.byte_len().unwrap_or(0) as usize)
}

fn leaf(kind: Kind, text: String) -> Value {
    Value::Leaf(Leaf {
        kind,
        text: SecretString::from(text),
    })
}

/// A mapping key: any scalar, kept as text (sops only supports string keys;
/// `ksec.yaml`'s field check reads its keys the same way).
pub struct Key(pub String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
                Ok(Key(float_text(v)))
            }
            fn visit_unit<E>(self) -> Result<Key, E> {
                Ok(Key("null".into()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

// ---------------------------------------------------------------------------
// Emitting

const INDENT: usize = 4;

/// Write a tree as a YAML document in sops's layout. A top-level map is
/// written as block mapping; an empty one as `{}`. Comments are written as
/// whole-line comments where they stand (the text after `#` as it is).
pub fn emit(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Map(items) if has_pair(items) => emit_map(&mut out, items, 0, false),
        Value::Seq(values) if has_item(values) => emit_seq(&mut out, values, 0, false),
        Value::Map(items) => {
            for item in items {
                if let Item::Comment(text) = item {
                    comment_line(&mut out, 0, text);
                }
            }
            out.push_str("{}\n");
        }
        other => {
            out.push_str(&inline_scalar(other, 0, INDENT));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn comment_line(out: &mut String, column: usize, text: &SecretString) {
    pad(out, column);
    out.push('#');
    out.push_str(text.expose_secret());
    out.push('\n');
}

fn has_pair(items: &[Item]) -> bool {
    items.iter().any(|i| matches!(i, Item::Pair(..)))
}

fn has_item(values: &[Value]) -> bool {
    values.iter().any(|v| !matches!(v, Value::Comment(_)))
}

/// The comments that open a collection (written before the dash when the
/// collection is a list item) and how many entries they are.
fn leading_comments(value: &Value) -> Vec<&SecretString> {
    match value {
        Value::Map(items) if has_pair(items) => items
            .iter()
            .map_while(|i| match i {
                Item::Comment(text) => Some(text),
                Item::Pair(..) => None,
            })
            .collect(),
        Value::Seq(values) if has_item(values) => values
            .iter()
            .map_while(|v| match v {
                Value::Comment(text) => Some(text),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `indent` is the collection's indentation level; a map that is a sequence
/// item (`in_seq`) starts on the dash line and puts its keys two columns in
/// (its opening comments are written before the dash, by `emit_seq`).
fn emit_map(out: &mut String, items: &[Item], indent: usize, in_seq: bool) {
    let key_col = if in_seq { indent + 2 } else { indent };
    let mut first = true;
    for item in items {
        let (key, value) = match item {
            Item::Comment(_) if first && in_seq => continue,
            Item::Comment(text) => {
                comment_line(out, key_col, text);
                continue;
            }
            Item::Pair(key, value) => (key, value),
        };
        if !(first && in_seq) {
            pad(out, key_col);
        }
        first = false;
        // a key cannot be a block scalar
        if key.contains('\n') {
            out.push_str(&double_quoted(key));
        } else {
            out.push_str(&scalar_string(key, key_col));
        }
        out.push(':');
        emit_child(out, value, indent, in_seq.then_some(key_col));
    }
    if first && in_seq {
        out.push_str("{}\n");
    }
}

fn emit_seq(out: &mut String, values: &[Value], indent: usize, in_seq: bool) {
    let dash_col = if in_seq { indent + 2 } else { indent };
    let mut first = true;
    for value in values {
        if let Value::Comment(text) = value {
            if !(first && in_seq) {
                comment_line(out, dash_col, text);
            }
            continue;
        }
        let leading = leading_comments(value);
        if first && in_seq && !leading.is_empty() {
            // comments cannot go on the outer list's dash line: the list
            // starts on the next line instead
            out.pop();
            out.push('\n');
        }
        let on_dash_line = first && in_seq && leading.is_empty();
        if !on_dash_line {
            for text in leading {
                comment_line(out, dash_col, text);
            }
            pad(out, dash_col);
        }
        first = false;
        out.push('-');
        match value {
            Value::Map(items) if has_pair(items) => {
                out.push(' ');
                emit_map(out, items, dash_col, true);
            }
            Value::Seq(inner) if has_item(inner) => {
                out.push(' ');
                emit_seq(out, inner, dash_col, true);
            }
            other => {
                out.push(' ');
                // a block scalar item goes two columns past its dash (as
                // go-yaml puts it; at least at column 4), and its indentation
                // indicator says so
                let content = (dash_col + INDENT_IN_SEQ).max(INDENT);
                out.push_str(&inline_scalar(other, dash_col, content - dash_col));
                out.push('\n');
                comments_of_empty(out, other, dash_col + INDENT_IN_SEQ);
            }
        }
    }
    if first && in_seq {
        out.push_str("[]\n");
    }
}

/// Block scalars under a sequence go two columns past the dash or the key
/// of the item's map. go-yaml (so sops) then writes an indentation indicator
/// of 4, which no YAML parser reads back (the content is 2 columns in):
/// ksec writes 2, the same bytes otherwise.
const INDENT_IN_SEQ: usize = 2;

/// The value after `key:` (the colon is already written). `seq_key_col` is
/// the key's column when its map is a sequence item.
fn emit_child(out: &mut String, value: &Value, indent: usize, seq_key_col: Option<usize>) {
    match value {
        Value::Map(items) if has_pair(items) => {
            out.push('\n');
            emit_map(out, items, indent + INDENT, false);
        }
        Value::Seq(values) if has_item(values) => {
            out.push('\n');
            emit_seq(out, values, indent + INDENT, false);
        }
        other => {
            out.push(' ');
            out.push_str(&match seq_key_col {
                Some(col) => inline_scalar(other, col, INDENT_IN_SEQ),
                None => inline_scalar(other, indent, INDENT),
            });
            out.push('\n');
            let key_col = seq_key_col.unwrap_or(indent);
            comments_of_empty(out, other, key_col + INDENT);
        }
    }
}

/// The comments of a map or list that holds nothing else (`{}` or `[]` once
/// its last entry is gone): written below it, where they read back as
/// comments of the enclosing block rather than being lost.
fn comments_of_empty(out: &mut String, value: &Value, column: usize) {
    match value {
        Value::Map(items) => {
            for item in items {
                if let Item::Comment(text) = item {
                    comment_line(out, column, text);
                }
            }
        }
        Value::Seq(values) => {
            for value in values {
                if let Value::Comment(text) = value {
                    comment_line(out, column, text);
                }
            }
        }
        _ => {}
    }
}

/// A scalar (or empty collection) written after `key: ` or `- `. Block
/// scalars continue on following lines at `indent + step`.
fn inline_scalar(value: &Value, indent: usize, step: usize) -> String {
    match value {
        Value::Null | Value::Comment(_) => "null".into(),
        Value::Map(_) => "{}".into(),
        Value::Seq(_) => "[]".into(),
        Value::Leaf(leaf) => match leaf.kind {
            Kind::Str => scalar_string_with_step(leaf.expose(), indent, step),
            Kind::Bool => {
                if leaf.expose().eq_ignore_ascii_case("true") {
                    "true".into()
                } else {
                    "false".into()
                }
            }
            Kind::Int | Kind::Time => leaf.expose().to_string(),
            Kind::Float => float_for_yaml(leaf.expose()),
        },
    }
}

/// A float's canonical text as go-yaml (so `sops -d`) prints it: `2`,
/// `1.234568e+09`, `.inf`. A whole float reads back as an int; re-encrypting
/// an unchanged one keeps its float tag (see the IV stash in `cipher`).
fn float_for_yaml(text: &str) -> String {
    match text {
        "+Inf" => ".inf".into(),
        "-Inf" => "-.inf".into(),
        "NaN" => ".nan".into(),
        t => t
            .parse::<f64>()
            .map(super::tree::go_float_g)
            .unwrap_or_else(|_| t.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_scalar_under_a_sequence_reads_back_as_it_was() {
        // values that need an indentation indicator (a leading newline or
        // space), as a sequence item and in a map that is a sequence item
        for value in ["\nafter a blank line\n", " leading space\nx", "\n\nx"] {
            let quoted = double_quoted(value);
            for doc in [
                format!("a:\n    - {quoted}\n"),
                format!("a:\n    b:\n        - r: 1\n          enc: {quoted}\n"),
                format!("- {quoted}\n"),
                format!("- r: 1\n  enc: {quoted}\n"),
            ] {
                let tree = parse(&doc).unwrap();
                let written = emit(&tree);
                let again = parse(&written).unwrap_or_else(|e| panic!("{written}: {e:?}"));
                assert!(crate::crypto::merge::same(&tree, &again), "{written}");
            }
        }
    }

    #[test]
    fn keys_that_read_as_the_same_text_are_a_duplicate() {
        for doc in ["!!str a: 1\na: 2\n", "? \n: 1\n? !x\n: 2\n"] {
            let err = parse(doc).unwrap_err();
            assert!(
                err.message.contains("a key may appear only once"),
                "{doc:?}: {err:?}"
            );
        }
    }

    #[test]
    fn layout_matches_sops_output() {
        let input = "a:\n  - x:\n      y: 1\n      z: [1, 2]\n    w: \"multi\\nline\\n\"\n    v: [\"p\", [\"q\", {r: s}]]\n  - - n1\n    - n2\n  - []\n  - {}\ne: {}\nf: []\n";
        let expected = "a:\n    - x:\n        \"y\": 1\n        z:\n            - 1\n            - 2\n      w: |\n        multi\n        line\n      v:\n        - p\n        - - q\n          - r: s\n    - - n1\n      - n2\n    - []\n    - {}\ne: {}\nf: []\n";
        let tree = parse(input).unwrap();
        assert_eq!(emit(&tree), expected);
    }

    #[test]
    fn scalar_types_survive_a_round_trip() {
        let input = "s: text\ni: 42\nneg: -7\nf: 1.50\nwhole: 2.0\nb: true\n\"n\": null\nold: yes\npin: 0123\n";
        let tree = parse(input).unwrap();
        let out = emit(&tree);
        assert_eq!(
            out,
            // a whole float prints as sops prints it: `2`, not `2.0`
            "s: text\ni: 42\nneg: -7\nf: 1.5\nwhole: 2\nb: true\n\"n\": null\nold: \"yes\"\npin: \"0123\"\n"
        );
        let again = parse(&out).unwrap();
        assert_eq!(emit(&again), out);
    }

    #[test]
    fn parse_error_has_a_line_and_no_content() {
        let err = parse("a: 1\nb: [unclosed-secret-value\n").unwrap_err();
        assert!(err.line.is_some(), "{err}");
        assert!(!err.to_string().contains("unclosed-secret-value"), "{err}");
    }
}
