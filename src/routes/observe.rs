//! Observing a request: its OpenTelemetry span and its request log line.

use std::time::Instant;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use super::strip_prefix_segment;
use crate::app::{App, RequestCtx};
use crate::server::ConnInfo;
use crate::Body;

impl App {
    /// The request's OpenTelemetry span: a trusted front proxy's `traceparent` is continued.
    pub(super) fn request_span(
        &self,
        req: &Request<Incoming>,
        conn: ConnInfo,
    ) -> Option<crate::otel::RequestSpan> {
        let path = req.uri().path();
        crate::otel::start_request(crate::otel::RequestStart {
            headers: req.headers(),
            method: req.method(),
            version: req.version(),
            path,
            route: crate::otel::request_route(
                &self.cfg.proxy_prefix,
                strip_prefix_segment(path, &self.cfg.proxy_prefix),
            ),
            peer: crate::forwarded::canonical(conn.peer.ip()),
            trusted_peer: self
                .forward
                .trusts(crate::forwarded::canonical(conn.peer.ip())),
        })
    }

    /// Record the outcome on the request span; forward-auth answers carry its `traceparent`.
    pub(super) fn finish_span(
        &self,
        ctx: &RequestCtx,
        uri: &str,
        resp: &mut Response<Body>,
        user: Option<&str>,
    ) {
        crate::otel::finish_request(crate::otel::RequestDone {
            status: resp.status().as_u16(),
            request_id: &ctx.request_id,
            client_ip: ctx.client_ip,
            scheme: ctx.scheme,
            host: &ctx.host,
            user,
        });
        let path = uri.split_once('?').map_or(uri, |(p, _)| p);
        if let Some(endpoint) = strip_prefix_segment(path, &self.cfg.proxy_prefix) {
            if endpoint == "/auth" || strip_prefix_segment(endpoint, "/ext_authz").is_some() {
                crate::otel::forward_auth_headers(resp.headers_mut());
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn log_request(
        &self,
        ctx: &RequestCtx,
        method: &Method,
        version: http::Version,
        uri: &str,
        user_agent: Option<&str>,
        resp: &Response<Body>,
        user: Option<&str>,
        started: Instant,
    ) {
        let log = &self.cfg.logging;
        if !log.request_logging {
            return;
        }
        let path = uri.split_once('?').map_or(uri, |(p, _)| p);
        if log.silence_ping_logging && (path == self.cfg.ping_path || path == self.cfg.ready_path) {
            return;
        }
        if log.exclude_logging_paths.iter().any(|p| p == path) {
            return;
        }
        tracing::info!(
            target: "request",
            request_id = %ctx.request_id,
            client = %ctx.client_ip,
            user = user.unwrap_or("-"),
            host = %ctx.host,
            method = %method,
            path = %path,
            // The callback's query carries the authorization code: never logged.
            uri = %if path.ends_with("/callback") && path.starts_with(self.cfg.proxy_prefix.as_str()) { path } else { uri },
            protocol = ?version,
            size = http_body::Body::size_hint(resp.body()).exact().map_or(-1, |n| n as i64),
            status = resp.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            user_agent = user_agent.unwrap_or("-"),
            "request"
        );
    }
}
