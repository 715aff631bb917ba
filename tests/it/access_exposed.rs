//! `ksec access --exposed` and the list `ksec recipients remove` ends with,
//! in a git repository the test builds with the real `git` (fixed commit
//! dates): who could read a value still current and has lost access, and
//! the command that rotates it. No value is ever printed (canaries).

use crate::common::{Key, all_output, canary, ksec_with, run_ok, stderr, stdout};
use std::path::PathBuf;
use std::process::{Command, Output};

pub const FILE: &str = "namespaces/app/db.enc.yaml";

/// A project in a git repository: namespace `app` (Secret `db` from
/// `db.enc.yaml`), read by alice; bob's key exists and is added by a test.
pub struct World {
    _tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub root: PathBuf,
    pub alice: Key,
    pub bob: Key,
    /// Every secret value written so far (none may be printed).
    pub values: Vec<String>,
}

impl World {
    pub fn new() -> World {
        let w = World::outside_git();
        w.git(&["init", "-q", "-b", "main"], "");
        w.git(&["config", "user.name", "Test"], "");
        w.git(&["config", "user.email", "test@example.com"], "");
        w.git(&["config", "commit.gpgsign", "false"], "");
        w
    }

    /// The same project in no git repository.
    pub fn outside_git() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let keys = tmp.path().join("keys");
        let root = tmp.path().join("repo");
        for d in [&home, &keys, &root.join("namespaces/app")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let w = World {
            alice: Key::new(&keys, "alice"),
            bob: Key::new(&keys, "bob"),
            _tmp: tmp,
            home,
            root,
            values: Vec::new(),
        };
        std::fs::write(
            w.root.join("ksec.yaml"),
            format!(
                "version: 1\nrecipients:\n  alice: {}\nnamespaces:\n  app:\n    recipients: [alice]\n    secrets:\n      - name: db\n        sources: [db.enc.yaml]\n",
                w.alice.recipient
            ),
        )
        .unwrap();
        w
    }

    /// git in the repository; `date` (RFC 2822 or ISO) fixes the commit's
    /// author and committer dates.
    pub fn git(&self, args: &[&str], date: &str) -> String {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.root)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args);
        if !date.is_empty() {
            cmd.env("GIT_AUTHOR_DATE", date)
                .env("GIT_COMMITTER_DATE", date);
        }
        run_ok(&mut cmd)
    }

    /// Commit everything at `date`.
    pub fn commit(&self, date: &str) {
        self.git(&["add", "-A"], "");
        self.git(&["commit", "-q", "--no-verify", "-m", date], date);
    }

    /// `ksec ARGS` as alice (or `key`); no value may be in its output.
    pub fn ksec_as(&self, key: &Key, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let out = ksec_with(&self.home, key)
            .current_dir(&self.root)
            .envs(envs.iter().copied())
            .args(args)
            .output()
            .unwrap();
        let text = all_output(&out);
        for v in &self.values {
            assert!(!text.contains(v.as_str()), "ksec {args:?} printed a value");
        }
        out
    }

    pub fn ksec(&self, args: &[&str]) -> Output {
        self.ksec_as(&self.alice, args, &[])
    }

    /// `ksec set FILE KEY` with a fresh canary on stdin, as alice.
    pub fn set(&mut self, file: &str, key: &str) {
        let tag: String = key
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .map(|c| if c == '_' { '-' } else { c })
            .collect();
        let value = canary(&tag);
        self.values.push(value.clone());
        let out = ksec_with(&self.home, &self.alice)
            .current_dir(&self.root)
            .args(["set", file, key])
            .write_stdin(value)
            .output()
            .unwrap();
        assert!(out.status.success(), "set {key}: {}", stderr(&out));
    }

    /// FIRST set (2026-01-01), bob added (02-01) and removed (03-01), each
    /// committed.
    pub fn bob_came_and_went() -> World {
        let mut w = World::new();
        w.start("2026-01-01T10:00:00Z");
        let bob = w.bob.recipient.clone();
        w.ksec(&["recipients", "add", &bob, "--name", "bob", "-n", "app"]);
        w.commit("2026-02-01T10:00:00Z");
        w.ksec(&["recipients", "remove", "bob"]);
        w.commit("2026-03-01T10:00:00Z");
        w
    }

    /// The first file: one value, encrypted to alice (committed at `date`
    /// when the project is in git).
    pub fn start(&mut self, date: &str) {
        let value = canary("first");
        self.values.push(value.clone());
        std::fs::write(self.root.join(FILE), format!("FIRST: {value}\n")).unwrap();
        let out = self.ksec(&["encrypt", "--in-place", FILE]);
        assert!(out.status.success(), "{}", stderr(&out));
        if self.root.join(".git").exists() {
            self.commit(date);
        }
    }
}

/// The rows of `--exposed -o json` as (key, recipient names).
fn exposed(w: &World) -> Vec<(String, Vec<String>)> {
    let out = w.ksec(&["access", "--exposed", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                e["recipients"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["name"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn a_removed_recipient_is_exposed_to_the_values_not_rotated_since_and_to_no_other() {
    let mut w = World::new();
    w.start("2026-01-01T10:00:00Z");
    let bob = w.bob.recipient.clone();
    let out = w.ksec(&["recipients", "add", &bob, "--name", "bob", "-n", "app"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.set(FILE, "DB_PASSWORD");
    w.set(FILE, "API_TOKEN");
    w.commit("2026-02-01T10:00:00Z");
    // nobody has lost access yet
    assert_eq!(exposed(&w), vec![]);

    let out = w.ksec(&["recipients", "remove", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let list = text
        .split("until they are rotated")
        .nth(1)
        .unwrap_or_else(|| panic!("no exposure list:\n{text}"));
    for key in ["FIRST", "DB_PASSWORD", "API_TOKEN"] {
        assert!(
            list.lines().any(|l| l.contains(key) && l.contains(" bob ")),
            "{key} for bob:\n{text}"
        );
        assert!(
            list.contains(&format!("ksec set {FILE} '{key}' --generate")),
            "{text}"
        );
    }
    assert!(!list.contains("alice"), "{text}");
    w.commit("2026-03-01T10:00:00Z");

    w.set(FILE, "API_TOKEN");
    // set after bob left: never his
    w.set(FILE, "LATER");
    w.commit("2026-04-01T10:00:00Z");

    let rows = exposed(&w);
    assert_eq!(
        rows,
        vec![
            ("DB_PASSWORD".to_string(), vec!["bob".to_string()]),
            ("FIRST".to_string(), vec!["bob".to_string()]),
        ]
    );

    // the table: bob by his old name (gone from ksec.yaml), the dates, the
    // commands; alice never
    let out = w.ksec(&["access", "--exposed"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    insta::assert_snapshot!("table", text.replace(&w.bob.recipient, "BOB"));
    assert!(!text.contains("alice"));

    // --secret: the sources of that Secret; an unknown one is not found
    let out = w.ksec(&["access", "--exposed", "--secret", "db", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("DB_PASSWORD"));
    let out = w.ksec(&["access", "--exposed", "--secret", "nope"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // -n: the namespace's files; an unknown namespace is not found
    let out = w.ksec(&["access", "--exposed", "-n", "app", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("DB_PASSWORD"));
    let out = w.ksec(&["access", "--exposed", "-n", "nope"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn uncommitted_changes_count_as_the_newest_version() {
    let mut w = World::bob_came_and_went();
    assert_eq!(
        exposed(&w),
        vec![("FIRST".to_string(), vec!["bob".to_string()])]
    );
    // rotated in the working tree, not committed: no longer exposed
    w.set(FILE, "FIRST");
    assert_eq!(exposed(&w), vec![]);
}

#[test]
fn versions_the_caller_cannot_decrypt_are_compared_by_ciphertext_and_said_so() {
    let w = World::bob_came_and_went();
    // bob reads the history: only the versions he was given open for him
    let out = w.ksec_as(&w.bob, &["access", "--exposed", "-o", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]");
    assert!(
        stderr(&out)
            .contains("of namespaces/app/db.enc.yaml could not be decrypted with your identity"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_repository_without_commits_has_only_the_working_tree() {
    let mut w = World::new();
    w.start("2026-01-01T10:00:00Z");
    // start committed: undo that, keeping the files
    w.git(&["update-ref", "-d", "HEAD"], "");
    let out = w.ksec(&["access", "--exposed", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]");
    let bob = w.bob.recipient.clone();
    w.ksec(&["recipients", "add", &bob, "--name", "bob", "-n", "app"]);
    let out = w.ksec(&["recipients", "remove", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn a_nested_value_is_named_as_ksec_set_takes_it_and_that_command_rotates_it() {
    let mut w = World::new();
    w.start("2026-01-01T10:00:00Z");
    let bob = w.bob.recipient.clone();
    w.ksec(&["recipients", "add", &bob, "--name", "bob", "-n", "app"]);
    let nested = r#"["db"]["user"]"#;
    w.set(FILE, nested);
    w.commit("2026-02-01T10:00:00Z");
    w.ksec(&["recipients", "remove", "bob"]);
    w.commit("2026-03-01T10:00:00Z");
    let out = w.ksec(&["access", "--exposed"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("  ksec set {FILE} '{nested}' --generate\n")),
        "{text}"
    );
    // the printed key, given to `ksec set` (a value on stdin here), rotates it
    w.set(FILE, nested);
    assert_eq!(
        exposed(&w),
        vec![("FIRST".to_string(), vec!["bob".to_string()])]
    );
}

#[test]
fn a_committed_version_that_is_no_sops_file_is_counted_as_not_compared_and_said_so() {
    let w = World::bob_came_and_went();
    // a version committed broken (a bad merge), then repaired
    let good = std::fs::read_to_string(w.root.join(FILE)).unwrap();
    std::fs::write(w.root.join(FILE), "<<<<<<< ours\nnot: [sops\n").unwrap();
    w.commit("2026-03-05T10:00:00Z");
    std::fs::write(w.root.join(FILE), good).unwrap();
    w.commit("2026-03-06T10:00:00Z");
    let out = w.ksec(&["access", "--exposed", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["key"], "FIRST", "{v:#}");
    assert_eq!(v[0]["uncomparedVersions"], 1, "{v:#}");
    assert!(
        stderr(&out).contains(
            "note: 1 version of namespaces/app/db.enc.yaml is no SOPS file ksec can read"
        ),
        "{}",
        stderr(&out)
    );
}
