//! JSON Web Key Sets and JWS signature verification.
//!
//! The current key set sits behind a `std::sync::RwLock<Arc<KeySet>>` that is held only to
//! clone the `Arc`, so verification never waits on I/O or on another verification. A token
//! with an unknown `kid` triggers a re-fetch on a separate `tokio::sync::Mutex` path: one
//! fetch at a time, at most once per [`REFETCH_MIN_INTERVAL`], and tasks that queued behind
//! a fetch reuse its result instead of fetching again.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::error::{Endpoint, ProviderError, TokenCheck};
use super::http;

/// Minimum time between two JWKS fetches triggered by unknown keys.
pub(crate) const REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(10);

/// Every signing algorithm authproxy accepts, by JOSE name. `none` and the HMAC family are
/// absent on purpose: an id_token must be signed with the IdP's private key, and HS* would
/// let anyone who knows the client secret (or a JWKS `oct` key) forge tokens.
pub(crate) const SUPPORTED_ALGORITHMS: [(&str, Algorithm); 9] = [
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

fn alg_name(alg: Algorithm) -> &'static str {
    SUPPORTED_ALGORITHMS
        .iter()
        .find(|(_, a)| *a == alg)
        .map_or("?", |(n, _)| n)
}

/// A compact JWS split into its parts, header and payload decoded.
#[derive(Debug)]
pub(crate) struct Jws<'a> {
    pub alg: String,
    pub kid: Option<String>,
    /// The JOSE `typ` header, when it is a string.
    pub typ: Option<String>,
    crit: Option<Value>,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    signing_input: &'a str,
    signature: &'a str,
    pub claims: Map<String, Value>,
}

impl<'a> Jws<'a> {
    /// Split and decode a compact JWS whose payload is a JSON object.
    pub fn parse(token: &'a str) -> Result<Self, TokenCheck> {
        let malformed = |m: &str| TokenCheck::Malformed(m.to_owned());
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| malformed("expected three dot-separated parts"))?;
        let (header_b64, payload_b64) = signing_input
            .split_once('.')
            .ok_or_else(|| malformed("expected three dot-separated parts"))?;
        if payload_b64.contains('.') {
            return Err(malformed("expected three dot-separated parts, found more"));
        }
        let header: Map<String, Value> = decode_part(header_b64, "header")?;
        let claims: Map<String, Value> = decode_part(payload_b64, "payload")?;
        let alg = match header.get("alg") {
            Some(Value::String(a)) => a.clone(),
            _ => return Err(malformed("the header has no alg")),
        };
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(malformed("the header's kid is not a string")),
        };
        let typ = header.get("typ").and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            alg,
            kid,
            typ,
            crit: header.get("crit").cloned(),
            signing_input,
            signature,
            claims,
        })
    }

    /// The payload claims (call after verification).
    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }

    /// Check the header against the accepted algorithms; the algorithm to verify with.
    pub fn algorithm(&self, allowed: &[Algorithm]) -> Result<Algorithm, TokenCheck> {
        // RFC 7515 4.1.11: a recipient MUST reject a JWS whose `crit` it does not understand;
        // authproxy understands no extension.
        if let Some(crit) = &self.crit {
            return Err(TokenCheck::CriticalHeader(crit.to_string()));
        }
        SUPPORTED_ALGORITHMS
            .iter()
            .find(|(name, alg)| *name == self.alg && allowed.contains(alg))
            .map(|(_, alg)| *alg)
            .ok_or_else(|| TokenCheck::Algorithm {
                alg: self.alg.clone(),
                allowed: allowed
                    .iter()
                    .map(|a| alg_name(*a))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

fn decode_part<T: serde::de::DeserializeOwned>(b64: &str, what: &str) -> Result<T, TokenCheck> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| TokenCheck::Malformed(format!("the {what} is not base64url")))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| TokenCheck::Malformed(format!("the {what} is not a JSON object")))
}

/// What kind of public key a JWK holds, to match it with an algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::P256 => alg == ES256,
            KeyKind::P384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
        }
    }
}

struct VerifyKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it pins one (then no other algorithm may use the key).
    alg: Option<Algorithm>,
    kind: KeyKind,
    key: DecodingKey,
}

impl VerifyKey {
    fn fits(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// The usable signing keys of one JWKS document.
pub(crate) struct KeySet {
    keys: Vec<VerifyKey>,
    /// Keys from files (`oidc_public_key_files`) carry no id: a token's `kid` is not looked
    /// up, every key that fits is tried (go-oidc's static key set does the same).
    ignore_kid: bool,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| k.kid.as_deref()).collect();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

/// Outcome of looking for a key and checking a signature with it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SignatureOutcome {
    Verified,
    /// The `kid` is not in this set: a re-fetch may find it (key rotation).
    UnknownKid,
    /// No key of this set can verify this algorithm (and the token names no kid).
    NoUsableKey,
    /// A key was tried and the signature does not verify.
    BadSignature,
}

impl KeySet {
    /// An empty set (before the first fetch).
    pub fn empty() -> Self {
        Self {
            keys: Vec::new(),
            ignore_kid: false,
        }
    }

    /// Parse a JWKS document. Keys that are not signature keys authproxy can use (`oct`,
    /// `use: enc`, unknown types or curves) are skipped; the number skipped is returned.
    pub fn from_document(doc: &Value) -> Result<(Self, usize), String> {
        let Some(Value::Array(entries)) = doc.get("keys") else {
            return Err("the document has no \"keys\" array".into());
        };
        let mut keys = Vec::with_capacity(entries.len());
        let mut skipped = 0;
        for entry in entries {
            match serde_json::from_value::<Jwk>(entry.clone())
                .ok()
                .and_then(|jwk| VerifyKey::from_jwk(&jwk))
            {
                Some(k) => keys.push(k),
                None => skipped += 1,
            }
        }
        Ok((
            Self {
                keys,
                ignore_kid: false,
            },
            skipped,
        ))
    }

    /// A set of keys without ids or pinned algorithms (`oidc_public_key_files`): each is
    /// tried with any algorithm its type fits.
    pub fn from_public_keys(keys: Vec<(KeyKind, DecodingKey)>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|(kind, key)| VerifyKey {
                    kid: None,
                    alg: None,
                    kind,
                    key,
                })
                .collect(),
            ignore_kid: true,
        }
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Find the key(s) for this token and check its signature.
    pub fn verify(&self, jws: &Jws<'_>, alg: Algorithm) -> SignatureOutcome {
        let candidates: Vec<&VerifyKey> = match &jws.kid {
            Some(kid) if !self.ignore_kid => {
                let named: Vec<&VerifyKey> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                    .collect();
                if named.is_empty() {
                    return SignatureOutcome::UnknownKid;
                }
                named.into_iter().filter(|k| k.fits(alg)).collect()
            }
            _ => self.keys.iter().filter(|k| k.fits(alg)).collect(),
        };
        if candidates.is_empty() {
            return SignatureOutcome::NoUsableKey;
        }
        let ok = candidates.iter().any(|k| {
            jsonwebtoken::crypto::verify(jws.signature, jws.signing_input.as_bytes(), &k.key, alg)
                .unwrap_or(false)
        });
        if ok {
            SignatureOutcome::Verified
        } else {
            SignatureOutcome::BadSignature
        }
    }
}

impl VerifyKey {
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        // A key published for encryption must not verify signatures (RFC 7517 4.2).
        if matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))
        ) {
            return None;
        }
        if let Some(ops) = &jwk.common.key_operations {
            if !ops
                .iter()
                .any(|op| matches!(op, jsonwebtoken::jwk::KeyOperations::Verify))
            {
                return None;
            }
        }
        let alg = match jwk.common.key_algorithm {
            None => None,
            Some(ka) => Some(supported_key_algorithm(ka)?),
        };
        let (kind, key) = match &jwk.algorithm {
            AlgorithmParameters::RSA(p) => (
                KeyKind::Rsa,
                DecodingKey::from_rsa_components(&p.n, &p.e).ok()?,
            ),
            AlgorithmParameters::EllipticCurve(p) => {
                let kind = match p.curve {
                    EllipticCurve::P256 => KeyKind::P256,
                    EllipticCurve::P384 => KeyKind::P384,
                    _ => return None,
                };
                (kind, DecodingKey::from_ec_components(&p.x, &p.y).ok()?)
            }
            AlgorithmParameters::OctetKeyPair(p) => {
                if p.curve != EllipticCurve::Ed25519 {
                    return None;
                }
                (
                    KeyKind::Ed25519,
                    DecodingKey::from_ed_components(&p.x).ok()?,
                )
            }
            // Symmetric keys never verify id_tokens (see SUPPORTED_ALGORITHMS).
            AlgorithmParameters::OctetKey(_) => return None,
        };
        if alg.is_some_and(|a| !kind.fits(a)) {
            return None;
        }
        Some(Self {
            kid: jwk.common.key_id.clone(),
            alg,
            kind,
            key,
        })
    }
}

fn supported_key_algorithm(ka: KeyAlgorithm) -> Option<Algorithm> {
    let alg = match ka {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    };
    Some(alg)
}

/// Verify a compact JWS against a JWKS document with no network I/O: the same parser,
/// algorithm allow-list (asymmetric only: never `none` or HS*), `crit` refusal, key choice by
/// `kid` and signature check that id_tokens and bearer tokens go through. Returns the payload
/// claims once the signature verifies. Issuer, audience, times and nonce are NOT checked here
/// (they are policy of the caller). Public for the fuzz tests (tests/fuzz/jwt.rs) and offline
/// checks of a token against a saved key set.
pub fn verify_jws_offline(token: &str, jwks: &Value) -> Result<Map<String, Value>, TokenCheck> {
    let jws = Jws::parse(token)?;
    let all: Vec<Algorithm> = SUPPORTED_ALGORITHMS.iter().map(|(_, a)| *a).collect();
    let alg = jws.algorithm(&all)?;
    let no_key = || TokenCheck::NoUsableKey {
        alg: alg_name(alg).to_owned(),
    };
    let (set, _) = KeySet::from_document(jwks).map_err(|_| no_key())?;
    match set.verify(&jws, alg) {
        SignatureOutcome::Verified => Ok(jws.into_claims()),
        SignatureOutcome::UnknownKid => Err(TokenCheck::UnknownKeyId {
            kid: jws.kid.clone().unwrap_or_default(),
        }),
        SignatureOutcome::NoUsableKey => Err(no_key()),
        SignatureOutcome::BadSignature => Err(TokenCheck::Signature),
    }
}

/// The provider's key set, fetched from `jwks_uri` and re-fetched on unknown keys; or a fixed
/// set (`oidc_public_key_files`) that is never fetched.
pub(crate) struct JwksCache {
    /// `None`: a fixed set.
    url: Option<url::Url>,
    current: RwLock<Arc<KeySet>>,
    /// When the last fetch started; only the re-fetch path takes this lock.
    last_fetch: tokio::sync::Mutex<Option<tokio::time::Instant>>,
    min_interval: Duration,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url.as_ref().map(url::Url::as_str))
            .field("keys", &self.current())
            .finish()
    }
}

impl JwksCache {
    pub fn new(url: url::Url, min_interval: Duration) -> Self {
        Self {
            url: Some(url),
            current: RwLock::new(Arc::new(KeySet::empty())),
            last_fetch: tokio::sync::Mutex::new(None),
            min_interval,
        }
    }

    /// A fixed key set: fetches and re-fetches return it unchanged.
    pub fn fixed(set: Arc<KeySet>) -> Self {
        Self {
            url: None,
            current: RwLock::new(set),
            last_fetch: tokio::sync::Mutex::new(None),
            min_interval: Duration::ZERO,
        }
    }

    /// The current key set (a cheap `Arc` clone; the lock is held only for the clone).
    pub fn current(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            // A poisoned lock still holds a complete Arc: writers only swap it.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn install(&self, set: KeySet) -> Arc<KeySet> {
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::clone(&set),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&set),
        }
        set
    }

    /// Fetch the key set now (startup). This fetch does not count towards the re-fetch
    /// rate limit: a key rotated just after startup is still picked up by the first token
    /// that uses it.
    pub async fn fetch(&self, client: &reqwest::Client) -> Result<Arc<KeySet>, ProviderError> {
        let _serialised = self.last_fetch.lock().await;
        self.fetch_and_install(client).await
    }

    /// Re-fetch because `seen` lacked a key. Returns the newer set, or `None` when a fetch
    /// happened less than `min_interval` ago and `seen` is still current.
    pub async fn refetch(
        &self,
        client: &reqwest::Client,
        seen: &Arc<KeySet>,
    ) -> Result<Option<Arc<KeySet>>, ProviderError> {
        if self.url.is_none() {
            return Ok(None);
        }
        let mut last = self.last_fetch.lock().await;
        let now_set = self.current();
        // Another task fetched while this one waited for the lock: use its result.
        if !Arc::ptr_eq(&now_set, seen) {
            return Ok(Some(now_set));
        }
        let now = tokio::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < self.min_interval) {
            return Ok(None);
        }
        // Record the attempt before fetching so a failing JWKS endpoint is not hammered.
        *last = Some(now);
        self.fetch_and_install(client).await.map(Some)
    }

    async fn fetch_and_install(
        &self,
        client: &reqwest::Client,
    ) -> Result<Arc<KeySet>, ProviderError> {
        let Some(url) = &self.url else {
            return Ok(self.current());
        };
        let doc: Value = http::get_json(client, Endpoint::Jwks, url).await?;
        let (set, skipped) =
            KeySet::from_document(&doc).map_err(|detail| ProviderError::InvalidResponse {
                endpoint: Endpoint::Jwks,
                detail,
            })?;
        if set.len() == 0 {
            return Err(ProviderError::InvalidResponse {
                endpoint: Endpoint::Jwks,
                detail: format!(
                    "no usable signing key ({skipped} keys skipped: only RSA, P-256, P-384 \
                     and Ed25519 signature keys are used)"
                ),
            });
        }
        if skipped > 0 {
            tracing::debug!(skipped, url = %url, "JWKS keys authproxy cannot use were skipped");
        }
        Ok(self.install(set))
    }

    /// Verify the signature of `jws` with algorithm `alg`, re-fetching the key set once when
    /// the key is not known yet. `wrap` turns a failed check into the caller's error kind.
    pub async fn verify(
        &self,
        client: &reqwest::Client,
        jws: &Jws<'_>,
        alg: Algorithm,
        wrap: fn(TokenCheck) -> ProviderError,
    ) -> Result<(), ProviderError> {
        let set = self.current();
        let first = set.verify(jws, alg);
        let outcome = match first {
            SignatureOutcome::Verified => return Ok(()),
            // A known kid whose signature fails is a bad token, not a rotation.
            SignatureOutcome::BadSignature if jws.kid.is_some() => first,
            _ => match self.refetch(client, &set).await? {
                Some(newer) => newer.verify(jws, alg),
                None => first,
            },
        };
        match outcome {
            SignatureOutcome::Verified => Ok(()),
            SignatureOutcome::UnknownKid => Err(wrap(TokenCheck::UnknownKeyId {
                kid: jws.kid.clone().unwrap_or_default(),
            })),
            SignatureOutcome::NoUsableKey => Err(wrap(TokenCheck::NoUsableKey {
                alg: alg_name(alg).to_owned(),
            })),
            SignatureOutcome::BadSignature => Err(wrap(TokenCheck::Signature)),
        }
    }
}

#[cfg(test)]
#[path = "jwks_tests.rs"]
mod tests;
