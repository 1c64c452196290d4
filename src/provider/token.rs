//! The token endpoint's protocol: client authentication and response parsing (pure).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::claims;
use super::error::{cap_idp_text, Endpoint, ProviderError};
use super::http::Fetched;

/// `Authorization: Basic` with the client id and secret form-urlencoded first, as
/// RFC 6749 2.3.1 requires (a `:` or `%` in a secret would otherwise corrupt it).
pub(crate) fn basic_authorization(
    client_id: &str,
    secret: &str,
) -> Result<reqwest::header::HeaderValue, ProviderError> {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let creds = format!("{}:{}", enc(client_id), enc(secret));
    let b64 = base64::engine::general_purpose::STANDARD.encode(creds);
    let mut value =
        reqwest::header::HeaderValue::from_str(&format!("Basic {b64}")).map_err(|_| {
            ProviderError::Config {
                key: "client_secret",
                message: "cannot be sent in an Authorization header".into(),
            }
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `client_assertion_type` of a JWT client assertion (RFC 7523 2.2).
pub(crate) const JWT_BEARER_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion is valid (oauth2-proxy's login.gov provider: five minutes).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// A client assertion for `private_key_jwt` (RFC 7523 3): `iss` and `sub` are the client id,
/// `aud` the token endpoint, a random `jti` so the provider can refuse a replay, `iat` and
/// `exp` five minutes later.
pub(crate) fn client_assertion(
    key: &super::rs256::RsaSigner,
    client_id: &str,
    audience: &str,
    now: SystemTime,
) -> Result<String, ProviderError> {
    let iat = claims::unix_seconds(now);
    let jti = crate::crypto::random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": jti,
        "iat": iat,
        "exp": iat + ASSERTION_LIFETIME.as_secs() as i64,
    });
    key.sign_jwt(&serde_json::json!({"alg": "RS256", "typ": "JWT"}), &claims)
        .map_err(|e| ProviderError::Config {
            key: "jwt_key",
            message: format!("cannot sign the client assertion: {e}"),
        })
}

/// The fields of a successful token response (RFC 6749 5.1).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: Option<i64>,
}

/// Read a token endpoint answer: an OAuth error (whatever the status), an HTTP error, or
/// the tokens. JSON is the standard; a form-encoded body is accepted as Go's oauth2 does.
pub(crate) fn parse_token_response(f: &Fetched) -> Result<TokenResponse, ProviderError> {
    let obj: Option<Map<String, Value>> =
        if f.media_type().as_deref() == Some("application/x-www-form-urlencoded") {
            Some(
                url::form_urlencoded::parse(&f.body)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                    .collect(),
            )
        } else {
            match serde_json::from_slice::<Value>(&f.body) {
                Ok(Value::Object(m)) => Some(m),
                _ => None,
            }
        };
    // Facebook's Graph API answers `{"error": {"message", "type", "code"}}` instead.
    if let Some(Value::Object(e)) = obj.as_ref().and_then(|m| m.get("error")) {
        let text = |k: &str| {
            e.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(cap_idp_text)
        };
        return Err(ProviderError::Idp {
            endpoint: Endpoint::Token,
            error: text("type").unwrap_or_else(|| format!("HTTP {}", f.status.as_u16())),
            description: text("message"),
        });
    }
    if let Some(error) = obj
        .as_ref()
        .and_then(|m| m.get("error"))
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        let description = obj
            .as_ref()
            .and_then(|m| m.get("error_description"))
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(cap_idp_text);
        return Err(ProviderError::Idp {
            endpoint: Endpoint::Token,
            error: cap_idp_text(error),
            description,
        });
    }
    if !f.status.is_success() {
        return Err(ProviderError::HttpStatus {
            endpoint: Endpoint::Token,
            status: f.status.as_u16(),
        });
    }
    let obj = obj.ok_or_else(|| ProviderError::InvalidResponse {
        endpoint: Endpoint::Token,
        detail: "the body is not a JSON object".into(),
    })?;
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let access_token = text("access_token").ok_or_else(|| ProviderError::InvalidResponse {
        endpoint: Endpoint::Token,
        detail: "the response has no access_token".into(),
    })?;
    let expires_in = match obj.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            Some(
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| ProviderError::InvalidResponse {
                        endpoint: Endpoint::Token,
                        detail: format!("expires_in {s:?} is not a number"),
                    })?,
            )
        }
        Some(_) => {
            return Err(ProviderError::InvalidResponse {
                endpoint: Endpoint::Token,
                detail: "expires_in is not a number".into(),
            })
        }
    };
    Ok(TokenResponse {
        access_token,
        refresh_token: text("refresh_token"),
        id_token: text("id_token"),
        expires_in,
    })
}

/// When the tokens expire: `expires_in` (as oauth2-proxy), else the id_token's `exp`.
pub(crate) fn expiry(
    expires_in: Option<i64>,
    id_claims: &Map<String, Value>,
    now: SystemTime,
) -> Option<SystemTime> {
    match expires_in {
        Some(secs) if secs > 0 => now.checked_add(Duration::from_secs(secs.unsigned_abs())),
        _ => claims::numeric_date(id_claims, "exp")
            .ok()
            .flatten()
            .filter(|exp| *exp > 0)
            .and_then(|exp| UNIX_EPOCH.checked_add(Duration::from_secs(exp.unsigned_abs()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(status: u16, content_type: &str, body: &str) -> Fetched {
        Fetched {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            content_type: Some(content_type.to_owned()),
            link: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_before_base64() {
        let v = basic_authorization("my client", "p:ss%w/rd+").unwrap();
        let b64 = v.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "my+client:p%3Ass%25w%2Frd%2B"
        );
        assert!(v.is_sensitive());
    }

    #[test]
    fn token_responses_are_parsed_with_string_or_number_expiry() {
        let r = parse_token_response(&fetched(
            200,
            "application/json;charset=UTF-8",
            r#"{"access_token":"at","token_type":"Bearer","expires_in":"300","id_token":"x.y.z"}"#,
        ))
        .unwrap();
        assert_eq!(r.access_token, "at");
        assert_eq!(r.expires_in, Some(300));
        assert_eq!(r.id_token.as_deref(), Some("x.y.z"));
        assert_eq!(r.refresh_token, None);
        let r = parse_token_response(&fetched(
            200,
            "application/x-www-form-urlencoded",
            "access_token=at&refresh_token=rt&expires_in=60",
        ))
        .unwrap();
        assert_eq!(r.refresh_token.as_deref(), Some("rt"));
        assert_eq!(r.expires_in, Some(60));
    }

    #[test]
    fn token_errors_say_what_the_idp_said() {
        for (status, body) in [
            (
                400,
                r#"{"error":"invalid_grant","error_description":"expired code"}"#,
            ),
            // Some IdPs report errors with a 200.
            (
                200,
                r#"{"error":"invalid_grant","error_description":"expired code"}"#,
            ),
        ] {
            match parse_token_response(&fetched(status, "application/json", body)) {
                Err(ProviderError::Idp {
                    error, description, ..
                }) => {
                    assert_eq!(error, "invalid_grant");
                    assert_eq!(description.as_deref(), Some("expired code"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(matches!(
            parse_token_response(&fetched(502, "text/html", "<h1>bad gateway</h1>")),
            Err(ProviderError::HttpStatus { status: 502, .. })
        ));
        assert!(matches!(
            parse_token_response(&fetched(200, "application/json", r#"{"id_token":"a"}"#)),
            Err(ProviderError::InvalidResponse { .. })
        ));
        assert!(matches!(
            parse_token_response(&fetched(
                200,
                "application/json",
                r#"{"access_token":"a","expires_in":"soon"}"#
            )),
            Err(ProviderError::InvalidResponse { .. })
        ));
    }

    #[test]
    fn graph_api_error_objects_are_idp_errors() {
        match parse_token_response(&fetched(
            400,
            "application/json",
            r#"{"error":{"message":"This authorization code has expired.","type":"OAuthException","code":100,"fbtrace_id":"A1"}}"#,
        )) {
            Err(ProviderError::Idp {
                error, description, ..
            }) => {
                assert_eq!(error, "OAuthException");
                assert_eq!(
                    description.as_deref(),
                    Some("This authorization code has expired.")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn client_assertions_name_the_client_and_the_token_endpoint() {
        let key = super::super::rs256::RsaSigner::from_pem(include_str!(
            "../../tests/fixtures/fake-provider-rsa.pem"
        ))
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let a = client_assertion(
            &key,
            "urn:gov:gsa:openidconnect:sp:app",
            "https://idp/token",
            now,
        )
        .unwrap();
        let b = client_assertion(
            &key,
            "urn:gov:gsa:openidconnect:sp:app",
            "https://idp/token",
            now,
        )
        .unwrap();
        let payload = a.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["iss"], "urn:gov:gsa:openidconnect:sp:app");
        assert_eq!(claims["sub"], claims["iss"]);
        assert_eq!(claims["aud"], "https://idp/token");
        assert_eq!(claims["exp"].as_i64(), Some(1_700_000_300));
        assert_eq!(claims["jti"].as_str().map(str::len), Some(32));
        assert_ne!(a, b, "every assertion has its own jti");
    }

    #[test]
    fn expiry_prefers_expires_in_then_the_id_token_exp() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let id = serde_json::json!({"exp": 5000})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(
            expiry(Some(60), &id, now),
            Some(UNIX_EPOCH + Duration::from_secs(1060))
        );
        assert_eq!(
            expiry(None, &id, now),
            Some(UNIX_EPOCH + Duration::from_secs(5000))
        );
        assert_eq!(expiry(Some(0), &Map::new(), now), None);
    }
}
