//! A command on a pseudo-terminal from util-linux `script`, and its output
//! read while it runs (to answer a prompt once it is shown).

use super::{KEY_VARS, Key};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// `timeout 30 SCRIPT -qec LINE /dev/null`: the shell command line `line`
/// on a pseudo-terminal, with HOME `home`, the key in KSEC_AGE_KEY_FILE, no
/// other key variables, TERM=xterm and no Secret Service; stdin, stdout and
/// stderr piped. `script` is the path of util-linux `script`.
pub fn on_terminal(script: &Path, line: &str, home: &Path, key: &Key) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg("30").arg(script).args(["-qec", line, "/dev/null"]);
    for var in KEY_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
        .env("KSEC_AGE_KEY_FILE", &key.file)
        .env("TERM", "xterm")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The stdout of a running child, collected by a thread as it comes.
pub struct Transcript {
    bytes: Arc<Mutex<Vec<u8>>>,
    reader: JoinHandle<()>,
}

impl Transcript {
    /// Takes over the (piped) stdout of `child`.
    pub fn read(child: &mut Child) -> Transcript {
        let mut stdout = child.stdout.take().unwrap();
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let bytes = bytes.clone();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    bytes.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        Transcript { bytes, reader }
    }

    /// Whether the output so far holds `what`.
    pub fn contains(&self, what: &str) -> bool {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).contains(what)
    }

    /// Waits (800 times 25 ms at most) until the output holds `what`;
    /// whether it does.
    pub fn wait_for(&self, what: &str) -> bool {
        for _ in 0..800 {
            if self.contains(what) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        self.contains(what)
    }

    /// Types `keys` into the child's stdin, which stays open until the
    /// child has exited (`script` may end the session when its input ends);
    /// then the child's exit status and the whole output, which is recorded
    /// for the canary scan (a secret typed at a prompt must not echo).
    pub fn type_and_wait(self, child: &mut Child, keys: &[u8]) -> (ExitStatus, String) {
        let mut stdin = child.stdin.take().unwrap();
        use std::io::Write;
        stdin.write_all(keys).unwrap();
        stdin.flush().unwrap();
        let status = child.wait().unwrap();
        drop(stdin);
        self.reader.join().unwrap();
        let text = String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned();
        super::canary::append(serde_json::json!({
            "args": ["(a terminal session)"],
            "secret_stdout": false,
            "stdout": text,
            "stderr": "",
            "files": [],
            "files_checked": 0,
        }));
        (status, text)
    }
}
