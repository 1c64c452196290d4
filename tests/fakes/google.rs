//! Google as a fake: OpenID Connect (hosted domain `hd` claim) on an [`OidcFake`], plus the
//! services group checks and Application Default Credentials use, as Google documents them:
//! the OAuth 2.0 token endpoint (RFC 7523 JWT bearer grant with domain-wide delegation, and
//! the refresh grant of gcloud's `authorized_user` credentials; `POST /sa-token`), the GCE/GKE
//! metadata server (`/computeMetadata/v1/instance/service-accounts/default/{token,email}`,
//! `Metadata-Flavor: Google`), IAM Credentials `signJwt`
//! (`POST /v1/projects/-/serviceAccounts/{email}:signJwt` → `{keyId, signedJwt}`), and the
//! Admin SDK Directory API's `groups.list` (`GET /admin/directory/v1/groups?userKey=...`,
//! paged with `nextPageToken`) and `users.get` (`externalIds`), with Google's JSON error
//! shapes.

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
        ("POST", "/sa-token") => Some(token_endpoint(r, &token_uri)),
        ("GET", p) if p.starts_with("/computeMetadata/v1/") => Some(metadata_server(r)),
        ("POST", p) if p.starts_with("/v1/projects/-/serviceAccounts/") => Some(sign_jwt(r)),
        ("GET", p) if p.starts_with("/admin/directory/v1/users/") => Some(users_get(r)),
        ("GET", "/admin/directory/v1/groups") => {
            if !matches!(r.token().as_deref(), Some(DELEGATED_TOKEN | DELEGATED_USER_TOKEN)) {
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

/// The Admin SDK user scopes `google_admin_api_user_scope` selects.
pub const USER_READONLY_SCOPE: &str =
    "https://www.googleapis.com/auth/admin.directory.user.readonly";
/// The service account of the metadata server (GKE workload identity / GCE).
pub const METADATA_ACCOUNT: &str = "node-sa@proj.iam.gserviceaccount.com";
/// The service account the metadata account may impersonate (Token Creator role).
pub const TARGET_PRINCIPAL: &str = "dir-reader@proj.iam.gserviceaccount.com";
/// The gcloud `authorized_user` refresh token of [`adc_user_file`].
pub const ADC_REFRESH_TOKEN: &str = "1//adc-refresh";
/// Ann's organization ID (Directory `externalIds`, type organization).
pub const ANN_ORG_ID: &str = "ORG-4711";
const METADATA_TOKEN: &str = "ya29.metadata";
const ADC_USER_TOKEN: &str = "ya29.adc-user";
const DELEGATED_TOKEN: &str = "ya29.sa";
const DELEGATED_USER_TOKEN: &str = "ya29.sa-user";

fn google_error(code: u16, status: &str, message: &str) -> Resp {
    Resp::json(
        code,
        &json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

/// Google's OAuth 2.0 token endpoint: the JWT bearer grant (RFC 7523) of a service account
/// acting as the admin (domain-wide delegation), whose scopes decide the token; and the
/// refresh grant of gcloud's `authorized_user` credentials.
fn token_endpoint(r: &super::server::Req, token_uri: &str) -> Resp {
    let f = r.form();
    match f.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let claims = jwt_payload(f.get("assertion").map(String::as_str).unwrap_or("a.e30.c"));
            let scopes: Vec<&str> = claims["scope"].as_str().unwrap_or("").split(' ').collect();
            if claims["sub"] != ADMIN_EMAIL
                || claims["aud"] != token_uri
                || !scopes.contains(&DIRECTORY_SCOPE)
            {
                return Resp::json(
                    400,
                    &json!({"error": "invalid_grant", "error_description": "Invalid JWT"}),
                );
            }
            let token = if scopes.contains(&USER_READONLY_SCOPE) {
                DELEGATED_USER_TOKEN
            } else {
                DELEGATED_TOKEN
            };
            Resp::json(
                200,
                &json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
            )
        }
        Some("refresh_token")
            if f.get("refresh_token").map(String::as_str) == Some(ADC_REFRESH_TOKEN)
                && f.get("client_id").map(String::as_str)
                    == Some("adc-client.apps.googleusercontent.com")
                && f.get("client_secret").map(String::as_str) == Some("adc-secret") =>
        {
            Resp::json(
                200,
                &json!({"access_token": ADC_USER_TOKEN, "expires_in": 3599, "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/cloud-platform"}),
            )
        }
        Some("refresh_token") => Resp::json(
            400,
            &json!({"error": "invalid_grant", "error_description": "Bad Request"}),
        ),
        _ => Resp::json(400, &json!({"error": "unsupported_grant_type"})),
    }
}

/// The GCE / GKE metadata server: `instance/service-accounts/default/token` and `.../email`,
/// only with `Metadata-Flavor: Google`.
fn metadata_server(r: &super::server::Req) -> Resp {
    if r.headers.get("metadata-flavor").map(String::as_str) != Some("Google") {
        return Resp::empty(403);
    }
    match r.path.as_str() {
        "/computeMetadata/v1/instance/service-accounts/default/token" => Resp::json(
            200,
            &json!({"access_token": METADATA_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
        ),
        "/computeMetadata/v1/instance/service-accounts/default/email" => Resp {
            status: 200,
            headers: vec![("content-type".into(), "application/text".into())],
            body: METADATA_ACCOUNT.as_bytes().to_vec(),
            delay: None,
        },
        _ => Resp::empty(404),
    }
}

/// IAM Credentials `projects.serviceAccounts.signJwt`: the caller's token must be allowed to
/// impersonate the account (the metadata account and the `authorized_user` may impersonate
/// [`TARGET_PRINCIPAL`]; the metadata account also itself), the payload's `iss` must be
/// that account. Answers `{keyId, signedJwt}`.
fn sign_jwt(r: &super::server::Req) -> Resp {
    let Some(name) = r
        .path
        .strip_prefix("/v1/projects/-/serviceAccounts/")
        .and_then(|p| p.strip_suffix(":signJwt"))
    else {
        return google_error(404, "NOT_FOUND", "Not Found");
    };
    let allowed = match r.token().as_deref() {
        Some(METADATA_TOKEN) => [TARGET_PRINCIPAL, METADATA_ACCOUNT].contains(&name),
        Some(ADC_USER_TOKEN) => name == TARGET_PRINCIPAL,
        _ => {
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            )
        }
    };
    if !allowed {
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Permission 'iam.serviceAccounts.signJwt' denied on resource (or it may not exist).",
        );
    }
    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let Some(payload) = body["payload"]
        .as_str()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    };
    if payload["iss"] != name {
        return google_error(400, "INVALID_ARGUMENT", "iss must be the service account");
    }
    Resp::json(
        200,
        &json!({"keyId": "k1", "signedJwt": super::oidc::sign(&payload)}),
    )
}

/// Directory `users.get`: needs a user scope; Ann has an organization external ID.
fn users_get(r: &super::server::Req) -> Resp {
    if r.token().as_deref() != Some(DELEGATED_USER_TOKEN) {
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
        );
    }
    let key = r.path.trim_start_matches("/admin/directory/v1/users/");
    match key {
        "ann@corp.example" => Resp::json(
            200,
            &json!({"kind": "admin#directory#user", "primaryEmail": key,
            "externalIds": [{"value": "emp-1", "type": "custom", "customType": "badge"}, {"value": ANN_ORG_ID, "type": "organization"}]}),
        ),
        "ned@corp.example" => Resp::json(
            200,
            &json!({"kind": "admin#directory#user", "primaryEmail": key}),
        ),
        _ => google_error(404, "NOT_FOUND", "Resource Not Found: userKey"),
    }
}

/// Writes gcloud's `authorized_user` Application Default Credentials whose `token_uri` is
/// the fake's (gcloud omits it; Google's libraries then use oauth2.googleapis.com).
pub fn adc_user_file(fake: &OidcFake) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "authproxy-adc-{}-{}.json",
        std::process::id(),
        fake.server.addr.port()
    ));
    let creds = json!({
        "type": "authorized_user",
        "client_id": "adc-client.apps.googleusercontent.com",
        "client_secret": "adc-secret",
        "refresh_token": ADC_REFRESH_TOKEN,
        "token_uri": format!("{}/sa-token", fake.base()),
    });
    std::fs::write(&path, creds.to_string()).expect("write ADC file");
    path
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
