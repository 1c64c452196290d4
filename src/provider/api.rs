//! Calls to provider REST APIs beyond OAuth (GitHub, Google Directory, Microsoft Graph,
//! GitLab): credentialed GETs, paging, and the same-origin rule for page links.
//!
//! A page link comes from the provider's answer; the access token is only ever sent to
//! the origin (scheme, host, port) of the configured API base, so a hostile or broken
//! answer cannot make authproxy hand the token to another server.

use reqwest::header::HeaderValue;
use serde_json::Value;

use super::error::{cap_idp_text, Endpoint, ProviderError};
use super::http::{self, Fetched};

/// Most pages followed for one listing (orgs, teams, groups): 100 pages of 100 entries is
/// far beyond any real membership list, and bounds the work a looping API can cause.
pub(crate) const MAX_PAGES: usize = 100;

/// An `Authorization` header value (`{scheme} {token}`), marked sensitive.
pub(crate) fn authorization(
    endpoint: Endpoint,
    scheme: &str,
    token: &str,
) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(&format!("{scheme} {token}")).map_err(|_| {
        ProviderError::InvalidResponse {
            endpoint,
            detail: "the access token contains characters not allowed in a header".into(),
        }
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// `base` with `path` appended to its path (`https://ghe/api/v3/` + `/user/orgs`).
pub(crate) fn join(base: &url::Url, path: &str) -> url::Url {
    let mut u = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    u.set_path(&joined);
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// Whether `next` may receive the credentials meant for `base` (same scheme, host, port).
pub(crate) fn same_origin(base: &url::Url, next: &url::Url) -> bool {
    base.scheme() == next.scheme()
        && base.host_str() == next.host_str()
        && base.port_or_known_default() == next.port_or_known_default()
}

/// A page link after the same-origin check.
pub(crate) fn checked_next(
    endpoint: Endpoint,
    base: &url::Url,
    raw: &str,
) -> Result<url::Url, ProviderError> {
    let next = url::Url::parse(raw).map_err(|e| ProviderError::InvalidResponse {
        endpoint,
        detail: format!("the next-page link is not a URL: {e}"),
    })?;
    if !same_origin(base, &next) {
        return Err(ProviderError::InvalidResponse {
            endpoint,
            detail: format!(
                "the next-page link points to another server ({}); the token is not sent there",
                http::redact_url(&next)
            ),
        });
    }
    Ok(next)
}

/// The `rel="next"` target of an RFC 8288 `Link` header.
pub(crate) fn link_next(link: &str) -> Option<&str> {
    link.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let target = pieces.next()?.trim();
        let target = target.strip_prefix('<')?.strip_suffix('>')?;
        let is_next = pieces.any(|p| {
            let p = p.trim();
            p.strip_prefix("rel=")
                .map(|v| v.trim_matches('"').split_whitespace().any(|r| r == "next"))
                .unwrap_or(false)
        });
        is_next.then_some(target)
    })
}

/// GET `url` with the given credentials and `Accept`, reading the whole answer.
pub(crate) async fn get(
    client: &reqwest::Client,
    endpoint: Endpoint,
    url: &url::Url,
    auth: &HeaderValue,
    accept: &'static str,
    extra: &[(&'static str, &'static str)],
) -> Result<Fetched, ProviderError> {
    let mut req = client
        .get(url.clone())
        .header(reqwest::header::AUTHORIZATION, auth.clone())
        .header(reqwest::header::ACCEPT, accept);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    http::send(endpoint, req).await
}

/// The error for a non-2xx API answer: the API's own message when it has one (GitHub's
/// `{"message": ...}`, Google's and Graph's `{"error": {"message": ...}}`, an OAuth
/// error), else the status alone.
pub(crate) fn api_error(endpoint: Endpoint, f: &Fetched) -> ProviderError {
    if let Some(e) = http::oauth_error(endpoint, &f.body) {
        return e;
    }
    let message = serde_json::from_slice::<Value>(&f.body).ok().and_then(|v| {
        v.get("message")
            .and_then(Value::as_str)
            .or_else(|| v.pointer("/error/message").and_then(Value::as_str))
            .map(str::to_owned)
    });
    // A 5xx stays an HTTP status: the provider is unavailable, not refusing.
    match message {
        Some(m) if !m.is_empty() && f.status.is_client_error() => ProviderError::Idp {
            endpoint,
            error: format!("HTTP {}", f.status.as_u16()),
            description: Some(cap_idp_text(&m)),
        },
        _ => ProviderError::HttpStatus {
            endpoint,
            status: f.status.as_u16(),
        },
    }
}

/// Parse a 2xx JSON body.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    endpoint: Endpoint,
    f: &Fetched,
) -> Result<T, ProviderError> {
    if !f.status.is_success() {
        return Err(api_error(endpoint, f));
    }
    serde_json::from_slice(&f.body).map_err(|e| ProviderError::InvalidResponse {
        endpoint,
        detail: format!("not the expected JSON: {e}"),
    })
}

/// Compare two names case-insensitively (GitHub logins, org and team slugs, emails).
pub(crate) fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_yield_the_next_page() {
        let link = r#"<https://api.github.com/user/orgs?page=2>; rel="next", <https://api.github.com/user/orgs?page=5>; rel="last""#;
        assert_eq!(
            link_next(link),
            Some("https://api.github.com/user/orgs?page=2")
        );
        let last = r#"<https://api.github.com/user/orgs?page=1>; rel="prev", <https://api.github.com/user/orgs?page=1>; rel="first""#;
        assert_eq!(link_next(last), None);
        assert_eq!(link_next(""), None);
        assert_eq!(link_next("garbage; rel=next"), None);
    }

    #[test]
    fn page_links_to_another_origin_are_refused() {
        let base = url::Url::parse("https://api.github.com/").unwrap();
        let ep = Endpoint::Api("GitHub API");
        assert!(checked_next(ep, &base, "https://api.github.com/user/orgs?page=2").is_ok());
        for bad in [
            "https://evil.example/user/orgs?page=2",
            "http://api.github.com/user/orgs",
            "https://api.github.com:8443/user/orgs",
            "not a url",
        ] {
            assert!(checked_next(ep, &base, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_are_joined_below_the_api_base() {
        let ghe = url::Url::parse("https://ghe.example/api/v3/").unwrap();
        assert_eq!(
            join(&ghe, "/user/orgs").as_str(),
            "https://ghe.example/api/v3/user/orgs"
        );
        let gh = url::Url::parse("https://api.github.com").unwrap();
        assert_eq!(join(&gh, "user").as_str(), "https://api.github.com/user");
    }

    #[test]
    fn api_errors_carry_the_providers_message() {
        let f = Fetched {
            status: reqwest::StatusCode::FORBIDDEN,
            content_type: Some("application/json".into()),
            link: None,
            body: br#"{"error":{"code":403,"message":"Not Authorized to access this resource/api","status":"PERMISSION_DENIED"}}"#.to_vec(),
        };
        match api_error(Endpoint::Api("Google Directory API"), &f) {
            ProviderError::Idp { description, .. } => assert_eq!(
                description.as_deref(),
                Some("Not Authorized to access this resource/api")
            ),
            other => panic!("unexpected {other:?}"),
        }
        let f = Fetched {
            status: reqwest::StatusCode::BAD_GATEWAY,
            content_type: None,
            link: None,
            body: b"<html>".to_vec(),
        };
        assert!(matches!(
            api_error(Endpoint::Api("x"), &f),
            ProviderError::HttpStatus { status: 502, .. }
        ));
    }
}
