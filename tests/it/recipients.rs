//! Black-box tests of `ksec recipients list|add|remove` and `ksec rekey`, in
//! a real git repository, checked with the real `sops`: adding re-wraps only
//! the `sops` age block; removing rotates the data key and re-encrypts every
//! value, so the removed key opens nothing it could open before; rekey makes
//! every file match ksec.yaml; dry runs write nothing; a run killed with
//! SIGKILL leaves every file decryptable and `ksec rekey` finishes it.

use crate::common;

use common::{CANARY, Key, all_output, ksec, ksec_with, run_ok, sops, stderr, stdout};
use ksec::crypto::cipher::ValueCipher;
use ksec::crypto::sops::{EncryptedFile, Format, SopsError, encrypt_new, parse_plain};
use ksec::crypto::wrap::Recipient;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- helpers

/// `age1qyqszqgp…q8s7kw`, as ksec shortens keys in tables.
fn short(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let start: String = chars[..12].iter().collect();
    let end: String = chars[chars.len() - 6..].iter().collect();
    format!("{start}…{end}")
}

/// Rows as ksec prints them: columns padded to the widest cell, two spaces apart.
fn table(rows: &[[&str; 3]]) -> String {
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = (0..3)
            .map(|i| format!("{:<w$}", r[i], w = widths[i]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn identities(key: &Key) -> ksec::keys::Identities {
    ksec::keys::parse_identities(&std::fs::read_to_string(&key.file).unwrap(), "test").unwrap()
}

fn parse_file(path: &Path) -> EncryptedFile {
    let text = std::fs::read_to_string(path).unwrap();
    EncryptedFile::parse(&text, Format::from_path(path)).unwrap()
}

/// The ksec.yaml of [`Shop`]; `KEY_ALICE`… are replaced by the keys.
///
/// payments: alice and bob (through the group) and ci-prod (prod's CI key);
/// search: bob and carol; web: carol and alice.
const SHOP_YAML: &str = "\
# The shop: who may read which namespace.
version: 1
project: shop

recipients:
  alice: KEY_ALICE   # team lead
  bob: KEY_BOB
  carol: KEY_CAROL
  ci-prod: KEY_CI

groups:
  payments-team: [alice, bob]   # PCI scope

environments:
  prod:
    context: prod-cluster
    recipients: [ci-prod]

namespaces:
  payments:
    environments: [prod]
    recipients: [payments-team]
  search:
    environments: []
    recipients:
      - bob
      - carol
  web:
    environments: []
    recipients: [carol, alice]
";

/// The encrypted files of [`Shop`], and their plaintext.
const SECRETS: &[(&str, &str)] = &[
    (
        "namespaces/payments/db.enc.yaml",
        "DB_PASSWORD: CANARY\ndb:\n    user: app\n    port: 5432\n",
    ),
    (
        "namespaces/payments/api.enc.env",
        "API_TOKEN=CANARY\nMODE=live\n",
    ),
    ("namespaces/search/token.enc.yaml", "SEARCH_TOKEN: CANARY\n"),
    ("namespaces/web/tls.enc.yaml", "TLS_KEY: CANARY\n"),
];

/// Written by the real sops, not by ksec.
const LEGACY: &str = "namespaces/payments/legacy.enc.yaml";

/// A project in a git repository: four ksec-encrypted files, one written by
/// sops, and plain files that merely mention sops. Keys live outside it.
struct Shop {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    root: PathBuf,
    alice: Key,
    bob: Key,
    carol: Key,
    ci: Key,
    /// Not in ksec.yaml.
    dave: Key,
}

impl Shop {
    fn new() -> Shop {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let keys = tmp.path().join("keys");
        let root = tmp.path().join("repo");
        for d in [&home, &keys, &root] {
            std::fs::create_dir_all(d).unwrap();
        }
        let shop = Shop {
            alice: Key::new(&keys, "alice"),
            bob: Key::new(&keys, "bob"),
            carol: Key::new(&keys, "carol"),
            ci: Key::new(&keys, "ci"),
            dave: Key::new(&keys, "dave"),
            _tmp: tmp,
            home,
            root,
        };
        std::fs::write(shop.root.join("ksec.yaml"), shop.yaml(SHOP_YAML)).unwrap();
        ksec(&shop.home)
            .current_dir(&shop.root)
            .args(["init", "--refresh"])
            .assert()
            .success();
        for (rel, plain) in SECRETS {
            shop.write(rel, &plain.replace("CANARY", CANARY));
            ksec(&shop.home)
                .current_dir(&shop.root)
                .args(["encrypt", "--in-place", rel])
                .assert()
                .success();
        }
        // the real sops, with the creation rules ksec wrote to .sops.yaml
        shop.write(LEGACY, &format!("LEGACY_KEY: {CANARY}\n"));
        run_ok(
            sops(None)
                .env("HOME", &shop.home)
                .current_dir(&shop.root)
                .args(["-e", "-i", LEGACY]),
        );
        // not SOPS files, though they mention it
        shop.write("namespaces/payments/app.env", "LOG_LEVEL=info\n");
        shop.write(
            "namespaces/payments/notes.yaml",
            "# secrets here are managed with sops\ntool: sops\n",
        );
        shop.git(&["init", "-q", "-b", "main"]);
        shop.git(&["config", "user.name", "Test"]);
        shop.git(&["config", "user.email", "test@example.com"]);
        shop.git(&["config", "commit.gpgsign", "false"]);
        shop.git(&["add", "-A"]);
        shop.git(&["commit", "-q", "--no-verify", "-m", "start"]);
        shop
    }

    fn yaml(&self, text: &str) -> String {
        text.replace("KEY_ALICE", &self.alice.recipient)
            .replace("KEY_BOB", &self.bob.recipient)
            .replace("KEY_CAROL", &self.carol.recipient)
            .replace("KEY_CI", &self.ci.recipient)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        run_ok(
            Command::new("git")
                .current_dir(&self.root)
                .env("HOME", &self.home)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .args(args),
        )
    }

    /// `ksec ARGS` in the project, decrypting with `key`.
    fn ksec(&self, key: &Key, args: &[&str]) -> Output {
        let out = ksec_with(&self.home, key)
            .current_dir(&self.root)
            .args(args)
            .output()
            .unwrap();
        assert!(
            !all_output(&out).contains(CANARY),
            "ksec {args:?} printed a secret value"
        );
        out
    }

    /// Every file of the project (not .git), with its bytes.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().unwrap() == ".git" {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    let rel = path.strip_prefix(root).unwrap().display().to_string();
                    out.insert(rel, std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.root, &self.root, &mut out);
        out
    }

    fn ksec_decrypt(&self, key: &Key, rel: &str) -> Output {
        self.ksec_decrypt_raw(key, rel)
    }

    /// `ksec decrypt` (may print the value: the user asked for it).
    fn ksec_decrypt_raw(&self, key: &Key, rel: &str) -> Output {
        ksec_with(&self.home, key)
            .current_dir(&self.root)
            .expect_secret_output()
            .args(["decrypt", rel])
            .output()
            .unwrap()
    }

    fn sops_decrypt(&self, key: &Key, rel: &str) -> Output {
        sops(Some(key))
            .env("HOME", &self.home)
            .current_dir(&self.root)
            .args(["-d", rel])
            .output()
            .unwrap()
    }

    /// Assert `key` decrypts `rel` with ksec and with sops, to `expected`.
    fn assert_reads(&self, key: &Key, rel: &str, expected: &str) {
        let out = self.ksec_decrypt(key, rel);
        assert_eq!(
            out.status.code(),
            Some(0),
            "ksec decrypt {rel}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), expected, "ksec decrypt {rel}");
        let out = self.sops_decrypt(key, rel);
        assert_eq!(
            out.status.code(),
            Some(0),
            "sops -d {rel}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), expected, "sops -d {rel}");
    }

    /// Assert `key` decrypts `rel` with neither ksec nor sops.
    fn assert_cannot_read(&self, key: &Key, rel: &str) {
        let out = self.ksec_decrypt(key, rel);
        assert_eq!(
            out.status.code(),
            Some(4),
            "ksec decrypt {rel}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty());
        let out = self.sops_decrypt(key, rel);
        assert!(!out.status.success(), "sops -d {rel} succeeded");
        assert!(!stdout(&out).contains(CANARY));
    }

    fn recipients_of(&self, rel: &str) -> Vec<String> {
        let mut r = parse_file(&self.root.join(rel)).recipients();
        r.sort();
        r
    }

    /// `git diff -U0` of one file: (removed lines, added lines).
    fn diff(&self, rel: &str) -> (Vec<String>, Vec<String>) {
        let text = self.git(&["diff", "-U0", "--no-color", "--", rel]);
        let mut removed = Vec::new();
        let mut added = Vec::new();
        for line in text.lines() {
            if line.starts_with("---") || line.starts_with("+++") {
                continue;
            }
            if let Some(l) = line.strip_prefix('-') {
                removed.push(l.to_string());
            } else if let Some(l) = line.strip_prefix('+') {
                added.push(l.to_string());
            }
        }
        (removed, added)
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Every `ENC[…]` value of a text.
fn enc_values(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("ENC[AES256_GCM,") {
        let end = rest[at..].find(']').unwrap();
        out.push(rest[at..at + end + 1].to_string());
        rest = &rest[at + end + 1..];
    }
    out
}

// ---------------------------------------------------------------- list

#[test]
fn list_shows_who_reads_which_namespace_directly_via_groups_or_as_ci() {
    let shop = Shop::new();
    let out = shop.ksec(&shop.alice, &["recipients", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect();
    let row = |cells: [&str; 4]| cells.map(String::from).to_vec();
    assert_eq!(
        rows,
        vec![
            row(["RECIPIENT", "KEY", "GROUPS", "NAMESPACES"]),
            row([
                "alice",
                &short(&shop.alice.recipient),
                "payments-team",
                "payments, web"
            ]),
            row([
                "bob",
                &short(&shop.bob.recipient),
                "payments-team",
                "payments, search"
            ]),
            row(["carol", &short(&shop.carol.recipient), "-", "search, web"]),
            row(["ci-prod", &short(&shop.ci.recipient), "-", "payments (ci)"]),
        ]
    );

    let out = shop.ksec(&shop.alice, &["recipients", "list", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["name"], "alice");
    assert_eq!(json[0]["key"], shop.alice.recipient.as_str());
    assert_eq!(json[0]["groups"], serde_json::json!(["payments-team"]));
    assert_eq!(
        json[3],
        serde_json::json!({
            "name": "ci-prod",
            "key": shop.ci.recipient,
            "groups": [],
            "namespaces": [{"name": "payments", "via": "environment prod"}],
        })
    );
    assert_eq!(
        json[2]["namespaces"],
        serde_json::json!([
            {"name": "search", "via": "recipients"},
            {"name": "web", "via": "recipients"},
        ])
    );
}

// ---------------------------------------------------------------- add

#[test]
fn add_rewraps_only_the_age_block_and_the_new_key_decrypts_with_sops() {
    let shop = Shop::new();
    let before = shop.files();
    let readable: BTreeMap<&str, String> = [SECRETS[0].0, SECRETS[1].0, LEGACY]
        .into_iter()
        .map(|rel| (rel, stdout(&shop.sops_decrypt(&shop.alice, rel))))
        .collect();
    shop.assert_cannot_read(&shop.dave, SECRETS[0].0);

    let out = shop.ksec(
        &shop.alice,
        &[
            "recipients",
            "add",
            &shop.dave.recipient,
            "--name",
            "dave",
            "-n",
            "payments",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "added dave ({}) to ksec.yaml: recipients, namespaces.payments.recipients\n{}\
             3 rewrapped (data key wrapped for new recipients, values unchanged), 2 unchanged\n",
            short(&shop.dave.recipient),
            table(&[
                ["rewrapped", "namespaces/payments/api.enc.env", "+dave"],
                ["rewrapped", "namespaces/payments/db.enc.yaml", "+dave"],
                ["rewrapped", LEGACY, "+dave"],
            ])
        )
    );

    // ksec.yaml: two lines, every comment kept
    assert_eq!(
        shop.read("ksec.yaml"),
        shop.yaml(SHOP_YAML)
            .replace(
                format!("  ci-prod: {}\n", shop.ci.recipient).as_str(),
                &format!(
                    "  ci-prod: {}\n  dave: {}\n",
                    shop.ci.recipient, shop.dave.recipient
                )
            )
            .replace("[payments-team]", "[payments-team, dave]")
    );
    // .sops.yaml follows: dave's key is in the payments rule only
    assert_eq!(
        shop.read(".sops.yaml")
            .matches(&shop.dave.recipient)
            .count(),
        1
    );

    // YAML files (one written by ksec, one by sops): the diff is one new
    // stanza at the end of the age list, nothing removed
    for rel in [SECRETS[0].0, LEGACY] {
        let (removed, added) = shop.diff(rel);
        assert!(removed.is_empty(), "{rel}: removed {removed:?}");
        assert_eq!(
            added[0],
            format!("        - recipient: {}", shop.dave.recipient)
        );
        assert_eq!(added[1], "          enc: |");
        assert_eq!(added[2], "            -----BEGIN AGE ENCRYPTED FILE-----");
        assert_eq!(
            added.last().unwrap(),
            "            -----END AGE ENCRYPTED FILE-----"
        );
        let old = String::from_utf8(before[rel].clone()).unwrap();
        let new = shop.read(rel);
        let at = old.find("    lastmodified:").unwrap();
        assert!(
            new.starts_with(&old[..at]) && new.ends_with(&old[at..]),
            "{rel}"
        );
    }
    // dotenv: two new metadata lines for the fourth stanza, nothing removed
    let (removed, added) = shop.diff(SECRETS[1].0);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(added.len(), 2, "{added:?}");
    assert!(
        added[0].starts_with("sops_age__list_3__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\n")
    );
    assert_eq!(
        added[1],
        format!("sops_age__list_3__map_recipient={}", shop.dave.recipient)
    );

    // the new key reads them, with sops and with ksec; the others still do
    for (rel, plain) in &readable {
        shop.assert_reads(&shop.dave, rel, plain);
        shop.assert_reads(&shop.bob, rel, plain);
    }
    // and nothing else changed
    let after = shop.files();
    for (rel, bytes) in &before {
        if !readable.contains_key(rel.as_str()) && rel != "ksec.yaml" && rel != ".sops.yaml" {
            assert_eq!(&after[rel], bytes, "{rel} changed");
        }
    }
    shop.assert_cannot_read(&shop.dave, "namespaces/search/token.enc.yaml");
}

#[test]
fn add_to_a_group_or_to_every_namespace() {
    let shop = Shop::new();
    let out = shop.ksec(
        &shop.alice,
        &[
            "recipients",
            "add",
            &shop.dave.recipient,
            "--name",
            "dave",
            "--group",
            "payments-team",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        shop.read("ksec.yaml")
            .contains("  payments-team: [alice, bob, dave]   # PCI scope\n")
    );
    assert_eq!(
        stdout(&out)
            .matches("rewrapped  namespaces/payments/")
            .count(),
        3
    );
    shop.assert_reads(
        &shop.dave,
        "namespaces/payments/api.enc.env",
        &format!("API_TOKEN={CANARY}\nMODE=live\n"),
    );

    // --all: every namespace, in each list style; carol can open search and
    // web, so she is the one who runs it
    let erin = Key::new(shop.home.as_path(), "erin");
    let out = shop.ksec(
        &shop.carol,
        &[
            "recipients",
            "add",
            &erin.recipient,
            "--name",
            "erin",
            "--all",
        ],
    );
    // carol cannot open the payments files: named, the others are done
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: 3 encrypted files could not be changed"),
        "{err}"
    );
    assert!(
        err.contains("cannot decrypt namespaces/payments/db.enc.yaml"),
        "{err}"
    );
    assert!(err.contains("run `ksec rekey` to finish"), "{err}");
    let yaml = shop.read("ksec.yaml");
    assert!(
        yaml.contains("    recipients: [payments-team, erin]\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("      - bob\n      - carol\n      - erin\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("    recipients: [carol, alice, erin]\n"),
        "{yaml}"
    );
    shop.assert_reads(
        &erin,
        "namespaces/web/tls.enc.yaml",
        &format!("TLS_KEY: {CANARY}\n"),
    );
    shop.assert_reads(
        &erin,
        "namespaces/search/token.enc.yaml",
        &format!("SEARCH_TOKEN: {CANARY}\n"),
    );
    shop.assert_cannot_read(&erin, "namespaces/payments/db.enc.yaml");
    // alice finishes the job
    let out = shop.ksec(&shop.alice, &["rekey"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).matches("+erin").count(), 3, "{}", stdout(&out));
    shop.assert_reads(
        &erin,
        "namespaces/payments/api.enc.env",
        &format!("API_TOKEN={CANARY}\nMODE=live\n"),
    );
}

#[test]
fn add_dry_run_lists_the_plan_and_writes_nothing() {
    let shop = Shop::new();
    let before = shop.files();
    let out = shop.ksec(
        &shop.alice,
        &[
            "recipients",
            "add",
            &shop.dave.recipient,
            "--name",
            "dave",
            "-n",
            "search",
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "would add dave ({}) to ksec.yaml: recipients, namespaces.search.recipients\n\
             would rewrap  namespaces/search/token.enc.yaml  +dave\n\
             plan: 1 rewrapped (data key wrapped for new recipients, values unchanged), 4 unchanged\n\
             dry run: nothing was changed\n",
            short(&shop.dave.recipient)
        )
    );
    assert_eq!(shop.files(), before);
}

#[test]
fn add_refuses_bad_input_and_writes_nothing() {
    let shop = Shop::new();
    let before = shop.files();
    let dave = shop.dave.recipient.clone();
    let bob = shop.bob.recipient.clone();
    let cases: Vec<(&str, Vec<&str>, i32)> = vec![
        ("not a key", vec!["age1nope", "--name", "dave", "--all"], 6),
        ("a taken name", vec![&dave, "--name", "bob", "--all"], 6),
        (
            "a name taken by a group",
            vec![&dave, "--name", "payments-team", "--all"],
            6,
        ),
        (
            "a name with a space",
            vec![&dave, "--name", "da ve", "--all"],
            6,
        ),
        (
            "a key already in ksec.yaml",
            vec![&bob, "--name", "robert", "--all"],
            6,
        ),
        (
            "an unknown group",
            vec![&dave, "--name", "dave", "--group", "ops"],
            3,
        ),
        (
            "a recipient for a group",
            vec![&dave, "--name", "dave", "--group", "carol"],
            3,
        ),
        (
            "an unknown namespace",
            vec![&dave, "--name", "dave", "-n", "payments", "-n", "billing"],
            3,
        ),
    ];
    let mut report = String::new();
    for (what, args, code) in cases {
        let mut full = vec!["recipients", "add"];
        full.extend(args);
        let out = shop.ksec(&shop.alice, &full);
        assert_eq!(out.status.code(), Some(code), "{what}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{what}");
        report.push_str(&format!("## {what}\n{}\n", stderr(&out)));
        assert_eq!(shop.files(), before, "{what}: something was written");
    }
    insta::assert_snapshot!("add_error_messages", report);

    // a scope is required
    let out = shop.ksec(&shop.alice, &["recipients", "add", &dave, "--name", "dave"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(shop.files(), before);
}

// ---------------------------------------------------------------- remove

#[test]
fn remove_rotates_every_file_the_member_could_read_and_their_key_opens_none() {
    let shop = Shop::new();
    let affected = [
        "namespaces/payments/api.enc.env",
        "namespaces/payments/db.enc.yaml",
        LEGACY,
        "namespaces/search/token.enc.yaml",
    ];
    let before = shop.files();
    let plain: BTreeMap<&str, String> = affected
        .iter()
        .map(|rel| {
            (
                *rel,
                stdout(&shop.sops_decrypt(&shop.carol_or_alice(rel), rel)),
            )
        })
        .collect();
    // what bob knew: the data key of db.enc.yaml
    let old_db = parse_file(&shop.root.join(affected[1]));
    let bobs_old_key = old_db.data_key(&identities(&shop.bob)).unwrap();

    let out = shop.ksec(&shop.alice_and_carol(), &["recipients", "remove", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // then, from the git history, each value bob may hold and its rotation
    let text = stdout(&out);
    let (files, values) = text
        .split_once("\nbob may still hold these values until they are rotated")
        .unwrap_or_else(|| panic!("no list of values:\n{text}"));
    for (rel, keys) in [
        (
            "namespaces/payments/api.enc.env",
            &["API_TOKEN", "MODE"][..],
        ),
        (
            "namespaces/payments/db.enc.yaml",
            &["DB_PASSWORD", r#"["db"]["user"]"#, r#"["db"]["port"]"#],
        ),
        (LEGACY, &["LEGACY_KEY"]),
        ("namespaces/search/token.enc.yaml", &["SEARCH_TOKEN"]),
    ] {
        for key in keys {
            assert!(
                values.lines().any(|l| {
                    let cells: Vec<&str> = l.split_whitespace().collect();
                    cells.starts_with(&[rel, key])
                        && cells[3] == "bob"
                        && l.ends_with("(uncommitted)")
                }),
                "{rel} {key}:\n{values}"
            );
            assert!(
                values.contains(&format!("  ksec set {rel} '{key}' --generate\n")),
                "{key}:\n{values}"
            );
        }
    }
    assert_eq!(
        files,
        format!(
            "removed bob ({}) from ksec.yaml: recipients, groups.payments-team, namespaces.search.recipients\n{}\
             4 rotated (new data key, every value re-encrypted), 1 unchanged\n\
             \n\
             bob could read these secrets; rotate them at their source (new passwords, tokens, keys), then `ksec set` the new values:\n  \
             namespaces/payments/api.enc.env: API_TOKEN, MODE\n  \
             namespaces/payments/db.enc.yaml: DB_PASSWORD, db.user, db.port\n  \
             namespaces/payments/legacy.enc.yaml: LEGACY_KEY\n  \
             namespaces/search/token.enc.yaml: SEARCH_TOKEN\n",
            short(&shop.bob.recipient),
            table(&[
                ["rotated", "namespaces/payments/api.enc.env", "-bob"],
                ["rotated", "namespaces/payments/db.enc.yaml", "-bob"],
                ["rotated", LEGACY, "-bob"],
                ["rotated", "namespaces/search/token.enc.yaml", "-bob"],
            ])
        )
    );
    // ksec.yaml: bob is gone from recipients, the group and search's list
    let bob_line = format!("  bob: {}\n", shop.bob.recipient);
    assert_eq!(
        shop.read("ksec.yaml"),
        shop.yaml(SHOP_YAML)
            .replace(&bob_line, "")
            .replace("[alice, bob]   # PCI", "[alice]   # PCI")
            .replace("      - bob\n", "")
    );
    assert!(!shop.read(".sops.yaml").contains(&shop.bob.recipient));

    for rel in affected {
        // bob opens none of them, with ksec or with sops
        shop.assert_cannot_read(&shop.bob, rel);
        // the others read the same values
        shop.assert_reads(&shop.carol_or_alice(rel), rel, &plain[rel]);
        // wrapped for exactly the namespace's recipients
        let wanted = if rel.contains("/search/") {
            vec![shop.carol.recipient.clone()]
        } else {
            vec![shop.alice.recipient.clone(), shop.ci.recipient.clone()]
        };
        assert_eq!(shop.recipients_of(rel), sorted(wanted), "{rel}");
        // every value was re-encrypted: no old ciphertext is left
        let old = String::from_utf8(before[rel].clone()).unwrap();
        let new = shop.read(rel);
        let new_values = enc_values(&new);
        assert!(!new_values.is_empty());
        for value in enc_values(&old) {
            assert!(!new_values.contains(&value), "{rel} kept {value}");
        }
    }
    shop.assert_reads(
        &shop.ci,
        "namespaces/payments/db.enc.yaml",
        &plain["namespaces/payments/db.enc.yaml"],
    );
    // the data key bob knew opens the old value but not the new one
    let old_value = tree_value(&old_db, "DB_PASSWORD");
    let new_value = tree_value(&parse_file(&shop.root.join(affected[1])), "DB_PASSWORD");
    let mut cipher = ValueCipher::read_only(bobs_old_key);
    assert!(cipher.decrypt(&old_value, "DB_PASSWORD:").is_ok());
    assert!(cipher.decrypt(&new_value, "DB_PASSWORD:").is_err());

    // web was not bob's: byte for byte as it was; so are the plain files
    for rel in [
        "namespaces/web/tls.enc.yaml",
        "namespaces/payments/app.env",
        "namespaces/payments/notes.yaml",
    ] {
        assert_eq!(shop.files()[rel], before[rel], "{rel}");
    }
    // and everything now matches ksec.yaml
    let out = shop.ksec(&shop.alice, &["rekey"]);
    assert_eq!(
        stdout(&out),
        "every encrypted file matches ksec.yaml (5 files)\n"
    );
}

fn tree_value(file: &EncryptedFile, key: &str) -> String {
    match &file.body {
        ksec::crypto::tree::Value::Map(items) => ksec::crypto::tree::get(items, key)
            .and_then(|v| v.as_str())
            .unwrap()
            .to_string(),
        _ => panic!("not a map"),
    }
}

impl Shop {
    /// A key that can read `rel` after bob is removed.
    fn carol_or_alice(&self, rel: &str) -> Key {
        let k = if rel.contains("/search/") {
            &self.carol
        } else {
            &self.alice
        };
        Key {
            file: k.file.clone(),
            recipient: k.recipient.clone(),
            secret: k.secret.clone(),
        }
    }

    /// One identity file with alice's and carol's keys: someone who can
    /// open every file bob could.
    fn alice_and_carol(&self) -> Key {
        let file = self.home.join("alice-and-carol.txt");
        std::fs::write(
            &file,
            format!("{}\n{}\n", self.alice.secret, self.carol.secret),
        )
        .unwrap();
        Key {
            file,
            recipient: self.alice.recipient.clone(),
            secret: String::new(),
        }
    }
}

#[test]
fn remove_dry_run_lists_the_plan_and_the_exposed_secrets_and_writes_nothing() {
    let shop = Shop::new();
    let before = shop.files();
    let out = shop.ksec(&shop.alice, &["recipients", "remove", "carol", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // the values carol would keep, from the history (alice cannot decrypt
    // search's file: the file as it is, compared to itself, is enough)
    let text = stdout(&out);
    let (files, values) = text
        .split_once("\ncarol would still hold these values until they are rotated")
        .unwrap_or_else(|| panic!("no list of values:\n{text}"));
    for (rel, key) in [
        ("namespaces/search/token.enc.yaml", "SEARCH_TOKEN"),
        ("namespaces/web/tls.enc.yaml", "TLS_KEY"),
    ] {
        assert!(
            values.lines().any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.starts_with(&[rel, key]) && cells[3] == "carol" && l.ends_with(" now")
            }),
            "{rel} {key}:\n{values}"
        );
    }
    assert!(values.ends_with("--generate\ndry run: nothing was changed\n"));
    assert_eq!(
        files,
        format!(
            "would remove carol ({}) from ksec.yaml: recipients, namespaces.search.recipients, namespaces.web.recipients\n{}\
             plan: 2 rotated (new data key, every value re-encrypted), 3 unchanged\n\
             \n\
             carol can read these secrets; rotate them at their source (new passwords, tokens, keys), then `ksec set` the new values:\n  \
             namespaces/search/token.enc.yaml: SEARCH_TOKEN\n  \
             namespaces/web/tls.enc.yaml: TLS_KEY\n",
            short(&shop.carol.recipient),
            table(&[
                ["would rotate", "namespaces/search/token.enc.yaml", "-carol"],
                ["would rotate", "namespaces/web/tls.enc.yaml", "-carol"],
            ])
        )
    );
    assert_eq!(shop.files(), before);
}

#[test]
fn remove_of_an_unknown_name_says_so_and_points_at_rekey_when_files_lag_behind() {
    let shop = Shop::new();
    let out = shop.ksec(&shop.alice, &["recipients", "remove", "dave"]);
    assert_eq!(out.status.code(), Some(3));
    let mut report = format!("## unknown\n{}\n", stderr(&out));

    // bob taken out of ksec.yaml by hand: the files still list him
    let bob_line = format!("  bob: {}\n", shop.bob.recipient);
    let edited = shop
        .read("ksec.yaml")
        .replace(&bob_line, "")
        .replace("[alice, bob]", "[alice]")
        .replace("      - bob\n", "");
    shop.write("ksec.yaml", &edited);
    let before = shop.files();
    let out = shop.ksec(&shop.alice, &["recipients", "remove", "bob"]);
    assert_eq!(out.status.code(), Some(3));
    report.push_str(&format!("## already out of ksec.yaml\n{}\n", stderr(&out)));
    insta::assert_snapshot!("remove_unknown", report);
    assert_eq!(shop.files(), before);
}

#[test]
fn remove_refuses_to_leave_a_namespace_with_files_and_no_recipients() {
    let shop = Shop::new();
    let yaml = shop.read("ksec.yaml") + "  solo:\n    environments: []\n    recipients: [carol]\n";
    shop.write("ksec.yaml", &yaml);
    shop.write("namespaces/solo/s.enc.yaml", "S: v\n");
    ksec(&shop.home)
        .current_dir(&shop.root)
        .args(["encrypt", "-i", "namespaces/solo/s.enc.yaml"])
        .assert()
        .success();
    let before = shop.files();
    let out = shop.ksec(&shop.carol, &["recipients", "remove", "carol"]);
    assert_eq!(out.status.code(), Some(6));
    insta::assert_snapshot!("remove_last_recipient", stderr(&out));
    assert_eq!(shop.files(), before);
}

// ---------------------------------------------------------------- rekey

#[test]
fn rekey_makes_every_file_match_ksec_yaml_and_names_what_it_cannot_open() {
    let shop = Shop::new();
    // by hand: bob leaves the payments team, alice joins search
    let edited = shop
        .read("ksec.yaml")
        .replace("[alice, bob]", "[alice]")
        .replace("      - carol\n", "      - carol\n      - alice\n");
    shop.write("ksec.yaml", &edited);
    let before = shop.files();

    let out = shop.ksec(&shop.alice, &["rekey", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("rekey_dry_run", stdout(&out));
    assert_eq!(shop.files(), before, "the dry run wrote something");

    // alice cannot open search's file (bob and carol's): named, and the
    // payments files are done anyway
    let out = shop.ksec(&shop.alice, &["rekey"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    insta::assert_snapshot!("rekey_partial_stdout", stdout(&out));
    insta::assert_snapshot!("rekey_partial_stderr", stderr(&out));
    for rel in [SECRETS[0].0, SECRETS[1].0, LEGACY] {
        shop.assert_cannot_read(&shop.bob, rel);
        assert_eq!(
            shop.recipients_of(rel),
            sorted(vec![
                shop.alice.recipient.clone(),
                shop.ci.recipient.clone()
            ])
        );
    }
    assert_eq!(
        shop.files()["namespaces/search/token.enc.yaml"],
        before["namespaces/search/token.enc.yaml"]
    );
    assert_ne!(shop.files()[".sops.yaml"], before[".sops.yaml"]);

    // carol can: she finishes; search is re-wrapped (its diff: one stanza)
    let out = shop.ksec(&shop.carol, &["rekey"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "rewrapped  namespaces/search/token.enc.yaml  +alice\n\
         1 rewrapped (data key wrapped for new recipients, values unchanged), 4 unchanged\n"
    );
    let (removed, added) = shop.diff("namespaces/search/token.enc.yaml");
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(
        added[0],
        format!("        - recipient: {}", shop.alice.recipient)
    );
    shop.assert_reads(
        &shop.alice,
        "namespaces/search/token.enc.yaml",
        &format!("SEARCH_TOKEN: {CANARY}\n"),
    );
    assert_eq!(
        shop.files()["namespaces/web/tls.enc.yaml"],
        before["namespaces/web/tls.enc.yaml"]
    );

    // nothing left to do: nothing is written
    let done = shop.files();
    let out = shop.ksec(&shop.alice, &["rekey"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "every encrypted file matches ksec.yaml (5 files)\n"
    );
    assert_eq!(shop.files(), done);
}

#[test]
fn rekey_without_any_identity_changes_nothing() {
    let shop = Shop::new();
    let edited = shop.read("ksec.yaml").replace("[alice, bob]", "[alice]");
    shop.write("ksec.yaml", &edited);
    let before = shop.files();
    let out = ksec(&shop.home)
        .current_dir(&shop.root)
        .arg("rekey")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).starts_with(
            "error: no age identity found, and 3 encrypted files must be opened to change who can read them\n"
        ),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nothing was changed"));
    assert_eq!(shop.files(), before);
}

// ---------------------------------------------------------------- SIGKILL

const KILL_YAML: &str = "\
version: 1
recipients:
  alice: ALICE
  bob: BOB
namespaces:
  a:
    recipients: [alice, bob]
  b:
    recipients: [alice, bob]
  c:
    recipients: [alice, bob]
";

/// A project with `n` small files per namespace (a, b, c), every tenth one
/// dotenv, all encrypted to alice and bob with the library.
fn many_files(dir: &Path, alice: &Key, bob: &Key, n: usize) -> Vec<PathBuf> {
    std::fs::write(
        dir.join("ksec.yaml"),
        KILL_YAML
            .replace("ALICE", &alice.recipient)
            .replace("BOB", &bob.recipient),
    )
    .unwrap();
    let recipients: Vec<(String, Recipient)> = [alice, bob]
        .iter()
        .map(|k| (k.recipient.clone(), Recipient::parse(&k.recipient).unwrap()))
        .collect();
    let mut paths = Vec::new();
    for ns in ["a", "b", "c"] {
        let folder = dir.join("namespaces").join(ns);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..n {
            let (name, format, plain) = if i % 10 == 0 {
                (
                    format!("s{i}.enc.env"),
                    Format::Dotenv,
                    format!("TOKEN_{i}=value-{ns}-{i}\n"),
                )
            } else {
                (
                    format!("s{i}.enc.yaml"),
                    Format::Yaml,
                    format!("PASSWORD_{i}: value-{ns}-{i}\nuser: u{i}\n"),
                )
            };
            let tree = parse_plain(&plain, format).unwrap();
            let text = encrypt_new(tree, format, &recipients)
                .unwrap()
                .emit()
                .unwrap();
            let path = folder.join(name);
            std::fs::write(&path, text).unwrap();
            paths.push(path);
        }
    }
    paths
}

/// Opens with ksec's own reader (as `ksec decrypt` does, MAC checked).
fn opens(path: &Path, key: &Key) -> Result<(), SopsError> {
    parse_file(path).open_to_read(&identities(key)).map(|_| ())
}

/// What is killed mid-run: `recipients remove bob`, or a `rekey` after bob
/// was taken out of ksec.yaml by hand.
#[derive(Clone, Copy, PartialEq)]
enum Killed {
    Remove,
    Rekey,
}

#[test]
fn a_removal_killed_mid_run_leaves_every_file_decryptable_and_rekey_finishes_it() {
    killed_mid_run_then_rekey_finishes(Killed::Remove);
}

#[test]
fn a_rekey_killed_mid_run_leaves_every_file_decryptable_and_a_rerun_finishes_it() {
    killed_mid_run_then_rekey_finishes(Killed::Rekey);
}

fn killed_mid_run_then_rekey_finishes(killed: Killed) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let alice = Key::new(tmp.path(), "alice");
    let bob = Key::new(tmp.path(), "bob");

    // Start the removal and kill -9 it once some files are done but not
    // all. A run that finishes first (a fast machine) is retried in a new
    // project; one killed before any file changed is retried too.
    let mut attempt = 0;
    let (root, paths, originals) = loop {
        attempt += 1;
        assert!(
            attempt <= 8,
            "could not interrupt a run mid-way in 8 attempts"
        );
        let root = tmp.path().join(format!("p{attempt}"));
        std::fs::create_dir_all(&root).unwrap();
        let paths = many_files(&root, &alice, &bob, 100);
        let originals: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        if killed == Killed::Rekey {
            let without_bob = KILL_YAML
                .replace("  bob: BOB\n", "")
                .replace("[alice, bob]", "[alice]")
                .replace("ALICE", &alice.recipient);
            std::fs::write(root.join("ksec.yaml"), without_bob).unwrap();
        }
        let yaml_before = std::fs::read_to_string(root.join("ksec.yaml")).unwrap();
        let command: &[&str] = match killed {
            Killed::Remove => &["recipients", "remove", "bob"],
            Killed::Rekey => &["rekey"],
        };
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("ksec"))
            .current_dir(&root)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KSEC_AGE_KEY_FILE", &alice.file)
            .args(command)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let changed = |paths: &[PathBuf]| {
            paths
                .iter()
                .zip(&originals)
                .filter(|(p, o)| std::fs::read(p).map_or(true, |b| &b != *o))
                .count()
        };
        let mut finished = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            if changed(&paths) > 0 {
                child.kill().unwrap();
                child.wait().unwrap();
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the removal neither finished nor changed a file"
            );
        }
        let done = changed(&paths);
        if finished || done == paths.len() {
            continue; // too late: try again
        }
        // ksec.yaml is written before any file (rekey leaves it alone)
        let yaml = std::fs::read_to_string(root.join("ksec.yaml")).unwrap();
        assert_eq!(yaml == yaml_before, killed == Killed::Rekey);
        assert!(!yaml.contains(&bob.recipient));
        eprintln!(
            "attempt {attempt}: killed with {done} of {} files rotated",
            paths.len()
        );
        break (root, paths, originals);
    };

    // Every file decrypts with alice's key: each either as it was (bob still
    // listed) or rotated (bob gone); none is half-written.
    let mut rotated = Vec::new();
    let mut old = Vec::new();
    for (path, original) in paths.iter().zip(&originals) {
        opens(path, &alice).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let bytes = std::fs::read(path).unwrap();
        let has_bob = parse_file(path).recipients().contains(&bob.recipient);
        if &bytes == original {
            assert!(has_bob);
            old.push(path.clone());
        } else {
            assert!(!has_bob, "{} changed but still lists bob", path.display());
            assert!(matches!(
                opens(path, &bob),
                Err(SopsError::NoMatchingIdentity { .. })
            ));
            rotated.push(path.clone());
        }
    }
    assert!(!rotated.is_empty() && !old.is_empty());
    // the ksec binary and the real sops agree, on files of both kinds
    let sample: Vec<&PathBuf> = rotated
        .iter()
        .take(5)
        .chain(old.iter().take(5))
        .chain(paths.iter().step_by(30))
        .collect();
    for path in &sample {
        let out = ksec_with(&home, &alice)
            .expect_secret_output()
            .arg("decrypt")
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ksec decrypt {}: {}",
            path.display(),
            stderr(&out)
        );
        let out = sops(Some(&alice))
            .env("HOME", &home)
            .arg("-d")
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sops -d {}: {}",
            path.display(),
            stderr(&out)
        );
    }

    // A rerun of the removal points at rekey; rekey finishes the job.
    if killed == Killed::Remove {
        let out = ksec_with(&home, &alice)
            .current_dir(&root)
            .args(["recipients", "remove", "bob"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(
            stderr(&out).contains("run `ksec rekey` to finish"),
            "{}",
            stderr(&out)
        );
    }
    let out = ksec_with(&home, &alice)
        .current_dir(&root)
        .arg("rekey")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("rotated ")).count(),
        old.len(),
        "{text}"
    );
    // bob is no longer in ksec.yaml: the rotated lines show his key, short
    assert!(
        text.contains(&format!("-{}", short(&bob.recipient))),
        "{text}"
    );
    for path in &paths {
        assert!(!parse_file(path).recipients().contains(&bob.recipient));
        opens(path, &alice).unwrap();
        assert!(matches!(
            opens(path, &bob),
            Err(SopsError::NoMatchingIdentity { .. })
        ));
    }
    for path in paths.iter().step_by(45) {
        let out = sops(Some(&bob))
            .env("HOME", &home)
            .arg("-d")
            .arg(path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "bob's sops -d {}", path.display());
    }
    let out = ksec_with(&home, &alice)
        .current_dir(&root)
        .arg("rekey")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!(
            "every encrypted file matches ksec.yaml ({} files)\n",
            paths.len()
        )
    );
}
