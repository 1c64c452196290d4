//! Envoy's external authorization gRPC service, `envoy.service.auth.v3.Authorization/Check`
//! (Istio `envoyExtAuthzGrpc`), on its own plaintext HTTP/2 listener (`grpc_ext_authz_address`).
//!
//! Envoy sends a description of the original request; authproxy rebuilds its headers (cookies
//! included) and runs the same decision as `/oauth2/auth` ([`crate::authcheck::authenticate`]):
//!
//! - **allow** → `OkHttpResponse`: the identity headers are set on the request to the app
//!   (overwriting), every client-sent identity header (any case, `_` spellings) and the
//!   proxy's own session cookie are removed from it, and a refreshed session cookie goes back
//!   to the client in `response_headers_to_add`;
//! - **no session** → `DeniedHttpResponse`: a 302 to `{prefix}/start?rd=<original URL>` when
//!   the client accepts `text/html`, else 401 with a JSON body; a bad cookie the client sent
//!   is cleared;
//! - **not allowed** → 403.
//!
//! A malformed `CheckRequest` (no `attributes.request.http`) is a gRPC `INVALID_ARGUMENT`
//! error, which Envoy turns into a denial unless `failure_mode_allow` is set: it fails closed.
//!
//! Why a separate listener rather than h2c on `http_address`: the Check service trusts the
//! request description its caller sends (host, path, method), so it should be reachable only
//! by the front proxy. A listener of its own can be bound to an address only the proxy reaches
//! (loopback in a sidecar, a NetworkPolicy-guarded port in a cluster).

pub mod proto;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use http::header::{
    HeaderName, HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
};
use http::{HeaderMap, Method, Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tonic::server::{Grpc, UnaryService};
use tonic::Status;

use crate::app::{App, RequestCtx};
use crate::auth::{decide as authenticate, AuthOutcome};
use crate::forward::{sign_in_location, skips_authentication};
use crate::server::{ConnInfo, Handler};
use crate::{Body, BoxError};

use proto::{
    code, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValueOption,
    HttpResponse, HttpStatus, OkHttpResponse, RpcStatus,
};

/// The gRPC method path of the Check call.
pub const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// The gRPC server: one Check service over the shared [`App`].
pub struct ExtAuthzServer {
    app: Arc<App>,
}

impl ExtAuthzServer {
    /// The service over `app`.
    pub fn new(app: Arc<App>) -> Self {
        ExtAuthzServer { app }
    }
}

impl Handler for ExtAuthzServer {
    type Conn = ();

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: ConnInfo,
        _conn_state: Arc<()>,
    ) -> Response<Body> {
        if req.uri().path() != CHECK_PATH {
            return status_only(Status::unimplemented(format!(
                "authproxy serves only {CHECK_PATH}"
            )));
        }
        let mut grpc = Grpc::new(tonic_prost::ProstCodec::<CheckResponse, CheckRequest>::default());
        let svc = CheckService {
            app: self.app.clone(),
            peer: conn.peer,
        };
        let resp = grpc.unary(svc, req).await;
        buffered(resp).await
    }
}

/// A trailers-only gRPC error response.
fn status_only(status: Status) -> Response<Body> {
    let (parts, _) = status.into_http::<tonic::body::Body>().into_parts();
    Response::from_parts(parts, crate::response::full(bytes::Bytes::new()))
}

/// A unary response (one small message and the `grpc-status` trailers) re-framed as our body
/// type: tonic's body is not `Sync`.
async fn buffered(resp: Response<tonic::body::Body>) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let mut frames: Vec<Result<Frame<bytes::Bytes>, BoxError>> = Vec::with_capacity(2);
    match body.collect().await {
        Ok(collected) => {
            let trailers = collected.trailers().cloned();
            frames.push(Ok(Frame::data(collected.to_bytes())));
            if let Some(t) = trailers {
                frames.push(Ok(Frame::trailers(t)));
            }
        }
        Err(status) => return status_only(status),
    }
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
    Response::from_parts(parts, BodyExt::boxed(body))
}

struct CheckService {
    app: Arc<App>,
    peer: SocketAddr,
}

type CheckFuture =
    Pin<Box<dyn Future<Output = Result<tonic::Response<CheckResponse>, Status>> + Send>>;

impl UnaryService<CheckRequest> for CheckService {
    type Response = CheckResponse;
    type Future = CheckFuture;

    fn call(&mut self, request: tonic::Request<CheckRequest>) -> Self::Future {
        let app = self.app.clone();
        let peer = self.peer;
        Box::pin(async move {
            check(&app, request.into_inner(), peer)
                .await
                .map(tonic::Response::new)
        })
    }
}

/// The original request as Envoy described it.
#[derive(Debug)]
pub struct OriginalRequest {
    pub method: Method,
    /// `http` or `https`.
    pub scheme: &'static str,
    pub host: String,
    /// Path and query, as in the request line.
    pub path: String,
    pub headers: HeaderMap,
    /// The downstream client (Envoy's `source` peer), when Envoy sent an IP address.
    pub client_ip: Option<IpAddr>,
}

/// Rebuild the original request from a `CheckRequest`. Header names that are not legal HTTP
/// are dropped (and logged); a legal name with an illegal value is kept with an empty value
/// (such a value cannot be a credential authproxy issued, and the name must still be seen so
/// that a forged identity header is removed).
pub fn original_request(req: CheckRequest) -> Result<OriginalRequest, Status> {
    let attrs = req
        .attributes
        .ok_or_else(|| Status::invalid_argument("CheckRequest has no attributes"))?;
    let http = attrs
        .request
        .and_then(|r| r.http)
        .ok_or_else(|| Status::invalid_argument("CheckRequest has no attributes.request.http"))?;
    let method = Method::from_bytes(http.method.as_bytes())
        .map_err(|_| Status::invalid_argument("attributes.request.http.method is not a method"))?;
    let mut headers = HeaderMap::with_capacity(http.headers.len());
    let mut add = |name: &str, value: &[u8]| {
        // Pseudo-headers (`:authority`, `:path`, ...) are carried in their own fields.
        if name.starts_with(':') {
            return;
        }
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            (Ok(n), Ok(v)) => {
                headers.append(n, v);
            }
            // A legal name with an illegal value is kept with an empty value: nothing reads
            // the broken value, and a forged identity header carrying one is still listed in
            // `headers_to_remove` (fail closed: dropping it here would let Envoy forward it).
            (Ok(n), Err(_)) => {
                tracing::debug!(
                    header = name,
                    "ext_authz: header value that is not legal HTTP read as empty"
                );
                headers.append(n, HeaderValue::from_static(""));
            }
            _ => tracing::debug!(
                header = name,
                "ext_authz: header name that is not legal HTTP dropped"
            ),
        }
    };
    for (name, value) in &http.headers {
        add(name, value.as_bytes());
    }
    if let Some(map) = &http.header_map {
        for h in &map.headers {
            let value = if h.raw_value.is_empty() {
                h.value.as_bytes()
            } else {
                &h.raw_value
            };
            add(&h.key, value);
        }
    }
    let client_ip = attrs
        .source
        .and_then(|p| p.address)
        .and_then(|a| a.socket_address)
        .and_then(|s| s.address.parse::<IpAddr>().ok());
    let scheme = if http.scheme.eq_ignore_ascii_case("https") {
        "https"
    } else {
        "http"
    };
    let path = if http.path.is_empty() {
        "/".to_owned()
    } else {
        http.path
    };
    Ok(OriginalRequest {
        method,
        scheme,
        host: http.host,
        path,
        headers,
        client_ip,
    })
}

/// Answer one Check call.
pub async fn check(
    app: &App,
    req: CheckRequest,
    peer: SocketAddr,
) -> Result<CheckResponse, Status> {
    let orig = original_request(req)?;
    let ctx = RequestCtx {
        request_id: crate::crypto::request_id(),
        now: app.clock.now(),
        scheme: orig.scheme,
        host: orig.host.clone(),
        client_ip: orig.client_ip.unwrap_or(peer.ip()),
        peer: peer.ip(),
        // The request description comes from Envoy on the dedicated gRPC listener.
        proxied: true,
        wants_json: !accepts_html(&orig.headers),
    };
    let resp = decide_check(app, &orig, &ctx).await;
    if app.cfg.logging.request_logging {
        let (allowed, status) = match &resp.http_response {
            Some(HttpResponse::OkResponse(_)) => (true, 200),
            Some(HttpResponse::DeniedResponse(d)) => {
                (false, d.status.as_ref().map_or(403, |s| s.code))
            }
            None => (false, 403),
        };
        tracing::info!(
            target: "request",
            request_id = %ctx.request_id,
            client = %ctx.client_ip,
            host = %ctx.host,
            method = %orig.method,
            path = %orig.path,
            allowed,
            status,
            "ext_authz check"
        );
    }
    Ok(resp)
}

/// The decision for a rebuilt original request.
pub async fn decide_check(app: &App, orig: &OriginalRequest, ctx: &RequestCtx) -> CheckResponse {
    if skips_authentication(app, &orig.method, &orig.path, ctx.client_ip) {
        // A skipped route still gets the identity of a valid, allowed session (and never a
        // forged one: `allow` removes client-sent identity headers).
        return match authenticate(app, &orig.headers, ctx).await {
            AuthOutcome::Allowed {
                session,
                set_cookies,
            } => allow(app, orig, &session.injected.request, &set_cookies),
            _ => allow(app, orig, &[], &[]),
        };
    }
    match authenticate(app, &orig.headers, ctx).await {
        AuthOutcome::Allowed {
            session,
            set_cookies,
        } => allow(app, orig, &session.injected.request, &set_cookies),
        AuthOutcome::Unauthenticated { clear_cookies } => {
            if ctx.wants_json || app.skip.is_api(&orig.path) {
                deny(
                    code::UNAUTHENTICATED,
                    401,
                    "application/json",
                    crate::pages::json_error(401, "Unauthorized"),
                    None,
                    &clear_cookies,
                )
            } else {
                let location = sign_in_location(app, orig.scheme, &orig.host, &orig.path);
                deny(
                    code::UNAUTHENTICATED,
                    302,
                    "text/html; charset=utf-8",
                    String::new(),
                    Some(location),
                    &clear_cookies,
                )
            }
        }
        // Basic credentials that could not be checked (every htpasswd check busy).
        AuthOutcome::Busy(_) => deny(
            code::UNAVAILABLE,
            503,
            "application/json",
            crate::pages::json_error(503, &crate::error::AppError::LoginsBusy.message()),
            None,
            &[],
        ),
        AuthOutcome::Forbidden {
            session,
            reason,
            set_cookies,
        } => {
            tracing::info!(target: "auth", request_id = %ctx.request_id, user = %session.session.email,
                reason, "ext_authz check denied");
            let (content_type, body) = if ctx.wants_json {
                (
                    "application/json",
                    crate::pages::json_error(403, "Forbidden"),
                )
            } else {
                ("text/plain; charset=utf-8", "Forbidden".to_owned())
            };
            deny(
                code::PERMISSION_DENIED,
                403,
                content_type,
                body,
                None,
                &set_cookies,
            )
        }
    }
}

/// Browsers (anything that accepts `text/html`) are redirected to sign in; every other
/// client (APIs, `curl`, no `Accept`) gets a 401.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

fn option(name: &str, value: &[u8], action: HeaderAppendAction) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(proto::HeaderValue {
            key: name.to_owned(),
            value: String::from_utf8_lossy(value).into_owned(),
            raw_value: Vec::new(),
        }),
        append_action: action as i32,
    }
}

/// Allow, with `identity` set on the request to the app and `set_cookies` sent to the client.
fn allow(
    app: &App,
    orig: &OriginalRequest,
    identity: &[(HeaderName, HeaderValue)],
    set_cookies: &[String],
) -> CheckResponse {
    // What the sidecar would remove before proxying (forged identity headers in any spelling,
    // the proxy's own cookies), computed by the very same function, then expressed as Envoy
    // header mutations.
    let mut cleaned = orig.headers.clone();
    crate::auth::strip_client_credentials(app, &mut cleaned);
    let mut headers: Vec<HeaderValueOption> = identity
        .iter()
        .map(|(n, v)| {
            option(
                n.as_str(),
                v.as_bytes(),
                HeaderAppendAction::OverwriteIfExistsOrAdd,
            )
        })
        .collect();
    let mut headers_to_remove: Vec<String> = Vec::new();
    for name in orig.headers.keys() {
        // A header we set is overwritten, never removed: Envoy applies removals after setting.
        let set_by_us = identity.iter().any(|(n, _)| n == name);
        if !cleaned.contains_key(name)
            && !set_by_us
            && !headers_to_remove.iter().any(|r| r == name.as_str())
        {
            headers_to_remove.push(name.as_str().to_owned());
        }
    }
    if orig.headers.contains_key(COOKIE) {
        if let Some(v) = cleaned.get(COOKIE) {
            if orig
                .headers
                .get_all(COOKIE)
                .iter()
                .ne(cleaned.get_all(COOKIE).iter())
            {
                headers.push(option(
                    COOKIE.as_str(),
                    v.as_bytes(),
                    HeaderAppendAction::OverwriteIfExistsOrAdd,
                ));
            }
        }
    }
    let response_headers_to_add = set_cookies
        .iter()
        .map(|c| {
            option(
                SET_COOKIE.as_str(),
                c.as_bytes(),
                HeaderAppendAction::AppendIfExistsOrAdd,
            )
        })
        .collect();
    CheckResponse {
        status: Some(RpcStatus {
            code: code::OK,
            message: String::new(),
        }),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers,
            headers_to_remove,
            response_headers_to_add,
        })),
    }
}

/// Deny with an HTTP response for the client.
fn deny(
    rpc_code: i32,
    http_status: i32,
    content_type: &str,
    body: String,
    location: Option<String>,
    set_cookies: &[String],
) -> CheckResponse {
    let mut headers = vec![
        option(
            CONTENT_TYPE.as_str(),
            content_type.as_bytes(),
            HeaderAppendAction::OverwriteIfExistsOrAdd,
        ),
        option(
            CACHE_CONTROL.as_str(),
            b"no-cache, no-store, must-revalidate, max-age=0",
            HeaderAppendAction::OverwriteIfExistsOrAdd,
        ),
    ];
    if let Some(l) = location {
        headers.push(option(
            LOCATION.as_str(),
            l.as_bytes(),
            HeaderAppendAction::OverwriteIfExistsOrAdd,
        ));
    }
    headers.extend(set_cookies.iter().map(|c| {
        option(
            SET_COOKIE.as_str(),
            c.as_bytes(),
            HeaderAppendAction::AppendIfExistsOrAdd,
        )
    }));
    CheckResponse {
        status: Some(RpcStatus {
            code: rpc_code,
            message: String::new(),
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus { code: http_status }),
            headers,
            body,
        })),
    }
}

/// Serve the Check service on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    opts: crate::server::ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    crate::server::serve(listener, Arc::new(ExtAuthzServer::new(app)), opts, shutdown).await
}
