//! The exposure list as `access --exposed` and `recipients remove` print
//! it: per value still current, who could decrypt it once and cannot
//! today, since when, and the command that rotates it. Names, dates and
//! key paths only: never a value.

use super::read::Histories;
use super::{ValuePast, pasts};
use crate::access::{Cut, Names, short_key};
use jiff::Timestamp;
use std::collections::BTreeSet;

/// A value someone who lost access may still hold.
#[derive(Clone, Debug)]
pub struct ExposedValue {
    /// The file, relative to the project root.
    pub file: String,
    pub key: String,
    /// When the value first appeared.
    pub value_since: Timestamp,
    pub readers: Vec<Reader>,
    /// Older versions it could not be compared with.
    pub unknown: usize,
}

/// One of them.
#[derive(Clone, Debug)]
pub struct Reader {
    /// ksec.yaml's name (today's, else the last one git remembers), else
    /// the shortened key.
    pub name: String,
    pub key: String,
    pub since: Timestamp,
    /// `None`: loses access in this run.
    pub lost: Option<Timestamp>,
    /// Lost in the working tree's file, not committed yet.
    pub lost_uncommitted: bool,
}

/// The exposed values of the histories, for the readers `only` keeps
/// (a key), counting `gone` as removed from the current files.
pub fn exposed(
    histories: &Histories,
    names: &Names,
    gone: &BTreeSet<String>,
    only: impl Fn(&str) -> bool,
) -> Vec<ExposedValue> {
    let mut out = Vec::new();
    for file in &histories.files {
        for ValuePast {
            key,
            since,
            unknown,
            exposed,
            ..
        } in pasts(file, gone)
        {
            let readers: Vec<Reader> = exposed
                .into_iter()
                .filter(|e| only(&e.key))
                .map(|e| Reader {
                    name: name_of(histories, names, &e.key),
                    key: e.key,
                    since: e.since,
                    lost: e.lost,
                    lost_uncommitted: e.lost_uncommitted,
                })
                .collect();
            if !readers.is_empty() {
                out.push(ExposedValue {
                    file: file.rel.clone(),
                    key,
                    value_since: since,
                    readers,
                    unknown,
                });
            }
        }
    }
    out
}

/// Today's name of a key, else the last name git remembers, else the key
/// shortened.
pub fn name_of(histories: &Histories, names: &Names, key: &str) -> String {
    names
        .name(key)
        .or_else(|| histories.names.get(key).map(String::as_str))
        .map_or_else(|| short_key(key, Cut::Ends), str::to_string)
}

/// The command that rotates a value (its new value generated, never shown).
pub fn rotate_command(file: &str, key: &str) -> String {
    format!("ksec set {} {} --generate", quoted(file), quoted(key))
}

/// `text` quoted for a POSIX shell when it needs it (a key path always).
fn quoted(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-".contains(c);
    if !text.is_empty() && text.chars().all(plain) && text.contains('/') {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// A date as the tables show it (UTC day).
pub fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

/// The table rows (header first) and the rotate commands, one per value.
pub fn rows(values: &[ExposedValue]) -> (Vec<[String; 6]>, Vec<String>) {
    let mut rows = vec![
        [
            "FILE",
            "KEY",
            "VALUE SINCE",
            "RECIPIENT",
            "ACCESS FROM",
            "LOST ACCESS",
        ]
        .map(String::from),
    ];
    let mut commands = Vec::new();
    for v in values {
        for r in &v.readers {
            rows.push([
                v.file.clone(),
                v.key.clone(),
                day(v.value_since),
                r.name.clone(),
                day(r.since),
                match r.lost {
                    None => "now".to_string(),
                    Some(t) if r.lost_uncommitted => format!("{} (uncommitted)", day(t)),
                    Some(t) => day(t),
                },
            ]);
        }
        commands.push(rotate_command(&v.file, &v.key));
    }
    (rows, commands)
}

/// The list as JSON: one object per value.
pub fn json(values: &[ExposedValue]) -> serde_json::Value {
    let stamp = |t: Timestamp| serde_json::Value::String(t.to_string());
    serde_json::Value::Array(
        values
            .iter()
            .map(|v| {
                serde_json::json!({
                    "file": v.file,
                    "key": v.key,
                    "valueSince": stamp(v.value_since),
                    "uncomparedVersions": v.unknown,
                    "recipients": v.readers.iter().map(|r| serde_json::json!({
                        "name": r.name,
                        "key": r.key,
                        "since": stamp(r.since),
                        "lostAccess": r.lost.map(stamp),
                        "lostUncommitted": r.lost_uncommitted,
                    })).collect::<Vec<_>>(),
                    "rotate": rotate_command(&v.file, &v.key),
                })
            })
            .collect(),
    )
}

/// Notes for stderr: files whose older versions the caller could not
/// decrypt (compared by ciphertext only), and a project outside git.
pub fn notes(histories: &Histories) -> Vec<String> {
    let mut notes = Vec::new();
    if !histories.in_git {
        notes.push(
            "note: the project is not in a git repository: only the files as they are now were read, so no past reader can be found".to_string(),
        );
    }
    for f in &histories.files {
        if f.unreadable > 0 {
            notes.push(format!(
                "note: {n} version{s} of {} {is} no SOPS file ksec can read (committed broken): not compared, so a value there may be today's without ksec knowing (its past readers and age are then not counted)",
                f.rel,
                n = f.unreadable,
                s = if f.unreadable == 1 { "" } else { "s" },
                is = if f.unreadable == 1 { "is" } else { "are" },
            ));
        }
        let closed = f.versions.iter().filter(|v| !v.opened).count();
        if closed > 0 {
            notes.push(format!(
                "note: {closed} version{} of {} could not be decrypted with your identity: compared by ciphertext only, so a value there may be today's without ksec knowing (its past readers and age are then not counted; ask someone who can read them to run this too)",
                if closed == 1 { "" } else { "s" },
                f.rel
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rotate_command_quotes_what_the_shell_would_split() {
        assert_eq!(
            rotate_command("ns/app/db.enc.yaml", "DB_PASSWORD"),
            "ksec set ns/app/db.enc.yaml 'DB_PASSWORD' --generate"
        );
        assert_eq!(
            rotate_command("ns/a b.enc.env", "it's"),
            "ksec set 'ns/a b.enc.env' 'it'\\''s' --generate"
        );
    }
}
