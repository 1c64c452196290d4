//! Keycloak (`provider = "keycloak-oidc"`): OpenID Connect against a realm
//! (`oidc_issuer_url = https://HOST/realms/REALM`), with realm and client roles.
//!
//! Roles are read from `realm_access.roles` and `resource_access.{client}.roles` of the
//! id_token, else of the userinfo answer (Keycloak's default role mappers add them to the
//! access token and userinfo, not to the id_token). As oauth2-proxy, the session's groups
//! get `role:NAME` for realm roles and `role:CLIENT:NAME` for client roles next to the
//! `groups` claim; `allowed_roles` (`NAME` or `CLIENT:NAME`) and `keycloak_groups` are one
//! allow-list: any match lets the user in.

use serde_json::{Map, Value};

use crate::config::ProviderConfig;

use super::claims;
use super::error::ProviderError;
use super::oidc::{Enrich, Oidc, OidcCore, OidcKind};

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

/// What the Keycloak kind adds: roles, and the `allowed_roles` / `keycloak_groups` allow-list.
#[derive(Debug)]
pub struct Keycloak {
    allowed_roles: Vec<String>,
    allowed_groups: Vec<String>,
}

/// The Keycloak provider.
pub type KeycloakProvider = Oidc<Keycloak>;

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
        Ok(Oidc::from_parts(
            OidcCore::new(&inner)?,
            Keycloak {
                allowed_roles: clean(&cfg.allowed_roles),
                allowed_groups: clean(&cfg.keycloak.groups),
            },
        ))
    }
}

impl OidcKind for Keycloak {
    async fn enrich<'a>(&'a self, core: &'a OidcCore, e: Enrich<'a>) -> Result<(), ProviderError> {
        let claims = e.claims;
        let found = if has_roles(e.id_token) {
            roles(e.id_token)
        } else {
            match core
                .userinfo_claims(e.access_token, &claims.subject)
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
