//! Sessions in Redis (`session_store_type = redis`), oauth2-proxy v7's way: the browser holds a
//! signed ticket cookie, the session is in Redis under the ticket id, encrypted with the
//! ticket's own key ([`crate::session::redis`]).
//!
//! * Reading: the ticket cookie is verified (MAC, lifetime), then the session is taken from
//!   the process-wide cache (keyed by a keyed hash of the ticket id) or read from Redis. The
//!   cache is invalidated at once when any authproxy replica clears or rewrites the session
//!   (pub/sub), and an entry is never older than [`CACHE_MAX_AGE`], for sessions that
//!   oauth2-proxy replicas (which publish nothing) end.
//! * Redis unreachable: fail closed, 503 — the request never reaches the app.
//! * Refresh: one per stale session across every replica, with v7's lock (`<ticket>.lock`):
//!   the lock holder reloads the session (another replica may have refreshed it), refreshes
//!   at the provider and writes it back under the same ticket; the others wait for the lock,
//!   then read the refreshed session.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

use crate::app::{App, RequestCtx};
use crate::metrics::SessionStoreOp;
use crate::provider::TokenSubject;
use crate::session::cache::Key;
use crate::session::cookie::{
    clear_present, clear_stale_chunks, cookie_headers, make_cookie, read_cookie,
};
use crate::session::redis::{
    Owner, RedisStore, StoreError, Ticket, REFRESH_LOCK_RETRY, REFRESH_LOCK_TTL, REFRESH_LOCK_WAIT,
};
use crate::session::SessionState;

use super::session::{refresh_due, refresh_grant, session_provider, verified, RefreshFailed};
use super::{Lookup, Unavailable};

/// The longest a replica serves a Redis session from its cache without reading it again.
pub const CACHE_MAX_AGE: Duration = Duration::from_secs(5);

/// The cache key of a ticket.
pub fn cache_key(app: &App, ticket_id: &str) -> Key {
    app.sessions.keyed_hash(ticket_id.as_bytes())
}

fn unavailable(ctx: &RequestCtx, op: SessionStoreOp, e: &StoreError) -> Lookup {
    crate::metrics::global().session_store_error(op);
    tracing::error!(request_id = %ctx.request_id, error = %e, "session store unavailable; request refused");
    Lookup::Busy(Unavailable::SessionStore)
}

/// Read (and when due refresh) the session a ticket cookie names.
pub async fn load(app: &App, store: &RedisStore, headers: &HeaderMap, ctx: &RequestCtx) -> Lookup {
    let none = |clear: bool| Lookup::None {
        clear_cookies: if clear {
            clear_present(&app.cookies, headers, &ctx.host)
        } else {
            Vec::new()
        },
    };
    let Some(value) = read_cookie(&app.cookies.name, cookie_headers(headers)) else {
        return none(false);
    };
    let ticket = match store.codec().read_cookie(&value, ctx.now) {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(target: "auth", request_id = %ctx.request_id, reason = %e, "session ticket rejected");
            return none(true);
        }
    };
    let key = cache_key(app, ticket.id());
    let refresh = app.cfg.cookie.refresh;
    if let Some(v) = app.sessions.get(&key, ctx.now) {
        let validates = app.providers[v.provider].validates_sessions();
        if !refresh_due(&v.session, ctx.now, refresh, validates) {
            return Lookup::Valid {
                session: v,
                set_cookies: Vec::new(),
            };
        }
    }
    let session = match store.load(&ticket).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::info!(target: "auth", request_id = %ctx.request_id, "session ticket names no session (expired or signed out)");
            app.sessions.remove(&key);
            return none(true);
        }
        Err(StoreError::Corrupt(e)) => {
            tracing::warn!(target: "auth", request_id = %ctx.request_id, error = %e, "stored session unreadable; cleared");
            app.sessions.remove(&key);
            let _ = store.clear(&ticket).await;
            return none(true);
        }
        Err(e) => return unavailable(ctx, SessionStoreOp::Load, &e),
    };
    let Some(provider) = session_provider(app, &session) else {
        tracing::info!(target: "auth", request_id = %ctx.request_id, user = %session.email,
            "stored session rejected: its provider is not configured");
        return none(true);
    };
    let validates = app.providers[provider].validates_sessions();
    if !refresh_due(&session, ctx.now, refresh, validates) {
        let mut v = verified(app, session, provider);
        // Not older than CACHE_MAX_AGE: oauth2-proxy replicas publish no invalidations.
        let cap = ctx.now + CACHE_MAX_AGE;
        v.valid_until = Some(v.valid_until.map_or(cap, |u| u.min(cap)));
        let v = Arc::new(v);
        app.sessions.put(key, v.clone());
        return Lookup::Valid {
            session: v,
            set_cookies: Vec::new(),
        };
    }
    match refresh_locked(app, store, &ticket, session, provider, ctx).await {
        Ok((s, cookie)) => {
            app.sessions.remove(&key);
            let mut set_cookies = vec![cookie];
            set_cookies.extend(clear_stale_chunks(&app.cookies, headers, &ctx.host, 1));
            Lookup::Valid {
                session: Arc::new(verified(app, s, provider)),
                set_cookies,
            }
        }
        Err(RefreshFailed::Rejected) => {
            app.sessions.remove(&key);
            if let Err(e) = store.clear(&ticket).await {
                crate::metrics::global().session_store_error(SessionStoreOp::Clear);
                tracing::warn!(request_id = %ctx.request_id, error = %e, "could not delete a session whose refresh failed");
            }
            none(true)
        }
        Err(RefreshFailed::StoreUnavailable) => Lookup::Busy(Unavailable::SessionStore),
    }
}

/// The refresh, single-flight in this replica and, through v7's Redis lock, across replicas.
/// The refreshed session and its new ticket cookie.
async fn refresh_locked(
    app: &App,
    store: &RedisStore,
    ticket: &Ticket,
    session: SessionState,
    provider: usize,
    ctx: &RequestCtx,
) -> Result<(SessionState, String), RefreshFailed> {
    let cell = app.refresher.cell(ticket.id(), ctx.now);
    let result = cell
        .get_or_init(|| async {
            let started = tokio::time::Instant::now();
            loop {
                match store.lock(ticket, REFRESH_LOCK_TTL).await {
                    Ok(Some(guard)) => {
                        let outcome = refresh_holding_lock(app, store, ticket, &session, provider, ctx).await;
                        if let Err(e) = guard.release().await {
                            tracing::debug!(error = %e, "refresh lock release failed (it expires by itself)");
                        }
                        return outcome;
                    }
                    Ok(None) if started.elapsed() < REFRESH_LOCK_WAIT => {
                        tokio::time::sleep(REFRESH_LOCK_RETRY).await;
                    }
                    // Another replica holds the lock for longer than v7 waits: serve the
                    // session as it is now in Redis (refreshed, or still the old one).
                    Ok(None) => {
                        return match store.load(ticket).await {
                            Ok(Some(s)) => Ok((s, None)),
                            Ok(None) => Err(RefreshFailed::Rejected),
                            Err(_) => Err(RefreshFailed::StoreUnavailable),
                        };
                    }
                    Err(e) => {
                        crate::metrics::global().session_store_error(SessionStoreOp::Save);
                        tracing::error!(request_id = %ctx.request_id, error = %e, "refresh lock: session store unavailable");
                        return Err(RefreshFailed::StoreUnavailable);
                    }
                }
            }
        })
        .await
        .clone();
    let (s, cookie) = result?;
    let cookie_value = match cookie {
        Some(v) => v,
        // Not written by us (another replica refreshed): re-issue its ticket cookie.
        None => store
            .codec()
            .cookie_value(ticket, s.created_at.unwrap_or(ctx.now)),
    };
    Ok((s, make_cookie(&app.cookies, &cookie_value, &ctx.host)))
}

/// Holding the lock: reload (another replica may have refreshed), refresh if still due, write
/// back under the same ticket.
async fn refresh_holding_lock(
    app: &App,
    store: &RedisStore,
    ticket: &Ticket,
    seen: &SessionState,
    provider: usize,
    ctx: &RequestCtx,
) -> Result<(SessionState, Option<String>), RefreshFailed> {
    let current = match store.load(ticket).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(RefreshFailed::Rejected),
        Err(_) => return Err(RefreshFailed::StoreUnavailable),
    };
    let validates = app.providers[provider].validates_sessions();
    if current.created_at != seen.created_at
        || !refresh_due(&current, ctx.now, app.cfg.cookie.refresh, validates)
    {
        return Ok((current, None));
    }
    let refreshed = refresh_grant(app, &current, provider, ctx).await?;
    match store
        .save(Some(ticket), &refreshed, &owner(&subject_of(&refreshed)))
        .await
    {
        Ok(saved) => Ok((refreshed, Some(saved.cookie_value))),
        Err(StoreError::NotFound) => Err(RefreshFailed::Rejected),
        Err(e) => {
            crate::metrics::global().session_store_error(SessionStoreOp::Save);
            tracing::error!(request_id = %ctx.request_id, error = %e, "could not write the refreshed session");
            Err(RefreshFailed::StoreUnavailable)
        }
    }
}

/// Write a new session (log-in): a new ticket, its cookie.
pub async fn save_new(store: &RedisStore, session: &SessionState) -> Result<String, StoreError> {
    match store
        .save(None, session, &owner(&subject_of(session)))
        .await
    {
        Ok(saved) => Ok(saved.cookie_value),
        Err(e) => {
            crate::metrics::global().session_store_error(SessionStoreOp::Save);
            Err(e)
        }
    }
}

/// End the session a request's ticket names (sign-out): deleted in Redis, so a copy of the
/// cookie works nowhere any more. Failures are logged; the cookies are cleared regardless.
pub async fn end(app: &App, store: &RedisStore, headers: &HeaderMap, ctx: &RequestCtx) {
    let Some(value) = read_cookie(&app.cookies.name, cookie_headers(headers)) else {
        return;
    };
    let Ok(ticket) = store.codec().read_cookie(&value, ctx.now) else {
        return;
    };
    app.sessions.remove(&cache_key(app, ticket.id()));
    if let Err(e) = store.clear(&ticket).await {
        crate::metrics::global().session_store_error(SessionStoreOp::Clear);
        tracing::error!(request_id = %ctx.request_id, error = %e, "sign-out: the session could not be deleted from the session store");
    }
}

/// The session's owner for the back-channel logout indexes: `iss`, `sub` and `sid` of its ID
/// token (verified when the session was created; only read here).
fn subject_of(s: &SessionState) -> Option<TokenSubject> {
    crate::provider::unverified_subject(&s.id_token)
}

fn owner(subject: &Option<TokenSubject>) -> Owner<'_> {
    match subject {
        Some(c) => Owner {
            issuer: &c.iss,
            sub: c.sub.as_deref(),
            sid: c.sid.as_deref(),
        },
        None => Owner::NONE,
    }
}

/// Keep the cache in step with every replica's writes and deletes (pub/sub).
pub fn spawn_invalidation(app: std::sync::Weak<App>, store: RedisStore) {
    tokio::spawn(async move {
        loop {
            let mut sub = match store.subscribe_invalidations().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "session invalidation subscription failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            while let Some(inv) = sub.recv().await {
                let Some(app) = app.upgrade() else { return };
                match inv {
                    crate::session::redis::Invalidation::Ticket(id) => {
                        app.sessions.remove(&cache_key(&app, &id));
                    }
                    crate::session::redis::Invalidation::Resync => app.sessions.clear(),
                }
            }
            if app.strong_count() == 0 {
                return;
            }
        }
    });
}
