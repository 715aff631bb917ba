//! age plugins: a small test plugin (`examples/age-plugin-ksectest.rs`,
//! built by `cargo test --all-targets`, speaking the real plugin protocol
//! through the `age-plugin` crate) is put on PATH as `age-plugin-ksectest`
//! for the ksec processes, as age-plugin-yubikey would be. A source
//! encrypted to its `age1ksectest1…` recipient and a normal age recipient
//! decrypts and renders with its `AGE-PLUGIN-KSECTEST-1…` identity; the
//! plugin's messages reach stderr; the real `age` reads the same stanza with
//! the same plugin, and the real `sops` reads and writes such files with it;
//! a missing plugin is a clear error.

use crate::common;

use base64::Engine;
use common::terminal::Transcript;
use common::{Key, canary, code, ksec, sops, stderr, stdout};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The test plugin's program, built when missing or older than its source
/// (a plain `cargo test --test it` does not build examples; `cargo test
/// --all-targets` does).
fn plugin_program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // target/debug/deps/it-… → target/debug/examples/
        let debug = exe.parent().unwrap().parent().unwrap();
        let program = debug.join("examples").join("age-plugin-ksectest");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/age-plugin-ksectest.rs");
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if modified(&program) < modified(&source) {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            // what cargo sets for a test process would make this build
            // look different from the test build (and rebuild crates twice)
            for (var, _) in std::env::vars_os() {
                let name = var.to_string_lossy();
                if (name.starts_with("CARGO_") || name.starts_with("__CARGO"))
                    && name != "CARGO_HOME"
                    && name != "CARGO_TARGET_DIR"
                    || name == "LD_LIBRARY_PATH"
                    || name == "OUT_DIR"
                {
                    build.env_remove(&var);
                }
            }
            let status = build
                .args(["build", "--example", "age-plugin-ksectest"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "building the test plugin failed");
        }
        program
    })
}

/// A folder holding only `age-plugin-ksectest`, and PATH with it first.
struct OnPath {
    _dir: tempfile::TempDir,
    path: std::ffi::OsString,
}

fn plugin_on_path() -> OnPath {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(plugin_program(), dir.path().join("age-plugin-ksectest")).unwrap();
    let mut parts = vec![dir.path().to_path_buf()];
    parts.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    OnPath {
        path: std::env::join_paths(parts).unwrap(),
        _dir: dir,
    }
}

/// A new plugin key, as the plugin prints it (as `age-plugin-yubikey
/// --generate` does): the identity file and the recipient.
fn plugin_key(home: &Path) -> (PathBuf, String) {
    let out = Command::new(plugin_program()).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .unwrap()
        .to_string();
    assert!(recipient.starts_with("age1ksectest1"), "{recipient}");
    assert!(text.contains("AGE-PLUGIN-KSECTEST-1"));
    let file = home.join("plugin-identity.txt");
    std::fs::write(&file, &text).unwrap();
    (file, recipient)
}

/// A project whose namespace `payments` is encrypted to the plugin key and
/// a normal age key, with the Secret `db` from `db.enc.env`.
struct Project {
    home: tempfile::TempDir,
    dir: tempfile::TempDir,
    plugin_identity: PathBuf,
    plugin_recipient: String,
    team: Key,
}

impl Project {
    fn new() -> Project {
        let home = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (plugin_identity, plugin_recipient) = plugin_key(home.path());
        let team = Key::new(home.path(), "team");
        std::fs::write(
            dir.path().join("ksec.yaml"),
            format!(
                "version: 1\nproject: plugged\nrecipients:\n  yubikey: {plugin_recipient}\n  team: {}\nenvironments:\n  staging:\n    context: kind-staging\n    recipients: [team]\nnamespaces:\n  payments:\n    recipients: [yubikey, team]\n    secrets:\n      - name: db\n        sources: [db.enc.env]\n",
                team.recipient
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("namespaces/payments")).unwrap();
        Project {
            home,
            dir,
            plugin_identity,
            plugin_recipient,
            team,
        }
    }

    /// Set the namespace's recipients in ksec.yaml (`yubikey`, `team`).
    fn recipients(&self, names: &str) {
        let path = self.dir.path().join("ksec.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace(
            "recipients: [yubikey, team]",
            &format!("recipients: [{names}]"),
        );
        let text = text.replace("recipients: [team]", &format!("recipients: [{names}]"));
        std::fs::write(&path, text).unwrap();
    }

    /// `ksec decrypt FILE` with the identity file `identity`, which must
    /// succeed.
    fn decrypt(
        &self,
        path: &std::ffi::OsStr,
        file: impl AsRef<Path>,
        identity: &Path,
    ) -> std::process::Output {
        let out = self
            .ksec(path, &["decrypt"])
            .arg(file.as_ref())
            .env("KSEC_AGE_KEY_FILE", identity)
            .expect_secret_output()
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        out
    }

    fn enc(&self) -> PathBuf {
        self.dir.path().join("namespaces/payments/db.enc.env")
    }

    /// ksec in the project, with PATH `path` and no identity.
    fn ksec(&self, path: &std::ffi::OsStr, args: &[&str]) -> common::Ksec {
        let mut cmd = ksec(self.home.path());
        cmd.current_dir(self.dir.path())
            .env("PATH", path)
            .args(args)
            .timeout(std::time::Duration::from_secs(60));
        cmd
    }

    /// Encrypt `PASSWORD=<secret>` to the namespace's recipients.
    fn encrypt(&self, path: &std::ffi::OsStr, secret: &str) -> std::process::Output {
        let plain = self.dir.path().join("namespaces/payments/db.env");
        std::fs::write(&plain, format!("PASSWORD={secret}\n")).unwrap();
        let out = self
            .ksec(path, &["encrypt", "namespaces/payments/db.env"])
            .arg("--output")
            .arg(self.enc())
            .output()
            .unwrap();
        std::fs::remove_file(&plain).unwrap();
        out
    }
}

/// The armored age file (`enc`) of `recipient` in a sops dotenv file.
fn stanza_of(enc_file: &Path, recipient: &str) -> String {
    let text = std::fs::read_to_string(enc_file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.ends_with(&format!("={recipient}")) && l.starts_with("sops_age__list_"))
        .unwrap_or_else(|| panic!("no age entry for {recipient} in\n{text}"));
    let prefix = lines[at].split("__map_recipient=").next().unwrap();
    let enc = lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{prefix}__map_enc=")))
        .unwrap();
    enc.replace("\\n", "\n")
}

#[test]
fn a_source_encrypted_to_a_plugin_recipient_decrypts_and_renders_through_the_plugin() {
    let p = Project::new();
    let on = plugin_on_path();
    let secret = canary("plugin-value");

    let out = p.encrypt(&on.path, &secret);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // the plugin's message, passed through as it came
    assert!(
        stderr(&out).contains("age-plugin-ksectest: ksectest: wrapping a file key"),
        "{}",
        stderr(&out)
    );

    // sops metadata as sops writes it: the plugin recipient, and an age
    // file whose stanza is the plugin's own type
    let armored = stanza_of(&p.enc(), &p.plugin_recipient);
    let body: String = armored
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let binary = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let header = String::from_utf8_lossy(&binary);
    assert!(
        header.starts_with("age-encryption.org/v1\n-> ksectest "),
        "{header}"
    );

    // decrypt with the plugin identity: the plugin is asked, and says so
    let out = p.decrypt(&on.path, p.enc(), &p.plugin_identity);
    assert_eq!(stdout(&out), format!("PASSWORD={secret}\n"));
    assert!(
        stderr(&out).contains("age-plugin-ksectest: touch your ksectest key"),
        "{}",
        stderr(&out)
    );

    // render with the identity in KSEC_AGE_KEY
    let identity_text = std::fs::read_to_string(&p.plugin_identity).unwrap();
    let out = p
        .ksec(&on.path, &["render", "--output", "json"])
        .env("KSEC_AGE_KEY", &identity_text)
        .expect_secret_output()
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let rendered: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret_object = rendered["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Secret")
        .unwrap();
    let data = secret_object["data"]["PASSWORD"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        secret.as_bytes()
    );

    // render --gitops seals the Secret for the plugin recipient too
    let out = p
        .ksec(
            &on.path,
            &["render", "--gitops", "fleet", "--env", "staging"],
        )
        .env("KSEC_AGE_KEY_FILE", &p.plugin_identity)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let sealed = p.dir.path().join("fleet/staging/payments/secret-db.yaml");
    let text = std::fs::read_to_string(&sealed).unwrap();
    assert!(
        text.contains(&format!("recipient: {}", p.plugin_recipient)),
        "{text}"
    );
    let out = p.decrypt(&on.path, &sealed, &p.plugin_identity);
    assert!(stdout(&out).contains(data), "{}", stdout(&out));

    // the normal age recipient still opens it, with ksec and with sops
    let out = p.decrypt(&on.path, p.enc(), &p.team.file);
    assert_eq!(stdout(&out), format!("PASSWORD={secret}\n"));
    let out = sops(Some(&p.team))
        .env("HOME", p.home.path())
        .env("PATH", &on.path)
        .arg("-d")
        .arg(p.enc())
        .output()
        .unwrap();
    assert!(out.status.success(), "sops: {}", stderr(&out));
    assert!(stdout(&out).contains(&secret));
}

#[test]
fn the_real_age_opens_the_plugin_stanza_with_the_same_plugin() {
    let p = Project::new();
    let on = plugin_on_path();
    let out = p.encrypt(&on.path, &canary("plugin-age-cli"));
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let stanza = p.home.path().join("data-key.age");
    std::fs::write(&stanza, stanza_of(&p.enc(), &p.plugin_recipient)).unwrap();
    let out = Command::new("age")
        .env("PATH", &on.path)
        .arg("-d")
        .arg("-i")
        .arg(&p.plugin_identity)
        .arg(&stanza)
        .output()
        .unwrap();
    assert!(out.status.success(), "age: {}", stderr(&out));
    // a sops data key: 32 bytes
    assert_eq!(out.stdout.len(), 32);
}

#[test]
fn a_missing_plugin_is_a_clear_error_naming_the_program_and_the_key() {
    let p = Project::new();
    let on = plugin_on_path();
    let without = std::env::var_os("PATH").unwrap();

    // encrypting to its recipient
    let out = p.encrypt(&without, &canary("plugin-missing"));
    assert_ne!(code(&out), Some(0));
    let err = stderr(&out);
    let short: String = p.plugin_recipient.chars().take(16).collect();
    assert!(err.contains("`age-plugin-ksectest`"), "{err}");
    assert!(err.contains("not on PATH"), "{err}");
    assert!(err.contains("install age-plugin-ksectest"), "{err}");
    assert!(err.contains(&format!("recipient {short}…")), "{err}");
    assert!(!p.enc().exists(), "nothing is written");
    // the same with the recipient on the command line
    let plain = p.home.path().join("plain.env");
    std::fs::write(&plain, format!("PASSWORD={}\n", canary("plugin-missing-r"))).unwrap();
    let out = p
        .ksec(&without, &["encrypt"])
        .arg(&plain)
        .args(["-r", &p.plugin_recipient, "--output"])
        .arg(p.home.path().join("out.enc.env"))
        .output()
        .unwrap();
    assert_ne!(code(&out), Some(0));
    assert!(
        stderr(&out).contains("`age-plugin-ksectest`"),
        "{}",
        stderr(&out)
    );
    // and with it on PATH
    let out = p
        .ksec(&on.path, &["encrypt"])
        .arg(&plain)
        .args(["-r", &p.plugin_recipient, "--output"])
        .arg(p.home.path().join("out.enc.env"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    stanza_of(&p.home.path().join("out.enc.env"), &p.plugin_recipient);

    // decrypting with its identity
    let out = p.encrypt(&on.path, &canary("plugin-missing"));
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = p
        .ksec(&without, &["decrypt"])
        .arg(p.enc())
        .env("KSEC_AGE_KEY_FILE", &p.plugin_identity)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("`age-plugin-ksectest`"), "{err}");
    assert!(err.contains("identity AGE-PLUGIN-KSECTEST-1…"), "{err}");
    assert!(err.contains("KSEC_AGE_KEY_FILE"), "{err}");
    // the identity itself is not shown
    let identity = std::fs::read_to_string(&p.plugin_identity).unwrap();
    let line = identity
        .lines()
        .find(|l| l.starts_with("AGE-PLUGIN-"))
        .unwrap();
    assert!(!err.contains(line), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_plugin_question_without_a_terminal_fails_clearly() {
    let p = Project::new();
    let on = plugin_on_path();
    let out = p.encrypt(&on.path, &canary("plugin-prompt"));
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = p
        .ksec(&on.path, &["decrypt"])
        .arg(p.enc())
        .env("KSEC_AGE_KEY_FILE", &p.plugin_identity)
        .env("KSECTEST_PIN", "2468")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "age-plugin-ksectest: asks \"ksectest PIN\", and there is no terminal to answer on"
        ),
        "{err}"
    );
    assert!(err.contains("the age plugin for recipient"), "{err}");
    assert!(err.contains("no PIN was given"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn rekey_wraps_for_a_plugin_recipient_and_set_works_with_a_plugin_identity() {
    let p = Project::new();
    let on = plugin_on_path();
    let without = std::env::var_os("PATH").unwrap();
    p.recipients("team");
    let out = p.encrypt(&without, &canary("plugin-rekey"));
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));

    // the plugin recipient added in ksec.yaml: rekey wraps the data key for it
    p.recipients("yubikey, team");
    let out = p
        .ksec(&on.path, &["rekey"])
        .env("KSEC_AGE_KEY_FILE", &p.team.file)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("age-plugin-ksectest: ksectest: wrapping a file key"),
        "{}",
        stderr(&out)
    );
    stanza_of(&p.enc(), &p.plugin_recipient);

    // set, with only the plugin identity
    let changed = canary("plugin-set");
    let out = p
        .ksec(&on.path, &["set"])
        .arg(p.enc())
        .arg("PASSWORD")
        .env("KSEC_AGE_KEY_FILE", &p.plugin_identity)
        .write_stdin(format!("{changed}\n"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = p.decrypt(&on.path, p.enc(), &p.team.file);
    assert_eq!(stdout(&out), format!("PASSWORD={changed}\n"));

    // whoami says what the identity is
    let out = p
        .ksec(&on.path, &["whoami"])
        .env("KSEC_AGE_KEY_FILE", &p.plugin_identity)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("an age plugin identity of age-plugin-ksectest"),
        "{}",
        stdout(&out)
    );
}

/// Single quotes for a shell word.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display())
}

#[test]
fn a_plugin_question_is_asked_on_the_terminal() {
    let p = Project::new();
    let on = plugin_on_path();
    let secret = canary("plugin-pin");
    let out = p.encrypt(&on.path, &secret);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    // the plaintext goes to a file, so the terminal shows only the prompt
    // and the plugin's messages
    let out_dir = tempfile::tempdir().unwrap();
    let plain = out_dir.path().join("plain.env");
    let line = format!(
        "{} decrypt {} > {}",
        quoted(Path::new(env!("CARGO_BIN_EXE_ksec"))),
        quoted(&p.enc()),
        quoted(&plain)
    );
    let script = common::which("script").expect("util-linux `script` is installed");
    // the plugin identity file in KSEC_AGE_KEY_FILE
    let identity = Key {
        file: p.plugin_identity.clone(),
        recipient: p.plugin_recipient.clone(),
        secret: String::new(),
    };
    let mut child = common::terminal::on_terminal(&script, &line, p.home.path(), &identity)
        .env("PATH", &on.path)
        .env("KSECTEST_PIN", "2468")
        .spawn()
        .unwrap();
    let transcript = Transcript::read(&mut child);
    assert!(
        transcript.wait_for("age-plugin-ksectest: ksectest PIN"),
        "no prompt"
    );
    // the prompt is drawn just before the terminal's echo is turned off
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"2468\n").unwrap();
    stdin.flush().unwrap();
    let (status, text) = transcript.type_and_wait(&mut child, b"");
    assert!(status.success(), "{status}: {text}");
    assert!(text.contains("touch your ksectest key"), "{text}");
    assert_eq!(
        std::fs::read_to_string(&plain).unwrap(),
        format!("PASSWORD={secret}\n")
    );
    // the PIN is not echoed
    assert!(!text.contains("2468"), "{text}");
}

#[test]
fn sops_and_ksec_read_each_others_files_with_the_plugin() {
    let p = Project::new();
    let on = plugin_on_path();
    let secret = canary("plugin-sops");

    // ksec writes, sops reads with the plugin identity
    let out = p.encrypt(&on.path, &secret);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = sops(None)
        .env("HOME", p.home.path())
        .env("PATH", &on.path)
        .env("SOPS_AGE_KEY_FILE", &p.plugin_identity)
        .arg("-d")
        .arg(p.enc())
        .output()
        .unwrap();
    assert!(out.status.success(), "sops: {}", stderr(&out));
    assert_eq!(stdout(&out), format!("PASSWORD={secret}\n"));

    // sops writes to the plugin recipient, ksec reads with the plugin identity
    let plain = p.home.path().join("plain.yaml");
    std::fs::write(&plain, format!("token: {secret}\n")).unwrap();
    let out = sops(None)
        .env("HOME", p.home.path())
        .env("PATH", &on.path)
        .args(["-e", "--age", &p.plugin_recipient])
        .arg(&plain)
        .output()
        .unwrap();
    assert!(out.status.success(), "sops: {}", stderr(&out));
    std::fs::remove_file(&plain).unwrap();
    let enc = p.home.path().join("by-sops.enc.yaml");
    std::fs::write(&enc, &out.stdout).unwrap();
    let out = p.decrypt(&on.path, &enc, &p.plugin_identity);
    assert_eq!(stdout(&out), format!("token: {secret}\n"));
    assert!(
        stderr(&out).contains("age-plugin-ksectest: touch your ksectest key"),
        "{}",
        stderr(&out)
    );
}
