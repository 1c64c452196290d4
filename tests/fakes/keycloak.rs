//! A fake of a Keycloak realm's endpoints as the legacy `keycloak` provider uses them (plain
//! OAuth 2.0, no ID token checked), following Keycloak's documentation:
//! `/realms/{realm}/protocol/openid-connect/auth`, `.../token` (client credentials in the body
//! or by HTTP Basic; `{"error", "error_description"}` with 400 / 401) and `.../userinfo` with
//! a Bearer token (`sub`, `email`, `email_verified`, `preferred_username`, `groups` as full
//! paths; 401 `{"error":"invalid_token"}` with `WWW-Authenticate`).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::oauth::{Fake, Grants, HasGrants};
use super::server::{Req, Resp};

pub const REALM: &str = "corp";

#[derive(Default)]
pub struct KcState {
    pub grants: Grants,
    /// userinfo claims per user name.
    pub users: HashMap<String, Value>,
}

impl HasGrants for KcState {
    fn grants(&mut self) -> &mut Grants {
        &mut self.grants
    }
}

pub type KeycloakFake = Fake<KcState>;

/// `{base}/realms/corp/protocol/openid-connect/{endpoint}`.
pub fn endpoint(fake: &KeycloakFake, endpoint: &str) -> String {
    fake.url(&format!(
        "/realms/{REALM}/protocol/openid-connect/{endpoint}"
    ))
}

/// Users `kim` (group /staff), `vic` (group /guests) and `una` (unverified address).
pub async fn start() -> KeycloakFake {
    let mut s = KcState::default();
    s.grants.current = "kim".into();
    for (name, groups, verified) in [
        ("kim", vec!["/staff", "/staff/ops"], true),
        ("vic", vec!["/guests"], true),
        ("una", vec!["/staff"], false),
    ] {
        s.users.insert(
            name.into(),
            json!({"sub": format!("{name}-uuid"), "email_verified": verified, "name": name, "preferred_username": name, "given_name": name, "family_name": "Example", "email": format!("{name}@example.com"), "groups": groups}),
        );
    }
    Fake::start(s, handle).await
}

fn handle(s: &mut KcState, r: &Req) -> Resp {
    let prefix = format!("/realms/{REALM}/protocol/openid-connect/");
    let Some(endpoint) = r.path.strip_prefix(&prefix) else {
        return Resp::json(404, &json!({"error": "Realm does not exist"}));
    };
    match (r.method.as_str(), endpoint) {
        ("GET", "auth") => s.grants.authorize(r).unwrap_or_else(|| {
            Resp::json(
                400,
                &json!({"error": "invalid_request", "error_description": "Client not found"}),
            )
        }),
        ("POST", "token") => {
            s.grants.token_requests += 1;
            if s.grants.client(r).is_none() {
                return Resp::json(
                    401,
                    &json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}),
                );
            }
            let Some(user) = s.grants.redeem(r) else {
                return Resp::json(
                    400,
                    &json!({"error": "invalid_grant", "error_description": "Code not valid"}),
                );
            };
            let token = s.grants.issue(&user, "kc-at-");
            Resp::json(
                200,
                &json!({"access_token": token, "expires_in": 300, "refresh_expires_in": 1800, "refresh_token": format!("kc-rt-{token}"), "token_type": "Bearer", "not-before-policy": 0, "session_state": "5c1d", "scope": "email profile"}),
            )
        }
        ("GET", "userinfo") => {
            if let Some(status) = s.grants.api_status {
                // What the load balancer in front of a Keycloak that is down answers.
                let mut resp = Resp::empty(status);
                resp.body = b"<html><body><h1>503 Service Unavailable</h1></body></html>".to_vec();
                return resp.header("content-type", "text/html");
            }
            match s.grants.bearer_user(r) {
                Some(user) => Resp::json(200, &s.users[&user]),
                None => Resp::json(401, &json!({"error": "invalid_token", "error_description": "Token verification failed"}))
                    .header("www-authenticate", "Bearer realm=\"corp\", error=\"invalid_token\", error_description=\"Token verification failed\""),
            }
        }
        _ => Resp::json(404, &json!({"error": "unknown_error"})),
    }
}
