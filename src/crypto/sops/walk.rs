//! The walks over a document's tree that sops defines: which leaves are
//! encrypted (the rules), each leaf's additional data (its key path), and the
//! MAC over the plaintext, computed while encrypting or decrypting. Pure
//! functions of a tree, the rules and a cipher; never parses or writes text.

use super::SopsError;
use crate::crypto::cipher::{ValueCipher, ValueError, is_encrypted};
use crate::crypto::tree::{self, Item, Kind, Leaf, Value};
use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha512};

/// 32 bytes sops hashes first when `mac_only_encrypted` is set.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The rules that decide which leaves are encrypted.
#[derive(Debug, Default, Clone)]
pub(super) struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
    mac_only_encrypted: bool,
}

impl Rules {
    pub(super) fn from_metadata(meta: &[Item]) -> Result<Rules, SopsError> {
        for unsupported in ["unencrypted_comment_regex", "encrypted_comment_regex"] {
            if tree::get(meta, unsupported).is_some() {
                return Err(SopsError::Unsupported(format!(
                    "the file uses sops's {unsupported}, which ksec does not support yet"
                )));
            }
        }
        if tree::get(meta, "key_groups").is_some() {
            return Err(SopsError::Unsupported(
                "the file uses sops key groups (Shamir secret sharing), which ksec does not support".into(),
            ));
        }
        let text = |key: &str| {
            tree::get(meta, key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let regex = |key: &str| -> Result<Option<Regex>, SopsError> {
            text(key)
                .map(|r| {
                    Regex::new(&r).map_err(|_| {
                        SopsError::BadMetadata(format!("{key} is not a valid regular expression"))
                    })
                })
                .transpose()
        };
        Ok(Rules {
            unencrypted_suffix: text("unencrypted_suffix").filter(|s| !s.is_empty()),
            encrypted_suffix: text("encrypted_suffix").filter(|s| !s.is_empty()),
            unencrypted_regex: regex("unencrypted_regex")?,
            encrypted_regex: regex("encrypted_regex")?,
            mac_only_encrypted: matches!(
                tree::get(meta, "mac_only_encrypted").and_then(Value::as_str),
                Some("True" | "true")
            ),
        })
    }

    pub(super) fn should_encrypt(&self, path: &[String]) -> bool {
        let mut encrypted = true;
        if let Some(suffix) = &self.unencrypted_suffix
            && path.iter().any(|p| p.ends_with(suffix.as_str()))
        {
            encrypted = false;
        }
        if let Some(suffix) = &self.encrypted_suffix {
            encrypted = path.iter().any(|p| p.ends_with(suffix.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|p| re.is_match(p))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| re.is_match(p));
        }
        encrypted
    }
}

/// The MAC of a document of one leaf (the binary store's `data`), whose
/// plaintext may be any bytes.
pub(super) fn single_value_mac(rules: &Rules, path: &[String], plain: &[u8]) -> String {
    let mut hasher = Sha512::new();
    if rules.mac_only_encrypted {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    if !rules.mac_only_encrypted || rules.should_encrypt(path) {
        hasher.update(plain);
    }
    hex_upper(&hasher.finalize())
}

pub(super) fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

/// Decrypt every value of `body`; returns the plaintext tree and the MAC
/// (hex) computed over it, for the caller to check against the stored one.
pub(super) fn decrypt_tree(
    body: &Value,
    rules: &Rules,
    cipher: &mut ValueCipher,
) -> Result<(Value, String), SopsError> {
    let mut hasher = Sha512::new();
    if rules.mac_only_encrypted {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let plain = decrypt_value(body, &mut Vec::new(), rules, cipher, &mut hasher)?;
    Ok((plain, hex_upper(&hasher.finalize())))
}

fn decrypt_value(
    value: &Value,
    path: &mut Vec<String>,
    rules: &Rules,
    cipher: &mut ValueCipher,
    hasher: &mut Sha512,
) -> Result<Value, SopsError> {
    Ok(match value {
        Value::Null => Value::Null,
        Value::Leaf(leaf) => {
            let encrypted = rules.should_encrypt(path);
            let plain = if encrypted {
                if leaf.kind != Kind::Str {
                    return Err(SopsError::ValueMalformed {
                        path: path.join("."),
                    });
                }
                if leaf.expose().is_empty() {
                    Leaf::str("")
                } else {
                    let (kind, text) =
                        cipher
                            .decrypt(leaf.expose(), &aad(path))
                            .map_err(|e| match e {
                                ValueError::Authentication => SopsError::ValueIntegrity {
                                    path: path.join("."),
                                },
                                ValueError::WrongType(tag) => SopsError::ValueType {
                                    path: path.join("."),
                                    tag,
                                },
                                _ => SopsError::ValueMalformed {
                                    path: path.join("."),
                                },
                            })?;
                    let Some(kind) = kind else {
                        return Err(SopsError::ValueMalformed {
                            path: path.join("."),
                        });
                    };
                    Leaf { kind, text }
                }
            } else {
                leaf.clone()
            };
            if !rules.mac_only_encrypted || encrypted {
                hasher.update(plain.expose().as_bytes());
            }
            Value::Leaf(plain)
        }
        Value::Seq(values) => Value::Seq(
            values
                .iter()
                // sops stores a comment inside a list as an item of type
                // comment; like YAML comments elsewhere, ksec does not keep it
                // (comments are outside the MAC).
                .filter(|v| !is_comment_item(v))
                .map(|v| decrypt_value(v, path, rules, cipher, hasher))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Item::Comment(text) => {
                        let text = text.expose_secret();
                        // sops falls back to the text as it is for comments
                        // it cannot decrypt (written by older versions).
                        let plain = if rules.should_encrypt(path) && is_encrypted(text) {
                            cipher
                                .decrypt(text, &aad(path))
                                .map(|(_, t)| t)
                                .unwrap_or_else(|_| SecretString::from(text.to_string()))
                        } else {
                            SecretString::from(text.to_string())
                        };
                        out.push(Item::Comment(plain));
                    }
                    Item::Pair(key, value) => {
                        path.push(key.clone());
                        let plain = decrypt_value(value, path, rules, cipher, hasher);
                        path.pop();
                        out.push(Item::Pair(key.clone(), plain?));
                    }
                }
            }
            Value::Map(out)
        }
    })
}

fn is_comment_item(value: &Value) -> bool {
    matches!(value, Value::Leaf(leaf) if leaf.kind == Kind::Str
        && is_encrypted(leaf.expose())
        && leaf.expose().ends_with(",type:comment]"))
}

/// Encrypt a plaintext tree; returns the encrypted tree and the MAC (hex).
pub(super) fn encrypt_tree(plain: &Value, rules: &Rules, cipher: &ValueCipher) -> (Value, String) {
    fn walk(
        value: &Value,
        path: &mut Vec<String>,
        rules: &Rules,
        cipher: &ValueCipher,
        hasher: &mut Sha512,
    ) -> Value {
        match value {
            Value::Null => Value::Null,
            Value::Leaf(leaf) => {
                let encrypted = rules.should_encrypt(path);
                if !rules.mac_only_encrypted || encrypted {
                    hasher.update(leaf.expose().as_bytes());
                }
                if encrypted {
                    Value::Leaf(Leaf::str(cipher.encrypt_leaf(leaf, &aad(path))))
                } else {
                    value.clone()
                }
            }
            Value::Seq(values) => Value::Seq(
                values
                    .iter()
                    .map(|v| walk(v, path, rules, cipher, hasher))
                    .collect(),
            ),
            Value::Map(items) => Value::Map(
                items
                    .iter()
                    .map(|item| match item {
                        Item::Comment(text) => {
                            let text = text.expose_secret();
                            if rules.should_encrypt(path) {
                                Item::Comment(SecretString::from(cipher.encrypt(
                                    None,
                                    text,
                                    &aad(path),
                                )))
                            } else {
                                Item::Comment(SecretString::from(text.to_string()))
                            }
                        }
                        Item::Pair(key, value) => {
                            path.push(key.clone());
                            let enc = walk(value, path, rules, cipher, hasher);
                            path.pop();
                            Item::Pair(key.clone(), enc)
                        }
                    })
                    .collect(),
            ),
        }
    }
    let mut hasher = Sha512::new();
    if rules.mac_only_encrypted {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let enc = walk(plain, &mut Vec::new(), rules, cipher, &mut hasher);
    (enc, hex_upper(&hasher.finalize()))
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The key paths of the values the rules encrypt (`DB_PASSWORD`, `db.password`,
/// `hosts[0]`), in document order; empty values are not encrypted.
pub(super) fn encrypted_paths(body: &Value, rules: &Rules) -> Vec<String> {
    fn walk(
        value: &Value,
        path: &mut Vec<String>,
        shown: &str,
        rules: &Rules,
        out: &mut Vec<String>,
    ) {
        match value {
            Value::Null => {}
            Value::Leaf(leaf) => {
                if rules.should_encrypt(path)
                    && !leaf.expose().is_empty()
                    && !out.iter().any(|o| o == shown)
                {
                    out.push(shown.to_string());
                }
            }
            Value::Seq(values) => {
                for (i, v) in values.iter().enumerate() {
                    if is_comment_item(v) {
                        continue;
                    }
                    walk(v, path, &format!("{shown}[{i}]"), rules, out);
                }
            }
            Value::Map(items) => {
                for item in items {
                    if let Item::Pair(key, v) = item {
                        path.push(key.clone());
                        let name = if shown.is_empty() {
                            key.clone()
                        } else {
                            format!("{shown}.{key}")
                        };
                        walk(v, path, &name, rules, out);
                        path.pop();
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(body, &mut Vec::new(), "", rules, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_and_regex_rules() {
        let rules = Rules {
            unencrypted_suffix: Some("_unencrypted".into()),
            ..Rules::default()
        };
        assert!(rules.should_encrypt(&["a".into()]));
        assert!(!rules.should_encrypt(&["a_unencrypted".into(), "b".into()]));
        let rules = Rules {
            encrypted_regex: Some(Regex::new("^(data|stringData)$").unwrap()),
            ..Rules::default()
        };
        assert!(rules.should_encrypt(&["data".into(), "x".into()]));
        assert!(!rules.should_encrypt(&["metadata".into(), "name".into()]));
    }
}
