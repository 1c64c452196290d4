//! Forwarding to http(s) and unix-socket upstreams: plain HTTP and unix sockets over the
//! per-thread keep-alive pools of `pool.rs`, https over hyper-util's pooled TLS client.
//!
//! Request rewrite, in this order (the order is the security argument):
//! 1. hop-by-hop headers are removed, including every header the client named in
//!    `Connection` (RFC 9110 §7.6.1);
//! 2. `X-Forwarded-For` gets the client address appended, `X-Forwarded-Proto` and
//!    `X-Forwarded-Host` are set, `Host` is set per `pass_host_header`;
//! 3. the caller's identity headers are inserted last, so nothing the client sent can
//!    remove or shadow them.
//!
//! HTTP/2 client requests become HTTP/1.1 requests: `:authority` supplies `Host`, split
//! `cookie` fields are joined with `"; "` (RFC 9113 §8.2.3). Toward an HTTP/2 upstream
//! (`h2.rs`: `h2c://`, or `https://` selecting h2 by ALPN) the request is sent as HTTP/2:
//! the `Host` value becomes `:authority` and `te: trailers` is kept (RFC 9113 §8.2.2), so gRPC
//! works end to end; trailers pass both ways on either protocol.
//!
//! `upstream_timeout` bounds the wait for response headers after the request body was sent
//! (Go's `ResponseHeaderTimeout`): while a large upload is still flowing, the clock is
//! restarted on every body chunk, so only an idle upstream times out.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ::http::uri::{Authority, PathAndQuery, Scheme, Uri};
use ::http::{Extensions, Request, Response, StatusCode, Version};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::time::Instant;

use super::pool::{Dial, Pool, PoolError};
use super::router::empty_body;
use super::{ProxyContext, UpstreamError, UpstreamOptions};
use crate::{Body, BoxError};
#[allow(unused_imports)]
use std::future::Future as _;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
/// The body of a request on its way to the app.
pub(super) type OutBody = UnsyncBoxBody<Bytes, BoxError>;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers (RFC 9110 §7.6.1 plus the legacy ones Go's reverse proxy removes).
/// `Connection` and `Upgrade` are handled separately.
fn fixed_hop_by_hop() -> [&'static HeaderName; 7] {
    [
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &header::PROXY_AUTHENTICATE,
        &header::PROXY_AUTHORIZATION,
        &header::TE,
        &header::TRAILER,
        &header::TRANSFER_ENCODING,
    ]
}

/// How an upstream is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// TCP (TLS for https), certificates verified.
    Verified,
    /// TLS without certificate verification (`insecureSkipTLSVerify`).
    Insecure,
    /// A Unix socket.
    Unix,
}

/// An http(s) or unix-socket upstream: where to send requests, how to name it, its options.
pub(super) struct HttpTarget {
    scheme: Scheme,
    authority: Authority,
    /// The upstream's authority as a `Host` value (used when `pass_host_header` is false).
    host: HeaderValue,
    /// `scheme://authority/path` for logs.
    label: Arc<str>,
    transport: Transport,
    /// The keep-alive connections of a plain-HTTP or unix-socket upstream (https goes
    /// through the shared TLS client).
    pool: Option<Arc<Pool>>,
    opts: UpstreamOptions,
    /// HTTP/2 (`h2.rs`): `h2c://` targets, and `https://` targets (used when ALPN selects h2).
    /// (Boxed: most targets have none, and `Handler` stays small.)
    h2: Option<Box<super::h2::H2Target>>,
}

/// How long connecting may take: `upstream_connect_timeout`, capped at `timeout`.
fn connect_timeout(opts: &UpstreamOptions) -> Duration {
    if opts.timeout.is_zero() {
        opts.connect_timeout
    } else {
        opts.connect_timeout.min(opts.timeout)
    }
}

impl HttpTarget {
    pub(super) fn new(
        url: &url::Url,
        opts: UpstreamOptions,
        clients: &mut ClientSet,
    ) -> Result<Self, String> {
        let scheme = match url.scheme() {
            "http" | "h2c" => Scheme::HTTP,
            "https" => Scheme::HTTPS,
            other => return Err(format!("scheme {other:?} is not http, https or h2c")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            // oauth2-proxy's reverse proxy routes to the URL's scheme and host only.
            tracing::warn!(upstream = %url.host_str().unwrap_or(""), "credentials in an upstream URL are ignored (as oauth2-proxy ignores them)");
        }
        let host = url.host_str().ok_or("the URL has no host")?;
        let authority_str = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let authority: Authority = authority_str
            .parse()
            .map_err(|e| format!("invalid host: {e}"))?;
        let host =
            HeaderValue::from_str(authority.as_str()).map_err(|e| format!("invalid host: {e}"))?;
        let label: Arc<str> = format!("{}://{}{}", url.scheme(), authority, url.path()).into();
        let transport = match (scheme == Scheme::HTTPS, opts.insecure_skip_verify) {
            (true, true) => Transport::Insecure,
            _ => Transport::Verified,
        };
        clients.need(transport, scheme == Scheme::HTTPS, &opts);
        let h2 = match url.scheme() {
            "h2c" => Some(None),
            "https" => Some(Some(opts.insecure_skip_verify)),
            _ => None,
        }
        .map(|tls| {
            super::h2::H2Target::new(url, label.clone(), tls, opts.disable_keep_alives)
                .map(Box::new)
        })
        .transpose()?;
        // `h2c://` targets are HTTP/2 only (h2.rs): no HTTP/1.1 pool.
        let pool = (url.scheme() == "http").then(|| {
            let dial = Dial::Tcp {
                // An IPv6 literal without its URL brackets.
                host: authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .into(),
                port: url.port_or_known_default().unwrap_or(80),
            };
            Pool::new(dial, connect_timeout(&opts), opts.pool_idle_timeout)
        });
        Ok(Self {
            scheme,
            authority,
            host,
            label,
            transport,
            pool,
            opts,
            h2,
        })
    }

    /// HTTP over the Unix socket at `socket` (oauth2-proxy's `unix://` upstreams; `Host` is the
    /// client's, else `localhost`).
    pub(super) fn unix(socket: &std::path::Path, opts: UpstreamOptions) -> Result<Self, String> {
        let pool = Pool::new(
            Dial::Unix(Arc::from(socket)),
            connect_timeout(&opts),
            opts.pool_idle_timeout,
        );
        Ok(Self {
            scheme: Scheme::HTTP,
            authority: Authority::from_static("localhost"),
            host: HeaderValue::from_static("localhost"),
            label: format!("unix://{}", socket.display()).into(),
            transport: Transport::Unix,
            pool: Some(pool),
            opts,
            h2: None,
        })
    }
}

/// Which clients the configured upstreams need (built once, shared by every request).
#[derive(Default)]
pub(super) struct ClientSet {
    verified: bool,
    any_https: bool,
    insecure: bool,
    connect_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
}

impl ClientSet {
    fn need(&mut self, t: Transport, https: bool, opts: &UpstreamOptions) {
        match t {
            Transport::Verified => self.verified = true,
            Transport::Insecure => self.insecure = true,
            Transport::Unix => {}
        }
        self.any_https |= https && t == Transport::Verified;
        let connect = connect_timeout(opts);
        self.connect_timeout = Some(self.connect_timeout.map_or(connect, |c| c.max(connect)));
        self.pool_idle_timeout = Some(opts.pool_idle_timeout);
    }

    pub(super) fn build(self) -> Result<HttpClient, String> {
        let connect = self.connect_timeout.unwrap_or(Duration::from_secs(10));
        let idle = self.pool_idle_timeout.unwrap_or(Duration::from_secs(90));
        // Built once, shared with the HTTP/2 client (h2.rs), which adds ALPN.
        let verified_tls = tls_config(false, self.any_https)?;
        let insecure_tls = if self.insecure {
            Some(tls_config(true, true)?)
        } else {
            None
        };
        let h2 = super::h2::H2Client::new(verified_tls.clone(), insecure_tls.clone(), connect);
        let tcp = |tls: rustls::ClientConfig| -> Client<Connector, OutBody> {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            // Small request/response exchanges dominate: do not wait for Nagle.
            http.set_nodelay(true);
            http.set_connect_timeout(Some(connect));
            http.set_keepalive(Some(Duration::from_secs(60)));
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(idle)
                // We always set Host ourselves (see `forward`).
                .set_host(false)
                .build(connector)
        };
        Ok(HttpClient {
            verified: tcp(verified_tls),
            insecure: insecure_tls.map(tcp),
            h2,
        })
    }
}

/// The shared TLS clients (https upstreams).
pub(super) struct HttpClient {
    verified: Client<Connector, OutBody>,
    insecure: Option<Client<Connector, OutBody>>,
    h2: super::h2::H2Client,
}

impl HttpClient {
    /// Forwards one request to `target` and returns its response with a streaming body.
    pub(super) async fn forward<B>(
        &self,
        target: &HttpTarget,
        mut req: Request<B>,
        ctx: ProxyContext<'_>,
        rewritten: Option<String>,
        signer: Option<&super::Signer>,
    ) -> Result<Response<Body>, UpstreamError>
    where
        B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        // Take the client's upgrade handle before the request is consumed. Without
        // `proxyWebSockets` an upgrade request goes to the app as a plain request (its
        // hop-by-hop `Connection: upgrade` removed), as through a proxy that cannot tunnel.
        // An h2c upstream cannot be upgraded (HTTP/1.1 only), so upgrades go there as plain requests.
        let upgrade = upgrade_protocol(req.headers())
            .filter(|_| target.opts.proxy_websockets)
            .filter(|_| !target.h2.as_ref().is_some_and(|h| h.is_cleartext()))
            .map(|proto| (proto, hyper::upgrade::on(&mut req)));
        // HTTP/2 upstream (h2.rs): always for h2c, for https when ALPN selects h2. Upgrade
        // requests stay on HTTP/1.1, as with Go's transport.
        let h2 = match (&target.h2, &upgrade) {
            (Some(h2), None) => self.h2.route(h2).await?,
            _ => None,
        };

        let (mut parts, body) = req.into_parts();
        // RFC 9112 §3.2.2 and RFC 9113 §8.3.1: an absolute-form target or an HTTP/2
        // `:authority` names the host; the Host field is only the fallback.
        let original_host = ctx
            .host
            .or_else(|| {
                parts
                    .uri
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            })
            .or_else(|| parts.headers.get(header::HOST).cloned());

        let headers = &mut parts.headers;
        let keep_te = h2.is_some() && super::h2::wants_trailers(headers);
        remove_hop_by_hop(headers);
        if keep_te {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        if let Some((proto, _)) = &upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, proto.clone());
        }
        join_cookies(headers);
        append_forwarded_for(headers, ctx.client_ip);
        headers.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static(ctx.scheme.as_str()),
        );
        match &original_host {
            Some(h) => {
                headers.insert(X_FORWARDED_HOST.clone(), h.clone());
            }
            None => {
                headers.remove(&X_FORWARDED_HOST);
            }
        }
        let host = match original_host {
            Some(h) if target.opts.pass_host_header => h,
            _ => target.host.clone(),
        };
        // HTTP/2: the Host value travels as `:authority` (RFC 9113 §8.3.1), set below.
        let h2_authority = match h2 {
            Some(_) => {
                headers.remove(header::HOST);
                Some(if host == target.host {
                    target.authority.clone()
                } else {
                    Authority::from_maybe_shared(Bytes::copy_from_slice(host.as_bytes())).map_err(
                        |_| UpstreamError::BadRequest {
                            reason: "the Host header is not a valid authority",
                        },
                    )?
                })
            }
            None => {
                headers.insert(header::HOST, host);
                None
            }
        };
        if target.opts.disable_keep_alives && upgrade.is_none() && h2.is_none() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        for (name, value) in ctx.extra_headers {
            if ctx.preserved.contains(name) {
                if let Some(joined) = append_value(headers, name, value) {
                    headers.insert(name.clone(), joined);
                    continue;
                }
            }
            headers.insert(name.clone(), value.clone());
        }

        let path_and_query = match rewritten {
            Some(p) => PathAndQuery::try_from(p).map_err(|_| UpstreamError::BadRequest {
                reason: "the rewritten path is not a valid request target",
            })?,
            None => parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        };
        parts.uri = if target.pool.is_some() && h2_authority.is_none() {
            // A connection of our own to the app: origin-form, as HTTP/1.1 sends it.
            Uri::from(path_and_query)
        } else {
            let mut uri_parts = ::http::uri::Parts::default();
            uri_parts.scheme = Some(target.scheme.clone());
            // HTTP/2: `:authority` (the Host value).
            uri_parts.authority = Some(h2_authority.unwrap_or_else(|| target.authority.clone()));
            uri_parts.path_and_query = Some(path_and_query);
            Uri::from_parts(uri_parts).map_err(|_| UpstreamError::BadRequest {
                reason: "request target cannot be forwarded",
            })?
        };
        parts.version = match h2 {
            Some(_) => Version::HTTP_2,
            None => Version::HTTP_11,
        };
        // Server-side extensions (upgrade handles, h2 protocol markers) must not leak into
        // the client request.
        parts.extensions = Extensions::new();

        let (out_body, activity) = match signer {
            // `signature_key`: the body is read whole to be signed.
            Some(signer) => {
                let bytes = Box::pin(super::signature::sign_request(
                    signer,
                    &mut parts,
                    body,
                    ctx.gap_auth,
                ))
                .await?;
                let full = http_body_util::Full::new(bytes).map_err(|never| match never {});
                (UnsyncBoxBody::new(full), None)
            }
            None => {
                let activity = (!body.is_end_stream()).then(|| Arc::new(Activity::new()));
                let tracked = UnsyncBoxBody::new(TrackedBody {
                    inner: body,
                    activity: activity.clone(),
                });
                (tracked, activity)
            }
        };
        let out = Request::from_parts(parts, out_body);

        let resp = match h2 {
            Some(conn) => {
                await_headers(target, activity.as_deref(), async {
                    conn.send(out).await.map(boxed)
                })
                .await?
            }
            None => {
                self.send(target, out, activity.as_deref(), upgrade.is_some())
                    .await?
            }
        };
        match upgrade {
            Some((proto, client_upgrade)) if resp.status() == StatusCode::SWITCHING_PROTOCOLS => {
                tunnel(target, proto, client_upgrade, resp)
            }
            _ if resp.status() == StatusCode::SWITCHING_PROTOCOLS => {
                Err(UpstreamError::BadUpstreamResponse {
                    target: target.label.clone(),
                    reason: "101 Switching Protocols to a request that did not ask to upgrade"
                        .into(),
                })
            }
            _ => {
                let (mut parts, body) = resp.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                parts.version = Version::HTTP_11;
                parts.extensions = Extensions::new();
                Ok(Response::from_parts(parts, body))
            }
        }
    }

    /// Sends the request and waits for response headers, timing out when neither the
    /// request body nor the upstream has made progress for `timeout`.
    async fn send(
        &self,
        target: &HttpTarget,
        req: Request<OutBody>,
        activity: Option<&Activity>,
        upgrade: bool,
    ) -> Result<Response<Body>, UpstreamError> {
        let fut = async {
            match (&target.pool, target.transport, &self.insecure) {
                (Some(pool), _, _) => pool
                    .send(req, upgrade)
                    .await
                    .map(boxed)
                    .map_err(|e| classify_pool(target, e)),
                (None, Transport::Insecure, Some(c)) => c
                    .request(req)
                    .await
                    .map(boxed)
                    .map_err(|e| classify(target, e)),
                _ => self
                    .verified
                    .request(req)
                    .await
                    .map(boxed)
                    .map_err(|e| classify(target, e)),
            }
        };
        await_headers(target, activity, fut).await
    }
}

/// Waits for the response headers, timing out when neither the request body nor the upstream
/// has made progress for `timeout` (shared by the HTTP/1.1 clients and HTTP/2).
async fn await_headers<F>(
    target: &HttpTarget,
    activity: Option<&Activity>,
    fut: F,
) -> Result<Response<Body>, UpstreamError>
where
    F: std::future::Future<Output = Result<Response<Body>, UpstreamError>>,
{
    tokio::pin!(fut);
    let start = activity.map_or_else(Instant::now, |a| a.start);
    let timeout = target.opts.timeout;
    // A zero timeout means none, as for Go's ResponseHeaderTimeout.
    if timeout.is_zero() {
        return fut.await;
    }
    loop {
        let last = activity.map_or(0, Activity::last_millis);
        let deadline = start + Duration::from_millis(last) + timeout;
        match tokio::time::timeout_at(deadline, &mut fut).await {
            Ok(result) => return result,
            // The request body moved after the deadline was computed: wait on.
            Err(_) if activity.is_some_and(|a| a.last_millis() != last) => {}
            Err(_) => {
                return Err(UpstreamError::Timeout {
                    target: target.label.clone(),
                    timeout,
                })
            }
        }
    }
}

/// Answers the client's upgrade with the upstream's 101 and joins the two connections.
fn tunnel(
    target: &HttpTarget,
    proto: HeaderValue,
    client_upgrade: hyper::upgrade::OnUpgrade,
    mut resp: Response<Body>,
) -> Result<Response<Body>, UpstreamError> {
    // Go's reverse proxy checks the same: a server may not switch to a protocol the
    // client did not ask for.
    let agreed = resp
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(proto.as_bytes()));
    if !agreed {
        return Err(UpstreamError::BadUpstreamResponse {
            target: target.label.clone(),
            reason: "101 Switching Protocols to a protocol the client did not request".into(),
        });
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let label = target.label.clone();
    tokio::spawn(async move {
        let (client, upstream) = tokio::join!(client_upgrade, upstream_upgrade);
        match (client, upstream) {
            (Ok(client), Ok(upstream)) => {
                let mut client = TokioIo::new(client);
                let mut upstream = TokioIo::new(upstream);
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                    tracing::debug!(upstream = %label, error = %e, "upgraded connection ended with an error");
                }
            }
            (client, upstream) => {
                tracing::warn!(
                    upstream = %label,
                    client_ok = client.is_ok(),
                    upstream_ok = upstream.is_ok(),
                    "connection upgrade failed"
                );
            }
        }
    });

    let (mut parts, _body) = resp.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    parts.headers.insert(header::UPGRADE, proto);
    parts.version = Version::HTTP_11;
    parts.extensions = Extensions::new();
    Ok(Response::from_parts(parts, empty_body()))
}

/// The client's values of `name` and `ours`, comma-joined; `None` when the client sent none.
fn append_value(headers: &HeaderMap, name: &HeaderName, ours: &HeaderValue) -> Option<HeaderValue> {
    let mut all = headers.get_all(name).iter().peekable();
    all.peek()?;
    let mut out = Vec::new();
    for v in all {
        out.extend_from_slice(v.as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(ours.as_bytes());
    HeaderValue::from_bytes(&out).ok()
}

/// A response with its body boxed, extensions (the upgrade handle) kept.
fn boxed<B>(resp: Response<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    resp.map(|b| b.map_err(Into::into).boxed())
}

fn classify_pool(target: &HttpTarget, e: PoolError) -> UpstreamError {
    let label = target.label.clone();
    match e {
        PoolError::Connect(e) => UpstreamError::ConnectFailed {
            target: label,
            source: Box::new(e),
        },
        PoolError::Http(h) if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() => {
            UpstreamError::BadUpstreamResponse {
                target: label,
                reason: Box::new(h),
            }
        }
        PoolError::Http(h) => UpstreamError::Unavailable {
            target: label,
            source: Box::new(h),
        },
    }
}

fn classify(target: &HttpTarget, e: hyper_util::client::legacy::Error) -> UpstreamError {
    let target = target.label.clone();
    if e.is_connect() {
        return UpstreamError::ConnectFailed {
            target,
            source: Box::new(e),
        };
    }
    let hyper_err = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<hyper::Error>());
    match hyper_err {
        Some(h) if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() => {
            UpstreamError::BadUpstreamResponse {
                target,
                reason: Box::new(e),
            }
        }
        _ => UpstreamError::Unavailable {
            target,
            source: Box::new(e),
        },
    }
}

/// The protocol the client asks to switch to, if this is an HTTP/1.1 upgrade request
/// (`Connection: upgrade` plus `Upgrade`).
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let wants = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(connection_tokens)
        .any(|t| t.eq_ignore_ascii_case("upgrade"));
    if wants {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

fn connection_tokens(v: &HeaderValue) -> impl Iterator<Item = &str> {
    v.to_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers: the fixed set, `Upgrade`, and whatever `Connection` names.
/// Allocates only when `Connection` names a non-standard header.
pub(super) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let mut named: Vec<HeaderName> = Vec::new();
        for token in headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(connection_tokens)
        {
            if token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("keep-alive")
                || token.eq_ignore_ascii_case("upgrade")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                named.push(name);
            }
        }
        for name in named {
            headers.remove(name);
        }
        headers.remove(header::CONNECTION);
    }
    for name in fixed_hop_by_hop() {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// HTTP/2 lets a client split `cookie` into several fields; HTTP/1.1 needs one.
fn join_cookies(headers: &mut HeaderMap) {
    let mut all = headers.get_all(header::COOKIE).iter();
    if all.next().is_none() || all.next().is_none() {
        return;
    }
    let mut joined = Vec::new();
    for v in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, v);
    }
}

/// `X-Forwarded-For: <prior values>, <client ip>` (prior fields are joined, as Go does).
fn append_forwarded_for(headers: &mut HeaderMap, ip: std::net::IpAddr) {
    use std::fmt::Write as _;
    let mut value = bytes::BytesMut::with_capacity(64);
    for prior in headers.get_all(&X_FORWARDED_FOR) {
        let prior = trim_ows(prior.as_bytes());
        if !prior.is_empty() {
            value.extend_from_slice(prior);
            value.extend_from_slice(b", ");
        }
    }
    let _ = write!(value, "{ip}");
    // `from_maybe_shared` validates and keeps the buffer: no second copy.
    if let Ok(v) = HeaderValue::from_maybe_shared(value.freeze()) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
}

fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// Milliseconds since the request started at which the request body last made progress.
struct Activity {
    start: Instant,
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    fn last_millis(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

/// The client's body on its way to the app, recording progress for the timeout.
struct TrackedBody<B> {
    inner: B,
    activity: Option<Arc<Activity>>,
}

impl<B> HttpBody for TrackedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let (Poll::Ready(_), Some(a)) = (&polled, &this.activity) {
            a.touch();
        }
        polled.map(|opt| opt.map(|res| res.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// TLS for https upstreams: the platform verifier, or, with
/// `ssl_upstream_insecure_skip_verify`, a verifier that accepts any certificate (handshake
/// signatures are still checked, so the peer must hold the certificate's key).
fn tls_config(insecure: bool, any_https: bool) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup for upstreams failed: {e}"))?;
    if !any_https {
        // No https upstream: the connector never performs a handshake, so skip loading the
        // system trust store.
        return Ok(builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth());
    }
    if insecure {
        tracing::warn!(
            "ssl_upstream_insecure_skip_verify: certificates of https upstreams are NOT verified"
        );
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth());
    }
    use hyper_rustls::ConfigBuilderExt as _;
    Ok(builder
        .try_with_platform_verifier()
        .map_err(|e| format!("loading the system trust store for https upstreams failed: {e}"))?
        .with_no_client_auth())
}

#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_and_connection_named_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret-Hop"),
            ("connection", "close"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic Zm9v"),
            ("te", "trailers"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-kept", "yes"),
            ("content-type", "text/plain"),
        ]);
        remove_hop_by_hop(&mut h);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept", "content-type"]);
    }

    #[test]
    fn upgrade_needs_both_connection_token_and_upgrade_header() {
        assert!(
            upgrade_protocol(&map(&[("connection", "Upgrade"), ("upgrade", "websocket")]))
                .is_some()
        );
        assert!(upgrade_protocol(&map(&[
            ("connection", "keep-alive, upgrade"),
            ("upgrade", "websocket")
        ]))
        .is_some());
        assert!(upgrade_protocol(&map(&[("upgrade", "websocket")])).is_none());
        assert!(upgrade_protocol(&map(&[("connection", "upgrade")])).is_none());
    }

    #[test]
    fn forwarded_for_appends_to_every_prior_value() {
        let mut h = map(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2, 10.0.0.3"),
        ]);
        append_forwarded_for(&mut h, "::1".parse().unwrap());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 10.0.0.2, 10.0.0.3, ::1");
        let mut empty = HeaderMap::new();
        append_forwarded_for(&mut empty, "127.0.0.1".parse().unwrap());
        assert_eq!(empty["x-forwarded-for"], "127.0.0.1");
    }

    #[test]
    fn split_cookie_fields_are_joined_for_http1() {
        let mut h = map(&[("cookie", "a=1"), ("cookie", "b=2")]);
        join_cookies(&mut h);
        assert_eq!(h.get_all("cookie").iter().count(), 1);
        assert_eq!(h["cookie"], "a=1; b=2");
    }

    #[test]
    fn upstream_urls_with_credentials_or_other_schemes_are_refused() {
        let mut clients = ClientSet::default();
        let new = |u: &str, c: &mut ClientSet| {
            HttpTarget::new(&url::Url::parse(u).unwrap(), UpstreamOptions::default(), c)
        };
        assert!(new("ftp://127.0.0.1/", &mut clients).is_err());
        let t = new("http://[::1]:8080/api/", &mut clients).unwrap();
        assert_eq!(t.host, "[::1]:8080");
        assert_eq!(&*t.label, "http://[::1]:8080/api/");
        let t = new("https://example.com", &mut clients).unwrap();
        assert_eq!(t.transport, Transport::Verified);
        assert_eq!(t.host, "example.com");
    }
}
