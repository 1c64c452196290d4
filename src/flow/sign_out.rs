//! `/oauth2/sign_out`.

use http::{Request, Response};
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::response::{add_cookies, redirect};
use crate::session::cookie::{clear_cookies, present_cookie_names};
use crate::Body;

use super::{header, query_param, safe_return};

/// `/oauth2/sign_out`: end the stored session (Redis store), clear every chunk, then go to a
/// validated `rd` (else `/`).
pub async fn sign_out(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    if let Some(store) = &app.redis {
        crate::auth::stored::end(app, store, req.headers(), ctx).await;
    }
    let rd =
        query_param(req.uri(), "rd").or_else(|| header(req.headers(), "x-auth-request-redirect"));
    let rd = safe_return(app, rd.as_deref(), ctx);
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
