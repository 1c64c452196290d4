//! `provider = "keycloak-oidc"` end to end against the REAL oidc-provider (tests/idp), which
//! emits Keycloak-shaped claims for the registered Keycloak client: `realm_access.roles`,
//! `resource_access.<client>.roles` and `groups`. Roles and groups are chosen on the IdP's
//! login form; the proxy's allowed_roles and keycloak_groups decide.

mod support;

use support::{header_groups, session_set_cookie, Browser, IdpConfig, Login, ProxyConfig, Stack};

const KC_CLIENT: &str = "authproxy-keycloak";
const KC_SECRET: &str = "authproxy-keycloak-secret";

/// A stack whose IdP speaks Keycloak to [`KC_CLIENT`] and whose proxy is keycloak-oidc.
async fn keycloak_stack(configure: impl FnOnce(ProxyConfig) -> ProxyConfig) -> Stack {
    Stack::start_with(IdpConfig::default().keycloak(KC_CLIENT, KC_SECRET), |c| {
        configure(
            c.set("provider", "keycloak-oidc")
                .set("client-id", KC_CLIENT)
                .set("client-secret", KC_SECRET),
        )
    })
    .await
}

/// Signs `login` in up to the proxy callback and returns the callback's response.
async fn callback(stack: &Stack, login: &Login) -> reqwest::Response {
    let browser = Browser::new();
    let url = stack.callback_url(&browser, "/hello", login).await;
    browser.get(url.as_str()).await
}

/// The callback refused the user with the 403 page and issued no session.
async fn assert_denied(resp: reqwest::Response) {
    assert_eq!(resp.status(), 403);
    assert!(session_set_cookie(&resp).is_none(), "no session");
    let body = resp.text().await.unwrap();
    assert!(body.contains("Access denied"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_an_allowed_client_role_reaches_the_app_with_roles_as_groups() {
    let stack = keycloak_stack(|c| {
        c.set("allowed-role", &format!("{KC_CLIENT}:editor"))
            .add("allowed-role", "auditor")
    })
    .await;
    let login = Login::new("kim")
        .groups(&["/staff"])
        .realm_roles(&["offline_access", "admin"])
        .client_roles(&["editor", "billing:viewer"]);
    let echo = stack.sign_in(&Browser::new(), "/hello", &login).await;
    assert_eq!(echo.header("x-forwarded-email"), Some("kim@example.com"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec![
            "/staff",
            "role:offline_access",
            "role:admin",
            // resource_access is an object: clients in the IdP's key order.
            &format!("role:{KC_CLIENT}:editor"),
            "role:billing:viewer",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realm_role_alone_is_enough_when_it_is_allowed() {
    let stack = keycloak_stack(|c| c.set("allowed-role", "auditor")).await;
    let echo = stack
        .sign_in(
            &Browser::new(),
            "/hello",
            &Login::new("ada").realm_roles(&["auditor"]),
        )
        .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("ada@example.com"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["role:auditor"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_the_role_gets_the_403_page() {
    let stack = keycloak_stack(|c| c.set("allowed-role", &format!("{KC_CLIENT}:editor"))).await;
    // A realm role of the same name, or the role on another client, is not the client role.
    let login = Login::new("lee")
        .realm_roles(&["editor"])
        .client_roles(&["billing:editor", "viewer"]);
    assert_denied(callback(&stack, &login).await).await;
    assert_eq!(stack.app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_groups_restrict_who_signs_in() {
    let stack = keycloak_stack(|c| c.set("keycloak-group", "/staff")).await;
    let echo = stack
        .sign_in(
            &Browser::new(),
            "/hello",
            &Login::new("sam").groups(&["/staff", "/staff/ops"]),
        )
        .await;
    assert_eq!(echo.header("x-forwarded-email"), Some("sam@example.com"));
    assert_eq!(
        header_groups(&echo, "x-forwarded-groups"),
        vec!["/staff", "/staff/ops"]
    );
    // Roles do not stand in for the group, nor does a group of another path.
    let login = Login::new("vic")
        .groups(&["/guests"])
        .realm_roles(&["admin"]);
    assert_denied(callback(&stack, &login).await).await;
    assert_eq!(stack.app.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_or_groups_each_let_a_user_in_when_both_are_configured() {
    let stack = keycloak_stack(|c| {
        c.set("allowed-role", "admin")
            .set("keycloak-group", "/staff")
    })
    .await;
    for login in [
        Login::new("rob").realm_roles(&["admin"]),
        Login::new("gia").groups(&["/staff"]),
    ] {
        let echo = stack.sign_in(&Browser::new(), "/hello", &login).await;
        assert_eq!(
            echo.header("x-forwarded-email").map(str::to_owned),
            Some(login.email())
        );
    }
    assert_denied(callback(&stack, &Login::new("zed").groups(&["/guests"])).await).await;
}
