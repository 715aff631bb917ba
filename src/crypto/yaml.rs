//! The YAML store: reads a YAML document into a [`Value`] tree and writes a
//! tree back out the way sops (go-yaml v3, indent 4) writes it, so a file that
//! sops wrote and ksec rewrote differs only where values changed.
//!
//! Parse errors carry a line and column but never the offending text: the
//! document may be plaintext secrets.

use super::tree::{Item, Kind, Leaf, Value, bool_text, float_text};
use secrecy::SecretString;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt::{self, Write as _};

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
    let value: Value = serde_saphyr::from_str_with_options(text, options())
        .map_err(|e| located_error(&e, true))?;
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
        let mut items: Vec<Item> = Vec::new();
        // serde-saphyr rejects duplicate keys itself (DuplicateKeyPolicy::Error),
        // but compares nodes: `!!str a` and `a`, or `? ` and `? !x`, are two
        // keys to it and one key (`a`, `null`) once read as text
        let mut seen: HashSet<String> = HashSet::new();
        let spans = source_active();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            if !seen.insert(key.clone()) {
                let shown = if key.chars().any(char::is_control) {
                    "a key".to_string()
                } else {
                    format!("key {key}")
                };
                return Err(serde::de::Error::custom(format!(
                    "duplicate {shown}: a key may appear only once in a map (two keys read as the same text)"
                )));
            }
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
/// written as block mapping; an empty one as `{}`.
pub fn emit(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Map(items) if !items.is_empty() => emit_map(&mut out, items, 0, false),
        Value::Seq(values) if !values.is_empty() => emit_seq(&mut out, values, 0, false),
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

/// `indent` is the collection's indentation level; a map that is a sequence
/// item (`in_seq`) starts on the dash line and puts its keys two columns in.
fn emit_map(out: &mut String, items: &[Item], indent: usize, in_seq: bool) {
    let key_col = if in_seq { indent + 2 } else { indent };
    let mut first = true;
    for item in items {
        let Item::Pair(key, value) = item else {
            continue; // comments are not kept in YAML (see README)
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
    for (i, value) in values.iter().enumerate() {
        if !(i == 0 && in_seq) {
            pad(out, dash_col);
        }
        out.push('-');
        match value {
            Value::Map(items) if !items.is_empty() => {
                out.push(' ');
                emit_map(out, items, dash_col, true);
            }
            Value::Seq(inner) if !inner.is_empty() => {
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
            }
        }
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
        Value::Map(items) if !items.is_empty() => {
            out.push('\n');
            emit_map(out, items, indent + INDENT, false);
        }
        Value::Seq(values) if !values.is_empty() => {
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
        }
    }
}

/// A scalar (or empty collection) written after `key: ` or `- `. Block
/// scalars continue on following lines at `indent + step`.
fn inline_scalar(value: &Value, indent: usize, step: usize) -> String {
    match value {
        Value::Null => "null".into(),
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

fn double_quoted(s: &str) -> String {
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
    super::tree::yaml_timestamp(s).is_some()
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
