//! `age-plugin-ksectest`: a small age plugin that only ksec's tests use
//! (`tests/it/age_plugin.rs` puts it on PATH), speaking the real plugin
//! protocol through the `age-plugin` crate, as age-plugin-yubikey does.
//!
//! Run without arguments, it prints a new identity and its recipient, as
//! `age-plugin-yubikey --generate` does. Its "key" is 16 random bytes held in
//! both the recipient and the identity: a stanza is the file key XOR those
//! bytes, tagged with a fingerprint of them. Not encryption: a test double
//! of a hardware key, which also says "touch your key" while it unwraps.
//!
//! `KSECTEST_PIN=<pin>` makes it ask for that PIN (a `request-secret`)
//! before it unwraps, and refuse to unwrap when none or another is given.

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::identity::{self, IdentityPluginV1};
use age_plugin::recipient::{self, RecipientPluginV1};
use age_plugin::{Callbacks, PluginHandler, print_new_identity, run_state_machine};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

const NAME: &str = "ksectest";
const TAG: &str = "ksectest";

fn key_of(bytes: &[u8]) -> Option<[u8; 16]> {
    bytes.try_into().ok()
}

fn fingerprint(key: &[u8; 16]) -> String {
    key[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn xor(a: &[u8], b: &[u8; 16]) -> Vec<u8> {
    a.iter().zip(b.iter()).map(|(x, y)| x ^ y).collect()
}

/// Keep the key of a recipient or identity of this plugin; whether it is one.
fn add(keys: &mut Vec<[u8; 16]>, plugin_name: &str, bytes: &[u8]) -> bool {
    match key_of(bytes) {
        Some(key) if plugin_name == NAME => {
            keys.push(key);
            true
        }
        _ => false,
    }
}

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = Wrapper;
    type IdentityV1 = Unwrapper;

    fn recipient_v1(self) -> io::Result<Wrapper> {
        Ok(Wrapper { keys: Vec::new() })
    }

    fn identity_v1(self) -> io::Result<Unwrapper> {
        Ok(Unwrapper { keys: Vec::new() })
    }
}

struct Wrapper {
    keys: Vec<[u8; 16]>,
}

impl RecipientPluginV1 for Wrapper {
    fn add_recipient(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        let message = "not a ksectest recipient".into();
        let added = add(&mut self.keys, plugin_name, bytes);
        added
            .then_some(())
            .ok_or(recipient::Error::Recipient { index, message })
    }

    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        let message = "not a ksectest identity".into();
        let added = add(&mut self.keys, plugin_name, bytes);
        added
            .then_some(())
            .ok_or(recipient::Error::Identity { index, message })
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        mut callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        let _ = callbacks.message("ksectest: wrapping a file key")?;
        Ok(Ok(file_keys
            .iter()
            .map(|file_key| {
                self.keys
                    .iter()
                    .map(|key| Stanza {
                        tag: TAG.into(),
                        args: vec![fingerprint(key)],
                        body: xor(file_key.expose_secret(), key),
                    })
                    .collect()
            })
            .collect()))
    }
}

struct Unwrapper {
    keys: Vec<[u8; 16]>,
}

impl IdentityPluginV1 for Unwrapper {
    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        let message = "not a ksectest identity".into();
        let added = add(&mut self.keys, plugin_name, bytes);
        added
            .then_some(())
            .ok_or(identity::Error::Identity { index, message })
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut file_keys = HashMap::new();
        for (file_index, stanzas) in files.into_iter().enumerate() {
            for (stanza_index, stanza) in stanzas.iter().enumerate() {
                if stanza.tag != TAG {
                    continue;
                }
                let Some(key) = self
                    .keys
                    .iter()
                    .find(|k| stanza.args.first() == Some(&fingerprint(k)))
                else {
                    continue;
                };
                if let Ok(expected) = std::env::var("KSECTEST_PIN") {
                    let refused = match callbacks.request_secret("ksectest PIN")? {
                        Err(_) => Some("no PIN was given"),
                        Ok(pin) if pin.expose_secret() != expected => Some("wrong PIN"),
                        Ok(_) => None,
                    };
                    if let Some(why) = refused {
                        file_keys.insert(
                            file_index,
                            Err(vec![identity::Error::Stanza {
                                file_index,
                                stanza_index,
                                message: why.into(),
                            }]),
                        );
                        break;
                    }
                }
                let _ = callbacks.message("touch your ksectest key")?;
                let plain = xor(&stanza.body, key);
                let unwrapped = FileKey::try_init_with_mut(|out| {
                    if plain.len() == out.len() {
                        out.copy_from_slice(&plain);
                        Ok(())
                    } else {
                        Err(vec![identity::Error::Stanza {
                            file_index,
                            stanza_index,
                            message: "a ksectest stanza of the wrong length".into(),
                        }])
                    }
                });
                file_keys.insert(file_index, unwrapped);
                break;
            }
        }
        Ok(file_keys)
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next() {
        Some(arg) if arg.starts_with("--age-plugin=") => {
            run_state_machine(&arg["--age-plugin=".len()..], Handler)
        }
        Some(arg) if arg == "--age-plugin" => {
            let state = args.next().unwrap_or_default();
            run_state_machine(&state, Handler)
        }
        Some(other) => Err(io::Error::other(format!("unknown argument {other}"))),
        None => {
            let mut key = [0u8; 16];
            std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
            print_new_identity(NAME, &key, &key);
            Ok(())
        }
    }
}
