//! Mounts and rollouts into workloads, and the folders sources belong to.

use super::*;

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
