//! The sign-in page, `/oauth2/start` and the start of a login transaction: CSRF cookie,
//! sealed state, PKCE, nonce, then off to the provider.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::error::AppError;
use crate::pages::SignInData;
use crate::provider::{AuthorizeParams, CodeChallenge, PkceMethod};
use crate::response::{add_cookies, page, redirect};
use crate::session::cookie::{
    clear_cookie, clear_present, cookie_headers, cookie_pairs, make_cookie,
};
use crate::session::csrf::{excess_csrf_cookies, CsrfToken};
use crate::session::state::encode_state;
use crate::Body;

use super::{
    csrf_options, header, original_url, query_param, redirect_uri, return_url_for_state,
    safe_return,
};

/// A protected request without a session.
pub fn unauthenticated(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    // A client that sent a bearer token or basic credentials gets 401, never a login page.
    if let Some(resp) = crate::auth::challenge(app, req.headers()) {
        return resp;
    }
    if ctx.wants_json {
        return app.error_response(ctx, &AppError::Unauthenticated, "/");
    }
    // oauth2-proxy's sign-in page and start read the request with `ParseForm` too.
    if let Some(resp) = super::check_query(app, req.uri().query(), ctx) {
        return resp;
    }
    let rd = safe_return(app, Some(&original_url(app, req, ctx)), ctx);
    // skip_provider_button goes straight to the provider only when there is no choice to make.
    if app.cfg.pages.skip_provider_button && app.providers.len() == 1 {
        return start_login(app, req.headers(), ctx, rd, 0);
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
    let clear = clear_present(&app.cookies, req.headers(), &ctx.host);
    if !clear.is_empty() {
        tracing::info!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip,
            "sign-in page: the existing session cookie is cleared");
    }
    let mut resp = if app.cfg.pages.skip_provider_button && app.providers.len() == 1 {
        start_login(app, req.headers(), ctx, rd, 0)
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
        "keycloak-oidc" | "keycloak" => "keycloak",
        // A CSS class name: no dot.
        "login.gov" => "logingov",
        other => other,
    }
}

/// The sign-in page, with `clear` (Set-Cookie values expiring the browser's session cookies).
pub fn sign_in_response(
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
            let clear = clear_present(&app.cookies, req.headers(), &ctx.host);
            return sign_in_response(app, ctx, &rd, StatusCode::OK, clear);
        }
    };
    start_login(app, req.headers(), ctx, rd, index)
}

/// Begin a login transaction: CSRF cookie + sealed state, then off to the provider.
pub(crate) fn start_login(
    app: &App,
    headers: &http::HeaderMap,
    ctx: &RequestCtx,
    rd: String,
    index: usize,
) -> Response<Body> {
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
    if app.cfg.cookie.csrf_per_request {
        let excess = excess_csrf_cookies(
            cookie_pairs(cookie_headers(headers)),
            &app.cookies.name,
            app.cfg.cookie.csrf_per_request_limit,
            app.cookies_secret(),
            ctx.now,
            app.cfg.cookie.csrf_expire,
        );
        let clear: Vec<String> = excess
            .into_iter()
            .map(|name| clear_cookie(&csrf_options(app, name.to_owned()), name, &ctx.host))
            .collect();
        add_cookies(&mut resp, &clear);
    }
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

#[cfg(test)]
mod button_tests {
    #[test]
    fn every_provider_type_has_a_branded_button() {
        let page = include_str!("../pages/templates/sign_in.html");
        for kind in crate::provider::SUPPORTED_KINDS {
            let class = super::button_kind(kind);
            assert!(
                page.contains(&format!(".btn-{class} {{")),
                "provider type {kind}: no colours for .btn-{class}"
            );
            assert!(
                class.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{class} is a plain CSS class name"
            );
        }
    }
}
