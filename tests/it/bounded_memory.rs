//! Hostile inputs under a memory cap: YAML alias bombs ("billion laughs"),
//! deep nesting and huge scalars, in every kind of input ksec reads
//! (encrypted YAML — the fast path's shape too —, encrypted dotenv, plain
//! YAML and dotenv to encrypt, ksec.yaml, env files, the merge driver's
//! inputs; JSON, INI and multi-document YAML too), each give the named "invalid input" error (exit 6) naming the
//! file and the limit, while the process runs under `prlimit --as` (an
//! address-space cap): without a limit the allocation fails and the process
//! aborts instead.

use crate::common;

use common::{Key, code, stderr};
use std::path::{Path, PathBuf};

/// The address space ksec may use: a few times what a normal run needs
/// (threads' stacks and allocator arenas are address space too), far
/// below what an unbounded read of these inputs takes.
const CAP_BYTES: u64 = 256 * 1024 * 1024;

/// `ksec ARGS` in `dir` under the address-space cap, with `key`.
fn capped(dir: &Path, key: &Key, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg(format!("--as={CAP_BYTES}"))
        .arg("--")
        .arg(assert_cmd::cargo::cargo_bin("ksec"))
        .args(args)
        .current_dir(dir);
    for var in common::KEY_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", dir)
        .env("KSEC_AGE_KEY_FILE", &key.file)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
    cmd.output().expect("prlimit runs (util-linux)")
}

/// Exit 6 with a message naming `file` and a limit; never a crash.
fn assert_limit_error(out: &std::process::Output, file: &str) {
    assert_limit_error_code(out, file, 6);
}

fn assert_limit_error_code(out: &std::process::Output, file: &str, want: i32) {
    let err = stderr(out);
    assert_eq!(
        code(out),
        Some(want),
        "expected exit {want}, got {:?}: {err}",
        out.status
    );
    assert!(err.contains(file), "the error does not name {file}: {err}");
    assert!(
        ["larger than", "too large", "too deeply", "more than"]
            .iter()
            .any(|limit| err.contains(limit)),
        "the error does not name a limit: {err}"
    );
}

/// Ten levels of ten aliases each: 10^10 strings once expanded.
fn alias_bomb() -> String {
    let mut s = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = format!("*l{}", i - 1);
        let items = [prev.as_str(); 10].join(", ");
        s.push_str(&format!("l{i}: &l{i} [{items}]\n"));
    }
    s
}

/// A block map nested `levels` deep, in the shape the fast path reads.
fn deep_block(levels: usize) -> String {
    let mut s = String::new();
    for i in 0..levels {
        s.push_str(&" ".repeat(i));
        s.push_str("k:\n");
    }
    s.push_str(&" ".repeat(levels));
    s.push_str("k: ENC[AES256_GCM,data:AA==,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n");
    s
}

/// Flow sequences nested `levels` deep: `[[[…]]]`.
fn deep_flow(levels: usize) -> String {
    format!("k: {}{}\n", "[".repeat(levels), "]".repeat(levels))
}

/// One scalar of `bytes` bytes: larger than the 64 MiB file limit.
fn huge_scalar_yaml(bytes: usize) -> Vec<u8> {
    let mut v = b"k: ".to_vec();
    v.resize(bytes, b'x');
    v.push(b'\n');
    v
}

/// A sops metadata block (no valid key: these files fail before it counts).
const SOPS_META: &str = "sops:\n    age:\n        - recipient: age1qqqq\n          enc: x\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:AA==,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n    version: 3.11.0\n";

const HUGE: usize = 100 * 1024 * 1024;

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key: Key,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let key = Key::new(&dir, "me");
    World {
        _tmp: tmp,
        dir,
        key,
    }
}

impl World {
    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.dir.join(name), bytes).unwrap();
    }
    fn run(&self, args: &[&str]) -> std::process::Output {
        capped(&self.dir, &self.key, args)
    }
}

#[test]
fn a_normal_run_fits_under_the_memory_cap() {
    // the cap is not so low that every run fails for the wrong reason
    let w = world();
    w.write("plain.yaml", format!("password: {}\n", common::CANARY));
    let r = w.key.recipient.clone();
    let out = w.run(&["encrypt", "plain.yaml", "-r", &r, "--output", "s.enc.yaml"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let out = w.run(&["decrypt", "s.enc.yaml"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
}

#[test]
fn encrypted_yaml_bombs_are_limit_errors_under_a_memory_cap() {
    let w = world();
    w.write("bomb.enc.yaml", alias_bomb() + SOPS_META);
    assert_limit_error(&w.run(&["decrypt", "bomb.enc.yaml"]), "bomb.enc.yaml");
    // the fast path's shape, deeper than any limit
    w.write("deep.enc.yaml", deep_block(20_000) + SOPS_META);
    assert_limit_error(&w.run(&["decrypt", "deep.enc.yaml"]), "deep.enc.yaml");
    w.write("flow.enc.yaml", deep_flow(1_000_000) + SOPS_META);
    assert_limit_error(&w.run(&["decrypt", "flow.enc.yaml"]), "flow.enc.yaml");
    w.write("huge.enc.yaml", huge_scalar_yaml(HUGE));
    assert_limit_error(&w.run(&["decrypt", "huge.enc.yaml"]), "huge.enc.yaml");
}

#[test]
fn encrypted_dotenv_bombs_are_limit_errors_under_a_memory_cap() {
    let w = world();
    // dotenv has no aliases; its metadata nests by `__map_` in key names
    // (damaged metadata: exit 5)
    let deep = format!("K=v\nsops_age{}=x\n", "__map_k".repeat(5_000));
    w.write("deep.enc.env", deep);
    assert_limit_error_code(&w.run(&["decrypt", "deep.enc.env"]), "deep.enc.env", 5);
    let mut huge = b"K=".to_vec();
    huge.resize(HUGE, b'x');
    w.write("huge.enc.env", huge);
    assert_limit_error(&w.run(&["decrypt", "huge.enc.env"]), "huge.enc.env");
}

#[test]
fn plain_yaml_bombs_are_limit_errors_when_encrypting_under_a_memory_cap() {
    let w = world();
    let r = w.key.recipient.clone();
    for (name, text) in [
        ("bomb.yaml", alias_bomb().into_bytes()),
        ("deep.yaml", deep_flow(1_000_000).into_bytes()),
        ("huge.yaml", huge_scalar_yaml(HUGE)),
    ] {
        w.write(name, text);
        let out = w.run(&["encrypt", name, "-r", &r, "--output", "out.enc.yaml"]);
        assert_limit_error(&out, name);
        assert!(
            !w.dir.join("out.enc.yaml").exists(),
            "{name}: an output was written"
        );
    }
}

/// A project whose namespace `ns` reads the env file `app.env`.
fn project_with_env_file(w: &World) {
    std::fs::create_dir_all(w.dir.join("namespaces/ns")).unwrap();
    w.write(
        "ksec.yaml",
        format!(
            "version: 1\nproject: p\nrecipients:\n  me: {}\nnamespaces:\n  ns:\n    recipients: [me]\n    configMaps:\n      - name: c\n        envFiles: [app.env]\n",
            w.key.recipient
        ),
    );
}

#[test]
fn ksec_yaml_bombs_are_limit_errors_under_a_memory_cap() {
    let w = world();
    for text in [
        alias_bomb().into_bytes(),
        deep_flow(1_000_000).into_bytes(),
        huge_scalar_yaml(HUGE),
    ] {
        w.write("ksec.yaml", text);
        assert_limit_error(&w.run(&["render"]), "ksec.yaml");
    }
}

#[test]
fn a_huge_env_file_is_a_limit_error_under_a_memory_cap() {
    // env files have no aliases or nesting: one line is the only bomb
    let w = world();
    project_with_env_file(&w);
    let mut huge = b"K=".to_vec();
    huge.resize(HUGE, b'x');
    w.write("namespaces/ns/app.env", huge);
    assert_limit_error(&w.run(&["render"]), "app.env");
}

#[test]
fn merge_driver_bombs_are_limit_errors_under_a_memory_cap() {
    let w = world();
    w.write("base.yaml", "");
    w.write("theirs.yaml", "");
    for (name, text) in [
        ("bomb.yaml", (alias_bomb() + SOPS_META).into_bytes()),
        ("deep.yaml", (deep_block(20_000) + SOPS_META).into_bytes()),
        ("huge.yaml", huge_scalar_yaml(HUGE)),
    ] {
        w.write(name, &text);
        let out = w.run(&["git", "merge", "base.yaml", name, "theirs.yaml", name]);
        assert_limit_error(&out, name);
        assert_eq!(
            std::fs::read(w.dir.join(name)).unwrap(),
            text,
            "{name}: the merge driver changed our side"
        );
    }
}

#[test]
fn json_ini_and_multi_document_bombs_are_limit_errors_under_a_memory_cap() {
    let w = world();
    let r = w.key.recipient.clone();
    // 10 million values, 5 million INI keys, 5 million YAML documents, and
    // JSON nested far deeper than its parser goes: each would take far more
    // than the cap as a tree
    let wide = format!("{{\"a\": [{}1]}}\n", "1,".repeat(10_000_000));
    let deep = format!(
        "{{\"a\": {}{}}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let ini = format!("[s]\n{}", "k=v\n".repeat(5_000_000));
    let docs = "---\na: 1\n".repeat(5_000_000);
    for (plain, text, encrypted) in [
        ("wide.json", &wide, "wide.enc.json"),
        ("deep.json", &deep, "deep.enc.json"),
        ("big.ini", &ini, "big.enc.ini"),
        ("docs.yaml", &docs, "docs.enc.yaml"),
    ] {
        w.write(plain, text);
        let out = w.run(&["encrypt", plain, "-r", &r, "--output", encrypted]);
        assert_limit_error(&out, plain);
        assert!(
            !w.dir.join(encrypted).exists(),
            "{plain}: an output was written"
        );
        w.write(encrypted, text);
        assert_limit_error(&w.run(&["decrypt", encrypted]), encrypted);
    }
}

/// A version of a source larger than a source may be, committed in the
/// history (then repaired): `access --exposed` and `check --rotation` read
/// no byte of it (git is asked its size only) and count it as a version
/// not compared; reading it would pass the address-space cap.
#[test]
fn a_huge_version_in_the_git_history_is_not_read() {
    use crate::access_exposed::{FILE, World};
    let w = World::bob_came_and_went();
    let good = std::fs::read(w.root.join(FILE)).unwrap();
    let huge = std::fs::File::create(w.root.join(FILE)).unwrap();
    huge.set_len(CAP_BYTES + 64 * 1024 * 1024).unwrap();
    drop(huge);
    w.commit("2026-03-05T10:00:00Z");
    std::fs::write(w.root.join(FILE), good).unwrap();
    w.commit("2026-03-06T10:00:00Z");
    let out = capped(&w.root, &w.alice, &["access", "--exposed", "-o", "json"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["key"], "FIRST", "{v:#}");
    assert_eq!(v[0]["uncomparedVersions"], 1, "{v:#}");
    assert!(
        stderr(&out).contains(&format!(
            "note: 1 version of {FILE} is no SOPS file ksec can read"
        )),
        "{}",
        stderr(&out)
    );
}

/// A ksec.yaml committed with an alias bomb (then repaired): the history's
/// loose read of past recipients' names stays within the same budget.
#[test]
fn an_alias_bomb_in_a_past_ksec_yaml_is_not_expanded() {
    use crate::access_exposed::World;
    let w = World::bob_came_and_went();
    let good = std::fs::read_to_string(w.root.join("ksec.yaml")).unwrap();
    std::fs::write(w.root.join("ksec.yaml"), format!("{good}{}", alias_bomb())).unwrap();
    w.commit("2026-03-05T10:00:00Z");
    std::fs::write(w.root.join("ksec.yaml"), good).unwrap();
    w.commit("2026-03-06T10:00:00Z");
    let out = capped(&w.root, &w.alice, &["access", "--exposed", "-o", "json"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["recipients"][0]["name"], "bob", "{v:#}");
}
