//! Writing a planned GitOps tree: each file only when its bytes change (an
//! unchanged file keeps its mtime), Secrets sealed against the previous
//! file, every write atomic. Everything is sealed before the first write,
//! so a failure writes nothing.

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
    Ok(written)
}
