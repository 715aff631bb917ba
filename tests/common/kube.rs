//! The test control plane: a real kube-apiserver (1.20.2) with RBAC and
//! etcd, started by the project's own `scripts/kube-up.sh`, and `kubectl`
//! against it as one of its users.
//!
//! `scripts/test.sh` starts one control plane for the run and passes its
//! kubeconfig in `KSEC_TEST_KUBECONFIG`; without it, the first test binary
//! that asks starts its own (needs `scripts/kube-build.sh` once) and stops it
//! at exit. Tests share the cluster, so each works in namespaces of its own
//! (see `unique`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static STARTED: OnceLock<PathBuf> = OnceLock::new();
static KUBECONFIG: OnceLock<PathBuf> = OnceLock::new();
static STARTED_2: OnceLock<PathBuf> = OnceLock::new();
static KUBECONFIG_2: OnceLock<PathBuf> = OnceLock::new();

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

extern "C" fn stop_cluster() {
    for started in [&STARTED, &STARTED_2] {
        if let Some(dir) = started.get() {
            let _ = Command::new(repo().join("scripts/kube-down.sh"))
                .arg(dir)
                .status();
        }
    }
}

/// The kubeconfig of the test control plane (started once per test binary).
pub fn kubeconfig() -> &'static Path {
    KUBECONFIG.get_or_init(|| control_plane("KSEC_TEST_KUBECONFIG", &STARTED))
}

/// The kubeconfig of a second, separate control plane, for the tests of
/// one run across several clusters: `KSEC_TEST_KUBECONFIG_2`, or one
/// started for this test binary (on other ports).
pub fn kubeconfig_2() -> &'static Path {
    KUBECONFIG_2.get_or_init(|| control_plane("KSEC_TEST_KUBECONFIG_2", &STARTED_2))
}

/// The kubeconfig `var` names, or that of a control plane started now and
/// stopped when the test process exits.
#[allow(unsafe_code, reason = "libc: atexit stops the cluster")]
fn control_plane(var: &str, started: &'static OnceLock<PathBuf>) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return PathBuf::from(path);
    }
    let dir = tempfile::Builder::new()
        .prefix("ksec-kube-")
        .tempdir()
        .expect("temp dir")
        .keep();
    let out = Command::new(repo().join("scripts/kube-up.sh"))
        .arg(&dir)
        .output()
        .expect("scripts/kube-up.sh runs");
    assert!(
        out.status.success(),
        "scripts/kube-up.sh failed (run scripts/kube-build.sh once first):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.set(dir.clone()).expect("set once");
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: registering a plain extern "C" fn with no captured state.
    AT_EXIT.call_once(|| unsafe {
        libc::atexit(stop_cluster);
    });
    dir.join("kubeconfig")
}

/// One kubeconfig file holding the clusters of several (as
/// `scripts/kube-up.sh` writes them: the same context names in each), with
/// every context, cluster and user renamed `PREFIX-NAME`: the way a user
/// keeps several clusters in one kubeconfig. Written into `dir`.
pub fn merged_kubeconfig(dir: &Path, parts: &[(&str, &Path)]) -> PathBuf {
    let mut merged = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [], "users": [], "contexts": [],
        "current-context": "",
    });
    for (prefix, config) in parts {
        let out = Command::new("kubectl")
            .args(["config", "view", "--raw", "-o", "json", "--kubeconfig"])
            .arg(config)
            .output()
            .expect("kubectl runs");
        assert!(out.status.success(), "kubectl config view {config:?}");
        let view: Value = serde_json::from_slice(&out.stdout).unwrap();
        let renamed = |v: &Value| format!("{prefix}-{}", v.as_str().unwrap());
        for field in ["clusters", "users"] {
            for item in view[field].as_array().unwrap() {
                let mut item = item.clone();
                item["name"] = renamed(&item["name"]).into();
                merged[field].as_array_mut().unwrap().push(item);
            }
        }
        for item in view["contexts"].as_array().unwrap() {
            let mut item = item.clone();
            item["name"] = renamed(&item["name"]).into();
            item["context"]["cluster"] = renamed(&item["context"]["cluster"]).into();
            item["context"]["user"] = renamed(&item["context"]["user"]).into();
            merged["contexts"].as_array_mut().unwrap().push(item);
        }
    }
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_json::to_vec_pretty(&merged).unwrap()).unwrap();
    path
}

/// A name no other test (of this or another test binary) uses: a DNS-1123
/// label when `prefix` is one.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `ksec --project DIR ARGS` with the key `key` and HOME `dir`, against the
/// test cluster.
pub fn ksec_project(dir: &Path, key: &super::Key, args: &[&str]) -> super::Ksec {
    ksec_project_on(kubeconfig(), dir, key, args)
}

/// `ksec --project DIR ARGS` with the key `key` and HOME `dir`, with the
/// kubeconfig `config`.
pub fn ksec_project_on(config: &Path, dir: &Path, key: &super::Key, args: &[&str]) -> super::Ksec {
    let mut cmd = super::ksec_with(dir, key);
    cmd.env("KUBECONFIG", config)
        .arg("--project")
        .arg(dir)
        .args(args);
    cmd
}

/// `kubectl` against the test cluster as `context` (admin, alice, bob, nobody).
pub fn kubectl(context: &str, args: &[&str]) -> std::process::Output {
    kubectl_on(kubeconfig(), context, args)
}

/// `kubectl` with the kubeconfig `config` as `context`.
pub fn kubectl_on(config: &Path, context: &str, args: &[&str]) -> std::process::Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(config)
        .arg("--context")
        .arg(context)
        .args(args)
        .output()
        .expect("kubectl runs (it is required for these tests)")
}

/// `kubectl` that must succeed; its stdout.
pub fn kubectl_ok(context: &str, args: &[&str]) -> String {
    let out = kubectl(context, args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `kubectl apply -f -` of `manifest` as `context`.
pub fn kubectl_apply_stdin(context: &str, manifest: &str) {
    kubectl_stdin(context, &["apply", "-f", "-"], manifest);
}

/// `kubectl ARGS` as `context` with `input` on stdin; must succeed.
pub fn kubectl_stdin(context: &str, args: &[&str], input: &str) {
    let out = kubectl_input(context, args, input.as_bytes());
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kubectl ARGS` as `context` with `input` on stdin; its output.
pub fn kubectl_input(context: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .args(["--context", context])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Objects of a kind in a namespace: name -> object.
pub fn objects(ns: &str, kind: &str) -> serde_json::Map<String, Value> {
    let out = kubectl_ok("admin", &["get", kind, "-n", ns, "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["metadata"]["name"] != "kube-root-ca.crt")
        .map(|o| {
            (
                o["metadata"]["name"].as_str().unwrap().to_string(),
                o.clone(),
            )
        })
        .collect()
}

/// Flux's Kustomization CRD (tests/fixtures/flux), installed once on the
/// test cluster. kube-apiserver 1.20 does not know the CRD's
/// `x-kubernetes-validations`, so it is created without client validation
/// (the server drops that field and enforces the rest of the schema).
pub fn flux_crd() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        const NAME: &str = "customresourcedefinition/kustomizations.kustomize.toolkit.fluxcd.io";
        if !kubectl("admin", &["get", NAME]).status.success() {
            let crd =
                repo().join("tests/fixtures/flux/kustomizations.kustomize.toolkit.fluxcd.io.yaml");
            let out = kubectl(
                "admin",
                &["create", "--validate=false", "-f", crd.to_str().unwrap()],
            );
            // another test binary may have created it in the meantime
            let text = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() || text.contains("AlreadyExists"),
                "creating Flux's CRD failed: {text}"
            );
        }
        kubectl_ok(
            "admin",
            &[
                "wait",
                "--for",
                "condition=established",
                "--timeout=60s",
                NAME,
            ],
        );
    });
}

/// Creates the namespaces as admin.
pub fn create_namespaces(names: &[&str]) {
    for ns in names {
        kubectl_ok("admin", &["create", "namespace", ns]);
    }
}

/// stdout and stderr of a command, for messages and canary checks.
pub fn text(out: &std::process::Output) -> String {
    super::all_output(out)
}

/// `Kind/name` -> resourceVersion of the objects in `items` (as `kubectl get
/// -o json` lists them), to prove what a run did not write.
pub fn resource_versions<'a>(
    items: impl IntoIterator<Item = &'a Value>,
) -> std::collections::BTreeMap<String, String> {
    items
        .into_iter()
        .map(|o| {
            let kind = o["kind"].as_str().unwrap();
            let name = o["metadata"]["name"].as_str().unwrap();
            let version = o["metadata"]["resourceVersion"].as_str().unwrap();
            (format!("{kind}/{name}"), version.to_string())
        })
        .collect()
}
