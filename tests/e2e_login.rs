//! End to end: the browser login flow through authproxy against the real oidc-provider IdP,
//! every hop asserted, and what the app, `/oauth2/userinfo` and `/oauth2/auth` then see.

mod support;

use serde_json::Value;
use support::idp::{self, IdpConfig, Login};
use support::{
    content_type, header_groups, is_no_cache, location, session_set_cookie, set_cookies, Browser,
    EchoReply, Stack, CLIENT_ID, COOKIE_NAME, POST_CLIENT_ID, POST_CLIENT_SECRET,
};
use url::Url;

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The proxy's own cookies must never reach the app.
fn assert_no_proxy_cookies(echo: &EchoReply) {
    let leaked: Vec<String> = echo
        .cookie_names()
        .into_iter()
        .filter(|n| n.starts_with(COOKIE_NAME))
        .collect();
    assert!(
        leaked.is_empty(),
        "proxy cookies reached the app: {leaked:?}"
    );
}

fn assert_user(echo: &EchoReply, header: &str, login: &Login) {
    let user = echo
        .header(header)
        .unwrap_or_else(|| panic!("{header} missing"));
    assert!(
        user == login.username || user == login.email(),
        "{header} is {user:?}, expected {} (sub) or {} (email)",
        login.username,
        login.email()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_request_gets_the_sign_in_page_or_json_401() {
    let stack = Stack::start().await;
    let browser = Browser::new();

    let resp = browser.get(&stack.proxy.url("/private/page?x=1")).await;
    assert_eq!(
        resp.status(),
        403,
        "oauth2-proxy answers 403 with the sign-in page"
    );
    assert_eq!(content_type(&resp), "text/html");
    assert!(is_no_cache(&resp), "auth pages must not be cached");
    assert!(session_set_cookie(&resp).is_none());
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("/oauth2/start"),
        "sign-in page links to start: {page}"
    );

    let resp = browser.get_json(&stack.proxy.url("/private/page")).await;
    assert_eq!(resp.status(), 401, "API clients get 401");
    assert_eq!(content_type(&resp), "application/json");
    let body = resp.text().await.unwrap();
    if !body.trim().is_empty() {
        serde_json::from_str::<Value>(&body).expect("the 401 body is JSON");
    }

    assert_eq!(stack.app.hits(), 0, "nothing reached the app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_ready_robots_and_sign_in_answer_without_a_session() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    assert_eq!(browser.get(&stack.proxy.url("/ping")).await.status(), 200);
    assert_eq!(browser.get(&stack.proxy.url("/ready")).await.status(), 200);
    let resp = browser.get(&stack.proxy.url("/robots.txt")).await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains("Disallow: /"), "{body}");
    let resp = browser.get(&stack.proxy.url("/oauth2/sign_in")).await;
    assert_eq!(
        resp.status(),
        200,
        "the sign-in page itself is not an error"
    );
    assert_eq!(content_type(&resp), "text/html");
    assert!(is_no_cache(&resp));
    assert_eq!(stack.app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_login_flow_asserts_every_hop_and_injects_identity() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    let login = Login::new("alice").groups(&["admins", "devs"]);
    let path = "/private/page?x=1&y=two";

    // 1. Protected page without a session: the sign-in page.
    let resp = browser.get(&stack.proxy.url(path)).await;
    assert_eq!(resp.status(), 403);

    // 2. Start: a CSRF cookie and a 302 to the IdP with state, nonce and PKCE S256.
    let resp = browser
        .get(
            &stack
                .proxy
                .url(&format!("/oauth2/start?rd={}", support::encode(path))),
        )
        .await;
    assert_eq!(resp.status(), 302);
    let csrf: Vec<_> = set_cookies(&resp)
        .into_iter()
        .filter(|c| c.name().starts_with(COOKIE_NAME) && c.name().contains("csrf"))
        .collect();
    assert_eq!(csrf.len(), 1, "one CSRF cookie is set at start");
    assert_eq!(csrf[0].http_only(), Some(true), "CSRF cookie is HttpOnly");
    assert!(csrf[0].secure() != Some(true), "cookie_secure=false");
    let authorize = location(&resp);
    assert_eq!(
        format!(
            "{}{}",
            authorize.origin().ascii_serialization(),
            authorize.path()
        ),
        stack.idp.url("/auth"),
        "start redirects to the discovered authorization endpoint"
    );
    assert_eq!(query(&authorize, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query(&authorize, "redirect_uri"),
        Some(stack.proxy.url("/oauth2/callback"))
    );
    let scope = query(&authorize, "scope").unwrap_or_default();
    assert!(scope.split(' ').any(|s| s == "openid"), "scope {scope:?}");
    let state = query(&authorize, "state").expect("state");
    assert!(state.len() >= 22, "state carries enough entropy: {state:?}");
    let nonce = query(&authorize, "nonce").expect("nonce");
    assert!(nonce.len() >= 22, "nonce carries enough entropy: {nonce:?}");
    let challenge = query(&authorize, "code_challenge").expect("PKCE code_challenge");
    assert_eq!(challenge.len(), 43, "S256 challenge is 32 bytes base64url");
    assert_eq!(
        query(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );

    // 3. Login + consent at the IdP, which sends the browser to the proxy callback.
    let callback = idp::authorize(&browser, &authorize, &login).await;
    assert_eq!(
        format!(
            "{}{}",
            callback.origin().ascii_serialization(),
            callback.path()
        ),
        stack.proxy.url("/oauth2/callback")
    );
    assert_eq!(query(&callback, "state"), Some(state));
    assert!(query(&callback, "code").is_some());
    assert_eq!(
        stack.idp.stats().await.token_requests,
        0,
        "no redemption yet"
    );

    // 4. Callback: code redeemed once, 302 back to the original URL with the session cookie.
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(location(&resp).as_str(), stack.proxy.url(path));
    let session = session_set_cookie(&resp).expect("session cookie set at callback");
    assert_eq!(
        session.http_only(),
        Some(true),
        "session cookie is HttpOnly"
    );
    assert_eq!(
        session.same_site(),
        Some(cookie::SameSite::Lax),
        "--cookie-samesite=lax"
    );
    assert_eq!(session.path(), Some("/"));
    assert!(
        session.secure() != Some(true),
        "no Secure with cookie_secure=false"
    );
    assert!(
        session.max_age().is_some() || session.expires_datetime().is_some(),
        "session cookie is persistent (cookie_expire)"
    );
    let value = session.value().to_string();
    assert!(!value.contains("alice"), "the cookie value is encrypted");
    let stats = stack.idp.stats().await;
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.grants.authorization_code, 1);

    // 5. The original request reaches the app with the identity headers; spoofed copies and the
    //    proxy's cookies do not, other cookies do.
    browser.jar().set("app_pref", "dark");
    let resp = browser
        .request(reqwest::Method::GET, &stack.proxy.url(path))
        .header("X-Forwarded-Email", "mallory@evil.example")
        .header("X_Forwarded_Email", "mallory@evil.example")
        .header("x-forwarded-user", "mallory")
        .header("X-Forwarded-Groups", "root")
        .header("X-Forwarded-Preferred-Username", "mallory")
        .header("X-Forwarded-Access-Token", "forged")
        .header("X-Auth-Request-Email", "mallory@evil.example")
        .header("X-Auth-Request-User", "mallory")
        .header("X-Auth-Request-Access-Token", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for leaked in ["x-forwarded-access-token", "x-auth-request-access-token"] {
        assert!(
            !resp.headers().contains_key(leaked),
            "access token sent to the browser in {leaked}"
        );
    }
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.path, path);
    assert_eq!(echo.method, "GET");
    assert_user(&echo, "x-forwarded-user", &login);
    assert_eq!(echo.header("x-forwarded-email"), Some("alice@example.com"));
    assert_eq!(echo.header("x-forwarded-preferred-username"), Some("alice"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        ["admins", "devs"]
    );
    assert_user(&echo, "x-auth-request-user", &login);
    assert_eq!(
        echo.header("x-auth-request-email"),
        Some("alice@example.com")
    );
    assert_eq!(
        echo.header("x-auth-request-preferred-username"),
        Some("alice")
    );
    let token = echo
        .header("x-forwarded-access-token")
        .expect("pass_access_token");
    assert_ne!(token, "forged");
    assert_eq!(echo.header("x-auth-request-access-token"), Some(token));
    assert!(
        !echo.headers.contains_key("x_forwarded_email"),
        "underscore variant stripped: {:?}",
        echo.headers
    );
    assert_no_proxy_cookies(&echo);
    assert!(
        echo.cookie_names().iter().any(|n| n == "app_pref"),
        "the app's own cookies pass through: {:?}",
        echo.cookie_names()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_provider_button_redirects_straight_to_the_idp() {
    let stack = Stack::start_with(IdpConfig::default(), |c| c.enable("skip-provider-button")).await;
    let browser = Browser::new();
    let resp = browser.get(&stack.proxy.url("/deep/link?q=1")).await;
    assert_eq!(resp.status(), 302);
    let authorize = location(&resp);
    assert!(
        authorize.as_str().starts_with(&stack.idp.url("/auth")),
        "{authorize}"
    );
    let login = Login::new("bob");
    let callback = idp::authorize(&browser, &authorize, &login).await;
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(location(&resp).as_str(), stack.proxy.url("/deep/link?q=1"));
    let resp = browser.get(&stack.proxy.url("/deep/link?q=1")).await;
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.header("x-forwarded-email"), Some("bob@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_returns_the_session_identity_as_json() {
    let stack = Stack::start().await;
    let browser = Browser::new();

    let resp = browser.get(&stack.proxy.url("/oauth2/userinfo")).await;
    assert_eq!(resp.status(), 401, "no session");

    let login = Login::new("carol").groups(&["ops"]);
    stack.sign_in(&browser, "/", &login).await;
    let resp = browser.get(&stack.proxy.url("/oauth2/userinfo")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/json");
    let info: Value = resp.json().await.unwrap();
    assert_eq!(info["email"], "carol@example.com");
    assert_eq!(info["preferredUsername"], "carol");
    if !info["user"].is_null() {
        let user = info["user"].as_str().unwrap();
        assert!(user == "carol" || user == "carol@example.com", "{info}");
    }
    if !info["groups"].is_null() {
        assert_eq!(info["groups"], serde_json::json!(["ops"]));
    }
    assert!(
        info.get("accessToken").is_none() && info.get("access_token").is_none(),
        "userinfo never reveals tokens: {info}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_endpoint_answers_202_with_identity_headers_and_401_without_a_session() {
    let stack = Stack::start().await;
    let browser = Browser::new();

    let resp = browser.get(&stack.proxy.url("/oauth2/auth")).await;
    assert_eq!(resp.status(), 401);
    assert!(session_set_cookie(&resp).is_none());

    let login = Login::new("dave").groups(&["admins"]);
    stack.sign_in(&browser, "/", &login).await;
    let hits = stack.app.hits();
    let resp = browser.get(&stack.proxy.url("/oauth2/auth")).await;
    assert_eq!(resp.status(), 202);
    let headers = resp.headers();
    let user = headers
        .get("x-auth-request-user")
        .and_then(|v| v.to_str().ok())
        .expect("X-Auth-Request-User");
    assert!(user == "dave" || user == "dave@example.com", "{user}");
    assert_eq!(
        headers.get("x-auth-request-email").unwrap(),
        "dave@example.com"
    );
    assert_eq!(
        headers.get("x-auth-request-preferred-username").unwrap(),
        "dave"
    );
    assert!(
        headers.contains_key("x-auth-request-access-token"),
        "set_xauthrequest + pass_access_token"
    );
    assert_eq!(stack.app.hits(), hits, "/oauth2/auth never proxies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_post_client_signs_in() {
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("client-id", POST_CLIENT_ID)
            .set("client-secret", POST_CLIENT_SECRET)
    })
    .await;
    let browser = Browser::new();
    let echo = stack.sign_in(&browser, "/post", &Login::new("erin")).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("erin@example.com"));
    let stats = stack.idp.stats().await;
    assert_eq!(stats.grants.authorization_code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_signed_id_tokens_are_accepted() {
    let idp = IdpConfig {
        id_token_alg: "ES256".to_string(),
        ..IdpConfig::default()
    };
    let stack = Stack::start_with(idp, |c| c).await;
    let echo = stack
        .sign_in(&Browser::new(), "/", &Login::new("frank"))
        .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("frank@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_and_environment_configure_the_proxy() {
    // As the Kubernetes sidecar deployment does it: an oauth2-proxy TOML config file, the secret from the environment.
    let app = support::EchoApp::start().await;
    let port = support::free_port();
    let idp = support::Idp::start(IdpConfig::default().redirect_to_proxy(port)).await;
    let file = support::log_dir().join(format!("config-{port}.toml"));
    std::fs::write(
        &file,
        format!(
            r#"http_address = "127.0.0.1:{port}"
provider = "oidc"
oidc_issuer_url = "{issuer}"
client_id = "{CLIENT_ID}"
redirect_url = "http://127.0.0.1:{port}/oauth2/callback"
upstreams = ["{app}"]
email_domains = ["*"]
cookie_secure = false
cookie_name = "_from_file"
pass_user_headers = true
"#,
            issuer = idp.issuer(),
            app = app.url(),
        ),
    )
    .unwrap();
    let config = support::ProxyConfig::bare(port)
        .set("config", file.to_str().unwrap())
        .env("OAUTH2_PROXY_CLIENT_SECRET", support::CLIENT_SECRET)
        .env("OAUTH2_PROXY_COOKIE_SECRET", support::COOKIE_SECRET)
        .env("OAUTH2_PROXY_COOKIE_NAME", "_from_env");
    let proxy = support::Proxy::start(config).await;
    let stack = Stack { idp, app, proxy };
    let browser = Browser::new();
    let back = stack
        .complete_login(&browser, "/cfg", &Login::new("gina"))
        .await;
    assert!(
        browser.jar().get("_from_env").is_some(),
        "env beats the file: cookies {:?}",
        browser.jar().names()
    );
    let resp = browser.get(back.as_str()).await;
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.header("x-forwarded-email"), Some("gina@example.com"));
    assert!(!echo
        .cookie_names()
        .iter()
        .any(|n| n.starts_with("_from_env")));
}
