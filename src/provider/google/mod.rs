//! Google (`provider = "google"`): OpenID Connect against `https://accounts.google.com`
//! (every endpoint overridable), the hosted-domain (`hd`) check, and group membership
//! through the Admin SDK Directory API with a service account.
//!
//! Groups: the service account signs a JWT assertion (RS256, RFC 7523) naming the admin it
//! acts for (`google_admin_email`), trades it at the key's `token_uri` for an access token
//! (cached until shortly before it expires), then lists the user's groups
//! (`groups?userKey=EMAIL`, paged with `nextPageToken`). A user in none of `google_group`
//! is refused; the session's groups are the user's group emails.
//!
//! The Directory API is called with a service-account key (`google_service_account_json`) or
//! with Application Default Credentials impersonating a service account ([`adc`]).
//! `google_use_organization_id` makes the user's organization ID (`users.get`, the
//! `externalIds` entry of type `organization`) the preferred username, with the user scope of
//! `google_admin_api_user_scope`.

use std::time::SystemTime;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::ProviderConfig;

use super::api::{self, MAX_PAGES};
use super::claims;
use super::error::{Endpoint, ProviderError};
use super::oidc::{Enrich, Oidc, OidcCore, OidcKind};

mod adc;
mod credentials;

use credentials::{cfg_err, load_key_file, Credentials, DirectoryAuth, TokenCache};

const DIRECTORY: Endpoint = Endpoint::Api("Google Directory API");
const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.group.readonly";

/// The Admin SDK scope for `users.get` (`google_admin_api_user_scope`, oauth2-proxy's mapping).
pub(crate) fn user_scope(option: &str) -> &'static str {
    match option {
        "cloud" => "https://www.googleapis.com/auth/cloud-platform",
        "user" => "https://www.googleapis.com/auth/admin.directory.user",
        _ => "https://www.googleapis.com/auth/admin.directory.user.readonly",
    }
}

/// What the Google kind adds: the hosted-domain check, Directory API groups and the
/// organization ID as preferred username.
pub struct Google {
    hosted_domains: Vec<String>,
    groups: Vec<String>,
    admin_api: url::Url,
    directory: Option<DirectoryAuth>,
    use_organization_id: bool,
}

impl std::fmt::Debug for Google {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Google")
            .field("hosted_domains", &self.hosted_domains)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

/// The Google provider.
pub type GoogleProvider = Oidc<Google>;

/// Whether the `hd` claim satisfies the hosted domains (pure). Consumer accounts have no
/// `hd`; they pass only when the allowed list names their public mail domain.
pub(crate) fn hosted_domain_ok(allowed: &[String], hd: Option<&str>, email: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    match hd {
        Some(hd) => allowed.iter().any(|d| d.eq_ignore_ascii_case(hd)),
        None => {
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            matches!(
                domain.to_ascii_lowercase().as_str(),
                "gmail.com" | "googlemail.com"
            ) && allowed.iter().any(|d| d.eq_ignore_ascii_case(domain))
        }
    }
}

#[derive(Deserialize)]
struct GroupsPage {
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Group {
    email: String,
}

impl GoogleProvider {
    /// Validate the options and build the provider (no network I/O; the key file is read).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let mut inner = cfg.clone();
        if inner.oidc_issuer_url.is_none() {
            inner.oidc_issuer_url = Some(
                url::Url::parse("https://accounts.google.com")
                    .map_err(|e| cfg_err("oidc_issuer_url", e.to_string()))?,
            );
        }
        if inner.display_name.is_empty() {
            inner.display_name = "Google".into();
        }
        let g = &cfg.google;
        let groups: Vec<String> = g
            .groups
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let credentials = match (&g.service_account_json, &g.application_default_credentials) {
            (Some(_), Some(_)) => {
                return Err(cfg_err(
                    "google_use_application_default_credentials",
                    "invalid setting: can't use both google-service-account-json and google-use-application-default-credentials",
                ))
            }
            (Some(path), None) => Some(Credentials::Key {
                key: Box::new(load_key_file(path)?),
                admin_email: g.admin_email.clone(),
            }),
            (None, Some(adc)) => Some(Credentials::Adc(Box::new(adc::Adc::new(
                adc,
                &g.target_principal,
                &g.admin_email,
            )?))),
            (None, None) => None,
        };
        if credentials.is_some() && g.admin_email.is_empty() {
            return Err(cfg_err(
                "google_admin_email",
                "missing setting: google-admin-email (the admin the Directory API calls act as)",
            ));
        }
        if credentials.is_none() && (!groups.is_empty() || g.use_organization_id) {
            return Err(cfg_err(
                "google_service_account_json",
                "missing setting: google-service-account-json or google-use-application-default-credentials (google_group and google_use_organization_id read the Directory API)",
            ));
        }
        // The group scope always (groups are read whenever there are credentials, as in
        // oauth2-proxy); the user scope for the organization ID.
        let mut scope = DIRECTORY_SCOPE.to_owned();
        if g.use_organization_id {
            scope.push(' ');
            scope.push_str(user_scope(&g.admin_api_user_scope));
        }
        let directory = credentials.map(|credentials| DirectoryAuth {
            credentials,
            scope,
            cached: TokenCache::default(),
        });
        // Google issues refresh tokens only for offline access; `hd` pre-selects the
        // Workspace account when there is exactly one domain (it is a hint: the claim is
        // still checked).
        let mut params = vec![("access_type".to_owned(), "offline".to_owned())];
        if let [one] = g.hosted_domains.as_slice() {
            params.push(("hd".to_owned(), one.clone()));
        }
        let core = OidcCore::new(&inner)?.with_authorize_params(params);
        let kind = Google {
            hosted_domains: g.hosted_domains.clone(),
            groups,
            admin_api: match &g.admin_api_url {
                Some(u) => u.clone(),
                None => url::Url::parse("https://admin.googleapis.com")
                    .map_err(|e| cfg_err("authproxy_google_admin_api_url", e.to_string()))?,
            },
            directory,
            use_organization_id: g.use_organization_id,
        };
        Ok(Oidc::from_parts(core, kind))
    }
}

/// The organization ID of a Directory `users` resource: the value of the first
/// `externalIds` entry of type `organization` (pure; oauth2-proxy's rule).
pub(crate) fn organization_id(user: &Value) -> Option<String> {
    user.get("externalIds")?
        .as_array()?
        .iter()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("organization"))
        .find_map(|e| {
            e.get("value")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        })
        .map(str::to_owned)
}

impl Google {
    /// Every group the user belongs to (group emails).
    async fn user_groups(
        &self,
        core: &OidcCore,
        dir: &DirectoryAuth,
        email: &str,
        now: SystemTime,
    ) -> Result<Vec<String>, ProviderError> {
        let token = dir.token(core.credentialed_client(), now).await?;
        let auth = api::authorization(DIRECTORY, "Bearer", &token)?;
        let base = api::join(&self.admin_api, "/admin/directory/v1/groups");
        let mut out = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = base.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("userKey", email);
                q.append_pair("maxResults", "200");
                if let Some(t) = &page_token {
                    q.append_pair("pageToken", t);
                }
            }
            let f = api::get(
                core.credentialed_client(),
                DIRECTORY,
                &url,
                &auth,
                "application/json",
                &[],
            )
            .await?;
            let page: GroupsPage = api::json(DIRECTORY, &f)?;
            out.extend(page.groups.into_iter().map(|g| g.email));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => page_token = Some(t),
                None => return Ok(out),
            }
        }
        Err(ProviderError::InvalidResponse {
            endpoint: DIRECTORY,
            detail: format!("more than {MAX_PAGES} pages of groups"),
        })
    }

    /// The hosted-domain and group checks; the session's groups.
    async fn check(
        &self,
        core: &OidcCore,
        id_claims: &Map<String, Value>,
        email: &str,
        now: SystemTime,
    ) -> Result<Option<Vec<String>>, ProviderError> {
        let hd = claims::lookup(id_claims, "hd").and_then(Value::as_str);
        if !hosted_domain_ok(&self.hosted_domains, hd, email) {
            return Err(ProviderError::Denied {
                rule: "email_domains",
                detail: format!(
                    "hosted domain {:?} of {email} is not one of {:?}",
                    hd.unwrap_or(""),
                    self.hosted_domains
                ),
            });
        }
        let Some(dir) = &self.directory else {
            return Ok(None);
        };
        let groups = self.user_groups(core, dir, email, now).await?;
        if !self.groups.is_empty()
            && !groups
                .iter()
                .any(|g| self.groups.iter().any(|w| api::eq_ci(g, w)))
        {
            return Err(ProviderError::Denied {
                rule: "google_group",
                detail: format!("{email} is in none of the required groups"),
            });
        }
        Ok(Some(groups))
    }
}

impl Google {
    /// `google_use_organization_id`: the user's organization ID (Directory `users.get`).
    async fn organization(
        &self,
        core: &OidcCore,
        dir: &DirectoryAuth,
        email: &str,
        now: SystemTime,
    ) -> Result<String, ProviderError> {
        let token = dir.token(core.credentialed_client(), now).await?;
        let auth = api::authorization(DIRECTORY, "Bearer", &token)?;
        let mut url = self.admin_api.clone();
        url.path_segments_mut()
            .map_err(|()| cfg_err("authproxy_google_admin_api_url", "cannot be a base URL"))?
            .pop_if_empty()
            .extend(["admin", "directory", "v1", "users", email]);
        let f = api::get(
            core.credentialed_client(),
            DIRECTORY,
            &url,
            &auth,
            "application/json",
            &[],
        )
        .await?;
        let user: Value = api::json(DIRECTORY, &f)?;
        organization_id(&user).ok_or_else(|| ProviderError::InvalidResponse {
            endpoint: DIRECTORY,
            detail: format!("failed to get organization id for {email}"),
        })
    }
}

impl OidcKind for Google {
    // Memberships may have changed since the login: a refresh that says who the user is
    // checks them again.
    async fn enrich<'a>(&'a self, core: &'a OidcCore, e: Enrich<'a>) -> Result<(), ProviderError> {
        if let Some(groups) = self.check(core, e.id_token, &e.claims.email, e.now).await? {
            e.claims.groups = groups;
        }
        if let (true, Some(dir)) = (self.use_organization_id, &self.directory) {
            e.claims.preferred_username =
                Some(self.organization(core, dir, &e.claims.email, e.now).await?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_domain_is_checked_only_when_domains_are_configured() {
        let corp = vec!["corp.example".to_owned()];
        assert!(hosted_domain_ok(&[], None, "a@anything.example"));
        assert!(hosted_domain_ok(
            &corp,
            Some("corp.example"),
            "a@corp.example"
        ));
        assert!(hosted_domain_ok(
            &corp,
            Some("CORP.example"),
            "a@corp.example"
        ));
        // A personal Google account that registered a corp address has no hd.
        assert!(!hosted_domain_ok(&corp, None, "a@corp.example"));
        assert!(!hosted_domain_ok(
            &corp,
            Some("other.example"),
            "a@corp.example"
        ));
        let gmail = vec!["gmail.com".to_owned()];
        assert!(hosted_domain_ok(&gmail, None, "a@gmail.com"));
        assert!(!hosted_domain_ok(&gmail, None, "a@corp.example"));
    }
}
