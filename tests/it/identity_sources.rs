//! The identity sources a team really holds: a key command
//! (`KSEC_AGE_KEY_CMD`, sops's `SOPS_AGE_KEY_CMD`), sops's
//! `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, passphrase-protected identities (an
//! `age -p` identity file, an `ssh-keygen -N` key) typed on a pseudo-terminal
//! and refused without one, and `ksec whoami`. Keys come from the real
//! `age`, `age-keygen` and `ssh-keygen`; sops reads the same variables.

use crate::common;

use common::terminal::Transcript;
use common::{Key, canary, code, ksec, run_ok, sops, stderr, stdout};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A plaintext YAML file with a canary value, encrypted to `recipient`
/// (named `NAME.enc.yaml`): the encrypted file and the secret value.
fn encrypted_to(home: &Path, dir: &Path, recipient: &str, name: &str) -> (PathBuf, String) {
    encrypted_field(home, dir, recipient, name, "token")
}

/// As [`encrypted_to`], with the value under `field`.
fn encrypted_field(
    home: &Path,
    dir: &Path,
    recipient: &str,
    name: &str,
    field: &str,
) -> (PathBuf, String) {
    let secret = canary("identity-source-value");
    let plain = dir.join(format!("{name}.yaml"));
    std::fs::write(&plain, format!("{field}: {secret}\n")).unwrap();
    let enc = dir.join(format!("{name}.enc.yaml"));
    let out = ksec(home)
        .arg("encrypt")
        .arg(&plain)
        .args(["-r", recipient, "--output"])
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    std::fs::remove_file(&plain).unwrap();
    (enc, secret)
}

/// `ksec decrypt ENC` with HOME `home` and the key variable `var=value`,
/// run.
fn decrypt_with(home: &Path, var: &str, value: impl AsRef<OsStr>, enc: &Path) -> Output {
    decrypt_cmd(home, var, value, enc).output().unwrap()
}

/// `ksec decrypt ENC` with HOME `home` and the key variable `var=value`.
fn decrypt_cmd(home: &Path, var: &str, value: impl AsRef<OsStr>, enc: &Path) -> common::Ksec {
    let mut cmd = ksec(home);
    cmd.env(var, value)
        .expect_secret_output()
        .arg("decrypt")
        .arg(enc)
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

/// ksec, and the real sops when `sops_too`, decrypt `enc` to `secret`
/// with `var=value`.
fn decrypts_with(home: &Path, var: &str, value: &OsStr, enc: &Path, secret: &str, sops_too: bool) {
    let out = decrypt_with(home, var, value, enc);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("token: {secret}\n"));
    if sops_too {
        let out = sops(None)
            .env("HOME", home)
            .env(var, value)
            .arg("-d")
            .arg(enc)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains(secret));
    }
}

/// A key made by the real `age-keygen`.
fn age_keygen(dir: &Path, name: &str) -> Key {
    let file = dir.join(format!("{name}.txt"));
    run_ok(Command::new("age-keygen").arg("-o").arg(&file));
    let recipient = run_ok(Command::new("age-keygen").arg("-y").arg(&file))
        .trim()
        .to_string();
    let text = std::fs::read_to_string(&file).unwrap();
    let secret = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_string();
    Key {
        file,
        recipient,
        secret,
    }
}

/// An OpenSSH key by the real `ssh-keygen` (`name` is `id_ed25519` or
/// `id_rsa`, which says its type), protected by `passphrase` (empty: none):
/// the private key file and the public key line without its comment.
fn ssh_keygen(dir: &Path, name: &str, passphrase: &str) -> (PathBuf, String) {
    assert!(
        common::which("ssh-keygen").is_some(),
        "ssh-keygen is not installed (apt-get install openssh-client)"
    );
    let file = dir.join(name);
    run_ok(
        Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                name.trim_start_matches("id_"),
                "-N",
                passphrase,
                "-C",
                "test@ksec",
                "-f",
            ])
            .arg(&file),
    );
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    let public = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    (file, public)
}

fn script() -> PathBuf {
    common::which("script").expect("util-linux `script` is installed")
}

/// The shell command line `line` on a pseudo-terminal (util-linux
/// `script`), with HOME `home`, no key variables but `env`.
fn on_terminal(line: &str, home: &Path, env: &[(&str, &Path)]) -> Child {
    let mut cmd = Command::new("timeout");
    cmd.arg("60")
        .arg(script())
        .args(["-qec", line, "/dev/null"]);
    for var in common::KEY_VARS {
        cmd.env_remove(var);
    }
    for (var, value) in env {
        cmd.env(var, value);
    }
    cmd.env("HOME", home)
        .env("TERM", "xterm")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `prompt`, then types `line` and Enter.
fn answer(child: &mut Child, transcript: &Transcript, prompt: &str, line: &str) {
    assert!(transcript.wait_for(prompt), "no prompt {prompt:?}");
    // the prompt is drawn just before the terminal's echo is turned off
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
}

/// `key`'s identity file encrypted with `passphrase` by the real
/// `age -p -a` (which reads the passphrase from a terminal).
fn age_passphrase_file(dir: &Path, key: &Key, passphrase: &str) -> PathBuf {
    let out = dir.join("identity.age");
    let line = format!("age -p -a -o '{}' '{}'", out.display(), key.file.display());
    let mut child = on_terminal(&line, dir, &[]);
    let transcript = Transcript::read(&mut child);
    answer(&mut child, &transcript, "Enter passphrase", passphrase);
    assert!(
        transcript.wait_for("Confirm passphrase"),
        "age asked no confirmation"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, text) = transcript.type_and_wait(&mut child, format!("{passphrase}\n").as_bytes());
    assert!(status.success(), "age -p: {status}: {text}");
    let armored = std::fs::read_to_string(&out).unwrap();
    assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!armored.contains(&key.secret));
    out
}

/// Single quotes for a shell word.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display())
}

// ------------------------------------------------------------ key command

#[test]
fn key_command_decrypts_and_runs_through_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let key = age_keygen(dir.path(), "team");
    let (enc, secret) = encrypted_to(home.path(), dir.path(), &key.recipient, "s");
    // a pipe and a shell variable: the line is run by `sh -c`
    let command = format!("F={}; cat \"$F\" | grep -v '^#'", quoted(&key.file));
    decrypts_with(
        home.path(),
        "KSEC_AGE_KEY_CMD",
        command.as_ref(),
        &enc,
        &secret,
        false,
    );

    // its stdin is /dev/null (as sops runs it), not ksec's: `cat -` reads
    // nothing of what was piped into ksec
    let command = format!("cat - {}", quoted(&key.file));
    let out = decrypt_cmd(home.path(), "KSEC_AGE_KEY_CMD", &command, &enc)
        .write_stdin("this is not a key\n")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("token: {secret}\n"));
}

/// `ksec set FILE KEY` on a terminal reads the file before the value
/// prompt and again to write it: the key command runs once.
#[test]
fn key_command_runs_once_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let key = age_keygen(dir.path(), "team");
    let (enc, _) = encrypted_to(home.path(), dir.path(), &key.recipient, "s");
    let runs = dir.path().join("runs");
    let command = format!("echo run >> {}; cat {}", quoted(&runs), quoted(&key.file));
    let command_file = dir.path().join("command");
    std::fs::write(&command_file, &command).unwrap();
    let line = format!(
        "KSEC_AGE_KEY_CMD=\"$(cat {})\" {} set {} token",
        quoted(&command_file),
        quoted(Path::new(env!("CARGO_BIN_EXE_ksec"))),
        quoted(&enc)
    );
    let mut child = on_terminal(&line, home.path(), &[]);
    let transcript = Transcript::read(&mut child);
    let value = canary("key-command-set-value");
    answer(&mut child, &transcript, "value for token", &value);
    let (status, text) = transcript.type_and_wait(&mut child, b"");
    assert!(status.success(), "{status}: {text}");
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\n", "{text}");
    let out = sops(None)
        .env("SOPS_AGE_KEY", &key.secret)
        .arg("-d")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!("token: {value}\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sops_age_key_cmd_is_honoured_by_ksec_as_by_sops() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let key = age_keygen(dir.path(), "team");
    let (enc, secret) = encrypted_to(home.path(), dir.path(), &key.recipient, "s");
    let command = format!("cat {}", quoted(&key.file));
    // the real sops reads the same variable for the same file
    decrypts_with(
        home.path(),
        "SOPS_AGE_KEY_CMD",
        command.as_ref(),
        &enc,
        &secret,
        true,
    );
}

/// A failing key command: the error names the variable, the exit code and
/// the command's stderr; what it printed on stdout (a canary) is never
/// shown. Printing nothing is an error too.
#[test]
fn key_command_failure_reports_exit_code_and_stderr_never_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let key = age_keygen(dir.path(), "team");
    let (enc, _) = encrypted_to(home.path(), dir.path(), &key.recipient, "s");
    let leaked = canary("key-command-stdout");
    let command = format!("echo {leaked}; echo 'vault is locked: run op signin' >&2; exit 3");
    let out = decrypt_with(home.path(), "KSEC_AGE_KEY_CMD", &command, &enc);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(4), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        !err.contains(&leaked),
        "the command's stdout was shown: {err}"
    );
    insta::assert_snapshot!("key_command_fails", err);

    let out = decrypt_with(home.path(), "SOPS_AGE_KEY_CMD", "true", &enc);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(4), "{err}");
    assert!(
        err.contains("SOPS_AGE_KEY_CMD: the command succeeded but printed nothing"),
        "{err}"
    );

    // stdout is read up to 1 MiB, and the command stopped after that
    let command = "yes AGE-SECRET-KEY-1 | head -c 3000000";
    let out = decrypt_with(home.path(), "KSEC_AGE_KEY_CMD", command, &enc);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(4), "{err}");
    assert!(err.contains("printed more than 1 MiB on stdout"), "{err}");
    assert!(!err.contains("AGE-SECRET-KEY-1"), "{err}");
}

// ------------------------------------------------------------ SSH key file

#[test]
fn sops_age_ssh_private_key_file_decrypts_for_ksec_as_for_sops() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    for name in ["id_ed25519", "id_rsa"] {
        let (ssh_key, public) = ssh_keygen(dir.path(), name, "");
        let (enc, secret) = encrypted_to(home.path(), dir.path(), &public, name);
        let var = "SOPS_AGE_SSH_PRIVATE_KEY_FILE";
        decrypts_with(home.path(), var, ssh_key.as_ref(), &enc, &secret, true);
        // whoami names it, with the public key of the SSH key
        let out = ksec(home.path())
            .env(var, &ssh_key)
            .args(["whoami", "--output", "json"])
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["source"], var);
        assert_eq!(json["recipients"], serde_json::json!([public]), "{name}");
    }
}

// ------------------------------------------------ passphrase-protected keys

/// `ksec render` of three encrypted files with a passphrase-protected
/// identity asks for the passphrase once, on the terminal, and never
/// echoes it; `ksec set` (which reads the file twice: before the value
/// prompt and to write) asks once too.
#[test]
fn age_identity_file_with_a_passphrase_is_asked_once_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let key = age_keygen(dir.path(), "team");
    let passphrase = canary("age-passphrase");
    let protected = age_passphrase_file(dir.path(), &key, &passphrase);
    std::fs::remove_file(&key.file).unwrap();

    let project = dir.path().join("project");
    let ns = project.join("namespaces/payments");
    std::fs::create_dir_all(&ns).unwrap();
    std::fs::write(
        project.join("ksec.yaml"),
        format!(
            "version: 1\nproject: shop\nrecipients:\n  me: {}\nnamespaces:\n  payments:\n    recipients: [me]\n    secrets:\n      - name: db\n        sources: [a.enc.yaml, b.enc.yaml, c.enc.yaml]\n",
            key.recipient
        ),
    )
    .unwrap();
    let secrets: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|name| encrypted_field(home.path(), &ns, &key.recipient, name, name).1)
        .collect();

    // the manifests go to a file: a terminal session's output is checked
    // for canaries as output nobody asked for
    let out = tempfile::tempdir().unwrap();
    let manifests = out.path().join("manifests.yaml");
    let line = format!(
        "cd {} && {} render > {}",
        quoted(&project),
        quoted(Path::new(env!("CARGO_BIN_EXE_ksec"))),
        quoted(&manifests)
    );
    let mut child = on_terminal(&line, home.path(), &[("KSEC_AGE_KEY_FILE", &protected)]);
    let transcript = Transcript::read(&mut child);
    answer(&mut child, &transcript, "passphrase for", &passphrase);
    let (status, text) = transcript.type_and_wait(&mut child, b"");
    assert!(status.success(), "{status}: {text}");
    let asked = format!(
        "passphrase for KSEC_AGE_KEY_FILE={}: [hidden]",
        protected.display()
    );
    assert_eq!(text.matches(&asked).count(), 1, "not asked once: {text}");
    assert!(
        !text.contains(&passphrase),
        "the passphrase was echoed: {text}"
    );
    // the Secret holds the three values (base64 in `data`)
    use base64::Engine;
    let rendered = std::fs::read_to_string(&manifests).unwrap();
    for secret in &secrets {
        let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
        assert!(
            rendered.contains(&encoded),
            "{secret} not rendered: {rendered}"
        );
    }

    // set: the file is opened before the value prompt and again to write
    let file = ns.join("a.enc.yaml");
    let new_value = canary("age-passphrase-new-value");
    let line = format!(
        "{} set {} a",
        quoted(Path::new(env!("CARGO_BIN_EXE_ksec"))),
        quoted(&file)
    );
    let mut child = on_terminal(&line, home.path(), &[("KSEC_AGE_KEY_FILE", &protected)]);
    let transcript = Transcript::read(&mut child);
    answer(&mut child, &transcript, "passphrase for", &passphrase);
    answer(&mut child, &transcript, "value for a", &new_value);
    let (status, text) = transcript.type_and_wait(&mut child, b"");
    assert!(status.success(), "{status}: {text}");
    assert_eq!(text.matches(&asked).count(), 1, "not asked once: {text}");
    assert!(
        !text.contains(&passphrase) && !text.contains(&new_value),
        "{text}"
    );
    let out = sops(None)
        .env("HOME", home.path())
        .env("SOPS_AGE_KEY", &key.secret)
        .arg("-d")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("a: {new_value}\n"));
}

/// Without a terminal, a passphrase-protected identity is an error (exit
/// 4) that names the file and says what to do; a wrong passphrase is one
/// too.
#[test]
fn age_identity_file_with_a_passphrase_fails_clearly_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let key = age_keygen(dir.path(), "team");
    let passphrase = canary("age-passphrase");
    let protected = age_passphrase_file(dir.path(), &key, &passphrase);
    let (enc, _) = encrypted_to(home.path(), dir.path(), &key.recipient, "s");
    let out = decrypt_with(home.path(), "KSEC_AGE_KEY_FILE", &protected, &enc);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(4), "{err}");
    assert!(out.stdout.is_empty());
    let err = err.replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!("passphrase_without_terminal", err);

    // a wrong passphrase, typed on a terminal
    let line = format!(
        "{} decrypt {}",
        quoted(Path::new(env!("CARGO_BIN_EXE_ksec"))),
        quoted(&enc)
    );
    let mut child = on_terminal(&line, home.path(), &[("KSEC_AGE_KEY_FILE", &protected)]);
    let transcript = Transcript::read(&mut child);
    let wrong = canary("wrong-passphrase");
    answer(&mut child, &transcript, "passphrase for", &wrong);
    let (status, text) = transcript.type_and_wait(&mut child, b"");
    assert_eq!(status.code(), Some(4), "{text}");
    assert!(text.contains("is wrong"), "{text}");
    assert!(!text.contains(&wrong), "{text}");
}

/// An encrypted OpenSSH key (`ssh-keygen -N`): asked on a terminal, and
/// without a terminal an error naming the file.
#[test]
fn encrypted_ssh_key_asks_on_a_terminal_and_fails_clearly_without() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let passphrase = canary("ssh-passphrase");
    let (ssh_key, public) = ssh_keygen(dir.path(), "id_ed25519", &passphrase);
    let (enc, secret) = encrypted_to(home.path(), dir.path(), &public, "s");

    let out = decrypt_with(home.path(), "SOPS_AGE_SSH_PRIVATE_KEY_FILE", &ssh_key, &enc);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(4), "{err}");
    assert!(
        err.contains(&format!(
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE={} is a passphrase-protected SSH key, and there is no terminal to ask for its passphrase",
            ssh_key.display()
        )),
        "{err}"
    );
    assert!(err.contains("KSEC_AGE_KEY_CMD"), "{err}");

    // on a terminal: decrypt (to a file: a terminal session's output is
    // checked for canaries), then whoami; each run asks, as age does
    let out = tempfile::tempdir().unwrap();
    let plain = out.path().join("plain.yaml");
    let ksec_bin = quoted(Path::new(env!("CARGO_BIN_EXE_ksec")));
    let env = [("SOPS_AGE_SSH_PRIVATE_KEY_FILE", ssh_key.as_path())];
    for line in [
        format!("{ksec_bin} decrypt {} > {}", quoted(&enc), quoted(&plain)),
        format!("{ksec_bin} whoami"),
    ] {
        let mut child = on_terminal(&line, home.path(), &env);
        let transcript = Transcript::read(&mut child);
        answer(&mut child, &transcript, "passphrase for", &passphrase);
        let (status, text) = transcript.type_and_wait(&mut child, b"");
        assert!(status.success(), "{line}: {status}: {text}");
        assert!(!text.contains(&passphrase), "{text}");
        if line.ends_with("whoami") {
            assert!(text.contains(&format!("recipient: {public}")), "{text}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(&plain).unwrap(),
        format!("token: {secret}\n")
    );
}

// ------------------------------------------------------------------ whoami

/// `ksec whoami` with several sources configured names the first one in
/// the documented order and the ones looked at before it; taking the top
/// source away hands the answer to the next. Never a private key.
#[test]
fn whoami_names_the_first_source_in_the_documented_order() {
    let dir = tempfile::tempdir().unwrap();
    let flag = age_keygen(dir.path(), "flag");
    let env_key = age_keygen(dir.path(), "env-key");
    let cmd = age_keygen(dir.path(), "cmd");
    let sops_cmd = age_keygen(dir.path(), "sops-cmd");
    let (ssh_key, ssh_public) = ssh_keygen(dir.path(), "id_ed25519", "");
    let default = age_keygen(dir.path(), "default");
    let sops_default = dir.path().join(".config/sops/age/keys.txt");
    std::fs::create_dir_all(sops_default.parent().unwrap()).unwrap();
    std::fs::copy(&default.file, &sops_default).unwrap();

    // (name in the table, recipient) from the top
    let order: Vec<(&str, String)> = vec![
        ("--identity", flag.recipient.clone()),
        ("KSEC_AGE_KEY", env_key.recipient.clone()),
        ("KSEC_AGE_KEY_CMD", cmd.recipient.clone()),
        ("SOPS_AGE_KEY_CMD", sops_cmd.recipient.clone()),
        ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", ssh_public.clone()),
        ("~/.config/sops/age/keys.txt", default.recipient.clone()),
    ];
    let secrets = [&flag, &env_key, &cmd, &sops_cmd, &default].map(|k| k.secret.clone());
    let ssh_private = std::fs::read_to_string(&ssh_key).unwrap();
    let mut previous_before = 0;
    for top in 0..order.len() {
        let mut run = ksec(dir.path());
        run.env("XDG_CONFIG_HOME", dir.path().join(".config"));
        let configured = |name: &str| order[top..].iter().any(|(n, _)| *n == name);
        if configured("--identity") {
            run.arg("--identity").arg(&flag.file);
        }
        if configured("KSEC_AGE_KEY") {
            run.env("KSEC_AGE_KEY", &env_key.secret);
        }
        if configured("KSEC_AGE_KEY_CMD") {
            run.env("KSEC_AGE_KEY_CMD", format!("cat {}", quoted(&cmd.file)));
        }
        if configured("SOPS_AGE_KEY_CMD") {
            run.env(
                "SOPS_AGE_KEY_CMD",
                format!("cat {}", quoted(&sops_cmd.file)),
            );
        }
        if configured("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            run.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &ssh_key);
        }
        let out = run.args(["whoami", "--output", "json"]).output().unwrap();
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a private key: {text}");
        }
        for line in ssh_private.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!text.contains(line), "the SSH private key: {text}");
        }
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let (name, recipient) = &order[top];
        assert_eq!(json["source"], *name, "{text}");
        assert_eq!(json["recipients"], serde_json::json!([recipient]), "{text}");
        // every source above the answer was looked at, in order
        let before: Vec<String> = json["looked_at_before"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert!(before.len() >= previous_before, "{text}");
        previous_before = before.len();
        for (above, _) in &order[..top] {
            let at = before
                .iter()
                .position(|l| l.starts_with(above))
                .unwrap_or_else(|| panic!("{above} not among the sources looked at: {text}"));
            assert!(before[at].ends_with("(not set)") || before[at].ends_with("(not given)"));
        }
    }

    // the text form says the same for people
    let out = ksec(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join(".config"))
        .env("KSEC_AGE_KEY_CMD", format!("cat {}", quoted(&cmd.file)))
        .arg("whoami")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("source: KSEC_AGE_KEY_CMD\n"), "{text}");
    assert!(
        text.contains(&format!("recipient: {}\n", cmd.recipient)),
        "{text}"
    );
    assert!(
        text.contains("looked at before it:\n  --identity (not given)\n"),
        "{text}"
    );
}

/// The lookup order is written in three places a user reads: the README
/// table, `ksec whoami --help`, and the "no age identity found" error (which
/// is the code's own order). They name the sources in one order.
#[test]
fn the_order_reads_the_same_in_the_readme_the_help_and_the_error() {
    let order = [
        "--identity",
        "KSEC_AGE_KEY",
        "KSEC_AGE_KEY_FILE",
        "KSEC_AGE_KEY_CMD",
        "SOPS_AGE_KEY",
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY_CMD",
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        "OS keyring",
        "ksec/keys.txt",
        "sops/age/keys.txt",
    ];
    let readme = std::fs::read_to_string(common::kube::repo().join("README.md")).unwrap();
    let start = readme.find("## Identities: where ksec looks").unwrap();
    let table = &readme[start..];
    let table = &table[table.find("| 1 |").unwrap()..table.find("| 11 |").unwrap() + 200];
    let home = tempfile::tempdir().unwrap();
    let help = ksec(home.path())
        .args(["whoami", "--help"])
        .output()
        .unwrap();
    let error = ksec(home.path()).arg("whoami").output().unwrap();
    assert_eq!(code(&error), Some(4), "{}", stderr(&error));
    for (what, text) in [
        ("the README table", table.to_string()),
        ("whoami --help", stdout(&help)),
        ("the error", stderr(&error)),
    ] {
        let mut at = 0;
        for name in order {
            // a name followed by what ends it (not a longer variable)
            let found = text[at..]
                .match_indices(name)
                .map(|(i, _)| at + i)
                .find(|&i| {
                    !text[i + name.len()..].starts_with(|c: char| c == '_' || c.is_alphanumeric())
                });
            let Some(i) = found else {
                panic!("{what}: {name} missing or out of order:\n{text}");
            };
            at = i + name.len();
        }
    }
}
