//! The one option table: every oauth2-proxy v7 legacy option (file key, flag, env var,
//! default) and whether authproxy implements it. `--help`, `docs/configuration.md`,
//! the three readers and the "not supported yet" check are all driven from it.

use std::fmt::Write as _;

/// How an option's value is typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Str,
    /// Repeated flag / TOML array / comma-separated env value.
    List,
    /// Go duration syntax (`168h`, `1h30m`).
    Duration,
    Int,
}

/// Whether authproxy implements an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Implemented.
    Yes,
    /// Accepted and validated, but it has no effect in authproxy; the reason is documented.
    Inert(&'static str),
    /// An oauth2-proxy option authproxy does not implement yet: a startup error
    /// unless set to its default value.
    No,
}

/// One row of the option table.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// Config-file key (oauth2-proxy's `cfg` tag).
    pub key: &'static str,
    /// Command-line flag without the leading `--` (`None`: no flag, as in oauth2-proxy).
    pub flag: Option<&'static str>,
    pub kind: Kind,
    /// The default, written as a user would write it.
    pub default: &'static str,
    pub support: Support,
    /// Section for `--help` and the docs.
    pub section: Section,
    /// One line.
    pub help: &'static str,
}

/// Groups in `--help` and the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Server,
    Provider,
    Cookie,
    Authorization,
    Headers,
    Upstreams,
    Limits,
    Pages,
    Logging,
    Sessions,
    OtherProviders,
    Tracing,
}

impl Section {
    fn title(self) -> &'static str {
        match self {
            Section::Server => "Server and endpoints",
            Section::Provider => "OpenID Connect provider",
            Section::Cookie => "Cookies",
            Section::Authorization => "Authorization",
            Section::Headers => "Identity headers",
            Section::Upstreams => "Upstreams",
            Section::Limits => "Listener and resource limits",
            Section::Pages => "Pages",
            Section::Logging => "Logging",
            Section::Sessions => "Session storage",
            Section::OtherProviders => "Other providers",
            Section::Tracing => "OpenTelemetry traces",
        }
    }
}

impl OptionSpec {
    /// The `OAUTH2_PROXY_*` variable: the file key upper-cased (viper's rule), with `-`
    /// turned into `_` so that every variable can be set from a shell.
    pub fn env(&self) -> String {
        let mut s = String::from("OAUTH2_PROXY_");
        for c in self.key.chars() {
            s.push(if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            });
        }
        s
    }

    /// `--flag` spelling for messages.
    pub fn flag_spelling(&self) -> String {
        match self.flag {
            Some(f) => format!("--{f}"),
            None => "(no flag)".into(),
        }
    }
}

use Kind::{Bool, Duration as Dur, Int, List, Str};
use Section as S;
use Support::{Inert, Yes};

const fn o(
    key: &'static str,
    flag: &'static str,
    kind: Kind,
    default: &'static str,
    support: Support,
    section: Section,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        key,
        flag: Some(flag),
        kind,
        default,
        support,
        section,
        help,
    }
}

/// Every option, in documentation order.
pub static OPTIONS: &[OptionSpec] = &[
    // Server and endpoints
    o("http_address", "http-address", Str, "127.0.0.1:4180", Yes, S::Server, "[http://]<addr>:<port> to listen on for HTTP clients, unix://<path>[,mode=0660] for a Unix socket (removed on shutdown), or fd:<n> for a socket passed by systemd socket activation (fd:3 is the first)"),
    o("grpc_ext_authz_address", "grpc-ext-authz-address", Str, "", Yes, S::Server, "authproxy extension: <ip>:<port> for Envoy's gRPC ext_authz Check service (plaintext HTTP/2); empty: off"),
    o("proxy_prefix", "proxy-prefix", Str, "/oauth2", Yes, S::Server, "URL path prefix of the proxy's own endpoints (sign_in, start, callback, ...)"),
    o("ping_path", "ping-path", Str, "/ping", Yes, S::Server, "liveness endpoint"),
    o("ping_user_agent", "ping-user-agent", Str, "", Yes, S::Server, "with gcp_healthchecks, this User-Agent is also answered on the GCP health paths; a User-Agent never turns another path into a health check"),
    o("ready_path", "ready-path", Str, "/ready", Yes, S::Server, "readiness endpoint (fails until OIDC discovery succeeded)"),
    o("redirect_url", "redirect-url", Str, "", Yes, S::Server, "absolute OAuth callback URL, e.g. https://auth.example.com/oauth2/callback; empty: derived from the request host"),
    o("relative_redirect_url", "relative-redirect-url", Bool, "false", Yes, S::Server, "send a relative callback URL derived from the request"),
    o("reverse_proxy", "reverse-proxy", Bool, "false", Yes, S::Server, "trust X-Forwarded-*, X-Original-URL and the real-client-IP header, from peers in trusted_proxy_ips only"),
    o("real_client_ip_header", "real-client-ip-header", Str, "X-Real-IP", Yes, S::Server, "header with the client IP when reverse_proxy is on (X-Forwarded-For, X-Real-IP, X-ProxyUser-IP, X-Envoy-External-Address, CF-Connecting-IP)"),
    o("force_https", "force-https", Bool, "false", Yes, S::Server, "redirect plain HTTP requests to HTTPS"),
    o("skip_auth_preflight", "skip-auth-preflight", Bool, "false", Yes, S::Server, "let CORS preflight (OPTIONS) requests through without authentication"),
    o("encode_state", "encode-state", Bool, "false", Yes, S::Server, "accepted for compatibility: authproxy's state is always encrypted and URL-safe"),
    o("https_address", "https-address", Str, ":443", Yes, S::Server, "[https://]<addr>:<port> of the HTTPS listener (used when tls_cert_file and tls_key_file are set)"),
    o("tls_cert_file", "tls-cert-file", Str, "", Yes, S::Server, "PEM certificate chain for the HTTPS listener (HTTP/2 and HTTP/1.1 via ALPN)"),
    o("tls_key_file", "tls-key-file", Str, "", Yes, S::Server, "PEM private key (PKCS#8, PKCS#1 or SEC1) for the HTTPS listener"),
    o("tls_min_version", "tls-min-version", Str, "", Yes, S::Server, "minimal TLS version of the HTTPS listener: TLS1.2 (default) or TLS1.3"),
    o("tls_cipher_suites", "tls-cipher-suite", List, "", Yes, S::Server, "TLS cipher suites of the HTTPS listener (Go names, as oauth2-proxy takes them; suites rustls cannot offer are skipped with a warning)"),
    o("metrics_address", "metrics-address", Str, "", Yes, S::Server, "[http://]<addr>:<port> (or unix://<path>[,mode=…], or fd:<n>) of a separate listener serving Prometheus metrics at /metrics; empty: no metrics listener"),
    o("metrics_secure_address", "metrics-secure-address", Str, "", Yes, S::Server, "[https://]<addr>:<port> of an HTTPS listener for /metrics (needs metrics_tls_cert_file and metrics_tls_key_file)"),
    o("metrics_tls_cert_file", "metrics-tls-cert-file", Str, "", Yes, S::Server, "PEM certificate chain for the metrics HTTPS listener"),
    o("metrics_tls_key_file", "metrics-tls-key-file", Str, "", Yes, S::Server, "PEM private key for the metrics HTTPS listener"),
    o("trusted_ips", "trusted-ip", List, "", Yes, S::Server, "client IPs or CIDR networks that skip authentication (the client IP is read from forwarding headers only from trusted_proxy_ips)"),
    o("trusted_proxy_ips", "trusted-proxy-ip", List, "127.0.0.0/8,::1", Yes, S::Server, "authproxy extension: peers (IPs or CIDRs) whose X-Forwarded-*, X-Original-URL and real-client-IP headers are believed when reverse_proxy is on"),
    o("gcp_healthchecks", "gcp-healthchecks", Bool, "false", Yes, S::Server, "answer Google Cloud load balancer health checks: /liveness_check and /readiness_check with User-Agent GoogleHC/1.0 (deprecated in oauth2-proxy)"),
    o("skip_auth_regex", "skip-auth-regex", List, "", Yes, S::Server, "legacy: path regexes that skip authentication (any method); see skip_auth_routes"),
    o("skip_auth_routes", "skip-auth-route", List, "", Yes, S::Server, "METHOD=regex, METHOD!=regex or regex: requests that skip authentication; matched on the normalized path only (docs/forward-auth.md)"),
    o("api_routes", "api-route", List, "", Yes, S::Server, "path regexes whose unauthenticated requests get 401 JSON instead of the sign-in page"),
    o("skip_jwt_bearer_tokens", "skip-jwt-bearer-tokens", Bool, "false", Yes, S::Server, "authenticate requests carrying Authorization: Bearer <JWT> issued by the provider (audience client_id or oidc_extra_audiences) or an extra_jwt_issuers entry"),
    o("extra_jwt_issuers", "extra-jwt-issuers", List, "", Yes, S::Server, "more trusted bearer-token issuers as issuer=audience (keys found by OIDC discovery); needs skip_jwt_bearer_tokens"),
    o("bearer_token_login_fallback", "bearer-token-login-fallback", Bool, "true", Yes, S::Server, "when a bearer token is invalid, a valid session cookie may still authenticate the request; false refuses the request (401) whatever the cookie"),
    o("force_json_errors", "force-json-errors", Bool, "false", Yes, S::Server, "answer errors with JSON: 401 instead of the sign-in page or the redirect to the provider, 403 when access is denied, and every error page"),
    o("allow_query_semicolons", "allow-query-semicolons", Bool, "false", Yes, S::Server, "';' separates query parameters like '&' (Go's AllowQuerySemicolons), also in the query sent to the app; off (as in oauth2-proxy): a parameter containing ';' is ignored, the sign_in, start, callback and sign_out endpoints and the sign-in page refuse such a query (and a bad %-escape) with 400 (oauth2-proxy: 500), and the app gets the query as sent"),
    o("signature_key", "signature-key", Str, "", Yes, S::Server, "deprecated (as in oauth2-proxy): ALGORITHM:SECRET (md5, sha1, sha224, sha256, sha384, sha512): requests to http(s) and unix-socket upstreams carry GAP-Auth (the user's email, else user; empty without a session) and GAP-Signature, oauth2-proxy's HMAC of the request as the app receives it; an empty SECRET is refused (oauth2-proxy accepts it)"),
    // Provider
    o("provider", "provider", Str, "google", Yes, S::Provider, "provider type: oidc, adfs, azure, bitbucket, cidaas, digitalocean, entra-id, facebook, github, gitlab, google, keycloak, keycloak-oidc, linkedin, login.gov, nextcloud or sourcehut (see docs/providers.md)"),
    o("provider_display_name", "provider-display-name", Str, "", Yes, S::Provider, "provider name on the sign-in button (default from the provider type, e.g. \"GitHub\", \"OpenID Connect\")"),
    o("client_id", "client-id", Str, "", Yes, S::Provider, "OAuth client ID (required)"),
    o("client_secret", "client-secret", Str, "", Yes, S::Provider, "OAuth client secret (this or client_secret_file is required)"),
    o("client_secret_file", "client-secret-file", Str, "", Yes, S::Provider, "file holding the client secret (one trailing newline is removed)"),
    o("oidc_issuer_url", "oidc-issuer-url", Str, "", Yes, S::Provider, "OpenID Connect issuer URL (required unless skip_oidc_discovery)"),
    o("skip_oidc_discovery", "skip-oidc-discovery", Bool, "false", Yes, S::Provider, "skip discovery; then login_url, redeem_url and oidc_jwks_url are required"),
    o("oidc_jwks_url", "oidc-jwks-url", Str, "", Yes, S::Provider, "JWKS URL (overrides discovery)"),
    o("login_url", "login-url", Str, "", Yes, S::Provider, "authorization endpoint (overrides discovery or the provider type's default)"),
    o("redeem_url", "redeem-url", Str, "", Yes, S::Provider, "token endpoint (overrides discovery or the provider type's default)"),
    o("profile_url", "profile-url", Str, "", Yes, S::Provider, "userinfo endpoint, or the profile API of a plain OAuth 2.0 provider type (overrides discovery or the default)"),
    o("scope", "scope", Str, "", Yes, S::Provider, "OAuth scope (empty: the provider type's default: \"openid email profile\"; github \"user:email read:org\"; gitlab \"openid email\"; others in docs/providers.md)"),
    o("prompt", "prompt", Str, "", Yes, S::Provider, "OIDC prompt parameter (overrides approval_prompt)"),
    o("approval_prompt", "approval-prompt", Str, "force", Yes, S::Provider, "OAuth approval_prompt, sent as prompt when prompt is empty (\"force\" means consent)"),
    o("acr_values", "acr-values", Str, "", Yes, S::Provider, "acr_values parameter"),
    o("code_challenge_method", "code-challenge-method", Str, "S256", Yes, S::Provider, "PKCE method: S256, plain, or none to disable (authproxy default S256; an empty value means the default)"),
    o("force_code_challenge_method", "force-code-challenge-method", Str, "", Yes, S::Provider, "deprecated alias of code_challenge_method"),
    o("oidc_email_claim", "oidc-email-claim", Str, "email", Yes, S::Provider, "claim holding the email"),
    o("oidc_groups_claim", "oidc-groups-claim", Str, "groups", Yes, S::Provider, "claim holding the groups"),
    o("user_id_claim", "user-id-claim", Str, "email", Yes, S::Provider, "claim used as the user ID (deprecated in oauth2-proxy for oidc_email_claim)"),
    o("oidc_extra_audiences", "oidc-extra-audience", List, "", Yes, S::Provider, "extra audiences accepted in ID tokens"),
    o("insecure_oidc_allow_unverified_email", "insecure-oidc-allow-unverified-email", Bool, "false", Yes, S::Provider, "accept emails whose email_verified claim is false"),
    o("insecure_oidc_skip_issuer_verification", "insecure-oidc-skip-issuer-verification", Bool, "false", Yes, S::Provider, "do not check that the discovered issuer matches oidc_issuer_url"),
    o("insecure_oidc_skip_nonce", "insecure-oidc-skip-nonce", Bool, "false", Yes, S::Provider, "do not check the ID token nonce (authproxy default false; oauth2-proxy's is true)"),
    o("ssl_insecure_skip_verify", "ssl-insecure-skip-verify", Bool, "false", Yes, S::Provider, "do not verify the provider's TLS certificate (insecure)"),
    o("provider_ca_files", "provider-ca-file", List, "", Yes, S::Provider, "PEM CA bundles trusted for the provider connection"),
    o("authproxy_token_auth_method", "authproxy-token-auth-method", Str, "", Yes, S::Provider, "authproxy extension: client_secret_basic or client_secret_post (empty: from discovery, basic first)"),
    o("use_system_trust_store", "use-system-trust-store", Bool, "false", Yes, S::Provider, "with provider_ca_files: trust the system's CA certificates too (without it the CA files replace them)"),
    o("oidc_audience_claims", "oidc-audience-claim", List, "aud", Yes, S::Provider, "claims whose value must name client_id or an oidc_extra_audiences entry; the first of them present in a token is checked"),
    o("oidc_enabled_signing_algs", "oidc-enabled-signing-alg", List, "", Yes, S::Provider, "ID token signing algorithms accepted (intersected with discovery's): RS256/384/512, PS256/384/512, ES256/384, EdDSA; HS256/384/512 and ES512 are accepted as values but never verify a token (a warning says so)"),
    o("oidc_public_key_files", "oidc-public-key-file", List, "", Yes, S::Provider, "with skip_oidc_discovery: PEM public keys (PUBLIC KEY, RSA/EC P-256/P-384/Ed25519) that verify ID tokens instead of oidc_jwks_url"),
    o("skip_claims_from_profile_url", "skip-claims-from-profile-url", Bool, "false", Yes, S::Provider, "never ask the profile URL (userinfo) for claims the ID token lacks"),
    o("validate_url", "validate-url", Str, "", Yes, S::Provider, "github: the API base (default https://api.github.com/; GitHub Enterprise https://HOST/api/v3/, Gitea/Forgejo https://HOST/api/v1/); plain OAuth 2.0 types and login.gov: the URL that re-validates the access token at cookie_refresh"),
    o("resource", "resource", Str, "", Yes, S::Provider, "adfs: protected resource (relying party identifier); prefixes the scope as RESOURCE/openid ...; azure: the resource parameter of the authorization and token requests (v1 endpoints only, as oauth2-proxy)"),
    o("auth_request_response_mode", "auth-request-response-mode", Str, "", Yes, S::Provider, "response_mode parameter of the authorization request (e.g. form_post: the provider POSTs the code to the callback); not sent for adfs, azure and login.gov, as in oauth2-proxy; empty: not sent"),
    o("backend_logout_url", "backend-logout-url", Str, "", Yes, S::Provider, "URL the proxy GETs itself on sign-out (a provider's logout endpoint); {id_token} is replaced by the session's ID token"),
    o("allowed_roles", "allowed-role", List, "", Yes, S::Provider, "keycloak-oidc: realm roles (NAME) or client roles (CLIENT:NAME) allowed to sign in"),
    // Other providers
    o("keycloak_groups", "keycloak-group", List, "", Yes, S::OtherProviders, "keycloak-oidc and keycloak: groups allowed to sign in"),
    o("azure_tenant", "azure-tenant", Str, "common", Yes, S::OtherProviders, "entra-id/azure: tenant ID, or common/organizations for multi-tenant apps"),
    o("azure_graph_group_field", "azure-graph-group-field", Str, "", Yes, S::OtherProviders, "entra-id/azure: group field read from Microsoft Graph on groups overage: id (default) or displayName"),
    o("entra_id_allowed_tenants", "entra-id-allowed-tenant", List, "", Yes, S::OtherProviders, "entra-id/azure: tenant IDs allowed with a multi-tenant issuer (empty or *: any)"),
    o("entra_id_federated_token_auth", "entra-id-federated-token-auth", Bool, "false", Yes, S::OtherProviders, "entra-id: authenticate at the token endpoint with the workload identity token in the file AZURE_FEDERATED_TOKEN_FILE names (a client assertion) instead of a client secret"),
    o("bitbucket_team", "bitbucket-team", Str, "", Yes, S::OtherProviders, "bitbucket: workspace (slug) the user must be a member of (Bitbucket turned teams into workspaces)"),
    o("bitbucket_repository", "bitbucket-repository", Str, "", Yes, S::OtherProviders, "bitbucket: workspace/repository the user must be able to contribute to"),
    o("github_org", "github-org", Str, "", Yes, S::OtherProviders, "github: organisation the user must belong to"),
    o("github_team", "github-team", Str, "", Yes, S::OtherProviders, "github: comma-separated team slugs of github_org, or org:team; membership in any one"),
    o("github_repo", "github-repo", Str, "", Yes, S::OtherProviders, "github: owner/name the user must be able to access (collaborator with github_token)"),
    o("github_token", "github-token", Str, "", Yes, S::OtherProviders, "github: token used to check github_repo collaborators"),
    o("github_users", "github-user", List, "", Yes, S::OtherProviders, "github: logins allowed whatever their org, team or repo"),
    o("gitlab_groups", "gitlab-group", List, "", Yes, S::OtherProviders, "gitlab: group paths allowed to sign in"),
    o("gitlab_projects", "gitlab-project", List, "", Yes, S::OtherProviders, "gitlab: group/project[=ACCESS_LEVEL] (default 20) allowed to sign in"),
    o("google_groups", "google-group", List, "", Yes, S::OtherProviders, "google: group emails allowed to sign in (needs google_admin_email and google_service_account_json)"),
    OptionSpec { key: "google_group", flag: None, kind: List, default: "", support: Yes, section: S::OtherProviders, help: "google: deprecated spelling of google_groups (--google-group sets both); when set and different from google_groups it wins, with a warning, as in oauth2-proxy" },
    o("google_admin_email", "google-admin-email", Str, "", Yes, S::OtherProviders, "google: Workspace admin the service account acts as for the Directory API"),
    o("google_service_account_json", "google-service-account-json", Str, "", Yes, S::OtherProviders, "google: service-account JSON key file (domain-wide delegation)"),
    o("authproxy_google_admin_api_url", "authproxy-google-admin-api-url", Str, "", Yes, S::OtherProviders, "authproxy extension: Admin SDK base URL (default https://admin.googleapis.com)"),
    o("google_use_application_default_credentials", "google-use-application-default-credentials", Bool, "false", Yes, S::OtherProviders, "google: Admin SDK calls with Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's file or the GCE metadata server) impersonating google_target_principal, instead of google_service_account_json"),
    o("google_target_principal", "google-target-principal", Str, "", Yes, S::OtherProviders, "google: service account the Application Default Credentials impersonate (empty: the credentials' own service account)"),
    o("google_use_organization_id", "google-use-organization-id", Bool, "false", Yes, S::OtherProviders, "google: the user's organization ID (Directory users.get, externalIds type organization) becomes the preferred username"),
    o("google_admin_api_user_scope", "google-admin-api-user-scope", Str, "", Yes, S::OtherProviders, "google: scope for users.get with google_use_organization_id: cloud, user, or empty for admin.directory.user.readonly"),
    o("authproxy_google_iam_credentials_url", "authproxy-google-iam-credentials-url", Str, "", Yes, S::OtherProviders, "authproxy extension: IAM Credentials API base used with Application Default Credentials (default https://iamcredentials.googleapis.com)"),
    o("authproxy_google_token_url", "authproxy-google-token-url", Str, "", Yes, S::OtherProviders, "authproxy extension: Google OAuth 2.0 token endpoint that trades the impersonated service account's signed JWT (default https://oauth2.googleapis.com/token)"),
    o("jwt_key", "jwt-key", Str, "", Yes, S::OtherProviders, "login.gov: PEM RSA private key that signs the client assertion (private_key_jwt, RFC 7523); this or jwt_key_file is required"),
    o("jwt_key_file", "jwt-key-file", Str, "", Yes, S::OtherProviders, "login.gov: file holding the PEM RSA private key (instead of jwt_key)"),
    o("pubjwk_url", "pubjwk-url", Str, "", Yes, S::OtherProviders, "login.gov: JWKS URL of login.gov's ID token signing keys (default https://secure.login.gov/api/openid_connect/certs)"),
    o("authproxy_adfs_skip_scope", "authproxy-adfs-skip-scope", Bool, "false", Yes, S::OtherProviders, "authproxy extension (alpha ADFSConfig.skipScope): adfs: send no scope parameter (the ADFS application group decides the scopes)"),
    // Cookies
    o("cookie_name", "cookie-name", Str, "_oauth2_proxy", Yes, S::Cookie, "session cookie name (chunks get _0, _1, ...; the CSRF cookie gets _csrf)"),
    o("cookie_secret", "cookie-secret", Str, "", Yes, S::Cookie, "16, 24 or 32 bytes, or their base64 (standard or URL-safe): openssl rand -base64 32 | tr -- '+/' '-_'"),
    o("cookie_secret_file", "cookie-secret-file", Str, "", Yes, S::Cookie, "file holding the cookie secret (raw bytes, as oauth2-proxy: no trailing newline)"),
    o("cookie_previous_secrets", "cookie-previous-secret", List, "", Yes, S::Cookie, "authproxy extension: cookie secrets of earlier rotations, still accepted for reading (session, CSRF and state cookies, Redis tickets); everything written is sealed with cookie_secret"),
    o("cookie_previous_secret_files", "cookie-previous-secret-file", List, "", Yes, S::Cookie, "authproxy extension: files holding previous cookie secrets (raw bytes, like cookie_secret_file), e.g. a second key of a Kubernetes Secret"),
    o("cookie_domains", "cookie-domain", List, "", Yes, S::Cookie, "cookie domains; the longest one matching the request host is used"),
    o("cookie_path", "cookie-path", Str, "/", Yes, S::Cookie, "cookie path"),
    o("cookie_expire", "cookie-expire", Dur, "168h", Yes, S::Cookie, "session lifetime; 0 makes a browser-session cookie"),
    o("cookie_refresh", "cookie-refresh", Dur, "0", Yes, S::Cookie, "refresh the session with the refresh token after this age; 0 disables"),
    o("cookie_secure", "cookie-secure", Bool, "true", Yes, S::Cookie, "Secure cookie attribute"),
    o("cookie_httponly", "cookie-httponly", Bool, "true", Yes, S::Cookie, "HttpOnly cookie attribute"),
    o("cookie_samesite", "cookie-samesite", Str, "", Yes, S::Cookie, "SameSite attribute: lax, strict, none, or empty for none written"),
    o("cookie_csrf_per_request", "cookie-csrf-per-request", Bool, "false", Yes, S::Cookie, "one CSRF cookie per login attempt (parallel logins in several tabs)"),
    o("cookie_csrf_expire", "cookie-csrf-expire", Dur, "15m", Yes, S::Cookie, "lifetime of the CSRF (login transaction) cookie"),
    o("cookie_csrf_per_request_limit", "cookie-csrf-per-request-limit", Int, "0", Yes, S::Cookie, "with cookie_csrf_per_request: when a login starts and the browser has more CSRF cookies than this, the oldest are expired down to this many; 0: no limit"),
    o("cookie_csrf_samesite", "cookie-csrf-samesite", Str, "", Yes, S::Cookie, "SameSite attribute of the CSRF cookie: lax, strict, none, or empty for cookie_samesite's (none is needed with auth_request_response_mode = form_post, and is refused without cookie_secure, which oauth2-proxy accepts)"),
    // Session storage
    o("session_store_type", "session-store-type", Str, "cookie", Yes, S::Sessions, "where sessions live: cookie (encrypted in the browser) or redis (in Redis, the browser holds a ticket; shared with oauth2-proxy replicas)"),
    o("session_cookie_minimal", "session-cookie-minimal", Bool, "false", Yes, S::Sessions, "cookie sessions without the access, ID and refresh tokens (smaller cookies); refused with headers that need a token and with cookie_refresh"),
    o("redis_connection_url", "redis-connection-url", Str, "", Yes, S::Sessions, "redis://[user[:password]@]host[:port][/db][?options] (rediss:// for TLS, unix:///path); go-redis URL options as oauth2-proxy reads them"),
    o("redis_username", "redis-username", Str, "", Yes, S::Sessions, "Redis ACL user name (replaces the one in the URL)"),
    o("redis_password", "redis-password", Str, "", Yes, S::Sessions, "Redis password (replaces the one in the URL)"),
    o("redis_use_sentinel", "redis-use-sentinel", Bool, "false", Yes, S::Sessions, "connect through Redis Sentinel (redis_sentinel_master_name, redis_sentinel_connection_urls)"),
    o("redis_sentinel_password", "redis-sentinel-password", Str, "", Yes, S::Sessions, "password of the Sentinels themselves"),
    o("redis_sentinel_master_name", "redis-sentinel-master-name", Str, "", Yes, S::Sessions, "the Sentinel master group name"),
    o("redis_sentinel_connection_urls", "redis-sentinel-connection-urls", List, "", Yes, S::Sessions, "Sentinel URLs (redis://host:port; credentials and rediss:// of the last one apply to the master)"),
    o("redis_use_cluster", "redis-use-cluster", Bool, "false", Yes, S::Sessions, "connect to a Redis Cluster (redis_cluster_connection_urls)"),
    o("redis_cluster_connection_urls", "redis-cluster-connection-urls", List, "", Yes, S::Sessions, "Redis Cluster node URLs"),
    o("redis_ca_path", "redis-ca-path", Str, "", Yes, S::Sessions, "PEM CA certificates trusted for Redis TLS, on top of the system store (turns TLS on)"),
    o("redis_insecure_skip_tls_verify", "redis-insecure-skip-tls-verify", Bool, "false", Yes, S::Sessions, "do not verify the Redis server certificate (insecure; turns TLS on)"),
    o("redis_connection_idle_timeout", "redis-connection-idle-timeout", Int, "0", Yes, S::Sessions, "seconds after which idle Redis connections are checked (0: the client default)"),
    o("oidc_backchannel_logout", "oidc-backchannel-logout", Bool, "false", Yes, S::Sessions, "authproxy extension: accept OpenID Connect Back-Channel Logout tokens at <proxy_prefix>/backchannel-logout and end the user's sessions on every replica (needs session_store_type = redis; docs/redis-sessions.md)"),
    o("oidc_rp_initiated_logout", "oidc-rp-initiated-logout", Bool, "false", Yes, S::Sessions, "authproxy extension: sign_out also ends the session at the provider (OpenID Connect RP-Initiated Logout): the browser goes to its end_session_endpoint with id_token_hint, client_id and post_logout_redirect_uri = the validated rd, which must be registered there"),
    // Authorization
    o("email_domains", "email-domain", List, "", Yes, S::Authorization, "allowed email domains; * allows any (this or authenticated_emails_file is required)"),
    o("authenticated_emails_file", "authenticated-emails-file", Str, "", Yes, S::Authorization, "file of allowed emails, one per line (# comments allowed)"),
    o("allowed_groups", "allowed-group", List, "", Yes, S::Authorization, "only members of one of these groups may sign in"),
    o("whitelist_domains", "whitelist-domain", List, "", Yes, S::Authorization, "hosts allowed as redirect targets after login/logout: example.com, .example.com or *.example.com, optional :port or :*"),
    o("htpasswd_file", "htpasswd-file", Str, "", Yes, S::Authorization, "users for HTTP basic auth and the sign-in form (bcrypt $2y$/$2a$/$2b$ or {SHA} entries; re-read when it changes)"),
    o("htpasswd_user_groups", "htpasswd-user-group", List, "", Yes, S::Authorization, "groups given to htpasswd users (checked by allowed_groups)"),
    // Identity headers
    o("pass_user_headers", "pass-user-headers", Bool, "true", Yes, S::Headers, "X-Forwarded-User, -Email, -Groups, -Preferred-Username to the app"),
    o("pass_basic_auth", "pass-basic-auth", Bool, "true", Yes, S::Headers, "send the X-Forwarded-User/-Email/-Groups/-Preferred-Username headers, and with basic_auth_password an Authorization: Basic header, to the app"),
    o("pass_access_token", "pass-access-token", Bool, "false", Yes, S::Headers, "X-Forwarded-Access-Token to the app (and X-Auth-Request-Access-Token with set_xauthrequest)"),
    o("pass_authorization_header", "pass-authorization-header", Bool, "false", Yes, S::Headers, "Authorization: Bearer <id_token> to the app"),
    o("set_authorization_header", "set-authorization-header", Bool, "false", Yes, S::Headers, "Authorization: Bearer <id_token> on auth endpoint responses"),
    o("set_xauthrequest", "set-xauthrequest", Bool, "false", Yes, S::Headers, "X-Auth-Request-User, -Email, -Preferred-Username to the app and on auth endpoint responses"),
    o("prefer_email_to_user", "prefer-email-to-user", Bool, "false", Yes, S::Headers, "send the email as the user name"),
    o("pass_host_header", "pass-host-header", Bool, "true", Yes, S::Headers, "keep the client's Host header on proxied requests"),
    o("basic_auth_password", "basic-auth-password", Str, "", Yes, S::Headers, "password of the Authorization: Basic <user>:<password> header (pass_basic_auth to the app, set_basic_auth on auth responses)"),
    o("set_basic_auth", "set-basic-auth", Bool, "false", Yes, S::Headers, "Authorization: Basic <user>:<basic_auth_password> on /oauth2/auth responses"),
    o("skip_auth_strip_headers", "skip-auth-strip-headers", Bool, "true", Yes, S::Headers, "strip client-sent identity headers, also on skipped requests (always on: false is refused)"),
    o("pass_identity_assertion", "pass-identity-assertion", Bool, "false", Yes, S::Headers, "authproxy extension: send the app a signed identity assertion (a short-lived JWT it can verify, docs/identity-assertion.md) in identity_assertion_header, also on /oauth2/auth and ext_authz answers; needs identity_assertion_key_file"),
    o("identity_assertion_header", "identity-assertion-header", Str, "X-Authproxy-Jwt-Assertion", Yes, S::Headers, "authproxy extension: the header pass_identity_assertion sets"),
    o("identity_assertion_key_file", "identity-assertion-key-file", Str, "", Yes, S::Headers, "authproxy extension: PEM private key that signs identity assertions (EC P-256 for ES256, RSA 2048+ for RS256), e.g. a Kubernetes Secret mount; further key blocks in the file are published, not used to sign. Never generated for you"),
    o("identity_assertion_previous_key_files", "identity-assertion-previous-key-file", List, "", Yes, S::Headers, "authproxy extension: retired keys (private or PUBLIC KEY PEM) still published at {proxy_prefix}/jwks.json, so assertions they signed keep verifying during a rotation"),
    o("identity_assertion_algorithm", "identity-assertion-algorithm", Str, "ES256", Yes, S::Headers, "authproxy extension: ES256 or RS256 (must match the signing key)"),
    o("identity_assertion_lifetime", "identity-assertion-lifetime", Dur, "5m", Yes, S::Headers, "authproxy extension: validity of an assertion (exp - iat), 10s to 1h; a session reuses its assertion for a fifth of it"),
    o("identity_assertion_issuer", "identity-assertion-issuer", Str, "", Yes, S::Headers, "authproxy extension: the assertions' iss (the proxy's public URL); empty: redirect_url's scheme://host, else the request's"),
    // Upstreams
    o("upstreams", "upstream", List, "", Yes, S::Upstreams, "http(s)://host:port/path, h2c://host:port/path (authproxy extension: cleartext HTTP/2), unix:///socket, static://CODE or file:///dir#/path; routed by path"),
    o("upstream_timeout", "upstream-timeout", Dur, "30s", Yes, S::Upstreams, "maximum wait for the app's response headers"),
    o("upstream_connect_timeout", "upstream-connect-timeout", Dur, "10s", Yes, S::Upstreams, "authproxy extension: maximum time to open a TCP connection to the app (at most upstream_timeout, which bounds the whole wait for the response headers)"),
    o("ssl_upstream_insecure_skip_verify", "ssl-upstream-insecure-skip-verify", Bool, "false", Yes, S::Upstreams, "do not verify HTTPS upstream certificates (insecure)"),
    o("flush_interval", "flush-interval", Dur, "1s", Inert("authproxy forwards streamed response data as soon as it arrives"), S::Upstreams, "streaming flush period"),
    o("disable_keep_alives", "disable-keep-alives", Bool, "false", Yes, S::Upstreams, "open a new connection to the app for every request"),
    o("proxy_websockets", "proxy-websockets", Bool, "true", Yes, S::Upstreams, "proxy WebSocket (Upgrade) requests; false sends them to the app as plain requests"),
    // Listener and resource limits (authproxy extensions: oauth2-proxy has no such options; docs/limits.md)
    o("max_connections", "max-connections", Int, "4096", Yes, S::Limits, "authproxy extension: client connections served at once on the HTTP, HTTPS and gRPC listeners together; more wait in the listen queue. When not set, lowered at startup to what the file-descriptor limit allows (two per connection)"),
    o("max_request_header_bytes", "max-request-header-bytes", Int, "65536", Yes, S::Limits, "authproxy extension: largest request line plus headers (HTTP/1.1) or header list (HTTP/2), in bytes; larger requests get 431"),
    o("header_read_timeout", "header-read-timeout", Dur, "60s", Yes, S::Limits, "authproxy extension: time a client has to send a complete request head, counted from the connection's start or the first byte of the request (nginx client_header_timeout)"),
    o("idle_connection_timeout", "idle-connection-timeout", Dur, "75s", Yes, S::Limits, "authproxy extension: a keep-alive connection with no request in progress is closed after this (nginx keepalive_timeout)"),
    o("http2_max_concurrent_streams", "http2-max-concurrent-streams", Int, "128", Yes, S::Limits, "authproxy extension: HTTP/2 streams (requests) a client may have open at once on one connection; more are refused with REFUSED_STREAM"),
    o("http2_max_pending_reset_streams", "http2-max-pending-reset-streams", Int, "20", Yes, S::Limits, "authproxy extension: HTTP/2 rapid-reset guard: streams a client may open and cancel before they are served; above it the connection is closed (GOAWAY ENHANCE_YOUR_CALM)"),
    o("http2_max_local_reset_streams", "http2-max-local-reset-streams", Int, "1024", Yes, S::Limits, "authproxy extension: HTTP/2 streams the proxy may reset for a client's protocol errors on one connection before closing it (GOAWAY ENHANCE_YOUR_CALM)"),
    o("max_endpoint_body_bytes", "max-endpoint-body-bytes", Int, "65536", Yes, S::Limits, "authproxy extension: largest request body the proxy's own endpoints (proxy_prefix) read, e.g. the sign-in form; larger gets 413. Proxied requests are not limited"),
    o("htpasswd_max_concurrent_checks", "htpasswd-max-concurrent-checks", Int, "0", Yes, S::Limits, "authproxy extension: htpasswd password checks (bcrypt) running at once; 0: half the available CPUs, at least 1"),
    o("htpasswd_queue_timeout", "htpasswd-queue-timeout", Dur, "1s", Yes, S::Limits, "authproxy extension: how long a basic-auth or sign-in form login waits for a free check before it gets 503 with Retry-After"),
    o("signature_max_body_bytes", "signature-max-body-bytes", Int, "10485760", Yes, S::Limits, "authproxy extension: with signature_key, the largest request body the proxy reads to sign it (oauth2-proxy reads any size into memory); larger gets 413"),
    o("log_queue_lines", "log-queue-lines", Int, "16384", Yes, S::Limits, "authproxy extension: log lines queued for stdout; when stdout is slower, further lines are dropped and counted (authproxy_log_lines_dropped_total), requests never wait"),
    // Pages
    o("skip_provider_button", "skip-provider-button", Bool, "false", Yes, S::Pages, "go straight to the provider instead of showing the sign-in page"),
    o("custom_templates_dir", "custom-templates-dir", Str, "", Yes, S::Pages, "directory with sign_in.html and/or error.html overrides"),
    o("banner", "banner", Str, "", Yes, S::Pages, "sign-in page banner; - hides it"),
    o("footer", "footer", Str, "", Yes, S::Pages, "page footer; - hides it"),
    o("custom_sign_in_logo", "custom-sign-in-logo", Str, "", Yes, S::Pages, "sign-in logo: path or URL; - hides it"),
    o("show_debug_on_error", "show-debug-on-error", Bool, "false", Yes, S::Pages, "show error details on error pages (never in production)"),
    o("display_htpasswd_form", "display-htpasswd-form", Bool, "true", Yes, S::Pages, "show the username/password form on the sign-in page when htpasswd_file is set"),
    // Logging
    o("logging_format", "logging-format", Str, "text", Yes, S::Logging, "authproxy extension: text or json"),
    o("request_logging", "request-logging", Bool, "true", Yes, S::Logging, "one log line per request"),
    o("auth_logging", "auth-logging", Bool, "true", Yes, S::Logging, "one log line per authentication event"),
    o("standard_logging", "standard-logging", Bool, "true", Yes, S::Logging, "startup and runtime messages"),
    o("silence_ping_logging", "silence-ping-logging", Bool, "false", Yes, S::Logging, "do not log ping requests"),
    o("exclude_logging_paths", "exclude-logging-path", List, "", Yes, S::Logging, "paths whose requests are not logged"),
    o("request_logging_format", "request-logging-format", Str, "{{.Client}} - {{.RequestID}} - {{.Username}} [{{.Timestamp}}] {{.Host}} {{.RequestMethod}} {{.Upstream}} {{.RequestURI}} {{.Protocol}} {{.UserAgent}} {{.StatusCode}} {{.ResponseSize}} {{.RequestDuration}}", Yes, S::Logging, "request log line template (text format): {{.Field}} references only"),
    o("auth_logging_format", "auth-logging-format", Str, "{{.Client}} - {{.RequestID}} - {{.Username}} [{{.Timestamp}}] [{{.Status}}] {{.Message}}", Yes, S::Logging, "authentication log line template (text format): {{.Field}} references only"),
    o("standard_logging_format", "standard-logging-format", Str, "[{{.Timestamp}}] [{{.File}}] {{.Message}}", Yes, S::Logging, "standard log line template (text format): {{.Field}} references only"),
    o("errors_to_info_log", "errors-to-info-log", Bool, "false", Yes, S::Logging, "error lines go where the other lines go (stdout or logging_filename) instead of stderr"),
    o("request_id_header", "request-id-header", Str, "X-Request-Id", Yes, S::Logging, "request header whose value is the request id ({{.RequestID}} in log lines, shown on error pages); absent: a random UUID"),
    o("logging_filename", "logging-filename", Str, "", Yes, S::Logging, "write the log lines to this file instead of stdout (created 0600 at startup; its directory must exist), rotated as oauth2-proxy rotates it"),
    o("logging_local_time", "logging-local-time", Bool, "true", Yes, S::Logging, "local time in log timestamps and rotated file names; false: UTC"),
    o("logging_max_size", "logging-max-size", Int, "100", Yes, S::Logging, "with logging_filename: megabytes after which the file is renamed to NAME-<time>.EXT and a new one started (0: 100)"),
    o("logging_max_age", "logging-max-age", Int, "7", Yes, S::Logging, "with logging_filename: days a rotated file is kept (by the time in its name); 0: no age limit"),
    o("logging_max_backups", "logging-max-backups", Int, "0", Yes, S::Logging, "with logging_filename: rotated files kept, newest first; 0: all (within logging_max_age)"),
    o("logging_compress", "logging-compress", Bool, "false", Yes, S::Logging, "with logging_filename: gzip rotated files (NAME-<time>.EXT.gz)"),
    // OpenTelemetry traces (authproxy extensions; docs/tracing.md)
    o("otel_traces_enabled", "otel-traces-enabled", Bool, "false", Yes, S::Tracing, "authproxy extension: OpenTelemetry traces: spans for each request and its identity-provider, Redis and upstream calls, exported over OTLP as the standard OTEL_* environment variables say; W3C traceparent believed only from trusted_proxy_ips with reverse_proxy, and sent to the app (docs/tracing.md)"),
    o("otel_traces_record_user", "otel-traces-record-user", Bool, "false", Yes, S::Tracing, "authproxy extension: put the signed-in user's email on request spans (enduser.id); off: no span names a user"),
];

/// Flags that are not options: (flag, help).
pub static META_FLAGS: &[(&str, &str)] = &[
    (
        "config",
        "oauth2-proxy TOML config file (also OAUTH2_PROXY_CONFIG)",
    ),
    (
        "check",
        "validate the configuration, print a summary and exit",
    ),
    (
        "alpha-config",
        "oauth2-proxy alpha YAML config: providers list (several providers), upstreamConfig, injectRequestHeaders/injectResponseHeaders, server",
    ),
    ("help", "print this help (also -h)"),
    ("version", "print the version"),
];

/// oauth2-proxy flags that select its other configuration formats.
pub static UNSUPPORTED_META_FLAGS: &[&str] = &["convert-config-to-alpha"];

/// Find an option by file key (case-insensitive, as viper is).
pub fn by_key(key: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.key.eq_ignore_ascii_case(key))
}

/// Find an option by flag name (without dashes).
pub fn by_flag(flag: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.flag == Some(flag))
}

/// Find an option by environment variable name.
pub fn by_env(var: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.env() == var)
}

/// The closest name among `candidates` to `input`, when close enough to be a typo
/// (also matching the singular/plural and `-`/`_` mix-ups oauth2-proxy users make).
pub fn suggest<'a>(input: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let want = norm(input);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let have = norm(c);
        let d = if have == want || have.trim_end_matches('s') == want.trim_end_matches('s') {
            0
        } else {
            levenshtein(&want, &have)
        };
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    let limit = (want.len() / 4).clamp(1, 3);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn value_hint(kind: Kind) -> &'static str {
    match kind {
        Bool => "",
        Str => " <string>",
        List => " <value>...",
        Dur => " <duration>",
        Int => " <int>",
    }
}

fn default_display(o: &OptionSpec) -> String {
    if o.default.is_empty() {
        match o.kind {
            List => "(none)".into(),
            _ => "\"\"".into(),
        }
    } else {
        o.default.to_string()
    }
}

/// `--help` text.
pub fn help_text() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "authproxy {}: OAuth2 / OpenID Connect authenticating reverse proxy, configured like oauth2-proxy v7.\n\n\
         Usage: authproxy [--config FILE] [--OPTION[=VALUE]]...\n       authproxy demo\n\n\
         Precedence: flags > OAUTH2_PROXY_* environment variables > --config FILE (TOML) > defaults.\n\
         List options: repeat the flag, use a TOML array, or separate values with commas.\n\
         Durations use Go syntax: 168h, 1h30m, 15m, 30s, 500ms. Booleans: --flag, --flag=true|false.\n",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out, "General:");
    for (flag, help) in META_FLAGS {
        let _ = writeln!(out, "  --{flag:<38} {help}");
    }
    let mut section = None;
    for o in OPTIONS.iter().filter(|o| o.support == Support::Yes) {
        if section != Some(o.section) {
            section = Some(o.section);
            let _ = writeln!(out, "\n{}:", o.section.title());
        }
        let lhs = format!("{}{}", o.flag_spelling(), value_hint(o.kind));
        let _ = writeln!(out, "  {lhs:<40} {}", o.help);
        let _ = writeln!(
            out,
            "  {:<40} [file: {}] [env: {}] [default: {}]",
            "",
            o.key,
            o.env(),
            default_display(o)
        );
    }
    let _ = writeln!(
        out,
        "\nAccepted, no effect in authproxy: {}",
        OPTIONS
            .iter()
            .filter(|o| matches!(o.support, Support::Inert(_)))
            .map(|o| o.key)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "\noauth2-proxy options not supported yet (a startup error unless set to their default):\n  {}",
        wrap(
            &OPTIONS
                .iter()
                .filter(|o| o.support == Support::No)
                .map(|o| o.key)
                .collect::<Vec<_>>(),
            96
        )
        .join("\n  ")
    );
    let _ = writeln!(out, "\nReference: docs/configuration.md");
    out
}

fn wrap(words: &[&str], width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for w in words {
        let Some(line) = lines.last_mut() else { break };
        if !line.is_empty() && line.len() + w.len() + 2 > width {
            lines.push(String::new());
        }
        if let Some(line) = lines.last_mut() {
            if !line.is_empty() {
                line.push_str(", ");
            }
            line.push_str(w);
        }
    }
    lines
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('*', "\\*")
}

/// The configuration reference (`docs/configuration.md`), generated from [`OPTIONS`].
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Configuration reference\n\n\
         <!-- Generated from src/config/options.rs by `AUTHPROXY_BLESS_DOCS=1 cargo test --lib config`; do not edit by hand. -->\n\n\
         authproxy reads oauth2-proxy v7's legacy configuration: the same TOML file keys, `OAUTH2_PROXY_*`\n\
         environment variables and command-line flags. Precedence: flags > environment > `--config FILE` > defaults.\n\n\
         * **Lists**: repeat the flag (`--email-domain a.com --email-domain b.com`), use a TOML array\n  \
         (`email_domains = [\"a.com\", \"b.com\"]`), or separate values with commas (`OAUTH2_PROXY_EMAIL_DOMAINS=a.com,b.com`).\n\
         * **Booleans**: `--flag`, `--flag=true|false` (`--flag false` is `--flag` followed by an ignored argument, as\n  \
         in oauth2-proxy); in the environment and the file Go's spellings `true`/`false`/`1`/`0`/`t`/`f`/`TRUE`/`FALSE`.\n\
         * **Durations**: Go syntax: `168h`, `1h30m`, `1.5h`, `15m`, `30s`, `500ms`, `0`. A bare number other than 0 is an error.\n\
         * An empty environment variable counts as unset (as in oauth2-proxy). Kubernetes service-link variables\n  \
         (`OAUTH2_PROXY_SERVICE_HOST`, `OAUTH2_PROXY_PORT...`) are ignored.\n\
         * Unknown file keys and flags are errors; an unknown `OAUTH2_PROXY_*` variable is ignored with a warning\n  \
         suggesting the right name. oauth2-proxy options that authproxy does not support yet are errors when set to\n  \
         anything but their default, so a config that spells out defaults still runs.\n\
         * Every error is reported at once, each naming the option and where it came from.\n\n\
         Differences from oauth2-proxy's defaults: `code_challenge_method` defaults to `S256` (PKCE on; `none` disables it),\n\
         `insecure_oidc_skip_nonce` defaults to `false`. `cookie_secret` also accepts standard base64 (`+`, `/`), so\n\
         `openssl rand -base64 32` works.\n\n\
         General flags: `--config FILE` (or `OAUTH2_PROXY_CONFIG`), `--check` or `--config-test` (validate and exit),\n\
         `--convert-config-to-alpha` (print the alpha YAML equivalent of the legacy configuration), `--help`, `--version`.\n",
    );
    let mut section = None;
    for o in OPTIONS.iter().filter(|o| o.support == Support::Yes) {
        if section != Some(o.section) {
            section = Some(o.section);
            let _ = write!(
                out,
                "\n## {}\n\n| File key | Environment variable | Flag | Default | Meaning |\n|---|---|---|---|---|\n",
                o.section.title()
            );
        }
        let _ = writeln!(
            out,
            "| `{}` | `{}` | `{}` | `{}` | {} |",
            o.key,
            o.env(),
            o.flag_spelling(),
            md_escape(&default_display(o)),
            md_escape(o.help)
        );
    }
    out.push_str(
        "\n## Accepted without effect\n\n| File key | Environment variable | Flag | Default | Why |\n|---|---|---|---|---|\n",
    );
    for o in OPTIONS.iter() {
        if let Support::Inert(why) = o.support {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | `{}` | `{}` | {} |",
                o.key,
                o.env(),
                o.flag_spelling(),
                md_escape(&default_display(o)),
                md_escape(why)
            );
        }
    }
    let unsupported: Vec<&OptionSpec> = OPTIONS
        .iter()
        .filter(|o| o.support == Support::No)
        .collect();
    if unsupported.is_empty() {
        out.push_str(
            "\n## oauth2-proxy options not supported\n\n\
             None: every option of oauth2-proxy v7.15.3 is implemented (the list above, and the \
             providers in docs/providers.md).\n",
        );
    } else {
        out.push_str(
            "\n## oauth2-proxy options not supported yet\n\n\
             Setting one of these to anything but its default is a startup error naming it.\n\n\
             | File key | Environment variable | Flag | Default |\n|---|---|---|---|\n",
        );
    }
    for o in unsupported {
        let shown = if o.default.len() > 40 {
            "oauth2-proxy's template".to_string()
        } else {
            md_escape(&default_display(o))
        };
        let _ = writeln!(
            out,
            "| `{}` | `{}` | `{}` | `{}` |",
            o.key,
            o.env(),
            o.flag_spelling(),
            shown
        );
    }
    out.push_str(include_str!("differences.md"));
    out
}
