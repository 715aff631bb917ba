//! `ksec render`: load and render the selection (`load::rendered`), and
//! print or write the manifests. Nothing is printed unless everything
//! rendered.

use super::Context;
use crate::cli::{ManifestFormat, RenderArgs};
use crate::error::{Error, Result};
use crate::gitops;
use crate::k8s::Manifest;
use crate::load;
use crate::project::Project;
use crate::render::emit;
use crate::statcache::{self, StatCache};
use std::collections::BTreeMap;
use std::path::Path;

pub fn run(args: RenderArgs, ctx: &Context) -> Result<()> {
    if let Some(dir) = &args.gitops {
        let root = crate::project::find_root(ctx.project_flag.as_deref())?;
        return gitops(&args, dir, &root, ctx);
    }
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let rendered = load::rendered(
        &project,
        args.target.env.as_deref(),
        &args.target.namespaces,
        ctx,
    )?;
    output(&args, &rendered.manifests)
}

/// `--gitops DIR`: render each environment, plan its tree, seal and write
/// what changed. Every environment renders before the first write.
fn gitops(args: &RenderArgs, dir: &Path, root: &Path, ctx: &Context) -> Result<()> {
    if args.output != ManifestFormat::Yaml {
        return Err(Error::usage(format!(
            "--gitops writes YAML files; --output {} does not apply",
            format_name(args.output)
        ))
        .hint(format!("drop --output {}", format_name(args.output))));
    }
    if !args.target.namespaces.is_empty() {
        return Err(Error::usage(
            "--gitops writes the whole tree of an environment; -n/--namespace does not apply",
        )
        .hint("drop -n: unchanged namespaces keep every byte of their files"));
    }
    if !args.all_envs
        && let Some(env) = args.target.env.as_deref()
        && unchanged_without_parsing(args, dir, root, env)?
    {
        return Ok(());
    }
    let project = &Project::load(root)?;
    let environments: Vec<String> = if args.all_envs {
        project.environments.keys().cloned().collect()
    } else {
        load::select_environment(project, args.target.env.as_deref())?
            .into_iter()
            .collect()
    };
    if environments.is_empty() {
        return Err(Error::usage(
            "--gitops needs an environment: its recipients are the cluster's keys",
        )
        .hint("add an environment with recipients to ksec.yaml (environments.NAME.recipients)"));
    }
    // held until the tree is written: a second run into DIR waits
    let mut sorted: Vec<&String> = environments.iter().collect();
    sorted.sort();
    let mut locks = Vec::new();
    for env in sorted {
        match gitops::lock(dir, env) {
            Ok(lock) => locks.push(lock),
            Err(err) => {
                locks.into_iter().for_each(gitops::EnvLock::undo);
                return Err(err);
            }
        }
    }
    let result = write_gitops(args, dir, project, ctx, &environments);
    if result.is_err() {
        locks.into_iter().for_each(gitops::EnvLock::undo);
    }
    result
}

/// The no-op of `--env ENV` found without parsing ksec.yaml: ksec.yaml and
/// every file the last render of it read are unchanged by their stat data
/// (`load::remembered_inputs`), and so is ENV's tree (`gitops::unchanged`).
/// Only for an environment that was rendered into DIR before; under its
/// lock, which is let go when the full path must be taken.
fn unchanged_without_parsing(
    args: &RenderArgs,
    dir: &Path,
    root: &Path,
    env: &str,
) -> Result<bool> {
    if !crate::k8s::is_dns_label(env) || !dir.join(env).join(gitops::INDEX).is_file() {
        return Ok(false);
    }
    let lock = gitops::lock(dir, env)?;
    let key = cache_key(dir, env);
    // the terms of the check: the environment, the options, the project,
    // its templates
    let Some(templates) = load::template_files(root) else {
        lock.undo();
        return Ok(false);
    };
    let what = format!(
        "{env}\t{}\t{}\t{}",
        args.gitops_source,
        root.display(),
        templates.join("\t")
    );
    // every file found as expected by the last such check, still as it was
    let mut same = statcache::still_verified(&key, &what);
    if !same {
        let mut cache = StatCache::open(&key);
        let options = gitops::Options {
            environment: env,
            source: &args.gitops_source,
        };
        let checked = match load::remembered_inputs(root, env, &mut cache) {
            Some(inputs) => {
                let fp = fingerprint(&inputs, &options);
                gitops::unchanged(dir, env, &fp, &mut cache)?.map(|outputs| {
                    let inputs = inputs.into_iter().map(|i| statcache::Checked {
                        path: i.path,
                        follow: true,
                        stat: i.stat,
                    });
                    inputs.chain(outputs).collect::<Vec<_>>()
                })
            }
            None => None,
        };
        if let Some(files) = checked {
            cache.save();
            statcache::save_verified(&key, &what, &files);
            same = true;
        }
    }
    if same {
        eprintln!(
            "{env}: unchanged: wrote 0 files (ksec.yaml, the files its last render read and {}/{env} are unchanged by their stat data; nothing was read or decrypted)",
            dir.display()
        );
    } else {
        lock.undo();
    }
    Ok(same)
}

/// What the stat cache of ENV's folder in DIR is kept under: its real
/// path (see `statcache`).
fn cache_key(dir: &Path, env: &str) -> std::path::PathBuf {
    let folder = dir.join(env);
    std::fs::canonicalize(&folder).unwrap_or(folder)
}

fn stat_cache(dir: &Path, env: &str) -> StatCache {
    StatCache::open(&cache_key(dir, env))
}

fn fingerprint(inputs: &[load::Input], options: &gitops::Options) -> String {
    gitops::fingerprint(inputs.iter().map(|i| (i.name.as_str(), &i.hash)), options)
}

fn say_unchanged(dir: &Path, env: &str) {
    eprintln!(
        "{env}: unchanged: wrote 0 files (the inputs and {}/{env} are as the last render left them; nothing was decrypted)",
        dir.display()
    );
}

/// Under the environments' locks: skip, or render and write, each one.
fn write_gitops(
    args: &RenderArgs,
    dir: &Path,
    project: &Project,
    ctx: &Context,
    environments: &[String],
) -> Result<()> {
    let mut planned = Vec::new();
    let mut fingerprints = BTreeMap::new();
    let mut skipped = Vec::new();
    for env in environments {
        let options = gitops::Options {
            environment: env,
            source: &args.gitops_source,
        };
        // the hashes of unchanged files, remembered by their stat data
        // outside the tree (a shortcut only: see `statcache`)
        let mut cache = stat_cache(dir, env);
        let before = load::render_inputs(project, env, &mut cache);
        let before_fp = before.as_ref().map(|inputs| fingerprint(inputs, &options));
        if let (Some(inputs), Some(fp)) = (&before, &before_fp)
            && gitops::unchanged(dir, env, fp, &mut cache)?.is_some()
        {
            load::note_inputs(env, inputs, &mut cache);
            cache.save();
            skipped.push(env);
            continue;
        }
        // ksec.yaml read again after the fingerprint, and every input
        // hashed and stat'ed again after the render: the fingerprint is
        // recorded only when no input was written in between (not even
        // with its old bytes put back: its ctime tells), so it is always
        // the one of what was rendered
        let project = &Project::load(&project.root)?;
        let rendered = load::rendered(project, Some(env), &args.target.namespaces, ctx)?;
        planned.extend(gitops::plan(project, &options, &rendered.manifests)?);
        let after = load::render_inputs(project, env, &mut cache);
        if let (Some(inputs), Some(fp)) = (&before, before_fp)
            && after.as_ref() == Some(inputs)
        {
            load::note_inputs(env, inputs, &mut cache);
            fingerprints.insert(env.clone(), fp);
        }
        cache.save();
    }
    for env in &skipped {
        say_unchanged(dir, env);
    }
    if planned.is_empty() {
        return Ok(());
    }
    // without an identity the previous Secrets cannot be reopened: new
    // ciphertext, said below; a broken identity source is an error
    let identities = match load::identities_if_any(ctx) {
        Ok(ids) => ids,
        Err(load::Missing::NotFound) => Vec::new(),
        Err(load::Missing::Failed(err)) => return Err(err),
    };
    let written = gitops::write(dir, planned, &identities, &fingerprints)?;
    for path in &written.new_ciphertext {
        eprintln!(
            "note: {} was re-encrypted with a new data key (none of your identities opens the previous file, or a recipient was removed)",
            path.display()
        );
    }
    for path in &written.removed {
        eprintln!("removed {} (no longer rendered)", path.display());
    }
    eprintln!(
        "wrote {} files into {} ({} unchanged)",
        written.changed.len(),
        dir.display(),
        written.unchanged
    );
    Ok(())
}

fn format_name(format: ManifestFormat) -> &'static str {
    match format {
        ManifestFormat::Yaml => "yaml",
        ManifestFormat::Json => "json",
        ManifestFormat::Name => "name",
    }
}

fn output(args: &RenderArgs, manifests: &[Manifest]) -> Result<()> {
    if args.output == ManifestFormat::Name && args.out.is_some() {
        return Err(
            Error::usage("--output name prints the objects' names; --out does not apply")
                .hint("drop --out, or use --output yaml or json with it"),
        );
    }
    let text_of = |items: &[&Manifest]| match args.output {
        ManifestFormat::Yaml => emit::documents(items.iter().map(|m| &m.body)),
        ManifestFormat::Name => items
            .iter()
            .map(|m| {
                let api_version = m.body["apiVersion"].as_str().unwrap_or("v1");
                format!(
                    "{}\n",
                    crate::k8s::object_name(&m.kind, api_version, &m.name)
                )
            })
            .collect(),
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
            let ext = format_name(args.output);
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
