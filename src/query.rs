//! Query strings (and form bodies) as Go's `net/url.ParseQuery` reads them, which is how
//! oauth2-proxy reads its own parameters (`rd`, `code`, `state`, `allowed_groups`, ...):
//!
//! * parameters are separated by `&` only; one that contains a `;` is invalid and skipped
//!   (Go 1.17+, golang.org/issue/25192), unless `allow_query_semicolons` first turned every `;`
//!   into `&` ([`semicolons_to_ampersands`], Go's `http.AllowQuerySemicolons`);
//! * a key or value with a `%` not followed by two hex digits is invalid and skipped; `+` is a
//!   space;
//! * a query with more than 10000 parameters is refused whole.
//!
//! Where oauth2-proxy uses `ParseForm` (its sign-in, start, callback and sign-out endpoints) an
//! invalid parameter fails the request; where it uses `URL.Query()` it is silently skipped.
//! [`check`] tells which applies.

use std::borrow::Cow;

/// Go's `defaultMaxParams`.
const MAX_PARAMS: usize = 10_000;

/// Why Go's parser reports an error for a query (it still returns the valid parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// A parameter contains `;` (not a separator without `allow_query_semicolons`).
    Semicolon,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// More than 10000 parameters.
    TooManyParameters,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QueryError::Semicolon => "invalid semicolon separator in query",
            QueryError::BadEscape => "invalid URL escape in query",
            QueryError::TooManyParameters => "number of URL query parameters exceeded limit",
        })
    }
}

/// Go's `QueryUnescape`: `%XX` decoded, `+` as a space; `None` for a bad `%` escape.
fn unescape(s: &str) -> Option<Cow<'_, str>> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || c == b'+') {
        return Some(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let hi = b.get(i + 1).copied().and_then(hex)?;
                let lo = b.get(i + 2).copied().and_then(hex)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

/// The valid `(key, value)` parameters of `query`, in order, and the first error Go reports.
fn parse(
    query: &str,
) -> (
    impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)>,
    Option<QueryError>,
) {
    let too_many = query.bytes().filter(|&b| b == b'&').count() + 1 > MAX_PARAMS;
    let mut error = too_many.then_some(QueryError::TooManyParameters);
    if !too_many {
        for part in query.split('&') {
            if part.contains(';') {
                error.get_or_insert(QueryError::Semicolon);
            } else if !part.is_empty() {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                if unescape(k).is_none() || unescape(v).is_none() {
                    error.get_or_insert(QueryError::BadEscape);
                }
            }
        }
    }
    let pairs = query
        .split('&')
        .filter(move |_| !too_many)
        .filter(|part| !part.is_empty() && !part.contains(';'))
        .filter_map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            Some((unescape(k)?, unescape(v)?))
        });
    (pairs, error)
}

/// The valid parameters of `query` (as Go's `URL.Query()`: invalid ones skipped).
pub fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    parse(query).0
}

/// The first value of `name` (Go's `Values.Get`).
pub fn first(query: &str, name: &str) -> Option<String> {
    pairs(query)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The error Go's `ParseForm` would return for `query`, if any.
pub fn check(query: &str) -> Result<(), QueryError> {
    match parse(query).1 {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Go's `http.AllowQuerySemicolons`: every `;` becomes `&`.
pub fn semicolons_to_ampersands(query: &str) -> Cow<'_, str> {
    if query.contains(';') {
        Cow::Owned(query.replace(';', "&"))
    } else {
        Cow::Borrowed(query)
    }
}

/// `allow_query_semicolons` applied to a request target: `Some(uri)` with every `;` of the
/// query turned into `&` when the query has one (oauth2-proxy wraps its whole handler in
/// `http.AllowQuerySemicolons`, so the app is sent the rewritten query too); `None` when
/// there is nothing to change (the common case allocates nothing).
pub fn allow_semicolons(uri: &http::Uri) -> Option<http::Uri> {
    let query = uri.query().filter(|q| q.contains(';'))?;
    let path_and_query = format!("{}?{}", uri.path(), query.replace(';', "&"));
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

/// The form of a POST with an `application/x-www-form-urlencoded` body as Go's `ParseForm`
/// builds it: the body's parameters first, then the query's (`Values.Get` returns the
/// first, so the body wins).
pub fn body_then_query(body: &str, query: Option<&str>) -> String {
    match query.filter(|q| !q.is_empty()) {
        Some(q) if !body.is_empty() => format!("{body}&{q}"),
        Some(q) => q.to_owned(),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(q: &str) -> Vec<(String, String)> {
        pairs(q)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn semicolon_parameters_are_skipped_unless_turned_into_separators() {
        // Go 1.17+: "a=1;b=2" is one invalid parameter.
        assert_eq!(all("a=1;b=2&c=3"), kv(&[("c", "3")]));
        assert_eq!(check("a=1;b=2&c=3"), Err(QueryError::Semicolon));
        let allowed = semicolons_to_ampersands("a=1;b=2&c=3");
        assert_eq!(allowed, "a=1&b=2&c=3");
        assert_eq!(all(&allowed), kv(&[("a", "1"), ("b", "2"), ("c", "3")]));
        assert_eq!(check(&allowed), Ok(()));
        // An escaped semicolon is data, not a separator.
        assert_eq!(all("rd=%2Fa%3Bb"), kv(&[("rd", "/a;b")]));
        assert_eq!(check("rd=%2Fa%3Bb"), Ok(()));
    }

    #[test]
    fn escapes_and_plus_decode_as_go_query_unescape() {
        assert_eq!(
            all("x=y+z&rd=%2Fa%3Fb%3D1&&k&e="),
            kv(&[("x", "y z"), ("rd", "/a?b=1"), ("k", ""), ("e", "")])
        );
        assert_eq!(first("rd=/one&rd=/two", "rd").as_deref(), Some("/one"));
        assert_eq!(first("a=1", "b"), None);
        // A bad escape drops its parameter and is an error.
        for bad in ["rd=%zz&ok=1", "rd=%2&ok=1", "r%d=1&ok=1", "rd=%&ok=1"] {
            assert_eq!(all(bad), kv(&[("ok", "1")]), "{bad}");
            assert_eq!(check(bad), Err(QueryError::BadEscape), "{bad}");
        }
    }

    #[test]
    fn allow_semicolons_rewrites_only_the_query() {
        let uri: http::Uri = "/a;b/c?x=1;y=2&z=%3B".parse().unwrap();
        let rewritten = allow_semicolons(&uri).unwrap();
        assert_eq!(rewritten.path(), "/a;b/c");
        assert_eq!(rewritten.query(), Some("x=1&y=2&z=%3B"));
        let abs: http::Uri = "http://h.example:4180/p?a;b".parse().unwrap();
        assert_eq!(
            allow_semicolons(&abs).unwrap().to_string(),
            "http://h.example:4180/p?a&b"
        );
        for same in ["/a;b", "/a?x=1&y=2", "/"] {
            assert!(allow_semicolons(&same.parse().unwrap()).is_none(), "{same}");
        }
    }

    #[test]
    fn post_forms_put_body_parameters_before_the_query() {
        let form = body_then_query("code=body&state=s", Some("code=query"));
        assert_eq!(first(&form, "code").as_deref(), Some("body"));
        assert_eq!(first(&form, "state").as_deref(), Some("s"));
        assert_eq!(body_then_query("", Some("a=1")), "a=1");
        assert_eq!(body_then_query("a=1", None), "a=1");
        assert_eq!(body_then_query("a=1", Some("")), "a=1");
    }

    #[test]
    fn more_than_ten_thousand_parameters_are_refused_whole() {
        let q = vec!["a=1"; 10_001].join("&");
        assert_eq!(all(&q).len(), 0);
        assert_eq!(check(&q), Err(QueryError::TooManyParameters));
        let q = vec!["a=1"; 10_000].join("&");
        assert_eq!(all(&q).len(), 10_000);
    }
}
