//! The reverse proxy: routes an authenticated request to one of the configured
//! `upstreams` and streams the answer back.
//!
//! Three kinds of upstream, as in oauth2-proxy:
//! - `http(s)://host:port/path`: proxied over pooled keep-alive HTTP/1.1 connections
//!   (`http.rs`); the request path is sent unchanged, the URL's path only selects the route.
//!   An `https://` upstream that selects `h2` by ALPN, and an `h2c://host:port/path` upstream
//!   (an authproxy extension), get HTTP/2 over one multiplexed connection (`h2.rs`).
//! - `static://CODE`: answers `CODE` with the body `Authenticated` (`static_files.rs`).
//! - `file:///dir#/mount`: serves files from `dir` for paths under `mount` (`static_files.rs`).
//!
//! Routing (`router.rs`) follows oauth2-proxy's mux: the longest matching path wins, a path
//! ending in `/` matches everything below it, any other path matches only itself, and a
//! request for `/dir` that only `/dir/` would serve is redirected there.
//!
//! The per-request path takes no lock, clones no configuration and buffers no body: the
//! route table is immutable after [`Upstreams::new`] and bodies are passed through as streams,
//! so hyper's flow control gives backpressure in both directions.

mod h2;
mod http;
mod pool;
mod router;
mod signature;
mod static_files;

#[cfg(test)]
mod h2_tests;
#[cfg(test)]
mod pool_tests;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use bytes::Bytes;

use crate::config::{UpstreamConfig, UpstreamKind};
use crate::{Body, BoxError};

use self::http::{HttpClient, HttpTarget};
use self::router::{Handler, Lookup, Route, Router};
pub use self::signature::Signer;
use self::static_files::{FileServer, StaticResponse};

/// How the proxy talks to one http(s) or unix-socket upstream.
#[derive(Clone, Debug)]
pub struct UpstreamOptions {
    /// `timeout` (`upstream_timeout`): how long to wait for the upstream's response headers
    /// after the request (including its body) was sent. oauth2-proxy's default is 30s.
    pub timeout: Duration,
    /// `upstream_connect_timeout`: maximum time to establish the TCP connection; capped at
    /// `timeout`, which bounds connecting, the TLS handshake and the wait for the response.
    pub connect_timeout: Duration,
    /// `passHostHeader` (`pass_host_header`): send the client's Host to the app (true,
    /// oauth2-proxy's default) or the upstream URL's authority (false).
    pub pass_host_header: bool,
    /// `insecureSkipTLSVerify` (`ssl_upstream_insecure_skip_verify`).
    pub insecure_skip_verify: bool,
    /// `proxyWebSockets` (`proxy_websockets`): pass `Upgrade` requests through.
    pub proxy_websockets: bool,
    /// `disableKeepAlives` (`disable_keep_alives`): one connection per request.
    pub disable_keep_alives: bool,
    /// How long an idle keep-alive connection to the app stays in the pool.
    pub pool_idle_timeout: Duration,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            pass_host_header: true,
            insecure_skip_verify: false,
            proxy_websockets: true,
            disable_keep_alives: false,
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

impl UpstreamOptions {
    /// The options one configured upstream asks for.
    pub fn from_upstream(u: &crate::config::Upstream, connect_timeout: Duration) -> Self {
        Self {
            connect_timeout,
            timeout: u.timeout,
            pass_host_header: u.pass_host_header,
            insecure_skip_verify: u.insecure_skip_tls_verify,
            proxy_websockets: u.proxy_websockets,
            disable_keep_alives: u.disable_keep_alives,
            ..Self::default()
        }
    }
}

/// The scheme the client used to reach the proxy (after `reverse_proxy` trust decisions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientScheme {
    Http,
    Https,
}

impl ClientScheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// What the caller knows about the client that the proxy cannot see in the request itself.
#[derive(Clone, Debug)]
pub struct ProxyContext<'a> {
    /// The client's address (the peer, or the trusted real-IP header with `reverse_proxy`);
    /// appended to `X-Forwarded-For`.
    pub client_ip: IpAddr,
    /// Sent as `X-Forwarded-Proto`.
    pub scheme: ClientScheme,
    /// The host the client asked for; sent as `X-Forwarded-Host`, and as `Host` with
    /// `pass_host_header`. `None`: taken from the request's `Host` header or, for HTTP/2,
    /// its `:authority`.
    pub host: Option<HeaderValue>,
    /// Identity headers to set on the request to the app. The caller has already removed
    /// every client-sent copy; these are inserted after hop-by-hop processing, so a client
    /// cannot remove them by naming them in `Connection`.
    pub extra_headers: &'a [(HeaderName, HeaderValue)],
    /// Names among `extra_headers` whose client value was kept (`preserveRequestValue`):
    /// ours is appended to it, comma-joined, as oauth2-proxy does.
    pub preserved: &'a [HeaderName],
    /// With `signature_key`: the `GAP-Auth` value (the session's email, else its user;
    /// `None` without a session).
    pub gap_auth: Option<&'a str>,
}

/// Why a request could not be proxied. The caller renders the page; [`UpstreamError::status`]
/// gives the status code. `target` names the upstream for logs (never shown to clients).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No upstream serves this path.
    #[error("no upstream serves this path")]
    NoRoute,
    /// The request cannot be proxied as sent (dot segments in the path, CONNECT, ...).
    #[error("request rejected: {reason}")]
    BadRequest { reason: &'static str },
    /// The TCP or TLS connection to the upstream could not be established.
    #[error("cannot connect to upstream {target}: {source}")]
    ConnectFailed { target: Arc<str>, source: BoxError },
    /// The connection failed after it was established (reset, closed before the response).
    #[error("upstream {target} unavailable: {source}")]
    Unavailable { target: Arc<str>, source: BoxError },
    /// No response headers within `upstream_timeout`.
    #[error("upstream {target} sent no response within {timeout:?}")]
    Timeout { target: Arc<str>, timeout: Duration },
    /// With `signature_key`: the body is over `signature_max_body_bytes` (it must be read
    /// whole to be signed).
    #[error("request body over signature_max_body_bytes ({limit} bytes), cannot be signed")]
    BodyTooLarge { limit: usize },
    /// The upstream answered something that is not valid HTTP or not a valid answer to
    /// this request (for example a 101 to a request that did not ask to upgrade).
    #[error("upstream {target} sent an invalid response: {reason}")]
    BadUpstreamResponse { target: Arc<str>, reason: BoxError },
}

impl UpstreamError {
    /// The status code the client should get: 404, 400, 502 or 504.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ConnectFailed { .. }
            | Self::Unavailable { .. }
            | Self::BadUpstreamResponse { .. } => StatusCode::BAD_GATEWAY,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The upstream involved, for logs.
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::NoRoute | Self::BadRequest { .. } | Self::BodyTooLarge { .. } => None,
            Self::ConnectFailed { target, .. }
            | Self::Unavailable { target, .. }
            | Self::Timeout { target, .. }
            | Self::BadUpstreamResponse { target, .. } => Some(target),
        }
    }

    /// Whether retrying the same request later may succeed (the error page offers a retry link).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::ConnectFailed { .. } | Self::Unavailable { .. } | Self::Timeout { .. }
        )
    }
}

/// The configured upstreams: an immutable route table plus one shared, pooled HTTP client.
pub struct Upstreams {
    router: Router,
    client: HttpClient,
    /// `signature_key`.
    signer: Option<Signer>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("routes", &self.router.describe())
            .finish_non_exhaustive()
    }
}

impl Upstreams {
    /// Builds the route table and the HTTP clients. Errors name the offending upstream.
    pub fn new(cfg: &UpstreamConfig, connect_timeout: Duration) -> Result<Self, String> {
        let mut routes = Vec::with_capacity(cfg.upstreams.len());
        let mut clients = http::ClientSet::default();
        for u in &cfg.upstreams {
            let opts = UpstreamOptions::from_upstream(u, connect_timeout);
            let label = |e: String| format!("upstream {:?}: {e}", u.id);
            let handler = match &u.kind {
                UpstreamKind::Http(url) => {
                    Handler::Http(HttpTarget::new(url, opts, &mut clients).map_err(label)?)
                }
                UpstreamKind::Unix(socket) => {
                    Handler::Http(HttpTarget::unix(socket, opts).map_err(label)?)
                }
                UpstreamKind::Static(code) => {
                    Handler::Static(StaticResponse::new(*code).map_err(label)?)
                }
                UpstreamKind::File(dir) => Handler::File(FileServer::new(dir, &u.path)),
            };
            let route = match &u.rewrite_target {
                Some(target) => Route::rewrite(&u.path, target, handler),
                None => Route::new(&u.path, handler),
            }
            .map_err(label)?;
            routes.push(route);
        }
        let router = Router::with_raw_path(routes, cfg.proxy_raw_path)?;
        Ok(Self {
            router,
            client: clients.build()?,
            signer: None,
        })
    }

    /// Signs every request to an http(s) or unix-socket upstream (`signature_key`).
    pub fn with_signature(mut self, cfg: Option<&crate::config::SignatureConfig>) -> Self {
        self.signer = cfg.map(Signer::new);
        self
    }

    /// Proxies `req` to the upstream that serves its path and returns the upstream's
    /// response with a streaming body. Request and response bodies are never buffered.
    ///
    /// Paths containing `.` or `..` segments (also percent-encoded) are refused with
    /// [`UpstreamError::BadRequest`] before routing, so a path can never be routed by one
    /// prefix and resolved by the app (or the file server) to another.
    pub async fn proxy<B>(
        &self,
        req: Request<B>,
        ctx: ProxyContext<'_>,
    ) -> Result<Response<Body>, UpstreamError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        if req.method() == Method::CONNECT {
            return Err(UpstreamError::BadRequest {
                reason: "CONNECT is not proxied",
            });
        }
        match self.router.lookup(req.uri().path(), req.uri().query())? {
            Lookup::Found(route, rewritten) => match route.handler() {
                Handler::Http(target) => {
                    self.client
                        .forward(target, req, ctx, rewritten, self.signer.as_ref())
                        .await
                }
                Handler::Static(s) => Ok(s.respond()),
                // Boxed: file I/O futures are large; the proxied path should not carry them.
                Handler::File(files) => Ok(Box::pin(files.serve(&req)).await),
            },
            Lookup::AddTrailingSlash => Ok(router::trailing_slash_redirect(req.uri())),
        }
    }
}
