//! DigitalOcean (`provider = "digitalocean"`): OAuth 2.0 at `cloud.digitalocean.com/v1/oauth`
//! and the account API `https://api.digitalocean.com/v2/account` (`profile_url`, also the
//! `validate_url`), scope `read`.
//!
//! The email is `account.email`. oauth2-proxy takes it as it is; authproxy also refuses an
//! account whose `email_verified` is false (the address was never confirmed, so it proves
//! nothing). The user name is left empty as in oauth2-proxy (`X-Forwarded-User` is not sent;
//! `prefer_email_to_user` sends the email there).

use serde::Deserialize;

use crate::config::ProviderConfig;

use super::error::ProviderError;
use super::oauth2::{ClientAuth, Defaults, OAuth2, OAuth2Core, OAuth2Kind};
use super::Claims;

const DEFAULTS: Defaults = Defaults {
    kind: "digitalocean",
    display_name: "DigitalOcean",
    login_url: Some("https://cloud.digitalocean.com/v1/oauth/authorize"),
    redeem_url: Some("https://cloud.digitalocean.com/v1/oauth/token"),
    profile_url: Some("https://api.digitalocean.com/v2/account"),
    validate_url: Some("https://api.digitalocean.com/v2/account"),
    url_hint: "https://cloud.digitalocean.com/v1/oauth/...",
    scope: "read",
    client_auth: ClientAuth::Post,
    api: "DigitalOcean API",
    api_headers: &[],
};

#[derive(Deserialize)]
struct AccountResponse {
    account: Account,
}

#[derive(Deserialize)]
struct Account {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
    #[serde(default)]
    uuid: Option<String>,
}

/// The identity of an account answer (pure).
fn claims_of(a: Account) -> Result<Claims, ProviderError> {
    let email = a
        .email
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ProviderError::MissingEmail {
            claim: "account.email of /v2/account".into(),
        })?;
    if a.email_verified == Some(false) {
        return Err(ProviderError::UnverifiedEmail { email });
    }
    Ok(Claims {
        subject: a.uuid.unwrap_or_default(),
        user: String::new(),
        email,
        groups: Vec::new(),
        preferred_username: None,
        extra: Default::default(),
    })
}

/// What the DigitalOcean kind adds: the account API.
#[derive(Debug, Default)]
pub struct DigitalOcean;

/// The DigitalOcean provider.
pub type DigitalOceanProvider = OAuth2<DigitalOcean>;

impl DigitalOceanProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let scope = OAuth2Core::scope_from(cfg, &DEFAULTS);
        Ok(OAuth2::from_parts(
            OAuth2Core::new(cfg, &DEFAULTS, scope)?,
            DigitalOcean,
        ))
    }
}

impl OAuth2Kind for DigitalOcean {
    async fn identity<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> Result<Claims, ProviderError> {
        let url = core.profile_or_validate_url()?;
        let r: AccountResponse = core.get_json(url, access_token).await?;
        claims_of(r.account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(v: serde_json::Value) -> Account {
        serde_json::from_value::<AccountResponse>(v)
            .unwrap()
            .account
    }

    #[test]
    fn the_account_email_must_be_present_and_not_unverified() {
        let ok = claims_of(account(serde_json::json!({"account": {"email": "sammy@example.com", "email_verified": true, "uuid": "b6fr89", "status": "active"}}))).unwrap();
        assert_eq!(ok.email, "sammy@example.com");
        assert_eq!(ok.subject, "b6fr89");
        assert_eq!(ok.user, "");
        assert!(matches!(
            claims_of(account(
                serde_json::json!({"account": {"email": "x@example.com", "email_verified": false}})
            )),
            Err(ProviderError::UnverifiedEmail { .. })
        ));
        assert!(matches!(
            claims_of(account(serde_json::json!({"account": {"email": ""}}))),
            Err(ProviderError::MissingEmail { .. })
        ));
    }
}
