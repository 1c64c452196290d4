//! The demo's sample app: shows the method, path and every header it received,
//! highlighting the identity headers authproxy injects. HTML by default, JSON for
//! `Accept: application/json`.

use std::future::Future;
use std::io;

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::json;
use tokio::net::TcpListener;

use super::{ensure_loopback, esc, html, json, serve, DEMO_CSS};

/// How many characters of a token the app shows.
const TOKEN_PREFIX_CHARS: usize = 12;

/// Runs the sample app on `listener` until `shutdown` completes. Loopback only.
pub async fn run_app(listener: TcpListener, shutdown: impl Future) -> io::Result<()> {
    ensure_loopback(&listener, "demo app")?;
    serve(listener, shutdown, |req: Request<Incoming>| async move {
        handle(&req)
    })
    .await
}

/// Whether a header carries identity set by the proxy.
fn is_identity(name: &str) -> bool {
    name.starts_with("x-forwarded-")
        || name.starts_with("x-auth-request-")
        || name.starts_with("x-authproxy-")
        || name == "authorization"
}

/// Whether a header's value is a credential that must not be shown in full.
fn is_token(name: &str) -> bool {
    name == "authorization"
        || name.ends_with("-access-token")
        || name.ends_with("-id-token")
        || name.ends_with("-jwt-assertion")
}

/// The first 12 characters of a token (after an auth scheme such as `Bearer `),
/// then an ellipsis.
fn mask(value: &str) -> String {
    let (scheme, token) = match value.split_once(' ') {
        Some((s, t)) => (format!("{s} "), t),
        None => (String::new(), value),
    };
    let shown: String = token.chars().take(TOKEN_PREFIX_CHARS).collect();
    if token.chars().count() > TOKEN_PREFIX_CHARS {
        format!("{scheme}{shown}…")
    } else {
        format!("{scheme}{shown}")
    }
}

/// (name, displayed value, identity?) for every header, in order received.
fn rows(headers: &HeaderMap) -> Vec<(String, String, bool)> {
    headers
        .iter()
        .map(|(name, value)| {
            let n = name.as_str();
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let shown = if is_token(n) { mask(&v) } else { v };
            (n.to_owned(), shown, is_identity(n))
        })
        .collect()
}

fn handle<B>(req: &Request<B>) -> Response<Full<Bytes>> {
    let rows = rows(req.headers());
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let wants_json = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| m.trim().starts_with("application/json"));
    if wants_json {
        let headers: Vec<_> = rows
            .iter()
            .map(|(n, v, id)| json!({ "name": n, "value": v, "identity": id }))
            .collect();
        let user = req
            .headers()
            .get("x-auth-request-user")
            .or_else(|| req.headers().get("x-forwarded-user"))
            .and_then(|v| v.to_str().ok());
        return json(
            StatusCode::OK,
            &json!({ "method": req.method().as_str(), "path": path, "user": user, "headers": headers }),
        );
    }
    let user = req
        .headers()
        .get("x-auth-request-email")
        .or_else(|| req.headers().get("x-forwarded-email"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let table: String = rows
        .iter()
        .map(|(n, v, id)| {
            format!(
                "<tr{}><th scope=\"row\"><code>{}</code></th><td><code>{}</code></td></tr>\n",
                if *id { " class=\"identity\"" } else { "" },
                esc(n),
                esc(v)
            )
        })
        .collect();
    let greeting = if user.is_empty() {
        "No identity headers: this request did not come through authproxy.".to_owned()
    } else {
        format!("Signed in as <strong>{}</strong>.", esc(user))
    };
    html(
        StatusCode::OK,
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>authproxy demo app</title>\
<style>{DEMO_CSS}</style></head><body><main><div class=\"card\">\
<h1>authproxy demo app</h1><p>{greeting}</p>\
<p><code>{} {}</code></p>\
<p>Highlighted rows are identity headers set by the proxy; tokens show their first {TOKEN_PREFIX_CHARS} characters only.</p>\
<table><caption style=\"text-align:left;font-weight:600;margin:.5rem 0\">Request headers received</caption>\
<thead><tr><th scope=\"col\">Header</th><th scope=\"col\">Value</th></tr></thead><tbody>\n{table}</tbody></table>\
<p style=\"margin-top:1.5rem\"><a class=\"btn\" href=\"/oauth2/sign_out\">Sign out</a></p>\
</div></main></body></html>\n",
            esc(req.method().as_str()),
            esc(path),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method("POST").uri("/reports?year=2025");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn masks_tokens_to_their_first_twelve_characters() {
        assert_eq!(
            mask("Bearer eyJhbGciOiJFUzI1NiJ9.payload.sig"),
            "Bearer eyJhbGciOiJF…"
        );
        assert_eq!(mask("short"), "short");
        assert_eq!(mask("abcdefghijklmnop"), "abcdefghijkl…");
    }

    async fn body_of(resp: Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt as _;
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn html_page_lists_every_header_and_highlights_identity_headers() {
        let req = request(&[
            ("x-auth-request-email", "ada@example.com"),
            ("x-forwarded-groups", "admins,developers"),
            ("x-auth-request-access-token", "at-0123456789abcdefXYZ"),
            ("authorization", "Bearer id-0123456789abcdef"),
            ("user-agent", "<script>ua</script>"),
        ]);
        let resp = handle(&req);
        assert_eq!(resp.status(), StatusCode::OK);
        let body = body_of(resp).await;
        assert!(body.contains("Signed in as <strong>ada@example.com</strong>"));
        assert!(body.contains("<tr class=\"identity\"><th scope=\"row\"><code>x-forwarded-groups"));
        assert!(body.contains("at-012345678…"));
        assert!(!body.contains("abcdefXYZ"));
        assert!(body.contains("Bearer id-012345678…"));
        assert!(body.contains("&lt;script&gt;ua&lt;/script&gt;"));
        assert!(body.contains("POST /reports?year=2025"));
        assert!(body.contains("href=\"/oauth2/sign_out\""));
    }

    #[tokio::test]
    async fn app_echoes_headers_as_json_over_http() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(run_app(listener, rx));
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!("http://{addr}/hello?x=1"))
            .header("accept", "application/json")
            .header("x-auth-request-user", "ada")
            .header("x-forwarded-access-token", "tok-0123456789abcdef")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/hello?x=1");
        assert_eq!(v["user"], "ada");
        let headers = v["headers"].as_array().unwrap();
        let find = |n: &str| headers.iter().find(|h| h["name"] == n).unwrap().clone();
        assert_eq!(find("x-auth-request-user")["identity"], true);
        assert_eq!(find("x-forwarded-access-token")["value"], "tok-01234567…");
        assert_eq!(find("accept")["identity"], false);
        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
