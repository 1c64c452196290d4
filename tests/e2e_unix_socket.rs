//! `http_address = "unix://PATH,mode=0660"` (oauth2-proxy v7's Unix socket listener): the proxy
//! serves on the socket with that file mode, requests through it are judged like any other,
//! and the socket file is removed when the proxy stops. `http_address = "fd:3"` (v7's systemd
//! socket activation): the proxy serves on sockets it inherits, TCP or Unix, and refuses a
//! descriptor it was not given.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use support::idp::IdpConfig;
use support::{free_port, EchoApp, Idp, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One HTTP/1.1 request over the socket; the whole answer (the server closes).
async fn request(path: &std::path::Path, head: &str) -> Option<String> {
    exchange(tokio::net::UnixStream::connect(path).await.ok()?, head).await
}

/// Writes `head` and reads until the server closes.
async fn exchange<S>(mut s: S, head: &str) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
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

    stop_with_sigterm(&mut proxy);
    assert!(!sock.exists(), "the socket file is removed on shutdown");
}

/// SIGTERM, and the proxy exits within its drain time.
fn stop_with_sigterm(proxy: &mut Proxy) {
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &proxy.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        proxy.wait_exit(Duration::from_secs(25)).is_some(),
        "the proxy stops on SIGTERM"
    );
}

/// The systemd-style launcher (tests/fixtures/socket-activate.py) with these sockets.
fn socket_activate(sockets: &[String]) -> Vec<String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/socket-activate.py"
    );
    let mut launcher = vec!["python3".to_owned(), script.to_owned()];
    launcher.extend(sockets.iter().cloned());
    launcher.push("--".to_owned());
    launcher
}

/// One HTTP/1.1 request over TCP; the whole answer (the server closes).
async fn tcp_request(port: u16, head: &str) -> Option<String> {
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    exchange(s, head).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_serves_on_sockets_passed_by_systemd_socket_activation() {
    let app = EchoApp::start().await;
    let port = free_port();
    let idp = Idp::start(IdpConfig::default().redirect_to_proxy(port)).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fd-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let metrics_sock = dir.join("metrics.sock");
    let _ = std::fs::remove_file(&metrics_sock);
    let launcher = socket_activate(&[
        format!("tcp:127.0.0.1:{port}"),
        format!("unix:{}", metrics_sock.display()),
    ]);
    let launcher: Vec<&str> = launcher.iter().map(String::as_str).collect();
    // `FD:3` as v7 reads it (case-insensitive); metrics on the second socket.
    let config = ProxyConfig::new(port, idp.issuer(), &app.url())
        .set("http-address", "FD:3")
        .set("metrics-address", "fd:4")
        .add("skip-auth-route", "^/public")
        .launcher(&launcher);
    let mut proxy = Proxy::start(config).await;

    let resp = tcp_request(
        port,
        "GET /public/y HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("/public/y"), "the app answered: {resp}");
    let resp = tcp_request(
        port,
        "GET /private HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    let metrics = request(
        &metrics_sock,
        "GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("authproxy_connections_open"), "{metrics}");

    stop_with_sigterm(&mut proxy);
    assert!(
        metrics_sock.exists(),
        "an inherited socket's file belongs to systemd and stays"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descriptor_systemd_did_not_pass_is_refused_at_start() {
    let port = free_port();
    let other = free_port();
    let app = EchoApp::start().await;
    let idp = Idp::start(IdpConfig::default().redirect_to_proxy(port)).await;
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            vec![format!("tcp:127.0.0.1:{other}")],
            "fd:4",
            "fd:4 is outside the available file descriptors: systemd passed 1 socket(s): fd:3 to fd:3",
        ),
        (
            Vec::new(),
            "fd:3",
            "fd:3 is outside the available file descriptors: systemd passed no sockets",
        ),
        (
            vec![format!("udp:127.0.0.1:{other}")],
            "fd:3",
            "fd:3 is not a listening TCP or Unix stream socket",
        ),
    ];
    for (sockets, address, want) in cases {
        let launcher = socket_activate(&sockets);
        let launcher: Vec<&str> = launcher.iter().map(String::as_str).collect();
        let config = ProxyConfig::new(port, idp.issuer(), &app.url())
            .set("http-address", address)
            .launcher(&launcher);
        let mut proxy = Proxy::spawn(&config);
        let status = proxy
            .wait_exit(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{address} with {sockets:?}: the proxy did not exit"));
        assert_eq!(status.code(), Some(1), "{address} with {sockets:?}");
        let log = proxy.log();
        assert!(log.contains(want), "{address} with {sockets:?}: {log}");
        assert!(log.contains("(http_address)"), "the option is named: {log}");
    }
}
