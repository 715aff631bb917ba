//! Files under faults. `ksec set`, `encrypt --in-place`, `edit`,
//! `recipients remove` and `rekey` are killed with SIGKILL (the whole
//! process group, editor included) at random points of their run: every
//! file must still decrypt to its old or its new content, never a mix, and
//! no plaintext may be left on disk (project tree, TMPDIR, the edit
//! directory's places); temporary files a kill leaves are removed by the
//! next run. And a write onto a full file system fails with exit 10, names
//! the file, leaves it byte-identical and no temporary file behind.
//!
//! The kill delays come from a seeded generator: a failure prints the seed,
//! and `KSEC_KILL_SEED=N cargo test --test it kills::` replays it.

use crate::common;

use common::leftovers::{holds, regular_files};
use common::{CANARY, KEY_VARS, Key, sops};
use ksec::crypto::sops::{EncryptedFile, Format, emit_plain};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- helpers

/// xorshift64*: enough to spread kill delays, and replayable from its seed.
struct Rng(u64);

impl Rng {
    fn new() -> (Rng, u64) {
        let seed = std::env::var("KSEC_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("kill seed {seed} (replay with KSEC_KILL_SEED={seed})");
        (Rng(seed.max(1)), seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, max].
    fn delay(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros() as u64;
        Duration::from_micros(self.next() % (micros + 1))
    }
}

/// A project (HOME, TMPDIR and XDG_RUNTIME_DIR of its own, all scanned for
/// plaintext) and the keys of alice, bob and carol.
struct World {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    home: PathBuf,
    root: PathBuf,
    tmpdir: PathBuf,
    xdg: PathBuf,
    logs: PathBuf,
    alice: Key,
    bob: Key,
    carol: Key,
    /// The identities ksec runs with (alice's unless a test says otherwise).
    key_file: PathBuf,
    /// pids of the ksec processes started, to find their edit directories
    /// in /dev/shm, where `ksec edit` goes when its other places are not
    /// RAM-backed.
    pids: Vec<u32>,
    runs: usize,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        let dir = |name: &str| {
            let p = base.join(name);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let keys = dir("keys");
        let alice = Key::new(&keys, "alice");
        World {
            key_file: alice.file.clone(),
            home: dir("home"),
            root: dir("repo"),
            tmpdir: dir("tmp"),
            xdg: dir("xdg"),
            logs: dir("logs"),
            alice,
            bob: Key::new(&keys, "bob"),
            carol: Key::new(&keys, "carol"),
            base,
            _tmp: tmp,
            pids: Vec::new(),
            runs: 0,
        }
    }

    /// `ksec ARGS` in the project with alice's key; output to log files
    /// (scanned like everything else).
    fn command(&mut self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ksec"));
        for var in KEY_VARS {
            cmd.env_remove(var);
        }
        self.runs += 1;
        let log = |kind: &str| {
            std::fs::File::create(self.logs.join(format!("{}.{kind}", self.runs))).unwrap()
        };
        cmd.current_dir(&self.root)
            .env("HOME", &self.home)
            .env("TMPDIR", &self.tmpdir)
            .env("XDG_RUNTIME_DIR", &self.xdg)
            .env("KSEC_AGE_KEY_FILE", &self.key_file)
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .args(args)
            .stdin(Stdio::null())
            .stdout(log("out"))
            .stderr(log("err"));
        cmd
    }

    /// Runs `cmd` to its end; must succeed. How long it took.
    fn run_ok(&mut self, mut cmd: Command, what: &str) -> Duration {
        let start = Instant::now();
        let mut child = cmd.spawn().unwrap();
        self.pids.push(child.id());
        let status = child.wait().unwrap();
        let took = start.elapsed();
        assert!(
            status.success(),
            "{what} failed ({status}): {}",
            std::fs::read_to_string(self.logs.join(format!("{}.err", self.runs))).unwrap()
        );
        took
    }

    /// Starts `cmd` in a process group of its own and SIGKILLs the group
    /// after `delay` (or reaps it if it ended before).
    #[allow(unsafe_code, reason = "libc: kill of a process group")]
    fn kill_after(&mut self, mut cmd: Command, delay: Duration) {
        cmd.process_group(0);
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        self.pids.push(pid);
        std::thread::sleep(delay);
        // The child is not reaped yet, so its pid (and group) is still ours.
        // SAFETY: kill only sends a signal.
        unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
        child.wait().unwrap();
    }

    /// The slowest of three uninterrupted runs of `make()`, after
    /// `reset()`: the range kill delays are drawn from.
    fn measure(
        &mut self,
        make: &dyn Fn(&mut World) -> Command,
        reset: &dyn Fn(&World),
    ) -> Duration {
        (0..3)
            .map(|_| {
                reset(self);
                let cmd = make(self);
                self.run_ok(cmd, "an uninterrupted run")
            })
            .max()
            .unwrap()
    }

    /// Files holding the canary in the project (except `allowed`), TMPDIR,
    /// XDG_RUNTIME_DIR, HOME, the logs, and the edit directories of our
    /// ksec processes in /dev/shm.
    fn plaintext_files(&self, allowed: &[&Path]) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for dir in [&self.root, &self.tmpdir, &self.xdg, &self.home, &self.logs] {
            scan(dir, &mut found);
        }
        for dir in self.shm_dirs() {
            scan(&dir, &mut found);
        }
        found.retain(|p| !allowed.contains(&p.as_path()));
        found
    }

    /// Edit directories of our ksec processes, wherever ksec may put them.
    fn edit_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.shm_dirs();
        for place in [&self.tmpdir, &self.xdg] {
            for e in std::fs::read_dir(place).unwrap().flatten() {
                if e.file_name().to_string_lossy().starts_with("ksec-edit-") {
                    dirs.push(e.path());
                }
            }
        }
        dirs
    }

    fn shm_dirs(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir("/dev/shm") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                self.pids
                    .iter()
                    .any(|pid| name.starts_with(&format!("ksec-edit-{pid}-")))
            })
            .map(|e| e.path())
            .collect()
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Every regular file under `dir` whose bytes contain the canary.
fn scan(dir: &Path, found: &mut Vec<PathBuf>) {
    found.extend(
        regular_files(dir)
            .into_iter()
            .map(|(path, _)| path)
            .filter(|path| holds(path, CANARY)),
    );
}

/// `.ksec-tmp*` files under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(temp_files(&path));
        } else if entry.file_name().to_string_lossy().starts_with(".ksec-tmp") {
            out.push(path);
        }
    }
    out
}

fn identities(key: &Key) -> ksec::keys::Identities {
    ksec::keys::parse_identities(&std::fs::read_to_string(&key.file).unwrap(), "test").unwrap()
}

/// The plaintext of `path` for `key`, with ksec's reader (MAC checked).
fn plain_of(path: &Path, key: &Key) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let format = Format::from_path(path);
    let file = EncryptedFile::parse(&text, format).map_err(|e| e.to_string())?;
    let opened = file
        .open_to_read(&identities(key))
        .map_err(|e| e.to_string())?;
    emit_plain(&opened.plain, format).map_err(|e| e.to_string())
}

/// The real `sops -d` of `path` must give `want`.
fn sops_reads(world: &World, key: &Key, path: &Path, want: &str, context: &str) {
    let out = sops(Some(key))
        .env("HOME", &world.home)
        .arg("-d")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{context}: sops -d {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let got = String::from_utf8(out.stdout).unwrap();
    // sops and ksec may indent or quote differently: compare what ksec
    // makes of sops's output
    let format = Format::from_path(path);
    let tree = ksec::crypto::sops::parse_plain(&got, format).unwrap();
    let got = emit_plain(&tree, format).unwrap();
    assert_eq!(got, want, "{context}: sops -d differs");
}

/// A project with namespace `payments` readable by alice and bob.
fn one_namespace(world: &World) {
    common::project(&world.root, &[&world.alice, &world.bob]);
}

/// Plaintext YAML of `n` keys, the first `FIRST`, each holding the canary.
fn secrets_yaml(n: usize, first: &str) -> String {
    let mut text = format!("FIRST: {first}\n");
    for i in 0..n {
        text.push_str(&format!(
            "KEY_{i:04}: {CANARY}-{i:04}-padding-padding-padding\n"
        ));
    }
    text
}

/// The file is the old or the new content, nothing else.
fn old_or_new(path: &Path, key: &Key, old: &str, new: &str, context: &str) -> bool {
    match plain_of(path, key) {
        Ok(p) if p == old => false,
        Ok(p) if p == new => true,
        Ok(_) => panic!(
            "{context}: {} decrypts to neither the old nor the new content",
            path.display()
        ),
        Err(e) => panic!("{context}: {} does not decrypt: {e}", path.display()),
    }
}

// ---------------------------------------------------------------- SIGKILL

const KILLS_PER_COMMAND: usize = 45;

/// The common loop of `set` and `edit`: one encrypted file restored to
/// `old_bytes` before each run, `make` killed at a random point.
fn kill_loop_one_file(
    world: &mut World,
    name: &str,
    make: &dyn Fn(&mut World) -> Command,
    file: &Path,
    old_bytes: &[u8],
    old: &str,
    new: &str,
) {
    let (mut rng, seed) = Rng::new();
    let reset = |_: &World| std::fs::write(file, old_bytes).unwrap();
    let max = world.measure(make, &reset);
    let (mut olds, mut news) = (0, 0);
    for i in 0..KILLS_PER_COMMAND {
        reset(world);
        let delay = rng.delay(max);
        let cmd = make(world);
        world.kill_after(cmd, delay);
        let context = format!("{name}: kill {i} after {delay:?} (of {max:?}), seed {seed}");
        if old_or_new(file, &world.alice, old, new, &context) {
            news += 1;
        } else {
            olds += 1;
        }
        if i % 15 == 0 {
            let want = if plain_of(file, &world.alice).unwrap() == old {
                old
            } else {
                new
            };
            sops_reads(world, &world.alice, file, want, &context);
        }
        // the edit directory of a killed edit may hold plaintext until the
        // next edit (checked below); nothing else may
        let stale: Vec<PathBuf> = world.edit_dirs();
        let leaked: Vec<PathBuf> = world
            .plaintext_files(&[])
            .into_iter()
            .filter(|p| !stale.iter().any(|d| p.starts_with(d)))
            .collect();
        assert!(leaked.is_empty(), "{context}: plaintext left in {leaked:?}");
    }
    eprintln!(
        "{name}: {olds} kills left the old content, {news} the new (kill delays up to {max:?})"
    );
    // the next uninterrupted run cleans up after the killed ones
    reset(world);
    let cmd = make(world);
    world.run_ok(cmd, name);
    assert!(old_or_new(file, &world.alice, old, new, name));
    let left = temp_files(&world.root);
    assert!(
        left.is_empty(),
        "{name}: seed {seed}: temporary files left after a successful run: {left:?}"
    );
    let dirs = world.edit_dirs();
    assert!(
        dirs.is_empty(),
        "{name}: seed {seed}: edit directories left after a successful run: {dirs:?}"
    );
    let leaked = world.plaintext_files(&[]);
    assert!(
        leaked.is_empty(),
        "{name}: seed {seed}: plaintext left in {leaked:?}"
    );
}

/// The project path of the file the `set` and `edit` loops change.
const APP: &str = "namespaces/payments/app.enc.yaml";

/// A world whose namespace `payments` holds `APP`, 150 keys of `old-value`
/// encrypted: the world, the file, its bytes and its plaintext.
fn world_with_app_file() -> (World, PathBuf, Vec<u8>, String) {
    let mut world = World::new();
    one_namespace(&world);
    let file = world.write(APP, &secrets_yaml(150, "old-value"));
    let cmd = world.command(&["encrypt", "--in-place", APP]);
    world.run_ok(cmd, "encrypt");
    let old_bytes = std::fs::read(&file).unwrap();
    let old = plain_of(&file, &world.alice).unwrap();
    (world, file, old_bytes, old)
}

#[test]
fn set_killed_at_random_points_leaves_old_or_new_and_no_plaintext() {
    let (mut world, file, old_bytes, old) = world_with_app_file();
    let new = old.replace("FIRST: old-value", &format!("FIRST: new-{CANARY}"));
    assert_ne!(old, new);
    let value = format!("new-{CANARY}");
    let make = move |w: &mut World| w.command(&["set", APP, "FIRST", &value]);
    kill_loop_one_file(&mut world, "set", &make, &file, &old_bytes, &old, &new);
}

#[test]
fn edit_killed_at_random_points_leaves_old_or_new_and_no_plaintext() {
    let (mut world, file, old_bytes, old) = world_with_app_file();
    let new = old.replace("FIRST: old-value", "FIRST: new-value");
    assert_ne!(old, new);
    let editor = world.base.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/^FIRST: old-value$/FIRST: new-value/' \"$1\"\nsleep 0.05\n",
    )
    .unwrap();
    common::run_ok(Command::new("chmod").arg("+x").arg(&editor));
    let make = move |w: &mut World| {
        let mut cmd = w.command(&["edit", APP]);
        cmd.env("EDITOR", &editor);
        cmd
    };
    kill_loop_one_file(&mut world, "edit", &make, &file, &old_bytes, &old, &new);
}

#[test]
fn encrypt_in_place_killed_at_random_points_leaves_old_or_new_and_no_plaintext() {
    let mut world = World::new();
    one_namespace(&world);
    let (mut rng, seed) = Rng::new();
    let rel = "namespaces/payments/app.enc.yaml";
    let plain = secrets_yaml(150, "value");
    let file = world.write(rel, &plain);
    let reset = |w: &World| {
        w.write(rel, &plain);
    };
    let make = |w: &mut World| w.command(&["encrypt", "--in-place", rel]);
    let max = world.measure(&make, &reset);
    let want = plain_of(&file, &world.alice).unwrap();
    // the scan finds plaintext where there is some
    reset(&world);
    assert_eq!(world.plaintext_files(&[]), vec![file.clone()]);
    let (mut olds, mut news) = (0, 0);
    for i in 0..KILLS_PER_COMMAND {
        reset(&world);
        let delay = rng.delay(max);
        let cmd = make(&mut world);
        world.kill_after(cmd, delay);
        let context =
            format!("encrypt --in-place: kill {i} after {delay:?} (of {max:?}), seed {seed}");
        let still_plain = std::fs::read_to_string(&file).unwrap() == plain;
        if still_plain {
            olds += 1;
        } else {
            news += 1;
            assert_eq!(
                plain_of(&file, &world.alice).as_deref(),
                Ok(want.as_str()),
                "{context}: neither the plaintext nor its encryption"
            );
            // a sample: every fifth encrypted result
            if news % 5 == 1 {
                sops_reads(&world, &world.alice, &file, &want, &context);
            }
        }
        // the source itself is plaintext until it is replaced
        let allowed: Vec<&Path> = if still_plain {
            vec![file.as_path()]
        } else {
            vec![]
        };
        let leaked = world.plaintext_files(&allowed);
        assert!(leaked.is_empty(), "{context}: plaintext left in {leaked:?}");
    }
    eprintln!("encrypt --in-place: {olds} kills left the plaintext, {news} the encrypted file");
    reset(&world);
    let cmd = make(&mut world);
    world.run_ok(cmd, "encrypt --in-place");
    let left = temp_files(&world.root);
    assert!(
        left.is_empty(),
        "seed {seed}: temporary files left after a successful run: {left:?}"
    );
    let leaked = world.plaintext_files(&[]);
    assert!(
        leaked.is_empty(),
        "seed {seed}: plaintext left in {leaked:?}"
    );
}

/// Three namespaces of `FILES` files each: payments (alice, bob), search
/// (bob, carol), web (alice, carol). Removing bob leaves alice in payments
/// and carol in search.
const SHOP: &str = "\
version: 1
project: shop
recipients:
  alice: KEY_ALICE
  bob: KEY_BOB
  carol: KEY_CAROL
namespaces:
  payments:
    recipients: [alice, bob]
  search:
    recipients: [bob, carol]
  web:
    recipients: [alice, carol]
";

const FILES: usize = 6;

/// Each file with a key that reads it before and after bob's removal.
fn shop(world: &mut World) -> Vec<(PathBuf, String, &'static str)> {
    let yaml = SHOP
        .replace("KEY_ALICE", &world.alice.recipient)
        .replace("KEY_BOB", &world.bob.recipient)
        .replace("KEY_CAROL", &world.carol.recipient);
    world.write("ksec.yaml", &yaml);
    // alice and carol together read every file, before and after
    let both = world.base.join("keys/alice-and-carol.txt");
    let text = std::fs::read_to_string(&world.alice.file).unwrap()
        + &std::fs::read_to_string(&world.carol.file).unwrap();
    std::fs::write(&both, text).unwrap();
    world.key_file = both;
    let cmd = world.command(&["init", "--refresh"]);
    world.run_ok(cmd, "init");
    let mut files = Vec::new();
    for (ns, reader) in [("payments", "alice"), ("search", "carol"), ("web", "alice")] {
        for i in 0..FILES {
            let (rel, plain) = if i % 3 == 0 {
                (
                    format!("namespaces/{ns}/s{i}.enc.env"),
                    format!("TOKEN={CANARY}-{ns}-{i}\nMODE=live\n"),
                )
            } else {
                (
                    format!("namespaces/{ns}/s{i}.enc.yaml"),
                    secrets_yaml(20, ns),
                )
            };
            let path = world.write(&rel, &plain);
            let cmd = world.command(&["encrypt", "--in-place", &rel]);
            world.run_ok(cmd, "encrypt");
            files.push((path, String::new(), reader));
        }
    }
    for f in &mut files {
        f.1 = plain_of(&f.0, &world.alice)
            .or_else(|_| plain_of(&f.0, &world.carol))
            .unwrap();
    }
    files
}

fn key<'a>(world: &'a World, name: &str) -> &'a Key {
    match name {
        "alice" => &world.alice,
        "bob" => &world.bob,
        _ => &world.carol,
    }
}

/// Every file opens for `reader` to its content; and, when `bob_gone`,
/// not for bob.
fn check_files(world: &World, files: &[(PathBuf, String, &str)], bob_gone: bool, context: &str) {
    for (path, want, reader) in files {
        let got = plain_of(path, key(world, reader));
        assert_eq!(
            got.as_deref(),
            Ok(want.as_str()),
            "{context}: {} for {reader}",
            path.display()
        );
        if bob_gone {
            assert!(
                plain_of(path, &world.bob).is_err(),
                "{context}: bob still opens {}",
                path.display()
            );
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    common::copy_dir(from, to);
}

/// `recipients remove bob` (or `rekey` after bob left ksec.yaml) killed at
/// random points; then a rerun finishes and bob opens nothing.
fn kill_loop_recipients(rekey: bool) {
    let name = if rekey { "rekey" } else { "recipients remove" };
    let mut world = World::new();
    let files = shop(&mut world);
    let pristine = world.base.join("pristine");
    common::copy_dir(&world.root, &pristine);
    if rekey {
        // bob out of ksec.yaml (and .sops.yaml), the files not yet rekeyed
        let cmd = world.command(&["recipients", "remove", "bob"]);
        world.run_ok(cmd, "recipients remove");
        for f in ["ksec.yaml", ".sops.yaml"] {
            std::fs::copy(world.root.join(f), pristine.join(f)).unwrap();
        }
    }
    // the check of "in step" below can see a project that is not
    copy_tree(&pristine, &world.root);
    let cmd = world.command(&["rekey", "--dry-run"]);
    world.run_ok(cmd, "rekey --dry-run");
    let plan = std::fs::read_to_string(world.logs.join(format!("{}.out", world.runs))).unwrap();
    assert_eq!(plan.contains("would"), rekey, "{plan}");
    let (mut rng, seed) = Rng::new();
    let reset = |w: &World| copy_tree(&pristine, &w.root);
    let make = |w: &mut World| {
        if rekey {
            w.command(&["rekey"])
        } else {
            w.command(&["recipients", "remove", "bob"])
        }
    };
    let max = world.measure(&make, &reset);
    reset(&world);
    let bobs: Vec<&PathBuf> = files
        .iter()
        .map(|f| &f.0)
        .filter(|p| plain_of(p, &world.bob).is_ok())
        .collect();
    assert_eq!(bobs.len(), 2 * FILES, "bob reads payments and search");
    // kills that left none, some, all of bob's files rotated
    let mut rotated = [0; 3];
    for i in 0..KILLS_PER_COMMAND {
        reset(&world);
        let delay = rng.delay(max);
        let cmd = make(&mut world);
        world.kill_after(cmd, delay);
        let context = format!("{name}: kill {i} after {delay:?} (of {max:?}), seed {seed}");
        check_files(&world, &files, false, &context);
        let done = bobs
            .iter()
            .filter(|p| plain_of(p, &world.bob).is_err())
            .count();
        rotated[if done == 0 {
            0
        } else if done < bobs.len() {
            1
        } else {
            2
        }] += 1;
        let leaked = world.plaintext_files(&[]);
        assert!(leaked.is_empty(), "{context}: plaintext left in {leaked:?}");
        // finish: the removal again if ksec.yaml was not written yet, else rekey
        let yaml = std::fs::read_to_string(world.root.join("ksec.yaml")).unwrap();
        let rerun = if yaml.contains(&world.bob.recipient) {
            world.command(&["recipients", "remove", "bob"])
        } else {
            world.command(&["rekey"])
        };
        world.run_ok(rerun, &context);
        check_files(&world, &files, true, &format!("{context}, after the rerun"));
        if i % 15 == 0 {
            let (path, want, reader) = &files[i % files.len()];
            sops_reads(&world, key(&world, reader), path, want, &context);
        }
        let left = temp_files(&world.root);
        assert!(
            left.is_empty(),
            "{context}: temporary files left after the rerun: {left:?}"
        );
        let again = world.command(&["rekey", "--dry-run"]);
        world.run_ok(again, "rekey --dry-run");
        let plan = std::fs::read_to_string(world.logs.join(format!("{}.out", world.runs))).unwrap();
        assert!(
            !plan.contains("would"),
            "{context}: the project is not in step after the rerun:\n{plan}"
        );
    }
    eprintln!(
        "{name}: kills left none of bob's files rotated {} times, some {} times, all {} times (kill delays up to {max:?})",
        rotated[0], rotated[1], rotated[2]
    );
}

#[test]
fn recipients_remove_killed_at_random_points_and_a_rerun_finishes() {
    kill_loop_recipients(false);
}

#[test]
fn rekey_killed_at_random_points_and_a_rerun_finishes() {
    kill_loop_recipients(true);
}

// ---------------------------------------------------------------- full disk

/// A small tmpfs, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `path`; `None` (with the reason printed)
    /// when not root. As root a failed mount fails the test.
    #[allow(unsafe_code, reason = "libc: geteuid")]
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: mounting a tmpfs needs root, and this test does not run as root");
            return None;
        }
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs at {} (the full-disk test needs one): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Tmpfs {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Fills the file system of `dir` until a write fails, then frees `free`
/// bytes of it.
fn fill(dir: &Path, free: u64) {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "filling: {e}");
                break;
            }
        }
        assert!(written < 64 * 1024 * 1024, "the tmpfs does not fill up");
    }
    drop(f);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(written.saturating_sub(free)).unwrap();
}

/// A write that does not fit: exit 10, the file named, "no space left", the
/// file byte-identical, no temporary file, no plaintext on the disk.
fn refused_for_space(world: &World, cmd: Command, file: &Path, before: &[u8], what: &str) {
    let mut cmd = cmd;
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(10), "{what}: {err}");
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains(name.as_ref()),
        "{what}: the error does not name the file: {err}"
    );
    assert!(
        err.to_lowercase().contains("no space left"),
        "{what}: the error does not say the disk is full: {err}"
    );
    assert!(
        err.contains("hint: free space"),
        "{what}: the hint does not say what to do: {err}"
    );
    assert!(
        !err.contains(".ksec-tmp"),
        "{what}: the error names a temporary file that is gone: {err}"
    );
    assert!(!err.contains(CANARY) && !String::from_utf8_lossy(&out.stdout).contains(CANARY));
    assert_eq!(
        std::fs::read(file).unwrap(),
        before,
        "{what}: the file changed"
    );
    let left = temp_files(&world.root);
    assert!(left.is_empty(), "{what}: temporary files left: {left:?}");
}

#[test]
fn writes_onto_a_full_disk_fail_clearly_and_leave_the_file_intact() {
    let mut world = World::new();
    let Some(_mount) = Tmpfs::mount(&world.root, "512k") else {
        return;
    };
    one_namespace(&world);
    let rel = "namespaces/payments/app.enc.yaml";
    let file = world.write(rel, &secrets_yaml(300, "old-value"));
    let cmd = world.command(&["encrypt", "--in-place", rel]);
    world.run_ok(cmd, "encrypt");
    let encrypted = std::fs::read(&file).unwrap();
    let plain_rel = "namespaces/payments/plain.enc.yaml";
    let plain = world.write(plain_rel, &secrets_yaml(200, "value"));
    let plain_bytes = std::fs::read(&plain).unwrap();
    assert!(
        encrypted.len() > 32 * 1024,
        "the file must not fit in what is left free"
    );
    fill(&world.root, 8 * 1024);

    let value = format!("new-{CANARY}");
    let cmd = world.command(&["set", rel, "FIRST", &value]);
    refused_for_space(&world, cmd, &file, &encrypted, "set");

    let cmd = world.command(&["encrypt", "--in-place", plain_rel]);
    refused_for_space(&world, cmd, &plain, &plain_bytes, "encrypt --in-place");

    let editor = world.base.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/^FIRST: old-value$/FIRST: new-value/' \"$1\"\n",
    )
    .unwrap();
    common::run_ok(Command::new("chmod").arg("+x").arg(&editor));
    let mut cmd = world.command(&["edit", rel]);
    cmd.env("EDITOR", &editor);
    refused_for_space(&world, cmd, &file, &encrypted, "edit");

    // nothing but the plaintext source the user wrote holds a secret
    let leaked = world.plaintext_files(&[plain.as_path()]);
    assert!(leaked.is_empty(), "plaintext left in {leaked:?}");
    // and with room again, the same write works
    std::fs::remove_file(world.root.join("filler")).unwrap();
    let cmd = world.command(&["set", rel, "FIRST", &value]);
    world.run_ok(cmd, "set with room");
}

// ---------------------------------------------------------------- leftovers

/// A pid that names no process: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// What a ksec killed between writing its temporary file and renaming it
/// leaves is removed by the next write into that folder, and by a `rekey`
/// with nothing to do there; a live writer's file and an old pid-less one
/// are kept (rekey notes the latter).
#[test]
fn temporary_files_of_killed_writers_are_removed_by_the_next_run() {
    let mut world = World::new();
    one_namespace(&world);
    let rel = "namespaces/payments/app.enc.yaml";
    world.write(rel, &secrets_yaml(3, "value"));
    let cmd = world.command(&["encrypt", "--in-place", rel]);
    world.run_ok(cmd, "encrypt");
    let folder = world.root.join("namespaces/payments");
    let plant = |name: String| {
        let path = folder.join(name);
        std::fs::write(&path, "ENC[AES256_GCM,data:AAAA,type:str]\n").unwrap();
        path
    };
    let stale = plant(format!(".ksec-tmp-{}-aB3xYz", dead_pid()));
    let live = plant(format!(".ksec-tmp-{}-aB3xYz", std::process::id()));
    let old = plant(".ksec-tmpaB3xYz".into());
    let cmd = world.command(&["set", rel, "FIRST", "changed"]);
    world.run_ok(cmd, "set");
    assert!(!stale.exists(), "set left a dead writer's temporary file");
    assert!(live.exists() && old.exists());

    let stale = plant(format!(".ksec-tmp-{}-cD4eFg", dead_pid()));
    let cmd = world.command(&["rekey"]);
    world.run_ok(cmd, "rekey");
    assert!(!stale.exists(), "rekey left a dead writer's temporary file");
    assert!(live.exists() && old.exists());
    let note = std::fs::read_to_string(world.logs.join(format!("{}.err", world.runs))).unwrap();
    assert!(
        note.contains(".ksec-tmpaB3xYz") && !note.contains("cD4eFg"),
        "{note}"
    );
}
