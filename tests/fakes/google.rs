//! Google as a fake: OpenID Connect (hosted domain `hd` claim) on an [`OidcFake`], plus the
//! two services group checks use: the service-account token endpoint (RFC 7523 JWT bearer
//! grant, `POST /sa-token`) and the Admin SDK Directory API's `groups.list`
//! (`GET /admin/directory/v1/groups?userKey=...`, paged with `nextPageToken`), with Google's
//! JSON error shapes.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};

use super::oidc::{OidcFake, KEY_PEM};
use super::server::Resp;

/// The Workspace admin the service account must act as.
pub const ADMIN_EMAIL: &str = "admin@corp.example";
/// The scope the assertion must ask for.
pub const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.group.readonly";

fn jwt_payload(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap_or("e30");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// Users: `ann` (hd corp.example, in admins@, eng@, all@), `pat` (corp.example address but
/// no `hd`: a consumer account), `gus` (gmail.com), `una` (unverified email), `ned` (hd
/// corp.example, only in all@).
pub async fn google_fake() -> OidcFake {
    let fake = OidcFake::start("").await;
    fake.add_user(
        "ann",
        json!({"email": "ann@corp.example", "email_verified": true, "hd": "corp.example"}),
    );
    fake.add_user(
        "pat",
        json!({"email": "pat@corp.example", "email_verified": true}),
    );
    fake.add_user(
        "gus",
        json!({"email": "gus@gmail.com", "email_verified": true}),
    );
    fake.add_user(
        "una",
        json!({"email": "una@corp.example", "email_verified": false, "hd": "corp.example"}),
    );
    fake.add_user(
        "ned",
        json!({"email": "ned@corp.example", "email_verified": true, "hd": "corp.example"}),
    );
    let token_uri = format!("{}/sa-token", fake.base());
    fake.set_api(Arc::new(move |r, _| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/sa-token") => {
            let f = r.form();
            if f.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
                return Some(Resp::json(400, &json!({"error": "unsupported_grant_type"})));
            }
            let claims = jwt_payload(f.get("assertion").map(String::as_str).unwrap_or("a.e30.c"));
            if claims["sub"] != ADMIN_EMAIL || claims["aud"] != token_uri.as_str()
                || claims["scope"] != DIRECTORY_SCOPE
            {
                return Some(Resp::json(400, &json!({"error": "invalid_grant", "error_description": "Invalid JWT"})));
            }
            Some(Resp::json(200, &json!({"access_token": "ya29.sa", "expires_in": 3599, "token_type": "Bearer"})))
        }
        ("GET", "/admin/directory/v1/groups") => {
            if r.token().as_deref() != Some("ya29.sa") {
                return Some(Resp::json(401, &json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}})));
            }
            let user = r.query.get("userKey").cloned().unwrap_or_default();
            let groups: Vec<&str> = match user.as_str() {
                "ann@corp.example" => vec!["all@corp.example", "eng@corp.example", "admins@corp.example"],
                _ => vec!["all@corp.example"],
            };
            // Two per page, with nextPageToken.
            let start: usize = r.query.get("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
            let page: Vec<Value> = groups.iter().skip(start).take(2).map(|g| json!({"kind": "admin#directory#group", "id": "x", "email": g, "name": g})).collect();
            let mut body = json!({"kind": "admin#directory#groups", "etag": "\"e\"", "groups": page});
            if start + 2 < groups.len() {
                body["nextPageToken"] = json!((start + 2).to_string());
            }
            Some(Resp::json(200, &body))
        }
        _ => None,
    }));
    fake
}

/// Writes a service-account key file whose `token_uri` is the fake's and returns its path.
pub fn service_account_file(fake: &OidcFake) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "authproxy-sa-{}-{}.json",
        std::process::id(),
        fake.server.addr.port()
    ));
    let key = json!({
        "type": "service_account",
        "project_id": "test",
        "private_key_id": "k1",
        "private_key": KEY_PEM,
        "client_email": "authproxy@test.iam.gserviceaccount.com",
        "client_id": "123",
        "token_uri": format!("{}/sa-token", fake.base()),
    });
    std::fs::write(&path, key.to_string()).expect("write service-account key");
    path
}
