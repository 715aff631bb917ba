//! Writing a planned GitOps tree: each file only when its bytes change (an
//! unchanged file keeps its mtime), Secrets sealed against the previous
//! file, every write atomic. Everything is sealed before the first write,
//! so a failure writes nothing.
//!
//! Each environment's folder holds an index (`INDEX`) of the files ksec
//! wrote there; a file in the old index that is no longer planned (a Secret
//! or namespace removed from ksec.yaml) is deleted, and nothing else: files
//! of the user's own in the tree are never touched.

use super::{Content, Options, Planned, Sealed, seal};
use crate::crypto::wrap::Identity;
use crate::error::{Error, Result, sops_error};
use crate::statcache::{Checked, Hash, StatCache, from_hex, to_hex as hex};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a write did, paths relative to DIR.
#[derive(Debug, Default)]
pub struct Written {
    pub changed: Vec<PathBuf>,
    pub unchanged: usize,
    /// Secrets whose previous file existed but could not be reused (none
    /// of the user's identities opened it, or its recipients changed): new
    /// data key, every value re-encrypted.
    pub new_ciphertext: Vec<PathBuf>,
    /// Files of an earlier render that are no longer rendered, deleted.
    pub removed: Vec<PathBuf>,
}

/// How many files are written at once.
const IO_WORKERS: usize = 16;

/// The index of the files ksec wrote into an environment's folder.
pub const INDEX: &str = ".ksec-gitops-files";

/// Lock an environment's folder against other `ksec render --gitops` runs
/// into the same DIR, for the whole read-render-write: the lock is `lock`'s
/// flock on the folder's index, created empty (no file listed) when there
/// is none yet. Environments are locked in one order (by name) by every run.
pub fn lock(dir: &Path, environment: &str) -> Result<EnvLock> {
    let root = dir.join(environment);
    let index = root.join(INDEX);
    // A first render that fails removes the empty index it created (`undo`),
    // maybe while this run waits for its lock: then the index is created
    // again, and this run owns it.
    let mut attempts = 0;
    loop {
        let mut created = Vec::new();
        let mut missing = Some(root.as_path());
        while let Some(folder) = missing
            && !folder.as_os_str().is_empty()
            && !folder.exists()
        {
            created.push(folder.to_path_buf());
            missing = folder.parent();
        }
        std::fs::create_dir_all(&root).map_err(|e| Error::io("create the directory", &root, &e))?;
        match std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&index)
        {
            Ok(_) => created.insert(0, index.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("create", &index, &e)),
        }
        match crate::lock::lock(&index) {
            Ok(lock) => {
                return Ok(EnvLock {
                    _lock: lock,
                    created,
                });
            }
            Err(_) if attempts < 10 && !index.exists() => attempts += 1,
            Err(err) => return Err(err),
        }
    }
}

/// The lock on an environment's folder, and what taking it created.
pub struct EnvLock {
    _lock: crate::lock::FileLock,
    /// The empty index and the folders made for it, innermost first.
    created: Vec<PathBuf>,
}

impl EnvLock {
    /// After a failed render: remove the empty index and folders this lock
    /// created, so a refused first render leaves no trace.
    pub fn undo(self) {
        for path in &self.created {
            if path.file_name().is_some_and(|n| n == INDEX) {
                if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
                    let _ = std::fs::remove_file(path);
                }
            } else {
                let _ = std::fs::remove_dir(path);
            }
        }
    }
}

const INPUTS_LINE: &str = "# inputs ";
const FILE_LINE: &str = "# sha256 ";

/// The fingerprint of one environment's render: ksec's version, the
/// options and every input (name and content hash, each length-prefixed).
pub fn fingerprint<'a>(
    inputs: impl IntoIterator<Item = (&'a str, &'a Hash)>,
    options: &Options,
) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(env!("CARGO_PKG_VERSION").as_bytes());
    part(options.environment.as_bytes());
    part(options.source.as_bytes());
    for (name, hash) in inputs {
        part(name.as_bytes());
        part(hash);
    }
    hex(&h.finalize())
}

/// Whether the environment's folder is exactly what its last render left
/// for these inputs: the index records `fingerprint`, and every file it
/// lists is there with the bytes it was written with (a file whose stat
/// data `cache` remembers is not read again). When it is: the index and
/// each file, with the stat data they were found with.
pub fn unchanged(
    dir: &Path,
    environment: &str,
    fingerprint: &str,
    cache: &mut StatCache,
) -> Result<Option<Vec<Checked>>> {
    let root = dir.join(environment);
    let index_path = root.join(INDEX);
    // stat'ed before it is read: a later change shows in its stat data
    let index_stat = crate::statcache::stat(&index_path, false);
    let Some(index) = previous(&index_path)? else {
        return Ok(None);
    };
    let mut recorded = BTreeMap::new();
    let mut inputs = None;
    let mut listed = Vec::new();
    for line in index.lines() {
        if let Some(fp) = line.strip_prefix(INPUTS_LINE) {
            inputs = Some(fp);
        } else if let Some((hash, path)) = line
            .strip_prefix(FILE_LINE)
            .and_then(|rest| rest.split_once(' '))
        {
            recorded.insert(path, hash);
        } else if !line.starts_with('#') && !line.is_empty() {
            listed.push(line);
        }
    }
    if inputs != Some(fingerprint) || listed.is_empty() {
        return Ok(None);
    }
    let Some(checks) = listed
        .into_iter()
        .map(|path| recorded.get(path).map(|hash| (path, *hash)))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    if !checks
        .iter()
        .all(|(path, _)| crate::fsutil::stays_inside(path))
    {
        return Ok(None);
    }
    let paths: Vec<PathBuf> = checks.iter().map(|(path, _)| root.join(path)).collect();
    // each file itself, not what a link there points to
    let files: Vec<(&Path, bool)> = paths.iter().map(|p| (&**p, false)).collect();
    let hashed = cache.hash_all(&files, |_, p| std::fs::read(p).ok());
    let same = checks.iter().zip(&hashed).all(|((_, hash), found)| {
        found
            .as_ref()
            .is_some_and(|f| from_hex(hash) == Some(f.hash))
    });
    let checked: Option<Vec<Checked>> = same.then(|| {
        let files = paths.iter().zip(&hashed).filter_map(|(path, h)| {
            h.as_ref().map(|h| Checked {
                path: path.clone(),
                follow: false,
                stat: h.stat,
            })
        });
        index_stat
            .map(|stat| Checked {
                path: index_path.clone(),
                follow: false,
                stat,
            })
            .into_iter()
            .chain(files)
            .collect()
    });
    cache.remember(hashed.into_iter().flatten());
    Ok(checked.filter(|c| index_stat.is_some() && !c.is_empty()))
}

fn previous(path: &Path) -> Result<Option<String>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => crate::fsutil::read_text(path).map(Some),
        Ok(_) => Err(Error::usage(format!(
            "{} is not a regular file; ksec render --gitops writes regular files only",
            path.display()
        ))
        .hint("remove it and render again")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, &e)),
    }
}

/// Write `planned` under `dir`; each environment's index records its
/// fingerprint from `fingerprints` (none: the next render is a full one).
pub fn write(
    dir: &Path,
    planned: Vec<Planned>,
    identities: &[Identity],
    fingerprints: &BTreeMap<String, String>,
) -> Result<Written> {
    let jobs: Vec<(PathBuf, Content, Option<String>)> = planned
        .into_iter()
        .map(|p| {
            let full = dir.join(&p.path);
            previous(&full).map(|old| (p.path, p.content, old))
        })
        .collect::<Result<_>>()?;
    let sealed = crate::parallel::map(
        &jobs,
        |(path, content, old)| -> Result<Option<(String, bool)>> {
            match content {
                Content::Plain(text) => {
                    Ok((old.as_deref() != Some(text.as_str())).then(|| (text.clone(), true)))
                }
                Content::Secret { plain, recipients } => {
                    match seal(plain.clone(), recipients, old.as_deref(), identities)
                        .map_err(|e| sops_error(&dir.join(path), e))?
                    {
                        Sealed::Unchanged => Ok(None),
                        Sealed::Changed { text, reused } => {
                            Ok(Some((text, reused || old.is_none())))
                        }
                    }
                }
            }
        },
    );
    let indexes = indexes(dir, &jobs)?;
    let mut written = Written::default();
    let mut writes = Vec::new();
    for ((path, _, _), result) in jobs.into_iter().zip(sealed) {
        match result? {
            None => written.unchanged += 1,
            Some((text, reused)) => {
                if !reused {
                    written.new_ciphertext.push(path.clone());
                }
                writes.push((path, text));
            }
        }
    }
    for (path, _) in &writes {
        if let Some(parent) = dir.join(path).parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io("create the directory", parent, &e))?;
        }
    }
    // each write waits for the disk (fsync): many at once let it flush
    // them together
    let results = crate::parallel::map_with(IO_WORKERS, &writes, |(path, text)| {
        crate::fsutil::write_atomic(&dir.join(path), text.as_bytes(), 0o644)
    });
    for ((path, _), result) in writes.into_iter().zip(results) {
        result?;
        written.changed.push(path);
    }
    for index in indexes {
        let fingerprint = fingerprints.get(&index.env.display().to_string());
        index.apply(dir, fingerprint.map(String::as_str), &mut written)?;
    }
    Ok(written)
}

/// One environment's index: the files listed before, the ones planned now.
struct Index {
    env: PathBuf,
    old: Option<String>,
    new: Vec<String>,
}

fn indexes(dir: &Path, jobs: &[(PathBuf, Content, Option<String>)]) -> Result<Vec<Index>> {
    let mut by_env: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
    for (path, _, _) in jobs {
        let mut parts = path.components();
        let env = PathBuf::from(
            parts
                .next()
                .expect("a planned path has its environment")
                .as_os_str(),
        );
        by_env
            .entry(env)
            .or_default()
            .push(parts.as_path().display().to_string());
    }
    by_env
        .into_iter()
        .map(|(env, mut new)| {
            new.sort();
            let old = previous(&dir.join(&env).join(INDEX))?;
            Ok(Index { env, old, new })
        })
        .collect()
}

impl Index {
    /// The paths, then (with a fingerprint) the inputs' fingerprint and
    /// each file's hash as it is now, after the write.
    fn text(&self, root: &Path, fingerprint: Option<&str>) -> Result<String> {
        let mut text = String::from(
            "# written by ksec render --gitops: the files it removes when they are no longer rendered\n",
        );
        for path in &self.new {
            text.push_str(path);
            text.push('\n');
        }
        if let Some(fingerprint) = fingerprint {
            text.push_str(&format!("{INPUTS_LINE}{fingerprint}\n"));
            for path in &self.new {
                let full = root.join(path);
                let bytes = std::fs::read(&full).map_err(|e| Error::io("read", &full, &e))?;
                text.push_str(&format!(
                    "{FILE_LINE}{} {path}\n",
                    hex(&Sha256::digest(&bytes))
                ));
            }
        }
        Ok(text)
    }

    /// Delete what the old index lists and the plan no longer has (only
    /// plain relative paths; emptied folders go too), then write the index.
    fn apply(self, dir: &Path, fingerprint: Option<&str>, written: &mut Written) -> Result<()> {
        let root = dir.join(&self.env);
        let old = self.old.as_deref().unwrap_or("");
        for line in old.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            if !crate::fsutil::stays_inside(line)
                || line == INDEX
                || self.new.binary_search(&line.to_string()).is_ok()
            {
                continue;
            }
            let path = root.join(line);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => {
                    std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, &e))?;
                    written.removed.push(self.env.join(line));
                    let mut folder = path.parent();
                    while let Some(f) = folder
                        && f != root
                        && std::fs::remove_dir(f).is_ok()
                    {
                        folder = f.parent();
                    }
                }
                _ => {}
            }
        }
        let text = self.text(&root, fingerprint)?;
        if self.old.as_deref() != Some(text.as_str()) {
            crate::fsutil::write_atomic(&root.join(INDEX), text.as_bytes(), 0o644)?;
        }
        Ok(())
    }
}
