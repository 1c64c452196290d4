//! Forward authentication: `/oauth2/auth` (nginx `auth_request`, Traefik `forwardAuth`) and
//! `{prefix}/ext_authz/…` (Envoy / Istio HTTP ext_authz); Envoy's gRPC ext_authz is in
//! [`crate::ext_authz`] and asks the same questions. The pure policy (query constraints, the
//! original target, the removal list) is in [`policy`]; identities come from the one
//! authentication chain, [`crate::auth`].

pub mod policy;

use http::header::HeaderValue;
use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::auth::Lookup;
use crate::authz::Decision;
use crate::error::AppError;
use crate::response::{add_cookies, page, redirect};
use crate::session::cache::VerifiedSession;
use crate::Body;

use policy::{ext_authz_target, headers_to_remove, AuthConstraints, Subject};

static ENVOY_HEADERS_TO_REMOVE: HeaderName =
    HeaderName::from_static("x-envoy-auth-headers-to-remove");

/// 401 with oauth2-proxy's JSON error body (API clients, `api_routes`).
pub fn unauthorized_json() -> Response<Body> {
    page(
        StatusCode::UNAUTHORIZED,
        "application/json",
        crate::pages::json_error(401, &AppError::Unauthenticated.message()),
    )
}

/// The session when it is valid and allowed by the global rules; cookies to send either way.
pub async fn allowed_session(
    app: &App,
    headers: &HeaderMap,
    ctx: &RequestCtx,
) -> (Option<std::sync::Arc<VerifiedSession>>, Vec<String>) {
    match crate::auth::authenticate(app, headers, ctx).await {
        Lookup::Valid {
            session,
            set_cookies,
        } => {
            if crate::auth::authorize(app, &session).is_allowed() {
                (Some(session), set_cookies)
            } else {
                (None, set_cookies)
            }
        }
        Lookup::None { clear_cookies } => (None, clear_cookies),
        Lookup::Busy(_) => (None, Vec::new()),
    }
}

fn subject(v: &VerifiedSession) -> Subject<'_> {
    Subject {
        user: &v.session.user,
        email: &v.session.email,
        groups: &v.session.groups,
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    page(status, "text/plain; charset=utf-8", body)
}

/// `/oauth2/auth`: 202 with identity headers, 401 without a session, 403 when the session is
/// not allowed (globally or by the query constraints). Skip rules apply to the ORIGINAL
/// request, known only from a trusted proxy's headers.
pub async fn auth_request(
    app: &App,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
) -> (Response<Body>, Option<String>) {
    let constraints = match AuthConstraints::from_query(req.uri().query()) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(request_id = %ctx.request_id, error = %e, "bad /oauth2/auth query");
            return (text(StatusCode::BAD_REQUEST, "Bad Request"), None);
        }
    };
    let original = crate::forwarded::original_request(
        req.headers(),
        req.uri(),
        req.method(),
        ctx.peer,
        &app.forward,
    );
    let skip = app.skip.skip(
        original.method.as_str(),
        original.forwarded_uri.as_deref(),
        ctx.client_ip,
    );
    let (session, cookies) = match crate::auth::authenticate(app, req.headers(), ctx).await {
        Lookup::Valid {
            session,
            set_cookies,
        } => (Some(session), set_cookies),
        Lookup::None { clear_cookies } => (None, clear_cookies),
        // Credentials that could not be checked: 503 (a skipped request still passes).
        Lookup::Busy(_) if skip.is_none() => {
            let mut resp = text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            return (resp, None);
        }
        Lookup::Busy(_) => (None, Vec::new()),
    };
    let verdict = match &session {
        None => Err(StatusCode::UNAUTHORIZED),
        Some(v) => match crate::auth::authorize(app, v) {
            Decision::Deny(reason) => {
                tracing::info!(request_id = %ctx.request_id, user = %v.session.email,
                    reason = reason.as_str(), "auth request denied");
                Err(StatusCode::FORBIDDEN)
            }
            Decision::Allow if !constraints.allows(&subject(v)) => {
                tracing::info!(request_id = %ctx.request_id, user = %v.session.email,
                    "auth request denied by the query constraints");
                Err(StatusCode::FORBIDDEN)
            }
            Decision::Allow => Ok(v),
        },
    };
    let user = session.as_ref().map(|s| s.session.email.clone());
    let mut resp = match (verdict, skip) {
        (Ok(v), _) => {
            let mut resp = text(StatusCode::ACCEPTED, "");
            for (name, value) in &v.injected.response {
                resp.headers_mut().append(name.clone(), value.clone());
            }
            resp
        }
        // A skipped request is accepted, without any identity.
        (Err(_), Some(reason)) => {
            tracing::debug!(request_id = %ctx.request_id, reason = reason.as_str(), "auth request skipped");
            text(StatusCode::ACCEPTED, "")
        }
        (Err(StatusCode::UNAUTHORIZED), None) => text(StatusCode::UNAUTHORIZED, "Unauthorized"),
        (Err(_), None) => text(StatusCode::FORBIDDEN, "Forbidden"),
    };
    add_cookies(&mut resp, &cookies);
    (resp, user)
}

/// `{prefix}/ext_authz/<original path>`: Envoy's HTTP ext_authz check (Istio
/// `envoyExtAuthzHttp` with `pathPrefix: {prefix}/ext_authz`). Envoy allows only on 200,
/// so success is 200 with the identity headers for the app (list them in
/// `headersToUpstreamOnAllow`) and `x-envoy-auth-headers-to-remove` naming every other
/// identity header spelling, so a client cannot forge one. Denials: 302 to `{prefix}/start`
/// for browsers, 401 JSON for API clients and `api_routes`, 403 when signed in but not
/// allowed. The query constraints of `/oauth2/auth` are NOT read here: this path is the
/// client's.
pub async fn ext_authz_http(
    app: &App,
    req: &Request<Incoming>,
    ctx: &RequestCtx,
    rest: &str,
) -> (Response<Body>, Option<String>) {
    let target = match req.uri().query() {
        Some(q) => ext_authz_target(&format!("{rest}?{q}")),
        None => ext_authz_target(rest),
    };
    let skip = app
        .skip
        .skip(req.method().as_str(), Some(&target), ctx.client_ip);
    if let Some(reason) = skip {
        tracing::debug!(request_id = %ctx.request_id, reason = reason.as_str(), "ext_authz check skipped");
        let (session, cookies) = allowed_session(app, req.headers(), ctx).await;
        let user = session.as_ref().map(|s| s.session.email.clone());
        let mut resp = envoy_allow(session.as_deref(), req.headers());
        add_cookies(&mut resp, &cookies);
        return (resp, user);
    }
    let (session, cookies) = match crate::auth::authenticate(app, req.headers(), ctx).await {
        Lookup::Valid {
            session,
            set_cookies,
        } => (session, set_cookies),
        Lookup::None { clear_cookies } => {
            let mut resp = if ctx.wants_json || app.skip.is_api(&target) {
                unauthorized_json()
            } else {
                redirect(&sign_in_start(app, ctx, &target))
            };
            add_cookies(&mut resp, &clear_cookies);
            return (resp, None);
        }
        Lookup::Busy(why) => return (crate::auth::busy_response(app, ctx, why), None),
    };
    let user = Some(session.session.email.clone());
    let mut resp = match crate::auth::authorize(app, &session) {
        Decision::Allow => envoy_allow(Some(&session), req.headers()),
        Decision::Deny(reason) => {
            tracing::info!(request_id = %ctx.request_id, user = %session.session.email,
                reason = reason.as_str(), "ext_authz check denied");
            app.error_response(
                ctx,
                &AppError::Forbidden {
                    reason: reason.as_str(),
                },
                "/",
            )
        }
    };
    add_cookies(&mut resp, &cookies);
    (resp, user)
}

/// `{prefix}/start?rd=<original URL>` on the public origin: `redirect_url`'s scheme and host
/// when configured, else the original request's. `/start` validates `rd` against
/// `whitelist_domains` as usual.
fn sign_in_start(app: &App, ctx: &RequestCtx, target: &str) -> String {
    let original = if ctx.host.is_empty() {
        target.to_owned()
    } else {
        format!("{}://{}{}", ctx.scheme, ctx.host, target)
    };
    let rd: String = url::form_urlencoded::byte_serialize(original.as_bytes()).collect();
    let origin = match &app.cfg.redirect_url {
        Some(u) => u.origin().ascii_serialization(),
        None if ctx.host.is_empty() => String::new(),
        None => format!("{}://{}", ctx.scheme, ctx.host),
    };
    format!("{origin}{}/start?rd={rd}", app.cfg.proxy_prefix)
}

/// Envoy's "allow": 200, the identity headers for the app, and the removal list: every
/// identity header name we do not set, plus the exact spelling of every identity-like header
/// the client sent (`x-auth-request_email` and other `-`/`_` mixtures Envoy matches only by
/// exact name; the Envoy config forwards them to us, see docs/front-proxies/envoy-http.yaml).
fn envoy_allow(session: Option<&VerifiedSession>, client: &HeaderMap) -> Response<Body> {
    let mut resp = text(StatusCode::OK, "");
    let set: &[(HeaderName, HeaderValue)] = match session {
        Some(v) => &v.injected.request,
        None => &[],
    };
    for (name, value) in set {
        resp.headers_mut().append(name.clone(), value.clone());
    }
    let mut remove = headers_to_remove(set.iter().map(|(n, _)| n.as_str()));
    for name in client.keys() {
        let n = name.as_str();
        let ours = set.iter().any(|(s, _)| s.as_str() == n);
        if !ours
            && crate::headers::is_identity_header(n, false)
            && !remove.split(',').any(|r| r == n)
        {
            remove.push(',');
            remove.push_str(n);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&remove) {
        resp.headers_mut()
            .insert(ENVOY_HEADERS_TO_REMOVE.clone(), v);
    }
    resp
}

/// Whether the original request may reach the app without a session at all (it then carries
/// no identity): CORS preflight with `skip_auth_preflight`.
pub fn skips_authentication(
    app: &App,
    method: &Method,
    path_and_query: &str,
    client_ip: std::net::IpAddr,
) -> bool {
    // The skip rules (skip_auth_routes, skip_auth_regex, trusted_ips, skip_auth_preflight) see
    // the path only; `skip` normalizes it and never matches through the query.
    app.skip
        .skip(method.as_str(), Some(path_and_query), client_ip)
        .is_some()
}

/// Where to send a browser to sign in and come back to `path_and_query` on `scheme://host`:
/// `{prefix}/start?rd=…`, which begins the login at the provider. The return URL is the path and query, or absolute when the
/// callback (`redirect_url`) is on another host, as for a protected request
/// ([`flow::original_url`]); `/start` and `/sign_in` validate it again.
pub fn sign_in_location(app: &App, scheme: &str, host: &str, path_and_query: &str) -> String {
    let callback_elsewhere = app.cfg.redirect_url.as_ref().is_some_and(|u| {
        let cb_host = match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        };
        !cb_host.eq_ignore_ascii_case(host)
    });
    let path_and_query = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    let rd = if callback_elsewhere && !host.is_empty() {
        format!("{scheme}://{host}{path_and_query}")
    } else {
        path_and_query.to_owned()
    };
    format!(
        "{}/start?rd={}",
        app.cfg.proxy_prefix,
        url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
    )
}
