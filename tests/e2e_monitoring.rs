//! End to end: the monitoring kit in deploy/monitoring/ against a real Prometheus (Debian's
//! package, installed when missing) scraping a real authproxy that serves real logins through
//! the test IdP.
//!
//! * `promtool check rules` on the PrometheusRule's rule groups and `promtool test rules` on
//!   tests/fixtures/monitoring/alerts_test.yaml;
//! * every metric family the alerts and the dashboard use has series in the very first scrape,
//!   before anything happened;
//! * Prometheus scrapes the proxy's metrics listener every second and evaluates the rules
//!   (all healthy); after a short load (logins, signed-in requests, a denial, a forged callback,
//!   a sign-out, an app that is down) EVERY PromQL expression of the dashboard's panels and of the
//!   alerts returns at least one series through `/api/v1/query` — an alert's threshold
//!   comparison is queried with `bool`, so that "no series" means the data is missing, not that
//!   the alert is quiet;
//! * the dashboard's queries render in Prometheus' own graph page (headless Debian chromium,
//!   tests/browser/prometheus-screenshot.mjs). `AUTHPROXY_UPDATE_SCREENSHOTS=1` writes the PNG
//!   to docs/images/monitoring-prometheus.png.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::idp::{IdpConfig, Login};
use support::prometheus::{self, Prometheus};
use support::{free_port, Browser, Stack};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// What the test's Prometheus calls the scrape job: the PodMonitor's `<namespace>/<name>`.
const JOB: &str = "apps/authproxy";
/// The rate window the dashboard's `$__rate_interval` stands for here (1 s scrapes).
const RATE_INTERVAL: &str = "15s";

/// One PromQL expression of the kit, and where it comes from (for failure messages).
#[derive(Debug, Clone)]
struct Expr {
    origin: String,
    promql: String,
    /// The caption in the screenshot (panel title, and the legend when a panel has several).
    caption: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_dashboard_queries_have_data_in_a_live_prometheus() {
    let started = Instant::now();
    prometheus::ensure_installed();
    let dir = temp_dir("monitoring");

    // Offline: the rule groups and their unit tests.
    let rules_path = dir.join("authproxy-rules.yaml");
    let alerts = write_rules(&rules_path);
    assert!(alerts.len() >= 6, "only {} alerts", alerts.len());
    prometheus::promtool(&dir, &["check", "rules", "authproxy-rules.yaml"])
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        Path::new(ROOT).join("tests/fixtures/monitoring/alerts_test.yaml"),
        dir.join("alerts_test.yaml"),
    )
    .expect("copy alerts_test.yaml");
    prometheus::promtool(&dir, &["test", "rules", "alerts_test.yaml"])
        .unwrap_or_else(|e| panic!("{e}"));
    let (panels, variables) = dashboard_exprs();
    assert!(panels.len() >= 15, "only {} panel queries", panels.len());

    // The proxy, with a second upstream on a port where nothing listens (upstream errors).
    let metrics_port = free_port();
    let dead_app = free_port();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("metrics-address", &format!("127.0.0.1:{metrics_port}"))
            .set("email-domain", "example.com")
            .set("cookie-refresh", "1s")
            .add("upstream", &format!("http://127.0.0.1:{dead_app}/down/"))
    })
    .await;

    // Before any event: every family the kit queries is in the first scrape.
    let first = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text");
    let mut missing = Vec::new();
    for e in alerts.iter().chain(&panels).chain(&variables) {
        for name in metric_names(&e.promql) {
            let present = first
                .lines()
                .any(|l| l.starts_with(&name) && l[name.len()..].starts_with([' ', '{']));
            if !present {
                missing.push(format!("{}: {name}", e.origin));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "metric families without any series before the first event (a panel or alert that \
         can never show data):\n  {}\nfirst scrape:\n{first}",
        missing.join("\n  ")
    );

    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {rules}\n\
         scrape_configs:\n  - job_name: {JOB}\n    metrics_path: /metrics\n    static_configs:\n\
         \x20     - targets: ['127.0.0.1:{metrics_port}']\n        labels:\n          namespace: apps\n",
        rules = rules_path.display()
    );
    let prom = Prometheus::start(&dir, &config).await;
    let target_up = format!("up{{job=\"{JOB}\"}}");
    prom.wait_until(
        "the scrape target to be up",
        Duration::from_secs(60),
        || {
            let q = target_up.clone();
            let prom = &prom;
            async move { prom.value(&q).await == 1.0 }
        },
    )
    .await;
    let targets = prom
        .api("targets", &[("state", "active")])
        .await
        .expect("targets");
    let active = targets["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(active.len(), 1, "{targets}");
    assert_eq!(active[0]["health"], "up", "{targets}");

    drive_load(&stack).await;
    let update_screenshot = std::env::var("AUTHPROXY_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1");
    if update_screenshot {
        // A minute of traffic, so that the graphs in the documentation have a shape.
        background_traffic(&stack, 30).await;
    }

    // Prometheus has scraped what the load did (3 logins: success, forbidden, invalid_state),
    // and the series that only appear with their first event (`code="502"`) twice, so that
    // rate() has two samples of them.
    for (what, q, want) in [
        (
            "the logins to be scraped",
            format!("sum(authproxy_logins_total{{job=\"{JOB}\"}})"),
            3.0,
        ),
        (
            "two scrapes of the first 502",
            format!("sum(count_over_time(oauth2_proxy_requests_total{{job=\"{JOB}\",code=\"502\"}}[1m]))"),
            2.0,
        ),
    ] {
        prom.wait_until(what, Duration::from_secs(30), || {
            let q = q.clone();
            let prom = &prom;
            async move { prom.value(&q).await >= want }
        })
        .await;
    }

    // Every expression returns at least one series.
    let mut failures = Vec::new();
    for e in &panels {
        check_has_series(&prom, e, &e.promql, &mut failures).await;
    }
    for e in &alerts {
        match with_bool(&e.promql) {
            Some(q) => check_has_series(&prom, e, &q, &mut failures).await,
            None => failures.push(format!(
                "{}: no threshold comparison found in {:?}",
                e.origin, e.promql
            )),
        }
    }
    for v in &variables {
        check_has_series(&prom, v, &v.promql, &mut failures).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {} expressions returned no series or failed:\n  {}",
        failures.len(),
        panels.len() + alerts.len() + variables.len(),
        failures.join("\n  ")
    );

    // The alerting rules loaded and evaluate without errors.
    let rules = prom
        .api("rules", &[("type", "alert")])
        .await
        .expect("rules");
    let loaded: Vec<&serde_json::Value> = rules["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(loaded.len(), alerts.len(), "{rules}");
    for r in &loaded {
        assert_eq!(
            r["health"], "ok",
            "rule {} evaluates with an error: {r}",
            r["name"]
        );
    }

    screenshot(&prom, &panels, &dir, update_screenshot);
    eprintln!(
        "e2e_monitoring: {} panel queries, {} alerts, {} variables checked in {:?}",
        panels.len(),
        alerts.len(),
        variables.len(),
        started.elapsed()
    );
    drop(prom);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A login, signed-in requests (two of them refreshing the session), an upstream that is down,
/// a login refused by `email_domains`, a forged callback, a sign-out.
async fn drive_load(stack: &Stack) {
    let alice = Browser::new();
    stack.sign_in(&alice, "/app", &Login::new("alice")).await;
    for i in 0..5 {
        let resp = alice.get(&stack.proxy.url(&format!("/app/{i}"))).await;
        assert_eq!(resp.status(), 200, "signed-in request {i}");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        alice.get(&stack.proxy.url("/app/refreshed")).await.status(),
        200
    );
    let resp = alice.get(&stack.proxy.url("/down/x")).await;
    assert_eq!(resp.status(), 502, "the second upstream is down");
    let outsider = Browser::new();
    let callback = stack
        .callback_url(&outsider, "/app", &Login::new("eve@evil.test"))
        .await;
    assert_eq!(outsider.get(callback.as_str()).await.status(), 403);
    let forged = Browser::new()
        .get(&stack.proxy.url("/oauth2/callback?code=abc&state=forged"))
        .await;
    assert_eq!(forged.status(), 403);
    let out = alice.get(&stack.proxy.url("/oauth2/sign_out")).await;
    assert_eq!(out.status(), 302, "sign-out");
    assert_eq!(
        Browser::new().get(&stack.proxy.url("/app")).await.status(),
        403
    );
}

/// `rounds` rounds of 2 s: signed-in requests, every third round a new login, a request to
/// the app that is down, and now and then a forged callback.
async fn background_traffic(stack: &Stack, rounds: usize) {
    let mut browser = Browser::new();
    for round in 0..rounds {
        if round % 3 == 0 {
            browser = Browser::new();
            stack
                .sign_in(&browser, "/app", &Login::new(&format!("user{round}")))
                .await;
        }
        for i in 0..(5 + round % 7) {
            browser.get(&stack.proxy.url(&format!("/app/{i}"))).await;
        }
        if round % 2 == 0 {
            browser.get(&stack.proxy.url("/down/x")).await;
        }
        if round % 5 == 0 {
            Browser::new()
                .get(&stack.proxy.url("/oauth2/callback?code=abc&state=forged"))
                .await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn check_has_series(prom: &Prometheus, e: &Expr, q: &str, failures: &mut Vec<String>) {
    match prom.query(q).await {
        Ok(result) if !result.is_empty() => {}
        Ok(_) => failures.push(format!("{}: no series for {q}", e.origin)),
        Err(why) => failures.push(format!("{}: {why} for {q}", e.origin)),
    }
}

/// Writes the PrometheusRule's `spec` (its rule groups) to `path` as a Prometheus rules file;
/// returns the alerts.
fn write_rules(path: &Path) -> Vec<Expr> {
    let file = Path::new(ROOT).join("deploy/monitoring/prometheusrule.yaml");
    let text = std::fs::read_to_string(&file).expect("read prometheusrule.yaml");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    assert_eq!(doc["kind"].as_str(), Some("PrometheusRule"));
    let spec = &doc["spec"];
    std::fs::write(path, serde_yaml_ng::to_string(spec).expect("YAML")).expect("write rules");
    let mut alerts = Vec::new();
    for group in spec["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"].as_str().expect("only alerting rules");
            for key in ["summary", "description", "runbook"] {
                assert!(
                    rule["annotations"][key]
                        .as_str()
                        .is_some_and(|s| s.len() > 20),
                    "alert {name} has no {key} annotation"
                );
            }
            assert!(rule["labels"]["severity"].as_str().is_some(), "{name}");
            alerts.push(Expr {
                origin: format!("alert {name}"),
                promql: rule["expr"].as_str().expect("expr").trim().to_string(),
                caption: name.to_string(),
            });
        }
    }
    alerts
}

/// The panel queries and the query variables of the Grafana dashboard, with the dashboard's
/// variables as Grafana substitutes them (`$job` = All = `.*`).
fn dashboard_exprs() -> (Vec<Expr>, Vec<Expr>) {
    let file = Path::new(ROOT).join("deploy/monitoring/authproxy-dashboard.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("read dashboard"))
            .expect("JSON");
    let vars = dash["templating"]["list"].as_array().expect("templating");
    let datasource = vars
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(datasource["query"], "prometheus");
    let ds_ref = format!("${{{}}}", datasource["name"].as_str().expect("name"));
    let mut panels = Vec::new();
    collect_panels(
        dash["panels"].as_array().expect("panels"),
        &ds_ref,
        &mut panels,
    );
    let mut variables = Vec::new();
    for v in vars.iter().filter(|v| v["type"] == "query") {
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .expect("query");
        // label_values(METRIC, LABEL): the variable has values when METRIC has series with LABEL.
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .expect("label_values(metric, label)");
        let (metric, label) = inner.split_once(',').expect("metric, label");
        variables.push(Expr {
            origin: format!("variable {}", v["name"]),
            promql: format!(
                "count by ({}) ({})",
                label.trim(),
                substitute(metric.trim())
            ),
            caption: String::new(),
        });
    }
    (panels, variables)
}

/// The queries of `list` and of the panels of its rows, in dashboard order.
fn collect_panels(list: &[serde_json::Value], ds_ref: &str, out: &mut Vec<Expr>) {
    for p in list {
        let title = p["title"].as_str().unwrap_or("?");
        if p["type"] == "row" {
            collect_panels(p["panels"].as_array().map_or(&[], |v| v), ds_ref, out);
            continue;
        }
        assert_eq!(p["datasource"]["uid"], ds_ref, "panel {title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {title} has no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], ds_ref, "panel {title}");
            // "p95 {{endpoint}}" -> "p95": the series' labels are in the graph's legend.
            let legend = t["legendFormat"].as_str().unwrap_or("");
            let legend = legend.split("{{").next().unwrap_or("").trim();
            out.push(Expr {
                origin: format!(
                    "panel {title:?} query {}",
                    t["refId"].as_str().unwrap_or("?")
                ),
                promql: substitute(t["expr"].as_str().expect("expr")),
                caption: if targets.len() > 1 {
                    format!("{title}: {legend}")
                } else {
                    title.to_string()
                },
            });
        }
    }
}

/// Grafana's variables as Grafana fills them in for "All" and a 1 s scrape interval.
fn substitute(expr: &str) -> String {
    let out = expr
        .replace("${__rate_interval}", RATE_INTERVAL)
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("${job}", ".*")
        .replace("$job", ".*");
    assert!(!out.contains('$'), "unknown dashboard variable in {expr}");
    out
}

/// The metric family names (`oauth2_proxy_*`, `authproxy_*`) an expression uses, without the
/// histogram and counter sample suffixes.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i == start {
            i += 1;
            continue;
        }
        let word = &expr[start..i];
        if word.starts_with("oauth2_proxy_") || word.starts_with("authproxy_") {
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| word.strip_suffix(s))
                .unwrap_or(word);
            names.insert(family.to_string());
        }
    }
    // The families' sample names as exposed.
    names
        .into_iter()
        .map(|n| {
            if n.ends_with("_seconds") {
                format!("{n}_bucket")
            } else {
                n
            }
        })
        .collect()
}

/// `expr` with `bool` after every comparison operator outside label matchers and strings, so
/// that the comparison yields 0/1 for every series instead of filtering; `None` if there is no
/// comparison.
fn with_bool(expr: &str) -> Option<String> {
    let mut out = String::with_capacity(expr.len() + 16);
    let chars: Vec<char> = expr.chars().collect();
    let (mut i, mut braces, mut found) = (0, 0usize, false);
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            _ => {}
        }
        let next = chars.get(i + 1).copied();
        let op_len = match (c, next) {
            _ if braces > 0 => 0,
            ('=', Some('=')) | ('!', Some('=')) | ('>', Some('=')) | ('<', Some('=')) => 2,
            ('>', _) | ('<', _) => 1,
            _ => 0,
        };
        if op_len == 0 {
            out.push(c);
            i += 1;
            continue;
        }
        out.extend(&chars[i..i + op_len]);
        i += op_len;
        let rest: String = chars[i..].iter().collect();
        if !rest.trim_start().starts_with("bool") {
            out.push_str(" bool");
        }
        found = true;
    }
    found.then_some(out)
}

/// Renders the panel queries in Prometheus' graph page with headless chromium; the script fails
/// when a graph does not render or Prometheus shows an error.
fn screenshot(prom: &Prometheus, panels: &[Expr], dir: &Path, update: bool) {
    let queries: Vec<serde_json::Value> = panels
        .iter()
        .map(|p| serde_json::json!({ "title": p.caption, "expr": p.promql }))
        .collect();
    let queries_path = dir.join("queries.json");
    std::fs::write(&queries_path, serde_json::to_string(&queries).unwrap()).unwrap();
    let out: PathBuf = if update {
        Path::new(ROOT).join("docs/images/monitoring-prometheus.png")
    } else {
        dir.join("monitoring-prometheus.png")
    };
    let browser_dir = Path::new(ROOT).join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules has no playwright-core: run `npm ci` in tests/browser \
         (scripts/test.sh does)"
    );
    let status = std::process::Command::new("node")
        .arg("prometheus-screenshot.mjs")
        .arg(prom.url(""))
        .arg(&queries_path)
        .arg(&out)
        .env("RANGE", if update { "90s" } else { "1m" })
        .current_dir(&browser_dir)
        .stdin(std::process::Stdio::null())
        .status()
        .expect("run node tests/browser/prometheus-screenshot.mjs");
    assert!(
        status.success(),
        "prometheus-screenshot.mjs failed: {status}"
    );
    let png = std::fs::read(&out).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "not a PNG"
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

#[test]
fn with_bool_rewrites_comparisons_outside_matchers() {
    assert_eq!(
        with_bool(r#"up{job=~".*a.*"} == 0"#).as_deref(),
        Some(r#"up{job=~".*a.*"} == bool 0"#)
    );
    assert_eq!(
        with_bool(r#"sum(rate(x{code!="200"}[5m])) / sum(rate(x[5m])) > 0.05"#).as_deref(),
        Some(r#"sum(rate(x{code!="200"}[5m])) / sum(rate(x[5m])) > bool 0.05"#)
    );
    assert_eq!(
        with_bool("a >= 1 and b < bool 2").as_deref(),
        Some("a >= bool 1 and b < bool 2")
    );
    assert_eq!(with_bool(r#"sum(x{a!="b>c"})"#), None);
    assert_eq!(with_bool("rate(x[5m])"), None);
}

#[test]
fn metric_names_strip_sample_suffixes() {
    let names = metric_names(
        r#"histogram_quantile(0.5, sum by (le) (rate(authproxy_provider_request_duration_seconds_bucket{job=~".*"}[1m]))) / sum(oauth2_proxy_requests_total) + up"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "authproxy_provider_request_duration_seconds_bucket",
            "oauth2_proxy_requests_total"
        ]
    );
}
