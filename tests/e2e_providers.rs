//! End to end through the authproxy binary with local provider fakes: GitHub (org, team,
//! revoked token at cookie_refresh, API down), Google (hosted domain) and Microsoft Entra ID
//! (allowed tenants). Every hop of the browser flow is asserted.

mod fakes;
mod support;

use std::time::Duration;

use serde_json::json;

use fakes::github::{self as gh, GhUser, GithubFake};
use fakes::oidc::{self, OidcFake};
use support::{
    deleted_session_cookies, free_port, header_groups, location, session_set_cookie, Browser,
    EchoApp, EchoReply, Proxy, ProxyConfig, COOKIE_NAME,
};

/// The proxy flags for GitHub against the fake (GitHub Enterprise style URLs).
fn github_proxy(port: u16, fake: &GithubFake, app: &EchoApp) -> ProxyConfig {
    ProxyConfig::new(port, "http://unused.invalid", &app.url())
        .remove("oidc-issuer-url")
        .set("provider", "github")
        .set("client-id", gh::CLIENT_ID)
        .set("client-secret", gh::CLIENT_SECRET)
        .set(
            "login-url",
            &format!("{}/login/oauth/authorize", fake.base()),
        )
        .set(
            "redeem-url",
            &format!("{}/login/oauth/access_token", fake.base()),
        )
        .set("validate-url", &fake.api_url())
}

fn oidc_proxy(port: u16, kind: &str, issuer: &str, app: &EchoApp) -> ProxyConfig {
    ProxyConfig::new(port, issuer, &app.url())
        .set("provider", kind)
        .set("client-id", oidc::CLIENT_ID)
        .set("client-secret", oidc::CLIENT_SECRET)
}

/// `/oauth2/start` → the fake's authorize endpoint (which approves) → the proxy callback.
/// Returns the callback's response.
async fn login(browser: &Browser, proxy: &Proxy, provider_base: &str) -> reqwest::Response {
    let resp = browser.get(&proxy.url("/oauth2/start?rd=%2Fhello")).await;
    assert_eq!(
        resp.status(),
        302,
        "/oauth2/start redirects to the provider"
    );
    let authorize = location(&resp);
    assert!(
        authorize.as_str().starts_with(provider_base),
        "start redirected to {authorize}"
    );
    let resp = browser.get(authorize.as_str()).await;
    assert_eq!(resp.status(), 302, "the fake approves");
    let callback = location(&resp);
    assert!(callback
        .as_str()
        .starts_with(&proxy.url("/oauth2/callback")));
    browser.get(callback.as_str()).await
}

/// After a successful callback: follow to the app and return its echo.
async fn reach_app(browser: &Browser, proxy: &Proxy, callback: reqwest::Response) -> EchoReply {
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

/// A refused callback: the status, an HTML page with the title, and no session.
async fn refused(callback: reqwest::Response, status: u16, title: &str) {
    assert_eq!(callback.status().as_u16(), status);
    assert!(session_set_cookie(&callback).is_none(), "no session");
    let body = callback.text().await.unwrap();
    assert!(body.contains(title), "page lacks {title:?}: {body}");
}

async fn github_fake() -> GithubFake {
    let fake = GithubFake::start().await;
    let mut alice = GhUser::new("alice", 1);
    alice.orgs = vec!["oss".into(), "tools".into(), "acme".into()];
    alice.teams = vec![("acme".into(), "ops".into())];
    fake.add_user(alice);
    fake.add_user(GhUser::new("mallory", 2));
    fake
}

#[tokio::test]
async fn github_org_member_reaches_the_app_with_orgs_and_teams_as_groups() {
    let fake = github_fake().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        github_proxy(free_port(), &fake, &app)
            .set("github-org", "acme")
            .set("github-team", "ops"),
    )
    .await;
    let browser = Browser::new();
    let callback = login(&browser, &proxy, &fake.base()).await;
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-user"), Some("alice"));
    assert_eq!(echo.header("x-forwarded-email"), Some("alice@example.com"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["oss", "tools", "acme", "acme:ops"]
    );
}

#[tokio::test]
async fn github_user_outside_the_org_gets_the_403_page() {
    let fake = github_fake().await;
    fake.sign_in_as("mallory");
    let app = EchoApp::start().await;
    let proxy =
        Proxy::start(github_proxy(free_port(), &fake, &app).set("github-org", "acme")).await;
    let browser = Browser::new();
    let callback = login(&browser, &proxy, &fake.base()).await;
    refused(callback, 403, "Access denied").await;
    assert_eq!(app.hits(), 0);
}

#[tokio::test]
async fn github_api_down_shows_the_provider_error_page_and_issues_no_session() {
    let fake = github_fake().await;
    fake.state.lock().unwrap().api_status = Some(503);
    let app = EchoApp::start().await;
    let proxy = Proxy::start(github_proxy(free_port(), &fake, &app)).await;
    let browser = Browser::new();
    let callback = login(&browser, &proxy, &fake.base()).await;
    refused(callback, 502, "Identity provider unavailable").await;
}

#[tokio::test]
async fn github_revoked_token_ends_the_session_at_cookie_refresh() {
    let fake = github_fake().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        github_proxy(free_port(), &fake, &app)
            .set("cookie-refresh", "2s")
            .set("cookie-expire", "1h"),
    )
    .await;
    let browser = Browser::new();
    let callback = login(&browser, &proxy, &fake.base()).await;
    reach_app(&browser, &proxy, callback).await;
    // Past cookie_refresh with a valid token: re-validated against /user, still signed in.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let before = fake.server.paths().len();
    let resp = browser.get(&proxy.url("/hello")).await;
    assert_eq!(resp.status(), 200);
    assert!(
        session_set_cookie(&resp).is_some(),
        "re-validated session re-issued"
    );
    assert!(fake.server.paths()[before..]
        .iter()
        .any(|p| p == "/api/v3/user"));
    // Revoked: the next re-validation ends the session.
    fake.revoke("alice");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let hits = app.hits();
    let resp = browser.get(&proxy.url("/hello")).await;
    assert_ne!(resp.status(), 200);
    assert!(deleted_session_cookies(&resp)
        .iter()
        .any(|n| n == COOKIE_NAME));
    assert_eq!(app.hits(), hits, "a revoked session never reaches the app");
}

#[tokio::test]
async fn google_account_outside_the_hosted_domain_is_refused() {
    let fake = OidcFake::start("").await;
    fake.add_user(
        "ann",
        json!({"email": "ann@corp.example", "email_verified": true, "hd": "corp.example"}),
    );
    fake.add_user(
        "pat",
        json!({"email": "pat@corp.example", "email_verified": true}),
    );
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        oidc_proxy(free_port(), "google", &fake.issuer, &app).set("email-domain", "corp.example"),
    )
    .await;
    let browser = Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("ann@corp.example"));
    fake.sign_in_as("pat");
    let browser = Browser::new();
    refused(
        login(&browser, &proxy, &fake.base()).await,
        403,
        "Access denied",
    )
    .await;
}

#[tokio::test]
async fn entra_id_multi_tenant_allows_only_the_listed_tenants() {
    let fake = OidcFake::start_with("/common/v2.0", Some("/{tenantid}/v2.0")).await;
    let base = fake.base();
    fake.add_user("mia", json!({"iss": format!("{base}/t-good/v2.0"), "tid": "t-good", "email": "mia@contoso.example", "groups": ["g1"]}));
    fake.add_user(
        "max",
        json!({"iss": format!("{base}/t-evil/v2.0"), "tid": "t-evil", "email": "max@evil.example"}),
    );
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        oidc_proxy(
            free_port(),
            "entra-id",
            &format!("{base}/common/v2.0"),
            &app,
        )
        .set("entra-id-allowed-tenant", "t-good"),
    )
    .await;
    let browser = Browser::new();
    let echo = reach_app(&browser, &proxy, login(&browser, &proxy, &base).await).await;
    assert_eq!(
        echo.header("x-forwarded-email"),
        Some("mia@contoso.example")
    );
    assert_eq!(header_groups(&echo, "x-forwarded-groups"), vec!["g1"]);
    fake.sign_in_as("max");
    let browser = Browser::new();
    refused(login(&browser, &proxy, &base).await, 403, "Access denied").await;
}
