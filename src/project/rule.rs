//! The rules of `ksec check`, by stable id: `check.allow` in ksec.yaml names
//! them, the guard applies them.

/// The rules of `ksec check`, each with a stable id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A Kubernetes Secret manifest with values under `data`/`stringData`.
    SecretManifest,
    /// A secret source (or `*.enc.*` file) that is not a SOPS file.
    UnencryptedSource,
    /// A `-----BEGIN … PRIVATE KEY-----` block.
    PrivateKey,
    /// An age identity (`AGE-SECRET-KEY-1…`).
    AgeIdentity,
    /// An AWS, GCP or Azure credential.
    CloudKey,
    /// An encrypted file whose recipients differ from ksec.yaml.
    Recipients,
    /// A file that should be SOPS but does not parse as SOPS.
    SopsInvalid,
    /// An encrypted file whose values or MAC do not verify.
    Integrity,
    /// ksec.yaml does not parse or validate.
    KsecYaml,
    /// A tracked symlink in a namespace folder that leads out of it (or a
    /// namespace folder that is a link out of the project), or at anything
    /// but a regular file: render refuses to read through it.
    SourceLink,
    /// A tracked plaintext copy of a secret: a `*.dec.*` or `*.plain.*` file.
    PlaintextCopy,
}

impl Rule {
    pub const ALL: [Rule; 11] = [
        Rule::SecretManifest,
        Rule::UnencryptedSource,
        Rule::PrivateKey,
        Rule::AgeIdentity,
        Rule::CloudKey,
        Rule::Recipients,
        Rule::SopsInvalid,
        Rule::Integrity,
        Rule::KsecYaml,
        Rule::SourceLink,
        Rule::PlaintextCopy,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::SecretManifest => "secret-manifest",
            Rule::UnencryptedSource => "unencrypted-source",
            Rule::PrivateKey => "private-key",
            Rule::AgeIdentity => "age-identity",
            Rule::CloudKey => "cloud-key",
            Rule::Recipients => "recipients",
            Rule::SopsInvalid => "sops-invalid",
            Rule::Integrity => "integrity",
            Rule::KsecYaml => "ksec-yaml",
            Rule::SourceLink => "source-link",
            Rule::PlaintextCopy => "plaintext-copy",
        }
    }

    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// The ids `check.allow` accepts (every rule but `ksec-yaml`).
    pub fn allowable_ids() -> Vec<&'static str> {
        Rule::ALL
            .into_iter()
            .filter(|r| *r != Rule::KsecYaml)
            .map(Rule::id)
            .collect()
    }
}
