//! Requests that need no authentication, and requests that are APIs.
//!
//! oauth2-proxy's options, same names and syntax:
//!
//! * `skip_auth_routes`: `METHOD=regex`, `METHOD!=regex` (every path NOT matching) or `regex`
//!   (any method). The method is compared case-insensitively.
//! * `skip_auth_regex` (legacy): `regex`, any method.
//! * `skip_auth_preflight`: `OPTIONS` requests.
//! * `trusted_ips`: client addresses or networks (the client address behind a trusted proxy,
//!   see [`crate::forwarded`]).
//! * `api_routes`: path regexes whose unauthenticated requests get a 401 JSON answer instead of
//!   the sign-in page.
//!
//! ## What a regex is matched against
//!
//! The **path only**: never the query string, never a fragment, never the host. Before
//! matching, the path is normalized by [`normalize_path`], which refuses (so the request is
//! **not** skipped, and needs authentication) every path whose meaning differs between
//! authproxy, front proxies and apps:
//!
//! * a `#`, a backslash, whitespace or a control character;
//! * a percent-encoded `/`, `\`, `?`, `#` or control character (`%2F` would let
//!   `/public%2F..%2Fsecret` look like one segment here and three in the app);
//! * a malformed escape or an escape that decodes to invalid UTF-8;
//! * a `.` or `..` segment, raw or encoded, also with a `;parameter` (`/public/..;/secret`);
//! * anything not starting with `/`.
//!
//! Other escapes are decoded (`%20` → space) before matching, as oauth2-proxy does. Matching
//! is case-sensitive. Regexes are not anchored for you: write `^/public/` rather than `public`.
//! Refusing ambiguous paths fails closed: at worst an odd URL needs a login.

use std::borrow::Cow;
use std::net::IpAddr;

use regex::Regex;

use crate::config::{SkipConfig, SkipRoute as Route};
use crate::net::{in_any, Cidr};

/// Why a request is let through without authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// `skip_auth_preflight` and an `OPTIONS` request.
    Preflight,
    /// A `skip_auth_routes` / `skip_auth_regex` entry matched.
    Route,
    /// The client address is in `trusted_ips`.
    TrustedIp,
}

impl SkipReason {
    /// A short identifier for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Preflight => "skip_auth_preflight",
            SkipReason::Route => "skip_auth_route",
            SkipReason::TrustedIp => "trusted_ip",
        }
    }
}

/// A path that cannot be matched safely (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmbiguousPath {
    #[error("the path does not start with /")]
    NotAbsolute,
    #[error("the path contains a fragment (#)")]
    Fragment,
    #[error("the path contains a backslash, whitespace or a control character")]
    BadCharacter,
    #[error("the path contains an encoded delimiter or control character")]
    EncodedDelimiter,
    #[error("the path contains a malformed percent escape")]
    BadEscape,
    #[error("the path contains a . or .. segment")]
    DotSegment,
}

/// The compiled skip and API rules.
#[derive(Clone, Debug, Default)]
pub struct SkipRules {
    routes: Vec<Route>,
    api_routes: Vec<Regex>,
    trusted_ips: Vec<Cidr>,
    preflight: bool,
}

impl SkipRules {
    /// The matcher for the validated rules.
    pub fn new(cfg: &SkipConfig) -> SkipRules {
        SkipRules {
            routes: cfg.routes.clone(),
            api_routes: cfg.api_routes.clone(),
            trusted_ips: cfg.trusted_ips.clone(),
            preflight: cfg.preflight,
        }
    }

    /// True when no rule can ever skip authentication (the hot path then does nothing).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.trusted_ips.is_empty() && !self.preflight
    }

    /// Whether a request may go through without authentication. `path` is the request target
    /// (path, optionally with `?query`); `None` means the original path is unknown, and then
    /// no path rule applies.
    pub fn skip(&self, method: &str, path: Option<&str>, client_ip: IpAddr) -> Option<SkipReason> {
        if self.is_empty() {
            return None;
        }
        if self.preflight && method.eq_ignore_ascii_case("OPTIONS") {
            return Some(SkipReason::Preflight);
        }
        if !self.routes.is_empty() {
            if let Some(Ok(normalized)) = path.map(normalize_path) {
                let hit = self.routes.iter().any(|r| {
                    r.method
                        .as_deref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(method))
                        && r.regex.is_match(&normalized) != r.negate
                });
                if hit {
                    return Some(SkipReason::Route);
                }
            }
        }
        if in_any(&self.trusted_ips, client_ip) {
            return Some(SkipReason::TrustedIp);
        }
        None
    }

    /// Whether an unauthenticated request to `path` gets a 401 JSON answer (`api_routes`).
    /// An ambiguous path is matched as it is, minus the query: this only picks the error format.
    pub fn is_api(&self, path: &str) -> bool {
        if self.api_routes.is_empty() {
            return false;
        }
        let normalized = match normalize_path(path) {
            Ok(p) => p,
            Err(_) => Cow::Borrowed(path_only(path)),
        };
        self.api_routes.iter().any(|r| r.is_match(&normalized))
    }
}

/// The part before `?`.
fn path_only(target: &str) -> &str {
    match target.find('?') {
        Some(i) => &target[..i],
        None => target,
    }
}

/// The decoded path of a request target, or why it cannot be matched safely (module docs).
pub fn normalize_path(target: &str) -> Result<Cow<'_, str>, AmbiguousPath> {
    let path = path_only(target);
    if path.contains('#') {
        return Err(AmbiguousPath::Fragment);
    }
    if !path.starts_with('/') {
        return Err(AmbiguousPath::NotAbsolute);
    }
    if path.bytes().any(|b| b <= 0x20 || b == 0x7f || b == b'\\') {
        return Err(AmbiguousPath::BadCharacter);
    }
    let decoded: Cow<'_, str> = if path.contains('%') {
        let bytes = path.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = bytes.get(i + 1..i + 3).ok_or(AmbiguousPath::BadEscape)?;
                let v = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .filter(|_| hex.iter().all(u8::is_ascii_hexdigit))
                    .ok_or(AmbiguousPath::BadEscape)?;
                if v < 0x20 || v == 0x7f || matches!(v, b'/' | b'\\' | b'?' | b'#') {
                    return Err(AmbiguousPath::EncodedDelimiter);
                }
                out.push(v);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        Cow::Owned(String::from_utf8(out).map_err(|_| AmbiguousPath::BadEscape)?)
    } else {
        Cow::Borrowed(path)
    };
    for segment in decoded.split('/') {
        let name = segment.split(';').next().unwrap_or("");
        if name == "." || name == ".." {
            return Err(AmbiguousPath::DotSegment);
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(
        routes: &[String],
        regex: &[String],
        api: &[String],
        ips: &[String],
        preflight: bool,
    ) -> Result<SkipRules, Vec<crate::config::RuleError>> {
        SkipConfig::parse(routes, regex, api, ips, preflight).map(|c| SkipRules::new(&c))
    }

    fn rules(routes: &[&str], regex: &[&str], api: &[&str], ips: &[&str]) -> SkipRules {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        compile(&v(routes), &v(regex), &v(api), &v(ips), false).unwrap()
    }

    fn lo() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    #[test]
    fn normalization_table() {
        use AmbiguousPath::*;
        let cases: &[(&str, Result<&str, AmbiguousPath>)] = &[
            ("/public/a", Ok("/public/a")),
            ("/public/a?x=/secret", Ok("/public/a")),
            ("/a%20b", Ok("/a b")),
            ("/caf%C3%A9", Ok("/café")),
            ("/%70ublic", Ok("/public")),
            ("/a%25b", Ok("/a%b")),
            ("/public//x", Ok("/public//x")),
            ("/public/..x", Ok("/public/..x")),
            ("/public#frag", Err(Fragment)),
            ("/public?x#y", Ok("/public")),
            ("public", Err(NotAbsolute)),
            ("", Err(NotAbsolute)),
            ("*", Err(NotAbsolute)),
            ("/public\\..\\secret", Err(BadCharacter)),
            ("/a b", Err(BadCharacter)),
            ("/public%2F..%2Fsecret", Err(EncodedDelimiter)),
            ("/public%2f", Err(EncodedDelimiter)),
            ("/public%5C", Err(EncodedDelimiter)),
            ("/public%3Fx", Err(EncodedDelimiter)),
            ("/public%23x", Err(EncodedDelimiter)),
            ("/public%00", Err(EncodedDelimiter)),
            ("/public%0a", Err(EncodedDelimiter)),
            ("/public%zz", Err(BadEscape)),
            ("/public%2", Err(BadEscape)),
            ("/public%+1", Err(BadEscape)),
            ("/%C3", Err(BadEscape)),
            ("/public/../secret", Err(DotSegment)),
            ("/public/./x", Err(DotSegment)),
            ("/public/..", Err(DotSegment)),
            ("/public/%2e%2e/secret", Err(DotSegment)),
            ("/public/%2E/x", Err(DotSegment)),
            ("/public/..;/secret", Err(DotSegment)),
            ("/public/.;x=1/y", Err(DotSegment)),
        ];
        for (input, want) in cases {
            let got = normalize_path(input);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{input}"),
                (Err(w), Err(g)) => assert_eq!(g, w, "{input}"),
                _ => panic!("{input}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn route_syntax_table() {
        let r = rules(
            &[
                "GET=^/public/",
                "post=^/hooks$",
                "^/health$",
                "GET!=^/private/",
                "^/a=b$",
            ],
            &[],
            &[],
            &[],
        );
        let cases: &[(&str, &str, bool)] = &[
            ("GET", "/public/x", true),
            ("get", "/public/x", true),
            ("POST", "/public/x", false),
            ("POST", "/hooks", true),
            ("PUT", "/hooks", false),
            ("DELETE", "/health", true),
            // Negated: GET anything but /private/...
            ("GET", "/private/x", false),
            ("GET", "/elsewhere", true),
            ("POST", "/elsewhere", false),
            // As in oauth2-proxy, the first `=` splits method from regex: `^/a=b$` is method
            // `^/A` (which no request has) and regex `b$`, so it matches nothing.
            ("PATCH", "/a=b", false),
            ("^/A", "/b", true),
        ];
        for (method, path, want) in cases {
            assert_eq!(
                r.skip(method, Some(path), lo()).is_some(),
                *want,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn skip_regex_never_sees_query_fragment_encoded_slash_or_dot_segments() {
        let r = rules(&["^/public"], &["public$"], &[], &[]);
        for attack in [
            "/secret?next=/public",
            "/secret?public",
            "/secret#/public",
            "/public%2F..%2Fsecret",
            "/public%2f..%2fsecret",
            "/public/../secret",
            "/public/%2e%2e/secret",
            "/public/..;/secret",
            "/public\\..\\secret",
            "/secret%23public",
            "/secret%3Fpublic",
            "/public/./../secret",
        ] {
            assert_eq!(r.skip("GET", Some(attack), lo()), None, "{attack}");
        }
        assert_eq!(
            r.skip("GET", Some("/public/x"), lo()),
            Some(SkipReason::Route)
        );
        assert_eq!(
            r.skip("GET", Some("/docs/public"), lo()),
            Some(SkipReason::Route)
        );
    }

    #[test]
    fn unknown_original_path_matches_no_route() {
        let r = rules(&[".*"], &[], &[], &[]);
        assert_eq!(r.skip("GET", None, lo()), None);
        assert_eq!(
            r.skip("GET", Some("/anything"), lo()),
            Some(SkipReason::Route)
        );
    }

    #[test]
    fn trusted_ips_and_preflight() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let r = compile(&[], &[], &[], &v(&["10.0.0.0/8", "192.0.2.1"]), true).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            r.skip("GET", None, ip("10.1.2.3")),
            Some(SkipReason::TrustedIp)
        );
        assert_eq!(
            r.skip("GET", None, ip("192.0.2.1")),
            Some(SkipReason::TrustedIp)
        );
        assert_eq!(r.skip("GET", None, ip("192.0.2.2")), None);
        assert_eq!(
            r.skip("OPTIONS", None, ip("192.0.2.2")),
            Some(SkipReason::Preflight)
        );
        assert!(SkipRules::default().is_empty());
        assert!(!r.is_empty());
    }

    #[test]
    fn api_routes_match_the_path_not_the_query() {
        let r = rules(&[], &[], &["^/api/"], &[]);
        assert!(r.is_api("/api/v1/things"));
        assert!(r.is_api("/api/v1/things?x=1"));
        assert!(!r.is_api("/web?next=/api/"));
        assert!(!r.is_api("/"));
        // Ambiguous paths still pick the format by their raw path.
        assert!(r.is_api("/api/../x"));
    }

    #[test]
    fn bad_entries_are_errors_naming_the_option() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let errs = compile(
            &v(&["GET=(unclosed"]),
            &v(&["[z-a]"]),
            &v(&["(unclosed"]),
            &v(&["10.0.0.1/8", "not-an-ip"]),
            false,
        )
        .unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "skip_auth_regex",
                "skip_auth_routes",
                "api_routes",
                "trusted_ips",
                "trusted_ips"
            ]
        );
        assert!(
            errs[1].message.contains("GET=(unclosed"),
            "{}",
            errs[1].message
        );
    }
}
