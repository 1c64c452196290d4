//! A fake of LinkedIn's OAuth 2.0 and the v2 API parts oauth2-proxy's LinkedIn provider uses,
//! as LinkedIn documents them: `/oauth/v2/authorization`, `/uas/oauth2/accessToken` (client id
//! and secret as parameters; `{"access_token", "expires_in"}`; RFC 6749 errors),
//! `GET /v2/emailAddress?q=members&projection=(elements*(handle~))` and `GET /v2/me` with a
//! Bearer token. API errors: `{"serviceErrorCode", "message", "status"}`.

use std::collections::HashMap;

use serde_json::json;

use super::oauth::{Fake, Grants, HasGrants};
use super::server::{Req, Resp};

/// email per user name.
#[derive(Default)]
pub struct LiState {
    pub grants: Grants,
    pub users: HashMap<String, String>,
}

impl HasGrants for LiState {
    fn grants(&mut self) -> &mut Grants {
        &mut self.grants
    }
}

pub type LinkedInFake = Fake<LiState>;

fn api_error(status: u16, code: u32, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"serviceErrorCode": code, "message": message, "status": status}),
    )
}

/// User `hsimpson`.
pub async fn start() -> LinkedInFake {
    let mut s = LiState::default();
    s.grants.current = "hsimpson".into();
    s.users
        .insert("hsimpson".into(), "hsimpson@example.com".into());
    Fake::start(s, handle).await
}

fn handle(s: &mut LiState, r: &Req) -> Resp {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/oauth/v2/authorization") => s.grants.authorize(r).unwrap_or_else(|| {
            Resp::json(400, &json!({"error": "invalid_request", "error_description": "A required parameter \"client_id\" is missing"}))
        }),
        ("POST", "/uas/oauth2/accessToken") => {
            s.grants.token_requests += 1;
            if s.grants.client(r).is_none() {
                return Resp::json(401, &json!({"error": "invalid_client", "error_description": "Client authentication failed"}));
            }
            let Some(user) = s.grants.redeem(r) else {
                return Resp::json(400, &json!({"error": "invalid_request", "error_description": "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired."}));
            };
            let token = s.grants.issue(&user, "AQV");
            Resp::json(200, &json!({"access_token": token, "expires_in": 5184000}))
        }
        ("GET", p @ ("/v2/emailAddress" | "/v2/me")) => {
            if let Some(status) = s.grants.api_status {
                return api_error(status, 0, "Internal Server Error");
            }
            let Some(user) = s.grants.bearer_user(r) else {
                return api_error(401, 65600, "Invalid access token");
            };
            if p == "/v2/me" {
                return Resp::json(200, &json!({"localizedFirstName": "Homer", "localizedLastName": "Simpson", "id": format!("{user}-id")}));
            }
            if r.query.get("q").map(String::as_str) != Some("members")
                || r.query.get("projection").map(String::as_str) != Some("(elements*(handle~))")
            {
                return api_error(400, 100, "Invalid query parameters");
            }
            Resp::json(200, &json!({"elements": [{"handle": "urn:li:emailAddress:3775708763", "handle~": {"emailAddress": s.users[&user]}}]}))
        }
        _ => api_error(404, 0, "Not Found"),
    }
}
