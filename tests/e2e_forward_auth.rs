//! End to end: forward authentication and the rules that decide what needs a login.
//!
//! `/oauth2/auth` (202 / 401 / 403, identity headers, query constraints, the original URL from
//! a trusted front proxy), Envoy HTTP ext_authz (`/oauth2/ext_authz/...`), skip rules and
//! `api_routes`, and the security cases: spoofed forwarding headers from an untrusted address,
//! skip regexes attacked through the query, `%2F`, `#` and `..`, forged identity headers on
//! skipped routes and forward-auth answers, an email with two `@`, and health-check bypasses.
//!
//! The test client always connects from 127.0.0.1, so "an untrusted front proxy" is simulated
//! by a proxy whose `trusted_proxy_ips` excludes loopback.

mod support;

use std::time::Duration;

use reqwest::Method;
use support::idp::{self, IdpConfig, Login};
use support::{location, Browser, EchoReply, ProxyConfig, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The options the scenarios share: behind a front proxy, a public area, an API area.
fn forward(c: ProxyConfig) -> ProxyConfig {
    c.enable("reverse-proxy")
        .add("skip-auth-route", "GET=^/public/")
        .add("api-route", "^/api/")
        .set("ping-user-agent", "HealthChecker/1.0")
}

async fn stack(configure: impl FnOnce(ProxyConfig) -> ProxyConfig) -> Stack {
    Stack::start_with(IdpConfig::default(), configure).await
}

/// A browser signed in as `login` (the login started at `/`).
async fn signed_in(stack: &Stack, login: &Login) -> Browser {
    let browser = Browser::new();
    stack.complete_login(&browser, "/", login).await;
    browser
}

/// Status, raw header block and body of one request written byte for byte: the target is not
/// normalized by any client library (`/a/../b`, `%2F`, `#` reach the proxy as written).
async fn raw(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the proxy");
    let mut req =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .expect("write request");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("response in time")
        .expect("read response");
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// Every header the app received whose name, folded (`_` → `-`, lower case), is an identity
/// header.
fn identity_headers(echo: &EchoReply) -> Vec<(String, Vec<String>)> {
    echo.headers
        .iter()
        .filter(|(name, _)| {
            let n = name.replace('_', "-");
            n.starts_with("x-auth-request-")
                || n.starts_with("x-forwarded-user")
                || n.starts_with("x-forwarded-email")
                || n.starts_with("x-forwarded-groups")
                || n.starts_with("x-forwarded-preferred-username")
                || n.starts_with("x-forwarded-access-token")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

const FORGED: &[(&str, &str)] = &[
    ("X-Forwarded-Email", "ceo@example.com"),
    ("x_forwarded_email", "ceo@example.com"),
    ("X-AUTH-REQUEST-EMAIL", "ceo@example.com"),
    ("x_auth_request_user", "ceo"),
    ("X-Forwarded-User", "ceo"),
    ("X_Forwarded_Groups", "admins"),
];

fn with_forged(rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    FORGED.iter().fold(rb, |rb, (k, v)| rb.header(*k, *v))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_endpoint_answers_202_401_403_with_identity_and_query_constraints() {
    let stack = stack(forward).await;
    let alice = signed_in(&stack, &Login::new("alice").groups(&["admins"])).await;
    let auth = |q: &str| stack.proxy.url(&format!("/oauth2/auth{q}"));

    let resp = alice.get(&auth("")).await;
    assert_eq!(resp.status(), 202);
    let h = resp.headers();
    assert_eq!(h["x-auth-request-email"], "alice@example.com");
    assert_eq!(h["x-auth-request-groups"], "admins");
    // oauth2-proxy's GAP-Auth on every authenticated answer, proxied responses included.
    assert_eq!(h["gap-auth"], "alice@example.com");
    let proxied = alice.get(&stack.proxy.url("/app")).await;
    assert_eq!(proxied.status(), 200);
    assert_eq!(proxied.headers()["gap-auth"], "alice@example.com");

    let cases: &[(&str, u16)] = &[
        ("?allowed_groups=admins", 202),
        ("?allowed_groups=ops,admins", 202),
        ("?allowed_groups=ops", 403),
        ("?allowed_emails=alice@example.com", 202),
        ("?allowed_emails=bob@example.com", 403),
        ("?allowed_email_domains=example.com", 202),
        ("?allowed_email_domains=.example.com", 202),
        ("?allowed_email_domains=other.example", 403),
        ("?allowed_groups=ops&allowed_emails=alice@example.com", 403),
        (
            "?allowed_groups=ops&allowed_emails=alice@example.com&require_all_matches=false",
            202,
        ),
        ("?constraints_required=true", 403),
        ("?require_all_matches=maybe", 400),
    ];
    for (query, want) in cases {
        let resp = alice.get(&auth(query)).await;
        assert_eq!(resp.status().as_u16(), *want, "/oauth2/auth{query}");
        if *want != 202 {
            assert!(
                resp.headers().get("x-auth-request-email").is_none(),
                "{query}"
            );
        }
    }
    // No session: 401, whatever the constraints.
    let anonymous = Browser::new();
    assert_eq!(anonymous.get(&auth("")).await.status(), 401);
    assert_eq!(
        anonymous
            .get(&auth("?allowed_groups=admins"))
            .await
            .status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_from_auth_sends_the_user_through_start_back_to_the_original_url() {
    let stack = stack(forward).await;
    let browser = Browser::new();
    let port = stack.proxy.port();
    let original = format!("http://127.0.0.1:{port}/reports/q3?year=2024&x=%2F");
    // The front proxy's subrequest: 401, nothing for the app.
    let resp = browser
        .request(Method::GET, &stack.proxy.url("/oauth2/auth"))
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", format!("127.0.0.1:{port}"))
        .header("X-Forwarded-Uri", "/reports/q3?year=2024&x=%2F")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // The front proxy's error page: /oauth2/start?rd=<original URL>.
    let authorize = stack.start_login(&browser, &original).await;
    let callback = idp::authorize(&browser, &authorize, &Login::new("carol")).await;
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(
        location(&resp).as_str(),
        original,
        "landed back on the original URL"
    );
    // Now the subrequest succeeds.
    let resp = browser.get(&stack.proxy.url("/oauth2/auth")).await;
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["x-auth-request-email"], "carol@example.com");
    // A foreign rd is refused as usual.
    let authorize = stack
        .start_login(&browser, "https://evil.example/steal")
        .await;
    let callback = idp::authorize(&browser, &authorize, &Login::new("carol")).await;
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(location(&resp).path(), "/");
    assert_eq!(location(&resp).host_str(), Some("127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_forwarding_headers_from_an_untrusted_address_cannot_skip_authentication() {
    // The proxy trusts only 10.0.0.0/8: our loopback client is an untrusted address.
    let stack = stack(|c| forward(c).add("trusted-proxy-ip", "10.0.0.0/8")).await;
    let browser = Browser::new();
    let spoof = |rb: reqwest::RequestBuilder| {
        rb.header("X-Forwarded-Uri", "/public/page")
            .header("X-Original-URL", "http://127.0.0.1/public/page")
            .header("X-Forwarded-Host", "evil.example")
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Method", "GET")
            .header("Accept", "application/json")
    };
    let resp = spoof(browser.request(Method::GET, &stack.proxy.url("/oauth2/auth")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "a spoofed X-Forwarded-Uri skipped /oauth2/auth"
    );
    let hits = stack.app.hits();
    let resp = spoof(browser.request(Method::GET, &stack.proxy.url("/secret")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "a spoofed X-Forwarded-Uri skipped the proxy path"
    );
    assert_eq!(stack.app.hits(), hits, "the app was reached");
    // The real path still works as a skip route.
    let resp = browser.get(&stack.proxy.url("/public/page")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(stack.app.hits(), hits + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_forwarded_uri_is_used_by_auth_but_never_by_the_proxy_path() {
    let stack = stack(forward).await;
    let browser = Browser::new();
    let with_uri = |uri: &str| {
        browser
            .request(Method::GET, &stack.proxy.url("/oauth2/auth"))
            .header("X-Forwarded-Uri", uri.to_string())
    };
    assert_eq!(with_uri("/public/page").send().await.unwrap().status(), 202);
    assert_eq!(with_uri("/private").send().await.unwrap().status(), 401);
    // Skip routes are method-aware: X-Forwarded-Method from the trusted proxy counts.
    let resp = with_uri("/public/page")
        .header("X-Forwarded-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // X-Original-URL (nginx-ingress style) works too.
    let resp = browser
        .request(Method::GET, &stack.proxy.url("/oauth2/auth"))
        .header("X-Original-URL", "https://app.example.com/public/x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    // On the proxy path the request's own path decides, even from a trusted peer.
    let hits = stack.app.hits();
    let resp = browser
        .request(Method::GET, &stack.proxy.url("/secret"))
        .header("X-Forwarded-Uri", "/public/page")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(stack.app.hits(), hits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_regex_cannot_be_matched_through_query_encoded_slash_fragment_or_dot_segments() {
    let stack = stack(forward).await;
    let port = stack.proxy.port();
    let hits = stack.app.hits();
    // The proxy path, written byte for byte.
    for target in [
        "/secret?next=/public/",
        "/public%2F..%2Fsecret",
        "/public%2f..%2fsecret",
        "/public/../secret",
        "/public/%2e%2e/secret",
        "/public/..;/secret",
        "/secret#/public/",
    ] {
        let (status, _, body) = raw(port, "GET", target, &[("Accept", "application/json")]).await;
        assert!(status == 401 || status == 400, "{target}: {status} {body}");
        assert_eq!(stack.app.hits(), hits, "{target} reached the app");
    }
    // The same paths as the original URI of a forward-auth subrequest.
    let browser = Browser::new();
    for uri in [
        "/secret?next=/public/",
        "/secret#/public/",
        "/public%2F..%2Fsecret",
        "/public/../secret",
        "/public/%2E%2E/secret",
        "/public\\..\\secret",
    ] {
        let resp = browser
            .request(Method::GET, &stack.proxy.url("/oauth2/auth"))
            .header("X-Forwarded-Uri", uri)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "X-Forwarded-Uri {uri}");
    }
    // And a genuine public path still skips.
    let (status, _, _) = raw(port, "GET", "/public/ok?x=1", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(stack.app.hits(), hits + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_identity_headers_never_reach_the_app_on_skipped_routes_or_forward_auth() {
    let stack = stack(forward).await;
    // Skipped route, no session: no identity at all.
    let anonymous = Browser::new();
    let resp = with_forged(anonymous.request(Method::GET, &stack.proxy.url("/public/a")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(
        identity_headers(&echo),
        vec![],
        "forged identity reached the app"
    );

    // Skipped route with a session: the session's identity, never the forged one.
    let alice = signed_in(&stack, &Login::new("alice")).await;
    let resp = with_forged(alice.request(Method::GET, &stack.proxy.url("/public/a")))
        .send()
        .await
        .unwrap();
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.header("x-forwarded-email"), Some("alice@example.com"));
    assert_eq!(
        echo.header("x-auth-request-email"),
        Some("alice@example.com")
    );
    for (name, values) in identity_headers(&echo) {
        assert!(
            !values.iter().any(|v| v.contains("ceo")),
            "{name}: {values:?}"
        );
    }

    // /oauth2/auth: answers carry only what the session says.
    let resp = with_forged(anonymous.request(Method::GET, &stack.proxy.url("/oauth2/auth")))
        .header("X-Forwarded-Uri", "/public/a")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert!(
        !resp
            .headers()
            .keys()
            .any(|k| k.as_str().replace('_', "-").starts_with("x-auth-request")),
        "a skipped auth answer carried identity headers: {:?}",
        resp.headers()
    );
    let resp = with_forged(alice.request(Method::GET, &stack.proxy.url("/oauth2/auth")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["x-auth-request-email"], "alice@example.com");
    assert_eq!(resp.headers()["x-auth-request-user"], "alice@example.com");
    assert!(resp.headers().get("x_auth_request_user").is_none());

    // Envoy ext_authz: a skipped request tells Envoy to remove every identity spelling.
    let resp =
        with_forged(anonymous.request(Method::GET, &stack.proxy.url("/oauth2/ext_authz/public/a")))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 200);
    let remove = resp.headers()["x-envoy-auth-headers-to-remove"]
        .to_str()
        .unwrap()
        .to_string();
    for name in [
        "x-forwarded-email",
        "x_forwarded_email",
        "x-auth-request-email",
        "x_auth_request_user",
        "x-forwarded-user",
    ] {
        assert!(
            remove.split(',').any(|n| n == name),
            "{name} not removed: {remove}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_with_two_at_signs_is_not_allowed_by_a_domain_rule() {
    let stack = stack(|c| forward(c).set("email-domain", "example.com")).await;
    let browser = Browser::new();
    let login = Login::new("mallory@evil.example@example.com");
    let callback = stack.callback_url(&browser, "/", &login).await;
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 403, "the login itself is refused");
    assert!(support::session_set_cookie(&resp).is_none());
    for q in [
        "",
        "?allowed_email_domains=example.com",
        "?allowed_email_domains=evil.example,example.com",
    ] {
        let resp = browser
            .get(&stack.proxy.url(&format!("/oauth2/auth{q}")))
            .await;
        assert_ne!(
            resp.status(),
            202,
            "/oauth2/auth{q} allowed a two-@ address"
        );
        assert!(resp.headers().get("x-auth-request-email").is_none());
    }
    // A well-formed address of that domain passes the same rule.
    let ok = signed_in(&stack, &Login::new("dave")).await;
    let resp = ok
        .get(
            &stack
                .proxy
                .url("/oauth2/auth?allowed_email_domains=example.com"),
        )
        .await;
    assert_eq!(resp.status(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_cannot_be_used_to_bypass_authentication() {
    let stack = stack(forward).await;
    let port = stack.proxy.port();
    let hits = stack.app.hits();
    let json = ("Accept", "application/json");
    for target in [
        "/ping/../secret",
        "/ping%2F..",
        "/ping%2F..%2Fsecret",
        "/PING",
        "/ping/",
        "/pingx",
    ] {
        let (status, _, body) = raw(port, "GET", target, &[json]).await;
        assert!(status == 401 || status == 400, "{target}: {status} {body}");
        assert_eq!(stack.app.hits(), hits, "{target} reached the app");
    }
    // The real ping (with or without a query) answers itself, never the app.
    for target in ["/ping", "/ping?x", "/ping?next=/secret"] {
        let (status, _, body) = raw(port, "GET", target, &[]).await;
        assert_eq!((status, body.as_str()), (200, "OK"), "{target}");
    }
    // GHSA-5hvv-m4w4-gf6v: the ping User-Agent never turns another path into a health check.
    // Behind nginx auth_request or Traefik forwardAuth a 2xx from /oauth2/auth means
    // "allowed", so these must answer exactly as for any client without a session.
    let ua = ("User-Agent", "HealthChecker/1.0");
    for (method, target, want) in [
        ("GET", "/oauth2/auth", 401),
        ("HEAD", "/oauth2/auth", 401),
        ("GET", "/oauth2/auth?allowed_groups=admins", 401),
        ("GET", "/oauth2/ext_authz/secret", 401),
        ("POST", "/oauth2/ext_authz/", 401),
        ("GET", "/secret", 401),
        ("POST", "/secret", 401),
        ("GET", "/", 401),
    ] {
        let (status, _, body) =
            raw(port, method, target, &[ua, json, ("Content-Length", "0")]).await;
        assert_eq!(status, want, "{method} {target} with the ping UA: {body}");
        assert_ne!(body, "OK", "{method} {target} answered like a ping");
    }
    // A browser with the ping User-Agent gets the sign-in page, not "OK".
    let (status, _, body) = raw(port, "GET", "/secret", &[ua]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Sign in"), "{body}");
    assert_eq!(stack.app.hits(), hits, "a health check reached the app");
    // A signed-in user whose client happens to send the ping User-Agent is proxied normally.
    let browser = signed_in(&stack, &Login::new("hc-user")).await;
    let resp = browser
        .request(Method::GET, &stack.proxy.url("/secret"))
        .header("User-Agent", "HealthChecker/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.path, "/secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_health_checks_answer_only_googles_paths_for_googles_probe() {
    let stack = stack(|c| forward(c).enable("gcp-healthchecks")).await;
    let port = stack.proxy.port();
    let hits = stack.app.hits();
    let google = ("User-Agent", "GoogleHC/1.0");
    for target in ["/liveness_check", "/readiness_check"] {
        let (status, _, body) = raw(port, "GET", target, &[google]).await;
        assert_eq!((status, body.as_str()), (200, "OK"), "{target}");
        // The ping User-Agent is accepted there too, as oauth2-proxy v7 does.
        let (status, _, body) =
            raw(port, "GET", target, &[("User-Agent", "HealthChecker/1.0")]).await;
        assert_eq!(
            (status, body.as_str()),
            (200, "OK"),
            "{target} with the ping UA"
        );
        // Another client on these paths is an ordinary, unauthenticated request.
        let (status, _, _) = raw(port, "GET", target, &[("Accept", "application/json")]).await;
        assert_eq!(status, 401, "{target} without Google's User-Agent");
    }
    for target in ["/oauth2/auth", "/secret", "/liveness_check/x"] {
        let (status, _, body) = raw(
            port,
            "GET",
            target,
            &[google, ("Accept", "application/json")],
        )
        .await;
        assert_eq!(status, 401, "{target} with GoogleHC/1.0: {body}");
    }
    assert_eq!(stack.app.hits(), hits, "a health check reached the app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_routes_get_401_json_instead_of_the_sign_in_page() {
    let stack = stack(forward).await;
    let browser = Browser::new();
    let resp = browser.get(&stack.proxy.url("/api/things")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(support::content_type(&resp), "application/json");
    let resp = browser.get(&stack.proxy.url("/web?next=/api/")).await;
    assert_ne!(resp.status(), 401, "the query made a page an API route");
    assert!(support::content_type(&resp).starts_with("text/html"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_http_ext_authz_allows_with_200_and_redirects_browsers_to_sign_in() {
    let stack = stack(forward).await;
    let port = stack.proxy.port();
    let check = |path: &str| stack.proxy.url(&format!("/oauth2/ext_authz{path}"));
    let browser = Browser::new();

    // A browser without a session: 302 to /oauth2/start with the original URL as rd.
    let resp = browser
        .request(Method::GET, &check("/app/page?x=1"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let start = location(&resp);
    assert_eq!(start.path(), "/oauth2/start");
    let rd = start
        .query_pairs()
        .find(|(k, _)| k == "rd")
        .map(|(_, v)| v.to_string());
    let original = format!("http://127.0.0.1:{port}/app/page?x=1");
    assert_eq!(rd.as_deref(), Some(original.as_str()));
    // Following it signs in and lands on the original URL.
    let resp = browser.get(start.as_str()).await;
    assert_eq!(resp.status(), 302);
    let callback = idp::authorize(
        &browser,
        &location(&resp),
        &Login::new("erin").groups(&["ops"]),
    )
    .await;
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(location(&resp).as_str(), original);

    // An API client gets 401; so does an api_routes path without a JSON Accept.
    let anonymous = Browser::new();
    let resp = anonymous.get_json(&check("/app/data")).await;
    assert_eq!(resp.status(), 401);
    let resp = anonymous.get(&check("/api/v1")).await;
    assert_eq!(resp.status(), 401);

    // Signed in: 200 (Envoy allows on 200 only) with the identity for the app, any method.
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let resp = browser
            .request(method.clone(), &check("/app/page"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method}");
        let h = resp.headers();
        assert_eq!(h["x-forwarded-email"], "erin@example.com");
        assert_eq!(h["x-forwarded-groups"], "ops");
        assert_eq!(h["x-auth-request-email"], "erin@example.com");
        let remove = h["x-envoy-auth-headers-to-remove"].to_str().unwrap();
        assert!(
            !remove.split(',').any(|n| n == "x-forwarded-email"),
            "{remove}"
        );
        assert!(
            remove.split(',').any(|n| n == "x_forwarded_email"),
            "{remove}"
        );
    }
    // The path is the client's: /oauth2/auth query constraints are not read from it.
    let resp = browser.get(&check("/app?allowed_groups=nobody")).await;
    assert_eq!(resp.status(), 200);
}
