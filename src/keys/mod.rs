//! Finding the identity (private key) that decrypts, behind one trait.
//!
//! Lookup order — the first source that is configured wins:
//!
//! 1. `--identity FILE`
//! 2. `KSEC_AGE_KEY` (the key text itself, for CI)
//! 3. `KSEC_AGE_KEY_FILE`
//! 4. `SOPS_AGE_KEY`
//! 5. `SOPS_AGE_KEY_FILE`
//! 6. the OS keyring (service `ksec`)
//! 7. `~/.config/ksec/keys.txt`
//! 8. `~/.config/sops/age/keys.txt`
//!
//! A source that is configured but broken (a file that does not exist, text
//! that is not a key) is an error naming the source, never a silent skip.
//! Key material is never printed; errors name lines, not contents.

pub mod keyring;

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
    /// How the user would name this place (`KSEC_AGE_KEY_FILE=/path`).
    fn describe(&self) -> String;
    fn load(&self) -> Result<Found>;
}

/// The outcome of a lookup: the identities and a report of every place
/// consulted, for error messages.
pub struct Lookup {
    pub identities: Identities,
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
struct DefaultFile(PathBuf);

impl KeySource for FlagFile {
    fn describe(&self) -> String {
        format!("--identity {}", self.0.display())
    }
    fn load(&self) -> Result<Found> {
        read_identity_file(&self.0, &self.describe()).map(Found::Identities)
    }
}

impl KeySource for EnvKey {
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
    fn describe(&self) -> String {
        self.0.display().to_string()
    }
    fn load(&self) -> Result<Found> {
        if !self.0.exists() {
            return Ok(Found::Absent(format!(
                "{} (no such file)",
                self.0.display()
            )));
        }
        read_identity_file(&self.0, &self.describe()).map(Found::Identities)
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
    sources.push(Box::new(EnvKey("SOPS_AGE_KEY")));
    sources.push(Box::new(EnvFile("SOPS_AGE_KEY_FILE")));
    sources.push(Box::new(keyring::KeyringSource));
    match config_dir() {
        Some(dir) => {
            sources.push(Box::new(DefaultFile(dir.join("ksec").join("keys.txt"))));
            sources.push(Box::new(DefaultFile(
                dir.join("sops").join("age").join("keys.txt"),
            )));
        }
        None => {
            sources.push(Box::new(NoConfigDir("ksec/keys.txt")));
            sources.push(Box::new(NoConfigDir("sops/age/keys.txt")));
        }
    }
    sources
}

/// A default key file that has no place because neither `XDG_CONFIG_HOME`
/// nor `HOME` is set: still listed, so the report names every source.
struct NoConfigDir(&'static str);

impl KeySource for NoConfigDir {
    fn describe(&self) -> String {
        format!("~/.config/{}", self.0)
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
                return Ok(Lookup { identities, report });
            }
        }
    }
    Ok(Lookup {
        identities: Vec::new(),
        report,
    })
}

fn read_identity_file(path: &Path, source: &str) -> Result<Identities> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::io("read the identity file", path, &e).hint(format!(
            "{source} names a file that cannot be read; fix the path or unset it"
        ))
    })?;
    let text = zeroize::Zeroizing::new(text);
    parse_identities(&text, source)
}

/// Parse an age identity file (`AGE-SECRET-KEY-1…` lines, `#` comments) or
/// an unencrypted OpenSSH private key.
pub fn parse_identities(text: &str, source: &str) -> Result<Identities> {
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
        let identity = age::ssh::Identity::from_buffer(text.as_bytes(), None).map_err(|_| {
            Error::new(
                Code::Invalid,
                format!("{source} is not a supported SSH private key"),
            )
            .hint("use an ssh-ed25519 or ssh-rsa key in OpenSSH format")
        })?;
        return match identity {
            age::ssh::Identity::Unencrypted(_) => Ok(vec![Identity::ssh(identity)]),
            age::ssh::Identity::Encrypted(_) => Err(Error::new(
                Code::Invalid,
                format!("{source} is a passphrase-protected SSH key, which ksec cannot use yet"),
            )
            .hint("use an age identity (ksec keygen) or an unencrypted copy of the SSH key")),
            age::ssh::Identity::Unsupported(_) => Err(Error::new(
                Code::Invalid,
                format!("{source} is an SSH key of a type age does not support"),
            )
            .hint("use an ssh-ed25519 or ssh-rsa key, or an age identity (ksec keygen)")),
        };
    }
    let mut identities: Identities = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.parse::<age::x25519::Identity>() {
            Ok(identity) => identities.push(Identity::x25519(identity)),
            Err(_) => {
                return Err(Error::new(
                    Code::Invalid,
                    format!("{source}: line {} is not an age identity", number + 1),
                )
                .hint("an identity line starts with AGE-SECRET-KEY-1; comments start with #"));
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
