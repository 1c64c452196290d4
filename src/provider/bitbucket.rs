//! Bitbucket Cloud (`provider = "bitbucket"`): OAuth 2.0 at `bitbucket.org/site/oauth2`,
//! scope `email`, the REST API 2.0 at the origin of `validate_url` (default
//! `https://api.bitbucket.org/2.0/user/emails`).
//!
//! * Email: the primary address of `GET /2.0/user/emails` (paged, `next` links). oauth2-proxy
//!   takes the primary address as it is; authproxy refuses it while `is_confirmed` is false.
//! * `bitbucket_team`: Bitbucket removed teams (`/2.0/teams`) in favour of workspaces, so
//!   oauth2-proxy v7's call no longer works; authproxy reads the user's workspaces
//!   (`GET /2.0/user/workspaces`, scope `account`) and requires one whose slug is the team.
//! * `bitbucket_repository` (`workspace/repo`): `GET /2.0/repositories/{workspace}` with
//!   `role=contributor` and `q=full_name="workspace/repo"` must list it (scope `repository`).
//!
//! Credentials go in the `Authorization` header (Bitbucket stopped accepting the
//! `access_token` query parameter oauth2-proxy v7 sends). The user name is left empty, as in
//! oauth2-proxy.

use serde::Deserialize;

use crate::config::ProviderConfig;

use super::error::ProviderError;
use super::oauth2::{ClientAuth, Defaults, OAuth2, OAuth2Core, OAuth2Kind};
use super::Claims;

const DEFAULTS: Defaults = Defaults {
    kind: "bitbucket",
    display_name: "Bitbucket",
    login_url: Some("https://bitbucket.org/site/oauth2/authorize"),
    redeem_url: Some("https://bitbucket.org/site/oauth2/access_token"),
    profile_url: None,
    validate_url: Some("https://api.bitbucket.org/2.0/user/emails"),
    url_hint: "https://bitbucket.org/site/oauth2/...",
    scope: "email",
    client_auth: ClientAuth::Basic,
    api: "Bitbucket API",
    api_headers: &[],
};

/// One page of a Bitbucket listing.
#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    values: Vec<T>,
    #[serde(default)]
    next: Option<String>,
}

fn split<T>(p: Page<T>) -> (Vec<T>, Option<String>) {
    (p.values, p.next)
}

#[derive(Deserialize)]
struct Email {
    email: String,
    #[serde(default)]
    is_primary: bool,
    #[serde(default)]
    is_confirmed: bool,
}

#[derive(Deserialize)]
struct WorkspaceAccess {
    workspace: Workspace,
}

#[derive(Deserialize)]
struct Workspace {
    slug: String,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

/// The primary address; an unconfirmed primary is refused as unverified (pure).
fn primary_email(emails: &[Email]) -> Result<String, ProviderError> {
    match emails.iter().find(|e| e.is_primary) {
        Some(e) if e.is_confirmed => Ok(e.email.clone()),
        Some(e) => Err(ProviderError::UnverifiedEmail {
            email: e.email.clone(),
        }),
        None => Err(ProviderError::MissingEmail {
            claim: "primary address of /2.0/user/emails".into(),
        }),
    }
}

/// Add `extra` to `scope` unless it is already there (as oauth2-proxy: a substring check).
fn with_scope(scope: &mut String, extra: &str) {
    if !scope.contains(extra) {
        if !scope.is_empty() {
            scope.push(' ');
        }
        scope.push_str(extra);
    }
}

/// What the Bitbucket kind adds: the email, workspace and repository checks.
#[derive(Debug)]
pub struct Bitbucket {
    /// The workspace slug of `bitbucket_team`.
    team: Option<String>,
    /// `(workspace, "workspace/repo")` of `bitbucket_repository`.
    repository: Option<(String, String)>,
}

/// The Bitbucket provider.
pub type BitbucketProvider = OAuth2<Bitbucket>;

impl BitbucketProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let mut scope = OAuth2Core::scope_from(cfg, &DEFAULTS);
        let team = Some(cfg.bitbucket.team.trim().to_owned()).filter(|t| !t.is_empty());
        if team.is_some() {
            with_scope(&mut scope, "account");
        }
        let repository = match cfg.bitbucket.repository.trim() {
            "" => None,
            r => match r.split_once('/') {
                Some((ws, name)) if !ws.is_empty() && !name.is_empty() && !name.contains('/') => {
                    Some((ws.to_owned(), r.to_owned()))
                }
                // oauth2-proxy starts with it and Bitbucket lists no such repository, so
                // nobody passes the check (the configuration warns): an empty workspace
                // denies everyone.
                _ => Some((String::new(), r.to_owned())),
            },
        };
        if repository.is_some() {
            with_scope(&mut scope, "repository");
        }
        let core = OAuth2Core::new(cfg, &DEFAULTS, scope)?;
        if core.validate_url().is_none() {
            return Err(ProviderError::Config {
                key: "validate_url",
                message: "is required for provider \"bitbucket\"".into(),
            });
        }
        Ok(OAuth2::from_parts(core, Bitbucket { team, repository }))
    }
}

impl Bitbucket {
    /// `path` on the API origin (the origin of `validate_url`).
    fn api_url(core: &OAuth2Core, path: &str) -> Result<url::Url, ProviderError> {
        let base = core.validate_url().ok_or(ProviderError::Config {
            key: "validate_url",
            message: "is required for provider \"bitbucket\"".into(),
        })?;
        let mut u = base.clone();
        u.set_path(path);
        u.set_query(None);
        Ok(u)
    }
}

impl OAuth2Kind for Bitbucket {
    async fn identity<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> Result<Claims, ProviderError> {
        let emails_url = core.validate_url().cloned().ok_or(ProviderError::Config {
            key: "validate_url",
            message: "is required for provider \"bitbucket\"".into(),
        })?;
        let emails: Vec<Email> = core
            .get_pages(emails_url, access_token, split::<Email>)
            .await?;
        let email = primary_email(&emails)?;
        if let Some(team) = &self.team {
            let url = Self::api_url(core, "/2.0/user/workspaces")?;
            let workspaces: Vec<WorkspaceAccess> = core
                .get_pages(url, access_token, split::<WorkspaceAccess>)
                .await?;
            if !workspaces.iter().any(|w| &w.workspace.slug == team) {
                return Err(ProviderError::Denied {
                    rule: "bitbucket_team",
                    detail: format!("{email} is not a member of workspace {team}"),
                });
            }
        }
        if let Some((workspace, full_name)) = &self.repository {
            if workspace.is_empty() {
                return Err(ProviderError::Denied {
                    rule: "bitbucket_repository",
                    detail: format!(
                        "{full_name:?} is not workspace/repository, so nobody can contribute to it"
                    ),
                });
            }
            let seg = percent_encoding::utf8_percent_encode(
                workspace,
                percent_encoding::NON_ALPHANUMERIC,
            );
            let mut url = Self::api_url(core, &format!("/2.0/repositories/{seg}"))?;
            url.query_pairs_mut()
                .append_pair("role", "contributor")
                .append_pair("q", &format!("full_name=\"{full_name}\""));
            let repos: Vec<Repository> = core
                .get_pages(url, access_token, split::<Repository>)
                .await?;
            if !repos.iter().any(|r| &r.full_name == full_name) {
                return Err(ProviderError::Denied {
                    rule: "bitbucket_repository",
                    detail: format!("{email} cannot contribute to {full_name}"),
                });
            }
        }
        Ok(Claims {
            email,
            ..Claims::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confirmed_primary_address_is_the_email() {
        let e = |email: &str, is_primary, is_confirmed| Email {
            email: email.into(),
            is_primary,
            is_confirmed,
        };
        assert_eq!(
            primary_email(&[e("a@x", false, true), e("b@x", true, true)]).unwrap(),
            "b@x"
        );
        assert!(matches!(
            primary_email(&[e("b@x", true, false)]),
            Err(ProviderError::UnverifiedEmail { .. })
        ));
        assert!(matches!(
            primary_email(&[e("a@x", false, true)]),
            Err(ProviderError::MissingEmail { .. })
        ));
    }

    #[test]
    fn restrictions_add_their_scopes_once() {
        let mut s = "email".to_owned();
        with_scope(&mut s, "account");
        with_scope(&mut s, "account");
        with_scope(&mut s, "repository");
        assert_eq!(s, "email account repository");
        let mut empty = String::new();
        with_scope(&mut empty, "repository");
        assert_eq!(empty, "repository");
    }
}
