//! The `/metrics` listener's handler: the metrics rendered for Prometheus.

use std::sync::Arc;

use crate::metrics::{Metrics, CONTENT_TYPE};

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
mod tests {
    use super::*;

    #[test]
    fn endpoint_serves_metrics_only_at_the_metrics_path() {
        let e = MetricsEndpoint(Arc::new(Metrics::new()));
        let resp = e.answer(&http::Method::GET, "/metrics");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()[http::header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert_eq!(e.answer(&http::Method::GET, "/").status(), 404);
        assert_eq!(e.answer(&http::Method::GET, "/metrics/x").status(), 404);
        assert_eq!(e.answer(&http::Method::POST, "/metrics").status(), 405);
    }
}
