//! Facebook (`provider = "facebook"`): OAuth 2.0 at `www.facebook.com/v2.5/dialog/oauth` and
//! `graph.facebook.com/v2.5/oauth/access_token`, scope `public_profile email`, and the Graph
//! API `GET /v2.5/me?fields=name,email` (`profile_url`; `/me` is also the `validate_url`), as
//! oauth2-proxy. Every URL can be pointed at a newer Graph API version.
//!
//! A user who declined the `email` permission (or has no address) is refused. The user name is
//! left empty as in oauth2-proxy. Graph API errors (`{"error": {"message", "type", "code"}}`)
//! are shown with Facebook's message.

use serde::Deserialize;

use crate::config::ProviderConfig;

use super::error::ProviderError;
use super::oauth2::{ClientAuth, Defaults, OAuth2, OAuth2Core, OAuth2Kind};
use super::Claims;

const DEFAULTS: Defaults = Defaults {
    kind: "facebook",
    display_name: "Facebook",
    login_url: Some("https://www.facebook.com/v2.5/dialog/oauth"),
    redeem_url: Some("https://graph.facebook.com/v2.5/oauth/access_token"),
    profile_url: Some("https://graph.facebook.com/v2.5/me"),
    validate_url: Some("https://graph.facebook.com/v2.5/me"),
    url_hint: "https://graph.facebook.com/...",
    scope: "public_profile email",
    client_auth: ClientAuth::Post,
    api: "Facebook Graph API",
    api_headers: &[],
};

#[derive(Deserialize)]
struct Me {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

fn claims_of(me: Me) -> Result<Claims, ProviderError> {
    let email = me
        .email
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ProviderError::MissingEmail {
            claim: "email of the Graph API /me (the email permission)".into(),
        })?;
    Ok(Claims {
        subject: me.id.unwrap_or_default(),
        user: String::new(),
        email,
        groups: Vec::new(),
        preferred_username: None,
        extra: Default::default(),
    })
}

/// What the Facebook kind adds: the Graph API profile.
#[derive(Debug, Default)]
pub struct Facebook;

/// The Facebook provider.
pub type FacebookProvider = OAuth2<Facebook>;

impl FacebookProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let scope = OAuth2Core::scope_from(cfg, &DEFAULTS);
        Ok(OAuth2::from_parts(
            OAuth2Core::new(cfg, &DEFAULTS, scope)?,
            Facebook,
        ))
    }
}

impl OAuth2Kind for Facebook {
    async fn identity<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> Result<Claims, ProviderError> {
        let mut url = core.profile_or_validate_url()?.clone();
        url.query_pairs_mut().append_pair("fields", "name,email");
        let me: Me = core.get_json(&url, access_token).await?;
        claims_of(me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_without_email_is_refused() {
        let me = |v| serde_json::from_value::<Me>(v).unwrap();
        let c = claims_of(me(
            serde_json::json!({"id": "10158", "name": "Ann", "email": "ann@example.com"}),
        ))
        .unwrap();
        assert_eq!(
            (c.subject.as_str(), c.email.as_str()),
            ("10158", "ann@example.com")
        );
        assert!(matches!(
            claims_of(me(serde_json::json!({"id": "10158", "name": "Ann"}))),
            Err(ProviderError::MissingEmail { .. })
        ));
    }
}
