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
use crate::error::{Error, Result};
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

/// One rendered Secret and its git side.
struct SecretOf {
    namespace: String,
    name: String,
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
    let rendered = load::rendered(
        &project,
        args.target.env.as_deref(),
        &args.target.namespaces,
        ctx,
    )?;
    let secrets = git_part(&project, &rendered, args.secret.as_deref())?;
    let context = args.context.clone().or_else(|| {
        rendered
            .environment
            .as_ref()
            .and_then(|e| project.environments.get(e))
            .map(|e| e.context.clone())
    });
    let mut namespaces: Vec<String> = secrets.iter().map(|s| s.namespace.clone()).collect();
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
            &data(rendered.environment.as_deref(), &secrets, &cluster),
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

/// Every Secret of the render (only `--secret`, by its name in the cluster
/// or in ksec.yaml), with the recipients of each of its encrypted sources.
fn git_part(
    project: &Project,
    rendered: &load::Rendered,
    only: Option<&str>,
) -> Result<Vec<SecretOf>> {
    let names = Names::new(&[project]);
    let mut out = Vec::new();
    for m in rendered.manifests.iter().filter(|m| m.kind == "Secret") {
        let declared = m.body["metadata"]["annotations"][NAME_ANNOTATION]
            .as_str()
            .unwrap_or(&m.name)
            .to_string();
        if only.is_some_and(|want| want != m.name && want != declared) {
            continue;
        }
        let ns = project.namespaces.get(&m.namespace);
        let spec = ns.and_then(|ns| ns.secrets.iter().find(|s| s.name == declared));
        let mut sources = Vec::new();
        if let (Some(ns), Some(spec)) = (ns, spec) {
            let over = rendered
                .environment
                .as_ref()
                .and_then(|e| spec.overrides.get(e));
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
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            declared,
            sources,
        });
    }
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    if let Some(want) = only
        && out.is_empty()
    {
        let all: Vec<String> = rendered
            .manifests
            .iter()
            .filter(|m| m.kind == "Secret")
            .map(|m| format!("{}/{}", m.namespace, m.name))
            .collect();
        return Err(Error::not_found(format!(
            "no Secret {} in the selection",
            crate::error::shown(want)
        ))
        .hint(if all.is_empty() {
            "the selected namespaces render no Secret".to_string()
        } else {
            format!("Secrets: {}", all.join(", "))
        }));
    }
    Ok(out)
}

fn answer(cluster: &ClusterPart, s: &SecretOf) -> Option<Answer> {
    match cluster {
        ClusterPart::Known { rbac, .. } => Some(rbac.readers(&s.namespace, &s.name)),
        ClusterPart::Unknown { .. } => None,
    }
}

fn print_text(secrets: &[SecretOf], cluster: &ClusterPart) -> Result<()> {
    if secrets.is_empty() {
        outln!("the selection renders no Secret")?;
    }
    let mut gaps: Vec<String> = Vec::new();
    for s in secrets {
        if s.declared == s.name {
            outln!("Secret {}/{}", s.namespace, s.name)?;
        } else {
            outln!(
                "Secret {}/{} ({} in ksec.yaml)",
                s.namespace,
                s.name,
                s.declared
            )?;
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
