//! From the text of ksec.yaml to the validated model: parse with the private
//! schema, then check every field, collecting every problem with its line
//! (serde alone stops at the first).

use super::schema::{self, Map};
use super::{
    Allow, Defaults, Environment, KEEP_VERSIONS, Limits, MAX_KEEP_VERSIONS, MountSpec, Namespace,
    ObjectSpec, OverrideSpec, Problem, Project, Recipient, Rotation, Rule, sanitize_label,
};
use crate::error::{escape_controls, shown};
use crate::k8s::{
    POD_SECURITY_LEVELS, is_dns_label, is_dns_subdomain, is_label_value, is_quantity,
    reserved_namespace,
};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A valid ksec.yaml's project, from one parse; `None` when the file has
/// any problem. The common case is a valid file: the second parse that
/// finds every unknown field and the line of each name (`parse_raw`) is
/// only needed to report problems.
pub(super) fn parse_valid(root: &Path, text: &str) -> Option<Project> {
    let raw = serde_saphyr::from_str_with_options(text, yaml_options()).ok()?;
    validate_all(root, raw, &schema::KeyLines::default()).ok()
}

/// Read ksec.yaml into its schema. Unknown fields are all reported, each
/// with its line (serde alone stops at the first); parser errors are put in
/// ksec's words.
pub(super) fn parse_raw(
    text: &str,
) -> std::result::Result<(schema::File, schema::KeyLines), Vec<Problem>> {
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

pub(super) fn validate_all(
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
                team_keys: env.team_keys,
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
            && !crate::fsutil::stays_inside(&path.value)
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
        let mut cluster_keys = BTreeMap::new();
        for (env, name) in &ns.cluster_keys {
            if !environments.contains_key(env) {
                problems.at(
                    name,
                    format!("{field}.clusterKeys: unknown environment {}", shown(env)),
                );
            } else if !recipients.contains_key(&name.value) {
                problems.at(
                    name,
                    format!(
                        "{field}.clusterKeys.{env}: unknown recipient {} (define the cluster key under recipients)",
                        shown(&name.value)
                    ),
                );
            } else {
                cluster_keys.insert(env.clone(), name.value.clone());
            }
        }
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
                cluster_keys,
                rotate_after: rotation(
                    ns.rotate_after.as_ref(),
                    &format!("{field}.rotateAfter"),
                    problems,
                ),
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
    if !crate::fsutil::stays_inside(path) {
        problems.at(
            &a.path,
            format!(
                "check.allow.path: {path:?} must be a path inside the project (relative, no '..')"
            ),
        );
    }
    match Rule::from_id(&a.rule.value) {
        Some(Rule::KsecYaml) => problems.at(
            &a.rule,
            "check.allow.rule: ksec-yaml cannot be allowed; fix ksec.yaml instead".into(),
        ),
        Some(_) => {}
        None => problems.at(
            &a.rule,
            format!(
                "check.allow.rule: {} is not a rule of ksec check (one of {})",
                a.rule.value,
                Rule::allowable_ids().join(", ")
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
        rotate_after: None,
        key_rotation: BTreeMap::new(),
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
    let rotate_after = rotation(
        s.rotate_after.as_ref(),
        &format!("{field}.rotateAfter"),
        problems,
    );
    let key_rotation = s
        .keys
        .iter()
        .filter_map(|(key, settings)| {
            let field = format!("{field}.keys.{}.rotateAfter", shown(key));
            rotation(settings.rotate_after.as_ref(), &field, problems).map(|r| (key.clone(), r))
        })
        .collect();
    ObjectSpec {
        rotate_after,
        key_rotation,
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

/// A `rotateAfter` (`90d`, `12w`), else a problem at its line.
fn rotation(
    raw: Option<&Spanned<String>>,
    field: &str,
    problems: &mut Problems,
) -> Option<Rotation> {
    let raw = raw?;
    match crate::clock::parse_duration(&raw.value) {
        Ok(after) => Some(Rotation {
            text: raw.value.trim().to_string(),
            after,
        }),
        Err(why) => {
            problems.at(raw, format!("{field}: {why}"));
            None
        }
    }
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
