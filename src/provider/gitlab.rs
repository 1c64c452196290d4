//! GitLab (`provider = "gitlab"`): OpenID Connect against the GitLab instance
//! (`oidc_issuer_url`, default `https://gitlab.com`), with `gitlab_groups` and
//! `gitlab_projects`.
//!
//! Groups are the `groups` claim (GitLab's userinfo sends the full paths of the user's
//! groups). A project `group/project=LEVEL` (default 20, Reporter) is read from
//! `{instance}/api/v4/projects/{url-encoded path}` with the user's token; the larger of the
//! project and group access levels must reach LEVEL, and archived projects do not count.
//! As in oauth2-proxy, a user passes when in any listed group OR any listed project; the
//! session's groups are the groups plus `project:group/project` for each such project.

use std::time::SystemTime;

use serde::Deserialize;

use crate::config::ProviderConfig;

use super::api;
use super::error::{Endpoint, ProviderError};
use super::oidc::OidcProvider;
use super::{AuthorizeParams, Claims, Identity, Provider, ProviderFuture, Refreshed};

const GITLAB_API: Endpoint = Endpoint::Api("GitLab API");
/// Reporter: oauth2-proxy's default access level for `gitlab_projects`.
const DEFAULT_ACCESS_LEVEL: u32 = 20;

/// One `gitlab_projects` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProjectRule {
    pub path: String,
    pub level: u32,
}

/// Parse `group/project` or `group/project=LEVEL`.
pub(crate) fn parse_project(s: &str) -> Result<ProjectRule, ProviderError> {
    let bad = |m: String| ProviderError::Config {
        key: "gitlab_projects",
        message: m,
    };
    let (path, level) = match s.trim().split_once('=') {
        Some((p, l)) => (
            p.trim(),
            l.trim()
                .parse::<u32>()
                .map_err(|_| bad(format!("{s:?}: access level {l:?} is not a number")))?,
        ),
        None => (s.trim(), DEFAULT_ACCESS_LEVEL),
    };
    if !path.contains('/') || path.starts_with('/') || path.ends_with('/') {
        return Err(bad(format!("{s:?} is not group/project")));
    }
    if ![10, 15, 20, 30, 40, 50].contains(&level) {
        return Err(bad(format!(
            "{s:?}: access level {level} is not one of 10, 15, 20, 30, 40, 50"
        )));
    }
    Ok(ProjectRule {
        path: path.to_owned(),
        level,
    })
}

#[derive(Deserialize)]
struct Project {
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    permissions: Option<Permissions>,
}

#[derive(Deserialize)]
struct Permissions {
    #[serde(default)]
    project_access: Option<Access>,
    #[serde(default)]
    group_access: Option<Access>,
}

#[derive(Deserialize)]
struct Access {
    access_level: u32,
}

/// The GitLab provider.
pub struct GitlabProvider {
    oidc: OidcProvider,
    api: url::Url,
    groups: Vec<String>,
    projects: Vec<ProjectRule>,
}

impl std::fmt::Debug for GitlabProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabProvider")
            .field("oidc", &self.oidc)
            .finish_non_exhaustive()
    }
}

impl GitlabProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let mut inner = cfg.clone();
        let issuer = match &cfg.oidc_issuer_url {
            Some(u) => u.clone(),
            None => url::Url::parse("https://gitlab.com").map_err(|e| ProviderError::Config {
                key: "oidc_issuer_url",
                message: e.to_string(),
            })?,
        };
        inner.oidc_issuer_url = Some(issuer.clone());
        let projects = cfg
            .gitlab
            .projects
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| parse_project(p))
            .collect::<Result<Vec<_>, _>>()?;
        if inner.scope.is_empty() {
            inner.scope = "openid email".into();
        }
        // The projects API needs read_api (oauth2-proxy adds it the same way).
        if !projects.is_empty() && !inner.scope.split_whitespace().any(|s| s == "read_api") {
            inner.scope.push_str(" read_api");
        }
        if inner.display_name.is_empty() || inner.display_name == "OpenID Connect" {
            inner.display_name = "GitLab".into();
        }
        Ok(Self {
            oidc: OidcProvider::new(&inner)?,
            api: api::join(&issuer, "/api/v4/"),
            groups: cfg
                .gitlab
                .groups
                .iter()
                .map(|g| g.trim().trim_matches('/').to_owned())
                .filter(|g| !g.is_empty())
                .collect(),
            projects,
        })
    }

    /// Whether the user reaches the rule's access level on the project.
    async fn project_ok(&self, rule: &ProjectRule, token: &str) -> Result<bool, ProviderError> {
        let auth = api::authorization(GITLAB_API, "Bearer", token)?;
        let encoded: String = url::form_urlencoded::byte_serialize(rule.path.as_bytes()).collect();
        // The path must stay one encoded segment: set it raw, not through join().
        let mut url = self.api.clone();
        url.set_path(&format!(
            "{}/projects/{}",
            self.api.path().trim_end_matches('/'),
            encoded.replace('+', "%20")
        ));
        let f = api::get(
            self.oidc.credentialed_client(),
            GITLAB_API,
            &url,
            &auth,
            "application/json",
            &[],
        )
        .await?;
        if f.status.as_u16() == 404 {
            return Ok(false);
        }
        let p: Project = api::json(GITLAB_API, &f)?;
        let level = p
            .permissions
            .map(|perm| {
                let a = perm.project_access.map(|a| a.access_level).unwrap_or(0);
                let b = perm.group_access.map(|a| a.access_level).unwrap_or(0);
                a.max(b)
            })
            .unwrap_or(0);
        Ok(!p.archived && level >= rule.level)
    }

    async fn check(&self, claims: &mut Claims, token: &str) -> Result<(), ProviderError> {
        if self.groups.is_empty() && self.projects.is_empty() {
            return Ok(());
        }
        let mut allowed = claims
            .groups
            .iter()
            .any(|g| self.groups.iter().any(|w| w == g));
        for rule in &self.projects {
            if self.project_ok(rule, token).await? {
                claims.groups.push(format!("project:{}", rule.path));
                allowed = true;
            }
        }
        if allowed {
            Ok(())
        } else {
            Err(ProviderError::Denied {
                rule: if self.projects.is_empty() {
                    "gitlab_group"
                } else {
                    "gitlab_projects"
                },
                detail: format!(
                    "{} is in none of the required groups or projects",
                    claims.email
                ),
            })
        }
    }

    async fn run_redeem(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        nonce: Option<&str>,
        now: SystemTime,
    ) -> Result<Identity, ProviderError> {
        let (mut identity, _) = self
            .oidc
            .redeem_with_claims(code, redirect_uri, code_verifier, nonce, now)
            .await?;
        let token = identity.tokens.access_token.clone();
        self.check(&mut identity.claims, &token).await?;
        Ok(identity)
    }

    async fn run_refresh(
        &self,
        refresh_token: &str,
        now: SystemTime,
    ) -> Result<Refreshed, ProviderError> {
        let (mut refreshed, _) = self.oidc.refresh_with_claims(refresh_token, now).await?;
        let token = refreshed.tokens.access_token.clone();
        if let Some(c) = refreshed.claims.as_mut() {
            self.check(c, &token).await?;
        }
        Ok(refreshed)
    }
}

impl Provider for GitlabProvider {
    fn id(&self) -> &str {
        self.oidc.id()
    }
    fn display_name(&self) -> &str {
        self.oidc.display_name()
    }
    fn kind(&self) -> &str {
        "gitlab"
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

    #[test]
    fn project_rules_parse_with_a_default_access_level() {
        assert_eq!(
            parse_project("acme/app").unwrap(),
            ProjectRule {
                path: "acme/app".into(),
                level: 20
            }
        );
        assert_eq!(parse_project("acme/sub/app=40").unwrap().level, 40);
        for bad in ["app", "acme/app=dev", "acme/app=25", "/acme/app"] {
            assert!(parse_project(bad).is_err(), "{bad}");
        }
    }
}
