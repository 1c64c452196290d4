//! The upstream application: an in-process hyper server on 127.0.0.1 that answers every request
//! with a JSON description of what it received (method, path, headers, body length and SHA-256),
//! serves `GET /bytes/N` (N deterministic bytes, streamed) and echoes WebSocket messages at `/ws`
//! after first sending the JSON description of the upgrade request.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// What the echo app saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoReply {
    /// Request method.
    pub method: String,
    /// Path and query as received.
    pub path: String,
    /// Headers, lower-case names, every value in order.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Body length in bytes.
    pub body_len: u64,
    /// Hex SHA-256 of the body.
    pub body_sha256: String,
}

impl EchoReply {
    /// The only value of header `name`; panics when it was sent more than once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let values = self.headers.get(&name.to_ascii_lowercase())?;
        assert_eq!(
            values.len(),
            1,
            "header {name} sent {} times: {values:?}",
            values.len()
        );
        values.first().map(String::as_str)
    }

    /// Every value of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// Cookie names the app received (from every `Cookie` header).
    pub fn cookie_names(&self) -> Vec<String> {
        self.header_all("cookie")
            .iter()
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.split('=').next())
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty())
            .collect()
    }
}

/// The bytes `GET /bytes/N` serves, for comparison.
pub fn pattern_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The running echo app; stops on drop.
pub struct EchoApp {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl EchoApp {
    /// Binds 127.0.0.1 on a free port and serves.
    pub async fn start() -> EchoApp {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind echo app");
        let addr = listener.local_addr().expect("echo app addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        handle(req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        EchoApp { addr, hits, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for EchoApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type AppBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn describe(parts: &http::request::Parts) -> EchoReply {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        headers
            .entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    EchoReply {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        headers,
        body_len: 0,
        body_sha256: String::new(),
    }
}

fn json(status: u16, reply: &EchoReply) -> Response<AppBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(reply).expect("JSON"))).boxed())
        .expect("response")
}

async fn handle(req: Request<Incoming>) -> Result<Response<AppBody>, Infallible> {
    if req.uri().path() == "/ws" && req.headers().contains_key("sec-websocket-key") {
        return Ok(websocket(req));
    }
    if let Some(n) = req.uri().path().strip_prefix("/bytes/") {
        if let Ok(n) = n.parse::<usize>() {
            return Ok(bytes_response(n));
        }
    }
    let (parts, mut body) = req.into_parts();
    let mut reply = describe(&parts);
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // A body cut short: answer 400 so a truncated upload cannot look like a success.
            return Ok(json(400, &reply));
        };
        if let Ok(data) = frame.into_data() {
            len += data.len() as u64;
            hasher.update(&data);
        }
    }
    reply.body_len = len;
    reply.body_sha256 = hex(&hasher.finalize());
    Ok(json(200, &reply))
}

fn bytes_response(n: usize) -> Response<AppBody> {
    let data = pattern_bytes(n);
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = data
        .chunks(16 * 1024)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(chunks));
    Response::builder()
        .status(200)
        .header("content-type", "application/octet-stream")
        .body(BodyExt::boxed(body))
        .expect("response")
}

fn websocket(req: Request<Incoming>) -> Response<AppBody> {
    let key = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()))
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let reply = describe(&parts);
    let req = Request::from_parts(parts, body);
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let hello = serde_json::to_string(&reply).expect("JSON");
        if ws.send(Message::text(hello)).await.is_err() {
            return;
        }
        while let Some(Ok(msg)) = ws.next().await {
            let echo = match msg {
                Message::Text(_) | Message::Binary(_) => msg,
                Message::Close(_) => break,
                _ => continue,
            };
            if ws.send(echo).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(101)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", key)
        .body(Full::new(Bytes::new()).boxed())
        .expect("response")
}
