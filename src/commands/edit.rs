//! `ksec edit`: decrypt into a private directory, run the editor,
//! re-encrypt. The plaintext file is removed on every path: success, error,
//! invalid content, and Ctrl-C (SIGINT, SIGTERM and SIGHUP are caught while
//! the editor runs, and the temporary directory is dropped before exit).

use super::Context;
use crate::cli::EditArgs;
use crate::crypto::sops::{self, Format, emit_plain, has_sops_metadata};
use crate::error::{Code, Error, Result};
use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn run(args: EditArgs, ctx: &Context) -> Result<()> {
    let mut opened = super::open(&args.file, ctx)?;
    let format = opened.file.format;
    let original = zeroize::Zeroizing::new(
        emit_plain(&opened.plain, format).map_err(|e| super::sops_error(&args.file, e))?,
    );

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        // Only fails if a handler is already set, which ksec never does twice.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }

    let dir = tempfile::Builder::new()
        .prefix("ksec-edit-")
        .tempdir()
        .map_err(|e| {
            Error::io(
                "create a private temporary directory in",
                &std::env::temp_dir(),
                &e,
            )
        })?;
    crate::fsutil::set_mode(dir.path(), 0o700).map_err(|e| Error::io("protect", dir.path(), &e))?;
    let plain_path = dir.path().join(edit_name(&args.file, format));
    crate::fsutil::write_new(&plain_path, original.as_bytes(), 0o600)?;

    loop {
        run_editor(&plain_path)?;
        if interrupted.load(Ordering::SeqCst) {
            drop(dir);
            return Err(
                Error::new(Code::Interrupted, "interrupted: nothing was written")
                    .hint(format!("{} is unchanged", args.file.display())),
            );
        }
        let edited = zeroize::Zeroizing::new(
            std::fs::read_to_string(&plain_path)
                .map_err(|e| Error::io("read back", &plain_path, &e))?,
        );
        if edited.as_str() == original.as_str() {
            eprintln!("{}: no changes", args.file.display());
            return Ok(());
        }
        match parse_edit(&edited, format) {
            Ok(plain) => {
                opened.plain = plain;
                super::save(&args.file, opened)?;
                eprintln!("{}: saved", args.file.display());
                return Ok(());
            }
            Err(why) => {
                eprintln!("the edited content is invalid: {why}");
                if !ask_reopen() {
                    return Err(Error::invalid(format!(
                        "{}: the edited content is invalid ({why}); nothing was written",
                        args.file.display()
                    ))
                    .hint(
                        "run `ksec edit` again; on a terminal ksec offers to reopen the editor",
                    ));
                }
            }
        }
    }
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
        Format::Yaml if !(name.ends_with(".yaml") || name.ends_with(".yml")) => {
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
        other => format!("{other:?}"),
    })?;
    if !matches!(plain, crate::crypto::tree::Value::Map(_)) {
        return Err("the document must be a map of keys to values".into());
    }
    if has_sops_metadata(&plain, format) {
        return Err("it holds a `sops` key, which is reserved for the file's metadata".into());
    }
    Ok(plain)
}

fn ask_reopen() -> bool {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    dialoguer::Confirm::new()
        .with_prompt("reopen the editor?")
        .default(true)
        .interact()
        .unwrap_or(false)
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
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("ksec-editor")
        .arg(path)
        .status()
        .map_err(|e| {
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
