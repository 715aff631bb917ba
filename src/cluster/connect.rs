//! Reaching the cluster: which kubeconfig file, which context and server,
//! how long to wait, and errors that name them and say what to do.
//!
//! A kubeconfig holds credentials: nothing read from it is ever printed
//! except file paths, context names and server URLs (never a parser's
//! snippet of the file).

use crate::error::{Code, Error, Result};
use kube::config::{Kubeconfig, KubeconfigError};
use std::path::PathBuf;
use std::time::Duration;

/// The connect timeout unless `KSEC_CONNECT_TIMEOUT` says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may wait for the server's answer unless
/// `KSEC_TIMEOUT` says otherwise.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait for the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}

/// The timeouts, from `KSEC_CONNECT_TIMEOUT` and `KSEC_TIMEOUT` (seconds).
pub fn timeouts() -> Result<Timeouts> {
    let var = |name: &str| std::env::var(name).ok();
    timeouts_from(
        var("KSEC_CONNECT_TIMEOUT").as_deref(),
        var("KSEC_TIMEOUT").as_deref(),
    )
}

fn timeouts_from(connect: Option<&str>, read: Option<&str>) -> Result<Timeouts> {
    Ok(Timeouts {
        connect: seconds("KSEC_CONNECT_TIMEOUT", connect)?.unwrap_or(CONNECT_TIMEOUT),
        read: seconds("KSEC_TIMEOUT", read)?.unwrap_or(READ_TIMEOUT),
    })
}

/// A positive number of seconds (fractions allowed), at most a day.
fn seconds(name: &str, text: Option<&str>) -> Result<Option<Duration>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(Error::invalid(format!(
            "{name}={text:?} is not a number of seconds"
        ))
        .hint(format!(
            "set {name} to a positive number of seconds (at most 86400), e.g. {name}=30, or unset it"
        ))),
    }
}

/// The kubeconfig files kubectl would read: each of `KUBECONFIG` (merged,
/// the first to set a value wins), else `~/.kube/config`.
pub fn kubeconfig_paths() -> Vec<PathBuf> {
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    std::env::var_os("HOME")
        .map(|home| vec![PathBuf::from(home).join(".kube").join("config")])
        .unwrap_or_default()
}

/// Read and merge the kubeconfig files. A file that is missing is skipped
/// when another exists (as kubectl does); none at all is not-found; one
/// that cannot be parsed is invalid, naming it (and the line, when known).
pub fn load_kubeconfig() -> Result<Kubeconfig> {
    let paths = kubeconfig_paths();
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut merged: Option<Kubeconfig> = None;
    for path in &paths {
        if !path.exists() {
            continue;
        }
        let config = Kubeconfig::read_from(path).map_err(|e| unreadable(path, &e))?;
        merged = Some(match merged {
            None => config,
            Some(m) => m.merge(config).map_err(|e| unreadable(path, &e))?,
        });
    }
    merged.ok_or_else(|| {
        Error::not_found(if shown.is_empty() {
            "no kubeconfig: KUBECONFIG is not set and there is no home directory".to_string()
        } else {
            format!("no kubeconfig: {shown} does not exist")
        })
        .hint("set KUBECONFIG to your kubeconfig file, or create ~/.kube/config")
    })
}

fn unreadable(path: &std::path::Path, err: &KubeconfigError) -> Error {
    match err {
        KubeconfigError::ReadConfig(io, _) => Error::io("read the kubeconfig", path, io),
        KubeconfigError::Parse(parse) => {
            let at = parse
                .location()
                .map(|l| format!(" (line {})", l.line()))
                .unwrap_or_default();
            Error::invalid(format!(
                "the kubeconfig {} is not a valid kubeconfig{at}",
                path.display()
            ))
            .hint("fix the file (`kubectl config view` shows what kubectl makes of it), or point KUBECONFIG at another one")
        }
        other => Error::invalid(format!(
            "the kubeconfig {} cannot be used: {other}",
            path.display()
        ))
        .hint("fix the file, or point KUBECONFIG at another one"),
    }
}

/// Where requests go, for messages: the context and the server URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub context: String,
    pub server: String,
}

impl Target {
    fn at(&self) -> String {
        format!("the API server {} (context {})", self.server, self.context)
    }

    /// An error for a request that failed: credentials refused (401),
    /// no answer (connection refused, timeout, TLS), or `other` for the
    /// server's answers (forbidden, invalid, conflict…).
    pub fn error(
        &self,
        what: &str,
        err: &kube::Error,
        other: impl FnOnce(&str, &kube::Error) -> Error,
    ) -> Error {
        match err {
            kube::Error::Api(status) if status.code == 401 => Error::new(
                Code::AccessDenied,
                format!(
                    "{what}: {} refused the credentials (401 Unauthorized)",
                    self.at()
                ),
            )
            .hint(format!(
                "refresh the credentials of context {} (a new token, or log in again), then rerun",
                self.context
            )),
            kube::Error::Api(_) => other(what, err),
            _ => self.unreachable(what, err),
        }
    }

    /// The server did not answer: say which server, why in a few words,
    /// and what to do.
    pub fn unreachable(&self, what: &str, err: &(dyn std::error::Error + 'static)) -> Error {
        let why = transport_reason(err);
        let hint = if is_timeout(err) {
            "check that the server is up and not overloaded; KSEC_CONNECT_TIMEOUT and KSEC_TIMEOUT (seconds) set how long ksec waits"
        } else {
            "check that the cluster is up and that KUBECONFIG and the context are right"
        };
        Error::new(
            Code::Unavailable,
            format!("{what}: cannot reach {}: {why}", self.at()),
        )
        .hint(hint)
    }
}

/// The errors of a chain, outermost first.
fn chain<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = vec![err];
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push(e);
        cur = e.source();
        if out.len() > 16 {
            break;
        }
    }
    out
}

/// Whether a transport error is a timeout (connect or read).
pub fn is_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    chain(err).iter().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.is::<tokio::time::error::Elapsed>()
            || e.to_string().to_ascii_lowercase().contains("timed out")
    })
}

/// A few words on why a request got no answer.
fn transport_reason(err: &(dyn std::error::Error + 'static)) -> String {
    let errors = chain(err);
    if is_timeout(err) {
        return "no answer in time (timed out)".into();
    }
    for e in &errors {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return "connection refused".into(),
                ConnectionReset => return "connection reset by the server".into(),
                ConnectionAborted => return "connection aborted".into(),
                UnexpectedEof => return "the server closed the connection".into(),
                _ => {}
            }
        }
    }
    // the innermost cause says the most (e.g. a TLS or DNS failure)
    let last = errors.last().map(|e| e.to_string()).unwrap_or_default();
    if last.is_empty() {
        "no answer".into()
    } else {
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_default_and_are_overridable_in_seconds() {
        assert_eq!(
            timeouts_from(None, None).unwrap(),
            Timeouts {
                connect: CONNECT_TIMEOUT,
                read: READ_TIMEOUT
            }
        );
        let t = timeouts_from(Some("2"), Some("0.5")).unwrap();
        assert_eq!(t.connect, Duration::from_secs(2));
        assert_eq!(t.read, Duration::from_millis(500));
        for bad in ["0", "-1", "ten", "1e9", "NaN"] {
            let e = timeouts_from(None, Some(bad)).unwrap_err();
            assert_eq!(e.code, Code::Invalid, "{bad}");
            assert!(e.message.contains("KSEC_TIMEOUT"), "{}", e.message);
        }
    }

    #[test]
    fn transport_reasons_are_a_few_plain_words() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(transport_reason(&refused), "connection refused");
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert!(is_timeout(&timed_out));
        assert_eq!(
            transport_reason(&timed_out),
            "no answer in time (timed out)"
        );
        assert!(!is_timeout(&refused));
    }
}
