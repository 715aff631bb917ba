//! The project: `ksec.yaml`, found by walking up from the working directory
//! (or given by `--project`), parsed with its private schema and validated
//! once into this model. Every schema problem is reported together, each
//! with its line.

pub mod adopt;
pub mod edit;
mod rule;
pub mod scaffold;
mod schema;
mod validate;

pub use rule::Rule;

use crate::crypto::wrap::Recipient;
use crate::error::{Error, Result, shown};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use validate::{parse_raw, validate_all};

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
    /// GitOps: onboarded namespaces' Secrets go to their own cluster key.
    pub team_keys: bool,
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
    /// Environment -> recipient name of the namespace's own cluster key.
    pub cluster_keys: BTreeMap<String, String>,
    /// `rotateAfter`: the age past which a value of its files is overdue.
    pub rotate_after: Option<Rotation>,
}

/// A `rotateAfter` of ksec.yaml: the age past which a value is overdue,
/// as written and as a length of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// As written (`90d`).
    pub text: String,
    pub after: std::time::Duration,
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
    /// Secrets: `rotateAfter` of every value of its sources.
    pub rotate_after: Option<Rotation>,
    /// Secrets: `keys.KEY.rotateAfter`, by key path.
    pub key_rotation: BTreeMap<String, Rotation>,
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
        if let Some(project) = validate::parse_valid(root, text) {
            return Ok(project);
        }
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
        if let Some(project) = validate::parse_valid(root, text) {
            return Ok(project);
        }
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
        self.named_keys(names)
    }

    /// The (name, key) of recipient names, without repeating a key.
    pub fn named_keys<'a>(
        &self,
        names: impl IntoIterator<Item = &'a String>,
    ) -> Vec<(String, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    const KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn cluster_keys_name_known_environments_and_recipients() {
        let text = format!(
            "version: 1\nrecipients:\n  k: {KEY}\nenvironments:\n  prod:\n    context: c\n    teamKeys: true\nnamespaces:\n  payments:\n    clusterKeys:\n      prod: k\n  search:\n    clusterKeys:\n      dev: k\n      prod: nobody\n"
        );
        let err = Project::parse(Path::new("/p"), &text).unwrap_err();
        let all = format!("{} {:?}", err.message, err.details);
        assert!(
            all.contains("namespaces.search.clusterKeys: unknown environment dev"),
            "{all}"
        );
        assert!(
            all.contains("namespaces.search.clusterKeys.prod: unknown recipient nobody"),
            "{all}"
        );
        let ok = text.replace("      dev: k\n      prod: nobody\n", "      prod: k\n");
        let project = Project::parse(Path::new("/p"), &ok).unwrap();
        assert!(project.environments["prod"].team_keys);
        assert_eq!(project.namespaces["payments"].cluster_keys["prod"], "k");
    }

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
