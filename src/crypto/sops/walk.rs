//! The walks over a document's tree that sops defines: which leaves and
//! comments are encrypted (the rules: key suffixes and regexes, and the
//! comments before a value), each one's additional data (its key path; a
//! comment's is that of its map or list), and the MAC over the plaintext
//! values (never the comments), computed while encrypting or decrypting.
//! Pure functions of a tree, the rules and a cipher; never parses or writes
//! text.

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
    unencrypted_comment_regex: Option<Regex>,
    encrypted_comment_regex: Option<Regex>,
    mac_only_encrypted: bool,
}

impl Rules {
    pub(super) fn from_metadata(meta: &[Item]) -> Result<Rules, SopsError> {
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
            unencrypted_comment_regex: regex("unencrypted_comment_regex")?,
            encrypted_comment_regex: regex("encrypted_comment_regex")?,
            mac_only_encrypted: matches!(
                tree::get(meta, "mac_only_encrypted").and_then(Value::as_str),
                Some("True" | "true")
            ),
        })
    }

    fn comment_rules(&self) -> bool {
        self.unencrypted_comment_regex.is_some() || self.encrypted_comment_regex.is_some()
    }

    /// Whether the value (or comment) at `scope` is encrypted: the key
    /// rules on its path, then the comment rules on the comments before it
    /// at each level (a comment does not count for itself under
    /// `encrypted_comment_regex`, so the marking comment stays in clear).
    fn encrypts(&self, scope: &Scope, is_comment: bool) -> bool {
        let mut encrypted = self.should_encrypt(&scope.path);
        let all = || scope.comments.iter().flatten();
        if let Some(re) = &self.unencrypted_comment_regex
            && all().any(|c| re.is_match(c.expose_secret()))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_comment_regex {
            let total: usize = scope.comments.iter().map(Vec::len).sum();
            let counted = if is_comment {
                total.saturating_sub(1)
            } else {
                total
            };
            encrypted = all().take(counted).any(|c| re.is_match(c.expose_secret()));
        }
        encrypted
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

/// Where a walk is: the key path (the additional data of what is there) and,
/// per level of nesting, the comments read since that level's last value
/// (what the comment rules look at; kept only when the file has them).
#[derive(Default)]
struct Scope {
    path: Vec<String>,
    comments: Vec<Vec<SecretString>>,
}

impl Scope {
    fn enter(&mut self, rules: &Rules) {
        if rules.comment_rules() {
            self.comments.push(Vec::new());
        }
    }

    fn leave(&mut self) {
        self.comments.pop();
    }

    /// A comment read at this level, as it stands in the tree walked.
    fn saw_comment(&mut self, text: &SecretString) {
        if let Some(level) = self.comments.last_mut() {
            level.push(text.clone());
        }
    }

    /// A value read at this level: the comments before it stop counting.
    fn saw_value(&mut self) {
        if let Some(level) = self.comments.last_mut() {
            level.clear();
        }
    }

    fn shown(&self) -> String {
        self.path.join(".")
    }
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
    let plain = decrypt_value(body, &mut Scope::default(), rules, cipher, &mut hasher)?;
    Ok((plain, hex_upper(&hasher.finalize())))
}

fn decrypt_value(
    value: &Value,
    scope: &mut Scope,
    rules: &Rules,
    cipher: &mut ValueCipher,
    hasher: &mut Sha512,
) -> Result<Value, SopsError> {
    Ok(match value {
        Value::Null => Value::Null,
        Value::Leaf(leaf) => {
            let encrypted = rules.encrypts(scope, false);
            let plain = if encrypted {
                if leaf.kind != Kind::Str {
                    return Err(SopsError::ValueMalformed {
                        path: scope.shown(),
                    });
                }
                if leaf.expose().is_empty() {
                    Leaf::str("")
                } else {
                    let (kind, text) =
                        cipher
                            .decrypt(leaf.expose(), &aad(&scope.path))
                            .map_err(|e| match e {
                                ValueError::Authentication => SopsError::ValueIntegrity {
                                    path: scope.shown(),
                                },
                                ValueError::WrongType(tag) => SopsError::ValueType {
                                    path: scope.shown(),
                                    tag,
                                },
                                _ => SopsError::ValueMalformed {
                                    path: scope.shown(),
                                },
                            })?;
                    let Some(kind) = kind else {
                        return Err(SopsError::ValueMalformed {
                            path: scope.shown(),
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
        Value::Comment(text) => Value::Comment(decrypt_comment(text, scope, rules, cipher)),
        // sops 3.11 writes a comment inside a list as an item holding the
        // encrypted comment (outside the MAC, like every comment)
        Value::Seq(values) => {
            scope.enter(rules);
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    Value::Leaf(leaf) if is_comment_item(v) => {
                        scope.saw_comment(&leaf.text);
                        out.push(Value::Comment(decrypt_comment(
                            &leaf.text, scope, rules, cipher,
                        )));
                    }
                    Value::Comment(text) => {
                        scope.saw_comment(text);
                        out.push(Value::Comment(decrypt_comment(text, scope, rules, cipher)));
                    }
                    _ => {
                        let plain = decrypt_value(v, scope, rules, cipher, hasher);
                        scope.saw_value();
                        out.push(plain.inspect_err(|_| scope.leave())?);
                    }
                }
            }
            scope.leave();
            Value::Seq(out)
        }
        Value::Map(items) => {
            scope.enter(rules);
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Item::Comment(text) => {
                        scope.saw_comment(text);
                        out.push(Item::Comment(decrypt_comment(text, scope, rules, cipher)));
                    }
                    Item::Pair(key, value) => {
                        scope.path.push(key.clone());
                        let plain = decrypt_value(value, scope, rules, cipher, hasher);
                        scope.path.pop();
                        scope.saw_value();
                        out.push(Item::Pair(
                            key.clone(),
                            plain.inspect_err(|_| scope.leave())?,
                        ));
                    }
                }
            }
            scope.leave();
            Value::Map(out)
        }
    })
}

/// A comment's plaintext. sops falls back to the text as it is for comments
/// it cannot decrypt (written by older versions, or never encrypted).
fn decrypt_comment(
    text: &SecretString,
    scope: &Scope,
    rules: &Rules,
    cipher: &mut ValueCipher,
) -> SecretString {
    let text = text.expose_secret();
    if rules.encrypts(scope, true) && is_encrypted(text) {
        cipher
            .decrypt(text, &aad(&scope.path))
            .map(|(_, t)| t)
            .unwrap_or_else(|_| SecretString::from(text.to_string()))
    } else {
        SecretString::from(text.to_string())
    }
}

/// A comment encrypted as sops encrypts it: with the path of the map or list
/// it stands in as additional data; an empty one stays empty.
fn encrypt_comment(
    text: &SecretString,
    scope: &Scope,
    rules: &Rules,
    cipher: &ValueCipher,
) -> String {
    let text = text.expose_secret();
    if rules.encrypts(scope, true) {
        cipher.encrypt(None, text, &aad(&scope.path))
    } else {
        text.to_string()
    }
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
        scope: &mut Scope,
        rules: &Rules,
        cipher: &ValueCipher,
        hasher: &mut Sha512,
    ) -> Value {
        match value {
            Value::Null => Value::Null,
            Value::Leaf(leaf) => {
                let encrypted = rules.encrypts(scope, false);
                if !rules.mac_only_encrypted || encrypted {
                    hasher.update(leaf.expose().as_bytes());
                }
                if encrypted {
                    Value::Leaf(Leaf::str(cipher.encrypt_leaf(leaf, &aad(&scope.path))))
                } else {
                    value.clone()
                }
            }
            // as sops 3.11 writes it: an item holding the encrypted comment
            Value::Comment(text) => {
                let enc = encrypt_comment(text, scope, rules, cipher);
                if is_encrypted(&enc) {
                    Value::Leaf(Leaf::str(enc))
                } else {
                    Value::Comment(SecretString::from(enc))
                }
            }
            Value::Seq(values) => {
                scope.enter(rules);
                let mut out = Vec::with_capacity(values.len());
                for v in values {
                    if let Value::Comment(text) = v {
                        scope.saw_comment(text);
                    }
                    out.push(walk(v, scope, rules, cipher, hasher));
                    if !matches!(v, Value::Comment(_)) {
                        scope.saw_value();
                    }
                }
                scope.leave();
                Value::Seq(out)
            }
            Value::Map(items) => {
                scope.enter(rules);
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(match item {
                        Item::Comment(text) => {
                            scope.saw_comment(text);
                            Item::Comment(SecretString::from(encrypt_comment(
                                text, scope, rules, cipher,
                            )))
                        }
                        Item::Pair(key, value) => {
                            scope.path.push(key.clone());
                            let enc = walk(value, scope, rules, cipher, hasher);
                            scope.path.pop();
                            scope.saw_value();
                            Item::Pair(key.clone(), enc)
                        }
                    });
                }
                scope.leave();
                Value::Map(out)
            }
        }
    }
    let mut hasher = Sha512::new();
    if rules.mac_only_encrypted {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let enc = walk(plain, &mut Scope::default(), rules, cipher, &mut hasher);
    (enc, hex_upper(&hasher.finalize()))
}

/// sops refuses to write an encrypted comment that `unencrypted_comment_regex`
/// matches: read back, it would mark what follows as never encrypted, and
/// the file would not decrypt.
pub(super) fn check_encrypted_comments(body: &Value, rules: &Rules) -> Result<(), SopsError> {
    let Some(re) = &rules.unencrypted_comment_regex else {
        return Ok(());
    };
    let bad = |text: &str| is_encrypted(text) && re.is_match(text);
    let found = match body {
        Value::Leaf(leaf) => is_comment_item(body) && bad(leaf.expose()),
        Value::Comment(text) => bad(text.expose_secret()),
        Value::Null => false,
        Value::Seq(values) => {
            for v in values {
                check_encrypted_comments(v, rules)?;
            }
            false
        }
        Value::Map(items) => {
            for item in items {
                match item {
                    Item::Comment(text) if bad(text.expose_secret()) => {
                        return Err(comment_matches());
                    }
                    Item::Comment(_) => {}
                    Item::Pair(_, v) => check_encrypted_comments(v, rules)?,
                }
            }
            false
        }
    };
    if found {
        return Err(comment_matches());
    }
    Ok(())
}

fn comment_matches() -> SopsError {
    SopsError::Unsupported(
        "an encrypted comment would match its unencrypted_comment_regex (as sops, ksec refuses to write it): make the regex unable to match `ENC[AES256_GCM,…]`".into(),
    )
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The key paths of the values the rules encrypt (`DB_PASSWORD`, `db.password`,
/// `hosts[0]`), in document order; empty values are not encrypted.
pub(super) fn encrypted_paths(body: &Value, rules: &Rules) -> Vec<String> {
    fn walk(value: &Value, scope: &mut Scope, shown: &str, rules: &Rules, out: &mut Vec<String>) {
        match value {
            Value::Null | Value::Comment(_) => {}
            Value::Leaf(leaf) => {
                if rules.encrypts(scope, false)
                    && !leaf.expose().is_empty()
                    && !out.iter().any(|o| o == shown)
                {
                    out.push(shown.to_string());
                }
            }
            Value::Seq(values) => {
                scope.enter(rules);
                let mut i = 0;
                for v in values {
                    match v {
                        Value::Leaf(leaf) if is_comment_item(v) => scope.saw_comment(&leaf.text),
                        Value::Comment(text) => scope.saw_comment(text),
                        _ => {
                            walk(v, scope, &format!("{shown}[{i}]"), rules, out);
                            scope.saw_value();
                            i += 1;
                        }
                    }
                }
                scope.leave();
            }
            Value::Map(items) => {
                scope.enter(rules);
                for item in items {
                    match item {
                        Item::Comment(text) => scope.saw_comment(text),
                        Item::Pair(key, v) => {
                            scope.path.push(key.clone());
                            let name = if shown.is_empty() {
                                key.clone()
                            } else {
                                format!("{shown}.{key}")
                            };
                            walk(v, scope, &name, rules, out);
                            scope.path.pop();
                            scope.saw_value();
                        }
                    }
                }
                scope.leave();
            }
        }
    }
    let mut out = Vec::new();
    walk(body, &mut Scope::default(), "", rules, &mut out);
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
