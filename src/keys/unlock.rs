//! Passphrase-protected identities: an age identity file encrypted with a
//! passphrase (what `age -p` writes around `age-keygen` output, armored or
//! not) and an encrypted OpenSSH private key.
//!
//! The passphrase is asked on the terminal (hidden, never echoed) the first
//! time a source needs it; what it unlocks is kept for the rest of the run,
//! so a run that decrypts many files asks once per file of keys. Without a
//! terminal nothing is asked: the error names the source and says how to
//! provide the key instead. The passphrase and what it unlocks are wiped
//! from memory when dropped, and never printed.

use super::{IDENTITY_FILE_LIMIT, Identities, parse_age_lines};
use crate::crypto::wrap::Identity;
use crate::error::{Code, Error, Result};
use age::secrecy::SecretString;
use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::sync::{Mutex, OnceLock};
use zeroize::Zeroizing;

/// The largest scrypt work factor (log2) accepted, as age's own limit.
const MAX_WORK_FACTOR: u8 = 22;

/// What a passphrase unlocked (or a key command printed), kept for the run.
enum Unlocked {
    /// What a key command printed.
    Output(Zeroizing<String>),
    /// The identity file inside an encrypted age file.
    AgeText(Zeroizing<String>),
    /// A decrypted SSH key.
    Ssh(age::ssh::Identity),
}

/// Unlocked keys by source (its description, which names the file).
fn unlocked() -> &'static Mutex<HashMap<String, Unlocked>> {
    static UNLOCKED: OnceLock<Mutex<HashMap<String, Unlocked>>> = OnceLock::new();
    UNLOCKED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// What the key command of variable `var` printed earlier in this run.
pub(super) fn remembered_output(var: &str) -> Option<Zeroizing<String>> {
    let map = unlocked().lock().ok()?;
    match map.get(&format!("command {var}")) {
        Some(Unlocked::Output(text)) => Some(text.clone()),
        _ => None,
    }
}

/// Keep what the key command of `var` printed, for the rest of the run.
pub(super) fn remember_output(var: &str, text: Zeroizing<String>) {
    if let Ok(mut map) = unlocked().lock() {
        map.insert(format!("command {var}"), Unlocked::Output(text));
    }
}

/// Whether `bytes` are an age file, binary or armored.
pub(super) fn is_age_file(bytes: &[u8]) -> bool {
    bytes.starts_with(b"age-encryption.org/")
        || bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
}

/// The identities of an age file encrypted with a passphrase.
pub(super) fn age_file(bytes: &[u8], source: &str) -> Result<Identities> {
    let cached = unlocked().lock().ok().and_then(|m| match m.get(source) {
        Some(Unlocked::AgeText(text)) => Some(text.clone()),
        _ => None,
    });
    if let Some(text) = cached {
        return parse_age_lines(&text, source);
    }
    let damaged = || {
        Error::new(
            Code::Decrypt,
            format!("{source} is an age-encrypted file that cannot be read (damaged or truncated)"),
        )
        .hint("restore the identity file from where you keep its copy")
    };
    let reader = age::armor::ArmoredReader::new(bytes);
    let decryptor = age::Decryptor::new_buffered(reader).map_err(|_| damaged())?;
    if !decryptor.is_scrypt() {
        return Err(Error::new(
            Code::Decrypt,
            format!("{source} is an age-encrypted file, but not encrypted with a passphrase"),
        )
        .hint("an identity file may be protected with a passphrase (`age -p`); decrypt this one with the key it is encrypted to first"));
    }
    let passphrase = ask(source, "a passphrase-protected age identity file")?;
    let mut identity = age::scrypt::Identity::new(passphrase);
    // the crate's default cap depends on this machine's speed; `age -p`
    // writes 2^18, and age accepts up to 2^22
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    let mut stream = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::ExcessiveWork { required, .. } => Error::new(
                Code::Decrypt,
                format!("{source} is protected with a scrypt work factor of 2^{required}, more than the 2^{MAX_WORK_FACTOR} ksec accepts"),
            )
            .hint("re-encrypt the identity file with `age -p` (which uses 2^18)"),
            _ => wrong_passphrase(source),
        })?;
    // the plaintext is shorter than the file: no reallocation leaves a copy
    let mut plain = Zeroizing::new(Vec::with_capacity(bytes.len()));
    (&mut stream)
        .take(IDENTITY_FILE_LIMIT + 1)
        .read_to_end(&mut plain)
        .map_err(|_| damaged())?;
    if plain.len() as u64 > IDENTITY_FILE_LIMIT {
        return Err(damaged());
    }
    let text = Zeroizing::new(
        std::str::from_utf8(&plain)
            .map_err(|_| {
                Error::new(
                    Code::Invalid,
                    format!("{source} decrypts to something that is not an age identity file"),
                )
                .hint("it should hold AGE-SECRET-KEY-1… lines, as age-keygen writes them")
            })?
            .to_string(),
    );
    let identities = parse_age_lines(&text, source)?;
    if let Ok(mut map) = unlocked().lock() {
        map.insert(source.to_string(), Unlocked::AgeText(text));
    }
    Ok(identities)
}

/// An encrypted OpenSSH key, decrypted with its passphrase.
pub(super) fn ssh_key(
    key: &age::ssh::EncryptedKey,
    source: &str,
    public: Option<String>,
) -> Result<Identity> {
    let cached = unlocked().lock().ok().and_then(|m| match m.get(source) {
        Some(Unlocked::Ssh(identity)) => Some(identity.clone()),
        _ => None,
    });
    if let Some(identity) = cached {
        return Ok(Identity::ssh(identity, public));
    }
    let passphrase = ask(source, "a passphrase-protected SSH key")?;
    let identity: age::ssh::Identity = key
        .decrypt(passphrase)
        .map_err(|_| wrong_passphrase(source))?
        .into();
    if let Ok(mut map) = unlocked().lock() {
        map.insert(source.to_string(), Unlocked::Ssh(identity.clone()));
    }
    Ok(Identity::ssh(identity, public))
}

/// The passphrase for `source`, typed on the terminal.
fn ask(source: &str, what: &str) -> Result<SecretString> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::new(
            Code::Decrypt,
            format!("{source} is {what}, and there is no terminal to ask for its passphrase"),
        )
        .hint("run ksec on a terminal to type the passphrase; for CI or scripts, give the key without a passphrase through a secret store: KSEC_AGE_KEY_CMD (a command that prints it, e.g. `op read …` or `pass show …`), KSEC_AGE_KEY, or the OS keyring"));
    }
    let _interrupt = crate::sys::interrupt::exit_130_on_signal();
    let typed = dialoguer::Password::new()
        .with_prompt(format!("passphrase for {source}"))
        .allow_empty_password(true)
        .interact()
        .map_err(|e| {
            Error::new(
                Code::Decrypt,
                format!("could not read the passphrase for {source} from the terminal: {e}"),
            )
            .hint("run ksec again on a terminal, or provide the key through KSEC_AGE_KEY_CMD")
        })?;
    Ok(SecretString::from(typed))
}

fn wrong_passphrase(source: &str) -> Error {
    Error::new(
        Code::Decrypt,
        format!("the passphrase for {source} is wrong (or the file is damaged)"),
    )
    .hint("run again and type the passphrase that protects this key")
}

/// The public key line (`ssh-ed25519 AAAA…`) of an OpenSSH private key,
/// which that format keeps in clear even when the key is encrypted; None
/// for other formats (PEM).
pub(super) fn ssh_public_key(text: &str) -> Option<String> {
    use base64::Engine;
    // room for all of it: no reallocation leaves a copy of the key behind
    let mut body = Zeroizing::new(String::with_capacity(text.len()));
    text.lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN OPENSSH PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .for_each(|l| body.push_str(l));
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .ok()?,
    );
    let mut rest = bytes.strip_prefix(b"openssh-key-v1\0")?;
    // cipher name, kdf name, kdf options, number of keys, first public key
    for _ in 0..3 {
        let (_, after) = ssh_string(rest)?;
        rest = after;
    }
    let rest = rest.get(4..)?;
    let (wire, _) = ssh_string(rest)?;
    let (kind, _) = ssh_string(wire)?;
    let kind = std::str::from_utf8(kind).ok()?;
    Some(format!(
        "{kind} {}",
        base64::engine::general_purpose::STANDARD.encode(wire)
    ))
}

/// An SSH wire-format string (u32 length, bytes) and what follows it.
fn ssh_string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let rest = &bytes[4..];
    (rest.len() >= len).then(|| rest.split_at(len))
}
