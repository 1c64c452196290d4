//! In-process integration tests: a small app and the proxy on 127.0.0.1:0.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::http::{header, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{self, protocol::Role, Message};

use super::*;
use crate::config::{Upstream, UpstreamConfig};

/// The old test-side shape of an upstream, mapped onto the configuration model.
enum UpstreamTarget {
    Http { url: url::Url, path: String },
    Static { code: u16, path: String },
    File { dir: PathBuf, path: String },
}

impl Upstreams {
    /// Test shim: build from targets with the same options on every upstream.
    fn from_targets(targets: &[UpstreamTarget], opts: UpstreamOptions) -> Result<Self, String> {
        let upstreams = targets
            .iter()
            .map(|t| {
                let (path, kind, uri) = match t {
                    UpstreamTarget::Http { url, path } => (
                        path.clone(),
                        crate::config::UpstreamKind::Http(url.clone()),
                        url.to_string(),
                    ),
                    UpstreamTarget::Static { code, path } => (
                        path.clone(),
                        crate::config::UpstreamKind::Static(*code),
                        String::new(),
                    ),
                    UpstreamTarget::File { dir, path } => (
                        path.clone(),
                        crate::config::UpstreamKind::File(dir.clone()),
                        format!("file://{}", dir.display()),
                    ),
                };
                Upstream {
                    id: path.clone(),
                    path,
                    rewrite_target: None,
                    uri,
                    kind,
                    insecure_skip_tls_verify: opts.insecure_skip_verify,
                    flush_interval: Duration::from_secs(1),
                    pass_host_header: opts.pass_host_header,
                    proxy_websockets: opts.proxy_websockets,
                    timeout: opts.timeout,
                    disable_keep_alives: opts.disable_keep_alives,
                }
            })
            .collect();
        Upstreams::new(
            &UpstreamConfig {
                proxy_raw_path: false,
                upstreams,
            },
            opts.connect_timeout,
        )
    }
}

// ---------------------------------------------------------------- the app

type AppBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> AppBody {
    Full::new(b.into()).boxed()
}

/// Deterministic content for downloads: byte i is (i * 31 + 7) mod 251.
fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| ((i * 31 + 7) % 251) as u8)
        .collect()
}

async fn app(
    name: &'static str,
    mut req: Request<Incoming>,
) -> Result<Response<AppBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path.starts_with("/ws") {
        let key = req.headers()["sec-websocket-key"].as_bytes().to_vec();
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let upgraded = on_upgrade.await.unwrap();
            let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                None,
            )
            .await;
            while let Some(Ok(msg)) = ws.next().await {
                match msg {
                    Message::Text(t) => ws.send(Message::text(format!("echo: {t}"))).await.unwrap(),
                    Message::Binary(b) => ws.send(Message::Binary(b)).await.unwrap(),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        });
        return Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(
                "sec-websocket-accept",
                tungstenite::handshake::derive_accept_key(&key),
            )
            .body(full(Bytes::new()))
            .unwrap());
    }
    match path.as_str() {
        "/upload" => {
            let mut hasher = Sha256::new();
            let mut len = 0usize;
            let mut body = req.into_body();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    len += data.len();
                    hasher.update(&data);
                }
            }
            let out = format!("{len} {}", hex(&hasher.finalize()));
            Ok(Response::new(full(out)))
        }
        "/download" => {
            let total: usize = req
                .uri()
                .query()
                .unwrap()
                .trim_start_matches("n=")
                .parse()
                .unwrap();
            let chunk = 16 * 1024;
            let stream = futures_util::stream::iter((0..total).step_by(chunk).map(move |off| {
                Ok::<_, Infallible>(Frame::data(Bytes::from(pattern(
                    off,
                    chunk.min(total - off),
                ))))
            }));
            Ok(Response::new(BodyExt::boxed(StreamBody::new(stream))))
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(Response::new(full("late")))
        }
        _ => {
            let mut lines = format!(
                "app={name}\nmethod={}\nuri={}\nversion={:?}\n",
                req.method(),
                req.uri(),
                req.version()
            );
            for (k, v) in req.headers() {
                lines.push_str(&format!("{k}: {}\n", v.to_str().unwrap()));
            }
            let body = req.into_body().collect().await.unwrap().to_bytes();
            lines.push_str(&format!("body-len={}\n", body.len()));
            Ok(Response::builder()
                .header("connection", "x-hop-resp")
                .header("x-hop-resp", "1")
                .header("keep-alive", "timeout=5")
                .header("x-app", name)
                .body(full(lines))
                .unwrap())
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn start_app(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(move |r| app(name, r)))
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------- the proxy

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

fn http_target(addr: SocketAddr, path: &str) -> UpstreamTarget {
    UpstreamTarget::Http {
        url: url::Url::parse(&format!("http://{addr}{path}")).unwrap(),
        path: path.to_owned(),
    }
}

fn ctx() -> ProxyContext<'static> {
    ProxyContext {
        client_ip: "127.0.0.9".parse().unwrap(),
        scheme: ClientScheme::Https,
        host: None,
        extra_headers: &[],
        preserved: &[],
        gap_auth: None,
    }
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::new(Bytes::new())).unwrap()
}

async fn text(resp: Response<Body>) -> String {
    String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

/// The header lines the echo app saw, lower-cased names.
fn seen<'a>(echo: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}: ");
    echo.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn forwards_path_query_and_forwarded_headers_and_strips_hop_by_hop_both_ways() {
    let app_addr = start_app("main").await;
    let up =
        Upstreams::from_targets(&[http_target(app_addr, "/")], UpstreamOptions::default()).unwrap();
    let req = Request::get("/api/items?q=a%20b&x=%2F")
        .header("host", "app.example.com")
        .header("connection", "keep-alive, X-Client-Hop")
        .header("x-client-hop", "secret")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("upgrade", "h2c")
        .header("x-forwarded-for", "127.0.0.2")
        .header("x-forwarded-proto", "ftp")
        .header("x-forwarded-host", "evil.example")
        .header("x-custom", "kept")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut c = ctx();
    let extra = [
        (
            HeaderName::from_static("x-forwarded-user"),
            HeaderValue::from_static("alice"),
        ),
        (
            HeaderName::from_static("x-client-hop"),
            HeaderValue::from_static("proxy-set"),
        ),
    ];
    c.extra_headers = &extra;
    let resp = up.proxy(req, c).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("x-hop-resp").is_none());
    assert!(resp.headers().get("keep-alive").is_none());
    assert!(resp.headers().get("connection").is_none());
    assert_eq!(resp.headers()["x-app"], "main");
    let echo = text(resp).await;

    assert!(echo.contains("uri=/api/items?q=a%20b&x=%2F\n"), "{echo}");
    assert_eq!(seen(&echo, "host"), ["app.example.com"]);
    assert_eq!(seen(&echo, "x-forwarded-host"), ["app.example.com"]);
    assert_eq!(seen(&echo, "x-forwarded-proto"), ["https"]);
    assert_eq!(seen(&echo, "x-forwarded-for"), ["127.0.0.2, 127.0.0.9"]);
    assert_eq!(seen(&echo, "x-forwarded-user"), ["alice"]);
    // A header the client named in Connection is dropped, but the caller's identity header
    // of the same name is inserted afterwards and survives.
    assert_eq!(seen(&echo, "x-client-hop"), ["proxy-set"]);
    assert_eq!(seen(&echo, "x-custom"), ["kept"]);
    for hop in ["keep-alive", "te", "proxy-authorization", "upgrade"] {
        assert!(seen(&echo, hop).is_empty(), "{hop} leaked: {echo}");
    }
}

#[tokio::test]
async fn host_is_the_upstream_authority_without_pass_host_header() {
    let app_addr = start_app("main").await;
    let opts = UpstreamOptions {
        pass_host_header: false,
        ..UpstreamOptions::default()
    };
    let up = Upstreams::from_targets(&[http_target(app_addr, "/")], opts).unwrap();
    let mut c = ctx();
    c.host = Some(HeaderValue::from_static("public.example.com"));
    let req = Request::get("/")
        .header("host", "ignored.example")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let echo = text(up.proxy(req, c).await.unwrap()).await;
    assert_eq!(seen(&echo, "host"), [app_addr.to_string().as_str()]);
    assert_eq!(seen(&echo, "x-forwarded-host"), ["public.example.com"]);
}

#[tokio::test]
async fn streamed_two_megabyte_upload_arrives_intact() {
    let app_addr = start_app("main").await;
    let proxy = start_proxy(
        Upstreams::from_targets(&[http_target(app_addr, "/")], UpstreamOptions::default()).unwrap(),
    )
    .await;
    let data: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    let want = format!("{} {}", data.len(), hex(&Sha256::digest(&data)));
    // Sent in 64 KiB chunks without a Content-Length: chunked all the way.
    let chunks: Vec<Result<Bytes, Infallible>> = data
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = reqwest::Client::new()
        .post(format!("http://{proxy}/upload"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), want);
}

#[tokio::test]
async fn large_download_streams_through() {
    let app_addr = start_app("main").await;
    let proxy = start_proxy(
        Upstreams::from_targets(&[http_target(app_addr, "/")], UpstreamOptions::default()).unwrap(),
    )
    .await;
    let n = 8 * 1024 * 1024 + 123;
    let resp = reqwest::get(format!("http://{proxy}/download?n={n}"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let (mut got, mut chunks) = (Sha256::new(), 0usize);
    let mut len = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        len += chunk.len();
        chunks += 1;
        got.update(&chunk);
    }
    assert_eq!(len, n);
    assert!(chunks > 1, "the body arrived in one piece: not streamed");
    assert_eq!(got.finalize(), Sha256::digest(pattern(0, n)));
}

#[tokio::test]
async fn websocket_echo_through_the_proxy() {
    let app_addr = start_app("main").await;
    let proxy = start_proxy(
        Upstreams::from_targets(&[http_target(app_addr, "/")], UpstreamOptions::default()).unwrap(),
    )
    .await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{proxy}/ws/chat"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text("echo: hello")
    );
    let big = vec![7u8; 300 * 1024];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn app_down_is_connect_failed_502() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let up =
        Upstreams::from_targets(&[http_target(dead, "/")], UpstreamOptions::default()).unwrap();
    let err = up.proxy(get("/"), ctx()).await.unwrap_err();
    assert!(matches!(err, UpstreamError::ConnectFailed { .. }), "{err}");
    assert_eq!(err.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(err.target(), Some(format!("http://{dead}/").as_str()));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn slow_app_is_timeout_504() {
    let app_addr = start_app("main").await;
    let opts = UpstreamOptions {
        timeout: Duration::from_millis(300),
        ..UpstreamOptions::default()
    };
    let up = Upstreams::from_targets(&[http_target(app_addr, "/")], opts).unwrap();
    let started = std::time::Instant::now();
    let err = up.proxy(get("/slow"), ctx()).await.unwrap_err();
    assert!(matches!(err, UpstreamError::Timeout { .. }), "{err}");
    assert_eq!(err.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_slow_but_moving_upload_is_not_cut_by_the_response_timeout() {
    let app_addr = start_app("main").await;
    let opts = UpstreamOptions {
        timeout: Duration::from_millis(800),
        ..UpstreamOptions::default()
    };
    let up = Upstreams::from_targets(&[http_target(app_addr, "/")], opts).unwrap();
    // Six chunks 300 ms apart: 1.8 s in total, more than twice the timeout (wide margins:
    // CI machines are loaded while tests run in parallel).
    let stream = Box::pin(futures_util::stream::unfold(0u8, |i| async move {
        if i == 6 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from(vec![i; 1000]))),
            i + 1,
        ))
    }));
    let req = Request::post("/upload")
        .body(StreamBody::new(stream))
        .unwrap();
    let resp = up.proxy(req, ctx()).await.unwrap();
    assert!(text(resp).await.starts_with("6000 "));
}

#[tokio::test]
async fn longest_path_prefix_wins_and_the_path_is_not_stripped() {
    let main = start_app("main").await;
    let api = start_app("api").await;
    let up = Upstreams::from_targets(
        &[
            http_target(main, "/"),
            http_target(api, "/api/"),
            UpstreamTarget::Static {
                code: 202,
                path: "/api/health".into(),
            },
        ],
        UpstreamOptions::default(),
    )
    .unwrap();
    let echo = text(up.proxy(get("/api/v1/x?y=1"), ctx()).await.unwrap()).await;
    assert!(echo.starts_with("app=api\n"), "{echo}");
    assert!(echo.contains("uri=/api/v1/x?y=1\n"), "{echo}");
    let echo = text(up.proxy(get("/apix"), ctx()).await.unwrap()).await;
    assert!(echo.starts_with("app=main\n"), "{echo}");
    let resp = up.proxy(get("/api/health"), ctx()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(text(resp).await, "Authenticated");
    let echo = text(up.proxy(get("/api/health/more"), ctx()).await.unwrap()).await;
    assert!(echo.starts_with("app=api\n"), "{echo}");
}

#[tokio::test]
async fn no_route_and_trailing_slash_redirect() {
    let api = start_app("api").await;
    let up =
        Upstreams::from_targets(&[http_target(api, "/api/")], UpstreamOptions::default()).unwrap();
    let err = up.proxy(get("/other"), ctx()).await.unwrap_err();
    assert!(matches!(err, UpstreamError::NoRoute));
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
    let resp = up.proxy(get("/api?x=1"), ctx()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(resp.headers()[header::LOCATION], "./api/?x=1");
}

#[tokio::test]
async fn static_upstream_answers_its_code_with_authenticated() {
    let up = Upstreams::from_targets(
        &[UpstreamTarget::Static {
            code: 200,
            path: "/".into(),
        }],
        UpstreamOptions::default(),
    )
    .unwrap();
    let resp = up.proxy(get("/anything?x"), ctx()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(text(resp).await, "Authenticated");
    assert!(Upstreams::from_targets(
        &[UpstreamTarget::Static {
            code: 42,
            path: "/".into()
        }],
        UpstreamOptions::default()
    )
    .unwrap_err()
    .contains("static status code 42"));
}

static DIR_COUNTER: AtomicUsize = AtomicUsize::new(0);

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "authproxy-upstream-{tag}-{}-{}",
        std::process::id(),
        DIR_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

#[tokio::test]
async fn file_upstream_serves_files_and_refuses_traversal() {
    let root = temp_dir("root");
    let outside = temp_dir("outside");
    write(&root.join("index.html"), "<h1>home</h1>");
    write(&root.join("docs/index.html"), "<h1>docs</h1>");
    write(&root.join("docs/a b.txt"), "spaced");
    write(&root.join("app.js"), "let x = 1;");
    write(&outside.join("secret.txt"), "SECRET");
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("leakdir")).unwrap();

    let up = Upstreams::from_targets(
        &[
            UpstreamTarget::File {
                dir: root.clone(),
                path: "/files/".into(),
            },
            UpstreamTarget::Static {
                code: 200,
                path: "/".into(),
            },
        ],
        UpstreamOptions::default(),
    )
    .unwrap();

    let resp = up.proxy(get("/files/app.js"), ctx()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(resp.headers()[header::CONTENT_LENGTH], "10");
    assert_eq!(text(resp).await, "let x = 1;");

    let resp = up.proxy(get("/files/"), ctx()).await.unwrap();
    assert_eq!(text(resp).await, "<h1>home</h1>");
    let resp = up.proxy(get("/files/docs/"), ctx()).await.unwrap();
    assert_eq!(text(resp).await, "<h1>docs</h1>");
    let resp = up.proxy(get("/files/docs?v=1"), ctx()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(resp.headers()[header::LOCATION], "./docs/?v=1");
    let resp = up.proxy(get("/files/docs/a%20b.txt"), ctx()).await.unwrap();
    assert_eq!(text(resp).await, "spaced");

    let head = Request::head("/files/app.js")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = up.proxy(head, ctx()).await.unwrap();
    assert_eq!(resp.headers()[header::CONTENT_LENGTH], "10");
    assert_eq!(text(resp).await, "");

    let post = Request::post("/files/app.js")
        .body(Full::new(Bytes::from("x")))
        .unwrap();
    let resp = up.proxy(post, ctx()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()[header::ALLOW], "GET, HEAD");

    let statuses = [
        ("/files/missing.txt", StatusCode::NOT_FOUND),
        ("/files/leak.txt", StatusCode::NOT_FOUND),
        ("/files/leakdir/secret.txt", StatusCode::NOT_FOUND),
        ("/files/../outside/secret.txt", StatusCode::BAD_REQUEST),
        ("/files/%2e%2e/%2e%2e/etc/passwd", StatusCode::BAD_REQUEST),
        ("/files/.%2e/x", StatusCode::BAD_REQUEST),
        ("/files/docs%2f..%2f..%2fx", StatusCode::BAD_REQUEST),
        ("/files/docs%2Findex.html", StatusCode::BAD_REQUEST),
        ("/files/docs%5cindex.html", StatusCode::BAD_REQUEST),
        ("/files/app.js%00.txt", StatusCode::BAD_REQUEST),
    ];
    for (path, want) in statuses {
        let status = match up.proxy(get(path), ctx()).await {
            Ok(resp) => {
                let status = resp.status();
                assert!(!text(resp).await.contains("SECRET"), "{path}");
                status
            }
            Err(e) => e.status(),
        };
        assert_eq!(status, want, "{path}");
    }

    // A directory that does not exist (or /dev/null, the "no app" idiom) starts and answers 404.
    for dir in [root.join("nope"), PathBuf::from("/dev/null")] {
        let up = Upstreams::from_targets(
            &[UpstreamTarget::File {
                dir,
                path: "/".into(),
            }],
            UpstreamOptions::default(),
        )
        .unwrap();
        let resp = up.proxy(get("/index.html"), ctx()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&outside);
}

#[tokio::test]
async fn http2_client_reaches_an_http1_app() {
    let app_addr = start_app("main").await;
    let proxy = start_proxy(
        Upstreams::from_targets(&[http_target(app_addr, "/")], UpstreamOptions::default()).unwrap(),
    )
    .await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = client
        .post(format!("http://{proxy}/h2?x=1"))
        .header("cookie", "a=1")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let echo = resp.text().await.unwrap();
    assert!(echo.contains("version=HTTP/1.1\n"), "{echo}");
    assert!(echo.contains("uri=/h2?x=1\n"), "{echo}");
    assert!(echo.contains("method=POST\n"), "{echo}");
    assert!(echo.contains("body-len=7\n"), "{echo}");
    assert_eq!(seen(&echo, "host"), [proxy.to_string().as_str()]);
    assert_eq!(
        seen(&echo, "x-forwarded-host"),
        [proxy.to_string().as_str()]
    );
    assert_eq!(seen(&echo, "cookie"), ["a=1"]);
}

#[tokio::test]
async fn keep_alive_connections_to_the_app_are_reused() {
    // Count accepted connections on the app side.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(|r| app("main", r)))
                    .await;
            });
        }
    });
    let up =
        Upstreams::from_targets(&[http_target(addr, "/")], UpstreamOptions::default()).unwrap();
    for _ in 0..5 {
        let resp = up.proxy(get("/"), ctx()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let _ = text(resp).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connect_method_is_refused() {
    let up = Upstreams::from_targets(
        &[UpstreamTarget::Static {
            code: 200,
            path: "/".into(),
        }],
        UpstreamOptions::default(),
    )
    .unwrap();
    let req = Request::builder()
        .method(Method::CONNECT)
        .uri("127.0.0.1:443")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let err = up.proxy(req, ctx()).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);
}

// A throwaway self-signed P-256 certificate for 127.0.0.1 / localhost, used only by the
// test TLS server below (valid until 2126).
const TEST_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUWnlf4i5vzjVFLHJwVF6ApIOYy5MwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyODE2MDE1OVoYDzIxMjYxMTA0
MTYwMTU5WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQ9Dl3g2MpK1EUp3P28tusd+JgvpBrNuEB8oCbmcjYlpvgG2C35/iKu
yiQAoL/DqbeMB3CEinjFnkisGfKGM2jQo28wbTAdBgNVHQ4EFgQU5d97b5Ui18BE
1Ps/ryhvLeVZpxMwHwYDVR0jBBgwFoAU5d97b5Ui18BE1Ps/ryhvLeVZpxMwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSAAwRQIgWpdnNUkmRz8YAffFMHWjWStTxm1EIY/U0clAt0PQ4UgCIQDt
KOv8AJ57chUzNW7FYiWVE83KpAJreJWwrlTlQHjc4A==
-----END CERTIFICATE-----
";
const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg0hnJBwRjoIvZhUHF
mQSrGTpCrq8AtPBZhnNYoMLMmFChRANCAAQ9Dl3g2MpK1EUp3P28tusd+JgvpBrN
uEB8oCbmcjYlpvgG2C35/iKuyiQAoL/DqbeMB3CEinjFnkisGfKGM2jQ
-----END PRIVATE KEY-----
";

async fn start_tls_app() -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(TEST_CERT.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(TEST_KEY.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
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
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service_fn(|r| app("tls", r)))
                    .await;
            });
        }
    });
    addr
}

fn https_target(addr: SocketAddr) -> UpstreamTarget {
    UpstreamTarget::Http {
        url: url::Url::parse(&format!("https://{addr}/")).unwrap(),
        path: "/".into(),
    }
}

#[tokio::test]
async fn https_upstream_with_an_untrusted_certificate_fails_unless_verification_is_skipped() {
    let addr = start_tls_app().await;

    let verified =
        Upstreams::from_targets(&[https_target(addr)], UpstreamOptions::default()).unwrap();
    let err = verified.proxy(get("/"), ctx()).await.unwrap_err();
    assert!(matches!(err, UpstreamError::ConnectFailed { .. }), "{err}");

    let insecure = UpstreamOptions {
        insecure_skip_verify: true,
        ..UpstreamOptions::default()
    };
    let up = Upstreams::from_targets(&[https_target(addr)], insecure).unwrap();
    let resp = up.proxy(get("/over-tls"), ctx()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let echo = text(resp).await;
    assert!(echo.starts_with("app=tls\n"), "{echo}");
    assert!(echo.contains("uri=/over-tls\n"), "{echo}");
}
