//! The gRPC app of tests/e2e_grpc.rs: `service demo.Echo` (and `demo.SecureEcho`) on a real
//! tonic server, cleartext or TLS, with its messages written by hand with prost (no protoc).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use tonic::codegen::Service;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::server::{
    ClientStreamingService, Grpc, ServerStreamingService, StreamingService, UnaryService,
};
use tonic::transport::Identity;
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

use super::TLS;

// ---------------------------------------------------------------- the messages (no protoc)

/// `demo.Msg { string text = 1; bytes blob = 2; uint32 n = 3; }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(bytes = "vec", tag = "2")]
    pub blob: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub n: u32,
}

pub fn msg(text: &str) -> Msg {
    Msg {
        text: text.into(),
        ..Msg::default()
    }
}

// ---------------------------------------------------------------- the gRPC server

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type MsgStream = Pin<Box<dyn Stream<Item = Result<Msg, Status>> + Send>>;

/// `service demo.Echo` (and `demo.SecureEcho`, the same methods): written the way tonic's
/// generated code is, on `tonic::server::Grpc`.
#[derive(Clone)]
struct EchoServer {
    name: &'static str,
    calls: Arc<AtomicUsize>,
}

/// What the app saw of the request: its user (set by authproxy) and `te`.
fn seen(name: &str, md: &MetadataMap) -> String {
    let get = |k: &str| {
        md.get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    format!(
        "server={name} user={} te={}",
        get("x-forwarded-user"),
        get("te")
    )
}

struct Unary(&'static str);
impl UnaryService<Msg> for Unary {
    type Response = Msg;
    type Future = BoxFuture<Result<Response<Msg>, Status>>;
    fn call(&mut self, req: Request<Msg>) -> Self::Future {
        let seen = seen(self.0, req.metadata());
        let m = req.into_inner();
        Box::pin(async move {
            Ok(Response::new(Msg {
                text: format!("{} {seen}", m.text),
                n: u32::try_from(m.blob.len()).unwrap(),
                blob: m.blob,
            }))
        })
    }
}

/// Always fails: a trailers-only response with custom metadata.
struct Fail;
impl UnaryService<Msg> for Fail {
    type Response = Msg;
    type Future = BoxFuture<Result<Response<Msg>, Status>>;
    fn call(&mut self, _req: Request<Msg>) -> Self::Future {
        Box::pin(async move { Err(failure("quota exhausted")) })
    }
}

fn failure(message: &str) -> Status {
    let mut md = MetadataMap::new();
    md.insert("x-reason", MetadataValue::from_static("no-quota"));
    md.insert_bin(
        "x-detail-bin",
        MetadataValue::from_bytes(&[0, 1, 2, 0xfe, 0xff]),
    );
    Status::with_metadata(Code::FailedPrecondition, message, md)
}

/// `n` messages numbered 0..n, then, for text `fail`, an error in the trailers.
struct ServerStream;
impl ServerStreamingService<Msg> for ServerStream {
    type Response = Msg;
    type ResponseStream = MsgStream;
    type Future = BoxFuture<Result<Response<MsgStream>, Status>>;
    fn call(&mut self, req: Request<Msg>) -> Self::Future {
        let m = req.into_inner();
        Box::pin(async move {
            let mut items: Vec<Result<Msg, Status>> = (0..m.n)
                .map(|i| {
                    Ok(Msg {
                        text: format!("item {i}"),
                        n: i,
                        ..Msg::default()
                    })
                })
                .collect();
            if m.text == "fail" {
                items.push(Err(failure("stream stopped")));
            }
            Ok(Response::new(
                Box::pin(futures_util::stream::iter(items)) as MsgStream
            ))
        })
    }
}

/// Counts the messages and bytes it received.
struct ClientStream;
impl ClientStreamingService<Msg> for ClientStream {
    type Response = Msg;
    type Future = BoxFuture<Result<Response<Msg>, Status>>;
    fn call(&mut self, req: Request<Streaming<Msg>>) -> Self::Future {
        Box::pin(async move {
            let mut inbound = req.into_inner();
            let (mut count, mut bytes, mut texts) = (0u32, 0usize, Vec::new());
            while let Some(m) = inbound.message().await? {
                count += 1;
                bytes += m.blob.len();
                texts.push(m.text);
            }
            Ok(Response::new(Msg {
                text: format!("{} bytes={bytes}", texts.join(",")),
                n: count,
                ..Msg::default()
            }))
        })
    }
}

/// Answers every message as soon as it arrives.
struct Bidi;
impl StreamingService<Msg> for Bidi {
    type Response = Msg;
    type ResponseStream = MsgStream;
    type Future = BoxFuture<Result<Response<MsgStream>, Status>>;
    fn call(&mut self, req: Request<Streaming<Msg>>) -> Self::Future {
        let inbound = req.into_inner();
        Box::pin(async move {
            let replies = futures_util::stream::unfold(inbound, |mut inbound| async move {
                match inbound.message().await {
                    Ok(Some(m)) => Some((Ok(msg(&format!("echo {}", m.text))), inbound)),
                    Ok(None) | Err(_) => None,
                }
            });
            Ok(Response::new(Box::pin(replies) as MsgStream))
        })
    }
}

impl Service<http::Request<tonic::body::Body>> for EchoServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let name = self.name;
        let path = req.uri().path().to_owned();
        Box::pin(async move {
            let mut grpc = Grpc::new(ProstCodec::<Msg, Msg>::default());
            let method = path.strip_prefix(&format!("/demo.{name}/"));
            Ok(match method {
                Some("Unary") => grpc.unary(Unary(name), req).await,
                Some("Fail") => grpc.unary(Fail, req).await,
                Some("ServerStream") => grpc.server_streaming(ServerStream, req).await,
                Some("ClientStream") => grpc.client_streaming(ClientStream, req).await,
                Some("Bidi") => grpc.streaming(Bidi, req).await,
                _ => Status::unimplemented(format!("no method {path}")).into_http(),
            })
        })
    }
}

/// Starts a tonic server for `demo.<name>` on 127.0.0.1 (with TLS and ALPN h2 when `tls`).
pub async fn start_grpc_server(name: &'static str, tls: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(AtomicUsize::new(0));
    let svc = EchoServer {
        name,
        calls: calls.clone(),
    };
    let mut builder = tonic::transport::Server::builder();
    if tls {
        let cert = std::fs::read(format!("{TLS}/server.pem")).unwrap();
        let key = std::fs::read(format!("{TLS}/server.key")).unwrap();
        builder = builder
            .tls_config(
                tonic::transport::ServerTlsConfig::new().identity(Identity::from_pem(cert, key)),
            )
            .unwrap();
    }
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        builder.serve_with_incoming(svc, incoming).await.unwrap();
    });
    (port, calls)
}
