//! One redis-server: round trips, TTLs, the lock, the indexes, invalidations, ACL users,
//! database numbers, unix sockets, wrong passwords, and Redis going away and coming back.

use std::time::{Duration, Instant};

use authproxy::crypto::Secret;
use authproxy::session::redis::{
    Invalidation, Owner, RedisOptions, RedisStore, StoreError, Ticket, REFRESH_LOCK_TTL,
};

use super::harness::{RedisServer, ServerConfig};
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_load_refresh_clear_round_trip_with_v7_keys_and_ttls() {
    let server = RedisServer::start(ServerConfig::default());
    let store = connect(&url_options(&server.url())).await;
    let s = session("alice");
    let saved = store.save(None, &s, &Owner::NONE).await.unwrap();
    let id = saved.ticket.id().to_owned();
    assert!(id.starts_with("_oauth2_proxy-") && id.len() == "_oauth2_proxy-".len() + 32);
    // The key is the ticket id; the TTL is cookie_expire, set with EX (whole seconds).
    let ttl: u64 = server.cli(&["TTL", &id]).trim().parse().unwrap();
    assert!(
        (WEEK.as_secs() - 5..=WEEK.as_secs()).contains(&ttl),
        "TTL {ttl}"
    );
    assert_eq!(server.cli(&["TYPE", &id]).trim(), "string");
    // 12-byte nonce + 16-byte tag around the msgpack session: nothing in clear text.
    let raw = server.cli(&["GET", &id]);
    assert!(!raw.contains("alice"), "stored value is not encrypted");

    let (ticket, loaded) = store
        .load_cookie(&saved.cookie_value, now())
        .await
        .unwrap()
        .expect("session present");
    assert_eq!(ticket, saved.ticket);
    assert_eq!(loaded, s);
    assert_eq!(saved.created_at, s.created_at.unwrap());

    // Refresh: same ticket and key, new content, TTL back to cookie_expire.
    server.cli(&["EXPIRE", &id, "100"]);
    let mut refreshed = s.clone();
    refreshed.access_token = "new-access-token".into();
    let again = store
        .save(Some(&saved.ticket), &refreshed, &Owner::NONE)
        .await
        .unwrap();
    assert_eq!(again.ticket, saved.ticket);
    assert_eq!(
        again.cookie_value, saved.cookie_value,
        "same ticket, same created_at"
    );
    let ttl: u64 = server.cli(&["TTL", &id]).trim().parse().unwrap();
    assert!(ttl > 100, "refresh resets the TTL, got {ttl}");
    assert_eq!(
        store.load(&saved.ticket).await.unwrap(),
        Some(refreshed.clone())
    );

    assert!(store.clear(&saved.ticket).await.unwrap());
    assert_eq!(server.cli(&["EXISTS", &id]).trim(), "0");
    assert_eq!(store.load(&saved.ticket).await.unwrap(), None);
    assert!(!store.clear(&saved.ticket).await.unwrap());
    // Updating a cleared session does not bring it back.
    assert_eq!(
        store
            .save(Some(&saved.ticket), &refreshed, &Owner::NONE)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(server.cli(&["EXISTS", &id]).trim(), "0");

    // cookie_expire = 0: no TTL (go-redis SET without EX).
    let forever = connect_with(&url_options(&server.url()), codec_with(Duration::ZERO)).await;
    let saved = forever.save(None, &s, &Owner::NONE).await.unwrap();
    assert_eq!(server.cli(&["TTL", saved.ticket.id()]).trim(), "-1");
    assert_eq!(forever.ttl(&saved.ticket).await.unwrap(), Some(None));
    store.quit().await;
    forever.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_keys_bad_cookies_and_corrupt_values_are_told_apart() {
    let server = RedisServer::start(ServerConfig::default());
    let store = connect(&url_options(&server.url())).await;
    let ghost = Ticket::new(COOKIE);
    assert_eq!(store.load(&ghost).await.unwrap(), None);
    let cookie = store.codec().cookie_value(&ghost, now());
    assert_eq!(store.load_cookie(&cookie, now()).await.unwrap(), None);
    assert!(matches!(
        store.load_cookie("garbage|1|x", now()).await,
        Err(StoreError::Ticket(_))
    ));
    server.cli(&["SET", ghost.id(), "not an AES-GCM ciphertext at all"]);
    assert!(matches!(
        store.load(&ghost).await,
        Err(StoreError::Corrupt(_))
    ));
    store.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_lock_is_exclusive_across_two_stores() {
    let server = RedisServer::start(ServerConfig::default());
    let a = connect(&url_options(&server.url())).await;
    let b = connect(&url_options(&server.url())).await;
    let saved = a.save(None, &session("bob"), &Owner::NONE).await.unwrap();
    let t = &saved.ticket;
    let held = a
        .lock(t, REFRESH_LOCK_TTL)
        .await
        .unwrap()
        .expect("free lock");
    assert_eq!(held.key(), format!("{}.lock", t.id()));
    // The lock's value is a redislock-style token (16 bytes, unpadded base64url), PX TTL.
    let token = server.cli(&["GET", held.key()]);
    assert_eq!(token.trim().len(), 22, "{token:?}");
    let pttl: i64 = server.cli(&["PTTL", held.key()]).trim().parse().unwrap();
    assert!((1..=2000).contains(&pttl), "PTTL {pttl}");
    assert!(b.lock(t, REFRESH_LOCK_TTL).await.unwrap().is_none());
    assert!(b.is_locked(t).await.unwrap());
    assert!(held.refresh(Duration::from_secs(5)).await.unwrap());
    assert!(held.release().await.unwrap());
    assert!(!b.is_locked(t).await.unwrap());
    let theirs = b
        .lock(t, Duration::from_millis(300))
        .await
        .unwrap()
        .expect("released");
    assert!(a.lock(t, REFRESH_LOCK_TTL).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Expired: a may take it, and b's stale release must not delete a's lock.
    let mine = a.lock(t, REFRESH_LOCK_TTL).await.unwrap().expect("expired");
    assert!(!theirs.release().await.unwrap());
    assert!(a.is_locked(t).await.unwrap());
    assert!(mine.release().await.unwrap());
    a.quit().await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_channel_logout_clears_by_sid_and_by_sub() {
    let server = RedisServer::start(ServerConfig::default());
    let store = connect(&url_options(&server.url())).await;
    let iss = "https://idp.example";
    let owner = |sid| Owner {
        issuer: iss,
        sub: Some("user-1"),
        sid: Some(sid),
    };
    let s1 = store
        .save(None, &session("u1"), &owner("sid-A"))
        .await
        .unwrap();
    let s2 = store
        .save(None, &session("u1"), &owner("sid-A"))
        .await
        .unwrap();
    let s3 = store
        .save(None, &session("u1"), &owner("sid-B"))
        .await
        .unwrap();
    let other_issuer = Owner {
        issuer: "https://other.example",
        sub: Some("user-1"),
        sid: Some("sid-A"),
    };
    let s4 = store
        .save(None, &session("x"), &other_issuer)
        .await
        .unwrap();
    // Index sets expire with the sessions.
    let keys = server.cli(&["KEYS", "_oauth2_proxy-idx-*"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    for k in &keys {
        let ttl: u64 = server.cli(&["TTL", k]).trim().parse().unwrap();
        assert!(ttl > WEEK.as_secs() - 10, "{k} TTL {ttl}");
        assert!(
            !k.contains("user-1") && !k.contains("sid-A"),
            "{k} names the user"
        );
    }
    assert_eq!(store.clear_by_sid(iss, "sid-A").await.unwrap(), 2);
    for (t, present) in [(&s1, false), (&s2, false), (&s3, true), (&s4, true)] {
        assert_eq!(store.load(&t.ticket).await.unwrap().is_some(), present);
    }
    assert_eq!(store.clear_by_sid(iss, "sid-A").await.unwrap(), 0);
    assert_eq!(store.clear_by_sub(iss, "user-1").await.unwrap(), 1);
    assert_eq!(store.load(&s3.ticket).await.unwrap(), None);
    assert!(
        store.load(&s4.ticket).await.unwrap().is_some(),
        "other issuer kept"
    );
    store.quit().await;
}

async fn next(inv: &mut authproxy::session::redis::Invalidations) -> Invalidation {
    tokio::time::timeout(Duration::from_secs(10), inv.recv())
        .await
        .expect("an invalidation within 10 s")
        .expect("subscriber open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_reach_other_replicas_and_resync_after_reconnect() {
    let mut server = RedisServer::start(ServerConfig::default());
    let a = connect(&url_options(&server.url())).await;
    let b = connect(&url_options(&server.url())).await;
    let mut inv = b.subscribe_invalidations().await.unwrap();
    let saved = a.save(None, &session("carol"), &Owner::NONE).await.unwrap();
    // An in-place update invalidates cached copies too.
    a.save(Some(&saved.ticket), &session("carol"), &Owner::NONE)
        .await
        .unwrap();
    assert_eq!(
        next(&mut inv).await,
        Invalidation::Ticket(saved.ticket.id().into())
    );
    a.clear(&saved.ticket).await.unwrap();
    assert_eq!(
        next(&mut inv).await,
        Invalidation::Ticket(saved.ticket.id().into())
    );
    // Messages may be lost while disconnected: after reconnecting the subscriber says so.
    server.restart();
    assert_eq!(next(&mut inv).await, Invalidation::Resync);
    // And it is subscribed again.
    let deadline = Instant::now() + Duration::from_secs(15);
    let t = loop {
        if let Ok(s) = a.save(None, &session("dave"), &Owner::NONE).await {
            a.clear(&s.ticket).await.unwrap();
            break s.ticket;
        }
        assert!(Instant::now() < deadline, "store did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    loop {
        match next(&mut inv).await {
            Invalidation::Ticket(id) if id == t.id() => break,
            _ => {}
        }
    }
    drop(inv);
    a.quit().await;
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user_password_and_database_come_from_the_url_or_the_options() {
    let server = RedisServer::start(ServerConfig {
        password: Some("default-pass".into()),
        acl_users: vec!["alice on >alice-pass ~* &* +@all".into()],
        unix_socket: true,
        ..Default::default()
    });
    let url = format!("redis://alice:alice-pass@127.0.0.1:{}/5", server.port);
    let store = connect(&url_options(&url)).await;
    let saved = store
        .save(None, &session("eve"), &Owner::NONE)
        .await
        .unwrap();
    assert_eq!(
        server.cli(&["-n", "5", "EXISTS", saved.ticket.id()]).trim(),
        "1"
    );
    assert_eq!(
        server.cli(&["-n", "0", "EXISTS", saved.ticket.id()]).trim(),
        "0"
    );
    let clients = server.cli(&["CLIENT", "LIST"]);
    assert!(clients.contains("user=alice"), "{clients}");
    store.quit().await;

    // redis_username / redis_password replace the URL's; ?db= selects the database.
    let opts = RedisOptions {
        connection_url: format!("redis://nobody:wrong@127.0.0.1:{}?db=3", server.port),
        username: "alice".into(),
        password: Secret::new("alice-pass"),
        ..Default::default()
    };
    let store = connect(&opts).await;
    let saved = store
        .save(None, &session("eve"), &Owner::NONE)
        .await
        .unwrap();
    assert_eq!(
        server.cli(&["-n", "3", "EXISTS", saved.ticket.id()]).trim(),
        "1"
    );
    store.quit().await;

    // A unix socket, with the default user's password.
    let url = format!(
        "unix://:default-pass@{}?db=2",
        server.socket_path().display()
    );
    let store = connect(&url_options(&url)).await;
    let s = session("eve");
    let saved = store.save(None, &s, &Owner::NONE).await.unwrap();
    assert_eq!(store.load(&saved.ticket).await.unwrap(), Some(s));
    assert_eq!(
        server.cli(&["-n", "2", "EXISTS", saved.ticket.id()]).trim(),
        "1"
    );
    store.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_clear_auth_error() {
    let server = RedisServer::start(ServerConfig {
        password: Some("right".into()),
        ..Default::default()
    });
    let url = format!("redis://:wrong@127.0.0.1:{}", server.port);
    let e = connect_err(&url_options(&url), Duration::from_secs(5)).await;
    let text = e.to_string();
    assert!(matches!(e, StoreError::Auth(_)), "{e:?}");
    assert!(
        text.contains("WRONGPASS") && text.contains("redis_password"),
        "{text}"
    );
    assert!(!text.contains("wrong@"), "{text}");
    let e = connect_err(&url_options(&server.url()), Duration::from_secs(5)).await;
    assert!(matches!(e, StoreError::Auth(_)), "no password: {e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_unavailable_at_once_and_the_same_store_recovers() {
    let mut server = RedisServer::start(ServerConfig::default());
    let store = connect(&url_options(&server.url())).await;
    let before = store
        .save(None, &session("frank"), &Owner::NONE)
        .await
        .unwrap();
    server.kill();
    // A call racing the crash may wait inside the client's retry, at most the command timeout
    // (6 s); once the client has seen the closed socket, calls fail at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = Instant::now();
    assert!(
        store.ping().await.is_err(),
        "ping succeeds with Redis killed"
    );
    assert!(
        first.elapsed() < Duration::from_secs(7),
        "took {:?}",
        first.elapsed()
    );
    for _ in 0..3 {
        let started = Instant::now();
        let e = store.load(&before.ticket).await.unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        assert!(store.ping().await.is_err());
    }
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut failures = 0;
    while store.ping().await.is_err() {
        failures += 1;
        assert!(
            Instant::now() < deadline,
            "no recovery after {failures} attempts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing persisted (save ""), so the old session is gone; new ones work.
    assert_eq!(store.load(&before.ticket).await.unwrap(), None);
    let after = store
        .save(None, &session("frank"), &Owner::NONE)
        .await
        .unwrap();
    assert!(store.load(&after.ticket).await.unwrap().is_some());
    store.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_fails_connect_within_the_timeout_and_new_does_not_wait() {
    let port = super::harness::free_port();
    let opts = url_options(&format!("redis://127.0.0.1:{port}?dial_timeout=1"));
    let e = connect_err(&opts, Duration::from_secs(2)).await;
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    let started = Instant::now();
    let store = RedisStore::new(&opts, codec_with(WEEK)).await.unwrap();
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(1));
    store.quit().await;
}
