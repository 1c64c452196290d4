use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::*;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for &(k, v) in pairs {
        m.append(
            HeaderName::from_bytes(k.as_bytes()).expect("valid test header name"),
            HeaderValue::from_str(v).expect("valid test header value"),
        );
    }
    m
}

fn rules(f: impl FnOnce(&mut HeaderConfig)) -> IdentityHeaders {
    let mut cfg = HeaderConfig::default();
    f(&mut cfg);
    IdentityHeaders::from_config(&cfg)
}

fn groups() -> Vec<String> {
    vec!["admins".to_string(), "dev ops".to_string()]
}

fn full_identity(groups: &[String]) -> Identity<'_> {
    Identity {
        user: "u-123",
        email: "alice@example.com",
        groups,
        preferred_username: "alice",
        access_token: "AT.secret",
        id_token: "ID.jwt",
        provider: "",
    }
}

fn names(headers: &[(HeaderName, HeaderValue)]) -> Vec<&str> {
    headers.iter().map(|(n, _)| n.as_str()).collect()
}

fn value<'a>(headers: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, v)| v.to_str().expect("ascii test value"))
}

#[test]
fn strips_every_spelling_of_every_identity_header() {
    let spoofed = [
        "X-Forwarded-User",
        "x-forwarded-email",
        "X_Forwarded_Email",
        "x_forwarded_email",
        "X-FORWARDED-GROUPS",
        "x-forwarded_groups",
        "X-Forwarded-Preferred-Username",
        "x_forwarded_preferred_username",
        "X-Forwarded-Access-Token",
        "x_forwarded_access_token",
        "X-Forwarded-Id-Token",
        "X-Auth-Request-User",
        "x-auth_request-user",
        "X_AUTH_REQUEST_EMAIL",
        "x-auth-request-groups",
        "X-Auth-Request-Preferred-Username",
        "X-Auth-Request-Access-Token",
        "x-auth-request-redirect",
        "X-Auth-Request-Anything-Else",
        "GAP-Auth",
        "gap_auth",
        "GAP-Signature",
    ];
    let mut pairs: Vec<(&str, &str)> = spoofed.iter().map(|n| (*n, "forged")).collect();
    pairs.push(("accept", "text/html"));
    pairs.push(("x-forwarded-for", "192.0.2.1"));
    pairs.push(("x-forwarded-proto", "https"));
    pairs.push(("x-forwarded-host", "app.example.com"));
    pairs.push(("x-forwarded-username", "not ours"));
    pairs.push(("x-auth-requested", "not ours"));
    pairs.push(("authorization", "Basic abc"));
    let mut h = map(&pairs);
    strip_identity_headers(&mut h, false);
    // HeaderMap does not keep insertion order across removals; compare as a set.
    let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
    left.sort_unstable();
    assert_eq!(
        left,
        [
            "accept",
            "authorization",
            "x-auth-requested",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-forwarded-username",
        ]
    );
    assert_eq!(h.len(), 7, "a kept header lost a value");
}

#[test]
fn strips_every_copy_of_a_repeated_header() {
    let mut h = map(&[
        ("x-forwarded-email", "a@evil.com"),
        ("x-forwarded-email", "b@evil.com"),
        ("X_Forwarded_Email", "c@evil.com"),
    ]);
    strip_identity_headers(&mut h, false);
    assert!(h.is_empty(), "{h:?}");
}

#[test]
fn strips_authorization_only_when_asked() {
    let mut h = map(&[
        ("authorization", "Bearer forged"),
        ("Authorization", "Basic x"),
    ]);
    strip_identity_headers(&mut h, false);
    assert_eq!(h.get_all("authorization").iter().count(), 2);
    strip_identity_headers(&mut h, true);
    assert!(h.get("authorization").is_none());
}

#[test]
fn leaves_a_map_without_identity_headers_untouched() {
    let mut h = map(&[("host", "app"), ("cookie", "a=b"), ("x-request-id", "1")]);
    let before = h.clone();
    strip_identity_headers(&mut h, true);
    assert_eq!(h, before);
    let mut empty = HeaderMap::new();
    strip_identity_headers(&mut empty, true);
    assert!(empty.is_empty());
}

#[test]
fn is_identity_header_folds_case_and_underscores_only() {
    assert!(is_identity_header("X_AUTH-REQUEST_user", false));
    assert!(is_identity_header("Authorization", true));
    assert!(!is_identity_header("Authorization", false));
    assert!(!is_identity_header("", true));
    assert!(!is_identity_header("x", true));
    assert!(!is_identity_header("x-auth-request", false));
    assert!(!is_identity_header("x.forwarded.email", false));
    assert!(!is_identity_header("authorization-extra", true));
}

#[test]
fn nothing_is_injected_when_every_option_is_off() {
    let g = groups();
    assert!(upstream_headers(&rules(|_| {}), &full_identity(&g)).is_empty());
    assert!(auth_response_headers(&rules(|_| {}), &full_identity(&g)).is_empty());
}

#[test]
fn pass_user_headers_sends_user_email_groups_and_preferred_username() {
    let g = groups();
    let h = upstream_headers(&rules(|c| c.pass_user_headers = true), &full_identity(&g));
    assert_eq!(
        names(&h),
        [
            "x-forwarded-user",
            "x-forwarded-email",
            "x-forwarded-groups",
            "x-forwarded-preferred-username"
        ]
    );
    assert_eq!(value(&h, "x-forwarded-user"), Some("u-123"));
    assert_eq!(value(&h, "x-forwarded-email"), Some("alice@example.com"));
    assert_eq!(value(&h, "x-forwarded-groups"), Some("admins,dev ops"));
    assert_eq!(value(&h, "x-forwarded-preferred-username"), Some("alice"));
}

#[test]
fn prefer_email_to_user_puts_the_email_in_x_forwarded_user() {
    let g = groups();
    let r = rules(|c| {
        c.pass_user_headers = true;
        c.prefer_email_to_user = true;
    });
    let h = upstream_headers(&r, &full_identity(&g));
    assert_eq!(value(&h, "x-forwarded-user"), Some("alice@example.com"));
    assert_eq!(value(&h, "x-forwarded-email"), Some("alice@example.com"));
}

#[test]
fn pass_access_token_sends_a_sensitive_x_forwarded_access_token() {
    let g = groups();
    let h = upstream_headers(&rules(|c| c.pass_access_token = true), &full_identity(&g));
    assert_eq!(names(&h), ["x-forwarded-access-token"]);
    assert_eq!(value(&h, "x-forwarded-access-token"), Some("AT.secret"));
    assert!(h[0].1.is_sensitive());
}

#[test]
fn pass_authorization_header_sends_the_id_token_as_bearer() {
    let g = groups();
    let r = rules(|c| c.pass_authorization_header = true);
    assert!(r.strips_authorization());
    let h = upstream_headers(&r, &full_identity(&g));
    assert_eq!(names(&h), ["authorization"]);
    assert_eq!(value(&h, "authorization"), Some("Bearer ID.jwt"));
    assert!(h[0].1.is_sensitive());
    assert!(!rules(|_| {}).strips_authorization());
}

#[test]
fn set_xauthrequest_sends_the_seed_headers_to_the_app() {
    let g = groups();
    let h = upstream_headers(&rules(|c| c.set_xauthrequest = true), &full_identity(&g));
    assert_eq!(
        names(&h),
        [
            "x-auth-request-user",
            "x-auth-request-email",
            "x-auth-request-groups",
            "x-auth-request-preferred-username"
        ]
    );
    assert_eq!(value(&h, "x-auth-request-user"), Some("u-123"));
    assert_eq!(value(&h, "x-auth-request-groups"), Some("admins,dev ops"));
}

#[test]
fn set_xauthrequest_with_pass_access_token_adds_the_access_token() {
    let g = groups();
    let r = rules(|c| {
        c.set_xauthrequest = true;
        c.pass_access_token = true;
    });
    let h = upstream_headers(&r, &full_identity(&g));
    assert_eq!(value(&h, "x-auth-request-access-token"), Some("AT.secret"));
    assert_eq!(value(&h, "x-forwarded-access-token"), Some("AT.secret"));
}

#[test]
fn the_seed_configuration_injects_every_header_once() {
    let g = groups();
    let r = rules(|c| {
        c.pass_user_headers = true;
        c.pass_access_token = true;
        c.pass_authorization_header = true;
        c.set_authorization_header = true;
        c.set_xauthrequest = true;
    });
    let h = upstream_headers(&r, &full_identity(&g));
    let mut n = names(&h);
    assert_eq!(n.len(), 11);
    n.sort_unstable();
    n.dedup();
    assert_eq!(n.len(), 11, "a header was injected twice");
    // Every injected header is one the stripper removes, so a client cannot pre-seed any.
    for name in names(&h) {
        assert!(is_identity_header(name, r.strips_authorization()), "{name}");
    }
}

#[test]
fn auth_response_carries_x_auth_request_and_authorization_per_options() {
    let g = groups();
    let xauth = rules(|c| c.set_xauthrequest = true);
    let h = auth_response_headers(&xauth, &full_identity(&g));
    assert_eq!(
        names(&h),
        [
            "x-auth-request-user",
            "x-auth-request-email",
            "x-auth-request-groups",
            "x-auth-request-preferred-username"
        ]
    );
    let with_token = rules(|c| {
        c.set_xauthrequest = true;
        c.pass_access_token = true;
    });
    let h = auth_response_headers(&with_token, &full_identity(&g));
    assert_eq!(value(&h, "x-auth-request-access-token"), Some("AT.secret"));
    let authz = rules(|c| c.set_authorization_header = true);
    let h = auth_response_headers(&authz, &full_identity(&g));
    assert_eq!(names(&h), ["authorization"]);
    assert_eq!(value(&h, "authorization"), Some("Bearer ID.jwt"));
    // pass_* options concern the app only, never the auth response.
    let pass_only = rules(|c| {
        c.pass_user_headers = true;
        c.pass_access_token = true;
        c.pass_authorization_header = true;
    });
    assert!(auth_response_headers(&pass_only, &full_identity(&g)).is_empty());
}

#[test]
fn empty_identity_fields_produce_no_header() {
    let r = rules(|c| {
        c.pass_user_headers = true;
        c.pass_access_token = true;
        c.pass_authorization_header = true;
        c.set_xauthrequest = true;
        c.set_authorization_header = true;
    });
    let id = Identity {
        email: "alice@example.com",
        ..Identity::default()
    };
    let h = upstream_headers(&r, &id);
    assert_eq!(names(&h), ["x-forwarded-email", "x-auth-request-email"]);
    assert_eq!(
        names(&auth_response_headers(&r, &id)),
        ["x-auth-request-email"]
    );
}

#[test]
fn illegal_values_are_dropped_without_panicking() {
    let r = rules(|c| {
        c.pass_user_headers = true;
        c.pass_access_token = true;
        c.pass_authorization_header = true;
        c.set_xauthrequest = true;
    });
    let bad_groups = vec!["ok".to_string(), "evil\r\nX-Admin: 1".to_string()];
    let id = Identity {
        user: "u\r\nX-Injected: 1",
        email: "alice@example.com\n",
        groups: &bad_groups,
        preferred_username: "nul\0byte",
        access_token: "tok\x7f",
        id_token: "id\ntoken",
        provider: "bad\r\nprovider",
    };
    let h = upstream_headers(&r, &id);
    assert!(h.is_empty(), "{:?}", names(&h));
    assert!(auth_response_headers(&r, &id).is_empty());
}

#[test]
fn odd_but_legal_values_are_sent_byte_for_byte() {
    let r = rules(|c| c.pass_user_headers = true);
    let g = vec!["a,b".to_string(), "ünïcode".to_string()];
    let id = Identity {
        user: "José Müller",
        email: "a@example.com",
        groups: &g,
        preferred_username: "\ttabbed",
        ..Identity::default()
    };
    let h = upstream_headers(&r, &id);
    assert_eq!(h[0].1.as_bytes(), "José Müller".as_bytes());
    assert_eq!(h[2].1.as_bytes(), "a,b,ünïcode".as_bytes());
    assert_eq!(h[3].1.as_bytes(), b"\ttabbed");
}

#[test]
fn provider_id_goes_with_the_user_headers_and_xauthrequest() {
    let r = IdentityHeaders::from_config(&HeaderConfig {
        pass_user_headers: true,
        set_xauthrequest: true,
        ..HeaderConfig::default()
    });
    let id = Identity {
        email: "alice@example.com",
        provider: "github",
        ..Identity::default()
    };
    let h = upstream_headers(&r, &id);
    let get = |n: &str| {
        h.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.to_str().unwrap().to_owned())
    };
    assert_eq!(get("x-forwarded-provider").as_deref(), Some("github"));
    assert_eq!(get("x-auth-request-provider").as_deref(), Some("github"));
    let resp = auth_response_headers(&r, &id);
    assert!(resp
        .iter()
        .any(|(k, v)| k == "x-auth-request-provider" && v == "github"));
}

#[test]
fn client_sent_provider_headers_are_stripped() {
    for name in [
        "X-Forwarded-Provider",
        "x_forwarded_provider",
        "X-Auth-Request-Provider",
    ] {
        assert!(is_identity_header(name, false), "{name}");
    }
}
