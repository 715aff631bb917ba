//! `rotateAfter` in ksec.yaml and `ksec check --rotation`, with the clock
//! fixed by `KSEC_NOW` (never slept): a value's age from the git history
//! (through a rekey, which changes every ciphertext but no value), or from
//! the file's `lastmodified` outside git; overdue fails (exit 11), due soon
//! does not.

use crate::access_exposed::{FILE, World};
use crate::common::stderr;
use std::process::Output;

/// ksec.yaml with `rotateAfter` on the namespace (365d), on Secret `db`
/// (90d) and on its key API_TOKEN (30d).
fn with_rotation(w: &World) {
    let path = w.root.join("ksec.yaml");
    let yaml = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "    recipients: [alice]\n",
            "    recipients: [alice]\n    rotateAfter: 365d\n",
        )
        .replace(
            "        sources: [db.enc.yaml]\n",
            "        sources: [db.enc.yaml]\n        rotateAfter: 90d\n        keys:\n          API_TOKEN:\n            rotateAfter: 30d\n",
        );
    std::fs::write(path, yaml).unwrap();
}

fn check_at(w: &World, now: &str) -> Output {
    w.ksec_as(
        &w.alice,
        &["check", "--rotation", "-o", "json"],
        &[("KSEC_NOW", now)],
    )
}

/// (key, state, since day) of the JSON report.
fn states(out: &Output) -> Vec<(String, String, String)> {
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(out)));
    let mut rows: Vec<(String, String, String)> = v["rotation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["key"].as_str().unwrap().to_string(),
                d["state"].as_str().unwrap().to_string(),
                d["since"].as_str().unwrap()[..10].to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn row(key: &str, state: &str, since: &str) -> (String, String, String) {
    (key.into(), state.into(), since.into())
}

#[test]
fn values_are_aged_from_the_history_overdue_fails_and_due_soon_does_not() {
    let mut w = World::new();
    with_rotation(&w);
    w.start("2026-01-01T10:00:00Z");
    w.set(FILE, "DB_PASSWORD");
    w.set(FILE, "API_TOKEN");
    w.commit("2026-03-01T10:00:00Z");
    // a rekey (bob added, then removed: new data key, new ciphertexts)
    // changes no value, so no age
    let bob = w.bob.recipient.clone();
    w.ksec(&["recipients", "add", &bob, "--name", "bob", "-n", "app"]);
    w.commit("2026-03-10T10:00:00Z");
    w.ksec(&["recipients", "remove", "bob"]);
    w.commit("2026-03-15T10:00:00Z");

    // day 87 of FIRST (90d: due soon from day 81), day 28 of API_TOKEN
    // (30d: due soon from day 27)
    let out = check_at(&w, "2026-03-29T10:00:00Z");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        states(&out),
        vec![
            row("API_TOKEN", "due soon", "2026-03-01"),
            row("DB_PASSWORD", "ok", "2026-03-01"),
            row("FIRST", "due soon", "2026-01-01"),
        ]
    );
    // a few days later both are overdue: exit 11, the table names them
    let out = check_at(&w, "2026-04-05T10:00:00Z");
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert_eq!(
        states(&out),
        vec![
            row("API_TOKEN", "overdue", "2026-03-01"),
            row("DB_PASSWORD", "ok", "2026-03-01"),
            row("FIRST", "overdue", "2026-01-01"),
        ]
    );
    let out = w.ksec_as(
        &w.alice,
        &["check", "--rotation"],
        &[("KSEC_NOW", "2026-04-05T10:00:00Z")],
    );
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    insta::assert_snapshot!(
        "overdue",
        format!(
            "{}---\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    );

    // rotated: API_TOKEN is new again
    w.set(FILE, "API_TOKEN");
    w.set(FILE, "FIRST");
    w.commit("2026-04-06T10:00:00Z");
    let out = check_at(&w, "2026-04-07T10:00:00Z");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        states(&out),
        vec![
            row("API_TOKEN", "ok", "2026-04-06"),
            row("DB_PASSWORD", "ok", "2026-03-01"),
            row("FIRST", "ok", "2026-04-06"),
        ]
    );
}

#[test]
fn outside_git_a_value_is_as_old_as_its_files_lastmodified() {
    let mut w = World::outside_git();
    with_rotation(&w);
    w.start("");
    // a file of the namespace that no Secret names: the namespace's 365d
    let other = "namespaces/app/other.enc.yaml";
    let value = crate::common::canary("other");
    w.values.push(value.clone());
    std::fs::write(w.root.join(other), format!("OTHER: {value}\n")).unwrap();
    let out = w.ksec(&["encrypt", "--in-place", other]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(w.root.join(FILE)).unwrap();
    let stamp = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("lastmodified:"))
        .unwrap()
        .trim()
        .trim_matches(['"', '\'']);
    let modified: jiff::Timestamp = stamp.parse().unwrap();
    let later = |days: i64| {
        modified
            .checked_add(jiff::SignedDuration::from_hours(24 * days))
            .unwrap()
            .to_string()
    };
    let out = check_at(&w, &later(10));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for d in v["rotation"].as_array().unwrap() {
        assert_eq!(d["from"], "lastmodified");
        assert_eq!(d["state"], "ok");
    }
    // FIRST by its Secret's 90d, OTHER by the namespace's 365d
    let out = check_at(&w, &later(91));
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    let state_of = |out: &Output, key: &str| {
        states(out)
            .into_iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, state, _)| state)
    };
    assert_eq!(state_of(&out, "FIRST").as_deref(), Some("overdue"));
    assert_eq!(state_of(&out, "OTHER").as_deref(), Some("ok"));
    let out = check_at(&w, &later(366));
    assert_eq!(state_of(&out, "OTHER").as_deref(), Some("overdue"));
}

#[test]
fn a_rotate_after_that_is_no_duration_is_an_error_at_its_line() {
    let w = World::outside_git();
    let yaml = std::fs::read_to_string(w.root.join("ksec.yaml"))
        .unwrap()
        .replace(
            "    recipients: [alice]\n",
            "    recipients: [alice]\n    rotateAfter: 90\n",
        );
    std::fs::write(w.root.join("ksec.yaml"), yaml).unwrap();
    let out = w.ksec(&["check", "--rotation"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ksec.yaml:7: namespaces.app.rotateAfter: \"90\" has no unit"),
        "{}",
        stderr(&out)
    );
    // a typo under a key's settings is named, with what it likely meant
    let yaml = std::fs::read_to_string(w.root.join("ksec.yaml"))
        .unwrap()
        .replace("    rotateAfter: 90\n", "")
        .replace(
            "        sources: [db.enc.yaml]\n",
            "        sources: [db.enc.yaml]\n        keys:\n          API_TOKEN: {rotateAftr: 30d}\n",
        );
    std::fs::write(w.root.join("ksec.yaml"), yaml).unwrap();
    let out = w.ksec(&["check", "--rotation"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rotateAftr: unknown field; did you mean rotateAfter?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_key_rotate_after_naming_no_value_of_the_secret_is_warned_not_silently_ignored() {
    let mut w = World::new();
    w.start("2026-01-01T10:00:00Z");
    w.set(FILE, "DB_PASSWORD");
    w.commit("2026-01-02T10:00:00Z");
    // a typo in the key (and a nested key written with dots): neither names
    // a value, and the check must not pass as if they were governed
    let yaml = std::fs::read_to_string(w.root.join("ksec.yaml"))
        .unwrap()
        .replace(
            "        sources: [db.enc.yaml]\n",
            "        sources: [db.enc.yaml]\n        keys:\n          DB_PASWORD: {rotateAfter: 30d}\n          FIRST: {rotateAfter: 30d}\n",
        );
    std::fs::write(w.root.join("ksec.yaml"), yaml).unwrap();
    let out = check_at(&w, "2026-01-10T10:00:00Z");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "warning: ksec.yaml: namespaces.app.secrets.db.keys.DB_PASWORD: no source of Secret db holds this key, so its rotateAfter applies to no value (its keys: DB_PASSWORD, FIRST)"
        ),
        "{err}"
    );
    assert!(err.contains("as `ksec set` takes it"), "{err}");
    assert!(!err.contains("keys.FIRST"), "{err}");
    // FIRST's own 30d governs it (overdue); the misspelt one governs nothing
    let out = check_at(&w, "2026-02-10T10:00:00Z");
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert_eq!(states(&out), vec![row("FIRST", "overdue", "2026-01-01")]);
}

/// A rebase (or a rebase-merge) gives a commit today's committer date but
/// keeps when it was written: a value set then is as old as that, not made
/// young by the rebase.
#[test]
fn a_rebased_commit_keeps_the_age_of_the_value_it_set() {
    let mut w = World::new();
    with_rotation(&w);
    w.start("2026-01-01T10:00:00Z");
    w.set(FILE, "API_TOKEN");
    w.git(&["add", "-A"], "");
    let out = std::process::Command::new("git")
        .current_dir(&w.root)
        .env("HOME", &w.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", "2026-01-02T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-03-01T10:00:00Z")
        .args(["commit", "-q", "--no-verify", "-m", "rebased"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // API_TOKEN (30d) was written on 01-02: overdue on 02-10
    let out = check_at(&w, "2026-02-10T10:00:00Z");
    assert_eq!(out.status.code(), Some(11), "{}", stderr(&out));
    assert!(
        states(&out).contains(&row("API_TOKEN", "overdue", "2026-01-02")),
        "{:?}",
        states(&out)
    );
}

/// A Secret source that is no SOPS file (here plaintext) cannot be aged or
/// traced: both history reports say they left it out, naming it, rather
/// than answer as if it were not there.
#[test]
fn a_source_that_is_no_sops_file_is_named_as_left_out() {
    let mut w = World::outside_git();
    with_rotation(&w);
    w.start("");
    let plain = "namespaces/app/plain.yaml";
    let value = crate::common::canary("plain");
    w.values.push(value.clone());
    std::fs::write(w.root.join(plain), format!("PLAIN: {value}\n")).unwrap();
    let path = w.root.join("ksec.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap().replace(
        "sources: [db.enc.yaml]",
        "sources: [db.enc.yaml, plain.yaml]",
    );
    std::fs::write(&path, yaml).unwrap();
    let said = format!(
        "note: {plain} is named as a Secret source in ksec.yaml but is no SOPS file: left out of this report"
    );
    let out = check_at(&w, "2030-01-01T00:00:00Z");
    assert!(stderr(&out).contains(&said), "{}", stderr(&out));
    let out = w.ksec_as(&w.alice, &["access", "--exposed"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&said), "{}", stderr(&out));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains(&value), "a value was printed");
}
