//! What `ksec exec` hands to its command, decided without I/O: the data
//! keys of the chosen Secrets and ConfigMaps of one rendered namespace,
//! decoded, and whether each can be an environment variable.
//!
//! Values stay in `Zeroizing` buffers; `Debug` of an [`Entry`] hides them
//! and no error names one (only the object and the key).

use crate::error::{Error, Result, shown};
use crate::k8s::{Manifest, NAME_ANNOTATION};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Which objects of which namespace: with no names, every Secret and
/// ConfigMap; with any, only those named (by the name in ksec.yaml or the
/// rendered, hash-suffixed one).
pub struct Selection<'a> {
    pub namespace: &'a str,
    pub secrets: &'a [String],
    pub configmaps: &'a [String],
}

/// One data key of one object, decoded.
pub struct Entry {
    pub key: String,
    /// `Secret db` or `ConfigMap app-config` (the name in ksec.yaml).
    pub object: String,
    pub value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("object", &self.object)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// The name before the hash suffix (as in ksec.yaml), else the name.
fn base_name(m: &Manifest) -> &str {
    m.body["metadata"]["annotations"][NAME_ANNOTATION]
        .as_str()
        .unwrap_or(&m.name)
}

/// The keys of the selected objects, sorted by key. A name given that
/// matches no object, and a key that two objects define, are errors (every
/// one of them named), so a command never gets a value it did not expect.
pub fn entries(manifests: &[Manifest], selection: &Selection) -> Result<Vec<Entry>> {
    let in_ns: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.namespace == selection.namespace)
        .filter(|m| m.kind == "Secret" || m.kind == "ConfigMap")
        .collect();
    let everything = selection.secrets.is_empty() && selection.configmaps.is_empty();
    let named = |m: &Manifest, names: &[String]| {
        names
            .iter()
            .any(|n| n.as_str() == m.name || n.as_str() == base_name(m))
    };
    let chosen: Vec<&Manifest> = in_ns
        .iter()
        .copied()
        .filter(|m| {
            everything
                || (m.kind == "Secret" && named(m, selection.secrets))
                || (m.kind == "ConfigMap" && named(m, selection.configmaps))
        })
        .collect();
    unmatched(&in_ns, selection)?;

    let mut by_key: BTreeMap<String, Entry> = BTreeMap::new();
    let mut clashes: Vec<String> = Vec::new();
    for m in chosen {
        let object = format!("{} {}", m.kind, base_name(m));
        for (key, value) in decoded(m) {
            if let Some(first) = by_key.get(&key) {
                clashes.push(format!(
                    "key {} is in both {} and {object}",
                    shown(&key),
                    first.object
                ));
                continue;
            }
            let entry = Entry {
                key: key.clone(),
                object: object.clone(),
                value,
            };
            by_key.insert(key, entry);
        }
    }
    if !clashes.is_empty() {
        let mut err = Error::usage(format!(
            "namespace {}: {} key{} defined by two objects; ksec exec does not pick one",
            selection.namespace,
            clashes.len(),
            if clashes.len() == 1 { " is" } else { "s are" }
        ));
        for c in clashes {
            err = err.detail(c);
        }
        return Err(
            err.hint("choose the objects with --secret NAME and --configmap NAME (repeatable)")
        );
    }
    Ok(by_key.into_values().collect())
}

/// Every `--secret` and `--configmap` name must be an object of the
/// namespace.
fn unmatched(in_ns: &[&Manifest], selection: &Selection) -> Result<()> {
    let mut missing = Vec::new();
    for (kind, flag, names) in [
        ("Secret", "--secret", selection.secrets),
        ("ConfigMap", "--configmap", selection.configmaps),
    ] {
        for name in names {
            let found = in_ns
                .iter()
                .any(|m| m.kind == kind && (m.name == *name || base_name(m) == name));
            if !found {
                let there: Vec<&str> = in_ns
                    .iter()
                    .filter(|m| m.kind == kind)
                    .map(|m| base_name(m))
                    .collect();
                missing.push(format!(
                    "{flag} {}: no {kind} of that name (rendered there: {})",
                    shown(name),
                    if there.is_empty() {
                        "none".to_string()
                    } else {
                        there.join(", ")
                    }
                ));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut err = Error::not_found(format!(
        "namespace {}: {} of the objects named {} not rendered",
        selection.namespace,
        missing.len(),
        if missing.len() == 1 { "is" } else { "are" }
    ));
    for m in missing {
        err = err.detail(m);
    }
    Err(err.hint("name a Secret or ConfigMap of the namespace as ksec.yaml names it"))
}

/// The data of a Secret (`data` base64, `stringData`) or a ConfigMap
/// (`data`, `binaryData` base64), as bytes. Rendered data is valid base64;
/// a value that is not would be a bug of render, and is passed as it is.
fn decoded(m: &Manifest) -> Vec<(String, Zeroizing<Vec<u8>>)> {
    let (encoded, plain) = if m.kind == "Secret" {
        ("data", "stringData")
    } else {
        ("binaryData", "data")
    };
    let mut out = Vec::new();
    for (field, base64) in [(encoded, true), (plain, false)] {
        let Some(map) = m.body.get(field).and_then(Value::as_object) else {
            continue;
        };
        for (key, value) in map {
            let text = value.as_str().unwrap_or_default();
            let bytes = if base64 {
                B64.decode(text)
                    .unwrap_or_else(|_| text.as_bytes().to_vec())
            } else {
                text.as_bytes().to_vec()
            };
            out.push((key.clone(), Zeroizing::new(bytes)));
        }
    }
    out
}

/// An environment variable name as POSIX shells accept it.
pub fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Every entry can be an environment variable: its key a valid name, its
/// value UTF-8 text without a NUL byte. All that cannot are named together.
pub fn check_env(entries: &[Entry]) -> Result<()> {
    let mut problems = Vec::new();
    for e in entries {
        if !is_env_name(&e.key) {
            problems.push(format!(
                "{}: key {} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)",
                e.object,
                shown(&e.key)
            ));
        } else if std::str::from_utf8(&e.value).is_err() || e.value.contains(&0) {
            problems.push(format!(
                "{}: the value of key {} is binary (not UTF-8 text, or a NUL byte)",
                e.object, e.key
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut err = Error::invalid(format!(
        "cannot pass {} key{} as environment variables",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    ));
    for p in problems {
        err = err.detail(p);
    }
    Err(err.hint(
        "use --files to get every key as a file, or leave those objects out with --secret NAME / --configmap NAME",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(kind: &str, name: &str, body: Value) -> Manifest {
        let mut body = body;
        body["metadata"] =
            json!({"name": format!("{name}-abc123"), "annotations": {NAME_ANNOTATION: name}});
        Manifest {
            namespace: "payments".into(),
            kind: kind.into(),
            name: format!("{name}-abc123"),
            body,
        }
    }

    fn select<'a>(secrets: &'a [String], configmaps: &'a [String]) -> Selection<'a> {
        Selection {
            namespace: "payments",
            secrets,
            configmaps,
        }
    }

    #[test]
    fn env_names_are_those_a_shell_takes() {
        for ok in ["A", "_", "DB_PASSWORD", "a1", "_x_9"] {
            assert!(is_env_name(ok), "{ok}");
        }
        for bad in ["", "1A", "app.yaml", "A-B", "É", "A B", "tls.key"] {
            assert!(!is_env_name(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_are_decoded_and_configmaps_taken_as_they_are() {
        let ms = [
            manifest("Secret", "db", json!({"data": {"PW": B64.encode("s3")}})),
            manifest(
                "ConfigMap",
                "app",
                json!({"data": {"MODE": "fast"}, "binaryData": {"BLOB": B64.encode([0xff, 0])}}),
            ),
        ];
        let got = entries(&ms, &select(&[], &[])).unwrap();
        let keys: Vec<(&str, &str, &[u8])> = got
            .iter()
            .map(|e| (e.key.as_str(), e.object.as_str(), &e.value[..]))
            .collect();
        assert_eq!(
            keys,
            [
                ("BLOB", "ConfigMap app", &[0xff, 0][..]),
                ("MODE", "ConfigMap app", b"fast"),
                ("PW", "Secret db", b"s3"),
            ]
        );
        let err = check_env(&got).unwrap_err().to_string();
        assert!(
            err.contains("ConfigMap app: the value of key BLOB is binary"),
            "{err}"
        );
        assert!(!err.contains("fast"), "{err}");
    }

    #[test]
    fn a_key_of_two_objects_is_refused_naming_both() {
        let ms = [
            manifest("Secret", "db", json!({"data": {"HOST": B64.encode("a")}})),
            manifest("ConfigMap", "app", json!({"data": {"HOST": "b"}})),
        ];
        let err = entries(&ms, &select(&[], &[])).unwrap_err().to_string();
        assert!(err.contains("key HOST is in both"), "{err}");
        assert!(
            err.contains("Secret db") && err.contains("ConfigMap app"),
            "{err}"
        );
        // choosing one object resolves it, by either name
        let only = entries(&ms, &select(&["db-abc123".into()], &[])).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].object, "Secret db");
    }

    #[test]
    fn a_name_matching_no_object_is_refused() {
        let ms = [manifest("Secret", "db", json!({"data": {}}))];
        let err = entries(&ms, &select(&["nope".into()], &["db".into()]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--secret nope: no Secret of that name (rendered there: db)"),
            "{err}"
        );
        assert!(
            err.contains("--configmap db: no ConfigMap of that name (rendered there: none)"),
            "{err}"
        );
    }
}
