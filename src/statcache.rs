//! The content hash of a file, remembered by its stat data, as git's index
//! does: a file whose device, inode, size, mtime and ctime are what they
//! were when it was hashed still has that hash, so it need not be read.
//!
//! Used by `ksec render --gitops` to tell, without reading them, that its
//! inputs and outputs are as the last render left them. The cache is only
//! ever a shortcut: a missing, stale or unreadable cache means files are
//! read and hashed, never a wrong answer. It lives outside the project and
//! the output tree (`$XDG_CACHE_HOME/ksec/gitops`, else `~/.cache/...`),
//! as git keeps its index out of the work tree, because stat data differs
//! on every clone and must never be committed. It holds hashes and stat
//! data only, never file contents.
//!
//! **Racy files.** A file changed twice within one tick of the file
//! system's clock, with the size kept, shows the same stat data twice. So a
//! hash is only remembered for a file that had not changed for a while
//! (`settled`) when its stat data was read, before it was read: any later
//! change then gives it a newer ctime, which no one can set back.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// What identifies one version of a file: any write gives a new one (a
/// newer ctime), even one that puts the old bytes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stat {
    /// The five numbers, space-separated, as the cache files hold them.
    fn text(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns
        )
    }

    /// The five numbers `text` wrote, taken from `fields`.
    fn read<'a>(fields: &mut impl Iterator<Item = &'a str>) -> Option<Stat> {
        Some(Stat {
            dev: fields.next()?.parse().ok()?,
            ino: fields.next()?.parse().ok()?,
            size: fields.next()?.parse().ok()?,
            mtime_ns: fields.next()?.parse::<i64>().ok()?.into(),
            ctime_ns: fields.next()?.parse::<i64>().ok()?.into(),
        })
    }

    fn of(s: &crate::sys::StatAt) -> Stat {
        Stat {
            dev: s.dev,
            ino: s.ino,
            size: s.size,
            mtime_ns: s.mtime_ns,
            ctime_ns: s.ctime_ns,
        }
    }

    /// Whether the file had not changed for longer than the file system's
    /// clock tick at `now`. Times with no sub-second part suggest a clock
    /// of whole seconds (or two, as FAT's): then three seconds.
    fn settled(&self, now: SystemTime) -> bool {
        let Ok(now) = now.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let now = now.as_nanos() as i128;
        let coarse = self.mtime_ns % 1_000_000_000 == 0 && self.ctime_ns % 1_000_000_000 == 0;
        let slack = if coarse {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(100)
        };
        self.mtime_ns.max(self.ctime_ns) + slack.as_nanos() as i128 <= now
    }
}

/// A fast hash for the cache's maps of paths (FxHash's mixing step): the
/// keys are this user's own paths, so resistance to crafted collisions,
/// what the standard SipHash pays for, buys nothing here.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Fx>>;
type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<Fx>>;

/// The stat data of the regular file at `path`, stat'ed by its name in its
/// folder `dir` (from `sys::open_dir`; none when it could not be opened), a
/// final link followed when `follow`; `None` for anything else.
#[cfg(unix)]
fn stat_in(dir: Option<&File>, path: &Path, follow: bool) -> Option<Stat> {
    let stat = crate::sys::stat_at(dir?, Path::new(path.file_name()?), follow).ok()?;
    stat.regular.then(|| Stat::of(&stat))
}

/// Without `stat_at`: the file's size from its path, and no ctime: a time
/// in the future, so nothing is ever settled, so every file is read.
#[cfg(not(unix))]
fn stat_in(_: Option<&File>, path: &Path, follow: bool) -> Option<Stat> {
    let meta = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    }
    .ok()?;
    meta.is_file().then(|| Stat {
        dev: 0,
        ino: 0,
        size: meta.len(),
        mtime_ns: i128::MAX / 2,
        ctime_ns: i128::MAX / 2,
    })
}

/// The stat data of the regular file at `path` (a final link followed when
/// `follow`): `stat_all` of one file.
pub fn stat(path: &Path, follow: bool) -> Option<Stat> {
    stat_all(&[(path, follow)]).pop().flatten()
}

/// The stat data of many regular files (a final link followed or not,
/// each), in their order: grouped by folder, each folder opened once (a
/// file is stat'ed by its name in its open folder, `sys::stat_at`, which
/// spares the kernel walking the whole path for each of many files in one
/// folder), the folders shared out among the cores with no lock between
/// them. `None` for a file that is not there or not a regular file. The
/// one way this module stats files.
pub fn stat_all(files: &[(&Path, bool)]) -> Vec<Option<Stat>> {
    // by the folder's bytes: they hash faster than a `Path` (no component
    // walk)
    let mut groups: HashMap<&[u8], Vec<usize>> = HashMap::default();
    for (i, (path, _)) in files.iter().enumerate() {
        let folder = path.parent().unwrap_or(Path::new(""));
        groups
            .entry(folder.as_os_str().as_encoded_bytes())
            .or_default()
            .push(i);
    }
    let groups: Vec<(&[u8], Vec<usize>)> = groups.into_iter().collect();
    let in_group = |(_, members): &(&[u8], Vec<usize>)| {
        let folder = members.first().and_then(|&i| files[i].0.parent());
        let dir = folder.and_then(|f| crate::sys::open_dir(f).ok());
        members
            .iter()
            .map(|&i| stat_in(dir.as_ref(), files[i].0, files[i].1))
            .collect::<Vec<_>>()
    };
    // one folder: no thread to start
    let found = match groups.as_slice() {
        [one] => vec![in_group(one)],
        _ => crate::parallel::map(&groups, in_group),
    };
    let mut out = vec![None; files.len()];
    for ((_, members), stats) in groups.iter().zip(found) {
        for (&i, stat) in members.iter().zip(stats) {
            out[i] = stat;
        }
    }
    out
}

/// One remembered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    stat: Stat,
    hash: Hash,
}

/// A file's hash as `hash` found it: the hash, and the entry to remember
/// (none when the cache already had it or the file was too fresh).
pub struct Hashed {
    pub hash: Hash,
    /// The file's stat data when it was hashed.
    pub stat: Stat,
    path: String,
    fresh: Option<Entry>,
}

/// The remembered hashes of one cache file.
#[derive(Debug, Default)]
pub struct StatCache {
    file: Option<PathBuf>,
    /// By path: a `String` hashes faster than a `Path` (no component walk).
    entries: HashMap<String, Entry>,
    /// The files hashed in this run: only they are kept when saving.
    seen: HashSet<String>,
    /// Lines a run derived from files it hashed (a file list, say), under
    /// a key that names those files' hashes; kept when read or written in
    /// this run.
    notes: BTreeMap<String, Vec<String>>,
    noted: HashSet<String>,
    changed: bool,
}

/// The first line; another ksec version starts from an empty cache.
const HEADER: &str = concat!("ksec stat cache 2, ksec ", env!("CARGO_PKG_VERSION"));

/// A note's lines start with this, then the key, a tab and the line.
const NOTE: &str = "@";

impl StatCache {
    /// The cache of `key` (an output folder's real path), read if it is
    /// there; with no cache directory, an empty one that is never saved.
    pub fn open(key: &Path) -> StatCache {
        let Some(file) = cache_file(key, "") else {
            return StatCache::default();
        };
        let (entries, notes) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| parse(&text))
            .unwrap_or_default();
        StatCache {
            file: Some(file),
            entries,
            notes,
            ..StatCache::default()
        }
    }

    /// The remembered hash of the file at `path`, if `stat` (its stat data
    /// now) is what it was then.
    fn lookup(&self, path: &str, stat: Stat) -> Option<Hash> {
        let entry = self.entries.get(path)?;
        (entry.stat == stat).then_some(entry.hash)
    }

    /// The SHA-256 of each regular file of `files` (a final link followed
    /// or not, each), in their order: all stat'ed first (`stat_all`), then
    /// only the files whose stat data is not what the cache remembers read
    /// (`read`, given the file's index and path) and hashed, on all cores.
    /// `None` for a file whose stat or `read` fails.
    pub fn hash_all(
        &self,
        files: &[(&Path, bool)],
        read: impl Fn(usize, &Path) -> Option<Vec<u8>> + Sync,
    ) -> Vec<Option<Hashed>> {
        // the clock before the stats: see `Stat::settled`
        let now = SystemTime::now();
        let stats = stat_all(files);
        let mut out = Vec::with_capacity(files.len());
        let mut misses = Vec::new();
        for (i, ((path, _), stat)) in files.iter().zip(stats).enumerate() {
            let Some(stat) = stat else {
                out.push(None);
                continue;
            };
            // a path that is not UTF-8 or holds a line break is never
            // remembered: it could not be written back
            let key = path.to_str().filter(|p| !p.contains('\n'));
            match key.and_then(|key| Some((key, self.lookup(key, stat)?))) {
                Some((key, hash)) => out.push(Some(Hashed {
                    hash,
                    stat,
                    path: key.to_string(),
                    fresh: None,
                })),
                None => {
                    out.push(None);
                    misses.push((i, key, stat));
                }
            }
        }
        if misses.is_empty() {
            return out;
        }
        let read = crate::parallel::map(&misses, |&(i, key, stat)| {
            let hash: Hash = Sha256::digest(read(i, files[i].0)?).into();
            let fresh = (key.is_some() && stat.settled(now)).then_some(Entry { stat, hash });
            Some(Hashed {
                hash,
                stat,
                path: key.unwrap_or_default().to_string(),
                fresh,
            })
        });
        for ((i, _, _), hashed) in misses.iter().zip(read) {
            out[*i] = hashed;
        }
        out
    }

    /// The hash of each regular file at `paths` (a final link followed),
    /// in their order, when its stat data (`stat_all`) is what the cache
    /// remembers; no file is ever read.
    pub fn remembered_all(&self, paths: &[&Path]) -> Vec<Option<Hashed>> {
        let files: Vec<(&Path, bool)> = paths.iter().map(|p| (*p, true)).collect();
        paths
            .iter()
            .zip(stat_all(&files))
            .map(|(path, stat)| {
                let key = path.to_str()?;
                let stat = stat?;
                let hash = self.lookup(key, stat)?;
                Some(Hashed {
                    hash,
                    stat,
                    path: key.to_string(),
                    fresh: None,
                })
            })
            .collect()
    }

    /// The lines noted under `key`, if any.
    pub fn noted(&mut self, key: &str) -> Option<&[String]> {
        let lines = self.notes.get(key)?;
        self.noted.insert(key.to_string());
        Some(lines)
    }

    /// Note `lines` under `key` (neither may hold a line break, nor the key
    /// a tab: such a note is not kept).
    pub fn note(&mut self, key: String, lines: Vec<String>) {
        if key.contains(['\n', '\t']) || lines.iter().any(|l| l.contains('\n')) {
            return;
        }
        if self.notes.get(&key) != Some(&lines) {
            self.changed = true;
        }
        self.noted.insert(key.clone());
        self.notes.insert(key, lines);
    }

    /// Remember what `hash` found.
    pub fn remember(&mut self, hashed: impl IntoIterator<Item = Hashed>) {
        for h in hashed {
            if let Some(entry) = h.fresh
                && self.entries.insert(h.path.clone(), entry) != Some(entry)
            {
                self.changed = true;
            }
            if !h.path.is_empty() {
                self.seen.insert(h.path);
            }
        }
    }

    /// Write the cache when it changed, keeping only the files hashed in
    /// this run. A failure is ignored: the next run hashes the files again.
    pub fn save(mut self) {
        let before = (self.entries.len(), self.notes.len());
        let seen = std::mem::take(&mut self.seen);
        self.entries.retain(|path, _| seen.contains(path));
        let noted = std::mem::take(&mut self.noted);
        self.notes.retain(|key, _| noted.contains(key));
        let Some(file) = &self.file else { return };
        if !self.changed && (self.entries.len(), self.notes.len()) == before {
            return;
        }
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|(path, e)| format!("{} {} {path}", to_hex(&e.hash), e.stat.text()))
            .collect();
        lines.sort();
        for (key, noted) in &self.notes {
            lines.extend(noted.iter().map(|line| format!("{NOTE}{key}\t{line}")));
            // a note with no line still says that it was noted
            if noted.is_empty() {
                lines.push(format!("{NOTE}{key}"));
            }
        }
        let text = format!("{HEADER}\n{}\n", lines.join("\n"));
        if let Some(dir) = file.parent()
            && std::fs::create_dir_all(dir).is_ok()
        {
            let _ = crate::fsutil::write_atomic(file, text.as_bytes(), 0o600);
        }
    }
}

/// The cache file of `key` with `suffix`; none without a cache directory.
fn cache_file(key: &Path, suffix: &str) -> Option<PathBuf> {
    let name = to_hex(&Sha256::digest(key.as_os_str().as_encoded_bytes())[..16]);
    Some(
        cache_dir()?
            .join("ksec")
            .join("gitops")
            .join(format!("{name}{suffix}")),
    )
}

/// A file whose stat data was checked: whether a final link is followed.
pub struct Checked {
    pub path: PathBuf,
    pub follow: bool,
    pub stat: Stat,
}

const VERIFIED: &str = ".verified";
const VERIFIED_HEADER: &str = concat!("ksec verified 1, ksec ", env!("CARGO_PKG_VERSION"));

/// Remember, for `key` and `what` (the check's own terms, one line), that
/// these files were found as expected with this stat data, for
/// `still_verified`. Only when every one had been unchanged for a while
/// (`Stat::settled`), so a later change cannot keep its stat data. A
/// failure is ignored.
pub fn save_verified(key: &Path, what: &str, files: &[Checked]) {
    let now = SystemTime::now();
    let Some(file) = cache_file(key, VERIFIED) else {
        return;
    };
    if what.contains('\n') || files.iter().any(|f| !f.stat.settled(now)) {
        let _ = std::fs::remove_file(&file);
        return;
    }
    let mut text = format!("{VERIFIED_HEADER}\n{what}\n");
    for f in files {
        let Some(path) = f.path.to_str().filter(|p| !p.contains('\n')) else {
            let _ = std::fs::remove_file(&file);
            return;
        };
        let follow = if f.follow { 'f' } else { 'l' };
        text.push_str(&format!("{follow} {} {path}\n", f.stat.text()));
    }
    if let Some(dir) = file.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = crate::fsutil::write_atomic(&file, text.as_bytes(), 0o600);
    }
}

/// Whether every file `save_verified` listed for `key` and `what` still has
/// the stat data it had then: then none of them changed since they were
/// found as expected. Nothing is read but the list and the stat data.
pub fn still_verified(key: &Path, what: &str) -> bool {
    let Some(text) = cache_file(key, VERIFIED).and_then(|f| std::fs::read_to_string(f).ok()) else {
        return false;
    };
    let mut lines = text.lines();
    if lines.next() != Some(VERIFIED_HEADER) || lines.next() != Some(what) {
        return false;
    }
    let Some(files) = lines.map(verified_line).collect::<Option<Vec<_>>>() else {
        return false;
    };
    if files.is_empty() {
        return false;
    }
    let paths: Vec<(&Path, bool)> = files
        .iter()
        .map(|(follow, _, path)| (Path::new(*path), *follow))
        .collect();
    stat_all(&paths)
        .into_iter()
        .zip(&files)
        .all(|(now, (_, then, _))| now == Some(*then))
}

/// One line of a verified list: link followed or not, stat data, path.
fn verified_line(line: &str) -> Option<(bool, Stat, &str)> {
    let mut fields = line.splitn(7, ' ');
    let follow = match fields.next()? {
        "f" => true,
        "l" => false,
        _ => return None,
    };
    let stat = Stat::read(&mut fields)?;
    Some((follow, stat, fields.next()?))
}

/// `$XDG_CACHE_HOME`, else `~/.cache`.
fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .filter(|dir| dir.is_absolute())
}

/// The entries and notes of a cache file; `None` for anything but this
/// version's well-formed text (then the cache starts empty).
type Parsed = (HashMap<String, Entry>, BTreeMap<String, Vec<String>>);

fn parse(text: &str) -> Option<Parsed> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut entries = HashMap::default();
    let mut notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        if let Some(note) = line.strip_prefix(NOTE) {
            match note.split_once('\t') {
                Some((key, line)) => notes
                    .entry(key.to_string())
                    .or_default()
                    .push(line.to_string()),
                None => notes.entry(note.to_string()).or_default().clear(),
            }
            continue;
        }
        let mut fields = line.splitn(7, ' ');
        let hash = from_hex(fields.next()?)?;
        let stat = Stat::read(&mut fields)?;
        entries.insert(fields.next()?.to_string(), Entry { stat, hash });
    }
    Some((entries, notes))
}

/// `hash` in lower-case hex, as `sha256sum` prints it.
pub fn to_hex(hash: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(hash.len() * 2);
    for b in hash {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The hash written by `to_hex`; `None` for anything else.
pub fn from_hex(text: &str) -> Option<Hash> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = digit(bytes[2 * i])? << 4 | digit(bytes[2 * i + 1])?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mtime_ns: i128, ctime_ns: i128) -> Stat {
        Stat {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns,
            ctime_ns,
        }
    }

    fn at(ns: i128) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    }

    #[test]
    fn a_file_is_settled_only_well_after_its_last_change() {
        let s = stat(10_000_000_123, 10_000_000_456);
        assert!(!s.settled(at(10_000_000_456)));
        assert!(!s.settled(at(10_050_000_000)));
        assert!(s.settled(at(10_100_000_456)));
        // whole-second times: a coarse clock, three seconds
        let coarse = stat(10_000_000_000, 10_000_000_000);
        assert!(!coarse.settled(at(12_500_000_000)));
        assert!(coarse.settled(at(13_000_000_000)));
        // a file from the future (another machine's clock) is never settled
        assert!(!s.settled(at(9_000_000_000)));
    }

    #[test]
    fn the_text_round_trips_and_anything_else_is_no_cache() {
        let mut entries = HashMap::default();
        entries.insert(
            "/a dir/with spaces.yaml".to_string(),
            Entry {
                stat: stat(-5, 7),
                hash: [0xab; 32],
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let mut notes = BTreeMap::new();
        notes.insert(
            "a key".to_string(),
            vec!["one\tline".to_string(), "two".into()],
        );
        notes.insert("empty".to_string(), vec![]);
        let mut cache = StatCache {
            file: Some(dir.path().join("c")),
            entries: entries.clone(),
            seen: entries.keys().cloned().collect(),
            changed: true,
            ..StatCache::default()
        };
        for (key, lines) in &notes {
            cache.note(key.clone(), lines.clone());
        }
        // not kept: it could not be read back
        cache.note("bad\tkey".to_string(), vec![]);
        cache.save();
        let text = std::fs::read_to_string(dir.path().join("c")).unwrap();
        assert_eq!(parse(&text), Some((entries, notes)));
        assert_eq!(parse("ksec stat cache 1\n"), None);
        assert_eq!(parse(&text.replace(" 7 ", " x ")), None);
        assert_eq!(parse(&text.replacen("ab", "zz", 1)), None);
        assert_eq!(parse(&text.replacen("ab", "AB", 1)), None);
        assert_eq!(to_hex(&[0x0f, 0xa0]), "0fa0");
    }

    #[cfg(unix)]
    #[test]
    fn only_a_regular_file_has_stat_data_and_a_link_is_followed_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let stat = super::stat(&file, false).unwrap();
        assert_eq!(stat.size, 1);
        assert_eq!(super::stat(&link, true), Some(stat));
        assert_eq!(super::stat(&link, false), None);
        assert_eq!(super::stat(dir.path(), true), None);
        assert_eq!(super::stat(&dir.path().join("missing"), true), None);
        // the same for many at once, in the order asked
        let missing = dir.path().join("missing");
        assert_eq!(
            stat_all(&[
                (&link, false),
                (&file, false),
                (&missing, true),
                (&link, true),
                (dir.path(), true),
            ]),
            vec![None, Some(stat), None, Some(stat), None]
        );
        // what std says of the same file
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!((stat.dev, stat.ino), (meta.dev(), meta.ino()));
        assert_eq!(
            stat.ctime_ns,
            i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec())
        );
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_fresh_one_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "one").unwrap();
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let read = |_: usize, p: &Path| {
            reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::fs::read(p).ok()
        };
        let reads = || reads.load(std::sync::atomic::Ordering::Relaxed);
        let mut cache = StatCache::default();
        let hash = |cache: &StatCache| {
            let mut all = cache.hash_all(&[(&path, true)], read);
            all.pop().flatten().unwrap()
        };
        // just written: hashed, but too fresh to remember
        let h = hash(&cache);
        assert_eq!(h.hash, <Hash>::from(Sha256::digest(b"one")));
        assert!(h.fresh.is_none());
        // as if hashed long ago: remembered, then not read again
        let entry = Entry {
            stat: super::stat(&path, true).unwrap(),
            hash: [7; 32],
        };
        cache
            .entries
            .insert(path.to_str().unwrap().to_string(), entry);
        let h = hash(&cache);
        assert_eq!((h.hash, reads()), ([7; 32], 1));
        assert_eq!(
            cache
                .remembered_all(&[&path])
                .pop()
                .flatten()
                .map(|h| h.hash),
            Some([7; 32])
        );
        // a change of the file changes its stat data: read again
        std::fs::write(&path, "second").unwrap();
        let h = hash(&cache);
        assert_eq!(h.hash, <Hash>::from(Sha256::digest(b"second")));
        assert_eq!(reads(), 2);
        assert!(cache.remembered_all(&[&path]).pop().flatten().is_none());
    }
}
