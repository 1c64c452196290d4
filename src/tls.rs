//! The HTTPS listener's TLS configuration: PEM files in, a rustls `ServerConfig` out, with
//! ALPN for HTTP/2 and HTTP/1.1. Errors name the option and the file.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsListenerConfig;

/// Build the server configuration from the certificate chain and key files.
pub fn server_config(cfg: &TlsListenerConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert_file)
        .map_err(|e| format!("tls_cert_file {:?}: {e}", cfg.cert_file))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_cert_file {:?}: {e}", cfg.cert_file))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_cert_file {:?}: no PEM CERTIFICATE block found",
            cfg.cert_file
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.key_file).map_err(|e| {
        format!(
            "tls_key_file {:?}: no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            cfg.key_file
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if cfg.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls_min_version: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "tls_cert_file {:?} / tls_key_file {:?}: {e}",
                cfg.cert_file, cfg.key_file
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
