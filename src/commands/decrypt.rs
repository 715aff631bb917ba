//! `ksec decrypt`: print (or write) the verified plaintext of a SOPS file.

use super::Context;
use crate::cli::DecryptArgs;
use crate::crypto::sops::emit_plain;
use crate::error::{Error, Result};
use crate::{fsutil, project};
use std::path::Path;

pub fn run(args: DecryptArgs, ctx: &Context) -> Result<()> {
    if let Some(out) = &args.output {
        refuse_plaintext_in_project(out, ctx)?;
    }
    let opened = super::open(&args.file, ctx)?;
    let text = zeroize::Zeroizing::new(
        emit_plain(&opened.plain, opened.file.format)
            .map_err(|e| super::sops_error(&args.file, e))?,
    );
    match &args.output {
        Some(out) => fsutil::write_atomic(out, text.as_bytes(), 0o600),
        None => super::write_stdout(text.as_bytes()),
    }
}

/// Plaintext may land inside the project only under a git-ignored name.
fn refuse_plaintext_in_project(out: &Path, ctx: &Context) -> Result<()> {
    let Ok(root) = project::find_root(ctx.project_flag.as_deref()) else {
        return Ok(());
    };
    let target = project::absolute(out);
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ignored = name.contains(".dec.") || name.contains(".plain.");
    if target.starts_with(&root) && !ignored {
        return Err(Error::usage(format!(
            "refusing to write plaintext to {} inside the project {}",
            out.display(),
            root.display()
        ))
        .hint("write it outside the project, or name it *.dec.yaml / *.dec.env (git-ignored by ksec init)"));
    }
    Ok(())
}
