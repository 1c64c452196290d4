//! The one OpenID Connect implementation every OIDC-based provider kind runs on.
//!
//! Login: discovery → authorization URL (state, nonce, PKCE) → code exchange at the token
//! endpoint → id_token signature (JWKS) and claims → userinfo for claims the id_token lacks
//! → [`Identity`]. Claim semantics follow oauth2-proxy v7: `user_id_claim`,
//! `oidc_email_claim`, `oidc_groups_claim`, `preferred_username`, and `email_verified`
//! enforced only when present and only for the standard `email` claim.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::config::ProviderConfig;
use crate::crypto::Secret;

use crate::provider::claims::{self, Expectations};
use crate::provider::discovery::{self, Overrides, Resolved};
use crate::provider::error::{Endpoint, ProviderError};
use crate::provider::http::IdpClient;
use crate::provider::jwks::{JwksCache, Jws, KeySet, REFETCH_MIN_INTERVAL};
use crate::provider::token::expiry;
use crate::provider::{AuthorizeParams, Identity, Refreshed, Tokens};

/// The standard email claim: the only one whose `email_verified` is enforced (as in
/// oauth2-proxy, a custom email claim has no matching verification claim).
pub(super) const STANDARD_EMAIL_CLAIM: &str = "email";

/// Query parameters authproxy sets on the authorization URL; copies already present in a
/// configured `login_url` are replaced, any other parameter there is kept.
const AUTHORIZE_PARAMS: [&str; 12] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "approval_prompt",
    "acr_values",
    "resource",
];

/// The OpenID Connect machinery: discovery, authorization URL, code exchange, token and
/// userinfo verification, refresh. Provider kinds add to it through [`super::OidcKind`].
pub struct OidcCore {
    id: String,
    kind: String,
    display_name: String,
    pub(super) client_id: String,
    pub(super) client_secret: Secret,
    scope: String,
    prompt: Option<String>,
    approval_prompt: String,
    acr_values: Option<String>,
    /// `auth_request_response_mode`, for the kinds oauth2-proxy sends it for.
    response_mode: Option<String>,
    pub(super) email_claim: String,
    pub(super) groups_claim: String,
    pub(super) user_claim: String,
    pub(super) allow_unverified_email: bool,
    skip_nonce: bool,
    pub(super) extra_audiences: Vec<String>,
    /// `oidc_audience_claims`.
    pub(super) audience_claims: Vec<String>,
    /// The claims kept in the session (`additional_claims`).
    pub(super) extra_claims: Vec<String>,
    /// `skip_claims_from_profile_url`: claims come from the ID token alone.
    pub(super) skip_profile_claims: bool,
    /// `oidc_public_key_files`, read: with skip_oidc_discovery they verify tokens.
    fixed_keys: Option<Arc<KeySet>>,
    /// Azure's `resource` parameter on the authorization and code requests (v1 endpoints).
    resource_param: Option<String>,
    skip_discovery: bool,
    overrides: Overrides,
    pub(super) http: IdpClient,
    jwks_refetch_interval: Duration,
    /// Claims tried, in order, when the email claim is absent (Entra ID: `upn`).
    pub(super) email_fallback_claims: Vec<&'static str>,
    /// Provider-specific authorization parameters (Google: `access_type=offline`, `hd`).
    extra_authorize_params: Vec<(String, String)>,
    /// No `scope` parameter on the authorization request (ADFS `skipScope`).
    skip_scope: bool,
    /// Authenticate at the token endpoint with a signed JWT (RFC 7523 `private_key_jwt`,
    /// login.gov) instead of the client secret.
    pub(super) client_assertion: Option<crate::provider::rs256::RsaSigner>,
    /// Authenticate at the token endpoint with the token this file holds (Entra ID workload
    /// identity federation), re-read at each request (it is rotated).
    pub(super) federated_token_file: Option<PathBuf>,
    /// Never call userinfo (ADFS with `resource`: the access token is for that resource).
    pub(super) skip_userinfo: bool,
    /// Refuse a login whose `email_verified` is absent, not only false (login.gov).
    pub(super) require_email_verified: bool,
    /// Set once, by the first successful discovery.
    ready: OnceLock<Ready>,
}

impl std::fmt::Debug for OidcCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcCore")
            .field("id", &self.id)
            .field("ready", &self.ready.get().map(|r| &r.endpoints))
            .finish_non_exhaustive()
    }
}

pub(super) struct Ready {
    pub(super) endpoints: Resolved,
    pub(super) jwks: JwksCache,
}

fn non_empty_or(s: &str, default: &str) -> String {
    if s.is_empty() {
        default.to_owned()
    } else {
        s.to_owned()
    }
}

impl OidcCore {
    /// Validate the provider options and build the provider (no network I/O yet).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        if cfg.client_id.is_empty() {
            return Err(ProviderError::Config {
                key: "client_id",
                message: "is required".into(),
            });
        }
        if cfg.oidc_issuer_url.is_none() {
            return Err(ProviderError::Config {
                key: "oidc_issuer_url",
                message: "is required for provider \"oidc\"".into(),
            });
        }
        let overrides = Overrides {
            issuer: cfg.oidc_issuer_url.clone(),
            skip_issuer_verification: cfg.insecure_oidc_skip_issuer_verification,
            login_url: cfg.login_url.clone(),
            redeem_url: cfg.redeem_url.clone(),
            profile_url: cfg.profile_url.clone(),
            jwks_url: cfg.oidc_jwks_url.clone(),
            token_auth_method: cfg.token_auth_method,
            has_client_secret: !cfg.client_secret.is_empty(),
            exact_issuer: None,
            enabled_algs: cfg.oidc_enabled_signing_algs.clone(),
            fixed_keys: cfg.skip_oidc_discovery && !cfg.oidc_public_key_files.is_empty(),
        };
        let fixed_keys = if overrides.fixed_keys {
            Some(crate::provider::pubkeys::load(&cfg.oidc_public_key_files)?)
        } else {
            None
        };
        if cfg.skip_oidc_discovery && cfg.login_url.is_some() && cfg.redeem_url.is_some() {
            // Without discovery every endpoint comes from the configuration: report a
            // missing one at startup rather than at the first login. (Without login_url or
            // redeem_url oauth2-proxy starts and fails every sign-in: the configuration
            // warns, and the provider stays not ready, naming the missing option.)
            discovery::resolve(&overrides, None)?;
        }
        Ok(Self {
            id: if cfg.id.is_empty() {
                format!("{}={}", cfg.kind, cfg.client_id)
            } else {
                cfg.id.clone()
            },
            kind: cfg.kind.clone(),
            display_name: non_empty_or(&cfg.display_name, "OpenID Connect"),
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            scope: non_empty_or(&cfg.scope, "openid email profile"),
            prompt: cfg.prompt.clone().filter(|p| !p.is_empty()),
            approval_prompt: cfg.approval_prompt.clone(),
            acr_values: cfg.acr_values.clone().filter(|a| !a.is_empty()),
            response_mode: crate::provider::response_mode(cfg),
            email_claim: non_empty_or(&cfg.oidc_email_claim, STANDARD_EMAIL_CLAIM),
            groups_claim: non_empty_or(&cfg.oidc_groups_claim, "groups"),
            user_claim: non_empty_or(&cfg.user_id_claim, "sub"),
            allow_unverified_email: cfg.insecure_oidc_allow_unverified_email,
            skip_nonce: cfg.insecure_oidc_skip_nonce,
            extra_audiences: cfg.oidc_extra_audiences.clone(),
            audience_claims: cfg.oidc_audience_claims.clone(),
            extra_claims: cfg.additional_claims.clone(),
            skip_profile_claims: cfg.skip_claims_from_profile_url,
            fixed_keys,
            resource_param: None,
            skip_discovery: cfg.skip_oidc_discovery,
            overrides,
            http: IdpClient::new(cfg)?,
            jwks_refetch_interval: REFETCH_MIN_INTERVAL,
            email_fallback_claims: Vec::new(),
            extra_authorize_params: Vec::new(),
            skip_scope: false,
            client_assertion: None,
            federated_token_file: None,
            skip_userinfo: false,
            require_email_verified: false,
            ready: OnceLock::new(),
        })
    }

    /// Claims tried, in order, when the email claim is absent.
    pub(crate) fn with_email_fallback(mut self, claims: Vec<&'static str>) -> Self {
        self.email_fallback_claims = claims;
        self
    }

    /// Extra authorization request parameters (authproxy's own parameters win).
    pub(crate) fn with_authorize_params(mut self, params: Vec<(String, String)>) -> Self {
        self.extra_authorize_params = params;
        self
    }

    /// Send no `scope` parameter on the authorization request.
    pub(crate) fn with_skip_scope(mut self, skip: bool) -> Self {
        self.skip_scope = skip;
        self
    }

    /// Authenticate at the token endpoint with JWTs signed by `key` (`private_key_jwt`).
    pub(crate) fn with_client_assertion(mut self, key: crate::provider::rs256::RsaSigner) -> Self {
        self.client_assertion = Some(key);
        self
    }

    /// Authenticate at the token endpoint with the token in `file` (a client assertion,
    /// RFC 7523 2.2), read at each request.
    pub(crate) fn with_federated_token(mut self, file: PathBuf) -> Self {
        self.federated_token_file = Some(file);
        self
    }

    /// Send `resource` on the authorization and code requests, unless the authorization
    /// endpoint is a v2.0 one (Microsoft's v1 endpoints; oauth2-proxy's azure provider).
    pub(crate) fn with_resource_parameter(mut self, resource: Option<String>) -> Self {
        self.resource_param = resource;
        self
    }

    /// The `resource` to send to this provider's endpoints, when there is one.
    pub(super) fn resource_for(&self, ready: &Ready) -> Option<&str> {
        self.resource_param
            .as_deref()
            .filter(|_| !ready.endpoints.authorization.as_str().contains("v2.0"))
    }

    /// Never ask the userinfo endpoint (the claims come from the ID token alone).
    pub(crate) fn without_userinfo(mut self) -> Self {
        self.skip_userinfo = true;
        self
    }

    /// Require `email_verified` to be present and true.
    pub(crate) fn with_required_email_verification(mut self) -> Self {
        self.require_email_verified = true;
        self
    }

    /// With skip_oidc_discovery: the exact issuer ID tokens carry (the configured URL is
    /// normalised, which may add or drop a trailing slash the provider's `iss` has or lacks).
    pub(crate) fn with_exact_issuer(mut self, issuer: String) -> Self {
        self.overrides.exact_issuer = Some(issuer);
        self
    }

    /// Re-validate an access token: GET `url` with it; any 2xx means it is still good
    /// (oauth2-proxy's `validate_url` check).
    pub(crate) async fn validate_access_token(
        &self,
        url: &url::Url,
        access_token: &str,
    ) -> Result<(), ProviderError> {
        const VALIDATE: Endpoint = Endpoint::Api("token validation endpoint");
        let auth = crate::provider::api::authorization(VALIDATE, "Bearer", access_token)?;
        let f = crate::provider::api::get(
            &self.http.credentialed,
            VALIDATE,
            url,
            &auth,
            "application/json",
            &[],
        )
        .await?;
        if f.status.is_success() {
            Ok(())
        } else {
            Err(crate::provider::api::api_error(VALIDATE, &f))
        }
    }

    /// The HTTP client for credentialed calls (provider APIs beyond OIDC).
    pub(crate) fn credentialed_client(&self) -> &reqwest::Client {
        &self.http.credentialed
    }

    /// The userinfo claims for this access token (`None` without a userinfo endpoint).
    pub(crate) async fn userinfo_claims(
        &self,
        access_token: &str,
        subject: &str,
    ) -> Result<Option<Map<String, Value>>, ProviderError> {
        let ready = self.ready()?;
        match ready
            .endpoints
            .userinfo
            .as_ref()
            .filter(|_| !self.skip_userinfo)
        {
            Some(url) => Ok(Some(
                self.fetch_userinfo(ready, url, access_token, subject)
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// Use another total timeout per IdP request (tests).
    #[cfg(test)]
    pub(crate) fn with_request_timeout(
        mut self,
        cfg: &ProviderConfig,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        self.http = IdpClient::with_timeout(cfg, timeout)?;
        Ok(self)
    }

    /// Change the minimum interval between JWKS re-fetches (tests).
    #[cfg(test)]
    pub(crate) fn with_jwks_refetch_interval(mut self, d: Duration) -> Self {
        self.jwks_refetch_interval = d;
        self
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn display_name(&self) -> &str {
        &self.display_name
    }

    pub(crate) fn kind(&self) -> &str {
        &self.kind
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.get().is_some()
    }

    /// The provider's issuer identifier as its discovery document (or the configuration)
    /// names it, and whether it promises the RFC 9207 `iss` authorization response
    /// parameter. `None` until discovery succeeded.
    pub(crate) fn response_issuer(&self) -> Option<(&str, bool)> {
        self.ready.get().map(|r| {
            (
                r.endpoints.response_issuer.as_str(),
                r.endpoints.iss_parameter_supported,
            )
        })
    }

    fn ready(&self) -> Result<&Ready, ProviderError> {
        self.ready.get().ok_or(ProviderError::NotReady)
    }

    pub(super) async fn run_discovery(&self) -> Result<(), ProviderError> {
        if self.ready.get().is_some() {
            return Ok(());
        }
        let meta = if self.skip_discovery {
            None
        } else {
            let issuer = self
                .overrides
                .issuer
                .as_ref()
                .ok_or_else(|| ProviderError::Config {
                    key: "oidc_issuer_url",
                    message: "is required for provider \"oidc\"".into(),
                })?;
            Some(discovery::fetch(&self.http.metadata, issuer).await?)
        };
        let endpoints = discovery::resolve(&self.overrides, meta.as_ref())?;
        if self.resource_param.is_some() && endpoints.authorization.as_str().contains("v2.0") {
            tracing::warn!(provider = %self.id, "resource has no effect with the v2.0 endpoints (Microsoft identity platform v2 takes scopes instead), as in oauth2-proxy");
        }
        let jwks = match (&self.fixed_keys, &endpoints.jwks) {
            (Some(keys), _) if self.skip_discovery => JwksCache::fixed(Arc::clone(keys)),
            (_, Some(url)) => JwksCache::new(url.clone(), self.jwks_refetch_interval),
            (_, None) => {
                return Err(ProviderError::Config {
                    key: "oidc_jwks_url",
                    message: "is required with skip_oidc_discovery (or oidc_public_key_files)"
                        .into(),
                })
            }
        };
        // Ready means able to verify a login: the keys are part of that.
        jwks.fetch(&self.http.metadata).await?;
        // A concurrent discovery may have finished first; both results are equivalent.
        let _ = self.ready.set(Ready { endpoints, jwks });
        Ok(())
    }

    pub(super) fn build_authorize_url(
        &self,
        p: &AuthorizeParams<'_>,
    ) -> Result<url::Url, ProviderError> {
        let ready = self.ready()?;
        let mut url = ready.endpoints.authorization.clone();
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !AUTHORIZE_PARAMS.contains(&k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            q.extend_pairs(kept);
            q.extend_pairs(
                self.extra_authorize_params
                    .iter()
                    .filter(|(k, _)| !AUTHORIZE_PARAMS.contains(&k.as_str())),
            );
            q.append_pair("response_type", "code");
            q.append_pair("client_id", &self.client_id);
            q.append_pair("redirect_uri", p.redirect_uri);
            if !self.skip_scope {
                q.append_pair("scope", &self.scope);
            }
            q.append_pair("state", p.state);
            if !self.skip_nonce {
                q.append_pair("nonce", p.nonce);
            }
            crate::provider::append_login_params(
                &mut q,
                p,
                crate::provider::LoginHints {
                    prompt: self.prompt.as_deref(),
                    approval_prompt: &self.approval_prompt,
                    acr_values: self.acr_values.as_deref(),
                    response_mode: self.response_mode.as_deref(),
                },
            );
            if let Some(resource) = self.resource_for(ready) {
                q.append_pair("resource", resource);
            }
        }
        Ok(url)
    }

    pub(super) async fn run_redeem(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        expected_nonce: Option<&str>,
        now: SystemTime,
    ) -> Result<(Identity, Map<String, Value>), ProviderError> {
        let ready = self.ready()?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = code_verifier {
            form.push(("code_verifier", v));
        }
        if let Some(resource) = self.resource_for(ready) {
            form.push(("resource", resource));
        }
        let resp = self.token_request(ready, form).await?;
        let raw_id_token = resp.id_token.ok_or(ProviderError::MissingIdToken)?;
        // The nonce is not sent with insecure_oidc_skip_nonce, so it cannot be checked.
        let nonce = if self.skip_nonce {
            None
        } else {
            expected_nonce
        };
        let id_claims = self
            .verify_id_token(ready, &raw_id_token, nonce, now)
            .await?;
        let claims = self
            .identity_claims(ready, &id_claims, &resp.access_token)
            .await?;
        Ok((
            Identity {
                tokens: Tokens {
                    expires_on: expiry(resp.expires_in, &id_claims, now),
                    access_token: resp.access_token,
                    id_token: Some(raw_id_token),
                    refresh_token: resp.refresh_token,
                },
                claims,
            },
            id_claims,
        ))
    }

    pub(super) async fn run_refresh(
        &self,
        refresh_token: &str,
        now: SystemTime,
    ) -> Result<(Refreshed, Option<Map<String, Value>>), ProviderError> {
        let ready = self.ready()?;
        let form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let resp = self.token_request(ready, form).await?;
        // The id_token is optional in a refresh response (OIDC Core 12.2); when present it
        // is verified like a login's, minus the nonce.
        let (claims, id_claims) = match &resp.id_token {
            Some(raw) => {
                let id_claims = self.verify_id_token(ready, raw, None, now).await?;
                let claims = self
                    .identity_claims(ready, &id_claims, &resp.access_token)
                    .await?;
                (Some(claims), Some(id_claims))
            }
            None => (None, None),
        };
        let refreshed = Refreshed {
            tokens: Tokens {
                expires_on: expiry(
                    resp.expires_in,
                    id_claims.as_ref().unwrap_or(&Map::new()),
                    now,
                ),
                access_token: resp.access_token,
                id_token: resp.id_token,
                refresh_token: resp.refresh_token,
            },
            claims,
        };
        Ok((refreshed, id_claims))
    }

    /// Verify a back-channel Logout Token (OpenID Connect Back-Channel Logout 1.0, 2.6): the
    /// signature with the provider's JWKS and the algorithms it accepts for ID tokens, then
    /// [`crate::provider::logout::check_logout_token`]. Replay (`jti`) is the caller's check.
    pub(crate) async fn verify_logout_token(
        &self,
        raw: &str,
        now: SystemTime,
    ) -> Result<crate::provider::logout::LogoutSubject, ProviderError> {
        use crate::provider::logout::{check_logout_token, check_type};
        let invalid = ProviderError::InvalidLogoutToken;
        let ready = self.ready()?;
        let jws = Jws::parse(raw).map_err(|e| invalid(e.into()))?;
        check_type(jws.typ.as_deref()).map_err(invalid)?;
        let alg = jws
            .algorithm(&ready.endpoints.algorithms)
            .map_err(|e| invalid(e.into()))?;
        ready
            .jwks
            .verify(&self.http.metadata, &jws, alg, |e| {
                ProviderError::InvalidLogoutToken(e.into())
            })
            .await?;
        let expect = Expectations {
            issuer: Some(
                ready
                    .endpoints
                    .issuer
                    .as_deref()
                    .unwrap_or(&ready.endpoints.response_issuer),
            ),
            client_id: &self.client_id,
            extra_audiences: &self.extra_audiences,
            // A logout token's audience is its `aud` (Back-Channel Logout 1.0, 2.4).
            audience_claims: &[],
            nonce: None,
            now,
        };
        check_logout_token(&jws.claims, &expect).map_err(invalid)
    }

    /// The provider's `end_session_endpoint` (RP-initiated logout), once discovered.
    pub(crate) fn end_session_endpoint(&self) -> Option<&url::Url> {
        self.ready().ok()?.endpoints.end_session.as_ref()
    }

    /// The client id (RP-initiated logout sends it).
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Verify an id_token's signature and claims; its claims.
    async fn verify_id_token(
        &self,
        ready: &Ready,
        raw: &str,
        nonce: Option<&str>,
        now: SystemTime,
    ) -> Result<Map<String, Value>, ProviderError> {
        let jws = Jws::parse(raw).map_err(ProviderError::InvalidIdToken)?;
        let alg = jws
            .algorithm(&ready.endpoints.algorithms)
            .map_err(ProviderError::InvalidIdToken)?;
        ready
            .jwks
            .verify(
                &self.http.metadata,
                &jws,
                alg,
                ProviderError::InvalidIdToken,
            )
            .await?;
        let expect = Expectations {
            issuer: ready.endpoints.issuer.as_deref(),
            client_id: &self.client_id,
            extra_audiences: &self.extra_audiences,
            audience_claims: &self.audience_claims,
            nonce,
            now,
        };
        claims::check_id_token(&jws.claims, &expect).map_err(ProviderError::InvalidIdToken)?;
        Ok(jws.into_claims())
    }
}
