//! Pure planning, no I/O: which permissions a run needs, how rendered
//! objects differ from live ones, and what apply and diff decide from that
//! (what to write, what to delete, what is drift, what to count). Secret
//! values never leave this module in clear: a changed Secret key is
//! reported with short digests only.

use super::versions::{self, Provenance};
use super::{Live, ObjectKey, id, key_of};
use crate::k8s::{Manifest, Role, is_onboarding_kind, is_workload_kind, kinds_of};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};

/// One permission to prove with a SelfSubjectAccessReview. `namespace` is
/// empty for cluster-scoped resources; `name` is set for cluster-scoped
/// objects (so rules limited to `resourceNames` count).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub namespace: String,
    pub group: String,
    pub resource: String,
    pub verb: String,
    pub name: String,
}

/// The reads a diff or apply makes: LISTs (of ksec's labelled objects, in
/// a namespace or cluster-wide when it is empty) and GETs of single objects.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reads {
    pub lists: Vec<(String, String)>,
    pub gets: Vec<ObjectKey>,
}

/// What to read: ConfigMaps and Secrets of every namespace, the onboarding
/// kinds of onboarded ones, each workload and cluster-scoped object by
/// name; with `cluster_wide`, ksec's cluster-scoped objects (to prune).
pub fn reads(
    manifests: &[Manifest],
    namespaces: &[String],
    onboarded: &[String],
    cluster_wide: bool,
) -> Reads {
    let mut lists = Vec::new();
    for ns in namespaces {
        for kind in ["ConfigMap", "Secret"] {
            lists.push((ns.clone(), kind.to_string()));
        }
        if onboarded.contains(ns) {
            for kind in kinds_of(Role::Onboarding).filter(|k| !k.cluster_scoped) {
                lists.push((ns.clone(), kind.name.to_string()));
            }
        }
    }
    if cluster_wide {
        for kind in kinds_of(Role::Onboarding).filter(|k| k.cluster_scoped) {
            lists.push((String::new(), kind.name.to_string()));
        }
    }
    // Cluster-scoped objects are read by name even when listed: a user may
    // `get` them (rules with resourceNames) without being allowed to list.
    let listed: BTreeSet<(&str, &str)> = lists
        .iter()
        .map(|(ns, kind)| (ns.as_str(), kind.as_str()))
        .collect();
    let gets = manifests
        .iter()
        .map(key_of)
        .filter(|(ns, kind, _)| ns.is_empty() || !listed.contains(&(ns.as_str(), kind.as_str())))
        .collect();
    Reads { lists, gets }
}

fn need(ns: &str, kind: &str, verb: &str, name: &str) -> Need {
    let (group, resource) = crate::k8s::resource_of(kind);
    Need {
        namespace: ns.to_string(),
        group: group.into(),
        resource: resource.into(),
        verb: verb.into(),
        name: if ns.is_empty() {
            name.into()
        } else {
            String::new()
        },
    }
}

/// The permissions the reads need. Cluster-wide LISTs are left out: without
/// them ksec cannot prune cluster-scoped objects, but everything else works.
pub fn read_needs(reads: &Reads) -> Vec<Need> {
    let mut needs = BTreeSet::new();
    for (ns, kind) in reads.lists.iter().filter(|(ns, _)| !ns.is_empty()) {
        needs.insert(need(ns, kind, "list", ""));
    }
    for (ns, kind, name) in &reads.gets {
        needs.insert(need(ns, kind, "get", name));
    }
    needs.into_iter().collect()
}

/// The namespaced needs that two or more namespaces share, to ask once
/// for all namespaces (an empty namespace). The API server authorizes a
/// request without a namespace as one across all of them, which RBAC
/// allows only through a ClusterRoleBinding, whose rules hold in every
/// namespace: an allowed answer stands for the need in each namespace. A
/// denied one says nothing about a single namespace.
pub fn every_namespace(needs: &[Need]) -> Vec<Need> {
    let mut shared: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for n in needs.iter().filter(|n| !n.namespace.is_empty()) {
        *shared.entry((&n.group, &n.resource, &n.verb)).or_default() += 1;
    }
    shared
        .into_iter()
        .filter(|(_, count)| *count >= 2)
        .map(|((group, resource, verb), _)| Need {
            namespace: String::new(),
            group: group.into(),
            resource: resource.into(),
            verb: verb.into(),
            name: String::new(),
        })
        .collect()
}

/// Whether `wide`, a need asked for all namespaces, is `need` in one.
pub fn same_right(wide: &Need, need: &Need) -> bool {
    !need.namespace.is_empty()
        && wide.group == need.group
        && wide.resource == need.resource
        && wide.verb == need.verb
}

/// The permissions to `verbs` each of these objects (`ksec gitops
/// bootstrap`: get, create and patch its decryption Secrets).
pub fn object_needs(keys: &[ObjectKey], verbs: &[&str]) -> Vec<Need> {
    let mut needs = BTreeSet::new();
    for (ns, kind, name) in keys {
        for verb in verbs {
            needs.insert(need(ns, kind, verb, name));
        }
    }
    needs.into_iter().collect()
}

/// The permissions the writes need: `create` and `patch` to create with
/// server-side apply, `patch` to change, `delete` to prune. Unchanged
/// objects need nothing.
pub fn write_needs(changes: &[(&Manifest, Change)], deletes: &[ObjectKey]) -> Vec<Need> {
    let mut needs = BTreeSet::new();
    for (m, change) in changes {
        let (ns, kind, name) = key_of(m);
        match change {
            Change::Create => {
                needs.insert(need(&ns, &kind, "create", &name));
                needs.insert(need(&ns, &kind, "patch", &name));
            }
            Change::Update(_) => {
                needs.insert(need(&ns, &kind, "patch", &name));
            }
            Change::Unchanged | Change::Delete => {}
        }
    }
    for (ns, kind, name) in deletes {
        needs.insert(need(ns, kind, "delete", name));
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

/// The rendered objects with their change against the cluster, plus the
/// managed objects no longer rendered: superseded versions of hash-named
/// objects (kept, or expired beyond `defaults.keepVersions`) and objects
/// that left the project (orphans, deleted only with `--prune`).
pub struct Changes<'a> {
    pub objects: Vec<(&'a Manifest, Change)>,
    pub orphans: Vec<ObjectKey>,
    pub expired: Vec<ObjectKey>,
    /// A new version -> the live version it replaces, and the change.
    pub replaces: BTreeMap<ObjectKey, (ObjectKey, Change)>,
    /// Orphans and expired versions applied from elsewhere.
    pub judged: BTreeMap<ObjectKey, Provenance>,
}

/// Compare what was rendered with what the cluster holds. `judge` says
/// where a live object was applied from (`versions::Origin::judge`).
pub fn changes<'a>(
    rendered: &'a [Manifest],
    live: &Live,
    keep_versions: usize,
    judge: impl Fn(Option<&Value>) -> Option<Provenance>,
) -> Changes<'a> {
    let objects: Vec<(&Manifest, Change)> = rendered
        .iter()
        .map(|m| (m, compare(m, live.objects.get(&key_of(m)))))
        .collect();
    let sorted = versions::sort_out(&live.objects, &live.managed, rendered, keep_versions);
    let by_key: BTreeMap<ObjectKey, &Manifest> = rendered.iter().map(|m| (key_of(m), m)).collect();
    let replaces = sorted
        .replaces
        .iter()
        .filter_map(|(new, old)| {
            let m = by_key.get(new)?;
            let change = compare(m, Some(live.objects.get(old)?));
            Some((new.clone(), (old.clone(), change)))
        })
        .collect();
    let judged = sorted
        .orphans
        .iter()
        .chain(&sorted.expired)
        .filter_map(|key| Some((key.clone(), judge(live.objects.get(key))?)))
        .collect();
    Changes {
        objects,
        orphans: sorted.orphans,
        expired: sorted.expired,
        replaces,
        judged,
    }
}

/// What `ksec diff` prints, one line per difference with its changed keys
/// indented.
pub fn lines(differences: &[Difference]) -> Vec<String> {
    let mut out = Vec::new();
    for d in differences {
        let id = id(&d.key);
        out.push(match (&d.replaces, d.reason) {
            (Some(old), _) => format!("{} {id} (replaces {old})", d.verb),
            (None, Some(reason)) => format!("{} {id} ({reason})", d.verb),
            (None, None) => format!("{} {id}", d.verb),
        });
        out.extend(d.lines.iter().map(|l| format!("  {l}")));
    }
    out
}

/// One difference between the rendered objects and a cluster.
#[derive(Debug, PartialEq, Eq)]
pub struct Difference {
    /// `create`, `update` or `delete`.
    pub verb: &'static str,
    pub key: ObjectKey,
    /// The live version a new hash-named version replaces.
    pub replaces: Option<String>,
    /// The changed keys and fields as `ksec diff` prints them (`~ data.k
    /// (changed: digest -> digest)`, a ConfigMap value's line diff below).
    pub lines: Vec<String>,
    /// Why a delete happens.
    pub reason: Option<&'static str>,
}

impl Difference {
    /// The keys and fields that differ (`data.PASSWORD`, `metadata.labels.x`,
    /// `spec.hard`), without digests or line diffs: what a machine reading
    /// `ksec diff --output json` gets, never a value.
    pub fn keys(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| {
                let rest = l.get(2..)?;
                Some(rest.split(" (").next().unwrap_or(rest).to_string())
            })
            .collect()
    }

    /// The object as `kubectl get -o name` prints it: `configmap/app`.
    pub fn object_name(&self) -> String {
        let (_, kind, name) = &self.key;
        crate::k8s::kind_object_name(kind, name)
    }

    /// The difference as JSON: verb, namespace, kind, name and keys.
    pub fn to_json(&self) -> Value {
        let (ns, kind, name) = &self.key;
        let mut v = serde_json::json!({
            "action": self.verb,
            "namespace": ns,
            "kind": kind,
            "name": name,
            "keys": self.keys(),
        });
        if let Some(old) = &self.replaces {
            v["replaces"] = Value::from(old.as_str());
        }
        if let Some(reason) = self.reason {
            v["reason"] = Value::from(reason);
        }
        v
    }
}

/// Per namespace, what an apply did (or, with `--dry-run`, would do).
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub pruned: usize,
}

impl<'a> Changes<'a> {
    /// The rendered objects that differ from the cluster: what apply writes.
    pub fn to_write(&self) -> Vec<&'a Manifest> {
        self.objects
            .iter()
            .filter(|(_, c)| !matches!(c, Change::Unchanged))
            .map(|(m, _)| *m)
            .collect()
    }

    /// The keys of the objects this apply creates.
    pub fn created(&self) -> BTreeSet<ObjectKey> {
        self.objects
            .iter()
            .filter(|(_, c)| *c == Change::Create)
            .map(|(m, _)| key_of(m))
            .collect()
    }

    /// Workloads ksec mounts into or rolls that the cluster does not hold:
    /// render emits only ksec's fields of them, so each must exist.
    pub fn missing_workloads(&self) -> Vec<ObjectKey> {
        self.objects
            .iter()
            .filter(|(m, c)| is_workload_kind(&m.kind) && *c == Change::Create)
            .map(|(m, _)| key_of(m))
            .collect()
    }

    /// What apply deletes: orphans with `--prune` (`prune`), and expired
    /// versions always; never an object last applied from another
    /// checkout. Returns (pruned, expired).
    pub fn deletions(&self, prune: bool) -> (Vec<ObjectKey>, Vec<ObjectKey>) {
        let own = |keys: &[ObjectKey]| -> Vec<ObjectKey> {
            keys.iter()
                .filter(|k| !matches!(self.judged.get(*k), Some(Provenance::Foreign(_))))
                .cloned()
                .collect()
        };
        let pruned = if prune {
            own(&self.orphans)
        } else {
            Vec::new()
        };
        (pruned, own(&self.expired))
    }

    /// The deletions (with `--prune` when `prune`) that involve objects
    /// applied from elsewhere: those of another checkout are left alone,
    /// those of a commit this checkout does not contain are deleted.
    pub fn provenance(&self, prune: bool) -> Vec<(&ObjectKey, &Provenance)> {
        self.judged
            .iter()
            .filter(|(key, _)| prune || !self.orphans.contains(key))
            .collect()
    }

    /// Every difference `ksec diff` reports, in its order: every create
    /// and update, and the deletes apply would make. Superseded versions
    /// apply keeps, orphans without `prune`, and objects of another
    /// checkout are no drift. Empty when the cluster matches.
    pub fn differences(&self, prune: bool) -> Vec<Difference> {
        let mut out = Vec::new();
        for (m, change) in &self.objects {
            let key = key_of(m);
            match change {
                Change::Unchanged | Change::Delete => {}
                Change::Create => {
                    let replaced = self.replaces.get(&key);
                    out.push(Difference {
                        verb: "create",
                        replaces: replaced.map(|(old, _)| old.2.clone()),
                        lines: match replaced {
                            // a new version: what changes from the one it replaces
                            Some((_, Change::Update(lines))) => lines.clone(),
                            _ => Vec::new(),
                        },
                        reason: None,
                        key,
                    });
                }
                Change::Update(lines) => out.push(Difference {
                    verb: "update",
                    key,
                    replaces: None,
                    lines: lines.clone(),
                    reason: None,
                }),
            }
        }
        let (pruned, expired) = self.deletions(prune);
        let deletes = expired
            .into_iter()
            .map(|k| (k, "superseded version beyond defaults.keepVersions"))
            .chain(pruned.into_iter().map(|k| (k, "--prune")));
        out.extend(deletes.map(|(key, reason)| Difference {
            verb: "delete",
            key,
            replaces: None,
            lines: Vec::new(),
            reason: Some(reason),
        }));
        out
    }

    /// What `ksec diff` prints (see [`lines`]).
    pub fn drift(&self, prune: bool) -> Vec<String> {
        lines(&self.differences(prune))
    }

    /// The counts per namespace of an apply that wrote `written` and
    /// deleted `pruned` (ids as [`id`] gives them).
    /// What `ksec apply -o name` prints, as `kubectl apply --prune -o name`
    /// does: each rendered object that was written (`written`, as
    /// [`id`]s) or is unchanged, then each object deleted (`pruned`, as
    /// [`id`]s), as `kind/name` (`deployment.apps/web`).
    pub fn names(&self, written: &[String], pruned: &[String]) -> Vec<String> {
        let written: BTreeSet<&String> = written.iter().collect();
        let mut out: Vec<String> = self
            .objects
            .iter()
            .filter(|(m, change)| *change == Change::Unchanged || written.contains(&id(&key_of(m))))
            .map(|(m, _)| crate::k8s::kind_object_name(&m.kind, &m.name))
            .collect();
        out.extend(pruned.iter().filter_map(|id| {
            let mut parts = id.rsplitn(3, '/');
            let name = parts.next()?;
            let kind = parts.next()?;
            Some(crate::k8s::kind_object_name(kind, name))
        }));
        out
    }

    pub fn counts(&self, written: &[String], pruned: &[String]) -> BTreeMap<String, Counts> {
        let mut per_ns: BTreeMap<String, Counts> = BTreeMap::new();
        let written: BTreeSet<&String> = written.iter().collect();
        for (m, change) in &self.objects {
            let id = id(&key_of(m));
            let c = per_ns.entry(m.namespace.clone()).or_default();
            match change {
                Change::Create if written.contains(&id) => c.created += 1,
                Change::Update(_) if written.contains(&id) => c.updated += 1,
                Change::Unchanged => c.unchanged += 1,
                _ => {}
            }
        }
        for id in pruned {
            let parts: Vec<&str> = id.split('/').collect();
            let ns = match parts.as_slice() {
                [ns, _, _] => ns.to_string(),
                ["Namespace", name] => name.to_string(),
                _ => "(cluster)".to_string(),
            };
            per_ns.entry(ns).or_default().pruned += 1;
        }
        per_ns
    }
}

/// A short digest of a secret value: enough to see that it changed, and
/// that two values of one run are equal. Keyed with this run's random key
/// (never written anywhere), so that someone holding only the output cannot
/// test guesses against it; digests of two runs are not comparable.
pub fn digest(value: &str) -> String {
    keyed_digest(run_key(), value)
}

/// The first 4 bytes of HMAC-SHA256(key, value), in hex.
pub fn keyed_digest(key: &[u8], value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(value.as_bytes());
    let d = mac.finalize().into_bytes();
    d.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// This process's digest key: 32 random bytes from the OS.
fn run_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        key
    })
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
    if is_onboarding_kind(&want.kind) {
        // items of a LIST carry no apiVersion and kind
        let mut fields = want.body.clone();
        if let Some(map) = fields.as_object_mut() {
            map.remove("apiVersion");
            map.remove("kind");
        }
        let same = fields.as_object().is_some_and(|w| {
            w.iter().all(|(k, wv)| {
                live.get(k)
                    .is_some_and(|lv| holds(lv, wv, Leaves::for_field(k)))
            })
        });
        return if same {
            Change::Unchanged
        } else {
            Change::Update(changed_fields(live, &fields, ""))
        };
    }
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

/// The top-level paths (`~ spec.hard`) where `live` lacks what `want` has.
fn changed_fields(live: &Value, want: &Value, prefix: &str) -> Vec<String> {
    match (live, want) {
        (Value::Object(l), Value::Object(w)) => w
            .iter()
            .flat_map(|(k, wv)| {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match l.get(k) {
                    Some(lv) if holds(lv, wv, Leaves::for_field(&path)) => Vec::new(),
                    Some(lv) if path.matches('.').count() < 2 && lv.is_object() => {
                        changed_fields(lv, wv, &path)
                    }
                    _ => vec![format!("~ {path}")],
                }
            })
            .collect(),
        _ => vec![format!("~ {prefix}")],
    }
}

/// Whether `live` already holds every field of `want` (lists of objects
/// matched by `name`): a partial workload that is already applied.
pub fn contains(live: &Value, want: &Value) -> bool {
    holds(live, want, Leaves::Exact)
}

/// How two strings compare in `holds`.
#[derive(Clone, Copy)]
enum Leaves {
    Exact,
    /// Two quantities are the same by value: the server stores `0.5` as
    /// `500m` and `8192Mi` as `8Gi` (quota and limits).
    Quantities,
}

impl Leaves {
    /// Metadata (labels, annotations) compares exactly, the rest of an
    /// onboarding object by quantity.
    fn for_field(path: &str) -> Leaves {
        if path == "metadata" || path.starts_with("metadata.") {
            Leaves::Exact
        } else {
            Leaves::Quantities
        }
    }
}

fn holds(live: &Value, want: &Value, leaves: Leaves) -> bool {
    match (live, want) {
        (Value::Object(l), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| l.get(k).is_some_and(|lv| holds(lv, wv, leaves))),
        (Value::Array(l), Value::Array(w)) => w.iter().all(|wi| {
            let name = wi.get("name");
            l.iter()
                .any(|li| (name.is_none() || li.get("name") == name) && holds(li, wi, leaves))
        }),
        (Value::String(l), Value::String(w)) if matches!(leaves, Leaves::Quantities) => {
            l == w
                || crate::k8s::quantity_nanos(l)
                    .is_some_and(|n| Some(n) == crate::k8s::quantity_nanos(w))
        }
        (l, w) => l == w,
    }
}

#[cfg(test)]
mod tests;
