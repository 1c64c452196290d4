//! oauth2-proxy v7's Redis session store (`session_store_type = "redis"`), wire-compatible with
//! v7.15.3 so oauth2-proxy and authproxy replicas sharing a cookie secret and a Redis read each
//! other's sessions: the browser holds a signed ticket cookie, Redis holds the session under the
//! ticket id, encrypted with the ticket's own key (formats in [`ticket`]).
//!
//! * [`options`]: the `redis_*` options and their validation; [`url`]: go-redis URL rules.
//! * [`RedisStore`]: save / load / clear, the refresh lock ([`lock`]), the authproxy-only
//!   indexes by OIDC `sid` and `sub` for back-channel logout ([`index`]), and invalidation
//!   messages for per-replica session caches ([`pubsub`]).
//!
//! What v7 does that callers should mirror (pkg/sessions/persistence/manager.go,
//! pkg/middleware/stored_session.go): a ticket cookie that fails validation, a missing key and an
//! undecryptable value all mean "no session", and v7 then clears the cookie and deletes the key.
//! The refresh lock is taken for [`REFRESH_LOCK_TTL`], retried every [`REFRESH_LOCK_RETRY`] for
//! at most [`REFRESH_LOCK_WAIT`], and the session is reloaded once the lock is held.

pub mod client;
pub mod index;
pub mod lock;
pub mod pubsub;
pub mod replay;
pub mod ticket;
mod trace;

#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fred::interfaces::{ClientLike as _, KeysInterface as _, PubsubInterface as _};
use fred::types::{Expiration, SetOptions};

use self::client::{map_error, Connection};
pub use self::index::Owner;
pub use self::lock::LockGuard;
pub use self::pubsub::{Invalidation, Invalidations};
pub use self::ticket::{Ticket, TicketCodec, TicketError};
use self::trace::traced;
use super::{SessionError, SessionState};
/// The `redis_*` options (they live with the configuration).
pub use crate::config::redis as options;
pub use crate::config::redis::{url, ConnectPlan, OptionError, RedisOptions};

/// v7's refresh lock lifetime (`sessionRefreshLockDuration`).
pub const REFRESH_LOCK_TTL: Duration = Duration::from_secs(2);
/// How long v7 keeps trying to take the refresh lock (`sessionRefreshObtainTimeout`).
pub const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(5);
/// v7's pause between attempts (`sessionRefreshRetryPeriod`).
pub const REFRESH_LOCK_RETRY: Duration = Duration::from_millis(10);

/// Why a store operation failed. `Unavailable` is worth a retry later; the others are not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("invalid Redis options: {}", join(.0))]
    Options(Vec<OptionError>),
    #[error("Redis client configuration: {0}")]
    Config(String),
    #[error("Redis is unavailable: {0}")]
    Unavailable(String),
    #[error(
        "Redis refused the credentials ({0}); check redis_username / redis_password or the user \
         and password in the connection URL"
    )]
    Auth(String),
    #[error("Redis replied with an error: {0}")]
    Server(String),
    #[error("stored session is unreadable: {0}")]
    Corrupt(SessionError),
    #[error("session could not be encoded: {0}")]
    Encode(SessionError),
    #[error("the session no longer exists in Redis")]
    NotFound,
    #[error(transparent)]
    Ticket(#[from] TicketError),
}

fn join(errors: &[OptionError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A session written to Redis: its ticket and the cookie value that carries it.
#[derive(Debug, Clone)]
pub struct Saved {
    pub ticket: Ticket,
    /// The signed `<cookie_name>` cookie value (not chunked: a ticket cookie is ~150 bytes).
    pub cookie_value: String,
    /// The session's creation time (the cookie's signed timestamp, the session's `ca`).
    pub created_at: SystemTime,
}

/// A handle to the Redis session store. Cheap to clone; every clone shares the connections.
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    codec: TicketCodec,
    plan: ConnectPlan,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("topology", &self.plan.topology)
            .field("cookie_name", &self.codec.cookie_name())
            .finish()
    }
}

impl RedisStore {
    /// Validate the options and start connecting in the background; does not wait for Redis
    /// (commands answer `Unavailable` until it is reachable, and the client keeps reconnecting).
    /// Must run inside a Tokio runtime.
    pub async fn new(options: &RedisOptions, codec: TicketCodec) -> Result<Self, StoreError> {
        let plan = options.validate().map_err(StoreError::Options)?;
        let conn = Connection::start(&plan)?;
        Ok(Self { conn, codec, plan })
    }

    /// [`RedisStore::new`], then wait (at most `timeout`) for the connections and run
    /// [`RedisStore::startup_check`], as oauth2-proxy v7 does before it starts serving.
    pub async fn connect(
        options: &RedisOptions,
        codec: TicketCodec,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let store = Self::new(options, codec).await?;
        let ready = async {
            store.conn.wait_connected(timeout).await?;
            store.startup_check().await
        };
        if let Err(e) = ready.await {
            store.quit().await;
            return Err(e);
        }
        Ok(store)
    }

    /// The validated plan (its `notes` list options accepted without effect, for the log).
    pub fn plan(&self) -> &ConnectPlan {
        &self.plan
    }

    /// The ticket cookie codec (cookie name, secrets, `cookie_expire`).
    pub fn codec(&self) -> &TicketCodec {
        &self.codec
    }

    /// Write `session`. `None`: a new ticket (log-in); `Some`: the same ticket, updated in place
    /// (refresh), which fails with `NotFound` when the session was cleared meanwhile (v7 would
    /// write it back; not resurrecting a logged-out session is deliberate). The key lives for
    /// `cookie_expire` from now (`SET key value EX secs`, as v7; no expiry when it is zero).
    pub async fn save(
        &self,
        ticket: Option<&Ticket>,
        session: &SessionState,
        owner: &Owner<'_>,
    ) -> Result<Saved, StoreError> {
        traced("redis save", "SET SADD EXPIRE PUBLISH", async move {
            let created = session.created_at.unwrap_or_else(SystemTime::now);
            let updating = ticket.is_some();
            let ticket = ticket
                .cloned()
                .unwrap_or_else(|| Ticket::new(self.codec.cookie_name()));
            let value = ticket
                .seal_session(session, created)
                .map_err(StoreError::Encode)?;
            let c = self.conn.client()?;
            let set: Option<String> = c
                .set(
                    ticket.id(),
                    Bytes::from(value),
                    expiration(self.codec.expire()),
                    updating.then_some(SetOptions::XX),
                    false,
                )
                .await
                .map_err(map_error)?;
            if set.is_none() {
                return Err(StoreError::NotFound);
            }
            self.index_add(&ticket, owner).await?;
            if updating {
                self.publish(ticket.id()).await?;
            }
            let cookie_value = self.codec.cookie_value(&ticket, created);
            Ok(Saved {
                ticket,
                cookie_value,
                created_at: created,
            })
        })
        .await
    }

    /// The session under `ticket`: `None` when the key does not exist (expired, cleared, or
    /// never written). A value that does not decrypt or decode is `Corrupt`.
    pub async fn load(&self, ticket: &Ticket) -> Result<Option<SessionState>, StoreError> {
        traced("redis load", "GET", async move {
            let c = self.conn.client()?;
            let value: Option<Bytes> = c.get(ticket.id()).await.map_err(map_error)?;
            match value {
                None => Ok(None),
                Some(v) => ticket
                    .open_session(&v)
                    .map(Some)
                    .map_err(StoreError::Corrupt),
            }
        })
        .await
    }

    /// Verify a ticket cookie value, then [`RedisStore::load`].
    pub async fn load_cookie(
        &self,
        cookie_value: &str,
        now: SystemTime,
    ) -> Result<Option<(Ticket, SessionState)>, StoreError> {
        let ticket = self.codec.read_cookie(cookie_value, now)?;
        Ok(self.load(&ticket).await?.map(|s| (ticket, s)))
    }

    /// Delete the session (`DEL <ticket id>`, as v7) and tell every replica to drop it from its
    /// cache. `true` when a session was deleted.
    pub async fn clear(&self, ticket: &Ticket) -> Result<bool, StoreError> {
        traced("redis clear", "DEL PUBLISH", async move {
            let deleted = self.delete(ticket.id()).await?;
            self.publish(ticket.id()).await?;
            Ok(deleted)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let n: i64 = self.conn.client()?.del(key).await.map_err(map_error)?;
        Ok(n > 0)
    }

    async fn publish(&self, ticket_id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .conn
            .client()?
            .publish(pubsub::channel(self.codec.cookie_name()), ticket_id)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    /// The remaining lifetime of the session key: `None` when it does not exist, `Some(None)`
    /// when it has no expiry.
    pub async fn ttl(&self, ticket: &Ticket) -> Result<Option<Option<Duration>>, StoreError> {
        let ms: i64 = self
            .conn
            .client()?
            .pttl(ticket.id())
            .await
            .map_err(map_error)?;
        Ok(match ms {
            -2 => None,
            -1 => Some(None),
            ms => Some(Some(Duration::from_millis(ms.max(0) as u64))),
        })
    }

    /// Readiness: one PING (v7's `VerifyConnection`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.conn.client()?.ping(None).await.map_err(map_error)?;
        Ok(())
    }

    /// v7's startup connection test (pkg/validation/sessions.go): SET a random
    /// `<cookie_name>-healthcheck-<nonce>` key for 60 s, GET it back, DEL it.
    pub async fn startup_check(&self) -> Result<(), StoreError> {
        let nonce = crate::crypto::random_urlsafe(32);
        let key = format!("{}-healthcheck-{nonce}", self.codec.cookie_name());
        let c = self.conn.client()?;
        let _: () = c
            .set(&key, nonce.as_str(), Some(Expiration::EX(60)), None, false)
            .await
            .map_err(map_error)?;
        let got: Option<String> = c.get(&key).await.map_err(map_error)?;
        let _: i64 = c.del(&key).await.map_err(map_error)?;
        if got.as_deref() != Some(nonce.as_str()) {
            return Err(StoreError::Server(
                "the Redis connection test read back a different value than it wrote".into(),
            ));
        }
        Ok(())
    }

    /// Close the connections.
    pub async fn quit(&self) {
        self.conn.quit().await;
    }
}

/// go-redis `Set` expiration: `EX` whole seconds, `PX` when not a whole number of seconds or
/// under one second, nothing when zero.
pub(crate) fn expiration(ttl: Duration) -> Option<Expiration> {
    if ttl.is_zero() {
        None
    } else if ttl < Duration::from_secs(1) || ttl.subsec_nanos() != 0 {
        Some(Expiration::PX(
            i64::try_from(ttl.as_millis().max(1)).unwrap_or(i64::MAX),
        ))
    } else {
        Some(Expiration::EX(
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ))
    }
}
