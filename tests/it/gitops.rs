//! `ksec render --gitops DIR`: the tree Flux applies. Every encrypted Secret
//! decrypts with the real `sops` (the cluster's key) and with ksec (the
//! team's key) to exactly what `ksec render` prints, and not with another
//! key; `kubectl kustomize` builds every folder; the Flux Kustomizations
//! carry decryption, prune, the source and the team's ServiceAccount;
//! re-rendering changes no byte (nor mtime); one changed value changes one
//! value line (plus `lastmodified` and `mac`) of one file; `ksec check`
//! accepts the tree and refuses a plaintext Secret put into it.

use crate::common;

use common::{Key, all_output, canary, ksec_with, sops};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

pub(crate) struct Fleet {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) dir: PathBuf,
    pub(crate) team: Key,
    pub(crate) cluster: Key,
    pub(crate) other: Key,
}

const ENV: &str = "staging";

/// A project with an environment whose recipient is the cluster's key, an
/// onboarded namespace (`payments`, hash-suffixed Secret `db`) and a plain
/// one (`search`, Secret `api` without hash suffix).
pub(crate) fn fleet() -> Fleet {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fleet");
    std::fs::create_dir_all(dir.join("namespaces/payments")).unwrap();
    std::fs::create_dir_all(dir.join("namespaces/search")).unwrap();
    let team = Key::new(tmp.path(), "team");
    let cluster = Key::new(tmp.path(), "cluster");
    let other = Key::new(tmp.path(), "other");
    let yaml = format!(
        "version: 1
project: fleet
recipients:
  team: {team}
  cluster: {cluster}
environments:
  {ENV}:
    context: staging
    recipients: [cluster]
namespaces:
  payments:
    recipients: [team]
    owners: [payments-devs]
    configMaps:
      - name: settings
        literals:
          MODE: live
    secrets:
      - name: db
        sources: [db.enc.yaml]
  search:
    recipients: [team]
    secrets:
      - name: api
        hashSuffix: false
        sources: [api.enc.env]
",
        team = team.recipient,
        cluster = cluster.recipient
    );
    std::fs::write(dir.join("ksec.yaml"), yaml).unwrap();
    let fleet = Fleet {
        _tmp: tmp,
        dir,
        team,
        cluster,
        other,
    };
    fleet.encrypt(
        "namespaces/payments/db.enc.yaml",
        &format!(
            "password: {}\nuser: {}\n",
            canary("db-password"),
            canary("db-user")
        ),
    );
    fleet.encrypt(
        "namespaces/search/api.enc.env",
        &format!(
            "TOKEN={}\nOTHER={}\n",
            canary("api-token"),
            canary("api-other")
        ),
    );
    fleet
}

impl Fleet {
    pub(crate) fn ksec(&self) -> common::Ksec {
        let mut cmd = ksec_with(&self.dir, &self.team);
        cmd.current_dir(&self.dir);
        cmd
    }

    pub(crate) fn encrypt(&self, rel: &str, plain: &str) {
        let name = Path::new(rel).file_name().unwrap().to_string_lossy();
        let src = self._tmp.path().join(format!("plain-{name}"));
        std::fs::write(&src, plain).unwrap();
        let out = self
            .ksec()
            .arg("encrypt")
            .arg(&src)
            .args(["-r", &self.team.recipient, "-r", &self.cluster.recipient])
            .arg("--output")
            .arg(self.dir.join(rel))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        std::fs::remove_file(src).unwrap();
    }

    pub(crate) fn gitops(&self) -> PathBuf {
        self.dir.join("gitops")
    }

    pub(crate) fn render_gitops(&self) -> Output {
        let out = self
            .ksec()
            .args(["render", "--gitops", "gitops"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        assert!(out.stdout.is_empty());
        out
    }

    /// `ksec render ARGS`, which must fail with a usage error (exit 2)
    /// before writing anything; its stderr.
    fn render_refused(&self, args: &[&str]) -> String {
        let out = self.ksec().arg("render").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
        assert!(!self.gitops().exists());
        common::stderr(&out)
    }

    /// `ksec set FILE KEY` with a new canary on stdin, a second after the
    /// last render (so `lastmodified` changes).
    pub(crate) fn set_value(&self, file: &str, key: &str, tag: &str) {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let out = self
            .ksec()
            .args(["set", file, key])
            .write_stdin(canary(tag))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
    }

    /// Every file of the tree: relative path -> (bytes, mtime).
    pub(crate) fn tree(&self) -> Tree {
        let root = self.gitops();
        common::leftovers::regular_files(&root)
            .into_iter()
            .map(|(path, meta)| {
                let rel = path.strip_prefix(&root).unwrap().display().to_string();
                (
                    rel,
                    (std::fs::read(&path).unwrap(), meta.modified().unwrap()),
                )
            })
            .collect()
    }
}

pub(crate) type Tree = BTreeMap<String, (Vec<u8>, SystemTime)>;

/// The files whose bytes or mtime differ between two trees of the same files.
fn changed<'a>(a: &'a Tree, b: &Tree) -> Vec<&'a str> {
    a.keys()
        .filter(|k| a[*k] != b[*k])
        .map(String::as_str)
        .collect()
}

/// Whether the real `sops -d` opens `path` with `key`; a refusal prints no
/// secret value.
fn sops_opens(key: &Key, path: &Path) -> bool {
    let out = sops(Some(key)).arg("-d").arg(path).output().unwrap();
    if !out.status.success() {
        assert!(!all_output(&out).contains(canary::MARKER));
    }
    out.status.success()
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

fn documents(text: &str) -> Vec<Value> {
    text.split("\n---\n").map(yaml).collect()
}

fn kubectl_kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_secret_decrypts_with_sops_and_ksec_to_what_render_prints() {
    let f = fleet();
    f.render_gitops();
    let out = f
        .ksec()
        .args(["render", "--env", ENV])
        .expect_secret_output()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let rendered = documents(&String::from_utf8(out.stdout).unwrap());
    let secrets: Vec<&Value> = rendered.iter().filter(|d| d["kind"] == "Secret").collect();
    assert_eq!(secrets.len(), 2);
    for secret in secrets {
        let ns = secret["metadata"]["namespace"].as_str().unwrap();
        // the file is named after the name without the hash suffix
        let base = secret["metadata"]["annotations"]["ksec.dev/name"]
            .as_str()
            .or(secret["metadata"]["name"].as_str())
            .unwrap();
        let path = f.gitops().join(format!("{ENV}/{ns}/secret-{base}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        // readable names, encrypted values, sops metadata for the cluster
        let file = yaml(&text);
        assert_eq!(file["metadata"], secret["metadata"]);
        assert_eq!(file["kind"], "Secret");
        assert_eq!(file["sops"]["encrypted_regex"], "^(data|stringData)$");
        for (_, v) in file["data"].as_object().unwrap() {
            assert!(v.as_str().unwrap().starts_with("ENC[AES256_GCM,"), "{v}");
        }
        assert!(!common::leftovers::holds(&path, canary::MARKER));
        // the real sops with the cluster's key
        let by_sops = common::run_ok(sops(Some(&f.cluster)).arg("-d").arg(&path));
        assert_eq!(&yaml(&by_sops), secret, "sops -d {}", path.display());
        // ksec with the team's key
        let out = ksec_with(&f.dir, &f.team)
            .arg("decrypt")
            .arg(&path)
            .expect_secret_output()
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        assert_eq!(&yaml(&String::from_utf8(out.stdout).unwrap()), secret);
        // not with another key
        assert!(!sops_opens(&f.other, &path));
    }
}

#[test]
fn kustomize_builds_every_folder_and_flux_objects_point_at_them() {
    let f = fleet();
    f.render_gitops();
    let root = f.gitops().join(ENV);
    let payments = documents(&kubectl_kustomize(&root.join("payments")));
    let kinds: Vec<&str> = payments
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Secret"]);
    assert!(
        payments[1]["sops"].is_object(),
        "the Secret stays encrypted"
    );
    let onboarding = kubectl_kustomize(&root.join("payments/onboarding"));
    for kind in ["Namespace", "ServiceAccount", "Role", "RoleBinding"] {
        assert!(onboarding.contains(&format!("kind: {kind}\n")), "{kind}");
    }
    assert!(!root.join("search/onboarding").exists());
    let search = documents(&kubectl_kustomize(&root.join("search")));
    assert_eq!(search.len(), 1);
    assert_eq!(search[0]["metadata"]["name"], "api");

    let flux = documents(&kubectl_kustomize(&root.join("flux")));
    let by_name: BTreeMap<&str, &Value> = flux
        .iter()
        .map(|d| (d["metadata"]["name"].as_str().unwrap(), d))
        .collect();
    assert_eq!(
        by_name.keys().copied().collect::<Vec<_>>(),
        ["ksec-payments", "ksec-payments-onboarding", "ksec-search"]
    );
    for doc in &flux {
        assert_eq!(doc["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
        assert_eq!(doc["kind"], "Kustomization");
        assert_eq!(doc["spec"]["prune"], true);
        assert_eq!(doc["spec"]["sourceRef"]["kind"], "GitRepository");
        assert_eq!(doc["spec"]["sourceRef"]["name"], "flux-system");
        assert!(doc["spec"]["interval"].is_string());
        let path = doc["spec"]["path"].as_str().unwrap();
        assert!(
            f.gitops().join(path).join("kustomization.yaml").is_file(),
            "{path}"
        );
    }
    let team = by_name["ksec-payments"];
    assert_eq!(team["metadata"]["namespace"], "payments");
    assert_eq!(team["spec"]["serviceAccountName"], "ksec-ci");
    assert_eq!(team["spec"]["decryption"]["provider"], "sops");
    assert_eq!(team["spec"]["decryption"]["secretRef"]["name"], "sops-age");
    assert_eq!(team["spec"]["path"], "./staging/payments");
    let platform = by_name["ksec-payments-onboarding"];
    assert_eq!(platform["metadata"]["namespace"], "flux-system");
    assert!(platform["spec"].get("serviceAccountName").is_none());
    let plain = by_name["ksec-search"];
    assert!(plain["spec"].get("serviceAccountName").is_none());
    assert_eq!(plain["spec"]["decryption"]["secretRef"]["name"], "sops-age");
}

#[test]
fn a_second_render_changes_no_byte_and_no_mtime() {
    let f = fleet();
    f.render_gitops();
    let first = f.tree();
    assert!(first.len() > 10, "{:?}", first.keys());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = f.render_gitops();
    assert_eq!(f.tree(), first);
    assert!(
        common::stderr(&out).contains("wrote 0 files"),
        "{}",
        all_output(&out)
    );
}

/// The lines of `after` that differ from `before` (same line count).
fn changed_lines(before: &[u8], after: &[u8]) -> Vec<String> {
    let before = String::from_utf8_lossy(before);
    let after = String::from_utf8_lossy(after);
    assert_eq!(before.lines().count(), after.lines().count());
    before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(_, b)| b.trim_start().split(':').next().unwrap().to_string())
        .collect()
}

#[test]
fn one_changed_value_changes_one_value_line_of_one_file() {
    let f = fleet();
    f.render_gitops();
    let first = f.tree();
    f.set_value("namespaces/search/api.enc.env", "TOKEN", "api-token-new");
    f.render_gitops();
    let second = f.tree();
    // (and the index, which records the hash of every file it lists)
    assert_eq!(
        changed(&first, &second),
        [
            "staging/.ksec-gitops-files",
            "staging/search/secret-api.yaml"
        ]
    );
    let file = "staging/search/secret-api.yaml";
    assert_eq!(
        changed_lines(&first[file].0, &second[file].0),
        ["TOKEN", "lastmodified", "mac"]
    );

    // a hash-suffixed Secret: its name line changes too, nothing else
    f.set_value("namespaces/payments/db.enc.yaml", "user", "db-user-new");
    f.render_gitops();
    let third = f.tree();
    assert_eq!(
        changed(&second, &third),
        [
            "staging/.ksec-gitops-files",
            "staging/payments/secret-db.yaml"
        ]
    );
    let file = "staging/payments/secret-db.yaml";
    assert_eq!(
        changed_lines(&second[file].0, &third[file].0),
        ["name", "user", "lastmodified", "mac"]
    );
}

#[test]
fn check_accepts_the_tree_and_refuses_a_plaintext_secret_in_it() {
    let f = fleet();
    common::git_in(&f.dir, &f.dir, &["init", "-q"]);
    f.render_gitops();
    common::git_in(&f.dir, &f.dir, &["add", "-A"]);
    let out = f.ksec().arg("check").output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));

    use base64::Engine;
    let value = base64::engine::general_purpose::STANDARD.encode(canary("planted"));
    let planted = "gitops/staging/search/secret-planted.yaml";
    std::fs::write(
        f.dir.join(planted),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: planted\n  namespace: search\ndata:\n  TOKEN: {value}\n"
        ),
    )
    .unwrap();
    common::git_in(&f.dir, &f.dir, &["add", "-A"]);
    let out = f.ksec().arg("check").output().unwrap();
    assert!(!out.status.success());
    let text = all_output(&out);
    assert!(text.contains(planted), "{text}");
    assert!(!text.contains(&value) && !text.contains(canary::MARKER));
    assert_eq!(text.matches("gitops/").count(), 1, "{text}");
}

#[test]
fn an_environment_without_recipients_is_refused_before_any_write() {
    let f = fleet();
    let yaml = std::fs::read_to_string(f.dir.join("ksec.yaml"))
        .unwrap()
        .replace("    recipients: [cluster]\n", "");
    std::fs::write(f.dir.join("ksec.yaml"), yaml).unwrap();
    let text = f.render_refused(&["--gitops", "gitops"]);
    assert!(
        text.contains("environment staging has no recipients")
            && text.contains("environments.staging.recipients"),
        "{text}"
    );
}

/// Validates every document (JSON on stdin) against the `v1` schema of
/// Flux's Kustomization CRD (tests/fixtures/flux); prints the errors.
const VALIDATE: &str = r#"
import json, sys, yaml, jsonschema
crd = yaml.safe_load(open(sys.argv[1]))
schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
def strict(s):
    # an unknown field is an error, as with kubectl's strict field validation
    if isinstance(s, dict):
        if "properties" in s and "additionalProperties" not in s and not s.get("x-kubernetes-preserve-unknown-fields"):
            s["additionalProperties"] = False
        for v in s.values():
            strict(v)
    elif isinstance(s, list):
        for v in s:
            strict(v)
strict(schema)
bad = 0
for doc in json.load(sys.stdin):
    for e in jsonschema.Draft4Validator(schema).iter_errors(doc):
        bad += 1
        print(doc["metadata"]["name"], "/".join(map(str, e.path)), e.message)
sys.exit(1 if bad else 0)
"#;

fn flux_schema_errors(docs: &[Value]) -> Option<String> {
    use std::io::Write;
    let crd = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/flux/kustomizations.kustomize.toolkit.fluxcd.io.yaml");
    let mut child = Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(crd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(docs).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    match out.status.code() {
        Some(0) => None,
        Some(1) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => panic!(
            "the schema check did not run: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn the_flux_objects_follow_fluxs_own_schema() {
    let f = fleet();
    f.render_gitops();
    let flux = documents(&kubectl_kustomize(&f.gitops().join(ENV).join("flux")));
    assert_eq!(flux.len(), 3);
    assert_eq!(flux_schema_errors(&flux), None);
    // the check sees a wrong type, a missing required field, an unknown field
    let mut wrong = flux[0].clone();
    wrong["spec"]["prune"] = Value::from("maybe");
    wrong["spec"]["decription"] = Value::from("typo");
    wrong["spec"].as_object_mut().unwrap().remove("sourceRef");
    let errors = flux_schema_errors(&[wrong]).expect("refused");
    assert!(
        errors.contains("spec/prune")
            && errors.contains("'sourceRef' is a required property")
            && errors.contains("'decription' was unexpected"),
        "{errors}"
    );
}

#[test]
fn with_team_keys_each_onboarded_namespace_has_its_own_cluster_key() {
    let f = fleet();
    let dir = f._tmp.path();
    let payments_key = Key::new(dir, "payments-cluster");
    let search_key = Key::new(dir, "search-cluster");
    let original = std::fs::read_to_string(f.dir.join("ksec.yaml")).unwrap();
    let yaml = original
        .replace(
            "recipients:\n  team:",
            &format!(
                "recipients:\n  payments-cluster: {}\n  search-cluster: {}\n  team:",
                payments_key.recipient, search_key.recipient
            ),
        )
        .replace(
            "    recipients: [cluster]\n",
            "    recipients: [cluster]\n    teamKeys: true\n",
        )
        .replace(
            "    owners: [payments-devs]\n",
            "    owners: [payments-devs]\n    clusterKeys:\n      staging: payments-cluster\n",
        )
        .replace(
            "  search:\n    recipients: [team]\n",
            "  search:\n    recipients: [team]\n    owners: [search-devs]\n    clusterKeys:\n      staging: search-cluster\n",
        );
    std::fs::write(f.dir.join("ksec.yaml"), &yaml).unwrap();
    f.render_gitops();
    let root = f.gitops().join(ENV);
    for (ns, file, own, stranger) in [
        ("payments", "secret-db.yaml", &payments_key, &search_key),
        ("search", "secret-api.yaml", &search_key, &payments_key),
    ] {
        let path = root.join(ns).join(file);
        assert!(sops_opens(own, &path), "{ns}");
        assert!(
            !sops_opens(stranger, &path),
            "{ns} opened with another team's key"
        );
        assert!(
            !sops_opens(&f.cluster, &path),
            "{ns} opened with the environment's key"
        );
        let flux =
            documents(&std::fs::read_to_string(root.join(format!("flux/{ns}.yaml"))).unwrap());
        let team = flux
            .iter()
            .find(|d| d["metadata"]["name"] == format!("ksec-{ns}"))
            .unwrap();
        assert_eq!(
            team["spec"]["decryption"]["secretRef"]["name"],
            format!("sops-age-{ns}")
        );
    }

    // an onboarded namespace without its key is refused, nothing written
    std::fs::remove_dir_all(f.gitops()).unwrap();
    std::fs::write(
        f.dir.join("ksec.yaml"),
        yaml.replace("    clusterKeys:\n      staging: search-cluster\n", ""),
    )
    .unwrap();
    let text = f.render_refused(&["--gitops", "gitops"]);
    assert!(
        text.contains("namespace search has no cluster key for environment staging")
            && text.contains("namespaces.search.clusterKeys.staging"),
        "{text}"
    );
}

#[test]
fn what_is_no_longer_rendered_is_removed_and_nothing_else() {
    let f = fleet();
    f.render_gitops();
    let mine = f.gitops().join("staging/gitrepository.yaml");
    std::fs::write(&mine, "# the user's own file\n").unwrap();
    let first = f.tree();
    // the namespace search leaves ksec.yaml
    let yaml = std::fs::read_to_string(f.dir.join("ksec.yaml")).unwrap();
    let at = yaml.find("  search:\n").unwrap();
    std::fs::write(f.dir.join("ksec.yaml"), &yaml[..at]).unwrap();
    let out = f.render_gitops();
    let second = f.tree();
    let gone: Vec<&String> = first.keys().filter(|k| !second.contains_key(*k)).collect();
    assert_eq!(
        gone,
        [
            "staging/flux/search.yaml",
            "staging/search/kustomization.yaml",
            "staging/search/secret-api.yaml"
        ]
    );
    assert!(!f.gitops().join("staging/search").exists());
    assert!(mine.is_file());
    assert!(
        common::stderr(&out)
            .contains("removed staging/search/secret-api.yaml (no longer rendered)"),
        "{}",
        all_output(&out)
    );
    let flux = std::fs::read_to_string(f.gitops().join("staging/flux/kustomization.yaml")).unwrap();
    assert!(!flux.contains("search"), "{flux}");
    assert_eq!(
        changed(&second, &first),
        [
            "staging/.ksec-gitops-files",
            "staging/flux/kustomization.yaml"
        ]
    );
}

#[test]
fn a_namespace_selection_is_refused() {
    let f = fleet();
    let text = f.render_refused(&["--gitops", "gitops", "-n", "payments"]);
    assert!(text.contains("--gitops writes the whole tree"), "{text}");
}

#[test]
fn all_envs_writes_each_environment_with_its_own_cluster_key() {
    let f = fleet();
    let prod = Key::new(f._tmp.path(), "prod-cluster");
    let yaml = std::fs::read_to_string(f.dir.join("ksec.yaml"))
        .unwrap()
        .replace(
            "recipients:\n  team:",
            &format!("recipients:\n  prod-cluster: {}\n  team:", prod.recipient),
        )
        .replace(
            "    recipients: [cluster]\n",
            "    recipients: [cluster]\n  prod:\n    context: prod\n    recipients: [prod-cluster]\n",
        );
    std::fs::write(f.dir.join("ksec.yaml"), yaml).unwrap();
    let text = f.render_refused(&["--gitops", "gitops"]);
    assert!(text.contains("choose one with --env"), "{text}");
    let out = f
        .ksec()
        .args(["render", "--gitops", "gitops", "--all-envs"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    for (env, own, other) in [("staging", &f.cluster, &prod), ("prod", &prod, &f.cluster)] {
        let path = f.gitops().join(env).join("search/secret-api.yaml");
        assert!(sops_opens(own, &path), "{env}");
        assert!(
            !sops_opens(other, &path),
            "{env} opened with another cluster's key"
        );
        let flux = std::fs::read_to_string(f.gitops().join(env).join("flux/search.yaml")).unwrap();
        assert!(flux.contains(&format!("path: ./{env}/search\n")), "{flux}");
    }
}

#[test]
fn a_recipient_added_keeps_the_values_and_one_removed_gets_a_new_data_key() {
    let f = fleet();
    f.render_gitops();
    let before = f.tree();
    let carol = Key::new(f._tmp.path(), "carol");
    let original = std::fs::read_to_string(f.dir.join("ksec.yaml")).unwrap();
    let with_carol = original
        .replace(
            "recipients:\n  team:",
            &format!("recipients:\n  carol: {}\n  team:", carol.recipient),
        )
        .replace(
            "  search:\n    recipients: [team]\n",
            "  search:\n    recipients: [team, carol]\n",
        );
    std::fs::write(f.dir.join("ksec.yaml"), &with_carol).unwrap();
    let out = f.render_gitops();
    let after = f.tree();
    let file = "staging/search/secret-api.yaml";
    assert_eq!(
        changed(&before, &after),
        ["staging/.ksec-gitops-files", file]
    );
    assert!(
        !common::stderr(&out).contains("note:"),
        "{}",
        all_output(&out)
    );
    // the old file is the new one without carol's stanza: values, MAC and
    // lastmodified kept
    let old = String::from_utf8(before[file].0.clone()).unwrap();
    let new = String::from_utf8(after[file].0.clone()).unwrap();
    let mut new_lines = new.lines();
    for line in old.lines() {
        assert!(new_lines.any(|l| l == line), "lost: {line}");
    }
    assert!(sops_opens(&carol, &f.gitops().join(file)));

    // carol leaves: a new data key, every value re-encrypted, said on stderr
    std::fs::write(f.dir.join("ksec.yaml"), &original).unwrap();
    let out = f.render_gitops();
    assert!(
        common::stderr(&out).contains(&format!(
            "note: {file} was re-encrypted with a new data key"
        )),
        "{}",
        all_output(&out)
    );
    let last = std::fs::read_to_string(f.gitops().join(file)).unwrap();
    for line in new.lines().filter(|l| l.contains("ENC[")) {
        assert!(!last.contains(line.trim()), "kept {line}");
    }
    assert!(!sops_opens(&carol, &f.gitops().join(file)));
}

/// The Flux objects as the API server takes them: with Flux's CRD installed,
/// server-side apply accepts every Kustomization the tree holds, and refuses
/// one whose field has the wrong type (the server enforces Flux's schema).
#[test]
fn the_api_server_accepts_the_flux_objects_under_fluxs_crd() {
    use common::kube;
    let f = fleet();
    f.render_gitops();
    kube::flux_crd();
    let ns = kube::unique("gitops");
    kube::create_namespaces(&[&ns]);
    let flux = documents(&kubectl_kustomize(&f.gitops().join(ENV).join("flux")));
    assert_eq!(flux.len(), 3);
    let apply = |doc: &Value| {
        let mut doc = doc.clone();
        // the tree names the team's namespaces; the shared test cluster
        // gets them in a namespace of this test's own
        doc["metadata"]["namespace"] = Value::from(ns.as_str());
        kube::kubectl_input(
            "admin",
            &["apply", "--server-side", "--validate=false", "-f", "-"],
            serde_json::to_string(&doc).unwrap().as_bytes(),
        )
    };
    for doc in &flux {
        let out = apply(doc);
        assert!(out.status.success(), "{}", kube::text(&out));
    }
    let stored = kube::objects(&ns, "kustomizations.kustomize.toolkit.fluxcd.io");
    assert_eq!(
        stored.keys().map(String::as_str).collect::<Vec<_>>(),
        ["ksec-payments", "ksec-payments-onboarding", "ksec-search"]
    );
    assert_eq!(
        stored["ksec-payments"]["spec"]["decryption"]["provider"],
        "sops"
    );
    let mut wrong = flux[0].clone();
    wrong["metadata"]["name"] = Value::from("wrong");
    wrong["spec"]["prune"] = Value::from("maybe");
    let out = apply(&wrong);
    assert!(!out.status.success(), "a string for prune was accepted");
    assert!(
        kube::text(&out).contains("spec.prune"),
        "{}",
        kube::text(&out)
    );
}
