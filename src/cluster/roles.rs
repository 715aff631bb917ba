//! Reading the cluster's RBAC objects (Roles, ClusterRoles and their
//! bindings) with the caller's own rights, for `rbac` to evaluate. A LIST
//! the caller may not make (403) is not an error: it is named in
//! [`Rbac::unknown`] and the answer is marked incomplete; no answer at all
//! is an error (the cluster part is then unknown).

use super::Cluster;
use super::rbac::{Binding, Rbac, Role, Rule, Subject, cannot_list};
use super::transport::CONCURRENCY;
use crate::error::Result;
use futures::stream::{self, StreamExt};
use k8s_openapi::api::rbac::v1 as rbac;
use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;

/// Objects per page of a LIST.
const PAGE: u32 = 500;

/// Every object of a LIST, page by page; `None` when it is forbidden.
async fn list_all<K>(api: Api<K>) -> kube::Result<Option<Vec<K>>>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = match api.list(&lp).await {
            Ok(page) => page,
            Err(kube::Error::Api(s)) if s.code == 403 => return Ok(None),
            Err(e) => return Err(e),
        };
        out.extend(page.items);
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(Some(out));
        }
    }
}

fn rules(rules: Option<Vec<rbac::PolicyRule>>) -> Vec<Rule> {
    rules
        .unwrap_or_default()
        .into_iter()
        .map(|r| Rule {
            verbs: r.verbs,
            api_groups: r.api_groups.unwrap_or_default(),
            resources: r.resources.unwrap_or_default(),
            resource_names: r.resource_names.unwrap_or_default(),
            non_resource: r.non_resource_urls.is_some_and(|u| !u.is_empty()),
        })
        .collect()
}

fn binding(
    namespace: String,
    name: String,
    role_ref: rbac::RoleRef,
    subjects: Option<Vec<rbac::Subject>>,
) -> Binding {
    Binding {
        namespace,
        name,
        role_kind: role_ref.kind,
        role_name: role_ref.name,
        subjects: subjects
            .unwrap_or_default()
            .into_iter()
            .map(|s| Subject {
                kind: s.kind,
                name: s.name,
                namespace: s.namespace.unwrap_or_default(),
            })
            .collect(),
    }
}

impl Cluster {
    /// The ClusterRoles, ClusterRoleBindings, and the Roles and
    /// RoleBindings of `namespaces`, as far as the caller may list them.
    pub fn rbac(&self, namespaces: &[String]) -> Result<Rbac> {
        self.runtime.block_on(async {
            let c = &self.client;
            let (cluster_roles, cluster_bindings) = futures::join!(
                list_all(Api::<rbac::ClusterRole>::all(c.clone())),
                list_all(Api::<rbac::ClusterRoleBinding>::all(c.clone())),
            );
            let mut out = Rbac::default();
            match cluster_roles.map_err(|e| self.fail("list clusterroles", &e))? {
                Some(items) => {
                    out.cluster_roles = items
                        .into_iter()
                        .map(|r| Role {
                            namespace: String::new(),
                            name: r.metadata.name.unwrap_or_default(),
                            aggregated: r.aggregation_rule.is_some(),
                            rules: rules(r.rules),
                        })
                        .collect();
                }
                None => out.unknown.push(cannot_list("clusterroles", None)),
            }
            match cluster_bindings.map_err(|e| self.fail("list clusterrolebindings", &e))? {
                Some(items) => {
                    out.cluster_bindings = items
                        .into_iter()
                        .map(|b| {
                            binding(
                                String::new(),
                                b.metadata.name.unwrap_or_default(),
                                b.role_ref,
                                b.subjects,
                            )
                        })
                        .collect();
                }
                None => out.unknown.push(cannot_list("clusterrolebindings", None)),
            }
            // the namespaces in parallel, answers kept in their order
            let per_namespace: Vec<_> = stream::iter(namespaces)
                .map(|ns| async move {
                    futures::join!(
                        list_all(Api::<rbac::Role>::namespaced(c.clone(), ns)),
                        list_all(Api::<rbac::RoleBinding>::namespaced(c.clone(), ns)),
                    )
                })
                .buffered(CONCURRENCY)
                .collect()
                .await;
            for (ns, (roles, bindings)) in namespaces.iter().zip(per_namespace) {
                match roles.map_err(|e| self.fail(&format!("list roles in namespace {ns}"), &e))? {
                    Some(items) => out.roles.extend(items.into_iter().map(|r| Role {
                        namespace: ns.clone(),
                        name: r.metadata.name.unwrap_or_default(),
                        aggregated: false,
                        rules: rules(r.rules),
                    })),
                    None => out.unknown.push(cannot_list("roles", Some(ns))),
                }
                let what = format!("list rolebindings in namespace {ns}");
                match bindings.map_err(|e| self.fail(&what, &e))? {
                    Some(items) => out.bindings.extend(items.into_iter().map(|b| {
                        binding(
                            ns.clone(),
                            b.metadata.name.unwrap_or_default(),
                            b.role_ref,
                            b.subjects,
                        )
                    })),
                    None => out.unknown.push(cannot_list("rolebindings", Some(ns))),
                }
            }
            Ok(out)
        })
    }
}
