//! `ksec check --expiring-within DURATION`: the certificates of every
//! Secret (a `kubernetes.io/tls` Secret's `tls.crt`, and any value holding
//! PEM certificates, every one of a chain) that expire within DURATION of
//! now (`KSEC_NOW` fixes it) or have expired. Prints subject, namespace,
//! Secret, source file, key and date; never a certificate or a key.

use crate::clock;
use crate::commands::{Context, table};
use crate::error::{Code, Error, Result};
use crate::guard::certs::{self, Standing};
use crate::load;
use crate::project::Project;
use secrecy::ExposeSecret;
use serde_json::json;
use std::time::Duration;

/// A certificate that expires within the window, or has expired.
struct Due {
    namespace: String,
    secret: String,
    source: String,
    key: String,
    /// 1-based position in the value, and how many blocks it holds.
    position: (usize, usize),
    subject: String,
    not_after: jiff::Timestamp,
    expired: bool,
    days: i64,
}

/// A certificate value (or a source) that could not be read.
struct Unreadable {
    namespace: String,
    secret: String,
    source: String,
    key: Option<String>,
    message: String,
}

/// What the report found.
pub struct Report {
    within: String,
    now: jiff::Timestamp,
    due: Vec<Due>,
    problems: Vec<Unreadable>,
    /// Certificates read, and the Secrets they are in.
    certificates: usize,
    secrets: usize,
}

/// Decrypt every Secret source of the project and find its certificates.
pub fn report(within: &str, ctx: &Context) -> Result<Report> {
    let window: Duration = clock::parse_duration(within).map_err(|why| {
        Error::usage(format!("--expiring-within {why}"))
            .hint("write a length of time like 30d, 4w or 72h")
    })?;
    let now = clock::now().map_err(|why| {
        Error::usage(why).hint(format!("unset {} to use the system clock", clock::NOW_VAR))
    })?;
    // whole seconds: what the report prints, and all a notAfter holds
    let now = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let values = load::every_secret_source(&project, ctx)?;
    let mut report = Report {
        within: within.trim().to_string(),
        now,
        due: Vec::new(),
        problems: Vec::new(),
        certificates: 0,
        secrets: 0,
    };
    let mut with_certs = std::collections::BTreeSet::new();
    for source in &values.sources {
        let namespace = source.namespace.name.clone();
        let secret = source.secret.name.clone();
        let file = source.path.to_string_lossy().replace('\\', "/");
        let pairs = match values.opened.get(&source.path) {
            Some(Ok(pairs)) => pairs,
            Some(Err(message)) => {
                report.problems.push(Unreadable {
                    namespace,
                    secret,
                    source: file,
                    key: None,
                    message: message.clone(),
                });
                continue;
            }
            None => continue,
        };
        for (key, value) in pairs {
            let kind = source.secret.kind.as_deref();
            let Some(blocks) = certs::in_secret_value(kind, key, value.expose_secret()) else {
                continue;
            };
            with_certs.insert((namespace.clone(), secret.clone()));
            let count = blocks.len();
            for block in blocks {
                let cert = match block.cert {
                    Ok(cert) => cert,
                    Err(message) => {
                        let at = if count > 1 {
                            format!("certificate {} of {count}: ", block.position)
                        } else {
                            String::new()
                        };
                        report.problems.push(Unreadable {
                            namespace: namespace.clone(),
                            secret: secret.clone(),
                            source: file.clone(),
                            key: Some(key.clone()),
                            message: format!("{at}{message}"),
                        });
                        continue;
                    }
                };
                report.certificates += 1;
                let standing = certs::standing(cert.not_after, now, window);
                if standing == Standing::Fine {
                    continue;
                }
                report.due.push(Due {
                    namespace: namespace.clone(),
                    secret: secret.clone(),
                    source: file.clone(),
                    key: key.clone(),
                    position: (block.position, count),
                    subject: cert.subject,
                    not_after: cert.not_after,
                    expired: standing == Standing::Expired,
                    days: certs::days_between(now, cert.not_after),
                });
            }
        }
    }
    report.secrets = with_certs.len();
    report.due.sort_by(|a, b| {
        (a.not_after, &a.namespace, &a.secret, &a.key, a.position.0).cmp(&(
            b.not_after,
            &b.namespace,
            &b.secret,
            &b.key,
            b.position.0,
        ))
    });
    Ok(report)
}

impl Report {
    pub fn json(&self) -> serde_json::Value {
        json!({
            "expiringWithin": self.within,
            "now": self.now.to_string(),
            "certificates": self.due.iter().map(|d| json!({
                "namespace": d.namespace,
                "secret": d.secret,
                "source": d.source,
                "key": d.key,
                "position": d.position.0,
                "of": d.position.1,
                "subject": d.subject,
                "notAfter": d.not_after.to_string(),
                "status": if d.expired { "expired" } else { "expiring" },
                "days": d.days,
            })).collect::<Vec<_>>(),
            "problems": self.problems.iter().map(|p| json!({
                "namespace": p.namespace,
                "secret": p.secret,
                "source": p.source,
                "key": p.key,
                "message": p.message,
            })).collect::<Vec<_>>(),
            "checked": self.certificates,
        })
    }

    /// A table of the certificates due, the problems, and a summary line.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if !self.due.is_empty() {
            let mut rows = vec![[
                "NAMESPACE".to_string(),
                "SECRET".into(),
                "KEY".into(),
                "SOURCE".into(),
                "SUBJECT".into(),
                "NOT AFTER".into(),
                "STATUS".into(),
            ]];
            for d in &self.due {
                let key = match d.position {
                    (_, 1) => d.key.clone(),
                    (at, of) => format!("{} ({at} of {of})", d.key),
                };
                let subject = if d.subject.is_empty() {
                    "(no subject)".to_string()
                } else {
                    d.subject.clone()
                };
                rows.push([
                    d.namespace.clone(),
                    d.secret.clone(),
                    key,
                    d.source.clone(),
                    subject,
                    d.not_after.to_string(),
                    status(d),
                ]);
            }
            out.push_str(&table(&rows));
        }
        for p in &self.problems {
            let key = p
                .key
                .as_ref()
                .map(|k| format!(" key {k}:"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{}/Secret/{}: {}:{key} {}\n",
                p.namespace, p.secret, p.source, p.message
            ));
        }
        if self.due.is_empty() && self.problems.is_empty() {
            out.push_str(&format!(
                "ksec check: no certificate expires within {} ({} certificate{} in {} Secret{})\n",
                self.within,
                self.certificates,
                plural(self.certificates),
                self.secrets,
                plural(self.secrets)
            ));
        }
        out
    }

    /// Exit 11 when a certificate is due or could not be read.
    pub fn outcome(&self) -> Result<()> {
        if self.due.is_empty() && self.problems.is_empty() {
            return Ok(());
        }
        let mut parts = Vec::new();
        let expired = self.due.iter().filter(|d| d.expired).count();
        let expiring = self.due.len() - expired;
        if expiring > 0 {
            parts.push(format!(
                "{expiring} certificate{} expire{} within {}",
                plural(expiring),
                if expiring == 1 { "s" } else { "" },
                self.within
            ));
        }
        if expired > 0 {
            parts.push(format!(
                "{expired} certificate{} expired",
                if expired == 1 { " has" } else { "s have" }
            ));
        }
        if !self.problems.is_empty() {
            parts.push(format!(
                "{} value{} or source{} could not be checked",
                self.problems.len(),
                plural(self.problems.len()),
                plural(self.problems.len())
            ));
        }
        let mut err = Error::new(
            Code::CheckFailed,
            format!("ksec check: {}", parts.join("; ")),
        );
        if !self.due.is_empty() {
            err = err.detail("renew each certificate, then store it: `ksec set FILE KEY < cert.pem` (or `ksec edit FILE`)");
        }
        if !self.problems.is_empty() {
            err = err.detail("values that are not PEM certificates: fix them with `ksec edit FILE`; sources that cannot be opened: see `ksec check`");
        }
        Err(err.hint("each is named above by namespace, Secret, source file and key"))
    }
}

fn status(d: &Due) -> String {
    match (d.expired, d.days.unsigned_abs()) {
        (true, 0) => "expired today".into(),
        (true, n) => format!("expired {n} day{} ago", plural_u(n)),
        (false, 0) => "expires in less than a day".into(),
        (false, n) => format!("expires in {n} day{}", plural_u(n)),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn plural_u(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
