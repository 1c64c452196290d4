//! A fake of GitHub's OAuth web flow and the REST API parts authproxy uses, following
//! GitHub's documented shapes: `/login/oauth/authorize`, `/login/oauth/access_token` (a bad
//! code is HTTP 200 with `{"error":"bad_verification_code"}`), and under `/api/v3` (GitHub
//! Enterprise layout) `/user`, `/user/emails`, `/user/orgs` and `/user/teams` (paged with
//! `Link` headers), `/repos/{owner}/{repo}` and `/repos/{owner}/{repo}/collaborators/{user}`
//! (204 / 404). Unknown or revoked tokens get 401 `{"message":"Bad credentials"}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::server::{FakeServer, Req, Resp};

pub const CLIENT_ID: &str = "gh-client";
pub const CLIENT_SECRET: &str = "gh-secret";
pub const OWNER_TOKEN: &str = "ghp_owner";

/// A GitHub account.
#[derive(Clone, Debug, Default)]
pub struct GhUser {
    pub login: String,
    pub id: u64,
    /// `(email, primary, verified)`.
    pub emails: Vec<(String, bool, bool)>,
    pub orgs: Vec<String>,
    /// `(org, slug)`.
    pub teams: Vec<(String, String)>,
    /// `"owner/name"` → `(private, pull, push)` as seen with this user's token.
    pub repos: HashMap<String, (bool, bool, bool)>,
}

impl GhUser {
    /// A user with one primary verified address `{login}@example.com`.
    pub fn new(login: &str, id: u64) -> GhUser {
        GhUser {
            login: login.into(),
            id,
            emails: vec![(format!("{login}@example.com"), true, true)],
            ..Default::default()
        }
    }
}

#[derive(Default)]
pub struct GhState {
    pub users: HashMap<String, GhUser>,
    /// Who approves the next authorization.
    pub current: String,
    pub codes: HashMap<String, String>,
    pub tokens: HashMap<String, String>,
    /// `"owner/name"` → collaborators (checked with [`OWNER_TOKEN`]).
    pub collaborators: HashMap<String, Vec<String>>,
    /// Items per page for orgs and teams (forces paging in tests).
    pub page_size: usize,
    /// Answer every API call with this status (and a GitHub error body).
    pub api_status: Option<u16>,
    /// Delay every API answer.
    pub api_delay: Option<Duration>,
    /// Every POST to the token endpoint, successful or not.
    pub token_requests: u64,
    counter: u64,
}

pub struct GithubFake {
    pub server: FakeServer,
    pub state: Arc<Mutex<GhState>>,
}

fn gh_error(status: u16, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}),
    )
}

impl GithubFake {
    pub async fn start() -> GithubFake {
        let state = Arc::new(Mutex::new(GhState {
            page_size: 2,
            ..Default::default()
        }));
        let s = state.clone();
        let server = FakeServer::start(Arc::new(move |r: &Req| handle(&s, r))).await;
        GithubFake { server, state }
    }

    pub fn add_user(&self, u: GhUser) {
        let mut s = self.state.lock().unwrap();
        if s.current.is_empty() {
            s.current = u.login.clone();
        }
        s.users.insert(u.login.clone(), u);
    }

    /// The user who approves the next authorization.
    pub fn sign_in_as(&self, login: &str) {
        self.state.lock().unwrap().current = login.into();
    }

    /// A one-time code for `login` (as the authorize step would issue).
    pub fn code_for(&self, login: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.counter += 1;
        let code = format!("code-{}", s.counter);
        s.codes.insert(code.clone(), login.into());
        code
    }

    /// Revoke every token of `login`.
    pub fn revoke(&self, login: &str) {
        self.state.lock().unwrap().tokens.retain(|_, l| l != login);
    }

    pub fn base(&self) -> String {
        self.server.base()
    }

    /// How many token requests this fake has received.
    pub fn token_requests(&self) -> u64 {
        self.state.lock().unwrap().token_requests
    }

    /// `validate_url` for this fake (GitHub Enterprise layout).
    pub fn api_url(&self) -> String {
        format!("{}/api/v3/", self.base())
    }
}

fn paged(r: &Req, items: Vec<serde_json::Value>, page_size: usize) -> Resp {
    let per_page: usize = r
        .query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .min(page_size.max(1));
    let page: usize = r
        .query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let start = (page - 1) * per_page;
    let chunk: Vec<_> = items.iter().skip(start).take(per_page).cloned().collect();
    let last = items.len().div_ceil(per_page).max(1);
    let mut resp = Resp::json(200, &serde_json::Value::Array(chunk));
    let host = r.headers.get("host").cloned().unwrap_or_default();
    let link_for = |p: usize| format!("<http://{host}{}?per_page={per_page}&page={p}>", r.path);
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_for(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_for(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_for(page - 1)));
        links.push(format!("{}; rel=\"first\"", link_for(1)));
    }
    if !links.is_empty() {
        resp = resp.header("link", &links.join(", "));
    }
    resp
}

fn handle(state: &Arc<Mutex<GhState>>, r: &Req) -> Resp {
    let mut s = state.lock().unwrap();
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/login/oauth/authorize") => {
            if r.query.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
                return Resp::empty(404);
            }
            let redirect = r.query.get("redirect_uri").cloned().unwrap_or_default();
            let st = r.query.get("state").cloned().unwrap_or_default();
            s.counter += 1;
            let code = format!("code-{}", s.counter);
            let who = s.current.clone();
            s.codes.insert(code.clone(), who);
            let mut u = url::Url::parse(&redirect).unwrap();
            u.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &st);
            Resp::redirect(u.as_str())
        }
        ("POST", "/login/oauth/access_token") => {
            s.token_requests += 1;
            let f = r.form();
            if f.get("client_id").map(String::as_str) != Some(CLIENT_ID)
                || f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
            {
                return Resp::json(
                    200,
                    &json!({"error": "incorrect_client_credentials", "error_description": "The client_id and/or client_secret passed are incorrect.", "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials"}),
                );
            }
            let Some(login) = f.get("code").and_then(|c| s.codes.remove(c)) else {
                return Resp::json(
                    200,
                    &json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired.", "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"}),
                );
            };
            s.counter += 1;
            let token = format!("gho_{}", s.counter);
            s.tokens.insert(token.clone(), login);
            if r.headers
                .get("accept")
                .is_some_and(|a| a.contains("application/json"))
            {
                Resp::json(
                    200,
                    &json!({"access_token": token, "token_type": "bearer", "scope": "read:org,user:email"}),
                )
            } else {
                let mut resp = Resp::empty(200);
                resp.body = format!(
                    "access_token={token}&scope=read%3Aorg%2Cuser%3Aemail&token_type=bearer"
                )
                .into_bytes();
                resp.header("content-type", "application/x-www-form-urlencoded")
            }
        }
        (_, p) if p.starts_with("/api/v3/") => {
            let delay = s.api_delay;
            let mut resp = api(&s, r, &p["/api/v3".len()..]);
            resp.delay = delay;
            resp
        }
        _ => gh_error(404, "Not Found"),
    }
}

fn api(s: &GhState, r: &Req, path: &str) -> Resp {
    if let Some(status) = s.api_status {
        return gh_error(status, "Server Error");
    }
    let token = r.token().unwrap_or_default();
    // The repo owner's token only checks collaborators.
    if token == OWNER_TOKEN {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let ["repos", owner, name, "collaborators", user] = parts.as_slice() {
            let repo = format!("{owner}/{name}");
            let ok = s
                .collaborators
                .get(&repo)
                .is_some_and(|c| c.iter().any(|u| u == user));
            return if ok {
                Resp::empty(204)
            } else {
                gh_error(404, "Not Found")
            };
        }
        return gh_error(404, "Not Found");
    }
    let Some(user) = s.tokens.get(&token).and_then(|l| s.users.get(l)) else {
        return gh_error(401, "Bad credentials");
    };
    match path {
        "/user" => Resp::json(200, &json!({"login": user.login, "id": user.id, "node_id": "MDQ6VXNlcjE=", "type": "User", "name": user.login, "email": null})),
        "/user/emails" => Resp::json(
            200,
            &serde_json::Value::Array(
                user.emails
                    .iter()
                    .map(|(e, p, v)| json!({"email": e, "primary": p, "verified": v, "visibility": if *p {"private"} else {"null"}}))
                    .collect(),
            ),
        ),
        "/user/orgs" => paged(
            r,
            user.orgs.iter().map(|o| json!({"login": o, "id": 1, "url": format!("https://api.github.com/orgs/{o}")})).collect(),
            s.page_size,
        ),
        "/user/teams" => paged(
            r,
            user.teams
                .iter()
                .map(|(o, t)| json!({"id": 1, "name": t, "slug": t, "privacy": "closed", "organization": {"login": o, "id": 1}}))
                .collect(),
            s.page_size,
        ),
        p => {
            let parts: Vec<&str> = p.trim_start_matches('/').split('/').collect();
            if let ["repos", owner, name] = parts.as_slice() {
                let repo = format!("{owner}/{name}");
                return match user.repos.get(&repo) {
                    Some((private, pull, push)) => Resp::json(200, &json!({"full_name": repo, "private": private, "permissions": {"admin": false, "maintain": false, "push": push, "triage": pull, "pull": pull}})),
                    None => gh_error(404, "Not Found"),
                };
            }
            gh_error(404, "Not Found")
        }
    }
}
