//! `ksec access` (without `--exposed`): who can read each Secret the
//! environment renders, in git (the recipients of its encrypted sources,
//! read from their SOPS metadata) and in the cluster (the subjects RBAC
//! lets get, list or watch it, evaluated by `cluster::rbac` over the roles
//! and bindings read with the caller's own rights). Never prints a value.

use crate::access::{Names, files::recipients_of};
use crate::cli::{AccessArgs, OutputFormat};
use crate::cluster::Cluster;
use crate::cluster::rbac::{Answer, Rbac};
use crate::commands::{Context, outln, print_data, table};
use crate::error::{Code, Error, Result};
use crate::k8s::NAME_ANNOTATION;
use crate::load;
use crate::project::Project;
use serde_json::{Value, json};

/// One encrypted source of a Secret and who can decrypt it today.
struct Source {
    file: String,
    /// Names from ksec.yaml, else shortened keys.
    recipients: Vec<String>,
}

/// One Secret of the selection and its git side.
struct SecretOf {
    namespace: String,
    /// Its name in the cluster; `None` when it has a hash suffix and the
    /// sources could not be decrypted to compute it.
    name: Option<String>,
    /// Its name in ksec.yaml (without the hash suffix).
    declared: String,
    sources: Vec<Source>,
}

/// The cluster side: what was read, or why nothing could be.
enum ClusterPart {
    Known { context: String, rbac: Rbac },
    Unknown { context: String, error: Error },
}

pub fn run(args: AccessArgs, ctx: &Context) -> Result<()> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let (environment, listed) = list(&project, &args, ctx)?;
    let secrets = git_part(
        &project,
        environment.as_deref(),
        listed,
        args.secret.as_deref(),
    )?;
    let context = args.context.clone().or_else(|| {
        environment
            .as_ref()
            .and_then(|e| project.environments.get(e))
            .map(|e| e.context.clone())
    });
    let mut namespaces: Vec<String> = secrets.iter().map(|s| s.namespace.clone()).collect();
    namespaces.sort();
    namespaces.dedup();
    let cluster = match Cluster::connect(context.as_deref()) {
        Ok(c) => match c.rbac(&namespaces) {
            Ok(rbac) => ClusterPart::Known {
                context: c.context.clone(),
                rbac,
            },
            Err(error) => ClusterPart::Unknown {
                context: c.context.clone(),
                error,
            },
        },
        Err(error) => ClusterPart::Unknown {
            context: context.unwrap_or_default(),
            error,
        },
    };
    match args.output {
        OutputFormat::Text => print_text(&secrets, &cluster)?,
        format => print_data(
            format,
            &data(environment.as_deref(), &secrets, &cluster),
            true,
        )?,
    }
    match cluster {
        ClusterPart::Known { .. } => Ok(()),
        ClusterPart::Unknown { error, .. } => Err(Error {
            message: format!(
                "the cluster part is unknown (the git part is above): {}",
                error.message
            ),
            ..error
        }),
    }
}

/// (namespace, name in the cluster if known, name in ksec.yaml)
type Listed = Vec<(String, Option<String>, String)>;

/// The Secrets of the selection: as rendered (exact names, hash suffix
/// included), or, when the sources cannot be decrypted (no identity, or
/// not one of their recipients), as declared in ksec.yaml, where a
/// hash-suffixed name is not known. Either way no value is printed.
fn list(project: &Project, args: &AccessArgs, ctx: &Context) -> Result<(Option<String>, Listed)> {
    let (env, wanted) = (args.target.env.as_deref(), &args.target.namespaces);
    match load::rendered(project, env, wanted, ctx) {
        Ok(rendered) => {
            let listed = rendered
                .manifests
                .iter()
                .filter(|m| m.kind == "Secret")
                .map(|m| {
                    let declared = m.body["metadata"]["annotations"][NAME_ANNOTATION]
                        .as_str()
                        .unwrap_or(&m.name)
                        .to_string();
                    (m.namespace.clone(), Some(m.name.clone()), declared)
                })
                .collect();
            Ok((rendered.environment, listed))
        }
        Err(e) if e.code == Code::Decrypt => {
            eprintln!(
                "warning: the sources were not decrypted ({}): a Secret named with a hash suffix is shown by its name in ksec.yaml, and RBAC rules limited to resourceNames are not counted for it",
                e.message
            );
            let environment = load::select_environment(project, env)?;
            let namespaces = load::select_namespaces(project, environment.as_deref(), wanted)?;
            let mut listed = Vec::new();
            for ns in namespaces {
                for spec in &ns.secrets {
                    let hashed = spec.hash_suffix.unwrap_or(project.defaults.hash_suffix);
                    listed.push((
                        ns.name.clone(),
                        (!hashed).then(|| spec.name.clone()),
                        spec.name.clone(),
                    ));
                }
            }
            Ok((environment, listed))
        }
        Err(e) => Err(e),
    }
}

/// Each listed Secret (only `--secret`, by its name in the cluster or in
/// ksec.yaml), with the recipients of each of its encrypted sources.
fn git_part(
    project: &Project,
    environment: Option<&str>,
    listed: Listed,
    only: Option<&str>,
) -> Result<Vec<SecretOf>> {
    let names = Names::new(&[project]);
    let all: Vec<String> = listed
        .iter()
        .map(|(ns, name, declared)| format!("{ns}/{}", name.as_ref().unwrap_or(declared)))
        .collect();
    let mut out = Vec::new();
    for (namespace, name, declared) in listed {
        if only.is_some_and(|want| Some(want) != name.as_deref() && want != declared) {
            continue;
        }
        let ns = project.namespaces.get(&namespace);
        let spec = ns.and_then(|ns| ns.secrets.iter().find(|s| s.name == declared));
        let mut sources = Vec::new();
        if let (Some(ns), Some(spec)) = (ns, spec) {
            let over = environment.and_then(|e| spec.overrides.get(e));
            for rel in spec
                .sources
                .iter()
                .chain(over.map(|o| &o.sources).into_iter().flatten())
            {
                let rel = ns.path.join(rel);
                let keys = recipients_of(&project.root.join(&rel))?.unwrap_or_default();
                let mut recipients: Vec<String> = keys.iter().map(|k| names.of(k)).collect();
                recipients.sort();
                recipients.dedup();
                sources.push(Source {
                    file: rel.display().to_string(),
                    recipients,
                });
            }
        }
        out.push(SecretOf {
            namespace,
            name,
            declared,
            sources,
        });
    }
    out.sort_by(|a, b| (&a.namespace, &a.declared).cmp(&(&b.namespace, &b.declared)));
    if let Some(want) = only
        && out.is_empty()
    {
        return Err(Error::not_found(format!(
            "no Secret {} in the selection",
            crate::error::shown(want)
        ))
        .hint(if all.is_empty() {
            "the selected namespaces have no Secret".to_string()
        } else {
            format!("Secrets: {}", all.join(", "))
        }));
    }
    Ok(out)
}

fn answer(cluster: &ClusterPart, s: &SecretOf) -> Option<Answer> {
    match cluster {
        ClusterPart::Known { rbac, .. } => Some(rbac.readers(&s.namespace, s.name.as_deref())),
        ClusterPart::Unknown { .. } => None,
    }
}

fn print_text(secrets: &[SecretOf], cluster: &ClusterPart) -> Result<()> {
    if secrets.is_empty() {
        outln!("the selection renders no Secret")?;
    }
    let mut gaps: Vec<String> = Vec::new();
    for s in secrets {
        match &s.name {
            Some(name) if *name == s.declared => outln!("Secret {}/{name}", s.namespace)?,
            Some(name) => outln!(
                "Secret {}/{name} ({} in ksec.yaml)",
                s.namespace,
                s.declared
            )?,
            None => outln!(
                "Secret {}/{}-<hash> (the hash suffix needs the decrypted values)",
                s.namespace,
                s.declared
            )?,
        }
        if s.sources.is_empty() {
            outln!("  in git: no encrypted source (nothing to decrypt)")?;
        } else {
            outln!("  in git (who can decrypt its sources):")?;
            let rows: Vec<[String; 2]> = s
                .sources
                .iter()
                .map(|src| {
                    [
                        format!("    {}", src.file),
                        if src.recipients.is_empty() {
                            "(no age recipient)".to_string()
                        } else {
                            src.recipients.join(", ")
                        },
                    ]
                })
                .collect();
            crate::commands::write_stdout(table(&rows).as_bytes())?;
        }
        match (cluster, answer(cluster, s)) {
            (ClusterPart::Known { context, .. }, Some(answer)) => {
                outln!(
                    "  in the cluster (context {context}{}):",
                    if answer.unknown.is_empty() {
                        ""
                    } else {
                        ", INCOMPLETE"
                    }
                )?;
                let mut rows = vec![[
                    "    SUBJECT".to_string(),
                    "VERBS".to_string(),
                    "VIA".to_string(),
                ]];
                for r in &answer.readers {
                    rows.push([
                        format!("    {}", r.subject.label()),
                        r.verbs.join(","),
                        r.via.join("; "),
                    ]);
                }
                crate::commands::write_stdout(table(&rows).as_bytes())?;
                for u in answer.unknown {
                    if !gaps.contains(&u) {
                        gaps.push(u);
                    }
                }
            }
            (ClusterPart::Unknown { context, .. }, _)
            | (ClusterPart::Known { context, .. }, None) => {
                outln!("  in the cluster (context {context}): unknown, see the error below")?;
            }
        }
    }
    if !gaps.is_empty() {
        outln!(
            "INCOMPLETE: the cluster part shows only what your credentials may read; not read:"
        )?;
        for g in gaps {
            outln!("  {g}")?;
        }
    }
    Ok(())
}

fn data(environment: Option<&str>, secrets: &[SecretOf], cluster: &ClusterPart) -> Value {
    let mut all_unknown: Vec<String> = Vec::new();
    let items: Vec<Value> = secrets
        .iter()
        .map(|s| {
            let git = json!({
                "encrypted": !s.sources.is_empty(),
                "sources": s.sources.iter().map(|src| json!({
                    "file": src.file,
                    "recipients": src.recipients,
                })).collect::<Vec<_>>(),
            });
            let in_cluster = match answer(cluster, s) {
                Some(answer) => {
                    for u in &answer.unknown {
                        if !all_unknown.contains(u) {
                            all_unknown.push(u.clone());
                        }
                    }
                    json!({
                        "known": true,
                        "complete": answer.unknown.is_empty(),
                        "unknown": answer.unknown,
                        "readers": answer.readers.iter().map(|r| {
                            let mut o = json!({
                                "kind": r.subject.kind,
                                "name": r.subject.name,
                                "verbs": r.verbs,
                                "via": r.via,
                            });
                            if !r.subject.namespace.is_empty() {
                                o["namespace"] = json!(r.subject.namespace);
                            }
                            o
                        }).collect::<Vec<_>>(),
                    })
                }
                None => json!({"known": false, "complete": false}),
            };
            json!({
                "namespace": s.namespace,
                "name": s.name,
                "declaredName": s.declared,
                "git": git,
                "cluster": in_cluster,
            })
        })
        .collect();
    let cluster_json = match cluster {
        ClusterPart::Known { context, .. } => json!({
            "context": context,
            "known": true,
            "complete": all_unknown.is_empty(),
            "unknown": all_unknown,
        }),
        ClusterPart::Unknown { context, error } => json!({
            "context": context,
            "known": false,
            "complete": false,
            "error": error.message,
        }),
    };
    json!({
        "environment": environment,
        "cluster": cluster_json,
        "secrets": items,
    })
}
