//! `POST {prefix}/backchannel-logout` (`oidc_backchannel_logout`): OpenID Connect
//! Back-Channel Logout 1.0. The identity provider POSTs a signed Logout Token when a user's
//! session ends there; every session of that provider session (`sid`), or of the user (`sub`),
//! is deleted from the Redis store, and every replica drops it from its cache.
//!
//! The caller is the identity provider, not a browser: answers are JSON (section 2.8: 200 on
//! success, 400 with an OAuth-style error otherwise), never cached. A store or JWKS outage is a
//! 503 so that the provider retries, instead of a 400 that tells it the token was bad.

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::provider::logout::{LogoutCheck, REPLAY_WINDOW};
use crate::provider::{IssuerCheck, ProviderError};
use crate::response::page;
use crate::session::redis::StoreError;
use crate::Body;

/// Why a back-channel logout request is refused, and how that is answered.
#[derive(Debug)]
enum Refusal {
    /// 400 `invalid_request` (malformed request, bad or replayed token).
    Invalid(String),
    /// 501: the endpoint needs the Redis session store.
    NoStore,
    /// 503: the store or the provider's keys could not be reached; the IdP should retry.
    Unavailable(String),
    /// 413.
    TooLarge,
}

/// The endpoint.
pub async fn backchannel_logout(
    app: &App,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> Response<Body> {
    if req.method() != Method::POST {
        let mut resp = json(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the back-channel logout endpoint accepts only POST",
        );
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    match logout(app, req, ctx).await {
        Ok(deleted) => {
            let resp = page(StatusCode::OK, "application/json", Bytes::new());
            tracing::debug!(target: "auth", request_id = %ctx.request_id, deleted, "back-channel logout done");
            resp
        }
        Err(refusal) => {
            let (status, error, description) = match &refusal {
                Refusal::Invalid(d) => (StatusCode::BAD_REQUEST, "invalid_request", d.as_str()),
                Refusal::NoStore => (
                    StatusCode::NOT_IMPLEMENTED,
                    "unsupported",
                    "back-channel logout needs session_store_type = \"redis\"",
                ),
                Refusal::Unavailable(d) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    d.as_str(),
                ),
                Refusal::TooLarge => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    "the request body is too large",
                ),
            };
            tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip,
                status = status.as_u16(), reason = %description, "back-channel logout refused");
            json(status, error, description)
        }
    }
}

async fn logout(app: &App, req: Request<Incoming>, ctx: &RequestCtx) -> Result<usize, Refusal> {
    let store = app.redis.as_ref().ok_or(Refusal::NoStore)?;
    let token = logout_token(app, req).await?;
    // Route by the (still unverified) issuer to the one provider whose keys must verify it.
    let iss = crate::provider::unverified_subject(&token)
        .map(|s| s.iss)
        .ok_or_else(|| Refusal::Invalid("logout_token is not a JWT with an iss claim".into()))?;
    let provider = app
        .providers
        .iter()
        .find(|p| p.check_response_issuer(Some(&iss)) == IssuerCheck::Matches)
        .ok_or_else(|| Refusal::Invalid(LogoutCheck::UnknownIssuer(iss.clone()).to_string()))?;
    let subject = provider
        .verify_logout_token(&token, ctx.now)
        .await
        .map_err(|e| match e {
            ProviderError::InvalidLogoutToken(why) => Refusal::Invalid(why.to_string()),
            other => Refusal::Unavailable(other.to_string()),
        })?;
    let unavailable = |e: StoreError| Refusal::Unavailable(format!("session store: {e}"));
    if !store
        .first_use_of_jti(&subject.iss, &subject.jti, REPLAY_WINDOW)
        .await
        .map_err(unavailable)?
    {
        return Err(Refusal::Invalid(LogoutCheck::Replayed.to_string()));
    }
    let deleted = match (&subject.sid, &subject.sub) {
        (Some(sid), _) => store.clear_by_sid(&subject.iss, sid).await,
        (None, Some(sub)) => store.clear_by_sub(&subject.iss, sub).await,
        (None, None) => Ok(0),
    }
    .map_err(unavailable)?;
    tracing::info!(target: "auth", request_id = %ctx.request_id, provider = %provider.id(),
        sid = subject.sid.is_some(), deleted, "back-channel logout: sessions ended");
    Ok(deleted)
}

/// The `logout_token` parameter of an `application/x-www-form-urlencoded` body.
async fn logout_token(app: &App, req: Request<Incoming>) -> Result<String, Refusal> {
    let is_form = super::params::is_form_urlencoded(req.headers());
    if !is_form {
        return Err(Refusal::Invalid(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    let limit = app.cfg.limits.max_endpoint_body_bytes;
    let body = match http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(Refusal::TooLarge),
        Err(_) => {
            return Err(Refusal::Invalid(
                "the request body could not be read".into(),
            ))
        }
    };
    let mut tokens = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned());
    match (tokens.next(), tokens.next()) {
        (Some(t), None) if !t.is_empty() => Ok(t),
        (Some(_), Some(_)) => Err(Refusal::Invalid("logout_token is repeated".into())),
        _ => Err(Refusal::Invalid(
            "the logout_token parameter is missing".into(),
        )),
    }
}

fn json(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": error, "error_description": description });
    page(status, "application/json", body.to_string())
}
