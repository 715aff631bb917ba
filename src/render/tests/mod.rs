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
                .map(|(k, v)| (k.to_string(), SecretSlice::from(v.as_bytes().to_vec())))
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

mod data;
mod wiring;
