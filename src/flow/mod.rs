//! The login transaction and the session's life: sign-in page, `/start`, `/callback`,
//! `/sign_out`, loading and refreshing the session cookie.
//!
//! Ordering that matters for security, in `/callback`: the CSRF cookie and the sealed `state`
//! are checked (constant time) BEFORE the code is redeemed, and the return URL is validated
//! again before it is used.

use http::header::{HeaderValue, COOKIE};
use http::{HeaderMap, HeaderName, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::{add_cookies, page, redirect, App, RequestCtx};
use crate::authz::{decide_with_provider, Decision};
use crate::error::AppError;
use crate::headers::{auth_response_headers, strip_identity_headers, upstream_headers, Identity};
use crate::pages::SignInData;
use crate::provider::{
    AuthorizeParams, CodeChallenge, Identity as ProviderIdentity, IssuerCheck, PkceMethod,
    ProviderError,
};
use crate::redirect::validate_redirect;
use crate::session::cookie::{
    clear_cookie, clear_cookies, make_cookie, make_cookies, read_cookie, strip_own_cookies,
    CookieOptions,
};
use crate::session::csrf::CsrfToken;
use crate::session::state::{bind_state, encode_state, peek_state};
use crate::session::SessionState;
use crate::Body;

pub mod cache;
mod params;
pub use params::query_param;

/// The result of looking for a session on a request.
pub enum SessionLookup {
    /// A valid (possibly just refreshed) session; `set_cookies` re-issues it after a refresh.
    Valid {
        session: std::sync::Arc<cache::VerifiedSession>,
        set_cookies: Vec<String>,
    },
    /// No usable session; `clear_cookies` removes a bad or expired cookie the client sent.
    None { clear_cookies: Vec<String> },
}

/// Read, verify and (when due) refresh the session cookie.
pub async fn load_session(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> SessionLookup {
    // Machine clients (bearer JWT, htpasswd basic auth): an Authorization header that
    // authenticates wins over the cookie, as in oauth2-proxy's session chain.
    match crate::machine::authenticate(app, headers, ctx).await {
        crate::machine::Outcome::Valid(session) => {
            return SessionLookup::Valid {
                session,
                set_cookies: Vec::new(),
            }
        }
        crate::machine::Outcome::Refused => {
            return SessionLookup::None {
                clear_cookies: Vec::new(),
            }
        }
        crate::machine::Outcome::Absent => {}
    }
    let name = &app.cookies.name;
    let Some(value) = read_cookie(name, cookie_headers(headers)) else {
        return SessionLookup::None {
            clear_cookies: Vec::new(),
        };
    };
    let refresh = app.cfg.cookie.refresh;
    // Fast path: the same cookie this connection already verified, still within its lifetime.
    if let Some(v) = ctx.sessions.get(&value, ctx.now) {
        let validates = app.providers[v.provider].validates_sessions();
        if !refresh_due(&v.session, ctx, refresh, validates) {
            return SessionLookup::Valid {
                session: v,
                set_cookies: Vec::new(),
            };
        }
    }
    let session = match app.codec.decode(&value, ctx.now) {
        Ok(s) => s,
        Err(e) => {
            ctx.sessions.clear();
            tracing::info!(target: "auth", request_id = %ctx.request_id, reason = %e, "session cookie rejected");
            return SessionLookup::None {
                clear_cookies: clear_all(app, headers, ctx),
            };
        }
    };
    // A session names its provider; one naming a provider that is no longer configured is
    // refused (fail closed: its allow-lists and refresh endpoint are gone).
    let Some(provider) = session_provider(app, &session) else {
        ctx.sessions.clear();
        tracing::info!(target: "auth", request_id = %ctx.request_id, user = %session.email,
            "session cookie rejected: its provider is not configured");
        return SessionLookup::None {
            clear_cookies: clear_all(app, headers, ctx),
        };
    };
    let validates = app.providers[provider].validates_sessions();
    if !refresh_due(&session, ctx, refresh, validates) {
        let verified = std::sync::Arc::new(verified(app, session, provider));
        ctx.sessions.put(&value, verified.clone());
        return SessionLookup::Valid {
            session: verified,
            set_cookies: Vec::new(),
        };
    }
    // One refresh per stale session: concurrent requests with the same cookie share the result.
    // A session without a refresh token (GitHub) is re-validated instead, keyed by its token
    // and the time it was last validated (a refresh token rotates; this token does not).
    let key = if session.refresh_token.is_empty() {
        format!("validate:{}:{:?}", session.access_token, session.created_at)
    } else {
        session.refresh_token.clone()
    };
    let cell = app.refresher.cell(&key, ctx.now);
    let refreshed = cell
        .get_or_init(|| async {
            if session.refresh_token.is_empty() {
                return match app.providers[provider].validate_session(&session.access_token, ctx.now).await {
                    Ok(()) => {
                        let mut s = session.clone();
                        s.created_at = Some(ctx.now);
                        tracing::info!(target: "auth", request_id = %ctx.request_id, user = %s.email, "session re-validated");
                        Some(s)
                    }
                    Err(e) => {
                        tracing::warn!(target: "auth", request_id = %ctx.request_id, user = %session.email, error = %e,
                            "session re-validation failed (token revoked or provider unreachable); session cleared");
                        None
                    }
                };
            }
            // Refresh at the provider that issued the session's tokens.
            match app.providers[provider].refresh(&session.refresh_token, ctx.now).await {
                Ok(r) => {
                    crate::metrics::global().refresh(true);
                    let s = refreshed_session(&session, r, ctx.now);
                    tracing::info!(target: "auth", request_id = %ctx.request_id, user = %s.email, "session refreshed");
                    Some(s)
                }
                Err(e) => {
                    crate::metrics::global().refresh(false);
                    tracing::warn!(target: "auth", request_id = %ctx.request_id, user = %session.email, error = %e,
                        "session refresh failed; session cleared");
                    None
                }
            }
        })
        .await
        .clone();
    match refreshed {
        Some(s) => match app
            .codec
            .encode(&s, ctx.now)
            .map_err(|e| e.to_string())
            .and_then(|v| make_cookies(&app.cookies, &v, &ctx.host).map_err(|e| e.to_string()))
        {
            Ok(mut cookies) => {
                cookies.extend(stale_chunk_clears(app, headers, ctx, cookies.len()));
                SessionLookup::Valid {
                    session: std::sync::Arc::new(verified(app, s, provider)),
                    set_cookies: cookies,
                }
            }
            Err(e) => {
                tracing::error!(request_id = %ctx.request_id, error = %e, "could not encode refreshed session");
                SessionLookup::None {
                    clear_cookies: clear_all(app, headers, ctx),
                }
            }
        },
        None => SessionLookup::None {
            clear_cookies: clear_all(app, headers, ctx),
        },
    }
}

/// Key of the session's provider id in the session's additional claims (`ac`). oauth2-proxy
/// keeps `ac` as an opaque map, so its cookies stay readable by oauth2-proxy and vice versa.
pub const PROVIDER_CLAIM: &str = "authproxy.provider";

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

/// A verified session with the identity headers derived from it.
fn verified(app: &App, session: SessionState, provider: usize) -> cache::VerifiedSession {
    let valid_until = match (session.created_at, app.cfg.cookie.expire.is_zero()) {
        (Some(created), false) => Some(created + app.cfg.cookie.expire),
        (None, false) => Some(std::time::UNIX_EPOCH),
        (_, true) => None,
    };
    let upstream_headers = identity_headers_for(app, &session, provider);
    cache::VerifiedSession {
        session,
        provider,
        valid_until,
        upstream_headers,
    }
}

/// Whether this session should be refreshed now (refresh on, a refresh token, or a provider
/// that re-validates sessions without one, and old enough).
fn refresh_due(
    session: &SessionState,
    ctx: &RequestCtx,
    refresh: std::time::Duration,
    validates: bool,
) -> bool {
    !refresh.is_zero()
        && (!session.refresh_token.is_empty() || (validates && !session.access_token.is_empty()))
        && session_due(session, ctx, refresh)
}

fn session_due(session: &SessionState, ctx: &RequestCtx, refresh: std::time::Duration) -> bool {
    match session.created_at {
        Some(created) => ctx
            .now
            .duration_since(created)
            .map(|age| age > refresh)
            .unwrap_or(false),
        None => true,
    }
}

/// Build a session from what the provider verified.
pub fn session_from(id: ProviderIdentity, now: std::time::SystemTime) -> SessionState {
    SessionState {
        created_at: Some(now),
        expires_on: id.tokens.expires_on,
        access_token: id.tokens.access_token,
        id_token: id.tokens.id_token.unwrap_or_default(),
        refresh_token: id.tokens.refresh_token.unwrap_or_default(),
        email: id.claims.email,
        user: id.claims.user,
        groups: id.claims.groups,
        preferred_username: id.claims.preferred_username.unwrap_or_default(),
        ..SessionState::default()
    }
}

/// The session after a successful refresh: new tokens; new claims when the provider sent a new
/// ID token, else the old ones. A refresh response may omit the ID and refresh tokens.
fn refreshed_session(
    old: &SessionState,
    r: crate::provider::Refreshed,
    now: std::time::SystemTime,
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
    }
    s
}

/// Set-Cookie values that clear every session cookie chunk the client sent.
pub(crate) fn clear_all(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> Vec<String> {
    let present = present_cookie_names(headers, &app.cookies.name);
    if present.is_empty() {
        return Vec::new();
    }
    clear_cookies(&app.cookies, present.iter().map(String::as_str), &ctx.host)
}

/// After re-issuing a session in `kept` chunks, clear chunk names beyond them that the client still has.
fn stale_chunk_clears(
    app: &App,
    headers: &HeaderMap,
    ctx: &RequestCtx,
    kept: usize,
) -> Vec<String> {
    let name = &app.cookies.name;
    let mut stale: Vec<String> = present_cookie_names(headers, name)
        .into_iter()
        .filter(|n| {
            if kept <= 1 {
                n != name
            } else {
                n == name
                    || n.strip_prefix(name.as_str())
                        .and_then(|r| r.strip_prefix('_'))
                        .and_then(|i| i.parse::<usize>().ok())
                        .is_some_and(|i| i >= kept)
            }
        })
        .collect();
    stale.dedup();
    if stale.is_empty() {
        return Vec::new();
    }
    clear_cookies(&app.cookies, stale.iter().map(String::as_str), &ctx.host)
}

/// Names of the session cookie (`name` and `name_N`) present on the request.
fn present_cookie_names(headers: &HeaderMap, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for value in headers.get_all(COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let n = pair.split('=').next().unwrap_or("").trim();
            let is_ours = n == name
                || n.strip_prefix(name)
                    .and_then(|r| r.strip_prefix('_'))
                    .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()));
            if is_ours && !out.iter().any(|o| o == n) {
                out.push(n.to_owned());
            }
        }
    }
    out
}

/// The callback URL for this request: `redirect_url`, or this host's `{prefix}/callback`.
pub fn redirect_uri(app: &App, ctx: &RequestCtx) -> String {
    match &app.cfg.redirect_url {
        Some(u) => u.to_string(),
        None => format!(
            "{}://{}{}/callback",
            ctx.scheme, ctx.host, app.cfg.proxy_prefix
        ),
    }
}

/// The URL to come back to after signing in: the original request. Absolute (scheme, host,
/// path, query) whenever the callback is on another host, so a central callback domain sends
/// each user back to the app they came from.
pub fn original_url(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) -> String {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    if callback_elsewhere(app, ctx) && !ctx.host.is_empty() {
        format!("{}://{}{}", ctx.scheme, ctx.host, path_and_query)
    } else {
        path_and_query.to_owned()
    }
}

/// True when `redirect_url` names another host (and port) than this request's: the central
/// callback domain, where the login started here is finished by another sidecar.
fn callback_elsewhere(app: &App, ctx: &RequestCtx) -> bool {
    app.cfg.redirect_url.as_ref().is_some_and(|u| {
        let cb_host = match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        };
        !cb_host.eq_ignore_ascii_case(&ctx.host)
    })
}

// --- central callback: absolute return URLs (ops) ---
/// The return URL to seal into the login state. With a central callback a relative target
/// (`rd=/dashboard`, or the `/` fallback for a refused target) would be resolved against the
/// AUTH host after the callback, stranding the user there (the seed's bug): make it absolute
/// on the host the login started from, and validate it again.
fn return_url_for_state(app: &App, ctx: &RequestCtx, rd: String) -> String {
    if !rd.starts_with('/') || ctx.host.is_empty() || !callback_elsewhere(app, ctx) {
        return rd;
    }
    let absolute = format!("{}://{}{}", ctx.scheme, ctx.host, rd);
    match validate_redirect(&absolute, &app.whitelist, Some(&ctx.host)) {
        Ok(r) => r.into_string(),
        Err(_) => rd,
    }
}
// --- end central callback ---

/// Validate a requested redirect target; anything refused becomes `/`.
pub(crate) fn safe_return(app: &App, target: Option<&str>, ctx: &RequestCtx) -> String {
    match target.filter(|t| !t.is_empty()) {
        Some(t) => match validate_redirect(t, &app.whitelist, Some(&ctx.host)) {
            Ok(r) => r.as_str().to_owned(),
            Err(e) => {
                tracing::warn!(target: "auth", request_id = %ctx.request_id, reason = %e, "redirect target refused");
                "/".to_owned()
            }
        },
        None => "/".to_owned(),
    }
}

/// A protected request without a session.
pub fn unauthenticated(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    // A client that sent a bearer token or basic credentials gets 401, never a login page.
    if let Some(resp) = crate::machine::challenge(app, req.headers(), ctx) {
        return resp;
    }
    if ctx.wants_json {
        return app.error_response(ctx, &AppError::Unauthenticated, "/");
    }
    let rd = safe_return(app, Some(&original_url(app, req, ctx)), ctx);
    // skip_provider_button goes straight to the provider only when there is no choice to make.
    if app.cfg.pages.skip_provider_button && app.providers.len() == 1 {
        return start_login(app, ctx, rd, 0);
    }
    // The sign-in page ends any session the browser has (as oauth2-proxy's SignInPage does):
    // here the cookie, if any, was already refused, and the caller clears it.
    sign_in_response(app, ctx, &rd, StatusCode::FORBIDDEN, Vec::new())
}

/// `/oauth2/sign_in`.
pub fn sign_in_page(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    let rd =
        query_param(req.uri(), "rd").or_else(|| header(req.headers(), "x-auth-request-redirect"));
    let rd = safe_return(app, rd.as_deref(), ctx);
    // Session-fixation defence (GHSA-f24x-5g9q-753f): a new sign-in starts without the old
    // session. Every session cookie the browser sent (base name and every `_N` chunk) is
    // expired, also when skip_provider_button goes straight to the provider.
    let clear = clear_all(app, req.headers(), ctx);
    if !clear.is_empty() {
        tracing::info!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip,
            "sign-in page: the existing session cookie is cleared");
    }
    let mut resp = if app.cfg.pages.skip_provider_button && app.providers.len() == 1 {
        start_login(app, ctx, rd, 0)
    } else {
        sign_in_response(app, ctx, &rd, StatusCode::OK, Vec::new())
    };
    add_cookies(&mut resp, &clear);
    resp
}

/// The page kind (logo and colours) of a provider type.
fn button_kind(kind: &str) -> &str {
    match kind {
        "entra-id" | "azure" => "microsoft",
        "keycloak-oidc" => "keycloak",
        other => other,
    }
}

/// The sign-in page, with `clear` (Set-Cookie values expiring the browser's session cookies).
pub(crate) fn sign_in_response(
    app: &App,
    ctx: &RequestCtx,
    rd: &str,
    status: StatusCode,
    clear: Vec<String>,
) -> Response<Body> {
    let _ = ctx;
    let rd_q = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>();
    let providers = app
        .providers
        .iter()
        .map(|p| crate::pages::ProviderButton {
            id: p.id().to_owned(),
            name: p.display_name().to_owned(),
            kind: button_kind(p.kind()).to_owned(),
            start_url: format!(
                "{}/start?provider={}&rd={rd_q}",
                app.cfg.proxy_prefix,
                url::form_urlencoded::byte_serialize(p.id().as_bytes()).collect::<String>()
            ),
        })
        .collect();
    let html = app.pages.render_sign_in(&SignInData {
        status_code: status.as_u16(),
        redirect: rd.to_owned(),
        provider_name: app.providers[0].display_name().to_owned(),
        providers,
        custom_login: app.machine.shows_form(),
    });
    let mut resp = page(status, "text/html; charset=utf-8", html);
    add_cookies(&mut resp, &clear);
    resp
}

/// `/oauth2/start`: `?provider=<id>` picks the provider (an unknown id is a 400); without it,
/// the only provider, or the sign-in page to choose one when there are several.
pub fn start(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    let rd =
        query_param(req.uri(), "rd").or_else(|| header(req.headers(), "x-auth-request-redirect"));
    let rd = safe_return(app, rd.as_deref(), ctx);
    let index = match query_param(req.uri(), "provider").filter(|p| !p.is_empty()) {
        Some(id) => match app.provider_index(&id) {
            Some(i) => i,
            None => {
                tracing::info!(request_id = %ctx.request_id, provider = %id, "login start for an unknown provider");
                return app.error_response(ctx, &AppError::UnknownProvider, &rd);
            }
        },
        None if app.providers.len() == 1 => 0,
        None => {
            let clear = clear_all(app, req.headers(), ctx);
            return sign_in_response(app, ctx, &rd, StatusCode::OK, clear);
        }
    };
    start_login(app, ctx, rd, index)
}

/// Begin a login transaction: CSRF cookie + sealed state, then off to the provider.
fn start_login(app: &App, ctx: &RequestCtx, rd: String, index: usize) -> Response<Body> {
    let rd = return_url_for_state(app, ctx, rd);
    let provider = &app.providers[index];
    let pcfg = &app.cfg.providers[index];
    if !provider.is_ready() {
        return app.error_response(ctx, &AppError::ProviderNotReady, &rd);
    }
    let csrf = CsrfToken::generate();
    // The sealed state names the provider: the callback uses exactly that one.
    let state = encode_state(app.cookies_secret(), &csrf, &rd, provider.id(), ctx.now);
    let method = PkceMethod::from_config(pcfg.code_challenge_method);
    let challenge_value = match method {
        Some(PkceMethod::S256) => csrf.code_challenge_s256().unwrap_or_default(),
        Some(PkceMethod::Plain) => csrf.code_verifier.clone(),
        None => String::new(),
    };
    let redirect_uri = redirect_uri(app, ctx);
    let nonce = csrf.hashed_nonce();
    let params = AuthorizeParams {
        redirect_uri: &redirect_uri,
        state: &state,
        nonce: &nonce,
        code_challenge: method.map(|method| CodeChallenge {
            challenge: &challenge_value,
            method,
        }),
        prompt: pcfg.prompt.as_deref(),
        acr_values: pcfg.acr_values.as_deref(),
    };
    let url = match provider.authorize_url(&params) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(request_id = %ctx.request_id, error = %e, "could not build the authorization URL");
            return app.error_response(ctx, &AppError::Internal, &rd);
        }
    };
    let csrf_name = csrf.cookie_name(&app.cookies.name, app.cfg.cookie.csrf_per_request);
    let csrf_value = match csrf.encode(app.cookies_secret(), &csrf_name, ctx.now) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(request_id = %ctx.request_id, error = %e, "could not encode the CSRF cookie");
            return app.error_response(ctx, &AppError::Internal, &rd);
        }
    };
    let mut resp = redirect(url.as_str());
    add_cookies(
        &mut resp,
        &[make_cookie(
            &csrf_options(app, csrf_name),
            &csrf_value,
            &ctx.host,
        )],
    );
    resp
}

/// `/oauth2/callback`.
pub async fn callback(
    app: &App,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> (Response<Body>, Option<String>) {
    let uri = req.uri();
    // The state names the CSRF cookie (per-request CSRF cookies carry part of its hash).
    let peeked = query_param(uri, "state")
        .ok_or(crate::session::state::StateError::Empty)
        .and_then(|st| {
            peek_state(
                app.cookies_secret(),
                &st,
                ctx.now,
                app.cfg.cookie.csrf_expire,
            )
        });
    let csrf_name = match &peeked {
        Ok(st) => st.csrf_cookie_name(&app.cookies.name, app.cfg.cookie.csrf_per_request),
        Err(_) => crate::session::csrf::csrf_cookie_name(&app.cookies.name, None),
    };
    let clear_csrf = vec![clear_cookie(
        &csrf_options(app, csrf_name.clone()),
        &csrf_name,
        &ctx.host,
    )];
    // Metrics (ops): every way out of the callback counts as one login outcome.
    let metrics = crate::metrics::global();
    // The provider label is known once the state has named the provider.
    let login_provider = std::sync::OnceLock::<usize>::new();
    let fail = |err: AppError, rd: &str| {
        use crate::metrics::LoginOutcome as O;
        let outcome = match &err {
            AppError::CsrfStateMismatch | AppError::CsrfCookieMissing => O::InvalidState,
            AppError::ProviderDenied { .. } => O::ProviderDenied,
            AppError::Forbidden { .. } => O::Forbidden,
            AppError::CallbackMissingCode | AppError::Internal => O::Error,
            _ => O::ProviderError,
        };
        // Before the state names its provider: the only one, or "unknown" among several.
        let label = match (login_provider.get(), app.providers.as_slice()) {
            (Some(&i), _) => app.providers[i].id(),
            (None, [only]) => only.id(),
            (None, _) => "unknown",
        };
        metrics.login(label, outcome);
        // A provider restriction (org, team, tenant, role...) refused this account at the
        // callback, before any session: as for the global rules (step 7), another account or
        // provider may be allowed, so the page links back to the sign-in page.
        let retry = err.can_retry() || matches!(err, AppError::Forbidden { .. });
        let mut resp = app.error_response_retry(ctx, &err, rd, retry);
        add_cookies(&mut resp, &clear_csrf);
        (resp, None)
    };
    // 1. The state must be ours and unexpired...
    let peeked = match peeked {
        Ok(st) => st,
        Err(e) => {
            tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, reason = %e,
                security = true, "login failed: invalid state (possible CSRF or replay)");
            metrics.csrf_failure("invalid_state");
            return fail(AppError::CsrfStateMismatch, "/");
        }
    };
    // 2. ...the CSRF cookie set by /start in this browser must be present and authentic...
    let csrf = match read_cookie(&csrf_name, cookie_headers(req.headers())) {
        Some(v) => CsrfToken::decode(
            app.cookies_secret(),
            &csrf_name,
            &v,
            ctx.now,
            app.cfg.cookie.csrf_expire,
        )
        .map_err(|e| e.to_string()),
        None => Err("no CSRF cookie".to_owned()),
    };
    let csrf = match csrf {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, reason = %e,
                security = true, "login failed: CSRF cookie missing or invalid");
            metrics.csrf_failure("missing_csrf_cookie");
            return fail(AppError::CsrfCookieMissing, "/");
        }
    };
    // 3. ...and the state must belong to that cookie (constant time) — before anything else.
    let state = match bind_state(peeked, &csrf) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, reason = %e,
                security = true, "login failed: state does not match the CSRF cookie (possible CSRF or replay)");
            metrics.csrf_failure("state_mismatch");
            return fail(AppError::CsrfStateMismatch, "/");
        }
    };
    let rd = safe_return(app, Some(&state.return_url), ctx);
    // 4. The provider is the one the state names (oauth2-proxy's states name none: its first
    //    provider). Never one chosen by the callback request itself.
    let index = if state.provider_id.is_empty() {
        Some(0)
    } else {
        app.provider_index(&state.provider_id)
    };
    let Some(index) = index else {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, provider = %state.provider_id,
            security = true, "login failed: the state names a provider that is not configured");
        return fail(AppError::UnknownProvider, &rd);
    };
    let provider = &app.providers[index];
    let _ = login_provider.set(index);
    // RFC 9207: an authorization response that says it comes from another issuer belongs to
    // another provider's login (a mix-up, or a callback replayed with another login's state).
    if let Err(why) = response_issuer_ok(app, index, query_param(uri, "iss").as_deref()) {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip,
            provider = provider.id(), security = true, reason = why,
            "login failed: the authorization response's issuer is not the state's provider");
        return fail(
            AppError::LoginRejected {
                reason: "the sign-in response came from another identity provider than the one this login started with".into(),
            },
            "/",
        );
    }
    // 5. The provider's own error, if any.
    if let Some(error) = query_param(uri, "error") {
        let description = query_param(uri, "error_description");
        tracing::warn!(target: "auth", request_id = %ctx.request_id, error = %error, "login failed: provider returned an error");
        return fail(AppError::ProviderDenied { error, description }, &rd);
    }
    let Some(code) = query_param(uri, "code").filter(|c| !c.is_empty()) else {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, "login failed: callback without code");
        return fail(AppError::CallbackMissingCode, &rd);
    };
    // 6. Only now talk to the provider.
    let verifier = PkceMethod::from_config(app.cfg.providers[index].code_challenge_method)
        .map(|_| csrf.code_verifier.as_str());
    let nonce = csrf.hashed_nonce();
    let identity = match provider
        .redeem(
            &code,
            &redirect_uri(app, ctx),
            verifier,
            Some(&nonce),
            ctx.now,
        )
        .await
    {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(target: "auth", request_id = %ctx.request_id, error = %e, "login failed: code redemption");
            return fail(provider_error(&e), &rd);
        }
    };
    let mut session = session_from(identity, ctx.now);
    session.nonce = csrf.oidc_nonce.to_vec();
    session
        .additional_claims
        .insert(PROVIDER_CLAIM.to_owned(), rmpv::Value::from(provider.id()));
    // 7. Authorization (global rules and this provider's allow-list) before any session is issued.
    if let Decision::Deny(reason) = decide_with_provider(
        &app.authz,
        &app.provider_groups[index],
        &session.email,
        &session.groups,
    ) {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, user = %session.email, reason = reason.as_str(),
            provider = provider.id(), "login failed: not authorized");
        metrics.authorization_denied(reason.as_str());
        metrics.login(provider.id(), crate::metrics::LoginOutcome::Forbidden);
        // The same account will be refused again, but another account or another provider
        // may be allowed: the page links back to the sign-in page (no session was issued).
        let mut resp = app.error_response_retry(
            ctx,
            &AppError::Forbidden {
                reason: reason.as_str(),
            },
            &rd,
            true,
        );
        add_cookies(&mut resp, &clear_csrf);
        return (resp, None);
    }
    let value = match app.codec.encode(&session, ctx.now) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(request_id = %ctx.request_id, error = %e, "could not encode the session");
            return fail(AppError::Internal, &rd);
        }
    };
    tracing::info!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, host = %ctx.host,
        user = %session.email, provider = provider.id(),
        "login succeeded");
    let cookies = match make_cookies(&app.cookies, &value, &ctx.host) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(request_id = %ctx.request_id, error = %e, "could not write the session cookie");
            return fail(AppError::Internal, &rd);
        }
    };
    metrics.login(provider.id(), crate::metrics::LoginOutcome::Success);
    let stale = stale_chunk_clears(app, req.headers(), ctx, cookies.len());
    let mut resp = redirect(&rd);
    add_cookies(&mut resp, &cookies);
    add_cookies(&mut resp, &stale);
    add_cookies(&mut resp, &clear_csrf);
    (resp, Some(session.email))
}

/// The RFC 9207 mix-up defence for a login started at provider `index`: the response's `iss`
/// must name that provider; it must be present when the provider promised it; and an `iss`
/// naming another configured provider is refused even when this one has no issuer identifier.
fn response_issuer_ok(app: &App, index: usize, iss: Option<&str>) -> Result<(), &'static str> {
    match app.providers[index].check_response_issuer(iss) {
        IssuerCheck::Matches => Ok(()),
        IssuerCheck::Mismatch => Err("iss names another issuer"),
        IssuerCheck::Missing => Err("iss missing although the provider promises it"),
        IssuerCheck::Unknown => {
            let other =
                app.providers.iter().enumerate().any(|(i, p)| {
                    i != index && p.check_response_issuer(iss) == IssuerCheck::Matches
                });
            if iss.is_some() && other {
                Err("iss names another configured provider")
            } else {
                Ok(())
            }
        }
    }
}

fn provider_error(e: &ProviderError) -> AppError {
    use crate::provider::Blame;
    if let Some((error, description)) = e.idp_error() {
        return AppError::ProviderDenied {
            error: error.to_owned(),
            description: description.map(str::to_owned),
        };
    }
    match e {
        ProviderError::NotReady => AppError::ProviderNotReady,
        // A provider restriction (org, team, tenant, group, role...): 403 with the rule.
        ProviderError::Denied { rule, .. } => AppError::Forbidden { reason: rule },
        ProviderError::UnverifiedEmail { .. } => AppError::LoginRejected {
            reason: "your email address is not verified".into(),
        },
        ProviderError::MissingEmail { .. } => AppError::LoginRejected {
            reason: "the provider did not return an email address".into(),
        },
        ProviderError::InvalidIdToken(_) | ProviderError::InvalidUserinfoToken(_) => {
            AppError::LoginRejected {
                reason: "the identity token failed verification".into(),
            }
        }
        _ => match e.blame() {
            Blame::Network | Blame::IdentityProvider => AppError::ProviderUnavailable,
            _ => AppError::Internal,
        },
    }
}

/// `/oauth2/sign_out`: clear every chunk, then go to a validated `rd` (else `/`).
pub fn sign_out(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    let rd =
        query_param(req.uri(), "rd").or_else(|| header(req.headers(), "x-auth-request-redirect"));
    let rd = safe_return(app, rd.as_deref(), ctx);
    let mut names = present_cookie_names(req.headers(), &app.cookies.name);
    if !names.iter().any(|n| n == &app.cookies.name) {
        names.push(app.cookies.name.clone());
    }
    let cookies = clear_cookies(&app.cookies, names.iter().map(String::as_str), &ctx.host);
    ctx.sessions.clear();
    tracing::info!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, host = %ctx.host, "signed out");
    let mut resp = redirect(&rd);
    add_cookies(&mut resp, &cookies);
    resp
}

/// Remove what the client must not be able to send to the app: forged identity headers
/// (any case, `_` variants) and the proxy's own cookies.
pub fn prepare_upstream_request(app: &App, headers: &mut HeaderMap) {
    strip_identity_headers(headers, app.cfg.headers.pass_authorization_header);
    let mut kept: Option<String> = None;
    let mut changed = false;
    for value in headers.get_all(COOKIE) {
        let Ok(v) = value.to_str() else { continue };
        match strip_own_cookies(v, &app.cookies.name) {
            Some(rest) if rest == v => kept = Some(join_cookie(kept, v)),
            Some(rest) => {
                changed = true;
                kept = Some(join_cookie(kept, &rest));
            }
            None => changed = true,
        }
    }
    if changed || headers.get_all(COOKIE).iter().count() > 1 {
        headers.remove(COOKIE);
        if let Some(v) = kept.and_then(|k| HeaderValue::from_str(&k).ok()) {
            headers.insert(COOKIE, v);
        }
    }
}

fn join_cookie(acc: Option<String>, v: &str) -> String {
    match acc {
        Some(mut a) => {
            a.push_str("; ");
            a.push_str(v);
            a
        }
        None => v.to_owned(),
    }
}

fn identity_of<'a>(s: &'a SessionState, provider: &'a str) -> Identity<'a> {
    Identity {
        provider,
        user: &s.user,
        email: &s.email,
        groups: &s.groups,
        preferred_username: &s.preferred_username,
        access_token: &s.access_token,
        id_token: &s.id_token,
    }
}

/// Identity headers for the request to the app.
pub fn identity_headers_for(
    app: &App,
    s: &SessionState,
    provider: usize,
) -> Vec<(HeaderName, HeaderValue)> {
    upstream_headers(&app.identity, &identity_of(s, app.providers[provider].id()))
}

/// Identity headers on a `/oauth2/auth` 202 response.
pub fn auth_response_headers_for(
    app: &App,
    v: &cache::VerifiedSession,
) -> Vec<(HeaderName, HeaderValue)> {
    auth_response_headers(
        &app.identity,
        &identity_of(&v.session, app.providers[v.provider].id()),
    )
}

/// May this verified session use the app? The global rules and its provider's allow-list.
pub fn authorize(app: &App, v: &cache::VerifiedSession) -> Decision {
    decide_with_provider(
        &app.authz,
        &app.provider_groups[v.provider],
        &v.session.email,
        &v.session.groups,
    )
}

/// Cookie header values as strings (non-UTF-8 values are ignored).
fn cookie_headers(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// Options of a CSRF cookie: the session cookie's attributes, its own name and lifetime.
/// `SameSite=Strict` would keep the cookie off the provider's redirect back to the callback, so
/// the CSRF cookie uses Lax then (it only guards the login transaction).
fn csrf_options(app: &App, name: String) -> CookieOptions {
    let mut opts = app
        .cookies
        .clone()
        .with_name(name)
        .with_expire(app.cfg.cookie.csrf_expire);
    if opts.samesite == crate::config::SameSite::Strict {
        opts.samesite = crate::config::SameSite::Lax;
    }
    opts
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
