//! `ksec decrypt`: print (or write) the verified plaintext of a SOPS file.

use super::Context;
use crate::cli::DecryptArgs;
use crate::crypto::sops::emit_plain;
use crate::error::{Error, Result, sops_error};
use crate::load;
use crate::{fsutil, project};
use std::path::Path;

pub fn run(args: DecryptArgs, ctx: &Context) -> Result<()> {
    if let Some(out) = &args.output {
        refuse_plaintext_in_project(out, ctx)?;
    }
    // a binary-store file is printed as the bytes it holds, text or not
    let text = match load::open_binary(&args.file, ctx)? {
        Some(bytes) => bytes,
        None => {
            let opened = load::open_to_read(&args.file, ctx)?;
            zeroize::Zeroizing::new(
                emit_plain(&opened.plain, opened.file.format)
                    .map_err(|e| sops_error(&args.file, e))?
                    .into_bytes(),
            )
        }
    };
    match &args.output {
        Some(out) => fsutil::write_private(out, &text),
        None => super::write_stdout(&text),
    }
}

/// Plaintext may land in a git work tree only where git ignores it (git
/// is asked; a tracked file is never ignored). Outside any git work tree,
/// inside a project only under a `*.dec.*` / `*.plain.*` name (what `ksec
/// init` puts in .gitignore, for when the project becomes a repository).
/// The project is found from the output's own directory (symlinks
/// resolved), and from the working directory or `--project`.
fn refuse_plaintext_in_project(out: &Path, ctx: &Context) -> Result<()> {
    match crate::guard::git::ignored(out)? {
        Some(true) => return Ok(()),
        Some(false) => {
            return Err(Error::usage(format!(
                "refusing to write plaintext to {}: it is in a git work tree and git does not ignore it (`git add` would take it)",
                out.display()
            ))
            .hint("write it outside the repository, or add the path (or its folder) to .gitignore first"));
        }
        None => {}
    }
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.contains(".dec.") || name.contains(".plain.") {
        return Ok(());
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // A directory that does not exist cannot be written to anyway.
    let Ok(dir) = std::fs::canonicalize(parent) else {
        return Ok(());
    };
    let enclosing = dir
        .ancestors()
        .find(|d| d.join(project::FILE_NAME).is_file())
        .map(Path::to_path_buf);
    let current = project::find_root(ctx.project_flag.as_deref())
        .ok()
        .and_then(|root| std::fs::canonicalize(root).ok())
        .filter(|root| dir.starts_with(root));
    if let Some(root) = enclosing.or(current) {
        return Err(Error::usage(format!(
            "refusing to write plaintext to {} inside the project {}",
            out.display(),
            root.display()
        ))
        .hint("write it outside the project, or name it *.dec.yaml / *.dec.env (the names ksec init's .gitignore ignores)"));
    }
    Ok(())
}
