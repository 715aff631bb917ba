//! An apply never stops half-way, and cluster errors say what to do:
//! against the real kube-apiserver of `common/kube.rs` (each test in
//! namespaces of its own) and against local TCP listeners that refuse or
//! never answer.

use crate::common;

use common::kube::{
    kubeconfig, kubectl, kubectl_apply_stdin, kubectl_input, kubectl_ok, objects, text, unique,
};
use common::{CANARY, Key, code, ksec_with};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A project with one environment `test` bound to `context` and the
/// namespaces section `namespaces` (YAML, indented by two).
struct Project {
    dir: tempfile::TempDir,
    key: Key,
    /// None: the test control plane's.
    kubeconfig: Option<PathBuf>,
}

impl Project {
    fn new(context: &str, namespaces: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let yaml = format!(
            "version: 1\nproject: {}\nrecipients:\n  me: {}\nenvironments:\n  test:\n    context: {context}\nnamespaces:\n{namespaces}",
            unique("p"),
            key.recipient
        );
        std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
        Project {
            dir,
            key,
            kubeconfig: None,
        }
    }

    /// A project with a Secret `db` (the canary) and a ConfigMap `cfg` in `ns`.
    fn with_secret(context: &str, ns: &str, extra: &str) -> Project {
        let p = Project::new(
            context,
            &format!(
                "  {ns}:\n    recipients: [me]\n    configMaps:\n      - name: cfg\n        literals: {{LOG_LEVEL: info}}\n    secrets:\n      - name: db\n        sources: [db.enc.env]\n{extra}"
            ),
        );
        p.secret(ns, "db");
        p
    }

    /// `with_secret`, with the namespace onboarded (`owners: [devs]`): ksec
    /// creates it.
    fn onboarded_with_secret(context: &str, ns: &str, extra: &str) -> Project {
        let p = Project::with_secret(context, ns, extra);
        p.edit_yaml(
            "    recipients: [me]\n",
            "    recipients: [me]\n    owners: [devs]\n",
        );
        p
    }

    /// Rewrites ksec.yaml with every `from` replaced by `to`.
    fn edit_yaml(&self, from: &str, to: &str) {
        let path = self.dir.path().join("ksec.yaml");
        let yaml = std::fs::read_to_string(&path).unwrap();
        std::fs::write(path, yaml.replace(from, to)).unwrap();
    }

    /// An encrypted `NAME.enc.env` in the namespace folder, holding the canary.
    fn secret(&self, ns: &str, name: &str) {
        let folder = self.dir.path().join("namespaces").join(ns);
        std::fs::create_dir_all(&folder).unwrap();
        let plain = folder.join(format!("{name}.env"));
        std::fs::write(&plain, format!("PASSWORD={CANARY}\n")).unwrap();
        let out = self
            .ksec(&[
                "encrypt",
                plain.to_str().unwrap(),
                "--output",
                folder.join(format!("{name}.enc.env")).to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        std::fs::remove_file(plain).unwrap();
    }

    fn ksec(&self, args: &[&str]) -> common::Ksec {
        let mut cmd = ksec_with(self.dir.path(), &self.key);
        let kubeconfig = match &self.kubeconfig {
            Some(path) => path.clone(),
            None => kubeconfig().to_path_buf(),
        };
        cmd.env("KUBECONFIG", kubeconfig)
            .env_remove("KSEC_TIMEOUT")
            .env_remove("KSEC_CONNECT_TIMEOUT")
            .arg("--project")
            .arg(self.dir.path())
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let out = self.ksec(args).output().unwrap();
        assert!(
            !text(&out).contains(CANARY),
            "a secret value leaked:\n{}",
            text(&out)
        );
        out
    }
}

fn namespace_exists(ns: &str) -> bool {
    kubectl("admin", &["get", "namespace", ns]).status.success()
}

/// Every object of the namespace ksec could have written, by kind/name.
fn written(ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    for kind in ["configmaps", "secrets", "deployments"] {
        for name in objects(ns, kind).keys() {
            if !name.starts_with("default-token") {
                out.push(format!("{kind}/{name}"));
            }
        }
    }
    out
}

fn deployment(ns: &str, name: &str, container: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: {container}\n          image: nginx:1.27\n"
    )
}

/// The Deployment `web` in `ns` has a volume of a ConfigMap `nginx-…`.
fn assert_nginx_mounted(ns: &str) {
    let web: Value = serde_json::from_str(&kubectl_ok(
        "admin",
        &["get", "deployment", "web", "-n", ns, "-o", "json"],
    ))
    .unwrap();
    let volumes = web["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(volumes.contains("\"name\":\"nginx-"), "{volumes}");
}

/// A ResourceQuota with its status filled in, as the quota controller
/// would (the test control plane runs no controller-manager).
fn quota(ns: &str, resource: &str, hard: u32) {
    kubectl_apply_stdin(
        "admin",
        &format!(
            "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q\n  namespace: {ns}\nspec:\n  hard: {{{resource}: \"{hard}\"}}\n"
        ),
    );
    let status = format!(
        r#"{{"status": {{"hard": {{"{resource}": "{hard}"}}, "used": {{"{resource}": "0"}}}}}}"#
    );
    kubectl_ok(
        "admin",
        &[
            "patch",
            "resourcequota",
            "q",
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ],
    );
}

// --- 1. a missing workload: no write at all -------------------------------

#[test]
fn a_mount_into_a_missing_deployment_writes_nothing_not_even_the_namespace() {
    let ns = unique("mw");
    let p = Project::new(
        "admin",
        &format!(
            "  {ns}:\n    recipients: [me]\n    owners: [devs]\n    configMaps:\n      - name: nginx\n        literals: {{default.conf: 'server {{}}'}}\n        mount:\n          workload: Deployment/web\n          container: nginx\n          path: /etc/nginx/conf.d\n      - name: api\n        literals: {{A: b}}\n        rollout: [StatefulSet/db]\n"
        ),
    );

    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains(&format!(
            "{ns}/Deployment/web (for mount of ConfigMap nginx-"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{ns}/StatefulSet/db (for rollout annotation")),
        "{err}"
    );
    assert!(err.contains("deploy the workload first"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!namespace_exists(&ns), "the Namespace was written:\n{err}");

    // diff says the same instead of planning a create of a partial Deployment
    let out = p.run(&["diff"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{ns}/Deployment/web")),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("create "), "{}", text(&out));

    // once the workloads exist, the same apply goes through and mounts
    kubectl_ok("admin", &["create", "namespace", &ns]);
    kubectl_apply_stdin("admin", &deployment(&ns, "web", "nginx"));
    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{ns}/StatefulSet/db")),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("Deployment/web"), "{}", text(&out));
    assert!(
        objects(&ns, "configmaps").is_empty(),
        "a ConfigMap was written"
    );

    let sts = deployment(&ns, "db", "db")
        .replace("kind: Deployment", "kind: StatefulSet")
        .replace("spec:\n  selector", "spec:\n  serviceName: db\n  selector");
    kubectl_apply_stdin("admin", &sts);
    let out = p.run(&["apply", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_nginx_mounted(&ns);
    let out = p.run(&["diff"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
}

// --- 3. every write is dry-run by the server before the first real one ---

#[test]
fn a_write_the_server_refuses_fails_the_apply_before_any_write() {
    let ns = unique("dr");
    kubectl_ok("admin", &["create", "namespace", &ns]);
    // the quota admits ConfigMaps but no Secret
    quota(&ns, "secrets", 0);
    let p = Project::with_secret("admin", &ns, "");
    let before = written(&ns);

    for args in [
        &["apply", "--yes", "--dry-run"][..],
        &["apply", "--yes"][..],
    ] {
        let out = p.run(args);
        assert_eq!(code(&out), Some(6), "{args:?}: {}", text(&out));
        let err = text(&out);
        assert!(err.contains("nothing was written"), "{err}");
        assert!(err.contains(&format!("{ns}/Secret/db-")), "{err}");
        assert!(err.contains("exceeded quota"), "{err}");
        assert!(err.contains("ResourceQuota"), "{err}");
        assert_eq!(written(&ns), before, "{args:?} wrote something");
    }

    // a protected environment is not asked to confirm what would be refused
    p.edit_yaml(
        "    context: admin\n",
        "    context: admin\n    protected: true\n",
    );
    let out = p.run(&["apply"]);
    assert_eq!(code(&out), Some(6), "{}", text(&out));
    assert!(text(&out).contains("exceeded quota"), "{}", text(&out));
    assert_eq!(written(&ns), before);
}

#[test]
fn objects_of_a_namespace_being_created_are_checked_before_the_namespace_is_written() {
    let ns = unique("nn");
    // the namespace is onboarded: ksec creates it
    let p =
        Project::onboarded_with_secret("admin", &ns, "        annotations: {'not a key!': x}\n");
    for args in [
        &["apply", "--yes", "--dry-run"][..],
        &["apply", "--yes"][..],
    ] {
        let out = p.run(args);
        assert_eq!(code(&out), Some(6), "{args:?}: {}", text(&out));
        let err = text(&out);
        assert!(err.contains("nothing was written"), "{err}");
        assert!(err.contains(&format!("{ns}/Secret/db-")), "{err}");
        assert!(
            err.contains("\"not a key!\" is not a valid annotation key"),
            "{err}"
        );
        assert!(!namespace_exists(&ns), "{args:?} created the namespace");
    }

    // valid: the dry run says what the server could not see
    p.edit_yaml("'not a key!'", "shop.example/owner");
    let out = p.run(&["apply", "--yes", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let err = common::stderr(&out);
    assert!(err.contains("the server can dry-run"), "{err}");
    assert!(err.contains(&format!("{ns}/Secret/db-")), "{err}");
    assert!(!namespace_exists(&ns));
    let out = p.run(&["apply", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(objects(&ns, "secrets").len(), 1);
}

/// A kubeconfig for a new ServiceAccount that may onboard namespaces but
/// holds none of the rights the owners' Role grants (pods, services…), so
/// the server refuses that Role as an escalation, and only once its
/// namespace exists.
/// With `escalate`, it may write roles with rights it does not hold, but
/// still not bind them.
fn onboarder(dir: &Path, escalate: bool) -> PathBuf {
    let home = unique("onb");
    kubectl_ok("admin", &["create", "namespace", &home]);
    kubectl_ok(
        "admin",
        &["create", "serviceaccount", "onboarder", "-n", &home],
    );
    let rw = "[get, list, create, patch]";
    let extra = if escalate {
        "- {apiGroups: [rbac.authorization.k8s.io], resources: [roles, clusterroles], verbs: [escalate]}\n"
    } else {
        ""
    };
    kubectl_apply_stdin(
        "admin",
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {home}}}\nrules:\n- {{apiGroups: [''], resources: [namespaces, configmaps, secrets, resourcequotas, limitranges, serviceaccounts], verbs: {rw}}}\n- {{apiGroups: [rbac.authorization.k8s.io], resources: [roles, rolebindings, clusterroles, clusterrolebindings], verbs: {rw}}}\n- {{apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: {rw}}}\n- {{apiGroups: [apps], resources: [deployments, statefulsets, daemonsets], verbs: [get, patch]}}\n- {{apiGroups: [''], resources: [configmaps, secrets], verbs: [delete]}}\n- {{apiGroups: [authorization.k8s.io], resources: [selfsubjectaccessreviews], verbs: [create]}}\n{extra}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {home}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {home}}}\nsubjects:\n- {{kind: ServiceAccount, name: onboarder, namespace: {home}}}\n"
        ),
    );
    let token = kubectl_ok("admin", &["create", "token", "onboarder", "-n", &home]);
    kubeconfig_for(dir, &test_server(), token.trim())
}

/// The URL of the test control plane's API server.
fn test_server() -> String {
    let view: Value = serde_json::from_str(&kubectl_ok(
        "admin",
        &["config", "view", "--raw", "--minify", "-o", "json"],
    ))
    .unwrap();
    view["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `Project::onboarded_with_secret` in context `ctx`, applied as the
/// `onboarder` (with `escalate`), whose kubeconfig is in the returned dir.
fn onboarded_by_onboarder(ns: &str, escalate: bool) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Project::onboarded_with_secret("ctx", ns, "");
    p.kubeconfig = Some(onboarder(dir.path(), escalate));
    (dir, p)
}

/// `apply --yes` exits 7, naming `object` as failed where its dry run
/// waits for its namespace or role; its output.
fn apply_fails_the_dry_run_of(p: &Project, object: &str) -> String {
    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(7), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains(&format!(
            "failed: {object}: (dry run once its namespace or role exists)"
        )),
        "{err}"
    );
    err
}

/// `kubectl get KIND -o name` in `ns`, as admin.
fn names(ns: &str, kind: &str) -> String {
    kubectl_ok("admin", &["get", kind, "-n", ns, "-o", "name"])
}

#[test]
fn objects_of_a_new_namespace_are_dry_run_there_before_any_is_written() {
    let ns = unique("esc");
    let (_dir, p) = onboarded_by_onboarder(&ns, false);

    let err = apply_fails_the_dry_run_of(&p, &format!("{ns}/Role/team-owners"));
    assert!(err.contains(&format!("applied: Namespace/{ns}\n")), "{err}");
    assert!(err.contains(&format!("{ns}/ConfigMap/cfg-")), "{err}");
    assert!(namespace_exists(&ns));
    assert!(written(&ns).is_empty(), "{:?}", written(&ns));
    let roles = names(&ns, "roles");
    assert!(roles.trim().is_empty(), "{roles}");
}

#[test]
fn a_binding_refused_once_its_role_exists_leaves_only_namespace_and_roles_written() {
    let ns = unique("bind");
    let (_dir, p) = onboarded_by_onboarder(&ns, true);

    let err = apply_fails_the_dry_run_of(&p, &format!("{ns}/RoleBinding/team-owners"));
    assert!(err.contains(&format!("{ns}/Role/team-owners")), "{err}");
    let roles = names(&ns, "roles");
    assert!(roles.contains("team-owners"), "{roles}");
    let bindings = names(&ns, "rolebindings");
    assert!(bindings.trim().is_empty(), "{bindings}");
    assert!(written(&ns).is_empty(), "{:?}", written(&ns));
}

// --- 4. a write that fails mid-apply: applied, failed, not attempted -----

#[test]
fn a_write_refused_after_the_dry_run_reports_applied_failed_and_not_attempted() {
    let ns = unique("fr");
    kubectl_ok("admin", &["create", "namespace", &ns]);
    kubectl_apply_stdin("admin", &deployment(&ns, "web", "nginx"));
    // room for one ConfigMap: each dry run alone fits, the two writes do not
    quota(&ns, "configmaps", 1);
    let p = Project::new(
        "admin",
        &format!(
            "  {ns}:\n    recipients: [me]\n    configMaps:\n      - name: one\n        literals: {{A: b}}\n        rollout: [Deployment/web]\n      - name: two\n        literals: {{C: d}}\n"
        ),
    );
    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(6), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains("1 of 3 writes failed, 1 applied, 1 not attempted"),
        "{err}"
    );
    assert!(err.contains("exceeded quota"), "{err}");
    let failed = err
        .lines()
        .find(|l| l.trim_start().starts_with("failed: "))
        .unwrap_or_else(|| panic!("no failed line:\n{err}"));
    let applied = err
        .lines()
        .find(|l| l.trim_start().starts_with("applied: "))
        .unwrap_or_else(|| panic!("no applied line:\n{err}"));
    assert!(failed.contains(&format!("{ns}/ConfigMap/")), "{err}");
    assert!(applied.contains(&format!("{ns}/ConfigMap/")), "{err}");
    assert!(
        err.contains(&format!("not attempted: {ns}/Deployment/web")),
        "{err}"
    );
    assert_eq!(objects(&ns, "configmaps").len(), 1);
    let web = kubectl_ok(
        "admin",
        &["get", "deployment", "web", "-n", &ns, "-o", "json"],
    );
    assert!(!web.contains("ksec.dev/"), "the workload rolled: {web}");
}

// --- 5. cluster errors ---------------------------------------------------

/// A kubeconfig with one context `ctx` whose server is `server`.
fn kubeconfig_for(dir: &Path, server: &str, token: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: ctx\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: ctx\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user: {{token: {token}}}\n"
        ),
    )
    .unwrap();
    path
}

fn config_project(kubeconfig: PathBuf) -> Project {
    let mut p = Project::new(
        "ctx",
        "  team:\n    recipients: [me]\n    configMaps:\n      - name: cfg\n        literals: {A: b}\n",
    );
    p.kubeconfig = Some(kubeconfig);
    p
}

#[test]
fn a_malformed_kubeconfig_is_invalid_and_named_without_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nusers:\n- name: u\n  user: {token: tok-7f3a9c1e-secret\ncontexts: [\n",
    )
    .unwrap();
    let p = config_project(path.clone());
    for args in [&["apply", "--yes"][..], &["diff"][..]] {
        let out = p.run(args);
        assert_eq!(code(&out), Some(6), "{}", text(&out));
        let err = text(&out);
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("not a valid kubeconfig"), "{err}");
        assert!(
            !err.contains("tok-7f3a9c1e"),
            "the kubeconfig's content leaked: {err}"
        );
        assert!(!err.contains("create ~/.kube/config"), "{err}");
    }
    // a missing one stays not-found, naming it
    let p = config_project(dir.path().join("absent"));
    let out = p.run(&["diff"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("absent does not exist"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_wrong_token_is_an_authentication_error_naming_context_and_server() {
    let server = test_server();
    let dir = tempfile::tempdir().unwrap();
    let p = config_project(kubeconfig_for(dir.path(), &server, "not-a-valid-token"));
    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(7), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains("refused the credentials (401 Unauthorized)"),
        "{err}"
    );
    assert!(err.contains(&format!("{server} (context ctx)")), "{err}");
    assert!(
        err.contains("refresh the credentials of context ctx"),
        "{err}"
    );
    assert!(!err.contains("not-a-valid-token"), "{err}");
}

#[test]
fn a_closed_port_is_unavailable_naming_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = format!("https://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let p = config_project(kubeconfig_for(dir.path(), &server, "t"));
    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(9), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains(&format!(
            "cannot reach the API server {server} (context ctx)"
        )),
        "{err}"
    );
    assert!(err.contains("connection refused"), "{err}");
}

/// A listener that accepts connections and never answers; its URL.
fn silent_server(scheme: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            held.push(stream);
        }
    });
    format!("{scheme}://127.0.0.1:{port}")
}

#[test]
fn a_server_that_never_answers_times_out_naming_the_url() {
    // https: the TLS handshake gets no answer (connect timeout);
    // http: the request gets no answer (read timeout)
    for (scheme, var) in [("https", "KSEC_CONNECT_TIMEOUT"), ("http", "KSEC_TIMEOUT")] {
        let server = silent_server(scheme);
        let dir = tempfile::tempdir().unwrap();
        let p = config_project(kubeconfig_for(dir.path(), &server, "t"));
        let out = p.ksec(&["diff"]).env(var, "1").output().unwrap();
        assert_eq!(code(&out), Some(9), "{scheme}: {}", text(&out));
        let err = text(&out);
        assert!(
            err.contains(&format!(
                "cannot reach the API server {server} (context ctx)"
            )),
            "{err}"
        );
        assert!(err.contains("timed out"), "{err}");
        assert!(err.contains("KSEC_TIMEOUT"), "{err}");
    }
    let p = config_project(PathBuf::from("/nonexistent"));
    let out = p
        .ksec(&["diff"])
        .env("KSEC_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(6), "{}", text(&out));
    assert!(
        text(&out).contains("KSEC_TIMEOUT=\"soon\""),
        "{}",
        text(&out)
    );
}

/// A listener that accepts nothing by itself: connections wait in its
/// backlog, so `connections` counts every one ever made, whenever it is
/// asked and however early the client gave up.
struct RecordingServer {
    listener: std::net::TcpListener,
}

impl RecordingServer {
    fn new() -> RecordingServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        RecordingServer { listener }
    }

    fn url(&self) -> String {
        format!("https://{}", self.listener.local_addr().unwrap())
    }

    /// Takes the connections made so far out of the backlog; how many.
    fn connections(&self) -> usize {
        std::iter::from_fn(|| self.listener.accept().ok()).count()
    }
}

/// Two namespaces, `a-…` and `b-…`, each with a Secret from an encrypted
/// dotenv file, against `server`.
fn two_namespace_project(dir: &Path, server: &RecordingServer) -> (Project, String) {
    let (a, b) = (unique("a"), unique("b"));
    let entry = |ns: &str| {
        format!(
            "  {ns}:\n    recipients: [me]\n    secrets:\n      - name: db\n        sources: [db.enc.env]\n"
        )
    };
    let mut p = Project::new("ctx", &format!("{}{}", entry(&a), entry(&b)));
    p.kubeconfig = Some(kubeconfig_for(dir, &server.url(), "t"));
    p.secret(&a, "db");
    p.secret(&b, "db");
    (p, b)
}

#[test]
fn no_request_reaches_the_cluster_until_every_source_decrypted() {
    let dir = tempfile::tempdir().unwrap();
    let server = RecordingServer::new();
    let (p, last) = two_namespace_project(dir.path(), &server);

    // positive control: with every source readable, apply does connect
    // (and gives up on a server that never answers)
    let out = p
        .ksec(&["apply", "--yes"])
        .env("KSEC_CONNECT_TIMEOUT", "1")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(9), "{}", text(&out));
    assert!(server.connections() > 0, "the control run never connected");

    // the last namespace's source encrypted to a key ksec does not hold
    let enc = p
        .dir
        .path()
        .join("namespaces")
        .join(&last)
        .join("db.enc.env");
    let other = Key::new(dir.path(), "other");
    let plain = dir.path().join("db.env");
    std::fs::write(&plain, format!("PASSWORD={CANARY}\n")).unwrap();
    common::encrypt_to(dir.path(), &other, &plain, &enc);
    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(4), "{}", text(&out));
    assert!(text(&out).contains(&last), "{}", text(&out));
    assert_eq!(
        server.connections(),
        0,
        "a request went out before decryption failed"
    );

    // the same with a damaged file (a ciphertext character changed)
    std::fs::remove_file(&enc).unwrap();
    p.secret(&last, "db");
    let damaged = std::fs::read_to_string(&enc).unwrap().replacen(
        "PASSWORD=ENC[AES256_GCM,data:",
        "PASSWORD=ENC[AES256_GCM,data:A",
        1,
    );
    std::fs::write(&enc, damaged).unwrap();
    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(5), "{}", text(&out));
    assert_eq!(
        server.connections(),
        0,
        "a request went out before decryption failed"
    );
}

// --- 2. the README tour's kubectl path on an empty cluster ---------------

#[test]
fn the_demo_renders_into_kubectl_on_an_empty_cluster_once_its_workloads_are_applied() {
    // the demo as shipped, with namespaces of this test's own
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    common::copy_dir(&common::kube::repo().join("examples/demo"), &demo);
    let (payments, storefront) = (unique("payments"), unique("storefront"));
    let mut yaml = std::fs::read_to_string(demo.join("ksec.yaml")).unwrap();
    let mut workloads = std::fs::read_to_string(demo.join("workloads.yaml")).unwrap();
    for (old, new) in [("payments", &payments), ("storefront", &storefront)] {
        assert!(yaml.contains(&format!("\n  {old}:\n")), "{yaml}");
        yaml = yaml.replace(&format!("\n  {old}:\n"), &format!("\n  {new}:\n"));
        workloads = workloads
            .replace(&format!("name: {old}\n"), &format!("name: {new}\n"))
            .replace(
                &format!("namespace: {old}\n"),
                &format!("namespace: {new}\n"),
            );
        std::fs::rename(
            demo.join("namespaces").join(old),
            demo.join("namespaces").join(new),
        )
        .unwrap();
    }
    // and a project name of its own: other runs on this cluster are not orphans
    assert!(yaml.contains("\nproject: demo\n"), "{yaml}");
    yaml = yaml.replace(
        "\nproject: demo\n",
        &format!("\nproject: {}\n", unique("demo")),
    );
    std::fs::write(demo.join("ksec.yaml"), yaml).unwrap();
    std::fs::write(demo.join("workloads.yaml"), &workloads).unwrap();
    assert!(!namespace_exists(&payments) && !namespace_exists(&storefront));

    // kubectl apply -f workloads.yaml
    kubectl_ok(
        "admin",
        &["apply", "-f", demo.join("workloads.yaml").to_str().unwrap()],
    );
    // ksec render --env staging | kubectl apply --server-side --validate=false -f -
    let home = tempfile::tempdir().unwrap();
    let rendered = common::ksec(home.path())
        .env("KSEC_AGE_KEY_FILE", demo.join("demo-key.txt"))
        .current_dir(&demo)
        .expect_secret_output()
        .args(["render", "--env", "staging"])
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{}", text(&rendered));
    let out = kubectl_input(
        "admin",
        &["apply", "--server-side", "--validate=false", "-f", "-"],
        &rendered.stdout,
    );
    assert!(out.status.success(), "{}", text(&out));

    assert_nginx_mounted(&storefront);
    let api = kubectl_ok(
        "admin",
        &["get", "deployment", "api", "-n", &payments, "-o", "json"],
    );
    assert!(api.contains("ksec.dev/configmap-api-config"), "{api}");

    // and ksec's own apply of the same project finds nothing left to do
    let out = common::ksec(home.path())
        .env("KSEC_AGE_KEY_FILE", demo.join("demo-key.txt"))
        .env("KUBECONFIG", kubeconfig())
        .current_dir(&demo)
        .args(["diff", "--env", "staging", "--context", "admin"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", text(&out));
}
