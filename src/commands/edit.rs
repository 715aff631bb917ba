//! `ksec edit`: decrypt into a private directory, run the editor,
//! re-encrypt. The plaintext file is removed on every path: success, error,
//! invalid content, and Ctrl-C. SIGINT, SIGTERM and SIGHUP are blocked in
//! ksec (not in the editor) for the whole edit; after the editor exits, a
//! pending one means "interrupted": nothing is written and the temporary
//! directory is dropped before exit. Blocking rather than handling leaves no
//! window in which a signal could be missed.
//!
//! The private directory is on RAM-backed storage where there is one (see
//! `temp_base`) and carries ksec's pid in its name: a SIGKILL leaves it
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
use crate::sys::{self, signals};
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

    remove_stale_dirs();
    let base = temp_base();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir_in(&base)
        .map_err(|e| Error::io("create a private temporary directory in", &base, &e))?;
    crate::fsutil::set_mode(dir.path(), 0o700).map_err(|e| Error::io("protect", dir.path(), &e))?;
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
        let keys: Vec<String> = merged.conflicts.iter().map(|p| key_path(p)).collect();
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

/// The key as `ksec set` takes it: `KEY`, or `["db"]["password"]`.
fn key_path(path: &[String]) -> String {
    match path {
        [one] => one.clone(),
        _ => path.iter().map(|p| format!("[\"{p}\"]")).collect(),
    }
}

/// Edit directories are named `ksec-edit-<pid>-<random>`, so that a later
/// run can tell one whose ksec is gone.
const DIR_PREFIX: &str = "ksec-edit-";

/// Where the private directory goes: the first RAM-backed (tmpfs) one of
/// `$XDG_RUNTIME_DIR`, `$TMPDIR` and `/dev/shm` that is a writable
/// directory, else the system temporary directory. Plaintext on a RAM-backed
/// file system never reaches a disk, and is gone at the latest on reboot,
/// even if ksec is killed before it can remove it.
fn temp_base() -> std::path::PathBuf {
    candidates()
        .into_iter()
        .find(|dir| sys::is_ram_backed(dir) && sys::writable_dir(dir))
        .unwrap_or_else(std::env::temp_dir)
}

fn candidates() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = ["XDG_RUNTIME_DIR", "TMPDIR"]
        .iter()
        .filter_map(std::env::var_os)
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .collect();
    dirs.push("/dev/shm".into());
    dirs
}

/// Remove the edit directories of ksec processes that no longer exist (a
/// SIGKILL leaves no chance to clean up), in every place an edit may have
/// used; only directories of the current user.
fn remove_stale_dirs() {
    let mut places = candidates();
    places.push(std::env::temp_dir());
    places.sort();
    places.dedup();
    for place in places {
        let Ok(entries) = std::fs::read_dir(&place) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(stale_pid) else {
                continue;
            };
            let path = entry.path();
            if ours_and_dead(&path, pid) && std::fs::remove_dir_all(&path).is_ok() {
                eprintln!(
                    "note: removed {}, left behind by a ksec edit (pid {pid}) that was killed",
                    path.display()
                );
            }
        }
    }
}

/// The pid in an edit directory's name, `ksec-edit-<pid>-<random>`.
fn stale_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(DIR_PREFIX)?;
    let (pid, random) = rest.split_once('-')?;
    if random.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse()
        .ok()
        .filter(|&p| p > 1 && p != std::process::id())
}

/// A real directory (not a link) of this user whose process is gone.
fn ours_and_dead(path: &Path, pid: u32) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && crate::sys::owned_by_me(&m))
        && crate::sys::process_gone(pid)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_with_a_pid_and_a_suffix_are_stale_candidates() {
        assert_eq!(stale_pid("ksec-edit-4242-Ab3xYz"), Some(4242));
        assert_eq!(stale_pid("ksec-edit-Ab3xYz"), None);
        assert_eq!(stale_pid("ksec-edit-4242-"), None);
        assert_eq!(stale_pid("ksec-edit-+42-x"), None);
        assert_eq!(stale_pid("ksec-edit-1-x"), None);
        assert_eq!(stale_pid("other-4242-x"), None);
        let me = std::process::id();
        assert_eq!(stale_pid(&format!("ksec-edit-{me}-x")), None);
    }
}
