//! `ksec git setup|textconv|merge`: per-key diff and merge of encrypted files.
//!
//! - `setup` writes the repository's local git config for the `ksec` diff
//!   and merge drivers and the `.gitattributes` lines that select them.
//! - `textconv` is the diff driver. With an identity that opens the file it
//!   prints the decrypted plaintext: the user configured this view of their
//!   own repository, so it is, with `decrypt` and `edit`, one of the places
//!   where ksec shows values. Without one it prints the structure with a
//!   short digest of each value's ciphertext. It never fails a diff.
//! - `merge` is the merge driver: it reads the three files and writes what
//!   `gitdriver` merged (per key, sealed again). It never writes plaintext:
//!   on a conflict the file stays encrypted and holds our side of each
//!   conflicting key; when a side cannot be decrypted it is left untouched.

use super::outln;
use super::{Context, write_stdout};
use crate::cli::{GitCommand, MergeArgs};
use crate::crypto::cipher::is_encrypted;
use crate::crypto::sops::{EncryptedFile, Format, SopsError, emit_plain};
use crate::crypto::tree::{Item, Leaf, Value};
use crate::error::{Code, Error, Result};
use crate::gitdriver::{MergeInput, MergeResult, merge_texts};
use crate::load::{self, Missing, NoIdentity};
use crate::project::scaffold::GITATTRIBUTES;
use crate::{fsutil, project};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The local git config `ksec git setup` writes.
const CONFIG: &[(&str, &str)] = &[
    ("diff.ksec.textconv", "ksec git textconv"),
    ("diff.ksec.cachetextconv", "false"),
    ("merge.ksec.name", "ksec: per-key merge of encrypted files"),
    ("merge.ksec.driver", "ksec git merge %O %A %B %P"),
];

pub fn run(cmd: GitCommand, ctx: &Context) -> Result<()> {
    match cmd {
        GitCommand::Setup => setup(ctx),
        GitCommand::Textconv(args) => write_stdout(&textconv(&args.file, ctx)),
        GitCommand::Merge(args) => merge_driver(&args, ctx),
    }
}

// ---------------------------------------------------------------- setup

fn setup(ctx: &Context) -> Result<()> {
    // The project root holds .gitattributes; outside a project, the
    // repository's top level does.
    let project_root = match project::find_root(ctx.project_flag.as_deref()) {
        Ok(root) => Some(root),
        Err(e) if ctx.project_flag.is_some() => return Err(e),
        Err(_) => None,
    };
    let start = match &project_root {
        Some(root) => root.clone(),
        None => std::env::current_dir()
            .map_err(|e| Error::io("read the working directory", Path::new("."), &e))?,
    };
    let top = git(&start, &["rev-parse", "--show-toplevel"]).map_err(|_| {
        Error::invalid(format!("{} is not in a git repository", start.display()))
            .hint("run `git init` (or clone the repository) first, then `ksec git setup` inside it")
    })?;
    let root = project_root.unwrap_or_else(|| PathBuf::from(top.trim()));

    outln!("git config --local (this repository only):")?;
    for (key, value) in CONFIG {
        git(&root, &["config", "--local", key, value])?;
        outln!("  {key} = {value}")?;
    }
    let attributes = root.join(".gitattributes");
    let added = fsutil::merge_lines(&attributes, GITATTRIBUTES)?;
    if added.is_empty() {
        outln!(".gitattributes already selects the ksec drivers; nothing changed")?;
    } else {
        outln!("{}: added", attributes.display())?;
        for line in added {
            outln!("  {line}")?;
        }
    }
    if on_path("ksec").is_none() {
        outln!(
            "note: git runs `ksec` from PATH, and no ksec is on this shell's PATH; install it there"
        )?;
    }
    Ok(())
}

/// Run git in `dir`; its stdout, or an error carrying its message.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| {
            Error::not_found(format!("cannot run git: {e}")).hint("install git and put it on PATH")
        })?;
    if !out.status.success() {
        return Err(Error::invalid(format!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

// ------------------------------------------------------------- textconv

/// What `git diff` shows for `file`. Always some text: a diff never fails.
fn textconv(file: &Path, ctx: &Context) -> Vec<u8> {
    let bytes = match fsutil::read_file(file) {
        Ok(b) => b,
        Err(e) => return format!("# ksec: {}\n", e.message).into_bytes(),
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => return e.into_bytes(),
    };
    let format = Format::of_encrypted(file, &text);
    let Ok(encrypted) = EncryptedFile::parse(&text, format) else {
        // not a SOPS file (or not one ksec can read): as it is
        return text.into_bytes();
    };
    let summary = recipients_line(&encrypted);
    let why = match load::identities_if_any(ctx) {
        Err(Missing::Failed(e)) => format!("your identity could not be loaded: {}", e.message),
        Err(Missing::NotFound) => "no age identity found".to_string(),
        Ok(identities) => match encrypted.clone().open_to_read(&identities) {
            Ok(opened) => match emit_plain(&opened.plain, format) {
                Ok(plain) => {
                    let mut out = zeroize::Zeroizing::new(plain);
                    out.push_str(&summary);
                    return out.as_bytes().to_vec();
                }
                Err(_) => "the decrypted document cannot be written in its format".to_string(),
            },
            Err(e) => not_decrypted(e),
        },
    };
    let shown = emit_plain(&digests(&encrypted.body), format).unwrap_or_default();
    format!("# ksec: values not shown ({why})\n{shown}{summary}").into_bytes()
}

/// Why a file was not decrypted, without the temporary path git gave us.
fn not_decrypted(err: SopsError) -> String {
    match err {
        SopsError::NoMatchingIdentity { .. } => "none of your identities can decrypt it".into(),
        SopsError::NoAgeRecipients => "it has no age recipients".into(),
        SopsError::ValueIntegrity { path } | SopsError::ValueMalformed { path } => {
            format!("integrity check failed at key {path}")
        }
        SopsError::MacUnreadable | SopsError::MacMismatch => {
            "integrity check failed: the values do not match the MAC".into()
        }
        SopsError::BadMetadata(why) => format!("damaged sops metadata: {why}"),
        SopsError::Unsupported(why) => why,
        _ => "it could not be decrypted".into(),
    }
}

/// One line in place of the `sops` metadata: who can decrypt.
fn recipients_line(file: &EncryptedFile) -> String {
    let recipients = file.recipients();
    if recipients.is_empty() {
        "# sops: no age recipients\n".into()
    } else {
        format!("# sops: encrypted to {}\n", recipients.join(", "))
    }
}

/// The encrypted tree with each encrypted value replaced by a short digest
/// of its ciphertext: it changes exactly when ksec re-encrypted the value,
/// which ksec does only when the value changed.
fn digests(value: &Value) -> Value {
    let digest = |enc: &str| {
        let hash = Sha256::digest(enc.as_bytes());
        hash[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    match value {
        Value::Leaf(leaf) if is_encrypted(leaf.expose()) => Value::Leaf(Leaf::str(format!(
            "<encrypted sha256:{}>",
            digest(leaf.expose())
        ))),
        Value::Comment(text) if is_encrypted(text.expose_secret()) => Value::Comment(
            format!(
                " <encrypted comment sha256:{}>",
                digest(text.expose_secret())
            )
            .into(),
        ),
        Value::Leaf(_) | Value::Null | Value::Comment(_) => value.clone(),
        Value::Seq(values) => Value::Seq(
            values
                .iter()
                .filter(|v| !matches!(v, Value::Leaf(l) if l.expose().ends_with(",type:comment]")))
                .map(digests)
                .collect(),
        ),
        Value::Map(items) => Value::Map(
            items
                .iter()
                .map(|item| match item {
                    Item::Pair(k, v) => Item::Pair(k.clone(), digests(v)),
                    Item::Comment(text) if is_encrypted(text.expose_secret()) => Item::Comment(
                        format!(
                            " <encrypted comment sha256:{}>",
                            digest(text.expose_secret())
                        )
                        .into(),
                    ),
                    Item::Comment(_) => item.clone(),
                })
                .collect(),
        ),
    }
}

// ---------------------------------------------------------------- merge

fn merge_driver(args: &MergeArgs, ctx: &Context) -> Result<()> {
    let name = args
        .path
        .as_deref()
        .unwrap_or(&args.ours)
        .display()
        .to_string();
    let ours_text = fsutil::read_text(&args.ours)?;
    let theirs_text = fsutil::read_text(&args.theirs)?;
    let base_text = match fsutil::read_file(&args.base) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            Error::invalid(format!("{name} (merge base) is not UTF-8 text"))
                .hint("resolve the conflict by hand: ksec encrypts YAML and dotenv files")
        })?,
        Err(e) if e.code == Code::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let input = MergeInput {
        name: &name,
        path: args.path.as_deref(),
        base: &base_text,
        ours: &ours_text,
        theirs: &theirs_text,
    };
    let outcome = merge_texts(&input, || {
        let lookup = load::identities(ctx, || {
            NoIdentity::new(format!(
                "cannot merge {name}: no age identity found to decrypt it"
            ))
            .hint("set KSEC_AGE_KEY_FILE to your key file and merge again, or resolve by hand with `ksec edit`")
        })?;
        Ok(lookup.identities)
    })?;
    match outcome.result {
        MergeResult::LineMerge => return merge_text(args, &name),
        MergeResult::Unchanged => {}
        MergeResult::Write(text) => {
            fsutil::write_atomic(&args.ours, text.as_bytes(), 0o644)?;
        }
    }
    match outcome.conflict {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Neither side is encrypted: git's own line merge, conflict markers and all.
fn merge_text(args: &MergeArgs, name: &str) -> Result<()> {
    let status = Command::new("git")
        .arg("merge-file")
        .args(["-L", "ours", "-L", "base", "-L", "theirs"])
        .arg(&args.ours)
        .arg(&args.base)
        .arg(&args.theirs)
        .status()
        .map_err(|e| {
            Error::not_found(format!("cannot run git merge-file: {e}")).hint("install git")
        })?;
    match status.code() {
        Some(0) => Ok(()),
        Some(n) if n > 0 => Err(Error::new(
            Code::Conflict,
            format!("merge conflict in {name} (not encrypted; merged line by line)"),
        )
        .hint(format!("fix the conflict markers, then git add {name}"))),
        _ => Err(Error::invalid(format!("git merge-file failed on {name}"))),
    }
}
