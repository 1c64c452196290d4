//! `Set-Cookie` building, domain choice, splitting into `_0`, `_1`, … chunks, reading (and
//! reassembling) from `Cookie` headers, clearing, and stripping the proxy's own cookies before a
//! request goes upstream. Semantics follow oauth2-proxy v7 (pkg/cookies, pkg/sessions/cookie).

use std::borrow::Cow;
use std::time::Duration;

use crate::config::{CookieConfig, SameSite};

/// oauth2-proxy's limit for one whole `Set-Cookie` value (name, value and attributes); browsers
/// allow 4096, the rest is leeway.
pub const MAX_COOKIE_LENGTH: usize = 4000;

/// Longest cookie name oauth2-proxy writes for a chunk (it shortens the base name to fit).
const MAX_CHUNK_NAME: usize = 256;

/// Attributes of one of the proxy's cookies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieOptions {
    pub name: String,
    /// `cookie_domains`, as configured (a leading `.` is allowed and ignored when matching).
    pub domains: Vec<String>,
    pub path: String,
    /// `Max-Age`; zero writes none (a browser-session cookie).
    pub expire: Duration,
    pub secure: bool,
    pub httponly: bool,
    pub samesite: SameSite,
}

impl From<&CookieConfig> for CookieOptions {
    /// The session cookie's options.
    fn from(c: &CookieConfig) -> Self {
        Self {
            name: c.name.clone(),
            domains: c.domains.clone(),
            path: c.path.clone(),
            expire: c.expire,
            secure: c.secure,
            httponly: c.httponly,
            samesite: c.samesite,
        }
    }
}

impl CookieOptions {
    /// The same attributes under another name and lifetime (the CSRF cookie:
    /// `opts.with_name(csrf_name).with_expire(cfg.csrf_expire)`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same attributes with another lifetime.
    pub fn with_expire(mut self, expire: Duration) -> Self {
        self.expire = expire;
        self
    }
}

/// The `cookie_domains` entry to use for `request_host`: the longest one the host (port removed,
/// compared case-insensitively) equals or is a subdomain of. `.example.com` and `example.com`
/// both match `example.com` and `sub.example.com`, never `badexample.com`.
///
/// oauth2-proxy sorts the entries longest first and takes the first plain suffix match, falling
/// back to the shortest entry when none matches; both fallbacks produce a `Domain` the browser
/// rejects. Here a non-matching host gets `None`, i.e. a host-only cookie that works.
pub fn pick_domain<'a>(domains: &'a [String], request_host: &str) -> Option<&'a str> {
    let host = strip_port(request_host);
    let host = host.strip_suffix('.').unwrap_or(host);
    domains
        .iter()
        .filter(|d| domain_matches(host, d))
        .max_by_key(|d| d.trim_start_matches('.').len())
        .map(String::as_str)
}

fn domain_matches(host: &str, entry: &str) -> bool {
    let d = entry.trim_start_matches('.');
    if d.is_empty() || host.len() < d.len() {
        return false;
    }
    let (head, tail) = host.split_at(host.len() - d.len());
    tail.eq_ignore_ascii_case(d) && (head.is_empty() || head.ends_with('.'))
}

/// `host[:port]` or `[v6]:port` → host (brackets kept off for IPv6).
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        // One colon: a port. Several: a bare IPv6 address.
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Why cookies could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error(
        "cookie attributes alone take {0} characters, leaving no room for a value within the \
         {MAX_COOKIE_LENGTH}-character limit; shorten cookie_name, cookie_path or cookie_domains"
    )]
    AttributesTooLong(usize),
}

fn build(
    opts: &CookieOptions,
    name: &str,
    value: &str,
    domain: Option<&str>,
    max_age: Option<Duration>,
) -> String {
    let mut c = cookie::Cookie::new(name.to_owned(), value.to_owned());
    c.set_path(opts.path.clone());
    if let Some(d) = domain {
        c.set_domain(d.to_owned());
    }
    if let Some(age) = max_age {
        c.set_max_age(cookie::time::Duration::seconds(
            i64::try_from(age.as_secs()).unwrap_or(i64::MAX),
        ));
    }
    // Always explicit, so the cookie crate never adds `Secure` on its own (oauth2-proxy does not).
    c.set_secure(opts.secure);
    c.set_http_only(opts.httponly);
    c.set_same_site(match opts.samesite {
        SameSite::Unset => None,
        SameSite::Lax => Some(cookie::SameSite::Lax),
        SameSite::Strict => Some(cookie::SameSite::Strict),
        SameSite::None => Some(cookie::SameSite::None),
    });
    c.to_string()
}

fn max_age(opts: &CookieOptions) -> Option<Duration> {
    (!opts.expire.is_zero()).then_some(opts.expire)
}

/// One `Set-Cookie` value for `opts.name` (no splitting; for the CSRF cookie).
pub fn make_cookie(opts: &CookieOptions, value: &str, host: &str) -> String {
    let domain = pick_domain(&opts.domains, host);
    build(opts, &opts.name, value, domain, max_age(opts))
}

/// The `Set-Cookie` values that store `value` under `opts.name`: one cookie when the whole
/// `Set-Cookie` string fits [`MAX_COOKIE_LENGTH`], else `name_0`, `name_1`, … each filled up to
/// the limit, exactly as oauth2-proxy splits. `Max-Age` = `opts.expire`, no `Expires`.
pub fn make_cookies(
    opts: &CookieOptions,
    value: &str,
    host: &str,
) -> Result<Vec<String>, CookieError> {
    let domain = pick_domain(&opts.domains, host);
    let age = max_age(opts);
    let whole = build(opts, &opts.name, value, domain, age);
    if whole.len() <= MAX_COOKIE_LENGTH {
        return Ok(vec![whole]);
    }
    // Attributes take the same room in every chunk; measure them once.
    let attrs = build(opts, "", "", domain, age).len() - 1; // minus the '='
    let mut out = Vec::new();
    let mut rest = value;
    let mut index = 0usize;
    while !rest.is_empty() {
        let name = chunk_name(&opts.name, index);
        let fixed = name.len() + 1 + attrs;
        if fixed >= MAX_COOKIE_LENGTH {
            return Err(CookieError::AttributesTooLong(fixed));
        }
        let mut take = rest.len().min(MAX_COOKIE_LENGTH - fixed);
        // Signed values are ASCII; never cut inside a character even if one is not.
        while !rest.is_char_boundary(take) {
            take -= 1;
        }
        if take == 0 {
            return Err(CookieError::AttributesTooLong(fixed));
        }
        let (chunk, tail) = rest.split_at(take);
        out.push(build(opts, &name, chunk, domain, age));
        rest = tail;
        index += 1;
    }
    Ok(out)
}

/// `name_N`, with the base name shortened so the whole name stays within 256 bytes (as
/// oauth2-proxy's `splitCookieName`).
pub fn chunk_name(name: &str, index: usize) -> String {
    let suffix = format!("_{index}");
    let overflow = (name.len() + suffix.len()).saturating_sub(MAX_CHUNK_NAME);
    let mut keep = name.len().saturating_sub(overflow);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &name[..keep])
}

/// `Set-Cookie` values that delete the cookie `name` (empty value, `Max-Age=0`, same path and
/// domain as when it was set).
pub fn clear_cookie(opts: &CookieOptions, name: &str, host: &str) -> String {
    let domain = pick_domain(&opts.domains, host);
    build(opts, name, "", domain, Some(Duration::ZERO))
}

/// `Set-Cookie` values that delete the session: the base name and every `name_N` among
/// `present_names` (the names the request carried; see [`cookie_names`]), each once.
pub fn clear_cookies<'a>(
    opts: &CookieOptions,
    present_names: impl IntoIterator<Item = &'a str>,
    host: &str,
) -> Vec<String> {
    let mut names: Vec<&str> = vec![&opts.name];
    for n in present_names {
        if is_chunk_of(n, &opts.name) && !names.contains(&n) {
            names.push(n);
        }
    }
    names
        .into_iter()
        .map(|n| clear_cookie(opts, n, host))
        .collect()
}

/// `base_<digits>`?
fn is_chunk_of(name: &str, base: &str) -> bool {
    name.strip_prefix(base)
        .and_then(|r| r.strip_prefix('_'))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `(name, value)` pairs of `Cookie` header values, as Go's `http.Request.Cookies` reads them:
/// `;`-separated, surrounding whitespace trimmed, a value in double quotes unquoted, pairs
/// without a name skipped. Borrowed from the header; nothing is allocated.
pub fn cookie_pairs<'a>(
    cookie_headers: impl IntoIterator<Item = &'a str>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    cookie_headers
        .into_iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|part| {
            let part = part.trim_matches(|c: char| c == ' ' || c == '\t');
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            if name.is_empty() {
                return None;
            }
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((name, value))
        })
}

/// The names of all cookies in the `Cookie` header values.
pub fn cookie_names<'a>(
    cookie_headers: impl IntoIterator<Item = &'a str>,
) -> impl Iterator<Item = &'a str> {
    cookie_pairs(cookie_headers).map(|(n, _)| n)
}

/// The value of cookie `name`: the cookie itself when present (first occurrence), else the
/// chunks `name_0`, `name_1`, … concatenated up to the first missing index. Borrowed (no
/// allocation) unless it had to be reassembled.
pub fn read_cookie<'a>(
    name: &str,
    cookie_headers: impl IntoIterator<Item = &'a str>,
) -> Option<Cow<'a, str>> {
    let mut chunks: Vec<(usize, &'a str)> = Vec::new();
    for (n, v) in cookie_pairs(cookie_headers) {
        if n == name {
            return Some(Cow::Borrowed(v));
        }
        if let Some(idx) = n
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix('_'))
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<usize>().ok())
        {
            chunks.push((idx, v));
        }
    }
    // The first occurrence of each index wins, as Go's Request.Cookie: a stable sort keeps
    // duplicates in header order, and dedup keeps the first of each run. O(n log n): a
    // quadratic "seen before?" scan let one 400 KB Cookie header of chunk names cost seconds.
    chunks.sort_by_key(|(i, _)| *i);
    chunks.dedup_by_key(|(i, _)| *i);
    let run = chunks
        .iter()
        .enumerate()
        .take_while(|(pos, (i, _))| pos == i)
        .count();
    match run {
        0 => None,
        1 => Some(Cow::Borrowed(chunks[0].1)),
        _ => Some(Cow::Owned(chunks[..run].iter().map(|(_, v)| *v).collect())),
    }
}

/// Whether `cookie` is one of the proxy's own cookies for base name `name`: the session cookie,
/// its chunks `name_N`, the CSRF cookie `name_csrf`, or a per-request CSRF cookie `name_X_csrf`.
pub fn is_own_cookie(cookie: &str, name: &str) -> bool {
    let Some(rest) = cookie.strip_prefix(name) else {
        return false;
    };
    if rest.is_empty() || rest == "_csrf" {
        return true;
    }
    let Some(rest) = rest.strip_prefix('_') else {
        return false;
    };
    rest.bytes().all(|b| b.is_ascii_digit()) || rest.ends_with("_csrf")
}

/// The `Cookie` header to forward upstream: `cookie_header` without the proxy's own cookies (see
/// [`is_own_cookie`]), other cookies byte-for-byte as sent, joined with `"; "`. `None` when no
/// cookie is left (drop the header).
pub fn strip_own_cookies(cookie_header: &str, name: &str) -> Option<String> {
    let mut out = String::with_capacity(cookie_header.len());
    for part in cookie_header.split(';') {
        let part = part.trim_matches(|c: char| c == ' ' || c == '\t');
        if part.is_empty() {
            continue;
        }
        let cookie_name = part.split_once('=').map_or(part, |(n, _)| n);
        if is_own_cookie(cookie_name, name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(part);
    }
    (!out.is_empty()).then_some(out)
}

/// `Cookie` header values as strings (non-UTF-8 values are ignored).
pub fn cookie_headers(headers: &http::HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// Names of the session cookie (`name` and `name_N`) present on a request, each once.
pub fn present_cookie_names(headers: &http::HeaderMap, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in cookie_headers(headers) {
        for pair in value.split(';') {
            let n = pair.split('=').next().unwrap_or("").trim();
            if (n == name || is_chunk_of(n, name)) && !out.iter().any(|o| o == n) {
                out.push(n.to_owned());
            }
        }
    }
    out
}

/// Set-Cookie values expiring every session cookie chunk a request carries (none when it
/// carries none).
pub fn clear_present(opts: &CookieOptions, headers: &http::HeaderMap, host: &str) -> Vec<String> {
    let present = present_cookie_names(headers, &opts.name);
    if present.is_empty() {
        return Vec::new();
    }
    clear_cookies(opts, present.iter().map(String::as_str), host)
}

/// After re-issuing a session in `kept` chunks (1: the unsplit name), Set-Cookie values
/// clearing the names the client still has beyond them.
pub fn clear_stale_chunks(
    opts: &CookieOptions,
    headers: &http::HeaderMap,
    host: &str,
    kept: usize,
) -> Vec<String> {
    let name = &opts.name;
    let stale: Vec<String> = present_cookie_names(headers, name)
        .into_iter()
        .filter(|n| {
            if kept <= 1 {
                n != name
            } else {
                n == name
                    || n.strip_prefix(name.as_str())
                        .and_then(|r| r.strip_prefix('_'))
                        .and_then(|i| i.parse::<usize>().ok())
                        .is_some_and(|i| i >= kept)
            }
        })
        .collect();
    stale.iter().map(|n| clear_cookie(opts, n, host)).collect()
}

/// Removes the proxy's own cookies (session, chunks, CSRF) from a request going to the app,
/// keeping every other cookie.
pub fn strip_own_cookie_headers(headers: &mut http::HeaderMap, cookie_name: &str) {
    let mut kept: Option<String> = None;
    let mut changed = false;
    for value in headers.get_all(http::header::COOKIE) {
        let Ok(v) = value.to_str() else { continue };
        match strip_own_cookies(v, cookie_name) {
            Some(rest) if rest == v => kept = Some(join_cookie(kept, v)),
            Some(rest) => {
                changed = true;
                kept = Some(join_cookie(kept, &rest));
            }
            None => changed = true,
        }
    }
    if changed || headers.get_all(http::header::COOKIE).iter().count() > 1 {
        headers.remove(http::header::COOKIE);
        if let Some(v) = kept.and_then(|k| http::HeaderValue::from_str(&k).ok()) {
            headers.insert(http::header::COOKIE, v);
        }
    }
}

fn join_cookie(acc: Option<String>, v: &str) -> String {
    match acc {
        Some(mut a) => {
            a.push_str("; ");
            a.push_str(v);
            a
        }
        None => v.to_owned(),
    }
}
