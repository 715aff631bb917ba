//! The final canary check (issue 12 §4): after the whole suite, every ksec
//! process the tests started must have shown a canary only where the user
//! asked for it. `scripts/test.sh` runs `final_canary_scan` last, after
//! `cargo test`; the other tests here check the scanner itself.

mod common;

use common::canary::{self, MARKER, canary, find, judge, log_dir};
use serde_json::{Value, json};

/// The least number of ksec processes a full run records (about 2,000
/// when this was written): fewer means the capture is broken.
const MIN_PROCESSES: usize = 1_500;

/// The modules of the test binary `tests/it` that start ksec through the
/// common helpers; each must have left a record.
fn expected_modules() -> Vec<String> {
    let dir = common::kube::repo().join("tests/it");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_stem()?.to_str()?.to_string();
            let text = std::fs::read_to_string(&path).ok()?;
            let uses = ["ksec(", "ksec_with(", "ksec_in(", "ksec_project("]
                .iter()
                .any(|h| text.contains(h));
            (path.extension()? == "rs" && name != "main" && uses).then_some(name)
        })
        .collect();
    names.sort();
    names
}

fn records() -> Vec<Value> {
    let mut records = Vec::new();
    let Ok(entries) = std::fs::read_dir(log_dir()) else {
        return records;
    };
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for line in text.lines() {
            records
                .push(serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!("{}: a broken record: {e}", entry.path().display())
                }));
        }
    }
    records
}

#[test]
#[ignore = "run last by scripts/test.sh: scans the capture log of the whole suite"]
fn final_canary_scan() {
    let records = records();
    let mut problems = Vec::new();
    if records.len() < MIN_PROCESSES {
        problems.push(format!(
            "{}: {} ksec processes recorded, expected at least {MIN_PROCESSES}: \
             the capture is broken, or the whole suite did not run first \
             (scripts/test.sh empties the log, runs it, then this)",
            log_dir().display(),
            records.len()
        ));
    }
    // A test's name starts with its module: `render::determinism`.
    let seen: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| {
            r["test"]
                .as_str()?
                .split_once("::")
                .map(|(module, _)| module)
        })
        .collect();
    let missing: Vec<String> = expected_modules()
        .into_iter()
        .filter(|m| !seen.contains(m.as_str()))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "no ksec process recorded by the test modules {missing:?}: their capture is broken"
        ));
    }
    let leaks: Vec<String> = records.iter().flat_map(judge).collect();
    if !leaks.is_empty() {
        problems.push(format!(
            "a canary where the user did not ask for it ({} places in {} processes):\n{}",
            leaks.len(),
            records.len(),
            leaks.join("\n")
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A value seen encoded at any byte alignment is still found.
#[test]
fn every_form_of_a_canary_is_found() {
    use base64::Engine;
    let value = canary("scan");
    assert!(value.starts_with(MARKER));
    assert_eq!(find(b"nothing to see"), None);
    assert_eq!(find(value.as_bytes()).as_deref(), Some("plain"));
    assert_eq!(find(common::CANARY.as_bytes()).as_deref(), Some("plain"));
    for shift in 0..3 {
        let bytes = [&b"xy"[..shift], value.as_bytes()].concat();
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE,
        ] {
            let encoded = engine.encode(&bytes);
            assert!(
                find(encoded.as_bytes()).is_some_and(|f| f.contains("base64")),
                "base64 at offset {shift}"
            );
        }
    }
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    assert_eq!(find(hex.as_bytes()).as_deref(), Some("hex"));
}

fn record(args: &[&str], stdout: &str, stderr: &str, secret_stdout: bool) -> Value {
    json!({
        "test": "t", "binary": "b-1", "args": args, "secret_stdout": secret_stdout,
        "stdout": stdout, "stderr": stderr, "files": [], "files_checked": 0,
    })
}

/// A canary on stdout passes only when the test asked for it and the command
/// is one that prints secrets; on stderr or in a file, never.
#[test]
fn the_scan_allows_a_canary_only_where_it_was_asked_for() {
    let value = canary("judge");
    let asked = record(&["decrypt", "s.enc.yaml"], &value, "", true);
    assert_eq!(judge(&asked), Vec::<String>::new());
    let unmarked = record(&["decrypt", "s.enc.yaml"], &value, "", false);
    assert_eq!(judge(&unmarked).len(), 1, "{:?}", judge(&unmarked));
    let wrong_command = record(&["apply", "--yes"], &value, "", true);
    assert_eq!(judge(&wrong_command).len(), 1);
    let to_a_file = record(
        &["decrypt", "s.enc.yaml", "--output", "x"],
        &value,
        "",
        true,
    );
    assert_eq!(judge(&to_a_file).len(), 1);
    let on_stderr = record(&["decrypt", "s.enc.yaml", &value], "", &value, true);
    let leak = judge(&on_stderr);
    assert!(
        leak[0].contains("stderr") && leak[0].contains("b-1::t"),
        "{leak:?}"
    );
    assert!(
        !leak[0].contains(&value),
        "the report shows the value: {leak:?}"
    );
    let mut in_a_file = record(&["set", "K"], "", "", false);
    in_a_file["files"] = json!([{"path": "/x/leftover", "form": "plain", "text": value}]);
    assert!(judge(&in_a_file)[0].contains("/x/leftover"));
}

/// The capture itself: a ksec run through the helper lands in the log
/// with its arguments, what it printed and the test's mark.
#[test]
fn a_ksec_run_is_recorded_with_what_it_printed() {
    let dir = tempfile::tempdir().unwrap();
    let key = common::Key::new(dir.path(), "k");
    let plain = dir.path().join("plain.env");
    let value = canary("capture");
    std::fs::write(&plain, format!("K={value}\n")).unwrap();
    let enc = dir.path().join("s.enc.env");
    common::encrypt_to(dir.path(), &key, &plain, &enc);
    common::ksec_with(dir.path(), &key)
        .arg("decrypt")
        .arg(&enc)
        .expect_secret_output()
        .assert()
        .success();
    let mine: Vec<Value> = records()
        .into_iter()
        .filter(|r| r["args"] == json!(["decrypt", enc.to_string_lossy()]))
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert!(mine[0]["stdout"].as_str().unwrap().contains(&value));
    assert_eq!(mine[0]["secret_stdout"], json!(true));
    assert_eq!(judge(&mine[0]), Vec::<String>::new());
}

/// A file created or changed during a run holding a canary is found, also
/// as a git object, unless it is an explicit output; a file the run did not
/// touch is not.
#[test]
fn files_written_during_a_run_are_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.env");
    std::fs::write(&input, canary("input")).unwrap();
    let repo = dir.path().join("repo");
    common::git_in(
        dir.path(),
        dir.path(),
        &["init", "-q", repo.to_str().unwrap()],
    );
    let watch = canary::Watch::start(&[dir.path().to_path_buf()]);
    let leftover = dir.path().join("leftover.tmp");
    std::fs::write(&leftover, canary("leftover")).unwrap();
    let output = dir.path().join("out");
    std::fs::create_dir(&output).unwrap();
    std::fs::write(output.join("secret.yaml"), canary("output")).unwrap();
    std::fs::write(repo.join("blob"), canary("blob")).unwrap();
    common::git_in(&repo, dir.path(), &["add", "blob"]);
    std::fs::remove_file(repo.join("blob")).unwrap();
    let (found, checked) = watch.finish(&[output]);
    let paths: Vec<&str> = found.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(checked >= 3, "{checked}");
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[0].ends_with("leftover.tmp") || paths[1].ends_with("leftover.tmp"));
    assert!(
        paths.iter().any(|p| p.contains("/.git/objects/")),
        "{paths:?}"
    );
}
