//! LinkedIn (`provider = "linkedin"`), as oauth2-proxy: OAuth 2.0 at
//! `www.linkedin.com/oauth/v2/authorization` and `www.linkedin.com/uas/oauth2/accessToken`,
//! scope `r_emailaddress r_liteprofile`, the email from the v2 API
//! `GET https://api.linkedin.com/v2/emailAddress?q=members&projection=(elements*(handle~))`
//! (`profile_url`) and token validation at `https://api.linkedin.com/v2/me` (`validate_url`).
//! Every API call carries `x-li-format: json`.
//!
//! LinkedIn now recommends "Sign In with LinkedIn using OpenID Connect"; that works with
//! `provider = "oidc"` and `oidc_issuer_url = https://www.linkedin.com/oauth` (see
//! docs/providers.md).

use serde::Deserialize;

use crate::config::ProviderConfig;

use super::error::ProviderError;
use super::oauth2::{ClientAuth, Defaults, OAuth2, OAuth2Core, OAuth2Kind};
use super::Claims;

const DEFAULTS: Defaults = Defaults {
    kind: "linkedin",
    display_name: "LinkedIn",
    login_url: Some("https://www.linkedin.com/oauth/v2/authorization"),
    redeem_url: Some("https://www.linkedin.com/uas/oauth2/accessToken"),
    profile_url: Some("https://api.linkedin.com/v2/emailAddress"),
    validate_url: Some("https://api.linkedin.com/v2/me"),
    url_hint: "https://www.linkedin.com/oauth/v2/...",
    scope: "r_emailaddress r_liteprofile",
    client_auth: ClientAuth::Post,
    api: "LinkedIn API",
    api_headers: &[("x-li-format", "json")],
};

/// The projection of the email query, written as LinkedIn documents it.
const EMAIL_QUERY: &str = "q=members&projection=(elements*(handle~))";

#[derive(Deserialize)]
struct Elements {
    #[serde(default)]
    elements: Vec<Element>,
}

#[derive(Deserialize)]
struct Element {
    #[serde(rename = "handle~", default)]
    handle: Option<Handle>,
}

#[derive(Deserialize)]
struct Handle {
    #[serde(rename = "emailAddress", default)]
    email_address: Option<String>,
}

/// The first element's address (pure).
fn email_of(e: Elements) -> Result<String, ProviderError> {
    e.elements
        .into_iter()
        .next()
        .and_then(|el| el.handle)
        .and_then(|h| h.email_address)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ProviderError::MissingEmail {
            claim: "elements[0].handle~.emailAddress of /v2/emailAddress".into(),
        })
}

/// What the LinkedIn kind adds: the email address API.
#[derive(Debug, Default)]
pub struct LinkedIn;

/// The LinkedIn provider.
pub type LinkedInProvider = OAuth2<LinkedIn>;

impl LinkedInProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let scope = OAuth2Core::scope_from(cfg, &DEFAULTS);
        Ok(OAuth2::from_parts(
            OAuth2Core::new(cfg, &DEFAULTS, scope)?,
            LinkedIn,
        ))
    }
}

impl OAuth2Kind for LinkedIn {
    async fn identity<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> Result<Claims, ProviderError> {
        let mut url = core.profile_or_validate_url()?.clone();
        url.set_query(Some(EMAIL_QUERY));
        let e: Elements = core.get_json(&url, access_token).await?;
        Ok(Claims {
            email: email_of(e)?,
            ..Claims::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_email_is_the_first_elements_handle() {
        let e = |v| serde_json::from_value::<Elements>(v).unwrap();
        assert_eq!(
            email_of(e(serde_json::json!({"elements": [{"handle": "urn:li:emailAddress:3775708763", "handle~": {"emailAddress": "hsimpson@linkedin.com"}}]}))).unwrap(),
            "hsimpson@linkedin.com"
        );
        assert!(email_of(e(serde_json::json!({"elements": []}))).is_err());
        assert!(email_of(e(
            serde_json::json!({"elements": [{"handle": "urn:li:emailAddress:1"}]})
        ))
        .is_err());
    }
}
