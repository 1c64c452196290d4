//! End to end: the identity provider or the app is down. The user gets a clear error page
//! (503 while the provider was never reached, 502 when it stops answering during a login,
//! 502 when the app is down: tests/e2e_proxy.rs), and nothing reaches the app without a
//! session.

mod support;

use std::time::Duration;

use support::idp::Login;
use support::{
    content_type, free_port, session_set_cookie, Browser, EchoApp, Proxy, ProxyConfig, Stack,
};

/// The page's text must say what is wrong in words a user understands.
async fn error_page(resp: reqwest::Response, status: u16, says: &str) {
    assert_eq!(resp.status(), status);
    assert_eq!(content_type(&resp), "text/html");
    assert!(session_set_cookie(&resp).is_none(), "a session was issued");
    let page = resp.text().await.unwrap();
    assert!(
        page.contains(says),
        "the {status} page does not say {says:?}:\n{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_provider_that_was_never_reached_gives_503_pages_and_no_access() {
    let app = EchoApp::start().await;
    let issuer = format!("http://127.0.0.1:{}", free_port());
    let mut proxy = Proxy::spawn(&ProxyConfig::new(free_port(), &issuer, &app.url()));
    let browser = Browser::new();
    // Alive, not ready.
    let deadline = std::time::Instant::now() + support::STARTUP_TIMEOUT;
    while !browser
        .client()
        .get(proxy.url("/ping"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            proxy.is_running(),
            "authproxy exited while the IdP was down"
        );
        assert!(std::time::Instant::now() < deadline, "/ping never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(proxy.ready_status().await, Some(503));

    let start = browser.get(&proxy.url("/oauth2/start?rd=/private")).await;
    error_page(start, 503, "has not reached its identity provider yet").await;
    // A callback (a stale bookmark, or a forged one) cannot sign anyone in either.
    let callback = browser
        .get(&proxy.url("/oauth2/callback?code=abc&state=def"))
        .await;
    assert!(
        [403, 503].contains(&callback.status().as_u16()),
        "callback answered {}",
        callback.status()
    );
    assert_eq!(content_type(&callback), "text/html");
    assert!(session_set_cookie(&callback).is_none());
    for path in ["/", "/private", "/api/data"] {
        let resp = browser.get(&proxy.url(path)).await;
        assert_ne!(resp.status(), 200, "{path} was served without a session");
    }
    assert_eq!(app.hits(), 0, "a request reached the app without a session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_provider_that_stops_during_a_login_gives_a_502_page_at_the_callback() {
    let mut stack = Stack::start().await;
    let browser = Browser::new();
    let callback = stack
        .callback_url(&browser, "/private", &Login::new("dora"))
        .await;
    // The user signed in at the IdP; it goes down before the proxy redeems the code.
    stack.idp.stop();
    let resp = browser.get(callback.as_str()).await;
    error_page(resp, 502, "The identity provider could not be reached").await;
    let resp = browser.get(&stack.proxy.url("/private")).await;
    assert_ne!(resp.status(), 200);
    assert_eq!(
        stack.app.hits(),
        0,
        "a request reached the app without a session"
    );
    // /oauth2/start still sends the browser to the provider (the proxy does not call it
    // there): the browser, not the proxy, then finds the provider down.
    let start = browser
        .get(&stack.proxy.url("/oauth2/start?rd=/private"))
        .await;
    assert_eq!(start.status(), 302);
    assert!(support::location(&start)
        .as_str()
        .starts_with(stack.idp.issuer()));
}
