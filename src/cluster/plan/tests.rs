use super::*;
use serde_json::json;

fn manifest(kind: &str, body: Value) -> Manifest {
    Manifest {
        namespace: "ns".into(),
        kind: kind.into(),
        name: "x".into(),
        body,
    }
}

fn rows(needs: &[Need]) -> Vec<String> {
    needs
        .iter()
        .map(|n| {
            format!(
                "{}:{}/{}/{}:{}",
                n.namespace, n.group, n.resource, n.name, n.verb
            )
        })
        .collect()
}

#[test]
fn reads_list_config_and_onboarding_kinds_and_get_the_rest_by_name() {
    let ms = vec![
        manifest("Deployment", json!({})),
        Manifest {
            namespace: "team".into(),
            kind: "Namespace".into(),
            name: "team".into(),
            body: json!({}),
        },
    ];
    let namespaces = ["ns".to_string(), "team".to_string()];
    let reads = reads(&ms, &namespaces, &["team".into()], false);
    assert!(reads.lists.contains(&("ns".into(), "Secret".into())));
    assert!(!reads.lists.contains(&("ns".into(), "Role".into())));
    assert!(reads.lists.contains(&("team".into(), "Role".into())));
    assert_eq!(
        reads.gets,
        vec![
            ("ns".into(), "Deployment".into(), "x".into()),
            ("".into(), "Namespace".into(), "team".into())
        ]
    );
    let needs = rows(&read_needs(&reads));
    assert!(
        needs.contains(&":/namespaces/team:get".to_string()),
        "{needs:?}"
    );
    assert!(
        needs.contains(&"ns:apps/deployments/:get".to_string()),
        "{needs:?}"
    );
    assert!(needs.contains(&"team:rbac.authorization.k8s.io/rolebindings/:list".to_string()));
    assert!(
        !needs
            .iter()
            .any(|n| n.ends_with(":create") || n.ends_with(":patch"))
    );

    // pruning the whole project lists ksec's cluster-scoped objects too
    let wide = super::reads(&ms, &namespaces, &["team".into()], true);
    assert!(wide.lists.contains(&("".into(), "Namespace".into())));
    assert_eq!(wide.gets, reads.gets);
}

#[test]
fn a_right_shared_by_namespaces_is_asked_once_for_all_of_them() {
    let n = |ns: &str, resource: &str, verb: &str, name: &str| {
        need(
            ns,
            if resource == "secrets" {
                "Secret"
            } else {
                "Namespace"
            },
            verb,
            name,
        )
    };
    let needs = vec![
        n("a", "secrets", "list", ""),
        n("b", "secrets", "list", ""),
        n("a", "secrets", "patch", ""),
        n("", "namespaces", "get", "a"),
        n("", "namespaces", "get", "b"),
    ];
    // only the right two namespaces share; never a cluster-scoped one
    assert_eq!(rows(&every_namespace(&needs)), vec![":/secrets/:list"]);
    let wide = &every_namespace(&needs)[0];
    let covered: Vec<String> = rows(
        &needs
            .iter()
            .filter(|x| same_right(wide, x))
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(covered, vec!["a:/secrets/:list", "b:/secrets/:list"]);
}

#[test]
fn writes_need_rights_only_for_what_changes() {
    let cm = manifest("ConfigMap", json!({}));
    let same = manifest("Secret", json!({}));
    let ns = Manifest {
        namespace: "team".into(),
        kind: "Namespace".into(),
        name: "team".into(),
        body: json!({}),
    };
    let changes = vec![
        (&cm, Change::Update(vec![])),
        (&same, Change::Unchanged),
        (&ns, Change::Create),
    ];
    let deletes = vec![("ns".to_string(), "Secret".to_string(), "old".to_string())];
    let needs = rows(&write_needs(&changes, &deletes));
    assert_eq!(
        needs,
        vec![
            ":/namespaces/team:create",
            ":/namespaces/team:patch",
            "ns:/configmaps/:patch",
            "ns:/secrets/:delete",
        ]
    );
    assert!(write_needs(&[(&same, Change::Unchanged)], &[]).is_empty());
}

#[test]
fn an_onboarding_object_is_unchanged_when_live_holds_its_fields() {
    let want = manifest(
        "ResourceQuota",
        json!({"metadata": {"labels": {"a": "b"}}, "spec": {"hard": {"cpu": "4", "pods": "20"}}}),
    );
    let live = json!({"metadata": {"labels": {"a": "b"}, "uid": "u"}, "spec": {"hard": {"cpu": "4", "pods": "20"}}, "status": {}});
    assert_eq!(compare(&want, Some(&live)), Change::Unchanged);
    // the server's canonical form of the same quantities is no change
    let canonical = json!({"metadata": {"labels": {"a": "b"}}, "spec": {"hard": {"cpu": "4000m", "pods": "2e1"}}});
    assert_eq!(compare(&want, Some(&canonical)), Change::Unchanged);
    let live =
        json!({"metadata": {"labels": {"a": "b"}}, "spec": {"hard": {"cpu": "2", "pods": "20"}}});
    assert_eq!(
        compare(&want, Some(&live)),
        Change::Update(vec!["~ spec.hard.cpu".into()])
    );
}

#[test]
fn secret_changes_show_digests_never_values() {
    let want = manifest(
        "Secret",
        json!({"data": {"a": "bmV3", "b": "c2FtZQ=="}, "type": "Opaque"}),
    );
    let live = json!({"data": {"a": "b2xk", "b": "c2FtZQ==", "gone": "eA=="}, "type": "Opaque"});
    let Change::Update(lines) = compare(&want, Some(&live)) else {
        panic!("expected an update")
    };
    let text = lines.join("\n");
    assert!(text.contains("~ data.a (changed: "), "{text}");
    assert!(text.contains("- data.gone (removed)"), "{text}");
    assert!(!text.contains("bmV3") && !text.contains("b2xk"), "{text}");
}

#[test]
fn secret_digests_are_keyed_so_a_log_reader_cannot_test_guesses() {
    let pin = "4821";
    // the old digest: an unkeyed sha256 prefix, reversible by trying all PINs
    let unkeyed = |v: &str| -> String {
        use sha2::Digest;
        Sha256::digest(v.as_bytes())
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let shown = digest(pin);
    assert_eq!(shown.len(), 8);
    assert_eq!(
        shown,
        digest(pin),
        "equal values compare equal within a run"
    );
    assert_ne!(shown, digest("4822"));
    assert_ne!(shown, unkeyed(pin));
    assert_ne!(keyed_digest(b"key one", pin), keyed_digest(b"key two", pin));
    // brute force without the key: no function of the value alone
    // (unkeyed, or keyed with a guessable key) finds the PIN
    let found = (0..10_000).map(|n| format!("{n:04}")).find(|guess| {
        unkeyed(guess) == shown
            || keyed_digest(b"", guess) == shown
            || keyed_digest(guess.as_bytes(), guess) == shown
    });
    assert_eq!(found, None);
}

#[test]
fn config_map_changes_show_a_line_diff() {
    let want = manifest("ConfigMap", json!({"data": {"c": "a\nB\nc\n"}}));
    let live = json!({"data": {"c": "a\nb\nc\n"}});
    let Change::Update(lines) = compare(&want, Some(&live)) else {
        panic!("expected an update")
    };
    assert_eq!(lines, vec!["~ data.c (changed)", "    -b", "    +B"]);
    // a machine is told the key, never the lines of the value
    let d = Difference {
        verb: "update",
        key: key_of(&want),
        replaces: None,
        lines,
        reason: None,
    };
    assert_eq!(d.keys(), vec!["data.c"]);
    assert!(!d.to_json().to_string().contains('B'), "{}", d.to_json());
}

#[test]
fn an_applied_partial_workload_is_unchanged() {
    let want = manifest(
        "Deployment",
        json!({"spec": {"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "c-1"}}]}}}}),
    );
    let live = json!({"spec": {"replicas": 1, "template": {"spec": {"volumes": [
        {"name": "other", "emptyDir": {}},
        {"name": "v", "configMap": {"name": "c-1"}}
    ]}}}});
    assert_eq!(compare(&want, Some(&live)), Change::Unchanged);
    let stale = json!({"spec": {"template": {"spec": {"volumes": [{"name": "v", "configMap": {"name": "c-0"}}]}}}});
    assert!(matches!(compare(&want, Some(&stale)), Change::Update(_)));
}

/// A hash-named Secret version of `base`, as render writes it.
fn version(base: &str, hash: &str, data: Value) -> Manifest {
    let name = format!("{base}-{hash}");
    Manifest {
        namespace: "ns".into(),
        kind: "Secret".into(),
        name: name.clone(),
        body: json!({
            "metadata": {"name": name, "annotations": {crate::k8s::NAME_ANNOTATION: base}},
            "data": data,
        }),
    }
}

fn live_version(base: &str, created: &str) -> Value {
    json!({
        "metadata": {"creationTimestamp": created, "annotations": {crate::k8s::NAME_ANNOTATION: base}},
        "data": {"k": "b2xk"},
    })
}

fn key(kind: &str, name: &str) -> ObjectKey {
    ("ns".into(), kind.into(), name.into())
}

/// Rendered: a new version of `app`, a ConfigMap that differs and one
/// that is the same. Live besides: three older versions of `app`, and
/// two objects that left the project (`theirs` from another checkout).
fn cluster() -> (Vec<Manifest>, Live) {
    let rendered = vec![
        version("app", "cccccccccc", json!({"k": "bmV3"})),
        manifest("ConfigMap", json!({"data": {"a": "2"}})),
        Manifest {
            name: "same".into(),
            ..manifest("ConfigMap", json!({"data": {"a": "1"}}))
        },
    ];
    let objects = BTreeMap::from([
        (
            key("Secret", "app-bbbbbbbbbb"),
            live_version("app", "2026-01-03T00:00:00Z"),
        ),
        (
            key("Secret", "app-aaaaaaaaaa"),
            live_version("app", "2026-01-02T00:00:00Z"),
        ),
        (
            key("Secret", "app-9999999999"),
            live_version("app", "2026-01-01T00:00:00Z"),
        ),
        (key("ConfigMap", "x"), json!({"data": {"a": "1"}})),
        (key("ConfigMap", "same"), json!({"data": {"a": "1"}})),
        (key("ConfigMap", "gone"), json!({"data": {}})),
        (
            key("ConfigMap", "theirs"),
            json!({"data": {"elsewhere": ""}}),
        ),
    ]);
    let managed = objects.keys().cloned().collect();
    let live = Live {
        objects,
        managed,
        unseen: Vec::new(),
    };
    (rendered, live)
}

/// The test's stand-in for `Origin::judge`.
fn judge(object: Option<&Value>) -> Option<Provenance> {
    object?["data"]
        .get("elsewhere")
        .map(|_| Provenance::Foreign("other-host:/infra".into()))
}

#[test]
fn drift_is_creates_updates_and_expired_versions_not_kept_ones_nor_orphans() {
    let (rendered, live) = cluster();
    // keep 1: app-bbbbbbbbbb stays, the two older versions expire
    let changes = changes(&rendered, &live, 1, |_| None);
    let lines = changes.drift(false);
    assert_eq!(
        lines[0],
        "create ns/Secret/app-cccccccccc (replaces app-bbbbbbbbbb)"
    );
    assert!(lines[1].starts_with("  ~ data.k"), "{lines:?}");
    assert_eq!(lines[2], "update ns/ConfigMap/x");
    let expired = |name: &str| {
        format!("delete ns/Secret/{name} (superseded version beyond defaults.keepVersions)")
    };
    assert_eq!(
        lines[lines.len() - 2..],
        [expired("app-9999999999"), expired("app-aaaaaaaaaa")]
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("bbbbbbbbbb ") || l.contains("gone") || l.contains("same")),
        "{lines:?}"
    );
    assert_eq!(
        changes.orphans,
        vec![key("ConfigMap", "gone"), key("ConfigMap", "theirs")]
    );
    let json: Vec<Value> = changes
        .differences(false)
        .iter()
        .map(Difference::to_json)
        .collect();
    assert_eq!(
        json[0],
        json!({"action": "create", "namespace": "ns", "kind": "Secret",
               "name": "app-cccccccccc", "keys": ["data.k"], "replaces": "app-bbbbbbbbbb"})
    );
    assert_eq!(json[1]["action"], "update");
    assert_eq!(
        json[json.len() - 1]["reason"],
        "superseded version beyond defaults.keepVersions"
    );
    assert_eq!(changes.to_write().len(), 2);
    assert_eq!(
        changes.created(),
        BTreeSet::from([key("Secret", "app-cccccccccc")])
    );

    // --prune: the orphans are drift too
    let pruned = changes.drift(true);
    assert!(pruned.contains(&"delete ns/ConfigMap/gone (--prune)".to_string()));
    assert!(pruned.contains(&"delete ns/ConfigMap/theirs (--prune)".to_string()));

    // the cluster matches: no drift
    let same = &rendered[2..];
    let mut live = live;
    live.managed = vec![key("ConfigMap", "same")];
    assert!(changes_of(same, &live).drift(true).is_empty());
}

fn changes_of<'a>(rendered: &'a [Manifest], live: &Live) -> Changes<'a> {
    changes(rendered, live, 2, judge)
}

#[test]
fn an_object_of_another_checkout_is_never_deleted() {
    let (rendered, live) = cluster();
    let changes = changes_of(&rendered, &live);
    let (pruned, _) = changes.deletions(true);
    assert_eq!(pruned, vec![key("ConfigMap", "gone")]);
    assert!(!changes.drift(true).iter().any(|l| l.contains("theirs")));
    let warned: Vec<&ObjectKey> = changes
        .provenance(true)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(warned, vec![&key("ConfigMap", "theirs")]);
    // without --prune an orphan is not deleted anyway: nothing to say
    assert!(changes.provenance(false).is_empty());
}

#[test]
fn counts_are_per_namespace_and_count_only_what_was_written() {
    let (rendered, live) = cluster();
    let changes = changes_of(&rendered, &live);
    let counts = changes.counts(
        &["ns/Secret/app-cccccccccc".to_string()],
        &["ns/ConfigMap/gone".to_string(), "Namespace/old".to_string()],
    );
    assert_eq!(
        counts["ns"],
        Counts {
            created: 1,
            updated: 0,
            unchanged: 1,
            pruned: 1
        }
    );
    assert_eq!(counts["old"].pruned, 1);
}

#[test]
fn a_workload_the_cluster_lacks_is_missing_a_config_map_is_created() {
    let rendered = vec![
        manifest("Deployment", json!({})),
        manifest("ConfigMap", json!({"data": {}})),
    ];
    let live = Live {
        objects: BTreeMap::new(),
        managed: Vec::new(),
        unseen: Vec::new(),
    };
    let changes = changes_of(&rendered, &live);
    assert_eq!(changes.missing_workloads(), vec![key("Deployment", "x")]);
    assert_eq!(changes.created().len(), 2);
}
