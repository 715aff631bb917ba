//! The one place that calls the C library: file locks, the user and process
//! checks behind stale-file clean-up, the RAM-backed directory test for
//! `edit`, stat'ing a file by name in an open folder (`statcache`), and the
//! signal handling of `edit`, `set` and `exec` (which waits
//! for blocked signals and forwards them to its command). Every other module is
//! free of `unsafe`; each block here says why it is sound.
//!
//! Off Unix, each call answers as if nothing were there (no lock held, no
//! stale process, no RAM-backed directory) and signals are left alone.
#![allow(unsafe_code, reason = "libc: the calls std has no API for")]

use std::fs::{File, Metadata};
use std::path::Path;

/// Takes an exclusive `flock` on `file` without waiting: `Ok(true)` when
/// locked, `Ok(false)` when another process holds it.
#[cfg(unix)]
pub fn try_flock(file: &File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    loop {
        // SAFETY: flock on a file descriptor this File owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(err),
        }
    }
}

#[cfg(not(unix))]
pub fn try_flock(_: &File) -> std::io::Result<bool> {
    Ok(true)
}

/// Whether the file or directory `meta` describes belongs to this user.
#[cfg(unix)]
pub fn owned_by_me(meta: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: getuid cannot fail.
    meta.uid() == unsafe { libc::getuid() }
}

#[cfg(not(unix))]
pub fn owned_by_me(_: &Metadata) -> bool {
    false
}

/// Whether no process `pid` exists.
#[cfg(unix)]
pub fn process_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

#[cfg(not(unix))]
pub fn process_gone(_: u32) -> bool {
    false
}

#[cfg(unix)]
fn c_path(path: &Path) -> Option<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).ok()
}

/// Whether `path` is on a RAM-backed file system (tmpfs, ramfs).
#[cfg(target_os = "linux")]
pub fn is_ram_backed(path: &Path) -> bool {
    const TMPFS_MAGIC: u32 = 0x0102_1994;
    const RAMFS_MAGIC: u32 = 0x8584_58f6;
    let Some(c) = c_path(path) else { return false };
    // SAFETY: statfs fills a zeroed local struct from a valid C string.
    unsafe {
        let mut buf: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut buf) != 0 {
            return false;
        }
        #[allow(clippy::unnecessary_cast)]
        let kind = buf.f_type as u32;
        kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
    }
}

#[cfg(not(target_os = "linux"))]
pub fn is_ram_backed(_: &Path) -> bool {
    false
}

/// Whether `path` is a directory this process may create files in.
#[cfg(unix)]
pub fn writable_dir(path: &Path) -> bool {
    let Some(c) = c_path(path) else { return false };
    // SAFETY: access only reads a valid C string.
    path.is_dir() && unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0
}

#[cfg(not(unix))]
pub fn writable_dir(path: &Path) -> bool {
    path.is_dir()
}

/// A file's stat data as `stat_at` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatAt {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub regular: bool,
}

/// A directory opened to stat the files in it by name (`stat_at`):
/// `O_DIRECTORY`, so a FIFO put in its place is refused, not waited on.
#[cfg(unix)]
pub fn open_dir(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
pub fn open_dir(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// The stat data of `name` in the directory `dir` (from `open_dir`),
/// following a final symbolic link when `follow`: many files of one folder
/// are stat'ed without the kernel walking their whole path each time.
#[cfg(unix)]
#[allow(
    clippy::unnecessary_cast,
    reason = "the stat field types differ between Unix systems"
)]
pub fn stat_at(dir: &File, name: &Path, follow: bool) -> std::io::Result<StatAt> {
    use std::os::unix::io::AsRawFd;
    let name =
        c_path(name).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstatat reads a NUL-terminated name relative to a directory
    // descriptor `dir` owns, and writes one `stat` into the buffer.
    let rc = unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), flags) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstatat returned 0, so it filled the buffer.
    let st = unsafe { st.assume_init() };
    let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    Ok(StatAt {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        size: st.st_size as u64,
        mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        regular: (st.st_mode & libc::S_IFMT) == libc::S_IFREG,
    })
}

#[cfg(not(unix))]
pub fn stat_at(_: &File, _: &Path, _: bool) -> std::io::Result<StatAt> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// SIGINT, SIGTERM and SIGHUP held back while `edit` waits for the editor
/// (and while `exec` waits for its command, to which it forwards them),
/// so that a Ctrl-C meant for the editor cannot leave plaintext behind.
#[cfg(unix)]
pub mod signals {
    use std::os::unix::process::CommandExt;

    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    fn set() -> libc::sigset_t {
        // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in SIGNALS {
                libc::sigaddset(&mut set, s);
            }
            set
        }
    }

    /// SIGINT, SIGTERM and SIGHUP blocked for this thread (and threads it
    /// starts) while this value lives. Pending signals are discarded at exit.
    pub struct Blocked;

    impl Blocked {
        pub fn new() -> Blocked {
            let set = set();
            // SAFETY: a valid, initialised signal set; no old mask is read.
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
            Blocked
        }

        /// Whether one of the signals arrived since blocking.
        pub fn pending(&self) -> bool {
            // SAFETY: sigpending fills a local sigset_t; sigismember reads it.
            unsafe {
                let mut pending: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut pending);
                if libc::sigpending(&mut pending) != 0 {
                    return false;
                }
                SIGNALS.iter().any(|&s| libc::sigismember(&pending, s) == 1)
            }
        }
    }

    /// A signal taken off the pending set by [`Blocked::wait`].
    #[derive(Clone, Copy, Debug)]
    pub struct Caught {
        pub signal: libc::c_int,
        /// Sent with kill(2) by a process, rather than by the kernel for a
        /// terminal (Ctrl-C, a hang-up), which signals the whole foreground
        /// process group: a child in it already has its own copy.
        pub sent_by_process: bool,
    }

    impl Blocked {
        /// Waits at most `timeout` for one of the blocked signals and takes
        /// it off the pending set.
        #[cfg(target_os = "linux")]
        pub fn wait(&self, timeout: std::time::Duration) -> Option<Caught> {
            let set = set();
            // c_long is 32 bits wide on some targets
            #[allow(clippy::unnecessary_fallible_conversions)]
            let timeout = libc::timespec {
                tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::try_from(timeout.subsec_nanos()).unwrap_or(0),
            };
            // SAFETY: sigtimedwait reads a valid set and timespec and fills
            // a zeroed local siginfo_t; it returns -1 on timeout or EINTR.
            unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let signal = libc::sigtimedwait(&set, &mut info, &timeout);
                (signal > 0).then_some(Caught {
                    signal,
                    sent_by_process: info.si_code != libc::SI_KERNEL,
                })
            }
        }

        /// Without sigtimedwait: a pending signal is taken with sigwait,
        /// else this sleeps for `timeout`.
        #[cfg(not(target_os = "linux"))]
        pub fn wait(&self, timeout: std::time::Duration) -> Option<Caught> {
            if !self.pending() {
                std::thread::sleep(timeout);
                return None;
            }
            let set = set();
            let mut signal: libc::c_int = 0;
            // SAFETY: sigwait reads a valid set and writes a local int; a
            // signal of the set is pending, so it returns at once.
            let rc = unsafe { libc::sigwait(&set, &mut signal) };
            (rc == 0).then_some(Caught {
                signal,
                sent_by_process: true,
            })
        }
    }

    /// Sends `signal` to process `pid` (a child not yet waited for, so the
    /// pid is still its own).
    pub fn send(pid: u32, signal: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill only sends a signal.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// The child (the editor) gets the signals as usual.
    pub fn unblocked_in_child(command: &mut std::process::Command) {
        // SAFETY: the closure only calls async-signal-safe functions
        // (sigemptyset, sigaddset, pthread_sigmask) on a local set.
        unsafe {
            command.pre_exec(|| {
                let set = set();
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
    }
}

#[cfg(not(unix))]
pub mod signals {
    pub struct Blocked;
    impl Blocked {
        pub fn new() -> Blocked {
            Blocked
        }
        pub fn pending(&self) -> bool {
            false
        }
        pub fn wait(&self, timeout: std::time::Duration) -> Option<Caught> {
            std::thread::sleep(timeout);
            None
        }
    }
    #[derive(Clone, Copy, Debug)]
    pub struct Caught {
        pub signal: i32,
        pub sent_by_process: bool,
    }
    pub fn send(_: u32, _: i32) {}
    pub fn unblocked_in_child(_: &mut std::process::Command) {}
}

/// Ctrl-C at a hidden prompt: the terminal's echo, which the prompt turned
/// off, is restored, and ksec exits 130 ("interrupted") instead of dying of
/// the signal with the terminal left silent.
#[cfg(unix)]
pub mod interrupt {
    use std::sync::OnceLock;

    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    /// The terminal's settings before the prompt.
    static SAVED: OnceLock<libc::termios> = OnceLock::new();

    /// Until dropped, SIGINT, SIGTERM and SIGHUP exit 130.
    pub struct Guard;

    pub fn exit_130_on_signal() -> Guard {
        // SAFETY: tcgetattr fills a zeroed local termios; signal installs a
        // handler that only calls async-signal-safe functions.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) == 0 {
                let _ = SAVED.set(saved);
            }
            for s in SIGNALS {
                libc::signal(
                    s,
                    handler as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
        }
        Guard
    }

    extern "C" fn handler(_: libc::c_int) {
        const MESSAGE: &[u8] = b"\nerror: interrupted: nothing was written\n";
        // SAFETY: tcsetattr, write and _exit are async-signal-safe; SAVED
        // is only read (set before the handler was installed).
        unsafe {
            if let Some(saved) = SAVED.get() {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
            }
            libc::write(libc::STDERR_FILENO, MESSAGE.as_ptr().cast(), MESSAGE.len());
            libc::_exit(130);
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            for s in SIGNALS {
                // SAFETY: back to the default disposition.
                unsafe { libc::signal(s, libc::SIG_DFL) };
            }
        }
    }
}

#[cfg(not(unix))]
pub mod interrupt {
    pub struct Guard;
    pub fn exit_130_on_signal() -> Guard {
        Guard
    }
}
