//! `ksec edit` with scripted editors: re-encrypts only what changed, keeps
//! the plaintext in a private directory that is gone afterwards — also on
//! invalid content, on editor failure and on Ctrl-C.

use crate::common;

use common::terminal::{Transcript, on_terminal};
use common::{CANARY, Key, all_output, ksec_with, run_ok, sops, stderr};
use std::path::{Path, PathBuf};
use std::process::Output;

const PLAIN: &str = "API_TOKEN: canary-7f3a9c1e-do-not-print\nDB_USER: admin\nDB_HOST: db.internal\nLOG_LEVEL: info\n";

/// A temporary directory with an encrypted file, a key, a private TMPDIR
/// for ksec (so leftovers can be detected), and a place for editor scripts.
/// TMPDIR is on /dev/shm (RAM-backed, so ksec uses it), else in `dir`.
struct Fixture {
    dir: tempfile::TempDir,
    key: Key,
    file: PathBuf,
    tmp: PathBuf,
    _ram: Option<tempfile::TempDir>,
}

/// A fresh directory on /dev/shm, when it exists.
fn ram_dir() -> Option<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("ksec-test-")
        .tempdir_in("/dev/shm")
        .ok()
}

impl Fixture {
    fn new(name: &str, plain: &str) -> Fixture {
        assert!(PLAIN.contains(CANARY));
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let src = dir.path().join(name.replace(".enc", ""));
        std::fs::write(&src, plain).unwrap();
        let file = dir.path().join(name);
        common::encrypt_to(dir.path(), &key, &src, &file);
        std::fs::remove_file(&src).unwrap();
        let ram = ram_dir();
        let tmp = match &ram {
            Some(ram) => ram.path().to_path_buf(),
            None => {
                let tmp = dir.path().join("tmp");
                std::fs::create_dir(&tmp).unwrap();
                tmp
            }
        };
        Fixture {
            dir,
            key,
            file,
            tmp,
            _ram: ram,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An executable editor script; `@DIR@` in `body` is this fixture's dir.
    fn editor(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path(name);
        let body = body.replace("@DIR@", &self.dir.path().display().to_string());
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn edit(&self, editor: &Path) -> Output {
        ksec_with(self.dir.path(), &self.key)
            .env("EDITOR", editor)
            .env("TMPDIR", &self.tmp)
            .env_remove("XDG_RUNTIME_DIR")
            .arg("edit")
            .arg(&self.file)
            .write_stdin("")
            .output()
            .unwrap()
    }

    fn decrypt(&self) -> String {
        let out = ksec_with(self.dir.path(), &self.key)
            .expect_secret_output()
            .arg("decrypt")
            .arg(&self.file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }

    /// `out` is of an interrupted edit (exit 130, `message` on stderr, no
    /// secret value), the file still holds `before`, the plaintext is gone.
    fn assert_interrupted(&self, out: &Output, before: &[u8], message: &str) {
        let err = stderr(out);
        assert_eq!(out.status.code(), Some(130), "{err}");
        assert!(err.contains(message), "{err}");
        assert!(!all_output(out).contains(CANARY));
        assert_eq!(std::fs::read(&self.file).unwrap(), before);
        self.assert_plaintext_gone();
    }

    /// The path the editor script recorded, which must exist no more, nor
    /// its directory; and ksec's TMPDIR is empty.
    fn assert_plaintext_gone(&self) {
        let recorded = std::fs::read_to_string(self.path("path")).expect("the editor ran");
        let recorded = PathBuf::from(recorded.trim());
        assert!(
            recorded.starts_with(&self.tmp),
            "the plaintext was not under TMPDIR: {}",
            recorded.display()
        );
        assert!(!recorded.exists(), "{} is left behind", recorded.display());
        assert!(
            !recorded.parent().unwrap().exists(),
            "the private dir is left behind"
        );
        let left: Vec<_> = std::fs::read_dir(&self.tmp).unwrap().collect();
        assert!(left.is_empty(), "TMPDIR is not empty: {left:?}");
        // and no stray plaintext next to the encrypted file
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.extension().is_none_or(|e| e != "sh") {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(CANARY),
                    "plaintext in {}",
                    path.display()
                );
            }
        }
    }
}

fn changed_lines(old: &str, new: &str) -> Vec<usize> {
    let (o, n): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    assert_eq!(o.len(), n.len(), "line counts differ:\n{old}\n---\n{new}");
    (0..o.len()).filter(|&i| o[i] != n[i]).collect()
}

fn index_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{text}"))
}

fn next_second() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

/// Records the file it was given, the modes of it and its directory.
const RECORD: &str = "echo \"$1\" > @DIR@/path\nstat -c %a \"$(dirname \"$1\")\" > @DIR@/dirmode\nstat -c %a \"$1\" > @DIR@/filemode\n";

#[test]
fn edit_reencrypts_only_the_changed_value_and_removes_the_plaintext() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let editor = fx.editor(
        "editor.sh",
        &format!("{RECORD}sed -i 's/^DB_USER: admin$/DB_USER: root/' \"$1\"\n"),
    );
    let old = fx.text();
    next_second();
    let out = fx.edit(&editor);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("saved"), "{}", stderr(&out));
    assert!(!all_output(&out).contains(CANARY));

    let new = fx.text();
    let mut expected = vec![
        index_of(&old, "DB_USER: ENC["),
        index_of(&old, "    lastmodified: "),
        index_of(&old, "    mac: ENC["),
    ];
    expected.sort();
    assert_eq!(changed_lines(&old, &new), expected, "\n{old}\n---\n{new}");
    assert_eq!(fx.decrypt(), PLAIN.replace("admin", "root"));
    assert_eq!(
        run_ok(sops(Some(&fx.key)).arg("-d").arg(&fx.file)),
        PLAIN.replace("admin", "root")
    );

    let dir_mode = std::fs::read_to_string(fx.path("dirmode")).unwrap();
    assert_eq!(dir_mode.trim(), "700", "the private directory's mode");
    let file_mode = std::fs::read_to_string(fx.path("filemode")).unwrap();
    assert_eq!(file_mode.trim(), "600", "the plaintext file's mode");
    let recorded = std::fs::read_to_string(fx.path("path")).unwrap();
    assert!(
        recorded.trim().ends_with(".yaml") && !recorded.contains(".enc."),
        "the temporary file should be named like the source without .enc: {recorded}"
    );
    fx.assert_plaintext_gone();
}

#[test]
fn edit_a_dotenv_file() {
    let plain = format!("TOKEN={CANARY}\nUSER=admin\nHOST=db\n");
    let fx = Fixture::new("s.enc.env", &plain);
    let editor = fx.editor(
        "editor.sh",
        &format!("{RECORD}sed -i 's/^HOST=db$/HOST=db2/' \"$1\"\n"),
    );
    let old = fx.text();
    next_second();
    let out = fx.edit(&editor);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new = fx.text();
    let mut expected = vec![
        index_of(&old, "HOST=ENC["),
        index_of(&old, "sops_lastmodified="),
        index_of(&old, "sops_mac=ENC["),
    ];
    expected.sort();
    assert_eq!(changed_lines(&old, &new), expected);
    assert_eq!(fx.decrypt(), plain.replace("HOST=db", "HOST=db2"));
    fx.assert_plaintext_gone();
}

#[test]
fn edit_without_changes_writes_nothing() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let editor = fx.editor("editor.sh", RECORD);
    let before = std::fs::read(&fx.file).unwrap();
    let mtime = std::fs::metadata(&fx.file).unwrap().modified().unwrap();
    next_second();
    let out = fx.edit(&editor);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("no changes"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&fx.file).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&fx.file).unwrap().modified().unwrap(),
        mtime
    );
    fx.assert_plaintext_gone();
}

#[test]
fn edit_with_invalid_content_and_no_terminal_fails_and_keeps_the_file() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let editor = fx.editor(
        "editor.sh",
        &format!("{RECORD}printf 'DB_USER: root\\nbroken: [{CANARY}\\n' > \"$1\"\n"),
    );
    let before = std::fs::read(&fx.file).unwrap();
    let out = fx.edit(&editor);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains("s.enc.yaml"), "{err}");
    assert!(
        err.contains("line 2"),
        "the error should name the line:\n{err}"
    );
    assert!(!all_output(&out).contains(CANARY), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&fx.file).unwrap(), before);
    fx.assert_plaintext_gone();
}

#[test]
fn edit_refuses_a_sops_key_in_the_content() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let editor = fx.editor("editor.sh", &format!("{RECORD}echo 'sops: 1' >> \"$1\"\n"));
    let before = std::fs::read(&fx.file).unwrap();
    let out = fx.edit(&editor);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(std::fs::read(&fx.file).unwrap(), before);
    fx.assert_plaintext_gone();
}

#[test]
fn a_failing_editor_writes_nothing() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let editor = fx.editor(
        "editor.sh",
        &format!("{RECORD}sed -i 's/admin/root/' \"$1\"\nexit 3\n"),
    );
    let before = std::fs::read(&fx.file).unwrap();
    let out = fx.edit(&editor);
    let err = stderr(&out);
    // the exit-code table: 10, reading or writing a file failed
    assert_eq!(out.status.code(), Some(10), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read(&fx.file).unwrap(), before);
    fx.assert_plaintext_gone();
}

/// On a terminal, invalid content offers to reopen the editor; answering
/// "y" reopens it on the content as edited (not the original), and the
/// fixed version is saved. util-linux
/// `script` gives ksec a pseudo-terminal.
#[test]
fn edit_on_a_terminal_reopens_the_editor_after_invalid_content() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let editor = fx.editor(
        "editor.sh",
        &format!(
            "{RECORD}n=$(cat @DIR@/count 2>/dev/null || echo 0)\n\
             n=$((n + 1))\n\
             echo $n > @DIR@/count\n\
             if [ $n = 1 ]; then\n\
             \x20 sed -i 's/^DB_USER: admin$/DB_USER: reopened/' \"$1\"\n\
             \x20 echo 'broken: [' >> \"$1\"\n\
             else\n\
             \x20 grep -q '^DB_USER: reopened$' \"$1\" || exit 1\n\
             \x20 sed -i '/^broken: \\[$/d' \"$1\"\n\
             fi\n"
        ),
    );
    let mut cmd = edit_on_terminal(&fx, &editor);
    let mut child = cmd.spawn().unwrap();
    // Keep stdin open until ksec is done: `script` may end the session
    // when its input ends. The answer waits in the terminal's buffer.
    let mut stdin = child.stdin.take().unwrap();
    use std::io::Write;
    stdin.write_all(b"y").unwrap();
    stdin.flush().unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let transcript = all_output(&out);
    assert_eq!(out.status.code(), Some(0), "{transcript}");
    assert!(transcript.contains("reopen the editor?"), "{transcript}");
    assert!(transcript.contains("saved"), "{transcript}");
    assert!(!transcript.contains(CANARY), "{transcript}");
    assert_eq!(
        std::fs::read_to_string(fx.path("count")).unwrap().trim(),
        "2",
        "the editor should have run twice"
    );
    assert_eq!(fx.decrypt(), PLAIN.replace("admin", "reopened"));
    fx.assert_plaintext_gone();
}

/// `ksec edit` of the fixture's file with `editor`, on a pseudo-terminal
/// from util-linux `script` (fails the test if it is not installed).
fn edit_on_terminal(fx: &Fixture, editor: &Path) -> std::process::Command {
    let Some(script) = common::which("script") else {
        panic!("util-linux `script` is not installed");
    };
    let inner = format!(
        "{} edit {}",
        shell_quote(env!("CARGO_BIN_EXE_ksec")),
        shell_quote(&fx.file.display().to_string())
    );
    let mut cmd = on_terminal(&script, &inner, fx.dir.path(), &fx.key);
    cmd.env("EDITOR", editor)
        .env("TMPDIR", &fx.tmp)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("VISUAL");
    cmd
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Finds the ksec process above the editor (the editor runs via `sh -c`,
/// which may or may not exec it) and sends it SIGINT, as Ctrl-C would.
const INTERRUPT_KSEC: &str = "pid=$PPID\n\
while [ \"$(cat /proc/$pid/comm)\" != ksec ]; do\n\
\x20 pid=$(cut -d' ' -f4 /proc/$pid/stat)\n\
\x20 [ \"$pid\" -gt 1 ] || exit 1\n\
done\n\
kill -INT $pid\n";

#[test]
fn ctrl_c_while_editing_writes_nothing_and_removes_the_plaintext() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    // Change the file, then interrupt, then give the signal time to land
    // before the editor exits 0.
    let editor = fx.editor(
        "editor.sh",
        &format!("{RECORD}sed -i 's/admin/root/' \"$1\"\n{INTERRUPT_KSEC}sleep 0.3\nexit 0\n"),
    );
    let before = std::fs::read(&fx.file).unwrap();
    let out = fx.edit(&editor);
    fx.assert_interrupted(&out, &before, "interrupted");
}

/// The same, without the pause: SIGINT sent just before the editor exits
/// must still count. ksec's handler sets its flag on ctrlc's own thread,
/// so the flag may be read before it is set and the edit is saved anyway.
/// The window is small: many rounds run, in parallel to add contention.
#[test]

fn ctrl_c_just_before_the_editor_exits_is_never_missed() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 25;
    let missed: Vec<(usize, Option<i32>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let fx = Fixture::new("s.enc.yaml", PLAIN);
                    let editor = fx.editor(
                        "editor.sh",
                        &format!("{RECORD}sed -i 's/admin/root/' \"$1\"\n{INTERRUPT_KSEC}exit 0\n"),
                    );
                    let before = std::fs::read(&fx.file).unwrap();
                    let mut missed = Vec::new();
                    for round in 0..ROUNDS {
                        let out = fx.edit(&editor);
                        if out.status.code() != Some(130)
                            || std::fs::read(&fx.file).unwrap() != before
                        {
                            missed.push((round, out.status.code()));
                            std::fs::write(&fx.file, &before).unwrap();
                        }
                        fx.assert_plaintext_gone();
                    }
                    missed
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        missed.is_empty(),
        "SIGINT was missed in {} of {} edits; the first (round, exit): {:?}",
        missed.len(),
        THREADS * ROUNDS,
        &missed[..missed.len().min(5)]
    );
}

/// `ksec edit` as a std command in a process group of its own (so a test
/// can signal the group, as a terminal does), with TMPDIR and
/// XDG_RUNTIME_DIR as given.
fn edit_command(
    fx: &Fixture,
    editor: &Path,
    tmpdir: &Path,
    xdg: Option<&Path>,
) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ksec"));
    for var in common::KEY_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", fx.dir.path())
        .env("KSEC_AGE_KEY_FILE", &fx.key.file)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env_remove("VISUAL")
        .env("EDITOR", editor)
        .env("TMPDIR", tmpdir)
        .env_remove("XDG_RUNTIME_DIR")
        .arg("edit")
        .arg(&fx.file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    if let Some(xdg) = xdg {
        cmd.env("XDG_RUNTIME_DIR", xdg);
    }
    cmd
}

/// Wait (bounded) for the editor script to create `path`.
fn wait_for(path: &Path) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!(
        "{} never appeared: the editor did not start",
        path.display()
    );
}

/// A real Ctrl-C signals the terminal's whole foreground process group:
/// ksec and the editor. The editor dies of it (exit status by signal), and
/// ksec still exits 130 ("interrupted"), not as if the editor had failed.
#[test]
fn ctrl_c_to_ksec_and_the_editor_exits_130() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let editor = fx.editor(
        "editor.sh",
        &format!("{RECORD}sed -i 's/admin/root/' \"$1\"\nkill -INT 0\nsleep 5\nexit 0\n"),
    );
    let before = std::fs::read(&fx.file).unwrap();
    let out = edit_command(&fx, &editor, &fx.tmp, None).output().unwrap();
    fx.assert_interrupted(&out, &before, "interrupted: nothing was written");
}

/// SIGKILL gives ksec no chance to clean up: its private directory stays,
/// with the plaintext. The next `ksec edit` sees that the process named in
/// the directory's name is gone, and removes it.
#[test]
fn a_killed_edit_leaves_a_directory_the_next_edit_removes() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let editor = fx.editor("slow.sh", &format!("{RECORD}touch @DIR@/ready\nsleep 60\n"));
    let mut child = edit_command(&fx, &editor, &fx.tmp, None).spawn().unwrap();
    wait_for(&fx.path("ready"));
    let group = format!("-{}", child.id());
    run_ok(std::process::Command::new("kill").args(["-KILL", "--", &group]));
    child.wait().unwrap();

    let left = PathBuf::from(std::fs::read_to_string(fx.path("path")).unwrap().trim());
    let left_dir = left.parent().unwrap().to_path_buf();
    assert!(
        std::fs::read_to_string(&left).unwrap().contains(CANARY),
        "the killed edit should have left its plaintext (this test needs it)"
    );
    let name = left_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("ksec-edit-{}-", child.id())),
        "the directory is not named after its ksec: {name}"
    );

    let noop = fx.editor("noop.sh", "exit 0\n");
    let out = fx.edit(&noop);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!left_dir.exists(), "{} is still there", left_dir.display());
    assert!(err.contains("removed"), "{err}");
    assert!(!all_output(&out).contains(CANARY));
    let rest: Vec<_> = std::fs::read_dir(&fx.tmp).unwrap().collect();
    assert!(rest.is_empty(), "left in TMPDIR: {rest:?}");
}

/// A live ksec's directory, and another user's kind of name, are kept.
#[test]
fn the_cleanup_keeps_directories_of_live_processes() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    // pid 1 is always alive, and this test's own pid too
    let live = fx
        .tmp
        .join(format!("ksec-edit-{}-abcdef", std::process::id()));
    let unnamed = fx.tmp.join("ksec-edit-abcdef");
    std::fs::create_dir(&live).unwrap();
    std::fs::create_dir(&unnamed).unwrap();
    let noop = fx.editor("noop.sh", "exit 0\n");
    let out = fx.edit(&noop);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(live.exists());
    assert!(unnamed.exists());
}

fn is_tmpfs(dir: &str) -> bool {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%T", dir])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "tmpfs"
}

/// Plaintext on a RAM-backed file system never reaches a disk: with TMPDIR
/// on a disk, the edit happens in /dev/shm, or in XDG_RUNTIME_DIR when
/// that is RAM-backed.
#[test]
fn the_plaintext_is_kept_on_ram_backed_storage() {
    assert!(
        is_tmpfs("/dev/shm"),
        "this test needs /dev/shm to be a tmpfs, as on every Linux with glibc"
    );
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let disk = fx.path("disk-tmp");
    std::fs::create_dir(&disk).unwrap();
    assert!(!is_tmpfs(disk.to_str().unwrap()), "the fixture is on tmpfs");
    let editor = fx.editor("editor.sh", RECORD);
    let recorded = || PathBuf::from(std::fs::read_to_string(fx.path("path")).unwrap().trim());

    let out = edit_command(&fx, &editor, &disk, None).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        recorded().starts_with("/dev/shm"),
        "not on /dev/shm: {}",
        recorded().display()
    );

    let runtime = ram_dir().unwrap();
    let out = edit_command(&fx, &editor, &disk, Some(runtime.path()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        recorded().starts_with(runtime.path()),
        "not in XDG_RUNTIME_DIR: {}",
        recorded().display()
    );
    assert_eq!(std::fs::read_dir(&disk).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(runtime.path()).unwrap().count(), 0);
}

/// `ksec set` from inside the editor stands for any change made while the
/// editor is open. Different keys: both changes are kept.
#[test]
fn a_change_made_while_editing_is_merged_with_the_edit() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let ksec_bin = shell_quote(env!("CARGO_BIN_EXE_ksec"));
    let file = shell_quote(&fx.file.display().to_string());
    let editor = fx.editor(
        "editor.sh",
        &format!(
            "{RECORD}{ksec_bin} set {file} DB_HOST other.internal || exit 1\n\
             cp {file} @DIR@/after-set\n\
             sed -i 's/admin/root/' \"$1\"\n"
        ),
    );
    let out = fx.edit(&editor);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("merged"), "{err}");
    assert!(!all_output(&out).contains(CANARY));
    assert_eq!(
        fx.decrypt(),
        PLAIN
            .replace("admin", "root")
            .replace("db.internal", "other.internal")
    );
    // on top of the other change, only the edited value is re-encrypted
    let (after_set, new) = (
        std::fs::read_to_string(fx.path("after-set")).unwrap(),
        fx.text(),
    );
    let changed = changed_lines(&after_set, &new);
    let user = index_of(&after_set, "DB_USER: ENC[");
    let allowed = [
        user,
        index_of(&after_set, "    lastmodified: "),
        index_of(&after_set, "    mac: ENC["),
    ];
    assert!(changed.contains(&user), "\n{after_set}\n---\n{new}");
    assert!(
        changed.iter().all(|l| allowed.contains(l)),
        "\n{after_set}\n---\n{new}"
    );
    fx.assert_plaintext_gone();
}

/// The same key changed there and in the edit: without a terminal to ask
/// on, nothing is written and the conflict is named; the other change stays.
#[test]
fn a_conflicting_change_made_while_editing_is_refused() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let ksec_bin = shell_quote(env!("CARGO_BIN_EXE_ksec"));
    let file = shell_quote(&fx.file.display().to_string());
    let editor = fx.editor(
        "editor.sh",
        &format!(
            "{RECORD}{ksec_bin} set {file} DB_USER someone-else || exit 1\n\
             sed -i 's/admin/mine-5831/' \"$1\"\n"
        ),
    );
    let out = fx.edit(&editor);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(12), "{err}");
    assert!(err.contains("was changed while you were editing"), "{err}");
    assert!(err.contains("DB_USER"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!all_output(&out).contains(CANARY));
    assert!(
        !err.contains("someone-else") && !err.contains("mine-5831"),
        "{err}"
    );
    assert_eq!(fx.decrypt(), PLAIN.replace("admin", "someone-else"));
    fx.assert_plaintext_gone();
}

/// On a terminal, Ctrl-C at "reopen the editor?" (console turns the key
/// into SIGINT) is an interruption: exit 130, not "invalid content".
#[test]
fn ctrl_c_at_the_reopen_question_exits_130() {
    let fx = Fixture::new("s.enc.yaml", PLAIN);
    let editor = fx.editor(
        "editor.sh",
        &format!("{RECORD}echo 'broken: [' >> \"$1\"\n"),
    );
    let before = std::fs::read(&fx.file).unwrap();
    let mut child = edit_on_terminal(&fx, &editor).spawn().unwrap();
    let transcript = Transcript::read(&mut child);
    assert!(transcript.wait_for("reopen the editor?"), "no question");
    let (status, transcript) = transcript.type_and_wait(&mut child, b"\x03");
    assert_eq!(status.code(), Some(130), "{transcript}");
    assert!(
        transcript.contains("interrupted: nothing was written"),
        "{transcript}"
    );
    assert!(!transcript.contains(CANARY), "{transcript}");
    assert_eq!(std::fs::read(&fx.file).unwrap(), before);
    fx.assert_plaintext_gone();
}
