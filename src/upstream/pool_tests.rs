//! The per-thread connection pool against apps that close, stall and stream.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::http::{Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::config::{Upstream, UpstreamConfig, UpstreamKind};

fn upstreams(addr: SocketAddr) -> Upstreams {
    let url = url::Url::parse(&format!("http://{addr}/")).unwrap();
    Upstreams::new(
        &UpstreamConfig {
            proxy_raw_path: false,
            upstreams: vec![Upstream {
                id: "/".into(),
                path: "/".into(),
                rewrite_target: None,
                uri: url.to_string(),
                kind: UpstreamKind::Http(url),
                insecure_skip_tls_verify: false,
                flush_interval: Duration::from_secs(1),
                pass_host_header: true,
                proxy_websockets: false,
                timeout: Duration::from_secs(5),
                disable_keep_alives: false,
            }],
        },
        Duration::from_secs(2),
    )
    .unwrap()
}

fn ctx() -> ProxyContext<'static> {
    ProxyContext {
        client_ip: "127.0.0.9".parse().unwrap(),
        scheme: ClientScheme::Http,
        host: None,
        extra_headers: &[],
        preserved: &[],
        gap_auth: None,
    }
}

fn get() -> Request<Full<Bytes>> {
    Request::get("/").body(Full::new(Bytes::new())).unwrap()
}

/// A raw HTTP/1.1 app: reads one request head per response; `close_after_each` closes the
/// connection after every response (without saying so, as a server whose idle timeout fires
/// does); `body_len` bytes of body. Returns the address and the accepted-connection count.
async fn raw_app(close_after_each: bool, body_len: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One request head.
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buf.drain(..end);
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {body_len}\r\n\r\n");
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    if s.write_all(&vec![b'x'; body_len]).await.is_err() {
                        return;
                    }
                    if close_after_each {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn a_connection_the_app_closed_while_idle_is_not_a_failed_request() {
    let (addr, accepted) = raw_app(true, 2).await;
    let up = upstreams(addr);
    for i in 0..5 {
        let resp = up
            .proxy(get(), ctx())
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"xx");
        // Let the close reach us before the next request (the usual case), except once.
        if i != 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn keep_alive_connections_are_reused_and_idle_ones_expire() {
    let (addr, accepted) = raw_app(false, 2).await;
    let dial = pool::Dial::Tcp {
        host: "127.0.0.1".into(),
        port: addr.port(),
    };
    let pool = pool::Pool::new(dial, Duration::from_secs(2), Duration::from_millis(150));
    let send = || {
        let req = Request::get("/")
            .header("host", "app")
            .body(
                Full::new(Bytes::new())
                    .map_err(|n| match n {})
                    .boxed_unsync(),
            )
            .unwrap();
        pool.send(req, false)
    };
    for _ in 0..3 {
        let resp = send().await.unwrap();
        let _ = resp.into_body().collect().await.unwrap();
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection for sequential requests"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = send().await.unwrap();
    let _ = resp.into_body().collect().await.unwrap();
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "the idle connection expired"
    );
}

#[tokio::test]
async fn a_response_body_dropped_half_read_does_not_return_its_connection() {
    let (addr, accepted) = raw_app(false, 1 << 20).await;
    let up = upstreams(addr);
    let resp = up.proxy(get(), ctx()).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(body);
    // The next request needs a connection of its own and gets its whole body.
    let resp = up.proxy(get(), ctx()).await.unwrap();
    let all = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(all.len(), 1 << 20);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    // ...and that connection, read to the end, is reused.
    let resp = up.proxy(get(), ctx()).await.unwrap();
    let _ = resp.into_body().collect().await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_requests_open_connections_that_later_requests_reuse() {
    let (addr, accepted) = raw_app(false, 64 * 1024).await;
    let up = Arc::new(upstreams(addr));
    // Four responses in flight at once (their bodies unread) need four connections.
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(up.proxy(get(), ctx()).await.unwrap());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    for resp in open {
        let _ = resp.into_body().collect().await.unwrap();
    }
    for _ in 0..8 {
        let resp = up.proxy(get(), ctx()).await.unwrap();
        let _ = resp.into_body().collect().await.unwrap();
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn an_app_that_is_not_listening_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let up = upstreams(addr);
    let err = up.proxy(get(), ctx()).await.unwrap_err();
    assert!(
        matches!(err, UpstreamError::ConnectFailed { .. }),
        "{err:?}"
    );
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
}
