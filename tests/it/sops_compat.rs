//! The SOPS format read and written exactly like sops 3.11 does, tested
//! against the real `sops` binary:
//! - YAML under a `*.json` name is read but not written back; `encrypt`
//!   refuses an output named for another store (JSON, binary, INI and
//!   multi-document files are in `formats`);
//! - unquoted YAML timestamps are `type:time`, both directions;
//! - a block scalar at the end of a file keeps its exact bytes;
//! - numbers decrypt in the form `sops -d` prints;
//! - a changed type tag is an integrity error naming the key;
//! - indices and sizes taken from the file are bounded (a crafted dotenv
//!   line does not exhaust memory);
//! - YAML limits, duplicate keys and damaged data-key stanzas have messages
//!   that say what is wrong and what to do.

use crate::common;

use common::{CANARY, Key, code, ksec_with, run_ok, sops, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

/// A temporary directory with a HOME and a key of its own (`formats` uses
/// it too, with methods of its own).
pub(crate) struct Scratch {
    pub(crate) dir: TempDir,
    pub(crate) home: PathBuf,
    pub(crate) key: Key,
}

impl Scratch {
    pub(crate) fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let key = Key::new(dir.path(), "me");
        Scratch { dir, home, key }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn sops(&self, key: bool) -> Command {
        let mut cmd = sops(key.then_some(&self.key));
        cmd.env("HOME", &self.home).current_dir(self.dir.path());
        cmd
    }

    /// `sops -e --age ME FILE` (format from the extension) written to `out`.
    fn sops_encrypt(&self, file: &Path, out: &str) -> PathBuf {
        let text = run_ok(
            self.sops(false)
                .args(["-e", "--age", &self.key.recipient])
                .arg(file),
        );
        self.write(out, &text)
    }

    fn sops_decrypt(&self, file: &Path) -> Output {
        self.sops(true).arg("-d").arg(file).output().unwrap()
    }

    fn sops_decrypt_ok(&self, file: &Path) -> String {
        let out = self.sops_decrypt(file);
        assert!(
            out.status.success(),
            "sops -d {}: {}",
            file.display(),
            stderr(&out)
        );
        stdout(&out)
    }

    /// `ksec ARGS` (decrypt prints the secret asked for).
    fn ksec(&self, args: &[&str]) -> Output {
        ksec_with(&self.home, &self.key)
            .expect_secret_output()
            .current_dir(self.dir.path())
            .env("EDITOR", "true")
            .args(args)
            .output()
            .unwrap()
    }

    fn ksec_decrypt_ok(&self, file: &Path) -> String {
        let out = self.ksec(&["decrypt", file.to_str().unwrap()]);
        assert_eq!(
            code(&out),
            Some(0),
            "ksec decrypt {}: {}",
            file.display(),
            stderr(&out)
        );
        stdout(&out)
    }

    /// `ksec encrypt -r ME FILE --output OUT`, asserting success.
    pub(crate) fn ksec_encrypt(&self, file: &Path, out: &str) -> PathBuf {
        let path = self.path(out);
        let res = self.ksec(&[
            "encrypt",
            file.to_str().unwrap(),
            "-r",
            &self.key.recipient,
            "--output",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code(&res), Some(0), "ksec encrypt: {}", stderr(&res));
        path
    }

    /// `ksec edit FILE` with an editor script `editor.sh` holding `script`.
    fn edit_with(&self, file: &Path, script: &str) -> Output {
        let editor = self.write("editor.sh", script);
        std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        ksec_with(&self.home, &self.key)
            .current_dir(self.dir.path())
            .env("EDITOR", &editor)
            .arg("edit")
            .arg(file)
            .output()
            .unwrap()
    }

    /// `ksec decrypt FILE`, bounded by `run_bounded`.
    fn decrypt_bounded(&self, file: &Path) -> Output {
        let mut cmd = ksec_std(&self.home, &self.key);
        cmd.arg("decrypt").arg(file);
        run_bounded(cmd)
    }
}

/// `ksec` as a std command (for `run_bounded`), with the same clean
/// environment as `common::ksec_with`.
fn ksec_std(home: &Path, key: &Key) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ksec"));
    for var in common::KEY_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .env("KSEC_AGE_KEY_FILE", &key.file)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
    cmd
}

/// Run `cmd` to its end, killing it (and failing the test) if it is still
/// running after a bounded number of polls: a hang or unbounded allocation
/// fails rather than stalls the suite.
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            // decrypt and textconv print the secret asked for
            common::canary::record_std(&cmd, &out, true);
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().ok();
    let out = child.wait_with_output().unwrap();
    panic!("{cmd:?} did not finish; stderr: {}", stderr(&out));
}

/// The `type:` tag of each top-level `key: ENC[…]` line of a YAML file.
fn type_tags(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with(' ') && l.contains(": ENC["))
        .map(|l| {
            let key = l.split(':').next().unwrap().to_string();
            let tag = l.rsplit("type:").next().unwrap().trim_end_matches(']');
            (key, tag.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// 1. JSON and binary files
// ---------------------------------------------------------------------------

#[test]
fn a_json_named_file_holding_yaml_is_readable_but_not_rewritten() {
    // what an older ksec left after `set` on a sops JSON file
    let s = Scratch::new();
    let yaml = s.write("p.yaml", &format!("a: {CANARY}\n"));
    let enc = s.ksec_encrypt(&yaml, "x.enc.yaml");
    let file = s.path("x.json");
    std::fs::rename(&enc, &file).unwrap();
    let before = std::fs::read(&file).unwrap();
    let name = file.to_str().unwrap();
    for args in [
        vec!["set", name, "a", "b"],
        vec!["unset", name, "a"],
        vec!["edit", name],
    ] {
        let out = s.ksec(&args);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(6), "{args:?}: {err}");
        assert!(
            err.contains("holds SOPS YAML under a name sops reads as JSON") && err.contains(name),
            "{err}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }
    assert_eq!(s.ksec_decrypt_ok(&file), format!("a: {CANARY}\n"));
}

#[test]
fn encrypt_refuses_an_output_named_for_another_store() {
    let s = Scratch::new();
    let json = s.write("x.json", "{\"a\": \"b\"}\n");
    let ini = s.write("x.ini", "[s]\na = b\n");
    let yaml = s.write("x.yaml", "a: b\n");
    let loose = s.write("x.txt", "{\"a\": \"b\"}\n");
    for (input, output, says) in [
        (
            &json,
            "out.enc.yaml",
            "sops reads a file of this name as YAML",
        ),
        (
            &ini,
            "out.enc.yaml",
            "sops reads a file of this name as YAML",
        ),
        (
            &yaml,
            "out.enc.ini",
            "sops reads a file of this name as INI",
        ),
        (
            &yaml,
            "out.enc.json",
            "sops reads a file of this name as JSON",
        ),
        (
            &loose,
            "out.enc.yaml",
            "sops reads a file of this name as YAML",
        ),
    ] {
        let out_path = s.path(output);
        let out = s.ksec(&[
            "encrypt",
            input.to_str().unwrap(),
            "-r",
            &s.key.recipient,
            "--output",
            out_path.to_str().unwrap(),
        ]);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(6), "{input:?} -> {output}: {err}");
        assert!(err.contains(says), "{err}");
        assert!(!out_path.exists(), "{output} was written");
    }
}

// ---------------------------------------------------------------------------
// 2. Timestamps
// ---------------------------------------------------------------------------

const TIMES: &str = "date: 2024-01-02\n\
short: 2024-1-2\n\
utc: 2024-01-02T03:04:05Z\n\
lower_t: 2024-01-02t03:04:05Z\n\
spaced: 2024-01-02 03:04:05.250\n\
offset: 2024-01-02T03:04:05.123456789+02:00\n\
zero_offset: 2024-01-02T03:04:05-00:00\n\
no_zone: 2024-01-02T03:04:05\n\
bad_month: 2024-13-45\n\
quoted: \"2024-01-02\"\n\
single: '2024-01-02'\n\
tagged: !!str 2024-01-02\n\
list:\n    - 2024-01-02\n    - \"2024-01-02\"\n";

#[test]
fn unquoted_timestamps_written_by_sops_decrypt_with_ksec_as_sops_prints_them() {
    let s = Scratch::new();
    let plain = s.write("t.yaml", TIMES);
    let enc = s.sops_encrypt(&plain, "t.enc.yaml");
    assert!(std::fs::read_to_string(&enc).unwrap().contains("type:time"));
    assert_eq!(s.ksec_decrypt_ok(&enc), s.sops_decrypt_ok(&enc));
}

#[test]
fn ksec_encrypts_unquoted_timestamps_as_type_time_like_sops() {
    let s = Scratch::new();
    let plain = s.write("t.yaml", TIMES);
    let by_sops = s.sops_encrypt(&plain, "t.sops.yaml");
    let by_ksec = s.ksec_encrypt(&plain, "t.ksec.yaml");
    let tags = |p: &Path| type_tags(&std::fs::read_to_string(p).unwrap());
    assert_eq!(tags(&by_ksec), tags(&by_sops));
    assert!(tags(&by_ksec).contains(&("date".into(), "time".into())));
    assert_eq!(s.sops_decrypt_ok(&by_ksec), s.sops_decrypt_ok(&by_sops));
    assert_eq!(s.ksec_decrypt_ok(&by_ksec), s.sops_decrypt_ok(&by_sops));
}

// ---------------------------------------------------------------------------
// 3. Block scalars at the end of a file
// ---------------------------------------------------------------------------

#[test]
fn a_block_scalar_at_the_end_of_a_file_keeps_its_bytes_through_ksec_encrypt() {
    let s = Scratch::new();
    let mut cases = Vec::new();
    for header in ["|", "|-", "|+", ">", "|2"] {
        for ending in ["", "\n", "\n\n"] {
            cases.push(format!("a: x\nk: {header}\n  line1\n  line2{ending}"));
            cases.push(format!(
                "a: x\nl:\n  - {header}\n    line1\n    line2{ending}"
            ));
        }
    }
    for (i, text) in cases.iter().enumerate() {
        let plain = s.write(&format!("b{i}.yaml"), text);
        let by_sops = s.sops_encrypt(&plain, &format!("b{i}.sops.yaml"));
        let by_ksec = s.ksec_encrypt(&plain, &format!("b{i}.ksec.yaml"));
        let want = s.sops_decrypt_ok(&by_sops);
        assert_eq!(s.sops_decrypt_ok(&by_ksec), want, "{text:?}");
        assert_eq!(s.ksec_decrypt_ok(&by_ksec), want, "{text:?}");
        assert_eq!(s.ksec_decrypt_ok(&by_sops), want, "{text:?}");
    }
}

// ---------------------------------------------------------------------------
// 4. Numbers
// ---------------------------------------------------------------------------

const NUMBERS: &str = "int: 2\n\
zero: 0\n\
negative: -17\n\
big_int: 9223372036854775807\n\
hex: 0x1F\n\
whole_float: 2.0\n\
float: 3.14\n\
negative_float: -0.25\n\
exp: 1.234568e+09\n\
exp_small: 1.5e-7\n\
exp_plain: 1e3\n\
ten_thousandth: 0.0001\n\
hundred_thousandth: 0.00001\n\
six_digits: 123456.0\n\
seven_digits: 1234567.0\n\
huge: 1e20\n\
too_big_for_int: 123456789012345678901234567890\n\
inf: .inf\n\
minus_inf: -.inf\n\
nan: .nan\n\
plus: +5\n\
underscore: 1_000\n\
octal: 0o17\n\
minus_zero: -0\n\
minus_zero_float: -0.0\n\
int_min: -9223372036854775808\n\
avogadro: 6.02e23\n\
tenth: 0.1\n\
list:\n    - 2.0\n    - 1e21\n    - 7\n";

#[test]
fn numbers_decrypt_as_sops_prints_them_from_sops_and_ksec_files() {
    let s = Scratch::new();
    let plain = s.write("n.yaml", NUMBERS);
    let by_sops = s.sops_encrypt(&plain, "n.sops.yaml");
    let by_ksec = s.ksec_encrypt(&plain, "n.ksec.yaml");
    let want = s.sops_decrypt_ok(&by_sops);
    assert!(want.contains("whole_float: 2\n"), "{want}");
    assert_eq!(s.ksec_decrypt_ok(&by_sops), want);
    assert_eq!(s.ksec_decrypt_ok(&by_ksec), want);
    assert_eq!(s.sops_decrypt_ok(&by_ksec), want);
    let tags = |p: &Path| type_tags(&std::fs::read_to_string(p).unwrap());
    assert_eq!(tags(&by_ksec), tags(&by_sops));
}

#[test]
fn an_integer_beyond_int64_is_refused_by_encrypt_as_sops_refuses_it() {
    let s = Scratch::new();
    let plain = s.write("u.yaml", "a: 1\nu: 18446744073709551615\n");
    let theirs = s
        .sops(false)
        .args(["-e", "--age", &s.key.recipient])
        .arg(&plain)
        .output()
        .unwrap();
    assert!(!theirs.status.success(), "sops encrypted it");
    let out = s.ksec(&["encrypt", plain.to_str().unwrap(), "-r", &s.key.recipient]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(
        err.contains("u.yaml:2:") && err.contains("quote it"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn edit_keeps_the_ciphertext_of_an_unchanged_whole_float_printed_as_sops_prints_it() {
    let s = Scratch::new();
    let plain = s.write("n.yaml", "f: 2.0\nother: x\n");
    let file = s.sops_encrypt(&plain, "n.enc.yaml");
    let line = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("f: "))
            .unwrap()
            .to_string()
    };
    let before = line(&file);
    // the editor sees `f: 2` (as sops prints it) and changes only `other`
    let out = s.edit_with(
        &file,
        "#!/bin/sh\ngrep -qx 'f: 2' \"$1\" || exit 1\nsed -i 's/^other: x$/other: y/' \"$1\"\n",
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(line(&file), before, "the float's line changed");
    assert_eq!(s.sops_decrypt_ok(&file), "f: 2\nother: \"y\"\n");
}

#[test]
fn edit_of_a_sops_file_with_times_and_numbers_changes_only_the_edited_line() {
    let s = Scratch::new();
    // -0.0 prints as `-0`, which reads back as the int 0: a changed value
    // (sops's edit changes it too), so it is left out here
    let numbers: String = NUMBERS
        .replace("list:", "nums:")
        .lines()
        .filter(|l| !l.starts_with("minus_zero_float:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let plain = s.write("m.yaml", &format!("{TIMES}{numbers}changed: old\n"));
    let file = s.sops_encrypt(&plain, "m.enc.yaml");
    let before = std::fs::read_to_string(&file).unwrap();
    let out = s.edit_with(
        &file,
        "#!/bin/sh\nsed -i 's/^changed: old$/changed: new/' \"$1\"\n",
    );
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let after = std::fs::read_to_string(&file).unwrap();
    let changed: Vec<&str> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(before.lines().count(), after.lines().count());
    // lastmodified may keep its text within the same second
    let changed: Vec<&str> = changed
        .into_iter()
        .filter(|k| *k != "lastmodified")
        .collect();
    assert_eq!(changed, ["changed", "mac"]);
}

// ---------------------------------------------------------------------------
// 5. Type tags
// ---------------------------------------------------------------------------

#[test]
fn a_value_that_does_not_parse_as_its_type_tag_is_an_integrity_error_like_sops() {
    let s = Scratch::new();
    let plain = s.write(
        "v.yaml",
        &format!("count: 2\nword: abc\nsecret: {CANARY}\n"),
    );
    let enc = std::fs::read_to_string(s.sops_encrypt(&plain, "v.enc.yaml")).unwrap();
    let retag = |key: &str, from: &str, to: &str| {
        enc.lines()
            .map(|l| {
                if l.starts_with(&format!("{key}: ")) {
                    l.replace(&format!("type:{from}]"), &format!("type:{to}]"))
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    for (name, key, from, to) in [
        ("int-as-bool.yaml", "count", "int", "bool"),
        ("str-as-float.yaml", "word", "str", "float"),
        ("str-as-int.yaml", "word", "str", "int"),
        ("secret-as-time.yaml", "secret", "str", "time"),
    ] {
        let text = retag(key, from, to);
        assert_ne!(text, enc, "{name}: nothing retagged");
        let file = s.write(name, &text);
        let theirs = s.sops_decrypt(&file);
        assert!(!theirs.status.success(), "sops accepted {name}");
        let out = s.ksec(&["decrypt", file.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(5), "{name}: {err}");
        assert!(err.contains(&format!("key {key}")), "{name}: {err}");
        assert!(err.contains(&format!("type:{to}")), "{name}: {err}");
        assert!(stdout(&out).is_empty(), "{name}: printed a value");
        assert!(!err.contains(CANARY) && !err.contains("abc"), "{err}");
    }
}

// ---------------------------------------------------------------------------
// 6. Bounded memory
// ---------------------------------------------------------------------------

const BOMB: &str = "sops_age__list_99999999999__map_recipient=x\n";

#[test]
fn a_huge_list_index_in_dotenv_metadata_is_refused_by_decrypt() {
    let s = Scratch::new();
    let plain = s.write("d.env", &format!("A=1\nSECRET={CANARY}\n"));
    let enc = std::fs::read_to_string(s.sops_encrypt(&plain, "d.enc.env")).unwrap();
    let file = s.write("bomb.env", &format!("{enc}{BOMB}"));
    let out = s.decrypt_bounded(&file);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(5), "{err}");
    assert!(
        err.contains("bomb.env") && err.contains("99999999999"),
        "{err}"
    );
    assert!(err.contains("restore"), "{err}");
    assert!(!stdout(&out).contains(CANARY));
    // a gap in a list is refused the same way (sops: "Incomplete list")
    let gap = enc.replace("sops_age__list_0__", "sops_age__list_1__");
    let file = s.write("gap.env", &gap);
    let out = s.decrypt_bounded(&file);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    // deep nesting in a metadata key is refused before it is built
    let deep = format!("{enc}sops_x{}=1\n", "__map_y".repeat(5000));
    let file = s.write("deep.env", &deep);
    let out = s.decrypt_bounded(&file);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
}

#[test]
fn deeply_nested_encrypted_yaml_is_refused_not_a_stack_overflow() {
    let s = Scratch::new();
    let enc = s.ksec_encrypt(&s.write("p.yaml", "a: b\n"), "p.enc.yaml");
    let text = std::fs::read_to_string(&enc).unwrap();
    let meta = &text[text.find("sops:").unwrap()..];
    let mut deep = String::new();
    for i in 0..6_000 {
        deep.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
    }
    deep.push_str(&format!("{}leaf: \"\"\n", " ".repeat(6_000)));
    let file = s.write("deep.enc.yaml", &format!("{deep}{meta}"));
    let out = s.decrypt_bounded(&file);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(
        err.contains("deep.enc.yaml") && err.contains("64 levels of nesting"),
        "{err}"
    );
}

#[test]
fn an_endless_input_is_refused_after_the_size_limit() {
    let s = Scratch::new();
    for args in [
        vec!["decrypt", "/dev/zero"],
        vec!["encrypt", "/dev/zero", "-r", &s.key.recipient],
    ] {
        let mut cmd = ksec_std(&s.home, &s.key);
        cmd.args(&args);
        let out = run_bounded(cmd);
        let err = stderr(&out);
        assert_eq!(code(&out), Some(6), "{args:?}: {err}");
        assert!(err.contains("/dev/zero is larger than 64 MiB"), "{err}");
    }
}

#[test]
fn check_and_git_textconv_finish_on_a_huge_dotenv_list_index() {
    let s = Scratch::new();
    let root = s.path("proj");
    common::project(&root, &[&s.key]);
    run_ok(Command::new("git").arg("init").arg("-q").arg(&root));
    let plain = s.write("d.env", "A=1\n");
    let enc = std::fs::read_to_string(s.sops_encrypt(&plain, "d.enc.env")).unwrap();
    let file = root.join("namespaces/payments/bomb.enc.env");
    std::fs::write(&file, format!("{enc}{BOMB}")).unwrap();
    run_ok(Command::new("git").current_dir(&root).args(["add", "-A"]));

    let mut cmd = ksec_std(&s.home, &s.key);
    cmd.current_dir(&root).arg("check");
    let out = run_bounded(cmd);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(code(&out), Some(11), "{all}");
    assert!(all.contains("bomb.enc.env"), "{all}");

    let mut cmd = ksec_std(&s.home, &s.key);
    cmd.current_dir(&root).args(["git", "textconv"]).arg(&file);
    let out = run_bounded(cmd);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));

    let mut cmd = ksec_std(&s.home, &s.key);
    cmd.current_dir(&root).args(["rekey", "--dry-run"]);
    let out = run_bounded(cmd);
    // the appended lines are not under the MAC: an integrity failure
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------
// 7. Messages
// ---------------------------------------------------------------------------

#[test]
fn a_yaml_document_over_the_node_limit_says_which_limit_and_what_to_do() {
    let s = Scratch::new();
    let mut big = String::from("items:\n");
    for _ in 0..250_001 {
        big.push_str("    - 1\n");
    }
    let plain = s.write("big.yaml", &big);
    let out = s.ksec(&["encrypt", plain.to_str().unwrap(), "-r", &s.key.recipient]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(err.contains("big.yaml"), "{err}");
    assert!(err.contains("more than 250,000 values"), "{err}");
    assert!(err.contains("README"), "{err}");
    assert!(
        !err.contains("Nodes {") && !err.contains("fix the syntax"),
        "{err}"
    );

    // the same for an encrypted file that is too big to read
    let small = s.ksec_encrypt(&s.write("small.yaml", "a: b\n"), "small.enc.yaml");
    let text = std::fs::read_to_string(&small).unwrap();
    let meta = &text[text.find("sops:").unwrap()..];
    let file = s.write("big.enc.yaml", &format!("{big}{meta}"));
    let out = s.ksec(&["decrypt", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(
        err.contains("big.enc.yaml") && err.contains("250,000"),
        "{err}"
    );
    assert!(!err.contains("Nodes {"), "{err}");
}

#[test]
fn a_duplicate_key_is_named_with_its_line_not_the_parser_s_advice() {
    let s = Scratch::new();
    let plain = s.write("dup.yaml", &format!("a: 1\nb: {CANARY}\na: 2\n"));
    let out = s.ksec(&["encrypt", plain.to_str().unwrap(), "-r", &s.key.recipient]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(err.contains("dup.yaml:3: duplicate key a"), "{err}");
    assert!(
        !err.contains("DuplicateKeyPolicy") && !err.contains("Options"),
        "{err}"
    );
    assert!(!err.contains(CANARY));

    let enc = s.sops_encrypt(&s.write("ok.yaml", "a: 1\nb: 2\n"), "ok.enc.yaml");
    let text = std::fs::read_to_string(&enc).unwrap();
    let a_line = text.lines().find(|l| l.starts_with("a: ")).unwrap();
    let file = s.write("dup.enc.yaml", &format!("{a_line}\n{text}"));
    let out = s.ksec(&["decrypt", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(6), "{err}");
    assert!(err.contains("dup.enc.yaml:2: duplicate key a"), "{err}");
    assert!(!err.contains("DuplicateKeyPolicy"), "{err}");
}

#[test]
fn a_truncated_data_key_stanza_is_called_damaged_not_a_foreign_key() {
    let s = Scratch::new();
    let enc = s.sops_encrypt(&s.write("t.yaml", &format!("a: {CANARY}\n")), "t.enc.yaml");
    let text = std::fs::read_to_string(&enc).unwrap();
    // drop the last line of the armored stanza before its END line
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.contains("-----END AGE"))
        .unwrap();
    let mut cut: Vec<&str> = lines.clone();
    cut.remove(end - 1);
    let file = s.write("cut.enc.yaml", &(cut.join("\n") + "\n"));
    assert!(!s.sops_decrypt(&file).status.success());
    let out = s.ksec(&["decrypt", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(5), "{err}");
    assert!(
        err.contains("cut.enc.yaml") && err.contains("damaged"),
        "{err}"
    );
    assert!(err.contains("restore the file from git"), "{err}");
    assert!(!err.contains("none of your identities"), "{err}");
    assert!(!stdout(&out).contains(CANARY));

    // one character edited in the middle of the stanza
    let begin = lines.iter().position(|l| l.contains("BEGIN AGE")).unwrap();
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let line = &mut edited[begin + 2];
    let mid = line.len() / 2;
    let swap = if &line[mid..mid + 1] == "A" { "B" } else { "A" };
    line.replace_range(mid..mid + 1, swap);
    let file = s.write("edited.enc.yaml", &(edited.join("\n") + "\n"));
    let out = s.ksec(&["decrypt", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(5), "{err}");
    assert!(
        err.contains("damaged") && !err.contains("none of your identities"),
        "{err}"
    );

    // someone else's key still hears that they are not a recipient
    let other = Key::new(s.dir.path(), "other");
    let out = ksec_with(&s.home, &other)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("none of your identities"));
}
