//! `/oauth2/sign_out`.

use http::{Request, Response};
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::response::{add_cookies, redirect};
use crate::session::cookie::{clear_cookies, cookie_headers, present_cookie_names, read_cookie};
use crate::Body;

use super::{header, query_param, safe_return};

/// `/oauth2/sign_out`: the provider's `backend_logout_url` is called for the session (before
/// it is cleared, as oauth2-proxy does), then every chunk is cleared and the browser goes to
/// a validated `rd` (else `/`).
pub async fn sign_out(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    let rd =
        query_param(req.uri(), "rd").or_else(|| header(req.headers(), "x-auth-request-redirect"));
    let rd = safe_return(app, rd.as_deref(), ctx);
    backend_logout(app, req, ctx).await;
    let mut names = present_cookie_names(req.headers(), &app.cookies.name);
    if !names.iter().any(|n| n == &app.cookies.name) {
        names.push(app.cookies.name.clone());
    }
    let cookies = clear_cookies(&app.cookies, names.iter().map(String::as_str), &ctx.host);
    tracing::info!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, host = %ctx.host, "signed out");
    let mut resp = redirect(&rd);
    add_cookies(&mut resp, &cookies);
    resp
}

/// Call the backend logout URL of the session's provider, when it has one. Only a valid
/// session cookie counts (no refresh is attempted for it); without one nothing is called.
async fn backend_logout(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) {
    if app.backend_logouts.iter().all(Option::is_none) {
        return;
    }
    let Some(value) = read_cookie(&app.cookies.name, cookie_headers(req.headers())) else {
        return;
    };
    let session = match app
        .codec
        .verify(&value, ctx.now)
        .and_then(|parts| app.codec.decode_verified(&parts))
    {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(target: "auth", request_id = %ctx.request_id, reason = %e,
                "sign out: no valid session, backend logout not called");
            return;
        }
    };
    let Some(index) = crate::auth::session::session_provider(app, &session) else {
        return;
    };
    if let Some(logout) = &app.backend_logouts[index] {
        logout
            .call(
                &session.id_token,
                app.providers[index].id(),
                &ctx.request_id,
            )
            .await;
    }
}
