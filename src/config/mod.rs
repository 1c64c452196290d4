//! The one validated configuration.
//!
//! oauth2-proxy's three spellings of every option (TOML config file, `OAUTH2_PROXY_*`
//! environment variables and command-line flags) are read at the edge by `sources.rs`
//! into layers of raw values, merged by precedence (flags > env > file > defaults) and
//! compiled ONCE into [`Config`] by `build.rs`. The option table in [`options`] drives
//! all of it, `--help` and `docs/configuration.md`. Nothing after this module ever sees
//! a raw option string.

use std::fmt;
use std::path::PathBuf;

mod alpha;
pub mod assertion;
mod build;
mod command;
mod convert;
pub mod duration;
mod limits;
#[cfg(test)]
mod option_tests;
pub mod options;
pub mod policy;
mod providers;
pub mod redis;
mod sections;
mod skip;
mod sources;
pub mod structured;
#[cfg(test)]
mod tests;
mod warnings;

pub use build::headers::LegacyHeaders;
pub use limits::LimitsConfig;
pub use skip::{RuleError, SkipConfig, SkipRoute};
pub use structured::{
    BindAddress, HeaderRule, ServerConfig, TlsConfig, Upstream, UpstreamConfig, UpstreamKind,
};

pub use command::{load, process_env, Command};
pub use providers::{
    is_openid_connect, AdfsOptions, AzureOptions, BitbucketOptions, CodeChallengeMethod,
    GithubOptions, GitlabOptions, GoogleAdc, GoogleOptions, KeycloakOptions, LoginGovOptions,
    ProviderConfig, TokenAuthMethod, PROVIDER_CLAIM, PROVIDER_KINDS,
};
pub use sections::{
    AuthzConfig, CookieConfig, LogFileConfig, LoggingConfig, LogoutConfig, MachineConfig,
    PageConfig, SameSite, SessionStoreConfig, SignatureAlgorithm, SignatureConfig, TracingConfig,
    TrustedIssuer,
};

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
