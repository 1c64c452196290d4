//! End to end through REAL front proxies: nginx (`auth_request`), Traefik (`forwardAuth`) and
//! Envoy (ext_authz over gRPC and over HTTP) on 127.0.0.1, in front of the echo app, asking
//! authproxy, with the real oidc-provider IdP. Each proxy runs the example configuration in
//! `docs/front-proxies/` exactly as documented (only the `{{…}}` addresses are filled in).
//!
//! For each: an unauthenticated browser signs in and lands back on the original URL; the app
//! receives the identity (and never a forged one); an API request gets 401; a skip route
//! reaches the app without authentication; a bearer JWT reaches the app with its identity.

mod support;

use support::front::{self, FrontProxy};
use support::idp::{self, IdpConfig, Login};
use support::{free_port, location, Browser, EchoApp, EchoReply, Idp, Proxy, ProxyConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Nginx,
    Traefik,
    EnvoyGrpc,
    EnvoyHttp,
}

struct Setup {
    idp: Idp,
    app: EchoApp,
    _proxy: Proxy,
    front: FrontProxy,
}

async fn start(kind: Kind, configure: impl FnOnce(ProxyConfig) -> ProxyConfig) -> Setup {
    let app = EchoApp::start().await;
    let proxy_port = free_port();
    let grpc_port = free_port();
    let front_port = free_port();
    let idp = Idp::start(IdpConfig::default().redirect_to_proxy(front_port)).await;
    let mut config = ProxyConfig::new(proxy_port, idp.issuer(), &app.url())
        .set(
            "redirect-url",
            &format!("http://127.0.0.1:{front_port}/oauth2/callback"),
        )
        .enable("reverse-proxy");
    if kind == Kind::EnvoyGrpc {
        config = config.set("grpc-ext-authz-address", &format!("127.0.0.1:{grpc_port}"));
    }
    let proxy = Proxy::start(configure(config)).await;
    let dir = front::runtime_dir(&format!("{kind:?}").to_lowercase());
    let authproxy = format!("127.0.0.1:{proxy_port}");
    let upstream = format!("127.0.0.1:{}", app.port());
    let s = |v: &str| v.to_string();
    let front = match kind {
        Kind::Nginx => {
            let conf = front::render(
                "nginx.conf",
                &[
                    ("LISTEN", format!("127.0.0.1:{front_port}")),
                    ("AUTHPROXY", authproxy),
                    ("APP", upstream),
                    ("RUNTIME_DIR", dir.display().to_string()),
                ],
            );
            let path = dir.join("nginx.conf");
            std::fs::write(&path, conf).unwrap();
            let args = vec![
                s("-p"),
                dir.display().to_string(),
                s("-e"),
                dir.join("error.log").display().to_string(),
                s("-c"),
                path.display().to_string(),
                s("-g"),
                s("daemon off; master_process off;"),
            ];
            FrontProxy::start("nginx", "nginx", &args, front_port).await
        }
        Kind::Traefik => {
            let dynamic = front::render(
                "traefik-dynamic.yaml",
                &[("AUTHPROXY", authproxy), ("APP", upstream)],
            );
            let dynamic_path = dir.join("dynamic.yaml");
            std::fs::write(&dynamic_path, dynamic).unwrap();
            let stat = front::render(
                "traefik-static.yaml",
                &[
                    ("LISTEN", format!("127.0.0.1:{front_port}")),
                    ("DYNAMIC_FILE", dynamic_path.display().to_string()),
                ],
            );
            let path = dir.join("static.yaml");
            std::fs::write(&path, stat).unwrap();
            let args = vec![format!("--configFile={}", path.display())];
            FrontProxy::start("traefik", "traefik", &args, front_port).await
        }
        Kind::EnvoyGrpc | Kind::EnvoyHttp => {
            let name = if kind == Kind::EnvoyGrpc {
                "envoy-grpc.yaml"
            } else {
                "envoy-http.yaml"
            };
            let conf = front::render(
                name,
                &[
                    ("LISTEN_PORT", front_port.to_string()),
                    ("AUTHPROXY_HOST", s("127.0.0.1")),
                    ("AUTHPROXY_PORT", proxy_port.to_string()),
                    ("GRPC_HOST", s("127.0.0.1")),
                    ("GRPC_PORT", grpc_port.to_string()),
                    ("APP_HOST", s("127.0.0.1")),
                    ("APP_PORT", app.port().to_string()),
                ],
            );
            let path = dir.join("envoy.yaml");
            std::fs::write(&path, conf).unwrap();
            let args = vec![
                s("-c"),
                path.display().to_string(),
                s("--disable-hot-restart"),
                s("--concurrency"),
                s("1"),
                s("-l"),
                s("info"),
            ];
            FrontProxy::start("envoy", "envoy", &args, front_port).await
        }
    };
    Setup {
        idp,
        app,
        _proxy: proxy,
        front,
    }
}

const FORGED: &str = "mallory@evil.example";

/// No header the app received carries the forged identity.
fn assert_not_forged(echo: &EchoReply) {
    for (name, values) in &echo.headers {
        for v in values {
            assert!(
                !v.contains(FORGED),
                "forged identity reached the app in {name}: {v}"
            );
        }
    }
}

/// Browser login through the front proxy, identity at the app, API 401.
async fn login_identity_and_api(kind: Kind) {
    let setup = start(kind, |c| c).await;
    let front = &setup.front;
    let login = Login::new("ada");

    // API client without a session: 401, nothing reaches the app.
    let api = Browser::new().get_json(&front.url("/private/api")).await;
    assert_eq!(api.status(), 401, "{kind:?}: API request without a session");

    // Browser: sign-in → IdP → callback → back to the original URL.
    let browser = Browser::new();
    let original = "/private/page?x=1&y=two%20words";
    let first = browser
        .client()
        .get(front.url(original))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    let authorize = front::to_idp(&browser, first, setup.idp.issuer()).await;
    let callback = idp::authorize(&browser, &authorize, &login).await;
    assert!(
        callback
            .as_str()
            .starts_with(&front.url("/oauth2/callback")),
        "{kind:?}: the IdP must send the browser back through the front proxy, got {callback}"
    );
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 302, "{kind:?}: callback");
    let back = location(&resp);
    assert_eq!(back.as_str(), front.url(original), "{kind:?}: return URL");
    assert_eq!(
        setup.app.hits(),
        0,
        "{kind:?}: nothing reached the app before sign-in"
    );

    // Signed in: the app gets the identity, never a forged one.
    let mut signed_in = browser
        .client()
        .get(back.as_str())
        .header("x-auth-request-email", FORGED)
        .header("X-Forwarded-Email", FORGED)
        .header("X-AUTH-REQUEST-USER", FORGED);
    if kind != Kind::Traefik {
        // `_` spellings: nginx drops them, Envoy is told to remove them. Traefik passes them
        // on (docs/front-proxies.md says so), so the app behind it must not fold `_` to `-`.
        signed_in = signed_in
            .header("x_forwarded_email", FORGED)
            .header("X-Auth-Request_Email", FORGED);
    }
    let resp = signed_in.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{kind:?}: signed-in request");
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(
        echo.path, original,
        "{kind:?}: the app sees the original path"
    );
    assert_eq!(
        echo.header("x-auth-request-email"),
        Some(login.email().as_str()),
        "{kind:?}: identity header at the app"
    );
    assert_not_forged(&echo);
}

/// A skip route without a session, and a bearer JWT instead of a cookie.
async fn skip_route_and_bearer(kind: Kind) {
    let setup = start(kind, |c| {
        c.set("skip-auth-route", "GET=^/public/")
            .enable("skip-jwt-bearer-tokens")
    })
    .await;
    let front = &setup.front;

    let resp = Browser::new()
        .client()
        .get(front.url("/public/logo.png"))
        .header("x-auth-request-email", FORGED)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{kind:?}: skip route");
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.path, "/public/logo.png");
    assert_not_forged(&echo);

    // The skip route is GET only, and the query cannot make a path match it.
    let resp = Browser::new()
        .get_json(&front.url("/private/x?/public/"))
        .await;
    assert_eq!(resp.status(), 401, "{kind:?}: the query is not the path");

    let login = Login::new("grace");
    let token = front::id_token(&setup.idp, &login, &front.url("/oauth2/callback")).await;
    let resp = Browser::new()
        .client()
        .get(front.url("/private/api"))
        .header("accept", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{kind:?}: bearer JWT");
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(
        echo.header("x-auth-request-email"),
        Some(login.email().as_str()),
        "{kind:?}: bearer identity at the app"
    );

    let resp = Browser::new()
        .client()
        .get(front.url("/private/api"))
        .header("accept", "application/json")
        .header("authorization", "Bearer not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "{kind:?}: a bad bearer token");
}

/// The per-route policy (docs/policy.md) on the original request the front proxy describes,
/// and the signed identity assertion (docs/identity-assertion.md) at the app.
async fn policy_and_assertion(kind: Kind) {
    let dir = front::runtime_dir("policy-config");
    let config = dir.join("authproxy.cfg");
    std::fs::write(
        &config,
        "[authproxy_policy]\ndefault = \"deny\"\n\
         [[authproxy_policy.rules]]\nname = \"admin\"\npath = \"/admin\"\nallow = { groups = [\"admins\"] }\n\
         [[authproxy_policy.rules]]\nname = \"private-read\"\npath = \"/private\"\nmethods = [\"GET\"]\nallow = { signed_in = true }\n",
    )
    .unwrap();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/assertion-es256.pem"
    );
    let setup = start(kind, |c| {
        c.set("config", config.to_str().unwrap())
            .enable("pass-identity-assertion")
            .set("identity-assertion-key-file", key)
    })
    .await;
    let front = &setup.front;
    let login = Login::new("erin").groups(&["devs"]);
    let browser = Browser::new();
    let first = browser
        .client()
        .get(front.url("/private/page"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let authorize = front::to_idp(&browser, first, setup.idp.issuer()).await;
    let callback = idp::authorize(&browser, &authorize, &login).await;
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 302, "{kind:?}: callback");

    let resp = browser
        .client()
        .get(front.url("/private/page"))
        .header("x-authproxy-jwt-assertion", FORGED)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{kind:?}: allowed by private-read");
    let echo: EchoReply = resp.json().await.unwrap();
    let token = echo
        .header("x-authproxy-jwt-assertion")
        .unwrap_or_else(|| panic!("{kind:?}: no assertion at the app: {:?}", echo.headers));
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["email"], login.email().as_str(), "{kind:?}");
    assert_not_forged(&echo);

    let hits = setup.app.hits();
    for (method, path) in [
        ("GET", "/admin/x"),
        ("POST", "/private/page"),
        ("GET", "/other"),
    ] {
        let resp = browser
            .client()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                front.url(path),
            )
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{kind:?}: {method} {path}");
    }
    assert_eq!(
        setup.app.hits(),
        hits,
        "{kind:?}: a refused request reached the app"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_policy_and_assertion() {
    policy_and_assertion(Kind::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_forward_auth_policy_and_assertion() {
    policy_and_assertion(Kind::Traefik).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_grpc_ext_authz_policy_and_assertion() {
    policy_and_assertion(Kind::EnvoyGrpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_http_ext_authz_policy_and_assertion() {
    policy_and_assertion(Kind::EnvoyHttp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_login_identity_and_api() {
    login_identity_and_api(Kind::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_skip_route_and_bearer_jwt() {
    skip_route_and_bearer(Kind::Nginx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_forward_auth_login_identity_and_api() {
    login_identity_and_api(Kind::Traefik).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_forward_auth_skip_route_and_bearer_jwt() {
    skip_route_and_bearer(Kind::Traefik).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_grpc_ext_authz_login_identity_and_api() {
    login_identity_and_api(Kind::EnvoyGrpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_grpc_ext_authz_skip_route_and_bearer_jwt() {
    skip_route_and_bearer(Kind::EnvoyGrpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_http_ext_authz_login_identity_and_api() {
    login_identity_and_api(Kind::EnvoyHttp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_http_ext_authz_skip_route_and_bearer_jwt() {
    skip_route_and_bearer(Kind::EnvoyHttp).await;
}
