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

mod rewrite;
mod timeout;
mod tls;
mod upgrade;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use ::http::header::{self, HeaderValue};
use ::http::uri::{Authority, PathAndQuery, Scheme, Uri};
use ::http::{Extensions, Request, Response, StatusCode, Version};
use bytes::Bytes;
use http_body::Body as HttpBody;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use self::rewrite::{
    append_forwarded_for, append_value, join_cookies, remove_hop_by_hop, X_FORWARDED_HOST,
    X_FORWARDED_PROTO,
};
use self::timeout::{await_headers, Activity, TrackedBody};
use self::tls::tls_config;
use self::upgrade::{tunnel, upgrade_protocol};
use super::pool::{Dial, Pool, PoolError};
use super::{ProxyContext, UpstreamError, UpstreamOptions};
use crate::{Body, BoxError};
#[allow(unused_imports)]
use std::future::Future as _;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
/// The body of a request on its way to the app.
pub(super) type OutBody = UnsyncBoxBody<Bytes, BoxError>;

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
