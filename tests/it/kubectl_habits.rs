//! kubectl habits: `-o` for `--output` (with `name` where objects are
//! listed, refused where nothing is), `-A/--all-namespaces` where a
//! namespace filter exists, `-n` and `--context` where a namespace or a
//! cluster is involved. `apply`, `diff` and `gitops bootstrap` run against
//! the real API servers, and their `-o name` lines are compared with what
//! `kubectl get -o name` prints for the same objects.

use crate::common::{self, Key, ksec, stderr, stdout};
use std::path::Path;

const KSEC_YAML: &str = "\
version: 1
project: test
recipients:
  me: @KEY@
environments:
  staging:
    context: kind-staging
namespaces:
  payments:
    recipients: [me]
    configMaps:
      - name: app
        literals: {MODE: fast}
  search:
    recipients: [me]
    configMaps:
      - name: idx
        literals: {SHARDS: '3'}
";

fn project() -> (tempfile::TempDir, Key) {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "me");
    for ns in ["payments", "search"] {
        std::fs::create_dir_all(dir.path().join("namespaces").join(ns)).unwrap();
    }
    std::fs::write(
        dir.path().join("ksec.yaml"),
        KSEC_YAML.replace("@KEY@", &key.recipient),
    )
    .unwrap();
    (dir, key)
}

/// `ksec ARGS` in the project: (exit code, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = ksec(dir).current_dir(dir).args(args).output().unwrap();
    (out.status.code(), stdout(&out), stderr(&out))
}

/// `ksec ARGS` is refused by the command line (exit 2, nothing on stdout)
/// with a message holding `why`.
fn refused(dir: &Path, args: &[&str], why: &str) {
    let (code, out, err) = run(dir, args);
    assert_eq!(code, Some(2), "{args:?}: {err}");
    assert!(out.is_empty(), "{args:?}: {out}");
    assert!(err.contains(why), "{args:?}: {err}");
}

#[test]
fn short_o_is_the_same_as_output() {
    let (dir, _key) = project();
    for (long, short) in [
        (
            &["render", "--output", "json"][..],
            &["render", "-o", "json"][..],
        ),
        (&["render", "--output=yaml"], &["render", "-oyaml"]),
        (
            &["namespace", "list", "--output", "json"],
            &["namespace", "list", "-o", "json"],
        ),
        (
            &["recipients", "list", "--output", "json"],
            &["recipients", "list", "-o", "json"],
        ),
    ] {
        let (code, want, err) = run(dir.path(), long);
        assert_eq!(code, Some(0), "{long:?}: {err}");
        assert!(!want.is_empty(), "{long:?}");
        let (code, got, err) = run(dir.path(), short);
        assert_eq!(code, Some(0), "{short:?}: {err}");
        assert_eq!(got, want, "{short:?}");
    }
    // every command with a format --output takes -o (parsed before anything runs)
    for args in [
        &["check", "-o", "bogus"][..],
        &["diff", "-o", "bogus"],
        &["apply", "-o", "bogus"],
        &["keygen", "--keyring", "-o", "bogus"],
        &["gitops", "bootstrap", "--env", "staging", "-o", "bogus"],
    ] {
        refused(dir.path(), args, "invalid value 'bogus'");
    }
}

#[test]
fn output_name_lists_objects_as_kubectl_does() {
    let (dir, _key) = project();
    let (code, out, err) = run(dir.path(), &["render", "-o", "name", "-n", "payments"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].starts_with("configmap/app-"), "{out}");
    let (code, out, err) = run(dir.path(), &["namespace", "list", "-o", "name"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "namespace/payments\nnamespace/search\n");
    // names are printed, not written into files
    let (code, _, err) = run(
        dir.path(),
        &[
            "render",
            "-o",
            "name",
            "--out",
            &dir.path().join("o").to_string_lossy(),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--out does not apply"), "{err}");
}

#[test]
fn all_namespaces_is_every_namespace_and_excludes_n() {
    let (dir, _key) = project();
    let (code, all, err) = run(dir.path(), &["render"]);
    assert_eq!(code, Some(0), "{err}");
    for flag in ["-A", "--all-namespaces"] {
        let (code, out, err) = run(dir.path(), &["render", flag]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(out, all);
    }
    for args in [
        &["render", "-A", "-n", "payments"][..],
        &["diff", "-A", "-n", "payments"],
        &["apply", "--all-namespaces", "-n", "payments"],
        &["recipients", "list", "-A", "-n", "payments"],
        &[
            "recipients",
            "add",
            "age1x",
            "--name",
            "x",
            "-A",
            "-n",
            "payments",
        ],
    ] {
        refused(dir.path(), args, "cannot be used with");
    }
    // recipients add: -A and --all-namespaces are --all
    let other = Key::new(dir.path(), "other");
    for flag in ["-A", "--all-namespaces"] {
        let (code, out, err) = run(
            dir.path(),
            &[
                "recipients",
                "add",
                &other.recipient,
                "--name",
                "bob",
                flag,
                "--dry-run",
            ],
        );
        assert_eq!(code, Some(0), "{flag}: {err}");
        let text = format!("{out}{err}");
        assert!(
            text.contains("payments") && text.contains("search"),
            "{flag}: {text}"
        );
    }
}

#[test]
fn output_yaml_is_the_json_data_as_yaml() {
    let (dir, key) = project();
    let parse_json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    let parse_yaml = |text: &str| serde_saphyr::from_str::<serde_json::Value>(text).unwrap();
    crate::common::git_in(dir.path(), dir.path(), &["init", "-q"]);
    crate::common::git_in(dir.path(), dir.path(), &["add", "ksec.yaml"]);
    for args in [
        &["namespace", "list"][..],
        &["recipients", "list"],
        &["check"],
    ] {
        let (code, json, err) = run(dir.path(), &[args, &["-o", "json"]].concat());
        assert_eq!(code, Some(0), "{args:?}: {err}");
        let (code, yaml, err) = run(dir.path(), &[args, &["-o", "yaml"]].concat());
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert_eq!(parse_yaml(&yaml), parse_json(&json), "{args:?}:\n{yaml}");
        assert!(
            !yaml.trim_start().starts_with(['[', '{']),
            "{args:?}: block style:\n{yaml}"
        );
    }
    // whoami: the key given in the environment
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .env("KSEC_AGE_KEY_FILE", &key.file)
        .args(["whoami", "-o", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        parse_yaml(&stdout(&out))["recipients"][0].as_str(),
        Some(key.recipient.as_str())
    );
    let out = dir.path().join("new-key.txt");
    let (code, yaml, err) = run(
        dir.path(),
        &["keygen", "--out", &out.to_string_lossy(), "-o", "yaml"],
    );
    assert_eq!(code, Some(0), "{err}");
    let data = parse_yaml(&yaml);
    assert!(
        data["recipient"].as_str().unwrap().starts_with("age1"),
        "{yaml}"
    );
}

#[test]
fn output_name_is_refused_where_nothing_is_listed() {
    let (dir, _key) = project();
    for args in [
        &["whoami", "-o", "name"][..],
        &["keygen", "--keyring", "-o", "name"],
        &["check", "-o", "name"],
    ] {
        refused(dir.path(), args, "invalid value 'name'");
        refused(dir.path(), args, "[possible values: text, json, yaml]");
    }
    // encrypt and decrypt take sops's `--output FILE` (a path), and no `-o`
    // (sops has none; kubectl's `-o` is a format)
    for args in [
        &["decrypt", "x.enc.yaml", "-o", "y.yaml"][..],
        &["encrypt", "x.yaml", "-o", "y.enc.yaml"],
    ] {
        refused(dir.path(), args, "unexpected argument '-o'");
    }
}

#[test]
fn recipients_list_output_name_is_a_recipient_line_each_and_n_filters() {
    let (dir, _key) = project();
    let (code, out, err) = run(dir.path(), &["recipients", "list", "-o", "name"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "recipient/me\n");

    // -n: who can read that namespace; -A (the default): everyone
    let bob = Key::new(dir.path(), "bob");
    let (code, _, err) = run(
        dir.path(),
        &[
            "recipients",
            "add",
            &bob.recipient,
            "--name",
            "bob",
            "-n",
            "search",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    for (args, want) in [
        (&["-n", "payments"][..], "recipient/me\n"),
        (&["-n", "search"], "recipient/bob\nrecipient/me\n"),
        (
            &["-n", "payments", "--namespace", "search"],
            "recipient/bob\nrecipient/me\n",
        ),
        (&["-A"], "recipient/bob\nrecipient/me\n"),
        (&[], "recipient/bob\nrecipient/me\n"),
    ] {
        let (code, out, err) = run(
            dir.path(),
            &[&["recipients", "list", "-o", "name"][..], args].concat(),
        );
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert_eq!(out, want, "{args:?}");
    }
    // each recipient with only the namespaces asked about
    let (code, json, err) = run(
        dir.path(),
        &["recipients", "list", "-n", "search", "-o", "json"],
    );
    assert_eq!(code, Some(0), "{err}");
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    for m in list.as_array().unwrap() {
        assert_eq!(
            m["namespaces"],
            serde_json::json!([{"name": "search", "via": "recipients"}]),
            "{json}"
        );
    }
    let (code, _, err) = run(dir.path(), &["recipients", "list", "-n", "nope"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("no namespace nope in ksec.yaml"), "{err}");
}

mod cluster {
    use super::common;
    use common::Key;
    use common::kube::{
        create_namespaces, ksec_project_on, kubeconfig, kubeconfig_2, kubectl_ok, kubectl_on,
        merged_kubeconfig, text, unique,
    };
    use std::path::{Path, PathBuf};

    /// A project whose environments (`(name, context)`) each have the
    /// namespaces `namespaces`, each with a ConfigMap `api` that rolls
    /// Deployment `web` and a Secret `db`; the kubeconfig `config`.
    struct Project {
        dir: tempfile::TempDir,
        key: Key,
        config: PathBuf,
    }

    impl Project {
        fn new(
            config: PathBuf,
            dir: tempfile::TempDir,
            envs: &[(&str, &str)],
            namespaces: &[&str],
        ) -> Project {
            let key = Key::new(dir.path(), "key");
            let mut yaml = format!(
                "version: 1\nproject: {}\nrecipients:\n  me: {}\nenvironments:\n",
                unique("p"),
                key.recipient
            );
            for (env, context) in envs {
                yaml.push_str(&format!("  {env}:\n    context: {context}\n"));
            }
            yaml.push_str("namespaces:\n");
            for ns in namespaces {
                yaml.push_str(&format!(
                    "  {ns}:\n    recipients: [me]\n    configMaps:\n      - name: api\n        envFiles: [api.env]\n        rollout: [Deployment/web]\n    secrets:\n      - name: db\n        sources: [db.enc.env]\n"
                ));
                let folder = dir.path().join("namespaces").join(ns);
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::write(folder.join("api.env"), "LOG_LEVEL=info\n").unwrap();
                let plain = folder.join("db.env");
                std::fs::write(&plain, format!("PASSWORD={}\n", common::canary("oname"))).unwrap();
                common::encrypt_to(dir.path(), &key, &plain, &folder.join("db.enc.env"));
                std::fs::remove_file(plain).unwrap();
            }
            std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
            Project { dir, key, config }
        }

        /// stdout of a run that must exit `code`.
        fn out(&self, code: i32, args: &[&str]) -> String {
            let out = ksec_project_on(&self.config, self.dir.path(), &self.key, args)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(code),
                "ksec {args:?}: {}",
                text(&out)
            );
            common::stdout(&out)
        }
    }

    /// Each namespace exists with its Deployment `web` on the cluster of `config`.
    fn workloads(config: &Path, namespaces: &[&str]) {
        for ns in namespaces {
            for args in [
                &["create", "namespace", ns][..],
                &["-n", ns, "create", "deployment", "web", "--image=nginx"],
            ] {
                let out = kubectl_on(config, "admin", args);
                assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
            }
        }
    }

    /// `kubectl get NAME… -n ns -o name` of the `kind/name` lines `names`,
    /// on the cluster of `config`, sorted.
    fn kubectl_names(config: &Path, ns: &str, names: &[&str]) -> Vec<String> {
        let mut args = vec!["get", "-n", ns, "-o", "name"];
        args.extend(names);
        let out = kubectl_on(config, "admin", &args);
        assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
        let mut got: Vec<String> = common::stdout(&out).lines().map(String::from).collect();
        got.sort();
        got
    }

    fn sorted(text: &str) -> Vec<String> {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines.sort();
        lines
    }

    #[test]
    fn apply_and_diff_output_name_are_what_kubectl_get_prints() {
        let (a, b) = (unique("oname"), unique("oname"));
        workloads(kubeconfig(), &[&a, &b]);
        let dir = tempfile::tempdir().unwrap();
        // the environment's context may not write; --context admin can
        let p = Project::new(
            kubeconfig().to_path_buf(),
            dir,
            &[("test", "nobody")],
            &[&a, &b],
        );

        // diff: every object of namespace a is to be created, the
        // Deployment updated (its rollout annotation); -n keeps to a
        let diff = p.out(1, &["diff", "--context", "admin", "-n", &a, "-o", "name"]);
        let lines = sorted(&diff);
        assert_eq!(lines.len(), 3, "{diff}");
        assert!(lines[0].starts_with("configmap/api-"), "{diff}");
        assert_eq!(lines[1], "deployment.apps/web", "{diff}");
        assert!(lines[2].starts_with("secret/db-"), "{diff}");

        // apply -o name: the objects applied, as `kubectl get -o name` names them
        let applied = p.out(0, &["apply", "--context", "admin", "-n", &a, "-o", "name"]);
        assert_eq!(sorted(&applied), lines, "{applied}");
        let names: Vec<&str> = applied.lines().collect();
        assert_eq!(kubectl_names(kubeconfig(), &a, &names), lines);
        // namespace b was left alone
        let out = kubectl_on(
            kubeconfig(),
            "admin",
            &["get", "configmaps,secrets", "-n", &b, "-o", "name"],
        );
        assert!(!common::stdout(&out).contains("api-"), "{}", text(&out));

        // nothing differs now: no names, exit 0; apply again: every object
        // (unchanged ones too), as kubectl apply prints them
        assert_eq!(
            p.out(0, &["diff", "--context", "admin", "-n", &a, "-o", "name"]),
            ""
        );
        let again = p.out(0, &["apply", "--context", "admin", "-n", &a, "-o", "name"]);
        assert_eq!(sorted(&again), lines, "{again}");

        // a Secret changed by hand: that one object differs
        let secret = lines[2].strip_prefix("secret/").unwrap();
        let patch = format!(
            r#"{{"data":{{"PASSWORD":"{}"}}}}"#,
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                common::canary("by-hand")
            )
        );
        kubectl_ok(
            "admin",
            &["-n", &a, "patch", "secret", secret, "-p", &patch],
        );
        let diff = p.out(1, &["diff", "--context", "admin", "-n", &a, "-o", "name"]);
        assert_eq!(diff, format!("{}\n", lines[2]));
        assert_eq!(
            kubectl_names(kubeconfig(), &a, &[diff.trim()]),
            vec![lines[2].clone()]
        );

        // a dry run prints the same names and writes nothing (kubectl's
        // patch owns the field now)
        let dry = p.out(
            0,
            &[
                "apply",
                "--context",
                "admin",
                "-n",
                &a,
                "--dry-run",
                "--force-conflicts",
                "-o",
                "name",
            ],
        );
        assert_eq!(sorted(&dry), lines, "{dry}");
        assert_eq!(
            p.out(1, &["diff", "--context", "admin", "-n", &a, "-o", "name"]),
            diff
        );

        // -A is every namespace, -n and --context as above
        let all = p.out(1, &["diff", "--context", "admin", "-A", "-o", "name"]);
        assert_eq!(sorted(&all).len(), 4, "{all}"); // a's Secret, b's three
    }

    #[test]
    fn several_clusters_print_env_slash_kind_slash_name() {
        let ns = unique("oname");
        workloads(kubeconfig(), &[&ns]);
        workloads(kubeconfig_2(), &[&ns]);
        let dir = tempfile::tempdir().unwrap();
        let config = merged_kubeconfig(dir.path(), &[("c1", kubeconfig()), ("c2", kubeconfig_2())]);
        let p = Project::new(
            config,
            dir,
            &[("one", "c1-admin"), ("two", "c2-admin")],
            &[&ns],
        );
        let diff = p.out(1, &["diff", "--all-envs", "-o", "name"]);
        let applied = p.out(0, &["apply", "--all-envs", "-o", "name"]);
        assert_eq!(sorted(&applied), sorted(&diff), "{applied}");
        for (env, config) in [("one", kubeconfig()), ("two", kubeconfig_2())] {
            let prefix = format!("{env}/");
            let mine: Vec<&str> = applied
                .lines()
                .filter_map(|l| l.strip_prefix(&prefix))
                .collect();
            assert_eq!(mine.len(), 3, "{applied}");
            let mut want: Vec<String> = mine.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(kubectl_names(config, &ns, &mine), want);
        }
        assert_eq!(applied.lines().count(), 6, "{applied}");
        assert_eq!(
            p.out(0, &["diff", "--env", "one", "--env", "two", "-o", "name"]),
            ""
        );
    }

    #[test]
    fn gitops_bootstrap_output_name_is_each_decryption_secret() {
        use crate::gitops_bootstrap::{ENV, Project};
        let (a, b) = (unique("oname"), unique("oname"));
        create_namespaces(&[&a, &b]);
        let p = Project::new("admin", &[&a, &b], "", "", &[]);
        for _ in 0..2 {
            // created, then in place: a line each, as kubectl apply prints
            let out = p.run(&["gitops", "bootstrap", "--env", ENV, "-o", "name"]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            let names = common::stdout(&out);
            assert_eq!(names, "secret/sops-age\nsecret/sops-age\n");
            for ns in [&a, &b] {
                assert_eq!(
                    kubectl_names(kubeconfig(), ns, &["secret/sops-age"]),
                    vec!["secret/sops-age".to_string()]
                );
            }
        }
        p.assert_no_private_key();
    }
}
