//! `ksec render --gitops DIR` run again: two runs into one DIR at once take
//! turns on the environment's lock (the second sees the first's tree and
//! writes nothing), and a held lock is a clear error after
//! KSEC_LOCK_TIMEOUT. A re-render with nothing changed decrypts nothing
//! (it succeeds without any identity); any change of an input or of a
//! written file takes the full path and gives the tree a fresh render
//! gives.

use crate::common;
use crate::gitops::{Fleet, fleet};

use common::{all_output, code, stderr};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Both start at once; the lock makes one wait for the other, so the
/// second reuses every file of the first: one writes the tree, the other
/// writes nothing. Without the lock both would find an empty DIR and both
/// write every file.
#[test]
fn two_renders_into_one_dir_at_once_take_turns() {
    let f = fleet();
    for round in 0..3 {
        let _ = std::fs::remove_dir_all(f.gitops());
        let barrier = std::sync::Barrier::new(2);
        let run = || {
            barrier.wait();
            f.ksec()
                .env("KSEC_LOCK_TIMEOUT", "60")
                .args(["render", "--gitops", "gitops"])
                .output()
                .unwrap()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(run);
            let b = s.spawn(run);
            (a.join().unwrap(), b.join().unwrap())
        });
        for out in [&a, &b] {
            assert_eq!(code(out), Some(0), "round {round}: {}", all_output(out));
        }
        let idle = [&a, &b]
            .iter()
            .filter(|o| wrote_nothing(&stderr(o)))
            .count();
        assert_eq!(
            idle,
            1,
            "round {round}: one run writes, the other finds its tree\n{}\n{}",
            stderr(&a),
            stderr(&b)
        );
        let tree = f.tree();
        // a third run finds exactly the tree it would write
        let again = f.render_gitops();
        assert!(wrote_nothing(&stderr(&again)), "{}", stderr(&again));
        assert_eq!(f.tree(), tree);
    }
}

fn wrote_nothing(err: &str) -> bool {
    err.contains("wrote 0 files")
}

/// Another process holds the environment's lock (`flock(1)` on its index):
/// the render waits KSEC_LOCK_TIMEOUT seconds, then fails naming the file,
/// and writes nothing; released, it goes through.
#[test]
fn a_held_lock_makes_render_gitops_fail_clearly_after_the_wait() {
    let f = fleet();
    f.render_gitops();
    let index = f.gitops().join("staging/.ksec-gitops-files");
    let holder = common::FlockHolder::hold(&index, &f.dir.join("ready"));
    let before = f.tree();
    let out = f
        .ksec()
        .env("KSEC_LOCK_TIMEOUT", "1")
        .args(["render", "--gitops", "gitops"])
        .output()
        .unwrap();
    let err = stderr(&out);
    holder.release();
    assert_eq!(code(&out), Some(9), "{err}");
    assert!(
        err.contains(&format!(
            "{} is being changed by another ksec",
            index.display()
        )) || err.contains("staging/.ksec-gitops-files is being changed by another ksec"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(f.tree(), before);
    let out = f.render_gitops();
    assert!(wrote_nothing(&stderr(&out)), "{}", stderr(&out));
}

/// `ksec render --gitops gitops` with no identity anywhere.
fn render_without_identity(f: &Fleet) -> std::process::Output {
    common::ksec(&f.dir)
        .current_dir(&f.dir)
        .args(["render", "--gitops", "gitops"])
        .output()
        .unwrap()
}

#[test]
fn a_no_op_re_render_decrypts_nothing_and_changes_nothing() {
    let f = fleet();
    f.render_gitops();
    let before = f.tree();
    let out = render_without_identity(&f);
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(
        stderr(&out).contains("staging: unchanged: wrote 0 files"),
        "{}",
        all_output(&out)
    );
    assert_eq!(f.tree(), before);
    // the control: with one input byte changed, the same command renders,
    // and without an identity that fails to decrypt
    let yaml = f.dir.join("ksec.yaml");
    let mut text = std::fs::read_to_string(&yaml).unwrap();
    text.push_str("# a comment\n");
    std::fs::write(&yaml, text).unwrap();
    let out = render_without_identity(&f);
    assert_ne!(code(&out), Some(0), "{}", all_output(&out));
    assert!(
        stderr(&out).contains("no age identity found"),
        "{}",
        all_output(&out)
    );
    assert_eq!(f.tree(), before);
}

/// A tree as what a reader sees: each file's text, a Secret's decrypted
/// (ksec, the team's key), the index without its hash lines.
fn seen(f: &Fleet, dir: &Path) -> BTreeMap<String, String> {
    common::leftovers::regular_files(dir)
        .into_iter()
        .map(|(path, _)| {
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let text = if text.contains("\nsops:\n") {
                let out = f
                    .ksec()
                    .expect_secret_output()
                    .arg("decrypt")
                    .arg(&path)
                    .output()
                    .unwrap();
                assert_eq!(code(&out), Some(0), "{}", stderr(&out));
                String::from_utf8(out.stdout).unwrap()
            } else if rel.ends_with(".ksec-gitops-files") {
                text.lines()
                    .filter(|l| !l.starts_with("# sha256 ") && !l.starts_with("# inputs "))
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                text
            };
            (rel, text)
        })
        .collect()
}

/// A change made to a project or its rendered tree.
type Change = Box<dyn Fn(&Fleet)>;

/// Each change takes the full path (it writes, it does not say
/// "unchanged"), and the tree is then what a fresh render writes.
#[test]
fn any_change_of_an_input_or_an_output_renders_again() {
    let f = fleet();
    f.render_gitops();
    let changes: Vec<(&str, Change)> = vec![
        (
            "a source value",
            Box::new(|f: &Fleet| {
                f.set_value("namespaces/search/api.enc.env", "TOKEN", "api-token-2")
            }),
        ),
        (
            "ksec.yaml",
            Box::new(|f: &Fleet| {
                let yaml = f.dir.join("ksec.yaml");
                let text = std::fs::read_to_string(&yaml)
                    .unwrap()
                    .replace("MODE: live", "MODE: dry");
                std::fs::write(&yaml, text).unwrap();
            }),
        ),
        (
            "a hand-edited ConfigMap file",
            Box::new(|f: &Fleet| {
                let file = f.gitops().join("staging/payments/configmap-settings.yaml");
                let text = std::fs::read_to_string(&file).unwrap();
                std::fs::write(&file, text.replace("MODE:", "MODE2:")).unwrap();
            }),
        ),
        (
            "a deleted Secret file",
            Box::new(|f: &Fleet| {
                std::fs::remove_file(f.gitops().join("staging/search/secret-api.yaml")).unwrap()
            }),
        ),
        (
            "a deleted kustomization",
            Box::new(|f: &Fleet| {
                std::fs::remove_file(f.gitops().join("staging/flux/kustomization.yaml")).unwrap()
            }),
        ),
    ];
    for (what, change) in changes {
        change(&f);
        let out = f.render_gitops();
        let err = stderr(&out);
        assert!(!err.contains("unchanged:"), "{what}: {err}");
        assert!(!err.contains("wrote 0 files"), "{what}: {err}");
        let fresh = f.dir.join("fresh");
        let _ = std::fs::remove_dir_all(&fresh);
        let out = f
            .ksec()
            .args(["render", "--gitops", "fresh"])
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0), "{}", all_output(&out));
        assert_eq!(seen(&f, &f.gitops()), seen(&f, &fresh), "{what}");
        // and the next run is a no-op again
        let out = f.render_gitops();
        assert!(
            stderr(&out).contains("unchanged: wrote 0 files"),
            "{what}: {}",
            stderr(&out)
        );
    }
}

/// The stat cache of a no-op (`$HOME/.cache/ksec/gitops`): its one file.
fn stat_cache(f: &Fleet) -> PathBuf {
    let dir = f.dir.join(".cache/ksec/gitops");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

/// Render, let every file settle (the cache remembers only files that had
/// not changed for 100 ms), then a no-op that remembers them all.
fn settled_render(f: &Fleet) {
    f.render_gitops();
    std::thread::sleep(std::time::Duration::from_millis(250));
    let out = f.render_gitops();
    assert!(wrote_nothing(&stderr(&out)), "{}", stderr(&out));
}

/// `path`'s text with `from` replaced by `to` (same length), and its mtime
/// put back: only the ctime tells that it changed.
fn edit_keeping_size_and_mtime(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_modified(mtime))
        .unwrap();
}

/// A no-op re-render trusts the hashes it remembers by stat data: with the
/// remembered hash of one unchanged file falsified, the run is no longer a
/// no-op (the file was not read), though it then writes nothing.
#[test]
fn a_no_op_uses_the_hashes_it_remembers() {
    let f = fleet();
    settled_render(&f);
    let cache = stat_cache(&f);
    let text = std::fs::read_to_string(&cache).unwrap();
    let line = text
        .lines()
        .find(|l| l.ends_with("/staging/payments/kustomization.yaml"))
        .unwrap_or_else(|| panic!("the cache remembers the tree's files:\n{text}"));
    let falsified = format!("{}{}", "0".repeat(64), &line[64..]);
    std::fs::write(&cache, text.replace(line, &falsified)).unwrap();
    let before = f.tree();
    let out = f.render_gitops();
    let err = stderr(&out);
    assert!(!err.contains("unchanged: wrote 0 files"), "{err}");
    assert!(wrote_nothing(&err), "{err}");
    assert_eq!(f.tree(), before);
}

/// A file changed with its size and mtime kept (as a second write within
/// one clock tick leaves them) is still seen: the cache compares the ctime,
/// which cannot be set back. Both for an output and for an input.
#[test]
fn a_change_that_keeps_size_and_mtime_is_still_seen() {
    let f = fleet();
    let changes: [(PathBuf, &str, &str); 2] = [
        (
            f.gitops().join("staging/payments/configmap-settings.yaml"),
            "MODE: live",
            "MODE: evil",
        ),
        (f.dir.join("ksec.yaml"), "MODE: live", "MODE: lava"),
    ];
    for (path, from, to) in changes {
        settled_render(&f);
        let out = f.render_gitops();
        assert!(
            stderr(&out).contains("unchanged: wrote 0 files"),
            "{}",
            stderr(&out)
        );
        edit_keeping_size_and_mtime(&path, from, to);
        let out = f.render_gitops();
        let err = stderr(&out);
        assert!(!err.contains("unchanged:"), "{}: {err}", path.display());
        assert!(!wrote_nothing(&err), "{}: {err}", path.display());
        // the output edit is undone, the input edit rendered
        let cm =
            std::fs::read_to_string(f.gitops().join("staging/payments/configmap-settings.yaml"))
                .unwrap();
        assert!(!cm.contains("MODE: evil"), "{cm}");
        if path.ends_with("ksec.yaml") {
            assert!(cm.contains("MODE: lava"), "{cm}");
        }
    }
}

/// The pids, other than `except`, that have `path` open.
fn openers(path: &Path, except: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != except)
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.filter_map(Result::ok)
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == path))
            })
        })
        .collect()
}

/// A first render that fails removes the empty index it created, and its
/// folder, while a second run waits for the lock on that index: the second
/// run takes the lock on a new index and renders (before, it failed,
/// unable to open the index the first one had removed).
#[test]
fn a_render_waiting_on_an_index_that_a_failed_first_render_removed_goes_on() {
    let f = fleet();
    let folder = f.gitops().join("staging");
    std::fs::create_dir_all(&folder).unwrap();
    let index = folder.join(".ksec-gitops-files");
    std::fs::write(&index, "").unwrap();
    let index = std::fs::canonicalize(&index).unwrap();
    let holder = common::FlockHolder::hold(&index, &f.dir.join("ready"));
    let holder_pid = holder.pid();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            f.ksec()
                .env("KSEC_LOCK_TIMEOUT", "60")
                .args(["render", "--gitops", "gitops"])
                .output()
                .unwrap()
        });
        // the render has the index open: it waits for the lock
        let mut waited = 0;
        while openers(&index, holder_pid).is_empty() {
            assert!(waited < 2400, "the render never opened the index");
            std::thread::sleep(std::time::Duration::from_millis(25));
            waited += 1;
        }
        // what the failed first render's undo does, then its lock goes
        std::fs::remove_file(&index).unwrap();
        std::fs::remove_dir(&folder).unwrap();
        holder.release();
        let out = waiter.join().unwrap();
        assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    });
    let listed = std::fs::read_to_string(&index).unwrap();
    assert!(listed.contains("payments/kustomization.yaml"), "{listed}");
    let out = f.render_gitops();
    assert!(
        stderr(&out).contains("unchanged: wrote 0 files"),
        "{}",
        stderr(&out)
    );
}

/// What a no-op says when it did not even read ksec.yaml.
const NOTHING_READ: &str = "unchanged by their stat data; nothing was read or decrypted";

/// Once every file has settled and a no-op has noted what the render of
/// this ksec.yaml reads, a no-op with `--env` neither parses ksec.yaml nor
/// reads any file. A template added to the project (the list of inputs is
/// a function of ksec.yaml's text and of the templates folder's listing)
/// and a source changed with its size and mtime kept are both seen.
#[test]
fn a_no_op_with_env_reads_nothing_and_still_sees_a_new_template_or_a_changed_source() {
    let f = fleet();
    settled_render_env(&f);
    let out = render_env(&f);
    assert!(stderr(&out).contains(NOTHING_READ), "{}", stderr(&out));
    let before = f.tree();

    // a new template that changes the onboarded namespace
    let templates = f.dir.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    let builtin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/namespace.yaml"),
    )
    .unwrap();
    std::fs::write(
        templates.join("namespace.yaml"),
        builtin.replace(
            "    ksec.dev/team:",
            "    example.com/tier: gold\n    ksec.dev/team:",
        ),
    )
    .unwrap();
    let out = render_env(&f);
    let err = stderr(&out);
    assert!(!err.contains("unchanged:"), "{err}");
    let tree = f.tree();
    assert_ne!(tree, before);
    let onboarding: String =
        common::leftovers::regular_files(&f.gitops().join("staging/payments/onboarding"))
            .into_iter()
            .map(|(path, _)| std::fs::read_to_string(path).unwrap())
            .collect();
    assert!(
        onboarding.contains("example.com/tier: gold"),
        "{onboarding}"
    );

    // settled again; then a source changed with its size and mtime kept
    settled_render_env(&f);
    let out = render_env(&f);
    assert!(stderr(&out).contains(NOTHING_READ), "{}", stderr(&out));
    let yaml = std::fs::read_to_string(f.dir.join("ksec.yaml")).unwrap();
    assert!(yaml.contains("MODE: live"));
    edit_keeping_size_and_mtime(&f.dir.join("ksec.yaml"), "MODE: live", "MODE: lazy");
    let out = render_env(&f);
    let err = stderr(&out);
    assert!(!err.contains("unchanged:"), "{err}");
    let cm = std::fs::read_to_string(f.gitops().join("staging/payments/configmap-settings.yaml"))
        .unwrap();
    assert!(cm.contains("MODE: lazy"), "{cm}");
}

/// `ksec render --gitops gitops --env staging`, which must succeed.
fn render_env(f: &Fleet) -> std::process::Output {
    let out = f
        .ksec()
        .args(["render", "--gitops", "gitops", "--env", "staging"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    out
}

/// `settled_render` with `--env`.
fn settled_render_env(f: &Fleet) {
    render_env(f);
    std::thread::sleep(std::time::Duration::from_millis(250));
    let out = render_env(f);
    assert!(wrote_nothing(&stderr(&out)), "{}", stderr(&out));
}

/// The fingerprint is recorded only when no input was written during the
/// render: a source written back with its own bytes while the render runs
/// (here by the key command, which runs between the two hashings) could
/// have been read with other bytes in between, so the next run renders
/// again instead of trusting the index. Then it is recorded.
#[test]
fn an_input_written_during_the_render_even_with_its_own_bytes_is_not_trusted() {
    let f = fleet();
    let source = f.dir.join("namespaces/search/api.enc.env");
    let command = format!(
        "cat '{key}'; cp '{src}' '{src}.bak'; cat '{src}.bak' > '{src}'; rm '{src}.bak'",
        key = f.team.file.display(),
        src = source.display()
    );
    let render = || {
        common::ksec(&f.dir)
            .current_dir(&f.dir)
            .env("KSEC_AGE_KEY_CMD", &command)
            .args(["render", "--gitops", "gitops"])
            .output()
            .unwrap()
    };
    let index = f.gitops().join("staging/.ksec-gitops-files");
    let out = render();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    let listed = std::fs::read_to_string(&index).unwrap();
    assert!(!listed.contains("# inputs "), "{listed}");
    // the next run cannot skip: it renders (writing nothing) and records
    let out = f.render_gitops();
    let err = stderr(&out);
    assert!(!err.contains("unchanged:"), "{err}");
    assert!(wrote_nothing(&err), "{err}");
    assert!(
        std::fs::read_to_string(&index)
            .unwrap()
            .contains("# inputs ")
    );
    let out = f.render_gitops();
    assert!(
        stderr(&out).contains("unchanged: wrote 0 files"),
        "{}",
        stderr(&out)
    );
}

/// The list of files a parse-free no-op found as expected, with their stat
/// data (`*.verified` beside the stat cache): the next `--env` no-op only
/// stats them. Anything that is not the same check is not skipped: another
/// `--gitops-source`, another project rendering into the same folder, or
/// an output changed with its size and mtime kept.
#[test]
fn a_verified_no_op_is_only_trusted_for_the_same_check_and_unchanged_files() {
    let f = fleet();
    settled_render_env(&f);
    let out = render_env(&f);
    assert!(stderr(&out).contains(NOTHING_READ), "{}", stderr(&out));
    let verified: Vec<_> = std::fs::read_dir(f.dir.join(".cache/ksec/gitops"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "verified"))
        .collect();
    assert_eq!(verified.len(), 1, "{verified:?}");
    let out = render_env(&f);
    assert!(stderr(&out).contains(NOTHING_READ), "{}", stderr(&out));

    // another GitRepository name: a different tree, rendered
    let out = f
        .ksec()
        .args(["render", "--gitops", "gitops", "--env", "staging"])
        .args(["--gitops-source", "other-repo"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(!stderr(&out).contains("unchanged:"), "{}", stderr(&out));
    settled_render_env(&f);
    assert!(stderr(&render_env(&f)).contains(NOTHING_READ));

    // another project (a copy with another value) into the same folder
    let other = f.dir.parent().unwrap().join("other-project");
    common::copy_dir(&f.dir, &other);
    let yaml = other.join("ksec.yaml");
    let text = std::fs::read_to_string(&yaml)
        .unwrap()
        .replace("MODE: live", "MODE: copy");
    std::fs::write(&yaml, text).unwrap();
    let out = f
        .ksec()
        .args(["render", "--env", "staging", "--gitops"])
        .arg(f.gitops())
        .arg("--project")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(!stderr(&out).contains("unchanged:"), "{}", stderr(&out));
    let cm = f.gitops().join("staging/payments/configmap-settings.yaml");
    assert!(std::fs::read_to_string(&cm).unwrap().contains("MODE: copy"));

    // back to this project, settled and verified; then an output edited
    // with its size and mtime kept
    settled_render_env(&f);
    assert!(stderr(&render_env(&f)).contains(NOTHING_READ));
    assert!(stderr(&render_env(&f)).contains(NOTHING_READ));
    edit_keeping_size_and_mtime(&cm, "MODE: live", "MODE: evil");
    let out = render_env(&f);
    assert!(!stderr(&out).contains("unchanged:"), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&cm).unwrap().contains("MODE: live"));
}
