//! `ksec edit`: decrypt into a private directory, run the editor,
//! re-encrypt. The plaintext file is removed on every path: success, error,
//! invalid content, and Ctrl-C. SIGINT, SIGTERM and SIGHUP are blocked in
//! ksec (not in the editor) for the whole edit; after the editor exits, a
//! pending one means "interrupted": nothing is written and the temporary
//! directory is dropped before exit. Blocking rather than handling leaves no
//! window in which a signal could be missed.

use super::Context;
use crate::cli::EditArgs;
use crate::crypto::sops::{self, Format, emit_plain, has_sops_metadata};
use crate::error::{Code, Error, Result};
use std::io::IsTerminal;
use std::path::Path;
use std::process::Command;

pub fn run(args: EditArgs, ctx: &Context) -> Result<()> {
    // Before any thread exists, so every thread inherits the mask.
    let signals = signals::Blocked::new();
    let mut opened = super::open(&args.file, ctx)?;
    let format = opened.file.format;
    let original = zeroize::Zeroizing::new(
        emit_plain(&opened.plain, format).map_err(|e| super::sops_error(&args.file, e))?,
    );

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
        if signals.pending() {
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
        other => other.to_string(),
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

#[cfg(unix)]
mod signals {
    use std::os::unix::process::CommandExt;

    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    fn set() -> libc::sigset_t {
        // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in SIGNALS {
                libc::sigaddset(&mut set, s);
            }
            set
        }
    }

    /// SIGINT, SIGTERM and SIGHUP blocked for this thread (and threads it
    /// starts) while this value lives. Pending signals are discarded at exit.
    pub struct Blocked;

    impl Blocked {
        pub fn new() -> Blocked {
            let set = set();
            // SAFETY: a valid, initialised signal set; no old mask is read.
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
            Blocked
        }

        /// Whether one of the signals arrived since blocking.
        pub fn pending(&self) -> bool {
            // SAFETY: sigpending fills a local sigset_t; sigismember reads it.
            unsafe {
                let mut pending: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut pending);
                if libc::sigpending(&mut pending) != 0 {
                    return false;
                }
                SIGNALS.iter().any(|&s| libc::sigismember(&pending, s) == 1)
            }
        }
    }

    /// The editor gets the signals as usual.
    pub fn unblocked_in_child(command: &mut std::process::Command) {
        // SAFETY: the closure only calls async-signal-safe functions
        // (sigemptyset, sigaddset, pthread_sigmask) on a local set.
        unsafe {
            command.pre_exec(|| {
                let set = set();
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
    }
}

#[cfg(not(unix))]
mod signals {
    pub struct Blocked;
    impl Blocked {
        pub fn new() -> Blocked {
            Blocked
        }
        pub fn pending(&self) -> bool {
            false
        }
    }
    pub fn unblocked_in_child(_: &mut std::process::Command) {}
}
