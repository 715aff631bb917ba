use super::*;

fn day(d: i64) -> Timestamp {
    Timestamp::from_second(1_780_000_000 + d * 86_400).unwrap()
}

fn print(cipher: u8, plain: Option<u8>) -> Print {
    Print {
        cipher: [cipher; 32],
        plain: plain.map(|p| [p; 32]),
    }
}

fn version(d: i64, recipients: &[&str], values: &[(&str, Print)]) -> Version {
    Version {
        commit: Some(format!("c{d}")),
        time: day(d),
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        values: values
            .iter()
            .map(|(k, p)| (k.to_string(), p.clone()))
            .collect(),
        opened: values.iter().all(|(_, p)| p.plain.is_some()),
    }
}

fn history(versions: Vec<Version>) -> FileHistory {
    FileHistory {
        rel: "ns/s.enc.yaml".into(),
        versions,
        tracked: true,
        unreadable: 0,
    }
}

fn by_key(pasts: &[ValuePast], key: &str) -> ValuePast {
    pasts.iter().find(|p| p.key == key).unwrap().clone()
}

#[test]
fn a_removed_reader_is_exposed_to_values_unchanged_since_and_not_to_rotated_ones() {
    // day 1: alice+bob, A=1 B=2; day 2: bob removed (rekey: new ciphertexts,
    // same plaintexts); day 3: B rotated
    let h = history(vec![
        version(
            1,
            &["alice", "bob"],
            &[("A", print(1, Some(1))), ("B", print(2, Some(2)))],
        ),
        version(
            2,
            &["alice"],
            &[("A", print(11, Some(1))), ("B", print(12, Some(2)))],
        ),
        version(
            3,
            &["alice"],
            &[("A", print(11, Some(1))), ("B", print(13, Some(3)))],
        ),
    ]);
    let pasts = pasts(&h, &BTreeSet::new());
    let a = by_key(&pasts, "A");
    assert_eq!(a.since, day(1));
    assert_eq!(
        a.exposed,
        vec![Exposure {
            key: "bob".into(),
            since: day(1),
            lost: Some(day(2)),
            lost_uncommitted: false,
        }]
    );
    let b = by_key(&pasts, "B");
    assert!(b.exposed.is_empty(), "{b:?}");
    assert_eq!(b.since, day(3));
    assert_eq!(b.since_commit.as_deref(), Some("c3"));
}

#[test]
fn a_value_set_after_a_reader_left_is_not_exposed_to_them() {
    let h = history(vec![
        version(1, &["alice", "bob"], &[("A", print(1, Some(1)))]),
        version(2, &["alice"], &[("A", print(2, Some(1)))]),
        version(
            3,
            &["alice"],
            &[("A", print(2, Some(1))), ("C", print(3, Some(9)))],
        ),
    ]);
    let pasts = pasts(&h, &BTreeSet::new());
    assert!(by_key(&pasts, "C").exposed.is_empty());
    assert_eq!(by_key(&pasts, "C").since, day(3));
    assert_eq!(by_key(&pasts, "A").exposed.len(), 1);
}

#[test]
fn a_key_being_removed_now_is_exposed_with_no_loss_date_yet() {
    let h = history(vec![
        version(1, &["alice", "bob"], &[("A", print(1, Some(1)))]),
        version(4, &["alice", "bob"], &[("A", print(1, Some(1)))]),
    ]);
    let gone = BTreeSet::from(["bob".to_string()]);
    let pasts = pasts(&h, &gone);
    assert_eq!(
        pasts[0].exposed,
        vec![Exposure {
            key: "bob".into(),
            since: day(1),
            lost: None,
            lost_uncommitted: false,
        }]
    );
    assert!(super::pasts(&h, &BTreeSet::new())[0].exposed.is_empty());
}

#[test]
fn an_undecryptable_version_is_compared_by_ciphertext_only_and_counted_as_unknown() {
    // day 1: not decryptable by the caller, another ciphertext: unknown;
    // day 2: not decryptable, same ciphertext as today: the same value
    let h = history(vec![
        version(1, &["carol"], &[("A", print(7, None))]),
        version(2, &["alice", "dave"], &[("A", print(5, None))]),
        version(3, &["alice"], &[("A", print(5, Some(1)))]),
    ]);
    let p = &pasts(&h, &BTreeSet::new())[0];
    assert_eq!(p.unknown, 1);
    assert_eq!(p.since, day(2));
    assert_eq!(p.exposed.len(), 1);
    assert_eq!(p.exposed[0].key, "dave");
}

#[test]
fn a_value_that_comes_back_is_as_old_as_its_first_appearance() {
    let h = history(vec![
        version(1, &["alice", "bob"], &[("A", print(1, Some(1)))]),
        version(2, &["alice"], &[("A", print(2, Some(2)))]),
        version(3, &["alice"], &[("A", print(3, Some(1)))]),
    ]);
    let p = &pasts(&h, &BTreeSet::new())[0];
    assert_eq!(p.since, day(1));
    assert_eq!(p.exposed[0].key, "bob");
    assert_eq!(p.exposed[0].lost, Some(day(2)));
}

#[test]
fn historical_names_are_read_loosely() {
    let names = names_in(
        "version: 1\nsomethingNew: [1]\nrecipients:\n  bob: age1bob\n  carol: ssh-ed25519 AAAA carol@laptop\n",
    );
    assert_eq!(names.get("age1bob").map(String::as_str), Some("bob"));
    assert_eq!(
        names.get("ssh-ed25519 AAAA").map(String::as_str),
        Some("carol")
    );
    assert!(names_in("not: [yaml").is_empty());
}
