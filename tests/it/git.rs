//! `ksec git setup|textconv|merge` with the real git: branches that edit
//! encrypted files merge per key, conflicts never leave plaintext in the
//! working tree, and `git diff` / `git log -p` show values only to someone
//! who can decrypt them.

use crate::common;

use common::{CANARY, Key, all_output, ksec, ksec_with, run_ok, sops, stderr};
use std::path::{Path, PathBuf};
use std::process::Output;

const APP: &str = "namespaces/payments/app.enc.yaml";
const APP_PLAIN: &str = "API_TOKEN: canary-7f3a9c1e-do-not-print\nDB_USER: admin\nDB_HOST: db.internal\nLOG_LEVEL: info\n";
const ENV: &str = "namespaces/payments/api.enc.env";
const ENV_PLAIN: &str = "API_KEY=canary-7f3a9c1e-do-not-print\nMODE=live\nREGION=eu\nTIMEOUT=30\n";

/// Git's variables that would point a command at another repository
/// (besides `common::KEY_VARS`, the key sources).
const GIT_VARS: &[&str] = &["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"];

/// A git repository holding a ksec project (`ksec init`, `ksec git setup`)
/// with one encrypted YAML file and one encrypted dotenv file, committed on
/// `main`. HOME is private, so nothing comes from the user's git config.
struct Repo {
    dir: tempfile::TempDir,
    home: PathBuf,
    root: PathBuf,
    key: Key,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo::bare();
        repo.ksec_ok(&["git", "setup"]);
        repo.encrypt(APP, APP_PLAIN);
        repo.encrypt(ENV, ENV_PLAIN);
        repo.commit("secrets");
        repo
    }

    /// A project in a git repository, without `ksec git setup`.
    fn bare() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        let key = Key::new(dir.path(), "alice");
        let repo = Repo {
            dir,
            home,
            root,
            key,
        };
        repo.git_ok(&["init", "-q", "-b", "main"]);
        repo.git_ok(&["config", "user.name", "Test"]);
        repo.git_ok(&["config", "user.email", "test@example.com"]);
        repo.git_ok(&["config", "commit.gpgsign", "false"]);
        let recipient = format!("alice={}", repo.key.recipient);
        repo.ksec_ok(&["init", "--name", "shop", "--recipient", &recipient]);
        repo
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// git as a user runs it: `ksec` first on PATH, and with `key` (when
    /// given) where ksec looks for an identity.
    fn git_as(&self, key: Option<&Key>, args: &[&str]) -> Output {
        let bin = Path::new(env!("CARGO_BIN_EXE_ksec")).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = std::process::Command::new("git");
        for var in common::KEY_VARS.iter().chain(GIT_VARS) {
            cmd.env_remove(var);
        }
        cmd.current_dir(&self.root)
            .env("HOME", &self.home)
            .env("PATH", path)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_PAGER", "cat")
            .env("GIT_EDITOR", "true")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .args(args);
        if let Some(key) = key {
            cmd.env("KSEC_AGE_KEY_FILE", &key.file);
        }
        cmd.output().unwrap()
    }

    fn git(&self, args: &[&str]) -> Output {
        self.git_as(Some(&self.key), args)
    }

    fn git_ok(&self, args: &[&str]) -> String {
        let out = self.git(args);
        assert!(
            out.status.success(),
            "git {args:?} failed:\n{}",
            all_output(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn ksec(&self) -> common::Ksec {
        let mut cmd = ksec_with(&self.home, &self.key);
        cmd.current_dir(&self.root);
        cmd
    }

    fn ksec_ok(&self, args: &[&str]) -> String {
        // decrypt and textconv print the secret asked for
        let out = self
            .ksec()
            .expect_secret_output()
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "ksec {args:?}: {}",
            stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Encrypt `plain` into `rel` (the plaintext stays outside the repository).
    fn encrypt(&self, rel: &str, plain: &str) {
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        let src = self.dir.path().join(name.replace(".enc", ""));
        std::fs::write(&src, plain).unwrap();
        std::fs::create_dir_all(self.path(rel).parent().unwrap()).unwrap();
        ksec(&self.home)
            .arg("encrypt")
            .arg(&src)
            .args(["-r", &self.key.recipient, "--output"])
            .arg(self.path(rel))
            .assert()
            .success();
        std::fs::remove_file(&src).unwrap();
    }

    fn set(&self, rel: &str, key: &str, value: &str) {
        self.ksec_ok(&["set", rel, key, value]);
    }

    fn decrypt(&self, rel: &str) -> String {
        self.ksec_ok(&["decrypt", rel])
    }

    fn commit(&self, message: &str) {
        self.git_ok(&["add", "-A"]);
        self.git_ok(&["commit", "-q", "-m", message]);
    }

    /// From `main`, branch `name`, apply `change`, commit, and go back.
    fn branch(&self, name: &str, change: impl FnOnce(&Repo)) {
        self.git_ok(&["checkout", "-q", "-b", name, "main"]);
        change(self);
        self.commit(name);
        self.git_ok(&["checkout", "-q", "main"]);
    }

    /// Merge branches `a` then `b` into main; the outcome of the second.
    fn merge_a_then_b(&self) -> Output {
        self.git_ok(&["merge", "-q", "--no-edit", "a"]);
        self.git(&["merge", "--no-edit", "b"])
    }

    /// Every file of the working tree (outside .git) that contains `needle`.
    fn files_containing(&self, needle: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, needle: &str, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|n| n == ".git") {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, needle, found);
                } else if String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains(needle) {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.root, needle, &mut found);
        found
    }
}

/// The line of an encrypted file that starts with `prefix` (a key).
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}"))
}

/// Real sops reads the file and verifies its MAC; returns the plaintext.
fn sops_decrypts(repo: &Repo, rel: &str) -> String {
    let kind = if rel.ends_with(".env") {
        "dotenv"
    } else {
        "yaml"
    };
    run_ok(
        sops(Some(&repo.key))
            .args(["decrypt", "--input-type", kind, "--output-type", kind])
            .arg(repo.path(rel)),
    )
}

#[test]
fn init_writes_the_gitattributes_that_select_the_drivers() {
    let repo = Repo::bare();
    let attributes = repo.read(".gitattributes");
    for pattern in ["*.enc.yaml", "*.enc.yml", "*.enc.env"] {
        let wanted = format!("{pattern} diff=ksec merge=ksec");
        assert!(
            attributes.lines().any(|l| l == wanted),
            "{wanted} missing:\n{attributes}"
        );
    }
    for file in [APP, ENV, "x/y.enc.yml"] {
        let out = repo.git_ok(&["check-attr", "diff", "merge", "--", file]);
        assert_eq!(out, format!("{file}: diff: ksec\n{file}: merge: ksec\n"));
    }
}

#[test]
fn setup_writes_the_local_git_config_and_is_idempotent() {
    let repo = Repo::bare();
    assert!(
        !repo
            .git(&["config", "--get", "merge.ksec.driver"])
            .status
            .success()
    );
    // a user's own attributes, and only one of ksec's lines
    std::fs::write(
        repo.path(".gitattributes"),
        "*.png binary\n*.enc.yaml diff=ksec merge=ksec",
    )
    .unwrap();

    let first = repo.ksec_ok(&["git", "setup"]);
    for (key, value) in [
        ("diff.ksec.textconv", "ksec git textconv"),
        ("diff.ksec.cachetextconv", "false"),
        ("merge.ksec.name", "ksec: per-key merge of encrypted files"),
        ("merge.ksec.driver", "ksec git merge %O %A %B %P"),
    ] {
        let got = repo.git_ok(&["config", "--local", "--get", key]);
        assert_eq!(got.trim_end(), value, "{key}");
        assert!(first.contains(&format!("{key} = {value}")), "{first}");
    }
    assert_eq!(
        repo.read(".gitattributes"),
        "*.png binary\n*.enc.yaml diff=ksec merge=ksec\n\
         # ksec: encrypted sources diff and merge per key (see `ksec git setup`).\n\
         *.enc.yml diff=ksec merge=ksec\n*.enc.env diff=ksec merge=ksec\n"
    );
    assert!(first.contains("*.enc.env diff=ksec merge=ksec"), "{first}");

    let attributes = repo.read(".gitattributes");
    let config = std::fs::read_to_string(repo.path(".git/config")).unwrap();
    let second = repo.ksec_ok(&["git", "setup"]);
    assert!(second.contains("nothing changed"), "{second}");
    assert_eq!(repo.read(".gitattributes"), attributes);
    assert_eq!(
        std::fs::read_to_string(repo.path(".git/config")).unwrap(),
        config
    );
}

#[test]
fn setup_outside_a_git_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let project = dir.path().join("shop");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&project).unwrap();
    ksec(&home)
        .current_dir(&project)
        .args(["init", "--name", "shop"])
        .assert()
        .success();
    let attributes = std::fs::read_to_string(project.join(".gitattributes")).unwrap();
    let out = ksec(&home)
        .current_dir(&project)
        .env("GIT_CEILING_DIRECTORIES", dir.path())
        .args(["git", "setup"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let message = stderr(&out).replace(&project.display().to_string(), "[PROJECT]");
    insta::assert_snapshot!("setup_outside_git", message);
    assert_eq!(
        std::fs::read_to_string(project.join(".gitattributes")).unwrap(),
        attributes
    );
}

#[test]
fn branches_that_change_different_keys_merge_cleanly() {
    let repo = Repo::new();
    let before = repo.read(APP);
    repo.branch("a", |r| r.set(APP, "DB_USER", "alice"));
    repo.branch("b", |r| r.set(APP, "LOG_LEVEL", "debug"));
    let on_a = repo.git_ok(&["show", &format!("a:{APP}")]);

    let out = repo.merge_a_then_b();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(!all_output(&out).contains(CANARY));
    assert_eq!(repo.git_ok(&["status", "--porcelain"]), "");

    let merged = repo.read(APP);
    assert_eq!(
        repo.decrypt(APP),
        APP_PLAIN
            .replace("DB_USER: admin", "DB_USER: alice")
            .replace("LOG_LEVEL: info", "LOG_LEVEL: debug")
    );
    // real sops verifies the MAC and reads the same values
    assert!(sops_decrypts(&repo, APP).contains("LOG_LEVEL: debug\n"));
    // keys changed on neither side keep their exact ciphertext, and the key
    // changed on the branch keeps the branch's ciphertext
    for key in ["API_TOKEN:", "DB_HOST:"] {
        assert_eq!(line(&merged, key), line(&before, key), "{key}");
    }
    assert_eq!(line(&merged, "DB_USER:"), line(&on_a, "DB_USER:"));
    assert_ne!(line(&merged, "LOG_LEVEL:"), line(&before, "LOG_LEVEL:"));
}

#[test]
fn keys_added_on_one_branch_and_removed_on_the_other_merge_cleanly() {
    let repo = Repo::new();
    repo.branch("a", |r| r.set(APP, "NEW_FLAG", "on"));
    repo.branch("b", |r| {
        r.ksec_ok(&["unset", APP, "DB_HOST"]);
    });
    let out = repo.merge_a_then_b();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert_eq!(
        repo.decrypt(APP),
        APP_PLAIN.replace("DB_HOST: db.internal\n", "") + "NEW_FLAG: \"on\"\n"
    );
}

#[test]
fn the_same_key_changed_on_both_branches_conflicts_without_plaintext_on_disk() {
    let repo = Repo::new();
    let ours = format!("{CANARY}-from-a");
    let theirs = format!("{CANARY}-from-b");
    repo.branch("a", |r| {
        r.set(APP, "API_TOKEN", &ours);
        r.set(APP, "DB_USER", "alice");
    });
    repo.branch("b", |r| {
        r.set(APP, "API_TOKEN", &theirs);
        r.set(APP, "LOG_LEVEL", "debug");
    });

    let out = repo.merge_a_then_b();
    let shown = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "git merge should stop");
    assert!(!shown.contains(CANARY), "a value was printed");
    assert!(shown.contains(&format!("CONFLICT (content): Merge conflict in {APP}")));
    assert!(
        shown.contains(&format!("error: merge conflict in {APP}: 1 key was changed differently on both sides\n    API_TOKEN\n")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "resolve with: ksec edit {APP}, then git add {APP}"
        )),
        "{shown}"
    );
    assert!(
        repo.git_ok(&["status", "--porcelain"])
            .contains(&format!("UU {APP}"))
    );

    // no plaintext anywhere in the working tree, no conflict markers, and
    // the file is a valid SOPS file holding main's side of API_TOKEN with
    // the other keys merged
    assert_eq!(repo.files_containing(CANARY), Vec::<PathBuf>::new());
    assert!(!repo.read(APP).contains("<<<<<<<"));
    let plain = sops_decrypts(&repo, APP);
    assert_eq!(
        plain,
        APP_PLAIN
            .replace(CANARY, &ours)
            .replace("DB_USER: admin", "DB_USER: alice")
            .replace("LOG_LEVEL: info", "LOG_LEVEL: debug")
    );

    // `git diff` (the hint) shows both sides, decrypted, to the key holder
    let (stage2, stage3) = (format!(":2:{APP}"), format!(":3:{APP}"));
    let diff = String::from_utf8(repo.git(&["diff", &stage2, &stage3]).stdout).unwrap();
    assert!(
        diff.contains(&ours) && diff.contains(&theirs),
        "git diff does not show both sides of the conflict"
    );

    // resolving as the hint says finishes the merge
    repo.set(APP, "API_TOKEN", "resolved");
    repo.git_ok(&["add", APP]);
    repo.git_ok(&["commit", "-q", "--no-edit"]);
    assert!(repo.decrypt(APP).starts_with("API_TOKEN: resolved\n"));
}

/// The driver itself, called as git calls it (`ksec git merge %O %A %B
/// %P`) on the three stages of a conflicted file: exit 12 (a merge has
/// conflicts) with ours left in %A, and exit 0 once both sides agree.
#[test]
fn the_merge_driver_exits_12_on_a_conflict_and_0_on_a_clean_merge() {
    let repo = Repo::new();
    repo.branch("a", |r| r.set(APP, "API_TOKEN", "from-a"));
    repo.branch("b", |r| r.set(APP, "API_TOKEN", "from-b"));
    assert_eq!(repo.merge_a_then_b().status.code(), Some(1));

    let stage = |n: u8, name: &str| {
        let out = repo.git(&["show", &format!(":{n}:{APP}")]);
        assert!(out.status.success(), "{}", all_output(&out));
        let path = repo.dir.path().join(name);
        std::fs::write(&path, &out.stdout).unwrap();
        path
    };
    let (base, ours, theirs) = (stage(1, "base"), stage(2, "ours"), stage(3, "theirs"));
    let driver = |ours: &Path, theirs: &Path| {
        repo.ksec()
            .args(["git", "merge"])
            .args([&base, ours, theirs])
            .arg(APP)
            .output()
            .unwrap()
    };

    let out = driver(&ours, &theirs);
    assert_eq!(out.status.code(), Some(12), "{}", stderr(&out));
    assert!(stderr(&out).contains("API_TOKEN"), "{}", stderr(&out));
    let left = repo.ksec_ok(&["decrypt", ours.to_str().unwrap()]);
    assert!(left.starts_with("API_TOKEN: from-a\n"), "ours was not kept");

    // control: theirs merged with itself is clean
    let same = repo.dir.path().join("theirs-again");
    std::fs::copy(&theirs, &same).unwrap();
    let out = driver(&same, &theirs);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn nested_maps_merge_per_key() {
    let repo = Repo::new();
    let file = "namespaces/payments/db.enc.yaml";
    let (p0, p1) = (common::canary("p0"), common::canary("p1"));
    repo.encrypt(
        file,
        &format!(
            "db:\n  user: app\n  password: {p0}\n  host: db.internal\nreplicas:\n- r1\n- r2\n"
        ),
    );
    repo.commit("db");
    let before = repo.read(file);
    repo.branch("a", |r| r.set(file, r#"["db"]["user"]"#, "app2"));
    repo.branch("b", |r| {
        r.set(file, r#"["db"]["password"]"#, &p1);
        r.set(file, r#"["db"]["port"]"#, "5432");
    });
    let out = repo.merge_a_then_b();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert_eq!(
        repo.decrypt(file),
        format!(
            "db:\n    user: app2\n    password: {p1}\n    host: db.internal\n    port: \"5432\"\nreplicas:\n    - r1\n    - r2\n"
        )
    );
    assert_eq!(
        line(&repo.read(file), "    host:"),
        line(&before, "    host:")
    );
    sops_decrypts(&repo, file);

    // the same nested key on both sides: a conflict named by its path
    repo.branch("c", |r| r.set(file, r#"["db"]["password"]"#, "from-c"));
    repo.branch("d", |r| r.set(file, r#"["db"]["password"]"#, "from-d"));
    repo.git_ok(&["merge", "-q", "--no-edit", "c"]);
    let out = repo.git(&["merge", "--no-edit", "d"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        all_output(&out).contains("    [\"db\"][\"password\"]\n"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn comments_of_a_yaml_file_survive_a_merge_with_their_ciphertext() {
    let repo = Repo::new();
    let file = "namespaces/payments/notes.enc.yaml";
    let p0 = common::canary("p0");
    let plain = format!(
        "# owner: payments\ndb:\n    # the app user\n    user: app\n    password: {p0}\nhosts:\n    # primary first\n    - h1\n    - h2\n# end\n"
    );
    repo.encrypt(file, &plain);
    repo.commit("commented");
    let before = repo.read(file);
    repo.branch("a", |r| r.set(file, r#"["db"]["user"]"#, "app2"));
    repo.branch("b", |r| r.set(file, r#"["db"]["password"]"#, "rotated"));
    let out = repo.merge_a_then_b();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(
        !all_output(&out).contains("warning"),
        "{}",
        all_output(&out)
    );
    let expected = plain
        .replace("user: app\n", "user: app2\n")
        .replace(&p0, "rotated");
    assert_eq!(repo.decrypt(file), expected);
    assert_eq!(sops_decrypts(&repo, file), expected);
    let merged = repo.read(file);
    let comments = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("type:comment]"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(comments(&merged).len(), 4, "{merged}");
    assert_eq!(comments(&merged), comments(&before));
}

#[test]
fn dotenv_files_merge_per_key() {
    let repo = Repo::new();
    let before = repo.read(ENV);
    repo.branch("a", |r| r.set(ENV, "MODE", "test"));
    repo.branch("b", |r| {
        r.set(ENV, "TIMEOUT", "60");
        r.set(ENV, "RETRIES", "3");
    });
    let out = repo.merge_a_then_b();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let expected = ENV_PLAIN
        .replace("MODE=live", "MODE=test")
        .replace("TIMEOUT=30", "TIMEOUT=60")
        + "RETRIES=3\n";
    assert_eq!(repo.decrypt(ENV), expected);
    assert_eq!(sops_decrypts(&repo, ENV), expected);
    let merged = repo.read(ENV);
    for key in ["API_KEY=", "REGION="] {
        assert_eq!(line(&merged, key), line(&before, key));
    }
}

#[test]
fn a_merge_without_an_identity_leaves_the_file_encrypted_and_conflicted() {
    let repo = Repo::new();
    repo.branch("a", |r| r.set(APP, "DB_USER", "alice"));
    repo.branch("b", |r| r.set(APP, "LOG_LEVEL", "debug"));
    repo.git_ok(&["merge", "-q", "--no-edit", "a"]);
    let ours = repo.read(APP);
    let out = repo.git_as(None, &["merge", "--no-edit", "b"]);
    let shown = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(&format!(
            "error: cannot merge {APP}: no age identity found to decrypt it"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "{APP} was left as it is on this side; git marks it as conflicted"
        )),
        "{shown}"
    );
    assert_eq!(repo.read(APP), ours);
    assert_eq!(repo.files_containing(CANARY), Vec::<PathBuf>::new());
}

#[test]
fn recipients_changed_on_one_branch_survive_the_merge() {
    let repo = Repo::new();
    let bob = Key::new(repo.dir.path(), "bob");
    // branch a re-encrypts the file to alice and bob; branch b edits a value
    repo.branch("a", |r| {
        let plain = r.decrypt(APP);
        std::fs::remove_file(r.path(APP)).unwrap();
        let src = r.dir.path().join("app.yaml");
        std::fs::write(&src, plain).unwrap();
        ksec(&r.home)
            .arg("encrypt")
            .arg(&src)
            .args(["-r", &r.key.recipient, "-r", &bob.recipient, "--output"])
            .arg(r.path(APP))
            .assert()
            .success();
        std::fs::remove_file(&src).unwrap();
    });
    repo.branch("b", |r| r.set(APP, "LOG_LEVEL", "debug"));
    // merge a into b: b (this side) kept the old recipients, a changed them
    repo.git_ok(&["checkout", "-q", "b"]);
    let out = repo.git(&["merge", "--no-edit", "a"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let merged = repo.read(APP);
    assert!(merged.contains(&bob.recipient), "bob lost his access");
    let as_bob = ksec_with(&repo.home, &bob)
        .current_dir(&repo.root)
        .expect_secret_output()
        .args(["decrypt", APP])
        .output()
        .unwrap();
    assert_eq!(as_bob.status.code(), Some(0), "{}", stderr(&as_bob));
    assert_eq!(
        String::from_utf8(as_bob.stdout).unwrap(),
        APP_PLAIN.replace("LOG_LEVEL: info", "LOG_LEVEL: debug")
    );
}

#[test]
fn git_diff_and_log_show_decrypted_changes_to_a_key_holder() {
    let repo = Repo::new();
    repo.set(APP, "LOG_LEVEL", "debug");
    let diff = repo.git_ok(&["diff", "--", APP]);
    assert!(
        diff.contains("\n-LOG_LEVEL: info\n+LOG_LEVEL: debug\n"),
        "{diff}"
    );
    assert!(!diff.contains("ENC["), "{diff}");
    repo.commit("debug");
    let log = repo.git_ok(&["log", "-p", "-1", "--", APP]);
    assert!(
        log.contains("\n-LOG_LEVEL: info\n+LOG_LEVEL: debug\n"),
        "{log}"
    );
    let changed: Vec<&str> = log
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(changed, ["-LOG_LEVEL: info", "+LOG_LEVEL: debug"]);
}

#[test]
fn git_diff_and_log_show_digests_and_no_values_without_an_identity() {
    let repo = Repo::new();
    repo.set(APP, "LOG_LEVEL", "debug");
    repo.set(ENV, "MODE", "test");
    let out = repo.git_as(None, &["diff", "--", APP, ENV]);
    assert!(out.status.success());
    let diff = String::from_utf8(out.stdout).unwrap();
    repo.commit("change");
    let out = repo.git_as(None, &["log", "-p", "-1"]);
    assert!(out.status.success());
    let log = String::from_utf8(out.stdout).unwrap();
    for shown in [&diff, &log] {
        for hidden in [
            CANARY,
            "info",
            "debug",
            "live",
            "ENC[",
            "lastmodified",
            "mac:",
        ] {
            assert!(!shown.contains(hidden), "{hidden} shown:\n{shown}");
        }
        let changed: Vec<&str> = shown
            .lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .collect();
        // exactly the two changed values, each as a changed digest
        assert_eq!(changed.len(), 4, "{shown}");
        for key in ["LOG_LEVEL: ", "MODE="] {
            let old = changed
                .iter()
                .find(|l| l.starts_with(&format!("-{key}<encrypted sha256:")));
            let new = changed
                .iter()
                .find(|l| l.starts_with(&format!("+{key}<encrypted sha256:")));
            assert!(old.is_some() && new.is_some(), "{key}: {shown}");
            assert_ne!(old.unwrap()[1..], new.unwrap()[1..]);
        }
        assert!(
            shown.contains(&format!("# sops: encrypted to {}", repo.key.recipient)),
            "{shown}"
        );
        assert!(shown.contains(" DB_HOST: <encrypted sha256:"), "{shown}");
    }
}

#[test]
fn textconv_never_fails_a_diff() {
    let repo = Repo::new();
    // not a SOPS file: as it is
    std::fs::write(repo.path("plain.enc.yaml"), "a: 1\n").unwrap();
    let out = repo
        .ksec()
        .expect_secret_output()
        .args(["git", "textconv", "plain.enc.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), out.stdout.as_slice()),
        (Some(0), &b"a: 1\n"[..])
    );
    // missing: a one-line note
    let out = repo
        .ksec()
        .expect_secret_output()
        .args(["git", "textconv", "gone.enc.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "# ksec: cannot read gone.enc.yaml: no such file or directory\n"
    );
    // tampered: digests and the reason, never unverified values
    let tampered = repo.read(APP).replace("LOG_LEVEL:", "LOG_LEVEL_X:");
    std::fs::write(repo.path(APP), tampered).unwrap();
    let out = repo
        .ksec()
        .expect_secret_output()
        .args(["git", "textconv", APP])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        shown.starts_with("# ksec: values not shown (integrity check failed at key LOG_LEVEL_X)\nAPI_TOKEN: <encrypted sha256:"),
        "{shown}"
    );
    assert!(!shown.contains(CANARY));
}

/// A file larger than ksec reads (64 MiB, here a sparse one) gets a note,
/// not an allocation of its whole size.
#[test]
fn textconv_of_a_file_over_the_read_limit_is_a_note() {
    let repo = Repo::new();
    let big = std::fs::File::create(repo.path("huge.enc.yaml")).unwrap();
    big.set_len(64 * 1024 * 1024 + 1).unwrap();
    let out = repo
        .ksec()
        .expect_secret_output()
        .args(["git", "textconv", "huge.enc.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "# ksec: huge.enc.yaml is larger than 64 MiB, the most ksec reads as one file\n"
    );
}

#[test]
fn files_that_are_not_encrypted_get_a_line_merge() {
    let repo = Repo::new();
    let file = "notes.enc.yaml";
    std::fs::write(repo.path(file), "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n").unwrap();
    repo.commit("notes");
    repo.branch("a", |r| {
        std::fs::write(r.path(file), "a: 9\nb: 2\nc: 3\nd: 4\ne: 5\n").unwrap()
    });
    repo.branch("b", |r| {
        std::fs::write(r.path(file), "a: 1\nb: 2\nc: 3\nd: 4\ne: 8\n").unwrap()
    });
    let out = repo.merge_a_then_b();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert_eq!(repo.read(file), "a: 9\nb: 2\nc: 3\nd: 4\ne: 8\n");
}

#[test]
fn the_driver_finds_the_format_without_a_path() {
    let repo = Repo::new();
    repo.branch("a", |r| r.set(ENV, "MODE", "test"));
    repo.branch("b", |r| r.set(ENV, "REGION", "us"));
    // git's temporary files have no extension; %P is optional
    for (name, rev) in [("base", "main"), ("ours", "a"), ("theirs", "b")] {
        let text = repo.git_ok(&["show", &format!("{rev}:{ENV}")]);
        std::fs::write(repo.dir.path().join(name), text).unwrap();
    }
    let d = repo.dir.path();
    let out = repo
        .ksec()
        .args(["git", "merge"])
        .args([d.join("base"), d.join("ours"), d.join("theirs")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::copy(d.join("ours"), repo.path(ENV)).unwrap();
    assert_eq!(
        repo.decrypt(ENV),
        ENV_PLAIN
            .replace("MODE=live", "MODE=test")
            .replace("REGION=eu", "REGION=us")
    );
}
