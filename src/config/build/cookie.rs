//! `cookie_*`: the session cookie's name, secret, domains, lifetimes and attributes.

use super::super::*;
use super::access::validate_hostname;
use super::ctx::Ctx;
use crate::config::duration::format_go_duration;
use crate::crypto::CookieSecret;

pub(crate) fn cookie(c: &mut Ctx) -> Option<CookieConfig> {
    let name = c.string("cookie_name").trim().to_string();
    if let Err(e) = validate_cookie_name(&name) {
        c.fail("cookie_name", e);
    }
    let secret = cookie_secret(c);
    // v7 accepts any entry; one that is no host name can never match a request host (and Go
    // would drop it from Set-Cookie), so it is left out, with a warning.
    let mut domains = c.list("cookie_domains");
    let mut dropped = Vec::new();
    domains.retain(|d| match validate_hostname(d.strip_prefix('.').unwrap_or(d)) {
        Ok(()) => true,
        Err(e) => {
            dropped.push(format!("entry {d:?} is ignored: {e}; it can match no request host (oauth2-proxy accepts it and the cookie gets no Domain)"));
            false
        }
    });
    for w in dropped {
        c.warn_about("cookie_domains", w);
    }
    // Go's net/http drops the bytes a cookie Path may not hold (`;`, controls); so do we.
    let raw_path = c.string("cookie_path");
    let path: String = raw_path
        .trim()
        .chars()
        .filter(|&ch| (' '..='~').contains(&ch) && ch != ';')
        .collect();
    if path != raw_path.trim() {
        c.warn_about(
            "cookie_path",
            format!("{raw_path:?} has characters a cookie path cannot hold; they are dropped as oauth2-proxy (Go) drops them: {path:?}"),
        );
    }
    if !path.starts_with('/') {
        c.warn_about(
            "cookie_path",
            format!("{path:?} does not start with /; browsers then ignore it and use the request's directory (as with oauth2-proxy)"),
        );
    }
    let expire = c.duration("cookie_expire");
    let refresh = c.duration("cookie_refresh");
    if !refresh.is_zero() && !expire.is_zero() && refresh >= expire {
        c.fail(
            "cookie_refresh",
            format!(
                "({}) must be less than cookie_expire ({})",
                format_go_duration(refresh),
                format_go_duration(expire)
            ),
        );
    }
    let csrf_expire = c.duration("cookie_csrf_expire");
    if csrf_expire.is_zero() {
        c.warn_about(
            "cookie_csrf_expire",
            "is 0: the CSRF cookie expires at once, so every sign-in fails its CSRF check (oauth2-proxy starts with it too); use e.g. 15m",
        );
    }
    let secure = c.boolean("cookie_secure");
    let samesite_raw = c.string("cookie_samesite");
    // v7 compares case-sensitively (and untrimmed): "Lax" is refused there, so here too.
    let samesite = match samesite_raw.as_str() {
        "" => SameSite::Unset,
        "lax" => SameSite::Lax,
        "strict" => SameSite::Strict,
        "none" => SameSite::None,
        other => {
            let hint = if matches!(
                other.trim().to_ascii_lowercase().as_str(),
                "lax" | "strict" | "none"
            ) {
                " (write it in lower case without spaces: oauth2-proxy compares it exactly)"
            } else {
                ""
            };
            c.fail(
                "cookie_samesite",
                format!("{other:?} must be one of lax, strict, none or \"\"{hint}"),
            );
            SameSite::Unset
        }
    };
    // Browser rules v7 does not check: it starts, and the browser drops the cookie (sign-in
    // loops). Accepted with a warning.
    if samesite == SameSite::None && !secure {
        c.warn_about("cookie_samesite", "\"none\" without cookie_secure = true: browsers reject SameSite=None cookies without Secure, so sign-in will loop");
    }
    if name.starts_with("__Secure-") || name.starts_with("__Host-") {
        if !secure {
            c.warn_about(
                "cookie_name",
                format!("{name:?}: the __Secure-/__Host- prefix needs cookie_secure = true, or browsers reject the cookie"),
            );
        }
        if name.starts_with("__Host-") && (!domains.is_empty() || path != "/") {
            c.warn_about("cookie_name", format!("{name:?}: the __Host- prefix needs no cookie_domains and cookie_path = \"/\", or browsers reject the cookie"));
        }
    }
    Some(CookieConfig {
        name,
        secret: secret?,
        previous_secrets: previous_secrets(c),
        domains,
        path,
        expire,
        refresh,
        secure,
        httponly: c.boolean("cookie_httponly"),
        samesite,
        csrf_per_request: c.boolean("cookie_csrf_per_request"),
        csrf_expire,
        csrf_per_request_limit: csrf_limit(c),
        csrf_samesite: csrf_samesite(c, secure),
        minimal: c.boolean("session_cookie_minimal"),
    })
}

/// `cookie_csrf_per_request_limit`: oauth2-proxy treats 0 and negative values as "no limit".
fn csrf_limit(c: &mut Ctx) -> usize {
    let n = c.int("cookie_csrf_per_request_limit");
    if n > 0 && !c.boolean("cookie_csrf_per_request") {
        c.warn("cookie_csrf_per_request_limit has no effect without cookie_csrf_per_request (as in oauth2-proxy)");
    }
    usize::try_from(n).unwrap_or(0)
}

/// `cookie_csrf_samesite`. oauth2-proxy does not validate it at startup, and a value other than
/// "", lax, strict or none then makes every login fail (its cookie writer panics). authproxy
/// starts as oauth2-proxy does, but with a warning, and the CSRF cookie takes
/// `cookie_samesite`'s value instead, so logins keep working.
fn csrf_samesite(c: &mut Ctx, secure: bool) -> Option<SameSite> {
    let raw = c.string("cookie_csrf_samesite");
    let value = match raw.trim().to_ascii_lowercase().as_str() {
        "" => return None,
        "lax" => SameSite::Lax,
        "strict" => SameSite::Strict,
        "none" => SameSite::None,
        other => {
            c.warn(format!("cookie_csrf_samesite {other:?} is not one of lax, strict, none or \"\" (oauth2-proxy accepts it at startup and then fails every login): the CSRF cookie uses cookie_samesite's value instead"));
            return None;
        }
    };
    if value == SameSite::None && !secure {
        c.fail("cookie_csrf_samesite", "\"none\" requires cookie_secure = true (browsers reject SameSite=None cookies without Secure)");
    }
    Some(value)
}

/// `session_cookie_minimal` drops the tokens from cookie sessions, so nothing may need them:
/// oauth2-proxy's refusals, with its messages.
pub(super) fn check_minimal(
    c: &mut Ctx,
    cookie: Option<&CookieConfig>,
    request: &[HeaderRule],
    response: &[HeaderRule],
) {
    if !cookie.is_some_and(|k| k.minimal) {
        return;
    }
    for rule in request.iter().chain(response) {
        for claim in ["access_token", "id_token"] {
            if rule.reads_claim(claim) {
                c.fail(
                    "session_cookie_minimal",
                    format!("{claim} claim for header {:?} requires oauth tokens in sessions. session_cookie_minimal cannot be set", rule.name),
                );
            }
        }
    }
    if cookie.is_some_and(|k| !k.refresh.is_zero()) {
        c.fail(
            "session_cookie_minimal",
            "cookie_refresh > 0 requires oauth tokens in sessions. session_cookie_minimal cannot be set",
        );
    }
}

/// `cookie_previous_secrets` and `cookie_previous_secret_files`, in that order: each parsed
/// like `cookie_secret` (a bad one names its option and position).
fn previous_secrets(c: &mut Ctx) -> Vec<CookieSecret> {
    let mut out = Vec::new();
    for (i, s) in c.list("cookie_previous_secrets").into_iter().enumerate() {
        match CookieSecret::parse(s.as_bytes()) {
            Ok(secret) => out.push(secret),
            Err(e) => c.fail("cookie_previous_secrets", format!("entry {}: {e}", i + 1)),
        }
    }
    for path in c.list("cookie_previous_secret_files") {
        match std::fs::read(&path) {
            Ok(bytes) => match CookieSecret::parse(&bytes) {
                Ok(secret) => out.push(secret),
                Err(e) => c.fail("cookie_previous_secret_files", format!("{path}: {e}")),
            },
            Err(e) => c.fail(
                "cookie_previous_secret_files",
                format!("cannot read {path}: {e}"),
            ),
        }
    }
    out
}

/// RFC 6265 token, and short enough for the `_csrf` / `_N` suffixes.
pub(crate) fn validate_cookie_name(name: &str) -> Result<(), String> {
    const MAX: usize = 256 - 64 - 1;
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(bad) = name.chars().find(|ch| {
        !ch.is_ascii() || ch.is_ascii_control() || " \t()<>@,;:\\\"/[]?={}".contains(*ch)
    }) {
        return Err(format!(
            "{name:?} contains {bad:?}; cookie names are ASCII letters, digits and !#$%&'*+-.^_`|~"
        ));
    }
    if name.len() > MAX {
        return Err(format!("is {} characters; the limit is {MAX}", name.len()));
    }
    Ok(())
}

pub(crate) fn cookie_secret(c: &mut Ctx) -> Option<CookieSecret> {
    let (key, bytes, file) = if let Some(s) = c.opt_string("cookie_secret") {
        ("cookie_secret", s.into_bytes(), None)
    } else if let Some(path) = c.opt_string("cookie_secret_file") {
        // Raw bytes, exactly as oauth2-proxy reads them: the secret string is also the
        // HMAC key, so trimming would break compatibility with its cookies.
        match std::fs::read(&path) {
            Ok(b) => ("cookie_secret_file", b, Some(path)),
            Err(e) => {
                c.fail("cookie_secret_file", format!("cannot read {path}: {e}"));
                return None;
            }
        }
    } else {
        c.errors.push(ConfigError::new(
            "cookie_secret",
            "option `cookie_secret` or `cookie_secret_file` is required (env OAUTH2_PROXY_COOKIE_SECRET, flag --cookie-secret); generate one with: openssl rand -base64 32 | tr -- '+/' '-_'",
        ));
        return None;
    };
    match CookieSecret::parse(&bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            let hint = match (&file, bytes.last()) {
                (Some(path), Some(b'\n' | b'\r')) => format!(
                    " (file {path} ends with a newline, which counts as part of the secret as in oauth2-proxy; write it without one, e.g. printf '%s' \"$SECRET\" > {path})"
                ),
                _ => String::new(),
            };
            c.fail(key, format!("{e}{hint}"));
            None
        }
    }
}
