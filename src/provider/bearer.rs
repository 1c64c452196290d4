//! JWT bearer tokens for machine clients (`skip_jwt_bearer_tokens`, `extra_jwt_issuers`).
//!
//! A request that carries `Authorization: Bearer <JWT>` is authenticated by the token alone:
//! its signature against the JWKS of the issuer it names, then issuer, audience and times.
//! The trusted issuers are the provider's own (audiences: `client_id` and
//! `oidc_extra_audiences`) and each `extra_jwt_issuers` entry; entries naming the same issuer
//! share one key cache and their audiences are merged.
//!
//! This module reuses the login path's pieces: OIDC discovery ([`super::discovery`]), the
//! JWKS cache with its rate-limited re-fetch on an unknown `kid` ([`JwksCache`]), the JWS
//! parser with its algorithm allow-list ([`Jws`]) and the claim helpers ([`super::claims`]).
//! What differs from an id_token, on purpose:
//!
//! * no `nonce`, and `iat` is optional (access tokens need not carry it); `exp` is required;
//! * no `azp` rule: in an access token `azp` names the client that asked for the token, which
//!   is not this proxy (RFC 9068);
//! * the issuer is chosen by the token's (unverified) `iss`, then the signature must verify
//!   with that issuer's keys and `iss` must equal the issuer discovery returned.
//!
//! Discovery of each issuer runs in the background at startup (retrying with backoff) and
//! again on demand, at most once per [`DISCOVERY_RETRY`], when a token arrives first.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::config::ProviderConfig;

use super::claims;
use super::discovery;
use super::error::{ProviderError, TokenCheck};
use super::http::IdpClient;
use super::jwks::{JwksCache, Jws, REFETCH_MIN_INTERVAL, SUPPORTED_ALGORITHMS};
use super::Claims;

/// Minimum time between two on-demand discovery attempts of an issuer that is not ready.
pub(crate) const DISCOVERY_RETRY: Duration = Duration::from_secs(5);

pub use crate::config::TrustedIssuer;

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// The token is not valid: the client's fault (401 `invalid_token`).
    #[error("{0}")]
    Invalid(#[from] TokenCheck),
    /// The token names an issuer that is not trusted (401 `invalid_token`).
    #[error("issuer {0:?} is not trusted (not the provider's issuer nor in extra_jwt_issuers)")]
    UnknownIssuer(String),
    /// The token cannot be checked now: discovery or the JWKS fetch failed (503).
    #[error("the token's issuer cannot be reached: {0}")]
    Unavailable(ProviderError),
}

impl BearerError {
    /// True when the client's token is at fault (as opposed to the issuer being unreachable).
    pub fn is_invalid_token(&self) -> bool {
        !matches!(self, BearerError::Unavailable(_))
    }
}

/// A verified bearer token: who it names and until when it is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerIdentity {
    pub claims: Claims,
    /// The issuer the token was verified against.
    pub issuer: String,
    /// The token's `exp`.
    pub expires_at: SystemTime,
}

/// Claim names, as configured for logins.
#[derive(Clone, Debug)]
struct ClaimNames {
    email: String,
    groups: String,
    user: String,
    allow_unverified_email: bool,
    /// `additional_claims`: kept in the session from the token (no userinfo call).
    extra: Vec<String>,
}

/// Discovery result of one issuer.
struct IssuerReady {
    /// `iss` exactly as the issuer spells it.
    issuer: String,
    jwks: JwksCache,
}

/// Keys and expectations of one trusted issuer, discovered lazily and cached.
pub(crate) struct IssuerKeys {
    configured: url::Url,
    audiences: Vec<String>,
    /// `oidc_jwks_url` (the provider's own issuer only).
    jwks_override: Option<url::Url>,
    /// `skip_oidc_discovery` (the provider's own issuer only): the configured URL is the issuer.
    skip_discovery: bool,
    /// `insecure_oidc_skip_issuer_verification` (the provider's own issuer only): accept a
    /// discovered issuer that differs from the configured URL; tokens must then carry it.
    skip_issuer_verification: bool,
    /// `oidc_audience_claims` (the provider's own issuer only; empty: `aud`).
    audience_claims: Vec<String>,
    /// `oidc_enabled_signing_algs` (the provider's own issuer only; empty: every one).
    algorithms: Vec<Algorithm>,
    /// `oidc_public_key_files` with skip_oidc_discovery (the provider's own issuer only).
    fixed_keys: Option<std::sync::Arc<super::jwks::KeySet>>,
    refetch_interval: Duration,
    ready: OnceLock<IssuerReady>,
    /// When the last on-demand discovery started; taken only while the issuer is not ready.
    attempt: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("issuer", &self.configured.as_str())
            .field("audiences", &self.audiences)
            .field("ready", &self.ready.get().is_some())
            .finish()
    }
}

impl IssuerKeys {
    fn new(configured: url::Url, audiences: Vec<String>) -> Self {
        Self {
            configured,
            audiences,
            jwks_override: None,
            skip_discovery: false,
            skip_issuer_verification: false,
            audience_claims: Vec::new(),
            algorithms: all_algorithms(),
            fixed_keys: None,
            refetch_interval: REFETCH_MIN_INTERVAL,
            ready: OnceLock::new(),
            attempt: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether a token whose `iss` is `iss` belongs to this issuer.
    fn names(&self, iss: &str) -> bool {
        match self.ready.get() {
            Some(r) => r.issuer == iss,
            None => discovery::issuer_matches(&self.configured, iss),
        }
    }

    fn audience_allowed(&self, aud: &str) -> bool {
        self.audiences.iter().any(|a| a == aud)
    }

    /// Discover the issuer and fetch its keys (once; later calls return at once).
    async fn discover(&self, client: &reqwest::Client) -> Result<&IssuerReady, ProviderError> {
        if let Some(r) = self.ready.get() {
            return Ok(r);
        }
        let (issuer, jwks_url) = if self.skip_discovery {
            let issuer = self.configured.as_str().trim_end_matches('/').to_owned();
            if let Some(keys) = &self.fixed_keys {
                let jwks = JwksCache::fixed(std::sync::Arc::clone(keys));
                let _ = self.ready.set(IssuerReady { issuer, jwks });
                return self.ready.get().ok_or(ProviderError::NotReady);
            }
            let jwks = self
                .jwks_override
                .clone()
                .ok_or_else(|| ProviderError::Config {
                    key: "oidc_jwks_url",
                    message: "is required with skip_oidc_discovery".into(),
                })?;
            (issuer, jwks)
        } else {
            let meta = discovery::fetch(client, &self.configured).await?;
            if !self.skip_issuer_verification
                && !discovery::issuer_matches(&self.configured, &meta.issuer)
            {
                return Err(ProviderError::IssuerMismatch {
                    configured: self.configured.to_string(),
                    discovered: meta.issuer,
                });
            }
            let jwks = match (&self.jwks_override, meta.jwks_uri.as_deref()) {
                (Some(u), _) => u.clone(),
                (None, Some(raw)) => {
                    let u = url::Url::parse(raw).map_err(|e| ProviderError::InvalidResponse {
                        endpoint: super::Endpoint::Discovery,
                        detail: format!("jwks_uri {raw:?} is not a URL: {e}"),
                    })?;
                    if !matches!(u.scheme(), "https" | "http") {
                        return Err(ProviderError::InvalidResponse {
                            endpoint: super::Endpoint::Discovery,
                            detail: format!("jwks_uri {raw:?} is not an http(s) URL"),
                        });
                    }
                    u
                }
                (None, None) => {
                    return Err(ProviderError::InvalidResponse {
                        endpoint: super::Endpoint::Discovery,
                        detail: "the discovery document has no jwks_uri".into(),
                    })
                }
            };
            (meta.issuer, jwks)
        };
        let jwks = JwksCache::new(jwks_url, self.refetch_interval);
        jwks.fetch(client).await?;
        // A concurrent discovery may have finished first; both results are equivalent.
        let _ = self.ready.set(IssuerReady { issuer, jwks });
        self.ready.get().ok_or(ProviderError::NotReady)
    }

    /// The discovered issuer, discovering now unless an attempt started less than
    /// [`DISCOVERY_RETRY`] ago (so a dead issuer is not hammered by every request).
    async fn ready(&self, client: &reqwest::Client) -> Result<&IssuerReady, ProviderError> {
        if let Some(r) = self.ready.get() {
            return Ok(r);
        }
        let mut last = self.attempt.lock().await;
        if let Some(r) = self.ready.get() {
            return Ok(r);
        }
        let now = tokio::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < DISCOVERY_RETRY) {
            return Err(ProviderError::NotReady);
        }
        *last = Some(now);
        self.discover(client).await
    }
}

/// Verifies bearer JWTs against the trusted issuers. Built once; shared read-only.
pub struct JwtVerifier {
    issuers: Vec<IssuerKeys>,
    client: reqwest::Client,
    names: ClaimNames,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

/// Every asymmetric algorithm authproxy implements: `none` and HS* are never accepted.
fn all_algorithms() -> Vec<Algorithm> {
    SUPPORTED_ALGORITHMS.iter().map(|(_, a)| *a).collect()
}

fn non_empty_or(s: &str, default: &str) -> String {
    if s.is_empty() {
        default.to_owned()
    } else {
        s.to_owned()
    }
}

impl JwtVerifier {
    /// The verifier for the provider's issuer (when `include_provider`: audiences `client_id`
    /// and `oidc_extra_audiences`, with its discovery overrides) plus `extra` issuers. Entries
    /// naming the same issuer are merged. No network I/O yet.
    pub fn new(
        cfg: &ProviderConfig,
        include_provider: bool,
        extra: &[TrustedIssuer],
    ) -> Result<Self, ProviderError> {
        let mut issuers: Vec<IssuerKeys> = Vec::new();
        if include_provider {
            let issuer = cfg
                .oidc_issuer_url
                .clone()
                .ok_or_else(|| ProviderError::Config {
                    key: "oidc_issuer_url",
                    message: "is required to verify bearer tokens of the provider".into(),
                })?;
            let mut audiences = vec![cfg.client_id.clone()];
            audiences.extend(cfg.oidc_extra_audiences.iter().cloned());
            let mut keys = IssuerKeys::new(issuer, audiences);
            keys.jwks_override = cfg.oidc_jwks_url.clone();
            keys.skip_discovery = cfg.skip_oidc_discovery;
            keys.skip_issuer_verification = cfg.insecure_oidc_skip_issuer_verification;
            keys.audience_claims = cfg.oidc_audience_claims.clone();
            if !cfg.oidc_enabled_signing_algs.is_empty() {
                keys.algorithms = SUPPORTED_ALGORITHMS
                    .iter()
                    .filter(|(n, _)| cfg.oidc_enabled_signing_algs.iter().any(|e| e == n))
                    .map(|(_, a)| *a)
                    .collect();
            }
            if cfg.skip_oidc_discovery && !cfg.oidc_public_key_files.is_empty() {
                keys.fixed_keys = Some(super::pubkeys::load(&cfg.oidc_public_key_files)?);
            }
            issuers.push(keys);
        }
        for t in extra {
            if t.audiences.iter().any(String::is_empty) || t.audiences.is_empty() {
                return Err(ProviderError::Config {
                    key: "extra_jwt_issuers",
                    message: format!("issuer {} has an empty audience", t.issuer),
                });
            }
            match issuers
                .iter_mut()
                .find(|k| discovery::issuer_matches(&k.configured, t.issuer.as_str()))
            {
                Some(k) => {
                    for a in &t.audiences {
                        if !k.audience_allowed(a) {
                            k.audiences.push(a.clone());
                        }
                    }
                }
                None => issuers.push(IssuerKeys::new(t.issuer.clone(), t.audiences.clone())),
            }
        }
        Ok(Self {
            issuers,
            client: IdpClient::new(cfg)?.metadata,
            names: ClaimNames {
                email: non_empty_or(&cfg.oidc_email_claim, "email"),
                groups: non_empty_or(&cfg.oidc_groups_claim, "groups"),
                user: non_empty_or(&cfg.user_id_claim, "sub"),
                allow_unverified_email: cfg.insecure_oidc_allow_unverified_email,
                extra: cfg.additional_claims.clone(),
            },
        })
    }

    /// Use another minimum interval between JWKS re-fetches (tests).
    #[cfg(test)]
    pub(crate) fn with_refetch_interval(mut self, d: Duration) -> Self {
        for k in &mut self.issuers {
            k.refetch_interval = d;
        }
        self
    }

    /// The configured issuer URLs, in order (for logs).
    pub fn issuer_urls(&self) -> Vec<String> {
        self.issuers
            .iter()
            .map(|k| k.configured.to_string())
            .collect()
    }

    /// Discover every issuer now; the first error (all are attempted).
    pub async fn discover_all(&self) -> Result<(), ProviderError> {
        let mut first = None;
        for k in &self.issuers {
            if let Err(e) = k.discover(&self.client).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Discover every issuer in the background, each retrying with backoff until it
    /// succeeds. Tokens that arrive earlier trigger an on-demand attempt.
    pub fn spawn_discovery(self: &std::sync::Arc<Self>) {
        for i in 0..self.issuers.len() {
            let me = std::sync::Arc::clone(self);
            tokio::spawn(async move {
                let mut attempt = 0u32;
                let Some(k) = me.issuers.get(i) else { return };
                loop {
                    match k.discover(&me.client).await {
                        Ok(_) => {
                            tracing::info!(issuer = %k.configured, "bearer token issuer discovered");
                            return;
                        }
                        Err(e) => {
                            let delay = super::discovery_backoff(attempt);
                            tracing::warn!(issuer = %k.configured, attempt, retry_in = ?delay, error = %e,
                                "bearer token issuer discovery failed; its tokens are refused until it succeeds");
                            tokio::time::sleep(delay).await;
                            attempt = attempt.saturating_add(1);
                        }
                    }
                }
            });
        }
    }

    /// Verify a compact JWT bearer token at `now`.
    pub async fn verify(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<BearerIdentity, BearerError> {
        let jws = Jws::parse(token)?;
        // Before any key lookup: `none` and HS* never get near a verifier.
        let alg = jws.algorithm(&all_algorithms())?;
        let iss = match jws.claims.get("iss") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(TokenCheck::MissingClaim("iss").into())
            }
            Some(_) => {
                return Err(TokenCheck::ClaimType {
                    claim: "iss",
                    expected: "a string",
                }
                .into())
            }
        };
        let keys = self
            .issuers
            .iter()
            .find(|k| k.names(&iss))
            .ok_or_else(|| BearerError::UnknownIssuer(iss.clone()))?;
        // The provider's issuer may be restricted to some algorithms (oidc_enabled_signing_algs).
        if !keys.algorithms.contains(&alg) {
            jws.algorithm(&keys.algorithms)?;
        }
        let ready = keys
            .ready(&self.client)
            .await
            .map_err(BearerError::Unavailable)?;
        // The unverified `iss` only chose the keys; it must be exactly the discovered issuer.
        if ready.issuer != iss {
            return Err(TokenCheck::Issuer {
                expected: ready.issuer.clone(),
                found: iss,
            }
            .into());
        }
        match ready
            .jwks
            .verify(&self.client, &jws, alg, ProviderError::InvalidIdToken)
            .await
        {
            Ok(()) => {}
            Err(ProviderError::InvalidIdToken(check)) => return Err(check.into()),
            Err(e) => return Err(BearerError::Unavailable(e)),
        }
        let claims = jws.into_claims();
        check_claims(&claims, keys, now)?;
        let exp = claims::numeric_date(&claims, "exp")?.unwrap_or_default();
        let expires_at = if exp >= 0 {
            UNIX_EPOCH + Duration::from_secs(exp.unsigned_abs())
        } else {
            UNIX_EPOCH
        };
        Ok(BearerIdentity {
            claims: self.identity(&claims)?,
            issuer: ready.issuer.clone(),
            expires_at,
        })
    }

    /// The identity claims, named as for logins. No userinfo call: a bearer token must carry
    /// its identity. Like oauth2-proxy's bearer sessions, the email falls back to `sub`.
    fn identity(&self, c: &Map<String, Value>) -> Result<Claims, BearerError> {
        let subject = match c.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(TokenCheck::MissingClaim("sub").into()),
        };
        let email = claims::lookup(c, &self.names.email)
            .map(claims::to_string)
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| subject.clone());
        // `email_verified` must be present AND false to refuse, as for logins.
        if self.names.email == "email"
            && !self.names.allow_unverified_email
            && claims::lookup(c, "email_verified").is_some_and(|v| !claims::to_bool(v))
        {
            return Err(BearerError::Invalid(TokenCheck::ClaimType {
                claim: "email_verified",
                expected: "true (the email address is not verified)",
            }));
        }
        let user = claims::lookup(c, &self.names.user)
            .map(claims::to_string)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| subject.clone());
        Ok(Claims {
            user,
            email,
            groups: claims::lookup(c, &self.names.groups)
                .map(claims::to_string_list)
                .unwrap_or_default(),
            preferred_username: claims::lookup(c, "preferred_username")
                .map(claims::to_string)
                .filter(|p| !p.is_empty()),
            extra: super::oidc::extra_claims(&self.names.extra, c, None),
            subject,
        })
    }
}

/// Audience and times of a token whose signature and issuer are verified.
fn check_claims(
    c: &Map<String, Value>,
    keys: &IssuerKeys,
    now: SystemTime,
) -> Result<(), TokenCheck> {
    let bad_type = TokenCheck::ClaimType {
        claim: "aud",
        expected: "a string or an array of strings",
    };
    // oidc_audience_claims: the first listed claim the token has holds its audience.
    let name = match keys.audience_claims.as_slice() {
        [] => "aud",
        list => list
            .iter()
            .map(String::as_str)
            .find(|n| c.get(*n).is_some_and(|v| !v.is_null()))
            .ok_or_else(|| TokenCheck::MissingAudienceClaims(list.to_vec()))?,
    };
    let audiences: Vec<&str> = match c.get(name) {
        None | Some(Value::Null) => return Err(TokenCheck::MissingClaim("aud")),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .ok_or(bad_type)?,
        Some(_) => return Err(bad_type),
    };
    if !audiences.iter().any(|a| keys.audience_allowed(a)) {
        return Err(TokenCheck::Audience {
            claim: name.to_owned(),
            found: audiences.iter().map(|a| (*a).to_owned()).collect(),
        });
    }
    claims::check_time_claims(c, now, false)
}

#[cfg(test)]
#[path = "bearer_tests.rs"]
mod tests;
