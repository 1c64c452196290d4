use super::*;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::redirect::Policy;
use tokio::sync::oneshot;

const REDIRECT: &str = "http://127.0.0.1:4180/oauth2/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier";

struct Harness {
    base: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let client = DemoClient {
        id: "demo-client".into(),
        secret: "demo-secret".into(),
        redirect_uris: vec![REDIRECT.into()],
    };
    let (tx, rx) = oneshot::channel::<()>();
    let issuer = Url::parse(&base).unwrap();
    tokio::spawn(run_idp(listener, issuer, client, rx));
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    Harness {
        base,
        http,
        _stop: tx,
    }
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Harness {
    /// Submits the login form and returns the code from the redirect.
    async fn login(&self, user: &str, groups: &[&str], extra: &str) -> String {
        let mut form: Vec<(&str, String)> = vec![
            ("client_id", "demo-client".into()),
            ("redirect_uri", REDIRECT.into()),
            ("response_type", "code".into()),
            ("scope", "openid email profile groups".into()),
            ("state", "st-123".into()),
            ("nonce", "n-456".into()),
            ("code_challenge", challenge(VERIFIER)),
            ("code_challenge_method", "S256".into()),
            ("username", user.into()),
            ("groups_extra", extra.into()),
        ];
        form.extend(groups.iter().map(|g| ("group", g.to_string())));
        let resp = self
            .http
            .post(format!("{}/authorize", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302, "{:?}", resp.text().await);
        let location = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT));
        let q: HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "st-123");
        q["code"].clone()
    }

    async fn token(&self, form: &[(&str, &str)], basic: bool) -> reqwest::Response {
        let mut req = self.http.post(format!("{}/token", self.base));
        if basic {
            req = req.basic_auth("demo-client", Some("demo-secret"));
        }
        req.form(form).send().await.unwrap()
    }

    async fn redeem(&self, code: &str, verifier: &str) -> reqwest::Response {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ],
            true,
        )
        .await
    }

    async fn jwks_key(&self) -> DecodingKey {
        let jwks: serde_json::Value = self
            .http
            .get(format!("{}/jwks", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let k = &jwks["keys"][0];
        assert_eq!(k["alg"], "ES256");
        DecodingKey::from_ec_components(k["x"].as_str().unwrap(), k["y"].as_str().unwrap()).unwrap()
    }
}

#[tokio::test]
async fn discovery_login_token_userinfo_round_trip() {
    let h = start().await;
    let disco: serde_json::Value = h
        .http
        .get(format!("{}/.well-known/openid-configuration", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["issuer"], h.base);
    assert_eq!(disco["token_endpoint"], format!("{}/token", h.base));
    assert_eq!(disco["code_challenge_methods_supported"][0], "S256");

    let form = h
        .http
        .get(format!(
            "{}/authorize?client_id=demo-client&redirect_uri={}&response_type=code&scope=openid&state=s&code_challenge={}&code_challenge_method=S256",
            h.base,
            percent_encoding::utf8_percent_encode(REDIRECT, percent_encoding::NON_ALPHANUMERIC),
            challenge(VERIFIER)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let page = form.text().await.unwrap();
    assert!(page.contains("authproxy development identity provider — not for production"));
    assert!(page.contains("name=\"group\" value=\"admins\""));
    assert!(page.contains("<label for=\"username\">"));

    let code = h.login("ada", &["admins", "viewers"], "ops, sre").await;
    let resp = h.redeem(&code, VERIFIER).await;
    assert_eq!(resp.status(), 200);
    let tokens: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);

    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&["demo-client"]);
    v.set_issuer(&[h.base.as_str()]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        tokens["id_token"].as_str().unwrap(),
        &h.jwks_key().await,
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(claims["groups"], json!(["admins", "ops", "sre", "viewers"]));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );

    let info: serde_json::Value = h
        .http
        .get(format!("{}/userinfo", h.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["email"], "ada@example.com");
    let bad = h
        .http
        .get(format!("{}/userinfo", h.base))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
}

#[tokio::test]
async fn wrong_pkce_verifier_is_rejected() {
    let h = start().await;
    let code = h.login("bob", &[], "").await;
    let resp = h
        .redeem(
            &code,
            "a-different-verifier-that-is-long-enough-to-be-valid-x",
        )
        .await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_can_be_redeemed_only_once() {
    let h = start().await;
    let code = h.login("carol", &[], "").await;
    assert_eq!(h.redeem(&code, VERIFIER).await.status(), 200);
    assert_eq!(h.redeem(&code, VERIFIER).await.status(), 400);
}

#[tokio::test]
async fn refresh_issues_new_tokens_and_spends_the_old_refresh_token() {
    let h = start().await;
    let code = h.login("dave", &["developers"], "").await;
    let first: serde_json::Value = h.redeem(&code, VERIFIER).await.json().await.unwrap();
    let rt = first["refresh_token"].as_str().unwrap();
    // client_secret_post this time.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", "demo-client"),
        ("client_secret", "demo-secret"),
    ];
    let resp = h.token(&form, false).await;
    assert_eq!(resp.status(), 200);
    let second: serde_json::Value = resp.json().await.unwrap();
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&["demo-client"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        second["id_token"].as_str().unwrap(),
        &h.jwks_key().await,
        &v,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["groups"], json!(["developers"]));
    assert_eq!(
        h.token(&form, false).await.status(),
        400,
        "old refresh token is spent"
    );
}

#[tokio::test]
async fn client_authentication_and_redirect_uri_are_enforced() {
    let h = start().await;
    let code = h.login("erin", &[], "").await;
    let wrong_secret = h
        .http
        .post(format!("{}/token", h.base))
        .basic_auth("demo-client", Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    // An unregistered redirect_uri is refused with a page, never redirected to.
    let resp = h
        .http
        .get(format!(
            "{}/authorize?client_id=demo-client&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code&scope=openid",
            h.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    // A valid client but no openid scope: the error goes back to the client.
    let resp = h
        .http
        .get(format!(
            "{}/authorize?client_id=demo-client&redirect_uri={}&response_type=code&scope=email&state=z",
            h.base,
            percent_encoding::utf8_percent_encode(REDIRECT, percent_encoding::NON_ALPHANUMERIC),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap();
    assert!(
        loc.contains("error=invalid_scope") && loc.contains("state=z"),
        "{loc}"
    );
}

#[tokio::test]
async fn refuses_non_loopback_listeners_and_issuers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = DemoClient {
        id: "c".into(),
        secret: "s".into(),
        redirect_uris: vec![],
    };
    let err = run_idp(
        listener,
        Url::parse("https://idp.example.com").unwrap(),
        client,
        async {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn end_session_revokes_the_users_tokens_and_returns_to_a_registered_origin() {
    let h = start().await;
    let disco: serde_json::Value = h
        .http
        .get(format!("{}/.well-known/openid-configuration", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["end_session_endpoint"], format!("{}/logout", h.base));
    let code = h.login("erin", &[], "").await;
    let tokens: serde_json::Value = h.redeem(&code, VERIFIER).await.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    let logout = |hint: &str, back: &str| {
        let mut u = Url::parse(&format!("{}/logout", h.base)).unwrap();
        u.query_pairs_mut()
            .append_pair("id_token_hint", hint)
            .append_pair("client_id", "demo-client")
            .append_pair("post_logout_redirect_uri", back);
        h.http.get(u).send()
    };
    // A forged hint (signature of another token) and a foreign return URL are refused.
    let mut forged: Vec<&str> = id_token.split('.').collect();
    forged[2] = "AAAA";
    let resp = logout(&forged.join("."), "http://127.0.0.1:4180/")
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = logout(id_token, "https://evil.example/").await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        h.token(&refresh, true).await.status(),
        200,
        "nothing revoked yet"
    );

    let code = h.login("erin", &[], "").await;
    let tokens: serde_json::Value = h.redeem(&code, VERIFIER).await.json().await.unwrap();
    let resp = logout(
        tokens["id_token"].as_str().unwrap(),
        "http://127.0.0.1:4180/",
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "http://127.0.0.1:4180/");
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
    ];
    assert_eq!(
        h.token(&refresh, true).await.status(),
        400,
        "tokens revoked"
    );
}
