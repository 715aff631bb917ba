//! `ksec set --generate`: a fresh random value on every store (YAML, JSON,
//! dotenv, INI), read back with the real `sops` and with ksec, of the
//! length and charset asked, different on each run, never printed; bad
//! lengths and charsets refused with the file unchanged.

use crate::common;

use common::canary::canary;
use common::{Key, code, encrypt_to, ksec_with, run_ok, sops, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A file of each store holding one canary value, encrypted by ksec.
fn stores(home: &Path, key: &Key, dir: &Path) -> Vec<PathBuf> {
    let user = canary("user");
    let plain = [
        ("db.yaml", format!("user: {user}\n")),
        ("db.json", format!("{{\"user\": \"{user}\"}}\n")),
        ("db.env", format!("user={user}\n")),
        ("db.ini", format!("[db]\nuser = {user}\n")),
    ];
    plain
        .iter()
        .map(|(name, text)| {
            let src = dir.join(format!("plain-{name}"));
            std::fs::write(&src, text).unwrap();
            let (stem, ext) = name.split_once('.').unwrap();
            let out = dir.join(format!("{stem}.enc.{ext}"));
            encrypt_to(home, key, &src, &out);
            out
        })
        .collect()
}

/// The generated value in sops's plaintext of `file`.
fn value_in(key: &Key, file: &Path) -> String {
    // the real sops reads it (run_ok: it must succeed)
    let text = run_ok(sops(Some(key)).arg("-d").arg(file));
    let ext = file.extension().unwrap().to_str().unwrap();
    let value = match ext {
        "json" => {
            let json: Value = serde_json::from_str(&text).unwrap();
            json["db"]["password"].as_str().unwrap().to_string()
        }
        "yaml" => text
            .lines()
            .find_map(|l| l.strip_prefix("    password: "))
            .unwrap()
            .to_string(),
        "env" => text
            .lines()
            .find_map(|l| l.strip_prefix("password="))
            .unwrap()
            .to_string(),
        _ => text
            .lines()
            .find_map(|l| l.strip_prefix("password = "))
            .unwrap()
            .to_string(),
    };
    assert!(
        text.contains(common::canary::MARKER),
        "the other value is kept: {text}"
    );
    value
}

/// The key `--generate` sets in `file`'s store.
fn key_for(file: &Path) -> &'static str {
    match file.extension().unwrap().to_str().unwrap() {
        "env" => "password",
        _ => "[\"db\"][\"password\"]",
    }
}

#[test]
fn generate_writes_a_fresh_value_on_every_store_and_never_shows_it() {
    let tmp = tempfile::tempdir().unwrap();
    let key = Key::new(tmp.path(), "key");
    let files = stores(tmp.path(), &key, tmp.path());
    for file in &files {
        let set = |extra: &[&str]| {
            let out = ksec_with(tmp.path(), &key)
                .arg("set")
                .arg(file)
                .args([key_for(file), "--generate"])
                .args(extra)
                .output()
                .unwrap();
            assert_eq!(code(&out), Some(0), "{}: {}", file.display(), stderr(&out));
            let value = value_in(&key, file);
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert!(!all.contains(&value), "the value was printed: {all}");
            assert_eq!(stdout(&out), "");
            assert_eq!(
                stderr(&out),
                format!("{}: set {}\n", file.display(), key_for(file))
            );
            value
        };
        let first = set(&[]);
        assert_eq!(first.len(), 32, "{}", file.display());
        assert!(
            first.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{}",
            file.display()
        );
        let second = set(&[]);
        assert_ne!(first, second, "{}", file.display());
        let hex = set(&["--length", "64", "--charset", "hex"]);
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{hex}"
        );
        let literal = set(&["--length", "40", "--charset", "xyz789"]);
        assert_eq!(literal.len(), 40);
        assert!(literal.bytes().all(|b| b"xyz789".contains(&b)), "{literal}");
        // ksec reads what it wrote, and the other value is untouched
        let out = ksec_with(tmp.path(), &key)
            .arg("decrypt")
            .arg(file)
            .expect_secret_output()
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains(&literal));
    }
    // base64url, on one store
    let yaml = &files[0];
    let run = |charset: &str| {
        ksec_with(tmp.path(), &key)
            .arg("set")
            .arg(yaml)
            .args([
                key_for(yaml),
                "--generate",
                "--length",
                "200",
                "--charset",
                charset,
            ])
            .assert()
            .success();
        value_in(&key, yaml)
    };
    let b64 = run("base64url");
    assert!(
        b64.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(b64.chars().count(), 200);
}

#[test]
fn generate_refuses_bad_lengths_and_charsets_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let key = Key::new(tmp.path(), "key");
    let files = stores(tmp.path(), &key, tmp.path());
    let file = &files[0];
    let before = std::fs::read(file).unwrap();
    for (args, says) in [
        (
            vec!["--length", "0"],
            "--length 0 would store an empty value",
        ),
        (vec!["--length", "5000"], "longer than 4096"),
        (vec!["--charset", "aaaa"], "has 1 distinct character"),
        (vec!["--charset", ""], "has 0 distinct characters"),
    ] {
        let out = ksec_with(tmp.path(), &key)
            .arg("set")
            .arg(file)
            .args(["password", "--generate"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.contains("the file was not changed"), "{err}");
        assert!(err.contains("alnum"), "{err}");
    }
    // --length and --charset need --generate; --generate takes no VALUE
    for args in [
        vec!["password", "--length", "8"],
        vec!["password", "x", "--generate"],
    ] {
        let out = ksec_with(tmp.path(), &key)
            .arg("set")
            .arg(file)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(2), "{args:?}");
    }
    assert_eq!(std::fs::read(file).unwrap(), before);
}
