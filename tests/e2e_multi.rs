//! End to end: several providers in one instance (`--alpha-config` providers list), each one
//! a real oidc-provider IdP: the sign-in page's buttons, `/oauth2/start?provider=`, the one
//! central callback using the provider the sealed state names, per-provider allow-lists, the
//! provider header, and a callback of provider A replayed with provider B's state.

mod support;

use support::idp::{self, IdpConfig, Login};
use support::{
    free_port, location, session_set_cookie, Browser, EchoApp, EchoReply, Idp, Proxy, ProxyConfig,
    CLIENT_ID, CLIENT_SECRET, POST_CLIENT_ID, POST_CLIENT_SECRET,
};
use url::Url;

struct Multi {
    corp: Idp,
    partner: Idp,
    app: EchoApp,
    proxy: Proxy,
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Two IdPs; `corp` only admits the `staff` group.
async fn start() -> Multi {
    let app = EchoApp::start().await;
    let port = free_port();
    let corp = Idp::start(IdpConfig::default().redirect_to_proxy(port)).await;
    let partner = Idp::start(IdpConfig::default().redirect_to_proxy(port)).await;
    let dir =
        std::env::temp_dir().join(format!("authproxy-e2e-multi-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let alpha = dir.join("alpha.yaml");
    let providers = format!(
        r#"providers:
  - id: corp
    provider: oidc
    name: Corp SSO
    clientID: {CLIENT_ID}
    clientSecret: {CLIENT_SECRET}
    scope: openid email profile groups
    allowedGroups: [staff]
    oidcConfig:
      issuerURL: {corp}
  - id: partner
    provider: oidc
    name: Partner
    clientID: {POST_CLIENT_ID}
    clientSecret: {POST_CLIENT_SECRET}
    scope: openid email profile groups
    oidcConfig:
      issuerURL: {partner}
"#,
        corp = corp.issuer(),
        partner = partner.issuer()
    );
    let config = ProxyConfig::new(port, corp.issuer(), &app.url()).into_alpha(&providers, &alpha);
    let proxy = Proxy::start(config).await;
    Multi {
        corp,
        partner,
        app,
        proxy,
    }
}

impl Multi {
    /// `/oauth2/start?provider=<id>&rd=/`: the 302 to that provider's IdP.
    async fn start_login(&self, browser: &Browser, id: &str, idp: &Idp) -> Url {
        let resp = browser
            .get(
                &self
                    .proxy
                    .url(&format!("/oauth2/start?provider={id}&rd=%2Fhome")),
            )
            .await;
        assert_eq!(resp.status(), 302, "start for {id}");
        let to = location(&resp);
        assert!(
            to.as_str().starts_with(idp.issuer()),
            "{id} start went to {to}, not {}",
            idp.issuer()
        );
        to
    }

    async fn sign_in(
        &self,
        browser: &Browser,
        id: &str,
        idp: &Idp,
        login: &Login,
    ) -> reqwest::Response {
        let authorize = self.start_login(browser, id, idp).await;
        let callback = idp::authorize(browser, &authorize, login).await;
        browser.get(callback.as_str()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_page_has_one_button_per_provider_and_start_picks_one() {
    let m = start().await;
    let browser = Browser::new();
    let resp = browser.get(&m.proxy.url("/private")).await;
    assert_eq!(resp.status(), 403);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Sign in with Corp SSO"), "{page}");
    assert!(page.contains("Sign in with Partner"), "{page}");
    assert!(
        page.contains("/oauth2/start?provider=corp&amp;rd=%2Fprivate"),
        "{page}"
    );
    assert!(
        page.contains("/oauth2/start?provider=partner&amp;rd=%2Fprivate"),
        "{page}"
    );

    // Each button goes to its own IdP.
    m.start_login(&browser, "corp", &m.corp).await;
    m.start_login(&browser, "partner", &m.partner).await;

    // An unknown provider is a 400 page; no provider with several configured is the chooser.
    let resp = browser
        .get(&m.proxy.url("/oauth2/start?provider=nope"))
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("Unknown provider"));
    let resp = browser.get(&m.proxy.url("/oauth2/start?rd=%2F")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Sign in with Partner"));
    assert_eq!(m.app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_provider_signs_in_and_the_app_learns_which_one() {
    let m = start().await;
    let browser = Browser::new();
    let resp = m
        .sign_in(&browser, "partner", &m.partner, &Login::new("pat"))
        .await;
    assert_eq!(resp.status(), 302, "partner callback");
    assert!(session_set_cookie(&resp).is_some());
    let echo: EchoReply = browser
        .get(&m.proxy.url("/home"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(echo.header("x-forwarded-provider"), Some("partner"));
    assert_eq!(echo.header("x-auth-request-provider"), Some("partner"));
    assert_eq!(echo.header("x-forwarded-email"), Some("pat@example.com"));

    let staff = Browser::new();
    let resp = m
        .sign_in(
            &staff,
            "corp",
            &m.corp,
            &Login::new("carol").groups(&["staff"]),
        )
        .await;
    assert_eq!(resp.status(), 302, "corp callback");
    let echo: EchoReply = staff.get(&m.proxy.url("/home")).await.json().await.unwrap();
    assert_eq!(echo.header("x-forwarded-provider"), Some("corp"));
    assert_eq!(echo.header("x-forwarded-email"), Some("carol@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_allowed_groups_apply_to_its_users_only() {
    let m = start().await;
    // Not in corp's staff group: refused at the callback, no session.
    let browser = Browser::new();
    let resp = m
        .sign_in(
            &browser,
            "corp",
            &m.corp,
            &Login::new("mallory").groups(&["guests"]),
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert!(session_set_cookie(&resp).is_none());
    // The same groups are fine at the partner, which has no allow-list.
    let resp = m
        .sign_in(
            &browser,
            "partner",
            &m.partner,
            &Login::new("mallory").groups(&["guests"]),
        )
        .await;
    assert_eq!(resp.status(), 302);
    assert_eq!(browser.get(&m.proxy.url("/home")).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_of_provider_a_replayed_with_provider_bs_state_is_rejected() {
    let m = start().await;
    let browser = Browser::new();
    // Provider A (corp) issues a code for this browser's login...
    let authorize_a = m.start_login(&browser, "corp", &m.corp).await;
    let callback_a = idp::authorize(
        &browser,
        &authorize_a,
        &Login::new("carol").groups(&["staff"]),
    )
    .await;
    let code_a = query(&callback_a, "code").expect("code from A");
    // ...then a login at provider B (partner) starts: its state and CSRF cookie are current.
    let authorize_b = m.start_login(&browser, "partner", &m.partner).await;
    let state_b = query(&authorize_b, "state").expect("state for B");

    // A's response (with its RFC 9207 iss) under B's state: refused before any redemption.
    let mut forged = Url::parse(&m.proxy.url("/oauth2/callback")).unwrap();
    let mut pairs: Vec<(String, String)> = callback_a
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| k != "state")
        .collect();
    pairs.push(("state".into(), state_b.clone()));
    forged.query_pairs_mut().extend_pairs(pairs);
    let before = m.partner.stats().await;
    let resp = browser.get(forged.as_str()).await;
    assert_eq!(resp.status(), 403, "mix-up refused");
    assert!(session_set_cookie(&resp).is_none());
    let body = resp.text().await.unwrap();
    assert!(body.contains("another identity provider"), "{body}");
    assert_eq!(
        m.partner.stats().await,
        before,
        "B's token endpoint was not even called"
    );

    // Without the iss parameter, B's token endpoint refuses A's code: still no session.
    let authorize_b = m.start_login(&browser, "partner", &m.partner).await;
    let state_b = query(&authorize_b, "state").unwrap();
    let forged = format!(
        "{}?code={}&state={}",
        m.proxy.url("/oauth2/callback"),
        support::encode(&code_a),
        support::encode(&state_b)
    );
    let resp = browser.get(&forged).await;
    assert_ne!(resp.status(), 302);
    assert!(session_set_cookie(&resp).is_none());
    assert_eq!(browser.get(&m.proxy.url("/home")).await.status(), 403);
}
