//! End to end with `session_store_type = redis` against a real redis-server (Debian's, installed
//! when missing): the session lives in Redis and the browser holds a small ticket cookie;
//! several replicas share sessions; sign-out ends a session on every replica; a stale session
//! is refreshed once across replicas; Redis down fails closed and recovers by itself; and a
//! fleet mixing authproxy with oauth2-proxy's format (the independent Python implementation in
//! tests/vectors/oauth2_proxy_redis.py) shares sessions both ways.

mod support;

#[path = "support/redis.rs"]
mod redis;

use std::process::Command;
use std::time::Duration;

use redis::{RedisServer, ServerConfig};
use support::idp::{IdpConfig, Login};
use support::{
    free_port, location, Browser, EchoReply, Proxy, ProxyConfig, Stack, COOKIE_NAME, COOKIE_SECRET,
};

fn with_redis(c: ProxyConfig, server: &RedisServer) -> ProxyConfig {
    c.set("session-store-type", "redis")
        .set("redis-connection-url", &server.url())
}

async fn redis_stack(
    server: &RedisServer,
    extra: impl FnOnce(ProxyConfig) -> ProxyConfig,
) -> Stack {
    Stack::start_with(IdpConfig::default(), |c| extra(with_redis(c, server))).await
}

/// Another replica: same IdP, app, secret and Redis, its own port.
async fn replica(
    stack: &Stack,
    server: &RedisServer,
    extra: impl FnOnce(ProxyConfig) -> ProxyConfig,
) -> Proxy {
    let c = ProxyConfig::new(free_port(), stack.idp.issuer(), &stack.app.url());
    Proxy::start(extra(with_redis(c, server))).await
}

fn client() -> reqwest::Client {
    support::http_client()
}

async fn get_with_cookie(proxy: &Proxy, path: &str, cookie: &str) -> reqwest::Response {
    client()
        .get(proxy.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request")
}

/// The answer to a browser without a valid session: the sign-in page (403) or a redirect to it.
fn assert_signs_in(resp: &reqwest::Response) {
    match resp.status().as_u16() {
        403 => {}
        302 => {
            let to = location(resp);
            assert!(to.as_str().contains("/oauth2/"), "redirected to {to}");
        }
        other => panic!("expected the sign-in page, got {other}"),
    }
}

/// Session keys in Redis (not the back-channel logout indexes, not locks).
fn session_keys(server: &RedisServer) -> Vec<String> {
    server
        .cli(&["--raw", "KEYS", &format!("{COOKIE_NAME}-*")])
        .lines()
        .map(str::trim)
        .filter(|k| !k.is_empty() && !k.contains("-idx-") && !k.ends_with(".lock"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_lives_in_redis_and_the_cookie_is_a_small_ticket() {
    let server = RedisServer::start(ServerConfig::default());
    let stack = redis_stack(&server, |c| c.set("cookie-expire", "2h")).await;
    let browser = Browser::new();
    let echo = stack.sign_in(&browser, "/", &Login::new("alice")).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("alice@example.com"));

    let names = browser.jar().names_with_prefix(COOKIE_NAME);
    assert_eq!(
        names,
        vec![COOKIE_NAME.to_string()],
        "one ticket cookie, no chunks"
    );
    let cookie = browser.jar().get(COOKIE_NAME).expect("ticket cookie");
    assert!(
        cookie.len() < 200,
        "a ticket cookie is small, got {} bytes",
        cookie.len()
    );
    let keys = session_keys(&server);
    assert_eq!(keys.len(), 1, "one session in Redis: {keys:?}");
    let key = &keys[0];
    // oauth2-proxy's ticket id: <cookie name>-<32 hex digits>.
    let id = key
        .strip_prefix(&format!("{COOKIE_NAME}-"))
        .expect("prefix");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let ttl: u64 = server.cli(&["TTL", key]).trim().parse().expect("TTL");
    assert!(
        (7000..=7200).contains(&ttl),
        "TTL = cookie_expire, got {ttl}"
    );
    // The value is encrypted: no e-mail address in clear.
    let raw = server.cli(&["--raw", "GET", key]);
    assert!(!raw.contains("alice@example.com"));

    let resp = browser.get_json(&stack.proxy.url("/oauth2/userinfo")).await;
    assert_eq!(resp.status(), 200);
    let info: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(info["email"], "alice@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_sessions_and_sign_out_ends_them_on_every_replica() {
    let server = RedisServer::start(ServerConfig::default());
    let stack = redis_stack(&server, |c| c).await;
    let b = replica(&stack, &server, |c| c).await;
    let c = replica(&stack, &server, |c| c).await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("bob")).await;
    let cookie = browser
        .cookie_header(&stack.proxy.url("/"))
        .expect("cookie");

    // Every replica serves the session (and caches it).
    for (name, p) in [("a", &stack.proxy), ("b", &b), ("c", &c)] {
        for _ in 0..2 {
            let resp = get_with_cookie(p, "/shared", &cookie).await;
            assert_eq!(resp.status(), 200, "replica {name}");
            let echo: EchoReply = resp.json().await.unwrap();
            assert_eq!(echo.header("x-forwarded-email"), Some("bob@example.com"));
        }
    }

    // Sign out on b: the stored session is deleted...
    let resp = get_with_cookie(&b, "/oauth2/sign_out", &cookie).await;
    assert_eq!(resp.status(), 302);
    assert!(
        session_keys(&server).is_empty(),
        "sign-out deletes the session in Redis"
    );

    // ...and the copy of the cookie taken before works nowhere, at once.
    let hits = stack.app.hits();
    for (name, p) in [("a", &stack.proxy), ("b", &b), ("c", &c)] {
        let resp = get_with_cookie(p, "/after-sign-out", &cookie).await;
        assert_ne!(
            resp.status(),
            200,
            "replica {name} served a signed-out session"
        );
        let resp = client()
            .get(p.url("/after-sign-out"))
            .header("cookie", &cookie)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "replica {name}");
    }
    assert_eq!(
        stack.app.hits(),
        hits,
        "the app was reached with a signed-out session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_session_is_refreshed_once_across_three_replicas() {
    let server = RedisServer::start(ServerConfig::default());
    let refresh = |c: ProxyConfig| c.set("cookie-refresh", "3s").set("cookie-expire", "1h");
    let stack = redis_stack(&server, refresh).await;
    let b = replica(&stack, &server, refresh).await;
    let c = replica(&stack, &server, refresh).await;
    let browser = Browser::new();
    let first = stack.sign_in(&browser, "/", &Login::new("carol")).await;
    let first_token = first
        .header("x-forwarded-access-token")
        .expect("access token")
        .to_string();
    let cookie = browser
        .cookie_header(&stack.proxy.url("/"))
        .expect("cookie");
    assert_eq!(stack.idp.stats().await.grants.refresh_token, 0);
    tokio::time::sleep(Duration::from_millis(4200)).await;

    let replicas = [&stack.proxy, &b, &c];
    let requests = (0..20).map(|i| {
        let p = replicas[i % 3];
        client()
            .get(p.url(&format!("/concurrent/{i}")))
            .header("cookie", cookie.clone())
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut tokens = std::collections::HashSet::new();
    for (i, resp) in responses.into_iter().enumerate() {
        let resp = resp.expect("request");
        assert_eq!(resp.status(), 200, "request {i}");
        let echo: EchoReply = resp.json().await.unwrap();
        tokens.insert(
            echo.header("x-forwarded-access-token")
                .unwrap_or_default()
                .to_string(),
        );
    }
    let stats = stack.idp.stats().await;
    assert_eq!(
        stats.grants.refresh_token, 1,
        "20 requests over 3 replicas refreshed {} times",
        stats.grants.refresh_token
    );
    assert_eq!(
        tokens.len(),
        1,
        "every request saw the refreshed token: {tokens:?}"
    );
    assert!(
        !tokens.contains(&first_token),
        "the app sees the new access token"
    );
    // Still one session, under the same ticket (the cookie taken before keeps working).
    assert_eq!(session_keys(&server).len(), 1);
    let resp = get_with_cookie(&c, "/later", &cookie).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(stack.idp.stats().await.grants.refresh_token, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_and_the_proxy_recovers_by_itself() {
    let mut server = RedisServer::start(ServerConfig::default());
    let stack = redis_stack(&server, |c| c).await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("dave")).await;
    let cookie = browser
        .cookie_header(&stack.proxy.url("/"))
        .expect("cookie");
    // Past the per-replica cache lifetime, so the next request must read Redis.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    server.kill();
    let hits = stack.app.hits();

    let resp = get_with_cookie(&stack.proxy, "/while-down", &cookie).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body = resp.text().await.unwrap();
    assert!(body.contains("session store"), "the page says why: {body}");
    let resp = client()
        .get(stack.proxy.url("/while-down"))
        .header("cookie", &cookie)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let json: serde_json::Value = resp.json().await.expect("JSON error");
    assert_eq!(json["status"], 503, "{json}");
    assert_eq!(
        stack.app.hits(),
        hits,
        "the app is never reached without the session store"
    );
    assert_eq!(stack.proxy.ready_status().await, Some(503));
    let ping = client().get(stack.proxy.url("/ping")).send().await.unwrap();
    assert_eq!(ping.status(), 200, "liveness stays up");
    assert!(stack.proxy.log().contains("session store unavailable"));

    // Redis back (empty: this test server keeps nothing on disk): ready again without a
    // restart, the lost session asks to sign in, a new sign-in works.
    server.restart();
    let mut ready = false;
    for _ in 0..100 {
        if stack.proxy.ready_status().await == Some(200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the proxy did not become ready again after Redis came back"
    );
    let resp = get_with_cookie(&stack.proxy, "/after", &cookie).await;
    assert_signs_in(&resp);
    let again = Browser::new();
    let echo = stack.sign_in(&again, "/", &Login::new("dave")).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("dave@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_of_redis_keeps_the_session_for_afterwards() {
    let server = RedisServer::start(ServerConfig::default());
    let stack = redis_stack(&server, |c| c).await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("erin")).await;
    let cookie = browser
        .cookie_header(&stack.proxy.url("/"))
        .expect("cookie");
    tokio::time::sleep(Duration::from_millis(5200)).await;
    // Redis refuses writes and reads for a moment (as while a replica is promoted).
    server.cli(&["CLIENT", "PAUSE", "1500", "ALL"]);
    let resp = get_with_cookie(&stack.proxy, "/paused", &cookie).await;
    // Either the command waited out the pause (200) or timed out (503): never the app
    // without a session, never a lost session.
    let status = resp.status().as_u16();
    assert!(status == 200 || status == 503, "got {status}");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let resp = get_with_cookie(&stack.proxy, "/resumed", &cookie).await;
    assert_eq!(resp.status(), 200, "the session survives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_is_refused_when_redis_cannot_be_reached() {
    // As oauth2-proxy: no start with a session store it cannot use.
    let closed = free_port();
    let port = free_port();
    let c = ProxyConfig::new(port, "http://127.0.0.1:9/", "http://127.0.0.1:9/")
        .set("session-store-type", "redis")
        .set(
            "redis-connection-url",
            &format!("redis://127.0.0.1:{closed}/?dial_timeout=1s"),
        );
    let mut proxy = Proxy::spawn(&c);
    let status = proxy
        .wait_exit(Duration::from_secs(30))
        .expect("authproxy exits");
    assert_eq!(status.code(), Some(2));
    let log = proxy.log();
    assert!(log.contains("session_store_type = redis"), "{log}");
    assert!(log.contains("Redis is unavailable"), "{log}");
}

// --- a mixed fleet: oauth2-proxy's format written and read by the Python implementation ------

fn python(args: &[&str]) -> serde_json::Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/oauth2_proxy_redis.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 (scripts/test.sh installs pycryptodome and msgpack)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).expect("python JSON")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_proxy_and_authproxy_replicas_share_sessions_both_ways() {
    let server = RedisServer::start(ServerConfig::default());
    let stack = redis_stack(&server, |c| c.set("cookie-expire", "168h")).await;
    let port = server.port.to_string();
    let expire = (168 * 3600).to_string();
    let common = [
        "--port",
        &port,
        "--secret",
        COOKIE_SECRET,
        "--name",
        COOKIE_NAME,
        "--expire",
        &expire,
    ];

    // authproxy writes (a real sign-in); oauth2-proxy's format reads it.
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("frank")).await;
    let cookie = browser.jar().get(COOKIE_NAME).expect("ticket cookie");
    let now = now_secs().to_string();
    let mut read = vec!["read"];
    read.extend_from_slice(&common);
    read.extend_from_slice(&["--now", &now, &cookie]);
    let got = python(&read);
    assert_eq!(got["session"]["email"], "frank@example.com", "{got}");
    assert!(got["session"]["access_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    // oauth2-proxy's format writes (a session of the first provider, no `ac` claim);
    // authproxy serves it.
    let session = serde_json::json!({
        "email": "grace@example.com",
        "user": "grace-sub",
        "preferred_username": "grace",
        "groups": ["staff"],
        "access_token": "at-from-oauth2-proxy",
        "id_token": "",
        "refresh_token": "",
        "created_at": [now_secs(), 0],
        "expires_on": [now_secs() + 3600, 0],
        "nonce_hex": "",
        "additional_claims": {},
    });
    let mut write = vec!["write"];
    write.extend_from_slice(&common);
    let session_text = session.to_string();
    write.extend_from_slice(&["--session", &session_text]);
    let written = python(&write);
    let value = written["cookie"].as_str().expect("cookie").to_string();
    let resp = get_with_cookie(
        &stack.proxy,
        "/from-oauth2-proxy",
        &format!("{COOKIE_NAME}={value}"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.header("x-forwarded-email"), Some("grace@example.com"));
    assert_eq!(
        echo.header("x-forwarded-access-token"),
        Some("at-from-oauth2-proxy")
    );
    assert_eq!(echo.header("x-forwarded-groups"), Some("staff"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_for_a_session_that_is_gone_asks_to_sign_in() {
    let server = RedisServer::start(ServerConfig::default());
    let stack = redis_stack(&server, |c| c).await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("heidi")).await;
    let cookie = browser
        .cookie_header(&stack.proxy.url("/"))
        .expect("cookie");
    // An administrator ends the session in Redis (DEL the key, as with oauth2-proxy).
    for k in session_keys(&server) {
        server.cli(&["DEL", &k]);
    }
    // The replica's cache lasts at most 5 s for sessions ended without a notification.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let resp = get_with_cookie(&stack.proxy, "/after-del", &cookie).await;
    assert_signs_in(&resp);
    let cleared = support::deleted_session_cookies(&resp);
    assert!(
        cleared.iter().any(|n| n == COOKIE_NAME),
        "the dead ticket cookie is cleared"
    );
}
