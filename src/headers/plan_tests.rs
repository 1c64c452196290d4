use std::time::{Duration, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::*;
use crate::config::structured::{
    ClaimSource, HeaderRule, HeaderValueSource, RuleOrigin, SecretBytes, SecretOrigin, SecretSource,
};
use crate::config::LegacyHeaders;

fn session() -> SessionState {
    let mut s = SessionState {
        user: "u-123".into(),
        email: "alice@example.com".into(),
        groups: vec!["admins".into(), "dev ops".into()],
        preferred_username: "alice".into(),
        access_token: "AT.secret".into(),
        id_token: "ID.jwt".into(),
        created_at: Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)),
        ..SessionState::default()
    };
    s.additional_claims
        .insert("tenant".into(), rmpv::Value::from("t-42"));
    s.additional_claims.insert(
        "roles".into(),
        rmpv::Value::Array(vec![rmpv::Value::from("r1"), rmpv::Value::from(7)]),
    );
    s
}

fn legacy(f: impl FnOnce(&mut LegacyHeaders)) -> HeaderPlan {
    let mut l = LegacyHeaders {
        skip_auth_strip_headers: true,
        ..LegacyHeaders::default()
    };
    f(&mut l);
    HeaderPlan::new(&l.request_rules(), &l.response_rules()).unwrap()
}

fn names(h: &[(HeaderName, HeaderValue)]) -> Vec<&str> {
    h.iter().map(|(n, _)| n.as_str()).collect()
}

fn value<'a>(h: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, v)| v.to_str().expect("ascii"))
}

fn claim_rule(name: &str, claim: &str, prefix: &str) -> HeaderRule {
    HeaderRule {
        name: name.into(),
        preserve_request_value: false,
        insecure_skip_header_normalization: false,
        values: vec![HeaderValueSource::Claim(ClaimSource {
            claim: claim.into(),
            prefix: prefix.into(),
            basic_auth_password: None,
        })],
        origin: RuleOrigin::Standard,
    }
}

fn secret(bytes: &[u8]) -> SecretSource {
    SecretSource {
        origin: SecretOrigin::Value,
        bytes: SecretBytes(bytes.to_vec()),
    }
}

#[test]
fn nothing_is_injected_when_every_switch_is_off() {
    let p = legacy(|_| {});
    let i = p.inject(&session(), "oidc");
    assert!(i.request.is_empty() && i.response.is_empty() && i.browser.is_empty());
}

#[test]
fn the_user_headers_carry_user_email_groups_and_preferred_username() {
    let p = legacy(|l| l.pass_user_headers = true);
    let i = p.inject(&session(), "corp");
    assert_eq!(
        names(&i.request),
        [
            "x-forwarded-groups",
            "x-forwarded-user",
            "x-forwarded-email",
            "x-forwarded-preferred-username",
            "x-forwarded-provider"
        ]
    );
    assert_eq!(
        value(&i.request, "x-forwarded-groups"),
        Some("admins,dev ops")
    );
    assert_eq!(value(&i.request, "x-forwarded-user"), Some("u-123"));
    assert_eq!(value(&i.request, "x-forwarded-provider"), Some("corp"));
}

#[test]
fn prefer_email_to_user_puts_the_email_in_x_forwarded_user_only() {
    let p = legacy(|l| {
        l.pass_user_headers = true;
        l.prefer_email_to_user = true;
    });
    let i = p.inject(&session(), "p");
    assert_eq!(
        value(&i.request, "x-forwarded-user"),
        Some("alice@example.com")
    );
    assert_eq!(
        value(&i.request, "x-forwarded-email"),
        None,
        "v7 sends no X-Forwarded-Email then"
    );
}

#[test]
fn tokens_are_sensitive_and_never_reach_the_browser() {
    let p = legacy(|l| {
        l.pass_access_token = true;
        l.pass_authorization_header = true;
        l.set_xauthrequest = true;
        l.set_authorization_header = true;
    });
    let i = p.inject(&session(), "p");
    let at = i
        .request
        .iter()
        .find(|(n, _)| n == "x-forwarded-access-token")
        .unwrap();
    assert!(at.1.is_sensitive());
    assert_eq!(value(&i.request, "authorization"), Some("Bearer ID.jwt"));
    assert_eq!(value(&i.response, "authorization"), Some("Bearer ID.jwt"));
    assert_eq!(
        value(&i.response, "x-auth-request-access-token"),
        Some("AT.secret")
    );
    assert_eq!(
        value(&i.request, "x-auth-request-access-token"),
        Some("AT.secret")
    );
    for (n, _) in &i.browser {
        assert!(
            n != "authorization" && n != "x-auth-request-access-token",
            "{n} sent to the browser"
        );
    }
    assert_eq!(
        value(&i.browser, "x-auth-request-email"),
        Some("alice@example.com")
    );
}

#[test]
fn basic_auth_password_builds_a_basic_credential_per_value() {
    let p = legacy(|l| {
        l.pass_basic_auth = true;
        l.basic_auth_password = "pw".into();
    });
    let i = p.inject(&session(), "p");
    // base64("u-123:pw")
    assert_eq!(
        value(&i.request, "authorization"),
        Some("Basic dS0xMjM6cHc=")
    );
    assert!(p.sets_authorization());
}

#[test]
fn alpha_rules_read_any_claim_with_prefixes_secrets_and_several_values() {
    let rules = vec![
        claim_rule("X-Tenant", "tenant", ""),
        claim_rule("X-Roles", "roles", "role:"),
        HeaderRule {
            values: vec![
                HeaderValueSource::Secret(secret(b"static-1")),
                HeaderValueSource::Claim(ClaimSource {
                    claim: "email".into(),
                    prefix: String::new(),
                    basic_auth_password: None,
                }),
            ],
            ..claim_rule("X-Mixed", "email", "")
        },
        claim_rule("X-Created", "created_at", ""),
        claim_rule("X-Missing", "nope", ""),
    ];
    let p = HeaderPlan::new(&rules, &[]).unwrap();
    let i = p.inject(&session(), "p");
    assert_eq!(value(&i.request, "x-tenant"), Some("t-42"));
    assert_eq!(value(&i.request, "x-roles"), Some("role:r1,role:7"));
    assert_eq!(
        value(&i.request, "x-mixed"),
        Some("static-1,alice@example.com")
    );
    assert_eq!(
        value(&i.request, "x-created"),
        Some("2023-11-14 22:13:20.5 +0000 UTC")
    );
    assert_eq!(value(&i.request, "x-missing"), None);
}

#[test]
fn client_copies_of_every_header_the_plan_sets_are_stripped_in_every_spelling() {
    let p = HeaderPlan::new(&[claim_rule("X-Tenant-Id", "tenant", "")], &[]).unwrap();
    let mut h = HeaderMap::new();
    for n in [
        "x-tenant-id",
        "X_Tenant_Id",
        "x-tenant_id",
        "x-forwarded-email",
        "x-other",
    ] {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_static("forged"),
        );
    }
    p.strip(&mut h);
    assert_eq!(
        h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["x-other"]
    );
}

#[test]
fn preserve_request_value_appends_to_the_client_value_except_for_identity_headers() {
    let mut tenant = claim_rule("X-Tenant", "tenant", "");
    tenant.preserve_request_value = true;
    let mut email = claim_rule("X-Forwarded-Email", "email", "");
    email.preserve_request_value = true;
    let p = HeaderPlan::new(&[tenant, email], &[]).unwrap();
    assert_eq!(
        p.ignored_preserves().collect::<Vec<_>>(),
        ["x-forwarded-email"]
    );
    let mut h = HeaderMap::new();
    h.insert("x-tenant", HeaderValue::from_static("client"));
    h.insert(
        "x-forwarded-email",
        HeaderValue::from_static("mallory@evil.example"),
    );
    p.strip(&mut h);
    assert_eq!(h.get("x-tenant").unwrap(), "client", "preserved");
    assert!(
        h.get("x-forwarded-email").is_none(),
        "identity header stripped anyway"
    );
    assert_eq!(p.preserved(), [HeaderName::from_static("x-tenant")]);
}

#[test]
fn illegal_values_are_dropped_without_panicking() {
    let p = legacy(|l| {
        l.pass_user_headers = true;
        l.pass_access_token = true;
        l.set_xauthrequest = true;
    });
    let s = SessionState {
        user: "u\r\nX-Injected: 1".into(),
        email: "alice@example.com\n".into(),
        groups: vec!["ok".into(), "evil\r\nX-Admin: 1".into()],
        preferred_username: "nul\0byte".into(),
        access_token: "tok\x7f".into(),
        ..SessionState::default()
    };
    let i = p.inject(&s, "bad\r\nprovider");
    assert!(i.request.is_empty(), "{:?}", names(&i.request));
    assert!(i.response.is_empty());
}

#[test]
fn odd_but_legal_values_are_sent_byte_for_byte() {
    let p = legacy(|l| l.pass_user_headers = true);
    let s = SessionState {
        user: "José Müller".into(),
        email: "a@example.com".into(),
        groups: vec!["a,b".into(), "ünïcode".into()],
        preferred_username: "\ttabbed".into(),
        ..SessionState::default()
    };
    let i = p.inject(&s, "p");
    assert_eq!(
        value_bytes(&i.request, "x-forwarded-user"),
        "José Müller".as_bytes()
    );
    assert_eq!(
        value_bytes(&i.request, "x-forwarded-groups"),
        "a,b,ünïcode".as_bytes()
    );
    assert_eq!(
        value_bytes(&i.request, "x-forwarded-preferred-username"),
        b"\ttabbed"
    );
}

fn value_bytes<'a>(h: &'a [(HeaderName, HeaderValue)], name: &str) -> &'a [u8] {
    h.iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, v)| v.as_bytes())
        .unwrap()
}

#[test]
fn an_invalid_header_name_is_a_plan_error() {
    let e = HeaderPlan::new(&[claim_rule("Bad Name", "email", "")], &[]).unwrap_err();
    assert!(e.to_string().contains("Bad Name"), "{e}");
}
