//! The dotenv store, line for line as sops reads and writes it: `KEY=VALUE`
//! split at the first `=`, no quote handling, no trimming, `\n` in a value
//! stands for a newline, `#` starts a whole-line comment, blank lines vanish.

use super::tree::{Item, Leaf, Value};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug)]
pub struct DotenvError {
    pub line: usize,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Value, DotenvError> {
    let mut items = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            items.push(Item::Comment(SecretString::from(comment.to_string())));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(DotenvError {
                line: index + 1,
                message: "expected KEY=VALUE (no '=' on this line)".into(),
            });
        };
        if key.is_empty() {
            return Err(DotenvError {
                line: index + 1,
                message: "empty key before '='".into(),
            });
        }
        items.push(Item::Pair(
            key.to_string(),
            Value::Leaf(Leaf::str(value.replace("\\n", "\n"))),
        ));
    }
    Ok(Value::Map(items))
}

/// Write a flat tree as dotenv. Nested values cannot be written.
pub fn emit(value: &Value) -> Result<String, String> {
    let Value::Map(items) = value else {
        return Err("a dotenv file holds KEY=VALUE pairs only".into());
    };
    let mut out = String::new();
    for item in items {
        match item {
            Item::Comment(text) => {
                out.push('#');
                out.push_str(text.expose_secret());
            }
            Item::Pair(key, value) => {
                let text = match value {
                    Value::Leaf(leaf) => leaf.expose(),
                    Value::Null | Value::Comment(_) => "",
                    Value::Map(_) | Value::Seq(_) => {
                        return Err(format!(
                            "key {key} holds a nested value, which dotenv cannot store"
                        ));
                    }
                };
                out.push_str(key);
                out.push('=');
                out.push_str(&text.replace('\n', "\\n"));
            }
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_equals_hash_quotes_and_comments() {
        let input = "A=1\n# c\nB=x=y#z\nC=\nD=\"quoted\"\nE=multi\\nline\n";
        let tree = parse(input).unwrap();
        let map = tree.as_map().unwrap();
        assert_eq!(map.len(), 6);
        assert_eq!(
            super::super::tree::get(map, "E").unwrap().as_str(),
            Some("multi\nline")
        );
        assert_eq!(
            super::super::tree::get(map, "D").unwrap().as_str(),
            Some("\"quoted\"")
        );
        assert_eq!(emit(&tree).unwrap(), input);
    }

    #[test]
    fn a_line_without_equals_is_an_error_with_its_number() {
        let err = parse("A=1\n\nnot-a-pair\n").unwrap_err();
        assert_eq!(err.line, 3);
    }
}
