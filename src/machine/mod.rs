//! Machine clients: JWT bearer tokens (`skip_jwt_bearer_tokens`, `extra_jwt_issuers`) and
//! htpasswd users (`htpasswd_file`: HTTP basic auth and the sign-in form).
//!
//! The order is oauth2-proxy's session chain: an `Authorization` header that authenticates
//! wins; otherwise the session cookie is tried. What happens when the header does NOT
//! authenticate:
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
//! Verification work is cached per connection ([`crate::flow::cache::SessionCache`]) under the
//! whole `Authorization` value, so a keep-alive client pays for the signature check or bcrypt
//! once, not per request, and no lock is shared by all requests. A header value always
//! contains a space, so it can never equal a session cookie value in that cache.

pub mod htpasswd;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use crate::app::{add_cookies, page, redirect, App, RequestCtx};
use crate::authz::{decide, Decision};
use crate::config::Config;
use crate::error::AppError;
use crate::flow::cache::VerifiedSession;
use crate::provider::{BearerError, JwtVerifier};
use crate::session::SessionState;
use crate::Body;

use htpasswd::Htpasswd;

/// How long a basic-auth verification is reused on a connection before the password is
/// checked again against the (possibly reloaded) htpasswd file.
const BASIC_CACHE_TTL: Duration = Duration::from_secs(60);
/// How often the htpasswd file is checked for changes.
const HTPASSWD_POLL: Duration = Duration::from_secs(5);
/// Largest sign-in form body read.
const MAX_FORM_BODY: usize = 16 * 1024;

/// The outcome of looking at a request's `Authorization` header.
pub enum Outcome {
    /// No header this module handles, or one that failed with the cookie allowed to decide.
    Absent,
    /// The header authenticated the request.
    Valid(Arc<VerifiedSession>),
    /// An invalid bearer token with `bearer_token_login_fallback = false`: no cookie may
    /// rescue the request.
    Refused,
}

/// htpasswd users, reloaded when the file changes.
struct Users {
    path: PathBuf,
    groups: Vec<String>,
    /// Swapped whole on reload; read only by basic-auth and form logins (not by cookie or
    /// bearer requests), and only to clone the `Arc`.
    current: RwLock<Arc<Htpasswd>>,
}

impl Users {
    fn current(&self) -> Arc<Htpasswd> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-read the file; on an error the previous users stay in force (logged).
    fn reload(&self) {
        match Htpasswd::load(&self.path) {
            Ok(parsed) => {
                for w in &parsed.warnings {
                    tracing::warn!(target: "auth", "htpasswd_file: {w}");
                }
                tracing::info!(file = %self.path.display(), users = parsed.htpasswd.len(), "htpasswd_file reloaded");
                let new = Arc::new(parsed.htpasswd);
                match self.current.write() {
                    Ok(mut g) => *g = new,
                    Err(poisoned) => *poisoned.into_inner() = new,
                }
            }
            Err(e) => {
                tracing::error!(file = %self.path.display(), error = %e,
                    "htpasswd_file changed but cannot be used; the previous users stay in force");
            }
        }
    }

    /// Check `user`/`password` off the async runtime (bcrypt takes tens of milliseconds).
    async fn verify(&self, user: &str, password: &str) -> bool {
        let table = self.current();
        let (user, password) = (user.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || table.verify(&user, &password))
            .await
            .unwrap_or(false)
    }
}

/// Bearer and htpasswd authentication, built once from the configuration.
#[derive(Default)]
pub struct MachineAuth {
    jwt: Option<Arc<JwtVerifier>>,
    fallback: bool,
    users: Option<Arc<Users>>,
    form: bool,
}

impl std::fmt::Debug for MachineAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineAuth")
            .field("jwt", &self.jwt)
            .field("htpasswd", &self.users.as_ref().map(|u| u.path.clone()))
            .field("form", &self.form)
            .finish()
    }
}

impl MachineAuth {
    /// Build from the configuration. With `start_tasks`, issuer discovery and the htpasswd
    /// watcher run in the background (needs a Tokio runtime).
    pub fn from_config(cfg: &Config, start_tasks: bool) -> Result<Self, String> {
        let m = &cfg.machine;
        let jwt = if m.skip_jwt_bearer_tokens {
            let v = JwtVerifier::new(&cfg.providers[0], true, &m.extra_jwt_issuers)
                .map_err(|e| format!("skip_jwt_bearer_tokens: {e}"))?;
            Some(Arc::new(v))
        } else {
            None
        };
        let users = match &m.htpasswd_file {
            Some(path) => {
                let parsed = Htpasswd::load(path).map_err(|e| format!("htpasswd_file: {e}"))?;
                for w in &parsed.warnings {
                    tracing::warn!(target: "auth", "htpasswd_file: {w}");
                }
                Some(Arc::new(Users {
                    path: path.clone(),
                    groups: m.htpasswd_user_groups.clone(),
                    current: RwLock::new(Arc::new(parsed.htpasswd)),
                }))
            }
            None => None,
        };
        if start_tasks {
            if let Some(v) = &jwt {
                tracing::info!(issuers = ?v.issuer_urls(), "bearer tokens accepted");
                v.spawn_discovery();
            }
            if let Some(u) = &users {
                spawn_watcher(Arc::clone(u));
            }
        }
        Ok(Self {
            jwt,
            fallback: m.bearer_token_login_fallback,
            form: users.is_some() && m.display_htpasswd_form,
            users,
        })
    }

    /// Whether the sign-in page shows the username/password form.
    pub fn shows_form(&self) -> bool {
        self.form
    }

    /// Whether htpasswd users exist (sessions without email are then possible).
    pub fn has_users(&self) -> bool {
        self.users.is_some()
    }
}

/// Poll the htpasswd file's modification time and size; reload on change.
fn spawn_watcher(users: Arc<Users>) {
    tokio::spawn(async move {
        let mut seen = htpasswd::fingerprint(&users.path);
        let mut tick = tokio::time::interval(HTPASSWD_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = htpasswd::fingerprint(&users.path);
            if now != seen {
                seen = now;
                if seen.is_some() {
                    users.reload();
                } else {
                    tracing::error!(file = %users.path.display(),
                        "htpasswd_file disappeared; the previous users stay in force");
                }
            }
        }
    });
}

/// `Authorization` scheme and credentials (scheme compared case-insensitively, RFC 9110 11.1).
fn split_authorization(value: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    (!rest.is_empty()).then_some((scheme, rest))
}

/// `user:password` from a Basic credential.
fn basic_credentials(b64: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

/// Authenticate a request by its `Authorization` header (before the session cookie).
pub async fn authenticate(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> Outcome {
    let m = &app.machine;
    if m.jwt.is_none() && m.users.is_none() {
        return Outcome::Absent;
    }
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Outcome::Absent;
    };
    let Some((scheme, credentials)) = split_authorization(value) else {
        return Outcome::Absent;
    };
    if let Some(v) = ctx.sessions.get(value, ctx.now) {
        return Outcome::Valid(v);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let Some(verifier) = &m.jwt else {
            return Outcome::Absent;
        };
        return match verifier.verify(credentials, ctx.now).await {
            Ok(id) => {
                let session = SessionState {
                    created_at: Some(ctx.now),
                    expires_on: Some(id.expires_at),
                    access_token: credentials.to_owned(),
                    id_token: credentials.to_owned(),
                    email: id.claims.email,
                    user: id.claims.user,
                    groups: id.claims.groups,
                    preferred_username: id.claims.preferred_username.unwrap_or_default(),
                    ..SessionState::default()
                };
                tracing::debug!(target: "auth", request_id = %ctx.request_id, user = %session.email,
                    issuer = %id.issuer, "authenticated by bearer token");
                // Machine identities are attributed to the first provider (its allow-list applies).
                let upstream_headers = crate::flow::identity_headers_for(app, &session, 0);
                let v = Arc::new(VerifiedSession {
                    session,
                    valid_until: Some(id.expires_at),
                    upstream_headers,
                    provider: 0,
                });
                ctx.sessions.put(value, Arc::clone(&v));
                Outcome::Valid(v)
            }
            Err(e) => {
                log_bearer_failure(ctx, &e);
                if m.fallback {
                    Outcome::Absent
                } else {
                    Outcome::Refused
                }
            }
        };
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let Some(users) = &m.users else {
            return Outcome::Absent;
        };
        let Some((user, password)) = basic_credentials(credentials) else {
            tracing::info!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip,
                "basic auth: malformed credentials");
            return Outcome::Absent;
        };
        if !users.verify(&user, &password).await {
            tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, user = %user,
                "basic auth failed: wrong user or password");
            return Outcome::Absent;
        }
        tracing::debug!(target: "auth", request_id = %ctx.request_id, user = %user, "authenticated by basic auth");
        let session = htpasswd_session(app, users, user, ctx.now);
        let upstream_headers = crate::flow::identity_headers_for(app, &session, 0);
        let v = Arc::new(VerifiedSession {
            session,
            valid_until: Some(ctx.now + BASIC_CACHE_TTL),
            upstream_headers,
            provider: 0,
        });
        ctx.sessions.put(value, Arc::clone(&v));
        return Outcome::Valid(v);
    }
    Outcome::Absent
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
fn htpasswd_session(app: &App, users: &Users, user: String, now: SystemTime) -> SessionState {
    SessionState {
        created_at: Some(now),
        email: if app.cfg.headers.prefer_email_to_user {
            user.clone()
        } else {
            String::new()
        },
        user,
        groups: users.groups.clone(),
        ..SessionState::default()
    }
}

/// The 401 for a request whose `Authorization` header this module handles but which is not
/// authenticated (called where a browser would be sent to sign in). `None`: not such a request.
pub fn challenge(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> Option<Response<Body>> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, _) = split_authorization(value).unwrap_or((value, ""));
    let www = if scheme.eq_ignore_ascii_case("bearer") && app.machine.jwt.is_some() {
        // RFC 6750 3.1.
        HeaderValue::from_static(
            r#"Bearer error="invalid_token", error_description="the bearer token is not valid""#,
        )
    } else if scheme.eq_ignore_ascii_case("basic") && app.machine.users.is_some() {
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
    let _ = ctx;
    Some(resp)
}

/// Login CSRF guard for the sign-in form: a browser that posts the form cross-site must not
/// be able to log its user into the attacker's account. Browsers send `Origin` on every POST
/// (and `Sec-Fetch-Site`); when present they must name this very origin. A request with
/// neither `Origin` nor `Referer` comes from a non-browser client, which cannot be a
/// cross-site victim, and is allowed.
pub fn same_origin(headers: &HeaderMap, ctx: &RequestCtx) -> bool {
    let own = format!("{}://{}", ctx.scheme, ctx.host);
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin" | "none")) {
            return false;
        }
    }
    let origin_of = |u: &str| -> Option<String> {
        let u = url::Url::parse(u).ok()?;
        let host = u.host_str()?;
        Some(match u.port() {
            Some(p) => format!("{}://{host}:{p}", u.scheme()),
            None => format!("{}://{host}", u.scheme()),
        })
    };
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        // `Origin: null` (sandboxed frames, some redirects) is never this origin.
        return origin
            .to_str()
            .ok()
            .and_then(origin_of)
            .is_some_and(|o| o.eq_ignore_ascii_case(&own));
    }
    if let Some(referer) = headers.get(http::header::REFERER) {
        return referer
            .to_str()
            .ok()
            .and_then(origin_of)
            .is_some_and(|o| o.eq_ignore_ascii_case(&own));
    }
    true
}

/// `POST {prefix}/sign_in`: the htpasswd form. On success a normal session cookie and a
/// redirect to the validated `rd`; wrong credentials: the sign-in page with 401.
pub async fn form_sign_in(
    app: &App,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> (Response<Body>, Option<String>) {
    let Some(users) = &app.machine.users else {
        return (
            app.error_response(ctx, &AppError::MethodNotAllowed, "/"),
            None,
        );
    };
    if req.method() != Method::POST {
        return (
            app.error_response(ctx, &AppError::MethodNotAllowed, "/"),
            None,
        );
    }
    if !same_origin(req.headers(), ctx) {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, security = true,
            "sign-in form posted from another origin (possible login CSRF); refused");
        return (
            app.error_response(
                ctx,
                &AppError::Forbidden {
                    reason: "cross_origin_form",
                },
                "/",
            ),
            None,
        );
    }
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return (app.error_response(ctx, &AppError::BadRequest, "/"), None);
    }
    // A failed attempt shows the sign-in page, which ends any session the browser still has.
    let clear_session = crate::flow::clear_all(app, req.headers(), ctx);
    let body: Bytes = match http_body_util::Limited::new(req.into_body(), MAX_FORM_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return (app.error_response(ctx, &AppError::BadRequest, "/"), None),
    };
    let (mut user, mut password, mut rd) = (String::new(), String::new(), None);
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "username" => user = v.into_owned(),
            "password" => password = v.into_owned(),
            "rd" => rd = Some(v.into_owned()),
            _ => {}
        }
    }
    let rd = crate::flow::safe_return(app, rd.as_deref(), ctx);
    if user.is_empty() || !users.verify(&user, &password).await {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, user = %user,
            "sign-in form: wrong user or password");
        return (
            crate::flow::sign_in_response(app, ctx, &rd, StatusCode::UNAUTHORIZED, clear_session),
            None,
        );
    }
    let session = htpasswd_session(app, users, user, ctx.now);
    if let Decision::Deny(reason) = decide(&app.authz, &session.email, &session.groups) {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, user = %session.user, reason = reason.as_str(),
            "sign-in form: not authorized");
        return (
            app.error_response(
                ctx,
                &AppError::Forbidden {
                    reason: reason.as_str(),
                },
                "/",
            ),
            None,
        );
    }
    let cookies = app
        .codec
        .encode(&session, ctx.now)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            crate::session::cookie::make_cookies(&app.cookies, &v, &ctx.host)
                .map_err(|e| e.to_string())
        });
    let cookies = match cookies {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(request_id = %ctx.request_id, error = %e, "could not write the session cookie");
            return (app.error_response(ctx, &AppError::Internal, &rd), None);
        }
    };
    tracing::info!(target: "auth", request_id = %ctx.request_id, user = %session.user, "login succeeded (htpasswd form)");
    ctx.sessions.clear();
    let mut resp = redirect(&rd);
    add_cookies(&mut resp, &cookies);
    (resp, Some(session.user))
}
