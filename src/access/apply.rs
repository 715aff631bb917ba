//! Carrying out a plan: ksec.yaml and `.sops.yaml` are written first, then
//! the encrypted files, in parallel, each under its lock and written
//! atomically. A run that is interrupted leaves every file decryptable
//! (each is either as it was or done), and `ksec rekey` finishes the job.
//!
//! A data key is wrapped for someone only after it opened its file and the
//! values verified against the MAC; no value or key is ever printed.

use super::key_id;
use super::plan::{Action, Job};
use crate::crypto::sops::{EncryptedFile, Format, SopsError};
use crate::crypto::wrap::{Identity, Recipient};
use crate::error::sops_error;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::fsutil::read_text;
use crate::project::{Project, scaffold};
use std::collections::BTreeMap;
use std::path::Path;

/// Write ksec.yaml, then `.sops.yaml` derived from it.
pub fn write_project(project: &Project, new_text: &str, updated: &Project) -> Result<()> {
    fsutil::write_atomic(&project.file(), new_text.as_bytes(), 0o644)?;
    let sops_file = project.root.join(".sops.yaml");
    fsutil::write_atomic(&sops_file, scaffold::sops_yaml(updated).as_bytes(), 0o644)
}

/// What became of the jobs of a plan.
pub struct Outcome<'a> {
    /// (file, what was done), in plan order; a file found already done
    /// (a rerun after an interruption) is `Unchanged`.
    pub done: Vec<(String, Action)>,
    /// Files found already done.
    pub unchanged: usize,
    /// The jobs that failed, with why: those files are as they were.
    pub failures: Vec<(&'a Job<'a>, Error)>,
}

/// Do every job in parallel, each file written atomically. Fails before
/// anything is written only when a wanted key does not parse.
pub fn run<'a>(jobs: &'a [Job<'a>], identities: &[Identity]) -> Result<Outcome<'a>> {
    let recipients = recipients_for(jobs)?;
    let results = crate::parallel::map(jobs, |job| execute(job, identities, &recipients));
    let mut outcome = Outcome {
        done: Vec::new(),
        unchanged: 0,
        failures: Vec::new(),
    };
    for (job, result) in jobs.iter().zip(results) {
        match result {
            Ok(action) => {
                if action == Action::Unchanged {
                    outcome.unchanged += 1;
                }
                outcome.done.push((job.source.rel.clone(), action));
            }
            Err(e) => outcome.failures.push((job, e)),
        }
    }
    Ok(outcome)
}

/// Parsed wanted recipients, by key text, for every job.
fn recipients_for(jobs: &[Job]) -> Result<BTreeMap<String, Recipient>> {
    let mut out = BTreeMap::new();
    for job in jobs {
        for (name, key) in &job.source.access.wanted {
            if !out.contains_key(key) {
                let r = Recipient::parse(key)
                    .map_err(|why| Error::invalid(format!("recipient {name}: {why}")))?;
                out.insert(key.clone(), r);
            }
        }
    }
    Ok(out)
}

/// Do one job; returns what was done.
fn execute(
    job: &Job,
    identities: &[Identity],
    recipients: &BTreeMap<String, Recipient>,
) -> Result<Action> {
    let path = &job.source.path;
    // Held until the new text is renamed over the file, so a concurrent
    // `ksec set` is neither lost nor overwritten.
    let _lock = crate::lock::lock(path)?;
    let text = read_text(path)?;
    // errors name the file as the user knows it: relative to the project
    let shown = Path::new(&job.source.rel);
    let fail = |e: SopsError| sops_error(shown, e);
    let file = EncryptedFile::parse(&text, Format::of_encrypted(path, &text)).map_err(fail)?;
    let pick = |list: &[(String, String)]| -> Vec<(String, &Recipient)> {
        list.iter()
            .filter_map(|(_, key)| recipients.get(key).map(|r| (key.clone(), r)))
            .collect()
    };
    let new_text = match &job.action {
        Action::Unchanged => return Ok(Action::Unchanged),
        Action::Rewrap { add } => {
            // Only those still missing (a rerun after an interruption).
            let current: Vec<String> = file.recipients().iter().map(|k| key_id(k)).collect();
            let add: Vec<(String, String)> = add
                .iter()
                .filter(|(_, k)| !current.contains(&key_id(k)))
                .cloned()
                .collect();
            if add.is_empty() {
                return Ok(Action::Unchanged);
            }
            // Verify the values against the MAC with the key before wrapping
            // it for anyone: a file whose key does not open it is refused.
            let (mut file, key) = file.verified_key(identities).map_err(fail)?;
            file.add_recipients(&key, &pick(&add)).map_err(fail)?;
            file.emit_metadata_change(&text).map_err(fail)?
        }
        Action::Rotate { .. } => {
            let rotated = file
                .rotated(identities, &pick(&job.source.access.wanted))
                .map_err(fail)?;
            rotated.emit().map_err(fail)?
        }
    };
    fsutil::write_atomic(path, new_text.as_bytes(), 0o644)?;
    Ok(job.action.clone())
}
