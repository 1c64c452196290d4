//! `POST {prefix}/sign_in`: the htpasswd sign-in form (`display_htpasswd_form`).

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use crate::app::{App, RequestCtx};
use crate::auth::htpasswd_session;
use crate::authz::{decide, Decision};
use crate::error::AppError;
use crate::machine::Verdict;
use crate::response::{add_cookies, redirect};
use crate::session::cookie::clear_present;
use crate::Body;

use super::login::sign_in_response;
use super::safe_return;

/// Login CSRF guard for the sign-in form: a browser that posts the form cross-site must not
/// be able to log its user into the attacker's account. Browsers send `Origin` on every POST
/// (and `Sec-Fetch-Site`); when present they must name this very origin. A request with
/// neither `Origin` nor `Referer` comes from a non-browser client, which cannot be a
/// cross-site victim, and is allowed.
pub fn same_origin(headers: &HeaderMap, scheme: &str, host: &str) -> bool {
    let own = format!("{scheme}://{host}");
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin" | "none")) {
            return false;
        }
    }
    let origin_of = |u: &str| -> Option<String> {
        let u = url::Url::parse(u).ok()?;
        let host = u.host_str()?;
        Some(match u.port() {
            Some(p) => format!("{}://{host}:{p}", u.scheme()),
            None => format!("{}://{host}", u.scheme()),
        })
    };
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        // `Origin: null` (sandboxed frames, some redirects) is never this origin.
        return origin
            .to_str()
            .ok()
            .and_then(origin_of)
            .is_some_and(|o| o.eq_ignore_ascii_case(&own));
    }
    if let Some(referer) = headers.get(http::header::REFERER) {
        return referer
            .to_str()
            .ok()
            .and_then(origin_of)
            .is_some_and(|o| o.eq_ignore_ascii_case(&own));
    }
    true
}

/// `POST {prefix}/sign_in`: the htpasswd form. On success a normal session cookie and a
/// redirect to the validated `rd`; wrong credentials: the sign-in page with 401.
pub async fn form_sign_in(
    app: &App,
    req: Request<Incoming>,
    ctx: &RequestCtx,
) -> (Response<Body>, Option<String>) {
    let Some(users) = app.machine.users() else {
        return (
            app.error_response(ctx, &AppError::MethodNotAllowed, "/"),
            None,
        );
    };
    if req.method() != Method::POST {
        return (
            app.error_response(ctx, &AppError::MethodNotAllowed, "/"),
            None,
        );
    }
    if !same_origin(req.headers(), ctx.scheme, &ctx.host) {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, security = true,
            "sign-in form posted from another origin (possible login CSRF); refused");
        return (
            app.error_response(
                ctx,
                &AppError::Forbidden {
                    reason: "cross_origin_form",
                },
                "/",
            ),
            None,
        );
    }
    let is_form = super::params::is_form_urlencoded(req.headers());
    if !is_form {
        return (app.error_response(ctx, &AppError::BadRequest, "/"), None);
    }
    // A failed attempt shows the sign-in page, which ends any session the browser still has.
    let clear_session = clear_present(&app.cookies, req.headers(), &ctx.host);
    let (parts, body) = req.into_parts();
    let body = match read_endpoint_body(app, ctx, &parts.headers, body).await {
        Ok(b) => b,
        Err(resp) => return (resp, None),
    };
    // Go's `ParseForm`, as oauth2-proxy reads the form: a `;` or a bad escape fails it.
    let body = String::from_utf8_lossy(&body);
    if let Some(resp) = super::check_query(app, Some(&body), ctx) {
        return (resp, None);
    }
    let (mut user, mut password, mut rd) = (String::new(), String::new(), None);
    for (k, v) in crate::query::pairs(&body) {
        match k.as_ref() {
            "username" => user = v.into_owned(),
            "password" => password = v.into_owned(),
            "rd" => rd = Some(v.into_owned()),
            _ => {}
        }
    }
    let rd = safe_return(app, rd.as_deref(), ctx);
    let verdict = if user.is_empty() {
        Verdict::Invalid
    } else {
        users.verify(&user, &password).await
    };
    if verdict == Verdict::Busy {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, user = %user,
            "sign-in form not checked: every htpasswd check is busy (htpasswd_max_concurrent_checks)");
        return (
            crate::auth::busy_response(app, ctx, crate::auth::Unavailable::Logins),
            None,
        );
    }
    if verdict == Verdict::Invalid {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, client = %ctx.client_ip, user = %user,
            "sign-in form: wrong user or password");
        return (
            sign_in_response(app, ctx, &rd, StatusCode::UNAUTHORIZED, clear_session),
            None,
        );
    }
    let session = htpasswd_session(app, users, user, ctx.now);
    if let Decision::Deny(reason) = decide(&app.authz, &session.email, &session.groups) {
        tracing::warn!(target: "auth", request_id = %ctx.request_id, user = %session.user, reason = reason.as_str(),
            "sign-in form: not authorized");
        return (
            app.error_response(
                ctx,
                &AppError::Forbidden {
                    reason: reason.as_str(),
                },
                "/",
            ),
            None,
        );
    }
    let cookies = match crate::auth::issue_session(app, &session, &parts.headers, ctx).await {
        Ok(c) => c,
        Err(e) => return (app.error_response(ctx, &e, &rd), None),
    };
    tracing::info!(target: "auth", request_id = %ctx.request_id, user = %session.user, "login succeeded (htpasswd form)");
    let mut resp = redirect(&rd);
    add_cookies(&mut resp, &cookies);
    (resp, Some(session.user))
}

/// The body of a POST to one of the proxy's endpoints, at most `max_endpoint_body_bytes`
/// (413 past it, 400 when it cannot be read).
pub(crate) async fn read_endpoint_body(
    app: &App,
    ctx: &RequestCtx,
    headers: &http::HeaderMap,
    body: Incoming,
) -> Result<Bytes, Response<Body>> {
    let limit = app.cfg.limits.max_endpoint_body_bytes;
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(app.error_response(ctx, &AppError::BodyTooLarge, "/"));
    }
    let body: Bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        // `max_endpoint_body_bytes` (a chunked body can only be measured while read).
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(app.error_response(ctx, &AppError::BodyTooLarge, "/"))
        }
        Err(_) => return Err(app.error_response(ctx, &AppError::BadRequest, "/")),
    };
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_sign_in_form_is_refused_from_another_origin() {
        let c = ("https", "app.example.com");
        let cases: &[(&[(&'static str, &str)], bool)] = &[
            (&[("origin", "https://app.example.com")], true),
            (&[("origin", "https://APP.example.com")], true),
            (&[("origin", "https://evil.example")], false),
            (&[("origin", "http://app.example.com")], false),
            (&[("origin", "https://app.example.com:8443")], false),
            (&[("origin", "null")], false),
            (
                &[("referer", "https://app.example.com/oauth2/sign_in?rd=/")],
                true,
            ),
            (&[("referer", "https://evil.example/x")], false),
            (
                &[
                    ("origin", "https://app.example.com"),
                    ("sec-fetch-site", "cross-site"),
                ],
                false,
            ),
            (
                &[
                    ("origin", "https://app.example.com"),
                    ("sec-fetch-site", "same-site"),
                ],
                false,
            ),
            (
                &[
                    ("origin", "https://app.example.com"),
                    ("sec-fetch-site", "same-origin"),
                ],
                true,
            ),
            // No browser headers at all: a non-browser client (curl), not a CSRF victim.
            (&[], true),
        ];
        for (h, want) in cases {
            assert_eq!(same_origin(&headers(h), c.0, c.1), *want, "{h:?}");
        }
        let with_port = ("http", "127.0.0.1:4180");
        assert!(same_origin(
            &headers(&[("origin", "http://127.0.0.1:4180")]),
            with_port.0,
            with_port.1
        ));
        assert!(!same_origin(
            &headers(&[("origin", "http://127.0.0.1:4181")]),
            with_port.0,
            with_port.1
        ));
    }
}
