//! `ksec check --expiring-within` with certificates openssl makes in the
//! test (a chain, a tls Secret, a PEM value beside a private key in a
//! generic Secret, an expired one, a malformed one) and the clock fixed
//! with `KSEC_NOW`: what is reported, JSON, exit codes, and that no
//! certificate, key or other value is ever printed.

use crate::common;

use common::canary::canary;
use common::{Key, code, encrypt_to, ksec, ksec_with, run_ok, stderr, stdout, which};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

// ------------------------------------------------------------ certificates

struct Certs {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
    scratch: PathBuf,
    key: Key,
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    run_ok(
        Command::new(which("openssl").expect("openssl is not on PATH"))
            .current_dir(dir)
            .args(args),
    )
}

impl Certs {
    fn new() -> Certs {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let project = tmp.path().join("project");
        let scratch = tmp.path().join("scratch");
        for dir in [&home, &project, &scratch] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let key = Key::new(&scratch, "key");
        Certs {
            _tmp: tmp,
            home,
            project,
            scratch,
            key,
        }
    }

    /// A self-signed certificate valid for `days` from now: its PEM.
    fn self_signed(&self, name: &str, subject: &str, days: &str) -> String {
        openssl(
            &self.scratch,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                days,
                "-subj",
                subject,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
        self.read(&format!("{name}.crt"))
    }

    /// A certificate for `subject` signed by the CA `ca` (made with
    /// `self_signed`), valid for `days`.
    fn signed(&self, name: &str, ca: &str, subject: &str, days: &str) -> String {
        openssl(
            &self.scratch,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            &self.scratch,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                days,
                "-out",
                &format!("{name}.crt"),
            ],
        );
        self.read(&format!("{name}.crt"))
    }

    /// notAfter of a certificate file, RFC 3339.
    fn not_after(&self, name: &str) -> String {
        let out = openssl(
            &self.scratch,
            &[
                "x509",
                "-in",
                &format!("{name}.crt"),
                "-noout",
                "-enddate",
                "-dateopt",
                "iso_8601",
            ],
        );
        // notAfter=2026-12-08 18:05:00Z
        out.trim()
            .trim_start_matches("notAfter=")
            .replacen(' ', "T", 1)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.scratch.join(name)).unwrap()
    }

    /// An encrypted source `namespaces/NS/FILE` of the project holding `pairs`.
    fn source(&self, ns: &str, file: &str, pairs: &[(&str, &str)]) {
        let mut yaml = String::new();
        for (k, v) in pairs {
            yaml.push_str(&format!("{k}: |\n"));
            for line in v.lines() {
                yaml.push_str(&format!("  {line}\n"));
            }
        }
        let plain = self.scratch.join(format!("{ns}-{file}.yaml"));
        std::fs::write(&plain, yaml).unwrap();
        let dir = self.project.join("namespaces").join(ns);
        std::fs::create_dir_all(&dir).unwrap();
        encrypt_to(&self.home, &self.key, &plain, &dir.join(file));
    }

    fn ksec_yaml(&self, namespaces: &str) {
        let yaml = format!(
            "version: 1\nproject: certs\nrecipients:\n  me: {}\nnamespaces:\n{namespaces}",
            self.key.recipient
        );
        std::fs::write(self.project.join("ksec.yaml"), yaml).unwrap();
    }

    fn check(&self, now: &str, args: &[&str]) -> std::process::Output {
        ksec_with(&self.home, &self.key)
            .arg("--project")
            .arg(&self.project)
            .args(["check"])
            .args(args)
            .env("KSEC_NOW", now)
            .output()
            .unwrap()
    }
}

/// The certificates of the test: what each is, and the fixed clock.
struct Made {
    certs: Certs,
    now: String,
    /// PEM bodies (the base64 lines), which no output may show.
    bodies: Vec<String>,
    secrets: Vec<String>,
    leaf_not_after: String,
    expired_not_after: String,
}

fn made() -> Made {
    let certs = Certs::new();
    // made first, so that it expired at least 10 whole days before KSEC_NOW
    let expired = certs.self_signed("old", "/O=Acme/CN=old.example.com", "20");
    let ca = certs.self_signed("ca", "/O=Acme/CN=Acme Root CA", "90");
    let leaf = certs.signed("api", "ca", "/O=Acme/CN=api.example.com", "40");
    let fine = certs.self_signed("edge", "/CN=edge.example.com", "90");
    // now is 30 days after the leaf was made: it expires in exactly 10
    // days, the CA and the edge certificate in 60, the old one expired 10
    // days ago
    let leaf_not_after = certs.not_after("api");
    let t: jiff::Timestamp = leaf_not_after.parse().unwrap();
    let now = jiff::Timestamp::from_second(t.as_second() - 10 * 86_400)
        .unwrap()
        .to_string();
    let expired_not_after = certs.not_after("old");

    let tls_key = canary("tls-key");
    let edge_key = canary("edge-key");
    let password = canary("password");
    let client_key = canary("client-key");
    let broken_pass = canary("broken-pass");
    certs.source(
        "payments",
        "api-tls.enc.yaml",
        &[("tls.crt", &format!("{leaf}{ca}")), ("tls.key", &tls_key)],
    );
    let client_pem =
        format!("{expired}-----BEGIN PRIVATE KEY-----\n{client_key}\n-----END PRIVATE KEY-----\n");
    certs.source(
        "payments",
        "bundle.enc.yaml",
        &[("password", &password), ("client.pem", &client_pem)],
    );
    certs.source(
        "search",
        "edge-tls.enc.yaml",
        &[("tls.crt", &fine), ("tls.key", &edge_key)],
    );
    certs.source(
        "search",
        "broken.enc.yaml",
        &[
            ("ca.crt", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"),
            ("pass", &broken_pass),
        ],
    );
    certs.ksec_yaml(
        "  payments:\n    recipients: [me]\n    secrets:\n\
         \x20     - name: api-tls\n        type: kubernetes.io/tls\n        sources: [api-tls.enc.yaml]\n\
         \x20     - name: bundle\n        sources: [bundle.enc.yaml]\n\
         \x20 search:\n    recipients: [me]\n    secrets:\n\
         \x20     - name: edge-tls\n        type: kubernetes.io/tls\n        sources: [edge-tls.enc.yaml]\n\
         \x20     - name: broken\n        sources: [broken.enc.yaml]\n",
    );
    let bodies = [&expired, &ca, &leaf, &fine]
        .iter()
        .flat_map(|pem| {
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_string)
        })
        .collect();
    Made {
        certs,
        now,
        bodies,
        secrets: vec![tls_key, edge_key, password, client_key, broken_pass],
        leaf_not_after,
        expired_not_after,
    }
}

/// Nothing secret or certificate-shaped in the output.
fn assert_nothing_shown(m: &Made, out: &std::process::Output) {
    let all = format!("{}{}", stdout(out), stderr(out));
    for body in &m.bodies {
        assert!(
            !all.contains(body.as_str()),
            "a certificate line was printed:\n{all}"
        );
    }
    for secret in &m.secrets {
        assert!(
            !all.contains(secret.as_str()),
            "a secret was printed:\n{all}"
        );
    }
    assert!(!all.contains("BEGIN"), "{all}");
}

#[test]
fn expiring_certificates_are_reported_with_where_they_are() {
    let m = made();
    let out = m.certs.check(&m.now, &["--expiring-within", "30d"]);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(11), "{text}{}", stderr(&out));
    assert_nothing_shown(&m, &out);
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}:\n{text}"))
            .to_string()
    };
    // the leaf of the chain in the tls Secret: 10 days left
    let leaf = line("CN=api.example.com,O=Acme");
    for part in [
        "payments",
        "api-tls",
        "tls.crt (1 of 2)",
        "namespaces/payments/api-tls.enc.yaml",
        &m.leaf_not_after,
        "expires in 10 days",
    ] {
        assert!(leaf.contains(part), "{part:?} in {leaf}");
    }
    // the expired certificate in a generic Secret's PEM value
    let old = line("CN=old.example.com,O=Acme");
    for part in [
        "bundle",
        "client.pem",
        "namespaces/payments/bundle.enc.yaml",
        &m.expired_not_after,
        "expired 10 days ago",
    ] {
        assert!(old.contains(part), "{part:?} in {old}");
    }
    // the expired one first (soonest first), the header before both
    assert!(text.starts_with("NAMESPACE"), "{text}");
    assert!(
        text.find("old.example.com") < text.find("api.example.com"),
        "{text}"
    );
    // 60 days left: not within 30 days
    assert!(!text.contains("Acme Root CA"), "{text}");
    assert!(!text.contains("edge.example.com"), "{text}");
    // the malformed PEM, named by Secret, file and key
    let broken = line("search/Secret/broken");
    assert!(
        broken.contains("namespaces/search/broken.enc.yaml: key ca.crt: a certificate block that is not an X.509 certificate"),
        "{broken}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("1 certificate expires within 30d; 1 certificate has expired; 1 value or source could not be checked"),
        "{err}"
    );
    assert!(err.contains("ksec set FILE KEY"), "{err}");

    // a wider window takes in the 60-day ones, the CA as the chain's 2nd
    let out = m.certs.check(&m.now, &["--expiring-within", "9w"]);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(11), "{text}");
    assert!(
        line_in(&text, "CN=Acme Root CA,O=Acme").contains("tls.crt (2 of 2)"),
        "{text}"
    );
    assert!(
        line_in(&text, "CN=edge.example.com").contains("expires in 60 days"),
        "{text}"
    );
    assert_nothing_shown(&m, &out);
}

fn line_in(text: &str, needle: &str) -> String {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle}:\n{text}"))
        .to_string()
}

#[test]
fn expiring_json_and_a_clean_run() {
    let m = made();
    let out = m
        .certs
        .check(&m.now, &["--expiring-within", "30d", "-o", "json"]);
    assert_eq!(code(&out), Some(11), "{}", stderr(&out));
    assert_nothing_shown(&m, &out);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["expiringWithin"], "30d");
    assert_eq!(json["now"], m.now);
    let certs = json["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2, "{json:#}");
    assert_eq!(certs[0]["status"], "expired");
    assert_eq!(certs[0]["days"], -10);
    assert_eq!(certs[0]["secret"], "bundle");
    assert_eq!(certs[0]["key"], "client.pem");
    assert_eq!(certs[1]["status"], "expiring");
    assert_eq!(certs[1]["days"], 10);
    assert_eq!(certs[1]["namespace"], "payments");
    assert_eq!(certs[1]["source"], "namespaces/payments/api-tls.enc.yaml");
    assert_eq!(certs[1]["subject"], "CN=api.example.com,O=Acme");
    assert_eq!(certs[1]["notAfter"], m.leaf_not_after);
    assert_eq!(
        (&certs[1]["position"], &certs[1]["of"]),
        (&Value::from(1), &Value::from(2))
    );
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{json:#}");
    assert_eq!(problems[0]["key"], "ca.crt");
    assert_eq!(problems[0]["secret"], "broken");
    // four good certificates read (the malformed one is a problem)
    assert_eq!(json["checked"], 4);

    // only the Secret whose certificate has 60 days left: nothing is due
    m.certs.ksec_yaml(
        "  search:\n    recipients: [me]\n    secrets:\n\
         \x20     - name: edge-tls\n        type: kubernetes.io/tls\n        sources: [edge-tls.enc.yaml]\n",
    );
    let out = m.certs.check(&m.now, &["--expiring-within", "30d"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "ksec check: no certificate expires within 30d (1 certificate in 1 Secret)\n"
    );
    // an environment's override adds its sources: the prod certificate is due
    let chain = format!("{}{}", m.certs.read("api.crt"), m.certs.read("ca.crt"));
    let prod_key = canary("prod-key");
    m.certs.source(
        "search",
        "prod-tls.enc.yaml",
        &[("tls.crt", &chain), ("tls.key", &prod_key)],
    );
    m.certs.ksec_yaml(
        "  search:\n    recipients: [me]\n    secrets:\n\
         \x20     - name: edge-tls\n        type: kubernetes.io/tls\n        sources: [edge-tls.enc.yaml]\n\
         \x20       overrides:\n          prod:\n            sources: [prod-tls.enc.yaml]\n\
         environments:\n  staging:\n    context: s\n  prod:\n    context: p\n",
    );
    let out = m.certs.check(&m.now, &["--expiring-within", "30d"]);
    assert_eq!(code(&out), Some(11), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(&prod_key) && !stderr(&out).contains(&prod_key));
    let line = line_in(&text, "CN=api.example.com");
    assert!(
        line.contains("edge-tls") && line.contains("namespaces/search/prod-tls.enc.yaml"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "{text}");
    m.certs.ksec_yaml(
        "  search:\n    recipients: [me]\n    secrets:\n\
         \x20     - name: edge-tls\n        type: kubernetes.io/tls\n        sources: [edge-tls.enc.yaml]\n",
    );

    // ... until the clock moves on
    let later = m.now.replacen(
        &m.now[..4],
        &(m.now[..4].parse::<u32>().unwrap() + 1).to_string(),
        1,
    );
    let out = m.certs.check(&later, &["--expiring-within", "30d"]);
    assert_eq!(code(&out), Some(11), "{}", stderr(&out));
    assert!(stdout(&out).contains("edge.example.com"));
}

#[test]
fn expiring_needs_an_identity_and_a_duration() {
    let m = made();
    let out = ksec(&m.certs.home)
        .arg("--project")
        .arg(&m.certs.project)
        .args(["check", "--expiring-within", "30d"])
        .env("KSEC_NOW", &m.now)
        .output()
        .unwrap();
    assert_ne!(code(&out), Some(0));
    assert_ne!(code(&out), Some(11));
    let err = stderr(&out);
    assert!(
        err.contains("no age identity found to decrypt 4 Secret sources"),
        "{err}"
    );
    assert!(
        err.contains("namespaces/payments/api-tls.enc.yaml"),
        "{err}"
    );

    for (bad, says) in [
        ("30", "has no unit"),
        ("0d", "is zero"),
        ("1y", "the unit must be h, d or w"),
    ] {
        let out = m.certs.check(&m.now, &["--expiring-within", bad]);
        assert_eq!(code(&out), Some(2), "{bad}");
        assert!(stderr(&out).contains(says), "{bad}: {}", stderr(&out));
    }
    // the report reads the working tree's sources, not the index
    let out = m
        .certs
        .check(&m.now, &["--expiring-within", "30d", "--staged"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let out = m.certs.check("tomorrow", &["--expiring-within", "30d"]);
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("KSEC_NOW"), "{}", stderr(&out));
}

/// `--rotation` and `--expiring-within` in one run: both reports, one JSON
/// document with both reports' fields, and the run fails when either finds
/// something due (here the rotation, then the certificate).
#[test]
fn rotation_and_expiry_reports_together() {
    let m = made();
    // outside git, the value is as old as its file's lastmodified: made
    // now, KSEC_NOW is about 30 days later
    m.certs.ksec_yaml(
        "  search:\n    recipients: [me]\n    rotateAfter: 1h\n    secrets:\n\
         \x20     - name: edge-tls\n        type: kubernetes.io/tls\n        sources: [edge-tls.enc.yaml]\n",
    );
    let both = ["--rotation", "--expiring-within", "30d"];
    let out = m
        .certs
        .check(&m.now, &[&both[..], &["-o", "json"]].concat());
    assert_eq!(code(&out), Some(11), "{}", stderr(&out));
    assert_nothing_shown(&m, &out);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rotation = json["rotation"].as_array().unwrap();
    assert!(!rotation.is_empty(), "{json:#}");
    assert!(rotation.iter().all(|r| r["state"] == "overdue"), "{json:#}");
    assert_eq!(
        json["certificates"].as_array().unwrap().len(),
        0,
        "{json:#}"
    );
    assert_eq!(json["expiringWithin"], "30d");
    assert!(
        stderr(&out).contains("overdue for rotation"),
        "{}",
        stderr(&out)
    );

    let out = m.certs.check(&m.now, &both);
    assert_eq!(code(&out), Some(11), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("ksec check --rotation:"), "{text}");
    assert!(text.contains("overdue"), "{text}");

    // rotation fine, the certificate (60 days left) inside a 90d window
    m.certs.ksec_yaml(
        "  search:\n    recipients: [me]\n    rotateAfter: 365d\n    secrets:\n\
         \x20     - name: edge-tls\n        type: kubernetes.io/tls\n        sources: [edge-tls.enc.yaml]\n",
    );
    let out = m.certs.check(
        &m.now,
        &["--rotation", "--expiring-within", "90d", "-o", "json"],
    );
    assert_eq!(code(&out), Some(11), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["rotation"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "ok"),
        "{json:#}"
    );
    assert_eq!(
        json["certificates"].as_array().unwrap().len(),
        1,
        "{json:#}"
    );
    assert!(!stderr(&out).contains("overdue"), "{}", stderr(&out));
}
