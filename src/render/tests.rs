//! Unit tests of the pure render: projects parsed from text, inputs built in
//! memory, no file or process I/O.

use super::*;
use std::collections::BTreeSet;

// ---------------------------------------------------------------- helpers

fn parse(yaml: &str) -> Project {
    Project::parse(Path::new("/p"), yaml).unwrap_or_else(|e| panic!("ksec.yaml fixture: {e}"))
}

/// Every namespace of the environment (all when `env` is `None`).
fn selection<'a>(project: &'a Project, env: Option<&'a str>) -> Selection<'a> {
    Selection {
        environment: env,
        namespaces: project
            .namespaces
            .values()
            .filter(|ns| env.is_none_or(|e| ns.environments.iter().any(|x| x == e)))
            .collect(),
    }
}

/// In-memory inputs, keyed by project-relative path.
#[derive(Default)]
struct Given(Inputs);

impl Given {
    fn file(mut self, path: &str, bytes: impl AsRef<[u8]>) -> Given {
        self.0
            .plain
            .insert(PathBuf::from(path), bytes.as_ref().to_vec());
        self
    }

    fn secret(mut self, path: &str, pairs: &[(&str, &str)]) -> Given {
        self.0.secrets.insert(
            PathBuf::from(path),
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), SecretString::from(v.to_string())))
                .collect(),
        );
        self
    }
}

fn try_render(
    project: &Project,
    env: Option<&str>,
    given: &Given,
) -> Result<Vec<Manifest>, Vec<Problem>> {
    render(project, &selection(project, env), &given.0)
}

fn render_ok(project: &Project, env: Option<&str>, given: &Given) -> Vec<Manifest> {
    try_render(project, env, given).unwrap_or_else(|problems| {
        panic!(
            "expected a render, got problems:\n{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn render_err(project: &Project, env: Option<&str>, given: &Given) -> Vec<Problem> {
    match try_render(project, env, given) {
        Ok(manifests) => panic!(
            "expected problems, got manifests:\n{}",
            emit::documents(manifests.iter().map(|m| &m.body))
        ),
        Err(problems) => problems,
    }
}

fn all(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `name` is `declared` itself or `declared` plus a 10-character
/// hash suffix.
fn is_named(name: &str, declared: &str) -> bool {
    name == declared
        || (name.len() == declared.len() + 11 && name.starts_with(&format!("{declared}-")))
}

/// The one manifest of `kind` whose declared name is `declared`.
fn get<'a>(manifests: &'a [Manifest], kind: &str, declared: &str) -> &'a Manifest {
    let found: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.kind == kind && is_named(&m.name, declared))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} {declared}, got {:?}",
        manifests
            .iter()
            .map(|m| format!("{}/{}/{}", m.namespace, m.kind, m.name))
            .collect::<Vec<_>>()
    );
    found[0]
}

fn count(manifests: &[Manifest], kind: &str) -> usize {
    manifests.iter().filter(|m| m.kind == kind).count()
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    match value {
        None => BTreeMap::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .unwrap_or_else(|| panic!("{k} is not a string: {v}"))
                        .to_string(),
                )
            })
            .collect(),
        Some(other) => panic!("not a map: {other}"),
    }
}

/// The data of a ConfigMap (as text) or a Secret (base64-decoded).
fn data(m: &Manifest) -> BTreeMap<String, String> {
    let raw = string_map(m.body.get("data"));
    if m.kind == "Secret" {
        raw.into_iter()
            .map(|(k, v)| {
                let bytes = B64.decode(v.as_bytes()).expect("Secret data is base64");
                (k, String::from_utf8(bytes).expect("test values are UTF-8"))
            })
            .collect()
    } else {
        raw
    }
}

fn labels(m: &Manifest) -> BTreeMap<String, String> {
    string_map(m.body["metadata"].get("labels"))
}

fn annotations(m: &Manifest) -> BTreeMap<String, String> {
    string_map(m.body["metadata"].get("annotations"))
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn needed_set(items: &[Needed]) -> BTreeSet<Needed> {
    items.iter().cloned().collect()
}

fn plain(path: &str) -> Needed {
    Needed::Plain(PathBuf::from(path))
}

fn encrypted(path: &str) -> Needed {
    Needed::Encrypted(PathBuf::from(path))
}

/// A project with one Secret `s` (its name on line 6) of `kind` reading
/// `s.enc.yaml`, rendered with `pairs` as that source.
fn one_secret(kind: &str, pairs: &[(&str, &str)]) -> Result<Vec<Manifest>, Vec<Problem>> {
    let project = parse(&format!(
        "version: 1\nproject: shop\nnamespaces:\n  ns:\n    secrets:\n      - name: s\n        type: {kind}\n        sources: [s.enc.yaml]\n"
    ));
    let given = Given::default().secret("namespaces/ns/s.enc.yaml", pairs);
    try_render(&project, None, &given)
}

fn one_secret_data(kind: &str, pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let manifests = one_secret(kind, pairs)
        .unwrap_or_else(|p| panic!("{kind} with {pairs:?} should render:\n{}", all(&p)));
    let secret = get(&manifests, "Secret", "s");
    assert_eq!(secret.body["type"], json!(kind));
    data(secret)
}

fn one_secret_problem(kind: &str, pairs: &[(&str, &str)]) -> String {
    match one_secret(kind, pairs) {
        Ok(_) => panic!("{kind} with keys {pairs:?} should be refused"),
        Err(problems) => {
            for p in &problems {
                assert_eq!(p.location, "ksec.yaml:6", "{p}");
                assert_eq!(p.object, "ns/Secret/s", "{p}");
            }
            all(&problems)
        }
    }
}

/// The pod template of a rendered workload.
fn template(m: &Manifest) -> &Value {
    assert_eq!(m.body["apiVersion"], json!("apps/v1"), "{}", m.body);
    assert_eq!(m.body["kind"], json!(m.kind), "{}", m.body);
    &m.body["spec"]["template"]
}

/// Mounts of one workload, resolved through its volumes:
/// container -> mountPath -> (source kind, object name, readOnly).
fn mounts(m: &Manifest) -> BTreeMap<String, BTreeMap<String, (String, String, bool)>> {
    let spec = &template(m)["spec"];
    let volumes = spec["volumes"].as_array().expect("volumes");
    let mut by_name: BTreeMap<String, (String, String)> = BTreeMap::new();
    for v in volumes {
        let name = v["name"].as_str().expect("volume name").to_string();
        let source = if let Some(cm) = v.get("configMap") {
            ("configMap".to_string(), cm["name"].as_str().unwrap().into())
        } else if let Some(s) = v.get("secret") {
            (
                "secret".to_string(),
                s["secretName"].as_str().unwrap().into(),
            )
        } else {
            panic!("unexpected volume {v}")
        };
        assert!(
            by_name.insert(name.clone(), source).is_none(),
            "volume {name} appears twice in {}",
            m.body
        );
    }
    let mut used = BTreeSet::new();
    let mut out = BTreeMap::new();
    for c in spec["containers"].as_array().expect("containers") {
        let container = c["name"].as_str().unwrap().to_string();
        let mut paths = BTreeMap::new();
        for vm in c["volumeMounts"].as_array().expect("volumeMounts") {
            let vname = vm["name"].as_str().unwrap();
            let (kind, object) = by_name
                .get(vname)
                .unwrap_or_else(|| panic!("mount of unknown volume {vname} in {}", m.body))
                .clone();
            used.insert(vname.to_string());
            paths.insert(
                vm["mountPath"].as_str().unwrap().to_string(),
                (kind, object, vm["readOnly"].as_bool().expect("readOnly")),
            );
        }
        assert!(
            out.insert(container.clone(), paths).is_none(),
            "container {container} listed twice"
        );
    }
    assert_eq!(
        used,
        by_name.keys().cloned().collect::<BTreeSet<_>>(),
        "every volume is mounted"
    );
    out
}

fn pod_annotations(m: &Manifest) -> BTreeMap<String, String> {
    string_map(template(m)["metadata"].get("annotations"))
}

// ---------------------------------------------------------------- order

#[test]
fn objects_are_ordered_by_namespace_kind_and_name() {
    let project = parse(
        "version: 1
project: shop
defaults:
  hashSuffix: false
namespaces:
  web:
    secrets:
      - name: beta
        sources: [beta.enc.yaml]
        rollout: [StatefulSet/cache]
    configMaps:
      - name: zeta
        literals: {A: '1'}
        mount: {workload: Deployment/front, container: c, path: /z}
      - name: alpha
        literals: {A: '2'}
      - name: mid
        literals: {A: '3'}
        rollout: [DaemonSet/agent]
  api:
    secrets:
      - name: token
        sources: [token.enc.yaml]
    configMaps:
      - name: cfg
        literals: {A: '4'}
",
    );
    let given = Given::default()
        .secret("namespaces/web/beta.enc.yaml", &[("K", "v")])
        .secret("namespaces/api/token.enc.yaml", &[("K", "v")]);
    let manifests = render_ok(&project, None, &given);
    let order: Vec<String> = manifests
        .iter()
        .map(|m| format!("{}/{}/{}", m.namespace, m.kind, m.name))
        .collect();
    assert_eq!(
        order,
        [
            "api/ConfigMap/cfg",
            "api/Secret/token",
            "web/ConfigMap/alpha",
            "web/ConfigMap/mid",
            "web/ConfigMap/zeta",
            "web/DaemonSet/agent",
            "web/Deployment/front",
            "web/Secret/beta",
            "web/StatefulSet/cache",
        ]
    );
    for m in &manifests {
        assert_eq!(m.body["metadata"]["namespace"], json!(m.namespace));
        assert_eq!(m.body["metadata"]["name"], json!(m.name));
        assert_eq!(m.body["kind"], json!(m.kind));
    }
}

// ---------------------------------------------------------------- metadata

const LABELLED: &str = "version: 1
project: shop
defaults:
  labels: {team: shop, tier: backend}
  annotations: {owner: platform}
environments:
  prod: {context: prod-cluster}
namespaces:
  payments:
    configMaps:
      - name: cfg
        literals: {A: '1'}
        labels: {tier: api, app: pay, app.kubernetes.io/managed-by: helm}
        annotations: {note: hello, owner: payments}
    secrets:
      - name: db
        sources: [db.enc.yaml]
";

#[test]
fn labels_and_annotations_merge_project_defaults_object_values_and_ksec_labels() {
    let project = parse(LABELLED);
    let given = Given::default().secret("namespaces/payments/db.enc.yaml", &[("K", "v")]);
    let manifests = render_ok(&project, Some("prod"), &given);

    let cm = get(&manifests, "ConfigMap", "cfg");
    assert_eq!(
        labels(cm),
        map(&[
            ("app", "pay"),
            ("app.kubernetes.io/managed-by", "ksec"),
            ("ksec.dev/environment", "prod"),
            ("ksec.dev/project", "shop"),
            ("team", "shop"),
            ("tier", "api"),
        ])
    );
    assert_eq!(
        annotations(cm),
        map(&[
            ("ksec.dev/name", "cfg"),
            ("note", "hello"),
            ("owner", "payments")
        ])
    );

    let secret = get(&manifests, "Secret", "db");
    assert_eq!(
        labels(secret),
        map(&[
            ("app.kubernetes.io/managed-by", "ksec"),
            ("ksec.dev/environment", "prod"),
            ("ksec.dev/project", "shop"),
            ("team", "shop"),
            ("tier", "backend"),
        ])
    );
    assert_eq!(
        annotations(secret),
        map(&[("ksec.dev/name", "db"), ("owner", "platform")])
    );
}

#[test]
fn without_an_environment_there_is_no_environment_label_and_no_empty_annotations() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  payments:
    configMaps:
      - name: cfg
        literals: {A: '1'}
",
    );
    let manifests = render_ok(&project, None, &Given::default());
    let cm = get(&manifests, "ConfigMap", "cfg");
    assert_eq!(
        labels(cm),
        map(&[
            ("app.kubernetes.io/managed-by", "ksec"),
            ("ksec.dev/project", "shop"),
        ])
    );
    // only ksec's own base name of the hash-named object
    assert_eq!(annotations(cm), map(&[("ksec.dev/name", "cfg")]));
}

#[test]
fn immutable_is_set_only_where_declared() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: frozen
        literals: {A: '1'}
        immutable: true
      - name: thawed
        literals: {A: '1'}
    secrets:
      - name: sealed
        sources: [s.enc.yaml]
        immutable: true
      - name: open
        sources: [s.enc.yaml]
",
    );
    let given = Given::default().secret("namespaces/ns/s.enc.yaml", &[("K", "v")]);
    let manifests = render_ok(&project, None, &given);
    assert_eq!(
        get(&manifests, "ConfigMap", "frozen").body["immutable"],
        json!(true)
    );
    assert_eq!(
        get(&manifests, "Secret", "sealed").body["immutable"],
        json!(true)
    );
    assert_eq!(
        get(&manifests, "ConfigMap", "thawed").body.get("immutable"),
        None
    );
    assert_eq!(
        get(&manifests, "Secret", "open").body.get("immutable"),
        None
    );
}

// ---------------------------------------------------------------- names

#[test]
fn names_carry_kustomizes_hash_suffix_by_default() {
    // Suffixes verified against `kubectl kustomize` (see hash.rs).
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        literals: {a: b}
      - name: other
        literals: {a: c}
    secrets:
      - name: db
        sources: [db.enc.yaml]
",
    );
    let given = Given::default().secret(
        "namespaces/ns/db.enc.yaml",
        &[
            ("DB_HOST", "postgres.payments.svc"),
            ("DB_PASSWORD", "demo-not-a-real-password"),
            ("DB_PORT", "5432"),
            ("DB_USER", "payments"),
        ],
    );
    let manifests = render_ok(&project, None, &given);
    assert_eq!(get(&manifests, "ConfigMap", "cfg").name, "cfg-4h2mbtbbt6");
    assert_eq!(get(&manifests, "Secret", "db").name, "db-dc79dcgh86");
    let other = &get(&manifests, "ConfigMap", "other").name;
    assert!(other.starts_with("other-"), "{other}");
    assert_ne!(
        &other["other-".len()..],
        "4h2mbtbbt6",
        "other data, other hash"
    );
}

#[test]
fn hash_suffix_can_be_turned_off_per_object() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: plain
        literals: {a: b}
        hashSuffix: false
      - name: hashed
        literals: {a: b}
    secrets:
      - name: db
        sources: [db.enc.yaml]
        hashSuffix: false
",
    );
    let given = Given::default().secret("namespaces/ns/db.enc.yaml", &[("K", "v")]);
    let manifests = render_ok(&project, None, &given);
    let names: BTreeSet<&str> = manifests.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["db", "hashed-4h2mbtbbt6", "plain"]));
}

#[test]
fn hash_suffix_can_be_turned_off_per_project_and_back_on_per_object() {
    let project = parse(
        "version: 1
project: shop
defaults:
  hashSuffix: false
namespaces:
  ns:
    configMaps:
      - name: plain
        literals: {a: b}
      - name: hashed
        literals: {a: b}
        hashSuffix: true
    secrets:
      - name: db
        sources: [db.enc.yaml]
",
    );
    let given = Given::default().secret("namespaces/ns/db.enc.yaml", &[("K", "v")]);
    let manifests = render_ok(&project, None, &given);
    let names: BTreeSet<&str> = manifests.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["db", "hashed-4h2mbtbbt6", "plain"]));
}

#[test]
fn a_name_too_long_for_its_hash_suffix_is_a_problem() {
    let label = "n".repeat(60);
    let long = format!("{label}.{label}.{label}.{label}"); // 243 characters
    let yaml = |hash: bool| {
        format!(
            "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: {long}
        literals: {{A: '1'}}
        hashSuffix: {hash}
"
        )
    };
    let problems = render_err(&parse(&yaml(true)), None, &Given::default());
    assert_eq!(problems.len(), 1, "{}", all(&problems));
    assert_eq!(problems[0].location, "ksec.yaml:6");
    assert!(problems[0].message.contains("253"), "{}", problems[0]);
    let manifests = render_ok(&parse(&yaml(false)), None, &Given::default());
    assert_eq!(manifests[0].name, long);
}

// ---------------------------------------------------------------- overrides

const OVERRIDDEN: &str = "version: 1
project: shop
environments:
  prod: {context: prod}
  staging: {context: staging}
namespaces:
  payments:
    configMaps:
      - name: cfg
        envFiles: [base.env]
        literals: {LOG_LEVEL: info, REGION: eu}
        overrides:
          prod:
            envFiles: [prod.env]
            literals: {LOG_LEVEL: warn}
    secrets:
      - name: db
        sources: [db.enc.yaml]
        overrides:
          prod:
            sources: [db.prod.enc.yaml]
";

fn overridden_inputs() -> Given {
    Given::default()
        .file("namespaces/payments/base.env", "HOST=base.svc\nPORT=5432\n")
        .file("namespaces/payments/prod.env", "HOST=prod.svc\n")
        .secret(
            "namespaces/payments/db.enc.yaml",
            &[("USER", "app"), ("PASSWORD", "base-pw")],
        )
        .secret(
            "namespaces/payments/db.prod.enc.yaml",
            &[("PASSWORD", "prod-pw")],
        )
}

#[test]
fn overrides_replace_only_the_keys_they_name_in_their_environment() {
    let project = parse(OVERRIDDEN);
    let prod = render_ok(&project, Some("prod"), &overridden_inputs());
    assert_eq!(count(&prod, "ConfigMap"), 1, "an override is not a copy");
    assert_eq!(count(&prod, "Secret"), 1, "an override is not a copy");
    assert_eq!(
        data(get(&prod, "ConfigMap", "cfg")),
        map(&[
            ("HOST", "prod.svc"),
            ("LOG_LEVEL", "warn"),
            ("PORT", "5432"),
            ("REGION", "eu"),
        ])
    );
    assert_eq!(
        data(get(&prod, "Secret", "db")),
        map(&[("PASSWORD", "prod-pw"), ("USER", "app")])
    );

    let staging = render_ok(&project, Some("staging"), &overridden_inputs());
    assert_eq!(
        data(get(&staging, "ConfigMap", "cfg")),
        map(&[
            ("HOST", "base.svc"),
            ("LOG_LEVEL", "info"),
            ("PORT", "5432"),
            ("REGION", "eu"),
        ])
    );
    assert_eq!(
        data(get(&staging, "Secret", "db")),
        map(&[("PASSWORD", "base-pw"), ("USER", "app")])
    );
    assert_ne!(
        get(&prod, "ConfigMap", "cfg").name,
        get(&staging, "ConfigMap", "cfg").name,
        "different data, different hash"
    );
}

#[test]
fn an_override_may_not_define_a_key_twice_itself() {
    let project = parse(OVERRIDDEN);
    let given = overridden_inputs().file(
        "namespaces/payments/prod.env",
        "HOST=prod.svc\nLOG_LEVEL=debug\n",
    );
    let problems = render_err(&project, Some("prod"), &given);
    assert_eq!(problems.len(), 1, "{}", all(&problems));
    assert!(problems[0].message.contains("LOG_LEVEL"), "{}", problems[0]);
    assert!(
        problems[0].message.contains("namespaces/payments/prod.env"),
        "{}",
        problems[0]
    );
    // and the base renders fine in the other environment
    render_ok(&project, Some("staging"), &given);
}

// ---------------------------------------------------------------- secret types

#[test]
fn opaque_is_the_default_type_and_data_is_base64() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    secrets:
      - name: s
        sources: [s.enc.yaml]
",
    );
    let given = Given::default().secret("namespaces/ns/s.enc.yaml", &[("TOKEN", "abc")]);
    let manifests = render_ok(&project, None, &given);
    let s = get(&manifests, "Secret", "s");
    assert_eq!(s.body["type"], json!("Opaque"));
    assert_eq!(s.body["data"], json!({"TOKEN": "YWJj"}));
}

#[test]
fn tls_secrets_need_tls_crt_and_tls_key() {
    assert_eq!(
        one_secret_data(
            "kubernetes.io/tls",
            &[("tls.crt", "CERT"), ("tls.key", "KEY")]
        ),
        map(&[("tls.crt", "CERT"), ("tls.key", "KEY")])
    );
    let msg = one_secret_problem("kubernetes.io/tls", &[("tls.crt", "CERT")]);
    assert!(msg.contains("tls.key"), "{msg}");
    let msg = one_secret_problem("kubernetes.io/tls", &[("tls.key", "KEY")]);
    assert!(msg.contains("tls.crt"), "{msg}");
}

#[test]
fn ssh_auth_secrets_need_ssh_privatekey() {
    assert_eq!(
        one_secret_data("kubernetes.io/ssh-auth", &[("ssh-privatekey", "PRIV")]),
        map(&[("ssh-privatekey", "PRIV")])
    );
    let msg = one_secret_problem("kubernetes.io/ssh-auth", &[("ssh-publickey", "PUB")]);
    assert!(msg.contains("ssh-privatekey"), "{msg}");
}

#[test]
fn basic_auth_secrets_need_a_username_or_a_password() {
    assert_eq!(
        one_secret_data("kubernetes.io/basic-auth", &[("username", "u")]),
        map(&[("username", "u")])
    );
    assert_eq!(
        one_secret_data("kubernetes.io/basic-auth", &[("password", "p")]),
        map(&[("password", "p")])
    );
    let msg = one_secret_problem("kubernetes.io/basic-auth", &[("user", "u")]);
    assert!(msg.contains("username or password"), "{msg}");
}

#[test]
fn dockerconfigjson_secrets_take_the_json_as_it_is() {
    let json = r#"{"auths":{"r.example":{"auth":"eDp5"}}}"#;
    assert_eq!(
        one_secret_data(
            "kubernetes.io/dockerconfigjson",
            &[(".dockerconfigjson", json)]
        ),
        map(&[(".dockerconfigjson", json)])
    );
}

#[test]
fn dockerconfigjson_is_built_from_registry_username_and_password_as_kubectl_does() {
    // kubectl create secret docker-registry s --docker-server=reg.example.com
    //   --docker-username=u --docker-password='p&<w>' --docker-email=ci@example.com
    let built = one_secret_data(
        "kubernetes.io/dockerconfigjson",
        &[
            ("registry", "reg.example.com"),
            ("username", "u"),
            ("password", "p&<w>"),
            ("email", "ci@example.com"),
        ],
    );
    assert_eq!(
        built,
        map(&[(
            ".dockerconfigjson",
            r#"{"auths":{"reg.example.com":{"username":"u","password":"p\u0026\u003cw\u003e","email":"ci@example.com","auth":"dTpwJjx3Pg=="}}}"#
        )])
    );
    let without_email = one_secret_data(
        "kubernetes.io/dockerconfigjson",
        &[
            ("registry", "reg.example.com"),
            ("username", "u"),
            ("password", "p"),
        ],
    );
    assert_eq!(
        without_email,
        map(&[(
            ".dockerconfigjson",
            r#"{"auths":{"reg.example.com":{"username":"u","password":"p","auth":"dTpw"}}}"#
        )])
    );
}

#[test]
fn dockerconfigjson_without_json_or_all_three_parts_is_refused() {
    let msg = one_secret_problem(
        "kubernetes.io/dockerconfigjson",
        &[("registry", "reg.example.com"), ("username", "u")],
    );
    assert!(msg.contains(".dockerconfigjson"), "{msg}");
    assert!(msg.contains("password"), "{msg}");
}

#[test]
fn unknown_secret_types_are_refused() {
    let msg = one_secret_problem("example.com/magic", &[("K", "v")]);
    assert!(
        msg.contains("unknown secret type example.com/magic"),
        "{msg}"
    );
    assert!(
        msg.contains("kubernetes.io/tls"),
        "lists the known types: {msg}"
    );
}

// ---------------------------------------------------------------- data problems

#[test]
fn invalid_data_keys_are_refused_where_they_come_from() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        literals: {'bad key': x}
      - name: files
        files: ['bad/key=f.txt']
    secrets:
      - name: s
        sources: [s.enc.yaml]
",
    );
    let given = Given::default()
        .file("namespaces/ns/f.txt", "x")
        .secret("namespaces/ns/s.enc.yaml", &[("not:valid", "v")]);
    let problems = render_err(&project, None, &given);
    let text = all(&problems);
    assert_eq!(problems.len(), 3, "{text}");
    let literal = problems
        .iter()
        .find(|p| p.object == "ns/ConfigMap/cfg")
        .expect(&text);
    assert_eq!(literal.location, "ksec.yaml:6");
    assert!(literal.message.contains("\"bad key\""), "{literal}");
    let file = problems
        .iter()
        .find(|p| p.object == "ns/ConfigMap/files")
        .expect(&text);
    assert!(file.message.contains("bad/key"), "{file}");
    let secret = problems
        .iter()
        .find(|p| p.object == "ns/Secret/s")
        .expect(&text);
    assert_eq!(secret.location, "namespaces/ns/s.enc.yaml");
    assert!(secret.message.contains("not:valid"), "{secret}");
}

#[test]
fn a_key_from_two_sources_names_both_files() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        envFiles: [a.env, b.env]
    secrets:
      - name: s
        sources: [one.enc.yaml, two.enc.env]
",
    );
    let given = Given::default()
        .file("namespaces/ns/a.env", "DUP=first-value\nA=1\n")
        .file("namespaces/ns/b.env", "B=2\nDUP=second-value\n")
        .secret(
            "namespaces/ns/one.enc.yaml",
            &[("TOKEN", "first-secret"), ("X", "1")],
        )
        .secret("namespaces/ns/two.enc.env", &[("TOKEN", "second-secret")]);
    let problems = render_err(&project, None, &given);
    let text = all(&problems);
    assert_eq!(problems.len(), 2, "{text}");
    let cm = problems
        .iter()
        .find(|p| p.object == "ns/ConfigMap/cfg")
        .expect(&text);
    assert!(cm.message.contains("DUP"), "{cm}");
    assert!(cm.message.contains("namespaces/ns/a.env"), "{cm}");
    assert!(cm.message.contains("namespaces/ns/b.env"), "{cm}");
    let secret = problems
        .iter()
        .find(|p| p.object == "ns/Secret/s")
        .expect(&text);
    assert!(secret.message.contains("TOKEN"), "{secret}");
    assert!(
        secret.message.contains("namespaces/ns/one.enc.yaml"),
        "{secret}"
    );
    assert!(
        secret.message.contains("namespaces/ns/two.enc.env"),
        "{secret}"
    );
    for value in [
        "first-value",
        "second-value",
        "first-secret",
        "second-secret",
    ] {
        assert!(!text.contains(value), "a value leaked: {text}");
    }
}

#[test]
fn a_literal_may_not_repeat_a_key_of_an_env_file() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        envFiles: [a.env]
        literals: {A: two}
",
    );
    let given = Given::default().file("namespaces/ns/a.env", "A=one\n");
    let problems = render_err(&project, None, &given);
    assert_eq!(problems.len(), 1, "{}", all(&problems));
    assert!(
        problems[0].message.contains("namespaces/ns/a.env"),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].message.contains("ksec.yaml:6"),
        "{}",
        problems[0]
    );
}

#[test]
fn missing_env_files_and_files_are_problems_of_their_object() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        envFiles: [nope.env]
        files: ['conf=conf/missing.conf']
",
    );
    let problems = render_err(&project, None, &Given::default());
    let text = all(&problems);
    assert_eq!(problems.len(), 2, "{text}");
    for p in &problems {
        assert_eq!(p.location, "ksec.yaml:6", "{p}");
        assert_eq!(p.object, "ns/ConfigMap/cfg", "{p}");
    }
    assert!(text.contains("namespaces/ns/nope.env"), "{text}");
    assert!(text.contains("namespaces/ns/conf/missing.conf"), "{text}");
}

#[test]
fn objects_over_one_mebibyte_are_refused() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: big
        files: [big.bin]
      - name: fits
        files: [fits.txt]
    secrets:
      - name: huge
        sources: [huge.enc.yaml]
",
    );
    let given = Given::default()
        .file("namespaces/ns/big.bin", vec![b'x'; MAX_OBJECT_BYTES + 1])
        .file("namespaces/ns/fits.txt", vec![b'x'; MAX_OBJECT_BYTES - 100])
        .secret(
            "namespaces/ns/huge.enc.yaml",
            &[("K", &"y".repeat(MAX_OBJECT_BYTES + 1))],
        );
    let problems = render_err(&project, None, &given);
    let text = all(&problems);
    assert_eq!(problems.len(), 2, "{text}");
    let objects: BTreeSet<&str> = problems.iter().map(|p| p.object.as_str()).collect();
    assert_eq!(
        objects,
        BTreeSet::from(["ns/ConfigMap/big", "ns/Secret/huge"])
    );
    for p in &problems {
        assert!(p.message.contains("1048576"), "{p}");
    }
}

#[test]
fn secret_size_counts_the_decoded_bytes_not_the_base64() {
    // 900 KB of data is 1.2 MB as base64; Kubernetes counts the bytes.
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    secrets:
      - name: s
        sources: [s.enc.yaml]
",
    );
    let value = "z".repeat(900_000);
    let given = Given::default().secret("namespaces/ns/s.enc.yaml", &[("K", &value)]);
    let manifests = render_ok(&project, None, &given);
    assert_eq!(data(get(&manifests, "Secret", "s"))["K"], value);
}

#[test]
fn an_invalid_env_file_line_is_located_by_file_and_line() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        envFiles: [app.env]
",
    );
    let given = Given::default().file(
        "namespaces/ns/app.env",
        "A=1\n# comment\nthis-line-has-no-equals-sign\n",
    );
    let problems = render_err(&project, None, &given);
    assert_eq!(problems.len(), 1, "{}", all(&problems));
    assert_eq!(problems[0].location, "namespaces/ns/app.env:3");
    assert_eq!(problems[0].object, "ns/ConfigMap/cfg");
    assert!(
        !problems[0].message.contains("this-line-has-no-equals-sign"),
        "{}",
        problems[0]
    );
}

#[test]
fn non_utf8_files_become_binary_data() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        files: [logo.bin, notes.txt]
",
    );
    let given = Given::default()
        .file("namespaces/ns/logo.bin", [0xff, 0x00, 0x80])
        .file("namespaces/ns/notes.txt", "hello\n");
    let manifests = render_ok(&project, None, &given);
    let cm = get(&manifests, "ConfigMap", "cfg");
    assert_eq!(cm.body["data"], json!({"notes.txt": "hello\n"}));
    assert_eq!(cm.body["binaryData"], json!({"logo.bin": "/wCA"}));
}

#[test]
fn every_problem_of_a_render_is_returned_together() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  a:
    configMaps:
      - name: missing
        envFiles: [nope.env]
      - name: fine
        literals: {A: '1'}
  b:
    configMaps:
      - name: dup
        envFiles: [x.env, y.env]
    secrets:
      - name: strange
        type: example.com/strange
        sources: [s.enc.yaml]
",
    );
    let given = Given::default()
        .file("namespaces/b/x.env", "K=1\n")
        .file("namespaces/b/y.env", "K=2\n")
        .secret("namespaces/b/s.enc.yaml", &[("K", "v")]);
    let problems = render_err(&project, None, &given);
    let text = all(&problems);
    assert_eq!(problems.len(), 3, "{text}");
    let objects: BTreeSet<&str> = problems.iter().map(|p| p.object.as_str()).collect();
    assert_eq!(
        objects,
        BTreeSet::from(["a/ConfigMap/missing", "b/ConfigMap/dup", "b/Secret/strange"]),
        "{text}"
    );
}

// ---------------------------------------------------------------- needed

const NEEDY: &str = "version: 1
project: shop
environments:
  prod: {context: prod}
  staging: {context: staging}
namespaces:
  a:
    configMaps:
      - name: cfg
        envFiles: [base.env]
        files: [nginx.conf, 'app.yaml=conf/app-config.yaml']
        literals: {X: '1'}
        overrides:
          prod:
            envFiles: [prod.env]
            files: ['extra=prod-extra.txt']
          staging:
            envFiles: [staging.env]
      - name: again
        envFiles: [base.env]
    secrets:
      - name: db
        sources: [db.enc.yaml, extra.enc.env]
        overrides:
          prod:
            sources: [db.prod.enc.yaml]
  b:
    path: teams/b
    environments: [prod]
    configMaps:
      - name: x
        files: [x.txt]
    secrets:
      - name: y
        sources: [y.enc.yaml]
";

#[test]
fn needed_lists_exactly_the_files_of_the_selection_and_its_environment() {
    let project = parse(NEEDY);
    let prod = needed(&selection(&project, Some("prod")));
    assert_eq!(prod.len(), needed_set(&prod).len(), "no repeats: {prod:?}");
    assert_eq!(
        needed_set(&prod),
        BTreeSet::from([
            plain("namespaces/a/base.env"),
            plain("namespaces/a/nginx.conf"),
            plain("namespaces/a/conf/app-config.yaml"),
            plain("namespaces/a/prod.env"),
            plain("namespaces/a/prod-extra.txt"),
            plain("teams/b/x.txt"),
            encrypted("namespaces/a/db.enc.yaml"),
            encrypted("namespaces/a/extra.enc.env"),
            encrypted("namespaces/a/db.prod.enc.yaml"),
            encrypted("teams/b/y.enc.yaml"),
        ])
    );

    let staging = needed(&selection(&project, Some("staging")));
    assert_eq!(
        needed_set(&staging),
        BTreeSet::from([
            plain("namespaces/a/base.env"),
            plain("namespaces/a/nginx.conf"),
            plain("namespaces/a/conf/app-config.yaml"),
            plain("namespaces/a/staging.env"),
            encrypted("namespaces/a/db.enc.yaml"),
            encrypted("namespaces/a/extra.enc.env"),
        ])
    );

    let only_b = Selection {
        environment: Some("prod"),
        namespaces: vec![&project.namespaces["b"]],
    };
    assert_eq!(
        needed_set(&needed(&only_b)),
        BTreeSet::from([plain("teams/b/x.txt"), encrypted("teams/b/y.enc.yaml")])
    );
}

#[test]
fn needed_is_what_render_reads() {
    // Everything `needed` lists, and nothing else, makes the render work.
    let project = parse(NEEDY);
    let sel = selection(&project, Some("prod"));
    let mut given = Given::default();
    for item in needed(&sel) {
        match item {
            Needed::Plain(p) => {
                let text = if p.extension().is_some_and(|e| e == "env") {
                    format!(
                        "{}=1\n",
                        p.file_stem().unwrap().to_string_lossy().replace('-', "_")
                    )
                } else {
                    "content\n".to_string()
                };
                given.0.plain.insert(p, text.into_bytes());
            }
            Needed::Encrypted(p) => {
                let key = p.file_name().unwrap().to_string_lossy().replace('.', "_");
                given
                    .0
                    .secrets
                    .insert(p, vec![(key, SecretString::from("v"))]);
            }
        }
    }
    let manifests = render(&project, &sel, &given.0).unwrap_or_else(|p| panic!("{}", all(&p)));
    assert_eq!(
        data(get(&manifests, "ConfigMap", "cfg"))
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ["X", "app.yaml", "base", "extra", "nginx.conf", "prod"]
    );
}

// ---------------------------------------------------------------- mounts

const MOUNTED: &str = "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: nginx
        files: [nginx.conf]
        mount: {workload: Deployment/web, container: nginx, path: /etc/nginx/conf.d}
      - name: app.settings
        literals: {A: '1'}
        mount: {workload: Deployment/web, container: app, path: /etc/app, readOnly: false}
      - name: init
        literals: {B: '2'}
        mount: {workload: StatefulSet/db, container: postgres, path: /docker-entrypoint-initdb.d}
    secrets:
      - name: tls
        type: kubernetes.io/tls
        sources: [tls.enc.yaml]
        mount: {workload: Deployment/web, container: nginx, path: /etc/tls}
      - name: agent-token
        sources: [agent.enc.yaml]
        mount: {workload: DaemonSet/agent, container: agent, path: /var/run/token, readOnly: true}
";

fn mounted_inputs() -> Given {
    Given::default()
        .file("namespaces/ns/nginx.conf", "server {}\n")
        .secret(
            "namespaces/ns/tls.enc.yaml",
            &[("tls.crt", "C"), ("tls.key", "K")],
        )
        .secret("namespaces/ns/agent.enc.yaml", &[("token", "T")])
}

fn entry(kind: &str, object: &str, read_only: bool) -> (String, String, bool) {
    (kind.to_string(), object.to_string(), read_only)
}

#[test]
fn mounts_make_one_partial_workload_per_target_merging_every_object() {
    let project = parse(MOUNTED);
    let manifests = render_ok(&project, None, &mounted_inputs());
    assert_eq!(count(&manifests, "Deployment"), 1);
    assert_eq!(count(&manifests, "StatefulSet"), 1);
    assert_eq!(count(&manifests, "DaemonSet"), 1);
    let name_of = |kind: &str, declared: &str| get(&manifests, kind, declared).name.clone();
    let (nginx, settings, init, tls, token) = (
        name_of("ConfigMap", "nginx"),
        name_of("ConfigMap", "app.settings"),
        name_of("ConfigMap", "init"),
        name_of("Secret", "tls"),
        name_of("Secret", "agent-token"),
    );
    assert_ne!(nginx, "nginx", "mounts point at the hashed name");

    let web = get(&manifests, "Deployment", "web");
    assert_eq!(
        web.body["metadata"],
        json!({"name": "web", "namespace": "ns"})
    );
    assert_eq!(
        mounts(web),
        BTreeMap::from([
            (
                "app".to_string(),
                BTreeMap::from([("/etc/app".to_string(), entry("configMap", &settings, false))])
            ),
            (
                "nginx".to_string(),
                BTreeMap::from([
                    (
                        "/etc/nginx/conf.d".to_string(),
                        entry("configMap", &nginx, true)
                    ),
                    ("/etc/tls".to_string(), entry("secret", &tls, true)),
                ])
            ),
        ])
    );
    let db = get(&manifests, "StatefulSet", "db");
    assert_eq!(
        mounts(db),
        BTreeMap::from([(
            "postgres".to_string(),
            BTreeMap::from([(
                "/docker-entrypoint-initdb.d".to_string(),
                entry("configMap", &init, true)
            )])
        )])
    );
    let agent = get(&manifests, "DaemonSet", "agent");
    assert_eq!(
        mounts(agent),
        BTreeMap::from([(
            "agent".to_string(),
            BTreeMap::from([("/var/run/token".to_string(), entry("secret", &token, true))])
        )])
    );
    // a partial manifest: no selector, no images, no annotations unless rollout
    assert_eq!(template(web).get("metadata"), None, "{}", web.body);
}

#[test]
fn mounts_follow_the_hash_when_the_data_changes() {
    let project = parse(MOUNTED);
    let before = render_ok(&project, None, &mounted_inputs());
    let after = render_ok(
        &project,
        None,
        &mounted_inputs().file("namespaces/ns/nginx.conf", "server { listen 81; }\n"),
    );
    let old = get(&before, "ConfigMap", "nginx").name.clone();
    let new = get(&after, "ConfigMap", "nginx").name.clone();
    assert_ne!(old, new);
    assert_eq!(
        mounts(get(&after, "Deployment", "web"))["nginx"]["/etc/nginx/conf.d"],
        entry("configMap", &new, true)
    );
}

#[test]
fn mounts_use_the_plain_name_without_hash_suffix() {
    let project = parse(
        "version: 1
project: shop
defaults:
  hashSuffix: false
namespaces:
  ns:
    configMaps:
      - name: cfg
        literals: {A: '1'}
        mount: {workload: Deployment/api, container: api, path: /cfg}
",
    );
    let manifests = render_ok(&project, None, &Given::default());
    assert_eq!(
        mounts(get(&manifests, "Deployment", "api"))["api"]["/cfg"],
        entry("configMap", "cfg", true)
    );
}

#[test]

fn every_mounted_object_gets_its_own_volume() {
    let long = format!("{0}.{0}", "x".repeat(30));
    let project = parse(&format!(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: a.b
        literals: {{A: '1'}}
        mount: {{workload: Deployment/api, container: api, path: /one}}
      - name: a-b
        literals: {{A: '2'}}
        mount: {{workload: Deployment/api, container: api, path: /two}}
      - name: {long}-first
        literals: {{A: '3'}}
        mount: {{workload: Deployment/api, container: api, path: /three}}
      - name: {long}-second
        literals: {{A: '4'}}
        mount: {{workload: Deployment/api, container: api, path: /four}}
"
    ));
    let manifests = render_ok(&project, None, &Given::default());
    let api = mounts(get(&manifests, "Deployment", "api"));
    let paths: BTreeMap<&str, &str> = api["api"]
        .iter()
        .map(|(path, (_, object, _))| (path.as_str(), object.as_str()))
        .collect();
    let name_of = |declared: &str| get(&manifests, "ConfigMap", declared).name.clone();
    assert_eq!(
        paths,
        BTreeMap::from([
            ("/one", name_of("a.b").as_str()),
            ("/two", name_of("a-b").as_str()),
            ("/three", name_of(&format!("{long}-first")).as_str()),
            ("/four", name_of(&format!("{long}-second")).as_str()),
        ])
    );
}

#[test]
fn a_mount_without_container_is_a_problem() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        literals: {A: '1'}
        mount: {workload: Deployment/api, path: /etc/api}
",
    );
    let problems = render_err(&project, None, &Given::default());
    assert_eq!(problems.len(), 1, "{}", all(&problems));
    assert_eq!(problems[0].location, "ksec.yaml:6");
    assert_eq!(problems[0].object, "ns/ConfigMap/cfg");
    assert!(problems[0].message.contains("container"), "{}", problems[0]);
}

#[test]
fn bad_workload_references_are_problems() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: job
        literals: {A: '1'}
        mount: {workload: Job/x, container: c, path: /x}
      - name: bare
        literals: {A: '1'}
        rollout: [Deployment]
      - name: lower
        literals: {A: '1'}
        rollout: [deployment/api, Deployment/Api]
",
    );
    let problems = render_err(&project, None, &Given::default());
    let text = all(&problems);
    assert_eq!(problems.len(), 4, "{text}");
    let of = |object: &str| -> Vec<&Problem> {
        problems.iter().filter(|p| p.object == object).collect()
    };
    assert_eq!(of("ns/ConfigMap/job").len(), 1, "{text}");
    assert!(
        of("ns/ConfigMap/job")[0].message.contains("Job/x"),
        "{text}"
    );
    assert_eq!(of("ns/ConfigMap/bare").len(), 1, "{text}");
    assert!(
        of("ns/ConfigMap/bare")[0]
            .message
            .contains("\"Deployment\""),
        "{text}"
    );
    assert_eq!(of("ns/ConfigMap/lower").len(), 2, "{text}");
}

// ---------------------------------------------------------------- rollout

const ROLLED: &str = "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: cfg
        literals: {LOG_LEVEL: info}
        labels: {x: '1'}
        rollout: [Deployment/api]
      - name: other
        literals: {A: '1'}
      - name: fixed
        literals: {B: '1'}
        hashSuffix: false
        rollout: [Deployment/api]
    secrets:
      - name: db
        sources: [db.enc.yaml]
        rollout: [Deployment/api, StatefulSet/worker]
        mount: {workload: Deployment/api, container: api, path: /db}
";

fn rolled(project: &str, password: &str) -> Vec<Manifest> {
    let given = Given::default().secret("namespaces/ns/db.enc.yaml", &[("PASSWORD", password)]);
    render_ok(&parse(project), None, &given)
}

fn rollout_values(manifests: &[Manifest]) -> BTreeMap<String, String> {
    pod_annotations(get(manifests, "Deployment", "api"))
}

#[test]
fn rollout_annotates_the_pod_template_and_merges_with_mounts() {
    let manifests = rolled(ROLLED, "pw");
    assert_eq!(count(&manifests, "Deployment"), 1);
    let api = get(&manifests, "Deployment", "api");
    let annotations = pod_annotations(api);
    assert_eq!(
        annotations.keys().cloned().collect::<Vec<_>>(),
        [
            "ksec.dev/configmap-cfg",
            "ksec.dev/configmap-fixed",
            "ksec.dev/secret-db"
        ]
    );
    let db = get(&manifests, "Secret", "db").name.clone();
    assert_eq!(mounts(api)["api"]["/db"], entry("secret", &db, true));
    let worker = pod_annotations(get(&manifests, "StatefulSet", "worker"));
    assert_eq!(
        worker,
        BTreeMap::from([(
            "ksec.dev/secret-db".to_string(),
            annotations["ksec.dev/secret-db"].clone()
        )])
    );
    assert!(
        annotations.values().all(|v| !v.is_empty()),
        "{annotations:?}"
    );
}

#[test]
fn rollout_values_change_with_the_data_and_only_with_it() {
    let base = rollout_values(&rolled(ROLLED, "pw"));
    assert_eq!(base, rollout_values(&rolled(ROLLED, "pw")), "deterministic");

    let changed_cfg = rollout_values(&rolled(
        &ROLLED.replace("LOG_LEVEL: info", "LOG_LEVEL: warn"),
        "pw",
    ));
    assert_ne!(
        changed_cfg["ksec.dev/configmap-cfg"],
        base["ksec.dev/configmap-cfg"]
    );
    assert_eq!(
        changed_cfg["ksec.dev/secret-db"],
        base["ksec.dev/secret-db"]
    );
    assert_eq!(
        changed_cfg["ksec.dev/configmap-fixed"],
        base["ksec.dev/configmap-fixed"]
    );

    // without a hash suffix the annotation is what rolls the pods
    let changed_fixed = rollout_values(&rolled(&ROLLED.replace("B: '1'", "B: '2'"), "pw"));
    assert_ne!(
        changed_fixed["ksec.dev/configmap-fixed"],
        base["ksec.dev/configmap-fixed"]
    );
    assert_eq!(
        changed_fixed["ksec.dev/configmap-cfg"],
        base["ksec.dev/configmap-cfg"]
    );

    let changed_secret = rollout_values(&rolled(ROLLED, "pw2"));
    assert_ne!(
        changed_secret["ksec.dev/secret-db"],
        base["ksec.dev/secret-db"]
    );
    assert_eq!(
        changed_secret["ksec.dev/configmap-cfg"],
        base["ksec.dev/configmap-cfg"]
    );

    // metadata and unrelated objects do not roll anything
    assert_eq!(
        rollout_values(&rolled(&ROLLED.replace("x: '1'", "x: '2'"), "pw")),
        base
    );
    assert_eq!(
        rollout_values(&rolled(&ROLLED.replace("A: '1'", "A: '2'"), "pw")),
        base
    );
}

#[test]

fn every_rollout_object_gets_its_own_annotation() {
    let long = format!("{0}.{0}", "y".repeat(30));
    let project = parse(&format!(
        "version: 1
project: shop
namespaces:
  ns:
    configMaps:
      - name: {long}-first
        literals: {{A: '1'}}
        rollout: [Deployment/api]
      - name: {long}-second
        literals: {{A: '2'}}
        rollout: [Deployment/api]
"
    ));
    let manifests = render_ok(&project, None, &Given::default());
    assert_eq!(
        pod_annotations(get(&manifests, "Deployment", "api")).len(),
        2,
        "{}",
        get(&manifests, "Deployment", "api").body
    );
}

// ---------------------------------------------------------------- whole output

#[test]
fn rendered_yaml() {
    let project = parse(
        "version: 1
project: shop
defaults:
  labels: {team: shop}
  annotations: {owner: platform}
environments:
  prod: {context: prod}
  staging: {context: staging}
namespaces:
  payments:
    configMaps:
      - name: api-config
        envFiles: [api.env]
        files: [nginx.conf, logo.bin]
        literals: {FEATURE: 'yes', PIN: '0123'}
        rollout: [Deployment/api]
        mount: {workload: Deployment/api, container: api, path: /etc/api}
        overrides:
          prod:
            literals: {FEATURE: 'no'}
    secrets:
      - name: db
        sources: [db.enc.yaml]
        immutable: true
        labels: {tier: data}
        mount: {workload: Deployment/api, container: api, path: /etc/db, readOnly: false}
      - name: registry
        type: kubernetes.io/dockerconfigjson
        hashSuffix: false
        sources: [registry.enc.yaml]
",
    );
    let given = Given::default()
        .file("namespaces/payments/api.env", "LOG_LEVEL=info\nMODE=on\n")
        .file(
            "namespaces/payments/nginx.conf",
            "server {\n  listen 80;\n}\n",
        )
        .file(
            "namespaces/payments/logo.bin",
            [0x89, b'P', b'N', b'G', 0xff],
        )
        .secret(
            "namespaces/payments/db.enc.yaml",
            &[("DB_USER", "payments"), ("DB_PASSWORD", "demo")],
        )
        .secret(
            "namespaces/payments/registry.enc.yaml",
            &[
                ("registry", "registry.example.com"),
                ("username", "ci"),
                ("password", "demo-token"),
            ],
        );
    let manifests = render_ok(&project, Some("prod"), &given);
    insta::assert_snapshot!(emit::documents(manifests.iter().map(|m| &m.body)));
}

// ---------------------------------------------------------------- folders

/// Namespace folders inside one another, a file named by both, one named
/// only by the outer namespace, in both orders of ksec.yaml.
const NESTED: &str = "version: 1
project: shop
namespaces:
  a-top:
    path: teams
    configMaps:
      - name: t
        envFiles: [outer/own.env]
  inner:
    path: teams/outer/inner
    configMaps:
      - name: a
        envFiles: [shared.env]
    secrets:
      - name: s
        sources: [db.enc.env]
  outer:
    path: teams/outer
    configMaps:
      - name: b
        envFiles: [inner/shared.env, own.env]
        files: ['k=inner/deep.txt']
  zlast:
    path: teams/outer/inner
    configMaps:
      - name: c
        envFiles: [z.env]
";

#[test]
fn folders_give_each_source_the_deepest_folder_of_the_objects_naming_it() {
    let project = parse(NESTED);
    let sel = selection(&project, None);
    let folders = folders(&sel);
    let at = |p: &str| {
        folders
            .get(Path::new(p))
            .map(|f| f.to_string_lossy().into_owned())
    };
    // named by inner and by outer: the deeper folder, whatever the order
    assert_eq!(
        at("teams/outer/inner/shared.env").as_deref(),
        Some("teams/outer/inner")
    );
    // named by outer only: outer's folder, although it lies in inner's
    assert_eq!(
        at("teams/outer/inner/deep.txt").as_deref(),
        Some("teams/outer")
    );
    // named first by a-top (teams), then by outer: outer's
    assert_eq!(at("teams/outer/own.env").as_deref(), Some("teams/outer"));
    assert_eq!(
        at("teams/outer/inner/db.enc.env").as_deref(),
        Some("teams/outer/inner")
    );
    assert_eq!(
        at("teams/outer/inner/z.env").as_deref(),
        Some("teams/outer/inner")
    );
    // and for every needed file, the folder `uses` finds one path at a time
    let needed = needed(&sel);
    assert_eq!(needed.len(), folders.len(), "{needed:?}");
    for item in needed {
        let (Needed::Plain(p) | Needed::Encrypted(p)) = &item;
        let deepest = uses(&sel, p)
            .iter()
            .map(|u| u.folder)
            .max_by_key(|f| f.components().count())
            .map(Path::to_path_buf);
        assert_eq!(folders.get(p).map(|f| f.to_path_buf()), deepest, "{p:?}");
    }
}

#[test]
fn needed_leaves_out_a_path_out_of_its_folder_unless_another_namespace_holds_it() {
    // outer names ../elsewhere/x.env: out of its folder and out of every
    // other, so not read; inner/shared.env from outer is inside outer.
    let project = parse(
        "version: 1
project: shop
namespaces:
  outer:
    path: teams/outer
    configMaps:
      - name: b
        envFiles: ['../elsewhere/x.env', inner/shared.env]
",
    );
    let sel = selection(&project, None);
    assert_eq!(
        needed_set(&needed(&sel)),
        BTreeSet::from([plain("teams/outer/inner/shared.env")])
    );
}

#[test]
fn uses_name_each_object_reading_a_path_once_per_role_in_file_order() {
    let project = parse(
        "version: 1
project: shop
namespaces:
  a:
    configMaps:
      - name: one
        envFiles: [x.env, x.env]
        files: ['k=x.env']
      - name: two
        envFiles: [y.env]
    secrets:
      - name: s
        sources: [x.env]
  b:
    path: namespaces/a
    configMaps:
      - name: three
        envFiles: [x.env]
",
    );
    let sel = selection(&project, None);
    let got = |p: &str| -> Vec<(String, String, &str, String)> {
        uses(&sel, Path::new(p))
            .into_iter()
            .map(|u| (u.location, u.object, u.what, u.folder.display().to_string()))
            .collect()
    };
    let at = |o: &str, l: u32, what: &'static str| {
        (
            format!("ksec.yaml:{l}"),
            o.to_string(),
            what,
            "namespaces/a".to_string(),
        )
    };
    assert_eq!(
        got("namespaces/a/x.env"),
        vec![
            at("a/ConfigMap/one", 6, "env file"),
            at("a/ConfigMap/one", 6, "file"),
            at("a/Secret/s", 12, "encrypted source"),
            at("b/ConfigMap/three", 17, "env file"),
        ]
    );
    assert_eq!(
        got("namespaces/a/y.env"),
        vec![at("a/ConfigMap/two", 9, "env file")]
    );
    assert!(got("namespaces/a/z.env").is_empty());
    let by_path = uses_by_path(&sel);
    assert_eq!(by_path.len(), 2);
}
