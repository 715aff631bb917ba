//! `ksec apply` and `ksec diff`. Apply is safe to run blind: render and
//! validate everything first, prove every needed permission with the
//! cluster's own RBAC, and only then write — nothing at all if anything is
//! denied, undecryptable or invalid. Unchanged objects are not written.

use super::Context;
use super::render::{Rendered, rendered};
use crate::cli::{ApplyArgs, DiffArgs, OutputFormat};
use crate::cluster::plan::{self, Change};
use crate::cluster::{Cluster, Verdict};
use crate::error::{Code, Error, Result};
use crate::project::Project;
use crate::render::Manifest;
use std::collections::BTreeMap;
use std::io::IsTerminal;

use crate::cluster::ObjectKey as Key;

/// The rendered objects with their change against the cluster, plus the
/// managed objects no longer rendered.
struct Changes<'a> {
    objects: Vec<(&'a Manifest, Change)>,
    orphans: Vec<Key>,
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

/// Compare what was rendered with what the cluster holds.
fn changes<'a>(live: crate::cluster::Live, rendered: &'a Rendered) -> Changes<'a> {
    let rendered_keys: std::collections::BTreeSet<Key> = rendered
        .manifests
        .iter()
        .map(|m| (m.namespace.clone(), m.kind.clone(), m.name.clone()))
        .collect();
    let objects: Vec<(&Manifest, Change)> = rendered
        .manifests
        .iter()
        .map(|m| {
            let key = (m.namespace.clone(), m.kind.clone(), m.name.clone());
            (m, plan::compare(m, live.objects.get(&key)))
        })
        .collect();
    let orphans = live
        .managed
        .into_iter()
        .filter(|key| !rendered_keys.contains(key))
        .collect();
    Changes { objects, orphans }
}

fn access_table(verdicts: &[Verdict]) -> String {
    let mut rows = vec![[
        "NAMESPACE".to_string(),
        "RESOURCE".to_string(),
        "VERB".to_string(),
        "ALLOWED".to_string(),
        "REASON".to_string(),
    ]];
    for v in verdicts {
        let resource = if v.need.group.is_empty() {
            v.need.resource.clone()
        } else {
            format!("{}.{}", v.need.resource, v.need.group)
        };
        rows.push([
            v.need.namespace.clone(),
            resource,
            v.need.verb.clone(),
            if v.allowed { "yes" } else { "no" }.into(),
            v.reason.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn apply(args: ApplyArgs, ctx: &Context) -> Result<()> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    // Render, decrypt and validate everything before any request.
    let rendered = rendered(
        &project,
        args.target.env.as_deref(),
        &args.target.namespaces,
        ctx,
    )?;
    let context = context_for(&project, &rendered, args.context.as_deref());
    let cluster = Cluster::connect(context.as_deref())?;

    let needs = plan::access_plan(&rendered.manifests, &rendered.namespaces, args.prune);
    // The reads of the pre-flight run together; nothing is written before
    // every answer has been looked at.
    let (verdicts, missing, live) = cluster.preflight(
        &needs,
        &rendered.manifests,
        &rendered.namespaces,
        &project.name,
        rendered.environment.as_deref(),
    );
    let verdicts = verdicts?;
    let denied = verdicts.iter().filter(|v| !v.allowed).count();
    if args.check_access {
        print!("{}", access_table(&verdicts));
        if denied == 0 {
            return Ok(());
        }
    }
    if denied > 0 {
        if !args.check_access {
            eprint!("{}", access_table(&verdicts));
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

    let missing = missing?;
    if !missing.is_empty() {
        return Err(Error::not_found(format!(
            "namespace{} {} do{} not exist in context {}; nothing was written",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "es" } else { "" },
            cluster.context
        ))
        .hint("create the namespace first (a platform team onboards it), or check the context"));
    }

    let changes = changes(live?, &rendered);
    let to_write: Vec<&Manifest> = changes
        .objects
        .iter()
        .filter(|(_, c)| !matches!(c, Change::Unchanged))
        .map(|(m, _)| *m)
        .collect();
    let to_delete: Vec<Key> = if args.prune {
        changes.orphans.clone()
    } else {
        Vec::new()
    };

    let protected = rendered
        .environment
        .as_ref()
        .and_then(|e| project.environments.get(e))
        .is_some_and(|e| e.protected);
    if protected && !args.dry_run && !args.yes && (!to_write.is_empty() || !to_delete.is_empty()) {
        confirm(&rendered, &to_write, &to_delete)?;
    }

    let bar = progress(to_write.len() + to_delete.len());
    let tick = || bar.inc(1);
    let mut failures = Vec::new();
    let mut written = Vec::new();
    for (id, result) in cluster.apply(&to_write, args.dry_run, args.force_conflicts, &tick) {
        match result {
            Ok(()) => written.push(id),
            Err(e) => failures.push((id, e)),
        }
    }
    let mut pruned = Vec::new();
    if failures.is_empty() {
        for (id, result) in cluster.delete(&to_delete, args.dry_run, &tick) {
            match result {
                Ok(()) => pruned.push(id),
                Err(e) => failures.push((id, e)),
            }
        }
    }
    bar.finish_and_clear();
    summary(&args, &changes, &written, &pruned);
    if let Some((_, first)) = failures.first() {
        let mut err = Error::new(
            first.code,
            format!(
                "{} of {} writes failed",
                failures.len(),
                to_write.len() + to_delete.len()
            ),
        );
        const SHOWN: usize = 10;
        for (id, e) in failures.iter().take(SHOWN) {
            err = err.detail(format!("{id}: {}", e.message));
        }
        if failures.len() > SHOWN {
            err = err.detail(format!("… and {} more", failures.len() - SHOWN));
        }
        err = err.detail(match written.len() {
            0 => "applied: nothing".to_string(),
            n if n <= SHOWN => format!("applied: {}", written.join(", ")),
            n => format!("applied: {n} objects"),
        });
        return Err(err.hint(first.hint.clone().unwrap_or_else(|| {
            "fix the cause and run ksec apply again; it only writes what still differs".into()
        })));
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
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::new(
            Code::NeedsConfirmation,
            format!("environment {env} is protected and there is no terminal to confirm on; nothing was written"),
        )
        .hint("review with `ksec diff`, then run `ksec apply --yes`"));
    }
    eprintln!("environment {env} is protected. About to:");
    for m in writes {
        eprintln!("  apply  {}/{}/{}", m.namespace, m.kind, m.name);
    }
    for (ns, kind, name) in deletes {
        eprintln!("  delete {ns}/{kind}/{name}");
    }
    let yes = dialoguer::Confirm::new()
        .with_prompt("apply these changes?")
        .default(false)
        .interact()
        .unwrap_or(false);
    if yes {
        Ok(())
    } else {
        Err(Error::new(
            Code::NeedsConfirmation,
            "not confirmed; nothing was written",
        ))
    }
}

fn summary(args: &ApplyArgs, changes: &Changes, written: &[String], pruned: &[String]) {
    #[derive(Default, serde::Serialize)]
    struct Counts {
        created: usize,
        updated: usize,
        unchanged: usize,
        pruned: usize,
    }
    let mut per_ns: BTreeMap<String, Counts> = BTreeMap::new();
    for (m, change) in &changes.objects {
        let id = format!("{}/{}/{}", m.namespace, m.kind, m.name);
        let c = per_ns.entry(m.namespace.clone()).or_default();
        match change {
            Change::Create if written.contains(&id) => c.created += 1,
            Change::Update(_) if written.contains(&id) => c.updated += 1,
            Change::Unchanged => c.unchanged += 1,
            _ => {}
        }
    }
    for id in pruned {
        let ns = id.split('/').next().unwrap_or_default().to_string();
        per_ns.entry(ns).or_default().pruned += 1;
    }
    match args.output {
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::json!({"dryRun": args.dry_run, "namespaces": per_ns})
            );
        }
        OutputFormat::Text => {
            let suffix = if args.dry_run {
                " (dry run: nothing persisted)"
            } else {
                ""
            };
            for (ns, c) in per_ns {
                println!(
                    "{ns}: {} created, {} updated, {} unchanged, {} pruned{suffix}",
                    c.created, c.updated, c.unchanged, c.pruned
                );
            }
        }
    }
}

/// `ksec diff`: rendered vs live, per object and per key. Exit 0 when the
/// same, 1 when something differs. Secret values never appear.
pub fn diff(args: DiffArgs, ctx: &Context) -> Result<()> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let rendered = rendered(
        &project,
        args.target.env.as_deref(),
        &args.target.namespaces,
        ctx,
    )?;
    let context = context_for(&project, &rendered, args.context.as_deref());
    let cluster = Cluster::connect(context.as_deref())?;
    let live = cluster.state(
        &rendered.manifests,
        &rendered.namespaces,
        &project.name,
        rendered.environment.as_deref(),
    )?;
    let changes = changes(live, &rendered);
    let mut differs = false;
    let mut out = String::new();
    for (m, change) in &changes.objects {
        let id = format!("{}/{}/{}", m.namespace, m.kind, m.name);
        match change {
            Change::Unchanged => {}
            Change::Create => {
                differs = true;
                out.push_str(&format!("create {id}\n"));
            }
            Change::Update(lines) => {
                differs = true;
                out.push_str(&format!("update {id}\n"));
                for l in lines {
                    out.push_str(&format!("  {l}\n"));
                }
            }
            Change::Delete => {}
        }
    }
    for (ns, kind, name) in &changes.orphans {
        differs = true;
        out.push_str(&format!("delete {ns}/{kind}/{name} (with --prune)\n"));
    }
    super::write_stdout(out.as_bytes())?;
    if differs {
        Err(Error::new(
            Code::Drift,
            "the cluster differs from the rendered manifests",
        )
        .hint("`ksec apply` makes the cluster match"))
    } else {
        eprintln!("no differences");
        Ok(())
    }
}
