//! A fake of DigitalOcean's OAuth API and account endpoint, as DigitalOcean documents them:
//! `/v1/oauth/authorize`, `/v1/oauth/token` (client id and secret as parameters; RFC 6749
//! errors) whose answer also carries `info`, and `GET /v2/account` with a Bearer token
//! (`{"account": {...}}`; 401 `{"id":"unauthorized","message":"Unable to authenticate you"}`).

use std::collections::HashMap;

use serde_json::json;

use super::oauth::{Fake, Grants, HasGrants};
use super::server::{Req, Resp};

/// `(email, email_verified)` per user name.
#[derive(Default)]
pub struct DoState {
    pub grants: Grants,
    pub users: HashMap<String, (String, bool)>,
}

impl HasGrants for DoState {
    fn grants(&mut self) -> &mut Grants {
        &mut self.grants
    }
}

pub type DigitalOceanFake = Fake<DoState>;

/// Users `sammy` (verified) and `una` (unverified address).
pub async fn start() -> DigitalOceanFake {
    let mut s = DoState::default();
    s.grants.current = "sammy".into();
    s.users
        .insert("sammy".into(), ("sammy@example.com".into(), true));
    s.users
        .insert("una".into(), ("una@example.com".into(), false));
    Fake::start(s, handle).await
}

fn handle(s: &mut DoState, r: &Req) -> Resp {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v1/oauth/authorize") => s.grants.authorize(r).unwrap_or_else(|| {
            Resp::json(400, &json!({"error": "invalid_request", "error_description": "The request is missing a required parameter."}))
        }),
        ("POST", "/v1/oauth/token") => {
            s.grants.token_requests += 1;
            if s.grants.client(r).is_none() {
                return Resp::json(401, &json!({"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}));
            }
            let Some(user) = s.grants.redeem(r) else {
                return Resp::json(400, &json!({"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}));
            };
            let token = s.grants.issue(&user, "doo_v1_");
            let (email, _) = s.users[&user].clone();
            Resp::json(200, &json!({"access_token": token, "token_type": "bearer", "expires_in": 2592000, "refresh_token": format!("dor_v1_{token}"), "scope": "read", "info": {"name": user, "email": email, "uuid": format!("{user}-uuid")}}))
        }
        ("GET", "/v2/account") => {
            if let Some(status) = s.grants.api_status {
                return Resp::json(status, &json!({"id": "service_unavailable", "message": "The service is temporarily unavailable."}));
            }
            let Some(user) = s.grants.bearer_user(r) else {
                return Resp::json(401, &json!({"id": "unauthorized", "message": "Unable to authenticate you"}));
            };
            let (email, verified) = s.users[&user].clone();
            Resp::json(200, &json!({"account": {"droplet_limit": 25, "floating_ip_limit": 5, "volume_limit": 10, "email": email, "name": user, "uuid": format!("{user}-uuid"), "email_verified": verified, "status": "active", "status_message": "", "team": {"uuid": "team-uuid", "name": "My Team"}}}))
        }
        _ => Resp::json(404, &json!({"id": "not_found", "message": "The resource you were accessing could not be found."})),
    }
}
