//! A key command: `KSEC_AGE_KEY_CMD` (and sops's `SOPS_AGE_KEY_CMD`) names
//! a command whose stdout holds the identities, the password-manager
//! pattern (`op read op://vault/age/key`, `pass show age/key`).
//!
//! The command runs once per run, through `sh -c` (so quoting, pipes and
//! `$VARS` work as in a shell), with ksec's environment and, as sops runs
//! it, stdin from `/dev/null`: it cannot take input meant for ksec; a
//! password manager that needs unlocking asks on the terminal itself. Its
//! stdout is read up to a limit into memory that is wiped when dropped, and
//! is never shown: when the command fails, the error names the variable,
//! the exit code and the end of its stderr. Printing nothing is an error.

use super::{Found, IDENTITY_FILE_LIMIT, KeySource, parse_identities, unlock};
use crate::error::{Code, Error, Result};
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use zeroize::Zeroizing;

/// The key command named by an environment variable.
pub struct KeyCommand(pub &'static str);

impl KeySource for KeyCommand {
    fn name(&self) -> &'static str {
        self.0
    }

    /// The variable only: a command line may hold what is not for logs.
    fn describe(&self) -> String {
        self.0.to_string()
    }

    fn load(&self) -> Result<Found> {
        let line = match std::env::var(self.0) {
            Ok(line) if !line.trim().is_empty() => line,
            _ => return Ok(Found::Absent(format!("{} (not set)", self.0))),
        };
        let stdout = match unlock::remembered_output(self.0) {
            Some(stdout) => stdout,
            None => {
                let stdout = run(self.0, &line)?;
                unlock::remember_output(self.0, stdout.clone());
                stdout
            }
        };
        parse_identities(&stdout, &format!("the output of {}", self.0)).map(Found::Identities)
    }
}

/// How much of the command's stderr is kept, and shown at most.
const STDERR_LIMIT: usize = 64 * 1024;
const STDERR_SHOWN_LINES: usize = 20;
const STDERR_SHOWN_LINE_CHARS: usize = 300;

/// Run `line` with `sh -c`: its stdout (text), or the error.
fn run(var: &str, line: &str) -> Result<Zeroizing<String>> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(line)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::new(
                Code::Decrypt,
                format!("{var}: cannot start the command with `sh -c`: {e}"),
            )
            .hint(format!("check that sh is installed, or unset {var}"))
        })?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let stderr_reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&mut stderr)
            .take(STDERR_LIMIT as u64)
            .read_to_end(&mut kept);
        // drain the rest, so the command never blocks on a full pipe
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        kept
    });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    // the whole output fits: no reallocation leaves a copy behind
    let mut out = Zeroizing::new(Vec::with_capacity(IDENTITY_FILE_LIMIT as usize + 1));
    let read = (&mut stdout)
        .take(IDENTITY_FILE_LIMIT + 1)
        .read_to_end(&mut out);
    let too_long = out.len() as u64 > IDENTITY_FILE_LIMIT;
    if too_long {
        let _ = child.kill();
    }
    drop(stdout);
    let status = child.wait();
    let stderr_text = stderr_reader.join().unwrap_or_default();
    let failed = |message: String| {
        shown_stderr(
            Error::new(Code::Decrypt, format!("{var}: {message}")),
            &stderr_text,
        )
        .hint(format!(
            "run the command yourself to see what it needs (a login, an unlocked vault), or unset {var}; ksec never shows its stdout"
        ))
    };
    if too_long {
        return Err(failed(
            "the command printed more than 1 MiB on stdout, which no key is".into(),
        ));
    }
    let status = status.map_err(|e| failed(format!("waiting for the command failed: {e}")))?;
    if !status.success() {
        return Err(failed(format!("the command {}", how_it_ended(status))));
    }
    if let Err(e) = read {
        return Err(failed(format!("reading the command's stdout failed: {e}")));
    }
    let text = std::str::from_utf8(&out)
        .map_err(|_| failed("the command printed something that is not text on stdout".into()))?;
    if text.trim().is_empty() {
        return Err(failed(
            "the command succeeded but printed nothing on stdout, where the key should be".into(),
        ));
    }
    Ok(Zeroizing::new(text.to_string()))
}

/// `exited with code 3`, `was killed by signal 9`.
fn how_it_ended(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    format!("failed ({status})")
}

/// The error with the end of the command's stderr as details (the last
/// lines, each cut short), or a note that it was empty.
fn shown_stderr(mut error: Error, stderr: &[u8]) -> Error {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .trim()
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return error.detail("its stderr was empty");
    }
    error = error.detail("its stderr:");
    let skipped = lines.len().saturating_sub(STDERR_SHOWN_LINES);
    if skipped > 0 {
        error = error.detail(format!("  ({skipped} earlier lines not shown)"));
    }
    for line in &lines[skipped..] {
        let mut shown: String = line.chars().take(STDERR_SHOWN_LINE_CHARS).collect();
        if shown.len() < line.len() {
            shown.push('…');
        }
        error = error.detail(format!("  {shown}"));
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stderr shown is its last lines, each cut short, blank lines
    /// left out; an empty stderr is said to be empty.
    #[test]
    fn stderr_is_shown_bounded() {
        let mut long = String::new();
        for i in 0..30 {
            long.push_str(&format!("line {i}\n\n"));
        }
        long.push_str(&"x".repeat(1000));
        let e = shown_stderr(Error::new(Code::Decrypt, "failed"), long.as_bytes());
        let text = e.to_string();
        assert!(text.contains("(11 earlier lines not shown)"), "{text}");
        assert!(
            !text.contains("line 10\n") && text.contains("line 11\n"),
            "{text}"
        );
        assert!(text.contains(&format!("{}…", "x".repeat(STDERR_SHOWN_LINE_CHARS))));
        assert!(!text.contains(&"x".repeat(STDERR_SHOWN_LINE_CHARS + 1)));
        let e = shown_stderr(Error::new(Code::Decrypt, "failed"), b"  \n");
        assert!(e.to_string().contains("its stderr was empty"));
    }
}
