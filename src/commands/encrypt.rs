//! `ksec encrypt`: plaintext YAML/dotenv -> a new SOPS file.

use super::Context;
use crate::cli::EncryptArgs;
use crate::crypto::sops::{self, Format};
use crate::crypto::wrap::{Recipient, looks_like_key};
use crate::error::{Error, Result, sops_error};
use crate::fsutil;
use crate::project::Project;
use std::path::Path;

pub fn run(args: EncryptArgs, ctx: &Context) -> Result<()> {
    refuse_other_store(&args.file, args.output.as_deref(), None)?;
    let recipients = recipients(&args, ctx)?;
    // --in-place rewrites the file it reads: one writer at a time.
    let _lock = args
        .in_place
        .then(|| crate::lock::lock(&args.file))
        .transpose()?;
    let text = zeroize::Zeroizing::new(fsutil::read_text(&args.file)?);
    refuse_other_store(&args.file, args.output.as_deref(), Some(&text))?;
    let format = Format::from_path(&args.file);
    let plain = sops::parse_plain(&text, format).map_err(|e| sops_error(&args.file, e))?;
    let encrypted = sops::encrypt_new(plain, format, &recipients)
        .and_then(|f| f.emit())
        .map_err(|e| sops_error(&args.file, e))?;
    if args.in_place {
        fsutil::write_atomic(&args.file, encrypted.as_bytes(), 0o644)
    } else if let Some(out) = &args.output {
        fsutil::write_atomic(out, encrypted.as_bytes(), 0o644)
    } else {
        super::write_stdout(encrypted.as_bytes())
    }
}

/// ksec writes YAML or dotenv; refuse an input or output that sops would
/// take for JSON or INI (by extension), and JSON content in a file not
/// named as YAML, rather than write YAML that `sops -d` then cannot read.
fn refuse_other_store(input: &Path, output: Option<&Path>, text: Option<&str>) -> Result<()> {
    let ext = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
    };
    for path in std::iter::once(input).chain(output) {
        let kind = match ext(path).as_deref() {
            Some("json") => "JSON",
            Some("ini") => "INI",
            _ => continue,
        };
        return Err(refusal(path, kind));
    }
    if let Some(text) = text
        && text.trim_start().starts_with('{')
        && !matches!(ext(input).as_deref(), Some("yaml" | "yml"))
        && Format::from_path(input) == Format::Yaml
    {
        return Err(refusal(input, "JSON"));
    }
    Ok(())
}

fn refusal(path: &Path, kind: &str) -> Error {
    Error::invalid(format!(
        "{}: {kind} files are not supported yet: ksec encrypts YAML and dotenv only, and would write YAML that sops cannot read under this name",
        path.display()
    ))
    .hint(format!(
        "encrypt it with sops (`sops -e {}`), or convert it to YAML (*.yaml) or dotenv (*.env) first",
        path.display()
    ))
}

/// `-r` arguments (keys, or names from ksec.yaml), else the namespace that
/// owns the file.
fn recipients(args: &EncryptArgs, ctx: &Context) -> Result<Vec<(String, Recipient)>> {
    let project =
        if args.recipients.is_empty() || args.recipients.iter().any(|r| !looks_like_key(r)) {
            Some(Project::discover(ctx.project_flag.as_deref())?)
        } else {
            None
        };
    let mut texts: Vec<String> = Vec::new();
    if args.recipients.is_empty() {
        let project = project.as_ref().expect("loaded above");
        let target = args.output.as_deref().unwrap_or(&args.file);
        let ns = project.namespace_for(target).ok_or_else(|| {
            Error::usage(format!(
                "{} is not inside any namespace's folder in {}, so ksec does not know its recipients",
                target.display(),
                project.file().display()
            ))
            .hint("pass -r RECIPIENT, or move the file under namespaces/<name>/")
        })?;
        texts = project
            .namespace_recipients(ns)
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        if texts.is_empty() {
            return Err(Error::invalid(format!(
                "namespace {} has no recipients in ksec.yaml",
                ns.name
            ))
            .hint(
                "add recipients to the namespace (or its environments) in ksec.yaml, or pass -r",
            ));
        }
    } else {
        for arg in &args.recipients {
            if looks_like_key(arg) {
                texts.push(arg.clone());
            } else {
                let project = project.as_ref().expect("loaded above");
                let keys = project.resolve_recipient(arg).ok_or_else(|| {
                    Error::invalid(format!(
                        "-r {}: not a key, and no recipient or group of that name in ksec.yaml",
                        crate::error::shown(arg)
                    ))
                    .hint("pass an age1… key, an SSH public key, or a name from ksec.yaml")
                })?;
                texts.extend(keys);
            }
        }
    }
    let mut out: Vec<(String, Recipient)> = Vec::new();
    for text in texts {
        if out.iter().any(|(t, _)| *t == text) {
            continue;
        }
        let recipient = Recipient::parse(&text).map_err(|why| {
            Error::invalid(format!("recipient {text}: {why}"))
                .hint("an age recipient starts with age1")
        })?;
        out.push((text, recipient));
    }
    Ok(out)
}
