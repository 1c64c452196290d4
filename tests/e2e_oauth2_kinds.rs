//! End to end through the authproxy binary, for every plain OAuth 2.0 provider type against its
//! local fake (tests/fakes): Bitbucket, DigitalOcean, Facebook, LinkedIn, Nextcloud, SourceHut
//! and the legacy (non-OIDC) Keycloak. One proxy per test: the allowed user reaches the app
//! with the identity headers, each restriction refuses the wrong user with a 403 page that
//! links back to sign-in, the token is re-validated at `cookie_refresh` as oauth2-proxy does it
//! (a revoked token ends the session), and the provider's error answers (a refused code, an
//! API that is down) become clear error pages.

mod fakes;
mod support;

use std::time::Duration;

use fakes::bitbucket::{self, BbUser};
use fakes::oauth::{self, ClientAuth, Fake, HasGrants};
use fakes::{digitalocean, facebook, keycloak, linkedin, nextcloud, sourcehut};
use support::flow::{login, login_at, reach_app, refused, revalidates};
use support::{free_port, header_groups, Browser, EchoApp, Proxy, ProxyConfig};

const REFRESH: Duration = Duration::from_millis(600);

/// The proxy for provider type `kind` against a fake, with a short `cookie_refresh` ([`REFRESH`]).
fn proxy_config(kind: &str, app: &EchoApp, urls: &[(&str, String)]) -> ProxyConfig {
    let mut c = ProxyConfig::new(free_port(), "http://unused.invalid", &app.url())
        .remove("oidc-issuer-url")
        .set("provider", kind)
        .set("client-id", oauth::CLIENT_ID)
        .set("client-secret", oauth::CLIENT_SECRET)
        .set("cookie-refresh", "600ms")
        .set("cookie-expire", "1h");
    for (flag, value) in urls {
        c = c.set(flag, value);
    }
    c
}

/// The provider's error answers: a refused code is shown with the provider's own error (403),
/// an API that is down is "unavailable" (502). Neither issues a session.
async fn provider_errors_are_clear_pages<S: HasGrants>(
    fake: &Fake<S>,
    proxy: &Proxy,
    authorize: &str,
    code_error: &str,
) {
    fake.refuse_codes(true);
    let page = refused(
        login(&Browser::new(), proxy, authorize).await,
        403,
        "Sign-in was refused",
    )
    .await;
    assert!(
        page.contains(code_error),
        "the provider's error {code_error:?}: {page}"
    );
    fake.refuse_codes(false);
    fake.api_status(Some(503));
    refused(
        login(&Browser::new(), proxy, authorize).await,
        502,
        "Identity provider unavailable",
    )
    .await;
    fake.api_status(None);
}

fn query(u: &url::Url, key: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn bitbucket_workspace_and_repository_decide_and_tokens_are_revalidated() {
    let user = |emails: &[(&str, bool, bool)], ws: &[&str], repos: &[&str]| BbUser {
        emails: emails
            .iter()
            .map(|(e, p, c)| ((*e).to_owned(), *p, *c))
            .collect(),
        workspaces: ws.iter().map(|s| (*s).to_owned()).collect(),
        contributes_to: repos.iter().map(|s| (*s).to_owned()).collect(),
    };
    let fake = bitbucket::start(vec![
        (
            "alice",
            user(
                &[
                    ("old@example.com", false, true),
                    ("alice@example.com", true, true),
                ],
                &["other", "acme"],
                &["acme/app"],
            ),
        ),
        (
            "bob",
            user(&[("bob@example.com", true, true)], &["acme"], &[]),
        ),
        (
            "carl",
            user(
                &[("carl@example.com", true, true)],
                &["other"],
                &["acme/app"],
            ),
        ),
        (
            "una",
            user(
                &[("una@example.com", true, false)],
                &["acme"],
                &["acme/app"],
            ),
        ),
    ])
    .await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        proxy_config(
            "bitbucket",
            &app,
            &[
                ("login-url", fake.url("/site/oauth2/authorize")),
                ("redeem-url", fake.url("/site/oauth2/access_token")),
                ("validate-url", fake.url("/2.0/user/emails")),
            ],
        )
        .set("bitbucket-team", "acme")
        .set("bitbucket-repository", "acme/app"),
    )
    .await;
    let authorize = fake.url("/site/oauth2/authorize");
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    // The restrictions add the scopes their API calls need, as oauth2-proxy does.
    assert_eq!(
        query(&sent, "scope").as_deref(),
        Some("email account repository")
    );
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("alice@example.com"));
    assert_eq!(
        echo.header("x-forwarded-user"),
        None,
        "oauth2-proxy sets no user"
    );
    assert_eq!(fake.last_client_auth(), Some(ClientAuth::Basic));
    // Every page was read, with the token in the Authorization header only.
    assert_eq!(fake.requests_to("/2.0/user/emails").len(), 2);
    assert_eq!(fake.requests_to("/2.0/user/workspaces").len(), 2);
    let repo_calls = fake.requests_to("/2.0/repositories/acme");
    assert_eq!(repo_calls.len(), 1);
    assert_eq!(
        repo_calls[0].query.get("q").map(String::as_str),
        Some("full_name=\"acme/app\"")
    );
    for r in fake
        .server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.starts_with("/2.0/"))
    {
        assert!(!r.query.contains_key("access_token"), "{}", r.path);
        assert!(r
            .headers
            .get("authorization")
            .is_some_and(|a| a.starts_with("Bearer ")));
    }
    for (who, title) in [
        ("bob", "Access denied"),
        ("carl", "Access denied"),
        ("una", "Sign-in rejected"),
    ] {
        fake.sign_in_as(who);
        refused(login(&Browser::new(), &proxy, &authorize).await, 403, title).await;
    }
    assert_eq!(app.hits(), 1, "only alice reached the app");
    provider_errors_are_clear_pages(&fake, &proxy, &authorize, "invalid_grant").await;
    revalidates(
        &browser,
        &proxy,
        &app,
        REFRESH,
        || fake.requests_to("/2.0/user/emails").len(),
        || fake.revoke("alice"),
    )
    .await;
}

#[tokio::test]
async fn digitalocean_account_email_and_revalidation() {
    let fake = digitalocean::start().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(proxy_config(
        "digitalocean",
        &app,
        &[
            ("login-url", fake.url("/v1/oauth/authorize")),
            ("redeem-url", fake.url("/v1/oauth/token")),
            ("profile-url", fake.url("/v2/account")),
            ("validate-url", fake.url("/v2/account")),
        ],
    ))
    .await;
    let authorize = fake.url("/v1/oauth/authorize");
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    assert_eq!(query(&sent, "scope").as_deref(), Some("read"));
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("sammy@example.com"));
    assert_eq!(fake.last_client_auth(), Some(ClientAuth::Post));
    // An account whose address DigitalOcean never verified is not taken on its word.
    fake.sign_in_as("una");
    let page = refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Sign-in rejected",
    )
    .await;
    assert!(page.contains("not verified"), "{page}");
    fake.sign_in_as("sammy");
    provider_errors_are_clear_pages(&fake, &proxy, &authorize, "invalid_grant").await;
    revalidates(
        &browser,
        &proxy,
        &app,
        REFRESH,
        || fake.requests_to("/v2/account").len(),
        || fake.revoke("sammy"),
    )
    .await;
}

#[tokio::test]
async fn facebook_requires_the_email_permission_and_shows_graph_errors() {
    let fake = facebook::start().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(proxy_config(
        "facebook",
        &app,
        &[
            ("login-url", fake.url("/v2.5/dialog/oauth")),
            ("redeem-url", fake.url("/v2.5/oauth/access_token")),
            ("profile-url", fake.url("/v2.5/me")),
            ("validate-url", fake.url("/v2.5/me")),
        ],
    ))
    .await;
    let authorize = fake.url("/v2.5/dialog/oauth");
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    assert_eq!(
        query(&sent, "scope").as_deref(),
        Some("public_profile email")
    );
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("ann@example.com"));
    let me = fake.requests_to("/v2.5/me");
    assert_eq!(
        me[0].query.get("fields").map(String::as_str),
        Some("name,email")
    );
    fake.sign_in_as("nomail");
    let page = refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Sign-in rejected",
    )
    .await;
    assert!(page.contains("did not return an email address"), "{page}");
    fake.sign_in_as("ann");
    // Graph API error objects keep Facebook's own words.
    provider_errors_are_clear_pages(
        &fake,
        &proxy,
        &authorize,
        "This authorization code has been used.",
    )
    .await;
    revalidates(
        &browser,
        &proxy,
        &app,
        REFRESH,
        || fake.requests_to("/v2.5/me").len(),
        || fake.revoke("ann"),
    )
    .await;
}

#[tokio::test]
async fn linkedin_email_from_the_v2_api_and_revalidation_at_me() {
    let fake = linkedin::start().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(proxy_config(
        "linkedin",
        &app,
        &[
            ("login-url", fake.url("/oauth/v2/authorization")),
            ("redeem-url", fake.url("/uas/oauth2/accessToken")),
            ("profile-url", fake.url("/v2/emailAddress")),
            ("validate-url", fake.url("/v2/me")),
        ],
    ))
    .await;
    let authorize = fake.url("/oauth/v2/authorization");
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    assert_eq!(
        query(&sent, "scope").as_deref(),
        Some("r_emailaddress r_liteprofile")
    );
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(
        echo.header("x-forwarded-email"),
        Some("hsimpson@example.com")
    );
    let calls = fake.requests_to("/v2/emailAddress");
    assert_eq!(
        calls[0].headers.get("x-li-format").map(String::as_str),
        Some("json")
    );
    provider_errors_are_clear_pages(&fake, &proxy, &authorize, "invalid_request").await;
    revalidates(
        &browser,
        &proxy,
        &app,
        REFRESH,
        || fake.requests_to("/v2/me").len(),
        || fake.revoke("hsimpson"),
    )
    .await;
}

#[tokio::test]
async fn nextcloud_user_email_and_groups_from_ocs_with_allowed_groups() {
    let fake = nextcloud::start().await;
    fake.state.lock().unwrap().users.insert(
        "bob".into(),
        (Some("bob@example.com".into()), vec!["staff".into()]),
    );
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        proxy_config(
            "nextcloud",
            &app,
            &[
                ("login-url", fake.url("/index.php/apps/oauth2/authorize")),
                (
                    "redeem-url",
                    fake.url("/index.php/apps/oauth2/api/v1/token"),
                ),
                (
                    "validate-url",
                    fake.url("/ocs/v2.php/cloud/user?format=json"),
                ),
            ],
        )
        .set("allowed-group", "admin"),
    )
    .await;
    let authorize = fake.url("/index.php/apps/oauth2/authorize");
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    assert_eq!(query(&sent, "scope"), None, "Nextcloud has no scopes");
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-user"), Some("alice"));
    assert_eq!(echo.header("x-forwarded-email"), Some("alice@example.com"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["admin", "staff"]
    );
    let calls = fake.requests_to("/ocs/v2.php/cloud/user");
    assert_eq!(
        calls[0].query.get("format").map(String::as_str),
        Some("json")
    );
    assert_eq!(
        calls[0].headers.get("ocs-apirequest").map(String::as_str),
        Some("true")
    );
    // Not in allowed_groups; without an address.
    fake.sign_in_as("bob");
    refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Access denied",
    )
    .await;
    fake.sign_in_as("nomail");
    refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Sign-in rejected",
    )
    .await;
    fake.sign_in_as("alice");
    provider_errors_are_clear_pages(&fake, &proxy, &authorize, "invalid_request").await;
    revalidates(
        &browser,
        &proxy,
        &app,
        REFRESH,
        || fake.requests_to("/ocs/v2.php/cloud/user").len(),
        || fake.revoke("alice"),
    )
    .await;
}

#[tokio::test]
async fn sourcehut_graphql_profile_and_revalidation() {
    let fake = sourcehut::start().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(proxy_config(
        "sourcehut",
        &app,
        &[
            ("login-url", fake.url("/oauth2/authorize")),
            ("redeem-url", fake.url("/oauth2/access-token")),
            ("profile-url", fake.url("/query")),
        ],
    ))
    .await;
    let authorize = fake.url("/oauth2/authorize");
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    assert_eq!(
        query(&sent, "scope").as_deref(),
        Some("meta.sr.ht/PROFILE:RO")
    );
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-user"), Some("drew"));
    assert_eq!(echo.header("x-forwarded-preferred-username"), Some("drew"));
    assert_eq!(echo.header("x-forwarded-email"), Some("drew@example.org"));
    let q = &fake.requests_to("/query")[0];
    assert_eq!(q.method, "POST");
    let body: serde_json::Value = serde_json::from_slice(&q.body).unwrap();
    assert_eq!(body["query"], "{ me { username, email } }");
    provider_errors_are_clear_pages(&fake, &proxy, &authorize, "invalid_grant").await;
    // Re-validated through the GraphQL API (a revoked token gets a GraphQL error there).
    revalidates(
        &browser,
        &proxy,
        &app,
        REFRESH,
        || fake.requests_to("/query").len(),
        || fake.revoke("drew"),
    )
    .await;
}

#[tokio::test]
async fn keycloak_legacy_userinfo_groups_decide_and_tokens_are_revalidated() {
    let fake = keycloak::start().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        proxy_config(
            "keycloak",
            &app,
            &[
                ("login-url", keycloak::endpoint(&fake, "auth")),
                ("redeem-url", keycloak::endpoint(&fake, "token")),
                ("validate-url", keycloak::endpoint(&fake, "userinfo")),
            ],
        )
        .set("keycloak-group", "/staff"),
    )
    .await;
    let authorize = keycloak::endpoint(&fake, "auth");
    let browser = Browser::new();
    let (callback, sent) = login_at(&browser, &proxy, None, &authorize).await;
    assert_eq!(
        query(&sent, "scope").as_deref(),
        Some("api"),
        "oauth2-proxy's default"
    );
    let echo = reach_app(&browser, &proxy, callback).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("kim@example.com"));
    assert_eq!(echo.header("x-forwarded-user"), Some("kim"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["/staff", "/staff/ops"]
    );
    fake.sign_in_as("vic");
    refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Access denied",
    )
    .await;
    fake.sign_in_as("una");
    refused(
        login(&Browser::new(), &proxy, &authorize).await,
        403,
        "Sign-in rejected",
    )
    .await;
    fake.sign_in_as("kim");
    provider_errors_are_clear_pages(&fake, &proxy, &authorize, "Code not valid").await;
    let userinfo = format!(
        "/realms/{}/protocol/openid-connect/userinfo",
        keycloak::REALM
    );
    revalidates(
        &browser,
        &proxy,
        &app,
        REFRESH,
        || fake.requests_to(&userinfo).len(),
        || fake.revoke("kim"),
    )
    .await;
}
