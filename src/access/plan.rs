//! The plan: for each encrypted file, the recipients it has against those
//! ksec.yaml wants for it, and what `recipients add|remove` or `rekey` does
//! to it — wrap its data key for more recipients, or give it a new data key
//! when someone must lose access.
//!
//! Pure: no I/O. The files come in as [`Source`]s (found by
//! [`super::files`]) and the plan goes out as [`Job`]s (carried out by
//! [`super::apply`]).

use super::key_id;
use crate::project::{Namespace, Project};
use std::path::PathBuf;

/// The recipients a file has against the ones ksec.yaml wants for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// The recipients its data key is wrapped for now (public keys, in file
    /// order).
    pub current: Vec<String>,
    /// Who ksec.yaml says may read it: (name, key).
    pub wanted: Vec<(String, String)>,
}

impl Access {
    /// A file of namespace `ns` whose data key is wrapped for `current`.
    pub fn of(project: &Project, ns: &Namespace, current: Vec<String>) -> Access {
        Access {
            current,
            wanted: project.namespace_recipients(ns),
        }
    }

    /// Whether its data key is wrapped for `key`.
    pub fn has(&self, key: &str) -> bool {
        let id = key_id(key);
        self.current.iter().any(|c| key_id(c) == id)
    }

    /// Whether ksec.yaml wants `key` to read it.
    pub fn wants(&self, key: &str) -> bool {
        let id = key_id(key);
        self.wanted.iter().any(|(_, k)| key_id(k) == id)
    }

    /// Keys it has that are not wanted, in file order.
    pub fn extra(&self) -> Vec<String> {
        self.current
            .iter()
            .filter(|c| !self.wants(c))
            .cloned()
            .collect()
    }

    /// Wanted recipients it lacks: (name, key).
    pub fn missing(&self) -> Vec<(String, String)> {
        self.wanted
            .iter()
            .filter(|(_, k)| !self.has(k))
            .cloned()
            .collect()
    }

    /// What makes it match ksec.yaml: a new data key when a key must go
    /// (whoever had it may have kept the old one), else wrapping the data
    /// key for the recipients it lacks.
    pub fn sync(&self) -> Action {
        let extra = self.extra();
        let missing = self.missing();
        if !extra.is_empty() {
            Action::Rotate {
                removed: extra,
                added: missing.into_iter().map(|(n, _)| n).collect(),
            }
        } else if !missing.is_empty() {
            Action::Rewrap { add: missing }
        } else {
            Action::Unchanged
        }
    }
}

/// What is done to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Unchanged,
    /// Wrap the data key for these (name, key); nothing else changes.
    Rewrap {
        add: Vec<(String, String)>,
    },
    /// New data key and values, wrapped for exactly the wanted recipients;
    /// `removed` are the keys that go, `added` the names that come.
    Rotate {
        removed: Vec<String>,
        added: Vec<String>,
    },
}

/// An encrypted file of the project.
#[derive(Clone, Debug)]
pub struct Source {
    pub path: PathBuf,
    /// Relative to the project root, for messages.
    pub rel: String,
    pub namespace: String,
    pub access: Access,
}

/// One file's planned change.
pub struct Job<'a> {
    pub source: &'a Source,
    pub action: Action,
}

/// The files to change, and how many are left as they are.
pub struct Plan<'a> {
    pub jobs: Vec<Job<'a>>,
    pub unchanged: usize,
    /// Other files that do not match ksec.yaml (a note points to rekey).
    pub out_of_sync: usize,
}

impl Plan<'_> {
    /// (file, action) of each job, for the report.
    pub fn actions(&self) -> Vec<(String, Action)> {
        self.jobs
            .iter()
            .map(|j| (j.source.rel.clone(), j.action.clone()))
            .collect()
    }
}

/// `recipients add`: wrap the data key of the files that now want `key`
/// (as recipient `name`) and lack it; nothing else.
pub fn add<'a>(sources: &'a [Source], name: &str, key: &str) -> Plan<'a> {
    let mut jobs = Vec::new();
    let mut unchanged = 0;
    for s in sources {
        if s.access.wants(key) && !s.access.has(key) {
            jobs.push(Job {
                source: s,
                action: Action::Rewrap {
                    add: vec![(name.to_string(), key.to_string())],
                },
            });
        } else {
            unchanged += 1;
        }
    }
    let out_of_sync = sources
        .iter()
        .filter(|s| s.access.sync() != Action::Unchanged)
        .filter(|s| !jobs.iter().any(|j| j.source.path == s.path))
        .count();
    Plan {
        jobs,
        unchanged,
        out_of_sync,
    }
}

/// `recipients remove`: every file that has `key` is brought in line with
/// ksec.yaml (which no longer names it). Refused with the first such file
/// that nobody would be left to read.
pub fn remove<'a>(sources: &'a [Source], key: &str) -> Result<Plan<'a>, &'a Source> {
    let mut jobs = Vec::new();
    let mut unchanged = 0;
    for s in sources {
        if !s.access.has(key) {
            unchanged += 1;
            continue;
        }
        if s.access.wanted.is_empty() {
            return Err(s);
        }
        match s.access.sync() {
            Action::Unchanged => unchanged += 1,
            action => jobs.push(Job { source: s, action }),
        }
    }
    let out_of_sync = sources
        .iter()
        .filter(|s| !s.access.has(key) && s.access.sync() != Action::Unchanged)
        .count();
    Ok(Plan {
        jobs,
        unchanged,
        out_of_sync,
    })
}

/// `rekey`: every file is brought in line with ksec.yaml, but for those of
/// namespaces without recipients (returned apart): rewrapping them for
/// nobody would lock everyone out.
pub fn rekey(sources: &[Source]) -> (Plan<'_>, Vec<&Source>) {
    let mut jobs = Vec::new();
    let mut unchanged = 0;
    let mut refused = Vec::new();
    for s in sources {
        match s.access.sync() {
            Action::Unchanged => unchanged += 1,
            _ if s.access.wanted.is_empty() => refused.push(s),
            action => jobs.push(Job { source: s, action }),
        }
    }
    let plan = Plan {
        jobs,
        unchanged,
        out_of_sync: 0,
    };
    (plan, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "age1alice";
    const BOB: &str = "ssh-ed25519 AAAAbob bob@laptop";
    const CAROL: &str = "age1carol";

    fn wanted(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, k)| (n.to_string(), k.to_string()))
            .collect()
    }

    fn source(rel: &str, current: &[&str], want: &[(&str, &str)]) -> Source {
        Source {
            path: PathBuf::from("/p").join(rel),
            rel: rel.into(),
            namespace: "payments".into(),
            access: Access {
                current: current.iter().map(|k| k.to_string()).collect(),
                wanted: wanted(want),
            },
        }
    }

    #[test]
    fn a_file_that_matches_is_left_alone() {
        let access = source(
            "a",
            &[ALICE, "ssh-ed25519 AAAAbob other"],
            &[("alice", ALICE), ("bob", BOB)],
        )
        .access;
        assert_eq!(
            access.sync(),
            Action::Unchanged,
            "an SSH key's comment does not count"
        );
        assert!(access.extra().is_empty() && access.missing().is_empty());
    }

    #[test]
    fn a_missing_recipient_is_a_rewrap_an_extra_one_a_rotation() {
        let s = source("a", &[ALICE], &[("alice", ALICE), ("carol", CAROL)]);
        assert_eq!(
            s.access.sync(),
            Action::Rewrap {
                add: wanted(&[("carol", CAROL)])
            }
        );
        let s = source("a", &[ALICE, BOB], &[("alice", ALICE), ("carol", CAROL)]);
        assert_eq!(
            s.access.sync(),
            Action::Rotate {
                removed: vec![BOB.into()],
                added: vec!["carol".into()]
            }
        );
    }

    #[test]
    fn add_rewraps_only_the_files_that_want_the_key() {
        let sources = [
            source("wants", &[ALICE], &[("alice", ALICE), ("carol", CAROL)]),
            source(
                "has",
                &[ALICE, CAROL],
                &[("alice", ALICE), ("carol", CAROL)],
            ),
            source("other", &[ALICE], &[("alice", ALICE)]),
            source("stale", &[ALICE, BOB], &[("alice", ALICE)]),
        ];
        let plan = add(&sources, "carol", CAROL);
        assert_eq!(
            plan.actions(),
            vec![(
                "wants".to_string(),
                Action::Rewrap {
                    add: wanted(&[("carol", CAROL)])
                }
            )]
        );
        assert_eq!((plan.unchanged, plan.out_of_sync), (3, 1));
    }

    #[test]
    fn remove_rotates_the_files_that_had_the_key() {
        let sources = [
            source("had", &[ALICE, BOB], &[("alice", ALICE)]),
            source("never", &[ALICE], &[("alice", ALICE)]),
            source("stale", &[ALICE], &[("alice", ALICE), ("carol", CAROL)]),
        ];
        let plan = remove(&sources, BOB).ok().unwrap();
        assert_eq!(
            plan.actions(),
            vec![(
                "had".to_string(),
                Action::Rotate {
                    removed: vec![BOB.into()],
                    added: vec![]
                }
            )]
        );
        assert_eq!((plan.unchanged, plan.out_of_sync), (2, 1));

        let sources = [source("last", &[BOB], &[])];
        assert_eq!(
            remove(&sources, BOB).err().map(|s| s.rel.as_str()),
            Some("last")
        );
    }

    #[test]
    fn rekey_leaves_files_nobody_may_read() {
        let sources = [
            source("nobody", &[ALICE], &[]),
            source("ok", &[ALICE], &[("alice", ALICE)]),
            source("late", &[ALICE], &[("alice", ALICE), ("carol", CAROL)]),
        ];
        let (plan, refused) = rekey(&sources);
        assert_eq!(
            refused.iter().map(|s| s.rel.as_str()).collect::<Vec<_>>(),
            ["nobody"]
        );
        assert_eq!(plan.actions().len(), 1);
        assert_eq!(plan.unchanged, 1);
    }
}
