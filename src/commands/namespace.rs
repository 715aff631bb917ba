//! `ksec namespace add|list|remove`: onboard a team namespace from the
//! templates, list the project's namespaces, take one out of the project.

use super::Context;
use crate::cli::{
    ListFormat, NamespaceAddArgs, NamespaceCommand, NamespaceListArgs, NamespaceRemoveArgs,
};
use crate::crypto::sops::{self, Format};
use crate::crypto::wrap::Recipient;
use crate::crypto::yaml::scalar_string;
use crate::error::{Error, Result, shown, sops_error};
use crate::fsutil;
use crate::k8s::{is_dns_label, is_quantity, reserved_namespace};
use crate::load;
use crate::project::{Project, edit, scaffold};
use std::io::IsTerminal;
use std::path::Path;

/// The starter sources `add` creates in a new namespace's folder.
const STARTER_CONFIG: &str = "app.env";
const STARTER_SECRET: &str = "secrets.enc.yaml";

/// Quota presets offered on a terminal.
const QUOTA_PRESETS: &[(&str, &str)] = &[
    ("small", "cpu=2,memory=4Gi,pods=10"),
    ("medium", "cpu=4,memory=8Gi,pods=20"),
    ("large", "cpu=8,memory=16Gi,pods=50"),
];

pub fn run(cmd: NamespaceCommand, ctx: &Context) -> Result<()> {
    match cmd {
        NamespaceCommand::Add(args) => add(args, ctx),
        NamespaceCommand::List(args) => list(args, ctx),
        NamespaceCommand::Remove(args) => remove(args, ctx),
    }
}

/// What `add` writes, once every answer is known and checked.
struct Plan {
    owners: Vec<String>,
    recipients: Vec<String>,
    quota: Vec<(String, String)>,
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// `--quota cpu=4,memory=8Gi`: each value must be a Kubernetes quantity.
pub fn parse_quota(text: &str) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(
                Error::usage(format!("--quota {part}: expected NAME=QUANTITY"))
                    .hint("for example --quota cpu=4,memory=8Gi,pods=20"),
            );
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"./-_".contains(&b))
        {
            return Err(
                Error::invalid(format!("--quota {part}: {name:?} is not a resource name"))
                    .hint("use names like cpu, memory, pods, requests.cpu, limits.memory"),
            );
        }
        if !is_quantity(value) {
            return Err(Error::invalid(format!(
                "--quota {part}: {value:?} is not a Kubernetes quantity"
            ))
            .hint("quantities look like 2, 500m, 8Gi or 1G"));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(Error::usage(format!("--quota names {name} twice")));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

fn check_name(project: &Project, name: &str) -> Result<()> {
    if !is_dns_label(name) {
        return Err(Error::invalid(format!(
            "{name:?} is not a valid namespace name: it must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"
        ))
        .hint("for example team-search"));
    }
    if let Some(why) = reserved_namespace(name) {
        return Err(Error::invalid(why).hint("choose a name for the team's own namespace"));
    }
    if project.namespaces.contains_key(name) {
        return Err(
            Error::invalid(format!("namespace {name} is already in ksec.yaml"))
                .hint("choose another name, or edit its entry in ksec.yaml"),
        );
    }
    Ok(())
}

/// Fill in what the flags left out: ask on a terminal, else a usage error.
fn plan(args: &NamespaceAddArgs, project: &Project) -> Result<Plan> {
    let mut owners = args.owner_group.clone();
    let mut recipients = args.recipient.clone();
    let mut quota = match &args.quota {
        Some(q) => parse_quota(q)?,
        None => Vec::new(),
    };
    let ask = owners.is_empty() && interactive();
    if owners.is_empty() && !ask {
        return Err(Error::usage(format!(
            "--owner-group is required to add namespace {} without a terminal",
            args.name
        ))
        .hint(
            "pass --owner-group GROUP (the group that owns the namespace) and --recipient NAME",
        ));
    }
    if ask {
        let group: String = dialoguer::Input::new()
            .with_prompt("owner group (gets the team-owners Role in the namespace)")
            .validate_with(|g: &String| {
                if g.trim().is_empty() {
                    Err("a group name is needed")
                } else {
                    Ok(())
                }
            })
            .interact_text()
            .map_err(prompt_error)?;
        owners.push(group.trim().to_string());
        if args.quota.is_none() {
            let mut items: Vec<String> = QUOTA_PRESETS
                .iter()
                .map(|(name, q)| format!("{name}: {q}"))
                .collect();
            items.push("custom".into());
            items.push("none".into());
            let choice = dialoguer::Select::new()
                .with_prompt("quota")
                .items(&items)
                .default(1)
                .interact()
                .map_err(prompt_error)?;
            if choice < QUOTA_PRESETS.len() {
                quota = parse_quota(QUOTA_PRESETS[choice].1)?;
            } else if choice == QUOTA_PRESETS.len() {
                let text: String = dialoguer::Input::new()
                    .with_prompt("quota (NAME=QUANTITY,…)")
                    .validate_with(|t: &String| parse_quota(t).map(|_| ()).map_err(|e| e.message))
                    .interact_text()
                    .map_err(prompt_error)?;
                quota = parse_quota(&text)?;
            }
        }
        if recipients.is_empty() {
            let names: Vec<String> = project
                .recipients
                .keys()
                .chain(project.groups.keys())
                .cloned()
                .collect();
            if !names.is_empty() {
                let picked = dialoguer::MultiSelect::new()
                    .with_prompt(
                        "recipients who may decrypt its secrets (space to pick, enter to finish)",
                    )
                    .items(&names)
                    .interact()
                    .map_err(prompt_error)?;
                recipients = picked.into_iter().map(|i| names[i].clone()).collect();
            }
        }
    }
    if recipients.is_empty() {
        return Err(Error::usage(format!(
            "namespace {} needs at least one recipient to encrypt its secrets to",
            args.name
        ))
        .hint("pass --recipient NAME with a recipient or group from ksec.yaml"));
    }
    for r in &recipients {
        if !project.recipients.contains_key(r) && !project.groups.contains_key(r) {
            let known: Vec<&String> = project
                .recipients
                .keys()
                .chain(project.groups.keys())
                .collect();
            return Err(Error::invalid(format!(
                "--recipient {}: no recipient or group of that name in ksec.yaml",
                shown(r)
            ))
            .hint(if known.is_empty() {
                "add the team's age key under `recipients:` in ksec.yaml first".to_string()
            } else {
                format!(
                    "known names: {}; add a new key under `recipients:` first",
                    known
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }));
        }
    }
    for env in &args.env {
        if !project.environments.contains_key(env) {
            return Err(
                Error::usage(format!("--env {}: unknown environment", shown(env))).hint(format!(
                    "environments in ksec.yaml: {}",
                    project.environment_names()
                )),
            );
        }
    }
    Ok(Plan {
        owners,
        recipients,
        quota,
    })
}

fn prompt_error(e: dialoguer::Error) -> Error {
    Error::new(
        crate::error::Code::Interrupted,
        format!("the prompt ended: {e}; nothing was written"),
    )
}

/// A flow sequence of scalars. An item that is not a plain word (a group
/// like `cn=devs,ou=groups` has commas) is double-quoted, JSON escapes
/// being valid YAML ones.
fn flow_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|i| {
            let plain = !i.is_empty()
                && i.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && scalar_string(i, 0) == *i;
            if plain {
                i.clone()
            } else {
                serde_json::Value::String(i.clone()).to_string()
            }
        })
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// The namespace's entry for ksec.yaml, as block YAML at column 0.
fn entry(args: &NamespaceAddArgs, plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str(&format!("recipients: {}\n", flow_list(&plan.recipients)));
    out.push_str(&format!("owners: {}\n", flow_list(&plan.owners)));
    if !args.env.is_empty() {
        out.push_str(&format!("environments: {}\n", flow_list(&args.env)));
    }
    if !plan.quota.is_empty() {
        out.push_str("quota:\n");
        for (name, value) in &plan.quota {
            // quoted, so `4` stays the string Kubernetes expects
            out.push_str(&format!("  {}: \"{value}\"\n", scalar_string(name, 2)));
        }
    }
    if let Some(level) = &args.pod_security {
        out.push_str(&format!("podSecurity: {level}\n"));
    }
    if args.default_deny {
        out.push_str("networkPolicy: default-deny\n");
    }
    out.push_str(&format!(
        "configMaps:\n  - name: app-config\n    envFiles: [{STARTER_CONFIG}]\nsecrets:\n  - name: app-secrets\n    sources: [{STARTER_SECRET}]\n"
    ));
    out
}

fn add(args: NamespaceAddArgs, ctx: &Context) -> Result<()> {
    let (_lock, project) = Project::discover_locked(ctx.project_flag.as_deref())?;
    check_name(&project, &args.name)?;
    // broken template overrides are reported before anything is written
    load::templates(&project)?;
    let plan = plan(&args, &project)?;
    let file = project.file();
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, &e))?;
    let new_text = edit::add_namespace(&text, &args.name, &entry(&args, &plan)).map_err(|e| {
        Error::invalid(format!(
            "cannot add namespace {} to {}: {e}",
            args.name,
            file.display()
        ))
        .hint("add it by hand; the README documents the namespace fields")
    })?;
    let updated = Project::parse(&project.root, &new_text)?;
    let ns = &updated.namespaces[&args.name];
    let keys = updated.namespace_recipients(ns);
    let mut recipients = Vec::new();
    for (name, key) in &keys {
        let r = Recipient::parse(key)
            .map_err(|why| Error::invalid(format!("recipient {name}: {why}")))?;
        recipients.push((key.clone(), r));
    }

    let dir = project.root.join(&ns.path);
    let config = dir.join(STARTER_CONFIG);
    let secret = dir.join(STARTER_SECRET);
    for path in [&config, &secret] {
        if path.exists() {
            return Err(Error::invalid(format!(
                "{} exists already; nothing was written",
                path.display()
            ))
            .hint("move the old sources away (`ksec namespace remove --delete-sources` deletes them), or add the namespace to ksec.yaml by hand"));
        }
    }
    let plain = format!(
        "# Plain configuration of namespace {name}, committed as it is (KEY=value lines).\n# ksec renders it into ConfigMap app-config.\nLOG_LEVEL=info\n",
        name = args.name
    );
    let starter = sops::parse_plain("example: replace-me\n", Format::Yaml)
        .and_then(|tree| sops::encrypt_new(tree, Format::Yaml, &recipients))
        .and_then(|f| f.emit())
        .map_err(|e| sops_error(&secret, e))?;

    // Sources first, ksec.yaml last: a failure leaves ksec.yaml untouched
    // and removes what this run created.
    let created_dir = !dir.exists();
    let undo = |e: Error| {
        let _ = std::fs::remove_file(&config);
        let _ = std::fs::remove_file(&secret);
        if created_dir {
            let _ = std::fs::remove_dir_all(&dir);
        }
        e
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, &e))?;
    fsutil::write_new(&config, plain.as_bytes(), 0o644).map_err(undo)?;
    fsutil::write_new(&secret, starter.as_bytes(), 0o644).map_err(undo)?;
    fsutil::write_atomic(&file, new_text.as_bytes(), 0o644).map_err(undo)?;
    let sops_file = project.root.join(".sops.yaml");
    fsutil::write_atomic(&sops_file, scaffold::sops_yaml(&updated).as_bytes(), 0o644)?;

    let rel = |p: &Path| {
        p.strip_prefix(&project.root)
            .unwrap_or(p)
            .display()
            .to_string()
    };
    eprintln!(
        "added namespace {} to ksec.yaml: owners {}, recipients {}{}",
        args.name,
        plan.owners.join(", "),
        keys.iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        if plan.quota.is_empty() {
            String::new()
        } else {
            format!(
                ", quota {}",
                plan.quota
                    .iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
    );
    eprintln!(
        "created {} and {} (encrypted to {} recipient{})",
        rel(&config),
        rel(&secret),
        keys.len(),
        if keys.len() == 1 { "" } else { "s" }
    );
    eprintln!("next: {}", next_steps(&updated, &args.name, &rel(&secret)));
    Ok(())
}

/// What to run after `add`, as commands that work as written: `--env`
/// is named when the project has several environments, since `render`
/// and `apply` need it then.
fn next_steps(project: &Project, name: &str, secret: &str) -> String {
    let env = match project.namespaces.get(name) {
        Some(ns) if project.environments.len() > 1 => ns
            .environments
            .first()
            .map(|e| format!(" --env {e}"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    format!(
        "`ksec edit {secret}`, review with `ksec render{env} -n {name}`, then `ksec apply{env} -n {name}`"
    )
}

fn list(args: NamespaceListArgs, ctx: &Context) -> Result<()> {
    let project = Project::discover(ctx.project_flag.as_deref())?;
    match args.output {
        ListFormat::Name => {
            let names: String = project
                .namespaces
                .keys()
                .map(|name| format!("namespace/{name}\n"))
                .collect();
            super::write_stdout(names.as_bytes())
        }
        ListFormat::Json | ListFormat::Yaml => {
            let items: Vec<serde_json::Value> = project
                .namespaces
                .values()
                .map(|ns| {
                    serde_json::json!({
                        "name": ns.name,
                        "environments": ns.environments,
                        "owners": ns.owners,
                        "recipients": project.namespace_recipients(ns).into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
                        "onboarded": ns.onboarded(),
                        "quota": ns.quota,
                        "configMaps": ns.config_maps.len(),
                        "secrets": ns.secrets.len(),
                    })
                })
                .collect();
            super::print_data(
                super::data_format(args.output),
                &serde_json::Value::Array(items),
                true,
            )
        }
        ListFormat::Text => {
            let mut rows = vec![
                [
                    "NAMESPACE",
                    "ENVIRONMENTS",
                    "OWNERS",
                    "RECIPIENTS",
                    "CONFIGMAPS",
                    "SECRETS",
                ]
                .map(String::from),
            ];
            for ns in project.namespaces.values() {
                let dash = |v: Vec<String>| {
                    if v.is_empty() {
                        "-".to_string()
                    } else {
                        v.join(",")
                    }
                };
                rows.push([
                    ns.name.clone(),
                    dash(ns.environments.clone()),
                    dash(ns.owners.clone()),
                    dash(
                        project
                            .namespace_recipients(ns)
                            .into_iter()
                            .map(|(n, _)| n)
                            .collect(),
                    ),
                    ns.config_maps.len().to_string(),
                    ns.secrets.len().to_string(),
                ]);
            }
            super::write_stdout(super::table(&rows).as_bytes())
        }
    }
}

fn remove(args: NamespaceRemoveArgs, ctx: &Context) -> Result<()> {
    let (_lock, project) = Project::discover_locked(ctx.project_flag.as_deref())?;
    let Some(ns) = project.namespaces.get(&args.name) else {
        return Err(Error::not_found(format!(
            "namespace {} is not in ksec.yaml",
            shown(&args.name)
        ))
        .hint(format!(
            "namespaces in ksec.yaml: {}",
            project.namespace_names()
        )));
    };
    let file = project.file();
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, &e))?;
    let new_text = edit::remove_namespace(&text, &args.name).map_err(|e| {
        Error::invalid(format!(
            "cannot remove namespace {} from {}: {e}",
            args.name,
            file.display()
        ))
        .hint("remove its entry by hand")
    })?;
    let updated = Project::parse(&project.root, &new_text)?;
    let dir = project.root.join(&ns.path);
    let shared = updated
        .namespaces
        .values()
        .any(|other| other.path.starts_with(&ns.path) || ns.path.starts_with(&other.path));
    if args.delete_sources && shared {
        return Err(Error::invalid(format!(
            "{} holds another namespace's sources too; nothing was changed",
            dir.display()
        ))
        .hint("run without --delete-sources and remove the files by hand"));
    }
    fsutil::write_atomic(&file, new_text.as_bytes(), 0o644)?;
    let sops_file = project.root.join(".sops.yaml");
    fsutil::write_atomic(&sops_file, scaffold::sops_yaml(&updated).as_bytes(), 0o644)?;
    eprintln!("removed namespace {} from ksec.yaml", args.name);
    if args.delete_sources && dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("delete", &dir, &e))?;
        eprintln!("deleted its sources in {}", ns.path.display());
    } else if dir.exists() {
        eprintln!(
            "its sources stay in {} (--delete-sources removes them)",
            ns.path.display()
        );
    }
    if ns.onboarded() {
        eprintln!(
            "the namespace stays in the cluster until `ksec apply --prune`, which asks you to confirm its name first"
        );
    }
    Ok(())
}
