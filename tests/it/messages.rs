//! Errors that say what to do: every unknown field of ksec.yaml with its
//! line, parser errors in ksec's words, names from input shown escaped,
//! the identity error listing every source, hints that never end empty.

use crate::common;

use common::{Key, code, ksec, ksec_in, project, stderr};
use std::path::Path;

fn run(home: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    ksec(home).current_dir(dir).args(args).output().unwrap()
}

/// Writes `text` as ksec.yaml in `dir`; `ksec namespace list` there must
/// exit 6. Its stderr.
fn namespace_list_refuses(dir: &Path, text: impl AsRef<[u8]>) -> String {
    std::fs::write(dir.join("ksec.yaml"), text).unwrap();
    let out = run(dir, dir, &["namespace", "list"]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    err
}

#[test]
fn every_unknown_field_of_ksec_yaml_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
version: 1
project: x
recipents: {}
namespaces:
  payments:
    recipientz: []
    configMaps:
      - name: a
        literal: {}
        mount: {workload: Deployment/x, path: /a, readonly: true}
    secrets:
      - name: b
        tpye: Opaque
        overrides:
          prod: {source: [x.enc.yaml]}
chek: {}
";
    let err = namespace_list_refuses(dir.path(), text);
    for (line, field) in [
        (3, "recipents: unknown field; did you mean recipients?"),
        (6, "namespaces.payments.recipientz: unknown field"),
        (
            9,
            "namespaces.payments.configMaps[0].literal: unknown field",
        ),
        (
            10,
            "namespaces.payments.configMaps[0].mount.readonly: unknown field; did you mean readOnly?",
        ),
        (
            13,
            "namespaces.payments.secrets[0].tpye: unknown field; did you mean type?",
        ),
        (
            15,
            "namespaces.payments.secrets[0].overrides.prod.source: unknown field",
        ),
        (16, "chek: unknown field"),
    ] {
        assert!(
            err.contains(&format!("ksec.yaml:{line}: {field}")),
            "{field}:\n{err}"
        );
    }
    assert!(err.contains("has 7 problems"), "{err}");
}

#[test]
fn ksec_yaml_parser_errors_are_in_ksec_words() {
    let dir = tempfile::tempdir().unwrap();
    let err = namespace_list_refuses(
        dir.path(),
        "version: 1\nproject: x\nrecipients:\n  a: age1x\n  a: age1y\n",
    );
    assert!(
        err.contains("ksec.yaml:5: key a appears twice in the same mapping"),
        "{err}"
    );
    assert!(
        !err.contains("DuplicateKeyPolicy") && !err.contains("Options"),
        "{err}"
    );

    // a value of the wrong type
    let err = namespace_list_refuses(dir.path(), "version: one\n");
    assert!(
        err.contains("ksec.yaml:1: the value here must be a whole number"),
        "{err}"
    );

    // too large or too deep: no Rust debug text, no parser words
    let big = format!(
        "version: 1\nproject: x\nrecipients:\n{}",
        (0..300_000)
            .map(|i| format!("  r{i}: age1x\n"))
            .collect::<String>()
    );
    let err = namespace_list_refuses(dir.path(), big);
    assert!(
        err.contains("ksec.yaml is too large for ksec to read"),
        "{err}"
    );
    assert!(!err.contains('{') && !err.contains("budget"), "{err}");

    // nesting
    let deep = format!(
        "version: 1\nproject: x\ngroups: {}{}\n",
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let err = namespace_list_refuses(dir.path(), deep);
    assert!(err.contains("ksec.yaml"), "{err}");
    assert!(err.contains("nested too deeply"), "{err}");
    assert!(!err.contains("recursion"), "{err}");
}

/// A message line may carry a name from input only escaped: no raw control
/// character, and nothing that starts a line of its own.
fn assert_escaped(err: &str, forged: &str) {
    assert!(
        !err.chars().any(|c| c.is_control() && c != '\n'),
        "raw control character in:\n{err:?}"
    );
    assert!(
        !err.lines().any(|l| l.starts_with(forged)),
        "a name started a line of its own:\n{err}"
    );
}

/// The exit code of these refusals, by what is wrong: an unknown `--env` is
/// a wrong command line (2), an unknown namespace does not exist (3), a bad
/// name or recipient is invalid input (6).
fn refusal_code(args: &[&str]) -> i32 {
    match args {
        [.., "--env", _] => 2,
        ["render", "-n", _] | ["namespace", "remove", _] => 3,
        _ => 6,
    }
}

#[test]
fn names_with_control_characters_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    project(dir.path(), &[&key]);

    // from the command line: namespace add, namespace remove
    for args in [
        &[
            "namespace",
            "add",
            "a\nerror: forged",
            "--owner-group",
            "g",
            "-r",
            "r0",
        ][..],
        &[
            "namespace",
            "add",
            "search",
            "--owner-group",
            "g",
            "-r",
            "r0\nerror: forged",
        ],
        &[
            "namespace",
            "add",
            "search",
            "--owner-group",
            "g",
            "-r",
            "r0",
            "--env",
            "e\nerror: forged",
        ],
        &["namespace", "remove", "x\nerror: forged"],
        &["render", "--env", "e\nerror: forged"],
        &["render", "-n", "x\nerror: forged"],
        &["encrypt", "ksec.yaml", "-r", "x\nerror: forged"],
    ] {
        let out = run(dir.path(), dir.path(), args);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(refusal_code(args)), "{args:?}: {err}");
        assert_escaped(&err, "error: forged");
        assert!(err.contains("\\nerror: forged"), "{args:?}: {err}");
    }

    // from init
    let root = dir.path().join("p");
    for args in [
        vec![
            "init".to_string(),
            "--name".into(),
            "a\nerror: forged".into(),
        ],
        vec![
            "init".to_string(),
            "--recipient".into(),
            format!("al\nerror: forged={}", key.recipient),
        ],
    ] {
        let out = ksec(dir.path()).args(&args).arg(&root).output().unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), Some(6), "{err}");
        assert_escaped(&err, "error: forged");
        assert!(err.contains("\\nerror: forged"), "{err}");
    }

    // from ksec.yaml
    let text = "version: 1\nproject: x\nnamespaces:\n  \"pay\\nerror: forged\\u001b[31m\": {}\nenvironments:\n  \"e\\rx\": {context: c}\n";
    let err = namespace_list_refuses(dir.path(), text);
    assert_escaped(&err, "error: forged");
    assert!(err.contains("\\nerror: forged\\u{1b}[31m"), "{err}");
    assert!(err.contains("\\rx"), "{err}");
    // each with the line of the name
    assert!(
        err.contains("ksec.yaml:4: namespaces.\"pay\\nerror"),
        "{err}"
    );
    assert!(err.contains("ksec.yaml:6: environments.\"e\\rx\""), "{err}");
}

const SOURCES: &[&str] = &[
    "--identity (not given)",
    "KSEC_AGE_KEY (not set)",
    "KSEC_AGE_KEY_FILE (not set)",
    "KSEC_AGE_KEY_CMD (not set)",
    "SOPS_AGE_KEY (not set)",
    "SOPS_AGE_KEY_FILE (not set)",
    "SOPS_AGE_KEY_CMD (not set)",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE (not set)",
    "OS keyring",
    "ksec/keys.txt (no such file)",
    "sops/age/keys.txt (no such file)",
];

fn assert_lists_every_source(err: &str) {
    let mut at = 0;
    for source in SOURCES {
        let found = err[at..]
            .find(source)
            .unwrap_or_else(|| panic!("{source} missing, or out of order:\n{err}"));
        at += found + source.len();
    }
    assert!(err.contains("hint: "), "{err}");
}

#[test]
fn the_identity_error_lists_every_source_in_lookup_order() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    project(dir.path(), &[&key]);
    std::fs::write(dir.path().join("namespaces/payments/db.yaml"), "A: x\n").unwrap();
    let out = ksec_in(
        dir.path(),
        &key,
        &[
            "encrypt",
            "namespaces/payments/db.yaml",
            "--output",
            "namespaces/payments/db.enc.yaml",
        ],
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let yaml = std::fs::read_to_string(dir.path().join("ksec.yaml")).unwrap()
        + "    secrets:\n      - name: db\n        sources: [db.enc.yaml]\n";
    std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();

    for args in [
        &["decrypt", "namespaces/payments/db.enc.yaml"][..],
        &["render"],
        &["set", "namespaces/payments/db.enc.yaml", "A", "y"],
    ] {
        let out = run(dir.path(), dir.path(), args);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(4), "{args:?}: {err}");
        assert!(err.contains("no age identity found"), "{err}");
        assert_lists_every_source(&err);
    }

    // without HOME and XDG_CONFIG_HOME the default files are still named
    let out = ksec(dir.path())
        .current_dir(dir.path())
        .env_remove("HOME")
        .expect_secret_output()
        .args(["decrypt", "namespaces/payments/db.enc.yaml"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), Some(4), "{err}");
    assert!(
        err.contains("~/.config/ksec/keys.txt (neither XDG_CONFIG_HOME nor HOME is set)"),
        "{err}"
    );
    assert!(err.contains("~/.config/sops/age/keys.txt"), "{err}");
}

/// The hint of an error, which must not end in an empty list.
fn hint(err: &str) -> &str {
    let hint = err
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("hint: "))
        .unwrap_or_else(|| panic!("no hint:\n{err}"));
    assert!(!hint.trim_end().ends_with(':'), "empty hint: {err}");
    hint
}

#[test]
fn hints_that_list_names_say_what_to_do_when_there_are_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    let key = Key::new(dir.path(), "key");
    let out = ksec(dir.path())
        .args(["init", "--name", "shop", "--recipient"])
        .arg(format!("alice={}", key.recipient))
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    for args in [
        &["render", "--env", "prod"][..],
        &["render", "-n", "payments"],
        &["namespace", "remove", "payments"],
        &[
            "namespace",
            "add",
            "search",
            "--owner-group",
            "g",
            "-r",
            "alice",
            "--env",
            "prod",
        ],
    ] {
        let out = run(dir.path(), &root, args);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(refusal_code(args)), "{args:?}: {err}");
        let hint = hint(&err);
        assert!(hint.contains("none yet; add one"), "{args:?}: {err}");
    }
}

#[test]
fn namespace_add_suggests_commands_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "key");
    let yaml = format!(
        "version: 1\nproject: shop\nrecipients:\n  alice: {}\nenvironments:\n  staging: {{context: s}}\n  prod: {{context: p}}\nnamespaces: {{}}\n",
        key.recipient
    );
    std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
    let out = ksec_in(
        dir.path(),
        &key,
        &[
            "namespace",
            "add",
            "search",
            "--owner-group",
            "devs",
            "-r",
            "alice",
        ],
    );
    let err = stderr(&out);
    assert_eq!(code(&out), Some(0), "{err}");
    let next = err.lines().find(|l| l.starts_with("next: ")).expect(&err);
    let render = next
        .split('`')
        .find(|part| part.starts_with("ksec render"))
        .unwrap_or_else(|| panic!("{next}"));
    assert!(render.contains("--env "), "{next}");
    let args: Vec<&str> = render.split_whitespace().skip(1).collect();
    let out = ksec_in(dir.path(), &key, &args);
    assert_eq!(code(&out), Some(0), "{render}: {}", stderr(&out));
}
