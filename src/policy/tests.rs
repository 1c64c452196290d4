use super::*;
use crate::config::policy::read;

fn policy(yaml: &str) -> Policy {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let cfg = read(&serde_json::to_value(v).unwrap(), "test").unwrap();
    Policy::new(&cfg, false).unwrap()
}

/// An identity for the tables.
#[derive(Clone)]
struct Who {
    email: &'static str,
    user: &'static str,
    groups: Vec<String>,
    provider: &'static str,
    auth: AuthKind,
    claims: Vec<ClaimValue>,
}

impl Who {
    fn new(email: &'static str, groups: &[&str]) -> Who {
        Who {
            email,
            user: email,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            provider: "oidc",
            auth: AuthKind::Session,
            claims: Vec::new(),
        }
    }
    fn subject(&self) -> Subject<'_> {
        Subject {
            email: self.email,
            user: self.user,
            groups: &self.groups,
            provider: self.provider,
            auth: self.auth,
            claims: &self.claims,
        }
    }
}

fn decide(
    p: &Policy,
    method: &str,
    host: &str,
    path: &str,
    who: &Who,
) -> (bool, &'static str, String) {
    let d = p.evaluate(
        &Target {
            method,
            host,
            path: Some(path),
        },
        &who.subject(),
    );
    (d.allowed, d.reason.as_str(), p.label(&d).to_owned())
}

const SITE: &str = r#"
default: allowSignedIn
rules:
  - name: no-contractors
    deny: {groups: [contractors]}
  - name: admin
    path: /admin
    allow: {groups: [admins]}
    deny: {not: {authMethod: session}}
  - name: api-write
    pathRegex: ^/api/
    methods: [POST, PUT, PATCH, DELETE]
    allow:
      or:
        - groups: [editors]
        - claim: {name: role, equals: editor}
  - name: api-read
    path: /api/
    methods: [GET, HEAD]
    allow: {signedIn: true}
  - name: ops-host
    hosts: ["*.ops.example.com"]
    allow: {emailDomains: [example.com]}
  - name: public
    path: /public
    allow: {signedIn: true}
"#;

#[test]
fn the_site_policy_table() {
    let p = policy(SITE);
    let alice = Who::new("alice@example.com", &["admins"]);
    let bob = Who::new("bob@example.com", &["editors"]);
    let carol = Who::new("carol@partner.example", &[]);
    let mut dave = Who::new("dave@example.com", &["admins", "contractors"]);
    let mut eve = Who::new("eve@example.com", &["admins"]);
    eve.auth = AuthKind::Bearer;
    let mut frank = Who::new("frank@partner.example", &[]);
    frank.claims = vec![ClaimValue::One("editor".into())];
    type Case<'a> = (&'a str, &'a str, &'a str, &'a Who, (bool, &'a str, &'a str));
    let cases: Vec<Case> = vec![
        (
            "GET",
            "app.example.com",
            "/admin",
            &alice,
            (true, "allow_holds", "admin"),
        ),
        (
            "GET",
            "app.example.com",
            "/admin/users?x=1",
            &alice,
            (true, "allow_holds", "admin"),
        ),
        (
            "GET",
            "app.example.com",
            "/admin/x",
            &bob,
            (false, "allow_fails", "admin"),
        ),
        (
            "GET",
            "app.example.com",
            "/administrator",
            &bob,
            (true, "default", "(default)"),
        ),
        (
            "GET",
            "app.example.com",
            "/admin/x",
            &eve,
            (false, "deny_holds", "admin"),
        ),
        (
            "GET",
            "app.example.com",
            "/public/a",
            &dave,
            (false, "deny_holds", "no-contractors"),
        ),
        (
            "GET",
            "app.example.com",
            "/admin",
            &dave,
            (false, "deny_holds", "no-contractors"),
        ),
        (
            "POST",
            "app.example.com",
            "/api/items",
            &bob,
            (true, "allow_holds", "api-write"),
        ),
        (
            "POST",
            "app.example.com",
            "/api/items",
            &carol,
            (false, "allow_fails", "api-write"),
        ),
        (
            "POST",
            "app.example.com",
            "/api/items",
            &frank,
            (true, "allow_holds", "api-write"),
        ),
        (
            "delete",
            "app.example.com",
            "/api/items/1",
            &alice,
            (false, "allow_fails", "api-write"),
        ),
        (
            "GET",
            "app.example.com",
            "/api/items",
            &carol,
            (true, "allow_holds", "api-read"),
        ),
        (
            "OPTIONS",
            "app.example.com",
            "/api/items",
            &carol,
            (true, "default", "(default)"),
        ),
        (
            "GET",
            "grafana.ops.example.com:443",
            "/",
            &alice,
            (true, "allow_holds", "ops-host"),
        ),
        (
            "GET",
            "GRAFANA.OPS.EXAMPLE.COM",
            "/",
            &carol,
            (false, "allow_fails", "ops-host"),
        ),
        (
            "GET",
            "ops.example.com",
            "/",
            &carol,
            (true, "default", "(default)"),
        ),
        (
            "GET",
            "app.example.com",
            "/public",
            &carol,
            (true, "allow_holds", "public"),
        ),
        (
            "GET",
            "app.example.com",
            "/",
            &carol,
            (true, "default", "(default)"),
        ),
        // Paths are matched decoded; ambiguous ones are refused.
        (
            "GET",
            "app.example.com",
            "/%61dmin/x",
            &bob,
            (false, "allow_fails", "admin"),
        ),
        (
            "GET",
            "app.example.com",
            "/public/../admin",
            &alice,
            (false, "ambiguous_path", "(unmatchable)"),
        ),
        (
            "GET",
            "app.example.com",
            "/public%2F..%2Fadmin",
            &alice,
            (false, "ambiguous_path", "(unmatchable)"),
        ),
        (
            "GET",
            "app.example.com",
            "/admin?/public",
            &bob,
            (false, "allow_fails", "admin"),
        ),
    ];
    for (method, host, path, who, (allowed, reason, rule)) in cases {
        let got = decide(&p, method, host, path, who);
        assert_eq!(
            got,
            (allowed, reason, rule.to_owned()),
            "{method} {host} {path} as {}",
            who.email
        );
    }
    dave.groups.retain(|g| g != "contractors");
    assert!(decide(&p, "GET", "h", "/admin", &dave).0);
}

#[test]
fn an_unknown_original_path_fails_closed() {
    let p = policy(SITE);
    let d = p.evaluate(
        &Target {
            method: "GET",
            host: "h",
            path: None,
        },
        &Who::new("alice@example.com", &["admins"]).subject(),
    );
    assert_eq!(
        d,
        Decision {
            allowed: false,
            rule: None,
            reason: Reason::UnknownPath
        }
    );
}

#[test]
fn the_default_decides_when_no_rule_does() {
    let deny = policy("rules: [{name: only, path: /x, allow: {signedIn: true}}]");
    let who = Who::new("a@example.com", &[]);
    assert_eq!(
        decide(&deny, "GET", "h", "/y", &who),
        (false, "default", "(default)".into())
    );
    assert_eq!(
        decide(&deny, "GET", "h", "/x/1", &who),
        (true, "allow_holds", "only".into())
    );
    // A deny-only rule that does not hold leaves the decision to the default.
    let p = policy("default: allowSignedIn\nrules: [{name: d, deny: {groups: [bad]}}]");
    assert_eq!(
        decide(&p, "GET", "h", "/", &who),
        (true, "default", "(default)".into())
    );
    let bad = Who::new("b@example.com", &["bad"]);
    assert_eq!(
        decide(&p, "GET", "h", "/", &bad),
        (false, "deny_holds", "d".into())
    );
}

#[test]
fn the_first_matching_rule_with_an_allow_decides() {
    let p = policy(
        "rules:\n  - {name: a, path: /x, allow: {groups: [g]}}\n  - {name: b, path: /, allow: {signedIn: true}}",
    );
    let outsider = Who::new("o@example.com", &[]);
    assert_eq!(
        decide(&p, "GET", "h", "/x", &outsider),
        (false, "allow_fails", "a".into())
    );
    assert_eq!(
        decide(&p, "GET", "h", "/y", &outsider),
        (true, "allow_holds", "b".into())
    );
}

#[test]
fn criteria_table() {
    let mut who = Who::new("Ann@Sub.Example.com", &["g1", "g2"]);
    who.user = "ann-id";
    who.provider = "github";
    who.claims = vec![
        ClaimValue::Many(vec!["reader".into(), "writer".into()]),
        ClaimValue::One("Level 3 clearance".into()),
        ClaimValue::Absent,
    ];
    let cases: &[(&str, bool)] = &[
        ("{signedIn: true}", true),
        ("{groups: [g2, x]}", true),
        ("{groups: [G1]}", false),
        ("{emails: [ann@sub.example.com]}", true),
        ("{emails: [ann@example.com]}", false),
        ("{emailDomains: [sub.example.com]}", true),
        ("{emailDomains: [example.com]}", false),
        ("{emailDomains: ['*.example.com']}", true),
        ("{emailDomains: [.sub.example.com]}", false),
        ("{users: [ann-id]}", true),
        ("{users: [Ann@Sub.Example.com]}", false),
        ("{provider: [github]}", true),
        ("{provider: oidc}", false),
        ("{authMethod: [bearer, htpasswd]}", false),
        ("{authMethod: browser}", true),
        ("{claim: {name: roles, contains: writer}}", true),
        ("{claim: {name: roles, contains: admin}}", false),
        ("{claim: {name: roles, equals: writer}}", false),
        ("{claim: {name: roles, in: [admin, reader]}}", true),
        ("{claim: {name: level, equals: Level 3 clearance}}", true),
        ("{claim: {name: level, contains: '3 clear'}}", true),
        ("{claim: {name: level, in: [x, 'Level 3 clearance']}}", true),
        ("{claim: {name: missing, in: [x]}}", false),
        ("{not: {claim: {name: missing, equals: x}}}", true),
        ("{and: [{groups: [g1]}, {provider: github}]}", true),
        ("{and: [{groups: [g1]}, {provider: oidc}]}", false),
        ("{or: [{groups: [zz]}, {provider: github}]}", true),
        ("{groups: [g1], provider: oidc}", false),
        ("{not: {not: {groups: [g1]}}}", true),
    ];
    for (criterion, want) in cases {
        // The claims named in the table, in this order, so the slots line up.
        let yaml = format!(
            "rules:\n  - {{name: slots, path: /never, allow: {{and: [{{claim: {{name: roles, equals: x}}}}, {{claim: {{name: level, equals: x}}}}, {{claim: {{name: missing, equals: x}}}}]}}}}\n  - {{name: r, allow: {criterion}}}"
        );
        let p = policy(&yaml);
        assert_eq!(p.claim_names(), ["roles", "level", "missing"]);
        let got = decide(&p, "GET", "h", "/", &who).0;
        assert_eq!(got, *want, "{criterion}");
    }
    // A malformed address matches no email or domain criterion.
    let odd = Who::new("a@evil.example@example.com", &[]);
    let p = policy("rules: [{name: r, allow: {or: [{emailDomains: [example.com]}, {emails: ['a@example.com']}]}}]");
    assert!(!decide(&p, "GET", "h", "/", &odd).0);
}

#[test]
fn route_matching_table() {
    let cases: &[(&str, &str, &str, &str, bool)] = &[
        ("path: /admin", "GET", "h", "/admin", true),
        ("path: /admin", "GET", "h", "/admin/", true),
        ("path: /admin", "GET", "h", "/administrator", false),
        ("path: /admin/", "GET", "h", "/admin", false),
        ("path: /admin/", "GET", "h", "/admin/x", true),
        ("path: /", "GET", "h", "/anything", true),
        (
            "pathRegex: '^/v[0-9]+/admin$'",
            "GET",
            "h",
            "/v2/admin",
            true,
        ),
        (
            "pathRegex: '^/v[0-9]+/admin$'",
            "GET",
            "h",
            "/v2/admin/x",
            false,
        ),
        ("pathRegex: 'admin'", "GET", "h", "/x?admin", false),
        ("methods: [POST]", "post", "h", "/", true),
        ("methods: [POST]", "GET", "h", "/", false),
        (
            "hosts: [app.example.com]",
            "GET",
            "APP.example.com:8443",
            "/",
            true,
        ),
        (
            "hosts: [app.example.com]",
            "GET",
            "app.example.com.evil",
            "/",
            false,
        ),
        ("hosts: ['*.example.com']", "GET", "example.com", "/", false),
        (
            "hosts: ['*.example.com']",
            "GET",
            "a.b.example.com",
            "/",
            true,
        ),
        ("hosts: ['[::1]']", "GET", "[::1]:4180", "/", true),
        ("hosts: [app]", "GET", "", "/", false),
    ];
    let who = Who::new("a@example.com", &[]);
    for (route, method, host, path, want) in cases {
        let p = policy(&format!(
            "rules: [{{name: r, {route}, allow: {{signedIn: true}}}}]"
        ));
        let got = decide(&p, method, host, path, &who).2 == "r";
        assert_eq!(got, *want, "{route} vs {method} {host} {path}");
    }
}

#[test]
fn session_claims_come_from_the_session_then_its_token() {
    let p = policy(
        "rules: [{name: r, allow: {and: [{claim: {name: email, equals: x}}, {claim: {name: groups, contains: x}}, {claim: {name: realm_access.roles, contains: x}}, {claim: {name: tenant, equals: x}}, {claim: {name: kept, equals: x}}, {claim: {name: nope, equals: x}}]}}]",
    );
    let payload = crate::crypto::b64url_nopad(
        br#"{"realm_access":{"roles":["admin","user"]},"tenant":42,"email":"token@example.com"}"#,
    );
    let mut s = SessionState {
        email: "a@example.com".into(),
        groups: vec!["g".into()],
        id_token: format!("eyJhbGciOiJub25lIn0.{payload}.sig"),
        ..SessionState::default()
    };
    s.additional_claims
        .insert("kept".into(), rmpv::Value::from("yes"));
    let claims = session_claims(Some(&p), &s);
    assert_eq!(
        claims,
        [
            ClaimValue::One("a@example.com".into()),
            ClaimValue::Many(vec!["g".into()]),
            ClaimValue::Many(vec!["admin".into(), "user".into()]),
            ClaimValue::One("42".into()),
            ClaimValue::One("yes".into()),
            ClaimValue::Absent,
        ]
    );
    assert!(session_claims(None, &s).is_empty());
}

#[test]
fn decisions_are_counted_by_rule() {
    let p = policy(SITE);
    let who = Who::new("carol@partner.example", &[]);
    for path in ["/admin", "/", "/public", "/a/../b"] {
        let d = p.evaluate(
            &Target {
                method: "GET",
                host: "h",
                path: Some(path),
            },
            &who.subject(),
        );
        p.record(&d, || unreachable!("no audit log configured"));
    }
    let c = p.counters();
    assert_eq!(c.count(1, false), 1, "admin denied");
    assert_eq!(c.count(5, true), 1, "public allowed");
    assert_eq!(c.count(c.default_slot(), true), 1);
    assert_eq!(c.count(c.unmatchable_slot(), false), 1);
}

#[test]
fn explain_names_the_deciding_rule_and_the_facts() {
    let p = policy(SITE);
    let bob = Who::new("bob@example.com", &["editors"]);
    let (d, text) = explain(
        &p,
        &Target {
            method: "GET",
            host: "app",
            path: Some("/admin/x"),
        },
        &bob.subject(),
    );
    assert!(!d.allowed);
    assert!(
        text.contains("rule \"admin\" (path /admin and below): route matches"),
        "{text}"
    );
    assert!(
        text.contains("groups [admins] → no (the user's groups: editors)"),
        "{text}"
    );
    assert!(
        text.contains("rule \"public\" (path /public and below): route does not match"),
        "{text}"
    );
    assert!(text.contains("decision: DENY by rule \"admin\": the first matching rule with an allow, and its allow does not hold"), "{text}");
}
