//! Every OpenID Connect-based provider kind (`oidc`, `keycloak-oidc`, `gitlab`, `google`,
//! `entra-id` / `azure`, …) is ONE implementation of [`Provider`]: [`Oidc`], generic over an
//! [`OidcKind`] hook that says what the kind adds (claims read from its APIs, its restrictions).
//!
//! Nothing is delegated by hand: discovery, the authorization URL, the code exchange, ID token
//! and userinfo verification, refresh and the RFC 9207 issuer check exist once, in [`OidcCore`],
//! and a kind cannot forget one of them (four hand-written wrappers once forgot the issuer and
//! switched the mix-up defence off).

mod client_auth;
mod core;
mod identity;
mod userinfo;

use std::future::Future;
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::config::ProviderConfig;

pub use self::core::OidcCore;
pub(crate) use self::identity::extra_claims;
use super::error::ProviderError;
use super::{AuthorizeParams, Claims, Identity, IssuerCheck, Provider, ProviderFuture, Refreshed};

/// When [`OidcKind::enrich`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// After a code exchange.
    Login,
    /// After a refresh whose response carried a new ID token.
    Refresh,
}

/// What [`OidcKind::enrich`] sees: the identity built from the verified ID token (and
/// userinfo), the token's claims and the access token.
pub struct Enrich<'a> {
    pub claims: &'a mut Claims,
    pub id_token: &'a Map<String, Value>,
    pub access_token: &'a str,
    pub now: SystemTime,
    pub stage: Stage,
}

/// What one OIDC-based provider kind adds to the standard flow.
pub trait OidcKind: Send + Sync + 'static {
    /// Add the kind's claims (groups from an API, roles) and enforce its restrictions
    /// (an error refuses the login or ends the session at a refresh).
    fn enrich<'a>(
        &'a self,
        core: &'a OidcCore,
        e: Enrich<'a>,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send + 'a;

    /// Whether an authorization response's `iss` names this provider, whose discovered issuer
    /// identifier is `issuer` (RFC 9207: simple string comparison). A multi-tenant issuer
    /// overrides this to accept every tenant's own issuer.
    fn issuer_matches(&self, issuer: &str, iss: &str) -> bool {
        issuer == iss
    }

    /// Where a session's access token is re-validated at `cookie_refresh` when the session
    /// has no refresh token (oauth2-proxy's `validate_url`, login.gov's userinfo). `None`
    /// (the default): such sessions are not re-validated.
    fn validate_url(&self) -> Option<&url::Url> {
        None
    }
}

/// The plain `oidc` kind: nothing beyond the standard claims.
#[derive(Debug, Default)]
pub struct Standard;

impl OidcKind for Standard {
    async fn enrich<'a>(
        &'a self,
        _core: &'a OidcCore,
        _e: Enrich<'a>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// An OpenID Connect-based provider of kind `K`.
pub struct Oidc<K> {
    core: OidcCore,
    kind: K,
}

impl<K> std::fmt::Debug for Oidc<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

/// The `oidc` provider.
pub type OidcProvider = Oidc<Standard>;

impl OidcProvider {
    /// Validate the options and build the provider (no network I/O yet).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        Ok(Oidc::from_parts(OidcCore::new(cfg)?, Standard))
    }
}

impl<K: OidcKind> Oidc<K> {
    /// A provider of kind `kind` on `core`.
    pub(crate) fn from_parts(core: OidcCore, kind: K) -> Self {
        Self { core, kind }
    }

    /// Use another total timeout per IdP request (tests).
    #[cfg(test)]
    pub(crate) fn with_request_timeout(
        mut self,
        cfg: &ProviderConfig,
        timeout: std::time::Duration,
    ) -> Result<Self, ProviderError> {
        self.core = self.core.with_request_timeout(cfg, timeout)?;
        Ok(self)
    }

    /// Change the minimum interval between JWKS re-fetches (tests).
    #[cfg(test)]
    pub(crate) fn with_jwks_refetch_interval(mut self, d: std::time::Duration) -> Self {
        self.core = self.core.with_jwks_refetch_interval(d);
        self
    }

    async fn redeem_and_enrich(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        expected_nonce: Option<&str>,
        now: SystemTime,
    ) -> Result<Identity, ProviderError> {
        let (mut identity, id_token) = self
            .core
            .run_redeem(code, redirect_uri, code_verifier, expected_nonce, now)
            .await?;
        let e = Enrich {
            claims: &mut identity.claims,
            id_token: &id_token,
            access_token: &identity.tokens.access_token,
            now,
            stage: Stage::Login,
        };
        self.kind.enrich(&self.core, e).await?;
        Ok(identity)
    }

    async fn refresh_and_enrich(
        &self,
        refresh_token: &str,
        now: SystemTime,
    ) -> Result<Refreshed, ProviderError> {
        let (mut refreshed, id_token) = self.core.run_refresh(refresh_token, now).await?;
        // Without a new ID token the session keeps its identity: nothing to re-check.
        if let (Some(claims), Some(id_token)) = (refreshed.claims.as_mut(), id_token) {
            let e = Enrich {
                claims,
                id_token: &id_token,
                access_token: &refreshed.tokens.access_token,
                now,
                stage: Stage::Refresh,
            };
            self.kind.enrich(&self.core, e).await?;
        }
        Ok(refreshed)
    }
}

impl<K: OidcKind> Provider for Oidc<K> {
    fn id(&self) -> &str {
        self.core.id()
    }

    fn display_name(&self) -> &str {
        self.core.display_name()
    }

    fn kind(&self) -> &str {
        self.core.kind()
    }

    fn check_response_issuer(&self, iss: Option<&str>) -> IssuerCheck {
        match (self.core.response_issuer(), iss) {
            // Not discovered yet: the code exchange will fail anyway.
            (None, _) => IssuerCheck::Unknown,
            (Some((issuer, _)), Some(iss)) if self.kind.issuer_matches(issuer, iss) => {
                IssuerCheck::Matches
            }
            (Some(_), Some(_)) => IssuerCheck::Mismatch,
            (Some((_, true)), None) => IssuerCheck::Missing,
            (Some((_, false)), None) => IssuerCheck::Unknown,
        }
    }

    fn is_ready(&self) -> bool {
        self.core.is_ready()
    }

    fn discover(&self) -> ProviderFuture<'_, ()> {
        Box::pin(self.core.run_discovery())
    }

    fn authorize_url(&self, params: &AuthorizeParams<'_>) -> Result<url::Url, ProviderError> {
        self.core.build_authorize_url(params)
    }

    fn redeem<'a>(
        &'a self,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: Option<&'a str>,
        expected_nonce: Option<&'a str>,
        now: SystemTime,
    ) -> ProviderFuture<'a, Identity> {
        Box::pin(self.redeem_and_enrich(code, redirect_uri, code_verifier, expected_nonce, now))
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        now: SystemTime,
    ) -> ProviderFuture<'a, Refreshed> {
        Box::pin(self.refresh_and_enrich(refresh_token, now))
    }

    fn validates_sessions(&self) -> bool {
        self.kind.validate_url().is_some()
    }

    fn verify_logout_token<'a>(
        &'a self,
        token: &'a str,
        now: SystemTime,
    ) -> ProviderFuture<'a, crate::provider::logout::LogoutSubject> {
        Box::pin(self.core.verify_logout_token(token, now))
    }

    fn end_session(&self) -> Option<(url::Url, &str)> {
        self.core
            .end_session_endpoint()
            .map(|u| (u.clone(), self.core.client_id()))
    }

    fn validate_session<'a>(
        &'a self,
        access_token: &'a str,
        _now: SystemTime,
    ) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            match self.kind.validate_url() {
                Some(url) => self.core.validate_access_token(url, access_token).await,
                None => Ok(()),
            }
        })
    }
}
