//! OpenTelemetry traces (`otel_traces_enabled`, docs/tracing.md): one server span per request,
//! a client span for each identity-provider, Redis and upstream call made for it, W3C trace
//! context (`traceparent` / `tracestate`) in and out, OTLP export.
//!
//! Off (the default), nothing here runs: every entry point checks one [`OnceLock`] and returns,
//! no span, context or header is created, and client `traceparent` headers reach the app
//! untouched like any other header (as with oauth2-proxy, which has no tracing).
//!
//! On:
//! * an incoming `traceparent` / `tracestate` is believed only from a peer the forwarding
//!   rule trusts (`reverse_proxy` and `trusted_proxy_ips`, see [`crate::forwarded`]): the
//!   request span continues that trace. From anyone else a new trace starts and the client's
//!   headers are replaced on the way to the app;
//! * the app gets the `traceparent` of the upstream span (its parent), the IdP gets the one
//!   of each IdP span, forward-auth answers carry the request span's;
//! * health checks (`ping_path`, `ready_path`) are not traced;
//! * the user is never an attribute value unless `otel_traces_record_user` is on.
//!
//! Spans are handed to the SDK's batch processor (a bounded queue drained by its own thread):
//! a request never waits for the collector; when the queue is full, spans are dropped.

mod export;
mod names;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::IpAddr;
use std::sync::OnceLock;

use http::{HeaderMap, Method, Version};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{FutureExt as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::Context;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;

use crate::config::TracingConfig;

pub use export::{check_env, ExportSettings, Exporter, Propagation, Protocol, SamplerSetting};
pub use names::{grant_type, request_route};
pub use opentelemetry::KeyValue;

static TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
static TRACESTATE: http::HeaderName = http::HeaderName::from_static("tracestate");

/// The installed tracer, set once by [`init`].
struct Tracing {
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
    /// `OTEL_PROPAGATORS` allows reading and writing `traceparent`.
    propagate: bool,
    record_user: bool,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();

#[inline]
fn tracing() -> Option<&'static Tracing> {
    TRACING.get()
}

/// Whether traces are on in this process.
#[inline]
pub fn enabled() -> bool {
    tracing().is_some()
}

/// Set up traces from `cfg` and the `OTEL_*` variables of `env`. `Ok(None)`: traces are off
/// (`otel_traces_enabled` unset, or `OTEL_SDK_DISABLED=true`). A second call in the same
/// process keeps the first tracer.
pub fn init(
    cfg: &TracingConfig,
    env: &std::collections::HashMap<String, String>,
) -> Result<Option<Exporter>, String> {
    if !cfg.enabled {
        return Ok(None);
    }
    let settings = ExportSettings::from_env(env)?;
    if settings.sdk_disabled {
        tracing::info!("OTEL_SDK_DISABLED is true: OpenTelemetry traces are off");
        return Ok(None);
    }
    let (tracer, exporter) = export::start(&settings, env)?;
    let installed = TRACING.set(Tracing {
        tracer,
        propagator: TraceContextPropagator::new(),
        propagate: settings.propagation == Propagation::TraceContext,
        record_user: cfg.record_user,
    });
    if installed.is_err() {
        tracing::warn!(
            "OpenTelemetry traces were already set up in this process; keeping the first setup"
        );
    }
    Ok(Some(exporter))
}

/// The span of one request (kind server). Dropping it ends it.
pub struct RequestSpan {
    cx: Context,
}

/// What the request span is started with: facts of the raw request.
pub struct RequestStart<'a> {
    pub headers: &'a HeaderMap,
    pub method: &'a Method,
    pub version: Version,
    /// The path (no query: a query may carry an authorization code).
    pub path: &'a str,
    /// `http.route` when the path is one of the proxy's endpoints.
    pub route: Option<String>,
    /// The TCP peer.
    pub peer: IpAddr,
    /// The peer may speak for the original request (forwarding rule): its `traceparent` is
    /// believed.
    pub trusted_peer: bool,
}

/// Start the span of a request, or `None` when traces are off.
pub fn start_request(start: RequestStart<'_>) -> Option<RequestSpan> {
    let t = tracing()?;
    let parent = if start.trusted_peer && t.propagate {
        t.propagator.extract(&HeaderExtractor(start.headers))
    } else {
        Context::new()
    };
    let name = match &start.route {
        Some(route) => format!("{} {route}", start.method),
        None => start.method.as_str().to_owned(),
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", start.method.as_str().to_owned()),
        KeyValue::new("url.path", start.path.to_owned()),
        KeyValue::new("network.peer.address", start.peer.to_string()),
        KeyValue::new(
            "network.protocol.version",
            names::protocol_version(start.version),
        ),
    ];
    if let Some(route) = start.route {
        attributes.push(KeyValue::new("http.route", route));
    }
    if let Some(ua) = start
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(KeyValue::new("user_agent.original", ua.to_owned()));
    }
    let span = t
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(&t.tracer, &parent);
    Some(RequestSpan {
        cx: parent.with_span(span),
    })
}

impl RequestSpan {
    /// Run `fut` (the request's handling) with this span as the current one, then end it.
    pub async fn run<F: Future>(self, fut: F) -> F::Output {
        let out = fut.with_context(self.cx.clone()).await;
        self.cx.span().end();
        out
    }
}

/// What the request's handling found out, recorded on the current request span.
pub struct RequestDone<'a> {
    pub status: u16,
    pub request_id: &'a str,
    pub client_ip: IpAddr,
    pub scheme: &'static str,
    pub host: &'a str,
    /// The signed-in user: recorded only with `otel_traces_record_user`.
    pub user: Option<&'a str>,
}

/// Record the outcome of a request on the current span (no-op when traces are off).
pub fn finish_request(done: RequestDone<'_>) {
    let Some(t) = tracing() else { return };
    let cx = Context::current();
    let span = cx.span();
    let mut attributes = vec![
        KeyValue::new("http.response.status_code", i64::from(done.status)),
        KeyValue::new("authproxy.request_id", done.request_id.to_owned()),
        KeyValue::new("client.address", done.client_ip.to_string()),
        KeyValue::new("url.scheme", done.scheme),
        KeyValue::new("server.address", done.host.to_owned()),
    ];
    if t.record_user {
        if let Some(user) = done.user.filter(|u| !u.is_empty()) {
            attributes.push(KeyValue::new("enduser.id", user.to_owned()));
        }
    }
    span.set_attributes(attributes);
    if done.status >= 500 {
        span.set_attribute(KeyValue::new("error.type", done.status.to_string()));
        span.set_status(Status::error(""));
    }
}

/// Forward-auth answers (`/oauth2/auth`, `/oauth2/ext_authz`): the request span's
/// `traceparent`, so a front proxy can hand it to the app (`auth_request_set`,
/// `authResponseHeaders`). No-op when traces are off.
pub fn forward_auth_headers(headers: &mut HeaderMap) {
    let Some(t) = tracing() else { return };
    if t.propagate {
        inject(t, &Context::current(), headers);
    }
}

/// Replace `traceparent` / `tracestate` with those of `cx`.
fn inject(t: &Tracing, cx: &Context, headers: &mut HeaderMap) {
    headers.remove(&TRACEPARENT);
    headers.remove(&TRACESTATE);
    t.propagator
        .inject_context(cx, &mut HeaderInjector(headers));
    // The propagator writes `tracestate` even when empty; an empty header says nothing.
    if headers.get(&TRACESTATE).is_some_and(|v| v.is_empty()) {
        headers.remove(&TRACESTATE);
    }
}

/// A client span (an IdP, Redis or upstream call), child of the current span. Dropping it
/// ends it.
pub struct ClientSpan {
    cx: Context,
}

/// Start a client span named `name`, or `None` when traces are off (`attributes` is then not
/// called).
pub fn client_span(
    name: &'static str,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> Option<ClientSpan> {
    let t = tracing()?;
    let parent = Context::current();
    let span = t
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes(attributes())
        .start_with_context(&t.tracer, &parent);
    Some(ClientSpan {
        cx: parent.with_span(span),
    })
}

impl ClientSpan {
    /// Write this span's `traceparent` (and `tracestate`) into an outgoing request, replacing
    /// what was there (a client's own, never believed here).
    pub fn inject(&self, headers: &mut HeaderMap) {
        if let Some(t) = tracing() {
            if t.propagate {
                inject(t, &self.cx, headers);
            } else {
                // Without propagation the client's headers are not ours to pass on either.
                headers.remove(&TRACEPARENT);
                headers.remove(&TRACESTATE);
            }
        }
    }

    /// The HTTP status of the answer; `failed_from` and above mark the span as failed (400 for
    /// the IdP, a client span's rule; 500 for the app, whose 4xx are answers, not failures).
    pub fn http_status(&self, status: u16, failed_from: u16) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= failed_from {
            span.set_attribute(KeyValue::new("error.type", status.to_string()));
            span.set_status(Status::error(""));
        }
    }

    /// The call failed: `kind` is a short class (`timeout`, `network`), `message` says what.
    pub fn fail(&self, kind: &'static str, message: String) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("error.type", kind));
        span.set_status(Status::error(message));
    }

    /// Add an attribute known only after the call.
    pub fn set_attribute(&self, kv: KeyValue) {
        self.cx.span().set_attribute(kv);
    }

    /// End the span now.
    pub fn end(self) {
        self.cx.span().end();
    }
}

/// The span of the upstream call for `req` (child of the request span), its `traceparent`
/// written into `req`; `None` when traces are off (then `req` is left as it is).
pub fn upstream_span<B>(req: &mut http::Request<B>) -> Option<ClientSpan> {
    let span = client_span("upstream", || {
        vec![
            KeyValue::new("http.request.method", req.method().as_str().to_owned()),
            KeyValue::new("url.path", req.uri().path().to_owned()),
        ]
    })?;
    span.inject(req.headers_mut());
    Some(span)
}

/// End the upstream span: the app's status (5xx marks it failed) or why there was none.
pub fn upstream_done<E: std::fmt::Display>(span: ClientSpan, result: Result<u16, E>) {
    match result {
        Ok(status) => span.http_status(status, 500),
        Err(e) => span.fail("upstream", e.to_string()),
    }
    span.end();
}
