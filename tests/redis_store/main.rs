//! The Redis session store against real Redis (Debian's redis-server and redis-sentinel,
//! installed when missing): standalone, TLS, Sentinel with failover, Cluster, and wire
//! compatibility with an independent Python implementation of oauth2-proxy v7's format
//! (tests/vectors/oauth2_proxy_redis.py).

#[path = "../support/redis.rs"]
mod harness;

mod cluster;
mod compat;
mod sentinel;
mod standalone;
mod tls;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authproxy::crypto::CookieSecret;
use authproxy::session::redis::{RedisOptions, RedisStore, StoreError, TicketCodec};
use authproxy::session::SessionState;

/// The cookie secret shared by "both implementations" in these tests.
pub const SECRET: &str = "q2n4Lw6h0Ue7kGf1yS3ZpV9tXcB8rJmA5dHoQiKzW0E=";
pub const COOKIE: &str = "_oauth2_proxy";
pub const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn codec_with(expire: Duration) -> TicketCodec {
    TicketCodec::new(
        &[CookieSecret::parse(SECRET.as_bytes()).unwrap()],
        COOKIE,
        expire,
    )
    .unwrap()
}

pub fn url_options(url: &str) -> RedisOptions {
    RedisOptions {
        connection_url: url.to_owned(),
        ..Default::default()
    }
}

/// Connect with a bounded wait; panics with the store error.
pub async fn connect(options: &RedisOptions) -> RedisStore {
    connect_with(options, codec_with(WEEK)).await
}

pub async fn connect_with(options: &RedisOptions, codec: TicketCodec) -> RedisStore {
    match RedisStore::connect(options, codec, Duration::from_secs(15)).await {
        Ok(s) => s,
        Err(e) => panic!("connect {options:?}: {e}"),
    }
}

/// Connect, expecting a failure within `within`.
pub async fn connect_err(options: &RedisOptions, within: Duration) -> StoreError {
    let started = std::time::Instant::now();
    let r = RedisStore::connect(options, codec_with(WEEK), within).await;
    assert!(
        started.elapsed() < within + Duration::from_secs(2),
        "connect took {:?}",
        started.elapsed()
    );
    match r {
        Ok(_) => panic!("connect {options:?} succeeded"),
        Err(e) => e,
    }
}

pub fn now() -> SystemTime {
    // Whole seconds: the signed cookie timestamp has second precision, `ca` keeps nanoseconds.
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn session(user: &str) -> SessionState {
    let created = now() - Duration::from_secs(5) + Duration::from_nanos(123_456_789);
    let mut claims = BTreeMap::new();
    claims.insert("tenant".to_owned(), rmpv::Value::from("acme"));
    SessionState {
        created_at: Some(created),
        expires_on: Some(now() + Duration::from_secs(3600)),
        access_token: format!("access-token-of-{user}"),
        id_token: format!("eyJhbGciOiJSUzI1NiJ9.{user}.sig"),
        refresh_token: format!("refresh-{user}"),
        nonce: vec![1, 2, 3, 4],
        email: format!("{user}@example.com"),
        user: user.to_owned(),
        groups: vec!["admins".into(), "dev team".into()],
        preferred_username: user.to_uppercase(),
        additional_claims: claims,
    }
}
