//! `http_address = "unix://PATH,mode=0660"` (oauth2-proxy v7's Unix socket listener): the proxy
//! serves on the socket with that file mode, requests through it are judged like any other,
//! and the socket file is removed when the proxy stops.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use support::idp::IdpConfig;
use support::{free_port, EchoApp, Idp, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One HTTP/1.1 request over the socket; the whole answer (the server closes).
async fn request(path: &std::path::Path, head: &str) -> Option<String> {
    let mut s = tokio::net::UnixStream::connect(path).await.ok()?;
    s.write_all(head.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_serves_on_a_unix_socket_with_its_mode() {
    let app = EchoApp::start().await;
    let port = free_port();
    let idp = Idp::start(IdpConfig::default().redirect_to_proxy(port)).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("unix-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("authproxy.sock");
    let config = ProxyConfig::new(port, idp.issuer(), &app.url())
        .set(
            "http-address",
            &format!("unix://{},mode=0660", sock.display()),
        )
        .add("skip-auth-route", "^/public");
    let mut proxy = Proxy::spawn(&config);
    let deadline = Instant::now() + Duration::from_secs(20);
    let ping = "GET /ping HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n";
    loop {
        if request(&sock, ping)
            .await
            .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no answer on {}", sock.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "the socket file has the configured mode");

    // A protected path without a session: 401 for an API client, the app never reached.
    let hits = app.hits();
    let resp = request(
        &sock,
        "GET /private HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    assert_eq!(app.hits(), hits);
    // A skip-auth route is proxied to the app.
    let resp = request(
        &sock,
        "GET /public/x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("/public/x"), "{resp}");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &proxy.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        proxy.wait_exit(Duration::from_secs(25)).is_some(),
        "the proxy stops on SIGTERM"
    );
    assert!(!sock.exists(), "the socket file is removed on shutdown");
}
