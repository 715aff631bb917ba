//! `scripts/setup.sh` provides every command the tests and the cluster
//! scripts run: the names the tests spawn (`Command::new("…")`,
//! `which("…")`) and the ones `scripts/kube-up.sh` requires are each
//! installed by setup.sh (its `apt_tools`, its own `command -v` blocks, or
//! `scripts/kube-build.sh`, which it runs), and each is on PATH here.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(common::kube::repo().join(rel)).unwrap()
}

/// Every `"…"` literal that directly follows `opener` in `text`.
fn literals_after(text: &str, opener: &str) -> Vec<String> {
    text.match_indices(opener)
        .filter_map(|(i, _)| {
            let rest = &text[i + opener.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}

/// The commands the Rust test sources spawn or look up.
fn spawned_by_tests() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in ["tests", "tests/it", "tests/common"] {
        for entry in std::fs::read_dir(common::kube::repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests/it/setup.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for opener in ["Command::new(\"", "which(\""] {
                names.extend(literals_after(&text, opener));
            }
        }
    }
    names
}

/// The commands `scripts/kube-up.sh` refuses to run without.
fn required_by_kube_up() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in read("scripts/kube-up.sh").lines() {
        if let Some(rest) = line.strip_prefix("for c in ") {
            if line.contains("command -v \"$c\"") {
                let list = &rest[..rest.find(';').unwrap()];
                names.extend(list.split_whitespace().map(str::to_string));
            }
        } else if let Some(rest) = line.strip_prefix("command -v ") {
            names.insert(rest.split_whitespace().next().unwrap().to_string());
        }
    }
    names
}

/// What setup.sh installs when missing.
fn provided_by_setup() -> BTreeSet<String> {
    let setup = read("scripts/setup.sh");
    let start = setup.find("apt_tools=(").expect("setup.sh has apt_tools") + 11;
    let end = start + setup[start..].find(')').unwrap();
    let mut names: BTreeSet<String> = setup[start..end]
        .split_whitespace()
        .map(|pair| {
            let binary = pair.split(':').next().unwrap();
            Path::new(binary)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    // blocks of their own: `if ! command -v NAME` (kubectl), `if ! NAME --version` (sops)
    for line in setup.lines().map(str::trim_start) {
        let Some(rest) = line.strip_prefix("if ! ") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        match words.as_slice() {
            ["command", "-v", name, ..] | [name, "--version", ..]
                if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                names.insert(name.to_string());
            }
            _ => {}
        }
    }
    // scripts/kube-build.sh, which setup.sh runs: `command -v X … || need+=(…)`
    assert!(setup.contains("kube-build.sh"));
    for line in read("scripts/kube-build.sh").lines() {
        if let Some(rest) = line.strip_prefix("command -v ")
            && line.contains("|| need+=(")
        {
            names.insert(rest.split_whitespace().next().unwrap().to_string());
        }
    }
    names
}

#[test]
fn setup_provides_every_command_the_tests_and_scripts_run() {
    let mut used = spawned_by_tests();
    used.extend(required_by_kube_up());
    // the extraction found the commands it must (a check that can fail)
    for known in ["git", "kubectl", "script", "openssl", "python3", "curl"] {
        assert!(used.contains(known), "{known} not found in {used:?}");
    }
    let provided = provided_by_setup();
    let missing: Vec<&String> = used.difference(&provided).collect();
    assert!(
        missing.is_empty(),
        "the tests run {missing:?}, which scripts/setup.sh does not install (provided: {provided:?})"
    );
}

#[test]
fn every_command_setup_provides_is_on_path() {
    let absent: Vec<String> = provided_by_setup()
        .into_iter()
        .filter(|name| common::which(name).is_none())
        .collect();
    assert!(
        absent.is_empty(),
        "not on PATH (run scripts/setup.sh): {absent:?}"
    );
}

#[test]
fn setup_provides_the_python_modules_the_tests_import() {
    let setup = read("scripts/setup.sh");
    let interop = read("tests/it/interop.rs");
    assert!(interop.contains("import yaml"));
    assert!(
        setup.contains("python3 -c 'import yaml'") && setup.contains("pyyaml"),
        "setup.sh does not install PyYAML"
    );
}
