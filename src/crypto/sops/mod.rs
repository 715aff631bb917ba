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

use super::cipher::{DataKey, ValueCipher, ValueError, is_encrypted};
use super::tree::{self, Item, Kind, Leaf, Value};
use super::wrap::{self, Identity, Recipient};
use super::{dotenv, yaml};
use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha512};

/// The sops format version ksec writes into new files (the format it
/// implements and is tested against).
pub const SOPS_VERSION: &str = "3.11.0";
const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// 32 bytes sops hashes first when `mac_only_encrypted` is set.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Order in which sops writes its metadata keys.
const METADATA_ORDER: &[&str] = &[
    "shamir_threshold",
    "key_groups",
    "kms",
    "gcp_kms",
    "hckms",
    "azure_kv",
    "hc_vault",
    "age",
    "lastmodified",
    "mac",
    "pgp",
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
    "mac_only_encrypted",
    "version",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Dotenv,
}

impl Format {
    /// `.env` and `*.env` are dotenv; everything else is YAML.
    pub fn from_path(path: &std::path::Path) -> Format {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "env" || name == ".env" || name.starts_with(".env.") {
            Format::Dotenv
        } else {
            Format::Yaml
        }
    }
}

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
    /// A sops JSON or binary file: ksec reads and writes YAML and dotenv only.
    OtherStore(OtherStore),
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
/// `commands::sops_error` adds the exit code and what to do.
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
            SopsError::OtherStore(store) => write!(
                f,
                "a SOPS {} file, which ksec does not support yet (YAML and dotenv only)",
                store.name()
            ),
            SopsError::Unsupported(why) | SopsError::Emit(why) => f.write_str(why),
            SopsError::BadMetadata(why) => write!(f, "damaged sops metadata: {why}"),
            SopsError::NoAgeRecipients => f.write_str("it has no age recipients"),
            SopsError::NoMatchingIdentity { .. } => {
                f.write_str("none of your identities is one of its recipients")
            }
            SopsError::DamagedStanza { .. } => f.write_str("its data key stanza is damaged"),
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

/// The rules that decide which leaves are encrypted.
#[derive(Debug, Default, Clone)]
struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
    mac_only_encrypted: bool,
}

impl Rules {
    fn from_metadata(meta: &[Item]) -> Result<Rules, SopsError> {
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

    fn should_encrypt(&self, path: &[String]) -> bool {
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

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
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
        (Format::Yaml, Value::Map(items)) => tree::get(items, "sops").is_some(),
        (Format::Dotenv, Value::Map(items)) => items
            .iter()
            .any(|i| matches!(i, Item::Pair(k, _) if k.starts_with("sops_"))),
        _ => false,
    }
}

/// Parse plaintext in the given format.
pub fn parse_plain(text: &str, format: Format) -> Result<Value, SopsError> {
    match format {
        Format::Yaml => yaml::parse(text).map_err(|e| {
            if e.limit {
                SopsError::Limit { message: e.message }
            } else {
                SopsError::Syntax {
                    line: e.line,
                    message: e.message,
                }
            }
        }),
        Format::Dotenv => dotenv::parse(text).map_err(|e| SopsError::Syntax {
            line: Some(e.line),
            message: e.message,
        }),
    }
}

/// Write plaintext in the given format.
pub fn emit_plain(value: &Value, format: Format) -> Result<String, SopsError> {
    match format {
        Format::Yaml => Ok(yaml::emit(value)),
        Format::Dotenv => dotenv::emit(value).map_err(SopsError::Emit),
    }
}

/// sops's JSON and binary stores, which ksec cannot write back (yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherStore {
    Json,
    /// A file sops encrypted whole: `{"data": "ENC[…]", "sops": {…}}`.
    Binary,
}

impl OtherStore {
    pub fn name(self) -> &'static str {
        match self {
            OtherStore::Json => "JSON",
            OtherStore::Binary => "binary",
        }
    }

    /// What `text` is when it is an encrypted sops JSON or binary file: a
    /// JSON object (sops writes it starting with `{`) with a `sops` key.
    pub fn of_encrypted(text: &str) -> Option<OtherStore> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let object = value.as_object()?;
        object.get("sops")?.as_object()?;
        let binary = object.len() == 2
            && object
                .get("data")
                .and_then(|d| d.as_str())
                .is_some_and(is_encrypted);
        Some(if binary {
            OtherStore::Binary
        } else {
            OtherStore::Json
        })
    }
}

impl EncryptedFile {
    pub fn parse(text: &str, format: Format) -> Result<EncryptedFile, SopsError> {
        if let Some(store) = OtherStore::of_encrypted(text) {
            return Err(SopsError::OtherStore(store));
        }
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
        let value = parse_plain(text, format)?;
        let Value::Map(items) = value else {
            return Err(SopsError::NotEncrypted);
        };
        let (body, metadata) = match format {
            Format::Yaml => split_yaml_metadata(items)?,
            Format::Dotenv => split_dotenv_metadata(items)?,
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
        for (recipient, enc) in &stanzas {
            match wrap::unwrap(enc, recipient, identities) {
                Ok(key) => return Ok(key),
                Err(wrap::UnwrapError::Damaged) => damaged.push(recipient.clone()),
                Err(wrap::UnwrapError::NoMatch) => {}
            }
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
        let mut hasher = Sha512::new();
        if rules.mac_only_encrypted {
            hasher.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        let mut path = Vec::new();
        let plain = decrypt_value(&self.body, &mut path, &rules, &mut cipher, &mut hasher)?;
        let computed = hex_upper(&hasher.finalize());

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
            Format::Yaml => {
                let Value::Map(body) = &self.body else {
                    return Err(SopsError::Emit("the document is not a map".into()));
                };
                let mut items = body.clone();
                items.push(Item::Pair("sops".into(), Value::Map(self.metadata.clone())));
                Ok(yaml::emit(&Value::Map(items)))
            }
            Format::Dotenv => {
                let Value::Map(body) = &self.body else {
                    return Err(SopsError::Emit("the document is not a map".into()));
                };
                let mut items = body.clone();
                let mut flat = Vec::new();
                flatten(&Value::Map(self.metadata.clone()), "sops", &mut flat);
                flat.sort_by(|a, b| a.0.cmp(&b.0));
                for (key, value) in flat {
                    items.push(Item::Pair(key, Value::Leaf(Leaf::str(value))));
                }
                dotenv::emit(&Value::Map(items)).map_err(SopsError::Emit)
            }
        }
    }

    fn set_metadata(&mut self, key: &str, value: Value) {
        if let Some(slot) = tree::get_mut(&mut self.metadata, key) {
            *slot = value;
            return;
        }
        let rank = |k: &str| {
            METADATA_ORDER
                .iter()
                .position(|o| *o == k)
                .unwrap_or(usize::MAX)
        };
        let my_rank = rank(key);
        let at = self
            .metadata
            .iter()
            .position(|item| matches!(item, Item::Pair(k, _) if rank(k) > my_rank))
            .unwrap_or(self.metadata.len());
        self.metadata.insert(at, Item::Pair(key.to_string(), value));
    }
}

impl Opened {
    /// Re-encrypt `plain` (possibly changed) under the same data key and
    /// recipients. Unchanged values keep their exact ciphertext.
    pub fn seal(mut self) -> Result<EncryptedFile, SopsError> {
        let rules = Rules::from_metadata(&self.file.metadata)?;
        let (body, mac) = encrypt_tree(&self.plain, &rules, &self.cipher);
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
                let Some(at) = yaml_metadata_start(original) else {
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
                let mut flat = Vec::new();
                flatten(&Value::Map(self.metadata.clone()), "sops", &mut flat);
                flat.sort_by(|a, b| a.0.cmp(&b.0));
                let items = flat
                    .into_iter()
                    .map(|(k, v)| Item::Pair(k, Value::Leaf(Leaf::str(v))))
                    .collect();
                let meta = dotenv::emit(&Value::Map(items)).map_err(SopsError::Emit)?;
                Ok(format!("{}{meta}", &original[..at]))
            }
        }
    }

    /// The key paths of the encrypted values (`DB_PASSWORD`, `db.password`,
    /// `hosts[0]`), in document order. Names only: nothing is decrypted.
    pub fn encrypted_keys(&self) -> Result<Vec<String>, SopsError> {
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
        let rules = Rules::from_metadata(&self.metadata)?;
        let mut out = Vec::new();
        walk(&self.body, &mut Vec::new(), "", &rules, &mut out);
        Ok(out)
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
        let others = self.file.other_key_types();
        if !others.is_empty() {
            return Err(SopsError::Unsupported(format!(
                "its data key is also held by {} keys, which ksec cannot re-wrap; rotate it with `sops rotate` instead",
                others.join(", ")
            )));
        }
        if recipients.is_empty() {
            return Err(SopsError::NoAgeRecipients);
        }
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

/// Where the `sops:` block starts when it is the last top-level key.
fn yaml_metadata_start(text: &str) -> Option<usize> {
    let at = if text.starts_with("sops:") {
        0
    } else {
        text.find("\nsops:")? + 1
    };
    let mut lines = text[at..].lines();
    let first = lines.next()?;
    if first.trim_end() != "sops:" {
        return None;
    }
    lines
        .all(|l| l.is_empty() || l.starts_with(' '))
        .then_some(at)
}

/// Where the `sops_…` lines start when nothing else follows them.
fn dotenv_metadata_start(text: &str) -> Option<usize> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let is_meta = line.starts_with("sops_");
        match (start, is_meta) {
            (None, true) => start = Some(offset),
            (Some(_), false) if !line.trim().is_empty() => return None,
            _ => {}
        }
        offset += line.len();
    }
    start
}

/// Encrypt plaintext for the recipients, as a new SOPS file.
pub fn encrypt_new(
    plain: Value,
    format: Format,
    recipients: &[(String, Recipient)],
) -> Result<EncryptedFile, SopsError> {
    if has_sops_metadata(&plain, format) {
        return Err(SopsError::AlreadyEncrypted);
    }
    if !matches!(plain, Value::Map(_)) {
        return Err(SopsError::Emit(
            "the document must be a map of keys to values".into(),
        ));
    }
    let key = DataKey::generate();
    let mut age = Vec::new();
    for (text, recipient) in recipients {
        let enc = wrap::wrap(&key, recipient).map_err(SopsError::Emit)?;
        age.push(Value::Map(vec![
            Item::Pair("recipient".into(), Value::Leaf(Leaf::str(text.clone()))),
            Item::Pair("enc".into(), Value::Leaf(Leaf::str(enc))),
        ]));
    }
    let metadata = vec![
        Item::Pair("age".into(), Value::Seq(age)),
        Item::Pair(
            "unencrypted_suffix".into(),
            Value::Leaf(Leaf::str(DEFAULT_UNENCRYPTED_SUFFIX)),
        ),
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
fn encrypt_tree(plain: &Value, rules: &Rules, cipher: &ValueCipher) -> (Value, String) {
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

fn split_yaml_metadata(items: Vec<Item>) -> Result<(Vec<Item>, Vec<Item>), SopsError> {
    let mut body = Vec::with_capacity(items.len());
    let mut metadata = None;
    for item in items {
        match item {
            Item::Pair(key, Value::Map(meta)) if key == "sops" => metadata = Some(meta),
            Item::Pair(key, _) if key == "sops" => {
                return Err(SopsError::BadMetadata(
                    "the sops key does not hold a map".into(),
                ));
            }
            other => body.push(other),
        }
    }
    Ok((body, metadata.ok_or(SopsError::NotEncrypted)?))
}

fn split_dotenv_metadata(items: Vec<Item>) -> Result<(Vec<Item>, Vec<Item>), SopsError> {
    let mut body = Vec::with_capacity(items.len());
    let mut flat = Vec::new();
    for item in items {
        match item {
            Item::Pair(key, value) if key.starts_with("sops_") => {
                let text = value.as_str().unwrap_or_default().to_string();
                flat.push((key["sops_".len()..].to_string(), text));
            }
            other => body.push(other),
        }
    }
    if flat.is_empty() {
        return Err(SopsError::NotEncrypted);
    }
    Ok((body, unflatten(flat)?))
}

/// sops's flattening of metadata for flat formats: nested map keys are
/// joined with `__map_`, list positions with `__list_N`.
fn flatten(value: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Map(items) => {
            for item in items {
                if let Item::Pair(k, v) = item {
                    let key = if prefix == "sops" {
                        format!("sops_{k}")
                    } else {
                        format!("{prefix}__map_{k}")
                    };
                    flatten(v, &key, out);
                }
            }
        }
        Value::Seq(values) => {
            for (i, v) in values.iter().enumerate() {
                flatten(v, &format!("{prefix}__list_{i}"), out);
            }
        }
        Value::Leaf(leaf) => {
            let text = match leaf.kind {
                Kind::Bool => leaf.expose().to_ascii_lowercase(),
                _ => leaf.expose().to_string(),
            };
            out.push((prefix.to_string(), text));
        }
        Value::Null => {}
    }
}

enum Token {
    Key(String),
    Index(usize),
}

fn tokenize(path: &str) -> Result<Vec<Token>, SopsError> {
    let bad = || SopsError::BadMetadata(format!("unreadable metadata key sops_{path}"));
    let mut tokens = Vec::new();
    let mut rest = path;
    let mut state_list = false;
    loop {
        let next_map = rest.find("__map_");
        let next_list = rest.find("__list_");
        let cut = match (next_map, next_list) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (head, tail) = match cut {
            Some(pos) => (&rest[..pos], Some(&rest[pos..])),
            None => (rest, None),
        };
        tokens.push(if state_list {
            Token::Index(head.parse().map_err(|_| bad())?)
        } else {
            Token::Key(head.to_string())
        });
        match tail {
            None => break,
            Some(t) if t.starts_with("__map_") => {
                state_list = false;
                rest = &t["__map_".len()..];
            }
            Some(t) => {
                state_list = true;
                rest = &t["__list_".len()..];
            }
        }
    }
    Ok(tokens)
}

/// Deepest nesting accepted in flattened metadata (sops writes at most 3).
const MAX_METADATA_DEPTH: usize = 16;

/// Check every list in flattened metadata before building it: its indices
/// must be exactly 0..n (as sops requires), so no index taken from the file
/// can make ksec allocate more than the file itself holds.
fn check_flat_lists(keys: &[Vec<Token>]) -> Result<(), SopsError> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut lists: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for tokens in keys {
        if tokens.len() > MAX_METADATA_DEPTH {
            return Err(SopsError::BadMetadata(format!(
                "a flattened metadata key is nested more than {MAX_METADATA_DEPTH} levels deep"
            )));
        }
        let mut prefix = String::new();
        for token in tokens {
            match token {
                Token::Key(k) => {
                    prefix.push_str("__map_");
                    prefix.push_str(k);
                }
                Token::Index(i) => {
                    lists.entry(prefix.clone()).or_default().insert(*i);
                    prefix.push_str(&format!("__list_{i}"));
                }
            }
        }
    }
    for (prefix, indices) in lists {
        let max = indices.last().copied().unwrap_or(0);
        if max >= indices.len() {
            return Err(SopsError::BadMetadata(format!(
                "the list sops_{} has {} entries but an index {max} (indices must run from 0 without gaps)",
                prefix.strip_prefix("__map_").unwrap_or(&prefix),
                indices.len()
            )));
        }
    }
    Ok(())
}

fn unflatten(flat: Vec<(String, String)>) -> Result<Vec<Item>, SopsError> {
    fn insert(node: &mut Value, tokens: &[Token], text: String) -> Result<(), SopsError> {
        let bad = || SopsError::BadMetadata("inconsistent flattened sops metadata".into());
        let Some((first, rest)) = tokens.split_first() else {
            *node = Value::Leaf(Leaf::str(text));
            return Ok(());
        };
        let fresh = |next: Option<&Token>| match next {
            Some(Token::Index(_)) => Value::Seq(Vec::new()),
            _ => Value::Map(Vec::new()),
        };
        match (first, node) {
            (Token::Key(k), Value::Map(items)) => {
                if tree::get(items, k).is_none() {
                    items.push(Item::Pair(k.clone(), fresh(rest.first())));
                }
                insert(tree::get_mut(items, k).ok_or_else(bad)?, rest, text)
            }
            (Token::Index(i), Value::Seq(values)) => {
                while values.len() <= *i {
                    values.push(fresh(rest.first()));
                }
                insert(&mut values[*i], rest, text)
            }
            _ => Err(bad()),
        }
    }
    let tokenized = flat
        .iter()
        .map(|(key, _)| tokenize(key))
        .collect::<Result<Vec<_>, _>>()?;
    check_flat_lists(&tokenized)?;
    let mut root = Value::Map(Vec::new());
    for (tokens, (_, value)) in tokenized.iter().zip(flat) {
        insert(&mut root, tokens, value)?;
    }
    let Value::Map(mut items) = root else {
        unreachable!("root is a map")
    };
    // Restore sops's order so that a YAML rendering reads naturally.
    let rank = |item: &Item| match item {
        Item::Pair(k, _) => METADATA_ORDER
            .iter()
            .position(|o| o == k)
            .unwrap_or(usize::MAX),
        Item::Comment(_) => usize::MAX,
    };
    items.sort_by_key(rank);
    Ok(items)
}

/// Now, as sops writes `lastmodified`: RFC 3339, UTC, whole seconds.
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_776_142), "2026-11-27T10:42:22Z");
    }

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
