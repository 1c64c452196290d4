//! A fake of meta.sr.ht's OAuth 2.0 and GraphQL API, as SourceHut documents them:
//! `/oauth2/authorize`, `/oauth2/access-token` (client credentials by HTTP Basic or in the
//! body; RFC 6749 errors) and `POST /query` with a Bearer token and a JSON `{"query": ...}`
//! body, answering `{"data": {"me": {"username", "email"}}}` or GraphQL `errors`.

use std::collections::HashMap;

use serde_json::json;

use super::oauth::{Fake, Grants, HasGrants};
use super::server::{Req, Resp};

/// email per username.
#[derive(Default)]
pub struct SrhtState {
    pub grants: Grants,
    pub users: HashMap<String, String>,
}

impl HasGrants for SrhtState {
    fn grants(&mut self) -> &mut Grants {
        &mut self.grants
    }
}

pub type SourceHutFake = Fake<SrhtState>;

fn gql_error(status: u16, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"errors": [{"message": message}], "data": null}),
    )
}

/// User `drew`.
pub async fn start() -> SourceHutFake {
    let mut s = SrhtState::default();
    s.grants.current = "drew".into();
    s.users.insert("drew".into(), "drew@example.org".into());
    Fake::start(s, handle).await
}

fn handle(s: &mut SrhtState, r: &Req) -> Resp {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/oauth2/authorize") => s.grants.authorize(r).unwrap_or_else(|| {
            Resp::json(
                400,
                &json!({"error": "invalid_request", "error_description": "Invalid client ID"}),
            )
        }),
        ("POST", "/oauth2/access-token") => {
            s.grants.token_requests += 1;
            if s.grants.client(r).is_none() {
                return Resp::json(
                    400,
                    &json!({"error": "invalid_client", "error_description": "Invalid client ID or secret"}),
                );
            }
            let Some(user) = s.grants.redeem(r) else {
                return Resp::json(
                    400,
                    &json!({"error": "invalid_grant", "error_description": "Invalid authorization code"}),
                );
            };
            let token = s.grants.issue(&user, "srht-");
            Resp::json(
                200,
                &json!({"access_token": token, "token_type": "bearer", "expires_in": 31536000, "scope": "meta.sr.ht/PROFILE:RO"}),
            )
        }
        ("POST", "/query") => {
            if let Some(status) = s.grants.api_status {
                return gql_error(status, "Internal system error");
            }
            let Some(user) = s.grants.bearer_user(r) else {
                return gql_error(403, "Invalid or expired OAuth 2.0 bearer token");
            };
            let q: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            let query = q["query"].as_str().unwrap_or("");
            if !query.contains("me") || !query.contains("username") || !query.contains("email") {
                return gql_error(422, "Cannot query field");
            }
            Resp::json(
                200,
                &json!({"data": {"me": {"username": user, "email": s.users[&user]}}}),
            )
        }
        ("GET", "/profile") => {
            let mut resp = Resp::empty(200);
            resp.body = b"<!doctype html><title>meta.sr.ht</title>".to_vec();
            resp.header("content-type", "text/html")
        }
        _ => gql_error(404, "Not found"),
    }
}
