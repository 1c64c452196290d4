//! Configurations oauth2-proxy v7.15.3 starts with (each checked with the real binary) that
//! authproxy must start with too, and what it then does.

use super::*;

#[test]
fn proxy_prefix_without_its_leading_slash_is_served_at_slash_prefix() {
    for (raw, want) in [
        ("oauth2", "/oauth2"),
        ("//oauth2", "/oauth2"),
        ("auth/", "/auth"),
    ] {
        let flag = format!("--proxy-prefix={raw}");
        let c = run(&[&flag], &base_env());
        assert_eq!(c.proxy_prefix, want, "{raw}");
        assert!(
            c.warnings()
                .iter()
                .any(|w| w.contains("option `proxy_prefix`")
                    && w.contains("authproxy serves them at")),
            "{raw}: {:#?}",
            c.warnings()
        );
    }
    // An empty prefix works in v7 (its endpoints at /sign_in, /start, /callback): no warning.
    let c = run(&["--proxy-prefix="], &base_env());
    assert_eq!(c.proxy_prefix, "");
    assert!(!c.warnings().iter().any(|w| w.contains("proxy_prefix")));
}

#[test]
fn relative_redirect_urls_are_read_as_go_reads_them() {
    let cases: [(&str, Option<&str>); 7] = [
        ("/my callback", Some("/my%20callback")),
        ("my cb", Some("/my%20cb")),
        ("oauth2/callback", None),
        ("/oauth2/callback", None),
        ("/cb?x=1 2", Some("/cb?x=1 2")),
        ("?x=1", Some("/oauth2/callback?x=1")),
        ("/a(b)|c", Some("/a%28b%29%7Cc")),
    ];
    for (raw, want) in cases {
        let flag = format!("--redirect-url={raw}");
        let c = run(&[&flag], &base_env());
        assert_eq!(
            (c.redirect_url.as_ref(), c.redirect_path.as_deref()),
            (None, want),
            "{raw}"
        );
    }
    let c = run(
        &["--proxy-prefix=/auth", "--redirect-url=auth/callback"],
        &base_env(),
    );
    assert_eq!(c.redirect_path, None);
    let c = run(
        &["--redirect-url=//auth.example.com/oauth2/callback"],
        &base_env(),
    );
    assert_eq!(
        c.redirect_url.as_ref().map(url::Url::as_str),
        Some("https://auth.example.com/oauth2/callback")
    );
    // What Go's url.Parse refuses, v7 refuses at start.
    for (raw, want) in [
        ("/a%zz", "invalid URL escape \"%zz\""),
        ("a b:c", "cannot contain a colon"),
        (":cb", "missing protocol scheme"),
    ] {
        let flag = format!("--redirect-url={raw}");
        assert_err(&[&flag], &base_env(), &["option `redirect_url`", want]);
    }
}
