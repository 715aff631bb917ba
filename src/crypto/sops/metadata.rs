//! sops's metadata as a store writes it: the order of its keys, the
//! flattening of metadata into dotenv's `sops_…` keys and back (and where
//! those lines start in a file), and the `lastmodified` timestamp. Never reads or
//! writes a value of the document itself.

use super::SopsError;
use crate::crypto::tree::{self, Item, Kind, Leaf, Value};

/// Order in which sops writes its metadata keys.
const METADATA_ORDER: &[&str] = &[
    "shamir_threshold",
    "key_groups",
    "kms",
    "gcp_kms",
    "hckms",
    "azure_kv",
    "hc_vault",
    "age",
    "lastmodified",
    "mac",
    "pgp",
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
    "mac_only_encrypted",
    "version",
];

/// Where `key` goes among sops's metadata keys (unknown keys last).
pub(super) fn rank(key: &str) -> usize {
    METADATA_ORDER
        .iter()
        .position(|o| *o == key)
        .unwrap_or(usize::MAX)
}

/// The metadata as the `sops_…` pairs of a dotenv file, sorted by key as
/// sops writes them.
pub(super) fn dotenv_pairs(metadata: &[Item]) -> Vec<Item> {
    let mut flat = Vec::new();
    flatten(&Value::Map(metadata.to_vec()), "sops", &mut flat);
    flat.sort_by(|a, b| a.0.cmp(&b.0));
    flat.into_iter()
        .map(|(k, v)| Item::Pair(k, Value::Leaf(Leaf::str(v))))
        .collect()
}

/// Where the `sops_…` lines start when nothing else follows them.
pub(super) fn dotenv_metadata_start(text: &str) -> Option<usize> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let is_meta = line.starts_with("sops_");
        match (start, is_meta) {
            (None, true) => start = Some(offset),
            (Some(_), false) if !line.trim().is_empty() => return None,
            _ => {}
        }
        offset += line.len();
    }
    start
}

/// The metadata as the keys of an INI file's `[sops]` section: flattened
/// as for dotenv, without the `sops_` prefix, line breaks written `\n`.
pub(super) fn ini_section(metadata: &[Item]) -> Value {
    Value::Map(
        dotenv_pairs(metadata)
            .into_iter()
            .map(|item| match item {
                Item::Pair(k, v) => {
                    let text = v.as_str().unwrap_or_default().replace('\n', "\\n");
                    let key = k.strip_prefix("sops_").unwrap_or(&k).to_string();
                    Item::Pair(key, Value::Leaf(Leaf::str(text)))
                }
                other => other,
            })
            .collect(),
    )
}

/// Split an INI file's sections into the body and the `[sops]` metadata.
pub(super) fn split_ini_metadata(items: Vec<Item>) -> Result<(Vec<Item>, Vec<Item>), SopsError> {
    let mut body = Vec::with_capacity(items.len());
    let mut flat = Vec::new();
    for item in items {
        match item {
            Item::Pair(name, Value::Map(keys)) if name == "sops" => {
                for key in keys {
                    if let Item::Pair(k, v) = key {
                        let text = v.as_str().unwrap_or_default().replace("\\n", "\n");
                        flat.push((k, text));
                    }
                }
            }
            other => body.push(other),
        }
    }
    if flat.is_empty() {
        return Err(SopsError::NotEncrypted);
    }
    Ok((body, unflatten(flat)?))
}

pub(super) fn split_yaml_metadata(items: Vec<Item>) -> Result<(Vec<Item>, Vec<Item>), SopsError> {
    let mut body = Vec::with_capacity(items.len());
    let mut metadata = None;
    for item in items {
        match item {
            Item::Pair(key, Value::Map(meta)) if key == "sops" => metadata = Some(meta),
            Item::Pair(key, _) if key == "sops" => {
                return Err(SopsError::BadMetadata(
                    "the sops key does not hold a map".into(),
                ));
            }
            other => body.push(other),
        }
    }
    Ok((body, metadata.ok_or(SopsError::NotEncrypted)?))
}

pub(super) fn split_dotenv_metadata(items: Vec<Item>) -> Result<(Vec<Item>, Vec<Item>), SopsError> {
    let mut body = Vec::with_capacity(items.len());
    let mut flat = Vec::new();
    for item in items {
        match item {
            Item::Pair(key, value) if key.starts_with("sops_") => {
                let text = value.as_str().unwrap_or_default().to_string();
                flat.push((key["sops_".len()..].to_string(), text));
            }
            other => body.push(other),
        }
    }
    if flat.is_empty() {
        return Err(SopsError::NotEncrypted);
    }
    Ok((body, unflatten(flat)?))
}

/// sops's flattening of metadata for flat formats: nested map keys are
/// joined with `__map_`, list positions with `__list_N`.
fn flatten(value: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Map(items) => {
            for item in items {
                if let Item::Pair(k, v) = item {
                    let key = if prefix == "sops" {
                        format!("sops_{k}")
                    } else {
                        format!("{prefix}__map_{k}")
                    };
                    flatten(v, &key, out);
                }
            }
        }
        Value::Seq(values) => {
            for (i, v) in values.iter().enumerate() {
                flatten(v, &format!("{prefix}__list_{i}"), out);
            }
        }
        Value::Leaf(leaf) => {
            let text = match leaf.kind {
                Kind::Bool => leaf.expose().to_ascii_lowercase(),
                _ => leaf.expose().to_string(),
            };
            out.push((prefix.to_string(), text));
        }
        Value::Null | Value::Comment(_) => {}
    }
}

enum Token {
    Key(String),
    Index(usize),
}

fn tokenize(path: &str) -> Result<Vec<Token>, SopsError> {
    let bad = || SopsError::BadMetadata(format!("unreadable metadata key sops_{path}"));
    let mut tokens = Vec::new();
    let mut rest = path;
    let mut state_list = false;
    loop {
        let next_map = rest.find("__map_");
        let next_list = rest.find("__list_");
        let cut = match (next_map, next_list) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (head, tail) = match cut {
            Some(pos) => (&rest[..pos], Some(&rest[pos..])),
            None => (rest, None),
        };
        tokens.push(if state_list {
            Token::Index(head.parse().map_err(|_| bad())?)
        } else {
            Token::Key(head.to_string())
        });
        match tail {
            None => break,
            Some(t) if t.starts_with("__map_") => {
                state_list = false;
                rest = &t["__map_".len()..];
            }
            Some(t) => {
                state_list = true;
                rest = &t["__list_".len()..];
            }
        }
    }
    Ok(tokens)
}

/// Deepest nesting accepted in flattened metadata (sops writes at most 3).
const MAX_METADATA_DEPTH: usize = 16;

/// Check every list in flattened metadata before building it: its indices
/// must be exactly 0..n (as sops requires), so no index taken from the file
/// can make ksec allocate more than the file itself holds.
fn check_flat_lists(keys: &[Vec<Token>]) -> Result<(), SopsError> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut lists: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for tokens in keys {
        if tokens.len() > MAX_METADATA_DEPTH {
            return Err(SopsError::BadMetadata(format!(
                "a flattened metadata key is nested more than {MAX_METADATA_DEPTH} levels deep"
            )));
        }
        let mut prefix = String::new();
        for token in tokens {
            match token {
                Token::Key(k) => {
                    prefix.push_str("__map_");
                    prefix.push_str(k);
                }
                Token::Index(i) => {
                    lists.entry(prefix.clone()).or_default().insert(*i);
                    prefix.push_str(&format!("__list_{i}"));
                }
            }
        }
    }
    for (prefix, indices) in lists {
        let max = indices.last().copied().unwrap_or(0);
        if max >= indices.len() {
            return Err(SopsError::BadMetadata(format!(
                "the list sops_{} has {} entries but an index {max} (indices must run from 0 without gaps)",
                prefix.strip_prefix("__map_").unwrap_or(&prefix),
                indices.len()
            )));
        }
    }
    Ok(())
}

fn unflatten(flat: Vec<(String, String)>) -> Result<Vec<Item>, SopsError> {
    fn insert(node: &mut Value, tokens: &[Token], text: String) -> Result<(), SopsError> {
        let bad = || SopsError::BadMetadata("inconsistent flattened sops metadata".into());
        let Some((first, rest)) = tokens.split_first() else {
            *node = Value::Leaf(Leaf::str(text));
            return Ok(());
        };
        let fresh = |next: Option<&Token>| match next {
            Some(Token::Index(_)) => Value::Seq(Vec::new()),
            _ => Value::Map(Vec::new()),
        };
        match (first, node) {
            (Token::Key(k), Value::Map(items)) => {
                if tree::get(items, k).is_none() {
                    items.push(Item::Pair(k.clone(), fresh(rest.first())));
                }
                insert(tree::get_mut(items, k).ok_or_else(bad)?, rest, text)
            }
            (Token::Index(i), Value::Seq(values)) => {
                while values.len() <= *i {
                    values.push(fresh(rest.first()));
                }
                insert(&mut values[*i], rest, text)
            }
            _ => Err(bad()),
        }
    }
    let tokenized = flat
        .iter()
        .map(|(key, _)| tokenize(key))
        .collect::<Result<Vec<_>, _>>()?;
    check_flat_lists(&tokenized)?;
    let mut root = Value::Map(Vec::new());
    for (tokens, (_, value)) in tokenized.iter().zip(flat) {
        insert(&mut root, tokens, value)?;
    }
    let Value::Map(mut items) = root else {
        unreachable!("root is a map")
    };
    // Restore sops's order so that a YAML rendering reads naturally.
    items.sort_by_key(|item| match item {
        Item::Pair(k, _) => rank(k),
        Item::Comment(_) => usize::MAX,
    });
    Ok(items)
}

/// Now, as sops writes `lastmodified`: RFC 3339, UTC, whole seconds.
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// `unix` (seconds since the epoch) in RFC 3339, UTC.
pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_776_142), "2026-11-27T10:42:22Z");
    }
}
