//! `rd` / state return URL validation (src/redirect.rs), checked against an independent
//! WHATWG URL parser (the `url` crate, which is what a browser does with a `Location`).
//!
//! Property: whatever is accepted is either a path that stays on the same origin when a
//! browser resolves it (never `//host` or `/\host`), or an absolute http(s) URL whose host,
//! as the browser parses it, is whitelisted or is the request's own host.

use std::net::{Ipv4Addr, Ipv6Addr};

use authproxy::redirect::{return_url_for_request, validate_redirect, ReturnTo, Whitelist};
use url::{Host, Url};

use crate::support::{bytes, expand, pick};

const DICT: &[&str] = &[
    "/",
    "//",
    "\\",
    "/\\",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "%252F",
    "%09",
    "%0a",
    "%00",
    "%25",
    ".",
    "..",
    "/./",
    "/../",
    "@",
    ":",
    "?",
    "#",
    "http://",
    "https://",
    "HTTPS://",
    "example.com",
    ".example.com",
    "evilexample.com",
    "app.test",
    ":8443",
    "sub.wild.test",
    ":1",
    "evil.com",
    "[::1]",
    "[::1]:9000",
    "127.0.0.1",
    "0x7f.1",
    "2130706433",
    "proxy.local:4180",
    "\t",
    " ",
    "\r\n",
    "javascript:",
    "user:pw@",
    "%40",
    "xn--",
    ";",
    "&",
    "=",
    "rd=",
];

const CURRENT_HOSTS: [Option<&str>; 5] = [
    None,
    Some("proxy.local:4180"),
    Some("Proxy.Local"),
    Some("[::1]"),
    Some("127.0.0.1:8080"),
];

fn whitelist() -> Whitelist {
    let entries: Vec<String> = [
        ".example.com",
        "app.test:8443",
        "*.wild.test:*",
        "[::1]:9000",
        "127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Whitelist::parse(&entries).expect("the fuzz whitelist is valid")
}

/// The host (and port) a browser connects to is one the configuration allows.
fn host_allowed(url: &Url, current: Option<&str>) -> bool {
    if let Some(cur) = current {
        // The same-origin exception: compare as the browser would, via the same parser.
        if let Ok(c) = Url::parse(&format!("{}://{cur}/", url.scheme())) {
            if c.host() == url.host() && c.port() == url.port() {
                return true;
            }
        }
    }
    match url.host() {
        Some(Host::Domain(d)) => {
            d == "example.com"
                || d.ends_with(".example.com")
                || (d == "app.test" && url.port() == Some(8443))
                || d == "wild.test"
                || d.ends_with(".wild.test")
        }
        Some(Host::Ipv4(a)) => a == Ipv4Addr::LOCALHOST && url.port().is_none(),
        Some(Host::Ipv6(a)) => a == Ipv6Addr::LOCALHOST && url.port() == Some(9000),
        None => false,
    }
}

fn check_accepted(target: &str, r: &ReturnTo, current: Option<&str>) {
    let s = r.as_str();
    assert!(
        s.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "accepted a target that is not a clean Location value: {s:?}"
    );
    if s.starts_with('/') {
        assert!(
            !s.starts_with("//") && !s.starts_with("/\\"),
            "accepted protocol-relative {s:?}"
        );
        assert!(!r.is_absolute());
        let base = Url::parse("https://base.invalid/app/page").expect("base URL");
        let resolved = base
            .join(s)
            .unwrap_or_else(|e| panic!("accepted {s:?}, which a browser cannot resolve: {e}"));
        assert_eq!(
            resolved.origin(),
            base.origin(),
            "accepted relative {s:?} leaves the origin: {resolved}"
        );
    } else {
        assert!(
            s.starts_with("http://") || s.starts_with("https://"),
            "accepted {s:?} (from {target:?}) that is neither a path nor http(s)"
        );
        let url = Url::parse(s).unwrap_or_else(|e| panic!("accepted unparsable {s:?}: {e}"));
        assert!(
            url.username().is_empty() && url.password().is_none(),
            "accepted {s:?} with userinfo"
        );
        assert!(
            host_allowed(&url, current),
            "accepted {s:?}: a browser goes to host {:?} port {:?}, not whitelisted",
            url.host_str(),
            url.port()
        );
    }
}

#[test]
fn redirect() {
    let wl = whitelist();
    bytes("redirect", 160, |input| {
        let Some((&sel, rest)) = input.split_first() else {
            return;
        };
        let current = *pick(&CURRENT_HOSTS, sel & 0x0f);
        let text = expand(rest, DICT);
        if sel & 0x80 == 0 {
            if let Ok(r) = validate_redirect(&text, &wl, current) {
                assert_eq!(r.as_str(), text, "the validated target is the input");
                check_accepted(&text, &r, current);
            }
        } else {
            let scheme = *pick(&["http", "https", "HTTPS", "ftp", ""], sel >> 4);
            let (host, path) = text.split_once('|').unwrap_or((&text, ""));
            if let Ok(r) = return_url_for_request(scheme, host, path, &wl, current) {
                check_accepted(&text, &r, current);
            }
        }
    });
}

#[test]
fn whitelist_entries() {
    bytes("whitelist", 64, |input| {
        let text = expand(input, DICT);
        let entries: Vec<String> = text.split(',').map(str::to_owned).collect();
        // Only "no panic" and "a refused entry is named in the error".
        if let Err(e) = Whitelist::parse(&entries) {
            assert!(e.starts_with("whitelist_domains entry "), "{e}");
        }
    });
}
