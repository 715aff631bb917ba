//! The files `ksec check` looks at, from git: those it tracks (contents
//! from the working tree), or those staged for the next commit (contents
//! from the index only, never the working tree). Paths are relative to the
//! project root with `/` separators; a project in a subfolder of a larger
//! repository sees only its own files.

use crate::error::{Error, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The git repository holding a project.
pub struct Repo {
    /// The project root (git commands run here).
    pub root: PathBuf,
    /// The project root relative to the repository's top (`""` at the top,
    /// else `sub/dir/`).
    pub prefix: String,
}

/// Where a file's contents are.
pub enum Content {
    /// The working tree (tracked mode).
    WorkTree(PathBuf),
    /// Read from the index (staged mode).
    Blob(Vec<u8>),
}

/// A file to check.
pub struct File {
    /// Relative to the project root, `/`-separated.
    pub path: String,
    pub content: Content,
}

/// A symlink git tracks or stages.
pub struct Link {
    /// Relative to the project root, `/`-separated.
    pub path: String,
    /// Where it points, as written in the link.
    pub target: String,
    /// Its place in the working tree (tracked mode), to follow it there.
    pub work_tree: Option<PathBuf>,
}

/// One entry of the index: a regular file's (or a link's) blob.
struct Entry {
    path: String,
    oid: String,
}

impl Repo {
    /// The repository holding `root`; an error if there is none.
    pub fn open(root: &Path) -> Result<Repo> {
        let out = git(root)
            .args(["rev-parse", "--show-prefix"])
            .output()
            .map_err(|e| git_missing(&e))?;
        if !out.status.success() {
            return Err(with_stderr(
                Error::invalid(format!("{} is not in a git repository", root.display())),
                &out.stderr,
            )
            .hint(
                "ksec check and ksec hook work on the files git tracks; run `git init` in the project first",
            ));
        }
        Ok(Repo {
            root: root.to_path_buf(),
            prefix: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        })
    }

    /// `git ARGS` in the project root: its stdout, or an error with git's
    /// complaint.
    pub fn run(&self, args: &[&str]) -> Result<Vec<u8>> {
        let out = git(&self.root)
            .args(args)
            .output()
            .map_err(|e| git_missing(&e))?;
        if !out.status.success() {
            return Err(with_stderr(
                Error::new(
                    crate::error::Code::Io,
                    format!("`git {}` failed in {}", args.join(" "), self.root.display()),
                ),
                &out.stderr,
            )
            .hint("check that the repository is not damaged (`git status`)"));
        }
        Ok(out.stdout)
    }

    /// Every file git tracks under the project root, read from the working
    /// tree (files deleted there are skipped).
    pub fn tracked(&self) -> Result<Vec<File>> {
        let out = self.run(&["ls-files", "-z", "--full-name", "-s"])?;
        Ok(self
            .index_entries(&out)
            .into_iter()
            .map(|e| File {
                content: Content::WorkTree(self.root.join(&e.path)),
                path: e.path,
            })
            .collect())
    }

    /// The files staged for the next commit (added, copied, modified,
    /// renamed), with their contents from the index. With `whole_index`,
    /// every file in the index instead.
    pub fn staged(&self, whole_index: bool) -> Result<Vec<File>> {
        let entries = self.staged_entries(whole_index, is_regular)?;
        let blobs = self.read_blobs(entries.iter().map(|e| e.oid.as_str()))?;
        Ok(entries
            .into_iter()
            .zip(blobs)
            .map(|(e, bytes)| File {
                path: e.path,
                content: Content::Blob(bytes),
            })
            .collect())
    }

    /// The symlinks git tracks under the project root, as they are in the
    /// working tree (links deleted or replaced there are skipped).
    pub fn tracked_links(&self) -> Result<Vec<Link>> {
        let out = self.run(&["ls-files", "-z", "--full-name", "-s"])?;
        Ok(self
            .entries_where(&out, is_link)
            .into_iter()
            .filter_map(|e| {
                let at = self.root.join(&e.path);
                let target = std::fs::read_link(&at).ok()?;
                Some(Link {
                    path: e.path,
                    target: target.to_string_lossy().into_owned(),
                    work_tree: Some(at),
                })
            })
            .collect())
    }

    /// The symlinks staged for the next commit (or all in the index), with
    /// their targets from the index.
    pub fn staged_links(&self, whole_index: bool) -> Result<Vec<Link>> {
        let entries = self.staged_entries(whole_index, is_link)?;
        let blobs = self.read_blobs(entries.iter().map(|e| e.oid.as_str()))?;
        Ok(entries
            .into_iter()
            .zip(blobs)
            .map(|(e, target)| Link {
                path: e.path,
                target: String::from_utf8_lossy(&target).into_owned(),
                work_tree: None,
            })
            .collect())
    }

    /// The index entries whose mode `keep` accepts: those staged for the
    /// next commit (added, copied, modified, renamed, or changed in type,
    /// e.g. a link replaced by a file), or with `whole_index` all of them.
    fn staged_entries(&self, whole_index: bool, keep: fn(&str) -> bool) -> Result<Vec<Entry>> {
        if whole_index {
            let out = self.run(&["ls-files", "-z", "--full-name", "-s"])?;
            return Ok(self.entries_where(&out, keep));
        }
        let out = self.run(&[
            "diff",
            "--cached",
            "--raw",
            "-z",
            "--no-abbrev",
            "--no-renames",
            "--diff-filter=ACMRT",
            "--relative",
        ])?;
        Ok(diff_entries_where(&out, keep))
    }

    /// A file's contents in the index, if it is there.
    pub fn index_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let out = self.run(&["ls-files", "-z", "--full-name", "-s", "--", path])?;
        let entries = self.index_entries(&out);
        match entries.into_iter().find(|e| e.path == path) {
            Some(e) => Ok(self.read_blobs(std::iter::once(e.oid.as_str()))?.pop()),
            None => Ok(None),
        }
    }

    /// Regular files (not symlinks or submodules) from `ls-files -s -z
    /// --full-name` output, relative to the project root, each once.
    fn index_entries(&self, out: &[u8]) -> Vec<Entry> {
        self.entries_where(out, is_regular)
    }

    /// The entries whose mode `keep` accepts.
    fn entries_where(&self, out: &[u8], keep: fn(&str) -> bool) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::new();
        for record in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let record = String::from_utf8_lossy(record);
            // <mode> SP <oid> SP <stage> TAB <path>
            let Some((meta, path)) = record.split_once('\t') else {
                continue;
            };
            let mut fields = meta.split(' ');
            let (Some(mode), Some(oid)) = (fields.next(), fields.next()) else {
                continue;
            };
            if !keep(mode) {
                continue;
            }
            let Some(rel) = path.strip_prefix(self.prefix.as_str()) else {
                continue;
            };
            // a conflicted file has several stages: check it once
            if entries.last().is_some_and(|e| e.path == rel) {
                continue;
            }
            entries.push(Entry {
                path: rel.to_string(),
                oid: oid.to_string(),
            });
        }
        entries
    }

    /// `git cat-file MODE` fed `oids`, one a line, from a thread (git
    /// answers while it is fed); `None` when there is no oid.
    fn cat_file<'a>(
        &self,
        mode: &str,
        oids: impl Iterator<Item = &'a str>,
    ) -> Result<Option<(Child, std::thread::JoinHandle<()>)>> {
        let input: String = oids.map(|o| format!("{o}\n")).collect();
        if input.is_empty() {
            return Ok(None);
        }
        let mut child = git(&self.root)
            .args(["cat-file", mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| git_missing(&e))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        Ok(Some((child, writer)))
    }

    /// Blob contents, in the order of `oids`, through one `git cat-file`.
    pub fn read_blobs<'a>(&self, oids: impl Iterator<Item = &'a str>) -> Result<Vec<Vec<u8>>> {
        let Some((mut child, writer)) = self.cat_file("--batch", oids)? else {
            return Ok(Vec::new());
        };
        let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut blobs = Vec::new();
        let mut header = String::new();
        loop {
            header.clear();
            let n = reader
                .read_line(&mut header)
                .map_err(|e| failed(&e.to_string()))?;
            if n == 0 {
                break;
            }
            // <oid> SP blob SP <size> LF <contents> LF
            let size: usize = header
                .trim_end()
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| failed(&format!("unexpected answer {:?}", header.trim_end())))?;
            let mut bytes = vec![0; size + 1];
            reader
                .read_exact(&mut bytes)
                .map_err(|e| failed(&e.to_string()))?;
            bytes.pop();
            blobs.push(bytes);
        }
        let _ = writer.join();
        let status = child.wait().map_err(|e| failed(&e.to_string()))?;
        if !status.success() {
            return Err(failed("git cat-file failed"));
        }
        Ok(blobs)
    }

    /// The size of each blob, in order, as `git cat-file --batch-check`
    /// gives it (no blob is read, so a huge one costs nothing).
    pub fn blob_sizes<'a>(&self, oids: impl Iterator<Item = &'a str>) -> Result<Vec<u64>> {
        let Some((mut child, writer)) = self.cat_file("--batch-check", oids)? else {
            return Ok(Vec::new());
        };
        let mut out = String::new();
        let read = child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_string(&mut out);
        let _ = writer.join();
        read.map_err(|e| failed(&e.to_string()))?;
        let status = child.wait().map_err(|e| failed(&e.to_string()))?;
        if !status.success() {
            return Err(failed("git cat-file failed"));
        }
        // <oid> SP blob SP <size> LF
        out.lines()
            .map(|line| {
                line.rsplit(' ')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| failed(&format!("unexpected answer {line:?}")))
            })
            .collect()
    }

    /// The pre-commit hook's path (`core.hooksPath` respected).
    pub fn hook_path(&self) -> Result<PathBuf> {
        let out = self.run(&[
            "rev-parse",
            "--path-format=absolute",
            "--git-path",
            "hooks/pre-commit",
        ])?;
        Ok(PathBuf::from(String::from_utf8_lossy(&out).trim()))
    }
}

/// What `git cat-file` failing is.
fn failed(why: &str) -> Error {
    Error::new(
        crate::error::Code::Io,
        format!("cannot read the git index: {why}"),
    )
    .hint("check that the repository is not damaged (`git status`)")
}

/// `git` run in `dir`, as git would understand itself where ksec was
/// started. A hook can have `GIT_DIR` in its environment (git sets it in a
/// linked worktree); git then takes the working directory for the top of
/// the working tree, unless `GIT_WORK_TREE` says otherwise. Since the
/// commands run in the project root, which may be a folder below the top,
/// say so explicitly, and make relative paths absolute. (`GIT_INDEX_FILE`,
/// set for every hook, is read from the top of the working tree wherever
/// git runs: it needs nothing.)
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir);
    let absolute = |value: std::ffi::OsString| crate::project::absolute(Path::new(&value));
    let set = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
    if let Some(git_dir) = set("GIT_DIR") {
        cmd.env("GIT_DIR", absolute(git_dir));
        let work_tree = match set("GIT_WORK_TREE") {
            Some(tree) => absolute(tree),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };
        cmd.env("GIT_WORK_TREE", work_tree);
    } else if let Some(tree) = set("GIT_WORK_TREE") {
        cmd.env("GIT_WORK_TREE", absolute(tree));
    }
    cmd
}

/// The `:<old mode> <new mode> <old oid> <new oid> <status>\0<path>\0`
/// records whose new mode `keep` accepts.
fn diff_entries_where(out: &[u8], keep: fn(&str) -> bool) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut fields = out.split(|b| *b == 0);
    while let Some(meta) = fields.next() {
        if meta.is_empty() {
            continue;
        }
        let Some(path) = fields.next() else { break };
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        if parts.len() < 5 || !keep(parts[1]) {
            continue;
        }
        entries.push(Entry {
            path: String::from_utf8_lossy(path).into_owned(),
            oid: parts[3].to_string(),
        });
    }
    entries
}

/// A regular file (not a symlink `120000` or a submodule `160000`).
fn is_regular(mode: &str) -> bool {
    mode == "100644" || mode == "100755"
}

/// A symlink (`120000`).
fn is_link(mode: &str) -> bool {
    mode == "120000"
}

/// The error with git's own first line of complaint, if it said one.
fn with_stderr(err: Error, stderr: &[u8]) -> Error {
    let text = String::from_utf8_lossy(stderr);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => err.detail(format!("git: {line}")),
        None => err,
    }
}

fn git_missing(err: &std::io::Error) -> Error {
    Error::new(
        crate::error::Code::Unavailable,
        format!("cannot run git: {err}"),
    )
    .hint("install git and make sure it is on PATH")
}

/// Whether git would ignore `path` (which need not exist yet), asked in the
/// repository that holds it: `None` when it is not in a git work tree. A
/// tracked file is never ignored (git would commit its changes), so the
/// index is consulted (no `--no-index`).
pub fn ignored(path: &Path) -> Result<Option<bool>> {
    let (dir, full) = existing_ancestor(&crate::project::absolute(path));
    // no repository above: nothing to ask (and no git needed)
    if !dir.ancestors().any(|d| d.join(".git").exists()) {
        return Ok(None);
    }
    let plain_git = || {
        let mut cmd = Command::new("git");
        cmd.current_dir(&dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE");
        cmd
    };
    let inside = plain_git()
        .args(["rev-parse", "--is-inside-work-tree"])
        .output()
        .map_err(|e| {
            git_missing(&e).detail(format!(
                "{} is in a git work tree: git must say whether it is ignored before plaintext is written there",
                path.display()
            ))
        })?;
    if !inside.status.success() || String::from_utf8_lossy(&inside.stdout).trim() != "true" {
        return Ok(None);
    }
    let out = plain_git()
        .args(["check-ignore", "-q", "--"])
        .arg(&full)
        .output()
        .map_err(|e| git_missing(&e))?;
    match out.status.code() {
        Some(0) => Ok(Some(true)),
        Some(1) => Ok(Some(false)),
        _ => Err(with_stderr(
            Error::new(
                crate::error::Code::Io,
                format!("cannot ask git whether {} is ignored", path.display()),
            ),
            &out.stderr,
        )
        .hint("check that the repository is not damaged (`git status`)")),
    }
}

/// The nearest existing folder above `path` (links resolved) and `path`
/// rewritten below that real folder. `.` and `..` are taken away lexically
/// first, as the write will see them once its folders exist.
fn existing_ancestor(path: &Path) -> (PathBuf, PathBuf) {
    use std::path::Component;
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    let mut dir = clean.clone();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    while let (Some(name), Some(parent)) = (dir.file_name(), dir.parent()) {
        rest.push(name.into());
        dir = parent.to_path_buf();
        if let Ok(real) = std::fs::canonicalize(&dir)
            && real.is_dir()
        {
            let mut full = real.clone();
            full.extend(rest.iter().rev());
            return (real, full);
        }
    }
    (dir, clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_below_folders_that_do_not_exist_yet_is_placed_under_the_nearest_real_one() {
        let tmp = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir(real.join("a")).unwrap();
        let (dir, full) = existing_ancestor(&tmp.path().join("a/new/deeper/x.yaml"));
        assert_eq!(dir, real.join("a"));
        assert_eq!(full, real.join("a/new/deeper/x.yaml"));
        let (dir, full) = existing_ancestor(&tmp.path().join("a/new/../y.yaml"));
        assert_eq!(dir, real.join("a"));
        assert_eq!(full, real.join("a/y.yaml"));
        std::os::unix::fs::symlink(real.join("a"), real.join("link")).unwrap();
        let (dir, full) = existing_ancestor(&tmp.path().join("link/z.yaml"));
        assert_eq!(dir, real.join("a"), "links are resolved");
        assert_eq!(full, real.join("a/z.yaml"));
    }
}
