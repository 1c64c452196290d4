//! End to end through the authproxy binary with local fakes of Google's and Microsoft's
//! documented APIs: Google Application Default Credentials (the GCE/GKE metadata server, a
//! gcloud `authorized_user` file) impersonating `google_target_principal` through IAM
//! Credentials `signJwt`, the organization ID as preferred username (Directory `users.get`
//! with the user scope), and Entra ID's workload identity federation
//! (`entra_id_federated_token_auth`: the token file as `client_assertion`, re-read at refresh).

mod fakes;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use fakes::google::{self as google, google_fake};
use fakes::oidc::{self, OidcFake};
use support::flow::{login, reach_app, refused};
use support::{free_port, header_groups, EchoApp, Proxy, ProxyConfig};

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("authproxy-e2e-cloud-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn oidc_proxy(port: u16, kind: &str, issuer: &str, app: &EchoApp) -> ProxyConfig {
    ProxyConfig::new(port, issuer, &app.url())
        .set("provider", kind)
        .set("client-id", oidc::CLIENT_ID)
        .set("client-secret", oidc::CLIENT_SECRET)
}

/// Google with ADC: the fake serves the metadata server, IAM Credentials, the token endpoint
/// and the Directory API. No credentials file is found (`HOME` is empty) unless `adc_file`.
fn google_adc_proxy(
    fake: &OidcFake,
    app: &EchoApp,
    tag: &str,
    adc_file: Option<&PathBuf>,
) -> ProxyConfig {
    let host = format!("127.0.0.1:{}", fake.server.addr.port());
    oidc_proxy(free_port(), "google", &fake.issuer, app)
        .set("email-domain", "corp.example")
        .set("google-group", "admins@corp.example")
        .set("google-admin-email", google::ADMIN_EMAIL)
        .set("google-use-application-default-credentials", "true")
        .set("authproxy-google-admin-api-url", &fake.base())
        .set("authproxy-google-iam-credentials-url", &fake.base())
        .set(
            "authproxy-google-token-url",
            &format!("{}/sa-token", fake.base()),
        )
        .env("GCE_METADATA_HOST", &host)
        .env("HOME", scratch(tag).to_str().unwrap())
        .env(
            "GOOGLE_APPLICATION_CREDENTIALS",
            adc_file.and_then(|f| f.to_str()).unwrap_or(""),
        )
}

fn requests_to(fake: &OidcFake, path: &str) -> Vec<fakes::server::Req> {
    fake.server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == path)
        .cloned()
        .collect()
}

#[tokio::test]
async fn google_adc_from_the_metadata_server_impersonates_the_target_principal() {
    let fake = google_fake().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        google_adc_proxy(&fake, &app, "metadata", None)
            .set("google-target-principal", google::TARGET_PRINCIPAL)
            .set("google-use-organization-id", "true"),
    )
    .await;
    let browser = support::Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("ann@corp.example"));
    assert!(header_groups(&echo, "x-forwarded-groups").contains(&"admins@corp.example".into()));
    // The organization ID (users.get with the user scope) is the preferred username.
    assert_eq!(
        echo.header("x-forwarded-preferred-username"),
        Some(google::ANN_ORG_ID)
    );
    // The metadata server was asked with its header, the target principal signed the
    // admin-delegated assertion.
    let meta = requests_to(
        &fake,
        "/computeMetadata/v1/instance/service-accounts/default/token",
    );
    assert!(!meta.is_empty());
    assert!(meta
        .iter()
        .all(|r| r.headers.get("metadata-flavor").map(String::as_str) == Some("Google")));
    let sign = requests_to(
        &fake,
        &format!(
            "/v1/projects/-/serviceAccounts/{}:signJwt",
            google::TARGET_PRINCIPAL
        ),
    );
    assert!(!sign.is_empty(), "{:?}", fake.server.paths());
    let body: serde_json::Value = serde_json::from_slice(&sign[0].body).unwrap();
    let payload: serde_json::Value =
        serde_json::from_str(body["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["iss"], google::TARGET_PRINCIPAL);
    assert_eq!(payload["sub"], google::ADMIN_EMAIL);
    assert!(payload["scope"]
        .as_str()
        .unwrap()
        .contains(google::USER_READONLY_SCOPE));
    assert!(!requests_to(&fake, "/admin/directory/v1/users/ann@corp.example").is_empty());
    // A user without an organization ID cannot sign in (oauth2-proxy fails the session).
    fake.sign_in_as("ned");
    let browser = support::Browser::new();
    let callback = login(&browser, &proxy, &fake.base()).await;
    assert_ne!(callback.status(), 302);
    assert!(support::session_set_cookie(&callback).is_none());
    assert_eq!(app.hits(), 1);
}

#[tokio::test]
async fn google_adc_without_a_target_principal_uses_the_metadata_account() {
    let fake = google_fake().await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(google_adc_proxy(&fake, &app, "self", None)).await;
    let browser = support::Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("ann@corp.example"));
    // Without google_use_organization_id the preferred username is not the organization ID.
    assert_ne!(
        echo.header("x-forwarded-preferred-username"),
        Some(google::ANN_ORG_ID)
    );
    assert!(!requests_to(
        &fake,
        "/computeMetadata/v1/instance/service-accounts/default/email"
    )
    .is_empty());
    assert!(!requests_to(
        &fake,
        &format!(
            "/v1/projects/-/serviceAccounts/{}:signJwt",
            google::METADATA_ACCOUNT
        )
    )
    .is_empty());
}

#[tokio::test]
async fn google_adc_authorized_user_file_that_may_not_impersonate_is_refused() {
    let fake = google_fake().await;
    let app = EchoApp::start().await;
    let file = google::adc_user_file(&fake);
    // Allowed target: signs in.
    let proxy = Proxy::start(
        google_adc_proxy(&fake, &app, "user-ok", Some(&file))
            .set("google-target-principal", google::TARGET_PRINCIPAL),
    )
    .await;
    let browser = support::Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("ann@corp.example"));
    let refresh = requests_to(&fake, "/sa-token")
        .into_iter()
        .filter(|r| r.form().get("grant_type").map(String::as_str) == Some("refresh_token"))
        .count();
    assert!(refresh >= 1, "the authorized_user's refresh token was used");
    assert!(
        requests_to(
            &fake,
            "/computeMetadata/v1/instance/service-accounts/default/token"
        )
        .is_empty(),
        "a credentials file wins over the metadata server"
    );
    // A principal IAM refuses: the login fails with a clear page, no session.
    let proxy = Proxy::start(
        google_adc_proxy(&fake, &app, "user-denied", Some(&file)).set(
            "google-target-principal",
            "other@proj.iam.gserviceaccount.com",
        ),
    )
    .await;
    let browser = support::Browser::new();
    let callback = login(&browser, &proxy, &fake.base()).await;
    assert!(support::session_set_cookie(&callback).is_none());
    assert_ne!(callback.status(), 302);
    let page = callback.text().await.unwrap();
    assert!(
        page.contains("PERMISSION_DENIED") || page.contains("403"),
        "{page}"
    );
    assert_eq!(app.hits(), 1);
}

/// A single-tenant Entra ID fake whose token endpoint accepts only the federated token.
async fn entra_fake(token: &str) -> OidcFake {
    let fake = OidcFake::start("/tenant-1/v2.0").await;
    fake.add_user(
        "mia",
        json!({"tid": "tenant-1", "email": "mia@contoso.example", "groups": ["g1"]}),
    );
    {
        let mut s = fake.state.lock().unwrap();
        s.federated_assertion = Some(token.to_owned());
        s.refresh_id_token = true;
    }
    fake
}

#[tokio::test]
async fn entra_federated_token_authenticates_the_client_and_is_re_read_at_refresh() {
    let dir = scratch("entra");
    let token_file = dir.join("azure-identity-token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.first.sig\n").unwrap();
    let fake = entra_fake("eyJhbGciOiJSUzI1NiJ9.first.sig").await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        oidc_proxy(free_port(), "entra-id", &fake.issuer, &app)
            .remove("client-secret")
            .set("entra-id-federated-token-auth", "true")
            .set("cookie-refresh", "1s")
            .env("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap()),
    )
    .await;
    let browser = support::Browser::new();
    let echo = reach_app(
        &browser,
        &proxy,
        login(&browser, &proxy, &fake.base()).await,
    )
    .await;
    assert_eq!(
        echo.header("x-forwarded-email"),
        Some("mia@contoso.example")
    );
    // Kubernetes rotates the projected token: the refresh must present the new one.
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.second.sig").unwrap();
    fake.state.lock().unwrap().federated_assertion = Some("eyJhbGciOiJSUzI1NiJ9.second.sig".into());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = fake.token_requests();
    let resp = browser.get(&proxy.url("/hello")).await;
    assert_eq!(
        resp.status(),
        200,
        "the refresh succeeded with the new token"
    );
    assert!(fake.token_requests() > before, "a refresh grant was made");
    let last = fake
        .server
        .requests
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r.method == "POST" && r.path.ends_with("/token"))
        .cloned()
        .unwrap();
    let form = last.form();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("refresh_token")
    );
    assert_eq!(
        form.get("client_assertion").map(String::as_str),
        Some("eyJhbGciOiJSUzI1NiJ9.second.sig")
    );
    assert!(!form.contains_key("client_secret"));
}

#[tokio::test]
async fn entra_with_a_federated_token_entra_does_not_accept_refuses_the_login() {
    let dir = scratch("entra-bad");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "eyJ.stale.sig").unwrap();
    let fake = entra_fake("eyJ.current.sig").await;
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        oidc_proxy(free_port(), "entra-id", &fake.issuer, &app)
            .remove("client-secret")
            .set("entra-id-federated-token-auth", "true")
            .env("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap()),
    )
    .await;
    let browser = support::Browser::new();
    let body = refused(
        login(&browser, &proxy, &fake.base()).await,
        403,
        "Sign-in was refused",
    )
    .await;
    assert!(body.contains("invalid_client"), "{body}");
    assert_eq!(app.hits(), 0);
}

#[tokio::test]
async fn azure_resource_is_sent_to_v1_endpoints_only() {
    let fake = OidcFake::start("/tenant-1/v2.0").await;
    fake.add_user(
        "mia",
        json!({"tid": "tenant-1", "email": "mia@contoso.example"}),
    );
    let app = EchoApp::start().await;
    // The fake's discovery names v1-style endpoints (no v2.0 in the authorization URL).
    let proxy = Proxy::start(
        oidc_proxy(free_port(), "azure", &fake.issuer, &app)
            .set("resource", "https://api.contoso.example"),
    )
    .await;
    let browser = support::Browser::new();
    let (callback, authorize) = support::flow::login_at(&browser, &proxy, None, &fake.base()).await;
    assert_eq!(
        authorize
            .query_pairs()
            .find(|(k, _)| k == "resource")
            .map(|(_, v)| v.into_owned())
            .as_deref(),
        Some("https://api.contoso.example"),
        "{authorize}"
    );
    reach_app(&browser, &proxy, callback).await;
    let token = fake
        .server
        .requests
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.method == "POST" && r.path == "/token")
        .cloned()
        .expect("a code exchange");
    assert_eq!(
        token.form().get("resource").map(String::as_str),
        Some("https://api.contoso.example")
    );
}
