//! The one authentication + authorization decision behind every "may this request through?"
//! question that does not proxy the request itself: `/oauth2/auth` (nginx `auth_request`,
//! Traefik `forwardAuth`) and Envoy's gRPC ext_authz `Check` ([`crate::ext_authz`]).
//!
//! Both ask exactly the same thing (a valid, possibly refreshed session that the authorization
//! rules allow), so both call [`authenticate`]; they differ only in how they express the answer.

use std::sync::Arc;

use http::{HeaderMap, Method};

use crate::app::{App, RequestCtx};
use crate::authz::Decision;
use crate::flow::cache::VerifiedSession;
use crate::flow::{self, SessionLookup};

/// The answer for one request.
pub enum AuthOutcome {
    /// A valid session the rules allow. `set_cookies` re-issues a refreshed session.
    Allowed {
        session: Arc<VerifiedSession>,
        set_cookies: Vec<String>,
    },
    /// No usable session. `clear_cookies` removes a bad or expired cookie the client sent.
    Unauthenticated { clear_cookies: Vec<String> },
    /// A valid session that the authorization rules refuse.
    Forbidden {
        session: Arc<VerifiedSession>,
        reason: &'static str,
        set_cookies: Vec<String>,
    },
}

/// Authenticate the request whose headers are `headers` (cookies, and whatever credentials the
/// session loader accepts), then authorize the identity.
pub async fn authenticate(app: &App, headers: &HeaderMap, ctx: &RequestCtx) -> AuthOutcome {
    match flow::load_session(app, headers, ctx).await {
        SessionLookup::Valid {
            session,
            set_cookies,
        } => match crate::flow::authorize(app, &session) {
            Decision::Allow => AuthOutcome::Allowed {
                session,
                set_cookies,
            },
            Decision::Deny(reason) => AuthOutcome::Forbidden {
                session,
                reason: reason.as_str(),
                set_cookies,
            },
        },
        SessionLookup::None { clear_cookies } => AuthOutcome::Unauthenticated { clear_cookies },
    }
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
    app.cfg
        .skip
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
