//! A one-entry, per-connection cache of the last verified session.
//!
//! Browsers and API clients send the same cookie on every request of a keep-alive connection.
//! Verifying it (HMAC, AES, LZ4, msgpack) and building the identity headers costs more than
//! proxying the request, so each connection remembers the last cookie value it verified and
//! what it decoded to. The lock is per connection: no lock is shared by all requests.
//!
//! A hit requires the byte-identical cookie value (so the MAC that was checked covers it) and
//! re-checks the server-side expiry on every request; refresh decisions still run per request.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::{HeaderName, HeaderValue};

use crate::session::SessionState;

/// A verified session and what the request path derives from it.
#[derive(Debug)]
pub struct VerifiedSession {
    pub session: SessionState,
    /// Index of the session's provider in `App::providers`.
    pub provider: usize,
    /// The cookie stops being valid at this instant (`created_at + cookie_expire`); `None`: never
    /// by age (cookie_expire = 0).
    pub valid_until: Option<SystemTime>,
    /// Identity headers for the request to the app (built once per session).
    pub upstream_headers: Vec<(HeaderName, HeaderValue)>,
}

impl VerifiedSession {
    /// Whether the session is still within its server-side lifetime at `now`.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.valid_until.is_none_or(|until| now < until)
    }
}

/// The per-connection cache.
#[derive(Default)]
pub struct SessionCache {
    last: Mutex<Option<(Box<str>, Arc<VerifiedSession>)>>,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCache")
    }
}

impl SessionCache {
    /// The cached session for exactly this cookie value, if still valid at `now`.
    pub fn get(&self, cookie: &str, now: SystemTime) -> Option<Arc<VerifiedSession>> {
        let guard = self.last.lock().ok()?;
        match guard.as_ref() {
            Some((value, session)) if value.as_ref() == cookie && session.is_valid_at(now) => {
                Some(session.clone())
            }
            _ => None,
        }
    }

    /// Remember `session` as what `cookie` verified to.
    pub fn put(&self, cookie: &str, session: Arc<VerifiedSession>) {
        if let Ok(mut guard) = self.last.lock() {
            *guard = Some((cookie.into(), session));
        }
    }

    /// Forget the cached session (after sign-out or a rejected cookie).
    pub fn clear(&self) {
        if let Ok(mut guard) = self.last.lock() {
            *guard = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn verified(until: Option<SystemTime>) -> Arc<VerifiedSession> {
        Arc::new(VerifiedSession {
            session: SessionState {
                email: "a@example.com".into(),
                ..SessionState::default()
            },
            provider: 0,
            valid_until: until,
            upstream_headers: Vec::new(),
        })
    }

    #[test]
    fn hit_requires_the_identical_cookie_value() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let cache = SessionCache::default();
        cache.put("abc|1|mac", verified(None));
        assert!(cache.get("abc|1|mac", now).is_some());
        assert!(cache.get("abc|1|maC", now).is_none());
        assert!(cache.get("abc|1|mac ", now).is_none());
    }

    #[test]
    fn an_expired_session_is_never_served_from_the_cache() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let cache = SessionCache::default();
        cache.put("v", verified(Some(now + Duration::from_secs(1))));
        assert!(cache.get("v", now).is_some());
        assert!(cache.get("v", now + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn clear_forgets_the_session() {
        let cache = SessionCache::default();
        cache.put("v", verified(None));
        cache.clear();
        assert!(cache.get("v", UNIX_EPOCH).is_none());
    }
}
