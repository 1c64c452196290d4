//! A bare reverse proxy on the same stack as authproxy (tokio, hyper 1, hyper-util's pooled
//! client) with no authentication at all: the benchmark's second baseline, so the ratio
//! isolates what the cookie check, identity headers and policy cost.
//!
//! Usage: `bare_proxy LISTEN_ADDR UPSTREAM_AUTHORITY` (e.g. `127.0.0.1:9000 127.0.0.1:8080`).

use std::convert::Infallible;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

type Body = http_body_util::combinators::BoxBody<bytes::Bytes, hyper::Error>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_proxy LISTEN_ADDR UPSTREAM_AUTHORITY");
        std::process::exit(2);
    };
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let upstream: std::sync::Arc<str> = upstream.into();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |mut req: Request<Incoming>| {
                let client = client.clone();
                let upstream = upstream.clone();
                async move {
                    let pq = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/");
                    let uri = format!("http://{upstream}{pq}");
                    *req.uri_mut() = match uri.parse() {
                        Ok(u) => u,
                        Err(_) => return Ok::<_, Infallible>(status(400)),
                    };
                    Ok(match client.request(req).await {
                        Ok(resp) => resp.map(|b| b.boxed()),
                        Err(_) => status(502),
                    })
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn status(code: u16) -> Response<Body> {
    let mut r = Response::new(
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::BAD_GATEWAY);
    r
}
