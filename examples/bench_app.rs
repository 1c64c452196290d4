//! The app behind the proxies in the WebSocket and streaming cases of `bench/run.sh`: one
//! HTTP/1.1 server with
//!
//! * `GET /ws` (an `Upgrade: websocket` request): a WebSocket echo, every text or binary message
//!   sent back as it came;
//! * `GET /big?bytes=N`: a response body of N bytes (default 10 MiB), in 64 KiB chunks;
//! * `POST /upload` (any method with a body): reads the whole body and answers its length;
//! * `GET /slow?chunks=N&ms=M`: a chunked response of N small chunks (default 5), one every M
//!   milliseconds (default 200), the first one at once, so a client sees whether a proxy
//!   forwards the first chunk straight away or buffers the stream;
//! * anything else: `200` with a small body.
//!
//! Usage: `bench_app LISTEN_ADDR` (e.g. `127.0.0.1:9100`). Prints `listening` once bound.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

const CHUNK: usize = 64 * 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(listen) = std::env::args().nth(1) else {
        eprintln!("usage: bench_app LISTEN_ADDR");
        std::process::exit(2);
    };
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening");
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let chunk = chunk.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, chunk.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(mut req: Request<Incoming>, chunk: Bytes) -> Result<Response<BoxBody>, Infallible> {
    let query = req.uri().query().unwrap_or("").to_owned();
    let param = |name: &str, default: u64| -> u64 {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(default)
    };
    let path = req.uri().path().to_owned();
    let is_upgrade = req
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if path == "/ws" && is_upgrade {
        let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
            return Ok(text(StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key"));
        };
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let mut ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            while let Some(Ok(msg)) = ws.next().await {
                if msg.is_text() || msg.is_binary() {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                } else if msg.is_close() {
                    break;
                }
            }
        });
        let mut resp = Response::new(empty());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert(
            hyper::header::UPGRADE,
            HeaderValue::from_static("websocket"),
        );
        h.insert(
            hyper::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
        if let Ok(accept) = derive_accept_key(key.as_bytes()).parse() {
            h.insert("sec-websocket-accept", accept);
        }
        return Ok(resp);
    }
    match path.as_str() {
        "/big" => Ok(Response::new(
            Big {
                chunk,
                left: param("bytes", 10 * 1024 * 1024),
            }
            .boxed(),
        )),
        "/slow" => Ok(Response::new(
            Slow {
                left: param("chunks", 5),
                every: Duration::from_millis(param("ms", 200)),
                sleep: None,
            }
            .boxed(),
        )),
        "/upload" => {
            let mut body = req.into_body();
            let mut total: u64 = 0;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => total += f.data_ref().map_or(0, |d| d.len() as u64),
                    Err(_) => return Ok(text(StatusCode::BAD_REQUEST, "body read failed")),
                }
            }
            Ok(text(StatusCode::OK, &format!("{total}\n")))
        }
        _ => Ok(text(StatusCode::OK, "hello from the bench app\n")),
    }
}

fn empty() -> BoxBody {
    http_body_util::Empty::new().boxed()
}

fn text(status: StatusCode, body: &str) -> Response<BoxBody> {
    let mut r = Response::new(http_body_util::Full::new(Bytes::from(body.to_owned())).boxed());
    *r.status_mut() = status;
    r
}

/// `left` bytes of `x`, in slices of one shared chunk (no copy per response).
struct Big {
    chunk: Bytes,
    left: u64,
}

impl Body for Big {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

/// `left` chunks of one line each, the first at once, then one every `every`; no length, so
/// HTTP/1.1 sends it chunked.
struct Slow {
    left: u64,
    every: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for Slow {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        if let Some(sleep) = self.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let every = self.every;
        self.sleep = Some(Box::pin(tokio::time::sleep(every)));
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"chunk\n")))))
    }
}
