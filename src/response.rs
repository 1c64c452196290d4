//! Building responses: bodies, no-cache headers, pages, redirects and Set-Cookie lines.

use bytes::Bytes;
use http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_TYPE, EXPIRES, LOCATION, PRAGMA, SET_COOKIE,
};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::Body;

/// A body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Headers every auth page carries: never cached by browsers or shared caches.
pub fn no_cache(headers: &mut HeaderMap) {
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate, max-age=0"),
    );
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        EXPIRES,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 UTC"),
    );
}

/// A response with the given status, content type and body, plus no-cache headers.
pub fn page(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    no_cache(resp.headers_mut());
    resp
}

/// A 302 redirect with no-cache headers.
pub fn redirect(location: &str) -> Response<Body> {
    let mut resp = page(StatusCode::FOUND, "text/html; charset=utf-8", Bytes::new());
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(LOCATION, v);
        }
        Err(_) => {
            // Only validated targets reach here; a value that is not a legal header still
            // must not become a response splitting vector: fall back to the site root.
            resp.headers_mut()
                .insert(LOCATION, HeaderValue::from_static("/"));
        }
    }
    resp
}

/// Append Set-Cookie header values.
pub fn add_cookies(resp: &mut Response<Body>, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
}
