use super::*;

fn yaml(text: &str) -> Result<PolicyConfig, Vec<String>> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
    read(
        &serde_json::to_value(v).unwrap(),
        "alpha.yaml field authproxyPolicy",
    )
}

fn toml_policy(text: &str) -> Result<PolicyConfig, Vec<String>> {
    let t: toml::Table = text.parse().unwrap();
    read(
        &serde_json::to_value(&t["authproxy_policy"]).unwrap(),
        "cfg.toml [authproxy_policy]",
    )
}

const YAML: &str = r#"
default: allowSignedIn
auditLog: /var/log/authproxy/policy.jsonl
rules:
  - name: admin
    path: /admin
    methods: [get, POST]
    hosts: [App.example.com, "*.internal.example.com"]
    allow:
      groups: [admins]
    deny:
      not:
        authMethod: session
  - name: api-write
    pathRegex: ^/api/v[0-9]+/
    method: POST
    allow:
      or:
        - groups: editors
        - claim: {name: role, equals: editor}
        - and:
            - emailDomains: [Example.com, "*.corp.example.com"]
            - emails: [Boss@Example.com]
  - path: /public/
    allow: {signedIn: true}
"#;

#[test]
fn a_yaml_policy_reads_into_the_model() {
    let p = yaml(YAML).unwrap();
    assert_eq!(p.default, PolicyDefault::AllowSignedIn);
    assert_eq!(
        p.audit_log.as_deref(),
        Some(std::path::Path::new("/var/log/authproxy/policy.jsonl"))
    );
    assert_eq!(p.rules.len(), 3);
    let admin = &p.rules[0];
    assert_eq!(admin.name, "admin");
    assert_eq!(admin.path, PathMatch::Prefix("/admin".into()));
    assert_eq!(admin.methods, ["GET", "POST"]);
    assert_eq!(admin.hosts, ["app.example.com", "*.internal.example.com"]);
    assert_eq!(admin.allow, Some(Criterion::Groups(vec!["admins".into()])));
    assert_eq!(
        admin.deny,
        Some(Criterion::Not(Box::new(Criterion::AuthMethods(vec![
            AuthKind::Session
        ]))))
    );
    let api = &p.rules[1];
    assert_eq!(api.path, PathMatch::Regex("^/api/v[0-9]+/".into()));
    assert_eq!(api.methods, ["POST"]);
    let Some(Criterion::Or(any)) = &api.allow else {
        panic!("{:?}", api.allow)
    };
    assert_eq!(any[0], Criterion::Groups(vec!["editors".into()]));
    assert_eq!(
        any[1],
        Criterion::Claim(ClaimCriterion {
            name: "role".into(),
            test: ClaimTest::Equals("editor".into())
        })
    );
    assert_eq!(
        any[2],
        Criterion::And(vec![
            Criterion::EmailDomains(vec!["example.com".into(), ".corp.example.com".into()]),
            Criterion::Emails(vec!["boss@example.com".into()]),
        ])
    );
    assert_eq!(
        p.rules[2].name, "rule-3",
        "an unnamed rule is named by position"
    );
    assert_eq!(p.rules[2].path, PathMatch::Prefix("/public/".into()));
    assert_eq!(p.claim_names(), ["role"]);
}

#[test]
fn toml_spells_the_same_policy_in_snake_case() {
    let p = toml_policy(
        r#"
client_id = "x"
[authproxy_policy]
default = "allow_signed_in"
audit_log = "/tmp/a.jsonl"
[[authproxy_policy.rules]]
name = "admin"
path = "/admin"
methods = ["GET", "post"]
hosts = ["App.example.com", "*.internal.example.com"]
allow = { groups = ["admins"] }
deny = { not = { auth_method = "session" } }
[[authproxy_policy.rules]]
name = "api-write"
path_regex = "^/api/v[0-9]+/"
method = "POST"
[authproxy_policy.rules.allow]
or = [
  { groups = "editors" },
  { claim = { name = "role", equals = "editor" } },
  { and = [ { email_domains = ["Example.com", "*.corp.example.com"] }, { emails = ["Boss@Example.com"] } ] },
]
[[authproxy_policy.rules]]
path = "/public/"
allow = { signed_in = true }
"#,
    )
    .unwrap();
    let mut y = yaml(YAML).unwrap();
    y.origin = p.origin.clone();
    y.audit_log = p.audit_log.clone();
    assert_eq!(p, y);
}

#[test]
fn several_criteria_in_one_mapping_must_all_hold() {
    let p = yaml("rules: [{name: r, allow: {groups: [a], provider: github, claim: {name: x, in: [1, two]}}}]").unwrap();
    assert_eq!(
        p.rules[0].allow,
        // The fields of one mapping come in name order (the order does not change the meaning).
        Some(Criterion::And(vec![
            Criterion::Claim(ClaimCriterion {
                name: "x".into(),
                test: ClaimTest::In(vec!["1".into(), "two".into()])
            }),
            Criterion::Groups(vec!["a".into()]),
            Criterion::Providers(vec!["github".into()]),
        ]))
    );
    assert_eq!(p.provider_ids(), ["github"]);
    assert_eq!(p.default, PolicyDefault::Deny, "fails closed by default");
}

#[test]
fn every_mistake_is_an_error_naming_its_field() {
    let cases: &[(&str, &str)] = &[
        (
            "rules: []\ndefault: maybe",
            "default: \"maybe\" is not one of allowSignedIn, deny",
        ),
        ("default: deny", "has no rules"),
        (
            "rules: [{name: r, path: /a}]",
            "rules[0]: has neither allow nor deny",
        ),
        (
            "rules: [{name: r, path: admin, allow: {signedIn: true}}]",
            "rules[0].path: \"admin\" must be a path",
        ),
        (
            "rules: [{name: r, path: /a, pathRegex: ^/b, allow: {signedIn: true}}]",
            "not both",
        ),
        (
            "rules: [{name: r, pathRegex: '(', allow: {signedIn: true}}]",
            "rules[0].pathRegex: \"(\" is not a valid regular expression",
        ),
        (
            "rules: [{name: r, methods: [G T], allow: {signedIn: true}}]",
            "rules[0].methods: \"G T\" is not an HTTP method",
        ),
        (
            "rules: [{name: r, hosts: [http://x], allow: {signedIn: true}}]",
            "rules[0].hosts: \"http://x\" is not a host name",
        ),
        (
            "rules: [{name: 'bad name', allow: {signedIn: true}}]",
            "rules[0].name: \"bad name\": a rule name is",
        ),
        (
            "rules: [{name: r, allow: {signedIn: true}}, {name: r, allow: {signedIn: true}}]",
            "rule name \"r\" is used twice",
        ),
        (
            "rules: [{name: r, allow: {gropus: [a]}}]",
            "rules[0].allow.gropus: unknown field",
        ),
        (
            "rules: [{name: r, alow: {groups: [a]}}]",
            "rules[0].alow: unknown field",
        ),
        (
            "rules: [{name: r, allow: {groups: []}}]",
            "rules[0].allow.groups: is empty",
        ),
        ("rules: [{name: r, allow: {}}]", "rules[0].allow: is empty"),
        (
            "rules: [{name: r, allow: [groups]}]",
            "rules[0].allow: expected a mapping of criteria",
        ),
        (
            "rules: [{name: r, allow: {signedIn: false}}]",
            "false never holds",
        ),
        (
            "rules: [{name: r, allow: {or: []}}]",
            "rules[0].allow.or: expected a non-empty list",
        ),
        (
            "rules: [{name: r, allow: {emails: [not-an-email]}}]",
            "\"not-an-email\" is not an email address",
        ),
        (
            "rules: [{name: r, allow: {emailDomains: ['@example.com']}}]",
            "is not a domain",
        ),
        (
            "rules: [{name: r, allow: {authMethod: [magic]}}]",
            "\"magic\" is not one of session, bearer, htpasswd",
        ),
        (
            "rules: [{name: r, allow: {claim: {equals: x}}}]",
            "needs a name",
        ),
        (
            "rules: [{name: r, allow: {claim: {name: x}}}]",
            "needs exactly one of equals, contains, in",
        ),
        (
            "rules: [{name: r, allow: {claim: {name: x, equals: a, contains: b}}}]",
            "needs exactly one of",
        ),
        (
            "rules: [{name: r, allow: {claim: {name: x, equals: [a]}}}]",
            "rules[0].allow.claim.equals: expected a string, number or boolean",
        ),
        (
            "rules: [{name: r, allow: {claim: {name: a..b, equals: x}}}]",
            "is not a claim name",
        ),
        (
            "auditLog: ''\nrules: [{name: r, allow: {signedIn: true}}]",
            "auditLog: is empty",
        ),
        ("[1, 2]", "must be a mapping with rules"),
    ];
    for (text, want) in cases {
        let errors = yaml(text).expect_err(text);
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{text}: wanted {want:?} in {errors:#?}"
        );
        assert!(
            errors
                .iter()
                .all(|e| e.starts_with("alpha.yaml field authproxyPolicy")),
            "{errors:?}"
        );
    }
}

#[test]
fn nesting_is_bounded() {
    let mut c = "{signedIn: true}".to_owned();
    for _ in 0..20 {
        c = format!("{{not: {c}}}");
    }
    let errors = yaml(&format!("rules: [{{name: r, allow: {c}}}]")).unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains("deeper than 16")),
        "{errors:?}"
    );
}
