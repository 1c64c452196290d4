//! End to end: OpenTelemetry traces (`otel_traces_enabled`, docs/tracing.md). A local OTLP/HTTP
//! receiver decodes what the proxy exports with the published protobuf definitions; the real
//! oidc-provider IdP signs users in; the echo app shows the `traceparent` it received.
//!
//! * behind a trusted front proxy, a whole sign-in is one trace (the front proxy's), the IdP
//!   calls are children of the request that made them, and the app sees that trace id;
//! * a client that is not a trusted proxy cannot choose the trace: each request starts its
//!   own, and the app gets the proxy's `traceparent`, not the client's;
//! * Redis calls and the refresh are spans of the request that made them;
//! * off (the default), nothing is exported and `traceparent` passes through untouched.

mod support;

#[path = "support/otlp.rs"]
mod otlp;
#[path = "support/redis.rs"]
mod redis;

use std::collections::BTreeSet;
use std::time::Duration;

use otlp::{Receiver, Span, CLIENT, SERVER};
use reqwest::Method;
use support::idp::{self, IdpConfig, Login};
use support::{location, Browser, EchoReply, ProxyConfig, Stack};

/// How long spans may take to reach the receiver (the batch processor exports every 100 ms
/// here).
const EXPORT_WAIT: Duration = Duration::from_secs(15);

fn traced(c: ProxyConfig, receiver: &Receiver) -> ProxyConfig {
    c.enable("otel-traces-enabled")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url())
        .env("OTEL_SERVICE_NAME", "authproxy-e2e")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
}

async fn get_with(browser: &Browser, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = browser.request(Method::GET, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// `(trace id, parent span id)` of a `traceparent` value.
fn parse_traceparent(value: &str) -> (String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {value:?}");
    assert_eq!(parts[0], "00", "traceparent version in {value:?}");
    assert_eq!(parts[1].len(), 32, "trace id in {value:?}");
    assert_eq!(parts[2].len(), 16, "parent id in {value:?}");
    assert_eq!(parts[3], "01", "sampled flag in {value:?}");
    (parts[1].to_owned(), parts[2].to_owned())
}

fn server_span<'a>(spans: &'a [Span], name: &str, trace: Option<&str>) -> &'a Span {
    spans
        .iter()
        .find(|s| s.kind == SERVER && s.name == name && trace.is_none_or(|t| s.trace_id == t))
        .unwrap_or_else(|| panic!("no server span {name:?} (trace {trace:?}) in {spans:#?}"))
}

fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.trace_id == parent.trace_id && s.parent_span_id == parent.span_id)
        .collect()
}

fn child<'a>(spans: &'a [Span], parent: &Span, name: &str) -> &'a Span {
    let kids = children(spans, parent);
    kids.iter()
        .copied()
        .find(|s| s.name == name)
        .unwrap_or_else(|| {
            panic!(
                "{:?} has no child span {name:?}; its children: {:?}",
                parent.name,
                kids.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
}

/// The upstream span below the app request's span, and the echo of the app matching it.
fn assert_app_saw_upstream_span(spans: &[Span], request: &Span, echo: &EchoReply) {
    let upstream = child(spans, request, "upstream");
    assert_eq!(upstream.kind, CLIENT);
    assert_eq!(upstream.attr("http.response.status_code"), Some("200"));
    let (trace, parent) = parse_traceparent(
        echo.header("traceparent")
            .expect("the app receives a traceparent"),
    );
    assert_eq!(trace, request.trace_id, "the app is in the request's trace");
    assert_eq!(
        parent, upstream.span_id,
        "the app's parent is the upstream span"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_front_proxy_a_sign_in_is_one_trace_with_the_idp_calls_inside() {
    let receiver = Receiver::start().await;
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        traced(c, &receiver).enable("reverse-proxy")
    })
    .await;
    let browser = Browser::new();
    let login = Login::new("tracy-front");
    // The front proxy's trace: one id, one span of its own per request.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let front = |span: &str| format!("00-{trace}-{span}-01");
    let (p_start, p_callback, p_app) = ("00f067aa0ba902b1", "00f067aa0ba902b2", "00f067aa0ba902b3");

    let resp = get_with(
        &browser,
        &stack.proxy.url("/oauth2/start?rd=%2Fprivate%2Fpage"),
        &[("traceparent", &front(p_start)), ("tracestate", "front=1")],
    )
    .await;
    assert_eq!(resp.status(), 302);
    let callback = idp::authorize(&browser, &location(&resp), &login).await;
    let resp = get_with(
        &browser,
        callback.as_str(),
        &[
            ("traceparent", &front(p_callback)),
            ("tracestate", "front=1"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 302, "the callback signs in");
    let back = location(&resp);
    let resp = get_with(
        &browser,
        back.as_str(),
        &[("traceparent", &front(p_app)), ("tracestate", "front=1")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.expect("echo JSON");

    let spans = receiver
        .wait_for(EXPORT_WAIT, |spans| {
            spans.iter().filter(|s| s.kind == SERVER).count() >= 3
                && spans.iter().any(|s| s.name == "upstream")
                && spans.iter().any(|s| s.name == "idp token")
        })
        .await;
    assert!(receiver.errors().is_empty(), "{:?}", receiver.errors());

    // One trace for the whole sign-in: every request span is in the front proxy's trace,
    // each a child of the front proxy's span for that request.
    let requests: Vec<&Span> = spans.iter().filter(|s| s.kind == SERVER).collect();
    let traces: BTreeSet<&str> = requests.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces, BTreeSet::from([trace]), "one trace per sign-in");
    assert_eq!(requests.len(), 3, "three requests: {requests:#?}");
    let start = server_span(&spans, "GET /oauth2/start", Some(trace));
    assert_eq!(start.parent_span_id, p_start);
    assert_eq!(start.attr("http.route"), Some("/oauth2/start"));
    assert_eq!(start.attr("http.response.status_code"), Some("302"));
    let cb = server_span(&spans, "GET /oauth2/callback", Some(trace));
    assert_eq!(cb.parent_span_id, p_callback);
    assert_eq!(
        cb.attr("url.path"),
        Some("/oauth2/callback"),
        "no query (it carries the code)"
    );
    let app = server_span(&spans, "GET", Some(trace));
    assert_eq!(app.parent_span_id, p_app);
    assert_eq!(
        app.attr("http.route"),
        None,
        "the app's routes are not guessed"
    );
    assert_eq!(app.attr("http.response.status_code"), Some("200"));

    // The code exchange is a child of the callback, and names its grant.
    let token = child(&spans, cb, "idp token");
    assert_eq!(token.kind, CLIENT);
    assert_eq!(
        token.attr("authproxy.oauth.grant_type"),
        Some("authorization_code")
    );
    assert_eq!(token.attr("http.response.status_code"), Some("200"));
    assert_eq!(token.attr("http.request.method"), Some("POST"));
    let idp_url = token.attr("url.full").expect("url.full");
    assert!(
        idp_url.starts_with(stack.idp.issuer()) && !idp_url.contains('?'),
        "{idp_url}"
    );
    // Every IdP call made for a request is inside that request's trace; the only others are
    // the startup discovery's (a trace of its own, before any request).
    for s in spans.iter().filter(|s| s.name.starts_with("idp ")) {
        if s.trace_id == trace {
            assert!(
                requests.iter().any(|r| r.span_id == s.parent_span_id),
                "{} is not a child of a request span",
                s.name
            );
        } else {
            assert!(
                s.name == "idp discovery" || s.name == "idp jwks",
                "{} outside the sign-in's trace",
                s.name
            );
        }
    }
    assert!(
        spans.iter().any(|s| s.name == "idp discovery"),
        "discovery is traced"
    );

    // The app sees the same trace, and the front proxy's tracestate.
    assert_app_saw_upstream_span(&spans, app, &echo);
    assert_eq!(echo.header("tracestate"), Some("front=1"));

    // The user is never an attribute value without otel_traces_record_user.
    for s in &spans {
        assert!(s.attr("enduser.id").is_none(), "{s:#?}");
        for v in s.attributes.values() {
            assert!(!v.contains("tracy-front"), "the user leaked into {s:#?}");
        }
        assert_eq!(s.service_name, "authproxy-e2e", "OTEL_SERVICE_NAME");
        assert!(s.end_unix_nano >= s.start_unix_nano);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_is_no_trusted_proxy_cannot_choose_the_trace() {
    let receiver = Receiver::start().await;
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        traced(c, &receiver).enable("otel-traces-record-user")
    })
    .await;
    let browser = Browser::new();
    let login = Login::new("tracy-direct");
    let back = stack
        .complete_login(&browser, "/private/page", &login)
        .await;
    let forged_trace = "0af7651916cd43dd8448eb211c80319c";
    let forged = format!("00-{forged_trace}-b7ad6b7169203331-01");
    let resp = get_with(
        &browser,
        back.as_str(),
        &[("traceparent", &forged), ("tracestate", "evil=1")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.expect("echo JSON");

    let spans = receiver
        .wait_for(EXPORT_WAIT, |spans| {
            spans.iter().any(|s| s.name == "upstream")
                && spans.iter().any(|s| s.name == "GET /oauth2/callback")
        })
        .await;
    assert!(
        spans.iter().all(|s| s.trace_id != forged_trace),
        "the client's trace id was believed"
    );
    // Each request its own trace.
    let requests: Vec<&Span> = spans.iter().filter(|s| s.kind == SERVER).collect();
    let traces: BTreeSet<&str> = requests.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces.len(), requests.len(), "{requests:#?}");
    assert!(requests.iter().all(|s| s.parent_span_id.is_empty()));

    let cb = server_span(&spans, "GET /oauth2/callback", None);
    let token = child(&spans, cb, "idp token");
    assert_eq!(token.kind, CLIENT);

    let app = server_span(&spans, "GET", None);
    assert_app_saw_upstream_span(&spans, app, &echo);
    assert!(
        echo.header("tracestate").is_none(),
        "the client's tracestate is dropped with its traceparent"
    );
    // otel_traces_record_user: the signed-in user on the request span.
    assert_eq!(app.attr("enduser.id"), Some(login.email().as_str()));
    assert_eq!(
        cb.attr("enduser.id"),
        Some(login.email().as_str()),
        "the callback names who signed in"
    );
    let start = server_span(&spans, "GET /oauth2/start", None);
    assert!(
        start.attr("enduser.id").is_none(),
        "nobody is signed in yet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_calls_and_the_refresh_are_spans_of_the_request() {
    let redis = redis::RedisServer::start(redis::ServerConfig::default());
    let receiver = Receiver::start().await;
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        traced(c, &receiver)
            .set("session-store-type", "redis")
            .set("redis-connection-url", &redis.url())
            .set("cookie-refresh", "3s")
            .set("cookie-expire", "1h")
    })
    .await;
    let browser = Browser::new();
    let login = Login::new("tracy-redis");
    stack.sign_in(&browser, "/private/page", &login).await;
    // Past cookie_refresh (cookie timestamps have one-second resolution).
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let resp = browser.get(&stack.proxy.url("/after/refresh")).await;
    assert_eq!(resp.status(), 200, "the refreshed session reaches the app");

    let spans = receiver
        .wait_for(EXPORT_WAIT, |spans| {
            spans.iter().any(|s| s.name == "idp refresh")
                && spans.iter().filter(|s| s.name == "upstream").count() >= 2
        })
        .await;
    let cb = server_span(&spans, "GET /oauth2/callback", None);
    let save = child(&spans, cb, "redis save");
    assert_eq!(save.kind, CLIENT);
    assert_eq!(save.attr("db.system.name"), Some("redis"));

    let refreshing = spans
        .iter()
        .find(|s| s.kind == SERVER && s.attr("url.path") == Some("/after/refresh"))
        .expect("the refreshing request's span");
    for name in ["redis lock", "idp refresh", "redis save", "redis unlock"] {
        let s = child(&spans, refreshing, name);
        assert_eq!(s.kind, CLIENT, "{name}");
        assert_ne!(s.status_code, 2, "{name} failed: {s:#?}");
    }
    assert_eq!(
        child(&spans, refreshing, "idp refresh").attr("authproxy.oauth.grant_type"),
        Some("refresh_token")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_nothing_is_exported_and_traceparent_passes_through() {
    let receiver = Receiver::start().await;
    // The OTEL_* variables alone do not turn traces on.
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url())
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
    })
    .await;
    let browser = Browser::new();
    let back = stack
        .complete_login(&browser, "/private/page", &Login::new("tracy-off"))
        .await;
    let client = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let resp = get_with(&browser, back.as_str(), &[("traceparent", client)]).await;
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.expect("echo JSON");
    assert_eq!(
        echo.header("traceparent"),
        Some(client),
        "untouched, as oauth2-proxy"
    );
    // Ten export periods.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.exports(), 0, "traces off: nothing exported");
    assert!(receiver.errors().is_empty());
    assert!(
        !stack.proxy.log().contains("OpenTelemetry traces on"),
        "{}",
        stack.proxy.log()
    );
}

/// The first fenced block of `lang` in docs/tracing.md that contains `needle`.
fn doc_block(lang: &str, needle: &str) -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tracing.md"),
    )
    .expect("docs/tracing.md");
    doc.split(&format!("```{lang}\n"))
        .skip(1)
        .map(|b| b[..b.find("```").expect("closed block")].to_owned())
        .find(|b| b.contains(needle))
        .unwrap_or_else(|| panic!("no {lang} block with {needle:?} in docs/tracing.md"))
}

/// `authproxy --config <file> --check` with exactly `env`: (exit code, stdout, stderr).
fn check(config: &str, env: &[(String, String)]) -> (Option<i32>, String, String) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tracing-docs");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("authproxy-{}.cfg", std::process::id()));
    std::fs::write(&file, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args(["--config", file.to_str().unwrap(), "--check"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const BASE_CONFIG: &str = "provider = \"oidc\"\noidc_issuer_url = \"https://idp.example.com\"\n\
    skip_oidc_discovery = true\nlogin_url = \"https://idp.example.com/auth\"\n\
    redeem_url = \"https://idp.example.com/token\"\noidc_jwks_url = \"https://idp.example.com/jwks\"\n\
    client_id = \"app\"\nclient_secret = \"s3cret\"\nemail_domains = [\"*\"]\n\
    cookie_secret = \"0123456789abcdef0123456789abcdef\"\nupstreams = [\"http://127.0.0.1:8080/\"]\n";

#[test]
fn the_docs_configuration_and_error_examples_are_what_the_binary_does() {
    let toml = doc_block("toml", "otel_traces_enabled");
    let env: Vec<(String, String)> = doc_block("sh", "OTEL_EXPORTER_OTLP_ENDPOINT")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(env.len() >= 4, "{env:?}");
    let config = format!("{BASE_CONFIG}{toml}");
    let (code, out, err) = check(&config, &env);
    assert_eq!(
        code,
        Some(0),
        "the documented settings are valid: {out}{err}"
    );
    assert!(out.contains("configuration OK"), "{out}");

    // The error example: `$ VAR=value authproxy --config authproxy.cfg --check`, then stderr.
    let example = doc_block("text", "invalid OpenTelemetry settings");
    let mut lines = example.lines();
    let command = lines.next().expect("the command line");
    let assignment = command
        .strip_prefix("$ ")
        .and_then(|c| c.split_whitespace().next())
        .expect("$ VAR=value ...");
    let (k, v) = assignment.split_once('=').expect("VAR=value");
    let want: String = lines.map(|l| format!("{l}\n")).collect();
    let (code, _, err) = check(&config, &[(k.to_owned(), v.to_owned())]);
    assert_eq!(code, Some(2), "{err}");
    // The configuration's own warnings come first; the docs show the error.
    let err: String = err
        .lines()
        .filter(|l| !l.starts_with("authproxy: warning:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(err, want, "docs/tracing.md shows what the binary prints");

    // Without otel_traces_enabled the variables are not read at all.
    let (code, _, err) = check(BASE_CONFIG, &[(k.to_owned(), v.to_owned())]);
    assert_eq!(code, Some(0), "{err}");
}
