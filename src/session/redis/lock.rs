//! The session refresh lock, compatible with oauth2-proxy v7's (pkg/sessions/redis/lock.go,
//! which uses bsm/redislock v0.10): key `<ticket id>.lock`, value a random token (16 bytes,
//! unpadded URL-safe base64), set only when absent, with a millisecond TTL; released by a
//! compare-and-delete script so a lock that expired and was taken by someone else is left alone.
//! One replica holding the lock makes the other's (oauth2-proxy's or authproxy's) attempt fail.

use std::time::Duration;

use fred::interfaces::{KeysInterface as _, LuaInterface as _};
use fred::types::{Expiration, SetOptions};

use super::client::{map_error, Connection};
use super::trace::traced;
use super::{RedisStore, StoreError, Ticket};

/// Deletes the key only when it still holds our token (redislock's release.lua, one key).
const RELEASE: &str = r#"if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end"#;
/// Extends the TTL only when the key still holds our token (redislock's refresh.lua, one key).
const REFRESH: &str = r#"if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end"#;

/// A held refresh lock. It is not released on drop (that needs I/O): call
/// [`LockGuard::release`]; an abandoned lock expires after its TTL.
#[must_use = "release the lock when the refresh is done"]
pub struct LockGuard {
    key: String,
    token: String,
    conn: Connection,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard").field("key", &self.key).finish()
    }
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis().max(1)).unwrap_or(i64::MAX)
}

impl RedisStore {
    /// Try once to take the refresh lock of `ticket` for `ttl` (v7: 2 s). `None` when someone
    /// else holds it.
    pub async fn lock(
        &self,
        ticket: &Ticket,
        ttl: Duration,
    ) -> Result<Option<LockGuard>, StoreError> {
        traced("redis lock", "SET NX", async move {
            let key = ticket.lock_key();
            let token = crate::crypto::b64url_nopad(&crate::crypto::random_bytes::<16>());
            let set: Option<String> = self
                .conn
                .client()?
                .set(
                    &key,
                    token.as_str(),
                    Some(Expiration::PX(ttl_ms(ttl))),
                    Some(SetOptions::NX),
                    false,
                )
                .await
                .map_err(map_error)?;
            Ok(set.map(|_| LockGuard {
                key,
                token,
                conn: self.conn.clone(),
            }))
        })
        .await
    }

    /// Whether anyone holds the refresh lock of `ticket` (v7's `Peek`: `EXISTS`).
    pub async fn is_locked(&self, ticket: &Ticket) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn
            .client()?
            .exists(ticket.lock_key())
            .await
            .map_err(map_error)?;
        Ok(n > 0)
    }
}

impl LockGuard {
    /// Release the lock. `false` when it was no longer ours (it expired).
    pub async fn release(self) -> Result<bool, StoreError> {
        traced("redis unlock", "EVAL", async move {
            let n: i64 = self
                .conn
                .client()?
                .eval(RELEASE, vec![self.key.as_str()], vec![self.token.as_str()])
                .await
                .map_err(map_error)?;
            Ok(n == 1)
        })
        .await
    }

    /// Extend the lock to `ttl` from now. `false` when it was no longer ours.
    pub async fn refresh(&self, ttl: Duration) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn
            .client()?
            .eval(
                REFRESH,
                vec![self.key.as_str()],
                vec![self.token.clone(), ttl_ms(ttl).to_string()],
            )
            .await
            .map_err(map_error)?;
        Ok(n == 1)
    }

    /// The lock's Redis key.
    pub fn key(&self) -> &str {
        &self.key
    }
}
