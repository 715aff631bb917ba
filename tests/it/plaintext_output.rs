//! Where plaintext may land: in a git work tree, `decrypt --output` and
//! `render --out` write only where git itself says the path is ignored
//! (whatever its name; a tracked file is never ignored), and `ksec check`
//! flags plaintext copies that git tracks whatever their name.

use crate::common;

use common::{
    CANARY, Key, all_output, code, git_commit_all, git_in, ksec, ksec_with, stderr, stdout,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A git repository holding a ksec project (namespace `payments`) with one
/// encrypted secret `db` (source `namespaces/payments/db.enc.yaml`).
struct Repo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    key: Key,
}

impl Repo {
    fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let key = Key::new(&home, "me");
        common::project(&root, &[&key]);
        let yaml = std::fs::read_to_string(root.join("ksec.yaml")).unwrap();
        std::fs::write(
            root.join("ksec.yaml"),
            format!("{yaml}    secrets:\n      - name: db\n        sources: [db.enc.yaml]\n"),
        )
        .unwrap();
        let plain = home.join("db.yaml");
        std::fs::write(&plain, format!("password: {CANARY}\n")).unwrap();
        let out = ksec(&home)
            .current_dir(&root)
            .args(["encrypt", "-r", &key.recipient])
            .arg(&plain)
            .args(["--output", "namespaces/payments/db.enc.yaml"])
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        let repo = Repo {
            _tmp: tmp,
            root,
            home,
            key,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(&self.root, &self.home, args)
    }

    fn commit_all(&self) {
        git_commit_all(&self.root, &self.home);
    }

    /// `ksec ARGS` (decrypt and render print the secrets asked for).
    fn ksec(&self, args: &[&str]) -> Output {
        ksec_with(&self.home, &self.key)
            .expect_secret_output()
            .current_dir(&self.root)
            .args(args)
            .output()
            .unwrap()
    }

    fn decrypt_to(&self, out: &str) -> Output {
        self.ksec(&[
            "decrypt",
            "namespaces/payments/db.enc.yaml",
            "--output",
            out,
        ])
    }

    fn exists(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }
}

fn assert_refused(out: &Output) -> String {
    assert_eq!(code(out), Some(2), "{}", all_output(out));
    assert!(!all_output(out).contains(CANARY), "{}", all_output(out));
    stderr(out)
}

#[test]
fn decrypt_output_is_refused_where_git_does_not_ignore_it_whatever_its_name() {
    let r = Repo::new();
    // no .gitignore at all: a *.dec.* name does not make it ignored
    let err = assert_refused(&r.decrypt_to("x.dec.yaml"));
    assert!(
        err.contains("refusing to write plaintext to x.dec.yaml"),
        "{err}"
    );
    assert!(err.contains("git does not ignore it"), "{err}");
    assert!(err.contains("hint: "), "{err}");
    assert!(!r.exists("x.dec.yaml"));
    // a path git ignores is fine, whatever its name, even in a new folder
    std::fs::write(r.root.join(".gitignore"), "build/\n").unwrap();
    std::fs::create_dir(r.root.join("build")).unwrap();
    let out = r.decrypt_to("build/db.yaml");
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(
        std::fs::read_to_string(r.root.join("build/db.yaml"))
            .unwrap()
            .contains(CANARY)
    );
    assert!(
        r.git(&["status", "--porcelain"])
            .lines()
            .all(|l| !l.contains("build")),
        "git sees the plaintext"
    );
}

#[test]
fn decrypt_output_over_a_tracked_file_is_refused_even_if_a_pattern_matches() {
    let r = Repo::new();
    std::fs::write(r.root.join("db.dec.yaml"), "old\n").unwrap();
    std::fs::write(r.root.join(".gitignore"), "*.dec.yaml\n").unwrap();
    r.git(&["add", "-f", "db.dec.yaml", ".gitignore"]);
    let err = assert_refused(&r.decrypt_to("db.dec.yaml"));
    assert!(err.contains("db.dec.yaml"), "{err}");
    assert_eq!(
        std::fs::read_to_string(r.root.join("db.dec.yaml")).unwrap(),
        "old\n"
    );
    // an untracked one under the same pattern is fine
    let out = r.decrypt_to("other.dec.yaml");
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
}

#[test]
fn render_out_refuses_an_unignored_folder_before_writing_anything() {
    let r = Repo::new();
    let out = r.ksec(&["render", "--out", "build"]);
    let err = assert_refused(&out);
    assert!(
        err.contains("refusing to write rendered Secrets into build"),
        "{err}"
    );
    assert!(err.contains("build/payments.yaml"), "{err}");
    assert!(err.contains("add build/ to .gitignore"), "{err}");
    assert!(!r.exists("build"), "something was written");
    std::fs::write(r.root.join(".gitignore"), "/build/\n").unwrap();
    let out = r.ksec(&["render", "--out", "build"]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(r.exists("build/payments.yaml"));
    // outside the repository nothing is asked
    let outside = tempfile::tempdir().unwrap();
    let dir = outside.path().join("r");
    let out = ksec_with(&r.home, &r.key)
        .current_dir(&r.root)
        .expect_secret_output()
        .args(["render", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(dir.join("payments.yaml").exists());
}

fn check_lines(r: &Repo) -> (Output, Vec<String>) {
    let out = ksec(&r.home)
        .current_dir(&r.root)
        .arg("check")
        .output()
        .unwrap();
    let lines = stdout(&out).lines().map(str::to_string).collect();
    (out, lines)
}

#[test]
fn check_flags_tracked_plaintext_copies_whatever_their_name() {
    let r = Repo::new();
    // a decrypted copy, and rendered output redirected to files of any name
    let out = r.ksec(&["decrypt", "namespaces/payments/db.enc.yaml"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    std::fs::write(r.root.join("db.dec.env"), &out.stdout).unwrap();
    let yaml = r.ksec(&["render"]);
    assert_eq!(code(&yaml), Some(0), "{}", stderr(&yaml));
    std::fs::write(r.root.join("rendered"), &yaml.stdout).unwrap();
    let json = r.ksec(&["render", "--output", "json"]);
    std::fs::write(r.root.join("rendered.txt"), &json.stdout).unwrap();
    r.commit_all();
    let (out, lines) = check_lines(&r);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert!(!all_output(&out).contains(CANARY));
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(has("db.dec.env: plaintext-copy: "), "{lines:#?}");
    assert!(has("rendered:"), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rendered:") && l.contains("secret-manifest")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rendered.txt:") && l.contains("secret-manifest")),
        "{lines:#?}"
    );
}

#[test]
fn the_fallback_outside_git_keeps_the_name_rule() {
    // a project that is not (yet) a repository: only *.dec.* / *.plain.*
    let tmp = tempfile::tempdir().unwrap();
    let key = Key::new(tmp.path(), "me");
    let root = tmp.path().join("p");
    common::project(&root, &[&key]);
    let plain = tmp.path().join("s.yaml");
    std::fs::write(&plain, format!("a: {CANARY}\n")).unwrap();
    ksec(tmp.path())
        .current_dir(&root)
        .args(["encrypt", "-r", &key.recipient])
        .arg(&plain)
        .args(["--output", "s.enc.yaml"])
        .assert()
        .success();
    let decrypt = |out: &str| {
        ksec_with(tmp.path(), &key)
            .current_dir(&root)
            .expect_secret_output()
            .args(["decrypt", "s.enc.yaml", "--output", out])
            .output()
            .unwrap()
    };
    assert_refused(&decrypt("s.yaml"));
    assert_eq!(code(&decrypt("s.dec.yaml")), Some(0));
    assert!(Path::new(&root.join("s.dec.yaml")).exists());
}

#[test]
fn without_git_on_path_a_repository_refuses_and_elsewhere_nothing_is_asked() {
    let r = Repo::new();
    let empty = tempfile::tempdir().unwrap();
    let decrypt = |out: &Path| {
        ksec_with(&r.home, &r.key)
            .current_dir(&r.root)
            .env("PATH", empty.path())
            .expect_secret_output()
            .args(["decrypt", "namespaces/payments/db.enc.yaml", "--output"])
            .arg(out)
            .output()
            .unwrap()
    };
    let out = decrypt(&r.root.join("x.dec.yaml"));
    assert_eq!(code(&out), Some(9), "{}", all_output(&out));
    assert!(stderr(&out).contains("cannot run git"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is in a git work tree"),
        "{}",
        stderr(&out)
    );
    assert!(!r.exists("x.dec.yaml"));
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("db.yaml");
    let out = decrypt(&target);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(target.exists());
}

#[test]
fn ksec_init_ignores_the_folder_the_readme_renders_into() {
    // the README's `ksec render --env prod -n payments --out build/` in a
    // repository made by `ksec init`
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    std::fs::create_dir(&root).unwrap();
    ksec(tmp.path())
        .current_dir(&root)
        .args(["init", "--name", "shop"])
        .assert()
        .success();
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(&root)
            .env("HOME", tmp.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(code(&git(&["init", "-q"])), Some(0));
    let out = git(&["check-ignore", "-q", "build/payments.yaml"]);
    assert_eq!(code(&out), Some(0), "build/ is not ignored");
    let out = git(&["check-ignore", "-q", "namespaces/payments/build/x"]);
    assert_eq!(code(&out), Some(1), "only the top-level build/ is ignored");
}
