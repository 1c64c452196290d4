//! The `Authorization` steps of the chain: JWT bearer tokens and htpasswd basic credentials.
//! The verifiers themselves are in [`crate::machine`]; this turns their verdict into a
//! [`VerifiedSession`], cached process-wide under a keyed hash of the header value.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::app::{App, RequestCtx};
use crate::machine::{basic_credentials, Users, Verdict};
use crate::provider::BearerError;
use crate::session::cache::{AuthMethod, VerifiedSession};
use crate::session::SessionState;

pub use crate::machine::split_authorization;

/// How long a basic-auth verification is reused before the password is checked again against
/// the (possibly reloaded) htpasswd file.
const BASIC_CACHE_TTL: Duration = Duration::from_secs(60);

/// The outcome of looking at a request's `Authorization` header.
pub enum Outcome {
    /// No header this step handles, or one that failed with the cookie allowed to decide.
    Absent,
    /// The header authenticated the request.
    Valid(Arc<VerifiedSession>),
    /// An invalid bearer token with `bearer_token_login_fallback = false`: no cookie may
    /// rescue the request.
    Refused,
    /// Basic credentials that could not be checked: every htpasswd check was busy. The
    /// cookie may still decide; without one the answer is 503.
    Busy,
}

/// Authenticate a request by its `Authorization` header (before the session cookie).
pub async fn authenticate(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> Outcome {
    let m = &app.machine;
    if m.bearer().is_none() && m.users().is_none() {
        return Outcome::Absent;
    }
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Outcome::Absent;
    };
    let Some((scheme, credentials)) = split_authorization(value) else {
        return Outcome::Absent;
    };
    let key = app.sessions.keyed_hash(value.as_bytes());
    if let Some(v) = app.sessions.get(&key, ctx.now) {
        return Outcome::Valid(v);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let Some(verifier) = m.bearer() else {
            return Outcome::Absent;
        };
        return match verifier.verify(credentials, ctx.now).await {
            Ok(id) => {
                let mut additional_claims = std::collections::BTreeMap::new();
                crate::session::claims::replace_kept(&mut additional_claims, &id.claims.extra);
                let session = SessionState {
                    created_at: Some(ctx.now),
                    expires_on: Some(id.expires_at),
                    access_token: credentials.to_owned(),
                    id_token: credentials.to_owned(),
                    email: id.claims.email,
                    user: id.claims.user,
                    groups: id.claims.groups,
                    preferred_username: id.claims.preferred_username.unwrap_or_default(),
                    additional_claims,
                    ..SessionState::default()
                };
                tracing::debug!(target: "auth", request_id = %ctx.request_id, user = %session.email,
                    issuer = %id.issuer, "authenticated by bearer token");
                let v = machine_session(app, session, Some(id.expires_at), AuthMethod::Bearer);
                app.sessions.put(key, Arc::clone(&v));
                Outcome::Valid(v)
            }
            Err(e) => {
                log_bearer_failure(ctx, &e);
                if m.bearer_fallback() {
                    Outcome::Absent
                } else {
                    Outcome::Refused
                }
            }
        };
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let Some(users) = m.users() else {
            return Outcome::Absent;
        };
        let Some((user, password)) = basic_credentials(credentials) else {
            tracing::info!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip,
                "basic auth: malformed credentials");
            return Outcome::Absent;
        };
        match users.verify(&user, &password).await {
            Verdict::Valid => {}
            Verdict::Invalid => {
                tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, user = %user,
                    "basic auth failed: wrong user or password");
                return Outcome::Absent;
            }
            Verdict::Busy => {
                tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, user = %user,
                    "basic auth not checked: every htpasswd check is busy (htpasswd_max_concurrent_checks)");
                return Outcome::Busy;
            }
        }
        tracing::debug!(target: "auth", request_id = %ctx.request_id, user = %user, "authenticated by basic auth");
        let session = htpasswd_session(app, users, user, ctx.now);
        let v = machine_session(
            app,
            session,
            Some(ctx.now + BASIC_CACHE_TTL),
            AuthMethod::Basic,
        );
        app.sessions.put(key, Arc::clone(&v));
        return Outcome::Valid(v);
    }
    Outcome::Absent
}

/// A machine identity. It is attributed to the first provider (its allow-list applies).
fn machine_session(
    app: &App,
    session: SessionState,
    valid_until: Option<SystemTime>,
    method: AuthMethod,
) -> Arc<VerifiedSession> {
    let injected = super::session::injected_for(app, &session, 0);
    let claims = crate::policy::session_claims(app.policy.as_ref(), &session);
    Arc::new(VerifiedSession {
        session,
        valid_until,
        injected,
        provider: 0,
        method,
        minted: Default::default(),
        claims,
    })
}

fn log_bearer_failure(ctx: &RequestCtx, e: &BearerError) {
    if e.is_invalid_token() {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, reason = %e,
            "bearer token refused");
    } else {
        tracing::error!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, error = %e,
            "bearer token could not be checked");
    }
}

/// The session of an htpasswd user, as oauth2-proxy builds it: the user name, no email
/// (unless `prefer_email_to_user`, which makes the user name the email), the
/// `htpasswd_user_groups`.
pub fn htpasswd_session(app: &App, users: &Users, user: String, now: SystemTime) -> SessionState {
    SessionState {
        created_at: Some(now),
        email: if app.cfg.prefer_email_to_user {
            user.clone()
        } else {
            String::new()
        },
        user,
        groups: users.groups.clone(),
        ..SessionState::default()
    }
}
