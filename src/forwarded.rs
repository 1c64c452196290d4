//! Which client-supplied forwarding headers to believe, and what they say.
//!
//! A front proxy (nginx `auth_request`, Traefik `forwardAuth`, an Envoy/Istio sidecar, a load
//! balancer) tells authproxy about the *original* request in headers: `X-Forwarded-Proto`,
//! `-Host`, `-Uri`, `-Method`, `-For`, `X-Original-URL`, `X-Original-Method`, `X-Real-IP`.
//! Anyone can send those headers, so they are believed only when BOTH hold:
//!
//! * `reverse_proxy` is on (oauth2-proxy's switch: "I am behind a proxy"), and
//! * the TCP peer of the connection is in `trusted_proxy_ips` (an authproxy extension; default
//!   `127.0.0.0/8` and `::1`, so a sidecar — Istio's Envoy connects from `127.0.0.6` — or an
//!   nginx on the same host works out of the box).
//!
//! Otherwise every one of these headers is ignored and the request is taken at face value: its
//! own path, its `Host` header, plain `http`, and the TCP peer as the client address.
//!
//! The client address behind trusted proxies: the `real_client_ip_header` when it is a single
//! address; for `X-Forwarded-For`, the list is walked from the right (the entry appended by the
//! nearest proxy) past every trusted proxy, and the first untrusted address is the client. A
//! client that prepends a forged address to `X-Forwarded-For` therefore cannot choose its IP.
//!
//! Pure code: no I/O, nothing allocated for a request that carries no forwarding headers.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, Method, Uri};

pub use crate::net::{canonical, default_trusted_proxies, in_any, Cidr};

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
static X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");

/// When forwarding headers are believed.
#[derive(Clone, Debug)]
pub struct ForwardPolicy {
    /// `reverse_proxy`.
    pub reverse_proxy: bool,
    /// `trusted_proxy_ips`.
    pub trusted_proxies: Vec<Cidr>,
    /// `real_client_ip_header`, lower-case.
    pub client_ip_header: HeaderName,
}

impl ForwardPolicy {
    /// Whether a request from `peer` may speak for the original request.
    #[inline]
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.reverse_proxy && in_any(&self.trusted_proxies, peer)
    }
}

/// The original request as the client sent it, as far as it can be known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalRequest {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Host (with port when given); empty when unknown.
    pub host: String,
    /// The original method (`X-Forwarded-Method` / `X-Original-Method` from a trusted proxy, else
    /// this request's method).
    pub method: Method,
    /// Path and query of the original request: `X-Forwarded-Uri` or `X-Original-URL` from a
    /// trusted proxy. `None` when no trusted header says it: callers then must not assume any
    /// original path (see [`crate::skip`]).
    pub forwarded_uri: Option<String>,
    /// The client's address.
    pub client_ip: IpAddr,
    /// The forwarding headers of this request were believed.
    pub trusted: bool,
}

/// What the headers of a request from `peer` say about the original request, under `policy`.
pub fn original_request(
    headers: &HeaderMap,
    uri: &Uri,
    method: &Method,
    peer: IpAddr,
    policy: &ForwardPolicy,
) -> OriginalRequest {
    let peer = canonical(peer);
    let trusted = policy.trusts(peer);
    let own_host = || {
        headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()))
            .filter(|h| valid_host(h))
            .unwrap_or("")
            .to_owned()
    };
    if !trusted {
        return OriginalRequest {
            scheme: "http",
            host: own_host(),
            method: method.clone(),
            forwarded_uri: None,
            client_ip: peer,
            trusted,
        };
    }
    let original_url = first_value(headers, &X_ORIGINAL_URL).and_then(split_original_url);
    let scheme = match first_value(headers, &X_FORWARDED_PROTO) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(_) => "http",
        None => original_url.as_ref().map_or("http", |u| u.scheme),
    };
    let host = first_value(headers, &X_FORWARDED_HOST)
        .filter(|h| valid_host(h))
        .map(str::to_owned)
        .or_else(|| {
            original_url
                .as_ref()
                .and_then(|u| u.host)
                .map(str::to_owned)
        })
        .unwrap_or_else(own_host);
    let forwarded_uri = headers
        .get(&X_FORWARDED_URI)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|p| valid_path(p))
        .map(str::to_owned)
        .or_else(|| original_url.map(|u| u.path_and_query.to_owned()));
    let method = first_value(headers, &X_FORWARDED_METHOD)
        .or_else(|| first_value(headers, &X_ORIGINAL_METHOD))
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or_else(|| method.clone());
    OriginalRequest {
        scheme,
        host,
        method,
        forwarded_uri,
        client_ip: client_ip(headers, peer, policy),
        trusted,
    }
}

/// The client address of a request from a trusted `peer` (see the module docs).
fn client_ip(headers: &HeaderMap, peer: IpAddr, policy: &ForwardPolicy) -> IpAddr {
    if policy.client_ip_header != X_FORWARDED_FOR {
        // A single-address header; a list there is not something a proxy we trust writes.
        if let Some(ip) = headers
            .get(&policy.client_ip_header)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.contains(','))
            .and_then(parse_ip)
        {
            return ip;
        }
    }
    forwarded_for_client(headers, policy).unwrap_or(peer)
}

/// Walks every `X-Forwarded-For` entry from the right past trusted proxies.
fn forwarded_for_client(headers: &HeaderMap, policy: &ForwardPolicy) -> Option<IpAddr> {
    let mut leftmost = None;
    for value in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
        // An unreadable or unparsable hop breaks the chain: nothing left of it can be trusted.
        for entry in value.to_str().ok()?.rsplit(',') {
            let ip = parse_ip(entry)?;
            if !in_any(&policy.trusted_proxies, ip) {
                return Some(ip);
            }
            leftmost = Some(ip);
        }
    }
    leftmost
}

/// An IP address, also in the `[v6]:port` / `v4:port` forms some proxies write.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    None
}

/// The first comma-separated value of a header, trimmed, non-empty.
fn first_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `X-Original-URL`: an absolute `http(s)://host/path?query` (nginx-ingress) or a path.
struct OriginalUrl<'a> {
    scheme: &'static str,
    host: Option<&'a str>,
    path_and_query: &'a str,
}

fn split_original_url(v: &str) -> Option<OriginalUrl<'_>> {
    if valid_path(v) {
        return Some(OriginalUrl {
            scheme: "http",
            host: None,
            path_and_query: v,
        });
    }
    let (scheme, rest) = if let Some(r) = strip_prefix_ci(v, "https://") {
        ("https", r)
    } else if let Some(r) = strip_prefix_ci(v, "http://") {
        ("http", r)
    } else {
        return None;
    };
    let (host, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], &rest[i..]),
        Some(_) => return None,
        None => (rest, "/"),
    };
    if !valid_host(host) || !valid_path(path) {
        return None;
    }
    Some(OriginalUrl {
        scheme,
        host: Some(host),
        path_and_query: path,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A host\[:port\] that cannot smuggle a path, user info or whitespace into a URL.
pub fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

/// An origin-form request target: starts with a single `/`, no whitespace or control bytes.
pub fn valid_path(p: &str) -> bool {
    p.starts_with('/') && !p.starts_with("//") && p.bytes().all(|b| b > 0x20 && b != 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn policy(reverse_proxy: bool, nets: &[&str]) -> ForwardPolicy {
        ForwardPolicy {
            reverse_proxy,
            trusted_proxies: nets.iter().map(|n| Cidr::parse(n).unwrap()).collect(),
            client_ip_header: HeaderName::from_static("x-real-ip"),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn original(pairs: &[(&str, &str)], peer: &str, p: &ForwardPolicy) -> OriginalRequest {
        let uri: Uri = "/oauth2/auth".parse().unwrap();
        original_request(&headers(pairs), &uri, &Method::GET, ip(peer), p)
    }

    #[test]
    fn cidr_parsing_accepts_networks_and_single_addresses() {
        let cases: &[(&str, &str, bool)] = &[
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.0.2.7", "192.0.2.7", true),
            ("192.0.2.7", "192.0.2.8", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "::1", false),
            ("::1", "::1", true),
            ("::/0", "2001:db8::1", true),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("127.0.0.0/8", "::ffff:127.0.0.6", true),
        ];
        for (net, addr, want) in cases {
            assert_eq!(
                Cidr::parse(net).unwrap().contains(ip(addr)),
                *want,
                "{net} contains {addr}"
            );
        }
    }

    #[test]
    fn cidr_parsing_rejects_bad_entries() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.1/8",
            "example.com",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let p = policy(true, &["127.0.0.0/8"]);
        let o = original(
            &[
                ("host", "app.example.com"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "evil.example"),
                ("x-forwarded-uri", "/public/x"),
                ("x-original-url", "https://evil.example/public"),
                ("x-forwarded-for", "10.9.9.9"),
                ("x-real-ip", "10.9.9.9"),
                ("x-forwarded-method", "OPTIONS"),
            ],
            "203.0.113.5",
            &p,
        );
        assert!(!o.trusted);
        assert_eq!(o.scheme, "http");
        assert_eq!(o.host, "app.example.com");
        assert_eq!(o.forwarded_uri, None);
        assert_eq!(o.method, Method::GET);
        assert_eq!(o.client_ip, ip("203.0.113.5"));
    }

    #[test]
    fn forwarding_headers_need_reverse_proxy_on_too() {
        let p = policy(false, &["127.0.0.0/8"]);
        let o = original(&[("x-forwarded-uri", "/public")], "127.0.0.1", &p);
        assert!(!o.trusted);
        assert_eq!(o.forwarded_uri, None);
    }

    #[test]
    fn a_trusted_proxy_describes_the_original_request() {
        let p = policy(true, &["127.0.0.0/8"]);
        let o = original(
            &[
                ("host", "authproxy.internal"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example.com"),
                ("x-forwarded-uri", "/reports?year=2024"),
                ("x-forwarded-method", "POST"),
                ("x-real-ip", "198.51.100.4"),
            ],
            "127.0.0.6",
            &p,
        );
        assert!(o.trusted);
        assert_eq!(o.scheme, "https");
        assert_eq!(o.host, "app.example.com");
        assert_eq!(o.forwarded_uri.as_deref(), Some("/reports?year=2024"));
        assert_eq!(o.method, Method::POST);
        assert_eq!(o.client_ip, ip("198.51.100.4"));
    }

    #[test]
    fn x_original_url_is_used_when_x_forwarded_uri_is_absent() {
        let p = policy(true, &["127.0.0.0/8"]);
        let o = original(
            &[("x-original-url", "https://app.example.com:8443/a/b?c=d")],
            "127.0.0.1",
            &p,
        );
        assert_eq!(o.scheme, "https");
        assert_eq!(o.host, "app.example.com:8443");
        assert_eq!(o.forwarded_uri.as_deref(), Some("/a/b?c=d"));
        let o = original(&[("x-original-url", "/only/path")], "127.0.0.1", &p);
        assert_eq!(o.forwarded_uri.as_deref(), Some("/only/path"));
    }

    #[test]
    fn malformed_forwarded_values_are_ignored() {
        let p = policy(true, &["127.0.0.0/8"]);
        for (name, value) in [
            ("x-forwarded-uri", "relative/path"),
            ("x-forwarded-uri", "//evil.example/x"),
            ("x-forwarded-uri", "/a b"),
            ("x-original-url", "javascript:alert(1)"),
            ("x-original-url", "https://evil.example?x=/"),
            ("x-original-url", "https://user@evil.example/"),
        ] {
            let o = original(&[(name, value)], "127.0.0.1", &p);
            assert_eq!(o.forwarded_uri, None, "{name}: {value}");
        }
        let o = original(
            &[
                ("host", "ok.example"),
                ("x-forwarded-host", "evil.example/x"),
            ],
            "127.0.0.1",
            &p,
        );
        assert_eq!(o.host, "ok.example");
    }

    #[test]
    fn client_ip_walks_x_forwarded_for_from_the_right() {
        let mut p = policy(true, &["127.0.0.0/8", "10.0.0.0/8"]);
        p.client_ip_header = X_FORWARDED_FOR.clone();
        let cases: &[(&[(&str, &str)], &str)] = &[
            // A forged entry on the left is skipped: the nearest untrusted hop wins.
            (
                &[("x-forwarded-for", "1.2.3.4, 198.51.100.7")],
                "198.51.100.7",
            ),
            (
                &[("x-forwarded-for", "198.51.100.7, 10.0.0.3, 127.0.0.1")],
                "198.51.100.7",
            ),
            (
                &[
                    ("x-forwarded-for", "1.2.3.4"),
                    ("x-forwarded-for", "198.51.100.8"),
                ],
                "198.51.100.8",
            ),
            // Only trusted hops: the leftmost one.
            (&[("x-forwarded-for", "10.0.0.9, 127.0.0.1")], "10.0.0.9"),
            // Garbage breaks the chain: the peer.
            (&[("x-forwarded-for", "1.2.3.4, garbage")], "127.0.0.1"),
            (&[], "127.0.0.1"),
            (&[("x-forwarded-for", "[2001:db8::1]:443")], "2001:db8::1"),
        ];
        for (h, want) in cases {
            let o = original(h, "127.0.0.1", &p);
            assert_eq!(o.client_ip, ip(want), "{h:?}");
        }
    }

    #[test]
    fn real_ip_header_must_hold_a_single_address() {
        let p = policy(true, &["127.0.0.0/8"]);
        let o = original(&[("x-real-ip", "1.1.1.1, 2.2.2.2")], "127.0.0.1", &p);
        assert_eq!(o.client_ip, ip("127.0.0.1"));
        let o = original(
            &[("x-real-ip", "nonsense"), ("x-forwarded-for", "192.0.2.1")],
            "127.0.0.1",
            &p,
        );
        assert_eq!(o.client_ip, ip("192.0.2.1"));
    }

    #[test]
    fn default_trust_is_loopback_only() {
        let nets = default_trusted_proxies();
        for (addr, want) in [
            ("127.0.0.1", true),
            ("127.0.0.6", true),
            ("::1", true),
            ("::ffff:127.0.0.1", true),
            ("10.0.0.1", false),
            ("192.168.1.1", false),
            ("::2", false),
        ] {
            assert_eq!(in_any(&nets, ip(addr)), want, "{addr}");
        }
    }
}
