//! `ksec edit`: decrypt into a private directory, run the editor,
//! re-encrypt. The plaintext file is removed on every path: success, error,
//! invalid content, and Ctrl-C. SIGINT, SIGTERM and SIGHUP are blocked in
//! ksec (not in the editor) for the whole edit; after the editor exits, a
//! pending one means "interrupted": nothing is written and the temporary
//! directory is dropped before exit. Blocking rather than handling leaves no
//! window in which a signal could be missed.
//!
//! The private directory is on RAM-backed storage where there is one (see
//! `fsutil::private_temp_dir`) and carries ksec's pid in its name: a SIGKILL leaves it
//! behind, and the next `ksec edit` removes it once that pid is gone.
//!
//! No lock is held while the editor is open. The file is read under its
//! lock, and written under it again only if it is still what was read; if
//! something else changed it meanwhile, the edit is merged with that change
//! key by key (as the git merge driver does), and a key changed on both
//! sides is a conflict: the editor is reopened on a terminal, otherwise
//! nothing is written.

use super::Context;
use crate::cli::EditArgs;
use crate::crypto::merge;
use crate::crypto::sops::{self, Format, emit_plain, has_sops_metadata};
use crate::error::{Code, Error, Result, sops_error};
use crate::load;
use crate::sys::signals;
use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;

pub fn run(args: EditArgs, ctx: &Context) -> Result<()> {
    // Before any thread exists, so every thread inherits the mask.
    let signals = signals::Blocked::new();
    // Read under the lock, so that `before` is exactly what was decrypted.
    let (mut before, mut opened) = {
        let _lock = crate::lock::lock(&args.file)?;
        let before = std::fs::read(&args.file).map_err(|e| Error::io("read", &args.file, &e))?;
        (before, load::open(&args.file, ctx)?)
    };
    let format = opened.file.format;
    let mut original = zeroize::Zeroizing::new(
        emit_plain(&opened.plain, format).map_err(|e| sops_error(&args.file, e))?,
    );

    let dir = crate::fsutil::private_temp_dir(DIR_PREFIX, "ksec edit")?;
    let plain_path = dir.path().join(edit_name(&args.file, format));
    crate::fsutil::write_new(&plain_path, original.as_bytes(), 0o600)?;

    loop {
        let ran = run_editor(&plain_path);
        // A Ctrl-C reaches the editor too, which then fails: the signal
        // decides, not the editor's exit status.
        if signals.pending() {
            drop(dir);
            return Err(interrupted(&args.file));
        }
        ran?;
        let edited = zeroize::Zeroizing::new(
            std::fs::read_to_string(&plain_path)
                .map_err(|e| Error::io("read back", &plain_path, &e))?,
        );
        if edited.as_str() == original.as_str() {
            eprintln!("{}: no changes", args.file.display());
            return Ok(());
        }
        let plain = match parse_edit(&edited, format) {
            Ok(plain) => plain,
            Err(why) => {
                eprintln!("the edited content is invalid: {why}");
                if !ask_reopen(&signals, &args.file)? {
                    return Err(Error::invalid(format!(
                        "{}: the edited content is invalid ({why}); nothing was written",
                        args.file.display()
                    ))
                    .hint(
                        "run `ksec edit` again; on a terminal ksec offers to reopen the editor",
                    ));
                }
                continue;
            }
        };
        let lock = crate::lock::lock(&args.file)?;
        let now = std::fs::read(&args.file).map_err(|e| Error::io("read", &args.file, &e))?;
        if now == before {
            opened.plain = plain;
            super::save(&args.file, opened)?;
            eprintln!("{}: saved", args.file.display());
            return Ok(());
        }
        // Changed while the editor was open (another ksec, a git checkout):
        // merge per key, as the git merge driver does.
        let theirs = load::open(&args.file, ctx)?;
        let theirs_text = zeroize::Zeroizing::new(
            emit_plain(&theirs.plain, format).map_err(|e| sops_error(&args.file, e))?,
        );
        let base_plain = parse_edit(&original, format).map_err(|why| {
            Error::new(
                Code::Unexpected,
                format!(
                    "cannot re-read the content first decrypted from {}: {why}",
                    args.file.display()
                ),
            )
        })?;
        let theirs_plain = parse_edit(&theirs_text, format).map_err(|why| {
            Error::new(
                Code::Unexpected,
                format!(
                    "cannot re-read the current content of {}: {why}",
                    args.file.display()
                ),
            )
        })?;
        let merged = merge::merge(&base_plain, &plain, &theirs_plain);
        if merged.conflicts.is_empty() {
            let mut theirs = theirs;
            theirs.plain = merged.value;
            super::save(&args.file, theirs)?;
            eprintln!(
                "{}: saved (it was changed while you were editing; your changes were merged with that change key by key)",
                args.file.display()
            );
            return Ok(());
        }
        drop(lock);
        let keys: Vec<String> = merged
            .conflicts
            .iter()
            .map(|p| crate::crypto::tree::set_path(p))
            .collect();
        eprintln!(
            "{} was changed while you were editing, at the same key{} you changed: {}",
            args.file.display(),
            if keys.len() == 1 { "" } else { "s" },
            keys.join(", ")
        );
        if !ask_reopen(&signals, &args.file)? {
            let mut e = Error::new(
                Code::Conflict,
                format!(
                    "{} was changed while you were editing; nothing was written",
                    args.file.display()
                ),
            )
            .detail("changed both there and in your edit:");
            for k in &keys {
                e = e.detail(format!("  {k}"));
            }
            return Err(e.hint(
                "run `ksec edit` again and redo your change on the current content; on a terminal ksec offers to reopen the editor with both changes",
            ));
        }
        // Start again from the current file, with the other changes merged
        // in and your values at the conflicting keys.
        let merged_text = zeroize::Zeroizing::new(
            emit_plain(&merged.value, format).map_err(|e| sops_error(&args.file, e))?,
        );
        before = now;
        opened = theirs;
        original = theirs_text;
        crate::fsutil::write_private(&plain_path, merged_text.as_bytes())?;
    }
}

/// Edit directories are named `ksec-edit-<pid>-<random>`, so that a later
/// run can tell one whose ksec is gone.
const DIR_PREFIX: &str = "ksec-edit-";

/// The temporary file's name: the source's name without `.enc`, so editors
/// pick the right syntax.
fn edit_name(file: &Path, format: Format) -> String {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("secret");
    let name = name.replace(".enc.", ".");
    match format {
        Format::Yaml | Format::YamlStream
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) =>
        {
            format!("{name}.yaml")
        }
        _ => name,
    }
}

fn parse_edit(
    text: &str,
    format: Format,
) -> std::result::Result<crate::crypto::tree::Value, String> {
    let plain = sops::parse_plain(text, format).map_err(|e| match e {
        sops::SopsError::Syntax {
            line: Some(l),
            message,
        } => format!("line {l}: {message}"),
        sops::SopsError::Syntax {
            line: None,
            message,
        } => message,
        other => other.to_string(),
    })?;
    use crate::crypto::tree::Value;
    let maps = match &plain {
        Value::Map(_) => true,
        // several documents (`---`), each a map
        Value::Seq(docs) if format == Format::YamlStream => {
            docs.iter().all(|d| matches!(d, Value::Map(_)))
        }
        _ => false,
    };
    if !maps {
        return Err("the document must be a map of keys to values".into());
    }
    if has_sops_metadata(&plain, format) {
        return Err("it holds a `sops` key, which is reserved for the file's metadata".into());
    }
    Ok(plain)
}

fn interrupted(file: &Path) -> Error {
    Error::new(Code::Interrupted, "interrupted: nothing was written")
        .hint(format!("{} is unchanged", file.display()))
}

/// On a terminal, whether to reopen the editor; Ctrl-C at the question is
/// an interruption, not a "no".
fn ask_reopen(signals: &signals::Blocked, file: &Path) -> Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(false);
    }
    let answer = dialoguer::Confirm::new()
        .with_prompt("reopen the editor?")
        .default(true)
        .interact()
        .unwrap_or(false);
    if signals.pending() {
        return Err(interrupted(file));
    }
    Ok(answer)
}

fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".into())
}

fn run_editor(path: &Path) -> Result<()> {
    let editor = editor();
    // Through the shell, so EDITOR may carry arguments ("code --wait").
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("ksec-editor")
        .arg(path);
    signals::unblocked_in_child(&mut command);
    let status = command.status().map_err(|e| {
        Error::new(Code::Io, format!("cannot start the editor {editor}: {e}"))
            .hint("set VISUAL or EDITOR to an editor on your PATH")
    })?;
    if !status.success() {
        return Err(Error::new(
            Code::Io,
            format!("the editor {editor} exited with {status}; nothing was written"),
        )
        .hint("set VISUAL or EDITOR to a working editor"));
    }
    Ok(())
}
