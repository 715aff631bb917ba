//! Secret types, data problems, and the files a render needs.

use super::*;

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
                    .insert(p, vec![(key, SecretSlice::from(b"v".to_vec()))]);
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
