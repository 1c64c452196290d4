//! Request and response header rewriting: hop-by-hop removal, `X-Forwarded-*`, joined
//! cookies and appended identity values.

use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(super) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(super) static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers (RFC 9110 §7.6.1 plus the legacy ones Go's reverse proxy removes).
/// `Connection` and `Upgrade` are handled separately.
fn fixed_hop_by_hop() -> [&'static HeaderName; 7] {
    [
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &header::PROXY_AUTHENTICATE,
        &header::PROXY_AUTHORIZATION,
        &header::TE,
        &header::TRAILER,
        &header::TRANSFER_ENCODING,
    ]
}

/// The client's values of `name` and `ours`, comma-joined; `None` when the client sent none.
pub(super) fn append_value(
    headers: &HeaderMap,
    name: &HeaderName,
    ours: &HeaderValue,
) -> Option<HeaderValue> {
    let mut all = headers.get_all(name).iter().peekable();
    all.peek()?;
    let mut out = Vec::new();
    for v in all {
        out.extend_from_slice(v.as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(ours.as_bytes());
    HeaderValue::from_bytes(&out).ok()
}

pub(super) fn connection_tokens(v: &HeaderValue) -> impl Iterator<Item = &str> {
    v.to_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers: the fixed set, `Upgrade`, and whatever `Connection` names.
/// Allocates only when `Connection` names a non-standard header.
pub(super) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let mut named: Vec<HeaderName> = Vec::new();
        for token in headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(connection_tokens)
        {
            if token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("keep-alive")
                || token.eq_ignore_ascii_case("upgrade")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                named.push(name);
            }
        }
        for name in named {
            headers.remove(name);
        }
        headers.remove(header::CONNECTION);
    }
    for name in fixed_hop_by_hop() {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// HTTP/2 lets a client split `cookie` into several fields; HTTP/1.1 needs one.
pub(super) fn join_cookies(headers: &mut HeaderMap) {
    let mut all = headers.get_all(header::COOKIE).iter();
    if all.next().is_none() || all.next().is_none() {
        return;
    }
    let mut joined = Vec::new();
    for v in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, v);
    }
}

/// `X-Forwarded-For: <prior values>, <client ip>` (prior fields are joined, as Go does).
pub(super) fn append_forwarded_for(headers: &mut HeaderMap, ip: std::net::IpAddr) {
    use std::fmt::Write as _;
    let mut value = bytes::BytesMut::with_capacity(64);
    for prior in headers.get_all(&X_FORWARDED_FOR) {
        let prior = trim_ows(prior.as_bytes());
        if !prior.is_empty() {
            value.extend_from_slice(prior);
            value.extend_from_slice(b", ");
        }
    }
    let _ = write!(value, "{ip}");
    // `from_maybe_shared` validates and keeps the buffer: no second copy.
    if let Ok(v) = HeaderValue::from_maybe_shared(value.freeze()) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
}

fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}
