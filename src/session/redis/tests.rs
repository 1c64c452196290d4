//! Pure parts of the Redis store: go-redis URL rules, option validation, the ticket format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::types::Expiration;

use super::options::Topology;
use super::url::{parse_go_duration, parse_redis_url, Endpoint, GoDuration};
use super::*;
use crate::crypto::{self, CookieSecret, Secret};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn standalone(url: &str) -> RedisOptions {
    RedisOptions {
        connection_url: url.into(),
        ..Default::default()
    }
}

fn errors(o: &RedisOptions) -> Vec<String> {
    o.validate()
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

// --- URLs ------------------------------------------------------------------------------------

#[test]
fn urls_follow_go_redis_defaults_and_forms() {
    let u = parse_redis_url("redis://").unwrap();
    assert_eq!(
        u.endpoint,
        Endpoint::Tcp {
            host: "localhost".into(),
            port: 6379
        }
    );
    assert_eq!(
        (u.database, u.tls, u.username, u.password),
        (0, false, None, None)
    );

    let u = parse_redis_url("rediss://al%40ice:p%3Ass:w@redis.example:6380/3").unwrap();
    assert_eq!(
        u.endpoint,
        Endpoint::Tcp {
            host: "redis.example".into(),
            port: 6380
        }
    );
    assert_eq!(u.username.as_deref(), Some("al@ice"));
    assert_eq!(u.password.as_ref().map(Secret::expose), Some("p:ss:w"));
    assert_eq!((u.database, u.tls), (3, true));

    let u = parse_redis_url("redis://:only-password@[::1]/?db=7").unwrap();
    assert_eq!(
        u.endpoint,
        Endpoint::Tcp {
            host: "::1".into(),
            port: 6379
        }
    );
    assert_eq!(u.username, None);
    assert_eq!(
        u.password.as_ref().map(Secret::expose),
        Some("only-password")
    );
    assert_eq!(u.database, 7, "?db= overrides the path");

    let u = parse_redis_url("unix://user:pw@/run/redis/redis.sock?db=2").unwrap();
    assert_eq!(
        u.endpoint,
        Endpoint::Unix {
            path: "/run/redis/redis.sock".into()
        }
    );
    assert_eq!((u.username.as_deref(), u.database), (Some("user"), 2));
}

#[test]
fn urls_that_go_redis_refuses_are_refused() {
    for (url, why) in [
        ("", "not a Redis URL"),
        ("localhost:6379", "not a Redis URL"),
        ("http://localhost", "invalid URL scheme"),
        ("redis://localhost/abc", "invalid database number"),
        ("redis://localhost/1/2", "invalid URL path"),
        ("redis://localhost?db=x", "invalid database number"),
        ("redis://localhost:99999", "invalid port"),
        (
            "redis://localhost?foo=1&bar=2",
            "unexpected option: bar, foo",
        ),
        // skip_verify is only read for rediss://, so go-redis reports it as unexpected.
        (
            "redis://localhost?skip_verify=true",
            "unexpected option: skip_verify",
        ),
        (
            "redis://localhost?pool_size=ten",
            "invalid pool_size number",
        ),
        (
            "redis://localhost?dial_timeout=5x",
            "invalid dial_timeout duration",
        ),
        (
            "redis://localhost?pool_fifo=yes",
            "invalid pool_fifo boolean",
        ),
        ("unix://", "socket path"),
        ("redis://localhost/300", "out of range"),
    ] {
        let e = parse_redis_url(url).unwrap_err();
        assert!(e.contains(why), "{url:?}: {e}");
    }
    let e = parse_redis_url("redis://u:hunter2@localhost?x=1").unwrap_err();
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn query_options_use_go_number_and_duration_syntax() {
    let u = parse_redis_url(
        "rediss://h/?dial_timeout=2&read_timeout=1.5s&write_timeout=-1&max_retries=-1\
         &min_retry_backoff=1ms&max_retry_backoff=1m30s&pool_size=4&protocol=3&skip_verify=1\
         &conn_max_idle_time=0",
    )
    .unwrap();
    let q = &u.query;
    assert_eq!(q.dial_timeout, GoDuration::Set(Duration::from_secs(2)));
    assert_eq!(q.read_timeout, GoDuration::Set(Duration::from_millis(1500)));
    assert_eq!(q.write_timeout, GoDuration::Disabled);
    assert_eq!(q.max_retries, Some(-1));
    assert_eq!(
        q.min_retry_backoff,
        GoDuration::Set(Duration::from_millis(1))
    );
    assert_eq!(
        q.max_retry_backoff,
        GoDuration::Set(Duration::from_secs(90))
    );
    assert_eq!((q.pool_size, q.protocol), (Some(4), Some(3)));
    assert_eq!(q.conn_max_idle_time, GoDuration::Disabled);
    // With the new name present go-redis never reads the old one, so it is left over.
    assert_eq!(
        parse_redis_url("redis://h?conn_max_idle_time=1&idle_timeout=9").unwrap_err(),
        "unexpected option: idle_timeout"
    );
    assert_eq!(
        parse_redis_url("redis://h?idle_timeout=9")
            .unwrap()
            .query
            .conn_max_idle_time,
        GoDuration::Set(Duration::from_secs(9))
    );
    assert!(u.skip_verify);
    let u = parse_redis_url("redis://h/?min_idle_conns=1&pool_timeout=1s&max_conn_age=1h").unwrap();
    assert_eq!(
        u.query.no_effect,
        vec!["min_idle_conns", "pool_timeout", "conn_max_lifetime"]
    );
}

#[test]
fn go_durations_parse_as_time_parse_duration() {
    for (s, ns) in [
        ("0", Some(0)),
        ("1s", Some(1_000_000_000)),
        ("1.5h", Some(5_400_000_000_000)),
        ("1h2m3s4ms5us6ns", Some(3_723_004_005_006)),
        ("300ms", Some(300_000_000)),
        ("2µs", Some(2_000)),
        (".5s", Some(500_000_000)),
        ("-1s", Some(-1_000_000_000)),
        ("1", None),
        ("s", None),
        ("1x", None),
        ("", None),
        ("1.s", Some(1_000_000_000)),
        ("9999999999h", None),
    ] {
        assert_eq!(parse_go_duration(s), ns, "{s:?}");
    }
}

// --- options ---------------------------------------------------------------------------------

#[test]
fn standalone_plan_takes_everything_from_the_url_and_the_overrides() {
    let mut o =
        standalone("redis://url-user:url-pass@127.0.0.1:7000/4?dial_timeout=1&read_timeout=2");
    let p = o.validate().unwrap();
    assert_eq!(p.username.as_deref(), Some("url-user"));
    assert_eq!(p.password.as_ref().map(Secret::expose), Some("url-pass"));
    assert_eq!(p.database, 4);
    assert_eq!(p.dial_timeout, Duration::from_secs(1));
    // write_timeout defaults to read_timeout.
    assert_eq!(p.command_timeout, Some(Duration::from_secs(4)));
    assert_eq!(p.command_attempts, 4);
    assert!(p.tls.is_none());
    o.username = "opt-user".into();
    o.password = Secret::new("opt-pass");
    let p = o.validate().unwrap();
    assert_eq!(p.username.as_deref(), Some("opt-user"));
    assert_eq!(p.password.as_ref().map(Secret::expose), Some("opt-pass"));
}

#[test]
fn ca_path_or_insecure_turn_tls_on_even_for_redis_urls() {
    let mut o = standalone("redis://127.0.0.1");
    o.ca_path = "/etc/ca.pem".into();
    let tls = o.validate().unwrap().tls.unwrap();
    assert_eq!(
        tls.ca_path.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert!(!tls.insecure_skip_verify);
    let mut o = standalone("redis://127.0.0.1");
    o.insecure_skip_tls_verify = true;
    assert!(o.validate().unwrap().tls.unwrap().insecure_skip_verify);
    let p = standalone("rediss://127.0.0.1?skip_verify=true")
        .validate()
        .unwrap();
    assert!(p.tls.unwrap().insecure_skip_verify);
}

#[test]
fn sentinel_and_cluster_take_addresses_from_all_urls_and_the_rest_from_the_last() {
    let o = RedisOptions {
        use_sentinel: true,
        sentinel_master_name: "mymaster".into(),
        sentinel_connection_urls: vec![
            "redis://first:ignored@10.0.0.1:26379/5".into(),
            "rediss://master-user:master-pass@10.0.0.2?dial_timeout=1".into(),
        ],
        sentinel_password: Secret::new("sentinel-pass"),
        connection_url: "this is ignored in sentinel mode".into(),
        ..Default::default()
    };
    let p = o.validate().unwrap();
    assert_eq!(
        p.topology,
        Topology::Sentinel {
            sentinels: vec![("10.0.0.1".into(), 26379), ("10.0.0.2".into(), 6379)],
            master_name: "mymaster".into()
        }
    );
    assert_eq!(p.username.as_deref(), Some("master-user"));
    assert_eq!(p.password.as_ref().map(Secret::expose), Some("master-pass"));
    assert_eq!(
        p.sentinel_password.as_ref().map(Secret::expose),
        Some("sentinel-pass")
    );
    assert_eq!(p.database, 0, "v7 drops the database in sentinel mode");
    assert!(p.tls.is_some(), "TLS from the last URL's scheme");
    assert_eq!(
        p.dial_timeout,
        Duration::from_secs(5),
        "query options dropped"
    );
    assert_eq!(p.notes.len(), 2, "{:?}", p.notes);

    let o = RedisOptions {
        use_cluster: true,
        cluster_connection_urls: vec!["redis://a:7000".into(), "redis://b:7001".into()],
        ..Default::default()
    };
    let p = o.validate().unwrap();
    assert!(p.is_cluster());
    assert_eq!(
        p.topology,
        Topology::Cluster {
            nodes: vec![("a".into(), 7000), ("b".into(), 7001)]
        }
    );
}

#[test]
fn validation_names_the_option_v7_would_refuse() {
    let e = errors(&RedisOptions {
        use_sentinel: true,
        use_cluster: true,
        ..Default::default()
    });
    assert_eq!(
        e,
        ["redis_use_sentinel: redis_use_sentinel and redis_use_cluster are mutually exclusive"]
    );
    let e = errors(&RedisOptions {
        use_sentinel: true,
        ..Default::default()
    });
    assert_eq!(
        e,
        [
            "redis_sentinel_master_name: is required when redis_use_sentinel is true",
            "redis_sentinel_connection_urls: at least one URL is required when redis_use_sentinel is true"
        ]
    );
    let e = errors(&RedisOptions {
        use_cluster: true,
        cluster_connection_urls: vec!["redis://ok".into(), "redis://bad/x".into()],
        ..Default::default()
    });
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("redis_cluster_connection_urls: URL #2: invalid database number"),
        "{e:?}"
    );
    let e = errors(&RedisOptions::default());
    assert!(
        e[0].starts_with("redis_connection_url: is required"),
        "{e:?}"
    );
    let e = errors(&standalone("redis://h?bogus=1"));
    assert_eq!(e, ["redis_connection_url: unexpected option: bogus"]);
    let e = errors(&RedisOptions {
        connection_url: "redis://h".into(),
        connection_idle_timeout: -5,
        ..Default::default()
    });
    assert!(e[0].starts_with("redis_connection_idle_timeout:"), "{e:?}");
    let e = errors(&RedisOptions {
        use_sentinel: true,
        sentinel_master_name: "m".into(),
        sentinel_connection_urls: vec!["unix:///tmp/s".into()],
        ..Default::default()
    });
    assert!(e[0].contains("unix sockets cannot be used"), "{e:?}");
}

#[test]
fn idle_timeout_becomes_a_heartbeat_and_unused_pool_options_become_notes() {
    let mut o = standalone("redis://h?max_idle_conns=3");
    o.connection_idle_timeout = 60;
    let p = o.validate().unwrap();
    assert_eq!(p.heartbeat, Some(Duration::from_secs(30)));
    assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
    assert!(p.notes[1].contains("max_idle_conns"), "{:?}", p.notes);
    assert_eq!(standalone("redis://h").validate().unwrap().heartbeat, None);
}

#[test]
fn set_expiration_is_ex_for_whole_seconds_as_go_redis() {
    assert_eq!(expiration(Duration::ZERO), None);
    assert_eq!(
        expiration(Duration::from_secs(604_800)),
        Some(Expiration::EX(604_800))
    );
    assert_eq!(
        expiration(Duration::from_millis(1500)),
        Some(Expiration::PX(1500))
    );
    assert_eq!(
        expiration(Duration::from_millis(500)),
        Some(Expiration::PX(500))
    );
}

// --- ticket ----------------------------------------------------------------------------------

fn codec(secrets: &[&str]) -> TicketCodec {
    let secrets: Vec<CookieSecret> = secrets
        .iter()
        .map(|s| CookieSecret::parse(s.as_bytes()).unwrap())
        .collect();
    TicketCodec::new(&secrets, "_oauth2_proxy", Duration::from_secs(3600)).unwrap()
}

const S1: &str = "0123456789abcdef0123456789abcdef";
const S2: &str = "fedcba9876543210fedcba9876543210";

#[test]
fn new_tickets_have_v7s_id_and_secret_shape() {
    let t = Ticket::new("_oauth2_proxy");
    let hex = t.id().strip_prefix("_oauth2_proxy-").unwrap();
    assert_eq!(hex.len(), 32);
    assert!(hex
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(t.lock_key(), format!("{}.lock", t.id()));
    let enc = t.encode();
    let parts: Vec<&str> = enc.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "v2");
    assert_eq!(
        crypto::b64url_nopad_decode(parts[1]).unwrap(),
        t.id().as_bytes()
    );
    assert_eq!(crypto::b64url_nopad_decode(parts[2]).unwrap().len(), 16);
    assert_eq!(Ticket::decode(&enc).unwrap(), t);
    assert_ne!(Ticket::new("_oauth2_proxy"), t);
    assert!(!format!("{t:?}").contains(parts[2]));
}

#[test]
fn ticket_decoding_accepts_v2_and_the_older_form_only() {
    let secret = crypto::b64url_nopad(&[7u8; 16]);
    let old = Ticket::decode(&format!("_oauth2_proxy-abc.{secret}")).unwrap();
    assert_eq!(old.id(), "_oauth2_proxy-abc");
    for bad in ["", "v2", "v2.a.b.c", "v3.YQ.YQ", "a.b.c.d"] {
        assert!(Ticket::decode(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        Ticket::decode(&format!("v2.!!.{secret}")),
        Err(TicketError::NotBase64("id"))
    );
    assert_eq!(
        Ticket::decode("v2.YQ.AAAA"),
        Err(TicketError::BadSecretLength(3))
    );
}

#[test]
fn ticket_cookie_is_the_signed_ticket_and_rotates_secrets() {
    let now = at(1_767_225_600);
    let t = Ticket::new("_oauth2_proxy");
    let value = codec(&[S1]).cookie_value(&t, now - Duration::from_secs(10));
    let parts: Vec<&str> = value.split('|').collect();
    assert_eq!(parts[0], crypto::b64url_padded(t.encode().as_bytes()));
    assert_eq!(parts[1], "1767225590");
    let mac = crypto::hmac_sha256(
        S1.as_bytes(),
        &[b"_oauth2_proxy", parts[0].as_bytes(), b"1767225590"],
    );
    assert_eq!(parts[2], crypto::b64url_padded(&mac));
    assert_eq!(codec(&[S1]).read_cookie(&value, now).unwrap(), t);
    // Rotation: the new secret first, the old one still accepted; values are signed with the new.
    let rotated = codec(&[S2, S1]);
    assert_eq!(rotated.read_cookie(&value, now).unwrap(), t);
    let fresh = rotated.cookie_value(&t, now);
    assert!(codec(&[S2]).read_cookie(&fresh, now).is_ok());
    assert_eq!(
        codec(&[S1]).read_cookie(&fresh, now),
        Err(TicketError::Cookie(SessionError::BadSignature))
    );
    assert!(matches!(
        codec(&[S1]).read_cookie(&value, now + Duration::from_secs(3600)),
        Err(TicketError::Cookie(SessionError::Expired { .. }))
    ));
    assert_eq!(
        codec(&[S1]).read_cookie("x|y", now),
        Err(TicketError::Cookie(SessionError::Malformed))
    );
}

#[test]
fn stored_value_is_gcm_of_the_msgpack_session_under_the_ticket_secret() {
    let created = at(1_767_225_600);
    let s = SessionState {
        email: "a@example.com".into(),
        access_token: "at".into(),
        ..Default::default()
    };
    let t = Ticket::new("_oauth2_proxy");
    let value = t.seal_session(&s, created).unwrap();
    let secret = crypto::b64url_nopad_decode(t.encode().rsplit('.').next().unwrap()).unwrap();
    let packed = crypto::gcm_decrypt(&secret, &value).unwrap();
    let mut expect = s.clone();
    expect.created_at = Some(created);
    assert_eq!(
        packed,
        crate::session::msgpack::session_to_msgpack(&expect).unwrap()
    );
    assert_eq!(t.open_session(&value).unwrap(), expect);
    assert!(Ticket::new("_oauth2_proxy").open_session(&value).is_err());
}

#[test]
fn debug_output_never_shows_passwords() {
    let o = RedisOptions {
        connection_url: "redis://u:hunter2@h:1/0".into(),
        password: Secret::new("pw-opt"),
        sentinel_password: Secret::new("pw-sentinel"),
        sentinel_connection_urls: vec!["redis://:pw-url@s:2".into()],
        ..Default::default()
    };
    let text = format!("{o:?} {:?}", o.validate().unwrap());
    for secret in ["hunter2", "pw-opt", "pw-sentinel", "pw-url"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("redis://[redacted]@h:1/0"), "{text}");
}
