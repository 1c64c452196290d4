//! The alpha config: every section, each error naming the file and the field.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::{load, Command, Config, UpstreamTarget};

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

#[test]
fn legacy_options_make_one_provider_with_oauth2_proxys_id() {
    let mut env = env();
    env.insert("OAUTH2_PROXY_PROVIDER".into(), "oidc".into());
    env.insert(
        "OAUTH2_PROXY_OIDC_ISSUER_URL".into(),
        "https://idp.example.com".into(),
    );
    env.insert("OAUTH2_PROXY_CLIENT_ID".into(), "app".into());
    env.insert("OAUTH2_PROXY_CLIENT_SECRET".into(), "s".into());
    // An alpha file without providers keeps the legacy provider.
    let c = load_with("server:\n  BindAddress: 127.0.0.1:9999\n", &[], &env).unwrap();
    assert_eq!(c.providers.len(), 1);
    assert_eq!(c.providers[0].id, "oidc=app");
    assert_eq!(c.http_address, "127.0.0.1:9999".parse().unwrap());
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
    err(
        "providers:\n  - id: a\n    provider: oidc\n    clientID: a\n    clientSecret: s\n    loginURLParameters: [{name: prompt}]\n    oidcConfig: {issuerURL: 'https://a'}\n",
        &["field providers[0].loginURLParameters: is an oauth2-proxy alpha field authproxy does not support"],
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
        e.contains("option `client_id` (from flag --client-id) is a provider option, but")
            && e.contains("has a providers list"),
        "{e}"
    );
}

#[test]
fn options_set_in_both_places_are_an_error() {
    let yaml = format!("{TWO}server:\n  BindAddress: 127.0.0.1:5000\n");
    let e = load_with(&yaml, &["--http-address=127.0.0.1:6000"], &env()).unwrap_err();
    assert!(
        e.contains("option `http_address` (from flag --http-address) is also set by")
            && e.contains("server.BindAddress"),
        "{e}"
    );
}

#[test]
fn server_sections_map_or_explain() {
    let c = ok(&format!("{TWO}server:\n  bindAddress: 127.0.0.1:5000\n"));
    assert_eq!(c.http_address, "127.0.0.1:5000".parse().unwrap());
    err(
        &format!("{TWO}server:\n  SecureBindAddress: 0.0.0.0:443\n"),
        &["field server.SecureBindAddress: HTTPS listening is not supported yet"],
    );
    let m = ok(&format!(
        "{TWO}metricsServer:\n  BindAddress: 0.0.0.0:9100\n"
    ));
    assert_eq!(m.metrics_address, Some("0.0.0.0:9100".parse().unwrap()));
    err(
        &format!("{TWO}sever: {{}}\n"),
        &["unknown alpha config field \"sever\"; did you mean server?"],
    );
}

#[test]
fn upstreams_map_onto_path_routed_upstreams() {
    let c = ok(&format!(
        "{TWO}upstreamConfig:\n  upstreams:\n    - id: app\n      path: /\n      uri: http://127.0.0.1:8080\n      timeout: 10s\n    - id: api\n      path: /api/\n      uri: http://127.0.0.1:9090\n      timeout: 10s\n    - id: files\n      path: /static/\n      uri: file:///tmp\n      timeout: 10s\n"
    ));
    let got: Vec<(String, String)> = c
        .upstreams
        .iter()
        .map(|u| match u {
            UpstreamTarget::Http { url, path } => (url.to_string(), path.clone()),
            UpstreamTarget::Static { code, path } => (format!("static {code}"), path.clone()),
            UpstreamTarget::File { dir, path } => (dir.display().to_string(), path.clone()),
        })
        .collect();
    assert_eq!(
        got,
        [
            ("http://127.0.0.1:8080/".to_string(), "/".to_string()),
            (
                "http://127.0.0.1:9090/api/".to_string(),
                "/api/".to_string()
            ),
            ("/tmp".to_string(), "/static/".to_string()),
        ]
    );
    assert_eq!(c.upstream_timeout, std::time::Duration::from_secs(10));
    let c = ok(&format!(
        "{TWO}upstreamConfig:\n  upstreams:\n    - id: ok\n      static: true\n      staticCode: 204\n"
    ));
    assert!(matches!(&c.upstreams[0], UpstreamTarget::Static { code: 204, path } if path == "/"));
}

#[test]
fn upstream_features_authproxy_lacks_are_named() {
    err(
        &format!("{TWO}upstreamConfig:\n  upstreams:\n    - id: a\n      path: ^/x/(.*)$\n      rewriteTarget: /$1\n      uri: http://127.0.0.1:1\n"),
        &[
            "upstreamConfig.upstreams[0].rewriteTarget: is not supported",
            "upstreamConfig.upstreams[0].path: \"^/x/(.*)$\": regular expression paths are not supported",
        ],
    );
    err(
        &format!("{TWO}upstreamConfig:\n  upstreams:\n    - id: a\n      path: /\n      uri: http://127.0.0.1:1\n      timeout: 5s\n    - id: b\n      path: /b/\n      uri: http://127.0.0.1:2\n      timeout: 9s\n"),
        &["upstreams[1].timeout: differs from upstreamConfig.upstreams[0].timeout"],
    );
    err(
        &format!("{TWO}upstreamConfig:\n  proxyRawPath: true\n"),
        &["upstreamConfig.proxyRawPath: is not supported"],
    );
}

const USER_HEADERS: &str = r#"
injectRequestHeaders:
  - name: X-Forwarded-Groups
    values: [{claim: groups}]
  - name: X-Forwarded-User
    values: [{claim: user}]
  - name: X-Forwarded-Email
    values: [{claim: email}]
  - name: X-Forwarded-Preferred-Username
    values: [{claim: preferred_username}]
  - name: Authorization
    values: [{claim: id_token, prefix: "Bearer "}]
injectResponseHeaders:
  - name: X-Auth-Request-User
    values: [{claim: user}]
  - name: X-Auth-Request-Email
    values: [{claim: email}]
  - name: X-Auth-Request-Groups
    values: [{claim: groups}]
  - name: X-Auth-Request-Preferred-Username
    values: [{claim: preferred_username}]
"#;

#[test]
fn header_lists_map_onto_the_header_switches() {
    let c = ok(&format!("{TWO}{USER_HEADERS}"));
    assert!(c.headers.pass_user_headers);
    assert!(c.headers.pass_authorization_header);
    assert!(c.headers.set_xauthrequest);
    assert!(!c.headers.pass_access_token);
    assert!(!c.headers.set_authorization_header);
    assert!(!c.headers.prefer_email_to_user);
    // An empty request list turns the default user headers off.
    let c = ok(&format!("{TWO}injectRequestHeaders: []\n"));
    assert!(!c.headers.pass_user_headers);
}

#[test]
fn header_lists_authproxy_cannot_honour_are_errors() {
    err(
        &format!("{TWO}injectRequestHeaders:\n  - name: X-Forwarded-Email\n    values: [{{claim: email}}]\n"),
        &["injectRequestHeaders: X-Forwarded-User is missing: authproxy sends it together with the other headers of pass_user_headers"],
    );
    err(
        &format!("{TWO}injectRequestHeaders:\n  - name: X-Tenant\n    values: [{{claim: tid}}]\n"),
        &["header X-Tenant from claim \"tid\": authproxy sends a fixed set of identity headers"],
    );
    err(
        &format!(
            "{TWO}injectRequestHeaders:\n  - name: X-Secret\n    values: [{{value: c2VjcmV0}}]\n"
        ),
        &["only claim values (claim, prefix) are supported"],
    );
    err(
        &format!("{TWO}injectRequestHeaders:\n  - name: X-Forwarded-User\n    preserveRequestValue: true\n    values: [{{claim: user}}]\n"),
        &["preserveRequestValue: true is not supported"],
    );
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
    // A block of another type is refused, not ignored.
    err(
        r#"
providers:
  - id: o
    provider: oidc
    clientID: a
    clientSecret: b
    bitbucketConfig:
      team: acme
    oidcConfig:
      issuerURL: https://idp.example.com
"#,
        &["bitbucket_team", "applies to provider \"bitbucket\" only"],
    );
}
