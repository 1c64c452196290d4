//! The signed identity assertion (authproxy extension; docs/identity-assertion.md).
//!
//! Plain identity headers are only as trustworthy as the network path: an app reachable
//! around the proxy believes any `X-Forwarded-Email`. With `pass_identity_assertion` the
//! proxy also sends a short-lived JWT it signs itself, which the app verifies against the
//! public keys at `{proxy_prefix}/jwks.json` (also `/.well-known/authproxy/jwks.json`):
//!
//! | claim | value |
//! |---|---|
//! | `iss` | the proxy's public URL: `identity_assertion_issuer`, else `redirect_url`'s `scheme://host`, else the request's `scheme://host` |
//! | `aud` | the app's host, as the client addressed it (`Host` / trusted `X-Forwarded-Host`, lower-case, with its port when it had one) |
//! | `sub` | the session's user (the email when there is no user id) |
//! | `email`, `groups`, `preferred_username` | the session's |
//! | `provider` | the id of the provider the session was signed in with |
//! | `iat`, `exp` | issue time and `iat + identity_assertion_lifetime` (5 minutes) |
//! | `jti` | a random id (128 bits) |
//!
//! The header names `alg` (ES256 or RS256) and `kid` (the key's RFC 7638 thumbprint).
//!
//! Cost: signing (ES256: tens of microseconds) must not be paid per request, so a session
//! reuses its assertion for (issuer, audience) for a fifth of the lifetime (an app therefore
//! always receives an assertion with at least four fifths of its lifetime left). The cache is
//! the session's own ([`crate::session::derived::MintedTokens`]), read lock-free.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;

use crate::config::assertion::IdentityAssertionConfig;
use crate::crypto::jws::JwsKey;
use crate::session::cache::VerifiedSession;
use crate::session::derived::Minted;

/// The JWKS paths: `{proxy_prefix}` + this, and this well-known path at the root.
pub const JWKS_SUFFIX: &str = "/jwks.json";
pub const WELL_KNOWN_JWKS: &str = "/.well-known/authproxy/jwks.json";

/// The signer and the published keys, built once.
pub struct Assertions {
    signer: JwsKey,
    /// `{"keys": [...]}`, rendered once.
    jwks: Bytes,
    lifetime: Duration,
    /// How long a session reuses one assertion.
    reuse: Duration,
    /// The configured issuer, or `redirect_url`'s origin; `None`: the request's origin.
    issuer: Option<String>,
}

impl std::fmt::Debug for Assertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertions")
            .field("kid", &self.signer.kid())
            .field("lifetime", &self.lifetime)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Who an assertion is about: a verified session and its provider's id.
pub struct Identity<'a> {
    pub session: &'a VerifiedSession,
    pub provider_id: &'a str,
}

impl Assertions {
    /// From the validated configuration. `redirect_url`: the proxy's public callback URL,
    /// whose origin is the issuer when `identity_assertion_issuer` is not set.
    pub fn new(
        cfg: &IdentityAssertionConfig,
        redirect_url: Option<&url::Url>,
    ) -> Result<Assertions, String> {
        let mut keys = JwsKey::all_from_pem(&cfg.key.pem.0).map_err(|e| {
            format!(
                "identity_assertion_key_file {}: {e}",
                cfg.key.path.display()
            )
        })?;
        let signer = keys.remove(0);
        if !signer.can_sign() || signer.algorithm() != cfg.algorithm {
            return Err(format!(
                "identity_assertion_key_file {}: the first key cannot sign {}",
                cfg.key.path.display(),
                cfg.algorithm.as_str()
            ));
        }
        let mut published = vec![signer.public_jwk().clone()];
        let mut kids = vec![signer.kid().to_owned()];
        let previous = cfg.previous.iter().map(|f| {
            JwsKey::all_from_pem(&f.pem.0).map_err(|e| {
                format!(
                    "identity_assertion_previous_key_files {}: {e}",
                    f.path.display()
                )
            })
        });
        for key in keys
            .into_iter()
            .map(Ok)
            .chain(previous.flat_map(|r| match r {
                Ok(v) => v.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }))
        {
            let key = key?;
            // The same key listed twice is published once.
            if !kids.iter().any(|k| k == key.kid()) {
                kids.push(key.kid().to_owned());
                published.push(key.public_jwk().clone());
            }
        }
        let jwks = serde_json::json!({ "keys": published }).to_string();
        let issuer = cfg
            .issuer
            .clone()
            .or_else(|| redirect_url.map(|u| u.origin().ascii_serialization()));
        Ok(Assertions {
            signer,
            jwks: Bytes::from(jwks),
            lifetime: cfg.lifetime,
            reuse: cfg.lifetime / 5,
            issuer,
        })
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Bytes {
        self.jwks.clone()
    }

    /// The signing key's id.
    pub fn kid(&self) -> &str {
        self.signer.kid()
    }

    /// The assertion for `who`, addressed to `host`, requested over `scheme` (`http` or
    /// `https`), as a header value with `prefix` prepended: the session's cached one when it is
    /// young enough, else a new one (`None` only if signing fails or `prefix` is not a legal
    /// header value; both are logged).
    pub fn header_value(
        &self,
        who: &Identity<'_>,
        scheme: &str,
        host: &str,
        prefix: &str,
        now: SystemTime,
    ) -> Option<HeaderValue> {
        let audience: Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        };
        let issuer_parts: [&str; 3] = match &self.issuer {
            Some(i) => [i.as_str(), "", ""],
            None => [scheme, "://", &audience],
        };
        let token = match who
            .session
            .minted
            .get(&issuer_parts, &audience, now, self.reuse)
        {
            Some(t) => t,
            None => {
                let issuer = issuer_parts.concat();
                let token = self.mint(who, &issuer, &audience, now)?;
                who.session.minted.put(Minted {
                    issuer: issuer.into(),
                    audience: audience.as_ref().into(),
                    minted_at: now,
                    value: token.clone(),
                });
                token
            }
        };
        if prefix.is_empty() {
            return Some(token);
        }
        let mut v = prefix.as_bytes().to_vec();
        v.extend_from_slice(token.as_bytes());
        match HeaderValue::from_bytes(&v) {
            Ok(mut v) => {
                v.set_sensitive(true);
                Some(v)
            }
            Err(_) => {
                tracing::warn!("identityAssertionSource prefix is not a legal header value; assertion not sent");
                None
            }
        }
    }

    /// Sign a new assertion.
    pub fn mint(
        &self,
        who: &Identity<'_>,
        issuer: &str,
        audience: &str,
        now: SystemTime,
    ) -> Option<HeaderValue> {
        let s = &who.session.session;
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let sub = if s.user.is_empty() { &s.email } else { &s.user };
        let claims = serde_json::json!({
            "iss": issuer,
            "aud": audience,
            "sub": sub,
            "email": s.email,
            "groups": s.groups,
            "preferred_username": s.preferred_username,
            "provider": who.provider_id,
            "iat": iat,
            "exp": iat + self.lifetime.as_secs(),
            "jti": crate::crypto::random_urlsafe(16),
        });
        let signed = self
            .signer
            .sign_jwt(claims.to_string().as_bytes())
            .map_err(|e| tracing::error!(error = %e, "identity assertion not signed"))
            .ok()?;
        let mut v = HeaderValue::from_str(&signed).ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

#[cfg(test)]
mod tests;
