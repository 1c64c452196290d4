//! `--convert-config-to-alpha`: the alpha YAML equivalent of a legacy configuration, in
//! oauth2-proxy v7's exact output format (its key order, 4-space indentation, omissions,
//! `[]byte` values as integer sequences, Go duration strings; see `convert/yaml.rs`).
//!
//! * `injectRequestHeaders` / `injectResponseHeaders` and `upstreamConfig` are printed from the
//!   compiled structured model (`build/headers.rs`, `build/upstreams.rs`: v7's conversion).
//!   Rules authproxy adds on top of v7's ([`RuleOrigin::AuthproxyExtension`]: the provider
//!   headers, `X-Auth-Request-*` for the app) are printed too, each after a comment line saying
//!   so, so that loading the file into authproxy gives the same behaviour.
//! * `server`, `metricsServer` and `providers` are printed from the options as v7's conversion
//!   maps them (literal addresses, file paths that need not exist here), with authproxy's
//!   effective values where authproxy differs from v7, each with a comment: the HTTP listener
//!   next to TLS, PKCE `S256` and the nonce check on by default, the legacy provider id.
//!
//! As in v7 nothing is validated beyond reading the values: a configuration with, say, no
//! cookie secret converts fine. Values that cannot be read (a bad boolean, an upstream that is
//! no URL) are errors, as they are in v7.

mod yaml;

use super::build::headers::legacy_headers;
use super::build::upstreams::{self, LegacyUpstreamOptions};
use super::build::Ctx;
use super::duration::format_go_duration;
use super::structured::{
    ClaimSource, HeaderRule, HeaderValueSource, RuleOrigin, SecretOrigin, SecretSource, Upstream,
    UpstreamKind,
};
use super::{ConfigError, ConfigErrors};
use yaml::{Item, MapBuilder, Node};

/// The comment before every rule authproxy adds to v7's conversion.
const EXTENSION: &str = "authproxy extension (not in oauth2-proxy v7's conversion)";

/// Convert the merged legacy settings. Returns the YAML and the warnings to show.
pub(super) fn convert(mut c: Ctx) -> Result<(String, Vec<String>), ConfigErrors> {
    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    let upstreams = upstream_config(&mut c)?;
    // Header validation problems (two Authorization headers, ...) are printed as v7 prints
    // them; only the rules matter here.
    let (request, response) = legacy_headers(&mut c);
    let mut root = MapBuilder::default();
    if !request.is_empty() {
        root.put("injectRequestHeaders", headers(&request));
    }
    if !response.is_empty() {
        root.put("injectResponseHeaders", headers(&response));
    }
    if request.is_empty() && response.is_empty() {
        // v7 omits both; authproxy reads a file without either section with the legacy
        // header options, so the "no headers at all" of this configuration is spelled out.
        root.put_commented(
            "injectRequestHeaders",
            Node::Seq(Vec::new()),
            "authproxy extension: no identity headers (without this line the legacy header options apply)",
        );
    }
    root.put("metricsServer", metrics_server(&c));
    root.put("providers", Node::Seq(vec![Item::new(provider(&c))]));
    root.put("server", main_server(&c));
    root.put("upstreamConfig", upstreams);
    Ok((yaml::to_string(&root.build()), c.warnings))
}

fn upstream_config(c: &mut Ctx) -> Result<Node, ConfigErrors> {
    let opts = LegacyUpstreamOptions {
        insecure_skip_tls_verify: c.boolean("ssl_upstream_insecure_skip_verify"),
        pass_host_header: c.boolean("pass_host_header"),
        proxy_websockets: c.boolean("proxy_websockets"),
        flush_interval: c.duration("flush_interval"),
        timeout: c.duration("upstream_timeout"),
        disable_keep_alives: c.boolean("disable_keep_alives"),
    };
    let mut list = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for entry in c.list("upstreams") {
        match upstreams::convert(&entry, &opts, &mut warnings) {
            Ok(u) => list.push(Item::new(upstream(&u))),
            Err(e) => errors.push(ConfigError::new(
                "upstreams",
                format!("option `upstreams` ({}): {e}", c.origin("upstreams")),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    for w in warnings {
        c.warn(w);
    }
    let mut m = MapBuilder::default();
    m.boolean("proxyRawPath", false);
    if !list.is_empty() {
        m.put("upstreams", Node::Seq(list));
    }
    Ok(m.build())
}

fn duration(d: std::time::Duration) -> Node {
    Node::str(format_go_duration(d))
}

/// One upstream in v7's field order.
pub(super) fn upstream(u: &Upstream) -> Node {
    let mut m = MapBuilder::default();
    m.string("id", &u.id).string("path", &u.path);
    if let Some(t) = &u.rewrite_target {
        m.string("rewriteTarget", t);
    }
    m.string("uri", &u.uri)
        .boolean("insecureSkipTLSVerify", u.insecure_skip_tls_verify);
    match u.kind {
        UpstreamKind::Static(code) => {
            m.boolean("static", true)
                .put("staticCode", Node::Int(i64::from(code)));
        }
        _ => {
            m.boolean("static", false);
        }
    }
    m.put("flushInterval", duration(u.flush_interval))
        .boolean("passHostHeader", u.pass_host_header)
        .boolean("proxyWebSockets", u.proxy_websockets)
        .put("timeout", duration(u.timeout))
        .boolean("disableKeepAlives", u.disable_keep_alives);
    m.build()
}

fn secret_source(s: &SecretSource) -> Node {
    let mut m = MapBuilder::default();
    match &s.origin {
        SecretOrigin::Value => {
            if !s.bytes.0.is_empty() {
                m.put("value", Node::bytes(&s.bytes.0));
            }
        }
        SecretOrigin::FromEnv(v) => {
            m.string("fromEnv", v);
        }
        SecretOrigin::FromFile(p) => {
            m.string("fromFile", &p.to_string_lossy());
        }
    }
    m.build()
}

fn claim_source(cs: &ClaimSource) -> Node {
    let mut m = MapBuilder::default();
    m.string("claim", &cs.claim).string("prefix", &cs.prefix);
    if let Some(pw) = &cs.basic_auth_password {
        m.put("basicAuthPassword", secret_source(pw));
    }
    m.build()
}

/// A header list in v7's field order; authproxy's additions after a comment line.
pub(super) fn headers(rules: &[HeaderRule]) -> Node {
    Node::Seq(
        rules
            .iter()
            .map(|r| {
                let mut m = MapBuilder::default();
                m.string("name", &r.name)
                    .boolean("preserveRequestValue", r.preserve_request_value);
                if r.insecure_skip_header_normalization {
                    m.boolean("InsecureSkipHeaderNormalization", true);
                }
                let values = r
                    .values
                    .iter()
                    .map(|v| {
                        let mut vm = MapBuilder::default();
                        match v {
                            HeaderValueSource::Claim(cs) => vm.put("claimSource", claim_source(cs)),
                            HeaderValueSource::Secret(s) => {
                                vm.put("secretSource", secret_source(s))
                            }
                            HeaderValueSource::IdentityAssertion(a) => {
                                let mut am = MapBuilder::default();
                                am.string("prefix", &a.prefix);
                                vm.put("identityAssertionSource", am.build())
                            }
                        };
                        Item::new(vm.build())
                    })
                    .collect();
                m.put("values", Node::Seq(values));
                Item {
                    node: m.build(),
                    comment: (r.origin == RuleOrigin::AuthproxyExtension)
                        .then(|| EXTENSION.to_owned()),
                }
            })
            .collect(),
    )
}

fn tls(c: &Ctx, cert: &str, key: &str, versions: Option<(&str, &str)>) -> Option<Node> {
    let (cert, key) = (c.string(cert), c.string(key));
    if cert.is_empty() && key.is_empty() {
        return None;
    }
    let file = |p: &str| {
        let mut m = MapBuilder::default();
        m.string("fromFile", p);
        m.build()
    };
    // v7's map of the TLS struct: keys sorted.
    let mut m = MapBuilder::default();
    m.put("cert", file(&cert));
    if let Some((min, suites)) = versions {
        m.list("cipherSuites", &c.list(suites));
        m.put("key", file(&key));
        m.string("minVersion", &c.string(min));
    } else {
        m.put("key", file(&key));
    }
    Some(m.build())
}

fn main_server(c: &Ctx) -> Node {
    let mut m = MapBuilder::default();
    let tls = tls(
        c,
        "tls_cert_file",
        "tls_key_file",
        Some(("tls_min_version", "tls_cipher_suites")),
    );
    let http = c.string("http_address");
    if tls.is_some() {
        if !http.trim().is_empty() && http.trim() != "-" {
            m.put_commented(
                "bindAddress",
                Node::str(http),
                "authproxy keeps the plain HTTP listener next to TLS (oauth2-proxy v7 drops it); \"-\" turns it off",
            );
        }
        m.string("secureBindAddress", &c.string("https_address"));
    } else {
        m.string("bindAddress", &http);
    }
    if let Some(t) = tls {
        m.put("tls", t);
    }
    m.build()
}

fn metrics_server(c: &Ctx) -> Node {
    let mut m = MapBuilder::default();
    m.string("bindAddress", &c.string("metrics_address"))
        .string("secureBindAddress", &c.string("metrics_secure_address"));
    if let Some(t) = tls(c, "metrics_tls_cert_file", "metrics_tls_key_file", None) {
        m.put("tls", t);
    }
    m.build()
}

/// A sub-configuration block, omitted when empty (Go `omitempty` of an all-zero struct).
fn block(parent: &mut MapBuilder, key: &'static str, b: MapBuilder) {
    if !b.is_empty() {
        parent.put(key, b.build());
    }
}

/// The one provider of a legacy configuration, field by field as v7 maps the options (its
/// struct order), with authproxy's effective values where they differ.
fn provider(c: &Ctx) -> Node {
    let kind = c.string("provider").trim().to_ascii_lowercase();
    let is = |k: &str| kind == k;
    let mut p = MapBuilder::default();
    p.string("clientID", &c.string("client_id"))
        .string("clientSecret", &c.string("client_secret"))
        .string("clientSecretFile", &c.string("client_secret_file"));
    let mut keycloak = MapBuilder::default();
    if is("keycloak-oidc") || is("keycloak") {
        keycloak.list("groups", &c.list("keycloak_groups"));
        if is("keycloak-oidc") {
            keycloak.list("roles", &c.list("allowed_roles"));
        }
    }
    block(&mut p, "keycloakConfig", keycloak);
    let mut azure = MapBuilder::default();
    azure
        .string("tenant", &c.string("azure_tenant"))
        .string("graphGroupField", &c.string("azure_graph_group_field"));
    block(&mut p, "azureConfig", azure);
    let mut entra = MapBuilder::default();
    if is("entra-id") {
        entra.list("allowedTenants", &c.list("entra_id_allowed_tenants"));
    }
    entra.boolean(
        "federatedTokenAuth",
        is("entra-id") && c.boolean("entra_id_federated_token_auth"),
    );
    block(&mut p, "microsoftEntraIDConfig", entra);
    let mut adfs = MapBuilder::default();
    adfs.boolean(
        "skipScope",
        is("adfs") && c.boolean("authproxy_adfs_skip_scope"),
    );
    block(&mut p, "ADFSConfig", adfs);
    let mut bitbucket = MapBuilder::default();
    if is("bitbucket") {
        bitbucket
            .string("team", &c.string("bitbucket_team"))
            .string("repository", &c.string("bitbucket_repository"));
    }
    block(&mut p, "bitbucketConfig", bitbucket);
    let mut github = MapBuilder::default();
    if is("github") {
        github
            .string("org", &c.string("github_org"))
            .string("team", &c.string("github_team"))
            .string("repo", &c.string("github_repo"))
            .string("token", &c.string("github_token"))
            .list("users", &c.list("github_users"));
    }
    block(&mut p, "githubConfig", github);
    let mut gitlab = MapBuilder::default();
    if is("gitlab") {
        gitlab
            .list("group", &c.list("gitlab_groups"))
            .list("projects", &c.list("gitlab_projects"));
    }
    block(&mut p, "gitlabConfig", gitlab);
    let mut google = MapBuilder::default();
    let google_on = is("google");
    if google_on {
        // authproxy reads both keys (google_groups and the legacy google_group).
        let mut groups = c.list("google_groups");
        for g in c.list("google_group") {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        google
            .list("group", &groups)
            .string("adminEmail", &c.string("google_admin_email"))
            .string(
                "serviceAccountJson",
                &c.string("google_service_account_json"),
            );
    }
    google.boolean(
        "useApplicationDefaultCredentials",
        google_on && c.boolean("google_use_application_default_credentials"),
    );
    if google_on {
        google.string("targetPrincipal", &c.string("google_target_principal"));
    }
    google.boolean(
        "useOrganizationID",
        google_on && c.boolean("google_use_organization_id"),
    );
    if google_on {
        google.string(
            "adminAPIUserScope",
            &c.string("google_admin_api_user_scope"),
        );
    }
    block(&mut p, "googleConfig", google);
    p.put("oidcConfig", oidc_config(c));
    let mut login_gov = MapBuilder::default();
    if is("login.gov") {
        login_gov
            .string("jwtKey", &c.string("jwt_key"))
            .string("jwtKeyFile", &c.string("jwt_key_file"))
            .string("pubjwkURL", &c.string("pubjwk_url"));
    }
    block(&mut p, "loginGovConfig", login_gov);
    let client_id = c.string("client_id");
    let display = c.string("provider_display_name");
    let id = format!("{kind}={}", client_id.trim());
    if display.is_empty() {
        p.string("id", &id);
    } else {
        p.put_commented(
            "id",
            Node::str(id),
            "authproxy's id of the legacy provider (oauth2-proxy v7 uses the display name)",
        );
    }
    p.string("provider", &kind).string("name", &display);
    p.list("caFiles", &c.list("provider_ca_files"));
    p.boolean("useSystemTrustStore", c.boolean("use_system_trust_store"));
    p.string("loginURL", &c.string("login_url"));
    p.put("loginURLParameters", login_url_parameters(c));
    p.string(
        "authRequestResponseMode",
        &c.string("auth_request_response_mode"),
    );
    p.string("redeemURL", &c.string("redeem_url"))
        .string("profileURL", &c.string("profile_url"));
    p.boolean(
        "skipClaimsFromProfileURL",
        c.boolean("skip_claims_from_profile_url"),
    );
    p.string("resource", &c.string("resource"))
        .string("validateURL", &c.string("validate_url"))
        .string("scope", &c.string("scope"))
        .list("allowedGroups", &c.list("allowed_groups"));
    let method = if c.is_set("code_challenge_method")
        || c.string("force_code_challenge_method").is_empty()
    {
        c.string("code_challenge_method")
    } else {
        c.string("force_code_challenge_method")
    };
    if c.is_set("code_challenge_method") || c.is_set("force_code_challenge_method") {
        p.string("code_challenge_method", &method);
    } else {
        p.put_commented(
            "code_challenge_method",
            Node::str(method),
            "authproxy's default (oauth2-proxy v7 uses no PKCE unless set)",
        );
    }
    p.put(
        "backendLogoutURL",
        Node::str(c.string("backend_logout_url")),
    );
    p.build()
}

fn oidc_config(c: &Ctx) -> Node {
    let mut o = MapBuilder::default();
    o.string("issuerURL", &c.string("oidc_issuer_url"))
        .boolean(
            "insecureAllowUnverifiedEmail",
            c.boolean("insecure_oidc_allow_unverified_email"),
        )
        .boolean(
            "insecureSkipIssuerVerification",
            c.boolean("insecure_oidc_skip_issuer_verification"),
        );
    let skip_nonce = c.boolean("insecure_oidc_skip_nonce");
    if c.is_set("insecure_oidc_skip_nonce") {
        o.boolean("insecureSkipNonce", skip_nonce);
    } else {
        o.put_commented(
            "insecureSkipNonce",
            Node::Bool(skip_nonce),
            "authproxy's default: the nonce is checked (oauth2-proxy v7's default is true)",
        );
    }
    o.boolean("skipDiscovery", c.boolean("skip_oidc_discovery"))
        .string("jwksURL", &c.string("oidc_jwks_url"))
        .list("publicKeyFiles", &c.list("oidc_public_key_files"))
        .string("emailClaim", &c.string("oidc_email_claim"))
        .string("groupsClaim", &c.string("oidc_groups_claim"))
        .string("userIDClaim", &c.string("user_id_claim"));
    let mut audience = c.list("oidc_audience_claims");
    if audience.is_empty() {
        audience.push("aud".into());
    }
    o.list("audienceClaims", &audience)
        .list("extraAudiences", &c.list("oidc_extra_audiences"))
        .list("enabledSigningAlgs", &c.list("oidc_enabled_signing_algs"));
    o.build()
}

/// v7's login URL parameters: `acr_values`, then `prompt`, else `approval_prompt` (default
/// `force`, also when empty).
fn login_url_parameters(c: &Ctx) -> Node {
    let param = |name: &str, value: String| {
        let mut m = MapBuilder::default();
        m.put("name", Node::str(name))
            .put("default", Node::strs(&[value]));
        Item::new(m.build())
    };
    let mut out = Vec::new();
    let acr = c.string("acr_values");
    if !acr.is_empty() {
        out.push(param("acr_values", acr));
    }
    let prompt = c.string("prompt");
    let approval = c.string("approval_prompt");
    if !prompt.is_empty() {
        out.push(param("prompt", prompt));
    } else if !approval.is_empty() {
        out.push(param("approval_prompt", approval));
    } else {
        out.push(param("approval_prompt", "force".into()));
    }
    Node::Seq(out)
}

#[cfg(test)]
mod roundtrip;
#[cfg(test)]
mod tests;
