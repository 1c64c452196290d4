//! cidaas (`provider = "cidaas"`): OpenID Connect against the cidaas tenant
//! (`oidc_issuer_url = https://TENANT.cidaas.de`), scope `openid email profile roles groups`,
//! as oauth2-proxy.
//!
//! Groups come from the userinfo endpoint after every login and every refresh with a new ID
//! token: each entry of the groups claim (`oidc_groups_claim`, default `groups`) is an object
//! `{"groupId": "...", "roles": [...]}` and becomes `GROUPID:ROLE` per role; each entry of the
//! `roles` claim becomes `cidaas:ROLE`. These replace the ID token's groups. As in
//! oauth2-proxy, a failing userinfo call (or unreadable groups) is logged and the login goes
//! on with the ID token's claims (the email is still required).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::ProviderConfig;

use super::claims;
use super::error::ProviderError;
use super::oidc::{Enrich, Oidc, OidcCore, OidcKind};

/// The prefix of cidaas' own roles in the session's groups.
const ROLE_GROUP: &str = "cidaas";

#[derive(Deserialize)]
struct GroupEntry {
    #[serde(rename = "groupId")]
    group_id: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// `GROUPID:ROLE` for every group role, then `cidaas:ROLE` for every role (pure).
pub(crate) fn groups_of(
    userinfo: &Map<String, Value>,
    groups_claim: &str,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    if let Some(v) = claims::lookup(userinfo, groups_claim) {
        let entries: Vec<GroupEntry> = serde_json::from_value(v.clone()).map_err(|e| {
            format!("claim {groups_claim:?} is not a list of {{groupId, roles}}: {e}")
        })?;
        for g in entries {
            out.extend(g.roles.iter().map(|r| format!("{}:{r}", g.group_id)));
        }
    }
    if let Some(v) = userinfo.get("roles").filter(|v| !v.is_null()) {
        let roles: Vec<String> = serde_json::from_value(v.clone())
            .map_err(|e| format!("claim \"roles\" is not a list of strings: {e}"))?;
        out.extend(roles.iter().map(|r| format!("{ROLE_GROUP}:{r}")));
    }
    Ok(out)
}

/// What the cidaas kind adds: groups and roles from userinfo.
#[derive(Debug)]
pub struct Cidaas {
    groups_claim: String,
}

/// The cidaas provider.
pub type CidaasProvider = Oidc<Cidaas>;

impl CidaasProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        if cfg.oidc_issuer_url.is_none() {
            return Err(ProviderError::Config {
                key: "oidc_issuer_url",
                message: "is required for provider \"cidaas\" (https://TENANT.cidaas.de)".into(),
            });
        }
        let mut inner = cfg.clone();
        if inner.display_name.is_empty() || inner.display_name == "OpenID Connect" {
            inner.display_name = "CIDAAS".into();
        }
        if inner.scope.is_empty() {
            inner.scope = "openid email profile roles groups".into();
        }
        let groups_claim = if cfg.oidc_groups_claim.is_empty() {
            "groups".to_owned()
        } else {
            cfg.oidc_groups_claim.clone()
        };
        Ok(Oidc::from_parts(
            OidcCore::new(&inner)?,
            Cidaas { groups_claim },
        ))
    }
}

impl OidcKind for Cidaas {
    async fn enrich<'a>(&'a self, core: &'a OidcCore, e: Enrich<'a>) -> Result<(), ProviderError> {
        let userinfo = match core
            .userinfo_claims(e.access_token, &e.claims.subject)
            .await
        {
            Ok(Some(u)) => u,
            Ok(None) => return Ok(()),
            Err(err) => {
                tracing::warn!(provider = core.id(), error = %err,
                    "cidaas userinfo request failed; the ID token's claims are used");
                return Ok(());
            }
        };
        match groups_of(&userinfo, &self.groups_claim) {
            Ok(groups) => e.claims.groups = groups,
            Err(detail) => tracing::warn!(provider = core.id(), %detail,
                "cidaas userinfo groups are unreadable; the ID token's groups are kept"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn group_roles_and_cidaas_roles_become_groups() {
        let u = json!({
            "sub": "u1",
            "groups": [
                {"groupId": "customers", "roles": ["member", "admin"]},
                {"groupId": "partners", "roles": []}
            ],
            "roles": ["USER", "ADMIN"]
        });
        assert_eq!(
            groups_of(u.as_object().unwrap(), "groups").unwrap(),
            vec![
                "customers:member",
                "customers:admin",
                "cidaas:USER",
                "cidaas:ADMIN"
            ]
        );
        assert!(groups_of(json!({}).as_object().unwrap(), "groups")
            .unwrap()
            .is_empty());
        assert!(groups_of(json!({"groups": ["plain"]}).as_object().unwrap(), "groups").is_err());
    }
}
