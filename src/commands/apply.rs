//! `ksec apply` and `ksec diff`. Apply is safe to run blind: render and
//! validate everything first, prove every needed permission with the
//! cluster's own RBAC, and only then write — nothing at all if anything is
//! denied, undecryptable or invalid. Unchanged objects are not written.
//!
//! What changes, what is deleted and what is drift is decided in
//! `cluster::plan`; this module asks, confirms, writes and reports.

use super::Context;
use super::outln;
use crate::cli::{ApplyArgs, DiffArgs, OutputFormat, TargetArgs};
use crate::cluster::plan::{self, Change, Changes};
use crate::cluster::preflight;
use crate::cluster::versions::{self, Origin, Provenance};
use crate::cluster::{self, Cluster};
use crate::error::{Code, Error, Outcome, Result};
use crate::k8s::Manifest;
use crate::load::{self, Rendered};
use crate::project::Project;
use std::io::IsTerminal;

use crate::cluster::ObjectKey as Key;

/// Load the project, render the target, and connect to its cluster (the
/// environment's context, unless `--context`).
fn prepare(
    target: &TargetArgs,
    context_flag: Option<&str>,
    ctx: &Context,
) -> Result<(Project, Rendered, Cluster)> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let rendered = load::rendered(&project, target.env.as_deref(), &target.namespaces, ctx)?;
    let context = context_for(&project, &rendered, context_flag);
    let cluster = Cluster::connect(context.as_deref())?;
    Ok((project, rendered, cluster))
}

fn context_for(project: &Project, rendered: &Rendered, flag: Option<&str>) -> Option<String> {
    flag.map(str::to_string).or_else(|| {
        rendered
            .environment
            .as_ref()
            .and_then(|e| project.environments.get(e))
            .map(|e| e.context.clone())
    })
}

/// The selected namespaces that ksec onboards (it writes the Namespace).
fn onboarded(project: &Project, rendered: &Rendered) -> Vec<String> {
    rendered
        .namespaces
        .iter()
        .filter(|ns| project.namespaces.get(*ns).is_some_and(|n| n.onboarded()))
        .cloned()
        .collect()
}

/// The selected namespaces ksec does not onboard: they must exist.
fn must_exist(project: &Project, rendered: &Rendered) -> Vec<String> {
    let onboarded = onboarded(project, rendered);
    rendered
        .namespaces
        .iter()
        .filter(|ns| !onboarded.contains(ns))
        .cloned()
        .collect()
}

/// What to read from the cluster. ksec's cluster-scoped objects are listed
/// (to find those no longer rendered) only when the whole project is in
/// scope and `cluster_wide` asks for it.
fn reads_for(
    project: &Project,
    rendered: &Rendered,
    selected: &[String],
    cluster_wide: bool,
) -> plan::Reads {
    plan::reads(
        &rendered.manifests,
        &rendered.namespaces,
        &onboarded(project, rendered),
        cluster_wide && selected.is_empty(),
    )
}

/// Say which deletions involve objects applied from elsewhere: those of
/// another checkout are left alone, those of a commit this checkout does
/// not contain are deleted (a rollback does that on purpose).
fn warn_provenance(changes: &Changes, prune: bool, verb: &str) {
    for (key, provenance) in changes.provenance(prune) {
        let id = cluster::id(key);
        match provenance {
            // annotations read from the cluster: control characters escaped
            Provenance::Foreign(from) => eprintln!(
                "warning: not deleting {id}: it was last applied from another checkout of this project (`{}`); delete it from there, or with kubectl if nothing uses it",
                from.escape_debug()
            ),
            Provenance::OtherRevision(rev) => eprintln!(
                "warning: {verb} {id}, last applied from commit {}, which this checkout does not contain",
                rev.escape_debug()
            ),
        }
    }
}

/// Deleting expired versions needs `delete`; those the user may not
/// delete are kept (a note says so) rather than blocking the apply.
fn allowed_cleanup(
    cluster: &Cluster,
    cleanup: Vec<Key>,
    already: &[plan::Need],
) -> Result<Vec<Key>> {
    let needs: Vec<plan::Need> = plan::write_needs(&[], &cleanup)
        .into_iter()
        .filter(|n| !already.contains(n))
        .collect();
    let denied: Vec<plan::Need> = cluster
        .review(&needs)?
        .into_iter()
        .filter(|v| !v.allowed)
        .map(|v| v.need)
        .collect();
    if denied.is_empty() {
        return Ok(cleanup);
    }
    let (kept, allowed): (Vec<Key>, Vec<Key>) = cleanup.into_iter().partition(|key| {
        let need = &plan::write_needs(&[], std::slice::from_ref(key))[0];
        denied.contains(need)
    });
    let n = kept.len();
    eprintln!(
        "note: you may not delete {}, so {n} superseded version{} beyond defaults.keepVersions stay{}; ask for the `delete` right to clean them up",
        denied
            .iter()
            .map(|d| format!("{} in {}", d.resource, d.namespace))
            .collect::<Vec<_>>()
            .join(", "),
        if n == 1 { "" } else { "s" },
        if n == 1 { "s" } else { "" },
    );
    Ok(allowed)
}

pub fn apply(args: ApplyArgs, ctx: &Context) -> Result<()> {
    // Render, decrypt and validate everything before any request.
    let (project, rendered, cluster) = prepare(&args.target, args.context.as_deref(), ctx)?;
    let origin = Origin::of(&project.root);

    // The reads of the pre-flight run together; nothing is written before
    // every answer has been looked at.
    let reads = reads_for(&project, &rendered, &args.target.namespaces, args.prune);
    let must_exist = must_exist(&project, &rendered);
    let (verdicts, missing, live) = cluster.preflight(
        &plan::read_needs(&reads),
        &reads,
        &must_exist,
        &project.name,
        rendered.environment.as_deref(),
    );
    let mut verdicts = verdicts?;
    if verdicts.iter().all(|v| v.allowed) {
        let missing = missing?;
        if !missing.is_empty() {
            return Err(versions::missing_namespaces_error(
                &missing,
                &cluster.context,
                "apply",
            ));
        }
    }
    let changes = if verdicts.iter().all(|v| v.allowed) {
        let live = live?;
        if args.prune {
            warn_unseen(&project, &live.unseen);
        }
        Some(plan::changes(
            &rendered.manifests,
            &live,
            project.defaults.keep_versions,
            |o| origin.judge(o),
        ))
    } else {
        None
    };
    let to_write: Vec<&Manifest> = changes.iter().flat_map(Changes::to_write).collect();
    let (mut to_delete, cleanup) = match &changes {
        Some(c) => c.deletions(args.prune),
        None => (Vec::new(), Vec::new()),
    };
    // Writes need rights only for what changes; when the live state cannot
    // be read, the table shows what creating everything would need.
    let write_needs = match &changes {
        Some(c) => plan::write_needs(&c.objects, &to_delete),
        None => {
            let all: Vec<(&Manifest, Change)> = rendered
                .manifests
                .iter()
                .map(|m| (m, Change::Create))
                .collect();
            plan::write_needs(&all, &[])
        }
    };
    verdicts.extend(cluster.review(&write_needs)?);
    if !cleanup.is_empty() && !args.check_access {
        to_delete.extend(allowed_cleanup(&cluster, cleanup, &write_needs)?);
    }
    verdicts.sort_by(|a, b| a.need.cmp(&b.need));
    let denied = verdicts.iter().filter(|v| !v.allowed).count();
    if args.check_access {
        super::write_stdout(super::access_table(&verdicts).as_bytes())?;
        if denied == 0 {
            return Ok(());
        }
    }
    if denied > 0 {
        if !args.check_access {
            eprint!("{}", super::access_table(&verdicts));
        }
        return Err(Error::new(
            Code::AccessDenied,
            format!(
                "{denied} of {} permissions are missing in context {}; nothing was written",
                verdicts.len(),
                cluster.context
            ),
        )
        .hint("ask a cluster admin for the rights marked `no` above (`ksec apply --check-access` prints them)"));
    }
    let changes = changes.expect("all reads are allowed");
    refuse_missing_workloads(&rendered, &changes, &cluster)?;
    warn_provenance(&changes, args.prune, "deleting");
    for name in &args.delete_namespace {
        if !to_delete
            .iter()
            .any(|(_, k, n)| k == "Namespace" && n == name)
        {
            return Err(Error::usage(format!(
                "--delete-namespace {name}: --prune would not delete it; nothing was written"
            ))
            .hint(if project.namespaces.contains_key(name) {
                format!("{name} is still in ksec.yaml (`ksec namespace remove {name}` takes it out)")
            } else if args.target.namespaces.is_empty() {
                format!("the cluster has no namespace {name} labelled as this project's, or you may not list namespaces")
            } else {
                "namespaces are pruned only when the whole project is applied (no -n)".to_string()
            }));
        }
    }
    // Written objects record where they came from; unchanged ones are not
    // written again for that.
    let stamped: Vec<Manifest> = to_write
        .iter()
        .map(|m| versions::stamped(m, &origin))
        .collect();
    let to_write: Vec<&Manifest> = stamped.iter().collect();
    // Every write is validated before anything is asked or written.
    let offline = validate(&cluster, &args, &changes, &to_write, &to_delete)?;
    if args.dry_run {
        let written: Vec<String> = to_write
            .iter()
            .map(|m| cluster::id(&cluster::key_of(m)))
            .collect();
        let pruned: Vec<String> = to_delete.iter().map(cluster::id).collect();
        summary(&args, &changes, &written, &pruned)?;
        note_unseen_by_server(&offline);
        return Ok(());
    }
    confirm_namespace_deletes(&to_delete, &args.delete_namespace)?;
    let protected = rendered
        .environment
        .as_ref()
        .and_then(|e| project.environments.get(e))
        .is_some_and(|e| e.protected);
    if protected && !args.yes && (!to_write.is_empty() || !to_delete.is_empty()) {
        confirm(&rendered, &to_write, &to_delete)?;
    }
    write_all(&cluster, &args, &changes, &to_write, &to_delete, &offline)
}

/// Validates every write without persisting anything: a server-side dry
/// run of each apply and delete where the object will live, and ksec's
/// own checks for the objects the server can dry-run only once earlier
/// writes exist (in a namespace this apply creates: the server refuses any
/// request into a namespace that does not exist yet, dry run or not; a
/// binding to a role this apply creates). Anything refused: an error, and
/// no write at all. Returns the objects only ksec checked.
fn validate<'a>(
    cluster: &Cluster,
    args: &ApplyArgs,
    changes: &Changes,
    to_write: &[&'a Manifest],
    to_delete: &[Key],
) -> Result<Vec<&'a Manifest>> {
    let created = changes.created();
    let (offline, server_checked): (Vec<&Manifest>, Vec<&Manifest>) = to_write
        .iter()
        .partition(|m| preflight::ready_after(m, &created).is_some());
    let mut refused: Vec<(String, Error)> = Vec::new();
    for m in &offline {
        let problems = preflight::offline_problems(m);
        if !problems.is_empty() {
            refused.push((
                cluster::id(&cluster::key_of(m)),
                Error::invalid(problems.join("; ")),
            ));
        }
    }
    let quiet = || {};
    for (id, result) in cluster.apply(&server_checked, true, args.force_conflicts, &quiet) {
        if let Err(e) = result {
            refused.push((id, e));
        }
    }
    for (id, result) in cluster.delete(to_delete, true, &quiet) {
        if let Err(e) = result {
            refused.push((id, e));
        }
    }
    refused.sort_by(|a, b| a.0.cmp(&b.0));
    match preflight::refused(refused, to_write.len() + to_delete.len()) {
        Some(err) => Err(err),
        None => Ok(offline),
    }
}

/// `--dry-run` says which objects the server did not see.
fn note_unseen_by_server(offline: &[&Manifest]) {
    if offline.is_empty() {
        return;
    }
    let ids: Vec<String> = offline
        .iter()
        .map(|m| cluster::id(&cluster::key_of(m)))
        .collect();
    eprintln!(
        "note: the server can dry-run {} only once the namespace or role this apply creates for {} exists; ksec checked {} labels and annotations and, for ConfigMaps and Secrets, keys and type; the server validates {} (and admission: quota, RBAC, webhooks) just before the real write, and the apply stops there if it refuses:",
        if ids.len() == 1 {
            "1 object".to_string()
        } else {
            format!("{} objects", ids.len())
        },
        if ids.len() == 1 { "it" } else { "them" },
        if ids.len() == 1 { "its" } else { "their" },
        if ids.len() == 1 { "it" } else { "them" },
    );
    const SHOWN: usize = 10;
    let more = ids.len().saturating_sub(SHOWN);
    eprintln!(
        "  {}{}",
        ids[..ids.len().min(SHOWN)].join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
}

/// The real writes, phase by phase (Namespaces, then the rest, then
/// workloads, then prunes); a failed phase stops the ones after it, and
/// the error says what was applied, what failed and what was never
/// attempted. Once what they need exists (a new namespace, a new role),
/// the objects only ksec checked (`offline`) are dry-run by the server
/// before their phase is written.
fn write_all(
    cluster: &Cluster,
    args: &ApplyArgs,
    changes: &Changes,
    to_write: &[&Manifest],
    to_delete: &[Key],
    offline: &[&Manifest],
) -> Result<()> {
    let bar = progress(to_write.len() + to_delete.len());
    let tick = || bar.inc(1);
    let mut report = preflight::Report::default();
    let created = changes.created();
    let mut pending: Vec<(&Manifest, usize)> = offline
        .iter()
        .filter_map(|m| preflight::ready_after(m, &created).map(|r| (*m, r)))
        .collect();
    for (rank, phase) in preflight::phases(to_write) {
        // What the server could not dry-run up front, now that what it
        // needs exists: dry-run before any of it is written.
        let ready: Vec<&Manifest> = pending
            .iter()
            .filter(|(_, after)| *after < rank)
            .map(|(m, _)| *m)
            .collect();
        pending.retain(|(_, after)| *after >= rank);
        if report.failed.is_empty() && !ready.is_empty() {
            for (id, result) in cluster.apply(&ready, true, args.force_conflicts, &|| {}) {
                if let Err(mut e) = result {
                    e.message =
                        format!("(dry run once its namespace or role exists) {}", e.message);
                    report.failed.push((id, e));
                }
            }
        }
        if !report.failed.is_empty() {
            for m in &phase {
                let id = cluster::id(&cluster::key_of(m));
                if !report.failed.iter().any(|(f, _)| *f == id) {
                    report.not_attempted.push(id);
                }
            }
            continue;
        }
        for (id, result) in cluster.apply(&phase, false, args.force_conflicts, &tick) {
            match result {
                Ok(()) => report.applied.push(id),
                Err(e) if crate::cluster::is_not_attempted(&e) => report.not_attempted.push(id),
                Err(e) => report.failed.push((id, e)),
            }
        }
    }
    let mut pruned = Vec::new();
    if report.failed.is_empty() {
        for (id, result) in cluster.delete(to_delete, false, &tick) {
            match result {
                Ok(()) => pruned.push(id),
                Err(e) if crate::cluster::is_not_attempted(&e) => report.not_attempted.push(id),
                Err(e) => report.failed.push((id, e)),
            }
        }
    } else {
        report.not_attempted.extend(
            to_delete
                .iter()
                .map(|k| format!("delete {}", cluster::id(k))),
        );
    }
    bar.finish_and_clear();
    // the report of a failed write comes first; a summary that cannot be
    // printed is an error only when everything else went well
    let printed = summary(args, changes, &report.applied, &pruned);
    report
        .applied
        .extend(pruned.into_iter().map(|id| format!("delete {id}")));
    report.applied.sort();
    report.failed.sort_by(|a, b| a.0.cmp(&b.0));
    report.not_attempted.sort();
    match report.error() {
        Some(err) => Err(err),
        None => printed,
    }
}

/// Render emits only ksec's fields of a workload it mounts into or rolls:
/// each must exist, else nothing is written (see `preflight`).
fn refuse_missing_workloads(
    rendered: &Rendered,
    changes: &Changes,
    cluster: &Cluster,
) -> Result<()> {
    let missing = changes.missing_workloads();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(preflight::missing_workloads_error(
            &missing,
            &rendered.manifests,
            &cluster.context,
        ))
    }
}

/// Cluster-scoped kinds the user may not list hide the namespaces taken
/// out of an onboarding project: say so.
fn warn_unseen(project: &Project, unseen: &[String]) {
    if !unseen.is_empty() && project.namespaces.values().any(|ns| ns.onboarded()) {
        eprintln!(
            "note: you may not list {} cluster-wide, so ksec cannot see (nor prune) namespaces taken out of ksec.yaml",
            unseen.join(", ")
        );
    }
}

/// Deleting a namespace deletes everything in it: each one --prune would
/// delete must be named with --delete-namespace, or typed on a terminal.
fn confirm_namespace_deletes(deletes: &[Key], confirmed: &[String]) -> Result<()> {
    let pending: Vec<&str> = deletes
        .iter()
        .filter(|(_, kind, name)| kind == "Namespace" && !confirmed.contains(name))
        .map(|(_, _, name)| name.as_str())
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal {
        return Err(Error::new(
            Code::NeedsConfirmation,
            format!(
                "--prune would delete namespace {} and everything in it; nothing was written",
                pending.join(", ")
            ),
        )
        .hint(format!(
            "if that is intended, run again with {}",
            pending
                .iter()
                .map(|n| format!("--delete-namespace {n}"))
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    for name in pending {
        eprintln!(
            "--prune would delete namespace {name} and everything in it (it is no longer in ksec.yaml)."
        );
        let typed: String = dialoguer::Input::new()
            .with_prompt(format!("type {name} to delete it"))
            .allow_empty(true)
            .interact_text()
            .unwrap_or_default();
        if typed.trim() != name {
            return Err(Error::new(
                Code::NeedsConfirmation,
                format!("deleting namespace {name} was not confirmed; nothing was written"),
            ));
        }
    }
    Ok(())
}

/// A progress bar on a terminal; hidden otherwise (CI logs stay clean).
fn progress(len: usize) -> indicatif::ProgressBar {
    if len == 0 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} objects written")
    {
        bar.set_style(style);
    }
    bar
}

fn confirm(rendered: &Rendered, writes: &[&Manifest], deletes: &[Key]) -> Result<()> {
    let env = rendered.environment.clone().unwrap_or_default();
    let mut lines: Vec<String> = writes
        .iter()
        .map(|m| format!("apply  {}", cluster::id(&cluster::key_of(m))))
        .collect();
    lines.extend(deletes.iter().map(|k| format!("delete {}", cluster::id(k))));
    super::confirm_protected(
        &env,
        &lines,
        "apply these changes?",
        "review with `ksec diff`, then run `ksec apply --yes`",
    )
}

fn summary(
    args: &ApplyArgs,
    changes: &Changes,
    written: &[String],
    pruned: &[String],
) -> Result<()> {
    let per_ns = changes.counts(written, pruned);
    match args.output {
        OutputFormat::Json => {
            outln!(
                "{}",
                serde_json::json!({"dryRun": args.dry_run, "namespaces": per_ns})
            )?;
        }
        OutputFormat::Text => {
            let suffix = if args.dry_run {
                " (dry run: nothing persisted)"
            } else {
                ""
            };
            for (ns, c) in per_ns {
                outln!(
                    "{ns}: {} created, {} updated, {} unchanged, {} pruned{suffix}",
                    c.created,
                    c.updated,
                    c.unchanged,
                    c.pruned
                )?;
            }
        }
    }
    Ok(())
}

/// `ksec diff`: rendered vs live, per object and per key. Exit 0 when the
/// same, 1 (drift, an answer, not an error) when something differs. Secret
/// values never appear.
pub fn diff(args: DiffArgs, ctx: &Context) -> Result<Outcome> {
    let (project, rendered, cluster) = prepare(&args.target, args.context.as_deref(), ctx)?;
    let origin = Origin::of(&project.root);
    // the same refusal as apply's: a namespace ksec does not onboard must exist
    let must_exist = must_exist(&project, &rendered);
    let missing = cluster.missing_namespaces(&must_exist)?;
    if !missing.is_empty() {
        return Err(versions::missing_namespaces_error(
            &missing,
            &cluster.context,
            "diff",
        ));
    }
    let reads = reads_for(&project, &rendered, &args.target.namespaces, true);
    let live = cluster.state(&reads, &project.name, rendered.environment.as_deref())?;
    warn_unseen(&project, &live.unseen);
    let changes = plan::changes(
        &rendered.manifests,
        &live,
        project.defaults.keep_versions,
        |o| origin.judge(o),
    );
    refuse_missing_workloads(&rendered, &changes, &cluster)?;
    let drift = changes.drift(args.prune);
    warn_provenance(&changes, args.prune, "would delete");
    note_orphans(&changes, args.prune);
    let text: String = drift.iter().map(|line| format!("{line}\n")).collect();
    super::write_stdout(text.as_bytes())?;
    if !drift.is_empty() {
        eprintln!(
            "the cluster differs from the rendered manifests\n  hint: `ksec apply` makes the cluster match"
        );
        Ok(Outcome::Drift)
    } else {
        eprintln!("no differences");
        Ok(Outcome::Success)
    }
}

/// Orphans are no drift without `prune`: say how to see and delete them.
fn note_orphans(changes: &Changes, prune: bool) {
    if !prune && !changes.orphans.is_empty() {
        let n = changes.orphans.len();
        eprintln!(
            "note: {n} object{} of this project {} no longer rendered; `ksec diff --prune` lists {}, `ksec apply --prune` deletes {}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" },
            if n == 1 { "it" } else { "them" },
            if n == 1 { "it" } else { "them" },
        );
    }
}
