//! End to end: authorization after a successful IdP login: email_domains,
//! authenticated_emails_file, allowed_groups and email_verified. A denied user gets a 403 page
//! and never reaches the app.

mod support;

use support::idp::{IdpConfig, Login};
use support::{content_type, location, Browser, ProxyConfig, Stack};

/// Logs `login` in and follows the callback's redirect (if any) once; returns the final status.
/// Asserts that a denied login never reaches the app.
async fn login_outcome(stack: &Stack, login: &Login) -> u16 {
    let browser = Browser::new();
    let hits = stack.app.hits();
    let callback = stack.callback_url(&browser, "/area", login).await;
    let resp = browser.get(callback.as_str()).await;
    let mut status = resp.status().as_u16();
    let mut html = content_type(&resp) == "text/html";
    if status == 302 {
        let back = location(&resp);
        assert_eq!(back.as_str(), stack.proxy.url("/area"));
        let resp = browser.get(back.as_str()).await;
        status = resp.status().as_u16();
        html = content_type(&resp) == "text/html";
    }
    if status == 200 {
        assert_eq!(stack.app.hits(), hits + 1);
    } else {
        assert_eq!(stack.app.hits(), hits, "{} reached the app", login.username);
        assert!(html, "denials are HTML pages");
    }
    status
}

async fn stack_with(configure: impl FnOnce(ProxyConfig) -> ProxyConfig) -> Stack {
    Stack::start_with(IdpConfig::default(), configure).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_domains_and_authenticated_emails_file_decide_who_gets_in() {
    let file = support::log_dir().join(format!("emails-{}.txt", support::free_port()));
    std::fs::write(&file, "zoe@corp.example\n").unwrap();
    let stack = stack_with(|c| {
        c.set("email-domain", "example.com")
            .set("authenticated-emails-file", file.to_str().unwrap())
    })
    .await;
    let cases = [
        ("alice", 200),                // alice@example.com: domain allowed
        ("mallory@evil.example", 403), // other domain
        ("eve@sub.example.com", 403),  // subdomain is not the domain
        ("zoe@corp.example", 200),     // listed in the file
        ("yan@corp.example", 403),     // same domain as a listed address, not listed
    ];
    for (username, expected) in cases {
        let status = login_outcome(&stack, &Login::new(username)).await;
        assert_eq!(status, expected, "{username}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_groups_admit_members_only() {
    let stack = stack_with(|c| c.add("allowed-group", "admins").add("allowed-group", "ops")).await;
    let cases: [(&str, &[&str], u16); 4] = [
        ("frank", &["admins"], 200),
        ("gina", &["devs", "ops"], 200),
        ("erin", &["devs"], 403),
        ("henry", &[], 403),
    ];
    for (username, groups, expected) in cases {
        let status = login_outcome(&stack, &Login::new(username).groups(groups)).await;
        assert_eq!(status, expected, "{username} in {groups:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_email_is_refused() {
    let stack = Stack::start().await;
    let status = login_outcome(&stack, &Login::new("ivan").email_verified(false)).await;
    assert!(
        (400..600).contains(&status),
        "an unverified email signed in (status {status})"
    );
}
