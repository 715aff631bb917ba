//! Namespace onboarding: the YAML templates in `templates/` (compiled into
//! the binary, each overridable by a file of the same name in a project's
//! own `templates/`) instantiated for a namespace that has owners.
//!
//! Templates are plain Kubernetes YAML. A scalar `${name}` is a placeholder:
//! standing alone it is replaced by the value (which may be a map or a list),
//! inside a longer string by its text. An unknown placeholder is an error.
//! Pure: the caller reads the project's template files.

use crate::k8s::{
    ENVIRONMENT_LABEL, MANAGED_BY, Manifest, PROJECT_LABEL, Role, is_cluster_scoped, is_dns_label,
    is_dns_subdomain, kind_named, kinds_of,
};
use crate::problem::Problem;
use crate::project::{Namespace, Project};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// When a template is rendered for an onboarded namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    Always,
    WithQuota,
    WithDefaultDeny,
}

/// The templates ksec ships, by file name.
const BUILTIN: &[(&str, When, &str)] = &[
    (
        "namespace.yaml",
        When::Always,
        include_str!("../../templates/namespace.yaml"),
    ),
    (
        "resource-quota.yaml",
        When::WithQuota,
        include_str!("../../templates/resource-quota.yaml"),
    ),
    (
        "limit-range.yaml",
        When::Always,
        include_str!("../../templates/limit-range.yaml"),
    ),
    (
        "owners-rbac.yaml",
        When::Always,
        include_str!("../../templates/owners-rbac.yaml"),
    ),
    (
        "ci-rbac.yaml",
        When::Always,
        include_str!("../../templates/ci-rbac.yaml"),
    ),
    (
        "network-policy.yaml",
        When::WithDefaultDeny,
        include_str!("../../templates/network-policy.yaml"),
    ),
];

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("namespace", "the namespace's name"),
    ("project", "the project's name"),
    ("team", "the namespace's team (default: its name)"),
    ("pod_security", "privileged, baseline or restricted"),
    ("owner_subjects", "RBAC subjects: one Group per owner"),
    ("quota", "the quota's hard limits (a map)"),
    ("default_limits", "container default limits (a map)"),
    ("default_requests", "container default requests (a map)"),
];

struct Template {
    /// How messages name it: `templates/quota.yaml` or `built-in quota.yaml`.
    origin: String,
    when: When,
    docs: Vec<Value>,
}

/// The templates in use: the built-in ones, some replaced by the project's.
pub struct Templates(Vec<Template>);

impl Default for Templates {
    fn default() -> Templates {
        Templates::builtin()
    }
}

/// Built-in template file names.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _, _)| *name)
}

impl Templates {
    pub fn builtin() -> Templates {
        Templates::with_overrides(Vec::new())
            .unwrap_or_else(|problems| panic!("a built-in template is invalid: {problems:?}"))
    }

    /// The built-in templates with `overrides` (file name, origin, text)
    /// in place of those of the same name. Every problem is returned.
    pub fn with_overrides(
        overrides: Vec<(String, String, String)>,
    ) -> Result<Templates, Vec<String>> {
        let mut problems = Vec::new();
        for (name, origin, _) in &overrides {
            if !builtin_names().any(|b| b == name) {
                problems.push(format!(
                    "{origin}: ksec has no template of that name (it knows {})",
                    builtin_names().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let mut templates = Vec::new();
        for (name, when, text) in BUILTIN {
            let (origin, text) = match overrides.iter().find(|(n, _, _)| n == name) {
                Some((_, origin, text)) => (origin.clone(), text.as_str()),
                None => (format!("built-in {name}"), *text),
            };
            match parse(&origin, text) {
                Ok(docs) => templates.push(Template {
                    origin,
                    when: *when,
                    docs,
                }),
                Err(mut more) => problems.append(&mut more),
            }
        }
        if problems.is_empty() {
            Ok(Templates(templates))
        } else {
            Err(problems)
        }
    }
}

/// Parse and check one template file.
fn parse(origin: &str, text: &str) -> Result<Vec<Value>, Vec<String>> {
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(text).map_err(|e| {
        let located = crate::crypto::yaml::located_error(&e, false);
        let at = located.line.map(|l| format!(":{l}")).unwrap_or_default();
        vec![format!("{origin}{at}: {}", located.message)]
    })?;
    let mut problems = Vec::new();
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    for (i, doc) in docs.iter().enumerate() {
        let at = format!("{origin} (document {})", i + 1);
        let mut unknown = Vec::new();
        placeholders_in(doc, &mut unknown);
        for name in unknown {
            if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
                problems.push(format!(
                    "{at}: unknown placeholder ${{{name}}} (known: {})",
                    PLACEHOLDERS
                        .iter()
                        .map(|(p, _)| format!("${{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let kind = doc["kind"].as_str().unwrap_or_default();
        let Some(&crate::k8s::Kind {
            api_version,
            cluster_scoped: cluster,
            ..
        }) = kind_named(kind).filter(|k| k.role == Role::Onboarding)
        else {
            problems.push(format!(
                "{at}: kind {kind:?} is not one onboarding writes ({})",
                kinds_of(Role::Onboarding)
                    .map(|k| k.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        };
        if doc["apiVersion"].as_str() != Some(api_version) {
            problems.push(format!("{at}: a {kind} needs apiVersion: {api_version}"));
        }
        if !doc["metadata"]["name"].is_string() {
            problems.push(format!("{at}: metadata.name is missing"));
        }
        match doc["metadata"]["namespace"].as_str() {
            Some(_) if cluster => {
                problems.push(format!("{at}: a {kind} is cluster-scoped: remove metadata.namespace"))
            }
            Some(ns) if ns != "${namespace}" => problems.push(format!(
                "{at}: metadata.namespace must be ${{namespace}} (a template writes only into its own namespace)"
            )),
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(docs)
    } else {
        Err(problems)
    }
}

/// Every `${name}` in the strings (and keys) of `value`.
fn placeholders_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => names_in(s, out),
        Value::Array(items) => items.iter().for_each(|v| placeholders_in(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                names_in(k, out);
                placeholders_in(v, out);
            }
        }
        _ => {}
    }
}

fn names_in(s: &str, out: &mut Vec<String>) {
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                out.push(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => {
                out.push(after.to_string());
                break;
            }
        }
    }
}

/// The values of the placeholders for one namespace.
fn values(project: &Project, ns: &Namespace) -> BTreeMap<&'static str, Value> {
    let subjects: Vec<Value> = ns
        .owners
        .iter()
        .map(|g| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g}))
        .collect();
    BTreeMap::from([
        ("namespace", json!(ns.name)),
        ("project", json!(project.name)),
        ("team", json!(ns.team)),
        ("pod_security", json!(ns.pod_security)),
        ("owner_subjects", Value::Array(subjects)),
        ("quota", json!(ns.quota)),
        ("default_limits", json!(ns.limits.default)),
        ("default_requests", json!(ns.limits.default_request)),
    ])
}

/// Replace placeholders; `Err(name)` for a map or list placed inside text.
fn substitute(value: &Value, vars: &BTreeMap<&str, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && let Some(v) = vars.get(name)
                && !name.contains('}')
            {
                v.clone()
            } else {
                Value::String(interpolate(s, vars)?)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(interpolate(k, vars)?, substitute(v, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn interpolate(s: &str, vars: &BTreeMap<&str, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').unwrap_or(after.len());
        let name = &after[..end];
        match vars.get(name) {
            Some(Value::String(text)) => out.push_str(text),
            _ => return Err(name.to_string()),
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

/// The namespace-level objects of an onboarded namespace, labelled as
/// ksec's (project and environment), Namespace first.
pub fn manifests(
    project: &Project,
    environment: Option<&str>,
    ns: &Namespace,
    templates: &Templates,
) -> Result<Vec<Manifest>, Vec<Problem>> {
    let vars = values(project, ns);
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for template in &templates.0 {
        let wanted = match template.when {
            When::Always => true,
            When::WithQuota => !ns.quota.is_empty(),
            When::WithDefaultDeny => ns.default_deny,
        };
        if !wanted {
            continue;
        }
        for doc in &template.docs {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            let mut body = match substitute(doc, &vars) {
                Ok(body) => body,
                Err(name) => {
                    problems.push(Problem {
                        location: template.origin.clone(),
                        object: format!("{}/{kind}", ns.name),
                        message: format!(
                            "${{{name}}} stands for a map or a list: it must be a whole value, not part of a text"
                        ),
                    });
                    continue;
                }
            };
            let name = body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let object = format!("{}/{kind}/{name}", ns.name);
            if !valid_name(&kind, &name) {
                problems.push(Problem {
                    location: template.origin.clone(),
                    object,
                    message: format!("the name {name:?} is not valid for a {kind}"),
                });
                continue;
            }
            label(&mut body, project, environment, ns, &kind);
            out.push(Manifest {
                namespace: ns.name.clone(),
                kind,
                name,
                body,
            });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn valid_name(kind: &str, name: &str) -> bool {
    if kind.starts_with("Role") || kind.starts_with("ClusterRole") {
        // RBAC names are path segments
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
    } else if kind == "Namespace" {
        is_dns_label(name)
    } else {
        is_dns_subdomain(name)
    }
}

/// Set the namespace (for namespaced kinds) and ksec's labels; the
/// Namespace also gets the namespace's own labels and annotations.
fn label(
    body: &mut Value,
    project: &Project,
    environment: Option<&str>,
    ns: &Namespace,
    kind: &str,
) {
    let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if !is_cluster_scoped(kind) {
        meta.insert("namespace".into(), json!(ns.name));
    }
    let mut labels: BTreeMap<String, Value> = project
        .defaults
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut annotations: BTreeMap<String, Value> = BTreeMap::new();
    if kind == "Namespace" {
        labels.extend(ns.labels.iter().map(|(k, v)| (k.clone(), json!(v))));
        annotations.extend(ns.annotations.iter().map(|(k, v)| (k.clone(), json!(v))));
    }
    if let Some(Value::Object(own)) = meta.get("labels") {
        labels.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(Value::Object(own)) = meta.get("annotations") {
        annotations.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    labels.insert(MANAGED_BY.into(), json!("ksec"));
    labels.insert(PROJECT_LABEL.into(), json!(project.name));
    if let Some(env) = environment {
        labels.insert(ENVIRONMENT_LABEL.into(), json!(env));
    }
    meta.insert("labels".into(), json!(labels));
    if !annotations.is_empty() {
        meta.insert("annotations".into(), json!(annotations));
    }
}

#[cfg(test)]
mod tests;
