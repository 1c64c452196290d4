//! The one validated configuration.
//!
//! oauth2-proxy's three spellings of every option (TOML config file, `OAUTH2_PROXY_*`
//! environment variables and command-line flags) are read at the edge by `file.rs`,
//! `env.rs` and `flags.rs` into one [`RawOptions`] map, merged by precedence
//! (flags > env > file > defaults) and compiled ONCE into [`Config`]. Nothing after
//! this module ever sees a raw option string.

use std::path::PathBuf;
use std::time::Duration;

use crate::crypto::CookieSecret;

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

/// One `upstreams` entry, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamTarget {
    /// `http://host:port/path` or `https://...`: proxied. `path` is the
    /// routing prefix (the URL's path, `/` when absent).
    Http { url: url::Url, path: String },
    /// `static://CODE` (default 200): answers with that status and a short body.
    Static { code: u16, path: String },
    /// `file:///dir#/mount`: serves files from `dir` under `mount` (default `/`).
    File { dir: PathBuf, path: String },
}

/// The provider section (single-provider legacy options).
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// `provider`: only `oidc` for now (others are a startup error naming them).
    pub kind: String,
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
    /// `user_id_claim` / `oidc_user_id_claim` (default "email" as in oauth2-proxy... see docs).
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
    /// `client_secret_post` vs basic: `token_endpoint_auth_method`? oauth2-proxy has no option; we pick
    /// from discovery (`token_endpoint_auth_methods_supported`), basic first.
    /// Kept as a field for tests and for an explicit override via `authproxy_token_auth_method`.
    pub token_auth_method: Option<TokenAuthMethod>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

/// Cookie options.
#[derive(Clone, Debug)]
pub struct CookieConfig {
    /// `cookie_name` (default `_oauth2_proxy`).
    pub name: String,
    pub secret: CookieSecret,
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
}

/// Which identity headers go where.
#[derive(Clone, Debug, Default)]
pub struct HeaderConfig {
    /// `pass_basic_auth` is not supported in this release (startup error when true).
    pub pass_user_headers: bool,
    pub pass_access_token: bool,
    /// `pass_authorization_header`: `Authorization: Bearer <id_token>` to the app.
    pub pass_authorization_header: bool,
    /// `set_authorization_header`: `Authorization: Bearer <id_token>` on `/oauth2/auth` responses.
    pub set_authorization_header: bool,
    pub set_xauthrequest: bool,
    /// `prefer_email_to_user`.
    pub prefer_email_to_user: bool,
    pub pass_host_header: bool,
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
        }
    }
}

/// The whole validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `http_address` (default `127.0.0.1:4180`; `0.0.0.0:4180` in the seed). `http://` prefix allowed.
    pub http_address: std::net::SocketAddr,
    /// `proxy_prefix` (default `/oauth2`), no trailing slash.
    pub proxy_prefix: String,
    /// `ping_path` (default `/ping`), `ready_path` (default `/ready`).
    pub ping_path: String,
    pub ready_path: String,
    /// `ping_user_agent`: requests with this User-Agent are answered like `/ping`.
    pub ping_user_agent: Option<String>,
    /// `redirect_url`: absolute callback URL; `None` = derived from the request host + `{prefix}/callback`.
    pub redirect_url: Option<url::Url>,
    /// `relative_redirect_url`.
    pub relative_redirect_url: bool,
    pub upstreams: Vec<UpstreamTarget>,
    /// `upstream_timeout`... oauth2-proxy calls it `flush_interval`/`upstream_timeout`? We use
    /// `upstream_timeout` (default 30s) as in oauth2-proxy v7.
    pub upstream_timeout: Duration,
    /// `ssl_upstream_insecure_skip_verify`.
    pub ssl_upstream_insecure_skip_verify: bool,
    /// `reverse_proxy`: trust X-Forwarded-* / X-Real-IP from the client.
    pub reverse_proxy: bool,
    /// `real_client_ip_header` (default X-Real-IP).
    pub real_client_ip_header: String,
    /// `whitelist_domains`, verbatim entries (validated syntax).
    pub whitelist_domains: Vec<String>,
    pub provider: ProviderConfig,
    pub cookie: CookieConfig,
    pub headers: HeaderConfig,
    pub authz: AuthzConfig,
    pub pages: PageConfig,
    pub logging: LoggingConfig,
    /// `skip_auth_preflight`.
    pub skip_auth_preflight: bool,
    /// `force_https`.
    pub force_https: bool,
    /// `encode_state`: accepted for compatibility; our state is always encrypted.
    pub encode_state: bool,
    /// Where each setting came from, for `--check` output and error messages.
    pub config_file: Option<PathBuf>,
}
