//! Every shell example of README.md runs as written.
//!
//! Each ```sh (or ```bash, ```console) block must be preceded by a marker
//! line saying where it runs:
//!
//! - `<!-- readme-test: fresh -->`: in one shared empty directory (the
//!   tour: state carries from block to block, in README order);
//! - `<!-- readme-test: demo -->`: in a git copy of examples/demo, with
//!   `KSEC_AGE_KEY_FILE=demo-key.txt`, `CI_AGE_KEY` holding the demo key, and
//!   a kubeconfig whose context `kind-staging` is the test API server (a
//!   namespace deleted there never goes away, so the demo's project and
//!   namespaces get a unique suffix: in the copy and in the block's text);
//! - `<!-- readme-test: repo -->`: in a directory holding a copy of
//!   `examples/`, like the repository root;
//! - `<!-- readme-test: skip: REASON -->`: not run, for the reason given.
//!
//! All blocks run with a private HOME, `ksec` on PATH (the binary under
//! test), no key variables, and `bash -euo pipefail`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, PartialEq)]
enum Place {
    Fresh,
    Demo,
    Repo,
    Skip(String),
}

#[derive(Debug)]
struct Block {
    /// The line of the opening fence in README.md.
    line: usize,
    place: Place,
    text: String,
}

/// At most this many blocks may be skipped: exceptions stay few.
const MAX_SKIPPED: usize = 5;

fn blocks(readme: &str) -> Result<Vec<Block>, Vec<String>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let lines: Vec<&str> = readme.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_end();
        if !fence.starts_with("```") {
            i += 1;
            continue;
        }
        let lang = fence.trim_start_matches('`').trim();
        let start = i;
        i += 1;
        let mut text = String::new();
        while i < lines.len() && !lines[i].starts_with("```") {
            text.push_str(lines[i]);
            text.push('\n');
            i += 1;
        }
        i += 1;
        if !matches!(lang, "sh" | "bash" | "console") {
            continue;
        }
        let marker = start
            .checked_sub(1)
            .map(|m| lines[m].trim())
            .and_then(|m| m.strip_prefix("<!-- readme-test:"))
            .and_then(|m| m.strip_suffix("-->"))
            .map(str::trim);
        let place = match marker {
            Some("fresh") => Place::Fresh,
            Some("demo") => Place::Demo,
            Some("repo") => Place::Repo,
            Some(m) if m.starts_with("skip:") && m.len() > "skip: ".len() + 5 => {
                Place::Skip(m["skip:".len()..].trim().to_string())
            }
            other => {
                problems.push(format!(
                    "README.md:{}: a shell block without a valid readme-test marker (found {other:?})",
                    start + 1
                ));
                continue;
            }
        };
        out.push(Block {
            line: start + 1,
            place,
            text,
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn run_checked(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}",
        common::all_output(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The places the blocks run in, set up once.
struct Places {
    home: PathBuf,
    fresh: PathBuf,
    demo: PathBuf,
    repo: PathBuf,
    kubeconfig: PathBuf,
    ci_key: String,
    /// The demo's namespaces and their names on the test cluster.
    namespaces: Vec<(String, String)>,
}

/// The demo's namespaces, renamed on the shared test cluster.
const DEMO_NAMESPACES: [&str; 2] = ["payments", "storefront"];

/// `text` with each whole word `from` (not part of a longer name like
/// `payments-team`) replaced by `to`.
fn replace_word(text: &str, from: &str, to: &str) -> String {
    let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = if at > 0 {
            rest[..at].chars().last()
        } else {
            out.chars().last()
        };
        let after = rest[at + from.len()..].chars().next();
        out.push_str(&rest[..at]);
        out.push_str(if part(before) || part(after) {
            from
        } else {
            to
        });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

impl Places {
    fn new(work: &Path) -> Places {
        let repo_root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let home = work.join("home");
        let fresh = work.join("shop");
        let repo = work.join("repo");
        let demo = work.join("demo");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&fresh).unwrap();
        common::copy_dir(&repo_root.join("examples"), &repo.join("examples"));

        // The demo, with names of its own on the shared test cluster (a
        // deleted namespace never goes away there): the project and both
        // namespaces get a unique suffix; their folders stay.
        common::copy_dir(&repo_root.join("examples/demo"), &demo);
        let suffix = common::kube::unique("r");
        let namespaces = DEMO_NAMESPACES
            .iter()
            .map(|ns| (ns.to_string(), format!("{ns}-{suffix}")))
            .collect();
        let yaml = std::fs::read_to_string(demo.join("ksec.yaml")).unwrap();
        let mut renamed = yaml.replace("project: demo\n", &format!("project: demo-{suffix}\n"));
        for ns in DEMO_NAMESPACES {
            renamed = renamed.replace(
                &format!("\n  {ns}:\n"),
                &format!("\n  {ns}-{suffix}:\n    path: namespaces/{ns}\n"),
            );
        }
        assert_ne!(renamed, yaml);
        std::fs::write(demo.join("ksec.yaml"), renamed).unwrap();
        let git = |args: &[&str]| {
            run_checked(
                Command::new("git")
                    .args(args)
                    .current_dir(&demo)
                    .env("HOME", &home)
                    .env("GIT_AUTHOR_NAME", "readme")
                    .env("GIT_AUTHOR_EMAIL", "readme@example.invalid")
                    .env("GIT_COMMITTER_NAME", "readme")
                    .env("GIT_COMMITTER_EMAIL", "readme@example.invalid"),
            )
        };
        git(&["init", "-q", "."]);
        git(&["add", "-A"]);
        git(&["commit", "-qm", "demo"]);
        let ci_key = std::fs::read_to_string(demo.join("demo-key.txt")).unwrap();

        // the test API server, under the demo environment's context name
        let kubeconfig = work.join("kubeconfig");
        std::fs::copy(common::kube::kubeconfig(), &kubeconfig).unwrap();
        run_checked(
            Command::new("kubectl")
                .args(["config", "rename-context", "admin", "kind-staging"])
                .env("KUBECONFIG", &kubeconfig),
        );
        run_checked(
            Command::new("kubectl")
                .args(["config", "use-context", "kind-staging"])
                .env("KUBECONFIG", &kubeconfig),
        );
        Places {
            home,
            fresh,
            demo,
            repo,
            kubeconfig,
            ci_key,
            namespaces,
        }
    }

    fn command(&self, block: &Block) -> Command {
        let ksec = PathBuf::from(env!("CARGO_BIN_EXE_ksec"));
        let path = format!(
            "{}:{}",
            ksec.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut text = block.text.clone();
        if block.place == Place::Demo {
            for (from, to) in &self.namespaces {
                text = replace_word(&text, from, to);
            }
        }
        let mut cmd = Command::new("bash");
        cmd.arg("-euo").arg("pipefail").arg("-c").arg(text);
        for var in common::KEY_VARS {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &self.home)
            .env("PATH", path)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .env("GIT_AUTHOR_NAME", "readme")
            .env("GIT_AUTHOR_EMAIL", "readme@example.invalid")
            .env("GIT_COMMITTER_NAME", "readme")
            .env("GIT_COMMITTER_EMAIL", "readme@example.invalid")
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .env_remove("KSEC_TEST_KUBECONFIG");
        match block.place {
            Place::Fresh => {
                cmd.current_dir(&self.fresh);
            }
            Place::Demo => {
                cmd.current_dir(&self.demo)
                    .env("KSEC_AGE_KEY_FILE", "demo-key.txt")
                    .env("CI_AGE_KEY", &self.ci_key);
            }
            Place::Repo => {
                cmd.current_dir(&self.repo);
            }
            Place::Skip(_) => unreachable!("skipped blocks do not run"),
        }
        cmd
    }
}

#[test]
fn demo_names_are_replaced_as_whole_words() {
    assert_eq!(
        replace_word(
            "kubectl create namespace payments && x -n payments; --recipient payments-team\npayments",
            "payments",
            "payments-1"
        ),
        "kubectl create namespace payments-1 && x -n payments-1; --recipient payments-team\npayments-1"
    );
}

#[test]
fn every_shell_block_has_a_marker() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let all = blocks(&readme).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let skipped: Vec<&Block> = all
        .iter()
        .filter(|b| matches!(b.place, Place::Skip(_)))
        .collect();
    assert!(
        skipped.len() <= MAX_SKIPPED,
        "{} blocks are skipped (at most {MAX_SKIPPED}): {skipped:?}",
        skipped.len()
    );
    assert!(all.iter().filter(|b| b.place != Place::Fresh).count() > 3);
    // the marker parser refuses an unmarked block
    let bad = "text\n```sh\nksec init\n```\n";
    assert!(blocks(bad).is_err());
}

#[test]
fn every_readme_command_runs_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let blocks = blocks(&readme).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let work = tempfile::tempdir().unwrap();
    let places = Places::new(work.path());
    let mut failures = Vec::new();
    for block in &blocks {
        if let Place::Skip(_) = block.place {
            continue;
        }
        let out = places.command(block).output().unwrap();
        if !out.status.success() {
            failures.push(format!(
                "README.md:{} ({:?}) exit {:?}:\n{}\n{}",
                block.line,
                block.place,
                out.status.code(),
                block.text,
                common::all_output(&out)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
