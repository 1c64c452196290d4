//! In-process tests of HTTP/2 upstreams (`h2.rs`): an h2c or TLS app, the proxy on
//! 127.0.0.1:0, hyper HTTP/2 clients. The gRPC end-to-end tests are tests/e2e_grpc.rs.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::*;
use crate::config::{Upstream, UpstreamConfig, UpstreamKind};

type AppBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Connections the app accepted, and a switch that makes it close them all (GOAWAY).
#[derive(Default)]
struct AppStats {
    connections: AtomicUsize,
    goaway: tokio::sync::Notify,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` of the app's connections.
    max_streams: Option<u32>,
}

/// Echoes what it saw as `key: value` lines, then the request trailers as response trailers
/// (plus `x-app-trailer`). `/slow?ms=N` answers after N ms (default 3 s).
async fn app(req: Request<Incoming>) -> Result<Response<AppBody>, Infallible> {
    if req.uri().path() == "/slow" {
        let ms = req
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(3000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut seen = format!(
        "version={:?}\nuri={}\nauthority={}\n",
        req.version(),
        req.uri(),
        req.uri().authority().map_or("-", |a| a.as_str())
    );
    for (k, v) in req.headers() {
        seen.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
    }
    let mut body = req.into_body();
    let mut len = 0;
    let mut trailers = HeaderMap::new();
    while let Some(frame) = body.frame().await {
        match frame.unwrap().into_data() {
            Ok(d) => len += d.len(),
            Err(f) => {
                if let Ok(t) = f.into_trailers() {
                    trailers.extend(t);
                }
            }
        }
    }
    seen.push_str(&format!("body-len={len}\n"));
    trailers.insert("x-app-trailer", HeaderValue::from_static("done"));
    let frames = vec![
        Ok::<_, Infallible>(Frame::data(Bytes::from(seen))),
        Ok(Frame::trailers(trailers)),
    ];
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
            frames,
        ))))
        .unwrap())
}

async fn serve_h2<I>(io: I, stats: Arc<AppStats>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_concurrent_streams(stats.max_streams)
        .serve_connection(io, service_fn(app));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stats.goaway.notified() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

/// An app speaking cleartext HTTP/2 only (prior knowledge).
async fn start_h2c_app() -> (SocketAddr, Arc<AppStats>) {
    start_h2c_app_with(None).await
}

async fn start_h2c_app_with(max_streams: Option<u32>) -> (SocketAddr, Arc<AppStats>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(AppStats {
        max_streams,
        ..AppStats::default()
    });
    let s = stats.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            s.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_h2(TokioIo::new(stream), s.clone()));
        }
    });
    (addr, stats)
}

/// A TLS app (the test certificate of tests/fixtures/tls) offering `alpn` and speaking what
/// the handshake selected.
async fn start_tls_app(alpn: &[&[u8]]) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let cert = CertificateDer::from_pem_file(format!("{dir}/server.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    serve_h2(TokioIo::new(tls), Arc::default()).await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service_fn(app))
                        .await;
                }
            });
        }
    });
    addr
}

fn upstreams(uri: &str, opts: UpstreamOptions) -> Upstreams {
    let url = url::Url::parse(uri).unwrap();
    let upstream = Upstream {
        id: "/".into(),
        path: "/".into(),
        rewrite_target: None,
        uri: uri.into(),
        kind: UpstreamKind::Http(url),
        insecure_skip_tls_verify: opts.insecure_skip_verify,
        flush_interval: Duration::from_secs(1),
        pass_host_header: opts.pass_host_header,
        proxy_websockets: opts.proxy_websockets,
        timeout: opts.timeout,
        disable_keep_alives: opts.disable_keep_alives,
    };
    Upstreams::new(
        &UpstreamConfig {
            proxy_raw_path: false,
            upstreams: vec![upstream],
        },
        opts.connect_timeout,
    )
    .unwrap()
}

async fn start_proxy(upstreams: Upstreams) -> SocketAddr {
    let upstreams = Arc::new(upstreams);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let upstreams = upstreams.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let upstreams = upstreams.clone();
                    async move {
                        let ctx = ProxyContext {
                            client_ip: peer.ip(),
                            scheme: ClientScheme::Http,
                            host: None,
                            extra_headers: &[],
                            preserved: &[],
                            gap_auth: None,
                        };
                        Ok::<_, Infallible>(match upstreams.proxy(req, ctx).await {
                            Ok(resp) => resp,
                            Err(e) => {
                                let mut r = Response::new(super::router::empty_body());
                                *r.status_mut() = e.status();
                                r
                            }
                        })
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

type ClientBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// An HTTP/2 (prior knowledge) client connection to the proxy.
async fn h2_client(proxy: SocketAddr) -> hyper::client::conn::http2::SendRequest<ClientBody> {
    let tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

/// A request with a body of `data` followed by `trailers`.
fn with_trailers(
    proxy: SocketAddr,
    path: &str,
    data: &str,
    trailers: HeaderMap,
) -> Request<ClientBody> {
    let frames = vec![
        Ok::<_, Infallible>(Frame::data(Bytes::from(data.to_owned()))),
        Ok(Frame::trailers(trailers)),
    ];
    Request::post(format!("http://{proxy}{path}"))
        .header("te", "trailers")
        .header("content-type", "application/grpc")
        .body(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(
            frames,
        ))))
        .unwrap()
}

fn get(proxy: SocketAddr, path: &str) -> Request<ClientBody> {
    Request::get(format!("http://{proxy}{path}"))
        .body(BodyExt::boxed(Full::new(Bytes::new())))
        .unwrap()
}

/// The body as text and the trailers of a response.
async fn read(resp: Response<Incoming>) -> (String, HeaderMap) {
    let mut body = resp.into_body();
    let (mut text, mut trailers) = (Vec::new(), HeaderMap::new());
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .unwrap()
    {
        match frame.unwrap().into_data() {
            Ok(d) => text.extend_from_slice(&d),
            Err(f) => trailers.extend(f.into_trailers().unwrap()),
        }
    }
    (String::from_utf8(text).unwrap(), trailers)
}

fn line<'a>(seen: &'a str, key: &str) -> Option<&'a str> {
    seen.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(['=', ':'])))
        .map(str::trim)
}

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

fn test_ctx() -> ProxyContext<'static> {
    ProxyContext {
        client_ip: "127.0.0.9".parse().unwrap(),
        scheme: ClientScheme::Https,
        host: Some(HeaderValue::from_static("app.example")),
        extra_headers: &[],
        preserved: &[],
        gap_auth: None,
    }
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

async fn app_h1(req: Request<Incoming>) -> Result<Response<AppBody>, Infallible> {
    assert_eq!(req.version(), Version::HTTP_11);
    app(req).await
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
