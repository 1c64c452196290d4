//! Forward authentication: requests let through by the skip rules, `/oauth2/auth` (nginx
//! `auth_request`, Traefik `forwardAuth`) and `{prefix}/ext_authz/…` (Envoy / Istio HTTP
//! ext_authz). The policy is in [`crate::forwarded`], [`crate::skip`] and
//! [`crate::forward_auth`]; this file only wires it to requests and responses.

use std::sync::atomic::{AtomicBool, Ordering};

use http::header::HeaderValue;
use http::{HeaderMap, HeaderName, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::{add_cookies, page, redirect, App, RequestCtx};
use crate::authz::Decision;
use crate::error::AppError;
use crate::flow::cache::VerifiedSession;
use crate::flow::{self, SessionLookup};
use crate::forward_auth::{ext_authz_target, headers_to_remove, AuthConstraints, Subject};
use crate::skip::SkipReason;
use crate::Body;

static ENVOY_HEADERS_TO_REMOVE: HeaderName =
    HeaderName::from_static("x-envoy-auth-headers-to-remove");

/// 401 with oauth2-proxy's JSON error body (API clients, `api_routes`).
pub(super) fn unauthorized_json() -> Response<Body> {
    page(
        StatusCode::UNAUTHORIZED,
        "application/json",
        crate::pages::json_error(401, &AppError::Unauthenticated.message()),
    )
}

/// Logs once per process that `reverse_proxy` is on but a peer outside `trusted_proxy_ips`
/// sent forwarding headers: they were ignored, which is right for an attacker and a
/// misconfiguration for a real proxy.
pub(super) fn warn_untrusted_forwarding(headers: &HeaderMap, peer: std::net::IpAddr) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.load(Ordering::Relaxed) {
        return;
    }
    let forwarding = [
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-uri",
        "x-forwarded-for",
        "x-original-url",
    ]
    .iter()
    .any(|h| headers.contains_key(*h));
    if forwarding && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            peer = %peer,
            "reverse_proxy is on but this peer is not in trusted_proxy_ips: its X-Forwarded-* headers are ignored \
             (add the front proxy's address to trusted_proxy_ips if it is one; logged once)"
        );
    }
}

/// The session when it is valid and allowed by the global rules; cookies to send either way.
async fn allowed_session(
    app: &App,
    headers: &HeaderMap,
    ctx: &RequestCtx,
) -> (Option<std::sync::Arc<VerifiedSession>>, Vec<String>) {
    match flow::load_session(app, headers, ctx).await {
        SessionLookup::Valid {
            session,
            set_cookies,
        } => {
            if flow::authorize(app, &session).is_allowed() {
                (Some(session), set_cookies)
            } else {
                (None, set_cookies)
            }
        }
        SessionLookup::None { clear_cookies } => (None, clear_cookies),
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

impl App {
    /// A protected-path request let through by a skip rule. Client-sent identity headers are
    /// stripped as on every proxied request; the session's identity is added only when the
    /// request carries a valid session that the authorization rules allow.
    pub(super) async fn skipped(
        &self,
        req: Request<Incoming>,
        ctx: &RequestCtx,
        reason: SkipReason,
    ) -> (Response<Body>, Option<String>) {
        tracing::debug!(request_id = %ctx.request_id, reason = reason.as_str(), "authentication skipped");
        let (session, cookies) = allowed_session(self, req.headers(), ctx).await;
        let user = session.as_ref().map(|s| s.session.email.clone());
        let mut resp = self.proxy(req, ctx, session.as_deref()).await;
        add_cookies(&mut resp, &cookies);
        (resp, user)
    }

    /// `/oauth2/auth`: 202 with identity headers, 401 without a session, 403 when the session is
    /// not allowed (globally or by the query constraints). Skip rules apply to the ORIGINAL
    /// request, known only from a trusted proxy's headers.
    pub(super) async fn auth(
        &self,
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
            &self.forward,
        );
        let skip = self.cfg.skip.skip(
            original.method.as_str(),
            original.forwarded_uri.as_deref(),
            ctx.client_ip,
        );
        let (session, cookies) = match flow::load_session(self, req.headers(), ctx).await {
            SessionLookup::Valid {
                session,
                set_cookies,
            } => (Some(session), set_cookies),
            SessionLookup::None { clear_cookies } => (None, clear_cookies),
        };
        let verdict = match &session {
            None => Err(StatusCode::UNAUTHORIZED),
            Some(v) => match flow::authorize(self, v) {
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
                for (name, value) in flow::auth_response_headers_for(self, v) {
                    resp.headers_mut().append(name, value);
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
    pub(super) async fn ext_authz(
        &self,
        req: &Request<Incoming>,
        ctx: &RequestCtx,
        rest: &str,
    ) -> (Response<Body>, Option<String>) {
        let target = match req.uri().query() {
            Some(q) => ext_authz_target(&format!("{rest}?{q}")),
            None => ext_authz_target(rest),
        };
        let skip = self
            .cfg
            .skip
            .skip(req.method().as_str(), Some(&target), ctx.client_ip);
        if let Some(reason) = skip {
            tracing::debug!(request_id = %ctx.request_id, reason = reason.as_str(), "ext_authz check skipped");
            let (session, cookies) = allowed_session(self, req.headers(), ctx).await;
            let user = session.as_ref().map(|s| s.session.email.clone());
            let mut resp = envoy_allow(session.as_deref(), req.headers());
            add_cookies(&mut resp, &cookies);
            return (resp, user);
        }
        let (session, cookies) = match flow::load_session(self, req.headers(), ctx).await {
            SessionLookup::Valid {
                session,
                set_cookies,
            } => (session, set_cookies),
            SessionLookup::None { clear_cookies } => {
                let mut resp = if ctx.wants_json || self.cfg.skip.is_api(&target) {
                    unauthorized_json()
                } else {
                    redirect(&self.sign_in_start(ctx, &target))
                };
                add_cookies(&mut resp, &clear_cookies);
                return (resp, None);
            }
        };
        let user = Some(session.session.email.clone());
        let mut resp = match flow::authorize(self, &session) {
            Decision::Allow => envoy_allow(Some(&session), req.headers()),
            Decision::Deny(reason) => {
                tracing::info!(request_id = %ctx.request_id, user = %session.session.email,
                    reason = reason.as_str(), "ext_authz check denied");
                self.error_response(
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
    fn sign_in_start(&self, ctx: &RequestCtx, target: &str) -> String {
        let original = if ctx.host.is_empty() {
            target.to_owned()
        } else {
            format!("{}://{}{}", ctx.scheme, ctx.host, target)
        };
        let rd: String = url::form_urlencoded::byte_serialize(original.as_bytes()).collect();
        let origin = match &self.cfg.redirect_url {
            Some(u) => u.origin().ascii_serialization(),
            None if ctx.host.is_empty() => String::new(),
            None => format!("{}://{}", ctx.scheme, ctx.host),
        };
        format!("{origin}{}/start?rd={rd}", self.cfg.proxy_prefix)
    }
}

/// Envoy's "allow": 200, the identity headers for the app, and the removal list: every
/// identity header name we do not set, plus the exact spelling of every identity-like header
/// the client sent (`x-auth-request_email` and other `-`/`_` mixtures Envoy matches only by
/// exact name; the Envoy config forwards them to us, see docs/front-proxies/envoy-http.yaml).
fn envoy_allow(session: Option<&VerifiedSession>, client: &HeaderMap) -> Response<Body> {
    let mut resp = text(StatusCode::OK, "");
    let set: &[(HeaderName, HeaderValue)] = match session {
        Some(v) => &v.upstream_headers,
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
