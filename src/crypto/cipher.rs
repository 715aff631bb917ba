//! One SOPS value: AES-256-GCM with a 32-byte IV, the value's key path as
//! additional data, written as `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
//!
//! An IV stash remembers the IV of every value decrypted from a file, keyed
//! by (path, type, plaintext); re-encrypting an unchanged value with its old
//! IV reproduces its old ciphertext byte for byte, so git shows only the
//! values that really changed.

use super::tree::{Kind, Leaf};
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use zeroize::Zeroizing;

type Gcm = AesGcm<Aes256, U32>;

pub const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The per-file data key: 32 random bytes, wiped on drop.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> DataKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(key.as_mut());
        DataKey(key)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(array)))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Gcm {
        Gcm::new_from_slice(&self.0[..]).expect("a data key is 32 bytes")
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// Why a value could not be decrypted. Never carries plaintext.
#[derive(Debug, PartialEq, Eq)]
pub enum ValueError {
    /// Not of the form `ENC[AES256_GCM,…]`.
    Malformed,
    /// The type tag is not one sops writes.
    UnknownType(String),
    /// Authentication failed: wrong key, changed bytes, or moved value.
    Authentication,
}

struct Parsed {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    kind: String,
}

fn parse(value: &str) -> Result<Parsed, ValueError> {
    let inner = value
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|s| s.strip_suffix(']'))
        .ok_or(ValueError::Malformed)?;
    let mut data = None;
    let mut iv = None;
    let mut tag = None;
    let mut kind = None;
    for field in inner.split(',') {
        let (name, content) = field.split_once(':').ok_or(ValueError::Malformed)?;
        match name {
            "data" => data = Some(content),
            "iv" => iv = Some(content),
            "tag" => tag = Some(content),
            "type" => kind = Some(content),
            _ => return Err(ValueError::Malformed),
        }
    }
    let decode = |s: Option<&str>| {
        s.ok_or(ValueError::Malformed)
            .and_then(|s| B64.decode(s).map_err(|_| ValueError::Malformed))
    };
    Ok(Parsed {
        data: decode(data)?,
        iv: decode(iv)?,
        tag: decode(tag)?,
        kind: kind.ok_or(ValueError::Malformed)?.to_string(),
    })
}

/// Whether a string is an encrypted SOPS value.
pub fn is_encrypted(value: &str) -> bool {
    value.starts_with("ENC[AES256_GCM,") && value.ends_with(']')
}

/// (path, type, plaintext) digested, so the stash holds no plaintext.
type StashKey = [u8; 32];

fn stash_key(aad: &str, kind: Kind, plaintext: &str) -> StashKey {
    let mut h = Sha256::new();
    for part in [aad, kind.tag(), plaintext] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// Encrypts and decrypts values under one data key, remembering IVs.
pub struct ValueCipher {
    key: DataKey,
    /// The AES key schedule, expanded once per file rather than per value.
    gcm: Gcm,
    stash: HashMap<StashKey, Vec<u8>>,
}

impl ValueCipher {
    pub fn new(key: DataKey) -> ValueCipher {
        ValueCipher {
            gcm: key.cipher(),
            key,
            stash: HashMap::new(),
        }
    }

    pub fn key(&self) -> &DataKey {
        &self.key
    }

    /// Decrypt one value; `kind` is `None` for a comment.
    pub fn decrypt(
        &mut self,
        value: &str,
        aad: &str,
    ) -> Result<(Option<Kind>, SecretString), ValueError> {
        let parsed = parse(value)?;
        let kind = match parsed.kind.as_str() {
            "comment" => None,
            tag => Some(Kind::from_tag(tag).ok_or_else(|| ValueError::UnknownType(tag.into()))?),
        };
        if parsed.iv.is_empty() || parsed.tag.len() != TAG_LEN {
            return Err(ValueError::Malformed);
        }
        let mut sealed = parsed.data;
        sealed.extend_from_slice(&parsed.tag);
        let plain = if parsed.iv.len() == IV_LEN {
            self.gcm.decrypt(
                Nonce::<U32>::from_slice(&parsed.iv),
                Payload {
                    msg: &sealed,
                    aad: aad.as_bytes(),
                },
            )
        } else {
            // sops reads any IV length; it only ever writes 32 bytes.
            return Err(ValueError::Malformed);
        }
        .map_err(|_| ValueError::Authentication)?;
        let plain = Zeroizing::new(plain);
        let text = String::from_utf8(plain.to_vec()).map_err(|e| {
            let mut bytes = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut bytes);
            ValueError::Malformed
        })?;
        let text = Zeroizing::new(text);
        self.stash
            .insert(stash_key(aad, kind.unwrap_or(Kind::Str), &text), parsed.iv);
        Ok((kind, SecretString::from(text.to_string())))
    }

    /// Encrypt a leaf (or a comment with `kind = None`). Empty strings stay
    /// empty, as in sops.
    pub fn encrypt(&self, kind: Option<Kind>, plaintext: &str, aad: &str) -> String {
        if plaintext.is_empty() && kind.is_none_or(|k| k == Kind::Str) {
            return String::new();
        }
        let iv = match self
            .stash
            .get(&stash_key(aad, kind.unwrap_or(Kind::Str), plaintext))
        {
            Some(iv) => iv.clone(),
            None => {
                let mut iv = vec![0u8; IV_LEN];
                rand::thread_rng().fill_bytes(&mut iv);
                iv
            }
        };
        let sealed = self
            .gcm
            .encrypt(
                Nonce::<U32>::from_slice(&iv),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let (data, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
            B64.encode(data),
            B64.encode(&iv),
            B64.encode(tag),
            kind.map_or("comment", Kind::tag)
        )
    }

    pub fn encrypt_leaf(&self, leaf: &Leaf, aad: &str) -> String {
        self.encrypt(Some(leaf.kind), leaf.expose(), aad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_ciphertext_is_stable_for_unchanged_values() {
        let mut cipher = ValueCipher::new(DataKey::generate());
        let enc = cipher.encrypt(Some(Kind::Str), "hunter2", "db:password:");
        let (kind, plain) = cipher.decrypt(&enc, "db:password:").unwrap();
        assert_eq!(kind, Some(Kind::Str));
        assert_eq!(secrecy::ExposeSecret::expose_secret(&plain), "hunter2");
        // after decryption the IV is stashed: same plaintext, same bytes
        assert_eq!(
            cipher.encrypt(Some(Kind::Str), "hunter2", "db:password:"),
            enc
        );
        // a different value gets a fresh IV
        assert_ne!(
            cipher.encrypt(Some(Kind::Str), "hunter3", "db:password:"),
            enc
        );
    }

    #[test]
    fn a_value_moved_to_another_key_does_not_authenticate() {
        let mut cipher = ValueCipher::new(DataKey::generate());
        let enc = cipher.encrypt(Some(Kind::Str), "v", "a:");
        assert_eq!(
            cipher.decrypt(&enc, "b:").unwrap_err(),
            ValueError::Authentication
        );
    }

    #[test]
    fn empty_strings_stay_empty() {
        let cipher = ValueCipher::new(DataKey::generate());
        assert_eq!(cipher.encrypt(Some(Kind::Str), "", "k:"), "");
    }
}
