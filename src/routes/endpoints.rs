//! The proxy's own endpoints off the request path: `{prefix}/userinfo`, `/ready` and the
//! identity assertion's JWKS.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::auth::Lookup;
use crate::error::AppError;
use crate::response::{add_cookies, page};
use crate::Body;

impl App {
    /// `{prefix}/jwks.json` and `/.well-known/authproxy/jwks.json`: the identity assertion's
    /// public keys (404 when no assertion key is configured).
    pub(super) fn jwks(&self, ctx: &RequestCtx) -> Response<Body> {
        let Some(a) = &self.assertions else {
            return self.error_response(ctx, &AppError::NotFound, "/");
        };
        let mut resp = page(StatusCode::OK, "application/json", a.jwks());
        // Verifiers may cache the keys for a few minutes; a rotation publishes the next key
        // before it signs (docs/identity-assertion.md).
        resp.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("public, max-age=300"),
        );
        resp.headers_mut().remove(http::header::PRAGMA);
        resp.headers_mut().remove(http::header::EXPIRES);
        resp
    }

    /// `/oauth2/userinfo`: the session's identity as JSON.
    pub(super) async fn userinfo(
        &self,
        req: &Request<Incoming>,
        ctx: &RequestCtx,
    ) -> (Response<Body>, Option<String>) {
        match crate::auth::authenticate(self, req.headers(), ctx).await {
            Lookup::Valid {
                session,
                set_cookies,
            } => {
                let session = &session.session;
                let mut body = serde_json::json!({
                    "user": session.user,
                    "email": session.email,
                });
                if !session.groups.is_empty() {
                    body["groups"] = serde_json::json!(session.groups);
                }
                if !session.preferred_username.is_empty() {
                    body["preferredUsername"] = serde_json::json!(session.preferred_username);
                }
                // oauth2-proxy v7.15: the session's kept claims, omitted when there are none.
                let claims = crate::session::claims::shown(&session.additional_claims);
                if !claims.is_empty() {
                    body["additionalClaims"] = serde_json::Value::Object(claims);
                }
                let mut resp = page(StatusCode::OK, "application/json", body.to_string());
                add_cookies(&mut resp, &set_cookies);
                (resp, Some(session.email.clone()))
            }
            Lookup::None { clear_cookies } => {
                let mut resp = page(
                    StatusCode::UNAUTHORIZED,
                    "application/json",
                    crate::pages::json_error(401, "Unauthorized"),
                );
                add_cookies(&mut resp, &clear_cookies);
                (resp, None)
            }
            Lookup::Busy(why) => (crate::auth::busy_response(self, ctx, why), None),
        }
    }

    /// `/ready`: every provider discovered and, with the Redis store, Redis answering a PING.
    pub(super) async fn ready(&self) -> Response<Body> {
        let unavailable = |why: &'static str| {
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                why,
            )
        };
        if !self.all_providers_ready() {
            return unavailable(
                "identity provider discovery has not succeeded yet for every provider",
            );
        }
        if let Some(store) = &self.redis {
            if let Err(e) = store.ping().await {
                tracing::warn!(error = %e, "readiness: the session store is unavailable");
                return unavailable("the session store (Redis) is unavailable");
            }
        }
        page(StatusCode::OK, "text/plain; charset=utf-8", "OK")
    }
}
