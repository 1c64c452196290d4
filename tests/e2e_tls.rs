//! End to end: the HTTPS listener (`https_address`, `tls_cert_file`, `tls_key_file`):
//! HTTP/2 negotiated by ALPN, the proxied request over TLS carries `X-Forwarded-Proto: https`,
//! and a bad certificate file stops the start with an error naming the option.

mod support;

use support::idp::{IdpConfig, Login};
use support::{free_port, Browser, EchoReply, Stack};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

fn https_client() -> reqwest::Client {
    let ca = std::fs::read(format!("{FIXTURES}/ca.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_speaks_http2_and_proxies_an_authenticated_request() {
    let https_port = free_port();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("https-address", &format!("127.0.0.1:{https_port}"))
            .set("tls-cert-file", &format!("{FIXTURES}/server.pem"))
            .set("tls-key-file", &format!("{FIXTURES}/server.key"))
    })
    .await;
    let client = https_client();
    let base = format!("https://127.0.0.1:{https_port}");

    let ping = client.get(format!("{base}/ping")).send().await.unwrap();
    assert_eq!(ping.status(), 200);
    assert_eq!(
        ping.version(),
        reqwest::Version::HTTP_2,
        "ALPN must pick h2"
    );

    let anonymous = client
        .get(format!("{base}/private"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Sign in on the plain listener; the cookie is host-scoped, so it is valid on both ports.
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("tess")).await;
    let cookie = browser
        .cookie_header(&stack.proxy.url("/private"))
        .expect("session cookie");
    let resp = client
        .get(format!("{base}/private?x=1"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.path, "/private?x=1");
    assert_eq!(echo.header("x-forwarded-proto"), Some("https"));
    assert_eq!(echo.header("x-forwarded-email"), Some("tess@example.com"));
}

#[test]
fn a_key_that_does_not_match_the_certificate_stops_the_start() {
    let port = free_port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args([
            "--provider=oidc",
            "--oidc-issuer-url=http://127.0.0.1:9/",
            "--client-id=x",
            "--client-secret=y",
            "--cookie-secret=0123456789abcdef0123456789abcdef",
            "--email-domain=*",
            "--upstream=http://127.0.0.1:9/",
            &format!("--http-address=127.0.0.1:{}", free_port()),
            &format!("--https-address=127.0.0.1:{port}"),
            // The CA certificate with the server's key: a mismatch rustls must refuse.
            &format!("--tls-cert-file={FIXTURES}/ca.pem"),
            &format!("--tls-key-file={FIXTURES}/server.key"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tls_cert_file"), "{stderr}");
}

#[test]
fn a_certificate_without_its_key_is_a_configuration_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args([
            "--provider=oidc",
            "--oidc-issuer-url=http://127.0.0.1:9/",
            "--client-id=x",
            "--client-secret=y",
            "--cookie-secret=0123456789abcdef0123456789abcdef",
            "--email-domain=*",
            &format!("--tls-cert-file={FIXTURES}/server.pem"),
            "--check",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tls_key_file"), "{stderr}");
}

#[test]
fn an_unknown_tls_min_version_is_refused_with_its_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args([
            "--provider=oidc",
            "--oidc-issuer-url=http://127.0.0.1:9/",
            "--client-id=x",
            "--client-secret=y",
            "--cookie-secret=0123456789abcdef0123456789abcdef",
            "--email-domain=*",
            &format!("--tls-cert-file={FIXTURES}/server.pem"),
            &format!("--tls-key-file={FIXTURES}/server.key"),
            "--tls-min-version=SSL3",
            "--check",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tls_min_version"), "{stderr}");
}
