//! The identity lookup order of the README ("Identities: where ksec looks"),
//! source by source: each source holds a key of its own and a file is
//! encrypted to each key; with every source configured only the first one's
//! file decrypts, and removing the sources one at a time from the top hands
//! the lookup to the next one each time.

use crate::common;

use common::{CANARY, Key, code, encrypt_to, ksec, stderr, stdout};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where an identity can come from, in the README's order.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    IdentityFlag,
    KsecAgeKey,
    KsecAgeKeyFile,
    KsecAgeKeyCmd,
    SopsAgeKey,
    SopsAgeKeyFile,
    SopsAgeKeyCmd,
    SopsAgeSshPrivateKeyFile,
    Keyring,
    KsecKeysTxt,
    SopsKeysTxt,
}

const ORDER: [Source; 11] = [
    Source::IdentityFlag,
    Source::KsecAgeKey,
    Source::KsecAgeKeyFile,
    Source::KsecAgeKeyCmd,
    Source::SopsAgeKey,
    Source::SopsAgeKeyFile,
    Source::SopsAgeKeyCmd,
    Source::SopsAgeSshPrivateKeyFile,
    Source::Keyring,
    Source::KsecKeysTxt,
    Source::SopsKeysTxt,
];

/// A private Secret Service (scripts/with-secret-service.sh) that lives as
/// long as this value: its D-Bus address.
struct SecretService {
    child: Child,
    bus: String,
}

impl SecretService {
    fn start() -> SecretService {
        let script = common::kube::repo().join("scripts/with-secret-service.sh");
        let mut child = Command::new(script)
            .args([
                "sh",
                "-c",
                "printf '%s\\n' \"$DBUS_SESSION_BUS_ADDRESS\"; exec cat >/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("scripts/with-secret-service.sh runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let bus = line.trim().to_string();
        assert!(
            !bus.is_empty(),
            "with-secret-service.sh gave no D-Bus address"
        );
        SecretService { child, bus }
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        // end of input ends `cat`, and with it the session
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// One source's key (its recipient, and the key file unless the keyring
/// made it) and the file encrypted to it.
struct Slot {
    source: Source,
    key: Option<Key>,
    encrypted: PathBuf,
}

fn plaintext(source: Source) -> String {
    format!("token: {CANARY}\nsource: {source:?}\n")
}

/// Runs the whole order (without the keyring when `keyring` is None).
fn walk_the_order(keyring: Option<&SecretService>) {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut slots = Vec::new();
    for source in ORDER {
        let (key, recipient) = if source == Source::Keyring {
            let Some(service) = keyring else { continue };
            let out = ksec(home.path())
                .env("DBUS_SESSION_BUS_ADDRESS", &service.bus)
                .args(["keygen", "--keyring"])
                .output()
                .unwrap();
            assert_eq!(code(&out), Some(0), "{}", stderr(&out));
            (None, stdout(&out).trim().to_string())
        } else if source == Source::SopsAgeSshPrivateKeyFile {
            let key = ssh_key(dir.path());
            let recipient = key.recipient.clone();
            (Some(key), recipient)
        } else {
            let key = Key::new(dir.path(), &format!("{source:?}"));
            let recipient = key.recipient.clone();
            (Some(key), recipient)
        };
        let plain = dir.path().join(format!("{source:?}.yaml"));
        std::fs::write(&plain, plaintext(source)).unwrap();
        let encrypted = dir.path().join(format!("{source:?}.enc.yaml"));
        let to = Key {
            file: PathBuf::new(),
            recipient,
            secret: String::new(),
        };
        encrypt_to(home.path(), &to, &plain, &encrypted);
        std::fs::remove_file(&plain).unwrap();
        slots.push(Slot {
            source,
            key,
            encrypted,
        });
    }
    for (name, source) in [
        (".config/ksec/keys.txt", Source::KsecKeysTxt),
        (".config/sops/age/keys.txt", Source::SopsKeysTxt),
    ] {
        let slot = slots.iter().find(|s| s.source == source).unwrap();
        let path = home.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(&slot.key.as_ref().unwrap().file, path).unwrap();
    }

    for top in 0..slots.len() {
        for (i, slot) in slots.iter().enumerate() {
            let mut cmd = ksec(home.path());
            for configured in &slots[top..] {
                configure(&mut cmd, configured, keyring);
            }
            let out = cmd
                .expect_secret_output()
                .arg("decrypt")
                .arg(&slot.encrypted)
                .output()
                .unwrap();
            let what = format!(
                "sources from {:?} on, decrypting the file of {:?}",
                slots[top].source, slot.source
            );
            if i == top {
                assert_eq!(code(&out), Some(0), "{what}: {}", stderr(&out));
                assert_eq!(stdout(&out), plaintext(slot.source), "{what}");
            } else {
                // only the first configured source is used
                assert_eq!(code(&out), Some(4), "{what}: {}", stderr(&out));
                assert!(out.stdout.is_empty(), "{what}");
            }
        }
        // remove the top source
        remove(home.path(), &slots[top]);
    }
}

/// An ed25519 SSH key made by `ssh-keygen` (no passphrase): the private
/// key file, its public key line as the recipient.
fn ssh_key(dir: &Path) -> Key {
    let file = dir.join("id_ed25519");
    common::run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "order", "-f"])
            .arg(&file),
    );
    let public = std::fs::read_to_string(dir.join("id_ed25519.pub")).unwrap();
    Key {
        secret: std::fs::read_to_string(&file).unwrap(),
        recipient: public.trim().to_string(),
        file,
    }
}

/// Adds `slot`'s source to `cmd` (the files in HOME are there until removed).
fn configure(cmd: &mut common::Ksec, slot: &Slot, keyring: Option<&SecretService>) {
    let key = slot.key.as_ref();
    match slot.source {
        Source::IdentityFlag => cmd.arg("--identity").arg(&key.unwrap().file),
        Source::KsecAgeKey => cmd.env("KSEC_AGE_KEY", &key.unwrap().secret),
        Source::KsecAgeKeyFile => cmd.env("KSEC_AGE_KEY_FILE", &key.unwrap().file),
        Source::SopsAgeKey => cmd.env("SOPS_AGE_KEY", &key.unwrap().secret),
        Source::SopsAgeKeyFile => cmd.env("SOPS_AGE_KEY_FILE", &key.unwrap().file),
        Source::KsecAgeKeyCmd => cmd.env(
            "KSEC_AGE_KEY_CMD",
            format!("cat '{}'", key.unwrap().file.display()),
        ),
        Source::SopsAgeKeyCmd => cmd.env(
            "SOPS_AGE_KEY_CMD",
            format!("cat '{}'", key.unwrap().file.display()),
        ),
        Source::SopsAgeSshPrivateKeyFile => {
            cmd.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key.unwrap().file)
        }
        Source::Keyring => cmd.env("DBUS_SESSION_BUS_ADDRESS", &keyring.unwrap().bus),
        Source::KsecKeysTxt | Source::SopsKeysTxt => cmd,
    };
}

/// Takes `slot`'s source away: the key files in HOME are deleted; the
/// others are simply no longer configured.
fn remove(home: &Path, slot: &Slot) {
    let file = match slot.source {
        Source::KsecKeysTxt => ".config/ksec/keys.txt",
        Source::SopsKeysTxt => ".config/sops/age/keys.txt",
        _ => return,
    };
    std::fs::remove_file(home.join(file)).unwrap();
}

#[test]
fn each_identity_source_wins_over_the_ones_below_it() {
    walk_the_order(None);
}

/// The same with the OS keyring in its place (a private Secret Service of
/// this test's own). Ignored by a plain `cargo test`; scripts/test.sh runs
/// it with `--include-ignored`.
#[test]
#[ignore = "needs gnome-keyring and dbus-run-session: run with --include-ignored (scripts/test.sh does)"]
fn each_identity_source_wins_over_the_ones_below_it_keyring_included() {
    let service = SecretService::start();
    walk_the_order(Some(&service));
}
