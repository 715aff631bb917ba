//! Black-box tests of `ksec check` and `ksec hook install`, in real git
//! repositories in temporary directories: every rule fires with its file,
//! line and id and never prints the secret; `--staged` reads the index and
//! nothing else; `check.allow` accepts findings and counts them; JSON
//! output; the installed hook blocks a real `git commit`; the pre-commit
//! framework's hook definition names a real command; the demo project
//! passes thanks to its allow entry.

use crate::common;

use base64::Engine as _;
use common::{CANARY, Key, all_output, code, ksec, ksec_with, run_ok, sops, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// ---------------------------------------------------------------- helpers

/// A temporary HOME and a git repository (`repo`) with a ksec project at
/// `project` (the repository's top, or a folder in it).
struct World {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    repo: PathBuf,
    project: PathBuf,
    /// Outside the repository: plaintext to encrypt lives here.
    scratch: PathBuf,
}

impl World {
    fn new() -> World {
        World::in_folder("")
    }

    /// A world whose project is `folder` inside the repository.
    fn in_folder(folder: &str) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let repo = tmp.path().join("repo");
        let scratch = tmp.path().join("scratch");
        let project = repo.join(folder);
        for dir in [&home, &repo, &scratch, &project] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let world = World {
            _tmp: tmp,
            home,
            repo,
            project,
            scratch,
        };
        world.git(&["init", "-q", "-b", "main"]);
        world.git(&["config", "user.name", "Test"]);
        world.git(&["config", "user.email", "test@example.com"]);
        world.git(&["config", "commit.gpgsign", "false"]);
        world
    }

    fn key(&self, name: &str) -> Key {
        Key::new(&self.scratch, name)
    }

    /// Write a file relative to the project root.
    fn write(&self, rel: &str, text: &str) {
        let path = self.project.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.project.join(rel)).unwrap()
    }

    /// git in the repository, with no user or system configuration.
    fn git_cmd(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.repo)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE");
        cmd
    }

    fn git(&self, args: &[&str]) -> String {
        run_ok(self.git_cmd().args(args))
    }

    fn commit_all(&self) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--no-verify", "-m", "test"]);
    }

    /// `ksec check ARGS` in the project, with no identity.
    fn check(&self, args: &[&str]) -> Output {
        ksec(&self.home)
            .current_dir(&self.project)
            .arg("check")
            .args(args)
            .output()
            .unwrap()
    }

    /// `ksec check ARGS` in the project, decrypting with `key`.
    fn check_with(&self, key: &Key, args: &[&str]) -> Output {
        ksec_with(&self.home, key)
            .current_dir(&self.project)
            .arg("check")
            .args(args)
            .output()
            .unwrap()
    }

    /// Encrypt `plain` with ksec to `recipients` (names or keys) into `rel`.
    fn encrypt(&self, rel: &str, plain: &str, recipients: &[&str]) {
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        let src = self.scratch.join(name.replace(".enc", ""));
        std::fs::write(&src, plain).unwrap();
        let out_path = self.project.join(rel);
        std::fs::create_dir_all(out_path.parent().unwrap()).unwrap();
        let mut cmd = ksec(&self.home);
        cmd.current_dir(&self.project).arg("encrypt").arg(&src);
        for r in recipients {
            cmd.args(["-r", r]);
        }
        let out = cmd.arg("--output").arg(&out_path).output().unwrap();
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    }
}

/// None of `secrets` (nor a recognisable piece of one) was printed.
fn assert_secret_free(out: &Output, secrets: &[&str]) {
    let all = all_output(out);
    assert!(!all.contains(CANARY), "the canary was printed:\n{all}");
    for secret in secrets {
        assert!(!secret.is_empty());
        let piece = &secret[secret.len().saturating_sub(16)..];
        assert!(
            !all.contains(piece),
            "a secret ({piece}) was printed:\n{all}"
        );
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The problems of a JSON report as (file, line, rule).
fn json_problems(json: &Value) -> Vec<(String, Option<u64>, String)> {
    json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_string(),
                p["line"].as_u64(),
                p["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// ksec.yaml with namespace `payments` (recipient alice) whose Secret `db`
/// reads `sources`.
fn ksec_yaml(alice: &Key, sources: &str) -> String {
    format!(
        "version: 1\nproject: shop\nrecipients:\n  alice: {}\nnamespaces:\n  payments:\n    recipients: [alice]\n    secrets:\n      - name: db\n        sources: [{sources}]\n",
        alice.recipient
    )
}

/// An unencrypted OpenSSH private key, made by ssh-keygen.
fn ssh_private_key(dir: &Path) -> String {
    let path = dir.join("id_ed25519");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(dir.join("id_ed25519.pub"));
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
            .arg(&path),
    );
    std::fs::read_to_string(path).unwrap()
}

/// Secrets planted by [`plant_every_plaintext_rule`], to look for in output.
struct Planted {
    age_secret: String,
    ssh_key_body: String,
    aws_id: String,
    aws_secret: String,
    azure_key: String,
    gcp_body: String,
}

/// One file per plaintext rule, committed, plus clean files.
fn plant_every_plaintext_rule(w: &World, alice: &Key) -> Planted {
    w.write("ksec.yaml", &ksec_yaml(alice, "db.yaml"));
    w.write("namespaces/payments/api.env", "LOG_LEVEL=info\n");
    w.write(
        "manifests/secret.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  LOG_LEVEL: info\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: {}\nstringData:\n  token: {CANARY}\n",
            b64(CANARY)
        ),
    );
    w.write(
        "namespaces/payments/db.yaml",
        &format!("DB_PASSWORD: {CANARY}\n"),
    );
    w.write(
        "namespaces/payments/extra.enc.env",
        &format!("TOKEN={CANARY}\n"),
    );
    let ssh = ssh_private_key(&w.scratch);
    w.write("keys/deploy_key", &ssh);
    let leaked = w.key("leaked");
    w.write(
        "notes/age.txt",
        &format!("# someone pasted their key\n{}\n", leaked.secret),
    );
    let aws_id = ["AKIA", "QWERTY2345ZXCVBN"].concat();
    let aws_secret = b64(&format!("{CANARY}-aws"))[..40].to_string();
    w.write(
        "config/aws.ini",
        &format!("[default]\naws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}\n"),
    );
    let gcp_body = b64(&CANARY.repeat(3));
    w.write(
        "config/service-account.json",
        &format!(
            "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"shop\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{gcp_body}\\n-----END PRIVATE KEY-----\\n\",\n  \"client_email\": \"ci@shop.iam.gserviceaccount.com\"\n}}\n"
        ),
    );
    let azure_key = b64(&CANARY.repeat(2));
    w.write(
        "config/storage.env",
        &format!("AZURE_STORAGE=DefaultEndpointsProtocol=https;AccountName=shop;AccountKey={azure_key};EndpointSuffix=core.windows.net\n"),
    );
    w.commit_all();
    Planted {
        age_secret: leaked.secret.clone(),
        ssh_key_body: ssh.lines().nth(1).unwrap().to_string(),
        aws_id,
        aws_secret,
        azure_key,
        gcp_body,
    }
}

impl Planted {
    fn all(&self) -> Vec<&str> {
        vec![
            &self.age_secret,
            &self.ssh_key_body,
            &self.aws_id,
            &self.aws_secret,
            &self.azure_key,
            &self.gcp_body,
        ]
    }
}

// ---------------------------------------------------------------- rules

#[test]
fn every_plaintext_rule_names_file_line_and_rule_and_never_the_value() {
    let w = World::new();
    let alice = w.key("alice");
    let planted = plant_every_plaintext_rule(&w, &alice);

    let out = w.check(&[]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "config/aws.ini:2: cloud-key: an AWS access key id\n\
         config/aws.ini:3: cloud-key: an AWS secret access key\n\
         config/service-account.json:4: cloud-key: a GCP service-account private key\n\
         config/storage.env:1: cloud-key: an Azure storage account key\n\
         keys/deploy_key:1: private-key: a private key block (OPENSSH)\n\
         manifests/secret.yaml:9: secret-manifest: Secret db manifest holds plaintext values (1 in data, 1 in stringData)\n\
         namespaces/payments/db.yaml: unencrypted-source: secret source of payments/db is not encrypted (no sops metadata); encrypt it: ksec encrypt --in-place namespaces/payments/db.yaml\n\
         namespaces/payments/extra.enc.env: unencrypted-source: named *.enc.* but not encrypted (no sops metadata); encrypt it: ksec encrypt --in-place namespaces/payments/extra.enc.env\n\
         notes/age.txt:2: age-identity: an age identity (secret key)\n"
    );
    insta::assert_snapshot!("plaintext_rules_stderr", stderr(&out));
    assert_secret_free(&out, &planted.all());
    assert!(!all_output(&out).contains(&b64(CANARY)));
}

#[test]
fn json_output_lists_problems_and_the_allowed_count() {
    let w = World::new();
    let alice = w.key("alice");
    let planted = plant_every_plaintext_rule(&w, &alice);

    let out = w.check(&["--output", "json"]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let p = |f: &str, l: Option<u64>, r: &str| (f.to_string(), l, r.to_string());
    assert_eq!(
        json_problems(&json),
        vec![
            p("config/aws.ini", Some(2), "cloud-key"),
            p("config/aws.ini", Some(3), "cloud-key"),
            p("config/service-account.json", Some(4), "cloud-key"),
            p("config/storage.env", Some(1), "cloud-key"),
            p("keys/deploy_key", Some(1), "private-key"),
            p("manifests/secret.yaml", Some(9), "secret-manifest"),
            p("namespaces/payments/db.yaml", None, "unencrypted-source"),
            p(
                "namespaces/payments/extra.enc.env",
                None,
                "unencrypted-source"
            ),
            p("notes/age.txt", Some(2), "age-identity"),
        ]
    );
    assert_eq!(json["allowed"], 0);
    assert_eq!(json["problems"][0]["message"], "an AWS access key id");
    assert!(json["problems"][6]["line"].is_null());
    assert_secret_free(&out, &planted.all());
}

#[test]
fn recipients_rule_names_missing_and_extra_recipients() {
    let w = World::new();
    let alice = w.key("alice");
    let bob = w.key("bob");
    let carol = w.key("carol");
    let ci = w.key("ci");
    let dave = w.key("dave"); // not in ksec.yaml
    w.write(
        "ksec.yaml",
        &format!(
            "version: 1\nrecipients:\n  alice: {}\n  bob: {}\n  carol: {}\n  ci: {}\nenvironments:\n  prod:\n    context: prod\n    recipients: [ci]\nnamespaces:\n  payments:\n    recipients: [alice, bob]\n    secrets:\n      - name: db\n        sources: [db.enc.yaml, wrong.enc.yaml]\n",
            alice.recipient, bob.recipient, carol.recipient, ci.recipient
        ),
    );
    let plain = format!("DB_PASSWORD: {CANARY}\n");
    // right: alice, bob and prod's CI
    w.encrypt(
        "namespaces/payments/db.enc.yaml",
        &plain,
        &["alice", "bob", "ci"],
    );
    // wrong, written by the real sops: bob and ci missing; carol and dave extra
    let src = w.scratch.join("wrong.yaml");
    std::fs::write(&src, &plain).unwrap();
    let recipients = [&alice, &carol, &dave]
        .map(|k| k.recipient.as_str())
        .join(",");
    let sealed = run_ok(
        sops(None)
            .args([
                "--encrypt",
                "--age",
                &recipients,
                "--input-type",
                "yaml",
                "--output-type",
                "yaml",
            ])
            .arg(&src),
    );
    w.write("namespaces/payments/wrong.enc.yaml", &sealed);
    w.commit_all();

    let out = w.check_with(&alice, &[]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "namespaces/payments/wrong.enc.yaml: recipients: recipients differ from ksec.yaml for namespace payments: missing bob, ci; extra carol, {}… (not in ksec.yaml); run `ksec rekey`\n",
            &dave.recipient[..12]
        )
    );
    // both files open with alice's key and verify: no integrity finding
    let json: Value =
        serde_json::from_slice(&w.check_with(&alice, &["--output", "json"]).stdout).unwrap();
    assert_eq!(json["verified"], 2);
    assert_secret_free(&out, &[&alice.secret, &dave.secret]);
}

#[test]
fn tampered_and_broken_encrypted_files() {
    let w = World::new();
    let alice = w.key("alice");
    w.write(
        "ksec.yaml",
        &ksec_yaml(&alice, "db.enc.yaml, broken.enc.yaml, sops.enc.env"),
    );
    w.encrypt(
        "namespaces/payments/db.enc.yaml",
        &format!("DB_USER: admin\nDB_PASSWORD: {CANARY}\n"),
        &["alice"],
    );
    // swap the two values: each still decrypts, but not under its own key
    let text = w.read("namespaces/payments/db.enc.yaml");
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap()
            .to_string()
    };
    let (user, password) = (value("DB_USER"), value("DB_PASSWORD"));
    let swapped = text
        .replace(&user, "@USER@")
        .replace(&password, &user)
        .replace("@USER@", &password);
    w.write("namespaces/payments/db.enc.yaml", &swapped);
    // not YAML at all: an unterminated quote around the canary
    w.write(
        "namespaces/payments/broken.enc.yaml",
        &format!("A: ok\nB: \"{CANARY}\n"),
    );
    // a dotenv file encrypted by the real sops: fine
    let src = w.scratch.join("sops.env");
    std::fs::write(&src, format!("TOKEN={CANARY}\n")).unwrap();
    let sealed = run_ok(
        sops(None)
            .args([
                "--encrypt",
                "--age",
                &alice.recipient,
                "--input-type",
                "dotenv",
                "--output-type",
                "dotenv",
            ])
            .arg(&src),
    );
    w.write("namespaces/payments/sops.enc.env", &sealed);
    w.commit_all();

    let out = w.check_with(&alice, &[]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    insta::assert_snapshot!("tampered_and_broken_stdout", stdout(&out));
    assert!(
        stdout(&out).contains(
            "namespaces/payments/broken.enc.yaml:2: sops-invalid: does not parse as SOPS"
        )
    );
    assert!(stdout(&out).contains("namespaces/payments/db.enc.yaml: integrity: the value of key"));
    assert!(!stderr(&out).contains("not checked"), "{}", stderr(&out));
    assert_secret_free(&out, &[&alice.secret]);

    // no identity: the MAC cannot be checked, and the output says so once
    let out = w.check(&[]);
    assert_eq!(code(&out), Some(11));
    assert!(!stdout(&out).contains("integrity"), "{}", stdout(&out));
    assert_eq!(
        stderr(&out).matches("note: ").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("note: the MACs of 2 encrypted files were not checked: no age identity found (set KSEC_AGE_KEY_FILE to verify them)"),
        "{}",
        stderr(&out)
    );
    // an identity that opens none of them: also said
    let stranger = w.key("stranger");
    let out = w.check_with(&stranger, &[]);
    assert!(
        stderr(&out).contains(
            "the MACs of 2 encrypted files were not checked: none of your identities can open them"
        ),
        "{}",
        stderr(&out)
    );

    // repaired: db re-encrypted, the broken file removed
    w.encrypt(
        "namespaces/payments/db.enc.yaml",
        &format!("DB_USER: admin\nDB_PASSWORD: {CANARY}\n"),
        &["alice"],
    );
    w.git(&["rm", "-q", "namespaces/payments/broken.enc.yaml"]);
    w.commit_all();
    let out = w.check_with(&alice, &[]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
}

#[test]
fn ksec_yaml_problems_are_findings_with_lines_and_other_rules_still_run() {
    let w = World::new();
    let alice = w.key("alice");
    w.write(
        "ksec.yaml",
        &format!(
            "version: 1\nrecipients:\n  alice: {}\nnamespaces:\n  payments:\n    recipients: [alice, nobody]\ncheck:\n  allow:\n    - path: keys/*\n      rule: private-keys\n      reason: \"\"\n    - path: ../outside\n      rule: ksec-yaml\n      reason: why not\n",
            alice.recipient
        ),
    );
    w.write("keys/deploy_key", &ssh_private_key(&w.scratch));
    w.commit_all();

    let out = w.check(&[]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "keys/deploy_key:1: private-key: a private key block (OPENSSH)\n\
         ksec.yaml:6: ksec-yaml: namespaces.payments.recipients: unknown recipient or group nobody (define it under recipients or groups)\n\
         ksec.yaml:10: ksec-yaml: check.allow.rule: private-keys is not a rule of ksec check (one of secret-manifest, unencrypted-source, private-key, age-identity, cloud-key, recipients, sops-invalid, integrity, source-link, plaintext-copy)\n\
         ksec.yaml:11: ksec-yaml: check.allow.reason: say why this finding is fine (a demo key, a test fixture)\n\
         ksec.yaml:12: ksec-yaml: check.allow.path: \"../outside\" must be a path inside the project (relative, no '..')\n\
         ksec.yaml:13: ksec-yaml: check.allow.rule: ksec-yaml cannot be allowed; fix ksec.yaml instead\n"
    );

    // a reason is required, and a syntax error is one finding with its line
    w.write(
        "ksec.yaml",
        "version: 1\ncheck:\n  allow:\n    - path: keys/deploy_key\n      rule: private-key\n",
    );
    let out = w.check(&[]);
    assert_eq!(code(&out), Some(11));
    assert!(
        stdout(&out).contains("ksec.yaml:5: ksec-yaml: missing field `reason`"),
        "{}",
        stdout(&out)
    );
    w.write("ksec.yaml", "version: 1\nrecipients: [\n");
    let out = w.check(&["--output", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = json_problems(&json);
    assert!(
        problems.contains(&("ksec.yaml".into(), Some(2), "ksec-yaml".into())),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------- --staged

/// A tracked link replaced by a regular file is a type change in git: the
/// new file is staged content like any other, and is checked.
#[test]
fn staged_checks_a_link_replaced_by_a_file() {
    let w = World::new();
    let alice = w.key("alice");
    w.write("ksec.yaml", &ksec_yaml(&alice, "db.enc.yaml"));
    w.write("config/settings.env", "LOG_LEVEL=info\n");
    std::os::unix::fs::symlink("settings.env", w.project.join("config/current.env")).unwrap();
    w.commit_all();
    std::fs::remove_file(w.project.join("config/current.env")).unwrap();
    w.write("config/current.env", &format!("{}\n", alice.secret));
    w.git(&["add", "config/current.env"]);
    let out = w.check(&["--staged"]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "config/current.env:1: age-identity: an age identity (secret key)\n"
    );
    assert_secret_free(&out, &[&alice.secret]);
}

#[test]
fn staged_checks_the_index_only() {
    let w = World::new();
    let alice = w.key("alice");
    let bob = w.key("bob");
    w.write("ksec.yaml", &ksec_yaml(&alice, "db.enc.yaml"));
    w.write("namespaces/payments/api.env", "LOG_LEVEL=info\n");
    w.encrypt(
        "namespaces/payments/db.enc.yaml",
        &format!("DB_PASSWORD: {CANARY}\n"),
        &["alice"],
    );
    w.commit_all();
    let secret_manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\nstringData:\n  token: {CANARY}\n"
    );

    // a plaintext Secret staged, then fixed in the working tree only: the
    // commit would still carry it
    w.write("manifests/leak.yaml", &secret_manifest);
    w.git(&["add", "manifests/leak.yaml"]);
    w.write(
        "manifests/leak.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\n",
    );
    let out = w.check(&["--staged"]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "manifests/leak.yaml:2: secret-manifest: Secret leak manifest holds plaintext values (1 in stringData)\n"
    );
    assert_secret_free(&out, &[]);
    // the working tree is clean: without --staged, check passes
    let out = w.check(&[]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));

    // the reverse: plaintext only in the working tree (a tracked file
    // changed, a new file never added) is not about to be committed
    w.git(&["reset", "-q"]);
    std::fs::remove_file(w.project.join("manifests/leak.yaml")).unwrap();
    w.write(
        "namespaces/payments/api.env",
        &format!("LOG_LEVEL=info\nKEY={}\n", alice.secret),
    );
    w.write("notes/untracked.yaml", &secret_manifest);
    let out = w.check(&["--staged"]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert_eq!(stdout(&out), "ksec check: no problems in 0 files\n");
    // without --staged: tracked files as they are in the working tree;
    // untracked files are not git's, so not ksec's
    let out = w.check(&[]);
    assert_eq!(code(&out), Some(11));
    assert_eq!(
        stdout(&out),
        "namespaces/payments/api.env:2: age-identity: an age identity (secret key)\n"
    );
    assert_secret_free(&out, &[&alice.secret]);
    w.git(&["checkout", "--", "namespaces/payments/api.env"]);
    std::fs::remove_file(w.project.join("notes/untracked.yaml")).unwrap();

    // a staged ksec.yaml that gives payments a new recipient makes the
    // committed (unstaged) db.enc.yaml wrong: --staged sees it
    w.write(
        "ksec.yaml",
        &ksec_yaml(&alice, "db.enc.yaml")
            .replace("recipients: [alice]", "recipients: [alice, bob]")
            .replace(
                "namespaces:",
                &format!("  bob: {}\nnamespaces:", bob.recipient),
            ),
    );
    w.git(&["add", "ksec.yaml"]);
    let out = w.check(&["--staged"]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "namespaces/payments/db.enc.yaml: recipients: recipients differ from ksec.yaml for namespace payments: missing bob; run `ksec rekey`\n"
    );
}

/// A tracked file larger than ksec reads (64 MiB, here a sparse one) is
/// named as not checked; it is never read whole.
#[test]
fn a_file_over_the_read_limit_is_named_as_not_checked() {
    let w = World::new();
    let alice = w.key("alice");
    w.write("ksec.yaml", &ksec_yaml(&alice, "db.enc.yaml"));
    let big = std::fs::File::create(w.project.join("huge.bin")).unwrap();
    big.set_len(64 * 1024 * 1024 + 1).unwrap();
    w.git(&["add", "-A"]);
    let out = w.check(&[]);
    assert!(
        stderr(&out).contains(
            "huge.bin is larger than 64 MiB, the most ksec reads as one file; huge.bin not checked"
        ),
        "{}",
        all_output(&out)
    );
}

#[test]
fn a_project_in_a_subfolder_sees_only_its_files() {
    let w = World::in_folder("deploy/k8s");
    let alice = w.key("alice");
    w.write("ksec.yaml", &ksec_yaml(&alice, "db.enc.yaml"));
    // outside the project: not ksec's to judge
    std::fs::write(w.repo.join("outside.txt"), format!("{}\n", alice.secret)).unwrap();
    w.write("keys/key.txt", &format!("{}\n", alice.secret));
    w.git(&["add", "-A"]);

    for args in [&[][..], &["--staged"][..]] {
        let out = w.check(args);
        assert_eq!(code(&out), Some(11), "{args:?}: {}", all_output(&out));
        assert_eq!(
            stdout(&out),
            "keys/key.txt:1: age-identity: an age identity (secret key)\n",
            "{args:?}"
        );
        assert_secret_free(&out, &[&alice.secret]);
    }
}

#[test]
fn outside_a_git_repository_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let alice = Key::new(tmp.path(), "alice");
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("ksec.yaml"), ksec_yaml(&alice, "db.enc.yaml")).unwrap();
    for args in [
        &["check"][..],
        &["check", "--staged"][..],
        &["hook", "install"][..],
    ] {
        let out = ksec(tmp.path())
            .current_dir(&project)
            .env("GIT_CEILING_DIRECTORIES", tmp.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(6), "{args:?}: {}", all_output(&out));
        let text = stderr(&out).replace(&project.display().to_string(), "<project>");
        insta::assert_snapshot!("not_a_git_repository", text);
    }
}

// ---------------------------------------------------------------- check.allow

#[test]
fn allowed_findings_are_counted_never_silent() {
    let w = World::new();
    let alice = w.key("alice");
    let fixture = w.key("fixture");
    w.write(
        "ksec.yaml",
        &format!(
            "{}check:\n  allow:\n    - path: tests/fixtures/*.txt\n      rule: age-identity\n      reason: test keys that protect nothing\n    - path: tests/**/old.pem\n      rule: private-key\n      reason: a file that was removed long ago\n",
            ksec_yaml(&alice, "db.enc.yaml")
        ),
    );
    w.write("tests/fixtures/a.txt", &format!("{}\n", fixture.secret));
    w.write("tests/fixtures/b.txt", &format!("x\n{}\n", fixture.secret));
    // same rule, not under the allowed path
    w.write("notes/key.txt", &format!("{}\n", alice.secret));
    w.commit_all();

    let out = w.check(&[]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "notes/key.txt:1: age-identity: an age identity (secret key)\n"
    );
    insta::assert_snapshot!("allowed_findings_stderr", stderr(&out));
    assert_secret_free(&out, &[&alice.secret, &fixture.secret]);

    w.git(&["rm", "-q", "notes/key.txt"]);
    let out = w.check(&[]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "ksec check: no problems in 3 files (2 findings allowed by ksec.yaml check.allow)\n"
    );
    // the entry that matches nothing is worth a warning, not a failure
    assert_eq!(
        stderr(&out),
        "warning: ksec.yaml:16: check.allow entry (path tests/**/old.pem, rule private-key) matches nothing; remove it\n"
    );
    let json: Value = serde_json::from_slice(&w.check(&["--output", "json"]).stdout).unwrap();
    assert_eq!(json["allowed"], 2);
    assert_eq!(json["problems"], serde_json::json!([]));
    assert_eq!(json["warnings"].as_array().unwrap().len(), 1);

    // --staged sees only some files: an unused entry is no news there
    w.write("tests/fixtures/c.txt", &format!("{}\n", fixture.secret));
    w.git(&["add", "-A"]);
    let out = w.check(&["--staged"]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "ksec check: no problems in 1 file (1 finding allowed by ksec.yaml check.allow)\n"
    );
    assert_eq!(stderr(&out), "");
}

// ---------------------------------------------------------------- hooks

/// PATH with the directory of the ksec under test first.
fn path_with_ksec() -> std::ffi::OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_ksec")).parent().unwrap();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

fn hook_install(w: &World, args: &[&str]) -> Output {
    ksec(&w.home)
        .current_dir(&w.project)
        .args(["hook", "install"])
        .args(args)
        .output()
        .unwrap()
}

/// `git commit` as a user runs it: hooks enabled, ksec on PATH.
fn git_commit(w: &World, args: &[&str]) -> Output {
    git_commit_in(w, &w.repo, args)
}

fn git_commit_in(w: &World, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = w.git_cmd();
    cmd.current_dir(dir);
    for var in [
        "KSEC_AGE_KEY",
        "KSEC_AGE_KEY_FILE",
        "SOPS_AGE_KEY",
        "SOPS_AGE_KEY_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PATH", path_with_ksec())
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .args(["commit", "-q"])
        .args(args)
        .output()
        .unwrap()
}

fn commit_count(w: &World) -> usize {
    w.git(&["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_installed_hook_blocks_a_commit_with_plaintext_and_passes_a_clean_one() {
    // the project in a folder: the hook runs at the repository's top
    let w = World::in_folder("deploy");
    let alice = w.key("alice");
    w.write("ksec.yaml", &ksec_yaml(&alice, "db.enc.yaml"));
    w.write("namespaces/payments/api.env", "LOG_LEVEL=info\n");
    w.commit_all();

    let out = hook_install(&w, &[]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    let hook_path = w.repo.join(".git/hooks/pre-commit");
    let hook = std::fs::read_to_string(&hook_path).unwrap();
    assert!(
        hook.contains("\nexec ksec check --staged --project deploy\n"),
        "{hook}"
    );

    // a plaintext Secret staged: the commit is refused, naming it
    w.write(
        "manifests/leak.yaml",
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\nstringData:\n  token: {CANARY}\n"),
    );
    w.git(&["add", "-A"]);
    let out = git_commit(&w, &["-m", "leak"]);
    // the hook (ksec check, exit 11) stopped it; git exits 1
    assert_eq!(code(&out), Some(1), "the commit went through");
    assert!(
        all_output(&out).contains("manifests/leak.yaml:2: secret-manifest: Secret leak manifest holds plaintext values (1 in stringData)"),
        "{}",
        all_output(&out)
    );
    assert!(all_output(&out).contains("ksec check found 1 problem in 1 file"));
    assert_secret_free(&out, &[]);
    assert_eq!(commit_count(&w), 1);

    // taken out of the index: the commit passes
    w.git(&["rm", "-q", "--cached", "deploy/manifests/leak.yaml"]);
    std::fs::remove_file(w.project.join("manifests/leak.yaml")).unwrap();
    w.write("namespaces/payments/api.env", "LOG_LEVEL=debug\n");
    w.git(&["add", "-A"]);
    let out = git_commit(&w, &["-m", "clean"]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert_eq!(commit_count(&w), 2);

    // `git commit -a` stages through a temporary index (GIT_INDEX_FILE):
    // the hook checks that one
    w.write(
        "namespaces/payments/api.env",
        &format!("LOG_LEVEL=debug\nKEY={}\n", alice.secret),
    );
    let out = git_commit(&w, &["-a", "-m", "all"]);
    // the hook (ksec check, exit 11) stopped it; git exits 1
    assert_eq!(code(&out), Some(1), "the commit went through");
    assert!(
        all_output(&out).contains("namespaces/payments/api.env:2: age-identity"),
        "{}",
        all_output(&out)
    );
    assert_secret_free(&out, &[&alice.secret]);
    assert_eq!(commit_count(&w), 2);
    // while a commit of only what is staged passes: the change is not in it
    w.write("namespaces/payments/other.env", "A=1\n");
    w.git(&["add", "deploy/namespaces/payments/other.env"]);
    let out = git_commit(&w, &["-m", "other"]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert_eq!(commit_count(&w), 3);
}

#[test]
fn the_hook_works_in_a_linked_worktree() {
    // git runs a linked worktree's hooks with GIT_DIR set, which makes git
    // take the working directory for the top: the project is a folder below
    let w = World::in_folder("deploy");
    let alice = w.key("alice");
    w.write("ksec.yaml", &ksec_yaml(&alice, "db.enc.yaml"));
    w.commit_all();
    assert_eq!(code(&hook_install(&w, &[])), Some(0));
    let tree = w.scratch.join("tree");
    w.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "feature",
        tree.to_str().unwrap(),
    ]);
    let git_in_tree = |args: &[&str]| run_ok(w.git_cmd().current_dir(&tree).args(args));

    std::fs::create_dir_all(tree.join("deploy/notes")).unwrap();
    std::fs::write(
        tree.join("deploy/notes/key.txt"),
        format!("{}\n", alice.secret),
    )
    .unwrap();
    git_in_tree(&["add", "-A"]);
    let out = git_commit_in(&w, &tree, &["-m", "leak"]);
    // the hook (ksec check, exit 11) stopped it; git exits 1
    assert_eq!(code(&out), Some(1), "the commit went through");
    assert!(
        all_output(&out)
            .lines()
            .any(|l| l == "notes/key.txt:1: age-identity: an age identity (secret key)"),
        "{}",
        all_output(&out)
    );
    assert_secret_free(&out, &[&alice.secret]);

    git_in_tree(&["rm", "-q", "--cached", "deploy/notes/key.txt"]);
    std::fs::write(tree.join("deploy/api.env"), "A=1\n").unwrap();
    git_in_tree(&["add", "deploy/api.env"]);
    let out = git_commit_in(&w, &tree, &["-m", "clean"]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
}

#[test]
fn hook_install_refuses_a_foreign_hook_force_replaces_it_reinstall_is_idempotent() {
    let w = World::new();
    let alice = w.key("alice");
    w.write("ksec.yaml", &ksec_yaml(&alice, "db.enc.yaml"));
    let hooks = w.repo.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook_path = hooks.join("pre-commit");
    let foreign = "#!/bin/sh\nexec make lint\n";
    std::fs::write(&hook_path, foreign).unwrap();

    let out = hook_install(&w, &[]);
    assert_eq!(code(&out), Some(6), "{}", all_output(&out));
    let text = stderr(&out).replace(&w.repo.display().to_string(), "<repo>");
    insta::assert_snapshot!("hook_refuses_foreign", text);
    assert_eq!(std::fs::read_to_string(&hook_path).unwrap(), foreign);

    let out = hook_install(&w, &["--force"]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(stdout(&out).starts_with("replaced "), "{}", stdout(&out));
    let installed = std::fs::read_to_string(&hook_path).unwrap();
    assert!(installed.starts_with("#!/bin/sh\n# installed by ksec hook install\n"));
    assert!(
        installed.ends_with("\nexec ksec check --staged\n"),
        "{installed}"
    );
    assert_eq!(mode(&hook_path), 0o755);

    // again: nothing changes
    let out = hook_install(&w, &[]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(stdout(&out).contains("is already ksec's pre-commit hook; nothing changed"));
    assert_eq!(std::fs::read_to_string(&hook_path).unwrap(), installed);

    // a hook ksec wrote (the marker), changed since: rewritten without --force
    std::fs::write(&hook_path, installed.replace("exec ksec", "exec /old/ksec")).unwrap();
    let out = hook_install(&w, &[]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(stdout(&out).starts_with("installed "), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&hook_path).unwrap(), installed);

    // core.hooksPath is where git looks, so that is where the hook goes
    w.git(&["config", "core.hooksPath", ".githooks"]);
    let out = hook_install(&w, &[]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    let moved = w.repo.join(".githooks/pre-commit");
    assert_eq!(std::fs::read_to_string(&moved).unwrap(), installed);
    assert_eq!(mode(&moved), 0o755);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

// ------------------------------------------------- the pre-commit framework

#[derive(serde::Deserialize)]
struct PreCommitHook {
    id: String,
    entry: String,
    language: String,
    pass_filenames: bool,
    always_run: bool,
    stages: Vec<String>,
}

#[test]
fn pre_commit_hooks_yaml_runs_a_real_ksec_check() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let hooks: Vec<PreCommitHook> = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook.id, "ksec-check");
    assert_eq!(hook.language, "rust");
    assert!(!hook.pass_filenames && hook.always_run);
    assert_eq!(hook.stages, ["pre-commit"]);

    // the entry is a command line ksec accepts, and it checks the index
    let words: Vec<&str> = hook.entry.split_whitespace().collect();
    assert_eq!(words[0], "ksec");
    let help = ksec(Path::new("/"))
        .args(["check", "--help"])
        .output()
        .unwrap();
    for flag in &words[2..] {
        assert!(
            stdout(&help).contains(flag),
            "{flag} is not a flag of ksec check"
        );
    }
    let w = World::new();
    let alice = w.key("alice");
    w.write("ksec.yaml", &ksec_yaml(&alice, "db.enc.yaml"));
    w.commit_all();
    let run = |w: &World| {
        ksec(&w.home)
            .current_dir(&w.repo)
            .args(&words[1..])
            .output()
            .unwrap()
    };
    let out = run(&w);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    w.write("notes/key.txt", &format!("{}\n", alice.secret));
    w.git(&["add", "-A"]);
    let out = run(&w);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert_secret_free(&out, &[&alice.secret]);
}

// ---------------------------------------------------------------- the demo

#[test]
fn the_demo_project_passes_thanks_to_its_allow_entry_and_fails_without_it() {
    let w = World::new();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    common::copy_dir(&demo, &w.project);
    w.commit_all();
    let demo_secrets: Vec<String> = w
        .read("demo-key.txt")
        .lines()
        .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
        .map(str::to_string)
        .collect();
    assert_eq!(demo_secrets.len(), 2);
    let secrets: Vec<&str> = demo_secrets.iter().map(String::as_str).collect();

    let out = w.check(&[]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "ksec check: no problems in 10 files (2 findings allowed by ksec.yaml check.allow)\n"
    );
    // with the demo key every encrypted file is verified too
    let key = Key {
        file: w.project.join("demo-key.txt"),
        recipient: String::new(),
        secret: String::new(),
    };
    let out = w.check_with(&key, &["--output", "json"]);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["verified"].clone(), json["unverified"].clone()),
        (4.into(), 0.into())
    );
    assert_eq!(json["allowed"], 2);
    assert_secret_free(&out, &secrets);

    // without the allow entry, the demo keys are what they look like
    let yaml = w.read("ksec.yaml");
    let cut = yaml
        .find("\n# `ksec check` refuses")
        .expect("the demo's check section");
    w.write("ksec.yaml", &yaml[..=cut]);
    let out = w.check(&[]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert_eq!(
        stdout(&out),
        "demo-key.txt:7: age-identity: an age identity (secret key)\n\
         demo-key.txt:11: age-identity: an age identity (secret key)\n"
    );
    assert_secret_free(&out, &secrets);
}
