use super::*;

fn scrape(m: &Arc<Metrics>) -> String {
    m.render()
}

/// The value of the sample line that starts with `series ` (exact series, labels included).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn request_metrics_keep_oauth2_proxy_names_and_labels() {
    let m = Arc::new(Metrics::new());
    {
        let _a = m.request_started();
        let _b = m.request_started();
        let text = scrape(&m);
        assert_eq!(sample(&text, "oauth2_proxy_requests_in_flight"), Some(2.0));
    }
    m.request_done(&http::Method::GET, 200, Duration::from_millis(3));
    m.request_done(&http::Method::GET, 200, Duration::from_millis(30));
    m.request_done(&http::Method::POST, 403, Duration::from_millis(700));
    let text = scrape(&m);
    assert_eq!(sample(&text, "oauth2_proxy_requests_in_flight"), Some(0.0));
    assert_eq!(
        sample(&text, "oauth2_proxy_requests_total{code=\"200\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "oauth2_proxy_requests_total{code=\"403\"}"),
        Some(1.0)
    );
    assert!(
        !text.contains("code=\"500\""),
        "unused codes are not exported"
    );
    assert!(text.contains("# TYPE oauth2_proxy_requests_total counter"));
    assert!(text.contains("# TYPE oauth2_proxy_response_duration_seconds histogram"));
    assert_eq!(
        sample(
            &text,
            "oauth2_proxy_response_duration_seconds_bucket{method=\"get\",le=\"0.005\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "oauth2_proxy_response_duration_seconds_bucket{method=\"get\",le=\"0.05\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "oauth2_proxy_response_duration_seconds_bucket{method=\"get\",le=\"+Inf\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "oauth2_proxy_response_duration_seconds_count{method=\"post\"}"
        ),
        Some(1.0)
    );
    let sum = sample(
        &text,
        "oauth2_proxy_response_duration_seconds_sum{method=\"get\"}",
    )
    .expect("sum");
    assert!((sum - 0.033).abs() < 1e-9, "sum {sum}");
}

#[test]
fn unusual_methods_and_statuses_cannot_create_series() {
    let m = Arc::new(Metrics::new());
    let weird = http::Method::from_bytes(b"BREW").unwrap();
    m.request_done(&weird, 999, Duration::from_millis(1));
    m.request_done(&weird, 42, Duration::from_millis(1));
    let text = scrape(&m);
    assert_eq!(
        sample(
            &text,
            "oauth2_proxy_response_duration_seconds_count{method=\"other\"}"
        ),
        Some(2.0)
    );
    assert!(!text.contains("BREW") && !text.contains("brew"));
    let codes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("oauth2_proxy_requests_total{"))
        .collect();
    assert_eq!(
        codes,
        ["oauth2_proxy_requests_total{code=\"200\"} 0"],
        "only the always-present 200 series: {text}"
    );
}

#[test]
fn event_counters_are_labelled_by_fixed_vocabularies() {
    let m = Arc::new(Metrics::new());
    m.login("oidc", LoginOutcome::Success);
    m.login("oidc", LoginOutcome::Success);
    m.login("oidc", LoginOutcome::InvalidState);
    m.refresh(true);
    m.refresh(false);
    m.authorization_denied("email_domain");
    m.csrf_failure("missing_csrf_cookie");
    m.provider_call(ProviderEndpoint::Token, Duration::from_millis(20));
    m.upstream_call(Duration::from_millis(2));
    let text = scrape(&m);
    for (series, want) in [
        (
            "authproxy_logins_total{provider=\"oidc\",outcome=\"success\"}",
            2.0,
        ),
        (
            "authproxy_logins_total{provider=\"oidc\",outcome=\"invalid_state\"}",
            1.0,
        ),
        (
            "authproxy_session_refreshes_total{outcome=\"success\"}",
            1.0,
        ),
        (
            "authproxy_session_refreshes_total{outcome=\"failure\"}",
            1.0,
        ),
        (
            "authproxy_authorization_denials_total{reason=\"email_domain\"}",
            1.0,
        ),
        (
            "authproxy_csrf_failures_total{reason=\"missing_csrf_cookie\"}",
            1.0,
        ),
        (
            "authproxy_provider_request_duration_seconds_count{endpoint=\"token\"}",
            1.0,
        ),
        ("authproxy_upstream_response_duration_seconds_count", 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(want), "{series} in\n{text}");
    }
}

#[test]
fn histogram_buckets_are_cumulative_and_self_consistent() {
    let m = Arc::new(Metrics::new());
    for ms in [1, 7, 7, 60, 20_000] {
        m.upstream_call(Duration::from_millis(ms));
    }
    let text = scrape(&m);
    let bucket = |le: &str| {
        sample(
            &text,
            &format!("authproxy_upstream_response_duration_seconds_bucket{{le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("0.005"), Some(1.0));
    assert_eq!(bucket("0.01"), Some(3.0));
    assert_eq!(bucket("0.05"), Some(3.0));
    assert_eq!(bucket("0.1"), Some(4.0));
    assert_eq!(bucket("10"), Some(4.0));
    assert_eq!(bucket("+Inf"), Some(5.0));
    assert_eq!(
        sample(&text, "authproxy_upstream_response_duration_seconds_count"),
        Some(5.0)
    );
    let sum = sample(&text, "authproxy_upstream_response_duration_seconds_sum").unwrap();
    assert!((sum - 20.075).abs() < 1e-9);
}

#[test]
fn every_queried_family_has_series_before_the_first_event() {
    let m = Arc::new(Metrics::new());
    m.preregister(["oidc=app", "github"]);
    let text = scrape(&m);
    for series in [
        "oauth2_proxy_requests_total{code=\"200\"}",
        "oauth2_proxy_requests_in_flight",
        "oauth2_proxy_response_duration_seconds_count{method=\"get\"}",
        "authproxy_upstream_response_duration_seconds_count",
        "authproxy_provider_request_duration_seconds_count{endpoint=\"discovery\"}",
        "authproxy_provider_request_duration_seconds_count{endpoint=\"api\"}",
        "authproxy_logins_total{provider=\"oidc=app\",outcome=\"success\"}",
        "authproxy_logins_total{provider=\"github\",outcome=\"provider_error\"}",
        "authproxy_session_refreshes_total{outcome=\"failure\"}",
        "authproxy_authorization_denials_total{reason=\"not_in_allowed_groups\"}",
        "authproxy_authorization_denials_total{reason=\"email_domain_not_allowed\"}",
        "authproxy_csrf_failures_total{reason=\"state_mismatch\"}",
        "authproxy_provider_errors_total{endpoint=\"token\",kind=\"transport\"}",
        "authproxy_provider_errors_total{endpoint=\"userinfo\",kind=\"http_status\"}",
        "authproxy_upstream_errors_total{reason=\"connect_failed\"}",
        "authproxy_upstream_errors_total{reason=\"timeout\"}",
        "authproxy_session_store_errors_total{operation=\"load\"}",
        "authproxy_session_store_errors_total{operation=\"save\"}",
        "authproxy_session_store_errors_total{operation=\"clear\"}",
    ] {
        assert_eq!(sample(&text, series), Some(0.0), "{series} in\n{text}");
    }
    for reason in crate::authz::DenyReason::ALL {
        let series = format!(
            "authproxy_authorization_denials_total{{reason=\"{}\"}}",
            reason.as_str()
        );
        assert_eq!(sample(&text, &series), Some(0.0), "{series}");
    }
}

#[test]
fn error_counters_count_by_fixed_labels() {
    let m = Arc::new(Metrics::new());
    m.provider_error(ProviderEndpoint::Token, ProviderFailure::Transport);
    m.provider_error(ProviderEndpoint::Token, ProviderFailure::Transport);
    m.provider_error(ProviderEndpoint::Jwks, ProviderFailure::HttpStatus);
    m.upstream_error(UpstreamFailure::Timeout);
    m.session_store_error(SessionStoreOp::Save);
    let text = scrape(&m);
    for (series, want) in [
        (
            "authproxy_provider_errors_total{endpoint=\"token\",kind=\"transport\"}",
            2.0,
        ),
        (
            "authproxy_provider_errors_total{endpoint=\"token\",kind=\"http_status\"}",
            0.0,
        ),
        (
            "authproxy_provider_errors_total{endpoint=\"jwks\",kind=\"http_status\"}",
            1.0,
        ),
        ("authproxy_upstream_errors_total{reason=\"timeout\"}", 1.0),
        (
            "authproxy_upstream_errors_total{reason=\"unavailable\"}",
            0.0,
        ),
        (
            "authproxy_session_store_errors_total{operation=\"save\"}",
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(want), "{series} in\n{text}");
    }
    assert!(text.contains("# TYPE authproxy_upstream_errors_total counter"));
    assert!(text.contains("# TYPE authproxy_provider_errors_total counter"));
    assert!(text.contains("# TYPE authproxy_session_store_errors_total counter"));
}

#[test]
fn provider_error_statuses_are_5xx_and_429_only() {
    for (status, want) in [
        (200, false),
        (400, false),
        (401, false),
        (404, false),
        (429, true),
        (500, true),
        (503, true),
        (599, true),
        (302, false),
    ] {
        assert_eq!(ProviderFailure::is_error_status(status), want, "{status}");
    }
}
