//! A fault-injecting HTTPS proxy between ksec and a real kube-apiserver.
//!
//! It terminates TLS with a throwaway certificate of its own (made with
//! `openssl` for each proxy), reads each HTTP/1.1 request, and either
//! forwards it over its own TLS connection to the API server (the bearer
//! token passes through untouched) or injects a fault: added latency, an
//! answer of its own (429 with `Retry-After`, 503), or a connection reset
//! before answering or halfway through reading the request. Faults are
//! scripted per test: for the first K requests that match, or for ever.
//!
//! It records every request (method, path with query, when it came and
//! what it got) and the most requests it held in flight at once: from a
//! request fully read until its answer starts going back.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConnection, ServerConnection, StreamOwned};

/// What the proxy does to a matching request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Wait, then forward.
    Delay(Duration),
    /// Answer this status itself (a Kubernetes `Status` body), with a
    /// `Retry-After: N` header when given.
    Status { code: u16, retry_after: Option<u64> },
    /// Read the whole request, then reset the connection without answering.
    ResetBeforeAnswer,
    /// Read the request's head but not its body, then reset the connection.
    ResetMidRequest,
    /// Forward, record the answer, then hold it back until
    /// [`Proxy::release`]: the write has landed but its client has not
    /// heard so, for a test to kill the client right there.
    HoldAnswer,
}

/// What a request got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The API server's answer, with its status.
    Forwarded(u16),
    /// The proxy's own answer.
    Injected(u16),
    /// A connection reset (by a fault, or the API server was gone).
    Reset,
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// When the request (or its head, for `ResetMidRequest`) was read.
    pub at: Instant,
    pub answer: Answer,
}

impl Seen {
    /// A real write: a PATCH or DELETE that is not a dry run.
    pub fn is_write(&self) -> bool {
        is_write(&self.method, &self.path)
    }
}

/// A PATCH or DELETE that is not a dry run.
pub fn is_write(method: &str, path: &str) -> bool {
    matches!(method, "PATCH" | "DELETE") && !path.contains("dryRun")
}

type Matcher = Box<dyn Fn(&str, &str) -> bool + Send>;

struct Rule {
    matches: Matcher,
    fault: Fault,
    /// How many more requests it applies to (None: all).
    left: Option<usize>,
}

#[derive(Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    changed: Condvar,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Answers held by [`Fault::HoldAnswer`] may go.
    released: Mutex<bool>,
    on_release: Condvar,
}

pub struct Proxy {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// A copy of the cluster's kubeconfig whose server is the proxy.
    pub kubeconfig: PathBuf,
    state: Arc<State>,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// A proxy in front of the API server of `kubeconfig` (as written by
    /// `scripts/kube-up.sh`: one cluster, `server` and
    /// `certificate-authority` lines).
    pub fn start(kubeconfig: &Path) -> Proxy {
        let text = std::fs::read_to_string(kubeconfig).unwrap();
        let value = |key: &str| -> String {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {}", kubeconfig.display()))
                .trim()
                .to_string()
        };
        let server = value("server:");
        let ca = value("certificate-authority:");
        let upstream = server.strip_prefix("https://").unwrap().to_string();

        let dir = tempfile::tempdir().unwrap();
        let (cert, key, proxy_ca) = certificate(dir.path());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    CertificateDer::pem_file_iter(&cert)
                        .unwrap()
                        .map(Result::unwrap)
                        .collect(),
                    PrivateKeyDer::from_pem_file(&key).unwrap(),
                )
                .unwrap(),
        );
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(
            CertificateDer::pem_file_iter(&ca)
                .unwrap()
                .map(Result::unwrap),
        );
        let client_config = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        {
            let state = state.clone();
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { continue };
                    let connection = Connection {
                        state: state.clone(),
                        server_config: server_config.clone(),
                        client_config: client_config.clone(),
                        upstream: upstream.clone(),
                    };
                    std::thread::spawn(move || connection.serve(client));
                }
            });
        }

        let copy = dir.path().join("kubeconfig");
        std::fs::write(
            &copy,
            text.replace(&server, &url)
                .replace(&ca, proxy_ca.to_str().unwrap()),
        )
        .unwrap();
        Proxy {
            url,
            kubeconfig: copy,
            state,
            _dir: dir,
        }
    }

    /// Apply `fault` to the requests (method, path with query) that
    /// `matches`: the first `times` of them, or all when None. Rules are
    /// tried in the order they were added; the first that applies wins.
    pub fn fault(
        &self,
        times: Option<usize>,
        matches: impl Fn(&str, &str) -> bool + Send + 'static,
        fault: Fault,
    ) {
        self.state.rules.lock().unwrap().push(Rule {
            matches: Box::new(matches),
            fault,
            left: times,
        });
    }

    /// Remove every fault.
    pub fn clear_faults(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    /// Every request seen so far, in the order they were answered.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Let every answer held by [`Fault::HoldAnswer`] go (now and later).
    pub fn release(&self) {
        *self.state.released.lock().unwrap() = true;
        self.state.on_release.notify_all();
    }

    /// Forget the requests seen and the in-flight maximum.
    pub fn forget(&self) {
        self.state.seen.lock().unwrap().clear();
        self.state.max_in_flight.store(0, Ordering::SeqCst);
    }

    /// The most requests in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Wait until `n` requests seen satisfy `which` (panics after `limit`).
    pub fn wait_for(&self, n: usize, limit: Duration, which: impl Fn(&Seen) -> bool) {
        let seen = self.state.seen.lock().unwrap();
        let (seen, timeout) = self
            .state
            .changed
            .wait_timeout_while(seen, limit, |seen| {
                seen.iter().filter(|s| which(s)).count() < n
            })
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "the proxy saw only {} of {n} such requests in {limit:?}",
            seen.iter().filter(|s| which(s)).count()
        );
    }
}

impl Drop for Proxy {
    /// No connection thread stays held.
    fn drop(&mut self) {
        self.release();
    }
}

/// A CA and a serving certificate for 127.0.0.1 signed by it: (cert, key, ca).
fn certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl runs (scripts/setup.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        &[
            &["req", "-x509", "-nodes", "-days", "2"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-subj",
                "/CN=ksec test proxy CA",
            ],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req", "-nodes"][..],
            &ec,
            &[
                "-keyout",
                "proxy.key",
                "-out",
                "proxy.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "proxy.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "1",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "proxy.crt",
    ]);
    (
        dir.join("proxy.crt"),
        dir.join("proxy.key"),
        dir.join("ca.crt"),
    )
}

type Downstream = BufReader<StreamOwned<ServerConnection, TcpStream>>;
type Upstream = BufReader<StreamOwned<ClientConnection, TcpStream>>;

struct Connection {
    state: Arc<State>,
    server_config: Arc<rustls::ServerConfig>,
    client_config: Arc<rustls::ClientConfig>,
    upstream: String,
}

/// One HTTP message's head (start line and headers, raw) and body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

/// Read a head up to its empty line; None at a clean end of stream.
fn read_head(from: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let start = head.len();
        if from.read_until(b'\n', &mut head)? == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        if &head[start..] == b"\r\n" {
            return Ok(Some(head));
        }
    }
}

/// A header's value (first one, case-insensitive name).
fn header(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head).lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// The body after `head`: by Content-Length, chunked (kept raw), or none.
fn read_body(from: &mut impl BufRead, head: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if header(head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let start = body.len();
            from.read_until(b'\n', &mut body)?;
            let line = String::from_utf8_lossy(&body[start..]).to_string();
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // trailers, up to the empty line
                loop {
                    let start = body.len();
                    if from.read_until(b'\n', &mut body)? == 0 || &body[start..] == b"\r\n" {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size + 2, 0);
            from.read_exact(&mut body[start..])?;
        }
    }
    if let Some(length) = header(head, "content-length") {
        let length: usize = length.parse().map_err(std::io::Error::other)?;
        body.resize(length, 0);
        from.read_exact(&mut body)?;
    }
    Ok(body)
}

/// Reset the connection (RST, not FIN).
#[allow(unsafe_code, reason = "libc: setsockopt SO_LINGER")]
fn reset(socket: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = socket.shutdown(std::net::Shutdown::Both);
}

fn status_of(head: &[u8]) -> u16 {
    String::from_utf8_lossy(head)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Connection {
    fn serve(self, client: TcpStream) {
        let Ok(tls) = ServerConnection::new(self.server_config.clone()) else {
            return;
        };
        let mut down: Downstream = BufReader::new(StreamOwned::new(tls, client));
        let mut up: Option<Upstream> = None;
        while let Ok(Some(head)) = read_head(&mut down) {
            let text = String::from_utf8_lossy(&head).to_string();
            let mut words = text.split_whitespace();
            let method = words.next().unwrap_or("").to_string();
            let path = words.next().unwrap_or("").to_string();
            let fault = self.fault(&method, &path);
            if matches!(fault, Some(Fault::ResetMidRequest)) {
                self.record(&method, &path, Instant::now(), Answer::Reset);
                reset(&down.get_ref().sock);
                return;
            }
            let Ok(body) = read_body(&mut down, &head) else {
                return;
            };
            let at = Instant::now();
            let in_flight = self.state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.state
                .max_in_flight
                .fetch_max(in_flight, Ordering::SeqCst);
            let request = Message { head, body };
            let (answer, response) = match fault {
                Some(Fault::Status { code, retry_after }) => {
                    (Answer::Injected(code), Some(injected(code, retry_after)))
                }
                Some(Fault::ResetBeforeAnswer) => (Answer::Reset, None),
                Some(Fault::Delay(d)) => {
                    std::thread::sleep(d);
                    self.forward(&mut up, &request)
                }
                Some(Fault::ResetMidRequest | Fault::HoldAnswer) | None => {
                    self.forward(&mut up, &request)
                }
            };
            self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.record(&method, &path, at, answer);
            if matches!(fault, Some(Fault::HoldAnswer)) {
                let released = self.state.released.lock().unwrap();
                drop(self.state.on_release.wait_while(released, |r| !*r).unwrap());
            }
            let Some(response) = response else {
                reset(&down.get_ref().sock);
                return;
            };
            let stream = down.get_mut();
            if stream.write_all(&response.head).is_err()
                || stream.write_all(&response.body).is_err()
                || stream.flush().is_err()
            {
                return;
            }
        }
    }

    /// The fault of the first rule that applies, counting it down.
    fn fault(&self, method: &str, path: &str) -> Option<Fault> {
        let mut rules = self.state.rules.lock().unwrap();
        let rule = rules
            .iter_mut()
            .find(|r| r.left != Some(0) && (r.matches)(method, path))?;
        if let Some(left) = &mut rule.left {
            *left -= 1;
        }
        Some(rule.fault.clone())
    }

    fn record(&self, method: &str, path: &str, at: Instant, answer: Answer) {
        self.state.seen.lock().unwrap().push(Seen {
            method: method.to_string(),
            path: path.to_string(),
            at,
            answer,
        });
        self.state.changed.notify_all();
    }

    /// Send to the API server (on this connection's upstream connection,
    /// or a new one) and read its answer; a reset when it cannot be reached.
    fn forward(&self, up: &mut Option<Upstream>, request: &Message) -> (Answer, Option<Message>) {
        // a kept connection the server closed meanwhile gets one new try
        for _ in 0..2 {
            let fresh = up.is_none();
            if fresh {
                *up = self.connect();
            }
            let Some(stream) = up.as_mut() else {
                return (Answer::Reset, None);
            };
            let sent = {
                let s = stream.get_mut();
                s.write_all(&request.head)
                    .and_then(|()| s.write_all(&request.body))
                    .and_then(|()| s.flush())
            };
            let answer = sent.and_then(|()| match read_head(stream)? {
                Some(head) => {
                    let body = read_body(stream, &head)?;
                    Ok(Message { head, body })
                }
                None => Err(std::io::ErrorKind::UnexpectedEof.into()),
            });
            match answer {
                Ok(response) => {
                    return (Answer::Forwarded(status_of(&response.head)), Some(response));
                }
                Err(_) => {
                    *up = None;
                    if fresh {
                        break;
                    }
                }
            }
        }
        (Answer::Reset, None)
    }

    fn connect(&self) -> Option<Upstream> {
        let tcp = TcpStream::connect(&self.upstream).ok()?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = ClientConnection::new(self.client_config.clone(), name).ok()?;
        Some(BufReader::new(StreamOwned::new(tls, tcp)))
    }
}

/// The proxy's own answer: a Kubernetes `Status`.
fn injected(code: u16, retry_after: Option<u64>) -> Message {
    let reason = match code {
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    };
    let body = format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"injected by the test proxy","reason":"{reason}","code":{code}}}"#
    )
    .into_bytes();
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(seconds) = retry_after {
        head.push_str(&format!("Retry-After: {seconds}\r\n"));
    }
    head.push_str("\r\n");
    Message {
        head: head.into_bytes(),
        body,
    }
}
