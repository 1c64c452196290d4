//! End to end: machine clients. Bearer JWTs from an extra issuer (a small discovery + JWKS
//! server in this test, on 127.0.0.1, signing with the fixed test key), htpasswd basic auth and
//! the htpasswd sign-in form, through the real authproxy binary in front of the echo app.

mod support;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::idp::IdpConfig;
use support::{location, session_set_cookie, Browser, EchoReply, Stack};

const AUDIENCE: &str = "api://machines";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/provider/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn rsa(file: &str) -> EncodingKey {
    EncodingKey::from_rsa_der(&fixture(file))
}

/// Serves `/.well-known/openid-configuration` and `/jwks` for the RSA key `rsa_a` (kid `m1`).
async fn start_issuer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let mut jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&rsa("rsa_a.pkcs1.der"), Algorithm::RS256)
            .unwrap(),
    )
    .unwrap();
    jwk["kid"] = json!("m1");
    let jwks = json!({ "keys": [jwk] }).to_string();
    let discovery = json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (jwks, discovery) = (jwks.clone(), discovery.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let body = match req.uri().path() {
                            "/.well-known/openid-configuration" => discovery.clone(),
                            "/jwks" => jwks.clone(),
                            _ => "{}".to_owned(),
                        };
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    base
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "sub": "svc-1",
        "aud": AUDIENCE,
        "exp": now() + 300,
        "iat": now(),
        "email": "robot@example.com",
        "groups": ["machines"],
        "preferred_username": "robot",
    })
}

fn sign_with(key: &EncodingKey, alg: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn sign(claims: &Value) -> String {
    sign_with(&rsa("rsa_a.pkcs1.der"), Algorithm::RS256, "m1", claims)
}

fn with(mut v: Value, changes: Value) -> Value {
    for (k, c) in changes.as_object().unwrap() {
        v[k] = c.clone();
    }
    v
}

async fn get_with_auth(url: &str, authorization: &str) -> reqwest::Response {
    Browser::new()
        .client()
        .get(url)
        .header("authorization", authorization)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_bearer_token_reaches_the_app_with_identity_headers_and_bad_ones_get_401() {
    let issuer = start_issuer().await;
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.enable("skip-jwt-bearer-tokens")
            .set("extra-jwt-issuers", &format!("{issuer}={AUDIENCE}"))
    })
    .await;
    let url = stack.proxy.url("/api/items");
    let token = sign(&claims(&issuer));

    let resp = get_with_auth(&url, &format!("Bearer {token}")).await;
    assert_eq!(resp.status(), 200, "{}", stack.proxy.log());
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.path, "/api/items");
    assert_eq!(echo.header("x-forwarded-email"), Some("robot@example.com"));
    assert_eq!(echo.header("x-forwarded-preferred-username"), Some("robot"));
    assert_eq!(echo.header("x-forwarded-groups"), Some("machines"));
    assert_eq!(
        echo.header("x-forwarded-access-token"),
        Some(token.as_str())
    );

    // The forward-auth endpoint accepts the same token.
    let auth = get_with_auth(&stack.proxy.url("/oauth2/auth"), &format!("Bearer {token}")).await;
    assert_eq!(auth.status(), 202);

    let hits = stack.app.hits();
    let good = claims(&issuer);
    let none = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"m1"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let bad = [
        ("alg none", none),
        (
            "HS256",
            sign_with(
                &EncodingKey::from_secret(support::CLIENT_SECRET.as_bytes()),
                Algorithm::HS256,
                "m1",
                &good,
            ),
        ),
        (
            "wrong audience",
            sign(&with(good.clone(), json!({"aud": "someone-else"}))),
        ),
        (
            "unknown issuer",
            sign(&with(good.clone(), json!({"iss": "https://evil.example"}))),
        ),
        (
            "expired",
            sign(&with(good.clone(), json!({"exp": now() - 600}))),
        ),
        (
            "wrong signature",
            sign_with(&rsa("rsa_b.pkcs1.der"), Algorithm::RS256, "m1", &good),
        ),
        ("not a JWT", "opaque".to_owned()),
    ];
    for (name, token) in bad {
        let resp = get_with_auth(&url, &format!("Bearer {token}")).await;
        assert_eq!(resp.status(), 401, "{name}");
        let www = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(www.contains(r#"error="invalid_token""#), "{name}: {www}");
        assert!(resp.headers().get("location").is_none(), "{name}");
    }
    assert_eq!(stack.app.hits(), hits, "no bad token reached the app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_login_fallback_a_bad_bearer_token_is_refused_even_with_a_session() {
    let issuer = start_issuer().await;
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.enable("skip-jwt-bearer-tokens")
            .set("extra-jwt-issuers", &format!("{issuer}={AUDIENCE}"))
            .set("bearer-token-login-fallback", "false")
    })
    .await;
    let browser = Browser::new();
    stack
        .sign_in(&browser, "/", &support::Login::new("alice"))
        .await;
    let expired = sign(&with(claims(&issuer), json!({"exp": now() - 600})));
    let resp = browser
        .client()
        .get(stack.proxy.url("/"))
        .header("authorization", format!("Bearer {expired}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Without the bad header the session still works.
    assert_eq!(browser.get(&stack.proxy.url("/")).await.status(), 200);
}

fn htpasswd_file() -> std::path::PathBuf {
    let path = support::log_dir().join(format!("htpasswd-{}", support::free_port()));
    let bcrypt_hash = bcrypt::hash("correct horse", 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    let sha = base64::engine::general_purpose::STANDARD
        .encode(<sha1::Sha1 as sha1::Digest>::digest(b"sha-secret"));
    std::fs::write(
        &path,
        format!("alice:{bcrypt_hash}\nbob:{{SHA}}{sha}\nold:$apr1$abc$def\n"),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_users_authenticate_with_basic_auth() {
    let file = htpasswd_file();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("htpasswd-file", file.to_str().unwrap())
            .set("htpasswd-user-group", "ops")
    })
    .await;
    let log = stack.proxy.log();
    assert!(
        log.contains(&format!("{}:3: user \"old\"", file.display())),
        "the skipped line is logged with file and line:\n{log}"
    );
    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let url = stack.proxy.url("/private");
    for (user, pw) in [("alice", "correct horse"), ("bob", "sha-secret")] {
        let resp = get_with_auth(&url, &basic(user, pw)).await;
        assert_eq!(resp.status(), 200, "{user}");
        let echo: EchoReply = resp.json().await.unwrap();
        assert_eq!(echo.header("x-forwarded-user"), Some(user));
        assert_eq!(echo.header("x-forwarded-groups"), Some("ops"));
    }
    let hits = stack.app.hits();
    for (user, pw) in [
        ("alice", "wrong"),
        ("bob", "correct horse"),
        ("old", "anything"),
        ("nobody", "x"),
    ] {
        let resp = get_with_auth(&url, &basic(user, pw)).await;
        assert_eq!(resp.status(), 401, "{user}:{pw}");
        let www = resp
            .headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(www.starts_with("Basic "), "{www}");
    }
    assert_eq!(stack.app.hits(), hits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_htpasswd_form_signs_in_with_a_session_cookie() {
    let file = htpasswd_file();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("htpasswd-file", file.to_str().unwrap())
    })
    .await;
    let browser = Browser::new();
    let page = browser
        .get(&stack.proxy.url("/oauth2/sign_in?rd=/dash"))
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="password""#), "the form is shown");

    let origin = format!("http://127.0.0.1:{}", stack.proxy.port());
    let post = |user: &str, pw: &str, origin: &str| {
        browser
            .client()
            .post(stack.proxy.url("/oauth2/sign_in"))
            .header("origin", origin)
            .form(&[("username", user), ("password", pw), ("rd", "/dash")])
            .send()
    };
    // Wrong password: the sign-in page again, 401, no session.
    let resp = post("alice", "nope", &origin).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(session_set_cookie(&resp).is_none());
    // Posted from another site: refused (login CSRF).
    let resp = post("alice", "correct horse", "http://evil.example")
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(session_set_cookie(&resp).is_none());
    // Right password: a session cookie and back to rd.
    let resp = post("alice", "correct horse", &origin).await.unwrap();
    assert_eq!(resp.status(), 302);
    assert!(session_set_cookie(&resp).is_some());
    assert_eq!(location(&resp).path(), "/dash");
    let resp = browser.get(&stack.proxy.url("/dash")).await;
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.header("x-forwarded-user"), Some("alice"));
}
