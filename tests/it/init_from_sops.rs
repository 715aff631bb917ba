//! `ksec init --from-sops`: a repository that already has `.sops.yaml`
//! creation rules becomes a ksec project. Rules that name a folder and
//! age keys become namespaces with named recipients; every other rule is
//! named with the reason; `.sops.yaml` is left as it was. After `ksec init
//! --refresh`, the real `sops` encrypts a file of the adopted folder to the
//! very keys the original rule had.

use crate::common;

use common::{Key, all_output, canary, code, ksec, run_ok, sops, sops_recipients};
use std::path::Path;

fn sops_encrypt(dir: &Path, rel: &str, plain: &str) -> String {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, plain).unwrap();
    run_ok(sops(None).current_dir(dir).args(["-e", "-i", rel]));
    std::fs::read_to_string(&path).unwrap()
}

#[test]
fn a_sops_repository_is_adopted_with_its_rules_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    let alice = Key::new(tmp.path(), "alice");
    let bob = Key::new(tmp.path(), "bob");
    let sops_yaml = format!(
        "creation_rules:
  - path_regex: (^|/)namespaces/payments/.*\\.yaml$
    age: {a},{b}
  - path_regex: ^apps/search/.*
    age:
      - {b}
  - path_regex: .*\\.prod\\.yaml$
    age: {a}
  - path_regex: legacy/.*
    pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4
",
        a = alice.recipient,
        b = bob.recipient
    );
    std::fs::write(dir.join(".sops.yaml"), &sops_yaml).unwrap();
    let before = sops_encrypt(
        &dir,
        "namespaces/payments/db.yaml",
        &format!("password: {}\n", canary("adopt-db")),
    );

    let out = ksec(tmp.path())
        .current_dir(&dir)
        .args(["init", "--from-sops", "--recipient"])
        .arg(format!("alice={}", alice.recipient))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    let said = String::from_utf8(out.stdout).unwrap();
    for line in [
        format!("recipient alice: {}", alice.recipient),
        format!("recipient sops-2: {}", bob.recipient),
        "namespace payments (folder namespaces/payments): recipients alice, sops-2 (rule 1)".to_string(),
        "namespace search (folder apps/search): recipients sops-2 (rule 2)".to_string(),
        "not carried over: rule 3 (.*\\.prod\\.yaml$): does not name one folder".to_string(),
        "not carried over: rule 4 (legacy/.*): pgp is not carried over: ksec encrypts to age recipients only".to_string(),
    ] {
        assert!(said.contains(&line), "{line}\n{said}");
    }
    // .sops.yaml is the user's until they refresh it
    assert_eq!(
        std::fs::read_to_string(dir.join(".sops.yaml")).unwrap(),
        sops_yaml
    );
    let yaml = std::fs::read_to_string(dir.join("ksec.yaml")).unwrap();
    assert!(yaml.contains("  search:"), "{yaml}");
    assert!(yaml.contains("    path: apps/search\n"), "{yaml}");

    // the project is valid, and ksec reads what sops wrote there
    let out = ksec(tmp.path())
        .current_dir(&dir)
        .args(["namespace", "list"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    let out = ksec(tmp.path())
        .current_dir(&dir)
        .env("KSEC_AGE_KEY_FILE", &alice.file)
        .expect_secret_output()
        .args(["decrypt", "namespaces/payments/db.yaml"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));

    // refreshed from ksec.yaml, .sops.yaml gives a new file of the adopted
    // folders the same keys as the original rules did
    let out = ksec(tmp.path())
        .current_dir(&dir)
        .args(["init", "--refresh"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    let after = sops_encrypt(
        &dir,
        "namespaces/payments/api.yaml",
        &format!("token: {}\n", canary("adopt-api")),
    );
    assert_eq!(sops_recipients(&after), sops_recipients(&before));
    let search = sops_encrypt(
        &dir,
        "apps/search/x.yaml",
        &format!("token: {}\n", canary("adopt-search")),
    );
    assert_eq!(sops_recipients(&search), vec![bob.recipient.clone()]);
}

#[test]
fn without_a_sops_yaml_or_with_a_broken_one_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    let init = || {
        ksec(tmp.path())
            .current_dir(&dir)
            .args(["init", "--from-sops"])
            .output()
            .unwrap()
    };
    let out = init();
    assert_eq!(code(&out), Some(3), "{}", all_output(&out));
    assert!(
        common::stderr(&out).contains("no .sops.yaml in"),
        "{}",
        all_output(&out)
    );
    std::fs::write(dir.join(".sops.yaml"), "stores: {}\n").unwrap();
    let out = init();
    assert_eq!(code(&out), Some(6), "{}", all_output(&out));
    assert!(
        common::stderr(&out).contains("has no creation_rules"),
        "{}",
        all_output(&out)
    );
    assert!(!dir.join("ksec.yaml").exists());
}
