//! The provider options (the legacy flat ones, or one alpha `providers:` entry mapped onto
//! them) compiled into [`ProviderConfig`].

use std::path::PathBuf;

use super::super::*;
use super::ctx::{default_value, Ctx};
use super::opt_url;
use super::provider_opts;
use crate::crypto::Secret;

/// The alpha config's providers list: each entry is compiled like the legacy provider options
/// (over the global settings it inherits, e.g. `prompt` or `ssl_insecure_skip_verify`).
pub(crate) fn alpha_providers(
    c: &mut Ctx,
    alpha: &super::alpha::Alpha,
) -> Option<Vec<ProviderConfig>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, entry) in alpha.providers.iter().enumerate() {
        let mut pc = Ctx::new(vec![c.settings.clone(), entry.layer.clone()], Vec::new());
        pc.env = c.env.clone();
        let built = provider(&mut pc);
        let context = format!(
            "{} providers[{i}] (id {:?})",
            alpha.file.display(),
            entry.id
        );
        for e in pc.errors {
            // Errors about inherited global settings are already reported by the main pass.
            if c.errors.contains(&e) {
                continue;
            }
            let message = if e.message.contains("field providers[") {
                e.message
            } else {
                format!("{context}: {}", e.message)
            };
            c.errors.push(ConfigError {
                key: e.key,
                message,
            });
        }
        for w in pc.warnings {
            // Warnings about inherited global settings are already given by the main pass.
            if !c.warnings.contains(&w) {
                c.warn(format!("{context}: {w}"));
            }
        }
        match built {
            Some(mut p) => {
                p.id = entry.id.clone();
                p.allowed_groups = entry.allowed_groups.clone();
                p.additional_claims = entry.additional_claims.clone();
                out.push(p);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

pub(crate) fn provider(c: &mut Ctx) -> Option<ProviderConfig> {
    let mut ok = true;
    let kind = c.string("provider").trim().to_ascii_lowercase();
    if !PROVIDER_KINDS.contains(&kind.as_str()) {
        c.fail(
            "provider",
            format!(
                "provider {kind:?} is not supported; authproxy supports {} (other OpenID Connect providers work through provider = \"oidc\" with oidc_issuer_url)",
                PROVIDER_KINDS.join(", ")
            ),
        );
        ok = false;
    }
    // Providers with built-in endpoints need no issuer (GitHub is not OIDC at all).
    let needs_issuer = matches!(kind.as_str(), "oidc" | "keycloak-oidc" | "adfs" | "cidaas");
    let is_oidc = super::is_openid_connect(&kind);
    let client_id = c.opt_string("client_id");
    if client_id.is_none() {
        c.errors.push(ConfigError::new(
            "client_id",
            "option `client_id` is required (file key client_id, env OAUTH2_PROXY_CLIENT_ID, flag --client-id)",
        ));
        ok = false;
    }
    let federated_token_file = provider_opts::federated_token_file(c, &kind);
    let client_secret = if federated_token_file.is_some()
        || (kind == "login.gov" && !c.is_set("client_secret") && !c.is_set("client_secret_file"))
    {
        // login.gov authenticates the client with a signed JWT (jwt_key), Entra ID's workload
        // identity with the federated token: no secret.
        Some(Secret::default())
    } else if c.boolean("entra_id_federated_token_auth") && kind == "entra-id" {
        // The federated token file is missing (reported above); a secret is not needed.
        None
    } else {
        client_secret(c)
    };
    ok &= client_secret.is_some();
    let oidc_issuer_url = opt_url(c, "oidc_issuer_url");
    let login_url = provider_url(c, "login_url");
    let redeem_url = provider_url(c, "redeem_url");
    let profile_url = provider_url(c, "profile_url");
    let oidc_jwks_url = provider_url(c, "oidc_jwks_url");
    let skip_oidc_discovery = c.boolean("skip_oidc_discovery");
    let verification = provider_opts::verification(c);
    if skip_oidc_discovery {
        for (key, v) in [("login_url", &login_url), ("redeem_url", &redeem_url)] {
            if v.is_none() && !c.is_set(key) {
                // v7 starts and then fails every sign-in; so does authproxy, never ready.
                c.warn_about(
                    key,
                    "is not set with skip_oidc_discovery = true: no sign-in can work; authproxy starts (as oauth2-proxy does) but the provider is never ready (/ready answers 503) and sign-in answers an error naming it",
                );
            }
        }
        if oidc_jwks_url.is_none()
            && !c.is_set("oidc_jwks_url")
            && verification.public_key_files.is_empty()
        {
            // v7: `missing required setting: jwks-url or public-key-files`.
            c.fail(
                "oidc_jwks_url",
                "is required when skip_oidc_discovery is true (missing required setting: jwks-url or public-key-files)",
            );
            ok = false;
        }
        if oidc_issuer_url.is_none() && !c.is_set("oidc_issuer_url") {
            c.fail(
                "oidc_issuer_url",
                "is required even with skip_oidc_discovery: ID tokens are checked against it (iss)",
            );
            ok = false;
        }
    } else if needs_issuer && oidc_issuer_url.is_none() && !c.is_set("oidc_issuer_url") {
        c.errors.push(ConfigError::new(
            "oidc_issuer_url",
            format!("option `oidc_issuer_url` is required for provider {kind:?} (file key oidc_issuer_url, env OAUTH2_PROXY_OIDC_ISSUER_URL, flag --oidc-issuer-url)"),
        ));
        ok = false;
    }
    let scope = c
        .opt_string("scope")
        .unwrap_or_else(|| default_scope(&kind).to_string());
    if is_oidc && !scope.split_whitespace().any(|s| s == "openid") {
        // v7 sends what is configured; most providers then return no ID token.
        c.warn_about(
            "scope",
            format!(
                "{scope:?} has no openid: OpenID Connect providers then usually return no ID token and sign-in fails (oauth2-proxy starts with it too)"
            ),
        );
    }
    let code_challenge_method = code_challenge_method(c);
    let token_auth_method = match c.string("authproxy_token_auth_method").trim() {
        "" => None,
        "client_secret_basic" => Some(TokenAuthMethod::ClientSecretBasic),
        "client_secret_post" => Some(TokenAuthMethod::ClientSecretPost),
        other => {
            c.fail(
                "authproxy_token_auth_method",
                format!("{other:?} is not one of client_secret_basic, client_secret_post"),
            );
            None
        }
    };
    let claim = |c: &mut Ctx, key: &str| {
        let v = c.string(key).trim().to_string();
        if v.is_empty() {
            // v7 fills an empty claim with its default.
            return options::by_key(key).map_or(v, |o| o.default.to_string());
        }
        if v.chars().any(char::is_whitespace) {
            c.warn_about(
                key,
                format!("{v:?} contains spaces; no claim is named like that, so it is never found"),
            );
        }
        v
    };
    let oidc_email_claim = claim(c, "oidc_email_claim");
    let oidc_groups_claim = claim(c, "oidc_groups_claim");
    let user_id_claim = claim(c, "user_id_claim");
    let provider_ca_files: Vec<PathBuf> = c
        .list("provider_ca_files")
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let skip_verify = c.boolean("ssl_insecure_skip_verify");
    if skip_verify && !provider_ca_files.is_empty() {
        c.warn_about(
            "provider_ca_files",
            "is ignored: ssl_insecure_skip_verify turns certificate verification off (as in oauth2-proxy)",
        );
    }
    for f in provider_ca_files.iter().filter(|_| !skip_verify) {
        if !f.is_file() {
            c.fail(
                "provider_ca_files",
                format!("file {} does not exist", f.display()),
            );
        }
    }
    let approval_prompt = c.string("approval_prompt").trim().to_string();
    let display_name = c
        .opt_string("provider_display_name")
        .unwrap_or_else(|| default_display_name(&kind).to_string());
    let validate_url = provider_url(c, "validate_url");
    if matches!(kind.as_str(), "keycloak" | "nextcloud") {
        // No default endpoints: v7 starts (keycloak with keycloak.org's URLs, nextcloud with
        // none) and fails every sign-in.
        for (key, missing) in [
            ("login_url", login_url.is_none()),
            ("redeem_url", redeem_url.is_none()),
            (
                "validate_url",
                validate_url.is_none() && profile_url.is_none(),
            ),
        ] {
            if missing && !c.is_set(key) {
                c.warn_about(
                    key,
                    format!("is not set and provider {kind:?} has no default: no sign-in can work; authproxy starts (as oauth2-proxy does) but the provider is never ready (/ready answers 503) and sign-in answers an error naming it"),
                );
            }
        }
    }
    let github = GithubOptions {
        org: c.string("github_org").trim().to_string(),
        team: c.string("github_team").trim().to_string(),
        repo: c.string("github_repo").trim().to_string(),
        token: Secret::new(c.string("github_token")),
        users: c.list("github_users"),
    };
    if kind == "github" && !github.repo.is_empty() && !github.repo.contains('/') {
        c.warn_about(
            "github_repo",
            format!("{:?} is not owner/name: GitHub finds no such repository, so nobody passes the repository check", github.repo),
        );
    }
    let google_groups = google_groups(c, &kind);
    let use_organization_id = c.boolean("google_use_organization_id");
    let (google_service_account_json, application_default_credentials) =
        provider_opts::google_credentials(
            c,
            &kind,
            !google_groups.is_empty() || use_organization_id,
        );
    // The hosted-domain check uses the exact domains of email_domains (no wildcards).
    let hosted_domains: Vec<String> = c
        .list("email_domains")
        .into_iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty() && d != "*" && !d.starts_with('.'))
        .collect();
    let google = GoogleOptions {
        groups: google_groups,
        admin_email: c.string("google_admin_email").trim().to_string(),
        service_account_json: google_service_account_json,
        hosted_domains,
        admin_api_url: opt_url(c, "authproxy_google_admin_api_url"),
        use_organization_id,
        admin_api_user_scope: provider_opts::google_user_scope(c),
        application_default_credentials,
        target_principal: c.string("google_target_principal").trim().to_string(),
    };
    let azure = AzureOptions {
        tenant: c.string("azure_tenant").trim().to_string(),
        allowed_tenants: c.list("entra_id_allowed_tenants"),
        graph_group_field: c.string("azure_graph_group_field").trim().to_string(),
        federated_token_file,
    };
    if !matches!(azure.graph_group_field.as_str(), "" | "id" | "displayName") {
        c.warn_about(
            "azure_graph_group_field",
            format!("{:?} is not id or displayName; group ids are used (oauth2-proxy asks Graph for that field and gets none)", azure.graph_group_field),
        );
    }
    let gitlab = GitlabOptions {
        groups: c.list("gitlab_groups"),
        projects: c.list("gitlab_projects"),
    };
    let keycloak = KeycloakOptions {
        groups: c.list("keycloak_groups"),
    };
    let allowed_roles = c.list("allowed_roles");
    let resource = resource_option(c, &kind);
    let bitbucket = bitbucket_options(c, &kind);
    let login_gov = login_gov_options(c, &kind);
    let adfs = adfs_options(c, &kind);
    let backend_logout_url = provider_opts::backend_logout_url(c);
    if !ok {
        return None;
    }
    Some(ProviderConfig {
        // Set by the caller: legacy `<kind>=<client_id>` or the alpha entry's id.
        id: String::new(),
        kind,
        allowed_groups: Vec::new(),
        display_name,
        client_id: client_id.unwrap_or_default(),
        client_secret: client_secret.unwrap_or_default(),
        oidc_issuer_url,
        login_url,
        redeem_url,
        profile_url,
        oidc_jwks_url,
        skip_oidc_discovery,
        scope,
        code_challenge_method,
        oidc_email_claim,
        oidc_groups_claim,
        user_id_claim,
        insecure_oidc_allow_unverified_email: c.boolean("insecure_oidc_allow_unverified_email"),
        insecure_oidc_skip_issuer_verification: c.boolean("insecure_oidc_skip_issuer_verification"),
        insecure_oidc_skip_nonce: c.boolean("insecure_oidc_skip_nonce"),
        oidc_extra_audiences: c.list("oidc_extra_audiences"),
        ssl_insecure_skip_verify: c.boolean("ssl_insecure_skip_verify"),
        provider_ca_files,
        prompt: c.opt_string("prompt"),
        approval_prompt,
        acr_values: c.opt_string("acr_values"),
        auth_request_response_mode: c.opt_string("auth_request_response_mode"),
        token_auth_method,
        validate_url,
        allowed_roles,
        github,
        google,
        azure,
        gitlab,
        keycloak,
        resource,
        bitbucket,
        login_gov,
        adfs,
        additional_claims: Vec::new(),
        skip_claims_from_profile_url: c.boolean("skip_claims_from_profile_url"),
        use_system_trust_store: c.boolean("use_system_trust_store"),
        oidc_audience_claims: verification.audience_claims,
        oidc_enabled_signing_algs: verification.enabled_signing_algs,
        oidc_public_key_files: verification.public_key_files,
        backend_logout_url,
    })
}

/// `login_url`, `redeem_url`, `profile_url`, `validate_url`, `oidc_jwks_url`: v7 parses them
/// with Go's `url.Parse` and refuses to start only when that fails. A value it parses that is
/// no absolute http(s) URL (`/auth`, `ftp://...`) starts there too, and is then replaced by the
/// discovered endpoint or breaks every sign-in; authproxy starts, ignores it and says so.
pub(crate) fn provider_url(c: &mut Ctx, key: &str) -> Option<url::Url> {
    let s = c.opt_string(key)?;
    if let Err(e) = super::redirect::go_url_parse(&s) {
        c.fail(key, format!("{s:?} is not a valid URL: {e}"));
        return None;
    }
    match super::http_url(&s) {
        Ok(u) => Some(u),
        Err(e) => {
            c.warn_about(
                key,
                format!("{e}; it is ignored (oauth2-proxy starts with it too, then uses the discovered endpoint instead or fails every sign-in)"),
            );
            None
        }
    }
}

/// `google_groups`, or the deprecated `google_group` when it is set and differs (oauth2-proxy
/// v7's rule, with its warning); only read for provider `google`, as v7 does.
fn google_groups(c: &mut Ctx, kind: &str) -> Vec<String> {
    let groups = c.list("google_groups");
    let legacy = c.list("google_group");
    if kind != "google" || legacy.is_empty() || legacy == groups {
        return groups;
    }
    c.warn("The 'OAUTH2_PROXY_GOOGLE_GROUP' environment variable (google_group) is deprecated; use 'OAUTH2_PROXY_GOOGLE_GROUPS' (google_groups) instead. google_group differs from google_groups and wins, as in oauth2-proxy");
    legacy
}

/// An option that only one provider type reads: set for another type, it is an error
/// rather than silently ignored.
pub(crate) fn only_for(c: &mut Ctx, key: &str, kind: &str, for_kind: &str) -> bool {
    let non_default = c.is_set(key)
        && options::by_key(key).is_some_and(|spec| c.value(key) != default_value(spec));
    if kind != for_kind && non_default {
        // v7 ignores another provider type's options (Helm charts and shared files set them).
        c.warn_about(
            key,
            format!("is ignored: it applies to provider {for_kind:?} only, not {kind:?} (oauth2-proxy ignores it too)"),
        );
        return false;
    }
    true
}

/// `resource`: adfs, the protected resource (a URL or URN) that prefixes the scope; azure,
/// the `resource` parameter of a v1 endpoint (a URL or an application ID).
pub(crate) fn resource_option(c: &mut Ctx, kind: &str) -> Option<String> {
    // v7 parses `resource` with Go's url.Parse for every provider type and refuses to start
    // when that fails, whichever type reads it.
    if let Some(r) = c.opt_string("resource") {
        if let Err(e) = super::redirect::go_url_parse(&r) {
            c.fail("resource", format!("{r:?} is not a valid URL: {e}"));
            return None;
        }
    }
    if kind == "azure" {
        let r = c.opt_string("resource")?;
        if r.chars().any(|ch| ch.is_whitespace()) {
            c.warn_about(
                "resource",
                format!("{r:?} contains spaces: Azure knows no such resource (oauth2-proxy sends it as configured too)"),
            );
        }
        return Some(r);
    }
    if kind != "adfs" && c.opt_string("resource").is_some() {
        // v7's default token request (the plain OAuth 2.0 types) adds `resource`; its OIDC,
        // entra-id, google and login.gov types never send it.
        let plain = !super::is_openid_connect(kind);
        c.warn_about(
            "resource",
            if plain {
                format!("is ignored: it applies to providers \"adfs\" and \"azure\" only; oauth2-proxy adds it to {kind:?}'s token request, authproxy does not")
            } else {
                format!("is ignored: it applies to providers \"adfs\" and \"azure\" only, not {kind:?} (oauth2-proxy ignores it too)")
            },
        );
        return None;
    }
    let r = c.opt_string("resource")?;
    if r.chars().any(|ch| ch.is_whitespace() || ch.is_control()) || !r.contains(':') {
        c.warn_about(
            "resource",
            format!("{r:?} is not a URL or URN (the relying party identifier ADFS expects); it is sent as configured"),
        );
    }
    Some(r)
}

/// `bitbucket_team`, `bitbucket_repository`.
pub(crate) fn bitbucket_options(c: &mut Ctx, kind: &str) -> BitbucketOptions {
    let mut o = BitbucketOptions::default();
    let applies =
        ["bitbucket_team", "bitbucket_repository"].map(|key| only_for(c, key, kind, "bitbucket"));
    if applies.contains(&false) {
        return o;
    }
    o.team = c.string("bitbucket_team").trim().to_string();
    o.repository = c.string("bitbucket_repository").trim().to_string();
    if !o.repository.is_empty() {
        let well_formed = o
            .repository
            .split_once('/')
            .is_some_and(|(ws, repo)| !ws.is_empty() && !repo.is_empty() && !repo.contains('/'));
        if !well_formed {
            c.warn_about(
                "bitbucket_repository",
                format!("{:?} is not workspace/repository: Bitbucket finds no such repository, so nobody passes the repository check", o.repository),
            );
        }
    }
    o
}

/// `jwt_key` / `jwt_key_file` (exactly one, required for login.gov) and `pubjwk_url`.
pub(crate) fn login_gov_options(c: &mut Ctx, kind: &str) -> LoginGovOptions {
    let mut o = LoginGovOptions::default();
    let applies =
        ["jwt_key", "jwt_key_file", "pubjwk_url"].map(|key| only_for(c, key, kind, "login.gov"));
    if applies.contains(&false) {
        return o;
    }
    if kind != "login.gov" {
        return o;
    }
    o.pubjwk_url = opt_url(c, "pubjwk_url");
    match (c.opt_string("jwt_key"), c.opt_string("jwt_key_file")) {
        (Some(_), Some(_)) => {
            // v7: "cannot set both jwt-key and jwt-key-file options".
            c.fail(
                "jwt_key_file",
                "cannot be set together with jwt_key: set one of them (oauth2-proxy refuses both too)",
            );
        }
        (Some(_), None) => o.jwt_key = Secret::new(c.string("jwt_key")),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(pem) => o.jwt_key = Secret::new(pem),
            Err(e) => c.fail("jwt_key_file", format!("cannot read {path}: {e}")),
        },
        (None, None) => c.errors.push(ConfigError::new(
            "jwt_key",
            "option `jwt_key` or `jwt_key_file` is required for provider \"login.gov\": the PEM RSA private key whose public key is registered with login.gov (env OAUTH2_PROXY_JWT_KEY, flag --jwt-key)",
        )),
    }
    o
}

/// `authproxy_adfs_skip_scope` (alpha `ADFSConfig.skipScope`).
pub(crate) fn adfs_options(c: &mut Ctx, kind: &str) -> AdfsOptions {
    if !only_for(c, "authproxy_adfs_skip_scope", kind, "adfs") {
        return AdfsOptions::default();
    }
    AdfsOptions {
        skip_scope: c.boolean("authproxy_adfs_skip_scope"),
    }
}

/// The scope a provider asks for when `scope` is not set (oauth2-proxy's defaults; GitHub
/// adds read:org so orgs and teams can become groups).
pub(crate) fn default_scope(kind: &str) -> &'static str {
    match kind {
        "github" => "user:email read:org",
        "gitlab" => "openid email",
        "cidaas" => "openid email profile roles groups",
        "bitbucket" => "email",
        "digitalocean" => "read",
        "facebook" => "public_profile email",
        "keycloak" => "api",
        "linkedin" => "r_emailaddress r_liteprofile",
        "login.gov" => "email openid",
        "nextcloud" => "",
        "sourcehut" => "meta.sr.ht/PROFILE:RO",
        _ => "openid email profile",
    }
}

/// The sign-in button's name when `provider_display_name` is not set.
pub(crate) fn default_display_name(kind: &str) -> &'static str {
    match kind {
        "github" => "GitHub",
        "google" => "Google",
        "entra-id" | "azure" => "Microsoft",
        "gitlab" => "GitLab",
        "keycloak-oidc" | "keycloak" => "Keycloak",
        "adfs" => "ADFS",
        "bitbucket" => "Bitbucket",
        "cidaas" => "CIDAAS",
        "digitalocean" => "DigitalOcean",
        "facebook" => "Facebook",
        "linkedin" => "LinkedIn",
        "login.gov" => "login.gov",
        "nextcloud" => "Nextcloud",
        "sourcehut" => "SourceHut",
        _ => "OpenID Connect",
    }
}

pub(crate) fn code_challenge_method(c: &mut Ctx) -> CodeChallengeMethod {
    // force_code_challenge_method is oauth2-proxy's deprecated spelling; the new one wins.
    let key = if !c.is_set("code_challenge_method")
        && c.opt_string("force_code_challenge_method").is_some()
    {
        "force_code_challenge_method"
    } else {
        "code_challenge_method"
    };
    match c.string(key).trim() {
        // Empty is oauth2-proxy's "no PKCE" default; authproxy's default is S256.
        "" | "S256" => CodeChallengeMethod::S256,
        "plain" => CodeChallengeMethod::Plain,
        "none" => CodeChallengeMethod::Disabled,
        other => {
            // v7 starts and then fails every sign-in ("unknown challenge method").
            c.warn_about(key, format!("{other:?} is not one of S256, plain, none; authproxy uses S256 (oauth2-proxy would fail every sign-in with it)"));
            CodeChallengeMethod::S256
        }
    }
}

pub(crate) fn client_secret(c: &mut Ctx) -> Option<Secret> {
    if let Some(s) = c.opt_string("client_secret") {
        return Some(Secret::new(s));
    }
    if let Some(path) = c.opt_string("client_secret_file") {
        return match std::fs::read_to_string(&path) {
            Ok(s) => {
                // Secret files are usually written with a trailing newline that no IdP
                // secret contains; dropping it avoids a confusing invalid_client.
                let s = s.strip_suffix('\n').unwrap_or(&s);
                let s = s.strip_suffix('\r').unwrap_or(s);
                if s.is_empty() {
                    c.warn_about(
                        "client_secret_file",
                        format!("file {path} is empty: the provider will refuse the empty client secret (oauth2-proxy starts with it too)"),
                    );
                }
                Some(Secret::new(s))
            }
            Err(e) => {
                c.fail("client_secret_file", format!("cannot read {path}: {e}"));
                None
            }
        };
    }
    c.errors.push(ConfigError::new(
        "client_secret",
        "option `client_secret` or `client_secret_file` is required (env OAUTH2_PROXY_CLIENT_SECRET, flag --client-secret)",
    ));
    None
}
