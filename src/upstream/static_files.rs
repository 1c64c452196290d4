//! `static://CODE` and `file:///dir#/mount` upstreams.
//!
//! The file server maps a request path below `mount` to a file below `dir`. It refuses
//! rather than normalises anything ambiguous: `..` segments, encoded `/` or `\`, NUL, and
//! any path that (after resolving symlinks) lands outside `dir`. Directories serve their
//! `index.html`; there are no directory listings (they would disclose file names).

use std::io;
use std::path::{Path, PathBuf};

use ::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use percent_encoding::percent_decode_str;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::router::{empty_body, has_dot_segment};
use crate::{Body, BoxError};

/// The body oauth2-proxy writes for every static upstream.
const STATIC_BODY: &str = "Authenticated";
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
/// Read size for streamed files: large enough for few syscalls, small enough to keep
/// per-connection memory bounded.
const FILE_CHUNK: usize = 64 * 1024;

/// A `static://CODE` upstream.
pub(super) struct StaticResponse {
    status: StatusCode,
}

impl StaticResponse {
    pub(super) fn new(code: u16) -> Result<Self, String> {
        match StatusCode::from_u16(code) {
            Ok(status) if (200..=999).contains(&code) => Ok(Self { status }),
            _ => Err(format!(
                "static status code {code} cannot answer a request (use 200 to 999)"
            )),
        }
    }

    /// `CODE` with oauth2-proxy's body `Authenticated` (no body where HTTP forbids one).
    pub(super) fn respond(&self) -> Response<Body> {
        if self.status == StatusCode::NO_CONTENT || self.status == StatusCode::NOT_MODIFIED {
            let mut resp = Response::new(empty_body());
            *resp.status_mut() = self.status;
            return resp;
        }
        let mut resp = text(self.status, STATIC_BODY);
        *resp.status_mut() = self.status;
        resp
    }
}

/// A `file://` upstream.
pub(super) struct FileServer {
    /// Canonical (symlink-free, absolute) root directory; `None` when the path is not a
    /// directory (`file:///dev/null`, the "no app" idiom): every request is then a 404, as Go's
    /// file server answers it.
    root: Option<PathBuf>,
    /// The route path (`/` or `/prefix/`, or an exact path).
    mount: String,
}

impl FileServer {
    pub(super) fn new(dir: &Path, mount: &str) -> Self {
        let root = match std::fs::canonicalize(dir) {
            Ok(root) if root.is_dir() => Some(root),
            Ok(_) if dir == Path::new("/dev/null") => None,
            Ok(_) => {
                tracing::warn!(dir = %dir.display(), mount, "file upstream is not a directory: every request under it answers 404");
                None
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), mount, error = %e, "file upstream directory cannot be read: every request under it answers 404");
                None
            }
        };
        Self {
            root,
            mount: mount.to_owned(),
        }
    }

    /// Answers a GET or HEAD for a file below the mount; every failure is a plain-text
    /// 400/403/404/405/500 response, as Go's file server answers them.
    pub(super) async fn serve<B>(&self, req: &Request<B>) -> Response<Body> {
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                return resp;
            }
        };
        let segments = match self.relative_segments(req.uri().path()) {
            Ok(s) => s,
            Err(status) => return status_page(status),
        };
        let Some(root) = &self.root else {
            return status_page(StatusCode::NOT_FOUND);
        };
        let mut candidate = root.clone();
        candidate.extend(&segments);
        let wants_dir = segments.is_empty() || req.uri().path().ends_with('/');

        let file_path = match self.resolve(&candidate).await {
            // Go's file server redirects `/dir` to `/dir/` so relative links work.
            Ok((_, true)) if !wants_dir => return dir_redirect(req.uri()),
            Ok((dir, true)) => match self.resolve(&dir.join("index.html")).await {
                Ok((index, false)) => index,
                Ok((_, true)) => return status_page(StatusCode::NOT_FOUND),
                Err(status) => return status_page(status),
            },
            Ok((file, false)) => file,
            Err(status) => return status_page(status),
        };
        match open(&file_path).await {
            Ok((file, len)) => file_response(file, len, &file_path, head),
            Err(e) => status_page(io_status(&e)),
        }
    }

    /// The decoded path below the mount, as validated segments.
    fn relative_segments(&self, raw_path: &str) -> Result<Vec<String>, StatusCode> {
        // An encoded separator would become a separator (or a literal backslash) only after
        // routing: refuse it instead of guessing which one the client meant.
        let lower_has = |needle: &str| {
            raw_path
                .as_bytes()
                .windows(3)
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        };
        if lower_has("%2f") || lower_has("%5c") || lower_has("%00") {
            return Err(StatusCode::BAD_REQUEST);
        }
        let decoded = percent_decode_str(raw_path)
            .decode_utf8()
            .map_err(|_| StatusCode::BAD_REQUEST)?;
        if has_dot_segment(decoded.as_bytes()) || decoded.contains(['\\', '\0']) {
            return Err(StatusCode::BAD_REQUEST);
        }
        // The router matched the mount on this same decoded path.
        let rest = if self.mount.ends_with('/') {
            decoded.strip_prefix(self.mount.as_str())
        } else if decoded == self.mount {
            // An exact mount such as `/favicon.ico` serves the file of that name.
            decoded.rsplit_once('/').map(|(_, name)| name)
        } else {
            None
        };
        let rest = rest.ok_or(StatusCode::NOT_FOUND)?;
        Ok(rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Canonicalises `path` and checks it is still inside the root (a symlink may point
    /// anywhere). Returns the canonical path and whether it is a directory.
    async fn resolve(&self, path: &Path) -> Result<(PathBuf, bool), StatusCode> {
        let canonical = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| io_status(&e))?;
        if !self.root.as_ref().is_some_and(|r| canonical.starts_with(r)) {
            // Do not reveal that the target exists outside the served tree.
            return Err(StatusCode::NOT_FOUND);
        }
        let meta = tokio::fs::metadata(&canonical)
            .await
            .map_err(|e| io_status(&e))?;
        if meta.is_dir() {
            Ok((canonical, true))
        } else if meta.is_file() {
            Ok((canonical, false))
        } else {
            // Sockets, FIFOs and devices are never served.
            Err(StatusCode::NOT_FOUND)
        }
    }
}

async fn open(path: &Path) -> io::Result<(tokio::fs::File, u64)> {
    let file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    Ok((file, meta.len()))
}

fn file_response(file: tokio::fs::File, len: u64, path: &Path, head: bool) -> Response<Body> {
    let body = if head {
        empty_body()
    } else {
        // `take(len)` keeps the body consistent with Content-Length if the file grows
        // while it is being sent.
        let stream = ReaderStream::with_capacity(file.take(len), FILE_CHUNK)
            .map_ok(Frame::data)
            .map_err(BoxError::from);
        BodyExt::boxed(StreamBody::new(stream))
    };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn dir_redirect(uri: &::http::Uri) -> Response<Body> {
    super::router::trailing_slash_redirect(uri)
}

fn io_status(e: &io::Error) -> StatusCode {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StatusCode::NOT_FOUND,
        io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn status_page(status: StatusCode) -> Response<Body> {
    let msg = match status {
        StatusCode::BAD_REQUEST => "400 invalid URL path\n",
        StatusCode::FORBIDDEN => "403 forbidden\n",
        StatusCode::NOT_FOUND => "404 page not found\n",
        _ => "500 internal server error\n",
    };
    text(status, msg)
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Content-Type by file extension (case-insensitive); unknown types are served as
/// `application/octet-stream` and, with `nosniff`, never rendered as HTML.
pub(super) fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    const TABLE: &[(&str, &str)] = &[
        ("html", "text/html; charset=utf-8"),
        ("htm", "text/html; charset=utf-8"),
        ("css", "text/css; charset=utf-8"),
        ("js", "text/javascript; charset=utf-8"),
        ("mjs", "text/javascript; charset=utf-8"),
        ("json", "application/json"),
        ("map", "application/json"),
        ("webmanifest", "application/manifest+json"),
        ("txt", "text/plain; charset=utf-8"),
        ("md", "text/markdown; charset=utf-8"),
        ("csv", "text/csv; charset=utf-8"),
        ("xml", "application/xml"),
        ("svg", "image/svg+xml"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("avif", "image/avif"),
        ("ico", "image/x-icon"),
        ("woff", "font/woff"),
        ("woff2", "font/woff2"),
        ("ttf", "font/ttf"),
        ("otf", "font/otf"),
        ("pdf", "application/pdf"),
        ("wasm", "application/wasm"),
        ("zip", "application/zip"),
        ("gz", "application/gzip"),
        ("mp4", "video/mp4"),
        ("webm", "video/webm"),
        ("mp3", "audio/mpeg"),
        ("ogg", "audio/ogg"),
        ("wav", "audio/wav"),
    ];
    TABLE
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or("application/octet-stream", |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_follows_the_extension_case_insensitively() {
        let table = [
            ("a/index.html", "text/html; charset=utf-8"),
            ("a/APP.JS", "text/javascript; charset=utf-8"),
            ("x.svg", "image/svg+xml"),
            ("x.woff2", "font/woff2"),
            ("noext", "application/octet-stream"),
            ("x.exe", "application/octet-stream"),
        ];
        for (p, want) in table {
            assert_eq!(content_type(Path::new(p)), want, "{p}");
        }
    }

    #[test]
    fn static_codes_that_cannot_be_final_responses_are_refused() {
        assert!(StaticResponse::new(101).is_err());
        assert!(StaticResponse::new(1000).is_err());
        assert!(
            StaticResponse::new(600).is_ok(),
            "oauth2-proxy writes any code up to 999"
        );
        assert!(StaticResponse::new(202).is_ok());
        assert_eq!(
            StaticResponse::new(204).unwrap().respond().status(),
            StatusCode::NO_CONTENT
        );
    }

    #[test]
    fn segments_below_the_mount_are_validated() {
        let dir = std::env::temp_dir();
        let fs = FileServer::new(&dir, "/static/");
        assert_eq!(
            fs.relative_segments("/static/a/b%20c.txt").unwrap(),
            vec!["a", "b c.txt"]
        );
        assert_eq!(
            fs.relative_segments("/static/").unwrap(),
            Vec::<String>::new()
        );
        let bad = [
            "/static/a%2Fb",
            "/static/a%2fb",
            "/static/a%5cb",
            "/static/a\\b",
            "/static/%2e%2e/x",
            "/static/../x",
            "/static/a%00",
            "/static/%ff",
        ];
        for p in bad {
            assert_eq!(fs.relative_segments(p), Err(StatusCode::BAD_REQUEST), "{p}");
        }
        assert_eq!(fs.relative_segments("/other/x"), Err(StatusCode::NOT_FOUND));
    }
}
