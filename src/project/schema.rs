//! The on-disk shape of `ksec.yaml`. Private to `project`: the rest of ksec
//! sees only the validated model in `project::Project`. Unknown fields are
//! rejected so a typo never silently does nothing.

use crate::crypto::yaml::Key;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

pub type Map<T> = BTreeMap<String, T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct File {
    pub version: Spanned<u32>,
    #[serde(default)]
    pub project: Option<Spanned<String>>,
    /// name -> public key (`age1…` or SSH)
    #[serde(default)]
    pub recipients: Map<Spanned<String>>,
    /// name -> recipient or group names
    #[serde(default)]
    pub groups: Map<Vec<Spanned<String>>>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub environments: Map<Environment>,
    #[serde(default)]
    pub namespaces: Map<Namespace>,
    /// Settings of `ksec check`.
    #[serde(default)]
    pub check: Check,
}

/// `check:`: findings of `ksec check` that the project accepts, each with
/// its reason (a demo key, a test fixture).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Check {
    #[serde(default)]
    pub allow: Vec<Allow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Allow {
    /// A path relative to the project root; `*`, `**` and `?` are globs.
    pub path: Spanned<String>,
    /// A rule id of `ksec check` (`age-identity`, `private-key`, …).
    pub rule: Spanned<String>,
    /// Why the finding is fine: required, so an allowance is never silent.
    pub reason: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Defaults {
    #[serde(default)]
    pub labels: Map<String>,
    #[serde(default)]
    pub annotations: Map<String>,
    #[serde(default)]
    pub hash_suffix: Option<bool>,
    /// How many superseded hash-named versions of an object apply keeps.
    #[serde(default)]
    pub keep_versions: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Environment {
    pub context: String,
    #[serde(default)]
    pub protected: bool,
    /// The environment's CI recipients (names), added to every namespace.
    #[serde(default)]
    pub recipients: Vec<Spanned<String>>,
    /// GitOps: each onboarded namespace's Secrets are encrypted to its own
    /// cluster key (`namespaces.NS.clusterKeys.ENV`) instead of `recipients`.
    #[serde(default)]
    pub team_keys: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Namespace {
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub environments: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub recipients: Vec<Spanned<String>>,
    /// Groups that own the namespace; with any, ksec onboards it.
    #[serde(default)]
    pub owners: Vec<Spanned<String>>,
    #[serde(default)]
    pub team: Option<Spanned<String>>,
    #[serde(default)]
    pub pod_security: Option<Spanned<String>>,
    #[serde(default)]
    pub quota: Map<Spanned<String>>,
    #[serde(default)]
    pub limits: Option<Limits>,
    #[serde(default)]
    pub network_policy: Option<Spanned<String>>,
    #[serde(default)]
    pub labels: Map<String>,
    #[serde(default)]
    pub annotations: Map<String>,
    #[serde(default)]
    pub config_maps: Vec<ConfigMap>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    /// Per environment, the recipient name of the namespace's own cluster
    /// decryption key (GitOps with `teamKeys`).
    #[serde(default)]
    pub cluster_keys: Map<Spanned<String>>,
    /// How old a value of its encrypted files may grow (`90d`) before
    /// `ksec check --rotation` calls it overdue.
    #[serde(default)]
    pub rotate_after: Option<Spanned<String>>,
}

/// A LimitRange's container defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    #[serde(default)]
    pub default: Map<Spanned<String>>,
    #[serde(default)]
    pub default_request: Map<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigMap {
    pub name: Spanned<String>,
    #[serde(default)]
    pub env_files: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub literals: Map<String>,
    #[serde(default)]
    pub labels: Map<String>,
    #[serde(default)]
    pub annotations: Map<String>,
    #[serde(default)]
    pub immutable: bool,
    #[serde(default)]
    pub hash_suffix: Option<bool>,
    #[serde(default)]
    pub mount: Option<Mount>,
    /// Workloads (`Deployment/api`) whose pods roll when this data changes.
    #[serde(default)]
    pub rollout: Vec<String>,
    /// Environment name -> data that differs there.
    #[serde(default)]
    pub overrides: Map<ConfigMapOverride>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigMapOverride {
    #[serde(default)]
    pub env_files: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub literals: Map<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Secret {
    pub name: Spanned<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<Spanned<String>>,
    /// Encrypted SOPS files (YAML or dotenv); their top-level keys are the data keys.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub labels: Map<String>,
    #[serde(default)]
    pub annotations: Map<String>,
    #[serde(default)]
    pub immutable: bool,
    #[serde(default)]
    pub hash_suffix: Option<bool>,
    #[serde(default)]
    pub mount: Option<Mount>,
    /// Workloads (`Deployment/api`) whose pods roll when this data changes.
    #[serde(default)]
    pub rollout: Vec<String>,
    #[serde(default)]
    pub overrides: Map<SecretOverride>,
    /// How old a value of its sources may grow (`90d`); before the
    /// namespace's.
    #[serde(default)]
    pub rotate_after: Option<Spanned<String>>,
    /// Settings of single values (key path in the sources → settings).
    #[serde(default)]
    pub keys: Map<KeySettings>,
}

/// `secrets[].keys.KEY`: one value's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeySettings {
    /// How old this value may grow; before the Secret's and namespace's.
    #[serde(default)]
    pub rotate_after: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretOverride {
    #[serde(default)]
    pub sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mount {
    /// `Deployment/api`, `StatefulSet/db` or `DaemonSet/agent`
    pub workload: String,
    #[serde(default)]
    pub container: Option<String>,
    pub path: String,
    #[serde(default = "yes")]
    pub read_only: bool,
}

fn yes() -> bool {
    true
}

/// A `ksec.yaml` read as plain YAML, keeping each key's line: what the
/// typed schema above cannot give, since serde stops at the first unknown
/// field.
pub enum Node {
    Map(Vec<(Spanned<Key>, Node)>),
    Seq(Vec<Node>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("YAML")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<Spanned<Key>, Node>()? {
                    entries.push(entry);
                }
                Ok(Node::Map(entries))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Node>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_bytes<E>(self, _: &[u8]) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
        }
        d.deserialize_any(V)
    }
}

/// Where a node sits in the schema, to know which keys it may hold.
#[derive(Clone, Copy)]
enum Shape {
    Any,
    Struct(Struct),
    MapOf(Struct),
    ListOf(Struct),
}

#[derive(Clone, Copy)]
enum Struct {
    File,
    Check,
    Allow,
    Defaults,
    Environment,
    Namespace,
    Limits,
    ConfigMap,
    ConfigMapOverride,
    Secret,
    SecretOverride,
    KeySettings,
    Mount,
}

impl Struct {
    /// The field names, taken from the derived `Deserialize` itself so
    /// that this list cannot drift from the types above.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Struct::File => fields_of::<File>(),
            Struct::Check => fields_of::<Check>(),
            Struct::Allow => fields_of::<Allow>(),
            Struct::Defaults => fields_of::<Defaults>(),
            Struct::Environment => fields_of::<Environment>(),
            Struct::Namespace => fields_of::<Namespace>(),
            Struct::Limits => fields_of::<Limits>(),
            Struct::ConfigMap => fields_of::<ConfigMap>(),
            Struct::ConfigMapOverride => fields_of::<ConfigMapOverride>(),
            Struct::Secret => fields_of::<Secret>(),
            Struct::SecretOverride => fields_of::<SecretOverride>(),
            Struct::KeySettings => fields_of::<KeySettings>(),
            Struct::Mount => fields_of::<Mount>(),
        }
    }

    /// The shape of the value under `field`.
    fn child(self, field: &str) -> Shape {
        use Shape::{ListOf, MapOf, Struct as S};
        match (self, field) {
            (Struct::File, "defaults") => S(Struct::Defaults),
            (Struct::File, "environments") => MapOf(Struct::Environment),
            (Struct::File, "namespaces") => MapOf(Struct::Namespace),
            (Struct::File, "check") => S(Struct::Check),
            (Struct::Check, "allow") => ListOf(Struct::Allow),
            (Struct::Namespace, "limits") => S(Struct::Limits),
            (Struct::Namespace, "configMaps") => ListOf(Struct::ConfigMap),
            (Struct::Namespace, "secrets") => ListOf(Struct::Secret),
            (Struct::ConfigMap, "mount") | (Struct::Secret, "mount") => S(Struct::Mount),
            (Struct::ConfigMap, "overrides") => MapOf(Struct::ConfigMapOverride),
            (Struct::Secret, "overrides") => MapOf(Struct::SecretOverride),
            (Struct::Secret, "keys") => MapOf(Struct::KeySettings),
            _ => Shape::Any,
        }
    }
}

/// Every key of `root` that the schema does not know, as (line, message),
/// in file order.
pub fn unknown_fields(root: &Node) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    walk(root, Shape::Struct(Struct::File), "", &mut out);
    out
}

fn walk(node: &Node, shape: Shape, path: &str, out: &mut Vec<(usize, String)>) {
    match (shape, node) {
        (Shape::Struct(s), Node::Map(entries)) => {
            let known = s.fields();
            for (key, value) in entries {
                let name = &key.value.0;
                let here = format!("{path}{}", crate::error::shown(name));
                if known.contains(&name.as_str()) {
                    walk(value, s.child(name), &format!("{here}."), out);
                } else {
                    let advice = match closest(name, known) {
                        Some(k) => format!("did you mean {k}?"),
                        None => format!("the fields here are {}", known.join(", ")),
                    };
                    out.push((
                        key.referenced.line() as usize,
                        format!("{here}: unknown field; {advice}"),
                    ));
                }
            }
        }
        (Shape::MapOf(s), Node::Map(entries)) => {
            for (key, value) in entries {
                let here = format!("{path}{}.", crate::error::shown(&key.value.0));
                walk(value, Shape::Struct(s), &here, out);
            }
        }
        (Shape::ListOf(s), Node::Seq(items)) => {
            let path = path.strip_suffix('.').unwrap_or(path);
            for (i, item) in items.iter().enumerate() {
                walk(item, Shape::Struct(s), &format!("{path}[{i}]."), out);
            }
        }
        // anything else is a type error, which the typed parse reports
        _ => {}
    }
}

/// The known field `name` is most likely a typo of (at most 2 edits).
fn closest(name: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (edit_distance(&name.to_lowercase(), &k.to_lowercase()), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The field names a derived `Deserialize` of a struct passes to
/// `deserialize_struct`, read by a deserializer that only records them.
fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    type E = serde::de::value::Error;
    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = E;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
            Err(serde::de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, E> {
            *self.0 = fields;
            Err(serde::de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_the_derived_schema() {
        let fields = Struct::Secret.fields();
        assert!(fields.contains(&"type") && fields.contains(&"hashSuffix"));
        assert!(Struct::File.fields().contains(&"namespaces"));
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(
            closest("recipents", Struct::File.fields()),
            Some("recipients")
        );
        assert_eq!(closest("zzzzzzzz", Struct::File.fields()), None);
    }
}

/// The lines of the names under `environments:` and `namespaces:`, for
/// problems with a name itself (the typed schema keeps no span for keys).
#[derive(Default)]
pub struct KeyLines(BTreeMap<(String, String), usize>);

impl KeyLines {
    pub fn of(root: &Node) -> KeyLines {
        let mut out = BTreeMap::new();
        if let Node::Map(top) = root {
            for (section, value) in top {
                if let Node::Map(entries) = value {
                    for (key, _) in entries {
                        out.insert(
                            (section.value.0.clone(), key.value.0.clone()),
                            key.referenced.line() as usize,
                        );
                    }
                }
            }
        }
        KeyLines(out)
    }

    /// The line of `name` under `section`, 0 when unknown.
    pub fn get(&self, section: &str, name: &str) -> usize {
        self.0
            .get(&(section.to_string(), name.to_string()))
            .copied()
            .unwrap_or(0)
    }
}
