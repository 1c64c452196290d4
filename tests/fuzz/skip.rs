//! Skip-route matching and path normalisation (src/skip.rs), the decision that
//! GHSA-7rh7-c77v-6434 (query string), GHSA-pxq7-h93f-9jrg (fragment) and the
//! `X-Forwarded-Uri` advisories got wrong in oauth2-proxy.
//!
//! Properties, checked against an independent WHATWG URL parser (the `url` crate):
//! * a path that normalises is exactly the percent-decoded path a URL parser sees for that
//!   request target: no dot segment it would collapse, no query, no fragment;
//! * a request is skipped by a route only when the route's regex (and method) matches that
//!   decoded path, never because of the query string or an encoded delimiter;
//! * without a known path (`None`), no route skips anything.

use std::net::IpAddr;

use authproxy::config::SkipConfig;
use authproxy::skip::{normalize_path, SkipReason, SkipRules};
use percent_encoding::percent_decode_str;
use regex::Regex;
use url::Url;

use crate::support::{bytes, expand, pick};

const DICT: &[&str] = &[
    "/",
    "/public/",
    "/static/",
    "a.css",
    "/private",
    "?",
    "#",
    "%2F",
    "%2f",
    "%5C",
    "%3F",
    "%23",
    "%2e",
    "%2E",
    ".",
    "..",
    "/./",
    "/../",
    ";",
    "..;",
    "%25",
    "%20",
    "%00",
    "%zz",
    "%",
    "\\",
    "//",
    "x",
    "=",
    "&",
    "?x=/public/",
    "#/public/",
    "%C3%A9",
    "%FF",
    "\t",
];

const ROUTES: [(&str, Option<&str>, bool); 3] = [
    ("^/public/", Some("GET"), false),
    ("^/static/[a-z]+\\.css$", None, false),
    ("^/private", Some("POST"), true),
];

fn rules() -> SkipRules {
    let routes: Vec<String> = ["GET=^/public/", "^/static/[a-z]+\\.css$", "POST!=^/private"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cfg = SkipConfig::parse(&routes, &[], &[], &["10.0.0.0/8".to_owned()], false)
        .expect("the fuzz skip rules compile");
    SkipRules::new(&cfg)
}

/// What a URL parser makes of the request target's path, percent-decoded; `None` when it
/// does not parse or does not decode to UTF-8.
fn whatwg_path(path: &str) -> Option<String> {
    let url = Url::parse(&format!("http://h.invalid{path}")).ok()?;
    let decoded = percent_decode_str(url.path()).decode_utf8().ok()?;
    Some(decoded.into_owned())
}

#[test]
fn skip_routes() {
    let rules = rules();
    let regexes: Vec<(Regex, Option<&str>, bool)> = ROUTES
        .iter()
        .map(|(r, m, n)| (Regex::new(r).expect("regex"), *m, *n))
        .collect();
    let ips: [IpAddr; 3] = [
        "203.0.113.9".parse().expect("ip"),
        "10.1.2.3".parse().expect("ip"),
        "::ffff:10.0.0.1".parse().expect("ip"),
    ];
    bytes("skip", 128, |input| {
        let Some((&sel, rest)) = input.split_first() else {
            return;
        };
        let target = expand(rest, DICT);
        let method = *pick(&["GET", "POST", "get", "OPTIONS", "DELETE"], sel);
        let ip = ips[usize::from(sel >> 4) % ips.len()];
        let trusted_ip = !matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 203);

        let path = target.split('?').next().unwrap_or("");
        let normalized = normalize_path(&target);
        if let Ok(n) = &normalized {
            assert!(n.starts_with('/'), "{target:?} → {n:?}");
            assert!(!n.contains('?') && !n.contains('#'), "{target:?} → {n:?}");
            for seg in n.split('/') {
                let name = seg.split(';').next().unwrap_or("");
                assert!(
                    name != "." && name != "..",
                    "{target:?} → {n:?} keeps a dot segment"
                );
            }
            assert_eq!(
                whatwg_path(path).as_deref(),
                Some(n.as_ref()),
                "{target:?}: normalised path differs from what a URL parser sees"
            );
        }

        match rules.skip(method, Some(&target), ip) {
            Some(SkipReason::Route) => {
                let n = normalized
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{target:?} skipped although ambiguous ({e})"));
                let hit = regexes.iter().any(|(re, m, negate)| {
                    m.is_none_or(|m| m.eq_ignore_ascii_case(method)) && re.is_match(n) != *negate
                });
                assert!(
                    hit,
                    "{method} {target:?} skipped but no route matches {n:?}"
                );
            }
            Some(SkipReason::TrustedIp) => assert!(trusted_ip, "{ip} is not in trusted_ips"),
            Some(SkipReason::Preflight) => panic!("skip_auth_preflight is off"),
            None => {}
        }
        // Without a known original path, only the client address can skip.
        match rules.skip(method, None, ip) {
            None => assert!(!trusted_ip, "{ip} is in trusted_ips"),
            Some(r) => assert!(
                r == SkipReason::TrustedIp && trusted_ip,
                "{method} with no path skipped: {r:?}"
            ),
        }
        let _ = rules.is_api(&target);
    });
}
