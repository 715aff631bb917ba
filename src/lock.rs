//! One writer per file: an exclusive advisory lock (flock) on the very file
//! a command rewrites, held from before it is read until after the new
//! content is renamed over it.
//!
//! Why the file itself and not a lock file next to it: nothing is created,
//! so there is nothing to git-ignore, nothing for `ksec check` to see and no
//! lock file to clean up after a kill (the kernel drops a flock when the
//! process dies). The catch is the atomic rename: a waiter may get the lock
//! on the old inode after the holder replaced the file. So after locking,
//! the path is checked to still name the locked inode; if not, the lock is
//! taken again on the new file. A lock never waits for longer than
//! `KSEC_LOCK_TIMEOUT` seconds (default 10): then the command fails and
//! names the other process when the system says which one holds it.
//!
//! The lock only excludes other ksec processes (and `flock(1)`); `sops`
//! itself takes no lock.

use crate::error::{Code, Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a lock is waited for unless `KSEC_LOCK_TIMEOUT` says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

const STEP: Duration = Duration::from_millis(25);

/// An exclusive lock on one file; released when dropped (or the process ends).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Lock `path` exclusively, waiting at most the configured time.
pub fn lock(path: &Path) -> Result<FileLock> {
    let timeout = timeout()?;
    let attempts = timeout.as_millis() / STEP.as_millis() + 1;
    let mut last_holder = None;
    let open = || File::open(path).map_err(|e| Error::io("open", path, &e));
    let mut file = open()?;
    for _ in 0..attempts {
        match crate::sys::try_flock(&file) {
            Ok(true) => {
                if holders::same_file(&file, path) {
                    return Ok(FileLock {
                        _file: file,
                        path: path.to_path_buf(),
                    });
                }
                // Replaced while we waited: lock the new file right away.
                file = open()?;
            }
            Ok(false) => {
                last_holder = holders::holder(&file);
                std::thread::sleep(STEP);
            }
            Err(e) => {
                return Err(Error::new(
                    Code::Io,
                    format!("cannot lock {} against other ksec runs: {e}", path.display()),
                )
                .hint("ksec needs a file system that supports flock (a local disk); move the project there"));
            }
        }
    }
    let who = match last_holder {
        Some(pid) => format!("another ksec (pid {pid})"),
        None => "another ksec".to_string(),
    };
    Err(Error::new(
        Code::Unavailable,
        format!(
            "{} is being changed by {who}; gave up after waiting {} s, nothing was written",
            path.display(),
            timeout.as_secs()
        ),
    )
    .hint("run the command again when the other one has finished; KSEC_LOCK_TIMEOUT sets the wait in seconds"))
}

fn timeout() -> Result<Duration> {
    match std::env::var("KSEC_LOCK_TIMEOUT") {
        Err(_) => Ok(Duration::from_secs(DEFAULT_TIMEOUT_SECS)),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(secs) if secs <= 3600 => Ok(Duration::from_secs(secs)),
            _ => Err(Error::usage(format!(
                "KSEC_LOCK_TIMEOUT={text:?} is not a number of seconds from 0 to 3600"
            ))
            .hint(format!(
                "unset it for the default ({DEFAULT_TIMEOUT_SECS} s), or set it to a whole number of seconds"
            ))),
        },
    }
}

#[cfg(unix)]
mod holders {
    use std::fs::File;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    /// Whether `path` still names the file `file` has open.
    pub fn same_file(file: &File, path: &Path) -> bool {
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }

    /// The pid holding a flock on `file`, from /proc/locks (Linux only).
    pub fn holder(file: &File) -> Option<u32> {
        let ino = file.metadata().ok()?.ino();
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        holder_in(&locks, ino, std::process::id())
    }

    /// Lines look like `3: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF`;
    /// waiters have `->` after the number.
    pub fn holder_in(locks: &str, ino: u64, me: u32) -> Option<u32> {
        locks.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, kind, _, _, pid, id, ..] = fields.as_slice() else {
                return None;
            };
            let pid: u32 = pid.parse().ok()?;
            let file_ino: u64 = id.rsplit(':').next()?.parse().ok()?;
            (*kind == "FLOCK" && file_ino == ino && pid != me).then_some(pid)
        })
    }
}

#[cfg(not(unix))]
mod holders {
    use std::fs::File;
    use std::path::Path;

    pub fn same_file(_: &File, _: &Path) -> bool {
        true
    }
    pub fn holder(_: &File) -> Option<u32> {
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_holder_comes_from_proc_locks_and_waiters_are_skipped() {
        let locks = "1: -> FLOCK  ADVISORY  WRITE 77 fd:01:42 0 EOF\n\
                     1: FLOCK  ADVISORY  WRITE 4242 fd:01:42 0 EOF\n\
                     2: POSIX  ADVISORY  WRITE 99 fd:01:43 0 EOF\n";
        assert_eq!(holders::holder_in(locks, 42, 1), Some(4242));
        assert_eq!(holders::holder_in(locks, 43, 1), None);
        assert_eq!(holders::holder_in(locks, 42, 4242), None);
    }

    #[test]
    fn a_second_lock_waits_for_the_first_and_follows_a_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.enc.yaml");
        std::fs::write(&path, "old").unwrap();
        let first = lock(&path).unwrap();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let held = lock(&path).unwrap();
                holders::same_file(&held._file, held.path())
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        crate::fsutil::write_atomic(&path, b"new", 0o644).unwrap();
        drop(first);
        assert!(
            waiter.join().unwrap(),
            "the lock is on the replaced file, not on the one the path names"
        );
    }
}
