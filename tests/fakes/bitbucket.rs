//! A fake of Bitbucket Cloud's OAuth 2.0 and the REST API 2.0 parts authproxy uses, following
//! Atlassian's documentation: `/site/oauth2/authorize`, `/site/oauth2/access_token` (client
//! credentials by HTTP Basic or in the body; RFC 6749 errors with 400), and, with
//! `Authorization: Bearer` only (Bitbucket no longer accepts `?access_token=`),
//! `/2.0/user/emails`, `/2.0/user/workspaces` (`workspace_access` objects) and
//! `/2.0/repositories/{workspace}?role=…&q=full_name="…"`, all paged with `pagelen`, `page`,
//! `size` and a `next` link. Bad tokens get 401 `{"type":"error","error":{"message":…}}`.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::oauth::{Fake, Grants, HasGrants};
use super::server::{Req, Resp};

/// A Bitbucket account.
#[derive(Clone, Debug, Default)]
pub struct BbUser {
    /// `(email, is_primary, is_confirmed)`.
    pub emails: Vec<(String, bool, bool)>,
    /// Workspace slugs the user is a member of.
    pub workspaces: Vec<String>,
    /// `workspace/repo` the user may contribute to.
    pub contributes_to: Vec<String>,
}

#[derive(Default)]
pub struct BbState {
    pub grants: Grants,
    pub users: HashMap<String, BbUser>,
    /// Items per page (forces paging).
    pub pagelen: usize,
}

impl HasGrants for BbState {
    fn grants(&mut self) -> &mut Grants {
        &mut self.grants
    }
}

pub type BitbucketFake = Fake<BbState>;

fn error(status: u16, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"type": "error", "error": {"message": message}}),
    )
}

/// Start the fake with `users`; the first approves authorizations.
pub async fn start(users: Vec<(&str, BbUser)>) -> BitbucketFake {
    let mut s = BbState {
        pagelen: 1,
        ..Default::default()
    };
    s.grants.current = users
        .first()
        .map(|(n, _)| (*n).to_owned())
        .unwrap_or_default();
    s.users = users.into_iter().map(|(n, u)| (n.to_owned(), u)).collect();
    Fake::start(s, handle).await
}

fn page(s: &BbState, r: &Req, items: Vec<Value>) -> Resp {
    let pagelen = s.pagelen.max(1);
    let n: usize = r
        .query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let chunk: Vec<Value> = items
        .iter()
        .skip((n - 1) * pagelen)
        .take(pagelen)
        .cloned()
        .collect();
    let mut body = json!({"pagelen": pagelen, "page": n, "size": items.len(), "values": chunk});
    if n * pagelen < items.len() {
        let host = r.headers.get("host").cloned().unwrap_or_default();
        let mut next = url::Url::parse(&format!("http://{host}{}", r.path)).unwrap();
        {
            let mut q = next.query_pairs_mut();
            for (k, v) in &r.query {
                if k != "page" {
                    q.append_pair(k, v);
                }
            }
            q.append_pair("page", &(n + 1).to_string());
        }
        body["next"] = Value::String(next.into());
    }
    Resp::json(200, &body)
}

fn handle(s: &mut BbState, r: &Req) -> Resp {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/site/oauth2/authorize") => s
            .grants
            .authorize(r)
            .unwrap_or_else(|| error(400, "Invalid client_id")),
        ("POST", "/site/oauth2/access_token") => {
            s.grants.token_requests += 1;
            if s.grants.client(r).is_none() {
                return Resp::json(
                    400,
                    &json!({"error": "invalid_client", "error_description": "Invalid OAuth client credentials"}),
                );
            }
            let Some(user) = s.grants.redeem(r) else {
                return Resp::json(
                    400,
                    &json!({"error": "invalid_grant", "error_description": "The specified code is not valid."}),
                );
            };
            let token = s.grants.issue(&user, "bb-at-");
            Resp::json(
                200,
                &json!({"access_token": token, "scopes": "email account repository", "expires_in": 7200, "refresh_token": format!("bb-rt-{token}"), "token_type": "bearer", "state": "authorization_code"}),
            )
        }
        (_, p) if p.starts_with("/2.0/") => api(s, r, p),
        _ => error(404, "Resource not found"),
    }
}

fn api(s: &BbState, r: &Req, p: &str) -> Resp {
    if let Some(status) = s.grants.api_status {
        return error(status, "Something went wrong");
    }
    if r.query.contains_key("access_token") {
        return error(400, "Access tokens in the query string are no longer supported; use the Authorization header");
    }
    let Some(user) = s
        .grants
        .bearer_user(r)
        .and_then(|u| s.users.get(&u).cloned())
    else {
        return error(
            401,
            "Access token expired. Use your refresh token to obtain a new access token.",
        );
    };
    match p {
        "/2.0/user/emails" => page(
            s,
            r,
            user.emails
                .iter()
                .map(|(e, p, c)| json!({"type": "email", "email": e, "is_primary": p, "is_confirmed": c, "links": {"self": {"href": format!("https://api.bitbucket.org/2.0/user/emails/{e}")}}}))
                .collect(),
        ),
        "/2.0/user/workspaces" => page(
            s,
            r,
            user.workspaces
                .iter()
                .map(|w| json!({"type": "workspace_access", "administrator": false, "workspace": {"type": "workspace_base", "uuid": format!("{{{w}-uuid}}"), "slug": w, "name": w}}))
                .collect(),
        ),
        p if p.starts_with("/2.0/repositories/") => {
            let workspace = &p["/2.0/repositories/".len()..];
            if r.query.get("role").map(String::as_str) != Some("contributor") {
                return error(400, "role must be member, contributor, admin or owner");
            }
            // BBQL `full_name="ws/repo"`, the one filter authproxy sends.
            let wanted = r
                .query
                .get("q")
                .and_then(|q| q.strip_prefix("full_name=\""))
                .and_then(|q| q.strip_suffix('"'));
            page(
                s,
                r,
                user.contributes_to
                    .iter()
                    .filter(|full| full.split('/').next() == Some(workspace))
                    .filter(|full| wanted.is_none_or(|w| w == full.as_str()))
                    .map(|full| json!({"type": "repository", "full_name": full, "is_private": true}))
                    .collect(),
            )
        }
        _ => error(404, "Resource not found"),
    }
}
