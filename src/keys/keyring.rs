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
    fn name(&self) -> &'static str {
        "OS keyring"
    }
    fn describe(&self) -> String {
        format!("OS keyring (service {SERVICE}, account {ACCOUNT})")
    }

    fn load(&self) -> Result<Found> {
        load_from(entry(), &self.describe())
    }
}

/// Read the identities held by `entry` (`describe` names it in messages).
fn load_from(
    entry: std::result::Result<keyring::Entry, keyring::Error>,
    describe: &str,
) -> Result<Found> {
    match entry.and_then(|e| e.get_password()) {
        Ok(text) => {
            let text = zeroize::Zeroizing::new(text);
            parse_identities(&text, describe).map(Found::Identities)
        }
        Err(keyring::Error::NoEntry) => Ok(Found::Absent(format!("{describe} (no entry)"))),
        Err(_) => Ok(Found::Absent(format!(
            "{describe} (not available on this machine)"
        ))),
    }
}

/// Store an identity in the keyring; refuses to replace an existing one.
pub fn store(secret: &str) -> Result<()> {
    store_in(entry(), secret)
}

/// store() on a given entry.
fn store_in(
    entry: std::result::Result<keyring::Entry, keyring::Error>,
    secret: &str,
) -> Result<()> {
    let unavailable = |e: keyring::Error| {
        Error::new(
            Code::Unavailable,
            format!("the OS keyring is not available: {}", describe_error(&e)),
        )
        .hint("on a machine without a keyring service (a headless Linux box has no Secret Service), use `ksec keygen --out FILE`")
    };
    let entry = entry.map_err(unavailable)?;
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

    /// One mock credential behind every Entry handed out, so that store()
    /// and load() see the same state (the crate's mock keeps none between
    /// Entry values).
    fn shared_mock_entry() -> impl Fn() -> std::result::Result<keyring::Entry, keyring::Error> {
        let cred = std::sync::Arc::new(keyring::mock::MockCredential::default());
        move || {
            let shared = SharedMock(cred.clone());
            Ok(keyring::Entry::new_with_credential(Box::new(shared)))
        }
    }

    #[derive(Debug)]
    struct SharedMock(std::sync::Arc<keyring::mock::MockCredential>);

    impl keyring::credential::CredentialApi for SharedMock {
        fn set_secret(&self, secret: &[u8]) -> keyring::Result<()> {
            self.0.set_secret(secret)
        }
        fn get_secret(&self) -> keyring::Result<Vec<u8>> {
            self.0.get_secret()
        }
        fn delete_credential(&self) -> keyring::Result<()> {
            self.0.delete_credential()
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    /// load() on an empty keyring finds nothing; store() then load() gives
    /// back the stored identity; a second store() is refused and keeps the
    /// first identity.
    #[test]
    fn store_then_load_and_a_second_store_is_refused() {
        let entry = shared_mock_entry();
        match load_from(entry(), "test keyring").unwrap() {
            Found::Absent(why) => assert_eq!(why, "test keyring (no entry)"),
            Found::Identities(_) => panic!("an empty keyring held identities"),
        }

        let first = super::super::generate();
        store_in(entry(), &first.secret).unwrap();
        let second = super::super::generate();
        let err = store_in(entry(), &second.secret).unwrap_err();
        assert_eq!(err.code, Code::Invalid);
        assert!(err.to_string().contains("already holds"), "{err}");

        let Found::Identities(ids) = load_from(entry(), "test keyring").unwrap() else {
            panic!("the stored identity was not found");
        };
        assert_eq!(ids.len(), 1);
        assert_eq!(
            entry().unwrap().get_password().unwrap(),
            first.secret.to_string(),
            "the second store replaced the first identity"
        );
    }

    /// A keyring that cannot be reached is "not available" to load() and an
    /// Unavailable error (with the --out hint) to store().
    #[test]
    fn an_unreachable_keyring_is_absent_for_load_and_unavailable_for_store() {
        let failing = || {
            let cred = keyring::mock::MockCredential::default();
            cred.set_error(keyring::Error::PlatformFailure("no bus".into()));
            Ok(keyring::Entry::new_with_credential(Box::new(cred)))
        };
        match load_from(failing(), "test keyring").unwrap() {
            Found::Absent(why) => {
                assert_eq!(why, "test keyring (not available on this machine)")
            }
            Found::Identities(_) => panic!("a failing keyring held identities"),
        }
        let err = store_in(failing(), "AGE-SECRET-KEY-1X").unwrap_err();
        assert_eq!(err.code, Code::Unavailable);
        assert!(
            err.to_string().contains("no keyring service answered"),
            "{err}"
        );
    }
}
