//! Invariant 5: a tampered encrypted file (changed value, removed key,
//! swapped values, edited metadata) is refused with exit 5 and prints no
//! plaintext — for YAML and for dotenv, for every command that opens it.

use crate::common;

use common::{CANARY, Key, all_output, ksec, ksec_with};
use std::path::PathBuf;
use std::process::Output;

#[derive(Clone, Copy, Debug)]
enum Fmt {
    Yaml,
    Dotenv,
}

impl Fmt {
    fn file_name(self) -> &'static str {
        match self {
            Fmt::Yaml => "secrets.enc.yaml",
            Fmt::Dotenv => "secrets.enc.env",
        }
    }

    fn plaintext(self) -> String {
        match self {
            Fmt::Yaml => format!(
                "API_TOKEN: {CANARY}\nDB_USER: admin\nDB_PASSWORD: {CANARY}-db\nLOG_LEVEL: info\n"
            ),
            Fmt::Dotenv => format!(
                "API_TOKEN={CANARY}\nDB_USER=admin\nDB_PASSWORD={CANARY}-db\nLOG_LEVEL=info\n"
            ),
        }
    }

    /// The prefix of the line holding `key`'s encrypted value.
    fn value_prefix(self, key: &str) -> String {
        match self {
            Fmt::Yaml => format!("{key}: ENC["),
            Fmt::Dotenv => format!("{key}=ENC["),
        }
    }

    fn lastmodified_prefix(self) -> &'static str {
        match self {
            Fmt::Yaml => "    lastmodified: \"",
            Fmt::Dotenv => "sops_lastmodified=",
        }
    }

    fn mac_prefix(self) -> &'static str {
        match self {
            Fmt::Yaml => "    mac: ENC[",
            Fmt::Dotenv => "sops_mac=ENC[",
        }
    }
}

/// An encrypted file holding CANARY, in its own temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
    key: Key,
    fmt: Fmt,
    text: String,
}

impl Fixture {
    fn new(fmt: Fmt) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let plain_name = match fmt {
            Fmt::Yaml => "plain.yaml",
            Fmt::Dotenv => "plain.env",
        };
        std::fs::write(dir.path().join(plain_name), fmt.plaintext()).unwrap();
        ksec(dir.path())
            .current_dir(dir.path())
            .args(["encrypt", plain_name, "-r", &key.recipient, "--output"])
            .arg(fmt.file_name())
            .assert()
            .success();
        let fixture = Fixture {
            text: std::fs::read_to_string(dir.path().join(fmt.file_name())).unwrap(),
            dir,
            key,
            fmt,
        };
        // Positive control: the untampered file decrypts, so a refusal below
        // is caused by the tampering and nothing else.
        let out = fixture.decrypt(&fixture.text);
        assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), fmt.plaintext());
        fixture
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join(self.fmt.file_name())
    }

    fn write(&self, text: &str) {
        std::fs::write(self.path(), text).unwrap();
    }

    /// `ksec decrypt` of `text` (written over the fixture's file), run in the
    /// fixture's directory with a relative path.
    fn decrypt(&self, text: &str) -> Output {
        self.write(text);
        ksec_with(self.dir.path(), &self.key)
            .current_dir(self.dir.path())
            .expect_secret_output()
            .args(["decrypt", self.fmt.file_name()])
            .output()
            .unwrap()
    }

    fn line_index(&self, text: &str, prefix: &str) -> usize {
        text.lines()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{text}"))
    }

    fn map_line(&self, index: usize, f: impl FnOnce(&str) -> String) -> String {
        let mut lines: Vec<String> = self.text.lines().map(String::from).collect();
        let changed = f(&lines[index]);
        assert_ne!(changed, lines[index], "the tampering must change the line");
        lines[index] = changed;
        lines.join("\n") + "\n"
    }

    /// One base64 character of `key`'s `data:` changed (still valid base64).
    fn changed_byte(&self, key: &str) -> String {
        let i = self.line_index(&self.text, &self.fmt.value_prefix(key));
        self.map_line(i, flip_first_data_char)
    }

    /// The whole line of `key` deleted.
    fn removed_key(&self, key: &str) -> String {
        let i = self.line_index(&self.text, &self.fmt.value_prefix(key));
        let lines: Vec<&str> = self.text.lines().collect();
        let mut out: Vec<&str> = lines[..i].to_vec();
        out.extend_from_slice(&lines[i + 1..]);
        out.join("\n") + "\n"
    }

    /// The ENC[...] strings of `a` and `b` exchanged.
    fn swapped(&self, a: &str, b: &str) -> String {
        let ia = self.line_index(&self.text, &self.fmt.value_prefix(a));
        let ib = self.line_index(&self.text, &self.fmt.value_prefix(b));
        let mut lines: Vec<String> = self.text.lines().map(String::from).collect();
        let enc = |line: &str| line[line.find("ENC[").unwrap()..].to_string();
        let (ea, eb) = (enc(&lines[ia]), enc(&lines[ib]));
        assert_ne!(ea, eb);
        lines[ia] = lines[ia].replace(&ea, &eb);
        lines[ib] = lines[ib].replace(&eb, &ea);
        lines.join("\n") + "\n"
    }

    /// `lastmodified` moved by one second.
    fn edited_lastmodified(&self) -> String {
        let prefix = self.fmt.lastmodified_prefix();
        let i = self.line_index(&self.text, prefix);
        self.map_line(i, |line| {
            // ...THH:MM:SSZ: the seconds are the two digits before the Z.
            let z = line.rfind('Z').expect("an RFC 3339 UTC timestamp");
            let secs: u32 = line[z - 2..z].parse().unwrap();
            let moved = if secs == 59 { 58 } else { secs + 1 };
            format!("{}{moved:02}{}", &line[..z - 2], &line[z..])
        })
    }

    /// One base64 character of the mac's `data:` changed.
    fn changed_mac(&self) -> String {
        let i = self.line_index(&self.text, self.fmt.mac_prefix());
        self.map_line(i, flip_first_data_char)
    }
}

/// Replace the first character after `data:` with another base64 character.
/// The first character of a base64 string can be anything in the alphabet,
/// so the result stays valid base64 of the same length.
fn flip_first_data_char(line: &str) -> String {
    let at = line.find("data:").expect("an ENC[...] value") + "data:".len();
    let old = line[at..].chars().next().unwrap();
    let new = if old == 'A' { 'B' } else { 'A' };
    format!("{}{new}{}", &line[..at], &line[at + 1..])
}

/// Exit 5, nothing on stdout, no secret anywhere, the file named.
fn assert_refused(out: &Output, fmt: Fmt, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{what} ({fmt:?}): expected the integrity exit code 5\n{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{what} ({fmt:?}): printed something on stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !all_output(out).contains(CANARY),
        "{what} ({fmt:?}): a secret value leaked into the output"
    );
    assert!(
        !all_output(out).contains("admin"),
        "{what} ({fmt:?}): a plaintext value leaked into the output"
    );
    assert!(
        stderr.contains(fmt.file_name()),
        "{what} ({fmt:?}): the error does not name the file:\n{stderr}"
    );
    assert!(
        stderr.contains("integrity"),
        "{what} ({fmt:?}): the error does not say it is an integrity failure:\n{stderr}"
    );
    stderr
}

fn both(f: impl Fn(Fmt)) {
    f(Fmt::Yaml);
    f(Fmt::Dotenv);
}

#[test]
fn one_changed_ciphertext_byte_is_refused_naming_the_key() {
    both(|fmt| {
        let fx = Fixture::new(fmt);
        let out = fx.decrypt(&fx.changed_byte("API_TOKEN"));
        let stderr = assert_refused(&out, fmt, "changed byte");
        assert!(
            stderr.contains("API_TOKEN"),
            "the error must name the changed key ({fmt:?}):\n{stderr}"
        );
    });
}

#[test]
fn a_changed_byte_in_a_non_secret_looking_value_is_refused_too() {
    both(|fmt| {
        let fx = Fixture::new(fmt);
        let out = fx.decrypt(&fx.changed_byte("LOG_LEVEL"));
        let stderr = assert_refused(&out, fmt, "changed byte");
        assert!(stderr.contains("LOG_LEVEL"), "{stderr}");
    });
}

#[test]
fn a_removed_key_is_refused() {
    both(|fmt| {
        let fx = Fixture::new(fmt);
        let out = fx.decrypt(&fx.removed_key("DB_USER"));
        assert_refused(&out, fmt, "removed key");
    });
}

#[test]
fn two_swapped_values_are_refused() {
    both(|fmt| {
        let fx = Fixture::new(fmt);
        let out = fx.decrypt(&fx.swapped("API_TOKEN", "DB_PASSWORD"));
        let stderr = assert_refused(&out, fmt, "swapped values");
        // the first moved key in file order is the one named
        assert!(
            stderr.contains("the value of key API_TOKEN was changed or moved"),
            "the error should name the first moved key ({fmt:?}):\n{stderr}"
        );
    });
}

#[test]
fn an_edited_lastmodified_is_refused() {
    both(|fmt| {
        let fx = Fixture::new(fmt);
        let out = fx.decrypt(&fx.edited_lastmodified());
        assert_refused(&out, fmt, "edited lastmodified");
    });
}

#[test]
fn a_changed_mac_is_refused() {
    both(|fmt| {
        let fx = Fixture::new(fmt);
        let out = fx.decrypt(&fx.changed_mac());
        assert_refused(&out, fmt, "changed mac");
    });
}

#[test]
fn an_added_unencrypted_key_is_refused() {
    // A key with the unencrypted suffix is stored in clear, but it is still
    // covered by the MAC: adding one must not be accepted silently.
    both(|fmt| {
        let fx = Fixture::new(fmt);
        let line = match fmt {
            Fmt::Yaml => "INJECTED_unencrypted: evil",
            Fmt::Dotenv => "INJECTED_unencrypted=evil",
        };
        let out = fx.decrypt(&format!("{line}\n{}", fx.text));
        assert_refused(&out, fmt, "added unencrypted key");
    });
}

#[test]
fn a_tampered_file_is_not_written_to_output() {
    both(|fmt| {
        let fx = Fixture::new(fmt);
        fx.write(&fx.changed_byte("API_TOKEN"));
        let target = fx.dir.path().join("out.dec");
        let out = ksec_with(fx.dir.path(), &fx.key)
            .current_dir(fx.dir.path())
            .expect_secret_output()
            .args(["decrypt", fmt.file_name(), "--output"])
            .arg(&target)
            .output()
            .unwrap();
        assert_refused(&out, fmt, "decrypt --output");
        assert!(!target.exists(), "plaintext was written despite tampering");
    });
}

/// `set`, `unset` and `edit` must verify too: re-sealing a tampered file
/// would compute a fresh MAC over it and launder the tampering.
#[test]
fn set_unset_and_edit_refuse_a_tampered_file_and_leave_it_alone() {
    both(|fmt| {
        let fx = Fixture::new(fmt);
        for (what, tampered) in [
            ("removed key", fx.removed_key("DB_USER")),
            ("changed byte", fx.changed_byte("API_TOKEN")),
        ] {
            for args in [
                vec!["set", fmt.file_name(), "LOG_LEVEL", "debug"],
                vec!["unset", fmt.file_name(), "LOG_LEVEL"],
                vec!["edit", fmt.file_name()],
            ] {
                fx.write(&tampered);
                let editor_ran = fx.dir.path().join("editor-ran");
                let out = ksec_with(fx.dir.path(), &fx.key)
                    .current_dir(fx.dir.path())
                    .env("EDITOR", format!("touch {}; true", editor_ran.display()))
                    .args(&args)
                    .write_stdin("")
                    .output()
                    .unwrap();
                assert_refused(&out, fmt, &format!("{} on a {what}", args[0]));
                assert_eq!(
                    std::fs::read_to_string(fx.path()).unwrap(),
                    tampered,
                    "{} rewrote a tampered file ({what}, {fmt:?})",
                    args[0]
                );
                assert!(!editor_ran.exists(), "edit opened a tampered file");
            }
        }
    });
}

/// The messages, for review: they name the file and the key, and hold no
/// value (the snapshot is checked for the canary before it is compared).
#[test]
fn integrity_error_messages() {
    for fmt in [Fmt::Yaml, Fmt::Dotenv] {
        let fx = Fixture::new(fmt);
        let mut report = String::new();
        for (what, tampered) in [
            ("changed byte in API_TOKEN", fx.changed_byte("API_TOKEN")),
            ("removed DB_USER", fx.removed_key("DB_USER")),
            (
                "swapped API_TOKEN/DB_PASSWORD",
                fx.swapped("API_TOKEN", "DB_PASSWORD"),
            ),
            ("lastmodified +1s", fx.edited_lastmodified()),
            ("changed mac", fx.changed_mac()),
        ] {
            let out = fx.decrypt(&tampered);
            let stderr = assert_refused(&out, fmt, what);
            report.push_str(&format!("## {what}\n{stderr}\n"));
        }
        assert!(!report.contains(CANARY));
        let name = match fmt {
            Fmt::Yaml => "integrity_errors_yaml",
            Fmt::Dotenv => "integrity_errors_dotenv",
        };
        insta::assert_snapshot!(name, report);
    }
}
