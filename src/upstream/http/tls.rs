//! TLS client configuration for https upstreams, including the accept-any-certificate
//! verifier of `ssl_upstream_insecure_skip_verify`.

use std::sync::Arc;

/// TLS for https upstreams: the platform verifier, or, with
/// `ssl_upstream_insecure_skip_verify`, a verifier that accepts any certificate (handshake
/// signatures are still checked, so the peer must hold the certificate's key).
pub(super) fn tls_config(insecure: bool, any_https: bool) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup for upstreams failed: {e}"))?;
    if !any_https {
        // No https upstream: the connector never performs a handshake, so skip loading the
        // system trust store.
        return Ok(builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth());
    }
    if insecure {
        tracing::warn!(
            "ssl_upstream_insecure_skip_verify: certificates of https upstreams are NOT verified"
        );
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls::AcceptAnyCert(provider)))
            .with_no_client_auth());
    }
    use hyper_rustls::ConfigBuilderExt as _;
    Ok(builder
        .try_with_platform_verifier()
        .map_err(|e| format!("loading the system trust store for https upstreams failed: {e}"))?
        .with_no_client_auth())
}
