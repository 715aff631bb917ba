//! One module per subcommand. Each is thin: load, call the domain, print.
//! Shared here: opening an encrypted file and turning format errors into
//! user-facing ones that name the file (never a value).

pub mod apply;
pub mod check;
pub mod completions;
pub mod decrypt;
pub mod edit;
pub mod encrypt;
pub mod git;
pub mod init;
pub mod keygen;
pub mod namespace;
pub mod recipients;
pub mod render;
pub mod set;

use crate::crypto::sops::{EncryptedFile, Format, Opened, OtherStore, SopsError};
use crate::error::{Code, Error, Result};
use crate::keys;
use std::path::{Path, PathBuf};

/// Resolved options every command can use.
pub struct Context {
    pub project_flag: Option<PathBuf>,
    pub identity_flag: Option<PathBuf>,
}

/// Explain a format-level error about `file`.
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
        SopsError::OtherStore(store) => Error::invalid(format!(
            "{f} is a SOPS {} file: ksec reads and writes only YAML and dotenv SOPS files (JSON and binary are not supported yet)",
            store.name()
        ))
        .hint(format!("use sops for this file (`sops edit {f}`, `sops -d {f}`); it was left unchanged")),
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

pub fn read_text(path: &Path) -> Result<String> {
    let bytes = crate::fsutil::read_file(path)?;
    String::from_utf8(bytes).map_err(|_| {
        Error::invalid(format!("{} is not UTF-8 text", path.display()))
            .hint("ksec encrypts YAML and dotenv files")
    })
}

/// Read, decrypt and verify an encrypted file, to change and save it.
pub fn open(path: &Path, ctx: &Context) -> Result<Opened> {
    open_for(path, ctx, true)
}

/// Read, decrypt and verify an encrypted file, only to read it.
pub fn open_to_read(path: &Path, ctx: &Context) -> Result<Opened> {
    open_for(path, ctx, false)
}

fn open_for(path: &Path, ctx: &Context, rewrite: bool) -> Result<Opened> {
    // sops reads a `*.json` file as JSON whatever it holds: ksec's YAML
    // would not be read back. (Reading stays allowed, to recover a file.)
    if rewrite
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return Err(sops_error(path, SopsError::OtherStore(OtherStore::Json)));
    }
    let text = read_text(path)?;
    let file =
        EncryptedFile::parse(&text, Format::from_path(path)).map_err(|e| sops_error(path, e))?;
    let lookup = keys::lookup(ctx.identity_flag.as_deref())?;
    if lookup.identities.is_empty() {
        let mut e = lookup
            .not_found(format!(
                "cannot decrypt {}: no age identity found",
                path.display()
            ))
            .detail("the file is encrypted to:");
        for r in file.recipients() {
            e = e.detail(format!("  {r}"));
        }
        return Err(e);
    }
    let opened = if rewrite {
        file.open(&lookup.identities)
    } else {
        file.open_to_read(&lookup.identities)
    };
    match opened {
        Ok(opened) => Ok(opened),
        Err(err @ SopsError::NoMatchingIdentity { .. }) => {
            let mut e = sops_error(path, err).detail("identities came from:");
            for line in &lookup.report {
                e = e.detail(format!("  {line}"));
            }
            Err(e)
        }
        Err(err) => Err(sops_error(path, err)),
    }
}

/// Seal an opened file and write it back atomically.
pub fn save(path: &Path, opened: Opened) -> Result<()> {
    if opened.file.format == Format::Yaml {
        warn_dropped_comments(path);
    }
    let sealed = opened.seal().map_err(|e| sops_error(path, e))?;
    let text = sealed.emit().map_err(|e| sops_error(path, e))?;
    crate::fsutil::write_atomic(path, text.as_bytes(), 0o644)
}

/// A write to stdout that failed for another reason than a closed pipe.
pub fn stdout_error(err: &std::io::Error) -> Error {
    Error::new(Code::Io, format!("cannot write to stdout: {err}"))
        .hint("check where stdout goes (a full disk, a closed file)")
}

/// `println!` that returns a failed write instead of panicking: a closed
/// pipe is fine, any other failure (a full disk) is an io error (see
/// [`write_stdout`]). Every line ksec prints on stdout goes through it or
/// `write_stdout` (`clippy::print_stdout` is denied).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::write_stdout(format!("{}\n", format_args!($($arg)*)).as_bytes())
    };
}
pub(crate) use outln;

/// Write to stdout; a closed pipe (`ksec decrypt f | head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(stdout_error(&e)),
    }
}

/// ksec does not keep YAML comments; say so rather than drop them silently.
fn warn_dropped_comments(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        warn_dropped_comments_in(&path.display().to_string(), &text);
    }
}

/// The warning for the encrypted YAML `text` of file `name`.
pub fn warn_dropped_comments_in(name: &str, text: &str) {
    let count = crate::crypto::comment_lines(text);
    if count > 0 {
        eprintln!(
            "warning: {name}: {count} comment line{} will not be kept (ksec does not keep comments in encrypted YAML yet)",
            if count == 1 { "" } else { "s" }
        );
    }
}

/// Rows as columns padded to their widest cell.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
