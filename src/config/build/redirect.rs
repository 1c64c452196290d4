//! `redirect_url` given without a scheme, and `proxy_prefix` without its leading `/`: read as
//! oauth2-proxy v7 reads them.
//!
//! v7 parses `redirect_url` with Go's `url.Parse` and, when it has no host, sends the provider
//! the request's scheme and host followed by Go's `URL.String()` of that relative reference.
//! Go's parser and serializer differ from the WHATWG rules of the `url` crate (spaces and `|`
//! are accepted and escaped differently, an invalid path escape is an error, the query is kept
//! byte for byte), so this small reader follows Go's rules: the callback URL authproxy sends must
//! be byte-identical to v7's, or a provider registration made for v7 stops matching.

/// What a `redirect_url` without a scheme reads as.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RelativeRef {
    /// It has a scheme: read it as an absolute URL.
    Absolute,
    /// `//host/...`: a host but no scheme.
    NoScheme,
    /// The path, query and fragment as Go serializes them after a host (always starting with
    /// `/`); an empty path is `default_path` (v7 sets `{proxy_prefix}/callback` then).
    Path(String),
}

/// Read `s` as Go's `url.Parse` does a reference without a scheme. `Err` carries Go's reason
/// for refusing it (the start fails then, as in v7).
pub(crate) fn relative_ref(s: &str, default_path: &str) -> Result<RelativeRef, String> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("contains a control character".to_owned());
    }
    if has_scheme(s)? {
        return Ok(RelativeRef::Absolute);
    }
    let (rest, fragment) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    let (path, query) = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        (&rest[..rest.len() - 1], Some(""))
    } else {
        match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        }
    };
    if path.starts_with("//") {
        return Ok(RelativeRef::NoScheme);
    }
    if path.split('/').next().is_some_and(|seg| seg.contains(':')) {
        return Err(
            "the first path segment of a URL without a scheme cannot contain a colon".into(),
        );
    }
    let decoded = unescape(path)?;
    let mut out = String::with_capacity(s.len() + 8);
    if path.is_empty() {
        out.push_str(default_path);
    } else {
        if !path.starts_with('/') {
            out.push('/');
        }
        if valid_encoded(path, Mode::Path) {
            out.push_str(path);
        } else {
            escape_into(&decoded, Mode::Path, &mut out);
        }
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = fragment {
        let decoded = unescape(f)?;
        if !decoded.is_empty() {
            out.push('#');
            if valid_encoded(f, Mode::Fragment) {
                out.push_str(f);
            } else {
                escape_into(&decoded, Mode::Fragment, &mut out);
            }
        }
    }
    Ok(RelativeRef::Path(out))
}

/// Whether Go's `url.Parse` accepts `s` (v7 parses `resource` and the provider URLs with it and
/// refuses to start when it fails). `Err` is Go's reason.
pub(crate) fn go_url_parse(s: &str) -> Result<(), String> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("contains a control character".to_owned());
    }
    let (rest, fragment) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    if let Some(f) = fragment {
        unescape(f)?;
    }
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    let after_scheme = if has_scheme(rest)? {
        let (_, after) = rest.split_once(':').unwrap_or(("", rest));
        if !after.starts_with('/') {
            // An opaque URL (`urn:...`): Go keeps it as it is.
            return Ok(());
        }
        after
    } else {
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return Err(
                "the first path segment of a URL without a scheme cannot contain a colon".into(),
            );
        }
        rest
    };
    let path = match after_scheme.strip_prefix("//") {
        Some(auth_path) => {
            let (authority, path) = auth_path
                .find('/')
                .map_or((auth_path, ""), |i| auth_path.split_at(i));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            check_host(host)?;
            path
        }
        None => after_scheme,
    };
    unescape(path).map(|_| ())
}

/// Go's host checks: a bracketed IPv6 literal is closed, and the host has only characters
/// Go allows there.
fn check_host(host: &str) -> Result<(), String> {
    if host.starts_with('[') && !host.contains(']') {
        return Err("missing ']' in host".into());
    }
    unescape(host)?;
    if let Some(b) = host.bytes().find(|&b| {
        b < 0x80 && !(b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"%".contains(&b))
    }) {
        return Err(format!(
            "invalid character {:?} in host name",
            char::from(b)
        ));
    }
    Ok(())
}

/// Go's `getScheme`: a letter, then letters, digits, `+`, `-`, `.`, up to a `:`.
fn has_scheme(s: &str) -> Result<bool, String> {
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".to_owned()),
            b':' => return Ok(true),
            _ => return Ok(false),
        }
    }
    Ok(false)
}

#[derive(Clone, Copy)]
enum Mode {
    Path,
    Fragment,
}

/// Go's `shouldEscape` for the path and fragment modes.
fn should_escape(b: u8, mode: Mode) -> bool {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            matches!(mode, Mode::Path) && b == b'?'
        }
        b'!' | b'(' | b')' | b'*' => matches!(mode, Mode::Path),
        _ => true,
    }
}

/// Go's `validEncoded`: only characters that need no escaping, sub-delimiters and `%`.
fn valid_encoded(s: &str, mode: Mode) -> bool {
    s.bytes().all(|b| {
        matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(b, mode)
    })
}

/// Go's `unescape`: every `%` must start two hex digits.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => {
                    out.push(v);
                    i += 3;
                }
                _ => {
                    let bad: String = s[i..].chars().take(3).collect();
                    return Err(format!("invalid URL escape {bad:?}"));
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn escape_into(bytes: &[u8], mode: Mode, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if should_escape(b, mode) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push(char::from(b));
        }
    }
}

/// `proxy_prefix` as v7 would need it to work: one leading `/` (v7 starts without it, or with
/// `//`, but then serves none of its own endpoints). `None` when `raw` already has that form.
pub(crate) fn normalized_prefix(raw: &str) -> Option<String> {
    if raw.is_empty() || (raw.starts_with('/') && !raw.starts_with("//")) {
        return None;
    }
    Some(format!("/{}", raw.trim_start_matches('/')))
}

/// `proxy_prefix` with the characters a path cannot carry as they are (whitespace, control
/// characters, `?`, `#`, `%`, `\`) percent-encoded, as the browser sends them: v7 starts with
/// such a prefix but routes none of its endpoints. `None` when there is none of them.
pub(crate) fn encoded_prefix(raw: &str) -> Option<String> {
    let bad =
        |ch: char| ch.is_whitespace() || ch.is_control() || matches!(ch, '?' | '#' | '%' | '\\');
    if !raw.chars().any(bad) {
        return None;
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for ch in raw.chars() {
        if bad(ch) {
            let mut buf = [0u8; 4];
            escape_into(ch.encode_utf8(&mut buf).as_bytes(), Mode::Path, &mut out);
        } else {
            out.push(ch);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case checked against oauth2-proxy v7.15.3 (`--redirect-url=<case>`, the
    /// `redirect_uri` of `/oauth2/start` with the request host 127.0.0.1:14180).
    #[test]
    fn relative_references_serialize_as_go_does() {
        let p = |s: &str| relative_ref(s, "/oauth2/callback");
        let path = |s: &str| Ok(RelativeRef::Path(s.to_owned()));
        assert_eq!(p("/my callback"), path("/my%20callback"));
        assert_eq!(p("oauth2/callback"), path("/oauth2/callback"));
        assert_eq!(p("my cb"), path("/my%20cb"));
        assert_eq!(p("/cb?x=1 2"), path("/cb?x=1 2"));
        assert_eq!(p("/cb#fr ag"), path("/cb#fr%20ag"));
        assert_eq!(p("/a(b)|^\\c"), path("/a%28b%29%7C%5E%5Cc"));
        assert_eq!(p("/a(b)"), path("/a(b)"));
        assert_eq!(p("/a%2Fb c"), path("/a/b%20c"));
        assert_eq!(p("?x=1"), path("/oauth2/callback?x=1"));
        assert_eq!(p("#x"), path("/oauth2/callback#x"));
        assert_eq!(p("/cb#"), path("/cb"));
        assert_eq!(p("/cb?"), path("/cb?"));
        assert_eq!(p("/é"), path("/%C3%A9"));
        assert_eq!(p("//evil.example/cb"), Ok(RelativeRef::NoScheme));
        assert_eq!(p("my:cb"), Ok(RelativeRef::Absolute));
        assert_eq!(p("https://a.example/cb"), Ok(RelativeRef::Absolute));
        assert!(p("/a%zz")
            .unwrap_err()
            .contains("invalid URL escape \"%zz\""));
        assert!(p("/a%4").is_err());
        assert!(p("/a\u{1}").is_err());
        assert!(p(":x").is_err());
        assert!(p("a b:c/d").is_err());
    }

    /// Checked with oauth2-proxy v7.15.3 (`--resource=<case>`): refused at start with "could
    /// not parse resource URL", or started.
    #[test]
    fn go_url_parse_refuses_what_go_refuses() {
        for ok in [
            "https://graph.microsoft.com",
            "urn:microsoft:userinfo",
            "a b",
            "api://app-id",
            "https://x.example/a b?%zz",
        ] {
            assert_eq!(go_url_parse(ok), Ok(()), "{ok}");
        }
        for bad in [
            "%zz",
            "https://x.example/%zz",
            "http://[::1",
            "https://a b/",
            ":x",
            "a\u{1}",
        ] {
            assert!(go_url_parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_get_one_leading_slash() {
        assert_eq!(normalized_prefix("oauth2"), Some("/oauth2".into()));
        assert_eq!(normalized_prefix("//oauth2"), Some("/oauth2".into()));
        assert_eq!(normalized_prefix("/oauth2"), None);
        assert_eq!(normalized_prefix(""), None);
        assert_eq!(encoded_prefix("/o auth"), Some("/o%20auth".into()));
        assert_eq!(
            encoded_prefix("/o%auth?x#y\\z"),
            Some("/o%25auth%3Fx%23y%5Cz".into())
        );
        assert_eq!(encoded_prefix("/oauth2"), None);
    }
}
