//! The on-disk shape of `ksec.yaml`. Private to `project`: the rest of ksec
//! sees only the validated model in `project::Project`. Unknown fields are
//! rejected so a typo never silently does nothing.

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
