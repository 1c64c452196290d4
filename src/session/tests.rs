//! Tests for the session module, including oauth2-proxy compatibility vectors produced by the
//! independent Python implementation in `tests/vectors/`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value as Json};

use super::codec::lz4_decompress_into;
use super::cookie::*;
use super::csrf::{csrf_cookie_name, CsrfToken};
use super::msgpack::{encode_time, session_from_msgpack, session_to_msgpack};
use super::state::{decode_state, encode_state, peek_state, StateError, StateForm};
use super::*;
use crate::config::SameSite;
use crate::crypto::{self, CookieSecret};

const VECTORS: &str = include_str!("../../tests/vectors/oauth2_proxy_vectors.json");
const RUST_FIXTURE: &str = include_str!("../../tests/vectors/authproxy_values.json");
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

fn at(secs: i64) -> SystemTime {
    from_unix(secs, 0).unwrap()
}

fn secret() -> CookieSecret {
    CookieSecret::parse(b"kVpYlq3hYpnY0Tk7ckKEvnYJj2mkp6kM2XMqlhVAHtE=").unwrap()
}

fn sample_session(created: SystemTime) -> SessionState {
    let mut claims = BTreeMap::new();
    claims.insert("tenant".to_owned(), rmpv::Value::from("acme"));
    claims.insert(
        "roles".to_owned(),
        rmpv::Value::Array(vec!["reader".into(), "writer".into()]),
    );
    SessionState {
        created_at: Some(created + Duration::from_nanos(123_456_789)),
        expires_on: Some(created + Duration::from_secs(3600)),
        access_token: "access-token-value".into(),
        id_token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln".into(),
        refresh_token: "refresh-token-value".into(),
        nonce: vec![7; 32],
        email: "alice@example.com".into(),
        user: "alice".into(),
        groups: vec!["admins".into(), "dev".into()],
        preferred_username: "Alice".into(),
        additional_claims: claims,
    }
}

// --- JSON views shared with the Python implementation ------------------------------------------

fn compact(v: Json) -> Json {
    match v {
        Json::String(s) if s.len() > 2000 => {
            let hex: String = crypto::sha256(s.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Json::String(format!("sha256:{hex}"))
        }
        Json::Array(a) => Json::Array(a.into_iter().map(compact).collect()),
        Json::Object(o) => Json::Object(o.into_iter().map(|(k, v)| (k, compact(v))).collect()),
        v => v,
    }
}

fn msgpack_json(v: &rmpv::Value) -> Json {
    match v {
        rmpv::Value::Nil => Json::Null,
        rmpv::Value::Boolean(b) => json!(b),
        rmpv::Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(n), _) => json!(n),
            (_, Some(n)) => json!(n),
            _ => unreachable!(),
        },
        rmpv::Value::F32(f) => json!(f),
        rmpv::Value::F64(f) => json!(f),
        rmpv::Value::String(s) => json!(s.as_str().unwrap()),
        rmpv::Value::Binary(b) => json!({ "hex": hex(b) }),
        rmpv::Value::Array(a) => Json::Array(a.iter().map(msgpack_json).collect()),
        rmpv::Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), msgpack_json(v)))
                .collect(),
        ),
        rmpv::Value::Ext(t, d) => json!({ "ext": t, "hex": hex(d) }),
    }
}

fn time_json(t: Option<SystemTime>) -> Json {
    match t {
        None => Json::Null,
        Some(t) => {
            let ns = unix_nanos(t);
            json!([
                ns.div_euclid(1_000_000_000) as i64,
                ns.rem_euclid(1_000_000_000) as i64
            ])
        }
    }
}

fn session_json(s: &SessionState) -> Json {
    compact(json!({
        "created_at": time_json(s.created_at),
        "expires_on": time_json(s.expires_on),
        "access_token": s.access_token,
        "id_token": s.id_token,
        "refresh_token": s.refresh_token,
        "nonce_hex": hex(&s.nonce),
        "email": s.email,
        "user": s.user,
        "groups": s.groups,
        "preferred_username": s.preferred_username,
        "additional_claims": s.additional_claims.iter()
            .map(|(k, v)| (k.clone(), msgpack_json(v)))
            .collect::<serde_json::Map<_, _>>(),
    }))
}

fn csrf_json(t: &CsrfToken) -> Json {
    json!({
        "state_nonce_hex": hex(&t.state_nonce),
        "oidc_nonce_hex": hex(&t.oidc_nonce),
        "code_verifier": t.code_verifier,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

struct Case<'a>(&'a Json);

impl Case<'_> {
    fn str(&self, k: &str) -> &str {
        self.0[k].as_str().unwrap()
    }
    fn int(&self, k: &str) -> i64 {
        self.0[k].as_i64().unwrap()
    }
    fn codec(&self) -> SessionCodec {
        SessionCodec::new(
            CookieSecret::parse(self.str("secret").as_bytes()).unwrap(),
            self.str("cookie_name"),
            Duration::from_secs(self.int("expire_secs") as u64),
        )
    }
    fn now(&self) -> SystemTime {
        at(self.int("now"))
    }
}

fn vectors() -> Json {
    serde_json::from_str(VECTORS).unwrap()
}

// --- oauth2-proxy compatibility ----------------------------------------------------------------

#[test]
fn decodes_every_oauth2_proxy_session_vector() {
    let v = vectors();
    let cases = v["sessions"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for c in cases.iter().map(Case) {
        let got = c
            .codec()
            .decode(c.str("value"), c.now())
            .unwrap_or_else(|e| panic!("{}: {e}", c.str("label")));
        assert_eq!(session_json(&got), c.0["expect"], "{}", c.str("label"));
    }
}

#[test]
fn re_encodes_oauth2_proxy_sessions_to_values_that_decode_identically() {
    let v = vectors();
    for c in v["sessions"].as_array().unwrap().iter().map(Case) {
        let codec = c.codec();
        let s = codec.decode(c.str("value"), c.now()).unwrap();
        let again = codec.encode(&s, c.now()).unwrap();
        // Same signed timestamp: the session's creation second.
        assert_eq!(
            again.split('|').nth(1),
            c.str("value").split('|').nth(1),
            "{}",
            c.str("label")
        );
        assert_eq!(
            codec.decode(&again, c.now()).unwrap(),
            s,
            "{}",
            c.str("label")
        );
    }
}

#[test]
fn rejects_every_refusal_vector_with_the_stated_reason() {
    let v = vectors();
    for c in v["rejects"].as_array().unwrap().iter().map(Case) {
        let err = c.codec().decode(c.str("value"), c.now()).unwrap_err();
        let kind = format!("{err:?}");
        assert!(
            kind.starts_with(c.str("error")),
            "{}: got {kind}",
            c.str("label")
        );
    }
}

#[test]
fn splits_like_oauth2_proxy_and_reassembles() {
    let v = vectors();
    let case = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.get("chunks").is_some())
        .unwrap();
    let c = &case["cookie"];
    let opts = CookieOptions {
        name: "_oauth2_proxy".into(),
        domains: vec![c["domain"].as_str().unwrap().into()],
        path: c["path"].as_str().unwrap().into(),
        expire: Duration::from_secs(c["max_age"].as_u64().unwrap()),
        secure: true,
        httponly: true,
        samesite: SameSite::Lax,
    };
    let value = case["value"].as_str().unwrap();
    let set = make_cookies(&opts, value, "app.example.com:4180").unwrap();
    let got: Vec<Json> = set
        .iter()
        .map(|s| {
            let c = ::cookie::Cookie::parse(s.as_str()).unwrap();
            assert!(s.len() <= MAX_COOKIE_LENGTH);
            json!([c.name(), c.value()])
        })
        .collect();
    assert_eq!(Json::Array(got), case["chunks"]);
    let header: Vec<String> = case["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}={}", p[0].as_str().unwrap(), p[1].as_str().unwrap()))
        .collect();
    let header = format!("other=1; {}", header.join("; "));
    assert_eq!(
        read_cookie("_oauth2_proxy", [header.as_str()]).as_deref(),
        Some(value)
    );
}

#[test]
fn decodes_oauth2_proxy_csrf_cookies_and_their_states() {
    let v = vectors();
    for c in v["csrf"].as_array().unwrap().iter().map(Case) {
        let secret = CookieSecret::parse(c.str("secret").as_bytes()).unwrap();
        let max_age = Duration::from_secs(c.int("expire_secs") as u64);
        let t = CsrfToken::decode(
            &secret,
            c.str("cookie_name"),
            c.str("value"),
            c.now(),
            max_age,
        )
        .unwrap();
        assert_eq!(csrf_json(&t), c.0["expect"]);
        assert_eq!(t.hashed_state(), c.str("hashed_state"));
        assert_eq!(t.hashed_nonce(), c.str("hashed_nonce"));
        assert_eq!(
            t.code_challenge_s256().as_deref(),
            c.0["code_challenge"].as_str()
        );
        assert!(t.check_nonce(c.str("hashed_nonce")));
        assert_eq!(
            t.cookie_name("_oauth2_proxy", true),
            c.str("per_request_cookie_name")
        );
        assert_eq!(t.cookie_name("_oauth2_proxy", false), "_oauth2_proxy_csrf");
        let other = CsrfToken::generate();
        for s in c.0["states"].as_array().unwrap() {
            let state = s["state"].as_str().unwrap();
            let st = decode_state(&secret, state, &t, c.now(), max_age).unwrap();
            assert_eq!(st.return_url, s["return_url"].as_str().unwrap());
            assert_eq!(st.form, StateForm::OAuth2Proxy);
            assert_eq!(
                decode_state(&secret, state, &other, c.now(), max_age),
                Err(StateError::CsrfMismatch)
            );
        }
        // Re-encoded by authproxy, it decodes to the same token.
        let again = t.encode(&secret, c.str("cookie_name"), c.now()).unwrap();
        let back = CsrfToken::decode(&secret, c.str("cookie_name"), &again, c.now(), max_age);
        assert_eq!(back.unwrap(), t);
    }
}

#[test]
fn decodes_the_committed_authproxy_fixture() {
    // Values authproxy wrote earlier must stay readable (format drift shows up here), and the
    // Python implementation checks the same file.
    let f: Json = serde_json::from_str(RUST_FIXTURE).unwrap();
    for c in f["sessions"].as_array().unwrap().iter().map(Case) {
        let got = c.codec().decode(c.str("value"), c.now()).unwrap();
        assert_eq!(session_json(&got), c.0["expect"], "{}", c.str("label"));
    }
    for c in f["csrf"].as_array().unwrap().iter().map(Case) {
        let secret = CookieSecret::parse(c.str("secret").as_bytes()).unwrap();
        let max_age = Duration::from_secs(c.int("expire_secs") as u64);
        let t = CsrfToken::decode(
            &secret,
            c.str("cookie_name"),
            c.str("value"),
            c.now(),
            max_age,
        );
        assert_eq!(csrf_json(&t.unwrap()), c.0["expect"]);
    }
}

/// authproxy-written values, in the fixture format `check-rust` reads.
fn authproxy_values(now: SystemTime) -> Json {
    let created = now - Duration::from_secs(60);
    let secrets = [
        "kVpYlq3hYpnY0Tk7ckKEvnYJj2mkp6kM2XMqlhVAHtE=",
        "0123456789abcdef",
        "abcdefghijklmnopqrstuvwxyzABCDEF",
    ];
    let mut sessions = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        let mut s = sample_session(created);
        if i == 2 {
            // Big enough to need chunks.
            // Incompressible, so the cookie really needs chunks.
            let noise: Vec<u8> = (0u32..200)
                .flat_map(|i| crypto::sha256(&i.to_be_bytes()))
                .collect();
            s.access_token = crypto::b64url_nopad(&noise[..3500]);
            s.id_token = crypto::b64url_nopad(&noise[3500..]);
            s.expires_on = Some(at(20_000_000_000) + Duration::from_nanos(5));
        }
        let codec = SessionCodec::new(
            CookieSecret::parse(secret.as_bytes()).unwrap(),
            "_oauth2_proxy",
            WEEK,
        );
        let value = codec.encode(&s, now).unwrap();
        let mut case = json!({
            "label": format!("authproxy_{i}"),
            "secret": secret,
            "cookie_name": "_oauth2_proxy",
            "expire_secs": WEEK.as_secs(),
            "now": unix_secs(now),
            "value": value,
            "expect": session_json(&s),
        });
        if i == 2 {
            let opts = CookieOptions {
                name: "_oauth2_proxy".into(),
                domains: vec![".example.com".into()],
                path: "/".into(),
                expire: WEEK,
                secure: true,
                httponly: true,
                samesite: SameSite::Lax,
            };
            let chunks: Vec<Json> = make_cookies(&opts, &value, "app.example.com")
                .unwrap()
                .iter()
                .map(|s| {
                    let c = ::cookie::Cookie::parse(s.as_str()).unwrap();
                    json!([c.name(), c.value()])
                })
                .collect();
            assert!(chunks.len() > 1);
            case["chunks"] = Json::Array(chunks);
            case["cookie"] = json!({"path": "/", "domain": ".example.com", "max_age": WEEK.as_secs(),
                "httponly": true, "secure": true, "samesite": "Lax"});
        }
        sessions.push(case);
    }
    let t = CsrfToken::generate();
    let csrf_value = t.encode(&secret(), "_oauth2_proxy_csrf", now).unwrap();
    json!({
        "comment": "Written by authproxy (session::tests::regenerate_authproxy_fixture).",
        "sessions": sessions,
        "csrf": [{
            "label": "authproxy_csrf",
            "secret": "kVpYlq3hYpnY0Tk7ckKEvnYJj2mkp6kM2XMqlhVAHtE=",
            "cookie_name": "_oauth2_proxy_csrf",
            "expire_secs": 900,
            "now": unix_secs(now),
            "value": csrf_value,
            "expect": csrf_json(&t),
        }],
    })
}

/// After a deliberate format change: `AUTHPROXY_BLESS_VECTORS=1 cargo test --lib session` rewrites
/// tests/vectors/authproxy_values.json; otherwise the committed fixture must exist and parse.
#[test]
fn authproxy_fixture_is_present_or_regenerated_on_request() {
    let now = at(1_767_225_600);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/authproxy_values.json"
    );
    if std::env::var_os("AUTHPROXY_BLESS_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&authproxy_values(now)).unwrap();
        std::fs::write(path, text + "\n").unwrap();
    }
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(committed.is_object() || committed.is_array());
}

#[test]
fn python_implementation_accepts_values_authproxy_writes() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/oauth2_proxy_vectors.py"
    );
    let have_python = std::process::Command::new("python3")
        .args(["-c", "import Crypto, lz4.frame, msgpack"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        have_python,
        "python3 with pycryptodome, lz4 and msgpack is required for the oauth2-proxy \
         compatibility vectors: run scripts/test.sh (it installs them) or \
         `pip install pycryptodome lz4 msgpack`"
    );
    let now = SystemTime::now();
    let dir = std::env::temp_dir().join(format!("authproxy-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fresh = dir.join("fresh.json");
    std::fs::write(&fresh, authproxy_values(now).to_string()).unwrap();
    let committed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/authproxy_values.json"
    );
    for file in [fresh.to_str().unwrap(), committed] {
        let out = std::process::Command::new("python3")
            .args([script, "check-rust", file])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python rejected {file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// --- codec -------------------------------------------------------------------------------------

#[test]
fn round_trips_a_full_session_with_nanosecond_times() {
    let now = at(1_767_225_600);
    let codec = SessionCodec::new(secret(), "_oauth2_proxy", WEEK);
    let s = sample_session(now - Duration::from_secs(10));
    assert_eq!(
        codec.decode(&codec.encode(&s, now).unwrap(), now).unwrap(),
        s
    );
}

#[test]
fn a_minimal_codec_drops_the_tokens_and_keeps_the_identity() {
    let now = at(1_767_225_600);
    let full = SessionCodec::new(secret(), "_oauth2_proxy", WEEK);
    let minimal = full.clone().with_minimal(true);
    let s = sample_session(now - Duration::from_secs(10));
    assert!(!s.access_token.is_empty() && !s.id_token.is_empty() && !s.refresh_token.is_empty());
    let value = minimal.encode(&s, now).unwrap();
    assert!(value.len() < full.encode(&s, now).unwrap().len());
    // Any codec with the same secret reads it: only the tokens are gone.
    let back = full.decode(&value, now).unwrap();
    assert_eq!(
        back,
        SessionState {
            access_token: String::new(),
            id_token: String::new(),
            refresh_token: String::new(),
            ..s
        }
    );
}

#[test]
fn stamps_a_session_without_creation_time_with_now() {
    let now = at(1_767_225_600);
    let codec = SessionCodec::new(secret(), "_oauth2_proxy", WEEK);
    let s = SessionState {
        email: "a@b.c".into(),
        ..Default::default()
    };
    let value = codec.encode(&s, now).unwrap();
    assert_eq!(value.split('|').nth(1), Some("1767225600"));
    assert_eq!(codec.decode(&value, now).unwrap().created_at, Some(now));
}

#[test]
fn rejects_every_flipped_byte() {
    let now = at(1_767_225_600);
    let codec = SessionCodec::new(secret(), "_oauth2_proxy", WEEK);
    let value = codec.encode(&sample_session(now), now).unwrap();
    let bytes = value.as_bytes();
    for i in 0..bytes.len() {
        for replacement in [b'A', b'-', b'|', b'0'] {
            if bytes[i] == replacement {
                continue;
            }
            let mut t = bytes.to_vec();
            t[i] = replacement;
            let t = String::from_utf8(t).unwrap();
            assert!(
                codec.decode(&t, now).is_err(),
                "byte {i} -> {replacement} accepted"
            );
        }
    }
    assert!(codec.decode(&value[..value.len() - 1], now).is_err());
    assert!(codec.decode(&format!("{value}="), now).is_err());
    assert_eq!(codec.decode("", now), Err(SessionError::Malformed));
}

#[test]
fn rejects_another_key_and_another_cookie_name() {
    let now = at(1_767_225_600);
    let value = SessionCodec::new(secret(), "_oauth2_proxy", WEEK)
        .encode(&sample_session(now), now)
        .unwrap();
    let other = CookieSecret::parse(b"0123456789abcdef0123456789abcdef").unwrap();
    for codec in [
        SessionCodec::new(other, "_oauth2_proxy", WEEK),
        SessionCodec::new(secret(), "_other_proxy", WEEK),
        SessionCodec::new(secret(), "_oauth2_proxy_csrf", WEEK),
    ] {
        assert_eq!(codec.decode(&value, now), Err(SessionError::BadSignature));
    }
}

/// A one-week codec and a value it sealed at `created` (returned too).
fn sealed_at_window_start() -> (SessionCodec, String, i64) {
    let created = 1_767_225_600;
    let codec = SessionCodec::new(secret(), "_oauth2_proxy", WEEK);
    let s = SessionState {
        created_at: Some(at(created)),
        email: "a@b.c".into(),
        ..Default::default()
    };
    let value = codec.encode(&s, at(created)).unwrap();
    (codec, value, created)
}

#[test]
fn enforces_the_timestamp_window_at_its_exact_edges() {
    let (codec, value, created) = sealed_at_window_start();
    let week = WEEK.as_secs() as i64;
    assert!(codec.decode(&value, at(created + week - 1)).is_ok());
    assert!(matches!(
        codec.decode(&value, at(created + week)),
        Err(SessionError::Expired { age_secs, .. }) if age_secs == week
    ));
    assert!(codec.decode(&value, at(created - 299)).is_ok());
    assert!(matches!(
        codec.decode(&value, at(created - 300)),
        Err(SessionError::IssuedInFuture { ahead_secs: 300 })
    ));
    // cookie_expire = 0: no lifetime limit, but still no timestamps from the future.
    let forever = SessionCodec::new(secret(), "_oauth2_proxy", Duration::ZERO);
    assert!(forever.decode(&value, at(created + 10 * week)).is_ok());
    assert!(forever.decode(&value, at(created - 300)).is_err());
}

#[test]
fn the_cached_path_keeps_the_same_timestamp_window_as_the_full_check() {
    let (codec, value, created) = sealed_at_window_start();
    let week = WEEK.as_secs() as i64;
    for t in [
        created - 300,
        created - 299,
        created,
        created + week - 1,
        created + week,
    ] {
        assert_eq!(
            codec.timestamp_in_window(&value, at(t)),
            codec.decode(&value, at(t)).is_ok(),
            "at {t}"
        );
    }
    // The tag the value carries is the one the full check verifies.
    let tag = crypto::signed_value_tag(&value).unwrap();
    assert_eq!(codec.verify(&value, at(created)).unwrap().parts.tag, tag);
    for bad in ["", "a|b", "a|b|", "a|b|!!", "a|b|YWJj"] {
        assert_eq!(crypto::signed_value_tag(bad), None, "{bad:?}");
        assert!(!codec.timestamp_in_window(bad, at(created)), "{bad:?}");
    }
}

#[test]
fn writes_the_three_timestamp_forms_like_go() {
    let mut buf = [0u8; 12];
    assert_eq!(
        encode_time(at(1_700_000_000), &mut buf),
        &1_700_000_000u32.to_be_bytes()
    );
    let t = at(1_700_000_000) + Duration::from_nanos(5);
    assert_eq!(
        encode_time(t, &mut buf),
        &((5u64 << 34) | 1_700_000_000).to_be_bytes()
    );
    let far = at(1 << 34);
    let mut expect = vec![0, 0, 0, 0];
    expect.extend_from_slice(&(1i64 << 34).to_be_bytes());
    assert_eq!(encode_time(far, &mut buf), expect.as_slice());
    let before_epoch = at(-1) + Duration::from_millis(500);
    let mut expect = 500_000_000u32.to_be_bytes().to_vec();
    expect.extend_from_slice(&(-1i64).to_be_bytes());
    assert_eq!(encode_time(before_epoch, &mut buf), expect.as_slice());
    for t in [at(0), t, far, before_epoch] {
        let s = SessionState {
            created_at: Some(t),
            ..Default::default()
        };
        let back = session_from_msgpack(&session_to_msgpack(&s).unwrap()).unwrap();
        assert_eq!(back.created_at, Some(t));
    }
}

#[test]
fn refuses_mistyped_known_fields_but_ignores_unknown_ones() {
    let pack = |v: rmpv::Value| {
        let mut b = Vec::new();
        rmpv::encode::write_value(&mut b, &v).unwrap();
        b
    };
    let map = |pairs: Vec<(&str, rmpv::Value)>| {
        rmpv::Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    };
    assert!(session_from_msgpack(&pack(map(vec![("e", 5.into())]))).is_err());
    assert!(session_from_msgpack(&pack(map(vec![("g", "x".into())]))).is_err());
    assert!(session_from_msgpack(&pack(map(vec![("ca", "x".into())]))).is_err());
    assert!(session_from_msgpack(&pack(rmpv::Value::from(1))).is_err());
    let mut trailing = pack(map(vec![]));
    trailing.push(0xc0);
    assert!(session_from_msgpack(&trailing).is_err());
    let s = session_from_msgpack(&pack(map(vec![("new", 1.into()), ("e", "a@b".into())]))).unwrap();
    assert_eq!(s.email, "a@b");
}

#[test]
fn lz4_reader_accepts_other_writer_settings_and_enforces_its_limit() {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    use std::io::Write;
    let data: Vec<u8> = (0..200_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    for info in [
        FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_checksums(true),
        FrameInfo::new()
            .block_size(BlockSize::Max256KB)
            .content_size(Some(data.len() as u64)),
        FrameInfo::new()
            .block_mode(BlockMode::Linked)
            .content_checksum(true),
    ] {
        let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(&data).unwrap();
        let frame = enc.finish().unwrap();
        let mut out = Vec::new();
        lz4_decompress_into(&frame, &mut out, 1 << 20).unwrap();
        assert_eq!(out, data);
        assert_eq!(
            lz4_decompress_into(&frame, &mut out, 100_000),
            Err(SessionError::TooLarge(100_000))
        );
        let mut bad = frame.clone();
        bad[0] ^= 1;
        assert!(lz4_decompress_into(&bad, &mut out, 1 << 20).is_err());
        assert!(lz4_decompress_into(&frame[..frame.len() - 5], &mut out, 1 << 20).is_err());
    }
}

#[test]
fn session_debug_output_redacts_credentials() {
    let s = sample_session(at(1_767_225_600));
    let out = format!("{s:?}");
    for secret in [
        "access-token-value",
        "refresh-token-value",
        "eyJhbGci",
        "acme",
    ] {
        assert!(!out.contains(secret), "{secret} leaked in {out}");
    }
    assert!(out.contains("alice@example.com") && out.contains("[redacted]"));
}

#[test]
fn reports_expiry_and_age() {
    let created = at(1_000);
    let s = SessionState {
        created_at: Some(created),
        expires_on: Some(at(2_000)),
        ..Default::default()
    };
    assert!(!s.is_expired(at(2_000)));
    assert!(s.is_expired(at(2_001)));
    assert_eq!(
        s.age(at(1_500) + Duration::from_millis(900)),
        Duration::from_secs(500)
    );
    assert_eq!(s.age(at(500)), Duration::ZERO);
    assert!(!SessionState::default().is_expired(at(0)));
    assert_eq!(SessionState::default().age(at(5)), Duration::ZERO);
}

// --- cookies -----------------------------------------------------------------------------------

fn opts() -> CookieOptions {
    CookieOptions {
        name: "_oauth2_proxy".into(),
        domains: vec![],
        path: "/".into(),
        expire: WEEK,
        secure: true,
        httponly: true,
        samesite: SameSite::Lax,
    }
}

#[test]
fn picks_the_longest_matching_cookie_domain() {
    let domains: Vec<String> = [
        "example.com",
        ".apps.example.com",
        "other.org",
        ".x.apps.example.com",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let table: &[(&str, Option<&str>)] = &[
        ("example.com", Some("example.com")),
        ("www.example.com", Some("example.com")),
        ("Example.COM:443", Some("example.com")),
        ("apps.example.com", Some(".apps.example.com")),
        ("a.apps.example.com:4180", Some(".apps.example.com")),
        ("y.x.apps.example.com", Some(".x.apps.example.com")),
        ("x.apps.example.com.", Some(".x.apps.example.com")),
        ("badexample.com", None),
        ("example.com.evil.net", None),
        ("other.org", Some("other.org")),
        ("notother.org", None),
        ("localhost:4180", None),
        ("[::1]:4180", None),
        ("", None),
    ];
    for (host, want) in table {
        assert_eq!(pick_domain(&domains, host), *want, "host {host:?}");
    }
    assert_eq!(pick_domain(&[], "example.com"), None);
}

#[test]
fn builds_set_cookie_with_max_age_and_configured_attributes() {
    let mut o = opts();
    o.domains = vec![".example.com".into()];
    let c = make_cookies(&o, "v|1|s", "app.example.com").unwrap();
    assert_eq!(c.len(), 1);
    let s = &c[0];
    for part in [
        "_oauth2_proxy=v|1|s",
        "Path=/",
        "Domain=example.com",
        "Max-Age=604800",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    ] {
        assert!(s.contains(part), "{part} missing from {s}");
    }
    assert!(!s.contains("Expires"));
    // Host-only on a host outside every domain; no Max-Age for a zero lifetime; no SameSite
    // when unset; no Secure when not configured, even with SameSite=None.
    o.expire = Duration::ZERO;
    o.samesite = SameSite::Unset;
    o.secure = false;
    let s = make_cookie(&o, "v", "localhost:4180");
    assert_eq!(s, "_oauth2_proxy=v; HttpOnly; Path=/");
    o.samesite = SameSite::None;
    assert!(!make_cookie(&o, "v", "h").contains("Secure"));
}

#[test]
fn splits_at_the_exact_length_boundary() {
    let o = opts();
    let attrs = make_cookies(&o, "", "h").unwrap()[0].len() - "_oauth2_proxy=".len();
    let fits = MAX_COOKIE_LENGTH - "_oauth2_proxy=".len() - attrs;
    let chunk_room = MAX_COOKIE_LENGTH - "_oauth2_proxy_0=".len() - attrs;
    for len in [
        1,
        fits - 1,
        fits,
        fits + 1,
        2 * chunk_room,
        2 * chunk_room + 1,
        5 * chunk_room + 7,
    ] {
        let value: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let set = make_cookies(&o, &value, "h").unwrap();
        let parsed: Vec<(String, String)> = set
            .iter()
            .map(|s| {
                let c = ::cookie::Cookie::parse(s.as_str()).unwrap();
                (c.name().to_owned(), c.value().to_owned())
            })
            .collect();
        if len <= fits {
            assert_eq!(
                parsed,
                vec![("_oauth2_proxy".to_owned(), value.clone())],
                "len {len}"
            );
            continue;
        }
        assert_eq!(set.len(), len.div_ceil(chunk_room), "len {len}");
        for (i, (s, (name, _))) in set.iter().zip(&parsed).enumerate() {
            assert_eq!(name, &format!("_oauth2_proxy_{i}"));
            assert!(s.len() <= MAX_COOKIE_LENGTH);
            if i + 1 < set.len() {
                assert_eq!(s.len(), MAX_COOKIE_LENGTH, "chunk {i} not filled");
            }
        }
        let header: Vec<String> = parsed.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let header = header.join("; ");
        assert_eq!(
            read_cookie("_oauth2_proxy", [header.as_str()]).as_deref(),
            Some(value.as_str())
        );
    }
}

#[test]
fn refuses_attributes_that_leave_no_room_for_a_value() {
    let mut o = opts();
    o.path = format!("/{}", "p".repeat(4000));
    assert!(matches!(
        make_cookies(&o, &"v".repeat(5000), "h"),
        Err(CookieError::AttributesTooLong(_))
    ));
}

#[test]
fn shortens_long_base_names_in_chunk_names_like_oauth2_proxy() {
    let long = "n".repeat(300);
    assert_eq!(chunk_name(&long, 3).len(), 256);
    assert!(chunk_name(&long, 3).ends_with("n_3"));
    assert_eq!(chunk_name("_oauth2_proxy", 12), "_oauth2_proxy_12");
}

#[test]
fn reads_the_base_cookie_or_the_chunks_up_to_the_first_gap() {
    let c = |h: &'static str| read_cookie("_oauth2_proxy", [h]);
    assert!(matches!(
        c("a=1; _oauth2_proxy=abc; b=2"),
        Some(Cow::Borrowed("abc"))
    ));
    assert_eq!(
        c("_oauth2_proxy_0=a; _oauth2_proxy=whole").as_deref(),
        Some("whole")
    );
    assert_eq!(
        c("_oauth2_proxy_1=b; _oauth2_proxy_0=a").as_deref(),
        Some("ab")
    );
    assert_eq!(
        c("_oauth2_proxy_0=a; _oauth2_proxy_2=c").as_deref(),
        Some("a")
    );
    assert!(matches!(c("_oauth2_proxy_0=a"), Some(Cow::Borrowed("a"))));
    assert_eq!(c("_oauth2_proxy_1=b"), None);
    assert_eq!(
        c("_oauth2_proxy_csrf=x; _oauth2_proxyx=y; _oauth2_proxy_=z"),
        None
    );
    assert_eq!(c("_oauth2_proxy=\"quoted\"").as_deref(), Some("quoted"));
    assert_eq!(
        c("  _oauth2_proxy=first ;_oauth2_proxy=second").as_deref(),
        Some("first")
    );
    assert_eq!(c(""), None);
    // Several Cookie headers (HTTP/2 sends one per cookie).
    let got = read_cookie(
        "_oauth2_proxy",
        ["_oauth2_proxy_0=a", "x=1", "_oauth2_proxy_1=b"],
    );
    assert_eq!(got.as_deref(), Some("ab"));
}

#[test]
fn the_first_copy_of_a_repeated_chunk_wins() {
    let got = read_cookie(
        "_oauth2_proxy",
        [
            "_oauth2_proxy_1=b; _oauth2_proxy_0=a; _oauth2_proxy_1=X",
            "_oauth2_proxy_0=Y",
        ],
    );
    assert_eq!(got.as_deref(), Some("ab"));
}

/// Found while writing tests/fuzz/cookies.rs: duplicate detection was a linear scan per
/// chunk, so one Cookie header of 40 000 chunk names (about 900 KB, within what an HTTP/1
/// server reads) cost seconds of CPU. Sorting makes it milliseconds.
#[test]
fn a_header_with_many_chunk_cookies_reads_in_linearithmic_time() {
    let mut header = String::new();
    for i in (0..40_000).rev() {
        header.push_str(&format!("_oauth2_proxy_{i}=v; "));
    }
    let start = std::time::Instant::now();
    let got = read_cookie("_oauth2_proxy", [header.as_str()]).unwrap();
    assert_eq!(got.len(), 40_000);
    let took = start.elapsed();
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
}

#[test]
fn clears_the_base_cookie_and_every_chunk_present() {
    let mut o = opts();
    o.domains = vec!["example.com".into()];
    let header =
        "_oauth2_proxy_0=a; app=1; _oauth2_proxy_1=b; _oauth2_proxy_csrf=c; _oauth2_proxy_1=dup";
    let set = clear_cookies(&o, cookie_names([header]), "www.example.com");
    let names: Vec<String> = set
        .iter()
        .map(|s| {
            ::cookie::Cookie::parse(s.as_str())
                .unwrap()
                .name()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        ["_oauth2_proxy", "_oauth2_proxy_0", "_oauth2_proxy_1"]
    );
    for s in &set {
        let c = ::cookie::Cookie::parse(s.as_str()).unwrap();
        assert_eq!(c.value(), "");
        assert_eq!(c.max_age(), Some(::cookie::time::Duration::ZERO));
        assert_eq!(c.domain(), Some("example.com"));
        assert_eq!(c.path(), Some("/"));
    }
}

#[test]
fn strips_only_the_proxys_own_cookies() {
    let table: &[(&str, Option<&str>)] = &[
        ("_oauth2_proxy=a", None),
        ("_oauth2_proxy=a; app=1", Some("app=1")),
        (
            "app=1;_oauth2_proxy_0=a;  _oauth2_proxy_1=b; theme=dark",
            Some("app=1; theme=dark"),
        ),
        (
            "_oauth2_proxy_csrf=x; _oauth2_proxy_AbCd1234_csrf=y; _oauth2_proxy_3_csrf=z",
            None,
        ),
        (
            "_oauth2_proxyx=keep; _oauth2_proxy_x=keep2; x_oauth2_proxy=keep3",
            Some("_oauth2_proxyx=keep; _oauth2_proxy_x=keep2; x_oauth2_proxy=keep3"),
        ),
        ("flag; _oauth2_proxy", Some("flag")),
        ("", None),
        (" ; ", None),
    ];
    for (header, want) in table {
        assert_eq!(
            strip_own_cookies(header, "_oauth2_proxy").as_deref(),
            *want,
            "{header:?}"
        );
    }
}

// --- CSRF and state ----------------------------------------------------------------------------

#[test]
fn csrf_round_trips_and_expires_with_its_own_lifetime() {
    let now = at(1_767_225_600);
    let t = CsrfToken::generate();
    assert_eq!(t.code_verifier.len(), 128);
    assert_ne!(t.state_nonce, t.oidc_nonce);
    let name = t.cookie_name("_oauth2_proxy", false);
    let v = t.encode(&secret(), &name, now).unwrap();
    let max = Duration::from_secs(900);
    assert_eq!(
        CsrfToken::decode(&secret(), &name, &v, now, max).unwrap(),
        t
    );
    assert!(matches!(
        CsrfToken::decode(&secret(), &name, &v, now + max, max),
        Err(SessionError::Expired { .. })
    ));
    assert_eq!(
        CsrfToken::decode(&secret(), "_oauth2_proxy", &v, now, max),
        Err(SessionError::BadSignature)
    );
    // A session cookie value is not a CSRF cookie even under the same name.
    let s = SessionCodec::new(secret(), &name, WEEK)
        .encode(&sample_session(now), now)
        .unwrap();
    assert!(CsrfToken::decode(&secret(), &name, &s, now, max).is_err());
    assert_eq!(format!("{t:?}"), "CsrfToken([redacted])");
}

#[test]
fn names_per_request_csrf_cookies_from_the_state_hash() {
    let t = CsrfToken::generate();
    let name = t.cookie_name("_oauth2_proxy", true);
    assert_eq!(
        name,
        format!("_oauth2_proxy_{}_csrf", &t.hashed_state()[..8])
    );
    assert_eq!(csrf_cookie_name("_p", Some("abc")), "_p_csrf");
    assert_eq!(csrf_cookie_name("_p", None), "_p_csrf");
}

#[test]
fn sealed_state_round_trips_and_is_bound_to_its_csrf_cookie() {
    let now = at(1_767_225_600);
    let max = Duration::from_secs(900);
    let csrf = CsrfToken::generate();
    let url = "https://app.example.com/path?x=1#frag";
    let state = encode_state(&secret(), &csrf, url, "oidc", now);
    assert!(state.starts_with("ap1."));
    assert!(!state.contains("app.example.com"));
    let st = decode_state(&secret(), &state, &csrf, now + Duration::from_secs(60), max).unwrap();
    assert_eq!(
        (st.return_url.as_str(), st.provider_id.as_str()),
        (url, "oidc")
    );
    assert_eq!(st.issued_at, Some(now));
    assert_eq!(st.form, StateForm::Sealed);
    assert_eq!(
        st.csrf_cookie_name("_p", true),
        csrf.cookie_name("_p", true)
    );

    let other = CsrfToken::generate();
    assert_eq!(
        decode_state(&secret(), &state, &other, now, max),
        Err(StateError::CsrfMismatch)
    );
    // Peeking authenticates but does not bind; binding then fails for the wrong cookie.
    let peeked = peek_state(&secret(), &state, now, max).unwrap();
    assert_eq!(
        super::state::bind_state(peeked, &other),
        Err(StateError::CsrfMismatch)
    );

    let wrong_secret = CookieSecret::parse(b"0123456789abcdef").unwrap();
    assert_eq!(
        decode_state(&wrong_secret, &state, &csrf, now, max),
        Err(StateError::Unauthentic)
    );
    assert!(matches!(
        decode_state(&secret(), &state, &csrf, now + max, max),
        Err(StateError::Expired { .. })
    ));
    assert_eq!(
        decode_state(
            &secret(),
            &state,
            &csrf,
            now - Duration::from_secs(301),
            max
        ),
        Err(StateError::IssuedInFuture)
    );
    let mut tampered = state.clone().into_bytes();
    let i = tampered.len() - 10;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        decode_state(&secret(), &tampered, &csrf, now, max),
        Err(StateError::Unauthentic)
    );
}

#[test]
fn rejects_malformed_and_foreign_states() {
    let now = at(1_767_225_600);
    let max = Duration::from_secs(900);
    let csrf = CsrfToken::generate();
    assert_eq!(
        decode_state(&secret(), "", &csrf, now, max),
        Err(StateError::Empty)
    );
    for bad in ["ap1.", "ap1.!!!", "nocolon", "short:https://x", "%%%%"] {
        assert!(
            decode_state(&secret(), bad, &csrf, now, max).is_err(),
            "{bad}"
        );
    }
    // oauth2-proxy form with a hash of another nonce.
    let forged = format!(
        "{}:https://evil.example/",
        CsrfToken::generate().hashed_state()
    );
    assert_eq!(
        decode_state(&secret(), &forged, &csrf, now, max),
        Err(StateError::CsrfMismatch)
    );
    let good = format!("{}:/local/path", csrf.hashed_state());
    assert_eq!(
        decode_state(&secret(), &good, &csrf, now, max)
            .unwrap()
            .return_url,
        "/local/path"
    );
}

#[test]
fn the_csrf_limit_expires_the_oldest_valid_cookies_beyond_it() {
    use crate::session::csrf::excess_csrf_cookies;
    let now = at(1_767_225_600);
    let base = "_oauth2_proxy";
    let minute = Duration::from_secs(60);
    // Four logins started 4, 3, 2 and 1 minutes ago (listed out of order), a forged cookie, an
    // expired one and an unrelated cookie.
    let mut jar: Vec<(String, String)> = Vec::new();
    for age in [2u32, 4, 1, 3] {
        let t = CsrfToken::generate();
        let name = t.cookie_name(base, true);
        let value = t.encode(&secret(), &name, now - minute * age).unwrap();
        jar.push((name, value));
    }
    let names: Vec<String> = jar.iter().map(|(n, _)| n.clone()).collect();
    jar.push(("_oauth2_proxy_forged00_csrf".into(), "x|1|y".into()));
    let old = CsrfToken::generate();
    let old_name = old.cookie_name(base, true);
    let old_value = old.encode(&secret(), &old_name, now - minute * 30).unwrap();
    jar.push((old_name, old_value));
    jar.push(("_oauth2_proxy_0".into(), "session-chunk".into()));
    let pairs = || jar.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    let excess = |limit| excess_csrf_cookies(pairs(), base, limit, &secret(), now, 15 * minute);
    // 6 CSRF cookies > 2: of the 4 that decode, the 2 oldest (4 and 3 minutes) go.
    assert_eq!(excess(2), vec![names[1].as_str(), names[3].as_str()]);
    assert_eq!(excess(3), vec![names[1].as_str()]);
    // Not more CSRF cookies than the limit, or no limit: nothing is expired.
    assert!(excess(6).is_empty());
    assert!(excess(0).is_empty());
    // 6 > 5, but only 4 decode: fewer than the limit, nothing goes (oauth2-proxy's arithmetic).
    assert!(excess(5).is_empty());
}

// --- secret rotation ---------------------------------------------------------------------------

#[test]
fn previous_secrets_open_old_values_and_only_the_current_one_seals() {
    let now = at(1_767_225_600);
    let old = CookieSecret::parse(b"0123456789abcdef0123456789abcdef").unwrap();
    let new = secret();
    let s = sample_session(now - Duration::from_secs(10));
    let before = SessionCodec::new(old.clone(), "_oauth2_proxy", WEEK);
    let old_value = before.encode(&s, now).unwrap();

    // Without the previous secret the old cookie is refused...
    let rotated = SessionCodec::new(new.clone(), "_oauth2_proxy", WEEK);
    assert_eq!(
        rotated.decode(&old_value, now),
        Err(SessionError::BadSignature)
    );
    // ...with it, it opens, and says it is due for re-sealing.
    let rotated = rotated.with_previous_secrets(std::slice::from_ref(&old));
    let v = rotated.verify(&old_value, now).unwrap();
    assert!(v.sealed_with_previous_secret());
    assert_eq!(rotated.decode_verified(&v).unwrap(), s);
    // What it writes is sealed with the current secret only.
    let new_value = rotated.encode(&s, now).unwrap();
    assert!(!rotated
        .verify(&new_value, now)
        .unwrap()
        .sealed_with_previous_secret());
    assert!(before.decode(&new_value, now).is_err());
    // A malformed value is refused under every key.
    assert_eq!(rotated.decode("garbage", now), Err(SessionError::Malformed));

    // CSRF cookies and states sealed with the previous secret are accepted too.
    let csrf = CsrfToken::generate();
    let csrf_value = csrf.encode(&old, "_oauth2_proxy_csrf", now).unwrap();
    let secrets = [new.clone(), old.clone()];
    let opened =
        CsrfToken::decode_any(&secrets, "_oauth2_proxy_csrf", &csrf_value, now, WEEK).unwrap();
    assert_eq!(opened.hashed_state(), csrf.hashed_state());
    assert!(
        CsrfToken::decode_any(&secrets[..1], "_oauth2_proxy_csrf", &csrf_value, now, WEEK).is_err()
    );
    let state = encode_state(&old, &csrf, "/x", "oidc", now);
    let peeked = super::state::peek_state_any(&secrets, &state, now, WEEK).unwrap();
    assert_eq!(peeked.return_url, "/x");
    assert!(super::state::peek_state_any(&secrets[..1], &state, now, WEEK).is_err());
}
