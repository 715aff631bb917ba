//! Rendering: a project plus the loaded sources become Kubernetes manifests.
//! Pure: no file, network or clock access happens here — the caller loads
//! every file (and decrypts every secret source) first, so the same inputs
//! always give the same bytes.
//!
//! Data is byte-identical to `kubectl create configmap|secret … --dry-run`
//! and names carry kustomize's content-hash suffix. Every problem is
//! collected and reported together; nothing is rendered when there is one.

pub mod emit;
pub mod envfile;
pub mod hash;

mod workload;

pub use crate::problem::Problem;

use workload::{Workload, wire};

use crate::fsutil::stays_inside;
use crate::k8s::{
    ENVIRONMENT_LABEL, MANAGED_BY, MAX_OBJECT_BYTES, Manifest, NAME_ANNOTATION, PROJECT_LABEL,
    is_data_key, is_dns_subdomain, is_onboarding_kind,
};
use crate::project::{Namespace, ObjectSpec, Project};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretSlice};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Secret types ksec knows, with the keys each requires (any one of them
/// for basic-auth).
const SECRET_TYPES: &[(&str, &[&str])] = &[
    ("Opaque", &[]),
    ("kubernetes.io/tls", &["tls.crt", "tls.key"]),
    ("kubernetes.io/dockerconfigjson", &[".dockerconfigjson"]),
    ("kubernetes.io/basic-auth", &[]),
    ("kubernetes.io/ssh-auth", &["ssh-privatekey"]),
];

/// What to render.
pub struct Selection<'a> {
    pub environment: Option<&'a str>,
    pub namespaces: Vec<&'a Namespace>,
}

/// A source file the render needs, relative to the project root.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Needed {
    Plain(PathBuf),
    Encrypted(PathBuf),
}

/// Everything loaded from disk, by project-relative path.
#[derive(Default)]
pub struct Inputs {
    pub plain: BTreeMap<PathBuf, Vec<u8>>,
    /// Decrypted secret sources: top-level keys and their values, in order.
    /// A binary source gives one key, named after its file.
    pub secrets: BTreeMap<PathBuf, Vec<(String, SecretSlice<u8>)>>,
    /// Onboarding templates (the built-in ones unless the project has its own).
    pub templates: crate::onboard::Templates,
    /// Sources the loader could not read and has already reported (a link
    /// out of the namespace folder, too large, missing): render skips the
    /// objects that need them without a second problem.
    pub unreadable: std::collections::BTreeSet<PathBuf>,
}

impl Problem {
    /// A problem with an object, located at its entry in ksec.yaml.
    fn at_object(ns: &Namespace, kind: &str, spec: &ObjectSpec, message: String) -> Problem {
        Problem {
            location: format!("ksec.yaml:{}", spec.line),
            object: format!("{}/{kind}/{}", ns.name, spec.name),
            message,
        }
    }
}

fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// `key=path` or `path` (key = the file's name), relative to the namespace
/// folder. Refused as kubectl's `--from-file` and kustomize's `files:`
/// refuse them: an empty key or path, or more than one `=`.
fn file_entry(ns: &Namespace, entry: &str) -> Result<(String, PathBuf), String> {
    match entry.split_once('=') {
        Some((_, rest)) if rest.contains('=') => Err(
            "has more than one '='; key names and file paths cannot contain '=' (write KEY=PATH)"
                .into(),
        ),
        Some(("", _)) => Err(
            "has an empty key before '='; write KEY=PATH, or just PATH to use the file's name"
                .into(),
        ),
        Some((_, "")) => Err("has no file path after '='; write KEY=PATH".into()),
        Some((key, path)) => Ok((key.to_string(), ns.path.join(path))),
        None => {
            let path = ns.path.join(entry);
            match path.file_name() {
                Some(name) if !entry.is_empty() => Ok((name.to_string_lossy().into_owned(), path)),
                _ => Err("names no file; write PATH or KEY=PATH".into()),
            }
        }
    }
}

/// The path part of every source entry of an object (base and overrides).
/// (`files:` entries that are malformed are left out: render reports them.)
fn source_paths<'a>(spec: &'a ObjectSpec) -> impl Iterator<Item = &'a str> {
    let files = |f: &'a String| match f.split_once('=') {
        None => Some(f.as_str()).filter(|p| !p.is_empty()),
        Some((key, path)) => {
            Some(path).filter(|p| !key.is_empty() && !p.is_empty() && !p.contains('='))
        }
    };
    let overrides = spec.overrides.values();
    spec.env_files
        .iter()
        .map(String::as_str)
        .chain(spec.files.iter().filter_map(files))
        .chain(spec.sources.iter().map(String::as_str))
        .chain(
            overrides
                .clone()
                .flat_map(|o| o.env_files.iter().map(String::as_str)),
        )
        .chain(
            overrides
                .clone()
                .flat_map(move |o| o.files.iter().filter_map(files)),
        )
        .chain(overrides.flat_map(|o| o.sources.iter().map(String::as_str)))
}

/// Report every source path that leaves the namespace folder.
fn check_paths(ns: &Namespace, spec: &ObjectSpec, kind: &str, problems: &mut Vec<Problem>) -> bool {
    let mut ok = true;
    for path in source_paths(spec) {
        if !stays_inside(path) {
            ok = false;
            problems.push(Problem::at_object(
                ns,
                kind,
                spec,
                format!(
                    "the source path {path} leaves the namespace folder {} (absolute paths and '..' are refused)",
                    display(&ns.path)
                ),
            ));
        }
    }
    ok
}

/// Every file the selection reads, in a stable order. Paths that leave the
/// namespace folder are left out (render reports them).
pub fn needed(selection: &Selection) -> Vec<Needed> {
    let inside = |ns: &Namespace, p: &Path| {
        p.strip_prefix(&ns.path)
            .is_ok_and(|rest| stays_inside(&rest.to_string_lossy()))
    };
    let mut out = Vec::new();
    each_source(selection, |ns, _, _, path, what| {
        // the namespace that names a path nearly always holds it; looking
        // through every namespace only for the others keeps this linear
        if inside(ns, &path) || selection.namespaces.iter().any(|n| inside(n, &path)) {
            out.push(if what == ENCRYPTED_SOURCE {
                Needed::Encrypted(path)
            } else {
                Needed::Plain(path)
            });
        }
    });
    out.sort();
    out.dedup();
    out
}

const ENCRYPTED_SOURCE: &str = "encrypted source";

/// Call `f` with every source the selection names, in ksec.yaml's order:
/// the namespace, kind and spec of the object that names it, its path, and
/// what it is (`env file`, `file` or `encrypted source`). `files` entries that do not parse
/// are left out (render reports them).
fn each_source<'a>(
    selection: &Selection<'a>,
    mut f: impl FnMut(&'a Namespace, &'static str, &'a ObjectSpec, PathBuf, &'static str),
) {
    for ns in selection.namespaces.iter().copied() {
        for cm in &ns.config_maps {
            let over = override_for(cm, selection.environment);
            for e in cm
                .env_files
                .iter()
                .chain(over.map(|o| &o.env_files).into_iter().flatten())
            {
                f(ns, "ConfigMap", cm, ns.path.join(e), "env file");
            }
            for e in cm
                .files
                .iter()
                .chain(over.map(|o| &o.files).into_iter().flatten())
            {
                if let Ok((_, path)) = file_entry(ns, e) {
                    f(ns, "ConfigMap", cm, path, "file");
                }
            }
        }
        for secret in &ns.secrets {
            let over = override_for(secret, selection.environment);
            for e in secret
                .sources
                .iter()
                .chain(over.map(|o| &o.sources).into_iter().flatten())
            {
                f(ns, "Secret", secret, ns.path.join(e), ENCRYPTED_SOURCE);
            }
        }
    }
}

/// The namespace folder each source must stay inside, for every source the
/// selection names: the deepest folder among the namespaces whose objects
/// name it (what `uses` gives one path at a time), found in one pass.
pub fn folders<'a>(selection: &Selection<'a>) -> HashMap<PathBuf, &'a Path> {
    let mut out: HashMap<PathBuf, &'a Path> = HashMap::new();
    each_source(selection, |ns, _, _, path, _| {
        let depth = ns.path.components().count();
        out.entry(path)
            .and_modify(|folder| {
                if depth >= folder.components().count() {
                    *folder = ns.path.as_path();
                }
            })
            .or_insert(ns.path.as_path());
    });
    out
}

/// One place a source file is named: the object that reads it, its entry
/// in ksec.yaml, and the namespace folder it must stay inside.
pub struct Use<'a> {
    pub folder: &'a Path,
    /// `ksec.yaml:12`
    pub location: String,
    /// `payments/ConfigMap/api-config`
    pub object: String,
    /// `env file`, `file` or `encrypted source`
    pub what: &'static str,
}

/// Every object of the selection that reads `path` (project-relative).
pub fn uses<'a>(selection: &Selection<'a>, path: &Path) -> Vec<Use<'a>> {
    uses_by_path(selection).remove(path).unwrap_or_default()
}

/// `uses` of every source path at once (one pass over the selection), for
/// reporting many unreadable sources.
pub fn uses_by_path<'a>(selection: &Selection<'a>) -> HashMap<PathBuf, Vec<Use<'a>>> {
    let mut out: HashMap<PathBuf, Vec<Use<'a>>> = HashMap::new();
    each_source(selection, |ns, kind, spec, path, what| {
        let object = format!("{}/{kind}/{}", ns.name, spec.name);
        let uses = out.entry(path).or_default();
        if !uses.iter().any(|u| u.object == object && u.what == what) {
            uses.push(Use {
                folder: ns.path.as_path(),
                location: format!("ksec.yaml:{}", spec.line),
                object,
                what,
            });
        }
    });
    out
}

fn override_for<'a>(
    spec: &'a ObjectSpec,
    env: Option<&str>,
) -> Option<&'a crate::project::OverrideSpec> {
    env.and_then(|e| spec.overrides.get(e))
}

/// Collects data keys and remembers where each came from.
struct DataBuilder<'a> {
    object: String,
    ksec_line: String,
    values: BTreeMap<String, (Vec<u8>, String)>,
    problems: &'a mut Vec<Problem>,
}

impl DataBuilder<'_> {
    fn problem(&mut self, location: &str, message: String) {
        self.problems.push(Problem {
            location: location.to_string(),
            object: self.object.clone(),
            message,
        });
    }

    /// Add a key; `replace` is for environment overrides, which may change
    /// a key that the base sources define.
    fn add(&mut self, key: &str, value: Vec<u8>, origin: &str, replace: bool) {
        if !is_data_key(key) {
            let at = origin.to_string();
            self.problem(
                &at,
                format!("data key {key:?} is invalid (letters, digits, '-', '_', '.'; at most 253; not '.' and not starting with '..')"),
            );
            return;
        }
        if let Some((_, first)) = self.values.get(key)
            && !replace
        {
            let at = origin.to_string();
            let first = first.clone();
            self.problem(
                &at,
                format!("key {key} is defined twice: in {first} and in {origin}"),
            );
            return;
        }
        self.values
            .insert(key.to_string(), (value, origin.to_string()));
    }

    /// A problem located at the object's line in ksec.yaml.
    fn object_problem(&mut self, message: String) {
        let at = self.ksec_line.clone();
        self.problem(&at, message);
    }

    fn check_size(&mut self) {
        let size: usize = self
            .values
            .iter()
            .map(|(k, (v, _))| k.len() + v.len())
            .sum();
        if size > MAX_OBJECT_BYTES {
            self.object_problem(format!(
                "the data is {size} bytes; Kubernetes stores at most {MAX_OBJECT_BYTES} per object"
            ));
        }
    }
}

/// Render the selection. On any problem, returns all of them and no manifest.
pub fn render(
    project: &Project,
    selection: &Selection,
    inputs: &Inputs,
) -> Result<Vec<Manifest>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut manifests = Vec::new();
    let mut workloads: BTreeMap<(String, String, String), Workload> = BTreeMap::new();
    for ns in &selection.namespaces {
        if ns.onboarded() {
            match crate::onboard::manifests(project, selection.environment, ns, &inputs.templates) {
                Ok(mut objects) => manifests.append(&mut objects),
                Err(mut more) => problems.append(&mut more),
            }
        }
        for cm in &ns.config_maps {
            if let Some((manifest, hashed)) =
                config_map(project, selection, ns, cm, inputs, &mut problems)
            {
                wire(
                    ns,
                    cm,
                    "ConfigMap",
                    &hashed,
                    &manifest,
                    &mut workloads,
                    &mut problems,
                );
                manifests.push(manifest);
            }
        }
        for secret in &ns.secrets {
            if let Some((manifest, hashed)) =
                secret_object(project, selection, ns, secret, inputs, &mut problems)
            {
                wire(
                    ns,
                    secret,
                    "Secret",
                    &hashed,
                    &manifest,
                    &mut workloads,
                    &mut problems,
                );
                manifests.push(manifest);
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    for ((namespace, kind, name), workload) in workloads {
        manifests.push(Manifest {
            body: workload.body(&namespace, &kind, &name),
            namespace,
            kind,
            name,
        });
    }
    manifests.sort_by(|a, b| {
        (&a.namespace, kind_order(&a.kind), &a.kind, &a.name).cmp(&(
            &b.namespace,
            kind_order(&b.kind),
            &b.kind,
            &b.name,
        ))
    });
    Ok(manifests)
}

/// Within a namespace: the Namespace first, then what onboarding writes
/// (bindings after roles), then ConfigMaps, Secrets and workloads by kind.
pub fn kind_order(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "RoleBinding" | "ClusterRoleBinding" => 2,
        k if is_onboarding_kind(k) => 1,
        _ => 3,
    }
}

fn metadata(
    project: &Project,
    selection: &Selection,
    ns: &Namespace,
    spec: &ObjectSpec,
    name: &str,
) -> Value {
    let mut labels: BTreeMap<String, String> = project.defaults.labels.clone();
    labels.extend(spec.labels.clone());
    labels.insert(MANAGED_BY.into(), "ksec".into());
    labels.insert(PROJECT_LABEL.into(), project.name.clone());
    if let Some(env) = selection.environment {
        labels.insert(ENVIRONMENT_LABEL.into(), env.to_string());
    }
    let mut annotations: BTreeMap<String, String> = project.defaults.annotations.clone();
    annotations.extend(spec.annotations.clone());
    if spec.hash_suffix.unwrap_or(project.defaults.hash_suffix) {
        annotations.insert(NAME_ANNOTATION.into(), spec.name.clone());
    }
    let mut meta = Map::new();
    meta.insert("name".into(), json!(name));
    meta.insert("namespace".into(), json!(ns.name));
    meta.insert("labels".into(), json!(labels));
    if !annotations.is_empty() {
        meta.insert("annotations".into(), json!(annotations));
    }
    Value::Object(meta)
}

/// apiVersion, kind, metadata and `immutable` of a ConfigMap or Secret.
fn object_head(
    kind: &str,
    project: &Project,
    selection: &Selection,
    ns: &Namespace,
    spec: &ObjectSpec,
    name: &str,
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("apiVersion".into(), json!("v1"));
    body.insert("kind".into(), json!(kind));
    body.insert(
        "metadata".into(),
        metadata(project, selection, ns, spec, name),
    );
    if spec.immutable {
        body.insert("immutable".into(), json!(true));
    }
    body
}

fn final_name(
    project: &Project,
    spec: &ObjectSpec,
    suffix: impl FnOnce() -> String,
    ns: &Namespace,
    kind: &str,
    problems: &mut Vec<Problem>,
) -> String {
    let name = if spec.hash_suffix.unwrap_or(project.defaults.hash_suffix) {
        format!("{}-{}", spec.name, suffix())
    } else {
        spec.name.clone()
    };
    if !is_dns_subdomain(&name) {
        problems.push(Problem::at_object(
            ns,
            kind,
            spec,
            format!("the name {name} is not a valid DNS-1123 subdomain (at most 253 characters)"),
        ));
    }
    name
}

fn config_map(
    project: &Project,
    selection: &Selection,
    ns: &Namespace,
    spec: &ObjectSpec,
    inputs: &Inputs,
    problems: &mut Vec<Problem>,
) -> Option<(Manifest, String)> {
    let object = format!("{}/ConfigMap/{}", ns.name, spec.name);
    if !check_paths(ns, spec, "ConfigMap", problems) {
        return None;
    }
    let before = problems.len();
    let mut data = DataBuilder {
        object: object.clone(),
        ksec_line: format!("ksec.yaml:{}", spec.line),
        values: BTreeMap::new(),
        problems,
    };
    let over = override_for(spec, selection.environment);
    let layers: [ConfigLayer; 2] = [
        (&spec.env_files, &spec.files, Some(&spec.literals), false),
        match over {
            Some(o) => (&o.env_files, &o.files, Some(&o.literals), true),
            None => (&[], &[], None, true),
        },
    ];
    for (env_files, files, literals, replace) in layers {
        let mut layer_keys: BTreeMap<String, String> = BTreeMap::new();
        for f in env_files {
            let path = ns.path.join(f);
            let Some(bytes) = inputs.plain.get(&path) else {
                if !inputs.unreadable.contains(&path) {
                    data.object_problem(format!("env file {} does not exist", display(&path)));
                }
                continue;
            };
            match envfile::parse(bytes) {
                Ok(pairs) => {
                    for (k, v) in pairs {
                        let origin = display(&path);
                        add_layered(
                            &mut data,
                            &mut layer_keys,
                            &k,
                            v.into_bytes(),
                            &origin,
                            replace,
                        );
                    }
                }
                Err(e) => {
                    let at = format!("{}:{}", display(&path), e.line);
                    data.problem(&at, e.message);
                }
            }
        }
        for f in files {
            let (key, path) = match file_entry(ns, f) {
                Ok(entry) => entry,
                Err(why) => {
                    data.object_problem(format!("the files entry {f:?} {why}"));
                    continue;
                }
            };
            if !is_data_key(&key) {
                data.object_problem(format!(
                    "the files entry {f:?} gives the key {key:?}, which is not a valid data key (letters, digits, '-', '_', '.'; at most 253; not '.' and not starting with '..'); write KEY=PATH"
                ));
                continue;
            }
            let Some(bytes) = inputs.plain.get(&path) else {
                if !inputs.unreadable.contains(&path) {
                    data.object_problem(format!("file {} does not exist", display(&path)));
                }
                continue;
            };
            let origin = display(&path);
            add_layered(
                &mut data,
                &mut layer_keys,
                &key,
                bytes.clone(),
                &origin,
                replace,
            );
        }
        if let Some(literals) = literals {
            for (k, v) in literals {
                let origin = data.ksec_line.clone();
                add_layered(
                    &mut data,
                    &mut layer_keys,
                    k,
                    v.clone().into_bytes(),
                    &origin,
                    replace,
                );
            }
        }
    }
    data.check_size();
    let values = std::mem::take(&mut data.values);
    if problems.len() > before {
        return None;
    }
    let mut text = BTreeMap::new();
    let mut binary = BTreeMap::new();
    for (k, (v, _)) in values {
        match String::from_utf8(v) {
            Ok(s) => {
                text.insert(k, s);
            }
            Err(e) => {
                binary.insert(k, B64.encode(e.as_bytes()));
            }
        }
    }
    let name = final_name(
        project,
        spec,
        || hash::config_map_suffix(&text, &binary),
        ns,
        "ConfigMap",
        problems,
    );
    let mut body = object_head("ConfigMap", project, selection, ns, spec, &name);
    if !text.is_empty() {
        body.insert("data".into(), json!(text));
    }
    if !binary.is_empty() {
        body.insert("binaryData".into(), json!(binary));
    }
    Some((
        Manifest {
            namespace: ns.name.clone(),
            kind: "ConfigMap".into(),
            name: name.clone(),
            body: Value::Object(body),
        },
        name,
    ))
}

/// One layer of a ConfigMap's sources: env files, files, literals, and
/// whether it overrides (an environment's values) rather than adds.
type ConfigLayer<'a> = (
    &'a [String],
    &'a [String],
    Option<&'a BTreeMap<String, String>>,
    bool,
);

/// Within one layer (base or override) a key may appear once; an override
/// layer may replace base keys.
fn add_layered(
    data: &mut DataBuilder,
    layer_keys: &mut BTreeMap<String, String>,
    key: &str,
    value: Vec<u8>,
    origin: &str,
    replace: bool,
) {
    if replace {
        if let Some(first) = layer_keys.get(key) {
            let first = first.clone();
            data.problem(
                origin,
                format!("key {key} is defined twice: in {first} and in {origin}"),
            );
            return;
        }
        layer_keys.insert(key.to_string(), origin.to_string());
    }
    data.add(key, value, origin, replace);
}

fn secret_object(
    project: &Project,
    selection: &Selection,
    ns: &Namespace,
    spec: &ObjectSpec,
    inputs: &Inputs,
    problems: &mut Vec<Problem>,
) -> Option<(Manifest, String)> {
    let object = format!("{}/Secret/{}", ns.name, spec.name);
    if !check_paths(ns, spec, "Secret", problems) {
        return None;
    }
    let kind = spec.kind.clone().unwrap_or_else(|| "Opaque".into());
    let before = problems.len();
    let ksec_line = format!("ksec.yaml:{}", spec.line);
    let Some((_, required)) = SECRET_TYPES.iter().find(|(t, _)| *t == kind) else {
        problems.push(Problem::at_object(
            ns,
            "Secret",
            spec,
            format!(
                "unknown secret type {kind} (known: {})",
                SECRET_TYPES
                    .iter()
                    .map(|(t, _)| *t)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
        return None;
    };
    let mut data = DataBuilder {
        object: object.clone(),
        ksec_line: ksec_line.clone(),
        values: BTreeMap::new(),
        problems,
    };
    let over = override_for(spec, selection.environment);
    let layers: [(&[String], bool); 2] = [
        (&spec.sources, false),
        (over.map(|o| o.sources.as_slice()).unwrap_or(&[]), true),
    ];
    let mut incomplete = false;
    for (sources, replace) in layers {
        let mut layer_keys = BTreeMap::new();
        for source in sources {
            let path = ns.path.join(source);
            let Some(pairs) = inputs.secrets.get(&path) else {
                // the loader already reported why (missing or undecryptable);
                // the keys it would have given are unknown, so no type checks
                incomplete = true;
                continue;
            };
            let origin = display(&path);
            for (k, v) in pairs {
                add_layered(
                    &mut data,
                    &mut layer_keys,
                    k,
                    v.expose_secret().to_vec(),
                    &origin,
                    replace,
                );
            }
        }
    }
    if incomplete {
        return None;
    }
    if kind == "kubernetes.io/dockerconfigjson" {
        if data.values.contains_key(".dockerconfigjson") {
            check_docker_config(&mut data);
        } else {
            build_docker_config(&mut data);
        }
    }
    for key in *required {
        if !data.values.contains_key(*key) {
            data.object_problem(format!("a {kind} secret needs the key {key}"));
        }
    }
    if kind == "kubernetes.io/basic-auth"
        && !data.values.contains_key("username")
        && !data.values.contains_key("password")
    {
        data.object_problem(format!(
            "a {kind} secret needs the key username or password"
        ));
    }
    data.check_size();
    let values = std::mem::take(&mut data.values);
    if problems.len() > before {
        return None;
    }
    let encoded: BTreeMap<String, String> = values
        .into_iter()
        .map(|(k, (v, _))| (k, B64.encode(zeroize::Zeroizing::new(v).as_slice())))
        .collect();
    let name = final_name(
        project,
        spec,
        || hash::secret_suffix(&kind, &encoded),
        ns,
        "Secret",
        problems,
    );
    let mut body = object_head("Secret", project, selection, ns, spec, &name);
    body.insert("type".into(), json!(kind));
    if !encoded.is_empty() {
        body.insert("data".into(), json!(encoded));
    }
    Some((
        Manifest {
            namespace: ns.name.clone(),
            kind: "Secret".into(),
            name: name.clone(),
            body: Value::Object(body),
        },
        name,
    ))
}

/// A `.dockerconfigjson` given whole must be what the API server accepts
/// (a JSON object) and what the kubelet reads (`{"auths": {…}}`), so that
/// apply does not fail on it half-way. The problem names the key and where
/// it came from, never the value (nor the JSON parser's words about it).
fn check_docker_config(data: &mut DataBuilder) {
    let Some((value, origin)) = data.values.get(".dockerconfigjson") else {
        return;
    };
    let origin = origin.clone();
    let why = match serde_json::from_slice::<Value>(value) {
        Err(e) => Some(format!(
            "is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )),
        Ok(Value::Object(map)) => match map.get("auths") {
            Some(Value::Object(_)) => None,
            Some(_) => Some("has an \"auths\" member that is not a JSON object".to_string()),
            None => Some("is a JSON object without an \"auths\" member".to_string()),
        },
        Ok(_) => Some("is JSON but not an object".to_string()),
    };
    if let Some(why) = why {
        data.problem(
            &origin,
            format!(
                "the key .dockerconfigjson {why}; the API server and the kubelet need {{\"auths\": {{\"REGISTRY\": {{…}}}}}} (or give the keys registry, username and password instead)"
            ),
        );
    }
}

/// `registry`, `username`, `password` (and optional `email`) become
/// `.dockerconfigjson`, exactly as `kubectl create secret docker-registry`.
fn build_docker_config(data: &mut DataBuilder) {
    let take = |data: &mut DataBuilder, key: &str| {
        data.values
            .remove(key)
            .map(|(v, _)| String::from_utf8_lossy(&v).into_owned())
    };
    let registry = take(data, "registry");
    let username = take(data, "username");
    let password = take(data, "password");
    let email = take(data, "email").unwrap_or_default();
    match (registry, username, password) {
        (Some(r), Some(u), Some(p)) => {
            let json = zeroize::Zeroizing::new(hash::docker_config_json(&r, &u, &p, &email));
            let at = data.ksec_line.clone();
            data.values
                .insert(".dockerconfigjson".into(), (json.as_bytes().to_vec(), at));
        }
        _ => {
            data.object_problem("a kubernetes.io/dockerconfigjson secret needs the key .dockerconfigjson, or the keys registry, username and password".into());
        }
    }
}

#[cfg(test)]
mod tests;
