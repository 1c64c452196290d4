//! The process-wide cache of verified sessions.
//!
//! Decoding a session cookie (AES, LZ4, msgpack) and deriving the identity headers costs more
//! than proxying the request; verifying a bearer token's signature or a bcrypt password costs
//! far more. So each verified credential is remembered, in ONE bounded cache shared by every
//! connection: behind a front proxy (nginx `auth_request`, Envoy, Traefik) many users share few
//! connections, and a per-connection cache would almost never hit.
//!
//! Keys, so that a hit proves the same credential was verified before:
//! * a session cookie is keyed by its MAC tag (HMAC-SHA256 over the cookie name, payload and
//!   timestamp), computed and checked in constant time by the codec BEFORE the lookup;
//! * an `Authorization` value (bearer token, basic credentials) is keyed by a keyed hash of
//!   the whole value (HMAC-SHA256 with a per-process random key, so keys can be neither
//!   predicted nor collided).
//!
//! The map finds the entry; the entry's own copy of the key is then compared with the
//! request's in constant time, so no timing difference depends on another user's credential.
//!
//! A session cookie seen before is found without computing its MAC again
//! ([`SessionCache::get_cookie`]): the entry keeps the exact value that was verified, found by
//! the tag the value carries and compared with the request's value in constant time. Only a
//! value byte-for-byte equal to one that passed the MAC check is served; any other value, a
//! forged one carrying a real tag among them, goes through the full check.
//!
//! An entry is served only while its session is within its lifetime (`valid_until`, checked
//! on every hit); sign-out and revocation remove it ([`SessionCache::remove`]). The lock is
//! sharded (quick_cache): no lock is shared by all requests.

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderName, HeaderValue};

use super::SessionState;

/// How many sessions the cache holds by default.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// A cache key: a MAC tag or a keyed hash, 32 bytes.
pub type Key = [u8; 32];

/// A verified session and what the request path derives from it.
#[derive(Debug)]
pub struct VerifiedSession {
    pub session: SessionState,
    /// Index of the session's provider in the configured providers.
    pub provider: usize,
    /// The session stops being valid at this instant (`created_at + cookie_expire`, a token's
    /// expiry); `None`: never by age (cookie_expire = 0).
    pub valid_until: Option<SystemTime>,
    /// The headers the header plan derives from the session (built once per session).
    pub injected: Injected,
    /// How the request was authenticated.
    pub method: AuthMethod,
    /// Identity assertions minted for this session (see [`super::derived`]).
    pub minted: super::derived::MintedTokens,
    /// The claims the per-route policy tests, in the policy's claim order (empty without a
    /// policy that tests claims).
    pub claims: Vec<super::derived::ClaimValue>,
}

/// What a session's identity and the provider id produce, ready to copy into requests.
#[derive(Clone, Debug, Default)]
pub struct Injected {
    /// For the request to the app.
    pub request: Vec<(HeaderName, HeaderValue)>,
    /// For `/oauth2/auth` and ext_authz answers (read by the front proxy).
    pub response: Vec<(HeaderName, HeaderValue)>,
    /// For proxied responses (to the browser): non-secret response values only.
    pub browser: Vec<(HeaderName, HeaderValue)>,
}

/// How a session was established (for policy and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// A browser session (cookie).
    Session,
    /// `Authorization: Bearer <JWT>`.
    Bearer,
    /// `Authorization: Basic` with an htpasswd user.
    Basic,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Session => "session",
            AuthMethod::Bearer => "bearer",
            AuthMethod::Basic => "basic",
        }
    }
}

impl VerifiedSession {
    /// Whether the session is still within its lifetime at `now`.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.valid_until.is_none_or(|until| now < until)
    }
}

struct Entry {
    /// The key again, compared in constant time on a hit.
    key: Key,
    /// For a session cookie: the whole value whose MAC was verified (chunks joined).
    cookie: Option<Box<str>>,
    session: Arc<VerifiedSession>,
}

/// The process-wide cache.
pub struct SessionCache {
    entries: quick_cache::sync::Cache<Key, Arc<Entry>>,
    /// The key of [`SessionCache::keyed_hash`], random per process.
    hash_key: [u8; 32],
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache")
            .field("len", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl SessionCache {
    /// A cache of at most `capacity` sessions (0: caching off).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            hash_key: crate::crypto::random_bytes(),
        }
    }

    /// The cache key of an `Authorization` value: a keyed hash of it.
    pub fn keyed_hash(&self, credential: &[u8]) -> Key {
        crate::crypto::hmac_sha256(&self.hash_key, &[credential])
    }

    /// The session cached under `key`, if still valid at `now`. An expired entry is removed.
    pub fn get(&self, key: &Key, now: SystemTime) -> Option<Arc<VerifiedSession>> {
        let entry = self.entries.get(key)?;
        if !crate::crypto::ct_eq(&entry.key, key) {
            return None;
        }
        if !entry.session.is_valid_at(now) {
            self.entries.remove(key);
            return None;
        }
        Some(Arc::clone(&entry.session))
    }

    /// The session the session cookie `value` verified to before, if that exact value is
    /// cached and the session still valid at `now`; no MAC is computed. The caller still
    /// checks the value's timestamp window.
    pub fn get_cookie(&self, value: &str, now: SystemTime) -> Option<Arc<VerifiedSession>> {
        let key = crate::crypto::signed_value_tag(value)?;
        let entry = self.entries.get(&key)?;
        let verified = entry.cookie.as_deref()?;
        if !crate::crypto::ct_eq(verified.as_bytes(), value.as_bytes()) {
            return None;
        }
        if !entry.session.is_valid_at(now) {
            self.entries.remove(&key);
            return None;
        }
        Some(Arc::clone(&entry.session))
    }

    /// Remember `session` as what the credential with this key verified to.
    pub fn put(&self, key: Key, session: Arc<VerifiedSession>) {
        let entry = Entry {
            key,
            cookie: None,
            session,
        };
        self.entries.insert(key, Arc::new(entry));
    }

    /// Remember `session` as what the session cookie `value`, whose MAC tag is `key`,
    /// verified to ([`SessionCache::get_cookie`] finds it again).
    pub fn put_cookie(&self, key: Key, value: &str, session: Arc<VerifiedSession>) {
        let entry = Entry {
            key,
            cookie: Some(value.into()),
            session,
        };
        self.entries.insert(key, Arc::new(entry));
    }

    /// Forget the session under `key` (sign-out, a refused or refreshed credential, revocation).
    pub fn remove(&self, key: &Key) {
        self.entries.remove(key);
    }

    /// Forget every session (the invalidation stream may have missed messages).
    pub fn clear(&self) {
        self.entries.clear();
    }

    /// How many sessions are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
            injected: Injected::default(),
            method: AuthMethod::Session,
            minted: Default::default(),
            claims: Vec::new(),
        })
    }

    #[test]
    fn a_hit_needs_the_same_key() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let cache = SessionCache::new(8);
        let key = cache.keyed_hash(b"Bearer a.b.c");
        cache.put(key, verified(None));
        assert!(cache.get(&key, now).is_some());
        assert!(cache.get(&cache.keyed_hash(b"Bearer a.b.d"), now).is_none());
    }

    #[test]
    fn an_expired_session_is_never_served_and_is_dropped() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let cache = SessionCache::new(8);
        let key = [1u8; 32];
        cache.put(key, verified(Some(now + Duration::from_secs(1))));
        assert!(cache.get(&key, now).is_some());
        assert!(cache.get(&key, now + Duration::from_secs(1)).is_none());
        assert!(cache.is_empty(), "the expired entry was removed");
    }

    /// A signed-looking value `payload|ts|tag` carrying `tag`.
    fn cookie_value(payload: &str, tag: &Key) -> String {
        use base64::Engine as _;
        let tag = base64::engine::general_purpose::URL_SAFE.encode(tag);
        format!("{payload}|1700000000|{tag}")
    }

    #[test]
    fn a_cookie_hit_needs_the_exact_value_that_was_verified() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let cache = SessionCache::new(8);
        let tag = [7u8; 32];
        let value = cookie_value("cGF5bG9hZA==", &tag);
        cache.put_cookie(tag, &value, verified(None));
        assert!(cache.get_cookie(&value, now).is_some());
        // The same tag on another payload, a longer or shorter value, no tag at all: misses.
        for other in [
            cookie_value("cGF5bG9hZB==", &tag),
            format!("{value}x"),
            value[..value.len() - 1].to_string(),
            "cGF5bG9hZA==".to_string(),
            String::new(),
        ] {
            assert!(cache.get_cookie(&other, now).is_none(), "{other:?}");
        }
        // The full-check path still finds it by the verified tag.
        assert!(cache.get(&tag, now).is_some());
    }

    #[test]
    fn an_entry_put_without_its_cookie_value_is_never_a_cookie_hit() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let cache = SessionCache::new(8);
        let tag = [9u8; 32];
        cache.put(tag, verified(None));
        assert!(cache.get_cookie(&cookie_value("eA==", &tag), now).is_none());
    }

    #[test]
    fn an_expired_cookie_entry_is_never_served_and_is_dropped() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let cache = SessionCache::new(8);
        let tag = [3u8; 32];
        let value = cookie_value("eA==", &tag);
        cache.put_cookie(tag, &value, verified(Some(now)));
        assert!(cache.get_cookie(&value, now).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn remove_forgets_the_session() {
        let cache = SessionCache::new(8);
        let key = [1u8; 32];
        cache.put(key, verified(None));
        cache.remove(&key);
        assert!(cache.get(&key, UNIX_EPOCH).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = SessionCache::new(64);
        for i in 0..1_000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            cache.put(key, verified(None));
        }
        assert!(cache.len() <= 128, "{} entries", cache.len());
    }

    #[test]
    fn keyed_hashes_differ_between_caches() {
        let (a, b) = (SessionCache::new(1), SessionCache::new(1));
        assert_ne!(a.keyed_hash(b"x"), b.keyed_hash(b"x"));
        assert_eq!(a.keyed_hash(b"x"), a.keyed_hash(b"x"));
    }
}
