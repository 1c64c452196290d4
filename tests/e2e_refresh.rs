//! End to end: session refresh after cookie_refresh with the IdP's refresh token, one refresh for
//! concurrent requests, and a failed refresh (token revoked, IdP down) ending the session.

mod support;

use std::time::Duration;

use support::idp::{IdpConfig, Login};
use support::{
    deleted_session_cookies, is_session_cookie_name, location, session_set_cookie, Browser,
    EchoReply, Stack, COOKIE_NAME,
};

/// cookie_refresh for these scenarios, and how long to wait to be past it (cookie timestamps
/// have one-second resolution).
const COOKIE_REFRESH: &str = "3s";
const PAST_REFRESH: Duration = Duration::from_millis(4200);

async fn refresh_stack() -> Stack {
    Stack::start_with(IdpConfig::default(), |c| {
        c.set("cookie-refresh", COOKIE_REFRESH)
            .set("cookie-expire", "1h")
    })
    .await
}

fn access_token(echo: &EchoReply) -> String {
    echo.header("x-forwarded-access-token")
        .expect("pass_access_token")
        .to_string()
}

/// The response to a request whose session could not be refreshed: the session cookie is
/// deleted and the user is sent to sign in, never to the app.
async fn assert_session_ended(stack: &Stack, browser: &Browser) {
    let hits = stack.app.hits();
    let resp = browser.get(&stack.proxy.url("/after")).await;
    let status = resp.status().as_u16();
    match status {
        403 => {}
        302 => {
            let to = location(&resp);
            assert!(
                to.as_str().starts_with(stack.idp.issuer())
                    || to.as_str().starts_with(&stack.proxy.url("/oauth2/")),
                "a failed refresh redirected to {to}"
            );
        }
        other => panic!("a failed refresh answered {other}, expected the sign-in page"),
    }
    assert!(
        deleted_session_cookies(&resp)
            .iter()
            .any(|n| n == COOKIE_NAME),
        "the session cookie is cleared after a failed refresh"
    );
    assert!(session_set_cookie(&resp).is_none());
    assert_eq!(
        stack.app.hits(),
        hits,
        "the app was reached with a dead session"
    );
    assert!(
        !browser
            .jar()
            .names()
            .iter()
            .any(|n| is_session_cookie_name(n)),
        "jar still holds {:?}",
        browser.jar().names()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_is_refreshed_after_cookie_refresh_and_keeps_working() {
    let stack = refresh_stack().await;
    let browser = Browser::new();
    let echo = stack.sign_in(&browser, "/", &Login::new("alice")).await;
    let first_token = access_token(&echo);
    let first_cookie = browser.jar().get(COOKIE_NAME).expect("session cookie");
    assert_eq!(stack.idp.stats().await.grants.refresh_token, 0);

    tokio::time::sleep(PAST_REFRESH).await;
    let resp = browser.get(&stack.proxy.url("/after")).await;
    assert_eq!(resp.status(), 200, "a refreshable session keeps working");
    let reissued = session_set_cookie(&resp).expect("the refreshed session is re-issued");
    assert_ne!(reissued.value(), first_cookie);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_ne!(
        access_token(&echo),
        first_token,
        "the app sees the new access token"
    );
    assert_eq!(echo.header("x-forwarded-email"), Some("alice@example.com"));
    let stats = stack.idp.stats().await;
    assert_eq!(stats.grants.refresh_token, 1, "{stats:?}");

    // The fresh cookie needs no further refresh.
    let resp = browser.get(&stack.proxy.url("/again")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(stack.idp.stats().await.grants.refresh_token, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_stale_cookie_refresh_once() {
    let stack = refresh_stack().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("bob")).await;
    tokio::time::sleep(PAST_REFRESH).await;

    let stale = browser
        .cookie_header(&stack.proxy.url("/"))
        .expect("cookies");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let requests = (0..8).map(|i| {
        client
            .get(stack.proxy.url(&format!("/concurrent/{i}")))
            .header("cookie", stale.clone())
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    for resp in responses {
        let resp = resp.expect("request");
        assert_eq!(resp.status(), 200);
    }
    let stats = stack.idp.stats().await;
    assert_eq!(
        stats.grants.refresh_token, 1,
        "8 concurrent requests with the same stale cookie refreshed {} times",
        stats.grants.refresh_token
    );
    assert_eq!(stats.token_requests, 2, "one code redemption + one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_refresh_after_revocation_ends_the_session() {
    let stack = refresh_stack().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("carol")).await;
    stack.idp.revoke("carol").await;
    tokio::time::sleep(PAST_REFRESH).await;
    assert_session_ended(&stack, &browser).await;
    let stats = stack.idp.stats().await;
    assert!(
        stats.grant_errors >= 1,
        "the refresh was attempted: {stats:?}"
    );
    assert_eq!(stats.grants.refresh_token, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_refresh_while_the_idp_is_down_ends_the_session() {
    let mut stack = refresh_stack().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("dave")).await;
    stack.idp.stop();
    tokio::time::sleep(PAST_REFRESH).await;
    assert_session_ended(&stack, &browser).await;
}
