//! `ksec encrypt`: a plaintext YAML, JSON, dotenv or binary file -> a new
//! SOPS file in the store sops would use for its name.

use super::Context;
use crate::cli::EncryptArgs;
use crate::crypto::sops::{self, Format};
use crate::crypto::wrap::{Recipient, looks_like_key};
use crate::error::{Error, Result, sops_error};
use crate::fsutil;
use crate::project::Project;
use std::path::Path;

pub fn run(args: EncryptArgs, ctx: &Context) -> Result<()> {
    // sops picks the store by the name: YAML, JSON, dotenv, else binary
    let format = Format::for_plaintext(&args.file);
    if let Some(out) = &args.output {
        check_output_name(&args.file, out, format)?;
    }
    let recipients = recipients(&args, ctx)?;
    // --in-place rewrites the file it reads: one writer at a time.
    let _lock = args
        .in_place
        .then(|| crate::lock::lock(&args.file))
        .transpose()?;
    let encrypted = if format == Format::Binary {
        let bytes = zeroize::Zeroizing::new(fsutil::read_file(&args.file)?);
        sops::encrypt_bytes(&bytes, &recipients)
    } else {
        let text = zeroize::Zeroizing::new(fsutil::read_text(&args.file)?);
        let format = format.with_text(&text);
        sops::parse_plain(&text, format)
            .and_then(|plain| sops::encrypt_new(plain, format, &recipients))
    }
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

/// The output must be named so that sops reads it in the store it is
/// written in: `sops -d` takes the store from the name.
fn check_output_name(input: &Path, output: &Path, format: Format) -> Result<()> {
    let named = Format::for_plaintext(output);
    if named == format {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{}: sops reads a file of this name as {}, but {} is encrypted as {} (by its name)",
        output.display(),
        named.name(),
        input.display(),
        format.name()
    ))
    .hint(match format {
        Format::Yaml | Format::YamlStream => "name the output *.yaml (e.g. db.enc.yaml)",
        Format::Json => "name the output *.json (e.g. db.enc.json)",
        Format::Dotenv => "name the output *.env (e.g. db.enc.env)",
        Format::Ini => "name the output *.ini (e.g. app.enc.ini)",
        Format::Binary => "keep the input's extension (e.g. keystore.enc.jks)",
    }))
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
