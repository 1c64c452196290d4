//! Google (`provider = "google"`): OpenID Connect against `https://accounts.google.com`
//! (every endpoint overridable), the hosted-domain (`hd`) check, and group membership
//! through the Admin SDK Directory API with a service account.
//!
//! Groups: the service account signs a JWT assertion (RS256, RFC 7523) naming the admin it
//! acts for (`google_admin_email`), trades it at the key's `token_uri` for an access token
//! (cached until shortly before it expires), then lists the user's groups
//! (`groups?userKey=EMAIL`, paged with `nextPageToken`). A user in none of `google_group`
//! is refused; the session's groups are the user's group emails.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::ProviderConfig;

use super::api::{self, MAX_PAGES};
use super::claims::{self, unix_seconds};
use super::error::{Endpoint, ProviderError};
use super::http;
use super::oidc::{Enrich, Oidc, OidcCore, OidcKind};
use super::token::parse_token_response;

const DIRECTORY: Endpoint = Endpoint::Api("Google Directory API");
const SA_TOKEN: Endpoint = Endpoint::Api("Google service-account token endpoint");
const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.group.readonly";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of a signed assertion (Google accepts at most one hour).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// A cached Directory token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// The fields of a service-account JSON key authproxy uses.
#[derive(Deserialize)]
struct ServiceAccountKey {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    token_uri: String,
}

struct ServiceAccount {
    client_email: String,
    key: super::rs256::RsaSigner,
    key_id: Option<String>,
    token_uri: url::Url,
    admin_email: String,
    /// The last Directory access token and when it expires. Touched only at login and
    /// refresh, never on the per-request path.
    cached: Mutex<Option<(String, SystemTime)>>,
}

/// What the Google kind adds: the hosted-domain check and Directory API groups.
pub struct Google {
    hosted_domains: Vec<String>,
    groups: Vec<String>,
    admin_api: url::Url,
    service_account: Option<ServiceAccount>,
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

fn cfg_err(key: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::Config {
        key,
        message: message.into(),
    }
}

fn load_service_account(
    path: &std::path::Path,
    admin_email: &str,
) -> Result<ServiceAccount, ProviderError> {
    const KEY: &str = "google_service_account_json";
    let text = std::fs::read(path)
        .map_err(|e| cfg_err(KEY, format!("cannot read {}: {e}", path.display())))?;
    let sa: ServiceAccountKey = serde_json::from_slice(&text).map_err(|e| {
        cfg_err(
            KEY,
            format!("{} is not a service-account JSON key: {e}", path.display()),
        )
    })?;
    if sa.kind != "service_account" {
        return Err(cfg_err(
            KEY,
            format!(
                "{} has type {:?}, expected \"service_account\"",
                path.display(),
                sa.kind
            ),
        ));
    }
    let key = super::rs256::RsaSigner::from_pem(&sa.private_key).map_err(|e| {
        cfg_err(
            KEY,
            format!("{}: private_key is not an RSA PEM key: {e}", path.display()),
        )
    })?;
    let token_uri = url::Url::parse(&sa.token_uri)
        .map_err(|e| cfg_err(KEY, format!("{}: token_uri: {e}", path.display())))?;
    Ok(ServiceAccount {
        client_email: sa.client_email,
        key,
        key_id: sa.private_key_id.filter(|k| !k.is_empty()),
        token_uri,
        admin_email: admin_email.to_owned(),
        cached: Mutex::new(None),
    })
}

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
        let service_account = match (&g.service_account_json, groups.is_empty()) {
            (Some(path), _) => {
                if g.admin_email.is_empty() {
                    return Err(cfg_err(
                        "google_admin_email",
                        "is required with google_service_account_json",
                    ));
                }
                Some(load_service_account(path, &g.admin_email)?)
            }
            (None, false) => {
                return Err(cfg_err(
                    "google_service_account_json",
                    "is required with google_group (the Directory API needs a service account)",
                ))
            }
            (None, true) => None,
        };
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
            service_account,
        };
        Ok(Oidc::from_parts(core, kind))
    }
}

impl Google {
    /// A Directory API access token for the service account (cached).
    async fn directory_token(
        &self,
        core: &OidcCore,
        sa: &ServiceAccount,
        now: SystemTime,
    ) -> Result<String, ProviderError> {
        if let Ok(guard) = sa.cached.lock() {
            if let Some((token, exp)) = guard.as_ref() {
                if now + TOKEN_MARGIN < *exp {
                    return Ok(token.clone());
                }
            }
        }
        let iat = unix_seconds(now);
        let claims = serde_json::json!({
            "iss": sa.client_email,
            "sub": sa.admin_email,
            "scope": DIRECTORY_SCOPE,
            "aud": sa.token_uri.as_str(),
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs() as i64,
        });
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &sa.key_id {
            header["kid"] = Value::String(kid.clone());
        }
        let assertion = sa.key.sign_jwt(&header, &claims).map_err(|e| {
            cfg_err(
                "google_service_account_json",
                format!("cannot sign the assertion: {e}"),
            )
        })?;
        let req = core
            .credentialed_client()
            .post(sa.token_uri.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)]);
        let fetched = http::send(SA_TOKEN, req).await?;
        let resp = parse_token_response(&fetched).map_err(|e| match e {
            // parse_token_response names the token endpoint; this is the service account's.
            ProviderError::Idp {
                error, description, ..
            } => ProviderError::Idp {
                endpoint: SA_TOKEN,
                error,
                description,
            },
            ProviderError::HttpStatus { status, .. } => ProviderError::HttpStatus {
                endpoint: SA_TOKEN,
                status,
            },
            ProviderError::InvalidResponse { detail, .. } => ProviderError::InvalidResponse {
                endpoint: SA_TOKEN,
                detail,
            },
            other => other,
        })?;
        let exp = now + Duration::from_secs(resp.expires_in.unwrap_or(3600).max(0) as u64);
        if let Ok(mut guard) = sa.cached.lock() {
            *guard = Some((resp.access_token.clone(), exp));
        }
        Ok(resp.access_token)
    }

    /// Every group the user belongs to (group emails).
    async fn user_groups(
        &self,
        core: &OidcCore,
        sa: &ServiceAccount,
        email: &str,
        now: SystemTime,
    ) -> Result<Vec<String>, ProviderError> {
        let token = self.directory_token(core, sa, now).await?;
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
        let Some(sa) = &self.service_account else {
            return Ok(None);
        };
        let groups = self.user_groups(core, sa, email, now).await?;
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

impl OidcKind for Google {
    // Memberships may have changed since the login: a refresh that says who the user is
    // checks them again.
    async fn enrich<'a>(&'a self, core: &'a OidcCore, e: Enrich<'a>) -> Result<(), ProviderError> {
        if let Some(groups) = self.check(core, e.id_token, &e.claims.email, e.now).await? {
            e.claims.groups = groups;
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
