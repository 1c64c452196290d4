//! Which requests are health checks (pure).
//!
//! A health check is answered by the proxy itself and never reaches the app or the
//! authentication chain. It is decided by the PATH first: a User-Agent alone never turns a
//! request into a health check. oauth2-proxy before v7.13 answered any path with the ping
//! User-Agent (GHSA-5hvv-m4w4-gf6v): behind nginx `auth_request` or Traefik `forwardAuth`, a
//! 200 from `/oauth2/auth` means "allowed", so anyone sending that User-Agent reached every
//! protected app. Here `/oauth2/auth`, `{prefix}/ext_authz/…`, the gRPC Check service and
//! protected paths are never health checks, whatever the User-Agent.

/// The User-Agent of Google Cloud load balancer health checks (`gcp_healthchecks`).
pub const GCP_USER_AGENT: &str = "GoogleHC/1.0";

/// The paths `gcp_healthchecks` answers (with [`GCP_USER_AGENT`] or the ping User-Agent).
pub const GCP_PATHS: [&str; 2] = ["/liveness_check", "/readiness_check"];

/// The health-check settings, compiled from `ping_path`, `ready_path`, `ping_user_agent` and
/// `gcp_healthchecks`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthChecks {
    pub ping_path: String,
    pub ready_path: String,
    /// `ping_user_agent` (empty: none).
    pub ping_user_agent: String,
    /// `gcp_healthchecks`.
    pub gcp: bool,
}

/// What a request is, as far as health checks go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Answer 200 "OK".
    Ping,
    /// Answer with the readiness state (200 or 503).
    Ready,
}

impl HealthChecks {
    /// The health check this request is, if any. `path` is the request's escaped path (no
    /// query), compared exactly.
    pub fn classify(&self, path: &str, user_agent: Option<&str>) -> Option<Check> {
        if path == self.ping_path {
            return Some(Check::Ping);
        }
        if path == self.ready_path {
            return Some(Check::Ready);
        }
        // gcp_healthchecks: Google's paths, for Google's probe (or the ping User-Agent), as
        // oauth2-proxy v7 serves them. Another client on these paths is an ordinary request.
        if self.gcp && GCP_PATHS.contains(&path) {
            let ua = user_agent.unwrap_or("");
            if ua == GCP_USER_AGENT
                || (!self.ping_user_agent.is_empty() && ua == self.ping_user_agent)
            {
                return Some(Check::Ping);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(ua: &str, gcp: bool) -> HealthChecks {
        HealthChecks {
            ping_path: "/ping".into(),
            ready_path: "/ready".into(),
            ping_user_agent: ua.into(),
            gcp,
        }
    }

    #[test]
    fn only_health_paths_are_health_checks_whatever_the_user_agent() {
        let probe = Some("HealthProbe/1.0");
        let table: &[(&HealthChecks, &str, Option<&str>, Option<Check>)] = &[
            (
                &checks("HealthProbe/1.0", false),
                "/ping",
                probe,
                Some(Check::Ping),
            ),
            (
                &checks("HealthProbe/1.0", false),
                "/ping",
                None,
                Some(Check::Ping),
            ),
            (
                &checks("HealthProbe/1.0", false),
                "/ready",
                probe,
                Some(Check::Ready),
            ),
            // The bypass of GHSA-5hvv-m4w4-gf6v: never a health check.
            (
                &checks("HealthProbe/1.0", false),
                "/oauth2/auth",
                probe,
                None,
            ),
            (
                &checks("HealthProbe/1.0", false),
                "/oauth2/ext_authz/x",
                probe,
                None,
            ),
            (&checks("HealthProbe/1.0", false), "/", probe, None),
            (&checks("HealthProbe/1.0", false), "/admin", probe, None),
            (&checks("HealthProbe/1.0", false), "/ping/", probe, None),
            (&checks("HealthProbe/1.0", false), "/pingx", probe, None),
            (&checks("", false), "/oauth2/auth", Some(""), None),
            // gcp_healthchecks: its paths for its User-Agent (or the ping one) only.
            (
                &checks("", true),
                "/liveness_check",
                Some(GCP_USER_AGENT),
                Some(Check::Ping),
            ),
            (
                &checks("", true),
                "/readiness_check",
                Some(GCP_USER_AGENT),
                Some(Check::Ping),
            ),
            (
                &checks("HealthProbe/1.0", true),
                "/liveness_check",
                probe,
                Some(Check::Ping),
            ),
            (&checks("", true), "/liveness_check", Some("curl/8"), None),
            (&checks("", true), "/liveness_check", None, None),
            (
                &checks("", true),
                "/oauth2/auth",
                Some(GCP_USER_AGENT),
                None,
            ),
            (&checks("", true), "/", Some(GCP_USER_AGENT), None),
            (
                &checks("", false),
                "/liveness_check",
                Some(GCP_USER_AGENT),
                None,
            ),
        ];
        for (c, path, ua, want) in table {
            assert_eq!(c.classify(path, *ua), *want, "{path} {ua:?} gcp={}", c.gcp);
        }
    }
}
