//! `ksec init`: scaffold a project, or say that there is one already.

use super::Context;
use super::outln;
use crate::cli::InitArgs;
use crate::crypto::wrap::Recipient;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::project::{self, FILE_NAME, Project, adopt, scaffold};
use std::path::Path;

pub fn run(args: InitArgs, ctx: &Context) -> Result<()> {
    let dir = match args.dir.as_ref().or(ctx.project_flag.as_ref()) {
        Some(d) => project::absolute(d),
        None => std::env::current_dir()
            .map_err(|e| Error::io("read the working directory", Path::new("."), &e))?,
    };
    if dir.join(FILE_NAME).exists() {
        return existing(&dir, args.refresh);
    }
    if args.refresh {
        return Err(
            Error::not_found(format!("no {FILE_NAME} in {}", dir.display()))
                .hint("run `ksec init` without --refresh to create the project"),
        );
    }
    let name = match &args.name {
        Some(n) if crate::k8s::is_dns_label(n) => n.clone(),
        Some(n) => {
            return Err(Error::invalid(format!(
                "project name {} is not a DNS-1123 label",
                crate::error::shown(n)
            ))
            .hint("use lower-case letters, digits and '-', at most 63 characters"));
        }
        None => project::sanitize_label(dir.file_name().and_then(|n| n.to_str()).unwrap_or("ksec")),
    };
    let mut recipients = Vec::new();
    for arg in &args.recipient {
        let (rname, key) = arg.split_once('=').ok_or_else(|| {
            Error::usage(format!(
                "--recipient {}: expected NAME=KEY",
                crate::error::shown(arg)
            ))
            .hint("for example --recipient alice=age1…")
        })?;
        if !is_recipient_name(rname) {
            return Err(Error::invalid(format!(
                "--recipient {}: {} is not a valid recipient name",
                crate::error::shown(arg),
                crate::error::shown(rname)
            ))
            .hint("use letters, digits, '.', '_' and '-', like alice or ci-prod"));
        }
        Recipient::parse(key).map_err(|why| {
            Error::invalid(format!("--recipient {}: {why}", crate::error::shown(rname)))
        })?;
        recipients.push((rname.to_string(), key.trim().to_string()));
    }

    if args.from_sops {
        return from_sops(&dir, &name, recipients);
    }
    std::fs::create_dir_all(dir.join("namespaces"))
        .map_err(|e| Error::io("create", &dir.join("namespaces"), &e))?;
    let ksec_yaml = scaffold::starter_ksec_yaml(&name, &recipients);
    // Validate what we are about to write with the same code that reads it.
    let project = Project::parse(&dir, &ksec_yaml)?;
    let mut created = Vec::new();
    fsutil::write_new(&dir.join(FILE_NAME), ksec_yaml.as_bytes(), 0o644)?;
    created.push(FILE_NAME.to_string());
    for (file, text) in [
        (".gitignore", scaffold::GITIGNORE),
        (".gitattributes", scaffold::GITATTRIBUTES),
    ] {
        if !fsutil::merge_lines(&dir.join(file), text)?.is_empty() {
            created.push(file.to_string());
        }
    }
    fsutil::write_atomic(
        &dir.join(".sops.yaml"),
        scaffold::sops_yaml(&project).as_bytes(),
        0o644,
    )?;
    created.push(".sops.yaml".into());
    outln!("initialised ksec project {name} in {}", dir.display())?;
    for file in created {
        outln!("  wrote {file}")?;
    }
    Ok(())
}

fn existing(dir: &Path, refresh: bool) -> Result<()> {
    // --refresh writes .sops.yaml from ksec.yaml: not while another command changes them
    let _lock = if refresh {
        Some(crate::lock::lock(&dir.join(FILE_NAME))?)
    } else {
        None
    };
    let project = Project::load(dir)?;
    let wanted = scaffold::sops_yaml(&project);
    let sops_path = dir.join(".sops.yaml");
    let current = std::fs::read_to_string(&sops_path).unwrap_or_default();
    if refresh {
        if current == wanted {
            outln!(".sops.yaml is already in step with ksec.yaml; nothing changed")?;
        } else {
            fsutil::write_atomic(&sops_path, wanted.as_bytes(), 0o644)?;
            outln!("refreshed .sops.yaml from ksec.yaml")?;
        }
        return Ok(());
    }
    outln!(
        "{} is already a ksec project; nothing changed",
        dir.display()
    )?;
    if current != wanted {
        outln!(
            "note: .sops.yaml is out of step with ksec.yaml; run `ksec init --refresh` to regenerate it"
        )?;
    }
    Ok(())
}

/// `--from-sops`: ksec.yaml from the repository's `.sops.yaml`, which is
/// left as it is (a rule ksec cannot express would be lost by rewriting
/// it); a report of what carried over and what did not.
fn from_sops(dir: &Path, name: &str, given: Vec<(String, String)>) -> Result<()> {
    let sops_path = dir.join(".sops.yaml");
    if !sops_path.is_file() {
        return Err(Error::not_found(format!("no .sops.yaml in {}", dir.display()))
            .hint("run `ksec init --from-sops` in the repository whose .sops.yaml holds the creation rules, or `ksec init` without it"));
    }
    let text = fsutil::read_text(&sops_path)?;
    let mut proposal = adopt::from_sops_yaml(&text).map_err(|why| {
        Error::invalid(format!("{} {why}", sops_path.display()))
            .hint("fix .sops.yaml, or run `ksec init` without --from-sops")
    })?;
    // recipients named with --recipient keep those names
    for (given_name, key) in given {
        match proposal.recipients.iter_mut().find(|(_, k)| *k == key) {
            Some(entry) => {
                let old = std::mem::replace(&mut entry.0, given_name.clone());
                for ns in &mut proposal.namespaces {
                    for r in &mut ns.recipients {
                        if *r == old {
                            r.clone_from(&given_name);
                        }
                    }
                }
            }
            None => proposal.recipients.push((given_name, key)),
        }
    }
    let ksec_yaml = scaffold::adopted_ksec_yaml(name, &proposal);
    Project::parse(dir, &ksec_yaml)?;
    fsutil::write_new(&dir.join(FILE_NAME), ksec_yaml.as_bytes(), 0o644)?;
    outln!(
        "initialised ksec project {name} in {} from .sops.yaml",
        dir.display()
    )?;
    for (rname, key) in &proposal.recipients {
        outln!("  recipient {rname}: {key}")?;
    }
    for ns in &proposal.namespaces {
        outln!(
            "  namespace {} (folder {}): recipients {} (rule {})",
            ns.name,
            ns.folder,
            ns.recipients.join(", "),
            ns.rule
        )?;
    }
    for why in &proposal.unexpressed {
        outln!("  not carried over: {why}")?;
    }
    outln!(
        "next: rename the recipients (sops-N) in ksec.yaml, add the Secrets and ConfigMaps of each namespace, then `ksec init --refresh` to write .sops.yaml from ksec.yaml{}",
        if proposal.unexpressed.is_empty() {
            ""
        } else {
            " (it drops the rules listed above as not carried over)"
        }
    )?;
    Ok(())
}

/// A name for `recipients:` that ksec.yaml holds as a plain key.
fn is_recipient_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
