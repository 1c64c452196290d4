//! Redirect validation: the only way to obtain a [`ReturnTo`].
//!
//! Every place that sends a browser somewhere it was told to go (`rd`, the return URL carried
//! in the login state, sign-out) must go through [`validate_redirect`]; nothing else in the
//! crate accepts a raw redirect string.
//!
//! The rules are oauth2-proxy's (`pkg/app/redirect/validator.go`, `pkg/util`), made stricter
//! wherever oauth2-proxy relied on a later component to behave:
//!
//! * **Relative** targets start with exactly one `/`. Like oauth2-proxy, no two slash or
//!   backslash characters may be separated only by whitespace or by `.`/`..` anywhere in the
//!   string (`//`, `/./`, `/../`). In addition the *path* is percent-decoded (repeatedly) and
//!   the same test plus "no backslash, no control character" is applied again, so
//!   `/%2F%2Fevil.com` and `/%5Cevil.com` are refused even if an application decodes its path
//!   before redirecting.
//! * **Absolute** targets start with the literal lower-case `http://` or `https://` (as in
//!   oauth2-proxy, `HTTPS://` is refused). The authority is parsed here, strictly, rather than
//!   by a lenient URL library: no userinfo (`@`), no percent signs, a host of ASCII letters,
//!   digits, `-`, `_` and dots (no empty label, no trailing dot), an IPv4 address only in its
//!   canonical dotted-decimal form (`http://0xd83ad6ce`, `http://3627734734` are refused), an
//!   IPv6 address only in brackets, and a decimal port 1–65535.
//! * Everywhere: no ASCII control character, no whitespace, no backslash, no non-ASCII
//!   character, none of `"`, `<`, `>`, `` ` `` (a browser always percent-encodes these, so a
//!   raw one only appears in a forged value), at most [`MAX_REDIRECT_LEN`] bytes.
//! * An absolute target's host must match a [`Whitelist`] rule, or be exactly the host
//!   (and port) the request itself was addressed to (`current_host`): a redirect back to the
//!   same origin is never an open redirect. oauth2-proxy does not have this exception (its
//!   validator only consults `whitelist_domains`); it is what lets an app that is not listed
//!   in `whitelist_domains` still send its users back to itself after a login.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use percent_encoding::percent_decode;

#[cfg(test)]
mod tests;

/// The longest redirect target accepted, in bytes. The return URL travels inside the
/// encrypted state on the provider's authorization URL and in the CSRF cookie, both of which
/// have practical size limits well below this.
pub const MAX_REDIRECT_LEN: usize = 4096;

/// How many rounds of percent-decoding are applied to a path before giving up. Legitimate
/// paths are encoded at most once or twice; anything nested deeper is refused.
const MAX_DECODE_ROUNDS: usize = 4;

/// Why a redirect target was refused. Each variant states what was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    /// No target at all.
    #[error("the redirect target is empty")]
    Empty,
    /// Longer than [`MAX_REDIRECT_LEN`].
    #[error("the redirect target is longer than {MAX_REDIRECT_LEN} bytes")]
    TooLong,
    /// A control character, whitespace, backslash, non-ASCII character or one of `"<>`` ` ``.
    #[error("the redirect target contains a control, whitespace, backslash, quote, angle-bracket or non-ASCII character")]
    ForbiddenCharacter,
    /// Neither a path starting with `/` nor a URL starting with lower-case `http://` or
    /// `https://` (e.g. `javascript:`, `data:`, `HTTPS://`, `evil.com/`).
    #[error(
        "the redirect target is neither a path starting with '/' nor an http:// or https:// URL"
    )]
    UnsupportedScheme,
    /// Starts with `//`: a browser reads it as "another host, same scheme".
    #[error("the redirect target is protocol-relative ('//host')")]
    ProtocolRelative,
    /// Contains `//`, `/./` or `/../` (a browser or an application may collapse these into a
    /// different origin or path).
    #[error("the redirect target contains an empty or dot path segment ('//', '/./', '/../')")]
    AmbiguousPath,
    /// The path, once percent-decoded, contains a slash sequence, a backslash or a control
    /// character, or is percent-encoded more deeply than any real path.
    #[error("the redirect path hides a slash sequence, backslash or control character behind percent-encoding")]
    EncodedDelimiter,
    /// `user:password@host`.
    #[error("the redirect URL carries userinfo ('user@host')")]
    UserInfo,
    /// The host is empty, malformed, percent-encoded or a non-canonical IP address.
    #[error("the redirect URL's host is malformed")]
    InvalidHost,
    /// The port is empty, not decimal or out of range.
    #[error("the redirect URL's port is malformed")]
    InvalidPort,
    /// No `whitelist_domains` rule matches the host (and it is not the request's own host).
    #[error("the redirect URL's host is not in whitelist_domains")]
    HostNotAllowed,
    /// A rule matches the host but not the port.
    #[error("the redirect URL's port is not allowed by whitelist_domains")]
    PortNotAllowed,
}

impl RedirectError {
    /// A short, stable identifier for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong => "too_long",
            Self::ForbiddenCharacter => "forbidden_character",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::ProtocolRelative => "protocol_relative",
            Self::AmbiguousPath => "ambiguous_path",
            Self::EncodedDelimiter => "encoded_delimiter",
            Self::UserInfo => "userinfo",
            Self::InvalidHost => "invalid_host",
            Self::InvalidPort => "invalid_port",
            Self::HostNotAllowed => "host_not_allowed",
            Self::PortNotAllowed => "port_not_allowed",
        }
    }
}

/// A redirect target that passed [`validate_redirect`]: a same-origin path (`/app?x=1`) or an
/// absolute `http(s)` URL on an allowed host. It is safe to put in a `Location` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnTo(String);

impl ReturnTo {
    /// `/`, the fallback when no valid target was given.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// The validated target.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The validated target, by value.
    pub fn into_string(self) -> String {
        self.0
    }

    /// True for `http://…` / `https://…` targets, false for paths.
    pub fn is_absolute(&self) -> bool {
        !self.0.starts_with('/')
    }
}

impl AsRef<str> for ReturnTo {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReturnTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The compiled `whitelist_domains`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Whitelist {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    host: Host,
    /// `.example.com` / `*.example.com`: the domain itself and every subdomain.
    subdomains: bool,
    port: PortRule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortRule {
    /// No port in the entry: only URLs without an explicit port (oauth2-proxy's rule;
    /// `https://example.com:443/` is therefore refused by an `example.com` entry).
    Implicit,
    /// `:8080`: exactly that explicit port.
    Exact(u16),
    /// `:*`: any port, or none.
    Any,
}

/// A parsed host. Names are stored lower-case.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Whitelist {
    /// Compiles `whitelist_domains` entries: `example.com`, `.example.com` or `*.example.com`
    /// (the domain and all its subdomains), each optionally followed by `:PORT` or `:*`;
    /// IP addresses only exactly (`127.0.0.1:8080`, `[::1]:*`). Host names are matched
    /// case-insensitively. The error names the offending entry and says what is wrong.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let rules = entries
            .iter()
            .map(|entry| {
                parse_rule(entry).map_err(|why| format!("whitelist_domains entry {entry:?}: {why}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    /// True when no entry was configured (only relative and same-host redirects pass).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Checks a parsed host/port against the rules.
    fn check(&self, host: &Host, port: Option<u16>) -> Result<(), RedirectError> {
        let mut host_matched = false;
        for rule in &self.rules {
            if !rule.matches_host(host) {
                continue;
            }
            host_matched = true;
            let port_ok = match rule.port {
                PortRule::Implicit => port.is_none(),
                PortRule::Exact(p) => port == Some(p),
                PortRule::Any => true,
            };
            if port_ok {
                return Ok(());
            }
        }
        Err(if host_matched {
            RedirectError::PortNotAllowed
        } else {
            RedirectError::HostNotAllowed
        })
    }
}

impl Rule {
    fn matches_host(&self, host: &Host) -> bool {
        match (&self.host, host) {
            (Host::Name(domain), Host::Name(name)) => {
                name == domain || (self.subdomains && is_strict_subdomain(name, domain))
            }
            (Host::V4(a), Host::V4(b)) => a == b,
            (Host::V6(a), Host::V6(b)) => a == b,
            _ => false,
        }
    }
}

/// `name` ends with `.` + `domain`, on a label boundary (so `evilexample.com` is not a
/// subdomain of `example.com`: GHSA-4mf2-f3wh-gvf2). Both are lower-case.
fn is_strict_subdomain(name: &str, domain: &str) -> bool {
    name.len() > domain.len() + 1
        && name.ends_with(domain)
        && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
}

fn parse_rule(entry: &str) -> Result<Rule, &'static str> {
    if entry.is_empty() {
        return Err("is empty");
    }
    if !entry.is_ascii() {
        return Err(
            "contains non-ASCII characters; write internationalised domains in punycode (xn--...)",
        );
    }
    if entry
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err("contains whitespace or control characters");
    }
    if entry.contains('/') || entry.contains('@') {
        return Err(
            "must be a host name with an optional port (e.g. .example.com:8443), not a URL",
        );
    }
    let (subdomains, rest) = if let Some(rest) = entry.strip_prefix("*.") {
        (true, rest)
    } else if let Some(rest) = entry.strip_prefix('.') {
        (true, rest)
    } else {
        (false, entry)
    };
    let (host_part, port_part) = split_host_port(rest)
        .ok_or("has a malformed host; IPv6 addresses must be in brackets, e.g. [::1]:8080")?;
    if host_part.contains('*') {
        return Err(
            "a wildcard is only allowed as a leading '*.' (e.g. *.example.com) or as the port (:*)",
        );
    }
    let port = match port_part {
        None => PortRule::Implicit,
        Some("*") => PortRule::Any,
        Some(p) => {
            PortRule::Exact(parse_port(p).ok_or("has a port that is not a number from 1 to 65535")?)
        }
    };
    let host = parse_host(host_part).map_err(|_| {
        "has a malformed host (letters, digits, '-', '_' and dots; no empty label or trailing dot; IPv4 in dotted-decimal form)"
    })?;
    if subdomains && !matches!(host, Host::Name(_)) {
        return Err("an IP address cannot have subdomains; drop the leading '.' or '*.'");
    }
    Ok(Rule {
        host,
        subdomains,
        port,
    })
}

/// Splits `host[:port]` / `[v6][:port]`. The port part is returned raw (may be `*`). Returns
/// `None` for a bracket mismatch or an unbracketed colon in the host.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let host = &authority[..=close];
        let after = &authority[close + 1..];
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.rfind(':') {
        Some(i) if authority[..i].contains(':') => None,
        Some(i) => Some((&authority[..i], Some(&authority[i + 1..]))),
        None => Some((authority, None)),
    }
}

/// A decimal port 1–65535 with no sign, no leading `+`, at most 5 digits.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match s.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(p) => Some(p),
    }
}

/// Parses a host strictly. Browsers (WHATWG URL) read a host whose last label is numeric
/// (`1.2.3.4`, `0xd8.3856078`, `3627734734`) as an IPv4 address in decimal, octal or hex;
/// only the canonical dotted-decimal form is accepted so that what we compare is what the
/// browser connects to.
fn parse_host(s: &str) -> Result<Host, RedirectError> {
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(RedirectError::InvalidHost)?;
        return inner
            .parse::<Ipv6Addr>()
            .map(Host::V6)
            .map_err(|_| RedirectError::InvalidHost);
    }
    if s.is_empty() || s.len() > 253 {
        return Err(RedirectError::InvalidHost);
    }
    for label in s.split('.') {
        if label.is_empty()
            || label.len() > 63
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(RedirectError::InvalidHost);
        }
    }
    // A punycode label (`xn--`) must decode, or a browser refuses the URL: keep "accepted"
    // meaning "a URL a browser follows to this host" (found by tests/fuzz: `xn--.example.com`).
    if s.split('.')
        .any(|l| l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")))
        && url::Host::parse(s).is_err()
    {
        return Err(RedirectError::InvalidHost);
    }
    // `split` never yields nothing; the fallback only keeps this free of a panic path.
    let last = s.rsplit('.').next().unwrap_or(s);
    if ends_in_a_number(last) {
        return s
            .parse::<Ipv4Addr>()
            .map(Host::V4)
            .map_err(|_| RedirectError::InvalidHost);
    }
    Ok(Host::Name(s.to_ascii_lowercase()))
}

/// The WHATWG "ends in a number" test on the last label: all digits, or `0x` + hex digits.
fn ends_in_a_number(label: &str) -> bool {
    if !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    match label.get(..2) {
        Some(p) if p.eq_ignore_ascii_case("0x") => {
            label[2..].bytes().all(|b| b.is_ascii_hexdigit())
        }
        _ => false,
    }
}

/// Parses the `Host` the request was addressed to; `None` when it is not a clean host.
fn parse_current_host(s: &str) -> Option<(Host, Option<u16>)> {
    let (host, port) = split_host_port(s)?;
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Some((parse_host(host).ok()?, port))
}

/// Validates a redirect target (see the module documentation for the rules).
///
/// `current_host` is the `Host` (authority) the request carrying the target was addressed
/// to, e.g. `app.example.com` or `127.0.0.1:4180`: an absolute target on exactly that host
/// and port is allowed even when it is not in `whitelist_domains`. Pass only a host the
/// client really reached (the request's own `Host`, or `X-Forwarded-Host` only behind a
/// trusted `reverse_proxy`), or `None` for oauth2-proxy's whitelist-only behaviour.
pub fn validate_redirect(
    target: &str,
    whitelist: &Whitelist,
    current_host: Option<&str>,
) -> Result<ReturnTo, RedirectError> {
    if target.is_empty() {
        return Err(RedirectError::Empty);
    }
    if target.len() > MAX_REDIRECT_LEN {
        return Err(RedirectError::TooLong);
    }
    // Whitespace and control characters (C0, DEL) are what make `/\t/evil.com` a redirect
    // to evil.com in browsers that strip them (GHSA-j7px-6hwj-hpjg); backslashes are read as
    // slashes (GHSA-qqxw-m5fj-f7gv); non-ASCII characters may be normalised into either
    // (fullwidth solidus, ideographic full stop). Refusing them outright removes every
    // parser-differential trick that depends on them.
    if target.bytes().any(is_forbidden_byte) {
        return Err(RedirectError::ForbiddenCharacter);
    }

    if let Some(rest) = target.strip_prefix('/') {
        if rest.starts_with('/') {
            return Err(RedirectError::ProtocolRelative);
        }
        // oauth2-proxy's rule, over the whole string (query and fragment included).
        if has_slash_sequence(target.as_bytes()) {
            return Err(RedirectError::AmbiguousPath);
        }
        check_decoded_path(path_of(target))?;
        return Ok(ReturnTo(target.to_owned()));
    }

    // Literal, lower-case scheme only, as oauth2-proxy: anything else (javascript:, data:,
    // HTTPS://, http:/x, http:x) is not something we ever need to redirect to.
    let rest = target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"))
        .ok_or(RedirectError::UnsupportedScheme)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() {
        return Err(RedirectError::InvalidHost);
    }
    // Userinfo is how `https://allowed.com@evil.com/` fools naive suffix checks.
    if authority.contains('@') {
        return Err(RedirectError::UserInfo);
    }
    // A percent sign in the authority is either an encoded delimiter
    // (`http://evil.com%2f.example.com`) or an encoded character a browser would decode.
    if authority.contains('%') {
        return Err(RedirectError::InvalidHost);
    }
    let (host_part, port_part) = split_host_port(authority).ok_or(RedirectError::InvalidHost)?;
    let port = match port_part {
        None => None,
        Some(p) => Some(parse_port(p).ok_or(RedirectError::InvalidPort)?),
    };
    let host = parse_host(host_part)?;

    if tail.starts_with('/') {
        let path = path_of(tail);
        if has_slash_sequence(path.as_bytes()) {
            return Err(RedirectError::AmbiguousPath);
        }
        check_decoded_path(path)?;
    }

    let same_origin = current_host
        .and_then(parse_current_host)
        .is_some_and(|(h, p)| h == host && p == port);
    if !same_origin {
        whitelist.check(&host, port)?;
    }
    Ok(ReturnTo(target.to_owned()))
}

/// Builds the absolute URL of the request being served (`scheme://host/path?query`) for use
/// as the return URL when `redirect_url` is on another host (the central callback domain):
/// after the login on `auth.example.com` the user must come back to the app they started
/// from, not to the auth host. `scheme` is `http` or `https`, `host` the request's authority
/// and `path_and_query` its request target (starting with `/`). The result is validated
/// exactly like any other target (see [`validate_redirect`] for `current_host`).
pub fn return_url_for_request(
    scheme: &str,
    host: &str,
    path_and_query: &str,
    whitelist: &Whitelist,
    current_host: Option<&str>,
) -> Result<ReturnTo, RedirectError> {
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else {
        return Err(RedirectError::UnsupportedScheme);
    };
    let path_and_query = if path_and_query.is_empty() {
        "/"
    } else {
        path_and_query
    };
    if !path_and_query.starts_with('/') {
        return Err(RedirectError::AmbiguousPath);
    }
    if host.is_empty() {
        return Err(RedirectError::InvalidHost);
    }
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + path_and_query.len());
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(host);
    url.push_str(path_and_query);
    validate_redirect(&url, whitelist, current_host)
}

/// Bytes never allowed anywhere in a redirect target.
fn is_forbidden_byte(b: u8) -> bool {
    !(0x21..=0x7e).contains(&b) || matches!(b, b'\\' | b'"' | b'<' | b'>' | b'`')
}

/// The part of `s` before any `?` or `#`.
fn path_of(s: &str) -> &str {
    match s.find(['?', '#']) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// oauth2-proxy's open-redirect pattern: a slash or backslash, then any run of whitespace
/// (including none) or one or two dots, then another slash or backslash.
fn has_slash_sequence(s: &[u8]) -> bool {
    let is_sep = |b: u8| b == b'/' || b == b'\\';
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    for (i, &b) in s.iter().enumerate() {
        if !is_sep(b) {
            continue;
        }
        let rest = &s[i + 1..];
        let spaces = rest.iter().take_while(|&&c| is_space(c)).count();
        if rest.get(spaces).copied().is_some_and(is_sep) {
            return true;
        }
        let dots = rest.iter().take(2).take_while(|&&c| c == b'.').count();
        if dots > 0 && rest.get(dots).copied().is_some_and(is_sep) {
            return true;
        }
    }
    false
}

/// Percent-decodes `path` repeatedly and refuses any round that reveals a backslash, a
/// control character or a slash sequence: `/%2F%2Fevil.com`, `/%5Cevil.com`, `/%09/evil.com`,
/// `/%252F%252Fevil.com`. Encoded single slashes (`/a%2Fb`) stay allowed.
fn check_decoded_path(path: &str) -> Result<(), RedirectError> {
    if !path.contains('%') {
        return Ok(());
    }
    let mut current: Vec<u8> = path.as_bytes().to_vec();
    for _ in 0..MAX_DECODE_ROUNDS {
        let decoded: Vec<u8> = percent_decode(&current).collect();
        if decoded == current {
            return Ok(());
        }
        if decoded.iter().any(|&b| b == b'\\' || b < 0x20 || b == 0x7f)
            || has_slash_sequence(&decoded)
        {
            return Err(RedirectError::EncodedDelimiter);
        }
        current = decoded;
    }
    // Still changing after MAX_DECODE_ROUNDS: deliberately nested encoding.
    Err(RedirectError::EncodedDelimiter)
}
