//! `ksec gitops bootstrap --env E`: give the cluster of an environment the
//! Secrets its Flux Kustomizations decrypt with. What to write is decided
//! in `gitops::bootstrap`; this module proves the permissions, writes the
//! cluster (server-side apply, as `ksec apply`), then ksec.yaml, and
//! prints what it did. No private key is ever printed or written to disk.
//! When ksec.yaml cannot be written after the cluster writes (or the run is
//! killed between them), a rerun adopts the keys the Secrets hold.

use super::{Context, access_table, outln};
use crate::cli::{BootstrapArgs, GitopsCommand, ListFormat};
use crate::cluster::plan::{self, Reads};
use crate::cluster::{Cluster, ObjectKey, preflight};
use crate::error::{Code, Error, Result};
use crate::gitops::bootstrap::{self, Action, Record};
use crate::k8s::Manifest;
use crate::project::{Project, edit};
use serde_json::json;
use std::collections::BTreeMap;

pub fn run(cmd: GitopsCommand, ctx: &Context) -> Result<()> {
    match cmd {
        GitopsCommand::Bootstrap(args) => bootstrap(args, ctx),
    }
}

fn bootstrap(args: BootstrapArgs, ctx: &Context) -> Result<()> {
    // one writer of ksec.yaml at a time, for the whole run
    let (_lock, project) = Project::discover_locked(ctx.project_flag.as_deref())?;
    let env = args.env.as_str();
    let plan = bootstrap::plan(&project, env)?;
    let given = match &args.key_file {
        Some(path) => {
            let text = zeroize::Zeroizing::new(crate::fsutil::read_text(path)?);
            bootstrap::parse_identities(&text, &path.display().to_string())?
        }
        None => Vec::new(),
    };
    let context = args
        .context
        .clone()
        .unwrap_or_else(|| project.environments[env].context.clone());
    let cluster = Cluster::connect(Some(&context))?;

    // Every permission first: nothing is read or written unless all hold.
    let keys: Vec<ObjectKey> = plan
        .slots
        .iter()
        .map(|s| (s.namespace.clone(), "Secret".to_string(), s.secret.clone()))
        .collect();
    let mut verdicts = cluster.review(&plan::object_needs(&keys, &["get", "create", "patch"]))?;
    verdicts.sort_by(|a, b| a.need.cmp(&b.need));
    let denied = verdicts.iter().filter(|v| !v.allowed).count();
    if denied > 0 {
        eprint!("{}", access_table(&verdicts));
        return Err(Error::new(
            Code::AccessDenied,
            format!(
                "{denied} of {} permissions are missing in context {}; nothing was written (neither the cluster nor ksec.yaml)",
                verdicts.len(),
                cluster.context
            ),
        )
        .hint("ask a cluster admin for the rights marked `no` above"));
    }

    let namespaces: Vec<String> = plan.slots.iter().map(|s| s.namespace.clone()).collect();
    let missing = cluster.missing_namespaces(&namespaces)?;
    if !missing.is_empty() {
        return Err(Error::not_found(format!(
            "namespace {} does not exist in context {}; nothing was written (neither the cluster nor ksec.yaml)",
            missing.join(", "),
            cluster.context
        ))
        .hint(format!(
            "create it first: `ksec apply --env {env}` creates the namespaces ksec onboards, `kubectl create namespace {}` the others; or check the context",
            missing[0]
        )));
    }

    let reads = Reads {
        lists: Vec::new(),
        gets: keys,
    };
    let live = cluster.state(&reads, &project.name, Some(env))?;
    let by_ns: BTreeMap<String, serde_json::Value> = live
        .objects
        .into_iter()
        .map(|((ns, _, _), v)| (ns, v))
        .collect();
    let resolved = bootstrap::resolve(&plan, &by_ns, given)?;

    // ksec.yaml's new text is made and validated before any write.
    let new_text = if resolved.records.is_empty() {
        None
    } else {
        Some(recorded(&project, env, &resolved.records)?)
    };

    let writes: Vec<&Manifest> = resolved
        .steps
        .iter()
        .filter_map(|s| s.manifest.as_ref())
        .collect();
    if project.environments[env].protected
        && !args.yes
        && (!writes.is_empty() || new_text.is_some())
    {
        confirm(env, &resolved)?;
    }
    if !writes.is_empty() {
        // every write dry-run by the server first, then written
        let quiet = || {};
        let refused: Vec<(String, Error)> = cluster
            .apply(&writes, true, false, &quiet)
            .into_iter()
            .filter_map(|(id, r)| r.err().map(|e| (id, e)))
            .collect();
        if let Some(err) = preflight::refused(refused, writes.len()) {
            return Err(err);
        }
        let mut report = preflight::Report::default();
        for (id, result) in cluster.apply(&writes, false, false, &quiet) {
            match result {
                Ok(()) => report.applied.push(id),
                Err(e) => report.failed.push((id, e)),
            }
        }
        if let Some(err) = report.error() {
            return Err(err.hint(
                "nothing was recorded in ksec.yaml; run `ksec gitops bootstrap` again once the cause is fixed",
            ));
        }
    }
    if let Some((text, updated)) = &new_text {
        // ksec.yaml, then the .sops.yaml derived from it
        crate::access::apply::write_project(&project, text, updated).map_err(|e| {
            let recorded = crate::fsutil::read_text(&project.file()).is_ok_and(|t| &t == text);
            if recorded {
                e
            } else {
                unrecorded(e, env, &resolved)
            }
        })?;
    }

    print(&args, &resolved)?;
    for r in &resolved.records {
        let (whose, place) = match &r.namespace {
            None => ("the".to_string(), format!("environments.{env}.recipients")),
            Some(ns) => (
                format!("namespace {ns}'s"),
                format!("namespaces.{ns}.clusterKeys.{env}"),
            ),
        };
        match &r.adopted_from {
            None => eprintln!(
                "recorded {whose} new cluster key as recipient {} in ksec.yaml ({place})",
                r.name
            ),
            Some(id) => eprintln!(
                "recorded {whose} cluster key that {id} already holds (written by an interrupted bootstrap) as recipient {} in ksec.yaml ({place}); no new key was generated",
                r.name
            ),
        }
    }
    if resolved.records.iter().any(|r| r.namespace.is_none()) {
        eprintln!(
            "next: `ksec rekey` (the sources are read by the environment's recipients), then `ksec render --gitops DIR --env {env}`"
        );
    } else if !resolved.records.is_empty() {
        eprintln!("next: `ksec render --gitops DIR --env {env}`");
    }
    if writes.is_empty() && resolved.records.is_empty() {
        eprintln!("everything is in place; nothing was written");
    }
    Ok(())
}

/// ksec.yaml could not be written after the cluster writes: the cluster
/// holds keys that ksec.yaml does not record yet, and a rerun records them.
fn unrecorded(err: Error, env: &str, resolved: &bootstrap::Resolved) -> Error {
    let names: Vec<&str> = resolved.records.iter().map(|r| r.name.as_str()).collect();
    let holders: Vec<String> = resolved
        .steps
        .iter()
        .filter(|s| names.contains(&s.recipient.as_str()))
        .map(|s| format!("{}/Secret/{}", s.slot.namespace, s.slot.secret))
        .collect();
    Error::new(
        err.code,
        format!(
            "{}; ksec.yaml does not record the cluster key of recipient {} yet, but the cluster already holds it ({})",
            err.message,
            names.join(", "),
            holders.join(", ")
        ),
    )
    .hint(format!(
        "fix what kept ksec.yaml from being written, then run `ksec gitops bootstrap --env {env}` again: it records the key the cluster holds and writes nothing to the cluster"
    ))
}

/// A protected environment: ask on a terminal, else refuse (`--yes`).
fn confirm(env: &str, resolved: &bootstrap::Resolved) -> Result<()> {
    let mut lines: Vec<String> = resolved
        .steps
        .iter()
        .filter(|s| s.manifest.is_some())
        .map(|s| format!("apply  {}/Secret/{}", s.slot.namespace, s.slot.secret))
        .collect();
    lines.extend(resolved.records.iter().map(|r| match &r.adopted_from {
        None => format!("record recipient {} in ksec.yaml", r.name),
        Some(id) => format!(
            "record recipient {} in ksec.yaml (the key {id} holds)",
            r.name
        ),
    }));
    super::confirm_protected(
        env,
        &lines,
        "go ahead?",
        "run `ksec gitops bootstrap --yes` to write its decryption Secrets",
    )
}

/// What each namespace's Secret became, and the keys recorded: a line per
/// namespace, or one JSON document. Public keys only.
fn print(args: &BootstrapArgs, resolved: &bootstrap::Resolved) -> Result<()> {
    let action = |a: &Action| match a {
        Action::Unchanged => "unchanged",
        Action::Create => "created",
        Action::Annotate => "annotated",
    };
    match args.output {
        ListFormat::Name => {
            let names: Vec<String> = resolved
                .steps
                .iter()
                .map(|s| crate::k8s::kind_object_name("Secret", &s.slot.secret))
                .collect();
            super::print_names(&names)
        }
        ListFormat::Json | ListFormat::Yaml => {
            let secrets: Vec<serde_json::Value> = resolved
                .steps
                .iter()
                .map(|s| {
                    json!({
                        "namespace": s.slot.namespace,
                        "secret": s.slot.secret,
                        "recipient": s.recipient,
                        "action": action(&s.action),
                    })
                })
                .collect();
            let recorded: Vec<serde_json::Value> = resolved
                .records
                .iter()
                .map(|r| {
                    json!({"name": r.name, "key": r.public, "namespace": r.namespace, "adoptedFrom": r.adopted_from})
                })
                .collect();
            super::print_data(
                super::data_format(args.output),
                &json!({"environment": args.env, "secrets": secrets, "recorded": recorded}),
                false,
            )
        }
        ListFormat::Text => {
            for step in &resolved.steps {
                outln!(
                    "{}: Secret {} {} (key of recipient {})",
                    step.slot.namespace,
                    step.slot.secret,
                    action(&step.action),
                    step.recipient
                )?;
            }
            Ok(())
        }
    }
}

/// ksec.yaml with the new recipients recorded, and the project it makes.
fn recorded(project: &Project, env: &str, records: &[Record]) -> Result<(String, Project)> {
    let file = project.file();
    let mut text = crate::fsutil::read_text(&file)?;
    let edit_error = |e: edit::EditError| {
        Error::invalid(format!("cannot record the new cluster key: {e}"))
            .hint("nothing was written; fix ksec.yaml, or record the key by hand")
    };
    for r in records {
        text = edit::add_recipient(&text, &r.name, &r.public).map_err(edit_error)?;
        text = match &r.namespace {
            None => edit::add_to_environment(&text, env, &r.name),
            Some(ns) => edit::set_cluster_key(&text, ns, env, &r.name),
        }
        .map_err(edit_error)?;
    }
    let updated = Project::parse(&project.root, &text)?;
    Ok((text, updated))
}
