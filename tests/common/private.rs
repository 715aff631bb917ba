//! A control plane of a test's own, started by `scripts/kube-up.sh` in a
//! temporary folder, for tests that kill its kube-apiserver (and start it
//! again on the same etcd); stopped by `scripts/kube-down.sh` on drop.

use super::kube::repo;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A control plane of the test's own (it gets killed); stopped on drop.
pub struct Private(
    tempfile::TempDir,
    std::cell::RefCell<Option<std::process::Child>>,
);

impl Private {
    pub fn start() -> Private {
        let dir = tempfile::tempdir().unwrap();
        let up = Command::new(repo().join("scripts/kube-up.sh"))
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        Private(dir, std::cell::RefCell::new(None))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    pub fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.path("kubeconfig"))
            .args(["--context", "admin"])
            .args(args)
            .output()
            .unwrap()
    }

    /// SIGKILL kube-apiserver; returns its command line.
    pub fn kill_apiserver(&self) -> Vec<String> {
        let pid = std::fs::read_to_string(self.path("kube-apiserver.pid")).unwrap();
        let pid = pid.trim();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let argv = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert!(
            Command::new("kill")
                .args(["-KILL", pid])
                .status()
                .unwrap()
                .success()
        );
        argv
    }

    /// Start kube-apiserver again with `argv` (same etcd, port, certificate
    /// and tokens) and wait until it is ready.
    pub fn restart_apiserver(&self, argv: &[String]) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.path("kube-apiserver.log"))
            .unwrap();
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        // kube-down.sh stops it by this file
        std::fs::write(self.path("kube-apiserver.pid"), child.id().to_string()).unwrap();
        *self.1.borrow_mut() = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !self.kubectl(&["get", "--raw", "/readyz"]).status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "kube-apiserver not ready 60 s after its restart"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/kube-down.sh"))
            .arg(self.0.path())
            .status();
        if let Some(mut child) = self.1.borrow_mut().take() {
            let _ = child.wait();
        }
    }
}
