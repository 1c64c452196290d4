//! Unit tests of the http(s) forwarder: header rewriting, upgrade detection, target parsing.

use ::http::header::{HeaderMap, HeaderName};

use super::*;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[test]
fn hop_by_hop_headers_and_connection_named_headers_are_removed() {
    let mut h = map(&[
        ("connection", "keep-alive, X-Secret-Hop"),
        ("connection", "close"),
        ("x-secret-hop", "1"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("proxy-authorization", "Basic Zm9v"),
        ("te", "trailers"),
        ("trailer", "x"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "websocket"),
        ("x-kept", "yes"),
        ("content-type", "text/plain"),
    ]);
    remove_hop_by_hop(&mut h);
    let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["x-kept", "content-type"]);
}

#[test]
fn upgrade_needs_both_connection_token_and_upgrade_header() {
    assert!(
        upgrade_protocol(&map(&[("connection", "Upgrade"), ("upgrade", "websocket")])).is_some()
    );
    assert!(upgrade_protocol(&map(&[
        ("connection", "keep-alive, upgrade"),
        ("upgrade", "websocket")
    ]))
    .is_some());
    assert!(upgrade_protocol(&map(&[("upgrade", "websocket")])).is_none());
    assert!(upgrade_protocol(&map(&[("connection", "upgrade")])).is_none());
}

#[test]
fn forwarded_for_appends_to_every_prior_value() {
    let mut h = map(&[
        ("x-forwarded-for", "10.0.0.1"),
        ("x-forwarded-for", "10.0.0.2, 10.0.0.3"),
    ]);
    append_forwarded_for(&mut h, "::1".parse().unwrap());
    assert_eq!(h["x-forwarded-for"], "10.0.0.1, 10.0.0.2, 10.0.0.3, ::1");
    let mut empty = HeaderMap::new();
    append_forwarded_for(&mut empty, "127.0.0.1".parse().unwrap());
    assert_eq!(empty["x-forwarded-for"], "127.0.0.1");
}

#[test]
fn split_cookie_fields_are_joined_for_http1() {
    let mut h = map(&[("cookie", "a=1"), ("cookie", "b=2")]);
    join_cookies(&mut h);
    assert_eq!(h.get_all("cookie").iter().count(), 1);
    assert_eq!(h["cookie"], "a=1; b=2");
}

#[test]
fn upstream_urls_with_credentials_or_other_schemes_are_refused() {
    let mut clients = ClientSet::default();
    let new = |u: &str, c: &mut ClientSet| {
        HttpTarget::new(&url::Url::parse(u).unwrap(), UpstreamOptions::default(), c)
    };
    assert!(new("ftp://127.0.0.1/", &mut clients).is_err());
    let t = new("http://[::1]:8080/api/", &mut clients).unwrap();
    assert_eq!(t.host, "[::1]:8080");
    assert_eq!(&*t.label, "http://[::1]:8080/api/");
    let t = new("https://example.com", &mut clients).unwrap();
    assert_eq!(t.transport, Transport::Verified);
    assert_eq!(t.host, "example.com");
}
