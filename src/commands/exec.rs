//! `ksec exec`: render one namespace (`load::rendered`), take the keys of
//! its chosen Secrets and ConfigMaps (`runenv`), and run a command with them
//! as environment variables, or with `--files` as files in a private
//! directory that is removed when the command ends.
//!
//! SIGINT, SIGTERM and SIGHUP are blocked in ksec from the start (not in the
//! command): one that arrives before the command starts means "interrupted"
//! (nothing run, nothing left); afterwards each one a process sends to ksec
//! is passed on to the command, and ksec waits for it to end, so the
//! directory is removed after the command, whatever ended it. A signal the
//! terminal sends (Ctrl-C) reaches the command directly, being in ksec's
//! process group, and is not sent twice. A SIGKILL of ksec leaves the
//! directory (named `ksec-exec-<pid>-…`, on RAM-backed storage where there
//! is one): the next `ksec exec` removes it.

use super::Context;
use crate::cli::ExecArgs;
use crate::error::{Code, Error, Outcome, Result};
use crate::load;
use crate::project::Project;
use crate::runenv::{self, Selection};
use crate::sys::signals;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// The variable that holds the `--files` directory.
pub const FILES_VAR: &str = "KSEC_FILES_DIR";

/// `--files` directories are named `ksec-exec-<pid>-<random>`.
const DIR_PREFIX: &str = "ksec-exec-";

pub fn run(args: ExecArgs, ctx: &Context) -> Result<Outcome> {
    // Before any thread exists, so every thread inherits the mask.
    let signals = signals::Blocked::new();
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let rendered = load::rendered(
        &project,
        args.env.as_deref(),
        std::slice::from_ref(&args.namespace),
        ctx,
    )?;
    let entries = runenv::entries(
        &rendered.manifests,
        &Selection {
            namespace: &args.namespace,
            secrets: &args.secret,
            configmaps: &args.configmap,
        },
    )?;
    if !args.files {
        runenv::check_env(&entries)?;
    }
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let mut command = Command::new(program);
    let dir = if args.files {
        let dir = crate::fsutil::private_temp_dir(DIR_PREFIX, "ksec exec")?;
        for e in &entries {
            crate::fsutil::write_new(&dir.path().join(&e.key), &e.value, 0o600)?;
        }
        command
            .env(FILES_VAR, dir.path())
            .args(rest.iter().map(|a| substitute(a, dir.path())));
        Some(dir)
    } else {
        for e in &entries {
            // checked above: UTF-8 without NUL
            command.env(&e.key, String::from_utf8_lossy(&e.value).as_ref());
        }
        command.args(rest);
        None
    };
    if signals.pending() {
        return Err(
            Error::new(Code::Interrupted, "interrupted before the command started")
                .hint("nothing was run and nothing was left behind"),
        );
    }
    signals::unblocked_in_child(&mut command);
    let mut child = command.spawn().map_err(|e| not_started(program, &e))?;
    // Until the command ends: pass on what is sent to ksec. The child is
    // reaped only by try_wait, so its pid is its own while signals are sent.
    let status = loop {
        if let Some(caught) = signals.wait(Duration::from_millis(50))
            && caught.sent_by_process
        {
            signals::send(child.id(), caught.signal);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                return Err(Error::new(
                    Code::Unexpected,
                    format!("cannot wait for {}: {e}", program.to_string_lossy()),
                ));
            }
        }
    };
    if let Some(dir) = dir {
        let path = dir.path().to_path_buf();
        dir.close()
            .map_err(|e| Error::io("remove the private directory", &path, &e))?;
    }
    Ok(Outcome::Command(exit_code(status)))
}

/// `{}` in an argument becomes the directory (arguments that are not
/// UTF-8 stay as they are).
fn substitute(arg: &OsString, dir: &Path) -> OsString {
    match arg.to_str() {
        Some(text) if text.contains("{}") => {
            OsString::from(text.replace("{}", &dir.to_string_lossy()))
        }
        _ => arg.clone(),
    }
}

/// The command's code, or 128+N when signal N ended it, as a shell says.
fn exit_code(status: ExitStatus) -> u8 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return u8::try_from(128 + signal).unwrap_or(255);
        }
    }
    status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(255)
}

fn not_started(program: &std::ffi::OsStr, err: &std::io::Error) -> Error {
    let name = program.to_string_lossy();
    if err.kind() == std::io::ErrorKind::NotFound {
        Error::not_found(format!("cannot run {name}: no such command"))
            .hint("check the command's name, or give its path; ksec looks it up in PATH")
    } else {
        Error::new(Code::Io, format!("cannot run {name}: {err}"))
            .hint("check that the command is an executable file")
    }
}
