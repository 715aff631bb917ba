//! Two ksec commands changing one file at once: both changes land (they
//! take turns on a lock held from the read to the rename), or one fails
//! clearly; the file always decrypts, with `ksec` and with `sops`.

use crate::common;

use common::{CANARY, Key, code, ksec_with, run_ok, sops, stderr};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

const ROUNDS: usize = 30;

struct Project {
    dir: tempfile::TempDir,
    key: Key,
    other: Key,
    file: PathBuf,
}

impl Project {
    /// A project with namespace `payments` and its encrypted `app.enc.yaml`
    /// holding `plain`.
    fn new(plain: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let other = Key::new(dir.path(), "other");
        common::project(dir.path(), &[&key]);
        let src = dir.path().join("namespaces/payments/app.yaml");
        std::fs::write(&src, plain).unwrap();
        let file = dir.path().join("namespaces/payments/app.enc.yaml");
        let out = ksec_with(dir.path(), &key)
            .current_dir(dir.path())
            .arg("encrypt")
            .arg(&src)
            .arg("--output")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        std::fs::remove_file(&src).unwrap();
        Project {
            dir,
            key,
            other,
            file,
        }
    }

    /// `ksec ARGS` (decrypt prints the secret asked for).
    fn ksec(&self, args: &[&str]) -> Output {
        ksec_with(self.dir.path(), &self.key)
            .expect_secret_output()
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// `ksec set FILE KEY VALUE` with KSEC_LOCK_TIMEOUT=`timeout`.
    fn set_with_lock_timeout(&self, timeout: &str, key: &str, value: &str) -> Output {
        ksec_with(self.dir.path(), &self.key)
            .current_dir(self.dir.path())
            .env("KSEC_LOCK_TIMEOUT", timeout)
            .args(["set", self.file_arg(), key, value])
            .output()
            .unwrap()
    }

    fn file_arg(&self) -> &str {
        self.file.to_str().unwrap()
    }

    /// The decrypted file as key -> value (flat YAML of plain strings).
    fn values(&self) -> BTreeMap<String, String> {
        let out = self.ksec(&["decrypt", self.file_arg()]);
        assert_eq!(
            code(&out),
            Some(0),
            "the file no longer decrypts: {}",
            stderr(&out)
        );
        parse(&String::from_utf8(out.stdout).unwrap())
    }

    /// The same through the real sops, with `key`.
    fn values_by_sops(&self, key: &Key) -> BTreeMap<String, String> {
        parse(&run_ok(sops(Some(key)).arg("-d").arg(&self.file)))
    }

    /// Give namespace payments these recipients in ksec.yaml.
    fn recipients(&self, keys: &[&Key]) {
        common::project(self.dir.path(), keys);
    }
}

fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Run both commands at the same time; both outputs.
fn together(
    a: impl FnOnce() -> Output + Send,
    b: impl FnOnce() -> Output + Send,
) -> (Output, Output) {
    std::thread::scope(|s| {
        let a = s.spawn(a);
        let b = s.spawn(b);
        (a.join().unwrap(), b.join().unwrap())
    })
}

fn assert_ok(out: &Output, what: &str) {
    assert_eq!(code(out), Some(0), "{what}: {}", stderr(out));
    assert!(
        !common::all_output(out).contains(CANARY),
        "{what} printed a value"
    );
}

#[test]
fn two_concurrent_sets_on_one_file_both_land() {
    let p = Project::new(&format!("SEED: {CANARY}\n"));
    let mut want = BTreeMap::from([("SEED".to_string(), CANARY.to_string())]);
    for round in 0..ROUNDS {
        let (a, b) = (format!("A{round}"), format!("B{round}"));
        let (va, vb) = (format!("a-value-{round}"), format!("b-value-{round}"));
        let (out_a, out_b) = together(
            || p.ksec(&["set", p.file_arg(), &a, &va]),
            || p.ksec(&["set", p.file_arg(), &b, &vb]),
        );
        assert_ok(&out_a, &format!("round {round}: set {a}"));
        assert_ok(&out_b, &format!("round {round}: set {b}"));
        want.insert(a, va);
        want.insert(b, vb);
        assert_eq!(p.values(), want, "round {round}: an update was lost");
    }
    assert_eq!(p.values_by_sops(&p.key), want);
}

#[test]
fn a_set_and_an_unset_at_once_both_land() {
    let plain: String = (0..ROUNDS)
        .map(|i| format!("U{i}: u-value-{i}\n"))
        .collect();
    let p = Project::new(&plain);
    let mut want = parse(&plain);
    for round in 0..ROUNDS {
        let (s, u) = (format!("S{round}"), format!("U{round}"));
        let value = format!("s-value-{round}");
        let (out_s, out_u) = together(
            || p.ksec(&["set", p.file_arg(), &s, &value]),
            || p.ksec(&["unset", p.file_arg(), &u]),
        );
        assert_ok(&out_s, &format!("round {round}: set {s}"));
        assert_ok(&out_u, &format!("round {round}: unset {u}"));
        want.insert(s, value);
        want.remove(&u);
        assert_eq!(p.values(), want, "round {round}: an update was lost");
    }
    assert_eq!(p.values_by_sops(&p.key), want);
}

/// `rekey` rewrites the whole file (a new data key when a recipient goes):
/// a `set` running at the same time must not be undone by it, and the file
/// must end up with the recipients ksec.yaml names.
#[test]
fn a_set_and_a_rekey_at_once_both_land() {
    let p = Project::new(&format!("SEED: {CANARY}\n"));
    let mut want = BTreeMap::from([("SEED".to_string(), CANARY.to_string())]);
    for round in 0..ROUNDS {
        let both = round % 2 == 0;
        if both {
            p.recipients(&[&p.key, &p.other]);
        } else {
            p.recipients(&[&p.key]);
        }
        let k = format!("K{round}");
        let value = format!("k-value-{round}");
        let (out_set, out_rekey) = together(
            || p.ksec(&["set", p.file_arg(), &k, &value]),
            || p.ksec(&["rekey"]),
        );
        assert_ok(&out_set, &format!("round {round}: set {k}"));
        assert_ok(&out_rekey, &format!("round {round}: rekey"));
        want.insert(k, value);
        assert_eq!(p.values(), want, "round {round}: an update was lost");
        let by_other = sops(Some(&p.other))
            .arg("-d")
            .arg(&p.file)
            .output()
            .unwrap();
        assert_eq!(
            by_other.status.success(),
            both,
            "round {round}: the file's recipients do not follow ksec.yaml: {}",
            String::from_utf8_lossy(&by_other.stderr)
        );
    }
    assert_eq!(p.values_by_sops(&p.key), want);
}

/// Another process holds the lock (here `flock(1)`, which takes the same
/// kind of lock): ksec waits KSEC_LOCK_TIMEOUT seconds, then fails with a
/// clear error naming the file and that process, and writes nothing.
#[test]
fn a_held_lock_makes_set_fail_clearly_after_the_wait() {
    let p = Project::new(&format!("SEED: {CANARY}\n"));
    let holder = common::FlockHolder::hold(&p.file, &p.dir.path().join("ready"));
    let before = std::fs::read(&p.file).unwrap();
    let out = p.set_with_lock_timeout("1", "NEW", "new-value");
    let err = stderr(&out);
    let pid = holder.pid();
    holder.release();
    assert_eq!(code(&out), Some(9), "{err}");
    assert!(
        err.contains(&format!(
            "{} is being changed by another ksec (pid {pid})",
            p.file.display(),
        )),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read(&p.file).unwrap(), before);

    // released: the same command goes through
    let out = p.ksec(&["set", p.file_arg(), "NEW", "new-value"]);
    assert_ok(&out, "set after the lock was released");
    assert_eq!(p.values().get("NEW").map(String::as_str), Some("new-value"));
}

#[test]
fn locking_leaves_no_file_behind() {
    let p = Project::new("A: a\n");
    let folder = p.file.parent().unwrap();
    let listing = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (folder_before, root_before) = (listing(folder), listing(p.dir.path()));
    assert_ok(&p.ksec(&["set", p.file_arg(), "B", "b"]), "set");
    assert_ok(&p.ksec(&["unset", p.file_arg(), "B"]), "unset");
    assert_ok(&p.ksec(&["rekey"]), "rekey");
    assert_eq!(listing(folder), folder_before);
    assert_eq!(listing(p.dir.path()), root_before);
}

/// `recipients add` rewrites ksec.yaml, .sops.yaml and every file of the
/// namespace: two at once must both end up in ksec.yaml and in the file,
/// with a `set` running alongside.
#[test]
fn two_recipients_adds_and_a_set_at_once_all_land() {
    let p = Project::new(&format!("SEED: {CANARY}\n"));
    let mut want = BTreeMap::from([("SEED".to_string(), CANARY.to_string())]);
    for round in 0..10 {
        let (a, b) = (
            Key::new(p.dir.path(), &format!("a{round}")),
            Key::new(p.dir.path(), &format!("b{round}")),
        );
        let (name_a, name_b) = (format!("alice{round}"), format!("bob{round}"));
        let k = format!("K{round}");
        let value = format!("k-value-{round}");
        let outs = std::thread::scope(|s| {
            let add = |key: &Key, name: &str| {
                let (recipient, name) = (key.recipient.clone(), name.to_string());
                let p = &p;
                s.spawn(move || {
                    p.ksec(&[
                        "recipients",
                        "add",
                        &recipient,
                        "--name",
                        &name,
                        "-n",
                        "payments",
                    ])
                })
            };
            let handles = [
                add(&a, &name_a),
                add(&b, &name_b),
                s.spawn(|| p.ksec(&["set", p.file_arg(), &k, &value])),
            ];
            handles.map(|h| h.join().unwrap())
        });
        for (out, what) in outs.iter().zip(["add a", "add b", "set"]) {
            assert_ok(out, &format!("round {round}: {what}"));
        }
        want.insert(k, value);
        let yaml = std::fs::read_to_string(p.dir.path().join("ksec.yaml")).unwrap();
        for (name, key) in [(&name_a, &a), (&name_b, &b)] {
            assert!(
                yaml.contains(name.as_str()),
                "round {round}: {name} is missing from ksec.yaml:\n{yaml}"
            );
            assert_eq!(
                p.values_by_sops(key),
                want,
                "round {round}: {name} cannot read everything"
            );
        }
    }
}

/// Two `encrypt --in-place` of one plaintext file: the second one to get
/// the file finds it encrypted already and says so; never both succeed.
#[test]
fn two_encrypt_in_place_at_once_one_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let file = dir.path().join("s.yaml");
    for round in 0..ROUNDS {
        std::fs::write(&file, format!("A: {CANARY}\nB: {round}\n")).unwrap();
        let run = || {
            ksec_with(dir.path(), &key)
                .arg("encrypt")
                .arg(&file)
                .args(["--in-place", "-r", &key.recipient])
                .output()
                .unwrap()
        };
        let (x, y) = together(run, run);
        let codes = [code(&x), code(&y)];
        assert!(
            codes.contains(&Some(0)) && codes.contains(&Some(6)),
            "round {round}: exit codes {codes:?}: {}{}",
            stderr(&x),
            stderr(&y)
        );
        let refused = if code(&x) == Some(6) { &x } else { &y };
        assert!(
            stderr(refused).contains("already encrypted"),
            "{}",
            stderr(refused)
        );
        let plain = run_ok(sops(Some(&key)).arg("-d").arg(&file));
        assert_eq!(plain, format!("A: {CANARY}\nB: {round}\n"));
    }
}

#[test]
fn a_bad_lock_timeout_is_a_usage_error_naming_the_variable() {
    let p = Project::new("A: a\n");
    let before = std::fs::read(&p.file).unwrap();
    let out = p.set_with_lock_timeout("ten", "B", "b");
    let err = stderr(&out);
    assert_eq!(code(&out), Some(2), "{err}");
    assert!(err.contains("KSEC_LOCK_TIMEOUT=\"ten\""), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read(&p.file).unwrap(), before);
}

/// A `rekey` that removes a recipient while an editor is open: the edit is
/// saved on top of the rekeyed file, so the removed recipient stays out
/// (saving the file as it was opened would let them back in).
#[test]
fn an_edit_saved_after_a_rekey_keeps_the_new_recipients() {
    let p = Project::new(&format!("SEED: {CANARY}\nUSER: admin\n"));
    p.recipients(&[&p.key, &p.other]);
    assert_ok(&p.ksec(&["rekey"]), "rekey adding other");
    assert_eq!(p.values_by_sops(&p.other)["USER"], "admin");
    p.recipients(&[&p.key]);

    let editor = p.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\ncd '{}' && '{}' rekey >/dev/null || exit 1\nsed -i 's/admin/root/' \"$1\"\n",
            p.dir.path().display(),
            env!("CARGO_BIN_EXE_ksec")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = ksec_with(p.dir.path(), &p.key)
        .current_dir(p.dir.path())
        .env("EDITOR", &editor)
        .args(["edit", p.file_arg()])
        .write_stdin("")
        .output()
        .unwrap();
    assert_ok(&out, "edit");
    assert_eq!(p.values()["USER"], "root");
    let by_other = sops(Some(&p.other))
        .arg("-d")
        .arg(&p.file)
        .output()
        .unwrap();
    assert!(
        !by_other.status.success(),
        "the removed recipient can read the file again after the edit"
    );
}

/// Commands that change ksec.yaml itself (`namespace add`, `namespace
/// remove`, `recipients add`) take turns on it: every namespace and every
/// recipient added at once is in ksec.yaml and in `.sops.yaml` afterwards.
#[test]
fn namespace_adds_and_a_recipients_add_at_once_all_land() {
    let p = Project::new(&format!("SEED: {CANARY}\n"));
    for round in 0..10 {
        let carol = Key::new(p.dir.path(), &format!("c{round}"));
        let (first, second) = (format!("team{round}a"), format!("team{round}b"));
        let name = format!("carol{round}");
        let outs = std::thread::scope(|s| {
            let add = |ns: &str| {
                let (ns, p) = (ns.to_string(), &p);
                s.spawn(move || {
                    p.ksec(&["namespace", "add", &ns, "--owner-group", "devs", "-r", "r0"])
                })
            };
            let handles = [
                add(&first),
                add(&second),
                s.spawn(|| {
                    p.ksec(&[
                        "recipients",
                        "add",
                        &carol.recipient,
                        "--name",
                        &name,
                        "-n",
                        "payments",
                    ])
                }),
            ];
            handles.map(|h| h.join().unwrap())
        });
        for (out, what) in outs
            .iter()
            .zip(["add first", "add second", "recipients add"])
        {
            assert_ok(out, &format!("round {round}: {what}"));
        }
        let yaml = std::fs::read_to_string(p.dir.path().join("ksec.yaml")).unwrap();
        let sops_rules = std::fs::read_to_string(p.dir.path().join(".sops.yaml")).unwrap();
        for ns in [&first, &second] {
            assert!(
                yaml.contains(&format!("  {ns}:")),
                "round {round}: namespace {ns} is missing from ksec.yaml:\n{yaml}"
            );
            assert!(
                sops_rules.contains(&format!("namespaces/{ns}/")),
                "round {round}: .sops.yaml has no rule for {ns}:\n{sops_rules}"
            );
        }
        assert!(
            yaml.contains(&format!("{name}: {}", carol.recipient)),
            "round {round}: recipient {name} is missing from ksec.yaml:\n{yaml}"
        );
        assert_eq!(
            p.values_by_sops(&carol).get("SEED").map(String::as_str),
            Some(CANARY),
            "round {round}: {name} cannot read the payments secret"
        );
    }
}
