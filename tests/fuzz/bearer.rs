//! JWT bearer tokens (src/provider/bearer.rs) through the public `JwtVerifier`, against the
//! RS256 fake identity provider (tests/fakes, on 127.0.0.1): issuer chosen by the unverified
//! `iss`, then signature, issuer, audience, times and identity claims.
//!
//! Properties, for tokens the fake IdP signed with fuzzed claims:
//! * accepted ⇒ `iss` is exactly the discovered issuer, `aud` (a string or an array of
//!   strings) names the client, `exp` is a number in the future, `iat`/`nbf` are not in the
//!   future, `sub` is a non-empty string, `email_verified` is not false;
//! * conversely every token meeting all of that is accepted;
//! * any changed byte of a token is refused; no made-up token is accepted.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use authproxy::config::{load, Command};
use authproxy::provider::JwtVerifier;
use bolero::TypeGenerator;
use serde_json::{json, Map, Value};

use crate::fakes::oidc::{self, OidcFake, CLIENT_ID};
use crate::support::{bytes, expand, pick, typed};

struct Env {
    rt: tokio::runtime::Runtime,
    verifier: JwtVerifier,
    issuer: String,
    _fake: OidcFake,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let fake = rt.block_on(OidcFake::start(""));
        let args: Vec<OsString> = [
            "--provider=oidc".to_owned(),
            format!("--oidc-issuer-url={}", fake.issuer),
            format!("--client-id={CLIENT_ID}"),
            "--client-secret=s3cret".to_owned(),
            "--upstream=http://127.0.0.1:8080".to_owned(),
            "--email-domain=*".to_owned(),
            "--skip-jwt-bearer-tokens".to_owned(),
            "--cookie-secret=0123456789abcdef0123456789abcdef".to_owned(),
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let cfg = match load(&args, &HashMap::new()) {
            Ok(Command::Run(c)) => *c,
            other => panic!("fuzz config: {other:?}"),
        };
        let verifier = JwtVerifier::new(&cfg.providers[0], true, &[]).expect("verifier");
        rt.block_on(verifier.discover_all())
            .expect("discovery of the fake IdP");
        Env {
            rt,
            verifier,
            issuer: fake.issuer.clone(),
            _fake: fake,
        }
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[derive(Debug, TypeGenerator)]
struct Input {
    iss: u8,
    aud: u8,
    exp: Option<(u8, u32)>,
    iat: Option<(u8, u32)>,
    nbf: Option<(u8, u32)>,
    sub: u8,
    email_verified: Option<u8>,
    email: Option<String>,
    groups: Option<Vec<String>>,
    flip: Option<(u16, u8)>,
}

/// A time claim: 0 future, 1 past, 2 a string, 3 a fractional number, 4 huge.
fn time(kind: u8, offset: u32, now: i64) -> (Value, Option<i64>) {
    let off = i64::from(offset % 1_000_000) + 3600;
    match kind % 5 {
        0 => (json!(now + off), Some(now + off)),
        1 => (json!(now - off), Some(now - off)),
        2 => (json!((now + off).to_string()), None),
        3 => (json!((now + off) as f64 + 0.5), Some(now + off)),
        _ => (json!(i64::MAX), Some(i64::MAX)),
    }
}

#[test]
fn bearer_tokens() {
    let e = env();
    typed::<Input>("bearer_tokens", 256, |input| {
        let now = now();
        let mut c = Map::new();
        let (iss, iss_ok) = match input.iss % 5 {
            0 => (json!(e.issuer), true),
            1 => (json!(format!("{}/", e.issuer)), false),
            2 => (json!("https://evil.example"), false),
            3 => (json!(""), false),
            _ => (json!(5), false),
        };
        c.insert("iss".into(), iss);
        let (aud, aud_ok) = match input.aud % 7 {
            0 => (Some(json!(CLIENT_ID)), true),
            1 => (Some(json!(["other", CLIENT_ID])), true),
            2 => (Some(json!("other")), false),
            3 => (Some(json!([])), false),
            4 => (Some(json!([CLIENT_ID, 7])), false),
            5 => (Some(json!(7)), false),
            _ => (None, false),
        };
        if let Some(a) = aud {
            c.insert("aud".into(), a);
        }
        let mut times_ok = true;
        match input.exp {
            Some((k, o)) => {
                let (v, n) = time(k, o, now);
                times_ok &= n.is_some_and(|n| n > now);
                c.insert("exp".into(), v);
            }
            None => times_ok = false,
        }
        for (name, claim) in [("iat", input.iat), ("nbf", input.nbf)] {
            if let Some((k, o)) = claim {
                let (v, n) = time(k, o, now);
                times_ok &= n.is_some_and(|n| n <= now);
                c.insert(name.into(), v);
            }
        }
        let (sub, sub_ok) = match input.sub % 4 {
            0 | 1 => (Some(json!("user-1")), true),
            2 => (Some(json!("")), false),
            _ => (Some(json!(42)), false),
        };
        if let Some(s) = sub {
            c.insert("sub".into(), s);
        }
        let mut verified_ok = true;
        if let Some(v) = input.email_verified {
            let (value, ok) = pick(
                &[
                    (json!(true), true),
                    (json!(false), false),
                    (json!("true"), true),
                    (json!("no"), false),
                    (json!(0), false),
                ],
                v,
            )
            .clone();
            verified_ok = ok;
            c.insert("email_verified".into(), value);
        }
        if let Some(m) = &input.email {
            c.insert("email".into(), json!(m));
        }
        if let Some(g) = &input.groups {
            c.insert("groups".into(), json!(g));
        }
        let token = oidc::sign(&Value::Object(c.clone()));
        let result = e.rt.block_on(e.verifier.verify(&token, SystemTime::now()));
        let valid = iss_ok && aud_ok && times_ok && sub_ok && verified_ok;
        match &result {
            Ok(id) => {
                assert!(valid, "accepted {c:?}");
                assert_eq!(id.issuer, e.issuer);
                assert_eq!(id.claims.subject, "user-1");
            }
            Err(err) => assert!(!valid, "refused a valid token {c:?}: {err}"),
        }
        if let Some((at, mask)) = input.flip {
            let mut b = token.clone().into_bytes();
            let i = usize::from(at) % b.len();
            b[i] ^= (mask & 0x7f).max(1);
            if let Ok(f) = String::from_utf8(b) {
                let r = e.rt.block_on(e.verifier.verify(&f, SystemTime::now()));
                assert!(r.is_err(), "a token with byte {i} changed is accepted");
            }
        }
    });
}

#[test]
fn bearer_text() {
    let e = env();
    bytes("bearer_text", 512, |input| {
        let text = expand(
            input,
            &[
                ".",
                "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UtMSJ9",
                "eyJhbGciOiJub25lIn0",
                "e30",
                "=",
            ],
        );
        let r = e.rt.block_on(e.verifier.verify(&text, SystemTime::now()));
        assert!(r.is_err(), "a made-up token is accepted: {text:?}");
    });
}
