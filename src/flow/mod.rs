//! The login transaction and its endpoints: the sign-in page and `/start` ([`login`]),
//! `/callback` ([`callback`]), `/sign_out` ([`sign_out`]), `/backchannel-logout` ([`backchannel`]) and the htpasswd form ([`form`]).
//! Loading and refreshing an existing session is the authentication chain's job
//! ([`crate::auth`]).
//!
//! Ordering that matters for security, in `/callback`: the CSRF cookie and the sealed `state`
//! are checked (constant time) BEFORE the code is redeemed, and the return URL is validated
//! again before it is used.

use http::{HeaderMap, Request};
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::redirect::validate_redirect;
use crate::session::cookie::CookieOptions;

pub mod backchannel;
pub mod callback;
pub mod form;
pub mod login;
mod params;
pub mod sign_out;

pub use backchannel::backchannel_logout;
pub use callback::callback;
pub use form::form_sign_in;
pub use login::{sign_in_page, start, unauthenticated};
pub use params::query_param;
pub use sign_out::sign_out;

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
pub(crate) fn callback_elsewhere(app: &App, ctx: &RequestCtx) -> bool {
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
/// AUTH host after the callback, stranding the user there (the relative-return-URL bug): make it absolute
/// on the host the login started from, and validate it again.
pub(crate) fn return_url_for_state(app: &App, ctx: &RequestCtx, rd: String) -> String {
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

/// Options of a CSRF cookie: the session cookie's attributes, its own name and lifetime.
/// `SameSite=Strict` would keep the cookie off the provider's redirect back to the callback, so
/// the CSRF cookie uses Lax then (it only guards the login transaction).
pub(crate) fn csrf_options(app: &App, name: String) -> CookieOptions {
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

pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
