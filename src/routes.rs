//! The request path, as one readable function: request id → `/ping` `/ready` → `{prefix}/…`
//! endpoints → authenticate → authorize → inject identity → upstream.

use std::sync::Arc;
use std::time::Instant;

use http::header::USER_AGENT;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::auth::Lookup;
use crate::authz::Decision;
use crate::error::AppError;
use crate::flow;
use crate::health::Check;
use crate::response::{add_cookies, page};
use crate::server::{ConnInfo, Handler};
use crate::session::cache::VerifiedSession;
use crate::skip::SkipReason;
use crate::upstream::{ClientScheme, ProxyContext, UpstreamError};
use crate::Body;

mod context;
mod endpoints;
mod metrics_endpoint;
mod observe;
pub use metrics_endpoint::MetricsEndpoint;

impl Handler for App {
    type Conn = ();

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: ConnInfo,
        _conn_state: Arc<()>,
    ) -> Response<Body> {
        // OpenTelemetry (off: one atomic load); health checks are not traced.
        if crate::otel::enabled()
            && self
                .health
                .classify(req.uri().path(), header_str(req.headers(), USER_AGENT))
                .is_none()
        {
            if let Some(span) = self.request_span(&req, conn) {
                return self.traced(span, req, conn).await;
            }
        }
        self.serve(req, conn).await
    }
}

impl App {
    /// [`App::serve`] inside the request's span, boxed: the untraced path's future stays
    /// small (hyper moves it into place per request).
    fn traced(
        &self,
        span: crate::otel::RequestSpan,
        req: Request<Incoming>,
        conn: ConnInfo,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send + '_>> {
        Box::pin(span.run(self.serve(req, conn)))
    }

    /// Answer one request: route it, count it, log it.
    async fn serve(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
        let started = Instant::now();
        // Metrics (ops): lock-free atomics, see src/metrics.rs.
        let metrics = crate::metrics::global();
        let _in_flight = metrics.request_started();
        let ctx = self.request_ctx(&req, conn);
        let method = req.method().clone();
        let version = req.version();
        let uri = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned();
        let user_agent = header_str(req.headers(), USER_AGENT).map(str::to_owned);
        let (mut resp, user) = self.route(req, &ctx).await;
        if crate::otel::enabled() {
            self.finish_span(&ctx, &uri, &mut resp, user.as_deref());
        }
        metrics.request_done(&method, resp.status().as_u16(), started.elapsed());
        self.log_request(
            &ctx,
            &method,
            version,
            &uri,
            user_agent.as_deref(),
            &resp,
            user.as_deref(),
            started,
        );
        resp
    }
}

impl App {
    async fn route(
        &self,
        mut req: Request<Incoming>,
        ctx: &RequestCtx,
    ) -> (Response<Body>, Option<String>) {
        // `allow_query_semicolons` (Go's `AllowQuerySemicolons` around oauth2-proxy's whole
        // handler): every later reader of the query, and the app, see `&` for `;`.
        if self.cfg.allow_query_semicolons {
            if let Some(uri) = crate::query::allow_semicolons(req.uri()) {
                *req.uri_mut() = uri;
            }
        }
        let path = req.uri().path();
        // Health checks are decided by the path (a User-Agent alone never makes one: see
        // `health`), are answered here and never reach the app or the authentication chain.
        match self
            .health
            .classify(path, header_str(req.headers(), USER_AGENT))
        {
            Some(Check::Ping) => {
                return (
                    page(StatusCode::OK, "text/plain; charset=utf-8", "OK"),
                    None,
                )
            }
            Some(Check::Ready) => return (self.ready().await, None),
            None => {}
        }
        if self.cfg.force_https && ctx.scheme != "https" {
            let location = format!(
                "https://{}{}",
                ctx.host,
                req.uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/")
            );
            let mut resp = crate::app::redirect(&location);
            *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
            return (resp, None);
        }
        if path == "/robots.txt" {
            return (
                page(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    "User-agent: *\nDisallow: /\n",
                ),
                None,
            );
        }
        if path == crate::assertion::WELL_KNOWN_JWKS && self.assertions.is_some() {
            return (self.jwks(ctx), None);
        }
        if let Some(endpoint) = strip_prefix_segment(path, &self.cfg.proxy_prefix) {
            let endpoint = endpoint.to_owned();
            // The endpoints oauth2-proxy reads with `ParseForm` fail the request on a query
            // Go refuses (a `;` without allow_query_semicolons, a bad escape).
            if matches!(
                endpoint.as_str(),
                "/sign_in" | "/start" | "/callback" | "/sign_out"
            ) {
                if let Some(resp) = flow::check_query(self, req.uri().query(), ctx) {
                    return (resp, None);
                }
            }
            // Forward auth is a hot path of its own: not boxed.
            if endpoint == "/auth" {
                return crate::forward::auth_request(self, &req, ctx).await;
            }
            if let Some(rest) = strip_prefix_segment(&endpoint, "/ext_authz") {
                return crate::forward::ext_authz_http(self, &req, ctx, rest).await;
            }
            // Boxed: the other endpoints' futures (provider calls, forms) are large; the
            // proxied path below should not carry their size.
            return Box::pin(self.endpoint(req, ctx, &endpoint)).await;
        }
        self.protected(req, ctx).await
    }

    /// `{prefix}/…`: the proxy's own endpoints.
    async fn endpoint(
        &self,
        req: Request<Incoming>,
        ctx: &RequestCtx,
        endpoint: &str,
    ) -> (Response<Body>, Option<String>) {
        match endpoint {
            "/sign_in" if req.method() == Method::POST => flow::form_sign_in(self, req, ctx).await,
            "/sign_in" => (flow::sign_in_page(self, &req, ctx), None),
            "/start" => (flow::start(self, &req, ctx), None),
            "/callback" if req.method() == Method::POST => {
                // `auth_request_response_mode = form_post`: the provider posts the answer.
                flow::callback_post(self, req, ctx).await
            }
            "/callback" => {
                let query = req.uri().query().unwrap_or("").to_owned();
                flow::callback(self, &req, ctx, &query).await
            }
            "/sign_out" => (flow::sign_out(self, &req, ctx).await, None),
            "/backchannel-logout" if self.cfg.logout.backchannel => {
                (flow::backchannel_logout(self, req, ctx).await, None)
            }
            "/userinfo" => self.userinfo(&req, ctx).await,
            crate::assertion::JWKS_SUFFIX => (self.jwks(ctx), None),
            _ => (self.error_response(ctx, &AppError::NotFound, "/"), None),
        }
    }

    /// A request for the app: it needs a session that the authorization rules allow.
    async fn protected(
        &self,
        req: Request<Incoming>,
        ctx: &RequestCtx,
    ) -> (Response<Body>, Option<String>) {
        // Skip rules see the path this request really has (the one that is proxied), never
        // X-Forwarded-Uri: a forwarded path is only meaningful on the forward-auth endpoints.
        if let Some(reason) = self.skip.skip(
            req.method().as_str(),
            req.uri().path_and_query().map(|p| p.as_str()),
            ctx.client_ip,
        ) {
            return self.skipped(req, ctx, reason).await;
        }
        let lookup = crate::auth::authenticate(self, req.headers(), ctx).await;
        let (session, cookies) = match lookup {
            Lookup::Valid {
                session,
                set_cookies,
            } => (session, set_cookies),
            Lookup::None { clear_cookies } => {
                let api = self
                    .skip
                    .is_api(req.uri().path_and_query().map_or("/", |p| p.as_str()));
                // oauth2-proxy: with force_json_errors no sign-in page and no redirect to the
                // provider either, a 401 JSON answer.
                let mut resp = if api || self.cfg.force_json_errors {
                    crate::forward::unauthorized_json()
                } else {
                    flow::unauthenticated(self, &req, ctx)
                };
                add_cookies(&mut resp, &clear_cookies);
                return (resp, None);
            }
            Lookup::Busy(why) => return (crate::auth::busy_response(self, ctx, why), None),
        };
        let verified = session;
        let session = &verified.session;
        let user = Some(session.email.clone());
        if let Decision::Deny(reason) = crate::auth::authorize(self, &verified) {
            crate::metrics::global().authorization_denied(reason.as_str());
            tracing::warn!(
                target: "auth",
                request_id = %ctx.request_id,
                user = %session.email,
                reason = reason.as_str(),
                "authorization denied"
            );
            let mut resp = self.error_response(
                ctx,
                &AppError::Forbidden {
                    reason: reason.as_str(),
                },
                "/",
            );
            add_cookies(&mut resp, &cookies);
            return (resp, user);
        }
        let path_and_query = req.uri().path_and_query().map(|p| p.as_str());
        if !crate::auth::route::policy_allows(
            self,
            ctx,
            &verified,
            req.method().as_str(),
            path_and_query,
            crate::auth::route::Endpoint::Proxy,
        ) {
            let mut resp =
                crate::auth::route::policy_forbidden(self, ctx, path_and_query.unwrap_or("/"));
            add_cookies(&mut resp, &cookies);
            return (resp, user);
        }
        let mut resp = self.proxy(req, ctx, Some(&verified)).await;
        add_cookies(&mut resp, &cookies);
        (resp, user)
    }

    /// Forward to the app with the identity headers of `session`.
    async fn proxy(
        &self,
        mut req: Request<Incoming>,
        ctx: &RequestCtx,
        session: Option<&VerifiedSession>,
    ) -> Response<Body> {
        crate::auth::strip_client_credentials(self, req.headers_mut());
        // The identity assertion is minted per app host (cached in the session): set here,
        // after the client's copy was stripped, replacing any value (never joined with one).
        let extra_headers: &[(http::HeaderName, http::HeaderValue)] = match session {
            Some(v) => {
                if let Some((name, value)) = crate::auth::route::assertion_for_app(self, ctx, v) {
                    req.headers_mut().insert(name, value);
                }
                &v.injected.request
            }
            None => &[],
        };
        let pctx = ProxyContext {
            client_ip: ctx.client_ip,
            scheme: if ctx.scheme == "https" {
                ClientScheme::Https
            } else {
                ClientScheme::Http
            },
            host: http::HeaderValue::from_str(&ctx.host).ok(),
            extra_headers,
            preserved: self.headers.preserved(),
            // oauth2-proxy's GAP-Auth: the email, else the user.
            gap_auth: session.map(|v| {
                let s = &v.session;
                if s.email.is_empty() {
                    s.user.as_str()
                } else {
                    s.email.as_str()
                }
            }),
        };
        let span = crate::otel::upstream_span(&mut req);
        let upstream_started = Instant::now();
        let result = self.upstreams.proxy(req, pctx).await;
        crate::metrics::global().upstream_call(upstream_started.elapsed());
        if let Some(span) = span {
            crate::otel::upstream_done(span, result.as_ref().map(|r| r.status().as_u16()));
        }
        match result {
            Ok(mut resp) => {
                // oauth2-proxy adds its response headers to proxied responses too; tokens and
                // secrets never go to the browser (see headers::plan).
                if let Some(v) = session {
                    for (name, value) in &v.injected.browser {
                        resp.headers_mut().insert(name.clone(), value.clone());
                    }
                }
                resp
            }
            Err(e) => {
                use crate::metrics::UpstreamFailure as F;
                let failure = match &e {
                    UpstreamError::NoRoute
                    | UpstreamError::BadRequest { .. }
                    | UpstreamError::BodyTooLarge { .. } => None,
                    UpstreamError::ConnectFailed { .. } => Some(F::ConnectFailed),
                    UpstreamError::Unavailable { .. } => Some(F::Unavailable),
                    UpstreamError::Timeout { .. } => Some(F::Timeout),
                    UpstreamError::BadUpstreamResponse { .. } => Some(F::BadResponse),
                };
                if let Some(reason) = failure {
                    crate::metrics::global().upstream_error(reason);
                }
                let app_err = match &e {
                    UpstreamError::NoRoute => AppError::NotFound,
                    UpstreamError::BadRequest { .. } => AppError::BadRequest,
                    UpstreamError::BodyTooLarge { .. } => AppError::BodyTooLarge,
                    UpstreamError::Timeout { .. } => AppError::UpstreamTimeout,
                    _ => AppError::UpstreamUnavailable,
                };
                tracing::error!(request_id = %ctx.request_id, error = %e, "upstream request failed");
                self.error_response(ctx, &app_err, "/")
            }
        }
    }

    /// A protected-path request let through by a skip rule. Client-sent identity headers are
    /// stripped as on every proxied request; the session's identity is added only when the
    /// request carries a valid session that the authorization rules allow.
    async fn skipped(
        &self,
        req: Request<Incoming>,
        ctx: &RequestCtx,
        reason: SkipReason,
    ) -> (Response<Body>, Option<String>) {
        tracing::debug!(request_id = %ctx.request_id, reason = reason.as_str(), "authentication skipped");
        let (session, cookies) = crate::forward::allowed_session(self, req.headers(), ctx).await;
        let user = session.as_ref().map(|s| s.session.email.clone());
        let mut resp = self.proxy(req, ctx, session.as_deref()).await;
        add_cookies(&mut resp, &cookies);
        (resp, user)
    }
}

/// `path` below `prefix` (`/oauth2/start` → `/start`), matching whole segments only.
fn strip_prefix_segment<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

fn header_str(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_segments_only() {
        assert_eq!(
            strip_prefix_segment("/oauth2/start", "/oauth2"),
            Some("/start")
        );
        assert_eq!(strip_prefix_segment("/oauth2", "/oauth2"), Some(""));
        assert_eq!(strip_prefix_segment("/oauth2x/start", "/oauth2"), None);
        assert_eq!(strip_prefix_segment("/app/oauth2/start", "/oauth2"), None);
    }
}

#[cfg(test)]
mod future_size {
    use super::*;

    /// The size of the future `f` would return, without calling it.
    fn size<A, F: std::future::Future>(_: impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }
    type In = (Arc<App>, Request<Incoming>, RequestCtx, ConnInfo);

    /// hyper moves each request's service future into place: the proxied and forward-auth
    /// paths keep theirs small by boxing the rare, large branches (sign-in, callback,
    /// refresh, Redis, bearer/basic checks, tracing, file serving). Debug-build sizes (release
    /// ones are smaller); before the boxing the request future was 40 KiB.
    #[test]
    fn the_request_future_stays_small() {
        let handle = size(|(a, r, _c, k): In| a.handle(r, k, Arc::new(())));
        let auth = size(|(a, _r, c, _k): In| async move {
            crate::auth::authenticate(&a, &http::HeaderMap::new(), &c).await;
        });
        let forward_auth =
            size(|(a, r, c, _k): In| async move { crate::forward::auth_request(&a, &r, &c).await });
        assert!(handle <= 12 * 1024, "request future: {handle} bytes");
        assert!(auth <= 2 * 1024, "authentication future: {auth} bytes");
        assert!(
            forward_auth <= 3 * 1024,
            "/oauth2/auth future: {forward_auth} bytes"
        );
    }
}
