//! Provider tests against the local fakes of GitHub, Google, Microsoft and GitLab
//! (tests/fakes), and an RS256 OIDC fake shaped as Keycloak.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::tests::provider_config;
use super::*;
use crate::config::ProviderConfig;
use crate::crypto::Secret;

#[path = "../../tests/fakes/mod.rs"]
mod fakes;

use fakes::github::{GhUser, GithubFake, OWNER_TOKEN};
use fakes::gitlab::gitlab_fake;
use fakes::google::{google_fake, service_account_file};
use fakes::oidc::OidcFake;
use fakes::server::Resp;

const REDIRECT: &str = "http://127.0.0.1:1/oauth2/callback";

fn now() -> SystemTime {
    SystemTime::now()
}

fn denied_rule(r: Result<Identity, ProviderError>) -> &'static str {
    match r {
        Err(ProviderError::Denied { rule, .. }) => rule,
        other => panic!("expected a denial, got {other:?}"),
    }
}

// ---------- GitHub ----------

fn github_config(fake: &GithubFake) -> ProviderConfig {
    let mut cfg = provider_config("http://127.0.0.1:9");
    cfg.kind = "github".into();
    cfg.oidc_issuer_url = None;
    cfg.scope = String::new();
    cfg.client_id = fakes::github::CLIENT_ID.into();
    cfg.client_secret = Secret::new(fakes::github::CLIENT_SECRET);
    cfg.login_url =
        Some(url::Url::parse(&format!("{}/login/oauth/authorize", fake.base())).unwrap());
    cfg.redeem_url =
        Some(url::Url::parse(&format!("{}/login/oauth/access_token", fake.base())).unwrap());
    cfg.validate_url = Some(url::Url::parse(&fake.api_url()).unwrap());
    cfg
}

async fn github_fake() -> GithubFake {
    let fake = GithubFake::start().await;
    let mut alice = GhUser::new("alice", 1);
    alice.orgs = vec!["oss".into(), "tools".into(), "acme".into()];
    alice.teams = vec![
        ("oss".into(), "docs".into()),
        ("tools".into(), "ci".into()),
        ("acme".into(), "ops".into()),
    ];
    alice.repos.insert("acme/app".into(), (false, true, true));
    alice
        .repos
        .insert("acme/public".into(), (false, true, false));
    alice
        .repos
        .insert("acme/secret".into(), (true, true, false));
    fake.add_user(alice);
    let mut bob = GhUser::new("bob", 2);
    bob.emails = vec![
        ("bob@example.com".into(), true, false),
        ("bob@old.example".into(), false, true),
    ];
    fake.add_user(bob);
    fake.add_user(GhUser::new("carol", 3));
    fake.state
        .lock()
        .unwrap()
        .collaborators
        .insert("acme/app".into(), vec!["carol".into()]);
    fake
}

async fn github_login(
    fake: &GithubFake,
    cfg: &ProviderConfig,
    login: &str,
) -> Result<Identity, ProviderError> {
    let p = GithubProvider::new(cfg)?;
    let code = fake.code_for(login);
    p.redeem(&code, REDIRECT, None, None, now()).await
}

#[tokio::test]
async fn github_login_reads_email_orgs_and_teams_across_pages() {
    let fake = github_fake().await;
    let mut cfg = github_config(&fake);
    cfg.github.org = "acme".into();
    cfg.github.team = "ops".into();
    let id = github_login(&fake, &cfg, "alice").await.unwrap();
    assert_eq!(id.claims.user, "alice");
    assert_eq!(id.claims.email, "alice@example.com");
    assert_eq!(id.claims.subject, "1");
    assert_eq!(
        id.claims.groups,
        vec!["oss", "tools", "acme", "oss:docs", "tools:ci", "acme:ops"]
    );
    assert!(id.tokens.id_token.is_none());
    assert!(id.tokens.refresh_token.is_none());
    let paths = fake.server.paths();
    // Three orgs at two per page: the Link header's next page was followed.
    assert_eq!(
        paths.iter().filter(|p| *p == "/api/v3/user/orgs").count(),
        2
    );
    assert_eq!(
        paths.iter().filter(|p| *p == "/api/v3/user/teams").count(),
        2
    );
    let token_req = fake.server.requests.lock().unwrap()[0].clone();
    assert_eq!(
        token_req.headers.get("accept").map(String::as_str),
        Some("application/json")
    );
}

#[tokio::test]
async fn github_restrictions_deny_with_the_rule_that_failed() {
    let fake = github_fake().await;
    type Case = (fn(&mut ProviderConfig), &'static str, Option<&'static str>);
    let cases: Vec<Case> = vec![
        (
            |c| c.github.org = "other".into(),
            "alice",
            Some("github_org"),
        ),
        (
            |c| {
                c.github.org = "acme".into();
                c.github.team = "devs".into();
            },
            "alice",
            Some("github_team"),
        ),
        (
            |c| c.github.team = "acme:ops,tools:ci".into(),
            "alice",
            None,
        ),
        (
            |c| c.github.team = "acme:devs".into(),
            "alice",
            Some("github_team"),
        ),
        (|c| c.github.repo = "acme/app".into(), "alice", None),
        // Public repo: pull alone is not enough (oauth2-proxy: push required).
        (
            |c| c.github.repo = "acme/public".into(),
            "alice",
            Some("github_repo"),
        ),
        (|c| c.github.repo = "acme/secret".into(), "alice", None),
        (
            |c| c.github.repo = "acme/missing".into(),
            "alice",
            Some("github_repo"),
        ),
        (
            |c| {
                c.github.repo = "acme/app".into();
                c.github.token = Secret::new(OWNER_TOKEN);
            },
            "carol",
            None,
        ),
        (
            |c| {
                c.github.repo = "acme/app".into();
                c.github.token = Secret::new(OWNER_TOKEN);
            },
            "alice",
            Some("github_repo"),
        ),
        (
            |c| c.github.users = vec!["carol".into()],
            "alice",
            Some("github_user"),
        ),
        (|c| c.github.users = vec!["carol".into()], "carol", None),
        (
            |c| {
                c.github.users = vec!["carol".into()];
                c.github.org = "acme".into();
            },
            "carol",
            None,
        ),
    ];
    for (i, (edit, login, want)) in cases.into_iter().enumerate() {
        let mut cfg = github_config(&fake);
        edit(&mut cfg);
        let r = github_login(&fake, &cfg, login).await;
        match want {
            None => assert!(r.is_ok(), "case {i}: {r:?}"),
            Some(rule) => assert_eq!(denied_rule(r), rule, "case {i}"),
        }
    }
}

#[tokio::test]
async fn github_refuses_an_unverified_primary_email() {
    let fake = github_fake().await;
    let r = github_login(&fake, &github_config(&fake), "bob").await;
    assert!(
        matches!(r, Err(ProviderError::UnverifiedEmail { ref email }) if email == "bob@example.com"),
        "{r:?}"
    );
}

#[tokio::test]
async fn github_bad_code_is_the_oauth_error_github_sends_with_200() {
    let fake = github_fake().await;
    let p = GithubProvider::new(&github_config(&fake)).unwrap();
    let r = p.redeem("nope", REDIRECT, None, None, now()).await;
    match r {
        Err(e) => assert_eq!(e.idp_error().map(|(e, _)| e), Some("bad_verification_code")),
        Ok(_) => panic!("a bad code signed in"),
    }
}

#[tokio::test]
async fn github_session_validation_fails_once_the_token_is_revoked() {
    let fake = github_fake().await;
    let cfg = github_config(&fake);
    let p = GithubProvider::new(&cfg).unwrap();
    assert!(p.validates_sessions());
    let id = p
        .redeem(&fake.code_for("alice"), REDIRECT, None, None, now())
        .await
        .unwrap();
    p.validate_session(&id.tokens.access_token, now())
        .await
        .unwrap();
    fake.revoke("alice");
    match p.validate_session(&id.tokens.access_token, now()).await {
        Err(ProviderError::Idp {
            error, description, ..
        }) => {
            assert_eq!(error, "HTTP 401");
            assert_eq!(description.as_deref(), Some("Bad credentials"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn github_api_errors_and_timeouts_fail_the_login() {
    let fake = github_fake().await;
    let cfg = github_config(&fake);
    fake.state.lock().unwrap().api_status = Some(502);
    let r = github_login(&fake, &cfg, "alice").await;
    assert!(
        matches!(r, Err(ProviderError::HttpStatus { status: 502, .. })),
        "{r:?}"
    );
    {
        let mut s = fake.state.lock().unwrap();
        s.api_status = None;
        s.api_delay = Some(Duration::from_secs(2));
    }
    let p = GithubProvider::new(&cfg)
        .unwrap()
        .with_request_timeout(&cfg, Duration::from_millis(300))
        .unwrap();
    let r = p
        .redeem(&fake.code_for("alice"), REDIRECT, None, None, now())
        .await;
    assert!(matches!(r, Err(ProviderError::Timeout { .. })), "{r:?}");
    assert!(r.unwrap_err().is_transient());
}

#[tokio::test]
async fn github_provider_keeps_the_alpha_config_id() {
    let fake = github_fake().await;
    let mut cfg = github_config(&fake);
    cfg.id = String::new();
    // Legacy options without an id: oauth2-proxy's `github=CLIENT_ID`.
    let p = GithubProvider::new(&cfg).unwrap();
    assert_eq!(p.id(), format!("github={}", fakes::github::CLIENT_ID));
    // An alpha-config entry's id is what /oauth2/start?provider= and the session name.
    cfg.id = "gh".into();
    assert_eq!(GithubProvider::new(&cfg).unwrap().id(), "gh");
}

#[tokio::test]
async fn github_authorize_url_carries_the_default_scope() {
    let fake = github_fake().await;
    let p = GithubProvider::new(&github_config(&fake)).unwrap();
    let u = p
        .authorize_url(&AuthorizeParams {
            redirect_uri: REDIRECT,
            state: "st",
            nonce: "n",
            code_challenge: None,
            prompt: None,
            acr_values: None,
        })
        .unwrap();
    let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "user:email read:org");
    assert_eq!(q["client_id"], fakes::github::CLIENT_ID);
    assert_eq!(q["state"], "st");
    assert!(u
        .as_str()
        .starts_with(&format!("{}/login/oauth/authorize?", fake.base())));
}

// ---------- OIDC-based providers ----------

fn oidc_config(kind: &str, issuer: &str) -> ProviderConfig {
    let mut cfg = provider_config(issuer);
    cfg.kind = kind.into();
    cfg.client_id = fakes::oidc::CLIENT_ID.into();
    cfg.client_secret = Secret::new(fakes::oidc::CLIENT_SECRET);
    cfg
}

async fn login(p: &dyn Provider, fake: &OidcFake, user: &str) -> Result<Identity, ProviderError> {
    p.discover().await?;
    let code = fake.code_for(user, Some("nonce-1"));
    p.redeem(&code, REDIRECT, None, Some("nonce-1"), now())
        .await
}

#[tokio::test]
async fn google_checks_the_hosted_domain_and_reads_groups_from_the_directory() {
    let fake = google_fake().await;
    let mut cfg = oidc_config("google", &fake.issuer);
    cfg.google.hosted_domains = vec!["corp.example".into()];
    cfg.google.groups = vec!["admins@corp.example".into()];
    cfg.google.admin_email = "admin@corp.example".into();
    cfg.google.service_account_json = Some(service_account_file(&fake));
    cfg.google.admin_api_url = Some(url::Url::parse(&fake.base()).unwrap());
    let p = GoogleProvider::new(&cfg).unwrap();
    let id = login(&p, &fake, "ann").await.unwrap();
    assert_eq!(id.claims.email, "ann@corp.example");
    assert_eq!(
        id.claims.groups,
        vec![
            "all@corp.example",
            "eng@corp.example",
            "admins@corp.example"
        ]
    );
    // Signed in from another Google account without hd: refused.
    assert_eq!(denied_rule(login(&p, &fake, "pat").await), "email_domains");
    assert_eq!(denied_rule(login(&p, &fake, "gus").await), "email_domains");
    assert!(matches!(
        login(&p, &fake, "una").await,
        Err(ProviderError::UnverifiedEmail { .. })
    ));
    // In the domain but not in the group.
    assert_eq!(denied_rule(login(&p, &fake, "ned").await), "google_group");
    // The authorization URL asks for offline access and hints the domain.
    let u = p
        .authorize_url(&AuthorizeParams {
            redirect_uri: REDIRECT,
            state: "s",
            nonce: "n",
            code_challenge: None,
            prompt: None,
            acr_values: None,
        })
        .unwrap();
    let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["hd"], "corp.example");
}

#[tokio::test]
async fn google_directory_errors_fail_the_login() {
    let fake = google_fake().await;
    let mut cfg = oidc_config("google", &fake.issuer);
    cfg.google.groups = vec!["admins@corp.example".into()];
    // The fake refuses assertions for another admin: invalid_grant at the SA token endpoint.
    cfg.google.admin_email = "someone@corp.example".into();
    cfg.google.service_account_json = Some(service_account_file(&fake));
    cfg.google.admin_api_url = Some(url::Url::parse(&fake.base()).unwrap());
    let p = GoogleProvider::new(&cfg).unwrap();
    match login(&p, &fake, "ann").await {
        Err(ProviderError::Idp {
            endpoint, error, ..
        }) => {
            assert_eq!(error, "invalid_grant");
            assert_eq!(
                endpoint.to_string(),
                "Google service-account token endpoint"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    cfg.google.service_account_json = None;
    assert!(matches!(
        GoogleProvider::new(&cfg),
        Err(ProviderError::Config {
            key: "google_service_account_json",
            ..
        })
    ));
}

async fn microsoft_fake() -> OidcFake {
    let fake = OidcFake::start_with("/common/v2.0", Some("/{tenantid}/v2.0")).await;
    let base = fake.base();
    let iss = |tid: &str| format!("{base}/{tid}/v2.0");
    fake.add_user("mia", json!({"iss": iss("t-good"), "tid": "t-good", "email": "mia@contoso.example", "groups": ["g1", "g2"]}));
    fake.add_user(
        "max",
        json!({"iss": iss("t-evil"), "tid": "t-evil", "email": "max@evil.example"}),
    );
    fake.add_user("liz", json!({"iss": iss("t-good"), "tid": "t-good", "preferred_username": "liz@contoso.example",
        "_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph.windows.net/t/users/liz/getMemberObjects"}}}));
    fake.add_user(
        "sam",
        json!({"iss": iss("t-other"), "tid": "t-good", "email": "sam@contoso.example"}),
    );
    fake.add_user("eve", json!({"iss": iss("t-good"), "tid": "t-good", "email": "ceo@contoso.example", "xms_edov": false}));
    let graph_base = base.clone();
    fake.set_api(Arc::new(move |r, user| {
        if r.path != "/v1.0/me/transitiveMemberOf" {
            return None;
        }
        if user != Some("liz") {
            return Some(Resp::json(401, &json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}})));
        }
        let page = r.query.get("$skiptoken").cloned().unwrap_or_default();
        Some(if page.is_empty() {
            Resp::json(200, &json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id,displayName)",
                "value": [
                    {"@odata.type": "#microsoft.graph.group", "id": "g-1", "displayName": "Engineering"},
                    {"@odata.type": "#microsoft.graph.directoryRole", "id": "r-1", "displayName": "Global Reader"},
                ],
                "@odata.nextLink": format!("{graph_base}/v1.0/me/transitiveMemberOf?$select=id,displayName&$skiptoken=p2"),
            }))
        } else {
            Resp::json(200, &json!({"value": [{"@odata.type": "#microsoft.graph.group", "id": "g-2", "displayName": "Ops"}]}))
        })
    }));
    fake
}

fn entra_config(fake: &OidcFake) -> ProviderConfig {
    let mut cfg = oidc_config("entra-id", &format!("{}/common/v2.0", fake.base()));
    cfg.azure.allowed_tenants = vec!["t-good".into()];
    cfg.profile_url = Some(url::Url::parse(&format!("{}/v1.0/me", fake.base())).unwrap());
    cfg
}

#[tokio::test]
async fn entra_multi_tenant_checks_issuer_and_allowed_tenants() {
    let fake = microsoft_fake().await;
    let p = EntraProvider::new(&entra_config(&fake)).unwrap();
    let id = login(&p, &fake, "mia").await.unwrap();
    assert_eq!(id.claims.email, "mia@contoso.example");
    assert_eq!(id.claims.groups, vec!["g1", "g2"]);
    assert_eq!(
        denied_rule(login(&p, &fake, "max").await),
        "entra_id_allowed_tenants"
    );
    // A token whose iss is another tenant's than its tid.
    assert!(matches!(
        login(&p, &fake, "sam").await,
        Err(ProviderError::InvalidIdToken(TokenCheck::Issuer { .. }))
    ));
    assert!(matches!(
        login(&p, &fake, "eve").await,
        Err(ProviderError::UnverifiedEmail { .. })
    ));
}

#[tokio::test]
async fn entra_groups_overage_reads_graph_pages() {
    let fake = microsoft_fake().await;
    let mut cfg = entra_config(&fake);
    let p = EntraProvider::new(&cfg).unwrap();
    let id = login(&p, &fake, "liz").await.unwrap();
    assert_eq!(id.claims.email, "liz@contoso.example");
    assert_eq!(id.claims.groups, vec!["g-1", "g-2"]);
    cfg.azure.graph_group_field = "displayName".into();
    let p = EntraProvider::new(&cfg).unwrap();
    assert_eq!(
        login(&p, &fake, "liz").await.unwrap().claims.groups,
        vec!["Engineering", "Ops"]
    );
}

#[tokio::test]
async fn entra_graph_links_to_another_server_are_not_followed() {
    let fake = microsoft_fake().await;
    fake.set_api(Arc::new(|r, _| {
        (r.path == "/v1.0/me/transitiveMemberOf").then(|| {
            Resp::json(200, &json!({"value": [], "@odata.nextLink": "https://graph.evil.example/v1.0/me/transitiveMemberOf?$skiptoken=x"}))
        })
    }));
    let p = EntraProvider::new(&entra_config(&fake)).unwrap();
    match login(&p, &fake, "liz").await {
        Err(ProviderError::InvalidResponse { detail, .. }) => {
            assert!(detail.contains("another server"))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn gitlab_groups_and_projects_allow_or_deny() {
    let fake = gitlab_fake().await;
    let mut cfg = oidc_config("gitlab", &fake.issuer);
    cfg.gitlab.groups = vec!["acme/platform".into()];
    let p = GitlabProvider::new(&cfg).unwrap();
    let id = login(&p, &fake, "gil").await.unwrap();
    assert_eq!(id.claims.groups, vec!["acme", "acme/platform"]);
    assert_eq!(denied_rule(login(&p, &fake, "hal").await), "gitlab_group");
    cfg.gitlab.projects = vec!["acme/app=30".into()];
    let p = GitlabProvider::new(&cfg).unwrap();
    let id = login(&p, &fake, "hal").await.unwrap();
    assert_eq!(id.claims.groups, vec!["other", "project:acme/app"]);
    cfg.gitlab.groups.clear();
    cfg.gitlab.projects = vec!["acme/docs".into()];
    let p = GitlabProvider::new(&cfg).unwrap();
    assert_eq!(
        denied_rule(login(&p, &fake, "hal").await),
        "gitlab_projects"
    );
}

#[tokio::test]
async fn keycloak_roles_come_from_the_token_or_userinfo() {
    let fake = OidcFake::start("/realms/demo").await;
    fake.add_user(
        "kim",
        json!({"email": "kim@example.com", "email_verified": true, "groups": ["/staff"],
        "realm_access": {"roles": ["admin"]}, "resource_access": {"app": {"roles": ["editor"]}}}),
    );
    fake.add_user(
        "lee",
        json!({"email": "lee@example.com", "email_verified": true}),
    );
    fake.set_userinfo("lee", json!({"realm_access": {"roles": ["viewer"]}}));
    let mut cfg = oidc_config("keycloak-oidc", &fake.issuer);
    cfg.allowed_roles = vec!["app:editor".into()];
    let p = KeycloakProvider::new(&cfg).unwrap();
    let id = login(&p, &fake, "kim").await.unwrap();
    assert_eq!(
        id.claims.groups,
        vec!["/staff", "role:admin", "role:app:editor"]
    );
    assert_eq!(denied_rule(login(&p, &fake, "lee").await), "allowed_roles");
    cfg.allowed_roles = vec!["viewer".into()];
    let p = KeycloakProvider::new(&cfg).unwrap();
    let id = login(&p, &fake, "lee").await.unwrap();
    assert_eq!(id.claims.groups, vec!["role:viewer"]);
    cfg.allowed_roles.clear();
    cfg.keycloak.groups = vec!["/staff".into()];
    let p = KeycloakProvider::new(&cfg).unwrap();
    assert!(login(&p, &fake, "kim").await.is_ok());
    assert_eq!(
        denied_rule(login(&p, &fake, "lee").await),
        "keycloak_groups"
    );
}

#[tokio::test]
async fn oidc_based_providers_report_token_endpoint_failures() {
    let fake = gitlab_fake().await;
    let p = GitlabProvider::new(&oidc_config("gitlab", &fake.issuer)).unwrap();
    p.discover().await.unwrap();
    fake.state.lock().unwrap().token_status = Some(503);
    let r = login(&p, &fake, "gil").await;
    assert!(r.as_ref().is_err_and(|e| e.is_transient()), "{r:?}");
    // A revoked refresh token ends the session at refresh.
    fake.state.lock().unwrap().token_status = None;
    let id = login(&p, &fake, "gil").await.unwrap();
    let rt = id.tokens.refresh_token.unwrap();
    fake.revoke("gil");
    match p.refresh(&rt, now()).await {
        Err(e) => assert_eq!(e.idp_error().map(|(e, _)| e), Some("invalid_grant")),
        Ok(_) => panic!("a revoked refresh token was accepted"),
    }
}
