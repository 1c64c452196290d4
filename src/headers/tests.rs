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
fn client_sent_provider_headers_are_stripped() {
    for name in [
        "X-Forwarded-Provider",
        "x_forwarded_provider",
        "X-Auth-Request-Provider",
    ] {
        assert!(is_identity_header(name, false), "{name}");
    }
}
