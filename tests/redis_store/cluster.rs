//! A 3-master Redis Cluster: keys spread over the nodes, and every store operation (including
//! the lock script, the indexes and invalidations) works across slots.

use std::time::Duration;

use authproxy::session::redis::{Invalidation, Owner, RedisOptions, REFRESH_LOCK_TTL};

use super::harness::Cluster;
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_round_trips_across_slots() {
    let cluster = Cluster::start();
    let opts = RedisOptions {
        use_cluster: true,
        // One seed node is enough; the rest is discovered.
        cluster_connection_urls: vec![cluster.urls()[1].clone()],
        ..Default::default()
    };
    let store = connect(&opts).await;
    let other = connect(&opts).await;
    let mut inv = other.subscribe_invalidations().await.unwrap();
    let owner = Owner {
        issuer: "https://idp.example",
        sub: Some("cluster-user"),
        sid: None,
    };
    let mut saved = Vec::new();
    for i in 0..12 {
        let s = session(&format!("user{i}"));
        let t = store.save(None, &s, &owner).await.unwrap();
        assert_eq!(other.load(&t.ticket).await.unwrap(), Some(s));
        saved.push(t);
    }
    let per_node: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.cli(&["DBSIZE"]).trim().parse().unwrap())
        .collect();
    assert!(
        per_node.iter().filter(|&&n| n > 0).count() >= 2,
        "keys on one node only: {per_node:?}"
    );
    let lock = store
        .lock(&saved[0].ticket, REFRESH_LOCK_TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(other
        .lock(&saved[0].ticket, REFRESH_LOCK_TTL)
        .await
        .unwrap()
        .is_none());
    assert!(lock.release().await.unwrap());
    assert!(store.clear(&saved[0].ticket).await.unwrap());
    let got = tokio::time::timeout(Duration::from_secs(10), inv.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(Invalidation::Ticket(saved[0].ticket.id().into())));
    assert_eq!(
        store
            .clear_by_sub("https://idp.example", "cluster-user")
            .await
            .unwrap(),
        11
    );
    for t in &saved {
        assert_eq!(other.load(&t.ticket).await.unwrap(), None);
    }
    store.quit().await;
    other.quit().await;
}
