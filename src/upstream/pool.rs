//! Keep-alive HTTP/1.1 connections to one plain-HTTP or Unix-socket upstream, pooled per
//! thread.
//!
//! hyper-util's pooled client keeps every idle connection in one map behind one mutex that
//! every request of the process takes twice (check-out and return), and a connection opened
//! on one thread is handed to requests on any other. Here each thread (each serving worker,
//! see `server/workers.rs`) has its own idle list: a request takes a connection its own
//! worker opened, drives it on the same thread and reactor, and returns it there. The
//! per-thread list has a mutex only so the idle sweep can reach it; requests of one worker
//! never contend with another worker's.
//!
//! A connection goes back to the idle list once its response body has been read to the end
//! (a body dropped half-read closes the connection, as it must for HTTP/1.1). A pooled
//! connection the upstream has closed meanwhile is skipped; a request that could not even be
//! queued on a reused connection (the upstream closed it just then) is retried once on a new
//! connection, as Go's transport and hyper-util do. Idle connections older than
//! `pool_idle_timeout` are closed, at check-out and by a sweep.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use thread_local::ThreadLocal;
use tokio::time::Instant;

use super::http::OutBody;

/// At most this many idle connections per thread and upstream; more are closed.
const MAX_IDLE_PER_THREAD: usize = 256;

/// Where new connections go.
#[derive(Debug, Clone)]
pub(super) enum Dial {
    /// TCP to `host` (a name or an IP address without brackets) and `port`.
    Tcp { host: Arc<str>, port: u16 },
    /// A Unix socket.
    Unix(Arc<std::path::Path>),
}

/// Why a request did not get a response.
#[derive(Debug)]
pub(super) enum PoolError {
    /// No connection could be made (refused, unreachable, timed out, name not resolved).
    Connect(std::io::Error),
    /// The connection failed while sending the request or reading the response head.
    Http(hyper::Error),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Connect(e) => write!(f, "connect: {e}"),
            PoolError::Http(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Connect(e) => Some(e),
            PoolError::Http(e) => Some(e),
        }
    }
}

struct Idle {
    sender: SendRequest<OutBody>,
    since: Instant,
}

/// The connections to one upstream.
pub(super) struct Pool {
    dial: Dial,
    connect_timeout: Duration,
    idle_timeout: Duration,
    idle: ThreadLocal<Mutex<Vec<Idle>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("dial", &self.dial)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool for `dial`; with a runtime at hand, a sweep closes idle connections past
    /// `idle_timeout` (it ends when the pool is dropped).
    pub(super) fn new(dial: Dial, connect_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        let pool = Arc::new(Self {
            dial,
            connect_timeout,
            idle_timeout,
            idle: ThreadLocal::new(),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(sweep(Arc::downgrade(&pool)));
        }
        pool
    }

    /// Send `req` on a pooled connection (or a new one) and wait for the response head.
    /// `upgrade`: the connection is being upgraded and never returns to the pool.
    pub(super) async fn send(
        self: &Arc<Self>,
        mut req: Request<OutBody>,
        upgrade: bool,
    ) -> Result<Response<PooledBody>, PoolError> {
        // One retry, only when the request never left (the reused connection had closed).
        for _ in 0..2 {
            let (mut sender, reused) = match self.take_idle().await {
                Some(s) => (s, true),
                // Boxed: connecting (name resolution) is rare and its future large.
                None => (Box::pin(self.connect()).await?, false),
            };
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let back = (!upgrade).then(|| Return {
                        sender,
                        pool: self.clone(),
                    });
                    return Ok(resp.map(|inner| PooledBody { inner, back }));
                }
                Err(mut e) => match e.take_message() {
                    Some(r) if reused => req = r,
                    _ => return Err(PoolError::Http(e.into_error())),
                },
            }
        }
        Err(PoolError::Connect(std::io::Error::other(
            "the upstream closed the connection before the request was sent",
        )))
    }

    fn slot(&self) -> &Mutex<Vec<Idle>> {
        self.idle.get_or(|| Mutex::new(Vec::new()))
    }

    /// The most recently returned live connection of this thread, ready for a request.
    async fn take_idle(&self) -> Option<SendRequest<OutBody>> {
        loop {
            let candidate = {
                let mut idle = self.slot().lock().unwrap_or_else(PoisonError::into_inner);
                expire(&mut idle, Instant::now(), self.idle_timeout);
                idle.pop()?.sender
            };
            let mut sender = candidate;
            if sender.is_closed() {
                continue;
            }
            // Just returned: the connection may still be finishing the previous response.
            if sender.is_ready() || sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn put(&self, sender: SendRequest<OutBody>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.slot().lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_PER_THREAD {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<SendRequest<OutBody>, PoolError> {
        let timeout = self.connect_timeout;
        let timed_out = || {
            PoolError::Connect(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {timeout:?}"),
            ))
        };
        match &self.dial {
            Dial::Tcp { host, port } => {
                let stream =
                    tokio::time::timeout(timeout, tokio::net::TcpStream::connect((&**host, *port)))
                        .await
                        .map_err(|_| timed_out())?
                        .map_err(PoolError::Connect)?;
                // Small request/response exchanges dominate: do not wait for Nagle.
                let _ = stream.set_nodelay(true);
                let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(60));
                let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
                handshake(stream).await
            }
            Dial::Unix(path) => {
                let stream =
                    tokio::time::timeout(timeout, tokio::net::UnixStream::connect(&**path))
                        .await
                        .map_err(|_| timed_out())?
                        .map_err(PoolError::Connect)?;
                handshake(stream).await
            }
        }
    }
}

/// HTTP/1.1 on a new connection; its driver runs as a task on this thread's runtime.
async fn handshake<S>(stream: S) -> Result<SendRequest<OutBody>, PoolError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(PoolError::Http)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// Drops the idle connections (oldest first) returned before `now - timeout`.
fn expire(idle: &mut Vec<Idle>, now: Instant, timeout: Duration) {
    let stale = idle
        .iter()
        .take_while(|i| now.saturating_duration_since(i.since) >= timeout)
        .count();
    if stale > 0 {
        idle.drain(..stale);
    }
}

/// Closes every thread's idle connections past the idle timeout, until the pool is gone.
async fn sweep(pool: Weak<Pool>) {
    let every = match pool.upgrade() {
        Some(p) => (p.idle_timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(30)),
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(pool) = pool.upgrade() else { return };
        let now = Instant::now();
        for slot in pool.idle.iter() {
            let mut idle = slot.lock().unwrap_or_else(PoisonError::into_inner);
            idle.retain(|i| !i.sender.is_closed());
            expire(&mut idle, now, pool.idle_timeout);
        }
    }
}

/// The connection to give back once the response body is complete.
struct Return {
    sender: SendRequest<OutBody>,
    pool: Arc<Pool>,
}

/// A response body that returns its connection to the pool when read to the end.
pub(super) struct PooledBody {
    inner: Incoming,
    back: Option<Return>,
}

impl PooledBody {
    fn give_back(&mut self) {
        if let Some(r) = self.back.take() {
            r.pool.put(r.sender);
        }
    }
}

impl HttpBody for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.give_back(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.give_back(),
            // A broken body: the connection is not reusable.
            Poll::Ready(Some(Err(_))) => this.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // A server may drop a body once it has written Content-Length bytes, without polling
        // for the end: complete is complete.
        if self.inner.is_end_stream() {
            self.give_back();
        }
    }
}
