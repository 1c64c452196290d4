//! Encodes the atomic metrics (requests, latencies, error counters) at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::{
    FmtResult, Metrics, ProviderEndpoint, ProviderFailure, SessionStoreOp, UpstreamFailure, METHODS,
};

/// Encodes the atomic request and latency metrics.
#[derive(Debug)]
pub(super) struct RequestCollector(pub(super) Arc<Metrics>);

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
            for i in 0..500 {
                let n = m.code_count(i);
                // 200 is always there (at 0 before the first request), so that ratios over
                // all requests have a denominator from the first scrape on.
                if n > 0 || i + 100 == 200 {
                    let code = (i + 100).to_string();
                    let labels = [("code", code.as_str())];
                    family
                        .encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
        {
            let gauge = Gauge(m.in_flight.get());
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
                // `get` is always there, like `code="200"` above.
                if h.count() > 0 || i == 0 {
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
            // Every endpoint, called or not (a GitHub provider has no discovery, ...).
            for (endpoint, h) in ProviderEndpoint::ALL.iter().zip(&m.provider_duration) {
                let labels = [("endpoint", endpoint.as_str())];
                h.encode(&mut family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "authproxy_provider_errors",
                "Identity-provider requests that failed, by endpoint and kind (transport: no usable response; http_status: a 5xx or 429 answer).",
                None,
                MetricType::Counter,
            )?;
            for (endpoint, row) in ProviderEndpoint::ALL.iter().zip(&m.provider_errors) {
                for (kind, c) in ProviderFailure::ALL.iter().zip(row) {
                    let labels = [("endpoint", endpoint.as_str()), ("kind", kind.as_str())];
                    counter(&mut family, &labels, c)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "authproxy_upstream_errors",
                "Requests the upstream app could not serve (answered 502 or 504), by reason.",
                None,
                MetricType::Counter,
            )?;
            for (reason, c) in UpstreamFailure::ALL.iter().zip(&m.upstream_errors) {
                counter(&mut family, &[("reason", reason.as_str())], c)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "authproxy_session_store_errors",
                "Failed session-store operations by operation (always 0 with the cookie store).",
                None,
                MetricType::Counter,
            )?;
            for (op, c) in SessionStoreOp::ALL.iter().zip(&m.session_store_errors) {
                counter(&mut family, &[("operation", op.as_str())], c)?;
            }
        }
        {
            let gauge = Gauge(m.connections_open.get());
            let e = encoder.encode_descriptor(
                "authproxy_connections_open",
                "Client connections being served now (each holds one of max_connections).",
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(e)?;
        }
        {
            let mut e = encoder.encode_descriptor(
                "authproxy_htpasswd_checks_rejected",
                "Basic-auth and sign-in form logins answered 503 because all htpasswd checks were busy (htpasswd_max_concurrent_checks).",
                None,
                MetricType::Counter,
            )?;
            let n = m.htpasswd_busy.load(Ordering::Relaxed);
            e.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        {
            let mut e = encoder.encode_descriptor(
                "authproxy_log_lines_dropped",
                "Log lines dropped because stdout did not keep up (log_queue_lines were queued).",
                None,
                MetricType::Counter,
            )?;
            let n = m.log_lines_dropped();
            e.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        Ok(())
    }
}

/// One series of a counter family, read once for a scrape.
fn counter(
    family: &mut prometheus_client::encoding::MetricEncoder<'_>,
    labels: &[(&str, &str)],
    c: &AtomicU64,
) -> FmtResult {
    let n = c.load(Ordering::Relaxed);
    family
        .encode_family(&labels)?
        .encode_counter::<NoLabelSet, _, u64>(&n, None)
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
