use super::*;
use crate::project::Project;
use std::path::Path;

const KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

fn project(namespace: &str) -> Project {
    let text = format!(
        "version: 1\nproject: shop\nrecipients:\n  alice: {KEY}\ndefaults:\n  labels: {{app.kubernetes.io/part-of: shop}}\nenvironments:\n  prod:\n    context: prod\nnamespaces:\n  search:\n{namespace}"
    );
    Project::parse(Path::new("/p"), &text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn render(project: &Project, templates: &Templates) -> Result<Vec<Manifest>, Vec<Problem>> {
    manifests(
        project,
        Some("prod"),
        &project.namespaces["search"],
        templates,
    )
}

fn ids(ms: &[Manifest]) -> Vec<String> {
    ms.iter()
        .map(|m| format!("{}/{}", m.kind, m.name))
        .collect()
}

#[test]
fn builtin_templates_are_valid() {
    // panics with the problems if a shipped template is broken
    let templates = Templates::builtin();
    assert_eq!(templates.0.len(), BUILTIN.len());
}

#[test]
fn rendered_templates_snapshot() {
    let p = project(
        "    recipients: [alice]\n    owners: [search-devs, \"oidc:platform\"]\n    team: discovery\n    podSecurity: restricted\n    quota: {cpu: \"4\", memory: 8Gi, pods: \"20\"}\n    limits:\n      default: {cpu: \"1\", memory: 1Gi}\n    networkPolicy: default-deny\n    labels: {cost-center: \"42\"}\n",
    );
    let ms = render(&p, &Templates::builtin()).unwrap();
    let text = crate::render::emit::documents(ms.iter().map(|m| &m.body));
    insta::assert_snapshot!(text);
}

#[test]
fn optional_templates_follow_the_namespace_fields() {
    let bare = project("    recipients: [alice]\n    owners: [search-devs]\n");
    let ms = render(&bare, &Templates::builtin()).unwrap();
    let ids = ids(&ms);
    assert_eq!(ids[0], "Namespace/search", "{ids:?}");
    assert!(
        !ids.iter().any(|i| i.starts_with("ResourceQuota")),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|i| i.starts_with("NetworkPolicy")),
        "{ids:?}"
    );
    assert!(ids.contains(&"LimitRange/team-defaults".to_string()));
    let ns = &ms[0].body;
    assert_eq!(ns["metadata"]["labels"]["ksec.dev/team"], "search");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "baseline"
    );
    assert_eq!(ns["metadata"]["labels"][MANAGED_BY], "ksec");
    assert_eq!(ns["metadata"]["labels"][ENVIRONMENT_LABEL], "prod");
    assert!(ns["metadata"].get("namespace").is_none());
    // namespaced objects are put into the namespace
    let role = ms.iter().find(|m| m.kind == "Role").unwrap();
    assert_eq!(role.body["metadata"]["namespace"], "search");
}

#[test]
fn owner_subjects_become_one_group_each() {
    let p = project("    recipients: [alice]\n    owners: [a-devs, b-devs]\n");
    let ms = render(&p, &Templates::builtin()).unwrap();
    let binding = ms
        .iter()
        .find(|m| m.kind == "RoleBinding" && m.name == "team-owners")
        .unwrap();
    let names: Vec<&str> = binding.body["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["kind"], "Group");
            s["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, ["a-devs", "b-devs"]);
}

fn override_of(name: &str, text: &str) -> Result<Templates, Vec<String>> {
    Templates::with_overrides(vec![(
        name.into(),
        format!("templates/{name}"),
        text.into(),
    )])
}

#[test]
fn an_unknown_placeholder_is_an_error_naming_file_and_placeholder() {
    let problems = override_of(
        "namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n  labels:\n    owner: ${owner}\n",
    )
    .err()
    .expect("an unknown placeholder must be refused");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("templates/namespace.yaml"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("unknown placeholder ${owner}"),
        "{problems:?}"
    );
}

#[test]
fn an_override_replaces_the_builtin_of_the_same_name() {
    let templates = override_of(
        "namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n  labels:\n    tier: ${project}-${team}\n",
    )
    .unwrap();
    let p = project("    recipients: [alice]\n    owners: [search-devs]\n");
    let ms = render(&p, &templates).unwrap();
    let labels = &ms[0].body["metadata"]["labels"];
    assert_eq!(labels["tier"], "shop-search");
    assert!(labels.get("pod-security.kubernetes.io/enforce").is_none());
    // the other templates are still the built-in ones
    assert!(ms.iter().any(|m| m.kind == "ServiceAccount"));
}

#[test]
fn template_files_are_checked() {
    let unknown = override_of(
        "extra.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n",
    )
    .err()
    .unwrap();
    assert!(
        unknown[0].contains("templates/extra.yaml: ksec has no template of that name"),
        "{unknown:?}"
    );

    let kind = override_of(
        "limit-range.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
    )
    .err()
    .unwrap();
    assert!(
        kind[0].contains("kind \"Deployment\" is not one onboarding writes"),
        "{kind:?}"
    );

    let elsewhere = override_of(
        "limit-range.yaml",
        "apiVersion: v1\nkind: LimitRange\nmetadata: {name: x, namespace: kube-system}\n",
    )
    .err()
    .unwrap();
    assert!(
        elsewhere[0].contains("metadata.namespace must be ${namespace}"),
        "{elsewhere:?}"
    );

    let syntax = override_of("limit-range.yaml", "a: [b\n").err().unwrap();
    assert!(
        syntax[0].starts_with("templates/limit-range.yaml:"),
        "{syntax:?}"
    );
}

#[test]
fn a_map_placeholder_inside_text_is_a_problem() {
    let templates = override_of(
        "namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n  annotations:\n    q: quota is ${quota}\n",
    )
    .unwrap();
    let p = project("    recipients: [alice]\n    owners: [search-devs]\n");
    let problems = render(&p, &templates).err().unwrap();
    assert!(
        problems[0]
            .message
            .contains("${quota} stands for a map or a list"),
        "{problems:?}"
    );
}

#[test]
fn onboarding_fields_are_validated_in_ksec_yaml() {
    let bad = |ns: &str| {
        let text = format!("version: 1\nrecipients:\n  alice: {KEY}\nnamespaces:\n  search:\n{ns}");
        Project::parse(Path::new("/p"), &text)
            .err()
            .map(|e| e.details.join("\n"))
            .unwrap_or_default()
    };
    let all = bad("    quota: {memory: 8GB}\n    owners: [devs]\n");
    assert!(
        all.contains(":6: namespaces.search.quota.memory: \"8GB\" is not a Kubernetes quantity"),
        "{all}"
    );
    let all = bad("    quota: {pods: \"20\"}\n");
    assert!(
        all.contains("namespaces.search.quota: only an onboarded namespace"),
        "{all}"
    );
    let all = bad("    owners: [devs]\n    podSecurity: strict\n");
    assert!(
        all.contains(":7: namespaces.search.podSecurity: strict is not a Pod Security level"),
        "{all}"
    );
    let all = bad("    owners: [devs]\n    networkPolicy: allow-all\n");
    assert!(
        all.contains("networkPolicy: allow-all is not known"),
        "{all}"
    );
    let text = format!(
        "version: 1\nrecipients:\n  alice: {KEY}\nnamespaces:\n  kube-system:\n    owners: [devs]\n"
    );
    let err = Project::parse(Path::new("/p"), &text).unwrap_err();
    assert!(
        err.details.join("\n").contains("kube-system is reserved"),
        "{err:?}"
    );
}
