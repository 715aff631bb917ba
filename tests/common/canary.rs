//! The secret canary: one generator for every secret value the suite uses,
//! a record of what every ksec process printed and wrote, and the scan that
//! finds a canary where the user did not ask for one.
//!
//! Every value comes from `canary(tag)`: `canary-7f3a9c1e-TAG-N`, one family
//! marker (`MARKER`) that no quoting or escaping (YAML, JSON, shell, Debug)
//! changes, since it is only `[a-z0-9-]`. The scan also looks for the base64
//! of the marker at the three byte alignments (standard and URL alphabets)
//! and its hex, so a value printed encoded is found too.
//!
//! `Ksec` (what `ksec`, `ksec_with` and `kube::ksec_project` return) records
//! each run into `target/canary/BINARY-PID.jsonl`, one JSON line per
//! process: the test, the arguments, stdout, stderr, and every file the run
//! created or changed (outside the explicit outputs) that holds a canary
//! form. `tests/canary_scan.rs` reads all of it after the suite. This module
//! must never decide that a leak is fine: it records; the scan judges.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What every canary starts with.
pub const MARKER: &str = "canary-7f3a9c1e";

/// A fresh secret value `canary-7f3a9c1e-TAG-N`, unique in this test
/// binary. `tag` says what it stands for (`db-password`) and is kept to
/// `[a-z0-9-]` so that the value reads the same in any quoting.
pub fn canary(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    assert!(
        !tag.is_empty()
            && tag
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "canary tag {tag:?}: use [a-z0-9-]"
    );
    format!("{MARKER}-{tag}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The forms of `MARKER` the scan looks for: (name, bytes).
pub fn forms() -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let mut forms = vec![
        ("plain".to_string(), MARKER.as_bytes().to_vec()),
        (
            "hex".to_string(),
            MARKER
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into_bytes(),
        ),
    ];
    for (alphabet, engine) in [
        ("base64", &base64::engine::general_purpose::STANDARD_NO_PAD),
        (
            "base64url",
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ),
    ] {
        for shift in 0..3 {
            // Encoded after `shift` other bytes: keep the characters made of
            // marker bits only.
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(MARKER.as_bytes());
            let text = engine.encode(&bytes);
            let first = (8 * shift).div_ceil(6);
            let last = 8 * (shift + MARKER.len()) / 6;
            forms.push((
                format!("{alphabet} at offset {shift}"),
                text.as_bytes()[first..last].to_vec(),
            ));
        }
    }
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

/// The name of the first canary form in `bytes`, if any.
pub fn find(bytes: &[u8]) -> Option<String> {
    static FORMS: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    FORMS
        .get_or_init(forms)
        .iter()
        .find(|(_, form)| bytes.windows(form.len()).any(|w| w == form.as_slice()))
        .map(|(name, _)| name.clone())
}

/// Where the suite's capture log lives: `target/canary`.
pub fn log_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is target/tmp")
        .join("canary")
}

/// Appends one record (a JSON object on one line) to this test binary's
/// log, adding the test's name.
pub fn append(mut record: Value) {
    static LOG: Mutex<()> = Mutex::new(());
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed thread)")
        .to_string();
    record["test"] = json!(test);
    let exe = std::env::current_exe().expect("current exe");
    record["binary"] = json!(exe.file_name().unwrap().to_string_lossy());
    let dir = log_dir();
    let _guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all(&dir).expect("create target/canary");
    let file = dir.join(format!(
        "{}-{}.jsonl",
        exe.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let mut line = serde_json::to_string(&record).unwrap();
    line.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .unwrap_or_else(|e| panic!("canary log {}: {e}", file.display()));
}

/// Records a ksec process the test ran as a `std` command `cmd` (to bound
/// or kill it): its arguments, what it printed, and whether the test asked
/// for a secret on stdout (`secret_stdout`, see
/// `Ksec::expect_secret_output`). Its files are not watched.
pub fn record_std(cmd: &std::process::Command, out: &Output, secret_stdout: bool) {
    append(json!({
        "args": cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        "secret_stdout": secret_stdout,
        "stdout": String::from_utf8_lossy(&out.stdout),
        "stderr": String::from_utf8_lossy(&out.stderr),
        "files": [],
        "files_checked": 0,
    }));
}

/// What a directory held before a run: path -> (length, mtime, inode).
type Snapshot = BTreeMap<PathBuf, (u64, i128, u64)>;

fn snapshot(dir: &Path, into: &mut Snapshot) {
    use std::os::unix::fs::MetadataExt;
    for (path, meta) in super::leftovers::regular_files(dir) {
        let mtime = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
        into.insert(path, (meta.len(), mtime, meta.ino()));
    }
}

/// The files under some directories, to find what a run created or changed.
pub struct Watch {
    dirs: Vec<PathBuf>,
    before: Snapshot,
}

impl Watch {
    /// Remembers the files under `dirs` (each at most once).
    pub fn start(dirs: &[PathBuf]) -> Watch {
        let mut kept: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            if !kept.iter().any(|k| dir.starts_with(k)) {
                kept.retain(|k| !k.starts_with(&dir));
                kept.push(dir);
            }
        }
        let mut before = Snapshot::new();
        for dir in &kept {
            snapshot(dir, &mut before);
        }
        Watch { dirs: kept, before }
    }

    /// The files created or changed since `start`, except under `outputs`,
    /// that hold a canary form: (path, form, text); and how many files were
    /// looked at. New git loose objects are read with `git cat-file`.
    pub fn finish(&self, outputs: &[PathBuf]) -> (Vec<Value>, usize) {
        let outputs: Vec<PathBuf> = outputs
            .iter()
            .map(|o| o.canonicalize().unwrap_or_else(|_| o.clone()))
            .collect();
        let mut after = Snapshot::new();
        for dir in &self.dirs {
            snapshot(dir, &mut after);
        }
        let mut found = Vec::new();
        let mut checked = 0;
        for (path, meta) in &after {
            if self.before.get(path) == Some(meta) || outputs.iter().any(|o| path.starts_with(o)) {
                continue;
            }
            checked += 1;
            let bytes = match git_object(path) {
                Some(object) => object,
                None => std::fs::read(path).unwrap_or_default(),
            };
            if let Some(form) = find(&bytes) {
                found.push(json!({
                    "path": path.to_string_lossy(),
                    "form": form,
                    "text": String::from_utf8_lossy(&bytes),
                }));
            }
        }
        (found, checked)
    }
}

/// The content of a git loose object (`.git/objects/xx/yyyy…`), which is
/// zlib-compressed on disk.
fn git_object(path: &Path) -> Option<Vec<u8>> {
    let name = path.file_name()?.to_str()?;
    let fan = path.parent()?;
    let objects = fan.parent()?;
    let fan_name = fan.file_name()?.to_str()?;
    if objects.file_name()? != "objects"
        || fan_name.len() != 2
        || name.len() != 38
        || !name
            .bytes()
            .chain(fan_name.bytes())
            .all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(objects.parent()?)
        .args(["cat-file", "-p", &format!("{fan_name}{name}")])
        .output()
        .ok()?;
    Some(out.stdout)
}

/// The subcommands whose stdout is the secret the user asked for, when the
/// test marks the run with `Ksec::expect_secret_output`: `decrypt` without
/// `--output`, `render` without `--out`, `git textconv` (git diff's view),
/// `edit` and `exec`.
fn asks_for_secret(args: &[&str]) -> bool {
    let has = |a: &str| args.contains(&a);
    let to_file = |flag: &str| {
        args.iter()
            .any(|a| *a == flag || a.starts_with(&format!("{flag}=")))
    };
    (has("decrypt") && !to_file("--output"))
        || (has("render") && !to_file("--out"))
        || (has("git") && has("textconv"))
        || has("edit")
        || has("exec")
}

/// Where a record shows a canary that the user did not ask for: one line
/// per place, naming the test, the command, the stream (or file) and the
/// form found, never the value.
pub fn judge(record: &Value) -> Vec<String> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let args: Vec<String> = record["args"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let test = text(&record["test"]);
    let binary = text(&record["binary"]);
    // a value given as an argument is shown as <canary>
    let shown: Vec<&str> = arg_refs
        .iter()
        .map(|a| {
            if find(a.as_bytes()).is_some() {
                "<canary>"
            } else {
                a
            }
        })
        .collect();
    let place = |what: &str, form: &str| {
        format!(
            "test {binary}::{test}: `ksec {}`: canary ({form}) on {what}",
            shown.join(" ")
        )
    };
    let mut leaks = Vec::new();
    if let Some(form) = find(text(&record["stderr"]).as_bytes()) {
        leaks.push(place("stderr", &form));
    }
    if let Some(form) = find(text(&record["stdout"]).as_bytes()) {
        let allowed = record["secret_stdout"] == json!(true) && asks_for_secret(&arg_refs);
        if !allowed {
            let why = if record["secret_stdout"] == json!(true) {
                "stdout (marked as asked for, but this command never prints a secret)"
            } else {
                "stdout (not marked with expect_secret_output)"
            };
            leaks.push(place(why, &form));
        }
    }
    for file in record["files"].as_array().into_iter().flatten() {
        leaks.push(place(
            &format!("a file it wrote: {}", text(&file["path"])),
            &text(&file["form"]),
        ));
    }
    leaks
}
