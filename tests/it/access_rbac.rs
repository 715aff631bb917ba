//! `ksec access` against a real kube-apiserver (1.20.2) with RBAC and the
//! clusterrole-aggregation controller (`scripts/kube-up.sh` starts it):
//! subjects bound through RoleBinding → Role, RoleBinding → ClusterRole,
//! ClusterRoleBinding, a Group, a ServiceAccount, `resourceNames`, an
//! aggregated ClusterRole (its own, and the default `edit`) and a `*` rule;
//! for every subject bound in the cluster, ksec's answer per Secret equals
//! `kubectl auth can-i get/list/watch secret/NAME --as=…`. A caller who may not list
//! the cluster-wide RBAC objects gets the incomplete answer, named; an
//! unreachable cluster still gets the git part (exit 9). The git part names
//! the recipients by their ksec.yaml names, an unnamed key shortened.

use crate::common;

use common::kube::{kubeconfig, kubectl_apply_stdin, kubectl_ok, text, unique};
use common::{Key, canary};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

/// A project with one namespace `ns` (environment `test`, context admin):
/// Secret `db` (hashSuffix off) and `api` (hash-suffixed) from encrypted
/// sources, and `empty` with no source at all.
struct Project {
    dir: tempfile::TempDir,
    key: Key,
    carol: Key,
    stranger: Key,
}

impl Project {
    fn new(ns: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "me");
        let carol = Key::new(dir.path(), "carol");
        let stranger = Key::new(dir.path(), "stranger");
        let yaml = format!(
            "version: 1\nproject: {p}\nrecipients:\n  me: {me}\n  carol: {carol}\nenvironments:\n  test: {{context: admin}}\nnamespaces:\n  {ns}:\n    recipients: [me, carol]\n    secrets:\n      - name: db\n        hashSuffix: false\n        sources: [db.enc.env]\n      - name: api\n        sources: [api.enc.env]\n      - name: empty\n        hashSuffix: false\n        sources: []\n",
            p = unique("p"),
            me = key.recipient,
            carol = carol.recipient,
        );
        std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
        let folder = dir.path().join("namespaces").join(ns);
        std::fs::create_dir_all(&folder).unwrap();
        let project = Project {
            dir,
            key,
            carol,
            stranger,
        };
        for (name, extra) in [("db", true), ("api", false)] {
            let plain = folder.join(format!("{name}.env"));
            std::fs::write(&plain, format!("PASSWORD={}\n", canary("password"))).unwrap();
            let mut args = vec![
                "encrypt".to_string(),
                plain.to_str().unwrap().to_string(),
                "--output".into(),
                folder
                    .join(format!("{name}.enc.env"))
                    .to_str()
                    .unwrap()
                    .into(),
                "-r".into(),
                project.key.recipient.clone(),
                "-r".into(),
                project.carol.recipient.clone(),
            ];
            if extra {
                // a key ksec.yaml does not name
                args.extend(["-r".into(), project.stranger.recipient.clone()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            project.ksec(&args).assert().success();
            std::fs::remove_file(&plain).unwrap();
        }
        project
    }

    fn ksec(&self, args: &[&str]) -> common::Ksec {
        common::kube::ksec_project(self.dir.path(), &self.key, args)
    }

    /// `ksec access -o json ARGS`: exit code and the parsed output.
    fn access_json(&self, args: &[&str]) -> (Option<i32>, Value, String) {
        let mut all = vec!["access", "-o", "json"];
        all.extend_from_slice(args);
        let out = self.ksec(&all).output().unwrap();
        let json = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("ksec {all:?}: not JSON ({e}): {}", text(&out)));
        (out.status.code(), json, text(&out))
    }
}

/// The RBAC objects of the test, in namespace `ns`, all names made unique
/// by `id`.
fn rbac_objects(ns: &str, id: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: reader, namespace: {ns}}}
rules:
- {{apiGroups: [""], resources: [secrets], verbs: [get]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: role-user, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: u-role-{id}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: db-only, namespace: {ns}}}
rules:
- {{apiGroups: [""], resources: [secrets], resourceNames: [db], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: named, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: db-only}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: u-named-{id}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: lister-{id}}}
rules:
- {{apiGroups: [""], resources: [secrets], verbs: [list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: group-and-sa, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: lister-{id}}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: g-{id}}}
- {{kind: ServiceAccount, name: deployer}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: star-{id}}}
rules:
- {{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: star-{id}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: star-{id}}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: u-star-{id}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: agg-part-{id}
  labels: {{ksec-test/agg-{id}: "true"}}
rules:
- {{apiGroups: [""], resources: [secrets], verbs: [get]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: agg-{id}}}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {{ksec-test/agg-{id}: "true"}}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: aggregated, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agg-{id}}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: u-agg-{id}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: editor, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: u-edit-{id}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: rbac-reader, namespace: {ns}}}
rules:
- {{apiGroups: [rbac.authorization.k8s.io], resources: [roles, rolebindings], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: alice-reads-rbac, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: rbac-reader}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}}
"#
    )
}

/// Wait (bounded) until the aggregation controller filled `agg-ID`.
fn wait_for_aggregation(id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let role: Value = serde_json::from_str(&kubectl_ok(
            "admin",
            &["get", "clusterrole", &format!("agg-{id}"), "-o", "json"],
        ))
        .unwrap();
        if role["rules"].as_array().is_some_and(|r| !r.is_empty()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "ClusterRole agg-{id} still has no rules after 60 s: is kube-controller-manager running (scripts/kube-up.sh)?"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (kind, name, namespace) as ksec's JSON names a subject.
type Subj = (String, String, String);

fn subj(kind: &str, name: &str, ns: &str) -> Subj {
    (kind.into(), name.into(), ns.into())
}

/// Every subject bound in the cluster that can matter in `ns`: those of the
/// ClusterRoleBindings and of the RoleBindings of `ns` (a ServiceAccount
/// without a namespace defaulted as the authorizer does), and the
/// superuser group.
fn bound_subjects(ns: &str) -> BTreeSet<Subj> {
    let mut out = BTreeSet::from([subj("Group", "system:masters", "")]);
    for (kind, scope) in [("clusterrolebindings", None), ("rolebindings", Some(ns))] {
        let mut args = vec!["get", kind, "-o", "json"];
        if let Some(ns) = scope {
            args.extend(["-n", ns]);
        }
        let list: Value = serde_json::from_str(&kubectl_ok("admin", &args)).unwrap();
        for b in list["items"].as_array().unwrap() {
            for s in b["subjects"].as_array().into_iter().flatten() {
                let kind = s["kind"].as_str().unwrap();
                let name = s["name"].as_str().unwrap();
                let sns = match (kind, s["namespace"].as_str()) {
                    ("ServiceAccount", Some(n)) => n,
                    ("ServiceAccount", None) => scope.unwrap_or(""),
                    _ => "",
                };
                if kind == "ServiceAccount" && sns.is_empty() {
                    continue;
                }
                out.insert(subj(kind, name, sns));
            }
        }
    }
    out
}

/// ksec's readers of one Secret: subject → verbs.
fn readers(secret: &Value) -> BTreeMap<Subj, Vec<String>> {
    secret["cluster"]["readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                subj(
                    r["kind"].as_str().unwrap(),
                    r["name"].as_str().unwrap(),
                    r["namespace"].as_str().unwrap_or(""),
                ),
                r["verbs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// The groups the API server gives an impersonated subject besides its
/// own: every authenticated user is in `system:authenticated`, a service
/// account also in `system:serviceaccounts` and `system:serviceaccounts:NS`.
fn implied(s: &Subj) -> Vec<Subj> {
    let mut out = vec![subj("Group", "system:authenticated", "")];
    if s.0 == "ServiceAccount" {
        out.push(subj("Group", "system:serviceaccounts", ""));
        out.push(subj(
            "Group",
            &format!("system:serviceaccounts:{}", s.2),
            "",
        ));
    }
    out
}

/// What ksec says `s` may do with the Secret: its own verbs and those of
/// the groups the API server puts it in.
fn ksec_allows(readers: &BTreeMap<Subj, Vec<String>>, s: &Subj, verb: &str) -> bool {
    std::iter::once(s.clone())
        .chain(implied(s))
        .any(|x| readers.get(&x).is_some_and(|v| v.iter().any(|v| v == verb)))
}

/// `kubectl auth can-i VERB secret/NAME -n NS` as subject `s` (a group as
/// a made-up user in that group and in `system:authenticated`).
fn can_i(s: &Subj, verb: &str, ns: &str, name: &str) -> bool {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig())
        .args(["--context", "admin", "auth", "can-i", verb])
        .arg(format!("secret/{name}"))
        .args(["-n", ns]);
    match s.0.as_str() {
        "User" => cmd.arg(format!("--as={}", s.1)),
        // impersonating with groups gives exactly those groups: add the one
        // every user has, which lets kubectl make its access review
        "Group" => cmd
            .arg("--as=ksec-probe-not-bound")
            .arg(format!("--as-group={}", s.1))
            .arg("--as-group=system:authenticated"),
        _ => cmd.arg(format!("--as=system:serviceaccount:{}:{}", s.2, s.1)),
    };
    let out = cmd.output().expect("kubectl runs");
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        answer == "yes" || answer == "no",
        "kubectl auth can-i {s:?}: {answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    answer == "yes"
}

/// The Secret of the answer named `declared` in ksec.yaml.
fn secret<'a>(answer: &'a Value, declared: &str) -> &'a Value {
    answer["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["declaredName"] == declared)
        .unwrap_or_else(|| panic!("no Secret {declared} in {answer:#}"))
}

fn short(key: &str) -> String {
    format!("{}…{}", &key[..12], &key[key.len() - 6..])
}

#[test]
fn access_equals_kubectl_auth_can_i_for_every_bound_subject() {
    let ns = unique("acc");
    let id = unique("r");
    kubectl_apply_stdin("admin", &rbac_objects(&ns, &id));
    wait_for_aggregation(&id);
    let project = Project::new(&ns);

    let (code, answer, out) = project.access_json(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains(common::canary::MARKER), "{out}");
    assert_eq!(answer["cluster"]["complete"], true, "{answer:#}");
    assert_eq!(answer["cluster"]["context"], "admin");

    // the git part: names from ksec.yaml, an unnamed key shortened
    let db = secret(&answer, "db");
    assert_eq!(db["name"], "db");
    assert_eq!(
        db["git"]["sources"][0]["file"],
        format!("namespaces/{ns}/db.enc.env")
    );
    let mut want = vec![
        "carol".to_string(),
        "me".into(),
        short(&project.stranger.recipient),
    ];
    want.sort();
    assert_eq!(
        db["git"]["sources"][0]["recipients"],
        serde_json::json!(want)
    );
    let api = secret(&answer, "api");
    let api_name = api["name"].as_str().unwrap().to_string();
    assert!(
        api_name.starts_with("api-"),
        "the rendered name: {api_name}"
    );
    assert_eq!(
        api["git"]["sources"][0]["recipients"],
        serde_json::json!(["carol", "me"])
    );
    let empty = secret(&answer, "empty");
    assert_eq!(empty["git"]["encrypted"], false);
    assert_eq!(empty["git"]["sources"], serde_json::json!([]));

    // what the test bound, as ksec reads it
    let r = readers(db);
    let u = |n: &str| subj("User", &format!("{n}-{id}"), "");
    assert_eq!(r.get(&u("u-role")), Some(&vec!["get".to_string()]));
    assert_eq!(
        r.get(&u("u-named")),
        Some(&vec!["get".to_string(), "list".into(), "watch".into()])
    );
    assert_eq!(
        r.get(&subj("Group", &format!("g-{id}"), "")),
        Some(&vec!["list".to_string(), "watch".into()])
    );
    assert_eq!(
        r.get(&subj("ServiceAccount", "deployer", &ns)),
        Some(&vec!["list".to_string(), "watch".into()])
    );
    assert!(r.contains_key(&u("u-star")) && r.contains_key(&u("u-agg")));
    assert!(
        r.contains_key(&u("u-edit")),
        "the default edit role, aggregated"
    );
    let agg_via = db["cluster"]["readers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == format!("u-agg-{id}"))
        .unwrap()["via"][0]
        .clone();
    assert_eq!(
        agg_via,
        format!("RoleBinding {ns}/aggregated → ClusterRole agg-{id} (aggregated)")
    );
    assert_eq!(
        readers(api).get(&u("u-named")),
        None,
        "resourceNames: [db] does not reach another Secret"
    );
    assert!(readers(empty).contains_key(&subj("Group", "system:masters", "")));

    // every subject bound in the cluster, every Secret: ksec equals can-i
    let subjects: Vec<Subj> = bound_subjects(&ns).into_iter().collect();
    assert!(
        subjects.len() > 10,
        "the default bindings too: {subjects:?}"
    );
    let secrets = [
        ("db", "db".to_string()),
        ("api", api_name),
        ("empty", "empty".into()),
    ];
    // get, and list/watch filtered to the Secret's name (what `resourceNames`
    // can grant), for every subject and Secret
    let checks: Vec<(Subj, &str, String, &str)> = subjects
        .iter()
        .flat_map(|s| {
            secrets.iter().flat_map(move |(declared, name)| {
                ["get", "list", "watch"]
                    .into_iter()
                    .map(move |verb| (s.clone(), *declared, name.clone(), verb))
            })
        })
        .collect();
    let answers: Vec<bool> = std::thread::scope(|scope| {
        let chunks: Vec<_> = checks
            .chunks(checks.len().div_ceil(4))
            .map(|chunk| {
                let ns = &ns;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(s, _, name, verb)| can_i(s, verb, ns, name))
                        .collect::<Vec<bool>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut mismatches = Vec::new();
    for ((s, declared, name, verb), server) in checks.iter().zip(answers) {
        let ours = ksec_allows(&readers(secret(&answer, declared)), s, verb);
        if ours != server {
            mismatches.push((s.clone(), *declared, name.clone(), *verb, ours, server));
        }
    }
    if !mismatches.is_empty() {
        // the cluster is shared: a binding another test made or removed in
        // between would differ once; ask both again
        let (_, again, _) = project.access_json(&[]);
        mismatches.retain(|(s, declared, name, verb, _, _)| {
            ksec_allows(&readers(secret(&again, declared)), s, verb) != can_i(s, verb, &ns, name)
        });
    }
    assert!(
        mismatches.is_empty(),
        "ksec access and kubectl auth can-i differ (subject, secret, name, verb, ksec, can-i): {mismatches:#?}"
    );

    // --secret: one Secret, by its name in ksec.yaml
    let (code, only, out) = project.access_json(&["--secret", "db"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(only["secrets"].as_array().unwrap().len(), 1);

    // the table
    let out = project.ksec(&["access", "-o", "table"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains(&format!("Secret {ns}/db\n")), "{table}");
    assert!(table.contains("in git: no encrypted source"), "{table}");
    assert!(
        table.contains(&format!(
            "namespaces/{ns}/db.enc.env  {}, carol, me\n",
            short(&project.stranger.recipient)
        )),
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.contains(&format!("User u-role-{id} ")))
        .unwrap_or_else(|| panic!("no row for u-role-{id}: {table}"))
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        row,
        vec![
            format!("User u-role-{id}"),
            "get".into(),
            format!("RoleBinding {ns}/role-user → Role {ns}/reader")
        ]
    );
    assert!(!table.contains("INCOMPLETE"), "{table}");
}

#[test]
fn bindings_of_one_namespace_do_not_reach_another() {
    let (ns, other) = (unique("acc"), unique("acc"));
    let id = unique("r");
    kubectl_apply_stdin("admin", &rbac_objects(&ns, &id));
    kubectl_apply_stdin(
        "admin",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {other}}}\n"),
    );
    let project = Project::new(&ns);
    // a second namespace with a Secret of the same name (the same sources)
    let root = project.dir.path();
    std::fs::create_dir_all(root.join("namespaces").join(&other)).unwrap();
    std::fs::copy(
        root.join(format!("namespaces/{ns}/db.enc.env")),
        root.join(format!("namespaces/{other}/db.enc.env")),
    )
    .unwrap();
    let mut yaml = std::fs::read_to_string(root.join("ksec.yaml")).unwrap();
    yaml.push_str(&format!(
        "  {other}:\n    recipients: [me, carol]\n    secrets:\n      - name: db\n        hashSuffix: false\n        sources: [db.enc.env]\n"
    ));
    std::fs::write(root.join("ksec.yaml"), yaml).unwrap();

    let (code, answer, out) = project.access_json(&[]);
    assert_eq!(code, Some(0), "{out}");
    let db = |namespace: &str| {
        answer["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["namespace"] == namespace && s["name"] == "db")
            .unwrap_or_else(|| panic!("no Secret {namespace}/db in {answer:#}"))
    };
    let u = subj("User", &format!("u-role-{id}"), "");
    for (namespace, expected) in [(&ns, true), (&other, false)] {
        assert_eq!(
            ksec_allows(&readers(db(namespace)), &u, "get"),
            expected,
            "{namespace}: {answer:#}"
        );
        assert_eq!(can_i(&u, "get", namespace, "db"), expected, "{namespace}");
    }
}

#[test]
fn a_caller_who_may_not_list_cluster_rbac_gets_an_incomplete_answer() {
    let ns = unique("acc");
    let id = unique("r");
    kubectl_apply_stdin("admin", &rbac_objects(&ns, &id));
    let project = Project::new(&ns);
    // alice may list the Roles and RoleBindings of the namespace, nothing
    // cluster-wide
    let (code, answer, out) = project.access_json(&["--context", "alice"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(answer["cluster"]["complete"], false, "{answer:#}");
    let unknown: Vec<&str> = answer["cluster"]["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert!(
        unknown.contains(&"cannot list clusterrolebindings: forbidden")
            && unknown.contains(&"cannot list clusterroles: forbidden"),
        "{unknown:?}"
    );
    let db = secret(&answer, "db");
    assert_eq!(db["cluster"]["complete"], false);
    let r = readers(db);
    // what is known is shown, nothing is guessed
    assert_eq!(
        r.get(&subj("User", &format!("u-role-{id}"), "")),
        Some(&vec!["get".to_string()])
    );
    assert!(!r.contains_key(&subj("User", &format!("u-star-{id}"), "")));
    assert!(!r.contains_key(&subj("Group", &format!("g-{id}"), "")));
    assert!(
        db["cluster"]["unknown"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u
                == &format!(
                    "the ClusterRole lister-{id} of RoleBinding {ns}/group-and-sa could not be read"
                )),
        "{db:#}"
    );

    let out = project
        .ksec(&["access", "--context", "alice"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("in the cluster (context alice, INCOMPLETE)"),
        "{table}"
    );
    assert!(
        table.contains("INCOMPLETE: the cluster part shows only what your credentials may read")
            && table.contains("  cannot list clusterrolebindings: forbidden"),
        "{table}"
    );
}

#[test]
fn without_an_identity_the_declared_names_are_used_and_what_that_leaves_open_is_named() {
    let ns = unique("acc");
    let id = unique("r");
    kubectl_apply_stdin("admin", &rbac_objects(&ns, &id));
    let project = Project::new(&ns);
    // no key variable, no key file under HOME: nothing can be decrypted
    let out = common::ksec(project.dir.path())
        .env("KUBECONFIG", kubeconfig())
        .arg("--project")
        .arg(project.dir.path())
        .args(["access", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: the sources were not decrypted")
            && err.contains("no age identity found"),
        "{err}"
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    // db has no hash suffix: its name, and the rule limited to it, are known
    let db = secret(&answer, "db");
    assert_eq!(db["name"], "db");
    assert_eq!(db["cluster"]["complete"], true, "{db:#}");
    assert_eq!(
        readers(db).get(&subj("User", &format!("u-named-{id}"), "")),
        Some(&vec!["get".to_string(), "list".into(), "watch".into()])
    );
    // api's hash suffix needs its values: the name-limited rule is open
    let api = secret(&answer, "api");
    assert_eq!(api["name"], Value::Null);
    assert_eq!(api["cluster"]["complete"], false);
    assert_eq!(
        api["cluster"]["unknown"],
        serde_json::json!([format!(
            "RoleBinding {ns}/named → Role {ns}/db-only limits Secrets by name, and this Secret's name is not known"
        )])
    );
    assert!(!readers(api).contains_key(&subj("User", &format!("u-named-{id}"), "")));
    assert_eq!(
        readers(api).get(&subj("User", &format!("u-role-{id}"), "")),
        Some(&vec!["get".to_string()])
    );
    assert_eq!(
        api["git"]["sources"][0]["recipients"],
        serde_json::json!(["carol", "me"])
    );
}

#[test]
fn an_unreachable_cluster_still_shows_the_git_part_and_exits_9() {
    let ns = unique("acc");
    let project = Project::new(&ns);
    // a kubeconfig whose server nothing listens on
    let config = project.dir.path().join("unreachable.kubeconfig");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        &config,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: admin\n  context: {{cluster: gone, user: u}}\ncurrent-context: admin\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = project.ksec(args);
        cmd.env("KUBECONFIG", &config)
            .env("KSEC_CONNECT_TIMEOUT", "2");
        cmd.output().unwrap()
    };
    let out = run(&["access", "-o", "json"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["cluster"]["known"], false);
    assert_eq!(secret(&answer, "db")["cluster"]["known"], false);
    assert_eq!(
        secret(&answer, "api")["git"]["sources"][0]["recipients"],
        serde_json::json!(["carol", "me"])
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the cluster part is unknown"), "{err}");

    let out = run(&["access"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("in the cluster (context admin): unknown") && table.contains("carol, me"),
        "{table}"
    );
}
