//! End to end: which certificate authorities the provider's HTTPS client trusts, against an
//! HTTPS OpenID Connect issuer on 127.0.0.1 whose certificate comes from a test CA
//! (tests/fixtures/tls/ca.pem), as oauth2-proxy v7 combines them (pkg/validation/options.go,
//! pkg/util/util.go GetCertPool):
//! * without `provider_ca_files` the system trust store is used (`use_system_trust_store` or not);
//! * with `provider_ca_files` only those CAs are trusted, and the system store is added only
//!   with `use_system_trust_store = true`.
//!
//! "The system trust store" on Linux is what `SSL_CERT_FILE` / `SSL_CERT_DIR` name (Go's
//! crypto/x509 and rustls-native-certs, under rustls-platform-verifier, both read them), so
//! each case sets them and the test CA is trusted only through them or `provider_ca_files`.

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use support::{free_port, Proxy, ProxyConfig};

const TLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

/// An HTTPS issuer serving its discovery document and a JWKS; stopped on drop.
struct HttpsIssuer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpsIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn https_issuer() -> HttpsIssuer {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{TLS}/server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{TLS}/server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let issuer = url.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let issuer = issuer.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate aborts the handshake here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    let body = match req.uri().path() {
                        "/.well-known/openid-configuration" => serde_json::json!({
                            "issuer": issuer,
                            "authorization_endpoint": format!("{issuer}/authorize"),
                            "token_endpoint": format!("{issuer}/token"),
                            "jwks_uri": format!("{issuer}/jwks"),
                            "response_types_supported": ["code"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                        }),
                        // The public key of tests/fixtures/provider/ed25519.spki.der (no token
                        // is ever signed here: discovery only needs a usable key).
                        _ => serde_json::json!({"keys": [{
                            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                            "kid": "trust-test", "x": "TMs9dDN7mPOq4A_S3k5emq0WuLOmXQlz9UUVlEONZTg",
                        }]}),
                    };
                    let mut resp = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    HttpsIssuer { url, task }
}

/// The proxy against `issuer` with `flags` and `env`: `/ready` (200 once discovery over TLS
/// succeeded, 503 while it fails) after the first discovery attempt, and the log.
async fn ready_after_discovery(
    issuer: &str,
    flags: &[(&str, &str)],
    env: &[(&str, String)],
) -> (u16, String) {
    let port = free_port();
    let mut config = ProxyConfig::new(port, issuer, "static://200");
    for (k, v) in flags {
        config = config.set(k, v);
    }
    for (k, v) in env {
        config = config.env(k, v);
    }
    let proxy = Proxy::spawn(&config);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = proxy.ready_status().await;
        let log = proxy.log();
        if status == Some(200) || (status == Some(503) && log.contains("OIDC discovery failed")) {
            return (status.unwrap_or(0), log);
        }
        assert!(
            Instant::now() < deadline,
            "no discovery outcome within 20 s (/ready {status:?}); log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (case, flags, environment, discovery succeeds)
type Case<'a> = (
    &'a str,
    Vec<(&'a str, &'a str)>,
    Vec<(&'a str, String)>,
    bool,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_trust_store_and_provider_ca_files_combine_as_in_oauth2_proxy() {
    let issuer = https_issuer().await;
    let ca = format!("{TLS}/ca.pem");
    let other = format!("{TLS}/other-ca.pem");
    let ca_dir = std::env::temp_dir().join(format!("authproxy-trust-dir-{}", std::process::id()));
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::copy(&ca, ca_dir.join("test-ca.pem")).unwrap();
    let system_has_ca = ("SSL_CERT_FILE", ca.clone());
    let system_lacks_ca = ("SSL_CERT_FILE", other.clone());
    let trusted_flag = [("use-system-trust-store", "true")];
    let cases: Vec<Case> = vec![
        (
            "system store only",
            vec![],
            vec![system_has_ca.clone()],
            true,
        ),
        (
            "system store without the CA",
            vec![],
            vec![system_lacks_ca.clone()],
            false,
        ),
        (
            "provider CA files replace the system store",
            vec![("provider-ca-file", other.as_str())],
            vec![system_has_ca.clone()],
            false,
        ),
        (
            "use_system_trust_store adds it back",
            vec![("provider-ca-file", other.as_str()), trusted_flag[0]],
            vec![system_has_ca.clone()],
            true,
        ),
        (
            "SSL_CERT_DIR is read as the system store too",
            vec![("provider-ca-file", other.as_str()), trusted_flag[0]],
            vec![("SSL_CERT_DIR", ca_dir.display().to_string())],
            true,
        ),
        (
            "the provider CA file alone",
            vec![("provider-ca-file", ca.as_str())],
            vec![system_lacks_ca.clone()],
            true,
        ),
        (
            "use_system_trust_store with a system store lacking the CA",
            vec![("provider-ca-file", other.as_str()), trusted_flag[0]],
            vec![system_lacks_ca.clone()],
            false,
        ),
    ];
    for (name, flags, env, ok) in cases {
        let (status, log) = ready_after_discovery(&issuer.url, &flags, &env).await;
        if ok {
            assert_eq!(status, 200, "{name}: /ready; log:\n{log}");
        } else {
            assert_eq!(status, 503, "{name}: /ready; log:\n{log}");
            // The failure names the issuer's URL and the certificate problem.
            let line = log
                .lines()
                .find(|l| l.contains("OIDC discovery failed"))
                .unwrap_or_default();
            assert!(
                line.contains(&issuer.url) && line.to_ascii_lowercase().contains("certificate"),
                "{name}: unclear failure: {line}\n{log}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&ca_dir);
}
