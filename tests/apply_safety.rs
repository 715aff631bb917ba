//! An apply never stops half-way, and cluster errors say what to do:
//! against the real kube-apiserver of `common/kube.rs` (each test in
//! namespaces of its own) and against local TCP listeners that refuse or
//! never answer.

mod common;

use common::kube::{kubeconfig, kubectl_ok, text, unique};
use common::{CANARY, Key, code, ksec_with};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A project with one environment `test` bound to `context` and the
/// namespaces section `namespaces` (YAML, indented by two).
struct Project {
    dir: tempfile::TempDir,
    key: Key,
    /// None: the test control plane's.
    kubeconfig: Option<PathBuf>,
}

impl Project {
    fn new(context: &str, namespaces: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(dir.path(), "key");
        let yaml = format!(
            "version: 1\nproject: {}\nrecipients:\n  me: {}\nenvironments:\n  test:\n    context: {context}\nnamespaces:\n{namespaces}",
            unique("p"),
            key.recipient
        );
        std::fs::write(dir.path().join("ksec.yaml"), yaml).unwrap();
        Project {
            dir,
            key,
            kubeconfig: None,
        }
    }

    fn ksec(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = ksec_with(self.dir.path(), &self.key);
        let kubeconfig = match &self.kubeconfig {
            Some(path) => path.clone(),
            None => kubeconfig().to_path_buf(),
        };
        cmd.env("KUBECONFIG", kubeconfig)
            .env_remove("KSEC_TIMEOUT")
            .env_remove("KSEC_CONNECT_TIMEOUT")
            .arg("--project")
            .arg(self.dir.path())
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let out = self.ksec(args).output().unwrap();
        assert!(
            !text(&out).contains(CANARY),
            "a secret value leaked:\n{}",
            text(&out)
        );
        out
    }
}

// --- 5. cluster errors ---------------------------------------------------

/// A kubeconfig with one context `ctx` whose server is `server`.
fn kubeconfig_for(dir: &Path, server: &str, token: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: ctx\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: ctx\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user: {{token: {token}}}\n"
        ),
    )
    .unwrap();
    path
}

fn config_project(kubeconfig: PathBuf) -> Project {
    let mut p = Project::new(
        "ctx",
        "  team:\n    recipients: [me]\n    configMaps:\n      - name: cfg\n        literals: {A: b}\n",
    );
    p.kubeconfig = Some(kubeconfig);
    p
}

#[test]
fn a_malformed_kubeconfig_is_invalid_and_named_without_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nusers:\n- name: u\n  user: {token: tok-7f3a9c1e-secret\ncontexts: [\n",
    )
    .unwrap();
    let p = config_project(path.clone());
    for args in [&["apply", "--yes"][..], &["diff"][..]] {
        let out = p.run(args);
        assert_eq!(code(&out), Some(6), "{}", text(&out));
        let err = text(&out);
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("not a valid kubeconfig"), "{err}");
        assert!(
            !err.contains("tok-7f3a9c1e"),
            "the kubeconfig's content leaked: {err}"
        );
        assert!(!err.contains("create ~/.kube/config"), "{err}");
    }
    // a missing one stays not-found, naming it
    let p = config_project(dir.path().join("absent"));
    let out = p.run(&["diff"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("absent does not exist"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_wrong_token_is_an_authentication_error_naming_context_and_server() {
    let view = kubectl_ok(
        "admin",
        &["config", "view", "--raw", "--minify", "-o", "json"],
    );
    let view: Value = serde_json::from_str(&view).unwrap();
    let server = view["clusters"][0]["cluster"]["server"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = config_project(kubeconfig_for(dir.path(), server, "not-a-valid-token"));
    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(7), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains("refused the credentials (401 Unauthorized)"),
        "{err}"
    );
    assert!(err.contains(&format!("{server} (context ctx)")), "{err}");
    assert!(
        err.contains("refresh the credentials of context ctx"),
        "{err}"
    );
    assert!(!err.contains("not-a-valid-token"), "{err}");
}

#[test]
fn a_closed_port_is_unavailable_naming_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = format!("https://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let p = config_project(kubeconfig_for(dir.path(), &server, "t"));
    let out = p.run(&["apply", "--yes"]);
    assert_eq!(code(&out), Some(9), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains(&format!(
            "cannot reach the API server {server} (context ctx)"
        )),
        "{err}"
    );
    assert!(err.contains("connection refused"), "{err}");
}

/// A listener that accepts connections and never answers; its URL.
fn silent_server(scheme: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            held.push(stream);
        }
    });
    format!("{scheme}://127.0.0.1:{port}")
}

#[test]
fn a_server_that_never_answers_times_out_naming_the_url() {
    // https: the TLS handshake gets no answer (connect timeout);
    // http: the request gets no answer (read timeout)
    for (scheme, var) in [("https", "KSEC_CONNECT_TIMEOUT"), ("http", "KSEC_TIMEOUT")] {
        let server = silent_server(scheme);
        let dir = tempfile::tempdir().unwrap();
        let p = config_project(kubeconfig_for(dir.path(), &server, "t"));
        let out = p.ksec(&["diff"]).env(var, "1").output().unwrap();
        assert_eq!(code(&out), Some(9), "{scheme}: {}", text(&out));
        let err = text(&out);
        assert!(
            err.contains(&format!(
                "cannot reach the API server {server} (context ctx)"
            )),
            "{err}"
        );
        assert!(err.contains("timed out"), "{err}");
        assert!(err.contains("KSEC_TIMEOUT"), "{err}");
    }
    let p = config_project(PathBuf::from("/nonexistent"));
    let out = p
        .ksec(&["diff"])
        .env("KSEC_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(6), "{}", text(&out));
    assert!(
        text(&out).contains("KSEC_TIMEOUT=\"soon\""),
        "{}",
        text(&out)
    );
}
