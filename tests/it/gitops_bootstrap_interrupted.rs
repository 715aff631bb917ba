//! `ksec gitops bootstrap` interrupted between its cluster writes and its
//! ksec.yaml write, against the real local API server: killed with SIGKILL
//! while the proxy holds back the answers to its Secret writes (which have
//! landed), or unable to write ksec.yaml (a file size limit). Either way
//! ksec.yaml is as it was, and a rerun adopts the keys the live Secrets
//! hold: it records them, generates none and writes nothing to the cluster;
//! the run after says everything is in place. A run whose write to one
//! namespace failed is finished with the key another namespace got; a
//! protected environment asks first, naming the Secret whose key it records. A
//! Secret of the same name that ksec did not write is still refused. No
//! private key in any output.

use crate::common;
use crate::gitops_bootstrap::{
    ENV, PRIVATE, Project, create_by_hand, key_file_of, public_of, resource_version, secret,
};

use common::canary;
use common::kube::{create_namespaces, kubectl_ok, text, unique};
use common::proxy::{Answer, Fault, Proxy, is_write};
use common::terminal::{Transcript, on_terminal};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `ksec --project DIR ARGS` as `Project::run` starts it (the project's
/// key, HOME, no other key variable), against the API server of
/// `kubeconfig`, in a process group of its own.
fn command(p: &Project, kubeconfig: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ksec"));
    for var in common::KEY_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", &p.dir)
        .env("TMPDIR", &p.keys)
        .env("KSEC_AGE_KEY_FILE", &p.me.file)
        .env("KUBECONFIG", kubeconfig)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env_remove("VISUAL")
        .env_remove("EDITOR")
        .arg("--project")
        .arg(&p.dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    cmd
}

/// Records a run started with [`command`] for the canary scan and among
/// the project's outputs.
fn record(p: &Project, cmd: &Command, out: &Output) {
    canary::record_std(cmd, out, false);
    p.outputs.borrow_mut().push_str(&text(out));
}

/// `ksec ARGS` in the project through the proxy, recorded.
fn run_via(p: &Project, proxy: &Proxy, args: &[&str]) -> Output {
    let out = common::kube::ksec_project(&p.dir, &p.me, args)
        .env("KUBECONFIG", &proxy.kubeconfig)
        .output()
        .unwrap();
    p.outputs.borrow_mut().push_str(&text(&out));
    out
}

/// A project of two new namespaces of the test cluster sharing the
/// environment's key, nothing recorded yet; and their names.
fn two_namespaces() -> (Project, String, String) {
    let (a, b) = (unique("boot"), unique("boot"));
    create_namespaces(&[&a, &b]);
    (Project::new("admin", &[&a, &b], "", "", &[]), a, b)
}

/// Asserts that `output` holds `expected`, showing it otherwise.
fn says(output: &str, expected: &str) {
    assert!(
        output.contains(expected),
        "expected {expected:?} in:\n{output}"
    );
}

/// `ksec gitops bootstrap` again through the proxy, its faults cleared and
/// the requests it saw forgotten; must succeed. Its output.
fn rerun_via(p: &Project, proxy: &Proxy) -> String {
    proxy.clear_faults();
    proxy.forget();
    let out = run_via(p, proxy, &["gitops", "bootstrap", "--env", ENV]);
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

/// The requests the proxy saw that write (or dry-run a write of) a Secret.
fn secret_writes(proxy: &Proxy) -> Vec<String> {
    proxy
        .seen()
        .iter()
        .filter(|s| s.is_write() || (s.path.contains("/secrets") && s.method != "GET"))
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

/// The public key a live decryption Secret names, checked against the
/// private key it holds (the real `age-keygen -y`).
fn live_public(p: &Project, ns: &str, name: &str) -> String {
    let s = secret(ns, name).unwrap_or_else(|| panic!("no Secret {ns}/{name}"));
    let public = s["metadata"]["annotations"]["ksec.dev/recipient"]
        .as_str()
        .unwrap()
        .to_string();
    let file = key_file_of(&s, &p.keys, &format!("{ns}-{name}.agekey"));
    assert_eq!(
        public_of(&file),
        public,
        "{ns}/{name}: annotation and key differ"
    );
    std::fs::remove_file(file).unwrap();
    public
}

#[test]
#[allow(unsafe_code, reason = "libc: SIGKILL to the process group of ksec")]
fn a_bootstrap_killed_after_its_cluster_writes_is_finished_by_a_rerun_that_adopts_the_keys() {
    let (plain, team) = (unique("boot"), unique("team"));
    create_namespaces(&[&plain, &team]);
    // the environment's key (plain) and a team key (team): both new
    let p = Project::new(
        "admin",
        &[&plain, &team],
        "",
        "    teamKeys: true\n",
        &[&team],
    );
    let before = p.ksec_yaml();
    let sops_before = std::fs::read(p.dir.join(".sops.yaml")).ok();
    let proxy = Proxy::start(common::kube::kubeconfig());
    // the two Secret writes land, but ksec never hears so
    proxy.fault(None, is_write, Fault::HoldAnswer);
    let mut cmd = command(
        &p,
        &proxy.kubeconfig,
        &["gitops", "bootstrap", "--env", ENV],
    );
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    proxy.wait_for(2, Duration::from_secs(120), |s| {
        s.is_write() && matches!(s.answer, Answer::Forwarded(200 | 201))
    });
    // SAFETY: kill only sends a signal; the child is not reaped yet, so its
    // group is still ours.
    unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    record(&p, &cmd, &out);
    proxy.release();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{}", text(&out));

    // ksec.yaml (and .sops.yaml) as they were; the cluster holds two keys
    // that ksec.yaml does not know
    assert_eq!(
        p.ksec_yaml(),
        before,
        "a killed bootstrap changed ksec.yaml"
    );
    assert_eq!(std::fs::read(p.dir.join(".sops.yaml")).ok(), sops_before);
    let env_key = live_public(&p, &plain, "sops-age");
    let team_secret = format!("sops-age-{team}");
    let team_key = live_public(&p, &team, &team_secret);
    assert_ne!(env_key, team_key);
    let versions = || {
        (
            resource_version(&plain, "sops-age"),
            resource_version(&team, &team_secret),
        )
    };
    let written = versions();

    // the rerun adopts them: records, generates nothing, writes nothing
    let t = rerun_via(&p, &proxy);
    assert!(
        t.contains(&format!(
            "recorded the cluster key that {plain}/Secret/sops-age already holds"
        )) && t.contains(&format!(
            "recorded namespace {team}'s cluster key that {team}/Secret/{team_secret} already holds"
        )) && t.contains("no new key was generated"),
        "{t}"
    );
    says(
        &t,
        &format!("{plain}: Secret sops-age unchanged (key of recipient test-cluster)"),
    );
    assert_eq!(
        secret_writes(&proxy),
        Vec::<String>::new(),
        "the rerun wrote"
    );
    assert_eq!(versions(), written);
    let yaml = p.yaml();
    assert_eq!(yaml["recipients"]["test-cluster"], env_key.as_str());
    assert_eq!(
        yaml["environments"][ENV]["recipients"],
        serde_json::json!(["test-cluster"])
    );
    let team_name = format!("{team}-{ENV}");
    assert_eq!(yaml["recipients"][&team_name], team_key.as_str());
    assert_eq!(
        yaml["namespaces"][team.as_str()]["clusterKeys"][ENV],
        team_name.as_str()
    );
    let sops_yaml = std::fs::read_to_string(p.dir.join(".sops.yaml")).unwrap();
    assert!(sops_yaml.contains(&env_key), "{sops_yaml}");

    // the run after: everything is in place
    let recorded = p.ksec_yaml();
    proxy.forget();
    let out = run_via(&p, &proxy, &["gitops", "bootstrap", "--env", ENV]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("everything is in place; nothing was written"),
        "{}",
        text(&out)
    );
    assert_eq!(secret_writes(&proxy), Vec::<String>::new());
    assert_eq!(p.ksec_yaml(), recorded);
    assert_eq!(versions(), written);
    p.assert_no_private_key();
}

/// Runs `cmd` with a file size limit of `bytes`: a write past it fails
/// with EFBIG (SIGXFSZ ignored) instead of landing.
#[allow(
    unsafe_code,
    reason = "libc: setrlimit and signal between fork and exec"
)]
fn limit_file_size(cmd: &mut Command, bytes: u64) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

#[test]
fn ksec_yaml_unwritable_after_the_cluster_writes_says_a_rerun_records_the_key_and_it_does() {
    let (p, a, b) = two_namespaces();
    let before = p.ksec_yaml();
    // ksec.yaml cannot grow: recording the key fails, the Secrets land
    let mut cmd = command(
        &p,
        common::kube::kubeconfig(),
        &["gitops", "bootstrap", "--env", ENV],
    );
    limit_file_size(&mut cmd, before.len() as u64);
    let out = cmd.output().unwrap();
    record(&p, &cmd, &out);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(10), "{t}");
    let stderr = common::stderr(&out);
    assert!(
        stderr.contains(&format!(
            "{}: File too large",
            p.dir.join("ksec.yaml").display()
        )),
        "{stderr}"
    );
    // the temporary file, gone by now, is not named
    assert!(!stderr.contains(".ksec-tmp-"), "{stderr}");
    // the Secrets in namespace order; the first one's key is adopted
    let (first, second) = if a < b { (&a, &b) } else { (&b, &a) };
    says(
        &stderr,
        &format!(
            "ksec.yaml does not record the cluster key of recipient test-cluster yet, but the cluster already holds it ({first}/Secret/sops-age, {second}/Secret/sops-age)"
        ),
    );
    says(
        &stderr,
        &format!(
            "run `ksec gitops bootstrap --env {ENV}` again: it records the key the cluster holds and writes nothing to the cluster"
        ),
    );
    assert_eq!(p.ksec_yaml(), before);
    let key = live_public(&p, &a, "sops-age");
    assert_eq!(live_public(&p, &b, "sops-age"), key);
    let versions = || {
        (
            resource_version(&a, "sops-age"),
            resource_version(&b, "sops-age"),
        )
    };
    let written = versions();

    // the rerun records the key the cluster holds, and writes nothing there
    let out = p.run(&["gitops", "bootstrap", "--env", ENV, "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["recorded"],
        serde_json::json!([{
            "name": "test-cluster",
            "key": key,
            "namespace": null,
            "adoptedFrom": format!("{first}/Secret/sops-age"),
        }])
    );
    assert!(
        json["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] == "unchanged"),
        "{json}"
    );
    assert_eq!(versions(), written);
    assert_eq!(p.yaml()["recipients"]["test-cluster"], key.as_str());
    let out = p.ok(&["gitops", "bootstrap", "--env", ENV]);
    assert!(out.contains("everything is in place"), "{out}");
    assert_eq!(versions(), written);
    p.assert_no_private_key();
}

#[test]
fn a_secret_of_the_same_name_ksec_did_not_write_is_refused_not_adopted() {
    let (p, bare, forged) = two_namespaces();
    let before = p.ksec_yaml();
    let tmp = tempfile::tempdir().unwrap();
    let theirs = common::Key::new(tmp.path(), "theirs");
    let other = common::Key::new(tmp.path(), "other");
    // one made by hand (no annotation); one whose ksec annotation names
    // another key than the one it holds
    for ns in [&bare, &forged] {
        create_by_hand(ns, &theirs.file);
    }
    kubectl_ok(
        "admin",
        &[
            "annotate",
            "secret",
            "sops-age",
            "-n",
            &forged,
            &format!("ksec.dev/recipient={}", other.recipient),
        ],
    );
    let versions = || {
        (
            resource_version(&bare, "sops-age"),
            resource_version(&forged, "sops-age"),
        )
    };
    let was = versions();
    let out = p.run(&["gitops", "bootstrap", "--env", ENV]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    says(
        &t,
        &format!(
            "{bare}/Secret/sops-age exists but its data entry {ENV}.agekey holds no key of recipient test-cluster (ksec.yaml); it has no ksec.dev/recipient annotation, so ksec did not write it and does not adopt its key"
        ),
    );
    says(
        &t,
        &format!(
            "{forged}/Secret/sops-age exists but its data entry {ENV}.agekey holds no key of recipient test-cluster (ksec.yaml); its ksec.dev/recipient annotation does not name the key it holds, so ksec does not adopt it"
        ),
    );
    assert!(t.contains("nothing was written"), "{t}");
    assert_eq!(p.ksec_yaml(), before);
    assert_eq!(versions(), was);
    assert!(!t.contains(PRIVATE));
    p.assert_no_private_key();
}

#[test]
fn a_bootstrap_whose_write_to_one_namespace_failed_is_finished_with_the_same_key() {
    let (p, a, b) = two_namespaces();
    let before = p.ksec_yaml();
    let proxy = Proxy::start(common::kube::kubeconfig());
    // b's Secret write is refused (not retried); a's lands
    let path_b = format!("/namespaces/{b}/secrets/");
    proxy.fault(
        None,
        move |method, path| is_write(method, path) && path.contains(&path_b),
        Fault::Status {
            code: 403,
            retry_after: None,
        },
    );
    let out = run_via(&p, &proxy, &["gitops", "bootstrap", "--env", ENV]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("nothing was recorded in ksec.yaml"), "{t}");
    assert_eq!(p.ksec_yaml(), before);
    let key = live_public(&p, &a, "sops-age");
    assert!(secret(&b, "sops-age").is_none());
    let written = resource_version(&a, "sops-age");

    // the rerun adopts a's key, gives b the same, and writes only b's
    let t = rerun_via(&p, &proxy);
    assert!(
        t.contains(&format!("{a}: Secret sops-age unchanged"))
            && t.contains(&format!("{b}: Secret sops-age created"))
            && t.contains(&format!(
                "recorded the cluster key that {a}/Secret/sops-age already holds"
            )),
        "{t}"
    );
    let writes: Vec<String> = proxy
        .seen()
        .iter()
        .filter(|s| s.is_write())
        .map(|s| s.path.clone())
        .collect();
    assert!(
        writes.len() == 1 && writes[0].contains(&format!("/namespaces/{b}/secrets/sops-age")),
        "{writes:?}"
    );
    assert_eq!(resource_version(&a, "sops-age"), written);
    assert_eq!(live_public(&p, &b, "sops-age"), key);
    assert_eq!(p.yaml()["recipients"]["test-cluster"], key.as_str());
    p.assert_no_private_key();
}

#[test]
fn a_protected_environment_asks_before_recording_the_key_a_secret_holds() {
    let ns = unique("boot");
    create_namespaces(&[&ns]);
    let p = Project::new("admin", &[&ns], "", "    protected: true\n", &[]);
    let before = p.ksec_yaml();
    let mut cmd = command(
        &p,
        common::kube::kubeconfig(),
        &["gitops", "bootstrap", "--env", ENV, "--yes"],
    );
    limit_file_size(&mut cmd, before.len() as u64);
    let out = cmd.output().unwrap();
    record(&p, &cmd, &out);
    assert_eq!(out.status.code(), Some(10), "{}", text(&out));
    let key = live_public(&p, &ns, "sops-age");
    let written = resource_version(&ns, "sops-age");

    // on a terminal: it asks to record the key, and to apply nothing; "n"
    // records nothing
    let script = common::which("script").expect("util-linux `script` is not installed");
    let line = format!(
        "{} --project {} gitops bootstrap --env {ENV}",
        assert_cmd::cargo::cargo_bin("ksec").display(),
        p.dir.display()
    );
    let mut child = on_terminal(&script, &line, &p.dir, &p.me)
        .env("KUBECONFIG", common::kube::kubeconfig())
        .spawn()
        .unwrap();
    let transcript = Transcript::read(&mut child);
    assert!(transcript.wait_for("go ahead?"), "no prompt was shown");
    let (status, t) = transcript.type_and_wait(&mut child, b"n");
    p.outputs.borrow_mut().push_str(&t);
    assert_eq!(status.code(), Some(8), "{t}");
    says(
        &t,
        &format!("record recipient test-cluster in ksec.yaml (the key {ns}/Secret/sops-age holds)"),
    );
    assert!(!t.contains("apply  "), "{t}");
    assert_eq!(p.ksec_yaml(), before);

    let out = p.ok(&["gitops", "bootstrap", "--env", ENV, "--yes"]);
    assert!(out.contains("already holds"), "{out}");
    assert_eq!(p.yaml()["recipients"]["test-cluster"], key.as_str());
    assert_eq!(resource_version(&ns, "sops-age"), written);
    p.assert_no_private_key();
}
