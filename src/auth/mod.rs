//! The one authentication chain, and the one authorization decision, behind every request
//! that needs an identity: protected requests, `/oauth2/auth`, `/oauth2/userinfo`, Envoy's HTTP
//! and gRPC ext_authz.
//!
//! The chain is oauth2-proxy's session chain: an `Authorization` header that authenticates
//! (a JWT bearer token with `skip_jwt_bearer_tokens`, htpasswd basic credentials) wins; else
//! the session cookie, verified and refreshed when due ([`session`]). What happens when the
//! header does NOT authenticate:
//!
//! * `Bearer` with `bearer_token_login_fallback = true` (default): a valid session cookie may
//!   still authenticate the request; without one the answer is 401 with
//!   `WWW-Authenticate: Bearer error="invalid_token"` — never a login redirect, since a client
//!   that sends a bearer token cannot follow one.
//! * `Bearer` with `bearer_token_login_fallback = false`: 401 `invalid_token` whatever the
//!   cookie (oauth2-proxy answers 403 there; 401 is RFC 6750's status for a bad token).
//! * `Basic` with wrong credentials: the cookie is tried, else 401 with
//!   `WWW-Authenticate: Basic`.
//!
//! Every verified credential is remembered in the process-wide [`crate::session::cache`].

mod machine;
pub mod route;
pub mod session;
pub mod stored;

use std::sync::Arc;

use http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, Response, StatusCode};

use crate::app::{App, RequestCtx};
use crate::authz::{decide_with_provider, Decision};
use crate::error::AppError;
use crate::response::page;
use crate::session::cache::VerifiedSession;
use crate::Body;

pub use machine::{htpasswd_session, split_authorization};

/// The result of authenticating a request.
pub enum Lookup {
    /// A valid (possibly just refreshed) session; `set_cookies` re-issues it after a refresh.
    Valid {
        session: Arc<VerifiedSession>,
        set_cookies: Vec<String>,
    },
    /// No usable identity; `clear_cookies` removes a bad or expired cookie the client sent.
    None { clear_cookies: Vec<String> },
    /// The identity could not be checked: every htpasswd check was busy (and no valid cookie),
    /// or the session store is unreachable. Fail closed: 503 with `Retry-After`
    /// ([`busy_response`]).
    Busy(Unavailable),
}

/// Why an identity could not be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// Every htpasswd check was busy.
    Logins,
    /// The session store (Redis) cannot be reached.
    SessionStore,
}

/// Run the chain: `Authorization` (bearer, basic), then the session cookie.
pub async fn authenticate(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> Lookup {
    // Boxed only when an Authorization header is present: bearer and basic verification
    // (JWKS fetches, bcrypt) make large futures the cookie path should not carry.
    let machine = if headers.contains_key(AUTHORIZATION) {
        Box::pin(machine::authenticate(app, headers, ctx)).await
    } else {
        machine::Outcome::Absent
    };
    match machine {
        machine::Outcome::Valid(session) => {
            return Lookup::Valid {
                session,
                set_cookies: Vec::new(),
            }
        }
        machine::Outcome::Refused => {
            return Lookup::None {
                clear_cookies: Vec::new(),
            }
        }
        machine::Outcome::Absent => {}
        machine::Outcome::Busy => {
            return match Box::pin(load_session(app, headers, ctx)).await {
                Lookup::None { .. } => Lookup::Busy(Unavailable::Logins),
                other => other,
            };
        }
    }
    load_session(app, headers, ctx).await
}

/// The session cookie step: a cookie-held session, or a ticket into the session store.
async fn load_session(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> Lookup {
    match &app.redis {
        // Boxed: the Redis path's future is large; the cookie path stays small.
        Some(store) => Box::pin(stored::load(app, store, headers, ctx)).await,
        None => session::load(app, headers, ctx).await,
    }
}

/// The session a request carries, read without refreshing or caching it (sign-out needs its ID
/// token and provider for RP-initiated logout). `None` when there is no valid session.
pub async fn current_session(
    app: &App,
    headers: &HeaderMap,
    ctx: &RequestCtx,
) -> Option<(crate::session::SessionState, usize)> {
    use crate::session::cookie::{cookie_headers, read_cookie};
    let value = read_cookie(&app.cookies.name, cookie_headers(headers))?;
    let session = match &app.redis {
        Some(store) => store.load_cookie(&value, ctx.now).await.ok().flatten()?.1,
        None => {
            let parts = app.codec.verify(&value, ctx.now).ok()?;
            app.codec.decode_verified(&parts).ok()?
        }
    };
    let provider = session::session_provider(app, &session)?;
    Some((session, provider))
}

/// The cookies that carry a new session (log-in): the session itself in (chunked) cookies, or
/// with the Redis store a ticket cookie, the session written to Redis, and the session a
/// previous ticket in this browser named deleted. Clears for chunks no longer needed follow.
pub async fn issue_session(
    app: &App,
    session: &crate::session::SessionState,
    headers: &HeaderMap,
    ctx: &RequestCtx,
) -> Result<Vec<String>, AppError> {
    use crate::session::cookie::{clear_stale_chunks, make_cookie, make_cookies};
    let mut cookies = match &app.redis {
        None => {
            let value = app.codec.encode(session, ctx.now).map_err(|e| {
                tracing::error!(request_id = %ctx.request_id, error = %e, "could not encode the session");
                AppError::Internal
            })?;
            make_cookies(&app.cookies, &value, &ctx.host).map_err(|e| {
                tracing::error!(request_id = %ctx.request_id, error = %e, "could not write the session cookie");
                AppError::Internal
            })?
        }
        Some(store) => {
            // A new ticket for every log-in; the session of the one replaced ends.
            stored::end(app, store, headers, ctx).await;
            let value = stored::save_new(store, session).await.map_err(|e| {
                tracing::error!(request_id = %ctx.request_id, error = %e, "could not write the session to the session store");
                AppError::SessionStoreUnavailable
            })?;
            vec![make_cookie(&app.cookies, &value, &ctx.host)]
        }
    };
    let kept = cookies.len();
    cookies.extend(clear_stale_chunks(&app.cookies, headers, &ctx.host, kept));
    Ok(cookies)
}

/// 503 with `Retry-After` for [`Lookup::Busy`] (an HTML page or JSON, as the client prefers).
pub fn busy_response(app: &App, ctx: &RequestCtx, why: Unavailable) -> Response<Body> {
    let err = match why {
        Unavailable::Logins => AppError::LoginsBusy,
        Unavailable::SessionStore => AppError::SessionStoreUnavailable,
    };
    let mut resp = app.error_response(ctx, &err, "/");
    resp.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// May this verified session use the app? The global rules and its provider's allow-list.
pub fn authorize(app: &App, v: &VerifiedSession) -> Decision {
    decide_with_provider(
        &app.authz,
        &app.provider_groups[v.provider],
        &v.session.email,
        &v.session.groups,
    )
}

/// The answer for one request that asks "may this identity through?" (the forward-auth
/// endpoints and the gRPC Check service express it each in their own way).
pub enum AuthOutcome {
    /// A valid session the rules allow. `set_cookies` re-issues a refreshed session.
    Allowed {
        session: Arc<VerifiedSession>,
        set_cookies: Vec<String>,
    },
    /// No usable session. `clear_cookies` removes a bad or expired cookie the client sent.
    Unauthenticated { clear_cookies: Vec<String> },
    /// The identity could not be checked (htpasswd checks busy, session store down): 503.
    Busy(Unavailable),
    /// A valid session that the authorization rules refuse.
    Forbidden {
        session: Arc<VerifiedSession>,
        reason: &'static str,
        set_cookies: Vec<String>,
    },
}

/// [`authenticate`], then [`authorize`].
pub async fn decide(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> AuthOutcome {
    match authenticate(app, headers, ctx).await {
        Lookup::Valid {
            session,
            set_cookies,
        } => match authorize(app, &session) {
            Decision::Allow => AuthOutcome::Allowed {
                session,
                set_cookies,
            },
            Decision::Deny(reason) => AuthOutcome::Forbidden {
                session,
                reason: reason.as_str(),
                set_cookies,
            },
        },
        Lookup::None { clear_cookies } => AuthOutcome::Unauthenticated { clear_cookies },
        Lookup::Busy(why) => AuthOutcome::Busy(why),
    }
}

/// The 401 for a request whose `Authorization` header the chain handles but which did not
/// authenticate (where a browser would be sent to sign in). `None`: not such a request.
pub fn challenge(app: &App, headers: &HeaderMap) -> Option<Response<Body>> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, _) = split_authorization(value).unwrap_or((value, ""));
    let www = if scheme.eq_ignore_ascii_case("bearer") && app.machine.bearer().is_some() {
        // RFC 6750 3.1.
        HeaderValue::from_static(
            r#"Bearer error="invalid_token", error_description="the bearer token is not valid""#,
        )
    } else if scheme.eq_ignore_ascii_case("basic") && app.machine.users().is_some() {
        HeaderValue::from_static(r#"Basic realm="authproxy", charset="UTF-8""#)
    } else {
        return None;
    };
    let mut resp = page(
        StatusCode::UNAUTHORIZED,
        "application/json",
        crate::pages::json_error(401, &AppError::Unauthenticated.message()),
    );
    resp.headers_mut().insert(WWW_AUTHENTICATE, www);
    Some(resp)
}

/// Remove what the client must not be able to send to the app: forged identity headers (any
/// case, `_` variants; `Authorization` when the proxy sets its own) and the proxy's cookies.
pub fn strip_client_credentials(app: &App, headers: &mut HeaderMap) {
    app.headers.strip(headers);
    crate::session::cookie::strip_own_cookie_headers(headers, &app.cookies.name);
}
