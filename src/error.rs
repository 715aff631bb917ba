//! Errors: what went wrong, where, and what to do next — mapped to named
//! exit codes in one place. No error ever carries a secret value.

use crate::crypto::sops::SopsError;
use std::fmt;
use std::path::Path;

/// How a command that ran to its end answers. Not a failure: `diff`
/// finding differences exits 1 like diff(1), and prints no `error:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 0: done.
    Success,
    /// 1: `diff` found differences.
    Drift,
    /// The exit status of the command `ksec exec` ran (128+N when signal N
    /// ended it), passed through; not in the table (the command's own).
    Command(u8),
}

impl Outcome {
    /// Every outcome, in the order of the documented table.
    pub const ALL: [Outcome; 2] = [Outcome::Success, Outcome::Drift];

    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Drift => 1,
            Outcome::Command(code) => code,
        }
    }

    /// The name in the table; success has none.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Outcome::Success => None,
            Outcome::Drift => Some("drift"),
            Outcome::Command(_) => None,
        }
    }

    /// What the outcome means, as `ksec --help` and the README say it.
    pub fn meaning(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Drift => "`diff` found differences",
            Outcome::Command(_) => "the exit status of the command `exec` ran",
        }
    }
}

/// The exit codes of errors ksec documents (see `ksec --help` and the
/// README); the codes below 2 are [`Outcome`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 2: the command line is wrong.
    Usage,
    /// 3: a file, key, project or identity does not exist.
    NotFound,
    /// 4: no available identity can decrypt the file.
    Decrypt,
    /// 5: an encrypted file failed its integrity check (tampered).
    Integrity,
    /// 6: input is invalid: YAML, ksec.yaml, a name, a recipient.
    Invalid,
    /// 7: the cluster's RBAC denies a needed permission.
    AccessDenied,
    /// 8: a protected environment needs confirmation (`--yes`).
    NeedsConfirmation,
    /// 9: the cluster or a local service (keyring) is unreachable, or the
    /// API server still refuses with 429/5xx when the retries run out.
    Unavailable,
    /// 10: reading or writing a file failed.
    Io,
    /// 11: `ksec check` found problems.
    CheckFailed,
    /// 12: a merge has conflicts (the git merge driver).
    Conflict,
    /// 70: a bug in ksec.
    Unexpected,
    /// 130: interrupted by Ctrl-C.
    Interrupted,
}

impl Code {
    /// Every code, in the order of the documented table.
    pub const ALL: [Code; 13] = [
        Code::Usage,
        Code::NotFound,
        Code::Decrypt,
        Code::Integrity,
        Code::Invalid,
        Code::AccessDenied,
        Code::NeedsConfirmation,
        Code::Unavailable,
        Code::Io,
        Code::CheckFailed,
        Code::Conflict,
        Code::Unexpected,
        Code::Interrupted,
    ];

    pub fn exit_code(self) -> u8 {
        match self {
            Code::Usage => 2,
            Code::NotFound => 3,
            Code::Decrypt => 4,
            Code::Integrity => 5,
            Code::Invalid => 6,
            Code::AccessDenied => 7,
            Code::NeedsConfirmation => 8,
            Code::Unavailable => 9,
            Code::Io => 10,
            Code::CheckFailed => 11,
            Code::Conflict => 12,
            Code::Unexpected => 70,
            Code::Interrupted => 130,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Code::Usage => "usage",
            Code::NotFound => "not-found",
            Code::Decrypt => "decrypt",
            Code::Integrity => "integrity",
            Code::Invalid => "invalid",
            Code::AccessDenied => "access-denied",
            Code::NeedsConfirmation => "needs-confirmation",
            Code::Unavailable => "unavailable",
            Code::Io => "io",
            Code::CheckFailed => "check-failed",
            Code::Conflict => "conflict",
            Code::Unexpected => "unexpected",
            Code::Interrupted => "interrupted",
        }
    }

    /// What the code means, as `ksec --help` and the README say it.
    pub fn meaning(self) -> &'static str {
        match self {
            Code::Usage => "the command line is wrong",
            Code::NotFound => "a file, key, project or identity does not exist",
            Code::Decrypt => "no available identity can decrypt the file",
            Code::Integrity => "an encrypted file failed its integrity check (tampered)",
            Code::Invalid => "invalid input (YAML, ksec.yaml, a name, a recipient)",
            Code::AccessDenied => "RBAC denies a permission, or the credentials are refused (401)",
            Code::NeedsConfirmation => "a protected environment needs --yes",
            Code::Unavailable => {
                "the cluster or the OS keyring cannot be reached, or a file stays locked"
            }
            Code::Io => "reading or writing a file (or the output) failed",
            Code::CheckFailed => "`ksec check` found problems",
            Code::Conflict => {
                "a merge left conflicts (`ksec git merge`, or `edit` vs a change made meanwhile)"
            }
            Code::Unexpected => "a bug in ksec (please report it)",
            Code::Interrupted => "stopped by Ctrl-C (nothing written)",
        }
    }

    /// What the code means in the README's table: the meaning, with the
    /// cases spelled out.
    pub fn long_meaning(self) -> &'static str {
        match self {
            Code::Usage => "the command line is wrong (clap's usage errors too)",
            Code::NotFound => "a file, key, project or identity file does not exist",
            Code::Decrypt => "no available identity can decrypt the file",
            Code::Integrity => "an encrypted file failed its integrity check (tampered or damaged)",
            Code::Invalid => {
                "invalid input: YAML, dotenv, `ksec.yaml`, a name (also in `init`), a recipient (also an unknown `-r` name), an encrypted file given to `encrypt`"
            }
            Code::AccessDenied => {
                "the cluster's RBAC denies a needed permission, or the API server refuses the credentials (401)"
            }
            Code::NeedsConfirmation => {
                "a protected environment needs `--yes`; `--prune` would delete a namespace not confirmed by name"
            }
            Code::Unavailable => {
                "the cluster or the OS keyring cannot be reached, or the API server still answers 429/5xx when the retries run out; another ksec kept the file locked for `KSEC_LOCK_TIMEOUT` seconds"
            }
            Code::Io => {
                "reading or writing a file failed, or the editor failed, or stdout could not be written (`--help > /dev/full`; a closed pipe is not an error)"
            }
            Code::CheckFailed => "`ksec check` found problems",
            Code::Conflict => {
                "`ksec git merge` left conflicts (the file stays encrypted); `edit` found a key you changed changed meanwhile too (nothing written)"
            }
            Code::Unexpected => "a bug in ksec",
            Code::Interrupted => {
                "Ctrl-C during `edit` or at `set`'s hidden prompt (nothing written)"
            }
        }
    }
}

/// One row of the exit-code table.
pub struct ExitRow {
    pub code: u8,
    /// None for success.
    pub name: Option<&'static str>,
    /// The short meaning `ksec --help` (and so the man page) shows.
    pub meaning: &'static str,
    /// The README's longer meaning.
    pub long_meaning: &'static str,
}

/// Every documented exit status: the outcomes, then the error codes. The
/// one definition `ksec --help`, the man page and the README table come
/// from, so none can drift from what ksec returns.
pub fn exit_table() -> Vec<ExitRow> {
    let outcomes = Outcome::ALL.into_iter().map(|o| ExitRow {
        code: o.exit_code(),
        name: o.name(),
        meaning: o.meaning(),
        long_meaning: o.meaning(),
    });
    let errors = Code::ALL.into_iter().map(|c| ExitRow {
        code: c.exit_code(),
        name: Some(c.name()),
        meaning: c.meaning(),
        long_meaning: c.long_meaning(),
    });
    outcomes.chain(errors).collect()
}

/// The exit-code list of `ksec --help` (and of the man page).
pub fn exit_codes_help() -> String {
    let mut out = String::from("Exit codes:");
    for row in exit_table() {
        match row.name {
            Some(name) => out.push_str(&format!("\n{:>4}  {name}: {}", row.code, row.meaning)),
            None => out.push_str(&format!("\n{:>4}  {}", row.code, row.meaning)),
        }
    }
    out
}

/// The exit-code table of the README, in Markdown (a test keeps the
/// README's copy equal to it).
pub fn exit_codes_markdown() -> String {
    let mut out = String::from("| code | name | meaning |\n| --- | --- | --- |\n");
    for row in exit_table() {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            row.code,
            row.name.unwrap_or(""),
            row.long_meaning
        ));
    }
    out.replace("|  |", "| |")
}

/// A name taken from input (a command line, ksec.yaml), made safe to put in
/// a message: as it is when it is plain, else quoted with control
/// characters escaped, so a newline in a name cannot forge a line of output.
pub fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    let plain = !name.is_empty()
        && name.chars().all(|c| {
            !c.is_control() && !c.is_whitespace() && !invisible(c) && !matches!(c, '"' | '\\' | '`')
        });
    if plain {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(format!(
            "\"{}\"",
            escape_controls(name).replace('"', "\\\"")
        ))
    }
}

/// Characters that change how text around them shows: zero-width and
/// direction marks and overrides.
fn invisible(c: char) -> bool {
    matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2066..=0x2069 | 0xFEFF)
}

/// `text` with control characters (`\n`, `\u{1b}`) and invisible ones
/// escaped, so text taken from input cannot break or forge a line of a
/// message.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else if invisible(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A user-facing error: a one-line statement, optional detail lines, and a
/// hint saying what to do next.
#[derive(Debug)]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub details: Vec<String>,
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            details: Vec::new(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    pub fn detail(mut self, line: impl Into<String>) -> Error {
        self.details.push(line.into());
        self
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(Code::Usage, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(Code::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Code::Invalid, message)
    }

    /// A failed read or write of `path`.
    pub fn io(action: &str, path: &Path, err: &std::io::Error) -> Error {
        let code = if err.kind() == std::io::ErrorKind::NotFound {
            Code::NotFound
        } else {
            Code::Io
        };
        let hint = match err.kind() {
            std::io::ErrorKind::NotFound => "check the path",
            std::io::ErrorKind::PermissionDenied => "check the file's permissions",
            std::io::ErrorKind::AlreadyExists => "choose another path or remove the file first",
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                "free space on that file system, then run the command again"
            }
            _ => "check the path and the disk",
        };
        Error::new(
            code,
            format!("cannot {action} {}: {}", path.display(), io_reason(err)),
        )
        .hint(hint)
    }
}

/// Explain a format-level error about `file`: the exit code, the file
/// (never a value) and what to do.
pub fn sops_error(file: &Path, err: SopsError) -> Error {
    let f = file.display();
    match err {
        SopsError::Syntax { line, message } => {
            let at = line.map(|l| format!(":{l}")).unwrap_or_default();
            Error::invalid(format!("{f}{at}: {message}")).hint("fix the syntax and run the command again")
        }
        SopsError::Limit { message } => Error::invalid(format!("{f}: {message}"))
            .hint("split it into several files (the limits are listed in the README under \"Limits\")"),
        SopsError::NotEncrypted => Error::invalid(format!("{f} is not a SOPS-encrypted file (it has no sops metadata)"))
            .hint("encrypt it first with `ksec encrypt`"),
        SopsError::AlreadyEncrypted => Error::invalid(format!(
            "{f} is already encrypted (it has sops metadata: a top-level `sops` key, or `sops_` keys in dotenv)"
        ))
        .hint("use `ksec edit` or `ksec set` to change an encrypted file; `sops` is reserved for the metadata"),
        SopsError::WrongName { holds, named } => Error::invalid(format!(
            "{f} holds SOPS {} under a name sops reads as {}: ksec will not write it back under this name",
            holds.name(),
            named.name()
        ))
        .hint(format!("rename it to match its content (`git mv {f} …`); it was left unchanged")),
        SopsError::Unsupported(why) => Error::invalid(format!("{f}: {why}")).hint("decrypt it with sops instead"),
        SopsError::BadMetadata(why) => Error::new(Code::Integrity, format!("{f}: damaged sops metadata: {why}"))
            .hint("restore the file from git"),
        SopsError::NoAgeRecipients => Error::new(Code::Decrypt, format!("{f} has no age recipients"))
            .hint("it was encrypted with other key types (pgp, kms…); ksec decrypts age only"),
        SopsError::NoMatchingIdentity { recipients } => {
            let mut e = Error::new(Code::Decrypt, format!("cannot decrypt {f}: none of your identities is one of its recipients"));
            e = e.detail("the file is encrypted to:");
            for r in recipients {
                e = e.detail(format!("  {r}"));
            }
            e.hint("ask someone who can decrypt it to add your recipient (ksec.yaml, then re-encrypt), or point KSEC_AGE_KEY_FILE at the right key")
        }
        SopsError::DamagedStanza { recipients } => {
            let mut e = Error::new(
                Code::Integrity,
                format!("cannot decrypt {f}: its data key stanza is damaged (truncated or edited), so the data key cannot be recovered from it"),
            )
            .detail("damaged stanza of:");
            for r in recipients {
                e = e.detail(format!("  {r}"));
            }
            e.hint("restore the file from git (`git checkout -- FILE`); if you are not one of these recipients, ask someone who is to re-encrypt it")
        }
        SopsError::Plugin { recipient, message } => Error::new(
            Code::Decrypt,
            format!("cannot decrypt {f}: the age plugin for recipient {recipient} failed: {message}"),
        )
        .hint("make sure the plugin's key is present (plugged in), and run ksec on a terminal to answer the plugin's prompts"),
        SopsError::ValueIntegrity { path } => Error::new(
            Code::Integrity,
            format!("integrity check failed for {f}: the value of key {path} was changed or moved"),
        )
        .hint("the file was tampered with or damaged; restore it from git"),
        SopsError::ValueType { path, tag } => Error::new(
            Code::Integrity,
            format!("integrity check failed for {f}: the value of key {path} does not read as its declared type:{tag} (its type tag was changed)"),
        )
        .hint("the file was tampered with or damaged; restore it from git"),
        SopsError::ValueMalformed { path } => Error::new(
            Code::Integrity,
            format!("integrity check failed for {f}: key {path} does not hold a SOPS-encrypted value"),
        )
        .hint("the file was tampered with or damaged; restore it from git"),
        SopsError::MacUnreadable => Error::new(
            Code::Integrity,
            format!("integrity check failed for {f}: the MAC or lastmodified was changed"),
        )
        .hint("the file was tampered with or damaged; restore it from git"),
        SopsError::MacMismatch => Error::new(
            Code::Integrity,
            format!("integrity check failed for {f}: the values do not match the MAC (a key was added, removed or reordered)"),
        )
        .hint("the file was tampered with or damaged; restore it from git"),
        SopsError::Emit(why) => Error::invalid(format!("{f}: {why}")),
    }
}

fn io_reason(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::AlreadyExists => "it already exists".into(),
        std::io::ErrorKind::StorageFull => "no space left on the device".into(),
        std::io::ErrorKind::QuotaExceeded => "disk quota exceeded".into(),
        _ => err.to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for line in &self.details {
            write!(f, "\n  {line}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive: a new variant does not compile until it is placed here,
    /// and the test below then wants it in `Code::ALL` too.
    fn position(code: Code) -> usize {
        match code {
            Code::Usage => 0,
            Code::NotFound => 1,
            Code::Decrypt => 2,
            Code::Integrity => 3,
            Code::Invalid => 4,
            Code::AccessDenied => 5,
            Code::NeedsConfirmation => 6,
            Code::Unavailable => 7,
            Code::Io => 8,
            Code::CheckFailed => 9,
            Code::Conflict => 10,
            Code::Unexpected => 11,
            Code::Interrupted => 12,
        }
    }

    #[test]
    fn all_holds_every_variant_in_table_order() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(position(*code), i, "{code:?}");
        }
    }

    #[test]
    fn every_code_is_listed_once_with_a_distinct_number() {
        let table = exit_table();
        assert_eq!(table.len(), Outcome::ALL.len() + Code::ALL.len());
        let mut numbers: Vec<u8> = table.iter().map(|r| r.code).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), table.len());
        let help = exit_codes_help();
        for code in Code::ALL {
            assert!(
                help.contains(&format!("{:>4}  {}: ", code.exit_code(), code.name())),
                "{help}"
            );
        }
        assert!(
            help.starts_with("Exit codes:\n   0  success\n   1  drift: "),
            "{help}"
        );
    }

    #[test]
    fn shown_escapes_control_characters_and_keeps_plain_names() {
        assert_eq!(shown("payments"), "payments");
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert_eq!(shown("a\u{1b}[31mb"), "\"a\\u{1b}[31mb\"");
        assert_eq!(shown(""), "\"\"");
        assert!(!shown("x\ry").contains('\r'));
        assert_eq!(shown("a\u{202e}b"), "\"a\\u{202e}b\"");
        assert_eq!(shown("a b"), "\"a b\"");
    }
}
