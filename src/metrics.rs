//! Prometheus metrics, served on `metrics_address` (a listener of its own) at `/metrics` in the
//! Prometheus text format (0.0.4), as oauth2-proxy serves them.
//!
//! oauth2-proxy's three request metrics keep their names and labels:
//! `oauth2_proxy_requests_total{code}`, `oauth2_proxy_requests_in_flight` and
//! `oauth2_proxy_response_duration_seconds{method}`. authproxy adds (prefix `authproxy_`):
//! logins by provider and outcome, session refreshes by outcome, authorization denials by
//! reason, CSRF/state failures by reason, and latency histograms of identity-provider calls (by
//! endpoint) and of the upstream app.
//!
//! Labels are bounded, fixed vocabularies (status code, method, provider id from the
//! configuration, outcome/reason identifiers): never an email, a token, a cookie or a URL.
//!
//! Every request touches the request metrics, so they are plain atomics indexed by status code
//! and method, updated with relaxed `fetch_add`: no lock, no allocation, no map lookup. (The
//! `prometheus-client` histogram takes a mutex per observation, so the histograms here are our
//! own lock-free ones (non-cumulative atomic buckets), encoded through `prometheus-client`'s collector interface.) The event
//! counters (logins, refreshes, denials, CSRF failures) happen at most a few times per session
//! and use `prometheus-client` families.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The `Content-Type` of a `/metrics` answer.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Histogram bucket upper bounds in seconds: Prometheus' default buckets, as oauth2-proxy uses.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide metrics (one authproxy per process, as with oauth2-proxy's default
/// registry).
pub fn global() -> &'static Arc<Metrics> {
    static METRICS: LazyLock<Arc<Metrics>> = LazyLock::new(|| Arc::new(Metrics::new()));
    &METRICS
}

/// A lock-free histogram: one atomic counter per bucket (plus `+Inf`) and the sum in
/// nanoseconds. Cumulative counts are computed at scrape time.
#[derive(Debug)]
pub struct Histogram {
    /// Non-cumulative counts; the last slot is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Record one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// `(sum in seconds, count, per-bucket counts)`. The buckets are NOT cumulative:
    /// `prometheus-client`'s encoder accumulates them. The count is the sum of the buckets
    /// read, so a scrape is always self-consistent.
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut count = 0;
        let mut out = Vec::with_capacity(BUCKETS.len() + 1);
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            count += n;
            out.push((BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), n));
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (sum, count, out)
    }

    fn encode(&self, encoder: &mut prometheus_client::encoding::MetricEncoder<'_>) -> FmtResult {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

type FmtResult = Result<(), std::fmt::Error>;

/// HTTP methods with a series of their own; anything else is counted as `other` (a client
/// must not be able to create series at will).
const METHODS: [&str; 9] = [
    "get", "head", "post", "put", "delete", "options", "patch", "connect", "trace",
];

/// Index into the per-method histograms (the last one is `other`).
fn method_index(method: &http::Method) -> usize {
    let m = method.as_str();
    METHODS
        .iter()
        .position(|k| k.eq_ignore_ascii_case(m))
        .unwrap_or(METHODS.len())
}

/// The identity-provider endpoints timed by [`Metrics::provider_call`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderEndpoint {
    Discovery,
    Jwks,
    Token,
    Userinfo,
    /// A provider-specific API (GitHub REST, Microsoft Graph, Google Directory...).
    Api,
}

impl ProviderEndpoint {
    const ALL: [ProviderEndpoint; 5] = [
        Self::Discovery,
        Self::Jwks,
        Self::Token,
        Self::Userinfo,
        Self::Api,
    ];

    /// The `endpoint` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::Token => "token",
            Self::Userinfo => "userinfo",
            Self::Api => "api",
        }
    }
}

/// How a login transaction (`/oauth2/callback`) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// A session was issued.
    Success,
    /// The state or CSRF cookie did not check out (see the CSRF failure counter).
    InvalidState,
    /// The provider sent the user back with an error (e.g. `access_denied`).
    ProviderDenied,
    /// Redeeming the code or verifying the identity failed.
    ProviderError,
    /// The identity is not allowed by the authorization rules.
    Forbidden,
    /// Anything else (a callback without a code, an internal error).
    Error,
}

impl LoginOutcome {
    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidState => "invalid_state",
            Self::ProviderDenied => "provider_denied",
            Self::ProviderError => "provider_error",
            Self::Forbidden => "forbidden",
            Self::Error => "error",
        }
    }
}

type Labels = Vec<(&'static str, String)>;

/// Every metric authproxy exports.
#[derive(Debug)]
pub struct Metrics {
    /// `oauth2_proxy_requests_total`, indexed by status code − 100 (100–599).
    requests_by_code: Box<[AtomicU64]>,
    in_flight: AtomicI64,
    /// `oauth2_proxy_response_duration_seconds`, one per [`METHODS`] entry plus `other`.
    response_duration: [Histogram; METHODS.len() + 1],
    upstream_duration: Histogram,
    provider_duration: [Histogram; ProviderEndpoint::ALL.len()],
    logins: Family<Labels, Counter>,
    refreshes: Family<Labels, Counter>,
    denials: Family<Labels, Counter>,
    csrf_failures: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Decrements the in-flight gauge when the request is done (however it ends).
#[must_use = "the request counts as in flight while this guard lives"]
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Fresh, zeroed metrics (tests; the proxy uses [`global`]).
    pub fn new() -> Self {
        Self {
            requests_by_code: (100..600).map(|_| AtomicU64::new(0)).collect(),
            in_flight: AtomicI64::new(0),
            response_duration: std::array::from_fn(|_| Histogram::default()),
            upstream_duration: Histogram::default(),
            provider_duration: std::array::from_fn(|_| Histogram::default()),
            logins: Family::default(),
            refreshes: Family::default(),
            denials: Family::default(),
            csrf_failures: Family::default(),
        }
    }

    /// A request started; it counts as in flight until the guard is dropped.
    pub fn request_started(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// A request was answered with `status` after `elapsed`.
    pub fn request_done(&self, method: &http::Method, status: u16, elapsed: Duration) {
        if let Some(c) = status
            .checked_sub(100)
            .and_then(|i| self.requests_by_code.get(usize::from(i)))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.response_duration[method_index(method)].observe(elapsed);
    }

    /// The upstream app answered (response headers received) after `elapsed`.
    pub fn upstream_call(&self, elapsed: Duration) {
        self.upstream_duration.observe(elapsed);
    }

    /// A call to the identity provider took `elapsed` (successful or not).
    pub fn provider_call(&self, endpoint: ProviderEndpoint, elapsed: Duration) {
        let i = ProviderEndpoint::ALL
            .iter()
            .position(|e| *e == endpoint)
            .unwrap_or(0);
        self.provider_duration[i].observe(elapsed);
    }

    /// A login transaction ended.
    pub fn login(&self, provider: &str, outcome: LoginOutcome) {
        self.logins
            .get_or_create(&vec![
                ("provider", provider.to_owned()),
                ("outcome", outcome.as_str().to_owned()),
            ])
            .inc();
    }

    /// A session refresh ended (`success` true when a new session was issued).
    pub fn refresh(&self, success: bool) {
        let outcome = if success { "success" } else { "failure" };
        self.refreshes
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }

    /// The authorization rules denied a signed-in user (`reason`: a fixed identifier).
    pub fn authorization_denied(&self, reason: &'static str) {
        self.denials
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// A callback failed its state / CSRF checks (`reason`: `invalid_state`,
    /// `missing_csrf_cookie` or `state_mismatch`).
    pub fn csrf_failure(&self, reason: &'static str) {
        self.csrf_failures
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// The requests answered with `status` so far.
    pub fn requests_with_status(&self, status: u16) -> u64 {
        status
            .checked_sub(100)
            .and_then(|i| self.requests_by_code.get(usize::from(i)))
            .map(|c| c.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// Everything, in the Prometheus text format.
    pub fn render(self: &Arc<Self>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(RequestCollector(self.clone())));
        registry.register(
            "authproxy_logins",
            "Login transactions by provider and outcome.",
            self.logins.clone(),
        );
        registry.register(
            "authproxy_session_refreshes",
            "Session refreshes with the identity provider by outcome.",
            self.refreshes.clone(),
        );
        registry.register(
            "authproxy_authorization_denials",
            "Signed-in requests and logins refused by the authorization rules, by reason.",
            self.denials.clone(),
        );
        registry.register(
            "authproxy_csrf_failures",
            "OAuth callbacks whose state or CSRF cookie failed verification, by reason.",
            self.csrf_failures.clone(),
        );
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail; an encoder error would be a bug in a collector.
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).is_err() {
            tracing::error!("could not encode the metrics");
        }
        out
    }
}

/// Encodes the atomic request and latency metrics.
#[derive(Debug)]
struct RequestCollector(Arc<Metrics>);

impl Collector for RequestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> FmtResult {
        let m = &self.0;
        {
            let mut family = encoder.encode_descriptor(
                "oauth2_proxy_requests",
                "Total number of requests by HTTP status code.",
                None,
                MetricType::Counter,
            )?;
            for (i, c) in m.requests_by_code.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    let code = (i + 100).to_string();
                    let labels = [("code", code.as_str())];
                    family
                        .encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
        {
            let gauge = Gauge(m.in_flight.load(Ordering::Relaxed));
            let e = encoder.encode_descriptor(
                "oauth2_proxy_requests_in_flight",
                "Current number of requests being served.",
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(e)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "oauth2_proxy_response_duration_seconds",
                "A histogram of request latencies.",
                None,
                MetricType::Histogram,
            )?;
            for (i, h) in m.response_duration.iter().enumerate() {
                if h.count() > 0 {
                    let labels = [("method", METHODS.get(i).copied().unwrap_or("other"))];
                    h.encode(&mut family.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut e = encoder.encode_descriptor(
                "authproxy_upstream_response_duration_seconds",
                "Time until the upstream app's response headers arrived.",
                None,
                MetricType::Histogram,
            )?;
            m.upstream_duration.encode(&mut e)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "authproxy_provider_request_duration_seconds",
                "Duration of identity-provider requests by endpoint (discovery, jwks, token, userinfo).",
                None,
                MetricType::Histogram,
            )?;
            for (endpoint, h) in ProviderEndpoint::ALL.iter().zip(&m.provider_duration) {
                if h.count() > 0 {
                    let labels = [("endpoint", endpoint.as_str())];
                    h.encode(&mut family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// A gauge value read once for a scrape.
#[derive(Debug)]
struct Gauge(i64);

impl EncodeMetric for Gauge {
    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder) -> FmtResult {
        encoder.encode_gauge(&self.0)
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// The `/metrics` listener: answers `GET /metrics` (and `HEAD`), 404 for anything else. It
/// never touches sessions or the upstream.
pub struct MetricsEndpoint(pub Arc<Metrics>);

impl crate::server::Handler for MetricsEndpoint {
    type Conn = ();

    async fn handle(
        self: Arc<Self>,
        req: http::Request<hyper::body::Incoming>,
        _conn: crate::server::ConnInfo,
        _state: Arc<()>,
    ) -> http::Response<crate::Body> {
        self.answer(req.method(), req.uri().path())
    }
}

impl MetricsEndpoint {
    /// The response for `method path`.
    pub fn answer(&self, method: &http::Method, path: &str) -> http::Response<crate::Body> {
        use http::StatusCode;
        if path != "/metrics" {
            return crate::response::page(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found: metrics are at /metrics\n",
            );
        }
        if method != http::Method::GET && method != http::Method::HEAD {
            let mut resp = crate::response::page(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "method not allowed\n",
            );
            resp.headers_mut().insert(
                http::header::ALLOW,
                http::HeaderValue::from_static("GET, HEAD"),
            );
            return resp;
        }
        crate::response::page(StatusCode::OK, CONTENT_TYPE, self.0.render())
    }
}

#[cfg(test)]
mod tests;
