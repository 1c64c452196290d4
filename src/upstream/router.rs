//! Routing with oauth2-proxy's semantics (its gorilla/mux setup):
//! - upstreams with a `rewriteTarget` come first, longest pattern first: their `path` is a
//!   regular expression matched against the request path (unanchored, as in v7), and the
//!   path sent upstream is the match rewritten with `rewriteTarget` (`$1`, `${name}`);
//! - then plain paths, longest first: a path ending in `/` serves every path that starts
//!   with it, any other path serves exactly that path;
//! - when nothing matches but `path + "/"` would, the client is redirected there (301).
//!
//! Matching uses the percent-decoded path, as Go's router does (the raw path with
//! `proxyRawPath`); the request is forwarded with its raw path unchanged unless rewritten.
//! Regular expressions come from the `regex` crate: matching is linear in the path length.

use std::borrow::Cow;

use ::http::{header, HeaderValue, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use percent_encoding::percent_decode_str;

use super::http::HttpTarget;
use super::static_files::{FileServer, StaticResponse};
use super::UpstreamError;
use crate::Body;

/// What serves a route.
pub(super) enum Handler {
    Http(HttpTarget),
    Static(StaticResponse),
    File(FileServer),
}

/// A rewrite route's pattern and target.
pub(super) struct Rewrite {
    regex: regex::Regex,
    target: String,
}

/// One route: a path (prefix when it ends in `/`) or a rewrite pattern, and its handler.
pub(super) struct Route {
    path: Box<[u8]>,
    rewrite: Option<Rewrite>,
    handler: Handler,
}

impl Route {
    pub(super) fn new(path: &str, handler: Handler) -> Result<Self, String> {
        if !path.starts_with('/') {
            return Err(format!(
                "upstream path {path:?} must start with '/' (it is the route's path prefix)"
            ));
        }
        Ok(Self {
            path: path.as_bytes().into(),
            rewrite: None,
            handler,
        })
    }

    /// A route whose `pattern` (a regular expression) selects requests whose path is then
    /// rewritten to `target`.
    pub(super) fn rewrite(pattern: &str, target: &str, handler: Handler) -> Result<Self, String> {
        let regex = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("invalid path {pattern:?} for upstream: {e}"))?;
        Ok(Self {
            path: pattern.as_bytes().into(),
            rewrite: Some(Rewrite {
                regex,
                target: target.to_owned(),
            }),
            handler,
        })
    }

    pub(super) fn handler(&self) -> &Handler {
        &self.handler
    }

    fn is_prefix(&self) -> bool {
        self.path.last() == Some(&b'/')
    }

    fn matches(&self, path: &[u8]) -> bool {
        if let Some(r) = &self.rewrite {
            return std::str::from_utf8(path).is_ok_and(|p| r.regex.is_match(p));
        }
        if self.is_prefix() {
            path.starts_with(&self.path)
        } else {
            path == &*self.path
        }
    }
}

/// Result of a successful lookup.
pub(super) enum Lookup<'a> {
    /// The route, and for a rewrite route the new (encoded) path and query.
    Found(&'a Route, Option<String>),
    /// Only `path + "/"` is served: redirect there.
    AddTrailingSlash,
}

/// Routes sorted (rewrites first, then longest path first); immutable after construction.
pub(super) struct Router {
    routes: Box<[Route]>,
    /// `proxyRawPath`: route on the path as the client encoded it.
    raw_path: bool,
}

impl Router {
    #[cfg(test)]
    pub(super) fn new(routes: Vec<Route>) -> Result<Self, String> {
        Self::with_raw_path(routes, false)
    }

    pub(super) fn with_raw_path(mut routes: Vec<Route>, raw_path: bool) -> Result<Self, String> {
        // Stable sort, as oauth2-proxy's: rewrites first, then the longest path first, so the
        // first match is the most specific one.
        routes.sort_by_key(|r| (r.rewrite.is_none(), std::cmp::Reverse(r.path.len())));
        for pair in routes.windows(2) {
            if pair[0].path == pair[1].path {
                return Err(format!(
                    "two upstreams route the same path {:?}; give each upstream its own path",
                    String::from_utf8_lossy(&pair[0].path)
                ));
            }
        }
        Ok(Self {
            routes: routes.into_boxed_slice(),
            raw_path,
        })
    }

    /// The configured paths, for `Debug` and startup logs.
    pub(super) fn describe(&self) -> Vec<Cow<'_, str>> {
        self.routes
            .iter()
            .map(|r| String::from_utf8_lossy(&r.path))
            .collect()
    }

    /// Finds the route for a raw (still percent-encoded) request path; `query` is the raw
    /// query, kept (and merged) by a rewrite.
    pub(super) fn lookup(
        &self,
        raw_path: &str,
        query: Option<&str>,
    ) -> Result<Lookup<'_>, UpstreamError> {
        // Allocates only when the path contains a `%` escape.
        let decoded: Cow<'_, [u8]> = percent_decode_str(raw_path).into();
        if has_dot_segment(&decoded) {
            return Err(UpstreamError::BadRequest {
                reason: "path contains '.' or '..' segments",
            });
        }
        let matched: &[u8] = if self.raw_path {
            raw_path.as_bytes()
        } else {
            &decoded
        };
        if let Some(route) = self.routes.iter().find(|r| r.matches(matched)) {
            let rewritten = route
                .rewrite
                .as_ref()
                .map(|rw| rewrite_target(rw, &String::from_utf8_lossy(matched), query));
            return Ok(Lookup::Found(route, rewritten));
        }
        if decoded.last() != Some(&b'/') {
            let wants_slash = self.routes.iter().any(|r| {
                r.path.len() == decoded.len() + 1 && r.path.starts_with(&decoded) && r.is_prefix()
            });
            if wants_slash {
                return Ok(Lookup::AddTrailingSlash);
            }
        }
        Err(UpstreamError::NoRoute)
    }
}

/// oauth2-proxy's rewrite: the path replaced with the target (Go's `$1` / `${name}`
/// expansion, the same syntax as the `regex` crate's), a `?query` in the result merged after
/// the request's own query, and the query re-encoded as Go's `url.Values.Encode` does (keys
/// sorted). The path is percent-encoded as Go's `URL.EscapedPath` writes it.
fn rewrite_target(rw: &Rewrite, path: &str, query: Option<&str>) -> String {
    let replaced = rw.regex.replace_all(path, rw.target.as_str());
    let (new_path, extra) = match replaced.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (replaced.into_owned(), None),
    };
    let mut pairs: Vec<(String, String)> = query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(extra) = extra {
        pairs.extend(
            url::form_urlencoded::parse(extra.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }
    // Go's Encode: keys sorted, values of one key in order.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = go_escape_path(&new_path);
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    if !pairs.is_empty() {
        out.push('?');
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            go_query_escape(k, &mut out);
            out.push('=');
            go_query_escape(v, &mut out);
        }
    }
    out
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
fn go_query_escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// Go's path escaping (`shouldEscape` for `encodePath`): unreserved bytes and
/// `$&+,/:;=@` kept, the rest `%XX`.
fn go_escape_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b'/'
            | b':'
            | b';'
            | b'='
            | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether a decoded path has a `.` or `..` segment. Such paths are refused rather than
/// normalised: a path-prefix router and the app must agree on which resource is meant.
pub(super) fn has_dot_segment(decoded: &[u8]) -> bool {
    decoded
        .split(|b| *b == b'/')
        .any(|seg| seg == b"." || seg == b"..")
}

/// 301 to the same path with a trailing slash, keeping the query.
///
/// The Location is relative (`./name/`), as Go's file server writes it: a request path
/// such as `//evil.example` can then never turn into a protocol-relative redirect.
pub(super) fn trailing_slash_redirect(uri: &Uri) -> Response<Body> {
    let last = uri.path().rsplit('/').next().unwrap_or_default();
    let query = uri.query();
    let mut location = String::with_capacity(last.len() + 4 + query.map_or(0, |q| q.len() + 1));
    location.push_str("./");
    location.push_str(last);
    location.push('/');
    if let Some(q) = query {
        location.push('?');
        location.push_str(q);
    }
    redirect(&location)
}

/// A 301 response to `location` (built from an already valid request URI).
fn redirect(location: &str) -> Response<Body> {
    let mut resp = Response::new(empty_body());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        // Cannot happen for a path taken from a parsed URI; answer 400 rather than a
        // redirect without a target.
        Err(_) => *resp.status_mut() = StatusCode::BAD_REQUEST,
    }
    resp
}

/// An empty body of the crate's body type.
pub(super) fn empty_body() -> Body {
    http_body_util::Empty::<bytes::Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(paths: &[&str]) -> Router {
        Router::new(
            paths
                .iter()
                .map(|p| Route::new(p, Handler::Static(StaticResponse::new(200).unwrap())).unwrap())
                .collect(),
        )
        .unwrap()
    }

    fn found(r: &Router, path: &str) -> Option<String> {
        match r.lookup(path, None) {
            Ok(Lookup::Found(route, _)) => Some(String::from_utf8(route.path.to_vec()).unwrap()),
            Ok(Lookup::AddTrailingSlash) => Some("redirect".into()),
            Err(UpstreamError::NoRoute) => None,
            Err(e) => Some(format!("error: {e}")),
        }
    }

    #[test]
    fn longest_prefix_wins_and_exact_paths_match_only_themselves() {
        let r = router(&["/", "/api/", "/api/v2/", "/health"]);
        let table = [
            ("/", Some("/")),
            ("/index.html", Some("/")),
            ("/api/", Some("/api/")),
            ("/api/users", Some("/api/")),
            ("/api/v2/users", Some("/api/v2/")),
            ("/api/v2", Some("/api/")),
            ("/api", Some("/")),
            ("/health", Some("/health")),
            ("/health/x", Some("/")),
            ("/api%2Fv2/x", Some("/api/v2/")),
        ];
        for (path, want) in table {
            assert_eq!(found(&r, path).as_deref(), want, "path {path}");
        }
    }

    #[test]
    fn missing_trailing_slash_redirects_only_when_nothing_else_matches() {
        let r = router(&["/api/", "/exact"]);
        assert_eq!(found(&r, "/api").as_deref(), Some("redirect"));
        assert_eq!(found(&r, "/exact/"), None);
        assert_eq!(found(&r, "/other"), None);
        assert_eq!(found(&r, "/"), None);
    }

    #[test]
    fn dot_segments_are_refused_in_any_encoding() {
        let r = router(&["/"]);
        for path in [
            "/a/../b",
            "/..",
            "/a/./b",
            "/a/%2e%2e/b",
            "/a/%2E./b",
            "/%2e",
        ] {
            assert!(
                matches!(r.lookup(path, None), Err(UpstreamError::BadRequest { .. })),
                "{path}"
            );
        }
        for path in ["/a..b/", "/.well-known/x", "/a/...", "/a/b.c"] {
            assert!(
                matches!(r.lookup(path, None), Ok(Lookup::Found(..))),
                "{path}"
            );
        }
    }

    #[test]
    fn duplicate_paths_and_relative_paths_are_config_errors() {
        let dup = Router::new(vec![
            Route::new("/a/", Handler::Static(StaticResponse::new(200).unwrap())).unwrap(),
            Route::new("/a/", Handler::Static(StaticResponse::new(204).unwrap())).unwrap(),
        ]);
        assert!(dup.err().unwrap().contains("\"/a/\""));
        assert!(Route::new("a/", Handler::Static(StaticResponse::new(200).unwrap())).is_err());
    }

    #[test]
    fn trailing_slash_redirect_keeps_the_query() {
        let table = [
            ("/api?x=1&y=2", "./api/?x=1&y=2"),
            ("/a/b", "./b/"),
            ("//evil.example", "./evil.example/"),
        ];
        for (uri, want) in table {
            let resp = trailing_slash_redirect(&uri.parse().unwrap());
            assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY);
            assert_eq!(resp.headers()[header::LOCATION], want, "{uri}");
        }
    }

    fn static_route() -> Handler {
        Handler::Static(StaticResponse::new(200).unwrap())
    }

    #[test]
    fn rewrite_routes_come_first_and_rewrite_the_path_with_capture_groups() {
        let r = Router::new(vec![
            Route::new("/", static_route()).unwrap(),
            Route::rewrite("^/api/v1/(.*)$", "/v2/$1", static_route()).unwrap(),
            Route::rewrite(
                "^/named/(?P<rest>.*)$",
                "/x/${rest}?added=1",
                static_route(),
            )
            .unwrap(),
        ])
        .unwrap();
        let rewrite = |path: &str, q: Option<&str>| match r.lookup(path, q) {
            Ok(Lookup::Found(_, rw)) => rw,
            other => panic!("{path}: {}", matches!(other, Ok(Lookup::AddTrailingSlash))),
        };
        assert_eq!(rewrite("/api/v1/users", None).as_deref(), Some("/v2/users"));
        assert_eq!(
            rewrite("/api/v1/a%20b", Some("z=1&a=2")).as_deref(),
            Some("/v2/a%20b?a=2&z=1"),
            "the query is kept, re-encoded with sorted keys as Go does"
        );
        assert_eq!(
            rewrite("/named/deep/path", Some("q=x y")).as_deref(),
            Some("/x/deep/path?added=1&q=x+y")
        );
        assert_eq!(
            rewrite("/other", None),
            None,
            "plain routes are not rewritten"
        );
    }

    #[test]
    fn an_invalid_rewrite_pattern_is_a_config_error() {
        let e = Route::rewrite("^/(", "/x", static_route()).err().unwrap();
        assert!(e.contains("invalid path"), "{e}");
    }

    #[test]
    fn raw_path_routing_matches_the_encoded_path() {
        let r = Router::with_raw_path(
            vec![
                Route::new("/a%2Fb/", static_route()).unwrap(),
                Route::new("/a/", static_route()).unwrap(),
            ],
            true,
        )
        .unwrap();
        assert_eq!(found(&r, "/a%2Fb/x").as_deref(), Some("/a%2Fb/"));
        assert_eq!(found(&r, "/a/b/x").as_deref(), Some("/a/"));
    }
}
