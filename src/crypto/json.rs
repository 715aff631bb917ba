//! The JSON store as sops 3.11 reads and writes it: a top-level object,
//! keys kept in file order (a duplicate key is kept twice, as sops keeps
//! it), every number a float (`type:float`, as sops 3.11 decodes JSON
//! numbers into float64), and text written the way Go's `encoding/json`
//! writes it (tab indent, `<`, `>`, `&` escaped). Values only ever live in
//! the tree's `SecretString` leaves; errors carry no value.

use super::tree::{Item, Kind, Leaf, Value, bool_text, float_text};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt::{self, Write as _};

/// Why a JSON text is not a sops JSON document. Never holds a value.
#[derive(Debug, PartialEq, Eq)]
pub struct JsonError {
    pub line: Option<usize>,
    pub message: String,
    /// Nesting beyond what the parser accepts (the text may be valid).
    pub limit: bool,
}

/// The most values (scalars, objects, arrays) a JSON document may hold,
/// as for YAML: memory stays bounded by it, not by the file's size.
pub const MAX_VALUES: usize = 250_000;

const TOO_MANY: &str =
    "the JSON is larger than ksec reads: more than 250,000 values (scalars, objects and arrays)";

/// Parse a JSON document whose top level is an object.
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let count = std::cell::Cell::new(0);
    let value = Seed(&count).deserialize(&mut de).map_err(error)?;
    de.end().map_err(error)?;
    match value {
        Value::Map(_) => Ok(value),
        _ => Err(JsonError {
            line: None,
            message: "sops reads only JSON files whose top level is an object ({…}); wrap the content in an object, e.g. {\"data\": …}".into(),
            limit: false,
        }),
    }
}

fn error(e: serde_json::Error) -> JsonError {
    let text = e.to_string();
    // serde_json's messages name the place, never the content
    let message = match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    if message == TOO_MANY {
        return JsonError {
            line: None,
            limit: true,
            message,
        };
    }
    if message.contains("recursion limit") {
        return JsonError {
            line: (e.line() > 0).then_some(e.line()),
            limit: true,
            message: "the JSON is larger than ksec reads: more than 128 levels of nesting".into(),
        };
    }
    JsonError {
        line: (e.line() > 0).then_some(e.line()),
        limit: false,
        message: format!("invalid JSON: {message}"),
    }
}

/// Builds one value, counting every value of the document.
struct Seed<'c>(&'c std::cell::Cell<usize>);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let n = self.0.get() + 1;
        if n > MAX_VALUES {
            return Err(serde::de::Error::custom(TOO_MANY));
        }
        self.0.set(n);
        d.deserialize_any(Build(self.0))
    }
}

struct Build<'c>(&'c std::cell::Cell<usize>);

fn number(f: f64) -> Value {
    Value::Leaf(Leaf {
        kind: Kind::Float,
        text: float_text(f).into(),
    })
}

impl<'de> Visitor<'de> for Build<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Leaf(Leaf {
            kind: Kind::Bool,
            text: bool_text(b).to_string().into(),
        }))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(number(i as f64))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(number(u as f64))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(number(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Leaf(Leaf::str(s)))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Leaf(Leaf::str(s)))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed(self.0))? {
            values.push(v);
        }
        Ok(Value::Seq(values))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Seed(self.0))?;
            items.push(Item::Pair(key, value));
        }
        Ok(Value::Map(items))
    }
}

/// The document as sops writes it: Go's `json.Indent` with a tab, and a
/// final newline. Comments (which JSON cannot hold) are left out.
pub fn emit(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out.push('\n');
    out
}

fn indent(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push('\t');
    }
}

fn write_value(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Leaf(leaf) => write_leaf(out, leaf),
        // a list's comments (from YAML) have no place in JSON
        Value::Comment(_) => {}
        Value::Seq(values) => {
            let values: Vec<&Value> = values
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .collect();
            if values.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_value(out, v, depth + 1);
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Map(items) => {
            let pairs: Vec<(&String, &Value)> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Pair(k, v) => Some((k, v)),
                    Item::Comment(_) => None,
                })
                .collect();
            if pairs.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                go_json_string(k, out);
                out.push_str(": ");
                write_value(out, v, depth + 1);
            }
            indent(out, depth);
            out.push('}');
        }
    }
}

fn write_leaf(out: &mut String, leaf: &Leaf) {
    let text = leaf.expose();
    match leaf.kind {
        Kind::Bool => out.push_str(if text == "True" { "true" } else { "false" }),
        Kind::Int => out.push_str(text),
        Kind::Float => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => out.push_str(&go_json_float(f)),
            _ => out.push_str(text),
        },
        Kind::Str | Kind::Time => go_json_string(text, out),
    }
}

/// A float as Go's `encoding/json` writes it: decimal, or exponent form
/// below 1e-6 and from 1e21 (`1e+21`, `1e-7`).
pub fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        match e.split_once('e') {
            Some((mantissa, exp)) if exp.starts_with('-') => format!("{mantissa}e{exp}"),
            Some((mantissa, exp)) => format!("{mantissa}e+{exp}"),
            None => e,
        }
    } else {
        float_text(f)
    }
}

/// A JSON string exactly as Go's `json.Marshal` writes it, HTML-safe
/// escapes (`<`, `>`, `&`, U+2028, U+2029) included.
pub fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                write!(out, "\\u{:04x}", c as u32).ok();
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_as_sops_writes_it() {
        let text = "{\"a\": \"x<&>\\u2028\\b\", \"n\": 12, \"f\": 1.5, \"big\": 1e300, \"small\": 0.0000001, \"t\": true, \"z\": null, \"l\": [1, \"s\", {\"q\": 2}], \"e\": {}, \"ea\": [], \"a\": \"dup\"}";
        let value = parse(text).unwrap();
        assert_eq!(
            emit(&value),
            "{\n\t\"a\": \"x\\u003c\\u0026\\u003e\\u2028\\b\",\n\t\"n\": 12,\n\t\"f\": 1.5,\n\t\"big\": 1e+300,\n\t\"small\": 1e-7,\n\t\"t\": true,\n\t\"z\": null,\n\t\"l\": [\n\t\t1,\n\t\t\"s\",\n\t\t{\n\t\t\t\"q\": 2\n\t\t}\n\t],\n\t\"e\": {},\n\t\"ea\": [],\n\t\"a\": \"dup\"\n}\n"
        );
    }

    #[test]
    fn errors_name_the_line_not_the_content() {
        let err = parse("{\n\"a\": \"hunter2\",\n}").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(!err.message.contains("hunter2"), "{}", err.message);
        assert!(parse("[1]").unwrap_err().message.contains("top level"));
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(parse(&deep).unwrap_err().limit);
        let wide = format!("{{\"a\": [{}1]}}", "1,".repeat(MAX_VALUES));
        let err = parse(&wide).unwrap_err();
        assert!(
            err.limit && err.message.contains("250,000"),
            "{}",
            err.message
        );
    }
}
