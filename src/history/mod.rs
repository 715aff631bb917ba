//! The history of each encrypted source: its versions in git (and the
//! working tree's file, the newest), each with its recipients and a
//! fingerprint per value; from them, who could once read each value still
//! current but cannot read the file today (`access --exposed`, `recipients
//! remove`), and since when the value is what it is (`check --rotation`).
//!
//! No secret material is kept: a value's fingerprint is an HMAC of its
//! plaintext under a key drawn for this run and held in memory only
//! ([`read::Fingerprints`]), next to the hash of its ciphertext (public, in
//! git already). Two versions hold the same value when their ciphertexts
//! are equal (ksec keeps a value's ciphertext while the data key stays) or
//! their plaintext fingerprints are; a version the caller cannot decrypt is
//! compared by ciphertext only, and the report says so: never a guess.
//!
//! This file is pure (the analysis over [`Version`]s); [`read`] gathers
//! them through the git CLI and decrypts with the caller's identities.

pub mod read;
pub mod report;
pub mod rotation;

use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// A value's fingerprint in one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Print {
    /// SHA-256 of its `ENC[…]` text.
    pub cipher: [u8; 32],
    /// HMAC-SHA-256 of its type and plaintext under this run's key, when the
    /// version could be decrypted.
    pub plain: Option<[u8; 32]>,
}

impl Print {
    /// Whether two versions hold the same value: `None` when it cannot be
    /// told (different ciphertexts, and one of them not decrypted).
    pub fn same(&self, other: &Print) -> Option<bool> {
        if self.cipher == other.cipher {
            return Some(true);
        }
        match (&self.plain, &other.plain) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        }
    }
}

/// One version of an encrypted file.
#[derive(Clone, Debug)]
pub struct Version {
    /// The commit, or `None` for the working tree's file.
    pub commit: Option<String>,
    /// The commit's date (the earlier of its author and committer dates),
    /// or the working tree file's sops `lastmodified`.
    pub time: Timestamp,
    /// The age recipients of its data key (as [`crate::access::key_id`]).
    pub recipients: BTreeSet<String>,
    /// Encrypted key path (as `ksec set` takes it: `KEY`, `["a"]["b"]`)
    /// → fingerprint.
    pub values: BTreeMap<String, Print>,
    /// Whether the caller's identities decrypted it.
    pub opened: bool,
}

/// A file's versions, oldest first; the last one is the file as it is now.
#[derive(Clone, Debug)]
pub struct FileHistory {
    /// Relative to the project root.
    pub rel: String,
    pub versions: Vec<Version>,
    /// Whether git knows the file (else the working tree is all there is).
    pub tracked: bool,
    /// Committed versions that are no SOPS file ksec can read (a broken
    /// merge committed, then repaired): not compared with any value.
    pub unreadable: usize,
}

/// A value still current, and its past.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValuePast {
    /// The key path, as `ksec set` takes it (`DB_PASSWORD`, `["db"]["password"]`).
    pub key: String,
    /// When the value first appeared: the oldest version holding it.
    pub since: Timestamp,
    /// The commit of that version (`None`: the working tree).
    pub since_commit: Option<String>,
    /// Older versions it could not be compared with (not decryptable by the
    /// caller, another ciphertext): the value may be older, and readers of
    /// those versions are not counted.
    pub unknown: usize,
    /// Those who could decrypt a version holding this value and cannot
    /// decrypt the current file.
    pub exposed: Vec<Exposure>,
}

/// A recipient who may hold a current value without access to it today.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposure {
    /// The key (as [`crate::access::key_id`]).
    pub key: String,
    /// The first version holding this value that was encrypted to the key.
    pub since: Timestamp,
    /// When the key lost access: the first version after the last one
    /// encrypted to it (`None`: it loses it now, in this very run).
    pub lost: Option<Timestamp>,
    /// Whether that version is the working tree's file, not committed yet.
    pub lost_uncommitted: bool,
}

/// The current values of a file and their past. `gone` are keys to count as
/// no longer recipients of the current version (a removal planned or just
/// done, whose file is not written yet).
pub fn pasts(history: &FileHistory, gone: &BTreeSet<String>) -> Vec<ValuePast> {
    let Some((current, older)) = history.versions.split_last() else {
        return Vec::new();
    };
    let readers_now: BTreeSet<&String> = current
        .recipients
        .iter()
        .filter(|k| !gone.contains(*k))
        .collect();
    let mut out = Vec::new();
    for (key, print) in &current.values {
        let mut since = (current.time, current.commit.clone());
        // a version that could not be read may have held it too
        let mut unknown = history.unreadable;
        // key -> first version with this value encrypted to it
        let mut readers: BTreeMap<&String, Timestamp> = BTreeMap::new();
        for v in older {
            match v.values.get(key).map(|p| p.same(print)) {
                Some(Some(true)) => {
                    if v.time < since.0 {
                        since = (v.time, v.commit.clone());
                    }
                    note(v, &mut readers);
                }
                Some(None) => unknown += 1,
                Some(Some(false)) | None => {}
            }
        }
        note(current, &mut readers);
        let exposed = readers
            .into_iter()
            .filter(|(k, _)| !readers_now.contains(k))
            .map(|(k, first)| {
                let lost = lost_access(&history.versions, k);
                Exposure {
                    key: k.clone(),
                    since: first,
                    lost: lost.map(|v| v.time),
                    lost_uncommitted: lost.is_some_and(|v| v.commit.is_none()),
                }
            })
            .collect();
        out.push(ValuePast {
            key: key.clone(),
            since: since.0,
            since_commit: since.1,
            unknown,
            exposed,
        });
    }
    out
}

/// Count the recipients of `v` as readers since its time (the earliest).
fn note<'a>(v: &'a Version, readers: &mut BTreeMap<&'a String, Timestamp>) {
    for r in &v.recipients {
        let t = readers.entry(r).or_insert(v.time);
        if v.time < *t {
            *t = v.time;
        }
    }
}

/// The first version after the last one encrypted to `key`; `None` when
/// the newest version is (the key is being removed now).
fn lost_access<'a>(versions: &'a [Version], key: &str) -> Option<&'a Version> {
    let last = versions.iter().rposition(|v| v.recipients.contains(key))?;
    versions.get(last + 1)
}

/// Key → name from a ksec.yaml's `recipients:` (a historical version, read
/// loosely: any other field, even one today's schema refuses, is ignored).
pub fn names_in(text: &str) -> BTreeMap<String, String> {
    #[derive(serde::Deserialize)]
    struct Loose {
        #[serde(default)]
        recipients: BTreeMap<String, String>,
    }
    match serde_saphyr::from_str::<Loose>(text) {
        Ok(loose) => loose
            .recipients
            .into_iter()
            .map(|(name, key)| (crate::access::key_id(&key), name))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests;
