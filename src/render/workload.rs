//! Workloads: the file mounts and rollout annotations that ksec.yaml wires
//! into Deployments, StatefulSets and DaemonSets, emitted as partial
//! objects that server-side apply merges into the live workload.

use super::Problem;
use crate::k8s::{Manifest, is_dns_subdomain, is_workload_kind};
use crate::project::{MountSpec, Namespace, ObjectSpec};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

#[derive(Default)]
pub(super) struct Workload {
    volumes: BTreeMap<String, Value>,
    /// container -> volume name -> mount
    mounts: BTreeMap<String, BTreeMap<String, Value>>,
    annotations: BTreeMap<String, String>,
}

impl Workload {
    pub(super) fn body(&self, namespace: &str, kind: &str, name: &str) -> Value {
        let mut pod_spec = Map::new();
        if !self.mounts.is_empty() {
            let containers: Vec<Value> = self
                .mounts
                .iter()
                .map(|(c, mounts)| json!({"name": c, "volumeMounts": mounts.values().cloned().collect::<Vec<_>>()}))
                .collect();
            pod_spec.insert("containers".into(), Value::Array(containers));
        }
        if !self.volumes.is_empty() {
            pod_spec.insert(
                "volumes".into(),
                Value::Array(self.volumes.values().cloned().collect()),
            );
        }
        let mut template = Map::new();
        if !self.annotations.is_empty() {
            template.insert("metadata".into(), json!({"annotations": self.annotations}));
        }
        if !pod_spec.is_empty() {
            template.insert("spec".into(), Value::Object(pod_spec));
        }
        json!({
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": template},
        })
    }
}

fn workload_ref(text: &str) -> Option<(String, String)> {
    let (kind, name) = text.split_once('/')?;
    (is_workload_kind(kind) && is_dns_subdomain(name)).then(|| (kind.to_string(), name.to_string()))
}

/// A name for an object's volume or annotation, unique per (kind, name):
/// `prefix` + name when that is short enough (and, for a DNS label, has no
/// dot); otherwise a shortened form plus 8 hex digits of a digest of the
/// kind and full name, so `a.b` and `a-b`, or two long names sharing a
/// prefix, never collide.
fn wiring_name(prefix: &str, kind: &str, base: &str, dots_allowed: bool) -> String {
    let plain = format!("{prefix}{base}");
    if plain.len() <= 63 && (dots_allowed || !plain.contains('.')) {
        return plain;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{kind}/{base}").as_bytes());
    let tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let mut readable = if dots_allowed {
        plain
    } else {
        plain.replace('.', "-")
    };
    readable.truncate(63 - 9);
    format!("{}-{tag}", readable.trim_end_matches(['-', '.']))
}

/// The pod volume of a mounted object.
fn volume_name(kind: &str, base: &str) -> String {
    let prefix = if kind == "Secret" {
        "ksec-s-"
    } else {
        "ksec-c-"
    };
    wiring_name(prefix, kind, base, false)
}

fn checksum(manifest: &Manifest) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for field in ["data", "binaryData", "type"] {
        if let Some(v) = manifest.body.get(field) {
            h.update(field.as_bytes());
            h.update(v.to_string().as_bytes());
        }
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Record the mount and rollout wiring of one object.
pub(super) fn wire(
    ns: &Namespace,
    spec: &ObjectSpec,
    kind: &str,
    hashed_name: &str,
    manifest: &Manifest,
    workloads: &mut BTreeMap<(String, String, String), Workload>,
    problems: &mut Vec<Problem>,
) {
    let bad_ref = |what: &str, text: &str, problems: &mut Vec<Problem>| {
        problems.push(Problem::at_object(
            ns,
            kind,
            spec,
            format!("{what} {text:?} is not KIND/NAME with KIND one of Deployment, StatefulSet, DaemonSet"),
        ));
    };
    if let Some(MountSpec {
        workload,
        container,
        path,
        read_only,
    }) = &spec.mount
    {
        match workload_ref(workload) {
            None => bad_ref("mount.workload", workload, problems),
            Some((wkind, wname)) => {
                let Some(container) = container else {
                    problems.push(Problem::at_object(
                        ns,
                        kind,
                        spec,
                        "mount.container is required: name the container to mount into (mounting into every container needs the live workload and is not supported yet)".into(),
                    ));
                    return;
                };
                let volume = volume_name(kind, &spec.name);
                let source = if kind == "Secret" {
                    json!({"name": volume, "secret": {"secretName": hashed_name}})
                } else {
                    json!({"name": volume, "configMap": {"name": hashed_name}})
                };
                let w = workloads
                    .entry((ns.name.clone(), wkind, wname))
                    .or_default();
                w.volumes.insert(volume.clone(), source);
                w.mounts.entry(container.clone()).or_default().insert(
                    volume.clone(),
                    json!({"name": volume, "mountPath": path, "readOnly": read_only}),
                );
            }
        }
    }
    for target in &spec.rollout {
        match workload_ref(target) {
            None => bad_ref("rollout", target, problems),
            Some((wkind, wname)) => {
                let w = workloads
                    .entry((ns.name.clone(), wkind, wname))
                    .or_default();
                let prefix = format!("{}-", kind.to_ascii_lowercase());
                let key = format!("ksec.dev/{}", wiring_name(&prefix, kind, &spec.name, true));
                w.annotations.insert(key, checksum(manifest));
            }
        }
    }
}
