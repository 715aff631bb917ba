//! Wrapping the data key for age recipients and unwrapping it with age
//! identities, as ASCII-armored age files (what sops stores under `enc`).

use super::cipher::DataKey;
use age::armor::{ArmoredReader, ArmoredWriter, Format};
use std::io::{Read, Write};

/// A recipient parsed from its public text form.
pub enum Recipient {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl Recipient {
    /// `age1…` or an SSH public key line (`ssh-ed25519 AAAA… [comment]`,
    /// `ssh-rsa AAAA… [comment]`).
    pub fn parse(text: &str) -> Result<Recipient, String> {
        let text = text.trim();
        if text.starts_with("age1") {
            return text
                .parse::<age::x25519::Recipient>()
                .map(Recipient::X25519)
                .map_err(|e| format!("not a valid age recipient ({e})"));
        }
        if looks_like_key(text) && !text.starts_with("age1") {
            return text
                .parse::<age::ssh::Recipient>()
                .map(Recipient::Ssh)
                .map_err(|_| {
                    "not a supported SSH public key (use ssh-ed25519 or ssh-rsa)".to_string()
                });
        }
        Err("expected an age recipient (age1…) or an SSH public key (ssh-ed25519 …)".into())
    }

    fn as_dyn(&self) -> &dyn age::Recipient {
        match self {
            Recipient::X25519(r) => r,
            Recipient::Ssh(r) => r,
        }
    }
}

/// Whether text is meant as a public key rather than a name: `age1…` or an
/// OpenSSH public key line of any type (`ssh-…`, `ecdsa-…`, `sk-…`).
pub fn looks_like_key(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("age1")
        || text.starts_with("ssh-")
        || text.starts_with("ecdsa-")
        || text.starts_with("sk-")
}

/// An identity that can be shared across the threads that decrypt files.
pub type Identity = Box<dyn age::Identity + Send + Sync>;

/// Encrypt the data key to one recipient, armored.
pub fn wrap(key: &DataKey, recipient: &Recipient) -> Result<String, String> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient.as_dyn()))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let armored =
        ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| e.to_string())?;
    let mut writer = encryptor.wrap_output(armored).map_err(|e| e.to_string())?;
    writer.write_all(key.bytes()).map_err(|e| e.to_string())?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Why a data key stanza did not give the data key.
#[derive(Debug, PartialEq, Eq)]
pub enum UnwrapError {
    /// None of the identities is a recipient of this stanza.
    NoMatch,
    /// The stanza is not a whole, valid age file (truncated, edited), or
    /// it does not hold a 32-byte key.
    Damaged,
}

/// Try to decrypt an armored data key with the given identities.
pub fn unwrap(armored: &str, identities: &[Identity]) -> Result<DataKey, UnwrapError> {
    let reader = ArmoredReader::new(armored.as_bytes());
    let decryptor = age::Decryptor::new_buffered(reader).map_err(|_| UnwrapError::Damaged)?;
    let mut plain = zeroize::Zeroizing::new(Vec::new());
    let mut stream = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => UnwrapError::NoMatch,
            _ => UnwrapError::Damaged,
        })?;
    // a data key is 32 bytes: read no more than a little over that
    (&mut stream)
        .take(64)
        .read_to_end(&mut plain)
        .map_err(|_| UnwrapError::Damaged)?;
    DataKey::from_slice(&plain).ok_or(UnwrapError::Damaged)
}
