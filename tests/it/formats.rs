//! sops's other stores, read and written as the real `sops` does:
//! - JSON: what `sops -e` writes, ksec decrypts to the bytes `sops -d`
//!   prints, and the reverse; `ksec set` (list items too) leaves it
//!   readable by `sops -d`; a duplicate key is kept, as sops keeps it;
//! - binary: any bytes (a keystore) round trip both ways;
//! - multi-document YAML: each document encrypted with the metadata, as
//!   sops writes it, both ways; `edit` changes one line per value;
//! - INI: sections, comments (encrypted as sops encrypts them), repeated
//!   sections, both ways; `set '["section"]["key"]'` is read by sops;
//! - `ksec set FILE '["hosts"][0]' VALUE` on YAML and JSON;
//! - `render`: a JSON source gives its top-level keys, a binary source one
//!   key named after its file; a duplicate key in a JSON source is refused.

use crate::common;

use crate::sops_compat::Scratch;
use common::canary::canary;
use common::{Key, code, ksec_with, sops, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// This module's own steps on `sops_compat`'s scratch directory.
impl Scratch {
    pub(crate) fn put(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn sops_cmd(&self) -> Command {
        let mut cmd = sops(Some(&self.key));
        cmd.env("HOME", &self.home).current_dir(self.dir.path());
        cmd
    }

    /// `sops -e --age ME FILE` (store from the name) written to `out`.
    fn encrypt_by_sops(&self, file: &Path, out: &str) -> PathBuf {
        let out_path = self.path(out);
        let res = self
            .sops_cmd()
            .args(["-e", "--age", &self.key.recipient, "--output"])
            .arg(&out_path)
            .arg(file)
            .output()
            .unwrap();
        assert!(res.status.success(), "sops -e: {}", stderr(&res));
        out_path
    }

    /// `sops -d FILE`, as bytes.
    fn decrypt_by_sops(&self, file: &Path) -> Vec<u8> {
        let out = self.sops_cmd().arg("-d").arg(file).output().unwrap();
        assert!(
            out.status.success(),
            "sops -d {}: {}",
            file.display(),
            stderr(&out)
        );
        out.stdout
    }

    /// `ksec ARGS`, allowed to print the secret asked for.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        ksec_with(&self.home, &self.key)
            .expect_secret_output()
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }

    pub(crate) fn ksec_ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert_eq!(code(&out), Some(0), "ksec {args:?}: {}", stderr(&out));
        out.stdout
    }
}

impl Scratch {
    /// `plain` encrypted by sops and by ksec (under the names given): each
    /// decrypts with the other tool to what `sops -d` prints for sops's
    /// file, which is returned with the two files.
    fn both_ways(
        &self,
        plain: &Path,
        sops_name: &str,
        ksec_name: &str,
    ) -> (PathBuf, PathBuf, Vec<u8>) {
        let by_sops = self.encrypt_by_sops(plain, sops_name);
        let expected = self.decrypt_by_sops(&by_sops);
        assert_eq!(self.ksec_ok(&["decrypt", s(&by_sops)]), expected);
        let by_ksec = self.ksec_encrypt(plain, ksec_name);
        assert_eq!(self.decrypt_by_sops(&by_ksec), expected);
        (by_sops, by_ksec, expected)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A JSON document with every kind of value sops's JSON store holds.
fn json_plaintext() -> (String, Vec<String>) {
    let secrets: Vec<String> = (0..4).map(|i| canary(&format!("json-{i}"))).collect();
    let text = format!(
        "{{\"password\": \"{}\", \"escapes\": \"<a & b>\\u2028\\t\\\"q\\\" é\", \"port\": 5432, \"ratio\": 0.5, \"huge\": 1e300, \"tiny\": 1e-9, \"on\": true, \"none\": null, \"empty\": \"\",\n \"hosts\": [\"{}\", 2, {{\"inner\": \"{}\"}}], \"nested\": {{\"deep\": {{\"k\": \"{}\"}}, \"list\": []}}, \"obj\": {{}}, \"note_unencrypted\": \"visible\", \"password\": \"second\"}}\n",
        secrets[0], secrets[1], secrets[2], secrets[3]
    );
    (text, secrets)
}

#[test]
fn json_encrypted_by_sops_decrypts_with_ksec_to_the_same_bytes_and_back() {
    let sc = Scratch::new();
    let (text, secrets) = json_plaintext();
    let plain = sc.put("plain.json", &text);
    let by_sops = sc.encrypt_by_sops(&plain, "by-sops.enc.json");
    let expected = sc.decrypt_by_sops(&by_sops);
    // the duplicate key is kept, as sops keeps it
    let shown = String::from_utf8(expected.clone()).unwrap();
    assert_eq!(shown.matches("\"password\"").count(), 2, "{shown}");
    assert!(shown.contains(&secrets[3]));
    assert_eq!(sc.ksec_ok(&["decrypt", s(&by_sops)]), expected);

    // ksec encrypts what sops decrypts to the same bytes
    let by_ksec = sc.ksec_encrypt(&plain, "by-ksec.enc.json");
    let written = std::fs::read_to_string(&by_ksec).unwrap();
    assert!(
        written.starts_with("{\n\t\"password\": \"ENC[AES256_GCM,"),
        "{written}"
    );
    assert!(written.contains("\"note_unencrypted\": \"visible\""));
    for secret in &secrets {
        assert!(!written.contains(secret.as_str()));
    }
    assert_eq!(sc.decrypt_by_sops(&by_ksec), expected);
    assert_eq!(sc.ksec_ok(&["decrypt", s(&by_ksec)]), expected);

    // set and unset take the first of a key given twice, as sops does
    let new = canary("json-first");
    sc.ksec_ok(&["set", s(&by_ksec), "password", &new]);
    let shown = String::from_utf8(sc.decrypt_by_sops(&by_ksec)).unwrap();
    assert!(
        shown.contains(&format!("\"password\": \"{new}\""))
            && shown.contains("\"password\": \"second\""),
        "{shown}"
    );
    sc.ksec_ok(&["unset", s(&by_ksec), "password"]);
    let shown = String::from_utf8(sc.decrypt_by_sops(&by_ksec)).unwrap();
    assert_eq!(shown.matches("\"password\"").count(), 1, "{shown}");
    assert!(shown.contains("\"password\": \"second\""), "{shown}");
}

#[test]
fn set_on_json_and_yaml_list_items_and_nested_keys_is_read_by_sops() {
    let sc = Scratch::new();
    let (text, secrets) = json_plaintext();
    let plain = sc.put("plain.json", &text);
    let json = sc.encrypt_by_sops(&plain, "s.enc.json");
    let before = std::fs::read_to_string(&json).unwrap();
    let new = canary("json-set");
    sc.ksec_ok(&["set", s(&json), "[\"hosts\"][0]", &new]);
    sc.ksec_ok(&["set", s(&json), "[\"hosts\"][2][\"inner\"]", &new]);
    sc.ksec_ok(&["set", s(&json), "[\"nested\"][\"deep\"][\"k2\"]", &new]);
    let after = std::fs::read_to_string(&json).unwrap();
    let decrypted: serde_json::Value = serde_json::from_slice(&sc.decrypt_by_sops(&json)).unwrap();
    assert_eq!(decrypted["hosts"][0], new.as_str());
    assert_eq!(decrypted["hosts"][1], 2.0);
    assert_eq!(decrypted["hosts"][2]["inner"], new.as_str());
    assert_eq!(decrypted["nested"]["deep"]["k"], secrets[3].as_str());
    assert_eq!(decrypted["nested"]["deep"]["k2"], new.as_str());
    // untouched values keep their ciphertext
    let line = |t: &str, key: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with(&format!("\"{key}\"")))
            .unwrap()
            .to_string()
    };
    assert_eq!(line(&before, "ratio"), line(&after, "ratio"));
    assert_eq!(line(&before, "tiny"), line(&after, "tiny"));

    // YAML: a list item, one past the end (appended, as sops does), unset
    let yaml_plain = sc.put(
        "hosts.yaml",
        format!("hosts:\n  - {}\n  - b\n", canary("yaml-host")),
    );
    let yaml = sc.encrypt_by_sops(&yaml_plain, "hosts.enc.yaml");
    let host = canary("yaml-new-host");
    sc.ksec_ok(&["set", s(&yaml), "[\"hosts\"][0]", &host]);
    sc.ksec_ok(&["set", s(&yaml), "[\"hosts\"][7]", "c"]);
    sc.ksec_ok(&["unset", s(&yaml), "[\"hosts\"][1]"]);
    assert_eq!(
        String::from_utf8(sc.decrypt_by_sops(&yaml)).unwrap(),
        format!("hosts:\n    - {host}\n    - c\n")
    );
    // an index where a map is, and a bad index, are refused
    let out = sc.run(&["set", s(&yaml), "[\"hosts\"][\"x\"]", "v"]);
    assert_ne!(code(&out), Some(0));
    let out = sc.run(&["set", s(&yaml), "[\"hosts\"][-1]", "v"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let out = sc.run(&["unset", s(&yaml), "[\"hosts\"][9]"]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
}

#[test]
fn binary_files_of_any_bytes_round_trip_with_sops() {
    let sc = Scratch::new();
    let mut keystore = vec![0xfe, 0xed, 0xfe, 0xed, 0x00, 0x00, 0x00, 0x02, 0xff, 0x80];
    keystore.extend_from_slice(canary("keystore").as_bytes());
    keystore.extend_from_slice(&[0x00, 0xc3, 0x28, b'\n']);
    let plain = sc.put("keystore.jks", &keystore);
    let by_sops = sc.encrypt_by_sops(&plain, "by-sops.enc.jks");
    assert_eq!(sc.ksec_ok(&["decrypt", s(&by_sops)]), keystore);
    let by_ksec = sc.ksec_encrypt(&plain, "by-ksec.enc.jks");
    let written = std::fs::read_to_string(&by_ksec).unwrap();
    assert!(
        written.starts_with("{\n\t\"data\": \"ENC[AES256_GCM,"),
        "{written}"
    );
    assert_eq!(sc.decrypt_by_sops(&by_ksec), keystore);

    // a text file under another name is binary too, both ways
    let note = format!("line one {}\nline two\n", canary("note"));
    let text = sc.put("note.txt", &note);
    let enc = sc.ksec_encrypt(&text, "note.enc.txt");
    assert_eq!(sc.decrypt_by_sops(&enc), note.as_bytes());
    let enc = sc.encrypt_by_sops(&text, "note2.enc.txt");
    assert_eq!(sc.ksec_ok(&["decrypt", s(&enc)]), note.as_bytes());

    // a binary file has no key but `data` (its whole content, as in
    // sops), and bytes that are not text cannot be edited; the files are
    // left as they were
    let before = std::fs::read(&enc).unwrap();
    let out = sc.run(&["set", s(&enc), "password", "x"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("binary file is one value"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&enc).unwrap(), before);
    let before = std::fs::read(&by_ksec).unwrap();
    let out = sc.run(&["edit", s(&by_ksec)]);
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("not UTF-8 text"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(common::canary::MARKER));
    assert_eq!(std::fs::read(&by_ksec).unwrap(), before);

    // an output named for another store is refused, nothing written
    let out = sc.run(&[
        "encrypt",
        s(&plain),
        "-r",
        &sc.key.recipient,
        "--output",
        s(&sc.path("keystore.enc.yaml")),
    ]);
    assert_eq!(code(&out), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("sops reads a file of this name as YAML"));
    assert!(!sc.path("keystore.enc.yaml").exists());
}

#[test]
fn a_json_source_renders_its_keys_and_a_binary_source_one_key_named_after_the_file() {
    let sc = Scratch::new();
    let root = sc.path("proj");
    common::project(&root, &[&sc.key]);
    let yaml = std::fs::read_to_string(root.join("ksec.yaml")).unwrap()
        + "    secrets:\n      - name: app\n        sources: [app.enc.json, keystore.enc.jks]\n";
    std::fs::write(root.join("ksec.yaml"), yaml).unwrap();
    let password = canary("json-source");
    let json = sc.put(
        "app.json",
        format!("{{\"DB_PASSWORD\": \"{password}\", \"PORT\": 5432, \"DEBUG\": false, \"RATIO\": 1e-7}}\n"),
    );
    sc.encrypt_by_sops(&json, "proj/namespaces/payments/app.enc.json");
    let mut keystore = vec![0x00, 0xff, 0x80];
    keystore.extend_from_slice(canary("jks-source").as_bytes());
    let jks = sc.put("keystore.jks", &keystore);
    sc.encrypt_by_sops(&jks, "proj/namespaces/payments/keystore.enc.jks");
    let out = ksec_with(&sc.home, &sc.key)
        .expect_secret_output()
        .current_dir(&root)
        .args(["render", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let rendered: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = rendered
        .as_array()
        .or_else(|| rendered["items"].as_array())
        .expect("a list of manifests")
        .iter()
        .find(|m| m["kind"] == "Secret")
        .expect("a Secret")
        .clone();
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let data = secret["data"].as_object().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["DB_PASSWORD", "DEBUG", "PORT", "RATIO", "keystore.jks"]
    );
    assert_eq!(data["DB_PASSWORD"], b64(password.as_bytes()));
    assert_eq!(data["PORT"], b64(b"5432"));
    assert_eq!(data["DEBUG"], b64(b"false"));
    assert_eq!(data["RATIO"], b64(b"1e-7"));
    assert_eq!(data["keystore.jks"], b64(&keystore));

    // a key given twice in a JSON source: refused, named, no value shown
    let twice = sc.put(
        "twice.json",
        format!(
            "{{\"DB_PASSWORD\": \"{}\", \"DB_PASSWORD\": \"{password}\"}}\n",
            canary("first")
        ),
    );
    sc.encrypt_by_sops(&twice, "proj/namespaces/payments/app.enc.json");
    let out = ksec_with(&sc.home, &sc.key)
        .current_dir(&root)
        .arg("render")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(err.contains("key DB_PASSWORD appears twice"), "{err}");
    assert!(err.contains("app.enc.json"), "{err}");
    assert!(!err.contains(common::canary::MARKER) && stdout(&out).is_empty());
}

#[test]
fn multi_document_yaml_round_trips_with_sops_and_edit_changes_one_value() {
    let sc = Scratch::new();
    let (a, c) = (canary("doc-one"), canary("doc-two"));
    let text = format!(
        "---\nuser: admin\npassword: {a}\n---\nhosts:\n  - h1\n  - h2\ntoken: {c}\nport: 5432\n---\n"
    );
    let plain = sc.put("stream.yaml", &text);
    let (by_sops, by_ksec, expected) = sc.both_ways(&plain, "by-sops.enc.yaml", "by-ksec.enc.yaml");
    assert_eq!(
        String::from_utf8(expected.clone()).unwrap(),
        format!(
            "user: admin\npassword: {a}\n---\nhosts:\n    - h1\n    - h2\ntoken: {c}\nport: 5432\n---\n{{}}\n"
        )
    );
    let written = std::fs::read_to_string(&by_ksec).unwrap();
    assert_eq!(written.matches("\nsops:\n").count(), 3, "{written}");

    // edit one value of the second document: that line and the metadata change
    let before = std::fs::read_to_string(&by_sops).unwrap();
    let editor = sc.put(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/^port: 5432$/port: 6543/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = ksec_with(&sc.home, &sc.key)
        .current_dir(sc.dir.path())
        .env("EDITOR", &editor)
        .args(["edit", s(&by_sops)])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let after = std::fs::read_to_string(&by_sops).unwrap();
    let changed: Vec<&str> = after
        .lines()
        .zip(before.lines())
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.trim_start().split(':').next().unwrap())
        // within the same second as sops's write it stays the same
        .filter(|k| *k != "lastmodified")
        .collect();
    assert_eq!(changed, ["mac", "port", "mac", "mac"]);
    let edited = String::from_utf8(expected)
        .unwrap()
        .replace("port: 5432", "port: 6543");
    assert_eq!(
        String::from_utf8(sc.decrypt_by_sops(&by_sops)).unwrap(),
        edited
    );
    // set addresses the first document, as `sops set` does
    let new = canary("doc-set");
    sc.ksec_ok(&["set", s(&by_sops), "user", &new]);
    assert_eq!(
        String::from_utf8(sc.decrypt_by_sops(&by_sops)).unwrap(),
        edited.replace("user: admin", &format!("user: {new}"))
    );
}

#[test]
fn ini_files_round_trip_with_sops_comments_included_and_set_is_read_by_sops() {
    let sc = Scratch::new();
    let (pw, token) = (canary("ini-password"), canary("ini-token"));
    let text = format!(
        "top = level\n# the database\n[database]\nuser = admin\n; rotated monthly\npassword = {pw}\nempty =\nquoted = \"two words\"\nnote = kept ; inline comment\n[api]\ntoken: {token}\nlong_key_name = x\n[database]\nagain = second section of that name\n"
    );
    let plain = sc.put("app.ini", &text);
    let (by_sops, by_ksec, expected) = sc.both_ways(&plain, "by-sops.enc.ini", "by-ksec.enc.ini");
    let shown = String::from_utf8(expected).unwrap();
    assert!(shown.contains("; rotated monthly\npassword"), "{shown}");
    let written = std::fs::read_to_string(&by_ksec).unwrap();
    assert!(
        !written.contains(&pw) && !written.contains("rotated"),
        "{written}"
    );
    assert!(written.contains("\n[sops]\n"), "{written}");

    // set one value: sops reads it, the other values keep their ciphertext
    // (sops writes its [sops] keys in no fixed order; ksec sorts them, so
    // only in a file ksec wrote do they stay on their lines)
    let new = canary("ini-new");
    for (file, expect) in [
        (&by_sops, &["token"][..]),
        (&by_ksec, &["token", "mac"][..]),
    ] {
        let before = std::fs::read_to_string(file).unwrap();
        sc.ksec_ok(&["set", s(file), "[\"api\"][\"token\"]", &new]);
        let after = std::fs::read_to_string(file).unwrap();
        let changed: Vec<&str> = after
            .lines()
            .zip(before.lines())
            .take_while(|(x, _)| file == &by_ksec || *x != "[sops]")
            .filter(|(x, y)| x != y)
            .map(|(x, _)| x.split_whitespace().next().unwrap())
            // within the same second as the last write it stays the same
            .filter(|k| *k != "lastmodified")
            .collect();
        assert_eq!(changed, expect, "{after}");
        assert_eq!(
            String::from_utf8(sc.decrypt_by_sops(file)).unwrap(),
            shown.replace(&token, &new)
        );
    }
    let out = sc.run(&["set", s(&by_ksec), "token", "x"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("[\"section\"][\"key\"]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rekey_rewraps_and_rotates_json_binary_and_ini_files_that_sops_then_reads() {
    let sc = Scratch::new();
    let bob = Key::new(sc.dir.path(), "bob");
    let root = sc.path("proj");
    common::project(&root, &[&sc.key, &bob]);
    let mut keystore = vec![0x00, 0xff, 0x80];
    keystore.extend_from_slice(canary("rekey-jks").as_bytes());
    let jks = sc.put("ks.jks", &keystore);
    let json = sc.put(
        "app.json",
        format!("{{\"a\": \"{}\"}}\n", canary("rekey-json")),
    );
    let ini = sc.put("app.ini", format!("[s]\nk = {}\n", canary("rekey-ini")));
    // encrypted to me only: rekey adds bob (values unchanged)
    let files = [
        sc.encrypt_by_sops(&jks, "proj/namespaces/payments/ks.enc.jks"),
        sc.encrypt_by_sops(&json, "proj/namespaces/payments/app.enc.json"),
        sc.encrypt_by_sops(&ini, "proj/namespaces/payments/app.enc.ini"),
    ];
    let plain: Vec<Vec<u8>> = files.iter().map(|f| sc.decrypt_by_sops(f)).collect();
    let rekey = || {
        let out = ksec_with(&sc.home, &sc.key)
            .current_dir(&root)
            .arg("rekey")
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    };
    rekey();
    let by_bob = |f: &Path| {
        let out = sops(Some(&bob)).arg("-d").arg(f).output().unwrap();
        assert!(out.status.success(), "{}: {}", f.display(), stderr(&out));
        out.stdout
    };
    for (file, plain) in files.iter().zip(&plain) {
        assert_eq!(&by_bob(file), plain, "{}", file.display());
    }
    // bob removed from ksec.yaml: rekey rotates the data keys; I still read
    let yaml = std::fs::read_to_string(root.join("ksec.yaml")).unwrap();
    std::fs::write(root.join("ksec.yaml"), yaml.replace("[r0, r1]", "[r0]")).unwrap();
    rekey();
    for (file, plain) in files.iter().zip(&plain) {
        assert_eq!(&sc.decrypt_by_sops(file), plain, "{}", file.display());
        let out = sops(Some(&bob)).arg("-d").arg(file).output().unwrap();
        assert!(
            !out.status.success(),
            "{} still opens for bob",
            file.display()
        );
    }
}

#[test]
fn check_verifies_json_binary_and_ini_files_and_flags_a_tampered_one() {
    let sc = Scratch::new();
    let root = sc.path("proj");
    common::project(&root, &[&sc.key]);
    let mut keystore = vec![0x00, 0xff];
    keystore.extend_from_slice(canary("check-jks").as_bytes());
    let jks = sc.put("ks.jks", &keystore);
    let json = sc.put(
        "a.json",
        format!("{{\"a\": \"{}\", \"b\": \"x\"}}\n", canary("check-json")),
    );
    let ini = sc.put("a.ini", format!("[s]\nk = {}\n", canary("check-ini")));
    sc.encrypt_by_sops(&jks, "proj/namespaces/payments/ks.enc.jks");
    let json_file = sc.encrypt_by_sops(&json, "proj/namespaces/payments/a.enc.json");
    sc.encrypt_by_sops(&ini, "proj/namespaces/payments/a.enc.ini");
    common::git_in(&root, &sc.home, &["init", "-q"]);
    common::git_commit_all(&root, &sc.home);
    let check = || {
        ksec_with(&sc.home, &sc.key)
            .current_dir(&root)
            .args(["check", "--output", "json"])
            .output()
            .unwrap()
    };
    let out = check();
    assert_eq!(code(&out), Some(0), "{}{}", stdout(&out), stderr(&out));
    // two values swapped: the MAC no longer matches
    let text = std::fs::read_to_string(&json_file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let value = |l: &str| {
        l.split_once(": ")
            .unwrap()
            .1
            .trim_end_matches(',')
            .to_string()
    };
    let (a, b) = (value(lines[1]), value(lines[2]));
    let swapped = text
        .replacen(&a, "@A@", 1)
        .replacen(&b, &a, 1)
        .replacen("@A@", &b, 1);
    std::fs::write(&json_file, swapped).unwrap();
    let out = check();
    let shown = stdout(&out);
    assert_ne!(code(&out), Some(0), "{shown}");
    assert!(shown.contains("a.enc.json"), "{shown}");
    assert!(
        !shown.contains(common::canary::MARKER) && !stderr(&out).contains(common::canary::MARKER)
    );
}
