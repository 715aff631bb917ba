//! `ksec render --gitops DIR`: the tree a GitOps engine (Flux) applies, for
//! one environment. Per namespace a kustomize folder with its ConfigMaps in
//! plain YAML and each Secret as a SOPS-encrypted `v1` Secret manifest
//! (only `data`/`stringData` encrypted), the onboarding objects in a folder
//! of their own, and the Flux `Kustomization` objects that point at them.
//!
//! The layout (`plan`) is pure. Sealing a Secret (`seal`) reuses the
//! previous file's data key and IVs when one of the user's identities opens
//! it, so unchanged plaintext gives unchanged bytes. Writing (`write`) is
//! the one place that touches files: it writes only what changed.

pub mod bootstrap;
mod write;

pub use write::{EnvLock, INDEX, Written, fingerprint, lock, unchanged, write};

use crate::crypto::sops::{self, EncryptedFile, Format, SopsError};
use crate::crypto::tree::Value;
use crate::crypto::wrap::{Identity, Recipient};
use crate::error::{Error, Result};
use crate::k8s::{Manifest, NAME_ANNOTATION};
use crate::project::{Namespace, Project};
use crate::render::emit;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which keys of an encrypted Secret manifest hold encrypted values (sops's
/// `encrypted_regex`): everything else stays readable.
pub const ENCRYPTED_REGEX: &str = "^(data|stringData)$";
/// The Flux source the Kustomizations read (`flux bootstrap` creates it).
pub const DEFAULT_SOURCE: &str = "flux-system";
/// The namespace of the Flux controllers and of the platform's objects.
pub const FLUX_NAMESPACE: &str = "flux-system";
/// The Secret, in each namespace, holding the cluster's age key
/// (`<anything>.agekey` entries) that Flux decrypts with.
pub const DECRYPTION_SECRET: &str = "sops-age";
/// The ServiceAccount onboarding creates in a team namespace.
pub const TEAM_SERVICE_ACCOUNT: &str = "ksec-ci";
/// How often Flux reconciles.
pub const INTERVAL: &str = "10m";
/// The folder of the Flux objects of an environment.
pub const FLUX_FOLDER: &str = "flux";

/// What the tree is built from, besides the rendered manifests.
pub struct Options<'a> {
    pub environment: &'a str,
    /// The Flux source (GitRepository) name.
    pub source: &'a str,
}

/// One file of the tree, relative to DIR.
pub struct Planned {
    pub path: PathBuf,
    pub content: Content,
}

pub enum Content {
    /// Plain YAML, written as it is.
    Plain(String),
    /// A Secret manifest's plaintext, to be sealed for these recipients.
    Secret {
        plain: Value,
        recipients: Vec<(String, String)>,
    },
}

/// A file name for an object: `kind-name.yaml`, lower case, `:` as `-`.
fn file_name(kind: &str, name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| if c == ':' || c == '/' { '-' } else { c })
        .collect();
    format!("{}-{name}.yaml", kind.to_ascii_lowercase())
}

/// The base name of a rendered object: its name without the hash suffix
/// (so a changed value keeps its file).
fn base_name(m: &Manifest) -> &str {
    m.body["metadata"]["annotations"][NAME_ANNOTATION]
        .as_str()
        .unwrap_or(&m.name)
}

fn kustomization(resources: &[String]) -> String {
    emit::document(&json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }))
}

/// Who a namespace's Secrets are encrypted to in the environment, as
/// (name, key): the cluster (the environment's recipients, or with
/// `teamKeys` an onboarded namespace's own cluster key) and the namespace's
/// own recipients (so the team can read, and ksec re-open, its own output).
pub fn secret_recipients(
    project: &Project,
    ns: &Namespace,
    environment: &str,
) -> Result<Vec<(String, String)>> {
    let env = &project.environments[environment];
    let mut names: Vec<&String> = Vec::new();
    if let Some(key) = team_key(project, ns, environment)? {
        names.push(key);
    } else if env.recipients.is_empty() {
        return Err(Error::usage(format!(
            "environment {environment} has no recipients: the cluster could not decrypt the Secrets of namespace {}",
            ns.name
        ))
        .hint(format!(
            "add the cluster's age key to environments.{environment}.recipients in ksec.yaml (its private key goes into the cluster's {DECRYPTION_SECRET} Secret)"
        )));
    } else {
        names.extend(env.recipients.iter());
    }
    names.extend(ns.recipients.iter());
    Ok(project.named_keys(names))
}

/// The recipient name of a namespace's own cluster key, when the
/// environment has `teamKeys` and the namespace is onboarded.
fn team_key<'a>(
    project: &Project,
    ns: &'a Namespace,
    environment: &str,
) -> Result<Option<&'a String>> {
    if !(project.environments[environment].team_keys && ns.onboarded()) {
        return Ok(None);
    }
    match ns.cluster_keys.get(environment) {
        Some(name) => Ok(Some(name)),
        None => Err(Error::usage(format!(
            "namespace {} has no cluster key for environment {environment}, which has teamKeys",
            ns.name
        ))
        .hint(format!(
            "generate one (`ksec keygen --out FILE`), name it under recipients and set namespaces.{}.clusterKeys.{environment} to that name in ksec.yaml",
            ns.name
        ))),
    }
}

/// The Secret holding the key a namespace's Kustomization decrypts with:
/// `sops-age`, or `sops-age-<namespace>` for a namespace's own key.
pub fn decryption_secret(project: &Project, ns: &Namespace, environment: &str) -> String {
    match team_key(project, ns, environment) {
        Ok(Some(_)) => format!("{DECRYPTION_SECRET}-{}", ns.name),
        _ => DECRYPTION_SECRET.to_string(),
    }
}

/// The tree for one environment, paths under `<env>/`. Pure.
pub fn plan(project: &Project, options: &Options, manifests: &[Manifest]) -> Result<Vec<Planned>> {
    let env = options.environment;
    let mut by_ns: BTreeMap<&str, Vec<&Manifest>> = BTreeMap::new();
    for m in manifests {
        by_ns.entry(&m.namespace).or_default().push(m);
    }
    let mut out = Vec::new();
    let mut flux_files = Vec::new();
    for (ns_name, items) in by_ns {
        let Some(ns) = project.namespaces.get(ns_name) else {
            continue;
        };
        let folder = PathBuf::from(env).join(ns_name);
        let mut team = Vec::new();
        let mut onboarding = Vec::new();
        let mut patches = Vec::new();
        for m in items {
            let text = emit::document(&m.body);
            if m.kind == "Secret" {
                let name = file_name(&m.kind, base_name(m));
                let plain = sops::parse_plain(&text, Format::Yaml)
                    .expect("a rendered manifest is valid YAML");
                out.push(Planned {
                    path: folder.join(&name),
                    content: Content::Secret {
                        plain,
                        recipients: secret_recipients(project, ns, env)?,
                    },
                });
                team.push(name);
            } else if m.kind == "ConfigMap" {
                let name = file_name(&m.kind, base_name(m));
                out.push(Planned {
                    path: folder.join(&name),
                    content: Content::Plain(text),
                });
                team.push(name);
            } else if crate::k8s::is_onboarding_kind(&m.kind) {
                let name = file_name(&m.kind, &m.name);
                out.push(Planned {
                    path: folder.join("onboarding").join(&name),
                    content: Content::Plain(text),
                });
                onboarding.push(name);
            } else {
                // workload wiring: a partial object, a patch for whatever
                // owns the workload, so not a resource of its own
                patches.push(Planned {
                    path: folder.join("patches").join(file_name(&m.kind, &m.name)),
                    content: Content::Plain(text),
                });
            }
        }
        out.extend(patches);
        team.sort();
        onboarding.sort();
        out.push(Planned {
            path: folder.join("kustomization.yaml"),
            content: Content::Plain(kustomization(&team)),
        });
        let onboarded = !onboarding.is_empty();
        if onboarded {
            out.push(Planned {
                path: folder.join("onboarding").join("kustomization.yaml"),
                content: Content::Plain(kustomization(&onboarding)),
            });
        }
        let name = format!("{ns_name}.yaml");
        out.push(Planned {
            path: PathBuf::from(env).join(FLUX_FOLDER).join(&name),
            content: Content::Plain(flux_objects(
                options,
                ns_name,
                onboarded,
                &decryption_secret(project, ns, env),
            )),
        });
        flux_files.push(name);
    }
    flux_files.sort();
    out.push(Planned {
        path: PathBuf::from(env)
            .join(FLUX_FOLDER)
            .join("kustomization.yaml"),
        content: Content::Plain(kustomization(&flux_files)),
    });
    Ok(out)
}

/// The Flux Kustomizations of one namespace. An onboarded namespace gets
/// two: the platform's (its onboarding objects, in `flux-system`, applied
/// with the controller's own rights) and the team's (its ConfigMaps and
/// Secrets, in the namespace itself, impersonating the team's
/// ServiceAccount, decrypting with the namespace's own key Secret).
fn flux_objects(options: &Options, ns: &str, onboarded: bool, secret: &str) -> String {
    let env = options.environment;
    let source =
        json!({"kind": "GitRepository", "name": options.source, "namespace": FLUX_NAMESPACE});
    let mut docs = Vec::new();
    let mut spec = serde_json::Map::new();
    spec.insert(
        "decryption".into(),
        json!({"provider": "sops", "secretRef": {"name": secret}}),
    );
    spec.insert("interval".into(), json!(INTERVAL));
    spec.insert("path".into(), json!(format!("./{env}/{ns}")));
    spec.insert("prune".into(), json!(true));
    if onboarded {
        spec.insert("serviceAccountName".into(), json!(TEAM_SERVICE_ACCOUNT));
    }
    spec.insert("sourceRef".into(), source.clone());
    spec.insert("targetNamespace".into(), json!(ns));
    let team = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": format!("ksec-{ns}"), "namespace": ns},
        "spec": spec,
    });
    if onboarded {
        docs.push(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": format!("ksec-{ns}-onboarding"), "namespace": FLUX_NAMESPACE},
            "spec": {
                "interval": INTERVAL,
                "path": format!("./{env}/{ns}/onboarding"),
                "prune": true,
                "sourceRef": source,
            },
        }));
    }
    docs.push(team);
    emit::documents(&docs)
}

/// What sealing a Secret did.
pub enum Sealed {
    /// The previous file holds exactly this plaintext for these recipients.
    Unchanged,
    /// New text; `reused` when the previous file's data key (and the IVs of
    /// its unchanged values) were kept.
    Changed { text: String, reused: bool },
}

/// Encrypt a Secret manifest, keeping the previous file's bytes when its
/// plaintext and recipients are unchanged, and the ciphertext of every
/// unchanged value when not; a recipient added gets the data key wrapped
/// for it (values kept). A previous file none of `identities` opens, that
/// is damaged, or that has a recipient no longer wanted is replaced by new
/// ciphertext under a new data key.
pub fn seal(
    plain: Value,
    recipients: &[(String, String)],
    previous: Option<&str>,
    identities: &[Identity],
) -> Result<Sealed, SopsError> {
    let mut wanted: Vec<&str> = recipients.iter().map(|(_, k)| k.as_str()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if let Some(text) = previous
        && let Ok(file) = EncryptedFile::parse(text, Format::Yaml)
        && let had = file.recipients()
        // a recipient removed must not read the new values: a new data key
        && had.iter().all(|r| wanted.contains(&r.as_str()))
        && let Ok(mut opened) = file.open(identities)
    {
        let added: Vec<&(String, String)> = recipients
            .iter()
            .filter(|(_, k)| !had.contains(k))
            .collect();
        let grew = !added.is_empty();
        if grew {
            let parsed = parse_recipients(added.into_iter())?;
            let to: Vec<(String, &Recipient)> =
                parsed.iter().map(|(k, r)| (k.clone(), r)).collect();
            let key = opened.cipher.key().clone();
            opened.file.add_recipients(&key, &to)?;
        }
        let before = sops::emit_plain(&opened.plain, Format::Yaml)?;
        let after = sops::emit_plain(&plain, Format::Yaml)?;
        let text = if before != after {
            opened.plain = plain;
            opened.seal()?.emit()?
        } else if grew {
            // recipients added, values as they were (MAC and lastmodified too)
            opened.file.emit()?
        } else {
            return Ok(Sealed::Unchanged);
        };
        return Ok(Sealed::Changed { text, reused: true });
    }
    let parsed = parse_recipients(recipients.iter())?;
    let file = sops::encrypt_new_matching(plain, Format::Yaml, &parsed, ENCRYPTED_REGEX)?;
    Ok(Sealed::Changed {
        text: file.emit()?,
        reused: false,
    })
}

fn parse_recipients<'a>(
    recipients: impl Iterator<Item = &'a (String, String)>,
) -> Result<Vec<(String, Recipient)>, SopsError> {
    recipients
        .map(|(name, key)| {
            Recipient::parse(key)
                .map(|r| (key.clone(), r))
                .map_err(|why| SopsError::Emit(format!("recipient {name}: {why}")))
        })
        .collect()
}

#[cfg(test)]
mod tests;
