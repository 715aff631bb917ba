//! Who can decrypt what: the recipients of ksec.yaml, the namespaces each
//! can read, and how the encrypted files follow ksec.yaml.
//!
//! ksec.yaml says who may read each namespace; the encrypted files follow
//! it. [`plan`] decides, without I/O, which files gain or lose which
//! recipients and which need a new data key; [`change`] edits ksec.yaml for
//! `recipients add|remove`; [`files`] finds the encrypted files and
//! [`apply`] rewrites them (in parallel, each atomically); [`report`] says
//! what was (or would be) done. The guard's recipient check uses the same
//! comparison as the plan ([`plan::Access`]).
//!
//! This module never prints a secret value, nor the secret data key: only
//! recipient names, shortened public keys and the names of encrypted values.

pub mod apply;
pub mod change;
pub mod files;
pub mod plan;
pub mod report;

use crate::error::{Error, Result};
use crate::project::Project;
use std::collections::BTreeMap;

/// What identifies a key: an age recipient as it is; an SSH key by its type
/// and body, without the comment.
pub fn key_id(key: &str) -> String {
    let key = key.trim();
    if key.starts_with("age1") {
        return key.to_string();
    }
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// How much of a key [`short_key`] keeps. The two places that print short
/// keys have always printed them differently, and tests pin both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Both ends, `age1qyqszqgpqy…q8s7kw`: enough to tell keys apart in a
    /// table (`recipients list`, the headline and changes of `recipients`
    /// and `rekey`).
    Ends,
    /// The start, `age1qyqszqgpqy…`: an unknown key in a finding of
    /// `ksec check`.
    Start,
}

/// A public key shortened for a message. As for [`key_id`], an age
/// recipient is one word and an SSH key keeps its type and loses its
/// comment; the key itself is cut as `cut` says, unless too little of it
/// would go.
pub fn short_key(key: &str, cut: Cut) -> String {
    let key = key.trim();
    let (prefix, body) = match key.split_once(' ') {
        Some((kind, rest)) if !key.starts_with("age1") => (
            format!("{kind} "),
            rest.split_whitespace().next().unwrap_or(""),
        ),
        _ => (String::new(), key),
    };
    // (kept at the start, kept at the end, the fewest characters cut)
    let (keep_start, keep_end, least_cut) = match cut {
        Cut::Ends if prefix.is_empty() => (12, 6, 2),
        Cut::Ends => (8, 6, 2),
        Cut::Start => (12, 0, 1),
    };
    let chars: Vec<char> = body.chars().collect();
    if chars.len() < keep_start + keep_end + least_cut {
        return format!("{prefix}{body}");
    }
    let start: String = chars[..keep_start].iter().collect();
    let end: String = chars[chars.len() - keep_end..].iter().collect();
    format!("{prefix}{start}…{end}")
}

/// Names for keys in messages: from ksec.yaml (before and after a change).
pub struct Names(BTreeMap<String, String>);

impl Names {
    /// The first name (by name order) of each key in these projects.
    pub fn new(projects: &[&Project]) -> Names {
        let mut map = BTreeMap::new();
        for p in projects {
            for (name, key) in &p.recipients {
                map.entry(key_id(key)).or_insert_with(|| name.clone());
            }
        }
        Names(map)
    }

    /// The recipient name of `key`, if ksec.yaml knows it.
    pub fn name(&self, key: &str) -> Option<&str> {
        self.0.get(&key_id(key)).map(String::as_str)
    }

    /// Its name, else the shortened key.
    pub fn of(&self, key: &str) -> String {
        self.name(key)
            .map_or_else(|| short_key(key, Cut::Ends), str::to_string)
    }
}

/// A recipient of ksec.yaml, as `recipients list` shows it.
pub struct Member {
    pub name: String,
    pub key: String,
    /// The groups it is in.
    pub groups: Vec<String>,
    /// The namespaces it can read, see [`readable`].
    pub namespaces: Vec<(String, Option<String>)>,
}

/// Every recipient of ksec.yaml, by name.
pub fn members(project: &Project) -> Vec<Member> {
    project
        .recipients
        .iter()
        .map(|(name, key)| Member {
            name: name.clone(),
            key: key.clone(),
            groups: project
                .groups
                .iter()
                .filter(|(_, members)| members.contains(name))
                .map(|(g, _)| g.clone())
                .collect(),
            namespaces: readable(project, name),
        })
        .collect()
}

/// The recipients who can read any of `namespaces`, each with only those
/// namespaces (every recipient, with all it reads, when `namespaces` is
/// empty): `recipients list -n`. A namespace not in ksec.yaml is an error.
pub fn members_reading(project: &Project, namespaces: &[String]) -> Result<Vec<Member>> {
    for ns in namespaces {
        known_namespace(project, ns)?;
    }
    let mut out = members(project);
    if !namespaces.is_empty() {
        for m in &mut out {
            m.namespaces.retain(|(ns, _)| namespaces.contains(ns));
        }
        out.retain(|m| !m.namespaces.is_empty());
    }
    Ok(out)
}

/// `ns` is a namespace of ksec.yaml, or an error listing those it has.
fn known_namespace(project: &Project, ns: &str) -> Result<()> {
    if project.namespaces.contains_key(ns) {
        return Ok(());
    }
    Err(
        Error::not_found(format!("no namespace {ns} in ksec.yaml")).hint(format!(
            "namespaces: {}",
            change::names_or_none(project.namespaces.keys())
        )),
    )
}

/// The namespaces recipient `name` can read: directly or through a group
/// (`None`), or as the CI key of one of the namespace's environments.
pub fn readable(project: &Project, name: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for ns in project.namespaces.values() {
        if ns.recipients.iter().any(|r| r == name) {
            out.push((ns.name.clone(), None));
        } else if let Some(env) = ns.environments.iter().find(|e| {
            project
                .environments
                .get(*e)
                .is_some_and(|env| env.recipients.iter().any(|r| r == name))
        }) {
            out.push((ns.name.clone(), Some(env.clone())));
        }
    }
    out
}

/// `s` for a count other than one.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn short_keys_keep_both_ends_in_tables() {
        assert_eq!(short_key(AGE, Cut::Ends), "age1ql3z7hjy…mcac8p");
        assert_eq!(
            short_key(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB1VHtZ6U3Pg bob@laptop",
                Cut::Ends
            ),
            "ssh-ed25519 AAAAC3Nz…Z6U3Pg"
        );
        assert_eq!(short_key("age1short", Cut::Ends), "age1short");
        let nineteen = "age1abcdefghijklmno";
        assert_eq!(short_key(nineteen, Cut::Ends), nineteen);
        assert_eq!(
            short_key("age1abcdefghijklmnop", Cut::Ends),
            "age1abcdefgh…klmnop"
        );
    }

    #[test]
    fn short_keys_keep_the_start_in_findings() {
        assert_eq!(short_key(AGE, Cut::Start), "age1ql3z7hjy…");
        assert_eq!(
            short_key(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW alice@laptop",
                Cut::Start
            ),
            "ssh-ed25519 AAAAC3NzaC1l…"
        );
        assert_eq!(short_key("age1short", Cut::Start), "age1short");
        assert_eq!(short_key("age1abcdefgh", Cut::Start), "age1abcdefgh");
        assert_eq!(short_key("age1abcdefghi", Cut::Start), "age1abcdefgh…");
    }

    #[test]
    fn ssh_keys_match_without_their_comment() {
        assert_eq!(
            key_id("ssh-ed25519 AAAAC3Nz bob@laptop"),
            key_id("ssh-ed25519 AAAAC3Nz  other-comment")
        );
        assert_ne!(key_id("age1aaa"), key_id("age1aab"));
    }

    #[test]
    fn names_come_from_ksec_yaml_else_the_short_key() {
        let text = format!(
            "version: 1\nrecipients:\n  bob: {AGE}\n  alice: {AGE}\nnamespaces:\n  payments:\n    recipients: [alice]\n"
        );
        let project = Project::parse(std::path::Path::new("/p"), &text).unwrap();
        let names = Names::new(&[&project]);
        assert_eq!(names.name(AGE), Some("alice"), "the first by name");
        assert_eq!(
            names.of("age1zzzzzzzzzzzzzzzzzzzzzzzz"),
            "age1zzzzzzzz…zzzzzz"
        );
        let members = members(&project);
        assert_eq!(members[0].name, "alice");
        assert_eq!(members[0].namespaces, vec![("payments".into(), None)]);
        assert!(members[1].namespaces.is_empty());
    }
}
