//! `ksec check --rotation`, the pure part: which `rotateAfter` of ksec.yaml
//! governs each value (a key's, else its Secret's, else its namespace's;
//! the shortest when several Secrets name the file), and whether the value,
//! as old as the version where it first appeared, is overdue or due soon.
//!
//! "Due soon" is the last tenth of the period (9 days of `90d`): reported,
//! not a failure.

use super::FileHistory;
use crate::project::{Namespace, Rotation};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// Where a value stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Overdue,
    DueSoon,
    Fine,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Overdue => "overdue",
            State::DueSoon => "due soon",
            State::Fine => "ok",
        }
    }
}

/// One value with a `rotateAfter`.
#[derive(Clone, Debug)]
pub struct Due {
    pub file: String,
    pub key: String,
    /// When the value first appeared (history), or the file's
    /// `lastmodified` (no history).
    pub since: Timestamp,
    pub rotate_after: Rotation,
    /// `since + rotateAfter`.
    pub due: Timestamp,
    pub state: State,
    /// From git (else the file's `lastmodified`).
    pub from_history: bool,
    /// Older versions it could not be compared with: it may be older.
    pub unknown: usize,
}

/// The file's `rotateAfter` and its keys' own, from the namespace and the
/// Secrets that name the file (`rel`, relative to the project root).
pub fn policy(
    root: &Path,
    ns: &Namespace,
    file: &Path,
) -> (Option<Rotation>, BTreeMap<String, Rotation>) {
    let shortest = |a: Option<Rotation>, b: &Rotation| match a {
        Some(a) if a.after <= b.after => Some(a),
        _ => Some(b.clone()),
    };
    let mut whole: Option<Rotation> = None;
    let mut keys: BTreeMap<String, Rotation> = BTreeMap::new();
    for spec in &ns.secrets {
        let overrides = spec.overrides.values().flat_map(|o| o.sources.iter());
        let names_it = spec
            .sources
            .iter()
            .chain(overrides)
            .any(|s| root.join(ns.path.join(s)) == file);
        if !names_it {
            continue;
        }
        if let Some(r) = &spec.rotate_after {
            whole = shortest(whole, r);
        }
        for (key, r) in &spec.key_rotation {
            let kept = shortest(keys.remove(key), r);
            keys.extend(kept.map(|k| (key.clone(), k)));
        }
    }
    (whole.or_else(|| ns.rotate_after.clone()), keys)
}

/// `keys.KEY.rotateAfter` entries of the Secrets of `ns` that name no
/// current value of the Secret's files (a typo, `db.password` for
/// `["db"]["password"]`): (Secret, KEY, the keys its files hold). `files`
/// are the histories read, with their paths; a Secret none of whose files
/// was read has nothing to govern and is not judged.
pub fn unmatched_keys(
    root: &Path,
    ns: &Namespace,
    files: &[(&Path, &FileHistory)],
) -> Vec<(String, String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for spec in ns.secrets.iter().filter(|s| !s.key_rotation.is_empty()) {
        let overrides = spec.overrides.values().flat_map(|o| o.sources.iter());
        let mut held: Option<BTreeSet<String>> = None;
        for source in spec.sources.iter().chain(overrides) {
            let path = root.join(ns.path.join(source));
            for (_, history) in files.iter().filter(|(p, _)| *p == path) {
                let keys = history.versions.last().map(|v| v.values.keys());
                held.get_or_insert_default()
                    .extend(keys.into_iter().flatten().cloned());
            }
        }
        let Some(held) = held else { continue };
        for key in spec.key_rotation.keys().filter(|k| !held.contains(*k)) {
            out.push((spec.name.clone(), key.clone(), held.clone()));
        }
    }
    out
}

/// The values of `history` that have a `rotateAfter`, and where each stands
/// at `now`.
pub fn dues(
    history: &FileHistory,
    whole: Option<&Rotation>,
    keys: &BTreeMap<String, Rotation>,
    now: Timestamp,
) -> Vec<Due> {
    let mut out = Vec::new();
    for past in super::pasts(history, &BTreeSet::new()) {
        let Some(rotation) = keys.get(&past.key).or(whole) else {
            continue;
        };
        let (due, state) = state(past.since, rotation.after, now);
        out.push(Due {
            file: history.rel.clone(),
            key: past.key,
            since: past.since,
            rotate_after: rotation.clone(),
            due,
            state,
            from_history: history.tracked,
            unknown: past.unknown,
        });
    }
    out
}

/// When a value of `since` is due after `after`, and its state at `now`.
pub fn state(since: Timestamp, after: Duration, now: Timestamp) -> (Timestamp, State) {
    let span = |d: Duration| jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    let due = since.saturating_add(span(after)).unwrap_or(Timestamp::MAX);
    let warn_from = due
        .saturating_sub(span(after / 10))
        .unwrap_or(Timestamp::MIN);
    let state = if now >= due {
        State::Overdue
    } else if now >= warn_from {
        State::DueSoon
    } else {
        State::Fine
    };
    (due, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64) -> Timestamp {
        Timestamp::from_second(1_780_000_000 + day * 86_400).unwrap()
    }

    #[test]
    fn a_value_is_due_soon_in_the_last_tenth_and_overdue_after() {
        let d90 = Duration::from_secs(90 * 86_400);
        assert_eq!(state(at(0), d90, at(80)), (at(90), State::Fine));
        assert_eq!(state(at(0), d90, at(81)), (at(90), State::DueSoon));
        assert_eq!(state(at(0), d90, at(89)).1, State::DueSoon);
        assert_eq!(state(at(0), d90, at(90)).1, State::Overdue);
        assert_eq!(state(at(0), d90, at(400)).1, State::Overdue);
    }
}
