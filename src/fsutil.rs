//! File writes that never leave a half-written file: a temporary file in
//! the target's directory, then a rename over the target. And source reads
//! that never leave their folder nor read without bound.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// The most bytes `read_source` reads from a plain source (`files:`,
/// `envFiles:`): what one ConfigMap or Secret can hold.
pub const MAX_PLAIN_SOURCE: u64 = 1024 * 1024;

/// The most bytes `read_source` reads from an encrypted source: its values
/// are base64 inside `ENC[…]` with per-value metadata, several times larger
/// than the data they hold.
pub const MAX_ENCRYPTED_SOURCE: u64 = 8 * 1024 * 1024;

/// Why a source file was not read. Never carries any of its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// It does not exist (or is a link to nothing).
    Missing,
    /// Its real path (links resolved) is outside `folder`.
    Outside { real: PathBuf, folder: PathBuf },
    /// The namespace folder's real path is outside the project.
    FolderOutside { real: PathBuf },
    /// A directory, FIFO, device or socket.
    NotRegular { what: &'static str },
    /// Larger than the limit.
    TooLarge { limit: u64 },
    /// Any other read failure.
    Io(String),
}

impl SourceError {
    /// What is wrong and what to do, for an error line naming the file.
    pub fn message(&self, limit_name: &str) -> String {
        match self {
            SourceError::Missing => "does not exist".into(),
            SourceError::Outside { real, folder } => format!(
                "is a link to {}, outside its namespace folder {}; sources are read only from inside the namespace folder: copy the file there instead of linking to it",
                real.display(),
                folder.display()
            ),
            SourceError::FolderOutside { real } => format!(
                "is in a namespace folder that is a link to {}, outside the project; make the namespace folder a real folder inside the project",
                real.display()
            ),
            SourceError::NotRegular { what } => {
                format!("is {what}, not a regular file; name a regular file")
            }
            SourceError::TooLarge { limit } => format!(
                "is larger than {limit} bytes, the limit for {limit_name}; Kubernetes stores at most 1 MiB per object"
            ),
            SourceError::Io(why) => format!("cannot be read: {why}"),
        }
    }
}

/// Read `rel` (relative to the project `root`) as a source of the
/// namespace whose folder is `folder` (relative to `root`): links are
/// resolved and the real path must stay inside the namespace folder, whose
/// own real path must stay inside the project; only a regular file is
/// read, and at most `limit` bytes of it.
pub fn read_source(
    root: &Path,
    folder: &Path,
    rel: &Path,
    limit: u64,
) -> std::result::Result<Vec<u8>, SourceError> {
    let real_root = canonical(root)?;
    let real_folder = canonical(&root.join(folder))?;
    if !real_folder.starts_with(&real_root) {
        return Err(SourceError::FolderOutside { real: real_folder });
    }
    let real = canonical(&root.join(rel))?;
    if !real.starts_with(&real_folder) {
        return Err(SourceError::Outside {
            real,
            folder: folder.to_path_buf(),
        });
    }
    // check before opening: opening a FIFO would wait for a writer
    let meta = std::fs::metadata(&real).map_err(|e| io_source(&e))?;
    if !meta.is_file() {
        return Err(SourceError::NotRegular {
            what: file_kind(&meta),
        });
    }
    let file = open_nonblocking(&real).map_err(|e| io_source(&e))?;
    // the file may have been swapped since the check
    let meta = file.metadata().map_err(|e| io_source(&e))?;
    if !meta.is_file() {
        return Err(SourceError::NotRegular {
            what: file_kind(&meta),
        });
    }
    if meta.len() > limit {
        return Err(SourceError::TooLarge { limit });
    }
    read_capped(file, limit)
}

/// The largest file ksec reads whole as one document (a SOPS or plaintext
/// YAML/dotenv file, a file `ksec check` or the git drivers look at):
/// 64 MiB. More is refused before it is all read, so a link to `/dev/zero`
/// or a runaway file cannot exhaust memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The bytes of `path`, at most [`MAX_FILE_BYTES`]; a larger file is an
/// error naming the file and the limit.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("read", path, &e))?;
    read_capped(file, MAX_FILE_BYTES).map_err(|e| match e {
        SourceError::TooLarge { .. } => Error::invalid(format!(
            "{} is larger than 64 MiB, the most ksec reads as one file",
            path.display()
        ))
        .hint("split it into several files (the limits are listed in the README under \"Limits\")"),
        other => Error::new(
            crate::error::Code::Io,
            format!("{} {}", path.display(), other.message("a file")),
        )
        .hint("check the path and the disk"),
    })
}

/// At most `limit` bytes; more is an error, never a larger allocation.
pub fn read_capped(
    reader: impl std::io::Read,
    limit: u64,
) -> std::result::Result<Vec<u8>, SourceError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_source(&e))?;
    if bytes.len() as u64 > limit {
        // it may be plaintext: leave none of it in freed memory
        zeroize::Zeroize::zeroize(&mut bytes);
        return Err(SourceError::TooLarge { limit });
    }
    Ok(bytes)
}

fn canonical(path: &Path) -> std::result::Result<std::path::PathBuf, SourceError> {
    std::fs::canonicalize(path).map_err(|e| io_source(&e))
}

fn io_source(err: &std::io::Error) -> SourceError {
    match err.kind() {
        std::io::ErrorKind::NotFound => SourceError::Missing,
        std::io::ErrorKind::PermissionDenied => SourceError::Io("permission denied".into()),
        _ => SourceError::Io(err.to_string()),
    }
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reads_stop_one_byte_past_the_limit() {
        assert_eq!(read_capped(&b"abcd"[..], 4).unwrap(), b"abcd");
        assert_eq!(
            read_capped(&b"abcde"[..], 4),
            Err(SourceError::TooLarge { limit: 4 })
        );
        // an endless reader ends too
        assert_eq!(
            read_capped(std::io::repeat(0), 1024),
            Err(SourceError::TooLarge { limit: 1024 })
        );
    }
}
