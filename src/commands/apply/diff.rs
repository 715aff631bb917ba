//! `ksec diff`: rendered vs live, on one cluster or several in parallel;
//! drift is an outcome (exit 1), never an error, and values never show.

use super::{
    Changes, Cluster, Context, DiffArgs, Error, ListFormat, Origin, Outcome, Project, Rendered,
    Result, connect, connect_each, label, must_exist, per_cluster, plan, prepare, reads_for,
    refuse_missing_workloads, versions, warn_provenance, warn_unseen,
};

/// `ksec diff`: rendered vs live, per object and per key. Exit 0 when the
/// same, 1 (drift, an answer, not an error) when something differs. Secret
/// values never appear. Several environments: each cluster in parallel,
/// drift when any one differs.
pub fn diff(args: DiffArgs, ctx: &Context) -> Result<Outcome> {
    let (project, rendered) = prepare(&args.target, args.context.as_deref(), ctx)?;
    let clusters = match rendered.as_slice() {
        [one] => vec![connect(&project, one, args.context.as_deref())?],
        _ => connect_each(&project, &rendered)?,
    };
    let targets: Vec<(&Rendered, &Cluster)> = rendered.iter().zip(&clusters).collect();
    let several = targets.len() > 1;
    let results = per_cluster(&targets, |(r, c)| {
        let at = if several {
            format!("{}: ", label(r, c))
        } else {
            String::new()
        };
        diff_one(&project, r, c, &args, &at)
    });
    if !several {
        let found = results.into_iter().next().expect("one cluster")?;
        return report(&[Ok(found)], &targets, &args);
    }
    report(&results, &targets, &args)
}

/// Print the differences of every cluster that answered (and, across
/// several, the error of each that did not); drift is exit 1, a cluster
/// that could not be compared is an error with its code, naming the
/// clusters that were compared.
fn report(
    results: &[Result<Vec<plan::Difference>>],
    targets: &[(&Rendered, &Cluster)],
    args: &DiffArgs,
) -> Result<Outcome> {
    let several = targets.len() > 1;
    let no_drift = Vec::new();
    let found: Vec<&Vec<plan::Difference>> = results
        .iter()
        .map(|r| r.as_ref().unwrap_or(&no_drift))
        .collect();
    let drifting: Vec<String> = targets
        .iter()
        .zip(&found)
        .filter(|(_, d)| !d.is_empty())
        .map(|((r, c), _)| label(r, c))
        .collect();
    match args.output {
        ListFormat::Name => {
            let mut names = Vec::new();
            for ((r, _), differences) in targets.iter().zip(&found) {
                // several clusters: the environment leads, as `ENV/kind/name`
                let prefix = match (&r.environment, several) {
                    (Some(env), true) => format!("{env}/"),
                    _ => String::new(),
                };
                names.extend(
                    differences
                        .iter()
                        .map(|d| format!("{prefix}{}", d.object_name())),
                );
            }
            crate::commands::print_names(&names)?;
        }
        ListFormat::Json | ListFormat::Yaml => {
            let clusters: Vec<serde_json::Value> = targets
                .iter()
                .zip(results)
                .map(|((r, c), result)| match result {
                    Ok(d) => {
                        let mut v = serde_json::json!({
                            "environment": r.environment,
                            "context": c.context,
                            "drift": !d.is_empty(),
                            "differences": d.iter().map(plan::Difference::to_json).collect::<Vec<_>>(),
                        });
                        if several {
                            v["ok"] = true.into();
                        }
                        v
                    }
                    Err(e) => serde_json::json!({
                        "environment": r.environment,
                        "context": c.context,
                        "ok": false,
                        "error": {
                            "message": e.message,
                            "code": e.code.name(),
                            "exitCode": e.code.exit_code(),
                        },
                    }),
                })
                .collect();
            crate::commands::print_data(
                crate::commands::data_format(args.output),
                &serde_json::json!({"drift": !drifting.is_empty(), "clusters": clusters}),
                false,
            )?;
        }
        ListFormat::Text if !several => {
            let text: String = plan::lines(found[0])
                .iter()
                .map(|line| format!("{line}\n"))
                .collect();
            crate::commands::write_stdout(text.as_bytes())?;
        }
        ListFormat::Text => {
            let mut text = String::new();
            for ((r, c), result) in targets.iter().zip(results) {
                match result {
                    Ok(d) if d.is_empty() => {}
                    Ok(d) => {
                        text.push_str(&format!("{}:\n", label(r, c)));
                        for line in plan::lines(d) {
                            text.push_str(&format!("  {line}\n"));
                        }
                    }
                    Err(e) => text.push_str(&format!(
                        "{}: NOT COMPARED ({}, see the error below)\n",
                        label(r, c),
                        e.code.name()
                    )),
                }
            }
            crate::commands::write_stdout(text.as_bytes())?;
        }
    }
    let failed: Vec<(String, &crate::error::Error)> = targets
        .iter()
        .zip(results)
        .filter_map(|((r, c), result)| result.as_ref().err().map(|e| (label(r, c), e)))
        .collect();
    if drifting.is_empty() && failed.is_empty() {
        eprintln!("no differences");
        return Ok(Outcome::Success);
    }
    if !drifting.is_empty() {
        if several {
            eprintln!(
                "{} of {} clusters differ from the rendered manifests: {}",
                drifting.len(),
                targets.len(),
                drifting.join(", ")
            );
        } else {
            eprintln!("the cluster differs from the rendered manifests");
        }
        eprintln!("  hint: `ksec apply` makes the cluster match");
    }
    match failed.first() {
        None => Ok(Outcome::Drift),
        Some((_, first)) => Err(not_compared(&failed, first, targets.len())),
    }
}

/// The error of a diff across clusters where some could not be compared:
/// the code and hint of the first, every failed cluster in the details.
fn not_compared(failed: &[(String, &Error)], first: &Error, total: usize) -> Error {
    let mut err = Error::new(
        first.code,
        format!(
            "{} of {total} clusters could not be compared with the rendered manifests; the other clusters were compared (above)",
            failed.len()
        ),
    );
    for (label, e) in failed {
        err = err.detail(format!("{label}: {}", e.message));
        for d in &e.details {
            err = err.detail(format!("  {d}"));
        }
    }
    err.hint(
        first
            .hint
            .clone()
            .unwrap_or_else(|| "fix the cause and run ksec diff again".into()),
    )
}

/// The differences of one cluster (and its warnings, on stderr).
fn diff_one(
    project: &Project,
    rendered: &Rendered,
    cluster: &Cluster,
    args: &DiffArgs,
    at: &str,
) -> Result<Vec<plan::Difference>> {
    let origin = Origin::of(&project.root);
    // the same refusal as apply's: a namespace ksec does not onboard must exist
    let must_exist = must_exist(project, rendered);
    let missing = cluster.missing_namespaces(&must_exist)?;
    if !missing.is_empty() {
        return Err(versions::missing_namespaces_error(
            &missing,
            &cluster.context,
            "diff",
        ));
    }
    let reads = reads_for(project, rendered, &args.target.namespaces, true);
    let live = cluster.state(&reads, &project.name, rendered.environment.as_deref())?;
    warn_unseen(project, &live.unseen, at);
    let changes = plan::changes(
        &rendered.manifests,
        &live,
        project.defaults.keep_versions,
        |o| origin.judge(o),
    );
    refuse_missing_workloads(rendered, &changes, cluster)?;
    let differences = changes.differences(args.prune);
    warn_provenance(&changes, args.prune, "would delete", at);
    note_orphans(&changes, args.prune, at);
    Ok(differences)
}

/// Orphans are no drift without `prune`: say how to see and delete them.
fn note_orphans(changes: &Changes, prune: bool, at: &str) {
    if !prune && !changes.orphans.is_empty() {
        let n = changes.orphans.len();
        eprintln!(
            "note: {at}{n} object{} of this project {} no longer rendered; `ksec diff --prune` lists {}, `ksec apply --prune` deletes {}",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" },
            if n == 1 { "it" } else { "them" },
            if n == 1 { "it" } else { "them" },
        );
    }
}
