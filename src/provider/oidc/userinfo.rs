//! The userinfo endpoint of the one OpenID Connect implementation: a JSON object or a signed
//! JWT (verified like an ID token's signature, with `iss` and `aud` checked when present), and
//! never the claims of another subject than the ID token's.

use std::time::UNIX_EPOCH;

use serde_json::{Map, Value};

use super::core::{OidcCore, Ready};
use crate::provider::claims::{self, Expectations};
use crate::provider::error::{Endpoint, ProviderError, TokenCheck};
use crate::provider::http;
use crate::provider::jwks::Jws;

impl OidcCore {
    /// GET userinfo with the access token: a JSON object or a signed JWT (verified).
    pub(super) async fn fetch_userinfo(
        &self,
        ready: &Ready,
        url: &url::Url,
        access_token: &str,
        subject: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {access_token}"))
            .map_err(|_| ProviderError::InvalidResponse {
                endpoint: Endpoint::Token,
                detail: "the access_token contains characters not allowed in a header".into(),
            })?;
        auth.set_sensitive(true);
        let req = self
            .http
            .credentialed
            .get(url.clone())
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json");
        let fetched = http::send(Endpoint::Userinfo, req).await?;
        if !fetched.status.is_success() {
            return Err(http::status_error(Endpoint::Userinfo, &fetched));
        }
        let claims = if fetched.media_type().as_deref() == Some("application/jwt") {
            self.verify_signed_userinfo(ready, &fetched.body).await?
        } else {
            match serde_json::from_slice::<Value>(&fetched.body) {
                Ok(Value::Object(m)) => m,
                _ => {
                    return Err(ProviderError::InvalidResponse {
                        endpoint: Endpoint::Userinfo,
                        detail: "the body is not a JSON object".into(),
                    })
                }
            }
        };
        // OIDC Core 5.3.2: userinfo about another subject must not be used (token
        // substitution). A response without `sub` is tolerated, as oauth2-proxy does.
        if let Some(sub) = claims.get("sub").and_then(Value::as_str) {
            if sub != subject {
                return Err(ProviderError::UserinfoSubjectMismatch);
            }
        }
        Ok(claims)
    }

    pub(super) async fn verify_signed_userinfo(
        &self,
        ready: &Ready,
        body: &[u8],
    ) -> Result<Map<String, Value>, ProviderError> {
        let bad = ProviderError::InvalidUserinfoToken;
        let text = std::str::from_utf8(body)
            .map_err(|_| bad(TokenCheck::Malformed("not UTF-8".into())))?
            .trim();
        let jws = Jws::parse(text).map_err(bad)?;
        let alg = jws.algorithm(&ready.endpoints.algorithms).map_err(bad)?;
        ready
            .jwks
            .verify(&self.http.metadata, &jws, alg, bad)
            .await?;
        // OIDC Core 5.3.2: a signed response SHOULD carry iss and aud; when it does they
        // must be the provider and this client.
        if let (Some(expected), Some(found)) = (
            ready.endpoints.issuer.as_deref(),
            jws.claims.get("iss").and_then(Value::as_str),
        ) {
            if expected != found {
                return Err(bad(TokenCheck::Issuer {
                    expected: expected.to_owned(),
                    found: found.to_owned(),
                }));
            }
        }
        if jws.claims.contains_key("aud") {
            let expect = Expectations {
                issuer: None,
                client_id: &self.client_id,
                extra_audiences: &self.extra_audiences,
                audience_claims: &[],
                nonce: None,
                now: UNIX_EPOCH,
            };
            claims::check_audience(&jws.claims, &expect).map_err(bad)?;
        }
        Ok(jws.into_claims())
    }
}
