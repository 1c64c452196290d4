//! The HTTPS listeners' TLS configuration: PEM certificate chain and key in, a rustls
//! `ServerConfig` out, with ALPN for HTTP/2 and HTTP/1.1. Errors name the option.
//!
//! Cipher suites: oauth2-proxy takes Go's names (`tls_cipher_suites`, `cipherSuites`). The
//! TLS 1.2 AEAD suites rustls implements are offered when listed; Go's CBC, RC4, 3DES and
//! RSA-key-exchange suites are accepted (oauth2-proxy starts with them) but cannot be offered
//! and are skipped with a warning. TLS 1.3 suites are always on, as in Go.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::structured::{TlsConfig, TlsVersion};

/// rustls' TLS 1.2 suite for a Go cipher suite name, if it has one.
fn rustls_suite(go_name: &str) -> Option<rustls::SupportedCipherSuite> {
    use rustls::crypto::aws_lc_rs::cipher_suite as cs;
    Some(match go_name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

fn is_tls13_name(go_name: &str) -> bool {
    matches!(
        go_name,
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256"
    )
}

/// The crypto provider restricted to the configured suites (all defaults when none).
fn provider(cfg: &TlsConfig, option: &str) -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if cfg.cipher_suites.is_empty() {
        return provider;
    }
    let mut tls12 = Vec::new();
    for name in &cfg.cipher_suites {
        match rustls_suite(name) {
            Some(s) if !tls12.contains(&s) => tls12.push(s),
            Some(_) => {}
            None if is_tls13_name(name) => {}
            None => tracing::warn!(option, suite = %name,
                "cipher suite is not offered (rustls implements only ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2)"),
        }
    }
    if tls12.is_empty() {
        tracing::warn!(
            option,
            "none of the configured TLS 1.2 cipher suites can be offered: only TLS 1.3 is served"
        );
    }
    provider
        .cipher_suites
        .retain(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)) || tls12.contains(s));
    provider
}

/// Build the server configuration. `option` names the setting in messages (`tls_cert_file`,
/// `metrics_tls_cert_file`, `server.tls`).
pub fn server_config(cfg: &TlsConfig, option: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cfg.cert.bytes.0)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{option}: the certificate is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{option}: no PEM CERTIFICATE block found"));
    }
    let key = PrivateKeyDer::from_pem_slice(&cfg.key.bytes.0).map_err(|e| {
        format!("{option}: no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}")
    })?;
    let provider = provider(cfg, option);
    let tls12_possible = provider
        .cipher_suites
        .iter()
        .any(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)));
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        if cfg.min_version == TlsVersion::Tls13 || !tls12_possible {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| format!("{option}: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{option}: the key does not fit the certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client certificate verifier that accepts any server certificate, for the options that ask
/// for exactly that (`ssl_upstream_insecure_skip_verify`, an upstream's
/// `insecureSkipTLSVerify`, `redis_insecure_skip_tls_verify`). Handshake signatures are still
/// checked, so the server must hold its certificate's key.
#[derive(Debug)]
pub struct AcceptAnyCert(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
