//! End to end through the authproxy binary for the OpenID Connect provider types ADFS,
//! cidaas and login.gov against their fakes (tests/fakes/oidc_kinds.rs), and for Gitea and
//! Forgejo through the `github` type with their URLs (oauth2-proxy's documented way) against
//! the GitHub fake in its Gitea shape. Each: the allowed user reaches the app with the
//! identity headers, the wrong one gets a 403 page with a way back, refresh or re-validation
//! as oauth2-proxy does it, and provider errors become clear pages.

mod fakes;
mod support;

use std::time::Duration;

use serde_json::json;

use fakes::github::{self as gh, GhUser, GithubFake};
use fakes::oidc::{self, OidcFake};
use fakes::oidc_kinds::{self, LOGIN_GOV_CLIENT_ID};
use support::flow::{login, login_at, reach_app, refreshes, refused, revalidates};
use support::{free_port, header_groups, Browser, EchoApp, Proxy, ProxyConfig};

const REFRESH: Duration = Duration::from_millis(600);

fn oidc_proxy(kind: &str, fake: &OidcFake, app: &EchoApp) -> ProxyConfig {
    ProxyConfig::new(free_port(), &fake.issuer, &app.url())
        .set("provider", kind)
        .set("client-id", oidc::CLIENT_ID)
        .set("client-secret", oidc::CLIENT_SECRET)
        .set("cookie-refresh", "600ms")
        .set("cookie-expire", "1h")
}

fn query(u: &url::Url, key: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn adfs_email_falls_back_to_the_upn_also_after_a_refresh() {
    let fake = oidc_kinds::adfs().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(oidc_proxy("adfs", &fake, &app)).await;
    let authorize = format!("{}/adfs/oauth2/authorize", fake.base());
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    assert_eq!(
        query(&sent, "scope").as_deref(),
        Some("openid email profile")
    );
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("jdoe@corp.example"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["Domain Users", "App Users"]
    );
    // With an email claim rule, the email wins over the UPN.
    fake.sign_in_as("mail");
    let other = Browser::new();
    let echo = reach_app(&other, &proxy, login(&other, &proxy, &authorize).await).await;
    assert_eq!(
        echo.header("x-forwarded-email"),
        Some("mail.user@corp.example")
    );
    // The refresh brings a new ID token, without email: still the UPN.
    let echo = refreshes(&browser, &proxy, REFRESH, || fake.token_requests()).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("jdoe@corp.example"));
    // The token endpoint failing is a clear page.
    fake.state.lock().unwrap().token_status = Some(503);
    let page = refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Sign-in was refused",
    )
    .await;
    assert!(page.contains("server_error"), "{page}");
}

#[tokio::test]
async fn adfs_resource_prefixes_the_scope_and_skip_scope_drops_it() {
    let fake = oidc_kinds::adfs().await;
    let app = EchoApp::start().await;
    let authorize = format!("{}/adfs/oauth2/authorize", fake.base());
    let with_resource =
        Proxy::start(oidc_proxy("adfs", &fake, &app).set("resource", "https://app.example.com"))
            .await;
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &with_resource, None, &authorize).await;
    assert_eq!(
        query(&sent, "scope").as_deref(),
        Some("https://app.example.com/openid email profile")
    );
    let echo = reach_app(&browser, &with_resource, callback).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("jdoe@corp.example"));
    // The access token is for the resource: userinfo is not asked.
    assert!(!fake.server.paths().iter().any(|p| p == "/adfs/userinfo"));
    let skip =
        Proxy::start(oidc_proxy("adfs", &fake, &app).enable("authproxy-adfs-skip-scope")).await;
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &skip, None, &authorize).await;
    assert_eq!(query(&sent, "scope"), None, "skipScope sends no scope");
    reach_app(&browser, &skip, callback).await;
}

#[tokio::test]
async fn cidaas_groups_and_roles_from_userinfo_decide_and_are_read_again_at_refresh() {
    let fake = oidc_kinds::cidaas().await;
    let app = EchoApp::start().await;
    let proxy =
        Proxy::start(oidc_proxy("cidaas", &fake, &app).set("allowed-group", "customers:member"))
            .await;
    let authorize = format!("{}/authz-srv/authz", fake.base());
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    assert_eq!(
        query(&sent, "scope").as_deref(),
        Some("openid email profile roles groups")
    );
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("cara@example.com"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["customers:member", "cidaas:USER"]
    );
    fake.sign_in_as("gus");
    refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Access denied",
    )
    .await;
    // A role granted since the login shows after the refresh.
    fake.set_userinfo(
        "cara",
        json!({"groups": [{"groupId": "customers", "roles": ["member"]}], "roles": ["USER", "ADMIN"]}),
    );
    let echo = refreshes(&browser, &proxy, REFRESH, || fake.token_requests()).await;
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["customers:member", "cidaas:USER", "cidaas:ADMIN"]
    );
    // A revoked refresh token ends the session at the next refresh.
    fake.revoke("cara");
    tokio::time::sleep(REFRESH + Duration::from_millis(500)).await;
    let hits = app.hits();
    assert_ne!(browser.get(&proxy.url("/hello")).await.status(), 200);
    assert_eq!(app.hits(), hits);
}

#[tokio::test]
async fn login_gov_signs_the_client_assertion_and_revalidates_at_userinfo() {
    let fake = oidc_kinds::login_gov().await;
    let app = EchoApp::start().await;
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/logingov-client-rsa.pem");
    // Only login_url: the token, userinfo and key endpoints and the issuer follow from its
    // origin, as for secure.login.gov and the sandbox.
    let proxy = Proxy::start(
        ProxyConfig::new(free_port(), "http://unused.invalid", &app.url())
            .remove("oidc-issuer-url")
            .remove("client-secret")
            .set("provider", "login.gov")
            .set("client-id", LOGIN_GOV_CLIENT_ID)
            .set("jwt-key-file", key.to_str().unwrap())
            .set(
                "login-url",
                &format!("{}/openid_connect/authorize", fake.base()),
            )
            .set("cookie-refresh", "600ms")
            .set("cookie-expire", "1h"),
    )
    .await;
    let authorize = format!("{}/openid_connect/authorize", fake.base());
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    assert_eq!(query(&sent, "scope").as_deref(), Some("email openid"));
    assert_eq!(
        query(&sent, "acr_values").as_deref(),
        Some("http://idmanagement.gov/ns/assurance/loa/1")
    );
    assert!(
        query(&sent, "nonce").is_some_and(|n| n.len() >= 22),
        "a per-login nonce"
    );
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("lgu@example.gov"));
    // The fake verified the assertion (signature, iss/sub, aud, exp, unused jti).
    let token_calls: Vec<_> = fake
        .server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/api/openid_connect/token")
        .cloned()
        .collect();
    assert_eq!(token_calls.len(), 1);
    let form = token_calls[0].form();
    assert!(form.contains_key("client_assertion"));
    assert!(!form.contains_key("client_secret"));
    assert!(!token_calls[0].headers.contains_key("authorization"));
    // login.gov always says whether the address is verified: silence is not enough.
    fake.sign_in_as("noflag");
    refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Sign-in rejected",
    )
    .await;
    fake.sign_in_as("lgu");
    revalidates(
        &browser,
        &proxy,
        &app,
        REFRESH,
        || {
            fake.server
                .paths()
                .iter()
                .filter(|p| *p == "/api/openid_connect/userinfo")
                .count()
        },
        || fake.revoke_access("lgu"),
    )
    .await;
    // A client assertion the provider refuses is shown with its answer.
    fake.state
        .lock()
        .unwrap()
        .assertion_client
        .as_mut()
        .unwrap()
        .client_id = "urn:other".into();
    let page = refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Sign-in was refused",
    )
    .await;
    assert!(page.contains("invalid_client"), "{page}");
}

async fn gitea_users(fake: &GithubFake) {
    let mut alice = GhUser::new("alice", 1);
    alice.orgs = vec!["acme".into(), "tools".into()];
    alice.teams = vec![("acme".into(), "ops".into())];
    fake.add_user(alice);
    fake.add_user(GhUser::new("mallory", 2));
}

/// The `github` type pointed at a Gitea / Forgejo instance (`{base}{root}`).
fn gitea_proxy(fake: &GithubFake, app: &EchoApp, name: &str) -> ProxyConfig {
    ProxyConfig::new(free_port(), "http://unused.invalid", &app.url())
        .remove("oidc-issuer-url")
        .set("provider", "github")
        .set("provider-display-name", name)
        .set("client-id", gh::CLIENT_ID)
        .set("client-secret", gh::CLIENT_SECRET)
        .set("login-url", &fake.url("/login/oauth/authorize"))
        .set("redeem-url", &fake.url("/login/oauth/access_token"))
        .set("validate-url", &fake.api_url())
        .set("cookie-refresh", "600ms")
        .set("cookie-expire", "1h")
}

#[tokio::test]
async fn gitea_through_the_github_type_with_org_team_and_refresh() {
    let fake = GithubFake::start_gitea().await;
    gitea_users(&fake).await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        gitea_proxy(&fake, &app, "Gitea")
            .set("github-org", "acme")
            .set("github-team", "ops"),
    )
    .await;
    let authorize = fake.url("/login/oauth/authorize");
    let browser = Browser::new();
    let echo = reach_app(&browser, &proxy, login(&browser, &proxy, &authorize).await).await;
    assert_eq!(echo.header("x-forwarded-user"), Some("alice"));
    assert_eq!(echo.header("x-forwarded-email"), Some("alice@example.com"));
    // Gitea names orgs by `username` and teams by `name`; pages are sized with `limit`.
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["acme", "tools", "acme:ops"]
    );
    assert!(fake
        .server
        .paths()
        .iter()
        .any(|p| p == "/api/v1/user/teams"));
    fake.sign_in_as("mallory");
    refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Access denied",
    )
    .await;
    // Gitea access tokens come with a refresh token: refreshed at cookie_refresh, with the
    // memberships read again.
    let echo = refreshes(&browser, &proxy, REFRESH, || fake.token_requests()).await;
    assert_eq!(echo.header("x-forwarded-user"), Some("alice"));
    // A refused refresh (revoked grant) ends the session.
    fake.revoke("alice");
    tokio::time::sleep(REFRESH + Duration::from_millis(500)).await;
    let resp = browser.get(&proxy.url("/hello")).await;
    assert_ne!(resp.status(), 200);
}

#[tokio::test]
async fn forgejo_below_a_sub_path_through_the_github_type() {
    let fake = GithubFake::start_gitea_at("/git").await;
    gitea_users(&fake).await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(gitea_proxy(&fake, &app, "Forgejo").set("github-user", "alice")).await;
    let page = Browser::new().get(&proxy.url("/oauth2/sign_in")).await;
    assert!(page.text().await.unwrap().contains("Sign in with Forgejo"));
    let authorize = format!("{}/git/login/oauth/authorize", fake.base());
    let browser = Browser::new();
    let echo = reach_app(&browser, &proxy, login(&browser, &proxy, &authorize).await).await;
    assert_eq!(echo.header("x-forwarded-user"), Some("alice"));
    assert!(fake
        .server
        .paths()
        .iter()
        .any(|p| p == "/git/api/v1/user/emails"));
    fake.sign_in_as("mallory");
    refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Access denied",
    )
    .await;
}
