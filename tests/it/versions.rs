//! The CI loop against a real kube-apiserver: ksec's own superseded
//! hash-named versions are kept (the newest `defaults.keepVersions`) and
//! are no drift, a new version is diffed against the one it replaces,
//! `diff --prune` shows what `apply --prune` deletes, `diff` and `apply`
//! agree on a missing namespace, and two copies of one project do not
//! prune each other.

use crate::common;

use common::kube::{create_namespaces, ksec_project, kubectl_apply_stdin, objects, text, unique};
use common::{CANARY, Key, ksec_with, stdout};
use std::path::Path;

/// A project `name` with environment `test` (context `context`) and one
/// namespace `ns` with a ConfigMap `<prefix>cfg` (from app.env) and a
/// Secret `<prefix>db` (from an encrypted env file).
struct Project {
    dir: tempfile::TempDir,
    key: Key,
    ns: String,
}

impl Project {
    fn new(name: &str, context: &str, ns: &str, prefix: &str, defaults: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let yaml = format!(
            "version: 1\nproject: {name}\nrecipients:\n  me: {}\n{defaults}environments:\n  test:\n    context: {context}\nnamespaces:\n  {ns}:\n    recipients: [me]\n    configMaps:\n      - name: {prefix}cfg\n        envFiles: [app.env]\n    secrets:\n      - name: {prefix}db\n        sources: [db.enc.env]\n",
            key.recipient
        );
        std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
        let folder = dir.path().join("namespaces").join(ns);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("app.env"), "LOG_LEVEL=info\n").unwrap();
        std::fs::write(folder.join("db.env"), format!("PASSWORD={CANARY}\n")).unwrap();
        let project = Project {
            dir,
            key,
            ns: ns.to_string(),
        };
        let (plain, enc) = (folder.join("db.env"), folder.join("db.enc.env"));
        project
            .ksec(&[
                "encrypt",
                plain.to_str().unwrap(),
                "--output",
                enc.to_str().unwrap(),
            ])
            .assert()
            .success();
        std::fs::remove_file(plain).unwrap();
        project
    }

    /// A project of its own in context admin, in a namespace of its own
    /// that exists; and that namespace.
    fn in_new_namespace() -> (String, Project) {
        let ns = unique("v");
        create_namespaces(&[&ns]);
        let project = Project::new(&unique("p"), "admin", &ns, "", "");
        (ns, project)
    }

    fn ksec(&self, args: &[&str]) -> common::Ksec {
        ksec_project(self.dir.path(), &self.key, args)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.ksec(args).output().unwrap()
    }

    fn apply_ok(&self) {
        let out = self.run(&["apply", "--yes"]);
        assert!(out.status.success(), "apply failed: {}", text(&out));
        assert!(!text(&out).contains(CANARY));
    }

    fn set_log_level(&self, level: &str) {
        let path = self.dir.path().join("namespaces").join(&self.ns);
        std::fs::write(path.join("app.env"), format!("LOG_LEVEL={level}\n")).unwrap();
    }

    /// `ksec set` of PASSWORD in the namespace's db.enc.env, which must
    /// succeed.
    fn set_password(&self, value: &str) {
        let db = self
            .dir
            .path()
            .join("namespaces")
            .join(&self.ns)
            .join("db.enc.env");
        self.ksec(&["set", db.to_str().unwrap(), "PASSWORD", value])
            .assert()
            .success();
    }

    fn edit_yaml(&self, from: &str, to: &str) {
        let path = self.dir.path().join("ksec.yaml");
        let yaml = std::fs::read_to_string(&path).unwrap();
        assert!(yaml.contains(from), "{yaml}");
        std::fs::write(path, yaml.replacen(from, to, 1)).unwrap();
    }
}

/// Names of the live objects of `kind` in `ns` starting with `prefix`.
fn named(ns: &str, kind: &str, prefix: &str) -> Vec<String> {
    objects(ns, kind)
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
fn after_a_change_diff_pairs_the_new_version_with_the_old_and_is_clean_after_apply() {
    let (ns, project) = Project::in_new_namespace();
    project.apply_ok();
    let old_cfg = named(&ns, "configmaps", "cfg-").pop().unwrap();
    let old_db = named(&ns, "secrets", "db-").pop().unwrap();

    project.set_log_level("debug");
    let new_secret = "rotated-canary-91b2";
    project.set_password(new_secret);

    let out = project.run(&["diff"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let out_text = stdout(&out);
    assert!(
        out_text.contains(&format!("(replaces {old_cfg})"))
            && out_text.contains("~ data.LOG_LEVEL (changed)"),
        "the new ConfigMap is not diffed against the one it replaces:\n{t}"
    );
    assert!(
        out_text.contains("    -info") && out_text.contains("    +debug"),
        "{t}"
    );
    assert!(
        out_text.contains(&format!("(replaces {old_db})"))
            && out_text.contains("~ data.PASSWORD (changed: "),
        "the new Secret is not diffed against the one it replaces:\n{t}"
    );
    assert!(
        !out_text.contains("delete "),
        "a superseded version is shown as a delete:\n{t}"
    );
    for value in [CANARY, new_secret] {
        assert!(!t.contains(value), "a secret value was printed: {t}");
    }

    project.apply_ok();
    let out = project.run(&["diff"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "diff after apply is not clean:\n{}",
        text(&out)
    );
    // the superseded versions are still there for Pods that mount them
    assert!(named(&ns, "configmaps", "cfg-").contains(&old_cfg));
    assert!(named(&ns, "secrets", "db-").contains(&old_db));
    // and --prune does not take them: they did not leave the project
    let out = project.run(&["diff", "--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = project.run(&["apply", "--prune", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(named(&ns, "configmaps", "cfg-").contains(&old_cfg));
}

#[test]
fn apply_keeps_only_the_newest_versions() {
    let (ns, project) = Project::in_new_namespace();
    let mut created = Vec::new();
    for level in ["a", "b", "c", "d", "e"] {
        project.set_log_level(level);
        project.apply_ok();
        for name in named(&ns, "configmaps", "cfg-") {
            if !created.contains(&name) {
                created.push(name);
            }
        }
    }
    assert_eq!(created.len(), 5);
    // the current one and the 2 it superseded last (default keepVersions)
    let mut live = named(&ns, "configmaps", "cfg-");
    live.sort();
    let mut newest = created[2..].to_vec();
    newest.sort();
    assert_eq!(live, newest, "created in order: {created:?}");
    assert_eq!(named(&ns, "secrets", "db-").len(), 1);

    // a diff before the next apply names the version it would delete
    project.set_log_level("f");
    let out = project.run(&["diff"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(&format!(
            "delete {ns}/ConfigMap/{} (superseded version beyond defaults.keepVersions)",
            created[2]
        )),
        "{}",
        text(&out)
    );

    // keepVersions: 0 deletes every superseded version at once
    project.edit_yaml(
        "environments:",
        "defaults:\n  keepVersions: 0\nenvironments:",
    );
    project.apply_ok();
    assert_eq!(named(&ns, "configmaps", "cfg-").len(), 1);
    let out = project.run(&["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn keep_versions_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    std::fs::write(
        dir.path().join("ksec.yaml"),
        "version: 1\nproject: p\ndefaults:\n  keepVersions: 1000\n",
    )
    .unwrap();
    let out = ksec_with(dir.path(), &key)
        .arg("--project")
        .arg(dir.path())
        .expect_secret_output()
        .arg("render")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        text(&out).contains("defaults.keepVersions: 1000 is more than 100"),
        "{}",
        text(&out)
    );
}

/// A Role in `ns` for `group` that may do everything apply does but delete
/// ConfigMaps.
fn grant_without_delete(group: &str, ns: &str) {
    let role = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: ksec\n  namespace: {ns}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps, secrets]\n  verbs: [get, list, create, patch]\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [delete]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: ksec\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: ksec\nsubjects:\n- kind: Group\n  name: {group}\n  apiGroup: rbac.authorization.k8s.io\n"
    );
    kubectl_apply_stdin("admin", &role);
}

#[test]
fn without_the_delete_right_old_versions_stay_and_the_apply_goes_on() {
    let ns = unique("v");
    create_namespaces(&[&ns]);
    grant_without_delete("team-a", &ns);
    let project = Project::new(
        &unique("p"),
        "alice",
        &ns,
        "",
        "defaults:\n  keepVersions: 0\n",
    );
    project.apply_ok();
    project.set_log_level("debug");
    project.set_password("another-canary-5e1");
    let out = project.run(&["apply", "--yes"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains(&format!("you may not delete configmaps in {ns}, so 1 superseded version beyond defaults.keepVersions stays")),
        "{t}"
    );
    assert_eq!(named(&ns, "configmaps", "cfg-").len(), 2);
    // what may be deleted still is
    assert_eq!(named(&ns, "secrets", "db-").len(), 1);
}

#[test]
fn diff_prune_lists_what_apply_prune_deletes() {
    let (ns, project) = Project::in_new_namespace();
    project.apply_ok();
    let cfg = named(&ns, "configmaps", "cfg-").pop().unwrap();
    // the ConfigMap leaves the project
    project.edit_yaml(
        "    configMaps:\n      - name: cfg\n        envFiles: [app.env]\n",
        "",
    );
    let out = project.run(&["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("1 object of this project is no longer rendered"),
        "{}",
        text(&out)
    );
    let out = project.run(&["diff", "--prune"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        stdout(&out),
        format!("delete {ns}/ConfigMap/{cfg} (--prune)\n")
    );
    let out = project.run(&["apply", "--prune", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(named(&ns, "configmaps", "cfg-").is_empty());
    let out = project.run(&["diff", "--prune"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn diff_and_apply_say_the_same_about_a_missing_namespace_and_the_hint_works() {
    let ns = unique("v");
    let project = Project::new(&unique("p"), "admin", &ns, "", "");
    let diff = project.run(&["diff"]);
    let apply = project.run(&["apply", "--yes"]);
    for (command, out) in [("diff", &diff), ("apply", &apply)] {
        let t = text(out);
        assert_eq!(out.status.code(), Some(3), "{command}: {t}");
        assert!(
            t.contains(&format!("namespace {ns} does not exist in context admin")),
            "{command}: {t}"
        );
        assert!(
            t.contains(&format!("kubectl create namespace {ns}"))
                && t.contains(&format!("namespaces.{ns} `owners`")),
            "{command}: {t}"
        );
        assert!(
            !t.contains("namespace add"),
            "{command} suggests `namespace add`, which fails for a declared namespace: {t}"
        );
    }
    assert!(
        stdout(&diff).is_empty(),
        "diff planned writes: {}",
        text(&diff)
    );
    // the hint works
    create_namespaces(&[&ns]);
    project.apply_ok();
    assert_eq!(project.run(&["diff"]).status.code(), Some(0));
}

#[test]
fn two_checkouts_of_one_project_name_do_not_prune_each_other() {
    let ns = unique("v");
    create_namespaces(&[&ns]);
    let name = unique("shared");
    // two copies of one project name in two directories, with other objects
    let first = Project::new(&name, "admin", &ns, "first-", "");
    let second = Project::new(&name, "admin", &ns, "second-", "");
    first.apply_ok();
    let theirs = named(&ns, "configmaps", "first-cfg-");
    assert_eq!(theirs.len(), 1);

    let out = second.run(&["diff", "--prune"]);
    let t = text(&out);
    assert!(
        !stdout(&out).contains("first-cfg-"),
        "diff --prune plans to delete the other checkout's objects: {t}"
    );
    assert!(
        t.contains(&format!("not deleting {ns}/ConfigMap/{}", theirs[0]))
            && t.contains("another checkout"),
        "{t}"
    );

    let out = second.run(&["apply", "--prune", "--yes"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("another checkout")
            && t.contains(
                &first
                    .dir
                    .path()
                    .canonicalize()
                    .unwrap()
                    .display()
                    .to_string()
            ),
        "the warning does not say where they came from: {t}"
    );
    assert_eq!(
        named(&ns, "configmaps", "first-cfg-"),
        theirs,
        "one checkout pruned the other's objects"
    );
    assert_eq!(named(&ns, "secrets", "first-db-").len(), 1);
    assert_eq!(named(&ns, "configmaps", "second-cfg-").len(), 1);
    assert!(!t.contains(CANARY));

    // a checkout still prunes what it applied itself
    second.edit_yaml(
        "    configMaps:\n      - name: second-cfg\n        envFiles: [app.env]\n",
        "",
    );
    let out = second.run(&["apply", "--prune", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(named(&ns, "configmaps", "second-cfg-").is_empty());
    assert_eq!(named(&ns, "configmaps", "first-cfg-"), theirs);
}

#[test]
fn a_no_op_apply_from_another_checkout_rewrites_nothing() {
    let ns = unique("v");
    create_namespaces(&[&ns]);
    let name = unique("same");
    let first = Project::new(&name, "admin", &ns, "", "");
    first.apply_ok();
    let versions = || {
        objects(&ns, "configmaps")
            .into_iter()
            .chain(objects(&ns, "secrets"))
            .map(|(n, o)| (n, o["metadata"]["resourceVersion"].clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let before = versions();
    // the same sources from another directory: nothing to write
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(first.dir.path(), copy.path());
    let out = ksec_project(copy.path(), &first.key, &["apply", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(versions(), before, "a no-op apply rewrote objects");
    let again = first.run(&["apply", "--yes"]);
    assert!(again.status.success());
    assert_eq!(versions(), before, "a no-op apply rewrote objects");
}

/// `git ARGS` in `dir`, which must succeed.
fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn clones_of_one_repository_prune_each_other_with_a_warning_about_unknown_commits() {
    let (ns, origin) = Project::in_new_namespace();
    git(origin.dir.path(), &["init", "-q"]);
    git(origin.dir.path(), &["add", "ksec.yaml", "namespaces"]);
    git(origin.dir.path(), &["commit", "-q", "-m", "one"]);
    let clones = tempfile::tempdir().unwrap();
    let (ahead, behind) = (clones.path().join("ahead"), clones.path().join("behind"));
    for clone in [&ahead, &behind] {
        let from = origin.dir.path().to_str().unwrap();
        git(
            clones.path(),
            &["clone", "-q", from, clone.to_str().unwrap()],
        );
    }
    let ksec = |dir: &Path, args: &[&str]| ksec_project(dir, &origin.key, args).output().unwrap();
    // one clone moves on: a new ConfigMap, committed and applied
    let yaml = std::fs::read_to_string(ahead.join("ksec.yaml")).unwrap();
    let extra = "      - name: extra\n        literals: {A: '1'}\n";
    std::fs::write(
        ahead.join("ksec.yaml"),
        yaml.replacen("    secrets:\n", &format!("{extra}    secrets:\n"), 1),
    )
    .unwrap();
    git(&ahead, &["commit", "-q", "-am", "two"]);
    let out = ksec(&ahead, &["apply", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let extra = named(&ns, "configmaps", "extra-");
    assert_eq!(extra.len(), 1);

    // the clone behind prunes it (the same checkout: a rollback), but says
    // it came from a commit this clone does not contain
    let out = ksec(&behind, &["apply", "--prune", "--yes"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "{ns}/ConfigMap/{}, last applied from commit",
            extra[0]
        )) && t.contains("which this checkout does not contain"),
        "{t}"
    );
    assert!(named(&ns, "configmaps", "extra-").is_empty());
    // what it applied itself goes without a word
    let out = ksec(&ahead, &["apply", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(ahead.join("ksec.yaml"), &yaml).unwrap();
    git(&ahead, &["commit", "-q", "-am", "three"]);
    let out = ksec(&ahead, &["apply", "--prune", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("warning"), "{}", text(&out));
    assert!(named(&ns, "configmaps", "extra-").is_empty());
}
