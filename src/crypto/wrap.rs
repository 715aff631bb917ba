//! Wrapping the data key for age recipients and unwrapping it with age
//! identities, as ASCII-armored age files (what sops stores under `enc`).

use super::cipher::DataKey;
use super::plugin;
use age::armor::{ArmoredReader, ArmoredWriter, Format};
use std::io::{Read, Write};

/// A recipient parsed from its public text form.
pub enum Recipient {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
    /// `age1<name>1…`, served by the program `age-plugin-<name>`.
    Plugin(age::plugin::Recipient),
}

impl Recipient {
    /// `age1…` (X25519, or a plugin's `age1<name>1…`) or an SSH public key
    /// line (`ssh-ed25519 AAAA… [comment]`, `ssh-rsa AAAA… [comment]`).
    pub fn parse(text: &str) -> Result<Recipient, String> {
        let text = text.trim();
        if text.starts_with("age1") {
            return match text.parse::<age::x25519::Recipient>() {
                Ok(r) => Ok(Recipient::X25519(r)),
                Err(e) => plugin::parse_recipient(text)
                    .map(Recipient::Plugin)
                    .ok_or_else(|| format!("not a valid age recipient ({e})")),
            };
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

/// An identity that can be shared across the threads that decrypt files,
/// with the recipient text it answers to when that is known (X25519), and
/// its public key to show the user (X25519 and unencrypted SSH keys).
pub struct Identity {
    inner: Box<dyn age::Identity + Send + Sync>,
    recipient: Option<String>,
    public: Option<String>,
    /// The plugin program of a plugin identity.
    program: Option<String>,
}

impl Identity {
    pub fn x25519(identity: age::x25519::Identity) -> Identity {
        let recipient = Some(identity.to_public().to_string());
        Identity {
            inner: Box::new(identity),
            public: recipient.clone(),
            recipient,
            program: None,
        }
    }

    /// An SSH key, with its public key line when the caller knows it.
    pub fn ssh(identity: age::ssh::Identity, public: Option<String>) -> Identity {
        Identity {
            inner: Box::new(identity),
            recipient: None,
            public,
            program: None,
        }
    }

    /// The public key (recipient) of this identity, as the user writes it
    /// in ksec.yaml: `age1…` or `ssh-ed25519 AAAA…` (no comment).
    pub fn public(&self) -> Option<&str> {
        self.public.as_deref()
    }

    /// An `AGE-PLUGIN-<NAME>-1…` identity, served by its plugin program.
    pub fn plugin(identity: plugin::PluginIdentity) -> Identity {
        Identity {
            program: Some(identity.program.clone()),
            inner: Box::new(identity),
            recipient: None,
            public: None,
        }
    }

    /// The plugin program (`age-plugin-yubikey`) of a plugin identity.
    pub fn plugin_program(&self) -> Option<&str> {
        self.program.as_deref()
    }

    /// Whether this identity is the private half of `recipient`.
    fn answers_to(&self, recipient: &str) -> bool {
        self.recipient.as_deref() == Some(recipient.trim())
    }
}

/// Encrypt the data key to one recipient, armored.
pub fn wrap(key: &DataKey, recipient: &Recipient) -> Result<String, String> {
    let served;
    let recipient: &dyn age::Recipient = match recipient {
        Recipient::X25519(r) => r,
        Recipient::Ssh(r) => r,
        Recipient::Plugin(r) => {
            served = plugin::recipient(r)?;
            &served
        }
    };
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient)).map_err(|e| e.to_string())?;
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
    /// A plugin identity's program failed or declined (no PIN given, the
    /// key not present): what it said.
    Plugin(String),
}

/// Try to decrypt an armored data key with the given identities.
///
/// An X25519 stanza carries no tag saying whom it is for, so age cannot tell
/// an edited stanza from one for somebody else. `recipient` is what the
/// file's metadata says the stanza is for: when one of the identities is the
/// private half of it and still cannot open the stanza, the stanza is
/// damaged, not foreign.
pub fn unwrap(
    armored: &str,
    recipient: &str,
    identities: &[Identity],
) -> Result<DataKey, UnwrapError> {
    let ours = identities.iter().any(|i| i.answers_to(recipient));
    match try_unwrap(armored, identities) {
        Err(UnwrapError::NoMatch) if ours => Err(UnwrapError::Damaged),
        other => other,
    }
}

fn try_unwrap(armored: &str, identities: &[Identity]) -> Result<DataKey, UnwrapError> {
    let reader = ArmoredReader::new(armored.as_bytes());
    let decryptor = age::Decryptor::new_buffered(reader).map_err(|_| UnwrapError::Damaged)?;
    let mut plain = zeroize::Zeroizing::new(Vec::new());
    let mut stream = decryptor
        .decrypt(
            identities
                .iter()
                .map(|i| i.inner.as_ref() as &dyn age::Identity),
        )
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => UnwrapError::NoMatch,
            age::DecryptError::Plugin(errors) => UnwrapError::Plugin(
                errors
                    .iter()
                    .map(|e| e.to_string().trim().to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => UnwrapError::Damaged,
        })?;
    // a data key is 32 bytes: read no more than a little over that
    (&mut stream)
        .take(64)
        .read_to_end(&mut plain)
        .map_err(|_| UnwrapError::Damaged)?;
    DataKey::from_slice(&plain).ok_or(UnwrapError::Damaged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza() -> (String, String, Identity) {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let key = DataKey::from_slice(&[7u8; 32]).unwrap();
        let armored = wrap(&key, &Recipient::X25519(recipient.clone())).unwrap();
        (armored, recipient.to_string(), Identity::x25519(identity))
    }

    #[test]
    fn a_whole_stanza_unwraps_with_its_identity_and_is_foreign_to_another() {
        let (armored, recipient, identity) = stanza();
        let key = unwrap(&armored, &recipient, &[identity]).unwrap();
        assert_eq!(key.bytes(), &[7u8; 32]);
        let (_, other_recipient, other) = stanza();
        assert_eq!(
            unwrap(&armored, &recipient, &[other]).err(),
            Some(UnwrapError::NoMatch)
        );
        // metadata naming the other key does not make the stanza ours
        let (_, _, mine) = stanza();
        assert_eq!(
            unwrap(&armored, &other_recipient, &[mine]).err(),
            Some(UnwrapError::NoMatch)
        );
    }

    #[test]
    fn every_single_character_edit_of_a_stanza_is_damaged_for_its_recipient() {
        let (armored, recipient, identity) = stanza();
        let identities = [identity];
        let lines: Vec<&str> = armored.lines().collect();
        // every character between the BEGIN and END lines
        for (n, line) in lines.iter().enumerate().skip(1).take(lines.len() - 2) {
            for at in 0..line.len() {
                let was = &line[at..at + 1];
                let now = if was == "A" { "B" } else { "A" };
                let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                edited[n].replace_range(at..at + 1, now);
                let text = edited.join("\n") + "\n";
                assert_eq!(
                    unwrap(&text, &recipient, &identities).err(),
                    Some(UnwrapError::Damaged),
                    "line {n} column {at}"
                );
            }
        }
    }
}
