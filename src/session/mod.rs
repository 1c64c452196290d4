//! Sessions and the login round trip's client-held state, in oauth2-proxy v7's wire formats.
//!
//! * [`codec`]: the session cookie value (msgpack → LZ4 frame → AES-CFB → signed).
//! * [`cookie`]: `Set-Cookie` building, domain choice, 4000-byte splitting, reading and clearing.
//! * [`csrf`]: the `<name>_csrf` cookie (state nonce, OIDC nonce, PKCE verifier).
//! * [`state`]: the OAuth `state` parameter (authproxy's sealed form and oauth2-proxy's clear form).
//! * [`redis`]: oauth2-proxy's Redis session store (ticket cookie, sessions in Redis).
//!
//! Everything here but [`redis`]'s store is pure: time comes in as `now`, randomness from
//! [`crate::crypto`].

pub mod cache;
pub mod claims;
pub mod codec;
pub mod cookie;
pub mod csrf;
pub mod derived;
pub mod msgpack;
pub mod redis;
pub mod refresh;
pub mod state;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use codec::SessionCodec;
pub use cookie::CookieOptions;
pub use csrf::CsrfToken;
pub use state::OAuthState;

/// A signed-in user's session, as oauth2-proxy v7 stores it.
#[derive(Clone, Default, PartialEq)]
pub struct SessionState {
    /// When the session was created (`ca`); the signed cookie timestamp is this instant.
    pub created_at: Option<SystemTime>,
    /// When the access token expires (`eo`).
    pub expires_on: Option<SystemTime>,
    /// `at`
    pub access_token: String,
    /// `it`
    pub id_token: String,
    /// `rt`
    pub refresh_token: String,
    /// The raw OIDC nonce bytes (`n`); the provider saw their hash.
    pub nonce: Vec<u8>,
    /// `e`
    pub email: String,
    /// `u`
    pub user: String,
    /// `g`
    pub groups: Vec<String>,
    /// `pu`
    pub preferred_username: String,
    /// `ac`: claims kept for later use (any msgpack value), keyed by claim name.
    pub additional_claims: BTreeMap<String, rmpv::Value>,
}

impl SessionState {
    /// True when the token expiry is known and is before `now` (oauth2-proxy's `IsExpired`).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        matches!(self.expires_on, Some(t) if t < now)
    }

    /// Time since creation, zero when unknown or in the future (oauth2-proxy's `Age`, which
    /// also truncates `now` to whole seconds).
    pub fn age(&self, now: SystemTime) -> Duration {
        let Some(created) = self.created_at else {
            return Duration::ZERO;
        };
        let now = truncate_to_second(now);
        now.duration_since(created).unwrap_or(Duration::ZERO)
    }
}

fn truncate_to_second(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

impl fmt::Debug for SessionState {
    // Tokens and the nonce are credentials: show only whether they are present. Claim values
    // may hold personal data: show only their names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = |s: &str| if s.is_empty() { "" } else { "[redacted]" };
        f.debug_struct("SessionState")
            .field("created_at", &self.created_at)
            .field("expires_on", &self.expires_on)
            .field("access_token", &present(&self.access_token))
            .field("id_token", &present(&self.id_token))
            .field("refresh_token", &present(&self.refresh_token))
            .field(
                "nonce",
                &if self.nonce.is_empty() {
                    ""
                } else {
                    "[redacted]"
                },
            )
            .field("email", &self.email)
            .field("user", &self.user)
            .field("groups", &self.groups)
            .field("preferred_username", &self.preferred_username)
            .field(
                "additional_claims",
                &self.additional_claims.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a session (or CSRF) cookie value was refused or could not be written. Each variant states
/// what was found; none carries cookie content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("cookie value does not have the form payload|timestamp|signature")]
    Malformed,
    #[error("cookie signature does not match (tampered, another secret, or another cookie name)")]
    BadSignature,
    #[error("cookie timestamp is not an integer")]
    BadTimestamp,
    #[error("cookie was issued {age_secs}s ago, at or beyond its {max_age_secs}s lifetime")]
    Expired { age_secs: i64, max_age_secs: u64 },
    #[error(
        "cookie was issued {ahead_secs}s in the future, beyond the 5 minute clock-skew allowance"
    )]
    IssuedInFuture { ahead_secs: i64 },
    #[error("cookie payload is not valid base64")]
    PayloadNotBase64,
    #[error("cookie payload is {0} bytes, shorter than the 16-byte IV")]
    DecryptFailed(usize),
    #[error("cookie payload does not decompress: {0}")]
    Decompress(&'static str),
    #[error("session would decompress to more than {0} bytes")]
    TooLarge(usize),
    #[error("cookie payload is not a valid session record: {0}")]
    Decode(&'static str),
    #[error("session could not be encoded: {0}")]
    Encode(String),
}

impl From<crate::crypto::SignatureError> for SessionError {
    fn from(e: crate::crypto::SignatureError) -> Self {
        use crate::crypto::SignatureError as S;
        match e {
            S::Malformed => Self::Malformed,
            S::BadSignature => Self::BadSignature,
            S::BadTimestamp => Self::BadTimestamp,
        }
    }
}

/// Clock skew allowed for a signed timestamp ahead of `now` (oauth2-proxy: 5 minutes).
pub const FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);

/// oauth2-proxy's validity window for a signed cookie timestamp:
/// `now - max_age < ts < now + 5 minutes`. A zero `max_age` means no lifetime limit (oauth2-proxy
/// then skips the window entirely); the future bound is kept even then, because no honest
/// writer signs a timestamp from the future.
pub fn check_timestamp(ts: i64, now: SystemTime, max_age: Duration) -> Result<(), SessionError> {
    let now_ns = unix_nanos(now);
    let ts_ns = i128::from(ts) * 1_000_000_000;
    let age_ns = now_ns - ts_ns;
    if ts_ns >= now_ns + FUTURE_SKEW.as_nanos() as i128 {
        return Err(SessionError::IssuedInFuture {
            ahead_secs: (-age_ns / 1_000_000_000) as i64,
        });
    }
    if !max_age.is_zero() && age_ns >= max_age.as_nanos() as i128 {
        return Err(SessionError::Expired {
            age_secs: (age_ns / 1_000_000_000) as i64,
            max_age_secs: max_age.as_secs(),
        });
    }
    Ok(())
}

/// Signed nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Whole unix seconds, rounded toward negative infinity (Go's `Time.Unix`).
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    unix_nanos(t).div_euclid(1_000_000_000) as i64
}

/// A `SystemTime` from unix seconds and nanoseconds (nanoseconds may exceed one second, as Go's
/// `time.Unix` allows). `None` when not representable.
pub(crate) fn from_unix(secs: i64, nanos: u64) -> Option<SystemTime> {
    let base = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))?
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))?
    };
    base.checked_add(Duration::from_nanos(nanos))
}
