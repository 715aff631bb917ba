//! `ksec apply` against a real kube-apiserver that misbehaves: a
//! fault-injecting proxy (`common/proxy.rs`) sits between ksec and the
//! server and answers 429 with `Retry-After`, 503, resets connections or
//! slows down; one test kills the API server of a control plane of its own
//! in the middle of an apply and brings it back.
//!
//! The retry budget and the concurrency limit these tests hold ksec to are
//! the README's ("Retries and limits").

use crate::common;

use common::Key;
use common::kube::{create_namespaces, kubeconfig, resource_versions, text, unique};
use common::private::Private;
use common::proxy::{Answer, Fault, Proxy, Seen};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The README's limit of requests in flight.
const CONCURRENCY: usize = 8;
/// The README's tries of one request.
const ATTEMPTS: usize = 5;

/// A project with environment `test` (context admin) and the namespaces
/// `namespaces`, each with a Secret `db` and ConfigMaps `cfg`,
/// `c0`..`c{n-1}`.
struct Project {
    dir: tempfile::TempDir,
    key: Key,
    namespaces: usize,
    config_maps: usize,
}

impl Project {
    fn new(namespaces: &[&str], config_maps: usize) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let extra: String = (0..config_maps)
            .map(|i| format!("      - name: c{i}\n        literals: {{N: \"{i}\"}}\n"))
            .collect();
        let mut yaml = format!(
            "version: 1\nproject: {}\nrecipients:\n  me: {}\nenvironments:\n  test:\n    context: admin\nnamespaces:\n",
            unique("f"),
            key.recipient
        );
        for ns in namespaces {
            yaml.push_str(&format!(
                "  {ns}:\n    recipients: [me]\n    configMaps:\n      - name: cfg\n        literals: {{LOG_LEVEL: info}}\n{extra}    secrets:\n      - name: db\n        sources: [db.enc.env]\n"
            ));
            let folder = dir.path().join("namespaces").join(ns);
            std::fs::create_dir_all(&folder).unwrap();
            let plain = folder.join("db.env");
            std::fs::write(&plain, format!("PASSWORD={}\n", common::CANARY)).unwrap();
            common::encrypt_to(dir.path(), &key, &plain, &folder.join("db.enc.env"));
            std::fs::remove_file(plain).unwrap();
        }
        std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
        Project {
            dir,
            key,
            namespaces: namespaces.len(),
            config_maps,
        }
    }

    /// How many objects it renders.
    fn objects(&self) -> usize {
        self.namespaces * (self.config_maps + 2)
    }

    /// `ksec ARGS` against the cluster of `kubeconfig`; its output.
    fn run(&self, kubeconfig: &Path, args: &[&str]) -> std::process::Output {
        common::ksec_with(self.dir.path(), &self.key)
            .env("KUBECONFIG", kubeconfig)
            .arg("--project")
            .arg(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }
}

/// The real writes the proxy saw, by path.
fn writes(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter().filter(|s| s.is_write()).collect()
}

/// `kubectl get configmaps,secrets -o json` in `ns`: name -> resourceVersion.
fn versions(config: &Path, ns: &str) -> BTreeMap<String, String> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(config)
        .args(["--context", "admin", "get", "configmaps,secrets", "-n", ns])
        .args(["-l", "app.kubernetes.io/managed-by=ksec", "-o", "json"])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    resource_versions(list["items"].as_array().unwrap())
}

/// The first line of the report of a failed apply, as numbers:
/// (failed, total, applied, not attempted).
fn report(out: &std::process::Output) -> (usize, usize, usize, usize) {
    let err = common::stderr(out);
    let first = err.lines().next().unwrap_or("");
    let numbers: Vec<usize> = first
        .strip_prefix("error: ")
        .and_then(|l| l.strip_suffix(" not attempted"))
        .unwrap_or_else(|| panic!("not the report of a partial apply: {}", text(out)))
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .map(|n| n.parse().unwrap())
        .collect();
    let [failed, total, applied, not_attempted] = numbers[..] else {
        panic!("{first}");
    };
    assert_eq!(
        first,
        format!(
            "error: {failed} of {total} writes failed, {applied} applied, {not_attempted} not attempted"
        )
    );
    assert_eq!(failed + applied + not_attempted, total, "{}", text(out));
    (failed, total, applied, not_attempted)
}

#[test]
fn apply_rides_out_429_503_and_resets_and_waits_as_long_as_retry_after_says() {
    let ns = unique("rt");
    create_namespaces(&[&ns]);
    let project = Project::new(&[&ns], 4);
    let proxy = Proxy::start(kubeconfig());
    // one fault for each of the first four real writes, in this order
    let write = |m: &str, p: &str| common::proxy::is_write(m, p);
    let faults = [
        Fault::Status {
            code: 429,
            retry_after: Some(2),
        },
        Fault::Status {
            code: 503,
            retry_after: None,
        },
        Fault::ResetBeforeAnswer,
        Fault::ResetMidRequest,
    ];
    for fault in &faults {
        proxy.fault(Some(1), write, fault.clone());
    }

    let out = project.run(&proxy.kubeconfig, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(common::CANARY));

    let seen = proxy.seen();
    let writes = writes(&seen);
    let faulted: Vec<&&Seen> = writes
        .iter()
        .filter(|s| !matches!(s.answer, Answer::Forwarded(_)))
        .collect();
    assert_eq!(faulted.len(), faults.len(), "{writes:#?}");
    // every object was written in the end, each once
    let done: Vec<&str> = writes
        .iter()
        .filter(|s| matches!(s.answer, Answer::Forwarded(200 | 201)))
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(done.len(), project.objects(), "{writes:#?}");
    assert_eq!(
        versions(kubeconfig(), &ns).len(),
        project.objects(),
        "{writes:#?}"
    );
    // each faulted write was tried again, and the one answered 429 not
    // before its Retry-After had passed
    for f in faulted {
        let again = writes
            .iter()
            .find(|s| s.path == f.path && s.at > f.at)
            .unwrap_or_else(|| panic!("{} was not tried again: {writes:#?}", f.path));
        if f.answer == Answer::Injected(429) {
            let waited = again.at - f.at;
            assert!(
                waited >= Duration::from_secs(2),
                "retried {waited:?} after a 429 with Retry-After: 2"
            );
        }
    }
}

#[test]
fn a_write_refused_past_the_retry_budget_fails_by_name_and_a_rerun_writes_only_it() {
    let ns = unique("rb");
    create_namespaces(&[&ns]);
    let project = Project::new(&[&ns], 6);
    let proxy = Proxy::start(kubeconfig());
    // c3's real write is refused for ever; everything else goes through
    proxy.fault(
        None,
        |m, p| common::proxy::is_write(m, p) && p.contains("/configmaps/c3-"),
        Fault::Status {
            code: 429,
            retry_after: Some(1),
        },
    );
    let out = project.run(&proxy.kubeconfig, &["apply", "--yes"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(9), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(!t.contains(common::CANARY));
    let (failed, total, applied, not_attempted) = report(&out);
    assert_eq!((failed, total), (1, project.objects()), "{t}");
    let err = common::stderr(&out);
    let failed_line = err.lines().nth(1).unwrap_or("");
    assert!(
        failed_line.starts_with(&format!("  failed: {ns}/ConfigMap/c3-"))
            && failed_line.contains(&format!(": apply {ns}/ConfigMap/c3-"))
            && failed_line.contains("still answered 429"),
        "{t}"
    );
    assert!(err.contains("\n  applied: "), "{t}");
    assert!(err.contains("\n  not attempted: "), "{t}");
    assert!(err.contains("writes only what still differs"), "{t}");
    // c3 was tried exactly as often as the budget allows
    let seen = proxy.seen();
    let tries = writes(&seen)
        .iter()
        .filter(|s| s.path.contains("/configmaps/c3-"))
        .count();
    assert_eq!(tries, ATTEMPTS, "{seen:#?}");

    // the rerun writes what failed or was not attempted, nothing else
    let before = versions(kubeconfig(), &ns);
    assert_eq!(before.len(), applied, "{t}");
    proxy.clear_faults();
    proxy.forget();
    let out = project.run(&proxy.kubeconfig, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let seen = proxy.seen();
    let rewritten = writes(&seen);
    assert_eq!(rewritten.len(), failed + not_attempted, "{rewritten:#?}");
    assert!(
        rewritten.iter().any(|s| s.path.contains("/configmaps/c3-")),
        "{rewritten:#?}"
    );
    let after = versions(kubeconfig(), &ns);
    assert_eq!(after.len(), total);
    for (name, version) in &before {
        assert_eq!(after.get(name), Some(version), "{name} was written again");
    }
    // and the cluster now matches the project
    let out = project.run(&proxy.kubeconfig, &["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn requests_in_flight_stay_within_the_limit_and_run_side_by_side() {
    // many namespaces: the pre-flight's access reviews, namespace reads and
    // lists run side by side, and then the dry runs and writes
    let names: Vec<String> = (0..12).map(|_| unique("cc")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    create_namespaces(&names);
    let project = Project::new(&names, 3);
    let proxy = Proxy::start(kubeconfig());
    // slow answers, so that requests pile up if ksec lets them
    proxy.fault(None, |_, _| true, Fault::Delay(Duration::from_millis(60)));
    let out = project.run(&proxy.kubeconfig, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(writes(&proxy.seen()).len(), project.objects());
    let max = proxy.max_in_flight();
    println!("max in flight: {max}");
    assert!(max <= CONCURRENCY, "{max} requests in flight at once");
    assert!(max > 1, "requests ran one at a time");
}

#[test]
fn the_api_server_killed_mid_apply_is_a_clear_error_and_a_rerun_converges() {
    let cluster = Private::start();
    let ns = unique("kill");
    assert!(
        cluster
            .kubectl(&["create", "namespace", &ns])
            .status
            .success()
    );
    let project = Project::new(&[&ns], 60);
    let proxy = Proxy::start(&cluster.path("kubeconfig"));
    // slow writes, so that the apply is surely in flight when the server dies
    proxy.fault(
        None,
        common::proxy::is_write,
        Fault::Delay(Duration::from_millis(150)),
    );
    let apply = std::process::Command::new(assert_cmd::cargo::cargo_bin("ksec"))
        .arg("--project")
        .arg(project.dir.path())
        .args(["apply", "--yes"])
        .env("KUBECONFIG", &proxy.kubeconfig)
        .env("KSEC_AGE_KEY_FILE", &project.key.file)
        .env("HOME", project.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // once 10 writes have landed, kill the API server
    proxy.wait_for(10, Duration::from_secs(120), |s| {
        s.is_write() && matches!(s.answer, Answer::Forwarded(200 | 201))
    });
    let argv = cluster.kill_apiserver();
    let out = apply.wait_with_output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(9), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(!t.contains(common::CANARY));
    let (failed, total, applied, not_attempted) = report(&out);
    assert_eq!(total, project.objects(), "{t}");
    assert!(failed >= 1 && applied >= 10, "{t}");
    assert!(applied < total, "{t}");
    assert!(
        common::stderr(&out)
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("  failed: ")
                && l.contains(&format!("cannot reach the API server {}", proxy.url))),
        "{t}"
    );
    // and stdout's summary counts the same writes as created
    assert_eq!(
        common::stdout(&out),
        format!("{ns}: {applied} created, 0 updated, 0 unchanged, 0 pruned\n")
    );

    // back on the same etcd: the rerun writes what is missing, and only that
    cluster.restart_apiserver(&argv);
    let before = versions(&cluster.path("kubeconfig"), &ns);
    proxy.clear_faults();
    proxy.forget();
    let out = project.run(&proxy.kubeconfig, &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // a write that failed may or may not have landed before the server died
    let rewritten = writes(&proxy.seen()).len();
    assert_eq!(rewritten, total - before.len(), "{}", text(&out));
    assert!(rewritten <= failed + not_attempted, "{}", text(&out));
    let after = versions(&cluster.path("kubeconfig"), &ns);
    assert_eq!(after.len(), total);
    for (name, version) in &before {
        assert_eq!(after.get(name), Some(version), "{name} was written again");
    }
    let out = project.run(&proxy.kubeconfig, &["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
