//! The one validated configuration.
//!
//! oauth2-proxy's three spellings of every option (TOML config file, `OAUTH2_PROXY_*`
//! environment variables and command-line flags) are read at the edge by `sources.rs`
//! into layers of raw values, merged by precedence (flags > env > file > defaults) and
//! compiled ONCE into [`Config`] by `build.rs`. The option table in [`options`] drives
//! all of it, `--help` and `docs/configuration.md`. Nothing after this module ever sees
//! a raw option string.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

mod alpha;
pub mod assertion;
mod build;
mod convert;
pub mod duration;
mod limits;
#[cfg(test)]
mod option_tests;
pub mod options;
pub mod policy;
pub mod redis;
mod skip;
mod sources;
pub mod structured;
#[cfg(test)]
mod tests;

use crate::crypto::CookieSecret;

pub use build::headers::LegacyHeaders;
pub use limits::LimitsConfig;
pub use skip::{RuleError, SkipConfig, SkipRoute};
pub use structured::{
    BindAddress, HeaderRule, ServerConfig, TlsConfig, Upstream, UpstreamConfig, UpstreamKind,
};

/// `SameSite` attribute of the proxy's cookies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// No attribute is written (oauth2-proxy's default `""`).
    Unset,
    Lax,
    Strict,
    None,
}

/// PKCE method used on the authorization request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeChallengeMethod {
    /// No PKCE (only when explicitly configured as `none`... never the default).
    Disabled,
    Plain,
    S256,
}

/// One identity provider: from the legacy flat options (`provider`, `client_id`, ...) or one
/// entry of the alpha config's `providers:` list.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// Stable id: the alpha entry's `id`, or oauth2-proxy's legacy `<provider>=<client_id>`.
    /// The sealed state and the session name their provider by it.
    pub id: String,
    /// `provider`: only `oidc` for now (others are a startup error naming them).
    pub kind: String,
    /// Alpha `allowedGroups`: this provider's users must be in one of these groups (on top of
    /// the global `allowed_groups`). Always empty for the legacy flat options, whose
    /// `allowed_groups` is global.
    pub allowed_groups: Vec<String>,
    /// `provider_display_name` (default derived from the kind, e.g. "OpenID Connect").
    pub display_name: String,
    pub client_id: String,
    /// Already read from `client_secret_file` when that was given.
    pub client_secret: crate::crypto::Secret,
    pub oidc_issuer_url: Option<url::Url>,
    /// `login_url`, `redeem_url`, `profile_url`, `validate_url`, `oidc_jwks_url`: overrides of discovery.
    pub login_url: Option<url::Url>,
    pub redeem_url: Option<url::Url>,
    pub profile_url: Option<url::Url>,
    pub oidc_jwks_url: Option<url::Url>,
    /// `skip_oidc_discovery`: then login/redeem/jwks URLs are required.
    pub skip_oidc_discovery: bool,
    /// `scope` (default "openid email profile").
    pub scope: String,
    pub code_challenge_method: CodeChallengeMethod,
    /// `oidc_email_claim` (default "email").
    pub oidc_email_claim: String,
    /// `oidc_groups_claim` (default "groups").
    pub oidc_groups_claim: String,
    /// `user_id_claim` (default "email", as in oauth2-proxy).
    pub user_id_claim: String,
    pub insecure_oidc_allow_unverified_email: bool,
    /// `insecure_oidc_skip_issuer_verification`.
    pub insecure_oidc_skip_issuer_verification: bool,
    /// `insecure_oidc_skip_nonce` (default true in oauth2-proxy; we default to false: nonce always checked).
    pub insecure_oidc_skip_nonce: bool,
    /// `oidc_extra_audiences`.
    pub oidc_extra_audiences: Vec<String>,
    /// `ssl_insecure_skip_verify`: TLS verification of provider endpoints disabled (warned at startup).
    pub ssl_insecure_skip_verify: bool,
    /// `provider_ca_files`: extra CA bundles (PEM) for the provider connection.
    pub provider_ca_files: Vec<PathBuf>,
    /// `approval_prompt` (default "force") / `prompt` (overrides approval_prompt when set).
    pub prompt: Option<String>,
    pub approval_prompt: String,
    /// `acr_values`.
    pub acr_values: Option<String>,
    /// `auth_request_response_mode`: the `response_mode` authorization parameter (`None`: not
    /// sent). Provider kinds that oauth2-proxy never sends it for ignore it.
    pub auth_request_response_mode: Option<String>,
    /// `authproxy_token_auth_method` (an authproxy extension; oauth2-proxy has no such option).
    /// `None`: pick from discovery (`token_endpoint_auth_methods_supported`), basic first.
    pub token_auth_method: Option<TokenAuthMethod>,
    /// `validate_url`: GitHub's API base (default `https://api.github.com/`; GitHub
    /// Enterprise: `https://HOST/api/v3/`).
    pub validate_url: Option<url::Url>,
    /// `allowed_roles` (keycloak-oidc): realm roles, or `client:role` client roles.
    pub allowed_roles: Vec<String>,
    /// Options of provider `github`.
    pub github: GithubOptions,
    /// Options of provider `google`.
    pub google: GoogleOptions,
    /// Options of providers `entra-id` and `azure`.
    pub azure: AzureOptions,
    /// Options of provider `gitlab`.
    pub gitlab: GitlabOptions,
    /// Options of providers `keycloak-oidc` and `keycloak`.
    pub keycloak: KeycloakOptions,
    /// `resource` (provider `adfs`): the protected resource (relying party identifier, a URL
    /// or a URN); it prefixes the scope.
    pub resource: Option<String>,
    /// Options of provider `bitbucket`.
    pub bitbucket: BitbucketOptions,
    /// Options of provider `login.gov`.
    pub login_gov: LoginGovOptions,
    /// Options of provider `adfs`.
    pub adfs: AdfsOptions,
    /// The claims kept in the session (`ac`) besides its own fields, read from the ID token,
    /// else the profile URL: the alpha `additionalClaims`, then every other claim a header
    /// rule reads (dot paths allowed, `organization.name`), each once.
    pub additional_claims: Vec<String>,
    /// `skip_claims_from_profile_url`: never ask the profile URL (userinfo) for claims.
    pub skip_claims_from_profile_url: bool,
    /// `use_system_trust_store`: with `provider_ca_files`, trust the system roots too.
    pub use_system_trust_store: bool,
    /// `oidc_audience_claims` (default `["aud"]`): the first of them present in a token must
    /// name `client_id` or an `oidc_extra_audiences` entry.
    pub oidc_audience_claims: Vec<String>,
    /// `oidc_enabled_signing_algs`, validated, without the algorithms authproxy never
    /// verifies with (HS*, ES512; a warning names them). Empty: every algorithm authproxy
    /// implements, narrowed by discovery.
    pub oidc_enabled_signing_algs: Vec<String>,
    /// `oidc_public_key_files` (with `skip_oidc_discovery`): PEM public keys instead of a JWKS.
    pub oidc_public_key_files: Vec<PathBuf>,
    /// `backend_logout_url`: GET on sign-out, `{id_token}` replaced by the session's ID token.
    pub backend_logout_url: Option<String>,
}

/// One trusted issuer as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The issuer URL (discovery is `{issuer}/.well-known/openid-configuration`).
    pub issuer: url::Url,
    /// Accepted `aud` values (at least one).
    pub audiences: Vec<String>,
}

/// The session claim (in `ac`) naming the provider a session was signed in with. oauth2-proxy
/// keeps `ac` as an opaque map, so its cookies stay readable by oauth2-proxy and vice versa.
pub const PROVIDER_CLAIM: &str = "authproxy.provider";

/// The provider kinds authproxy builds (`provider`, alpha `provider:`). The provider module
/// builds exactly these (a unit test there checks each one).
pub const PROVIDER_KINDS: &[&str] = &[
    "oidc",
    "github",
    "google",
    "entra-id",
    "azure",
    "gitlab",
    "keycloak-oidc",
    "adfs",
    "bitbucket",
    "cidaas",
    "digitalocean",
    "facebook",
    "keycloak",
    "linkedin",
    "login.gov",
    "nextcloud",
    "sourcehut",
];

/// Whether a provider type speaks OpenID Connect (its scope needs `openid`, it verifies ID
/// tokens). The others are plain OAuth 2.0 with a profile API.
pub fn is_openid_connect(kind: &str) -> bool {
    !matches!(
        kind,
        "github"
            | "bitbucket"
            | "digitalocean"
            | "facebook"
            | "keycloak"
            | "linkedin"
            | "nextcloud"
            | "sourcehut"
    )
}

/// `github_*` options.
#[derive(Clone, Debug, Default)]
pub struct GithubOptions {
    /// `github_org`.
    pub org: String,
    /// `github_team`: comma-separated team slugs of `github_org`, or `org:team`.
    pub team: String,
    /// `github_repo`: `owner/name`.
    pub repo: String,
    /// `github_token`: a token allowed to list the repo's collaborators.
    pub token: crate::crypto::Secret,
    /// `github_users`: logins allowed whatever their orgs, teams and repos.
    pub users: Vec<String>,
}

/// `google_*` options.
#[derive(Clone, Debug, Default)]
pub struct GoogleOptions {
    /// `google_group` / `google_groups`: group emails; members of any may sign in.
    pub groups: Vec<String>,
    /// `google_admin_email`: the Workspace admin the service account acts as.
    pub admin_email: String,
    /// `google_service_account_json`: the service account's JSON key file.
    pub service_account_json: Option<PathBuf>,
    /// The Workspace domains the `hd` claim must name: the exact domains of `email_domains`
    /// (empty: no hosted-domain check, e.g. `email_domains = ["*"]`).
    pub hosted_domains: Vec<String>,
    /// `authproxy_google_admin_api_url` (an authproxy extension): the Admin SDK base,
    /// default `https://admin.googleapis.com`.
    pub admin_api_url: Option<url::Url>,
    /// `google_use_organization_id`: the Directory user's organization ID becomes the
    /// preferred username.
    pub use_organization_id: bool,
    /// `google_admin_api_user_scope`: `cloud`, `user` or empty (read-only).
    pub admin_api_user_scope: String,
    /// `google_use_application_default_credentials`, with where they are found.
    pub application_default_credentials: Option<GoogleAdc>,
    /// `google_target_principal`: the service account ADC impersonate (empty: their own).
    pub target_principal: String,
}

/// Where Google's Application Default Credentials come from, as Google's client libraries
/// look for them: the file `GOOGLE_APPLICATION_CREDENTIALS` names, gcloud's
/// `$HOME/.config/gcloud/application_default_credentials.json`, else the metadata server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoogleAdc {
    /// The credentials file, when there is one.
    pub credentials_file: Option<PathBuf>,
    /// The metadata server host (`GCE_METADATA_HOST`, default `169.254.169.254`).
    pub metadata_host: String,
    /// `authproxy_google_iam_credentials_url` (default `https://iamcredentials.googleapis.com`).
    pub iam_credentials_url: Option<url::Url>,
    /// `authproxy_google_token_url` (default `https://oauth2.googleapis.com/token`).
    pub token_url: Option<url::Url>,
}

/// `azure_*` / `entra_id_*` options.
#[derive(Clone, Debug, Default)]
pub struct AzureOptions {
    /// `azure_tenant` (default `common`).
    pub tenant: String,
    /// `entra_id_allowed_tenants`: tenant IDs allowed with a multi-tenant issuer (`*` = any).
    pub allowed_tenants: Vec<String>,
    /// `azure_graph_group_field`: `id` (default) or `displayName`.
    pub graph_group_field: String,
    /// `entra_id_federated_token_auth` (entra-id): the file (`AZURE_FEDERATED_TOKEN_FILE`)
    /// whose token authenticates the client at the token endpoint, re-read at each use.
    pub federated_token_file: Option<PathBuf>,
}

/// `gitlab_*` options.
#[derive(Clone, Debug, Default)]
pub struct GitlabOptions {
    /// `gitlab_groups`: full group paths.
    pub groups: Vec<String>,
    /// `gitlab_projects`: `group/project` or `group/project=ACCESS_LEVEL` (default 20).
    pub projects: Vec<String>,
}

/// `keycloak_*` options.
#[derive(Clone, Debug, Default)]
pub struct KeycloakOptions {
    /// `keycloak_groups`.
    pub groups: Vec<String>,
}

/// `bitbucket_*` options.
#[derive(Clone, Debug, Default)]
pub struct BitbucketOptions {
    /// `bitbucket_team`: the workspace (slug) the user must be a member of.
    pub team: String,
    /// `bitbucket_repository`: `workspace/repo_slug` the user must be able to contribute to.
    pub repository: String,
}

/// Options of provider `login.gov`: `jwt_key` / `jwt_key_file`, `pubjwk_url`.
#[derive(Clone, Debug, Default)]
pub struct LoginGovOptions {
    /// The PEM RSA private key of `jwt_key`, or read from `jwt_key_file`.
    pub jwt_key: crate::crypto::Secret,
    /// `pubjwk_url`: login.gov's signing keys (JWKS).
    pub pubjwk_url: Option<url::Url>,
}

/// Options of provider `adfs` (alpha `ADFSConfig`).
#[derive(Clone, Debug, Default)]
pub struct AdfsOptions {
    /// `ADFSConfig.skipScope` / `authproxy_adfs_skip_scope`: no `scope` parameter on the
    /// authorization request.
    pub skip_scope: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

/// Logout at and from the identity provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogoutConfig {
    /// `oidc_backchannel_logout`: the back-channel logout endpoint is on.
    pub backchannel: bool,
    /// `oidc_rp_initiated_logout`: sign-out continues at the provider's end_session_endpoint.
    pub rp_initiated: bool,
}

/// Where sessions live (`session_store_type`).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum SessionStoreConfig {
    /// The whole session in the (encrypted, signed) cookie.
    #[default]
    Cookie,
    /// oauth2-proxy's Redis store: a ticket in the cookie, the session in Redis.
    Redis(Box<redis::RedisOptions>),
}

/// Cookie options.
#[derive(Clone, Debug)]
pub struct CookieConfig {
    /// `cookie_name` (default `_oauth2_proxy`).
    pub name: String,
    pub secret: CookieSecret,
    /// `cookie_previous_secrets` / `cookie_previous_secret_files` (authproxy): secrets of
    /// earlier rotations, still accepted for reading; nothing is sealed with them.
    pub previous_secrets: Vec<CookieSecret>,
    /// `cookie_domains`: sorted longest first is NOT done here; see `session::cookie::pick_domain`.
    pub domains: Vec<String>,
    /// `cookie_path` (default `/`).
    pub path: String,
    /// `cookie_expire` (default 168h). Zero means a session cookie (no Max-Age).
    pub expire: Duration,
    /// `cookie_refresh` (default 0 = off). Always < expire when non-zero.
    pub refresh: Duration,
    pub secure: bool,
    pub httponly: bool,
    pub samesite: SameSite,
    /// `cookie_csrf_per_request` (default false).
    pub csrf_per_request: bool,
    /// `cookie_csrf_expire` (default 15m).
    pub csrf_expire: Duration,
    /// `cookie_csrf_per_request_limit`: with `csrf_per_request`, older CSRF cookies kept when a
    /// login starts (0 = no limit).
    pub csrf_per_request_limit: usize,
    /// `cookie_csrf_samesite`: the CSRF cookie's SameSite; `None` = derived from `samesite`.
    pub csrf_samesite: Option<SameSite>,
    /// `session_cookie_minimal`: cookie sessions are stored without their tokens.
    pub minimal: bool,
}

/// Authorization rules.
#[derive(Clone, Debug, Default)]
pub struct AuthzConfig {
    /// `email_domains` (`*` = any). Empty means nobody (oauth2-proxy requires at least one).
    pub email_domains: Vec<String>,
    /// Emails from `authenticated_emails_file`, lower-cased.
    pub authenticated_emails: Option<std::collections::HashSet<String>>,
    pub authenticated_emails_file: Option<PathBuf>,
    /// `allowed_groups`.
    pub allowed_groups: Vec<String>,
}

/// Machine clients: bearer JWTs and htpasswd users (see docs/machine-clients.md).
#[derive(Clone, Debug, Default)]
pub struct MachineConfig {
    /// `skip_jwt_bearer_tokens`.
    pub skip_jwt_bearer_tokens: bool,
    /// `extra_jwt_issuers`, parsed (`issuer=audience`).
    pub extra_jwt_issuers: Vec<TrustedIssuer>,
    /// `bearer_token_login_fallback` (default true).
    pub bearer_token_login_fallback: bool,
    /// `htpasswd_file` (validated: readable, at least one usable entry).
    pub htpasswd_file: Option<PathBuf>,
    /// `htpasswd_user_groups`.
    pub htpasswd_user_groups: Vec<String>,
    /// `display_htpasswd_form` (only with `htpasswd_file`).
    pub display_htpasswd_form: bool,
}

/// Pages and templates.
#[derive(Clone, Debug, Default)]
pub struct PageConfig {
    pub custom_templates_dir: Option<PathBuf>,
    /// `banner`: "-" hides it.
    pub banner: Option<String>,
    /// `footer`: "-" hides it.
    pub footer: Option<String>,
    pub skip_provider_button: bool,
    /// `show_debug_on_error`.
    pub show_debug_on_error: bool,
    /// `custom_sign_in_logo`: path or URL or "-".
    pub custom_sign_in_logo: Option<String>,
}

/// Logging options.
#[derive(Clone, Debug)]
pub struct LoggingConfig {
    /// `logging_format`: "text" (default) or "json".
    pub json: bool,
    pub request_logging: bool,
    pub auth_logging: bool,
    pub standard_logging: bool,
    /// `silence_ping_logging`.
    pub silence_ping_logging: bool,
    /// `exclude_logging_paths`.
    pub exclude_logging_paths: Vec<String>,
    /// `standard_logging_format`, `auth_logging_format`, `request_logging_format` (text
    /// format only), parsed once.
    pub standard_format: crate::logformat::LogTemplate,
    pub auth_format: crate::logformat::LogTemplate,
    pub request_format: crate::logformat::LogTemplate,
    /// `errors_to_info_log`: error lines go to the main output instead of stderr.
    pub errors_to_info: bool,
    /// `logging_local_time` (default true): local time in timestamps (false: UTC).
    pub local_time: bool,
    /// `request_id_header` (default `X-Request-Id`), a valid header name.
    pub request_id_header: String,
    /// `logging_filename` and its rotation options; `None`: stdout.
    pub file: Option<LogFileConfig>,
}

/// `logging_filename` with oauth2-proxy's rotation options (lumberjack's semantics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFileConfig {
    pub path: PathBuf,
    /// `logging_max_size` in megabytes (0 means 100, as lumberjack).
    pub max_size_mb: u64,
    /// `logging_max_age` in days (0: no age limit).
    pub max_age_days: u64,
    /// `logging_max_backups` (0: keep all).
    pub max_backups: usize,
    /// `logging_compress`: gzip rotated files.
    pub compress: bool,
}

/// `signature_key`'s hash algorithm (those oauth2-proxy's binary offers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl SignatureAlgorithm {
    /// Every algorithm, by its `signature_key` name.
    pub const ALL: [(&'static str, SignatureAlgorithm); 6] = [
        ("md5", Self::Md5),
        ("sha1", Self::Sha1),
        ("sha224", Self::Sha224),
        ("sha256", Self::Sha256),
        ("sha384", Self::Sha384),
        ("sha512", Self::Sha512),
    ];

    /// The name in `signature_key` and in the `GAP-Signature` header.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("", |(n, _)| n)
    }
}

/// `signature_key` (deprecated in oauth2-proxy): sign requests to the app.
#[derive(Clone, Debug)]
pub struct SignatureConfig {
    pub algorithm: SignatureAlgorithm,
    pub key: crate::crypto::Secret,
    /// `signature_max_body_bytes` (authproxy extension): largest body read to sign it.
    pub max_body_bytes: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            json: false,
            request_logging: true,
            auth_logging: true,
            standard_logging: true,
            silence_ping_logging: false,
            exclude_logging_paths: Vec::new(),
            standard_format: crate::logformat::LogTemplate::default_for(
                crate::logformat::TemplateKind::Standard,
            ),
            auth_format: crate::logformat::LogTemplate::default_for(
                crate::logformat::TemplateKind::Auth,
            ),
            request_format: crate::logformat::LogTemplate::default_for(
                crate::logformat::TemplateKind::Request,
            ),
            errors_to_info: false,
            local_time: true,
            request_id_header: "X-Request-Id".into(),
            file: None,
        }
    }
}

/// The whole validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `server`: the plain HTTP and HTTPS listeners (`http_address`, `https_address` +
    /// `tls_*`, or the alpha file's `server`).
    pub server: ServerConfig,
    /// `grpc_ext_authz_address` (authproxy extension): where Envoy's gRPC ext_authz `Check`
    /// service listens; `None` (the default) serves no gRPC.
    pub grpc_ext_authz_address: Option<std::net::SocketAddr>,
    /// `metricsServer`: the `/metrics` listeners (`metrics_address`, `metrics_secure_address`
    /// + `metrics_tls_*`); none by default.
    pub metrics_server: ServerConfig,
    /// `proxy_prefix` (default `/oauth2`), no trailing slash.
    pub proxy_prefix: String,
    /// `ping_path` (default `/ping`), `ready_path` (default `/ready`).
    pub ping_path: String,
    pub ready_path: String,
    /// `ping_user_agent`: only meaningful on health-check paths (see [`crate::health`]).
    pub ping_user_agent: Option<String>,
    /// `gcp_healthchecks`: also answer Google's `/liveness_check` and `/readiness_check`.
    pub gcp_healthchecks: bool,
    /// `redirect_url`: absolute callback URL; `None` = derived from the request host + `{prefix}/callback`.
    pub redirect_url: Option<url::Url>,
    /// `redirect_url` given as a path other than `{prefix}/callback` (v7 accepts it): the
    /// callback URL is the request's scheme and host with this path.
    pub redirect_path: Option<String>,
    /// `relative_redirect_url`.
    pub relative_redirect_url: bool,
    /// `upstreamConfig` (or the legacy `upstreams` list and its per-upstream options).
    pub upstream_config: UpstreamConfig,
    /// `injectRequestHeaders` (or the legacy header switches, compiled as v7 does).
    pub inject_request_headers: Vec<HeaderRule>,
    /// `injectResponseHeaders`.
    pub inject_response_headers: Vec<HeaderRule>,
    /// `prefer_email_to_user`: also makes an htpasswd user name the session's email.
    pub prefer_email_to_user: bool,
    /// `reverse_proxy`: trust X-Forwarded-* / X-Real-IP from the client.
    pub reverse_proxy: bool,
    /// `real_client_ip_header` (default X-Real-IP).
    pub real_client_ip_header: String,
    /// `whitelist_domains`, verbatim entries (validated syntax).
    pub whitelist_domains: Vec<String>,
    /// Every configured provider, in configuration order (never empty): one from the legacy flat
    /// options, or the alpha config's `providers:` list. Every entry is usable.
    pub providers: Vec<ProviderConfig>,
    pub cookie: CookieConfig,
    pub authz: AuthzConfig,
    pub pages: PageConfig,
    pub logging: LoggingConfig,
    /// Bearer tokens and htpasswd users.
    pub machine: MachineConfig,
    /// `skip_auth_preflight`.
    pub skip_auth_preflight: bool,
    /// `trusted_proxy_ips` (authproxy extension, default loopback): forwarding headers are
    /// believed only from these peers, and only with `reverse_proxy`.
    pub trusted_proxy_ips: Vec<crate::net::Cidr>,
    /// `skip_auth_routes`, `skip_auth_regex`, `skip_auth_preflight`, `trusted_ips`,
    /// `api_routes`, compiled.
    pub skip: SkipConfig,
    /// `force_https`.
    pub force_https: bool,
    /// `encode_state`: accepted for compatibility; our state is always encrypted.
    pub encode_state: bool,
    /// The `--config` file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The `--alpha-config` file that was read, if any.
    pub alpha_config_file: Option<PathBuf>,
    /// Warnings found while reading the configuration (accepted values that are probably
    /// mistakes, oauth2-proxy behaviours authproxy does not copy); see [`Config::warnings`].
    pub load_warnings: Vec<String>,
    /// Listener and resource limits (authproxy extensions, see [`LimitsConfig`]).
    pub limits: LimitsConfig,
    /// `force_json_errors`: errors of protected requests (and every error page) as JSON.
    pub force_json_errors: bool,
    /// `allow_query_semicolons`: `;` separates query parameters like `&`.
    pub allow_query_semicolons: bool,
    /// `signature_key`: the GAP-Signature of requests to the app.
    pub signature: Option<SignatureConfig>,
    /// `session_store_type` and the `redis_*` options.
    pub session_store: SessionStoreConfig,
    /// The signed identity assertion (`identity_assertion_key_file` and co.; authproxy
    /// extension). `None`: no key, nothing signed, no JWKS.
    pub identity_assertion: Option<assertion::IdentityAssertionConfig>,
    /// The per-route policy (alpha `authproxyPolicy`, TOML `[authproxy_policy]`; authproxy
    /// extension). `None`: the global rules alone decide.
    pub policy: Option<policy::PolicyConfig>,
    /// Logout beyond authproxy's own cookies (authproxy extensions).
    pub logout: LogoutConfig,
    /// `otel_traces_enabled`, `otel_traces_record_user` (authproxy extensions).
    pub tracing: TracingConfig,
}

/// OpenTelemetry traces (docs/tracing.md). The exporter itself is configured by the standard
/// `OTEL_*` environment variables, read where traces are set up (`crate::otel`), not here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TracingConfig {
    /// `otel_traces_enabled`: create, propagate and export spans. Off: authproxy creates no
    /// trace context and passes client `traceparent` headers through like any other header.
    pub enabled: bool,
    /// `otel_traces_record_user`: the user's email as `enduser.id` on request spans.
    pub record_user: bool,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Serve with this configuration.
    Run(Box<Config>),
    /// `--check`: the configuration is valid; print a summary and exit 0.
    Check(Box<Config>),
    /// `--config-test` (oauth2-proxy v7.15's spelling of `--check`): the configuration is
    /// valid; print `configuration is valid` and exit 0.
    ConfigTest(Box<Config>),
    /// `--convert-config-to-alpha`: the alpha YAML equivalent of the legacy configuration
    /// (print `yaml` on stdout, `warnings` on stderr, exit 0).
    ConvertToAlpha { yaml: String, warnings: Vec<String> },
    /// `--help`: print this text and exit 0.
    Help(String),
    /// `--version`: print this text and exit 0.
    Version(String),
}

/// One configuration problem. `message` is a complete sentence naming the option and
/// where its value came from (file, environment variable or flag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The option (file key), flag or variable concerned.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every configuration problem found, in a stable order; Display prints one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The process environment, for [`load`]. The only place `config/` reads it.
pub fn process_env() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Load the configuration from `args` (without argv\[0\]) and `env`, with oauth2-proxy's
/// precedence: flags > `OAUTH2_PROXY_*` env > `--config FILE` > defaults. Reads the files
/// the configuration names (config file, secrets, emails file). Returns every error found.
pub fn load(args: &[OsString], env: &HashMap<String, String>) -> Result<Command, ConfigErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let (flags, request) = sources::read_flags(args, &mut errors, &mut warnings);
    if request.help {
        return Ok(Command::Help(options::help_text()));
    }
    if request.version {
        return Ok(Command::Version(format!(
            "authproxy {} (oauth2-proxy v7 compatible configuration)",
            env!("CARGO_PKG_VERSION")
        )));
    }
    if request.convert_to_alpha {
        // oauth2-proxy's refusals, word for word.
        let other = if request.alpha_config.is_some() {
            Some("alpha-config")
        } else if request.config_test {
            Some("config-test")
        } else if request.check {
            Some("check")
        } else {
            None
        };
        if let Some(other) = other {
            return Err(ConfigErrors(vec![ConfigError::new(
                "convert-config-to-alpha",
                format!("cannot use {other} and convert-config-to-alpha together"),
            )]));
        }
    }
    let env_layer = sources::read_env(env, &mut warnings);
    let config_file = request.config;
    let file_layer = match &config_file {
        Some(path) => sources::read_file(path, &mut errors, &mut warnings),
        None => sources::Layer::new(),
    };
    // The `[authproxy_policy]` table of the TOML file (authproxy extension).
    let toml_policy = config_file
        .as_ref()
        .and_then(|path| sources::policy_table(path, &mut errors));
    let mut layers = vec![file_layer, env_layer, flags];
    if request.convert_to_alpha {
        let mut ctx = build::Ctx::new(layers, errors);
        ctx.warnings.splice(0..0, warnings);
        return convert::convert(ctx)
            .map(|(yaml, warnings)| Command::ConvertToAlpha { yaml, warnings });
    }
    let alpha = request.alpha_config.as_ref().map(|path| {
        let alpha = alpha::read_alpha(path, env, &mut errors);
        let mut legacy = sources::Layer::new();
        for l in &layers {
            legacy.extend(l.clone());
        }
        for key in alpha::conflicts(&alpha, &legacy, &mut errors, &mut warnings) {
            for l in &mut layers {
                l.remove(key);
            }
        }
        warnings.extend(alpha.warnings.iter().cloned());
        alpha
    });
    let mut ctx = build::Ctx::new(layers, errors);
    // Reader warnings first (in the order the sources were read), then the typing ones.
    ctx.warnings.splice(0..0, warnings);
    ctx.env = std::sync::Arc::new(env.clone());
    let policy = match (toml_policy, alpha.as_ref().and_then(|a| a.policy.clone())) {
        (Some(t), Some(a)) => {
            ctx.errors.push(ConfigError::new(
                "authproxy_policy",
                format!(
                    "a policy is written twice: in {} and in {}; keep one",
                    t.origin, a.origin
                ),
            ));
            None
        }
        (t, a) => t.or(a),
    };
    let config = build::build(ctx, config_file, alpha, policy)?;
    Ok(if request.config_test {
        Command::ConfigTest(Box::new(config))
    } else if request.check {
        Command::Check(Box::new(config))
    } else {
        Command::Run(Box::new(config))
    })
}

impl Config {
    /// Insecure or surprising settings worth a warning at startup (one sentence each).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.load_warnings.clone();
        // With several providers, each provider's warning names it.
        let many = self.providers.len() > 1;
        for p in &self.providers {
            let label = if many {
                format!("provider {:?}: ", p.id)
            } else {
                String::new()
            };
            let flags = [
                (p.ssl_insecure_skip_verify, "ssl_insecure_skip_verify is on: the provider's TLS certificate is not verified"),
                (p.insecure_oidc_allow_unverified_email, "insecure_oidc_allow_unverified_email is on: unverified email addresses are accepted"),
                (p.insecure_oidc_skip_issuer_verification, "insecure_oidc_skip_issuer_verification is on: the discovered issuer is not checked"),
                (p.insecure_oidc_skip_nonce, "insecure_oidc_skip_nonce is on: ID token nonces are not checked (replay protection off)"),
                (p.code_challenge_method == CodeChallengeMethod::Disabled, "code_challenge_method is none: PKCE is off"),
                (p.code_challenge_method == CodeChallengeMethod::Plain, "code_challenge_method is plain: prefer S256"),
                (p.oidc_issuer_url.as_ref().is_some_and(|u| u.scheme() == "http"), "oidc_issuer_url uses plain http"),
            ];
            w.extend(
                flags
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, m)| format!("{label}{m}")),
            );
        }
        let flags = [
            (!self.cookie.secure, "cookie_secure is false: session cookies are sent over plain HTTP"),
            (self.upstream_config.upstreams.iter().any(|u| u.insecure_skip_tls_verify), "ssl_upstream_insecure_skip_verify (insecureSkipTLSVerify) is on: HTTPS upstream certificates are not verified"),
            (self.pages.show_debug_on_error, "show_debug_on_error is on: error pages show internal details"),
        ];
        w.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, m)| m.to_string()),
        );
        if let (Some(BindAddress::Tcp(a)), Some(_)) = (&self.server.bind_address, &self.server.tls)
        {
            if !a.ip().is_loopback() {
                w.push(format!("http_address {a} serves plain HTTP next to the HTTPS listener (oauth2-proxy v7 would not listen on http_address with TLS configured); set http_address = \"-\" for HTTPS only"));
            }
        }
        if self.redirect_url.is_none() && !self.cookie.secure && !self.reverse_proxy {
            w.push("no redirect_url: the callback URL is derived from the request and will use plain http".into());
        }
        if let Some(u) = &self.redirect_url {
            let want = format!("{}/callback", self.proxy_prefix);
            if u.path() != want {
                w.push(format!("redirect_url path {:?} is not this proxy's callback endpoint {want:?}; make sure it routes to one", u.path()));
            }
        }
        for p in &self.providers {
            let tenant = match &p.oidc_issuer_url {
                Some(u) => u.path_segments().and_then(|mut s| s.next()).unwrap_or(""),
                None => p.azure.tenant.as_str(),
            };
            if matches!(p.kind.as_str(), "entra-id" | "azure")
                && matches!(tenant, "" | "common" | "organizations")
                && p.azure.allowed_tenants.is_empty()
            {
                w.push(format!("provider {:?}: azure_tenant is multi-tenant and entra_id_allowed_tenants is empty: users of any Entra tenant can sign in", p.id));
            }
        }
        if self.authz.email_domains.iter().any(|d| d == "*")
            && self.authz.allowed_groups.is_empty()
            && self.providers.iter().any(|p| p.allowed_groups.is_empty())
        {
            w.push("email_domains = [\"*\"] with no allowed_groups: anyone the provider signs in is allowed".into());
        }
        w
    }
}
