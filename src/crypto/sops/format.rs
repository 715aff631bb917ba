//! Which sops store a file is in. sops decides by the extension alone
//! (`.yaml`/`.yml`, `.json`, `.env`, `.ini`, anything else binary); ksec
//! does the same for plaintext it encrypts, and for an encrypted file also
//! looks at the text, so a file sops wrote is read whatever its name and a
//! YAML file ksec wrote under another name before stays readable.

use crate::crypto::cipher::is_encrypted;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    /// Several YAML documents (`---`): each is encrypted and carries the
    /// metadata, as sops writes them.
    YamlStream,
    Dotenv,
    /// sops's JSON store (`*.json`).
    Json,
    /// sops's binary store: the whole file is the one value `data`, kept
    /// in a JSON envelope (`{"data": "ENC[…]", "sops": {…}}`).
    Binary,
    /// sops's INI store (`*.ini`): sections of string values, the metadata
    /// in a `[sops]` section.
    Ini,
}

/// What the extension of `path` says, as sops reads it; `None` for a name
/// sops would treat as binary.
fn by_name(path: &Path) -> Option<Format> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if ext == "env" || name == ".env" || name.starts_with(".env.") {
        return Some(Format::Dotenv);
    }
    match ext.as_str() {
        "yaml" | "yml" => Some(Format::Yaml),
        "json" => Some(Format::Json),
        "ini" => Some(Format::Ini),
        _ => None,
    }
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::YamlStream => "multi-document YAML",
            Format::Dotenv => "dotenv",
            Format::Json => "JSON",
            Format::Binary => "binary",
            Format::Ini => "INI",
        }
    }

    /// The store a name says, YAML for a name that says none (what ksec
    /// has always assumed); [`Format::of_encrypted`] also reads the text.
    pub fn from_path(path: &Path) -> Format {
        by_name(path).unwrap_or(Format::Yaml)
    }

    /// The store sops uses for a plaintext file of this name: YAML, JSON
    /// and dotenv by extension, anything else binary.
    pub fn for_plaintext(path: &Path) -> Format {
        by_name(path).unwrap_or(Format::Binary)
    }

    /// The store of an encrypted file, from its name and text: dotenv by
    /// name; JSON text (`{…}`) is JSON under a `*.json` or YAML name
    /// (sops writes no YAML starting with `{`) and binary under any other
    /// name when it is sops's envelope; everything else YAML.
    pub fn of_encrypted(path: &Path, text: &str) -> Format {
        let named = by_name(path);
        if let Some(f @ (Format::Dotenv | Format::Ini)) = named {
            return f;
        }
        if !text.trim_start().starts_with('{') {
            return Format::Yaml.with_text(text);
        }
        match named {
            Some(_) => Format::Json,
            None if is_binary_envelope(text) => Format::Binary,
            None => Format::Json,
        }
    }

    /// YAML whose text holds several documents is a stream.
    pub fn with_text(self, text: &str) -> Format {
        if self == Format::Yaml && crate::crypto::yaml_docs::is_stream(text) {
            Format::YamlStream
        } else {
            self
        }
    }

    /// A file sops reads as JSON by its name (`*.json`).
    pub fn named_json(path: &Path) -> bool {
        by_name(path) == Some(Format::Json)
    }
}

/// sops's binary envelope: a JSON object of exactly `data` (encrypted)
/// and `sops`.
fn is_binary_envelope(text: &str) -> bool {
    let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text) else {
        return false;
    };
    object.len() == 2
        && object.get("sops").is_some_and(|s| s.is_object())
        && object
            .get("data")
            .and_then(|d| d.as_str())
            .is_some_and(is_encrypted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name_and_content() {
        let p = Path::new;
        assert_eq!(Format::for_plaintext(p("a.yaml")), Format::Yaml);
        assert_eq!(Format::for_plaintext(p("a.enc.JSON")), Format::Json);
        assert_eq!(Format::for_plaintext(p(".env.prod")), Format::Dotenv);
        assert_eq!(Format::for_plaintext(p("store.jks")), Format::Binary);
        assert_eq!(Format::for_plaintext(p("noext")), Format::Binary);
        let envelope = "{\"data\": \"ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\", \"sops\": {}}";
        assert_eq!(Format::of_encrypted(p("s.bin"), envelope), Format::Binary);
        assert_eq!(Format::of_encrypted(p("s.json"), envelope), Format::Json);
        assert_eq!(Format::of_encrypted(p("s.bin"), "a: b\n"), Format::Yaml);
        assert_eq!(
            Format::of_encrypted(p("s.yaml"), "{\"a\": 1}"),
            Format::Json
        );
        assert_eq!(Format::of_encrypted(p("s.json"), "a: b\n"), Format::Yaml);
        assert_eq!(Format::of_encrypted(p("s.env"), "{"), Format::Dotenv);
        assert_eq!(
            Format::of_encrypted(p("s.yaml"), "a: 1\n---\nb: 2\n"),
            Format::YamlStream
        );
    }
}
