//! Identity headers: which ones the proxy injects, and stripping every client-sent copy.
//!
//! The app trusts these headers because only the proxy can set them, so before injecting,
//! [`strip_identity_headers`] removes every copy the client sent: any ASCII case, and with `_`
//! in place of `-` (`X_Forwarded_Email`, `x-auth_request-user`), because many servers and
//! frameworks (CGI/FastCGI/WSGI environments, PHP, nginx with `underscores_in_headers`) map
//! both spellings to the same variable. oauth2-proxy let client-sent `X-Auth-Request-*`
//! through to the app; authproxy strips them.
//!
//! | option | request to the app | `/oauth2/auth` response |
//! |---|---|---|
//! | `pass_user_headers` | `X-Forwarded-User` (user, or email with `prefer_email_to_user`), `-Email`, `-Groups` (comma-joined), `-Preferred-Username`, `-Provider` (the id of the provider the user signed in with) | — |
//! | `pass_access_token` | `X-Forwarded-Access-Token` | — |
//! | `pass_authorization_header` | `Authorization: Bearer <id_token>` | — |
//! | `set_xauthrequest` | `X-Auth-Request-User`, `-Email`, `-Groups`, `-Preferred-Username`, `-Provider`, and `-Access-Token` with `pass_access_token` | the same |
//! | `set_authorization_header` | — | `Authorization: Bearer <id_token>` |
//!
//! An empty identity field produces no header. A value that is not a legal header value
//! (CR, LF, NUL or another control character) is dropped and logged by header name only;
//! it never panics and never splits a header. Tokens are marked sensitive (not indexed by
//! HPACK, redacted in `Debug`). None of these headers is ever added to a proxied response:
//! browsers never see tokens.

use http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use crate::config::HeaderConfig;

#[cfg(test)]
mod tests;

static X_FORWARDED_USER: HeaderName = HeaderName::from_static("x-forwarded-user");
static X_FORWARDED_EMAIL: HeaderName = HeaderName::from_static("x-forwarded-email");
static X_FORWARDED_GROUPS: HeaderName = HeaderName::from_static("x-forwarded-groups");
static X_FORWARDED_PREFERRED_USERNAME: HeaderName =
    HeaderName::from_static("x-forwarded-preferred-username");
static X_FORWARDED_ACCESS_TOKEN: HeaderName = HeaderName::from_static("x-forwarded-access-token");
static X_AUTH_REQUEST_USER: HeaderName = HeaderName::from_static("x-auth-request-user");
static X_AUTH_REQUEST_EMAIL: HeaderName = HeaderName::from_static("x-auth-request-email");
static X_AUTH_REQUEST_GROUPS: HeaderName = HeaderName::from_static("x-auth-request-groups");
static X_AUTH_REQUEST_PREFERRED_USERNAME: HeaderName =
    HeaderName::from_static("x-auth-request-preferred-username");
static X_AUTH_REQUEST_ACCESS_TOKEN: HeaderName =
    HeaderName::from_static("x-auth-request-access-token");
static X_FORWARDED_PROVIDER: HeaderName = HeaderName::from_static("x-forwarded-provider");
static X_AUTH_REQUEST_PROVIDER: HeaderName = HeaderName::from_static("x-auth-request-provider");

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
fn fold(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

/// `name` equals `canonical` (lower-case, dashes) after folding.
#[inline]
fn folded_eq(name: &[u8], canonical: &str) -> bool {
    name.len() == canonical.len()
        && name
            .iter()
            .zip(canonical.as_bytes())
            .all(|(&a, &b)| fold(a) == b)
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

/// The compiled header options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdentityHeaders {
    pass_user_headers: bool,
    pass_access_token: bool,
    pass_authorization_header: bool,
    set_authorization_header: bool,
    set_xauthrequest: bool,
    prefer_email_to_user: bool,
}

impl IdentityHeaders {
    /// Takes the identity-header options from the validated configuration.
    pub fn from_config(cfg: &HeaderConfig) -> Self {
        Self {
            pass_user_headers: cfg.pass_user_headers,
            pass_access_token: cfg.pass_access_token,
            pass_authorization_header: cfg.pass_authorization_header,
            set_authorization_header: cfg.set_authorization_header,
            set_xauthrequest: cfg.set_xauthrequest,
            prefer_email_to_user: cfg.prefer_email_to_user,
        }
    }

    /// Whether the client's own `Authorization` header must be stripped from requests to the
    /// app: only when the proxy injects `Authorization: Bearer <id_token>` itself. Otherwise
    /// it is the app's business (basic auth, API tokens) and passes through untouched.
    pub fn strips_authorization(&self) -> bool {
        self.pass_authorization_header
    }
}

/// The identity of a signed-in session, borrowed from it. Empty strings mean "absent".
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity<'a> {
    pub user: &'a str,
    pub email: &'a str,
    pub groups: &'a [String],
    pub preferred_username: &'a str,
    pub access_token: &'a str,
    pub id_token: &'a str,
    /// The id of the provider the session was signed in with.
    pub provider: &'a str,
}

/// Collects headers, skipping empty values and dropping illegal ones.
struct Out(Vec<(HeaderName, HeaderValue)>);

impl Out {
    fn push(&mut self, name: &HeaderName, value: &[u8], sensitive: bool) {
        if value.is_empty() {
            return;
        }
        // `from_bytes` refuses CR, LF, NUL and every other control byte except tab, so a
        // value can never end a header early or inject another one. UTF-8 (obs-text) is
        // kept, as oauth2-proxy sends it.
        match HeaderValue::from_bytes(value) {
            Ok(mut v) => {
                v.set_sensitive(sensitive);
                self.0.push((name.clone(), v));
            }
            Err(_) => {
                tracing::warn!(
                    header = name.as_str(),
                    "identity value contains characters not allowed in an HTTP header; header not sent"
                );
            }
        }
    }

    fn push_groups(&mut self, name: &HeaderName, groups: &[String]) {
        if groups.is_empty() {
            return;
        }
        let joined = groups.join(",");
        self.push(name, joined.as_bytes(), false);
    }

    fn push_bearer(&mut self, id_token: &str) {
        if id_token.is_empty() {
            return;
        }
        let mut value = Vec::with_capacity(7 + id_token.len());
        value.extend_from_slice(b"Bearer ");
        value.extend_from_slice(id_token.as_bytes());
        self.push(&AUTHORIZATION, &value, true);
    }

    fn push_xauthrequest(&mut self, rules: &IdentityHeaders, id: &Identity<'_>) {
        self.push(&X_AUTH_REQUEST_USER, id.user.as_bytes(), false);
        self.push(&X_AUTH_REQUEST_EMAIL, id.email.as_bytes(), false);
        self.push_groups(&X_AUTH_REQUEST_GROUPS, id.groups);
        self.push(
            &X_AUTH_REQUEST_PREFERRED_USERNAME,
            id.preferred_username.as_bytes(),
            false,
        );
        self.push(&X_AUTH_REQUEST_PROVIDER, id.provider.as_bytes(), false);
        if rules.pass_access_token {
            self.push(
                &X_AUTH_REQUEST_ACCESS_TOKEN,
                id.access_token.as_bytes(),
                true,
            );
        }
    }
}

/// The identity headers to add to a request going to the app (after
/// [`strip_identity_headers`]). See the module table for which option adds which header.
pub fn upstream_headers(
    rules: &IdentityHeaders,
    identity: &Identity<'_>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Out(Vec::with_capacity(13));
    if rules.pass_user_headers {
        let user = if rules.prefer_email_to_user {
            identity.email
        } else {
            identity.user
        };
        out.push(&X_FORWARDED_USER, user.as_bytes(), false);
        out.push(&X_FORWARDED_EMAIL, identity.email.as_bytes(), false);
        out.push_groups(&X_FORWARDED_GROUPS, identity.groups);
        out.push(
            &X_FORWARDED_PREFERRED_USERNAME,
            identity.preferred_username.as_bytes(),
            false,
        );
        out.push(&X_FORWARDED_PROVIDER, identity.provider.as_bytes(), false);
    }
    if rules.pass_access_token {
        out.push(
            &X_FORWARDED_ACCESS_TOKEN,
            identity.access_token.as_bytes(),
            true,
        );
    }
    if rules.pass_authorization_header {
        out.push_bearer(identity.id_token);
    }
    if rules.set_xauthrequest {
        out.push_xauthrequest(rules, identity);
    }
    out.0
}

/// The headers of a successful (202) `/oauth2/auth` response, read by the front proxy
/// (nginx `auth_request`, Traefik/Envoy forward-auth) and copied onto the request it
/// forwards: `X-Auth-Request-*` with `set_xauthrequest`, `Authorization: Bearer <id_token>`
/// with `set_authorization_header`.
pub fn auth_response_headers(
    rules: &IdentityHeaders,
    identity: &Identity<'_>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Out(Vec::with_capacity(7));
    if rules.set_xauthrequest {
        out.push_xauthrequest(rules, identity);
    }
    if rules.set_authorization_header {
        out.push_bearer(identity.id_token);
    }
    out.0
}
