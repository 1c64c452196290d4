//! Every plain OAuth 2.0 provider kind (`bitbucket`, `digitalocean`, `facebook`,
//! `linkedin`, `nextcloud`, `sourcehut`, the legacy `keycloak`) is ONE implementation of
//! [`Provider`]: [`OAuth2`], generic over an [`OAuth2Kind`] hook that says how the kind learns
//! who the user is (its profile API) and which of its restrictions apply.
//!
//! As in oauth2-proxy, these kinds keep no refresh token: at `cookie_refresh` the session's
//! access token is re-validated at the kind's `validate_url` (a revoked or expired token ends
//! the session). They have no issuer identifier, so the RFC 9207 check is
//! [`IssuerCheck::Unknown`] (the callback still refuses an `iss` naming another configured
//! provider, and the sealed state binds the response to this provider).

mod core;

use std::future::Future;
use std::time::SystemTime;

pub(crate) use self::core::{ClientAuth, Defaults, OAuth2Core};
use super::error::{Endpoint, ProviderError};
use super::{AuthorizeParams, Claims, Identity, IssuerCheck, Provider, ProviderFuture, Refreshed};

/// What one plain OAuth 2.0 provider kind adds to the standard flow.
pub trait OAuth2Kind: Send + Sync + 'static {
    /// Who the access token belongs to, with the kind's restrictions enforced (a
    /// [`ProviderError::Denied`] refuses the login).
    fn identity<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> impl Future<Output = Result<Claims, ProviderError>> + Send + 'a;

    /// Re-validate a session's access token at `cookie_refresh` (default: GET
    /// `validate_url`, as oauth2-proxy).
    fn validate<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send + 'a {
        core.validate(access_token)
    }

    /// Whether sessions are re-validated at all (default: when a `validate_url` is known).
    fn validates(&self, core: &OAuth2Core) -> bool {
        core.validate_url().is_some()
    }
}

/// A plain OAuth 2.0 provider of kind `K`.
pub struct OAuth2<K> {
    core: OAuth2Core,
    kind: K,
}

impl<K> std::fmt::Debug for OAuth2<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl<K: OAuth2Kind> OAuth2<K> {
    /// A provider of kind `kind` on `core`.
    pub(crate) fn from_parts(core: OAuth2Core, kind: K) -> Self {
        Self { core, kind }
    }

    async fn redeem_and_identify(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        now: SystemTime,
    ) -> Result<Identity, ProviderError> {
        let tokens = self
            .core
            .redeem(code, redirect_uri, code_verifier, now)
            .await?;
        let claims = self.kind.identity(&self.core, &tokens.access_token).await?;
        Ok(Identity { tokens, claims })
    }
}

impl<K: OAuth2Kind> Provider for OAuth2<K> {
    fn id(&self) -> &str {
        self.core.id()
    }

    fn display_name(&self) -> &str {
        self.core.display_name()
    }

    fn kind(&self) -> &str {
        self.core.kind()
    }

    /// Plain OAuth 2.0: no issuer identifier, no `iss` in authorization responses.
    fn check_response_issuer(&self, _iss: Option<&str>) -> IssuerCheck {
        IssuerCheck::Unknown
    }

    /// Ready unless a URL the kind needs is missing (then never: oauth2-proxy starts with such
    /// a configuration and fails every sign-in).
    fn is_ready(&self) -> bool {
        self.core.usable().is_ok()
    }

    fn discover(&self) -> ProviderFuture<'_, ()> {
        let usable = self.core.usable();
        Box::pin(async move { usable })
    }

    fn authorize_url(&self, params: &AuthorizeParams<'_>) -> Result<url::Url, ProviderError> {
        self.core.build_authorize_url(params)
    }

    fn redeem<'a>(
        &'a self,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: Option<&'a str>,
        _expected_nonce: Option<&'a str>,
        now: SystemTime,
    ) -> ProviderFuture<'a, Identity> {
        Box::pin(self.redeem_and_identify(code, redirect_uri, code_verifier, now))
    }

    /// Never called: sessions of these kinds carry no refresh token.
    fn refresh<'a>(
        &'a self,
        _refresh_token: &'a str,
        _now: SystemTime,
    ) -> ProviderFuture<'a, Refreshed> {
        let kind = self.core.kind();
        Box::pin(async move {
            Err(ProviderError::InvalidResponse {
                endpoint: Endpoint::Token,
                detail: format!("provider {kind:?} sessions are re-validated, not refreshed"),
            })
        })
    }

    fn validates_sessions(&self) -> bool {
        self.kind.validates(&self.core)
    }

    fn validate_session<'a>(
        &'a self,
        access_token: &'a str,
        _now: SystemTime,
    ) -> ProviderFuture<'a, ()> {
        Box::pin(self.kind.validate(&self.core, access_token))
    }
}
