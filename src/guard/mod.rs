//! The guard behind `ksec check`: among the files git tracks or stages it
//! finds plaintext secrets (Secret manifests, unencrypted secret sources,
//! private keys, age identities, cloud keys), encrypted files whose
//! recipients differ from ksec.yaml, SOPS files that do not parse or whose
//! MAC does not verify, and problems of ksec.yaml itself.
//!
//! A finding names the file, the line and the rule, never the value: the
//! guard reads secrets to recognise them and must not leak them doing so.
//! Files are checked in parallel; binary files are skipped.

pub mod certs;
pub mod git;
mod manifest;
mod patterns;

use crate::access::plan::Access;
use crate::access::{Cut, Names, key_id, short_key};
use crate::crypto::sops::{EncryptedFile, Format, SopsError};
use crate::crypto::wrap::Identity;
use crate::project::{Allow, Folders, Namespace, Problem, Project};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Component, Path};

pub use crate::project::Rule;

/// One problem: where, which rule, and what — never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Relative to the project root, `/`-separated.
    pub file: String,
    pub line: Option<usize>,
    pub rule: Rule,
    pub message: String,
}

/// The outcome of a check.
#[derive(Debug, Default)]
pub struct Report {
    /// Findings not allowed by `check.allow`, by file and line.
    pub problems: Vec<Finding>,
    /// How many findings `check.allow` accepted.
    pub allowed: usize,
    /// Text files looked at.
    pub files: usize,
    /// Encrypted files whose values and MAC were verified.
    pub verified: usize,
    /// Encrypted files whose MAC could not be checked (no identity opens them).
    pub unverified: usize,
    /// `check.allow` entries that matched nothing, and files that could not
    /// be read: worth saying, not failures.
    pub warnings: Vec<String>,
}

/// What the check needs besides the files.
pub struct Inputs<'a> {
    /// The project, or ksec.yaml's problems when it is invalid (then the
    /// rules that need the project — recipients, secret sources, allowances
    /// — do not run).
    pub project: std::result::Result<&'a Project, &'a [Problem]>,
    /// Identities to verify MACs with; none means MACs are not checked.
    pub identities: &'a [Identity],
    /// Warn about `check.allow` entries that matched nothing (not with
    /// `--staged`, which sees only some files).
    pub warn_unused_allows: bool,
    /// The symlinks among the files git tracks or stages.
    pub links: &'a [git::Link],
}

/// Check the files.
pub fn check(files: &[git::File], inputs: &Inputs) -> Report {
    let project = inputs.project.ok();
    let sources = project.map(secret_sources).unwrap_or_default();
    let folders = project.map(Project::folders);
    let ctx = FileContext {
        project,
        folders: folders.as_ref(),
        sources: &sources,
        identities: inputs.identities,
    };

    let outcomes = crate::parallel::map(files, |file| check_file(file, &ctx));

    let mut report = Report::default();
    let mut findings = Vec::new();
    if let Some(project) = project {
        findings.extend(inputs.links.iter().filter_map(|l| link_finding(project, l)));
    }
    for outcome in outcomes {
        report.files += usize::from(outcome.text);
        report.verified += usize::from(outcome.verified);
        report.unverified += usize::from(outcome.unverified);
        report.warnings.extend(outcome.warning);
        findings.extend(outcome.findings);
    }
    if let Err(problems) = inputs.project {
        findings.extend(problems.iter().map(|p| Finding {
            file: crate::project::FILE_NAME.to_string(),
            line: p.line,
            rule: Rule::KsecYaml,
            // a parser's message may quote the text; never a secret in it
            message: if patterns::scan(&p.message).is_empty() {
                p.message.clone()
            } else {
                "a problem whose message would quote a secret (see the other findings on this line)"
                    .into()
            },
        }));
    }

    let allows: &[Allow] = project.map_or(&[], |p| p.check_allow.as_slice());
    let globs: Vec<Regex> = allows.iter().map(|a| glob(&a.path)).collect();
    let mut used = vec![false; allows.len()];
    for finding in findings {
        let allowed_by = allows.iter().zip(&globs).position(|(a, g)| {
            finding.rule != Rule::KsecYaml
                && a.rule == finding.rule.id()
                && g.is_match(&finding.file)
        });
        match allowed_by {
            Some(i) => {
                used[i] = true;
                report.allowed += 1;
            }
            None => report.problems.push(finding),
        }
    }
    if inputs.warn_unused_allows {
        for (allow, used) in allows.iter().zip(used) {
            if !used {
                report.warnings.push(format!(
                    "{}:{}: check.allow entry (path {}, rule {}) matches nothing; remove it",
                    crate::project::FILE_NAME,
                    allow.line,
                    allow.path,
                    allow.rule
                ));
            }
        }
    }
    report
        .problems
        .sort_by(|a, b| (&a.file, a.line, a.rule).cmp(&(&b.file, b.line, b.rule)));
    report.warnings.sort();
    report
}

/// What the per-file check needs.
struct FileContext<'a> {
    project: Option<&'a Project>,
    /// The project's namespaces by source folder.
    folders: Option<&'a Folders<'a>>,
    /// Secret source path -> the Secret that names it (`payments/db`).
    sources: &'a BTreeMap<String, String>,
    identities: &'a [Identity],
}

#[derive(Default)]
struct Outcome {
    findings: Vec<Finding>,
    text: bool,
    verified: bool,
    unverified: bool,
    warning: Option<String>,
}

fn check_file(file: &git::File, ctx: &FileContext) -> Outcome {
    let mut outcome = Outcome::default();
    let owned;
    let bytes: &[u8] = match &file.content {
        git::Content::Blob(bytes) => bytes,
        git::Content::WorkTree(path) => match read_work_tree(path) {
            Ok(Some(bytes)) => {
                owned = bytes;
                &owned
            }
            Ok(None) => return outcome,
            Err(e) => {
                outcome.warning = Some(format!("{}; {} not checked", e.message, file.path));
                return outcome;
            }
        },
    };
    if is_binary(bytes) {
        return outcome;
    }
    outcome.text = true;
    let text = String::from_utf8_lossy(bytes);
    let finding = |line: Option<usize>, rule: Rule, message: String| Finding {
        file: file.path.clone(),
        line,
        rule,
        message,
    };

    for hit in patterns::scan(&text) {
        outcome
            .findings
            .push(finding(Some(hit.line), hit.rule, hit.what));
    }
    let ext = Path::new(&file.path)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    // rendered manifests end up under any name (`ksec render > out`)
    {
        for hit in manifest::scan(&text) {
            outcome
                .findings
                .push(finding(Some(hit.line), Rule::SecretManifest, hit.what));
        }
    }

    let name = file.path.rsplit('/').next().unwrap_or(&file.path);
    if let Some(marker) = [".dec.", ".plain."].into_iter().find(|m| name.contains(m)) {
        outcome.findings.push(finding(
            None,
            Rule::PlaintextCopy,
            format!(
                "a plaintext copy (named *{marker}*) is in git; take it out (`git rm --cached {}`), keep it git-ignored, and rotate the secrets it holds",
                file.path
            ),
        ));
    }
    let source_of = ctx.sources.get(&file.path);
    let expected = source_of.is_some() || name.contains(".enc.");
    let format = Format::of_encrypted(Path::new(&file.path), &text);
    if !expected && !looks_sops(&text, ext, name, format) {
        return outcome;
    }
    let parsed = match EncryptedFile::parse(&text, format) {
        Ok(parsed) => parsed,
        Err(SopsError::NotEncrypted) => {
            if expected {
                let message = match source_of {
                    Some(secret) => format!(
                        "secret source of {secret} is not encrypted (no sops metadata); encrypt it: ksec encrypt --in-place {}",
                        file.path
                    ),
                    None => format!(
                        "named *.enc.* but not encrypted (no sops metadata); encrypt it: ksec encrypt --in-place {}",
                        file.path
                    ),
                };
                outcome
                    .findings
                    .push(finding(None, Rule::UnencryptedSource, message));
            }
            return outcome;
        }
        Err(err) => {
            let (line, message) = match err {
                SopsError::Syntax { line, message } => {
                    (line, format!("does not parse as SOPS: {message}"))
                }
                SopsError::BadMetadata(why) => (None, format!("damaged sops metadata: {why}")),
                SopsError::Unsupported(why) => (None, why),
                other => (None, format!("not a valid SOPS file: {other}")),
            };
            outcome
                .findings
                .push(finding(line, Rule::SopsInvalid, message));
            return outcome;
        }
    };

    if let Some(project) = ctx.project
        && let Some(ns) = ctx
            .folders
            .and_then(|f| f.namespace_of(Path::new(&file.path)))
        && let Some(message) = recipients_mismatch(project, ns, parsed.recipients())
    {
        outcome
            .findings
            .push(finding(None, Rule::Recipients, message));
    }

    if ctx.identities.is_empty() {
        outcome.unverified = true;
        return outcome;
    }
    match parsed.verified_key(ctx.identities) {
        Ok(_) => outcome.verified = true,
        Err(
            SopsError::NoMatchingIdentity { .. }
            | SopsError::NoAgeRecipients
            | SopsError::Plugin { .. }
            | SopsError::Unsupported(_),
        ) => outcome.unverified = true,
        Err(err) => {
            let message = match err {
                SopsError::ValueIntegrity { path } => {
                    format!("the value of key {path} was changed or moved (tampered or damaged)")
                }
                SopsError::ValueMalformed { path } => {
                    format!("key {path} does not hold a SOPS-encrypted value (tampered or damaged)")
                }
                SopsError::MacUnreadable => {
                    "the MAC or lastmodified was changed (tampered or damaged)".into()
                }
                SopsError::MacMismatch => {
                    "the values do not match the MAC: a key was added, removed or reordered (tampered or damaged)".into()
                }
                SopsError::BadMetadata(why) => format!("damaged sops metadata: {why}"),
                other => format!("does not verify ({other:?})"),
            };
            outcome
                .findings
                .push(finding(None, Rule::Integrity, message));
        }
    }
    outcome
}

/// The file's bytes, or `None` when it is gone or not a regular file (a
/// tracked file deleted or replaced by a symlink in the working tree).
/// At most `fsutil::MAX_FILE_BYTES` are read.
fn read_work_tree(path: &Path) -> crate::error::Result<Option<Vec<u8>>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => crate::fsutil::read_file(path).map(Some),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(crate::error::Error::io("read", path, &e)),
    }
}

/// Binary as git decides: a NUL byte in the first 8000 bytes.
fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8000)].contains(&0)
}

/// Whether a file that is not named as encrypted still carries sops
/// metadata (an encrypted file under any name).
fn looks_sops(text: &str, ext: &str, name: &str, format: Format) -> bool {
    match format {
        Format::Dotenv => text.lines().any(|l| l.starts_with("sops_mac=")),
        Format::Json | Format::Binary => text.contains("\"sops\"") && text.contains("\"mac\""),
        Format::Ini => text.contains("[sops]") && text.contains("mac"),
        Format::Yaml | Format::YamlStream => {
            matches!(ext, "yaml" | "yml")
                && !name.is_empty()
                && (text.starts_with("sops:") || text.contains("\nsops:"))
                && text.contains("mac:")
        }
    }
}

/// What is wrong with a tracked symlink, if it is in a namespace folder
/// (or is one): its target must stay inside that folder (a namespace
/// folder's inside the project), judged from the link's text; in the work
/// tree, also after every link is resolved, and it must be a regular file
/// (a folder, for a namespace folder).
fn link_finding(project: &Project, link: &git::Link) -> Option<Finding> {
    let rel = Path::new(&link.path);
    let is_folder = project.namespaces.values().find(|ns| ns.path == rel);
    let (boundary, ns) = match is_folder {
        Some(ns) => (Path::new(""), ns),
        None => {
            let ns = project
                .namespaces
                .values()
                .filter(|ns| rel.starts_with(&ns.path))
                .max_by_key(|ns| ns.path.components().count())?;
            (ns.path.as_path(), ns)
        }
    };
    let target = Path::new(&link.target);
    let finding = |why: String| {
        let what = if is_folder.is_some() {
            format!(
                "the folder of namespace {} is a symlink to {}; {why}; make it a real folder inside the project",
                ns.name, link.target
            )
        } else {
            format!(
                "a symlink to {} in the folder of namespace {}; {why}; render refuses to read it: put the file itself there",
                link.target, ns.name
            )
        };
        Some(Finding {
            file: link.path.clone(),
            line: None,
            rule: Rule::SourceLink,
            message: what,
        })
    };
    let place = if is_folder.is_some() {
        "outside the project".to_string()
    } else {
        format!("outside {}", boundary.display())
    };
    let mut resolved = rel.parent().unwrap_or(Path::new("")).to_path_buf();
    for c in target.components() {
        match c {
            Component::Normal(part) => resolved.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !resolved.pop() {
                    return finding(format!("it leads {place}"));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return finding(format!("an absolute path leads {place}"));
            }
        }
    }
    if !resolved.starts_with(boundary) {
        return finding(format!("it leads {place}"));
    }
    if resolved == boundary && is_folder.is_none() {
        return finding("it is not a regular file".into());
    }
    let Some(at) = &link.work_tree else {
        return None;
    };
    let real_boundary = std::fs::canonicalize(project.root.join(boundary)).ok()?;
    // a link to nothing is a missing file, which render reports
    let real = std::fs::canonicalize(at).ok()?;
    if !real.starts_with(&real_boundary) {
        return finding(format!("through further links it leads {place}"));
    }
    let meta = std::fs::metadata(&real).ok()?;
    match is_folder {
        Some(_) if !meta.is_dir() => finding("it is not a folder".into()),
        None if !meta.is_file() => finding("it is not a regular file".into()),
        _ => None,
    }
}

/// Every secret source (base and overrides) of the project, by its path
/// relative to the project root, with the Secret that names it.
fn secret_sources(project: &Project) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for ns in project.namespaces.values() {
        for secret in &ns.secrets {
            let overrides = secret.overrides.values().flat_map(|o| o.sources.iter());
            for source in secret.sources.iter().chain(overrides) {
                out.entry(normalize(&ns.path.join(source)))
                    .or_insert_with(|| format!("{}/{}", ns.name, secret.name));
            }
        }
    }
    out
}

/// A relative path as git writes it: `/`-separated, no `.` parts.
fn normalize(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// How a file's recipients differ from the namespace's in ksec.yaml (the
/// comparison `ksec rekey` plans by): missing and extra recipients, by
/// their ksec.yaml names (a key ksec.yaml does not know by its start).
/// `None` when they agree.
fn recipients_mismatch(project: &Project, ns: &Namespace, actual: Vec<String>) -> Option<String> {
    let access = Access::of(project, ns, actual);
    let missing = access.missing();
    // the extra keys in file order, each once
    let mut extra_ids: Vec<String> = Vec::new();
    for id in access.extra().iter().map(|k| key_id(k)) {
        if !extra_ids.contains(&id) {
            extra_ids.push(id);
        }
    }
    if missing.is_empty() && extra_ids.is_empty() {
        return None;
    }
    let names = Names::new(&[project]);
    let extra: Vec<String> = extra_ids
        .iter()
        .map(|key| match names.name(key) {
            Some(name) => name.to_string(),
            None => format!("{} (not in ksec.yaml)", short_key(key, Cut::Start)),
        })
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        let missing: Vec<&str> = missing.iter().map(|(name, _)| name.as_str()).collect();
        parts.push(format!("missing {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("extra {}", extra.join(", ")));
    }
    Some(format!(
        "recipients differ from ksec.yaml for namespace {}: {}; run `ksec rekey`",
        ns.name,
        parts.join("; ")
    ))
}

/// A `check.allow` path as a regex: `*` within a folder, `**` across
/// folders, `?` one character.
fn glob(pattern: &str) -> Regex {
    let pattern = pattern.trim_start_matches("./");
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    re.push_str("(?:.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    Regex::new(&re).expect("an escaped glob is a valid regex")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_round_trip() {
        for rule in Rule::ALL {
            assert_eq!(Rule::from_id(rule.id()), Some(rule));
        }
        assert!(!Rule::allowable_ids().contains(&"ksec-yaml"));
    }

    #[test]
    fn globs() {
        let m = |p: &str, f: &str| glob(p).is_match(f);
        assert!(m("demo-key.txt", "demo-key.txt"));
        assert!(!m("demo-key.txt", "x/demo-key.txt"));
        assert!(m("./keys/*.txt", "keys/a.txt"));
        assert!(!m("keys/*.txt", "keys/sub/a.txt"));
        assert!(m("keys/**/*.txt", "keys/a.txt"));
        assert!(m("keys/**/*.txt", "keys/sub/deep/a.txt"));
        assert!(m("tests/**", "tests/a/b"));
        assert!(m("a?.pem", "ab.pem"));
        assert!(!m("a.pem", "aXpem"), "a dot is literal");
    }

    #[test]
    fn a_recipient_mismatch_names_known_keys_and_shortens_unknown_ones_once() {
        let alice = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        let bob = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
        let dave = "age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg";
        let text = format!(
            "version: 1\nrecipients:\n  alice: {alice}\n  bob: {bob}\nnamespaces:\n  payments:\n    recipients: [alice]\n"
        );
        let project = Project::parse(Path::new("/p"), &text).unwrap();
        let ns = &project.namespaces["payments"];
        assert_eq!(recipients_mismatch(&project, ns, vec![alice.into()]), None);
        let actual = vec![bob.into(), dave.into(), format!(" {dave} ")];
        assert_eq!(
            recipients_mismatch(&project, ns, actual).as_deref(),
            Some(
                "recipients differ from ksec.yaml for namespace payments: missing alice; extra bob, age1lggyhqrw… (not in ksec.yaml); run `ksec rekey`"
            )
        );
    }

    #[test]
    fn a_ksec_yaml_message_never_quotes_a_secret() {
        let key = crate::keys::generate();
        let problems = [Problem {
            line: Some(2),
            message: format!("invalid type: string {:?}, expected a map", &*key.secret),
        }];
        let report = check(
            &[],
            &Inputs {
                project: Err(&problems),
                identities: &[],
                warn_unused_allows: true,
                links: &[],
            },
        );
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].rule, Rule::KsecYaml);
        assert_eq!(report.problems[0].line, Some(2));
        assert!(!report.problems[0].message.contains("AGE-SECRET-KEY"));
    }

    #[test]
    fn binary_files() {
        assert!(is_binary(b"PK\x03\x04\0\0"));
        assert!(!is_binary(b"text\n"));
    }
}
