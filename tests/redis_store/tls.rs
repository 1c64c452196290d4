//! Redis over TLS (redis-server with `tls-port`, the committed test certificate for 127.0.0.1):
//! `redis_ca_path`, `redis_insecure_skip_tls_verify`, and v7's rule that either one turns TLS on
//! even for a `redis://` URL.

use std::time::Duration;

use authproxy::session::redis::{Owner, RedisOptions, StoreError};

use super::harness::{tls_fixtures, RedisServer, ServerConfig};
use super::*;

fn tls_server() -> RedisServer {
    RedisServer::start(ServerConfig {
        tls: true,
        password: Some("tls-pass".into()),
        ..Default::default()
    })
}

async fn round_trip(opts: &RedisOptions) {
    let store = connect(opts).await;
    let s = session("tls");
    let saved = store.save(None, &s, &Owner::NONE).await.unwrap();
    assert_eq!(store.load(&saved.ticket).await.unwrap(), Some(s));
    store.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_ca_path_verifies_the_server() {
    let server = tls_server();
    let (ca, _, _) = tls_fixtures();
    let opts = RedisOptions {
        connection_url: format!("rediss://:tls-pass@127.0.0.1:{}", server.port),
        ca_path: ca.display().to_string(),
        ..Default::default()
    };
    round_trip(&opts).await;
    // v7: redis:// plus redis_ca_path still dials TLS.
    let opts = RedisOptions {
        connection_url: format!("redis://:tls-pass@127.0.0.1:{}", server.port),
        ..opts
    };
    round_trip(&opts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_accepts_an_unknown_ca_and_verification_refuses_it() {
    let server = tls_server();
    let url = format!("rediss://:tls-pass@127.0.0.1:{}", server.port);
    round_trip(&RedisOptions {
        connection_url: url.clone(),
        insecure_skip_tls_verify: true,
        ..Default::default()
    })
    .await;
    round_trip(&url_options(&format!("{url}?skip_verify=true"))).await;
    // The system trust store does not know the test CA.
    let e = connect_err(&url_options(&url), Duration::from_secs(4)).await;
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    // A plain-text client against the TLS port gets nowhere either.
    let plain = format!("redis://:tls-pass@127.0.0.1:{}", server.port);
    let e = connect_err(&url_options(&plain), Duration::from_secs(4)).await;
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_or_empty_ca_file_is_a_configuration_error() {
    let server = tls_server();
    let url = format!("rediss://127.0.0.1:{}", server.port);
    for path in ["/nonexistent/ca.pem", "/dev/null"] {
        let opts = RedisOptions {
            connection_url: url.clone(),
            ca_path: path.into(),
            ..Default::default()
        };
        let e = connect_err(&opts, Duration::from_secs(2)).await;
        let text = e.to_string();
        assert!(matches!(e, StoreError::Config(_)), "{e:?}");
        assert!(
            text.contains("redis_ca_path") && text.contains(path),
            "{text}"
        );
    }
}
