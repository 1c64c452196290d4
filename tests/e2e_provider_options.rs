//! End to end through the authproxy binary and the real oidc-provider IdP: the provider options
//! of oauth2-proxy v7.15 that change what a login keeps and what it accepts: additional claims
//! (ID token, then userinfo) in injected headers and `/oauth2/userinfo`,
//! `skip_claims_from_profile_url`, `oidc_audience_claims`, `oidc_enabled_signing_algs`,
//! `oidc_public_key_files` with `skip_oidc_discovery`, and `backend_logout_url` on sign-out.

mod fakes;
mod support;

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;

use fakes::server::{FakeServer, Resp};
use support::idp::{self, IdpConfig, Login};
use support::{
    free_port, location, session_set_cookie, Browser, EchoApp, EchoReply, Idp, Proxy, ProxyConfig,
    Stack, CLIENT_ID, CLIENT_SECRET,
};

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "authproxy-e2e-provider-opts-{tag}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// The proxy log contains `needle` within 5 s (log lines are written asynchronously).
async fn log_has(proxy: &Proxy, needle: &str) -> bool {
    for _ in 0..50 {
        if proxy.log().contains(needle) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

/// The IdP, the echo app and a proxy configured by an alpha file: one oidc provider (with
/// `provider_extra` lines under it) and header rules reading custom claims.
struct Alpha {
    idp: Idp,
    app: EchoApp,
    proxy: Proxy,
}

async fn alpha_stack(tag: &str, provider_extra: &str) -> Alpha {
    let app = EchoApp::start().await;
    let port = free_port();
    let idp = Idp::start(IdpConfig::default().redirect_to_proxy(port)).await;
    let file = dir(tag).join("alpha.yaml");
    std::fs::write(
        &file,
        format!(
            r#"server:
  bindAddress: 127.0.0.1:{port}
upstreamConfig:
  upstreams:
  - id: app
    path: /
    uri: {app}
injectRequestHeaders:
- name: X-Tenant
  values:
  - claimSource:
      claim: tenant_id
- name: X-Org
  values:
  - claimSource:
      claim: organization.name
- name: X-Department
  values:
  - claimSource:
      claim: department
- name: X-Forwarded-Email
  values:
  - claimSource:
      claim: email
providers:
- id: idp
  provider: oidc
  clientID: {CLIENT_ID}
  clientSecret: {CLIENT_SECRET}
  scope: openid email profile groups
{provider_extra}
  oidcConfig:
    issuerURL: {issuer}
"#,
            app = app.url(),
            issuer = idp.issuer(),
        ),
    )
    .unwrap();
    let config = ProxyConfig::new(port, idp.issuer(), &app.url())
        .remove("provider")
        .remove("oidc-issuer-url")
        .remove("client-id")
        .remove("client-secret")
        .remove("upstream")
        .remove("pass-user-headers")
        .remove("set-xauthrequest")
        .remove("pass-access-token")
        .remove("http-address")
        .set("alpha-config", file.to_str().unwrap());
    let proxy = Proxy::start(config).await;
    Alpha { idp, app, proxy }
}

impl Alpha {
    async fn sign_in(&self, browser: &Browser, login: &Login) -> EchoReply {
        let resp = browser
            .get(&self.proxy.url("/oauth2/start?rd=%2Fhome"))
            .await;
        assert_eq!(resp.status(), 302);
        let authorize = location(&resp);
        assert!(authorize.as_str().starts_with(self.idp.issuer()));
        let callback = idp::authorize(browser, &authorize, login).await;
        let resp = browser.get(callback.as_str()).await;
        assert_eq!(resp.status(), 302, "the callback signs in");
        assert_eq!(location(&resp).as_str(), self.proxy.url("/home"));
        let resp = browser.get(&self.proxy.url("/home")).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("echo JSON")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_claims_from_the_id_token_and_userinfo_reach_headers_and_userinfo() {
    let s = alpha_stack("claims", "").await;
    let browser = Browser::new();
    let login = Login::new("tess").tenant("acme").department("R&D");
    let echo = s.sign_in(&browser, &login).await;
    assert_eq!(echo.header("x-tenant"), Some("acme"), "ID token claim");
    assert_eq!(echo.header("x-org"), Some("acme Inc."), "nested claim path");
    assert_eq!(
        echo.header("x-department"),
        Some("R&D"),
        "a claim only userinfo has"
    );
    assert_eq!(echo.header("x-forwarded-email"), Some("tess@example.com"));
    // A client-sent copy of a header the plan sets never reaches the app.
    let resp = browser
        .request(reqwest::Method::GET, &s.proxy.url("/home"))
        .header("X-Tenant", "evil")
        .send()
        .await
        .unwrap();
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.header_all("x-tenant"), vec!["acme".to_string()]);
    // /oauth2/userinfo shows the kept claims (oauth2-proxy v7.15's additionalClaims).
    let resp = browser.get(&s.proxy.url("/oauth2/userinfo")).await;
    assert_eq!(resp.status(), 200);
    let info: Value = resp.json().await.unwrap();
    assert_eq!(info["email"], "tess@example.com");
    assert_eq!(info["additionalClaims"]["tenant_id"], "acme", "{info}");
    assert_eq!(
        info["additionalClaims"]["organization.name"], "acme Inc.",
        "{info}"
    );
    assert_eq!(info["additionalClaims"]["department"], "R&D", "{info}");
    assert!(
        info["additionalClaims"].get("_provider").is_none()
            && !info.to_string().contains("access_token"),
        "{info}"
    );
    // A user without the claims: the headers are absent, not empty.
    let browser = Browser::new();
    let echo = s.sign_in(&browser, &Login::new("plain")).await;
    assert_eq!(echo.header("x-tenant"), None);
    assert_eq!(echo.header("x-department"), None);
    let info: Value = browser
        .get(&s.proxy.url("/oauth2/userinfo"))
        .await
        .json()
        .await
        .unwrap();
    assert!(info.get("additionalClaims").is_none(), "{info}");
    assert_eq!(s.app.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_claims_from_profile_url_keeps_only_the_id_token_claims() {
    let s = alpha_stack(
        "skip-profile",
        "  skipClaimsFromProfileURL: true\n  additionalClaims: [department]",
    )
    .await;
    let browser = Browser::new();
    let login = Login::new("ugo").tenant("globex").department("Sales");
    let echo = s.sign_in(&browser, &login).await;
    assert_eq!(echo.header("x-tenant"), Some("globex"));
    assert_eq!(echo.header("x-department"), None, "userinfo is never asked");
    let info: Value = browser
        .get(&s.proxy.url("/oauth2/userinfo"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["additionalClaims"]["tenant_id"], "globex");
    assert!(
        info["additionalClaims"].get("department").is_none(),
        "{info}"
    );
}

/// Signs in at the IdP and returns the proxy's callback response.
async fn callback(stack: &Stack, browser: &Browser, login: &Login) -> reqwest::Response {
    let url = stack.callback_url(browser, "/", login).await;
    browser.get(url.as_str()).await
}

async fn assert_rejected(resp: reqwest::Response) {
    assert_eq!(resp.status(), 403);
    assert!(session_set_cookie(&resp).is_none(), "no session");
    let page = resp.text().await.unwrap();
    assert!(page.contains("Sign-in rejected"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_audience_claims_check_the_first_claim_present() {
    // tenant_id first: a token whose tenant_id names the client passes, one naming someone
    // else is refused even though its aud is right; without tenant_id, aud is checked.
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.add("oidc-audience-claim", "tenant_id")
            .add("oidc-audience-claim", "aud")
    })
    .await;
    let browser = Browser::new();
    let resp = callback(&stack, &browser, &Login::new("ava").tenant(CLIENT_ID)).await;
    assert_eq!(resp.status(), 302, "tenant_id names the client");
    let browser = Browser::new();
    assert_rejected(callback(&stack, &browser, &Login::new("bo").tenant("other-app")).await).await;
    let browser = Browser::new();
    let resp = callback(&stack, &browser, &Login::new("cy")).await;
    assert_eq!(resp.status(), 302, "no tenant_id: aud is checked");
    assert!(
        log_has(&stack.proxy, "from claim tenant_id").await,
        "the log names the audience claim"
    );
    // Only a claim the IdP never sends: every login is refused.
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("oidc-audience-claim", "appid")
    })
    .await;
    assert_rejected(callback(&stack, &Browser::new(), &Login::new("dee")).await).await;
    assert_eq!(stack.app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_with_an_algorithm_not_enabled_is_refused() {
    let es256 = || IdpConfig {
        id_token_alg: "ES256".to_string(),
        ..IdpConfig::default()
    };
    let stack = Stack::start_with(es256(), |c| c.set("oidc-enabled-signing-alg", "RS256")).await;
    assert_rejected(callback(&stack, &Browser::new(), &Login::new("eve")).await).await;
    assert_eq!(stack.app.hits(), 0);
    assert!(
        log_has(&stack.proxy, "ES256").await,
        "the log names the refused algorithm"
    );
    // Enabled: the same IdP signs in.
    let stack = Stack::start_with(es256(), |c| {
        c.add("oidc-enabled-signing-alg", "RS256")
            .add("oidc-enabled-signing-alg", "ES256")
    })
    .await;
    let echo = stack
        .sign_in(&Browser::new(), "/", &Login::new("fay"))
        .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("fay@example.com"));
}

/// The proxy without discovery, verifying ID tokens with the fixed public key file.
fn pinned(c: ProxyConfig, issuer: &str) -> ProxyConfig {
    c.enable("skip-oidc-discovery")
        .set("login-url", &format!("{issuer}/auth"))
        .set("redeem-url", &format!("{issuer}/token"))
        .set("profile-url", &format!("{issuer}/me"))
        .set("code-challenge-method", "S256")
        .set(
            "oidc-public-key-file",
            fixture("fake-provider-rsa.pub.pem").to_str().unwrap(),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_public_key_files_verify_tokens_without_discovery() {
    let idp = IdpConfig {
        rsa_key_file: Some(fixture("fake-provider-rsa.pem")),
        ..IdpConfig::default()
    };
    let port = free_port();
    let app = EchoApp::start().await;
    let idp = Idp::start(idp.redirect_to_proxy(port)).await;
    let proxy = Proxy::start(pinned(
        ProxyConfig::new(port, idp.issuer(), &app.url()),
        idp.issuer(),
    ))
    .await;
    let stack = Stack { idp, app, proxy };
    let echo = stack
        .sign_in(&Browser::new(), "/", &Login::new("gil"))
        .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("gil@example.com"));
    assert!(
        !stack.proxy.log().contains("/jwks"),
        "the JWKS is never fetched"
    );
    // An IdP signing with another key: refused.
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        let issuer = c
            .args()
            .iter()
            .find_map(|a| a.strip_prefix("--oidc-issuer-url=").map(str::to_owned));
        pinned(c, &issuer.unwrap())
    })
    .await;
    assert_rejected(callback(&stack, &Browser::new(), &Login::new("hal")).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_logout_url_is_called_with_the_id_token_on_sign_out() {
    let logout = FakeServer::start(Arc::new(|_| Resp::empty(204))).await;
    let template = format!("{}/logout?id_token_hint={{id_token}}&x=1", logout.base());
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("backend-logout-url", &template)
    })
    .await;
    let browser = Browser::new();
    // Without a session nothing is called.
    let resp = browser.get(&stack.proxy.url("/oauth2/sign_out")).await;
    assert_eq!(resp.status(), 302);
    assert!(logout.requests.lock().unwrap().is_empty());
    stack.sign_in(&browser, "/", &Login::new("ivy")).await;
    let resp = browser
        .get(
            &stack
                .proxy
                .url("/oauth2/sign_out?rd=%2Fbye%3Fhint%3D%7Bid_token%7D"),
        )
        .await;
    assert_eq!(resp.status(), 302);
    let back = location(&resp);
    assert_eq!(back.path(), "/bye");
    let calls = logout.requests.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one call per sign-out");
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].path, "/logout");
    assert_eq!(calls[0].query.get("x").map(String::as_str), Some("1"));
    let hint = calls[0].query.get("id_token_hint").expect("id_token_hint");
    let claims = jwt_claims(hint);
    assert_eq!(claims["sub"], "ivy");
    assert_eq!(claims["iss"], stack.idp.issuer());
    assert_eq!(claims["aud"], CLIENT_ID);
    // As in oauth2-proxy, {id_token} in the validated return URL is replaced too.
    assert_eq!(
        back.query_pairs()
            .find(|(k, _)| k == "hint")
            .map(|(_, v)| v.into_owned())
            .as_deref(),
        Some(hint.as_str())
    );
    // The session is gone afterwards.
    let resp = browser.get_json(&stack.proxy.url("/")).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_backend_logout_still_signs_out() {
    let logout = FakeServer::start(Arc::new(|_| Resp::empty(500))).await;
    let template = format!("{}/logout/{{id_token}}", logout.base());
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("backend-logout-url", &template)
    })
    .await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("jo")).await;
    let resp = browser.get(&stack.proxy.url("/oauth2/sign_out")).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(logout.requests.lock().unwrap().len(), 1);
    assert!(logout.requests.lock().unwrap()[0]
        .path
        .starts_with("/logout/eyJ"));
    assert_eq!(browser.get_json(&stack.proxy.url("/")).await.status(), 401);
    assert!(
        log_has(&stack.proxy, "returned error code 500").await,
        "the failure is logged"
    );
}
