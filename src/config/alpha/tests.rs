//! The alpha config: every section, each error naming the file and the field.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::structured::{HeaderValueSource, SecretOrigin};
use crate::config::{load, BindAddress, Command, Config, UpstreamKind};

fn tcp(a: &str) -> Option<BindAddress> {
    Some(BindAddress::Tcp(a.parse().unwrap()))
}

fn tmp(name: &str, body: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "authproxy-alpha-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// Global settings only: the providers come from the alpha file.
fn env() -> HashMap<String, String> {
    [
        (
            "OAUTH2_PROXY_COOKIE_SECRET",
            "0123456789abcdef0123456789abcdef",
        ),
        ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn load_with(yaml: &str, extra: &[&str], env: &HashMap<String, String>) -> Result<Config, String> {
    let path = tmp("alpha.yaml", yaml);
    let mut args: Vec<OsString> = vec![format!("--alpha-config={}", path.display()).into()];
    args.extend(extra.iter().map(OsString::from));
    match load(&args, env) {
        Ok(Command::Run(c)) => Ok(*c),
        Ok(other) => panic!("expected Run, got {other:?}"),
        Err(e) => Err(e.to_string()),
    }
}

fn ok(yaml: &str) -> Config {
    load_with(yaml, &[], &env()).unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
}

fn err(yaml: &str, wants: &[&str]) {
    let e = load_with(yaml, &[], &env()).expect_err("expected errors");
    for w in wants {
        assert!(e.contains(w), "missing {w:?} in:\n{e}");
    }
}

const TWO: &str = r#"
providers:
  - id: corp
    provider: oidc
    name: Corp SSO
    clientID: corp-client
    clientSecret: corp-secret
    scope: openid email groups
    allowedGroups: [admins, devs]
    oidcConfig:
      issuerURL: https://sso.corp.example
      emailClaim: mail
      groupsClaim: roles
      userIDClaim: sub
      extraAudiences: [api]
      insecureSkipNonce: false
  - id: partner
    provider: oidc
    name: Partner
    clientID: partner-client
    clientSecret: partner-secret
    code_challenge_method: plain
    oidcConfig:
      issuerURL: https://idp.partner.example/realms/x
"#;

#[test]
fn every_provider_entry_becomes_a_provider() {
    let c = ok(TWO);
    assert_eq!(c.providers.len(), 2);
    let (a, b) = (&c.providers[0], &c.providers[1]);
    assert_eq!(a.id, "corp");
    assert_eq!(a.display_name, "Corp SSO");
    assert_eq!(a.client_id, "corp-client");
    assert_eq!(a.client_secret.expose(), "corp-secret");
    assert_eq!(a.scope, "openid email groups");
    assert_eq!(a.allowed_groups, ["admins", "devs"]);
    assert_eq!(a.oidc_email_claim, "mail");
    assert_eq!(a.oidc_groups_claim, "roles");
    assert_eq!(a.user_id_claim, "sub");
    assert_eq!(a.oidc_extra_audiences, ["api"]);
    assert_eq!(
        a.oidc_issuer_url.as_ref().unwrap().as_str(),
        "https://sso.corp.example/"
    );
    assert_eq!(b.id, "partner");
    assert_eq!(
        b.code_challenge_method,
        crate::config::CodeChallengeMethod::Plain
    );
    assert!(b.allowed_groups.is_empty());
    assert_eq!(
        c.alpha_config_file.as_ref().unwrap().file_name().unwrap(),
        "alpha.yaml"
    );
}

/// oauth2-proxy v7.15.3 (`--alpha-config` with a file lacking the section, checked with the
/// real binary): no `providers` is refused ("provider has empty id"), the legacy provider
/// options are ignored from the environment and refused from flags.
#[test]
fn an_alpha_file_without_providers_is_refused_even_with_legacy_provider_options() {
    let mut env = env();
    env.insert("OAUTH2_PROXY_PROVIDER".into(), "oidc".into());
    env.insert(
        "OAUTH2_PROXY_OIDC_ISSUER_URL".into(),
        "https://idp.example.com".into(),
    );
    env.insert("OAUTH2_PROXY_CLIENT_ID".into(), "app".into());
    env.insert("OAUTH2_PROXY_CLIENT_SECRET".into(), "s".into());
    let e = load_with("server:\n  BindAddress: 127.0.0.1:9999\n", &[], &env).unwrap_err();
    assert!(e.contains("defines no provider"), "{e}");
    let e = load_with("providers: []\n", &[], &env).unwrap_err();
    assert!(e.contains("defines no provider"), "{e}");
    let e = load_with(TWO, &["--provider=github"], &env).unwrap_err();
    assert!(
        e.contains("option `provider` (from flag --provider) is replaced by the providers section"),
        "{e}"
    );
}

/// v7 leaves a section the alpha file does not have empty: no upstream (every proxied path
/// is 404), no identity headers, no listener, no metrics listener. The legacy options of
/// those sections are refused from flags (pflag: unknown flag) and ignored from the
/// environment, even with the section absent.
#[test]
fn sections_the_alpha_file_leaves_out_are_empty_as_in_v7() {
    let mut env = env();
    env.insert(
        "OAUTH2_PROXY_UPSTREAMS".into(),
        "http://127.0.0.1:8080".into(),
    );
    env.insert("OAUTH2_PROXY_HTTP_ADDRESS".into(), "127.0.0.1:6000".into());
    env.insert(
        "OAUTH2_PROXY_METRICS_ADDRESS".into(),
        "127.0.0.1:6001".into(),
    );
    env.insert("OAUTH2_PROXY_PASS_USER_HEADERS".into(), "true".into());
    env.insert("OAUTH2_PROXY_SET_XAUTHREQUEST".into(), "true".into());
    let c = load_with(TWO, &[], &env).unwrap();
    assert!(c.upstream_config.upstreams.is_empty());
    assert!(
        c.inject_request_headers.is_empty(),
        "{:?}",
        c.inject_request_headers
    );
    assert!(c.inject_response_headers.is_empty());
    assert_eq!(c.server.bind_address, None);
    assert_eq!(c.server.secure_bind_address, None);
    assert_eq!(c.metrics_server.bind_address, None);
    let w = c.warnings();
    assert!(
        w.iter()
            .any(|l| l.contains("has no server section, so the proxy has no listener")),
        "{w:#?}"
    );
    for var in [
        "OAUTH2_PROXY_UPSTREAMS",
        "OAUTH2_PROXY_HTTP_ADDRESS",
        "OAUTH2_PROXY_PASS_USER_HEADERS",
    ] {
        assert!(
            w.iter().any(|l| l.contains(var) && l.contains("ignored")),
            "{var}: {w:#?}"
        );
    }
    for (flag, key, section) in [
        (
            "--upstream=http://127.0.0.1:8080",
            "upstreams",
            "upstreamConfig",
        ),
        (
            "--pass-user-headers",
            "pass_user_headers",
            "injectRequestHeaders",
        ),
        ("--http-address=127.0.0.1:1", "http_address", "server"),
        (
            "--metrics-address=127.0.0.1:2",
            "metrics_address",
            "metricsServer",
        ),
    ] {
        let e = load_with(TWO, &[flag], &self::env()).unwrap_err();
        assert!(
            e.contains(&format!("option `{key}` (from flag")) && e.contains(section),
            "{flag}: {e}"
        );
    }
}

#[test]
fn client_secret_file_is_read_per_provider() {
    let secret = tmp("secret", "from-file\n");
    let yaml = format!(
        "providers:\n  - id: a\n    provider: oidc\n    clientID: a\n    clientSecretFile: {}\n    oidcConfig: {{issuerURL: 'https://a.example'}}\n",
        secret.display()
    );
    assert_eq!(ok(&yaml).providers[0].client_secret.expose(), "from-file");
}

#[test]
fn provider_errors_name_the_entry_and_the_field() {
    err(
        "providers:\n  - id: a\n    provider: oidc\n    clientSecret: s\n    oidcConfig: {issuerURL: 'https://a.example'}\n",
        &["providers[0] (id \"a\"): option `client_id` is required"],
    );
    err(
        "providers:\n  - id: a\n    provider: oidc\n    clientID: a\n    clientSecret: s\n    oidcConfig: {issuerURL: 'not a url'}\n",
        &["field providers[0].oidcConfig.issuerURL", "is not a valid URL"],
    );
    err(
        "providers:\n  - id: a\n    provider: oidc\n    clientID: a\n    clientSecret: s\n    oidcConfig: {issuerUrl: 'https://a', issuerURI: x}\n",
        &["field providers[0].oidcConfig.issuerURI: unknown alpha config field \"issuerURI\"; did you mean issuerURL?"],
    );
}

#[test]
fn ids_are_required_and_unique() {
    let entry = "provider: oidc\n    clientID: a\n    clientSecret: s\n    oidcConfig: {issuerURL: 'https://a'}";
    err(
        &format!("providers:\n  - {entry}\n"),
        &["field providers[0]: id is required"],
    );
    err(
        &format!("providers:\n  - id: x\n    {entry}\n  - id: x\n    {entry}\n"),
        &["field providers[1].id: \"x\" is used by another provider"],
    );
    err(
        &format!("providers:\n  - id: 'a b'\n    {entry}\n"),
        &["ids are ASCII without spaces"],
    );
}

#[test]
fn legacy_provider_options_conflict_with_a_providers_list() {
    let e = load_with(TWO, &["--client-id=legacy"], &env()).unwrap_err();
    assert!(
        e.contains(
            "option `client_id` (from flag --client-id) is replaced by the providers section of"
        ) && e.contains("alpha.yaml"),
        "{e}"
    );
}

#[test]
fn a_legacy_option_of_an_alpha_section_is_refused_from_flags_and_ignored_from_env() {
    let yaml = format!("{TWO}server:\n  BindAddress: 127.0.0.1:5000\n");
    let e = load_with(&yaml, &["--http-address=127.0.0.1:6000"], &env()).unwrap_err();
    assert!(
        e.contains(
            "option `http_address` (from flag --http-address) is replaced by the server section"
        ),
        "{e}"
    );
    // v7 ignores legacy environment variables in alpha mode: so does authproxy, with a warning.
    let mut env = env();
    env.insert("OAUTH2_PROXY_HTTP_ADDRESS".into(), "127.0.0.1:6000".into());
    let c = load_with(&yaml, &[], &env).unwrap();
    assert_eq!(c.server.bind_address, tcp("127.0.0.1:5000"));
    assert!(
        c.warnings()
            .iter()
            .any(|w| w.contains("OAUTH2_PROXY_HTTP_ADDRESS") && w.contains("ignored")),
        "{:?}",
        c.warnings()
    );
}

#[test]
fn server_sections_read_every_field() {
    let c = ok(&format!("{TWO}server:\n  bindAddress: 127.0.0.1:5000\n"));
    assert_eq!(c.server.bind_address, tcp("127.0.0.1:5000"));
    let cert = tmp("cert.pem", "-----BEGIN CERTIFICATE-----\n");
    let key = tmp("key.pem", "-----BEGIN PRIVATE KEY-----\n");
    let c = ok(&format!(
        "{TWO}server:\n  BindAddress: '-'\n  SecureBindAddress: 0.0.0.0:8443\n  TLS:\n    Key: {{fromFile: {}}}\n    Cert: {{fromFile: {}}}\n    MinVersion: TLS1.3\n    CipherSuites: [TLS_AES_128_GCM_SHA256]\n",
        key.display(),
        cert.display()
    ));
    assert_eq!(c.server.bind_address, None);
    assert_eq!(
        c.server.secure_bind_address,
        Some("0.0.0.0:8443".parse().unwrap())
    );
    let tls = c.server.tls.as_ref().unwrap();
    assert_eq!(
        tls.min_version,
        crate::config::structured::TlsVersion::Tls13
    );
    assert_eq!(tls.cipher_suites, ["TLS_AES_128_GCM_SHA256"]);
    assert!(matches!(&tls.cert.origin, SecretOrigin::FromFile(p) if *p == cert));
    let m = ok(&format!(
        "{TWO}metricsServer:\n  BindAddress: 0.0.0.0:9100\n"
    ));
    assert_eq!(m.metrics_server.bind_address, tcp("0.0.0.0:9100"));
    err(
        &format!("{TWO}server:\n  SecureBindAddress: 0.0.0.0:443\n"),
        &["server: secureBindAddress needs tls"],
    );
    err(
        &format!("{TWO}server:\n  bindAddress: 4180\n"),
        &["server.bindAddress: expected a string, found the number 4180; quote it"],
    );
    err(
        &format!("{TWO}sever: {{}}\n"),
        &["unknown alpha config field \"sever\"; did you mean server?"],
    );
}

#[test]
fn upstreams_are_read_with_every_v7_field() {
    let c = ok(&format!(
        "{TWO}upstreamConfig:\n  proxyRawPath: true\n  upstreams:\n    - id: app\n      path: /\n      uri: http://127.0.0.1:8080\n      timeout: 10s\n      passHostHeader: false\n      flushInterval: 2.5\n    - id: api\n      path: ^/api/v1/(.*)$\n      rewriteTarget: /v2/$1\n      uri: https://127.0.0.1:9090\n      insecureSkipTLSVerify: true\n      proxyWebSockets: false\n      disableKeepAlives: true\n    - id: files\n      path: /static/\n      uri: file:///tmp\n    - id: ok\n      path: /healthz\n      static: true\n      staticCode: 204\n    - id: sock\n      path: /sock/\n      uri: unix:///run/app.sock\n"
    ));
    let u = &c.upstream_config.upstreams;
    assert!(c.upstream_config.proxy_raw_path);
    assert_eq!(u.len(), 5);
    assert_eq!(u[0].timeout, std::time::Duration::from_secs(10));
    assert!(!u[0].pass_host_header);
    assert_eq!(u[0].flush_interval, std::time::Duration::from_millis(2500));
    assert_eq!(
        u[1].rewrite_target.as_deref(),
        Some("/v2/$1"),
        "the capture group survives"
    );
    assert!(u[1].insecure_skip_tls_verify && !u[1].proxy_websockets && u[1].disable_keep_alives);
    assert_eq!(u[2].kind, UpstreamKind::File("/tmp".into()));
    assert_eq!(u[3].kind, UpstreamKind::Static(204));
    assert_eq!(u[3].path, "/healthz", "a static upstream on any path");
    assert_eq!(u[4].kind, UpstreamKind::Unix("/run/app.sock".into()));
}

#[test]
fn upstream_errors_are_v7s() {
    err(
        &format!("{TWO}upstreamConfig:\n  upstreams:\n    - id: a\n      path: /\n      staticCode: 201\n      uri: http://127.0.0.1:1\n"),
        &["upstream \"a\" has staticCode (201), but is not a static upstream"],
    );
    err(
        &format!(
            "{TWO}upstreamConfig:\n  upstreams:\n    - id: a\n      path: /\n      uri: ftp://h/\n"
        ),
        &["upstream \"a\" has invalid scheme: \"ftp\""],
    );
    err(
        &format!("{TWO}upstreamConfig:\n  upstreams:\n    - id: a\n      path: /\n      uri: http://h/\n    - id: a\n      path: /b/\n      uri: http://h/\n"),
        &["multiple upstreams found with id \"a\""],
    );
    err(
        &format!("{TWO}upstreamConfig:\n  upstreams:\n    - id: a\n      path: ^/(\n      rewriteTarget: /x\n      uri: http://h/\n"),
        &["invalid path \"^/(\""],
    );
    err(
        &format!("{TWO}upstreamConfig:\n  upstreams:\n    - id: a\n      path: /\n      uri: http://h/\n      static: \"true\"\n"),
        &["upstreams[0].static: expected a boolean"],
    );
}

#[test]
fn header_rules_take_any_name_claim_prefix_and_secret() {
    let secret = tmp("secret", "s3cret");
    let yaml = format!(
        "{TWO}injectRequestHeaders:\n  - name: X-Tenant\n    values:\n      - claimSource: {{claim: tid}}\n  - name: Authorization\n    values:\n      - claimSource:\n          claim: user\n          basicAuthPassword: {{value: pw}}\n  - name: X-Static\n    preserveRequestValue: true\n    values:\n      - secretSource: {{value: YWJj}}\n      - secretSource: {{fromFile: {}}}\n      - secretSource: {{fromEnv: HDR_SECRET}}\ninjectResponseHeaders:\n  - name: X-Auth-Request-User\n    values: [{{claimSource: {{claim: user, prefix: 'u:'}}}}]\n",
        secret.display()
    );
    let mut env = env();
    env.insert("HDR_SECRET".into(), "from-env".into());
    let c = load_with(&yaml, &[], &env).unwrap();
    let names: Vec<&str> = c
        .inject_request_headers
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["X-Tenant", "Authorization", "X-Static"]);
    let static_values: Vec<Vec<u8>> = c.inject_request_headers[2]
        .values
        .iter()
        .map(|v| match v {
            HeaderValueSource::Secret(s) => s.bytes.0.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    // `value` is used literally, as oauth2-proxy v7.15 does (it does not base64-decode it).
    assert_eq!(
        static_values,
        [b"YWJj".to_vec(), b"s3cret".to_vec(), b"from-env".to_vec()]
    );
    assert!(c.inject_request_headers[2].preserve_request_value);
    assert_eq!(c.inject_response_headers.len(), 1);
}

#[test]
fn the_pre_7_14_flat_value_form_is_read_with_a_warning() {
    let c = ok(&format!(
        "{TWO}injectRequestHeaders:\n  - name: X-Forwarded-Email\n    values: [{{claim: email}}]\n"
    ));
    assert!(c.inject_request_headers[0].reads_claim("email"));
    assert!(
        c.warnings()
            .iter()
            .any(|w| w.contains("flat header value form")),
        "{:?}",
        c.warnings()
    );
}

#[test]
fn header_errors_are_v7s() {
    err(
        &format!("{TWO}injectRequestHeaders:\n  - name: X-A\n    values: [{{claimSource: {{claim: a}}}}]\n  - name: X-A\n    values: [{{claimSource: {{claim: b}}}}]\n"),
        &["multiple headers found with name \"X-A\": header names must be unique"],
    );
    err(
        &format!("{TWO}injectRequestHeaders:\n  - values: [{{claimSource: {{claim: a}}}}]\n"),
        &["header has empty name"],
    );
    err(
        &format!("{TWO}injectRequestHeaders:\n  - name: X-A\n    values: [{{claimSource: {{claim: a}}, secretSource: {{value: b}}}}]\n"),
        &["header value has multiple entries"],
    );
    err(
        &format!("{TWO}injectRequestHeaders:\n  - name: X-A\n    values: [{{claimSource: {{prefix: x}}}}]\n"),
        &["claim should not be empty"],
    );
    err(
        &format!("{TWO}injectRequestHeaders:\n  - name: X-A\n    values: [{{secretSource: {{fromEnv: NOPE_NOT_SET}}}}]\n"),
        &["environment variable \"NOPE_NOT_SET\" is not set"],
    );
}

#[test]
fn environment_variables_are_substituted_before_parsing() {
    let mut env = env();
    env.insert("UP".into(), "http://127.0.0.1:7777".into());
    let yaml = format!(
        "{TWO}upstreamConfig:\n  upstreams:\n    - id: a\n      path: ^/a/(.*)$\n      rewriteTarget: /b/$1\n      uri: ${{UP}}\n"
    );
    let c = load_with(&yaml, &[], &env).unwrap();
    let u = &c.upstream_config.upstreams[0];
    assert_eq!(u.uri, "http://127.0.0.1:7777");
    assert_eq!(u.rewrite_target.as_deref(), Some("/b/$1"));
}

#[test]
fn invalid_yaml_and_unknown_sections_are_reported_with_the_file() {
    err("providers: [\n", &["alpha.yaml is not valid YAML"]);
    err("- 1\n", &["must be a mapping of sections"]);
}

#[test]
fn per_provider_blocks_of_the_new_provider_types_are_read() {
    let key = tmp(
        "lg.pem",
        "-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n",
    );
    let c = ok(&format!(
        r#"
providers:
  - id: adfs
    provider: adfs
    clientID: a
    clientSecret: b
    resource: urn:app:example
    ADFSConfig:
      skipScope: true
    oidcConfig:
      issuerURL: https://adfs.example.com/adfs
  - id: bb
    provider: bitbucket
    clientID: a
    clientSecret: b
    bitbucketConfig:
      team: acme
      repository: acme/app
  - id: lg
    provider: login.gov
    clientID: urn:gov:gsa:openidconnect.profiles:sp:sso:agency:app
    loginGovConfig:
      jwtKeyFile: {}
      pubjwkURL: https://idp.int.identitysandbox.gov/api/openid_connect/certs
  - id: kc
    provider: keycloak
    clientID: a
    clientSecret: b
    loginURL: https://sso.example.com/auth
    redeemURL: https://sso.example.com/token
    validateURL: https://sso.example.com/userinfo
    keycloakConfig:
      groups: [/staff]
"#,
        key.display()
    ));
    let p = &c.providers;
    assert!(p[0].adfs.skip_scope);
    assert_eq!(p[0].resource.as_deref(), Some("urn:app:example"));
    assert_eq!(p[1].bitbucket.team, "acme");
    assert_eq!(p[1].bitbucket.repository, "acme/app");
    assert_eq!(p[1].scope, "email", "oauth2-proxy's Bitbucket default");
    assert!(p[2].login_gov.jwt_key.expose().contains("RSA PRIVATE KEY"));
    assert!(
        p[2].client_secret.is_empty(),
        "login.gov needs no client secret"
    );
    assert_eq!(
        p[2].login_gov.pubjwk_url.as_ref().map(url::Url::as_str),
        Some("https://idp.int.identitysandbox.gov/api/openid_connect/certs")
    );
    assert_eq!(p[2].scope, "email openid");
    assert_eq!(p[3].keycloak.groups, vec!["/staff"]);
    assert_eq!(p[3].display_name, "Keycloak");
    // A block of another type is ignored with a warning, as v7 ignores it.
    let c = ok(r#"
providers:
  - id: o
    provider: oidc
    clientID: a
    clientSecret: b
    bitbucketConfig:
      team: acme
    oidcConfig:
      issuerURL: https://idp.example.com
"#);
    assert!(c.providers[0].bitbucket.team.is_empty());
    assert!(
        c.warnings().iter().any(|w| w.contains("bitbucket_team")
            && w.contains("applies to provider \"bitbucket\" only")),
        "{:?}",
        c.warnings()
    );
}
