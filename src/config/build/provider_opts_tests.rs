//! Table tests of the provider options' validation (v7's rules, errors naming key and file).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::{load, Command, Config};

fn tmpdir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "authproxy-provider-opts-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn env(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut e = crate::config::tests::base_env();
    for (k, v) in extra {
        e.insert(k.to_string(), v.to_string());
    }
    e
}

fn args(a: &[&str]) -> Vec<OsString> {
    a.iter().map(OsString::from).collect()
}

fn run(a: &[&str], env: &HashMap<String, String>) -> Config {
    match load(&args(a), env) {
        Ok(Command::Run(c)) => *c,
        Ok(other) => panic!("expected Run, got {other:?}"),
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn errors(a: &[&str], env: &HashMap<String, String>) -> String {
    match load(&args(a), env) {
        Ok(_) => panic!("expected errors for {a:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn provider_option_values_reach_the_model() {
    let dir = tmpdir();
    let key = dir.join("key.pem");
    std::fs::write(&key, "x").unwrap();
    let k = key.to_str().unwrap();
    let c = run(
        &[
            "--oidc-audience-claim=client_id",
            "--oidc-audience-claim=aud",
            "--oidc-enabled-signing-alg=RS256",
            "--oidc-enabled-signing-alg=ES256",
            "--skip-claims-from-profile-url",
            "--use-system-trust-store",
            "--skip-oidc-discovery",
            "--login-url=https://idp.example.com/auth",
            "--redeem-url=https://idp.example.com/token",
            &format!("--oidc-public-key-file={k}"),
            "--backend-logout-url=https://idp.example.com/logout?id_token_hint={id_token}",
        ],
        &env(&[]),
    );
    let p = &c.providers[0];
    assert_eq!(p.oidc_audience_claims, vec!["client_id", "aud"]);
    assert_eq!(p.oidc_enabled_signing_algs, vec!["RS256", "ES256"]);
    assert!(p.skip_claims_from_profile_url);
    assert!(p.use_system_trust_store);
    assert_eq!(p.oidc_public_key_files, vec![key.clone()]);
    assert_eq!(
        p.backend_logout_url.as_deref(),
        Some("https://idp.example.com/logout?id_token_hint={id_token}")
    );
    // Defaults: aud, every algorithm, the profile URL asked.
    let c = run(&[], &env(&[]));
    let p = &c.providers[0];
    assert_eq!(p.oidc_audience_claims, vec!["aud"]);
    assert!(p.oidc_enabled_signing_algs.is_empty());
    assert!(!p.skip_claims_from_profile_url);
    assert!(p.backend_logout_url.is_none());
}

#[test]
fn bad_provider_options_name_the_key_and_the_file() {
    let dir = tmpdir();
    let cfg = dir.join("proxy.cfg");
    std::fs::write(
        &cfg,
        "oidc_enabled_signing_algs = [\"RS256\", \"none\"]\n\
         oidc_public_key_files = [\"/nonexistent/key.pem\"]\n\
         oidc_jwks_url = \"https://idp.example.com/jwks\"\n",
    )
    .unwrap();
    let f = cfg.display().to_string();
    let e = errors(&["--config", &f], &env(&[]));
    for want in [
        format!("option `oidc_enabled_signing_algs` (from {f}): has invalid EnabledSigningAlgs entry \"none\""),
        format!("option `oidc_public_key_files` (from {f}): file /nonexistent/key.pem does not exist"),
        "mutually exclusive settings: jwks-url and public-key-files".to_owned(),
    ] {
        assert!(e.contains(&want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn signing_algorithms_authproxy_never_verifies_with_are_refused_alone_and_warned_otherwise() {
    let e = errors(&["--oidc-enabled-signing-alg=HS256"], &env(&[]));
    assert!(e.contains("option `oidc_enabled_signing_algs`"), "{e}");
    assert!(e.contains("never verifies"), "{e}");
    let c = run(
        &[
            "--oidc-enabled-signing-alg=HS256",
            "--oidc-enabled-signing-alg=PS256",
        ],
        &env(&[]),
    );
    assert_eq!(c.providers[0].oidc_enabled_signing_algs, vec!["PS256"]);
    assert!(
        c.warnings().iter().any(|w| w.contains("HS256 ignored")),
        "{:?}",
        c.warnings()
    );
}

#[test]
fn skip_oidc_discovery_needs_a_jwks_url_or_public_key_files() {
    let base = [
        "--skip-oidc-discovery",
        "--login-url=https://idp.example.com/auth",
        "--redeem-url=https://idp.example.com/token",
    ];
    let e = errors(&base, &env(&[]));
    assert!(
        e.contains("option `oidc_jwks_url`")
            && e.contains("missing required setting: jwks-url or public-key-files"),
        "{e}"
    );
    let mut with_url = base.to_vec();
    with_url.push("--oidc-jwks-url=https://idp.example.com/jwks");
    run(&with_url, &env(&[]));
    // Public keys without skip_oidc_discovery: accepted, with a warning (discovery wins).
    let dir = tmpdir();
    let key = dir.join("k.pem");
    std::fs::write(&key, "x").unwrap();
    let c = run(
        &[&format!("--oidc-public-key-file={}", key.display())],
        &env(&[]),
    );
    assert!(c
        .warnings()
        .iter()
        .any(|w| w.contains("only used with skip_oidc_discovery")));
}

#[test]
fn empty_audience_claims_are_refused() {
    let e = errors(&[], &env(&[("OAUTH2_PROXY_OIDC_AUDIENCE_CLAIMS", " , ")]));
    assert!(e.contains("option `oidc_audience_claims`"), "{e}");
    assert!(e.contains("OAUTH2_PROXY_OIDC_AUDIENCE_CLAIMS"), "{e}");
}

#[test]
fn a_backend_logout_url_that_is_not_http_is_accepted_with_a_warning_and_never_called() {
    let c = run(
        &["--backend-logout-url=ftp://idp.example.com/{id_token}"],
        &env(&[]),
    );
    assert!(c.providers[0].backend_logout_url.is_none());
    assert!(
        c.warnings()
            .iter()
            .any(|w| w.contains("backend_logout_url")),
        "{:?}",
        c.warnings()
    );
}

#[test]
fn entra_federated_token_auth_needs_the_token_file() {
    let entra = [
        ("OAUTH2_PROXY_PROVIDER", "entra-id"),
        (
            "OAUTH2_PROXY_OIDC_ISSUER_URL",
            "https://login.microsoftonline.com/t/v2.0",
        ),
        ("OAUTH2_PROXY_ENTRA_ID_FEDERATED_TOKEN_AUTH", "true"),
    ];
    let mut e = env(&entra);
    e.remove("OAUTH2_PROXY_CLIENT_SECRET");
    let msg = errors(&[], &e);
    assert!(
        msg.contains("option `entra_id_federated_token_auth`")
            && msg.contains("AZURE_FEDERATED_TOKEN_FILE variable is not set"),
        "{msg}"
    );
    assert!(!msg.contains("client_secret"), "no secret is needed: {msg}");
    e.insert(
        "AZURE_FEDERATED_TOKEN_FILE".into(),
        "/nonexistent/token".into(),
    );
    let msg = errors(&[], &e);
    assert!(msg.contains("/nonexistent/token"), "{msg}");
    let dir = tmpdir();
    let token = dir.join("token");
    std::fs::write(&token, "eyJ.x.y").unwrap();
    e.insert(
        "AZURE_FEDERATED_TOKEN_FILE".into(),
        token.display().to_string(),
    );
    let c = run(&[], &e);
    assert_eq!(c.providers[0].azure.federated_token_file, Some(token));
    assert!(c.providers[0].client_secret.expose().is_empty());
    // For another provider it is ignored with a warning, as oauth2-proxy does.
    let c = run(
        &[],
        &env(&[("OAUTH2_PROXY_ENTRA_ID_FEDERATED_TOKEN_AUTH", "true")]),
    );
    assert!(c.providers[0].azure.federated_token_file.is_none());
    assert!(c
        .warnings()
        .iter()
        .any(|w| w.contains("entra_id_federated_token_auth applies to provider")));
}

fn google_env(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut e = env(&[
        ("OAUTH2_PROXY_PROVIDER", "google"),
        ("OAUTH2_PROXY_OIDC_ISSUER_URL", ""),
    ]);
    e.remove("OAUTH2_PROXY_OIDC_ISSUER_URL");
    for (k, v) in extra {
        e.insert(k.to_string(), v.to_string());
    }
    e
}

#[test]
fn google_credentials_are_checked_as_v7_does() {
    // Groups need an admin and credentials.
    let e = errors(
        &[],
        &google_env(&[("OAUTH2_PROXY_GOOGLE_GROUPS", "g@corp.example")]),
    );
    assert!(e.contains("option `google_admin_email`"), "{e}");
    assert!(e.contains("option `google_service_account_json`"), "{e}");
    // Both a key file and ADC: refused.
    let dir = tmpdir();
    let sa = dir.join("sa.json");
    std::fs::write(&sa, "{}").unwrap();
    let sa = sa.display().to_string();
    let e = errors(
        &[],
        &google_env(&[
            ("OAUTH2_PROXY_GOOGLE_ADMIN_EMAIL", "admin@corp.example"),
            ("OAUTH2_PROXY_GOOGLE_SERVICE_ACCOUNT_JSON", &sa),
            (
                "OAUTH2_PROXY_GOOGLE_USE_APPLICATION_DEFAULT_CREDENTIALS",
                "true",
            ),
        ]),
    );
    assert!(
        e.contains("option `google_use_application_default_credentials`")
            && e.contains("can't use both"),
        "{e}"
    );
    // ADC with a missing GOOGLE_APPLICATION_CREDENTIALS file.
    let e = errors(
        &[],
        &google_env(&[
            ("OAUTH2_PROXY_GOOGLE_ADMIN_EMAIL", "admin@corp.example"),
            ("OAUTH2_PROXY_GOOGLE_GROUPS", "g@corp.example"),
            (
                "OAUTH2_PROXY_GOOGLE_USE_APPLICATION_DEFAULT_CREDENTIALS",
                "true",
            ),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json"),
        ]),
    );
    assert!(e.contains("/nonexistent/adc.json"), "{e}");
    // ADC from the metadata server, impersonating a target principal, organization ID on.
    let c = run(
        &[],
        &google_env(&[
            ("OAUTH2_PROXY_GOOGLE_ADMIN_EMAIL", "admin@corp.example"),
            (
                "OAUTH2_PROXY_GOOGLE_USE_APPLICATION_DEFAULT_CREDENTIALS",
                "true",
            ),
            (
                "OAUTH2_PROXY_GOOGLE_TARGET_PRINCIPAL",
                "dir@proj.iam.gserviceaccount.com",
            ),
            ("OAUTH2_PROXY_GOOGLE_USE_ORGANIZATION_ID", "true"),
            ("GCE_METADATA_HOST", "127.0.0.1:9"),
            ("HOME", "/nonexistent"),
        ]),
    );
    let g = &c.providers[0].google;
    assert!(g.use_organization_id);
    assert_eq!(g.target_principal, "dir@proj.iam.gserviceaccount.com");
    let adc = g.application_default_credentials.as_ref().unwrap();
    assert_eq!(adc.credentials_file, None);
    assert_eq!(adc.metadata_host, "127.0.0.1:9");
}

#[test]
fn the_legacy_google_group_wins_when_it_differs_with_a_warning() {
    let dir = tmpdir();
    let sa = dir.join("sa.json");
    std::fs::write(&sa, "{}").unwrap();
    let sa = sa.display().to_string();
    let base = [
        ("OAUTH2_PROXY_GOOGLE_ADMIN_EMAIL", "admin@corp.example"),
        ("OAUTH2_PROXY_GOOGLE_SERVICE_ACCOUNT_JSON", sa.as_str()),
        ("OAUTH2_PROXY_GOOGLE_GROUPS", "b@corp.example"),
        ("OAUTH2_PROXY_GOOGLE_GROUP", "a@corp.example"),
    ];
    let c = run(&[], &google_env(&base));
    assert_eq!(c.providers[0].google.groups, vec!["a@corp.example"]);
    assert!(c.warnings().iter().any(|w| w.contains("deprecated")));
}

#[test]
fn alpha_additional_claims_and_header_claims_are_kept() {
    let dir = tmpdir();
    let alpha = dir.join("alpha.yaml");
    std::fs::write(
        &alpha,
        "providers:\n\
         - id: idp\n\
         \x20 provider: oidc\n\
         \x20 clientID: app\n\
         \x20 clientSecret: s3cret\n\
         \x20 additionalClaims: [department, tenant_id]\n\
         \x20 oidcConfig:\n\
         \x20   issuerURL: https://idp.example.com\n\
         \x20   audienceClaims: [aud]\n\
         \x20   enabledSigningAlgs: [ES256]\n\
         injectRequestHeaders:\n\
         - name: X-Org\n\
         \x20 values:\n\
         \x20 - claimSource:\n\
         \x20     claim: organization.name\n\
         - name: X-Tenant\n\
         \x20 values:\n\
         \x20 - claimSource:\n\
         \x20     claim: tenant_id\n\
         - name: X-Email\n\
         \x20 values:\n\
         \x20 - claimSource:\n\
         \x20     claim: email\n\
         upstreamConfig:\n\
         \x20 upstreams:\n\
         \x20 - id: app\n\
         \x20   path: /\n\
         \x20   uri: http://127.0.0.1:8080\n",
    )
    .unwrap();
    let mut e = env(&[]);
    for k in [
        "OAUTH2_PROXY_PROVIDER",
        "OAUTH2_PROXY_OIDC_ISSUER_URL",
        "OAUTH2_PROXY_CLIENT_ID",
        "OAUTH2_PROXY_CLIENT_SECRET",
    ] {
        e.remove(k);
    }
    let c = run(&["--alpha-config", alpha.to_str().unwrap()], &e);
    let p = &c.providers[0];
    // additionalClaims first, then every other claim a rule reads (not the session's own).
    assert_eq!(
        p.additional_claims,
        vec!["department", "tenant_id", "organization.name"]
    );
    assert_eq!(p.oidc_enabled_signing_algs, vec!["ES256"]);
}

#[test]
fn the_claims_example_of_docs_provider_options_loads() {
    let doc = include_str!("../../../docs/provider-options.md");
    let yaml = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml example");
    let dir = tmpdir();
    let alpha = dir.join("alpha.yaml");
    std::fs::write(&alpha, yaml).unwrap();
    let mut e = env(&[]);
    for k in [
        "OAUTH2_PROXY_PROVIDER",
        "OAUTH2_PROXY_OIDC_ISSUER_URL",
        "OAUTH2_PROXY_CLIENT_ID",
        "OAUTH2_PROXY_CLIENT_SECRET",
    ] {
        e.remove(k);
    }
    let c = run(&["--alpha-config", alpha.to_str().unwrap()], &e);
    assert_eq!(
        c.providers[0].additional_claims,
        vec!["department", "tenant_id", "organization.name"]
    );
}
