//! Prometheus metrics, served on `metrics_address` (a listener of its own) at `/metrics` in the
//! Prometheus text format (0.0.4), as oauth2-proxy serves them.
//!
//! oauth2-proxy's three request metrics keep their names and labels:
//! `oauth2_proxy_requests_total{code}`, `oauth2_proxy_requests_in_flight` and
//! `oauth2_proxy_response_duration_seconds{method}`. authproxy adds (prefix `authproxy_`):
//! logins by provider and outcome, session refreshes by outcome, authorization denials by
//! reason, CSRF/state failures by reason, latency histograms of identity-provider calls (by
//! endpoint) and of the upstream app, and error counters of the identity provider, the upstream
//! app and the session store.
//!
//! Labels are bounded, fixed vocabularies (status code, method, provider id from the
//! configuration, outcome/reason identifiers): never an email, a token, a cookie or a URL.
//! Every family the shipped alerts and dashboard (deploy/monitoring/) use has series from the
//! start, at 0 ([`Metrics::preregister`]): a query never has "no data" because nothing has
//! happened yet.
//!
//! Every request touches the request metrics, so they are plain atomics indexed by status code
//! and method, updated with relaxed `fetch_add` on the calling thread's shard (`shard.rs`, so
//! workers on different cores never write the same cache line): no lock, no allocation, no
//! map lookup. (The
//! `prometheus-client` histogram takes a mutex per observation, so the histograms here are our
//! own lock-free ones (non-cumulative atomic buckets), encoded through `prometheus-client`'s
//! collector interface.) The error counters are atomics too. The event counters (logins,
//! refreshes, denials, CSRF failures) happen at most a few times per session and use
//! `prometheus-client` families.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

mod collector;
mod histogram;
mod labels;
mod policy;
mod shard;

use collector::RequestCollector;
pub use histogram::Histogram;
use labels::{index_of, CSRF_REASONS};
pub use labels::{
    LoginOutcome, ProviderEndpoint, ProviderFailure, SessionStoreOp, UpstreamFailure,
};
pub use policy::{PolicyCounters, POLICY_DEFAULT_LABEL, POLICY_UNMATCHABLE_LABEL};

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

type Labels = Vec<(&'static str, String)>;

/// Every metric authproxy exports.
#[derive(Debug)]
pub struct Metrics {
    /// `oauth2_proxy_requests_total`: per thread shard, indexed by status code − 100
    /// (100–599).
    requests_by_code: [Box<[AtomicU64]>; shard::SHARDS],
    in_flight: shard::Gauge,
    /// `oauth2_proxy_response_duration_seconds`, one per [`METHODS`] entry plus `other`.
    response_duration: [Histogram; METHODS.len() + 1],
    upstream_duration: Histogram,
    provider_duration: [Histogram; ProviderEndpoint::ALL.len()],
    logins: Family<Labels, Counter>,
    refreshes: Family<Labels, Counter>,
    denials: Family<Labels, Counter>,
    csrf_failures: Family<Labels, Counter>,
    /// `authproxy_provider_errors_total`, by [`ProviderEndpoint`] then [`ProviderFailure`].
    provider_errors: [[AtomicU64; ProviderFailure::ALL.len()]; ProviderEndpoint::ALL.len()],
    /// `authproxy_upstream_errors_total`, by [`UpstreamFailure`].
    upstream_errors: [AtomicU64; UpstreamFailure::ALL.len()],
    /// `authproxy_session_store_errors_total`, by [`SessionStoreOp`].
    session_store_errors: [AtomicU64; SessionStoreOp::ALL.len()],
    /// `authproxy_connections_open`: client connections holding a connection slot.
    connections_open: shard::Gauge,
    /// `authproxy_htpasswd_checks_rejected_total`: logins answered 503 because every
    /// htpasswd check was busy.
    htpasswd_busy: AtomicU64,
    /// `authproxy_log_lines_dropped_total`: read from the log writer at scrape time.
    log_dropped: std::sync::OnceLock<tracing_appender::non_blocking::ErrorCounter>,
    /// The per-route policy's counters (read at scrape time only; requests hold their own
    /// reference through the compiled policy).
    policy: std::sync::RwLock<Option<Arc<PolicyCounters>>>,
    /// The same for the error-line writer (stderr), when it has its own queue.
    log_dropped_errors: std::sync::OnceLock<tracing_appender::non_blocking::ErrorCounter>,
    /// Lines of dropped batches beyond the one the writer counts per batch.
    log_dropped_in_batches: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Decrements the in-flight gauge when the request is done (however it ends).
#[must_use = "the request counts as in flight while this guard lives"]
pub struct InFlight<'a>(&'a shard::Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

impl Metrics {
    /// Fresh, zeroed metrics (tests; the proxy uses [`global`]).
    pub fn new() -> Self {
        Self {
            requests_by_code: std::array::from_fn(|_| {
                (100..600).map(|_| AtomicU64::new(0)).collect()
            }),
            in_flight: shard::Gauge::default(),
            response_duration: std::array::from_fn(|_| Histogram::default()),
            upstream_duration: Histogram::default(),
            provider_duration: std::array::from_fn(|_| Histogram::default()),
            logins: Family::default(),
            refreshes: Family::default(),
            denials: Family::default(),
            csrf_failures: Family::default(),
            provider_errors: Default::default(),
            upstream_errors: Default::default(),
            session_store_errors: Default::default(),
            connections_open: shard::Gauge::default(),
            htpasswd_busy: AtomicU64::new(0),
            log_dropped: std::sync::OnceLock::new(),
            policy: std::sync::RwLock::new(None),
            log_dropped_errors: std::sync::OnceLock::new(),
            log_dropped_in_batches: AtomicU64::new(0),
        }
    }

    /// Creates, at 0, every series of the event counters that the configuration makes possible:
    /// logins of each provider by outcome, refreshes by outcome, denials by reason, CSRF failures
    /// by reason. Called once at startup, before the first scrape.
    pub fn preregister<'a>(&self, providers: impl IntoIterator<Item = &'a str>) {
        for provider in providers {
            for outcome in LoginOutcome::ALL {
                drop(self.logins.get_or_create(&login_labels(provider, outcome)));
            }
        }
        for success in [true, false] {
            drop(self.refreshes.get_or_create(&refresh_labels(success)));
        }
        for reason in crate::authz::DenyReason::ALL {
            drop(self.denials.get_or_create(&reason_labels(reason.as_str())));
        }
        for reason in CSRF_REASONS {
            drop(self.csrf_failures.get_or_create(&reason_labels(reason)));
        }
    }

    /// A request started; it counts as in flight until the guard is dropped.
    pub fn request_started(&self) -> InFlight<'_> {
        self.in_flight.add(1);
        InFlight(&self.in_flight)
    }

    /// A client connection was accepted; it counts as open until the guard is dropped.
    pub fn connection_opened(&self) -> InFlight<'_> {
        self.connections_open.add(1);
        InFlight(&self.connections_open)
    }

    /// A basic-auth or sign-in form login got 503: every htpasswd check was busy.
    pub fn htpasswd_busy(&self) {
        self.htpasswd_busy.fetch_add(1, Ordering::Relaxed);
    }

    /// The log writer's count of dropped lines (set once, at startup).
    pub fn set_log_drop_counter(&self, counter: tracing_appender::non_blocking::ErrorCounter) {
        let _ = self.log_dropped.set(counter);
    }

    /// Export these per-route policy counters (the proxy's policy; replaces earlier ones).
    pub fn set_policy_counters(&self, counters: Arc<PolicyCounters>) {
        let mut slot = self.policy.write().unwrap_or_else(|p| p.into_inner());
        *slot = Some(counters);
    }

    /// The error-line writer's count of dropped lines (set once, at startup).
    pub fn set_error_log_drop_counter(
        &self,
        counter: tracing_appender::non_blocking::ErrorCounter,
    ) {
        let _ = self.log_dropped_errors.set(counter);
    }

    /// Log lines dropped so far because the log output (stdout, the log file or stderr) was
    /// too slow.
    pub fn log_lines_dropped(&self) -> u64 {
        let count = |c: &std::sync::OnceLock<tracing_appender::non_blocking::ErrorCounter>| {
            c.get()
                .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
        };
        count(&self.log_dropped)
            .saturating_add(count(&self.log_dropped_errors))
            .saturating_add(self.log_dropped_in_batches.load(Ordering::Relaxed))
    }

    /// A batch of `extra + 1` log lines was dropped (the writer counted one).
    pub fn log_lines_dropped_in_batch(&self, extra: u64) {
        self.log_dropped_in_batches
            .fetch_add(extra, Ordering::Relaxed);
    }

    /// A request was answered with `status` after `elapsed`.
    pub fn request_done(&self, method: &http::Method, status: u16, elapsed: Duration) {
        if let Some(c) = status
            .checked_sub(100)
            .and_then(|i| self.requests_by_code[shard::index()].get(usize::from(i)))
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
        self.provider_duration[index_of(&ProviderEndpoint::ALL, &endpoint)].observe(elapsed);
    }

    /// A call to the identity provider failed (no usable response, or a 5xx/429 answer).
    pub fn provider_error(&self, endpoint: ProviderEndpoint, kind: ProviderFailure) {
        self.provider_errors[index_of(&ProviderEndpoint::ALL, &endpoint)]
            [index_of(&ProviderFailure::ALL, &kind)]
        .fetch_add(1, Ordering::Relaxed);
    }

    /// A request could not be served by the upstream app (the client got a 502 or 504).
    pub fn upstream_error(&self, reason: UpstreamFailure) {
        self.upstream_errors[index_of(&UpstreamFailure::ALL, &reason)]
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A session-store operation failed (the store was unreachable or answered an error).
    pub fn session_store_error(&self, operation: SessionStoreOp) {
        self.session_store_errors[index_of(&SessionStoreOp::ALL, &operation)]
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A login transaction ended.
    pub fn login(&self, provider: &str, outcome: LoginOutcome) {
        self.logins
            .get_or_create(&login_labels(provider, outcome))
            .inc();
    }

    /// A session refresh ended (`success` true when a new session was issued).
    pub fn refresh(&self, success: bool) {
        self.refreshes.get_or_create(&refresh_labels(success)).inc();
    }

    /// The authorization rules denied a signed-in user (`reason`: a fixed identifier).
    pub fn authorization_denied(&self, reason: &'static str) {
        self.denials.get_or_create(&reason_labels(reason)).inc();
    }

    /// A callback failed its state / CSRF checks (`reason`: `invalid_state`,
    /// `missing_csrf_cookie` or `state_mismatch`).
    pub fn csrf_failure(&self, reason: &'static str) {
        self.csrf_failures
            .get_or_create(&reason_labels(reason))
            .inc();
    }

    /// The requests answered with `status` so far.
    pub fn requests_with_status(&self, status: u16) -> u64 {
        status
            .checked_sub(100)
            .map_or(0, |i| self.code_count(usize::from(i)))
    }

    /// Requests by status-code index (code − 100), summed over the shards.
    pub(super) fn code_count(&self, i: usize) -> u64 {
        self.requests_by_code
            .iter()
            .filter_map(|shard| shard.get(i))
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Everything, in the Prometheus text format.
    pub fn render(self: &Arc<Self>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(RequestCollector(self.clone())));
        let policy = self
            .policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(p) = policy {
            registry.register_collector(Box::new(policy::PolicyCollector(p)));
        }
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

fn login_labels(provider: &str, outcome: LoginOutcome) -> Labels {
    vec![
        ("provider", provider.to_owned()),
        ("outcome", outcome.as_str().to_owned()),
    ]
}

fn refresh_labels(success: bool) -> Labels {
    let outcome = if success { "success" } else { "failure" };
    vec![("outcome", outcome.to_owned())]
}

fn reason_labels(reason: &str) -> Labels {
    vec![("reason", reason.to_owned())]
}

#[cfg(test)]
mod tests;
