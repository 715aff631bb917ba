//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) and every
//! crash input found so far (`fuzz/regressions/<target>/`) through the very
//! functions the fuzz targets call (`ksec::fuzzing`): each input must give
//! `Ok` or an error with a named exit code, never a panic. Needs neither
//! nightly nor cargo-fuzz.

use ksec::error::Code;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read a corpus directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Run `target` on every file; the names of those that panicked or gave an
/// unnamed error.
/// On a thread with the stack ksec's own threads have (the main thread's
/// 8 MiB, `ksec::parallel::WORKER_STACK`), not the test harness's 2 MiB.
fn replay(target: ksec::fuzzing::Target, files: &[PathBuf]) -> Vec<String> {
    let files = files.to_vec();
    std::thread::Builder::new()
        .stack_size(ksec::parallel::WORKER_STACK)
        .spawn(move || replay_here(target, &files))
        .expect("start the replay thread")
        .join()
        .expect("the replay thread ends")
}

fn replay_here(target: ksec::fuzzing::Target, files: &[PathBuf]) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let data = std::fs::read(file).expect("read a corpus file");
        match catch_unwind(AssertUnwindSafe(|| target(&data))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.code != Code::Unexpected => {}
            Ok(Err(e)) => failures.push(format!("{}: unexpected error: {e}", file.display())),
            Err(_) => failures.push(format!("{}: panicked", file.display())),
        }
    }
    failures
}

#[test]
fn every_committed_fuzz_input_is_ok_or_a_named_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    for (name, target) in ksec::fuzzing::TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        assert!(
            corpus.len() >= 5,
            "fuzz/corpus/{name} holds {} inputs: the replay would prove little",
            corpus.len()
        );
        let regressions = inputs(&root.join("regressions").join(name));
        failures.extend(replay(*target, &corpus));
        failures.extend(replay(*target, &regressions));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fuzz_target_has_a_cargo_fuzz_target_and_a_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in ksec::fuzzing::TARGETS {
        let source = std::fs::read_to_string(root.join(format!("fuzz_targets/{name}.rs")))
            .unwrap_or_else(|_| panic!("fuzz/fuzz_targets/{name}.rs is missing"));
        assert!(
            source.contains(&format!("ksec::fuzzing::{name}(data)")),
            "fuzz/fuzz_targets/{name}.rs does not call ksec::fuzzing::{name}"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
}
