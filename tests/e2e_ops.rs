//! End to end: operations. `/metrics` on `metrics_address` after real logins, and the log
//! formats (`logging_format = json`, oauth2-proxy's text templates) as the process writes them.

mod support;

use support::idp::{IdpConfig, Login};
use support::{free_port, location, Browser, Stack};

/// The value of the sample line for exactly `series` (labels included), or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(port: u16) -> (reqwest::StatusCode, String, String) {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics listener answers");
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_logins_requests_csrf_failures_and_latencies() {
    let metrics_port = free_port();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("metrics-address", &format!("127.0.0.1:{metrics_port}"))
            .set("email-domain", "example.com")
    })
    .await;
    let (status, ct, before) = scrape(metrics_port).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    assert_eq!(
        sample(
            &before,
            "authproxy_logins_total{provider=\"oidc=authproxy\",outcome=\"success\"}"
        ),
        0.0
    );

    // Two successful logins, one refused by email_domains, one forged callback.
    let browser = Browser::new();
    let login = Login::new("alice");
    stack.sign_in(&browser, "/private", &login).await;
    stack
        .sign_in(&Browser::new(), "/other", &Login::new("bob"))
        .await;
    let outsider = Browser::new();
    let callback = stack
        .callback_url(&outsider, "/x", &Login::new("eve@evil.test"))
        .await;
    assert_eq!(outsider.get(callback.as_str()).await.status(), 403);
    let resp = Browser::new()
        .get(&stack.proxy.url("/oauth2/callback?code=abc&state=forged"))
        .await;
    assert_eq!(resp.status(), 403);

    let (_, _, text) = scrape(metrics_port).await;
    for (series, want) in [
        (
            "authproxy_logins_total{provider=\"oidc=authproxy\",outcome=\"success\"}",
            2.0,
        ),
        (
            "authproxy_logins_total{provider=\"oidc=authproxy\",outcome=\"forbidden\"}",
            1.0,
        ),
        (
            "authproxy_logins_total{provider=\"oidc=authproxy\",outcome=\"invalid_state\"}",
            1.0,
        ),
        (
            "authproxy_csrf_failures_total{reason=\"invalid_state\"}",
            1.0,
        ),
        (
            "authproxy_authorization_denials_total{reason=\"email_domain_not_allowed\"}",
            1.0,
        ),
        // The two signed-in page loads reached the app.
        ("authproxy_upstream_response_duration_seconds_count", 2.0),
        // Three code redemptions at the token endpoint.
        (
            "authproxy_provider_request_duration_seconds_count{endpoint=\"token\"}",
            3.0,
        ),
    ] {
        assert_eq!(sample(&text, series), want, "{series} in\n{text}");
    }
    assert!(
        sample(
            &text,
            "authproxy_provider_request_duration_seconds_count{endpoint=\"discovery\"}"
        ) >= 1.0
    );
    // oauth2-proxy's request metrics: 200s from the app, 302s from start/callback, 403s.
    assert!(sample(&text, "oauth2_proxy_requests_total{code=\"200\"}") >= 2.0);
    assert!(sample(&text, "oauth2_proxy_requests_total{code=\"302\"}") >= 4.0);
    assert!(sample(&text, "oauth2_proxy_requests_total{code=\"403\"}") >= 2.0);
    assert!(
        sample(
            &text,
            "oauth2_proxy_response_duration_seconds_count{method=\"get\"}"
        ) >= 8.0
    );
    assert_eq!(sample(&text, "oauth2_proxy_requests_in_flight"), 0.0);
    // Nothing personal or secret becomes a label.
    for leak in ["alice", "bob", "eve", "example.com", "forged", "abc"] {
        assert!(!text.contains(leak), "{leak:?} appears in the metrics");
    }
    // The metrics listener serves nothing else, and the main listener has no /metrics.
    let other = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{metrics_port}/private"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let resp = browser.get(&stack.proxy.url("/metrics")).await;
    assert_eq!(
        resp.status(),
        200,
        "on the main listener /metrics is an app path"
    );
    assert_eq!(
        resp.json::<support::EchoReply>().await.unwrap().path,
        "/metrics"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_refreshes_are_counted() {
    let metrics_port = free_port();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("metrics-address", &format!("127.0.0.1:{metrics_port}"))
            .set("cookie-refresh", "1s")
    })
    .await;
    let alice = Browser::new();
    stack.sign_in(&alice, "/", &Login::new("alice")).await;
    let carol = Browser::new();
    stack.sign_in(&carol, "/", &Login::new("carol")).await;
    stack.idp.revoke("carol").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(alice.get(&stack.proxy.url("/")).await.status(), 200);
    assert_eq!(carol.get(&stack.proxy.url("/")).await.status(), 403);
    let (_, _, text) = scrape(metrics_port).await;
    assert_eq!(
        sample(
            &text,
            "authproxy_session_refreshes_total{outcome=\"success\"}"
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "authproxy_session_refreshes_total{outcome=\"failure\"}"
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logging_writes_one_object_per_line() {
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("logging-format", "json")
            // The harness asks for debug logs; the configured streams are what is tested here.
            .env("RUST_LOG", "")
    })
    .await;
    let browser = Browser::new();
    stack
        .sign_in(&browser, "/page?x=1", &Login::new("alice"))
        .await;
    let log = wait_for(&stack, |log| {
        log.contains("\"login succeeded\"") && log.contains("/page")
    })
    .await;
    let mut targets = std::collections::BTreeSet::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        assert!(
            v.get("timestamp").is_some() && v.get("level").is_some(),
            "{line}"
        );
        targets.insert(v["target"].as_str().unwrap_or("").to_string());
    }
    assert!(targets.contains("request"), "{targets:?}");
    assert!(targets.contains("auth"), "{targets:?}");
    let request = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["target"] == "request" && v["path"] == "/page")
        .expect("request line for /page");
    assert_eq!(request["status"], 200);
    assert_eq!(request["user"], "alice@example.com");
    // Tokens and cookie values never reach the log.
    let jar_value = browser.jar().get(support::COOKIE_NAME).unwrap();
    assert!(
        !log.contains(&jar_value[..20]),
        "the session cookie was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logging_follows_oauth2_proxy_templates() {
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set(
            "request-logging-format",
            "REQ {{.Client}} {{.Username}} {{.RequestMethod}} {{.RequestURI}} {{.StatusCode}} {{.Upstream}}",
        )
        .set("auth-logging-format", "AUTH {{.Client}} {{.Username}} [{{.Status}}] {{.Message}}")
        .set("standard-logging-format", "STD [{{.Timestamp}}] {{.Message}}")
        .env("RUST_LOG", "")
    })
    .await;
    let browser = Browser::new();
    stack
        .sign_in(&browser, "/page?x=1", &Login::new("alice"))
        .await;
    let resp = browser.get(&stack.proxy.url("/oauth2/sign_out")).await;
    assert_eq!(location(&resp).path(), "/");
    let log = wait_for(&stack, |log| {
        log.contains("REQ 127.0.0.1 - GET \"/oauth2/sign_out\"")
    })
    .await;
    assert!(
        log.lines()
            .any(|l| l == "REQ 127.0.0.1 alice@example.com GET \"/page?x=1\" 200 -"),
        "request line for the signed-in page:\n{log}"
    );
    assert!(
        log.lines().any(
            |l| l.starts_with("AUTH 127.0.0.1 alice@example.com [AuthSuccess] login succeeded")
        ),
        "auth success line:\n{log}"
    );
    let std_line = log
        .lines()
        .find(|l| l.starts_with("STD [") && l.contains("listening"))
        .unwrap_or_else(|| panic!("standard line:\n{log}"));
    // oauth2-proxy's timestamp layout: 2006/01/02 15:04:05.
    let ts = &std_line[5..24];
    assert_eq!(ts.len(), 19);
    assert_eq!(&ts[4..5], "/");
    assert_eq!(&ts[13..14], ":");
}

/// The proxy's log once `done` holds (the log writer is asynchronous).
async fn wait_for(stack: &Stack, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        let log = stack.proxy.log();
        if done(&log) {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("expected log lines did not appear:\n{}", stack.proxy.log());
}
