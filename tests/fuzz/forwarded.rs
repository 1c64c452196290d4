//! Which forwarding headers are believed, and what they say (src/forwarded.rs): the trust
//! boundary behind GHSA-7x63-xv5r-3p2x and CVE-2026-76835 (`X-Forwarded-Uri` spoofing).
//!
//! Properties:
//! * from an untrusted peer (or with `reverse_proxy` off) nothing a header says is used: the
//!   scheme is `http`, no forwarded path, the request's own method, the peer as client;
//! * a forwarded path is always an origin-form path (single leading `/`, no whitespace or
//!   control byte), a host never smuggles a path, userinfo or whitespace;
//! * the client address is the peer or an address written in a client-address header.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use authproxy::forwarded::{canonical, original_request, valid_host, Cidr, ForwardPolicy};
use bolero::TypeGenerator;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::support::{expand, pick, typed};

const NAMES: [&str; 9] = [
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-forwarded-for",
    "x-original-url",
    "x-original-method",
    "x-real-ip",
    "host",
];

const DICT: &[&str] = &[
    "https",
    "http",
    "https://",
    "app.example.com",
    "evil.example",
    ":8443",
    "/",
    "//",
    "/public/",
    "?x=/",
    "#",
    "@",
    ",",
    ", ",
    "10.0.0.1",
    "127.0.0.1",
    "198.51.100.7",
    "::1",
    "[2001:db8::1]:443",
    "::ffff:127.0.0.1",
    "POST",
    "OPTIONS",
    " ",
    "\t",
    "%2F",
    "..",
    "user@",
];

const PEERS: [&str; 5] = [
    "127.0.0.1",
    "::1",
    "10.0.0.5",
    "203.0.113.9",
    "::ffff:127.0.0.6",
];

#[derive(Debug, TypeGenerator)]
struct Input {
    peer: u8,
    reverse_proxy: bool,
    real_ip_header: bool,
    headers: Vec<(u8, Vec<u8>)>,
}

fn ips_in(values: &[String]) -> HashSet<IpAddr> {
    let mut out = HashSet::new();
    for v in values {
        for part in v.split(',') {
            let p = part.trim();
            if let Ok(ip) = p.parse::<IpAddr>() {
                out.insert(canonical(ip));
            } else if let Ok(sa) = p.parse::<SocketAddr>() {
                out.insert(canonical(sa.ip()));
            }
        }
    }
    out
}

#[test]
fn forwarded_headers() {
    let trusted: Vec<Cidr> = ["127.0.0.0/8", "::1", "10.0.0.0/8"]
        .iter()
        .map(|c| Cidr::parse(c).expect("cidr"))
        .collect();
    let uri: Uri = "/oauth2/auth".parse().expect("uri");
    typed::<Input>("forwarded", 512, |input| {
        let policy = ForwardPolicy {
            reverse_proxy: input.reverse_proxy,
            trusted_proxies: trusted.clone(),
            client_ip_header: HeaderName::from_static(if input.real_ip_header {
                "x-real-ip"
            } else {
                "x-forwarded-for"
            }),
        };
        let peer: IpAddr = pick(&PEERS, input.peer).parse().expect("peer");
        let mut headers = HeaderMap::new();
        let mut client_values = Vec::new();
        for (name, value) in input.headers.iter().take(12) {
            let name = *pick(&NAMES, *name);
            let text = expand(value, DICT);
            let Ok(v) = HeaderValue::from_bytes(text.as_bytes()) else {
                continue;
            };
            if name == "x-forwarded-for" || name == "x-real-ip" {
                client_values.push(text);
            }
            headers.append(HeaderName::from_static(name), v);
        }
        let o = original_request(&headers, &uri, &Method::GET, peer, &policy);

        let peer_trusted = input.reverse_proxy && trusted.iter().any(|c| c.contains(peer));
        assert_eq!(o.trusted, peer_trusted);
        assert!(
            o.host.is_empty() || valid_host(&o.host),
            "host {:?}",
            o.host
        );
        if let Some(p) = &o.forwarded_uri {
            assert!(
                p.starts_with('/')
                    && !p.starts_with("//")
                    && p.bytes().all(|b| b > 0x20 && b != 0x7f),
                "forwarded path {p:?} is not an origin-form path"
            );
        }
        assert!(o.scheme == "http" || o.scheme == "https");
        if !peer_trusted {
            assert_eq!(o.scheme, "http");
            assert_eq!(o.forwarded_uri, None);
            assert_eq!(o.method, Method::GET);
            assert_eq!(o.client_ip, canonical(peer));
        } else {
            let allowed = ips_in(&client_values);
            assert!(
                o.client_ip == canonical(peer) || allowed.contains(&o.client_ip),
                "client {} is neither the peer nor written in a client-address header",
                o.client_ip
            );
        }
    });
}
