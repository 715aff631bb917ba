//! Pure planning, no I/O: which permissions a run needs, and how rendered
//! objects differ from live ones. Secret values never leave this module in
//! clear: a changed Secret key is reported with short digests only.

use crate::render::Manifest;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// One permission to prove with a SelfSubjectAccessReview.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub namespace: String,
    pub group: String,
    pub resource: String,
    pub verb: String,
}

/// The API group and plural resource of a kind ksec writes.
pub fn resource_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "ConfigMap" => ("", "configmaps"),
        "Secret" => ("", "secrets"),
        "Deployment" => ("apps", "deployments"),
        "StatefulSet" => ("apps", "statefulsets"),
        "DaemonSet" => ("apps", "daemonsets"),
        _ => ("", "unknown"),
    }
}

/// Every (namespace, group, resource, verb) the run needs: `list` to diff,
/// `create` and `patch` for server-side apply of ConfigMaps and Secrets,
/// `get` and `patch` on workloads for mounts and rollouts, `delete` to prune.
pub fn access_plan(manifests: &[Manifest], namespaces: &[String], prune: bool) -> Vec<Need> {
    let mut needs = BTreeSet::new();
    let mut add = |ns: &str, kind: &str, verbs: &[&str]| {
        let (group, resource) = resource_of(kind);
        for verb in verbs {
            needs.insert(Need {
                namespace: ns.to_string(),
                group: group.into(),
                resource: resource.into(),
                verb: (*verb).into(),
            });
        }
    };
    for ns in namespaces {
        for kind in ["ConfigMap", "Secret"] {
            let mut verbs = vec!["list", "create", "patch"];
            if prune {
                verbs.push("delete");
            }
            add(ns, kind, &verbs);
        }
    }
    for m in manifests {
        if !matches!(m.kind.as_str(), "ConfigMap" | "Secret") {
            add(&m.namespace, &m.kind, &["get", "patch"]);
        }
    }
    needs.into_iter().collect()
}

/// What happens to one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Create,
    Update(Vec<String>),
    Unchanged,
    Delete,
}

/// A short digest of a secret value: enough to see that it changed.
pub fn digest(value: &str) -> String {
    let d = Sha256::digest(value.as_bytes());
    d.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn map_of<'a>(v: &'a Value, field: &str) -> BTreeMap<&'a str, &'a Value> {
    v.get(field)
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

fn meta_map<'a>(v: &'a Value, field: &str) -> BTreeMap<&'a str, &'a Value> {
    v.get("metadata")
        .map(|m| map_of(m, field))
        .unwrap_or_default()
}

/// Per-key lines for a data map. For Secrets only digests of the decoded
/// values are shown; ConfigMap values as a small unified diff.
fn data_changes(field: &str, want: &Value, live: &Value, secret: bool, out: &mut Vec<String>) {
    let (w, l) = (map_of(want, field), map_of(live, field));
    let keys: BTreeSet<&str> = w.keys().chain(l.keys()).copied().collect();
    for key in keys {
        match (w.get(key), l.get(key)) {
            (Some(_), None) => out.push(format!("+ {field}.{key} (added)")),
            (None, Some(_)) => out.push(format!("- {field}.{key} (removed)")),
            (Some(a), Some(b)) if a != b => {
                let (a, b) = (a.as_str().unwrap_or(""), b.as_str().unwrap_or(""));
                if secret {
                    out.push(format!(
                        "~ {field}.{key} (changed: {} -> {})",
                        digest(b),
                        digest(a)
                    ));
                } else {
                    out.push(format!("~ {field}.{key} (changed)"));
                    for line in unified(b, a) {
                        out.push(format!("    {line}"));
                    }
                }
            }
            _ => {}
        }
    }
}

/// A minimal line diff: removed lines with `-`, added with `+`.
fn unified(old: &str, new: &str) -> Vec<String> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let mut out = Vec::new();
    let common_start = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let common_end = old[common_start..]
        .iter()
        .rev()
        .zip(new[common_start..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    for l in &old[common_start..old.len() - common_end] {
        out.push(format!("-{l}"));
    }
    for l in &new[common_start..new.len() - common_end] {
        out.push(format!("+{l}"));
    }
    out
}

/// Compare a rendered ConfigMap or Secret with the live object.
pub fn compare(want: &Manifest, live: Option<&Value>) -> Change {
    let Some(live) = live else {
        return Change::Create;
    };
    if !matches!(want.kind.as_str(), "ConfigMap" | "Secret") {
        return if contains(live, &want.body) {
            Change::Unchanged
        } else {
            Change::Update(vec![
                "~ pod template (mounts or rollout annotations)".into(),
            ])
        };
    }
    let secret = want.kind == "Secret";
    let mut lines = Vec::new();
    data_changes("data", &want.body, live, secret, &mut lines);
    data_changes("binaryData", &want.body, live, secret, &mut lines);
    for field in ["labels", "annotations"] {
        let (w, l) = (meta_map(&want.body, field), meta_map(live, field));
        for (k, v) in &w {
            if l.get(k) != Some(v) {
                lines.push(format!("~ metadata.{field}.{k}"));
            }
        }
    }
    for field in ["type", "immutable"] {
        let w = want.body.get(field);
        if w.is_some() && w != live.get(field) {
            lines.push(format!("~ {field}"));
        }
    }
    if lines.is_empty() {
        Change::Unchanged
    } else {
        Change::Update(lines)
    }
}

/// Whether `live` already holds every field of `want` (lists of objects
/// matched by `name`): a partial workload that is already applied.
pub fn contains(live: &Value, want: &Value) -> bool {
    match (live, want) {
        (Value::Object(l), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| l.get(k).is_some_and(|lv| contains(lv, wv))),
        (Value::Array(l), Value::Array(w)) => w.iter().all(|wi| {
            let name = wi.get("name");
            l.iter()
                .any(|li| (name.is_none() || li.get("name") == name) && contains(li, wi))
        }),
        (l, w) => l == w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(kind: &str, body: Value) -> Manifest {
        Manifest {
            namespace: "ns".into(),
            kind: kind.into(),
            name: "x".into(),
            body,
        }
    }

    #[test]
    fn plan_covers_diff_apply_prune_and_workloads() {
        let ms = vec![manifest("Deployment", json!({}))];
        let plan = access_plan(&ms, &["ns".into()], true);
        let verbs: Vec<String> = plan
            .iter()
            .map(|n| format!("{}/{}:{}", n.group, n.resource, n.verb))
            .collect();
        assert!(verbs.contains(&"/secrets:delete".to_string()));
        assert!(verbs.contains(&"/configmaps:create".to_string()));
        assert!(verbs.contains(&"apps/deployments:patch".to_string()));
        let plan = access_plan(&[], &["ns".into()], false);
        assert!(!plan.iter().any(|n| n.verb == "delete"));
    }

    #[test]
    fn secret_changes_show_digests_never_values() {
        let want = manifest(
            "Secret",
            json!({"data": {"a": "bmV3", "b": "c2FtZQ=="}, "type": "Opaque"}),
        );
        let live =
            json!({"data": {"a": "b2xk", "b": "c2FtZQ==", "gone": "eA=="}, "type": "Opaque"});
        let Change::Update(lines) = compare(&want, Some(&live)) else {
            panic!("expected an update")
        };
        let text = lines.join("\n");
        assert!(text.contains("~ data.a (changed: "), "{text}");
        assert!(text.contains("- data.gone (removed)"), "{text}");
        assert!(!text.contains("bmV3") && !text.contains("b2xk"), "{text}");
    }

    #[test]
    fn config_map_changes_show_a_line_diff() {
        let want = manifest("ConfigMap", json!({"data": {"c": "a\nB\nc\n"}}));
        let live = json!({"data": {"c": "a\nb\nc\n"}});
        let Change::Update(lines) = compare(&want, Some(&live)) else {
            panic!("expected an update")
        };
        assert_eq!(lines, vec!["~ data.c (changed)", "    -b", "    +B"]);
    }

    #[test]
    fn an_applied_partial_workload_is_unchanged() {
        let want = manifest(
            "Deployment",
            json!({"spec": {"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "c-1"}}]}}}}),
        );
        let live = json!({"spec": {"replicas": 1, "template": {"spec": {"volumes": [
            {"name": "other", "emptyDir": {}},
            {"name": "v", "configMap": {"name": "c-1"}}
        ]}}}});
        assert_eq!(compare(&want, Some(&live)), Change::Unchanged);
        let stale = json!({"spec": {"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "c-0"}}]}}}});
        assert!(matches!(compare(&want, Some(&stale)), Change::Update(_)));
    }
}
