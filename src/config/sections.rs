//! The configuration's other sections: cookies, authorization rules, machine clients, pages,
//! logging, request signing, the session store, logout and tracing.

use std::path::PathBuf;
use std::time::Duration;

use super::redis;
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

/// One trusted issuer as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The issuer URL (discovery is `{issuer}/.well-known/openid-configuration`).
    pub issuer: url::Url,
    /// Accepted `aud` values (at least one).
    pub audiences: Vec<String>,
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
