//! What `ksec render` reads: every source path is resolved and must stay
//! inside its namespace folder (a namespace folder inside the project),
//! must be a regular file, and is read up to a documented limit; a missing
//! source is not-found (3); `files:` entries kubectl refuses are refused;
//! a key twice in one env file names both lines; a `.dockerconfigjson`
//! the API server would refuse is refused at render. `ksec check` flags
//! tracked links that lead out of a namespace folder.

use crate::common;

use common::{CANARY, Key, all_output, code, git_commit_all, git_in, ksec, stderr, stdout};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A project (one namespace `ns`, folder `namespaces/ns`) with the age
/// identity that decrypts its secrets kept *inside* the project, as a
/// careless team might (`age.key`).
struct P {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    key: Key,
}

impl P {
    fn new(objects: &str) -> P {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("project");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(root.join("namespaces/ns")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let key = Key::new(&root, "age");
        let yaml = format!(
            "version: 1\nproject: shop\nrecipients:\n  me: {}\nnamespaces:\n  ns:\n    recipients: [me]\n{objects}",
            key.recipient
        );
        std::fs::write(root.join("ksec.yaml"), yaml).unwrap();
        P {
            _tmp: tmp,
            root,
            home,
            key,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, rel: &str, text: &[u8]) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn link(&self, rel: &str, target: impl AsRef<Path>) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, path).unwrap();
    }

    fn encrypt(&self, rel: &str, plain: &str) {
        std::fs::create_dir_all(self.path(rel).parent().unwrap()).unwrap();
        let plain_path = self.home.join("plain.yaml");
        std::fs::write(&plain_path, plain).unwrap();
        let out = ksec(&self.home)
            .current_dir(&self.root)
            .args(["encrypt", "-r", &self.key.recipient])
            .arg(&plain_path)
            .arg("--output")
            .arg(self.path(rel))
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        std::fs::remove_file(plain_path).unwrap();
    }

    /// `ksec render`, killed after a bound so a render that never ends
    /// fails the test instead of hanging it; its address space is capped
    /// so one that reads without bound fails instead of exhausting memory.
    fn render(&self) -> Output {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ksec"));
        for var in common::KEY_VARS {
            cmd.env_remove(var);
        }
        cmd.env("HOME", &self.home)
            .env("KSEC_AGE_KEY_FILE", &self.key.file)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            // one malloc arena per thread reserves 64 MiB of address space:
            // keep the cap about the data, not the machine's core count
            .env("MALLOC_ARENA_MAX", "2")
            .current_dir(&self.root)
            .arg("render")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        limit_memory(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        for _ in 0..1200 {
            if child.try_wait().unwrap().is_some() {
                let out = child.wait_with_output().unwrap();
                common::canary::record_std(&cmd, &out, true);
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        panic!("render did not finish; stderr:\n{}", stderr(&out));
    }
}

#[allow(unsafe_code, reason = "libc: setrlimit before exec")]
fn limit_memory(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in pre_exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &limit);
            Ok(())
        });
    }
}

/// Failed with `code`, printed nothing on stdout, leaked neither the
/// canary nor the identity; returns stderr.
fn refused(p: &P, out: &Output, want: i32) -> String {
    let err = stderr(out);
    assert_eq!(code(out), Some(want), "{}", all_output(out));
    assert!(out.stdout.is_empty(), "{}", stdout(out));
    let all = all_output(out);
    assert!(!all.contains(CANARY), "{all}");
    assert!(!all.contains(&p.key.secret), "the identity leaked:\n{all}");
    assert!(!all.contains("AGE-SECRET-KEY"), "{all}");
    err
}

const CONFIG_FILE: &str = "    configMaps:\n      - name: cfg\n        files: [conf.txt]\n";

#[test]
fn a_files_entry_linked_to_the_age_identity_is_refused_and_never_printed() {
    let p = P::new(CONFIG_FILE);
    p.link("namespaces/ns/conf.txt", "../../age.txt");
    let err = refused(&p, &p.render(), 6);
    for expected in [
        "ksec.yaml:9: ns/ConfigMap/cfg: file namespaces/ns/conf.txt is a link to",
        "outside its namespace folder namespaces/ns",
        "copy the file there",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
    // an absolute link, too
    std::fs::remove_file(p.path("namespaces/ns/conf.txt")).unwrap();
    p.link("namespaces/ns/conf.txt", p.path("age.txt"));
    refused(&p, &p.render(), 6);
}

#[test]
fn env_files_and_encrypted_sources_linked_out_of_the_folder_are_refused() {
    let p = P::new(
        "    configMaps:\n      - name: cfg\n        envFiles: [app.env]\n    secrets:\n      - name: db\n        sources: [db.enc.yaml]\n",
    );
    p.write("elsewhere/app.env", format!("K={CANARY}\n").as_bytes());
    p.link("namespaces/ns/app.env", "../../elsewhere/app.env");
    // an encrypted file of another folder, decryptable with the same key
    p.encrypt("other/db.enc.yaml", &format!("password: {CANARY}\n"));
    p.link("namespaces/ns/db.enc.yaml", "../../other/db.enc.yaml");
    let err = refused(&p, &p.render(), 6);
    assert!(
        err.contains("ns/ConfigMap/cfg: env file namespaces/ns/app.env is a link to"),
        "{err}"
    );
    assert!(
        err.contains("ns/Secret/db: encrypted source namespaces/ns/db.enc.yaml is a link to"),
        "{err}"
    );
    assert!(err.contains("2 problems"), "{err}");
}

#[test]
fn a_link_to_dev_zero_gives_a_bounded_error() {
    let p = P::new(CONFIG_FILE);
    p.link("namespaces/ns/conf.txt", "/dev/zero");
    let err = refused(&p, &p.render(), 6);
    assert!(err.contains("namespaces/ns/conf.txt"), "{err}");
}

#[test]
#[allow(unsafe_code, reason = "libc: mkfifo")]
fn a_fifo_or_a_folder_is_not_a_source() {
    let p = P::new(CONFIG_FILE);
    let fifo = p.path("namespaces/ns/conf.txt");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let err = refused(&p, &p.render(), 6);
    assert!(
        err.contains("file namespaces/ns/conf.txt is a FIFO, not a regular file"),
        "{err}"
    );
    std::fs::remove_file(&fifo).unwrap();
    std::fs::create_dir(&fifo).unwrap();
    let err = refused(&p, &p.render(), 6);
    assert!(
        err.contains("file namespaces/ns/conf.txt is a directory, not a regular file"),
        "{err}"
    );
}

#[test]
fn an_oversized_file_names_the_limit() {
    let p = P::new(CONFIG_FILE);
    p.write("namespaces/ns/conf.txt", &vec![b'a'; 1024 * 1024 + 1]);
    let err = refused(&p, &p.render(), 6);
    assert!(
        err.contains(
            "file namespaces/ns/conf.txt is larger than 1048576 bytes, the limit for a plain source"
        ),
        "{err}"
    );
}

#[test]
fn a_namespace_folder_linked_out_of_the_project_is_refused() {
    let p = P::new(CONFIG_FILE);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("conf.txt"), CANARY).unwrap();
    std::fs::remove_dir(p.path("namespaces/ns")).unwrap();
    p.link("namespaces/ns", outside.path());
    let err = refused(&p, &p.render(), 6);
    assert!(
        err.contains("file namespaces/ns/conf.txt is in a namespace folder that is a link to"),
        "{err}"
    );
    assert!(err.contains("outside the project"), "{err}");
}

#[test]
fn links_that_stay_inside_the_folder_work() {
    let p = P::new(CONFIG_FILE);
    p.write("namespaces/ns/real/conf.txt", b"hello\n");
    p.link("namespaces/ns/conf.txt", "real/conf.txt");
    let out = p.render();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
    assert!(
        stdout(&out).contains("conf.txt: |\n    hello\n"),
        "{}",
        stdout(&out)
    );
    // a namespace folder that is a link to a folder inside the project
    std::fs::rename(p.path("namespaces/ns"), p.path("store")).unwrap();
    p.link("namespaces/ns", "../store");
    let out = p.render();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
}

#[test]
fn a_missing_source_is_not_found_naming_the_file_and_the_object() {
    let p = P::new(
        "    configMaps:\n      - name: cfg\n        envFiles: [gone.env]\n    secrets:\n      - name: db\n        sources: [gone.enc.yaml]\n",
    );
    let err = refused(&p, &p.render(), 3);
    for expected in [
        "ksec.yaml:9: ns/ConfigMap/cfg: env file namespaces/ns/gone.env does not exist",
        "ksec.yaml:12: ns/Secret/db: encrypted source namespaces/ns/gone.enc.yaml does not exist",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
}

#[test]
fn files_entries_kubectl_refuses_are_refused() {
    let p = P::new(
        "    configMaps:\n      - name: cfg\n        files: ['a==b', '=b', 'a=', 'my key=b', 'my file']\n",
    );
    p.write("namespaces/ns/b", b"x");
    p.write("namespaces/ns/=b", b"x");
    p.write("namespaces/ns/my file", b"x");
    let out = p.render();
    let err = refused(&p, &out, 6);
    insta::assert_snapshot!(err);
}

#[test]
fn a_key_twice_in_one_env_file_names_the_file_and_both_lines() {
    let p = P::new("    configMaps:\n      - name: cfg\n        envFiles: [app.env]\n");
    p.write(
        "namespaces/ns/app.env",
        format!("A=1\nB={CANARY}\n\nB={CANARY}-2\n").as_bytes(),
    );
    let err = refused(&p, &p.render(), 6);
    assert!(
        err.contains("namespaces/ns/app.env:4: ns/ConfigMap/cfg: key B is given twice in this file (lines 2 and 4)"),
        "{err}"
    );
}

#[test]
fn an_invalid_dockerconfigjson_is_refused_at_render() {
    let p = P::new(
        "    secrets:\n      - name: pull\n        type: kubernetes.io/dockerconfigjson\n        sources: [pull.enc.yaml]\n",
    );
    for (value, why) in [
        (format!("not json {CANARY}"), "is not valid JSON"),
        (
            format!("{{\"registry\": \"{CANARY}\"}}"),
            "is a JSON object without an \"auths\" member",
        ),
        (format!("[\"{CANARY}\"]"), "is JSON but not an object"),
    ] {
        let yaml = format!(".dockerconfigjson: '{value}'\n");
        p.encrypt("namespaces/ns/pull.enc.yaml", &yaml);
        let err = refused(&p, &p.render(), 6);
        assert!(
            err.contains(&format!(
                "namespaces/ns/pull.enc.yaml: ns/Secret/pull: the key .dockerconfigjson {why}"
            )),
            "{value}: {err}"
        );
    }
    let good = format!(
        ".dockerconfigjson: '{{\"auths\": {{\"r.example.com\": {{\"auth\": \"{CANARY}\"}}}}}}'\n"
    );
    p.encrypt("namespaces/ns/pull.enc.yaml", &good);
    let out = p.render();
    assert_eq!(code(&out), Some(0), "{}", all_output(&out));
}

// ---------------------------------------------------------------- check

fn check(p: &P, args: &[&str]) -> Output {
    ksec(&p.home)
        .current_dir(&p.root)
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn check_flags_tracked_links_out_of_a_namespace_folder() {
    let p = P::new(CONFIG_FILE);
    std::fs::remove_file(p.path("age.txt")).unwrap();
    git_in(&p.root, &p.home, &["init", "-q", "-b", "main"]);
    p.write("namespaces/ns/real.txt", b"fine\n");
    p.link("namespaces/ns/conf.txt", "../../notes.txt");
    p.link("namespaces/ns/abs.txt", "/etc/hostname");
    p.link("namespaces/ns/inside.txt", "real.txt");
    p.link("namespaces/ns/zero", "/dev/zero");
    p.link("namespaces/ns/dir", ".");
    p.write("notes.txt", b"n\n");
    // a link outside every namespace folder is not a source
    p.link("readme-link", "notes.txt");
    // first everything staged (nothing committed), then tracked
    git_in(&p.root, &p.home, &["add", "-A"]);
    for args in [&["--staged"][..], &[][..]] {
        if args.is_empty() {
            git_commit_all(&p.root, &p.home);
        }
        let out = check(&p, args);
        assert_eq!(code(&out), Some(11), "{args:?}: {}", all_output(&out));
        let text = stdout(&out);
        let flagged: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(": source-link: "))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            flagged,
            [
                "namespaces/ns/abs.txt",
                "namespaces/ns/conf.txt",
                "namespaces/ns/dir",
                "namespaces/ns/zero"
            ],
            "{args:?}: {text}"
        );
        assert!(
            text.contains("namespaces/ns/conf.txt: source-link: a symlink to ../../notes.txt in the folder of namespace ns; it leads outside namespaces/ns"),
            "{text}"
        );
        assert!(stderr(&out).contains("source links:"), "{}", stderr(&out));
    }
}

#[test]
fn check_flags_a_namespace_folder_linked_out_of_the_project() {
    let p = P::new(CONFIG_FILE);
    std::fs::remove_file(p.path("age.txt")).unwrap();
    git_in(&p.root, &p.home, &["init", "-q", "-b", "main"]);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("conf.txt"), "x\n").unwrap();
    std::fs::remove_dir(p.path("namespaces/ns")).unwrap();
    p.link("namespaces/ns", outside.path());
    git_commit_all(&p.root, &p.home);
    let out = check(&p, &[]);
    assert_eq!(code(&out), Some(11), "{}", all_output(&out));
    assert!(
        stdout(&out)
            .contains("namespaces/ns: source-link: the folder of namespace ns is a symlink to"),
        "{}",
        stdout(&out)
    );
}
