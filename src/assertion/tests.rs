use std::path::PathBuf;

use super::*;
use crate::config::assertion::KeyFile;
use crate::config::structured::SecretBytes;
use crate::session::cache::{AuthMethod, Injected};
use crate::session::SessionState;

fn key_file(pem: &str) -> KeyFile {
    KeyFile {
        path: PathBuf::from("/keys/assertion.pem"),
        pem: SecretBytes(pem.as_bytes().to_vec()),
    }
}

fn session() -> VerifiedSession {
    VerifiedSession {
        session: SessionState {
            email: "ada@example.com".into(),
            user: "ada-sub".into(),
            groups: vec!["admins".into(), "dev".into()],
            preferred_username: "ada".into(),
            ..SessionState::default()
        },
        provider: 0,
        valid_until: None,
        injected: Injected::default(),
        method: AuthMethod::Session,
        minted: Default::default(),
        claims: Vec::new(),
    }
}

/// Verify with an independent JWT implementation (jsonwebtoken) against the published JWKS.
fn verify(a: &Assertions, token: &str, iss: &str, aud: &str) -> serde_json::Value {
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&a.jwks()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[iss]);
    v.set_audience(&[aud]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .unwrap_or_else(|e| panic!("{e}: {token}"))
        .claims
}

#[test]
fn an_es256_assertion_verifies_against_the_jwks_with_every_claim() {
    let (_, pem) = JwsKey::generate_es256().unwrap();
    let a = Assertions::new(&IdentityAssertionConfig::with_key(key_file(&pem)), None).unwrap();
    let v = session();
    let who = Identity {
        session: &v,
        provider_id: "oidc=authproxy",
    };
    let now = SystemTime::now();
    let t = a
        .header_value(&who, "https", "App.Example.com:8443", "", now)
        .unwrap();
    assert!(t.is_sensitive());
    let claims = verify(
        &a,
        t.to_str().unwrap(),
        "https://app.example.com:8443",
        "app.example.com:8443",
    );
    assert_eq!(claims["sub"], "ada-sub");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["admins", "dev"]));
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(claims["provider"], "oidc=authproxy");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 300);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 22, "128 random bits");
    let header = jsonwebtoken::decode_header(t.to_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some(a.kid()));
}

#[test]
fn a_session_reuses_its_assertion_for_a_fifth_of_the_lifetime_per_audience() {
    let (_, pem) = JwsKey::generate_es256().unwrap();
    let a = Assertions::new(&IdentityAssertionConfig::with_key(key_file(&pem)), None).unwrap();
    let v = session();
    let who = Identity {
        session: &v,
        provider_id: "p",
    };
    let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let first = a.header_value(&who, "https", "app", "", t0).unwrap();
    let again = a
        .header_value(&who, "https", "app", "", t0 + Duration::from_secs(59))
        .unwrap();
    assert_eq!(first, again, "reused within 60 s (a fifth of 5 min)");
    let later = a
        .header_value(&who, "https", "app", "", t0 + Duration::from_secs(60))
        .unwrap();
    assert_ne!(first, later, "re-minted after 60 s");
    let other = a.header_value(&who, "https", "other", "", t0).unwrap();
    assert_ne!(first, other, "one per audience");
    let plain = a.header_value(&who, "http", "app", "", t0).unwrap();
    assert_ne!(first, plain, "the derived issuer differs by scheme");
    let bearer = a.header_value(&who, "https", "app", "Bearer ", t0).unwrap();
    assert!(bearer.to_str().unwrap().starts_with("Bearer ey"));
}

#[test]
fn the_issuer_is_configured_or_the_callback_origin_or_the_request_origin() {
    let (_, pem) = JwsKey::generate_es256().unwrap();
    let v = session();
    let who = Identity {
        session: &v,
        provider_id: "p",
    };
    let now = SystemTime::now();
    let iss = |a: &Assertions| {
        let t = a
            .header_value(&who, "https", "app.example.com", "", now)
            .unwrap();
        let payload = t.to_str().unwrap().split('.').nth(1).unwrap().to_owned();
        let claims: serde_json::Value =
            serde_json::from_slice(&crate::crypto::b64url_nopad_decode(&payload).unwrap()).unwrap();
        claims["iss"].as_str().unwrap().to_owned()
    };
    let mut cfg = IdentityAssertionConfig::with_key(key_file(&pem));
    let callback = url::Url::parse("https://auth.example.com/oauth2/callback").unwrap();
    assert_eq!(
        iss(&Assertions::new(&cfg, Some(&callback)).unwrap()),
        "https://auth.example.com"
    );
    cfg.issuer = Some("https://id.example.com".into());
    assert_eq!(
        iss(&Assertions::new(&cfg, Some(&callback)).unwrap()),
        "https://id.example.com"
    );
    cfg.issuer = None;
    let request_origin = iss(&Assertions::new(&cfg, None).unwrap());
    assert_eq!(request_origin, "https://app.example.com");
}

#[test]
fn rotation_publishes_previous_keys_and_signs_with_the_current_one() {
    let (old, old_pem) = JwsKey::generate_es256().unwrap();
    let (new, new_pem) = JwsKey::generate_es256().unwrap();
    let rsa = include_str!("../../tests/fixtures/fake-provider-rsa.pem");
    let mut cfg = IdentityAssertionConfig::with_key(key_file(&new_pem));
    cfg.previous = vec![key_file(&old_pem), key_file(&old_pem), key_file(rsa)];
    let a = Assertions::new(&cfg, None).unwrap();
    let jwks: serde_json::Value = serde_json::from_slice(&a.jwks()).unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 3, "the duplicate is published once: {kids:?}");
    assert_eq!(kids[0], new.kid());
    assert_eq!(kids[1], old.kid());
    assert_eq!(a.kid(), new.kid());
    for k in jwks["keys"].as_array().unwrap() {
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "no private parts: {k}"
        );
    }
    // An assertion the old key signed still verifies against the new JWKS.
    let old_only =
        Assertions::new(&IdentityAssertionConfig::with_key(key_file(&old_pem)), None).unwrap();
    let v = session();
    let who = Identity {
        session: &v,
        provider_id: "p",
    };
    let t = old_only
        .header_value(&who, "https", "app", "", SystemTime::now())
        .unwrap();
    verify(&a, t.to_str().unwrap(), "https://app", "app");
}

#[test]
fn rs256_keys_sign_rs256() {
    let rsa = include_str!("../../tests/fixtures/fake-provider-rsa.pem");
    let mut cfg = IdentityAssertionConfig::with_key(key_file(rsa));
    cfg.algorithm = crate::crypto::jws::Algorithm::Rs256;
    let a = Assertions::new(&cfg, None).unwrap();
    let v = session();
    let who = Identity {
        session: &v,
        provider_id: "p",
    };
    let t = a
        .header_value(&who, "http", "127.0.0.1:4180", "", SystemTime::now())
        .unwrap();
    let header = jsonwebtoken::decode_header(t.to_str().unwrap()).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    verify(
        &a,
        t.to_str().unwrap(),
        "http://127.0.0.1:4180",
        "127.0.0.1:4180",
    );
    // The algorithm must match the key.
    cfg.algorithm = crate::crypto::jws::Algorithm::Es256;
    assert!(Assertions::new(&cfg, None).is_err());
}
