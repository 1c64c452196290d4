//! A fake of a Nextcloud instance's OAuth 2.0 app and OCS user API, as Nextcloud documents
//! them: `/index.php/apps/oauth2/authorize`, `/index.php/apps/oauth2/api/v1/token` (client
//! credentials in the body or by HTTP Basic; `{"error":"invalid_request"}` with 400), and
//! `GET /ocs/v2.php/cloud/user?format=json` with a Bearer token and the required
//! `OCS-APIRequest: true` header (412 without it). OCS answers wrap everything in
//! `{"ocs": {"meta": {status, statuscode, message}, "data": ...}}`.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::oauth::{Fake, Grants, HasGrants};
use super::server::{Req, Resp};

/// `(email, groups)` per user id.
#[derive(Default)]
pub struct NcState {
    pub grants: Grants,
    pub users: HashMap<String, (Option<String>, Vec<String>)>,
}

impl HasGrants for NcState {
    fn grants(&mut self) -> &mut Grants {
        &mut self.grants
    }
}

pub type NextcloudFake = Fake<NcState>;

fn ocs(status: u16, statuscode: u16, message: &str, data: Value) -> Resp {
    let state = if status < 300 { "ok" } else { "failure" };
    Resp::json(
        status,
        &json!({"ocs": {"meta": {"status": state, "statuscode": statuscode, "message": message, "totalitems": "", "itemsperpage": ""}, "data": data}}),
    )
}

/// Users `alice` (groups admin, staff) and `nomail` (no address set).
pub async fn start() -> NextcloudFake {
    let mut s = NcState::default();
    s.grants.current = "alice".into();
    s.users.insert(
        "alice".into(),
        (
            Some("alice@example.com".into()),
            vec!["admin".into(), "staff".into()],
        ),
    );
    s.users
        .insert("nomail".into(), (None, vec!["staff".into()]));
    Fake::start(s, handle).await
}

fn handle(s: &mut NcState, r: &Req) -> Resp {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/index.php/apps/oauth2/authorize") => s
            .grants
            .authorize(r)
            .unwrap_or_else(|| Resp::json(400, &json!({"error": "invalid_request"}))),
        ("POST", "/index.php/apps/oauth2/api/v1/token") => {
            s.grants.token_requests += 1;
            if s.grants.client(r).is_none() {
                return Resp::json(400, &json!({"error": "invalid_client"}));
            }
            let Some(user) = s.grants.redeem(r) else {
                return Resp::json(400, &json!({"error": "invalid_request"}));
            };
            let token = s.grants.issue(&user, "nc-at-");
            Resp::json(
                200,
                &json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "refresh_token": format!("nc-rt-{token}"), "user_id": user}),
            )
        }
        ("GET", "/ocs/v2.php/cloud/user") => {
            if r.headers.get("ocs-apirequest").map(String::as_str) != Some("true") {
                return Resp::json(412, &json!({"message": "CSRF check failed"}));
            }
            if let Some(status) = s.grants.api_status {
                return ocs(status, 996, "Internal Server Error", json!([]));
            }
            let Some(id) = s.grants.bearer_user(r) else {
                return ocs(401, 997, "Current user is not logged in", json!([]));
            };
            let (email, groups) = s.users[&id].clone();
            ocs(
                200,
                200,
                "OK",
                json!({"enabled": true, "storageLocation": format!("/var/www/data/{id}"), "id": id, "lastLogin": 1700000000000u64, "backend": "Database", "subadmin": [], "quota": {"used": 0}, "email": email, "additional_mail": [], "display-name": id, "displayname": id, "phone": "", "address": "", "website": "", "twitter": "", "groups": groups, "language": "en", "locale": ""}),
            )
        }
        _ => Resp::json(404, &json!({"message": "Not found"})),
    }
}
