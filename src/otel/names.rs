//! Pure helpers: span attribute values derived from requests.

use http::Version;

/// `http.route` of a request: the path itself for the proxy's own endpoints (a fixed, small
/// set), `{prefix}/ext_authz/*` for Envoy's HTTP ext_authz paths, `{prefix}/*` for an unknown
/// endpoint; `None` for a path the app serves (authproxy does not know the app's routes).
/// `endpoint` is the path below `proxy_prefix` (`/callback`), `None` when not below it.
pub fn request_route(prefix: &str, endpoint: Option<&str>) -> Option<String> {
    let endpoint = endpoint?;
    const FIXED: &[&str] = &[
        "/sign_in",
        "/start",
        "/callback",
        "/sign_out",
        "/userinfo",
        "/auth",
        "/backchannel-logout",
    ];
    Some(if FIXED.contains(&endpoint) {
        format!("{prefix}{endpoint}")
    } else if endpoint == "/ext_authz" || endpoint.starts_with("/ext_authz/") {
        format!("{prefix}/ext_authz/*")
    } else {
        format!("{prefix}/*")
    })
}

/// The `grant_type` of a form-encoded token request body (`refresh_token`,
/// `authorization_code`, ...), when it is one of the grants authproxy sends.
pub fn grant_type(body: &[u8]) -> Option<&'static str> {
    const GRANTS: &[&str] = &[
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ];
    let value = body
        .split(|b| *b == b'&')
        .find_map(|pair| pair.strip_prefix(b"grant_type="))?;
    let decoded = percent_encoding::percent_decode(value).collect::<Vec<u8>>();
    GRANTS.iter().copied().find(|g| g.as_bytes() == decoded)
}

/// `network.protocol.version`.
pub(super) fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "unknown",
    }
}
