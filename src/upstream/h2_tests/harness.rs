//! The apps, proxy and clients of the HTTP/2 upstream tests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderMap, HeaderValue, Request, Response, Version};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::super::*;
use crate::config::{Upstream, UpstreamConfig, UpstreamKind};

pub(super) type AppBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Connections the app accepted, and a switch that makes it close them all (GOAWAY).
#[derive(Default)]
pub(super) struct AppStats {
    pub(super) connections: AtomicUsize,
    pub(super) goaway: tokio::sync::Notify,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` of the app's connections.
    pub(super) max_streams: Option<u32>,
}

/// Echoes what it saw as `key: value` lines, then the request trailers as response trailers
/// (plus `x-app-trailer`). `/slow?ms=N` answers after N ms (default 3 s).
pub(super) async fn app(req: Request<Incoming>) -> Result<Response<AppBody>, Infallible> {
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

pub(super) async fn serve_h2<I>(io: I, stats: Arc<AppStats>)
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
pub(super) async fn start_h2c_app() -> (SocketAddr, Arc<AppStats>) {
    start_h2c_app_with(None).await
}

pub(super) async fn start_h2c_app_with(max_streams: Option<u32>) -> (SocketAddr, Arc<AppStats>) {
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
pub(super) async fn start_tls_app(alpn: &[&[u8]]) -> SocketAddr {
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

pub(super) fn upstreams(uri: &str, opts: UpstreamOptions) -> Upstreams {
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

pub(super) async fn start_proxy(upstreams: Upstreams) -> SocketAddr {
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

pub(super) type ClientBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// An HTTP/2 (prior knowledge) client connection to the proxy.
pub(super) async fn h2_client(
    proxy: SocketAddr,
) -> hyper::client::conn::http2::SendRequest<ClientBody> {
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
pub(super) fn with_trailers(
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

pub(super) fn get(proxy: SocketAddr, path: &str) -> Request<ClientBody> {
    Request::get(format!("http://{proxy}{path}"))
        .body(BodyExt::boxed(Full::new(Bytes::new())))
        .unwrap()
}

/// The body as text and the trailers of a response.
pub(super) async fn read(resp: Response<Incoming>) -> (String, HeaderMap) {
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

pub(super) fn line<'a>(seen: &'a str, key: &str) -> Option<&'a str> {
    seen.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(['=', ':'])))
        .map(str::trim)
}

pub(super) fn test_ctx() -> ProxyContext<'static> {
    ProxyContext {
        client_ip: "127.0.0.9".parse().unwrap(),
        scheme: ClientScheme::Https,
        host: Some(HeaderValue::from_static("app.example")),
        extra_headers: &[],
        preserved: &[],
        gap_auth: None,
    }
}

pub(super) async fn app_h1(req: Request<Incoming>) -> Result<Response<AppBody>, Infallible> {
    assert_eq!(req.version(), Version::HTTP_11);
    app(req).await
}
