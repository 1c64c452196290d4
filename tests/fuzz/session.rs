//! The session cookie value (src/session/codec.rs), oauth2-proxy v7's wire format:
//! `B64(IV ++ AES-CFB(LZ4(msgpack))) | unix-ts | B64(HMAC-SHA256(name ++ B64 ++ ts))`.
//!
//! Properties:
//! * encode → decode gives back the same session (every field, times to the nanosecond);
//! * any changed byte, any truncation, and any shift of the `payload|timestamp` boundary
//!   (which keeps the HMAC input, and so the MAC, unchanged) is refused;
//! * a value oauth2-proxy wrote (tests/vectors) still decodes, and a mutation of it never does;
//! * anything authenticated, yet garbage inside (a frame or a map the signer never wrote),
//!   is refused or decodes to a session that re-encodes to itself; never a panic.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authproxy::crypto::{CfbCipher, CookieSecret, ValueSigner};
use authproxy::session::msgpack::{session_from_msgpack, session_to_msgpack};
use authproxy::session::{SessionCodec, SessionState};
use bolero::TypeGenerator;

use crate::support::{bytes, pick, typed};

pub const SECRETS: [&str; 4] = [
    "-vDuHk52_Ko4uiAG71ieVGKe2m5ojWnIwa5VeIrt3Hc=",
    "0123456789abcdef",
    "tjNFcYgWa4boJW_lVQq6OoLj4iFAdTda",
    "this-secret-is-32-bytes-long!!!!",
];
const NAMES: [&str; 3] = ["_oauth2_proxy", "__Host-session", "s"];
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// A fixed "now" with nanoseconds, so sub-second precision is exercised.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_767_225_600, 123_456_789)
}

pub fn secret(b: u8) -> CookieSecret {
    CookieSecret::parse(pick(&SECRETS, b).as_bytes()).expect("fuzz secret")
}

#[derive(Debug, TypeGenerator)]
enum Claim {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

#[derive(Debug, TypeGenerator)]
struct SessionInput {
    secret: u8,
    name: u8,
    no_lifetime: bool,
    created_back: u32,
    created_nanos: u32,
    expires: Option<(i32, u32)>,
    access_token: String,
    id_token: String,
    refresh_token: String,
    nonce: Vec<u8>,
    email: String,
    user: String,
    groups: Vec<String>,
    preferred_username: String,
    claims: Vec<(String, Claim)>,
    flip_at: u16,
    flip_mask: u8,
    shift: u8,
}

fn claim_value(c: &Claim) -> rmpv::Value {
    match c {
        Claim::Str(s) => rmpv::Value::from(s.as_str()),
        Claim::Int(i) => rmpv::Value::from(*i),
        Claim::Bool(b) => rmpv::Value::from(*b),
        Claim::List(l) => {
            rmpv::Value::Array(l.iter().map(|s| rmpv::Value::from(s.as_str())).collect())
        }
    }
}

fn build(input: &SessionInput, now: SystemTime, expire: Duration) -> SessionState {
    let back = if expire.is_zero() {
        i64::from(input.created_back)
    } else {
        i64::from(input.created_back) % (expire.as_secs() as i64 - 1)
    };
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let created = at(now_secs - back, input.created_nanos);
    let expires_on = input
        .expires
        .map(|(secs, nanos)| at(i64::from(secs), nanos));
    SessionState {
        created_at: Some(created),
        expires_on,
        access_token: input.access_token.clone(),
        id_token: input.id_token.clone(),
        refresh_token: input.refresh_token.clone(),
        nonce: input.nonce.clone(),
        email: input.email.clone(),
        user: input.user.clone(),
        groups: input.groups.clone(),
        preferred_username: input.preferred_username.clone(),
        additional_claims: input
            .claims
            .iter()
            .map(|(k, v)| (k.clone(), claim_value(v)))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// `secs` (may be negative) plus `nanos` (modulo one second) after the epoch.
fn at(secs: i64, nanos: u32) -> SystemTime {
    let base = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    base + Duration::from_nanos(u64::from(nanos % 1_000_000_000))
}

/// Every way of tampering with a signed `payload|ts|sig` value that must be refused.
pub fn assert_tampering_refused(
    value: &str,
    flip_at: u16,
    flip_mask: u8,
    shift: u8,
    decodes: impl Fn(&str) -> bool,
) {
    let b = value.as_bytes();
    // One changed byte (kept ASCII so the value stays a string).
    let i = usize::from(flip_at) % b.len();
    let mask = (flip_mask & 0x7f).max(1);
    let mut flipped = b.to_vec();
    flipped[i] ^= mask;
    if let Ok(f) = String::from_utf8(flipped) {
        assert!(!decodes(&f), "byte {i} ^ {mask:#x} still decodes: {f:?}");
    }
    // Truncation.
    let cut = i.min(b.len() - 1);
    assert!(
        !decodes(&value[..cut]),
        "a value truncated to {cut} bytes decodes"
    );
    // Moving the payload|timestamp boundary: the HMAC input (name ++ payload ++ ts) is the
    // same bytes, so the MAC still matches; the value must be refused all the same.
    let mut parts = value.splitn(3, '|');
    let (Some(p), Some(t), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("a signed value without three parts: {value:?}");
    };
    let k = usize::from(shift % 8) + 1;
    if k < t.len() {
        let moved = format!("{p}{}|{}|{s}", &t[..k], &t[k..]);
        assert!(
            !decodes(&moved),
            "moving {k} timestamp digits into the payload decodes"
        );
    }
    if k < p.len() {
        let moved = format!("{}|{}{t}|{s}", &p[..p.len() - k], &p[p.len() - k..]);
        assert!(
            !decodes(&moved),
            "moving {k} payload characters into the timestamp decodes"
        );
    }
}

#[test]
fn session_round_trip() {
    typed::<SessionInput>("session_round_trip", 2048, |input| {
        let now = now();
        let expire = if input.no_lifetime {
            Duration::ZERO
        } else {
            WEEK
        };
        let name = *pick(&NAMES, input.name);
        let codec = SessionCodec::new(secret(input.secret), name, expire);
        let session = build(input, now, expire);
        let value = codec.encode(&session, now).expect("encode");
        let decoded = codec.decode(&value, now).expect("own value decodes");
        assert_eq!(decoded, session);
        let other = SessionCodec::new(secret(input.secret.wrapping_add(1)), name, expire);
        assert!(
            other.decode(&value, now).is_err(),
            "decodes under another secret"
        );
        let renamed = SessionCodec::new(secret(input.secret), &format!("{name}_0"), expire);
        assert!(
            renamed.decode(&value, now).is_err(),
            "decodes under another cookie name"
        );
        assert_tampering_refused(&value, input.flip_at, input.flip_mask, input.shift, |v| {
            codec.decode(v, now).is_ok()
        });
    });
}

#[derive(serde::Deserialize)]
struct Vectors {
    sessions: Vec<Vector>,
}

#[derive(serde::Deserialize)]
struct Vector {
    cookie_name: String,
    secret: String,
    now: u64,
    expire_secs: u64,
    value: String,
}

/// Values oauth2-proxy itself wrote (tests/vectors/oauth2_proxy_vectors.json, one secret):
/// the corpus starts from them; a mutation that still decodes is a forgery.
#[test]
fn session_oauth2_proxy() {
    let all: Vectors = serde_json::from_str(include_str!("../vectors/oauth2_proxy_vectors.json"))
        .expect("vectors");
    let v0 = &all.sessions[0];
    let known: Vec<&str> = all
        .sessions
        .iter()
        .filter(|v| v.secret == v0.secret && v.cookie_name == v0.cookie_name)
        .map(|v| v.value.as_str())
        .collect();
    let codec = SessionCodec::new(
        CookieSecret::parse(v0.secret.as_bytes()).expect("secret"),
        &v0.cookie_name,
        Duration::from_secs(v0.expire_secs),
    );
    let now = UNIX_EPOCH + Duration::from_secs(v0.now);
    for v in &known {
        codec.decode(v, now).expect("an oauth2-proxy value decodes");
    }
    bytes("session_oauth2_proxy", 12 * 1024, |input| {
        let text = String::from_utf8_lossy(input);
        if codec.decode(&text, now).is_ok() {
            assert!(
                known.contains(&text.as_ref()),
                "a value oauth2-proxy never wrote decodes: {text:?}"
            );
        }
    });
}

/// Sign and encrypt `plain` exactly as a session value (the MAC is valid, the inside is not
/// necessarily something a signer wrote).
pub fn authenticated(secret: &CookieSecret, name: &str, plain: &[u8], ts: i64) -> String {
    let payload = CfbCipher::from_secret(secret).encrypt(plain);
    ValueSigner::new(secret).sign(name, &payload, ts)
}

fn lz4_frame(data: &[u8]) -> Vec<u8> {
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    enc.write_all(data).expect("lz4 write");
    enc.finish().expect("lz4 finish")
}

fn assert_re_encodes(s: &SessionState) {
    let packed = session_to_msgpack(s).expect("a decoded session encodes");
    let again = session_from_msgpack(&packed).expect("a re-encoded session decodes");
    assert_eq!(
        session_to_msgpack(&again).expect("encode"),
        packed,
        "decode(encode(s)) differs from s"
    );
}

#[test]
fn session_payload() {
    let secret = secret(0);
    let now = now();
    let codec = SessionCodec::new(secret.clone(), "_oauth2_proxy", WEEK);
    let ts = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    bytes("session_payload", 1024, |input| {
        let Some((&mode, body)) = input.split_first() else {
            return;
        };
        if let Ok(s) = session_from_msgpack(body) {
            assert_re_encodes(&s);
        }
        let plain = if mode & 1 == 0 {
            body.to_vec()
        } else {
            lz4_frame(body)
        };
        let value = authenticated(&secret, "_oauth2_proxy", &plain, ts);
        if let Ok(s) = codec.decode(&value, now) {
            assert_re_encodes(&s);
        }
    });
}
