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
    // Characters a path cannot carry: v7 starts and routes none of its endpoints; authproxy
    // serves them where the browser's requests for v7's links arrive (percent-encoded).
    for (raw, want) in [
        ("/o auth", "/o%20auth"),
        ("/o%auth", "/o%25auth"),
        ("/o?x", "/o%3Fx"),
    ] {
        let flag = format!("--proxy-prefix={raw}");
        let c = run(&[&flag], &base_env());
        assert_eq!(c.proxy_prefix, want, "{raw}");
        assert!(
            c.warnings()
                .iter()
                .any(|w| w.contains("option `proxy_prefix`")
                    && w.contains("a URL path cannot carry")),
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

/// What oauth2-proxy v7.15.3 refuses at start for each provider type, from its constructors
/// (providers/*.go) and validation (pkg/validation/providers.go), each case checked with the
/// real binary: the configuration-level part (the provider constructors' own refusals, such as
/// a GitLab access level or a login.gov key that is no RSA PEM, are tested in src/provider).
/// `Ok(warning)`: starts, with a warning holding that text ("" for none checked).
#[test]
fn each_provider_type_refuses_what_v7_refuses_and_nothing_more() {
    let dir = tmpdir();
    let pem = write(&dir, "key.pem", b"-----BEGIN RSA PRIVATE KEY-----\n");
    let pem = pem.display().to_string();
    let fed = write(&dir, "federated-token", b"eyJ.x.y");
    const OIDC: &str = "--oidc-issuer-url=https://idp.example";
    const SKIP: [&str; 4] = [
        "--skip-oidc-discovery",
        "--login-url=https://idp.example/auth",
        "--redeem-url=https://idp.example/token",
        "--oidc-jwks-url=https://idp.example/jwks",
    ];
    let key_file = format!("--jwt-key-file={pem}");
    let mut cases: Vec<(Vec<&str>, Result<&str, &str>)> = vec![
        // The OpenID Connect types need an issuer (v7: "missing required setting: issuer-url").
        (vec!["--provider=oidc"], Err("option `oidc_issuer_url` is required")),
        (vec!["--provider=adfs"], Err("option `oidc_issuer_url` is required")),
        (vec!["--provider=cidaas"], Err("option `oidc_issuer_url` is required")),
        (vec!["--provider=keycloak-oidc"], Err("option `oidc_issuer_url` is required")),
        // authproxy's documented default issuers (more lenient than v7, which refuses).
        (vec!["--provider=azure"], Ok("")),
        (vec!["--provider=entra-id"], Ok("")),
        (vec!["--provider=gitlab"], Ok("")),
        // skip_oidc_discovery: v7 needs jwks-url or public-key files, starts without login/redeem.
        (vec!["--provider=oidc", OIDC, "--skip-oidc-discovery", "--oidc-jwks-url=https://idp.example/jwks"], Ok("option `login_url`: is not set with skip_oidc_discovery")),
        (vec!["--provider=oidc", OIDC, "--skip-oidc-discovery", "--login-url=https://idp.example/a", "--redeem-url=https://idp.example/t"], Err("missing required setting: jwks-url or public-key-files")),
        (vec!["--provider=oidc", OIDC, "--oidc-enabled-signing-alg=XS256"], Err("has invalid EnabledSigningAlgs entry \"XS256\"")),
        // resource: parsed with Go's url.Parse for every type.
        (vec!["--provider=github", "--resource=%zz"], Err("option `resource` (from flag --resource): \"%zz\" is not a valid URL: invalid URL escape")),
        (vec!["--provider=oidc", OIDC, "--resource=https://a b/"], Err("invalid character ' ' in host name")),
        (vec!["--provider=entra-id", "--resource=https://graph.microsoft.com"], Ok("")),
        (vec!["--provider=azure", "--resource=a b"], Ok("contains spaces")),
        (vec!["--provider=adfs", OIDC, "--resource=urn:app"], Ok("")),
        // Provider URLs: refused where Go's url.Parse fails, else accepted (v7 starts).
        (vec!["--provider=github", "--login-url=http://[::1"], Err("option `login_url`")),
        (vec!["--provider=github", "--validate-url=https://a b/"], Err("option `validate_url`")),
        (vec!["--provider=oidc", OIDC, "--login-url=/auth"], Ok("option `login_url` (from flag --login-url): \"/auth\" is not a valid URL")),
        (vec!["--provider=oidc", OIDC, "--profile-url=ftp://x/me"], Ok("must be an http:// or https:// URL; it is ignored")),
        // login.gov: exactly one private key (v7: "cannot set both", "requires a private key").
        (vec!["--provider=login.gov"], Err("option `jwt_key` or `jwt_key_file` is required")),
        (vec!["--provider=login.gov", "--jwt-key=k", &key_file], Err("option `jwt_key_file` (from flag --jwt-key-file): cannot be set together with jwt_key")),
        (vec!["--provider=login.gov", "--jwt-key-file=/nonexistent/key.pem"], Err("cannot read /nonexistent/key.pem")),
        (vec!["--provider=login.gov", &key_file, "--pubjwk-url=http://[::1"], Err("option `pubjwk_url`")),
        (vec!["--provider=login.gov", &key_file], Ok("")),
        // google: the admin e-mail and credentials together (v7's validateGoogleConfig).
        (vec!["--provider=google", "--google-admin-email=admin@corp.example"], Err("missing setting: google-service-account-json or google-use-application-default-credentials")),
        (vec!["--provider=google", "--google-service-account-json=/nonexistent.json"], Err("missing setting: google-admin-email")),
        (vec!["--provider=google", "--google-admin-email=a@corp.example", "--google-service-account-json=/nonexistent.json"], Err("Google credentials file not found: /nonexistent.json")),
        (vec!["--provider=google"], Ok("")),
        // The plain OAuth 2.0 types refuse nothing of their own. Keycloak and Nextcloud have
        // no default endpoints: v7 starts (keycloak with keycloak.org's URLs) and fails every
        // sign-in; authproxy starts too, never ready.
        (vec!["--provider=nextcloud"], Ok("option `login_url`: is not set and provider \"nextcloud\" has no default")),
        (vec!["--provider=keycloak", "--login-url=https://kc.example/auth", "--redeem-url=https://kc.example/token"], Ok("option `validate_url`: is not set and provider \"keycloak\" has no default")),
        (vec!["--provider=github", "--github-org=acme"], Ok("")),
        (vec!["--provider=bitbucket"], Ok("")),
        (vec!["--provider=keycloak", "--login-url=https://kc.example/auth", "--redeem-url=https://kc.example/token", "--validate-url=https://kc.example/userinfo"], Ok("")),
        (vec!["--provider=linkedin"], Ok("")),
        (vec!["--provider=nextcloud", "--login-url=https://nc.example/apps/oauth2/authorize", "--redeem-url=https://nc.example/apps/oauth2/api/v1/token", "--validate-url=https://nc.example/ocs/v2.php/cloud/user?format=json"], Ok("")),
        (vec!["--provider=digitalocean"], Ok("")),
        (vec!["--provider=facebook"], Ok("")),
        (vec!["--provider=sourcehut"], Ok("")),
        (vec!["--provider=github", "--client-secret=", "--client-secret-file=/nonexistent/secret"], Err("cannot read /nonexistent/secret")),
    ];
    cases.push((
        SKIP.iter()
            .copied()
            .chain(["--provider=oidc", OIDC])
            .collect(),
        Ok(""),
    ));
    let mut env = base_env();
    env.remove("OAUTH2_PROXY_PROVIDER");
    env.remove("OAUTH2_PROXY_OIDC_ISSUER_URL");
    for (a, want) in &cases {
        match (load(&args(a), &env), want) {
            (Ok(Command::Run(c)), Ok(w)) => assert!(
                c.warnings().iter().any(|l| l.contains(w)),
                "{a:?}: missing warning {w:?} in {:#?}",
                c.warnings()
            ),
            (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{a:?}: missing {w:?} in:\n{e}"),
            (got, _) => panic!("{a:?}: expected {want:?}, got {got:?}"),
        }
    }
    // Entra ID workload identity: the federated token file authenticates the client, also
    // when a client secret is set too (v7 starts; this was refused as "incomplete").
    let mut env = base_env();
    env.insert(
        "AZURE_FEDERATED_TOKEN_FILE".into(),
        fed.display().to_string(),
    );
    let c = run(
        &["--provider=entra-id", "--entra-id-federated-token-auth"],
        &env,
    );
    assert_eq!(
        c.providers[0].azure.federated_token_file.as_deref(),
        Some(fed.as_path())
    );
}
