//! Proves the end-to-end harness on its own, without authproxy: the oidc-provider IdP issues a
//! code to a fake client through its HTML forms, the code redeems with PKCE under both client
//! authentication methods, refresh and revocation behave, and the harness' small HTML reader and
//! cookie jar do what the scenarios rely on.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::browser::is_deletion;
use support::html;
use support::idp::{self, Idp, IdpConfig, Login};
use support::{location, set_cookies, Browser, POST_CLIENT_ID, POST_CLIENT_SECRET};
use support::{CLIENT_ID, CLIENT_SECRET};
use url::Url;

const FAKE_REDIRECT: &str = "http://127.0.0.1:9/fake/callback";

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let verifier = URL_SAFE_NO_PAD.encode(raw);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

fn authorize_url(idp: &Idp, client_id: &str, challenge: Option<&str>) -> Url {
    let mut url = Url::parse(&idp.url("/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", FAKE_REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("state", "state-123")
        .append_pair("nonce", "nonce-456");
    if let Some(challenge) = challenge {
        url.query_pairs_mut()
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
    }
    url
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

fn jwt_header(jwt: &str) -> Value {
    let header = jwt.split('.').next().expect("JWT header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON")
}

async fn fake_client_idp(alg: &str) -> Idp {
    Idp::start(IdpConfig {
        redirect_uris: vec![FAKE_REDIRECT.to_string()],
        id_token_alg: alg.to_string(),
        ..IdpConfig::default()
    })
    .await
}

async fn token_request(
    idp: &Idp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client.post(idp.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn sign_in_code(idp: &Idp, client_id: &str, login: &Login) -> (String, Pkce) {
    let pkce = pkce();
    let browser = Browser::new();
    let back = idp::authorize(
        &browser,
        &authorize_url(idp, client_id, Some(&pkce.challenge)),
        login,
    )
    .await;
    assert!(back.as_str().starts_with(FAKE_REDIRECT), "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some("state-123"));
    assert_eq!(query(&back, "iss").as_deref(), Some(idp.issuer()));
    (query(&back, "code").expect("code"), pkce)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_login_issues_a_code_that_redeems_with_pkce_and_basic_auth() {
    let idp = fake_client_idp("RS256").await;
    let login = Login::new("alice").groups(&["admins", "devs"]);
    let (code, pkce) = sign_in_code(&idp, CLIENT_ID, &login).await;

    let (status, tokens) = token_request(
        &idp,
        Some((CLIENT_ID, CLIENT_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", FAKE_REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().expect("id_token");
    assert!(tokens["access_token"].is_string());
    assert!(
        tokens["refresh_token"].is_string(),
        "refresh tokens are issued"
    );
    assert_eq!(jwt_header(id_token)["alg"], "RS256");
    let claims = jwt_claims(id_token);
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["nonce"], "nonce-456");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["groups"], serde_json::json!(["admins", "devs"]));

    // A code is single use.
    let (status, err) = token_request(
        &idp,
        Some((CLIENT_ID, CLIENT_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", FAKE_REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_grant");

    let stats = idp.stats().await;
    assert_eq!(stats.token_requests, 2);
    assert_eq!(stats.grants.authorization_code, 1);
    assert_eq!(stats.grant_errors, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_post_client_redeems_with_client_secret_post_and_es256() {
    let idp = fake_client_idp("ES256").await;
    let login = Login::new("bob@corp.example").email_verified(false);
    let (code, pkce) = sign_in_code(&idp, POST_CLIENT_ID, &login).await;
    let (status, tokens) = token_request(
        &idp,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", FAKE_REDIRECT),
            ("code_verifier", &pkce.verifier),
            ("client_id", POST_CLIENT_ID),
            ("client_secret", POST_CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(jwt_header(id_token)["alg"], "ES256");
    let claims = jwt_claims(id_token);
    assert_eq!(claims["aud"], POST_CLIENT_ID);
    assert_eq!(claims["email"], "bob@corp.example");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["groups"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_rejects_a_wrong_pkce_verifier_without_consuming_the_code() {
    let idp = fake_client_idp("RS256").await;
    let (code, pkce) = sign_in_code(&idp, CLIENT_ID, &Login::new("carol")).await;
    let wrong = self::pkce();
    let redeem = |verifier: String| {
        let code = code.clone();
        let idp = &idp;
        async move {
            token_request(
                idp,
                Some((CLIENT_ID, CLIENT_SECRET)),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", FAKE_REDIRECT),
                    ("code_verifier", &verifier),
                ],
            )
            .await
        }
    };
    let (status, err) = redeem(wrong.verifier).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_grant");
    let (status, tokens) = redeem(pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_requires_pkce_from_confidential_clients() {
    let idp = fake_client_idp("RS256").await;
    let browser = Browser::new();
    let resp = browser
        .get(authorize_url(&idp, CLIENT_ID, None).as_str())
        .await;
    // oidc-provider reports the error to the client's redirect_uri.
    assert_eq!(resp.status(), 303);
    let back = location(&resp);
    assert!(back.as_str().starts_with(FAKE_REDIRECT), "{back}");
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_deny_redirects_with_access_denied() {
    let idp = fake_client_idp("RS256").await;
    let browser = Browser::new();
    let pkce = pkce();
    let back = idp::deny(
        &browser,
        &authorize_url(&idp, CLIENT_ID, Some(&pkce.challenge)),
    )
    .await;
    assert!(back.as_str().starts_with(FAKE_REDIRECT), "{back}");
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some("state-123"));
    assert_eq!(query(&back, "code"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_refresh_works_until_the_account_is_revoked() {
    let idp = fake_client_idp("EdDSA").await;
    let (code, pkce) = sign_in_code(&idp, CLIENT_ID, &Login::new("dave")).await;
    let basic = Some((CLIENT_ID, CLIENT_SECRET));
    let (_, tokens) = token_request(
        &idp,
        basic,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", FAKE_REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(
        jwt_header(tokens["id_token"].as_str().unwrap())["alg"],
        "EdDSA"
    );
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, refreshed) = token_request(
        &idp,
        basic,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    assert_eq!(
        jwt_claims(refreshed["id_token"].as_str().unwrap())["sub"],
        "dave"
    );
    assert_eq!(idp.stats().await.grants.refresh_token, 1);

    idp.revoke("dave").await;
    let refresh = refreshed["refresh_token"].as_str().unwrap_or(&refresh);
    let (status, err) = token_request(
        &idp,
        basic,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_discovery_advertises_what_the_proxy_needs() {
    let idp = fake_client_idp("RS256").await;
    let doc: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(idp.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], idp.issuer());
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
    ] {
        assert!(
            doc[key].as_str().unwrap().starts_with(idp.issuer()),
            "{key}: {}",
            doc[key]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_restarts_on_the_same_port() {
    let mut idp = fake_client_idp("RS256").await;
    let port = idp.port();
    idp.stop();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        client.get(idp.url("/jwks")).send().await.is_err(),
        "stopped IdP still answers"
    );
    let idp = Idp::start_on(port, idp.config().clone()).await;
    let resp = client.get(idp.url("/jwks")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_app_reports_method_headers_and_body_digest() {
    let app = support::EchoApp::start().await;
    let body = vec![7u8; 100_000];
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .put(format!("{}/some/path?x=1", app.url()))
        .header("x-test", "one")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echo: support::EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.method, "PUT");
    assert_eq!(echo.path, "/some/path?x=1");
    assert_eq!(echo.header("x-test"), Some("one"));
    assert_eq!(echo.body_len, 100_000);
    assert_eq!(echo.body_sha256, support::app::sha256_hex(&body));
    assert_eq!(app.hits(), 1);
}

#[test]
fn html_reader_finds_forms_fields_and_decodes_entities() {
    let page = r#"<html><body>
<form id="x" method="get" action="/a?b=1&amp;c=2"><input name="q" value="v&quot;1"></form>
<FORM method='POST' action='/oauth2/start'>
  <input type="hidden" name="rd" value="/private?a=1&amp;b=2">
  <input name="empty">
  <button type="submit" name="go" value="yes">Go</button>
</FORM></body></html>"#;
    let forms = html::forms(page);
    assert_eq!(forms.len(), 2);
    assert_eq!(forms[0].id.as_deref(), Some("x"));
    assert_eq!(forms[0].action, "/a?b=1&c=2");
    assert_eq!(forms[0].method, "get");
    assert_eq!(forms[0].field("q"), Some("v\"1"));
    assert_eq!(forms[1].id, None);
    assert_eq!(forms[1].method, "post");
    assert_eq!(forms[1].field("rd"), Some("/private?a=1&b=2"));
    assert_eq!(forms[1].field("empty"), Some(""));
    assert_eq!(forms[1].field("go"), Some("yes"));
    assert_eq!(html::decode_entities("&#47;&#x2F;&bogus;&"), "//&bogus;&");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_jar_applies_paths_and_deletions() {
    let jar = support::Jar::default();
    let url = Url::parse("http://127.0.0.1:1/a/b").unwrap();
    let headers = [
        "one=1; Path=/; HttpOnly",
        "two=2; Path=/a",
        "three=3; Path=/other",
        "four=4",
    ]
    .map(reqwest::header::HeaderValue::from_static);
    reqwest::cookie::CookieStore::set_cookies(&jar, &mut headers.iter(), &url);
    let sent = reqwest::cookie::CookieStore::cookies(&jar, &url).unwrap();
    let sent = sent.to_str().unwrap();
    assert!(sent.contains("one=1") && sent.contains("two=2") && sent.contains("four=4"));
    assert!(!sent.contains("three"), "{sent}");
    let delete = [reqwest::header::HeaderValue::from_static(
        "one=; Path=/; Max-Age=0",
    )];
    reqwest::cookie::CookieStore::set_cookies(&jar, &mut delete.iter(), &url);
    assert_eq!(jar.get("one"), None);
    let expired = [reqwest::header::HeaderValue::from_static(
        "two=; Path=/a; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    )];
    reqwest::cookie::CookieStore::set_cookies(&jar, &mut expired.iter(), &url);
    assert_eq!(jar.names(), vec!["four".to_string(), "three".to_string()]);

    // Set-Cookie helpers on a real response.
    let idp = fake_client_idp("RS256").await;
    let browser = Browser::new();
    let resp = browser
        .get(authorize_url(&idp, CLIENT_ID, Some(&pkce().challenge)).as_str())
        .await;
    let cookies = set_cookies(&resp);
    assert!(cookies.iter().any(|c| c.name() == "idp_interaction"));
    assert!(cookies.iter().all(|c| !is_deletion(c)));
}
