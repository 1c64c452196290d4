//! The browser flow against a provider fake that approves at once: `/oauth2/start` → the
//! fake's authorization endpoint → the proxy callback, every hop asserted, and the checks of
//! a refused callback (status, page title, no session, a way back).

use std::time::Duration;

use super::browser::{location, Browser};
use super::proxy::Proxy;
use super::{deleted_session_cookies, session_set_cookie, EchoApp, EchoReply, COOKIE_NAME};

/// `/oauth2/start?rd=/hello` (with `provider` when given) → the fake's authorize endpoint,
/// which must start with `authorize_prefix`, → the callback URL. Returns the callback's
/// response and the authorization URL the proxy sent the browser to.
pub async fn login_at(
    browser: &Browser,
    proxy: &Proxy,
    provider: Option<&str>,
    authorize_prefix: &str,
) -> (reqwest::Response, url::Url) {
    let start = match provider {
        Some(id) => proxy.url(&format!("/oauth2/start?provider={id}&rd=%2Fhello")),
        None => proxy.url("/oauth2/start?rd=%2Fhello"),
    };
    let resp = browser.get(&start).await;
    assert_eq!(
        resp.status(),
        302,
        "/oauth2/start redirects to the provider"
    );
    let authorize = location(&resp);
    assert!(
        authorize.as_str().starts_with(authorize_prefix),
        "start redirected to {authorize}, expected {authorize_prefix}"
    );
    let resp = browser.get(authorize.as_str()).await;
    assert_eq!(resp.status(), 302, "the fake approves");
    let callback = location(&resp);
    assert!(
        callback
            .as_str()
            .starts_with(&proxy.url("/oauth2/callback")),
        "the fake redirected to {callback}"
    );
    (browser.get(callback.as_str()).await, authorize)
}

/// [`login_at`] for the only provider.
pub async fn login(browser: &Browser, proxy: &Proxy, authorize_prefix: &str) -> reqwest::Response {
    login_at(browser, proxy, None, authorize_prefix).await.0
}

/// After a successful callback: follow to the app and return its echo.
pub async fn reach_app(browser: &Browser, proxy: &Proxy, callback: reqwest::Response) -> EchoReply {
    assert_eq!(callback.status(), 302, "callback succeeds");
    assert!(
        session_set_cookie(&callback).is_some(),
        "a session is issued"
    );
    let back = location(&callback);
    assert_eq!(back.as_str(), proxy.url("/hello"));
    let resp = browser.get(back.as_str()).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("echo JSON")
}

/// A refused callback: the status, an HTML page with `title`, no session, and a way back.
/// Returns the page.
pub async fn refused(callback: reqwest::Response, status: u16, title: &str) -> String {
    assert_eq!(callback.status().as_u16(), status);
    assert!(session_set_cookie(&callback).is_none(), "no session");
    let body = callback.text().await.unwrap();
    assert!(body.contains(title), "page lacks {title:?}: {body}");
    assert!(body.contains("Try again"), "page lacks a way back: {body}");
    if status == 403 {
        assert!(
            body.contains("href=\"/oauth2/sign_in?rd=%2Fhello\""),
            "a refusal links to the sign-in page: {body}"
        );
    }
    body
}

/// Re-validation at `cookie_refresh` (the proxy must run with a short one, `refresh`): after
/// it, a request is re-validated (`validations()` grows, the session is re-issued); once
/// `revoke` ran, the next re-validation ends the session without reaching the app.
pub async fn revalidates(
    browser: &Browser,
    proxy: &Proxy,
    app: &EchoApp,
    refresh: Duration,
    validations: impl Fn() -> usize,
    revoke: impl FnOnce(),
) {
    tokio::time::sleep(refresh + Duration::from_millis(500)).await;
    let before = validations();
    let resp = browser.get(&proxy.url("/hello")).await;
    assert_eq!(resp.status(), 200, "a valid token keeps the session");
    assert!(
        session_set_cookie(&resp).is_some(),
        "re-validated session re-issued"
    );
    assert!(
        validations() > before,
        "the token was re-validated at the provider"
    );
    revoke();
    tokio::time::sleep(refresh + Duration::from_millis(500)).await;
    let hits = app.hits();
    let resp = browser.get(&proxy.url("/hello")).await;
    assert_ne!(resp.status(), 200, "a revoked token ends the session");
    assert!(
        deleted_session_cookies(&resp)
            .iter()
            .any(|n| n == COOKIE_NAME),
        "the session cookie is cleared"
    );
    assert_eq!(app.hits(), hits, "a revoked session never reaches the app");
}

/// Refresh at `cookie_refresh` (the proxy must run with a short one, `refresh`): after it,
/// a request makes the proxy use the refresh token (`token_requests()` grows) and re-issue
/// the session. Returns the app's echo of that request.
pub async fn refreshes(
    browser: &Browser,
    proxy: &Proxy,
    refresh: Duration,
    token_requests: impl Fn() -> u64,
) -> EchoReply {
    tokio::time::sleep(refresh + Duration::from_millis(500)).await;
    let before = token_requests();
    let resp = browser.get(&proxy.url("/hello")).await;
    assert_eq!(resp.status(), 200, "the refreshed session reaches the app");
    assert!(
        session_set_cookie(&resp).is_some(),
        "refreshed session re-issued"
    );
    assert!(token_requests() > before, "the refresh token was used");
    resp.json().await.expect("echo JSON")
}
