//! Reading the versions of encrypted files from git: one `git log` for all
//! of them (and ksec.yaml, for the names recipients had), one `git cat-file
//! --batch` for the blobs, then each version parsed, decrypted in memory
//! with the caller's identities and reduced to fingerprints.
//!
//! Costs: every version of every file is decrypted once (an age unwrap and
//! the values' AES-GCM); nothing is cached, nothing is written. A rename
//! ends a file's history (git's rename following works for one path only);
//! versions are ordered by commit date, merges counted at the merge commit
//! (its first parent's diff) and at the commits they bring in.

use super::{FileHistory, Print, Version};
use crate::access::key_id;
use crate::crypto::sops::{EncryptedFile, Format};
use crate::crypto::tree::{Item, Leaf, Value};
use crate::crypto::wrap::Identity;
use crate::error::{Error, Result};
use crate::guard::git::Repo;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use zeroize::Zeroizing;

/// The keyed hash of plaintext values: its key is drawn from the OS for
/// this run, kept in memory only and wiped on drop, so a fingerprint says
/// nothing outside the run that made it.
pub struct Fingerprints {
    key: Zeroizing<[u8; 32]>,
}

impl Default for Fingerprints {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprints {
    pub fn new() -> Fingerprints {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, key.as_mut());
        Fingerprints { key }
    }

    /// HMAC-SHA-256 of the value's type and plaintext.
    pub fn of(&self, leaf: &Leaf) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_ref()).expect("any key length");
        mac.update(leaf.kind.tag().as_bytes());
        mac.update(&[0]);
        mac.update(leaf.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for Fingerprints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprints([redacted])")
    }
}

/// What the history of a project's encrypted files holds.
#[derive(Debug, Default)]
pub struct Histories {
    /// One per file asked for, in the same order.
    pub files: Vec<FileHistory>,
    /// Key → the name ksec.yaml gave it last (any version in git).
    pub names: BTreeMap<String, String>,
    /// Whether the project is in a git repository.
    pub in_git: bool,
}

/// The history of the files `rels` (relative to `root`, `/`-separated).
pub fn read(root: &Path, rels: &[String], identities: &[Identity]) -> Result<Histories> {
    let prints = Fingerprints::new();
    let in_git = root.ancestors().any(|d| d.join(".git").exists());
    let mut committed = Committed::new();
    let mut names = BTreeMap::new();
    if in_git {
        let repo = Repo::open(root)?;
        // a repository with no commit yet has no history (and `git log`
        // would fail)
        if repo.run(&["rev-parse", "--verify", "-q", "HEAD"]).is_err() {
            return finish(root, rels, identities, &prints, &committed, names, in_git);
        }
        // file names are names, not patterns (`*`, `:` in a name)
        let mut args = vec![
            "--literal-pathspecs",
            "log",
            "-z",
            "--format=%x01%H %ct %at",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--diff-merges=first-parent",
            "--",
            crate::project::FILE_NAME,
        ];
        args.extend(rels.iter().map(String::as_str));
        let log = repo.run(&args)?;
        let changes = parse_log(&log, &repo.prefix);
        // a version larger than a source may be is not read (a huge file
        // committed at its path): counted as not readable, as ksec would
        // not read it as a source either
        let sizes = repo.blob_sizes(changes.iter().map(|c| c.oid.as_str()))?;
        let small = |size: u64| size <= crate::fsutil::MAX_ENCRYPTED_SOURCE;
        let oids = changes
            .iter()
            .zip(&sizes)
            .filter(|(_, size)| small(**size))
            .map(|(c, _)| c.oid.as_str());
        let mut read = repo.read_blobs(oids)?.into_iter();
        let blobs: Vec<Option<Vec<u8>>> = sizes
            .iter()
            .map(|size| if small(*size) { read.next() } else { None })
            .collect();
        // newest first in the log: keep oldest first
        for (change, blob) in changes.iter().zip(blobs).rev() {
            if change.rel == crate::project::FILE_NAME {
                if let Some(blob) = blob {
                    names.extend(super::names_in(&String::from_utf8_lossy(&blob)));
                }
                continue;
            }
            committed.entry(change.rel.clone()).or_default().push((
                change.commit.clone(),
                change.time,
                blob,
            ));
        }
    }
    finish(root, rels, identities, &prints, &committed, names, in_git)
}

/// Committed versions of a file: (commit, date, bytes), oldest first; no
/// bytes for a version larger than a source may be.
type Committed = BTreeMap<String, Vec<(String, Timestamp, Option<Vec<u8>>)>>;

/// The histories from the committed versions and the working tree.
fn finish(
    root: &Path,
    rels: &[String],
    identities: &[Identity],
    prints: &Fingerprints,
    committed: &Committed,
    names: BTreeMap<String, String>,
    in_git: bool,
) -> Result<Histories> {
    let files = crate::parallel::map(rels, |rel| {
        let path = root.join(rel);
        let blobs = committed.get(rel).map(Vec::as_slice).unwrap_or_default();
        let mut versions: Vec<Version> = Vec::new();
        let mut unreadable = 0;
        let mut last_broken = None;
        for (commit, time, bytes) in blobs {
            let Some(bytes) = bytes else {
                unreadable += 1;
                last_broken = Some(Error::invalid(format!(
                    "{} is larger than {} bytes, the most an encrypted source may hold",
                    path.display(),
                    crate::fsutil::MAX_ENCRYPTED_SOURCE
                )));
                continue;
            };
            // a version committed broken (a bad merge) is counted, not guessed
            match version(
                &path,
                bytes,
                identities,
                prints,
                Some(commit.clone()),
                *time,
            ) {
                Ok(v) => {
                    versions.push(v);
                    last_broken = None;
                }
                Err(e) => {
                    unreadable += 1;
                    last_broken = Some(e);
                }
            }
        }
        let work = std::fs::read(&path).map_err(|e| Error::io("read", &path, &e))?;
        let same_as_head = blobs
            .last()
            .is_some_and(|(_, _, b)| b.as_deref() == Some(&work[..]));
        if !same_as_head {
            let time = lastmodified(&path, &work).unwrap_or(Timestamp::UNIX_EPOCH);
            // the file as it is now must be read: its last commit is not it
            versions.push(version(&path, &work, identities, prints, None, time)?);
        } else if let Some(e) = last_broken {
            // the file as it is now (as committed) is no SOPS file
            return Err(e);
        }
        Ok(FileHistory {
            rel: rel.clone(),
            versions,
            tracked: !blobs.is_empty(),
            unreadable,
        })
    });
    Ok(Histories {
        files: files.into_iter().collect::<Result<_>>()?,
        names,
        in_git,
    })
}

/// One file changed by one commit.
struct Change {
    commit: String,
    time: Timestamp,
    /// Relative to the project root.
    rel: String,
    oid: String,
}

/// `git log -z --format=%x01%H %ct %at --raw --no-abbrev`: each commit's header,
/// then `:<old mode> <new mode> <old oid> <new oid> <status>` and the path
/// (from the top of the repository). Deletions are skipped.
fn parse_log(out: &[u8], prefix: &str) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut head: Option<(String, Timestamp)> = None;
    let mut fields = out.split(|b| *b == 0);
    while let Some(field) = fields.next() {
        let field = String::from_utf8_lossy(field);
        let field = field.trim_start_matches('\n');
        if let Some(header) = field.strip_prefix('\u{1}') {
            let mut parts = header.split(' ');
            let commit = parts.next().unwrap_or_default().to_string();
            // the earlier of the committer and author dates: a rebase gives
            // a commit a new committer date, but its values are as old as
            // when they were written
            let time = parts
                .filter_map(|t| t.trim().parse::<i64>().ok())
                .filter_map(|t| Timestamp::from_second(t).ok())
                .min()
                .unwrap_or(Timestamp::UNIX_EPOCH);
            head = Some((commit, time));
        } else if let Some(meta) = field.strip_prefix(':') {
            let Some(path) = fields.next() else { break };
            let parts: Vec<&str> = meta.split(' ').collect();
            let (Some((commit, time)), [_, mode, _, oid, status, ..]) = (&head, parts.as_slice())
            else {
                continue;
            };
            if status.starts_with('D') || !(mode.starts_with("100")) {
                continue;
            }
            let path = String::from_utf8_lossy(path);
            let Some(rel) = path.strip_prefix(prefix) else {
                continue;
            };
            changes.push(Change {
                commit: commit.clone(),
                time: *time,
                rel: rel.to_string(),
                oid: oid.to_string(),
            });
        }
    }
    changes
}

/// The version in `bytes`, or why it is no SOPS file.
fn version(
    path: &Path,
    bytes: &[u8],
    identities: &[Identity],
    prints: &Fingerprints,
    commit: Option<String>,
    time: Timestamp,
) -> Result<Version> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Error::invalid(format!("{} is not UTF-8 text", path.display()))
            .hint("restore it from git, or encrypt it again with `ksec encrypt`")
    })?;
    let file = EncryptedFile::parse(text, Format::of_encrypted(path, text))
        .map_err(|e| crate::error::sops_error(path, e))?;
    let encrypted: BTreeSet<String> = file
        .encrypted_keys()
        .map_err(|e| crate::error::sops_error(path, e))?
        .into_iter()
        .collect();
    let recipients = file.recipients().iter().map(|r| key_id(r)).collect();
    let mut ciphers = BTreeMap::new();
    leaves(&file.body, &mut |shown, key, leaf| {
        if encrypted.contains(shown) {
            ciphers
                .entry(key)
                .or_insert_with(|| Sha256::digest(leaf.expose().as_bytes()).into());
        }
    });
    let mut plains = BTreeMap::new();
    let opened = match file.open_to_read(identities) {
        Ok(opened) => {
            leaves(&opened.plain, &mut |shown, key, leaf| {
                if encrypted.contains(shown) {
                    plains.entry(key).or_insert_with(|| prints.of(leaf));
                }
            });
            true
        }
        Err(_) => false,
    };
    let values = ciphers
        .into_iter()
        .map(|(key, cipher)| {
            let plain = plains.get(&key).copied();
            (key, Print { cipher, plain })
        })
        .collect();
    Ok(Version {
        commit,
        time,
        recipients,
        values,
        opened,
    })
}

/// The sops `lastmodified` of a file's text.
pub fn lastmodified(path: &Path, bytes: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(bytes).ok()?;
    let file = EncryptedFile::parse(text, Format::of_encrypted(path, text)).ok()?;
    crate::crypto::tree::get(&file.metadata, "lastmodified")?
        .as_str()?
        .parse()
        .ok()
}

/// Each leaf with its key path twice: as `encrypted_keys` names it (`a.b`,
/// `list[0]`), and as `ksec set` takes it (`KEY` at the top, else the sops
/// path `["a"]["b"]`, `["list"][0]`).
fn leaves(value: &Value, found: &mut dyn FnMut(&str, String, &Leaf)) {
    fn walk(
        value: &Value,
        shown: &str,
        path: &mut Vec<String>,
        found: &mut dyn FnMut(&str, String, &Leaf),
    ) {
        match value {
            Value::Null | Value::Comment(_) => {}
            Value::Leaf(leaf) => {
                let set = match path.as_slice() {
                    [one] if !one.starts_with('[') => one.clone(),
                    steps => steps
                        .iter()
                        .map(|s| {
                            if s.starts_with('[') {
                                s.clone()
                            } else {
                                // as `ksec set` reads it: no escapes
                                format!("[\"{s}\"]")
                            }
                        })
                        .collect(),
                };
                found(shown, set, leaf);
            }
            Value::Seq(items) => {
                let items = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
                for (i, v) in items.enumerate() {
                    path.push(format!("[{i}]"));
                    walk(v, &format!("{shown}[{i}]"), path, found);
                    path.pop();
                }
            }
            Value::Map(items) => {
                for item in items {
                    if let Item::Pair(key, v) = item {
                        let name = if shown.is_empty() {
                            key.clone()
                        } else {
                            format!("{shown}.{key}")
                        };
                        path.push(key.clone());
                        walk(v, &name, path, found);
                        path.pop();
                    }
                }
            }
        }
    }
    walk(value, "", &mut Vec::new(), found);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_gives_each_commit_its_changed_files_below_the_project() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let log = format!(
            "\u{1}c2 200 300\0\n:100644 100644 {a} {b} M\0sub/ns/s.enc.yaml\0:100644 000000 {a} {z} D\0sub/ns/gone.yaml\0\
             \u{1}c1 150 100\0\n:000000 100644 {z} {a} A\0sub/ns/s.enc.yaml\0:000000 100644 {z} {a} A\0other/x\0"
        );
        let changes = parse_log(log.as_bytes(), "sub/");
        let got: Vec<(&str, i64, &str, &str)> = changes
            .iter()
            .map(|c| {
                (
                    c.commit.as_str(),
                    c.time.as_second(),
                    c.rel.as_str(),
                    c.oid.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("c2", 200, "ns/s.enc.yaml", b.as_str()),
                ("c1", 100, "ns/s.enc.yaml", a.as_str()),
            ]
        );
    }

    #[test]
    fn key_paths_are_named_as_ksec_set_takes_them() {
        let text = "TOP: a\ntls.crt: b\ndb:\n  user: c\nhosts:\n  - d\n";
        let tree = crate::crypto::sops::parse_plain(text, Format::Yaml).unwrap();
        let mut seen = Vec::new();
        leaves(&tree, &mut |shown, set, _| {
            seen.push((shown.to_string(), set))
        });
        let pairs: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            pairs,
            vec![
                ("TOP", "TOP"),
                ("tls.crt", "tls.crt"),
                ("db.user", "[\"db\"][\"user\"]"),
                ("hosts[0]", "[\"hosts\"][0]"),
            ]
        );
    }

    #[test]
    fn a_file_as_it_is_now_that_is_no_sops_file_is_an_error_a_past_one_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let rel = "s.enc.yaml".to_string();
        let broken = b"<<<<<<< ours\nnot: [sops\n".to_vec();
        std::fs::write(dir.path().join(&rel), &broken).unwrap();
        let prints = Fingerprints::new();
        let run = |committed: &Committed| {
            finish(
                dir.path(),
                std::slice::from_ref(&rel),
                &[],
                &prints,
                committed,
                BTreeMap::new(),
                true,
            )
        };
        // not committed, or committed as it is: the file now is not readable
        for committed in [
            Committed::new(),
            Committed::from([(
                rel.clone(),
                vec![("c1".into(), Timestamp::UNIX_EPOCH, Some(broken.clone()))],
            )]),
        ] {
            let err = run(&committed).unwrap_err().to_string();
            assert!(err.contains("s.enc.yaml"), "{err}");
        }
    }

    #[test]
    fn fingerprints_differ_between_runs_and_by_type() {
        let (one, two) = (Fingerprints::new(), Fingerprints::new());
        let leaf = Leaf::str("hunter2");
        assert_eq!(one.of(&leaf), one.of(&leaf));
        assert_ne!(one.of(&leaf), two.of(&leaf));
        let mut int = Leaf::str("1");
        int.kind = crate::crypto::tree::Kind::Int;
        assert_ne!(one.of(&Leaf::str("1")), one.of(&int));
    }
}
