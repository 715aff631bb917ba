//! `ksec gitops bootstrap --env E`: what the cluster of an environment needs
//! to decrypt what `render --gitops` writes. Per namespace of E, the Secret
//! its Flux Kustomization decrypts with (`sops-age`, or `sops-age-NS` with a
//! team key), holding the private key in the data entry `<E>.agekey` and
//! naming its public key in the annotation [`RECIPIENT_ANNOTATION`], so a
//! re-run tells a matching Secret by its metadata.
//!
//! Pure: [`plan`] says which key each namespace needs (recorded in ksec.yaml,
//! or to generate), [`resolve`] decides, from the live Secrets and the keys
//! at hand, what to write and what to record. A recorded key whose private
//! half is nowhere is an error, never replaced. A key not recorded yet that
//! a live Secret of ksec's already holds (a run killed after its cluster
//! writes, before ksec.yaml's) is adopted and recorded, never generated
//! again; a Secret ksec did not write is never adopted. Private keys stay in
//! `Zeroizing` strings and in the Secret manifests (whose `Debug` is
//! redacted); they are never in a message.

use super::{DECRYPTION_SECRET, team_key};
use crate::error::{Code, Error, Result};
use crate::k8s::Manifest;
use crate::project::Project;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::str::FromStr;
use zeroize::Zeroizing;

/// The annotation of a decryption Secret naming the public key (`age1…`) of
/// the private key it holds.
pub const RECIPIENT_ANNOTATION: &str = "ksec.dev/recipient";

/// Which key a namespace's Secret must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    /// Recorded in ksec.yaml: any of these (name, public key).
    Recorded(Vec<(String, String)>),
    /// Nothing recorded: generate one, record it under this name.
    New(String),
}

/// Whose key a namespace uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The environment's (shared by every namespace without a team key).
    Environment,
    /// The namespace's own (`teamKeys`, onboarded).
    Team(KeySpec),
}

/// One decryption Secret to have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub namespace: String,
    pub secret: String,
    pub owner: Owner,
}

/// The decryption Secrets of an environment.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub environment: String,
    /// The environment's key, when a namespace uses it.
    pub env_key: Option<KeySpec>,
    pub slots: Vec<Slot>,
}

impl Plan {
    /// The data entry holding the private key: `<env>.agekey`.
    pub fn entry(&self) -> String {
        format!("{}.agekey", self.environment)
    }
}

/// The age recipients among `names`, as (name, key).
fn age_keys(project: &Project, names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|n| project.recipients.get(n).map(|k| (n.clone(), k.clone())))
        .filter(|(_, k)| k.starts_with("age1"))
        .collect()
}

/// A name for a new recipient that ksec.yaml does not use yet.
fn new_name(project: &Project, name: String) -> Result<String> {
    if project.recipients.contains_key(&name) {
        return Err(Error::usage(format!(
            "ksec.yaml already has a recipient named {name}, which bootstrap would give the new cluster key"
        ))
        .hint(format!(
            "if {name} is the cluster's key, name it in ksec.yaml (environments.ENV.recipients or namespaces.NS.clusterKeys.ENV); else rename it"
        )));
    }
    Ok(name)
}

/// Which Secret each namespace of `environment` needs, and which key.
pub fn plan(project: &Project, environment: &str) -> Result<Plan> {
    let Some(env) = project.environments.get(environment) else {
        return Err(
            Error::usage(format!("ksec.yaml has no environment {environment}")).hint(format!(
                "environments in ksec.yaml: {}",
                project.environment_names()
            )),
        );
    };
    let mut slots = Vec::new();
    let mut env_used = false;
    for ns in project.namespaces.values() {
        if !ns.environments.iter().any(|e| e == environment) {
            continue;
        }
        let owner = if env.team_keys && ns.onboarded() {
            match team_key(project, ns, environment) {
                Ok(Some(name)) => Owner::Team(KeySpec::Recorded(age_keys(
                    project,
                    std::slice::from_ref(name),
                ))),
                _ => Owner::Team(KeySpec::New(new_name(
                    project,
                    format!("{}-{environment}", ns.name),
                )?)),
            }
        } else {
            env_used = true;
            Owner::Environment
        };
        let secret = match owner {
            Owner::Team(_) => format!("{DECRYPTION_SECRET}-{}", ns.name),
            Owner::Environment => DECRYPTION_SECRET.to_string(),
        };
        slots.push(Slot {
            namespace: ns.name.clone(),
            secret,
            owner,
        });
    }
    if slots.is_empty() {
        return Err(Error::usage(format!(
            "environment {environment} has no namespaces, so there is nothing to bootstrap"
        ))
        .hint("add namespaces to ksec.yaml (`ksec namespace add NAME`)"));
    }
    let env_key = if !env_used {
        None
    } else if env.recipients.is_empty() {
        Some(KeySpec::New(new_name(
            project,
            format!("{environment}-cluster"),
        )?))
    } else {
        let keys = age_keys(project, &env.recipients);
        if keys.is_empty() {
            return Err(Error::usage(format!(
                "environment {environment} has no age recipient: Flux decrypts with age keys only"
            ))
            .hint(format!(
                "add an age key (`ksec keygen`) to environments.{environment}.recipients"
            )));
        }
        Some(KeySpec::Recorded(keys))
    };
    Ok(Plan {
        environment: environment.to_string(),
        env_key,
        slots,
    })
}

/// A private age key and its public half.
pub struct Held {
    pub public: String,
    pub private: Zeroizing<String>,
}

/// Parse the `AGE-SECRET-KEY-…` lines of a key file (comments skipped).
/// The error names the line, never its content.
pub fn parse_identities(text: &str, file: &str) -> Result<Vec<Held>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(held) = held(line) else {
            return Err(Error::usage(format!(
                "{file}: line {} is not an age identity (AGE-SECRET-KEY-…)",
                i + 1
            ))
            .hint("give a file written by `ksec keygen --out` or `age-keygen`"));
        };
        out.push(held);
    }
    Ok(out)
}

fn held(text: &str) -> Option<Held> {
    use secrecy::ExposeSecret;
    let identity = age::x25519::Identity::from_str(text.trim()).ok()?;
    Some(Held {
        public: identity.to_public().to_string(),
        private: Zeroizing::new(identity.to_string().expose_secret().to_string()),
    })
}

/// A new identity.
fn generate() -> Held {
    use secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    Held {
        public: identity.to_public().to_string(),
        private: Zeroizing::new(identity.to_string().expose_secret().to_string()),
    }
}

/// What happens to one namespace's Secret.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// It holds the right key already (its annotation says so).
    Unchanged,
    /// Missing: created.
    Create,
    /// It holds the right key without the annotation: the annotation is added.
    Annotate,
}

/// One namespace's outcome.
pub struct Step {
    pub slot: Slot,
    /// The recipient name of the key it holds.
    pub recipient: String,
    pub action: Action,
    /// The Secret to apply (`None` when unchanged).
    pub manifest: Option<Manifest>,
}

/// A recipient to record in ksec.yaml.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub public: String,
    /// `None`: into `environments.ENV.recipients`; else the namespace whose
    /// `clusterKeys.ENV` names it.
    pub namespace: Option<String>,
    /// The live Secret (`NS/Secret/NAME`) whose key is adopted, when one
    /// already held it (a bootstrap interrupted after its cluster writes);
    /// `None`: generated by this run.
    pub adopted_from: Option<String>,
}

/// What to do: the Secrets (in namespace order) and what to record.
pub struct Resolved {
    pub steps: Vec<Step>,
    pub records: Vec<Record>,
}

/// The private key a live Secret holds in `entry` (the first identity of
/// an identity file), if it parses.
fn live_key(secret: &Value, entry: &str) -> Option<Held> {
    let data = secret["data"][entry].as_str()?;
    let bytes = Zeroizing::new(B64.decode(data).ok()?);
    let text = Zeroizing::new(String::from_utf8(bytes.to_vec()).ok()?);
    // an identity file as age-keygen writes it: comments, then the key
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(held)
}

fn annotation(secret: &Value) -> Option<&str> {
    secret["metadata"]["annotations"][RECIPIENT_ANNOTATION].as_str()
}

/// Why a live Secret holding an unexpected key is not ksec's (and so never
/// adopted), as the end of a sentence; empty when ksec wrote it.
fn not_ksecs(secret: &Value, entry: &str) -> String {
    match (annotation(secret), live_key(secret, entry)) {
        (None, _) => format!(
            "; it has no {RECIPIENT_ANNOTATION} annotation, so ksec did not write it and does not adopt its key"
        ),
        (Some(public), Some(key)) if key.public == public => String::new(),
        (Some(_), _) => format!(
            "; its {RECIPIENT_ANNOTATION} annotation does not name the key it holds, so ksec does not adopt it"
        ),
    }
}

/// The first of `slots` whose live Secret ksec wrote: its annotation names
/// the public key of the private key in `entry`. Its id and public key.
/// A Secret without the annotation, or whose key does not match it, is
/// not ksec's and never adopted.
fn adoptable<'a>(
    slots: impl IntoIterator<Item = &'a Slot>,
    live: &BTreeMap<String, Value>,
    entry: &str,
) -> Option<(String, String)> {
    slots.into_iter().find_map(|slot| {
        let secret = live.get(&slot.namespace)?;
        let public = annotation(secret)?;
        let key = live_key(secret, entry)?;
        (key.public == public).then(|| {
            (
                format!("{}/Secret/{}", slot.namespace, slot.secret),
                key.public,
            )
        })
    })
}

/// The decryption Secret of a namespace holding `held`.
pub fn secret_manifest(slot: &Slot, entry: &str, held: &Held) -> Manifest {
    let data = B64.encode(format!("{}\n", held.private.as_str()));
    Manifest {
        namespace: slot.namespace.clone(),
        kind: "Secret".into(),
        name: slot.secret.clone(),
        body: json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": slot.secret,
                "namespace": slot.namespace,
                "annotations": {RECIPIENT_ANNOTATION: held.public},
            },
            "type": "Opaque",
            "data": {entry: data},
        }),
    }
}

/// Decide, from the live Secrets (by namespace) and the keys given with
/// `--key-file`, what to write and record. Every namespace whose key cannot
/// be found is named in one error.
pub fn resolve(plan: &Plan, live: &BTreeMap<String, Value>, given: Vec<Held>) -> Result<Resolved> {
    let entry = plan.entry();
    // every private key at hand: given, or held by a live Secret of the plan
    let mut at_hand: Vec<Held> = given;
    for slot in &plan.slots {
        if let Some(k) = live.get(&slot.namespace).and_then(|s| live_key(s, &entry)) {
            at_hand.push(k);
        }
    }
    let mut records = Vec::new();
    // the keys a spec accepts: (name, public). A new one is the key a live
    // Secret of ksec's already holds for it (a run killed between its
    // cluster writes and ksec.yaml's), else generated here.
    let mut accept = |spec: &KeySpec,
                      namespace: Option<&str>,
                      adopt: Option<(String, String)>,
                      at_hand: &mut Vec<Held>| match spec {
        KeySpec::Recorded(keys) => keys.clone(),
        KeySpec::New(name) => {
            let (public, adopted_from) = match adopt {
                // its private key is at hand already: the live Secrets' are
                Some((id, public)) => (public, Some(id)),
                None => {
                    let new = generate();
                    let public = new.public.clone();
                    at_hand.push(new);
                    (public, None)
                }
            };
            records.push(Record {
                name: name.clone(),
                public: public.clone(),
                namespace: namespace.map(str::to_string),
                adopted_from,
            });
            vec![(name.clone(), public)]
        }
    };
    let env_keys = plan
        .env_key
        .as_ref()
        .map(|spec| {
            let env_slots = plan.slots.iter().filter(|s| s.owner == Owner::Environment);
            accept(spec, None, adoptable(env_slots, live, &entry), &mut at_hand)
        })
        .unwrap_or_default();
    let mut steps = Vec::new();
    let mut problems = Vec::new();
    for slot in &plan.slots {
        let keys = match &slot.owner {
            Owner::Environment => env_keys.clone(),
            Owner::Team(spec) => accept(
                spec,
                Some(&slot.namespace),
                adoptable([slot], live, &entry),
                &mut at_hand,
            ),
        };
        let names = || {
            keys.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let name_of = |public: &str| {
            keys.iter()
                .find(|(_, k)| k == public)
                .map(|(n, _)| n.clone())
        };
        let id = format!("{}/Secret/{}", slot.namespace, slot.secret);
        if let Some(secret) = live.get(&slot.namespace) {
            let has_entry = secret["data"][&entry].is_string();
            if let (Some(public), true) = (annotation(secret), has_entry)
                && let Some(name) = name_of(public)
                && live_key(secret, &entry).is_none_or(|k| k.public == public)
            {
                steps.push(Step {
                    slot: slot.clone(),
                    recipient: name,
                    action: Action::Unchanged,
                    manifest: None,
                });
                continue;
            }
            match live_key(secret, &entry) {
                Some(k) if name_of(&k.public).is_some() => {
                    // only the annotation: the data stays as it was written
                    // (by whoever owns it)
                    let mut manifest = secret_manifest(slot, &entry, &k);
                    if let Some(body) = manifest.body.as_object_mut() {
                        body.remove("data");
                        body.remove("type");
                    }
                    steps.push(Step {
                        slot: slot.clone(),
                        recipient: name_of(&k.public).unwrap_or_default(),
                        action: Action::Annotate,
                        manifest: Some(manifest),
                    });
                }
                _ => problems.push(format!(
                    "{id} exists but its data entry {entry} holds no key of recipient {} (ksec.yaml){}",
                    names(),
                    not_ksecs(secret, &entry)
                )),
            }
            continue;
        }
        let found = keys.iter().find_map(|(name, public)| {
            at_hand
                .iter()
                .find(|h| &h.public == public)
                .map(|h| (name, h))
        });
        match found {
            Some((name, held)) => steps.push(Step {
                slot: slot.clone(),
                recipient: name.clone(),
                action: Action::Create,
                manifest: Some(secret_manifest(slot, &entry, held)),
            }),
            None => problems.push(format!(
                "{id} is missing and the private key of recipient {} is nowhere at hand (no Secret of environment {} holds it)",
                names(),
                plan.environment
            )),
        }
    }
    if !problems.is_empty() {
        let mut hints = Vec::new();
        if problems.iter().any(|p| p.contains(" is missing ")) {
            hints.push("pass the recipient's private key with --key-file FILE; if it is lost, take the recipient out of ksec.yaml (`ksec recipients remove NAME`), run bootstrap again to generate a new key, then `ksec rekey` and `ksec render --gitops`");
        }
        if problems.iter().any(|p| p.contains(" exists but ")) {
            hints.push("a Secret holding another key is not replaced: if it is stale, delete it (`kubectl -n NAMESPACE delete secret NAME`) and run bootstrap again");
        }
        return Err(Error::new(
            Code::NotFound,
            format!(
                "cannot bootstrap environment {}; nothing was written:\n  {}",
                plan.environment,
                problems.join("\n  ")
            ),
        )
        .hint(hints.join("; ")));
    }
    Ok(Resolved { steps, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> Project {
        Project::parse(std::path::Path::new("/p"), text).unwrap()
    }

    #[test]
    fn a_new_environment_key_is_generated_once_for_every_namespace() {
        let p = project(
            "version: 1\nproject: t\nenvironments:\n  prod:\n    context: c\nnamespaces:\n  a: {}\n  b: {}\n",
        );
        let plan = plan(&p, "prod").unwrap();
        assert_eq!(plan.env_key, Some(KeySpec::New("prod-cluster".into())));
        let r = resolve(&plan, &BTreeMap::new(), Vec::new()).unwrap();
        assert_eq!(r.records.len(), 1);
        let keys: Vec<&Value> = r
            .steps
            .iter()
            .map(|s| &s.manifest.as_ref().unwrap().body["metadata"]["annotations"])
            .collect();
        assert_eq!(keys[0], keys[1]);
        assert_eq!(keys[0][RECIPIENT_ANNOTATION], r.records[0].public.as_str());
        assert!(format!("{:?}", r.steps[0].manifest).contains("[redacted]"));
    }

    fn slot(plan: &Plan, namespace: &str) -> Slot {
        plan.slots
            .iter()
            .find(|s| s.namespace == namespace)
            .unwrap()
            .clone()
    }

    /// A live Secret as ksec writes it, holding `held`.
    fn written(plan: &Plan, namespace: &str, held: &Held) -> Value {
        secret_manifest(&slot(plan, namespace), &plan.entry(), held).body
    }

    #[test]
    fn a_key_a_live_secret_of_ksecs_holds_is_adopted_not_generated_again() {
        let p = project(
            "version: 1\nproject: t\nenvironments:\n  prod:\n    context: c\n    teamKeys: true\nnamespaces:\n  a: {}\n  b: {}\n  t:\n    owners: [devs]\n",
        );
        let plan = plan(&p, "prod").unwrap();
        let (env, team) = (generate(), generate());
        // killed after writing a's and t's Secrets: b's is missing
        let live = BTreeMap::from([
            ("a".to_string(), written(&plan, "a", &env)),
            ("t".to_string(), written(&plan, "t", &team)),
        ]);
        let r = resolve(&plan, &live, Vec::new()).unwrap();
        let record = |name: &str| r.records.iter().find(|x| x.name == name).unwrap();
        assert_eq!(record("prod-cluster").public, env.public);
        assert_eq!(
            record("prod-cluster").adopted_from.as_deref(),
            Some("a/Secret/sops-age")
        );
        assert_eq!(record("t-prod").public, team.public);
        assert_eq!(
            record("t-prod").adopted_from.as_deref(),
            Some("t/Secret/sops-age-t")
        );
        let actions: Vec<(&str, &Action)> = r
            .steps
            .iter()
            .map(|s| (s.slot.namespace.as_str(), &s.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("a", &Action::Unchanged),
                ("b", &Action::Create),
                ("t", &Action::Unchanged)
            ]
        );
        // b gets the adopted key, not a new one
        let b = r.steps[1].manifest.as_ref().unwrap();
        assert_eq!(
            b.body["metadata"]["annotations"][RECIPIENT_ANNOTATION],
            env.public.as_str()
        );
        assert_eq!(live_key(&b.body, &plan.entry()).unwrap().public, env.public);
    }

    #[test]
    fn a_live_secret_ksec_did_not_write_is_never_adopted() {
        let p = project(
            "version: 1\nproject: t\nenvironments:\n  prod:\n    context: c\nnamespaces:\n  a: {}\n",
        );
        let plan = plan(&p, "prod").unwrap();
        let (held, other) = (generate(), generate());
        let mut unannotated = written(&plan, "a", &held);
        unannotated["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        let mut mismatched = written(&plan, "a", &held);
        mismatched["metadata"]["annotations"][RECIPIENT_ANNOTATION] = json!(other.public);
        for secret in [unannotated, mismatched] {
            let live = BTreeMap::from([("a".to_string(), secret)]);
            let Err(err) = resolve(&plan, &live, Vec::new()) else {
                panic!("a foreign Secret was adopted");
            };
            assert!(
                err.message.contains("a/Secret/sops-age exists but"),
                "{}",
                err.message
            );
            assert!(err.message.contains("does not adopt"), "{}", err.message);
        }
    }

    #[test]
    fn a_recorded_key_that_is_nowhere_is_an_error_naming_namespace_and_recipient() {
        let p = project(&format!(
            "version: 1\nproject: t\nrecipients:\n  c: {}\nenvironments:\n  prod:\n    context: c\n    recipients: [c]\nnamespaces:\n  a: {{}}\n",
            generate().public
        ));
        let plan = plan(&p, "prod").unwrap();
        let Err(err) = resolve(&plan, &BTreeMap::new(), Vec::new()) else {
            panic!("resolved without a key");
        };
        assert!(
            err.message.contains("a/Secret/sops-age is missing"),
            "{}",
            err.message
        );
        assert!(err.message.contains("recipient c"), "{}", err.message);
        assert!(
            err.message.contains("nothing was written"),
            "{}",
            err.message
        );
    }
}
