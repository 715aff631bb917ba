//! Black-box tests of `ksec render`: the demo project, environment and
//! namespace selection, `--out` and `--output json`, every problem reported
//! together, decryption and integrity failures, and determinism.

use crate::common;

use common::{CANARY, Key, all_output, ksec, ksec_with};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

// ---------------------------------------------------------------- helpers

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Exit code `code`, nothing on stdout, CANARY nowhere; returns stderr.
fn assert_failed(out: &Output, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{}", all_output(out));
    assert!(
        out.stdout.is_empty(),
        "printed on stdout despite the error:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!all_output(out).contains(CANARY), "a secret leaked:\n{err}");
    err
}

fn assert_ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", all_output(out));
    stdout(out)
}

/// The documents of a multi-document YAML stream.
fn documents(text: &str) -> Vec<String> {
    text.split("\n---\n")
        .map(|d| {
            if d.ends_with('\n') {
                d.to_string()
            } else {
                format!("{d}\n")
            }
        })
        .collect()
}

fn yaml_value(doc: &str) -> Value {
    serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("not YAML: {e}\n{doc}"))
}

/// `namespace/kind/name` of every document.
fn identities(text: &str) -> Vec<String> {
    documents(text)
        .iter()
        .map(|d| {
            let v = yaml_value(d);
            format!(
                "{}/{}/{}",
                v["metadata"]["namespace"].as_str().unwrap_or("(cluster)"),
                v["kind"].as_str().unwrap(),
                v["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// The one document whose kind is `kind` and whose name starts with `prefix`.
fn doc<'a>(docs: &'a [String], kind: &str, prefix: &str) -> &'a str {
    let found: Vec<&String> = docs
        .iter()
        .filter(|d| {
            let v = yaml_value(d);
            v["kind"] == kind && v["metadata"]["name"].as_str().unwrap().starts_with(prefix)
        })
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {prefix}* in {docs:#?}");
    found[0]
}

fn name_of(doc: &str) -> String {
    yaml_value(doc)["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A temporary project with one key that is its only recipient (`me`).
/// `{ME}` in the ksec.yaml text is replaced by that key's recipient.
struct Project {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    key: Key,
}

impl Project {
    fn new(ksec_yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let key = Key::new(home.path(), "me");
        let project = Project { dir, home, key };
        project.write(
            "ksec.yaml",
            &ksec_yaml.replace("{ME}", &project.key.recipient),
        );
        project
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `ksec encrypt -r <recipient> plain --output <rel>`, the plaintext
    /// kept outside the project and removed afterwards.
    fn encrypt_to(&self, recipient: &str, rel: &str, plain: &str) {
        std::fs::create_dir_all(self.path(rel).parent().unwrap()).unwrap();
        let plain_path = self.home.path().join(if rel.ends_with(".env") {
            "plain.env"
        } else {
            "plain.yaml"
        });
        std::fs::write(&plain_path, plain).unwrap();
        ksec(self.home.path())
            .current_dir(self.dir.path())
            .args(["encrypt", "-r", recipient])
            .arg(&plain_path)
            .args(["--output", rel])
            .assert()
            .success();
        std::fs::remove_file(&plain_path).unwrap();
    }

    fn encrypt(&self, rel: &str, plain: &str) {
        let recipient = self.key.recipient.clone();
        self.encrypt_to(&recipient, rel, plain);
    }

    /// `ksec render ARGS` in the project directory, with the project's key.
    fn render(&self, args: &[&str]) -> Output {
        ksec_with(self.home.path(), &self.key)
            .current_dir(self.dir.path())
            .expect_secret_output()
            .arg("render")
            .args(args)
            .output()
            .unwrap()
    }
}

// ---------------------------------------------------------------- the demo

fn render_demo(cwd: &Path, key_file: &Path, project: Option<&Path>) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = ksec(home.path());
    cmd.current_dir(cwd)
        .env("KSEC_AGE_KEY_FILE", key_file)
        .expect_secret_output()
        .arg("render");
    if let Some(project) = project {
        cmd.arg("--project").arg(project);
    }
    cmd.output().unwrap()
}

#[test]
fn demo_project_renders() {
    let out = render_demo(
        manifest_dir(),
        Path::new("examples/demo/demo-key.txt"),
        Some(Path::new("examples/demo")),
    );
    let text = assert_ok(&out);
    assert_eq!(
        identities(&text),
        [
            // onboarding first, the Namespace before everything in it
            "(cluster)/Namespace/payments",
            "(cluster)/ClusterRole/ksec-ci:payments",
            "payments/LimitRange/team-defaults",
            "payments/ResourceQuota/team-quota",
            "payments/Role/ksec-ci",
            "payments/Role/team-owners",
            "payments/ServiceAccount/ksec-ci",
            "(cluster)/ClusterRoleBinding/ksec-ci:payments",
            "payments/RoleBinding/ksec-ci",
            "payments/RoleBinding/team-owners",
            "payments/ConfigMap/api-config-m96gdtdttc",
            "payments/Deployment/api",
            "payments/Secret/db-dc79dcgh86",
            "payments/Secret/registry-84hmmm889c",
            "(cluster)/Namespace/storefront",
            "(cluster)/ClusterRole/ksec-ci:storefront",
            "storefront/LimitRange/team-defaults",
            "storefront/NetworkPolicy/default-deny-ingress",
            "storefront/Role/ksec-ci",
            "storefront/Role/team-owners",
            "storefront/ServiceAccount/ksec-ci",
            "(cluster)/ClusterRoleBinding/ksec-ci:storefront",
            "storefront/RoleBinding/ksec-ci",
            "storefront/RoleBinding/team-owners",
            "storefront/ConfigMap/nginx-kgf52h55km",
            "storefront/Deployment/web",
            "storefront/Secret/api-keys-cmdf94b5kb",
            "storefront/Secret/tls-64826gmfbk",
        ]
    );
    insta::assert_snapshot!(text);
}

#[test]
fn demo_renders_the_same_from_any_working_directory() {
    let demo = manifest_dir().join("examples/demo");
    let key = demo.join("demo-key.txt");
    let reference = assert_ok(&render_demo(
        manifest_dir(),
        Path::new("examples/demo/demo-key.txt"),
        Some(Path::new("examples/demo")),
    ));
    let elsewhere = tempfile::tempdir().unwrap();
    assert_eq!(
        assert_ok(&render_demo(elsewhere.path(), &key, Some(&demo))),
        reference,
        "from an unrelated directory, absolute paths"
    );
    assert_eq!(
        assert_ok(&render_demo(
            &demo.join("namespaces/payments"),
            Path::new("../../demo-key.txt"),
            None
        )),
        reference,
        "from inside the project, found by walking up"
    );
}

// ---------------------------------------------------------------- selection

const TWO_ENVS: &str = "version: 1
project: shop
recipients:
  me: {ME}
environments:
  prod: {context: prod}
  staging: {context: staging}
namespaces:
  payments:
    recipients: [me]
    configMaps:
      - name: app
        envFiles: [app.env]
        mount: {workload: Deployment/api, container: api, path: /etc/app}
        rollout: [Deployment/api]
      - name: other
        literals: {A: '1'}
    secrets:
      - name: db
        sources: [db.enc.yaml]
  search:
    recipients: [me]
    environments: [staging]
    configMaps:
      - name: idx
        literals: {SHARDS: '3'}
";

fn two_envs() -> Project {
    let p = Project::new(TWO_ENVS);
    p.write("namespaces/payments/app.env", "LEVEL=info\nREGION=eu\n");
    p.encrypt(
        "namespaces/payments/db.enc.yaml",
        &format!("DB_PASSWORD: {CANARY}\nDB_USER: app\n"),
    );
    p
}

#[test]
fn several_environments_need_env() {
    let p = two_envs();
    let err = assert_failed(&p.render(&[]), 2);
    assert!(err.contains("--env"), "{err}");
    assert!(err.contains("prod") && err.contains("staging"), "{err}");
}

#[test]
fn an_unknown_environment_is_a_usage_error() {
    let p = two_envs();
    let err = assert_failed(&p.render(&["--env", "qa"]), 2);
    assert!(err.contains("qa"), "{err}");
    assert!(err.contains("prod") && err.contains("staging"), "{err}");
}

#[test]
fn env_selects_its_namespaces_and_n_filters() {
    let p = two_envs();
    let staging = assert_ok(&p.render(&["--env", "staging"]));
    let namespaces: std::collections::BTreeSet<String> = identities(&staging)
        .iter()
        .map(|i| i.split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        namespaces,
        ["payments".to_string(), "search".to_string()].into()
    );
    assert!(
        staging.contains("ksec.dev/environment: staging"),
        "{staging}"
    );

    let prod = assert_ok(&p.render(&["--env", "prod"]));
    assert!(
        identities(&prod).iter().all(|i| i.starts_with("payments/")),
        "search is not in prod: {prod}"
    );
    assert!(prod.contains("ksec.dev/environment: prod"), "{prod}");

    let only_search = assert_ok(&p.render(&["--env", "staging", "-n", "search"]));
    let ids = identities(&only_search);
    assert_eq!(ids.len(), 1, "{only_search}");
    assert!(ids[0].starts_with("search/ConfigMap/idx-"), "{ids:?}");

    let both = assert_ok(&p.render(&["--env", "staging", "-n", "search", "-n", "payments"]));
    assert_eq!(both, staging);
}

#[test]
fn an_unknown_namespace_is_not_found() {
    let p = two_envs();
    let err = assert_failed(&p.render(&["--env", "staging", "-n", "nope"]), 3);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn a_namespace_outside_the_environment_is_a_usage_error() {
    let p = two_envs();
    let err = assert_failed(&p.render(&["--env", "prod", "-n", "search"]), 2);
    assert!(err.contains("search") && err.contains("prod"), "{err}");
}

// ---------------------------------------------------------------- output

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn out_writes_one_private_file_per_namespace_and_nothing_on_stdout() {
    let p = two_envs();
    let out = p.render(&["--env", "staging", "--out", "rendered"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert!(!all_output(&out).contains(CANARY));
    let dir = p.path("rendered");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["payments.yaml", "search.yaml"]);
    for ns in ["payments", "search"] {
        let path = dir.join(format!("{ns}.yaml"));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        let written = std::fs::read_to_string(&path).unwrap();
        let printed = assert_ok(&p.render(&["--env", "staging", "-n", ns]));
        assert_eq!(written, printed, "{ns}");
    }
}

#[test]
fn out_json_writes_json_files() {
    let p = two_envs();
    let out = p.render(&["--env", "prod", "--out", "rendered", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let written = std::fs::read_to_string(p.path("rendered/payments.json")).unwrap();
    let list: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(mode(&p.path("rendered/payments.json")), 0o600);
}

#[test]

fn out_files_are_private_even_when_they_existed() {
    let p = two_envs();
    p.write("rendered/payments.yaml", "old\n");
    std::fs::set_permissions(
        p.path("rendered/payments.yaml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = p.render(&["--env", "prod", "--out", "rendered"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let written = std::fs::read_to_string(p.path("rendered/payments.yaml")).unwrap();
    assert!(written.contains("kind: Secret"), "{written}");
    assert_eq!(mode(&p.path("rendered/payments.yaml")), 0o600);
}

#[test]
fn output_json_is_a_v1_list_of_the_same_objects() {
    let p = two_envs();
    let yaml = assert_ok(&p.render(&["--env", "staging"]));
    let json = assert_ok(&p.render(&["--env", "staging", "--output", "json"]));
    let list: Value = serde_json::from_str(&json).expect("stdout is one JSON document");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().expect("items");
    let docs: Vec<Value> = documents(&yaml).iter().map(|d| yaml_value(d)).collect();
    assert_eq!(items.len(), docs.len());
    assert_eq!(items, &docs, "the same objects in the same order");
}

// ---------------------------------------------------------------- problems

const BROKEN: &str = "version: 1
project: shop
recipients:
  me: {ME}
namespaces:
  payments:
    recipients: [me]
    configMaps:
      - name: app
        envFiles: [missing.env]
      - name: flags
        envFiles: [flags.env]
    secrets:
      - name: weird
        type: example.com/weird
        sources: [token.enc.yaml]
      - name: db
        sources: [db.enc.yaml, extra.enc.env]
";

#[test]
fn every_problem_is_reported_together_and_nothing_is_printed() {
    let p = Project::new(BROKEN);
    p.write("namespaces/payments/flags.env", "A=1\nnot a pair\n");
    p.encrypt(
        "namespaces/payments/token.enc.yaml",
        &format!("TOKEN: {}\n", common::canary("token")),
    );
    p.encrypt(
        "namespaces/payments/db.enc.yaml",
        &format!("DB_PASSWORD: {CANARY}\nDB_USER: app\n"),
    );
    p.encrypt(
        "namespaces/payments/extra.enc.env",
        &format!("DB_PASSWORD={CANARY}-2\n"),
    );
    let out = p.render(&[]);
    let err = assert_failed(&out, 6);
    // ksec.yaml lines: app on 9, flags on 11, weird on 14
    for expected in [
        "ksec.yaml:9: payments/ConfigMap/app:",
        "namespaces/payments/missing.env",
        "namespaces/payments/flags.env:2: payments/ConfigMap/flags:",
        "ksec.yaml:14: payments/Secret/weird: unknown secret type example.com/weird",
        "payments/Secret/db:",
        "DB_PASSWORD",
        "namespaces/payments/db.enc.yaml",
        "namespaces/payments/extra.enc.env",
        "4 problems",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
    insta::assert_snapshot!(err);
}

#[test]
fn a_source_for_another_key_fails_with_exit_4_naming_file_and_namespace() {
    let p = two_envs();
    let other = Key::new(p.home.path(), "other");
    p.encrypt_to(
        &other.recipient,
        "namespaces/payments/db.enc.yaml",
        &format!("DB_PASSWORD: {CANARY}\n"),
    );
    let err = assert_failed(&p.render(&["--env", "prod"]), 4);
    assert!(err.contains("namespaces/payments/db.enc.yaml"), "{err}");
    assert!(err.contains("namespace payments"), "{err}");
    assert!(!err.contains(&other.secret) && !err.contains(&p.key.secret));
}

#[test]
fn a_tampered_source_fails_with_exit_5_naming_the_file() {
    let p = two_envs();
    let path = p.path("namespaces/payments/db.enc.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("DB_PASSWORD: ENC[") {
                let at = line.find("data:").unwrap() + "data:".len();
                let old = &line[at..at + 1];
                let new = if old == "A" { "B" } else { "A" };
                format!("{}{new}{}", &line[..at], &line[at + 1..])
            } else {
                line.to_string()
            }
        })
        .collect();
    let tampered = tampered.join("\n") + "\n";
    assert_ne!(tampered, text);
    std::fs::write(&path, tampered).unwrap();
    let err = assert_failed(&p.render(&["--env", "prod"]), 5);
    assert!(err.contains("namespaces/payments/db.enc.yaml"), "{err}");
    assert!(err.contains("integrity"), "{err}");
}

#[test]
fn a_nested_value_in_a_secret_source_names_the_key_not_the_value() {
    let p = two_envs();
    p.encrypt(
        "namespaces/payments/db.enc.yaml",
        &format!("DB_USER: app\ndatabase:\n    password: {CANARY}\n"),
    );
    let err = assert_failed(&p.render(&["--env", "prod"]), 6);
    assert!(err.contains("namespaces/payments/db.enc.yaml"), "{err}");
    assert!(err.contains("database"), "{err}");
}

#[test]
fn typed_values_in_secret_sources_become_their_text() {
    let p = two_envs();
    p.encrypt(
        "namespaces/payments/db.enc.yaml",
        "PORT: 5432\nENABLED: true\nRATIO: 1.5\nPIN: '0123'\nEMPTY: ''\n",
    );
    let text = assert_ok(&p.render(&["--env", "prod", "-n", "payments"]));
    let docs = documents(&text);
    let secret = yaml_value(doc(&docs, "Secret", "db-"));
    use base64::Engine;
    let decoded: std::collections::BTreeMap<String, String> = secret["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap();
            (k.clone(), String::from_utf8(bytes).unwrap())
        })
        .collect();
    assert_eq!(
        decoded,
        [
            ("EMPTY", ""),
            ("ENABLED", "true"),
            ("PIN", "0123"),
            ("PORT", "5432"),
            ("RATIO", "1.5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    );
}

// ---------------------------------------------------------------- determinism

#[test]
fn renders_are_byte_identical_and_a_change_moves_only_what_depends_on_it() {
    let p = two_envs();
    let first = assert_ok(&p.render(&["--env", "staging"]));
    let second = assert_ok(&p.render(&["--env", "staging"]));
    assert_eq!(first, second, "two renders differ");

    p.write("namespaces/payments/app.env", "LEVEL=debug\nREGION=eu\n");
    let changed = assert_ok(&p.render(&["--env", "staging"]));
    let (before, after) = (documents(&first), documents(&changed));
    assert_eq!(before.len(), after.len());

    let (old_app, new_app) = (
        doc(&before, "ConfigMap", "app-"),
        doc(&after, "ConfigMap", "app-"),
    );
    let (old_name, new_name) = (name_of(old_app), name_of(new_app));
    assert_ne!(old_name, new_name, "the hash name follows the data");
    assert!(new_app.contains("LEVEL: debug"), "{new_app}");

    let (old_api, new_api) = (
        yaml_value(doc(&before, "Deployment", "api")),
        yaml_value(doc(&after, "Deployment", "api")),
    );
    let volume_ref =
        |v: &Value| v["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"].clone();
    assert_eq!(volume_ref(&old_api), old_name.as_str());
    assert_eq!(volume_ref(&new_api), new_name.as_str());
    let rollout = |v: &Value| v["spec"]["template"]["metadata"]["annotations"].clone();
    assert_eq!(rollout(&old_api).as_object().unwrap().len(), 1);
    assert_ne!(
        rollout(&old_api),
        rollout(&new_api),
        "the rollout value moves"
    );

    for (kind, prefix) in [
        ("ConfigMap", "other-"),
        ("Secret", "db-"),
        ("ConfigMap", "idx-"),
    ] {
        assert_eq!(
            doc(&before, kind, prefix),
            doc(&after, kind, prefix),
            "{kind} {prefix} must not change"
        );
    }
    let unchanged = before.iter().filter(|d| after.contains(d)).count();
    assert_eq!(unchanged, before.len() - 2, "only app and api change");

    p.write("namespaces/payments/app.env", "LEVEL=info\nREGION=eu\n");
    assert_eq!(
        assert_ok(&p.render(&["--env", "staging"])),
        first,
        "back to the same bytes"
    );
}

#[test]
fn dotenv_sources_give_their_pairs_and_not_their_comments() {
    let p = two_envs();
    p.write(
        "ksec.yaml",
        &TWO_ENVS
            .replace("{ME}", &p.key.recipient)
            .replace("sources: [db.enc.yaml]", "sources: [db.enc.env]"),
    );
    p.encrypt(
        "namespaces/payments/db.enc.env",
        "# the database\nDB_USER=app\nDB_URL=postgres://h/db?a=b\n",
    );
    let text = assert_ok(&p.render(&["--env", "prod"]));
    let docs = documents(&text);
    let secret = yaml_value(doc(&docs, "Secret", "db-"));
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["DB_URL", "DB_USER"]);
    assert_eq!(secret["data"]["DB_URL"], "cG9zdGdyZXM6Ly9oL2RiP2E9Yg==");
}

#[test]

fn an_undecryptable_source_is_reported_once() {
    let p = Project::new(
        "version: 1
project: shop
recipients:
  me: {ME}
namespaces:
  web:
    recipients: [me]
    secrets:
      - name: tls
        type: kubernetes.io/tls
        sources: [tls.enc.yaml]
",
    );
    let other = Key::new(p.home.path(), "other");
    p.encrypt_to(
        &other.recipient,
        "namespaces/web/tls.enc.yaml",
        &format!("tls.crt: C\ntls.key: {CANARY}\n"),
    );
    let err = assert_failed(&p.render(&[]), 4);
    assert!(err.contains("namespaces/web/tls.enc.yaml"), "{err}");
    assert!(
        err.contains("1 problem\n"),
        "one problem, the real one:\n{err}"
    );
    assert!(!err.contains("needs the key"), "{err}");
}

#[test]

fn files_outside_the_project_are_refused() {
    // a sibling of the project directory (both are in the temp directory)
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("stolen.txt"), CANARY).unwrap();
    std::fs::write(outside.path().join("stolen.env"), format!("K={CANARY}\n")).unwrap();
    let sibling = outside
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let absolute = outside.path().join("stolen.txt");
    for entry in [
        format!("files: ['{}']", absolute.display()),
        format!("files: ['k={}']", absolute.display()),
        format!("files: ['../../../{sibling}/stolen.txt']"),
        format!("envFiles: ['../../../{sibling}/stolen.env']"),
    ] {
        let p = Project::new(&format!(
            "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        {entry}
"
        ));
        assert_eq!(p.dir.path().parent(), outside.path().parent());
        let err = assert_failed(&p.render(&[]), 6);
        assert!(err.contains("ksec.yaml"), "{entry}: {err}");
    }
}

// ------------------------------------------ expectations from the sources

/// `data` of a rendered object as text, base64-decoded for a Secret.
fn data_of(object: &Value) -> std::collections::BTreeMap<String, String> {
    use base64::Engine;
    let decode = |v: &Value| -> String {
        let text = v.as_str().unwrap();
        if object["kind"] == "Secret" {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap();
            String::from_utf8(bytes).unwrap()
        } else {
            text.to_string()
        }
    };
    object["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), decode(v)))
        .collect()
}

/// Not ksec's own earlier output: what the README promises, built here from
/// the sources the test wrote.
#[test]
fn rendered_objects_hold_the_source_values_and_the_readme_labels() {
    let p = Project::new(
        "version: 1
project: shop
recipients:
  me: {ME}
defaults:
  labels: {team: blue}
environments:
  staging:
    context: c
namespaces:
  payments:
    recipients: [me]
    configMaps:
      - name: app
        envFiles: [app.env]
        literals: {MODE: fast}
        labels: {tier: web}
    secrets:
      - name: db
        sources: [db.enc.yaml]
",
    );
    p.write("namespaces/payments/app.env", "LOG_LEVEL=info\nURL=a=b\n");
    p.encrypt(
        "namespaces/payments/db.enc.yaml",
        &format!("password: {CANARY}\nuser: admin\n"),
    );
    let objects: Vec<Value> = documents(&assert_ok(&p.render(&[])))
        .iter()
        .map(|d| yaml_value(d))
        .collect();
    assert_eq!(objects.len(), 2, "{objects:?}");
    let pairs = |items: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    for (object, kind, base, data, own_labels) in [
        (
            &objects[0],
            "ConfigMap",
            "app",
            pairs(&[("LOG_LEVEL", "info"), ("URL", "a=b"), ("MODE", "fast")]),
            pairs(&[("tier", "web")]),
        ),
        (
            &objects[1],
            "Secret",
            "db",
            pairs(&[("password", CANARY), ("user", "admin")]),
            pairs(&[]),
        ),
    ] {
        assert_eq!(object["apiVersion"], "v1");
        assert_eq!(object["kind"], kind);
        let meta = &object["metadata"];
        assert_eq!(meta["namespace"], "payments");
        // a content-hash suffix on the base name, which the annotation keeps
        let name = meta["name"].as_str().unwrap();
        let suffix = name.strip_prefix(&format!("{base}-")).unwrap_or("");
        assert!(
            suffix.len() == 10 && suffix.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}"
        );
        assert_eq!(meta["annotations"]["ksec.dev/name"], base);
        let mut labels = pairs(&[
            ("app.kubernetes.io/managed-by", "ksec"),
            ("ksec.dev/project", "shop"),
            ("ksec.dev/environment", "staging"),
            ("team", "blue"),
        ]);
        labels.extend(own_labels);
        let rendered: std::collections::BTreeMap<String, String> =
            serde_json::from_value(meta["labels"].clone()).unwrap();
        assert_eq!(rendered, labels, "{kind}");
        assert_eq!(data_of(object), data, "{kind}");
    }
    assert_eq!(objects[1]["type"], "Opaque");
}
