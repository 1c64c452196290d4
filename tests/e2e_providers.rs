//! End to end through the authproxy binary with local provider fakes: GitHub (org, team,
//! repo, user, unverified email, revoked token at cookie_refresh, API down), Google (hosted
//! domain, groups from the Directory API, unverified email), Microsoft Entra ID (allowed
//! tenants) and GitLab (groups, projects with access level). Every hop of the browser flow is
//! asserted. Keycloak runs against the real oidc-provider in tests/e2e_keycloak.rs.

mod fakes;
mod support;

use std::time::Duration;

use serde_json::json;

use fakes::github::{self as gh, GhUser, GithubFake};
use fakes::gitlab::gitlab_fake;
use fakes::google::{self as google, google_fake, service_account_file};
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
    // No session was issued: another account or provider may do (or the provider may be
    // back), so the page links back.
    assert!(body.contains("Try again"), "page lacks a way back: {body}");
    if status == 403 {
        assert!(
            body.contains("href=\"/oauth2/sign_in?rd=%2Fhello\""),
            "a refusal links to the sign-in page: {body}"
        );
    }
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

#[tokio::test]
async fn github_member_outside_the_required_team_gets_the_403_page() {
    let fake = github_fake().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        github_proxy(free_port(), &fake, &app)
            .set("github-org", "acme")
            .set("github-team", "devs"),
    )
    .await;
    let browser = Browser::new();
    refused(
        login(&browser, &proxy, &fake.base()).await,
        403,
        "Access denied",
    )
    .await;
    assert_eq!(app.hits(), 0);
    // The proxy did read the teams before refusing.
    assert!(fake
        .server
        .paths()
        .iter()
        .any(|p| p == "/api/v3/user/teams"));
}

#[tokio::test]
async fn github_repo_restriction_admits_pushers_and_refuses_others() {
    let fake = github_fake().await;
    {
        let mut s = fake.state.lock().unwrap();
        let alice = s.users.get_mut("alice").unwrap();
        alice.repos.insert("acme/app".into(), (false, true, true));
    }
    let app = EchoApp::start().await;
    let proxy =
        Proxy::start(github_proxy(free_port(), &fake, &app).set("github-repo", "acme/app")).await;
    let browser = Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(echo.header("x-forwarded-user"), Some("alice"));
    fake.sign_in_as("mallory");
    let browser = Browser::new();
    refused(
        login(&browser, &proxy, &fake.base()).await,
        403,
        "Access denied",
    )
    .await;
    assert_eq!(app.hits(), 1, "only alice reached the app");
}

#[tokio::test]
async fn github_user_allow_list_admits_only_the_listed_logins() {
    let fake = github_fake().await;
    fake.add_user(GhUser::new("carol", 3));
    fake.sign_in_as("carol");
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        github_proxy(free_port(), &fake, &app)
            .set("github-org", "acme")
            .set("github-user", "carol"),
    )
    .await;
    // carol is in no org, but listed by login.
    let browser = Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(echo.header("x-forwarded-user"), Some("carol"));
    fake.sign_in_as("mallory");
    let browser = Browser::new();
    refused(
        login(&browser, &proxy, &fake.base()).await,
        403,
        "Access denied",
    )
    .await;
}

#[tokio::test]
async fn github_account_with_an_unverified_primary_email_is_rejected() {
    let fake = github_fake().await;
    let mut ursula = GhUser::new("ursula", 4);
    ursula.emails = vec![
        ("ursula@example.com".into(), true, false),
        ("old@example.com".into(), false, true),
    ];
    fake.add_user(ursula);
    fake.sign_in_as("ursula");
    let app = EchoApp::start().await;
    let proxy = Proxy::start(github_proxy(free_port(), &fake, &app)).await;
    let browser = Browser::new();
    let callback = login(&browser, &proxy, &fake.base()).await;
    assert_eq!(callback.status(), 403);
    assert!(session_set_cookie(&callback).is_none(), "no session");
    let body = callback.text().await.unwrap();
    assert!(body.contains("Sign-in rejected"), "{body}");
    assert!(body.contains("not verified"), "{body}");
    assert_eq!(app.hits(), 0);
}

/// Google with the Directory API group check against the fake.
fn google_proxy(port: u16, fake: &oidc::OidcFake, app: &EchoApp) -> ProxyConfig {
    let key = service_account_file(fake);
    oidc_proxy(port, "google", &fake.issuer, app)
        .set("email-domain", "corp.example")
        .set("google-group", "admins@corp.example")
        .set("google-admin-email", google::ADMIN_EMAIL)
        .set("google-service-account-json", key.to_str().unwrap())
        .set("authproxy-google-admin-api-url", &fake.base())
}

#[tokio::test]
async fn google_group_member_reaches_the_app_and_others_are_refused() {
    let fake = google_fake().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(google_proxy(free_port(), &fake, &app)).await;
    let browser = Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("ann@corp.example"));
    // Groups from the Directory API, across its two pages.
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec![
            "all@corp.example",
            "eng@corp.example",
            "admins@corp.example"
        ]
    );
    let paths = fake.server.paths();
    assert!(paths.iter().any(|p| p == "/sa-token"), "{paths:?}");
    assert_eq!(
        paths
            .iter()
            .filter(|p| *p == "/admin/directory/v1/groups")
            .count(),
        2,
        "both Directory pages read"
    );
    // In the hosted domain but not in admins@: refused.
    fake.sign_in_as("ned");
    let browser = Browser::new();
    refused(
        login(&browser, &proxy, &fake.base()).await,
        403,
        "Access denied",
    )
    .await;
    assert_eq!(app.hits(), 1);
}

#[tokio::test]
async fn google_directory_refusing_the_service_account_shows_the_provider_error() {
    let fake = google_fake().await;
    let app = EchoApp::start().await;
    // The fake only accepts assertions for ADMIN_EMAIL.
    let proxy = Proxy::start(
        google_proxy(free_port(), &fake, &app).set("google-admin-email", "someone@corp.example"),
    )
    .await;
    let browser = Browser::new();
    let callback = login(&browser, &proxy, &fake.base()).await;
    assert!(session_set_cookie(&callback).is_none(), "no session");
    assert_eq!(callback.status(), 403);
    let body = callback.text().await.unwrap();
    // A clear page naming the service-account token endpoint's RFC 6749 error.
    assert!(body.contains("Sign-in was refused"), "{body}");
    assert!(body.contains("invalid_grant"), "{body}");
    assert!(fake.server.paths().iter().any(|p| p == "/sa-token"));
    assert!(!fake
        .server
        .paths()
        .iter()
        .any(|p| p == "/admin/directory/v1/groups"));
    assert_eq!(app.hits(), 0);
}

#[tokio::test]
async fn google_account_with_an_unverified_email_is_rejected() {
    let fake = google_fake().await;
    fake.sign_in_as("una");
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        oidc_proxy(free_port(), "google", &fake.issuer, &app).set("email-domain", "corp.example"),
    )
    .await;
    let browser = Browser::new();
    refused(
        login(&browser, &proxy, &fake.base()).await,
        403,
        "Sign-in rejected",
    )
    .await;
    assert_eq!(app.hits(), 0);
}

#[tokio::test]
async fn gitlab_group_member_reaches_the_app_and_others_are_refused() {
    let fake = gitlab_fake().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        oidc_proxy(free_port(), "gitlab", &fake.issuer, &app).set("gitlab-group", "acme/platform"),
    )
    .await;
    let browser = Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("gil@example.com"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["acme", "acme/platform"]
    );
    fake.sign_in_as("hal");
    let browser = Browser::new();
    refused(
        login(&browser, &proxy, &fake.base()).await,
        403,
        "Access denied",
    )
    .await;
    assert_eq!(app.hits(), 1);
}

#[tokio::test]
async fn gitlab_project_access_level_decides() {
    let fake = gitlab_fake().await;
    fake.sign_in_as("hal");
    let app = EchoApp::start().await;
    // Developer (30) on acme/app meets the required 30.
    let proxy = Proxy::start(
        oidc_proxy(free_port(), "gitlab", &fake.issuer, &app).set("gitlab-project", "acme/app=30"),
    )
    .await;
    let browser = Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("hal@example.com"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["other", "project:acme/app"]
    );
    assert!(fake
        .server
        .paths()
        .iter()
        .any(|p| p == "/api/v4/projects/acme%2Fapp"));
    // Guest (10) on acme/docs is below the default 20 (Reporter); gil has no access at all.
    let proxy = Proxy::start(
        oidc_proxy(free_port(), "gitlab", &fake.issuer, &app).set("gitlab-project", "acme/docs"),
    )
    .await;
    for user in ["hal", "gil"] {
        fake.sign_in_as(user);
        let browser = Browser::new();
        refused(
            login(&browser, &proxy, &fake.base()).await,
            403,
            "Access denied",
        )
        .await;
    }
    assert_eq!(app.hits(), 1);
}
