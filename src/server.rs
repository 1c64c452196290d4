//! Listeners: HTTP/1.1 and HTTP/2 (h2c / prior knowledge) on one port, upgrades (WebSocket),
//! and a graceful drain on shutdown. Knows nothing of routes, cookies or identity.
//!
//! The listener limits (docs/limits.md) are enforced here: connection slots shared by the
//! listeners ([`ConnectionSlots`]), the request-head size (431), the header-read and idle
//! timeouts ([`conn`]), and the HTTP/2 stream and reset limits (hyper's h2 settings).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{StatusCode, Version};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::watch;

use crate::Body;

mod conn;
mod limits;
mod listener;
mod park;
#[cfg(test)]
mod tests;
mod workers;

use conn::{Activity, Check, Park, Slot, TrackedBody, TrackedIo};
pub use limits::{
    accept_backoff, connection_slots, fd_connection_cap, raise_fd_limit, ConnectionSlots,
    ListenerLimits, FD_RESERVE,
};
pub use listener::{take_inherited_sockets, Accepted, Listener, UNIX_PEER};
pub use workers::default_count as default_worker_count;
pub use workers::Workers;

/// Facts about the connection a request arrived on.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The connection arrived on the HTTPS listener.
    pub tls: bool,
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

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection that was asked to shut down (idle, or the server is stopping) may
/// take to do so before it is dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How a listener serves: its per-connection limits and the connection slots it draws from
/// (shared with the other listeners of the process).
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub limits: ListenerLimits,
    pub slots: ConnectionSlots,
    /// Serve each connection on one of these workers ([`Workers`]); `None`: on the runtime
    /// the listener runs on.
    pub workers: Option<Arc<Workers>>,
}

impl ServeOptions {
    /// Default limits and `max_connections` slots of its own.
    pub fn with_slots(max_connections: usize) -> Self {
        Self {
            limits: ListenerLimits::default(),
            slots: ConnectionSlots::new(max_connections),
            workers: None,
        }
    }
}

/// Serve `handler` over plain HTTP (HTTP/1.1 and h2c) on `listener` until `shutdown`
/// resolves, then drain.
pub async fn serve<H: Handler>(
    listener: impl Into<Listener>,
    handler: Arc<H>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener.into(), None, handler, opts, shutdown).await
}

/// Serve `handler` over HTTPS (HTTP/2 and HTTP/1.1 negotiated by ALPN) on `listener`.
pub async fn serve_tls<H: Handler>(
    listener: impl Into<Listener>,
    tls: Arc<rustls::ServerConfig>,
    handler: Arc<H>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve_with(listener.into(), Some(acceptor), handler, opts, shutdown).await
}

type Builder = auto::Builder<TokioExecutor>;

fn builder(limits: &ListenerLimits) -> Builder {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        // Header and idle timing is ours (see `conn`): hyper's timer cannot tell them apart.
        .header_read_timeout(None)
        // The read buffer bounds a request head that never completes; hyper's minimum is 8 KiB.
        // (`request_head_size` below applies the exact limit to complete heads.)
        .max_buf_size(limits.max_request_header_bytes.max(8192))
        .keep_alive(true);
    let header_list = u32::try_from(limits.max_request_header_bytes).unwrap_or(u32::MAX);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_pending_accept_reset_streams(limits.http2_max_pending_reset_streams)
        .max_local_error_reset_streams(limits.http2_max_local_reset_streams)
        .max_header_list_size(header_list);
    builder
}

async fn serve_with<H: Handler>(
    listener: Listener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handler: Arc<H>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let builder = Arc::new(builder(&opts.limits));
    let limits = Arc::new(opts.limits);
    // Every connection task holds a receiver: `stop` tells them to shut down, and
    // `closed()` resolves when the last one has ended.
    let (stop, stopped) = watch::channel(false);
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        // A free slot first: when every slot is taken, new connections wait in the kernel's
        // listen queue and cost nothing here.
        let permit = tokio::select! {
            p = opts.slots.acquire() => match p {
                Some(p) => p,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(s) => {
                backoff = Duration::ZERO;
                s
            }
            Err(e) => {
                backoff = accept_backoff(&e, backoff);
                if !backoff.is_zero() {
                    tracing::warn!(error = %e, retry_in = ?backoff, "accept failed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut shutdown => break,
                    }
                }
                continue;
            }
        };
        let conn = ConnInfo {
            peer,
            local,
            tls: tls.is_some(),
        };
        let task = ConnTask {
            handler: handler.clone(),
            builder: builder.clone(),
            limits: limits.clone(),
            conn,
            stop: stopped.clone(),
        };
        let tls = tls.clone();
        let Some(workers) = &opts.workers else {
            tokio::spawn(async move {
                let slot = (permit, crate::metrics::global().connection_opened());
                match stream {
                    Accepted::Tcp(s) => task.start(s, tls, slot).await,
                    Accepted::Unix(s) => task.start(s, tls, slot).await,
                }
            });
            continue;
        };
        // Hand the socket to a worker: deregistered from this runtime's reactor here,
        // registered with the worker's there.
        let handed = match stream {
            Accepted::Tcp(s) => s.into_std().map(Handed::Tcp),
            Accepted::Unix(s) => s.into_std().map(Handed::Unix),
        };
        let handed = match handed {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!(client = %peer, error = %e, "could not hand a connection to a worker");
                continue;
            }
        };
        workers.spawn_connection(move || async move {
            let slot = (permit, crate::metrics::global().connection_opened());
            let registered = match handed {
                Handed::Tcp(s) => tokio::net::TcpStream::from_std(s).map(Accepted::Tcp),
                Handed::Unix(s) => tokio::net::UnixStream::from_std(s).map(Accepted::Unix),
            };
            match registered {
                Ok(Accepted::Tcp(s)) => task.start(s, tls, slot).await,
                Ok(Accepted::Unix(s)) => task.start(s, tls, slot).await,
                Err(e) => tracing::debug!(client = %peer, error = %e, "a worker could not take a connection"),
            }
        });
    }
    drop(listener);
    drop(stopped);
    let _ = stop.send(true);
    tokio::select! {
        () = stop.closed() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("drain timed out; closing remaining connections");
        }
    }
    Ok(())
}

/// An accepted socket on its way to a worker.
enum Handed {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

/// Everything one connection needs.
struct ConnTask<H> {
    handler: Arc<H>,
    builder: Arc<Builder>,
    limits: Arc<ListenerLimits>,
    conn: ConnInfo,
    stop: watch::Receiver<bool>,
}

impl<H: Handler> ConnTask<H> {
    /// The connection, over TLS when the listener has it. Each stream kind with and without
    /// TLS is its own task type, so a plain connection's task is not sized for a TLS session.
    async fn start<S>(self, stream: S, tls: Option<tokio_rustls::TlsAcceptor>, slot: Slot)
    where
        S: park::Socket + tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        match tls {
            None => self.run_parkable(stream, slot).await,
            Some(acceptor) => Box::pin(self.run_tls(stream, acceptor, slot)).await,
        }
    }

    /// The TLS handshake, then [`ConnTask::run`] over the TLS stream.
    async fn run_tls<S>(self, stream: S, acceptor: tokio_rustls::TlsAcceptor, slot: Slot)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let peer = self.conn.peer;
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(s)) => self.run(s, slot).await,
            Ok(Err(e)) => {
                tracing::debug!(client = %peer, error = %e, "TLS handshake failed");
            }
            Err(_) => {
                tracing::debug!(client = %peer, "TLS handshake timed out");
            }
        }
    }

    /// A connection whose hyper state lives as long as it does (TLS: the session is part of
    /// the stream hyper holds).
    async fn run<S>(mut self, stream: S, slot: Slot)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let activity = Arc::new(Activity::new());
        let svc = self.service(&activity);
        let io = TokioIo::new(TrackedIo::new(stream, activity.clone(), Some(slot)));
        let _ = self.serve(io, &activity, svc, false).await;
    }

    /// A plain TCP or Unix connection: while an HTTP/1.1 connection is idle, its hyper state
    /// (buffers included) is dropped and only the socket kept ([`park`]), until the socket has
    /// something to read again.
    async fn run_parkable<S>(mut self, socket: S, slot: Slot)
    where
        S: park::Socket + tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let activity = Arc::new(Activity::new());
        let svc = self.service(&activity);
        let shared = park::Shared::new(socket, slot);
        loop {
            let io = park::SharedIo(shared.clone());
            let io = TokioIo::new(TrackedIo::new(io, activity.clone(), None));
            // Boxed: hyper's connection state lives in this box and is freed when the
            // connection parks, leaving the task itself small.
            if Box::pin(self.serve(io, &activity, svc.clone(), true)).await == Served::Ended {
                return;
            }
            // Parked: only the socket, until the client sends its next request (or closes),
            // the idle timeout passes, or the server stops.
            let idle_left = activity.idle_left(self.limits.idle_timeout);
            tokio::select! {
                ready = shared.readable() => if ready.is_err() { return },
                _ = self.stop.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(idle_left) => return,
            }
        }
    }

    /// The connection's hyper service: every request counted in `activity`, heads over
    /// `max_request_header_bytes` answered 431.
    fn service(&self, activity: &Arc<Activity>) -> ConnService<H> {
        ConnService {
            handler: self.handler.clone(),
            limits: self.limits.clone(),
            conn: self.conn,
            state: Arc::new(H::Conn::default()),
            activity: activity.clone(),
        }
    }

    /// Serves `io` with hyper until the connection ends, is idle too long, sends a request head
    /// too slowly, or the server stops ([`Served::Ended`]); or, when `parkable`, until it has
    /// been idle for [`park::PARK_AFTER`] ([`Served::Parked`], hyper's state dropped).
    async fn serve<I>(
        &mut self,
        io: TokioIo<I>,
        activity: &Arc<Activity>,
        svc: ConnService<H>,
        parkable: bool,
    ) -> Served
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let conn = self.conn;
        let served = self.builder.serve_connection_with_upgrades(io, svc);
        tokio::pin!(served);
        let limits = self.limits.clone();
        let check = || activity.check(limits.header_read_timeout, limits.idle_timeout);
        // The next wake-up: what the timeouts say; a parkable connection also looks at least
        // every PARK_AFTER (its state changes without waking this task: a response ends).
        let next = |d: Duration| match activity.park(park::PARK_AFTER) {
            _ if !parkable => Some(d),
            Park::In(p) => Some(d.min(p)),
            Park::Now => None,
            Park::No => Some(d.min(park::PARK_AFTER)),
        };
        let first = match check() {
            Check::Wait(d) => next(d).unwrap_or(Duration::ZERO),
            _ => Duration::ZERO,
        };
        let timer = tokio::time::sleep(first);
        tokio::pin!(timer);
        let mut closing = false;
        loop {
            tokio::select! {
                done = served.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(client = %conn.peer, error = %e, "connection ended with an error");
                    }
                    return Served::Ended;
                }
                _ = self.stop.wait_for(|stop| *stop), if !closing => {
                    closing = true;
                    served.as_mut().graceful_shutdown();
                    timer.as_mut().reset(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                }
                () = &mut timer => match check() {
                    Check::Wait(d) => match next(d) {
                        Some(d) => timer.as_mut().reset(tokio::time::Instant::now() + d),
                        None if !closing => return Served::Parked,
                        None => timer.as_mut().reset(tokio::time::Instant::now() + d),
                    },
                    Check::HeadTimeout => {
                        tracing::debug!(client = %conn.peer, timeout = ?limits.header_read_timeout,
                            "request head not received within header_read_timeout; connection dropped");
                        return Served::Ended;
                    }
                    Check::Idle if !closing => {
                        closing = true;
                        served.as_mut().graceful_shutdown();
                        timer.as_mut().reset(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                    }
                    Check::Idle => return Served::Ended,
                },
            }
        }
    }
}

/// How [`ConnTask::serve`] ended.
#[derive(Debug, PartialEq, Eq)]
enum Served {
    Ended,
    Parked,
}

/// The hyper service of one connection.
struct ConnService<H: Handler> {
    handler: Arc<H>,
    limits: Arc<ListenerLimits>,
    conn: ConnInfo,
    state: Arc<H::Conn>,
    activity: Arc<Activity>,
}

impl<H: Handler> Clone for ConnService<H> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            limits: self.limits.clone(),
            conn: self.conn,
            state: self.state.clone(),
            activity: self.activity.clone(),
        }
    }
}

type ServiceFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<Response<TrackedBody>, Infallible>> + Send>>;

impl<H: Handler> hyper::service::Service<Request<Incoming>> for ConnService<H> {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let guard = self.activity.request_started(req.version());
        let handler = self.handler.clone();
        let state = self.state.clone();
        let conn = self.conn;
        let too_large = request_head_size(&req) > self.limits.max_request_header_bytes;
        // Boxed per request: hyper keeps a connection's service future in a box it reuses
        // for the connection's life, so an unboxed (several KiB) future would stay
        // allocated on every idle keep-alive connection.
        Box::pin(async move {
            let resp = if too_large {
                header_too_large(req.version())
            } else {
                handler.handle(req, conn, state).await
            };
            Ok::<_, Infallible>(resp.map(|inner| TrackedBody {
                inner,
                _guard: guard,
            }))
        })
    }
}

/// The size of a request head as the client sent it: request line and header fields, each
/// with its separators (HTTP/2 pseudo-headers counted in the request line).
fn request_head_size<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + target + " HTTP/1.1\r\n".len();
    req.headers().iter().fold(line, |n, (name, value)| {
        n + name.as_str().len() + value.len() + 4
    })
}

/// 431 for a request head over `max_request_header_bytes` (hyper answers the same for heads
/// that do not even fit its read buffer).
fn header_too_large(version: Version) -> Response<Body> {
    let mut resp = crate::response::page(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "text/plain; charset=utf-8",
        "Request header fields too large\n",
    );
    if version < Version::HTTP_2 {
        resp.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    resp
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
