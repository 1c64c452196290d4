//! login.gov (`provider = "login.gov"`): OpenID Connect with `private_key_jwt` client
//! authentication (RFC 7523), as oauth2-proxy:
//!
//! * Endpoints default to `https://secure.login.gov/openid_connect/authorize`,
//!   `/api/openid_connect/token`, `/api/openid_connect/userinfo` (also the `validate_url`) and
//!   the keys at `pubjwk_url` (default `/api/openid_connect/certs`); no discovery, unless
//!   `oidc_issuer_url` is set. The issuer ID tokens must carry is `oidc_issuer_url`, else the
//!   origin of `login_url` with a slash (`https://secure.login.gov/`; the sandbox
//!   `https://idp.int.identitysandbox.gov/`). oauth2-proxy does not check `iss`; authproxy does.
//! * The token request carries `client_assertion`, an RS256 JWT signed with `jwt_key` /
//!   `jwt_key_file` (`iss` = `sub` = client id, `aud` = the token endpoint, a random `jti`,
//!   five minutes of validity); there is no client secret.
//! * `acr_values` defaults to oauth2-proxy's `http://idmanagement.gov/ns/assurance/loa/1`.
//! * The nonce is per login (oauth2-proxy uses one per process). The email comes from
//!   userinfo and must be verified: `email_verified` must be present and true.
//! * login.gov issues no refresh token; at `cookie_refresh` the access token is re-validated
//!   at `validate_url`.

use crate::config::ProviderConfig;

use super::error::ProviderError;
use super::oidc::{Enrich, Oidc, OidcCore, OidcKind};
use super::rs256::RsaSigner;

const LOGIN_URL: &str = "https://secure.login.gov/openid_connect/authorize";
const REDEEM_PATH: &str = "/api/openid_connect/token";
const USERINFO_PATH: &str = "/api/openid_connect/userinfo";
const CERTS_PATH: &str = "/api/openid_connect/certs";
/// oauth2-proxy's default `acr_values` for login.gov.
const DEFAULT_ACR: &str = "http://idmanagement.gov/ns/assurance/loa/1";

fn cfg_err(key: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::Config {
        key,
        message: message.into(),
    }
}

/// `path` on the origin of `base`.
fn on_origin(base: &url::Url, path: &str) -> url::Url {
    let mut u = base.clone();
    u.set_path(path);
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// The issuer login.gov names in its tokens: the origin of the login URL and a slash (pure).
pub(crate) fn origin_issuer(login_url: &url::Url) -> String {
    on_origin(login_url, "/").as_str().to_owned()
}

/// What the login.gov kind adds: token re-validation at `validate_url`.
#[derive(Debug)]
pub struct LoginGov {
    validate_url: url::Url,
}

/// The login.gov provider.
pub type LoginGovProvider = Oidc<LoginGov>;

impl LoginGovProvider {
    /// Validate the options and build the provider (no network I/O; the key is parsed).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        if cfg.login_gov.jwt_key.is_empty() {
            return Err(cfg_err(
                "jwt_key",
                "is required for provider \"login.gov\" (or jwt_key_file)",
            ));
        }
        let key = RsaSigner::from_pem(cfg.login_gov.jwt_key.expose())
            .map_err(|e| cfg_err("jwt_key", format!("is not a PEM RSA private key: {e}")))?;
        let mut inner = cfg.clone();
        if inner.display_name.is_empty() || inner.display_name == "OpenID Connect" {
            inner.display_name = "login.gov".into();
        }
        if inner.scope.is_empty() {
            inner.scope = "email openid".into();
        }
        if inner.acr_values.as_deref().is_none_or(str::is_empty) {
            inner.acr_values = Some(DEFAULT_ACR.to_owned());
        }
        let login_url = match &cfg.login_url {
            Some(u) => u.clone(),
            None => url::Url::parse(LOGIN_URL).map_err(|e| cfg_err("login_url", e.to_string()))?,
        };
        let discover = cfg.oidc_issuer_url.is_some() && !cfg.skip_oidc_discovery;
        let exact_issuer = match &cfg.oidc_issuer_url {
            Some(u) => u.as_str().to_owned(),
            None => origin_issuer(&login_url),
        };
        if !discover {
            inner.skip_oidc_discovery = true;
            inner.oidc_issuer_url = Some(
                url::Url::parse(&exact_issuer)
                    .map_err(|e| cfg_err("oidc_issuer_url", e.to_string()))?,
            );
            inner.login_url = Some(login_url.clone());
            inner.redeem_url = Some(
                cfg.redeem_url
                    .clone()
                    .unwrap_or_else(|| on_origin(&login_url, REDEEM_PATH)),
            );
            inner.profile_url = Some(
                cfg.profile_url
                    .clone()
                    .unwrap_or_else(|| on_origin(&login_url, USERINFO_PATH)),
            );
        }
        if let Some(jwks) = cfg
            .login_gov
            .pubjwk_url
            .clone()
            .or_else(|| (!discover).then(|| on_origin(&login_url, CERTS_PATH)))
        {
            inner.oidc_jwks_url = Some(jwks);
        }
        let validate_url = cfg
            .validate_url
            .clone()
            .or_else(|| inner.profile_url.clone())
            .unwrap_or_else(|| on_origin(&login_url, USERINFO_PATH));
        let mut core = OidcCore::new(&inner)?
            .with_client_assertion(key)
            .with_required_email_verification();
        if !discover {
            core = core.with_exact_issuer(exact_issuer);
        }
        Ok(Oidc::from_parts(core, LoginGov { validate_url }))
    }
}

impl OidcKind for LoginGov {
    async fn enrich<'a>(
        &'a self,
        _core: &'a OidcCore,
        _e: Enrich<'a>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    fn validate_url(&self) -> Option<&url::Url> {
        Some(&self.validate_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_the_login_urls_origin_with_a_slash() {
        let u = |s| url::Url::parse(s).unwrap();
        assert_eq!(
            origin_issuer(&u("https://secure.login.gov/openid_connect/authorize")),
            "https://secure.login.gov/"
        );
        assert_eq!(
            origin_issuer(&u("http://127.0.0.1:8080/openid_connect/authorize?x=1")),
            "http://127.0.0.1:8080/"
        );
    }
}
