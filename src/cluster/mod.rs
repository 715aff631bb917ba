//! The only module that talks to Kubernetes: access reviews, reading live
//! objects, server-side apply and pruning. Everything it decides is
//! computed by `plan` (pure); this module only performs requests, through
//! `transport` (bounded concurrency, retries of 429, 5xx and dropped
//! connections within a budget).
//!
//! It never logs an object body: errors name the namespace, kind, name and
//! verb, and the server's message (which names fields, not values).

pub mod connect;
pub mod plan;
pub mod preflight;
pub mod rbac;
mod roles;
pub mod transport;
pub mod versions;

use crate::error::{Code, Error, Result};
use crate::k8s::{ENVIRONMENT_LABEL, MANAGED_BY, Manifest, PROJECT_LABEL};
use connect::Target;
use futures::stream::{self, StreamExt};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::KubeConfigOptions;
use kube::{Client, Config};
use plan::{Need, Reads};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use transport::CONCURRENCY;

/// (namespace, kind, name)
pub type ObjectKey = (String, String, String);

/// An object's key: cluster-scoped objects have an empty namespace.
pub fn key_of(m: &Manifest) -> ObjectKey {
    let ns = if crate::k8s::is_cluster_scoped(&m.kind) {
        String::new()
    } else {
        m.namespace.clone()
    };
    (ns, m.kind.clone(), m.name.clone())
}

/// How messages name an object: `ns/Kind/name`, or `Kind/name`.
pub fn id(key: &ObjectKey) -> String {
    let (ns, kind, name) = key;
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{ns}/{kind}/{name}")
    }
}

/// What the cluster holds: live objects by key, and the keys of the
/// ConfigMaps and Secrets labelled as this project's (and environment's).
#[derive(Default)]
pub struct Live {
    pub objects: BTreeMap<ObjectKey, Value>,
    pub managed: Vec<ObjectKey>,
    /// Cluster-scoped kinds the user may not list (so not pruned).
    pub unseen: Vec<String>,
}

/// The objects of one LIST, by key.
type Listed = Vec<(ObjectKey, Value)>;

/// ksec's field manager for server-side apply.
pub const FIELD_MANAGER: &str = "ksec";

pub struct Cluster {
    client: Client,
    runtime: tokio::runtime::Runtime,
    /// The kubeconfig context in use, for messages.
    pub context: String,
    /// The context and its server URL, for errors.
    target: Target,
}

/// The answer to one access review.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub need: Need,
    pub allowed: bool,
    pub reason: String,
}

fn api_error(what: &str, err: &kube::Error) -> Error {
    match err {
        kube::Error::Api(status) if status.code == 403 && status.message.contains("exceeded quota") => {
            Error::new(
                Code::Invalid,
                format!("{what}: refused by a ResourceQuota: {}", status.message),
            )
            .hint("raise the namespace's ResourceQuota (`kubectl describe quota`), or make fewer or smaller objects")
        }
        kube::Error::Api(status) if status.code == 403 => Error::new(
            Code::AccessDenied,
            format!("{what}: forbidden: {}", status.message),
        )
        .hint("ask for the RBAC rights `ksec apply --check-access` lists"),
        kube::Error::Api(status) if status.code == 409 => Error::new(
            Code::Invalid,
            format!("{what}: conflict: {}", status.message),
        )
        .hint("another field manager owns these fields; rerun with --force-conflicts to take them over"),
        kube::Error::Api(status) if transport::retryable_status(status.code) => Error::new(
            Code::Unavailable,
            format!(
                "{what}: the API server still answered {} ({}) when the retries ran out (at most {} tries and {} s of waiting)",
                status.code,
                status.message,
                transport::ATTEMPTS,
                transport::TOTAL_WAIT.as_secs()
            ),
        )
        .hint("the API server is overloaded or restarting: wait, then run the command again (ksec apply writes only what still differs)"),
        kube::Error::Api(status) => Error::new(
            Code::Invalid,
            format!("{what}: the API server refused it ({}): {}", status.code, status.message),
        ),
        other => Error::new(Code::Unavailable, format!("{what}: {other}"))
            .hint("check that the cluster is reachable"),
    }
}

const NOT_ATTEMPTED: &str = "not attempted: ";

/// The error of a write skipped because the server had stopped answering.
fn not_attempted(context: &str) -> Error {
    Error::new(
        Code::Unavailable,
        format!("{NOT_ATTEMPTED}the cluster of context {context} stopped answering"),
    )
}

/// Whether a write's error says it was skipped, not refused.
pub fn is_not_attempted(err: &Error) -> bool {
    err.message.starts_with(NOT_ATTEMPTED)
}

fn api_resource(kind: &str) -> ApiResource {
    // every kind ksec reads or writes is at version v1 of its group
    let (group, resource) = crate::k8s::resource_of(kind);
    ApiResource {
        group: group.into(),
        version: "v1".into(),
        api_version: if group.is_empty() {
            "v1".into()
        } else {
            format!("{group}/v1")
        },
        kind: kind.into(),
        plural: resource.into(),
    }
}

/// Objects per page of a LIST: a page is held in memory at once.
const PAGE: u32 = 500;

/// Every object of a LIST with a label selector (or all, when it is
/// empty), page by page, keyed by
/// its own namespace (empty for a cluster-scoped kind). Their
/// `managedFields` are dropped: ksec compares and keeps the rest only.
async fn list_pages(api: &Api<DynamicObject>, kind: &str, selector: &str) -> kube::Result<Listed> {
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().labels(selector).limit(PAGE);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await?;
        for mut obj in page.items {
            let Some(name) = obj.metadata.name.clone() else {
                continue;
            };
            obj.metadata.managed_fields = None;
            let ns = obj.metadata.namespace.clone().unwrap_or_default();
            if let Ok(value) = serde_json::to_value(obj) {
                listed.push(((ns, kind.to_string(), name), value));
            }
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(listed);
        }
    }
}

impl Cluster {
    /// Connect with the kubeconfig (`KUBECONFIG` or `~/.kube/config`) and
    /// the given context (else the current one).
    pub fn connect(context: Option<&str>) -> Result<Cluster> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(
                    Code::Unexpected,
                    format!("cannot start the async runtime: {e}"),
                )
            })?;
        let timeouts = connect::timeouts()?;
        let kubeconfig = connect::load_kubeconfig()?;
        let name = context
            .map(str::to_string)
            .or_else(|| kubeconfig.current_context.clone())
            .unwrap_or_default();
        if !kubeconfig.contexts.iter().any(|c| c.name == name) {
            let files = connect::kubeconfig_paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::not_found(format!(
                "the kubeconfig ({files}) has no context {name:?}"
            ))
            .hint("set the environment's context in ksec.yaml, or pass --context"));
        }
        let options = KubeConfigOptions {
            context: Some(name.clone()),
            ..KubeConfigOptions::default()
        };
        let (client, server) = runtime.block_on(async {
            let invalid = |e: &dyn std::fmt::Display| {
                Error::invalid(format!(
                    "the kubeconfig's context {name} cannot be used: {e}"
                ))
                .hint(
                    "fix the context's cluster and user in the kubeconfig (`kubectl config view`)",
                )
            };
            let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| invalid(&e))?;
            config.connect_timeout = Some(timeouts.connect);
            config.read_timeout = Some(timeouts.read);
            config.write_timeout = Some(timeouts.read);
            let server = config.cluster_url.to_string();
            let client = transport::client(config).map_err(|e| invalid(&e))?;
            Ok::<_, Error>((client, server))
        })?;
        Ok(Cluster {
            client,
            runtime,
            target: Target {
                context: name.clone(),
                server: server.trim_end_matches('/').to_string(),
            },
            context: name,
        })
    }

    /// The error of a failed request: credentials refused, no answer, or
    /// the server's own answer (forbidden, invalid, conflict).
    fn fail(&self, what: &str, err: &kube::Error) -> Error {
        self.target.error(what, err, api_error)
    }

    /// Whether each need is allowed. A need that several namespaces share
    /// is first asked once for all namespaces (see `plan::every_namespace`):
    /// where that is allowed, it is allowed in each of them, and only the
    /// rest is asked namespace by namespace.
    async fn review_async(&self, needs: &[Need]) -> Result<Vec<Verdict>> {
        let wide = self.ask(&plan::every_namespace(needs)).await?;
        let (covered, rest): (Vec<&Need>, Vec<&Need>) = needs.iter().partition(|need| {
            wide.iter()
                .any(|v| v.allowed && plan::same_right(&v.need, need))
        });
        let rest: Vec<Need> = rest.into_iter().cloned().collect();
        let mut verdicts = self.ask(&rest).await?;
        for need in covered {
            let reason = wide
                .iter()
                .find(|v| plan::same_right(&v.need, need))
                .map(|v| v.reason.clone())
                .unwrap_or_default();
            verdicts.push(Verdict {
                need: need.clone(),
                allowed: true,
                reason: format!("in every namespace: {reason}"),
            });
        }
        verdicts.sort_by(|a, b| a.need.cmp(&b.need));
        Ok(verdicts)
    }

    /// Ask the server, in parallel, whether each need is allowed.
    async fn ask(&self, needs: &[Need]) -> Result<Vec<Verdict>> {
        if needs.is_empty() {
            return Ok(Vec::new());
        }
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        async {
            let results: Vec<std::result::Result<Verdict, kube::Error>> =
                stream::iter(needs.iter().cloned())
                    .map(|need| {
                        let api = api.clone();
                        async move {
                            let review = SelfSubjectAccessReview {
                                spec: SelfSubjectAccessReviewSpec {
                                    resource_attributes: Some(ResourceAttributes {
                                        namespace: (!need.namespace.is_empty())
                                            .then(|| need.namespace.clone()),
                                        group: Some(need.group.clone()),
                                        resource: Some(need.resource.clone()),
                                        verb: Some(need.verb.clone()),
                                        name: (!need.name.is_empty()).then(|| need.name.clone()),
                                        ..ResourceAttributes::default()
                                    }),
                                    ..SelfSubjectAccessReviewSpec::default()
                                },
                                ..SelfSubjectAccessReview::default()
                            };
                            let post = PostParams::default();
                            let answer = api.create(&post, &review).await?;
                            let status = answer.status.unwrap_or_default();
                            Ok(Verdict {
                                need,
                                allowed: status.allowed,
                                reason: status
                                    .reason
                                    .or(status.evaluation_error)
                                    .unwrap_or_default(),
                            })
                        }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
            let mut verdicts = Vec::with_capacity(results.len());
            for r in results {
                verdicts.push(r.map_err(|e| self.fail("access review", &e))?);
            }
            verdicts.sort_by(|a, b| a.need.cmp(&b.need));
            Ok(verdicts)
        }
        .await
    }

    /// Namespaces that do not exist. A namespace the user may not read is
    /// assumed to exist (the writes will tell). Several are looked up with
    /// one LIST of all namespaces when the user may make it.
    async fn missing_namespaces_async(&self, names: &[String]) -> Result<Vec<String>> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        if names.len() >= 2 {
            match list_pages(&self.api("", "Namespace"), "Namespace", "").await {
                Ok(listed) => {
                    let existing: BTreeSet<&str> = listed
                        .iter()
                        .map(|((_, _, name), _)| name.as_str())
                        .collect();
                    let mut missing: Vec<String> = names
                        .iter()
                        .filter(|n| !existing.contains(n.as_str()))
                        .cloned()
                        .collect();
                    missing.sort();
                    return Ok(missing);
                }
                Err(kube::Error::Api(s)) if s.code == 403 => {}
                Err(e) => return Err(self.fail("list namespaces", &e)),
            }
        }
        async {
            let answers: Vec<(String, std::result::Result<bool, kube::Error>)> =
                stream::iter(names.iter().cloned())
                    .map(|name| {
                        let api = api.clone();
                        async move {
                            let found = api.get_opt(&name).await;
                            (name, found.map(|o| o.is_some()))
                        }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
            let mut missing = Vec::new();
            for (name, answer) in answers {
                match answer {
                    Ok(false) => missing.push(name),
                    Ok(true) => {}
                    Err(kube::Error::Api(s)) if s.code == 403 => {}
                    Err(e) => return Err(self.fail(&format!("get namespace {name}"), &e)),
                }
            }
            missing.sort();
            Ok(missing)
        }
        .await
    }

    /// The live state a diff or apply needs, in few requests: the LISTs
    /// (of objects labelled as this project's, which also finds what is no
    /// longer rendered) and GETs that `reads` names. A cluster-wide LIST
    /// the user may not make is skipped and named in `unseen`: a team
    /// with rights in its namespaces only can still prune those.
    async fn state_async(
        &self,
        reads: &Reads,
        project: &str,
        environment: Option<&str>,
    ) -> Result<Live> {
        let selector = format!("{MANAGED_BY}=ksec,{PROJECT_LABEL}={project}");
        async {
            // A kind listed in several namespaces is listed once across all
            // of them when the user may (kept to those namespaces); else
            // namespace by namespace.
            let mut spread: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for (ns, kind) in reads.lists.iter().filter(|(ns, _)| !ns.is_empty()) {
                spread.entry(kind).or_default().insert(ns);
            }
            spread.retain(|_, namespaces| namespaces.len() >= 2);
            let wide: Vec<(&str, Option<Listed>)> = stream::iter(spread.keys().copied())
                .map(|kind| {
                    let selector = &selector;
                    async move {
                        let all = Api::all_with(self.client.clone(), &api_resource(kind));
                        match list_pages(&all, kind, selector).await {
                            Ok(items) => Ok((kind, Some(items))),
                            Err(kube::Error::Api(s)) if s.code == 403 => Ok((kind, None)),
                            Err(e) => Err(self.fail(&format!("list {kind} (all namespaces)"), &e)),
                        }
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<Result<_>>>()
                .await
                .into_iter()
                .collect::<Result<_>>()?;
            let mut covered: BTreeSet<(&str, &str)> = BTreeSet::new();
            let mut live = Live::default();
            let mut found: Vec<(ObjectKey, Value)> = Vec::new();
            for (kind, items) in wide {
                let Some(items) = items else { continue };
                let namespaces = &spread[kind];
                covered.extend(namespaces.iter().map(|ns| (*ns, kind)));
                found.extend(
                    items
                        .into_iter()
                        .filter(|(key, _)| namespaces.contains(key.0.as_str())),
                );
            }
            let lists: Vec<Result<(&String, Option<Listed>)>> = stream::iter(
                reads
                    .lists
                    .iter()
                    .filter(|(ns, kind)| !covered.contains(&(ns.as_str(), kind.as_str()))),
            )
            .map(|(ns, kind)| {
                let api = self.api(ns, kind);
                let selector = &selector;
                async move {
                    let what = if ns.is_empty() {
                        format!("list {kind} (cluster-wide)")
                    } else {
                        format!("list {ns}/{kind}")
                    };
                    match list_pages(&api, kind, selector).await {
                        Ok(items) => Ok((kind, Some(items))),
                        Err(kube::Error::Api(s)) if s.code == 403 && ns.is_empty() => {
                            Ok((kind, None))
                        }
                        Err(e) => Err(self.fail(&what, &e)),
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
            for list in lists {
                match list? {
                    (_, Some(items)) => found.extend(items),
                    (kind, None) => live.unseen.push(kind.clone()),
                }
            }
            // in the order of `reads`, as they were asked
            live.unseen.sort_by_key(|kind| {
                reads
                    .lists
                    .iter()
                    .position(|(ns, k)| ns.is_empty() && k == kind)
            });
            for (key, value) in found {
                let env = value["metadata"]["labels"][ENVIRONMENT_LABEL].as_str();
                if environment.is_none_or(|e| env == Some(e)) {
                    live.managed.push(key.clone());
                }
                live.objects.insert(key, value);
            }
            let gets: Vec<Result<Option<(ObjectKey, Value)>>> = stream::iter(reads.gets.iter())
                .map(|key| {
                    let (ns, kind, name) = key;
                    let api = self.api(ns, kind);
                    async move {
                        let what = format!("get {}", id(key));
                        let found = api.get_opt(name).await.map_err(|e| self.fail(&what, &e))?;
                        Ok(found.and_then(|obj| {
                            let value = serde_json::to_value(obj).ok()?;
                            Some((key.clone(), value))
                        }))
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for g in gets {
                if let Some((key, value)) = g? {
                    live.objects.insert(key, value);
                }
            }
            live.managed.sort();
            Ok(live)
        }
        .await
    }

    /// An API handle for a kind, in `ns` or cluster-wide when it is empty.
    fn api(&self, ns: &str, kind: &str) -> Api<DynamicObject> {
        if ns.is_empty() {
            Api::all_with(self.client.clone(), &api_resource(kind))
        } else {
            Api::namespaced_with(self.client.clone(), ns, &api_resource(kind))
        }
    }

    /// The live state (see `state_async`), for `ksec diff`.
    pub fn state(&self, reads: &Reads, project: &str, environment: Option<&str>) -> Result<Live> {
        self.runtime
            .block_on(self.state_async(reads, project, environment))
    }

    /// Whether each need is allowed (see `review_async`).
    pub fn review(&self, needs: &[Need]) -> Result<Vec<Verdict>> {
        self.runtime.block_on(self.review_async(needs))
    }

    /// The pre-flight reads at once: access reviews of the reads, missing
    /// namespaces and the live state. All are reads; the caller writes
    /// nothing before it has looked at every answer.
    pub fn preflight(
        &self,
        needs: &[Need],
        reads: &Reads,
        must_exist: &[String],
        project: &str,
        environment: Option<&str>,
    ) -> (Result<Vec<Verdict>>, Result<Vec<String>>, Result<Live>) {
        self.runtime.block_on(async {
            futures::join!(
                self.review_async(needs),
                self.missing_namespaces_async(must_exist),
                self.state_async(reads, project, environment),
            )
        })
    }

    /// Server-side apply each manifest; returns per-object results.
    /// `done` is called as each request finishes (for a progress bar).
    pub fn apply(
        &self,
        manifests: &[&Manifest],
        dry_run: bool,
        force: bool,
        done: &(dyn Fn() + Sync),
    ) -> Vec<(String, Result<()>)> {
        // once the server stops answering, later writes are not attempted
        let down = AtomicBool::new(false);
        let down = &down;
        let mut params = PatchParams::apply(FIELD_MANAGER);
        if force {
            params = params.force();
        }
        if dry_run {
            params = params.dry_run();
        }
        self.runtime.block_on(async {
            stream::iter(manifests.iter().copied())
                .map(|m| {
                    let key = key_of(m);
                    let api = self.api(&key.0, &key.1);
                    let params = params.clone();
                    async move {
                        let patch = Patch::Apply(&m.body);
                        let request =
                            async { api.patch(&m.name, &params, &patch).await.map(|_| ()) };
                        self.write(id(&key), "apply", request, down, done).await
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await
        })
    }

    /// One write, unless the server already stopped answering (`down`):
    /// then it is not attempted (it would only wait through its retries).
    /// No answer, or a 429/5xx still there when the retries ran out, marks
    /// the server down for the writes after it.
    async fn write(
        &self,
        id: String,
        verb: &str,
        request: impl std::future::Future<Output = std::result::Result<(), kube::Error>>,
        down: &AtomicBool,
        done: &(dyn Fn() + Sync),
    ) -> (String, Result<()>) {
        if down.load(Ordering::Relaxed) {
            done();
            return (id, Err(not_attempted(&self.context)));
        }
        let result = request.await.map_err(|e| {
            // no answer, or still overloaded after every retry
            if !matches!(&e, kube::Error::Api(s) if !transport::retryable_status(s.code)) {
                down.store(true, Ordering::Relaxed);
            }
            self.fail(&format!("{verb} {id}"), &e)
        });
        done();
        (id, result)
    }

    /// Delete objects (prune); `done` as for `apply`.
    pub fn delete(
        &self,
        objects: &[ObjectKey],
        dry_run: bool,
        done: &(dyn Fn() + Sync),
    ) -> Vec<(String, Result<()>)> {
        let params = DeleteParams {
            dry_run,
            ..DeleteParams::default()
        };
        let down = AtomicBool::new(false);
        let down = &down;
        self.runtime.block_on(async {
            stream::iter(objects.iter())
                .map(|key| {
                    let (ns, kind, name) = key;
                    let api = self.api(ns, kind);
                    let params = params.clone();
                    async move {
                        let request = async { api.delete(name, &params).await.map(|_| ()) };
                        self.write(id(key), "delete", request, down, done).await
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await
        })
    }
}
