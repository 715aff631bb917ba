//! Writing a planned GitOps tree: each file only when its bytes change (an
//! unchanged file keeps its mtime), Secrets sealed against the previous
//! file, every write atomic. Everything is sealed before the first write,
//! so a failure writes nothing.
//!
//! Each environment's folder holds an index (`INDEX`) of the files ksec
//! wrote there; a file in the old index that is no longer planned (a Secret
//! or namespace removed from ksec.yaml) is deleted, and nothing else: files
//! of the user's own in the tree are never touched.

use super::{Content, Planned, Sealed, seal};
use crate::crypto::wrap::Identity;
use crate::error::{Error, Result, sops_error};
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

/// The index of the files ksec wrote into an environment's folder.
pub const INDEX: &str = ".ksec-gitops-files";

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

/// Write `planned` under `dir`.
pub fn write(dir: &Path, planned: Vec<Planned>, identities: &[Identity]) -> Result<Written> {
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
    for (path, text) in writes {
        let full = dir.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io("create the directory", parent, &e))?;
        }
        crate::fsutil::write_atomic(&full, text.as_bytes(), 0o644)?;
        written.changed.push(path);
    }
    for index in indexes {
        index.apply(dir, &mut written)?;
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
    fn text(&self) -> String {
        let mut text = String::from(
            "# written by ksec render --gitops: the files it removes when they are no longer rendered\n",
        );
        for path in &self.new {
            text.push_str(path);
            text.push('\n');
        }
        text
    }

    /// Delete what the old index lists and the plan no longer has (only
    /// plain relative paths; emptied folders go too), then write the index.
    fn apply(self, dir: &Path, written: &mut Written) -> Result<()> {
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
        let text = self.text();
        if self.old.as_deref() != Some(text.as_str()) {
            crate::fsutil::write_atomic(&root.join(INDEX), text.as_bytes(), 0o644)?;
        }
        Ok(())
    }
}
