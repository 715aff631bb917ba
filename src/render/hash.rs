//! Content-hash name suffixes, identical to kustomize's generators
//! (`api/hasher`): SHA-256 over a Go-`encoding/json` encoding of the
//! object's kind, type and data (keys sorted), then the first ten hex
//! digits with 0→g, 1→h, 3→k, a→m, e→t so the suffix never looks like a
//! number or a word.
//!
//! kustomize also means to hash the name, but looks it up as one field
//! called `metadata/name`, which never exists, so `"name":""` is what it
//! hashes. We reproduce that (verified against `kubectl kustomize`): the
//! suffix depends on the data and type only.
//!
//! Also the JSON kubectl writes for a docker-registry Secret, which must be
//! byte-identical too.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub use crate::crypto::json::go_json_string;

fn go_json_map(map: &BTreeMap<String, String>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(k, out);
        out.push(':');
        go_json_string(v, out);
    }
    out.push('}');
}

/// The suffix kustomize derives from a hex SHA-256.
fn encode(hex: &str) -> String {
    hex[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

fn suffix_of(json: &str) -> String {
    let digest = Sha256::digest(json.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    encode(&hex)
}

/// Base64 as kustomize keeps it in generated objects, and so hashes it:
/// wrapped into 70-character lines, each ending in a newline, once the text
/// is 70 characters or longer.
fn kustomize_wrapped(b64: &str) -> String {
    const LINE: usize = 70;
    if b64.len() < LINE {
        return b64.to_string();
    }
    let mut out = String::with_capacity(b64.len() + b64.len() / LINE + 1);
    for chunk in b64.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

fn wrapped_values(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), kustomize_wrapped(v)))
        .collect()
}

/// The hash suffix of a ConfigMap. `data` is written as `""` when the object
/// has none, and `binaryData` only when it has some, as kustomize does.
pub fn config_map_suffix(
    data: &BTreeMap<String, String>,
    binary_data: &BTreeMap<String, String>,
) -> String {
    let mut json = String::from("{");
    if !binary_data.is_empty() {
        json.push_str("\"binaryData\":");
        go_json_map(&wrapped_values(binary_data), &mut json);
        json.push(',');
    }
    json.push_str("\"data\":");
    if data.is_empty() {
        json.push_str("\"\"");
    } else {
        go_json_map(data, &mut json);
    }
    json.push_str(",\"kind\":\"ConfigMap\",\"name\":\"\"}");
    suffix_of(&json)
}

/// The hash suffix of a Secret; `data` holds the base64 values (unwrapped).
pub fn secret_suffix(kind: &str, data: &BTreeMap<String, String>) -> String {
    let mut json = String::from("{\"data\":");
    if data.is_empty() {
        json.push_str("\"\"");
    } else {
        go_json_map(&wrapped_values(data), &mut json);
    }
    json.push_str(",\"kind\":\"Secret\",\"name\":\"\",\"type\":");
    go_json_string(kind, &mut json);
    json.push('}');
    suffix_of(&json)
}

/// `.dockerconfigjson` as `kubectl create secret docker-registry` writes it.
pub fn docker_config_json(server: &str, username: &str, password: &str, email: &str) -> String {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut json = String::from("{\"auths\":{");
    go_json_string(server, &mut json);
    json.push_str(":{");
    let mut first = true;
    for (field, value) in [
        ("username", username),
        ("password", password),
        ("email", email),
        ("auth", auth.as_str()),
    ] {
        if value.is_empty() {
            continue; // omitempty
        }
        if !first {
            json.push(',');
        }
        first = false;
        go_json_string(field, &mut json);
        json.push(':');
        go_json_string(value, &mut json);
    }
    json.push_str("}}}");
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_escapes_html_and_controls() {
        let mut out = String::new();
        go_json_string("a<b>&\"\\\n\t\u{1}\u{2028}é", &mut out);
        assert_eq!(
            out,
            "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\t\\u0001\\u2028é\""
        );
    }

    #[test]
    fn suffixes_match_kubectl_kustomize() {
        // values produced by `kubectl kustomize` (kustomize v5.5.0)
        let data = BTreeMap::from([("a".to_string(), "b".to_string())]);
        assert_eq!(config_map_suffix(&data, &BTreeMap::new()), "4h2mbtbbt6");
        let data = BTreeMap::from([
            (
                "DB_HOST".to_string(),
                "cG9zdGdyZXMucGF5bWVudHMuc3Zj".to_string(),
            ),
            (
                "DB_PASSWORD".to_string(),
                "ZGVtby1ub3QtYS1yZWFsLXBhc3N3b3Jk".to_string(),
            ),
            ("DB_PORT".to_string(), "NTQzMg==".to_string()),
            ("DB_USER".to_string(), "cGF5bWVudHM=".to_string()),
        ]);
        assert_eq!(secret_suffix("Opaque", &data), "dc79dcgh86");
    }

    #[test]
    fn suffix_alphabet_avoids_digits_0_1_3_and_vowels() {
        assert_eq!(encode("0123456789abcdef"), "gh2k456789");
        assert_eq!(encode("aeaeaeaeae00"), "mtmtmtmtmt");
    }
}
