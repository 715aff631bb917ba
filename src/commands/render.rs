//! `ksec render`: load and decrypt every source the selection needs (in
//! parallel), render, and print or write the manifests. Nothing is printed
//! unless everything rendered.

use super::Context;
use crate::cli::{ManifestFormat, RenderArgs};
use crate::crypto::sops::{EncryptedFile, Format};
use crate::crypto::tree::{Item, Kind, Value};
use crate::error::{Code, Error, Result};
use crate::fsutil::SourceError;
use crate::keys;
use crate::project::{Namespace, Project};
use crate::render::{self, Inputs, Needed, Problem, Selection, emit};
use secrecy::SecretString;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub fn run(args: RenderArgs, ctx: &Context) -> Result<()> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    let rendered = rendered(
        &project,
        args.target.env.as_deref(),
        &args.target.namespaces,
        ctx,
    )?;
    output(&args, &rendered.manifests)
}

/// What a render of one environment produced, for render, diff and apply.
pub struct Rendered {
    pub environment: Option<String>,
    pub namespaces: Vec<String>,
    pub manifests: Vec<crate::k8s::Manifest>,
}

/// Select, load, decrypt and render; every problem becomes one error.
pub fn rendered(
    project: &Project,
    env: Option<&str>,
    wanted: &[String],
    ctx: &Context,
) -> Result<Rendered> {
    let environment = select_environment(project, env)?;
    let namespaces = select_namespaces(project, environment.as_deref(), wanted)?;
    let selection = Selection {
        environment: environment.as_deref(),
        namespaces,
    };
    let (inputs, mut problems) = load(project, &selection, ctx)?;
    let manifests = match render::render(project, &selection, &inputs) {
        Ok(m) if problems.is_empty() => m,
        Ok(_) => Vec::new(),
        Err(more) => {
            problems.extend(more.into_iter().map(|p| (Code::Invalid, p)));
            Vec::new()
        }
    };
    if !problems.is_empty() {
        return Err(problems_error(problems));
    }
    Ok(Rendered {
        namespaces: selection
            .namespaces
            .iter()
            .map(|ns| ns.name.clone())
            .collect(),
        environment,
        manifests,
    })
}

/// The exit code: a decryption or integrity failure first, then invalid
/// input; not-found (or a failed read) only when that is all there is.
fn problems_error(problems: Vec<(Code, Problem)>) -> Error {
    let has = |code: Code| problems.iter().any(|(c, _)| *c == code);
    let code = problems
        .iter()
        .map(|(c, _)| *c)
        .find(|c| matches!(c, Code::Decrypt | Code::Integrity))
        .unwrap_or(if has(Code::Invalid) || problems.is_empty() {
            Code::Invalid
        } else if has(Code::Io) {
            Code::Io
        } else {
            Code::NotFound
        });
    let count = problems.len();
    let mut err = Error::new(
        code,
        format!(
            "cannot render: {count} problem{}",
            if count == 1 { "" } else { "s" }
        ),
    );
    for (_, p) in problems {
        err = err.detail(p.to_string());
    }
    err.hint("fix the problems above; nothing was rendered")
}

/// `--env`, or the only environment, or none when the project has none.
pub fn select_environment(project: &Project, flag: Option<&str>) -> Result<Option<String>> {
    match flag {
        Some(e) if project.environments.contains_key(e) => Ok(Some(e.to_string())),
        Some(e) => Err(
            Error::usage(format!("unknown environment {}", crate::error::shown(e))).hint(format!(
                "environments in ksec.yaml: {}",
                project.environment_names()
            )),
        ),
        None => match project.environments.len() {
            0 => Ok(None),
            1 => Ok(project.environments.keys().next().cloned()),
            _ => Err(
                Error::usage("the project has several environments; choose one with --env").hint(
                    format!("environments in ksec.yaml: {}", project.environment_names()),
                ),
            ),
        },
    }
}

/// `-n` names (all in the environment when none).
pub fn select_namespaces<'a>(
    project: &'a Project,
    environment: Option<&str>,
    wanted: &[String],
) -> Result<Vec<&'a Namespace>> {
    let in_env =
        |ns: &Namespace| environment.is_none_or(|e| ns.environments.iter().any(|x| x == e));
    if wanted.is_empty() {
        return Ok(project
            .namespaces
            .values()
            .filter(|ns| in_env(ns))
            .collect());
    }
    let mut out = Vec::new();
    for name in wanted {
        let ns = project.namespaces.get(name).ok_or_else(|| {
            Error::not_found(format!(
                "no namespace {} in ksec.yaml",
                crate::error::shown(name)
            ))
            .hint(format!("namespaces: {}", project.namespace_names()))
        })?;
        if !in_env(ns) {
            return Err(Error::usage(format!(
                "namespace {name} is not part of environment {}",
                environment.unwrap_or_default()
            ))
            .hint("list the environment under the namespace's environments: in ksec.yaml"));
        }
        if !out.iter().any(|n: &&Namespace| n.name == ns.name) {
            out.push(ns);
        }
    }
    Ok(out)
}

/// Read every plain file and decrypt every secret source, in parallel.
/// A source that cannot be read (missing, a link out of its namespace
/// folder, not a regular file, over the size limit) is a problem of every
/// object that names it.
fn load(
    project: &Project,
    selection: &Selection,
    ctx: &Context,
) -> Result<(Inputs, Vec<(Code, Problem)>)> {
    let needed = render::needed(selection);
    let folders = render::folders(selection);
    // who names each source: built at the first unreadable one
    let mut uses = Uses::Later(selection);
    let owner = |path: &Path| {
        selection
            .namespaces
            .iter()
            .find(|ns| path.starts_with(&ns.path))
            .map(|ns| ns.name.clone())
            .unwrap_or_default()
    };
    let mut inputs = Inputs::default();
    if selection.namespaces.iter().any(|ns| ns.onboarded()) {
        inputs.templates = super::namespace::load_templates(project)?;
    }
    let mut problems = Vec::new();
    let mut encrypted = Vec::new();
    for item in needed {
        match item {
            Needed::Plain(path) => {
                match read(project, &folders, &path, crate::fsutil::MAX_PLAIN_SOURCE) {
                    Ok(bytes) => {
                        inputs.plain.insert(path, bytes);
                    }
                    Err(why) => {
                        problems.extend(unreadable(&mut uses, &path, &why, "a plain source"));
                        inputs.unreadable.insert(path);
                    }
                }
            }
            Needed::Encrypted(path) => encrypted.push(path),
        }
    }
    if encrypted.is_empty() {
        return Ok((inputs, problems));
    }
    // problems come out in path order
    encrypted.sort();
    let lookup = keys::lookup(ctx.identity_flag.as_deref())?;
    if lookup.identities.is_empty() {
        let n = encrypted.len();
        let mut e = lookup.not_found(format!(
            "cannot render: no age identity found to decrypt {n} encrypted source{}",
            if n == 1 { "" } else { "s" }
        ));
        for path in &encrypted {
            e = e.detail(format!("needed for: {}", path.display()));
        }
        return Err(e);
    }
    let results = crate::parallel::map(&encrypted, |path| {
        let text = read(project, &folders, path, crate::fsutil::MAX_ENCRYPTED_SOURCE)
            .map_err(Failure::Read)?;
        decrypt_source(path, text, &lookup).map_err(Failure::Open)
    });
    for (path, result) in encrypted.into_iter().zip(results) {
        match result {
            Ok(pairs) => {
                inputs.secrets.insert(path, pairs);
            }
            Err(Failure::Read(why)) => {
                problems.extend(unreadable(&mut uses, &path, &why, "an encrypted source"));
            }
            Err(Failure::Open((code, message))) => problems.push((
                code,
                Problem {
                    location: path.to_string_lossy().replace('\\', "/"),
                    object: format!("namespace {}", owner(&path)),
                    message,
                },
            )),
        }
    }
    Ok((inputs, problems))
}

/// Why an encrypted source gave no pairs.
enum Failure {
    Read(SourceError),
    Open((Code, String)),
}

/// Read a source inside the folder of the (innermost) namespace that
/// names it.
fn read(
    project: &Project,
    folders: &HashMap<PathBuf, &Path>,
    path: &Path,
    limit: u64,
) -> std::result::Result<Vec<u8>, SourceError> {
    let folder = folders.get(path).copied().unwrap_or(Path::new(""));
    crate::fsutil::read_source(&project.root, folder, path, limit)
}

/// One problem per object that names an unreadable source, at its entry in
/// ksec.yaml: a missing file is not-found (3), a refused one invalid (6).
fn unreadable(
    uses: &mut Uses,
    path: &Path,
    why: &SourceError,
    limit_name: &str,
) -> Vec<(Code, Problem)> {
    let code = match why {
        SourceError::Missing => Code::NotFound,
        SourceError::Io(_) => Code::Io,
        _ => Code::Invalid,
    };
    let shown = path.to_string_lossy().replace('\\', "/");
    uses.of(path)
        .iter()
        .map(|u| {
            (
                code,
                Problem {
                    location: u.location.clone(),
                    object: u.object.clone(),
                    message: format!("{} {shown} {}", u.what, why.message(limit_name)),
                },
            )
        })
        .collect()
}

/// The objects naming each source (`render::uses_by_path`), built once when
/// the first unreadable source is reported: a lookup per unreadable file,
/// not a scan of the selection.
enum Uses<'s, 'a> {
    Later(&'s Selection<'a>),
    Built(HashMap<PathBuf, Vec<render::Use<'a>>>),
}

impl<'a> Uses<'_, 'a> {
    fn of(&mut self, path: &Path) -> &[render::Use<'a>] {
        if let Uses::Later(selection) = self {
            *self = Uses::Built(render::uses_by_path(selection));
        }
        match self {
            Uses::Built(by_path) => by_path.get(path).map_or(&[], Vec::as_slice),
            Uses::Later(_) => &[],
        }
    }
}

type Pairs = Vec<(String, SecretString)>;
/// A source's pairs, or why it could not be read (exit code and message).
type Decrypted = std::result::Result<Pairs, (Code, String)>;

/// Decrypt one source; messages name it relative to the project.
fn decrypt_source(path: &Path, bytes: Vec<u8>, lookup: &keys::Lookup) -> Decrypted {
    let text = String::from_utf8(bytes).map_err(|_| {
        (
            Code::Invalid,
            "is not UTF-8 text, so not a SOPS file".to_string(),
        )
    })?;
    let explain = |e| {
        let err = super::sops_error(path, e);
        (err.code, err.message)
    };
    if lookup.identities.is_empty() {
        return Err((
            Code::Decrypt,
            "no age identity found to decrypt it (set KSEC_AGE_KEY_FILE or see `ksec decrypt --help`)".into(),
        ));
    }
    let opened = EncryptedFile::parse(&text, Format::from_path(path))
        .and_then(|f| f.open_to_read(&lookup.identities))
        .map_err(explain)?;
    flatten(&opened.plain)
}

/// A secret source's top-level keys; nested values are refused.
fn flatten(plain: &Value) -> Decrypted {
    let Value::Map(items) = plain else {
        return Err((
            Code::Invalid,
            "a secret source must be a map of keys to values".into(),
        ));
    };
    let mut out = Vec::new();
    for item in items {
        let Item::Pair(key, value) = item else {
            continue;
        };
        let text = match value {
            Value::Leaf(leaf) => match leaf.kind {
                Kind::Bool => leaf.expose().to_ascii_lowercase(),
                _ => leaf.expose().to_string(),
            },
            Value::Null => String::new(),
            Value::Map(_) | Value::Seq(_) => {
                return Err((
                    Code::Invalid,
                    format!(
                        "key {key} holds a nested value; secret sources must be flat (KEY: value)"
                    ),
                ));
            }
        };
        out.push((key.clone(), SecretString::from(text)));
    }
    Ok(out)
}

fn output(args: &RenderArgs, manifests: &[crate::k8s::Manifest]) -> Result<()> {
    let text_of = |items: &[&crate::k8s::Manifest]| match args.output {
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
            let all: Vec<&crate::k8s::Manifest> = manifests.iter().collect();
            super::write_stdout(text_of(&all).as_bytes())
        }
        Some(dir) => {
            let mut by_ns: BTreeMap<&str, Vec<&crate::k8s::Manifest>> = BTreeMap::new();
            for m in manifests {
                by_ns.entry(&m.namespace).or_default().push(m);
            }
            let ext = match args.output {
                ManifestFormat::Yaml => "yaml",
                ManifestFormat::Json => "json",
            };
            let files: Vec<(std::path::PathBuf, Vec<&crate::k8s::Manifest>)> = by_ns
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
    files: &[(std::path::PathBuf, Vec<&crate::k8s::Manifest>)],
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
