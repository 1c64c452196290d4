//! The CSRF cookie of a login in progress, byte-compatible with oauth2-proxy v7 (pkg/cookies/csrf.go):
//!
//! ```text
//! name  = <cookie_name>_csrf            (or <cookie_name>_<8 chars of the state hash>_csrf
//!                                        with cookie_csrf_per_request)
//! value = signed(name, IV ++ AES-CFB( msgpack{ s: bin state nonce, n: bin OIDC nonce,
//!                                                cv: str PKCE verifier } ))     (no LZ4)
//! ```
//!
//! The provider only ever sees hashes of the two nonces (`b64url_nopad(SHA-256(nonce))`); the
//! raw nonces stay in this encrypted cookie, so a state or nonce echoed back can be checked
//! against the browser that started the login.

use std::fmt;
use std::time::{Duration, SystemTime};

use rmpv::{Utf8StringRef, ValueRef};

use super::msgpack::{decode_bytes, decode_str, read_map, ref_str};
use super::{check_timestamp, unix_secs, SessionError};
use crate::crypto::{self, CfbCipher, CookieSecret, ValueSigner};

/// Length of the raw state and OIDC nonces.
pub const NONCE_LEN: usize = 32;
/// Random bytes behind a PKCE code verifier (128 base64url characters, RFC 7636's maximum).
pub const VERIFIER_BYTES: usize = 96;
/// Characters of the state hash in a per-request CSRF cookie name (oauth2-proxy: 8).
const PER_REQUEST_CHARS: usize = 8;

/// The secrets of one login round trip.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken {
    /// Raw state nonce; the `state` parameter carries (a binding to) its hash.
    pub state_nonce: [u8; NONCE_LEN],
    /// Raw OIDC nonce; the authorization request carries its hash, which returns in the id_token.
    pub oidc_nonce: [u8; NONCE_LEN],
    /// PKCE code verifier (empty when the login did not use PKCE).
    pub code_verifier: String,
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken([redacted])")
    }
}

/// `b64url_nopad(SHA-256(raw))`, the hash oauth2-proxy v7.9+ sends for nonces.
pub fn hash_nonce(raw: &[u8]) -> String {
    crypto::b64url_nopad(&crypto::sha256(raw))
}

/// Constant-time check of a hash echoed by the provider (or carried in an oauth2-proxy state)
/// against the raw nonce. Accepts SHA-256 and, for logins started by oauth2-proxy before v7.9,
/// BLAKE2b-256.
pub fn check_nonce_hash(raw: &[u8], hashed: &str) -> bool {
    let sha = crypto::ct_eq(hash_nonce(raw).as_bytes(), hashed.as_bytes());
    let blake = crypto::ct_eq(
        crypto::b64url_nopad(&crypto::blake2b_256(raw)).as_bytes(),
        hashed.as_bytes(),
    );
    sha | blake
}

impl CsrfToken {
    /// Fresh random nonces and a fresh PKCE verifier.
    pub fn generate() -> Self {
        Self {
            state_nonce: crypto::random_bytes(),
            oidc_nonce: crypto::random_bytes(),
            code_verifier: crypto::b64url_nopad(&crypto::random_bytes::<VERIFIER_BYTES>()),
        }
    }

    /// The state nonce's hash (what the state binds to).
    pub fn hashed_state(&self) -> String {
        hash_nonce(&self.state_nonce)
    }

    /// The OIDC `nonce` parameter to send; the id_token's `nonce` claim must equal it.
    pub fn hashed_nonce(&self) -> String {
        hash_nonce(&self.oidc_nonce)
    }

    /// Does `hashed` (from a state) belong to this cookie's state nonce? Constant time.
    pub fn check_state_hash(&self, hashed: &str) -> bool {
        check_nonce_hash(&self.state_nonce, hashed)
    }

    /// Does an id_token `nonce` claim belong to this cookie's OIDC nonce? Constant time.
    pub fn check_nonce(&self, claim: &str) -> bool {
        check_nonce_hash(&self.oidc_nonce, claim)
    }

    /// PKCE S256 challenge: `b64url_nopad(SHA-256(verifier))`; `None` without a verifier.
    pub fn code_challenge_s256(&self) -> Option<String> {
        (!self.code_verifier.is_empty())
            .then(|| crypto::b64url_nopad(&crypto::sha256(self.code_verifier.as_bytes())))
    }

    /// This token's CSRF cookie name: `<base>_csrf`, or `<base>_<first 8 chars of
    /// hashed_state>_csrf` when CSRF cookies are per request.
    pub fn cookie_name(&self, base: &str, per_request: bool) -> String {
        csrf_cookie_name(base, per_request.then(|| self.hashed_state()).as_deref())
    }

    /// The signed cookie value (timestamp `now`) for the cookie called `cookie_name`.
    pub fn encode(
        &self,
        secret: &CookieSecret,
        cookie_name: &str,
        now: SystemTime,
    ) -> Result<String, SessionError> {
        let key = |k: &'static str| ValueRef::String(Utf8StringRef::from(k));
        let mut map = vec![
            (key("s"), ValueRef::Binary(&self.state_nonce)),
            (key("n"), ValueRef::Binary(&self.oidc_nonce)),
        ];
        if !self.code_verifier.is_empty() {
            map.push((
                key("cv"),
                ValueRef::String(Utf8StringRef::from(self.code_verifier.as_str())),
            ));
        }
        let mut packed = Vec::with_capacity(128);
        rmpv::encode::write_value_ref(&mut packed, &ValueRef::Map(map))
            .map_err(|e| SessionError::Encode(format!("msgpack: {e}")))?;
        let payload = CfbCipher::from_secret(secret).encrypt(&packed);
        Ok(ValueSigner::new(secret).sign(cookie_name, &payload, unix_secs(now)))
    }

    /// [`CsrfToken::decode`] under each of `secrets` in turn (the current one first, then
    /// previous ones of a rotation); the current secret's error when none opens it.
    pub fn decode_any(
        secrets: &[CookieSecret],
        cookie_name: &str,
        value: &str,
        now: SystemTime,
        max_age: Duration,
    ) -> Result<Self, SessionError> {
        let mut first = None;
        for secret in secrets {
            match Self::decode(secret, cookie_name, value, now, max_age) {
                Ok(t) => return Ok(t),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or(SessionError::BadSignature))
    }

    /// Verify (MAC, then `now - max_age < ts < now + 5 min`; `max_age` is `cookie_csrf_expire`),
    /// decrypt and decode a CSRF cookie written by authproxy or oauth2-proxy.
    pub fn decode(
        secret: &CookieSecret,
        cookie_name: &str,
        value: &str,
        now: SystemTime,
        max_age: Duration,
    ) -> Result<Self, SessionError> {
        let parts = ValueSigner::new(secret).verify(cookie_name, value)?;
        check_timestamp(parts.timestamp, now, max_age)?;
        let mut raw = Vec::new();
        crypto::b64url_padded_decode_into(parts.payload_b64, &mut raw)
            .map_err(|_| SessionError::PayloadNotBase64)?;
        let len = raw.len();
        let packed = CfbCipher::from_secret(secret)
            .decrypt_in_place(&mut raw)
            .map_err(|_| SessionError::DecryptFailed(len))?;
        let mut state = None;
        let mut nonce = None;
        let mut code_verifier = String::new();
        for (k, v) in read_map(packed)? {
            match ref_str(&k) {
                Some("s") => state = Some(fixed(decode_bytes(&v, "s is not bytes")?)?),
                Some("n") => nonce = Some(fixed(decode_bytes(&v, "n is not bytes")?)?),
                Some("cv") => code_verifier = decode_str(&v, "cv is not a string")?,
                Some(_) => {}
                None => return Err(SessionError::Decode("map key is not a string")),
            }
        }
        Ok(Self {
            state_nonce: state.ok_or(SessionError::Decode("CSRF cookie has no state nonce"))?,
            oidc_nonce: nonce.ok_or(SessionError::Decode("CSRF cookie has no OIDC nonce"))?,
            code_verifier,
        })
    }
}

fn fixed(v: Vec<u8>) -> Result<[u8; NONCE_LEN], SessionError> {
    v.try_into()
        .map_err(|_| SessionError::Decode("CSRF nonce is not 32 bytes"))
}

/// CSRF cookie name from a state hash (or an oauth2-proxy `state` parameter, which starts with
/// it): `<base>_csrf`, or `<base>_<first 8 chars>_csrf` when `state_hash` is given and long
/// enough (oauth2-proxy's `cookie_csrf_per_request` naming).
pub fn csrf_cookie_name(base: &str, state_hash: Option<&str>) -> String {
    match state_hash.and_then(|h| h.get(..PER_REQUEST_CHARS)) {
        Some(prefix) => format!("{base}_{prefix}_csrf"),
        None => format!("{base}_csrf"),
    }
}

/// `cookie_csrf_per_request_limit`, as oauth2-proxy's `ClearExtraCsrfCookies` decides it when a
/// login starts: the cookies named `<base>_…_csrf` in the request (its fixed-name CSRF cookie
/// included) are counted; when there are more than `limit`, those that decode (valid MAC,
/// unexpired, readable) are ordered by their signed time (stable, oldest first) and the oldest
/// `decoded - limit` are returned, to be expired. The cookie this login sets comes on top, as in
/// oauth2-proxy. Returns names, each once.
pub fn excess_csrf_cookies<'a>(
    cookies: impl IntoIterator<Item = (&'a str, &'a str)>,
    base: &str,
    limit: usize,
    secret: &CookieSecret,
    now: SystemTime,
    max_age: Duration,
) -> Vec<&'a str> {
    if limit == 0 {
        return Vec::new();
    }
    let prefix = format!("{base}_");
    let ours: Vec<(&str, &str)> = cookies
        .into_iter()
        .filter(|(n, _)| n.starts_with(&prefix) && n.ends_with("_csrf"))
        .collect();
    if ours.len() <= limit {
        return Vec::new();
    }
    let signer = ValueSigner::new(secret);
    let mut decoded: Vec<(i64, &str)> = ours
        .into_iter()
        .filter(|(name, value)| CsrfToken::decode(secret, name, value, now, max_age).is_ok())
        .filter_map(|(name, value)| Some((signer.verify(name, value).ok()?.timestamp, name)))
        .collect();
    decoded.sort_by_key(|(ts, _)| *ts);
    let excess = decoded.len().saturating_sub(limit);
    let mut out: Vec<&str> = Vec::with_capacity(excess);
    for (_, name) in decoded.into_iter().take(excess) {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}
