//! End to end, through the real binary: `signature_key` (checked by an independent Python
//! verifier as the app), `allow_query_semicolons`, and `auth_request_response_mode=form_post`
//! against the real oidc-provider.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use support::idp::IdpConfig;
use support::{html, location, Browser, EchoReply, Login, Stack};

/// An htpasswd file with `alice:wonderland` ({SHA} form, cheap to check).
fn htpasswd_file() -> std::path::PathBuf {
    let path = support::log_dir().join(format!("htpasswd-opts-{}", support::free_port()));
    let sha = base64::engine::general_purpose::STANDARD
        .encode(<sha1::Sha1 as sha1::Digest>::digest(b"wonderland"));
    std::fs::write(&path, format!("alice:{{SHA}}{sha}\n")).unwrap();
    path
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:wonderland")
    )
}

/// `tests/vectors/gap_signature.py serve`: the app, verifying every GAP-Signature it gets.
struct Verifier {
    child: Child,
    port: u16,
}

impl Verifier {
    async fn start(key: &str) -> Verifier {
        let port = support::free_port();
        let script = format!(
            "{}/tests/vectors/gap_signature.py",
            env!("CARGO_MANIFEST_DIR")
        );
        let child = Command::new("python3")
            .args([&script, "serve", "--port", &port.to_string(), "--key", key])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the GAP-Signature verifier");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the verifier did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Verifier { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_signatures_verify_at_the_app_with_an_independent_implementation() {
    let verifier = Verifier::start("sha256:an-app-shared-secret").await;
    let file = htpasswd_file();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("upstream", &verifier.url())
            .set("htpasswd-file", file.to_str().unwrap())
            .set("signature-key", "sha256:an-app-shared-secret")
            .set("signature-max-body-bytes", "1000")
            .set("skip-auth-route", "GET=^/public")
    })
    .await;
    assert!(
        stack.proxy.log().contains("signature_key is deprecated"),
        "the deprecation warning is logged:\n{}",
        stack.proxy.log()
    );
    let client = Browser::new().client().clone();
    let check = |v: &Value, what: &str| {
        assert_eq!(v["match"], true, "{what}: signature must verify: {v:#}");
        assert!(
            v["signature"].as_str().unwrap().starts_with("sha256 "),
            "{what}: {v}"
        );
    };

    // Authenticated GET: escaped path, query, the user's identity signed.
    let resp = client
        .get(stack.proxy.url("/private/a%2Fb%20c?x=1&y=%3D"))
        .header("authorization", basic())
        .header("gap-auth", "mallory")
        .header("gap-signature", "sha256 forged")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    check(&v, "GET");
    assert_eq!(v["gap_auth"], serde_json::json!(["alice"]), "{v}");
    assert!(
        v["string_to_sign"]
            .as_str()
            .unwrap()
            .ends_with("\nalice\n/private/a/b c?x=1&y=%3D\n"),
        "{v}"
    );

    // Authenticated POST: the body is signed.
    let body = "x".repeat(700);
    let resp = client
        .post(stack.proxy.url("/upload"))
        .header("authorization", basic())
        .header("content-type", "text/plain")
        .header("date", "Wed, 02 Dec 2026 03:00:00 GMT")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    check(&v, "POST");
    assert_eq!(v["body_len"], 700);
    assert!(
        v["string_to_sign"]
            .as_str()
            .unwrap()
            .starts_with("POST\n700\n\ntext/plain\nWed, 02 Dec 2026 03:00:00 GMT\n"),
        "{v}"
    );

    // An empty POST is signed with Content-Length 0.
    let resp = client
        .post(stack.proxy.url("/empty"))
        .header("authorization", basic())
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    check(&v, "empty POST");

    // A skipped route: no session, an empty GAP-Auth (as oauth2-proxy), forged copies replaced.
    let resp = client
        .get(stack.proxy.url("/public/page"))
        .header("gap-auth", "mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    check(&v, "skipped");
    assert_eq!(v["gap_auth"], serde_json::json!([""]), "{v}");

    // Over signature_max_body_bytes: 413, the app never sees it.
    let resp = client
        .post(stack.proxy.url("/upload"))
        .header("authorization", basic())
        .body("y".repeat(1001))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semicolons_are_not_query_separators_unless_allowed() {
    let file = htpasswd_file();
    let client = Browser::new().client().clone();
    for allow in [false, true] {
        let stack = Stack::start_with(IdpConfig::default(), |c| {
            let c = c.set("htpasswd-file", file.to_str().unwrap());
            if allow {
                c.set("allow-query-semicolons", "true")
            } else {
                c
            }
        })
        .await;
        // The proxy's own endpoints read their parameters as Go's ParseForm does.
        let status = |path: &'static str| {
            let url = stack.proxy.url(path);
            let client = client.clone();
            async move { client.get(url).send().await.unwrap().status().as_u16() }
        };
        let sign_in = status("/oauth2/sign_in?rd=/a;b=1").await;
        let start = status("/oauth2/start?rd=/a;b=1").await;
        if allow {
            assert_eq!(sign_in, 200, "allowed: ';' separates parameters");
            assert_eq!(start, 302);
        } else {
            assert_eq!(sign_in, 400, "';' in a query is refused on /oauth2/sign_in");
            assert_eq!(start, 400, "';' in a query is refused on /oauth2/start");
        }
        // A bad escape is refused either way.
        assert_eq!(status("/oauth2/sign_in?rd=%zz").await, 400);
        // The app gets the query as sent, or rewritten with allow_query_semicolons.
        let resp = client
            .get(stack.proxy.url("/app?a=1;b=2&c=%3B"))
            .header("authorization", basic())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let echo: EchoReply = resp.json().await.unwrap();
        let expected = if allow {
            "/app?a=1&b=2&c=%3B"
        } else {
            "/app?a=1;b=2&c=%3B"
        };
        assert_eq!(echo.path, expected, "allow_query_semicolons={allow}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_post_response_mode_logs_in_through_a_posted_callback() {
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("auth-request-response-mode", "form_post")
    })
    .await;
    let browser = Browser::new();
    let authorize = stack.start_login(&browser, "/after").await;
    let mode: Vec<String> = authorize
        .query_pairs()
        .filter(|(k, _)| k == "response_mode")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(mode, ["form_post"], "{authorize}");

    // Drive the IdP until it answers with the auto-submitting form aimed at the callback.
    let callback = stack.proxy.url("/oauth2/callback");
    let login = Login::new("poster@example.com");
    let mut next = authorize.clone();
    let mut posted = None;
    for _ in 0..12 {
        let resp = browser.get(next.as_str()).await;
        if resp.status() == 302 || resp.status() == 303 {
            next = location(&resp);
            continue;
        }
        let url = resp.url().clone();
        let body = resp.text().await.unwrap();
        let forms = html::forms(&body);
        if let Some(form) = forms.iter().find(|f| f.action.starts_with(&callback)) {
            posted = Some(form.clone());
            break;
        }
        let mut form = forms
            .into_iter()
            .find(|f| matches!(f.id.as_deref(), Some("login") | Some("consent")))
            .unwrap_or_else(|| panic!("no login/consent form at {url}: {body}"));
        if form.id.as_deref() == Some("login") {
            form.set("login", &login.username);
            form.set("password", "ignored");
            form.set("email_verified", "true");
        }
        let action = url.join(&form.action).unwrap();
        let resp = browser.post_form(action.as_str(), &form.fields).await;
        assert!(resp.status().is_redirection(), "IdP form {action}");
        next = location(&resp);
    }
    let form = posted.expect("the IdP answers with a form_post page");
    assert!(form.field("code").is_some() && form.field("state").is_some());
    assert_eq!(form.method, "post");
    let resp = browser.post_form(&form.action, &form.fields).await;
    assert_eq!(
        resp.status(),
        302,
        "the posted callback completes the login"
    );
    assert_eq!(location(&resp).as_str(), stack.proxy.url("/after"));
    let resp = browser.get(&stack.proxy.url("/after")).await;
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.header("x-forwarded-email"), Some("poster@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_csrf_per_request_limit_expires_the_oldest_csrf_cookies_when_a_login_starts() {
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("cookie-csrf-per-request", "true")
            .set("cookie-csrf-per-request-limit", "2")
    })
    .await;
    let browser = Browser::new();
    let csrf_names = |b: &Browser| {
        let mut n: Vec<String> = b
            .jar()
            .names()
            .into_iter()
            .filter(|n| n.starts_with("_oauth2_proxy_") && n.ends_with("_csrf"))
            .collect();
        n.sort();
        n
    };
    let mut created: Vec<String> = Vec::new();
    for round in 0..4 {
        // The signed times order the cookies (whole seconds, as in oauth2-proxy).
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let resp = browser
            .get(&stack.proxy.url(&format!("/oauth2/start?rd=/r{round}")))
            .await;
        assert_eq!(resp.status(), 302);
        let cookies = support::set_cookies(&resp);
        let deleted: Vec<String> = cookies
            .iter()
            .filter(|c| support::browser::is_deletion(c))
            .map(|c| c.name().to_owned())
            .collect();
        let new: Vec<String> = cookies
            .iter()
            .filter(|c| !support::browser::is_deletion(c) && c.name().ends_with("_csrf"))
            .map(|c| c.name().to_owned())
            .collect();
        assert_eq!(new.len(), 1, "round {round}: one new CSRF cookie");
        match round {
            // Up to the limit already in the browser: nothing is expired.
            0..=2 => assert!(deleted.is_empty(), "round {round}: {deleted:?}"),
            // Three in the browser, limit 2: the oldest one goes.
            _ => assert_eq!(deleted, [created[0].clone()], "round {round}"),
        }
        created.push(new[0].clone());
    }
    let mut expected = created[1..].to_vec();
    expected.sort();
    assert_eq!(csrf_names(&browser), expected);
}
