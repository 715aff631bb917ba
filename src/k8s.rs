//! Kubernetes facts ksec relies on, and nothing of ksec's own model: the
//! rendered object (`Manifest`), the labels ksec sets, one table of the kinds
//! ksec reads or writes, and the API server's rules for names, data keys,
//! label values and quantities.
//!
//! A leaf: it imports no other module of the crate, so `project`, `render`,
//! `onboard`, `guard` and `cluster` can all import it without a circle.

use serde_json::Value;
use std::fmt;

/// `app.kubernetes.io/managed-by: ksec` marks every object ksec writes.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const PROJECT_LABEL: &str = "ksec.dev/project";
pub const ENVIRONMENT_LABEL: &str = "ksec.dev/environment";
/// The name before the hash suffix: live objects with the same one that
/// are no longer rendered are older versions of this object.
pub const NAME_ANNOTATION: &str = "ksec.dev/name";

/// The largest object Kubernetes stores (data plus binaryData).
pub const MAX_OBJECT_BYTES: usize = 1024 * 1024;

/// One rendered object.
#[derive(Clone)]
pub struct Manifest {
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub body: Value,
}

/// A Secret's values never reach a log or a panic message through `Debug`:
/// its `data` and `stringData` values print as `[redacted]`, keys kept.
impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut body = self.body.clone();
        if self.kind == "Secret" || body["kind"] == "Secret" {
            for field in ["data", "stringData"] {
                if let Some(values) = body.get_mut(field).and_then(Value::as_object_mut) {
                    for value in values.values_mut() {
                        *value = Value::String("[redacted]".into());
                    }
                }
            }
        }
        f.debug_struct("Manifest")
            .field("namespace", &self.namespace)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("body", &body)
            .finish()
    }
}

/// What ksec does with a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// ConfigMaps and Secrets: rendered from sources.
    Data,
    /// What namespace onboarding writes (templates may hold only these).
    Onboarding,
    /// Deployments and the like: render adds mounts and rollout annotations.
    Workload,
}

/// A kind ksec reads or writes.
pub struct Kind {
    pub name: &'static str,
    pub api_version: &'static str,
    /// The plural resource name of the API.
    pub resource: &'static str,
    pub cluster_scoped: bool,
    pub role: Role,
}

impl Kind {
    /// The API group: empty for the core group (`v1`).
    pub fn group(&self) -> &'static str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }
}

const fn kind(
    name: &'static str,
    api_version: &'static str,
    resource: &'static str,
    cluster_scoped: bool,
    role: Role,
) -> Kind {
    Kind {
        name,
        api_version,
        resource,
        cluster_scoped,
        role,
    }
}

const RBAC: &str = "rbac.authorization.k8s.io/v1";

/// Every kind ksec knows, onboarding kinds in the order messages list them.
pub const KINDS: &[Kind] = &[
    kind("Namespace", "v1", "namespaces", true, Role::Onboarding),
    kind(
        "ResourceQuota",
        "v1",
        "resourcequotas",
        false,
        Role::Onboarding,
    ),
    kind("LimitRange", "v1", "limitranges", false, Role::Onboarding),
    kind(
        "ServiceAccount",
        "v1",
        "serviceaccounts",
        false,
        Role::Onboarding,
    ),
    kind("Role", RBAC, "roles", false, Role::Onboarding),
    kind("RoleBinding", RBAC, "rolebindings", false, Role::Onboarding),
    kind("ClusterRole", RBAC, "clusterroles", true, Role::Onboarding),
    kind(
        "ClusterRoleBinding",
        RBAC,
        "clusterrolebindings",
        true,
        Role::Onboarding,
    ),
    kind(
        "NetworkPolicy",
        "networking.k8s.io/v1",
        "networkpolicies",
        false,
        Role::Onboarding,
    ),
    kind("ConfigMap", "v1", "configmaps", false, Role::Data),
    kind("Secret", "v1", "secrets", false, Role::Data),
    kind(
        "Deployment",
        "apps/v1",
        "deployments",
        false,
        Role::Workload,
    ),
    kind(
        "StatefulSet",
        "apps/v1",
        "statefulsets",
        false,
        Role::Workload,
    ),
    kind("DaemonSet", "apps/v1", "daemonsets", false, Role::Workload),
];

/// The entry of `name` in [`KINDS`].
pub fn kind_named(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The kinds of one role, in table order.
pub fn kinds_of(role: Role) -> impl Iterator<Item = &'static Kind> {
    KINDS.iter().filter(move |k| k.role == role)
}

/// Whether a kind is one that onboarding writes.
pub fn is_onboarding_kind(name: &str) -> bool {
    kind_named(name).is_some_and(|k| k.role == Role::Onboarding)
}

/// Whether a kind is a workload render wires config into.
pub fn is_workload_kind(name: &str) -> bool {
    kind_named(name).is_some_and(|k| k.role == Role::Workload)
}

/// Whether a kind lives outside namespaces.
pub fn is_cluster_scoped(name: &str) -> bool {
    kind_named(name).is_some_and(|k| k.cluster_scoped)
}

/// The API group and plural resource of a kind (`("", "unknown")` for a
/// kind ksec does not know).
pub fn resource_of(name: &str) -> (&'static str, &'static str) {
    kind_named(name).map_or(("", "unknown"), |k| (k.group(), k.resource))
}

/// An object as `kubectl get -o name` prints it: `secret/db`,
/// `deployment.apps/web` (lower-case kind, then the API group, if any).
pub fn object_name(kind: &str, api_version: &str, name: &str) -> String {
    let kind = kind.to_ascii_lowercase();
    match api_version.rsplit_once('/') {
        Some((group, _)) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// An object of a kind in [`KINDS`] as `kubectl get -o name` prints it
/// (a kind ksec does not know is taken as a core one).
pub fn kind_object_name(kind: &str, name: &str) -> String {
    let api_version = kind_named(kind).map_or("v1", |k| k.api_version);
    object_name(kind, api_version, name)
}

// ---------------------------------------------------------------- names

/// DNS-1123 label: lower-case alphanumerics and '-', at most 63, starting
/// and ending alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain: dot-separated labels, at most 253.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A ConfigMap or Secret data key, as the API server checks it:
/// `[-._a-zA-Z0-9]+`, at most 253 characters, not `.`, not starting with `..`.
pub fn is_data_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && !key.starts_with("..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Namespaces Kubernetes itself owns: never onboarded by ksec.
pub const RESERVED_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Pod Security Standard levels.
pub const POD_SECURITY_LEVELS: &[&str] = &["privileged", "baseline", "restricted"];

/// Why `name` cannot be a new team namespace, if it cannot.
pub fn reserved_namespace(name: &str) -> Option<String> {
    if RESERVED_NAMESPACES.contains(&name) || name.starts_with("kube-") {
        Some(format!(
            "{name} is reserved by Kubernetes ({} and every kube-* name)",
            RESERVED_NAMESPACES.join(", ")
        ))
    } else {
        None
    }
}

/// A Kubernetes resource quantity: `2`, `0.5`, `500m`, `8Gi`, `1G`, `1e3`.
pub fn is_quantity(s: &str) -> bool {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$",
        )
        .expect("valid regex")
    });
    RE.is_match(s)
}

/// The value of a quantity in billionths (`500m` is 500_000_000, `1Ki`
/// is 1_024_000_000_000), rounded up as Kubernetes does; `None` if it is no
/// quantity or too large to compare.
pub fn quantity_nanos(s: &str) -> Option<i128> {
    if !is_quantity(s) {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let negative = number.starts_with('-');
    let number = number.trim_start_matches(['+', '-']);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    // value = digits * 10^exp10 * 2^exp2
    let mut exp10: i32 = 9 - fraction.len() as i32;
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            exp2 = 10
                * (1 + ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                    .iter()
                    .position(|x| *x == suffix)? as u32)
        }
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        e => exp10 += e[1..].parse::<i32>().ok()?,
    }
    let mut value = digits.checked_mul(2i128.checked_pow(exp2)?)?;
    if exp10 >= 0 {
        value = value.checked_mul(10i128.checked_pow(exp10 as u32)?)?;
    } else {
        let divisor = 10i128.checked_pow(exp10.unsigned_abs())?;
        value = (value + divisor - 1) / divisor;
    }
    Some(if negative { -value } else { value })
}

/// A label value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_follow_kubernetes() {
        for ok in [
            "4", "0.5", "500m", "8Gi", "1G", "1e3", "+1", ".5", "100Ki", "2E",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["8GB", "", "m", "1.2.3", "4 Gi", "Gi", "1e", "-", "1mi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn quantities_compare_by_value() {
        let q = quantity_nanos;
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q("8192Mi"), q("8Gi"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("20"), Some(20_000_000_000));
        assert_eq!(q("1n"), Some(1));
        assert_eq!(q("0.1n"), Some(1), "rounded up");
        assert_ne!(q("1Ki"), q("1k"));
        assert_eq!(q("8GB"), None);
    }

    #[test]
    fn the_kinds_table_answers_scope_group_and_role() {
        assert!(is_cluster_scoped("ClusterRoleBinding"));
        assert!(!is_cluster_scoped("Secret"));
        assert!(!is_cluster_scoped("Unknown"));
        assert_eq!(
            resource_of("RoleBinding"),
            ("rbac.authorization.k8s.io", "rolebindings")
        );
        assert_eq!(resource_of("Secret"), ("", "secrets"));
        assert_eq!(resource_of("Deployment"), ("apps", "deployments"));
        assert_eq!(resource_of("Pod"), ("", "unknown"));
        assert!(is_onboarding_kind("NetworkPolicy"));
        assert!(!is_onboarding_kind("ConfigMap"));
        assert!(is_workload_kind("DaemonSet"));
        assert!(!is_workload_kind("Namespace"));
    }

    #[test]
    fn names_are_what_kubectl_get_o_name_prints() {
        assert_eq!(kind_object_name("Secret", "db"), "secret/db");
        assert_eq!(kind_object_name("Deployment", "web"), "deployment.apps/web");
        assert_eq!(
            kind_object_name("RoleBinding", "owners"),
            "rolebinding.rbac.authorization.k8s.io/owners"
        );
        assert_eq!(
            kind_object_name("Namespace", "payments"),
            "namespace/payments"
        );
    }

    #[test]
    fn debug_of_a_secret_manifest_hides_its_values() {
        let secret = Manifest {
            namespace: "ns".into(),
            kind: "Secret".into(),
            name: "db".into(),
            body: serde_json::json!({
                "kind": "Secret",
                "data": {"password": "aHVudGVyMg=="},
                "stringData": {"token": "hunter2"},
            }),
        };
        let shown = format!("{secret:?}");
        assert!(
            !shown.contains("aHVudGVyMg==") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(
            shown.contains("password") && shown.contains("[redacted]"),
            "{shown}"
        );
        let config = Manifest {
            kind: "ConfigMap".into(),
            body: serde_json::json!({"data": {"level": "debug"}}),
            ..secret
        };
        assert!(format!("{config:?}").contains("debug"));
    }
}
