//! `ksec render` against the real `kubectl` (1.32, kustomize built in).
//!
//! Proven here, each by running both tools on the same inputs:
//! - env files parse exactly as `kubectl create configmap --from-env-file`
//!   (BOM, comments, blank lines, leading whitespace, `=` in values, quotes,
//!   trailing spaces, CRLF, empty and unicode values, `.`/`-`/`_` keys), and a
//!   line kubectl rejects is rejected with its file and line;
//! - `files:` (plain names, `key=path`, text with and without a final
//!   newline, a BOM, CRLF, an empty file, non-UTF-8 bytes → `binaryData`) and
//!   `literals:` give kubectl's `data`/`binaryData`;
//! - Opaque Secrets from encrypted YAML and dotenv sources, TLS Secrets and
//!   docker-registry Secrets (Go's HTML-safe JSON escaping included) give
//!   kubectl's `type` and byte-identical base64 `data`;
//! - content-hash names equal what `kubectl kustomize` gives a
//!   `configMapGenerator`/`secretGenerator` with the same data and type;
//! - rendering twice gives the same bytes.
//!
//! - data keys kubectl refuses (`..x`, longer than 253) are refused too;
//! - names stay equal to kustomize's when it wraps long base64 values
//!   (52 bytes or more) at 70 columns, which it hashes with the line breaks.
//!
//! kubectl is required: every test fails (never skips) when it is missing.

use crate::common;

use common::{Key, canary, ksec_with, run_ok, which};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A project `t` with one namespace `ns`, its key, a HOME, and a scratch
/// folder for plaintext outside the project.
struct Fixture {
    tmp: TempDir,
    key: Key,
}

impl Fixture {
    /// `objects` is YAML for the namespace (`configMaps:`, `secrets:`),
    /// written at column 0; it is indented into place.
    fn new(objects: &str) -> Fixture {
        let tmp = TempDir::new().unwrap();
        let key = Key::new(tmp.path(), "key");
        for dir in ["p/namespaces/ns", "home", "plain", "kust"] {
            std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        }
        let mut yaml = format!(
            "version: 1\nproject: t\nrecipients:\n  me: {}\nnamespaces:\n  ns:\n    recipients: [me]\n",
            key.recipient
        );
        for line in objects.lines() {
            yaml.push_str(&format!("    {line}\n"));
        }
        std::fs::write(tmp.path().join("p/ksec.yaml"), yaml).unwrap();
        Fixture { tmp, key }
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("p")
    }

    /// The namespace's source folder.
    fn ns(&self) -> PathBuf {
        self.root().join("namespaces/ns")
    }

    /// Plaintext outside the project (kubectl's inputs, secret plaintext).
    fn plain(&self) -> PathBuf {
        self.tmp.path().join("plain")
    }

    /// A folder for a kustomization.yaml.
    fn kust(&self) -> PathBuf {
        self.tmp.path().join("kust")
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    /// The same bytes into the namespace folder, `plain/` and `kust/`.
    fn source(&self, name: &str, bytes: &[u8]) {
        for dir in [self.ns(), self.plain(), self.kust()] {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }

    /// Write `plain/<name>` and encrypt it to `namespaces/ns/<enc>`.
    fn encrypted(&self, name: &str, text: &str, enc: &str) {
        let plain = self.plain().join(name);
        std::fs::write(&plain, text).unwrap();
        ksec_with(&self.home(), &self.key)
            .arg("encrypt")
            .args(["-r", &self.key.recipient])
            .arg(&plain)
            .arg("--output")
            .arg(self.ns().join(enc))
            .assert()
            .success();
    }

    fn render(&self, format: &str) -> std::process::Output {
        ksec_with(&self.home(), &self.key)
            .expect_secret_output()
            .arg("render")
            .arg("--project")
            .arg(self.root())
            .args(["--output", format])
            .output()
            .unwrap()
    }

    /// `ksec render --output json`, asserting success; the List's items.
    fn render_items(&self) -> Vec<Value> {
        let out = self.render("json");
        assert!(
            out.status.success(),
            "ksec render failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(list["kind"], "List");
        list["items"].as_array().unwrap().clone()
    }

    /// `kubectl ARGS --dry-run=client -o json`, run in `plain/`.
    fn kubectl_create(&self, args: &[&str]) -> Value {
        let mut cmd = self.kubectl(&self.plain());
        cmd.args(args).args(["--dry-run=client", "-o", "json"]);
        serde_json::from_str(&run_ok(&mut cmd)).unwrap()
    }

    /// `kubectl kustomize kust/` for `kustomization` (YAML), as JSON values.
    fn kustomize(&self, kustomization: &str) -> Vec<Value> {
        std::fs::write(self.kust().join("kustomization.yaml"), kustomization).unwrap();
        let mut cmd = self.kubectl(&self.kust());
        cmd.arg("kustomize").arg(self.kust());
        // go-yaml (YAML 1.1) writes U+2028 as a line break and indents what
        // follows; a YAML 1.2 parser would keep that indentation as content
        let text = run_ok(&mut cmd).replace("\u{2028}    ", "\u{2028}");
        serde_saphyr::from_multiple::<Value>(&text).unwrap()
    }

    /// `kubectl ARGS --dry-run=client` must fail.
    fn assert_kubectl_refuses(&self, args: &[&str]) {
        let out = self
            .kubectl(&self.plain())
            .args(args)
            .args(["--dry-run=client", "-o", "json"])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "kubectl accepted {args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    fn kubectl(&self, cwd: &Path) -> Command {
        let bin = which("kubectl")
            .expect("kubectl is not on PATH: these tests compare ksec with kubectl and never skip");
        let mut cmd = Command::new(bin);
        cmd.current_dir(cwd)
            .env("HOME", self.home())
            .env_remove("KUBECONFIG");
        cmd
    }
}

/// The object of `kind` named `name`, or `name-<10-char hash>`.
fn object<'a>(items: &'a [Value], kind: &str, name: &str) -> &'a Value {
    items
        .iter()
        .find(|o| {
            let n = o["metadata"]["name"].as_str().unwrap_or_default();
            o["kind"] == kind
                && (n == name
                    || n.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|hash| hash.len() == 10))
        })
        .unwrap_or_else(|| panic!("no {kind} {name} in {items:#?}"))
}

/// `data`, `binaryData` and `type` of two objects must be equal; `what`
/// names the comparison in the failure.
fn assert_same_payload(ksec: &Value, other: &Value, what: &str) {
    for field in ["data", "binaryData", "type"] {
        assert_eq!(
            ksec[field], other[field],
            "{what}: `{field}` differs\nksec:  {}\nother: {}",
            ksec[field], other[field]
        );
    }
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A YAML document of double-quoted scalars (JSON strings are valid YAML).
fn yaml_strings(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            // DEL is not printable in YAML: escape it as serde_json does not
            let quoted = serde_json::to_string(v)
                .unwrap()
                .replace('\u{7f}', "\\u007f");
            format!("{k}: {quoted}\n")
        })
        .collect()
}

/// `head` followed by `--from-literal=K=V` for each pair.
fn with_literals(head: &[&str], pairs: &[(&str, &str)]) -> Vec<String> {
    let literals = pairs.iter().map(|(k, v)| format!("--from-literal={k}={v}"));
    head.iter().map(|s| s.to_string()).chain(literals).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A self-signed certificate and its key, as openssl writes them.
fn tls_pair(dir: &Path) -> (String, String) {
    let openssl = which("openssl").expect("openssl is not on PATH");
    run_ok(
        Command::new(openssl)
            .current_dir(dir)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=t", "-keyout", "tls.key", "-out", "tls.crt"]),
    );
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
    (read("tls.crt"), read("tls.key"))
}

/// `key: |` followed by `text` (which must end in one newline) indented.
fn literal_block(key: &str, text: &str) -> String {
    assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
    let mut out = format!("{key}: |\n");
    for line in text.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

// ---------------------------------------------------------------------------
// Env files
// ---------------------------------------------------------------------------

const ENV_EDGE_CASES: &[u8] = b"\xef\xbb\xbfFIRST=after a BOM\n\
# a comment\n\
\n\
\x20\x20 \n\
\t\n\
\x20 # an indented comment\n\
\x20 LEADING=spaces before the key are dropped\n\
\tTABBED=a tab before the key\n\
\xc2\xa0\xe3\x80\x80\x0b\x0cUNICODE_SPACE=NBSP, ideographic space, VT, FF before the key\n\
EQUALS=a=b==c\n\
DQUOTED=\"double quotes kept\"\n\
SQUOTED='single quotes kept'\n\
TRAILING=trailing spaces kept   \n\
CRLF=windows line\r\n\
CRLF_SPACES=  both sides  \r\n\
\r\n\
EMPTY=\n\
SPACE_ONLY= \n\
UNICODE=caf\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x91\n\
HASH=value # not a comment\n\
BACKSLASH=a\\nb\\tc\n\
MID_CR=a\rb\n\
export=x\n\
key.with.dots=1\n\
key-with-dashes=2\n\
key_with_underscores=3\n\
_leading_underscore=4\n\
-leading-dash=5\n\
.leading.dot=6\n\
MiXeD.c-a_s3=7\n\
LAST=no newline at the end";

#[test]
fn env_file_edge_cases_parse_as_kubectl_parses_them() {
    let fx = Fixture::new(
        "configMaps:\n  - name: env\n    hashSuffix: false\n    envFiles: [edge.env]\n",
    );
    fx.source("edge.env", ENV_EDGE_CASES);
    let items = fx.render_items();
    let ksec = object(&items, "ConfigMap", "env");
    let kubectl = fx.kubectl_create(&["create", "configmap", "env", "--from-env-file=edge.env"]);
    assert_eq!(ksec["metadata"]["name"], kubectl["metadata"]["name"]);
    assert_same_payload(ksec, &kubectl, "--from-env-file");
    // guard against both tools agreeing on nothing
    assert_eq!(kubectl["data"]["FIRST"], "after a BOM");
    assert_eq!(kubectl["data"]["CRLF_SPACES"], "  both sides  ");
    assert_eq!(kubectl["data"].as_object().unwrap().len(), 25);
}

#[test]
fn env_file_lines_kubectl_rejects_fail_the_render_with_file_and_line() {
    let fx = Fixture::new(
        "configMaps:\n\
         \x20 - name: spaced\n    envFiles: [spaced.env]\n\
         \x20 - name: digit\n    envFiles: [digit.env]\n",
    );
    fx.source("spaced.env", b"# first\nOK=1\nbad line\n");
    fx.source("digit.env", b"A=1\n\nB=2\r\n1A=value-41\n");
    for file in ["spaced.env", "digit.env"] {
        fx.assert_kubectl_refuses(&[
            "create",
            "configmap",
            "x",
            &format!("--from-env-file={file}"),
        ]);
    }
    let out = fx.render("json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing is rendered on a problem");
    for at in ["namespaces/ns/spaced.env:3", "namespaces/ns/digit.env:4"] {
        assert!(stderr.contains(at), "stderr does not name {at}:\n{stderr}");
    }
    assert!(
        !stderr.contains("value-41"),
        "stderr shows a value:\n{stderr}"
    );
}

/// kubectl (and the API server) refuse data keys that start with `..` or
/// are longer than 253 characters, even though they match `[-._a-zA-Z0-9]+`.
#[test]

fn data_keys_kubectl_rejects_fail_the_render() {
    let long = "K".repeat(254);
    let fx = Fixture::new(
        "configMaps:\n\
         \x20 - name: dotdot-env\n    envFiles: [dotdot.env]\n\
         \x20 - name: long-env\n    envFiles: [long.env]\n\
         \x20 - name: dotdot-literal\n    literals: {..lit: x}\n\
         secrets:\n\
         \x20 - name: dotdot-secret\n    sources: [s.enc.yaml]\n",
    );
    fx.source("dotdot.env", b"..x=1\n");
    fx.source("long.env", format!("{long}=1\n").as_bytes());
    fx.encrypted("s.yaml", "..sec: x\n", "s.enc.yaml");
    for args in [
        vec!["create", "configmap", "x", "--from-env-file=dotdot.env"],
        vec!["create", "configmap", "x", "--from-env-file=long.env"],
        vec!["create", "configmap", "x", "--from-literal=..lit=x"],
        vec!["create", "secret", "generic", "x", "--from-literal=..sec=x"],
    ] {
        fx.assert_kubectl_refuses(&args);
    }
    let out = fx.render("json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(6),
        "ksec rendered keys kubectl rejects:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for object in [
        "ns/ConfigMap/dotdot-env",
        "ns/ConfigMap/long-env",
        "ns/ConfigMap/dotdot-literal",
        "ns/Secret/dotdot-secret",
    ] {
        assert!(
            stderr.contains(object),
            "no problem for {object}:\n{stderr}"
        );
    }
}

// ---------------------------------------------------------------------------
// Files and literals
// ---------------------------------------------------------------------------

const BINARY: &[u8] = &[0xff, 0xfe, 0x00, 0x01, 0x80, b'k', b'\n', 0xc3];

#[test]
fn files_give_kubectls_data_and_binary_data() {
    let fx = Fixture::new(
        "configMaps:\n\
         \x20 - name: files\n\
         \x20   hashSuffix: false\n\
         \x20   files:\n\
         \x20     - nginx.conf\n\
         \x20     - no-newline.txt\n\
         \x20     - app.yaml=app-config.yaml\n\
         \x20     - conf/nested.ini\n\
         \x20     - bom.txt\n\
         \x20     - crlf.txt\n\
         \x20     - empty.txt\n\
         \x20     - blob.bin\n\
         \x20     - renamed.bin=blob2.dat\n",
    );
    fx.source(
        "nginx.conf",
        b"server {\n  listen 80;\n  location / { return 200 \"ok <&>\"; }\n}\n",
    );
    fx.source("no-newline.txt", "unicode \u{2028} ✓ no newline".as_bytes());
    fx.source("app-config.yaml", b"a: 1\nb:\n  - x\n\n");
    fx.source("conf/nested.ini", b"[s]\nk = v\t\n");
    fx.source("bom.txt", b"\xef\xbb\xbfwith a BOM\n");
    fx.source("crlf.txt", b"one\r\ntwo\r\n");
    fx.source("empty.txt", b"");
    fx.source("blob.bin", BINARY);
    fx.source("blob2.dat", &[0x00, 0x9f, 0x92, 0x96]);
    let items = fx.render_items();
    let ksec = object(&items, "ConfigMap", "files");
    let kubectl = fx.kubectl_create(&[
        "create",
        "configmap",
        "files",
        "--from-file=nginx.conf",
        "--from-file=no-newline.txt",
        "--from-file=app.yaml=app-config.yaml",
        "--from-file=conf/nested.ini",
        "--from-file=bom.txt",
        "--from-file=crlf.txt",
        "--from-file=empty.txt",
        "--from-file=blob.bin",
        "--from-file=renamed.bin=blob2.dat",
    ]);
    assert_same_payload(ksec, &kubectl, "--from-file");
    assert_eq!(kubectl["binaryData"]["blob.bin"], "//4AAYBrCsM=");
    assert_eq!(kubectl["data"].as_object().unwrap().len(), 7);
}

#[test]
fn literals_give_kubectls_data() {
    let fx = Fixture::new(
        "configMaps:\n\
         \x20 - name: lit\n\
         \x20   hashSuffix: false\n\
         \x20   literals:\n\
         \x20     EQUALS: \"a=b = c==\"\n\
         \x20     SPACES: \"  spaced  out  \"\n\
         \x20     EMPTY: \"\"\n\
         \x20     QUOTES: \"'single' \\\"double\\\"\"\n\
         \x20     UNICODE: \"café ✓ \\u2028 🔑\"\n\
         \x20     MULTI: \"line one\\nline two\\n\"\n\
         \x20     HTML: \"<a href='x'>&amp;</a>\"\n\
         \x20     PORT: 8080\n\
         \x20     RATIO: 1.10\n\
         \x20     OCTAL: 0755\n\
         \x20     YES: yes\n\
         \x20     key.with-dots_x: v\n",
    );
    let items = fx.render_items();
    let ksec = object(&items, "ConfigMap", "lit");
    let pairs = [
        ("EQUALS", "a=b = c=="),
        ("SPACES", "  spaced  out  "),
        ("EMPTY", ""),
        ("QUOTES", "'single' \"double\""),
        ("UNICODE", "café ✓ \u{2028} 🔑"),
        ("MULTI", "line one\nline two\n"),
        ("HTML", "<a href='x'>&amp;</a>"),
        ("PORT", "8080"),
        ("RATIO", "1.10"),
        ("OCTAL", "0755"),
        ("YES", "yes"),
        ("key.with-dots_x", "v"),
    ];
    let args = with_literals(&["create", "configmap", "lit"], &pairs);
    let kubectl = fx.kubectl_create(&strs(&args));
    assert_same_payload(ksec, &kubectl, "--from-literal");
    assert_eq!(kubectl["data"].as_object().unwrap().len(), pairs.len());
}

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

#[test]
fn opaque_secrets_from_encrypted_yaml_and_dotenv_give_kubectls_data() {
    let fx = Fixture::new(
        "secrets:\n\
         \x20 - name: from-yaml\n    hashSuffix: false\n    sources: [a.enc.yaml]\n\
         \x20 - name: from-env\n    hashSuffix: false\n    sources: [b.enc.env]\n",
    );
    let yaml = "password: \"p@ss=word with  spaces \"\n\
                multi: |\n  line one\n    indented two\n  line three\n\
                strip: |-\n  no\n  final newline\n\
                unicode: \"café ✓ 日本 \\u2028 🔑\"\n\
                equals: a=b=c\n\
                html: \"<&>\\\"'\"\n\
                empty: \"\"\n\
                port: 5432\n\
                flag: true\n\
                json: '{\"a\": [1, 2]}'\n\
                tab: \"a\\tb\"\n";
    let secret = canary("password");
    let yaml = yaml.replace("p@ss", &secret);
    let password = format!("{secret}=word with  spaces ");
    fx.encrypted("a.yaml", &yaml, "a.enc.yaml");
    let dotenv = "# a comment, not a key\n\
                  URL=postgres://u:p@h:5432/db?sslmode=require&x=<y>\n\
                  EQUALS=a=b==c\n\
                  NEWLINE=first\\nsecond\n\
                  UNICODE=ü ✓ 🔑\n\
                  QUOTED=\"kept\"\n\
                  SPACES= lead and trail  \n\
                  EMPTY=\n";
    let url = format!(
        "postgres://u:{}@h:5432/db?sslmode=require&x=<y>",
        canary("url")
    );
    let dotenv = dotenv.replace("postgres://u:p@h:5432/db?sslmode=require&x=<y>", &url);
    fx.encrypted("b.env", &dotenv, "b.enc.env");
    let items = fx.render_items();

    let yaml_pairs = [
        ("password", password.as_str()),
        ("multi", "line one\n  indented two\nline three\n"),
        ("strip", "no\nfinal newline"),
        ("unicode", "café ✓ 日本 \u{2028} 🔑"),
        ("equals", "a=b=c"),
        ("html", "<&>\"'"),
        ("empty", ""),
        ("port", "5432"),
        ("flag", "true"),
        ("json", "{\"a\": [1, 2]}"),
        ("tab", "a\tb"),
    ];
    let args = with_literals(
        &["create", "secret", "generic", "from-yaml", "--type=Opaque"],
        &yaml_pairs,
    );
    let kubectl = fx.kubectl_create(&strs(&args));
    assert_same_payload(
        object(&items, "Secret", "from-yaml"),
        &kubectl,
        "YAML source",
    );
    assert_eq!(kubectl["type"], "Opaque");

    // sops dotenv: `\n` in a value is a newline once decrypted
    let env_pairs = [
        ("URL", url.as_str()),
        ("EQUALS", "a=b==c"),
        ("NEWLINE", "first\nsecond"),
        ("UNICODE", "ü ✓ 🔑"),
        ("QUOTED", "\"kept\""),
        ("SPACES", " lead and trail  "),
        ("EMPTY", ""),
    ];
    let args = with_literals(
        &["create", "secret", "generic", "from-env", "--type=Opaque"],
        &env_pairs,
    );
    let kubectl = fx.kubectl_create(&strs(&args));
    assert_same_payload(
        object(&items, "Secret", "from-env"),
        &kubectl,
        "dotenv source",
    );
    assert_eq!(kubectl["data"]["NEWLINE"], b64("first\nsecond"));
}

#[test]
fn tls_secret_gives_kubectls_data_and_type() {
    let fx = Fixture::new(
        "secrets:\n  - name: tls\n    type: kubernetes.io/tls\n    hashSuffix: false\n    sources: [tls.enc.yaml]\n",
    );
    let (crt, key) = tls_pair(&fx.plain());
    let source = format!(
        "{}{}",
        literal_block("tls.crt", &crt),
        literal_block("tls.key", &key)
    );
    fx.encrypted("tls.yaml", &source, "tls.enc.yaml");
    let items = fx.render_items();
    let kubectl = fx.kubectl_create(&[
        "create",
        "secret",
        "tls",
        "tls",
        "--cert=tls.crt",
        "--key=tls.key",
    ]);
    let ksec = object(&items, "Secret", "tls");
    assert_same_payload(ksec, &kubectl, "secret tls");
    assert_eq!(ksec["type"], "kubernetes.io/tls");
    assert_eq!(kubectl["data"]["tls.crt"], b64(&crt));
}

/// Registry credentials with characters Go's JSON encoder escapes (`<`, `>`,
/// `&`, U+2028, quotes, backslash, controls) in every field.
#[test]
fn docker_registry_secret_gives_kubectls_dockerconfigjson() {
    let fx = Fixture::new(
        "secrets:\n\
         \x20 - name: with-email\n    type: kubernetes.io/dockerconfigjson\n    hashSuffix: false\n    sources: [a.enc.yaml]\n\
         \x20 - name: without-email\n    type: kubernetes.io/dockerconfigjson\n    hashSuffix: false\n    sources: [b.enc.yaml]\n",
    );
    let with_email = [
        ("registry", "https://reg.example.com/v1/?a=1&b=<2>"),
        ("username", "robot$ci+<bot>"),
        (
            "password",
            "p&<>\"'\\ ü\t\u{2028}\u{2029}\u{1}\u{7f}=:x é🔑",
        ),
        ("email", "ci+<x>&y@example.com"),
    ];
    let without_email = [
        ("registry", "registry.example.com:5000"),
        ("username", "user"),
        ("password", "a&b<c>d\"e"),
    ];
    fx.encrypted("a.yaml", &yaml_strings(&with_email), "a.enc.yaml");
    fx.encrypted("b.yaml", &yaml_strings(&without_email), "b.enc.yaml");
    let items = fx.render_items();
    for (name, pairs) in [
        ("with-email", &with_email[..]),
        ("without-email", &without_email[..]),
    ] {
        let mut args: Vec<String> = ["create", "secret", "docker-registry", name]
            .map(String::from)
            .to_vec();
        for (k, v) in pairs {
            let flag = if *k == "registry" { "server" } else { *k };
            args.push(format!("--docker-{flag}={v}"));
        }
        let kubectl = fx.kubectl_create(&strs(&args));
        let ksec = object(&items, "Secret", name);
        let decoded = |v: &Value| {
            use base64::Engine;
            let text = v["data"][".dockerconfigjson"].as_str().unwrap_or_default();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_or_default(),
            )
            .into_owned()
        };
        assert_eq!(
            decoded(ksec),
            decoded(&kubectl),
            "{name}: .dockerconfigjson differs (ksec, then kubectl)"
        );
        assert_same_payload(ksec, &kubectl, name);
        assert_eq!(ksec["type"], "kubernetes.io/dockerconfigjson");
    }
}

// ---------------------------------------------------------------------------
// kustomize hash names
// ---------------------------------------------------------------------------

/// Compare every object `kubectl kustomize` generates from `kustomization`
/// with ksec's object of the same kind and base name: the hash name must be
/// equal, and so must `data`, `binaryData` and `type` (kustomize wraps long
/// base64 at 70 characters; the line breaks are dropped before comparing,
/// as the API server drops them when it decodes). Reports every mismatch.
fn assert_matches_kustomize(fx: &Fixture, kustomization: &str, expected_objects: usize) {
    let items = fx.render_items();
    let kustomized = fx.kustomize(kustomization);
    assert_eq!(kustomized.len(), expected_objects, "{kustomized:#?}");
    let unwrap_base64 = |v: &Value| match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().replace('\n', "").into()))
                .collect(),
        ),
        other => other.clone(),
    };
    let mut mismatches = Vec::new();
    for k in &kustomized {
        let kind = k["kind"].as_str().unwrap();
        let kname = k["metadata"]["name"].as_str().unwrap();
        let base = &kname[..kname.len() - 11];
        let ksec = object(&items, kind, base);
        if ksec["metadata"]["name"] != kname {
            mismatches.push(format!(
                "{kind} {base}: ksec names it {}, kustomize {kname}",
                ksec["metadata"]["name"]
            ));
        }
        let kdata = if kind == "Secret" {
            unwrap_base64(&k["data"])
        } else {
            k["data"].clone()
        };
        let theirs = [kdata, unwrap_base64(&k["binaryData"]), k["type"].clone()];
        for (field, theirs) in ["data", "binaryData", "type"].iter().zip(theirs) {
            if ksec[field] != theirs {
                mismatches.push(format!(
                    "{kind} {base} {field}:\n  ksec:      {}\n  kustomize: {theirs}",
                    ksec[field]
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// `n` bytes that are not UTF-8 (a ConfigMap's binaryData).
fn binary(n: usize) -> Vec<u8> {
    (0..n).map(|i| 0xff - (i % 7) as u8).collect()
}

#[test]
fn config_map_hash_names_and_data_match_kustomize() {
    let fx = Fixture::new(
        r#"configMaps:
  - name: cm-env
    envFiles: [app.env]
  - name: cm-files
    files: [nginx.conf, renamed.yaml=app-config.yaml]
  - name: cm-literals
    literals: {A: x, EQUALS: "y=z w", HTML: "<&>", LS: "a\u2028b", TAB: "a\tb", MULTI: "one\ntwo\n", UNI: "é🔑"}
  - name: cm-binary
    files: [blob.bin]
  - name: cm-binary-51
    files: [b51.bin]
  - name: cm-mixed
    files: [blob.bin, nginx.conf]
    envFiles: [app.env]
  - name: cm-empty
"#,
    );
    fx.source(
        "app.env",
        b"\xef\xbb\xbfLOG_LEVEL=info\n# c\n  TRAIL=x  \r\nEQ=a=b\nQ=\"q\"\nEMPTY=\nU=\xc3\xbc\n",
    );
    fx.source("nginx.conf", b"server {\n  listen 80; # <&>\n}\n");
    fx.source("app-config.yaml", b"a: 1\nno-final-newline: true");
    fx.source("blob.bin", BINARY);
    // 51 bytes: 68 base64 characters, the longest kustomize leaves unwrapped
    fx.source("b51.bin", &binary(51));
    assert_matches_kustomize(
        &fx,
        r#"configMapGenerator:
  - name: cm-env
    envs: [app.env]
    options: {disableNameSuffixHash: false}
  - name: cm-files
    files: [nginx.conf, renamed.yaml=app-config.yaml]
  - name: cm-literals
    literals: ["A=x", "EQUALS=y=z w", "HTML=<&>", "LS=a\u2028b", "TAB=a\tb", "MULTI=one\ntwo\n", "UNI=é🔑"]
  - name: cm-binary
    files: [blob.bin]
  - name: cm-binary-51
    files: [b51.bin]
  - name: cm-mixed
    files: [blob.bin, nginx.conf]
    envs: [app.env]
  - name: cm-empty
"#,
        7,
    );
}

#[test]
fn secret_hash_names_and_data_match_kustomize() {
    let fx = Fixture::new(
        "secrets:\n\
         \x20 - name: sec-literals\n    sources: [lit.enc.yaml]\n\
         \x20 - name: sec-env\n    sources: [secret.enc.env]\n\
         \x20 - name: sec-51\n    sources: [s51.enc.yaml]\n",
    );
    let literal = format!("{}&<>=x é", canary("literal"));
    fx.encrypted(
        "lit.yaml",
        &yaml_strings(&[("user", "admin"), ("password", literal.as_str())]),
        "lit.enc.yaml",
    );
    let secret_env = format!(
        "DB_HOST=postgres.payments.svc\nDB_PASSWORD={}=t <&> ü\nEMPTY=\n",
        canary("db")
    );
    let secret_env = secret_env.as_str();
    fx.encrypted("secret.env", secret_env, "secret.enc.env");
    fx.source("secret.env", secret_env.as_bytes());
    // 51 bytes: 68 base64 characters, the longest kustomize leaves unwrapped
    let v51 = "x".repeat(51);
    fx.encrypted("s51.yaml", &format!("v: {v51}\n"), "s51.enc.yaml");
    assert_matches_kustomize(
        &fx,
        &format!(
            r#"secretGenerator:
  - name: sec-literals
    literals: ["user=admin", "password={literal}"]
    options: {{disableNameSuffixHash: false}}
  - name: sec-env
    envs: [secret.env]
  - name: sec-51
    literals: ["v={v51}"]
"#
        ),
        3,
    );
}

/// kustomize wraps a base64 value of 70 characters or more (a value of 52
/// bytes or more) into 70-character lines, each ending in `\n`, and hashes
/// that text: the suffix of such an object is not the hash of unwrapped
/// base64. TLS and docker-registry Secrets always have such values.
#[test]

fn hash_names_match_kustomize_when_kustomize_wraps_base64() {
    let fx = Fixture::new(
        "configMaps:\n\
         \x20 - name: cm-binary-52\n    files: [b52.bin]\n\
         secrets:\n\
         \x20 - name: sec-52\n    sources: [s52.enc.yaml]\n\
         \x20 - name: sec-tls\n    type: kubernetes.io/tls\n    sources: [tls.enc.yaml]\n\
         \x20 - name: sec-docker\n    type: kubernetes.io/dockerconfigjson\n    sources: [docker.enc.yaml]\n",
    );
    fx.source("b52.bin", &binary(52));
    let v52 = "x".repeat(52);
    fx.encrypted("s52.yaml", &format!("v: {v52}\n"), "s52.enc.yaml");

    let (crt, key) = tls_pair(&fx.kust());
    let tls = format!(
        "{}{}",
        literal_block("tls.crt", &crt),
        literal_block("tls.key", &key)
    );
    fx.encrypted("tls.yaml", &tls, "tls.enc.yaml");

    let docker = [
        ("registry", "ghcr.io"),
        ("username", "bot"),
        ("password", "p&<>\"x"),
        ("email", "a@b.c"),
    ];
    fx.encrypted("docker.yaml", &yaml_strings(&docker), "docker.enc.yaml");
    let args = docker.map(|(k, v)| {
        let flag = if k == "registry" { "server" } else { k };
        format!("--docker-{flag}={v}")
    });
    let mut cmd = vec!["create", "secret", "docker-registry", "d"];
    cmd.extend(strs(&args));
    let created = fx.kubectl_create(&cmd);
    let dockercfg = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(created["data"][".dockerconfigjson"].as_str().unwrap())
            .unwrap()
    };
    std::fs::write(fx.kust().join("docker.json"), dockercfg).unwrap();

    assert_matches_kustomize(
        &fx,
        &format!(
            r#"configMapGenerator:
  - name: cm-binary-52
    files: [b52.bin]
secretGenerator:
  - name: sec-52
    literals: ["v={v52}"]
  - name: sec-tls
    type: kubernetes.io/tls
    files: [tls.crt, tls.key]
  - name: sec-docker
    type: kubernetes.io/dockerconfigjson
    files: [.dockerconfigjson=docker.json]
"#
        ),
        4,
    );
}

// ---------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------

#[test]
fn rendering_twice_gives_identical_bytes() {
    let fx = Fixture::new(
        "configMaps:\n\
         \x20 - name: cfg\n    envFiles: [app.env]\n    files: [blob.bin, nginx.conf]\n    literals: {D: \"2\", C: \"1\"}\n\
         secrets:\n\
         \x20 - name: db\n    sources: [db.enc.yaml, extra.enc.env]\n\
         \x20 - name: reg\n    type: kubernetes.io/dockerconfigjson\n    sources: [reg.enc.yaml]\n",
    );
    fx.source("app.env", b"Z=1\nA=2\nM=x=y\n");
    fx.source("nginx.conf", b"server {}\n");
    fx.source("blob.bin", BINARY);
    fx.encrypted(
        "db.yaml",
        &yaml_strings(&[("z", "1"), ("a", "multi\nline\n"), ("m", "é")]),
        "db.enc.yaml",
    );
    fx.encrypted("extra.env", "Y=1\nB=2\n", "extra.enc.env");
    fx.encrypted(
        "reg.yaml",
        &yaml_strings(&[("registry", "r"), ("username", "u"), ("password", "p<&>")]),
        "reg.enc.yaml",
    );
    let first = fx.render("yaml");
    let second = fx.render("yaml");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(first.stdout.len() > 100);
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&second.stdout)
    );
    assert_eq!(first.stdout, second.stdout);
}
