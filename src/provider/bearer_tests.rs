//! Bearer JWT verification against in-process issuers on 127.0.0.1 (discovery + JWKS), with
//! tokens signed by the fixed test keys in `tests/fixtures/provider/`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::config::CodeChallengeMethod;
use crate::crypto::Secret;

const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/provider/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Key {
    alg: Algorithm,
    kid: &'static str,
    encoding: EncodingKey,
    jwk: Value,
}

fn rsa_key(file: &str, kid: &'static str) -> Key {
    let encoding = EncodingKey::from_rsa_der(&fixture(file));
    let mut jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256).unwrap(),
    )
    .unwrap();
    jwk["kid"] = json!(kid);
    Key {
        alg: Algorithm::RS256,
        kid,
        encoding,
        jwk,
    }
}

fn ec_key(kid: &'static str) -> Key {
    let encoding = EncodingKey::from_ec_der(&fixture("ec_p256.pkcs8.der"));
    let mut jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap(),
    )
    .unwrap();
    jwk["kid"] = json!(kid);
    Key {
        alg: Algorithm::ES256,
        kid,
        encoding,
        jwk,
    }
}

fn sign(key: &Key, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

struct State {
    jwks: Value,
    discovery_hits: usize,
    jwks_hits: usize,
}

/// A minimal issuer: discovery and JWKS.
struct Issuer {
    base: String,
    state: Arc<Mutex<State>>,
}

impl Issuer {
    async fn start(keys: &[&Key]) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let state = Arc::new(Mutex::new(State {
            jwks: json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}),
            discovery_hits: 0,
            jwks_hits: 0,
        }));
        let shared = Arc::clone(&state);
        let issuer = base.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&shared);
                let issuer = issuer.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let state = Arc::clone(&state);
                            let issuer = issuer.clone();
                            async move {
                                let mut s = state.lock().unwrap();
                                let body = match req.uri().path() {
                                    "/.well-known/openid-configuration" => {
                                        s.discovery_hits += 1;
                                        json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")})
                                    }
                                    "/jwks" => {
                                        s.jwks_hits += 1;
                                        s.jwks.clone()
                                    }
                                    _ => json!({}),
                                };
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(body.to_string())))
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
        Issuer { base, state }
    }

    fn set_keys(&self, keys: &[&Key]) {
        self.state.lock().unwrap().jwks =
            json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    }

    fn jwks_hits(&self) -> usize {
        self.state.lock().unwrap().jwks_hits
    }

    fn url(&self) -> url::Url {
        url::Url::parse(&self.base).unwrap()
    }
}

fn provider_config(issuer: &str) -> ProviderConfig {
    ProviderConfig {
        kind: "oidc".into(),
        display_name: String::new(),
        client_id: "client".into(),
        client_secret: Secret::new("secret"),
        oidc_issuer_url: Some(url::Url::parse(issuer).unwrap()),
        login_url: None,
        redeem_url: None,
        profile_url: None,
        oidc_jwks_url: None,
        skip_oidc_discovery: false,
        scope: "openid email profile".into(),
        code_challenge_method: CodeChallengeMethod::S256,
        oidc_email_claim: "email".into(),
        oidc_groups_claim: "groups".into(),
        user_id_claim: "sub".into(),
        insecure_oidc_allow_unverified_email: false,
        insecure_oidc_skip_issuer_verification: false,
        insecure_oidc_skip_nonce: false,
        oidc_extra_audiences: vec!["client-extra".into()],
        ssl_insecure_skip_verify: false,
        provider_ca_files: Vec::new(),
        prompt: None,
        approval_prompt: "force".into(),
        acr_values: None,
        auth_request_response_mode: None,
        token_auth_method: None,
        validate_url: None,
        allowed_roles: Vec::new(),
        github: Default::default(),
        google: Default::default(),
        azure: Default::default(),
        gitlab: Default::default(),
        keycloak: Default::default(),
        resource: None,
        bitbucket: Default::default(),
        login_gov: Default::default(),
        adfs: Default::default(),
        id: String::new(),
        allowed_groups: Vec::new(),
        additional_claims: Vec::new(),
        skip_claims_from_profile_url: false,
        use_system_trust_store: false,
        oidc_audience_claims: vec!["aud".into()],
        oidc_enabled_signing_algs: Vec::new(),
        oidc_public_key_files: Vec::new(),
        backend_logout_url: None,
    }
}

fn claims_for(iss: &str, aud: &str) -> Value {
    json!({
        "iss": iss,
        "sub": "svc-1",
        "aud": aud,
        "exp": NOW + 300,
        "iat": NOW,
        "email": "robot@example.com",
        "groups": ["machines"],
        "preferred_username": "robot",
    })
}

fn with(mut v: Value, changes: Value) -> Value {
    for (k, c) in changes.as_object().unwrap() {
        if c.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = c.clone();
        }
    }
    v
}

/// The provider's issuer (RSA key `a`) plus one extra issuer (EC key), and the verifier.
async fn setup() -> (Issuer, Issuer, Key, Key, JwtVerifier) {
    let main_key = rsa_key("rsa_a.pkcs1.der", "main-a");
    let extra_key = ec_key("extra-1");
    let main = Issuer::start(&[&main_key]).await;
    let extra = Issuer::start(&[&extra_key]).await;
    let verifier = JwtVerifier::new(
        &provider_config(&main.base),
        true,
        &[TrustedIssuer {
            issuer: extra.url(),
            audiences: vec!["api://machines".into()],
        }],
    )
    .unwrap()
    .with_refetch_interval(Duration::from_millis(0));
    (main, extra, main_key, extra_key, verifier)
}

#[tokio::test]
async fn valid_tokens_of_each_issuer_and_audience_are_accepted() {
    let (main, extra, main_key, extra_key, v) = setup().await;
    for (key, iss, aud) in [
        (&main_key, &main.base, "client"),
        (&main_key, &main.base, "client-extra"),
        (&extra_key, &extra.base, "api://machines"),
    ] {
        let token = sign(key, &claims_for(iss, aud));
        let id = v
            .verify(&token, now())
            .await
            .unwrap_or_else(|e| panic!("{aud}: {e}"));
        assert_eq!(id.claims.email, "robot@example.com");
        assert_eq!(id.claims.user, "svc-1");
        assert_eq!(id.claims.groups, vec!["machines"]);
        assert_eq!(id.claims.preferred_username.as_deref(), Some("robot"));
        assert_eq!(&id.issuer, iss);
        assert_eq!(id.expires_at, UNIX_EPOCH + Duration::from_secs(NOW + 300));
    }
}

#[tokio::test]
async fn each_bad_token_is_refused_with_its_reason() {
    let (main, extra, main_key, extra_key, v) = setup().await;
    let other_key = rsa_key("rsa_b.pkcs1.der", "main-a");
    let good = claims_for(&main.base, "client");
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(&format!(r#"{{"alg":"{alg}","kid":"main-a"}}"#)),
            b64(&good.to_string())
        )
    };
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    type Case = (&'static str, String, fn(&BearerError) -> bool);
    let cases: Vec<Case> = vec![
        ("alg none", unsigned("none"), |e| {
            matches!(e, BearerError::Invalid(TokenCheck::Algorithm { .. }))
        }),
        ("HS256 with the client secret", hs256, |e| {
            matches!(e, BearerError::Invalid(TokenCheck::Algorithm { .. }))
        }),
        (
            "wrong audience",
            sign(&main_key, &claims_for(&main.base, "someone-else")),
            |e| matches!(e, BearerError::Invalid(TokenCheck::Audience { .. })),
        ),
        (
            "audience of another issuer",
            sign(&main_key, &claims_for(&main.base, "api://machines")),
            |e| matches!(e, BearerError::Invalid(TokenCheck::Audience { .. })),
        ),
        (
            "unknown issuer",
            sign(&main_key, &claims_for("https://evil.example", "client")),
            |e| matches!(e, BearerError::UnknownIssuer(_)),
        ),
        (
            "expired",
            sign(&main_key, &with(good.clone(), json!({"exp": NOW - 61}))),
            |e| matches!(e, BearerError::Invalid(TokenCheck::Expired { .. })),
        ),
        (
            "missing exp",
            sign(&main_key, &with(good.clone(), json!({"exp": null}))),
            |e| matches!(e, BearerError::Invalid(TokenCheck::MissingClaim("exp"))),
        ),
        (
            "not yet valid",
            sign(&main_key, &with(good.clone(), json!({"nbf": NOW + 120}))),
            |e| matches!(e, BearerError::Invalid(TokenCheck::NotYetValid { .. })),
        ),
        (
            "issued in the future",
            sign(&main_key, &with(good.clone(), json!({"iat": NOW + 120}))),
            |e| matches!(e, BearerError::Invalid(TokenCheck::IssuedInFuture { .. })),
        ),
        (
            "signed by another key with a known kid",
            sign(&other_key, &good),
            |e| matches!(e, BearerError::Invalid(TokenCheck::Signature)),
        ),
        (
            "extra issuer's key used for the main issuer",
            sign(&extra_key, &good),
            |e| matches!(e, BearerError::Invalid(TokenCheck::UnknownKeyId { .. })),
        ),
        (
            "main issuer's key used for the extra issuer",
            sign(&main_key, &claims_for(&extra.base, "api://machines")),
            |e| matches!(e, BearerError::Invalid(TokenCheck::UnknownKeyId { .. })),
        ),
        (
            "no iss",
            sign(&main_key, &with(good.clone(), json!({"iss": null}))),
            |e| matches!(e, BearerError::Invalid(TokenCheck::MissingClaim("iss"))),
        ),
        (
            "no sub",
            sign(&main_key, &with(good.clone(), json!({"sub": null}))),
            |e| matches!(e, BearerError::Invalid(TokenCheck::MissingClaim("sub"))),
        ),
        (
            "unverified email",
            sign(
                &main_key,
                &with(good.clone(), json!({"email_verified": false})),
            ),
            |e| {
                matches!(
                    e,
                    BearerError::Invalid(TokenCheck::ClaimType {
                        claim: "email_verified",
                        ..
                    })
                )
            },
        ),
        ("not a JWT", "opaque-access-token".to_owned(), |e| {
            matches!(e, BearerError::Invalid(TokenCheck::Malformed(_)))
        }),
    ];
    for (name, token, check) in cases {
        let err = v.verify(&token, now()).await.expect_err(name);
        assert!(check(&err), "{name}: {err:?}");
        assert!(err.is_invalid_token(), "{name}");
    }
    // Within the clock skew: accepted.
    let t = sign(
        &main_key,
        &with(good.clone(), json!({"exp": NOW - 59, "iat": null})),
    );
    assert!(v.verify(&t, now()).await.is_ok());
}

#[tokio::test]
async fn an_unknown_kid_triggers_one_refetch_then_verifies() {
    let (main, _extra, main_key, _extra_key, v) = setup().await;
    // Discover with the first key only.
    v.verify(&sign(&main_key, &claims_for(&main.base, "client")), now())
        .await
        .unwrap();
    let hits = main.jwks_hits();
    let rotated = rsa_key("rsa_b.pkcs1.der", "main-b");
    main.set_keys(&[&main_key, &rotated]);
    let token = sign(&rotated, &claims_for(&main.base, "client"));
    assert!(v.verify(&token, now()).await.is_ok());
    assert_eq!(main.jwks_hits(), hits + 1, "exactly one re-fetch");
    // A kid nobody publishes: one more fetch, then refused.
    let ghost = rsa_key("rsa_b.pkcs1.der", "ghost");
    let err = v
        .verify(&sign(&ghost, &claims_for(&main.base, "client")), now())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        BearerError::Invalid(TokenCheck::UnknownKeyId { .. })
    ));
    assert_eq!(main.jwks_hits(), hits + 2);
}

#[tokio::test]
async fn an_unreachable_issuer_is_unavailable_not_invalid() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let key = rsa_key("rsa_a.pkcs1.der", "k");
    let v = JwtVerifier::new(&provider_config(&dead), true, &[]).unwrap();
    let err = v
        .verify(&sign(&key, &claims_for(&dead, "client")), now())
        .await
        .unwrap_err();
    assert!(matches!(err, BearerError::Unavailable(_)), "{err:?}");
    assert!(!err.is_invalid_token());
    // The next attempt within DISCOVERY_RETRY does not hit the network again.
    let err = v
        .verify(&sign(&key, &claims_for(&dead, "client")), now())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        BearerError::Unavailable(ProviderError::NotReady)
    ));
}

#[tokio::test]
async fn extra_entries_for_the_provider_issuer_add_audiences() {
    let key = rsa_key("rsa_a.pkcs1.der", "k");
    let main = Issuer::start(&[&key]).await;
    let v = JwtVerifier::new(
        &provider_config(&main.base),
        true,
        &[TrustedIssuer {
            issuer: url::Url::parse(&format!("{}/", main.base)).unwrap(),
            audiences: vec!["other-api".into()],
        }],
    )
    .unwrap();
    assert_eq!(v.issuer_urls().len(), 1);
    for aud in ["client", "other-api"] {
        assert!(
            v.verify(&sign(&key, &claims_for(&main.base, aud)), now())
                .await
                .is_ok(),
            "{aud}"
        );
    }
}

#[tokio::test]
async fn without_the_provider_only_extra_issuers_are_trusted() {
    let (main, extra, main_key, extra_key, _) = setup().await;
    let v = JwtVerifier::new(
        &provider_config(&main.base),
        false,
        &[TrustedIssuer {
            issuer: extra.url(),
            audiences: vec!["api://machines".into()],
        }],
    )
    .unwrap();
    assert!(v
        .verify(
            &sign(&extra_key, &claims_for(&extra.base, "api://machines")),
            now()
        )
        .await
        .is_ok());
    assert!(matches!(
        v.verify(&sign(&main_key, &claims_for(&main.base, "client")), now())
            .await,
        Err(BearerError::UnknownIssuer(_))
    ));
}

#[tokio::test]
async fn email_falls_back_to_sub_and_claims_follow_the_login_options() {
    let key = rsa_key("rsa_a.pkcs1.der", "k");
    let main = Issuer::start(&[&key]).await;
    let mut cfg = provider_config(&main.base);
    cfg.oidc_groups_claim = "realm.roles".into();
    cfg.user_id_claim = "preferred_username".into();
    let v = JwtVerifier::new(&cfg, true, &[]).unwrap();
    let c = with(
        claims_for(&main.base, "client"),
        json!({"email": null, "groups": null, "realm": {"roles": ["a", "b"]}}),
    );
    let id = v.verify(&sign(&key, &c), now()).await.unwrap();
    assert_eq!(id.claims.email, "svc-1");
    assert_eq!(id.claims.user, "robot");
    assert_eq!(id.claims.groups, vec!["a", "b"]);
}
