use super::*;
use crate::crypto::sops::parse_plain;

fn person() -> (Identity, String) {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    (Identity::x25519(identity), public)
}

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: payments\ndata:\n  password: aHVudGVyMg==\n  user: YXBw\ntype: Opaque\n";

fn secret(text: &str) -> Value {
    parse_plain(text, Format::Yaml).unwrap()
}

fn changed(s: Sealed) -> (String, bool) {
    match s {
        Sealed::Changed { text, reused } => (text, reused),
        Sealed::Unchanged => panic!("expected a change"),
    }
}

#[test]
fn only_data_is_encrypted_and_names_stay_readable() {
    let (_, key) = person();
    let (text, reused) =
        changed(seal(secret(SECRET), &[("cluster".into(), key)], None, &[]).unwrap());
    assert!(!reused);
    assert!(text.contains("name: db"), "{text}");
    assert!(text.contains("kind: Secret"), "{text}");
    assert!(
        text.contains("encrypted_regex: ^(data|stringData)$"),
        "{text}"
    );
    assert!(!text.contains("aHVudGVyMg=="), "{text}");
    assert_eq!(text.matches("ENC[").count(), 3, "two values and the mac");
}

#[test]
fn unchanged_plaintext_is_unchanged_and_one_change_is_one_line() {
    let (me, my_key) = person();
    let (_, cluster) = person();
    let to = [
        ("cluster".to_string(), cluster),
        ("team".to_string(), my_key),
    ];
    let (first, _) = changed(seal(secret(SECRET), &to, None, &[]).unwrap());
    assert!(matches!(
        seal(secret(SECRET), &to, Some(&first), std::slice::from_ref(&me)).unwrap(),
        Sealed::Unchanged
    ));
    let edited = SECRET.replace("YXBw", "YXBwMg==");
    let (second, reused) = changed(
        seal(
            secret(&edited),
            &to,
            Some(&first),
            std::slice::from_ref(&me),
        )
        .unwrap(),
    );
    assert!(reused);
    let diff: Vec<(&str, &str)> = first
        .lines()
        .zip(second.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(first.lines().count(), second.lines().count());
    // lastmodified changes too unless both seals fall in one second
    let what: Vec<&str> = diff
        .iter()
        .map(|(a, _)| a.trim_start().split(':').next().unwrap())
        .collect();
    assert!(
        what == ["user", "mac"] || what == ["user", "lastmodified", "mac"],
        "{what:?}"
    );
}

#[test]
fn a_file_nobody_here_opens_gets_new_ciphertext() {
    let (stranger, _) = person();
    let (_, cluster) = person();
    let to = [("cluster".to_string(), cluster)];
    let (first, _) = changed(seal(secret(SECRET), &to, None, &[]).unwrap());
    let (second, reused) = changed(
        seal(
            secret(SECRET),
            &to,
            Some(&first),
            std::slice::from_ref(&stranger),
        )
        .unwrap(),
    );
    assert!(!reused);
    assert_ne!(first, second);
}
