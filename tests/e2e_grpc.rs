//! End to end: gRPC through the real authproxy binary. A real tonic gRPC server is the upstream
//! (cleartext `h2c://`, and TLS where HTTP/2 is chosen by ALPN), a real tonic client calls it
//! through authproxy's plain (h2c prior knowledge) and TLS (ALPN h2) listeners, authenticated
//! with htpasswd basic auth. Unary, server streaming, client streaming and bidirectional
//! streaming calls, an error status with custom trailers, a trailers-only response and a
//! message over 1 MiB. The routes come from the example in docs/upstreams.md.

mod grpc;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Response, Status};
use tonic_prost::ProstCodec;

use grpc::{msg, start_grpc_server, Msg};
use support::{free_port, Proxy, ProxyConfig};

const TLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
/// Every call is bounded by this.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- authproxy and the client

/// The upstreams example of docs/upstreams.md ("gRPC and HTTP/2"), with the test's ports.
fn docs_example(h2c_port: u16, tls_port: u16) -> String {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/upstreams.md")).unwrap();
    let section = &doc[doc.find("## gRPC and HTTP/2").expect("docs section")..];
    let start = section.find("```yaml\n").expect("yaml example") + "```yaml\n".len();
    let yaml = &section[start..];
    let yaml = &yaml[..yaml.find("```").unwrap()];
    assert!(yaml.contains("h2c://127.0.0.1:50051") && yaml.contains("https://127.0.0.1:50052"));
    yaml.replace("127.0.0.1:50051", &format!("127.0.0.1:{h2c_port}"))
        .replace("127.0.0.1:50052", &format!("127.0.0.1:{tls_port}"))
}

struct Stack {
    proxy: Proxy,
    https_port: u16,
    h2c_calls: Arc<AtomicUsize>,
    tls_calls: Arc<AtomicUsize>,
}

async fn start() -> Stack {
    let (h2c_port, h2c_calls) = start_grpc_server("Echo", false).await;
    let (tls_port, tls_calls) = start_grpc_server("SecureEcho", true).await;
    let dir = support::log_dir();
    let n = free_port();
    let htpasswd = dir.join(format!("grpc-htpasswd-{n}"));
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();

    let port = free_port();
    let https_port = free_port();
    // The listeners and identity headers as legacy flags, converted into the alpha config's
    // sections (with --alpha-config every section comes from the file, as in oauth2-proxy).
    let legacy = ProxyConfig::bare(port)
        .set("http-address", &format!("127.0.0.1:{port}"))
        .set("https-address", &format!("127.0.0.1:{https_port}"))
        .set("tls-cert-file", &format!("{TLS}/server.pem"))
        .set("tls-key-file", &format!("{TLS}/server.key"))
        .set("upstream", "http://127.0.0.1:9/")
        .set("provider", "github")
        .set("client-id", support::CLIENT_ID)
        .set("client-secret", support::CLIENT_SECRET)
        .set("cookie-secret", support::COOKIE_SECRET)
        .set("email-domain", "*")
        .set("htpasswd-file", htpasswd.to_str().unwrap());
    // Sign-in is htpasswd basic auth only; the GitHub endpoints are never contacted.
    let providers = format!(
        "providers:\n  - id: github\n    provider: github\n    clientID: {}\n    clientSecret: {}\n    loginURL: http://127.0.0.1:9/login\n    redeemURL: http://127.0.0.1:9/token\n    validateURL: http://127.0.0.1:9/api\n",
        support::CLIENT_ID,
        support::CLIENT_SECRET
    );
    let alpha = dir.join(format!("grpc-alpha-{n}.yaml"));
    let mut config = legacy.into_alpha(&providers, &alpha);
    for flag in ["https-address", "tls-cert-file", "tls-key-file"] {
        config = config.remove(flag);
    }
    // The converted upstreamConfig is replaced by the example of docs/upstreams.md.
    let converted = std::fs::read_to_string(&alpha).unwrap();
    let mut yaml = String::new();
    let mut in_upstreams = false;
    for line in converted.lines() {
        if !line.is_empty() && !line.starts_with([' ', '#']) {
            in_upstreams = line.starts_with("upstreamConfig:");
        }
        if !in_upstreams {
            yaml.push_str(line);
            yaml.push('\n');
        }
    }
    yaml.push_str(&docs_example(h2c_port, tls_port));
    std::fs::write(&alpha, yaml).unwrap();
    let proxy = Proxy::start(config).await;
    Stack {
        proxy,
        https_port,
        h2c_calls,
        tls_calls,
    }
}

/// A gRPC client over h2c (prior knowledge) to the plain listener.
async fn plain_client(stack: &Stack) -> tonic::client::Grpc<Channel> {
    let channel = Endpoint::from_shared(stack.proxy.url(""))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

/// A gRPC client over TLS (ALPN h2) to the HTTPS listener, trusting the test CA.
async fn tls_client(stack: &Stack) -> tonic::client::Grpc<Channel> {
    let ca = std::fs::read(format!("{TLS}/ca.pem")).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", stack.https_port))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

fn authed<T>(message: T) -> Request<T> {
    let mut req = Request::new(message);
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    req.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Basic {basic}")).unwrap(),
    );
    req
}

fn path(service: &str, method: &str) -> PathAndQuery {
    PathAndQuery::try_from(format!("/demo.{service}/{method}")).unwrap()
}

fn codec() -> ProstCodec<Msg, Msg> {
    ProstCodec::default()
}

async fn unary(
    client: &mut tonic::client::Grpc<Channel>,
    service: &str,
    method: &str,
    req: Request<Msg>,
) -> Result<Response<Msg>, Status> {
    tokio::time::timeout(CALL_TIMEOUT, async {
        client.ready().await.unwrap();
        client.unary(req, path(service, method), codec()).await
    })
    .await
    .expect("call within the timeout")
}

/// 3 MiB of deterministic bytes.
fn large_blob() -> Vec<u8> {
    (0..3 * 1024 * 1024)
        .map(|i: usize| (i.wrapping_mul(31) % 251) as u8)
        .collect()
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_calls_and_a_large_message_reach_an_h2c_grpc_app_with_basic_auth() {
    let stack = start().await;
    let mut client = plain_client(&stack).await;

    let resp = unary(&mut client, "Echo", "Unary", authed(msg("hello")))
        .await
        .unwrap();
    // authproxy's identity header reached the app, and so did `te: trailers`.
    assert_eq!(
        resp.into_inner().text,
        "hello server=Echo user=alice te=trailers"
    );

    let blob = large_blob();
    let big = Msg {
        text: "big".into(),
        blob: blob.clone(),
        n: 0,
    };
    let resp = unary(&mut client, "Echo", "Unary", authed(big))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.n as usize, blob.len());
    assert!(resp.blob == blob, "the 3 MiB message came back intact");

    // Without credentials authproxy answers its sign-in page with 403 (as oauth2-proxy does),
    // wrong credentials get 401: plain HTTP errors, which the client reports with the HTTP
    // status (tonic as INTERNAL naming it; grpc-go maps them to PERMISSION_DENIED and
    // UNAUTHENTICATED). The app never sees these calls.
    let before = stack.h2c_calls.load(Ordering::SeqCst);
    let err = unary(&mut client, "Echo", "Unary", Request::new(msg("anonymous")))
        .await
        .unwrap_err();
    assert!(err.message().contains("403 Forbidden"), "{err:?}");
    let mut wrong = Request::new(msg("wrong password"));
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:guess");
    wrong.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Basic {basic}")).unwrap(),
    );
    let err = unary(&mut client, "Echo", "Unary", wrong)
        .await
        .unwrap_err();
    assert!(err.message().contains("401 Unauthorized"), "{err:?}");
    assert_eq!(stack.h2c_calls.load(Ordering::SeqCst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_client_and_bidirectional_streaming_pass_through() {
    let stack = start().await;
    let mut client = plain_client(&stack).await;

    // Server streaming.
    let resp = tokio::time::timeout(CALL_TIMEOUT, async {
        client.ready().await.unwrap();
        let req = Msg { n: 50, ..msg("go") };
        client
            .server_streaming(authed(req), path("Echo", "ServerStream"), codec())
            .await
    })
    .await
    .unwrap()
    .unwrap();
    let mut inbound = resp.into_inner();
    let mut got = Vec::new();
    while let Some(m) = tokio::time::timeout(CALL_TIMEOUT, inbound.message())
        .await
        .unwrap()
        .unwrap()
    {
        got.push(m.n);
    }
    assert_eq!(got, (0..50).collect::<Vec<_>>());

    // Client streaming: 20 messages of 100 KiB each.
    let outbound = futures_util::stream::iter((0..20).map(|i| Msg {
        text: format!("m{i}"),
        blob: vec![7; 100 * 1024],
        n: i,
    }));
    let resp = tokio::time::timeout(CALL_TIMEOUT, async {
        client.ready().await.unwrap();
        client
            .client_streaming(authed(outbound), path("Echo", "ClientStream"), codec())
            .await
    })
    .await
    .unwrap()
    .unwrap()
    .into_inner();
    assert_eq!(resp.n, 20);
    let texts: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(
        resp.text,
        format!("{} bytes={}", texts.join(","), 20 * 100 * 1024)
    );

    // Bidirectional, in lock step: each message is sent only after the answer to the previous
    // one arrived, which cannot happen if either direction were buffered.
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(1);
    let outbound =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    tx.send(msg("ping 0")).await.unwrap();
    let resp = tokio::time::timeout(CALL_TIMEOUT, async {
        client.ready().await.unwrap();
        client
            .streaming(authed(outbound), path("Echo", "Bidi"), codec())
            .await
    })
    .await
    .unwrap()
    .unwrap();
    let mut inbound = resp.into_inner();
    for i in 0..10 {
        let reply = tokio::time::timeout(CALL_TIMEOUT, inbound.message())
            .await
            .expect("the reply arrives while the request stream is still open")
            .unwrap()
            .unwrap();
        assert_eq!(reply.text, format!("echo ping {i}"));
        if i < 9 {
            tx.send(msg(&format!("ping {}", i + 1))).await.unwrap();
        }
    }
    drop(tx);
    let end = tokio::time::timeout(CALL_TIMEOUT, inbound.message())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None)), "the call ends cleanly: {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_and_custom_trailers_reach_the_client() {
    let stack = start().await;
    let mut client = plain_client(&stack).await;

    let check = |err: &Status, message: &str| {
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        assert_eq!(err.message(), message);
        assert_eq!(err.metadata().get("x-reason").unwrap(), "no-quota");
        assert_eq!(
            err.metadata()
                .get_bin("x-detail-bin")
                .unwrap()
                .to_bytes()
                .unwrap()
                .as_ref(),
            [0, 1, 2, 0xfe, 0xff]
        );
    };

    // A unary error is a trailers-only response (grpc-status in the only HEADERS frame).
    let err = unary(&mut client, "Echo", "Fail", authed(msg("x")))
        .await
        .unwrap_err();
    check(&err, "quota exhausted");

    // After three messages the status comes in real trailers.
    let resp = tokio::time::timeout(CALL_TIMEOUT, async {
        client.ready().await.unwrap();
        let req = Msg {
            n: 3,
            ..msg("fail")
        };
        client
            .server_streaming(authed(req), path("Echo", "ServerStream"), codec())
            .await
    })
    .await
    .unwrap()
    .unwrap();
    let mut inbound = resp.into_inner();
    for i in 0..3 {
        let m = inbound.message().await.unwrap().unwrap();
        assert_eq!(m.n, i);
    }
    let err = tokio::time::timeout(CALL_TIMEOUT, inbound.message())
        .await
        .unwrap()
        .unwrap_err();
    check(&err, "stream stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_to_authproxy_and_to_an_upstream_that_selects_h2_by_alpn() {
    let stack = start().await;
    let mut client = tls_client(&stack).await;

    // TLS to authproxy, TLS (h2 by ALPN) to the app: the tonic server speaks nothing but
    // HTTP/2, so an answer proves the ALPN negotiation.
    let resp = unary(&mut client, "SecureEcho", "Unary", authed(msg("over tls")))
        .await
        .unwrap();
    assert_eq!(
        resp.into_inner().text,
        "over tls server=SecureEcho user=alice te=trailers"
    );
    assert_eq!(stack.tls_calls.load(Ordering::SeqCst), 1);

    let blob = large_blob();
    let big = Msg {
        text: "big".into(),
        blob: blob.clone(),
        n: 0,
    };
    let resp = unary(&mut client, "SecureEcho", "Unary", authed(big))
        .await
        .unwrap()
        .into_inner();
    assert!(resp.blob == blob);

    let err = unary(&mut client, "SecureEcho", "Fail", authed(msg("x")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.metadata().get("x-reason").unwrap(), "no-quota");

    // The same TLS client reaches the h2c app by its path.
    let resp = unary(&mut client, "Echo", "Unary", authed(msg("mixed")))
        .await
        .unwrap();
    assert_eq!(
        resp.into_inner().text,
        "mixed server=Echo user=alice te=trailers"
    );
    assert_eq!(stack.h2c_calls.load(Ordering::SeqCst), 1);
}
