//! One apply across several clusters: every cluster's pre-flight before the
//! first write anywhere, then the clusters written in parallel, each with
//! its own progress line and summary.

use super::{
    ApplyArgs, Checked, Cluster, Code, Error, IsTerminal, Key, ListFormat, Origin, Project, Ready,
    Rendered, Result, Verdict, access_error, all_ok, check, confirm_namespace_deletes,
    connect_each, count_lines, finished, label, outln, per_cluster, plan, planned, preflight,
    progress_of, ready, write_cluster,
};

/// One apply across several clusters: every cluster's pre-flight (in
/// parallel) and validation pass before the first write anywhere; then the
/// clusters are written in parallel, and one that fails does not stop the
/// others.
pub(super) fn apply_many(project: &Project, rendered: &[Rendered], args: &ApplyArgs) -> Result<()> {
    let clusters = connect_each(project, rendered)?;
    let targets: Vec<(&Rendered, &Cluster)> = rendered.iter().zip(&clusters).collect();
    let labels: Vec<String> = targets.iter().map(|(r, c)| label(r, c)).collect();
    let checked = per_cluster(&targets, |(r, c)| {
        let at = format!("{}: ", label(r, c));
        check(project, r, c, args, &Origin::of(&project.root), &at)
    });
    let checked = all_ok(checked, &labels, "the pre-flight")?;
    let denied: usize = checked.iter().map(Checked::denied).sum();
    let total: usize = checked.iter().map(|c| c.verdicts.len()).sum();
    let table = || {
        let rows: Vec<(String, &[Verdict])> = targets
            .iter()
            .zip(&checked)
            .map(|((r, c), ch)| {
                let env = r.environment.as_deref().unwrap_or_default();
                (format!("{env}/{}", c.context), ch.verdicts.as_slice())
            })
            .collect();
        crate::commands::clusters_access_table(&rows)
    };
    if args.check_access {
        crate::commands::write_stdout(table().as_bytes())?;
        if denied == 0 {
            return Ok(());
        }
    }
    if denied > 0 {
        if !args.check_access {
            eprint!("{}", table());
        }
        let blocked: Vec<&str> = labels
            .iter()
            .zip(&checked)
            .filter(|(_, c)| c.denied() > 0)
            .map(|(l, _)| l.as_str())
            .collect();
        return Err(access_error(
            denied,
            total,
            &blocked.join(", "),
            &format!(
                "nothing was written to any of the {} clusters",
                labels.len()
            ),
        ));
    }
    let work: Vec<((&Rendered, &Cluster), Checked)> =
        targets.iter().copied().zip(checked).collect();
    let work: Vec<std::sync::Mutex<Option<_>>> = work
        .into_iter()
        .map(|w| std::sync::Mutex::new(Some(w)))
        .collect();
    let ready = per_cluster(&work, |w| {
        let ((r, c), checked) = w
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .expect("each cluster is taken once");
        let at = format!("{}: ", label(r, c));
        ready(
            project,
            r,
            c,
            args,
            checked,
            &Origin::of(&project.root),
            &at,
        )
    });
    let ready = all_ok(ready, &labels, "the validation")?;
    if args.dry_run {
        let results: Vec<(String, Counted)> = targets
            .iter()
            .zip(&ready)
            .map(|((r, c), ready)| {
                let (written, pruned) = planned(ready);
                let mut counted = Counted::new(r, c, ready.changes.counts(&written, &pruned));
                counted.names = ready.changes.names(&written, &pruned);
                (label(r, c), counted)
            })
            .collect();
        return clusters_summary(args, &results);
    }
    let deletes: Vec<Key> = ready.iter().flat_map(|r| r.to_delete.clone()).collect();
    confirm_namespace_deletes(&deletes, &args.delete_namespace)?;
    let protected: Vec<&str> = targets
        .iter()
        .zip(&ready)
        .filter(|((r, _), ready)| {
            ready.writes_anything()
                && r.environment
                    .as_ref()
                    .and_then(|e| project.environments.get(e))
                    .is_some_and(|e| e.protected)
        })
        .filter_map(|((r, _), _)| r.environment.as_deref())
        .collect();
    if !protected.is_empty() && !args.yes {
        confirm_clusters(&protected, &targets, &ready)?;
    }
    let bars = indicatif::MultiProgress::new();
    let jobs: Vec<(usize, &Ready)> = ready.iter().enumerate().collect();
    let results = per_cluster(&jobs, |(i, ready)| {
        let (r, c) = targets[*i];
        let bar = bars.add(progress_of(
            ready.stamped.len() + ready.to_delete.len(),
            r.environment.as_deref(),
        ));
        let tick = || bar.inc(1);
        let (report, pruned) = write_cluster(c, args, ready, &tick);
        bar.finish_and_clear();
        let counts = ready.changes.counts(&report.applied, &pruned);
        eprintln!(
            "{}: {}",
            labels[*i],
            if report.failed.is_empty() {
                format!(
                    "done, {} written, {} deleted",
                    report.applied.len(),
                    pruned.len()
                )
            } else {
                format!(
                    "FAILED, {} written, {} failed, {} not attempted",
                    report.applied.len() + pruned.len(),
                    report.failed.len(),
                    report.not_attempted.len()
                )
            }
        );
        let mut counted = Counted::new(r, c, counts);
        counted.names = ready.changes.names(&report.applied, &pruned);
        counted.report = Some(finished(report, pruned));
        counted
    });
    let results: Vec<(String, Counted)> = labels.iter().cloned().zip(results).collect();
    let printed = clusters_summary(args, &results);
    let failures = results
        .into_iter()
        .map(|(l, c)| (l, c.report.and_then(preflight::Report::error)))
        .collect();
    match preflight::clusters_error(failures) {
        Some(err) => Err(err),
        None => printed,
    }
}

/// One cluster's line of a summary across clusters.
struct Counted {
    environment: Option<String>,
    context: String,
    namespaces: std::collections::BTreeMap<String, plan::Counts>,
    /// What the writes did (none for a dry run).
    report: Option<preflight::Report>,
    /// `-o name`: the objects applied, then those pruned (`kind/name`).
    names: Vec<String>,
}

impl Counted {
    fn new(
        rendered: &Rendered,
        cluster: &Cluster,
        namespaces: std::collections::BTreeMap<String, plan::Counts>,
    ) -> Counted {
        Counted {
            environment: rendered.environment.clone(),
            context: cluster.context.clone(),
            namespaces,
            report: None,
            names: Vec::new(),
        }
    }
}

/// The summary of every cluster: per cluster its namespaces' counts and,
/// where writes failed, what was applied, failed and not attempted there.
fn clusters_summary(args: &ApplyArgs, results: &[(String, Counted)]) -> Result<()> {
    match args.output {
        ListFormat::Name => {
            // several clusters: the environment leads, as `ENV/kind/name`
            let names: Vec<String> = results
                .iter()
                .flat_map(|(_, c)| {
                    let env = c.environment.as_deref().unwrap_or_default();
                    c.names.iter().map(move |n| format!("{env}/{n}"))
                })
                .collect();
            crate::commands::print_names(&names)?;
        }
        ListFormat::Json | ListFormat::Yaml => {
            let clusters: Vec<serde_json::Value> = results
                .iter()
                .map(|(_, c)| {
                    let mut v = serde_json::json!({
                        "environment": c.environment,
                        "context": c.context,
                        "namespaces": c.namespaces,
                        "ok": c.report.as_ref().is_none_or(|r| r.failed.is_empty()),
                    });
                    if let Some(r) = c.report.as_ref().filter(|r| !r.failed.is_empty()) {
                        v["applied"] = serde_json::json!(r.applied);
                        v["failed"] = r
                            .failed
                            .iter()
                            .map(|(id, e)| serde_json::json!({"object": id, "error": e.message}))
                            .collect();
                        v["notAttempted"] = serde_json::json!(r.not_attempted);
                    }
                    v
                })
                .collect();
            crate::commands::print_data(
                crate::commands::data_format(args.output),
                &serde_json::json!({"dryRun": args.dry_run, "clusters": clusters}),
                false,
            )?;
        }
        ListFormat::Text => {
            for (label, c) in results {
                let failed = c.report.as_ref().is_some_and(|r| !r.failed.is_empty());
                outln!(
                    "{label}:{}",
                    if failed {
                        " FAILED (see the error below)"
                    } else {
                        ""
                    }
                )?;
                for line in count_lines(&c.namespaces, args.dry_run) {
                    outln!("  {line}")?;
                }
            }
        }
    }
    Ok(())
}

/// Protected environments among several: one question listing them all, or
/// `--yes`.
fn confirm_clusters(
    protected: &[&str],
    targets: &[(&Rendered, &Cluster)],
    ready: &[Ready],
) -> Result<()> {
    let names = protected.join(", ");
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::new(
            Code::NeedsConfirmation,
            format!("environments {names} are protected and there is no terminal to confirm on; nothing was written to any cluster"),
        )
        .hint("review with `ksec diff`, then run `ksec apply --yes`"));
    }
    eprintln!("environments {names} are protected. About to:");
    for ((r, c), ready) in targets.iter().zip(ready) {
        eprintln!(
            "  {}: apply {} object{}, delete {}",
            label(r, c),
            ready.stamped.len(),
            if ready.stamped.len() == 1 { "" } else { "s" },
            ready.to_delete.len()
        );
    }
    crate::commands::ask(
        "apply these changes to every cluster listed?",
        "nothing was written to any cluster",
    )
}
