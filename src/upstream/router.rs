//! Path-prefix routing with oauth2-proxy's semantics (its gorilla/mux setup, sorted by
//! longest path):
//! - a route path ending in `/` serves every path that starts with it;
//! - any other route path serves exactly that path;
//! - the longest matching route wins;
//! - when nothing matches but `path + "/"` would, the client is redirected there (301).
//!
//! Matching uses the percent-decoded path, as Go's router does; the request is then
//! forwarded with its raw path unchanged.

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

/// One route: a path (prefix when it ends in `/`) and its handler.
pub(super) struct Route {
    path: Box<[u8]>,
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
        if self.is_prefix() {
            path.starts_with(&self.path)
        } else {
            path == &*self.path
        }
    }
}

/// Result of a successful lookup.
pub(super) enum Lookup<'a> {
    Found(&'a Route),
    /// Only `path + "/"` is served: redirect there.
    AddTrailingSlash,
}

/// Routes sorted longest path first; immutable after construction.
pub(super) struct Router {
    routes: Box<[Route]>,
}

impl Router {
    pub(super) fn new(mut routes: Vec<Route>) -> Result<Self, String> {
        // Stable sort: longest first, so the first match is the most specific one.
        routes.sort_by_key(|r| std::cmp::Reverse(r.path.len()));
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
        })
    }

    /// The configured paths, for `Debug` and startup logs.
    pub(super) fn describe(&self) -> Vec<Cow<'_, str>> {
        self.routes
            .iter()
            .map(|r| String::from_utf8_lossy(&r.path))
            .collect()
    }

    /// Finds the route for a raw (still percent-encoded) request path.
    pub(super) fn lookup(&self, raw_path: &str) -> Result<Lookup<'_>, UpstreamError> {
        // Allocates only when the path contains a `%` escape.
        let decoded: Cow<'_, [u8]> = percent_decode_str(raw_path).into();
        if has_dot_segment(&decoded) {
            return Err(UpstreamError::BadRequest {
                reason: "path contains '.' or '..' segments",
            });
        }
        if let Some(route) = self.routes.iter().find(|r| r.matches(&decoded)) {
            return Ok(Lookup::Found(route));
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
        match r.lookup(path) {
            Ok(Lookup::Found(route)) => Some(String::from_utf8(route.path.to_vec()).unwrap()),
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
                matches!(r.lookup(path), Err(UpstreamError::BadRequest { .. })),
                "{path}"
            );
        }
        for path in ["/a..b/", "/.well-known/x", "/a/...", "/a/b.c"] {
            assert!(matches!(r.lookup(path), Ok(Lookup::Found(_))), "{path}");
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
}
