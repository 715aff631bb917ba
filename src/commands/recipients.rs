//! `ksec recipients list|add|remove` and `ksec rekey`: who can decrypt
//! what, across the repository.
//!
//! `ksec.yaml` says who may read each namespace; the encrypted files follow
//! it. Every command here changes `ksec.yaml` (and `.sops.yaml`) first and
//! the files after, in parallel, each written atomically. So a run that is
//! interrupted leaves every file decryptable (each is either as it was or
//! done), and `ksec rekey`, which makes every file match `ksec.yaml`,
//! finishes the job. Key names are printed, values never.

use super::Context;
use crate::cli::{
    OutputFormat, RecipientsAddArgs, RecipientsCommand, RecipientsListArgs, RecipientsRemoveArgs,
    RekeyArgs,
};
use crate::crypto::sops::{EncryptedFile, Format, SopsError};
use crate::crypto::wrap::{self, Identity, Recipient};
use crate::error::{Code, Error, Result};
use crate::fsutil;
use crate::keys;
use crate::project::{Project, edit, scaffold};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn run(cmd: RecipientsCommand, ctx: &Context) -> Result<()> {
    match cmd {
        RecipientsCommand::List(args) => list(args, ctx),
        RecipientsCommand::Add(args) => add(args, ctx),
        RecipientsCommand::Remove(args) => remove(args, ctx),
    }
}

// ---------------------------------------------------------------- list

/// A recipient, its key, its groups, and the namespaces it can read.
type Row = (String, String, Vec<String>, Vec<(String, Option<String>)>);

fn list(args: RecipientsListArgs, ctx: &Context) -> Result<()> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let rows: Vec<Row> = project
        .recipients
        .iter()
        .map(|(name, key)| {
            let groups = project
                .groups
                .iter()
                .filter(|(_, members)| members.contains(name))
                .map(|(g, _)| g.clone())
                .collect();
            (name.clone(), key.clone(), groups, readable(&project, name))
        })
        .collect();
    match args.output {
        OutputFormat::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|(name, key, groups, namespaces)| {
                    serde_json::json!({
                        "name": name,
                        "key": key,
                        "groups": groups,
                        "namespaces": namespaces.iter().map(|(ns, env)| match env {
                            None => serde_json::json!({"name": ns, "via": "recipients"}),
                            Some(env) => serde_json::json!({"name": ns, "via": format!("environment {env}")}),
                        }).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let mut out = serde_json::to_string_pretty(&items)
                .map_err(|e| Error::new(Code::Unexpected, e.to_string()))?;
            out.push('\n');
            super::write_stdout(out.as_bytes())
        }
        OutputFormat::Text => {
            let mut table = vec![["RECIPIENT", "KEY", "GROUPS", "NAMESPACES"].map(String::from)];
            let dash = |v: Vec<String>| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.join(", ")
                }
            };
            for (name, key, groups, namespaces) in rows {
                table.push([
                    name,
                    short_key(&key),
                    dash(groups),
                    dash(
                        namespaces
                            .into_iter()
                            .map(|(ns, env)| match env {
                                None => ns,
                                Some(_) => format!("{ns} (ci)"),
                            })
                            .collect(),
                    ),
                ]);
            }
            super::write_stdout(super::table(&table).as_bytes())
        }
    }
}

/// The namespaces recipient `name` can read: directly or through a group
/// (`None`), or as the CI key of one of the namespace's environments.
fn readable(project: &Project, name: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for ns in project.namespaces.values() {
        if ns.recipients.iter().any(|r| r == name) {
            out.push((ns.name.clone(), None));
        } else if let Some(env) = ns.environments.iter().find(|e| {
            project
                .environments
                .get(*e)
                .is_some_and(|env| env.recipients.iter().any(|r| r == name))
        }) {
            out.push((ns.name.clone(), Some(env.clone())));
        }
    }
    out
}

/// `age1qyqszqgpqy…q8s7kw`: enough to tell keys apart in a table.
pub fn short_key(key: &str) -> String {
    let key = key.trim();
    let (prefix, body) = match key.split_once(' ') {
        Some((kind, rest)) => (
            format!("{kind} "),
            rest.split_whitespace().next().unwrap_or(""),
        ),
        None => (String::new(), key),
    };
    let keep_start = if prefix.is_empty() { 12 } else { 8 };
    let chars: Vec<char> = body.chars().collect();
    if chars.len() <= keep_start + 6 + 1 {
        return format!("{prefix}{body}");
    }
    let start: String = chars[..keep_start].iter().collect();
    let end: String = chars[chars.len() - 6..].iter().collect();
    format!("{prefix}{start}…{end}")
}

/// What identifies a key: an age recipient as it is; an SSH key by its type
/// and body, without the comment.
fn key_id(key: &str) -> String {
    let key = key.trim();
    if key.starts_with("age1") {
        return key.to_string();
    }
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------- files

/// An encrypted file of the project, and what ksec.yaml wants for it.
struct Source {
    path: PathBuf,
    /// Relative to the project root, for messages.
    rel: String,
    namespace: String,
    /// The age recipients its data key is wrapped for now.
    current: Vec<String>,
    /// Who ksec.yaml says may read it: (name, key).
    wanted: Vec<(String, String)>,
}

impl Source {
    fn has(&self, key: &str) -> bool {
        let id = key_id(key);
        self.current.iter().any(|c| key_id(c) == id)
    }

    /// Keys it has that are not wanted.
    fn extra(&self) -> Vec<String> {
        let wanted: Vec<String> = self.wanted.iter().map(|(_, k)| key_id(k)).collect();
        self.current
            .iter()
            .filter(|c| !wanted.contains(&key_id(c)))
            .cloned()
            .collect()
    }

    /// Wanted recipients it lacks.
    fn missing(&self) -> Vec<(String, String)> {
        self.wanted
            .iter()
            .filter(|(_, k)| !self.has(k))
            .cloned()
            .collect()
    }

    /// What `rekey` does to it.
    fn sync_action(&self) -> Action {
        let extra = self.extra();
        let missing = self.missing();
        if !extra.is_empty() {
            Action::Rotate {
                removed: extra,
                added: missing.into_iter().map(|(n, _)| n).collect(),
            }
        } else if !missing.is_empty() {
            Action::Rewrap { add: missing }
        } else {
            Action::Unchanged
        }
    }
}

#[derive(Clone)]
enum Action {
    Unchanged,
    /// Wrap the data key for these (name, key); nothing else changes.
    Rewrap {
        add: Vec<(String, String)>,
    },
    /// New data key and values, wrapped for exactly the wanted recipients;
    /// `removed` are the keys that go, `added` the names that come.
    Rotate {
        removed: Vec<String>,
        added: Vec<String>,
    },
}

/// Every encrypted file under the namespaces' folders (SOPS YAML or dotenv;
/// anything else is skipped), with its namespace's wanted recipients.
fn scan(project: &Project) -> Result<Vec<Source>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for ns in project.namespaces.values() {
        walk(&project.root.join(&ns.path), &mut paths, &mut Vec::new())?;
    }
    paths.sort();
    paths.dedup();
    let found = crate::parallel::map(&paths, |path| -> Result<Option<Source>> {
        let Some(ns) = project.namespace_for(path) else {
            return Ok(None);
        };
        let Some(file) = parse_sops(path)? else {
            return Ok(None);
        };
        Ok(Some(Source {
            rel: rel(project, path),
            path: path.clone(),
            namespace: ns.name.clone(),
            current: file.recipients(),
            wanted: project.namespace_recipients(ns),
        }))
    });
    let mut out = Vec::new();
    for f in found {
        if let Some(source) = f? {
            out.push(source);
        }
    }
    Ok(out)
}

/// Temporary files an interrupted write left in the namespaces' folders:
/// those of ksec processes that are gone are removed, the others returned.
fn leftovers(project: &Project) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for ns in project.namespaces.values() {
        let _ = walk(&project.root.join(&ns.path), &mut Vec::new(), &mut found);
    }
    found.sort();
    found.dedup();
    found.retain(|p| !fsutil::remove_if_stale_temp(p));
    found
}

/// The files under `dir`, recursively; `.ksec-tmp*` files (left by an
/// interrupted atomic write) go to `leftovers` instead.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, leftovers: &mut Vec<PathBuf>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read the folder", dir, &e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read the folder", dir, &e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with(".ksec-tmp") {
            leftovers.push(path);
            continue;
        }
        if name == ".git" {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| Error::io("read", &path, &e))?;
        if kind.is_dir() {
            walk(&path, out, leftovers)?;
        } else if kind.is_file() {
            out.push(path);
        } else if kind.is_symlink() && matches!(parse_sops(&path), Ok(Some(_))) {
            eprintln!(
                "warning: {} is a symbolic link; ksec does not rewrite it (rekey its target)",
                path.display()
            );
        }
    }
    Ok(())
}

/// A file name ksec may hold encrypted: YAML or dotenv. JSON is skipped
/// (ksec does not write sops's JSON format).
fn is_sops_candidate(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) != Some("json")
}

/// The file parsed as SOPS, or `None` when it is not one.
fn parse_sops(path: &Path) -> Result<Option<EncryptedFile>> {
    if !is_sops_candidate(path) {
        return Ok(None);
    }
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(None);
    };
    // cheap test first: a SOPS file has `sops:` (YAML) or `sops_` (dotenv)
    if !text.contains("sops") {
        return Ok(None);
    }
    match EncryptedFile::parse(&text, Format::from_path(path)) {
        Ok(file) => Ok(Some(file)),
        Err(SopsError::NotEncrypted | SopsError::Syntax { .. }) => Ok(None),
        Err(e) => Err(super::sops_error(path, e)),
    }
}

fn rel(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

// ---------------------------------------------------------------- doing it

/// One file's planned change.
struct Job<'a> {
    source: &'a Source,
    action: Action,
}

/// What was done to one file.
struct Done {
    rel: String,
    action: Action,
}

/// Names for keys in messages: from ksec.yaml (before and after a change),
/// else the shortened key.
struct Names(BTreeMap<String, String>);

impl Names {
    fn new(projects: &[&Project]) -> Names {
        let mut map = BTreeMap::new();
        for p in projects {
            for (name, key) in &p.recipients {
                map.entry(key_id(key)).or_insert_with(|| name.clone());
            }
        }
        Names(map)
    }

    fn of(&self, key: &str) -> String {
        self.0
            .get(&key_id(key))
            .cloned()
            .unwrap_or_else(|| short_key(key))
    }
}

/// The identities of the user, or an error before anything is written.
fn identities(ctx: &Context, jobs: &[Job]) -> Result<Vec<Identity>> {
    let lookup = crate::load::identities(ctx, || {
        crate::load::NoIdentity::new(format!(
            "no age identity found, and {} encrypted file{} must be opened to change who can read {}",
            jobs.len(),
            plural(jobs.len()),
            if jobs.len() == 1 { "it" } else { "them" }
        ))
        .hint(format!("{}; nothing was changed", keys::NO_IDENTITY_HINT))
    })?;
    Ok(lookup.identities)
}

/// Parsed wanted recipients, by key text, for every job.
fn recipients_for(jobs: &[Job]) -> Result<BTreeMap<String, Recipient>> {
    let mut out = BTreeMap::new();
    for job in jobs {
        for (name, key) in &job.source.wanted {
            if !out.contains_key(key) {
                let r = Recipient::parse(key)
                    .map_err(|why| Error::invalid(format!("recipient {name}: {why}")))?;
                out.insert(key.clone(), r);
            }
        }
    }
    Ok(out)
}

/// Do every job in parallel; each file is written atomically.
fn execute(
    jobs: &[Job],
    identities: &[Identity],
    recipients: &BTreeMap<String, Recipient>,
) -> Vec<Result<Done>> {
    crate::parallel::map(jobs, |job| execute_one(job, identities, recipients))
}

fn execute_one(
    job: &Job,
    identities: &[Identity],
    recipients: &BTreeMap<String, Recipient>,
) -> Result<Done> {
    let path = &job.source.path;
    // Held until the new text is renamed over the file, so a concurrent
    // `ksec set` is neither lost nor overwritten.
    let _lock = crate::lock::lock(path)?;
    let text = super::read_text(path)?;
    // errors name the file as the user knows it: relative to the project
    let shown = Path::new(&job.source.rel);
    let fail = |e: SopsError| super::sops_error(shown, e);
    let file = EncryptedFile::parse(&text, Format::from_path(path)).map_err(fail)?;
    let pick = |list: &[(String, String)]| -> Vec<(String, &Recipient)> {
        list.iter()
            .filter_map(|(_, key)| recipients.get(key).map(|r| (key.clone(), r)))
            .collect()
    };
    let new_text = match &job.action {
        Action::Unchanged => {
            return Ok(Done {
                rel: job.source.rel.clone(),
                action: Action::Unchanged,
            });
        }
        Action::Rewrap { add } => {
            // Only those still missing (a rerun after an interruption).
            let current: Vec<String> = file.recipients().iter().map(|k| key_id(k)).collect();
            let add: Vec<(String, String)> = add
                .iter()
                .filter(|(_, k)| !current.contains(&key_id(k)))
                .cloned()
                .collect();
            if add.is_empty() {
                return Ok(Done {
                    rel: job.source.rel.clone(),
                    action: Action::Unchanged,
                });
            }
            // Verify the values against the MAC with the key before wrapping
            // it for anyone: a file whose key does not open it is refused.
            let opened = file.open_to_read(identities).map_err(fail)?;
            let key = opened.cipher.key().clone();
            let mut file = opened.file;
            file.add_recipients(&key, &pick(&add)).map_err(fail)?;
            file.emit_metadata_change(&text).map_err(fail)?
        }
        Action::Rotate { .. } => {
            let opened = file.open_to_read(identities).map_err(fail)?;
            let rotated = opened.rotate(&pick(&job.source.wanted)).map_err(fail)?;
            if rotated.format == Format::Yaml {
                let comments = text
                    .lines()
                    .filter(|l| l.trim_start().starts_with('#') || l.ends_with(",type:comment]"))
                    .count();
                if comments > 0 {
                    eprintln!(
                        "warning: {}: {comments} comment line{} dropped (ksec does not keep comments in encrypted YAML yet)",
                        job.source.rel,
                        plural(comments)
                    );
                }
            }
            rotated.emit().map_err(fail)?
        }
    };
    fsutil::write_atomic(path, new_text.as_bytes(), 0o644)?;
    Ok(Done {
        rel: job.source.rel.clone(),
        action: job.action.clone(),
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `+carol`, `-bob +carol`.
fn change_text(action: &Action, names: &Names) -> String {
    match action {
        Action::Unchanged => String::new(),
        Action::Rewrap { add } => add
            .iter()
            .map(|(n, _)| format!("+{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        Action::Rotate { removed, added } => removed
            .iter()
            .map(|k| format!("-{}", names.of(k)))
            .chain(added.iter().map(|n| format!("+{n}")))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The per-file lines and the summary, for a plan (`dry`) or a result.
fn report(
    done: &[(String, Action)],
    names: &Names,
    dry: bool,
    unchanged: usize,
    failed: usize,
) -> String {
    let mut rows = Vec::new();
    let (mut rewrapped, mut rotated) = (0, 0);
    for (rel, action) in done {
        let verb = match action {
            Action::Unchanged => continue,
            Action::Rewrap { .. } => {
                rewrapped += 1;
                if dry { "would rewrap" } else { "rewrapped" }
            }
            Action::Rotate { .. } => {
                rotated += 1;
                if dry { "would rotate" } else { "rotated" }
            }
        };
        rows.push([verb.to_string(), rel.clone(), change_text(action, names)]);
    }
    let mut out = super::table(&rows);
    if rewrapped + rotated + failed == 0 {
        out.push_str(&format!(
            "every encrypted file matches ksec.yaml ({unchanged} file{})\n",
            plural(unchanged)
        ));
        return out;
    }
    let mut parts = Vec::new();
    if rewrapped > 0 {
        parts.push(format!(
            "{rewrapped} rewrapped (data key wrapped for new recipients, values unchanged)"
        ));
    }
    if rotated > 0 {
        parts.push(format!(
            "{rotated} rotated (new data key, every value re-encrypted)"
        ));
    }
    parts.push(format!("{unchanged} unchanged"));
    if failed > 0 {
        parts.push(format!("{failed} failed (below)"));
    }
    out.push_str(&format!(
        "{}{}\n",
        if dry { "plan: " } else { "" },
        parts.join(", ")
    ));
    out
}

/// For each planned rotation: the file, who is removed, and the names of
/// its encrypted values (read from the file, never decrypted).
fn exposed(jobs: &[Job], names: &Names) -> Vec<(String, Vec<String>, Vec<String>)> {
    jobs.iter()
        .filter_map(|j| match &j.action {
            Action::Rotate { removed, .. } => Some((
                j.source.rel.clone(),
                removed.iter().map(|k| names.of(k)).collect(),
                parse_sops(&j.source.path)
                    .ok()
                    .flatten()
                    .and_then(|f| f.encrypted_keys().ok())
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

/// The secrets the removed recipients could read, per file (names only).
fn exposure(done: &[(String, Vec<String>, Vec<String>)], who: Option<&str>, dry: bool) -> String {
    if done.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let could = if dry { "can" } else { "could" };
    match who {
        Some(name) => out.push_str(&format!(
            "\n{name} {could} read these secrets; rotate them at their source (new passwords, tokens, keys), then `ksec set` the new values:\n"
        )),
        None => out.push_str(&format!(
            "\nthe removed recipients {could} read these secrets; rotate them at their source (new passwords, tokens, keys), then `ksec set` the new values:\n"
        )),
    }
    for (rel, removed, secrets) in done {
        let by = if who.is_some() {
            String::new()
        } else {
            format!(" (read by {})", removed.join(", "))
        };
        let keys = if secrets.is_empty() {
            "(no encrypted values)".to_string()
        } else {
            secrets.join(", ")
        };
        out.push_str(&format!("  {rel}{by}: {keys}\n"));
    }
    out
}

/// Write ksec.yaml, then `.sops.yaml` derived from it.
fn write_project(project: &Project, new_text: &str, updated: &Project) -> Result<()> {
    fsutil::write_atomic(&project.file(), new_text.as_bytes(), 0o644)?;
    let sops_file = project.root.join(".sops.yaml");
    fsutil::write_atomic(&sops_file, scaffold::sops_yaml(updated).as_bytes(), 0o644)
}

/// Run the jobs, print what was done (stdout), and turn failures into one
/// error that says how to finish.
fn finish(
    jobs: Vec<Job>,
    identities: &[Identity],
    names: &Names,
    unchanged: usize,
    who: Option<&str>,
) -> Result<()> {
    let recipients = recipients_for(&jobs)?;
    // what the removed recipients could read, whether or not its rotation
    // succeeds: the values are to be rotated at their source either way
    let exposed = exposed(&jobs, names);
    let results = execute(&jobs, identities, &recipients);
    let mut done = Vec::new();
    let mut failures = Vec::new();
    let mut unchanged = unchanged;
    for (job, result) in jobs.iter().zip(results) {
        match result {
            Ok(d) => {
                if matches!(d.action, Action::Unchanged) {
                    unchanged += 1;
                }
                done.push((d.rel, d.action));
            }
            Err(e) => failures.push((job, e)),
        }
    }
    let mut out = report(&done, names, false, unchanged, failures.len());
    out.push_str(&exposure(&exposed, who, false));
    super::write_stdout(out.as_bytes())?;
    if failures.is_empty() {
        return Ok(());
    }
    let code = failures
        .iter()
        .map(|(_, e)| e.code)
        .find(|c| matches!(c, Code::Decrypt | Code::Integrity))
        .unwrap_or(failures[0].1.code);
    let count = failures.len();
    let mut err = Error::new(
        code,
        format!(
            "{count} encrypted file{} could not be changed",
            plural(count)
        ),
    );
    for (_, e) in &failures {
        err = err.detail(e.message.clone());
    }
    let still_readable = failures
        .iter()
        .any(|(job, _)| matches!(job.action, Action::Rotate { .. }));
    let hint = if still_readable {
        "the other files are done; the files above keep their old data key and recipients (so whoever was removed can still read them) and decrypt as before. Fix the cause, or ask someone who can decrypt them, then run `ksec rekey` to finish"
    } else {
        "the other files are done; the files above keep their recipients and decrypt as before. Fix the cause, or ask someone who can decrypt them, then run `ksec rekey` to finish"
    };
    Err(err.hint(hint))
}

// ---------------------------------------------------------------- add

/// A recipient name: letters, digits, `-`, `_`, `.`, starting with a letter
/// or digit, at most 63; not something that reads as a key.
fn check_recipient_name(project: &Project, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !wrap::looks_like_key(name);
    if !valid {
        return Err(Error::invalid(format!(
            "{name:?} is not a valid recipient name: use letters, digits, '-', '_' and '.', starting with a letter or digit, at most 63 characters"
        ))
        .hint("for example --name carol or --name ci-prod"));
    }
    if project.recipients.contains_key(name) {
        return Err(
            Error::invalid(format!("recipient {name} is already in ksec.yaml")).hint(format!(
                "choose another name, or `ksec recipients remove {name}` first"
            )),
        );
    }
    if project.groups.contains_key(name) {
        return Err(
            Error::invalid(format!("{name} is already a group in ksec.yaml"))
                .hint("recipients and groups share one set of names; choose another name"),
        );
    }
    Ok(())
}

fn add(args: RecipientsAddArgs, ctx: &Context) -> Result<()> {
    let (_lock, project) = Project::discover_locked(ctx.project_flag.as_deref())?;
    let key = args.key.trim().to_string();
    Recipient::parse(&key).map_err(|why| {
        Error::invalid(format!("the key for {} is {why}", args.name))
            .hint("pass the public key: the age1… line `ksec keygen` prints, or an SSH public key (ssh-ed25519 …)")
    })?;
    check_recipient_name(&project, &args.name)?;
    if let Some((other, _)) = project
        .recipients
        .iter()
        .find(|(_, k)| key_id(k) == key_id(&key))
    {
        return Err(Error::invalid(format!(
            "that key is already in ksec.yaml as recipient {other}"
        ))
        .hint(format!(
            "one key, one name: give {other} access where you need it (its group or namespaces)"
        )));
    }
    let targets: Vec<String> = if args.all {
        project.namespaces.keys().cloned().collect()
    } else {
        let mut out: Vec<String> = Vec::new();
        for ns in &args.namespaces {
            if !project.namespaces.contains_key(ns) {
                return Err(
                    Error::not_found(format!("no namespace {ns} in ksec.yaml")).hint(format!(
                        "namespaces: {}",
                        names_or_none(project.namespaces.keys())
                    )),
                );
            }
            if !out.contains(ns) {
                out.push(ns.clone());
            }
        }
        out
    };
    if let Some(group) = &args.group
        && !project.groups.contains_key(group)
    {
        let hint = if project.recipients.contains_key(group) {
            format!(
                "{group} is a recipient, not a group; groups: {}",
                names_or_none(project.groups.keys())
            )
        } else {
            format!(
                "groups: {}; create it in ksec.yaml under `groups:` first, or use -n NAMESPACE",
                names_or_none(project.groups.keys())
            )
        };
        return Err(Error::not_found(format!("no group {group} in ksec.yaml")).hint(hint));
    }

    let file = project.file();
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, &e))?;
    let edit_error = |e: edit::EditError| {
        Error::invalid(format!(
            "cannot add recipient {} to {}: {e}",
            args.name,
            file.display()
        ))
        .hint("add it by hand, then run `ksec rekey`")
    };
    let mut new_text = edit::add_recipient(&text, &args.name, &key).map_err(edit_error)?;
    let mut places = vec!["recipients".to_string()];
    if let Some(group) = &args.group {
        new_text = edit::add_to_group(&new_text, group, &args.name).map_err(edit_error)?;
        places.push(format!("groups.{group}"));
    }
    for ns in &targets {
        new_text = edit::add_to_namespace(&new_text, ns, &args.name).map_err(edit_error)?;
        places.push(format!("namespaces.{ns}.recipients"));
    }
    let updated = Project::parse(&project.root, &new_text)?;
    let in_place = updated.recipients.get(&args.name) == Some(&key)
        && args
            .group
            .as_ref()
            .is_none_or(|g| updated.groups[g].contains(&args.name))
        && targets
            .iter()
            .all(|ns| updated.namespaces[ns].recipients.contains(&args.name));
    if !in_place {
        return Err(Error::new(
            Code::Unexpected,
            format!(
                "the edit of {} did not add {} where it should; nothing was written",
                file.display(),
                args.name
            ),
        )
        .hint("add it by hand and run `ksec rekey`; please report this"));
    }

    let sources = scan(&updated)?;
    let names = Names::new(&[&project, &updated]);
    let (jobs, unchanged): (Vec<Job>, usize) = {
        let mut jobs = Vec::new();
        let mut unchanged = 0;
        for s in &sources {
            let wanted = s.wanted.iter().any(|(_, k)| key_id(k) == key_id(&key));
            if wanted && !s.has(&key) {
                jobs.push(Job {
                    source: s,
                    action: Action::Rewrap {
                        add: vec![(args.name.clone(), key.clone())],
                    },
                });
            } else {
                unchanged += 1;
            }
        }
        (jobs, unchanged)
    };
    let out_of_sync = sources
        .iter()
        .filter(|s| !matches!(s.sync_action(), Action::Unchanged))
        .filter(|s| !jobs.iter().any(|j| j.source.path == s.path))
        .count();

    let change = ProjectChange {
        project: &project,
        new_text: &new_text,
        updated: &updated,
        headline: format!(
            "{} ({}) to ksec.yaml: {}",
            args.name,
            short_key(&key),
            places.join(", ")
        ),
        removed: None,
        out_of_sync,
    };
    change.run(
        ("would add", "added"),
        jobs,
        &names,
        unchanged,
        args.dry_run,
        ctx,
    )
}

/// An edit of ksec.yaml and the files it changes, for add and remove.
struct ProjectChange<'a> {
    project: &'a Project,
    new_text: &'a str,
    updated: &'a Project,
    /// `NAME (age1…) to ksec.yaml: recipients, groups.team`
    headline: String,
    /// The recipient removed: its readable secrets are listed.
    removed: Option<&'a str>,
    /// Other files that do not match ksec.yaml (a note points to rekey).
    out_of_sync: usize,
}

impl ProjectChange<'_> {
    /// With `dry_run` print the plan; else write ksec.yaml (and
    /// .sops.yaml), then the files. `verbs` are (planned, done).
    fn run(
        &self,
        verbs: (&str, &str),
        jobs: Vec<Job>,
        names: &Names,
        unchanged: usize,
        dry_run: bool,
        ctx: &Context,
    ) -> Result<()> {
        if dry_run {
            let plan: Vec<(String, Action)> = jobs
                .iter()
                .map(|j| (j.source.rel.clone(), j.action.clone()))
                .collect();
            let mut out = format!("{} {}\n", verbs.0, self.headline);
            out.push_str(&report(&plan, names, true, unchanged, 0));
            if let Some(who) = self.removed {
                out.push_str(&exposure(&exposed(&jobs, names), Some(who), true));
            }
            out.push_str("dry run: nothing was changed\n");
            return super::write_stdout(out.as_bytes());
        }
        let ids = if jobs.is_empty() {
            Vec::new()
        } else {
            identities(ctx, &jobs)?
        };
        write_project(self.project, self.new_text, self.updated)?;
        super::write_stdout(format!("{} {}\n", verbs.1, self.headline).as_bytes())?;
        let result = finish(jobs, &ids, names, unchanged, self.removed);
        note_out_of_sync(self.out_of_sync);
        result
    }
}

fn names_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&str> = names.map(String::as_str).collect();
    if all.is_empty() {
        "(none)".into()
    } else {
        all.join(", ")
    }
}

fn note_out_of_sync(count: usize) {
    if count > 0 {
        eprintln!(
            "note: {count} other encrypted file{} do{} not match ksec.yaml; `ksec rekey --dry-run` shows them, `ksec rekey` updates them",
            plural(count),
            if count == 1 { "es" } else { "" }
        );
    }
}

// ---------------------------------------------------------------- remove

fn remove(args: RecipientsRemoveArgs, ctx: &Context) -> Result<()> {
    let (_lock, project) = Project::discover_locked(ctx.project_flag.as_deref())?;
    let name = &args.name;
    let Some(key) = project.recipients.get(name).cloned() else {
        let mut err = Error::not_found(format!("no recipient {name} in ksec.yaml"));
        let stale = scan(&project)
            .map(|s| s.iter().filter(|s| !s.extra().is_empty()).count())
            .unwrap_or(0);
        err = if stale > 0 {
            err.hint(format!(
                "{stale} encrypted file{} still list{} recipients ksec.yaml no longer wants (an interrupted removal?): run `ksec rekey` to finish",
                plural(stale),
                if stale == 1 { "s" } else { "" }
            ))
        } else {
            err.hint(format!(
                "recipients in ksec.yaml: {}",
                names_or_none(project.recipients.keys())
            ))
        };
        return Err(err);
    };
    let file = project.file();
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, &e))?;
    let (new_text, lists) = edit::remove_recipient(&text, name).map_err(|e| {
        Error::invalid(format!(
            "cannot remove recipient {name} from {}: {e}",
            file.display()
        ))
        .hint("remove it by hand, then run `ksec rekey`")
    })?;
    let updated = Project::parse(&project.root, &new_text)?;
    let gone = !updated.recipients.contains_key(name)
        && updated.groups.values().all(|m| !m.contains(name))
        && updated
            .namespaces
            .values()
            .all(|ns| !ns.recipients.contains(name))
        && updated
            .environments
            .values()
            .all(|env| !env.recipients.contains(name));
    if !gone {
        return Err(Error::new(
            Code::Unexpected,
            format!(
                "the edit of {} did not remove every mention of {name}; nothing was written",
                file.display()
            ),
        )
        .hint("remove it by hand and run `ksec rekey`; please report this"));
    }
    if let Some((other, _)) = updated
        .recipients
        .iter()
        .find(|(_, k)| key_id(k) == key_id(&key))
    {
        eprintln!(
            "warning: {name}'s key is also in ksec.yaml as recipient {other}; the files {other} may read keep it"
        );
    }

    let sources = scan(&updated)?;
    let names = Names::new(&[&project, &updated]);
    let mut jobs = Vec::new();
    let mut unchanged = 0;
    for s in &sources {
        if !s.has(&key) {
            unchanged += 1;
            continue;
        }
        if s.wanted.is_empty() {
            return Err(Error::invalid(format!(
                "removing {name} would leave namespace {} with no recipients, and {} readable by nobody; nothing was changed",
                s.namespace, s.rel
            ))
            .hint(format!(
                "first give the namespace another recipient: `ksec recipients add KEY --name NAME -n {}`",
                s.namespace
            )));
        }
        match s.sync_action() {
            Action::Unchanged => unchanged += 1,
            action => jobs.push(Job { source: s, action }),
        }
    }
    let out_of_sync = sources
        .iter()
        .filter(|s| !s.has(&key) && !matches!(s.sync_action(), Action::Unchanged))
        .count();
    let mut places = vec!["recipients".to_string()];
    places.extend(lists);

    let change = ProjectChange {
        project: &project,
        new_text: &new_text,
        updated: &updated,
        headline: format!(
            "{name} ({}) from ksec.yaml: {}",
            short_key(&key),
            places.join(", ")
        ),
        removed: Some(name),
        out_of_sync,
    };
    change.run(
        ("would remove", "removed"),
        jobs,
        &names,
        unchanged,
        args.dry_run,
        ctx,
    )
}

// ---------------------------------------------------------------- rekey

pub fn rekey(args: RekeyArgs, ctx: &Context) -> Result<()> {
    let (_lock, project) = Project::discover_locked(ctx.project_flag.as_deref())?;
    let sources = scan(&project)?;
    let names = Names::new(&[&project]);
    let mut jobs = Vec::new();
    let mut unchanged = 0;
    let mut refused = Vec::new();
    for s in &sources {
        match s.sync_action() {
            Action::Unchanged => unchanged += 1,
            _ if s.wanted.is_empty() => refused.push(s),
            action => jobs.push(Job { source: s, action }),
        }
    }
    let sops_file = project.root.join(".sops.yaml");
    let sops_wanted = scaffold::sops_yaml(&project);
    let sops_stale = sops_file.exists()
        && std::fs::read_to_string(&sops_file).map_or(true, |t| t != sops_wanted);

    if args.dry_run {
        let plan: Vec<(String, Action)> = jobs
            .iter()
            .map(|j| (j.source.rel.clone(), j.action.clone()))
            .collect();
        let mut out = String::new();
        if sops_stale {
            out.push_str("would update .sops.yaml from ksec.yaml\n");
        }
        out.push_str(&report(&plan, &names, true, unchanged, 0));
        out.push_str(&exposure(&exposed(&jobs, &names), None, true));
        out.push_str("dry run: nothing was changed\n");
        super::write_stdout(out.as_bytes())?;
        return refused_error(&refused);
    }
    let ids = if jobs.is_empty() {
        Vec::new()
    } else {
        identities(ctx, &jobs)?
    };
    if sops_stale {
        fsutil::write_atomic(&sops_file, sops_wanted.as_bytes(), 0o644)?;
        super::write_stdout(b"updated .sops.yaml from ksec.yaml\n")?;
    }
    let result = finish(jobs, &ids, &names, unchanged, None);
    let left = leftovers(&project);
    if !left.is_empty() {
        eprintln!(
            "note: {} temporary file{} left by an interrupted write (ignored; safe to delete once no ksec runs): {}",
            left.len(),
            plural(left.len()),
            left.iter()
                .map(|p| rel(&project, p))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    result?;
    refused_error(&refused)
}

/// Files of namespaces that have no recipients: rewrapping them for nobody
/// would lock everyone out, so they are left alone.
fn refused_error(refused: &[&Source]) -> Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    let mut err = Error::invalid(format!(
        "{} encrypted file{} left as {}: {} namespace has no recipients in ksec.yaml",
        refused.len(),
        plural(refused.len()),
        if refused.len() == 1 {
            "it is"
        } else {
            "they are"
        },
        if refused.len() == 1 { "its" } else { "their" },
    ));
    for s in refused {
        err = err.detail(format!("{} (namespace {})", s.rel, s.namespace));
    }
    Err(err.hint("give the namespace a recipient in ksec.yaml (ksec recipients add KEY --name NAME -n NAMESPACE), then run `ksec rekey`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_keep_both_ends() {
        assert_eq!(
            short_key("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"),
            "age1ql3z7hjy…mcac8p"
        );
        assert_eq!(
            short_key(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB1VHtZ6U3Pg bob@laptop"
            ),
            "ssh-ed25519 AAAAC3Nz…Z6U3Pg"
        );
        assert_eq!(short_key("age1short"), "age1short");
    }

    #[test]
    fn ssh_keys_match_without_their_comment() {
        assert_eq!(
            key_id("ssh-ed25519 AAAAC3Nz bob@laptop"),
            key_id("ssh-ed25519 AAAAC3Nz  other-comment")
        );
        assert_ne!(key_id("age1aaa"), key_id("age1aab"));
    }
}
