//! `ksec keygen`: to a file (age-keygen format, 0600, never overwritten),
//! and to the OS keyring (real Secret Service only under
//! scripts/with-secret-service.sh, as an ignored test that scripts/test.sh
//! runs with `--include-ignored`).

use crate::common;

use common::{CANARY, all_output, ksec, run_ok, stderr, stdout};

#[test]
fn keygen_out_writes_an_age_identity_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub/dir/keys.txt");
    let out = ksec(dir.path())
        .arg("keygen")
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file mode {mode:o}");

    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", lines[..2].join("\n"));
    assert!(lines[0].starts_with("# created: "), "{}", lines[0]);
    let recipient = lines[1]
        .strip_prefix("# public key: ")
        .expect("a `# public key:` line");
    assert!(
        recipient.starts_with("age1") && recipient.len() == 62,
        "{recipient}"
    );
    assert!(lines[2].starts_with("AGE-SECRET-KEY-1"));
    assert!(text.ends_with('\n'));

    // stdout is exactly the recipient; the secret is printed nowhere
    assert_eq!(stdout(&out), format!("{recipient}\n"));
    let secret = lines[2];
    assert!(!stdout(&out).contains(secret) && !stderr(&out).contains(secret));
    assert!(stderr(&out).contains(&file.display().to_string()));

    // the real age tools agree
    let age_recipient = run_ok(
        std::process::Command::new("age-keygen")
            .arg("-y")
            .arg(&file),
    );
    assert_eq!(age_recipient, format!("{recipient}\n"));

    // and the identity works with ksec
    let plain = dir.path().join("s.yaml");
    std::fs::write(&plain, format!("token: {CANARY}\n")).unwrap();
    let enc = dir.path().join("s.enc.yaml");
    ksec(dir.path())
        .arg("encrypt")
        .arg(&plain)
        .args(["-r", recipient, "--output"])
        .arg(&enc)
        .assert()
        .success();
    let out = ksec(dir.path())
        .arg("--identity")
        .arg(&file)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!("token: {CANARY}\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn keygen_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.txt");
    let out = ksec(dir.path())
        .arg("keygen")
        .arg("--out")
        .arg(&file)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let recipient = json["recipient"].as_str().unwrap();
    assert!(text.contains(&format!("# public key: {recipient}\n")));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("AGE-SECRET-KEY"));
}

#[test]
fn keygen_never_overwrites_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.txt");
    ksec(dir.path())
        .arg("keygen")
        .arg("--out")
        .arg(&file)
        .assert()
        .success();
    let before = std::fs::read(&file).unwrap();
    let out = ksec(dir.path())
        .arg("keygen")
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    // create_new refuses the existing file: 10, writing a file failed
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "printed a recipient: {}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("keys.txt") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the key was replaced"
    );
    // nothing left behind next to it
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["keys.txt"]);
}

#[test]
fn keygen_needs_out_or_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let out = ksec(dir.path()).arg("keygen").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let out = ksec(dir.path())
        .args(["keygen", "--keyring", "--out"])
        .arg(dir.path().join("k.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!dir.path().join("k.txt").exists());
}

#[test]
fn keygen_keyring_without_a_secret_service_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    // common::ksec points DBUS_SESSION_BUS_ADDRESS at a socket that does not exist
    let out = ksec(dir.path())
        .args(["keygen", "--keyring"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(9), "{err}");
    assert!(
        out.stdout.is_empty(),
        "printed a recipient: {}",
        stdout(&out)
    );
    assert!(err.contains("keyring"), "{err}");
    assert!(err.contains("hint:") && err.contains("--out"), "{err}");
}

/// Against a real Secret Service (gnome-keyring in a private D-Bus
/// session). Ignored by a plain `cargo test` (there is no Secret Service);
/// scripts/test.sh runs it: by hand,
/// `scripts/with-secret-service.sh cargo test --test it keys:: -- --include-ignored`.
#[test]
#[ignore = "needs a real Secret Service: run under scripts/with-secret-service.sh (scripts/test.sh does)"]
fn keygen_keyring_with_a_real_secret_service() {
    let real_bus = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .expect("no D-Bus session: run under scripts/with-secret-service.sh");
    let real_home = std::env::var_os("HOME").expect("HOME");
    // common::ksec, but with the wrapper's bus, HOME and XDG settings
    let keyring_ksec = || {
        let mut cmd = ksec(std::path::Path::new(&real_home));
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &real_bus);
        if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME") {
            cmd.env("XDG_CONFIG_HOME", xdg);
        }
        cmd
    };
    let dir = tempfile::tempdir().unwrap();

    let out = keyring_ksec()
        .args(["keygen", "--keyring"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recipient = stdout(&out).trim_end().to_string();
    assert_eq!(stdout(&out), format!("{recipient}\n"));
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert!(!all_output(&out).contains("AGE-SECRET-KEY"));

    let plain = dir.path().join("s.yaml");
    std::fs::write(&plain, format!("token: {CANARY}\n")).unwrap();
    let enc = dir.path().join("s.enc.yaml");
    keyring_ksec()
        .arg("encrypt")
        .arg(&plain)
        .args(["-r", &recipient, "--output"])
        .arg(&enc)
        .assert()
        .success();

    // no key variable and no key file: the identity comes from the keyring
    let out = keyring_ksec()
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("token: {CANARY}\n"));

    // the keyring is what made the difference: without the bus it fails
    let out = ksec(std::path::Path::new(&real_home))
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // a second keygen is refused and keeps the first identity
    let out = keyring_ksec()
        .args(["keygen", "--keyring"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("already holds"), "{}", stderr(&out));
    let out = keyring_ksec()
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!("token: {CANARY}\n"),
        "{}",
        stderr(&out)
    );

    // the keyring's place in the lookup order (the first source that holds
    // an identity wins): after SOPS_AGE_KEY_FILE, before the default key
    // file. `other` cannot open the file.
    let other = common::Key::new(dir.path(), "other");
    let out = keyring_ksec()
        .env("SOPS_AGE_KEY_FILE", &other.file)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("SOPS_AGE_KEY_FILE"),
        "{}",
        stderr(&out)
    );
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("ksec")).unwrap();
    std::fs::copy(&other.file, config.join("ksec/keys.txt")).unwrap();
    let out = keyring_ksec()
        .env("XDG_CONFIG_HOME", &config)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("token: {CANARY}\n"));
}
