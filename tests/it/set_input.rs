//! `ksec set` reading its value: empty input is refused unless asked for
//! (`--allow-empty`); one trailing newline is dropped, as before.

use crate::common;

use common::terminal::{Transcript, on_terminal};
use common::{CANARY, Key, code, ksec_with, run_ok, sops, stderr};
use std::path::PathBuf;

struct Fixture {
    dir: tempfile::TempDir,
    key: Key,
    file: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let src = dir.path().join("s.yaml");
        std::fs::write(&src, format!("API_TOKEN: {CANARY}\n")).unwrap();
        let file = dir.path().join("s.enc.yaml");
        common::encrypt_to(dir.path(), &key, &src, &file);
        Fixture { dir, key, file }
    }

    /// `ksec set FILE KEY [args…]` with `input` on stdin.
    fn set(&self, args: &[&str], input: &str) -> std::process::Output {
        ksec_with(self.dir.path(), &self.key)
            .arg("set")
            .arg(&self.file)
            .args(args)
            .write_stdin(input)
            .output()
            .unwrap()
    }

    /// One value, as the real sops prints it.
    fn value(&self, key: &str) -> String {
        run_ok(
            sops(Some(&self.key))
                .args(["-d", "--extract", &format!("[\"{key}\"]")])
                .arg(&self.file),
        )
    }
}

#[test]
fn set_with_empty_input_is_refused_and_changes_nothing() {
    let fx = Fixture::new();
    let before = std::fs::read(&fx.file).unwrap();
    // nothing, only the newline a `echo` would give, and an empty argument
    for (args, input) in [
        (&["DB_PASSWORD"][..], ""),
        (&["DB_PASSWORD"][..], "\n"),
        (&["DB_PASSWORD", ""][..], ""),
    ] {
        let out = fx.set(args, input);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(6), "{args:?} {input:?}: {err}");
        assert!(
            err.contains("refusing to set DB_PASSWORD to an empty value"),
            "{err}"
        );
        assert!(err.contains(&fx.file.display().to_string()), "{err}");
        assert!(err.contains("hint: pass --allow-empty"), "{err}");
        assert!(!common::all_output(&out).contains(CANARY));
        assert_eq!(std::fs::read(&fx.file).unwrap(), before, "the file changed");
    }
}

#[test]
fn set_with_allow_empty_stores_an_empty_value() {
    let fx = Fixture::new();
    let out = fx.set(&["DB_PASSWORD", "--allow-empty"], "");
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(fx.value("DB_PASSWORD"), "");
    assert_eq!(fx.value("API_TOKEN"), CANARY);
}

#[test]
fn set_from_stdin_still_drops_one_trailing_newline() {
    let fx = Fixture::new();
    let secret = common::canary("stdin");
    for (input, stored) in [
        (format!("{secret}\n"), secret.clone()),
        (format!("{secret}\r\n"), secret.clone()),
        (secret.clone(), secret.clone()),
        (
            format!("{secret} one\n{secret} two\n"),
            format!("{secret} one\n{secret} two"),
        ),
        (format!("{secret}\n\n"), format!("{secret}\n")),
    ] {
        let out = fx.set(&["VALUE"], &input);
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        assert_eq!(fx.value("VALUE"), stored, "input {} bytes", input.len());
    }
}

/// Ctrl-C at the hidden prompt (on a pseudo-terminal from util-linux
/// `script`): ksec exits 130 with the terminal's echo back on, and the
/// file is unchanged. bash runs the commands: it goes on after a child
/// that exited 130, but stops when a child dies of SIGINT.
#[test]
fn ctrl_c_at_the_hidden_prompt_exits_130_and_restores_the_echo() {
    let (Some(script), Some(bash)) = (common::which("script"), common::which("bash")) else {
        panic!("util-linux `script` and bash are needed");
    };
    let fx = Fixture::new();
    let before = std::fs::read(&fx.file).unwrap();
    let inner = format!(
        "'{}' set '{}' DB_PASSWORD; echo \"rc=$?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?echo'",
        env!("CARGO_BIN_EXE_ksec"),
        fx.file.display()
    );
    let mut child = on_terminal(&script, &inner, fx.dir.path(), &fx.key)
        .env("SHELL", bash)
        .spawn()
        .unwrap();
    let transcript = Transcript::read(&mut child);
    assert!(transcript.wait_for("value for DB_PASSWORD"), "no prompt");
    // half a secret typed, then Ctrl-C; keep stdin open until the end
    let (status, transcript) = transcript.type_and_wait(&mut child, b"half-typed\x03");
    assert!(status.success(), "{status}: {transcript}");
    assert!(transcript.contains("rc=130"), "{transcript}");
    assert!(transcript.contains("interrupted"), "{transcript}");
    let echo = transcript
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with("echo"));
    assert_eq!(echo, Some("echo"), "the echo is off: {transcript}");
    assert!(!transcript.contains("half-typed"), "{transcript}");
    assert_eq!(std::fs::read(&fx.file).unwrap(), before);
}
