//! `ksec apply` and `ksec diff` against a real kube-apiserver (1.20.2) with
//! RBAC and etcd, started by the project's own `scripts/kube-up.sh`.
//!
//! The control plane and the `kubectl` helpers are in `common/kube.rs`
//! (shared with `onboard_cluster.rs`). Each test works in namespaces of its
//! own.

use crate::common;

use common::Key;
use common::kube::{
    create_namespaces, kubeconfig, kubectl_apply_stdin, kubectl_ok, kubectl_stdin, objects, text,
    unique,
};
use common::terminal::{Transcript, on_terminal};
use serde_json::Value;

/// A project with one environment `test` (context `context`) and the given
/// namespaces, each with a ConfigMap `cfg` and a Secret `db`.
struct Project {
    dir: tempfile::TempDir,
    key: Key,
}

impl Project {
    fn new(context: &str, namespaces: &[&str]) -> Project {
        Project::with_config_maps(context, namespaces, "")
    }

    /// `extra` is YAML for more `configMaps` entries (indented for the list).
    fn with_config_maps(context: &str, namespaces: &[&str], extra: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let name = unique("p");
        let mut yaml = format!(
            "version: 1\nproject: {name}\nrecipients:\n  me: {}\nenvironments:\n  test:\n    context: {context}\nnamespaces:\n",
            key.recipient
        );
        for ns in namespaces {
            yaml.push_str(&format!(
                "  {ns}:\n    recipients: [me]\n    configMaps:\n      - name: cfg\n        envFiles: [app.env]\n{extra}    secrets:\n      - name: db\n        sources: [db.enc.env]\n"
            ));
            let folder = dir.path().join("namespaces").join(ns);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("app.env"), "LOG_LEVEL=info\n").unwrap();
            std::fs::write(
                folder.join("db.env"),
                format!("PASSWORD={}\n", common::CANARY),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
        let project = Project { dir, key };
        for ns in namespaces {
            let folder = project.dir.path().join("namespaces").join(ns);
            project
                .ksec(&[
                    "encrypt",
                    folder.join("db.env").to_str().unwrap(),
                    "--output",
                    folder.join("db.enc.env").to_str().unwrap(),
                ])
                .assert()
                .success();
            std::fs::remove_file(folder.join("db.env")).unwrap();
        }
        project
    }

    fn ksec(&self, args: &[&str]) -> common::Ksec {
        common::kube::ksec_project(self.dir.path(), &self.key, args)
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.dir.path().join(rel), text).unwrap();
    }
}

#[test]
fn admin_apply_creates_exactly_the_rendered_objects_and_a_second_apply_writes_nothing() {
    let ns = unique("a");
    create_namespaces(&[&ns]);
    let project = Project::new("admin", &[&ns]);
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("2 created, 0 updated, 0 unchanged"),
        "{}",
        text(&out)
    );

    let rendered = project
        .ksec(&["render", "--output", "json"])
        .expect_secret_output()
        .output()
        .unwrap();
    let rendered: Value = serde_json::from_slice(&rendered.stdout).unwrap();
    let names: Vec<String> = rendered["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["kind"].as_str().unwrap(),
                i["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    let cms = objects(&ns, "configmaps");
    let secrets = objects(&ns, "secrets");
    let mut live: Vec<String> = cms
        .keys()
        .map(|n| format!("ConfigMap/{n}"))
        .chain(
            secrets
                .keys()
                .filter(|n| !n.starts_with("default-token"))
                .map(|n| format!("Secret/{n}")),
        )
        .collect();
    live.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(live, expected);
    // the data is what render says
    for item in rendered["items"].as_array().unwrap() {
        let name = item["metadata"]["name"].as_str().unwrap();
        let obj = if item["kind"] == "Secret" {
            &secrets[name]
        } else {
            &cms[name]
        };
        assert_eq!(obj["data"], item["data"], "{name}");
        assert_eq!(
            obj["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "ksec"
        );
    }

    let versions = |ns: &str| -> Vec<String> {
        let mut v: Vec<String> = objects(ns, "configmaps")
            .values()
            .chain(objects(ns, "secrets").values())
            .map(|o| {
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    let before = versions(&ns);
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("0 created, 0 updated, 2 unchanged"),
        "{}",
        text(&out)
    );
    assert_eq!(
        versions(&ns),
        before,
        "a no-op apply changed a resourceVersion"
    );
    assert!(!text(&out).contains(common::CANARY));
}

#[test]
fn a_user_without_rights_gets_the_table_and_nothing_is_written() {
    let ns = unique("n");
    create_namespaces(&[&ns]);
    let project = Project::new("nobody", &[&ns]);
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("NAMESPACE") && t.contains("VERB") && t.contains("ALLOWED"),
        "{t}"
    );
    assert!(
        t.contains(&ns) && t.contains("secrets") && t.contains("create") && t.contains(" no"),
        "{t}"
    );
    assert!(t.contains("nothing was written"), "{t}");
    assert!(objects(&ns, "configmaps").is_empty());
    assert!(
        objects(&ns, "secrets")
            .keys()
            .all(|n| n.starts_with("default-token"))
    );

    let out = project.ksec(&["apply", "--check-access"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ALLOWED"));
}

fn grant(group: &str, ns: &str) {
    let role = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: ksec\n  namespace: {ns}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps, secrets]\n  verbs: [get, list, create, patch, delete]\n- apiGroups: [apps]\n  resources: [deployments]\n  verbs: [get, patch]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: ksec\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: ksec\nsubjects:\n- kind: Group\n  name: {group}\n  apiGroup: rbac.authorization.k8s.io\n"
    );
    kubectl_apply_stdin("admin", &role);
}

#[test]
fn rights_in_one_namespace_only_write_nothing_anywhere() {
    let allowed = unique("r");
    let denied = unique("r");
    create_namespaces(&[&allowed, &denied]);
    grant("team-a", &allowed);
    let project = Project::new("alice", &[&allowed, &denied]);
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(text(&out).contains(&denied));
    assert!(
        objects(&allowed, "configmaps").is_empty(),
        "a write happened in {allowed}"
    );
    assert!(objects(&denied, "configmaps").is_empty());

    // with the rights in both, alice can apply
    grant("team-a", &denied);
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(objects(&denied, "configmaps").len(), 1);
}

/// `Kind/name` -> resourceVersion of the ConfigMaps and Secrets of `ns`.
fn resource_versions(ns: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ["configmaps", "secrets"]
        .iter()
        .flat_map(|kind| {
            objects(ns, kind).into_iter().map(move |(name, o)| {
                let rv = o["metadata"]["resourceVersion"].as_str().unwrap();
                (format!("{kind}/{name}"), rv.to_string())
            })
        })
        .collect();
    v.sort();
    v
}

/// Reads go across namespaces at once when the user may (admin), namespace
/// by namespace when not (alice): either way a re-apply of an applied
/// project changes no object, and one limited to some namespaces sees (and
/// prunes) nothing of the others.
#[test]
fn a_no_op_apply_of_several_namespaces_writes_nothing_as_admin_or_a_team() {
    let names: Vec<String> = (0..3).map(|_| unique("m")).collect();
    let ns: Vec<&str> = names.iter().map(String::as_str).collect();
    create_namespaces(&ns);
    for n in &ns {
        grant("team-a", n);
    }
    let project = Project::new("alice", &ns);
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let before: Vec<_> = ns.iter().map(|n| resource_versions(n)).collect();
    assert!(before.iter().all(|v| v.len() == 2), "{before:?}");
    for context in ["alice", "admin"] {
        let out = project
            .ksec(&["apply", "--yes", "--context", context])
            .output()
            .unwrap();
        assert!(out.status.success(), "{context}: {}", text(&out));
        for n in &ns {
            assert!(
                text(&out).contains(&format!("{n}: 0 created, 0 updated, 2 unchanged, 0 pruned")),
                "{context}: {}",
                text(&out)
            );
        }
        let after: Vec<_> = ns.iter().map(|n| resource_versions(n)).collect();
        assert_eq!(after, before, "a no-op apply as {context} wrote");
        assert!(!text(&out).contains(common::CANARY));
    }
    // the third namespace's objects are no longer rendered: a prune limited
    // to the first two must neither count them nor delete them
    let yaml = std::fs::read_to_string(project.dir.path().join("ksec.yaml")).unwrap();
    let kept = &yaml[..yaml.find(&format!("  {}:", ns[2])).unwrap()];
    project.write("ksec.yaml", kept);
    let out = project
        .ksec(&[
            "apply",
            "--yes",
            "--prune",
            "--context",
            "admin",
            "-n",
            ns[0],
            "-n",
            ns[1],
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(ns[2]), "{}", text(&out));
    assert_eq!(resource_versions(ns[2]), before[2], "{}", text(&out));
}

#[test]
fn dry_run_persists_nothing() {
    let ns = unique("d");
    create_namespaces(&[&ns]);
    let project = Project::new("admin", &[&ns]);
    let out = project
        .ksec(&["apply", "--dry-run", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("dry run"), "{}", text(&out));
    assert!(objects(&ns, "configmaps").is_empty());
}

/// A project applied to a namespace of its own, whose ConfigMap's
/// LOG_LEVEL the field manager `manager` then takes over with the value
/// `other` (kubectl server-side apply, forced): the project, the namespace
/// and the ConfigMap's name.
fn applied_then_taken_over_by(manager: &str) -> (Project, String, String) {
    let ns = unique("c");
    create_namespaces(&[&ns]);
    let project = Project::new("admin", &[&ns]);
    project.ksec(&["apply", "--yes"]).assert().success();
    let cm = objects(&ns, "configmaps").into_iter().next().unwrap().0;
    let other = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {cm}\n  namespace: {ns}\ndata:\n  LOG_LEVEL: other\n"
    );
    kubectl_stdin(
        "admin",
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            &format!("--field-manager={manager}"),
            "-f",
            "-",
        ],
        &other,
    );
    (project, ns, cm)
}

/// The resourceVersion of `kind/name` in `ns`.
fn resource_version(ns: &str, kind: &str, name: &str) -> String {
    objects(ns, kind)[name]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_dry_run_reports_a_conflict_only_the_server_knows_and_writes_nothing() {
    let (project, ns, cm) = applied_then_taken_over_by("rival");
    let before = resource_version(&ns, "configmaps", &cm);

    let out = project
        .ksec(&["apply", "--dry-run", "--yes"])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(6), "{t}");
    assert!(
        t.contains("conflict") && t.contains("rival") && t.contains("LOG_LEVEL"),
        "{t}"
    );
    assert!(!t.contains(common::CANARY), "{t}");
    assert_eq!(resource_version(&ns, "configmaps", &cm), before);
    assert_eq!(
        objects(&ns, "configmaps")[&cm]["data"]["LOG_LEVEL"],
        "other"
    );
}

#[test]
fn prune_deletes_only_managed_objects_that_are_no_longer_rendered() {
    let ns = unique("p");
    create_namespaces(&[&ns]);
    let project = Project::new("admin", &[&ns]);
    project.ksec(&["apply", "--yes"]).assert().success();
    let first = objects(&ns, "configmaps");
    assert_eq!(first.len(), 1);
    // an object ksec does not manage, and one that leaves the project
    // (renamed; a changed value would only make a kept older version)
    kubectl_ok(
        "admin",
        &[
            "create",
            "configmap",
            "unmanaged",
            "-n",
            &ns,
            "--from-literal=a=b",
        ],
    );
    let yaml = std::fs::read_to_string(project.dir.path().join("ksec.yaml")).unwrap();
    project.write(
        "ksec.yaml",
        &yaml.replace("- name: cfg\n", "- name: cfg2\n"),
    );

    // without --prune the old one stays; diff --prune shows it would go
    project.ksec(&["apply", "--yes"]).assert().success();
    assert_eq!(objects(&ns, "configmaps").len(), 3);
    let out = project.ksec(&["diff", "--prune"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let old = first.keys().next().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("delete {ns}/ConfigMap/{old}")));

    let out = project
        .ksec(&["apply", "--prune", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let now = objects(&ns, "configmaps");
    assert!(
        !now.contains_key(old),
        "the old managed ConfigMap was not pruned"
    );
    assert!(
        now.contains_key("unmanaged"),
        "an unmanaged ConfigMap was pruned"
    );
    assert_eq!(now.len(), 2);
}

/// Prune deletes only this project's objects in this environment: objects
/// labelled `managed-by: ksec` of another project, or of this project in
/// another environment, stay. A control planted with this project's and
/// environment's labels is pruned, so the labels planted are the ones prune
/// reads.
#[test]
fn prune_leaves_managed_objects_of_another_project_or_environment() {
    let ns = unique("q");
    create_namespaces(&[&ns]);
    let project = Project::new("admin", &[&ns]);
    project.ksec(&["apply", "--yes"]).assert().success();
    let first = objects(&ns, "configmaps");
    let (cfg, live) = first.iter().next().unwrap();
    let labels = live["metadata"]["labels"].as_object().unwrap().clone();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "ksec");
    let ours = labels["ksec.dev/project"].as_str().unwrap().to_string();
    assert_eq!(labels["ksec.dev/environment"], "test");

    let plant = |name: &str, project: &str, environment: &str| {
        let mut l = labels.clone();
        l.insert("ksec.dev/project".into(), project.into());
        l.insert("ksec.dev/environment".into(), environment.into());
        let manifest = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": l,
                "annotations": {"ksec.dev/name": name},
            },
            "data": {"A": "b"},
        });
        kubectl_apply_stdin("admin", &manifest.to_string());
    };
    plant("other-project", "another-project", "test");
    plant("other-environment", &ours, "prod");
    plant("ours-not-rendered", &ours, "test");

    let out = project.ksec(&["diff", "--prune"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains(&format!("delete {ns}/ConfigMap/ours-not-rendered")),
        "{diff}"
    );
    assert!(
        !diff.contains("other-project") && !diff.contains("other-environment"),
        "{diff}"
    );

    let out = project
        .ksec(&["apply", "--prune", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut now: Vec<String> = objects(&ns, "configmaps").keys().cloned().collect();
    now.sort();
    let mut expected = vec![
        cfg.clone(),
        "other-environment".into(),
        "other-project".into(),
    ];
    expected.sort();
    assert_eq!(now, expected, "{}", text(&out));
}

#[test]
fn diff_after_drift_exits_1_and_prints_no_value() {
    let ns = unique("f");
    create_namespaces(&[&ns]);
    let project = Project::new("admin", &[&ns]);
    project.ksec(&["apply", "--yes"]).assert().success();
    let out = project.ksec(&["diff"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // drift: someone edits the Secret and the ConfigMap in the cluster
    let secret = objects(&ns, "secrets")
        .into_iter()
        .find(|(n, _)| n.starts_with("db-"))
        .unwrap()
        .0;
    let cm = objects(&ns, "configmaps").into_iter().next().unwrap().0;
    kubectl_ok(
        "admin",
        &[
            "patch",
            "secret",
            &secret,
            "-n",
            &ns,
            "--type=merge",
            "-p",
            "{\"stringData\":{\"PASSWORD\":\"drifted-value-xyz\"}}",
        ],
    );
    kubectl_ok(
        "admin",
        &[
            "patch",
            "configmap",
            &cm,
            "-n",
            &ns,
            "--type=merge",
            "-p",
            "{\"data\":{\"LOG_LEVEL\":\"trace\"}}",
        ],
    );
    let out = project.ksec(&["diff"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains(&format!("update {ns}/Secret/{secret}")), "{t}");
    assert!(t.contains("~ data.PASSWORD (changed: "), "{t}");
    assert!(
        t.contains("-trace") && t.contains("+info"),
        "ConfigMap values are diffed: {t}"
    );
    for value in [common::CANARY, "drifted-value-xyz"] {
        assert!(!t.contains(value), "a secret value was printed: {t}");
    }
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert!(
        !t.contains(&b64.encode(common::CANARY)) && !t.contains(&b64.encode("drifted-value-xyz"))
    );
}

#[test]
fn a_field_owned_by_another_manager_is_a_conflict_naming_it() {
    let (project, ns, cm) = applied_then_taken_over_by("helm");

    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(6), "{t}");
    assert!(
        t.contains("conflict") && t.contains("helm") && t.contains("LOG_LEVEL"),
        "{t}"
    );

    let out = project
        .ksec(&["apply", "--yes", "--force-conflicts"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(objects(&ns, "configmaps")[&cm]["data"]["LOG_LEVEL"], "info");
}

#[test]
fn a_mount_merges_into_a_deployment_created_by_kubectl() {
    let ns = unique("m");
    create_namespaces(&[&ns]);
    let project = Project::with_config_maps(
        "admin",
        &[&ns],
        "      - name: nginx\n        files: [nginx.conf]\n        mount: {workload: Deployment/web, container: web, path: /etc/nginx}\n",
    );
    project.write(
        &format!("namespaces/{ns}/nginx.conf"),
        "server { listen 80; }\n",
    );
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n"
    );
    kubectl_apply_stdin("admin", &deployment);
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let get = || -> Value {
        serde_json::from_str(&kubectl_ok(
            "admin",
            &["get", "deployment", "web", "-n", &ns, "-o", "json"],
        ))
        .unwrap()
    };
    let d = get();
    assert_eq!(d["spec"]["replicas"], 2, "other fields untouched");
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.25");
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/etc/nginx");
    let volume = &d["spec"]["template"]["spec"]["volumes"][0];
    let first_name = volume["configMap"]["name"].as_str().unwrap().to_string();
    assert!(first_name.starts_with("nginx-"), "{volume}");

    project.write(
        &format!("namespaces/{ns}/nginx.conf"),
        "server { listen 8080; }\n",
    );
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let d = get();
    let second_name = d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        first_name, second_name,
        "the pod template points at the new content"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
}

#[test]
fn changed_config_rolls_the_workload_on_the_server_and_unchanged_config_does_not() {
    let ns = unique("r");
    create_namespaces(&[&ns]);
    // `api` rolls Deployment/web by annotation, `nginx` is mounted into it
    let project = Project::with_config_maps(
        "admin",
        &[&ns],
        "      - name: api\n        envFiles: [api.env]\n        rollout: [Deployment/web]\n      - name: nginx\n        files: [nginx.conf]\n        mount: {workload: Deployment/web, container: web, path: /etc/nginx}\n",
    );
    project.write(&format!("namespaces/{ns}/api.env"), "MODE=a\n");
    project.write(
        &format!("namespaces/{ns}/nginx.conf"),
        "server { listen 80; }\n",
    );
    kubectl_apply_stdin(
        "admin",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n"
        ),
    );
    // the pod template on the server, and the Deployment's generation
    let template = || -> (Value, i64) {
        let d: Value = serde_json::from_str(&kubectl_ok(
            "admin",
            &["get", "deployment", "web", "-n", &ns, "-o", "json"],
        ))
        .unwrap();
        (
            d["spec"]["template"].clone(),
            d["metadata"]["generation"].as_i64().unwrap(),
        )
    };
    let apply = || {
        let out = project.ksec(&["apply", "--yes"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    };
    let annotation = |t: &Value| t["metadata"]["annotations"]["ksec.dev/configmap-api"].clone();
    let volume = |t: &Value| t["spec"]["volumes"][0]["configMap"]["name"].clone();

    apply();
    let (first, generation) = template();
    assert!(annotation(&first).is_string(), "{first}");
    assert!(volume(&first).is_string(), "{first}");

    // unchanged config: the template and its generation stay
    apply();
    assert_eq!(template(), (first.clone(), generation));

    // a changed env value: the annotation moves, the pods roll
    project.write(&format!("namespaces/{ns}/api.env"), "MODE=b\n");
    apply();
    let (second, next) = template();
    assert_ne!(annotation(&second), annotation(&first), "{second}");
    assert_eq!(volume(&second), volume(&first));
    assert_eq!(next, generation + 1);

    // a changed mounted file: the volume points at the new content
    project.write(
        &format!("namespaces/{ns}/nginx.conf"),
        "server { listen 81; }\n",
    );
    apply();
    let (third, last) = template();
    assert_ne!(volume(&third), volume(&second), "{third}");
    assert_eq!(annotation(&third), annotation(&second));
    assert_eq!(last, next + 1);
}

#[test]
fn an_unreachable_api_server_is_a_clear_error() {
    let ns = unique("u");
    let project = Project::new("admin", &[&ns]);
    // a kubeconfig whose server is a closed port
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text_cfg = std::fs::read_to_string(kubeconfig()).unwrap();
    let dead = project.dir.path().join("dead-kubeconfig");
    let server_line = text_cfg
        .lines()
        .find(|l| l.trim_start().starts_with("server:"))
        .unwrap()
        .to_string();
    std::fs::write(
        &dead,
        text_cfg.replace(
            &server_line,
            &format!("    server: https://127.0.0.1:{port}"),
        ),
    )
    .unwrap();
    let out = project
        .ksec(&["apply", "--yes"])
        .env("KUBECONFIG", &dead)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    let t = text(&out);
    assert_eq!(
        t,
        format!(
            "error: access review: cannot reach the API server https://127.0.0.1:{port} (context admin): connection refused\n  \
             hint: check that the cluster is up and that KUBECONFIG and the context are right\n"
        )
    );
}

#[test]
fn a_namespace_that_does_not_exist_is_named() {
    let ns = unique("x");
    let project = Project::new("admin", &[&ns]);
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains(&ns));
}

#[test]
fn apply_shows_a_progress_bar_on_a_terminal_and_none_in_a_pipe() {
    let ns = unique("bar");
    create_namespaces(&[&ns]);
    let project = Project::new("admin", &[&ns]);
    let script = common::which("script").expect("util-linux `script` is not installed");
    let line = format!(
        "{} --project {} apply --yes",
        assert_cmd::cargo::cargo_bin("ksec").display(),
        project.dir.path().display()
    );
    let mut child = on_terminal(&script, &line, project.dir.path(), &project.key)
        .env("KUBECONFIG", kubeconfig())
        .spawn()
        .unwrap();
    let (status, out) = Transcript::read(&mut child).type_and_wait(&mut child, b"");
    assert_eq!(status.code(), Some(0), "{out}");
    // the bar counts the two writes (ConfigMap and Secret) on the terminal
    assert!(
        out.contains("/2 objects written"),
        "no progress bar:\n{out}"
    );

    // in a pipe (CI logs): the same apply after a change shows no bar
    project.write(&format!("namespaces/{ns}/app.env"), "LOG_LEVEL=warn\n");
    let out = project.ksec(&["apply", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 created"), "{}", text(&out));
    assert!(!text(&out).contains("objects written"), "{}", text(&out));
}

#[test]
fn a_protected_environment_needs_yes_without_a_terminal_and_asks_on_one() {
    let ns = unique("q");
    create_namespaces(&[&ns]);
    let project = Project::new("admin", &[&ns]);
    let yaml = std::fs::read_to_string(project.dir.path().join("ksec.yaml")).unwrap();
    project.write(
        "ksec.yaml",
        &yaml.replace(
            "    context: admin\n",
            "    context: admin\n    protected: true\n",
        ),
    );

    // no terminal, no --yes: refused with the named exit code, nothing written
    let out = project.ksec(&["apply"]).output().unwrap();
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert!(objects(&ns, "configmaps").is_empty());

    // on a terminal: the prompt is shown; "n" refuses with exit 8 and writes
    // nothing, "y" applies
    let script = common::which("script").expect("util-linux `script` is not installed");
    let line = format!(
        "{} --project {} apply",
        assert_cmd::cargo::cargo_bin("ksec").display(),
        project.dir.path().display()
    );
    let answer = |keys: &[u8]| {
        let mut child = on_terminal(&script, &line, project.dir.path(), &project.key)
            .env("KUBECONFIG", kubeconfig())
            .spawn()
            .unwrap();
        let transcript = Transcript::read(&mut child);
        assert!(
            transcript.wait_for("apply these changes?"),
            "no prompt was shown"
        );
        transcript.type_and_wait(&mut child, keys)
    };
    let (status, out) = answer(b"n");
    assert_eq!(status.code(), Some(8), "{out}");
    assert!(out.contains("environment test is protected"), "{out}");
    assert!(out.contains("not confirmed; nothing was written"), "{out}");
    assert!(!out.contains(common::CANARY), "{out}");
    assert!(
        objects(&ns, "configmaps").is_empty(),
        "answering no wrote something"
    );
    let (status, out) = answer(b"y");
    assert_eq!(status.code(), Some(0), "{out}");
    assert_eq!(objects(&ns, "configmaps").len(), 1, "{out}");
    assert!(
        objects(&ns, "secrets").keys().any(|n| n.starts_with("db")),
        "{out}"
    );

    // --yes needs no terminal
    project.write(&format!("namespaces/{ns}/app.env"), "LOG_LEVEL=warn\n");
    project.ksec(&["apply", "--yes"]).assert().success();
    assert_eq!(objects(&ns, "configmaps").len(), 2);
}

#[test]
fn apply_summarises_per_namespace_as_json() {
    let ns = unique("j");
    create_namespaces(&[&ns]);
    let project = Project::new("admin", &[&ns]);
    let out = project
        .ksec(&["apply", "--yes", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["dryRun"], false);
    assert_eq!(summary["namespaces"][&ns]["created"], 2);
    assert_eq!(summary["namespaces"][&ns]["unchanged"], 0);
    let again = project
        .ksec(&["apply", "--yes", "--output", "json"])
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["namespaces"][&ns]["unchanged"], 2);
    assert_eq!(summary["namespaces"][&ns]["created"], 0);
}
