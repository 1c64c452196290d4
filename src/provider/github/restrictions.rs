//! The `github_org`, `github_team`, `github_repo` and `github_users` restrictions: parsed
//! from the options and decided on a user's memberships (pure), and the session groups.

use crate::provider::api::eq_ci;
use crate::provider::error::ProviderError;

/// What `github_org` / `github_team` / `github_repo` / `github_users` require.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Restrictions {
    pub org: Option<String>,
    /// `(org, team slug)` pairs; any one is enough.
    pub teams: Vec<(String, String)>,
    /// `(owner, name)`.
    pub repo: Option<(String, String)>,
    pub users: Vec<String>,
}

impl Restrictions {
    /// Parse the options; `Err` names the offending option.
    pub fn from_options(o: &crate::config::GithubOptions) -> Result<Restrictions, ProviderError> {
        let org = Some(o.org.trim().to_owned()).filter(|s| !s.is_empty());
        let mut teams = Vec::new();
        for t in o.team.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let pair = match t.split_once(':') {
                Some((org, team)) if !org.is_empty() && !team.is_empty() => {
                    (org.to_owned(), team.to_owned())
                }
                Some(_) => {
                    return Err(ProviderError::Config {
                        key: "github_team",
                        message: format!("{t:?} is not a team slug or org:team"),
                    })
                }
                None => match &org {
                    Some(org) => (org.clone(), t.to_owned()),
                    None => {
                        return Err(ProviderError::Config {
                            key: "github_team",
                            message: format!(
                                "team {t:?} needs github_org, or write it as org:team"
                            ),
                        })
                    }
                },
            };
            teams.push(pair);
        }
        let repo = match o.repo.trim() {
            "" => None,
            r => match r.split_once('/') {
                Some((owner, name))
                    if !owner.is_empty() && !name.is_empty() && !name.contains('/') =>
                {
                    Some((owner.to_owned(), name.to_owned()))
                }
                // oauth2-proxy starts with it and GitHub finds no such repository, so nobody
                // passes the check (the configuration warns): an empty name denies everyone.
                _ => Some((r.to_owned(), String::new())),
            },
        };
        Ok(Restrictions {
            org,
            teams,
            repo,
            users: o
                .users
                .iter()
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty())
                .collect(),
        })
    }

    /// Whether org and team memberships must be read (restrictions or groups).
    pub(super) fn needs_memberships(&self) -> bool {
        self.org.is_some() || !self.teams.is_empty()
    }
}

/// The facts about a user that the restrictions are decided on.
#[derive(Clone, Debug, Default)]
pub(crate) struct Membership<'a> {
    pub login: &'a str,
    pub orgs: &'a [String],
    /// `(org, slug)`.
    pub teams: &'a [(String, String)],
    /// `None` when no repo is configured (not checked).
    pub repo_access: Option<bool>,
}

/// Decide the restrictions (pure). `github_users` lets a listed login in whatever else is
/// configured; otherwise every configured restriction must hold (org, then team, then repo).
pub(crate) fn decide(r: &Restrictions, m: &Membership<'_>) -> Result<(), ProviderError> {
    if r.users.iter().any(|u| eq_ci(u, m.login)) {
        return Ok(());
    }
    let others = r.org.is_some() || !r.teams.is_empty() || r.repo.is_some();
    if !others {
        if r.users.is_empty() {
            return Ok(());
        }
        return Err(ProviderError::Denied {
            rule: "github_user",
            detail: format!("{} is not one of the allowed GitHub users", m.login),
        });
    }
    if !r.teams.is_empty() {
        let ok = r
            .teams
            .iter()
            .any(|(org, team)| m.teams.iter().any(|(o, t)| eq_ci(o, org) && eq_ci(t, team)));
        if !ok {
            return Err(ProviderError::Denied {
                rule: "github_team",
                detail: format!("{} is in none of the required teams", m.login),
            });
        }
    } else if let Some(org) = &r.org {
        if !m.orgs.iter().any(|o| eq_ci(o, org)) {
            return Err(ProviderError::Denied {
                rule: "github_org",
                detail: format!("{} is not a member of {org}", m.login),
            });
        }
    }
    if r.repo.is_some() && m.repo_access != Some(true) {
        return Err(ProviderError::Denied {
            rule: "github_repo",
            detail: format!("{} has no access to the required repository", m.login),
        });
    }
    Ok(())
}

/// The session groups: every org, then every `org:team`.
pub(crate) fn groups(orgs: &[String], teams: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = orgs.to_vec();
    out.extend(teams.iter().map(|(o, t)| format!("{o}:{t}")));
    out
}
