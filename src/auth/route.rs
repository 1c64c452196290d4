//! What happens per request after the authorization decision, for every endpoint alike
//! (protected requests, `/oauth2/auth`, HTTP and gRPC ext_authz): the per-route policy
//! ([`crate::policy`]) and the signed identity assertion ([`crate::assertion`]).

use http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::app::{App, RequestCtx};
use crate::config::policy::AuthKind;
use crate::error::AppError;
use crate::policy::{AuditEntry, Subject, Target};
use crate::session::cache::{AuthMethod, VerifiedSession};
use crate::Body;

/// Which endpoint asks (for logs and the audit log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A request proxied to the app.
    Proxy,
    /// `/oauth2/auth`.
    AuthRequest,
    /// `{prefix}/ext_authz/…` (Envoy HTTP ext_authz).
    ExtAuthz,
    /// Envoy's gRPC `Check`.
    ExtAuthzGrpc,
}

impl Endpoint {
    fn as_str(self) -> &'static str {
        match self {
            Endpoint::Proxy => "proxy",
            Endpoint::AuthRequest => "auth_request",
            Endpoint::ExtAuthz => "ext_authz",
            Endpoint::ExtAuthzGrpc => "ext_authz_grpc",
        }
    }
}

fn auth_kind(m: AuthMethod) -> AuthKind {
    match m {
        AuthMethod::Session => AuthKind::Session,
        AuthMethod::Bearer => AuthKind::Bearer,
        AuthMethod::Basic => AuthKind::Htpasswd,
    }
}

/// Whether the per-route policy lets `v` make this request (`true` without a policy).
/// `path`: path and query as requested (`None`: unknown). Every decision is counted; a denial
/// is logged with the deciding rule (never shown to the user).
pub fn policy_allows(
    app: &App,
    ctx: &RequestCtx,
    v: &VerifiedSession,
    method: &str,
    path: Option<&str>,
    endpoint: Endpoint,
) -> bool {
    let Some(policy) = &app.policy else {
        return true;
    };
    let s = &v.session;
    let provider = app.providers[v.provider].id();
    let who = Subject {
        email: &s.email,
        user: &s.user,
        groups: &s.groups,
        provider,
        auth: auth_kind(v.method),
        claims: &v.claims,
    };
    let target = Target {
        method,
        host: &ctx.host,
        path,
    };
    let d = policy.evaluate(&target, &who);
    let path_only = path.map(|p| p.split_once('?').map_or(p, |(p, _)| p));
    policy.record(&d, || AuditEntry {
        time: AuditEntry::timestamp(ctx.now),
        request_id: ctx.request_id.clone(),
        endpoint: endpoint.as_str(),
        user: s.user.clone(),
        email: s.email.clone(),
        provider: provider.to_owned(),
        auth_method: who.auth.as_str(),
        method: method.to_owned(),
        host: ctx.host.clone(),
        path: path_only.unwrap_or("").to_owned(),
        rule: policy.label(&d).to_owned(),
        decision: if d.allowed { "allow" } else { "deny" },
        reason: d.reason.as_str(),
    });
    if !d.allowed {
        tracing::warn!(
            target: "auth",
            request_id = %ctx.request_id,
            user = %s.email,
            endpoint = endpoint.as_str(),
            method,
            path = path_only.unwrap_or("-"),
            rule = policy.label(&d),
            reason = d.reason.as_str(),
            "policy denied"
        );
    }
    d.allowed
}

/// The 403 for a policy denial: JSON for API clients (`Accept: application/json`,
/// `api_routes`), else the error page. Neither names the rule.
pub fn policy_forbidden(app: &App, ctx: &RequestCtx, path: &str) -> Response<Body> {
    if ctx.wants_json || app.skip.is_api(path) {
        return crate::response::page(
            StatusCode::FORBIDDEN,
            "application/json",
            crate::pages::json_error(403, "Forbidden"),
        );
    }
    app.error_response(ctx, &AppError::Forbidden { reason: "policy" }, "/")
}

/// The identity assertion header for the request to the app (also what ext_authz sets on
/// it), when a request rule names `identityAssertionSource` (`pass_identity_assertion`).
pub fn assertion_for_app(
    app: &App,
    ctx: &RequestCtx,
    v: &VerifiedSession,
) -> Option<(HeaderName, HeaderValue)> {
    let header = app.headers.assertion_request()?;
    assertion(app, ctx, v, &header.name, &header.prefix)
}

/// The identity assertion header for an `/oauth2/auth` answer (read by the front proxy).
pub fn assertion_for_front(
    app: &App,
    ctx: &RequestCtx,
    v: &VerifiedSession,
) -> Option<(HeaderName, HeaderValue)> {
    let header = app.headers.assertion_response()?;
    assertion(app, ctx, v, &header.name, &header.prefix)
}

fn assertion(
    app: &App,
    ctx: &RequestCtx,
    v: &VerifiedSession,
    name: &HeaderName,
    prefix: &str,
) -> Option<(HeaderName, HeaderValue)> {
    let signer = app.assertions.as_ref()?;
    let who = crate::assertion::Identity {
        session: v,
        provider_id: app.providers[v.provider].id(),
    };
    let value = signer.header_value(&who, ctx.scheme, &ctx.host, prefix, ctx.now)?;
    Some((name.clone(), value))
}
