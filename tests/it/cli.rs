//! Black-box tests of the ksec command line: encrypt, decrypt, the
//! identity lookup, SSH keys, set/unset, init, and the secret canary.

use crate::common;

use common::leftovers::files_holding;
use common::{
    CANARY, Key, all_output, canary, code, ksec, ksec_with, project, run_ok, sops, stderr, stdout,
};
use std::path::{Path, PathBuf};
use std::process::Output;

// ---------------------------------------------------------------- helpers

/// Write `plain` to `dir/name`, encrypt it to `key` into `dir/enc_name`.
fn encrypted(dir: &Path, key: &Key, name: &str, plain: &str, enc_name: &str) -> PathBuf {
    std::fs::write(dir.join(name), plain).unwrap();
    let target = dir.join(enc_name);
    ksec(dir)
        .current_dir(dir)
        .args(["encrypt", name, "-r", &key.recipient, "--output"])
        .arg(&target)
        .assert()
        .success();
    target
}

fn secret_yaml() -> String {
    format!("API_TOKEN: {CANARY}\nDB_USER: admin\n")
}

/// Indices of the lines that differ between two texts of equal line count.
fn changed_lines(old: &str, new: &str) -> Vec<usize> {
    let (o, n): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    assert_eq!(o.len(), n.len(), "line counts differ:\n{old}\n---\n{new}");
    (0..o.len()).filter(|&i| o[i] != n[i]).collect()
}

fn index_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}"))
}

/// The lines of a SOPS YAML file that a value change must touch besides the
/// value: `lastmodified` and `mac`.
fn metadata_lines(text: &str) -> [usize; 2] {
    [
        index_of(text, "    lastmodified: "),
        index_of(text, "    mac: ENC["),
    ]
}

/// `lastmodified` has a resolution of one second: wait for the next one so
/// a rewrite is guaranteed to change it.
fn next_second() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

// ------------------------------------------------------------------- help

// Every command listed in --help, its examples and the exit-code table:
// tests/it/help.rs, from the clap definitions and `Code::ALL`.

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = ksec(home.path()).arg("frobnicate").output().unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
}

// ---------------------------------------------------------------- encrypt

#[test]
fn encrypt_writes_a_sops_file_to_stdout_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    std::fs::write(dir.path().join("s.yaml"), secret_yaml()).unwrap();
    let tmp = private_tmpdir(dir.path());
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .args(["encrypt", "s.yaml", "-r", &key.recipient])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!all_output(&out).contains(CANARY));
    assert!(
        text.starts_with("API_TOKEN: ENC[AES256_GCM,data:"),
        "{text}"
    );
    assert!(text.contains("\nsops:\n"));
    assert!(text.contains(&format!("recipient: {}", key.recipient)));
    // the source is untouched, and nothing else was written
    assert_eq!(
        std::fs::read_to_string(dir.path().join("s.yaml")).unwrap(),
        secret_yaml()
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["key.txt", "s.yaml", "tmp"]);
    // and by content: only the source holds the plaintext, TMPDIR included
    let source = dir.path().join("s.yaml");
    assert_eq!(
        files_holding(dir.path(), CANARY, &[&source]),
        Vec::<PathBuf>::new()
    );
    // and it round-trips
    std::fs::write(dir.path().join("s.enc.yaml"), &text).unwrap();
    let out = ksec_with(dir.path(), &key)
        .current_dir(dir.path())
        .expect_secret_output()
        .args(["decrypt", "s.enc.yaml"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), secret_yaml(), "{}", stderr(&out));
}

#[test]
fn encrypt_in_place_replaces_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let file = dir.path().join("s.env");
    std::fs::write(&file, format!("TOKEN={CANARY}\n")).unwrap();
    let tmp = private_tmpdir(dir.path());
    let before = entries(dir.path());
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .env("TMPDIR", &tmp)
        .args(["encrypt", "s.env", "--in-place", "-r", &key.recipient])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "--in-place printed: {}",
        stdout(&out)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(CANARY), "the file still holds plaintext");
    assert!(text.starts_with("TOKEN=ENC[AES256_GCM,"), "{text}");
    assert!(text.contains("sops_mac=ENC["));
    let out = ksec_with(dir.path(), &key)
        .expect_secret_output()
        .args(["decrypt"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(stdout(&out), format!("TOKEN={CANARY}\n"));
    // no temporary file left behind: the same entries as before, and no
    // file anywhere under the directory (its TMPDIR included) holds the
    // plaintext
    assert_eq!(entries(dir.path()), before);
    assert_eq!(
        files_holding(dir.path(), CANARY, &[]),
        Vec::<PathBuf>::new()
    );
}

/// An empty `dir/tmp`, for ksec's TMPDIR (scanned for leftovers with `dir`).
fn private_tmpdir(dir: &Path) -> PathBuf {
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    tmp
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn encrypt_output_writes_there_and_leaves_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    std::fs::write(dir.path().join("s.yaml"), secret_yaml()).unwrap();
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .args(["encrypt", "s.yaml", "-r", &key.recipient])
        .args(["--output", "sub.enc.yaml"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("s.yaml")).unwrap(),
        secret_yaml()
    );
    let enc = std::fs::read_to_string(dir.path().join("sub.enc.yaml")).unwrap();
    assert!(enc.contains("sops:") && !enc.contains(CANARY));
}

#[test]
fn encrypt_refuses_an_already_encrypted_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let enc = encrypted(dir.path(), &key, "s.yaml", &secret_yaml(), "s.enc.yaml");
    let before = std::fs::read(&enc).unwrap();
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .args(["encrypt", "s.enc.yaml", "--in-place", "-r", &key.recipient])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already encrypted"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("s.enc.yaml"));
    assert_eq!(std::fs::read(&enc).unwrap(), before);
}

#[test]
fn encrypt_reports_invalid_yaml_by_line_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    for (name, text) in [
        (
            "bad.yaml",
            format!("good: 1\nother: 2\nbad: {CANARY}: oops\nlast: 3\n"),
        ),
        (
            "quote.yaml",
            format!("good: 1\nother: 2\nbad: \"{CANARY}\n"),
        ),
        ("bad.env", format!("GOOD=1\nOTHER=2\n{CANARY}\n")),
    ] {
        std::fs::write(dir.path().join(name), &text).unwrap();
        let out = ksec(dir.path())
            .current_dir(dir.path())
            .args(["encrypt", name, "-r", &key.recipient])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), Some(6), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(!all_output(&out).contains(CANARY), "{name} echoed: {err}");
        assert!(
            err.contains(&format!("{name}:3")),
            "{name}: the error must point at line 3:\n{err}"
        );
    }
}

#[test]
fn encrypt_of_a_missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .args(["encrypt", "nope.yaml", "-r", &key.recipient])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("nope.yaml"));
}

#[test]
fn encrypt_outside_every_namespace_without_r_is_a_usage_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    project(dir.path(), &[&key]);
    std::fs::write(dir.path().join("stray.yaml"), secret_yaml()).unwrap();
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .args(["encrypt", "stray.yaml"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), Some(2), "{err}");
    assert!(err.contains("stray.yaml"), "{err}");
    assert!(err.contains("hint:") && err.contains("-r"), "{err}");
    assert!(!all_output(&out).contains(CANARY));
}

#[test]
fn encrypt_inside_a_namespace_uses_its_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let a = Key::new(dir.path(), "a");
    let b = Key::new(dir.path(), "b");
    project(dir.path(), &[&a, &b]);
    let file = dir.path().join("namespaces/payments/db.yaml");
    std::fs::write(&file, secret_yaml()).unwrap();
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .args(["encrypt", "namespaces/payments/db.yaml", "--in-place"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&a.recipient) && text.contains(&b.recipient));
    for key in [&a, &b] {
        let out = ksec_with(dir.path(), key)
            .expect_secret_output()
            .arg("decrypt")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(stdout(&out), secret_yaml(), "{}", stderr(&out));
    }
}

#[test]
fn encrypt_with_an_invalid_recipient_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.yaml"), secret_yaml()).unwrap();
    for bad in ["age1notakey", "ssh-ed25519 AAAAnot-base64"] {
        let out = ksec(dir.path())
            .current_dir(dir.path())
            .args(["encrypt", "s.yaml", "-r", bad])
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(6), "-r {bad}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert!(stderr(&out).contains(bad), "{}", stderr(&out));
    }
}

/// An SSH public key of a type age cannot use is an invalid recipient, not
/// a name to look up in ksec.yaml.
#[test]

fn encrypt_with_an_unsupported_ssh_key_type_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.yaml"), secret_yaml()).unwrap();
    let ecdsa =
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEXAMPLE test@x";
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .args(["encrypt", "s.yaml", "-r", ecdsa])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("ecdsa"), "{}", stderr(&out));
}

// ---------------------------------------------------------------- decrypt

#[test]
fn decrypt_prints_the_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let enc = encrypted(dir.path(), &key, "s.yaml", &secret_yaml(), "s.enc.yaml");
    let out = ksec_with(dir.path(), &key)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), secret_yaml());
    assert!(!stderr(&out).contains(CANARY));
}

#[test]
fn decrypt_output_outside_the_project_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    project(dir.path(), &[&key]);
    let enc = encrypted(
        &dir.path().join("namespaces/payments"),
        &key,
        "s.yaml",
        &secret_yaml(),
        "s.enc.yaml",
    );
    let target = outside.path().join("plain.yaml");
    let out = ksec_with(dir.path(), &key)
        .current_dir(dir.path())
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .arg("--output")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(!all_output(&out).contains(CANARY));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), secret_yaml());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "plaintext written with mode {mode:o}");
}

#[test]
fn decrypt_output_inside_the_project_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    project(dir.path(), &[&key]);
    let ns = dir.path().join("namespaces/payments");
    encrypted(&ns, &key, "s.yaml", &secret_yaml(), "s.enc.yaml");
    std::fs::remove_file(ns.join("s.yaml")).unwrap();
    for target in ["namespaces/payments/s.yaml", "plain.yaml"] {
        let out = ksec_with(dir.path(), &key)
            .current_dir(dir.path())
            .expect_secret_output()
            .args([
                "decrypt",
                "namespaces/payments/s.enc.yaml",
                "--output",
                target,
            ])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), Some(2), "{target}: {err}");
        assert!(err.contains(target), "{err}");
        assert!(err.contains("hint:"), "{err}");
        assert!(!all_output(&out).contains(CANARY));
        assert!(!dir.path().join(target).exists(), "{target} was written");
    }
    // an absolute path into the project, from a subdirectory, too
    let target = dir.path().join("leak.yaml");
    let out = ksec_with(dir.path(), &key)
        .current_dir(&ns)
        .expect_secret_output()
        .args(["decrypt", "s.enc.yaml", "--output"])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(!target.exists());
    // a git-ignored *.dec.* name is allowed
    let out = ksec_with(dir.path(), &key)
        .current_dir(dir.path())
        .expect_secret_output()
        .args([
            "decrypt",
            "namespaces/payments/s.enc.yaml",
            "--output",
            "namespaces/payments/s.dec.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(ns.join("s.dec.yaml")).unwrap(),
        secret_yaml()
    );
}

/// Invariant 2 must not depend on the working directory: the target is
/// inside a project even when ksec runs from outside it.
#[test]

fn decrypt_output_into_a_project_from_outside_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let root = dir.path().join("repo");
    project(&root, &[&key]);
    let ns = root.join("namespaces/payments");
    encrypted(&ns, &key, "s.yaml", &secret_yaml(), "s.enc.yaml");
    std::fs::remove_file(ns.join("s.yaml")).unwrap();
    let out = ksec_with(dir.path(), &key)
        .current_dir(dir.path())
        .expect_secret_output()
        .args([
            "decrypt",
            "repo/namespaces/payments/s.enc.yaml",
            "--output",
            "repo/namespaces/payments/s.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        !ns.join("s.yaml").exists(),
        "plaintext was written into the project (exit {:?})",
        code(&out)
    );
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
}

/// Same, through a symlink to the project.
#[test]

fn decrypt_output_into_the_project_through_a_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let root = dir.path().join("repo");
    project(&root, &[&key]);
    let ns = root.join("namespaces/payments");
    encrypted(&ns, &key, "s.yaml", &secret_yaml(), "s.enc.yaml");
    std::fs::remove_file(ns.join("s.yaml")).unwrap();
    std::os::unix::fs::symlink(&root, dir.path().join("link")).unwrap();
    let target = dir.path().join("link/namespaces/payments/s.yaml");
    let out = ksec_with(dir.path(), &key)
        .current_dir(&root)
        .expect_secret_output()
        .args(["decrypt", "namespaces/payments/s.enc.yaml", "--output"])
        .arg(&target)
        .output()
        .unwrap();
    assert!(
        !ns.join("s.yaml").exists(),
        "plaintext was written into the project (exit {:?})",
        code(&out)
    );
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
}

#[test]
fn decrypt_of_a_plain_file_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    std::fs::write(dir.path().join("plain.yaml"), secret_yaml()).unwrap();
    let out = ksec_with(dir.path(), &key)
        .current_dir(dir.path())
        .expect_secret_output()
        .args(["decrypt", "plain.yaml"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(
        err.contains("plain.yaml") && err.contains("not a SOPS"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(!all_output(&out).contains(CANARY));
}

#[test]
fn decrypt_of_a_missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let out = ksec_with(dir.path(), &key)
        .current_dir(dir.path())
        .expect_secret_output()
        .args(["decrypt", "gone.enc.yaml"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("gone.enc.yaml"));
}

// ------------------------------------------------------ keys: wrong / none

#[test]
fn wrong_key_lists_the_recipients_and_where_ksec_looked() {
    let dir = tempfile::tempdir().unwrap();
    let a = Key::new(dir.path(), "a");
    let b = Key::new(dir.path(), "b");
    let enc = encrypted(dir.path(), &a, "s.yaml", &secret_yaml(), "s.enc.yaml");
    let out = ksec_with(dir.path(), &b)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), Some(4), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains("s.enc.yaml"), "{err}");
    assert!(
        err.contains(&a.recipient),
        "the file's recipient is missing:\n{err}"
    );
    assert!(
        err.contains(&format!("KSEC_AGE_KEY_FILE={}", b.file.display())),
        "the identity source is missing:\n{err}"
    );
    assert!(!all_output(&out).contains(CANARY));
    assert!(
        !all_output(&out).contains(&b.secret),
        "a private key was printed"
    );
}

#[test]
fn no_key_at_all_lists_the_lookup_order() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let a = Key::new(dir.path(), "a");
    let enc = encrypted(dir.path(), &a, "s.yaml", &secret_yaml(), "s.enc.yaml");
    let out = ksec(home.path())
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), Some(4), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains(&a.recipient), "{err}");
    let home = home.path().display();
    let expected = [
        "KSEC_AGE_KEY (".to_string(),
        "KSEC_AGE_KEY_FILE".to_string(),
        "SOPS_AGE_KEY (".to_string(),
        "SOPS_AGE_KEY_FILE".to_string(),
        "OS keyring".to_string(),
        format!("{home}/.config/ksec/keys.txt"),
        format!("{home}/.config/sops/age/keys.txt"),
    ];
    // one line each, in lookup order
    let lines: Vec<&str> = err.lines().map(str::trim).collect();
    let mut next = 0;
    for entry in &expected {
        let found = (next..lines.len()).find(|&i| lines[i].starts_with(entry.as_str()));
        let n = found.unwrap_or_else(|| panic!("{entry} is not listed (in order):\n{err}"));
        next = n + 1;
    }
}

#[test]

fn no_key_at_all_mentions_the_identity_flag() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let a = Key::new(dir.path(), "a");
    let enc = encrypted(dir.path(), &a, "s.yaml", &secret_yaml(), "s.enc.yaml");
    let out = ksec(home.path())
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(4));
    assert!(stderr(&out).contains("--identity"), "{}", stderr(&out));
}

#[test]
fn key_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let a = Key::new(dir.path(), "a");
    let b = Key::new(dir.path(), "b");
    encrypted(dir.path(), &a, "s.yaml", &secret_yaml(), "s.enc.yaml");
    let wrong = ksec_with(home.path(), &b)
        .current_dir(dir.path())
        .expect_secret_output()
        .args(["decrypt", "s.enc.yaml"])
        .output()
        .unwrap();
    let none = ksec(home.path())
        .current_dir(dir.path())
        .expect_secret_output()
        .args(["decrypt", "s.enc.yaml"])
        .output()
        .unwrap();
    let report = format!(
        "## wrong key (exit {})\n{}\n## no key (exit {})\n{}",
        code(&wrong).unwrap(),
        stderr(&wrong),
        code(&none).unwrap(),
        stderr(&none)
    );
    assert!(!report.contains(CANARY) && !report.contains(&b.secret));
    let home_path = home.path().display().to_string();
    let dir_path = dir.path().display().to_string();
    insta::with_settings!({filters => vec![
        (a.recipient.as_str(), "[RECIPIENT A]"),
        (home_path.as_str(), "[HOME]"),
        (dir_path.as_str(), "[DIR]"),
    ]}, {
        insta::assert_snapshot!(report);
    });
}

// ------------------------------------------------------- identity lookup

/// A file encrypted to `a` only, plus a home directory.
struct LookupFixture {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    a: Key,
    b: Key,
    enc: PathBuf,
}

impl LookupFixture {
    fn new() -> LookupFixture {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let a = Key::new(dir.path(), "a");
        let b = Key::new(dir.path(), "b");
        let enc = encrypted(dir.path(), &a, "s.yaml", &secret_yaml(), "s.enc.yaml");
        LookupFixture {
            dir,
            home,
            a,
            b,
            enc,
        }
    }

    fn put(&self, rel: &str, key: &Key) -> PathBuf {
        let path = self.home.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(&key.file, &path).unwrap();
        path
    }

    fn decrypt(&self, f: impl FnOnce(&mut common::Ksec)) -> Output {
        let mut cmd = ksec(self.home.path());
        f(&mut cmd);
        cmd.expect_secret_output()
            .arg("decrypt")
            .arg(&self.enc)
            .output()
            .unwrap()
    }
}

fn assert_decrypts(out: &Output) {
    assert_eq!(code(out), Some(0), "{}", stderr(out));
    assert_eq!(stdout(out), secret_yaml());
}

#[test]
fn ksec_age_key_file_beats_the_sops_default_file() {
    let fx = LookupFixture::new();
    fx.put(".config/sops/age/keys.txt", &fx.a);
    // positive control: the default file alone works
    assert_decrypts(&fx.decrypt(|_| {}));
    let out = fx.decrypt(|c| {
        c.env("KSEC_AGE_KEY_FILE", &fx.b.file);
    });
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("KSEC_AGE_KEY_FILE"));
}

#[test]
fn identity_flag_beats_the_environment() {
    let fx = LookupFixture::new();
    let out = fx.decrypt(|c| {
        c.env("KSEC_AGE_KEY", &fx.b.secret)
            .env("KSEC_AGE_KEY_FILE", &fx.b.file)
            .env("SOPS_AGE_KEY_FILE", &fx.b.file)
            .arg("--identity")
            .arg(&fx.a.file);
    });
    assert_decrypts(&out);
    // and the other way round: --identity with the wrong key fails although
    // the environment holds the right one
    let out = fx.decrypt(|c| {
        c.env("KSEC_AGE_KEY_FILE", &fx.a.file)
            .arg("--identity")
            .arg(&fx.b.file);
    });
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("--identity"), "{}", stderr(&out));
}

#[test]
fn ksec_age_key_text_works_and_beats_key_files() {
    let fx = LookupFixture::new();
    assert_decrypts(&fx.decrypt(|c| {
        c.env("KSEC_AGE_KEY", &fx.a.secret);
    }));
    assert_decrypts(&fx.decrypt(|c| {
        c.env("KSEC_AGE_KEY", &fx.a.secret)
            .env("KSEC_AGE_KEY_FILE", &fx.b.file);
    }));
}

#[test]
fn sops_age_key_works() {
    let fx = LookupFixture::new();
    assert_decrypts(&fx.decrypt(|c| {
        c.env("SOPS_AGE_KEY", &fx.a.secret);
    }));
}

#[test]
fn sops_age_key_file_works() {
    let fx = LookupFixture::new();
    assert_decrypts(&fx.decrypt(|c| {
        c.env("SOPS_AGE_KEY_FILE", &fx.a.file);
    }));
}

#[test]
fn the_ksec_config_file_works_alone_and_beats_the_sops_one() {
    let fx = LookupFixture::new();
    fx.put(".config/ksec/keys.txt", &fx.a);
    assert_decrypts(&fx.decrypt(|_| {}));
    fx.put(".config/sops/age/keys.txt", &fx.b);
    assert_decrypts(&fx.decrypt(|_| {}));
}

#[test]
fn a_missing_ksec_age_key_file_is_not_found_and_named() {
    let fx = LookupFixture::new();
    // a usable key further down must not hide the broken setting
    fx.put(".config/ksec/keys.txt", &fx.a);
    let missing = fx.dir.path().join("no-such-key.txt");
    let out = fx.decrypt(|c| {
        c.env("KSEC_AGE_KEY_FILE", &missing);
    });
    let err = stderr(&out);
    assert_eq!(code(&out), Some(3), "{err}");
    assert!(err.contains("KSEC_AGE_KEY_FILE"), "{err}");
    assert!(err.contains("no-such-key.txt"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_invalid_key_text_is_invalid_and_not_echoed() {
    let fx = LookupFixture::new();
    let out = fx.decrypt(|c| {
        c.env("KSEC_AGE_KEY", CANARY);
    });
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("KSEC_AGE_KEY"));
    assert!(
        !all_output(&out).contains(CANARY),
        "the key text was echoed"
    );
}

#[test]
fn a_broken_identity_file_is_named_and_never_echoed() {
    let fx = LookupFixture::new();
    let missing = fx.dir.path().join("gone.txt");
    let out = fx.decrypt(|c| {
        c.arg("--identity").arg(&missing);
    });
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--identity"), "{}", stderr(&out));
    assert!(stderr(&out).contains("gone.txt"));

    let garbage = fx.dir.path().join("garbage.txt");
    std::fs::write(&garbage, format!("# comment\nAGE-SECRET-KEY-1{CANARY}\n")).unwrap();
    let ssh_garbage = fx.dir.path().join("garbage_ssh");
    std::fs::write(
        &ssh_garbage,
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{CANARY}\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
    )
    .unwrap();
    for (file, needle) in [(&garbage, "line 2"), (&ssh_garbage, "SSH")] {
        let out = fx.decrypt(|c| {
            c.env("KSEC_AGE_KEY_FILE", file);
        });
        let err = stderr(&out);
        assert_eq!(code(&out), Some(6), "{err}");
        assert!(
            err.contains("KSEC_AGE_KEY_FILE") && err.contains(needle),
            "{err}"
        );
        assert!(
            !all_output(&out).contains(CANARY),
            "key material echoed: {err}"
        );
    }
}

#[test]
fn xdg_config_home_is_respected() {
    let fx = LookupFixture::new();
    let xdg = fx.dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("ksec")).unwrap();
    std::fs::copy(&fx.a.file, xdg.join("ksec/keys.txt")).unwrap();
    // the wrong key where ~/.config would be: XDG_CONFIG_HOME replaces it
    fx.put(".config/ksec/keys.txt", &fx.b);
    assert_decrypts(&fx.decrypt(|c| {
        c.env("XDG_CONFIG_HOME", &xdg);
    }));
    // the sops location under XDG_CONFIG_HOME as well
    std::fs::remove_file(xdg.join("ksec/keys.txt")).unwrap();
    std::fs::create_dir_all(xdg.join("sops/age")).unwrap();
    std::fs::copy(&fx.a.file, xdg.join("sops/age/keys.txt")).unwrap();
    assert_decrypts(&fx.decrypt(|c| {
        c.env("XDG_CONFIG_HOME", &xdg);
    }));
}

// -------------------------------------------------------------------- SSH

#[test]
fn ssh_ed25519_recipient_and_identity() {
    ssh_recipient_and_identity(&["-t", "ed25519"], "ssh-ed25519");
}

#[test]
fn ssh_rsa_recipient_and_identity() {
    ssh_recipient_and_identity(&["-t", "rsa", "-b", "2048"], "ssh-rsa");
}

/// A key made by `ssh-keygen ARGS` (of type `kind`): ksec encrypts to its
/// public half, decrypts with the private half (by --identity and from the
/// environment), and sops reads the file with the same key.
fn ssh_recipient_and_identity(args: &[&str], kind: &str) {
    if common::which("ssh-keygen").is_none() {
        panic!("ssh-keygen is not installed (apt-get install openssh-client)");
    }
    let dir = tempfile::tempdir().unwrap();
    let ssh_key = dir.path().join("id_test");
    run_ok(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", "test@ksec"])
            .args(args)
            .arg("-f")
            .arg(&ssh_key),
    );
    let public = std::fs::read_to_string(dir.path().join("id_test.pub")).unwrap();
    assert!(public.starts_with(&format!("{kind} ")), "{public}");
    let public = public.trim();
    std::fs::write(dir.path().join("s.yaml"), secret_yaml()).unwrap();
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .args(["encrypt", "s.yaml", "-r", public, "--output", "s.enc.yaml"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let enc = dir.path().join("s.enc.yaml");
    let text = std::fs::read_to_string(&enc).unwrap();
    assert!(text.contains(&format!("recipient: {kind} ")), "{text}");

    let out = ksec(dir.path())
        .arg("--identity")
        .arg(&ssh_key)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_decrypts(&out);
    // as a key file from the environment too
    let out = ksec(dir.path())
        .env("KSEC_AGE_KEY_FILE", &ssh_key)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_decrypts(&out);

    // sops 3.11 reads it with the same SSH key
    let plain = run_ok(
        sops(None)
            .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &ssh_key)
            .arg("-d")
            .arg(&enc),
    );
    assert_eq!(plain, secret_yaml());
}

// -------------------------------------------------------------- set/unset

fn twenty_keys() -> String {
    (1..=20)
        .map(|i| format!("KEY{i:02}: value-{i}\n"))
        .collect()
}

#[test]
fn set_changes_exactly_the_value_lastmodified_and_mac() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let enc = encrypted(dir.path(), &key, "s.yaml", &twenty_keys(), "s.enc.yaml");
    let old = std::fs::read_to_string(&enc).unwrap();
    next_second();
    let out = ksec_with(dir.path(), &key)
        .arg("set")
        .arg(&enc)
        .args(["KEY07", "newvalue"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        !all_output(&out).contains("newvalue"),
        "the value was printed"
    );
    let new = std::fs::read_to_string(&enc).unwrap();
    let mut expected = vec![index_of(&old, "KEY07: ENC[")];
    expected.extend(metadata_lines(&old));
    expected.sort();
    assert_eq!(changed_lines(&old, &new), expected, "\n{old}\n---\n{new}");

    let plain = run_ok(sops(Some(&key)).arg("-d").arg(&enc));
    assert_eq!(plain, twenty_keys().replace("value-7\n", "newvalue\n"));
}

#[test]
fn set_reads_the_value_from_stdin_and_strips_one_newline() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let enc = encrypted(dir.path(), &key, "s.env", "A=1\nB=2\n", "s.enc.env");
    let tmp = private_tmpdir(dir.path());
    let out = ksec_with(dir.path(), &key)
        .env("TMPDIR", &tmp)
        .arg("set")
        .arg(&enc)
        .arg("B")
        .write_stdin(format!("{CANARY}\n"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(!all_output(&out).contains(CANARY));
    // the new value is on disk only encrypted: no temporary copy anywhere
    assert_eq!(
        files_holding(dir.path(), CANARY, &[]),
        Vec::<PathBuf>::new()
    );
    let out = ksec_with(dir.path(), &key)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(stdout(&out), format!("A=1\nB={CANARY}\n"));

    // only one newline is removed
    let yaml = encrypted(dir.path(), &key, "y.yaml", "a: 1\n", "y.enc.yaml");
    ksec_with(dir.path(), &key)
        .arg("set")
        .arg(&yaml)
        .arg("a")
        .write_stdin("two lines\n\n")
        .assert()
        .success();
    let plain = run_ok(
        sops(Some(&key))
            .args(["-d", "--extract", "[\"a\"]"])
            .arg(&yaml),
    );
    assert_eq!(plain, "two lines\n");
}

#[test]
fn set_of_an_unchanged_value_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let enc = encrypted(dir.path(), &key, "s.yaml", &twenty_keys(), "s.enc.yaml");
    let before = std::fs::read(&enc).unwrap();
    let mtime = std::fs::metadata(&enc).unwrap().modified().unwrap();
    next_second();
    let out = ksec_with(dir.path(), &key)
        .arg("set")
        .arg(&enc)
        .args(["KEY03", "value-3"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("unchanged"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&enc).unwrap(), before);
    assert_eq!(std::fs::metadata(&enc).unwrap().modified().unwrap(), mtime);
}

#[test]
fn set_a_nested_path() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let (was, fresh) = (canary("old"), canary("fresh"));
    let plain = format!("db:\n    user: app\n    password: {was}\nother: x\n");
    let enc = encrypted(dir.path(), &key, "s.yaml", &plain, "s.enc.yaml");
    let old = std::fs::read_to_string(&enc).unwrap();
    next_second();
    ksec_with(dir.path(), &key)
        .arg("set")
        .arg(&enc)
        .args(["[\"db\"][\"password\"]", &fresh])
        .assert()
        .success();
    let new = std::fs::read_to_string(&enc).unwrap();
    let mut expected = vec![index_of(&old, "    password: ENC[")];
    expected.extend(metadata_lines(&old));
    expected.sort();
    assert_eq!(changed_lines(&old, &new), expected);
    let out = run_ok(sops(Some(&key)).arg("-d").arg(&enc));
    assert_eq!(out, plain.replace(&was, &fresh));

    // a new nested key is created
    ksec_with(dir.path(), &key)
        .arg("set")
        .arg(&enc)
        .args(["[\"cache\"][\"url\"]", "redis://x"])
        .assert()
        .success();
    let out = run_ok(
        sops(Some(&key))
            .args(["-d", "--extract", "[\"cache\"][\"url\"]"])
            .arg(&enc),
    );
    assert_eq!(out, "redis://x");
}

#[test]
fn unset_removes_only_that_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let enc = encrypted(dir.path(), &key, "s.yaml", &twenty_keys(), "s.enc.yaml");
    let old = std::fs::read_to_string(&enc).unwrap();
    next_second();
    let out = ksec_with(dir.path(), &key)
        .arg("unset")
        .arg(&enc)
        .arg("KEY12")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let new = std::fs::read_to_string(&enc).unwrap();
    let removed = index_of(&old, "KEY12: ENC[");
    let old_without: String = old
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != removed)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let expected = metadata_lines(&old_without).to_vec();
    assert_eq!(changed_lines(&old_without, &new), expected);
    let plain = run_ok(sops(Some(&key)).arg("-d").arg(&enc));
    assert_eq!(plain, twenty_keys().replace("KEY12: value-12\n", ""));
}

#[test]
fn unset_of_a_missing_key_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let enc = encrypted(dir.path(), &key, "s.yaml", &twenty_keys(), "s.enc.yaml");
    let before = std::fs::read(&enc).unwrap();
    for missing in ["NOPE", "[\"KEY01\"][\"deeper\"]", "[\"none\"][\"x\"]"] {
        let out = ksec_with(dir.path(), &key)
            .arg("unset")
            .arg(&enc)
            .arg(missing)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), Some(3), "{missing}: {err}");
        assert!(err.contains(missing), "{err}");
        assert_eq!(std::fs::read(&enc).unwrap(), before);
    }
}

/// `set KEY` with a KEY the format cannot hold is refused as a wrong command
/// line (exit 2), names the key, never prints the value, and leaves the file
/// byte for byte as it was.
fn assert_set_refuses_keys(name: &str, plain: &str, keys: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let src = name.replace(".enc", "");
    let enc = encrypted(dir.path(), &key, &src, plain, name);
    let original = std::fs::read(&enc).unwrap();
    let mut wrong = Vec::new();
    for bad in keys {
        let set = ksec_with(dir.path(), &key)
            .arg("set")
            .arg(&enc)
            .args([bad, CANARY])
            .output()
            .unwrap();
        if code(&set) != Some(2) || !stderr(&set).contains(&format!("error: cannot set {bad}")) {
            wrong.push(format!(
                "{bad:?}: exit {:?}, not 2 with `cannot set {bad}`: {}",
                code(&set),
                stderr(&set).lines().next().unwrap_or("")
            ));
        }
        if all_output(&set).contains(CANARY) {
            wrong.push(format!("{bad:?}: the value was printed"));
        }
        if std::fs::read(&enc).unwrap() != original {
            wrong.push(format!("{bad:?}: the file changed"));
            std::fs::write(&enc, &original).unwrap();
        }
    }
    assert!(wrong.is_empty(), "{name}:\n{}", wrong.join("\n"));
}

#[test]
fn set_refuses_dotenv_keys_that_would_break_the_file() {
    assert_set_refuses_keys(
        "s.enc.env",
        "A=1\nB=2\n",
        &["X=Y", "#C", "sops_mac", "N\nL"],
    );
}

#[test]
fn set_refuses_yaml_keys_that_would_break_the_file() {
    assert_set_refuses_keys(
        "s.enc.yaml",
        "a: 1\nb: 2\n",
        &["sops", "[\"sops\"][\"mac\"]", "N\nL"],
    );
}

#[test]
fn set_accepts_unusual_but_valid_keys() {
    // Control for the two tests above: keys YAML and dotenv can hold.
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let enc = encrypted(dir.path(), &key, "s.yaml", "a: 1\n", "s.enc.yaml");
    for k in ["tls.crt", "key: x", "#x", "x=y"] {
        ksec_with(dir.path(), &key)
            .arg("set")
            .arg(&enc)
            .args([k, "v"])
            .assert()
            .success();
    }
    let plain = run_ok(sops(Some(&key)).arg("-d").arg(&enc));
    let out = ksec_with(dir.path(), &key)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(stdout(&out), plain, "{}", stderr(&out));
    assert_eq!(plain.lines().count(), 5, "{plain}");
}

/// A YAML key holding a newline is valid input; the encrypted file must
/// be valid YAML too (it is emitted as a `|-` block scalar key).
#[test]

fn encrypt_round_trips_a_yaml_key_with_a_newline() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let plain = "\"a\\nb\": v\nc: d\n";
    let enc = encrypted(dir.path(), &key, "s.yaml", plain, "s.enc.yaml");
    let out = ksec_with(dir.path(), &key)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), plain);
}

// ------------------------------------------------------------------- init

/// Every file under `dir` with its bytes and mtime.
fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
                out.push((path, Vec::new(), meta.modified().unwrap()));
            } else {
                out.push((
                    path.clone(),
                    std::fs::read(&path).unwrap(),
                    meta.modified().unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_scaffolds_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let root = dir.path().join("shop");
    std::fs::create_dir(&root).unwrap();
    let out = ksec(dir.path())
        .current_dir(&root)
        .args(["init", "--recipient"])
        .arg(format!("alice={}", key.recipient))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    for file in ["ksec.yaml", ".gitignore", ".gitattributes", ".sops.yaml"] {
        assert!(root.join(file).is_file(), "{file} is missing");
        assert!(stdout(&out).contains(file), "{file} not reported");
    }
    assert!(root.join("namespaces").is_dir());
    let ksec_yaml = std::fs::read_to_string(root.join("ksec.yaml")).unwrap();
    assert!(ksec_yaml.contains("project: shop"), "{ksec_yaml}");
    assert!(ksec_yaml.contains(&format!("alice: {}", key.recipient)));
    let gitignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == "*.dec.yaml"), "{gitignore}");
    let gitattributes = std::fs::read_to_string(root.join(".gitattributes")).unwrap();
    assert!(gitattributes.contains("*.enc.yaml diff=ksec merge=ksec"));
    let sops_yaml = std::fs::read_to_string(root.join(".sops.yaml")).unwrap();
    assert!(sops_yaml.contains("creation_rules"), "{sops_yaml}");
}

#[test]
fn init_keeps_an_existing_gitignore() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".gitignore"), "target/\n*.dec.yaml\n").unwrap();
    ksec(dir.path())
        .current_dir(dir.path())
        .args(["init", "--name", "x"])
        .assert()
        .success();
    let gitignore = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    assert!(
        gitignore.starts_with("target/\n*.dec.yaml\n"),
        "{gitignore}"
    );
    assert_eq!(gitignore.lines().filter(|l| *l == "*.dec.yaml").count(), 1);
    assert!(gitignore.lines().any(|l| l == "*.dec.env"), "{gitignore}");
}

#[test]
fn init_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let root = dir.path().join("proj");
    std::fs::create_dir(&root).unwrap();
    ksec(dir.path())
        .current_dir(&root)
        .args(["init", "--name", "proj", "--recipient"])
        .arg(format!("alice={}", key.recipient))
        .assert()
        .success();
    let before = snapshot_tree(&root);
    assert!(before.len() >= 5);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let out = ksec(dir.path())
        .current_dir(&root)
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing changed"), "{}", stdout(&out));
    assert_eq!(snapshot_tree(&root), before, "init rewrote or added a file");
    // with an explicit directory, from elsewhere
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .arg("init")
        .arg(&root)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("nothing changed"), "{}", stdout(&out));
    assert_eq!(snapshot_tree(&root), before);
}

#[test]
fn an_invalid_ksec_yaml_names_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = "version: 1\nproject: x\nrecipents: {}\n";
    std::fs::write(dir.path().join("ksec.yaml"), text).unwrap();
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .arg("init")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(err.contains("ksec.yaml:3"), "{err}");
    assert!(err.contains("recipents"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ksec.yaml")).unwrap(),
        text
    );
    assert!(!dir.path().join(".sops.yaml").exists());

    // a nested unknown field, through another command that loads the project
    let text = "version: 1\nproject: x\nnamespaces:\n  payments:\n    recipientz: []\n";
    std::fs::write(dir.path().join("ksec.yaml"), text).unwrap();
    std::fs::write(dir.path().join("s.yaml"), "a: 1\n").unwrap();
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .args(["encrypt", "s.yaml"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(
        err.contains("ksec.yaml:5") && err.contains("recipientz"),
        "{err}"
    );
}

// ---------------------------------------------------------- secret canary

/// Runs the commands that touch a secret and checks that CANARY appears
/// on no output except `decrypt`'s stdout.
#[test]
fn the_canary_never_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let other = Key::new(dir.path(), "other");
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, format!("A: {CANARY}\nB: plain\nC: gone\n")).unwrap();
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut run = |what: &str, mut cmd: common::Ksec| -> Output {
        let out = cmd.output().unwrap();
        outputs.push((what.to_string(), out.clone()));
        out
    };

    let mut cmd = ksec(dir.path());
    cmd.arg("encrypt")
        .arg(&file)
        .args(["--in-place", "-r", &key.recipient]);
    assert_eq!(code(&run("encrypt", cmd)), Some(0));

    let mut cmd = ksec_with(dir.path(), &key);
    cmd.arg("set")
        .arg(&file)
        .args(["B", &format!("{CANARY}-b")]);
    assert_eq!(code(&run("set (argument)", cmd)), Some(0));

    let mut cmd = ksec_with(dir.path(), &key);
    cmd.arg("set")
        .arg(&file)
        .arg("D")
        .write_stdin(format!("{CANARY}-d\n"));
    assert_eq!(code(&run("set (stdin)", cmd)), Some(0));

    let mut cmd = ksec_with(dir.path(), &key);
    cmd.arg("set").arg(&file).args(["A", CANARY]);
    assert_eq!(code(&run("set (unchanged)", cmd)), Some(0));

    let mut cmd = ksec_with(dir.path(), &key);
    cmd.arg("unset").arg(&file).arg("C");
    assert_eq!(code(&run("unset", cmd)), Some(0));

    let mut cmd = ksec_with(dir.path(), &key);
    cmd.arg("unset").arg(&file).arg("C");
    assert_eq!(code(&run("unset (missing)", cmd)), Some(3));

    let script = dir.path().join("editor.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsed -i 's/^B: .*$/B: edited/' \"$1\"\necho 'E: added' >> \"$1\"\n",
    )
    .unwrap();
    make_executable(&script);
    let mut cmd = ksec_with(dir.path(), &key);
    cmd.env("EDITOR", &script).arg("edit").arg(&file);
    assert_eq!(code(&run("edit", cmd)), Some(0));

    let bad_editor = dir.path().join("bad.sh");
    std::fs::write(&bad_editor, "#!/bin/sh\necho 'x: [' >> \"$1\"\n").unwrap();
    make_executable(&bad_editor);
    let mut cmd = ksec_with(dir.path(), &key);
    cmd.env("EDITOR", &bad_editor)
        .arg("edit")
        .arg(&file)
        .write_stdin("");
    assert_eq!(code(&run("edit (invalid)", cmd)), Some(6));

    let mut cmd = ksec_with(dir.path(), &other);
    cmd.expect_secret_output().arg("decrypt").arg(&file);
    assert_eq!(code(&run("decrypt (wrong key)", cmd)), Some(4));

    let mut cmd = ksec_with(dir.path(), &key);
    cmd.expect_secret_output().arg("decrypt").arg(&file);
    let decrypted = run("decrypt", cmd);
    assert_eq!(code(&decrypted), Some(0));
    assert_eq!(
        stdout(&decrypted),
        format!("A: {CANARY}\nB: edited\nD: {CANARY}-d\nE: added\n"),
        "the sequence did not do what it should"
    );

    let text = std::fs::read_to_string(&file).unwrap();
    let tampered = dir.path().join("t.enc.yaml");
    let flipped: String = text
        .lines()
        .map(|l| {
            if l.starts_with("A: ENC[") {
                let at = l.find("data:").unwrap() + 5;
                let c = if &l[at..at + 1] == "A" { "B" } else { "A" };
                format!("{}{c}{}\n", &l[..at], &l[at + 1..])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(flipped, text);
    std::fs::write(&tampered, flipped).unwrap();
    let mut cmd = ksec_with(dir.path(), &key);
    cmd.expect_secret_output().arg("decrypt").arg(&tampered);
    assert_eq!(code(&run("decrypt (tampered)", cmd)), Some(5));

    for (what, out) in &outputs {
        let allowed = if what == "decrypt" {
            stderr(out)
        } else {
            all_output(out)
        };
        assert!(
            !allowed.contains(CANARY),
            "{what} printed the secret:\n{}",
            all_output(out)
        );
    }
    assert!(!text.contains(CANARY), "the file holds plaintext");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
