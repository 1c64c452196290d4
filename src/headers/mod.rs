//! Identity headers: the injection engine ([`plan`]) and stripping every client-sent copy.
//!
//! The app trusts these headers because only the proxy can set them, so before injecting,
//! every copy the client sent is removed: any ASCII case, and with `_` in place of `-`
//! (`X_Forwarded_Email`, `x-auth_request-user`), because many servers and frameworks
//! (CGI/FastCGI/WSGI environments, PHP, nginx with `underscores_in_headers`) map both
//! spellings to the same variable. oauth2-proxy let client-sent `X-Auth-Request-*` through to
//! the app; authproxy strips them, and every header its rules set.
//!
//! Which headers are injected is configuration: the alpha file's `injectRequestHeaders` /
//! `injectResponseHeaders`, or the legacy switches compiled into such rules (see
//! `docs/configuration.md`). A value that is not a legal header value (CR, LF, NUL or another
//! control character) is dropped and logged by header name only; it never panics and never
//! splits a header. Tokens are marked sensitive (not indexed by HPACK, redacted in `Debug`)
//! and never go to the browser.

use http::header::{HeaderMap, HeaderName};

pub mod plan;

#[cfg(test)]
mod tests;

/// Exact names (after folding case and `_` → `-`) that only the proxy may set. Besides the
/// ones injected today this covers oauth2-proxy's `GAP-Auth` / `GAP-Signature` and
/// `X-Forwarded-Id-Token`, so an app migrated from oauth2-proxy cannot be fed a forged copy.
const RESERVED_NAMES: &[&str] = &[
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-forwarded-id-token",
    "x-forwarded-provider",
    "gap-auth",
    "gap-signature",
];

/// Every name starting with this (after folding) is reserved: `X-Auth-Request-*`.
const RESERVED_PREFIX: &str = "x-auth-request-";

/// ASCII lower-case, with `_` read as `-`.
#[inline]
pub(crate) fn fold(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

/// `name` equals `canonical` (lower-case, dashes) after folding.
#[inline]
pub(crate) fn folded_eq(name: &[u8], canonical: impl AsRef<[u8]>) -> bool {
    let canonical = canonical.as_ref();
    name.len() == canonical.len() && name.iter().zip(canonical).all(|(&a, &b)| fold(a) == b)
}

/// `name` starts with `prefix` (lower-case, dashes) after folding.
#[inline]
fn folded_starts_with(name: &[u8], prefix: &str) -> bool {
    name.len() >= prefix.len() && folded_eq(&name[..prefix.len()], prefix)
}

/// True when `name` is a header only the proxy may set: the identity headers above in any
/// case or underscore spelling, every `X-Auth-Request-*`, and `Authorization` when
/// `strip_authorization` (i.e. when the proxy injects its own).
pub fn is_identity_header(name: &str, strip_authorization: bool) -> bool {
    let bytes = name.as_bytes();
    // Cheap first-byte filter: almost every header a browser sends fails here.
    match bytes.first().map(|&b| b.to_ascii_lowercase()) {
        Some(b'x') => {
            folded_starts_with(bytes, RESERVED_PREFIX)
                || RESERVED_NAMES.iter().any(|n| folded_eq(bytes, n))
        }
        Some(b'g') => RESERVED_NAMES.iter().any(|n| folded_eq(bytes, n)),
        Some(b'a') => strip_authorization && folded_eq(bytes, "authorization"),
        _ => false,
    }
}

/// Removes every client-sent identity header (see [`is_identity_header`]) from a request
/// before it goes to the app. One pass over the header names; nothing is allocated unless a
/// header actually has to be removed.
pub fn strip_identity_headers(headers: &mut HeaderMap, strip_authorization: bool) {
    let mut doomed = headers
        .keys()
        .filter(|name| is_identity_header(name.as_str(), strip_authorization))
        .peekable();
    if doomed.peek().is_none() {
        return;
    }
    let doomed: Vec<HeaderName> = doomed.cloned().collect();
    for name in doomed {
        // `remove` drops every value stored under the name, not just the first.
        headers.remove(&name);
    }
}
