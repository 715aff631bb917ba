//! The encrypted files of a project: every SOPS file (any store) under
//! the namespaces' folders, with the recipients it has and those ksec.yaml
//! wants for it; and the temporary files an interrupted write left.
//!
//! Reads files and their sops metadata only: never decrypts, never writes
//! (but for removing the temporary files of ksec processes that are gone).

use super::Names;
use super::plan::{Access, Action, Job, Source};
use crate::crypto::sops::{EncryptedFile, Format, SopsError};
use crate::error::sops_error;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::project::Project;
use std::path::{Path, PathBuf};

/// Every encrypted file under the namespaces' folders (any sops store;
/// anything else is skipped), with its namespace's wanted recipients.
pub fn scan(project: &Project) -> Result<Vec<Source>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for ns in project.namespaces.values() {
        walk(&project.root.join(&ns.path), &mut paths, &mut Vec::new())?;
    }
    paths.sort();
    paths.dedup();
    let found = crate::parallel::map(&paths, |path| -> Result<Option<Source>> {
        let Some(ns) = project.namespace_for(path) else {
            return Ok(None);
        };
        let Some(file) = parse_sops(path)? else {
            return Ok(None);
        };
        Ok(Some(Source {
            rel: rel(project, path),
            path: path.clone(),
            namespace: ns.name.clone(),
            access: Access::of(project, ns, file.recipients()),
        }))
    });
    let mut out = Vec::new();
    for f in found {
        if let Some(source) = f? {
            out.push(source);
        }
    }
    Ok(out)
}

/// Temporary files an interrupted write left in the namespaces' folders:
/// those of ksec processes that are gone are removed, the others returned
/// (relative to the project root).
pub fn leftovers(project: &Project) -> Vec<String> {
    let mut found = Vec::new();
    for ns in project.namespaces.values() {
        let _ = walk(&project.root.join(&ns.path), &mut Vec::new(), &mut found);
    }
    found.sort();
    found.dedup();
    found.retain(|p| !fsutil::remove_if_stale_temp(p));
    found.iter().map(|p| rel(project, p)).collect()
}

/// The files under `dir`, recursively; `.ksec-tmp*` files (left by an
/// interrupted atomic write) go to `leftovers` instead.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, leftovers: &mut Vec<PathBuf>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read the folder", dir, &e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read the folder", dir, &e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with(".ksec-tmp") {
            leftovers.push(path);
            continue;
        }
        if name == ".git" {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| Error::io("read", &path, &e))?;
        if kind.is_dir() {
            walk(&path, out, leftovers)?;
        } else if kind.is_file() {
            out.push(path);
        } else if kind.is_symlink() && matches!(parse_sops(&path), Ok(Some(_))) {
            eprintln!(
                "warning: {} is a symbolic link; ksec does not rewrite it (rekey its target)",
                path.display()
            );
        }
    }
    Ok(())
}

/// The file parsed as SOPS, or `None` when it is not one.
fn parse_sops(path: &Path) -> Result<Option<EncryptedFile>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(None);
    };
    // cheap test first: a SOPS file has `sops:` (YAML), `sops_` (dotenv),
    // `"sops"` (JSON, binary) or `[sops]` (INI)
    if !text.contains("sops") {
        return Ok(None);
    }
    match EncryptedFile::parse(&text, Format::of_encrypted(path, &text)) {
        Ok(file) => Ok(Some(file)),
        Err(SopsError::NotEncrypted | SopsError::Syntax { .. }) => Ok(None),
        Err(e) => Err(sops_error(path, e)),
    }
}

/// The age recipients (public keys) that can decrypt the SOPS file at
/// `path` today, read from its metadata (nothing is decrypted); `None` when
/// it is not a SOPS file.
pub fn recipients_of(path: &Path) -> Result<Option<Vec<String>>> {
    if let Err(e) = std::fs::metadata(path) {
        return Err(Error::io("read", path, &e));
    }
    Ok(parse_sops(path)?.map(|f| f.recipients()))
}

/// A file whose data key is to be replaced: who loses access to it, and
/// the names of its encrypted values (read from the file, never decrypted).
pub struct Exposed {
    pub rel: String,
    /// The names (else short keys) of the recipients removed.
    pub removed: Vec<String>,
    pub secrets: Vec<String>,
}

/// What the recipients removed by the plan could read, file by file.
pub fn exposed(jobs: &[Job], names: &Names) -> Vec<Exposed> {
    jobs.iter()
        .filter_map(|j| match &j.action {
            Action::Rotate { removed, .. } => Some(Exposed {
                rel: j.source.rel.clone(),
                removed: removed.iter().map(|k| names.of(k)).collect(),
                secrets: parse_sops(&j.source.path)
                    .ok()
                    .flatten()
                    .and_then(|f| f.encrypted_keys().ok())
                    .unwrap_or_default(),
            }),
            _ => None,
        })
        .collect()
}

/// `path` relative to the project root, as messages name it.
fn rel(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root)
        .unwrap_or(path)
        .display()
        .to_string()
}
