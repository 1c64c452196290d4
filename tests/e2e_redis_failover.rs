//! A Redis failover while two replicas serve signed-in users (real redis-server and
//! redis-sentinel): a Sentinel set (1 master, 1 replica, 3 sentinels) whose master is killed, and
//! a Cluster (3 masters with a replica each) whose busiest master is killed. While the master is killed and the replica
//! promoted, no request is served with another user's identity and none reaches the app without
//! a session; afterwards every session still works (none lost), and the errors of the failover
//! window show in `authproxy_session_store_errors_total` and the 503s the clients saw.

mod support;

#[path = "support/redis.rs"]
mod redis;

use std::time::{Duration, Instant};

use redis::{Cluster, RedisServer, SentinelSet};
use support::idp::{IdpConfig, Login};
use support::{free_port, Browser, EchoReply, Proxy, ProxyConfig, Stack};

const USERS: usize = 8;

fn with_sentinel(c: ProxyConfig, set: &SentinelSet) -> ProxyConfig {
    c.set("session-store-type", "redis")
        .set("redis-use-sentinel", "true")
        .set("redis-sentinel-master-name", "mymaster")
        .set(
            "redis-sentinel-connection-urls",
            &set.sentinel_urls().join(","),
        )
        .set("redis-password", "data-pass")
        .set("redis-sentinel-password", "sentinel-pass")
}

fn client() -> reqwest::Client {
    support::http_client()
}

#[derive(Default, Debug)]
struct Tally {
    ok: usize,
    unavailable: usize,
    other: Vec<u16>,
}

/// One request per user per replica; panics on any wrong identity.
async fn round(replicas: &[&Proxy], users: &[(String, String)], tally: &mut Tally) {
    let http = client();
    for p in replicas {
        for (email, cookie) in users {
            let resp = http
                .get(p.url("/whoami"))
                .header("cookie", cookie)
                .header("accept", "application/json")
                .send()
                .await
                .expect("request");
            match resp.status().as_u16() {
                200 => {
                    let echo: EchoReply = resp.json().await.unwrap();
                    assert_eq!(
                        echo.header("x-forwarded-email"),
                        Some(email.as_str()),
                        "a request was served with another identity"
                    );
                    tally.ok += 1;
                }
                503 => tally.unavailable += 1,
                other => tally.other.push(other),
            }
        }
    }
}

async fn store_errors(metrics_port: u16) -> f64 {
    let text = client()
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("authproxy_session_store_errors_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Signs in `USERS` users on `stack`'s proxy; their (email, cookie).
async fn sign_in_users(stack: &Stack) -> Vec<(String, String)> {
    let mut users = Vec::new();
    for i in 0..USERS {
        let browser = Browser::new();
        let login = Login::new(&format!("user{i}"));
        stack.sign_in(&browser, "/", &login).await;
        let cookie = browser
            .cookie_header(&stack.proxy.url("/"))
            .expect("cookie");
        users.push((login.email(), cookie));
    }
    users
}

/// Serves every user on both replicas while `fail` takes a Redis node down, until `promoted`
/// says the data has a new master and the per-replica cache has expired; then checks that no
/// session was lost and a new sign-in works. Returns a one-line summary.
async fn serve_through_failover(
    stack: &Stack,
    b: &Proxy,
    metrics: [u16; 2],
    users: &[(String, String)],
    fail: impl FnOnce(),
    promoted: impl Fn() -> bool,
) -> String {
    let replicas = [&stack.proxy, b];
    let mut before = Tally::default();
    round(&replicas, users, &mut before).await;
    assert_eq!(before.ok, 2 * USERS, "{before:?}");
    let errors_before = store_errors(metrics[0]).await + store_errors(metrics[1]).await;

    fail();
    let killed = Instant::now();
    let mut during = Tally::default();
    let mut recovered_after = None;
    let deadline = killed + Duration::from_secs(45);
    while Instant::now() < deadline {
        let mut t = Tally::default();
        round(&replicas, users, &mut t).await;
        let all_ok = t.ok == 2 * USERS;
        during.ok += t.ok;
        during.unavailable += t.unavailable;
        during.other.extend(t.other);
        // Past the per-replica cache's lifetime (5 s), so these requests read Redis, and past
        // the promotion of the replica.
        if all_ok && promoted() && killed.elapsed() > Duration::from_secs(6) {
            recovered_after = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_after = recovered_after.expect("the replicas recover within 45 s");
    assert!(
        during.other.is_empty(),
        "during the failover every answer is the user's page or a 503, got {:?}",
        during.other
    );
    // No session lost: every user is still signed in on both replicas.
    let mut after = Tally::default();
    round(&replicas, users, &mut after).await;
    assert_eq!(
        after.ok,
        2 * USERS,
        "sessions lost in the failover: {after:?}"
    );
    // And new sessions are written to the new master.
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("late")).await;
    let cookie = browser
        .cookie_header(&stack.proxy.url("/"))
        .expect("cookie");
    round(
        &replicas,
        &[(Login::new("late").email(), cookie)],
        &mut after,
    )
    .await;
    assert_eq!(after.ok, 2 * USERS + 2, "{after:?}");
    let errors = store_errors(metrics[0]).await + store_errors(metrics[1]).await - errors_before;
    assert!(
        errors >= during.unavailable as f64,
        "every 503 of the window is counted in authproxy_session_store_errors_total"
    );
    format!(
        "recovered after {recovered_after:?}; {} requests served, {} answered 503 during the \
         window; session store errors counted: {errors}",
        during.ok, during.unavailable
    )
}

/// The first proxy of `stack` and a second replica `b`, each with its own metrics port.
async fn two_replicas(configure: impl Fn(ProxyConfig) -> ProxyConfig) -> (Stack, Proxy, [u16; 2]) {
    let metrics = [free_port(), free_port()];
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        configure(c).set("metrics-address", &format!("127.0.0.1:{}", metrics[0]))
    })
    .await;
    let b = Proxy::start(
        configure(ProxyConfig::new(
            free_port(),
            stack.idp.issuer(),
            &stack.app.url(),
        ))
        .set("metrics-address", &format!("127.0.0.1:{}", metrics[1])),
    )
    .await;
    (stack, b, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_while_serving_loses_no_session_and_mixes_no_identity() {
    let mut set = SentinelSet::start(Some("data-pass"), Some("sentinel-pass"));
    let (stack, b, metrics) = two_replicas(|c| with_sentinel(c, &set)).await;
    let users = sign_in_users(&stack).await;
    // Every session is on the replica before the master dies (as a real deployment's
    // replication would have it after a moment).
    assert_eq!(set.master.cli(&["WAIT", "1", "5000"]).trim(), "1");
    let replica_port = set.replica.port;
    let sentinel = &set.sentinels[0];
    let promoted = || sentinel.master_port() == Some(replica_port);
    let master = &mut set.master;
    let summary =
        serve_through_failover(&stack, &b, metrics, &users, || master.kill(), promoted).await;
    eprintln!("sentinel failover under load: {summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_failover_of_a_sessions_node_loses_no_session_and_mixes_no_identity() {
    let mut cluster = Cluster::start_with_replicas(1);
    let urls = cluster.urls();
    let (stack, b, metrics) = two_replicas(|c| {
        c.set("session-store-type", "redis")
            .set("redis-use-cluster", "true")
            .set("redis-cluster-connection-urls", &urls[..3].join(","))
    })
    .await;
    let users = sign_in_users(&stack).await;
    // The master holding the most session keys fails; its replica must take over.
    let is_master = |n: &RedisServer| n.cli(&["ROLE"]).lines().next() == Some("master");
    let victim = (0..cluster.nodes.len())
        .filter(|&i| is_master(&cluster.nodes[i]))
        .max_by_key(|&i| {
            cluster.nodes[i]
                .cli(&["DBSIZE"])
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
        })
        .expect("a master");
    assert!(
        cluster.nodes[victim].cli(&["DBSIZE"]).trim() != "0",
        "the victim holds sessions"
    );
    assert_eq!(
        cluster.nodes[victim].cli(&["WAIT", "1", "5000"]).trim(),
        "1"
    );
    let survivor = (victim + 1) % cluster.nodes.len();
    let (left, right) = cluster.nodes.split_at_mut(victim.max(survivor));
    let (victim_node, survivor_node) = if victim > survivor {
        (&mut right[0], &left[survivor])
    } else {
        (&mut left[victim], &right[0])
    };
    let healthy = || {
        survivor_node
            .try_cli(&["CLUSTER", "INFO"])
            .is_ok_and(|o| o.contains("cluster_state:ok"))
    };
    let summary =
        serve_through_failover(&stack, &b, metrics, &users, || victim_node.kill(), healthy).await;
    eprintln!("cluster failover under load: {summary}");
}
