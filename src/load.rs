//! Loading what a command works on, in one place: the identity that
//! decrypts (or the one "no age identity found" error), an encrypted file
//! opened with it, the onboarding templates, and for render, diff and apply
//! the selected environment and namespaces with every source they need read
//! and decrypted (in parallel) and rendered.
//!
//! Commands call this; it never prints, and never talks to a cluster.

use crate::crypto::sops::{EncryptedFile, Format, Opened, SopsError};
use crate::crypto::tree::{Item, Kind, Value};
use crate::error::{Code, Error, Result, sops_error};
use crate::fsutil::SourceError;
use crate::keys::{self, Identities, Lookup};
use crate::onboard::Templates;
use crate::problem::Problem;
use crate::project::{Namespace, Project};
use crate::render::{self, Inputs, Needed, Selection};
use crate::statcache::{self, StatCache};
use secrecy::SecretSlice;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a command loads from: the resolved `--project` and `--identity`.
pub struct Context {
    pub project_flag: Option<PathBuf>,
    pub identity_flag: Option<PathBuf>,
}

// ------------------------------------------------------------- identity

/// What an operation says when no source holds an identity: its words for
/// the one "no age identity found" error (see [`identities`]).
pub struct NoIdentity {
    message: String,
    details: Vec<String>,
    hint: Option<String>,
}

impl NoIdentity {
    /// What could not be done, e.g. `cannot decrypt FILE: no age identity found`.
    pub fn new(message: impl Into<String>) -> NoIdentity {
        NoIdentity {
            message: message.into(),
            details: Vec::new(),
            hint: None,
        }
    }

    /// A line after the places looked in (what needed decrypting).
    pub fn detail(mut self, line: impl Into<String>) -> NoIdentity {
        self.details.push(line.into());
        self
    }

    /// In place of the usual hint (how to provide a key).
    pub fn hint(mut self, hint: impl Into<String>) -> NoIdentity {
        self.hint = Some(hint.into());
        self
    }
}

/// The user's identities, found in the documented lookup order; when no
/// source holds one, the one error: the operation's message, every place
/// looked (in order), the operation's details, and what to do. A source
/// that is configured but broken is an error of its own.
pub fn identities(ctx: &Context, no_identity: impl FnOnce() -> NoIdentity) -> Result<Lookup> {
    let lookup = keys::lookup(ctx.identity_flag.as_deref())?;
    if !lookup.identities.is_empty() {
        return Ok(lookup);
    }
    let words = no_identity();
    let mut e = lookup.not_found(words.message);
    for line in words.details {
        e = e.detail(line);
    }
    if let Some(hint) = words.hint {
        e = e.hint(hint);
    }
    Err(e)
}

/// The identities that decrypt `paths`, or the one "no age identity found"
/// error: `message(how many)`, then a `needed for:` line per path.
fn identities_for(
    ctx: &Context,
    paths: &[PathBuf],
    message: impl FnOnce(usize) -> String,
) -> Result<Lookup> {
    identities(ctx, || {
        let mut words = NoIdentity::new(message(paths.len()));
        for path in paths {
            words = words.detail(format!("needed for: {}", path.display()));
        }
        words
    })
}

/// Why an operation that goes on without an identity (`check`, the git
/// diff driver) has none.
pub enum Missing {
    /// No source holds an identity.
    NotFound,
    /// A configured source is broken (its error).
    Failed(Error),
}

/// The user's identities, or why there are none, for an operation that
/// does its work without them and says what it could not check.
pub fn identities_if_any(ctx: &Context) -> std::result::Result<Identities, Missing> {
    match keys::lookup(ctx.identity_flag.as_deref()) {
        Ok(lookup) if lookup.identities.is_empty() => Err(Missing::NotFound),
        Ok(lookup) => Ok(lookup.identities),
        Err(err) => Err(Missing::Failed(err)),
    }
}

/// The user's identities, or none when no source holds one (a report that
/// goes on with what it can read and says so); a broken source is an error.
pub fn identities_or_none(ctx: &Context) -> Result<Identities> {
    match identities_if_any(ctx) {
        Ok(ids) => Ok(ids),
        Err(Missing::NotFound) => Ok(Vec::new()),
        Err(Missing::Failed(err)) => Err(err),
    }
}

/// The encrypted files of the namespaces `--env` and `-n` select (every
/// namespace without either), or with `secret` only the sources of the
/// Secrets of that name (overrides too).
pub struct SecretSources {
    pub files: Vec<crate::access::plan::Source>,
    /// The Secret sources those namespaces (or that Secret) name in
    /// ksec.yaml that are no SOPS file (missing, plaintext, unparseable),
    /// relative to the project root: a report over `files` must say it
    /// left them out.
    pub left_out: Vec<String>,
}

/// See [`SecretSources`].
pub fn secret_sources(
    project: &Project,
    env: Option<&str>,
    namespaces: &[String],
    secret: Option<&str>,
) -> Result<SecretSources> {
    let env = match env {
        Some(_) => select_environment(project, env)?,
        None => None,
    };
    let chosen = select_namespaces(project, env.as_deref(), namespaces)?;
    let files = crate::access::files::scan(project)?;
    // the sources the chosen Secrets name (all of them without `secret`)
    let mut paths = Vec::new();
    for ns in &chosen {
        for spec in ns
            .secrets
            .iter()
            .filter(|s| secret.is_none_or(|n| s.name == n))
        {
            let overrides = spec.overrides.values().flat_map(|o| o.sources.iter());
            for source in spec.sources.iter().chain(overrides) {
                paths.push(project.root.join(ns.path.join(source)));
            }
        }
    }
    if let Some(name) = secret
        && paths.is_empty()
    {
        return Err(Error::not_found(format!(
            "no Secret {} in the namespaces chosen",
            crate::error::shown(name)
        ))
        .hint("name a Secret of ksec.yaml (its `name:`), or leave --secret out"));
    }
    let files: Vec<_> = files
        .into_iter()
        .filter(|f| chosen.iter().any(|ns| ns.name == f.namespace))
        .filter(|f| secret.is_none() || paths.contains(&f.path))
        .collect();
    let mut left_out: Vec<String> = paths
        .iter()
        .filter(|p| !files.iter().any(|f| &f.path == *p))
        .map(|p| {
            p.strip_prefix(&project.root)
                .unwrap_or(p)
                .display()
                .to_string()
        })
        .collect();
    left_out.sort();
    left_out.dedup();
    Ok(SecretSources { files, left_out })
}

/// The note a report over [`SecretSources::files`] prints for each source
/// it left out.
pub fn left_out_note(rel: &str) -> String {
    format!(
        "note: {rel} is named as a Secret source in ksec.yaml but is no SOPS file: left out of this report (`ksec check` says why)"
    )
}

// ------------------------------------------------------ encrypted files

/// Read, decrypt and verify an encrypted file, to change and save it.
pub fn open(path: &Path, ctx: &Context) -> Result<Opened> {
    open_for(path, ctx, true)
}

/// Read, decrypt and verify an encrypted file, only to read it.
pub fn open_to_read(path: &Path, ctx: &Context) -> Result<Opened> {
    open_for(path, ctx, false)
}

fn open_for(path: &Path, ctx: &Context, rewrite: bool) -> Result<Opened> {
    let (file, lookup) = parse_encrypted(path, ctx, rewrite)?;
    let opened = if rewrite {
        file.open(&lookup.identities)
    } else {
        file.open_to_read(&lookup.identities)
    };
    opened.map_err(|err| opening_error(path, err, &lookup))
}

/// The verified bytes of a file in sops's binary store (which may not be
/// text), or `None` when the file is in another store.
pub fn open_binary(path: &Path, ctx: &Context) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
    let text = crate::fsutil::read_text(path)?;
    if Format::of_encrypted(path, &text) != Format::Binary {
        return Ok(None);
    }
    let (file, lookup) = parse_encrypted(path, ctx, false)?;
    file.open_bytes(&lookup.identities)
        .map(Some)
        .map_err(|err| opening_error(path, err, &lookup))
}

fn parse_encrypted(path: &Path, ctx: &Context, rewrite: bool) -> Result<(EncryptedFile, Lookup)> {
    let text = crate::fsutil::read_text(path)?;
    let format = Format::of_encrypted(path, &text);
    // sops reads a `*.json` file as JSON whatever it holds: YAML written
    // back under that name would not be read. (Reading stays allowed, to
    // recover a file.)
    if rewrite && format == Format::Yaml && Format::named_json(path) {
        return Err(sops_error(
            path,
            SopsError::WrongName {
                holds: Format::Yaml,
                named: Format::Json,
            },
        ));
    }
    let file = EncryptedFile::parse(&text, format).map_err(|e| sops_error(path, e))?;
    // a file only pgp or kms keys open: say that, not that no age key was
    // found (which would list no recipient)
    if file.recipients().is_empty() {
        return Err(sops_error(path, SopsError::NoAgeRecipients));
    }
    let lookup = identities(ctx, || {
        let mut words = NoIdentity::new(format!(
            "cannot decrypt {}: no age identity found",
            path.display()
        ))
        .detail("the file is encrypted to:");
        for r in file.recipients() {
            words = words.detail(format!("  {r}"));
        }
        words
    })?;
    Ok((file, lookup))
}

fn opening_error(path: &Path, err: SopsError, lookup: &Lookup) -> Error {
    match err {
        err @ SopsError::NoMatchingIdentity { .. } => {
            let mut e = sops_error(path, err).detail("identities came from:");
            for line in &lookup.report {
                e = e.detail(format!("  {line}"));
            }
            e
        }
        err => sops_error(path, err),
    }
}

// ------------------------------------------------- every Secret's values

/// One Secret's encrypted source, as the reports over every Secret of the
/// project (`check --expiring-within`) see it.
pub struct SecretSource<'a> {
    pub namespace: &'a Namespace,
    pub secret: &'a crate::project::ObjectSpec,
    /// Relative to the project root.
    pub path: PathBuf,
}

/// Every Secret source of the project, and each file decrypted once.
pub struct SecretValues<'a> {
    /// By namespace, Secret (ksec.yaml's order) and path; a source named by
    /// several Secrets is listed for each.
    pub sources: Vec<SecretSource<'a>>,
    /// The top-level keys and values of each file, or why it could not be
    /// read or opened (a message naming no value).
    pub opened: HashMap<PathBuf, std::result::Result<Pairs, String>>,
}

/// Read and decrypt the encrypted sources of every Secret of every
/// namespace, for every environment (an environment's override adds its
/// sources), in parallel. No identity at all is the usual error; a file
/// that cannot be read or opened is that file's result, not an error.
pub fn every_secret_source<'a>(project: &'a Project, ctx: &Context) -> Result<SecretValues<'a>> {
    let mut sources: Vec<SecretSource<'a>> = Vec::new();
    // each path is read inside the deepest namespace folder naming it, as a render reads it
    let mut folders: HashMap<PathBuf, &Path> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for ns in project.namespaces.values() {
        for secret in &ns.secrets {
            let entries = secret
                .sources
                .iter()
                .chain(secret.overrides.values().flat_map(|o| &o.sources));
            for entry in entries {
                let path = ns.path.join(entry);
                if !seen.insert((&ns.name, &secret.name, path.clone())) {
                    continue;
                }
                let depth = ns.path.components().count();
                folders
                    .entry(path.clone())
                    .and_modify(|f| {
                        if depth >= f.components().count() {
                            *f = ns.path.as_path();
                        }
                    })
                    .or_insert(ns.path.as_path());
                sources.push(SecretSource {
                    namespace: ns,
                    secret,
                    path,
                });
            }
        }
    }
    let mut paths: Vec<PathBuf> = folders.keys().cloned().collect();
    paths.sort();
    if paths.is_empty() {
        return Ok(SecretValues {
            sources,
            opened: HashMap::new(),
        });
    }
    let lookup = identities_for(ctx, &paths, |n| {
        format!(
            "no age identity found to decrypt {n} Secret source{}",
            if n == 1 { "" } else { "s" }
        )
    })?;
    let results = crate::parallel::map(&paths, |path| {
        let text = read(project, &folders, path, crate::fsutil::MAX_ENCRYPTED_SOURCE)
            .map_err(|why| why.message("an encrypted source"))?;
        decrypt_source(path, text, &lookup.identities).map_err(|(_, message)| message)
    });
    Ok(SecretValues {
        sources,
        opened: paths.into_iter().zip(results).collect(),
    })
}

// ------------------------------------------------------------ templates

/// The project's templates folder, next to ksec.yaml.
pub const TEMPLATES_DIR: &str = "templates";

/// The built-in templates, with those in the project's `templates/` in
/// place of the ones of the same name.
pub fn templates(project: &Project) -> Result<Templates> {
    let dir = project.root.join(TEMPLATES_DIR);
    let mut overrides = Vec::new();
    if dir.is_dir() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("read", &dir, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read", &dir, &e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            let path = entry.path();
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, &e))?;
            overrides.push((name.clone(), format!("{TEMPLATES_DIR}/{name}"), text));
        }
    }
    overrides.sort();
    Templates::with_overrides(overrides).map_err(|problems| {
        let mut err = Error::invalid(format!(
            "the onboarding templates have {} problem{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ));
        for p in problems {
            err = err.detail(p);
        }
        err.hint("fix the files in templates/ (or remove them to use the built-in ones); the README lists the placeholders")
    })
}

// ---------------------------------------------------------------- render

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
    let (inputs, mut problems) = sources(project, &selection, ctx)?;
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

/// The environments `--env` (repeated) or `--all-envs` name, each once in
/// the order given (by name for `--all-envs`); with neither, the
/// one [`select_environment`] picks (none when the project has none).
pub fn select_environments(
    project: &Project,
    flags: &[String],
    all: bool,
) -> Result<Vec<Option<String>>> {
    if all {
        if project.environments.is_empty() {
            return Err(Error::usage("--all-envs: ksec.yaml names no environment")
                .hint("add an environments: entry bound to a kubeconfig context"));
        }
        return Ok(project.environments.keys().cloned().map(Some).collect());
    }
    if flags.is_empty() {
        return Ok(vec![select_environment(project, None)?]);
    }
    let mut out: Vec<Option<String>> = Vec::new();
    for flag in flags {
        let env = select_environment(project, Some(flag))?;
        if !out.contains(&env) {
            out.push(env);
        }
    }
    Ok(out)
}

/// [`rendered`] for each environment, all of them before anything else
/// happens: the first that fails is the error (naming its environment when
/// there are several), so nothing is sent to any cluster.
pub fn rendered_each(
    project: &Project,
    environments: &[Option<String>],
    wanted: &[String],
    ctx: &Context,
) -> Result<Vec<Rendered>> {
    let several = environments.len() > 1;
    environments
        .iter()
        .map(|env| {
            rendered(project, env.as_deref(), wanted, ctx).map_err(|mut e| {
                if several {
                    e.message = format!(
                        "environment {}: {}; nothing was sent to any cluster",
                        env.as_deref().unwrap_or_default(),
                        e.message
                    );
                }
                e
            })
        })
        .collect()
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
fn sources(
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
        inputs.templates = templates(project)?;
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
    let lookup = identities_for(ctx, &encrypted, |n| {
        format!(
            "cannot render: no age identity found to decrypt {n} encrypted source{}",
            if n == 1 { "" } else { "s" }
        )
    })?;
    let results = crate::parallel::map(&encrypted, |path| {
        let text = read(project, &folders, path, crate::fsutil::MAX_ENCRYPTED_SOURCE)
            .map_err(Failure::Read)?;
        decrypt_source(path, text, &lookup.identities).map_err(Failure::Open)
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

/// A source's namespace folder and size limit, as a render reads it.
type SourceIn<'a> = (&'a Path, u64);

/// One file a render reads: its name in the fingerprint, where it is, the
/// SHA-256 of its bytes and its stat data when it was hashed.
#[derive(PartialEq)]
pub struct Input {
    pub name: String,
    pub path: PathBuf,
    pub hash: statcache::Hash,
    pub stat: statcache::Stat,
}

/// The name of a template's input.
const TEMPLATE: &str = "template ";

/// Every file a render of `environment` reads, hashed: ksec.yaml (first),
/// every source its namespaces name (an encrypted one as it is on disk:
/// nothing is decrypted) and the project's templates. A file whose stat
/// data `cache` remembers is not read; what was hashed is remembered.
/// `None` when one of them cannot be read: the render itself then says why.
pub fn render_inputs(
    project: &Project,
    environment: &str,
    cache: &mut StatCache,
) -> Option<Vec<Input>> {
    let selection = Selection {
        environment: Some(environment),
        namespaces: select_namespaces(project, Some(environment), &[]).ok()?,
    };
    let folders = render::folders(&selection);
    let config = project.root.join(crate::project::FILE_NAME);
    let mut files: Vec<(String, PathBuf, Option<SourceIn>)> =
        vec![(crate::project::FILE_NAME.to_string(), config, None)];
    for item in render::needed(&selection) {
        let (kind, path, limit) = match item {
            Needed::Plain(p) => ("plain", p, crate::fsutil::MAX_PLAIN_SOURCE),
            Needed::Encrypted(p) => ("encrypted", p, crate::fsutil::MAX_ENCRYPTED_SOURCE),
        };
        let folder = folders.get(&path).copied().unwrap_or(Path::new(""));
        files.push((
            format!("{kind} {}", path.display()),
            project.root.join(&path),
            Some((folder, limit)),
        ));
    }
    let dir = project.root.join(TEMPLATES_DIR);
    for name in template_files(&project.root)? {
        files.push((format!("{TEMPLATE}{name}"), dir.join(&name), None));
    }
    let paths: Vec<(&Path, bool)> = files.iter().map(|(_, full, _)| (&**full, true)).collect();
    let hashed = cache
        .hash_all(&paths, |i, p| match files[i].2 {
            // a source is read as a render reads it: inside its folder
            Some((folder, limit)) => {
                let rel = p.strip_prefix(&project.root).ok()?;
                crate::fsutil::read_source(&project.root, folder, rel, limit).ok()
            }
            None => crate::fsutil::read_file(p).ok(),
        })
        .into_iter()
        .collect::<Option<Vec<_>>>()?;
    let named = files.into_iter().map(|(name, path, _)| (name, path));
    Some(hashed_inputs(named, hashed, cache))
}

/// The files `named` (name, path) with their hashes, in order; what was
/// hashed is remembered.
fn hashed_inputs(
    named: impl Iterator<Item = (String, PathBuf)>,
    hashed: Vec<statcache::Hashed>,
    cache: &mut StatCache,
) -> Vec<Input> {
    let inputs = named
        .zip(&hashed)
        .map(|((name, path), h)| Input {
            name,
            path,
            hash: h.hash,
            stat: h.stat,
        })
        .collect();
    cache.remember(hashed);
    inputs
}

/// The templates a render reads: the YAML files of the templates folder,
/// by name; none without the folder.
pub fn template_files(root: &Path) -> Option<Vec<String>> {
    let dir = root.join(TEMPLATES_DIR);
    if !dir.is_dir() {
        return Some(Vec::new());
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().to_string()))
        .collect::<std::io::Result<Vec<_>>>()
        .ok()?
        .into_iter()
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    names.sort();
    Some(names)
}

/// Where the inputs of `environment` are noted: under ksec.yaml's hash, as
/// they are a function of its text.
fn inputs_note(environment: &str, config: &statcache::Hash) -> String {
    format!(
        "inputs of {environment} for ksec.yaml {}",
        statcache::to_hex(config)
    )
}

/// Note in `cache` which files the render of `environment` read (ksec.yaml
/// first), for `remembered_inputs`.
pub fn note_inputs(environment: &str, inputs: &[Input], cache: &mut StatCache) {
    let Some(config) = inputs.first() else { return };
    let lines: Option<Vec<String>> = inputs
        .iter()
        .map(|i| Some(format!("{}\t{}", i.name, i.path.to_str()?)))
        .collect();
    if let Some(lines) = lines {
        cache.note(inputs_note(environment, &config.hash), lines);
    }
}

/// The inputs of `environment` as `render_inputs` gives them, without
/// parsing ksec.yaml or reading any file: when ksec.yaml's stat data says
/// it is the text a noted render read, that render's list of files holds
/// (the list is a function of that text, and of the templates folder's
/// listing, compared here), and every file on it must be unchanged by its
/// stat data too. `None` when anything is not so: then parse and hash.
pub fn remembered_inputs(
    root: &Path,
    environment: &str,
    cache: &mut StatCache,
) -> Option<Vec<Input>> {
    let config = cache
        .remembered_all(&[&root.join(crate::project::FILE_NAME)])
        .pop()
        .flatten()?;
    let noted = cache.noted(&inputs_note(environment, &config.hash))?;
    let files: Vec<(String, PathBuf)> = noted
        .iter()
        .map(|line| {
            let (name, path) = line.split_once('\t')?;
            Some((name.to_string(), PathBuf::from(path)))
        })
        .collect::<Option<_>>()?;
    if files.first().map(|(_, p)| p) != Some(&root.join(crate::project::FILE_NAME)) {
        return None;
    }
    let templates: Vec<String> = files
        .iter()
        .filter_map(|(name, _)| name.strip_prefix(TEMPLATE).map(str::to_string))
        .collect();
    if template_files(root)? != templates {
        return None;
    }
    let paths: Vec<&Path> = files.iter().map(|(_, path)| &**path).collect();
    let hashed = cache
        .remembered_all(&paths)
        .into_iter()
        .collect::<Option<Vec<_>>>()?;
    Some(hashed_inputs(files.into_iter(), hashed, cache))
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

type Pairs = Vec<(String, SecretSlice<u8>)>;
/// A source's pairs, or why it could not be read (exit code and message).
type Decrypted = std::result::Result<Pairs, (Code, String)>;

/// Decrypt one source; messages name it relative to the project. A
/// binary-store source is one key named after the file (as `kubectl create
/// secret --from-file` names it); the others give their top-level keys.
fn decrypt_source(path: &Path, bytes: Vec<u8>, identities: &Identities) -> Decrypted {
    let text = String::from_utf8(bytes).map_err(|_| {
        (
            Code::Invalid,
            "is not UTF-8 text, so not a SOPS file".to_string(),
        )
    })?;
    let explain = |e| {
        let err = sops_error(path, e);
        (err.code, err.message)
    };
    let format = Format::of_encrypted(path, &text);
    let file = EncryptedFile::parse(&text, format).map_err(explain)?;
    if format == Format::Binary {
        let bytes = file.open_bytes(identities).map_err(explain)?;
        return Ok(vec![(binary_key(path), SecretSlice::from(bytes.to_vec()))]);
    }
    let opened = file.open_to_read(identities).map_err(explain)?;
    flatten(&opened.plain, format == Format::Json)
}

/// The Secret key of a binary source: its file name, without a `.enc`
/// (`keystore.enc.jks` → `keystore.jks`) or a final `.enc`/`.sops`.
pub fn binary_key(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if let Some(stem) = name
        .strip_suffix(".enc")
        .or_else(|| name.strip_suffix(".sops"))
        .filter(|s| !s.is_empty())
    {
        return stem.to_string();
    }
    name.replacen(".enc.", ".", 1)
}

/// A secret source's top-level keys; nested values are refused, and so
/// is a key given twice in a JSON source (sops keeps both; a Secret key
/// holds one value).
fn flatten(plain: &Value, json: bool) -> Decrypted {
    let Value::Map(items) = plain else {
        return Err((
            Code::Invalid,
            "a secret source must be a map of keys to values".into(),
        ));
    };
    let mut out: Pairs = Vec::new();
    for item in items {
        let Item::Pair(key, value) = item else {
            continue;
        };
        if json && out.iter().any(|(k, _)| k == key) {
            return Err((
                Code::Invalid,
                format!(
                    "key {key} appears twice (sops keeps both copies, a Secret key holds one value); remove one with `ksec edit`"
                ),
            ));
        }
        let text = match value {
            Value::Leaf(leaf) => match leaf.kind {
                Kind::Bool => leaf.expose().to_ascii_lowercase(),
                Kind::Float if json => match leaf.expose().parse::<f64>() {
                    // the number as the decrypted JSON shows it
                    Ok(f) if f.is_finite() => crate::crypto::json::go_json_float(f),
                    _ => leaf.expose().to_string(),
                },
                _ => leaf.expose().to_string(),
            },
            Value::Null | Value::Comment(_) => String::new(),
            Value::Map(_) | Value::Seq(_) => {
                return Err((
                    Code::Invalid,
                    format!(
                        "key {key} holds a nested value; secret sources must be flat (KEY: value)"
                    ),
                ));
            }
        };
        out.push((key.clone(), SecretSlice::from(text.into_bytes())));
    }
    Ok(out)
}
