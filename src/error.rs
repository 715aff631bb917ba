//! Errors: what went wrong, where, and what to do next — mapped to named
//! exit codes in one place. No error ever carries a secret value.

use std::fmt;
use std::path::Path;

/// The exit codes ksec documents (see `ksec --help` and the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 1: `diff` found differences (like diff(1)).
    Drift,
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
    pub const ALL: [Code; 14] = [
        Code::Drift,
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
            Code::Drift => 1,
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
            Code::Drift => "drift",
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
            Code::Drift => "`diff` found differences",
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
}

/// The exit-code list of `ksec --help`, generated from [`Code`] so that it
/// cannot drift from what ksec returns.
pub fn exit_codes_help() -> String {
    let mut out = String::from("Exit codes:\n   0  success");
    for code in Code::ALL {
        out.push_str(&format!(
            "\n{:>4}  {}: {}",
            code.exit_code(),
            code.name(),
            code.meaning()
        ));
    }
    out
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
        // drift is an answer, not a failure (like diff(1) exiting 1)
        if self.code == Code::Drift {
            f.write_str(&self.message)?;
        } else {
            write!(f, "error: {}", self.message)?;
        }
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
            Code::Drift => 0,
            Code::Usage => 1,
            Code::NotFound => 2,
            Code::Decrypt => 3,
            Code::Integrity => 4,
            Code::Invalid => 5,
            Code::AccessDenied => 6,
            Code::NeedsConfirmation => 7,
            Code::Unavailable => 8,
            Code::Io => 9,
            Code::CheckFailed => 10,
            Code::Conflict => 11,
            Code::Unexpected => 12,
            Code::Interrupted => 13,
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
        let mut numbers: Vec<u8> = Code::ALL.iter().map(|c| c.exit_code()).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), Code::ALL.len());
        let help = exit_codes_help();
        for code in Code::ALL {
            assert!(
                help.contains(&format!("{:>4}  {}: ", code.exit_code(), code.name())),
                "{help}"
            );
        }
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
