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

use serde::Deserialize;

use crate::config::ProviderConfig;

use super::api;
use super::error::{Endpoint, ProviderError};
use super::oidc::{Enrich, Oidc, OidcCore, OidcKind};
use super::Claims;

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
    // oauth2-proxy v7 accepts any project name (GitLab also takes a numeric project id) and
    // only the access levels 10, 20, 30 and 40.
    if ![10, 20, 30, 40].contains(&level) {
        return Err(bad(format!(
            "{s:?}: access level {level} is not one of 10, 20, 30, 40 (oauth2-proxy refuses it too)"
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

/// What the GitLab kind adds: `gitlab_groups` and `gitlab_projects`.
pub struct Gitlab {
    api: url::Url,
    groups: Vec<String>,
    projects: Vec<ProjectRule>,
}

impl std::fmt::Debug for Gitlab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gitlab")
            .field("api", &self.api)
            .field("groups", &self.groups)
            .field("projects", &self.projects)
            .finish()
    }
}

/// The GitLab provider.
pub type GitlabProvider = Oidc<Gitlab>;

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
        let kind = Gitlab {
            api: api::join(&issuer, "/api/v4/"),
            groups: cfg
                .gitlab
                .groups
                .iter()
                .map(|g| g.trim().trim_matches('/').to_owned())
                .filter(|g| !g.is_empty())
                .collect(),
            projects,
        };
        Ok(Oidc::from_parts(OidcCore::new(&inner)?, kind))
    }
}

impl Gitlab {
    /// Whether the user reaches the rule's access level on the project.
    async fn project_ok(
        &self,
        core: &OidcCore,
        rule: &ProjectRule,
        token: &str,
    ) -> Result<bool, ProviderError> {
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
            core.credentialed_client(),
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

    async fn check(
        &self,
        core: &OidcCore,
        claims: &mut Claims,
        token: &str,
    ) -> Result<(), ProviderError> {
        if self.groups.is_empty() && self.projects.is_empty() {
            return Ok(());
        }
        let mut allowed = claims
            .groups
            .iter()
            .any(|g| self.groups.iter().any(|w| w == g));
        for rule in &self.projects {
            if self.project_ok(core, rule, token).await? {
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
}

impl OidcKind for Gitlab {
    async fn enrich<'a>(&'a self, core: &'a OidcCore, e: Enrich<'a>) -> Result<(), ProviderError> {
        self.check(core, e.claims, e.access_token).await
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
        // What oauth2-proxy v7.15.3 refuses at start (checked with the binary:
        // --gitlab-project=g/p=15 "invalid gitlab project access level", =abc strconv.Atoi).
        for bad in ["acme/app=dev", "acme/app=25", "acme/app=15", "acme/app=50"] {
            assert!(parse_project(bad).is_err(), "{bad}");
        }
        // ... and what it accepts: any name (GitLab also takes a numeric project id).
        for good in ["app", "12345=30", "acme/app=10"] {
            assert!(parse_project(good).is_ok(), "{good}");
        }
    }
}
