//! Nextcloud (`provider = "nextcloud"`): OAuth 2.0 of the Nextcloud instance (no defaults:
//! `login_url` `https://HOST/index.php/apps/oauth2/authorize`, `redeem_url`
//! `https://HOST/index.php/apps/oauth2/api/v1/token`, `validate_url`
//! `https://HOST/ocs/v2.php/cloud/user?format=json`), as oauth2-proxy.
//!
//! Who the user is comes from the OCS API `cloud/user` (`profile_url`, else `validate_url`):
//! `ocs.data.id` is the user, `ocs.data.email` the email (required), `ocs.data.groups` the
//! groups. Every OCS call carries `OCS-APIRequest: true`, as Nextcloud's API documentation
//! requires. OCS errors (`ocs.meta.message`) are shown with Nextcloud's message.

use serde::Deserialize;

use crate::config::ProviderConfig;

use super::error::{cap_idp_text, ProviderError};
use super::http::Fetched;
use super::oauth2::{ClientAuth, Defaults, OAuth2, OAuth2Core, OAuth2Kind};
use super::Claims;

const DEFAULTS: Defaults = Defaults {
    kind: "nextcloud",
    display_name: "Nextcloud",
    login_url: None,
    redeem_url: None,
    profile_url: None,
    validate_url: None,
    url_hint: "https://HOST/index.php/apps/oauth2/authorize, https://HOST/index.php/apps/oauth2/api/v1/token and validate_url https://HOST/ocs/v2.php/cloud/user?format=json",
    scope: "",
    client_auth: ClientAuth::Post,
    api: "Nextcloud OCS API",
    api_headers: &[("ocs-apirequest", "true")],
};

#[derive(Deserialize)]
struct Ocs {
    ocs: OcsBody,
}

#[derive(Deserialize)]
struct OcsBody {
    #[serde(default)]
    meta: Option<OcsMeta>,
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct OcsMeta {
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
}

/// The identity in a `cloud/user` answer (pure).
fn claims_of(data: serde_json::Value) -> Result<Claims, ProviderError> {
    let u: User = serde_json::from_value(data).map_err(|e| ProviderError::InvalidResponse {
        endpoint: super::error::Endpoint::Api(DEFAULTS.api),
        detail: format!("ocs.data is not a user: {e}"),
    })?;
    let id =
        u.id.filter(|i| !i.is_empty())
            .ok_or_else(|| ProviderError::InvalidResponse {
                endpoint: super::error::Endpoint::Api(DEFAULTS.api),
                detail: "ocs.data.id is missing".into(),
            })?;
    let email = u
        .email
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ProviderError::MissingEmail {
            claim: "ocs.data.email of cloud/user".into(),
        })?;
    Ok(Claims {
        subject: id.clone(),
        user: id,
        email,
        groups: u.groups.into_iter().filter(|g| !g.is_empty()).collect(),
        preferred_username: None,
        extra: Default::default(),
    })
}

/// An OCS error answer: Nextcloud's own message when it has one.
fn ocs_error(core: &OAuth2Core, f: &Fetched) -> ProviderError {
    let message = serde_json::from_slice::<Ocs>(&f.body)
        .ok()
        .and_then(|o| o.ocs.meta)
        .and_then(|m| m.message)
        .filter(|m| !m.is_empty());
    match message {
        Some(m) if f.status.is_client_error() => ProviderError::Idp {
            endpoint: core.api(),
            error: format!("HTTP {}", f.status.as_u16()),
            description: Some(cap_idp_text(&m)),
        },
        _ => super::api::api_error(core.api(), f),
    }
}

/// What the Nextcloud kind adds: the OCS user API.
#[derive(Debug, Default)]
pub struct Nextcloud;

/// The Nextcloud provider.
pub type NextcloudProvider = OAuth2<Nextcloud>;

impl NextcloudProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let scope = OAuth2Core::scope_from(cfg, &DEFAULTS);
        let mut core = OAuth2Core::new(cfg, &DEFAULTS, scope)?;
        if core.profile_or_validate_url().is_err() {
            // oauth2-proxy v7 starts and fails every sign-in: never ready here.
            core.mark_unusable(
                "validate_url",
                "is required for provider \"nextcloud\" (https://HOST/ocs/v2.php/cloud/user?format=json)".into(),
            );
        }
        Ok(OAuth2::from_parts(core, Nextcloud))
    }
}

impl OAuth2Kind for Nextcloud {
    async fn identity<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> Result<Claims, ProviderError> {
        let url = core.profile_or_validate_url()?;
        let f = core.get(url, access_token).await?;
        if !f.status.is_success() {
            return Err(ocs_error(core, &f));
        }
        let ocs: Ocs = super::api::json(core.api(), &f)?;
        claims_of(ocs.ocs.data)
    }

    async fn validate<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> Result<(), ProviderError> {
        let Some(url) = core.validate_url() else {
            return Ok(());
        };
        let f = core.get(url, access_token).await?;
        if f.status.is_success() {
            Ok(())
        } else {
            Err(ocs_error(core, &f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ocs_user_gives_id_email_and_groups() {
        let c = claims_of(serde_json::json!({"enabled": true, "id": "alice", "email": "alice@example.com", "display-name": "Alice", "groups": ["admin", "staff"]})).unwrap();
        assert_eq!(c.user, "alice");
        assert_eq!(c.email, "alice@example.com");
        assert_eq!(c.groups, vec!["admin", "staff"]);
        assert!(matches!(
            claims_of(serde_json::json!({"id": "bob", "email": null, "groups": []})),
            Err(ProviderError::MissingEmail { .. })
        ));
        assert!(claims_of(serde_json::json!({"email": "x@example.com"})).is_err());
    }
}
