//! `/oauth2/callback`: the end of a login transaction.

use http::{Request, Response};
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::auth::session::PROVIDER_CLAIM;
use crate::authz::{decide_with_provider, Decision};
use crate::error::AppError;
use crate::provider::{Identity as ProviderIdentity, IssuerCheck, PkceMethod, ProviderError};
use crate::response::{add_cookies, redirect};
use crate::session::cookie::{clear_cookie, cookie_headers, read_cookie};
use crate::session::csrf::CsrfToken;
use crate::session::state::{bind_state, peek_state_any};
use crate::session::SessionState;
use crate::Body;

use super::{csrf_options, redirect_uri, safe_return};

/// `POST /oauth2/callback`: the provider's answer as a form (`response_mode=form_post`, see
/// `auth_request_response_mode`). As Go's `ParseForm` reads it for oauth2-proxy: an
/// `application/x-www-form-urlencoded` body's parameters come before the query's; another
/// content type leaves only the query.
pub async fn callback_post(
    app: &App,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> (Response<Body>, Option<String>) {
    let is_form = super::params::is_form_urlencoded(req.headers());
    let (parts, body) = req.into_parts();
    let query = parts.uri.query();
    let form = if is_form {
        let body = match super::form::read_endpoint_body(app, ctx, &parts.headers, body).await {
            Ok(b) => b,
            Err(resp) => return (resp, None),
        };
        let body = String::from_utf8_lossy(&body);
        if let Some(resp) = super::check_query(app, Some(&body), ctx) {
            return (resp, None);
        }
        crate::query::body_then_query(&body, query)
    } else {
        query.unwrap_or("").to_owned()
    };
    let req = Request::from_parts(parts, ());
    callback(app, &req, ctx, &form).await
}

/// `/oauth2/callback`; `form` is the query (GET) or the posted form (see [`callback_post`]).
pub async fn callback<B>(
    app: &App,
    req: &Request<B>,
    ctx: &RequestCtx,
    form: &str,
) -> (Response<Body>, Option<String>) {
    let param = |name: &str| crate::query::first(form, name);
    // The state names the CSRF cookie (per-request CSRF cookies carry part of its hash).
    let peeked = param("state")
        .ok_or(crate::session::state::StateError::Empty)
        .and_then(|st| {
            peek_state_any(
                app.cookie_secrets(),
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
        Some(v) => CsrfToken::decode_any(
            app.cookie_secrets(),
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
    if let Err(why) = response_issuer_ok(app, index, param("iss").as_deref()) {
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
    if let Some(error) = param("error") {
        let description = param("error_description");
        tracing::warn!(target: "auth", request_id = %ctx.request_id, error = %error, "login failed: provider returned an error");
        return fail(AppError::ProviderDenied { error, description }, &rd);
    }
    let Some(code) = param("code").filter(|c| !c.is_empty()) else {
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
    let cookies = match crate::auth::issue_session(app, &session, req.headers(), ctx).await {
        Ok(c) => c,
        Err(e) => return fail(e, &rd),
    };
    tracing::info!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, host = %ctx.host,
        user = %session.email, provider = provider.id(),
        "login succeeded");
    metrics.login(provider.id(), crate::metrics::LoginOutcome::Success);
    let mut resp = redirect(&rd);
    add_cookies(&mut resp, &cookies);
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

/// Build a session from what the provider verified; its kept claims go to `ac`.
pub fn session_from(id: ProviderIdentity, now: std::time::SystemTime) -> SessionState {
    let mut additional_claims = std::collections::BTreeMap::new();
    crate::session::claims::replace_kept(&mut additional_claims, &id.claims.extra);
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
        additional_claims,
        ..SessionState::default()
    }
}
