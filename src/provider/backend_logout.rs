//! `backend_logout_url`: on sign-out the proxy itself GETs the provider's logout URL, with
//! `{id_token}` replaced by the session's ID token (e.g. Keycloak's
//! `.../protocol/openid-connect/logout?id_token_hint={id_token}`), before the session cookie
//! is cleared, as oauth2-proxy v7.15 does. A 200 or 204 answer is success; any other status or
//! a transport error is logged and the sign-out goes on (the browser's session is cleared
//! either way).

use crate::config::ProviderConfig;

use super::error::{Endpoint, ProviderError};
use super::http::{self, IdpClient};

const LOGOUT: Endpoint = Endpoint::Api("backend logout URL");

/// The placeholder oauth2-proxy replaces with the session's ID token.
pub const ID_TOKEN_PLACEHOLDER: &str = "{id_token}";

/// One provider's backend logout call.
pub struct BackendLogout {
    template: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for BackendLogout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendLogout").finish_non_exhaustive()
    }
}

/// The URL to call: the template with every `{id_token}` replaced (pure). The ID token is a
/// JWS (base64url and dots), which needs no escaping in a URL.
pub fn logout_url(template: &str, id_token: &str) -> Result<url::Url, ProviderError> {
    let raw = template.replace(ID_TOKEN_PLACEHOLDER, id_token);
    url::Url::parse(&raw).map_err(|e| ProviderError::Config {
        key: "backend_logout_url",
        message: format!("is not a URL once {ID_TOKEN_PLACEHOLDER} is filled in: {e}"),
    })
}

impl BackendLogout {
    /// The call for this provider (`None` without `backend_logout_url`). It uses the
    /// provider's TLS settings (`provider_ca_files`, ...) and follows a few redirects.
    pub fn from_config(cfg: &ProviderConfig) -> Result<Option<Self>, ProviderError> {
        let Some(template) = cfg.backend_logout_url.clone() else {
            return Ok(None);
        };
        Ok(Some(Self {
            template,
            client: IdpClient::new(cfg)?.metadata,
        }))
    }

    /// Call the logout URL for a session whose ID token is `id_token` (possibly empty, as
    /// oauth2-proxy sends it). Never fails: the outcome is logged.
    pub async fn call(&self, id_token: &str, provider: &str, request_id: &str) {
        let url = match logout_url(&self.template, id_token) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(provider, request_id, error = %e, "error while calling backend logout");
                return;
            }
        };
        match http::send(LOGOUT, self.client.get(url)).await {
            // oauth2-proxy v7.15 counts 200 and 204 as success (earlier versions logged 204).
            Ok(f) if matches!(f.status.as_u16(), 200 | 204) => {
                tracing::info!(
                    provider,
                    request_id,
                    status = f.status.as_u16(),
                    "backend logout called"
                );
            }
            Ok(f) => {
                tracing::error!(
                    provider,
                    request_id,
                    status = f.status.as_u16(),
                    "error while calling backend logout url, returned error code {}",
                    f.status.as_u16()
                );
            }
            Err(e) => {
                tracing::error!(provider, request_id, error = %e, "error while calling backend logout");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_token_fills_every_placeholder() {
        let u = logout_url(
            "https://idp.example/logout?id_token_hint={id_token}&again={id_token}",
            "eyJ.e30.sig",
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://idp.example/logout?id_token_hint=eyJ.e30.sig&again=eyJ.e30.sig"
        );
        assert_eq!(
            logout_url("https://idp.example/logout", "x")
                .unwrap()
                .as_str(),
            "https://idp.example/logout"
        );
        assert!(logout_url("not a url {id_token}", "x").is_err());
    }
}
