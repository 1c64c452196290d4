//! `authproxy demo`: a development OpenID Connect provider ([`idp`]) and a sample
//! app that shows the headers it receives ([`app`]).
//!
//! Both are for trying authproxy on a laptop, never for production: they refuse to
//! listen on anything but a loopback address, keep their state in memory, and the
//! identity provider signs in anyone with any name.

pub mod app;
pub mod cli;
pub mod idp;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub use app::run_app;
pub use cli::run_cli;
pub use idp::{run_idp, DemoClient};

/// Largest request body the demo servers read (login and token forms are tiny).
const MAX_BODY: usize = 64 * 1024;

/// Fails unless `listener` is bound to a loopback address: the demo servers sign in
/// anyone and must never be reachable from the network.
fn ensure_loopback(listener: &TcpListener, what: &str) -> io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to run the {what} on {addr}: it is for development only and listens on loopback addresses (127.0.0.1, ::1) only"),
        ))
    }
}

/// Serves HTTP/1.1 on `listener` with `handler` until `shutdown` completes, then
/// lets open connections finish (up to 5 s).
async fn serve<H, Fut>(listener: TcpListener, shutdown: impl Future, handler: H) -> io::Result<()>
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Accept errors (e.g. too many open files) are transient.
                        tracing::warn!(error = %e, "demo server: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let h = handler.clone();
                let svc = hyper::service::service_fn(move |req| {
                    let h = h.clone();
                    async move { Ok::<_, Infallible>(h(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "demo server: connection error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

/// Reads a request body of at most [`MAX_BODY`] bytes.
async fn read_body(body: Incoming) -> Result<Bytes, Response<Full<Bytes>>> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large or unreadable\n",
        )),
    }
}

fn response(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    response(status, "text/plain; charset=utf-8", body.to_owned())
}

fn html(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    response(status, "text/html; charset=utf-8", body)
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response<Full<Bytes>> {
    response(status, "application/json", v.to_string())
}

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    gotmpl::html_escape(s)
}

/// Shared look of the demo pages (no external resources, light and dark).
const DEMO_CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:0;\
background:#f4f5f7;color:#1b1d22;line-height:1.5}main{max-width:52rem;margin:0 auto;padding:1.5rem 1rem}\
.card{background:#fff;border:1px solid #d8dbe1;border-radius:12px;padding:1.5rem}\
.warn{background:#fff4ce;color:#4d3800;border:1px solid #e0c36a;border-radius:8px;padding:.75rem 1rem;margin:0 0 1rem}\
label{display:block;font-weight:600;margin:.75rem 0 .25rem}input[type=text],input[type=email]{width:100%;box-sizing:border-box;\
padding:.5rem .75rem;border:1px solid #9aa0ab;border-radius:6px;font:inherit;background:inherit;color:inherit}\
fieldset{border:1px solid #d8dbe1;border-radius:8px;margin:1rem 0;padding:.5rem 1rem}\
fieldset label{display:inline-flex;gap:.4rem;font-weight:400;margin:.25rem 1rem .25rem 0}\
button,.btn{display:inline-block;background:#4f46e5;color:#fff;border:0;border-radius:8px;padding:.6rem 1.2rem;\
font:inherit;font-weight:600;text-decoration:none;cursor:pointer}\
:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}table{border-collapse:collapse;width:100%;font-size:.9rem}\
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d8dbe1;vertical-align:top;word-break:break-all}\
tr.identity{background:#eef0ff}code{font-family:ui-monospace,Menlo,Consolas,monospace}\
@media(prefers-color-scheme:dark){body{background:#111318;color:#eceef2}.card{background:#1b1e25;border-color:#343945}\
.warn{background:#3a2f00;color:#ffe7a0;border-color:#6b5a17}tr.identity{background:#23263a}th,td{border-color:#343945}\
button,.btn{background:#818cf8;color:#111318}:focus-visible{outline-color:#93c5fd}}";
