//! JWS / JWKS parsing and signature checks (src/provider/jwks.rs via the public
//! `authproxy::provider::verify_jws_offline`), the code every id_token and bearer token goes
//! through.
//!
//! Properties:
//! * a token signed with a published key verifies and yields exactly the signed claims;
//! * any changed byte or truncation of a signed token is refused; so is the same payload
//!   under `alg: none`, under HS256 keyed with the public key (algorithm confusion), with a
//!   `crit` header, or with a `kid` naming another key;
//! * no token the fuzzer made up verifies;
//! * for any JWKS document, a real token verifies exactly when the document publishes its
//!   key in a usable form (right type, curve, coordinates, `kid`, not `use: enc`, `key_ops`
//!   allowing `verify`, no other pinned `alg`).

use std::sync::OnceLock;

use authproxy::provider::{verify_jws_offline, TokenCheck};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bolero::TypeGenerator;
use serde_json::{json, Map, Value};

use crate::support::{bytes, expand, pick, typed};

struct Keys {
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    ec_x: String,
    ec_y: String,
    ed_x: String,
    jwks: Value,
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ec = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            include_bytes!("../fixtures/provider/ec_p256.pkcs8.der"),
        )
        .expect("P-256 fixture");
        let ed = Ed25519KeyPair::from_pkcs8_maybe_unchecked(include_bytes!(
            "../fixtures/provider/ed25519.pkcs8.der"
        ))
        .expect("Ed25519 fixture");
        let point = ec.public_key().as_ref().to_vec();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        let ec_x = b64(&point[1..33]);
        let ec_y = b64(&point[33..]);
        let ed_x = b64(ed.public_key().as_ref());
        let jwks = json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256", "use": "sig", "x": ec_x, "y": ec_y},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": ed_x},
        ]});
        Keys { ec, ed, ec_x, ec_y, ed_x, jwks }
    })
}

fn sign(alg: &str, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let k = keys();
    let sig = match alg {
        "ES256" => {
            k.ec.sign(&SystemRandom::new(), input.as_bytes())
                .expect("ES256 sign")
                .as_ref()
                .to_vec()
        }
        "EdDSA" => k.ed.sign(input.as_bytes()).as_ref().to_vec(),
        // HS256 keyed with the public key's bytes: the classic algorithm-confusion forgery.
        "HS256" => {
            use hmac::{Hmac, Mac};
            let mut mac =
                <Hmac<sha2::Sha256> as Mac>::new_from_slice(k.ec_x.as_bytes()).expect("hmac");
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        _ => Vec::new(),
    };
    format!("{input}.{}", b64(&sig))
}

#[derive(Debug, TypeGenerator)]
enum ClaimValue {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
    Null,
}

#[derive(Debug, TypeGenerator)]
struct TokenInput {
    alg: u8,
    kid: u8,
    crit: bool,
    claims: Vec<(String, ClaimValue)>,
    flip_at: u16,
    flip_mask: u8,
}

fn claims_of(input: &TokenInput) -> Value {
    let mut m = Map::new();
    for (k, v) in input.claims.iter().take(8) {
        let v = match v {
            ClaimValue::Str(s) => json!(s),
            ClaimValue::Int(i) => json!(i),
            ClaimValue::Bool(b) => json!(b),
            ClaimValue::List(l) => json!(l),
            ClaimValue::Null => Value::Null,
        };
        m.insert(k.clone(), v);
    }
    Value::Object(m)
}

#[test]
fn jwt_tokens() {
    let jwks = &keys().jwks;
    typed::<TokenInput>("jwt_tokens", 512, |input| {
        let alg = *pick(&["ES256", "EdDSA"], input.alg);
        let own_kid = if alg == "ES256" { "ec" } else { "ed" };
        let kid = *pick(
            &[Some(own_kid), None, Some("ec"), Some("ed"), Some("gone")],
            input.kid >> 1,
        );
        let claims = claims_of(input);
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(k) = kid {
            header["kid"] = json!(k);
        }
        let token = sign(alg, &header, &claims);
        let result = verify_jws_offline(&token, jwks);
        match kid {
            Some(k) if k != own_kid => {
                assert!(result.is_err(), "verified with the other key's kid")
            }
            _ => assert_eq!(
                result.map(Value::Object).ok(),
                Some(claims.clone()),
                "{token}"
            ),
        }
        // Same header with `crit`: refused whatever the signature.
        if input.crit {
            let mut h = header.clone();
            h["crit"] = json!(["exp"]);
            let t = sign(alg, &h, &claims);
            assert!(matches!(
                verify_jws_offline(&t, jwks),
                Err(TokenCheck::CriticalHeader(_))
            ));
        }
        // `none` and HS256 (keyed with public key material).
        for forged_alg in ["none", "HS256"] {
            let mut h = header.clone();
            h["alg"] = json!(forged_alg);
            let t = sign(forged_alg, &h, &claims);
            assert!(
                matches!(
                    verify_jws_offline(&t, jwks),
                    Err(TokenCheck::Algorithm { .. })
                ),
                "{forged_alg} accepted"
            );
        }
        // Tampering.
        let b = token.as_bytes();
        let i = usize::from(input.flip_at) % b.len();
        let mut flipped = b.to_vec();
        flipped[i] ^= (input.flip_mask & 0x7f).max(1);
        if let Ok(f) = String::from_utf8(flipped) {
            assert!(
                verify_jws_offline(&f, jwks).is_err(),
                "byte {i} changed still verifies: {f}"
            );
        }
        assert!(verify_jws_offline(&token[..i], jwks).is_err());
    });
}

#[test]
fn jwt_text() {
    const DICT: &[&str] = &[
        ".",
        "eyJhbGciOiJFUzI1NiJ9",
        "eyJhbGciOiJub25lIn0",
        "eyJ9",
        "e30",
        "=",
        "-",
        "_",
        "AAAA",
    ];
    let jwks = &keys().jwks;
    bytes("jwt_text", 512, |input| {
        let text = expand(input, DICT);
        assert!(
            verify_jws_offline(&text, jwks).is_err(),
            "a token the fuzzer made up verifies: {text:?}"
        );
    });
}

#[derive(Debug, TypeGenerator)]
struct Field {
    present: bool,
    choice: u8,
    text: String,
}

#[derive(Debug, TypeGenerator)]
struct Jwk {
    kty: Field,
    crv: Field,
    x: Field,
    y: Field,
    kid: Field,
    alg: Field,
    use_: Field,
    key_ops: Field,
    rsa: Option<(String, String)>,
}

/// A field: absent, one of `choices` (index 0 is the right value), fuzz text, or a number.
fn field(f: &Field, choices: &[&str]) -> Option<Value> {
    if !f.present {
        return None;
    }
    Some(match usize::from(f.choice) % (choices.len() + 2) {
        n if n < choices.len() => json!(choices[n]),
        n if n == choices.len() => json!(f.text),
        _ => json!(f.choice),
    })
}

#[test]
fn jwks_documents() {
    let k = keys();
    let header = json!({"alg": "ES256", "kid": "ec"});
    let claims = json!({"sub": "u"});
    let token = sign("ES256", &header, &claims);
    typed::<Vec<Jwk>>("jwks_documents", 1024, |entries| {
        let mut keys_out = Vec::new();
        let mut usable = false;
        for e in entries.iter().take(4) {
            let mut m = Map::new();
            let mut put = |name: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(name.to_owned(), v);
                }
            };
            let kty = field(&e.kty, &["EC", "OKP", "RSA", "oct", "ec"]);
            let crv = field(&e.crv, &["P-256", "P-384", "Ed25519", "secp256k1"]);
            let x = field(&e.x, &[&k.ec_x, &k.ed_x, &k.ec_y, ""]);
            let y = field(&e.y, &[&k.ec_y, &k.ec_x, "AA"]);
            let kid = field(&e.kid, &["ec", "ed", ""]);
            let alg = field(&e.alg, &["ES256", "RS256", "EdDSA", "HS256", "none"]);
            let use_ = field(&e.use_, &["sig", "enc", "other"]);
            let ops = if e.key_ops.present {
                Some(match e.key_ops.choice % 5 {
                    0 => json!(["verify"]),
                    1 => json!(["sign", "verify"]),
                    2 => json!(["encrypt"]),
                    3 => json!([]),
                    _ => json!([e.key_ops.text]),
                })
            } else {
                None
            };
            let s = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).map(str::to_owned);
            usable |= s(&kty).as_deref() == Some("EC")
                && s(&crv).as_deref() == Some("P-256")
                && s(&x).as_deref() == Some(k.ec_x.as_str())
                && s(&y).as_deref() == Some(k.ec_y.as_str())
                && s(&kid).as_deref() == Some("ec")
                && (alg.is_none() || s(&alg).as_deref() == Some("ES256"))
                && (use_.is_none() || s(&use_).as_deref() == Some("sig"))
                && ops.as_ref().is_none_or(|o| {
                    o.as_array()
                        .is_some_and(|a| a.iter().any(|v| v == "verify"))
                });
            let is_rsa = s(&kty).as_deref() == Some("RSA");
            put("kty", kty);
            put("crv", crv);
            put("x", x);
            put("y", y);
            put("kid", kid);
            put("alg", alg);
            put("use", use_);
            put("key_ops", ops);
            if let (Some((n, ee)), true) = (&e.rsa, is_rsa) {
                put("n", Some(json!(expand(n.as_bytes(), &[]))));
                put("e", Some(json!(ee)));
            }
            keys_out.push(Value::Object(m));
        }
        let doc = json!({ "keys": keys_out });
        let result = verify_jws_offline(&token, &doc);
        assert_eq!(result.is_ok(), usable, "JWKS {doc}: {result:?}");
    });
}
