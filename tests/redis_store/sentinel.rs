//! Sentinel: 1 master, 1 replica, 3 sentinels (each with its own password, as
//! `redis_sentinel_password`), and a failover when the master is killed: the same store keeps
//! working once a replica is promoted, without being re-created.

use std::time::{Duration, Instant};

use authproxy::crypto::Secret;
use authproxy::session::redis::{Owner, RedisOptions, REFRESH_LOCK_TTL};

use super::harness::SentinelSet;
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_round_trip_and_failover_without_restart() {
    let mut set = SentinelSet::start(Some("data-pass"), Some("sentinel-pass"));
    let opts = RedisOptions {
        use_sentinel: true,
        sentinel_master_name: "mymaster".into(),
        sentinel_connection_urls: set.sentinel_urls(),
        sentinel_password: Secret::new("sentinel-pass"),
        password: Secret::new("data-pass"),
        ..Default::default()
    };
    let store = connect(&opts).await;
    let s = session("sentinel");
    let saved = store.save(None, &s, &Owner::NONE).await.unwrap();
    assert_eq!(store.load(&saved.ticket).await.unwrap(), Some(s.clone()));
    let lock = store
        .lock(&saved.ticket, REFRESH_LOCK_TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(lock.release().await.unwrap());
    assert_eq!(
        set.master.cli(&["EXISTS", saved.ticket.id()]).trim(),
        "1",
        "written to the master"
    );
    // Make sure the replica has it before the master dies.
    let acked = set.master.cli(&["WAIT", "1", "5000"]);
    assert_eq!(acked.trim(), "1", "replica acknowledged");

    let old_master = set.master.port;
    set.master.kill();
    let started = Instant::now();
    let mut errors = Vec::new();
    let deadline = started + Duration::from_secs(40);
    let mut slowest = Duration::ZERO;
    let loaded = loop {
        let call = Instant::now();
        let r = store.load(&saved.ticket).await;
        slowest = slowest.max(call.elapsed());
        match r {
            Ok(v) => break v,
            Err(e) => {
                if errors.len() < 1000 {
                    errors.push(e.to_string());
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no recovery within 40 s; errors: {:?}",
            &errors[errors.len().saturating_sub(5)..]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let window = started.elapsed();
    eprintln!(
        "sentinel failover: store usable again after {window:?}, {} failed calls, slowest call \
         {slowest:?} (first error: {:?})",
        errors.len(),
        errors.first()
    );
    // Sentinel needs down-after-milliseconds (1 s) before it even starts the failover: a first
    // success this late means the calls really spanned it (failed fast, or waited inside fred's
    // retry until the new master answered).
    assert!(
        window > Duration::from_millis(900),
        "recovered after {window:?}"
    );
    assert_eq!(
        loaded,
        Some(s),
        "the session replicated before the failover survives"
    );
    assert!(
        slowest < Duration::from_secs(7),
        "a call took {slowest:?} (command timeout 6 s)"
    );
    let new_master = set.sentinels[0]
        .master_port()
        .expect("sentinel names a master");
    assert_ne!(new_master, old_master);
    assert_eq!(new_master, set.replica.port, "the replica was promoted");
    // Writes go to the new master.
    let after = store
        .save(None, &session("after"), &Owner::NONE)
        .await
        .unwrap();
    assert_eq!(set.replica.cli(&["EXISTS", after.ticket.id()]).trim(), "1");
    store.quit().await;
}
