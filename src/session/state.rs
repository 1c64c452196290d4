//! The OAuth `state` parameter.
//!
//! authproxy's own form is `ap1.` + [`crypto::seal`]`(purpose "state", msgpack{h, r, p, t})`:
//! the return URL is neither readable nor changeable by the browser or the provider, and the
//! state names the CSRF cookie it belongs to through `h` = SHA-256 of that cookie's state nonce.
//!
//! oauth2-proxy's form, `<b64url(hash(state nonce))>:<return url>` (optionally base64url-encoded
//! as a whole with its `encode_state` option), is accepted too, so a login that oauth2-proxy
//! started can be finished here; it is only as good as its binding to the CSRF cookie, which is
//! checked the same way.

use std::time::{Duration, SystemTime};

use rmpv::{Utf8StringRef, ValueRef};

use super::csrf::CsrfToken;
use super::msgpack::{decode_bytes, decode_str, read_map, ref_i64, ref_str};
use super::{from_unix, unix_nanos, unix_secs, FUTURE_SKEW};
use crate::crypto::{self, CookieSecret};

/// Prefix of authproxy's sealed states.
pub const STATE_PREFIX: &str = "ap1.";
const PURPOSE: &str = "state";

/// Which implementation produced a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateForm {
    /// authproxy's sealed state.
    Sealed,
    /// oauth2-proxy's clear `hash:url` state.
    OAuth2Proxy,
}

/// A decoded `state` parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthState {
    /// Where to send the user after the login (validate it before redirecting!).
    pub return_url: String,
    /// The provider the login was started with (empty for oauth2-proxy states).
    pub provider_id: String,
    /// When the login started (unknown for oauth2-proxy states; their CSRF cookie's own
    /// timestamp bounds them).
    pub issued_at: Option<SystemTime>,
    /// Which implementation wrote it.
    pub form: StateForm,
    /// `b64url_nopad(hash(state nonce))`: names the CSRF cookie the state belongs to.
    pub state_hash: String,
}

impl OAuthState {
    /// The CSRF cookie this state belongs to (see [`super::csrf::csrf_cookie_name`]).
    pub fn csrf_cookie_name(&self, base: &str, per_request: bool) -> String {
        super::csrf::csrf_cookie_name(base, per_request.then_some(self.state_hash.as_str()))
    }
}

/// Why a `state` parameter was refused. An invalid state is a security event: log it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("state parameter is empty")]
    Empty,
    #[error("state parameter is neither an authproxy nor an oauth2-proxy state")]
    Malformed,
    #[error("state failed authentication (tampered, or sealed with another secret)")]
    Unauthentic,
    #[error("state was issued {age_secs}s ago, beyond its {max_age_secs}s lifetime")]
    Expired { age_secs: i64, max_age_secs: u64 },
    #[error("state was issued in the future")]
    IssuedInFuture,
    #[error("state does not belong to this browser's CSRF cookie")]
    CsrfMismatch,
}

/// authproxy's sealed state for a login bound to `csrf`.
pub fn encode_state(
    secret: &CookieSecret,
    csrf: &CsrfToken,
    return_url: &str,
    provider_id: &str,
    now: SystemTime,
) -> String {
    let hash = crypto::sha256(&csrf.state_nonce);
    let key = |k: &'static str| ValueRef::String(Utf8StringRef::from(k));
    let map = ValueRef::Map(vec![
        (key("h"), ValueRef::Binary(&hash)),
        (key("r"), ValueRef::String(Utf8StringRef::from(return_url))),
        (key("p"), ValueRef::String(Utf8StringRef::from(provider_id))),
        (key("t"), ValueRef::from(unix_secs(now))),
    ]);
    let mut packed = Vec::with_capacity(64 + return_url.len());
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value_ref(&mut packed, &map);
    format!("{STATE_PREFIX}{}", crypto::seal(secret, PURPOSE, &packed))
}

/// Authenticate and read a state without checking its CSRF binding yet (to learn which CSRF
/// cookie to load, with per-request CSRF cookies). Sealed states are also checked for age
/// (`max_age` = `cookie_csrf_expire`). Never act on the result before [`bind_state`] succeeds.
pub fn peek_state(
    secret: &CookieSecret,
    state: &str,
    now: SystemTime,
    max_age: Duration,
) -> Result<OAuthState, StateError> {
    if state.is_empty() {
        return Err(StateError::Empty);
    }
    if let Some(sealed) = state.strip_prefix(STATE_PREFIX) {
        return open_sealed(secret, sealed, now, max_age);
    }
    parse_oauth2_proxy(state)
}

/// [`peek_state`] under each of `secrets` in turn (current first, then previous ones of a
/// rotation); the current secret's error when none opens it.
pub fn peek_state_any(
    secrets: &[CookieSecret],
    state: &str,
    now: SystemTime,
    max_age: Duration,
) -> Result<OAuthState, StateError> {
    let mut first = None;
    for secret in secrets {
        match peek_state(secret, state, now, max_age) {
            Ok(s) => return Ok(s),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.unwrap_or(StateError::Empty))
}

/// Check, in constant time, that `state` belongs to the CSRF cookie `csrf`.
pub fn bind_state(state: OAuthState, csrf: &CsrfToken) -> Result<OAuthState, StateError> {
    let ok = match state.form {
        // Ours is always SHA-256.
        StateForm::Sealed => {
            crypto::ct_eq(csrf.hashed_state().as_bytes(), state.state_hash.as_bytes())
        }
        StateForm::OAuth2Proxy => csrf.check_state_hash(&state.state_hash),
    };
    if ok {
        Ok(state)
    } else {
        Err(StateError::CsrfMismatch)
    }
}

/// [`peek_state`] then [`bind_state`]: the state is authentic, fresh and belongs to `csrf`.
pub fn decode_state(
    secret: &CookieSecret,
    state: &str,
    csrf: &CsrfToken,
    now: SystemTime,
    max_age: Duration,
) -> Result<OAuthState, StateError> {
    bind_state(peek_state(secret, state, now, max_age)?, csrf)
}

fn open_sealed(
    secret: &CookieSecret,
    sealed: &str,
    now: SystemTime,
    max_age: Duration,
) -> Result<OAuthState, StateError> {
    let packed = crypto::open(secret, PURPOSE, sealed).map_err(|e| match e {
        crypto::CryptoError::Unauthentic => StateError::Unauthentic,
        _ => StateError::Malformed,
    })?;
    // Authenticated from here on: a decode failure means a writer bug, still refused.
    let map = read_map(&packed).map_err(|_| StateError::Malformed)?;
    let (mut hash, mut return_url, mut provider_id, mut issued) = (None, None, None, None);
    for (k, v) in map {
        match ref_str(&k) {
            Some("h") => hash = decode_bytes(&v, "h").ok(),
            Some("r") => return_url = decode_str(&v, "r").ok(),
            Some("p") => provider_id = decode_str(&v, "p").ok(),
            Some("t") => issued = ref_i64(&v),
            _ => {}
        }
    }
    let (Some(hash), Some(return_url), Some(provider_id), Some(issued)) =
        (hash, return_url, provider_id, issued)
    else {
        return Err(StateError::Malformed);
    };
    let issued_at = from_unix(issued, 0).ok_or(StateError::Malformed)?;
    let age_ns = unix_nanos(now) - i128::from(issued) * 1_000_000_000;
    if -age_ns >= FUTURE_SKEW.as_nanos() as i128 {
        return Err(StateError::IssuedInFuture);
    }
    if age_ns >= max_age.as_nanos() as i128 {
        return Err(StateError::Expired {
            age_secs: (age_ns / 1_000_000_000) as i64,
            max_age_secs: max_age.as_secs(),
        });
    }
    Ok(OAuthState {
        return_url,
        provider_id,
        issued_at: Some(issued_at),
        form: StateForm::Sealed,
        state_hash: crypto::b64url_nopad(&hash),
    })
}

/// oauth2-proxy: `hash ":" url`, or that whole string base64url-encoded (`encode_state`).
fn parse_oauth2_proxy(state: &str) -> Result<OAuthState, StateError> {
    let decoded;
    let clear = if state.contains(':') {
        state
    } else {
        let trimmed = state.trim_end_matches('=');
        decoded = crypto::b64url_nopad_decode(trimmed)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(StateError::Malformed)?;
        decoded.as_str()
    };
    let (hash, url) = clear.split_once(':').ok_or(StateError::Malformed)?;
    // A SHA-256 or BLAKE2b-256 digest in unpadded base64url is 43 characters.
    if hash.len() != 43 {
        return Err(StateError::Malformed);
    }
    Ok(OAuthState {
        return_url: url.to_owned(),
        provider_id: String::new(),
        issued_at: None,
        form: StateForm::OAuth2Proxy,
        state_hash: hash.to_owned(),
    })
}
