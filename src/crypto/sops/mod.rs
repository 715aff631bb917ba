//! A SOPS document: the encrypted tree plus its `sops` metadata, and the
//! walks that encrypt, decrypt and authenticate it exactly as sops 3.x does:
//!
//! - every leaf whose key path is not exempted (`unencrypted_suffix` and the
//!   other rules) is encrypted with the path joined by `:` plus a trailing `:`
//!   as additional data; sequence items share their parent's path;
//! - the MAC is SHA-512 over the canonical text of every non-null leaf in
//!   document order (only the encrypted ones with `mac_only_encrypted`),
//!   written as upper-case hex and stored encrypted with `lastmodified` as
//!   additional data, so an edited timestamp is caught too;
//! - the data key is wrapped once per age recipient.
//!
//! Metadata that ksec does not use (pgp, kms, …) is kept as it was.
//!
//! This module holds the document and its operations; the walks and the MAC
//! are in `walk`, the metadata's layout in the stores in `metadata`, which
//! store a file is in in `format`, and the binary store's bytes in `binary`.

mod binary;
mod format;
mod metadata;
mod walk;

use super::cipher::{DataKey, ValueCipher};
use super::tree::{self, Item, Kind, Leaf, Value};
use super::wrap::{self, Identity, Recipient};
use super::{dotenv, ini, json, yaml, yaml_docs};
pub use binary::{DATA as BINARY_DATA_KEY, encrypt_bytes};
pub use format::Format;
use metadata::{dotenv_metadata_start, dotenv_pairs, split_dotenv_metadata, split_yaml_metadata};
pub use metadata::{rfc3339, rfc3339_now};
use secrecy::ExposeSecret;
use walk::Rules;

/// The sops format version ksec writes into new files (the format it
/// implements and is tested against).
pub const SOPS_VERSION: &str = "3.11.0";
const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// What went wrong with a document. Never holds a value.
#[derive(Debug, PartialEq, Eq)]
pub enum SopsError {
    Syntax {
        line: Option<usize>,
        message: String,
    },
    /// A YAML size or nesting limit (the document may be valid).
    Limit {
        message: String,
    },
    NotEncrypted,
    AlreadyEncrypted,
    /// A file whose name makes sops read it in another store than the one
    /// its text is in (YAML under a `*.json` name): not written back.
    WrongName {
        holds: Format,
        named: Format,
    },
    Unsupported(String),
    BadMetadata(String),
    NoAgeRecipients,
    NoMatchingIdentity {
        recipients: Vec<String>,
    },
    /// No identity unwrapped the data key, and the stanzas of these
    /// recipients are damaged (truncated or edited).
    DamagedStanza {
        recipients: Vec<String>,
    },
    /// No identity unwrapped the data key, and the age plugin of a plugin
    /// identity failed or declined (what it said).
    Plugin {
        recipient: String,
        message: String,
    },
    /// A value that does not authenticate (changed, or moved from another key).
    ValueIntegrity {
        path: String,
    },
    /// A plaintext that does not parse as its declared `type:` (the tag was
    /// changed: sops refuses such a value too).
    ValueType {
        path: String,
        tag: &'static str,
    },
    /// A value that is not in SOPS form where one is expected.
    ValueMalformed {
        path: String,
    },
    /// The stored MAC does not authenticate (changed MAC or `lastmodified`).
    MacUnreadable,
    /// The values do not match the MAC (a value removed, added or reordered).
    MacMismatch,
    Emit(String),
}

/// A one-line description without the file's name (the caller adds it);
/// `error::sops_error` adds the exit code and what to do.
impl std::fmt::Display for SopsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SopsError::Syntax {
                line: Some(l),
                message,
            } => write!(f, "line {l}: {message}"),
            SopsError::Syntax {
                line: None,
                message,
            }
            | SopsError::Limit { message } => f.write_str(message),
            SopsError::NotEncrypted => f.write_str("not a SOPS-encrypted file (no sops metadata)"),
            SopsError::AlreadyEncrypted => f.write_str("already encrypted (it has sops metadata)"),
            SopsError::WrongName { holds, named } => write!(
                f,
                "it holds {} under a name sops reads as {}",
                holds.name(),
                named.name()
            ),
            SopsError::Unsupported(why) | SopsError::Emit(why) => f.write_str(why),
            SopsError::BadMetadata(why) => write!(f, "damaged sops metadata: {why}"),
            SopsError::NoAgeRecipients => f.write_str("it has no age recipients"),
            SopsError::NoMatchingIdentity { .. } => {
                f.write_str("none of your identities is one of its recipients")
            }
            SopsError::DamagedStanza { .. } => f.write_str("its data key stanza is damaged"),
            SopsError::Plugin { recipient, message } => {
                write!(
                    f,
                    "the age plugin for recipient {recipient} failed: {message}"
                )
            }
            SopsError::ValueIntegrity { path } => {
                write!(f, "the value of key {path} was changed or moved")
            }
            SopsError::ValueType { path, tag } => write!(
                f,
                "the value of key {path} does not read as its declared type:{tag}"
            ),
            SopsError::ValueMalformed { path } => {
                write!(f, "key {path} does not hold a SOPS-encrypted value")
            }
            SopsError::MacUnreadable => f.write_str("the MAC or lastmodified was changed"),
            SopsError::MacMismatch => f.write_str("the values do not match the MAC"),
        }
    }
}

/// An encrypted SOPS file, parsed but not decrypted.
#[derive(Debug, Clone)]
pub struct EncryptedFile {
    pub format: Format,
    /// The document without its `sops` key; encrypted leaves hold `ENC[…]`.
    pub body: Value,
    /// The `sops` map, in file order.
    pub metadata: Vec<Item>,
}

/// A decrypted document, with the cipher (data key and IV stash) needed to
/// write it back with unchanged values unchanged.
pub struct Opened {
    pub file: EncryptedFile,
    pub plain: Value,
    pub cipher: ValueCipher,
}

/// Whether parsed plaintext already carries sops metadata.
pub fn has_sops_metadata(value: &Value, format: Format) -> bool {
    match (format, value) {
        (Format::Yaml | Format::Json | Format::Binary | Format::Ini, Value::Map(items)) => {
            tree::get(items, "sops").is_some()
        }
        (Format::YamlStream, Value::Seq(docs)) => docs
            .iter()
            .any(|d| d.as_map().is_some_and(|m| tree::get(m, "sops").is_some())),
        (Format::Dotenv, Value::Map(items)) => items
            .iter()
            .any(|i| matches!(i, Item::Pair(k, _) if k.starts_with("sops_"))),
        _ => false,
    }
}

/// A parse error of a store: a size limit, or a syntax error at a line.
fn located(line: Option<usize>, message: String, limit: bool) -> SopsError {
    if limit {
        SopsError::Limit { message }
    } else {
        SopsError::Syntax { line, message }
    }
}

/// Parse plaintext in the given format.
pub fn parse_plain(text: &str, format: Format) -> Result<Value, SopsError> {
    match format {
        Format::Yaml => yaml::parse(text).map_err(|e| located(e.line, e.message, e.limit)),
        Format::Dotenv => dotenv::parse(text).map_err(|e| SopsError::Syntax {
            line: Some(e.line),
            message: e.message,
        }),
        Format::Json => json::parse(text).map_err(|e| located(e.line, e.message, e.limit)),
        Format::Binary => Ok(binary::plain_tree(text)),
        Format::Ini => ini::parse(text).map_err(|e| located(Some(e.line), e.message, e.limit)),
        Format::YamlStream => yaml_docs::parse(text)
            .map(Value::Seq)
            .map_err(|e| located(e.line, e.message, e.limit)),
    }
}

/// Write plaintext in the given format.
pub fn emit_plain(value: &Value, format: Format) -> Result<String, SopsError> {
    match format {
        Format::Yaml => Ok(yaml::emit(value)),
        Format::Dotenv => dotenv::emit(value).map_err(SopsError::Emit),
        Format::Json => Ok(json::emit(value)),
        Format::Binary => binary::plain_text(value).map(str::to_string),
        Format::Ini => ini::emit(value).map_err(SopsError::Emit),
        Format::YamlStream => match value {
            Value::Seq(docs) => Ok(yaml_docs::emit(docs)),
            other => Ok(yaml::emit(other)),
        },
    }
}

/// An encrypted stream: every document carries the metadata (the first
/// one's is used); the body is the list of the documents without it.
fn parse_stream(text: &str) -> Result<EncryptedFile, SopsError> {
    let Value::Seq(docs) = parse_plain(text, Format::YamlStream)? else {
        unreachable!("a stream parses to a list")
    };
    let mut bodies = Vec::with_capacity(docs.len());
    let mut first = None;
    for doc in docs {
        let Value::Map(items) = doc else {
            return Err(SopsError::NotEncrypted);
        };
        let (body, metadata) = split_yaml_metadata(items)?;
        first.get_or_insert(metadata);
        bodies.push(Value::Map(body));
    }
    Ok(EncryptedFile {
        format: Format::YamlStream,
        body: Value::Seq(bodies),
        metadata: first.ok_or(SopsError::NotEncrypted)?,
    })
}

impl EncryptedFile {
    pub fn parse(text: &str, format: Format) -> Result<EncryptedFile, SopsError> {
        if format == Format::Yaml
            && let Some((body, meta)) = super::fast_yaml::split_and_parse(text)
        {
            let meta = parse_plain(meta, format)?;
            let Value::Map(meta) = meta else {
                return Err(SopsError::NotEncrypted);
            };
            let (_, metadata) = split_yaml_metadata(meta)?;
            return Ok(EncryptedFile {
                format,
                body: Value::Map(body),
                metadata,
            });
        }
        if format == Format::YamlStream {
            return parse_stream(text);
        }
        // a binary file's envelope is JSON; its plaintext is not
        let envelope = if format == Format::Binary {
            Format::Json
        } else {
            format
        };
        let value = parse_plain(text, envelope)?;
        let Value::Map(items) = value else {
            return Err(SopsError::NotEncrypted);
        };
        let (body, metadata) = match format {
            Format::Yaml | Format::Json | Format::YamlStream => split_yaml_metadata(items)?,
            Format::Binary => binary::split(items)?,
            Format::Dotenv => split_dotenv_metadata(items)?,
            Format::Ini => metadata::split_ini_metadata(items)?,
        };
        Ok(EncryptedFile {
            format,
            body: Value::Map(body),
            metadata,
        })
    }

    /// The age recipients the data key is wrapped for.
    pub fn recipients(&self) -> Vec<String> {
        self.age_stanzas().into_iter().map(|(r, _)| r).collect()
    }

    fn age_stanzas(&self) -> Vec<(String, String)> {
        let Some(Value::Seq(entries)) = tree::get(&self.metadata, "age") else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|entry| {
                let map = entry.as_map()?;
                let recipient = tree::get(map, "recipient")?.as_str()?.to_string();
                let enc = tree::get(map, "enc")?.as_str()?.to_string();
                Some((recipient, enc))
            })
            .collect()
    }

    /// Recover the data key with any of the identities.
    pub fn data_key(&self, identities: &[Identity]) -> Result<DataKey, SopsError> {
        let stanzas = self.age_stanzas();
        if stanzas.is_empty() {
            return Err(SopsError::NoAgeRecipients);
        }
        let mut damaged = Vec::new();
        let mut plugin = None;
        for (recipient, enc) in &stanzas {
            match wrap::unwrap(enc, recipient, identities) {
                Ok(key) => return Ok(key),
                Err(wrap::UnwrapError::Damaged) => damaged.push(recipient.clone()),
                Err(wrap::UnwrapError::NoMatch) => {}
                Err(wrap::UnwrapError::Plugin(message)) => {
                    plugin.get_or_insert((recipient.clone(), message));
                }
            }
        }
        if let Some((recipient, message)) = plugin {
            return Err(SopsError::Plugin { recipient, message });
        }
        if !damaged.is_empty() {
            return Err(SopsError::DamagedStanza {
                recipients: damaged,
            });
        }
        Err(SopsError::NoMatchingIdentity {
            recipients: stanzas.into_iter().map(|(r, _)| r).collect(),
        })
    }

    /// Decrypt every value and verify the MAC, ready to be changed and
    /// sealed again.
    pub fn open(self, identities: &[Identity]) -> Result<Opened, SopsError> {
        let key = self.data_key(identities)?;
        self.open_with(ValueCipher::new(key))
    }

    /// Like `open`, for reading only (no IV stash for re-encryption).
    pub fn open_to_read(self, identities: &[Identity]) -> Result<Opened, SopsError> {
        let key = self.data_key(identities)?;
        self.open_with(ValueCipher::read_only(key))
    }

    fn open_with(self, mut cipher: ValueCipher) -> Result<Opened, SopsError> {
        let rules = Rules::from_metadata(&self.metadata)?;
        let (plain, computed) = match walk::decrypt_tree(&self.body, &rules, &mut cipher) {
            Err(SopsError::ValueMalformed { .. })
                if self.format == Format::Binary && self.open_bytes_with(&cipher).is_ok() =>
            {
                return Err(SopsError::Unsupported(
                    "it holds bytes that are not UTF-8 text: ksec decrypts and renders such a file but cannot edit it; encrypt the new file with `ksec encrypt` instead".into(),
                ));
            }
            other => other?,
        };

        let lastmodified = self.lastmodified()?;
        let stored = tree::get(&self.metadata, "mac")
            .and_then(Value::as_str)
            .ok_or_else(|| SopsError::BadMetadata("the sops metadata has no mac".into()))?;
        let (_, stored_mac) = cipher
            .decrypt(stored, &lastmodified)
            .map_err(|_| SopsError::MacUnreadable)?;
        if stored_mac.expose_secret() != computed {
            return Err(SopsError::MacMismatch);
        }
        Ok(Opened {
            file: self,
            plain,
            cipher,
        })
    }

    fn lastmodified(&self) -> Result<String, SopsError> {
        tree::get(&self.metadata, "lastmodified")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| SopsError::BadMetadata("the sops metadata has no lastmodified".into()))
    }

    /// The whole file as text, in its format.
    pub fn emit(&self) -> Result<String, SopsError> {
        match self.format {
            Format::YamlStream => {
                let Value::Seq(docs) = &self.body else {
                    return Err(SopsError::Emit("the documents are not a list".into()));
                };
                let mut out = Vec::with_capacity(docs.len());
                for doc in docs {
                    let mut items = doc.as_map().cloned().unwrap_or_default();
                    items.push(Item::Pair("sops".into(), Value::Map(self.metadata.clone())));
                    out.push(Value::Map(items));
                }
                Ok(yaml_docs::emit(&out))
            }
            Format::Yaml | Format::Json | Format::Binary => {
                let Value::Map(body) = &self.body else {
                    return Err(SopsError::Emit("the document is not a map".into()));
                };
                let mut items = body.clone();
                items.push(Item::Pair("sops".into(), Value::Map(self.metadata.clone())));
                Ok(if self.format == Format::Yaml {
                    yaml::emit(&Value::Map(items))
                } else {
                    json::emit(&Value::Map(items))
                })
            }
            Format::Dotenv => {
                let Value::Map(body) = &self.body else {
                    return Err(SopsError::Emit("the document is not a map".into()));
                };
                let mut items = body.clone();
                items.extend(dotenv_pairs(&self.metadata));
                dotenv::emit(&Value::Map(items)).map_err(SopsError::Emit)
            }
            Format::Ini => {
                let Value::Map(body) = &self.body else {
                    return Err(SopsError::Emit("the document is not a map".into()));
                };
                let mut items = body.clone();
                items.push(Item::Pair(
                    "sops".into(),
                    metadata::ini_section(&self.metadata),
                ));
                ini::emit(&Value::Map(items)).map_err(SopsError::Emit)
            }
        }
    }

    fn set_metadata(&mut self, key: &str, value: Value) {
        if let Some(slot) = tree::get_mut(&mut self.metadata, key) {
            *slot = value;
            return;
        }
        let my_rank = metadata::rank(key);
        let at = self
            .metadata
            .iter()
            .position(|item| matches!(item, Item::Pair(k, _) if metadata::rank(k) > my_rank))
            .unwrap_or(self.metadata.len());
        self.metadata.insert(at, Item::Pair(key.to_string(), value));
    }
}

impl Opened {
    /// Re-encrypt `plain` (possibly changed) under the same data key and
    /// recipients. Unchanged values keep their exact ciphertext.
    pub fn seal(mut self) -> Result<EncryptedFile, SopsError> {
        let rules = Rules::from_metadata(&self.file.metadata)?;
        let (body, mac) = walk::encrypt_tree(&self.plain, &rules, &self.cipher);
        walk::check_encrypted_comments(&body, &rules)?;
        self.file.body = body;
        let now = rfc3339_now();
        let sealed_mac = self.cipher.encrypt(Some(Kind::Str), &mac, &now);
        self.file
            .set_metadata("lastmodified", Value::Leaf(Leaf::str(now)));
        self.file
            .set_metadata("mac", Value::Leaf(Leaf::str(sealed_mac)));
        Ok(self.file)
    }
}

/// Metadata keys of master-key types other than age; a file whose data key
/// is also held by one of these cannot have that key rotated by ksec.
const OTHER_MASTER_KEYS: &[&str] = &["pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"];

impl EncryptedFile {
    /// Whether ksec can give this file a new data key for `recipients`:
    /// not when other master-key types (pgp, kms, …) hold the old one.
    fn check_rotatable(&self, recipients: &[(String, &Recipient)]) -> Result<(), SopsError> {
        let others = self.other_key_types();
        if !others.is_empty() {
            return Err(SopsError::Unsupported(format!(
                "its data key is also held by {} keys, which ksec cannot re-wrap; rotate it with `sops rotate` instead",
                others.join(", ")
            )));
        }
        if recipients.is_empty() {
            return Err(SopsError::NoAgeRecipients);
        }
        Ok(())
    }

    /// The other master-key types (`pgp`, `kms`, …) that also hold this
    /// file's data key.
    pub fn other_key_types(&self) -> Vec<String> {
        OTHER_MASTER_KEYS
            .iter()
            .filter(|k| match tree::get(&self.metadata, k) {
                Some(Value::Seq(entries)) => !entries.is_empty(),
                Some(Value::Null) | None => false,
                Some(_) => true,
            })
            .map(|k| k.to_string())
            .collect()
    }

    /// Wrap `key`, this file's data key, for more recipients: one age stanza
    /// each, after the existing ones. The values, `mac`, `lastmodified` and
    /// the existing stanzas stay exactly as they are.
    pub fn add_recipients(
        &mut self,
        key: &DataKey,
        recipients: &[(String, &Recipient)],
    ) -> Result<(), SopsError> {
        let mut age = match tree::get(&self.metadata, "age") {
            Some(Value::Seq(entries)) => entries.clone(),
            _ => Vec::new(),
        };
        for (text, recipient) in recipients {
            age.push(age_stanza(key, text, recipient)?);
        }
        self.set_metadata("age", Value::Seq(age));
        Ok(())
    }

    /// The file as text after a change to its metadata only: `original` (the
    /// text it was parsed from) with just its metadata rewritten, so every
    /// byte of the body, comments included, stays. Falls back to [`emit`]
    /// when the metadata is not one block at the end of the file.
    ///
    /// [`emit`]: EncryptedFile::emit
    pub fn emit_metadata_change(&self, original: &str) -> Result<String, SopsError> {
        match self.format {
            Format::Yaml => {
                let Some(at) = super::fast_yaml::metadata_start(original) else {
                    return self.emit();
                };
                let meta = Value::Map(vec![Item::Pair(
                    "sops".into(),
                    Value::Map(self.metadata.clone()),
                )]);
                Ok(format!("{}{}", &original[..at], yaml::emit(&meta)))
            }
            Format::Dotenv => {
                let Some(at) = dotenv_metadata_start(original) else {
                    return self.emit();
                };
                let meta = dotenv::emit(&Value::Map(dotenv_pairs(&self.metadata)))
                    .map_err(SopsError::Emit)?;
                Ok(format!("{}{meta}", &original[..at]))
            }
            Format::Json | Format::Binary | Format::YamlStream | Format::Ini => self.emit(),
        }
    }

    /// The key paths of the encrypted values (`DB_PASSWORD`, `db.password`,
    /// `hosts[0]`), in document order. Names only: nothing is decrypted.
    pub fn encrypted_keys(&self) -> Result<Vec<String>, SopsError> {
        let rules = Rules::from_metadata(&self.metadata)?;
        Ok(walk::encrypted_paths(&self.body, &rules))
    }
}

impl Opened {
    /// Rotate the data key: a new one, every value re-encrypted under it with
    /// fresh IVs, a new MAC and `lastmodified`, and the key wrapped for
    /// exactly `recipients` (the old stanzas are dropped). Refused when other
    /// master-key types (pgp, kms, …) hold the old key, since ksec cannot
    /// re-wrap for those.
    pub fn rotate(
        mut self,
        recipients: &[(String, &Recipient)],
    ) -> Result<EncryptedFile, SopsError> {
        self.file.check_rotatable(recipients)?;
        let key = DataKey::generate();
        let mut age = Vec::with_capacity(recipients.len());
        for (text, recipient) in recipients {
            age.push(age_stanza(&key, text, recipient)?);
        }
        self.file.set_metadata("age", Value::Seq(age));
        self.cipher = ValueCipher::new(key);
        self.seal()
    }
}

fn age_stanza(key: &DataKey, text: &str, recipient: &Recipient) -> Result<Value, SopsError> {
    let enc = wrap::wrap(key, recipient).map_err(SopsError::Emit)?;
    Ok(Value::Map(vec![
        Item::Pair("recipient".into(), Value::Leaf(Leaf::str(text.to_string()))),
        Item::Pair("enc".into(), Value::Leaf(Leaf::str(enc))),
    ]))
}

/// Encrypt plaintext for the recipients, as a new SOPS file.
pub fn encrypt_new(
    plain: Value,
    format: Format,
    recipients: &[(String, Recipient)],
) -> Result<EncryptedFile, SopsError> {
    encrypt_new_with(
        plain,
        format,
        recipients,
        ("unencrypted_suffix", DEFAULT_UNENCRYPTED_SUFFIX),
    )
}

/// Encrypt plaintext for the recipients as a new SOPS file in which only
/// the leaves under a key matching `regex` are encrypted (sops's
/// `encrypted_regex`; for a Kubernetes Secret `^(data|stringData)$`, so
/// names, labels and kind stay readable). The MAC still covers every leaf.
pub fn encrypt_new_matching(
    plain: Value,
    format: Format,
    recipients: &[(String, Recipient)],
    regex: &str,
) -> Result<EncryptedFile, SopsError> {
    regex::Regex::new(regex)
        .map_err(|_| SopsError::Emit("encrypted_regex is not a valid regular expression".into()))?;
    encrypt_new_with(plain, format, recipients, ("encrypted_regex", regex))
}

fn encrypt_new_with(
    plain: Value,
    format: Format,
    recipients: &[(String, Recipient)],
    (rule_key, rule): (&str, &str),
) -> Result<EncryptedFile, SopsError> {
    if has_sops_metadata(&plain, format) {
        return Err(SopsError::AlreadyEncrypted);
    }
    let stream_of_maps = format == Format::YamlStream
        && matches!(&plain, Value::Seq(docs) if docs.iter().all(|d| matches!(d, Value::Map(_))));
    if !matches!(plain, Value::Map(_)) && !stream_of_maps {
        return Err(SopsError::Emit(
            "the document must be a map of keys to values".into(),
        ));
    }
    let key = DataKey::generate();
    let mut age = Vec::new();
    for (text, recipient) in recipients {
        age.push(age_stanza(&key, text, recipient)?);
    }
    let metadata = vec![
        Item::Pair("age".into(), Value::Seq(age)),
        Item::Pair(rule_key.into(), Value::Leaf(Leaf::str(rule))),
        Item::Pair("version".into(), Value::Leaf(Leaf::str(SOPS_VERSION))),
    ];
    let file = EncryptedFile {
        format,
        body: Value::Map(Vec::new()),
        metadata,
    };
    Opened {
        file,
        plain,
        cipher: ValueCipher::new(key),
    }
    .seal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_metadata_flattens_and_unflattens() {
        let text = "A=1\nsops_age__list_0__map_enc=E0\nsops_age__list_0__map_recipient=R0\nsops_age__list_1__map_enc=E1\nsops_age__list_1__map_recipient=R1\nsops_lastmodified=T\nsops_mac=M\nsops_unencrypted_suffix=_unencrypted\nsops_version=3.11.0\n";
        let file = EncryptedFile::parse(text, Format::Dotenv).unwrap();
        assert_eq!(file.recipients(), vec!["R0".to_string(), "R1".to_string()]);
        assert_eq!(file.emit().unwrap(), text);
    }

    fn person() -> (Identity, String, Recipient) {
        let identity = age::x25519::Identity::generate();
        let public = identity.to_public();
        (
            Identity::x25519(identity),
            public.to_string(),
            Recipient::X25519(public),
        )
    }

    fn encrypted(text: &str, format: Format, to: &[(&String, &Recipient)]) -> String {
        let plain = parse_plain(text, format).unwrap();
        let recipients: Vec<(String, Recipient)> = to
            .iter()
            .map(|(t, _)| (t.to_string(), Recipient::parse(t).unwrap()))
            .collect();
        encrypt_new(plain, format, &recipients)
            .unwrap()
            .emit()
            .unwrap()
    }

    fn plaintext(text: &str, format: Format, identity: &Identity) -> Result<String, SopsError> {
        let opened =
            EncryptedFile::parse(text, format)?.open_to_read(std::slice::from_ref(identity))?;
        emit_plain(&opened.plain, format)
    }

    #[test]
    fn add_recipients_appends_a_stanza_and_keeps_every_other_byte() {
        let (a_id, a, a_r) = person();
        let (b_id, b, b_r) = person();
        for (plain, format) in [
            (
                "db:\n    password: hunter2\n    port: 5432\nlist:\n    - x\n",
                Format::Yaml,
            ),
            ("TOKEN=abc\nMODE=live\n", Format::Dotenv),
        ] {
            // a comment ksec would not write: kept, as it is outside the MAC
            let mut original = encrypted(plain, format, &[(&a, &a_r)]);
            original.insert_str(0, "# keep me\n");
            assert_eq!(
                plaintext(&original, format, &b_id),
                Err(SopsError::NoMatchingIdentity {
                    recipients: vec![a.clone()]
                })
            );
            let opened = EncryptedFile::parse(&original, format)
                .unwrap()
                .open_to_read(std::slice::from_ref(&a_id))
                .unwrap();
            let key = opened.cipher.key().clone();
            let mut file = opened.file;
            file.add_recipients(&key, &[(b.clone(), &b_r)]).unwrap();
            let text = file.emit_metadata_change(&original).unwrap();
            // the old text is the new one without the added lines
            let new_lines: Vec<&str> = text.lines().collect();
            let old_lines: Vec<&str> = original.lines().collect();
            let mut i = 0;
            let mut added = Vec::new();
            for line in &new_lines {
                if i < old_lines.len() && *line == old_lines[i] {
                    i += 1;
                } else {
                    added.push(*line);
                }
            }
            assert_eq!(i, old_lines.len(), "{format:?}: a line changed");
            assert!(added.iter().any(|l| l.contains(&b)), "{added:?}");
            assert!(added.iter().all(|l| !l.contains("ENC[")), "{added:?}");
            let before = plaintext(&original, format, &a_id).unwrap();
            assert!(before.ends_with(plain));
            assert_eq!(plaintext(&text, format, &b_id).unwrap(), before);
            assert_eq!(plaintext(&text, format, &a_id).unwrap(), before);
        }
    }

    #[test]
    fn rotate_changes_the_data_key_and_every_value() {
        let (a_id, a, a_r) = person();
        let (b_id, b, b_r) = person();
        let plain = "db:\n    password: hunter2\n    port: 5432\nflag: true\nempty: \"\"\n";
        let original = encrypted(plain, Format::Yaml, &[(&a, &a_r), (&b, &b_r)]);
        let file = EncryptedFile::parse(&original, Format::Yaml).unwrap();
        let old_key = file.data_key(std::slice::from_ref(&a_id)).unwrap();
        let rotated = file
            .open_to_read(std::slice::from_ref(&a_id))
            .unwrap()
            .rotate(&[(a.clone(), &a_r)])
            .unwrap();
        assert_eq!(rotated.recipients(), vec![a.clone()]);
        let text = rotated.emit().unwrap();
        assert_eq!(plaintext(&text, Format::Yaml, &a_id).unwrap(), plain);
        assert!(matches!(
            plaintext(&text, Format::Yaml, &b_id),
            Err(SopsError::NoMatchingIdentity { .. })
        ));
        let new_key = rotated.data_key(std::slice::from_ref(&a_id)).unwrap();
        assert_ne!(old_key.bytes(), new_key.bytes());
        for line in original.lines().filter(|l| l.contains("ENC[")) {
            assert!(!text.contains(line.trim()), "kept {line}");
        }
    }

    #[test]
    fn rotate_keeps_yaml_comments_under_the_new_key() {
        let (a_id, a, a_r) = person();
        let plain =
            "# owner\ndb:\n    # the user\n    user: u\nhosts:\n    # first\n    - h1\n# end\n";
        let original = encrypted(plain, Format::Yaml, &[(&a, &a_r)]);
        assert_eq!(original.matches(",type:comment]").count(), 4, "{original}");
        let rotated = EncryptedFile::parse(&original, Format::Yaml)
            .unwrap()
            .open_to_read(std::slice::from_ref(&a_id))
            .unwrap()
            .rotate(&[(a.clone(), &a_r)])
            .unwrap();
        let text = rotated.emit().unwrap();
        assert_eq!(text.matches(",type:comment]").count(), 4, "{text}");
        assert_eq!(plaintext(&text, Format::Yaml, &a_id).unwrap(), plain);
    }

    #[test]
    fn a_comment_whose_ciphertext_would_read_as_unencrypted_is_refused() {
        let (a_id, a, a_r) = person();
        let original = encrypted("# note\nk: v\n", Format::Yaml, &[(&a, &a_r)]);
        let mut opened = EncryptedFile::parse(&original, Format::Yaml)
            .unwrap()
            .open(std::slice::from_ref(&a_id))
            .unwrap();
        // every encrypted comment matches: read back, the file would not
        // decrypt, so sops refuses to write it
        opened.file.set_metadata(
            "unencrypted_comment_regex",
            Value::Leaf(Leaf::str("AES256_GCM")),
        );
        assert!(matches!(
            opened.seal(),
            Err(SopsError::Unsupported(why)) if why.contains("unencrypted_comment_regex")
        ));
    }

    #[test]
    fn rotate_refuses_a_file_whose_key_other_master_keys_hold() {
        let (a_id, a, a_r) = person();
        let mut file = EncryptedFile::parse(
            &encrypted("k: v\n", Format::Yaml, &[(&a, &a_r)]),
            Format::Yaml,
        )
        .unwrap();
        file.set_metadata(
            "pgp",
            Value::Seq(vec![Value::Map(vec![Item::Pair(
                "fp".into(),
                Value::Leaf(Leaf::str("ABC")),
            )])]),
        );
        // the MAC does not cover metadata other than lastmodified
        let opened = file.open_to_read(std::slice::from_ref(&a_id)).unwrap();
        assert_eq!(opened.file.other_key_types(), vec!["pgp".to_string()]);
        assert!(matches!(
            opened.rotate(&[(a.clone(), &a_r)]),
            Err(SopsError::Unsupported(why)) if why.contains("pgp")
        ));
    }

    #[test]
    fn encrypted_keys_are_named_without_decrypting() {
        let (_, a, a_r) = person();
        let text = encrypted(
            "DB_PASSWORD: x\ndb:\n    user: u\n    hosts:\n        - h1\n        - h2\nnote_unencrypted: hi\nempty: \"\"\n",
            Format::Yaml,
            &[(&a, &a_r)],
        );
        let file = EncryptedFile::parse(&text, Format::Yaml).unwrap();
        assert_eq!(
            file.encrypted_keys().unwrap(),
            ["DB_PASSWORD", "db.user", "db.hosts[0]", "db.hosts[1]"]
        );
    }
}
