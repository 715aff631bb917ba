//! The command line, as clap types only. Doc comments are the `--help`
//! text. Nothing here is seen past `settings`.

// Written for a terminal, not as rustdoc markdown: `<command>` and
// `'["a"]["b"]'` are what the user types, and escaping them would show in
// `--help`.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Keep Kubernetes secrets and config in git, encrypted with age in the SOPS format, and ship them to clusters
///
/// Examples:
///   ksec init --name shop --recipient "alice=$(ksec keygen --out ~/.config/ksec/keys.txt)"
///   ksec render --env staging
///   ksec <command> --help
#[derive(Debug, Parser)]
#[command(
    verbatim_doc_comment,
    name = "ksec",
    version,
    after_long_help = crate::error::exit_codes_help(),
    max_term_width = 100
)]
pub struct Cli {
    /// The project directory (default: walk up from the working directory to
    /// the first `ksec.yaml`)
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// An age identity file or SSH private key to decrypt with; first in the
    /// identity lookup order
    #[arg(long, global = true, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold a project: ksec.yaml, .sops.yaml, .gitignore, .gitattributes
    ///
    /// Creates the files that are missing and never overwrites one. Run again
    /// on an existing project, it changes nothing and says so; with
    /// `--refresh` it regenerates `.sops.yaml` from `ksec.yaml`.
    ///
    /// Example:
    ///   ksec init --name shop --recipient "alice=$(ksec keygen --out ~/.config/ksec/keys.txt)"
    #[command(verbatim_doc_comment)]
    Init(InitArgs),

    /// Generate a new age identity and print its recipient
    ///
    /// Writes the identity in the age-keygen file format (mode 0600) or
    /// stores it in the OS keyring (service `ksec`). Prints the recipient
    /// (`age1…`) on stdout, to put into ksec.yaml. Never overwrites a key.
    ///
    /// Example:
    ///   ksec keygen --out ~/.config/ksec/keys.txt
    #[command(verbatim_doc_comment)]
    Keygen(KeygenArgs),

    /// Say which identity ksec would decrypt with, and its public key
    ///
    /// Walks the identity sources in their lookup order and prints the
    /// source that answered, the recipient (public key) of each identity it
    /// holds, and the sources looked at before it. Never prints a private
    /// key. A passphrase-protected key asks for its passphrase, as a decrypt
    /// would. The order (the first source holding a key wins):
    ///   --identity FILE, KSEC_AGE_KEY, KSEC_AGE_KEY_FILE, KSEC_AGE_KEY_CMD,
    ///   SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD,
    ///   SOPS_AGE_SSH_PRIVATE_KEY_FILE, the OS keyring (service ksec),
    ///   ~/.config/ksec/keys.txt, ~/.config/sops/age/keys.txt
    ///
    /// Example:
    ///   KSEC_AGE_KEY_CMD='pass show age/key' ksec whoami
    #[command(verbatim_doc_comment)]
    Whoami(WhoamiArgs),

    /// Encrypt a plaintext file into a SOPS file
    ///
    /// Recipients come from `-r`, or else from the namespace in ksec.yaml
    /// whose folder holds FILE, plus the CI recipients of that namespace's
    /// environments. Writes to stdout unless --output or --in-place.
    /// The store is the one sops uses for the name: `.yaml`/`.yml` YAML
    /// (several `---` documents too), `.json` JSON, `.env` dotenv, `.ini`
    /// INI, any other name binary (the whole file is one value).
    ///
    /// Example:
    ///   ksec encrypt namespaces/payments/db.yaml --in-place
    #[command(verbatim_doc_comment)]
    Encrypt(EncryptArgs),

    /// Decrypt a SOPS file and print the plaintext
    ///
    /// Verifies every value and the file's MAC first: a tampered file is
    /// refused with exit code 5 and nothing is printed.
    ///
    /// Example:
    ///   ksec decrypt namespaces/payments/db.enc.yaml
    #[command(verbatim_doc_comment)]
    Decrypt(DecryptArgs),

    /// Edit a SOPS file in $VISUAL / $EDITOR and re-encrypt it
    ///
    /// The plaintext lives in a private temporary directory (0700) and is
    /// removed afterwards, also on error and on Ctrl-C. Values you did not
    /// change keep their exact ciphertext, so git shows only what changed.
    ///
    /// Example:
    ///   EDITOR=nano ksec edit namespaces/payments/db.enc.yaml
    #[command(verbatim_doc_comment)]
    Edit(EditArgs),

    /// Set one value in a SOPS file
    ///
    /// KEY is a top-level key, or a sops-style path like '["db"]["password"]'
    /// for nested YAML or JSON, '["hosts"][0]' for a list item (past the
    /// end: appended), '["section"]["key"]' in INI. With no VALUE, reads it from a hidden prompt on a
    /// terminal, or else from stdin (one trailing newline removed). Only that
    /// value's line changes (plus the file's lastmodified and mac).
    /// With --generate, a fresh random value (from the OS random source) is
    /// written and never shown: rotation in a script.
    ///
    /// Examples:
    ///   ksec set namespaces/payments/db.enc.yaml DB_PASSWORD
    ///   ksec set namespaces/payments/db.enc.yaml DB_PASSWORD --generate --length 40
    #[command(verbatim_doc_comment)]
    Set(SetArgs),

    /// Render Secrets, ConfigMaps and workload wiring as manifests
    ///
    /// Reads the namespaces of one environment (`--env`, optional when the
    /// project has one), decrypts their secret sources in parallel and
    /// prints multi-document YAML: data byte-identical to `kubectl create
    /// … --dry-run=client`, names with kustomize's content-hash suffix,
    /// objects ordered by namespace, kind and name. Every problem is
    /// reported together, and then nothing is printed.
    ///
    /// With --gitops DIR it writes the tree Flux applies instead (see the
    /// README, "GitOps with Flux"): DIR/<env>/<namespace>/ with encrypted
    /// Secrets, DIR/<env>/flux/ with the Kustomizations.
    ///
    /// Examples:
    ///   ksec render --env prod | kubectl apply --server-side --validate=false -f -
    ///   ksec render --gitops ../fleet --all-envs
    #[command(verbatim_doc_comment)]
    Render(RenderArgs),

    /// Show how the cluster differs from the rendered manifests
    ///
    /// Per object (create, update, delete) and per key (added, removed,
    /// changed). ConfigMap values as a line diff; Secret values never, only
    /// digests keyed for this run. A new version of a hash-named object is
    /// shown against the one it replaces; the superseded versions apply
    /// keeps are no difference. Exits 0 when nothing differs, 1 when
    /// something does, 2 or more on error, like diff(1).
    ///
    /// Waits at most 10 s to connect and 30 s for each answer of the API
    /// server; KSEC_CONNECT_TIMEOUT and KSEC_TIMEOUT (seconds) change that.
    ///
    /// With several environments (--env a --env b, or --all-envs) each
    /// cluster is compared, in parallel; exit 1 when any one differs.
    ///
    /// Examples:
    ///   ksec diff --env prod -n payments
    ///   ksec diff --all-envs --output json
    #[command(verbatim_doc_comment)]
    Diff(DiffArgs),

    /// Sync the rendered manifests to the cluster with server-side apply
    ///
    /// Renders and validates everything first, then proves with
    /// SelfSubjectAccessReview that every write is allowed (a table of what
    /// is missing otherwise, and no write at all), then applies only what
    /// changed, with field manager `ksec`. A protected environment asks
    /// first; without a terminal it needs --yes.
    ///
    /// Every workload a mount or rollout names must exist (else exit 3).
    /// Every write is first dry-run on the server, so a write the server
    /// refuses stops the apply before anything is written; --dry-run stops
    /// there. Waits at most 10 s to connect and 30 s for each answer;
    /// KSEC_CONNECT_TIMEOUT and KSEC_TIMEOUT (seconds) change that.
    ///
    /// With several environments (--env a --env b, or --all-envs) all are
    /// rendered and every cluster's pre-flight passes before the first
    /// write anywhere; then the clusters are written in parallel, each
    /// reported on its own.
    ///
    /// Examples:
    ///   KSEC_AGE_KEY="$CI_AGE_KEY" ksec apply --env prod --yes
    ///   ksec apply --env eu --env us --yes
    #[command(verbatim_doc_comment)]
    Apply(ApplyArgs),

    /// Run a command with a namespace's rendered Secret and ConfigMap keys
    ///
    /// Renders namespace NS of the environment as `ksec render` does and
    /// runs CMD with every data key of its Secrets and ConfigMaps as an
    /// environment variable (values decoded), on top of ksec's own
    /// environment (a key wins over a variable of the same name). With
    /// --secret / --configmap, only the objects named. A key two objects
    /// define is refused with both named; so is a key that is no valid
    /// variable name, or a binary value: use --files for those.
    ///
    /// With --files, nothing goes into the environment: each key becomes a
    /// file (0600) in a new private directory (0700) whose path is in
    /// KSEC_FILES_DIR and replaces every `{}` in ARGS. The directory is
    /// removed when the command ends, however it ends. Nothing else is
    /// written anywhere.
    ///
    /// SIGINT, SIGTERM and SIGHUP sent to ksec are passed on to the command
    /// (a Ctrl-C on the terminal reaches it directly, once). ksec exits
    /// with the command's exit status, 128+N when signal N ended it; its
    /// own exit codes only when the command could not be started.
    ///
    /// Examples:
    ///   ksec exec -n payments -- ./run-server --port 8080
    ///   ksec exec --env prod -n payments --secret db -- psql
    ///   ksec exec -n payments --files -- app --config {}/app.yaml
    #[command(verbatim_doc_comment)]
    Exec(ExecArgs),

    /// Remove one key from a SOPS file
    ///
    /// Example:
    ///   ksec unset namespaces/payments/db.enc.yaml OLD_TOKEN
    #[command(verbatim_doc_comment)]
    Unset(UnsetArgs),

    /// Onboard, list or remove team namespaces
    ///
    /// `add` writes the namespace into ksec.yaml (comments and order kept)
    /// with a starter ConfigMap source and a starter secret source already
    /// encrypted to its recipients. From then on `ksec render` includes the
    /// Namespace, quota, limits and RBAC from templates/, and `ksec apply`
    /// creates them, the Namespace first.
    ///
    /// Examples:
    ///   ksec namespace add search --owner-group search-devs -r search-team --quota cpu=4,pods=20
    ///   ksec namespace list
    #[command(subcommand, verbatim_doc_comment)]
    Namespace(NamespaceCommand),

    /// The guard: plaintext secrets in git, mis-keyed or broken encrypted files
    ///
    /// Looks at the files git tracks (or, with --staged, what is about to be
    /// committed) and lists every problem with its file, line and rule, never
    /// the value. Exit 11 when there is any.
    ///
    /// Example:
    ///   ksec check --staged
    #[command(verbatim_doc_comment)]
    Check(CheckArgs),

    /// Who can read each Secret: in git and in the cluster
    ///
    /// For each Secret of the environment (and each of its source files):
    /// the recipients that can decrypt its sources in git today, by their
    /// names in ksec.yaml, and every subject (User, Group, ServiceAccount)
    /// the cluster's RBAC lets get, list or watch it, read with your own
    /// rights. With --exposed, from the git history instead: each value
    /// still current that someone who no longer has access could once
    /// decrypt, and the command that rotates it. Never prints a value.
    ///
    /// Example:
    ///   ksec access --env prod -n payments
    #[command(verbatim_doc_comment)]
    Access(AccessArgs),

    /// Git hooks: a pre-commit hook that runs `ksec check --staged`
    ///
    /// Example:
    ///   ksec hook install
    #[command(subcommand, verbatim_doc_comment)]
    Hook(HookCommand),

    /// Who can decrypt what, across the repository
    ///
    /// Examples:
    ///   ksec recipients list
    ///   ksec recipients add age1... --name carol --group payments-team
    ///   ksec recipients remove bob --dry-run
    #[command(subcommand, verbatim_doc_comment)]
    Recipients(RecipientsCommand),

    /// Make every encrypted file's recipients match ksec.yaml
    ///
    /// A file that lacks recipients gets its data key wrapped for them (values
    /// unchanged); a file with recipients it should not have gets a new data
    /// key and every value re-encrypted. Safe to interrupt and rerun.
    ///
    /// Example:
    ///   ksec rekey --dry-run
    #[command(verbatim_doc_comment)]
    Rekey(RekeyArgs),

    /// Git integration: per-key diff and merge of encrypted files
    ///
    /// Example:
    ///   ksec git setup
    #[command(subcommand, verbatim_doc_comment)]
    Git(GitCommand),

    /// GitOps: what the cluster needs to decrypt the `render --gitops` tree
    ///
    /// Example:
    ///   ksec gitops bootstrap --env prod
    #[command(subcommand, verbatim_doc_comment)]
    Gitops(GitopsCommand),

    /// Print shell completions
    ///
    /// Examples:
    ///   ksec completions bash > /etc/bash_completion.d/ksec
    ///   ksec completions zsh > ~/.zfunc/_ksec
    #[command(verbatim_doc_comment)]
    Completions(CompletionsArgs),

    /// Print the man page (roff), or write one per command
    ///
    /// Examples:
    ///   ksec man > /usr/local/share/man/man1/ksec.1
    ///   ksec man --out /usr/local/share/man/man1    # ksec.1, ksec-apply.1, …
    #[command(verbatim_doc_comment)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write ksec.1 and a page per subcommand (ksec-namespace-add.1, …) into DIR
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Look at the git index only (what is about to be committed)
    #[arg(long)]
    pub staged: bool,

    /// Report the values older than their `rotateAfter` in ksec.yaml (age
    /// from the source's git history, else its `lastmodified`)
    #[arg(long)]
    pub rotation: bool,

    /// Report the certificates of every Secret (kubernetes.io/tls, PEM
    /// values) that expire within DURATION (`30d`, `4w`, `72h`) or have
    /// expired; exit 11 when any. Needs an identity
    #[arg(long, value_name = "DURATION", conflicts_with = "staged")]
    pub expiring_within: Option<String>,

    /// Print `text`, `json` or `yaml`
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Only this Secret
    #[arg(long, value_name = "NAME")]
    pub secret: Option<String>,

    /// Kubeconfig context (default: the environment's, else the current one)
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,

    /// From the git history: each value still current that a recipient who
    /// has since lost access could decrypt, and how to rotate it
    #[arg(long)]
    pub exposed: bool,

    /// Print `text` (the tables; `table` is the same), `json` or `yaml`
    #[arg(short = 'o', long, value_parser = access_output(), default_value = "text")]
    pub output: OutputFormat,
}

/// `-o` of `ksec access`: the [`OutputFormat`] values, with `table` as
/// another name of `text` (as the issue names it).
fn access_output() -> impl clap::builder::TypedValueParser<Value = OutputFormat> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("text").alias("table"),
        PossibleValue::new("json"),
        PossibleValue::new("yaml"),
    ])
    .map(|s| match s.as_str() {
        "json" => OutputFormat::Json,
        "yaml" => OutputFormat::Yaml,
        _ => OutputFormat::Text,
    })
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Write a git pre-commit hook that runs `ksec check --staged`
    ///
    /// Refuses to replace a pre-commit hook that ksec did not write, unless --force.
    ///
    /// Example:
    ///   ksec hook install
    #[command(verbatim_doc_comment)]
    Install(HookInstallArgs),
}

#[derive(Debug, Args)]
pub struct HookInstallArgs {
    /// Replace an existing pre-commit hook that ksec did not write
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum GitopsCommand {
    /// Give the cluster of an environment its decryption Secrets
    ///
    /// For every namespace of the environment, the Secret its Flux
    /// Kustomization decrypts with (`sops-age`, or `sops-age-NAMESPACE` for a
    /// namespace with its own team key) holding the private key in the data
    /// entry `ENV.agekey`, annotated with its public key (`ksec.dev/recipient`).
    /// Generates what is missing: the environment's key when it has no
    /// recipient, a team key for an onboarded namespace without
    /// `clusterKeys.ENV` (teamKeys); their public keys go into ksec.yaml. A
    /// recorded key whose private half is in no Secret of the environment
    /// needs --key-file. Proves every permission first (get, create, patch
    /// secrets; exit 7 and no write at all otherwise), writes the cluster
    /// with server-side apply, then ksec.yaml. A protected environment asks
    /// first; without a terminal it needs --yes. A re-run writes nothing. A
    /// run interrupted between the cluster and ksec.yaml (killed, or
    /// ksec.yaml not writable) is finished by a re-run: it records the key
    /// ksec's annotated Secret holds and generates no other. No private key
    /// is printed or written to a file.
    ///
    /// Examples:
    ///   ksec gitops bootstrap --env prod
    ///   ksec gitops bootstrap --env prod --key-file prod-cluster.agekey
    ///   ksec gitops bootstrap --env prod --output json
    #[command(verbatim_doc_comment)]
    Bootstrap(BootstrapArgs),
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// The environment whose cluster gets its decryption Secrets
    #[arg(long, value_name = "ENV")]
    pub env: String,

    /// Kubeconfig context (default: the environment's)
    #[arg(long)]
    pub context: Option<String>,

    /// An age identity file holding the private key of a recorded recipient
    /// that no Secret in the cluster holds yet
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Do not ask before writing to a protected environment's cluster (for CI)
    #[arg(long)]
    pub yes: bool,

    /// Print `text` (a line per namespace), `json`, `yaml`, or `name`
    /// (`secret/NAME` for each decryption Secret, written or already in
    /// place, as `kubectl apply -o name`)
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Text)]
    pub output: ListFormat,
}

#[derive(Debug, Subcommand)]
pub enum RecipientsCommand {
    /// Who can read which namespace
    ///
    /// Examples:
    ///   ksec recipients list
    ///   ksec recipients list -n payments -o name
    ///   ksec recipients list --output json
    #[command(verbatim_doc_comment)]
    List(RecipientsListArgs),

    /// Add a recipient and re-wrap the data keys of the files it may now read
    ///
    /// Values are unchanged: the diff of each file is its `sops:` block only.
    ///
    /// Examples:
    ///   ksec recipients add age1... --name carol --group payments-team
    ///   ksec recipients add age1... --name ci-prod -n payments --dry-run
    #[command(verbatim_doc_comment)]
    Add(RecipientsAddArgs),

    /// Remove a recipient everywhere; rotate the data keys it knew
    ///
    /// Every file it could read gets a new data key and re-encrypted values,
    /// then ksec lists the secrets it could read, to rotate at their source.
    ///
    /// Examples:
    ///   ksec recipients remove bob --dry-run
    ///   ksec recipients remove bob
    #[command(verbatim_doc_comment)]
    Remove(RecipientsRemoveArgs),
}

#[derive(Debug, Args)]
pub struct RecipientsListArgs {
    /// Only the recipients who can read this namespace (repeatable), with
    /// only the namespaces named
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,

    /// Every namespace (the default without -n)
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub all_namespaces: bool,

    /// Print `text` (a table), `json`, `yaml`, or `name` (a
    /// `recipient/NAME` line per recipient of ksec.yaml)
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Text)]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["group", "namespaces", "all"])))]
pub struct RecipientsAddArgs {
    /// The public key: `age1…` or an SSH public key
    pub key: String,

    /// Its name in ksec.yaml
    #[arg(long)]
    pub name: String,

    /// Add it to this group
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,

    /// Add it to these namespaces' recipients
    #[arg(long = "namespace", short = 'n', value_name = "NS")]
    pub namespaces: Vec<String>,

    /// Add it to every namespace
    #[arg(short = 'A', long, visible_alias = "all-namespaces")]
    pub all: bool,

    /// List what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RecipientsRemoveArgs {
    /// The recipient's name in ksec.yaml
    pub name: String,

    /// List what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// List what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum GitCommand {
    /// Configure this repository's diff and merge drivers for encrypted files
    ///
    /// Example:
    ///   ksec git setup
    #[command(verbatim_doc_comment)]
    Setup,

    /// Print an encrypted file for `git diff`: decrypted when an identity can, else keys with value digests
    ///
    /// Git runs it for you after `ksec git setup`.
    ///
    /// Example:
    ///   ksec git textconv namespaces/payments/db.enc.yaml
    #[command(verbatim_doc_comment)]
    Textconv(TextconvArgs),

    /// Three-way merge of an encrypted file, per key (git's merge driver: %O %A %B %P)
    ///
    /// Git runs it for you after `ksec git setup`.
    ///
    /// Example:
    ///   git config merge.ksec.driver 'ksec git merge %O %A %B %P'
    #[command(verbatim_doc_comment)]
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct TextconvArgs {
    /// The file git passes
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The common ancestor (%O)
    pub base: PathBuf,
    /// Ours (%A); the result is written here
    pub ours: PathBuf,
    /// Theirs (%B)
    pub theirs: PathBuf,
    /// The path in the repository (%P)
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    /// Add a team namespace to the project
    ///
    /// On a terminal, with no --owner-group, it asks for the owner group, a
    /// quota and the recipients. Without a terminal, --owner-group and
    /// --recipient are required.
    ///
    /// Example:
    ///   ksec namespace add search --owner-group search-devs --recipient search-team --env prod
    #[command(verbatim_doc_comment)]
    Add(NamespaceAddArgs),

    /// List the project's namespaces
    ///
    /// Examples:
    ///   ksec namespace list
    ///   ksec namespace list --output json
    #[command(verbatim_doc_comment)]
    List(NamespaceListArgs),

    /// Remove a namespace from the project
    ///
    /// Its sources stay unless --delete-sources. The cluster namespace is
    /// deleted only by `ksec apply --prune`, after a confirmation that names it.
    ///
    /// Example:
    ///   ksec namespace remove search --delete-sources
    #[command(verbatim_doc_comment)]
    Remove(NamespaceRemoveArgs),
}

#[derive(Debug, Args)]
pub struct NamespaceAddArgs {
    /// The namespace: a DNS-1123 label, at most 63 characters
    pub name: String,

    /// A group that owns the namespace (gets the team-owners Role); repeatable
    #[arg(long, value_name = "GROUP")]
    pub owner_group: Vec<String>,

    /// A recipient or group name from ksec.yaml who may decrypt its secrets; repeatable
    #[arg(long, short = 'r', value_name = "NAME")]
    pub recipient: Vec<String>,

    /// Hard limits of its ResourceQuota, like cpu=4,memory=8Gi,pods=20
    #[arg(long, value_name = "NAME=QUANTITY,...")]
    pub quota: Option<String>,

    /// An environment it exists in (default: all); repeatable
    #[arg(long, value_name = "ENV")]
    pub env: Vec<String>,

    /// Pod Security level enforced in it (default: baseline)
    #[arg(long, value_name = "LEVEL", value_parser = ["privileged", "baseline", "restricted"])]
    pub pod_security: Option<String>,

    /// Add a default-deny ingress NetworkPolicy
    #[arg(long)]
    pub default_deny: bool,
}

#[derive(Debug, Args)]
pub struct NamespaceListArgs {
    /// Print `text` (a table), `json`, `yaml`, or `name` (`namespace/NAME` lines, as kubectl)
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Text)]
    pub output: ListFormat,
}

/// `text` for people; `json` or `yaml` (the same data) for machines; `name`
/// for a `kind/name` line per object, as `kubectl … -o name` prints them.
/// Only commands that list objects (or named things) take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
    Yaml,
    Name,
}

#[derive(Debug, Args)]
pub struct NamespaceRemoveArgs {
    /// The namespace
    pub name: String,

    /// Also delete its source folder (encrypted and plain sources)
    #[arg(long)]
    pub delete_sources: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Project name (default: the directory's name)
    #[arg(long)]
    pub name: Option<String>,

    /// A first recipient, as NAME=KEY (KEY is `age1…` or an SSH public key)
    #[arg(long, value_name = "NAME=KEY")]
    pub recipient: Vec<String>,

    /// Regenerate `.sops.yaml` from an existing `ksec.yaml`
    #[arg(long)]
    pub refresh: bool,

    /// Propose the namespaces and recipients from the repository's own
    /// `.sops.yaml` (its creation rules), and say which rules do not carry
    /// over; `.sops.yaml` is left as it is
    #[arg(long, conflicts_with = "refresh")]
    pub from_sops: bool,

    /// Directory to initialise (default: the working directory)
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write the identity to FILE (refuses to overwrite)
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "keyring",
        required_unless_present = "keyring"
    )]
    pub out: Option<PathBuf>,

    /// Store the identity in the OS keyring (service `ksec`)
    #[arg(long)]
    pub keyring: bool,

    /// Print `text` (the recipient), `json` or `yaml`
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Print `text`, `json` or `yaml`
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `text` for people; `json` or `yaml` (the same data) for machines. For
/// the commands that list no objects (`name` is refused there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The plaintext file
    pub file: PathBuf,

    /// Encrypt to this recipient (repeatable): `age1…` or an SSH public key,
    /// or a recipient or group name from ksec.yaml
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Write the encrypted file here instead of stdout
    #[arg(long, value_name = "FILE", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,

    /// Replace FILE with its encrypted form
    #[arg(short = 'i', long)]
    pub in_place: bool,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The SOPS file
    pub file: PathBuf,

    /// Write the plaintext here (mode 0600) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// The SOPS file
    pub file: PathBuf,
}

#[derive(Args)]
pub struct SetArgs {
    /// The SOPS file
    pub file: PathBuf,
    /// The key: a top-level key or a sops-style path like '["a"]["b"]'
    pub key: String,
    /// The value (omit it to be prompted, or to read stdin)
    pub value: Option<String>,
    /// Store an empty value (otherwise an empty value or empty input is refused)
    #[arg(long)]
    pub allow_empty: bool,
    /// Store a fresh random value from the OS random source, never shown
    #[arg(long, conflicts_with_all = ["value", "allow_empty"])]
    pub generate: bool,
    /// With --generate: the value's length in characters (default 32, at most 4096)
    #[arg(long, requires = "generate", value_name = "N")]
    pub length: Option<usize>,
    /// With --generate: `alnum` (default), `hex`, `base64url`, `ascii`
    /// (printable, no space), or the characters to draw from, like `abc123`
    #[arg(long, requires = "generate", value_name = "CHARSET")]
    pub charset: Option<String>,
}

/// The value given on the command line is a secret: `Debug` never shows it.
impl std::fmt::Debug for SetArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetArgs")
            .field("file", &self.file)
            .field("key", &self.key)
            .field("value", &self.value.as_ref().map(|_| "[redacted]"))
            .field("allow_empty", &self.allow_empty)
            .field("generate", &self.generate)
            .field("length", &self.length)
            .field("charset", &self.charset)
            .finish()
    }
}

/// Which environment and namespaces a command works on.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The environment (required when the project has several)
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,

    /// Only this namespace (repeatable)
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,

    /// Every namespace of the environment (the default without -n)
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub all_namespaces: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Write one file per namespace into DIR (mode 0600) instead of stdout
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// yaml (multi-document), json (a v1 List), or name (`kind/name`
    /// lines, as `kubectl get -o name`)
    #[arg(short = 'o', long, value_enum, default_value_t = ManifestFormat::Yaml)]
    pub output: ManifestFormat,

    /// Write a GitOps tree for Flux into DIR: per namespace a kustomize
    /// folder, each Secret SOPS-encrypted to the environment's recipients
    /// (and the namespace's), and Flux Kustomizations; unchanged values
    /// keep their bytes
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub gitops: Option<PathBuf>,

    /// With --gitops: every environment of the project
    #[arg(long, requires = "gitops", conflicts_with = "env")]
    pub all_envs: bool,

    /// With --gitops: the Flux GitRepository (in flux-system) the
    /// Kustomizations read
    #[arg(
        long,
        value_name = "NAME",
        requires = "gitops",
        default_value = "flux-system"
    )]
    pub gitops_source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ManifestFormat {
    Yaml,
    Json,
    Name,
}

/// Which environments (each its own cluster) and namespaces `diff` and
/// `apply` work on.
#[derive(Debug, Args)]
pub struct EnvsArgs {
    /// The environment (required when the project has several); repeat it
    /// to work on several clusters at once
    #[arg(long, value_name = "ENV")]
    pub env: Vec<String>,

    /// Every environment of ksec.yaml, each on its own cluster
    #[arg(long, conflicts_with = "env")]
    pub all_envs: bool,

    /// Only this namespace (repeatable)
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,

    /// Every namespace of the environment (the default without -n)
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub all_namespaces: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub target: EnvsArgs,

    /// Kubeconfig context (default: the environment's, else the current one)
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,

    /// Also show what `ksec apply --prune` would delete: objects this
    /// project manages that are no longer rendered (without it they are
    /// only counted on stderr, and are no difference)
    #[arg(long)]
    pub prune: bool,

    /// Print the differences as `text`, `json` or `yaml` (cluster, namespace,
    /// object and key; never a value), or `name`: a `kind/name` line per
    /// object that differs, as kubectl prints names (`ENV/kind/name` with
    /// several environments)
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Text)]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: EnvsArgs,

    /// Kubeconfig context (default: the environment's, else the current one)
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,

    /// Server-side dry run: the server validates, nothing persists
    #[arg(long)]
    pub dry_run: bool,

    /// Delete objects this project manages that are no longer rendered
    /// (a namespace too, when the whole project is applied: after you
    /// confirm its name on a terminal, or name it with --delete-namespace)
    #[arg(long)]
    pub prune: bool,

    /// Confirm that --prune may delete this namespace and everything in it
    #[arg(long, value_name = "NAME", requires = "prune")]
    pub delete_namespace: Vec<String>,

    /// Take over fields another field manager owns
    #[arg(long)]
    pub force_conflicts: bool,

    /// Do not ask for confirmation in a protected environment
    #[arg(long)]
    pub yes: bool,

    /// Print the permission table and stop
    #[arg(long)]
    pub check_access: bool,

    /// Print the summary as `text`, `json` or `yaml`, or `name`: a
    /// `kind/name` line per object applied (created, updated or unchanged)
    /// and then per object pruned, as `kubectl apply --prune -o name`
    /// (`ENV/kind/name` with several environments)
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Text)]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The environment (required when the project has several)
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,

    /// The namespace whose keys the command gets
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    pub namespace: String,

    /// Only this Secret (the name in ksec.yaml, or the rendered one); repeatable
    #[arg(long, value_name = "NAME")]
    pub secret: Vec<String>,

    /// Only this ConfigMap (the name in ksec.yaml, or the rendered one); repeatable
    #[arg(long, value_name = "NAME")]
    pub configmap: Vec<String>,

    /// Write the keys as files into a private temporary directory instead
    /// (its path in KSEC_FILES_DIR and in place of `{}` in ARGS)
    #[arg(long)]
    pub files: bool,

    /// The command and its arguments, after `--`
    #[arg(value_name = "CMD", required = true, last = true, num_args = 1..)]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// The SOPS file
    pub file: PathBuf,
    /// The key: a top-level key or a sops-style path like '["a"]["b"]'
    pub key: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[test]
    fn debug_of_a_set_command_hides_the_value() {
        let cli = super::Cli::parse_from(["ksec", "set", "a.enc.yaml", "password", "hunter2"]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("password") && shown.contains("[redacted]"),
            "{shown}"
        );
    }
}
