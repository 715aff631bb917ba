//! `ksec gitops bootstrap --env E` against the real local API server: it
//! creates the decryption Secrets (and generates and records what is
//! missing), `sops -d` with the key read back from the cluster decrypts
//! what `render --gitops` wrote, a second run writes nothing, a user without
//! rights gets exit 7 and no write anywhere, a recorded key that is nowhere
//! is an error (and `--key-file`, or another namespace's Secret, supplies
//! it), teamKeys give each onboarded namespace a key of its own, and no
//! private key appears in any output or in the project.

use crate::common;

use base64::Engine;
use common::kube::{create_namespaces, kubectl, kubectl_ok, objects, text, unique};
use common::{Key, canary};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub(crate) const ENV: &str = "test";
pub(crate) const PRIVATE: &str = "AGE-SECRET-KEY-";

/// A project whose environment `test` uses kubeconfig context `context`;
/// each namespace has a Secret `db` from a source encrypted to `me`.
/// `recipients` (lines) are added to the recipients and `env_extra` under
/// the environment; the namespaces in `onboarded` have owners.
pub(crate) struct Project {
    _tmp: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) keys: PathBuf,
    pub(crate) me: Key,
    /// The secret value of each namespace's Secret `db`.
    values: std::collections::BTreeMap<String, String>,
    /// Every ksec output of the test, to scan for private keys.
    pub(crate) outputs: std::cell::RefCell<String>,
}

impl Project {
    pub(crate) fn new(
        context: &str,
        namespaces: &[&str],
        recipients: &str,
        env_extra: &str,
        onboarded: &[&str],
    ) -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("project");
        let keys = tmp.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let me = Key::new(&keys, "me");
        let mut yaml = format!(
            "version: 1\nproject: {}\nrecipients:\n  me: {}\n{recipients}environments:\n  {ENV}:\n    context: {context}\n{env_extra}namespaces:\n",
            unique("p"),
            me.recipient
        );
        for ns in namespaces {
            yaml.push_str(&format!(
                "  {ns}:\n    recipients: [me]\n{}    secrets:\n      - name: db\n        sources: [db.enc.env]\n",
                if onboarded.contains(ns) {
                    "    owners: [devs]\n"
                } else {
                    ""
                }
            ));
            std::fs::create_dir_all(dir.join("namespaces").join(ns)).unwrap();
        }
        std::fs::write(dir.join("ksec.yaml"), yaml).unwrap();
        let mut project = Project {
            _tmp: tmp,
            dir,
            keys,
            me,
            values: Default::default(),
            outputs: Default::default(),
        };
        for ns in namespaces {
            let plain = project.keys.join(format!("{ns}.env"));
            let value = canary("bootstrap-db");
            std::fs::write(&plain, format!("PASSWORD={value}\n")).unwrap();
            project.values.insert(ns.to_string(), value);
            let out = project.dir.join("namespaces").join(ns).join("db.enc.env");
            project.ok(&[
                "encrypt",
                plain.to_str().unwrap(),
                "-r",
                &project.me.recipient,
                "--output",
                out.to_str().unwrap(),
            ]);
            std::fs::remove_file(plain).unwrap();
        }
        project
    }

    pub(crate) fn run(&self, args: &[&str]) -> std::process::Output {
        let out = common::kube::ksec_project(&self.dir, &self.me, args)
            .output()
            .unwrap();
        self.outputs.borrow_mut().push_str(&text(&out));
        out
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "ksec {args:?}: {}", text(&out));
        text(&out)
    }

    pub(crate) fn ksec_yaml(&self) -> String {
        std::fs::read_to_string(self.dir.join("ksec.yaml")).unwrap()
    }

    pub(crate) fn yaml(&self) -> Value {
        serde_saphyr::from_str(&self.ksec_yaml()).unwrap()
    }

    /// No private key in any ksec output, in ksec.yaml or anywhere in the
    /// project tree (the GitOps output included).
    pub(crate) fn assert_no_private_key(&self) {
        assert!(
            !self.outputs.borrow().contains(PRIVATE),
            "a private key was printed"
        );
        let found = common::leftovers::files_holding(&self.dir, PRIVATE, &[]);
        assert!(found.is_empty(), "private keys in {found:?}");
    }
}

/// The decryption Secret `name` of `ns`, if there is one.
pub(crate) fn secret(ns: &str, name: &str) -> Option<Value> {
    objects(ns, "secrets").get(name).cloned()
}

/// The private key in a decryption Secret (`ENV.agekey`), written to a file
/// outside the project for `sops`.
pub(crate) fn key_file_of(secret: &Value, dir: &Path, name: &str) -> PathBuf {
    let data = secret["data"][format!("{ENV}.agekey")].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The public key of an age identity file (the real `age-keygen -y`).
pub(crate) fn public_of(file: &Path) -> String {
    common::run_ok(std::process::Command::new("age-keygen").arg("-y").arg(file))
        .trim()
        .to_string()
}

/// Replaces the Secret `sops-age` of `ns` by one made with kubectl from an
/// identity file, as the README's manual alternative does (no annotation).
fn by_hand(ns: &str, key_file: &Path) {
    kubectl_ok("admin", &["delete", "secret", "sops-age", "-n", ns]);
    create_by_hand(ns, key_file);
}

/// Creates the Secret `sops-age` of `ns` with kubectl from an identity file
/// (no annotation).
pub(crate) fn create_by_hand(ns: &str, key_file: &Path) {
    kubectl_ok(
        "admin",
        &[
            "create",
            "secret",
            "generic",
            "sops-age",
            "-n",
            ns,
            &format!("--from-file={ENV}.agekey={}", key_file.display()),
        ],
    );
}

pub(crate) fn resource_version(ns: &str, name: &str) -> String {
    kubectl_ok(
        "admin",
        &[
            "get",
            "secret",
            name,
            "-n",
            ns,
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ],
    )
}

/// `sops -d FILE` with the key file; its stdout.
fn sops_decrypt(key_file: &Path, file: &Path) -> String {
    let mut cmd = common::sops(None);
    cmd.env("SOPS_AGE_KEY_FILE", key_file).arg("-d").arg(file);
    common::run_ok(&mut cmd)
}

#[test]
fn bootstrap_creates_the_secrets_that_decrypt_the_gitops_tree_and_a_rerun_writes_nothing() {
    let (a, b) = (unique("boot"), unique("boot"));
    create_namespaces(&[&a, &b]);
    let p = Project::new("admin", &[&a, &b], "", "", &[]);
    let out = p.ok(&["gitops", "bootstrap", "--env", ENV]);
    assert!(
        out.contains(&format!("{a}: Secret sops-age created")),
        "{out}"
    );
    assert!(out.contains("ksec rekey"), "{out}");

    // the new key is recorded: a recipient and the environment's recipients
    let yaml = p.yaml();
    let public = yaml["recipients"]["test-cluster"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(public.starts_with("age1"), "{public}");
    assert_eq!(
        yaml["environments"][ENV]["recipients"],
        serde_json::json!(["test-cluster"])
    );
    // .sops.yaml follows ksec.yaml: sops -e encrypts new sources to the cluster too
    let sops_yaml = std::fs::read_to_string(p.dir.join(".sops.yaml")).unwrap();
    assert!(sops_yaml.contains(&public), "{sops_yaml}");
    // each namespace holds it, annotated with its public key
    for ns in [&a, &b] {
        let s = secret(ns, "sops-age").expect("the decryption Secret");
        assert_eq!(s["metadata"]["annotations"]["ksec.dev/recipient"], public);
        let file = key_file_of(&s, &p.keys, &format!("{ns}.agekey"));
        assert_eq!(public_of(&file), public);
    }

    // what render --gitops writes, sops decrypts with the key from the cluster
    let fleet = p.dir.join("fleet");
    p.ok(&["render", "--gitops", fleet.to_str().unwrap(), "--env", ENV]);
    let from_cluster = key_file_of(&secret(&a, "sops-age").unwrap(), &p.keys, "cluster.agekey");
    let plain = sops_decrypt(
        &from_cluster,
        &p.dir
            .join("fleet")
            .join(ENV)
            .join(&a)
            .join("secret-db.yaml"),
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(&p.values[&a]);
    assert!(plain.contains(&encoded), "sops -d gave another Secret");

    // a second run writes nothing
    let before = (
        resource_version(&a, "sops-age"),
        resource_version(&b, "sops-age"),
        p.ksec_yaml(),
    );
    let out = p.ok(&["gitops", "bootstrap", "--env", ENV]);
    assert!(
        out.contains(&format!("{a}: Secret sops-age unchanged")),
        "{out}"
    );
    assert!(out.contains("nothing was written"), "{out}");
    let after = (
        resource_version(&a, "sops-age"),
        resource_version(&b, "sops-age"),
        p.ksec_yaml(),
    );
    assert_eq!(before, after, "a re-run wrote something");
    p.assert_no_private_key();
}

#[test]
fn a_user_without_rights_gets_exit_7_and_nothing_is_written_anywhere() {
    let ns = unique("boot");
    create_namespaces(&[&ns]);
    let p = Project::new("nobody", &[&ns], "", "", &[]);
    let before = p.ksec_yaml();
    let out = p.run(&["gitops", "bootstrap", "--env", ENV]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("ALLOWED") && t.contains("secrets") && t.contains(" no"),
        "{t}"
    );
    assert!(t.contains("nothing was written"), "{t}");
    assert_eq!(p.ksec_yaml(), before, "ksec.yaml changed");
    assert!(secret(&ns, "sops-age").is_none());
    p.assert_no_private_key();
}

#[test]
fn a_recorded_key_that_is_nowhere_is_an_error_until_given_and_is_then_copied() {
    let (a, b) = (unique("boot"), unique("boot"));
    create_namespaces(&[&a, &b]);
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Key::new(tmp.path(), "cluster");
    let p = Project::new(
        "admin",
        &[&a, &b],
        &format!("  cluster: {}\n", cluster.recipient),
        "    recipients: [cluster]\n",
        &[],
    );
    let text_before = p.ksec_yaml();

    let out = p.run(&["gitops", "bootstrap", "--env", ENV]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!("{a}/Secret/sops-age is missing")),
        "{t}"
    );
    insta::assert_snapshot!(
        "recorded_key_nowhere",
        common::stderr(&out).replace(&a, "NS-A").replace(&b, "NS-B")
    );
    assert_eq!(p.ksec_yaml(), text_before);
    assert!(secret(&a, "sops-age").is_none() && secret(&b, "sops-age").is_none());

    // with the key file, both are created and nothing is recorded
    let out = p.ok(&[
        "gitops",
        "bootstrap",
        "--env",
        ENV,
        "--key-file",
        cluster.file.to_str().unwrap(),
    ]);
    assert!(
        out.contains(&format!(
            "{b}: Secret sops-age created (key of recipient cluster)"
        )),
        "{out}"
    );
    assert_eq!(p.ksec_yaml(), text_before);
    // a namespace that lost its Secret gets it back from another's
    kubectl_ok("admin", &["delete", "secret", "sops-age", "-n", &b]);
    let out = p.ok(&["gitops", "bootstrap", "--env", ENV]);
    assert!(
        out.contains(&format!("{b}: Secret sops-age created")),
        "{out}"
    );
    let s = secret(&b, "sops-age").unwrap();
    assert_eq!(
        public_of(&key_file_of(&s, &p.keys, "b.agekey")),
        cluster.recipient
    );

    // a Secret made by hand with the recorded key is recognised by its data
    // and annotated
    by_hand(&b, &cluster.file);
    let out = p.ok(&["gitops", "bootstrap", "--env", ENV]);
    assert!(
        out.contains(&format!("{b}: Secret sops-age annotated")),
        "{out}"
    );
    assert_eq!(
        secret(&b, "sops-age").unwrap()["metadata"]["annotations"]["ksec.dev/recipient"],
        cluster.recipient.as_str()
    );

    // a Secret holding another key is never replaced
    let other = Key::new(tmp.path(), "other");
    by_hand(&b, &other.file);
    let version = resource_version(&b, "sops-age");
    let out = p.run(&["gitops", "bootstrap", "--env", ENV]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{b}/Secret/sops-age exists")),
        "{}",
        text(&out)
    );
    assert_eq!(resource_version(&b, "sops-age"), version);
    p.assert_no_private_key();
}

#[test]
fn with_team_keys_each_onboarded_namespace_gets_its_own_secret_and_key() {
    let (t1, t2, plain) = (unique("team"), unique("team"), unique("plain"));
    create_namespaces(&[&t1, &t2, &plain]);
    let p = Project::new(
        "admin",
        &[&t1, &t2, &plain],
        "",
        "    teamKeys: true\n",
        &[&t1, &t2],
    );
    let out = p.ok(&["gitops", "bootstrap", "--env", ENV]);
    assert!(
        out.contains(&format!("{t1}: Secret sops-age-{t1} created")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{plain}: Secret sops-age created")),
        "{out}"
    );

    let yaml = p.yaml();
    let mut publics = Vec::new();
    for ns in [&t1, &t2] {
        let name = format!("{ns}-{ENV}");
        assert_eq!(
            yaml["namespaces"][ns.as_str()]["clusterKeys"][ENV],
            name.as_str()
        );
        let public = yaml["recipients"][&name].as_str().unwrap().to_string();
        let s = secret(ns, &format!("sops-age-{ns}")).expect("the team's Secret");
        assert_eq!(s["metadata"]["annotations"]["ksec.dev/recipient"], public);
        assert!(secret(ns, "sops-age").is_none());
        publics.push(public);
    }
    assert_ne!(publics[0], publics[1], "two teams share a key");
    let env_key = yaml["recipients"]["test-cluster"].as_str().unwrap();
    assert!(!publics.iter().any(|k| k == env_key));

    // the team's Secret decrypts its namespace's rendered Secret; the other team's does not
    let fleet = p.dir.join("fleet");
    p.ok(&["render", "--gitops", fleet.to_str().unwrap(), "--env", ENV]);
    let rendered = p
        .dir
        .join("fleet")
        .join(ENV)
        .join(&t1)
        .join("secret-db.yaml");
    let own = key_file_of(
        &secret(&t1, &format!("sops-age-{t1}")).unwrap(),
        &p.keys,
        "t1.agekey",
    );
    assert!(sops_decrypt(&own, &rendered).contains("kind: Secret"));
    let theirs = key_file_of(
        &secret(&t2, &format!("sops-age-{t2}")).unwrap(),
        &p.keys,
        "t2.agekey",
    );
    let mut cmd = common::sops(None);
    cmd.env("SOPS_AGE_KEY_FILE", &theirs)
        .arg("-d")
        .arg(&rendered);
    assert!(
        !cmd.output().unwrap().status.success(),
        "another team's key decrypted it"
    );

    // a team key is in no other namespace: lost from the cluster, it is an
    // error until given, never a new key
    let team_secret = format!("sops-age-{t1}");
    kubectl_ok("admin", &["delete", "secret", &team_secret, "-n", &t1]);
    let before = p.ksec_yaml();
    let out = p.run(&["gitops", "bootstrap", "--env", ENV]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!("{t1}/Secret/{team_secret} is missing"))
            && t.contains(&format!("recipient {t1}-{ENV}")),
        "{t}"
    );
    assert_eq!(p.ksec_yaml(), before);
    assert!(secret(&t1, &team_secret).is_none());
    p.ok(&[
        "gitops",
        "bootstrap",
        "--env",
        ENV,
        "--key-file",
        own.to_str().unwrap(),
    ]);
    let again = key_file_of(
        &secret(&t1, &team_secret).unwrap(),
        &p.keys,
        "t1-again.agekey",
    );
    assert_eq!(public_of(&again), publics[0]);

    let before = p.ksec_yaml();
    let out = p.run(&["gitops", "bootstrap", "--env", ENV, "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["recorded"], serde_json::json!([]));
    let secrets = json["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 3);
    assert!(secrets.iter().all(|s| s["action"] == "unchanged"), "{json}");
    assert!(secrets.iter().any(|s| s["namespace"] == t1.as_str()
        && s["secret"] == format!("sops-age-{t1}")
        && s["recipient"] == format!("{t1}-{ENV}")));
    assert_eq!(p.ksec_yaml(), before);
    assert!(kubectl("admin", &["get", "ns", &t1]).status.success());
    p.assert_no_private_key();
}

#[test]
fn a_protected_environment_needs_yes_without_a_terminal() {
    let ns = unique("boot");
    create_namespaces(&[&ns]);
    let p = Project::new("admin", &[&ns], "", "    protected: true\n", &[]);
    let before = p.ksec_yaml();
    let out = p.run(&["gitops", "bootstrap", "--env", ENV]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert_eq!(p.ksec_yaml(), before);
    assert!(secret(&ns, "sops-age").is_none());

    let out = p.ok(&["gitops", "bootstrap", "--env", ENV, "--yes"]);
    assert!(
        out.contains(&format!("{ns}: Secret sops-age created")),
        "{out}"
    );
    // nothing to write: no question
    p.ok(&["gitops", "bootstrap", "--env", ENV]);
    p.assert_no_private_key();
}

#[test]
fn a_missing_namespace_is_named_and_no_key_is_recorded() {
    // one namespace exists, the other not
    let (there, missing) = (unique("boot"), unique("gone"));
    create_namespaces(&[&there]);
    let p = Project::new("admin", &[&there, &missing], "", "", &[]);
    let before = p.ksec_yaml();
    let out = p.run(&["gitops", "bootstrap", "--env", ENV]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!("namespace {missing} does not exist")),
        "{t}"
    );
    assert!(t.contains("ksec apply --env test"), "{t}");
    assert!(t.contains("nothing was written"), "{t}");
    assert_eq!(
        p.ksec_yaml(),
        before,
        "a key the cluster lacks was recorded"
    );
    assert!(secret(&there, "sops-age").is_none());
    p.assert_no_private_key();
}
