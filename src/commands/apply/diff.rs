//! `ksec diff`: rendered vs live, on one cluster or several in parallel;
//! drift is an outcome (exit 1), never an error, and values never show.

use super::{
    Changes, Cluster, Context, DiffArgs, Origin, Outcome, OutputFormat, Project, Rendered, Result,
    connect, connect_each, label, must_exist, outln, per_cluster, plan, prepare, reads_for,
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
    let mut found = Vec::with_capacity(results.len());
    for (result, (r, c)) in results.into_iter().zip(&targets) {
        match result {
            Ok(differences) => found.push(differences),
            Err(mut e) if targets.len() > 1 => {
                e.message = format!("{}: {}", label(r, c), e.message);
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    let drifting: Vec<String> = targets
        .iter()
        .zip(&found)
        .filter(|(_, d)| !d.is_empty())
        .map(|((r, c), _)| label(r, c))
        .collect();
    match args.output {
        OutputFormat::Json => {
            let clusters: Vec<serde_json::Value> = targets
                .iter()
                .zip(&found)
                .map(|((r, c), d)| {
                    serde_json::json!({
                        "environment": r.environment,
                        "context": c.context,
                        "drift": !d.is_empty(),
                        "differences": d.iter().map(plan::Difference::to_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            outln!(
                "{}",
                serde_json::json!({"drift": !drifting.is_empty(), "clusters": clusters})
            )?;
        }
        OutputFormat::Text if targets.len() == 1 => {
            let text: String = plan::lines(&found[0])
                .iter()
                .map(|line| format!("{line}\n"))
                .collect();
            crate::commands::write_stdout(text.as_bytes())?;
        }
        OutputFormat::Text => {
            let mut text = String::new();
            for ((r, c), d) in targets.iter().zip(&found) {
                if !d.is_empty() {
                    text.push_str(&format!("{}:\n", label(r, c)));
                    for line in plan::lines(d) {
                        text.push_str(&format!("  {line}\n"));
                    }
                }
            }
            crate::commands::write_stdout(text.as_bytes())?;
        }
    }
    if drifting.is_empty() {
        eprintln!("no differences");
        Ok(Outcome::Success)
    } else {
        if targets.len() == 1 {
            eprintln!("the cluster differs from the rendered manifests");
        } else {
            eprintln!(
                "{} of {} clusters differ from the rendered manifests: {}",
                drifting.len(),
                targets.len(),
                drifting.join(", ")
            );
        }
        eprintln!("  hint: `ksec apply` makes the cluster match");
        Ok(Outcome::Drift)
    }
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
