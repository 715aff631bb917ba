//! One SOPS value: AES-256-GCM with a 32-byte IV, the value's key path as
//! additional data, written as `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
//!
//! An IV stash remembers the IV of every value decrypted from a file, by
//! path, with its type and plaintext; re-encrypting an unchanged value with its old
//! IV reproduces its old ciphertext byte for byte, so git shows only the
//! values that really changed.

use super::tree::{Kind, Leaf};
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
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
    /// The plaintext does not parse as its `type:` tag (the tag, which the
    /// ciphertext does not authenticate, was changed).
    WrongType(&'static str),
}

/// The fields of an `ENC[…]` value, still base64.
struct Parsed<'a> {
    data: &'a str,
    iv: &'a str,
    tag: &'a str,
    kind: &'a str,
}

fn parse(value: &str) -> Result<Parsed<'_>, ValueError> {
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
    Ok(Parsed {
        data: data.ok_or(ValueError::Malformed)?,
        iv: iv.ok_or(ValueError::Malformed)?,
        tag: tag.ok_or(ValueError::Malformed)?,
        kind: kind.ok_or(ValueError::Malformed)?,
    })
}

/// Decode base64 into a fixed-size array; anything but exactly N bytes is malformed.
fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], ValueError> {
    let mut buf = [0u8; N];
    // room for base64's rounding up; the length check below is exact
    let mut scratch = [0u8; 48];
    let n = B64
        .decode_slice(text, &mut scratch)
        .map_err(|_| ValueError::Malformed)?;
    if n != N {
        return Err(ValueError::Malformed);
    }
    buf.copy_from_slice(&scratch[..N]);
    Ok(buf)
}

/// A decrypted value as bytes: its type tag (`None` for a comment), the
/// plaintext and the IV it was encrypted with.
pub type RawValue = (Option<Kind>, Zeroizing<Vec<u8>>, [u8; IV_LEN]);

/// Whether a string is an encrypted SOPS value.
pub fn is_encrypted(value: &str) -> bool {
    value.starts_with("ENC[AES256_GCM,") && value.ends_with(']')
}

/// An IV remembered for one decrypted value: reused only for the same type
/// and the same plaintext at the same path.
struct Stashed {
    /// `None` for a comment
    kind: Option<Kind>,
    plaintext: SecretString,
    iv: Vec<u8>,
}

/// Encrypts and decrypts values under one data key, remembering IVs.
pub struct ValueCipher {
    key: DataKey,
    /// The AES key schedule, expanded once per file rather than per value.
    gcm: Gcm,
    /// path (additional data) -> values seen there; sequence items share a path
    stash: HashMap<String, Vec<Stashed>>,
    /// Off for read-only use (`decrypt`): nothing will be re-encrypted.
    remember_ivs: bool,
}

impl ValueCipher {
    pub fn new(key: DataKey) -> ValueCipher {
        ValueCipher {
            gcm: key.cipher(),
            key,
            stash: HashMap::new(),
            remember_ivs: true,
        }
    }

    /// A cipher that will only decrypt, so keeps no IV stash.
    pub fn read_only(key: DataKey) -> ValueCipher {
        ValueCipher {
            remember_ivs: false,
            ..ValueCipher::new(key)
        }
    }

    pub fn key(&self) -> &DataKey {
        &self.key
    }

    /// Decrypt one value to its bytes, whatever they are (the binary
    /// store's whole file), with its type tag (`None` for a comment).
    pub fn decrypt_bytes(&self, value: &str, aad: &str) -> Result<RawValue, ValueError> {
        let parsed = parse(value)?;
        let kind = match parsed.kind {
            "comment" => None,
            tag => Some(Kind::from_tag(tag).ok_or_else(|| ValueError::UnknownType(tag.into()))?),
        };
        // sops reads any IV length but only ever writes 32 bytes; so do we.
        let iv: [u8; IV_LEN] = decode_exact(parsed.iv)?;
        let tag: [u8; TAG_LEN] = decode_exact(parsed.tag)?;
        let mut buf = Zeroizing::new(B64.decode(parsed.data).map_err(|_| ValueError::Malformed)?);
        self.gcm
            .decrypt_in_place_detached(
                Nonce::<U32>::from_slice(&iv),
                aad.as_bytes(),
                &mut buf,
                aes_gcm::Tag::from_slice(&tag),
            )
            .map_err(|_| ValueError::Authentication)?;
        Ok((kind, buf, iv))
    }

    /// Decrypt one value; `kind` is `None` for a comment.
    pub fn decrypt(
        &mut self,
        value: &str,
        aad: &str,
    ) -> Result<(Option<Kind>, SecretString), ValueError> {
        let (kind, mut buf, iv) = self.decrypt_bytes(value, aad)?;
        let text = String::from_utf8(std::mem::take(&mut *buf)).map_err(|e| {
            let mut bytes = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut bytes);
            ValueError::Malformed
        })?;
        let text = match kind {
            Some(k) if k != Kind::Str => {
                let text = Zeroizing::new(text);
                SecretString::from(
                    super::tree::canonical(k, &text).ok_or(ValueError::WrongType(k.tag()))?,
                )
            }
            _ => SecretString::from(text),
        };
        if self.remember_ivs {
            self.stash
                .entry(aad.to_string())
                .or_default()
                .push(Stashed {
                    kind,
                    plaintext: text.clone(),
                    iv: iv.to_vec(),
                });
        }
        Ok((kind, text))
    }

    /// Encrypt a leaf (or a comment with `kind = None`). Empty strings stay
    /// empty, as in sops.
    pub fn encrypt(&self, kind: Option<Kind>, plaintext: &str, aad: &str) -> String {
        self.encrypt_bytes(kind, plaintext.as_bytes(), aad)
    }

    /// [`encrypt`](ValueCipher::encrypt) for bytes that may not be UTF-8
    /// (the binary store); the IV stash only ever matches UTF-8 plaintext.
    pub fn encrypt_bytes(&self, kind: Option<Kind>, plaintext: &[u8], aad: &str) -> String {
        if plaintext.is_empty() && kind.is_none_or(|k| k == Kind::Str) {
            return String::new();
        }
        let mut wanted = kind;
        let stashed = self.stash.get(aad).and_then(|seen| {
            let same = |k: Option<Kind>| {
                seen.iter()
                    .find(|s| s.kind == k && s.plaintext.expose_secret().as_bytes() == plaintext)
            };
            // A whole float prints as sops prints it (`2`), which reads back
            // as an int: the same text under the float tag is unchanged.
            same(wanted).or_else(|| {
                let float = same(Some(Kind::Float)).filter(|_| wanted == Some(Kind::Int))?;
                wanted = Some(Kind::Float);
                Some(float)
            })
        });
        let iv = match stashed {
            Some(s) => s.iv.clone(),
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
                    msg: plaintext,
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
            wanted.map_or("comment", Kind::tag)
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
