//! `ksec apply` and `ksec diff`. Apply is safe to run blind: render and
//! validate everything first, prove every needed permission with the
//! cluster's own RBAC, and only then write — nothing at all if anything is
//! denied, undecryptable or invalid. Unchanged objects are not written.
//!
//! What changes, what is deleted and what is drift is decided in
//! `cluster::plan`; this module asks, confirms, writes and reports.

use super::Context;
use super::outln;
use crate::cli::{ApplyArgs, DiffArgs, EnvsArgs, ListFormat};
use crate::cluster::plan::{self, Change, Changes};
use crate::cluster::preflight;
use crate::cluster::versions::{self, Origin, Provenance};
use crate::cluster::{self, Cluster, Verdict};
use crate::error::{Code, Error, Outcome, Result};
use crate::k8s::Manifest;
use crate::load::{self, Rendered};
use crate::project::Project;
use std::io::IsTerminal;

use crate::cluster::ObjectKey as Key;

mod diff;
mod many;

pub use diff::diff;
use many::apply_many;

/// Load the project and render every selected environment (all of them
/// before any request to a cluster). `--context` names one cluster, so it
/// goes with one environment only.
fn prepare(
    target: &EnvsArgs,
    context_flag: Option<&str>,
    ctx: &Context,
) -> Result<(Project, Vec<Rendered>)> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let environments = load::select_environments(&project, &target.env, target.all_envs)?;
    if environments.len() > 1 && context_flag.is_some() {
        return Err(Error::usage(
            "--context names one cluster, but several environments are selected",
        )
        .hint("each environment uses the context ksec.yaml binds it to: drop --context, or select one environment"));
    }
    let rendered = load::rendered_each(&project, &environments, &target.namespaces, ctx)?;
    Ok((project, rendered))
}

/// Connect to the cluster of one rendered environment (the environment's
/// context, unless `--context`).
fn connect(project: &Project, rendered: &Rendered, context_flag: Option<&str>) -> Result<Cluster> {
    Cluster::connect(context_for(project, rendered, context_flag).as_deref())
}

/// Connect to the cluster of each environment of a run across several;
/// an error names the environment.
fn connect_each(project: &Project, rendered: &[Rendered]) -> Result<Vec<Cluster>> {
    rendered
        .iter()
        .map(|r| {
            connect(project, r, None).map_err(|mut e| {
                e.message = format!(
                    "environment {}: {}; nothing was sent to any cluster",
                    r.environment.as_deref().unwrap_or_default(),
                    e.message
                );
                e
            })
        })
        .collect()
}

/// How messages name a cluster of a run across several.
fn label(rendered: &Rendered, cluster: &Cluster) -> String {
    match &rendered.environment {
        Some(env) => format!("environment {env} (context {})", cluster.context),
        None => format!("context {}", cluster.context),
    }
}

/// `f` for each item, each on a thread of its own (clusters are waited on,
/// not computed): results in the items' order.
fn per_cluster<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = items
            .iter()
            .map(|item| scope.spawn(move || f(item)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The results of every cluster, or the first error, naming its cluster
/// and saying that nothing was written anywhere.
fn all_ok<T>(results: Vec<Result<T>>, labels: &[String], what: &str) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(results.len());
    for (result, label) in results.into_iter().zip(labels) {
        match result {
            Ok(v) => out.push(v),
            Err(mut e) => {
                e.message = format!("{label}: {}", e.message);
                return Err(e.detail(format!(
                    "{what} stopped before any write: nothing was written to any of the {} clusters",
                    labels.len()
                )));
            }
        }
    }
    Ok(out)
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
fn warn_provenance(changes: &Changes, prune: bool, verb: &str, at: &str) {
    for (key, provenance) in changes.provenance(prune) {
        let id = cluster::id(key);
        match provenance {
            // annotations read from the cluster: control characters escaped
            Provenance::Foreign(from) => eprintln!(
                "warning: {at}not deleting {id}: it was last applied from another checkout of this project (`{}`); delete it from there, or with kubectl if nothing uses it",
                from.escape_debug()
            ),
            Provenance::OtherRevision(rev) => eprintln!(
                "warning: {at}{verb} {id}, last applied from commit {}, which this checkout does not contain",
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
    at: &str,
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
        "note: {at}you may not delete {}, so {n} superseded version{} beyond defaults.keepVersions stay{}; ask for the `delete` right to clean them up",
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
    let (project, rendered) = prepare(&args.target, args.context.as_deref(), ctx)?;
    if let [one] = rendered.as_slice() {
        let cluster = connect(&project, one, args.context.as_deref())?;
        return apply_one(&project, one, &cluster, &args);
    }
    apply_many(&project, &rendered, &args)
}

/// A cluster's pre-flight reads: the verdict of every right needed, and
/// (when every read was allowed) what would change and be deleted.
struct Checked<'r> {
    verdicts: Vec<Verdict>,
    changes: Option<Changes<'r>>,
    to_delete: Vec<Key>,
}

impl Checked<'_> {
    fn denied(&self) -> usize {
        self.verdicts.iter().filter(|v| !v.allowed).count()
    }
}

/// What is left to write on a cluster whose pre-flight and validation
/// passed: the changed objects stamped with their origin, and the deletes.
struct Ready<'r> {
    changes: Changes<'r>,
    stamped: Vec<Manifest>,
    to_delete: Vec<Key>,
}

impl Ready<'_> {
    fn to_write(&self) -> Vec<&Manifest> {
        self.stamped.iter().collect()
    }

    fn writes_anything(&self) -> bool {
        !self.stamped.is_empty() || !self.to_delete.is_empty()
    }
}

/// The pre-flight reads of one cluster: they run together; nothing is
/// written before every answer has been looked at.
fn check<'r>(
    project: &Project,
    rendered: &'r Rendered,
    cluster: &Cluster,
    args: &ApplyArgs,
    origin: &Origin,
    at: &str,
) -> Result<Checked<'r>> {
    let reads = reads_for(project, rendered, &args.target.namespaces, args.prune);
    let must_exist = must_exist(project, rendered);
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
            warn_unseen(project, &live.unseen, at);
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
        to_delete.extend(allowed_cleanup(cluster, cleanup, &write_needs, at)?);
    }
    verdicts.sort_by(|a, b| a.need.cmp(&b.need));
    Ok(Checked {
        verdicts,
        changes,
        to_delete,
    })
}

/// After a pre-flight that allowed everything: the workloads exist, the
/// namespaces to delete were named, and the server (or ksec, where the
/// server cannot yet) accepted every write in a dry run.
fn ready<'r>(
    project: &Project,
    rendered: &Rendered,
    cluster: &Cluster,
    args: &ApplyArgs,
    checked: Checked<'r>,
    origin: &Origin,
    at: &str,
) -> Result<Ready<'r>> {
    let changes = checked.changes.expect("all reads are allowed");
    let to_delete = checked.to_delete;
    refuse_missing_workloads(rendered, &changes, cluster)?;
    warn_provenance(&changes, args.prune, "deleting", at);
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
    let stamped: Vec<Manifest> = changes
        .to_write()
        .iter()
        .map(|m| versions::stamped(m, origin))
        .collect();
    let to_write: Vec<&Manifest> = stamped.iter().collect();
    // Every write is validated before anything is asked or written.
    validate(cluster, args, &changes, &to_write, &to_delete)?;
    Ok(Ready {
        changes,
        stamped,
        to_delete,
    })
}

fn access_error(denied: usize, total: usize, place: &str, nothing: &str) -> Error {
    Error::new(
        Code::AccessDenied,
        format!("{denied} of {total} permissions are missing in {place}; {nothing}"),
    )
    .hint("ask a cluster admin for the rights marked `no` above (`ksec apply --check-access` prints them)")
}

fn apply_one(
    project: &Project,
    rendered: &Rendered,
    cluster: &Cluster,
    args: &ApplyArgs,
) -> Result<()> {
    let origin = Origin::of(&project.root);
    let checked = check(project, rendered, cluster, args, &origin, "")?;
    let denied = checked.denied();
    if args.check_access {
        super::write_stdout(super::access_table(&checked.verdicts).as_bytes())?;
        if denied == 0 {
            return Ok(());
        }
    }
    if denied > 0 {
        if !args.check_access {
            eprint!("{}", super::access_table(&checked.verdicts));
        }
        return Err(access_error(
            denied,
            checked.verdicts.len(),
            &format!("context {}", cluster.context),
            "nothing was written",
        ));
    }
    let ready = ready(project, rendered, cluster, args, checked, &origin, "")?;
    let to_write = ready.to_write();
    if args.dry_run {
        let (written, pruned) = planned(&ready);
        summary(args, &ready.changes, &written, &pruned)?;
        note_unseen_by_server(&offline(&ready.changes, &to_write));
        return Ok(());
    }
    confirm_namespace_deletes(&ready.to_delete, &args.delete_namespace)?;
    let protected = rendered
        .environment
        .as_ref()
        .and_then(|e| project.environments.get(e))
        .is_some_and(|e| e.protected);
    if protected && !args.yes && ready.writes_anything() {
        confirm(rendered, &to_write, &ready.to_delete)?;
    }
    write_all(cluster, args, &ready)
}

/// The ids a dry run reports as written and pruned.
fn planned(ready: &Ready) -> (Vec<String>, Vec<String>) {
    let written = ready
        .stamped
        .iter()
        .map(|m| cluster::id(&cluster::key_of(m)))
        .collect();
    let pruned = ready.to_delete.iter().map(cluster::id).collect();
    (written, pruned)
}

/// The writes that `validate` left to ksec's own checks: those the server
/// can dry-run only once earlier writes of this apply exist.
fn offline<'a>(changes: &Changes, to_write: &[&'a Manifest]) -> Vec<&'a Manifest> {
    let created = changes.created();
    to_write
        .iter()
        .copied()
        .filter(|m| preflight::ready_after(m, &created).is_some())
        .collect()
}

/// Validates every write without persisting anything: a server-side dry
/// run of each apply and delete where the object will live, and ksec's
/// own checks for the objects the server can dry-run only once earlier
/// writes exist (in a namespace this apply creates: the server refuses any
/// request into a namespace that does not exist yet, dry run or not; a
/// binding to a role this apply creates). Anything refused: an error, and
/// no write at all.
fn validate(
    cluster: &Cluster,
    args: &ApplyArgs,
    changes: &Changes,
    to_write: &[&Manifest],
    to_delete: &[Key],
) -> Result<()> {
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
        None => Ok(()),
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

/// The real writes of one cluster with a progress bar, then its summary;
/// the error says what was applied, what failed and what was never
/// attempted (see `write_cluster`).
fn write_all(cluster: &Cluster, args: &ApplyArgs, ready: &Ready) -> Result<()> {
    let bar = progress(ready.stamped.len() + ready.to_delete.len());
    let tick = || bar.inc(1);
    let (report, pruned) = write_cluster(cluster, args, ready, &tick);
    bar.finish_and_clear();
    // the report of a failed write comes first; a summary that cannot be
    // printed is an error only when everything else went well
    let printed = summary(args, &ready.changes, &report.applied, &pruned);
    match finished(report, pruned).error() {
        Some(err) => Err(err),
        None => printed,
    }
}

/// A report with the deletes among what was applied, every list sorted.
fn finished(mut report: preflight::Report, pruned: Vec<String>) -> preflight::Report {
    report
        .applied
        .extend(pruned.into_iter().map(|id| format!("delete {id}")));
    report.applied.sort();
    report.failed.sort_by(|a, b| a.0.cmp(&b.0));
    report.not_attempted.sort();
    report
}

/// The real writes, phase by phase (Namespaces, then the rest, then
/// workloads, then prunes); a failed phase stops the ones after it, and
/// the report says what was applied, what failed and what was never
/// attempted. Once what they need exists (a new namespace, a new role),
/// the objects only ksec checked are dry-run by the server before their
/// phase is written. Returns the report (writes) and the deletes made.
fn write_cluster(
    cluster: &Cluster,
    args: &ApplyArgs,
    ready: &Ready,
    tick: &(dyn Fn() + Sync),
) -> (preflight::Report, Vec<String>) {
    let to_write = ready.to_write();
    let to_delete = &ready.to_delete;
    let mut report = preflight::Report::default();
    let created = ready.changes.created();
    let mut pending: Vec<(&Manifest, usize)> = offline(&ready.changes, &to_write)
        .into_iter()
        .filter_map(|m| preflight::ready_after(m, &created).map(|r| (m, r)))
        .collect();
    for (rank, phase) in preflight::phases(&to_write) {
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
        for (id, result) in cluster.apply(&phase, false, args.force_conflicts, tick) {
            match result {
                Ok(()) => report.applied.push(id),
                Err(e) if crate::cluster::is_not_attempted(&e) => report.not_attempted.push(id),
                Err(e) => report.failed.push((id, e)),
            }
        }
    }
    let mut pruned = Vec::new();
    if report.failed.is_empty() {
        for (id, result) in cluster.delete(to_delete, false, tick) {
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
    (report, pruned)
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
fn warn_unseen(project: &Project, unseen: &[String], at: &str) {
    if !unseen.is_empty() && project.namespaces.values().any(|ns| ns.onboarded()) {
        eprintln!(
            "note: {at}you may not list {} cluster-wide, so ksec cannot see (nor prune) namespaces taken out of ksec.yaml",
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
    progress_of(len, None)
}

/// A progress bar, led by the environment's name in a run across
/// several clusters.
fn progress_of(len: usize, environment: Option<&str>) -> indicatif::ProgressBar {
    if len == 0 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    let template = match environment {
        Some(_) => "{prefix:12} {bar:30} {pos}/{len} objects written",
        None => "{bar:30} {pos}/{len} objects written",
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    if let Some(env) = environment {
        bar.set_prefix(env.to_string());
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
        ListFormat::Name => super::print_names(&changes.names(written, pruned))?,
        ListFormat::Json | ListFormat::Yaml => {
            crate::commands::print_data(
                super::data_format(args.output),
                &serde_json::json!({"dryRun": args.dry_run, "namespaces": per_ns}),
                false,
            )?;
        }
        ListFormat::Text => {
            for line in count_lines(&per_ns, args.dry_run) {
                outln!("{line}")?;
            }
        }
    }
    Ok(())
}

/// A summary's line per namespace: `NS: 1 created, 0 updated, …`.
fn count_lines(
    per_ns: &std::collections::BTreeMap<String, plan::Counts>,
    dry_run: bool,
) -> Vec<String> {
    let suffix = if dry_run {
        " (dry run: nothing persisted)"
    } else {
        ""
    };
    per_ns
        .iter()
        .map(|(ns, c)| {
            format!(
                "{ns}: {} created, {} updated, {} unchanged, {} pruned{suffix}",
                c.created, c.updated, c.unchanged, c.pruned
            )
        })
        .collect()
}
