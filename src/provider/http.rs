//! The HTTP edge towards the identity provider: TLS settings, timeouts, redirect policy
//! and size-limited bodies. Everything here maps transport failures to [`ProviderError`].

use std::time::Duration;

use crate::config::ProviderConfig;

use super::error::{cap_idp_text, Endpoint, ProviderError};

/// Connect timeout for every IdP request.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Total time for one IdP request, body included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest IdP response body read (discovery, JWKS, token, userinfo).
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// Redirects followed on discovery and JWKS fetches (never on token or userinfo).
const MAX_METADATA_REDIRECTS: usize = 3;

/// The two HTTP clients of a provider.
#[derive(Clone, Debug)]
pub(crate) struct IdpClient {
    /// Discovery and JWKS: public documents, a few redirects allowed (e.g. a trailing slash).
    pub metadata: reqwest::Client,
    /// Token and userinfo: carry credentials, so redirects are never followed: a redirect
    /// would resend the code, the client secret or the access token to another URL.
    pub credentialed: reqwest::Client,
}

impl IdpClient {
    /// Build both clients from `ssl_insecure_skip_verify`, `provider_ca_files` and
    /// `use_system_trust_store`, with
    /// [`REQUEST_TIMEOUT`] per request.
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        Self::with_timeout(cfg, REQUEST_TIMEOUT)
    }

    /// Like [`IdpClient::new`] with another total timeout per request.
    pub fn with_timeout(cfg: &ProviderConfig, timeout: Duration) -> Result<Self, ProviderError> {
        let mut certs = Vec::new();
        for path in &cfg.provider_ca_files {
            let pem = std::fs::read(path).map_err(|e| ProviderError::Config {
                key: "provider_ca_files",
                message: format!("cannot read {}: {e}", path.display()),
            })?;
            let bundle =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ProviderError::Config {
                    key: "provider_ca_files",
                    message: format!("{} is not a PEM certificate bundle: {e}", path.display()),
                })?;
            if bundle.is_empty() {
                return Err(ProviderError::Config {
                    key: "provider_ca_files",
                    message: format!("{} contains no PEM certificate", path.display()),
                });
            }
            certs.extend(bundle);
        }
        let build = |redirects: reqwest::redirect::Policy| {
            let mut b = reqwest::Client::builder()
                .user_agent(concat!("authproxy/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(CONNECT_TIMEOUT.min(timeout))
                .timeout(timeout)
                .redirect(redirects);
            // As in oauth2-proxy, provider_ca_files REPLACE the system trust store (the
            // operator pins the provider's CA), unless use_system_trust_store adds them to it.
            if !certs.is_empty() {
                b = if cfg.use_system_trust_store {
                    b.tls_certs_merge(certs.clone())
                } else {
                    b.tls_certs_only(certs.clone())
                };
            }
            if cfg.ssl_insecure_skip_verify {
                b = b.tls_danger_accept_invalid_certs(true);
            }
            b.build().map_err(|e| ProviderError::Config {
                key: "provider_ca_files",
                message: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })
        };
        Ok(Self {
            metadata: build(reqwest::redirect::Policy::limited(MAX_METADATA_REDIRECTS))?,
            credentialed: build(reqwest::redirect::Policy::none())?,
        })
    }
}

/// A response whose body has been read completely (within [`MAX_BODY`]).
#[derive(Debug)]
pub(crate) struct Fetched {
    pub status: reqwest::StatusCode,
    pub content_type: Option<String>,
    /// The `Link` header (RFC 8288), for APIs that page with it (GitHub).
    pub link: Option<String>,
    pub body: Vec<u8>,
}

impl Fetched {
    /// The media type without parameters, lower-cased (`application/json`).
    pub fn media_type(&self) -> Option<String> {
        self.content_type
            .as_deref()
            .and_then(|ct| ct.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
    }
}

/// Send a request and read the whole body, mapping transport errors.
pub(crate) async fn send(
    endpoint: Endpoint,
    req: reqwest::RequestBuilder,
) -> Result<Fetched, ProviderError> {
    let (client, req) = req.build_split();
    let mut req = req.map_err(|e| ProviderError::Config {
        key: endpoint_key(endpoint),
        message: format!("cannot build the request: {}", error_chain(&e)),
    })?;
    let url = redact_url(req.url());
    // OpenTelemetry (off: one atomic load, nothing built).
    let span = idp_span(endpoint, &mut req, &url);
    let started = std::time::Instant::now();
    let result = read_response(endpoint, &url, client.execute(req).await).await;
    if let Some(span) = span {
        match &result {
            Ok(f) => span.http_status(f.status.as_u16(), 400),
            Err(e) => span.fail(span_error_kind(e), e.to_string()),
        }
        span.end();
    }
    let metrics = crate::metrics::global();
    metrics.provider_call(metrics_endpoint(endpoint), started.elapsed());
    use crate::metrics::ProviderFailure;
    let failure = match &result {
        Err(_) => Some(ProviderFailure::Transport),
        Ok(f) if ProviderFailure::is_error_status(f.status.as_u16()) => {
            Some(ProviderFailure::HttpStatus)
        }
        Ok(_) => None,
    };
    if let Some(kind) = failure {
        metrics.provider_error(metrics_endpoint(endpoint), kind);
    }
    result
}

/// The span of one IdP call (`idp discovery`, `idp jwks`, `idp token`, `idp refresh`,
/// `idp userinfo`, `idp api`), its `traceparent` written into `req`; `None` when traces are off.
fn idp_span(
    endpoint: Endpoint,
    req: &mut reqwest::Request,
    url: &str,
) -> Option<crate::otel::ClientSpan> {
    use crate::otel::KeyValue;
    if !crate::otel::enabled() {
        return None;
    }
    let grant = match endpoint {
        Endpoint::Token => req
            .body()
            .and_then(reqwest::Body::as_bytes)
            .and_then(crate::otel::grant_type),
        _ => None,
    };
    let name = match endpoint {
        Endpoint::Discovery => "idp discovery",
        Endpoint::Jwks => "idp jwks",
        Endpoint::Token if grant == Some("refresh_token") => "idp refresh",
        Endpoint::Token => "idp token",
        Endpoint::Userinfo => "idp userinfo",
        Endpoint::Api(_) => "idp api",
    };
    let span = crate::otel::client_span(name, || {
        let mut attributes = vec![
            KeyValue::new("http.request.method", req.method().as_str().to_owned()),
            KeyValue::new("url.full", url.to_owned()),
            KeyValue::new("authproxy.idp.endpoint", endpoint.to_string()),
        ];
        if let Some(host) = req.url().host_str() {
            attributes.push(KeyValue::new("server.address", host.to_owned()));
        }
        if let Some(port) = req.url().port_or_known_default() {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
        if let Some(grant) = grant {
            attributes.push(KeyValue::new("authproxy.oauth.grant_type", grant));
        }
        attributes
    })?;
    span.inject(req.headers_mut());
    Some(span)
}

/// The `error.type` of a failed IdP call.
fn span_error_kind(e: &ProviderError) -> &'static str {
    match e {
        ProviderError::Timeout { .. } => "timeout",
        ProviderError::Network { .. } => "network",
        _ => "invalid_response",
    }
}

/// The metrics label of an IdP endpoint.
fn metrics_endpoint(endpoint: Endpoint) -> crate::metrics::ProviderEndpoint {
    use crate::metrics::ProviderEndpoint as M;
    match endpoint {
        Endpoint::Discovery => M::Discovery,
        Endpoint::Jwks => M::Jwks,
        Endpoint::Token => M::Token,
        Endpoint::Userinfo => M::Userinfo,
        Endpoint::Api(_) => M::Api,
    }
}

/// Read a whole response (within [`MAX_BODY`]), mapping transport errors.
async fn read_response(
    endpoint: Endpoint,
    url: &str,
    resp: Result<reqwest::Response, reqwest::Error>,
) -> Result<Fetched, ProviderError> {
    let mut resp = resp.map_err(|e| transport_error(endpoint, url, e))?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let link = resp
        .headers()
        .get(reqwest::header::LINK)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large(endpoint));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport_error(endpoint, url, e))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large(endpoint));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        status,
        content_type,
        link,
        body,
    })
}

/// GET a JSON document (discovery, JWKS): 2xx JSON or an error naming what was wrong.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    endpoint: Endpoint,
    url: &url::Url,
) -> Result<T, ProviderError> {
    let fetched = send(
        endpoint,
        client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json"),
    )
    .await?;
    if !fetched.status.is_success() {
        return Err(status_error(endpoint, &fetched));
    }
    serde_json::from_slice(&fetched.body).map_err(|e| ProviderError::InvalidResponse {
        endpoint,
        detail: format!("not the expected JSON document: {e}"),
    })
}

/// The error for a non-2xx answer: the OAuth `error` body when there is one, else the status.
pub(crate) fn status_error(endpoint: Endpoint, fetched: &Fetched) -> ProviderError {
    oauth_error(endpoint, &fetched.body).unwrap_or(ProviderError::HttpStatus {
        endpoint,
        status: fetched.status.as_u16(),
    })
}

/// Parse an RFC 6749 5.2 error body (`{"error": ..., "error_description": ...}`).
pub(crate) fn oauth_error(endpoint: Endpoint, body: &[u8]) -> Option<ProviderError> {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    let parsed: OAuthError = serde_json::from_slice(body).ok()?;
    if parsed.error.is_empty() {
        return None;
    }
    Some(ProviderError::Idp {
        endpoint,
        error: cap_idp_text(&parsed.error),
        description: parsed
            .error_description
            .filter(|d| !d.is_empty())
            .map(|d| cap_idp_text(&d)),
    })
}

fn too_large(endpoint: Endpoint) -> ProviderError {
    ProviderError::InvalidResponse {
        endpoint,
        detail: format!("the response body is larger than {MAX_BODY} bytes"),
    }
}

fn transport_error(endpoint: Endpoint, url: &str, e: reqwest::Error) -> ProviderError {
    // The URL is already in the message, redacted; reqwest's copy would repeat it in full.
    let e = e.without_url();
    if e.is_timeout() {
        ProviderError::Timeout {
            endpoint,
            url: url.to_owned(),
        }
    } else if e.is_redirect() {
        ProviderError::InvalidResponse {
            endpoint,
            detail: format!("too many redirects: {}", error_chain(&e)),
        }
    } else {
        ProviderError::Network {
            endpoint,
            url: url.to_owned(),
            detail: error_chain(&e),
        }
    }
}

fn endpoint_key(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Discovery => "oidc_issuer_url",
        Endpoint::Jwks => "oidc_jwks_url",
        Endpoint::Token => "redeem_url",
        Endpoint::Userinfo => "profile_url",
        Endpoint::Api(_) => "validate_url",
    }
}

/// The URL for messages: no userinfo, no query (a query could hold a secret).
pub(crate) fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// An error and its sources on one line (reqwest's Display hides the root cause).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_error_body_becomes_an_idp_error() {
        let e = oauth_error(
            Endpoint::Token,
            br#"{"error":"invalid_client","error_description":"bad secret"}"#,
        );
        match e {
            Some(ProviderError::Idp {
                endpoint,
                error,
                description,
            }) => {
                assert_eq!(endpoint, Endpoint::Token);
                assert_eq!(error, "invalid_client");
                assert_eq!(description.as_deref(), Some("bad secret"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(oauth_error(Endpoint::Token, b"<html>oops</html>").is_none());
        assert!(oauth_error(Endpoint::Token, br#"{"error":""}"#).is_none());
    }

    #[test]
    fn urls_in_messages_lose_credentials_and_query() {
        let u = url::Url::parse("https://user:pw@idp.example/token?secret=1#f").unwrap();
        assert_eq!(redact_url(&u), "https://idp.example/token");
    }
}
