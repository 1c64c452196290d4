//! A fake of Facebook Login and the Graph API parts authproxy uses, as Meta documents them:
//! `/v2.5/dialog/oauth`, `/v2.5/oauth/access_token` (client id and secret as parameters),
//! and `GET /v2.5/me?fields=name,email` with the user access token (Bearer header or
//! `access_token` parameter). Errors are Graph API error objects
//! (`{"error": {"message", "type": "OAuthException", "code", "fbtrace_id"}}`), 400 for a bad
//! code or token (code 190).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::oauth::{Fake, Grants, HasGrants};
use super::server::{Req, Resp};

/// `(id, email if granted)` per user name.
#[derive(Default)]
pub struct FbState {
    pub grants: Grants,
    pub users: HashMap<String, (String, Option<String>)>,
}

impl HasGrants for FbState {
    fn grants(&mut self) -> &mut Grants {
        &mut self.grants
    }
}

pub type FacebookFake = Fake<FbState>;

fn graph_error(status: u16, message: &str, code: u32) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf123"}}),
    )
}

/// Users `ann` (email granted) and `nomail` (declined the email permission).
pub async fn start() -> FacebookFake {
    let mut s = FbState::default();
    s.grants.current = "ann".into();
    s.users.insert(
        "ann".into(),
        ("10158".into(), Some("ann@example.com".into())),
    );
    s.users.insert("nomail".into(), ("10159".into(), None));
    Fake::start(s, handle).await
}

fn handle(s: &mut FbState, r: &Req) -> Resp {
    match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/v2.5/dialog/oauth") => s.grants.authorize(r).unwrap_or_else(|| {
            graph_error(
                400,
                "Invalid App ID: The provided app ID does not look like a valid app ID.",
                101,
            )
        }),
        (_, "/v2.5/oauth/access_token") => {
            s.grants.token_requests += 1;
            if s.grants.client(r).is_none() {
                return graph_error(400, "Error validating client secret.", 1);
            }
            let Some(user) = s.grants.redeem(r) else {
                return graph_error(400, "This authorization code has been used.", 100);
            };
            let token = s.grants.issue(&user, "EAAfb");
            Resp::json(
                200,
                &json!({"access_token": token, "token_type": "bearer", "expires_in": 5183944}),
            )
        }
        ("GET", "/v2.5/me") => {
            if let Some(status) = s.grants.api_status {
                return graph_error(status, "An unknown error has occurred.", 1);
            }
            let user = s.grants.bearer_user(r).or_else(|| {
                r.query
                    .get("access_token")
                    .and_then(|t| s.grants.tokens.get(t).cloned())
            });
            let Some((id, email)) = user
                .and_then(|u| s.users.get(&u).cloned().map(|v| (u, v)))
                .map(|(u, (id, e))| {
                    let _ = u;
                    (id, e)
                })
            else {
                return graph_error(
                    400,
                    "Invalid OAuth access token - Cannot parse access token",
                    190,
                );
            };
            let fields = r
                .query
                .get("fields")
                .cloned()
                .unwrap_or_else(|| "name,id".into());
            let mut me = json!({"id": id});
            for f in fields.split(',') {
                match f {
                    "name" => me["name"] = Value::String(format!("User {id}")),
                    "email" => {
                        if let Some(e) = &email {
                            me["email"] = Value::String(e.clone());
                        }
                    }
                    _ => {}
                }
            }
            Resp::json(200, &me)
        }
        _ => graph_error(404, "Unknown path components", 2500),
    }
}
