//! HTTP/2 to upstreams: `h2c://host:port` (cleartext, prior knowledge: an authproxy extension)
//! and `https://` upstreams whose TLS handshake selects `h2` by ALPN (offered as `h2`, then
//! `http/1.1`, as Go's transport does; an upstream that picks `http/1.1` or nothing stays on the
//! HTTP/1.1 client in `http.rs`).
//!
//! One multiplexed connection per target and serving worker (thread: see
//! `server/workers.rs`), so a request drives its upstream connection on its own reactor. The
//! request path takes no lock: it finds its worker's slot (`thread_local`, lock-free), loads the
//! connection from an `ArcSwapOption` and clones hyper's `http2::SendRequest` (an
//! unbounded-channel sender, cloned with atomics). Only when there is no live connection does a
//! request take the slot's async `connecting` mutex, so concurrent first requests (and the
//! requests that find the connection closed) wait for one connection attempt instead of each
//! dialing. hyper-util's pooled client was not used for h2: its pool is a `Mutex` taken on
//! every checkout, for h2 as for HTTP/1. (Inside the `h2` crate each connection's stream table
//! is behind a mutex held for short, non-async sections: that is the price of multiplexing
//! with the `h2` crate, which authproxy's HTTP/2 listener pays per client connection too.)
//!
//! The caller shapes the request for HTTP/2 (`:authority` instead of `Host`, `te: trailers`
//! kept, no connection-specific headers) once [`H2Client::route`] has said h2 will be used.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::http::{Request, Response};
use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use thread_local::ThreadLocal;
use tokio::time::Instant;

use super::UpstreamError;
use crate::BoxError;

type OutBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long an https upstream that chose HTTP/1.1 by ALPN is not asked again (one extra TLS
/// handshake per period notices an upstream that starts offering h2).
const HTTP1_RECHECK: Duration = Duration::from_secs(60);
/// PING an idle connection this often, and drop it when the answer takes longer than
/// `PING_TIMEOUT`, so a silently dead upstream connection is replaced before a request needs it.
const PING_INTERVAL: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Per-target HTTP/2 state: where to connect and the shared connection.
pub(super) struct H2Target {
    label: Arc<str>,
    /// Host name or IP address (without brackets) to connect to.
    host: Box<str>,
    port: u16,
    /// `https://` targets: the TLS server name and whether verification is skipped; `None`
    /// for `h2c://`.
    tls: Option<(ServerName<'static>, bool)>,
    /// `disableKeepAlives`: a fresh connection for every request (Go's HTTP/2 transport does
    /// the same with `DisableKeepAlives`).
    single_use: bool,
    /// The connection of each serving worker (thread), as the HTTP/1.1 pool keeps its idle
    /// connections (`pool.rs`): a request drives its upstream connection on its own thread and
    /// reactor, with no cross-thread wake-ups.
    slots: ThreadLocal<Slot>,
    /// https targets: milliseconds after `epoch` until which requests use HTTP/1.1 without
    /// another ALPN check (0: ALPN never chose HTTP/1.1).
    http1_until: AtomicU64,
    epoch: Instant,
}

impl H2Target {
    /// State for an `h2c://` (`tls == None`) or `https://` upstream.
    pub(super) fn new(
        url: &url::Url,
        label: Arc<str>,
        tls: Option<bool>,
        single_use: bool,
    ) -> Result<Self, String> {
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            _ => return Err("the URL has no host".into()),
        };
        let default_port = if tls.is_some() { 443 } else { 80 };
        let port = url.port().unwrap_or(default_port);
        let tls = match tls {
            Some(insecure) => {
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| format!("invalid TLS server name {host:?}: {e}"))?;
                Some((name, insecure))
            }
            None => None,
        };
        Ok(Self {
            label,
            host: host.into(),
            port,
            tls,
            single_use,
            slots: ThreadLocal::new(),
            http1_until: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// `h2c://`: every request goes over HTTP/2 (no HTTP/1.1 fallback, no upgrades).
    pub(super) fn is_cleartext(&self) -> bool {
        self.tls.is_none()
    }

    fn now_millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The live shared connection, without locking.
    fn live(&self) -> Option<SendRequest<OutBody>> {
        let guard = self.slot().conn.load();
        guard.as_deref().filter(|c| !c.is_closed()).cloned()
    }

    /// ALPN chose HTTP/1.1: use it without asking again for `HTTP1_RECHECK`.
    fn mark_http1(&self) {
        let recheck = u64::try_from(HTTP1_RECHECK.as_millis()).unwrap_or(u64::MAX);
        let until = self.now_millis().saturating_add(recheck);
        self.http1_until.store(until.max(1), Ordering::Relaxed);
    }

    fn slot(&self) -> &Slot {
        self.slots.get_or_default()
    }

    /// An error when a connection attempt failed since `failures` was read.
    fn failed_meanwhile(&self, slot: &Slot, failures: u64) -> Result<(), UpstreamError> {
        if slot.failures.load(Ordering::Relaxed) == failures {
            return Ok(());
        }
        Err(UpstreamError::ConnectFailed {
            target: self.label.clone(),
            source: "the connection attempt this request waited for failed".into(),
        })
    }

    fn http1_for_now(&self) -> bool {
        let until = self.http1_until.load(Ordering::Relaxed);
        until != 0 && self.now_millis() < until
    }
}

/// One worker's connection to a target.
#[derive(Default)]
struct Slot {
    conn: ArcSwapOption<SendRequest<OutBody>>,
    /// Held while connecting, so concurrent first requests (and the requests that find the
    /// connection closed) wait for one attempt instead of each dialing.
    connecting: tokio::sync::Mutex<()>,
    /// Failed connection attempts (written with `connecting` held). A request that waited for
    /// `connecting` while an attempt failed fails too, instead of trying again in turn: with an
    /// upstream down, queued requests fail together after one connect timeout, not one after
    /// the other.
    failures: AtomicU64,
}

/// A connection a request will be sent on.
pub(super) struct H2Conn<'a> {
    client: &'a H2Client,
    target: &'a H2Target,
    send: SendRequest<OutBody>,
}

impl H2Conn<'_> {
    /// Sends the request (already shaped for HTTP/2) and waits for the response headers. A
    /// request the connection refused before sending any of it (the connection closed in the
    /// meantime, a GOAWAY) is retried once on a new connection.
    pub(super) async fn send(
        mut self,
        req: Request<OutBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match self.send.try_send_request(req).await {
            Ok(resp) => Ok(resp),
            Err(mut e) => match e.take_message() {
                Some(req) if !self.target.single_use => {
                    tracing::debug!(upstream = %self.target.label, error = %e.error(), "HTTP/2 connection gone before the request was sent, reconnecting");
                    // Boxed (rare, and large): the request future stays small.
                    let mut send = Box::pin(self.client.reconnect(self.target)).await?;
                    send.send_request(req)
                        .await
                        .map_err(|e| classify(self.target, e))
                }
                _ => Err(classify(self.target, e.into_error())),
            },
        }
    }
}

/// Connects HTTP/2 upstreams (shared by every target).
pub(super) struct H2Client {
    /// TLS with certificate verification, ALPN `h2`, `http/1.1`.
    verified: tokio_rustls::TlsConnector,
    /// TLS without verification (`insecureSkipTLSVerify`), same ALPN.
    insecure: Option<tokio_rustls::TlsConnector>,
    /// Bounds TCP connect, TLS handshake and HTTP/2 preface together.
    connect_timeout: Duration,
    builder: hyper::client::conn::http2::Builder<TokioExecutor>,
}

impl H2Client {
    /// `verified` / `insecure`: the TLS settings of the HTTP/1.1 client for https upstreams;
    /// ALPN is set here.
    pub(super) fn new(
        verified: rustls::ClientConfig,
        insecure: Option<rustls::ClientConfig>,
        connect_timeout: Duration,
    ) -> Self {
        let alpn = |mut c: rustls::ClientConfig| {
            c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            tokio_rustls::TlsConnector::from(Arc::new(c))
        };
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .keep_alive_interval(PING_INTERVAL)
            .keep_alive_timeout(PING_TIMEOUT)
            .keep_alive_while_idle(true);
        Self {
            verified: alpn(verified),
            insecure: insecure.map(alpn),
            connect_timeout,
            builder,
        }
    }

    /// The HTTP/2 connection the next request to `target` goes over, or `None` when it goes
    /// over HTTP/1.1 (an https upstream whose ALPN chose `http/1.1`).
    pub(super) async fn route<'a>(
        &'a self,
        target: &'a H2Target,
    ) -> Result<Option<H2Conn<'a>>, UpstreamError> {
        let conn = |send| H2Conn {
            client: self,
            target,
            send,
        };
        if target.http1_for_now() {
            return Ok(None);
        }
        if target.single_use {
            let connected = Box::pin(self.connect(target)).await?;
            if connected.is_none() {
                target.mark_http1();
            }
            return Ok(connected.map(conn));
        }
        if let Some(send) = target.live() {
            return Ok(Some(conn(send)));
        }
        // Connecting is rare and its future large: boxed, so the request future stays small.
        Ok(Box::pin(self.connect_route(target)).await?.map(conn))
    }

    /// `route` without a live connection: one connection attempt at a time per target and worker.
    async fn connect_route(
        &self,
        target: &H2Target,
    ) -> Result<Option<SendRequest<OutBody>>, UpstreamError> {
        let slot = target.slot();
        let failures = slot.failures.load(Ordering::Relaxed);
        let _one_attempt = slot.connecting.lock().await;
        // Another request may have connected (or learnt "HTTP/1.1") while this one waited.
        if let Some(send) = target.live() {
            return Ok(Some(send));
        }
        if target.http1_for_now() {
            return Ok(None);
        }
        target.failed_meanwhile(slot, failures)?;
        self.connect_shared(target).await
    }

    /// A new shared connection after the current one failed a request.
    async fn reconnect(&self, target: &H2Target) -> Result<SendRequest<OutBody>, UpstreamError> {
        let slot = target.slot();
        let failures = slot.failures.load(Ordering::Relaxed);
        let _one_attempt = slot.connecting.lock().await;
        if let Some(send) = target.live() {
            return Ok(send);
        }
        target.failed_meanwhile(slot, failures)?;
        self.connect_shared(target)
            .await?
            .ok_or_else(|| UpstreamError::Unavailable {
                target: target.label.clone(),
                source: "the upstream stopped offering HTTP/2".into(),
            })
    }

    /// Connects and publishes the connection (called with `connecting` held).
    async fn connect_shared(
        &self,
        target: &H2Target,
    ) -> Result<Option<SendRequest<OutBody>>, UpstreamError> {
        let slot = target.slot();
        let connected = self.connect(target).await.inspect_err(|_| {
            slot.failures.fetch_add(1, Ordering::Relaxed);
        })?;
        match &connected {
            Some(send) => {
                slot.conn.store(Some(Arc::new(send.clone())));
                target.http1_until.store(0, Ordering::Relaxed);
            }
            None => {
                slot.conn.store(None);
                target.mark_http1();
            }
        }
        Ok(connected)
    }

    /// TCP, TLS (https) and the HTTP/2 handshake; `None` when ALPN did not select `h2`.
    async fn connect(
        &self,
        target: &H2Target,
    ) -> Result<Option<SendRequest<OutBody>>, UpstreamError> {
        let failed = |source: BoxError| UpstreamError::ConnectFailed {
            target: target.label.clone(),
            source,
        };
        let attempt = async {
            let tcp = tokio::net::TcpStream::connect((&*target.host, target.port))
                .await
                .map_err(|e| failed(e.into()))?;
            // Small request/response exchanges dominate: do not wait for Nagle.
            tcp.set_nodelay(true).map_err(|e| failed(e.into()))?;
            let Some((name, insecure)) = &target.tls else {
                return self.handshake(target, TokioIo::new(tcp)).await.map(Some);
            };
            let connector = match (insecure, &self.insecure) {
                (true, Some(c)) => c,
                _ => &self.verified,
            };
            let tls = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(|e| failed(e.into()))?;
            if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                tracing::debug!(upstream = %target.label, "TLS upstream did not select h2 by ALPN: HTTP/1.1");
                return Ok(None);
            }
            self.handshake(target, TokioIo::new(tls)).await.map(Some)
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(failed(
                format!("no HTTP/2 connection within {:?}", self.connect_timeout).into(),
            )),
        }
    }

    async fn handshake<T>(
        &self,
        target: &H2Target,
        io: T,
    ) -> Result<SendRequest<OutBody>, UpstreamError>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (send, conn) =
            self.builder
                .handshake(io)
                .await
                .map_err(|e| UpstreamError::ConnectFailed {
                    target: target.label.clone(),
                    source: Box::new(e),
                })?;
        let label = target.label.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(upstream = %label, error = %e, "HTTP/2 upstream connection ended with an error");
            }
        });
        Ok(send)
    }
}

fn classify(target: &H2Target, e: hyper::Error) -> UpstreamError {
    let target = target.label.clone();
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        UpstreamError::BadUpstreamResponse {
            target,
            reason: Box::new(e),
        }
    } else {
        UpstreamError::Unavailable {
            target,
            source: Box::new(e),
        }
    }
}

/// Whether the client's `te` names `trailers` (the only value HTTP/2 allows, RFC 9113 §8.2.2).
pub(super) fn wants_trailers(headers: &::http::HeaderMap) -> bool {
    headers
        .get_all(::http::header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn te_trailers_is_recognised_among_other_codings() {
        let map = |vals: &[&str]| {
            let mut h = ::http::HeaderMap::new();
            for v in vals {
                h.append(::http::header::TE, v.parse().unwrap());
            }
            h
        };
        assert!(wants_trailers(&map(&["trailers"])));
        assert!(wants_trailers(&map(&["gzip;q=0.5, Trailers"])));
        assert!(wants_trailers(&map(&["deflate", "trailers"])));
        assert!(!wants_trailers(&map(&["gzip"])));
        assert!(!wants_trailers(&map(&[])));
        assert!(!wants_trailers(&map(&["trailersx"])));
    }

    #[test]
    fn targets_name_host_port_and_tls() {
        let t = |u: &str, tls| H2Target::new(&url::Url::parse(u).unwrap(), "x".into(), tls, false);
        let c = t("h2c://127.0.0.1:50051/", None).unwrap();
        assert_eq!(
            (&*c.host, c.port, c.is_cleartext()),
            ("127.0.0.1", 50051, true)
        );
        let c = t("h2c://app", None).unwrap();
        assert_eq!((&*c.host, c.port), ("app", 80));
        let s = t("https://[::1]/", Some(false)).unwrap();
        assert_eq!((&*s.host, s.port, s.is_cleartext()), ("::1", 443, false));
        assert!(t("h2c:///nohost", None).is_err());
    }
}
