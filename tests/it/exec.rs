//! `ksec exec`: a namespace's rendered keys reach the command as
//! environment variables or, with `--files`, as files in a private
//! directory that is gone when the command ends, however it ends; signals
//! sent to ksec reach the command; the command's exit status is ksec's.
//!
//! The command checks the values itself (against a variable the test gives
//! ksec's own environment, which passes through) and answers with its exit
//! code, so no value is ever printed.

use crate::common::{self, Key, canary, ksec_with, stderr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KSEC_YAML: &str = "\
version: 1
project: test
recipients:
  me: @KEY@
namespaces:
  payments:
    recipients: [me]
    configMaps:
      - name: app
        literals: {MODE: fast}
      - name: files
        files: [app.yaml]
      - name: blob
        files: [BLOB=blob.bin]
      - name: clash
        literals: {DB_PASSWORD: other}
    secrets:
      - name: db
        sources: [db.enc.yaml]
";

struct Fixture {
    dir: tempfile::TempDir,
    key: Key,
    password: String,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "me");
        let ns = dir.path().join("namespaces/payments");
        std::fs::create_dir_all(&ns).unwrap();
        std::fs::write(
            dir.path().join("ksec.yaml"),
            KSEC_YAML.replace("@KEY@", &key.recipient),
        )
        .unwrap();
        std::fs::write(ns.join("app.yaml"), "port: 8080\n").unwrap();
        std::fs::write(ns.join("blob.bin"), [0xff, 0x00, 0xfe]).unwrap();
        let password = canary("db-password");
        let plain = dir.path().join("db.yaml");
        std::fs::write(&plain, format!("DB_PASSWORD: {password}\n")).unwrap();
        common::encrypt_to(dir.path(), &key, &plain, &ns.join("db.enc.yaml"));
        std::fs::remove_file(&plain).unwrap();
        Fixture { dir, key, password }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ksec exec ARGS` (through the recording helper) with the expected
    /// password in WANT, for the command to compare.
    fn exec(&self, args: &[&str]) -> std::process::Output {
        ksec_with(self.dir.path(), &self.key)
            .current_dir(self.dir.path())
            .env("WANT", &self.password)
            .arg("exec")
            .args(args)
            .output()
            .unwrap()
    }

    /// `ksec exec -n payments FLAGS -- sh -c SCRIPT`, as [`Fixture::exec`].
    fn exec_sh(&self, flags: &str, script: &str) -> std::process::Output {
        let mut args = vec!["-n", "payments"];
        args.extend(flags.split_whitespace());
        args.extend(["--", "sh", "-c", script]);
        self.exec(&args)
    }

    /// `ksec exec ARGS` started in the background in a process group of
    /// its own, stdout and stderr to files (a command killed mid-way may
    /// leave children holding a pipe).
    fn spawn(&self, args: &[&str]) -> Background {
        self.spawn_with(args, &[])
    }

    /// [`Fixture::spawn`], with SIGINT and SIGQUIT as ksec inherits them
    /// reset to their default action, except those in `ignored`, which ksec
    /// starts with ignored. A shell started in the background
    /// (`setsid cmd &`, a non-interactive `cmd &`) ignores SIGINT and
    /// SIGQUIT, and a non-interactive `sh` cannot trap a signal it was
    /// started with ignored: the test must not depend on how it was run.
    fn spawn_with(&self, args: &[&str], ignored: &[libc::c_int]) -> Background {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ksec"));
        set_dispositions(&mut cmd, ignored);
        for var in common::KEY_VARS {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.dir.path())
            .env("KSEC_AGE_KEY_FILE", &self.key.file)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .env("TMPDIR", self.dir.path())
            .env_remove("XDG_RUNTIME_DIR")
            .current_dir(self.dir.path())
            .arg("exec")
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.path("out.log")).unwrap())
            .stderr(std::fs::File::create(self.path("err.log")).unwrap())
            .process_group(0);
        Background(cmd.spawn().unwrap())
    }

    /// What the background run printed; never a value.
    fn logs(&self) -> String {
        let text = format!(
            "{}{}",
            std::fs::read_to_string(self.path("out.log")).unwrap_or_default(),
            std::fs::read_to_string(self.path("err.log")).unwrap_or_default()
        );
        assert!(
            !text.contains(common::canary::MARKER),
            "a value was printed"
        );
        text
    }
}

/// A background ksec; whatever is left of its process group (the command,
/// when a test fails half-way) is killed at the end of the test.
struct Background(std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        signal_group(self.0.id(), libc::SIGKILL);
        let _ = self.0.try_wait();
    }
}

/// Wait (bounded) until the command has written `path`.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() || std::fs::read(path).unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // the line is written whole before the file is seen non-empty? give
    // the writer a moment to finish it
    std::thread::sleep(Duration::from_millis(50));
}

#[allow(
    unsafe_code,
    reason = "libc: signal dispositions of the child, before it execs"
)]
fn set_dispositions(cmd: &mut Command, ignored: &[libc::c_int]) {
    use std::os::unix::process::CommandExt;
    let ignored = ignored.to_vec();
    // SAFETY: the closure only calls signal(2), which is async-signal-safe,
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for s in [libc::SIGINT, libc::SIGQUIT] {
                let action = if ignored.contains(&s) {
                    libc::SIG_IGN
                } else {
                    libc::SIG_DFL
                };
                libc::signal(s, action);
            }
            Ok(())
        });
    }
}

#[allow(unsafe_code, reason = "libc: a signal to a process of the test's")]
fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill only sends a signal.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

#[allow(
    unsafe_code,
    reason = "libc: a signal to a process group of the test's"
)]
fn signal_group(pid: u32, signal: libc::c_int) {
    // SAFETY: kill only sends a signal.
    unsafe { libc::kill(-(pid as libc::pid_t), signal) };
}

/// Wait (at most a minute) for the background ksec to end.
fn wait_bounded(child: &mut Background, fx: &Fixture) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            panic!("ksec exec did not end: {}", fx.logs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The run failed with `code`, and its stderr holds each of `says`.
fn assert_refused(out: &std::process::Output, code: i32, says: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for s in says {
        assert!(err.contains(s), "{s:?} not in: {err}");
    }
}

#[allow(unsafe_code, reason = "libc: mkfifo")]
fn make_fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo reads a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

#[test]
fn exec_passes_secret_and_configmap_values_and_the_parent_environment() {
    let fx = Fixture::new();
    let files = || -> Vec<(PathBuf, std::time::SystemTime, u64)> {
        let mut all: Vec<_> = common::leftovers::regular_files(fx.dir.path())
            .into_iter()
            .map(|(p, m)| (p, m.modified().unwrap(), m.len()))
            .collect();
        all.sort();
        all
    };
    let before = files();
    let out = fx.exec_sh(
        "--secret db --configmap app",
        r#"[ "$DB_PASSWORD" = "$WANT" ] && [ "$MODE" = fast ] && [ -n "$HOME" ]"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // nothing written in the project nor in HOME
    assert_eq!(files(), before);
    // the same check fails with another expected value: the test is real
    let out = ksec_with(fx.dir.path(), &fx.key)
        .current_dir(fx.dir.path())
        .env("WANT", "something else")
        .args(["exec", "-n", "payments", "--secret", "db", "--"])
        .args(["sh", "-c", r#"[ "$DB_PASSWORD" = "$WANT" ]"#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn exec_secret_filter_passes_only_the_objects_named() {
    let fx = Fixture::new();
    // the ConfigMaps are left out: no MODE, and no clash on DB_PASSWORD
    let out = fx.exec_sh(
        "--secret db",
        r#"[ -z "${MODE+set}" ] && [ "$DB_PASSWORD" = "$WANT" ]"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // a name that is no object of the namespace
    let out = fx.exec(&["-n", "payments", "--secret", "nope", "--", "true"]);
    assert_refused(
        &out,
        3,
        &["--secret nope: no Secret of that name (rendered there: db)"],
    );
}

#[test]
fn exec_refuses_invalid_names_binary_values_and_a_key_of_two_objects() {
    let fx = Fixture::new();
    let marker = fx.path("ran");
    let touch = format!("touch {}", marker.display());
    let out = fx.exec_sh("--configmap files --configmap blob", &touch);
    assert_refused(
        &out,
        6,
        &[
            "ConfigMap files: key app.yaml is not a valid variable name",
            "ConfigMap blob: the value of key BLOB is binary",
            "use --files",
        ],
    );
    assert!(!marker.exists(), "the command ran");

    // every object: DB_PASSWORD is in the Secret and in a ConfigMap
    let out = fx.exec(&["-n", "payments", "--", "sh", "-c", &touch]);
    assert_refused(
        &out,
        2,
        &["key DB_PASSWORD is in both ConfigMap clash and Secret db"],
    );
    assert!(!marker.exists(), "the command ran");
}

#[test]
fn exec_passes_the_exit_code_through() {
    let fx = Fixture::new();
    let out = fx.exec_sh("--secret db", "exit 7");
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    // killed by a signal: 128+N, as a shell says
    let out = fx.exec_sh("--secret db", "kill -KILL $$");
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    let out = fx.exec(&[
        "-n",
        "payments",
        "--secret",
        "db",
        "--",
        "no-such-command-x",
    ]);
    assert_refused(&out, 3, &["cannot run no-such-command-x: no such command"]);
}

/// SIGINT, SIGHUP and SIGTERM sent to ksec each reach the command, which
/// traps them (and ends at SIGTERM).
#[test]
fn exec_forwards_sigint_sighup_and_sigterm_to_the_command() {
    let fx = Fixture::new();
    let marker = fx.path("marker");
    let script = format!(
        "trap 'echo int >> {m}' INT; trap 'echo hup >> {m}' HUP; trap 'echo term >> {m}; exit 0' TERM; touch {ready}; while :; do sleep 0.05; done",
        m = marker.display(),
        ready = fx.path("ready").display()
    );
    let mut child = fx.spawn(&[
        "-n", "payments", "--secret", "db", "--", "sh", "-c", &script,
    ]);
    let start = Instant::now();
    while !fx.path("ready").exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "{}", fx.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut want = String::new();
    for (sig, name) in [
        (libc::SIGINT, "int"),
        (libc::SIGHUP, "hup"),
        (libc::SIGTERM, "term"),
    ] {
        signal(child.0.id(), sig);
        want.push_str(name);
        want.push('\n');
        let start = Instant::now();
        while std::fs::read_to_string(&marker).unwrap_or_default() != want {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{name} did not reach the command: {}",
                fx.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let status = wait_bounded(&mut child, &fx);
    let logs = fx.logs();
    assert_eq!(status.code(), Some(0), "{logs}");
}

/// A caller that ignores SIGINT (a script's background job) has the
/// command ignore it too, as when the command is run directly: ksec keeps
/// the dispositions it was started with. SIGINT sent to ksec is still
/// passed on (and ignored by the command); SIGTERM still ends it.
#[test]
fn exec_keeps_a_signal_its_caller_ignores_ignored_in_the_command() {
    let fx = Fixture::new();
    let marker = fx.path("marker");
    let script = format!(
        "while read -r line; do case $line in SigIgn:*) echo \"${{line#SigIgn:}}\" > {ign};; esac; done < /proc/$$/status; trap 'echo int >> {m}' INT; trap 'echo term >> {m}; exit 0' TERM; echo ok > {ready}; while :; do sleep 0.05; done",
        ign = fx.path("ignored").display(),
        m = marker.display(),
        ready = fx.path("ready").display()
    );
    let args = [
        "-n", "payments", "--secret", "db", "--", "sh", "-c", &script,
    ];
    let mut child = fx.spawn_with(&args, &[libc::SIGINT]);
    wait_for(&fx.path("ready"));
    let ignored = u64::from_str_radix(read_trimmed(&fx.path("ignored")).trim(), 16).unwrap();
    assert_ne!(ignored & (1 << (libc::SIGINT - 1)), 0, "SIGINT not ignored");
    assert_eq!(ignored & (1 << (libc::SIGTERM - 1)), 0, "SIGTERM ignored");
    signal(child.0.id(), libc::SIGINT);
    signal(child.0.id(), libc::SIGTERM);
    let status = wait_bounded(&mut child, &fx);
    assert_eq!(status.code(), Some(0), "{}", fx.logs());
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "term\n");
}

/// The command writes its pid and KSEC_FILES_DIR (and the `{}` argument),
/// then sleeps; the files are checked while it runs.
fn start_files_run(fx: &Fixture) -> (Background, u32, PathBuf) {
    let script = format!(
        "[ \"$1\" = \"$KSEC_FILES_DIR\" ] || exit 9; echo $$ > {pid}.tmp; mv {pid}.tmp {pid}; echo \"$KSEC_FILES_DIR\" > {dir}.tmp; mv {dir}.tmp {dir}; exec sleep 1000",
        pid = fx.path("pid").display(),
        dir = fx.path("dir").display()
    );
    let child = fx.spawn(&[
        "-n",
        "payments",
        "--files",
        "--secret",
        "db",
        "--configmap",
        "app",
        "--configmap",
        "files",
        "--configmap",
        "blob",
        "--",
        "sh",
        "-c",
        &script,
        "sh",
        "{}",
    ]);
    wait_for(&fx.path("dir"));
    wait_for(&fx.path("pid"));
    let pid: u32 = read_trimmed(&fx.path("pid")).parse().unwrap();
    let dir = PathBuf::from(read_trimmed(&fx.path("dir")));
    (child, pid, dir)
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn exec_files_are_private_and_removed_after_the_command_is_killed() {
    let fx = Fixture::new();
    let (mut child, pid, dir) = start_files_run(&fx);
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // file names need not be variable names, nor values text
    assert_eq!(
        names,
        ["BLOB", "DB_PASSWORD", "MODE", "app.yaml"],
        "{names:?}"
    );
    for name in &names {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    assert_eq!(std::fs::read(dir.join("BLOB")).unwrap(), [0xff, 0x00, 0xfe]);
    assert_eq!(
        std::fs::read_to_string(dir.join("DB_PASSWORD")).unwrap(),
        fx.password
    );
    signal(pid, libc::SIGKILL);
    let status = wait_bounded(&mut child, &fx);
    let logs = fx.logs();
    assert_eq!(status.code(), Some(137), "{logs}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[test]
fn exec_files_are_removed_after_ksec_gets_sigterm() {
    let fx = Fixture::new();
    let (mut child, _pid, dir) = start_files_run(&fx);
    assert!(dir.is_dir());
    signal(child.0.id(), libc::SIGTERM);
    let status = wait_bounded(&mut child, &fx);
    let logs = fx.logs();
    // the command (sleep) died of the forwarded SIGTERM
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{logs}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[test]
fn exec_files_left_by_a_killed_ksec_are_removed_by_the_next_exec() {
    let fx = Fixture::new();
    let (mut child, pid, dir) = start_files_run(&fx);
    // ksec itself is killed: no chance to clean up
    signal(child.0.id(), libc::SIGKILL);
    wait_bounded(&mut child, &fx);
    signal(pid, libc::SIGKILL);
    assert!(dir.is_dir(), "{} should be left behind", dir.display());
    let second = fx.path("second");
    let out = fx.exec_sh(
        "--files --secret db",
        &format!("echo \"$KSEC_FILES_DIR\" > {}", second.display()),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // (another test's `exec --files` running at the same time may be the
    // one that removes it, saying so on its stderr)
    assert!(!dir.exists(), "{} is still there: {err}", dir.display());
    // and the run's own directory is gone after the command exited
    let own = PathBuf::from(read_trimmed(&second));
    assert!(own.is_absolute() && own != dir, "{}", own.display());
    assert!(!own.exists(), "{} is left behind", own.display());
}

/// A Ctrl-C typed on the terminal signals the whole foreground process
/// group; ksec does not send the command a second one. The command here
/// runs in a session of its own (setsid), so it gets SIGINT only if ksec
/// passes it on; a SIGTERM sent to ksec with kill(2) is passed on.
#[test]
fn exec_does_not_pass_on_a_ctrl_c_from_the_terminal() {
    use crate::common::terminal::{Transcript, on_terminal};
    let script = common::which("script").expect("util-linux `script` is not installed");
    let fx = Fixture::new();
    let marker = fx.path("marker");
    let ready = fx.path("ready");
    let ppid = fx.path("ppid");
    let command = format!(
        "trap 'echo int >> {m}' INT; trap 'echo term >> {m}; exit 0' TERM; echo $PPID > {p}.tmp; mv {p}.tmp {p}; touch {r}; while :; do sleep 0.05; done",
        m = marker.display(),
        p = ppid.display(),
        r = ready.display()
    );
    let line = format!(
        "exec {ksec} --project {dir} exec -n payments --secret db -- setsid sh -c \"{command}\"",
        ksec = env!("CARGO_BIN_EXE_ksec"),
        dir = fx.dir.path().display()
    );
    let mut child = on_terminal(&script, &line, fx.dir.path(), &fx.key)
        .spawn()
        .unwrap();
    let transcript = Transcript::read(&mut child);
    let start = Instant::now();
    while !ready.exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ksec_pid: u32 = read_trimmed(&ppid).parse().unwrap();
    let terminate = std::thread::spawn(move || {
        // the Ctrl-C has long been typed (and handled) by then
        std::thread::sleep(Duration::from_millis(800));
        signal(ksec_pid, libc::SIGTERM);
    });
    let (status, text) = transcript.type_and_wait(&mut child, b"\x03");
    terminate.join().unwrap();
    assert!(
        !text.contains(common::canary::MARKER),
        "a value was printed"
    );
    assert_eq!(status.code(), Some(0), "{text}");
    assert_eq!(read_trimmed(&marker), "term", "{text}");
}

/// A signal that arrives before the command starts (here while ksec waits
/// to read its identity from a FIFO) interrupts: exit 130, nothing run.
#[test]
fn exec_interrupted_before_the_command_starts_runs_nothing() {
    let fx = Fixture::new();
    let fifo = fx.path("key.fifo");
    make_fifo(&fifo);
    let marker = fx.path("ran");
    let touch = format!("touch {}", marker.display());
    let mut child = fx.spawn(&[
        "--identity",
        &fifo.to_string_lossy(),
        "-n",
        "payments",
        "--secret",
        "db",
        "--",
        "sh",
        "-c",
        &touch,
    ]);
    // opening the write end waits for ksec to open the read end: by then
    // ksec has blocked the signals
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    signal(child.0.id(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(100));
    use std::io::Write;
    writer
        .write_all(&std::fs::read(&fx.key.file).unwrap())
        .unwrap();
    drop(writer);
    let status = wait_bounded(&mut child, &fx);
    let logs = fx.logs();
    assert_eq!(status.code(), Some(130), "{logs}");
    assert!(
        logs.contains("interrupted before the command started"),
        "{logs}"
    );
    assert!(!marker.exists(), "the command ran");
}
