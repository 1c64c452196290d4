//! Keycloak (`provider = "keycloak-oidc"`): OpenID Connect against a realm
//! (`oidc_issuer_url = https://HOST/realms/REALM`), with realm and client roles.
//!
//! Roles are read from `realm_access.roles` and `resource_access.{client}.roles` of the
//! id_token, else of the userinfo answer (Keycloak's default role mappers add them to the
//! access token and userinfo, not to the id_token). As oauth2-proxy, the session's groups
//! get `role:NAME` for realm roles and `role:CLIENT:NAME` for client roles next to the
//! `groups` claim; `allowed_roles` (`NAME` or `CLIENT:NAME`) and `keycloak_groups` are one
//! allow-list: any match lets the user in.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::config::ProviderConfig;

use super::claims;
use super::error::ProviderError;
use super::oidc::OidcProvider;
use super::{AuthorizeParams, Claims, Identity, Provider, ProviderFuture, Refreshed};

/// Realm roles as `NAME`, client roles as `CLIENT:NAME` (pure).
pub(crate) fn roles(claims: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = claims::lookup(claims, "realm_access.roles") {
        out.extend(claims::to_string_list(r));
    }
    if let Some(clients) = claims.get("resource_access").and_then(Value::as_object) {
        for (client, v) in clients {
            if let Some(r) = v.get("roles") {
                out.extend(
                    claims::to_string_list(r)
                        .into_iter()
                        .map(|role| format!("{client}:{role}")),
                );
            }
        }
    }
    out
}

fn has_roles(claims: &Map<String, Value>) -> bool {
    claims.contains_key("realm_access") || claims.contains_key("resource_access")
}

/// The Keycloak provider.
pub struct KeycloakProvider {
    oidc: OidcProvider,
    allowed_roles: Vec<String>,
    allowed_groups: Vec<String>,
}

impl std::fmt::Debug for KeycloakProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeycloakProvider")
            .field("oidc", &self.oidc)
            .finish_non_exhaustive()
    }
}

impl KeycloakProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        if cfg.oidc_issuer_url.is_none() {
            return Err(ProviderError::Config {
                key: "oidc_issuer_url",
                message: "is required for provider \"keycloak-oidc\" (https://HOST/realms/REALM)"
                    .into(),
            });
        }
        let mut inner = cfg.clone();
        if inner.display_name.is_empty() || inner.display_name == "OpenID Connect" {
            inner.display_name = "Keycloak".into();
        }
        let clean = |v: &[String]| {
            v.iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        };
        Ok(Self {
            oidc: OidcProvider::new(&inner)?,
            allowed_roles: clean(&cfg.allowed_roles),
            allowed_groups: clean(&cfg.keycloak.groups),
        })
    }

    async fn enrich(
        &self,
        claims: &mut Claims,
        id: &Map<String, Value>,
        access_token: &str,
    ) -> Result<(), ProviderError> {
        let found = if has_roles(id) {
            roles(id)
        } else {
            match self
                .oidc
                .userinfo_claims(access_token, &claims.subject)
                .await?
            {
                Some(u) => roles(&u),
                None => Vec::new(),
            }
        };
        let restricted = !self.allowed_roles.is_empty() || !self.allowed_groups.is_empty();
        if restricted {
            let by_role = found.iter().any(|r| self.allowed_roles.contains(r));
            let by_group = claims
                .groups
                .iter()
                .any(|g| self.allowed_groups.contains(g));
            if !by_role && !by_group {
                return Err(ProviderError::Denied {
                    rule: if self.allowed_roles.is_empty() {
                        "keycloak_groups"
                    } else {
                        "allowed_roles"
                    },
                    detail: format!("{} has none of the required roles or groups", claims.email),
                });
            }
        }
        claims
            .groups
            .extend(found.into_iter().map(|r| format!("role:{r}")));
        Ok(())
    }

    async fn run_redeem(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        nonce: Option<&str>,
        now: SystemTime,
    ) -> Result<Identity, ProviderError> {
        let (mut identity, id) = self
            .oidc
            .redeem_with_claims(code, redirect_uri, code_verifier, nonce, now)
            .await?;
        let token = identity.tokens.access_token.clone();
        self.enrich(&mut identity.claims, &id, &token).await?;
        Ok(identity)
    }

    async fn run_refresh(
        &self,
        refresh_token: &str,
        now: SystemTime,
    ) -> Result<Refreshed, ProviderError> {
        let (mut refreshed, id) = self.oidc.refresh_with_claims(refresh_token, now).await?;
        let token = refreshed.tokens.access_token.clone();
        if let (Some(c), Some(id)) = (refreshed.claims.as_mut(), id) {
            self.enrich(c, &id, &token).await?;
        }
        Ok(refreshed)
    }
}

impl Provider for KeycloakProvider {
    fn id(&self) -> &str {
        self.oidc.id()
    }
    fn display_name(&self) -> &str {
        self.oidc.display_name()
    }
    fn kind(&self) -> &str {
        "keycloak-oidc"
    }
    fn is_ready(&self) -> bool {
        self.oidc.is_ready()
    }
    fn discover(&self) -> ProviderFuture<'_, ()> {
        self.oidc.discover()
    }
    fn authorize_url(&self, params: &AuthorizeParams<'_>) -> Result<url::Url, ProviderError> {
        self.oidc.authorize_url(params)
    }
    fn redeem<'a>(
        &'a self,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: Option<&'a str>,
        expected_nonce: Option<&'a str>,
        now: SystemTime,
    ) -> ProviderFuture<'a, Identity> {
        Box::pin(self.run_redeem(code, redirect_uri, code_verifier, expected_nonce, now))
    }
    fn refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        now: SystemTime,
    ) -> ProviderFuture<'a, Refreshed> {
        Box::pin(self.run_refresh(refresh_token, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn realm_and_client_roles_are_read() {
        let c = json!({
            "realm_access": {"roles": ["admin", "user"]},
            "resource_access": {"app": {"roles": ["editor"]}, "account": {"roles": ["view-profile"]}},
        });
        let mut r = roles(c.as_object().unwrap());
        r.sort();
        assert_eq!(
            r,
            vec!["account:view-profile", "admin", "app:editor", "user"]
        );
        assert!(roles(json!({}).as_object().unwrap()).is_empty());
    }
}
