//! Listeners: HTTP/1.1 and HTTP/2 (h2c / prior knowledge) on one port, upgrades (WebSocket),
//! and a graceful drain on shutdown. Knows nothing of routes, cookies or identity.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::Body;

/// Facts about the connection a request arrived on.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// Something that answers requests. Every error is already a response.
pub trait Handler: Send + Sync + 'static {
    /// State kept per connection (shared by the requests of one connection only).
    type Conn: Default + Send + Sync + 'static;

    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: ConnInfo,
        state: Arc<Self::Conn>,
    ) -> impl Future<Output = Response<Body>> + Send;
}

/// How long in-flight requests may take to finish after shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Serve `handler` on `listener` until `shutdown` resolves, then drain.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    builder.http2().timer(hyper_util::rt::TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = ConnInfo { peer, local };
                let handler = handler.clone();
                let state = Arc::new(H::Conn::default());
                let svc = service_fn(move |req| {
                    let handler = handler.clone();
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handler.handle(req, conn, state).await) }
                });
                let builder = builder.clone();
                let fut = graceful.watch(
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .into_owned(),
                );
                tokio::spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("drain timed out; closing remaining connections");
        }
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received; draining connections");
}
