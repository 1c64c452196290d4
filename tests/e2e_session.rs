//! End to end: what the proxy does with the session and login-transaction cookies: sign-out and
//! its redirect validation, tampered / foreign / expired cookies, wrong and replayed state at
//! the callback, an IdP error, and a session large enough to be split into chunks.

mod support;

use std::time::Duration;

use sha2::{Digest, Sha256};
use support::browser::set_cookie_lines;
use support::idp::{self, IdpConfig, Login};
use support::{
    content_type, deleted_session_cookies, header_groups, is_session_cookie_name, location,
    session_set_cookie, Browser, EchoReply, Proxy, ProxyConfig, Stack, COOKIE_NAME,
};
use url::Url;

fn with_query(url: &Url, key: &str, value: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            if k == key {
                (k.into_owned(), value.to_string())
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    let mut out = url.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn session_cookie_names(browser: &Browser) -> Vec<String> {
    browser
        .jar()
        .names()
        .into_iter()
        .filter(|n| is_session_cookie_name(n))
        .collect()
}

/// A protected request without a valid session: the sign-in page, the app untouched.
async fn assert_signed_out(stack: &Stack, browser: &Browser) {
    let hits = stack.app.hits();
    let resp = browser.get(&stack.proxy.url("/private")).await;
    assert_eq!(resp.status(), 403, "expected the sign-in page");
    assert!(session_set_cookie(&resp).is_none());
    assert_eq!(
        stack.app.hits(),
        hits,
        "the app was reached without a session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_clears_the_session_and_redirects_only_to_validated_targets() {
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.add("whitelist-domain", "127.0.0.1:*")
    })
    .await;
    let browser = Browser::new();
    let login = Login::new("alice");
    let allowed_abs = format!("http://127.0.0.1:{}/ok?a=1", stack.app.port());
    let cases: [(&str, String); 9] = [
        ("/bye?x=1", stack.proxy.url("/bye?x=1")),
        (allowed_abs.as_str(), allowed_abs.clone()),
        ("//evil.example/x", stack.proxy.url("/")),
        ("http://evil.example/", stack.proxy.url("/")),
        ("https://127.0.0.1.evil.example/", stack.proxy.url("/")),
        ("/\\evil.example", stack.proxy.url("/")),
        ("/%2F%2Fevil.example", stack.proxy.url("/")),
        ("javascript:alert(1)", stack.proxy.url("/")),
        ("http://user@evil.example@127.0.0.1/", stack.proxy.url("/")),
    ];
    for (rd, expected) in cases {
        stack.sign_in(&browser, "/", &login).await;
        assert!(!session_cookie_names(&browser).is_empty());
        let resp = browser
            .get(
                &stack
                    .proxy
                    .url(&format!("/oauth2/sign_out?rd={}", support::encode(rd))),
            )
            .await;
        assert_eq!(resp.status(), 302, "sign_out with rd={rd:?}");
        assert_eq!(location(&resp).as_str(), expected, "sign_out rd={rd:?}");
        assert!(
            deleted_session_cookies(&resp)
                .iter()
                .any(|n| n == COOKIE_NAME),
            "sign_out deletes the session cookie"
        );
        assert!(session_cookie_names(&browser).is_empty());
        assert_signed_out(&stack, &browser).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_session_cookie_is_treated_as_signed_out_and_cleared() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("bob")).await;
    let original = browser.jar().get(COOKIE_NAME).expect("session cookie");
    let parts: Vec<&str> = original.split('|').collect();
    assert_eq!(parts.len(), 3, "oauth2-proxy cookie shape value|time|mac");
    // Served once, so the verified-session cache holds it: the payload and timestamp forgeries
    // below carry its real MAC tag, which finds that entry, and must still be refused.
    let resp = browser.get(&stack.proxy.url("/private")).await;
    assert_eq!(resp.status(), 200);

    let flip = |s: &str, at: usize| -> String {
        let mut chars: Vec<char> = s.chars().collect();
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect()
    };
    let ts: u64 = parts[1].parse().expect("timestamp");
    let tampered = [
        (
            "payload",
            format!(
                "{}|{}|{}",
                flip(parts[0], parts[0].len() / 2),
                parts[1],
                parts[2]
            ),
        ),
        ("timestamp", format!("{}|{}|{}", parts[0], ts - 1, parts[2])),
        (
            "mac",
            format!("{}|{}|{}", parts[0], parts[1], flip(parts[2], 5)),
        ),
        ("truncated", original[..original.len() / 2].to_string()),
        ("garbage", "not-a-cookie".to_string()),
    ];
    for (what, value) in tampered {
        browser.jar().set(COOKIE_NAME, &value);
        let hits = stack.app.hits();
        let resp = browser.get(&stack.proxy.url("/private")).await;
        assert_eq!(
            resp.status(),
            403,
            "{what}: tampered cookie must not authenticate"
        );
        assert!(
            deleted_session_cookies(&resp)
                .iter()
                .any(|n| n == COOKIE_NAME),
            "{what}: the bad cookie is cleared"
        );
        assert_eq!(stack.app.hits(), hits, "{what}: the app was reached");
    }

    // The untouched cookie still works: the rejections above were about the tampering.
    browser.jar().set(COOKIE_NAME, &original);
    let resp = browser.get(&stack.proxy.url("/private")).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_written_with_another_secret_is_rejected() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("carol")).await;

    // A second proxy with its own secret; the browser sends it the same cookie (cookies ignore
    // ports), as it would to another app sharing a cookie domain.
    let port = support::free_port();
    let other = Proxy::start(
        ProxyConfig::new(port, stack.idp.issuer(), &stack.app.url()).set(
            "cookie-secret",
            "zXmfc0v7eUoJ3yQh1kLt8wPa2sDn6rGb4iVe9uTq5Ao=",
        ),
    )
    .await;
    let hits = stack.app.hits();
    let resp = browser.get(&other.url("/private")).await;
    assert_eq!(resp.status(), 403);
    assert!(deleted_session_cookies(&resp)
        .iter()
        .any(|n| n == COOKIE_NAME));
    assert_eq!(stack.app.hits(), hits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_cookie_is_rejected_server_side() {
    let stack = Stack::start_with(IdpConfig::default(), |c| c.set("cookie-expire", "3s")).await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("dave")).await;
    let value = browser.jar().get(COOKIE_NAME).expect("session cookie");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    // A client that ignores Max-Age keeps sending the old value.
    browser.jar().set(COOKIE_NAME, &value);
    assert_signed_out(&stack, &browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modified_state_at_callback_is_rejected_before_the_code_is_redeemed() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    let callback = stack
        .callback_url(&browser, "/x", &Login::new("erin"))
        .await;
    let state = query(&callback, "state").unwrap();
    let mut chars: Vec<char> = state.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    let forged = with_query(&callback, "state", &chars.into_iter().collect::<String>());

    let resp = browser.get(forged.as_str()).await;
    assert_eq!(resp.status(), 403, "a modified state is a CSRF failure");
    assert_eq!(content_type(&resp), "text/html");
    assert!(session_set_cookie(&resp).is_none());
    assert_eq!(
        stack.idp.stats().await.token_requests,
        0,
        "the code must not be redeemed before the state is verified"
    );
    assert_signed_out(&stack, &browser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_of_another_login_transaction_is_rejected() {
    let stack = Stack::start().await;
    // The victim started a login (and holds its CSRF cookie)…
    let victim = Browser::new();
    stack.start_login(&victim, "/victim").await;
    // …and is sent the attacker's callback URL (login CSRF).
    let attacker = Browser::new();
    let callback = stack
        .callback_url(&attacker, "/attacker", &Login::new("mallory"))
        .await;
    let resp = victim.get(callback.as_str()).await;
    assert_eq!(resp.status(), 403);
    assert!(session_set_cookie(&resp).is_none());
    assert_eq!(stack.idp.stats().await.token_requests, 0);
    assert_signed_out(&stack, &victim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_callback_is_rejected_without_redeeming_again() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    let callback = stack
        .callback_url(&browser, "/r", &Login::new("fred"))
        .await;
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(stack.idp.stats().await.token_requests, 1);

    // Same browser again: the login transaction is used up.
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 403, "a callback can be used once");
    assert!(session_set_cookie(&resp).is_none());
    // Another browser without the transaction cookie.
    let resp = Browser::new().get(callback.as_str()).await;
    assert_eq!(resp.status(), 403);
    assert!(session_set_cookie(&resp).is_none());
    assert_eq!(
        stack.idp.stats().await.token_requests,
        1,
        "no second redemption"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_access_denied_shows_an_error_page_and_creates_no_session() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    let authorize = stack.start_login(&browser, "/denied").await;
    let callback = idp::deny(&browser, &authorize).await;
    assert_eq!(query(&callback, "error").as_deref(), Some("access_denied"));
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(
        resp.status(),
        403,
        "oauth2-proxy shows 403 Permission Denied"
    );
    assert_eq!(content_type(&resp), "text/html");
    assert!(session_set_cookie(&resp).is_none());
    let page = resp.text().await.unwrap();
    assert!(!page.is_empty());
    assert_eq!(stack.idp.stats().await.token_requests, 0);
    assert_eq!(stack.app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_session_is_split_into_chunks_that_work_and_all_clear_on_sign_out() {
    let stack = Stack::start().await;
    let browser = Browser::new();
    // 150 distinct, poorly compressible group names: the session (groups + id_token) is far
    // above the 4000-byte cookie limit.
    let groups: Vec<String> = (0..150)
        .map(|i| {
            let digest = Sha256::digest(format!("group-{i}").as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("g-{}", &hex[..22])
        })
        .collect();
    let login = Login::new("gina").groups(&groups);
    let callback = stack.callback_url(&browser, "/big", &login).await;
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 302);
    for line in set_cookie_lines(&resp) {
        assert!(line.len() <= 4096, "Set-Cookie of {} bytes", line.len());
    }
    let mut chunks = session_cookie_names(&browser);
    chunks.sort();
    assert!(chunks.len() >= 2, "expected chunks, got {chunks:?}");
    assert!(
        !chunks.iter().any(|n| n == COOKIE_NAME),
        "no unsplit cookie next to the chunks: {chunks:?}"
    );
    for (i, name) in chunks.iter().enumerate() {
        assert_eq!(name, &format!("{COOKIE_NAME}_{i}"));
    }

    let resp = browser.get(&stack.proxy.url("/big")).await;
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(header_groups(&echo, "x-forwarded-groups"), groups);
    assert!(
        !echo
            .cookie_names()
            .iter()
            .any(|n| n.starts_with(COOKIE_NAME)),
        "chunks are proxy cookies too"
    );

    let resp = browser.get(&stack.proxy.url("/oauth2/sign_out")).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(location(&resp).as_str(), stack.proxy.url("/"));
    let deleted = deleted_session_cookies(&resp);
    for name in &chunks {
        assert!(deleted.contains(name), "{name} not cleared: {deleted:?}");
    }
    assert!(session_cookie_names(&browser).is_empty());
    assert_signed_out(&stack, &browser).await;
}

/// GHSA-f24x-5g9q-753f: the sign-in page starts a new login without the old session (a fixed
/// or stolen session cannot survive a visit to it), for plain and for split cookies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_page_expires_every_session_cookie_plain_or_split() {
    let stack = Stack::start().await;
    // A plain session cookie.
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("fixation")).await;
    assert_eq!(
        session_cookie_names(&browser),
        vec![COOKIE_NAME.to_string()]
    );
    let resp = browser.get(&stack.proxy.url("/oauth2/sign_in")).await;
    assert_eq!(resp.status(), 200);
    assert!(deleted_session_cookies(&resp).contains(&COOKIE_NAME.to_string()));
    assert!(session_cookie_names(&browser).is_empty());
    assert_signed_out(&stack, &browser).await;

    // A session split into chunks: every chunk is expired.
    let browser = Browser::new();
    let groups: Vec<String> = (0..150)
        .map(|i| {
            let digest = Sha256::digest(format!("fix-{i}").as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("g-{}", &hex[..22])
        })
        .collect();
    let callback = stack
        .callback_url(&browser, "/", &Login::new("fixation2").groups(&groups))
        .await;
    assert_eq!(browser.get(callback.as_str()).await.status(), 302);
    let chunks = session_cookie_names(&browser);
    assert!(chunks.len() >= 2, "expected chunks, got {chunks:?}");
    let resp = browser
        .get(&stack.proxy.url("/oauth2/sign_in?rd=/after"))
        .await;
    assert_eq!(resp.status(), 200);
    let deleted = deleted_session_cookies(&resp);
    for name in &chunks {
        assert!(deleted.contains(name), "{name} not expired: {deleted:?}");
    }
    assert!(session_cookie_names(&browser).is_empty());
    assert_signed_out(&stack, &browser).await;

    // Without any session cookie the page sets no cookie at all.
    let resp = Browser::new()
        .get(&stack.proxy.url("/oauth2/sign_in"))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        set_cookie_lines(&resp).is_empty(),
        "{:?}",
        set_cookie_lines(&resp)
    );
}

/// The same with skip_provider_button: /oauth2/sign_in goes straight to the provider, and
/// still expires the old session first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_redirect_with_skip_provider_button_also_expires_the_session() {
    let stack = Stack::start_with(IdpConfig::default(), |c| c.enable("skip-provider-button")).await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("skipper")).await;
    assert!(!session_cookie_names(&browser).is_empty());
    let resp = browser.get(&stack.proxy.url("/oauth2/sign_in")).await;
    assert_eq!(resp.status(), 302, "straight to the provider");
    assert!(deleted_session_cookies(&resp).contains(&COOKIE_NAME.to_string()));
    assert!(session_cookie_names(&browser).is_empty());
}
