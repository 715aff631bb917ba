//! Manifests as YAML the way kubectl prints them: two-space indentation,
//! sequences at their key's column, go-yaml quoting (so `yes`, `on`, `0123`
//! and `12:30` stay strings for YAML 1.1 readers), multi-line strings as
//! literal blocks.

use crate::crypto::yaml::scalar_string_with_step;
use serde_json::Value;

const STEP: usize = 2;

/// One document, ending in a newline.
pub fn document(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => map_entries(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => seq_items(&mut out, items, 0),
        other => {
            out.push_str(&inline(other, 0));
            out.push('\n');
        }
    }
    out
}

/// Several documents separated by `---`.
pub fn documents<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&document(v));
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Entries of a map whose keys sit at column `col`; `inline_first` when the
/// first key follows a `- ` already written.
fn map_entries(
    out: &mut String,
    map: &serde_json::Map<String, Value>,
    col: usize,
    inline_first: bool,
) {
    for (i, (key, value)) in map.iter().enumerate() {
        if !(i == 0 && inline_first) {
            pad(out, col);
        }
        out.push_str(&scalar_string_with_step(key, col, STEP));
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                map_entries(out, m, col + STEP, false);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                seq_items(out, a, col);
            }
            other => {
                out.push(' ');
                out.push_str(&inline(other, col));
                out.push('\n');
            }
        }
    }
}

fn seq_items(out: &mut String, items: &[Value], col: usize) {
    for item in items {
        pad(out, col);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => map_entries(out, m, col + STEP, true),
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                seq_items(out, a, col + STEP);
            }
            other => {
                out.push_str(&inline(other, col + STEP));
                out.push('\n');
            }
        }
    }
}

fn inline(value: &Value, col: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string_with_step(s, col, STEP),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_at_the_top_is_a_block_sequence() {
        let v = json!([{"name": "a", "tags": ["x"]}, "b"]);
        assert_eq!(document(&v), "- name: a\n  tags:\n  - x\n- b\n");
        assert_eq!(document(&json!([])), "[]\n");
    }

    #[test]
    fn kubectl_layout() {
        let v = json!({
            "apiVersion": "v1",
            "data": {"nginx.conf": "server {\n  listen 80;\n}\n", "on": "yes", "pin": "0123"},
            "spec": {"containers": [{"name": "api", "volumeMounts": [{"name": "v", "readOnly": true}]}]},
        });
        assert_eq!(
            document(&v),
            "apiVersion: v1\ndata:\n  nginx.conf: |\n    server {\n      listen 80;\n    }\n  \"on\": \"yes\"\n  pin: \"0123\"\nspec:\n  containers:\n  - name: api\n    volumeMounts:\n    - name: v\n      readOnly: true\n"
        );
    }
}
