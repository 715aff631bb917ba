use super::*;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

fn parse(text: &str) -> Json {
    serde_saphyr::from_str::<Json>(text)
        .unwrap_or_else(|e| panic!("result does not parse: {e}\n---\n{text}"))
}

fn names(v: &Json) -> Vec<String> {
    match &v["namespaces"] {
        Json::Object(m) => m.keys().cloned().collect(),
        other => panic!("namespaces is not a mapping: {other}"),
    }
}

const BODY: &str = "owners: [web-devs]\nquota:\n  cpu: \"4\"\n";

fn web() -> Json {
    json!({"owners": ["web-devs"], "quota": {"cpu": "4"}})
}

/// Comments inside and around the block, a trailing commented-out entry,
/// a column-0 comment and a blank line before the next key.
const COMMENTED: &str = "\
# ksec project file.
version: 1
project: shop

namespaces:   # one entry per namespace
  # Payments team; ask in #payments before changing.
  payments:
    owners: [payments-devs]   # trailing comment
    configMaps:
    - name: api-config        # go-yaml style: sequence at the parent's column
      literals: {LOG_LEVEL: info}
    # retired: old-config

  # the shop front
  storefront:
    owners: [storefront-devs]
    secrets:
      - name: tls
        sources: [tls.enc.yaml]
  # search:
  #   owners: [search-devs]
# Environments follow.

environments:
  prod:
    context: prod
";

#[test]
fn add_goes_after_the_last_child_and_keeps_every_comment() {
    let out = add_namespace(COMMENTED, "web", BODY).unwrap();
    let expected = COMMENTED.replace(
            "        sources: [tls.enc.yaml]\n",
            "        sources: [tls.enc.yaml]\n  web:\n    owners: [web-devs]\n    quota:\n      cpu: \"4\"\n",
        );
    assert_eq!(out, expected);
    let v = parse(&out);
    assert_eq!(names(&v), ["payments", "storefront", "web"]);
    assert_eq!(v["namespaces"]["web"], web());
    assert_eq!(v["environments"]["prod"]["context"], "prod");
    assert_eq!(
        v["namespaces"]["payments"]["configMaps"][0]["name"],
        "api-config"
    );
}

#[test]
fn add_uses_the_files_indentation_of_four() {
    let text = "namespaces:\n    payments:\n        owners: [p]\nversion: 1\n";
    let out = add_namespace(text, "web", BODY).unwrap();
    assert_eq!(
        out,
        "namespaces:\n    payments:\n        owners: [p]\n    web:\n        owners: [web-devs]\n        quota:\n          cpu: \"4\"\nversion: 1\n"
    );
    let v = parse(&out);
    assert_eq!(v["namespaces"]["web"], web());
    assert_eq!(v["version"], 1);
}

#[test]
fn add_uses_a_step_that_differs_from_the_childrens_column() {
    // Children at 2, their bodies 4 deeper.
    let text = "namespaces:\n  payments:\n      owners: [p]\n";
    let out = add_namespace(text, "web", "owners: [w]\n").unwrap();
    assert_eq!(out, format!("{text}  web:\n      owners: [w]\n"));
    assert_eq!(parse(&out)["namespaces"]["web"], json!({"owners": ["w"]}));
}

/// The shape `ksec init` writes.
const STARTER: &str = "\
# Named groups of recipients.
groups: {}
#  payments-team: [alice, bob]

# Namespaces and their objects.
namespaces: {}  # none yet
#  payments:
#    recipients: [payments-team]
#    secrets:
#      - name: db
";

#[test]
fn add_to_empty_flow_mapping_goes_right_below_the_key() {
    let out = add_namespace(STARTER, "web", BODY).unwrap();
    let expected = STARTER.replace(
        "namespaces: {}  # none yet\n",
        "namespaces:  # none yet\n  web:\n    owners: [web-devs]\n    quota:\n      cpu: \"4\"\n",
    );
    assert_eq!(out, expected);
    let v = parse(&out);
    assert_eq!(names(&v), ["web"]);
    assert_eq!(v["namespaces"]["web"], web());
    assert_eq!(v["groups"], json!({}));
}

#[test]
fn add_to_the_real_starter_file_parses() {
    let starter = crate::project::scaffold::starter_ksec_yaml("shop", &[]);
    let out = add_namespace(&starter, "web", BODY).unwrap();
    let v = parse(&out);
    assert_eq!(names(&v), ["web"]);
    assert_eq!(v["namespaces"]["web"], web());
    assert_eq!(remove_namespace(&out, "web").unwrap(), starter);
}

#[test]
fn add_to_null_or_bare_namespaces() {
    for (text, expected) in [
        (
            "namespaces: ~\nversion: 1\n",
            "namespaces:\n  web:\n    owners: [w]\nversion: 1\n",
        ),
        (
            "namespaces:\n\nversion: 1\n",
            "namespaces:\n  web:\n    owners: [w]\n\nversion: 1\n",
        ),
        ("namespaces:", "namespaces:\n  web:\n    owners: [w]"),
    ] {
        let out = add_namespace(text, "web", "owners: [w]").unwrap();
        assert_eq!(out, expected);
        assert_eq!(parse(&out)["namespaces"]["web"], json!({"owners": ["w"]}));
    }
}

#[test]
fn add_without_namespaces_appends_the_key() {
    for (text, expected) in [
        (
            "version: 1\n",
            "version: 1\n\nnamespaces:\n  web:\n    owners: [w]\n",
        ),
        (
            "version: 1",
            "version: 1\n\nnamespaces:\n  web:\n    owners: [w]\n",
        ),
        (
            "version: 1\n\n",
            "version: 1\n\nnamespaces:\n  web:\n    owners: [w]\n",
        ),
        ("", "namespaces:\n  web:\n    owners: [w]\n"),
    ] {
        let out = add_namespace(text, "web", "owners: [w]\n").unwrap();
        assert_eq!(out, expected, "for {text:?}");
        assert_eq!(parse(&out)["namespaces"]["web"], json!({"owners": ["w"]}));
    }
}

#[test]
fn add_with_an_empty_body_writes_an_empty_mapping() {
    let out = add_namespace("namespaces:\n  a: {}\n", "b", "\n").unwrap();
    assert_eq!(out, "namespaces:\n  a: {}\n  b: {}\n");
    assert_eq!(parse(&out)["namespaces"]["b"], json!({}));
}

#[test]
fn add_quotes_names_yaml_would_read_as_something_else() {
    let text = "namespaces:\n  a: {}\n";
    let out = add_namespace(text, "123", "owners: [x]\n").unwrap();
    assert_eq!(out, "namespaces:\n  a: {}\n  \"123\":\n    owners: [x]\n");
    let out = add_namespace(&out, "null", "").unwrap();
    assert_eq!(names(&parse(&out)), ["a", "123", "null"]);
    assert_eq!(
        remove_namespace(&remove_namespace(&out, "null").unwrap(), "123").unwrap(),
        text
    );
}

#[test]
fn flow_style_with_content_is_refused() {
    let text = "version: 1\nnamespaces: {payments: {owners: [p]}}\n";
    let expected = EditError(
        "`namespaces:` in ksec.yaml (line 2) is written in flow style (`{…}`), which ksec \
             cannot edit without losing its layout; rewrite it in block style, `namespaces:` \
             with one indented `name:` entry per namespace below it, and try again"
            .into(),
    );
    assert_eq!(add_namespace(text, "web", BODY), Err(expected));
    assert!(
        remove_namespace(text, "payments")
            .unwrap_err()
            .0
            .contains("flow style")
    );
}

#[test]
fn a_list_or_scalar_under_namespaces_is_refused() {
    for text in [
        "namespaces: [a, b]\n",
        "namespaces: payments\n",
        "namespaces:\n  - a\n",
        "namespaces:\n- a\n",
    ] {
        let err = add_namespace(text, "web", BODY).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`namespaces:` in ksec.yaml (line 1) is not a mapping of namespace names; it \
                 should be `namespaces:` with one indented `name:` entry per namespace below \
                 it, or `namespaces: {}` when there are none",
            "for {text:?}"
        );
    }
}

#[test]
fn add_refuses_an_existing_name() {
    assert_eq!(
        add_namespace(COMMENTED, "storefront", BODY),
        Err(EditError(
            "ksec.yaml already has a namespace `storefront` (line 15); choose another \
                 name, or remove that entry first"
                .into()
        ))
    );
}

#[test]
fn remove_refuses_an_unknown_name() {
    assert_eq!(
        remove_namespace(COMMENTED, "web"),
        Err(EditError(
            "ksec.yaml has no namespace `web` under `namespaces:` (it has: payments, \
                 storefront); check the spelling"
                .into()
        ))
    );
    assert_eq!(
        remove_namespace("version: 1\n", "web"),
        Err(EditError(
            "ksec.yaml has no top-level `namespaces:` key, so there is no namespace `web` \
                 to remove"
                .into()
        ))
    );
    assert_eq!(
        remove_namespace(STARTER, "web"),
        Err(EditError(
            "ksec.yaml has no namespace `web`: `namespaces:` (line 6) is empty".into()
        ))
    );
}

#[test]
fn names_must_not_be_empty_or_contain_control_characters() {
    assert!(
        add_namespace(COMMENTED, "", BODY)
            .unwrap_err()
            .0
            .contains("empty")
    );
    assert!(
        add_namespace(COMMENTED, "a\nb", BODY)
            .unwrap_err()
            .0
            .contains("control characters")
    );
}

const THREE: &str = "\
namespaces:
  api:
    owners: [api-devs]

  # Payments: PCI scope.
  # Keep recipients small.
  payments:
    owners: [payments-devs]
    secrets:
      - name: db
        sources: [db.enc.yaml]

  # A comment block about web, separated by a blank line.

  web:
    owners: [web-devs]
";

#[test]
fn remove_middle_entry_keeps_neighbours_and_their_comments() {
    let out = remove_namespace(THREE, "payments").unwrap();
    assert_eq!(
        out,
        "\
namespaces:
  api:
    owners: [api-devs]

  # A comment block about web, separated by a blank line.

  web:
    owners: [web-devs]
"
    );
    let v = parse(&out);
    assert_eq!(names(&v), ["api", "web"]);
    assert_eq!(v["namespaces"]["web"], json!({"owners": ["web-devs"]}));
}

#[test]
fn remove_keeps_a_comment_block_separated_by_a_blank_line() {
    let out = remove_namespace(THREE, "web").unwrap();
    assert_eq!(
        out,
        THREE.replace("\n\n  web:\n    owners: [web-devs]\n", "\n")
    );
    assert!(out.ends_with(
        "sources: [db.enc.yaml]\n\n  # A comment block about web, separated by a blank line.\n"
    ));
    assert_eq!(names(&parse(&out)), ["api", "payments"]);
}

#[test]
fn remove_first_entry_drops_its_comments_and_the_separator() {
    let out = remove_namespace(COMMENTED, "payments").unwrap();
    let expected = COMMENTED.replace(
            "  # Payments team; ask in #payments before changing.\n  payments:\n    owners: [payments-devs]   # trailing comment\n    configMaps:\n    - name: api-config        # go-yaml style: sequence at the parent's column\n      literals: {LOG_LEVEL: info}\n    # retired: old-config\n\n",
            "",
        );
    assert_eq!(out, expected);
    assert!(
        out.contains(
            "namespaces:   # one entry per namespace\n  # the shop front\n  storefront:\n"
        )
    );
    let v = parse(&out);
    assert_eq!(names(&v), ["storefront"]);
    assert_eq!(v["environments"]["prod"]["context"], "prod");
}

#[test]
fn remove_last_entry_keeps_trailing_comments_outside_it() {
    let out = remove_namespace(COMMENTED, "storefront").unwrap();
    let expected = COMMENTED.replace(
            "\n  # the shop front\n  storefront:\n    owners: [storefront-devs]\n    secrets:\n      - name: tls\n        sources: [tls.enc.yaml]\n",
            "\n",
        );
    assert_eq!(out, expected);
    assert!(out.contains("# retired: old-config\n\n  # search:\n"));
    assert_eq!(names(&parse(&out)), ["payments"]);
}

#[test]
fn removing_the_only_entry_leaves_an_empty_mapping() {
    let text = "namespaces: # teams\n  # the only one\n  web:\n    owners: [w]\n\nversion: 1\n";
    let out = remove_namespace(text, "web").unwrap();
    assert_eq!(out, "namespaces: {} # teams\n\nversion: 1\n");
    let v = parse(&out);
    assert_eq!(v["namespaces"], json!({}));
    assert_eq!(v["version"], 1);

    let out = remove_namespace("namespaces:\n  web: {}\n", "web").unwrap();
    assert_eq!(out, "namespaces: {}\n");
    assert_eq!(parse(&out)["namespaces"], json!({}));
}

#[test]
fn crlf_line_endings_are_kept() {
    let text = "# c\r\nnamespaces:\r\n  api:\r\n    owners: [a]\r\n# end\r\nversion: 1\r\n";
    let out = add_namespace(text, "web", BODY).unwrap();
    assert_eq!(
        out,
        "# c\r\nnamespaces:\r\n  api:\r\n    owners: [a]\r\n  web:\r\n    owners: [web-devs]\r\n    quota:\r\n      cpu: \"4\"\r\n# end\r\nversion: 1\r\n"
    );
    assert_eq!(parse(&out)["namespaces"]["web"], web());
    assert_eq!(remove_namespace(&out, "web").unwrap(), text);
    let out = remove_namespace(text, "api").unwrap();
    assert_eq!(out, "# c\r\nnamespaces: {}\r\n# end\r\nversion: 1\r\n");
    assert_eq!(parse(&out)["namespaces"], json!({}));

    let out = add_namespace("version: 1\r\n", "web", "owners: [w]\n").unwrap();
    assert_eq!(
        out,
        "version: 1\r\n\r\nnamespaces:\r\n  web:\r\n    owners: [w]\r\n"
    );
}

#[test]
fn quoted_keys_match() {
    let text = "\"namespaces\":\n  \"payments\":\n    owners: [p]\n  'web':\n    owners: [w]\n";
    assert!(
        add_namespace(text, "payments", BODY)
            .unwrap_err()
            .0
            .contains("already has a namespace `payments`")
    );
    let out = remove_namespace(text, "web").unwrap();
    assert_eq!(out, "\"namespaces\":\n  \"payments\":\n    owners: [p]\n");
    assert_eq!(names(&parse(&out)), ["payments"]);
    let out = remove_namespace(text, "payments").unwrap();
    assert_eq!(out, "\"namespaces\":\n  'web':\n    owners: [w]\n");
    assert_eq!(names(&parse(&out)), ["web"]);
}

#[test]
fn document_start_and_top_comments_are_fine() {
    let text = "---\n# top comment\n\n# about namespaces\nnamespaces:\n  a:\n    owners: [x]\n";
    let out = add_namespace(text, "b", "owners: [y]\n").unwrap();
    assert_eq!(out, format!("{text}  b:\n    owners: [y]\n"));
    assert_eq!(names(&parse(&out)), ["a", "b"]);
    assert_eq!(remove_namespace(&out, "b").unwrap(), text);
}

/// `namespaces:` nested in another key, and inside a block scalar.
const DECOYS: &str = "\
version: 1
notes: |
  namespaces:
    fake: {}
# not in the scalar
defaults:
  namespaces:
    nested: {}
";

#[test]
fn nested_or_block_scalar_namespaces_are_not_the_top_level_key() {
    assert!(
        remove_namespace(DECOYS, "fake")
            .unwrap_err()
            .0
            .contains("no top-level `namespaces:`")
    );
    let out = add_namespace(DECOYS, "web", "owners: [w]\n").unwrap();
    assert_eq!(
        out,
        format!("{DECOYS}\nnamespaces:\n  web:\n    owners: [w]\n")
    );
    let v = parse(&out);
    assert_eq!(names(&v), ["web"]);
    assert_eq!(v["defaults"]["namespaces"], json!({"nested": {}}));

    let text = format!("{DECOYS}namespaces:\n  real:\n    owners: [r]\n");
    let out = add_namespace(&text, "nested", "owners: [n]\n").unwrap();
    assert_eq!(out, format!("{text}  nested:\n    owners: [n]\n"));
    assert_eq!(names(&parse(&out)), ["real", "nested"]);
    assert_eq!(remove_namespace(&out, "nested").unwrap(), text);
}

#[test]
fn block_scalar_lines_starting_with_hash_are_not_comments() {
    let text = "\
namespaces:
  a:
    configMaps:
      - name: script
        literals:
          run.sh: |
            #!/bin/sh
            # not a comment
# trailing comment
version: 1
";
    let out = add_namespace(text, "b", "owners: [b]\n").unwrap();
    assert_eq!(
        out,
        text.replace(
            "# not a comment\n",
            "# not a comment\n  b:\n    owners: [b]\n"
        )
    );
    let v = parse(&out);
    assert_eq!(
        v["namespaces"]["a"]["configMaps"][0]["literals"]["run.sh"],
        "#!/bin/sh\n# not a comment\n"
    );
    assert_eq!(v["namespaces"]["b"], json!({"owners": ["b"]}));
    assert_eq!(remove_namespace(&out, "b").unwrap(), text);
    // Removing `a` takes its scalar along, but not the column-0 comment.
    assert_eq!(
        remove_namespace(&out, "a").unwrap(),
        "namespaces:\n  b:\n    owners: [b]\n# trailing comment\nversion: 1\n"
    );
}

#[test]
fn a_name_that_prefixes_another_is_a_different_entry() {
    let text = "namespaces:\n  payments:\n    owners: [p]\n";
    assert!(
        remove_namespace(text, "pay")
            .unwrap_err()
            .0
            .contains("no namespace `pay`")
    );
    let out = add_namespace(text, "pay", "owners: [q]\n").unwrap();
    assert_eq!(out, format!("{text}  pay:\n    owners: [q]\n"));
    assert_eq!(names(&parse(&out)), ["payments", "pay"]);
    let out = remove_namespace(&out, "pay").unwrap();
    assert_eq!(out, text);
    let both = "namespaces:\n  pay: {}\n  payments: {}\n";
    assert_eq!(
        remove_namespace(both, "pay").unwrap(),
        "namespaces:\n  payments: {}\n"
    );
}

#[test]
fn a_file_without_final_line_break_stays_without() {
    let text = "namespaces:\n  a:\n    owners: [x]";
    let out = add_namespace(text, "b", "owners: [y]\n").unwrap();
    assert_eq!(
        out,
        "namespaces:\n  a:\n    owners: [x]\n  b:\n    owners: [y]"
    );
    assert_eq!(names(&parse(&out)), ["a", "b"]);
    assert_eq!(remove_namespace(&out, "b").unwrap(), text);
}

/// Files an entry can be added to and removed from again, byte for byte.
const SHAPES: &[&str] = &[
    COMMENTED,
    STARTER,
    THREE,
    "namespaces: {}\n",
    "version: 1\nnamespaces:\n    payments:\n        owners: [p]\n",
    "# c\r\nnamespaces:\r\n  api:\r\n    owners: [a]\r\n# end\r\nversion: 1\r\n",
    "namespaces:\n  a:\n    configMaps:\n    - name: x\n      literals:\n        k: |\n          # text\n",
    "namespaces:\n  a:\n    owners: [x]",
    "---\n# top\n\"namespaces\": # c\n  'a': {}\n\n# next\nversion: 1\n",
];

#[test]
fn add_then_remove_gives_back_the_original() {
    for text in SHAPES {
        let out = add_namespace(text, "new-ns", BODY).unwrap();
        assert_eq!(parse(&out)["namespaces"]["new-ns"], web(), "for {text:?}");
        assert_eq!(remove_namespace(&out, "new-ns").unwrap(), *text);
    }
}

#[test]
fn the_demo_project_round_trips() {
    let text = include_str!("../../../examples/demo/ksec.yaml");
    let out = add_namespace(text, "search", BODY).unwrap();
    // the entry goes after the last namespace, before any later top-level key
    let at = out.find("\n  search:\n").unwrap();
    assert!(out[at..].find("\n  storefront:\n").is_none());
    assert!(at > out.find("\n  storefront:\n").unwrap());
    let v = parse(&out);
    assert_eq!(names(&v), ["payments", "storefront", "search"]);
    assert_eq!(v["namespaces"]["search"], web());
    assert_eq!(remove_namespace(&out, "search").unwrap(), text);
    let without = remove_namespace(text, "payments").unwrap();
    assert_eq!(names(&parse(&without)), ["storefront"]);
    assert!(without.contains("namespaces:\n  storefront:\n"));
}

const BODIES: &[&str] = &[
    "",
    BODY,
    "owners: [x]\nconfigMaps:\n- name: c\n  literals: {A: b}\n",
    "# a comment\nsecrets:\n  - name: s\n    sources: [s.enc.yaml]\nnote: |\n  # kept\n",
];

proptest! {
    #[test]
    fn add_then_remove_round_trips(
        shape in 0..SHAPES.len(),
        body in 0..BODIES.len(),
        name in "[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?",
        other in "[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?",
    ) {
        let text = SHAPES[shape];
        let before = parse(text);
        let existing = names(&before);
        prop_assume!(!existing.contains(&name) && !existing.contains(&other) && name != other);

        let one = add_namespace(text, &name, BODIES[body]).unwrap();
        let two = add_namespace(&one, &other, BODY).unwrap();
        let v = parse(&two);
        let mut expected = existing.clone();
        expected.push(name.clone());
        expected.push(other.clone());
        prop_assert_eq!(names(&v), expected);
        let wanted = match serde_saphyr::from_str::<Json>(BODIES[body]).unwrap() {
            Json::Null => json!({}),
            v => v,
        };
        prop_assert_eq!(&v["namespaces"][&name], &wanted);
        prop_assert_eq!(&v["namespaces"][&other], &web());

        prop_assert_eq!(remove_namespace(&two, &other).unwrap(), one.clone());
        prop_assert_eq!(remove_namespace(&one, &name).unwrap(), text);
    }
}

mod recipients {
    use crate::project::edit::*;
    use serde_json::{Value as Json, json};

    fn parse(text: &str) -> Json {
        serde_saphyr::from_str::<Json>(text)
            .unwrap_or_else(|e| panic!("result does not parse: {e}\n---\n{text}"))
    }

    const KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    /// Every list style ksec.yaml may use, with comments around them.
    const TEAM: &str = "\
# the team's project
version: 1

recipients:   # people and CI
  # Alice leads
  alice: age1alice   # laptop
  bob: age1bob
  ci-prod: age1ci
# Named groups.
groups:
  payments-team: [alice, bob]   # grows
  search-team:
    - bob
  solo:
  - alice
  empty: []

environments:
  prod:
    context: prod
    recipients: [ci-prod, bob]

namespaces:
  payments:
    recipients: [payments-team]
    owners: [payments-devs]
  search:
    recipients:
      - search-team
      - bob   # temporary
  bare:
    owners: [x]
  empty-ns: {}   # nothing yet
";

    #[test]
    fn add_recipient_goes_after_the_last_entry_keeping_comments() {
        let out = add_recipient(TEAM, "carol", KEY).unwrap();
        assert_eq!(
            out,
            TEAM.replace(
                "  ci-prod: age1ci\n",
                &format!("  ci-prod: age1ci\n  carol: {KEY}\n")
            )
        );
        assert_eq!(parse(&out)["recipients"]["carol"], KEY);
    }

    #[test]
    fn add_recipient_to_an_empty_or_missing_mapping() {
        let starter = "version: 1\nrecipients: {}  # none yet\n#  alice: age1...\n\ngroups: {}\n";
        let out = add_recipient(starter, "carol", KEY).unwrap();
        assert_eq!(
            out,
            format!(
                "version: 1\nrecipients:  # none yet\n  carol: {KEY}\n#  alice: age1...\n\ngroups: {{}}\n"
            )
        );
        assert_eq!(parse(&out)["recipients"], json!({"carol": KEY}));

        let out = add_recipient("version: 1\n", "carol", KEY).unwrap();
        assert_eq!(out, format!("version: 1\n\nrecipients:\n  carol: {KEY}\n"));

        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW carol@laptop";
        let out = add_recipient("recipients:\n    a: age1a\n", "carol", ssh).unwrap();
        assert_eq!(
            out,
            format!("recipients:\n    a: age1a\n    carol: {ssh}\n")
        );
        assert_eq!(parse(&out)["recipients"]["carol"], ssh);
    }

    #[test]
    fn add_recipient_refuses_an_existing_name_or_a_flow_mapping() {
        assert!(
            add_recipient(TEAM, "bob", KEY)
                .unwrap_err()
                .0
                .contains("already has a recipient `bob` (line 7)")
        );
        assert!(
            add_recipient("recipients: {a: age1a}\n", "carol", KEY)
                .unwrap_err()
                .0
                .contains("flow style")
        );
    }

    #[test]
    fn add_to_group_in_every_list_style() {
        let out = add_to_group(TEAM, "payments-team", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace("[alice, bob]   # grows", "[alice, bob, carol]   # grows")
        );
        let out = add_to_group(TEAM, "search-team", "carol").unwrap();
        assert_eq!(out, TEAM.replace("    - bob\n", "    - bob\n    - carol\n"));
        let out = add_to_group(TEAM, "solo", "carol").unwrap();
        assert_eq!(out, TEAM.replace("  - alice\n", "  - alice\n  - carol\n"));
        assert_eq!(parse(&out)["groups"]["solo"], json!(["alice", "carol"]));
        let out = add_to_group(TEAM, "empty", "carol").unwrap();
        assert_eq!(out, TEAM.replace("empty: []", "empty: [carol]"));
        assert_eq!(
            add_to_group(TEAM, "nope", "carol").unwrap_err().0,
            "ksec.yaml has no group `nope` under `groups:`"
        );
    }

    #[test]
    fn add_to_namespace_appends_or_creates_the_list() {
        let out = add_to_namespace(TEAM, "payments", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace("[payments-team]", "[payments-team, carol]")
        );
        let out = add_to_namespace(TEAM, "search", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace(
                "      - bob   # temporary\n",
                "      - bob   # temporary\n      - carol\n"
            )
        );
        let out = add_to_namespace(TEAM, "bare", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace("  bare:\n", "  bare:\n    recipients: [carol]\n")
        );
        assert_eq!(
            parse(&out)["namespaces"]["bare"],
            json!({"recipients": ["carol"], "owners": ["x"]})
        );
        let out = add_to_namespace(TEAM, "empty-ns", "carol").unwrap();
        assert_eq!(
            out,
            TEAM.replace(
                "  empty-ns: {}   # nothing yet\n",
                "  empty-ns:   # nothing yet\n    recipients: [carol]\n"
            )
        );
        assert!(
            add_to_namespace(TEAM, "nope", "carol")
                .unwrap_err()
                .0
                .contains("no namespace `nope`")
        );
    }

    #[test]
    fn add_to_environment_appends_or_creates_the_list() {
        let out = add_to_environment(TEAM, "prod", "prod-cluster").unwrap();
        assert_eq!(
            out,
            TEAM.replace("[ci-prod, bob]", "[ci-prod, bob, prod-cluster]")
        );
        let text =
            "environments:\n  staging:\n    context: kind-staging   # laptop\nnamespaces: {}\n";
        let out = add_to_environment(text, "staging", "staging-cluster").unwrap();
        assert_eq!(
            out,
            "environments:\n  staging:\n    recipients: [staging-cluster]\n    context: kind-staging   # laptop\nnamespaces: {}\n"
        );
        assert_eq!(
            parse(&out)["environments"]["staging"],
            json!({"recipients": ["staging-cluster"], "context": "kind-staging"})
        );
        assert_eq!(
            add_to_environment(TEAM, "dev", "x").unwrap_err().0,
            "ksec.yaml has no environment `dev` under `environments:`"
        );
    }

    #[test]
    fn set_cluster_key_adds_the_field_or_an_entry_and_never_replaces_one() {
        let out = set_cluster_key(TEAM, "payments", "prod", "payments-prod").unwrap();
        assert_eq!(
            out,
            TEAM.replace(
                "  payments:\n",
                "  payments:\n    clusterKeys:\n      prod: payments-prod\n"
            )
        );
        assert_eq!(
            parse(&out)["namespaces"]["payments"]["clusterKeys"],
            json!({"prod": "payments-prod"})
        );
        // a second environment joins the mapping; the first stays
        let two = set_cluster_key(&out, "payments", "staging", "payments-staging").unwrap();
        assert_eq!(
            two,
            out.replace(
                "      prod: payments-prod\n",
                "      prod: payments-prod\n      staging: payments-staging\n"
            )
        );
        let err = set_cluster_key(&two, "payments", "prod", "other")
            .unwrap_err()
            .0;
        assert!(
            err.contains("already has `namespaces.payments.clusterKeys.prod` (line"),
            "{err}"
        );
        assert!(err.contains("not replaced"), "{err}");
        // `ns: {}` and `clusterKeys: {}` become block form, keeping comments
        let out = set_cluster_key(TEAM, "empty-ns", "prod", "k").unwrap();
        assert_eq!(
            out,
            TEAM.replace(
                "  empty-ns: {}   # nothing yet\n",
                "  empty-ns:   # nothing yet\n    clusterKeys:\n      prod: k\n"
            )
        );
        let text = "namespaces:\n  a:\n    owners: [x]\n    clusterKeys: {}  # per env\n";
        let out = set_cluster_key(text, "a", "prod", "a-prod").unwrap();
        assert_eq!(
            out,
            "namespaces:\n  a:\n    owners: [x]\n    clusterKeys:  # per env\n      prod: a-prod\n"
        );
        let flow = "namespaces:\n  a:\n    clusterKeys: {dev: k}\n";
        assert!(
            set_cluster_key(flow, "a", "prod", "k")
                .unwrap_err()
                .0
                .contains("flow style")
        );
        assert!(
            set_cluster_key(TEAM, "nope", "prod", "k")
                .unwrap_err()
                .0
                .contains("no namespace `nope`")
        );
    }

    /// The one model gives every edit the same indentation for a block with
    /// no children yet: one step below its key, the step the file uses.
    #[test]
    fn new_children_of_an_empty_block_are_indented_as_the_file_is() {
        let out = add_recipient("recipients:\n", "carol", KEY).unwrap();
        assert_eq!(out, format!("recipients:\n  carol: {KEY}\n"));
        assert_eq!(parse(&out)["recipients"]["carol"], KEY);

        let text = "namespaces:\n    a: {}\n    b: {}\n";
        let out = add_to_namespace(text, "a", "carol").unwrap();
        assert_eq!(
            out,
            "namespaces:\n    a:\n        recipients: [carol]\n    b: {}\n"
        );
        let with_body = add_namespace(text, "c", "owners: [x]\n").unwrap();
        assert!(
            with_body.ends_with("    c:\n        owners: [x]\n"),
            "{with_body}"
        );
    }

    #[test]
    fn remove_recipient_takes_it_out_of_every_list() {
        let (out, places) = remove_recipient(TEAM, "bob").unwrap();
        assert_eq!(
            places,
            [
                "groups.payments-team",
                "groups.search-team",
                "namespaces.search.recipients",
                "environments.prod.recipients"
            ]
        );
        let expected = TEAM
            .replace("  bob: age1bob\n", "")
            .replace("[alice, bob]   # grows", "[alice]   # grows")
            .replace("  search-team:\n    - bob\n", "  search-team: []\n")
            .replace("[ci-prod, bob]", "[ci-prod]")
            .replace("      - bob   # temporary\n", "");
        assert_eq!(out, expected);
        let v = parse(&out);
        assert_eq!(v["groups"]["search-team"], json!([]));
        assert_eq!(
            v["namespaces"]["search"]["recipients"],
            json!(["search-team"])
        );
        assert!(!out.contains("bob"));
    }

    #[test]
    fn remove_the_only_recipient_leaves_an_empty_mapping() {
        let text = "recipients:  # c\n  bob: age1bob\ngroups:\n  g: [bob]\n  h:\n  - bob\n";
        let (out, _) = remove_recipient(text, "bob").unwrap();
        assert_eq!(out, "recipients: {}  # c\ngroups:\n  g: []\n  h: []\n");
        assert_eq!(parse(&out)["groups"], json!({"g": [], "h": []}));
    }

    #[test]
    fn remove_keeps_separators_and_quotes_of_the_others() {
        let text = "recipients:\n  a: age1a\n  b: age1b\n  c: age1c\ngroups:\n  g: [ a , \"b\", 'c' ]\n  h: [b, a]\n  i: [a, b]\n";
        let (out, _) = remove_recipient(text, "b").unwrap();
        assert_eq!(
            out,
            "recipients:\n  a: age1a\n  c: age1c\ngroups:\n  g: [ a, 'c' ]\n  h: [a]\n  i: [a]\n"
        );
    }

    #[test]
    fn remove_refuses_unknown_names_and_unreadable_lists() {
        assert_eq!(
            remove_recipient(TEAM, "dave").unwrap_err().0,
            "ksec.yaml has no recipient `dave` under `recipients:`"
        );
        let text = "recipients:\n  bob: age1bob\ngroups:\n  g: [bob,\n     a]\n";
        assert!(
            remove_recipient(text, "bob")
                .unwrap_err()
                .0
                .contains("flow list that goes on over several lines")
        );
    }

    #[test]
    fn add_then_remove_gives_back_the_original() {
        let one = add_recipient(TEAM, "carol", KEY).unwrap();
        let two = add_to_group(&one, "payments-team", "carol").unwrap();
        let three = add_to_namespace(&two, "search", "carol").unwrap();
        let four = add_to_group(&three, "solo", "carol").unwrap();
        let (back, places) = remove_recipient(&four, "carol").unwrap();
        assert_eq!(back, TEAM);
        assert_eq!(
            places,
            [
                "groups.payments-team",
                "groups.solo",
                "namespaces.search.recipients"
            ]
        );
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let text = "recipients:\r\n  a: age1a\r\ngroups:\r\n  g:\r\n  - a\r\n";
        let out = add_recipient(text, "b", "age1b").unwrap();
        let out = add_to_group(&out, "g", "b").unwrap();
        assert_eq!(
            out,
            "recipients:\r\n  a: age1a\r\n  b: age1b\r\ngroups:\r\n  g:\r\n  - a\r\n  - b\r\n"
        );
        let (back, _) = remove_recipient(&out, "b").unwrap();
        assert_eq!(back, text);
    }
}
