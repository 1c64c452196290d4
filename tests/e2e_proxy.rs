//! End to end: the reverse proxy itself: WebSocket upgrades, 2 MB streamed bodies both ways,
//! the app being down, and the IdP being down when the proxy starts.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use support::app::{pattern_bytes, sha256_hex};
use support::idp::{Idp, IdpConfig, Login};
use support::{
    content_type, free_port, Browser, EchoApp, EchoReply, Proxy, ProxyConfig, Stack, COOKIE_NAME,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

const TWO_MB: usize = 2 * 1024 * 1024;

fn ws_request(stack: &Stack, cookie: Option<String>) -> tungstenite::handshake::client::Request {
    let mut req = format!("ws://127.0.0.1:{}/ws", stack.proxy.port())
        .into_client_request()
        .unwrap();
    if let Some(cookie) = cookie {
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_passes_through_with_identity_and_echoes_frames() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    stack
        .sign_in(&browser, "/", &Login::new("alice").groups(&["devs"]))
        .await;
    let cookie = browser.cookie_header(&stack.proxy.url("/ws"));

    let (mut ws, resp) = tokio_tungstenite::connect_async(ws_request(&stack, cookie))
        .await
        .expect("WebSocket handshake through the proxy");
    assert_eq!(resp.status(), 101);

    // The app's first message describes the upgrade request it received.
    let hello = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("hello in time")
        .expect("hello frame")
        .expect("hello ok");
    let echo: EchoReply = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(echo.path, "/ws");
    assert_eq!(echo.header("x-forwarded-email"), Some("alice@example.com"));
    assert!(
        !echo
            .cookie_names()
            .iter()
            .any(|n| n.starts_with(COOKIE_NAME)),
        "proxy cookies reached the app on the upgrade"
    );

    for msg in [
        Message::text("hello through the proxy"),
        Message::binary(Bytes::from_static(&[0, 1, 2, 254, 255])),
        Message::text("x".repeat(100_000)),
    ] {
        ws.send(msg.clone()).await.unwrap();
        let back = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("echo in time")
            .expect("echo frame")
            .expect("echo ok");
        assert_eq!(back, msg);
    }
    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_without_a_session_is_refused() {
    let stack = Stack::start().await;
    match tokio_tungstenite::connect_async(ws_request(&stack, None)).await {
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            assert!(status == 401 || status == 403, "refused with {status}");
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("an unauthenticated WebSocket was upgraded"),
    }
    assert_eq!(stack.app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_megabyte_streamed_upload_arrives_intact() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("bob")).await;
    let data = pattern_bytes(TWO_MB);
    let expected = sha256_hex(&data);

    // Chunked, produced over time: the proxy has to stream it.
    let chunks: Vec<Bytes> = data.chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
    let stream = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok::<Bytes, std::io::Error>(chunk)
    });
    let resp = browser
        .request(reqwest::Method::POST, &stack.proxy.url("/upload/chunked"))
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.body_len, TWO_MB as u64);
    assert_eq!(echo.body_sha256, expected);

    // With a Content-Length.
    let resp = browser
        .request(reqwest::Method::PUT, &stack.proxy.url("/upload/sized"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.header("content-length"), Some("2097152"));
    assert_eq!(echo.body_len, TWO_MB as u64);
    assert_eq!(echo.body_sha256, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_megabyte_download_streams_intact() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("carol")).await;
    let resp = browser
        .get(&stack.proxy.url(&format!("/bytes/{TWO_MB}")))
        .await;
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), TWO_MB);
    assert_eq!(sha256_hex(&body), sha256_hex(&pattern_bytes(TWO_MB)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_down_gives_a_502_error_page() {
    let dead = free_port();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("upstream", &format!("http://127.0.0.1:{dead}"))
    })
    .await;
    let browser = Browser::new();
    let back = stack
        .complete_login(&browser, "/down", &Login::new("dave"))
        .await;
    let resp = browser.get(back.as_str()).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(content_type(&resp), "text/html");
    for leaked in ["x-forwarded-access-token", "x-auth-request-access-token"] {
        assert!(!resp.headers().contains_key(leaked));
    }
    let page = resp.text().await.unwrap();
    assert!(!page.is_empty());
    assert!(
        !page.contains(&format!("127.0.0.1:{dead}")),
        "the error page must not reveal the upstream address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_down_at_startup_is_not_ready_until_discovery_succeeds() {
    let app = EchoApp::start().await;
    let idp_port = free_port();
    let proxy_port = free_port();
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let mut proxy = Proxy::spawn(&ProxyConfig::new(proxy_port, &issuer, &app.url()));
    let browser = Browser::new();

    // Alive (/ping) but not ready (/ready) while discovery cannot succeed.
    let deadline = std::time::Instant::now() + support::STARTUP_TIMEOUT;
    loop {
        assert!(
            proxy.is_running(),
            "authproxy exited while the IdP was down"
        );
        let ping = browser.client().get(proxy.url("/ping")).send().await;
        if ping.map(|r| r.status() == 200).unwrap_or(false) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "/ping never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        assert_eq!(proxy.ready_status().await, Some(503));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let resp = browser.get(&proxy.url("/private")).await;
    assert_ne!(
        resp.status(),
        200,
        "no access while the provider is unknown"
    );
    assert_eq!(app.hits(), 0);
    assert!(proxy.is_running());

    // The IdP comes up: discovery is retried and the proxy becomes ready.
    let idp = Idp::start_on(idp_port, IdpConfig::default().redirect_to_proxy(proxy_port)).await;
    if let Err(why) = proxy.wait_ready(Duration::from_secs(60)).await {
        panic!("authproxy never became ready after the IdP came up: {why}");
    }
    let stack = Stack { idp, app, proxy };
    let echo = stack.sign_in(&browser, "/late", &Login::new("erin")).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("erin@example.com"));
}
