//! Listener and resource limits: authproxy extensions (oauth2-proxy has no such options),
//! with defaults taken from what nginx and Envoy do out of the box. See docs/limits.md.

use std::time::Duration;

use super::build::Ctx;

/// Limits of the listeners, the upstream client, the htpasswd checks and the log writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `max_connections` (default 4096): client connections served at once on the HTTP,
    /// HTTPS and gRPC ext_authz listeners together. Further connections wait in the kernel's
    /// listen queue.
    pub max_connections: usize,
    /// `max_connections` was set explicitly: kept even above the file-descriptor budget (with
    /// a warning, as nginx does); the default is lowered to fit it.
    pub max_connections_set: bool,
    /// `max_request_header_bytes` (default 64 KiB): request line plus header fields.
    pub max_request_header_bytes: usize,
    /// `header_read_timeout` (default 60s, nginx `client_header_timeout`).
    pub header_read_timeout: Duration,
    /// `idle_connection_timeout` (default 75s, nginx `keepalive_timeout`).
    pub idle_connection_timeout: Duration,
    /// `http2_max_concurrent_streams` (default 128, nginx `http2_max_concurrent_streams`).
    pub http2_max_concurrent_streams: u32,
    /// `http2_max_pending_reset_streams` (default 20, the h2 crate's rapid-reset guard).
    pub http2_max_pending_reset_streams: usize,
    /// `http2_max_local_reset_streams` (default 1024, hyper's).
    pub http2_max_local_reset_streams: usize,
    /// `max_endpoint_body_bytes` (default 64 KiB): bodies read by the proxy's own endpoints.
    pub max_endpoint_body_bytes: usize,
    /// `htpasswd_max_concurrent_checks`; `0` (default): half the available CPUs, at least 1.
    pub htpasswd_max_concurrent_checks: usize,
    /// `htpasswd_queue_timeout` (default 1s): wait for a free check before answering 503.
    pub htpasswd_queue_timeout: Duration,
    /// `log_queue_lines` (default 16384): log lines queued for stdout before lines are dropped.
    pub log_queue_lines: usize,
    /// `upstream_connect_timeout` (default 10s): TCP connect to the app.
    pub upstream_connect_timeout: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_set: false,
            max_request_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(60),
            idle_connection_timeout: Duration::from_secs(75),
            http2_max_concurrent_streams: 128,
            http2_max_pending_reset_streams: 20,
            http2_max_local_reset_streams: 1024,
            max_endpoint_body_bytes: 64 * 1024,
            htpasswd_max_concurrent_checks: 0,
            htpasswd_queue_timeout: Duration::from_secs(1),
            log_queue_lines: 16_384,
            upstream_connect_timeout: Duration::from_secs(10),
        }
    }
}

impl LimitsConfig {
    /// `htpasswd_max_concurrent_checks` with `0` resolved: half of `cpus`, at least 1.
    pub fn htpasswd_checks(&self, cpus: usize) -> usize {
        match self.htpasswd_max_concurrent_checks {
            0 => cpus.div_ceil(2).max(1),
            n => n,
        }
    }
}

/// Reads and validates the limit options; every bad value is reported and replaced by its
/// default so that the other errors are still found.
pub(super) fn limits(c: &mut Ctx) -> LimitsConfig {
    let d = LimitsConfig::default();
    fn int(c: &mut Ctx, key: &str, min: i64, max: i64) -> Option<i64> {
        let v = c.int(key);
        if (min..=max).contains(&v) {
            Some(v)
        } else {
            c.fail(key, format!("{v} is out of range: use {min} to {max}"));
            None
        }
    }
    fn positive(c: &mut Ctx, key: &str, default: Duration) -> Duration {
        let v = c.duration(key);
        if v.is_zero() {
            c.fail(key, "must be greater than zero");
            default
        } else {
            v
        }
    }
    let size =
        |v: Option<i64>, default: usize| v.and_then(|v| usize::try_from(v).ok()).unwrap_or(default);
    let max_connections = size(int(c, "max_connections", 1, 1 << 24), d.max_connections);
    // Below 1 KiB not even a session cookie fits; HTTP/2 advertises the value as a u32.
    let max_request_header_bytes = size(
        int(c, "max_request_header_bytes", 1024, 16 << 20),
        d.max_request_header_bytes,
    );
    let http2_max_concurrent_streams = int(c, "http2_max_concurrent_streams", 1, 1 << 20)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(d.http2_max_concurrent_streams);
    let http2_max_pending_reset_streams = size(
        int(c, "http2_max_pending_reset_streams", 1, 1 << 20),
        d.http2_max_pending_reset_streams,
    );
    let http2_max_local_reset_streams = size(
        int(c, "http2_max_local_reset_streams", 1, 1 << 20),
        d.http2_max_local_reset_streams,
    );
    let max_endpoint_body_bytes = size(
        int(c, "max_endpoint_body_bytes", 1024, 1 << 30),
        d.max_endpoint_body_bytes,
    );
    let htpasswd_max_concurrent_checks = size(
        int(c, "htpasswd_max_concurrent_checks", 0, 4096),
        d.htpasswd_max_concurrent_checks,
    );
    let log_queue_lines = size(int(c, "log_queue_lines", 1, 1 << 24), d.log_queue_lines);
    LimitsConfig {
        max_connections,
        max_connections_set: c.is_set("max_connections"),
        max_request_header_bytes,
        header_read_timeout: positive(c, "header_read_timeout", d.header_read_timeout),
        idle_connection_timeout: positive(c, "idle_connection_timeout", d.idle_connection_timeout),
        http2_max_concurrent_streams,
        http2_max_pending_reset_streams,
        http2_max_local_reset_streams,
        max_endpoint_body_bytes,
        htpasswd_max_concurrent_checks,
        // 0 is allowed: never wait, answer 503 at once when every check is busy.
        htpasswd_queue_timeout: c.duration("htpasswd_queue_timeout"),
        log_queue_lines,
        upstream_connect_timeout: positive(
            c,
            "upstream_connect_timeout",
            d.upstream_connect_timeout,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::time::Duration;

    use super::LimitsConfig;
    use crate::config::{load, Command};

    fn base() -> Vec<OsString> {
        [
            "--provider=oidc",
            "--oidc-issuer-url=https://idp.example.com",
            "--client-id=app",
            "--client-secret=s3cret",
            "--cookie-secret=0123456789abcdef0123456789abcdef",
            "--email-domain=*",
        ]
        .into_iter()
        .map(OsString::from)
        .collect()
    }

    fn load_with(extra: &[&str]) -> Result<LimitsConfig, String> {
        let mut args = base();
        args.extend(extra.iter().map(OsString::from));
        match load(&args, &HashMap::new()) {
            Ok(Command::Run(c)) => Ok(c.limits),
            Ok(other) => panic!("expected Run, got {other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn defaults_are_nginx_and_envoy_like() {
        let l = load_with(&[]).unwrap();
        assert_eq!(l, LimitsConfig::default());
        assert_eq!(l.max_connections, 4096);
        assert!(!l.max_connections_set);
        assert_eq!(l.header_read_timeout, Duration::from_secs(60));
        assert_eq!(l.idle_connection_timeout, Duration::from_secs(75));
        assert_eq!(l.upstream_connect_timeout, Duration::from_secs(10));
    }

    #[test]
    fn every_limit_is_read_from_flags() {
        let l = load_with(&[
            "--max-connections=5",
            "--max-request-header-bytes=8192",
            "--header-read-timeout=2s",
            "--idle-connection-timeout=3s",
            "--http2-max-concurrent-streams=4",
            "--http2-max-pending-reset-streams=6",
            "--http2-max-local-reset-streams=7",
            "--max-endpoint-body-bytes=2048",
            "--htpasswd-max-concurrent-checks=3",
            "--htpasswd-queue-timeout=0",
            "--log-queue-lines=100",
            "--upstream-connect-timeout=1s",
        ])
        .unwrap();
        assert_eq!(
            l,
            LimitsConfig {
                max_connections: 5,
                max_connections_set: true,
                max_request_header_bytes: 8192,
                header_read_timeout: Duration::from_secs(2),
                idle_connection_timeout: Duration::from_secs(3),
                http2_max_concurrent_streams: 4,
                http2_max_pending_reset_streams: 6,
                http2_max_local_reset_streams: 7,
                max_endpoint_body_bytes: 2048,
                htpasswd_max_concurrent_checks: 3,
                htpasswd_queue_timeout: Duration::ZERO,
                log_queue_lines: 100,
                upstream_connect_timeout: Duration::from_secs(1),
            }
        );
    }

    #[test]
    fn out_of_range_values_are_errors_naming_the_option() {
        let e = load_with(&[
            "--max-connections=0",
            "--max-request-header-bytes=100",
            "--header-read-timeout=0",
            "--idle-connection-timeout=0s",
            "--http2-max-concurrent-streams=-1",
            "--max-endpoint-body-bytes=10",
            "--log-queue-lines=0",
            "--upstream-connect-timeout=0",
        ])
        .unwrap_err();
        for want in [
            "option `max_connections` (from flag --max-connections): 0 is out of range: use 1 to",
            "option `max_request_header_bytes` (from flag --max-request-header-bytes): 100 is out of range: use 1024 to",
            "option `header_read_timeout` (from flag --header-read-timeout): must be greater than zero",
            "option `idle_connection_timeout` (from flag --idle-connection-timeout): must be greater than zero",
            "option `http2_max_concurrent_streams` (from flag --http2-max-concurrent-streams): -1 is out of range",
            "option `max_endpoint_body_bytes` (from flag --max-endpoint-body-bytes): 10 is out of range",
            "option `log_queue_lines` (from flag --log-queue-lines): 0 is out of range",
            "option `upstream_connect_timeout` (from flag --upstream-connect-timeout): must be greater than zero",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        let e = load_with(&["--max-connections=lots"]).unwrap_err();
        assert!(e.contains("\"lots\" is not an integer"), "{e}");
    }

    #[test]
    fn htpasswd_checks_default_to_half_the_cpus() {
        let l = LimitsConfig::default();
        assert_eq!(l.htpasswd_checks(1), 1);
        assert_eq!(l.htpasswd_checks(2), 1);
        assert_eq!(l.htpasswd_checks(3), 2);
        assert_eq!(l.htpasswd_checks(16), 8);
        let fixed = LimitsConfig {
            htpasswd_max_concurrent_checks: 5,
            ..LimitsConfig::default()
        };
        assert_eq!(fixed.htpasswd_checks(16), 5);
    }
}
