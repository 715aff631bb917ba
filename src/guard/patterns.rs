//! High-signal secrets in any text file: private key blocks, age
//! identities, cloud access keys. A match yields a line and a description
//! of the kind of secret, never the matched text.

use super::Rule;
use regex::Regex;
use std::sync::LazyLock;

/// A secret found in a text: its rule, 1-based line and a description.
#[derive(Debug, PartialEq, Eq)]
pub struct Hit {
    pub rule: Rule,
    pub line: usize,
    pub what: String,
}

/// The `-----BEGIN … PRIVATE KEY-----` marker, built in pieces so that this
/// source file is not itself a match for other scanners. The key body (a run
/// of base64, possibly after PEM headers or inside a JSON string with `\n`
/// escapes) must follow closely, so documentation that only names the marker
/// does not fire.
static PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    let dashes = "-----";
    Regex::new(&format!(
        r"{dashes}BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?{dashes}[\s\S]{{0,300}}?[A-Za-z0-9+/=]{{40,}}"
    ))
    .expect("valid regex")
});

/// An age X25519 identity: `AGE-SECRET-KEY-1` and its bech32 data.
static AGE_IDENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}").expect("valid regex")
});

/// AWS access key ids (long-term `AKIA`, temporary `ASIA`).
static AWS_KEY_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^A-Za-z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?:$|[^A-Za-z0-9])")
        .expect("valid regex")
});

/// An AWS secret access key given by its usual name.
static AWS_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{40}(?:$|[^A-Za-z0-9/+=])"#,
    )
    .expect("valid regex")
});

/// The private key of a GCP service-account key file (JSON).
static GCP_PRIVATE_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""private_key"\s*:\s*"-----BEGIN"#).expect("valid regex"));

/// An Azure storage account key in a connection string.
static AZURE_ACCOUNT_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"AccountKey=[A-Za-z0-9+/]{40,}={0,2}").expect("valid regex"));

/// Every high-signal secret in `text`, in text order.
pub fn scan(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    let lines = LineIndex::new(text);
    let gcp = text.contains("\"service_account\"");
    let mut gcp_lines = Vec::new();
    if gcp {
        for m in GCP_PRIVATE_KEY.find_iter(text) {
            let line = lines.line_of(m.start());
            gcp_lines.push(line);
            hits.push(Hit {
                rule: Rule::CloudKey,
                line,
                what: "a GCP service-account private key".into(),
            });
        }
    }
    if text.contains("PRIVATE KEY") {
        for caps in PRIVATE_KEY.captures_iter(text) {
            let whole = caps.get(0).expect("match");
            let line = lines.line_of(whole.start());
            // a service-account key is reported once, as a cloud key
            if gcp_lines.contains(&line) {
                continue;
            }
            let kind = caps.get(1).map_or("", |m| m.as_str()).trim();
            let what = if kind.is_empty() {
                "a private key block".to_string()
            } else {
                format!("a private key block ({kind})")
            };
            hits.push(Hit {
                rule: Rule::PrivateKey,
                line,
                what,
            });
        }
    }
    if text.contains("AGE-SECRET-KEY-") {
        for m in AGE_IDENTITY.find_iter(text) {
            hits.push(Hit {
                rule: Rule::AgeIdentity,
                line: lines.line_of(m.start()),
                what: "an age identity (secret key)".into(),
            });
        }
    }
    if text.contains("AKIA") || text.contains("ASIA") {
        for m in AWS_KEY_ID.find_iter(text) {
            hits.push(Hit {
                rule: Rule::CloudKey,
                line: lines.line_of(m.start() + 1),
                what: "an AWS access key id".into(),
            });
        }
    }
    for m in AWS_SECRET.find_iter(text) {
        hits.push(Hit {
            rule: Rule::CloudKey,
            line: lines.line_of(m.start()),
            what: "an AWS secret access key".into(),
        });
    }
    if text.contains("AccountKey=") {
        for m in AZURE_ACCOUNT_KEY.find_iter(text) {
            hits.push(Hit {
                rule: Rule::CloudKey,
                line: lines.line_of(m.start()),
                what: "an Azure storage account key".into(),
            });
        }
    }
    hits.sort_by_key(|h| h.line);
    hits
}

/// Byte offsets of line starts, to turn a match offset into a line number.
pub struct LineIndex(Vec<usize>);

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex(starts)
    }

    /// The 1-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(kind: &str) -> String {
        let body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun";
        format!(
            "-----BEGIN {kind}PRIVATE KEY-----\n{body}\n{body}\n-----END {kind}PRIVATE KEY-----\n"
        )
    }

    fn rules(text: &str) -> Vec<(Rule, usize)> {
        scan(text).into_iter().map(|h| (h.rule, h.line)).collect()
    }

    #[test]
    fn private_key_blocks_of_every_kind() {
        for kind in ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "DSA "] {
            let text = format!("x: 1\n{}", pem(kind));
            assert_eq!(rules(&text), vec![(Rule::PrivateKey, 2)], "{kind}");
        }
        let pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0Ab3kBCADLkZ7yq3l8ZJc0Wq0qz3Hkq2cX0vV4Yx8a9b7c6d5e4f3g2h1\n";
        let encrypted_pem = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF\n\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n";
        assert_eq!(rules(encrypted_pem), vec![(Rule::PrivateKey, 1)]);
        assert_eq!(rules(pgp), vec![(Rule::PrivateKey, 1)]);
        let what = &scan(pgp)[0].what;
        assert_eq!(what, "a private key block (PGP)");
    }

    #[test]
    fn a_marker_without_a_key_body_is_not_a_key() {
        assert!(rules("look for -----BEGIN RSA PRIVATE KEY----- in files\n").is_empty());
        assert!(rules("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n").is_empty());
        // a public key is fine
        assert!(rules(&pem("").replace("PRIVATE", "PUBLIC")).is_empty());
    }

    #[test]
    fn age_identities() {
        let key = crate::keys::generate();
        let text = format!(
            "# created: today\n# public key: {}\n{}\n",
            key.recipient, &*key.secret
        );
        assert_eq!(rules(&text), vec![(Rule::AgeIdentity, 3)]);
        assert!(rules("AGE-SECRET-KEY-1...\n").is_empty());
    }

    #[test]
    fn cloud_keys() {
        let id = ["AKIA", "Z3YXWVUTSRQPONML"].concat();
        assert_eq!(
            rules(&format!("a\nkey_id = {id}\n")),
            vec![(Rule::CloudKey, 2)]
        );
        let temp = ["ASIA", "Z3YXWVUTSRQPONML"].concat();
        assert_eq!(rules(&format!("{temp}\n")), vec![(Rule::CloudKey, 1)]);
        assert!(
            rules(&format!("X{id}\n")).is_empty(),
            "inside a longer word"
        );
        let secret = "aws_secret_access_key = wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY0\n";
        assert_eq!(rules(secret), vec![(Rule::CloudKey, 1)]);
        let azure = "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYg==;EndpointSuffix=core.windows.net\n";
        assert_eq!(rules(azure), vec![(Rule::CloudKey, 1)]);
        let gcp = format!(
            "{{\n  \"type\": \"service_account\",\n  \"private_key_id\": \"abc\",\n  \"private_key\": \"{}\"\n}}\n",
            pem("").replace('\n', "\\n")
        );
        let hits = scan(&gcp);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!((hits[0].rule, hits[0].line), (Rule::CloudKey, 4));
        assert_eq!(hits[0].what, "a GCP service-account private key");
    }

    #[test]
    fn line_index() {
        let lines = LineIndex::new("a\nbc\n\nd");
        assert_eq!(
            [0, 1, 2, 4, 5, 6].map(|o| lines.line_of(o)),
            [1, 1, 2, 2, 3, 4]
        );
    }
}
