//! End to end: single sign-on across apps, as the Kubernetes sidecar deployment with a central callback host runs it, on one
//! machine. Three host names (`app1.example.test`, `app2.example.test`, `auth.example.test`)
//! resolve to 127.0.0.1; two authproxy processes share the client and the cookie secret, each in
//! front of its own echo app; the auth host is served by proxy 1 (the browser connects to proxy
//! 1's port for it). The real oidc-provider is the IdP.
//!
//! Ports differ per process, so the configuration is what a user writes for that:
//! `cookie_domains = [".example.test"]` (cookies ignore ports) and
//! `whitelist_domains = [".example.test:*"]` (a whitelist entry without a port only admits URLs
//! without one).

mod support;

use support::idp::{self, IdpConfig, Login};
use support::{
    free_port, location, session_set_cookie, Browser, EchoApp, EchoReply, Idp, Proxy, ProxyConfig,
    COOKIE_NAME,
};
use url::Url;

const APP1: &str = "app1.example.test";
const APP2: &str = "app2.example.test";
const AUTH: &str = "auth.example.test";

/// Where the callback lives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Callback {
    /// `redirect_url = http://auth.example.test:P1/oauth2/callback` on both sidecars, one cookie
    /// on `.example.test`.
    Central,
    /// `redirect_url` on each app's own host, a host-only cookie per app.
    PerApp,
}

struct Sso {
    idp: Idp,
    app1: EchoApp,
    app2: EchoApp,
    proxy1: Proxy,
    proxy2: Proxy,
    mode: Callback,
}

impl Sso {
    async fn start(mode: Callback) -> Sso {
        let (port1, port2) = (free_port(), free_port());
        let app1 = EchoApp::start().await;
        let app2 = EchoApp::start().await;
        let mut idp_config = IdpConfig::default();
        match mode {
            Callback::Central => idp_config
                .redirect_uris
                .push(format!("http://{AUTH}:{port1}/oauth2/callback")),
            Callback::PerApp => {
                idp_config
                    .redirect_uris
                    .push(format!("http://{APP1}:{port1}/oauth2/callback"));
                idp_config
                    .redirect_uris
                    .push(format!("http://{APP2}:{port2}/oauth2/callback"));
            }
        }
        let idp = Idp::start(idp_config).await;
        let sidecar = |port: u16, host: &str, app: &EchoApp| {
            let config = ProxyConfig::new(port, idp.issuer(), &app.url());
            match mode {
                Callback::Central => config
                    .set(
                        "redirect-url",
                        &format!("http://{AUTH}:{port1}/oauth2/callback"),
                    )
                    .set("cookie-domain", ".example.test")
                    .set("whitelist-domain", ".example.test:*"),
                Callback::PerApp => config
                    .set(
                        "redirect-url",
                        &format!("http://{host}:{port}/oauth2/callback"),
                    )
                    .set("whitelist-domain", &format!("{host}:{port}")),
            }
        };
        let proxy1 = Proxy::start(sidecar(port1, APP1, &app1)).await;
        let proxy2 = Proxy::start(sidecar(port2, APP2, &app2)).await;
        Sso {
            idp,
            app1,
            app2,
            proxy1,
            proxy2,
            mode,
        }
    }

    fn app1_url(&self, path: &str) -> String {
        format!("http://{APP1}:{}{path}", self.proxy1.port())
    }

    fn app2_url(&self, path: &str) -> String {
        format!("http://{APP2}:{}{path}", self.proxy2.port())
    }

    fn auth_url(&self, path: &str) -> String {
        format!("http://{AUTH}:{}{path}", self.proxy1.port())
    }

    fn callback_prefix(&self, app2: bool) -> String {
        match (self.mode, app2) {
            (Callback::Central, _) => self.auth_url("/oauth2/callback"),
            (Callback::PerApp, true) => self.app2_url("/oauth2/callback"),
            (Callback::PerApp, false) => self.app1_url("/oauth2/callback"),
        }
    }
}

fn browser() -> Browser {
    Browser::with_loopback_hosts(&[APP1, APP2, AUTH])
}

/// The "Sign in with …" link of a sign-in page, resolved against the page URL.
fn start_link(page_url: &str, html: &str) -> Url {
    let at = html
        .find("href=\"/oauth2/start")
        .unwrap_or_else(|| panic!("no start link on the sign-in page: {html}"));
    let rest = &html[at + "href=\"".len()..];
    let href = support::html::decode_entities(&rest[..rest.find('"').expect("closing quote")]);
    Url::parse(page_url).unwrap().join(&href).unwrap()
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Opens `page` without a session, follows the sign-in page's link through the IdP, and returns
/// the callback response (not yet followed) and the callback URL it was sent to.
async fn sign_in_from(
    sso: &Sso,
    browser: &Browser,
    page: &str,
    login: &Login,
) -> (reqwest::Response, Url) {
    let resp = browser.get(page).await;
    assert_eq!(resp.status(), 403, "{page} without a session: sign-in page");
    let html = resp.text().await.unwrap();
    let start = start_link(page, &html);
    // With a central callback the return URL must be absolute (it is followed on another
    // host); with a per-app callback the path is enough.
    let page_url = Url::parse(page).unwrap();
    let want_rd = match sso.mode {
        Callback::Central => page.to_string(),
        Callback::PerApp => page[page_url.origin().ascii_serialization().len()..].to_string(),
    };
    assert_eq!(
        query(&start, "rd"),
        Some(want_rd),
        "the sign-in link carries the original URL"
    );
    let resp = browser.get(start.as_str()).await;
    assert_eq!(resp.status(), 302, "/oauth2/start redirects to the IdP");
    let authorize = location(&resp);
    assert!(authorize.as_str().starts_with(sso.idp.issuer()));
    let callback = idp::authorize(browser, &authorize, login).await;
    let resp = browser.get(callback.as_str()).await;
    (resp, callback)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_callback_signs_in_once_for_every_app_and_signs_out_everywhere() {
    let sso = Sso::start(Callback::Central).await;
    let browser = browser();
    let login = Login::new("alice");
    let page = sso.app2_url("/some/page?x=1");

    // app2 → sign in → the IdP returns to the AUTH host (proxy 1)...
    let (resp, callback) = sign_in_from(&sso, &browser, &page, &login).await;
    assert!(
        callback.as_str().starts_with(&sso.callback_prefix(true)),
        "the IdP returned to {callback}, not the central callback"
    );
    assert_eq!(resp.status(), 302, "the callback redirects back");
    // ...which sends the browser back to exactly the app2 URL, not to the auth host.
    assert_eq!(location(&resp).as_str(), page, "return URL after callback");
    let cookie = session_set_cookie(&resp).expect("the callback sets the session cookie");
    assert_eq!(
        cookie.domain(),
        Some("example.test"),
        "the session cookie is shared by every app"
    );
    let resp = browser.get(&page).await;
    assert_eq!(resp.status(), 200, "signed in on app2");
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.path, "/some/page?x=1");
    assert_eq!(sso.app2.hits(), 1);
    assert_eq!(
        echo.header("x-forwarded-email"),
        Some(login.email().as_str())
    );

    // app1: already signed in, without any provider round trip.
    let before = sso.idp.stats().await;
    let resp = browser.get(&sso.app1_url("/dashboard")).await;
    assert_eq!(resp.status(), 200, "app1 accepts the session made for app2");
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(
        echo.header("x-forwarded-email"),
        Some(login.email().as_str())
    );
    assert_eq!(sso.app1.hits(), 1);
    assert_eq!(
        sso.idp.stats().await,
        before,
        "no token request for the second app"
    );

    // Sign out on app1 with rd back to app1: the shared cookie is deleted on .example.test...
    let rd = sso.app1_url("/");
    let resp = browser
        .get(&sso.app1_url(&format!("/oauth2/sign_out?rd={}", support::encode(&rd))))
        .await;
    assert_eq!(resp.status(), 302);
    assert_eq!(location(&resp).as_str(), rd, "sign-out honours rd on app1");
    let deleted: Vec<_> = support::set_cookies(&resp)
        .into_iter()
        .filter(|c| c.name() == COOKIE_NAME)
        .collect();
    assert_eq!(deleted.len(), 1, "the session cookie is deleted");
    assert_eq!(deleted[0].domain(), Some("example.test"));
    assert!(support::browser::is_deletion(&deleted[0]));
    // ...so app2 asks to sign in again.
    let resp = browser.get(&page).await;
    assert_eq!(resp.status(), 403, "app2 asks to sign in again");
    assert_eq!(sso.app2.hits(), 1, "nothing more reached app2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_callback_returns_a_relative_rd_to_the_app_it_started_on() {
    let sso = Sso::start(Callback::Central).await;
    let browser = browser();
    // An app's own "log in" link: a relative rd on app2's host.
    let resp = browser
        .get(&sso.app2_url("/oauth2/start?rd=%2Freports%3Fq%3D1"))
        .await;
    assert_eq!(resp.status(), 302);
    let callback = idp::authorize(&browser, &location(&resp), &Login::new("bob")).await;
    assert!(callback.as_str().starts_with(&sso.callback_prefix(true)));
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(
        location(&resp).as_str(),
        sso.app2_url("/reports?q=1"),
        "the user lands on app2, not on the auth host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_url_outside_the_whitelist_falls_back_to_the_app_root() {
    let sso = Sso::start(Callback::Central).await;
    let browser = browser();
    for evil in [
        "http://evil.test/steal",
        "http://example.test.evil.test:8080/",
        "//evil.test/",
        "https://app2.example.test@evil.test/",
    ] {
        let resp = browser
            .get(&sso.app2_url(&format!("/oauth2/start?rd={}", support::encode(evil))))
            .await;
        assert_eq!(resp.status(), 302, "{evil}");
        let callback = idp::authorize(&browser, &location(&resp), &Login::new("carol")).await;
        let resp = browser.get(callback.as_str()).await;
        assert_eq!(resp.status(), 302, "{evil}");
        let back = location(&resp);
        assert_eq!(
            back.as_str(),
            sso.app2_url("/"),
            "a refused rd ({evil}) falls back to the root of the app the login started on"
        );
    }
    // A forged sign-out rd is refused too: the user stays on the app's own host.
    let resp = browser
        .get(&sso.app1_url("/oauth2/sign_out?rd=http%3A%2F%2Fevil.test%2F"))
        .await;
    assert_eq!(resp.status(), 302);
    assert_eq!(location(&resp).as_str(), sso.app1_url("/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_app_callback_keeps_each_app_separate() {
    let sso = Sso::start(Callback::PerApp).await;
    let browser = browser();
    let login = Login::new("dave");
    let page = sso.app2_url("/some/page?x=1");

    let (resp, callback) = sign_in_from(&sso, &browser, &page, &login).await;
    assert!(
        callback.as_str().starts_with(&sso.callback_prefix(true)),
        "the IdP returned to {callback}, not app2's own callback"
    );
    assert_eq!(resp.status(), 302);
    assert_eq!(location(&resp).as_str(), page);
    let cookie = session_set_cookie(&resp).expect("session cookie");
    assert_eq!(cookie.domain(), None, "a host-only cookie per app");
    assert_eq!(browser.get(&page).await.status(), 200);

    // No SSO between apps in this mode: app1 needs its own sign-in (at its own callback).
    assert_eq!(browser.get(&sso.app1_url("/dashboard")).await.status(), 403);
    let before = sso.idp.stats().await;
    let (resp, callback) = sign_in_from(&sso, &browser, &sso.app1_url("/dashboard"), &login).await;
    assert!(callback.as_str().starts_with(&sso.callback_prefix(false)));
    assert_eq!(location(&resp).as_str(), sso.app1_url("/dashboard"));
    assert_eq!(
        sso.idp.stats().await.grants.authorization_code,
        before.grants.authorization_code + 1,
        "app1's sign-in redeemed its own code"
    );
    assert_eq!(browser.get(&sso.app1_url("/dashboard")).await.status(), 200);

    // Signing out of app1 leaves app2 signed in.
    let resp = browser.get(&sso.app1_url("/oauth2/sign_out")).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(browser.get(&sso.app1_url("/dashboard")).await.status(), 403);
    assert_eq!(browser.get(&page).await.status(), 200);
}
