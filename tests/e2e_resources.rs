//! End to end: the resource limits behind the listeners (docs/limits.md): the body limit of
//! the proxy's own endpoints, the upstream connect and response timeouts, the bounded
//! htpasswd check pool under a flood of wrong passwords, and a log writer that never blocks
//! when nobody reads stdout.

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use support::{free_port, Browser, IdpConfig, Login, Proxy, ProxyConfig, Stack};
use tokio::io::AsyncReadExt;

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// An htpasswd file with `alice` (bcrypt of `cost`, password "correct horse").
fn htpasswd_file(cost: u32) -> std::path::PathBuf {
    let path = support::log_dir().join(format!("htpasswd-{}", free_port()));
    let hash = bcrypt::hash("correct horse", cost)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
    path
}

fn client() -> reqwest::Client {
    support::http_client()
}

/// `metric` from a scrape of the metrics listener on `port`.
async fn metric(port: u16, name: &str) -> f64 {
    let text = client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_max_endpoint_body_bytes_get_413_from_the_sign_in_form() {
    let file = htpasswd_file(4);
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("htpasswd-file", file.to_str().unwrap())
            .set("max-endpoint-body-bytes", "1024")
    })
    .await;
    let url = stack.proxy.url("/oauth2/sign_in");
    let form = |pw: &str| format!("username=alice&password={}&rd=%2F", support::encode(pw));
    let post = |body: reqwest::Body| {
        client()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // Within the limit: the form is checked.
    let resp = post(form("wrong").into()).await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = post(form("correct horse").into()).await.unwrap();
    assert_eq!(resp.status(), 302);
    // Over it with a Content-Length: refused before reading.
    let big = form(&"x".repeat(2000));
    let resp = post(big.clone().into()).await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(support::content_type(&resp), "text/html");
    // Over it in chunks (no Content-Length): refused while reading.
    let chunks: Vec<Result<Bytes, std::io::Error>> = big
        .into_bytes()
        .chunks(256)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let resp = post(reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks,
    )))
    .await
    .unwrap();
    assert_eq!(resp.status(), 413);
}

/// A listener whose accept queue is full (backlog 0, one connection queued and never
/// accepted): further connection attempts hang in SYN retransmission, like a dead host.
async fn blackhole() -> (u16, tokio::net::TcpListener, Vec<tokio::net::TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut queued = Vec::new();
    for _ in 0..2 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            queued.push(s);
        }
    }
    (port, listener, queued)
}

/// An app that accepts connections and reads requests but never answers.
async fn silent_app() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
            held.push(s);
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_app_fails_fast_with_502_and_a_silent_one_with_504() {
    let (dead, _listener, _queued) = blackhole().await;
    let (silent, _task) = silent_app().await;
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.remove("upstream")
            .add("upstream", &format!("http://127.0.0.1:{dead}/open/dead/"))
            .add(
                "upstream",
                &format!("http://127.0.0.1:{silent}/open/silent/"),
            )
            .set("skip-auth-route", "^/open/")
            .set("upstream-connect-timeout", "1s")
            .set("upstream-timeout", "2s")
    })
    .await;
    // Connecting hangs: upstream_connect_timeout (1 s) ends it, long before the default 10 s.
    let started = Instant::now();
    let resp = client()
        .get(stack.proxy.url("/open/dead/x"))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status(), 502);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "connecting to an unreachable app took {took:?}"
    );
    // Connected, but no response headers: upstream_timeout (2 s).
    let started = Instant::now();
    let resp = client()
        .get(stack.proxy.url("/open/silent/x"))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status(), 504);
    assert_eq!(support::content_type(&resp), "text/html");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "a silent app was given up after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_basic_credentials_does_not_starve_signed_in_users() {
    let file = htpasswd_file(8);
    let metrics_port = free_port();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("htpasswd-file", file.to_str().unwrap())
            .set("htpasswd-max-concurrent-checks", "1")
            .set("htpasswd-queue-timeout", "100ms")
            .set("metrics-address", &format!("127.0.0.1:{metrics_port}"))
            .set("request-logging", "false")
    })
    .await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("carol")).await;
    let url = stack.proxy.url("/private");

    // Sixteen clients send wrong passwords as fast as they are answered, for 4 s.
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut flood = Vec::new();
    for i in 0..16 {
        let url = url.clone();
        flood.push(tokio::spawn(async move {
            let c = client();
            let (mut unauthorized, mut busy, mut n) = (0u32, 0u32, 0u32);
            while Instant::now() < deadline {
                n += 1;
                let resp = c
                    .get(&url)
                    .header("authorization", basic("alice", &format!("guess-{i}-{n}")))
                    .send()
                    .await
                    .unwrap();
                match resp.status().as_u16() {
                    401 => unauthorized += 1,
                    503 => {
                        assert_eq!(resp.headers()["retry-after"], "1");
                        busy += 1;
                    }
                    other => panic!("a wrong password got {other}"),
                }
            }
            (unauthorized, busy)
        }));
    }
    // Meanwhile the signed-in user keeps working.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    while Instant::now() + Duration::from_millis(300) < deadline {
        let started = Instant::now();
        let resp = browser.get(&url).await;
        latencies.push(started.elapsed());
        assert_eq!(resp.status(), 200, "the signed-in user was refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The right password during the flood is never called wrong: 200, or 503 to retry.
    let right = client()
        .get(&url)
        .header("authorization", basic("alice", "correct horse"))
        .send()
        .await
        .unwrap();
    assert!(
        [200, 503].contains(&right.status().as_u16()),
        "{}",
        right.status()
    );
    let (mut unauthorized, mut busy) = (0, 0);
    for t in flood {
        let (u, b) = t.await.unwrap();
        unauthorized += u;
        busy += b;
    }
    latencies.sort();
    let worst = *latencies.last().unwrap();
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!(
        "signed-in user: {} requests, p99 {p99:?}, max {worst:?}; flood: {unauthorized} x 401, {busy} x 503",
        latencies.len()
    );
    assert!(latencies.len() >= 20, "only {} requests", latencies.len());
    assert!(
        worst < Duration::from_secs(1),
        "a signed-in request took {worst:?} during the flood"
    );
    assert!(unauthorized > 0, "no password was checked");
    assert!(
        busy > unauthorized,
        "the pool did not shed load: {busy} x 503, {unauthorized} x 401"
    );
    assert!(
        metric(metrics_port, "authproxy_htpasswd_checks_rejected_total").await >= f64::from(busy)
    );
    // Afterwards the right password works again.
    let resp = client()
        .get(&url)
        .header("authorization", basic("alice", "correct horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_served_when_nobody_reads_stdout() {
    let app = support::EchoApp::start().await;
    let port = free_port();
    let idp = support::Idp::start(IdpConfig::default().redirect_to_proxy(port)).await;
    let metrics_port = free_port();
    // stdout is a pipe nobody reads: it fills after 64 KiB, the queue after 50 lines.
    let proxy = Proxy::start(
        ProxyConfig::new(port, idp.issuer(), &app.url())
            .stdout_unread()
            .set("log-queue-lines", "50")
            .set("metrics-address", &format!("127.0.0.1:{metrics_port}")),
    )
    .await;
    let c = client();
    let started = Instant::now();
    // 6000 request lines: far more than the pipe and the queue hold. The queue holds up to 50
    // batches of up to 4 KiB (about 1300 lines with the pipe's 64 KiB), so 3000 lines left
    // too small a margin over the 1000 dropped lines checked below.
    for i in 0..6000 {
        let resp = tokio::time::timeout(
            Duration::from_secs(2),
            c.get(proxy.url(&format!("/ping?n={i}"))).send(),
        )
        .await
        .unwrap_or_else(|_| panic!("request {i} hung: logging blocks the workers"))
        .unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    let dropped = metric(metrics_port, "authproxy_log_lines_dropped_total").await;
    assert!(dropped > 1000.0, "only {dropped} log lines dropped");
}
