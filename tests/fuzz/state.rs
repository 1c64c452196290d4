//! The login round trip's client-held secrets: the sealed OAuth `state` parameter
//! (src/session/state.rs, AES-256-GCM) and the CSRF cookie (src/session/csrf.rs, oauth2-proxy's
//! signed AES-CFB format).
//!
//! Properties:
//! * encode → decode gives back the same state / CSRF token;
//! * any changed byte or truncation of a sealed state is refused, and so is the state with
//!   another browser's CSRF cookie;
//! * a CSRF cookie with any changed byte, truncation or moved `payload|timestamp` boundary is
//!   refused; one authenticated with garbage inside never panics;
//! * any `state` text is parsed without a panic, and an oauth2-proxy state is only accepted
//!   with its 43-character hash.

use std::time::{Duration, SystemTime};

use authproxy::session::csrf::CsrfToken;
use authproxy::session::state::{decode_state, encode_state, peek_state, StateForm};
use bolero::TypeGenerator;

use crate::session::{assert_tampering_refused, authenticated, now, secret};
use crate::support::{bytes, expand, typed};

const CSRF_EXPIRE: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, TypeGenerator)]
struct Input {
    secret: u8,
    state_nonce: [u8; 32],
    oidc_nonce: [u8; 32],
    verifier: String,
    return_url: String,
    provider_id: String,
    age: u16,
    flip_at: u16,
    flip_mask: u8,
    shift: u8,
}

fn token(i: &Input) -> CsrfToken {
    CsrfToken {
        state_nonce: i.state_nonce,
        oidc_nonce: i.oidc_nonce,
        code_verifier: i.verifier.clone(),
    }
}

#[test]
fn sealed_state() {
    typed::<Input>("sealed_state", 512, |input| {
        let secret = secret(input.secret);
        let issued = now();
        let csrf = token(input);
        let state = encode_state(
            &secret,
            &csrf,
            &input.return_url,
            &input.provider_id,
            issued,
        );
        let later: SystemTime = issued + Duration::from_secs(u64::from(input.age) % 899);
        let s =
            decode_state(&secret, &state, &csrf, later, CSRF_EXPIRE).expect("own state decodes");
        assert_eq!(s.return_url, input.return_url);
        assert_eq!(s.provider_id, input.provider_id);
        assert_eq!(s.form, StateForm::Sealed);
        // Another browser's CSRF cookie, another secret, too late.
        let mut other = token(input);
        other.state_nonce[usize::from(input.flip_at) % 32] ^= (input.flip_mask).max(1);
        assert!(decode_state(&secret, &state, &other, later, CSRF_EXPIRE).is_err());
        assert!(decode_state(
            &crate::session::secret(input.secret.wrapping_add(1)),
            &state,
            &csrf,
            later,
            CSRF_EXPIRE
        )
        .is_err());
        assert!(decode_state(&secret, &state, &csrf, issued + CSRF_EXPIRE, CSRF_EXPIRE).is_err());
        // Tampering.
        let b = state.as_bytes();
        let i = usize::from(input.flip_at) % b.len();
        let mut flipped = b.to_vec();
        flipped[i] ^= (input.flip_mask & 0x7f).max(1);
        if let Ok(f) = String::from_utf8(flipped) {
            assert!(
                decode_state(&secret, &f, &csrf, later, CSRF_EXPIRE).is_err(),
                "state with byte {i} changed is accepted: {f:?}"
            );
        }
        assert!(decode_state(&secret, &state[..i], &csrf, later, CSRF_EXPIRE).is_err());
    });
}

#[test]
fn csrf_cookie() {
    typed::<Input>("csrf_cookie", 512, |input| {
        let secret = secret(input.secret);
        let issued = now();
        let csrf = token(input);
        let name = csrf.cookie_name("_oauth2_proxy", input.age % 2 == 0);
        let value = csrf.encode(&secret, &name, issued).expect("encode");
        let later = issued + Duration::from_secs(u64::from(input.age) % 899);
        let decoded = CsrfToken::decode(&secret, &name, &value, later, CSRF_EXPIRE)
            .expect("own cookie decodes");
        assert_eq!(decoded, csrf);
        assert!(CsrfToken::decode(&secret, "_oauth2_proxy", &value, later, CSRF_EXPIRE).is_err());
        assert_tampering_refused(&value, input.flip_at, input.flip_mask, input.shift, |v| {
            CsrfToken::decode(&secret, &name, v, later, CSRF_EXPIRE).is_ok()
        });
        // Authenticated garbage: the MAC is right, the msgpack inside is the fuzzer's.
        let garbage = authenticated(&secret, &name, input.verifier.as_bytes(), 1_767_225_600);
        let _ = CsrfToken::decode(&secret, &name, &garbage, later, CSRF_EXPIRE);
    });
}

#[test]
fn state_text() {
    const DICT: &[&str] = &[
        "ap1.",
        ":",
        "https://app.example.com/",
        "/",
        "=",
        "AQ",
        "Ag",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
    ];
    let secret = secret(0);
    let csrf = CsrfToken {
        state_nonce: [7; 32],
        oidc_nonce: [9; 32],
        code_verifier: String::new(),
    };
    bytes("state_text", 256, |input| {
        let text = expand(input, DICT);
        if let Ok(s) = peek_state(&secret, &text, now(), CSRF_EXPIRE) {
            match s.form {
                StateForm::OAuth2Proxy => assert_eq!(s.state_hash.len(), 43, "{text:?}"),
                StateForm::Sealed => panic!("a sealed state the fuzzer made up opens: {text:?}"),
            }
        }
        assert!(
            decode_state(&secret, &text, &csrf, now(), CSRF_EXPIRE).is_err(),
            "a state not bound to this CSRF cookie is accepted: {text:?}"
        );
    });
}
