use super::*;

fn ctx(scheme: &'static str, host: &str) -> RequestCtx {
    RequestCtx {
        request_id: "r".into(),
        now: SystemTime::UNIX_EPOCH,
        scheme,
        host: host.into(),
        client_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        peer: std::net::IpAddr::from([127, 0, 0, 1]),
        proxied: false,
        wants_json: false,
        sessions: Arc::new(crate::flow::cache::SessionCache::default()),
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn authorization_schemes_split_on_the_first_space() {
    assert_eq!(split_authorization("Bearer abc"), Some(("Bearer", "abc")));
    assert_eq!(split_authorization("bearer  abc "), Some(("bearer", "abc")));
    assert_eq!(split_authorization("Bearer"), None);
    assert_eq!(split_authorization("Bearer   "), None);
}

#[test]
fn basic_credentials_need_a_user_and_a_colon() {
    let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        basic_credentials(&enc("alice:pa:ss")),
        Some(("alice".into(), "pa:ss".into()))
    );
    assert_eq!(
        basic_credentials(&enc("alice:")),
        Some(("alice".into(), String::new()))
    );
    assert_eq!(basic_credentials(&enc(":pw")), None);
    assert_eq!(basic_credentials(&enc("nocolon")), None);
    assert_eq!(basic_credentials("!!!"), None);
}

#[test]
fn the_sign_in_form_is_refused_from_another_origin() {
    let c = ctx("https", "app.example.com");
    let cases: &[(&[(&'static str, &str)], bool)] = &[
        (&[("origin", "https://app.example.com")], true),
        (&[("origin", "https://APP.example.com")], true),
        (&[("origin", "https://evil.example")], false),
        (&[("origin", "http://app.example.com")], false),
        (&[("origin", "https://app.example.com:8443")], false),
        (&[("origin", "null")], false),
        (
            &[("referer", "https://app.example.com/oauth2/sign_in?rd=/")],
            true,
        ),
        (&[("referer", "https://evil.example/x")], false),
        (
            &[
                ("origin", "https://app.example.com"),
                ("sec-fetch-site", "cross-site"),
            ],
            false,
        ),
        (
            &[
                ("origin", "https://app.example.com"),
                ("sec-fetch-site", "same-site"),
            ],
            false,
        ),
        (
            &[
                ("origin", "https://app.example.com"),
                ("sec-fetch-site", "same-origin"),
            ],
            true,
        ),
        // No browser headers at all: a non-browser client (curl), not a CSRF victim.
        (&[], true),
    ];
    for (h, want) in cases {
        assert_eq!(same_origin(&headers(h), &c), *want, "{h:?}");
    }
    let with_port = ctx("http", "127.0.0.1:4180");
    assert!(same_origin(
        &headers(&[("origin", "http://127.0.0.1:4180")]),
        &with_port
    ));
    assert!(!same_origin(
        &headers(&[("origin", "http://127.0.0.1:4181")]),
        &with_port
    ));
}
