//! Pure decisions of an apply that never stops half-way, no I/O: which
//! workloads are missing, in which order the writes go, what the server
//! can dry-run only once earlier writes exist (objects in a namespace, or
//! bindings to a role, this apply creates) and what ksec checks of those
//! itself, and the report of a failed apply.
//!
//! Nothing here sees a secret value in clear: data is only measured and
//! its keys named.

use super::ObjectKey;
use crate::error::Error;
use crate::k8s::{Manifest, is_cluster_scoped, is_workload_kind};
use serde_json::Value;
use std::collections::BTreeSet;

/// The error for missing workloads, naming each with what refers to it.
pub fn missing_workloads_error(
    missing: &[ObjectKey],
    manifests: &[Manifest],
    context: &str,
) -> Error {
    let mut err = Error::not_found(format!(
        "{} that ksec.yaml wires config into do{} not exist in context {context}; nothing was written",
        if missing.len() == 1 {
            "a workload"
        } else {
            "workloads"
        },
        if missing.len() == 1 { "es" } else { "" },
    ));
    for key in missing {
        let by = manifests
            .iter()
            .find(|m| super::key_of(m) == *key)
            .map(wired_by)
            .unwrap_or_default();
        let by = if by.is_empty() {
            String::new()
        } else {
            format!(" (for {})", by.join(", "))
        };
        err = err.detail(format!("{}{by}", super::id(key)));
    }
    err.hint("deploy the workload first (ksec only adds a volume, a mount or a rollout annotation to an existing one), or remove the mount/rollout from ksec.yaml")
}

/// What a partial workload carries, in words: `mount of ConfigMap nginx-…`,
/// `rollout annotation ksec.dev/configmap-api-config`.
fn wired_by(m: &Manifest) -> Vec<String> {
    let template = &m.body["spec"]["template"];
    let mut out = Vec::new();
    for v in template["spec"]["volumes"].as_array().into_iter().flatten() {
        if let Some(name) = v["configMap"]["name"].as_str() {
            out.push(format!("mount of ConfigMap {name}"));
        } else if let Some(name) = v["secret"]["secretName"].as_str() {
            out.push(format!("mount of Secret {name}"));
        }
    }
    for key in template["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flat_map(|a| a.keys())
    {
        out.push(format!("rollout annotation {key}"));
    }
    out
}

/// The rank of a write: Namespaces first (what goes into a new namespace
/// needs it), then Roles and ClusterRoles, then the bindings to them (the
/// server checks that the role a binding names exists and grants no more
/// than the writer holds), then every other object, then the workloads
/// (their volumes point at the ConfigMaps and Secrets written before: pods
/// must not roll onto an object that failed to be written). A binding the
/// server can dry-run only once its role exists is refused, if it is, with
/// only Namespaces and roles written.
pub fn rank(m: &Manifest) -> usize {
    match m.kind.as_str() {
        "Namespace" => 0,
        "Role" | "ClusterRole" => 1,
        "RoleBinding" | "ClusterRoleBinding" => 2,
        k if is_workload_kind(k) => 4,
        _ => 3,
    }
}

/// The writes by rank, each with its rank; an empty phase is left out.
pub fn phases<'a>(writes: &[&'a Manifest]) -> Vec<(usize, Vec<&'a Manifest>)> {
    (0..5)
        .map(|r| (r, writes.iter().copied().filter(|m| rank(m) == r).collect()))
        .filter(|(_, p): &(usize, Vec<&Manifest>)| !p.is_empty())
        .collect()
}

/// The rank whose writes must exist before the server can dry-run `m`, or
/// None when it can be dry-run now. The server refuses any request into a
/// namespace that does not exist yet (dry run or not), and refuses a
/// binding to a role that does not exist yet (it checks the role's rules).
/// `created` are the keys of the objects this apply creates.
pub fn ready_after(m: &Manifest, created: &BTreeSet<ObjectKey>) -> Option<usize> {
    let mut after = None;
    if !is_cluster_scoped(&m.kind)
        && created.contains(&(String::new(), "Namespace".into(), m.namespace.clone()))
    {
        after = Some(0);
    }
    if matches!(m.kind.as_str(), "RoleBinding" | "ClusterRoleBinding") {
        let role = &m.body["roleRef"];
        let kind = role["kind"].as_str().unwrap_or_default();
        let name = role["name"].as_str().unwrap_or_default().to_string();
        let ns = if kind == "Role" {
            m.namespace.clone()
        } else {
            String::new()
        };
        if created.contains(&(ns, kind.to_string(), name)) {
            after = Some(1);
        }
    }
    after
}

/// ksec's own check of an object the server cannot dry-run: the API
/// server's validation rules for the metadata of every object and for the
/// data and type of ConfigMaps and Secrets. Returns the problems, naming
/// fields and keys, never values.
pub fn offline_problems(m: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    let meta = &m.body["metadata"];
    for (k, v) in meta["labels"].as_object().into_iter().flatten() {
        if !is_qualified_name(k) {
            out.push(format!("metadata.labels: {k:?} is not a valid label key"));
        }
        if !v.as_str().is_some_and(crate::k8s::is_label_value) {
            out.push(format!(
                "metadata.labels.{k}: the value is not a valid label value (at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends)"
            ));
        }
    }
    let mut annotation_bytes = 0;
    for (k, v) in meta["annotations"].as_object().into_iter().flatten() {
        if !is_qualified_name(k) {
            out.push(format!(
                "metadata.annotations: {k:?} is not a valid annotation key"
            ));
        }
        annotation_bytes += k.len() + v.as_str().map_or(0, str::len);
    }
    if annotation_bytes > 256 * 1024 {
        out.push(format!(
            "metadata.annotations: {annotation_bytes} bytes; the API server allows at most 262144"
        ));
    }
    if matches!(m.kind.as_str(), "ConfigMap" | "Secret") {
        for field in ["data", "binaryData", "stringData"] {
            for k in m.body[field].as_object().into_iter().flat_map(|d| d.keys()) {
                if !crate::k8s::is_data_key(k) {
                    out.push(format!("{field}: {k:?} is not a valid key"));
                }
            }
        }
    }
    if m.kind == "Secret" {
        out.extend(secret_type_problems(&m.body));
    }
    out
}

/// The keys each built-in Secret type requires (as the API server checks).
fn secret_type_problems(body: &Value) -> Vec<String> {
    let ty = body["type"].as_str().unwrap_or("Opaque");
    let data = body["data"].as_object();
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    let decoded = |k: &str| {
        use base64::Engine;
        data.and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    };
    let json_object = |k: &str| {
        decoded(k).is_some_and(|bytes| {
            serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| v.is_object())
        })
    };
    let need = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .filter(|k| !has(k))
            .map(|k| format!("type {ty} needs the key {k}"))
            .collect()
    };
    match ty {
        "kubernetes.io/tls" => need(&["tls.crt", "tls.key"]),
        "kubernetes.io/ssh-auth" => need(&["ssh-privatekey"]),
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            vec![format!("type {ty} needs the key username or password")]
        }
        "kubernetes.io/dockerconfigjson" | "kubernetes.io/dockercfg" => {
            let key = if ty.ends_with("json") {
                ".dockerconfigjson"
            } else {
                ".dockercfg"
            };
            if !has(key) {
                need(&[key])
            } else if !json_object(key) {
                vec![format!("type {ty}: {key} is not a JSON object")]
            } else {
                Vec::new()
            }
        }
        "kubernetes.io/service-account-token"
            if body["metadata"]["annotations"]["kubernetes.io/service-account.name"]
                .as_str()
                .is_none() =>
        {
            vec![format!(
                "type {ty} needs the annotation kubernetes.io/service-account.name"
            )]
        }
        _ => Vec::new(),
    }
}

/// A Kubernetes qualified name: an optional DNS-subdomain prefix and `/`,
/// then at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(crate::k8s::is_dns_subdomain)
        && !name.is_empty()
        && crate::k8s::is_label_value(name)
}

/// What an apply did when a write failed: applied, failed (with the
/// server's reason) and never attempted.
#[derive(Default)]
pub struct Report {
    pub applied: Vec<String>,
    pub failed: Vec<(String, Error)>,
    pub not_attempted: Vec<String>,
}

/// How many names each list of a report shows.
const SHOWN: usize = 10;

fn names(label: &str, list: &[String]) -> String {
    match list.len() {
        0 => format!("{label}: nothing"),
        n if n <= SHOWN => format!("{label}: {}", list.join(", ")),
        n => format!(
            "{label}: {} and {} more",
            list[..SHOWN].join(", "),
            n - SHOWN
        ),
    }
}

impl Report {
    /// The error of a failed apply (None when nothing failed): the three
    /// lists, the first failure's exit code and hint.
    pub fn error(self) -> Option<Error> {
        let (_, first) = self.failed.first()?;
        let total = self.applied.len() + self.failed.len() + self.not_attempted.len();
        let mut err = Error::new(
            first.code,
            format!(
                "{} of {total} writes failed, {} applied, {} not attempted",
                self.failed.len(),
                self.applied.len(),
                self.not_attempted.len()
            ),
        );
        for (id, e) in self.failed.iter().take(SHOWN) {
            err = err.detail(format!("failed: {id}: {}", e.message));
        }
        if self.failed.len() > SHOWN {
            err = err.detail(format!("failed: … and {} more", self.failed.len() - SHOWN));
        }
        err = err.detail(names("applied", &self.applied));
        err = err.detail(names("not attempted", &self.not_attempted));
        let hint = first.hint.clone().unwrap_or_else(|| {
            "fix the cause and run ksec apply again; it only writes what still differs".into()
        });
        Some(err.hint(hint))
    }
}

/// The error of an apply across several clusters where some failed while
/// writing (None when none did): each failed cluster (`label`) with its
/// report's lines, and the clusters that were applied in full. The exit
/// code and hint are those of the first failure.
pub fn clusters_error(results: Vec<(String, Option<Error>)>) -> Option<Error> {
    let total = results.len();
    let (failed, applied): (Vec<_>, Vec<_>) = results.into_iter().partition(|(_, e)| e.is_some());
    let (_, Some(first)) = failed.first()? else {
        return None;
    };
    let mut err = Error::new(
        first.code,
        format!(
            "{} of {total} clusters failed while writing; {}",
            failed.len(),
            if applied.is_empty() {
                "none was applied in full".to_string()
            } else {
                format!(
                    "applied in full: {}",
                    applied
                        .iter()
                        .map(|(l, _)| l.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
    );
    let hint = first.hint.clone();
    for (label, e) in &failed {
        let Some(e) = e else { continue };
        err = err.detail(format!("{label}: {}", e.message));
        for d in &e.details {
            err = err.detail(format!("  {d}"));
        }
    }
    Some(err.hint(hint.unwrap_or_else(|| {
        "fix the cause and run ksec apply again; it only writes what still differs".into()
    })))
}

/// The error of a validation (server dry run and ksec's own checks) that
/// refused writes: nothing was written.
pub fn refused(problems: Vec<(String, Error)>, total: usize) -> Option<Error> {
    let (_, first) = problems.first()?;
    let mut err = Error::new(
        first.code,
        format!(
            "the dry run of the {total} writes refused {}; nothing was written",
            if problems.len() == 1 {
                "1 of them".to_string()
            } else {
                format!("{} of them", problems.len())
            }
        ),
    );
    for (id, e) in problems.iter().take(SHOWN) {
        err = err.detail(format!("{id}: {}", e.message));
    }
    if problems.len() > SHOWN {
        err = err.detail(format!("… and {} more", problems.len() - SHOWN));
    }
    let hint = first.hint.clone().unwrap_or_else(|| {
        "fix the objects named above in ksec.yaml or their sources, then run ksec apply again"
            .into()
    });
    Some(err.hint(hint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use serde_json::json;

    fn m(ns: &str, kind: &str, name: &str, body: Value) -> Manifest {
        Manifest {
            namespace: ns.into(),
            kind: kind.into(),
            name: name.into(),
            body,
        }
    }

    #[test]
    fn a_workload_the_cluster_lacks_is_named_with_what_it_carries() {
        let web = m(
            "shop",
            "Deployment",
            "web",
            json!({"spec": {"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "nginx-abc"}}]}}}}),
        );
        let ms = vec![web];
        let missing = vec![(
            "shop".to_string(),
            "Deployment".to_string(),
            "web".to_string(),
        )];
        let err = missing_workloads_error(&missing, &ms, "staging");
        assert_eq!(err.code, Code::NotFound);
        let text = err.to_string();
        assert!(
            text.contains("shop/Deployment/web (for mount of ConfigMap nginx-abc)"),
            "{text}"
        );
        assert!(text.contains("context staging"), "{text}");
        assert!(text.contains("deploy the workload first"), "{text}");
    }

    #[test]
    fn namespaces_go_first_then_roles_then_bindings_then_the_rest_then_workloads() {
        let ns = m("a", "Namespace", "a", json!({}));
        let cm = m("a", "ConfigMap", "c", json!({}));
        let d = m("a", "Deployment", "d", json!({}));
        let role = m("a", "Role", "r", json!({}));
        let rb = m("a", "RoleBinding", "r", json!({}));
        let writes = vec![&d, &rb, &cm, &ns, &role];
        let order: Vec<(usize, Vec<&str>)> = phases(&writes)
            .iter()
            .map(|(r, p)| (*r, p.iter().map(|m| m.kind.as_str()).collect()))
            .collect();
        assert_eq!(
            order,
            vec![
                (0, vec!["Namespace"]),
                (1, vec!["Role"]),
                (2, vec!["RoleBinding"]),
                (3, vec!["ConfigMap"]),
                (4, vec!["Deployment"])
            ]
        );
        assert_eq!(phases(&[&cm]).len(), 1);
    }

    #[test]
    fn what_needs_a_new_namespace_or_a_new_role_is_dry_run_once_they_exist() {
        let key =
            |ns: &str, kind: &str, name: &str| (ns.to_string(), kind.to_string(), name.to_string());
        let created = BTreeSet::from([
            key("", "Namespace", "new"),
            key("old", "Role", "r"),
            key("", "ClusterRole", "c"),
        ]);
        let cm = m("new", "ConfigMap", "c", json!({}));
        let ns = m("new", "Namespace", "new", json!({}));
        let old = m("old", "ConfigMap", "c", json!({}));
        let to_new_role = m(
            "old",
            "RoleBinding",
            "b",
            json!({"roleRef": {"kind": "Role", "name": "r"}}),
        );
        let to_old_role = m(
            "old",
            "RoleBinding",
            "b",
            json!({"roleRef": {"kind": "Role", "name": "x"}}),
        );
        let to_new_cluster_role = m(
            "old",
            "RoleBinding",
            "b",
            json!({"roleRef": {"kind": "ClusterRole", "name": "c"}}),
        );
        let in_new_ns = m(
            "new",
            "RoleBinding",
            "b",
            json!({"roleRef": {"kind": "Role", "name": "x"}}),
        );
        assert_eq!(ready_after(&cm, &created), Some(0));
        assert_eq!(ready_after(&ns, &created), None);
        assert_eq!(ready_after(&old, &created), None);
        assert_eq!(ready_after(&to_new_role, &created), Some(1));
        assert_eq!(ready_after(&to_old_role, &created), None);
        assert_eq!(ready_after(&to_new_cluster_role, &created), Some(1));
        assert_eq!(ready_after(&in_new_ns, &created), Some(0));
    }

    #[test]
    fn offline_checks_follow_the_api_servers_rules_and_never_show_values() {
        let ok = m(
            "n",
            "Secret",
            "s",
            json!({"metadata": {"labels": {"app.kubernetes.io/part-of": "shop"}},
                   "type": "kubernetes.io/dockerconfigjson",
                   "data": {".dockerconfigjson": "eyJhdXRocyI6e319"}}),
        );
        assert!(
            offline_problems(&ok).is_empty(),
            "{:?}",
            offline_problems(&ok)
        );
        // "c2VjcmV0LXZhbHVl" is base64 of a value that is not JSON
        let bad = m(
            "n",
            "Secret",
            "s",
            json!({"metadata": {"labels": {"team": "-bad-"}, "annotations": {"bad key": "x"}},
                   "type": "kubernetes.io/dockerconfigjson",
                   "data": {".dockerconfigjson": "c2VjcmV0LXZhbHVl"}}),
        );
        let problems = offline_problems(&bad).join("\n");
        assert!(problems.contains("metadata.labels.team"), "{problems}");
        assert!(
            problems.contains("\"bad key\" is not a valid annotation key"),
            "{problems}"
        );
        assert!(
            problems.contains(".dockerconfigjson is not a JSON object"),
            "{problems}"
        );
        assert!(
            !problems.contains("secret-value") && !problems.contains("c2Vj"),
            "{problems}"
        );
        let tls = m(
            "n",
            "Secret",
            "t",
            json!({"type": "kubernetes.io/tls", "data": {"tls.crt": ""}}),
        );
        assert_eq!(
            offline_problems(&tls),
            vec!["type kubernetes.io/tls needs the key tls.key"]
        );
    }

    #[test]
    fn a_cluster_that_failed_is_named_with_its_report_and_the_others_as_applied() {
        let report = Report {
            applied: vec!["a/ConfigMap/one".into()],
            failed: vec![(
                "a/ConfigMap/two".into(),
                Error::new(Code::Unavailable, "apply a/ConfigMap/two: no answer")
                    .hint("check that the cluster is reachable"),
            )],
            not_attempted: vec!["a/Secret/db".into()],
        };
        let err = clusters_error(vec![
            ("environment eu (context one)".into(), None),
            ("environment us (context two)".into(), report.error()),
        ])
        .expect("a failure");
        assert_eq!(err.code, Code::Unavailable);
        let text = err.to_string();
        assert!(
            text.contains(
                "1 of 2 clusters failed while writing; applied in full: environment eu (context one)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "environment us (context two): 1 of 3 writes failed, 1 applied, 1 not attempted"
            ),
            "{text}"
        );
        assert!(text.contains("not attempted: a/Secret/db"), "{text}");
        assert!(
            text.contains("check that the cluster is reachable"),
            "{text}"
        );
        assert!(clusters_error(vec![("x".into(), None)]).is_none());
    }

    #[test]
    fn a_failure_report_names_applied_failed_and_not_attempted() {
        let report = Report {
            applied: vec!["a/ConfigMap/one".into()],
            failed: vec![(
                "a/ConfigMap/two".into(),
                Error::invalid("apply a/ConfigMap/two: exceeded quota"),
            )],
            not_attempted: vec!["a/Deployment/web".into()],
        };
        let err = report.error().expect("a failure");
        assert_eq!(err.code, Code::Invalid);
        let text = err.to_string();
        assert!(
            text.contains("1 of 3 writes failed, 1 applied, 1 not attempted"),
            "{text}"
        );
        assert!(
            text.contains("failed: a/ConfigMap/two: apply a/ConfigMap/two: exceeded quota"),
            "{text}"
        );
        assert!(text.contains("applied: a/ConfigMap/one"), "{text}");
        assert!(text.contains("not attempted: a/Deployment/web"), "{text}");
        assert!(Report::default().error().is_none());
        let many = Report {
            failed: vec![("x".into(), Error::invalid("x"))],
            not_attempted: (0..12).map(|i| format!("n{i}")).collect(),
            ..Report::default()
        };
        let text = many.error().unwrap().to_string();
        assert!(text.contains("applied: nothing"), "{text}");
        assert!(text.contains("n9 and 2 more"), "{text}");
    }
}
