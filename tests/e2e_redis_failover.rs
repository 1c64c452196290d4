//! A Redis Sentinel failover while two replicas serve signed-in users (real redis-server and
//! redis-sentinel: 1 master, 1 replica, 3 sentinels). While the master is killed and the replica
//! promoted, no request is served with another user's identity and none reaches the app without
//! a session; afterwards every session still works (none lost), and the errors of the failover
//! window show in `authproxy_session_store_errors_total` and the 503s the clients saw.

mod support;

#[path = "support/redis.rs"]
mod redis;

use std::time::{Duration, Instant};

use redis::SentinelSet;
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
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_while_serving_loses_no_session_and_mixes_no_identity() {
    let mut set = SentinelSet::start(Some("data-pass"), Some("sentinel-pass"));
    let (metrics_a, metrics_b) = (free_port(), free_port());
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        with_sentinel(c, &set).set("metrics-address", &format!("127.0.0.1:{metrics_a}"))
    })
    .await;
    let b = Proxy::start(
        with_sentinel(
            ProxyConfig::new(free_port(), stack.idp.issuer(), &stack.app.url()),
            &set,
        )
        .set("metrics-address", &format!("127.0.0.1:{metrics_b}")),
    )
    .await;

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
    // Every session is on the replica before the master dies (as a real deployment's
    // replication would have it after a moment).
    assert_eq!(set.master.cli(&["WAIT", "1", "5000"]).trim(), "1");
    let replicas = [&stack.proxy, &b];
    let mut before = Tally::default();
    round(&replicas, &users, &mut before).await;
    assert_eq!(before.ok, 2 * USERS, "{before:?}");
    let errors_before = store_errors(metrics_a).await + store_errors(metrics_b).await;

    set.master.kill();
    let killed = Instant::now();
    let mut during = Tally::default();
    let mut recovered_after = None;
    let deadline = killed + Duration::from_secs(45);
    while Instant::now() < deadline {
        let mut t = Tally::default();
        round(&replicas, &users, &mut t).await;
        let all_ok = t.ok == 2 * USERS;
        during.ok += t.ok;
        during.unavailable += t.unavailable;
        during.other.extend(t.other);
        // Past the per-replica cache's lifetime (5 s), so these requests read Redis, and past
        // the promotion of the replica.
        let promoted = set.sentinels[0].master_port() == Some(set.replica.port);
        if all_ok && promoted && killed.elapsed() > Duration::from_secs(6) {
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
    round(&replicas, &users, &mut after).await;
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
    let errors_after = store_errors(metrics_a).await + store_errors(metrics_b).await;
    eprintln!(
        "sentinel failover under load: recovered after {recovered_after:?}; {} requests served, \
         {} answered 503 during the window; session store errors counted: {}",
        during.ok,
        during.unavailable,
        errors_after - errors_before
    );
    assert!(
        errors_after - errors_before >= during.unavailable as f64,
        "every 503 of the window is counted in authproxy_session_store_errors_total"
    );
}
