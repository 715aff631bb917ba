//! `ksec init --from-sops`: what a repository's own `.sops.yaml` says, as
//! ksec namespaces and recipients. Pure: the file's text in, a proposal and
//! the reasons for every rule it cannot carry over out; nothing is read or
//! written here.
//!
//! A sops creation rule maps a path regex to keys; the first rule whose
//! regex matches a file's path is the one used. A ksec namespace is a folder
//! whose files are encrypted to its recipients. So a rule carries over when
//! its regex names one folder (a literal path up to a `/`, then anything)
//! and its keys are age keys; the rest is explained, never guessed.

use crate::crypto::wrap::Recipient;
use serde_json::Value;

/// A namespace proposed from a rule: its name, its folder, its recipients
/// (names in `recipients`).
#[derive(Debug, PartialEq)]
pub struct ProposedNamespace {
    pub name: String,
    pub folder: String,
    pub recipients: Vec<String>,
    /// The rule's place in `creation_rules`, from 1.
    pub rule: usize,
}

/// What `.sops.yaml` becomes.
#[derive(Debug, Default, PartialEq)]
pub struct Proposal {
    /// Recipient name and key, in the order the keys first appear.
    pub recipients: Vec<(String, String)>,
    pub namespaces: Vec<ProposedNamespace>,
    /// One line per rule, or part of a rule, that does not carry over.
    pub unexpressed: Vec<String>,
}

/// The proposal for `.sops.yaml`'s text; an error says why the file cannot
/// be read at all.
pub fn from_sops_yaml(text: &str) -> Result<Proposal, String> {
    let doc: Value = serde_saphyr::from_str(text)
        .map_err(|e| format!("is not YAML sops can read: {}", first_line(&e.to_string())))?;
    let rules = match doc.get("creation_rules") {
        Some(Value::Array(rules)) => rules,
        Some(_) => return Err("has creation_rules that is not a list".into()),
        None => return Err("has no creation_rules".into()),
    };
    let mut proposal = Proposal::default();
    for (i, rule) in rules.iter().enumerate() {
        let n = i + 1;
        let Value::Object(fields) = rule else {
            proposal
                .unexpressed
                .push(format!("rule {n}: not a mapping; skipped"));
            continue;
        };
        let shown = fields
            .get("path_regex")
            .and_then(Value::as_str)
            .map(|r| format!("rule {n} ({r})"))
            .unwrap_or_else(|| format!("rule {n} (no path_regex)"));
        for (key, _) in fields
            .iter()
            .filter(|(k, _)| !HANDLED.contains(&k.as_str()))
        {
            proposal
                .unexpressed
                .push(format!("{shown}: {key} {}", why_not(key)));
        }
        let keys = match age_keys(fields.get("age")) {
            Ok(keys) => keys,
            Err(why) => {
                proposal
                    .unexpressed
                    .push(format!("{shown}: {why}; skipped"));
                continue;
            }
        };
        if keys.is_empty() {
            proposal.unexpressed.push(format!(
                "{shown}: no age key (ksec encrypts with age only); skipped"
            ));
            continue;
        }
        let Some(regex) = fields.get("path_regex").and_then(Value::as_str) else {
            proposal.unexpressed.push(format!(
                "{shown}: matches every file; ksec has no project-wide recipients for files outside a namespace folder: give the keys to the namespaces (or an environment's recipients) by hand; skipped"
            ));
            continue;
        };
        let Some(folder) = literal_folder(regex) else {
            proposal.unexpressed.push(format!(
                "{shown}: does not name one folder; a ksec namespace is a folder of files: move the files it matches into one folder per namespace and add them by hand; skipped"
            ));
            continue;
        };
        if let Some(earlier) = proposal
            .namespaces
            .iter()
            .find(|ns| ns.folder == folder || folder.starts_with(&format!("{}/", ns.folder)))
        {
            proposal.unexpressed.push(format!(
                "{shown}: its folder {folder} is inside {} of rule {}, which sops matches first, so sops never uses this rule; skipped",
                earlier.folder, earlier.rule
            ));
            continue;
        }
        let mut names = Vec::new();
        for key in keys {
            let name = match proposal.recipients.iter().find(|(_, k)| *k == key) {
                Some((name, _)) => name.clone(),
                None => {
                    let name = format!("sops-{}", proposal.recipients.len() + 1);
                    proposal.recipients.push((name.clone(), key));
                    name
                }
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let base = super::sanitize_label(folder.rsplit('/').next().unwrap_or(&folder));
        let mut name = base.clone();
        let mut k = 2;
        while proposal.namespaces.iter().any(|ns| ns.name == name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        proposal.namespaces.push(ProposedNamespace {
            name,
            folder,
            recipients: names,
            rule: n,
        });
    }
    Ok(proposal)
}

/// The rule fields this module reads.
const HANDLED: &[&str] = &["path_regex", "age"];

/// Why a rule field other than `path_regex` and `age` is not carried over.
fn why_not(key: &str) -> &'static str {
    match key {
        "pgp"
        | "kms"
        | "gcp_kms"
        | "azure_keyvault"
        | "hc_vault_transit_uri"
        | "key_groups"
        | "shamir_threshold" => "is not carried over: ksec encrypts to age recipients only",
        "encrypted_regex" | "encrypted_suffix" | "unencrypted_regex" | "unencrypted_suffix"
        | "mac_only_encrypted" => {
            "is not carried over: ksec encrypts every value of a source (render --gitops encrypts data and stringData of Secrets)"
        }
        "encrypted_comment_regex" | "unencrypted_comment_regex" => {
            "is not carried over: ksec.yaml has no setting for it"
        }
        _ => "is not a field ksec knows; not carried over",
    }
}

/// The age keys of a rule's `age` field: a comma-separated string or a
/// list; each must be an age or SSH recipient.
fn age_keys(field: Option<&Value>) -> Result<Vec<String>, String> {
    let items: Vec<String> = match field {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s.split(',').map(|k| k.trim().to_string()).collect(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(|s| s.trim().to_string()))
            .collect::<Option<_>>()
            .ok_or("age holds something other than keys")?,
        Some(_) => return Err("age is neither a string nor a list".into()),
    };
    let mut keys: Vec<String> = Vec::new();
    for key in items.into_iter().filter(|k| !k.is_empty()) {
        Recipient::parse(&key).map_err(|why| format!("age key {key}: {why}"))?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// The one folder a path regex names: an optional anchor (`^`, `(^|/)`),
/// then a literal path, then `/` and anything. `None` for every other
/// regex (a file-name pattern, an alternation of folders...).
fn literal_folder(regex: &str) -> Option<String> {
    let rest = ["(^|/)", "^", "/"]
        .iter()
        .find_map(|anchor| regex.strip_prefix(anchor))
        .unwrap_or(regex);
    let mut folder = String::new();
    let mut chars = rest.chars().peekable();
    let mut last_slash = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if "./-_".contains(e) => folder.push(e),
                _ => break,
            },
            '/' => {
                last_slash = Some(folder.len());
                folder.push('/');
            }
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => folder.push(c),
            _ => break,
        }
    }
    let folder = &folder[..last_slash?];
    let ok = !folder.is_empty()
        && folder
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    ok.then(|| folder.to_string())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_folder_is_read_through_anchors_and_escapes() {
        let cases = [
            (
                r"(^|/)namespaces/payments/.*\.(yaml|yml|env|json)$",
                Some("namespaces/payments"),
            ),
            (r"^apps/search/.*\.yaml$", Some("apps/search")),
            (r"secrets/prod/", Some("secrets/prod")),
            (r"deploy/my\-app/[^/]+\.yaml", Some("deploy/my-app")),
            (r"config\.d/x/.*", Some("config.d/x")),
            (r".*\.prod\.yaml$", None),
            (r"(dev|prod)/.*", None),
            (r"secrets.yaml", None),
            (r"\.enc\.", None),
            (r"../up/.*", None),
        ];
        for (regex, folder) in cases {
            assert_eq!(literal_folder(regex).as_deref(), folder, "{regex}");
        }
    }

    #[test]
    fn rules_become_namespaces_and_named_recipients_or_are_explained() {
        let key = || age::x25519::Identity::generate().to_public().to_string();
        let (a, b) = (key(), key());
        let text = format!(
            "creation_rules:
  - path_regex: (^|/)namespaces/payments/.*
    age: {a}, {b}
  - path_regex: ^apps/payments/.*
    age: [{b}]
    encrypted_regex: ^(data|stringData)$
  - path_regex: namespaces/payments/inner/.*
    age: {a}
  - path_regex: .*\\.prod\\.yaml$
    age: {a}
  - path_regex: kms/.*
    kms: arn:aws:kms:eu-west-1:1:key/x
  - age: {a}
"
        );
        let p = from_sops_yaml(&text).unwrap();
        assert_eq!(
            p.recipients,
            vec![("sops-1".to_string(), a.clone()), ("sops-2".to_string(), b)]
        );
        let got: Vec<(&str, &str, Vec<&str>)> = p
            .namespaces
            .iter()
            .map(|ns| {
                let names = ns.recipients.iter().map(String::as_str).collect();
                (ns.name.as_str(), ns.folder.as_str(), names)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("payments", "namespaces/payments", vec!["sops-1", "sops-2"]),
                ("payments-2", "apps/payments", vec!["sops-2"]),
            ]
        );
        let why = p.unexpressed.join("\n");
        assert_eq!(p.unexpressed.len(), 6, "{why}");
        for part in [
            "rule 2 (^apps/payments/.*): encrypted_regex is not carried over",
            "rule 3 (namespaces/payments/inner/.*): its folder namespaces/payments/inner is inside namespaces/payments of rule 1",
            "rule 4 (.*\\.prod\\.yaml$): does not name one folder",
            "rule 5 (kms/.*): kms is not carried over: ksec encrypts to age recipients only",
            "rule 5 (kms/.*): no age key",
            "rule 6 (no path_regex): matches every file",
        ] {
            assert!(why.contains(part), "{part}\n{why}");
        }
    }

    #[test]
    fn a_file_without_rules_or_with_a_bad_key_says_so() {
        assert!(
            from_sops_yaml("stores: {}\n")
                .unwrap_err()
                .contains("no creation_rules")
        );
        assert!(from_sops_yaml("creation_rules: 3\n").is_err());
        assert!(from_sops_yaml(": : :\n").is_err());
        let p =
            from_sops_yaml("creation_rules:\n  - path_regex: a/.*\n    age: age1nope\n").unwrap();
        assert!(p.namespaces.is_empty());
        assert!(
            p.unexpressed[0].starts_with("rule 1 (a/.*): age key age1nope:"),
            "{:?}",
            p.unexpressed
        );
    }
}
