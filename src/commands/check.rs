//! `ksec check` (the guard) and `ksec hook install`: load the project and
//! the files from git, run the guard, print its findings (never a value).

mod expiring;
mod rotation;

use super::outln;
use super::{Context, write_stdout};
use crate::cli::{CheckArgs, HookCommand, HookInstallArgs, OutputFormat};
use crate::error::{Code, Error, Result};
use crate::guard::{self, Finding, Report, Rule, git::Content, git::Repo};
use crate::load::{self, Missing};
use crate::project::{self, FILE_NAME, Problem, Project};
use std::path::Path;

pub fn run(args: CheckArgs, ctx: &Context) -> Result<()> {
    if args.rotation || args.expiring_within.is_some() {
        return reports(&args, ctx);
    }
    let root = project::find_root(ctx.project_flag.as_deref())?;
    let repo = Repo::open(&root)?;

    let (files, links) = if args.staged {
        let staged = repo.staged(false)?;
        // a changed ksec.yaml can make any committed file wrong (its
        // recipients, a new secret source): then check the whole index
        if staged.iter().any(|f| f.path == FILE_NAME) {
            (repo.staged(true)?, repo.staged_links(true)?)
        } else {
            (staged, repo.staged_links(false)?)
        }
    } else {
        (repo.tracked()?, repo.tracked_links()?)
    };
    let ksec_yaml = match files.iter().find(|f| f.path == FILE_NAME) {
        Some(file) => match &file.content {
            Content::Blob(bytes) => bytes.clone(),
            Content::WorkTree(path) => read(path)?,
        },
        None if args.staged => match repo.index_file(FILE_NAME)? {
            Some(bytes) => bytes,
            None => read(&root.join(FILE_NAME))?,
        },
        None => read(&root.join(FILE_NAME))?,
    };
    let parsed: std::result::Result<Project, Vec<Problem>> = match String::from_utf8(ksec_yaml) {
        Ok(text) => Project::parse_located(&root, &text),
        Err(_) => Err(vec![Problem {
            line: None,
            message: "is not UTF-8 text".into(),
        }]),
    };

    let (identities, no_identity) = match load::identities_if_any(ctx) {
        Ok(identities) => (identities, None),
        Err(Missing::NotFound) => (
            Vec::new(),
            Some("no age identity found (set KSEC_AGE_KEY_FILE to verify them)".to_string()),
        ),
        Err(Missing::Failed(err)) => (
            Vec::new(),
            Some(format!("the identity lookup failed: {}", err.message)),
        ),
    };

    let report = guard::check(
        &files,
        &guard::Inputs {
            project: parsed.as_ref().map_err(Vec::as_slice),
            identities: &identities,
            warn_unused_allows: !args.staged,
            links: &links,
        },
    );

    let unverified_note = (report.unverified > 0).then(|| {
        let why = no_identity
            .clone()
            .unwrap_or_else(|| "none of your identities can open them".into());
        format!(
            "the MACs of {} encrypted file{} were not checked: {why}",
            report.unverified,
            plural(report.unverified)
        )
    });

    match args.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let json = serde_json::json!({
                "problems": report.problems.iter().map(|f| serde_json::json!({
                    "file": f.file,
                    "line": f.line,
                    "rule": f.rule.id(),
                    "message": f.message,
                })).collect::<Vec<_>>(),
                "allowed": report.allowed,
                "files": report.files,
                "verified": report.verified,
                "unverified": report.unverified,
                "warnings": report.warnings.iter().cloned().chain(unverified_note.clone()).collect::<Vec<_>>(),
            });
            super::print_data(args.output, &json, true)?;
        }
        OutputFormat::Text => {
            let mut out = String::new();
            for f in &report.problems {
                out.push_str(&text_line(f));
                out.push('\n');
            }
            if report.problems.is_empty() {
                out.push_str(&format!(
                    "ksec check: no problems in {} file{}{}\n",
                    report.files,
                    plural(report.files),
                    allowed_note(&report)
                ));
            }
            write_stdout(out.as_bytes())?;
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            if let Some(note) = &unverified_note {
                eprintln!("note: {note}");
            }
        }
    }

    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(failure(&report))
    }
}

/// `path:line: rule: message` (no `:line` when there is none).
fn text_line(f: &Finding) -> String {
    let at = f.line.map(|l| format!(":{l}")).unwrap_or_default();
    format!("{}{at}: {}: {}", f.file, f.rule.id(), f.message)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn allowed_note(report: &Report) -> String {
    match report.allowed {
        0 => String::new(),
        n => format!(
            " ({n} finding{} allowed by ksec.yaml check.allow)",
            plural(n)
        ),
    }
}

/// The summary of a failed check, with what to do for each kind of problem.
fn failure(report: &Report) -> Error {
    let count = report.problems.len();
    let files: std::collections::BTreeSet<&str> =
        report.problems.iter().map(|f| f.file.as_str()).collect();
    let mut err = Error::new(
        Code::CheckFailed,
        format!(
            "ksec check found {count} problem{} in {} file{}{}",
            plural(count),
            files.len(),
            plural(files.len()),
            allowed_note(report)
        ),
    );
    let has = |rules: &[Rule]| report.problems.iter().any(|f| rules.contains(&f.rule));
    let plaintext = [
        Rule::SecretManifest,
        Rule::PlaintextCopy,
        Rule::PrivateKey,
        Rule::AgeIdentity,
        Rule::CloudKey,
    ];
    if has(&plaintext) {
        err = err.detail("plaintext secrets: take them out of git (`git rm --cached FILE`), keep secrets in encrypted sources, and rotate any that were committed before");
    }
    if has(&[Rule::UnencryptedSource]) {
        err = err.detail("unencrypted sources: encrypt each with `ksec encrypt --in-place FILE`");
    }
    if has(&[Rule::Recipients]) {
        err = err.detail("recipients: `ksec rekey` makes every file match ksec.yaml");
    }
    if has(&[Rule::SopsInvalid, Rule::Integrity]) {
        err = err.detail("damaged or tampered files: restore them from git (`git checkout -- FILE`) or re-create them");
    }
    if has(&[Rule::SourceLink]) {
        err = err.detail("source links: replace each link in a namespace folder with the file itself (`git rm --cached LINK`, then copy the file in)");
    }
    if has(&[Rule::KsecYaml]) {
        err = err.detail("ksec.yaml: fix it; the README documents every field");
    }
    if has(&plaintext) {
        err = err.hint("a demo or test key that protects nothing can be allowed in ksec.yaml (check.allow: path, rule, reason)");
    }
    err
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("read", path, &e))
}

/// The marker that tells a hook ksec wrote from any other.
const HOOK_MARKER: &str = "# installed by ksec hook install";

pub fn hook(cmd: HookCommand, ctx: &Context) -> Result<()> {
    match cmd {
        HookCommand::Install(args) => install(args, ctx),
    }
}

fn install(args: HookInstallArgs, ctx: &Context) -> Result<()> {
    let root = project::find_root(ctx.project_flag.as_deref())?;
    let repo = Repo::open(&root)?;
    let path = repo.hook_path()?;
    let script = hook_script(&repo.prefix);
    let replacing = match std::fs::read(&path) {
        Ok(existing) if existing == script.as_bytes() => {
            outln!(
                "{} is already ksec's pre-commit hook; nothing changed",
                path.display()
            )?;
            return Ok(());
        }
        Ok(existing) => {
            let ours = String::from_utf8_lossy(&existing)
                .lines()
                .any(|l| l.trim() == HOOK_MARKER);
            if !ours && !args.force {
                return Err(Error::invalid(format!(
                    "{} is a pre-commit hook that ksec did not write; not replacing it",
                    path.display()
                ))
                .hint("add `ksec check --staged` to that hook yourself, or replace it with `ksec hook install --force`"));
            }
            !ours
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io("read", &path, &e)),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create the directory", dir, &e))?;
    }
    crate::fsutil::write_atomic(&path, script.as_bytes(), 0o755)?;
    // a replaced hook may not have been executable
    crate::fsutil::set_mode(&path, 0o755).map_err(|e| Error::io("make executable", &path, &e))?;
    let verb = if replacing { "replaced" } else { "installed" };
    outln!(
        "{verb} {}: `ksec check --staged` runs before each commit (skip it once with `git commit --no-verify`)",
        path.display()
    )?;
    Ok(())
}

/// The hook: POSIX sh, run by git at the top of the working tree.
fn hook_script(prefix: &str) -> String {
    let project = prefix.trim_end_matches('/');
    let command = if project.is_empty() {
        "ksec check --staged".to_string()
    } else {
        format!("ksec check --staged --project {}", sh_quote(project))
    };
    format!(
        "#!/bin/sh\n\
         {HOOK_MARKER}\n\
         # Refuses a commit that would put plaintext secrets, mis-keyed or damaged\n\
         # encrypted files into git. Skip it once with `git commit --no-verify`.\n\
         if ! command -v ksec >/dev/null 2>&1; then\n\
         \x20   echo 'ksec pre-commit hook: ksec is not on PATH; install it, or commit with --no-verify' >&2\n\
         \x20   exit 1\n\
         fi\n\
         exec {command}\n"
    )
}

/// Quote for sh: single quotes, with `'` written as `'\''`.
fn sh_quote(text: &str) -> String {
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `--rotation` and `--expiring-within`: each report, or both in one run
/// (text one after the other; JSON or YAML one document holding both
/// reports' fields). Fails when either finds something due.
fn reports(args: &CheckArgs, ctx: &Context) -> Result<()> {
    let rotation = args.rotation.then(|| rotation::report(ctx)).transpose()?;
    let expiring = match &args.expiring_within {
        Some(within) => Some(expiring::report(within, ctx)?),
        None => None,
    };
    match args.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let mut doc = serde_json::Map::new();
            for part in [
                rotation.as_ref().map(rotation::Report::json),
                expiring.as_ref().map(expiring::Report::json),
            ]
            .into_iter()
            .flatten()
            {
                if let serde_json::Value::Object(fields) = part {
                    doc.extend(fields);
                }
            }
            super::print_data(args.output, &serde_json::Value::Object(doc), true)?;
        }
        OutputFormat::Text => {
            let mut out = String::new();
            if let Some(r) = &rotation {
                out.push_str(&r.text());
            }
            if let Some(e) = &expiring {
                out.push_str(&e.text());
            }
            write_stdout(out.as_bytes())?;
        }
    }
    if let Some(r) = &rotation {
        r.notes();
    }
    let failures: Vec<Error> = [rotation.map(|r| r.outcome()), expiring.map(|e| e.outcome())]
        .into_iter()
        .flatten()
        .filter_map(Result::err)
        .collect();
    let mut failures = failures.into_iter();
    match (failures.next(), failures.next()) {
        (None, _) => Ok(()),
        (Some(one), None) => Err(one),
        (Some(first), Some(second)) => {
            let mut both = Error::new(
                Code::CheckFailed,
                format!("{}; {}", first.message, second.message),
            );
            both.details = first.details.into_iter().chain(second.details).collect();
            Err(both.hint("each is named above"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_script_names_the_project_folder() {
        assert!(hook_script("").contains("\nexec ksec check --staged\n"));
        assert!(
            hook_script("deploy/k8s/")
                .contains("\nexec ksec check --staged --project deploy/k8s\n")
        );
        assert!(hook_script("it's here/").contains("--project 'it'\\''s here'\n"));
        assert!(hook_script("").starts_with("#!/bin/sh\n# installed by ksec hook install\n"));
    }
}
