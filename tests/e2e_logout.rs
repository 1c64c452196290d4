//! Logout that reaches beyond one browser, end to end against the real identity provider
//! (`oidc-provider`) and a real redis-server:
//! * OpenID Connect Back-Channel Logout: the user signs out at the identity provider, which
//!   POSTs a Logout Token to `/oauth2/backchannel-logout`; the session ends on every replica.
//!   A replayed or forged token is refused.
//! * RP-initiated logout: `/oauth2/sign_out` continues at the provider's end_session_endpoint
//!   and comes back to the validated `rd`.

mod support;

#[path = "support/redis.rs"]
mod redis;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::{RedisServer, ServerConfig};
use support::html::forms;
use support::idp::{IdpConfig, Login};
use support::{free_port, location, Browser, Proxy, ProxyConfig, Stack};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn client() -> reqwest::Client {
    support::http_client()
}

/// Where the identity provider delivers Logout Tokens: a loopback relay that records every body
/// and forwards it to the proxy (so the test can replay a real, validly signed token).
struct Relay {
    port: u16,
    target: Arc<Mutex<Option<String>>>,
    bodies: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Relay {
    async fn start() -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target: Arc<Mutex<Option<String>>> = Arc::default();
        let bodies: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
        let (t, b) = (target.clone(), bodies.clone());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (t, b) = (t.clone(), b.clone());
                tokio::spawn(async move {
                    let Some(body) = read_request_body(&mut conn).await else {
                        return;
                    };
                    let to = t.lock().unwrap().clone().expect("relay target set");
                    let status = client()
                        .post(to)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body.clone())
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(599);
                    b.lock().unwrap().push((body, status));
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        Relay {
            port,
            target,
            bodies,
        }
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/backchannel", self.port)
    }

    fn forward_to(&self, url: String) {
        *self.target.lock().unwrap() = Some(url);
    }

    /// Waits (bounded) for `n` deliveries.
    async fn deliveries(&self, n: usize) -> Vec<(String, u16)> {
        for _ in 0..100 {
            let got = self.bodies.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the identity provider delivered {} logout tokens, expected {n}",
            self.bodies.lock().unwrap().len()
        );
    }
}

/// A minimal HTTP/1.1 request reader: headers, then `content-length` bytes of body.
async fn read_request_body(conn: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = tokio::time::timeout_at(deadline, conn.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            return Some(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned());
        }
    }
}

fn with_redis(c: ProxyConfig, server: &RedisServer) -> ProxyConfig {
    c.set("session-store-type", "redis")
        .set("redis-connection-url", &server.url())
        .set("oidc-backchannel-logout", "true")
}

async fn status_with_cookie(proxy: &Proxy, cookie: &str) -> u16 {
    client()
        .get(proxy.url("/private"))
        .header("cookie", cookie)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Signs out at the identity provider itself (its end-session page and confirmation form).
async fn sign_out_at_idp(browser: &Browser, stack: &Stack) {
    let resp = browser.get(&stack.idp.url("/session/end")).await;
    assert_eq!(resp.status(), 200, "the IdP's end-session page");
    let html = resp.text().await.unwrap();
    let form = forms(&html)
        .into_iter()
        .find(|f| f.action.contains("/session/end/confirm"))
        .expect("the IdP's logout confirmation form");
    let mut fields: Vec<(String, String)> = form.fields.clone();
    fields.push(("logout".into(), "yes".into()));
    let resp = browser
        .post_form(&stack.idp.url("/session/end/confirm"), &fields)
        .await;
    assert!(
        resp.status().is_redirection() || resp.status() == 200,
        "confirming the IdP logout answered {}",
        resp.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_at_the_idp_ends_the_session_on_every_replica_and_tokens_work_once() {
    let server = RedisServer::start(ServerConfig::default());
    let relay = Relay::start().await;
    let idp = IdpConfig {
        backchannel_logout_uri: Some(relay.uri()),
        ..IdpConfig::default()
    };
    let stack = Stack::start_with(idp, |c| with_redis(c, &server)).await;
    let b = Proxy::start(with_redis(
        ProxyConfig::new(free_port(), stack.idp.issuer(), &stack.app.url()),
        &server,
    ))
    .await;
    // The identity provider reaches one replica; the others learn through Redis.
    relay.forward_to(b.url("/oauth2/backchannel-logout"));

    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("erin")).await;
    let cookie = browser
        .cookie_header(&stack.proxy.url("/"))
        .expect("cookie");
    // A second browser of another user stays signed in.
    let other = Browser::new();
    stack.sign_in(&other, "/", &Login::new("frank")).await;
    let other_cookie = other.cookie_header(&stack.proxy.url("/")).expect("cookie");
    for p in [&stack.proxy, &b] {
        assert_eq!(status_with_cookie(p, &cookie).await, 200);
        assert_eq!(status_with_cookie(p, &other_cookie).await, 200);
    }

    sign_out_at_idp(&browser, &stack).await;
    let delivered = relay.deliveries(1).await;
    assert_eq!(delivered[0].1, 200, "the proxy accepted the logout token");
    assert!(delivered[0].0.starts_with("logout_token="));
    for (name, p) in [("a", &stack.proxy), ("b", &b)] {
        assert_eq!(
            status_with_cookie(p, &cookie).await,
            401,
            "replica {name} still serves a session ended at the IdP"
        );
        assert_eq!(
            status_with_cookie(p, &other_cookie).await,
            200,
            "replica {name}: another user's session must survive"
        );
    }

    // The captured token, replayed to either replica, is refused.
    for p in [&stack.proxy, &b] {
        let resp = client()
            .post(p.url("/oauth2/backchannel-logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(delivered[0].0.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert!(resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store"));
        let err: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(err["error"], "invalid_request");
        assert!(
            err["error_description"].as_str().unwrap().contains("jti"),
            "{err}"
        );
    }

    // A forged token (payload changed, signature kept) is refused and ends nothing.
    let token = delivered[0]
        .0
        .trim_start_matches("logout_token=")
        .to_string();
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
    claims["jti"] = "forged".into();
    claims["sid"] = serde_json::Value::Null;
    claims["sub"] = "frank".into();
    parts[1] = b64.encode(claims.to_string());
    let forged = parts.join(".");
    let resp = client()
        .post(stack.proxy.url("/oauth2/backchannel-logout"))
        .form(&[("logout_token", forged.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(status_with_cookie(&stack.proxy, &other_cookie).await, 200);

    // Not a POST: 405 with Allow.
    let resp = client()
        .get(stack.proxy.url("/oauth2/backchannel-logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    // No token: 400.
    let resp = client()
        .post(stack.proxy.url("/oauth2/backchannel-logout"))
        .form(&[("other", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_continues_at_the_provider_and_comes_back_to_rd() {
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("oidc-rp-initiated-logout", "true")
    })
    .await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("gina")).await;

    let resp = browser
        .get(&stack.proxy.url("/oauth2/sign_out?rd=%2F"))
        .await;
    assert_eq!(resp.status(), 302);
    let to = location(&resp);
    assert!(
        to.as_str().starts_with(&stack.idp.url("/session/end")),
        "sign-out goes to the end_session_endpoint, got {to}"
    );
    let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "authproxy");
    assert_eq!(
        q["post_logout_redirect_uri"],
        stack.proxy.url("/"),
        "the validated rd, absolute"
    );
    assert_eq!(q["id_token_hint"].split('.').count(), 3, "an ID token");
    // The local session is over already.
    assert_eq!(
        browser
            .get_json(&stack.proxy.url("/private"))
            .await
            .status(),
        401
    );

    // The provider asks for confirmation, then sends the browser back to rd.
    let resp = browser.get(to.as_str()).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let form = forms(&html)
        .into_iter()
        .find(|f| f.action.contains("/session/end/confirm"))
        .expect("confirmation form");
    let mut fields = form.fields.clone();
    fields.push(("logout".into(), "yes".into()));
    let resp = browser
        .post_form(&stack.idp.url("/session/end/confirm"), &fields)
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.status());
    assert_eq!(location(&resp).as_str(), stack.proxy.url("/"));

    // An rd the whitelist refuses never reaches the provider either.
    stack.sign_in(&browser, "/", &Login::new("gina")).await;
    let resp = browser
        .get(
            &stack
                .proxy
                .url("/oauth2/sign_out?rd=https%3A%2F%2Fevil.example%2F"),
        )
        .await;
    let to = location(&resp);
    let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["post_logout_redirect_uri"], stack.proxy.url("/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backchannel_logout_without_a_session_store_answers_501() {
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("oidc-backchannel-logout", "true")
    })
    .await;
    let resp = client()
        .post(stack.proxy.url("/oauth2/backchannel-logout"))
        .form(&[("logout_token", "a.b.c")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert!(err["error_description"]
        .as_str()
        .unwrap()
        .contains("session_store_type"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_cookie_secret_keeps_sessions_and_reseals_them() {
    use support::COOKIE_SECRET;
    const NEW_SECRET: &str = "bmV3LXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHMhISE=";
    let stack = Stack::start_with(IdpConfig::default(), |c| c).await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("hana")).await;
    let old_cookie = browser
        .cookie_header(&stack.proxy.url("/"))
        .expect("cookie");

    // A replica already on the new secret, with the old one as previous: the old cookie works,
    // and comes back sealed with the new secret.
    let rotated = Proxy::start(
        ProxyConfig::new(free_port(), stack.idp.issuer(), &stack.app.url())
            .set("cookie-secret", NEW_SECRET)
            .set("cookie-previous-secret", COOKIE_SECRET),
    )
    .await;
    let resp = client()
        .get(rotated.url("/private"))
        .header("cookie", &old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "a cookie sealed with the previous secret opens"
    );
    let resealed = support::set_cookies(&resp)
        .into_iter()
        .find(|c| c.name() == support::COOKIE_NAME && !c.value().is_empty())
        .expect("the session is re-issued under the current secret");
    let new_cookie = format!("{}={}", resealed.name(), resealed.value());
    assert_eq!(status_with_cookie(&rotated, &new_cookie).await, 200);

    // Once the previous secret is retired, only re-sealed cookies work.
    let retired = Proxy::start(
        ProxyConfig::new(free_port(), stack.idp.issuer(), &stack.app.url())
            .set("cookie-secret", NEW_SECRET),
    )
    .await;
    assert_eq!(status_with_cookie(&retired, &new_cookie).await, 200);
    assert_eq!(status_with_cookie(&retired, &old_cookie).await, 401);
    // The previous secret never seals: the old proxy cannot read the re-sealed cookie.
    assert_eq!(status_with_cookie(&stack.proxy, &new_cookie).await, 401);
}
