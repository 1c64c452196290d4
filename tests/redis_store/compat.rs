//! Wire compatibility without oauth2-proxy's binary: tests/vectors/oauth2_proxy_redis.py, an
//! independent Python implementation of v7's ticket cookie and stored value, writes sessions
//! into a real Redis that the Rust store reads, and reads what the Rust store wrote.

use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use authproxy::session::redis::Owner;
use authproxy::session::SessionState;
use serde_json::{json, Value};

use super::harness::{RedisServer, ServerConfig};
use super::*;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/oauth2_proxy_redis.py"
);

fn python(args: &[&str]) -> Value {
    let have = Command::new("python3")
        .args(["-c", "import Crypto, msgpack"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        have,
        "python3 with pycryptodome and msgpack is required: run scripts/test.sh (it installs \
         them) or `pip install pycryptodome msgpack`"
    );
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap()
}

fn time_json(t: Option<std::time::SystemTime>) -> Value {
    match t {
        None => Value::Null,
        Some(t) => {
            let d = t.duration_since(UNIX_EPOCH).unwrap();
            json!([d.as_secs(), d.subsec_nanos()])
        }
    }
}

/// The comparable form oauth2_proxy_vectors.session_expect produces.
fn comparable(s: &SessionState) -> Value {
    let claims: serde_json::Map<String, Value> = s
        .additional_claims
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::to_value(v.as_str().unwrap_or_default()).unwrap(),
            )
        })
        .collect();
    json!({
        "created_at": time_json(s.created_at),
        "expires_on": time_json(s.expires_on),
        "access_token": s.access_token,
        "id_token": s.id_token,
        "refresh_token": s.refresh_token,
        "nonce_hex": s.nonce.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "email": s.email,
        "user": s.user,
        "groups": s.groups,
        "preferred_username": s.preferred_username,
        "additional_claims": claims,
    })
}

fn common(server: &RedisServer) -> Vec<String> {
    vec![
        "--port".into(),
        server.port.to_string(),
        "--secret".into(),
        SECRET.into(),
        "--name".into(),
        COOKIE.into(),
        "--expire".into(),
        WEEK.as_secs().to_string(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_written_by_the_python_implementation_is_read_by_the_store() {
    let server = RedisServer::start(ServerConfig::default());
    let store = connect(&url_options(&server.url())).await;
    let s = session("python-writer");
    let expect = comparable(&s);
    let mut args = common(&server);
    args.extend(["--session".into(), expect.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut full = vec!["write"];
    full.extend(args);
    let written = python(&full);
    let cookie = written["cookie"].as_str().unwrap();
    let (ticket, loaded) = store
        .load_cookie(cookie, now())
        .await
        .unwrap()
        .expect("session present");
    assert_eq!(ticket.id(), written["ticket_id"].as_str().unwrap());
    assert_eq!(loaded, s);
    // Refresh by authproxy keeps the Python-made ticket; Python reads the result.
    let mut refreshed = s.clone();
    refreshed.access_token = "refreshed-by-authproxy".into();
    let again = store
        .save(Some(&ticket), &refreshed, &Owner::NONE)
        .await
        .unwrap();
    assert_eq!(
        again.cookie_value, cookie,
        "same ticket, same signed cookie"
    );
    let now_s = now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut read = vec!["read".to_owned()];
    read.extend(common(&server));
    read.extend(["--now".into(), now_s, cookie.into()]);
    let read: Vec<&str> = read.iter().map(String::as_str).collect();
    let got = python(&read);
    assert_eq!(got["session"], comparable(&refreshed));
    store.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_written_by_the_store_is_read_by_the_python_implementation() {
    let server = RedisServer::start(ServerConfig::default());
    let store = connect(&url_options(&server.url())).await;
    for s in [
        session("rust-writer"),
        // Only what a minimal provider fills, created now (no nanoseconds).
        SessionState {
            email: "min@example.com".into(),
            user: "min".into(),
            created_at: Some(now()),
            ..Default::default()
        },
    ] {
        let saved = store.save(None, &s, &Owner::NONE).await.unwrap();
        let now_s = now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let mut read = vec!["read".to_owned()];
        read.extend(common(&server));
        read.extend(["--now".into(), now_s, saved.cookie_value.clone()]);
        let read: Vec<&str> = read.iter().map(String::as_str).collect();
        let got = python(&read);
        assert_eq!(got["session"], comparable(&s));
        let ttl = got["ttl"].as_u64().unwrap();
        assert!(
            ttl + 10 > WEEK.as_secs() && ttl <= WEEK.as_secs(),
            "TTL {ttl}"
        );
    }
    // A cookie signed with another secret is refused by Python too (the check can fail).
    let other = authproxy::session::redis::TicketCodec::new(
        &[authproxy::crypto::CookieSecret::parse(b"0123456789abcdef0123456789abcdef").unwrap()],
        COOKIE,
        WEEK,
    )
    .unwrap();
    let saved = store.save(None, &session("x"), &Owner::NONE).await.unwrap();
    let forged = other.cookie_value(&saved.ticket, now() - Duration::from_secs(1));
    let now_s = now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut read = vec!["read".to_owned()];
    read.extend(common(&server));
    read.extend(["--now".into(), now_s, forged]);
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(&read)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("bad signature"));
    store.quit().await;
}
