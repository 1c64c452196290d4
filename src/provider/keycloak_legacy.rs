//! Keycloak through plain OAuth 2.0 (`provider = "keycloak"`, oauth2-proxy's legacy Keycloak
//! provider; `keycloak-oidc` is the OpenID Connect one). No ID token is verified: who the
//! user is comes from the realm's userinfo endpoint with the access token.
//!
//! `login_url` (`https://HOST/realms/REALM/protocol/openid-connect/auth`), `redeem_url`
//! (`.../token`) and `validate_url` (`.../userinfo`) are required: oauth2-proxy's defaults
//! (`https://keycloak.org/oauth/...`) are placeholders that can never work, so authproxy asks
//! for the real ones at startup. Userinfo (`profile_url`, else `validate_url`) gives `email`
//! (required; refused when `email_verified` is false, unless
//! insecure_oidc_allow_unverified_email), `groups`, `preferred_username` and the user
//! (`user`, else `preferred_username`). `keycloak_groups` lists the groups allowed to sign
//! in (`allowed_roles` belongs to `keycloak-oidc` and is refused here). The default scope is
//! oauth2-proxy's `api`.

use serde_json::{Map, Value};

use crate::config::ProviderConfig;

use super::claims;
use super::error::ProviderError;
use super::oauth2::{ClientAuth, Defaults, OAuth2, OAuth2Core, OAuth2Kind};
use super::Claims;

const DEFAULTS: Defaults = Defaults {
    kind: "keycloak",
    display_name: "Keycloak",
    login_url: None,
    redeem_url: None,
    profile_url: None,
    validate_url: None,
    url_hint: "https://HOST/realms/REALM/protocol/openid-connect/auth, .../token and validate_url .../userinfo",
    scope: "api",
    client_auth: ClientAuth::Post,
    api: "Keycloak userinfo endpoint",
    api_headers: &[],
};

/// The identity in a userinfo answer (pure).
fn claims_of(u: &Map<String, Value>, allow_unverified: bool) -> Result<Claims, ProviderError> {
    let text = |k: &str| {
        claims::lookup(u, k)
            .map(claims::to_string)
            .filter(|s| !s.is_empty())
    };
    let email = text("email").ok_or_else(|| ProviderError::MissingEmail {
        claim: "email of the userinfo endpoint".into(),
    })?;
    if !allow_unverified && claims::lookup(u, "email_verified").is_some_and(|v| !claims::to_bool(v))
    {
        return Err(ProviderError::UnverifiedEmail { email });
    }
    let preferred_username = text("preferred_username");
    Ok(Claims {
        subject: text("sub").unwrap_or_default(),
        user: text("user")
            .or_else(|| preferred_username.clone())
            .unwrap_or_default(),
        email,
        groups: claims::lookup(u, "groups")
            .map(claims::to_string_list)
            .unwrap_or_default()
            .into_iter()
            .filter(|g| !g.is_empty())
            .collect(),
        preferred_username,
        extra: Default::default(),
    })
}

/// What the legacy Keycloak kind adds: userinfo claims and `keycloak_groups`.
#[derive(Debug)]
pub struct KeycloakLegacy {
    allowed_groups: Vec<String>,
    allow_unverified: bool,
}

/// The legacy Keycloak provider.
pub type KeycloakLegacyProvider = OAuth2<KeycloakLegacy>;

impl KeycloakLegacyProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        if !cfg.allowed_roles.is_empty() {
            return Err(ProviderError::Config {
                key: "allowed_roles",
                message: "applies to provider \"keycloak-oidc\"; provider \"keycloak\" has no roles (use keycloak_groups, or switch to keycloak-oidc)".into(),
            });
        }
        let scope = OAuth2Core::scope_from(cfg, &DEFAULTS);
        let mut core = OAuth2Core::new(cfg, &DEFAULTS, scope)?;
        if core.validate_url().is_none() {
            // oauth2-proxy v7 starts (with keycloak.org URLs) and fails every sign-in: never
            // ready here.
            core.mark_unusable(
                "validate_url",
                "is required for provider \"keycloak\" (https://HOST/realms/REALM/protocol/openid-connect/userinfo)".into(),
            );
        }
        Ok(OAuth2::from_parts(
            core,
            KeycloakLegacy {
                allowed_groups: cfg
                    .keycloak
                    .groups
                    .iter()
                    .map(|g| g.trim().to_owned())
                    .filter(|g| !g.is_empty())
                    .collect(),
                allow_unverified: cfg.insecure_oidc_allow_unverified_email,
            },
        ))
    }
}

impl OAuth2Kind for KeycloakLegacy {
    async fn identity<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> Result<Claims, ProviderError> {
        let url = core.profile_or_validate_url()?;
        let u: Map<String, Value> = core.get_json(url, access_token).await?;
        let c = claims_of(&u, self.allow_unverified)?;
        if !self.allowed_groups.is_empty()
            && !c.groups.iter().any(|g| self.allowed_groups.contains(g))
        {
            return Err(ProviderError::Denied {
                rule: "keycloak_groups",
                detail: format!("{} is in none of the allowed groups", c.email),
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn userinfo_gives_email_groups_and_the_user() {
        let c = claims_of(&obj(json!({"sub": "f1", "email": "kim@example.com", "email_verified": true, "preferred_username": "kim", "groups": ["/staff", ""]})), false).unwrap();
        assert_eq!(c.user, "kim");
        assert_eq!(c.preferred_username.as_deref(), Some("kim"));
        assert_eq!(c.groups, vec!["/staff"]);
        let c = claims_of(
            &obj(json!({"email": "a@example.com", "user": "alpha", "preferred_username": "a"})),
            false,
        )
        .unwrap();
        assert_eq!(c.user, "alpha");
        assert!(matches!(
            claims_of(
                &obj(json!({"email": "a@example.com", "email_verified": false})),
                false
            ),
            Err(ProviderError::UnverifiedEmail { .. })
        ));
        assert!(claims_of(
            &obj(json!({"email": "a@example.com", "email_verified": false})),
            true
        )
        .is_ok());
        assert!(matches!(
            claims_of(&obj(json!({"preferred_username": "x"})), false),
            Err(ProviderError::MissingEmail { .. })
        ));
    }
}
