//! GitHub (`provider = "github"`), GitHub Enterprise through `login_url` / `redeem_url` /
//! `validate_url`, and Gitea / Forgejo the same way (`validate_url = https://HOST/api/v1/`, as
//! oauth2-proxy documents it: their API answers GitHub's shapes, with orgs named by `username`
//! and teams by `name`).
//!
//! Login: authorize → `access_token` (JSON; GitHub answers a bad code with HTTP 200 and an
//! `error` body) → `/user` (login) → `/user/emails` (the primary, verified address) → orgs
//! and teams (paged with `Link` headers) → the restrictions of `github_users`,
//! `github_org`, `github_team` and `github_repo`. The session's groups are the orgs and
//! `org:team` slugs. OAuth App tokens do not expire and have no refresh token, so at
//! `cookie_refresh` the token is re-validated against `/user` (a revoked token ends the
//! session); GitHub App tokens that come with a refresh token are refreshed instead.

mod restrictions;

#[cfg(test)]
mod tests;

use std::time::SystemTime;

use serde::Deserialize;

use crate::config::ProviderConfig;
use crate::crypto::Secret;

use super::api::{self, eq_ci, MAX_PAGES};
use super::error::{Endpoint, ProviderError};
use super::http::{self, IdpClient};
use super::token::{expiry, parse_token_response, TokenResponse};
use super::{
    AuthorizeParams, Claims, Identity, IssuerCheck, Provider, ProviderFuture, Refreshed, Tokens,
};

use self::restrictions::{decide, groups, Membership, Restrictions};

const API: Endpoint = Endpoint::Api("GitHub API");
const ACCEPT: &str = "application/vnd.github+json";
const API_VERSION: (&str, &str) = ("x-github-api-version", "2022-11-28");
const DEFAULT_SCOPE: &str = "user:email read:org";

/// The GitHub provider.
pub struct GithubProvider {
    id: String,
    display_name: String,
    client_id: String,
    client_secret: Secret,
    scope: String,
    login_url: url::Url,
    /// `auth_request_response_mode`.
    response_mode: Option<String>,
    redeem_url: url::Url,
    api: url::Url,
    restrictions: Restrictions,
    repo_token: Secret,
    http: IdpClient,
}

impl std::fmt::Debug for GithubProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubProvider")
            .field("id", &self.id)
            .field("api", &self.api.as_str())
            .finish_non_exhaustive()
    }
}

fn parse_default(s: &str) -> url::Url {
    // Constant, known-good URLs.
    url::Url::parse(s).unwrap_or_else(|_| unreachable!("constant URL {s}"))
}

#[derive(Deserialize)]
struct User {
    login: String,
    id: u64,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Email {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

/// An organization. Gitea and Forgejo (the `github` kind with their URLs) name the login
/// `username`.
#[derive(Deserialize)]
struct Org {
    #[serde(alias = "username")]
    login: String,
}

/// A team. Gitea and Forgejo teams have no `slug`: their `name` is the identifier.
#[derive(Deserialize)]
struct Team {
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    name: Option<String>,
    organization: Org,
}

impl Team {
    fn slug(self) -> Option<(String, String)> {
        let slug = self.slug.or(self.name).filter(|s| !s.is_empty())?;
        Some((self.organization.login, slug))
    }
}

#[derive(Deserialize)]
struct Repo {
    #[serde(default)]
    private: bool,
    #[serde(default)]
    permissions: Option<RepoPermissions>,
}

#[derive(Deserialize, Default)]
struct RepoPermissions {
    #[serde(default)]
    pull: bool,
    #[serde(default)]
    push: bool,
    #[serde(default)]
    admin: bool,
}

/// The primary, verified address; an unverified primary is refused as unverified.
fn primary_email(emails: &[Email]) -> Result<String, ProviderError> {
    if let Some(e) = emails.iter().find(|e| e.primary && e.verified) {
        return Ok(e.email.clone());
    }
    match emails.iter().find(|e| e.primary) {
        Some(e) => Err(ProviderError::UnverifiedEmail {
            email: e.email.clone(),
        }),
        None => Err(ProviderError::MissingEmail {
            claim: "primary verified address of /user/emails".into(),
        }),
    }
}

impl GithubProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        if cfg.client_id.is_empty() {
            return Err(ProviderError::Config {
                key: "client_id",
                message: "is required".into(),
            });
        }
        let restrictions = Restrictions::from_options(&cfg.github)?;
        let repo_token = cfg.github.token.clone();
        let scope = if cfg.scope.is_empty() {
            DEFAULT_SCOPE.to_owned()
        } else {
            cfg.scope.clone()
        };
        Ok(Self {
            // The alpha config's id names the provider in /oauth2/start?provider= and in the
            // session; only the legacy single-provider options fall back to oauth2-proxy's
            // `github=CLIENT_ID`.
            id: if cfg.id.is_empty() {
                format!("github={}", cfg.client_id)
            } else {
                cfg.id.clone()
            },
            display_name: if cfg.display_name.is_empty() {
                "GitHub".into()
            } else {
                cfg.display_name.clone()
            },
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            scope,
            login_url: cfg
                .login_url
                .clone()
                .unwrap_or_else(|| parse_default("https://github.com/login/oauth/authorize")),
            response_mode: crate::provider::response_mode(cfg),
            redeem_url: cfg
                .redeem_url
                .clone()
                .unwrap_or_else(|| parse_default("https://github.com/login/oauth/access_token")),
            api: cfg
                .validate_url
                .clone()
                .unwrap_or_else(|| parse_default("https://api.github.com/")),
            restrictions,
            repo_token,
            http: IdpClient::new(cfg)?,
        })
    }

    /// Use another total timeout per request (tests).
    #[cfg(test)]
    pub(crate) fn with_request_timeout(
        mut self,
        cfg: &ProviderConfig,
        timeout: std::time::Duration,
    ) -> Result<Self, ProviderError> {
        self.http = IdpClient::with_timeout(cfg, timeout)?;
        Ok(self)
    }

    fn build_authorize_url(&self, p: &AuthorizeParams<'_>) -> url::Url {
        let mut url = self.login_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.client_id);
            q.append_pair("redirect_uri", p.redirect_uri);
            q.append_pair("scope", &self.scope);
            q.append_pair("state", p.state);
            // GitHub supports PKCE (S256) on OAuth Apps and GitHub Apps.
            if let Some(cc) = &p.code_challenge {
                q.append_pair("code_challenge", cc.challenge);
                q.append_pair("code_challenge_method", cc.method.as_str());
            }
            if let Some(mode) = &self.response_mode {
                q.append_pair("response_mode", mode);
            }
        }
        url
    }

    async fn token_request(
        &self,
        mut form: Vec<(&str, &str)>,
    ) -> Result<TokenResponse, ProviderError> {
        form.push(("client_id", &self.client_id));
        form.push(("client_secret", self.client_secret.expose()));
        // Without `Accept: application/json` GitHub answers form-encoded.
        let req = self
            .http
            .credentialed
            .post(self.redeem_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        let fetched = http::send(Endpoint::Token, req).await?;
        parse_token_response(&fetched)
    }

    async fn get(&self, url: &url::Url, token: &str) -> Result<http::Fetched, ProviderError> {
        let auth = api::authorization(API, "Bearer", token)?;
        api::get(
            &self.http.credentialed,
            API,
            url,
            &auth,
            ACCEPT,
            &[API_VERSION],
        )
        .await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
    ) -> Result<T, ProviderError> {
        let f = self.get(&api::join(&self.api, path), token).await?;
        api::json(API, &f)
    }

    /// Every page of a listing (`per_page=100`, then the `Link: rel="next"` targets).
    async fn get_all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
    ) -> Result<Vec<T>, ProviderError> {
        let mut url = api::join(&self.api, path);
        url.query_pairs_mut().append_pair("per_page", "100");
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let f = self.get(&url, token).await?;
            let page: Vec<T> = api::json(API, &f)?;
            out.extend(page);
            match f.link.as_deref().and_then(api::link_next) {
                Some(next) => url = api::checked_next(API, &self.api, next)?,
                None => return Ok(out),
            }
        }
        Err(ProviderError::InvalidResponse {
            endpoint: API,
            detail: format!("more than {MAX_PAGES} pages at {path}"),
        })
    }

    /// Whether the user may use `github_repo`: as a collaborator (with `github_token`), or
    /// through their own token: push access to a public repo, pull access to a private one.
    async fn repo_access(
        &self,
        owner: &str,
        name: &str,
        login: &str,
        token: &str,
    ) -> Result<bool, ProviderError> {
        let seg = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        if name.is_empty() {
            // A github_repo that is not owner/name (see Restrictions): no repository, no access.
            return Ok(false);
        }
        if !self.repo_token.is_empty() {
            let path = format!(
                "/repos/{}/{}/collaborators/{}",
                seg(owner),
                seg(name),
                seg(login)
            );
            let f = self
                .get(&api::join(&self.api, &path), self.repo_token.expose())
                .await?;
            return match f.status.as_u16() {
                204 => Ok(true),
                404 => Ok(false),
                _ => Err(api::api_error(API, &f)),
            };
        }
        let path = format!("/repos/{}/{}", seg(owner), seg(name));
        let f = self.get(&api::join(&self.api, &path), token).await?;
        if f.status.as_u16() == 404 {
            return Ok(false);
        }
        let repo: Repo = api::json(API, &f)?;
        let p = repo.permissions.unwrap_or_default();
        Ok(if repo.private {
            p.pull || p.push || p.admin
        } else {
            p.push || p.admin
        })
    }

    /// Who the token belongs to, checked against the restrictions.
    async fn identity(&self, token: &str) -> Result<Claims, ProviderError> {
        let user: User = self.get_json("/user", token).await?;
        let emails: Vec<Email> = self.get_json("/user/emails", token).await?;
        let email = primary_email(&emails)?;
        let read_memberships = self.restrictions.needs_memberships()
            || self.scope.split_whitespace().any(|s| s == "read:org");
        let (orgs, teams) = if read_memberships {
            let orgs: Vec<Org> = self.get_all("/user/orgs", token).await?;
            let teams: Vec<Team> = self.get_all("/user/teams", token).await?;
            (
                orgs.into_iter().map(|o| o.login).collect::<Vec<_>>(),
                teams.into_iter().filter_map(Team::slug).collect::<Vec<_>>(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let listed = self
            .restrictions
            .users
            .iter()
            .any(|u| eq_ci(u, &user.login));
        let repo_access = match &self.restrictions.repo {
            Some((owner, name)) if !listed => {
                Some(self.repo_access(owner, name, &user.login, token).await?)
            }
            _ => None,
        };
        decide(
            &self.restrictions,
            &Membership {
                login: &user.login,
                orgs: &orgs,
                teams: &teams,
                repo_access,
            },
        )?;
        let _ = user.name;
        Ok(Claims {
            subject: user.id.to_string(),
            user: user.login.clone(),
            email,
            groups: groups(&orgs, &teams),
            preferred_username: Some(user.login),
            extra: Default::default(),
        })
    }

    async fn run_redeem(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        now: SystemTime,
    ) -> Result<Identity, ProviderError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = code_verifier {
            form.push(("code_verifier", v));
        }
        let resp = self.token_request(form).await?;
        let claims = self.identity(&resp.access_token).await?;
        Ok(Identity {
            tokens: Tokens {
                expires_on: expiry(resp.expires_in, &serde_json::Map::new(), now),
                access_token: resp.access_token,
                id_token: None,
                refresh_token: resp.refresh_token,
            },
            claims,
        })
    }

    async fn run_refresh(
        &self,
        refresh_token: &str,
        now: SystemTime,
    ) -> Result<Refreshed, ProviderError> {
        let resp = self
            .token_request(vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .await?;
        // Memberships may have changed since the login: check them again.
        let claims = self.identity(&resp.access_token).await?;
        Ok(Refreshed {
            tokens: Tokens {
                expires_on: expiry(resp.expires_in, &serde_json::Map::new(), now),
                access_token: resp.access_token,
                id_token: None,
                refresh_token: resp.refresh_token,
            },
            claims: Some(claims),
        })
    }

    async fn run_validate(&self, access_token: &str) -> Result<(), ProviderError> {
        let f = self
            .get(&api::join(&self.api, "/user"), access_token)
            .await?;
        if f.status.is_success() {
            Ok(())
        } else {
            Err(api::api_error(API, &f))
        }
    }
}

impl Provider for GithubProvider {
    fn id(&self) -> &str {
        &self.id
    }

    fn display_name(&self) -> &str {
        &self.display_name
    }

    fn kind(&self) -> &str {
        "github"
    }

    /// GitHub is plain OAuth 2.0: it has no issuer identifier and sends no `iss`.
    fn check_response_issuer(&self, _iss: Option<&str>) -> IssuerCheck {
        IssuerCheck::Unknown
    }

    fn is_ready(&self) -> bool {
        true
    }

    fn discover(&self) -> ProviderFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    fn authorize_url(&self, params: &AuthorizeParams<'_>) -> Result<url::Url, ProviderError> {
        Ok(self.build_authorize_url(params))
    }

    fn redeem<'a>(
        &'a self,
        code: &'a str,
        redirect_uri: &'a str,
        code_verifier: Option<&'a str>,
        _expected_nonce: Option<&'a str>,
        now: SystemTime,
    ) -> ProviderFuture<'a, Identity> {
        Box::pin(self.run_redeem(code, redirect_uri, code_verifier, now))
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        now: SystemTime,
    ) -> ProviderFuture<'a, Refreshed> {
        Box::pin(self.run_refresh(refresh_token, now))
    }

    fn validates_sessions(&self) -> bool {
        true
    }

    fn validate_session<'a>(
        &'a self,
        access_token: &'a str,
        _now: SystemTime,
    ) -> ProviderFuture<'a, ()> {
        Box::pin(self.run_validate(access_token))
    }
}
