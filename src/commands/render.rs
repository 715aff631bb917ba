//! `ksec render`: load and render the selection (`load::rendered`), and
//! print or write the manifests. Nothing is printed unless everything
//! rendered.

use super::Context;
use crate::cli::{ManifestFormat, RenderArgs};
use crate::error::{Error, Result};
use crate::k8s::Manifest;
use crate::load;
use crate::project::Project;
use crate::render::emit;
use std::collections::BTreeMap;
use std::path::Path;

pub fn run(args: RenderArgs, ctx: &Context) -> Result<()> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let rendered = load::rendered(
        &project,
        args.target.env.as_deref(),
        &args.target.namespaces,
        ctx,
    )?;
    output(&args, &rendered.manifests)
}

fn output(args: &RenderArgs, manifests: &[Manifest]) -> Result<()> {
    let text_of = |items: &[&Manifest]| match args.output {
        ManifestFormat::Yaml => emit::documents(items.iter().map(|m| &m.body)),
        ManifestFormat::Json => {
            let list = serde_json::json!({
                "apiVersion": "v1",
                "kind": "List",
                "items": items.iter().map(|m| m.body.clone()).collect::<Vec<_>>(),
            });
            let mut s = serde_json::to_string_pretty(&list).expect("JSON values always serialise");
            s.push('\n');
            s
        }
    };
    match &args.out {
        None => {
            let all: Vec<&Manifest> = manifests.iter().collect();
            super::write_stdout(text_of(&all).as_bytes())
        }
        Some(dir) => {
            let mut by_ns: BTreeMap<&str, Vec<&Manifest>> = BTreeMap::new();
            for m in manifests {
                by_ns.entry(&m.namespace).or_default().push(m);
            }
            let ext = match args.output {
                ManifestFormat::Yaml => "yaml",
                ManifestFormat::Json => "json",
            };
            let files: Vec<(std::path::PathBuf, Vec<&Manifest>)> = by_ns
                .into_iter()
                .map(|(ns, items)| (dir.join(format!("{ns}.{ext}")), items))
                .collect();
            refuse_unignored_secrets(dir, &files)?;
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create the directory", dir, &e))?;
            for (path, items) in files {
                crate::fsutil::write_private(&path, text_of(&items).as_bytes())?;
                eprintln!("wrote {} ({} objects)", path.display(), items.len());
            }
            Ok(())
        }
    }
}

/// A file holding a Secret may land in a git work tree only where git
/// ignores it; every file is asked about before the first is written.
fn refuse_unignored_secrets(
    dir: &Path,
    files: &[(std::path::PathBuf, Vec<&Manifest>)],
) -> Result<()> {
    let mut refused = Vec::new();
    for (path, items) in files {
        if items.iter().any(|m| m.kind == "Secret")
            && crate::guard::git::ignored(path)? == Some(false)
        {
            refused.push(path);
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    let mut err = Error::usage(format!(
        "refusing to write rendered Secrets into {}: it is in a git work tree and git does not ignore {} (`git add` would take plaintext secrets)",
        dir.display(),
        if refused.len() == 1 {
            "this file"
        } else {
            "these files"
        }
    ));
    for path in refused {
        err = err.detail(path.display().to_string());
    }
    Err(err.hint(format!(
        "add {}/ to .gitignore, or render outside the repository; nothing was written",
        dir.display().to_string().trim_end_matches('/')
    )))
}
