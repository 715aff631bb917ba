//! The edits of ksec.yaml behind `recipients add` and `recipients remove`:
//! checked against the project first, made with the comment-keeping
//! editor, and read back to confirm they did what they should.
//!
//! Computes the new text only; it writes nothing ([`super::apply`] does,
//! after the plan is made).

use super::files;
use super::{Cut, key_id, plural, short_key};
use crate::crypto::wrap::{self, Recipient};
use crate::error::{Code, Error, Result};
use crate::project::{Project, edit};

/// A checked edit of ksec.yaml.
pub struct Edit {
    /// The new text of ksec.yaml.
    pub new_text: String,
    /// The project it describes.
    pub updated: Project,
    /// What it does: `carol (age1…) to ksec.yaml: recipients, groups.team`.
    pub headline: String,
}

/// Who `recipients add` adds, and where.
pub struct Addition<'a> {
    pub name: &'a str,
    /// The public key, trimmed.
    pub key: &'a str,
    pub group: Option<&'a str>,
    pub namespaces: &'a [String],
    /// Every namespace (`--all`).
    pub all: bool,
}

/// ksec.yaml with recipient `add.name` added (to its group and namespaces).
pub fn add(project: &Project, add: &Addition) -> Result<Edit> {
    let name = add.name;
    let key = add.key;
    Recipient::parse(key).map_err(|why| {
        Error::invalid(format!("the key for {name} is {why}"))
            .hint("pass the public key: the age1… line `ksec keygen` prints, or an SSH public key (ssh-ed25519 …)")
    })?;
    check_recipient_name(project, name)?;
    if let Some(other) = same_key(project, key) {
        return Err(Error::invalid(format!(
            "that key is already in ksec.yaml as recipient {other}"
        ))
        .hint(format!(
            "one key, one name: give {other} access where you need it (its group or namespaces)"
        )));
    }
    let targets: Vec<String> = if add.all {
        project.namespaces.keys().cloned().collect()
    } else {
        let mut out: Vec<String> = Vec::new();
        for ns in add.namespaces {
            super::known_namespace(project, ns)?;
            if !out.contains(ns) {
                out.push(ns.clone());
            }
        }
        out
    };
    if let Some(group) = add.group
        && !project.groups.contains_key(group)
    {
        let hint = if project.recipients.contains_key(group) {
            format!(
                "{group} is a recipient, not a group; groups: {}",
                names_or_none(project.groups.keys())
            )
        } else {
            format!(
                "groups: {}; create it in ksec.yaml under `groups:` first, or use -n NAMESPACE",
                names_or_none(project.groups.keys())
            )
        };
        return Err(Error::not_found(format!("no group {group} in ksec.yaml")).hint(hint));
    }

    let file = project.file();
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, &e))?;
    let edit_error = |e: edit::EditError| {
        Error::invalid(format!(
            "cannot add recipient {name} to {}: {e}",
            file.display()
        ))
        .hint("add it by hand, then run `ksec rekey`")
    };
    let mut new_text = edit::add_recipient(&text, name, key).map_err(edit_error)?;
    let mut places = vec!["recipients".to_string()];
    if let Some(group) = add.group {
        new_text = edit::add_to_group(&new_text, group, name).map_err(edit_error)?;
        places.push(format!("groups.{group}"));
    }
    for ns in &targets {
        new_text = edit::add_to_namespace(&new_text, ns, name).map_err(edit_error)?;
        places.push(format!("namespaces.{ns}.recipients"));
    }
    let updated = Project::parse(&project.root, &new_text)?;
    let in_place = updated.recipients.get(name).map(String::as_str) == Some(key)
        && add
            .group
            .is_none_or(|g| updated.groups[g].iter().any(|m| m == name))
        && targets
            .iter()
            .all(|ns| updated.namespaces[ns].recipients.iter().any(|r| r == name));
    if !in_place {
        return Err(Error::new(
            Code::Unexpected,
            format!(
                "the edit of {} did not add {name} where it should; nothing was written",
                file.display(),
            ),
        )
        .hint("add it by hand and run `ksec rekey`; please report this"));
    }
    let headline = format!(
        "{name} ({}) to ksec.yaml: {}",
        short_key(key, Cut::Ends),
        places.join(", ")
    );
    Ok(Edit {
        new_text,
        updated,
        headline,
    })
}

/// A recipient name: letters, digits, `-`, `_`, `.`, starting with a letter
/// or digit, at most 63; not something that reads as a key.
fn check_recipient_name(project: &Project, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !wrap::looks_like_key(name);
    if !valid {
        return Err(Error::invalid(format!(
            "{name:?} is not a valid recipient name: use letters, digits, '-', '_' and '.', starting with a letter or digit, at most 63 characters"
        ))
        .hint("for example --name carol or --name ci-prod"));
    }
    if project.recipients.contains_key(name) {
        return Err(
            Error::invalid(format!("recipient {name} is already in ksec.yaml")).hint(format!(
                "choose another name, or `ksec recipients remove {name}` first"
            )),
        );
    }
    if project.groups.contains_key(name) {
        return Err(
            Error::invalid(format!("{name} is already a group in ksec.yaml"))
                .hint("recipients and groups share one set of names; choose another name"),
        );
    }
    Ok(())
}

/// The key of recipient `name`, and ksec.yaml with every mention of it
/// removed.
pub fn remove(project: &Project, name: &str) -> Result<(String, Edit)> {
    let Some(key) = project.recipients.get(name).cloned() else {
        let err = Error::not_found(format!("no recipient {name} in ksec.yaml"));
        let stale = files::scan(project)
            .map(|s| s.iter().filter(|s| !s.access.extra().is_empty()).count())
            .unwrap_or(0);
        return Err(if stale > 0 {
            err.hint(format!(
                "{stale} encrypted file{} still list{} recipients ksec.yaml no longer wants (an interrupted removal?): run `ksec rekey` to finish",
                plural(stale),
                if stale == 1 { "s" } else { "" }
            ))
        } else {
            err.hint(format!(
                "recipients in ksec.yaml: {}",
                names_or_none(project.recipients.keys())
            ))
        });
    };
    let file = project.file();
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, &e))?;
    let (new_text, lists) = edit::remove_recipient(&text, name).map_err(|e| {
        Error::invalid(format!(
            "cannot remove recipient {name} from {}: {e}",
            file.display()
        ))
        .hint("remove it by hand, then run `ksec rekey`")
    })?;
    let updated = Project::parse(&project.root, &new_text)?;
    let mentioned = |list: &Vec<String>| list.iter().any(|m| m == name);
    let gone = !updated.recipients.contains_key(name)
        && !updated.groups.values().any(mentioned)
        && !updated
            .namespaces
            .values()
            .any(|ns| mentioned(&ns.recipients))
        && !updated
            .environments
            .values()
            .any(|env| mentioned(&env.recipients));
    if !gone {
        return Err(Error::new(
            Code::Unexpected,
            format!(
                "the edit of {} did not remove every mention of {name}; nothing was written",
                file.display()
            ),
        )
        .hint("remove it by hand and run `ksec rekey`; please report this"));
    }
    let mut places = vec!["recipients".to_string()];
    places.extend(lists);
    let headline = format!(
        "{name} ({}) from ksec.yaml: {}",
        short_key(&key, Cut::Ends),
        places.join(", ")
    );
    let edit = Edit {
        new_text,
        updated,
        headline,
    };
    Ok((key, edit))
}

/// Another recipient of `project` with the same key as `key`.
pub fn same_key<'a>(project: &'a Project, key: &str) -> Option<&'a str> {
    project
        .recipients
        .iter()
        .find(|(_, k)| key_id(k) == key_id(key))
        .map(|(name, _)| name.as_str())
}

pub(super) fn names_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&str> = names.map(String::as_str).collect();
    if all.is_empty() {
        "(none)".into()
    } else {
        all.join(", ")
    }
}
