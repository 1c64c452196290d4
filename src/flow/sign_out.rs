//! `/oauth2/sign_out`.

use http::{Request, Response};
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::provider::ID_TOKEN_PLACEHOLDER;
use crate::response::{add_cookies, redirect};
use crate::session::cookie::{clear_cookies, present_cookie_names};
use crate::session::SessionState;
use crate::Body;

use super::{header, query_param, safe_return};

/// `/oauth2/sign_out`: call the provider's `backend_logout_url` for the session (before it is
/// cleared, as oauth2-proxy does), end the stored session (Redis store), clear every chunk,
/// then go to a validated `rd` (else `/`). With `oidc_rp_initiated_logout`, a session of a provider that
/// has an `end_session_endpoint` continues there (OpenID Connect RP-Initiated Logout 1.0),
/// which sends the browser back to the same validated `rd`. As in oauth2-proxy, a validated
/// `rd` may hold `{id_token}`, replaced by the session's ID token (a provider logout page).
pub async fn sign_out(app: &App, req: &Request<Incoming>, ctx: &RequestCtx) -> Response<Body> {
    let rd =
        query_param(req.uri(), "rd").or_else(|| header(req.headers(), "x-auth-request-redirect"));
    let rd = safe_return(app, rd.as_deref(), ctx);
    let placeholder = rd.contains(ID_TOKEN_PLACEHOLDER);
    let backend = app.backend_logouts.iter().any(Option::is_some);
    let current = if app.cfg.logout.rp_initiated || backend || placeholder {
        crate::auth::current_session(app, req.headers(), ctx).await
    } else {
        None
    };
    if let Some((session, provider)) = &current {
        backend_logout(app, session, *provider, ctx).await;
    } else if backend {
        tracing::info!(target: "auth", request_id = %ctx.request_id,
            "sign out: no valid session, backend logout not called");
    }
    if let Some(store) = &app.redis {
        crate::auth::stored::end(app, store, req.headers(), ctx).await;
    }
    let rd = match (&current, placeholder) {
        (Some((session, _)), true) => rd.replace(ID_TOKEN_PLACEHOLDER, &session.id_token),
        (None, true) => {
            tracing::warn!(target: "auth", request_id = %ctx.request_id,
                "sign out: no valid session, the {{id_token}} placeholder of the redirect URL is left as it is");
            rd
        }
        _ => rd,
    };
    let mut names = present_cookie_names(req.headers(), &app.cookies.name);
    if !names.iter().any(|n| n == &app.cookies.name) {
        names.push(app.cookies.name.clone());
    }
    let cookies = clear_cookies(&app.cookies, names.iter().map(String::as_str), &ctx.host);
    tracing::info!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, host = %ctx.host, "signed out");
    let target = current
        .filter(|_| app.cfg.logout.rp_initiated)
        .and_then(|(session, provider)| provider_logout(app, &session, provider, &rd, ctx))
        .unwrap_or(rd);
    let mut resp = redirect(&target);
    add_cookies(&mut resp, &cookies);
    resp
}

/// Call the backend logout URL of the session's provider, when it has one (its outcome is
/// logged; the sign-out goes on either way).
async fn backend_logout(app: &App, session: &SessionState, provider: usize, ctx: &RequestCtx) {
    if let (Some(Some(logout)), Some(p)) = (
        app.backend_logouts.get(provider),
        app.providers.get(provider),
    ) {
        logout
            .call(&session.id_token, p.id(), &ctx.request_id)
            .await;
    }
}

/// The provider's end-session URL for this session: `id_token_hint`, `client_id` and
/// `post_logout_redirect_uri` (the validated return URL, made absolute on this host; the
/// provider only honours it when it is registered for the client).
fn provider_logout(
    app: &App,
    session: &SessionState,
    provider: usize,
    rd: &str,
    ctx: &RequestCtx,
) -> Option<String> {
    let (mut url, client_id) = app.providers.get(provider)?.end_session()?;
    let back = absolute_return(rd, ctx);
    {
        let mut q = url.query_pairs_mut();
        if !session.id_token.is_empty() {
            q.append_pair("id_token_hint", &session.id_token);
        }
        q.append_pair("client_id", client_id);
        q.append_pair("post_logout_redirect_uri", &back);
    }
    Some(url.into())
}

/// `rd` as an absolute URL: unchanged when it already is one (validated against the
/// whitelist), else on this request's scheme and host.
pub(crate) fn absolute_return(rd: &str, ctx: &RequestCtx) -> String {
    if rd.starts_with('/') && !rd.starts_with("//") {
        format!("{}://{}{}", ctx.scheme, ctx.host, rd)
    } else {
        rd.to_owned()
    }
}
