//! Completions and man pages come from the clap definitions: every shell
//! gets a script that names the real subcommands, the man pages render, and
//! a closed pipe is not an error.

use crate::common;

use std::process::{Command, Stdio};

fn ksec(args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    common::ksec(home.path()).args(args).output().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn completions_generate_for_each_shell_with_the_real_commands() {
    let markers = [
        ("bash", "complete -F _ksec"),
        ("zsh", "#compdef ksec"),
        ("fish", "complete -c ksec"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[ksec]"),
    ];
    for (shell, marker) in markers {
        let out = ksec(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        // subcommands and a nested flag come from the clap definitions
        for word in ["namespace", "recipients", "rekey", "owner-group"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let out = ksec(&["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_bash_script_is_valid_bash() {
    let out = ksec(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ksec.bash");
    std::fs::write(&file, &out.stdout).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // and it completes a subcommand when sourced
    let complete = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(ksec names); COMP_CWORD=1; _ksec ksec names ksec; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&complete.stdout).trim(),
        "namespace",
        "{}",
        String::from_utf8_lossy(&complete.stderr)
    );
}

#[test]
fn man_pages_render_for_ksec_and_each_subcommand() {
    let out = ksec(&["man"]);
    assert!(out.status.success());
    let page = stdout(&out);
    assert!(page.contains(".TH ksec 1"), "{page}");
    assert!(page.contains("namespace"), "{page}");

    let dir = tempfile::tempdir().unwrap();
    let out = ksec(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let add = dir.path().join("ksec-namespace-add.1");
    let text = std::fs::read_to_string(&add).unwrap();
    assert!(text.contains("\\-\\-owner\\-group"), "{text}");
    for page in [
        "ksec.1",
        "ksec-apply.1",
        "ksec-recipients-remove.1",
        "ksec-git-merge.1",
    ] {
        assert!(dir.path().join(page).is_file(), "no {page}");
    }
    // groff renders it without warnings
    let rendered = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(&add)
        .output()
        .unwrap();
    assert!(rendered.status.success());
    assert!(
        rendered.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    assert!(String::from_utf8_lossy(&rendered.stdout).contains("ksec-namespace-add"));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let home = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ksec"))
            .args(args)
            .env("HOME", home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // close the reading end before ksec writes
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    }
}
