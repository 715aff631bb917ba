//! Namespace onboarding against a real kube-apiserver (1.20.2) with RBAC:
//! `ksec namespace add` then `ksec apply` creates the team's Namespace,
//! quota, limits and RBAC; the owners' and the CI ServiceAccount's rights are
//! exactly what the issue promises (asked of the server, not read from the
//! templates); `namespace remove` + `apply --prune` deletes a Namespace only
//! when it is named.
//!
//! The control plane is shared with `cluster.rs` (`common/kube.rs`). Every
//! test uses namespaces, owner groups and a project of its own. There is no
//! controller-manager: a deleted Namespace stays `Terminating` with a
//! deletionTimestamp, which counts as deleted here.

use crate::common;

use common::kube::{
    kubeconfig, kubectl, kubectl_apply_stdin, kubectl_ok, objects, resource_versions, text, unique,
};
use common::{CANARY, Key};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The quota of the example.
const QUOTA: &str = "cpu=4,memory=8Gi,pods=20";

/// Everything a namespace holds that onboarding or render writes.
const NAMESPACED_KINDS: &str = "configmaps,secrets,serviceaccounts,resourcequotas,limitranges,\
roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,\
networkpolicies.networking.k8s.io";

/// A project with one environment `test` (context admin) that starts with
/// no namespaces; namespaces come in through `ksec namespace add`.
struct Project {
    dir: tempfile::TempDir,
    key: Key,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let yaml = format!(
            "version: 1\nproject: {}\nrecipients:\n  me: {}\nenvironments:\n  test: {{context: admin}}\nnamespaces: {{}}\n",
            unique("p"),
            key.recipient
        );
        std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
        Project { dir, key }
    }

    fn ksec(&self, args: &[&str]) -> common::Ksec {
        common::kube::ksec_project(self.dir.path(), &self.key, args)
    }

    /// Runs ksec and checks that no output holds the secret value.
    fn run(&self, args: &[&str]) -> Output {
        let out = self.ksec(args).output().unwrap();
        assert_no_secret(&out);
        out
    }

    /// ksec with stdin from /dev/null (so certainly no terminal) and an
    /// environment holding only what it needs.
    fn run_without_terminal(&self, args: &[&str]) -> Output {
        let bin = assert_cmd::cargo::cargo_bin("ksec");
        let out = Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KUBECONFIG", kubeconfig())
            .env("KSEC_AGE_KEY_FILE", &self.key.file)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .arg("--project")
            .arg(self.dir.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_no_secret(&out);
        out
    }

    /// `ksec namespace add NS --owner-group GROUP --recipient me EXTRA…`, and
    /// the secret value `CANARY` in its starter secret source.
    fn add(&self, ns: &str, group: &str, extra: &[&str]) {
        let mut args = vec![
            "namespace",
            "add",
            ns,
            "--owner-group",
            group,
            "--recipient",
            "me",
        ];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "namespace add {ns} failed: {}",
            text(&out)
        );
        let source = self.path(&format!("namespaces/{ns}/secrets.enc.yaml"));
        assert!(
            source.is_file() && self.path(&format!("namespaces/{ns}/app.env")).is_file(),
            "namespace add {ns} did not create its sources: {}",
            text(&out)
        );
        let out = self.run(&["set", source.to_str().unwrap(), "PASSWORD", CANARY]);
        assert!(out.status.success(), "{}", text(&out));
    }

    fn apply_ok(&self, args: &[&str]) -> String {
        let mut all = vec!["apply"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "ksec {all:?} failed ({}): {}",
            out.status,
            text(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// How many objects `ksec render` gives for the namespace.
    fn rendered_count(&self, ns: &str) -> usize {
        // render prints the Secret's data: that is its job
        let out = self
            .ksec(&["render", "-n", ns, "--output", "json"])
            .expect_secret_output()
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        list["items"].as_array().unwrap().len()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }
}

fn assert_no_secret(out: &Output) {
    use base64::Engine;
    let t = text(out);
    let b64 = base64::engine::general_purpose::STANDARD.encode(CANARY);
    assert!(
        !t.contains(CANARY) && !t.contains(&b64),
        "ksec printed a secret value"
    );
}

/// The cells of a permission table row: NAMESPACE RESOURCE VERB ALLOWED REASON…
fn row(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// A cluster-scoped object (or a namespace's object with `-n`), if it exists.
fn get(args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = kubectl("admin", &all);
    if out.status.success() {
        return Some(serde_json::from_slice(&out.stdout).unwrap());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NotFound"), "kubectl {all:?} failed: {err}");
    None
}

fn namespace(ns: &str) -> Option<Value> {
    get(&["namespace", ns])
}

/// Gone, or being deleted (no namespace controller finishes the job here).
fn is_deleted(ns: &str) -> bool {
    namespace(ns).is_none_or(|n| !n["metadata"]["deletionTimestamp"].is_null())
}

/// `Kind/name` -> resourceVersion of the namespace's objects, the Namespace
/// itself and its CI ClusterRole and ClusterRoleBinding.
fn versions(ns: &str) -> BTreeMap<String, String> {
    let out = kubectl_ok("admin", &["get", NAMESPACED_KINDS, "-n", ns, "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    let mut all: Vec<Value> = list["items"].as_array().unwrap().clone();
    all.extend(namespace(ns));
    let ci = format!("ksec-ci:{ns}");
    all.extend(get(&["clusterrole", &ci]));
    all.extend(get(&["clusterrolebinding", &ci]));
    resource_versions(&all)
}

/// The ConfigMaps or Secrets whose (hashed) name starts with `prefix-`.
fn hashed<'a>(objs: &'a serde_json::Map<String, Value>, prefix: &str) -> Vec<&'a Value> {
    objs.iter()
        .filter(|(name, _)| name.starts_with(&format!("{prefix}-")))
        .map(|(_, o)| o)
        .collect()
}

/// `kubectl auth can-i` for a user in `group` (asked by admin, impersonating).
/// `ns` None asks cluster-wide (namespace "" in the review).
fn can_i(group: &str, verb: &str, resource: &str, ns: Option<&str>) -> bool {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig()).args([
        "--context",
        "admin",
        "--as",
        "someone",
        "--as-group",
        group,
    ]);
    ask(cmd, verb, resource, ns)
}

/// `kubectl auth can-i` as the CI ServiceAccount, with its own token.
fn ci_can_i(ci_kubeconfig: &Path, verb: &str, resource: &str, ns: Option<&str>) -> bool {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(ci_kubeconfig)
        .args(["--context", "ci"]);
    ask(cmd, verb, resource, ns)
}

fn ask(mut kubectl: Command, verb: &str, resource: &str, ns: Option<&str>) -> bool {
    let mut args = vec!["auth", "can-i", verb, resource];
    match ns {
        Some(ns) => args.extend_from_slice(&["-n", ns]),
        None => args.push("--all-namespaces"),
    }
    let out = kubectl.args(&args).output().expect("kubectl runs");
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (out.status.code(), answer.as_str()) {
        (Some(0), "yes") => true,
        (Some(1), "no") => false,
        _ => panic!(
            "kubectl {args:?}: {} {answer} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A kubeconfig with one context `ci` for the team's CI ServiceAccount
/// `ksec-ci` in `ns`.
fn ci_kubeconfig(dir: &Path, ns: &str) -> PathBuf {
    token_kubeconfig(dir, ns, "ksec-ci")
}

/// A kubeconfig with one context `ci`: the test cluster's server and CA, and
/// a token of ServiceAccount `ns/account` (TokenRequest, as a CI system gets
/// one).
fn token_kubeconfig(dir: &Path, ns: &str, account: &str) -> PathBuf {
    let view: Value = serde_json::from_str(&kubectl_ok(
        "admin",
        &[
            "config",
            "view",
            "--raw",
            "--flatten",
            "--minify",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    let cluster = &view["clusters"][0]["cluster"];
    let server = cluster["server"].as_str().unwrap();
    let ca = match cluster["certificate-authority"].as_str() {
        Some(path) => format!("certificate-authority: {path}"),
        None => format!(
            "certificate-authority-data: {}",
            cluster["certificate-authority-data"].as_str().unwrap()
        ),
    };
    let out = kubectl("admin", &["create", "token", account, "-n", ns]);
    assert!(
        out.status.success(),
        "the API server refused a TokenRequest for ServiceAccount {ns}/{account}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    {ca}\nusers:\n- name: ci\n  user:\n    token: {token}\ncontexts:\n- name: ci\n  context:\n    cluster: test\n    user: ci\n    namespace: {ns}\ncurrent-context: ci\n"
    );
    let path = dir.join(format!("{account}-{ns}.kubeconfig"));
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn namespace_add_then_apply_creates_the_onboarding_objects_and_a_second_apply_writes_nothing() {
    let ns = unique("ob");
    let project = Project::new();
    let owners = unique("owners");
    project.add(&ns, &owners, &["--quota", QUOTA]);
    let count = project.rendered_count(&ns);

    let summary = project.apply_ok(&["--yes"]);
    assert!(
        summary.contains(&format!("{ns}: {count} created, 0 updated, 0 unchanged")),
        "the first apply should create all {count} rendered objects: {summary}"
    );

    let n = namespace(&ns).expect("the Namespace was not created");
    let labels = &n["metadata"]["labels"];
    assert_eq!(labels["ksec.dev/team"], ns.as_str(), "{labels}");
    for mode in ["enforce", "warn", "audit"] {
        assert_eq!(
            labels[format!("pod-security.kubernetes.io/{mode}")],
            "baseline",
            "{labels}"
        );
    }
    assert_eq!(labels["app.kubernetes.io/managed-by"], "ksec", "{labels}");

    let quota = &objects(&ns, "resourcequotas")["team-quota"];
    assert_eq!(
        quota["spec"]["hard"],
        json!({"cpu": "4", "memory": "8Gi", "pods": "20"}),
        "ResourceQuota team-quota has other hard limits than --quota {QUOTA}"
    );

    let limits = &objects(&ns, "limitranges")["team-defaults"]["spec"]["limits"];
    let container = limits
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["type"] == "Container")
        .unwrap_or_else(|| panic!("LimitRange team-defaults has no Container limits: {limits}"));
    // the defaults the README's ksec.yaml reference states
    assert_eq!(
        (&container["default"], &container["defaultRequest"]),
        (
            &json!({"cpu": "500m", "memory": "512Mi"}),
            &json!({"cpu": "100m", "memory": "128Mi"})
        ),
        "LimitRange team-defaults: {container}"
    );
    // the owners' Role is bound to the owner group, and only to it
    let binding = get(&["rolebinding", "team-owners", "-n", &ns]).expect("RoleBinding team-owners");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "Group", "name": owners, "apiGroup": "rbac.authorization.k8s.io"}])
    );
    assert_eq!(binding["roleRef"]["name"], "team-owners");

    assert!(
        objects(&ns, "serviceaccounts").contains_key("ksec-ci"),
        "ServiceAccount ksec-ci was not created"
    );
    let ci = format!("ksec-ci:{ns}");
    assert!(get(&["clusterrole", &ci]).is_some(), "no ClusterRole {ci}");
    assert!(
        get(&["clusterrolebinding", &ci]).is_some(),
        "no ClusterRoleBinding {ci}"
    );

    let cms = objects(&ns, "configmaps");
    let config = hashed(&cms, "app-config");
    assert_eq!(config.len(), 1, "ConfigMaps: {:?}", cms.keys());
    assert_eq!(config[0]["data"], json!({"LOG_LEVEL": "info"}));
    let secrets = objects(&ns, "secrets");
    let secret = hashed(&secrets, "app-secrets");
    assert_eq!(secret.len(), 1, "Secrets: {:?}", secrets.keys());
    assert!(
        secret[0]["data"]["PASSWORD"].is_string(),
        "the Secret lacks the key set in its source"
    );

    let before = versions(&ns);
    let summary = project.apply_ok(&["--yes"]);
    assert!(
        summary.contains(&format!("{ns}: 0 created, 0 updated, {count} unchanged")),
        "{summary}"
    );
    assert_eq!(
        versions(&ns),
        before,
        "a no-op apply changed a resourceVersion"
    );
}

#[test]
fn owner_group_manages_secrets_and_config_in_its_namespace_only() {
    let (mine, other) = (unique("ob"), unique("ob"));
    let (group, other_group) = (unique("owners"), unique("owners"));
    let project = Project::new();
    project.add(&mine, &group, &["--quota", QUOTA]);
    project.add(&other, &other_group, &[]);
    project.apply_ok(&["--yes"]);

    for verb in ["create", "update", "delete", "get", "list"] {
        for resource in ["secrets", "configmaps"] {
            assert!(
                can_i(&group, verb, resource, Some(&mine)),
                "owner group cannot {verb} {resource} in its namespace {mine}"
            );
            for elsewhere in [other.as_str(), "default"] {
                assert!(
                    !can_i(&group, verb, resource, Some(elsewhere)),
                    "owner group of {mine} can {verb} {resource} in namespace {elsewhere}"
                );
            }
        }
    }
    for (verb, resource) in [
        ("create", "pods"),
        ("get", "pods/log"),
        ("create", "deployments.apps"),
        ("patch", "deployments.apps"),
        ("delete", "services"),
    ] {
        assert!(
            can_i(&group, verb, resource, Some(&mine)),
            "owner group cannot {verb} {resource} in its namespace {mine}"
        );
        assert!(
            !can_i(&group, verb, resource, Some(&other)),
            "owner group of {mine} can {verb} {resource} in {other}"
        );
    }
    // the other team's group is equally confined
    assert!(can_i(&other_group, "create", "secrets", Some(&other)));
    assert!(!can_i(&other_group, "create", "secrets", Some(&mine)));

    for (verb, resource) in [
        ("create", "namespaces"),
        ("delete", "namespaces"),
        ("create", "clusterroles"),
        ("create", "clusterrolebindings"),
        ("get", "nodes"),
        ("list", "secrets"),
    ] {
        assert!(
            !can_i(&group, verb, resource, None),
            "owner group of {mine} can {verb} {resource} cluster-wide"
        );
    }
    for (verb, resource) in [
        ("create", "rolebindings"),
        ("update", "rolebindings"),
        ("create", "roles"),
        ("update", "roles"),
        ("update", "resourcequotas"),
        ("delete", "resourcequotas"),
        ("update", "limitranges"),
        ("create", "networkpolicies"),
        ("delete", "namespaces"),
    ] {
        assert!(
            !can_i(&group, verb, resource, Some(&mine)),
            "owner group can {verb} {resource} in {mine}: it could change its own RBAC, quota or limits"
        );
    }
}

#[test]
fn ci_service_account_applies_its_own_namespace_and_is_denied_in_another() {
    let (a, b) = (unique("ob"), unique("ob"));
    let project = Project::new();
    project.add(&a, &unique("owners"), &[]);
    project.add(&b, &unique("owners"), &[]);
    project.apply_ok(&["--yes"]);
    let ci = ci_kubeconfig(project.dir.path(), &a);
    let as_ci = |ns: &str| -> Output {
        let out = project
            .ksec(&["apply", "-n", ns, "--context", "ci", "--yes"])
            .env("KUBECONFIG", &ci)
            .output()
            .unwrap();
        assert_no_secret(&out);
        out
    };

    // its own namespace: a changed plain value is applied
    project.write(&format!("namespaces/{a}/app.env"), "LOG_LEVEL=debug\n");
    let out = as_ci(&a);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the CI ServiceAccount of {a} cannot apply {a}: {}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("{a}: 1 created, 0 updated")),
        "{}",
        text(&out)
    );
    let cms = objects(&a, "configmaps");
    assert!(
        hashed(&cms, "app-config")
            .iter()
            .any(|c| c["data"] == json!({"LOG_LEVEL": "debug"})),
        "the changed ConfigMap is not in {a}: {cms:?}"
    );

    // the token holds no right beyond that
    for (verb, resource, ns) in [
        ("create", "secrets", Some(a.as_str())),
        ("delete", "configmaps", Some(a.as_str())),
        ("get", format!("namespaces/{a}").as_str(), None),
    ] {
        assert!(
            ci_can_i(&ci, verb, resource, ns),
            "the CI ServiceAccount of {a} cannot {verb} {resource} ({ns:?})"
        );
    }
    for (verb, resource, ns) in [
        ("create", "secrets", Some(b.as_str())),
        ("list", "configmaps", Some(b.as_str())),
        ("get", "secrets", Some(a.as_str())),
        ("update", "roles", Some(a.as_str())),
        ("create", "rolebindings", Some(a.as_str())),
        ("patch", "resourcequotas", Some(a.as_str())),
        ("patch", "limitranges", Some(a.as_str())),
        ("patch", format!("namespaces/{a}").as_str(), None),
        ("get", format!("namespaces/{b}").as_str(), None),
        ("create", "namespaces", None),
        ("list", "secrets", None),
        ("patch", format!("clusterroles/ksec-ci:{a}").as_str(), None),
    ] {
        assert!(
            !ci_can_i(&ci, verb, resource, ns),
            "the CI ServiceAccount of {a} can {verb} {resource} ({ns:?}): more than `ksec apply -n {a}` needs"
        );
    }

    // another team's namespace: refused before any write
    let before = versions(&b);
    project.write(&format!("namespaces/{b}/app.env"), "LOG_LEVEL=debug\n");
    let out = as_ci(&b);
    assert_eq!(
        out.status.code(),
        Some(7),
        "the CI ServiceAccount of {a} was not denied in {b}: {}",
        text(&out)
    );
    let t = text(&out);
    assert!(
        ["NAMESPACE", "RESOURCE", "VERB", "ALLOWED", "REASON"]
            .iter()
            .all(|h| t.contains(h)),
        "no permission table: {t}"
    );
    let denied: Vec<&str> = t
        .lines()
        .filter(|l| row(l).first() == Some(&b.as_str()) && row(l).get(3) == Some(&"no"))
        .collect();
    assert!(
        denied.iter().any(|l| row(l)[1] == "configmaps"),
        "the table does not show the denied ConfigMap rights in {b}: {t}"
    );
    assert_eq!(
        versions(&b),
        before,
        "something in {b} changed although access was denied"
    );
}

#[test]
fn dry_run_after_namespace_add_creates_nothing() {
    let ns = unique("ob");
    let project = Project::new();
    project.add(&ns, &unique("owners"), &["--quota", QUOTA]);
    let out = project.run(&["apply", "--dry-run", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("dry run"), "{}", text(&out));
    assert!(
        namespace(&ns).is_none(),
        "a dry run created the Namespace {ns}"
    );
    let ci = format!("ksec-ci:{ns}");
    assert!(
        get(&["clusterrole", &ci]).is_none() && get(&["clusterrolebinding", &ci]).is_none(),
        "a dry run created the cluster-scoped CI RBAC of {ns}"
    );
}

#[test]
fn prune_deletes_a_removed_namespace_only_when_it_is_named() {
    let (a, b) = (unique("ob"), unique("ob"));
    let project = Project::new();
    project.add(&a, &unique("owners"), &["--quota", QUOTA]);
    project.add(&b, &unique("owners"), &["--quota", QUOTA]);
    project.apply_ok(&["--yes"]);
    let (before_a, before_b) = (versions(&a), versions(&b));

    let out = project.run(&["namespace", "remove", &a]);
    assert!(out.status.success(), "{}", text(&out));
    // a change pending in b must not be written by a refused run either
    let b_env = format!("namespaces/{b}/app.env");
    let b_env_text = std::fs::read_to_string(project.path(&b_env)).unwrap();
    project.write(&b_env, "LOG_LEVEL=warn\n");

    // no terminal, not named: refused, and nothing is written anywhere
    let out = project.run_without_terminal(&["apply", "--prune", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "prune of a removed namespace without --delete-namespace: {}",
        text(&out)
    );
    assert!(
        text(&out).contains(&a),
        "the refusal does not name {a}: {}",
        text(&out)
    );
    assert!(!is_deleted(&a), "{a} was deleted without confirmation");
    assert_eq!(
        versions(&a),
        before_a,
        "something in {a} changed without confirmation"
    );
    assert_eq!(
        versions(&b),
        before_b,
        "a refused prune wrote the change pending in {b}"
    );
    project.write(&b_env, &b_env_text);

    // named: deleted, with its cluster-scoped CI RBAC
    let out =
        project.run_without_terminal(&["apply", "--prune", "--yes", "--delete-namespace", &a]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(is_deleted(&a), "{a} was not deleted: {:?}", namespace(&a));
    let ci = format!("ksec-ci:{a}");
    assert!(
        get(&["clusterrole", &ci]).is_none(),
        "ClusterRole {ci} was not pruned: {}",
        text(&out)
    );
    assert!(
        get(&["clusterrolebinding", &ci]).is_none(),
        "ClusterRoleBinding {ci} was not pruned: {}",
        text(&out)
    );
    assert!(!is_deleted(&b));
    assert_eq!(versions(&b), before_b, "something in {b} changed");
}

#[test]
fn a_user_without_cluster_rights_cannot_onboard_and_nothing_is_written() {
    let ns = unique("ob");
    let project = Project::new();
    project.add(&ns, "team-a", &["--quota", QUOTA]);
    let out = project.run(&["apply", "--context", "alice", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "alice (no rights) applied a new namespace: {}",
        text(&out)
    );
    let t = text(&out);
    assert!(
        ["NAMESPACE", "RESOURCE", "VERB", "ALLOWED", "REASON"]
            .iter()
            .all(|h| t.contains(h)),
        "no permission table: {t}"
    );
    assert!(
        t.lines().any(|l| {
            let r = row(l);
            r.len() >= 4
                && (r[1] == "namespaces" || r[1] == format!("namespaces/{ns}"))
                && r[2] == "create"
                && r[3] == "no"
        }),
        "the table does not list `namespaces create` as denied: {t}"
    );
    assert!(namespace(&ns).is_none(), "{ns} was created");
    let ci = format!("ksec-ci:{ns}");
    assert!(
        get(&["clusterrole", &ci]).is_none() && get(&["clusterrolebinding", &ci]).is_none(),
        "cluster-scoped objects of {ns} were created"
    );
}

#[test]
fn pod_security_and_default_deny_flags_reach_the_cluster_and_no_quota_means_no_resource_quota() {
    let ns = unique("ob");
    let project = Project::new();
    project.add(
        &ns,
        &unique("owners"),
        &[
            "--pod-security",
            "restricted",
            "--default-deny",
            "--env",
            "test",
        ],
    );
    project.apply_ok(&["--yes"]);

    let n = namespace(&ns).expect("the Namespace was not created");
    let labels = &n["metadata"]["labels"];
    for mode in ["enforce", "warn", "audit"] {
        assert_eq!(
            labels[format!("pod-security.kubernetes.io/{mode}")],
            "restricted",
            "--pod-security restricted: {labels}"
        );
    }
    let policies = objects(&ns, "networkpolicies.networking.k8s.io");
    let deny = policies
        .get("default-deny-ingress")
        .unwrap_or_else(|| panic!("--default-deny: no NetworkPolicy default-deny-ingress in {ns}"));
    assert_eq!(deny["spec"]["podSelector"], json!({}), "{deny}");
    assert_eq!(deny["spec"]["policyTypes"], json!(["Ingress"]), "{deny}");
    assert!(
        deny["spec"]["ingress"].as_array().is_none_or(Vec::is_empty),
        "default-deny-ingress allows some ingress: {deny}"
    );
    assert!(
        objects(&ns, "resourcequotas").is_empty(),
        "a ResourceQuota was created without --quota"
    );
}

/// Runs ksec on a pseudo-terminal (util-linux `script`), answers `answer`
/// once the output names `ns`, and returns its exit code and output.
fn on_terminal(project: &Project, args: &[&str], ns: &str, answer: &str) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    let bin = assert_cmd::cargo::cargo_bin("ksec");
    let cmd = format!(
        "{} --project {} {}",
        bin.display(),
        project.dir.path().display(),
        args.join(" ")
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("KUBECONFIG", kubeconfig())
        .env("KSEC_AGE_KEY_FILE", &project.key.file)
        .env("HOME", project.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(ns) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(_) => break,
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    // the terminal buffers the line until ksec reads it
    let _ = stdin.write_all(format!("{answer}\n").as_bytes());
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter().flatten());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let all = format!("{}{err}", String::from_utf8_lossy(&seen));
    assert!(!all.contains(CANARY), "ksec printed a secret value");
    (status.code(), all)
}

#[test]
fn on_a_terminal_prune_deletes_a_removed_namespace_only_after_its_name_is_typed() {
    let (a, b) = (unique("ob"), unique("ob"));
    let project = Project::new();
    project.add(&a, &unique("owners"), &[]);
    project.add(&b, &unique("owners"), &[]);
    project.apply_ok(&["--yes"]);
    let before_b = versions(&b);
    let out = project.run(&["namespace", "remove", &a]);
    assert!(out.status.success(), "{}", text(&out));

    let (code, out) = on_terminal(&project, &["apply", "--prune", "--yes"], &a, "no");
    assert_eq!(code, Some(8), "a wrong answer: {out}");
    assert!(
        !is_deleted(&a),
        "{a} was deleted after a wrong answer: {out}"
    );

    let (code, out) = on_terminal(&project, &["apply", "--prune", "--yes"], &a, &a);
    assert_eq!(code, Some(0), "typing {a}: {out}");
    assert!(
        is_deleted(&a),
        "{a} was not deleted after typing its name: {out}"
    );
    assert!(
        get(&["clusterrole", &format!("ksec-ci:{a}")]).is_none(),
        "{out}"
    );
    assert_eq!(versions(&b), before_b, "something in {b} changed");
}

/// The API server stores quantities in canonical form (`0.5` -> `500m`,
/// `8192Mi` -> `8Gi`); a quota written otherwise must still be applied once
/// and then be unchanged, or every apply rewrites it, `diff` never settles
/// and the team's CI (which may not patch its quota) is refused for good.
#[test]
fn a_quota_in_non_canonical_quantities_is_written_once_and_then_unchanged() {
    let ns = unique("ob");
    let project = Project::new();
    project.add(
        &ns,
        &unique("owners"),
        &["--quota", "cpu=0.5,memory=8192Mi,pods=20"],
    );
    project.apply_ok(&["--yes"]);
    assert_eq!(
        objects(&ns, "resourcequotas")["team-quota"]["spec"]["hard"],
        json!({"cpu": "500m", "memory": "8Gi", "pods": "20"})
    );
    let ci = ci_kubeconfig(project.dir.path(), &ns);

    let before = versions(&ns);
    let second = project.apply_ok(&["--yes"]);
    let rewritten: Vec<String> = versions(&ns)
        .into_iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    let diff = project.run(&["diff", "-n", &ns]);
    project.write(&format!("namespaces/{ns}/app.env"), "LOG_LEVEL=debug\n");
    let by_ci = project
        .ksec(&["apply", "-n", &ns, "--context", "ci", "--yes"])
        .env("KUBECONFIG", &ci)
        .output()
        .unwrap();
    assert!(
        rewritten.is_empty() && diff.status.code() == Some(0) && by_ci.status.success(),
        "ksec bug: the server stores --quota cpu=0.5,memory=8192Mi as 500m/8Gi and ksec \
         sees a difference on every run, so the quota never settles:\n\
         second apply rewrote {rewritten:?}: {second}\n\
         `ksec diff -n {ns}` exit {:?}: {}\n\
         CI apply -n {ns} exit {:?}: {}",
        diff.status.code(),
        text(&diff),
        by_ci.status.code(),
        text(&by_ci)
    );
}

/// An identity that may read the team's cluster-scoped objects by name
/// (`get`) but not list them, and may write everything namespaced: a plain
/// `apply` needs no write right on the unchanged Namespace, ClusterRole and
/// ClusterRoleBinding, and adding `--prune` must not change that (it can only
/// skip looking for removed namespaces, which it says).
#[test]
fn prune_without_list_rights_on_cluster_objects_asks_no_write_right_for_unchanged_ones() {
    let ns = unique("ob");
    let project = Project::new();
    project.add(&ns, &unique("owners"), &[]);
    project.apply_ok(&["--yes"]);

    let home = unique("syncer");
    kubectl_ok("admin", &["create", "namespace", &home]);
    kubectl_ok(
        "admin",
        &["create", "serviceaccount", "syncer", "-n", &home],
    );
    let rbac = format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {home}}}
rules:
- apiGroups: [\"\"]
  resources: [configmaps, secrets, serviceaccounts, limitranges, resourcequotas]
  verbs: [\"*\"]
- apiGroups: [\"\"]
  resources: [namespaces]
  verbs: [get]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [clusterroles, clusterrolebindings]
  verbs: [get]
- apiGroups: [rbac.authorization.k8s.io, networking.k8s.io, apps]
  resources: [roles, rolebindings, networkpolicies, deployments, statefulsets, daemonsets]
  verbs: [\"*\"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {home}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {home}}}
subjects: [{{kind: ServiceAccount, name: syncer, namespace: {home}}}]
"
    );
    kubectl_apply_stdin("admin", &rbac);
    let config = token_kubeconfig(project.dir.path(), &home, "syncer");
    let as_syncer = |args: &[&str]| -> Output {
        let out = project
            .ksec(args)
            .env("KUBECONFIG", &config)
            .output()
            .unwrap();
        assert_no_secret(&out);
        out
    };
    let before = versions(&ns);

    let out = as_syncer(&["apply", "--context", "ci", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{ns}: 0 created, 0 updated")),
        "{}",
        text(&out)
    );

    let out = as_syncer(&["apply", "--context", "ci", "--prune", "--yes"]);
    assert!(
        out.status.code() == Some(0) && text(&out).contains(&format!("{ns}: 0 created, 0 updated")),
        "ksec bug: `apply --yes` needs no write right here, but `apply --prune --yes` \
         treats the existing, unchanged Namespace, ClusterRole and ClusterRoleBinding as \
         missing when it may not list them (exit {:?}):\n{}",
        out.status.code(),
        text(&out)
    );
    assert_eq!(versions(&ns), before, "something in {ns} changed");
}
