//! OpenID Connect discovery: fetch the provider metadata, check its issuer, and resolve
//! the endpoints with the configured overrides (`login_url`, `redeem_url`, `profile_url`,
//! `oidc_jwks_url`, `skip_oidc_discovery`).

use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::config::TokenAuthMethod;

use super::error::{Endpoint, ProviderError};
use super::http;
use super::jwks::SUPPORTED_ALGORITHMS;

/// The fields of `/.well-known/openid-configuration` authproxy uses.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Metadata {
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// OpenID Connect RP-Initiated Logout 1.0: where to send the browser to end the
    /// provider's session.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// RFC 9207 section 3: the provider sends `iss` in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// The configured overrides and expectations, independent of the config file's types.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub issuer: Option<url::Url>,
    pub skip_issuer_verification: bool,
    pub login_url: Option<url::Url>,
    pub redeem_url: Option<url::Url>,
    pub profile_url: Option<url::Url>,
    pub jwks_url: Option<url::Url>,
    pub token_auth_method: Option<TokenAuthMethod>,
    pub has_client_secret: bool,
    /// Without discovery: the issuer exactly as ID tokens carry it (instead of the
    /// normalised `issuer` URL).
    pub exact_issuer: Option<String>,
    /// `oidc_enabled_signing_algs` (validated; empty: no restriction).
    pub enabled_algs: Vec<String>,
    /// `oidc_public_key_files` verify tokens: no JWKS URL is needed without discovery.
    pub fixed_keys: bool,
}

/// Endpoints and policies resolved from discovery (or from the overrides alone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The `iss` every id_token must carry; `None` with insecure_oidc_skip_issuer_verification.
    pub issuer: Option<String>,
    /// The provider's issuer identifier (discovered, else configured), also with
    /// insecure_oidc_skip_issuer_verification: the RFC 9207 mix-up defence compares an
    /// authorization response's `iss` with it.
    pub response_issuer: String,
    /// The provider promised `iss` in every authorization response (RFC 9207): a response
    /// without it is refused.
    pub iss_parameter_supported: bool,
    pub authorization: url::Url,
    pub token: url::Url,
    pub userinfo: Option<url::Url>,
    /// `None` only with skip_oidc_discovery and `oidc_public_key_files`.
    pub jwks: Option<url::Url>,
    /// `end_session_endpoint` (RP-initiated logout), when discovery names a usable one.
    pub end_session: Option<url::Url>,
    pub token_auth: TokenAuth,
    pub algorithms: Vec<Algorithm>,
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenAuth {
    /// HTTP Basic with the form-urlencoded client id and secret (RFC 6749 2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
    /// A public client: `client_id` in the body, no secret (PKCE protects the code).
    PublicClient,
}

/// `{issuer}/.well-known/openid-configuration` (OIDC Discovery 4).
pub(crate) fn discovery_url(issuer: &url::Url) -> Result<url::Url, ProviderError> {
    let base = issuer.as_str().trim_end_matches('/');
    url::Url::parse(&format!("{base}/.well-known/openid-configuration")).map_err(|e| {
        ProviderError::Config {
            key: "oidc_issuer_url",
            message: format!("cannot derive the discovery URL: {e}"),
        }
    })
}

/// Fetch the discovery document.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    issuer: &url::Url,
) -> Result<Metadata, ProviderError> {
    let url = discovery_url(issuer)?;
    http::get_json(client, Endpoint::Discovery, &url).await
}

/// The configured issuer and the discovered one name the same issuer. The configured URL
/// has been normalised by the URL parser (`https://idp` became `https://idp/`), so a
/// single trailing slash is not significant; everything else must be identical.
pub(crate) fn issuer_matches(configured: &url::Url, discovered: &str) -> bool {
    configured.as_str().trim_end_matches('/') == discovered.trim_end_matches('/')
}

/// Combine the discovery document (absent with skip_oidc_discovery) and the overrides.
pub(crate) fn resolve(o: &Overrides, meta: Option<&Metadata>) -> Result<Resolved, ProviderError> {
    let issuer = match (meta, &o.issuer) {
        (Some(m), Some(configured)) => {
            if !o.skip_issuer_verification && !issuer_matches(configured, &m.issuer) {
                return Err(ProviderError::IssuerMismatch {
                    configured: configured.to_string(),
                    discovered: m.issuer.clone(),
                });
            }
            // Tokens carry the issuer exactly as the provider spells it.
            m.issuer.clone()
        }
        (None, Some(configured)) => o
            .exact_issuer
            .clone()
            .unwrap_or_else(|| configured.as_str().trim_end_matches('/').to_owned()),
        (_, None) => {
            return Err(ProviderError::Config {
                key: "oidc_issuer_url",
                message: "is required for provider \"oidc\"".into(),
            })
        }
    };
    let pick = |over: &Option<url::Url>,
                found: Option<&String>,
                key: &'static str,
                field: &str|
     -> Result<Option<url::Url>, ProviderError> {
        if let Some(u) = over {
            return Ok(Some(u.clone()));
        }
        let Some(raw) = found.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let u = url::Url::parse(raw).map_err(|e| ProviderError::InvalidResponse {
            endpoint: Endpoint::Discovery,
            detail: format!("{field} {raw:?} is not a URL: {e} (or set {key})"),
        })?;
        if !matches!(u.scheme(), "https" | "http") {
            return Err(ProviderError::InvalidResponse {
                endpoint: Endpoint::Discovery,
                detail: format!("{field} {raw:?} is not an http(s) URL"),
            });
        }
        Ok(Some(u))
    };
    let required = |u: Option<url::Url>, key: &'static str, field: &str| {
        u.ok_or_else(|| match meta {
            Some(_) => ProviderError::InvalidResponse {
                endpoint: Endpoint::Discovery,
                detail: format!("the discovery document has no {field} (or set {key})"),
            },
            None => ProviderError::Config {
                key,
                message: "is required with skip_oidc_discovery".into(),
            },
        })
    };
    let authorization = required(
        pick(
            &o.login_url,
            meta.and_then(|m| m.authorization_endpoint.as_ref()),
            "login_url",
            "authorization_endpoint",
        )?,
        "login_url",
        "authorization_endpoint",
    )?;
    let token = required(
        pick(
            &o.redeem_url,
            meta.and_then(|m| m.token_endpoint.as_ref()),
            "redeem_url",
            "token_endpoint",
        )?,
        "redeem_url",
        "token_endpoint",
    )?;
    let jwks = pick(
        &o.jwks_url,
        meta.and_then(|m| m.jwks_uri.as_ref()),
        "oidc_jwks_url",
        "jwks_uri",
    )?;
    let jwks = if o.fixed_keys && meta.is_none() {
        jwks
    } else {
        Some(required(jwks, "oidc_jwks_url", "jwks_uri")?)
    };
    let userinfo = pick(
        &o.profile_url,
        meta.and_then(|m| m.userinfo_endpoint.as_ref()),
        "profile_url",
        "userinfo_endpoint",
    )?;
    // A malformed end_session_endpoint does not make the provider unusable: sign-out then
    // ends only authproxy's session.
    let end_session = pick(
        &None,
        meta.and_then(|m| m.end_session_endpoint.as_ref()),
        "",
        "end_session_endpoint",
    )
    .ok()
    .flatten();
    let token_auth = choose_token_auth(
        o.token_auth_method,
        meta.and_then(|m| m.token_endpoint_auth_methods_supported.as_deref()),
        o.has_client_secret,
    )?;
    let algorithms = accepted_algorithms(
        meta.and_then(|m| m.id_token_signing_alg_values_supported.as_deref()),
        &o.enabled_algs,
    )?;
    Ok(Resolved {
        end_session,
        response_issuer: issuer.clone(),
        iss_parameter_supported: meta
            .is_some_and(|m| m.authorization_response_iss_parameter_supported),
        issuer: (!o.skip_issuer_verification).then_some(issuer),
        authorization,
        token,
        userinfo,
        jwks,
        token_auth,
        algorithms,
    })
}

/// The configured method wins; otherwise client_secret_basic when the provider lists it or
/// lists nothing (the OIDC Discovery default), else client_secret_post.
pub(crate) fn choose_token_auth(
    configured: Option<TokenAuthMethod>,
    supported: Option<&[String]>,
    has_secret: bool,
) -> Result<TokenAuth, ProviderError> {
    if !has_secret {
        return Ok(TokenAuth::PublicClient);
    }
    match configured {
        Some(TokenAuthMethod::ClientSecretBasic) => return Ok(TokenAuth::Basic),
        Some(TokenAuthMethod::ClientSecretPost) => return Ok(TokenAuth::Post),
        None => {}
    }
    let Some(list) = supported.filter(|l| !l.is_empty()) else {
        return Ok(TokenAuth::Basic);
    };
    if list.iter().any(|m| m == "client_secret_basic") {
        Ok(TokenAuth::Basic)
    } else if list.iter().any(|m| m == "client_secret_post") {
        Ok(TokenAuth::Post)
    } else {
        Err(ProviderError::InvalidResponse {
            endpoint: Endpoint::Discovery,
            detail: format!(
                "token_endpoint_auth_methods_supported is {list:?}; authproxy authenticates \
                 with client_secret_basic or client_secret_post"
            ),
        })
    }
}

/// authproxy's algorithms, narrowed to `id_token_signing_alg_values_supported` when the
/// provider publishes it (as go-oidc does: a token signed with an algorithm the provider says
/// it never uses is refused outright), and to `oidc_enabled_signing_algs` when set (oauth2-proxy
/// v7 intersects the two the same way and refuses to start when nothing is left).
pub(crate) fn accepted_algorithms(
    published: Option<&[String]>,
    enabled: &[String],
) -> Result<Vec<Algorithm>, ProviderError> {
    let ours = SUPPORTED_ALGORITHMS
        .iter()
        .filter(|(name, _)| enabled.is_empty() || enabled.iter().any(|e| e == name));
    let Some(list) = published.filter(|l| !l.is_empty()) else {
        let configured: Vec<Algorithm> = ours.map(|(_, a)| *a).collect();
        if configured.is_empty() {
            return Err(ProviderError::Config {
                key: "oidc_enabled_signing_algs",
                message: format!("{enabled:?} leaves no algorithm authproxy verifies with"),
            });
        }
        return Ok(configured);
    };
    let both: Vec<Algorithm> = ours
        .filter(|(name, _)| list.iter().any(|p| p == name))
        .map(|(_, a)| *a)
        .collect();
    if both.is_empty() && !enabled.is_empty() {
        return Err(ProviderError::InvalidResponse {
            endpoint: Endpoint::Discovery,
            detail: format!(
                "no supported signing algorithms in common between provider and configuration: \
                 id_token_signing_alg_values_supported is {list:?}, oidc_enabled_signing_algs is \
                 {enabled:?}"
            ),
        });
    }
    if both.is_empty() {
        return Err(ProviderError::InvalidResponse {
            endpoint: Endpoint::Discovery,
            detail: format!(
                "id_token_signing_alg_values_supported is {list:?}; authproxy accepts only \
                 RS256/384/512, PS256/384/512, ES256/384 and EdDSA"
            ),
        });
    }
    Ok(both)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    fn meta() -> Metadata {
        Metadata {
            issuer: "https://idp.example/realms/r".into(),
            authorization_endpoint: Some("https://idp.example/auth".into()),
            token_endpoint: Some("https://idp.example/token".into()),
            userinfo_endpoint: Some("https://idp.example/userinfo".into()),
            jwks_uri: Some("https://idp.example/jwks".into()),
            ..Default::default()
        }
    }

    fn overrides() -> Overrides {
        Overrides {
            issuer: Some(u("https://idp.example/realms/r")),
            has_client_secret: true,
            ..Default::default()
        }
    }

    #[test]
    fn discovery_url_is_below_the_issuer_path() {
        assert_eq!(
            discovery_url(&u("https://idp.example/realms/r/"))
                .unwrap()
                .as_str(),
            "https://idp.example/realms/r/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url(&u("https://idp.example")).unwrap().as_str(),
            "https://idp.example/.well-known/openid-configuration"
        );
    }

    #[test]
    fn endpoints_come_from_discovery() {
        let r = resolve(&overrides(), Some(&meta())).unwrap();
        assert_eq!(r.issuer.as_deref(), Some("https://idp.example/realms/r"));
        assert_eq!(r.authorization.as_str(), "https://idp.example/auth");
        assert_eq!(r.token.as_str(), "https://idp.example/token");
        assert_eq!(
            r.jwks.as_ref().unwrap().as_str(),
            "https://idp.example/jwks"
        );
        assert_eq!(
            r.userinfo.as_ref().map(url::Url::as_str),
            Some("https://idp.example/userinfo")
        );
        assert_eq!(r.token_auth, TokenAuth::Basic);
        assert_eq!(r.algorithms.len(), SUPPORTED_ALGORITHMS.len());
    }

    #[test]
    fn overrides_win_over_discovery() {
        let mut o = overrides();
        o.login_url = Some(u("https://other.example/login"));
        o.redeem_url = Some(u("https://other.example/token"));
        o.profile_url = Some(u("https://other.example/me"));
        o.jwks_url = Some(u("https://other.example/keys"));
        let r = resolve(&o, Some(&meta())).unwrap();
        assert_eq!(r.authorization.as_str(), "https://other.example/login");
        assert_eq!(r.token.as_str(), "https://other.example/token");
        assert_eq!(r.userinfo.unwrap().as_str(), "https://other.example/me");
        assert_eq!(
            r.jwks.as_ref().unwrap().as_str(),
            "https://other.example/keys"
        );
    }

    #[test]
    fn a_different_issuer_is_refused_unless_verification_is_skipped() {
        let mut m = meta();
        m.issuer = "https://evil.example/realms/r".into();
        assert!(matches!(
            resolve(&overrides(), Some(&m)),
            Err(ProviderError::IssuerMismatch { .. })
        ));
        let mut o = overrides();
        o.skip_issuer_verification = true;
        let r = resolve(&o, Some(&m)).unwrap();
        assert_eq!(r.issuer, None);
    }

    #[test]
    fn a_trailing_slash_is_the_only_issuer_difference_tolerated() {
        assert!(issuer_matches(
            &u("https://idp.example"),
            "https://idp.example"
        ));
        assert!(issuer_matches(
            &u("https://idp.example/r/"),
            "https://idp.example/r"
        ));
        assert!(!issuer_matches(
            &u("https://idp.example/r"),
            "https://idp.example/r2"
        ));
        assert!(!issuer_matches(
            &u("https://idp.example"),
            "http://idp.example"
        ));
    }

    #[test]
    fn skip_discovery_requires_each_endpoint_by_its_key() {
        let mut o = overrides();
        o.login_url = Some(u("https://idp.example/auth"));
        o.redeem_url = Some(u("https://idp.example/token"));
        match resolve(&o, None) {
            Err(ProviderError::Config { key, .. }) => assert_eq!(key, "oidc_jwks_url"),
            other => panic!("unexpected {other:?}"),
        }
        o.jwks_url = Some(u("https://idp.example/jwks"));
        let r = resolve(&o, None).unwrap();
        assert_eq!(r.issuer.as_deref(), Some("https://idp.example/realms/r"));
        assert_eq!(r.userinfo, None);
    }

    #[test]
    fn missing_or_odd_discovered_endpoints_are_named() {
        let mut m = meta();
        m.token_endpoint = None;
        let e = resolve(&overrides(), Some(&m)).unwrap_err().to_string();
        assert!(
            e.contains("token_endpoint") && e.contains("redeem_url"),
            "{e}"
        );
        let mut m = meta();
        m.jwks_uri = Some("file:///etc/passwd".into());
        let e = resolve(&overrides(), Some(&m)).unwrap_err().to_string();
        assert!(e.contains("not an http(s) URL"), "{e}");
    }

    #[test]
    fn token_auth_method_prefers_basic_then_post() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            choose_token_auth(None, None, true).unwrap(),
            TokenAuth::Basic
        );
        assert_eq!(
            choose_token_auth(
                None,
                Some(&l(&["client_secret_post", "client_secret_basic"])),
                true
            )
            .unwrap(),
            TokenAuth::Basic
        );
        assert_eq!(
            choose_token_auth(None, Some(&l(&["client_secret_post"])), true).unwrap(),
            TokenAuth::Post
        );
        assert_eq!(
            choose_token_auth(
                Some(TokenAuthMethod::ClientSecretPost),
                Some(&l(&["client_secret_basic"])),
                true
            )
            .unwrap(),
            TokenAuth::Post
        );
        assert!(choose_token_auth(None, Some(&l(&["private_key_jwt"])), true).is_err());
        assert_eq!(
            choose_token_auth(None, Some(&l(&["private_key_jwt"])), false).unwrap(),
            TokenAuth::PublicClient
        );
    }

    #[test]
    fn published_algorithms_narrow_the_accepted_set() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            accepted_algorithms(Some(&l(&["RS256", "none", "HS256"])), &[]).unwrap(),
            vec![Algorithm::RS256]
        );
        assert!(accepted_algorithms(Some(&l(&["none", "HS256"])), &[]).is_err());
        assert_eq!(accepted_algorithms(Some(&[]), &[]).unwrap().len(), 9);
    }

    #[test]
    fn enabled_algorithms_intersect_with_the_published_ones() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let published = l(&["RS256", "ES256", "PS256"]);
        // Both lists: the intersection, in authproxy's order.
        assert_eq!(
            accepted_algorithms(Some(&published), &l(&["PS256", "ES256", "EdDSA"])).unwrap(),
            vec![Algorithm::PS256, Algorithm::ES256]
        );
        // Nothing published: the configured list alone (skip_oidc_discovery).
        assert_eq!(
            accepted_algorithms(None, &l(&["ES384"])).unwrap(),
            vec![Algorithm::ES384]
        );
        // Nothing in common: refused, naming both lists (oauth2-proxy refuses to start).
        match accepted_algorithms(Some(&published), &l(&["EdDSA"])) {
            Err(ProviderError::InvalidResponse { detail, .. }) => {
                assert!(detail.contains("in common"), "{detail}");
                assert!(detail.contains("EdDSA"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
