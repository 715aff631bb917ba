//! Finding the identity (private key) that decrypts, behind one trait.
//!
//! Lookup order — the first source that is configured wins (README,
//! "Identities: where ksec looks", has the same table):
//!
//! | # | source | holds |
//! | --- | --- | --- |
//! | 1 | `--identity FILE` | an age identity file or an SSH private key |
//! | 2 | `KSEC_AGE_KEY` | the key text itself, for CI |
//! | 3 | `KSEC_AGE_KEY_FILE` | a file, as for `--identity` |
//! | 4 | `KSEC_AGE_KEY_CMD` | a command (run with `sh -c`) whose stdout holds the key text |
//! | 5 | `SOPS_AGE_KEY` | as `KSEC_AGE_KEY` (sops's variable) |
//! | 6 | `SOPS_AGE_KEY_FILE` | as `KSEC_AGE_KEY_FILE` (sops's variable) |
//! | 7 | `SOPS_AGE_KEY_CMD` | as `KSEC_AGE_KEY_CMD` (sops's variable) |
//! | 8 | `SOPS_AGE_SSH_PRIVATE_KEY_FILE` | an SSH private key file (sops's variable) |
//! | 9 | the OS keyring (service `ksec`) | key text stored by `ksec keygen --keyring` |
//! | 10 | `~/.config/ksec/keys.txt` | an age identity file |
//! | 11 | `~/.config/sops/age/keys.txt` | an age identity file (sops's default) |
//!
//! Unlike sops, which merges every source it finds, ksec uses the first
//! source that holds an identity, so what decrypts is never a surprise
//! (`ksec whoami` says which one it is).
//!
//! Any identity file or key text may hold age plugin identities
//! (`AGE-PLUGIN-YUBIKEY-1…`): they decrypt through their plugin program
//! (`age-plugin-yubikey`) found on PATH, which must be there when the
//! identity is read (`crypto::plugin`).
//!
//! Any file or key text may be passphrase-protected: an age identity file
//! encrypted with a passphrase (`age -p`) or an encrypted OpenSSH key. The
//! passphrase is asked once per run on the terminal (`unlock.rs`); without a
//! terminal that is an error naming the file.
//!
//! A source that is configured but broken (a file that does not exist, text
//! that is not a key, a key command that fails) is an error naming the
//! source, never a silent skip. Key material is never printed; errors name
//! lines, not contents, and a key command's stdout is never shown.

pub mod command;
pub mod keyring;
mod unlock;

use crate::error::{Code, Error, Result};
use std::path::{Path, PathBuf};

use crate::crypto::wrap::Identity;

pub type Identities = Vec<Identity>;

/// What one source had to offer.
pub enum Found {
    /// Not configured here (env var unset, file absent, no keyring entry).
    Absent(String),
    Identities(Identities),
}

/// One place an identity may come from.
pub trait KeySource {
    /// The source's name in the lookup table (`KSEC_AGE_KEY_FILE`,
    /// `--identity`, `OS keyring`), the same on every machine.
    fn name(&self) -> &'static str;
    /// How the user would name this place (`KSEC_AGE_KEY_FILE=/path`).
    fn describe(&self) -> String;
    fn load(&self) -> Result<Found>;
}

/// The source that answered a lookup.
pub struct Answered {
    /// Its name in the lookup table ([`KeySource::name`]).
    pub name: &'static str,
    /// Where it is ([`KeySource::describe`]).
    pub describe: String,
}

/// The outcome of a lookup: the identities, the source that held them, and
/// a report of every place consulted, in order (the last line is the
/// source that answered, when one did), for messages.
pub struct Lookup {
    pub identities: Identities,
    pub answered: Option<Answered>,
    pub report: Vec<String>,
}

impl Lookup {
    /// The one error for "no identity anywhere": `message` says what could
    /// not be done; the details list every place looked, in lookup order,
    /// and the hint says how to provide a key. Callers may add details or
    /// replace the hint.
    pub fn not_found(&self, message: impl Into<String>) -> Error {
        let mut e = Error::new(Code::Decrypt, message).detail("looked in, in this order:");
        for line in &self.report {
            e = e.detail(format!("  {line}"));
        }
        e.hint(NO_IDENTITY_HINT)
    }
}

/// What to do when no source holds an identity.
pub const NO_IDENTITY_HINT: &str = "set KSEC_AGE_KEY_FILE to your key file, or create one with `ksec keygen --out ~/.config/ksec/keys.txt`";

struct FlagFile(PathBuf);
struct EnvKey(&'static str);
struct EnvFile(&'static str);
struct DefaultFile(&'static str, PathBuf);

impl KeySource for FlagFile {
    fn name(&self) -> &'static str {
        "--identity"
    }
    fn describe(&self) -> String {
        format!("--identity {}", self.0.display())
    }
    fn load(&self) -> Result<Found> {
        read_identity_file(&self.0, &self.describe()).map(Found::Identities)
    }
}

impl KeySource for EnvKey {
    fn name(&self) -> &'static str {
        self.0
    }
    fn describe(&self) -> String {
        self.0.to_string()
    }
    fn load(&self) -> Result<Found> {
        match std::env::var(self.0) {
            Ok(text) if !text.trim().is_empty() => {
                let text = zeroize::Zeroizing::new(text);
                parse_identities(&text, self.0).map(Found::Identities)
            }
            _ => Ok(Found::Absent(format!("{} (not set)", self.0))),
        }
    }
}

impl KeySource for EnvFile {
    fn name(&self) -> &'static str {
        self.0
    }
    fn describe(&self) -> String {
        match std::env::var_os(self.0) {
            Some(p) => format!("{}={}", self.0, Path::new(&p).display()),
            None => self.0.to_string(),
        }
    }
    fn load(&self) -> Result<Found> {
        match std::env::var_os(self.0) {
            Some(path) if !path.is_empty() => {
                read_identity_file(Path::new(&path), &self.describe()).map(Found::Identities)
            }
            _ => Ok(Found::Absent(format!("{} (not set)", self.0))),
        }
    }
}

impl KeySource for DefaultFile {
    fn name(&self) -> &'static str {
        self.0
    }
    fn describe(&self) -> String {
        self.1.display().to_string()
    }
    fn load(&self) -> Result<Found> {
        if !self.1.exists() {
            return Ok(Found::Absent(format!(
                "{} (no such file)",
                self.1.display()
            )));
        }
        read_identity_file(&self.1, &self.describe()).map(Found::Identities)
    }
}

/// The configuration directory: `$XDG_CONFIG_HOME`, else `~/.config`.
fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
}

/// Every source, in lookup order.
pub fn sources(flag: Option<&Path>) -> Vec<Box<dyn KeySource>> {
    let mut sources: Vec<Box<dyn KeySource>> = Vec::new();
    if let Some(path) = flag {
        sources.push(Box::new(FlagFile(path.to_path_buf())));
    }
    sources.push(Box::new(EnvKey("KSEC_AGE_KEY")));
    sources.push(Box::new(EnvFile("KSEC_AGE_KEY_FILE")));
    sources.push(Box::new(command::KeyCommand("KSEC_AGE_KEY_CMD")));
    sources.push(Box::new(EnvKey("SOPS_AGE_KEY")));
    sources.push(Box::new(EnvFile("SOPS_AGE_KEY_FILE")));
    sources.push(Box::new(command::KeyCommand("SOPS_AGE_KEY_CMD")));
    sources.push(Box::new(EnvFile("SOPS_AGE_SSH_PRIVATE_KEY_FILE")));
    sources.push(Box::new(keyring::KeyringSource));
    match config_dir() {
        Some(dir) => {
            sources.push(Box::new(DefaultFile(
                KSEC_KEYS_TXT,
                dir.join("ksec").join("keys.txt"),
            )));
            sources.push(Box::new(DefaultFile(
                SOPS_KEYS_TXT,
                dir.join("sops").join("age").join("keys.txt"),
            )));
        }
        None => {
            sources.push(Box::new(NoConfigDir(KSEC_KEYS_TXT)));
            sources.push(Box::new(NoConfigDir(SOPS_KEYS_TXT)));
        }
    }
    sources
}

const KSEC_KEYS_TXT: &str = "~/.config/ksec/keys.txt";
const SOPS_KEYS_TXT: &str = "~/.config/sops/age/keys.txt";

/// A default key file that has no place because neither `XDG_CONFIG_HOME`
/// nor `HOME` is set: still listed, so the report names every source.
struct NoConfigDir(&'static str);

impl KeySource for NoConfigDir {
    fn name(&self) -> &'static str {
        self.0
    }
    fn describe(&self) -> String {
        self.0.to_string()
    }
    fn load(&self) -> Result<Found> {
        Ok(Found::Absent(format!(
            "{} (neither XDG_CONFIG_HOME nor HOME is set)",
            self.describe()
        )))
    }
}

/// Walk the sources in order; the first that yields identities wins.
pub fn lookup(flag: Option<&Path>) -> Result<Lookup> {
    let mut report = Vec::new();
    if flag.is_none() {
        report.push("--identity (not given)".to_string());
    }
    for source in sources(flag) {
        match source.load()? {
            Found::Absent(why) => report.push(why),
            Found::Identities(identities) if identities.is_empty() => {
                report.push(format!("{} (holds no identity)", source.describe()));
            }
            Found::Identities(identities) => {
                report.push(format!(
                    "{} (used: {} identit{})",
                    source.describe(),
                    identities.len(),
                    if identities.len() == 1 { "y" } else { "ies" }
                ));
                let answered = Answered {
                    name: source.name(),
                    describe: source.describe(),
                };
                return Ok(Lookup {
                    identities,
                    answered: Some(answered),
                    report,
                });
            }
        }
    }
    Ok(Lookup {
        identities: Vec::new(),
        answered: None,
        report,
    })
}

/// The most an identity file (or a key command's output) may hold: many
/// keys, far less than this.
const IDENTITY_FILE_LIMIT: u64 = 1 << 20;

fn read_identity_file(path: &Path, source: &str) -> Result<Identities> {
    use std::io::Read;
    let cannot_read = |e: &std::io::Error| {
        Error::io("read the identity file", path, e).hint(format!(
            "{source} names a file that cannot be read; fix the path or unset it"
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| cannot_read(&e))?;
    // room for the whole file: no reallocation leaves a copy of a key behind
    let size = file
        .metadata()
        .map_or(0, |m| m.len())
        .min(IDENTITY_FILE_LIMIT);
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(size as usize + 1));
    file.take(IDENTITY_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot_read(&e))?;
    if bytes.len() as u64 > IDENTITY_FILE_LIMIT {
        return Err(Error::new(
            Code::Invalid,
            format!("{source} is larger than 1 MiB, which no identity file is"),
        )
        .hint("point it at your age identity file or SSH private key"));
    }
    // `age -p` without `-a` writes a binary age file
    if unlock::is_age_file(&bytes) {
        return unlock::age_file(&bytes, source);
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::new(Code::Invalid, format!("{source} is not a text file"))
            .hint("an identity file holds AGE-SECRET-KEY-1… lines, or an OpenSSH private key")
    })?;
    parse_identities(text, source)
}

/// Parse identities from key text: an age identity file
/// (`AGE-SECRET-KEY-1…` lines, `#` comments), an OpenSSH private key, or
/// either of them protected by a passphrase (an age file encrypted with a
/// passphrase, an encrypted OpenSSH key), which asks for the passphrase on
/// the terminal once per run.
pub fn parse_identities(text: &str, source: &str) -> Result<Identities> {
    if unlock::is_age_file(text.trim_start().as_bytes()) {
        return unlock::age_file(text.trim_start().as_bytes(), source);
    }
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
        let identity = age::ssh::Identity::from_buffer(text.as_bytes(), None).map_err(|_| {
            Error::new(
                Code::Invalid,
                format!("{source} is not a supported SSH private key"),
            )
            .hint("use an ssh-ed25519 or ssh-rsa key in OpenSSH format")
        })?;
        let public = unlock::ssh_public_key(text);
        return match identity {
            age::ssh::Identity::Unencrypted(_) => Ok(vec![Identity::ssh(identity, public)]),
            age::ssh::Identity::Encrypted(key) => {
                unlock::ssh_key(&key, source, public).map(|id| vec![id])
            }
            age::ssh::Identity::Unsupported(_) => Err(Error::new(
                Code::Invalid,
                format!("{source} is an SSH key of a type age does not support"),
            )
            .hint("use an ssh-ed25519 or ssh-rsa key, or an age identity (ksec keygen)")),
        };
    }
    parse_age_lines(text, source)
}

/// Parse an age identity file: `AGE-SECRET-KEY-1…` and
/// `AGE-PLUGIN-<NAME>-1…` lines (whose plugin must be on PATH), `#` comments.
fn parse_age_lines(text: &str, source: &str) -> Result<Identities> {
    let mut identities: Identities = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match crate::crypto::plugin::parse_identity(line) {
            Ok(Some(plugin)) => {
                identities.push(Identity::plugin(plugin));
                continue;
            }
            Ok(None) => {}
            Err(why) => {
                return Err(Error::new(
                    Code::Decrypt,
                    format!("{source}: line {}: {why}", number + 1),
                )
                .hint("install the plugin, or use another identity source"));
            }
        }
        match line.parse::<age::x25519::Identity>() {
            Ok(identity) => identities.push(Identity::x25519(identity)),
            Err(_) => {
                return Err(Error::new(
                    Code::Invalid,
                    format!("{source}: line {} is not an age identity", number + 1),
                )
                .hint("an identity line starts with AGE-SECRET-KEY-1 (or AGE-PLUGIN- for an age plugin's key); comments start with #"));
            }
        }
    }
    Ok(identities)
}

/// A new X25519 identity in the age-keygen file format, with its recipient.
pub struct Generated {
    pub file_text: zeroize::Zeroizing<String>,
    pub secret: zeroize::Zeroizing<String>,
    pub recipient: String,
}

pub fn generate() -> Generated {
    use secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let secret = zeroize::Zeroizing::new(identity.to_string().expose_secret().to_string());
    let created = crate::crypto::sops::rfc3339_now();
    let file_text = zeroize::Zeroizing::new(format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        secret.as_str()
    ));
    Generated {
        file_text,
        secret,
        recipient,
    }
}
