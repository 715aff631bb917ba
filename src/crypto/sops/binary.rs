//! sops's binary store: a whole file kept as the one value `data` of a
//! JSON envelope (`{"data": "ENC[…,type:str]", "sops": {…}}`). The file
//! may be any bytes (a keystore), so besides the tree form (`data` as a
//! UTF-8 leaf, what edit and set use), the bytes are encrypted and
//! decrypted here directly; the MAC is SHA-512 over those bytes.

use super::walk::{Rules, aad, single_value_mac};
use super::{EncryptedFile, Format, SopsError, age_stanza, rfc3339_now};
use crate::crypto::cipher::{DataKey, ValueCipher, ValueError};
use crate::crypto::tree::{self, Item, Kind, Leaf, Value};
use crate::crypto::wrap::{Identity, Recipient};
use zeroize::Zeroizing;

/// The one key of the binary store.
pub const DATA: &str = "data";

/// A plaintext file as the binary store's tree: `data` holds all of it.
pub(super) fn plain_tree(text: &str) -> Value {
    Value::Map(vec![Item::Pair(DATA.into(), Value::Leaf(Leaf::str(text)))])
}

/// The file's text back from the tree.
pub(super) fn plain_text(value: &Value) -> Result<&str, SopsError> {
    value
        .as_map()
        .and_then(|items| tree::get(items, DATA))
        .and_then(Value::as_str)
        .ok_or_else(|| SopsError::Emit("a binary file's tree has no `data` text".into()))
}

/// Split an envelope into its `data` and the metadata; anything else in
/// it is damage.
pub(super) fn split(items: Vec<Item>) -> Result<(Vec<Item>, Vec<Item>), SopsError> {
    let (body, metadata) = super::metadata::split_yaml_metadata(items)?;
    let only_data =
        body.len() == 1 && matches!(&body[0], Item::Pair(k, Value::Leaf(_)) if k == DATA);
    if !only_data {
        return Err(SopsError::BadMetadata(
            "a sops binary file holds exactly one value, `data`".into(),
        ));
    }
    Ok((body, metadata))
}

fn path() -> Vec<String> {
    vec![DATA.to_string()]
}

/// Encrypt `bytes` as a new binary-store file for the recipients.
pub fn encrypt_bytes(
    bytes: &[u8],
    recipients: &[(String, Recipient)],
) -> Result<EncryptedFile, SopsError> {
    let to: Vec<(String, &Recipient)> = recipients.iter().map(|(t, r)| (t.clone(), r)).collect();
    encrypt_bytes_for(bytes, &to)
}

fn encrypt_bytes_for(
    bytes: &[u8],
    recipients: &[(String, &Recipient)],
) -> Result<EncryptedFile, SopsError> {
    let key = DataKey::generate();
    let mut age = Vec::new();
    for (text, recipient) in recipients {
        age.push(age_stanza(&key, text, recipient)?);
    }
    let cipher = ValueCipher::new(key);
    let rules = Rules::default();
    let data = cipher.encrypt_bytes(Some(Kind::Str), bytes, &aad(&path()));
    let mac = single_value_mac(&rules, &path(), bytes);
    let now = rfc3339_now();
    let sealed_mac = cipher.encrypt(Some(Kind::Str), &mac, &now);
    let str_leaf = |s: &str| Value::Leaf(Leaf::str(s));
    Ok(EncryptedFile {
        format: Format::Binary,
        body: Value::Map(vec![Item::Pair(DATA.into(), str_leaf(&data))]),
        metadata: vec![
            Item::Pair("age".into(), Value::Seq(age)),
            Item::Pair("lastmodified".into(), str_leaf(&now)),
            Item::Pair("mac".into(), str_leaf(&sealed_mac)),
            Item::Pair(
                "unencrypted_suffix".into(),
                str_leaf(super::DEFAULT_UNENCRYPTED_SUFFIX),
            ),
            Item::Pair("version".into(), str_leaf(super::SOPS_VERSION)),
        ],
    })
}

impl EncryptedFile {
    /// Check every value and the MAC with the data key, and return the
    /// key: for any store, a binary file of any bytes included.
    pub fn verified_key(
        self,
        identities: &[Identity],
    ) -> Result<(EncryptedFile, DataKey), SopsError> {
        if self.format == Format::Binary {
            let cipher = ValueCipher::read_only(self.data_key(identities)?);
            self.open_bytes_with(&cipher)?;
            let key = cipher.key().clone();
            return Ok((self, key));
        }
        let opened = self.open_to_read(identities)?;
        let key = opened.cipher.key().clone();
        Ok((opened.file, key))
    }

    /// [`Opened::rotate`](super::Opened::rotate) for any store: a binary
    /// file of any bytes is encrypted again whole, under a new data key.
    pub fn rotated(
        self,
        identities: &[Identity],
        recipients: &[(String, &Recipient)],
    ) -> Result<EncryptedFile, SopsError> {
        if self.format != Format::Binary {
            return self.open_to_read(identities)?.rotate(recipients);
        }
        self.check_rotatable(recipients)?;
        let bytes = self.open_bytes(identities)?;
        encrypt_bytes_for(&bytes, recipients)
    }

    /// The verified bytes of a binary-store file, whatever they are.
    pub fn open_bytes(&self, identities: &[Identity]) -> Result<Zeroizing<Vec<u8>>, SopsError> {
        self.open_bytes_with(&ValueCipher::read_only(self.data_key(identities)?))
    }

    pub(super) fn open_bytes_with(
        &self,
        cipher: &ValueCipher,
    ) -> Result<Zeroizing<Vec<u8>>, SopsError> {
        let rules = Rules::from_metadata(&self.metadata)?;
        let malformed = || SopsError::ValueMalformed { path: DATA.into() };
        let data = self
            .body
            .as_map()
            .and_then(|items| tree::get(items, DATA))
            .and_then(Value::as_str)
            .ok_or_else(malformed)?;
        let bytes = if rules.should_encrypt(&path()) && !data.is_empty() {
            let (kind, bytes, _) =
                cipher
                    .decrypt_bytes(data, &aad(&path()))
                    .map_err(|e| match e {
                        ValueError::Authentication => {
                            SopsError::ValueIntegrity { path: DATA.into() }
                        }
                        _ => malformed(),
                    })?;
            if kind != Some(Kind::Str) {
                return Err(malformed());
            }
            bytes
        } else {
            Zeroizing::new(data.as_bytes().to_vec())
        };
        let computed = single_value_mac(&rules, &path(), &bytes);
        let lastmodified = self.lastmodified()?;
        let stored = tree::get(&self.metadata, "mac")
            .and_then(Value::as_str)
            .ok_or_else(|| SopsError::BadMetadata("the sops metadata has no mac".into()))?;
        let (_, stored_mac, _) = cipher
            .decrypt_bytes(stored, &lastmodified)
            .map_err(|_| SopsError::MacUnreadable)?;
        if stored_mac.as_slice() != computed.as_bytes() {
            return Err(SopsError::MacMismatch);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bytes_round_trip_and_a_changed_byte_is_refused() {
        let identity = age::x25519::Identity::generate();
        let public = identity.to_public();
        let ids = [Identity::x25519(identity)];
        let recipients = [(public.to_string(), Recipient::X25519(public))];
        let bytes = b"\x00\xffkeystore\x80\n".to_vec();
        let file = encrypt_bytes(&bytes, &recipients).unwrap();
        let text = file.emit().unwrap();
        assert!(
            text.starts_with("{\n\t\"data\": \"ENC[AES256_GCM,"),
            "{text}"
        );
        let back = EncryptedFile::parse(&text, Format::Binary).unwrap();
        assert_eq!(back.open_bytes(&ids).unwrap().as_slice(), bytes.as_slice());
        // a UTF-8 file reads through the tree as well
        let utf8 = encrypt_bytes(b"line\n", &recipients)
            .unwrap()
            .emit()
            .unwrap();
        let opened = EncryptedFile::parse(&utf8, Format::Binary)
            .unwrap()
            .open_to_read(&ids)
            .unwrap();
        assert_eq!(plain_text(&opened.plain).unwrap(), "line\n");
        // another file's data under this file's MAC
        let other = encrypt_bytes(b"other", &recipients).unwrap();
        let mut swapped = back.clone();
        swapped.body = other.body;
        assert!(swapped.open_bytes(&ids).is_err());
        assert!(swapped.verified_key(&ids).is_err());
        // re-keyed to a new data key, the bytes stay
        let (_, old_key) = back.clone().verified_key(&ids).unwrap();
        let to: Vec<(String, &Recipient)> =
            recipients.iter().map(|(t, r)| (t.clone(), r)).collect();
        let rotated = back.rotated(&ids, &to).unwrap();
        let (_, new_key) = rotated.clone().verified_key(&ids).unwrap();
        assert_ne!(old_key.bytes(), new_key.bytes());
        assert_eq!(
            rotated.open_bytes(&ids).unwrap().as_slice(),
            bytes.as_slice()
        );
    }
}
