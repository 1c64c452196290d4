//! In-process tests of HTTP/2 upstreams (`h2.rs`): an h2c or TLS app, the proxy on
//! 127.0.0.1:0, hyper HTTP/2 clients. The gRPC end-to-end tests are tests/e2e_grpc.rs.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ::http::{HeaderMap, HeaderValue, Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

mod harness;

use super::*;
use harness::*;

#[tokio::test]
async fn h2c_upstream_gets_http2_with_te_trailers_and_trailers_pass_both_ways() {
    let (app, stats) = start_h2c_app().await;
    let proxy = start_proxy(upstreams(
        &format!("h2c://{app}/"),
        UpstreamOptions::default(),
    ))
    .await;
    let mut client = h2_client(proxy).await;
    let mut trailers = HeaderMap::new();
    trailers.insert("x-client-trailer", HeaderValue::from_static("sent-last"));
    let resp = client
        .send_request(with_trailers(proxy, "/svc/Method?q=1", "hello", trailers))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (seen, trailers) = read(resp).await;
    assert_eq!(line(&seen, "version"), Some("HTTP/2.0"), "{seen}");
    assert_eq!(
        line(&seen, "uri"),
        Some(format!("http://{proxy}/svc/Method?q=1").as_str())
    );
    // `pass_host_header`: the client's authority, as `:authority` (no Host field).
    assert_eq!(line(&seen, "authority"), Some(proxy.to_string().as_str()));
    assert_eq!(line(&seen, "host"), None, "{seen}");
    assert_eq!(line(&seen, "te"), Some("trailers"), "{seen}");
    assert_eq!(line(&seen, "x-forwarded-for"), Some("127.0.0.1"), "{seen}");
    assert_eq!(line(&seen, "body-len"), Some("5"));
    assert_eq!(
        trailers["x-client-trailer"], "sent-last",
        "request trailers reached the app and came back"
    );
    assert_eq!(trailers["x-app-trailer"], "done");
    assert_eq!(stats.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_http1_client_reaches_an_h2c_upstream_and_te_other_than_trailers_is_dropped() {
    let (app, _) = start_h2c_app().await;
    let opts = UpstreamOptions {
        pass_host_header: false,
        ..UpstreamOptions::default()
    };
    let proxy = start_proxy(upstreams(&format!("h2c://{app}/"), opts)).await;
    let resp = reqwest::Client::new()
        .get(format!("http://{proxy}/plain"))
        .header("te", "gzip")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "1")
        .header("upgrade", "websocket")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = resp.text().await.unwrap();
    assert_eq!(line(&seen, "version"), Some("HTTP/2.0"), "{seen}");
    assert_eq!(
        line(&seen, "authority"),
        Some(app.to_string().as_str()),
        "{seen}"
    );
    for hop in ["te", "connection", "x-hop", "upgrade", "host"] {
        assert_eq!(line(&seen, hop), None, "{hop} in {seen}");
    }
}

#[tokio::test]
async fn one_connection_is_shared_and_replaced_after_the_upstream_closes_it() {
    let (app, stats) = start_h2c_app().await;
    let proxy = start_proxy(upstreams(
        &format!("h2c://{app}/"),
        UpstreamOptions::default(),
    ))
    .await;
    let client = h2_client(proxy).await;
    let send = |path: &'static str| {
        let mut client = client.clone();
        async move {
            let resp = client.send_request(get(proxy, path)).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            read(resp).await
        }
    };
    // Concurrent first requests share one connection attempt.
    let all = futures_util::future::join_all((0..20).map(|_| send("/a"))).await;
    assert_eq!(all.len(), 20);
    send("/b").await;
    assert_eq!(stats.connections.load(Ordering::SeqCst), 1);

    // The app closes its connections gracefully (GOAWAY): requests right after it still succeed,
    // on a new connection.
    stats.goaway.notify_waiters();
    for _ in 0..5 {
        send("/after").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn disable_keep_alives_opens_a_connection_per_request() {
    let (app, stats) = start_h2c_app().await;
    let opts = UpstreamOptions {
        disable_keep_alives: true,
        ..UpstreamOptions::default()
    };
    let proxy = start_proxy(upstreams(&format!("h2c://{app}/"), opts)).await;
    let mut client = h2_client(proxy).await;
    for _ in 0..3 {
        let resp = client.send_request(get(proxy, "/")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        read(resp).await;
    }
    assert_eq!(stats.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_h2c_upstream_that_is_down_is_502_and_a_slow_one_504() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = free.local_addr().unwrap();
    drop(free);
    let up = upstreams(&format!("h2c://{dead}/"), UpstreamOptions::default());
    let err = up
        .proxy(
            Request::get("/").body(Full::new(Bytes::new())).unwrap(),
            test_ctx(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::ConnectFailed { .. }), "{err}");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);

    let (app, _) = start_h2c_app().await;
    let opts = UpstreamOptions {
        timeout: Duration::from_millis(300),
        ..UpstreamOptions::default()
    };
    let up = upstreams(&format!("h2c://{app}/"), opts);
    let err = up
        .proxy(
            Request::get("/slow").body(Full::new(Bytes::new())).unwrap(),
            test_ctx(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn https_upstreams_use_http2_when_alpn_selects_it_and_http1_otherwise() {
    let insecure = UpstreamOptions {
        insecure_skip_verify: true,
        ..UpstreamOptions::default()
    };
    for (alpn, version) in [
        (&[b"h2".as_slice(), b"http/1.1"][..], "HTTP/2.0"),
        (&[b"http/1.1".as_slice()][..], "HTTP/1.1"),
        (&[][..], "HTTP/1.1"),
    ] {
        let app = start_tls_app(alpn).await;
        let up = upstreams(
            &format!("https://localhost:{}/", app.port()),
            insecure.clone(),
        );
        // Twice: the second request uses the shared connection (h2) or the remembered
        // HTTP/1.1 decision.
        for _ in 0..2 {
            let resp = up
                .proxy(
                    Request::get("/tls").body(Full::new(Bytes::new())).unwrap(),
                    test_ctx(),
                )
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let body = resp.into_body().collect().await.unwrap();
            let trailers = body.trailers().cloned();
            let seen = String::from_utf8(body.to_bytes().to_vec()).unwrap();
            assert_eq!(line(&seen, "version"), Some(version), "{alpn:?}: {seen}");
            if version == "HTTP/2.0" {
                assert_eq!(line(&seen, "authority"), Some("app.example"), "{seen}");
                assert_eq!(trailers.unwrap()["x-app-trailer"], "done");
            } else {
                assert_eq!(line(&seen, "host"), Some("app.example"), "{seen}");
            }
        }
    }
}

#[tokio::test]
async fn an_http2_client_request_to_an_http1_upstream_is_unchanged() {
    // The HTTP/1.1 app of the TLS server without ALPN, reached over plain http:// instead.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(app_h1)),
            );
        }
    });
    let proxy = start_proxy(upstreams(
        &format!("http://{app}/"),
        UpstreamOptions::default(),
    ))
    .await;
    let mut client = h2_client(proxy).await;
    let resp = client
        .send_request(with_trailers(proxy, "/x", "abc", HeaderMap::new()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (seen, _) = read(resp).await;
    assert_eq!(line(&seen, "version"), Some("HTTP/1.1"), "{seen}");
    assert_eq!(
        line(&seen, "te"),
        None,
        "te stays hop-by-hop toward HTTP/1.1: {seen}"
    );
    assert_eq!(line(&seen, "host"), Some(proxy.to_string().as_str()));
}

#[tokio::test]
async fn requests_queued_behind_a_failing_connection_attempt_fail_with_it() {
    // Accepts TCP connections and never answers the TLS handshake.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let opts = UpstreamOptions {
        insecure_skip_verify: true,
        connect_timeout: Duration::from_millis(500),
        ..UpstreamOptions::default()
    };
    let up = upstreams(&format!("https://{addr}/"), opts);
    let started = std::time::Instant::now();
    let results = futures_util::future::join_all((0..8).map(|_| {
        up.proxy(
            Request::get("/").body(Full::new(Bytes::new())).unwrap(),
            test_ctx(),
        )
    }))
    .await;
    for r in results {
        let err = r.unwrap_err();
        assert!(matches!(err, UpstreamError::ConnectFailed { .. }), "{err}");
    }
    // One attempt after the other would take 8 × 500 ms.
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_host_that_is_no_authority_is_a_400_toward_http2() {
    let (app, stats) = start_h2c_app().await;
    let up = upstreams(&format!("h2c://{app}/"), UpstreamOptions::default());
    let ctx = ProxyContext {
        host: Some(HeaderValue::from_static("bad host")),
        ..test_ctx()
    };
    let err = up
        .proxy(
            Request::get("/").body(Full::new(Bytes::new())).unwrap(),
            ctx,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{err}");
    // The shared connection stays usable.
    let resp = up
        .proxy(
            Request::get("/").body(Full::new(Bytes::new())).unwrap(),
            test_ctx(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(stats.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn requests_beyond_the_apps_stream_limit_wait_for_a_free_stream() {
    let (app, stats) = start_h2c_app_with(Some(1)).await;
    let up = upstreams(&format!("h2c://{app}/"), UpstreamOptions::default());
    let started = std::time::Instant::now();
    let call = |path: &'static str| {
        up.proxy(
            Request::get(path).body(Full::new(Bytes::new())).unwrap(),
            test_ctx(),
        )
    };
    // The connection exists (and has learnt the limit) before the two concurrent calls.
    assert_eq!(call("/").await.unwrap().status(), StatusCode::OK);
    let ((slow, slow_at), (fast, fast_at)) = tokio::join!(
        async {
            let resp = call("/slow?ms=400").await.unwrap();
            let body = resp.into_body().collect().await.unwrap();
            (body, started.elapsed())
        },
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let resp = call("/").await.unwrap();
            let body = resp.into_body().collect().await.unwrap();
            (body, started.elapsed())
        }
    );
    assert!(slow.trailers().is_some() && fast.trailers().is_some());
    // The second call got its stream only when the first one's had ended.
    assert!(
        fast_at >= Duration::from_millis(400) && fast_at >= slow_at,
        "{fast_at:?} {slow_at:?}"
    );
    assert_eq!(stats.connections.load(Ordering::SeqCst), 1);
}
