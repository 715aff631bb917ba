//! ksec's own versions of hash-named objects, and where an apply came from.
//!
//! With a hash suffix every change of a ConfigMap or Secret is a new object
//! (`app-secrets-<hash>`); the one it replaces stays live so that Pods still
//! mounting it keep working. Such a superseded *version* carries the same
//! base name (`ksec.dev/name`) as a rendered object: it is not drift, and
//! apply deletes the versions beyond the newest `defaults.keepVersions`.
//!
//! Each object ksec writes records where the apply came from (the checkout
//! and its commit), so that a prune or a cleanup never silently deletes
//! objects another copy of the project applied. The record is added only to
//! objects that are written anyway: it never makes an unchanged object
//! differ.
//!
//! Everything here is pure except `Origin::of` (asks git) and
//! `Cluster::missing_namespaces`.

use super::{Cluster, ObjectKey as Key};
use crate::error::{Error, Result};
use crate::k8s::{Manifest, NAME_ANNOTATION};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The checkout an object was last written from.
pub const APPLIED_FROM: &str = "ksec.dev/applied-from";
/// The commit of that checkout.
pub const REVISION: &str = "ksec.dev/revision";

/// The length of kustomize's content-hash suffix.
const SUFFIX_LEN: usize = 10;

/// Live managed objects that are not rendered, sorted out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sorted {
    /// Superseded versions apply keeps (the newest `keep` per object).
    pub kept: Vec<Key>,
    /// Superseded versions beyond those: apply deletes them.
    pub expired: Vec<Key>,
    /// Objects that left the project: deleted only with `--prune`.
    pub orphans: Vec<Key>,
    /// A rendered object not live yet -> the newest version it replaces.
    pub replaces: BTreeMap<Key, Key>,
}

fn annotation<'a>(object: Option<&'a Value>, name: &str) -> Option<&'a str> {
    object?
        .get("metadata")?
        .get("annotations")?
        .get(name)?
        .as_str()
}

/// The base name of a live object: its `ksec.dev/name`, or (objects applied
/// before ksec recorded it) its name without a hash suffix, when that is
/// the base of a rendered object of the same namespace and kind.
fn base_of(
    key: &Key,
    object: Option<&Value>,
    bases: &BTreeMap<(String, String, String), Key>,
) -> Option<String> {
    if let Some(base) = annotation(object, NAME_ANNOTATION) {
        return Some(base.to_string());
    }
    let (ns, kind, name) = key;
    let (base, suffix) = name.rsplit_once('-')?;
    let hashed = suffix.len() == SUFFIX_LEN && suffix.bytes().all(|b| b.is_ascii_alphanumeric());
    (hashed && bases.contains_key(&(ns.clone(), kind.clone(), base.to_string())))
        .then(|| base.to_string())
}

/// Newest first: by creationTimestamp, then by resourceVersion (versions
/// are never written again once superseded, so it orders creations within
/// one second), then by name.
fn newest_first(objects: &BTreeMap<Key, Value>, versions: &mut [Key]) {
    let order = |key: &Key| {
        let meta = objects.get(key).and_then(|o| o.get("metadata"));
        let created = meta
            .and_then(|m| m.get("creationTimestamp"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let revision = meta
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
            .and_then(|r| r.parse::<u64>().ok())
            .unwrap_or(0);
        (created, revision)
    };
    versions.sort_by(|a, b| order(b).cmp(&order(a)).then_with(|| a.cmp(b)));
}

/// Sort the live managed objects that are not rendered into superseded
/// versions (kept or expired) and objects that left the project.
pub fn sort_out(
    objects: &BTreeMap<Key, Value>,
    managed: &[Key],
    rendered: &[Manifest],
    keep: usize,
) -> Sorted {
    // (namespace, kind, base name) -> the rendered hash-named object
    let mut bases = BTreeMap::new();
    for m in rendered {
        let Some(base) = m.body["metadata"]["annotations"][NAME_ANNOTATION].as_str() else {
            continue;
        };
        if matches!(m.kind.as_str(), "ConfigMap" | "Secret") {
            let key = super::key_of(m);
            bases.insert((key.0.clone(), key.1.clone(), base.to_string()), key);
        }
    }
    let rendered_keys: BTreeSet<Key> = rendered.iter().map(super::key_of).collect();
    let mut sorted = Sorted::default();
    let mut groups: BTreeMap<(String, String, String), Vec<Key>> = BTreeMap::new();
    for key in managed.iter().filter(|k| !rendered_keys.contains(*k)) {
        let group = base_of(key, objects.get(key), &bases)
            .map(|base| (key.0.clone(), key.1.clone(), base))
            .filter(|g| bases.contains_key(g));
        match group {
            Some(g) => groups.entry(g).or_default().push(key.clone()),
            None => sorted.orphans.push(key.clone()),
        }
    }
    for (group, mut versions) in groups {
        newest_first(objects, &mut versions);
        let current = &bases[&group];
        if !objects.contains_key(current) {
            sorted.replaces.insert(current.clone(), versions[0].clone());
        }
        let expired = versions.split_off(keep.min(versions.len()));
        sorted.kept.extend(versions);
        sorted.expired.extend(expired);
    }
    sorted.kept.sort();
    sorted.expired.sort();
    sorted
}

/// Where this apply comes from: the checkout (its git remote, else its
/// directory on this host) and the commit, when the project is in git.
#[derive(Debug)]
pub struct Origin {
    pub checkout: String,
    pub revision: Option<String>,
    /// The project's git work tree, to ask whether a commit is in its
    /// history.
    git: Option<std::path::PathBuf>,
    /// Answers of `contains`, by commit.
    known: std::cell::RefCell<BTreeMap<String, bool>>,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// A remote URL without credentials, scheme, user or `.git`, so that the
/// https and ssh clones of one repository are the same checkout:
/// `https://user:token@host/org/repo.git` and `git@host:org/repo` are both
/// `host/org/repo`.
pub fn remote_identity(url: &str) -> String {
    let url = url.trim();
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest,
        None if url.contains(':') && !url.starts_with('/') => url,
        None => return url.trim_end_matches('/').to_string(),
    };
    let (host, path) = match rest.split_once('/') {
        Some((host, path)) if url.contains("://") => (host, path),
        _ => rest.split_once(':').unwrap_or((rest, "")),
    };
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let path = path.trim_matches('/').trim_end_matches(".git");
    format!("{host}/{path}")
}

impl Origin {
    /// The origin of an apply from the project at `root`.
    pub fn of(root: &Path) -> Origin {
        let top = git(root, &["rev-parse", "--show-toplevel"]);
        let remote = top
            .as_ref()
            .and_then(|_| git(root, &["remote", "get-url", "origin"]));
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let checkout = match (&top, &remote) {
            (Some(top), Some(remote)) => {
                let inside = root
                    .strip_prefix(Path::new(top).canonicalize().unwrap_or_default())
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let repo = remote_identity(remote);
                if inside.is_empty() {
                    repo
                } else {
                    format!("{repo}//{inside}")
                }
            }
            _ => format!("{}:{}", hostname(), root.display()),
        };
        Origin {
            checkout,
            revision: top
                .as_ref()
                .and_then(|_| git(&root, &["rev-parse", "--verify", "-q", "HEAD"])),
            git: top.map(|_| root),
            known: Default::default(),
        }
    }

    /// An origin for tests.
    pub fn fixed(checkout: &str, revision: Option<&str>) -> Origin {
        Origin {
            checkout: checkout.into(),
            revision: revision.map(str::to_string),
            git: None,
            known: Default::default(),
        }
    }

    /// Whether `revision` is this checkout's commit or one of its ancestors.
    fn contains(&self, revision: &str) -> bool {
        if self.revision.as_deref() == Some(revision) {
            return true;
        }
        // the annotation is read from the cluster: only a commit id reaches git
        let commit_id =
            matches!(revision.len(), 40 | 64) && revision.bytes().all(|b| b.is_ascii_hexdigit());
        let Some(dir) = self.git.as_ref().filter(|_| commit_id) else {
            return false;
        };
        if let Some(known) = self.known.borrow().get(revision) {
            return *known;
        }
        let known = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["merge-base", "--is-ancestor", revision, "HEAD"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        self.known.borrow_mut().insert(revision.to_string(), known);
        known
    }

    /// Why deleting `object` deserves a word, if it does: `Foreign` when it
    /// was last applied from another checkout (ksec does not delete it),
    /// `OtherRevision` when from a commit this checkout does not contain
    /// (deleted, with a warning: a rollback does this on purpose).
    pub fn judge(&self, object: Option<&Value>) -> Option<Provenance> {
        let from = annotation(object, APPLIED_FROM)?;
        if from != self.checkout {
            return Some(Provenance::Foreign(from.to_string()));
        }
        let revision = annotation(object, REVISION)?;
        if self.revision.is_some() && !self.contains(revision) {
            return Some(Provenance::OtherRevision(revision.to_string()));
        }
        None
    }
}

/// See `Origin::judge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    Foreign(String),
    OtherRevision(String),
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A manifest as ksec writes it: with its origin recorded, except on
/// workloads (ksec only merges mounts and annotations into those).
pub fn stamped(m: &Manifest, origin: &Origin) -> Manifest {
    let mut m = m.clone();
    if matches!(m.kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet") {
        return m;
    }
    if let Some(meta) = m.body.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(APPLIED_FROM.into(), Value::String(origin.checkout.clone()));
            match &origin.revision {
                Some(r) => a.insert(REVISION.into(), Value::String(r.clone())),
                None => a.remove(REVISION),
            };
        }
    }
    m
}

/// Namespaces that must exist (not onboarded by ksec) but do not: the same
/// error for `diff` and `apply`.
pub fn missing_namespaces_error(missing: &[String], context: &str, command: &str) -> Error {
    let (s, does) = if missing.len() == 1 {
        ("", "does")
    } else {
        ("s", "do")
    };
    let names = missing.join(", ");
    let first = &missing[0];
    Error::not_found(format!(
        "namespace{s} {names} {does} not exist in context {context}; ksec does not create a namespace without `owners` in ksec.yaml, so {command} stops here{}",
        if command == "apply" { " and nothing was written" } else { "" }
    ))
    .hint(format!(
        "create it (`kubectl create namespace {first}`, or ask a cluster admin), or give namespaces.{first} `owners` in ksec.yaml so ksec onboards it; or check the context"
    ))
}

impl Cluster {
    /// Namespaces of `names` that do not exist (one the user may not read
    /// is assumed to exist: the writes will tell).
    pub fn missing_namespaces(&self, names: &[String]) -> Result<Vec<String>> {
        self.runtime.block_on(self.missing_namespaces_async(names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(kind: &str, name: &str) -> Key {
        ("ns".into(), kind.into(), name.into())
    }

    fn rendered(kind: &str, base: &str, hash: &str) -> Manifest {
        Manifest {
            namespace: "ns".into(),
            kind: kind.into(),
            name: format!("{base}-{hash}"),
            body: json!({"metadata": {"name": format!("{base}-{hash}"), "annotations": {NAME_ANNOTATION: base}}}),
        }
    }

    fn live(base: Option<&str>, created: &str, rv: &str) -> Value {
        let mut meta = json!({"creationTimestamp": created, "resourceVersion": rv});
        if let Some(b) = base {
            meta["annotations"] = json!({NAME_ANNOTATION: b});
        }
        json!({ "metadata": meta })
    }

    #[test]
    fn superseded_versions_are_kept_newest_first_and_the_rest_expire() {
        let mut objects = BTreeMap::new();
        // three older versions of app (one within the same second, one
        // applied before ksec recorded the base name), and one of gone
        objects.insert(
            key("Secret", "app-aaaaaaaaaa"),
            live(Some("app"), "2026-01-01T00:00:00Z", "10"),
        );
        objects.insert(
            key("Secret", "app-bbbbbbbbbb"),
            live(Some("app"), "2026-01-02T00:00:00Z", "20"),
        );
        objects.insert(
            key("Secret", "app-cccccccccc"),
            live(None, "2026-01-02T00:00:00Z", "30"),
        );
        objects.insert(
            key("Secret", "gone-dddddddddd"),
            live(Some("gone"), "2026-01-03T00:00:00Z", "40"),
        );
        // a ConfigMap of the same base name is another object
        objects.insert(
            key("ConfigMap", "app-eeeeeeeeee"),
            live(Some("app"), "2026-01-03T00:00:00Z", "50"),
        );
        let managed: Vec<Key> = objects.keys().cloned().collect();
        let want = vec![rendered("Secret", "app", "ffffffffff")];

        let sorted = sort_out(&objects, &managed, &want, 2);
        assert_eq!(
            sorted.kept,
            vec![
                key("Secret", "app-bbbbbbbbbb"),
                key("Secret", "app-cccccccccc")
            ]
        );
        assert_eq!(sorted.expired, vec![key("Secret", "app-aaaaaaaaaa")]);
        assert_eq!(
            sorted.orphans,
            vec![
                key("ConfigMap", "app-eeeeeeeeee"),
                key("Secret", "gone-dddddddddd")
            ]
        );
        // the new version replaces the newest one (same second: the later write)
        assert_eq!(
            sorted.replaces,
            BTreeMap::from([(
                key("Secret", "app-ffffffffff"),
                key("Secret", "app-cccccccccc")
            )])
        );

        // keep 0: every superseded version goes
        let none = sort_out(&objects, &managed, &want, 0);
        assert!(none.kept.is_empty());
        assert_eq!(none.expired.len(), 3);

        // once the new version is live, it replaces nothing
        objects.insert(
            key("Secret", "app-ffffffffff"),
            live(Some("app"), "2026-01-04T00:00:00Z", "60"),
        );
        let applied = sort_out(&objects, &managed, &want, 2);
        assert!(applied.replaces.is_empty());
        assert_eq!(applied.kept.len(), 2);
    }

    #[test]
    fn an_object_without_a_hash_suffix_has_no_versions() {
        let mut objects = BTreeMap::new();
        objects.insert(
            key("ConfigMap", "app-1234567890"),
            live(None, "2026-01-01T00:00:00Z", "1"),
        );
        let managed: Vec<Key> = objects.keys().cloned().collect();
        let plain = Manifest {
            namespace: "ns".into(),
            kind: "ConfigMap".into(),
            name: "app".into(),
            body: json!({"metadata": {"name": "app"}}),
        };
        let sorted = sort_out(&objects, &managed, &[plain], 2);
        assert_eq!(sorted.orphans, vec![key("ConfigMap", "app-1234567890")]);
        assert!(sorted.kept.is_empty() && sorted.replaces.is_empty());
    }

    #[test]
    fn remotes_of_one_repository_are_one_checkout_and_carry_no_credentials() {
        for url in [
            "https://github.com/org/infra.git",
            "https://ci-bot:s3cr3t-token@github.com/org/infra",
            "ssh://git@github.com/org/infra.git",
            "git@github.com:org/infra.git",
        ] {
            let id = remote_identity(url);
            assert_eq!(id, "github.com/org/infra", "{url}");
            assert!(!id.contains("s3cr3t"));
        }
        assert_eq!(remote_identity("/srv/git/infra/"), "/srv/git/infra");
    }

    #[test]
    fn only_objects_of_another_checkout_or_commit_are_judged() {
        let origin = Origin::fixed("github.com/org/infra", Some("c2"));
        let from = |checkout: &str, rev: &str| json!({"metadata": {"annotations": {APPLIED_FROM: checkout, REVISION: rev}}});
        assert_eq!(origin.judge(Some(&json!({"metadata": {}}))), None);
        assert_eq!(
            origin.judge(Some(&from("github.com/org/infra", "c2"))),
            None
        );
        assert_eq!(
            origin.judge(Some(&from("host:/home/a/infra", "c2"))),
            Some(Provenance::Foreign("host:/home/a/infra".into()))
        );
        assert_eq!(
            origin.judge(Some(&from("github.com/org/infra", "c9"))),
            Some(Provenance::OtherRevision("c9".into()))
        );
    }

    #[test]
    fn stamping_records_the_origin_but_not_on_workloads() {
        let origin = Origin::fixed("here", Some("c1"));
        let m = rendered("Secret", "app", "ffffffffff");
        let s = stamped(&m, &origin);
        assert_eq!(s.body["metadata"]["annotations"][APPLIED_FROM], "here");
        assert_eq!(s.body["metadata"]["annotations"][REVISION], "c1");
        assert_eq!(s.body["metadata"]["annotations"][NAME_ANNOTATION], "app");
        let d = Manifest {
            kind: "Deployment".into(),
            ..m
        };
        assert_eq!(stamped(&d, &origin).body, d.body);
    }
}
