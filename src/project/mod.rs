//! The project: `ksec.yaml`, found by walking up from the working directory
//! (or given by `--project`), parsed with its private schema and validated
//! once into this model. Every schema problem is reported together, each
//! with its line.

pub mod edit;
pub mod scaffold;
mod schema;

use crate::crypto::wrap::Recipient;
use crate::error::{Error, Result, escape_controls, shown};
use schema::Map;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "ksec.yaml";

#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub name: String,
    /// recipient name -> public key text
    pub recipients: BTreeMap<String, String>,
    /// group name -> recipient names
    pub groups: BTreeMap<String, Vec<String>>,
    pub defaults: Defaults,
    pub environments: BTreeMap<String, Environment>,
    pub namespaces: BTreeMap<String, Namespace>,
    /// `check.allow`: findings of `ksec check` the project accepts.
    pub check_allow: Vec<Allow>,
}

/// A `check.allow` entry: findings of `rule` in files matching `path` are
/// accepted, for `reason`, and counted in `ksec check`'s output.
#[derive(Debug, Clone)]
pub struct Allow {
    /// Relative to the project root; `*` (within a folder), `**` and `?`.
    pub path: String,
    /// A rule id of `ksec check`.
    pub rule: String,
    pub reason: String,
    /// Its line in ksec.yaml, for the warning when it matches nothing.
    pub line: usize,
}

#[derive(Debug, Default)]
pub struct Defaults {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub hash_suffix: bool,
    /// Superseded versions of a hash-named object that apply keeps (the
    /// newest ones); older ones are deleted.
    pub keep_versions: usize,
}

/// `defaults.keepVersions` when ksec.yaml does not set it.
pub const KEEP_VERSIONS: usize = 2;
/// The most `defaults.keepVersions` may be.
pub const MAX_KEEP_VERSIONS: u32 = 100;

#[derive(Debug)]
pub struct Environment {
    pub context: String,
    pub protected: bool,
    /// Recipient names of the environment's CI.
    pub recipients: Vec<String>,
}

#[derive(Debug)]
pub struct Namespace {
    pub name: String,
    /// Source folder, relative to the project root.
    pub path: PathBuf,
    pub environments: Vec<String>,
    /// Recipient names (groups expanded), without the environments' CI.
    pub recipients: Vec<String>,
    /// Groups that own the namespace. A namespace with owners is onboarded:
    /// ksec renders and applies the Namespace itself, its quota, limits,
    /// RBAC and CI ServiceAccount from `templates/`.
    pub owners: Vec<String>,
    /// The `ksec.dev/team` label of the Namespace (default: its name).
    pub team: String,
    /// Pod Security Standard enforced in it: privileged, baseline, restricted.
    pub pod_security: String,
    pub quota: BTreeMap<String, String>,
    pub limits: Limits,
    pub default_deny: bool,
    /// Labels and annotations of the Namespace object.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub config_maps: Vec<ObjectSpec>,
    pub secrets: Vec<ObjectSpec>,
}

impl Namespace {
    /// Whether ksec manages the namespace itself (it has owners).
    pub fn onboarded(&self) -> bool {
        !self.owners.is_empty()
    }
}

/// A LimitRange's container defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub default: BTreeMap<String, String>,
    pub default_request: BTreeMap<String, String>,
}

impl Default for Limits {
    fn default() -> Limits {
        let map = |cpu: &str, memory: &str| {
            BTreeMap::from([("cpu".into(), cpu.into()), ("memory".into(), memory.into())])
        };
        Limits {
            default: map("500m", "512Mi"),
            default_request: map("100m", "128Mi"),
        }
    }
}

/// Namespaces Kubernetes itself owns: never onboarded by ksec.
pub const RESERVED_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Pod Security Standard levels.
pub const POD_SECURITY_LEVELS: &[&str] = &["privileged", "baseline", "restricted"];

/// Why `name` cannot be a new team namespace, if it cannot.
pub fn reserved_namespace(name: &str) -> Option<String> {
    if RESERVED_NAMESPACES.contains(&name) || name.starts_with("kube-") {
        Some(format!(
            "{name} is reserved by Kubernetes ({} and every kube-* name)",
            RESERVED_NAMESPACES.join(", ")
        ))
    } else {
        None
    }
}

/// A Kubernetes resource quantity: `2`, `0.5`, `500m`, `8Gi`, `1G`, `1e3`.
pub fn is_quantity(s: &str) -> bool {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$",
        )
        .expect("valid regex")
    });
    RE.is_match(s)
}

/// The value of a quantity in billionths (`500m` is 500_000_000, `1Ki`
/// is 1_024_000_000_000), rounded up as Kubernetes does; `None` if it is no
/// quantity or too large to compare.
pub fn quantity_nanos(s: &str) -> Option<i128> {
    if !is_quantity(s) {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let negative = number.starts_with('-');
    let number = number.trim_start_matches(['+', '-']);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    // value = digits * 10^exp10 * 2^exp2
    let mut exp10: i32 = 9 - fraction.len() as i32;
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            exp2 = 10
                * (1 + ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                    .iter()
                    .position(|x| *x == suffix)? as u32)
        }
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        e => exp10 += e[1..].parse::<i32>().ok()?,
    }
    let mut value = digits.checked_mul(2i128.checked_pow(exp2)?)?;
    if exp10 >= 0 {
        value = value.checked_mul(10i128.checked_pow(exp10 as u32)?)?;
    } else {
        let divisor = 10i128.checked_pow(exp10.unsigned_abs())?;
        value = (value + divisor - 1) / divisor;
    }
    Some(if negative { -value } else { value })
}

/// A label value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

/// A ConfigMap or Secret as declared (rendering interprets it).
#[derive(Debug, Clone)]
pub struct ObjectSpec {
    pub name: String,
    pub line: usize,
    /// Secret type; `None` for ConfigMaps.
    pub kind: Option<String>,
    pub env_files: Vec<String>,
    pub files: Vec<String>,
    pub literals: BTreeMap<String, String>,
    pub sources: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub immutable: bool,
    pub hash_suffix: Option<bool>,
    pub mount: Option<MountSpec>,
    pub rollout: Vec<String>,
    pub overrides: BTreeMap<String, OverrideSpec>,
}

#[derive(Debug, Clone)]
pub struct MountSpec {
    pub workload: String,
    pub container: Option<String>,
    pub path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default)]
pub struct OverrideSpec {
    pub env_files: Vec<String>,
    pub files: Vec<String>,
    pub literals: BTreeMap<String, String>,
    pub sources: Vec<String>,
}

/// Find the project root: `flag` if given, else the nearest ancestor of the
/// working directory holding `ksec.yaml`.
pub fn find_root(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = flag {
        if dir.join(FILE_NAME).is_file() {
            return Ok(absolute(dir));
        }
        return Err(Error::not_found(format!(
            "no {FILE_NAME} in {} (given by --project)",
            dir.display()
        ))
        .hint("point --project at the directory holding ksec.yaml, or run `ksec init` there"));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io("read the working directory", Path::new("."), &e))?;
    for dir in cwd.ancestors() {
        if dir.join(FILE_NAME).is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    Err(Error::not_found(format!(
        "no {FILE_NAME} in {} or any parent directory",
        cwd.display()
    ))
    .hint("run ksec inside a project, pass --project DIR, or create one with `ksec init`"))
}

pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Namespaces by their source folder (project-relative).
pub struct Folders<'a>(HashMap<&'a Path, &'a Namespace>);

impl<'a> Folders<'a> {
    /// The namespace with the deepest source folder that holds `rel` (a
    /// project-relative path): a lookup per ancestor of `rel`, not a scan
    /// of every namespace.
    pub fn namespace_of(&self, rel: &Path) -> Option<&'a Namespace> {
        rel.ancestors()
            .find_map(|folder| self.0.get(folder).copied())
    }
}

impl Project {
    pub fn discover(flag: Option<&Path>) -> Result<Project> {
        let root = find_root(flag)?;
        Project::load(&root)
    }

    /// The project, read under an exclusive lock on ksec.yaml that the
    /// caller holds for as long as it changes the project (ksec.yaml, then
    /// `.sops.yaml` and sources): two commands that change the project run
    /// one after the other, each on what the other wrote.
    pub fn discover_locked(flag: Option<&Path>) -> Result<(crate::lock::FileLock, Project)> {
        let root = find_root(flag)?;
        let lock = crate::lock::lock(&root.join(FILE_NAME))?;
        Ok((lock, Project::load(&root)?))
    }

    pub fn load(root: &Path) -> Result<Project> {
        let path = root.join(FILE_NAME);
        // capped like every file ksec reads whole: a runaway ksec.yaml is
        // an error, not an exhausted memory
        let bytes = crate::fsutil::read_file(&path)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::invalid(format!("{} is not UTF-8 text", path.display()))
                .hint("save ksec.yaml as UTF-8")
        })?;
        Project::parse(root, &text)
    }

    pub fn parse(root: &Path, text: &str) -> Result<Project> {
        let file = path_label(root);
        let hint = "fix ksec.yaml; the README documents every field";
        let problems_error = |problems: Vec<Problem>| {
            let count = problems.len();
            let mut err = Error::invalid(format!(
                "{file} has {count} problem{}",
                if count == 1 { "" } else { "s" }
            ));
            for p in problems {
                err = err.detail(match p.line {
                    Some(line) => format!("{file}:{line}: {}", p.message),
                    None => format!("{file}: {}", p.message),
                });
            }
            err.hint(hint)
        };
        let raw = parse_raw(text).map_err(|mut problems| {
            if problems.len() == 1 {
                let p = problems.remove(0);
                let at = p.line.map(|l| format!(":{l}")).unwrap_or_default();
                Error::invalid(format!("{file}{at}: {}", p.message)).hint(hint)
            } else {
                problems_error(problems)
            }
        })?;
        validate_all(root, raw.0, &raw.1).map_err(problems_error)
    }

    /// Like `parse`, but every problem comes back as data, for `ksec check`.
    pub fn parse_located(root: &Path, text: &str) -> std::result::Result<Project, Vec<Problem>> {
        let (raw, lines) = parse_raw(text)?;
        validate_all(root, raw, &lines)
    }

    /// The namespaces' names, for hints: `payments, storefront`, or what to
    /// do when there is none.
    pub fn namespace_names(&self) -> String {
        names_or(
            self.namespaces.keys(),
            "none yet; add one with `ksec namespace add NAME` or under `namespaces:` in ksec.yaml",
        )
    }

    /// The environments' names, for hints: `prod, staging`, or what to do
    /// when there is none.
    pub fn environment_names(&self) -> String {
        names_or(
            self.environments.keys(),
            "none yet; add one under `environments:` in ksec.yaml (a name and its kubeconfig `context:`)",
        )
    }

    pub fn file(&self) -> PathBuf {
        self.root.join(FILE_NAME)
    }

    /// The namespace whose source folder holds `path`.
    pub fn namespace_for(&self, path: &Path) -> Option<&Namespace> {
        let path = absolute(path);
        let rel = path.strip_prefix(&self.root).ok()?;
        self.folders().namespace_of(rel)
    }

    /// The namespaces by source folder, to find the folder of many paths
    /// (`ksec check` looks up every encrypted file).
    pub fn folders(&self) -> Folders<'_> {
        let mut by_path = HashMap::with_capacity(self.namespaces.len());
        for ns in self.namespaces.values() {
            // two namespaces in one folder: the last by name, as before
            by_path.insert(ns.path.as_path(), ns);
        }
        Folders(by_path)
    }

    /// Who may decrypt a namespace's secrets: its recipients plus the CI
    /// recipients of its environments, as (name, key), without repeats.
    pub fn namespace_recipients(&self, ns: &Namespace) -> Vec<(String, String)> {
        let mut names: Vec<&String> = ns.recipients.iter().collect();
        for env in &ns.environments {
            if let Some(env) = self.environments.get(env) {
                names.extend(env.recipients.iter());
            }
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for name in names {
            if let Some(key) = self.recipients.get(name)
                && !out.iter().any(|(_, k)| k == key)
            {
                out.push((name.clone(), key.clone()));
            }
        }
        out
    }

    /// A `-r` argument: a recipient name, a group name, or a key itself.
    pub fn resolve_recipient(&self, arg: &str) -> Option<Vec<String>> {
        if let Some(key) = self.recipients.get(arg) {
            return Some(vec![key.clone()]);
        }
        self.groups.get(arg).map(|members| {
            members
                .iter()
                .filter_map(|m| self.recipients.get(m).cloned())
                .collect()
        })
    }
}

/// Names for a hint, each shown safely, or `empty` when there are none, so
/// a hint never ends in nothing.
fn names_or<'a>(names: impl Iterator<Item = &'a String>, empty: &str) -> String {
    let names: Vec<String> = names.map(|n| shown(n).into_owned()).collect();
    if names.is_empty() {
        empty.to_string()
    } else {
        names.join(", ")
    }
}

fn path_label(root: &Path) -> String {
    let file = root.join(FILE_NAME);
    match std::env::current_dir() {
        Ok(cwd) => file
            .strip_prefix(&cwd)
            .map(Path::to_path_buf)
            .unwrap_or(file)
            .display()
            .to_string(),
        Err(_) => file.display().to_string(),
    }
}

/// One problem in ksec.yaml: its line (when known) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

/// Read ksec.yaml into its schema. Unknown fields are all reported, each
/// with its line (serde alone stops at the first); parser errors are put in
/// ksec's words.
fn parse_raw(text: &str) -> std::result::Result<(schema::File, schema::KeyLines), Vec<Problem>> {
    let tree: schema::Node = serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| vec![yaml_problem(&e)])?;
    let unknown = schema::unknown_fields(&tree);
    if !unknown.is_empty() {
        return Err(unknown
            .into_iter()
            .map(|(line, message)| Problem {
                line: (line > 0).then_some(line),
                message: escape_controls(&message),
            })
            .collect());
    }
    let raw = serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|e| vec![yaml_problem(&e)])?;
    Ok((raw, schema::KeyLines::of(&tree)))
}

/// A YAML parser error about ksec.yaml, in ksec's words: no advice meant
/// for programmers using the parser, no Rust debug text.
fn yaml_problem(err: &serde_saphyr::Error) -> Problem {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach as B;
    let mut inner = err;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
        inner = error;
    }
    let line = err.location().map(|l| l.line() as usize).filter(|l| *l > 0);
    let message = match inner {
        E::DuplicateMappingKey { key, .. } => match key {
            Some(k) => format!(
                "key {} appears twice in the same mapping; keep one of them",
                shown(k)
            ),
            None => "a key appears twice in the same mapping; keep one of them".to_string(),
        },
        E::Budget { breach, .. } => {
            let what = match breach {
                B::Depth { .. } => "nested too deeply",
                B::Aliases { .. } | B::Anchors { .. } | B::AliasAnchorRatio { .. } => {
                    "uses too many anchors and aliases"
                }
                B::Documents { .. } => "holds too many YAML documents (it must be one)",
                _ => "too large",
            };
            format!(
                "ksec.yaml is {what} for ksec to read; a project file is a few hundred lines of plain YAML"
            )
        }
        E::InvalidScalar { ty, .. } => {
            let wanted = match *ty {
                "bool" => "true or false",
                t if t.starts_with('u') || t.starts_with('i') => "a whole number",
                t if t.starts_with('f') => "a number",
                _ => "another kind of value",
            };
            format!("the value here must be {wanted}")
        }
        _ => {
            // the budgets are handled above: a limit here is the parser's
            // own recursion guard, the nesting of flow collections
            let located = crate::crypto::yaml::located_error(err, false);
            if located.limit {
                "ksec.yaml is nested too deeply for ksec to read; a project file is a few hundred lines of plain YAML".to_string()
            } else {
                located.message
            }
        }
    };
    Problem {
        line,
        message: escape_controls(&message),
    }
}

fn validate_all(
    root: &Path,
    raw: schema::File,
    lines: &schema::KeyLines,
) -> std::result::Result<Project, Vec<Problem>> {
    let mut problems = Problems::default();
    let project = validate(root, raw, lines, &mut problems);
    if problems.0.is_empty() {
        return Ok(project);
    }
    problems.0.sort_by_key(|(line, _)| *line);
    Err(problems
        .0
        .into_iter()
        .map(|(line, message)| Problem {
            line: (line > 0).then_some(line),
            message: escape_controls(&message),
        })
        .collect())
}

fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    options
}

#[derive(Default)]
struct Problems(Vec<(usize, String)>);

impl Problems {
    fn at<T>(&mut self, spanned: &Spanned<T>, message: String) {
        self.0.push((spanned.referenced.line() as usize, message));
    }
}

/// DNS-1123 label: lower-case alphanumerics and '-', at most 63, starting
/// and ending alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// DNS-1123 subdomain: dot-separated labels, at most 253.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn validate(
    root: &Path,
    raw: schema::File,
    lines: &schema::KeyLines,
    problems: &mut Problems,
) -> Project {
    if raw.version.value != 1 {
        problems.at(
            &raw.version,
            format!(
                "version: {} is not supported (this ksec reads version 1)",
                raw.version.value
            ),
        );
    }
    let name = match &raw.project {
        Some(name) => {
            if !is_dns_label(&name.value) {
                problems.at(
                    name,
                    "project: must be a DNS-1123 label (lower-case letters, digits, '-'; at most 63)".into(),
                );
            }
            name.value.clone()
        }
        None => root
            .file_name()
            .and_then(|n| n.to_str())
            .map(sanitize_label)
            .unwrap_or_else(|| "ksec".into()),
    };

    let mut recipients = BTreeMap::new();
    for (rname, key) in &raw.recipients {
        if let Err(why) = Recipient::parse(&key.value) {
            problems.at(key, format!("recipients.{}: {why}", shown(rname)));
        }
        recipients.insert(rname.clone(), key.value.trim().to_string());
    }

    let mut groups = BTreeMap::new();
    for (gname, members) in &raw.groups {
        if recipients.contains_key(gname)
            && let Some(first) = members.first()
        {
            problems.at(
                first,
                format!("groups.{}: a recipient has the same name", shown(gname)),
            );
        }
        let mut names = Vec::new();
        for member in members {
            if recipients.contains_key(&member.value) {
                names.push(member.value.clone());
            } else {
                problems.at(
                    member,
                    format!(
                        "groups.{}: unknown recipient {}",
                        shown(gname),
                        shown(&member.value)
                    ),
                );
            }
        }
        groups.insert(gname.clone(), names);
    }

    let expand = |refs: &[Spanned<String>], field: &str, problems: &mut Problems| -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for r in refs {
            let found: Option<Vec<String>> = if recipients.contains_key(&r.value) {
                Some(vec![r.value.clone()])
            } else {
                groups.get(&r.value).cloned()
            };
            match found {
                Some(found) => {
                    for n in found {
                        if !names.contains(&n) {
                            names.push(n);
                        }
                    }
                }
                None => problems.at(
                    r,
                    format!("{field}: unknown recipient or group {} (define it under recipients or groups)", r.value),
                ),
            }
        }
        names
    };

    let mut environments = BTreeMap::new();
    for (ename, env) in &raw.environments {
        if !is_dns_label(ename) {
            problems.0.push((
                lines.get("environments", ename),
                format!(
                    "environments.{}: the name must be a DNS-1123 label",
                    shown(ename)
                ),
            ));
        }
        let names = expand(
            &env.recipients,
            &format!("environments.{}.recipients", shown(ename)),
            problems,
        );
        environments.insert(
            ename.clone(),
            Environment {
                context: env.context.clone(),
                protected: env.protected,
                recipients: names,
            },
        );
    }

    let mut namespaces = BTreeMap::new();
    for (nsname, ns) in raw.namespaces {
        let field = format!("namespaces.{}", shown(&nsname));
        if !is_dns_label(&nsname) {
            let line = lines.get("namespaces", &nsname);
            problems.0.push((line, format!("{field}: the namespace name must be a DNS-1123 label (lower-case letters, digits, '-'; at most 63)")));
        }
        let ns_envs = match &ns.environments {
            Some(list) => {
                let mut out = Vec::new();
                for e in list {
                    if environments.contains_key(&e.value) {
                        out.push(e.value.clone());
                    } else {
                        problems.at(
                            e,
                            format!("{field}.environments: unknown environment {}", e.value),
                        );
                    }
                }
                out
            }
            None => environments.keys().cloned().collect(),
        };
        if let Some(path) = &ns.path
            && !crate::render::stays_inside(&path.value)
        {
            problems.at(
                path,
                format!(
                    "{field}.path: {} must be a folder inside the project (relative, no '..')",
                    path.value
                ),
            );
        }
        let recipients_of_ns = expand(&ns.recipients, &format!("{field}.recipients"), problems);
        let onboarding = onboarding(&nsname, &field, &ns, problems);
        let config_maps = ns
            .config_maps
            .into_iter()
            .map(|c| object_from_config_map(c, &field, &environments, problems))
            .collect();
        let secrets = ns
            .secrets
            .into_iter()
            .map(|s| object_from_secret(s, &field, &environments, problems))
            .collect();
        namespaces.insert(
            nsname.clone(),
            Namespace {
                path: PathBuf::from(
                    ns.path
                        .map(|p| p.value)
                        .unwrap_or_else(|| format!("namespaces/{nsname}")),
                ),
                name: nsname,
                environments: ns_envs,
                recipients: recipients_of_ns,
                owners: onboarding.owners,
                team: onboarding.team,
                pod_security: onboarding.pod_security,
                quota: onboarding.quota,
                limits: onboarding.limits,
                default_deny: onboarding.default_deny,
                labels: ns.labels.into_iter().collect(),
                annotations: ns.annotations.into_iter().collect(),
                config_maps,
                secrets,
            },
        );
    }

    let check_allow = raw
        .check
        .allow
        .iter()
        .map(|a| check_allow(a, problems))
        .collect();

    Project {
        root: root.to_path_buf(),
        name,
        recipients,
        groups,
        defaults: Defaults {
            labels: raw.defaults.labels.into_iter().collect(),
            annotations: raw.defaults.annotations.into_iter().collect(),
            hash_suffix: raw.defaults.hash_suffix.unwrap_or(true),
            keep_versions: keep_versions(raw.defaults.keep_versions.as_ref(), problems),
        },
        environments,
        namespaces,
        check_allow,
    }
}

fn check_allow(a: &schema::Allow, problems: &mut Problems) -> Allow {
    let path = a.path.value.trim();
    if !crate::render::stays_inside(path) {
        problems.at(
            &a.path,
            format!(
                "check.allow.path: {path:?} must be a path inside the project (relative, no '..')"
            ),
        );
    }
    match crate::guard::Rule::from_id(&a.rule.value) {
        Some(crate::guard::Rule::KsecYaml) => problems.at(
            &a.rule,
            "check.allow.rule: ksec-yaml cannot be allowed; fix ksec.yaml instead".into(),
        ),
        Some(_) => {}
        None => problems.at(
            &a.rule,
            format!(
                "check.allow.rule: {} is not a rule of ksec check (one of {})",
                a.rule.value,
                crate::guard::Rule::allowable_ids().join(", ")
            ),
        ),
    }
    if a.reason.value.trim().is_empty() {
        problems.at(
            &a.reason,
            "check.allow.reason: say why this finding is fine (a demo key, a test fixture)".into(),
        );
    }
    Allow {
        path: path.to_string(),
        rule: a.rule.value.clone(),
        reason: a.reason.value.trim().to_string(),
        line: a.path.referenced.line() as usize,
    }
}

/// The onboarding fields of a namespace, validated.
struct Onboarding {
    owners: Vec<String>,
    team: String,
    pod_security: String,
    quota: BTreeMap<String, String>,
    limits: Limits,
    default_deny: bool,
}

fn quantities(
    map: &Map<Spanned<String>>,
    field: &str,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in map {
        if !is_quantity(&value.value) {
            problems.at(
                value,
                format!(
                    "{field}.{key}: {:?} is not a Kubernetes quantity (like 2, 500m, 8Gi or 1G)",
                    value.value
                ),
            );
        }
        out.insert(key.clone(), value.value.clone());
    }
    out
}

fn onboarding(
    name: &str,
    field: &str,
    ns: &schema::Namespace,
    problems: &mut Problems,
) -> Onboarding {
    let mut owners: Vec<String> = Vec::new();
    for owner in &ns.owners {
        if owner.value.trim().is_empty() {
            problems.at(owner, format!("{field}.owners: a group name is empty"));
        } else if !owners.contains(&owner.value) {
            owners.push(owner.value.clone());
        }
    }
    let team = match &ns.team {
        Some(team) => {
            if !is_label_value(&team.value) {
                problems.at(team, format!("{field}.team: {:?} is not a valid label value (at most 63 letters, digits, '-', '_', '.')", team.value));
            }
            team.value.clone()
        }
        None => name.to_string(),
    };
    let pod_security = match &ns.pod_security {
        Some(level) => {
            if !POD_SECURITY_LEVELS.contains(&level.value.as_str()) {
                problems.at(
                    level,
                    format!(
                        "{field}.podSecurity: {} is not a Pod Security level ({})",
                        level.value,
                        POD_SECURITY_LEVELS.join(", ")
                    ),
                );
            }
            level.value.clone()
        }
        None => "baseline".to_string(),
    };
    let quota = quantities(&ns.quota, &format!("{field}.quota"), problems);
    let limits = match &ns.limits {
        Some(l) => {
            let defaults = Limits::default();
            let mut default = quantities(&l.default, &format!("{field}.limits.default"), problems);
            if default.is_empty() {
                default = defaults.default;
            }
            let mut default_request = quantities(
                &l.default_request,
                &format!("{field}.limits.defaultRequest"),
                problems,
            );
            if default_request.is_empty() {
                default_request = defaults.default_request;
            }
            Limits {
                default,
                default_request,
            }
        }
        None => Limits::default(),
    };
    let default_deny = match &ns.network_policy {
        Some(p) if p.value == "default-deny" => true,
        Some(p) if p.value == "none" => false,
        Some(p) => {
            problems.at(
                p,
                format!(
                    "{field}.networkPolicy: {} is not known (default-deny or none)",
                    p.value
                ),
            );
            false
        }
        None => false,
    };
    if owners.is_empty() {
        let set: Vec<(&str, Option<usize>)> = vec![
            (
                "team",
                ns.team.as_ref().map(|s| s.referenced.line() as usize),
            ),
            (
                "podSecurity",
                ns.pod_security
                    .as_ref()
                    .map(|s| s.referenced.line() as usize),
            ),
            (
                "quota",
                ns.quota
                    .values()
                    .next()
                    .map(|s| s.referenced.line() as usize),
            ),
            (
                "networkPolicy",
                ns.network_policy
                    .as_ref()
                    .map(|s| s.referenced.line() as usize),
            ),
        ];
        for (what, line) in set {
            if let Some(line) = line {
                problems.0.push((line, format!("{field}.{what}: only an onboarded namespace (one with owners) gets it; add owners or remove {what}")));
            }
        }
    } else if let Some(why) = reserved_namespace(name) {
        let line = ns
            .owners
            .first()
            .map(|o| o.referenced.line() as usize)
            .unwrap_or(0);
        problems.0.push((
            line,
            format!("{field}.owners: {why}; ksec onboards only team namespaces"),
        ));
    }
    Onboarding {
        owners,
        team,
        pod_security,
        quota,
        limits,
        default_deny,
    }
}

fn check_object_name(name: &Spanned<String>, field: &str, problems: &mut Problems) {
    if !is_dns_subdomain(&name.value) {
        problems.at(
            name,
            format!("{field}: name {} is not a DNS-1123 subdomain (lower-case letters, digits, '-', '.')", name.value),
        );
    }
}

fn check_overrides<T>(
    overrides: &Map<T>,
    name: &Spanned<String>,
    field: &str,
    environments: &BTreeMap<String, Environment>,
    problems: &mut Problems,
) {
    for env in overrides.keys() {
        if !environments.contains_key(env) {
            problems.at(
                name,
                format!("{field}.overrides: unknown environment {env}"),
            );
        }
    }
}

fn object_from_config_map(
    c: schema::ConfigMap,
    ns_field: &str,
    environments: &BTreeMap<String, Environment>,
    problems: &mut Problems,
) -> ObjectSpec {
    let field = format!("{ns_field}.configMaps.{}", c.name.value);
    check_object_name(&c.name, &field, problems);
    check_overrides(&c.overrides, &c.name, &field, environments, problems);
    ObjectSpec {
        line: c.name.referenced.line() as usize,
        name: c.name.value,
        kind: None,
        env_files: c.env_files,
        files: c.files,
        literals: c.literals.into_iter().collect(),
        sources: Vec::new(),
        labels: c.labels.into_iter().collect(),
        annotations: c.annotations.into_iter().collect(),
        immutable: c.immutable,
        hash_suffix: c.hash_suffix,
        mount: c.mount.map(mount_spec),
        rollout: c.rollout,
        overrides: c
            .overrides
            .into_iter()
            .map(|(env, o)| {
                (
                    env,
                    OverrideSpec {
                        env_files: o.env_files,
                        files: o.files,
                        literals: o.literals.into_iter().collect(),
                        sources: Vec::new(),
                    },
                )
            })
            .collect(),
    }
}

fn object_from_secret(
    s: schema::Secret,
    ns_field: &str,
    environments: &BTreeMap<String, Environment>,
    problems: &mut Problems,
) -> ObjectSpec {
    let field = format!("{ns_field}.secrets.{}", s.name.value);
    check_object_name(&s.name, &field, problems);
    check_overrides(&s.overrides, &s.name, &field, environments, problems);
    ObjectSpec {
        line: s.name.referenced.line() as usize,
        name: s.name.value,
        kind: Some(s.kind.map(|k| k.value).unwrap_or_else(|| "Opaque".into())),
        env_files: Vec::new(),
        files: Vec::new(),
        literals: BTreeMap::new(),
        sources: s.sources,
        labels: s.labels.into_iter().collect(),
        annotations: s.annotations.into_iter().collect(),
        immutable: s.immutable,
        hash_suffix: s.hash_suffix,
        mount: s.mount.map(mount_spec),
        rollout: s.rollout,
        overrides: s
            .overrides
            .into_iter()
            .map(|(env, o)| {
                (
                    env,
                    OverrideSpec {
                        sources: o.sources,
                        ..OverrideSpec::default()
                    },
                )
            })
            .collect(),
    }
}

fn mount_spec(m: schema::Mount) -> MountSpec {
    MountSpec {
        workload: m.workload,
        container: m.container,
        path: m.path,
        read_only: m.read_only,
    }
}

/// Make a directory name usable as a project name.
pub fn sanitize_label(name: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    out.truncate(63);
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "ksec".into() } else { out }
}

/// `defaults.keepVersions`: at most `MAX_KEEP_VERSIONS`, else the default.
fn keep_versions(raw: Option<&Spanned<u32>>, problems: &mut Problems) -> usize {
    match raw {
        None => KEEP_VERSIONS,
        Some(n) if n.value <= MAX_KEEP_VERSIONS => n.value as usize,
        Some(n) => {
            problems.at(
                n,
                format!(
                    "defaults.keepVersions: {} is more than {MAX_KEEP_VERSIONS}; keep fewer superseded versions (0 deletes them at once)",
                    n.value
                ),
            );
            KEEP_VERSIONS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    const KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn unknown_field_is_rejected_with_its_line() {
        let text = "version: 1\nrecipients: {}\nnamespaces:\n  payments:\n    recipents: []\n";
        let err = Project::parse(Path::new("/p"), text).unwrap_err();
        assert_eq!(err.code, Code::Invalid);
        assert!(err.message.contains(":5:"), "{}", err.message);
        assert!(err.message.contains("recipents"), "{}", err.message);
    }

    #[test]
    fn every_reference_problem_is_reported_with_its_line() {
        let text = format!(
            "version: 1\nrecipients:\n  alice: {KEY}\n  bad: not-a-key\ngroups:\n  team: [alice, carol]\nnamespaces:\n  payments:\n    recipients: [team, dave]\n    environments: [nope]\n"
        );
        let err = Project::parse(Path::new("/p"), &text).unwrap_err();
        let all = err.details.join("\n");
        assert!(all.contains(":4: recipients.bad"), "{all}");
        assert!(
            all.contains(":6: groups.team: unknown recipient carol"),
            "{all}"
        );
        assert!(
            all.contains(":9: namespaces.payments.recipients: unknown recipient or group dave"),
            "{all}"
        );
        assert!(
            all.contains(":10: namespaces.payments.environments: unknown environment nope"),
            "{all}"
        );
        assert_eq!(err.details.len(), 4, "{all}");
    }

    #[test]
    fn namespace_for_takes_the_deepest_folder_holding_the_path() {
        let text = format!(
            "version: 1\nrecipients:\n  alice: {KEY}\nnamespaces:\n  a-outer:\n    path: teams/outer\n    recipients: [alice]\n  b-inner:\n    path: teams/outer/inner\n    recipients: [alice]\n  c-other:\n    path: teams/outerwear\n    recipients: [alice]\n"
        );
        let project = Project::parse(Path::new("/p"), &text).unwrap();
        let of = |p: &str| {
            project
                .namespace_for(Path::new(p))
                .map(|ns| ns.name.as_str())
        };
        assert_eq!(of("/p/teams/outer/inner/db.enc.yaml"), Some("b-inner"));
        assert_eq!(
            of("/p/teams/outer/inner/deeper/db.enc.yaml"),
            Some("b-inner")
        );
        assert_eq!(of("/p/teams/outer/db.enc.yaml"), Some("a-outer"));
        assert_eq!(of("/p/teams/outer/innerx/db.enc.yaml"), Some("a-outer"));
        assert_eq!(of("/p/teams/outerwear/db.enc.yaml"), Some("c-other"));
        assert_eq!(of("/p/teams/db.enc.yaml"), None);
        assert_eq!(of("/elsewhere/teams/outer/db.enc.yaml"), None);
        let folders = project.folders();
        assert_eq!(
            folders
                .namespace_of(Path::new("teams/outer/inner/x.env"))
                .map(|ns| ns.name.as_str()),
            Some("b-inner")
        );
    }

    #[test]
    fn namespace_recipients_include_environment_ci_keys_once() {
        let other = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";
        let text = format!(
            "version: 1\nrecipients:\n  alice: {KEY}\n  ci: {other}\ngroups:\n  team: [alice]\nenvironments:\n  prod:\n    context: prod\n    recipients: [ci]\n  staging:\n    context: staging\n    recipients: [ci]\nnamespaces:\n  payments:\n    recipients: [team, alice]\n"
        );
        let project = Project::parse(Path::new("/p"), &text).unwrap();
        let ns = &project.namespaces["payments"];
        assert_eq!(ns.path, PathBuf::from("namespaces/payments"));
        let keys: Vec<String> = project
            .namespace_recipients(ns)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(keys, vec!["alice".to_string(), "ci".to_string()]);
        assert!(
            project
                .namespace_for(Path::new("/p/namespaces/payments/db.enc.yaml"))
                .is_some()
        );
        assert!(
            project
                .namespace_for(Path::new("/p/namespaces/search/db.enc.yaml"))
                .is_none()
        );
    }
}
