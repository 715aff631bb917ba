//! Who may read a Secret, as the cluster's RBAC authorizer decides it:
//! pure evaluation over the Roles, ClusterRoles and bindings read from the
//! cluster (`Cluster::rbac` reads them with the caller's own rights).
//!
//! It follows the authorizer of kube-apiserver (`plugin/pkg/auth/authorizer/rbac`):
//! a rule allows a request when its verbs, API groups and resources match
//! (each list may hold `*`; Secrets are `secrets` in the core group `""`)
//! and, when it names `resourceNames`, the Secret's name is one of them. A
//! request names the Secret for `get`, and for `list`/`watch` filtered to it
//! (`fieldSelector=metadata.name=NAME`, which the API server turns into a
//! request for that name): so a rule limited to the Secret's name grants all
//! three verbs on it, and a rule limited to other names grants none. The
//! rules of a ClusterRole are taken as stored: for an aggregated ClusterRole
//! they are what the clusterrole-aggregation controller filled in, which is
//! what the authorizer evaluates. Members of `system:masters` pass before
//! RBAC is consulted (the API server's privileged-group authorizer), so that
//! group reads every Secret whatever the bindings say.
//!
//! Nothing here is guessed: what could not be read is carried in
//! [`Rbac::unknown`] and makes every answer incomplete.

use std::collections::{BTreeMap, BTreeSet};

/// The verbs that read a Secret.
pub const READ_VERBS: [&str; 3] = ["get", "list", "watch"];

/// The group the API server lets through before RBAC.
pub const SUPERUSER_GROUP: &str = "system:masters";

/// One policy rule, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    /// Non-resource URLs: such a rule never applies to a Secret.
    pub non_resource: bool,
}

/// A Role (with its namespace) or a ClusterRole (namespace empty).
#[derive(Debug, Clone, Default)]
pub struct Role {
    pub namespace: String,
    pub name: String,
    pub rules: Vec<Rule>,
    /// A ClusterRole with an `aggregationRule`: its rules were filled by
    /// the clusterrole-aggregation controller.
    pub aggregated: bool,
}

/// A subject of a binding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    pub name: String,
    /// A ServiceAccount's namespace (defaulted to the RoleBinding's own, as
    /// the authorizer does); empty for users and groups.
    pub namespace: String,
}

impl Subject {
    /// `User alice`, `Group team-a`, `ServiceAccount ci/deployer`.
    pub fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// A RoleBinding (with its namespace) or a ClusterRoleBinding (namespace
/// empty).
#[derive(Debug, Clone, Default)]
pub struct Binding {
    pub namespace: String,
    pub name: String,
    /// `Role` or `ClusterRole`.
    pub role_kind: String,
    pub role_name: String,
    pub subjects: Vec<Subject>,
}

/// What was read from the cluster: the roles and bindings the caller may
/// list, and what could not be read (`cannot list clusterrolebindings:
/// forbidden`).
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    pub cluster_roles: Vec<Role>,
    pub roles: Vec<Role>,
    pub cluster_bindings: Vec<Binding>,
    pub bindings: Vec<Binding>,
    pub unknown: Vec<String>,
}

/// A subject that may read a Secret: the verbs, and through which
/// bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub subject: Subject,
    /// A subset of [`READ_VERBS`], in that order.
    pub verbs: Vec<String>,
    /// One line per binding that grants any of them:
    /// `ClusterRoleBinding x → ClusterRole y (aggregated)`.
    pub via: Vec<String>,
}

/// Who may read one Secret, and whether that answer is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub readers: Vec<Reader>,
    /// Empty when every role and binding that could matter was read.
    pub unknown: Vec<String>,
}

fn has_or_star(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

impl Rule {
    /// The read verbs this rule grants on Secret `name` (`None`: a name
    /// not known, which no `resourceNames` can be said to hold).
    pub fn secret_verbs(&self, name: Option<&str>) -> Vec<&'static str> {
        let named = self.resource_names.is_empty()
            || name.is_some_and(|name| self.resource_names.iter().any(|n| n == name));
        if !named || !self.reads_secrets() {
            return Vec::new();
        }
        READ_VERBS
            .iter()
            .copied()
            .filter(|v| has_or_star(&self.verbs, v))
            .collect()
    }

    /// Whether the rule reads some Secrets, whatever their names.
    fn reads_secrets(&self) -> bool {
        !self.non_resource
            && has_or_star(&self.api_groups, "")
            && has_or_star(&self.resources, "secrets")
            && READ_VERBS.iter().any(|v| has_or_star(&self.verbs, v))
    }
}

impl Rbac {
    /// The role a binding refers to: a Role in the binding's namespace, or a
    /// ClusterRole. `Err` with the reason when it could not be read.
    fn role_of(&self, b: &Binding) -> Result<Option<&Role>, String> {
        if b.role_kind == "Role" {
            if self.roles_unread(&b.namespace) {
                return Err(format!(
                    "the Role {}/{} of RoleBinding {}/{} could not be read",
                    b.namespace, b.role_name, b.namespace, b.name
                ));
            }
            Ok(self
                .roles
                .iter()
                .find(|r| r.namespace == b.namespace && r.name == b.role_name))
        } else {
            if self.cluster_roles_unread() {
                return Err(format!(
                    "the ClusterRole {} of {} could not be read",
                    b.role_name,
                    binding_label(b)
                ));
            }
            Ok(self.cluster_roles.iter().find(|r| r.name == b.role_name))
        }
    }

    fn roles_unread(&self, ns: &str) -> bool {
        self.unknown
            .iter()
            .any(|u| u == &cannot_list("roles", Some(ns)))
    }

    fn cluster_roles_unread(&self) -> bool {
        self.unknown
            .iter()
            .any(|u| u == &cannot_list("clusterroles", None))
    }

    /// Who may get, list or watch Secret `name` in namespace `ns`. A name
    /// not known (`None`: hash-suffixed, sources not decrypted) counts no
    /// rule limited to `resourceNames`, and says so when there is one.
    pub fn readers(&self, ns: &str, name: Option<&str>) -> Answer {
        let mut unknown: Vec<String> = Vec::new();
        for u in &self.unknown {
            // what was not listed in another namespace does not matter here
            let other_ns = ["roles", "rolebindings"]
                .iter()
                .any(|what| u.starts_with(&format!("cannot list {what} in namespace ")))
                && !u.contains(&format!(" in namespace {ns}:"));
            if !other_ns {
                unknown.push(u.clone());
            }
        }
        let mut found: BTreeMap<Subject, (BTreeSet<&'static str>, Vec<String>)> = BTreeMap::new();
        // the authorizer's privileged group: everything, before RBAC
        found.insert(
            Subject {
                kind: "Group".into(),
                name: SUPERUSER_GROUP.into(),
                namespace: String::new(),
            },
            (
                READ_VERBS.into_iter().collect(),
                vec!["superuser group: the API server allows it everything before RBAC".into()],
            ),
        );
        let bindings = self
            .cluster_bindings
            .iter()
            .chain(self.bindings.iter().filter(|b| b.namespace == ns));
        for b in bindings {
            let role = match self.role_of(b) {
                Ok(Some(role)) => role,
                // a binding to a missing role grants nothing (the authorizer
                // denies, with an evaluation error)
                Ok(None) => continue,
                Err(why) => {
                    if !unknown.contains(&why) {
                        unknown.push(why);
                    }
                    continue;
                }
            };
            let verbs: BTreeSet<&'static str> = role
                .rules
                .iter()
                .flat_map(|r| r.secret_verbs(name))
                .collect();
            if name.is_none()
                && role
                    .rules
                    .iter()
                    .any(|r| !r.resource_names.is_empty() && r.reads_secrets())
            {
                let why = format!(
                    "{} → {} limits Secrets by name, and this Secret's name is not known",
                    binding_label(b),
                    role_label(b, role)
                );
                if !unknown.contains(&why) {
                    unknown.push(why);
                }
            }
            if verbs.is_empty() {
                continue;
            }
            let line = format!(
                "{} → {}{}",
                binding_label(b),
                role_label(b, role),
                if role.aggregated { " (aggregated)" } else { "" }
            );
            for s in &b.subjects {
                let mut subject = s.clone();
                if subject.kind == "ServiceAccount" && subject.namespace.is_empty() {
                    if b.namespace.is_empty() {
                        continue; // the authorizer matches no one
                    }
                    subject.namespace.clone_from(&b.namespace);
                }
                if subject.kind != "ServiceAccount" {
                    subject.namespace.clear();
                }
                let entry = found.entry(subject).or_default();
                entry.0.extend(verbs.iter().copied());
                if !entry.1.contains(&line) {
                    entry.1.push(line.clone());
                }
            }
        }
        let readers = found
            .into_iter()
            .map(|(subject, (verbs, via))| Reader {
                subject,
                verbs: READ_VERBS
                    .iter()
                    .filter(|v| verbs.contains(*v))
                    .map(|v| (*v).to_string())
                    .collect(),
                via,
            })
            .collect();
        Answer { readers, unknown }
    }
}

/// `RoleBinding ns/name` or `ClusterRoleBinding name`.
fn binding_label(b: &Binding) -> String {
    if b.namespace.is_empty() {
        format!("ClusterRoleBinding {}", b.name)
    } else {
        format!("RoleBinding {}/{}", b.namespace, b.name)
    }
}

/// `Role ns/name` or `ClusterRole name`.
fn role_label(b: &Binding, role: &Role) -> String {
    if b.role_kind == "Role" {
        format!("Role {}/{}", role.namespace, role.name)
    } else {
        format!("ClusterRole {}", role.name)
    }
}

/// What the answer says of a list the caller may not make:
/// `cannot list clusterrolebindings: forbidden`, `cannot list roles in
/// namespace payments: forbidden`.
pub fn cannot_list(what: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("cannot list {what} in namespace {ns}: forbidden"),
        None => format!("cannot list {what}: forbidden"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_string()).collect()
    }

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> Rule {
        Rule {
            verbs: s(verbs),
            api_groups: s(groups),
            resources: s(resources),
            resource_names: s(names),
            non_resource: false,
        }
    }

    fn subject(kind: &str, name: &str, ns: &str) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.into(),
        }
    }

    fn role(ns: &str, name: &str, rules: Vec<Rule>) -> Role {
        Role {
            namespace: ns.into(),
            name: name.into(),
            rules,
            aggregated: false,
        }
    }

    fn binding(ns: &str, name: &str, kind: &str, role: &str, subjects: Vec<Subject>) -> Binding {
        Binding {
            namespace: ns.into(),
            name: name.into(),
            role_kind: kind.into(),
            role_name: role.into(),
            subjects,
        }
    }

    fn verbs_of(answer: &Answer, label: &str) -> Option<Vec<String>> {
        answer
            .readers
            .iter()
            .find(|r| r.subject.label() == label)
            .map(|r| r.verbs.clone())
    }

    #[test]
    fn rules_match_verbs_groups_and_resources_with_stars() {
        let core = rule(&["get"], &[""], &["secrets"], &[]);
        assert_eq!(core.secret_verbs(Some("db")), vec!["get"]);
        let other_group = rule(&["get"], &["apps"], &["secrets"], &[]);
        assert!(other_group.secret_verbs(Some("db")).is_empty());
        let other_resource = rule(&["*"], &[""], &["configmaps"], &[]);
        assert!(other_resource.secret_verbs(Some("db")).is_empty());
        let all = rule(&["*"], &["*"], &["*"], &[]);
        assert_eq!(all.secret_verbs(Some("db")), vec!["get", "list", "watch"]);
        let subresource = rule(&["get"], &[""], &["secrets/status"], &[]);
        assert!(subresource.secret_verbs(Some("db")).is_empty());
        let writes = rule(&["create", "update", "delete"], &[""], &["secrets"], &[]);
        assert!(writes.secret_verbs(Some("db")).is_empty());
        let non_resource = Rule {
            non_resource: true,
            ..rule(&["get"], &[], &[], &[])
        };
        assert!(non_resource.secret_verbs(Some("db")).is_empty());
    }

    #[test]
    fn resource_names_grant_only_the_named_secret() {
        let named = rule(&["get", "list", "watch"], &[""], &["secrets"], &["db"]);
        assert_eq!(named.secret_verbs(Some("db")), vec!["get", "list", "watch"]);
        assert!(named.secret_verbs(Some("api")).is_empty());
        assert!(named.secret_verbs(None).is_empty(), "a name not known");
    }

    #[test]
    fn a_name_not_known_makes_name_limited_rules_unknown() {
        let rbac = Rbac {
            roles: vec![
                role(
                    "pay",
                    "named",
                    vec![rule(&["get"], &[""], &["secrets"], &["db"])],
                ),
                role("pay", "all", vec![rule(&["get"], &[""], &["secrets"], &[])]),
            ],
            bindings: vec![
                binding(
                    "pay",
                    "a",
                    "Role",
                    "named",
                    vec![subject("User", "alice", "")],
                ),
                binding("pay", "b", "Role", "all", vec![subject("User", "bob", "")]),
            ],
            ..Rbac::default()
        };
        let answer = rbac.readers("pay", None);
        assert_eq!(verbs_of(&answer, "User alice"), None);
        assert_eq!(verbs_of(&answer, "User bob"), Some(s(&["get"])));
        assert_eq!(
            answer.unknown,
            vec![
                "RoleBinding pay/a → Role pay/named limits Secrets by name, and this Secret's name is not known"
            ]
        );
        assert!(rbac.readers("pay", Some("db")).unknown.is_empty());
    }

    #[test]
    fn bindings_in_the_namespace_and_cluster_wide_count() {
        let rbac = Rbac {
            roles: vec![
                role(
                    "pay",
                    "reader",
                    vec![rule(&["get"], &[""], &["secrets"], &[])],
                ),
                role(
                    "other",
                    "reader",
                    vec![rule(&["get"], &[""], &["secrets"], &[])],
                ),
            ],
            cluster_roles: vec![
                role(
                    "",
                    "lister",
                    vec![rule(&["list", "watch"], &[""], &["secrets"], &[])],
                ),
                role("", "pods", vec![rule(&["get"], &[""], &["pods"], &[])]),
            ],
            bindings: vec![
                binding(
                    "pay",
                    "a",
                    "Role",
                    "reader",
                    vec![subject("User", "alice", "")],
                ),
                binding(
                    "other",
                    "b",
                    "Role",
                    "reader",
                    vec![subject("User", "bob", "")],
                ),
                binding(
                    "pay",
                    "c",
                    "ClusterRole",
                    "lister",
                    vec![subject("ServiceAccount", "ci", "")],
                ),
                binding(
                    "pay",
                    "d",
                    "ClusterRole",
                    "pods",
                    vec![subject("User", "pat", "")],
                ),
                binding(
                    "pay",
                    "e",
                    "Role",
                    "missing",
                    vec![subject("User", "mo", "")],
                ),
            ],
            cluster_bindings: vec![binding(
                "",
                "f",
                "ClusterRole",
                "lister",
                vec![
                    subject("Group", "auditors", ""),
                    subject("ServiceAccount", "x", "kube-system"),
                ],
            )],
            unknown: Vec::new(),
        };
        let answer = rbac.readers("pay", Some("db"));
        assert!(answer.unknown.is_empty());
        assert_eq!(verbs_of(&answer, "User alice"), Some(s(&["get"])));
        assert_eq!(verbs_of(&answer, "User bob"), None, "another namespace");
        assert_eq!(
            verbs_of(&answer, "ServiceAccount pay/ci"),
            Some(s(&["list", "watch"])),
            "defaulted to the RoleBinding's namespace"
        );
        assert_eq!(verbs_of(&answer, "User pat"), None);
        assert_eq!(verbs_of(&answer, "User mo"), None, "a missing Role");
        assert_eq!(
            verbs_of(&answer, "Group auditors"),
            Some(s(&["list", "watch"]))
        );
        assert_eq!(
            verbs_of(&answer, "ServiceAccount kube-system/x"),
            Some(s(&["list", "watch"]))
        );
        assert_eq!(
            verbs_of(&answer, "Group system:masters"),
            Some(s(&["get", "list", "watch"]))
        );
        let alice = answer
            .readers
            .iter()
            .find(|r| r.subject.name == "alice")
            .unwrap();
        assert_eq!(alice.via, vec!["RoleBinding pay/a → Role pay/reader"]);
    }

    #[test]
    fn aggregated_roles_are_marked_and_verbs_merge() {
        let mut agg = role("", "agg", vec![rule(&["get"], &[""], &["secrets"], &[])]);
        agg.aggregated = true;
        let rbac = Rbac {
            cluster_roles: vec![
                agg,
                role("", "w", vec![rule(&["watch"], &["*"], &["*"], &[])]),
            ],
            cluster_bindings: vec![
                binding(
                    "",
                    "one",
                    "ClusterRole",
                    "agg",
                    vec![subject("User", "u", "")],
                ),
                binding(
                    "",
                    "two",
                    "ClusterRole",
                    "w",
                    vec![subject("User", "u", "")],
                ),
            ],
            ..Rbac::default()
        };
        let answer = rbac.readers("pay", Some("db"));
        let u = answer
            .readers
            .iter()
            .find(|r| r.subject.name == "u")
            .unwrap();
        assert_eq!(u.verbs, s(&["get", "watch"]));
        assert_eq!(
            u.via,
            vec![
                "ClusterRoleBinding one → ClusterRole agg (aggregated)",
                "ClusterRoleBinding two → ClusterRole w"
            ]
        );
    }

    #[test]
    fn what_could_not_be_read_makes_the_answer_incomplete() {
        let rbac = Rbac {
            roles: vec![role(
                "pay",
                "r",
                vec![rule(&["get"], &[""], &["secrets"], &[])],
            )],
            bindings: vec![
                binding("pay", "a", "Role", "r", vec![subject("User", "alice", "")]),
                binding(
                    "pay",
                    "b",
                    "ClusterRole",
                    "view",
                    vec![subject("User", "bob", "")],
                ),
            ],
            unknown: vec![
                cannot_list("clusterroles", None),
                cannot_list("clusterrolebindings", None),
                cannot_list("rolebindings", Some("elsewhere")),
            ],
            ..Rbac::default()
        };
        let answer = rbac.readers("pay", Some("db"));
        assert_eq!(verbs_of(&answer, "User alice"), Some(s(&["get"])));
        assert_eq!(verbs_of(&answer, "User bob"), None, "not guessed");
        assert_eq!(
            answer.unknown,
            vec![
                "cannot list clusterroles: forbidden".to_string(),
                "cannot list clusterrolebindings: forbidden".into(),
                "the ClusterRole view of RoleBinding pay/b could not be read".into(),
            ],
            "another namespace's gap does not matter here"
        );
    }
}
