//! Kubernetes Secret manifests in YAML or JSON files: a `kind: Secret`
//! document (also inside a `kind: List`) with values under `data` or
//! `stringData` holds its secrets in plaintext (base64 is an encoding, not
//! encryption). A SOPS-encrypted manifest (Flux's way) is fine, unless some
//! of those values were left unencrypted (a too narrow `encrypted_regex`).
//!
//! The documents are read with a visitor that keeps only what it needs:
//! the kind and its line, the name, and counts of values — never a value.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A Secret manifest with plaintext values: the line of its `kind` and what
/// is wrong, without any value.
#[derive(Debug, PartialEq, Eq)]
pub struct Hit {
    pub line: usize,
    pub what: String,
}

/// Every Secret document with plaintext values. A text that does not parse
/// as YAML (a Helm template, say) has none.
pub fn scan(text: &str) -> Vec<Hit> {
    if !text.contains("Secret") || !(text.contains("data") || text.contains("Data")) {
        return Vec::new();
    }
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    let Ok(docs) = serde_saphyr::from_multiple_with_options::<Doc>(text, options) else {
        return Vec::new();
    };
    let mut hits = Vec::new();
    for doc in &docs {
        collect(doc, &mut hits);
    }
    hits
}

fn collect(doc: &Doc, hits: &mut Vec<Hit>) {
    for item in &doc.items {
        collect(item, hits);
    }
    let Some(line) = doc.secret_line else {
        return;
    };
    let name = doc
        .name
        .as_deref()
        .map(|n| format!("Secret {n}"))
        .unwrap_or_else(|| "a Secret".into());
    let fields = |count: fn(&Values) -> usize| {
        [("data", &doc.data), ("stringData", &doc.string_data)]
            .into_iter()
            .filter_map(|(field, values)| {
                let n = count(values);
                (n > 0).then(|| format!("{n} in {field}"))
            })
            .collect::<Vec<_>>()
    };
    if doc.sops {
        let plain = fields(|v| v.plain);
        if !plain.is_empty() {
            hits.push(Hit {
                line,
                what: format!(
                    "{name} is SOPS-encrypted but has unencrypted values ({}); widen the file's encrypted_regex and re-encrypt",
                    plain.join(", ")
                ),
            });
        }
    } else {
        let all = fields(|v| v.keys);
        if !all.is_empty() {
            hits.push(Hit {
                line,
                what: format!(
                    "{name} manifest holds plaintext values ({})",
                    all.join(", ")
                ),
            });
        }
    }
}

/// What a YAML document tells about Secrets; any other shape is empty.
#[derive(Default)]
struct Doc {
    /// The line of `kind: Secret`, when it is one.
    secret_line: Option<usize>,
    name: Option<String>,
    data: Values,
    string_data: Values,
    /// Has a top-level `sops` key: a SOPS-encrypted document.
    sops: bool,
    /// The items of a `kind: List`.
    items: Vec<Doc>,
}

/// Counts over the values of `data` or `stringData`.
#[derive(Default)]
struct Values {
    keys: usize,
    /// Values that are not SOPS-encrypted (empty strings and nulls aside).
    plain: usize,
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Doc, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
        let mut doc = Doc::default();
        let mut kind: Option<Spanned<Scalar>> = None;
        while let Some(key) = map.next_key::<Scalar>()? {
            match key.text.as_deref() {
                Some("kind") => kind = Some(map.next_value()?),
                Some("metadata") => doc.name = map.next_value::<Metadata>()?.name,
                Some("data") => doc.data = map.next_value()?,
                Some("stringData") => doc.string_data = map.next_value()?,
                Some("sops") => {
                    doc.sops = true;
                    map.next_value::<IgnoredAny>()?;
                }
                Some("items") => doc.items = map.next_value::<Items>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(kind) = kind
            && kind.value.text.as_deref() == Some("Secret")
        {
            doc.secret_line = Some(kind.referenced.line() as usize);
        }
        Ok(doc)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Doc::default())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Doc, E> {
        Ok(Doc::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Doc, E> {
        Ok(Doc::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Doc, E> {
        Ok(Doc::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Doc, E> {
        Ok(Doc::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Doc, E> {
        Ok(Doc::default())
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Doc, E> {
        Ok(Doc::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Doc, E> {
        Ok(Doc::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<Doc, E> {
        Ok(Doc::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Doc, D::Error> {
        d.deserialize_any(self)
    }
}

/// The items of a List: documents of any shape.
struct Items(Vec<Doc>);

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Items, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Items;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items, A::Error> {
                let mut items = Vec::new();
                while let Some(doc) = seq.next_element::<Doc>()? {
                    items.push(doc);
                }
                Ok(Items(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Items, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Items(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Items, E> {
                Ok(Items(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Items, E> {
                Ok(Items(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Items, E> {
                Ok(Items(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `metadata`: only its name.
struct Metadata {
    name: Option<String>,
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Metadata, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut name = None;
                while let Some(key) = map.next_key::<Scalar>()? {
                    if key.text.as_deref() == Some("name") {
                        name = map.next_value::<Scalar>()?.text;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Metadata { name })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Metadata, E> {
                Ok(Metadata { name: None })
            }
            fn visit_none<E: de::Error>(self) -> Result<Metadata, E> {
                Ok(Metadata { name: None })
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Metadata, E> {
                Ok(Metadata { name: None })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Metadata, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Metadata { name: None })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Values, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Values, A::Error> {
                let mut values = Values::default();
                while map.next_key::<IgnoredAny>()?.is_some() {
                    values.keys += 1;
                    let value = map.next_value::<Scalar>()?;
                    let encrypted = value
                        .text
                        .as_deref()
                        .is_some_and(|t| t.is_empty() || t.starts_with("ENC[AES256_GCM,"));
                    if value.plain && !encrypted {
                        values.plain += 1;
                    }
                }
                Ok(values)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Values::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Values, E> {
                Ok(Values::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Values, E> {
                Ok(Values::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Values, E> {
                Ok(Values::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Any YAML node: its text when it is a string; `plain` when it is a
/// non-null scalar (a value sops would have encrypted).
#[derive(Default)]
struct Scalar {
    text: Option<String>,
    plain: bool,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar {
                    text: Some(v.to_string()),
                    plain: true,
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar {
                    text: None,
                    plain: true,
                })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Scalar, E> {
                self.visit_bool(true)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Scalar, E> {
                self.visit_bool(true)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
                self.visit_bool(true)
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Scalar, E> {
                self.visit_bool(true)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<usize> {
        scan(text).into_iter().map(|h| h.line).collect()
    }

    #[test]
    fn a_secret_with_data_or_string_data() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: c2VjcmV0\nstringData:\n  user: admin\n";
        let hits = scan(text);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].line, 7);
        assert_eq!(
            hits[0].what,
            "Secret db manifest holds plaintext values (1 in data, 1 in stringData)"
        );
        assert!(!hits[0].what.contains("c2VjcmV0") && !hits[0].what.contains("admin"));
    }

    #[test]
    fn json_and_lists() {
        let json = r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"k": "dg=="}}"#;
        assert_eq!(lines(json), vec![1]);
        let list = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Secret\n    stringData: {k: v}\n";
        assert_eq!(lines(list), vec![5]);
    }

    #[test]
    fn empty_data_templates_and_other_kinds_are_fine() {
        assert!(lines("kind: Secret\nmetadata: {name: x}\ndata: {}\n").is_empty());
        assert!(lines("kind: Secret\nmetadata: {name: x}\n").is_empty());
        assert!(lines("kind: SecretStore\ndata: {a: b}\n").is_empty());
        assert!(
            lines("kind: Secret\ndata:\n  k: {{ .Values.k | b64enc }}\n  - broken\n").is_empty()
        );
        assert!(lines("- kind: Secret\n  data: {a: b}\n").is_empty());
    }

    #[test]
    fn sops_encrypted_manifests() {
        let enc = "ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]";
        let sealed = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\ndata:\n    password: {enc}\n    empty: \"\"\nsops:\n    mac: x\n"
        );
        assert!(lines(&sealed).is_empty());
        let leaky = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\ndata:\n    password: {enc}\nstringData:\n    user: admin\nsops:\n    mac: x\n"
        );
        let hits = scan(&leaky);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].line, 2);
        assert!(
            hits[0]
                .what
                .contains("unencrypted values (1 in stringData)"),
            "{}",
            hits[0].what
        );
    }
}
