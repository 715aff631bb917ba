//! Exit codes as documented: one code for one kind of failure, whichever
//! command meets it, and a failed write of `--help` is an error.

use crate::common;

use common::{Key, code, ksec, ksec_in, project, stderr};
use std::process::Stdio;

#[test]
fn an_unknown_recipient_is_invalid_in_encrypt_as_in_namespace_add() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    project(dir.path(), &[&key]);
    std::fs::write(dir.path().join("s.yaml"), "a: 1\n").unwrap();
    let out = ksec_in(dir.path(), &key, &["encrypt", "s.yaml", "-r", "nosuch"]);
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("nosuch"), "{}", stderr(&out));

    let out = ksec_in(
        dir.path(),
        &key,
        &[
            "namespace",
            "add",
            "search",
            "--owner-group",
            "devs",
            "--recipient",
            "nosuch",
        ],
    );
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
}

#[test]
fn a_bad_name_in_init_is_invalid_as_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let root = dir.path().join("p");
    let out = ksec(dir.path())
        .args(["init", "--name", "Not_A_Label"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(!root.join("ksec.yaml").exists());

    // a recipient name that ksec.yaml cannot hold as a plain key
    let out = ksec(dir.path())
        .args(["init", "--name", "shop", "--recipient"])
        .arg(format!("al ice:x={}", key.recipient))
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a valid recipient name"),
        "{}",
        stderr(&out)
    );
    assert!(!root.join("ksec.yaml").exists());

    // the same kind of name refused by namespace add: also 6
    let out = ksec(dir.path())
        .args(["init", "--name", "shop"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = ksec(dir.path())
        .current_dir(&root)
        .args([
            "namespace",
            "add",
            "Not_A_Label",
            "--owner-group",
            "g",
            "-r",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
}

/// The binary as a std Command, whose stdout can be any file.
fn plain_ksec(home: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ksec"));
    cmd.env("HOME", home).stderr(Stdio::piped());
    cmd
}

/// /dev/full, where every write fails (ENOSPC).
fn full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

/// A pipe whose reading end is closed (EPIPE).
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

#[test]
fn help_and_version_that_cannot_be_written_exit_io() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["--version"],
        &["render", "--help"],
        &["-h"],
    ] {
        let out = plain_ksec(dir.path())
            .args(args)
            .stdout(full())
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(10), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot write to stdout"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn help_into_a_closed_pipe_is_success() {
    let dir = tempfile::tempdir().unwrap();
    let out = plain_ksec(dir.path())
        .arg("--help")
        .stdout(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn command_output_that_cannot_be_written_exits_io_and_a_closed_pipe_is_success() {
    let dir = tempfile::tempdir().unwrap();
    for (i, args) in [
        vec!["keygen".to_string(), "--out".into()],
        vec!["init".to_string()],
    ]
    .into_iter()
    .enumerate()
    {
        let target = dir.path().join(format!("full-{i}"));
        let out = plain_ksec(dir.path())
            .args(&args)
            .arg(&target)
            .stdout(full())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), Some(10), "{args:?}: {err}");
        assert!(err.contains("cannot write to stdout"), "{err}");
        assert!(!err.contains("panicked"), "{err}");

        let target = dir.path().join(format!("pipe-{i}"));
        let out = plain_ksec(dir.path())
            .args(&args)
            .arg(&target)
            .stdout(closed_pipe())
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}
