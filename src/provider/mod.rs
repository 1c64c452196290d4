//! Identity providers: the [`Provider`] seam and the OpenID Connect provider.
//!
//! A provider builds the authorization URL, exchanges a code for tokens, refreshes them
//! and turns the verified id_token (plus userinfo) into an [`Identity`]. It never sees
//! cookies, redirects or browser responses: the login flow builds the session from the
//! [`Identity`] it returns.
//!
//! The trait is dyn-compatible (`Arc<dyn Provider>`), its async methods return boxed
//! futures. Every method that depends on time takes `now`.

mod adfs;
mod api;
mod backend_logout;
mod bearer;
mod bitbucket;
mod cidaas;
mod claims;
mod digitalocean;
mod discovery;
mod entra;
mod error;
mod facebook;
mod github;
mod gitlab;
mod google;
mod http;
mod jwks;
mod keycloak;
mod keycloak_legacy;
mod linkedin;
mod logingov;
pub mod logout;
mod nextcloud;
mod oauth2;
mod oidc;
mod pubkeys;
mod rs256;
mod sourcehut;
mod token;

#[cfg(test)]
mod fake_tests;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{CodeChallengeMethod, ProviderConfig};

pub use adfs::AdfsProvider;
pub use backend_logout::{BackendLogout, ID_TOKEN_PLACEHOLDER};
pub use bearer::{BearerError, BearerIdentity, JwtVerifier, TrustedIssuer};
pub use bitbucket::BitbucketProvider;
pub use cidaas::CidaasProvider;
pub use claims::{unverified_subject, TokenSubject};
pub use digitalocean::DigitalOceanProvider;
pub use entra::EntraProvider;
pub use error::{Blame, Endpoint, ProviderError, TokenCheck};
pub use facebook::FacebookProvider;
pub use github::GithubProvider;
pub use gitlab::GitlabProvider;
pub use google::GoogleProvider;
pub use jwks::verify_jws_offline;
pub use keycloak::KeycloakProvider;
pub use keycloak_legacy::KeycloakLegacyProvider;
pub use linkedin::LinkedInProvider;
pub use logingov::LoginGovProvider;
pub use nextcloud::NextcloudProvider;
pub use oauth2::{OAuth2, OAuth2Kind};
pub use oidc::{Oidc, OidcKind, OidcProvider};
pub use sourcehut::SourceHutProvider;

/// The boxed future returned by the async [`Provider`] methods.
pub type ProviderFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

/// An identity provider.
pub trait Provider: Send + Sync {
    /// A stable id (`oidc=<client_id>`, as oauth2-proxy derives it from legacy options).
    fn id(&self) -> &str;
    /// The name on the sign-in button (`provider_display_name`).
    fn display_name(&self) -> &str;
    /// The provider type (`oidc`).
    fn kind(&self) -> &str;
    /// RFC 9207 mix-up defence: what an authorization response's `iss` parameter (`None`
    /// when absent) says about this provider. Required of every provider (no default): the
    /// callback refuses a response that names another issuer, or that lacks an `iss` the
    /// provider promised.
    fn check_response_issuer(&self, iss: Option<&str>) -> IssuerCheck;
    /// Whether discovery (and the first JWKS fetch) succeeded; `/ready` reports this.
    fn is_ready(&self) -> bool;
    /// Run discovery once; `Ok` when the provider is ready (also when it already was).
    /// [`spawn_discovery`] retries it with backoff.
    fn discover(&self) -> ProviderFuture<'_, ()>;
    /// The URL that starts a login at the provider.
    fn authorize_url(&self, params: &AuthorizeParams<'_>) -> Result<url::Url, ProviderError>;
    /// Exchange an authorization code. `code_verifier` is the PKCE verifier of this login;
    /// `expected_nonce` the nonce that was sent (checked against the id_token).
    fn redeem<'a>(
        &'a self,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: Option<&'a str>,
        expected_nonce: Option<&'a str>,
        now: SystemTime,
    ) -> ProviderFuture<'a, Identity>;
    /// Use a refresh token. The new id_token, when the provider sends one, is verified like
    /// a login's (without a nonce).
    fn refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        now: SystemTime,
    ) -> ProviderFuture<'a, Refreshed>;
    /// Whether a session WITHOUT a refresh token is re-validated at `cookie_refresh` with
    /// [`Provider::validate_session`] (GitHub: its tokens have no refresh token, and a
    /// revoked one must end the session).
    fn validates_sessions(&self) -> bool {
        false
    }
    /// Verify an OpenID Connect back-channel Logout Token sent by this provider: whom it logs
    /// out. Providers without OpenID Connect refuse every token.
    fn verify_logout_token<'a>(
        &'a self,
        token: &'a str,
        now: SystemTime,
    ) -> ProviderFuture<'a, logout::LogoutSubject> {
        let _ = (token, now);
        Box::pin(async {
            Err(ProviderError::InvalidLogoutToken(
                logout::LogoutCheck::UnknownIssuer(String::new()),
            ))
        })
    }
    /// RP-initiated logout: the provider's `end_session_endpoint` and the client id to send
    /// with it, when the provider has one.
    fn end_session(&self) -> Option<(url::Url, &str)> {
        None
    }
    /// Check that a session's access token is still good; an error ends the session.
    fn validate_session<'a>(
        &'a self,
        access_token: &'a str,
        now: SystemTime,
    ) -> ProviderFuture<'a, ()> {
        let _ = (access_token, now);
        Box::pin(async { Ok(()) })
    }
}

/// The verdict of [`Provider::check_response_issuer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerCheck {
    /// `iss` names this provider.
    Matches,
    /// `iss` names another issuer: the response belongs to another provider's login.
    Mismatch,
    /// No `iss`, although the provider advertises `authorization_response_iss_parameter_supported`.
    Missing,
    /// Nothing to compare: no `iss` and none promised, or a plain OAuth 2.0 provider without
    /// an issuer identifier. The callback still refuses an `iss` naming another configured
    /// provider.
    Unknown,
}

/// PKCE method (RFC 7636).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PkceMethod {
    S256,
    Plain,
}

impl PkceMethod {
    /// The method for a configured `code_challenge_method` (`None` when PKCE is off).
    pub fn from_config(m: CodeChallengeMethod) -> Option<Self> {
        match m {
            CodeChallengeMethod::S256 => Some(PkceMethod::S256),
            CodeChallengeMethod::Plain => Some(PkceMethod::Plain),
            CodeChallengeMethod::Disabled => None,
        }
    }

    /// The `code_challenge_method` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            PkceMethod::S256 => "S256",
            PkceMethod::Plain => "plain",
        }
    }
}

/// A PKCE code challenge for the authorization request.
#[derive(Clone, Copy, Debug)]
pub struct CodeChallenge<'a> {
    /// `BASE64URL(SHA256(verifier))` for S256, the verifier itself for plain.
    pub challenge: &'a str,
    pub method: PkceMethod,
}

/// The `response_mode` authorization parameter of a provider (`auth_request_response_mode`):
/// oauth2-proxy adds it for every provider type except adfs, azure and login.gov, whose login
/// URLs it builds without it.
pub(crate) fn response_mode(cfg: &crate::config::ProviderConfig) -> Option<String> {
    match cfg.kind.as_str() {
        "adfs" | "azure" | "login.gov" => None,
        _ => cfg
            .auth_request_response_mode
            .clone()
            .filter(|m| !m.is_empty()),
    }
}

/// What the login flow supplies for one authorization request.
#[derive(Clone, Copy, Debug)]
pub struct AuthorizeParams<'a> {
    /// The callback URL (`redirect_url`, or derived from the request host).
    pub redirect_uri: &'a str,
    /// The opaque, encrypted state.
    pub state: &'a str,
    /// The nonce to send (omitted when insecure_oidc_skip_nonce is set).
    pub nonce: &'a str,
    pub code_challenge: Option<CodeChallenge<'a>>,
    /// Overrides the configured `prompt` / `approval_prompt` for this request.
    pub prompt: Option<&'a str>,
    /// Overrides the configured `acr_values` for this request.
    pub acr_values: Option<&'a str>,
}

/// The configured login hints of a provider (`prompt`, `approval_prompt`, `acr_values`,
/// `auth_request_response_mode`), the same for the OIDC and the plain OAuth 2.0 kinds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoginHints<'a> {
    pub prompt: Option<&'a str>,
    pub approval_prompt: &'a str,
    pub acr_values: Option<&'a str>,
    pub response_mode: Option<&'a str>,
}

/// The authorization request's PKCE and login-hint parameters, as oauth2-proxy writes them:
/// `prompt` when set (per request, else configured), else the legacy `approval_prompt`
/// verbatim; `acr_values` and `response_mode` when set.
pub(crate) fn append_login_params(
    q: &mut url::form_urlencoded::Serializer<'_, url::UrlQuery<'_>>,
    p: &AuthorizeParams<'_>,
    hints: LoginHints<'_>,
) {
    if let Some(cc) = &p.code_challenge {
        q.append_pair("code_challenge", cc.challenge);
        q.append_pair("code_challenge_method", cc.method.as_str());
    }
    match p.prompt.or(hints.prompt) {
        Some(prompt) => {
            q.append_pair("prompt", prompt);
        }
        None if !hints.approval_prompt.is_empty() => {
            q.append_pair("approval_prompt", hints.approval_prompt);
        }
        None => {}
    }
    if let Some(acr) = p.acr_values.or(hints.acr_values) {
        q.append_pair("acr_values", acr);
    }
    if let Some(mode) = hints.response_mode {
        q.append_pair("response_mode", mode);
    }
}

/// Tokens from the token endpoint. They are secrets: `Debug` does not print them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    /// The raw id_token (verified). `None` after a refresh without id_token: keep the old one.
    pub id_token: Option<String>,
    /// `None` when the response had none: after a refresh, keep the old one.
    pub refresh_token: Option<String>,
    /// From `expires_in`; else the id_token's `exp`; else unknown.
    pub expires_on: Option<SystemTime>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

/// Who the user is, from the id_token and (for claims it lacks) the userinfo endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// The id_token `sub`.
    pub subject: String,
    /// From `user_id_claim` (default `email`); the `sub` when that claim is absent.
    pub user: String,
    /// From `oidc_email_claim` (default `email`). Never empty.
    pub email: String,
    /// From `oidc_groups_claim` (default `groups`): a string or an array of strings.
    pub groups: Vec<String>,
    /// The `preferred_username` claim.
    pub preferred_username: Option<String>,
    /// The kept claims ([`ProviderConfig::additional_claims`]) that were found, by the name
    /// they were asked for (a dot path stays one name): the ID token's value, else the
    /// profile URL's. Missing ones are left out.
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

/// The result of a code exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub tokens: Tokens,
    pub claims: Claims,
}

/// The result of a refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refreshed {
    pub tokens: Tokens,
    /// `None` when the refresh response carried no id_token: keep the session's id_token
    /// and identity claims (oauth2-proxy does the same).
    pub claims: Option<Claims>,
}

pub use crate::config::PROVIDER_KINDS as SUPPORTED_KINDS;

pub use crate::config::is_openid_connect;

/// Build the provider for the configuration (`provider` / the alpha config's `provider`).
pub fn from_config(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, ProviderError> {
    match cfg.kind.as_str() {
        "oidc" => Ok(Arc::new(OidcProvider::new(cfg)?)),
        "github" => Ok(Arc::new(GithubProvider::new(cfg)?)),
        "google" => Ok(Arc::new(GoogleProvider::new(cfg)?)),
        "entra-id" | "azure" => Ok(Arc::new(EntraProvider::new(cfg)?)),
        "gitlab" => Ok(Arc::new(GitlabProvider::new(cfg)?)),
        "keycloak-oidc" => Ok(Arc::new(KeycloakProvider::new(cfg)?)),
        "adfs" => Ok(Arc::new(AdfsProvider::new(cfg)?)),
        "bitbucket" => Ok(Arc::new(BitbucketProvider::new(cfg)?)),
        "cidaas" => Ok(Arc::new(CidaasProvider::new(cfg)?)),
        "digitalocean" => Ok(Arc::new(DigitalOceanProvider::new(cfg)?)),
        "facebook" => Ok(Arc::new(FacebookProvider::new(cfg)?)),
        "keycloak" => Ok(Arc::new(KeycloakLegacyProvider::new(cfg)?)),
        "linkedin" => Ok(Arc::new(LinkedInProvider::new(cfg)?)),
        "login.gov" => Ok(Arc::new(LoginGovProvider::new(cfg)?)),
        "nextcloud" => Ok(Arc::new(NextcloudProvider::new(cfg)?)),
        "sourcehut" => Ok(Arc::new(SourceHutProvider::new(cfg)?)),
        other => Err(ProviderError::Config {
            key: "provider",
            message: format!(
                "provider type {other:?} is not supported (supported: {})",
                SUPPORTED_KINDS.join(", ")
            ),
        }),
    }
}

/// Delay before discovery attempt `attempt + 1`: 1s, 2s, 4s, … capped at 30s.
pub fn discovery_backoff(attempt: u32) -> Duration {
    const CAP: Duration = Duration::from_secs(30);
    Duration::from_secs(1u64 << attempt.min(5)).min(CAP)
}

/// Run discovery in the background until it succeeds (the server calls this at startup;
/// `/ready` fails until [`Provider::is_ready`]). Each failure is logged with its cause.
pub fn spawn_discovery(provider: Arc<dyn Provider>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut attempt = 0u32;
        loop {
            match provider.discover().await {
                Ok(()) => {
                    tracing::info!(
                        provider = provider.id(),
                        attempt,
                        "OIDC discovery succeeded"
                    );
                    return;
                }
                Err(e) => {
                    let delay = discovery_backoff(attempt);
                    tracing::warn!(
                        provider = provider.id(),
                        attempt,
                        retry_in = ?delay,
                        blame = ?e.blame(),
                        error = %e,
                        "OIDC discovery failed; /ready fails until it succeeds"
                    );
                    tokio::time::sleep(delay).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    })
}

#[cfg(test)]
mod response_mode_tests {
    #[test]
    fn response_mode_is_sent_except_where_oauth2_proxy_builds_its_own_login_url() {
        let mut cfg = super::tests::provider_config("https://idp.example");
        cfg.auth_request_response_mode = Some("form_post".into());
        for (kind, sent) in [
            ("oidc", true),
            ("keycloak-oidc", true),
            ("github", true),
            ("gitlab", true),
            ("entra-id", true),
            ("adfs", false),
            ("azure", false),
            ("login.gov", false),
        ] {
            cfg.kind = kind.into();
            assert_eq!(
                super::response_mode(&cfg).as_deref(),
                sent.then_some("form_post"),
                "{kind}"
            );
        }
        cfg.kind = "oidc".into();
        cfg.auth_request_response_mode = Some(String::new());
        assert_eq!(super::response_mode(&cfg), None, "empty: not sent");
    }
}
