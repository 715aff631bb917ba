//! One `ksec apply` / `ksec diff` across several clusters, against two real,
//! separate control planes (`common::kube::kubeconfig` and `kubeconfig_2`)
//! kept in one kubeconfig the way users keep several clusters: contexts
//! `c1-admin`, `c2-alice`, … (`merged_kubeconfig`). Environment `one` is
//! bound to cluster 1, `two` to cluster 2.

use crate::common;

use common::Key;
use common::kube::{
    kubeconfig, kubeconfig_2, kubectl_on, merged_kubeconfig, resource_versions, text, unique,
};
use common::private::Private;
use common::proxy::{Answer, Fault, Proxy};
use common::terminal::{Transcript, on_terminal};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A project with environments `one` (cluster 1) and `two` (cluster 2),
/// both as the same user (`admin`, `alice`, …), and one namespace in both
/// with `config_maps` ConfigMaps and a Secret `db`.
struct Fleet {
    dir: tempfile::TempDir,
    key: Key,
    ns: String,
    /// The kubeconfig with both clusters.
    config: PathBuf,
}

impl Fleet {
    fn new(user: &str, config_maps: usize, protected: bool) -> Fleet {
        Fleet::with_second(user, config_maps, protected, kubeconfig_2())
    }

    /// `second`: the kubeconfig ksec reaches cluster 2 with (a proxy's).
    fn with_second(user: &str, config_maps: usize, protected: bool, second: &Path) -> Fleet {
        Fleet::with_clusters(user, config_maps, protected, second, kubeconfig_2())
    }

    /// `second` as above; `admin_2`: the kubeconfig of cluster 2 itself
    /// (its namespace is created there).
    fn with_clusters(
        user: &str,
        config_maps: usize,
        protected: bool,
        second: &Path,
        admin_2: &Path,
    ) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let ns = unique("mc");
        let config = merged_kubeconfig(dir.path(), &[("c1", kubeconfig()), ("c2", second)]);
        let mut yaml = format!(
            "version: 1\nproject: {}\nrecipients:\n  me: {}\nenvironments:\n",
            unique("p"),
            key.recipient
        );
        for (env, cluster) in [("one", "c1"), ("two", "c2")] {
            yaml.push_str(&format!(
                "  {env}:\n    context: {cluster}-{user}\n    protected: {protected}\n"
            ));
        }
        yaml.push_str(&format!(
            "namespaces:\n  {ns}:\n    recipients: [me]\n    configMaps:\n"
        ));
        for i in 0..config_maps {
            yaml.push_str(&format!(
                "      - name: c{i}\n        envFiles: [app.env]\n"
            ));
        }
        yaml.push_str("    secrets:\n      - name: db\n        sources: [db.enc.env]\n");
        std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
        let folder = dir.path().join("namespaces").join(&ns);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("app.env"), "LOG_LEVEL=info\n").unwrap();
        let plain = folder.join("db.env");
        std::fs::write(&plain, format!("PASSWORD={}\n", common::canary("fleet"))).unwrap();
        common::encrypt_to(dir.path(), &key, &plain, &folder.join("db.enc.env"));
        std::fs::remove_file(plain).unwrap();
        for cluster in [kubeconfig(), admin_2] {
            kubectl_ok_on(cluster, &["create", "namespace", &ns]);
        }
        Fleet {
            dir,
            key,
            ns,
            config,
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        common::ksec_with(self.dir.path(), &self.key)
            .env("KUBECONFIG", &self.config)
            .arg("--project")
            .arg(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// `Kind/name` -> resourceVersion of the project's objects on a cluster.
    fn live(&self, cluster: &Path) -> BTreeMap<String, String> {
        let out = kubectl_ok_on(
            cluster,
            &["get", "configmaps,secrets", "-n", &self.ns, "-o", "json"],
        );
        let list: Value = serde_json::from_str(&out).unwrap();
        let items = list["items"].as_array().unwrap();
        resource_versions(items.iter().filter(|o| {
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"].as_str() == Some("ksec")
        }))
    }

    /// Let group team-a (alice) read and write ConfigMaps and Secrets of
    /// the namespace on one cluster.
    fn grant(&self, cluster: &Path) {
        let ns = &self.ns;
        let rbac = format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: ksec\n  namespace: {ns}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps, secrets]\n  verbs: [get, list, create, patch, delete]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: ksec\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: ksec\nsubjects:\n- kind: Group\n  name: team-a\n  apiGroup: rbac.authorization.k8s.io\n"
        );
        let path = self.dir.path().join("rbac.yaml");
        std::fs::write(&path, rbac).unwrap();
        kubectl_ok_on(cluster, &["apply", "-f", path.to_str().unwrap()]);
    }

    fn set_log_level(&self, level: &str) {
        let file = self
            .dir
            .path()
            .join("namespaces")
            .join(&self.ns)
            .join("app.env");
        std::fs::write(file, format!("LOG_LEVEL={level}\n")).unwrap();
    }

    /// The report of an apply `--all-envs --output json` of `objects`
    /// objects each where cluster 2 failed mid-write and cluster 1
    /// completed: exit 9, the JSON and stderr say so; cluster 2's applied,
    /// failed (object, error) and not attempted objects.
    #[allow(clippy::type_complexity)]
    fn failed_on_two(
        &self,
        out: &std::process::Output,
        objects: usize,
    ) -> (Vec<String>, Vec<(String, String)>, Vec<String>) {
        let t = text(out);
        assert_eq!(out.status.code(), Some(9), "{t}");
        assert!(!t.contains("panicked"), "{t}");
        assert!(!t.contains(common::canary::MARKER), "{t}");
        let doc = json(out);
        let clusters = doc["clusters"].as_array().unwrap();
        assert_eq!(clusters.len(), 2, "{doc}");
        let (one, two) = (&clusters[0], &clusters[1]);
        assert_eq!(
            (&one["environment"], &one["ok"]),
            (&"one".into(), &true.into()),
            "{doc}"
        );
        assert_eq!(one["namespaces"][&self.ns]["created"], objects, "{doc}");
        assert_eq!(
            (&two["environment"], &two["context"], &two["ok"]),
            (&"two".into(), &"c2-admin".into(), &false.into()),
            "{doc}"
        );
        let names = |v: &Value| -> Vec<String> {
            let list = v.as_array().unwrap_or_else(|| panic!("{doc}"));
            list.iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect()
        };
        let applied = names(&two["applied"]);
        let skipped = names(&two["notAttempted"]);
        let failed: Vec<(String, String)> = two["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let field = |k: &str| f[k].as_str().unwrap().to_string();
                (field("object"), field("error"))
            })
            .collect();
        assert!(!failed.is_empty(), "{doc}");
        assert_eq!(
            applied.len() + failed.len() + skipped.len(),
            objects,
            "{doc}"
        );
        let err = common::stderr(out);
        assert!(
            err.contains("1 of 2 clusters failed while writing; applied in full: environment one (context c1-admin)"),
            "{t}"
        );
        assert!(
            err.contains("environment two (context c2-admin): FAILED"),
            "{t}"
        );
        (applied, failed, skipped)
    }
}

fn kubectl_ok_on(config: &Path, args: &[&str]) -> String {
    let out = kubectl_on(config, "admin", args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(out)))
}

#[test]
fn a_user_denied_on_one_cluster_gets_exit_7_and_no_write_on_either() {
    let fleet = Fleet::new("alice", 1, false);
    fleet.grant(kubeconfig());
    fleet.grant(kubeconfig_2());
    let out = fleet.run(&["apply", "--all-envs", "--yes"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for label in [
        "environment one (context c1-alice):",
        "environment two (context c2-alice):",
    ] {
        assert!(t.contains(label), "{t}");
    }
    assert_eq!(t.matches("2 created, 0 updated").count(), 2, "{t}");
    let before = (fleet.live(kubeconfig()), fleet.live(kubeconfig_2()));
    assert_eq!((before.0.len(), before.1.len()), (2, 2), "{t}");

    // alice loses her rights on cluster 2 only; a change waits for both
    kubectl_ok_on(
        kubeconfig_2(),
        &["delete", "rolebinding", "ksec", "-n", &fleet.ns],
    );
    fleet.set_log_level("debug");
    let out = fleet.run(&["apply", "--env", "one", "--env", "two", "--yes"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(7), "{t}");
    let err = common::stderr(&out);
    let header = err.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("CLUSTER") && header.contains("NAMESPACE") && header.contains("ALLOWED"),
        "{t}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("two/c2-alice ")
            && l.contains("configmaps")
            && l.contains(" no")),
        "{t}"
    );
    assert!(
        !err.lines()
            .any(|l| l.starts_with("one/c1-alice ") && l.contains(" no ")),
        "{t}"
    );
    assert!(
        t.contains("permissions are missing in environment two (context c2-alice); nothing was written to any of the 2 clusters"),
        "{t}"
    );
    assert_eq!(
        (fleet.live(kubeconfig()), fleet.live(kubeconfig_2())),
        before,
        "a write happened: {t}"
    );

    // --check-access prints the table of both clusters on stdout
    let out = fleet.run(&["apply", "--all-envs", "--check-access"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let table = common::stdout(&out);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("one/c1-alice ") && l.contains(" yes")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("two/c2-alice ") && l.contains(" no")),
        "{table}"
    );

    // cluster 1 alone can still be applied
    let out = fleet.run(&["apply", "--env", "one", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_ne!(fleet.live(kubeconfig()), before.0);
    assert_eq!(fleet.live(kubeconfig_2()), before.1);
    assert!(!text(&out).contains(common::canary::MARKER));
}

#[test]
fn a_cluster_that_stops_answering_mid_apply_is_reported_and_the_other_completes() {
    let proxy = Proxy::start(kubeconfig_2());
    let fleet = Fleet::with_second("admin", 6, false, &proxy.kubeconfig);
    // cluster 2 takes one real write, then drops every connection that
    // carries one, as a server killed mid-apply does
    proxy.fault(
        Some(1),
        common::proxy::is_write,
        Fault::Delay(Duration::ZERO),
    );
    proxy.fault(None, common::proxy::is_write, Fault::ResetBeforeAnswer);
    let out = fleet.run(&["apply", "--all-envs", "--yes", "--output", "json"]);
    let t = text(&out);
    let (applied, _, _) = fleet.failed_on_two(&out, 7);
    assert_eq!(applied.len(), 1, "{t}");
    // what the report says is what each cluster holds
    assert_eq!(fleet.live(kubeconfig()).len(), 7);
    let held = fleet.live(kubeconfig_2());
    assert_eq!(held.len(), 1, "{held:?}");
    let id = &applied[0];
    assert!(
        held.keys().any(|k| id.ends_with(k.as_str())),
        "{id} vs {held:?}"
    );
    let err = common::stderr(&out);
    assert!(
        err.contains("environment one (context c1-admin): done, 7 written"),
        "{t}"
    );

    // once cluster 2 answers again, a rerun writes only what is missing there
    proxy.clear_faults();
    let out = fleet.run(&["apply", "--all-envs", "--yes"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("done, 0 written"), "{t}");
    assert!(t.contains("done, 6 written"), "{t}");
    let out = fleet.run(&["diff", "--all-envs"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn diff_all_envs_exits_1_and_names_the_drifting_cluster_in_one_json_document() {
    let fleet = Fleet::new("admin", 1, false);
    // a dry run across both persists nothing and counts for each
    let out = fleet.run(&["apply", "--all-envs", "--dry-run", "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["dryRun"], true);
    for (i, env) in ["one", "two"].iter().enumerate() {
        assert_eq!(doc["clusters"][i]["environment"], *env, "{doc}");
        assert_eq!(
            doc["clusters"][i]["namespaces"][&fleet.ns]["created"], 2,
            "{doc}"
        );
    }
    assert!(fleet.live(kubeconfig()).is_empty() && fleet.live(kubeconfig_2()).is_empty());
    let out = fleet.run(&["apply", "--all-envs", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = fleet.run(&["diff", "--all-envs", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["drift"], false);

    // someone changes the Secret's value on cluster 2 by hand
    let secret = fleet
        .live(kubeconfig_2())
        .into_keys()
        .find_map(|k| k.strip_prefix("Secret/").map(str::to_string))
        .unwrap();
    let changed = common::canary("by-hand");
    let patch = serde_json::json!({"stringData": {"PASSWORD": changed}}).to_string();
    kubectl_ok_on(
        kubeconfig_2(),
        &[
            "patch", "secret", &secret, "-n", &fleet.ns, "--type", "merge", "-p", &patch,
        ],
    );
    let out = fleet.run(&["diff", "--all-envs", "--output", "json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(!t.contains(common::canary::MARKER), "{t}");
    let doc = json(&out);
    assert_eq!(doc["drift"], true);
    let clusters = doc["clusters"].as_array().unwrap();
    assert_eq!(clusters[0]["environment"], "one");
    assert_eq!(clusters[0]["drift"], false);
    assert_eq!(clusters[0]["differences"], serde_json::json!([]));
    assert_eq!(clusters[1]["environment"], "two");
    assert_eq!(clusters[1]["context"], "c2-admin");
    assert_eq!(
        clusters[1]["differences"],
        serde_json::json!([{"action": "update", "namespace": fleet.ns, "kind": "Secret",
                            "name": secret, "keys": ["data.PASSWORD"]}]),
        "{doc}"
    );
    assert!(
        common::stderr(&out).contains(
            "1 of 2 clusters differ from the rendered manifests: environment two (context c2-admin)"
        ),
        "{t}"
    );

    // the text form names the cluster above its differences
    let out = fleet.run(&["diff", "--all-envs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = common::stdout(&out);
    assert!(
        stdout.starts_with(&format!(
            "environment two (context c2-admin):\n  update {}/Secret/{secret}\n    ~ data.PASSWORD (changed: ",
            fleet.ns
        )),
        "{stdout}"
    );
    // one environment alone keeps the output it always had
    let out = fleet.run(&["diff", "--env", "two"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        common::stdout(&out).starts_with(&format!("update {}/Secret/{secret}\n", fleet.ns)),
        "{}",
        text(&out)
    );
    let out = fleet.run(&["diff", "--env", "one"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // and its JSON is the same document, with one cluster
    let out = fleet.run(&["diff", "--env", "two", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["clusters"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(
        doc["clusters"][0]["differences"][0]["keys"],
        serde_json::json!(["data.PASSWORD"])
    );
}

#[test]
fn protected_environments_are_listed_once_and_need_yes_without_a_terminal() {
    let fleet = Fleet::new("admin", 1, true);
    let out = fleet.run(&["apply", "--all-envs"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(8), "{t}");
    assert!(
        t.contains("environments one, two are protected and there is no terminal to confirm on; nothing was written to any cluster"),
        "{t}"
    );
    assert!(fleet.live(kubeconfig()).is_empty() && fleet.live(kubeconfig_2()).is_empty());

    // on a terminal: one question listing both; "n" writes nothing anywhere
    let script = common::which("script").expect("util-linux `script` is not installed");
    let line = format!(
        "{} --project {} apply --all-envs",
        assert_cmd::cargo::cargo_bin("ksec").display(),
        fleet.dir.path().display()
    );
    let answer = |keys: &[u8]| {
        let mut child = on_terminal(&script, &line, fleet.dir.path(), &fleet.key)
            .env("KUBECONFIG", &fleet.config)
            .spawn()
            .unwrap();
        let transcript = Transcript::read(&mut child);
        assert!(
            transcript.wait_for("apply these changes to every cluster listed?"),
            "no prompt was shown"
        );
        transcript.type_and_wait(&mut child, keys)
    };
    let (status, out) = answer(b"n");
    assert_eq!(status.code(), Some(8), "{out}");
    assert!(
        out.contains("environments one, two are protected. About to:"),
        "{out}"
    );
    assert!(
        out.contains("environment one (context c1-admin): apply 2 objects, delete 0"),
        "{out}"
    );
    assert!(
        out.contains("environment two (context c2-admin): apply 2 objects, delete 0"),
        "{out}"
    );
    assert_eq!(out.matches("listed? [y/N]").count(), 1, "{out}");
    assert!(
        out.contains("not confirmed; nothing was written to any cluster"),
        "{out}"
    );
    assert!(!out.contains(common::canary::MARKER), "{out}");
    assert!(fleet.live(kubeconfig()).is_empty() && fleet.live(kubeconfig_2()).is_empty());
    let (status, out) = answer(b"y");
    assert_eq!(status.code(), Some(0), "{out}");
    let held = || {
        (
            fleet.live(kubeconfig()).len(),
            fleet.live(kubeconfig_2()).len(),
        )
    };
    assert_eq!(held(), (2, 2), "{out}");

    // --yes needs no terminal
    fleet.set_log_level("warn");
    let out = fleet.run(&["apply", "--all-envs", "--yes"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(
        t.matches("1 created, 0 updated, 1 unchanged").count(),
        2,
        "{t}"
    );
    assert_eq!(held(), (3, 3), "{t}");
}

#[test]
fn a_source_that_fails_to_decrypt_for_one_environment_stops_every_cluster() {
    let fleet = Fleet::new("admin", 1, false);
    // a namespace of environment two only, whose secret is encrypted to
    // someone else
    let other = Key::new(fleet.dir.path(), "other");
    let ns2 = unique("mc");
    let folder = fleet.dir.path().join("namespaces").join(&ns2);
    std::fs::create_dir_all(&folder).unwrap();
    let plain = folder.join("x.env");
    std::fs::write(&plain, format!("TOKEN={}\n", common::canary("other"))).unwrap();
    common::encrypt_to(fleet.dir.path(), &other, &plain, &folder.join("x.enc.env"));
    std::fs::remove_file(&plain).unwrap();
    let yaml_path = fleet.dir.path().join("ksec.yaml");
    let mut yaml = std::fs::read_to_string(&yaml_path).unwrap();
    yaml.push_str(&format!(
        "  {ns2}:\n    environments: [two]\n    recipients: [me]\n    secrets:\n      - name: x\n        sources: [x.enc.env]\n"
    ));
    std::fs::write(&yaml_path, yaml).unwrap();
    let out = fleet.run(&["apply", "--all-envs", "--yes"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(4), "{t}");
    assert!(
        t.contains("environment two: cannot render")
            && t.contains("nothing was sent to any cluster"),
        "{t}"
    );
    assert!(fleet.live(kubeconfig()).is_empty(), "{t}");
    assert!(fleet.live(kubeconfig_2()).is_empty(), "{t}");
    // environment one alone renders and applies
    let out = fleet.run(&["apply", "--env", "one", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn several_environments_refuse_one_context_flag() {
    let fleet = Fleet::new("admin", 1, false);
    let out = fleet.run(&["apply", "--all-envs", "--context", "c1-admin", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--context names one cluster"),
        "{}",
        text(&out)
    );
    let out = fleet.run(&["diff", "--env", "one", "--all-envs"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn notes_about_one_cluster_name_it() {
    let fleet = Fleet::new("admin", 2, false);
    let out = fleet.run(&["apply", "--all-envs", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    // ConfigMap c1 leaves the project: an orphan on both clusters
    let yaml_path = fleet.dir.path().join("ksec.yaml");
    let yaml = std::fs::read_to_string(&yaml_path).unwrap();
    let yaml = yaml.replace("      - name: c1\n        envFiles: [app.env]\n", "");
    std::fs::write(&yaml_path, yaml).unwrap();
    let out = fleet.run(&["diff", "--all-envs"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for label in [
        "environment one (context c1-admin)",
        "environment two (context c2-admin)",
    ] {
        assert!(
            err.contains(&format!(
                "note: {label}: 1 object of this project is no longer rendered"
            )),
            "{err}"
        );
    }
    // one environment: the note as it always was
    let out = fleet.run(&["diff", "--env", "one"]);
    assert!(
        common::stderr(&out).contains("note: 1 object of this project is no longer rendered"),
        "{}",
        text(&out)
    );
}

/// A kubeconfig like `config` whose server is a port nothing listens on.
fn closed_port_kubeconfig(dir: &Path, config: &Path) -> PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = std::fs::read_to_string(config).unwrap();
    let text: String = text
        .lines()
        .map(|l| match l.trim().strip_prefix("server:") {
            Some(_) => format!("    server: https://127.0.0.1:{port}\n"),
            None => format!("{l}\n"),
        })
        .collect();
    let path = dir.join("closed.kubeconfig");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn diff_all_envs_reports_every_cluster_when_one_denies_and_exits_with_its_code() {
    // alice may read and write the namespace on cluster 1 only
    let fleet = Fleet::new("alice", 1, false);
    fleet.grant(kubeconfig());
    let out = fleet.run(&["apply", "--env", "one", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    fleet.set_log_level("debug");

    let out = fleet.run(&["diff", "--all-envs", "--output", "json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(7), "{t}");
    assert!(!t.contains(common::canary::MARKER), "{t}");
    let doc = json(&out);
    assert_eq!(doc["drift"], true, "{doc}");
    let clusters = doc["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 2, "{doc}");
    let (one, two) = (&clusters[0], &clusters[1]);
    assert_eq!(
        (&one["environment"], &one["ok"], &one["drift"]),
        (&"one".into(), &true.into(), &true.into()),
        "{doc}"
    );
    assert_eq!(one["differences"][0]["kind"], "ConfigMap", "{doc}");
    assert_eq!(
        (&two["environment"], &two["context"], &two["ok"]),
        (&"two".into(), &"c2-alice".into(), &false.into()),
        "{doc}"
    );
    assert!(two.get("differences").is_none(), "{doc}");
    assert_eq!(two["error"]["code"], "access-denied", "{doc}");
    assert_eq!(two["error"]["exitCode"], 7, "{doc}");
    assert!(
        two["error"]["message"]
            .as_str()
            .unwrap()
            .contains("User \"alice\" cannot list resource \"configmaps\""),
        "{doc}"
    );
    let err = common::stderr(&out);
    assert!(err.contains("1 of 2 clusters could not be compared"), "{t}");
    assert!(err.contains("environment two (context c2-alice): "), "{t}");
    assert!(
        err.contains(
            "1 of 2 clusters differ from the rendered manifests: environment one (context c1-alice)"
        ),
        "{t}"
    );

    // the text form: the drift of cluster 1, cluster 2 named as not compared
    let out = fleet.run(&["diff", "--all-envs"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(7), "{t}");
    let stdout = common::stdout(&out);
    assert!(
        stdout.starts_with(&format!(
            "environment one (context c1-alice):\n  create {}/ConfigMap/c0-",
            fleet.ns
        )),
        "{t}"
    );
    assert!(
        stdout.ends_with(
            "environment two (context c2-alice): NOT COMPARED (access-denied, see the error below)\n"
        ),
        "{t}"
    );
    // one environment alone is unchanged: its error, nothing on stdout
    let out = fleet.run(&["diff", "--env", "two"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(common::stdout(&out), "", "{}", text(&out));
    let out = fleet.run(&["diff", "--env", "one", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(json(&out)["clusters"][0].get("ok").is_none());
}

#[test]
fn diff_all_envs_reports_an_unreachable_cluster_with_exit_9_and_the_others_drift() {
    let dir = tempfile::tempdir().unwrap();
    let closed = closed_port_kubeconfig(dir.path(), kubeconfig_2());
    let fleet = Fleet::with_second("admin", 1, false, &closed);
    let out = fleet.run(&["apply", "--env", "one", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    fleet.set_log_level("debug");
    let started = std::time::Instant::now();
    let out = fleet.run(&["diff", "--all-envs", "--output", "json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(9), "{t}");
    eprintln!("diff with one cluster down took {:?}", started.elapsed());
    let doc = json(&out);
    let clusters = doc["clusters"].as_array().unwrap();
    assert_eq!(
        (clusters[0]["ok"].clone(), clusters[0]["drift"].clone()),
        (true.into(), true.into()),
        "{doc}"
    );
    assert_eq!(clusters[1]["ok"], false, "{doc}");
    assert_eq!(clusters[1]["error"]["code"], "unavailable", "{doc}");
    assert_eq!(clusters[1]["error"]["exitCode"], 9, "{doc}");
}

#[test]
fn a_cluster_whose_api_server_is_killed_mid_apply_is_reported_and_the_other_completes() {
    // cluster 2 is a control plane of the test's own, behind a proxy that
    // slows its writes so that the apply is surely in flight at the kill
    let private = Private::start();
    let admin_2 = private.path("kubeconfig");
    let proxy = Proxy::start(&admin_2);
    proxy.fault(
        None,
        common::proxy::is_write,
        Fault::Delay(Duration::from_millis(150)),
    );
    let fleet = Fleet::with_clusters("admin", 20, false, &proxy.kubeconfig, &admin_2);
    let (out, argv) = std::thread::scope(|s| {
        let apply = s.spawn(|| fleet.run(&["apply", "--all-envs", "--yes", "--output", "json"]));
        // once 3 writes have landed on cluster 2, kill its kube-apiserver
        proxy.wait_for(3, Duration::from_secs(120), |s| {
            s.is_write() && matches!(s.answer, Answer::Forwarded(200 | 201))
        });
        let argv = private.kill_apiserver();
        (apply.join().unwrap(), argv)
    });
    let t = text(&out);
    let (applied, failed, skipped) = fleet.failed_on_two(&out, 21);
    assert!(applied.len() >= 3, "{t}");
    assert_eq!(fleet.live(kubeconfig()).len(), 21);
    for (_, error) in &failed {
        assert!(error.contains("cannot reach the API server"), "{t}");
    }

    // the same etcd, the API server started again: it holds every object
    // reported applied, none reported not attempted (a failed write may or
    // may not have landed before the kill)
    private.restart_apiserver(&argv);
    let held = fleet.live(&admin_2);
    let holds = |id: &String| held.keys().any(|k| id.ends_with(k.as_str()));
    assert!(applied.iter().all(holds), "{applied:?} vs {held:?}");
    assert!(!skipped.iter().any(holds), "{skipped:?} vs {held:?}");
    // and a rerun writes only what is missing there
    proxy.clear_faults();
    let out = fleet.run(&["apply", "--all-envs", "--yes"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("environment one (context c1-admin): done, 0 written"),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "environment two (context c2-admin): done, {} written",
            21 - held.len()
        )),
        "{t}"
    );
    assert_eq!(fleet.live(&admin_2).len(), 21);
    let out = fleet.run(&["diff", "--all-envs"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
