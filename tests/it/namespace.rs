//! Black-box tests of `ksec namespace add|list|remove`: the text surgery on
//! ksec.yaml (comments and bytes kept), the starter sources and who can
//! decrypt them, the onboarding objects `render` emits for an added
//! namespace, the project's template overrides, the validation of names,
//! quotas and onboarding fields (nothing written on an error), and the
//! prompts on a terminal. No cluster is needed.

use crate::common;

use common::{Key, code, ksec, ksec_with, run_ok, sops, sops_recipients, stderr, stdout};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- helpers

/// A ksec.yaml with comments everywhere: above and after keys, inside
/// `namespaces:`, and after it at column 0.
const COMMENTED: &str = r#"# ksec project of the shop team.
# Reviewed by the platform team: it decides who can decrypt what.
version: 1
project: shop   # the ksec.dev/project label

# People and CI keys.
recipients:
  # Alice leads the search team
  alice: ALICE   # laptop key
  ci-prod: CI_PROD
  ci-staging: CI_STAGING
  # Olga owns payments
  olga: OLGA

groups:
  search-team: [alice]   # grows later

environments:
  prod:
    context: prod-cluster   # kubeconfig context
    recipients: [ci-prod]
  staging:
    context: staging-cluster
    recipients: [ci-staging]

namespaces:
  # payments predates onboarding
  payments:
    environments: [prod]   # prod only
    recipients: [olga]

  # billing: plain config only
  billing:
    recipients: [olga]
    configMaps:
      - name: rates
        literals: {EUR: "1"}

# Keep namespaces sorted by team.
"#;

/// The last line of the last entry of [`COMMENTED`]: a new entry goes
/// right after it.
const LAST_ENTRY_LINE: &str = "        literals: {EUR: \"1\"}\n";

/// The flags of the fully specified `add` most tests use.
const ADD_SEARCH: &[&str] = &[
    "namespace",
    "add",
    "search",
    "--owner-group",
    "search-devs",
    "--recipient",
    "search-team",
    "--quota",
    "cpu=4,memory=8Gi,pods=20",
    "--env",
    "prod",
    "--pod-security",
    "restricted",
    "--default-deny",
];

/// The entry [`ADD_SEARCH`] appends under `namespaces:`.
const SEARCH_ENTRY: &str = r#"  search:
    recipients: [search-team]
    owners: [search-devs]
    environments: [prod]
    quota:
      cpu: "4"
      memory: "8Gi"
      pods: "20"
    podSecurity: restricted
    networkPolicy: default-deny
    configMaps:
      - name: app-config
        envFiles: [app.env]
    secrets:
      - name: app-secrets
        sources: [secrets.enc.yaml]
"#;

/// A project made from [`COMMENTED`], with a key for each recipient. Keys
/// live outside the project folder, so the folder holds only what ksec
/// writes.
struct Shop {
    home: tempfile::TempDir,
    dir: PathBuf,
    alice: Key,
    olga: Key,
    ci_prod: Key,
    ci_staging: Key,
    original: String,
}

impl Shop {
    fn new() -> Shop {
        Shop::with_yaml(COMMENTED)
    }

    /// `yaml` with ALICE, OLGA, CI_PROD, CI_STAGING replaced by recipients.
    fn with_yaml(yaml: &str) -> Shop {
        let home = tempfile::tempdir().unwrap();
        let alice = Key::new(home.path(), "alice");
        let olga = Key::new(home.path(), "olga");
        let ci_prod = Key::new(home.path(), "ci-prod");
        let ci_staging = Key::new(home.path(), "ci-staging");
        let original = yaml
            .replace("ALICE", &alice.recipient)
            .replace("OLGA", &olga.recipient)
            .replace("CI_PROD", &ci_prod.recipient)
            .replace("CI_STAGING", &ci_staging.recipient);
        let dir = home.path().join("shop");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ksec.yaml"), &original).unwrap();
        Shop {
            home,
            dir,
            alice,
            olga,
            ci_prod,
            ci_staging,
            original,
        }
    }

    /// `ksec --project DIR ARGS…` without a key, no terminal.
    fn run(&self, args: &[&str]) -> Output {
        ksec(self.home.path())
            .arg("--project")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// `ksec --project DIR ARGS…` decrypting with `key` (decrypt and render
    /// print the secrets asked for).
    fn run_with(&self, key: &Key, args: &[&str]) -> Output {
        ksec_with(self.home.path(), key)
            .expect_secret_output()
            .arg("--project")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(
            code(&out),
            Some(0),
            "ksec {args:?} failed:\n{}",
            stderr(&out)
        );
        out
    }

    fn ksec_yaml(&self) -> String {
        std::fs::read_to_string(self.dir.join("ksec.yaml")).unwrap()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Every file and folder of the project, with the files' bytes.
    fn tree(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                if path.is_dir() {
                    out.insert(rel, None);
                    walk(root, &path, out);
                } else {
                    out.insert(rel, Some(std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.dir, &self.dir, &mut out);
        out
    }

    /// `namespace list --output json`, by name.
    fn list_json(&self) -> BTreeMap<String, Value> {
        let out = self.ok(&["namespace", "list", "--output", "json"]);
        let items: Vec<Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("list --output json is not JSON ({e}):\n{}", stdout(&out)));
        items
            .into_iter()
            .map(|i| (i["name"].as_str().unwrap().to_string(), i))
            .collect()
    }
}

/// The names of the files `tree` holds, for messages.
fn names(tree: &BTreeMap<PathBuf, Option<Vec<u8>>>) -> Vec<String> {
    tree.keys().map(|p| p.display().to_string()).collect()
}

/// The lines of `text` that hold a `#` (every comment of [`COMMENTED`]).
fn comment_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains('#')).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `kind/name` of each item of `ksec render --output json`.
fn kinds_and_names(list: &Value) -> Vec<String> {
    list["items"]
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
        .collect()
}

fn item<'a>(list: &'a Value, kind: &str, name: &str) -> &'a Value {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == kind && i["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("render has no {kind}/{name}: {:?}", kinds_and_names(list)))
}

// -------------------------------------------------------------------- add

#[test]
fn add_appends_the_entry_and_keeps_every_byte_and_comment_of_ksec_yaml() {
    let shop = Shop::new();
    let out = shop.ok(ADD_SEARCH);
    assert!(
        out.stdout.is_empty(),
        "add printed on stdout: {}",
        stdout(&out)
    );

    // exactly the old text with the entry after the last entry's last line
    let new = shop.ksec_yaml();
    assert_eq!(
        shop.original.matches(LAST_ENTRY_LINE).count(),
        1,
        "fixture: the insertion point is not unique"
    );
    let expected = shop
        .original
        .replace(LAST_ENTRY_LINE, &format!("{LAST_ENTRY_LINE}{SEARCH_ENTRY}"));
    assert_eq!(
        new, expected,
        "ksec.yaml after add is not the old text plus the entry"
    );

    // every old comment is still there, in order, and none was added
    assert_eq!(comment_lines(&new), comment_lines(&shop.original));

    // the starter sources: a plain env file and an encrypted YAML file
    let app_env = std::fs::read_to_string(shop.path("namespaces/search/app.env")).unwrap();
    assert!(
        app_env.lines().any(|l| l == "LOG_LEVEL=info") && !app_env.contains("sops_"),
        "app.env is not a plain dotenv file:\n{app_env}"
    );
    let secret = std::fs::read_to_string(shop.path("namespaces/search/secrets.enc.yaml")).unwrap();
    assert!(
        secret.contains("ENC[AES256_GCM,") && !secret.contains("replace-me"),
        "secrets.enc.yaml is not encrypted:\n{secret}"
    );
    // .sops.yaml was regenerated with a rule for the new folder
    let sops_yaml = std::fs::read_to_string(shop.path(".sops.yaml")).unwrap();
    assert!(
        sops_yaml.contains("namespaces/search/"),
        ".sops.yaml has no rule for namespaces/search:\n{sops_yaml}"
    );

    // `namespace list` shows it, as a table and as JSON
    let out = shop.ok(&["namespace", "list"]);
    let table = stdout(&out);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAMESPACE",
            "ENVIRONMENTS",
            "OWNERS",
            "RECIPIENTS",
            "CONFIGMAPS",
            "SECRETS"
        ],
        "{table}"
    );
    assert!(
        rows.iter()
            .any(|r| r[..] == ["search", "prod", "search-devs", "alice,ci-prod", "1", "1"]),
        "the table has no row for search:\n{table}"
    );
    let list = shop.list_json();
    assert_eq!(
        list["search"],
        json!({
            "name": "search",
            "environments": ["prod"],
            "owners": ["search-devs"],
            "recipients": ["alice", "ci-prod"],
            "onboarded": true,
            "quota": {"cpu": "4", "memory": "8Gi", "pods": "20"},
            "configMaps": 1,
            "secrets": 1,
        })
    );
    assert_eq!(list["payments"]["onboarded"], json!(false));
    assert_eq!(list["billing"]["onboarded"], json!(false));
    assert_eq!(list.len(), 3, "{list:?}");
}

#[test]
fn the_starter_secret_decrypts_for_its_recipients_and_its_environments_ci_only() {
    let shop = Shop::new();
    shop.ok(ADD_SEARCH);
    let rel = "namespaces/search/secrets.enc.yaml";
    let file = shop.path(rel);
    let text = std::fs::read_to_string(&file).unwrap();
    // encrypted to the namespace's recipients (group search-team = alice)
    // plus the CI recipient of its one environment, prod
    assert_eq!(
        sops_recipients(&text),
        sorted(vec![
            shop.alice.recipient.clone(),
            shop.ci_prod.recipient.clone()
        ]),
        "{text}"
    );

    for (who, key) in [("alice", &shop.alice), ("ci-prod", &shop.ci_prod)] {
        let out = shop.run_with(key, &["decrypt", file.to_str().unwrap()]);
        assert_eq!(code(&out), Some(0), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out), "example: replace-me\n", "{who}");
    }
    // the real sops reads it too
    let plain = run_ok(sops(Some(&shop.alice)).arg("-d").arg(&file));
    assert_eq!(plain, "example: replace-me\n");
    let plain = run_ok(sops(Some(&shop.ci_prod)).arg("-d").arg(&file));
    assert_eq!(plain, "example: replace-me\n");

    // olga is a recipient of payments and billing only; ci-staging is the
    // CI of an environment search is not in
    for (who, key) in [("olga", &shop.olga), ("ci-staging", &shop.ci_staging)] {
        let out = shop.run_with(key, &["decrypt", file.to_str().unwrap()]);
        assert_eq!(
            code(&out),
            Some(4),
            "{who} must not decrypt {rel}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(!stdout(&out).contains("replace-me"));
    }

    // the regenerated .sops.yaml makes plain `sops -e` in the folder
    // encrypt to the same people
    std::fs::write(shop.path("namespaces/search/extra.yaml"), "token: abc\n").unwrap();
    let encrypted = run_ok(
        sops(None)
            .current_dir(&shop.dir)
            .args(["-e", "namespaces/search/extra.yaml"]),
    );
    assert_eq!(
        sops_recipients(&encrypted),
        sops_recipients(&text),
        "sops -e in namespaces/search does not follow .sops.yaml:\n{encrypted}"
    );
}

#[test]
fn add_refuses_bad_input_and_writes_nothing() {
    let shop = Shop::new();
    let before = shop.tree();
    let long = "a".repeat(64);
    let base = ["--owner-group", "search-devs", "--recipient", "search-team"];
    let with_base = |name: &str, more: &[&str]| -> Vec<String> {
        let mut args = vec!["namespace".to_string(), "add".into(), name.into()];
        args.extend(base.iter().map(|s| s.to_string()));
        args.extend(more.iter().map(|s| s.to_string()));
        args
    };
    let cases: Vec<(&str, Vec<String>, i32, &str)> = vec![
        (
            "no --owner-group without a terminal",
            vec!["namespace".into(), "add".into(), "search".into()],
            2,
            "--owner-group",
        ),
        (
            "no --recipient",
            vec![
                "namespace".into(),
                "add".into(),
                "search".into(),
                "--owner-group".into(),
                "search-devs".into(),
            ],
            2,
            "--recipient",
        ),
        ("upper case and _", with_base("Team_A", &[]), 6, "Team_A"),
        ("64 characters", with_base(&long, &[]), 6, &long),
        (
            "kube-system",
            with_base("kube-system", &[]),
            6,
            "kube-system",
        ),
        (
            "any kube-*",
            with_base("kube-search", &[]),
            6,
            "kube-search",
        ),
        ("default", with_base("default", &[]), 6, "default"),
        (
            "an existing name",
            with_base("payments", &[]),
            6,
            "payments",
        ),
        (
            "a quota that is no quantity",
            with_base("search", &["--quota", "cpu=4,memory=8GB"]),
            6,
            "8GB",
        ),
        (
            "an unknown recipient",
            with_base("search", &["--recipient", "carol"]),
            6,
            "carol",
        ),
        (
            "an unknown environment",
            with_base("search", &["--env", "nope"]),
            2,
            "nope",
        ),
    ];
    let mut errors = String::new();
    for (what, args, want, needle) in &cases {
        let out = shop.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let err = stderr(&out);
        assert_eq!(code(&out), Some(*want), "{what}: {args:?}\n{err}");
        assert!(
            err.contains(needle),
            "{what}: the error does not name {needle:?}:\n{err}"
        );
        assert!(out.stdout.is_empty(), "{what}: printed {}", stdout(&out));
        let after = shop.tree();
        assert_eq!(
            shop.ksec_yaml(),
            shop.original,
            "{what}: ksec.yaml was changed"
        );
        assert!(
            after == before,
            "{what}: files were written: {:?} -> {:?}",
            names(&before),
            names(&after)
        );
        errors.push_str(&format!("## {what}\n{err}\n"));
    }
    // the wording of every refusal, with its hint
    insta::assert_snapshot!("add_error_messages", errors);

    // a 63-character name is a valid label
    let max = "a".repeat(63);
    shop.ok(&with_base(&max, &[])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert!(shop.path(&format!("namespaces/{max}/app.env")).is_file());
}

// ----------------------------------------------------------------- render

#[test]
fn render_of_an_added_namespace_has_the_onboarding_objects_namespace_first() {
    let shop = Shop::new();
    shop.ok(ADD_SEARCH);
    // a second one without quota and without --default-deny
    shop.ok(&[
        "namespace",
        "add",
        "docs",
        "--owner-group",
        "docs-devs",
        "--recipient",
        "alice",
        "--env",
        "prod",
    ]);

    let out = shop.run_with(
        &shop.alice,
        &[
            "render", "--env", "prod", "-n", "search", "--output", "json",
        ],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let objects = kinds_and_names(&list);
    assert_eq!(
        objects[0], "Namespace/search",
        "Namespace must come first: {objects:?}"
    );
    let mut expected = vec![
        "Namespace/search",
        "LimitRange/team-defaults",
        "Role/team-owners",
        "RoleBinding/team-owners",
        "ServiceAccount/ksec-ci",
        "Role/ksec-ci",
        "RoleBinding/ksec-ci",
        "ClusterRole/ksec-ci:search",
        "ClusterRoleBinding/ksec-ci:search",
        "ResourceQuota/team-quota",
        "NetworkPolicy/default-deny-ingress",
    ];
    expected.sort();
    let mut onboarding: Vec<&str> = objects
        .iter()
        .map(String::as_str)
        .filter(|o| !o.starts_with("ConfigMap/") && !o.starts_with("Secret/"))
        .collect();
    onboarding.sort();
    assert_eq!(onboarding, expected);
    // and the starter sources
    assert!(
        objects
            .iter()
            .any(|o| o.starts_with("ConfigMap/app-config-")),
        "{objects:?}"
    );
    assert!(
        objects.iter().any(|o| o.starts_with("Secret/app-secrets-")),
        "{objects:?}"
    );

    assert_eq!(
        item(&list, "ResourceQuota", "team-quota")["spec"]["hard"],
        json!({"cpu": "4", "memory": "8Gi", "pods": "20"})
    );
    assert_eq!(
        item(&list, "RoleBinding", "team-owners")["subjects"],
        json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "search-devs"}])
    );
    let ns_labels = &item(&list, "Namespace", "search")["metadata"]["labels"];
    assert_eq!(
        ns_labels["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    assert_eq!(ns_labels["ksec.dev/project"], "shop");
    assert_eq!(ns_labels["ksec.dev/environment"], "prod");
    for i in list["items"].as_array().unwrap() {
        let scoped = matches!(
            i["kind"].as_str().unwrap(),
            "Namespace" | "ClusterRole" | "ClusterRoleBinding"
        );
        assert_eq!(
            i["metadata"]["namespace"].as_str(),
            if scoped { None } else { Some("search") },
            "{} {}",
            i["kind"],
            i["metadata"]["name"]
        );
    }

    // without quota and default-deny: no ResourceQuota, no NetworkPolicy,
    // Pod Security baseline
    let out = shop.run_with(
        &shop.alice,
        &["render", "--env", "prod", "-n", "docs", "--output", "json"],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let docs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let objects = kinds_and_names(&docs);
    assert_eq!(objects[0], "Namespace/docs", "{objects:?}");
    assert!(
        !objects
            .iter()
            .any(|o| o.starts_with("ResourceQuota/") || o.starts_with("NetworkPolicy/")),
        "{objects:?}"
    );
    assert_eq!(
        item(&docs, "Namespace", "docs")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "baseline"
    );

    // the YAML a reviewer sees, without the Secret document
    let out = shop.run_with(&shop.alice, &["render", "--env", "prod", "-n", "search"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let yaml = stdout(&out);
    assert!(
        yaml.starts_with("apiVersion: v1\nkind: Namespace\n"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("replace-me"),
        "render printed the starter value in clear"
    );
    let docs: Vec<&str> = yaml.split("---\n").collect();
    let secrets = docs
        .iter()
        .filter(|d| d.contains("\nkind: Secret\n"))
        .count();
    assert_eq!(secrets, 1, "{yaml}");
    let shown = docs
        .into_iter()
        .filter(|d| !d.contains("\nkind: Secret\n"))
        .collect::<Vec<_>>()
        .join("---\n");
    assert!(!shown.contains("replace-me") && !shown.contains("cmVwbGFjZS1tZQ"));
    insta::assert_snapshot!("render_search_without_secrets", shown);
}

// ----------------------------------------------------------------- remove

#[test]
fn remove_after_add_gives_back_ksec_yaml_byte_for_byte_and_keeps_the_sources() {
    let shop = Shop::new();
    shop.ok(ADD_SEARCH);
    let out = shop.ok(&["namespace", "remove", "search"]);
    assert_eq!(
        shop.ksec_yaml(),
        shop.original,
        "add + remove is not a round trip"
    );
    for f in [
        "namespaces/search/app.env",
        "namespaces/search/secrets.enc.yaml",
    ] {
        assert!(
            shop.path(f).is_file(),
            "remove without --delete-sources deleted {f}"
        );
    }
    assert!(
        stderr(&out).contains("--delete-sources"),
        "remove does not say how to delete the sources:\n{}",
        stderr(&out)
    );
    let sops_yaml = std::fs::read_to_string(shop.path(".sops.yaml")).unwrap();
    assert!(
        !sops_yaml.contains("namespaces/search/"),
        ".sops.yaml still has a rule for search:\n{sops_yaml}"
    );
    assert!(!shop.list_json().contains_key("search"));
}

#[test]
fn remove_with_delete_sources_deletes_the_folder() {
    let shop = Shop::new();
    shop.ok(ADD_SEARCH);
    assert!(shop.path("namespaces/search").is_dir());
    shop.ok(&["namespace", "remove", "search", "--delete-sources"]);
    assert_eq!(shop.ksec_yaml(), shop.original);
    assert!(
        !shop.path("namespaces/search").exists(),
        "--delete-sources left namespaces/search"
    );
}

#[test]
fn remove_takes_the_comment_lines_directly_above_the_entry() {
    let shop = Shop::new();
    shop.ok(&["namespace", "remove", "payments"]);
    let expected = shop.original.replace(
        "  # payments predates onboarding\n  payments:\n    environments: [prod]   # prod only\n    recipients: [olga]\n\n",
        "",
    );
    assert_ne!(expected, shop.original, "fixture changed");
    assert_eq!(shop.ksec_yaml(), expected);
}

#[test]
fn remove_of_an_unknown_namespace_is_not_found_and_writes_nothing() {
    let shop = Shop::new();
    let before = shop.tree();
    let out = shop.run(&["namespace", "remove", "search"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("search"), "{}", stderr(&out));
    assert_eq!(shop.ksec_yaml(), shop.original);
    assert!(
        shop.tree() == before,
        "remove of an unknown name wrote files"
    );
}

/// A comment that closes the last entry stays with that entry: `add` puts
/// the new entry below it, `remove` deletes the entry and not the comment,
/// so add + remove is a round trip that keeps the user's comment.
#[test]
fn add_then_remove_keeps_a_comment_closing_the_last_entry() {
    let shop = Shop::with_yaml(
        "version: 1\nrecipients:\n  alice: ALICE\nnamespaces:\n  payments:\n    recipients: [alice]\n    # TODO: move payments to its own cluster\n",
    );
    shop.ok(&[
        "namespace",
        "add",
        "search",
        "--owner-group",
        "search-devs",
        "--recipient",
        "alice",
    ]);
    assert!(
        shop.ksec_yaml()
            .contains("    # TODO: move payments to its own cluster\n"),
        "add dropped the comment:\n{}",
        shop.ksec_yaml()
    );
    shop.ok(&["namespace", "remove", "search"]);
    let after = shop.ksec_yaml();
    assert!(
        after.contains("    # TODO: move payments to its own cluster\n"),
        "`namespace remove` deleted the comment that closes the last entry:\n--- before\n{}--- after\n{after}",
        shop.original
    );
    assert_eq!(after, shop.original, "add + remove is not a round trip");
}

/// An owner group with commas (an LDAP DN, as many OIDC providers send) is
/// written so that YAML reads it back as one group, not as several (which
/// the team-owners RoleBinding would grant the namespace to, piece by piece).
#[test]
fn an_owner_group_with_commas_stays_one_group() {
    let shop = Shop::new();
    let dn = "cn=search-devs,ou=groups,dc=example,dc=com";
    shop.ok(&[
        "namespace",
        "add",
        "search",
        "--owner-group",
        dn,
        "--recipient",
        "alice",
    ]);
    let list = shop.list_json();
    assert_eq!(
        list["search"]["owners"],
        json!([dn]),
        "--owner-group {dn:?} is not read back as one group; ksec.yaml says:\n{}",
        shop.ksec_yaml()
    );
}

// -------------------------------------------------------------- templates

#[test]
fn a_project_template_replaces_the_built_in_one() {
    let shop = Shop::new();
    shop.ok(ADD_SEARCH);
    let builtin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/namespace.yaml"),
    )
    .unwrap();
    let anchor = "    ksec.dev/team: ${team}\n";
    assert!(
        builtin.contains(anchor),
        "the built-in namespace.yaml changed:\n{builtin}"
    );
    std::fs::create_dir_all(shop.path("templates")).unwrap();
    std::fs::write(
        shop.path("templates/namespace.yaml"),
        builtin.replace(
            anchor,
            &format!("{anchor}    example.com/cost-center: \"4711\"\n"),
        ),
    )
    .unwrap();
    let out = shop.run_with(
        &shop.alice,
        &[
            "render", "--env", "prod", "-n", "search", "--output", "json",
        ],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let labels = &item(&list, "Namespace", "search")["metadata"]["labels"];
    assert_eq!(labels["example.com/cost-center"], "4711", "{labels}");
    // placeholders of the override are still filled in
    assert_eq!(labels["ksec.dev/team"], "search", "{labels}");
    assert_eq!(
        labels["pod-security.kubernetes.io/enforce"], "restricted",
        "{labels}"
    );
    // only the Namespace carries the new label: the other templates are the built-in ones
    for i in list["items"].as_array().unwrap() {
        if i["kind"] != "Namespace" {
            assert!(
                i["metadata"]["labels"]
                    .get("example.com/cost-center")
                    .is_none(),
                "{i}"
            );
        }
    }
    assert!(item(&list, "ResourceQuota", "team-quota").is_object());
}

#[test]
fn a_template_with_an_unknown_placeholder_fails_render_and_add() {
    let shop = Shop::new();
    shop.ok(ADD_SEARCH);
    std::fs::create_dir_all(shop.path("templates")).unwrap();
    std::fs::write(
        shop.path("templates/namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n  labels:\n    cost-center: ${nope}\n",
    )
    .unwrap();
    let out = shop.run_with(&shop.alice, &["render", "--env", "prod", "-n", "search"]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(
        err.contains("templates/namespace.yaml"),
        "the error does not name the file:\n{err}"
    );
    assert!(
        err.contains("${nope}"),
        "the error does not name the placeholder:\n{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "render printed something: {}",
        stdout(&out)
    );

    // add checks the templates before it writes anything
    let yaml = shop.ksec_yaml();
    let before = shop.tree();
    let out = shop.run(&[
        "namespace",
        "add",
        "docs",
        "--owner-group",
        "docs-devs",
        "--recipient",
        "alice",
    ]);
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("${nope}"), "{}", stderr(&out));
    assert_eq!(shop.ksec_yaml(), yaml);
    assert!(
        shop.tree() == before,
        "add wrote files despite a broken template"
    );
}

#[test]
fn an_unknown_template_file_fails_render() {
    let shop = Shop::new();
    shop.ok(ADD_SEARCH);
    std::fs::create_dir_all(shop.path("templates")).unwrap();
    std::fs::write(
        shop.path("templates/unknown.yaml"),
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: extra\n  namespace: ${namespace}\n",
    )
    .unwrap();
    let out = shop.run_with(&shop.alice, &["render", "--env", "prod", "-n", "search"]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(
        err.contains("templates/unknown.yaml"),
        "the error does not name the file:\n{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "render printed something: {}",
        stdout(&out)
    );
}

// ------------------------------------------------------ ksec.yaml checks

#[test]
fn onboarding_fields_in_ksec_yaml_are_checked_with_their_line() {
    let head = "version: 1\nrecipients:\n  alice: ALICE\nnamespaces:\n";
    let cases: &[(&str, &str, usize, &[&str])] = &[
        (
            "quota without owners",
            "  search:\n    recipients: [alice]\n    quota: {cpu: \"4\"}\n",
            7,
            &["quota", "owners"],
        ),
        (
            "podSecurity without owners",
            "  search:\n    recipients: [alice]\n    podSecurity: restricted\n",
            7,
            &["podSecurity", "owners"],
        ),
        (
            "networkPolicy without owners",
            "  search:\n    recipients: [alice]\n    networkPolicy: default-deny\n",
            7,
            &["networkPolicy", "owners"],
        ),
        (
            "team without owners",
            "  search:\n    recipients: [alice]\n    team: search\n",
            7,
            &["team", "owners"],
        ),
        (
            "a quota that is no quantity",
            "  search:\n    recipients: [alice]\n    owners: [search-devs]\n    quota:\n      memory: 8GB\n",
            9,
            &["8GB"],
        ),
        (
            "an unknown Pod Security level",
            "  search:\n    recipients: [alice]\n    owners: [search-devs]\n    podSecurity: strict\n",
            8,
            &["strict"],
        ),
        (
            "owners on kube-system",
            "  kube-system:\n    recipients: [alice]\n    owners: [search-devs]\n",
            7,
            &["kube-system", "owners"],
        ),
    ];
    for (what, body, line, needles) in cases {
        let shop = Shop::with_yaml(&format!("{head}{body}"));
        let before = shop.tree();
        let at = format!("ksec.yaml:{line}:");
        for args in [
            &["namespace", "list"][..],
            &["render"][..],
            &[
                "namespace",
                "add",
                "docs",
                "--owner-group",
                "d",
                "--recipient",
                "alice",
            ][..],
        ] {
            let out = shop.run_with(&shop.alice, args);
            let err = stderr(&out);
            assert_eq!(code(&out), Some(6), "{what}: ksec {args:?}\n{err}");
            assert!(
                err.contains(&at),
                "{what}: ksec {args:?} does not point at {at}\n{err}"
            );
            for needle in *needles {
                assert!(
                    err.contains(needle),
                    "{what}: ksec {args:?} does not name {needle}\n{err}"
                );
            }
            assert!(
                out.stdout.is_empty(),
                "{what}: ksec {args:?} printed {}",
                stdout(&out)
            );
            assert!(shop.tree() == before, "{what}: ksec {args:?} wrote files");
        }
    }
}

// --------------------------------------------------------------- terminal

/// A command running on a pseudo-terminal (util-linux `script`), with its
/// screen collected as it is drawn.
struct Pty {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    screen: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Pty {
    fn spawn(home: &Path, args: &[&str]) -> Pty {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let bin = assert_cmd::cargo::cargo_bin("ksec");
        let cmd = std::iter::once(bin.display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| quote(&a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("TERM", "xterm")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("script (util-linux) runs");
        let mut out = child.stdout.take().unwrap();
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = screen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            stdin: child.stdin.take(),
            child,
            screen,
            reader: Some(reader),
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Wait until `needle` has been drawn.
    fn wait_for(&self, needle: &str) {
        let start = Instant::now();
        while !self.screen().contains(needle) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the terminal never showed {needle:?}:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // let the prompt switch the terminal mode before the next keys
        std::thread::sleep(Duration::from_millis(200));
    }

    fn keys(&mut self, keys: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(keys.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Exit code and everything shown.
    fn finish(mut self) -> (Option<i32>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("ksec did not finish on the terminal:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        drop(self.stdin.take());
        self.reader.take().unwrap().join().unwrap();
        (status.code(), self.screen())
    }
}

#[test]
fn add_on_a_terminal_asks_for_the_owner_group_quota_and_recipients() {
    let shop = Shop::new();
    let project = shop.dir.to_str().unwrap();
    let mut pty = Pty::spawn(
        shop.home.path(),
        &["--project", project, "namespace", "add", "search"],
    );
    pty.wait_for("owner group");
    pty.keys("search-devs\r");
    // the presets, medium preselected: enter takes it
    pty.wait_for("> medium: cpu=4,memory=8Gi,pods=20");
    let screen = pty.screen();
    for item in [
        "small: cpu=2,memory=4Gi,pods=10",
        "large: ",
        "custom",
        "none",
    ] {
        assert!(
            screen.contains(item),
            "the quota prompt has no {item:?}:\n{screen}"
        );
    }
    pty.keys("\r");
    // recipients and groups of ksec.yaml, sorted; space picks the first
    pty.wait_for("[ ] alice");
    let screen = pty.screen();
    for name in ["ci-prod", "ci-staging", "olga", "search-team"] {
        assert!(
            screen.contains(&format!("[ ] {name}")),
            "no choice {name}:\n{screen}"
        );
    }
    pty.keys(" ");
    pty.wait_for("[x] alice");
    pty.keys("\r");
    let (exit, screen) = pty.finish();
    assert_eq!(exit, Some(0), "{screen}");

    let entry = "  search:\n    recipients: [alice]\n    owners: [search-devs]\n    quota:\n      cpu: \"4\"\n      memory: \"8Gi\"\n      pods: \"20\"\n    configMaps:\n      - name: app-config\n        envFiles: [app.env]\n    secrets:\n      - name: app-secrets\n        sources: [secrets.enc.yaml]\n";
    assert_eq!(
        shop.ksec_yaml(),
        shop.original
            .replace(LAST_ENTRY_LINE, &format!("{LAST_ENTRY_LINE}{entry}")),
        "{screen}"
    );
    let list = shop.list_json();
    assert_eq!(list["search"]["owners"], json!(["search-devs"]));
    assert_eq!(
        list["search"]["quota"],
        json!({"cpu": "4", "memory": "8Gi", "pods": "20"})
    );
    assert!(shop.path("namespaces/search/secrets.enc.yaml").is_file());
    // alice was picked, so she can read the starter secret
    let out = shop.run_with(
        &shop.alice,
        &[
            "decrypt",
            shop.path("namespaces/search/secrets.enc.yaml")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
}

#[test]
fn ctrl_c_at_a_prompt_ends_add_with_130_and_writes_nothing() {
    let shop = Shop::new();
    let before = shop.tree();
    let project = shop.dir.to_str().unwrap();
    let mut pty = Pty::spawn(
        shop.home.path(),
        &["--project", project, "namespace", "add", "search"],
    );
    pty.wait_for("owner group");
    pty.keys("search-devs\r");
    pty.wait_for("> medium");
    pty.keys("\x03");
    let (exit, screen) = pty.finish();
    assert_eq!(exit, Some(130), "{screen}");
    assert_eq!(shop.ksec_yaml(), shop.original);
    assert!(
        shop.tree() == before,
        "Ctrl-C at a prompt left files behind"
    );
}
