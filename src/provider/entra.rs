//! Microsoft Entra ID (`provider = "entra-id"`, and `azure` for the legacy options):
//! OpenID Connect on the v2 endpoints of `https://login.microsoftonline.com/{azure_tenant}/v2.0`.
//!
//! * A single tenant: the issuer names the tenant, so the standard `iss` check pins it.
//! * A multi-tenant issuer (`common`, `organizations`, `consumers`): every tenant signs
//!   with its own issuer, so `iss` must equal the issuer with the tenant segment replaced
//!   by the token's `tid`, and `tid` must be in `entra_id_allowed_tenants` (`*` or empty:
//!   any tenant, as oauth2-proxy).
//! * Groups come from the id_token's `groups` claim; when the user is in too many groups
//!   Entra leaves them out ("groups overage": `_claim_names.groups`, or `hasgroups`), and
//!   they are read from Microsoft Graph `me/transitiveMemberOf`, following
//!   `@odata.nextLink` (same origin only). The Graph base is `profile_url`
//!   (default `https://graph.microsoft.com/v1.0/me`, as oauth2-proxy's azure provider).
//! * `entra_id_federated_token_auth` (entra-id): the client authenticates with the workload
//!   identity token of `AZURE_FEDERATED_TOKEN_FILE` as `client_assertion` (RFC 7523 2.2), read
//!   at every code exchange and refresh, instead of a client secret.
//! * `resource` (azure): sent on the authorization and code requests of a v1 endpoint (an
//!   authorization URL without `v2.0`), as oauth2-proxy's azure provider; with v2.0 it has no
//!   effect (a warning says so).
//! * The email is the `email` claim, else `upn`, else `preferred_username`. Entra's
//!   `email` is not necessarily verified: when the token says so (`xms_edov: false`) the
//!   login is refused.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::ProviderConfig;

use super::api::{self, MAX_PAGES};
use super::claims;
use super::error::{Endpoint, ProviderError, TokenCheck};
use super::oidc::{Enrich, Oidc, OidcCore, OidcKind};

const GRAPH: Endpoint = Endpoint::Api("Microsoft Graph");
const MULTI_TENANT: [&str; 3] = ["common", "organizations", "consumers"];

/// What the Entra ID kind adds: tenant checks, the unverified-email hint, Graph groups.
pub struct Entra {
    /// With a multi-tenant issuer: the issuer's scheme+host and the path after the tenant.
    multi_tenant: Option<(url::Url, usize)>,
    allowed_tenants: Vec<String>,
    graph_me: url::Url,
    group_field: String,
}

impl std::fmt::Debug for Entra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entra")
            .field("multi_tenant", &self.multi_tenant)
            .field("allowed_tenants", &self.allowed_tenants)
            .finish_non_exhaustive()
    }
}

/// The Entra ID provider (`entra-id`, and `azure` for the legacy options).
pub type EntraProvider = Oidc<Entra>;

fn cfg_err(key: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::Config {
        key,
        message: message.into(),
    }
}

/// The issuer a token of tenant `tid` must carry, for a multi-tenant configured issuer
/// whose path segment `segment` is the tenant placeholder (pure).
pub(crate) fn tenant_issuer(configured: &url::Url, segment: usize, tid: &str) -> Option<String> {
    let segments: Vec<&str> = configured.path_segments()?.collect();
    if segment >= segments.len() || tid.is_empty() || tid.contains('/') {
        return None;
    }
    let mut out = configured.clone();
    let replaced: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| if i == segment { tid } else { s })
        .collect();
    out.set_path(&replaced.join("/"));
    Some(out.as_str().trim_end_matches('/').to_owned())
}

/// Whether the id_token says its groups were left out (groups overage).
pub(crate) fn groups_overage(id: &Map<String, Value>) -> bool {
    let named = id
        .get("_claim_names")
        .and_then(Value::as_object)
        .is_some_and(|m| m.contains_key("groups"));
    let has = id.get("hasgroups").is_some_and(claims::to_bool);
    named || has
}

#[derive(Deserialize)]
struct GraphPage {
    #[serde(default)]
    value: Vec<Map<String, Value>>,
    #[serde(default, rename = "@odata.nextLink")]
    next_link: Option<String>,
}

impl EntraProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let mut inner = cfg.clone();
        let tenant = if cfg.azure.tenant.trim().is_empty() {
            "common".to_owned()
        } else {
            cfg.azure.tenant.trim().to_owned()
        };
        if inner.oidc_issuer_url.is_none() {
            inner.oidc_issuer_url = Some(
                url::Url::parse(&format!("https://login.microsoftonline.com/{tenant}/v2.0"))
                    .map_err(|e| cfg_err("azure_tenant", format!("{tenant:?}: {e}")))?,
            );
        }
        let issuer = inner
            .oidc_issuer_url
            .clone()
            .ok_or_else(|| cfg_err("oidc_issuer_url", "is required"))?;
        // The tenant is the first path segment of an Entra issuer.
        let multi_tenant = issuer
            .path_segments()
            .and_then(|mut s| s.next())
            .filter(|t| MULTI_TENANT.contains(&t.to_ascii_lowercase().as_str()))
            .map(|_| (issuer.clone(), 0usize));
        if multi_tenant.is_some() {
            // The discovery document of `common` names `{tenantid}` as issuer; the check
            // is done per token below instead.
            inner.insecure_oidc_skip_issuer_verification = true;
        }
        // profile_url is the Graph `me` URL here, not an OIDC userinfo override.
        inner.profile_url = None;
        let graph_me = match &cfg.profile_url {
            Some(u) => u.clone(),
            None => url::Url::parse("https://graph.microsoft.com/v1.0/me")
                .map_err(|e| cfg_err("profile_url", e.to_string()))?,
        };
        if inner.display_name.is_empty() || inner.display_name == "OpenID Connect" {
            inner.display_name = "Microsoft".into();
        }
        let group_field = match cfg.azure.graph_group_field.trim() {
            "" | "id" => "id".to_owned(),
            "displayName" => "displayName".to_owned(),
            other => {
                return Err(cfg_err(
                    "azure_graph_group_field",
                    format!("{other:?} is not id or displayName"),
                ))
            }
        };
        let mut core = OidcCore::new(&inner)?
            .with_email_fallback(vec!["upn", "preferred_username"])
            // oauth2-proxy's azure provider sends `resource` to v1 endpoints (entra-id never).
            .with_resource_parameter(cfg.resource.clone().filter(|_| cfg.kind == "azure"));
        if let Some(file) = &cfg.azure.federated_token_file {
            core = core.with_federated_token(file.clone());
        }
        let kind = Entra {
            multi_tenant,
            allowed_tenants: cfg
                .azure
                .allowed_tenants
                .iter()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
            graph_me,
            group_field,
        };
        Ok(Oidc::from_parts(core, kind))
    }
}

impl Entra {
    /// The tenant checks and the email verification hint (pure but for `self`).
    fn check_tenant(&self, id: &Map<String, Value>) -> Result<(), ProviderError> {
        if id
            .get("xms_edov")
            .is_some_and(|v| !v.is_null() && !claims::to_bool(v))
        {
            let email = id.get("email").map(claims::to_string).unwrap_or_default();
            return Err(ProviderError::UnverifiedEmail { email });
        }
        let Some((issuer, segment)) = &self.multi_tenant else {
            return Ok(());
        };
        let tid = id.get("tid").and_then(Value::as_str).unwrap_or("");
        if tid.is_empty() {
            return Err(ProviderError::InvalidIdToken(TokenCheck::MissingClaim(
                "tid",
            )));
        }
        let expected = tenant_issuer(issuer, *segment, tid).ok_or(
            ProviderError::InvalidIdToken(TokenCheck::ClaimType {
                claim: "tid",
                expected: "a tenant id",
            }),
        )?;
        let found = id.get("iss").and_then(Value::as_str).unwrap_or("");
        if found.trim_end_matches('/') != expected {
            return Err(ProviderError::InvalidIdToken(TokenCheck::Issuer {
                expected,
                found: found.to_owned(),
            }));
        }
        let any = self.allowed_tenants.is_empty() || self.allowed_tenants.iter().any(|t| t == "*");
        if !any
            && !self
                .allowed_tenants
                .iter()
                .any(|t| t.eq_ignore_ascii_case(tid))
        {
            return Err(ProviderError::Denied {
                rule: "entra_id_allowed_tenants",
                detail: format!("tenant {tid} is not allowed"),
            });
        }
        Ok(())
    }

    /// The user's groups from Graph `me/transitiveMemberOf`, every page.
    async fn graph_groups(
        &self,
        core: &OidcCore,
        access_token: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let auth = api::authorization(GRAPH, "Bearer", access_token)?;
        let mut url = api::join(&self.graph_me, "transitiveMemberOf");
        url.query_pairs_mut()
            .append_pair("$select", "id,displayName");
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let f = api::get(
                core.credentialed_client(),
                GRAPH,
                &url,
                &auth,
                "application/json",
                &[],
            )
            .await?;
            let page: GraphPage = api::json(GRAPH, &f)?;
            for item in &page.value {
                // transitiveMemberOf also lists directory roles and administrative units.
                let is_group = item
                    .get("@odata.type")
                    .and_then(Value::as_str)
                    .is_none_or(|t| t == "#microsoft.graph.group");
                if let (true, Some(v)) = (
                    is_group,
                    item.get(&self.group_field).and_then(Value::as_str),
                ) {
                    out.push(v.to_owned());
                }
            }
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => url = api::checked_next(GRAPH, &self.graph_me, &next)?,
                None => return Ok(out),
            }
        }
        Err(ProviderError::InvalidResponse {
            endpoint: GRAPH,
            detail: format!("more than {MAX_PAGES} pages of groups"),
        })
    }
}

impl OidcKind for Entra {
    async fn enrich<'a>(&'a self, core: &'a OidcCore, e: Enrich<'a>) -> Result<(), ProviderError> {
        self.check_tenant(e.id_token)?;
        if groups_overage(e.id_token) {
            e.claims.groups = self.graph_groups(core, e.access_token).await?;
        }
        Ok(())
    }

    /// With a multi-tenant issuer (`https://login.microsoftonline.com/{tenantid}/v2.0`),
    /// every tenant's own issuer names this provider.
    fn issuer_matches(&self, issuer: &str, iss: &str) -> bool {
        issuer == iss || (self.multi_tenant.is_some() && tenant_template_matches(issuer, iss))
    }
}

/// `iss` is `template` with its `{tenantid}` placeholder replaced by one non-empty path
/// segment (pure).
pub(crate) fn tenant_template_matches(template: &str, iss: &str) -> bool {
    let Some((prefix, suffix)) = template.split_once("{tenantid}") else {
        return false;
    };
    iss.len() > prefix.len() + suffix.len()
        && iss.starts_with(prefix)
        && iss.ends_with(suffix)
        && !iss[prefix.len()..iss.len() - suffix.len()].contains(['/', '{', '}'])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_multi_tenant_template_matches_exactly_one_tenant_segment() {
        let t = "https://login.microsoftonline.com/{tenantid}/v2.0";
        for (iss, want) in [
            ("https://login.microsoftonline.com/72f988bf-86f1/v2.0", true),
            ("https://login.microsoftonline.com//v2.0", false),
            ("https://login.microsoftonline.com/a/b/v2.0", false),
            ("https://login.microsoftonline.com/{tenantid}/v2.0", false),
            ("https://evil.example/72f988bf/v2.0", false),
            ("https://login.microsoftonline.com/72f988bf/v2.0/", false),
            ("https://login.microsoftonline.com/72f988bf", false),
        ] {
            assert_eq!(tenant_template_matches(t, iss), want, "{iss}");
        }
        assert!(!tenant_template_matches(
            "https://login.microsoftonline.com/common/v2.0",
            "https://login.microsoftonline.com/x/v2.0"
        ));
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn the_tenant_issuer_replaces_the_placeholder_segment() {
        let common = url::Url::parse("https://login.microsoftonline.com/common/v2.0").unwrap();
        assert_eq!(
            tenant_issuer(&common, 0, "72f988bf-86f1-41af-91ab-2d7cd011db47").as_deref(),
            Some("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0")
        );
        assert_eq!(tenant_issuer(&common, 0, "a/b"), None);
        assert_eq!(tenant_issuer(&common, 0, ""), None);
    }

    #[test]
    fn groups_overage_is_detected_from_claim_names_or_hasgroups() {
        let over = json!({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/x/users/y/getMemberObjects"}}});
        assert!(groups_overage(over.as_object().unwrap()));
        assert!(groups_overage(
            json!({"hasgroups": true}).as_object().unwrap()
        ));
        assert!(!groups_overage(
            json!({"groups": ["a"]}).as_object().unwrap()
        ));
    }
}
