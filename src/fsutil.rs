//! File writes that never leave a half-written file: a temporary file in
//! the target's directory, then a rename over the target. And source reads
//! that never leave their folder nor read without bound.
//!
//! The temporary file is named `.ksec-tmp-<pid>-<random>`. A SIGKILL
//! between its creation and the rename leaves it behind; the next write
//! into the same directory (and `ksec rekey`) removes it once the process
//! named by its pid is gone.

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

/// Append the lines of `text` that `path` lacks (all of `text` to a new
/// file; else its header comment, unless present, and the missing lines),
/// keeping the rest. Returns the lines added.
pub fn merge_lines<'a>(path: &Path, text: &'a str) -> Result<Vec<&'a str>> {
    let current = match std::fs::read_to_string(path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io("read", path, &e)),
    };
    let missing: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !current.lines().any(|c| c.trim() == l.trim()))
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let mut out = current.clone();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if current.is_empty() {
        out.push_str(text);
    } else {
        if let Some(header) = text.lines().next().filter(|h| h.starts_with('#'))
            && !current.lines().any(|c| c == header)
        {
            out.push_str(header);
            out.push('\n');
        }
        for l in &missing {
            out.push_str(l);
            out.push('\n');
        }
    }
    write_atomic(path, out.as_bytes(), 0o644)?;
    Ok(missing)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn write_via_temp(path: &Path, contents: &[u8], mode: u32, replace: bool) -> Result<()> {
    let dir = parent(path);
    remove_stale_temps_once(dir);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempfile_in(dir)
        .map_err(|e| Error::io("write into", dir, &e))?;
    set_mode(tmp.path(), mode).map_err(|e| Error::io("write", path, &bare(e)))?;
    tmp.write_all(contents)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", path, &bare(e)))?;
    if replace {
        tmp.persist(path)
            .map_err(|e| Error::io("replace", path, &bare(e.error)))?;
    } else {
        tmp.persist_noclobber(path)
            .map_err(|e| Error::io("create", path, &bare(e.error)))?;
    }
    Ok(())
}

/// The error without the temporary file's path the tempfile crate adds to
/// it: that file is gone when the error is shown; the message names the
/// target.
fn bare(err: std::io::Error) -> std::io::Error {
    if let Some(code) = err.raw_os_error() {
        return std::io::Error::from_raw_os_error(code);
    }
    // a failed write to the temporary file: tempfile's wrapper, whose
    // text is "REASON at path \"TEMP\""
    let text = err.to_string();
    match text.rsplit_once(" at path \"") {
        Some((reason, _)) => std::io::Error::new(err.kind(), reason),
        None => err,
    }
}

/// How the names of ksec's temporary files start; `<pid>-<random>` follows.
const TEMP_PREFIX: &str = ".ksec-tmp-";

/// The pid in a temporary file's name, `.ksec-tmp-<pid>-<random>`; `None`
/// for any other name (including the pid-less `.ksec-tmpXXXXXX` of older
/// versions, whose writer cannot be told).
fn temp_pid(name: &str) -> Option<u32> {
    prefixed_pid(name, TEMP_PREFIX)
}

/// The pid in a name `<prefix><pid>-<random>`.
fn prefixed_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (pid, random) = rest.split_once('-')?;
    if random.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 1)
}

// --------------------------------------------------- private directories

/// A new private (0700) temporary directory for plaintext, named
/// `<prefix><pid>-<random>` (`ksec-edit-`, `ksec-exec-`), removed when the
/// value is dropped. It goes on RAM-backed storage where there is one (see
/// `private_base`). A SIGKILL leaves it behind: first, the directories of
/// this prefix whose ksec is gone are removed (`what` names the command in
/// the note that says so).
pub fn private_temp_dir(prefix: &str, what: &str) -> Result<tempfile::TempDir> {
    remove_stale_dirs(prefix, what);
    let base = private_base();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir_in(&base)
        .map_err(|e| Error::io("create a private temporary directory in", &base, &e))?;
    set_mode(dir.path(), 0o700).map_err(|e| Error::io("protect", dir.path(), &e))?;
    Ok(dir)
}

/// Where private directories go: the first RAM-backed (tmpfs) one of
/// `$XDG_RUNTIME_DIR`, `$TMPDIR` and `/dev/shm` that is a writable
/// directory, else the system temporary directory. Plaintext on a RAM-backed
/// file system never reaches a disk, and is gone at the latest on reboot,
/// even if ksec is killed before it can remove it.
fn private_base() -> PathBuf {
    private_candidates()
        .into_iter()
        .find(|dir| crate::sys::is_ram_backed(dir) && crate::sys::writable_dir(dir))
        .unwrap_or_else(std::env::temp_dir)
}

fn private_candidates() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["XDG_RUNTIME_DIR", "TMPDIR"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .collect();
    dirs.push("/dev/shm".into());
    dirs
}

/// Remove the private directories named with `prefix` of ksec processes
/// that no longer exist (a SIGKILL leaves no chance to clean up), in every
/// place one may have gone; only directories of the current user.
fn remove_stale_dirs(prefix: &str, what: &str) {
    let mut places = private_candidates();
    places.push(std::env::temp_dir());
    places.sort();
    places.dedup();
    for place in places {
        let Ok(entries) = std::fs::read_dir(&place) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| prefixed_pid(n, prefix))
                .filter(|&p| p != std::process::id())
            else {
                continue;
            };
            let path = entry.path();
            if ours_and_dead(&path, pid) && std::fs::remove_dir_all(&path).is_ok() {
                eprintln!(
                    "note: removed {}, left behind by a {what} (pid {pid}) that was killed",
                    path.display()
                );
            }
        }
    }
}

/// A real directory (not a link) of this user whose process is gone.
fn ours_and_dead(path: &Path, pid: u32) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && crate::sys::owned_by_me(&m))
        && crate::sys::process_gone(pid)
}

/// Removes `path` if it is a temporary file of this user left by a ksec
/// process that no longer exists; whether it did.
pub fn remove_if_stale_temp(path: &Path) -> bool {
    let Some(pid) = path.file_name().and_then(|n| n.to_str()).and_then(temp_pid) else {
        return false;
    };
    pid != std::process::id() && owned_file(path) && crate::sys::process_gone(pid) && {
        std::fs::remove_file(path).is_ok()
    }
}

/// The stale temporary files of `dir` (see [`remove_if_stale_temp`]), once
/// per directory and process: a command writing many files into one
/// directory lists it once.
fn remove_stale_temps_once(dir: &Path) {
    use std::sync::{Mutex, OnceLock};
    static SWEPT: OnceLock<Mutex<std::collections::HashSet<PathBuf>>> = OnceLock::new();
    let swept = SWEPT.get_or_init(Default::default);
    if !swept
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.to_path_buf())
    {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            remove_if_stale_temp(&entry.path());
        }
    }
}

/// A regular file (not a link) of the current user.
fn owned_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && crate::sys::owned_by_me(&m))
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

/// A source path stays inside its folder: relative, and no `..`.
/// (kustomize refuses such paths too; a changed ksec.yaml must never copy
/// files of the machine that renders into a ConfigMap.)
pub fn stays_inside(path: &str) -> bool {
    use std::path::Component;
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
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

/// The text of `path` (see [`read_file`]); not UTF-8 is invalid input.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read_file(path)?;
    String::from_utf8(bytes).map_err(|_| {
        Error::invalid(format!("{} is not UTF-8 text", path.display()))
            .hint("ksec encrypts YAML and dotenv files")
    })
}

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
    fn temporary_names_carry_the_writer_pid() {
        assert_eq!(temp_pid(".ksec-tmp-1234-aB3xYz"), Some(1234));
        for name in [
            ".ksec-tmpaB3xYz",
            ".ksec-tmp--aB3xYz",
            ".ksec-tmp-12a-aB3xYz",
            ".ksec-tmp-1234-",
            ".ksec-tmp-1-aB3xYz",
            "app.enc.yaml",
        ] {
            assert_eq!(temp_pid(name), None, "{name}");
        }
    }

    #[test]
    fn a_write_removes_what_a_dead_writer_left_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        // a child that has exited and been reaped: its pid names no process
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.path().join(format!(".ksec-tmp-{dead}-aB3xYz"));
        let mine = dir
            .path()
            .join(format!(".ksec-tmp-{}-aB3xYz", std::process::id()));
        let old_style = dir.path().join(".ksec-tmpaB3xYz");
        for p in [&stale, &mine, &old_style] {
            std::fs::write(p, b"ENC[...]").unwrap();
        }
        write_atomic(&dir.path().join("a.yaml"), b"a: 1\n", 0o644).unwrap();
        assert!(!stale.exists(), "left by a process that is gone");
        assert!(
            mine.exists(),
            "a write of this very process may be in flight"
        );
        assert!(old_style.exists(), "its writer cannot be told");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn only_names_with_a_pid_and_a_suffix_are_stale_candidates() {
        let stale_pid = |n| prefixed_pid(n, "ksec-edit-");
        assert_eq!(stale_pid("ksec-edit-4242-Ab3xYz"), Some(4242));
        assert_eq!(stale_pid("ksec-edit-Ab3xYz"), None);
        assert_eq!(stale_pid("ksec-edit-4242-"), None);
        assert_eq!(stale_pid("ksec-edit-+42-x"), None);
        assert_eq!(stale_pid("ksec-edit-1-x"), None);
        assert_eq!(stale_pid("other-4242-x"), None);
    }

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
