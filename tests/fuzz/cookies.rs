//! Cookie splitting, chunk reading and stripping (src/session/cookie.rs).
//!
//! Properties:
//! * a value split by `make_cookies` (each `Set-Cookie` within 4000 bytes) and sent back by a
//!   browser, in any order, among other cookies, across several `Cookie` headers, reads back
//!   as exactly that value;
//! * the proxy's own cookies never survive `strip_own_cookies` (they must not reach the app),
//!   and every other cookie does, byte for byte and in order;
//! * clearing covers the base cookie and every chunk the request carried;
//! * any `Cookie` header text is read without a panic.

use std::time::Duration;

use authproxy::config::SameSite;
use authproxy::session::cookie::{
    clear_cookies, cookie_names, cookie_pairs, is_own_cookie, make_cookies, read_cookie,
    strip_own_cookies, CookieOptions, MAX_COOKIE_LENGTH,
};
use bolero::TypeGenerator;

use crate::support::{bytes, expand, pick, typed};

const NAMES: [&str; 3] = ["_oauth2_proxy", "__Host-s", "a"];
const NOISE: [&str; 8] = [
    "other",
    "_oauth2_proxyX",
    "_oauth2_prox",
    "x_oauth2_proxy_0",
    "_oauth2_proxy_0x",
    "_oauth2_proxy__1",
    "__Host-sX",
    "b",
];
const VALUE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=|";

#[derive(Debug, TypeGenerator)]
struct Input {
    name: u8,
    len: u16,
    seed: u64,
    domain: bool,
    noise: Vec<(u8, u8)>,
    order: Vec<u16>,
    headers: u8,
}

fn value(len: usize, mut seed: u64) -> String {
    (0..len)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(VALUE_CHARS[(seed >> 33) as usize % VALUE_CHARS.len()])
        })
        .collect()
}

#[test]
fn cookie_chunks() {
    typed::<Input>("cookie_chunks", 256, |input| {
        let name = *pick(&NAMES, input.name);
        let opts = CookieOptions {
            name: name.to_owned(),
            domains: if input.domain {
                vec![".example.com".to_owned()]
            } else {
                Vec::new()
            },
            path: "/".to_owned(),
            expire: Duration::from_secs(3600),
            secure: true,
            httponly: true,
            samesite: SameSite::Lax,
        };
        let v = value(usize::from(input.len % 16_000) + 1, input.seed);
        let set = make_cookies(&opts, &v, "app.example.com").expect("make_cookies");
        let mut pairs: Vec<String> = Vec::new();
        for c in &set {
            assert!(
                c.len() <= MAX_COOKIE_LENGTH,
                "Set-Cookie of {} bytes",
                c.len()
            );
            let pair = c.split(';').next().expect("pair");
            pairs.push(pair.to_owned());
        }
        assert!(set.len() == 1 || pairs.iter().all(|p| !p.starts_with(&format!("{name}="))));
        let own: Vec<String> = pairs.clone();
        let noise: Vec<String> = input
            .noise
            .iter()
            .take(6)
            .map(|(n, v)| {
                format!(
                    "{}={}",
                    pick(&NOISE, *n),
                    value(usize::from(*v % 20), u64::from(*v))
                )
            })
            .collect();
        pairs.extend(noise.iter().cloned());
        // Browsers send cookies in any order: permute by the fuzz order.
        let n = pairs.len();
        for (i, o) in input.order.iter().enumerate().take(n) {
            pairs.swap(i % n, usize::from(*o) % n);
        }
        let split = usize::from(input.headers % 3) + 1;
        let chunk = pairs.len().div_ceil(split).max(1);
        let headers: Vec<String> = pairs.chunks(chunk).map(|c| c.join("; ")).collect();
        let read = read_cookie(name, headers.iter().map(String::as_str));
        assert_eq!(
            read.as_deref(),
            Some(v.as_str()),
            "the value does not read back"
        );

        // Clearing names every chunk the request carried.
        let cleared = clear_cookies(
            &opts,
            cookie_names(headers.iter().map(String::as_str)),
            "app.example.com",
        );
        for p in &own {
            let n = p.split('=').next().expect("name");
            assert!(
                cleared.iter().any(|c| c.starts_with(&format!("{n}=;"))),
                "{n} is not cleared"
            );
        }

        // Stripping before the request goes upstream.
        for h in &headers {
            let stripped = strip_own_cookies(h, name);
            let kept: Vec<(&str, &str)> = stripped
                .as_deref()
                .map(|s| cookie_pairs([s]).collect())
                .unwrap_or_default();
            for (n, _) in &kept {
                assert!(!is_own_cookie(n, name), "{n} reaches the app");
            }
            let expected: Vec<&str> = h
                .split("; ")
                .filter(|p| noise.iter().any(|n| n == p))
                .collect();
            let got: Vec<String> = kept.iter().map(|(n, v)| format!("{n}={v}")).collect();
            assert_eq!(got, expected, "other cookies are not kept as sent");
        }
    });
}

#[test]
fn cookie_header() {
    const DICT: &[&str] = &[
        "_oauth2_proxy",
        "_oauth2_proxy_0",
        "_oauth2_proxy_1",
        "_oauth2_proxy_csrf",
        "_",
        "=",
        ";",
        "; ",
        "\"",
        "_18446744073709551616",
        "_00",
        " ",
        "\t",
    ];
    bytes("cookie_header", 512, |input| {
        let text = expand(input, DICT);
        let headers: Vec<&str> = text.split('\n').collect();
        let read = read_cookie("_oauth2_proxy", headers.iter().copied());
        if let Some(r) = &read {
            assert!(r.len() <= text.len());
        }
        for h in &headers {
            if let Some(s) = strip_own_cookies(h, "_oauth2_proxy") {
                for (n, _) in cookie_pairs([s.as_str()]) {
                    assert!(!is_own_cookie(n, "_oauth2_proxy"), "{n} survives stripping");
                }
                assert!(
                    read_cookie("_oauth2_proxy", [s.as_str()]).is_none(),
                    "a session survives stripping: {s:?}"
                );
            }
        }
    });
}
