//! GitLab as a fake: OpenID Connect on an [`OidcFake`] (groups in userinfo, as GitLab sends
//! them) plus `GET /api/v4/projects/{url-encoded path}` with the user's token, answering
//! `permissions.project_access.access_level` or 404 `{"message":"404 Project Not Found"}`.

use std::sync::Arc;

use serde_json::json;

use super::oidc::OidcFake;
use super::server::Resp;

/// Users: `gil` (groups acme, acme/platform; no project access) and `hal` (group other;
/// Developer (30) on acme/app, Guest (10) on acme/docs).
pub async fn gitlab_fake() -> OidcFake {
    let fake = OidcFake::start("").await;
    fake.add_user(
        "gil",
        json!({"email": "gil@example.com", "email_verified": true}),
    );
    fake.set_userinfo("gil", json!({"groups": ["acme", "acme/platform"]}));
    fake.add_user(
        "hal",
        json!({"email": "hal@example.com", "email_verified": true}),
    );
    fake.set_userinfo("hal", json!({"groups": ["other"]}));
    fake.set_api(Arc::new(|r, user| {
        if !r.path.starts_with("/api/v4/projects/") {
            return None;
        }
        let id = &r.path["/api/v4/projects/".len()..];
        let level = match (user, id) {
            (Some("hal"), "acme%2Fapp") => Some(30),
            (Some("hal"), "acme%2Fdocs") => Some(10),
            _ => None,
        };
        Some(match level {
            Some(l) => Resp::json(200, &json!({"id": 7, "path_with_namespace": "acme/app", "archived": false,
                "permissions": {"project_access": {"access_level": l, "notification_level": 3}, "group_access": null}})),
            None => Resp::json(404, &json!({"message": "404 Project Not Found"})),
        })
    }));
    fake
}
