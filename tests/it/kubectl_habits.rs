//! kubectl habits: `-o` for `--output` (with `name` where objects are
//! listed), `-A/--all-namespaces` where a namespace filter exists.

use crate::common::{Key, ksec, stderr, stdout};
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
        let (code, _, err) = run(dir.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("invalid value 'bogus'"), "{args:?}: {err}");
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
    ] {
        let (code, _, err) = run(dir.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
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
