//! `ksec recipients list|add|remove` and `ksec rekey`: load the project,
//! let [`crate::access`] decide and do, print what was (or would be) done.
//!
//! Every command here changes `ksec.yaml` (and `.sops.yaml`) first and the
//! files after; key names are printed, values never.

use super::{Context, table, write_stdout};
use crate::access::apply::{self, Outcome};
use crate::access::plan::{self, Action, Job, Plan};
use crate::access::{self, Cut, Names, change, files, report, short_key};
use crate::cli::{
    ListFormat, RecipientsAddArgs, RecipientsCommand, RecipientsListArgs, RecipientsRemoveArgs,
    RekeyArgs,
};
use crate::crypto::wrap::Identity;
use crate::error::Result;
use crate::fsutil;
use crate::history;
use crate::keys;
use crate::project::{Project, scaffold};
use std::collections::BTreeSet;

pub fn run(cmd: RecipientsCommand, ctx: &Context) -> Result<()> {
    match cmd {
        RecipientsCommand::List(args) => list(args, ctx),
        RecipientsCommand::Add(args) => add(args, ctx),
        RecipientsCommand::Remove(args) => remove(args, ctx),
    }
}

fn list(args: RecipientsListArgs, ctx: &Context) -> Result<()> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let members = access::members_reading(&project, &args.namespaces)?;
    match args.output {
        ListFormat::Name => {
            let names: Vec<String> = members
                .iter()
                .map(|m| format!("recipient/{}", m.name))
                .collect();
            super::print_names(&names)
        }
        ListFormat::Json | ListFormat::Yaml => {
            let items: Vec<serde_json::Value> = members
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "name": m.name,
                        "key": m.key,
                        "groups": m.groups,
                        "namespaces": m.namespaces.iter().map(|(ns, env)| match env {
                            None => serde_json::json!({"name": ns, "via": "recipients"}),
                            Some(env) => serde_json::json!({"name": ns, "via": format!("environment {env}")}),
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect();
            super::print_data(
                super::data_format(args.output),
                &serde_json::Value::Array(items),
                true,
            )
        }
        ListFormat::Text => {
            let mut rows = vec![["RECIPIENT", "KEY", "GROUPS", "NAMESPACES"].map(String::from)];
            let dash = |v: Vec<String>| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.join(", ")
                }
            };
            for m in members {
                let namespaces = m.namespaces.into_iter().map(|(ns, env)| match env {
                    None => ns,
                    Some(_) => format!("{ns} (ci)"),
                });
                rows.push([
                    m.name,
                    short_key(&m.key, Cut::Ends),
                    dash(m.groups),
                    dash(namespaces.collect()),
                ]);
            }
            write_stdout(table(&rows).as_bytes())
        }
    }
}

fn add(args: RecipientsAddArgs, ctx: &Context) -> Result<()> {
    let (_lock, project) = Project::discover_locked(ctx.project_flag.as_deref())?;
    let key = args.key.trim().to_string();
    let edit = change::add(
        &project,
        &change::Addition {
            name: &args.name,
            key: &key,
            group: args.group.as_deref(),
            namespaces: &args.namespaces,
            all: args.all,
        },
    )?;
    let sources = files::scan(&edit.updated)?;
    let plan = plan::add(&sources, &args.name, &key);
    let change = Change {
        project: &project,
        edit: &edit,
        verbs: ("would add", "added"),
        removed: None,
        removed_key: None,
    };
    change.carry_out(plan, args.dry_run, ctx)
}

fn remove(args: RecipientsRemoveArgs, ctx: &Context) -> Result<()> {
    let (_lock, project) = Project::discover_locked(ctx.project_flag.as_deref())?;
    let name = &args.name;
    let (key, edit) = change::remove(&project, name)?;
    if let Some(other) = change::same_key(&edit.updated, &key) {
        eprintln!(
            "warning: {name}'s key is also in ksec.yaml as recipient {other}; the files {other} may read keep it"
        );
    }
    let sources = files::scan(&edit.updated)?;
    let plan = plan::remove(&sources, &key).map_err(|s| report::last_reader(name, s))?;
    let change = Change {
        project: &project,
        edit: &edit,
        verbs: ("would remove", "removed"),
        removed: Some(name),
        removed_key: Some(&key),
    };
    change.carry_out(plan, args.dry_run, ctx)
}

/// An edit of ksec.yaml and the files it changes, for add and remove.
struct Change<'a> {
    project: &'a Project,
    edit: &'a change::Edit,
    /// (planned, done): `would add`, `added`.
    verbs: (&'a str, &'a str),
    /// The recipient removed: its readable secrets are listed.
    removed: Option<&'a str>,
    /// Its key: the values it may still hold are listed from the history.
    removed_key: Option<&'a str>,
}

impl Change<'_> {
    /// With `dry_run` print the plan; else write ksec.yaml (and
    /// .sops.yaml), then the files.
    fn carry_out(&self, plan: Plan, dry_run: bool, ctx: &Context) -> Result<()> {
        let names = Names::new(&[self.project, &self.edit.updated]);
        if dry_run {
            let mut out = format!("{} {}\n", self.verbs.0, self.edit.headline);
            out.push_str(&dry_run_text(&plan, &names, self.removed));
            let ids = crate::load::identities_or_none(ctx)?;
            out.push_str(&self.still_exposed(&plan, &ids, &names, true));
            out.push_str(DRY_RUN_DONE);
            return write_stdout(out.as_bytes());
        }
        let ids = identities(ctx, &plan.jobs)?;
        apply::write_project(self.project, &self.edit.new_text, &self.edit.updated)?;
        write_stdout(format!("{} {}\n", self.verbs.1, self.edit.headline).as_bytes())?;
        let result = finish(&plan, &ids, &names, self.removed);
        if let Some(note) = report::out_of_sync(plan.out_of_sync) {
            eprintln!("{note}");
        }
        result?;
        let ids = if ids.is_empty() {
            crate::load::identities_or_none(ctx)?
        } else {
            ids
        };
        write_stdout(self.still_exposed(&plan, &ids, &names, false).as_bytes())
    }

    /// After a removal (or its dry run), from the git history of the files
    /// the removed key could read: each value it may still hold, since
    /// when, and the command that rotates it. Outside git there is no
    /// history: the list above (file by file) is all there is.
    fn still_exposed(&self, plan: &Plan, ids: &[Identity], names: &Names, dry: bool) -> String {
        match self.exposed_values(plan, ids, names, dry) {
            Ok(text) => text,
            // the removal stands; only its list is missing
            Err(err) => {
                eprintln!(
                    "warning: cannot list the values {} may still hold from the git history: {}; run `ksec access --exposed` once that is fixed",
                    self.removed.unwrap_or("the removed recipient"),
                    err.message
                );
                String::new()
            }
        }
    }

    fn exposed_values(
        &self,
        plan: &Plan,
        ids: &[Identity],
        names: &Names,
        dry: bool,
    ) -> Result<String> {
        let (Some(name), Some(key)) = (self.removed, self.removed_key) else {
            return Ok(String::new());
        };
        let rels: Vec<String> = plan
            .jobs
            .iter()
            .filter(|j| matches!(j.action, Action::Rotate { .. }))
            .map(|j| j.source.rel.clone())
            .collect();
        if rels.is_empty() {
            return Ok(String::new());
        }
        let histories = history::read::read(&self.project.root, &rels, ids)?;
        if !histories.in_git {
            return Ok(String::new());
        }
        let key = access::key_id(key);
        // in a dry run the files still have the key: count it as gone
        let gone = if dry {
            BTreeSet::from([key.clone()])
        } else {
            BTreeSet::new()
        };
        let values = history::report::exposed(&histories, names, &gone, |k| k == key);
        if values.is_empty() {
            return Ok(String::new());
        }
        let mut out = format!(
            "\n{name} {} these values until they are rotated (from the git history; `ksec access --exposed` lists them again):\n",
            if dry {
                "would still hold"
            } else {
                "may still hold"
            }
        );
        out.push_str(&super::exposure_text(&values));
        Ok(out)
    }
}

pub fn rekey(args: RekeyArgs, ctx: &Context) -> Result<()> {
    let (_lock, project) = Project::discover_locked(ctx.project_flag.as_deref())?;
    let sources = files::scan(&project)?;
    let names = Names::new(&[&project]);
    let (plan, refused) = plan::rekey(&sources);
    let refused = report::refused(&refused).map_or(Ok(()), Err);
    let sops_file = project.root.join(".sops.yaml");
    let sops_wanted = scaffold::sops_yaml(&project);
    let sops_stale = sops_file.exists()
        && std::fs::read_to_string(&sops_file).map_or(true, |t| t != sops_wanted);

    if args.dry_run {
        let mut out = String::new();
        if sops_stale {
            out.push_str("would update .sops.yaml from ksec.yaml\n");
        }
        out.push_str(&dry_run_text(&plan, &names, None));
        out.push_str(DRY_RUN_DONE);
        write_stdout(out.as_bytes())?;
        return refused;
    }
    let ids = identities(ctx, &plan.jobs)?;
    if sops_stale {
        fsutil::write_atomic(&sops_file, sops_wanted.as_bytes(), 0o644)?;
        write_stdout(b"updated .sops.yaml from ksec.yaml\n")?;
    }
    let result = finish(&plan, &ids, &names, None);
    if let Some(note) = report::leftovers(&files::leftovers(&project)) {
        eprintln!("{note}");
    }
    result?;
    refused
}

/// The identities of the user (none needed without jobs), or an error
/// before anything is written.
fn identities(ctx: &Context, jobs: &[Job]) -> Result<Vec<Identity>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let lookup = crate::load::identities(ctx, || {
        crate::load::NoIdentity::new(format!(
            "no age identity found, and {} encrypted file{} must be opened to change who can read {}",
            jobs.len(),
            if jobs.len() == 1 { "" } else { "s" },
            if jobs.len() == 1 { "it" } else { "them" }
        ))
        .hint(format!("{}; nothing was changed", keys::NO_IDENTITY_HINT))
    })?;
    Ok(lookup.identities)
}

/// Run the jobs, print what was done (stdout), and turn failures into one
/// error that says how to finish.
fn finish(plan: &Plan, ids: &[Identity], names: &Names, removed: Option<&str>) -> Result<()> {
    // what the removed recipients could read, whether or not its rotation
    // succeeds: the values are to be rotated at their source either way
    let exposed = files::exposed(&plan.jobs, names);
    let Outcome {
        done,
        unchanged,
        failures,
    } = apply::run(&plan.jobs, ids)?;
    let unchanged = plan.unchanged + unchanged;
    let mut out = files_text(&done, names, false, unchanged, failures.len());
    out.push_str(&report::exposure(&exposed, removed, false));
    write_stdout(out.as_bytes())?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(report::failed(&failures))
    }
}

/// The plan as `--dry-run` prints it, with what `removed` (else whoever
/// is removed) can read.
fn dry_run_text(plan: &Plan, names: &Names, removed: Option<&str>) -> String {
    let mut out = files_text(&plan.actions(), names, true, plan.unchanged, 0);
    let exposed = files::exposed(&plan.jobs, names);
    out.push_str(&report::exposure(&exposed, removed, true));
    out
}

/// The last line of a dry run.
const DRY_RUN_DONE: &str = "dry run: nothing was changed\n";

/// The changed files as a table, then the summary.
fn files_text(
    done: &[(String, Action)],
    names: &Names,
    dry: bool,
    unchanged: usize,
    failed: usize,
) -> String {
    let lines = report::files(done, names, dry, unchanged, failed);
    table(&lines.rows) + &lines.summary
}
