//! YAML comments kept as sops keeps them, checked against the real `sops`
//! (3.11):
//! - a commented file that `sops -e` wrote decrypts with ksec to exactly what
//!   `sops -d` prints, and one that ksec wrote decrypts with `sops -d` to the
//!   original plaintext; both tools write the same lines (comments encrypted
//!   as `#ENC[…,type:comment]`, comments in lists as sops 3.11 writes them);
//! - `ksec set` and `ksec edit` of one value of a commented file change that
//!   value's line plus `lastmodified` and `mac`; the comments keep their
//!   ciphertext, and `sops -d` afterwards prints the edited plaintext;
//! - `sops set` on ksec's file, and round trips through both tools;
//! - a secret in a comment is encrypted: it is in no encrypted file.

use crate::common;

use common::canary::canary;
use common::{Key, all_output, changed_lines, index_of, ksec_with, run_ok, sops};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Commented YAML in the layout `sops -d` prints (so it reads back byte
/// for byte): comments at the top, in maps, in lists (of scalars and of
/// maps), at the end of blocks and of the file, empty and unspaced ones, and
/// `#` inside values, which are not comments. `@1@`… are canaries.
const COMMENTED: &str = "# team: payments
# rotate yearly
db:
    # the admin user
    user: admin
    password: @1@
    # @2@ was the old one
    port: 5432
hosts:
    # primary first
    - db-1
    - db-2
    # spare
jobs:
    - name: nightly
      # runs at two
      schedule: daily
    # and another
    - name: weekly
      token: @3@
note: 'x # not a comment'
script: |
    echo \"# not a comment\"
    # nor this
#
#no space
# end of file
";

struct Scratch {
    dir: TempDir,
    key: Key,
    /// The plaintext, with the canaries filled in.
    plain: String,
    canaries: Vec<String>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch::with(COMMENTED)
    }

    fn with(template: &str) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let key = Key::new(dir.path(), "alice");
        let canaries: Vec<String> = (1..=3).map(|_| canary("comments")).collect();
        let mut plain = template.to_string();
        for (i, c) in canaries.iter().enumerate() {
            plain = plain.replace(&format!("@{}@", i + 1), c);
        }
        Scratch {
            dir,
            key,
            plain,
            canaries,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn sops(&self, with_key: bool) -> std::process::Command {
        let mut cmd = sops(with_key.then_some(&self.key));
        cmd.env("HOME", self.home()).current_dir(self.dir.path());
        cmd
    }

    fn sops_encrypt(&self, plain: &Path, name: &str) -> PathBuf {
        let text = run_ok(
            self.sops(false)
                .args(["-e", "--age", &self.key.recipient])
                .args(["--input-type", "yaml", "--output-type", "yaml"])
                .arg(plain),
        );
        self.write(name, &text)
    }

    fn sops_decrypt(&self, file: &Path) -> String {
        run_ok(self.sops(true).arg("-d").arg(file))
    }

    fn ksec_encrypt(&self, plain: &Path, name: &str) -> PathBuf {
        let out = self.path(name);
        common::encrypt_to(&self.home(), &self.key, plain, &out);
        out
    }

    fn ksec_decrypt(&self, file: &Path) -> String {
        let out = ksec_with(&self.home(), &self.key)
            .expect_secret_output()
            .arg("decrypt")
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `ksec set FILE KEY` with the value on stdin, which must succeed and
    /// say nothing about comments.
    fn ksec_set(&self, file: &Path, key: &str, value: &str) {
        let out = ksec_with(&self.home(), &self.key)
            .arg("set")
            .arg(file)
            .arg(key)
            .write_stdin(value)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        assert!(
            !all_output(&out).contains("warning"),
            "{}",
            all_output(&out)
        );
    }

    /// `ksec edit FILE` with `sed_script` applied by the editor.
    fn ksec_edit(&self, file: &Path, sed_script: &str) {
        let editor = self.path("editor.sh");
        common::script(&editor, &format!("sed -i '{sed_script}' \"$1\"\n"));
        let out = ksec_with(&self.home(), &self.key)
            .env("EDITOR", &editor)
            .arg("edit")
            .arg(file)
            .write_stdin("")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
    }

    /// No canary (of values or comments) in the encrypted `file`.
    fn assert_sealed(&self, file: &Path) {
        let text = std::fs::read_to_string(file).unwrap();
        for c in &self.canaries {
            assert!(!text.contains(c.as_str()), "{c} in plaintext:\n{text}");
        }
        assert!(!text.contains("rotate yearly"), "{text}");
    }
}

/// The encrypted file with what differs between encryptions (data, IVs,
/// tags, the wrapped key, the date) blanked out.
fn layout(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let text = text.split("\nsops:\n").next().unwrap().to_string();
    let re = regex::Regex::new(r"ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,").unwrap();
    re.replace_all(&text, "ENC[…,").into_owned()
}

/// The lines a change of line `changed` may touch: it, `lastmodified`, `mac`.
fn line_and_mac(text: &str, changed: usize) -> Vec<usize> {
    let mut lines = vec![
        changed,
        index_of(text, "    lastmodified: "),
        index_of(text, "    mac: ENC["),
    ];
    lines.sort();
    lines
}

/// `new` differs from `old` only on the line starting with `value_line`
/// (then `lastmodified` and `mac`).
fn assert_one_value_changed(old: &str, new: &str, value_line: &str) {
    assert_eq!(
        changed_lines(old, new),
        line_and_mac(old, index_of(old, value_line)),
        "\n{old}\n---\n{new}"
    );
}

fn next_second() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

#[test]
fn a_commented_file_sops_encrypted_decrypts_with_ksec_as_sops_prints_it() {
    let s = Scratch::new();
    let plain = s.write("plain.yaml", &s.plain);
    let enc = s.sops_encrypt(&plain, "sops.enc.yaml");
    s.assert_sealed(&enc);
    let text = std::fs::read_to_string(&enc).unwrap();
    assert!(text.contains("#ENC[AES256_GCM,"), "{text}");
    assert!(text.contains(",type:comment]"), "{text}");
    let from_sops = s.sops_decrypt(&enc);
    assert_eq!(from_sops, s.plain, "sops -d round trip (sanity)");
    assert_eq!(s.ksec_decrypt(&enc), from_sops);
}

#[test]
fn a_commented_file_ksec_encrypted_decrypts_with_sops_to_the_original() {
    let s = Scratch::new();
    let plain = s.write("plain.yaml", &s.plain);
    let by_ksec = s.ksec_encrypt(&plain, "ksec.enc.yaml");
    s.assert_sealed(&by_ksec);
    assert_eq!(s.sops_decrypt(&by_ksec), s.plain);
    assert_eq!(s.ksec_decrypt(&by_ksec), s.plain);
    // the same lines as sops writes, comments in the same places and forms
    let by_sops = s.sops_encrypt(&plain, "sops.enc.yaml");
    assert_eq!(layout(&by_ksec), layout(&by_sops));
}

#[test]
fn trailing_comments_move_above_their_key_as_sops_moves_them() {
    let s = Scratch::with(
        "a: 1 # why a\nb: # about b\n    c: @1@ # secret note @2@\nlist: # the list\n    - x # first\n    - k: v # on the item\n      m: n\nflow: {p: 1} # in flow\n",
    );
    let plain = s.write("plain.yaml", &s.plain);
    let by_sops = s.sops_encrypt(&plain, "sops.enc.yaml");
    let by_ksec = s.ksec_encrypt(&plain, "ksec.enc.yaml");
    s.assert_sealed(&by_ksec);
    let expected = s.sops_decrypt(&by_sops);
    assert!(expected.starts_with("# why a\na: 1\n"), "{expected}");
    assert_eq!(s.ksec_decrypt(&by_sops), expected);
    assert_eq!(s.sops_decrypt(&by_ksec), expected);
    assert_eq!(s.ksec_decrypt(&by_ksec), expected);
}

#[test]
fn ksec_set_on_a_commented_sops_file_changes_one_line_and_sops_reads_it() {
    let s = Scratch::new();
    let plain = s.write("plain.yaml", &s.plain);
    let enc = s.sops_encrypt(&plain, "sops.enc.yaml");
    let old = std::fs::read_to_string(&enc).unwrap();
    let new_value = canary("comments-new");
    next_second();
    s.ksec_set(&enc, r#"["db"]["password"]"#, new_value.as_str());
    let new = std::fs::read_to_string(&enc).unwrap();
    assert_one_value_changed(&old, &new, "    password: ENC[");
    let expected = s.plain.replace(s.canaries[0].as_str(), &new_value);
    assert_eq!(s.sops_decrypt(&enc), expected);
    assert_eq!(s.ksec_decrypt(&enc), expected);
}

#[test]
fn ksec_edit_of_one_value_keeps_every_comment_and_its_ciphertext() {
    let s = Scratch::new();
    let plain = s.write("plain.yaml", &s.plain);
    let enc = s.ksec_encrypt(&plain, "s.enc.yaml");
    let old = std::fs::read_to_string(&enc).unwrap();
    next_second();
    s.ksec_edit(&enc, "s/^    user: admin$/    user: root/");
    let new = std::fs::read_to_string(&enc).unwrap();
    assert_one_value_changed(&old, &new, "    user: ENC[");
    let expected = s.plain.replace("user: admin", "user: root");
    assert_eq!(s.sops_decrypt(&enc), expected);
    assert_eq!(s.ksec_decrypt(&enc), expected);
}

#[test]
fn sops_set_on_a_commented_ksec_file_reads_back_with_ksec() {
    let s = Scratch::new();
    let plain = s.write("plain.yaml", &s.plain);
    let enc = s.ksec_encrypt(&plain, "ksec.enc.yaml");
    let old = std::fs::read_to_string(&enc).unwrap();
    next_second();
    run_ok(
        s.sops(true)
            .arg("set")
            .arg(&enc)
            .arg(r#"["db"]["port"]"#)
            .arg("6543"),
    );
    let new = std::fs::read_to_string(&enc).unwrap();
    // sops keeps ksec's comment ciphertexts too
    assert_one_value_changed(&old, &new, "    port: ENC[");
    let expected = s.plain.replace("port: 5432", "port: 6543");
    assert_eq!(s.sops_decrypt(&enc), expected);
    assert_eq!(s.ksec_decrypt(&enc), expected);
}

#[test]
fn commented_files_round_trip_through_both_tools() {
    let s = Scratch::new();
    let plain = s.write("plain.yaml", &s.plain);
    // ksec -> sops -> ksec
    let by_ksec = s.ksec_encrypt(&plain, "a.enc.yaml");
    let back = s.write("a.plain.yaml", &s.sops_decrypt(&by_ksec));
    let by_sops = s.sops_encrypt(&back, "b.enc.yaml");
    assert_eq!(s.ksec_decrypt(&by_sops), s.plain);
    // sops -> ksec -> sops
    let by_sops = s.sops_encrypt(&plain, "c.enc.yaml");
    let out = ksec_with(&s.home(), &s.key)
        .explicit_output(s.path("c.plain.yaml"))
        .arg("decrypt")
        .arg(&by_sops)
        .arg("--output")
        .arg(s.path("c.plain.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let by_ksec = s.ksec_encrypt(&s.path("c.plain.yaml"), "d.enc.yaml");
    assert_eq!(s.sops_decrypt(&by_ksec), s.plain);
}

/// A file sops encrypted with a comment rule: ksec prints it as `sops -d`
/// does, and `ksec set` changes one value's line, leaving the values and
/// comments the rule keeps in clear as they are.
fn comment_rule_is_honoured(flag: &str, template: &str, clear: &[&str]) {
    let s = Scratch::with(template);
    let plain = s.write("plain.yaml", &s.plain);
    let text = run_ok(
        s.sops(false)
            .args(["-e", "--age", &s.key.recipient, flag, "sops:mark"])
            .arg(&plain),
    );
    let enc = s.write("enc.yaml", &text);
    for line in clear {
        assert!(
            text.lines().any(|l| l == *line),
            "{line:?} in clear:\n{text}"
        );
    }
    for c in &s.canaries {
        assert!(!text.contains(c.as_str()), "{c}:\n{text}");
    }
    let expected = s.sops_decrypt(&enc);
    assert_eq!(s.ksec_decrypt(&enc), expected);

    next_second();
    let new_value = canary("comments-rule");
    s.ksec_set(&enc, "last", &new_value);
    let new = std::fs::read_to_string(&enc).unwrap();
    assert_one_value_changed(&text, &new, "last: ENC[");
    let expected = expected.replace(s.canaries[2].as_str(), &new_value);
    assert_eq!(s.sops_decrypt(&enc), expected);
    assert_eq!(s.ksec_decrypt(&enc), expected);
}

#[test]
fn unencrypted_comment_regex_of_a_sops_file_is_honoured() {
    comment_rule_is_honoured(
        "--unencrypted-comment-regex",
        "a: @1@\n# sops:mark\nb: visible-b\n# another\nnested:\n    # sops:mark\n    x: visible-x\n    y: @2@\nlist:\n    # sops:mark\n    - visible-item\n    - other-item\nlast: @3@\n",
        &[
            "# sops:mark",
            "b: visible-b",
            "    x: visible-x",
            "    - visible-item",
        ],
    );
}

#[test]
fn encrypted_comment_regex_of_a_sops_file_is_honoured() {
    comment_rule_is_honoured(
        "--encrypted-comment-regex",
        "a: visible-a\n# sops:mark\nb: @1@\n# after the marker\nc: visible-c\nnested:\n    # sops:mark\n    # a secret note @2@\n    x: secret-x\n    z: visible-z\n# sops:mark\nlast: @3@\n",
        &[
            "a: visible-a",
            "# sops:mark",
            "# after the marker",
            "c: visible-c",
            "    z: visible-z",
        ],
    );
}

#[test]
fn editing_a_comment_changes_its_line_only_and_sops_prints_the_new_one() {
    let s = Scratch::new();
    let plain = s.write("plain.yaml", &s.plain);
    let enc = s.sops_encrypt(&plain, "sops.enc.yaml");
    let old = std::fs::read_to_string(&enc).unwrap();
    next_second();
    s.ksec_edit(&enc, "s/# the admin user/# the app user/");
    let new = std::fs::read_to_string(&enc).unwrap();
    // the comment line above `user:` (comments are outside the MAC, whose
    // ciphertext changes with `lastmodified`)
    let comment = index_of(&old, "    user: ENC[") - 1;
    assert_eq!(
        changed_lines(&old, &new),
        line_and_mac(&old, comment),
        "\n{old}\n---\n{new}"
    );
    let expected = s.plain.replace("# the admin user", "# the app user");
    assert_eq!(s.sops_decrypt(&enc), expected);
    assert_eq!(s.ksec_decrypt(&enc), expected);
}

#[test]
fn a_comment_on_the_first_line_of_a_list_item_is_stable_under_ksec() {
    let s = Scratch::with("jobs:\n    - name: nightly # why @1@\n      token: @2@\nlast: @3@\n");
    let plain = s.write("plain.yaml", &s.plain);
    let enc = s.ksec_encrypt(&plain, "ksec.enc.yaml");
    s.assert_sealed(&enc);
    let expected = s.sops_decrypt(&s.sops_encrypt(&plain, "sops.enc.yaml"));
    assert_eq!(s.sops_decrypt(&enc), expected);
    let old = std::fs::read_to_string(&enc).unwrap();
    next_second();
    s.ksec_set(&enc, "last", &canary("comments-stable"));
    let new = std::fs::read_to_string(&enc).unwrap();
    assert_one_value_changed(&old, &new, "last: ENC[");
}

#[test]
fn with_encrypted_regex_comments_outside_the_encrypted_keys_stay_in_clear_as_in_sops() {
    let s = Scratch::with(
        "# a Secret for the app\napiVersion: v1\nkind: Secret\nmetadata:\n    name: app\nstringData:\n    # the database password @1@\n    password: @2@\n    user: @3@\n",
    );
    let plain = s.write("plain.yaml", &s.plain);
    let text = run_ok(
        s.sops(false)
            .args(["-e", "--age", &s.key.recipient])
            .args(["--encrypted-regex", "^(data|stringData)$"])
            .arg(&plain),
    );
    let enc = s.write("secret.enc.yaml", &text);
    assert!(text.starts_with("# a Secret for the app\n"), "{text}");
    s.assert_sealed(&enc);
    let expected = s.sops_decrypt(&enc);
    assert_eq!(s.ksec_decrypt(&enc), expected);
    next_second();
    s.ksec_set(&enc, r#"["stringData"]["user"]"#, "app");
    let new = std::fs::read_to_string(&enc).unwrap();
    assert_one_value_changed(&text, &new, "    user: ENC[");
    assert!(new.starts_with("# a Secret for the app\n"), "{new}");
    assert_eq!(
        s.sops_decrypt(&enc),
        expected.replace(s.canaries[2].as_str(), "app")
    );
}

#[test]
fn an_encrypted_comment_at_the_end_of_a_value_line_is_read_as_sops_reads_it() {
    // sops 3.13 and later keep a trailing comment on its line, encrypted
    let s = Scratch::with("a: @1@ # why\nb: @2@\n");
    let plain = s.write("plain.yaml", &s.plain);
    let enc = s.ksec_encrypt(&plain, "ksec.enc.yaml");
    let text = std::fs::read_to_string(&enc).unwrap();
    let (comment, rest) = text.split_once('\n').unwrap();
    assert!(comment.starts_with("#ENC[") && comment.ends_with(",type:comment]"));
    let (value, rest) = rest.split_once('\n').unwrap();
    let inline = s.write("inline.enc.yaml", &format!("{value} {comment}\n{rest}"));
    let expected = format!("# why\na: {}\nb: {}\n", s.canaries[0], s.canaries[1]);
    assert_eq!(s.sops_decrypt(&inline), expected);
    assert_eq!(s.ksec_decrypt(&inline), expected);
}
