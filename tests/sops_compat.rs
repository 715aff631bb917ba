//! The SOPS format read and written exactly like sops 3.11 does, tested
//! against the real `sops` binary:
//! - JSON and binary SOPS files, which ksec cannot write back, are refused
//!   (exit 6) and left byte-identical; `encrypt` refuses JSON/INI too;
//! - unquoted YAML timestamps are `type:time`, both directions;
//! - a block scalar at the end of a file keeps its exact bytes;
//! - numbers decrypt in the form `sops -d` prints;
//! - a changed type tag is an integrity error naming the key;
//! - indices and sizes taken from the file are bounded (a crafted dotenv
//!   line does not exhaust memory);
//! - YAML limits, duplicate keys and damaged data-key stanzas have messages
//!   that say what is wrong and what to do.

mod common;

use common::{CANARY, Key, code, ksec_with, run_ok, sops, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

struct Scratch {
    dir: TempDir,
    home: PathBuf,
    key: Key,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let key = Key::new(dir.path(), "me");
        Scratch { dir, home, key }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn sops(&self, key: bool) -> Command {
        let mut cmd = sops(key.then_some(&self.key));
        cmd.env("HOME", &self.home).current_dir(self.dir.path());
        cmd
    }

    /// `sops -e --age ME FILE` (format from the extension) written to `out`.
    fn sops_encrypt(&self, file: &Path, out: &str) -> PathBuf {
        let text = run_ok(
            self.sops(false)
                .args(["-e", "--age", &self.key.recipient])
                .arg(file),
        );
        self.write(out, &text)
    }

    fn sops_decrypt(&self, file: &Path) -> Output {
        self.sops(true).arg("-d").arg(file).output().unwrap()
    }

    fn sops_decrypt_ok(&self, file: &Path) -> String {
        let out = self.sops_decrypt(file);
        assert!(
            out.status.success(),
            "sops -d {}: {}",
            file.display(),
            stderr(&out)
        );
        stdout(&out)
    }

    fn ksec(&self, args: &[&str]) -> Output {
        ksec_with(&self.home, &self.key)
            .current_dir(self.dir.path())
            .env("EDITOR", "true")
            .args(args)
            .output()
            .unwrap()
    }

    fn ksec_decrypt_ok(&self, file: &Path) -> String {
        let out = self.ksec(&["decrypt", file.to_str().unwrap()]);
        assert_eq!(
            code(&out),
            Some(0),
            "ksec decrypt {}: {}",
            file.display(),
            stderr(&out)
        );
        stdout(&out)
    }

    /// `ksec encrypt -r ME FILE --output OUT`, asserting success.
    fn ksec_encrypt(&self, file: &Path, out: &str) -> PathBuf {
        let path = self.path(out);
        let res = self.ksec(&[
            "encrypt",
            file.to_str().unwrap(),
            "-r",
            &self.key.recipient,
            "--output",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code(&res), Some(0), "ksec encrypt: {}", stderr(&res));
        path
    }
}

/// `ksec` as a std command (for `run_bounded`), with the same clean
/// environment as `common::ksec_with`.
fn ksec_std(home: &Path, key: &Key) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ksec"));
    for var in common::KEY_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .env("KSEC_AGE_KEY_FILE", &key.file)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
    cmd
}

/// Run `cmd` to its end, killing it (and failing the test) if it is still
/// running after a bounded number of polls: a hang or unbounded allocation
/// fails rather than stalls the suite.
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().ok();
    let out = child.wait_with_output().unwrap();
    panic!("{cmd:?} did not finish; stderr: {}", stderr(&out));
}

/// The `type:` tag of each top-level `key: ENC[…]` line of a YAML file.
fn type_tags(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with(' ') && l.contains(": ENC["))
        .map(|l| {
            let key = l.split(':').next().unwrap().to_string();
            let tag = l.rsplit("type:").next().unwrap().trim_end_matches(']');
            (key, tag.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// 6. Bounded memory
// ---------------------------------------------------------------------------

const BOMB: &str = "sops_age__list_99999999999__map_recipient=x\n";

#[test]
fn a_huge_list_index_in_dotenv_metadata_is_refused_by_decrypt() {
    let s = Scratch::new();
    let plain = s.write("d.env", &format!("A=1\nSECRET={CANARY}\n"));
    let enc = std::fs::read_to_string(s.sops_encrypt(&plain, "d.enc.env")).unwrap();
    let file = s.write("bomb.env", &format!("{enc}{BOMB}"));
    let mut cmd = ksec_std(&s.home, &s.key);
    cmd.arg("decrypt").arg(&file);
    let out = run_bounded(cmd);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(5), "{err}");
    assert!(
        err.contains("bomb.env") && err.contains("99999999999"),
        "{err}"
    );
    assert!(err.contains("restore"), "{err}");
    assert!(!stdout(&out).contains(CANARY));
    // a gap in a list is refused the same way (sops: "Incomplete list")
    let gap = enc.replace("sops_age__list_0__", "sops_age__list_1__");
    let file = s.write("gap.env", &gap);
    let mut cmd = ksec_std(&s.home, &s.key);
    cmd.arg("decrypt").arg(&file);
    let out = run_bounded(cmd);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    // deep nesting in a metadata key is refused before it is built
    let deep = format!("{enc}sops_x{}=1\n", "__map_y".repeat(5000));
    let file = s.write("deep.env", &deep);
    let mut cmd = ksec_std(&s.home, &s.key);
    cmd.arg("decrypt").arg(&file);
    let out = run_bounded(cmd);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
}

#[test]
fn check_and_git_textconv_finish_on_a_huge_dotenv_list_index() {
    let s = Scratch::new();
    let root = s.path("proj");
    common::project(&root, &[&s.key]);
    run_ok(Command::new("git").arg("init").arg("-q").arg(&root));
    let plain = s.write("d.env", "A=1\n");
    let enc = std::fs::read_to_string(s.sops_encrypt(&plain, "d.enc.env")).unwrap();
    let file = root.join("namespaces/payments/bomb.enc.env");
    std::fs::write(&file, format!("{enc}{BOMB}")).unwrap();
    run_ok(Command::new("git").current_dir(&root).args(["add", "-A"]));

    let mut cmd = ksec_std(&s.home, &s.key);
    cmd.current_dir(&root).arg("check");
    let out = run_bounded(cmd);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(code(&out), Some(11), "{all}");
    assert!(all.contains("bomb.enc.env"), "{all}");

    let mut cmd = ksec_std(&s.home, &s.key);
    cmd.current_dir(&root).args(["git", "textconv"]).arg(&file);
    let out = run_bounded(cmd);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));

    let mut cmd = ksec_std(&s.home, &s.key);
    cmd.current_dir(&root).args(["rekey", "--dry-run"]);
    let out = run_bounded(cmd);
    assert_ne!(code(&out), Some(0), "{}", stderr(&out));
}

