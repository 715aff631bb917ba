//! Interoperability with the real tools: ksec reads what `sops -e` writes,
//! `sops -d` reads what ksec writes, the `age` CLI unwraps the data key ksec
//! wrapped, and a project's generated `.sops.yaml` makes plain `sops` encrypt
//! a namespace's files to the recipients ksec would use.
//!
//! Proven here, each against the `sops` (3.11) and `age` binaries:
//! - YAML and dotenv, both directions, with a corpus of awkward values
//!   (block scalars, quotes, `=` and `#`, empty, unicode, every scalar type,
//!   nesting, lists of maps); `ksec decrypt` prints what `sops -d` prints;
//! - YAML comments: ksec prints a commented sops file as `sops -d` does
//!   (the `comments` module covers them in depth);
//! - the age stanza ksec writes holds a 32-byte data key the age CLI unwraps;
//! - several recipients: each key alone decrypts, an unrelated key is refused;
//! - `ksec set` on a sops-written file changes only the value's line (plus
//!   `lastmodified` and `mac`), and sops still reads the file;
//! - `ksec init` + `.sops.yaml`, and `ksec encrypt` without `-r`, pick the
//!   namespace's recipients.

use crate::common;

use common::{CANARY, Key, all_output, ksec, ksec_with, project, run_ok, sops};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// Corpora
// ---------------------------------------------------------------------------

/// Awkward YAML values, all of whose characters go-yaml prints as they are
/// (so `sops -d` and `ksec decrypt` can be compared byte for byte). Written
/// in the style sops prints (indent 4) but that is not required.
const YAML_CORPUS: &str = r#"literal_keep: |
  line one
  line two
    indented
literal_strip: |-
  no trailing
  newline
literal_many: "a\nb\n\n"
single_quotes: 'it''s here'
double_quotes: "say \"hi\""
both_quotes: "it's \"x\""
equals: a=b=c
only_equals: "="
hash_mid: 'x # not a comment'
hash_start: '#x'
empty: ""
unicode: "café ✓ naïve Ωmega"
tab: "a\tb"
colon_space: "a: b"
lead_space: "  lead"
trail_space: "trail  "
looks_bool: "true"
looks_yes: "yes"
looks_null: "null"
looks_int: "42"
looks_octal: "0755"
looks_time: "12:30"
star: "*ref"
secret: canary-7f3a9c1e-do-not-print
int: 42
zero: 0
negative_int: -17
big_int: 9223372036854775807
float: 3.14
negative_float: -0.5
bool_true: true
bool_false: false
nothing: null
nested:
    inner:
        deep: value
        "n": 1
    sibling: s
empty_map: {}
empty_list: []
list:
    - one
    - 2
    - true
    - 1.5
list_of_maps:
    - name: a
      port: 80
    - name: b
      port: 443
      tags:
        - x
        - "y z"
"#;

/// Characters outside the Basic Multilingual Plane (emoji), which go-yaml
/// escapes in double quotes.
const YAML_ASTRAL: &str = "emoji: \"rocket 🚀 party 🎉\"\nplain: x\n";

/// dotenv as sops reads it: split at the first `=`, no quote handling, `\n`
/// escapes a newline, whole-line `#` comments. Already in the form `sops -d`
/// prints, so the input itself is the expected output.
const DOTENV_CORPUS: &str = "# top comment\n\
PLAIN=hello\n\
EQUALS=a=b=c\n\
HASH=x # not a comment\n\
SINGLE='kept with quotes'\n\
DOUBLE=\"kept with quotes\"\n\
EMPTY=\n\
UNICODE=café ✓ 🚀\n\
NEWLINE=line1\\nline2\n\
# middle comment with = and 'quotes'\n\
SPACES= lead and trail \n\
SECRET=canary-7f3a9c1e-do-not-print\n\
LAST=end\n";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A scratch directory with a private HOME inside it.
struct Scratch {
    dir: TempDir,
    home: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        Scratch { dir, home }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn key(&self, name: &str) -> Key {
        Key::new(self.path(), name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// sops with this scratch HOME (so no user key is found by accident).
    fn sops(&self, key: Option<&Key>) -> Command {
        let mut cmd = sops(key);
        cmd.env("HOME", &self.home).current_dir(self.path());
        cmd
    }

    /// `sops -e --age A,B… --input-type T --output-type T FILE`.
    fn sops_encrypt(&self, recipients: &[&Key], file: &Path, kind: &str) -> String {
        let age = recipients
            .iter()
            .map(|k| k.recipient.as_str())
            .collect::<Vec<_>>()
            .join(",");
        run_ok(
            self.sops(None)
                .args(["-e", "--age", &age, "--input-type", kind])
                .args(["--output-type", kind])
                .arg(file),
        )
    }

    /// `sops -e …` written next to `file` as `name`.
    fn sops_encrypt_to(&self, recipients: &[&Key], file: &Path, kind: &str, name: &str) -> PathBuf {
        let text = self.sops_encrypt(recipients, file, kind);
        self.write(name, &text)
    }

    fn sops_decrypt(&self, key: &Key, file: &Path) -> String {
        run_ok(self.sops(Some(key)).arg("-d").arg(file))
    }

    /// `ksec decrypt FILE` with `key`, asserting success.
    fn ksec_decrypt(&self, key: &Key, file: &Path) -> String {
        let out = ksec_with(&self.home, key)
            .current_dir(self.path())
            .expect_secret_output()
            .arg("decrypt")
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ksec decrypt {} failed ({}): {}",
            file.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `ksec encrypt -r … FILE --output OUT`, asserting success.
    fn ksec_encrypt(&self, recipients: &[&Key], file: &Path, out_name: &str) -> PathBuf {
        let out = self.path().join(out_name);
        let mut cmd = ksec(&self.home);
        cmd.current_dir(self.path()).arg("encrypt").arg(file);
        for k in recipients {
            cmd.args(["-r", &k.recipient]);
        }
        cmd.arg("--output").arg(&out).assert().success();
        out
    }
}

/// Run python3 with `script` (argv[1..] = `args`), feeding `input` on stdin.
fn python(script: &str, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The data of a YAML document as canonical JSON (PyYAML, sorted keys).
fn yaml_data(text: &str) -> String {
    python(
        // PyYAML (YAML 1.1) takes a plain `=` for the `value` tag; YAML 1.2
        // readers such as go-yaml take it for a string.
        "import yaml, sys, json; \
         yaml.SafeLoader.add_constructor('tag:yaml.org,2002:value', \
             lambda loader, node: loader.construct_scalar(node)); \
         print(json.dumps(yaml.safe_load(sys.stdin.read()), sort_keys=True, ensure_ascii=False))",
        &[],
        text.as_bytes(),
    )
}

/// The age recipients listed in a SOPS YAML file, in file order.
fn yaml_recipients(file: &Path) -> Vec<String> {
    let text = std::fs::read(file).unwrap();
    python(
        "import yaml, sys; \
         d = yaml.safe_load(sys.stdin.read()); \
         print('\\n'.join(a['recipient'] for a in d['sops']['age']))",
        &[],
        &text,
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// The armored `enc` block of the `index`th age recipient of a SOPS YAML file.
fn yaml_age_block(file: &Path, index: usize) -> String {
    let text = std::fs::read(file).unwrap();
    python(
        "import yaml, sys; \
         d = yaml.safe_load(sys.stdin.read()); \
         sys.stdout.write(d['sops']['age'][int(sys.argv[1])]['enc'])",
        &[&index.to_string()],
        &text,
    )
}

/// The armored `enc` block of the `index`th age recipient of a SOPS dotenv
/// file (`sops_age__list_N__map_enc=…` with `\n` escapes).
fn dotenv_age_block(file: &Path, index: usize) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let prefix = format!("sops_age__list_{index}__map_enc=");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in:\n{text}"));
    line.replace("\\n", "\n")
}

/// The age recipients listed in a SOPS dotenv file, in index order.
fn dotenv_recipients(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    (0..)
        .map_while(|i| {
            let prefix = format!("sops_age__list_{i}__map_recipient=");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(str::to_string)
        })
        .collect()
}

/// `age -d -i KEYFILE` on an armored block; returns the plaintext bytes.
fn age_decrypt(key: &Key, armored: &str) -> Vec<u8> {
    let mut child = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key.file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the age CLI is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(armored.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "age -d failed: {}\ninput:\n{armored}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Indices of the lines that differ between two texts of equal line count.
fn changed_lines(before: &str, after: &str) -> Vec<usize> {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    assert_eq!(
        b.len(),
        a.len(),
        "line count changed:\n--- before\n{before}\n--- after\n{after}"
    );
    (0..b.len()).filter(|&i| b[i] != a[i]).collect()
}

/// Replace the single occurrence of `from` in `text`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in:\n{text}");
    text.replacen(from, to, 1)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// 1. sops -> ksec, YAML
// ---------------------------------------------------------------------------

#[test]
fn yaml_encrypted_by_sops_decrypts_with_ksec_exactly_as_sops_prints_it() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.yaml", YAML_CORPUS);
    let enc = s.sops_encrypt_to(&[&key], &plain, "yaml", "enc.yaml");
    let text = std::fs::read_to_string(&enc).unwrap();
    assert!(!text.contains(CANARY), "sops left a value in plaintext");

    let from_sops = s.sops_decrypt(&key, &enc);
    let from_ksec = s.ksec_decrypt(&key, &enc);
    assert_eq!(from_ksec, from_sops);
    // And the data is the input's, so the comparison above is not vacuous.
    assert_eq!(yaml_data(&from_ksec), yaml_data(YAML_CORPUS));
    assert!(from_ksec.contains(CANARY));
}

#[test]
fn yaml_with_emoji_encrypted_by_sops_decrypts_with_ksec_to_the_same_values() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.yaml", YAML_ASTRAL);
    let enc = s.sops_encrypt_to(&[&key], &plain, "yaml", "enc.yaml");

    let from_ksec = s.ksec_decrypt(&key, &enc);
    assert_eq!(yaml_data(&from_ksec), yaml_data(YAML_ASTRAL));
    assert_eq!(
        yaml_data(&from_ksec),
        yaml_data(&s.sops_decrypt(&key, &enc))
    );
}

#[test]

fn yaml_with_emoji_decrypts_with_ksec_exactly_as_sops_prints_it() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.yaml", YAML_ASTRAL);
    let enc = s.sops_encrypt_to(&[&key], &plain, "yaml", "enc.yaml");
    assert_eq!(s.ksec_decrypt(&key, &enc), s.sops_decrypt(&key, &enc));
}

#[test]

fn yaml_with_a_next_line_character_decrypts_with_ksec_exactly_as_sops_prints_it() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.yaml", "nel: \"a\\x85b\"\n");
    let enc = s.sops_encrypt_to(&[&key], &plain, "yaml", "enc.yaml");
    let from_sops = s.sops_decrypt(&key, &enc);
    assert_eq!(from_sops, "nel: \"a\\Nb\"\n");
    assert_eq!(s.ksec_decrypt(&key, &enc), from_sops);
}

#[test]

fn ksec_set_keeps_the_line_of_an_emoji_key_sops_wrote() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.yaml", "rocket🚀: launch\nother: x\n");
    let enc = s.sops_encrypt_to(&[&key], &plain, "yaml", "enc.yaml");
    let before = std::fs::read_to_string(&enc).unwrap();
    ksec_with(&s.home, &key)
        .arg("set")
        .arg(&enc)
        .args(["other", "y"])
        .assert()
        .success();
    let after = std::fs::read_to_string(&enc).unwrap();
    assert_eq!(
        before.lines().next(),
        after.lines().next(),
        "the emoji key's line changed although its value did not"
    );
    // sops reads the whole file back exactly as it reads a file it wrote
    // itself from the expected content: the emoji key, the new value
    let fresh_plain = s.write("expected.yaml", "rocket🚀: launch\nother: y\n");
    let fresh = s.sops_encrypt_to(&[&key], &fresh_plain, "yaml", "expected.enc.yaml");
    let expected = s.sops_decrypt(&key, &fresh);
    assert!(expected.contains("launch") && expected.contains("other"));
    assert_eq!(s.sops_decrypt(&key, &enc), expected);
    assert_eq!(s.ksec_decrypt(&key, &enc), expected);
}

#[test]
fn yaml_comments_in_maps_are_kept_by_ksec_as_sops_prints_them() {
    let s = Scratch::new();
    let key = s.key("alice");
    let commented = "# header comment\n\
                     db:\n  \
                       # the user\n  \
                       user: admin # trailing\n  \
                       password: canary-7f3a9c1e-do-not-print\n\
                     # before the list\n\
                     hosts:\n  \
                       - a\n  \
                       - b\n";
    let plain = s.write("plain.yaml", commented);
    let enc = s.sops_encrypt_to(&[&key], &plain, "yaml", "enc.yaml");
    // sops encrypts the comments themselves.
    let text = std::fs::read_to_string(&enc).unwrap();
    assert!(text.contains("type:comment]"), "{text}");
    assert!(!text.contains("header comment"));

    let from_sops = s.sops_decrypt(&key, &enc);
    assert!(from_sops.contains("# header comment"));
    assert_eq!(s.ksec_decrypt(&key, &enc), from_sops);
}

#[test]
fn yaml_comment_inside_a_list_is_kept_by_ksec() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.yaml", "hosts:\n  # first host\n  - a\n  - b\n");
    let enc = s.sops_encrypt_to(&[&key], &plain, "yaml", "enc.yaml");
    assert!(
        std::fs::read_to_string(&enc)
            .unwrap()
            .contains("type:comment]")
    );
    assert_eq!(
        s.ksec_decrypt(&key, &enc),
        "hosts:\n    # first host\n    - a\n    - b\n"
    );
    assert_eq!(s.ksec_decrypt(&key, &enc), s.sops_decrypt(&key, &enc));
}

// ---------------------------------------------------------------------------
// 2. ksec -> sops, YAML
// ---------------------------------------------------------------------------

#[test]
fn yaml_encrypted_by_ksec_decrypts_with_sops_like_a_sops_encrypted_file() {
    let s = Scratch::new();
    let key = s.key("alice");
    let corpus = format!("{YAML_CORPUS}{YAML_ASTRAL}");
    let plain = s.write("plain.yaml", &corpus);

    let by_ksec = s.ksec_encrypt(&[&key], &plain, "ksec.enc.yaml");
    let text = std::fs::read_to_string(&by_ksec).unwrap();
    assert!(!text.contains(CANARY), "ksec left a value in plaintext");
    assert!(text.contains("ENC[AES256_GCM,data:"), "{text}");
    let by_sops = s.sops_encrypt_to(&[&key], &plain, "yaml", "sops.enc.yaml");

    let sops_reads_ksec = s.sops_decrypt(&key, &by_ksec);
    assert_eq!(sops_reads_ksec, s.sops_decrypt(&key, &by_sops));
    assert_eq!(yaml_data(&sops_reads_ksec), yaml_data(&corpus));
}

#[test]
fn yaml_value_types_survive_ksec_encrypt_and_sops_decrypt() {
    // Spot checks on the types, independent of PyYAML's reading.
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.yaml", YAML_CORPUS);
    let enc = s.ksec_encrypt(&[&key], &plain, "enc.yaml");
    let text = std::fs::read_to_string(&enc).unwrap();
    for (name, ty) in [
        ("int", "int"),
        ("negative_int", "int"),
        ("float", "float"),
        ("bool_false", "bool"),
        ("looks_int", "str"),
        ("looks_bool", "str"),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        assert!(line.ends_with(&format!(",type:{ty}]")), "{line}");
    }
    let out = s.sops_decrypt(&key, &enc);
    for line in [
        "int: 42\n",
        "negative_int: -17\n",
        "float: 3.14\n",
        "bool_false: false\n",
        "nothing: null\n",
        "empty: \"\"\n",
        "looks_int: \"42\"\n",
        "looks_bool: \"true\"\n",
        "equals: a=b=c\n",
        "hash_mid: 'x # not a comment'\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from sops -d:\n{out}");
    }
}

// ---------------------------------------------------------------------------
// 3. dotenv, both ways
// ---------------------------------------------------------------------------

#[test]
fn dotenv_encrypted_by_sops_decrypts_with_ksec_exactly_as_sops_prints_it() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.env", DOTENV_CORPUS);
    let enc = s.sops_encrypt_to(&[&key], &plain, "dotenv", "enc.env");
    assert!(!std::fs::read_to_string(&enc).unwrap().contains(CANARY));

    let from_sops = s.sops_decrypt(&key, &enc);
    assert_eq!(from_sops, DOTENV_CORPUS, "sops -d round trip (sanity)");
    assert_eq!(s.ksec_decrypt(&key, &enc), from_sops);
}

#[test]
fn dotenv_encrypted_by_ksec_decrypts_with_sops_exactly() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.env", DOTENV_CORPUS);
    let by_ksec = s.ksec_encrypt(&[&key], &plain, "ksec.enc.env");
    let text = std::fs::read_to_string(&by_ksec).unwrap();
    assert!(!text.contains(CANARY), "ksec left a value in plaintext");
    // Comments are encrypted too, as sops does.
    assert!(!text.contains("top comment"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("#ENC[") && l.ends_with("type:comment]"))
            .count(),
        2,
        "{text}"
    );
    let by_sops = s.sops_encrypt_to(&[&key], &plain, "dotenv", "sops.enc.env");

    let sops_reads_ksec = s.sops_decrypt(&key, &by_ksec);
    assert_eq!(sops_reads_ksec, s.sops_decrypt(&key, &by_sops));
    assert_eq!(sops_reads_ksec, DOTENV_CORPUS);
    // And ksec reads its own file the same way.
    assert_eq!(s.ksec_decrypt(&key, &by_ksec), DOTENV_CORPUS);
}

// ---------------------------------------------------------------------------
// 4. the age CLI unwraps the data key
// ---------------------------------------------------------------------------

#[test]
fn age_cli_unwraps_the_32_byte_data_key_of_a_ksec_yaml_file() {
    let s = Scratch::new();
    let alice = s.key("alice");
    let bob = s.key("bob");
    let plain = s.write("plain.yaml", YAML_CORPUS);
    let enc = s.ksec_encrypt(&[&alice, &bob], &plain, "enc.yaml");
    assert_eq!(
        yaml_recipients(&enc),
        vec![alice.recipient.clone(), bob.recipient.clone()]
    );

    let block = yaml_age_block(&enc, 0);
    assert!(
        block.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{block}"
    );
    let data_key = age_decrypt(&alice, &block);
    assert_eq!(data_key.len(), 32);
    // Every recipient's stanza wraps the same data key.
    assert_eq!(age_decrypt(&bob, &yaml_age_block(&enc, 1)), data_key);
}

#[test]
fn age_cli_unwraps_the_32_byte_data_key_of_a_ksec_dotenv_file() {
    let s = Scratch::new();
    let alice = s.key("alice");
    let bob = s.key("bob");
    let plain = s.write("plain.env", DOTENV_CORPUS);
    let enc = s.ksec_encrypt(&[&alice, &bob], &plain, "enc.env");
    assert_eq!(
        dotenv_recipients(&enc),
        vec![alice.recipient.clone(), bob.recipient.clone()]
    );

    let block = dotenv_age_block(&enc, 0);
    assert!(
        block.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{block}"
    );
    let data_key = age_decrypt(&alice, &block);
    assert_eq!(data_key.len(), 32);
    assert_eq!(age_decrypt(&bob, &dotenv_age_block(&enc, 1)), data_key);
}

// ---------------------------------------------------------------------------
// 5. several recipients
// ---------------------------------------------------------------------------

#[test]
fn each_of_three_recipients_alone_decrypts_with_ksec_and_with_sops() {
    let s = Scratch::new();
    let keys = [s.key("a"), s.key("b"), s.key("c")];
    let refs: Vec<&Key> = keys.iter().collect();
    // Already in the form both tools print, so it is the expected output.
    let yaml = format!("db:\n    user: admin\n    password: {CANARY}\nport: 5432\n");
    let env = format!("DB_USER=admin\nDB_PASSWORD={CANARY}\n");
    for (name, text, recipients_of) in [
        (
            "plain.yaml",
            &yaml,
            yaml_recipients as fn(&Path) -> Vec<String>,
        ),
        ("plain.env", &env, dotenv_recipients),
    ] {
        let plain = s.write(name, text);
        let enc = s.ksec_encrypt(&refs, &plain, &format!("enc.{name}"));
        assert_eq!(
            sorted(recipients_of(&enc)),
            sorted(keys.iter().map(|k| k.recipient.clone()).collect()),
        );
        for key in &keys {
            assert_eq!(
                &s.ksec_decrypt(key, &enc),
                text,
                "ksec, key {}",
                key.recipient
            );
            assert_eq!(
                &s.sops_decrypt(key, &enc),
                text,
                "sops, key {}",
                key.recipient
            );
        }
    }
}

#[test]
fn an_unrelated_key_cannot_decrypt_a_three_recipient_file() {
    let s = Scratch::new();
    let keys = [s.key("a"), s.key("b"), s.key("c")];
    let stranger = s.key("stranger");
    let refs: Vec<&Key> = keys.iter().collect();
    let plain = s.write("plain.yaml", &format!("password: {CANARY}\n"));
    let enc = s.ksec_encrypt(&refs, &plain, "enc.yaml");

    let out = ksec_with(&s.home, &stranger)
        .expect_secret_output()
        .arg("decrypt")
        .arg(&enc)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", all_output(&out));
    assert!(out.stdout.is_empty());
    assert!(!all_output(&out).contains(CANARY));

    let sops_out = s
        .sops(Some(&stranger))
        .arg("-d")
        .arg(&enc)
        .output()
        .unwrap();
    assert!(!sops_out.status.success());
    assert!(!String::from_utf8_lossy(&sops_out.stdout).contains(CANARY));
}

// ---------------------------------------------------------------------------
// 6. ksec set on a sops-written file
// ---------------------------------------------------------------------------

#[test]
fn ksec_set_on_sops_yaml_changes_only_that_value_and_sops_reads_it() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.yaml", YAML_CORPUS);
    let enc = s.sops_encrypt_to(&[&key], &plain, "yaml", "enc.yaml");
    let before = std::fs::read_to_string(&enc).unwrap();
    let plain_before = s.sops_decrypt(&key, &enc);

    ksec_with(&s.home, &key)
        .arg("set")
        .arg(&enc)
        .args([r#"["nested"]["inner"]["deep"]"#, "changed = #value"])
        .assert()
        .success();

    let after = std::fs::read_to_string(&enc).unwrap();
    let changed = changed_lines(&before, &after);
    let after_lines: Vec<&str> = after.lines().collect();
    let kinds: Vec<&str> = changed
        .iter()
        .map(|&i| {
            let l = after_lines[i];
            if l.starts_with("        deep: ENC[") {
                "value"
            } else if l.starts_with("    lastmodified: ") {
                "lastmodified"
            } else if l.starts_with("    mac: ENC[") {
                "mac"
            } else {
                panic!("line {} changed but should not have:\n{l}", i + 1)
            }
        })
        .collect();
    assert!(
        kinds.contains(&"value") && kinds.contains(&"mac"),
        "{kinds:?}"
    );

    let expected = replace_once(
        &plain_before,
        "        deep: value\n",
        "        deep: 'changed = #value'\n",
    );
    assert_eq!(s.sops_decrypt(&key, &enc), expected);
    assert_eq!(s.ksec_decrypt(&key, &enc), expected);
}

#[test]
fn ksec_set_on_sops_dotenv_changes_only_that_value_and_sops_reads_it() {
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.env", DOTENV_CORPUS);
    let enc = s.sops_encrypt_to(&[&key], &plain, "dotenv", "enc.env");
    let before = std::fs::read_to_string(&enc).unwrap();

    ksec_with(&s.home, &key)
        .arg("set")
        .arg(&enc)
        .args(["EQUALS", "new=value # x"])
        .assert()
        .success();

    let after = std::fs::read_to_string(&enc).unwrap();
    let after_lines: Vec<&str> = after.lines().collect();
    let mut saw_value = false;
    let mut saw_mac = false;
    for i in changed_lines(&before, &after) {
        let l = after_lines[i];
        if l.starts_with("EQUALS=ENC[") {
            saw_value = true;
        } else if l.starts_with("sops_mac=ENC[") {
            saw_mac = true;
        } else {
            assert!(
                l.starts_with("sops_lastmodified="),
                "line {} changed but should not have:\n{l}",
                i + 1
            );
        }
    }
    assert!(saw_value && saw_mac);

    let expected = replace_once(DOTENV_CORPUS, "EQUALS=a=b=c\n", "EQUALS=new=value # x\n");
    assert_eq!(s.sops_decrypt(&key, &enc), expected);
    assert_eq!(s.ksec_decrypt(&key, &enc), expected);
}

// ---------------------------------------------------------------------------
// 7. ksec init: plain sops follows .sops.yaml
// ---------------------------------------------------------------------------

#[test]
fn plain_sops_in_an_initialised_project_encrypts_to_the_namespace_recipients() {
    let s = Scratch::new();
    let alice = s.key("alice");
    let bob = s.key("bob");
    let proj = s.path().join("shop");
    std::fs::create_dir(&proj).unwrap();

    ksec(&s.home)
        .current_dir(&proj)
        .arg("init")
        .arg("--recipient")
        .arg(format!("alice={}", alice.recipient))
        .arg("--recipient")
        .arg(format!("bob={}", bob.recipient))
        .assert()
        .success();
    assert!(proj.join(".sops.yaml").is_file());

    let ksec_yaml = std::fs::read_to_string(proj.join("ksec.yaml")).unwrap();
    let ksec_yaml = replace_once(
        &ksec_yaml,
        "\nnamespaces: {}\n",
        "\nnamespaces:\n  payments:\n    recipients: [alice]\n",
    );
    std::fs::write(proj.join("ksec.yaml"), ksec_yaml).unwrap();
    let rel = Path::new("namespaces/payments/x.yaml");
    let body = format!("db:\n    password: {CANARY}\n    port: 5432\n");
    std::fs::create_dir_all(proj.join("namespaces/payments")).unwrap();
    std::fs::write(proj.join(rel), &body).unwrap();

    // Before the refresh, .sops.yaml has no rule for the namespace.
    let stale = s
        .sops(None)
        .current_dir(&proj)
        .args(["-e"])
        .arg(rel)
        .output()
        .unwrap();
    assert!(!stale.status.success(), "sops encrypted with no rule");

    ksec(&s.home)
        .current_dir(&proj)
        .args(["init", "--refresh"])
        .assert()
        .success();

    let encrypted = run_ok(s.sops(None).current_dir(&proj).arg("-e").arg(rel));
    assert!(!encrypted.contains(CANARY));
    let enc = proj.join("namespaces/payments/x.enc.yaml");
    std::fs::write(&enc, &encrypted).unwrap();
    assert_eq!(yaml_recipients(&enc), vec![alice.recipient.clone()]);
    assert!(encrypted.contains(&format!("recipient: {}", alice.recipient)));
    assert!(!encrypted.contains(&bob.recipient));

    let out = ksec_with(&s.home, &alice)
        .current_dir(&proj)
        .expect_secret_output()
        .arg("decrypt")
        .arg("namespaces/payments/x.enc.yaml")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), body);
    // bob is a project recipient but not payments', so he cannot read it.
    let out = ksec_with(&s.home, &bob)
        .current_dir(&proj)
        .expect_secret_output()
        .arg("decrypt")
        .arg("namespaces/payments/x.enc.yaml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", all_output(&out));
}

// ---------------------------------------------------------------------------
// 8. ksec encrypt without -r
// ---------------------------------------------------------------------------

#[test]
fn encrypt_without_recipients_uses_the_namespace_recipients() {
    let s = Scratch::new();
    let a = s.key("a");
    let b = s.key("b");
    let outsider = s.key("outsider");
    let proj = s.path().join("proj");
    project(&proj, &[&a, &b]);
    let body = format!("password: {CANARY}\n");
    std::fs::write(proj.join("namespaces/payments/db.yaml"), &body).unwrap();
    std::fs::write(
        proj.join("namespaces/payments/app.env"),
        format!("TOKEN={}\n", common::canary("token")),
    )
    .unwrap();

    for (src, out, recipients_of) in [
        (
            "namespaces/payments/db.yaml",
            "namespaces/payments/db.enc.yaml",
            yaml_recipients as fn(&Path) -> Vec<String>,
        ),
        (
            "namespaces/payments/app.env",
            "namespaces/payments/app.enc.env",
            dotenv_recipients,
        ),
    ] {
        ksec(&s.home)
            .current_dir(&proj)
            .args(["encrypt", src, "--output", out])
            .assert()
            .success();
        let got = recipients_of(&proj.join(out));
        assert_eq!(
            sorted(got.clone()),
            sorted(vec![a.recipient.clone(), b.recipient.clone()])
        );
        assert!(!got.contains(&outsider.recipient));
    }
    // sops, with either namespace key, reads the result.
    let enc = proj.join("namespaces/payments/db.enc.yaml");
    assert_eq!(s.sops_decrypt(&b, &enc), body);
    assert_eq!(s.sops_decrypt(&a, &enc), body);

    // The same from outside the project, with --project.
    ksec(&s.home)
        .current_dir(s.path())
        .arg("--project")
        .arg(&proj)
        .arg("encrypt")
        .arg(proj.join("namespaces/payments/db.yaml"))
        .arg("--output")
        .arg(proj.join("namespaces/payments/db2.enc.yaml"))
        .assert()
        .success();
    assert_eq!(
        sorted(yaml_recipients(
            &proj.join("namespaces/payments/db2.enc.yaml")
        )),
        sorted(vec![a.recipient.clone(), b.recipient.clone()])
    );

    // A file in no namespace's folder has no recipients: a usage error.
    std::fs::write(proj.join("loose.yaml"), &body).unwrap();
    let out = ksec(&s.home)
        .current_dir(&proj)
        .args(["encrypt", "loose.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(!all_output(&out).contains(CANARY));
}

/// Files sops wrote with a selective-encryption setting: ksec decrypts them
/// as sops does, `ksec set` of an encrypted and of a plaintext key keeps the
/// setting (the secret stays encrypted, the plaintext key stays readable),
/// and sops reads the result back exactly as it reads a file it wrote
/// itself from the expected content.
fn selective_encryption_round_trip(flags: &[&str], secret_key: &str, plain_key: &str) {
    let s = Scratch::new();
    let key = s.key("alice");
    let content = |secret: &str, plain: &str| {
        format!("{secret_key}: {secret}\n{plain_key}: {plain}\nnested:\n    {secret_key}: inner\n")
    };
    let sops_encrypt = |name: &str, text: &str| {
        let plain = s.write(&format!("{name}.yaml"), text);
        let out = run_ok(
            s.sops(None)
                .args(["-e", "--age", &key.recipient])
                .args(flags)
                .arg(&plain),
        );
        std::fs::remove_file(&plain).unwrap();
        s.write(&format!("{name}.enc.yaml"), &out)
    };
    let enc = sops_encrypt("s", &content("old-secret", "db.internal"));
    let written = std::fs::read_to_string(&enc).unwrap();
    assert!(
        !written.contains("old-secret"),
        "{flags:?}: sops left the secret readable"
    );
    assert!(
        written.contains(&format!("{plain_key}: db.internal")),
        "{flags:?}: {written}"
    );
    assert_eq!(
        s.ksec_decrypt(&key, &enc),
        s.sops_decrypt(&key, &enc),
        "{flags:?}"
    );

    for (k, v) in [(secret_key, CANARY), (plain_key, "db.example")] {
        let out = ksec_with(&s.home, &key)
            .arg("set")
            .arg(&enc)
            .args([k, v])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flags:?} set {k}: {}",
            all_output(&out)
        );
    }
    let after = std::fs::read_to_string(&enc).unwrap();
    assert!(
        !after.contains(CANARY),
        "{flags:?}: ksec set wrote the secret in plaintext"
    );
    assert!(
        after.contains(&format!("{plain_key}: db.example")),
        "{flags:?}: ksec set encrypted a key the setting leaves in plaintext:\n{after}"
    );
    assert!(!after.contains("inner"), "{flags:?}: {after}");

    let expected = s.sops_decrypt(
        &key,
        &sops_encrypt("expected", &content(CANARY, "db.example")),
    );
    assert!(expected.contains(CANARY) && expected.contains("db.example"));
    assert_eq!(
        s.sops_decrypt(&key, &enc),
        expected,
        "{flags:?}: sops reads back"
    );
    assert_eq!(
        s.ksec_decrypt(&key, &enc),
        expected,
        "{flags:?}: ksec reads back"
    );
}

#[test]
fn encrypted_regex_files_by_sops_round_trip_through_ksec_set() {
    selective_encryption_round_trip(&["--encrypted-regex", "^pass"], "password", "host");
}

#[test]
fn unencrypted_regex_files_by_sops_round_trip_through_ksec_set() {
    selective_encryption_round_trip(&["--unencrypted-regex", "^host"], "password", "host");
}

#[test]
fn encrypted_suffix_files_by_sops_round_trip_through_ksec_set() {
    selective_encryption_round_trip(&["--encrypted-suffix", "_secret"], "pw_secret", "host");
}

#[test]
fn unencrypted_suffix_files_by_sops_round_trip_through_ksec_set() {
    selective_encryption_round_trip(
        &["--unencrypted-suffix", "_plain"],
        "password",
        "host_plain",
    );
}

/// mac_only_encrypted: the MAC covers only encrypted values, so a plaintext
/// value ksec changes must not enter it (sops would refuse the file).
#[test]
fn mac_only_encrypted_files_by_sops_round_trip_through_ksec_set() {
    selective_encryption_round_trip(
        &["--encrypted-regex", "^pass", "--mac-only-encrypted"],
        "password",
        "host",
    );
}

/// Metadata ksec does not use (a `kms` and a `pgp` key, hand-added to a
/// file sops wrote for age) is kept byte for byte through `ksec set` and
/// `ksec edit`, and sops still decrypts the result with the age key.
#[test]
fn pgp_and_kms_metadata_are_kept_through_set_and_edit() {
    const KMS: &str = "    kms:\n        \
        - arn: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\n          \
          created_at: \"2024-01-02T03:04:05Z\"\n          \
          enc: AQICAHhub3QtYS1yZWFsLWttcy1jaXBoZXJ0ZXh0\n          \
          aws_profile: \"\"\n";
    const PGP: &str = "    pgp:\n        \
        - created_at: \"2024-01-02T03:04:05Z\"\n          \
          enc: |-\n            \
            -----BEGIN PGP MESSAGE-----\n\n            \
            hQEMA0JqgSkQ3ayJAQf/bm90LWEtcmVhbC1tZXNzYWdlLWp1c3QtYS1wbGFjZWhv\n            \
            =abcd\n            \
            -----END PGP MESSAGE-----\n          \
          fp: 1E348A8B3C4D5E6F708192A3B4C5D6E7F8091A2B\n";
    let s = Scratch::new();
    let key = s.key("alice");
    let plain = s.write("plain.yaml", "a: one\nb: two\n");
    let enc = s.sops_encrypt_to(&[&key], &plain, "yaml", "s.enc.yaml");
    // where sops itself puts them: kms first, pgp after mac
    let text = std::fs::read_to_string(&enc).unwrap();
    let text = text
        .replacen("    age:\n", &format!("{KMS}    age:\n"), 1)
        .replacen(
            "    unencrypted_suffix:",
            &format!("{PGP}    unencrypted_suffix:"),
            1,
        );
    assert!(text.contains(KMS) && text.contains(PGP), "{text}");
    std::fs::write(&enc, &text).unwrap();
    let sops_d = |file: &Path| {
        run_ok(
            s.sops(Some(&key))
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .arg("-d")
                .arg(file),
        )
    };
    assert_eq!(
        sops_d(&enc),
        "a: one\nb: two\n",
        "sops refused the planted metadata"
    );

    ksec_with(&s.home, &key)
        .arg("set")
        .arg(&enc)
        .args(["b", "three"])
        .assert()
        .success();
    let after_set = std::fs::read_to_string(&enc).unwrap();
    assert!(
        after_set.contains(KMS),
        "set dropped or changed kms:\n{after_set}"
    );
    assert!(
        after_set.contains(PGP),
        "set dropped or changed pgp:\n{after_set}"
    );
    assert_eq!(sops_d(&enc), "a: one\nb: three\n");

    let editor = s.write("editor.sh", "#!/bin/sh\nsed -i 's/one/uno/' \"$1\"\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = ksec_with(&s.home, &key)
        .env("EDITOR", &editor)
        .arg("edit")
        .arg(&enc)
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let after_edit = std::fs::read_to_string(&enc).unwrap();
    assert!(
        after_edit.contains(KMS),
        "edit dropped or changed kms:\n{after_edit}"
    );
    assert!(
        after_edit.contains(PGP),
        "edit dropped or changed pgp:\n{after_edit}"
    );
    assert_eq!(sops_d(&enc), "a: uno\nb: three\n");
    assert_eq!(s.ksec_decrypt(&key, &enc), "a: uno\nb: three\n");
}
