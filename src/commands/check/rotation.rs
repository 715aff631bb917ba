//! `ksec check --rotation`: every value with a `rotateAfter`, aged from the
//! version of the git history where it first appeared (else from its
//! file's `lastmodified`); overdue ones fail the check (exit 11), those in
//! the last tenth of their period are "due soon" and do not.

use crate::commands::{Context, table};
use crate::error::{Code, Error, Result, shown};
use crate::history::{self, read, rotation};
use crate::load;
use crate::project::Project;

/// The values with a `rotateAfter`, and what the history could not compare.
pub struct Report {
    dues: Vec<rotation::Due>,
    histories: read::Histories,
    /// `keys` entries of ksec.yaml that name no value.
    warnings: Vec<String>,
}

/// Read the history of every Secret source and age its values.
pub fn report(ctx: &Context) -> Result<Report> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let now = crate::clock::now().map_err(|why| {
        Error::usage(why).hint("unset KSEC_NOW, or give an instant like 2027-03-01T00:00:00Z")
    })?;
    let found = load::secret_sources(&project, None, &[], None)?;
    let sources = found.files;
    let rels: Vec<String> = sources.iter().map(|s| s.rel.clone()).collect();
    let identities = load::identities_or_none(ctx)?;
    let histories = read::read(&project.root, &rels, &identities)?;
    let read: Vec<(&std::path::Path, &history::FileHistory)> = sources
        .iter()
        .map(|s| s.path.as_path())
        .zip(&histories.files)
        .collect();
    // a key's rotateAfter that names no value governs nothing: said, as a
    // key set later (declared first) is no mistake
    let mut warnings: Vec<String> = found
        .left_out
        .iter()
        .map(|rel| load::left_out_note(rel))
        .collect();
    for ns in project.namespaces.values() {
        for (secret, key, held) in rotation::unmatched_keys(&project.root, ns, &read) {
            let held: Vec<_> = held.iter().map(|k| shown(k).into_owned()).collect();
            warnings.push(format!(
                "warning: {}: namespaces.{}.secrets.{}.keys.{}: no source of Secret {} holds this key, so its rotateAfter applies to no value (its keys: {}); write the key as `ksec set` takes it: a top-level key, or a sops path like '[\"db\"][\"password\"]' for a nested one",
                crate::project::FILE_NAME,
                shown(&ns.name),
                shown(&secret),
                shown(&key),
                shown(&secret),
                if held.is_empty() { "none".to_string() } else { held.join(", ") },
            ));
        }
    }
    let mut dues = Vec::new();
    for (source, history) in sources.iter().zip(&histories.files) {
        let Some(ns) = project.namespaces.get(&source.namespace) else {
            continue;
        };
        let (whole, keys) = rotation::policy(&project.root, ns, &source.path);
        dues.extend(rotation::dues(history, whole.as_ref(), &keys, now));
    }
    dues.sort_by(|a, b| (a.state, a.due, &a.file, &a.key).cmp(&(b.state, b.due, &b.file, &b.key)));
    Ok(Report {
        dues,
        histories,
        warnings,
    })
}

impl Report {
    fn count(&self, state: rotation::State) -> usize {
        self.dues.iter().filter(|d| d.state == state).count()
    }

    /// `{"rotation": [...]}`: every value with a `rotateAfter`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "rotation": self.dues.iter().map(|d| serde_json::json!({
                "file": d.file,
                "key": d.key,
                "since": d.since.to_string(),
                "from": if d.from_history { "git" } else { "lastmodified" },
                "rotateAfter": d.rotate_after.text,
                "due": d.due.to_string(),
                "state": d.state.word(),
                "uncomparedVersions": d.unknown,
                "rotate": history::report::rotate_command(&d.file, &d.key),
            })).collect::<Vec<_>>(),
        })
    }

    /// A table of the overdue and due-soon values, and a count.
    pub fn text(&self) -> String {
        let day = history::report::day;
        let mut rows =
            vec![["STATE", "FILE", "KEY", "SINCE", "ROTATE AFTER", "DUE"].map(String::from)];
        for d in self
            .dues
            .iter()
            .filter(|d| d.state != rotation::State::Fine)
        {
            let since = if d.from_history {
                day(d.since)
            } else {
                format!("{} (lastmodified)", day(d.since))
            };
            rows.push([
                d.state.word().to_string(),
                d.file.clone(),
                d.key.clone(),
                since,
                d.rotate_after.text.clone(),
                day(d.due),
            ]);
        }
        let mut out = String::new();
        if rows.len() > 1 {
            out.push_str(&table(&rows));
            out.push_str("\nrotate with `ksec set FILE KEY --generate` (or `ksec set FILE KEY` with a value from its issuer)\n");
        }
        out.push_str(&format!(
            "ksec check --rotation: {} value{} with rotateAfter, {} overdue, {} due soon\n",
            self.dues.len(),
            if self.dues.len() == 1 { "" } else { "s" },
            self.count(rotation::State::Overdue),
            self.count(rotation::State::DueSoon),
        ));
        out
    }

    /// What the history could not compare, on stderr (outside git, the
    /// note that no past reader can be found is moot here).
    pub fn notes(&self) {
        for warning in &self.warnings {
            eprintln!("{warning}");
        }
        let notes = history::report::notes(&self.histories);
        for note in notes.iter().skip(usize::from(!self.histories.in_git)) {
            eprintln!("{note}");
        }
    }

    /// Exit 11 when a value is overdue.
    pub fn outcome(&self) -> Result<()> {
        let overdue = self.count(rotation::State::Overdue);
        if overdue == 0 {
            return Ok(());
        }
        Err(Error::new(
            Code::CheckFailed,
            format!(
                "{overdue} value{} overdue for rotation",
                if overdue == 1 { " is" } else { "s are" }
            ),
        )
        .hint("rotate them (`ksec set FILE KEY --generate`, or a new value from its issuer) and commit"))
    }
}
