//! The words for a plan and for what became of it: one line per changed
//! file (`rewrapped  FILE  +carol`), a summary, the secrets removed
//! recipients could read (by name), and the errors that say how to finish.
//!
//! Text only: the command lays the rows out and prints it. Names of keys and values, never a
//! value.

use super::files::Exposed;
use super::plan::{Action, Job, Source};
use super::{Names, plural};
use crate::error::{Code, Error};

/// `+carol`, `-bob +carol`.
fn change_text(action: &Action, names: &Names) -> String {
    match action {
        Action::Unchanged => String::new(),
        Action::Rewrap { add } => add
            .iter()
            .map(|(n, _)| format!("+{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        Action::Rotate { removed, added } => removed
            .iter()
            .map(|k| format!("-{}", names.of(k)))
            .chain(added.iter().map(|n| format!("+{n}")))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The lines for the changed files, as table rows, then the summary.
pub struct Lines {
    pub rows: Vec<[String; 3]>,
    pub summary: String,
}

/// The per-file lines and the summary, for a plan (`dry`) or a result.
pub fn files(
    done: &[(String, Action)],
    names: &Names,
    dry: bool,
    unchanged: usize,
    failed: usize,
) -> Lines {
    let mut rows = Vec::new();
    let (mut rewrapped, mut rotated) = (0, 0);
    for (rel, action) in done {
        let verb = match action {
            Action::Unchanged => continue,
            Action::Rewrap { .. } => {
                rewrapped += 1;
                if dry { "would rewrap" } else { "rewrapped" }
            }
            Action::Rotate { .. } => {
                rotated += 1;
                if dry { "would rotate" } else { "rotated" }
            }
        };
        rows.push([verb.to_string(), rel.clone(), change_text(action, names)]);
    }
    if rewrapped + rotated + failed == 0 {
        let summary = format!(
            "every encrypted file matches ksec.yaml ({unchanged} file{})\n",
            plural(unchanged)
        );
        return Lines { rows, summary };
    }
    let mut parts = Vec::new();
    if rewrapped > 0 {
        parts.push(format!(
            "{rewrapped} rewrapped (data key wrapped for new recipients, values unchanged)"
        ));
    }
    if rotated > 0 {
        parts.push(format!(
            "{rotated} rotated (new data key, every value re-encrypted)"
        ));
    }
    parts.push(format!("{unchanged} unchanged"));
    if failed > 0 {
        parts.push(format!("{failed} failed (below)"));
    }
    let summary = format!("{}{}\n", if dry { "plan: " } else { "" }, parts.join(", "));
    Lines { rows, summary }
}

/// The secrets the removed recipients could read, per file (names only).
pub fn exposure(exposed: &[Exposed], who: Option<&str>, dry: bool) -> String {
    if exposed.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let could = if dry { "can" } else { "could" };
    match who {
        Some(name) => out.push_str(&format!(
            "\n{name} {could} read these secrets; rotate them at their source (new passwords, tokens, keys), then `ksec set` the new values:\n"
        )),
        None => out.push_str(&format!(
            "\nthe removed recipients {could} read these secrets; rotate them at their source (new passwords, tokens, keys), then `ksec set` the new values:\n"
        )),
    }
    for e in exposed {
        let by = if who.is_some() {
            String::new()
        } else {
            format!(" (read by {})", e.removed.join(", "))
        };
        let keys = if e.secrets.is_empty() {
            "(no encrypted values)".to_string()
        } else {
            e.secrets.join(", ")
        };
        out.push_str(&format!("  {}{by}: {keys}\n", e.rel));
    }
    out
}

/// One error for the files that could not be changed, saying how to finish.
pub fn failed(failures: &[(&Job, Error)]) -> Error {
    let code = failures
        .iter()
        .map(|(_, e)| e.code)
        .find(|c| matches!(c, Code::Decrypt | Code::Integrity))
        .unwrap_or(failures[0].1.code);
    let count = failures.len();
    let mut err = Error::new(
        code,
        format!(
            "{count} encrypted file{} could not be changed",
            plural(count)
        ),
    );
    for (_, e) in failures {
        err = err.detail(e.message.clone());
    }
    let still_readable = failures
        .iter()
        .any(|(job, _)| matches!(job.action, Action::Rotate { .. }));
    let hint = if still_readable {
        "the other files are done; the files above keep their old data key and recipients (so whoever was removed can still read them) and decrypt as before. Fix the cause, or ask someone who can decrypt them, then run `ksec rekey` to finish"
    } else {
        "the other files are done; the files above keep their recipients and decrypt as before. Fix the cause, or ask someone who can decrypt them, then run `ksec rekey` to finish"
    };
    err.hint(hint)
}

/// Files of namespaces that have no recipients, which `rekey` left alone.
pub fn refused(refused: &[&Source]) -> Option<Error> {
    if refused.is_empty() {
        return None;
    }
    let mut err = Error::invalid(format!(
        "{} encrypted file{} left as {}: {} namespace has no recipients in ksec.yaml",
        refused.len(),
        plural(refused.len()),
        if refused.len() == 1 {
            "it is"
        } else {
            "they are"
        },
        if refused.len() == 1 { "its" } else { "their" },
    ));
    for s in refused {
        err = err.detail(format!("{} (namespace {})", s.rel, s.namespace));
    }
    Some(err.hint("give the namespace a recipient in ksec.yaml (ksec recipients add KEY --name NAME -n NAMESPACE), then run `ksec rekey`"))
}

/// Removing `name` would leave `source` readable by nobody.
pub fn last_reader(name: &str, source: &Source) -> Error {
    Error::invalid(format!(
        "removing {name} would leave namespace {} with no recipients, and {} readable by nobody; nothing was changed",
        source.namespace, source.rel
    ))
    .hint(format!(
        "first give the namespace another recipient: `ksec recipients add KEY --name NAME -n {}`",
        source.namespace
    ))
}

/// The note on the other files that do not match ksec.yaml.
pub fn out_of_sync(count: usize) -> Option<String> {
    (count > 0).then(|| format!(
        "note: {count} other encrypted file{} do{} not match ksec.yaml; `ksec rekey --dry-run` shows them, `ksec rekey` updates them",
        plural(count),
        if count == 1 { "es" } else { "" }
    ))
}

/// The note on temporary files left by an interrupted write.
pub fn leftovers(rels: &[String]) -> Option<String> {
    (!rels.is_empty()).then(|| format!(
        "note: {} temporary file{} left by an interrupted write (ignored; safe to delete once no ksec runs): {}",
        rels.len(),
        plural(rels.len()),
        rels.join(", ")
    ))
}
