//! Tests of the JWS parser, key sets and the algorithm allow-list.

use super::*;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn parse_splits_a_compact_jws() {
    let t = format!(
        "{}.{}.sig",
        b64(r#"{"alg":"RS256","kid":"k1"}"#),
        b64(r#"{"sub":"u"}"#)
    );
    let jws = Jws::parse(&t).unwrap();
    assert_eq!(jws.alg, "RS256");
    assert_eq!(jws.kid.as_deref(), Some("k1"));
    assert_eq!(jws.claims["sub"], "u");
}

#[test]
fn parse_rejects_malformed_tokens() {
    let h = b64(r#"{"alg":"RS256"}"#);
    let p = b64(r#"{"sub":"u"}"#);
    for bad in [
        String::new(),
        "abc".to_owned(),
        format!("{h}.{p}"),
        format!("{h}.{p}.s.extra"),
        format!("{h}.!!!.s"),
        format!("{}.{p}.s", b64("[1]")),
        format!("{}.{p}.s", b64(r#"{"kid":"x"}"#)),
        format!("{h}.{}.s", b64("\"just a string\"")),
    ] {
        assert!(
            matches!(Jws::parse(&bad), Err(TokenCheck::Malformed(_))),
            "accepted {bad:?}"
        );
    }
}

#[test]
fn none_hmac_and_unknown_algorithms_are_refused() {
    let all: Vec<Algorithm> = SUPPORTED_ALGORITHMS.iter().map(|(_, a)| *a).collect();
    for alg in ["none", "HS256", "HS512", "ES512", "rs256", ""] {
        let t = format!(
            "{}.{}.",
            b64(&format!(r#"{{"alg":"{alg}"}}"#)),
            b64(r#"{"sub":"u"}"#)
        );
        let jws = Jws::parse(&t).unwrap();
        assert!(
            matches!(jws.algorithm(&all), Err(TokenCheck::Algorithm { .. })),
            "{alg} accepted"
        );
    }
}

#[test]
fn critical_header_extensions_are_refused() {
    let t = format!(
        "{}.{}.s",
        b64(r#"{"alg":"RS256","crit":["exp"]}"#),
        b64(r#"{}"#)
    );
    let jws = Jws::parse(&t).unwrap();
    assert!(matches!(
        jws.algorithm(&[Algorithm::RS256]),
        Err(TokenCheck::CriticalHeader(_))
    ));
}

#[test]
fn algorithms_outside_the_allowed_list_are_refused() {
    let t = format!("{}.{}.s", b64(r#"{"alg":"PS256"}"#), b64(r#"{}"#));
    let jws = Jws::parse(&t).unwrap();
    assert!(jws.algorithm(&[Algorithm::RS256]).is_err());
    assert_eq!(jws.algorithm(&[Algorithm::PS256]), Ok(Algorithm::PS256));
}

#[test]
fn key_sets_skip_symmetric_encryption_and_mismatched_keys() {
    let doc = serde_json::json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "EC", "crv": "P-256", "use": "enc", "kid": "enc",
         "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        {"kty": "EC", "crv": "P-256", "kid": "sig", "alg": "ES256",
         "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        {"kty": "EC", "crv": "P-256", "kid": "wrong-alg", "alg": "RS256",
         "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        {"kty": "whatever"}
    ]});
    let (set, skipped) = KeySet::from_document(&doc).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(skipped, 4);
    assert!(KeySet::from_document(&serde_json::json!({"nokeys": []})).is_err());
}
