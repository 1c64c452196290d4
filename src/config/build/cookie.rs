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
    let domains = c.list("cookie_domains");
    for d in &domains {
        if let Err(e) = validate_hostname(d.strip_prefix('.').unwrap_or(d)) {
            c.fail("cookie_domains", format!("entry {d:?}: {e}"));
        }
    }
    let path = c.string("cookie_path").trim().to_string();
    if !path.starts_with('/')
        || path
            .chars()
            .any(|ch| ch == ';' || ch.is_control() || ch.is_whitespace())
    {
        c.fail(
            "cookie_path",
            format!("{path:?} must start with / and contain no ';', spaces or control characters"),
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
        c.fail("cookie_csrf_expire", "must be greater than zero");
    }
    let secure = c.boolean("cookie_secure");
    let samesite_raw = c.string("cookie_samesite");
    let samesite = match samesite_raw.trim().to_ascii_lowercase().as_str() {
        "" => SameSite::Unset,
        "lax" => SameSite::Lax,
        "strict" => SameSite::Strict,
        "none" => SameSite::None,
        other => {
            c.fail(
                "cookie_samesite",
                format!("{other:?} must be one of lax, strict, none or \"\""),
            );
            SameSite::Unset
        }
    };
    if samesite == SameSite::None && !secure {
        // Browsers drop SameSite=None cookies without Secure, so sign-in would loop.
        c.fail("cookie_samesite", "\"none\" requires cookie_secure = true (browsers reject SameSite=None cookies without Secure)");
    }
    if name.starts_with("__Secure-") || name.starts_with("__Host-") {
        if !secure {
            c.fail(
                "cookie_name",
                format!("{name:?}: the __Secure-/__Host- prefix requires cookie_secure = true"),
            );
        }
        if name.starts_with("__Host-") && (!domains.is_empty() || path != "/") {
            c.fail("cookie_name", format!("{name:?}: the __Host- prefix requires no cookie_domains and cookie_path = \"/\""));
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
    })
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
