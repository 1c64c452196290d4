//! End to end: the mix-up defence (RFC 9207 and the sealed state) for EVERY provider kind.
//!
//! Each test runs two providers in one instance: provider `a` of the kind under test against
//! its local fake, and provider `b`, a real oidc-provider IdP that sends `iss` in its
//! authorization responses. A response of one provider is replayed at the callback under a
//! state of the other. Every time no session is issued, and the IdP side shows:
//! * with the response's `iss`, no token request reaches ANY provider: the response is
//!   refused before the code is redeemed (the code is never sent to the state's provider);
//! * without it, only the provider whose login the state belongs to is asked (and refuses a
//!   code it did not issue); the provider that issued the code never sees it again.
//!
//! Finally a genuine login at `a` works (the setup is real).

mod fakes;
mod support;

use serde_json::json;
use url::Url;

use fakes::bitbucket::{self, BbUser};
use fakes::github::{self as gh, GhUser, GithubFake};
use fakes::oauth::{self, HasGrants};
use fakes::oidc::{self, OidcFake};
use fakes::oidc_kinds::{self, LOGIN_GOV_CLIENT_ID};
use fakes::{digitalocean, facebook, keycloak, linkedin, nextcloud, sourcehut};
use support::idp::{self, IdpConfig, Login};
use support::{
    free_port, location, session_set_cookie, Browser, EchoApp, Idp, Proxy, ProxyConfig, CLIENT_ID,
    CLIENT_SECRET,
};

/// A plain OAuth 2.0 provider's fake.
trait PlainFake: Send + Sync {
    fn base(&self) -> String;
    fn token_requests(&self) -> u64;
}

impl<S: HasGrants> PlainFake for oauth::Fake<S> {
    fn base(&self) -> String {
        oauth::Fake::base(self)
    }
    fn token_requests(&self) -> u64 {
        oauth::Fake::token_requests(self)
    }
}

/// The fake behind provider `a`.
enum Fake {
    Oidc(OidcFake),
    Github(GithubFake),
    Plain(Box<dyn PlainFake>),
}

impl Fake {
    fn base(&self) -> String {
        match self {
            Fake::Oidc(f) => f.base(),
            Fake::Github(f) => f.base(),
            Fake::Plain(f) => f.base(),
        }
    }

    fn token_requests(&self) -> u64 {
        match self {
            Fake::Oidc(f) => f.token_requests(),
            Fake::Github(f) => f.token_requests(),
            Fake::Plain(f) => f.token_requests(),
        }
    }
}

/// The alpha-config entry of a plain OAuth 2.0 provider `a` of `kind` at `urls`.
fn plain_entry(kind: &str, urls: &[(&str, String)], extra: &str) -> String {
    let mut e = format!(
        "  - id: a\n    provider: {kind}\n    name: Provider A\n    clientID: {}\n    clientSecret: {}\n",
        oauth::CLIENT_ID,
        oauth::CLIENT_SECRET
    );
    for (k, v) in urls {
        e.push_str(&format!("    {k}: {v}\n"));
    }
    e.push_str(extra);
    e
}

struct Setup {
    fake: Fake,
    real: Idp,
    proxy: Proxy,
    _app: EchoApp,
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// An OIDC fake for `kind` at `issuer_path`, with one verified user `eve` and `iss` in its
/// authorization responses.
async fn oidc_fake(issuer_path: &str) -> OidcFake {
    let fake = OidcFake::start(issuer_path).await;
    fake.add_user(
        "eve",
        json!({"email": "eve@example.com", "email_verified": true}),
    );
    fake.sign_in_as("eve");
    fake.send_iss(true);
    fake
}

/// The alpha-config entry of provider `a` (kind `kind`) and its fake.
async fn provider_a(kind: &str) -> (Fake, String) {
    let oidc_entry = |fake: &OidcFake, kind: &str| {
        format!(
            "  - id: a\n    provider: {kind}\n    name: Provider A\n    clientID: {}\n    clientSecret: {}\n    oidcConfig:\n      issuerURL: {}\n",
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            fake.issuer
        )
    };
    match kind {
        "github" => {
            let fake = GithubFake::start().await;
            fake.add_user(GhUser::new("eve", 7));
            let entry = format!(
                "  - id: a\n    provider: github\n    name: Provider A\n    clientID: {}\n    clientSecret: {}\n    loginURL: {base}/login/oauth/authorize\n    redeemURL: {base}/login/oauth/access_token\n    validateURL: {api}\n",
                gh::CLIENT_ID,
                gh::CLIENT_SECRET,
                base = fake.base(),
                api = fake.api_url()
            );
            (Fake::Github(fake), entry)
        }
        "keycloak-oidc" => {
            let fake = oidc_fake("/realms/corp").await;
            let entry = oidc_entry(&fake, kind);
            (Fake::Oidc(fake), entry)
        }
        "entra-id" | "azure" => {
            let fake = oidc_fake("/11111111-2222-3333-4444-555555555555/v2.0").await;
            let entry = oidc_entry(&fake, kind);
            (Fake::Oidc(fake), entry)
        }
        "oidc" | "gitlab" | "google" => {
            let fake = oidc_fake("").await;
            let entry = oidc_entry(&fake, kind);
            (Fake::Oidc(fake), entry)
        }
        "adfs" | "cidaas" => {
            let fake = if kind == "adfs" {
                oidc_kinds::adfs().await
            } else {
                oidc_kinds::cidaas().await
            };
            fake.send_iss(true);
            let entry = oidc_entry(&fake, kind);
            (Fake::Oidc(fake), entry)
        }
        "login.gov" => {
            let fake = oidc_kinds::login_gov().await;
            fake.send_iss(true);
            let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/logingov-client-rsa.pem");
            let entry = format!(
                "  - id: a\n    provider: login.gov\n    name: Provider A\n    clientID: {LOGIN_GOV_CLIENT_ID}\n    loginURL: {}/openid_connect/authorize\n    loginGovConfig:\n      jwtKeyFile: {}\n",
                fake.base(),
                key.display()
            );
            (Fake::Oidc(fake), entry)
        }
        "bitbucket" => {
            let fake = bitbucket::start(vec![(
                "eve",
                BbUser {
                    emails: vec![("eve@example.com".into(), true, true)],
                    ..Default::default()
                },
            )])
            .await;
            let entry = plain_entry(
                kind,
                &[
                    ("loginURL", fake.url("/site/oauth2/authorize")),
                    ("redeemURL", fake.url("/site/oauth2/access_token")),
                    ("validateURL", fake.url("/2.0/user/emails")),
                ],
                "",
            );
            (Fake::Plain(Box::new(fake)), entry)
        }
        "digitalocean" => {
            let fake = digitalocean::start().await;
            let entry = plain_entry(
                kind,
                &[
                    ("loginURL", fake.url("/v1/oauth/authorize")),
                    ("redeemURL", fake.url("/v1/oauth/token")),
                    ("profileURL", fake.url("/v2/account")),
                ],
                "",
            );
            (Fake::Plain(Box::new(fake)), entry)
        }
        "facebook" => {
            let fake = facebook::start().await;
            let entry = plain_entry(
                kind,
                &[
                    ("loginURL", fake.url("/v2.5/dialog/oauth")),
                    ("redeemURL", fake.url("/v2.5/oauth/access_token")),
                    ("profileURL", fake.url("/v2.5/me")),
                ],
                "",
            );
            (Fake::Plain(Box::new(fake)), entry)
        }
        "keycloak" => {
            let fake = keycloak::start().await;
            let entry = plain_entry(
                kind,
                &[
                    ("loginURL", keycloak::endpoint(&fake, "auth")),
                    ("redeemURL", keycloak::endpoint(&fake, "token")),
                    ("validateURL", keycloak::endpoint(&fake, "userinfo")),
                ],
                "",
            );
            (Fake::Plain(Box::new(fake)), entry)
        }
        "linkedin" => {
            let fake = linkedin::start().await;
            let entry = plain_entry(
                kind,
                &[
                    ("loginURL", fake.url("/oauth/v2/authorization")),
                    ("redeemURL", fake.url("/uas/oauth2/accessToken")),
                    ("profileURL", fake.url("/v2/emailAddress")),
                ],
                "",
            );
            (Fake::Plain(Box::new(fake)), entry)
        }
        "nextcloud" => {
            let fake = nextcloud::start().await;
            let entry = plain_entry(
                kind,
                &[
                    ("loginURL", fake.url("/index.php/apps/oauth2/authorize")),
                    ("redeemURL", fake.url("/index.php/apps/oauth2/api/v1/token")),
                    (
                        "validateURL",
                        fake.url("/ocs/v2.php/cloud/user?format=json"),
                    ),
                ],
                "",
            );
            (Fake::Plain(Box::new(fake)), entry)
        }
        "sourcehut" => {
            let fake = sourcehut::start().await;
            let entry = plain_entry(
                kind,
                &[
                    ("loginURL", fake.url("/oauth2/authorize")),
                    ("redeemURL", fake.url("/oauth2/access-token")),
                    ("profileURL", fake.url("/query")),
                ],
                "",
            );
            (Fake::Plain(Box::new(fake)), entry)
        }
        other => panic!("no fake for {other}"),
    }
}

async fn setup(kind: &str) -> Setup {
    let app = EchoApp::start().await;
    let port = free_port();
    let real = Idp::start(IdpConfig::default().redirect_to_proxy(port)).await;
    let (fake, entry_a) = provider_a(kind).await;
    let dir =
        std::env::temp_dir().join(format!("authproxy-e2e-mixup-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let alpha = dir.join("alpha.yaml");
    let providers = format!(
            "providers:\n{entry_a}  - id: b\n    provider: oidc\n    name: Provider B\n    clientID: {CLIENT_ID}\n    clientSecret: {CLIENT_SECRET}\n    oidcConfig:\n      issuerURL: {}\n",
            real.issuer()
        );
    let config = ProxyConfig::new(port, real.issuer(), &app.url()).into_alpha(&providers, &alpha);
    let proxy = Proxy::start(config).await;
    Setup {
        fake,
        real,
        proxy,
        _app: app,
    }
}

impl Setup {
    /// `/oauth2/start?provider=<id>`: the authorization URL it redirects to.
    async fn start(&self, browser: &Browser, id: &str) -> Url {
        let resp = browser
            .get(
                &self
                    .proxy
                    .url(&format!("/oauth2/start?provider={id}&rd=%2Fhome")),
            )
            .await;
        assert_eq!(resp.status(), 302, "start for {id}");
        location(&resp)
    }

    /// A's authorization response (the fake approves at once).
    async fn respond_a(&self, browser: &Browser) -> Url {
        let authorize = self.start(browser, "a").await;
        assert!(
            authorize.as_str().starts_with(&self.fake.base()),
            "{authorize}"
        );
        let resp = browser.get(authorize.as_str()).await;
        assert_eq!(resp.status(), 302, "the fake approves");
        location(&resp)
    }

    /// B's authorization response, from the real IdP's login form.
    async fn respond_b(&self, browser: &Browser) -> Url {
        let authorize = self.start(browser, "b").await;
        assert!(authorize.as_str().starts_with(self.real.issuer()));
        idp::authorize(browser, &authorize, &Login::new("mallory")).await
    }

    /// `response`'s parameters at the proxy callback, with `state` (and `iss` only if `keep_iss`).
    fn forged(&self, response: &Url, state: &str, keep_iss: bool) -> String {
        let mut forged = Url::parse(&self.proxy.url("/oauth2/callback")).unwrap();
        let mut pairs: Vec<(String, String)> = response
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .filter(|(k, _)| k != "state" && (keep_iss || k != "iss"))
            .collect();
        pairs.push(("state".into(), state.into()));
        forged.query_pairs_mut().extend_pairs(pairs);
        forged.into()
    }

    async fn real_token_requests(&self) -> u64 {
        self.real.stats().await.token_requests
    }
}

/// Every replay for provider kind `kind`.
async fn mix_up_is_refused_for(kind: &str) {
    let s = setup(kind).await;
    let browser = Browser::new();

    // B's response (code, and the real IdP's `iss`) under a state of A's login.
    let response_b = s.respond_b(&browser).await;
    assert!(
        query(&response_b, "iss").is_some(),
        "the real IdP sends iss"
    );
    for keep_iss in [true, false] {
        let state_a = query(&s.start(&browser, "a").await, "state").unwrap();
        let real_before = s.real_token_requests().await;
        let fake_before = s.fake.token_requests();
        let resp = browser
            .get(&s.forged(&response_b, &state_a, keep_iss))
            .await;
        assert_ne!(
            resp.status(),
            302,
            "{kind}: B's response under A's state (iss {keep_iss})"
        );
        assert!(session_set_cookie(&resp).is_none(), "{kind}: no session");
        if keep_iss {
            assert_eq!(resp.status(), 403, "{kind}");
            let body = resp.text().await.unwrap();
            assert!(body.contains("another identity provider"), "{kind}: {body}");
        }
        assert_eq!(
            s.real_token_requests().await,
            real_before,
            "{kind}: B's code was sent back to B under A's state (iss {keep_iss})"
        );
        if keep_iss {
            assert_eq!(
                s.fake.token_requests(),
                fake_before,
                "{kind}: B's code (its iss says so) was redeemed at A"
            );
        }
    }

    // A's response (code, and the fake's `iss` for OIDC kinds) under a state of B's login.
    for keep_iss in [true, false] {
        let response_a = s.respond_a(&browser).await;
        let state_b = query(&s.start(&browser, "b").await, "state").unwrap();
        let fake_before = s.fake.token_requests();
        let real_before = s.real_token_requests().await;
        let a_sent_iss = query(&response_a, "iss").is_some();
        let resp = browser
            .get(&s.forged(&response_a, &state_b, keep_iss))
            .await;
        assert_ne!(
            resp.status(),
            302,
            "{kind}: A's response under B's state (iss {keep_iss})"
        );
        assert!(session_set_cookie(&resp).is_none(), "{kind}: no session");
        if keep_iss && a_sent_iss {
            assert_eq!(resp.status(), 403, "{kind}");
            assert_eq!(
                s.real_token_requests().await,
                real_before,
                "{kind}: A's code (its iss says so) was redeemed at B"
            );
        }
        assert_eq!(
            s.fake.token_requests(),
            fake_before,
            "{kind}: A's code was sent back to A under B's state (iss {keep_iss})"
        );
    }
    assert_eq!(
        browser.get(&s.proxy.url("/home")).await.status(),
        403,
        "{kind}: still signed out"
    );

    // The setup is real: a genuine login at A succeeds.
    let response_a = s.respond_a(&browser).await;
    let resp = browser.get(response_a.as_str()).await;
    assert_eq!(resp.status(), 302, "{kind}: genuine login at A");
    assert!(
        session_set_cookie(&resp).is_some(),
        "{kind}: session issued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_oidc() {
    mix_up_is_refused_for("oidc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_keycloak_oidc() {
    mix_up_is_refused_for("keycloak-oidc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_gitlab() {
    mix_up_is_refused_for("gitlab").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_google() {
    mix_up_is_refused_for("google").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_entra_id() {
    mix_up_is_refused_for("entra-id").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_azure() {
    mix_up_is_refused_for("azure").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_github() {
    mix_up_is_refused_for("github").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_adfs() {
    mix_up_is_refused_for("adfs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_bitbucket() {
    mix_up_is_refused_for("bitbucket").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_cidaas() {
    mix_up_is_refused_for("cidaas").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_digitalocean() {
    mix_up_is_refused_for("digitalocean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_facebook() {
    mix_up_is_refused_for("facebook").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_keycloak() {
    mix_up_is_refused_for("keycloak").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_linkedin() {
    mix_up_is_refused_for("linkedin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_login_gov() {
    mix_up_is_refused_for("login.gov").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_nextcloud() {
    mix_up_is_refused_for("nextcloud").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_up_is_refused_for_sourcehut() {
    mix_up_is_refused_for("sourcehut").await;
}
