//! File writes that never leave a half-written file: a temporary file in
//! the target's directory, then a rename over the target.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Write `contents` to `path` atomically. `mode` sets the permissions of a
/// new file; an existing file keeps its own.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mode = existing_mode(path).unwrap_or(mode);
    write_via_temp(path, contents, mode, true)
}

/// Like `write_atomic`, but the file is always private (0600), whatever
/// mode a file it replaces had: for plaintext and rendered Secrets.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    write_via_temp(path, contents, 0o600, true)
}

/// Like `write_atomic`, but refuses to replace an existing file, and
/// creates the directory if needed.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = parent(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create the directory", dir, &e))?;
    write_via_temp(path, contents, mode, false)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn write_via_temp(path: &Path, contents: &[u8], mode: u32, replace: bool) -> Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".ksec-tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("write into", dir, &e))?;
    set_mode(tmp.path(), mode).map_err(|e| Error::io("write", path, &e))?;
    tmp.write_all(contents)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", path, &e))?;
    if replace {
        tmp.persist(path)
            .map_err(|e| Error::io("replace", path, &e.error))?;
    } else {
        tmp.persist_noclobber(path)
            .map_err(|e| Error::io("create", path, &e.error))?;
    }
    Ok(())
}

#[cfg(unix)]
fn existing_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn existing_mode(_: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
pub fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}
