//! The session-cookie step of the chain: read the cookie (reassembling chunks), verify it
//! (MAC in constant time, then the server-side lifetime), decode it or take it from the
//! verified-session cache, and refresh it when `cookie_refresh` says so — once per stale
//! session, however many requests carry it ([`crate::session::refresh`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderMap;

use crate::app::{App, RequestCtx};
use crate::session::cache::{AuthMethod, Injected, VerifiedSession};
use crate::session::cookie::{
    clear_present, clear_stale_chunks, cookie_headers, make_cookies, read_cookie,
};
pub use crate::session::refresh::RefreshFailed;
use crate::session::SessionState;

use super::Lookup;

pub use crate::config::PROVIDER_CLAIM;

/// Read, verify and (when due) refresh the session cookie.
pub async fn load(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> Lookup {
    let name = &app.cookies.name;
    let Some(value) = read_cookie(name, cookie_headers(headers)) else {
        return Lookup::None {
            clear_cookies: Vec::new(),
        };
    };
    let refresh = app.cfg.cookie.refresh;
    // A value verified before, byte for byte: served without computing its MAC again.
    if let Some(v) = app.sessions.get_cookie(&value, ctx.now) {
        let validates = app.providers[v.provider].validates_sessions();
        if app.codec.timestamp_in_window(&value, ctx.now)
            && !refresh_due(&v.session, ctx.now, refresh, validates)
        {
            return Lookup::Valid {
                session: v,
                set_cookies: Vec::new(),
            };
        }
    }
    let parts = match app.codec.verify(&value, ctx.now) {
        Ok(p) => p,
        Err(e) => return rejected(app, headers, ctx, &e.to_string()),
    };
    // The verified MAC tag keys the cache entry. No second lookup by it: an entry under this
    // tag holds this very value (the tag is the value's own signature), so `get_cookie` above
    // already found it, and its session is stale or about to be refreshed.
    let key = parts.parts.tag;
    let session = match app.codec.decode_verified(&parts) {
        Ok(s) => s,
        Err(e) => return rejected(app, headers, ctx, &e.to_string()),
    };
    // A session names its provider; one naming a provider that is no longer configured is
    // refused (fail closed: its allow-lists and refresh endpoint are gone).
    let Some(provider) = session_provider(app, &session) else {
        tracing::info!(target: "auth", request_id = %ctx.request_id, user = %session.email,
            "session cookie rejected: its provider is not configured");
        app.sessions.remove(&key);
        return Lookup::None {
            clear_cookies: clear_present(&app.cookies, headers, &ctx.host),
        };
    };
    let validates = app.providers[provider].validates_sessions();
    if !refresh_due(&session, ctx.now, refresh, validates) {
        if parts.sealed_with_previous_secret() {
            // Secret rotation: the browser gets the same session sealed with the current
            // secret, so the previous one can be retired once cookie_expire has passed.
            return reissue(app, headers, ctx, session, provider, &key);
        }
        let verified = Arc::new(verified(app, session, provider));
        app.sessions.put_cookie(key, &value, verified.clone());
        return Lookup::Valid {
            session: verified,
            set_cookies: Vec::new(),
        };
    }
    // Boxed: the refresh future (provider HTTP calls) is large and rare; the hot path
    // (a cached session) should not carry its size.
    match Box::pin(refresh_once(app, &session, provider, ctx)).await {
        Some(s) => reissue(app, headers, ctx, s, provider, &key),
        None => {
            app.sessions.remove(&key);
            Lookup::None {
                clear_cookies: clear_present(&app.cookies, headers, &ctx.host),
            }
        }
    }
}

fn rejected(app: &App, headers: &HeaderMap, ctx: &RequestCtx, reason: &str) -> Lookup {
    tracing::info!(target: "auth", request_id = %ctx.request_id, reason = %reason, "session cookie rejected");
    Lookup::None {
        clear_cookies: clear_present(&app.cookies, headers, &ctx.host),
    }
}

/// One refresh per stale session: concurrent requests with the same cookie share the result.
/// A session without a refresh token (GitHub) is re-validated instead, keyed by its token and
/// the time it was last validated (a refresh token rotates; this token does not).
async fn refresh_once(
    app: &App,
    session: &SessionState,
    provider: usize,
    ctx: &RequestCtx,
) -> Option<SessionState> {
    let key = if session.refresh_token.is_empty() {
        format!("validate:{}:{:?}", session.access_token, session.created_at)
    } else {
        session.refresh_token.clone()
    };
    let cell = app.refresher.cell(&key, ctx.now);
    cell.get_or_init(|| async {
        refresh_grant(app, session, provider, ctx)
            .await
            .map(|s| (s, None))
    })
    .await
    .clone()
    .ok()
    .map(|(s, _)| s)
}

/// Refresh `session` at its provider (or re-validate it when it has no refresh token): the
/// new session, or `Rejected` when the provider refused or could not be reached.
pub(crate) async fn refresh_grant(
    app: &App,
    session: &SessionState,
    provider: usize,
    ctx: &RequestCtx,
) -> Result<SessionState, RefreshFailed> {
    let p = &app.providers[provider];
    if session.refresh_token.is_empty() {
        return match p.validate_session(&session.access_token, ctx.now).await {
            Ok(()) => {
                let mut s = session.clone();
                s.created_at = Some(ctx.now);
                tracing::info!(target: "auth", request_id = %ctx.request_id, user = %s.email, "session re-validated");
                Ok(s)
            }
            Err(e) => {
                tracing::warn!(target: "auth", request_id = %ctx.request_id, user = %session.email, error = %e,
                    "session re-validation failed (token revoked or provider unreachable); session cleared");
                Err(RefreshFailed::Rejected)
            }
        };
    }
    // Refresh at the provider that issued the session's tokens.
    match p.refresh(&session.refresh_token, ctx.now).await {
        Ok(r) => {
            crate::metrics::global().refresh(true);
            let s = refreshed_session(session, r, ctx.now);
            tracing::info!(target: "auth", request_id = %ctx.request_id, user = %s.email, "session refreshed");
            Ok(s)
        }
        Err(e) => {
            crate::metrics::global().refresh(false);
            tracing::warn!(target: "auth", request_id = %ctx.request_id, user = %session.email, error = %e,
                "session refresh failed; session cleared");
            Err(RefreshFailed::Rejected)
        }
    }
}

/// The refreshed session, written back as a new cookie (and clears for chunks it no longer
/// needs). The stale cookie's cache entry is dropped.
fn reissue(
    app: &App,
    headers: &HeaderMap,
    ctx: &RequestCtx,
    s: SessionState,
    provider: usize,
    stale_key: &crate::session::cache::Key,
) -> Lookup {
    app.sessions.remove(stale_key);
    let written = app
        .codec
        .encode(&s, ctx.now)
        .map_err(|e| e.to_string())
        .and_then(|v| make_cookies(&app.cookies, &v, &ctx.host).map_err(|e| e.to_string()));
    match written {
        Ok(mut cookies) => {
            let kept = cookies.len();
            cookies.extend(clear_stale_chunks(&app.cookies, headers, &ctx.host, kept));
            Lookup::Valid {
                session: Arc::new(verified(app, s, provider)),
                set_cookies: cookies,
            }
        }
        Err(e) => {
            tracing::error!(request_id = %ctx.request_id, error = %e, "could not encode refreshed session");
            Lookup::None {
                clear_cookies: clear_present(&app.cookies, headers, &ctx.host),
            }
        }
    }
}

/// The index of the session's provider: the one its `ac` names, or the first provider for a
/// session that names none (oauth2-proxy's cookies; oauth2-proxy only uses its first provider).
/// `None` when the named provider is not configured.
pub fn session_provider(app: &App, session: &SessionState) -> Option<usize> {
    match session.additional_claims.get(PROVIDER_CLAIM) {
        None => Some(0),
        Some(rmpv::Value::String(s)) => s.as_str().and_then(|id| app.provider_index(id)),
        Some(_) => None,
    }
}

/// A verified browser session with the identity headers derived from it.
pub fn verified(app: &App, session: SessionState, provider: usize) -> VerifiedSession {
    let valid_until = match (session.created_at, app.cfg.cookie.expire.is_zero()) {
        (Some(created), false) => Some(created + app.cfg.cookie.expire),
        (None, false) => Some(std::time::UNIX_EPOCH),
        (_, true) => None,
    };
    let injected = injected_for(app, &session, provider);
    let claims = crate::policy::session_claims(app.policy.as_ref(), &session);
    VerifiedSession {
        session,
        provider,
        valid_until,
        injected,
        method: AuthMethod::Session,
        minted: Default::default(),
        claims,
    }
}

/// Whether this session should be refreshed now (refresh on, a refresh token, or a provider
/// that re-validates sessions without one, and old enough).
pub(crate) fn refresh_due(
    session: &SessionState,
    now: SystemTime,
    refresh: Duration,
    validates: bool,
) -> bool {
    !refresh.is_zero()
        && (!session.refresh_token.is_empty() || (validates && !session.access_token.is_empty()))
        && match session.created_at {
            Some(created) => now
                .duration_since(created)
                .map(|age| age > refresh)
                .unwrap_or(false),
            None => true,
        }
}

/// The session after a successful refresh: new tokens; new claims when the provider sent a new
/// ID token, else the old ones. A refresh response may omit the ID and refresh tokens.
fn refreshed_session(
    old: &SessionState,
    r: crate::provider::Refreshed,
    now: SystemTime,
) -> SessionState {
    let mut s = old.clone();
    s.created_at = Some(now);
    s.expires_on = r.tokens.expires_on;
    s.access_token = r.tokens.access_token;
    if let Some(id_token) = r.tokens.id_token {
        s.id_token = id_token;
    }
    if let Some(rt) = r.tokens.refresh_token {
        s.refresh_token = rt;
    }
    if let Some(c) = r.claims {
        s.email = c.email;
        s.user = c.user;
        s.groups = c.groups;
        s.preferred_username = c.preferred_username.unwrap_or_default();
        // The kept claims are read again from the new ID token (oauth2-proxy keeps the
        // login's); the session's provider entry stays.
        crate::session::claims::replace_kept(&mut s.additional_claims, &c.extra);
    }
    s
}

/// The headers the plan derives from a session of provider `provider`, plus oauth2-proxy's
/// `GAP-Auth` response header (the email, else the user) on proxied responses and on
/// `/oauth2/auth` answers, as v7 sets it on every authenticated response.
pub fn injected_for(app: &App, s: &SessionState, provider: usize) -> Injected {
    let mut injected = app.headers.inject(s, app.providers[provider].id());
    let who = if s.email.is_empty() {
        &s.user
    } else {
        &s.email
    };
    if let Ok(value) = http::HeaderValue::from_str(who) {
        let name = http::HeaderName::from_static("gap-auth");
        injected.response.push((name.clone(), value.clone()));
        injected.browser.push((name, value));
    }
    injected
}
