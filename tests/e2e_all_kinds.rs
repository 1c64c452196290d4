//! Every one of oauth2-proxy v7's 17 provider types through the authproxy binary:
//! * `--provider=<type>` with a typical configuration passes `--check` (the providers are
//!   built exactly as at startup), and the type-specific mistakes are startup errors naming
//!   the option;
//! * several-providers mode (alpha `providers:`) with every type added since the first seven,
//!   each against its fake: the sign-in page has one branded button per provider, and a
//!   sign-in through each one reaches the app with that provider's identity.

mod fakes;
mod support;

use std::path::PathBuf;
use std::process::Command;

use fakes::bitbucket::{self, BbUser};
use fakes::oauth;
use fakes::oidc;
use fakes::oidc_kinds::{self, LOGIN_GOV_CLIENT_ID};
use fakes::{digitalocean, facebook, keycloak, linkedin, nextcloud, sourcehut};
use support::flow::{login_at, reach_app};
use support::{free_port, Browser, EchoApp, Proxy, ProxyConfig};

fn fixture(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `authproxy <common flags> <args> --check`: exit code and stderr.
fn check(args: &[String]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authproxy"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OAUTH2_PROXY_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args([
            "--cookie-secret=0123456789abcdef0123456789abcdef",
            "--email-domain=*",
            "--upstream=http://127.0.0.1:8080/",
        ])
        .args(args)
        .arg("--check")
        .output()
        .expect("run authproxy --check");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A typical configuration of each provider type (as its docs/providers.md section shows).
fn typical(kind: &str) -> Vec<String> {
    let key = fixture("logingov-client-rsa.pem");
    let mut a = vec![format!("--provider={kind}"), "--client-id=app".into()];
    if kind != "login.gov" {
        a.push("--client-secret=s3cret".into());
    }
    let extra: Vec<String> = match kind {
        "oidc" => vec!["--oidc-issuer-url=https://idp.example.com".into()],
        "github" => vec!["--github-org=acme".into(), "--github-team=ops".into()],
        "google" => vec!["--email-domain=corp.example".into()],
        "entra-id" | "azure" => {
            vec!["--azure-tenant=72f988bf-86f1-41af-91ab-2d7cd011db47".into()]
        }
        "gitlab" => vec!["--gitlab-group=acme".into()],
        "keycloak-oidc" => vec![
            "--oidc-issuer-url=https://sso.example.com/realms/corp".into(),
            "--allowed-role=admin".into(),
        ],
        "adfs" => vec![
            "--oidc-issuer-url=https://adfs.example.com/adfs".into(),
            "--resource=https://app.example.com".into(),
        ],
        "bitbucket" => vec![
            "--bitbucket-team=acme".into(),
            "--bitbucket-repository=acme/app".into(),
        ],
        "cidaas" => vec!["--oidc-issuer-url=https://acme.cidaas.de".into()],
        "digitalocean" | "facebook" | "linkedin" | "sourcehut" => vec![],
        "keycloak" => vec![
            "--login-url=https://sso.example.com/realms/corp/protocol/openid-connect/auth".into(),
            "--redeem-url=https://sso.example.com/realms/corp/protocol/openid-connect/token".into(),
            "--validate-url=https://sso.example.com/realms/corp/protocol/openid-connect/userinfo"
                .into(),
            "--keycloak-group=/staff".into(),
        ],
        "login.gov" => vec![
            format!("--jwt-key-file={}", key.display()),
            "--login-url=https://idp.int.identitysandbox.gov/openid_connect/authorize".into(),
        ],
        "nextcloud" => vec![
            "--login-url=https://cloud.example.com/index.php/apps/oauth2/authorize".into(),
            "--redeem-url=https://cloud.example.com/index.php/apps/oauth2/api/v1/token".into(),
            "--validate-url=https://cloud.example.com/ocs/v2.php/cloud/user?format=json".into(),
        ],
        other => panic!("no typical configuration for {other}"),
    };
    a.extend(extra);
    a
}

const V7_KINDS: [&str; 17] = [
    "adfs",
    "azure",
    "bitbucket",
    "cidaas",
    "digitalocean",
    "entra-id",
    "facebook",
    "github",
    "gitlab",
    "google",
    "keycloak",
    "keycloak-oidc",
    "linkedin",
    "login.gov",
    "nextcloud",
    "oidc",
    "sourcehut",
];

#[test]
fn every_v7_provider_type_starts_with_a_typical_configuration() {
    for kind in V7_KINDS {
        let (code, out) = check(&typical(kind));
        assert_eq!(code, Some(0), "--provider={kind}: {out}");
        assert!(out.contains("configuration OK"), "{kind}: {out}");
    }
}

#[test]
fn provider_type_mistakes_are_startup_errors_naming_the_option() {
    let with = |kind: &str, extra: &[&str]| {
        let mut a = typical(kind);
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let pem = std::fs::read_to_string(fixture("logingov-client-rsa.pem")).unwrap();
    for (args, want) in [
        (with("keycloak", &["--allowed-role=admin"]), "allowed_roles"),
        // v7.15.3: "cannot set both jwt-key and jwt-key-file options" (checked with the binary).
        (
            with("login.gov", &[&format!("--jwt-key={pem}")]),
            "jwt_key_file",
        ),
        (
            vec![
                "--provider=login.gov".into(),
                "--client-id=a".into(),
                "--jwt-key=not a key".into(),
            ],
            "jwt_key",
        ),
        (
            vec![
                "--provider=adfs".into(),
                "--client-id=a".into(),
                "--client-secret=b".into(),
            ],
            "oidc_issuer_url",
        ),
    ] {
        let (code, out) = check(&args);
        assert_eq!(code, Some(2), "{args:?} must be refused: {out}");
        assert!(
            out.contains(want),
            "{args:?}: the error names {want}: {out}"
        );
    }
    // Nextcloud has no default endpoints: v7.15.3 starts without them (and fails every
    // sign-in); authproxy starts too, with a warning naming login_url (never ready).
    let (code, out) = check(&[
        "--provider=nextcloud".into(),
        "--client-id=a".into(),
        "--client-secret=b".into(),
    ]);
    assert_eq!(
        code,
        Some(0),
        "nextcloud without URLs starts as in oauth2-proxy: {out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("warning") && l.contains("login_url") && l.contains("no default")),
        "nextcloud: a warning names login_url: {out}"
    );
    // oauth2-proxy v7 starts with these (another type's options are ignored): authproxy too,
    // with a warning naming the option.
    for (args, want) in [
        (with("oidc", &["--bitbucket-team=acme"]), "bitbucket_team"),
        (
            with("github", &["--authproxy-adfs-skip-scope"]),
            "authproxy_adfs_skip_scope",
        ),
    ] {
        let (code, out) = check(&args);
        assert_eq!(code, Some(0), "{args:?} starts as in oauth2-proxy: {out}");
        assert!(
            out.lines()
                .any(|l| l.contains("warning") && l.contains(want) && l.contains("ignored")),
            "{args:?}: a warning names {want}: {out}"
        );
    }
}

/// Every TOML example of docs/providers.md passes `--check` (with the files it names
/// created, and the global settings a complete configuration needs).
#[test]
fn the_provider_docs_examples_are_valid_configurations() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/providers.md"),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("authproxy-e2e-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sa_key = std::fs::read_to_string(fixture("fake-provider-rsa.pem")).unwrap();
    let mut checked = 0;
    for (i, block) in doc.split("```toml\n").skip(1).enumerate() {
        let block = &block[..block.find("```").unwrap()];
        let mut toml = block.replace("/etc/authproxy/", &format!("{}/", dir.display()));
        for line in block.lines() {
            let Some(at) = line.find("\"/etc/authproxy/") else {
                continue;
            };
            let name = line[at + "\"/etc/authproxy/".len()..].trim_end_matches('"');
            let content = if name.ends_with(".pem") {
                std::fs::read_to_string(fixture("logingov-client-rsa.pem")).unwrap()
            } else if name.ends_with(".json") {
                serde_json::json!({"type": "service_account", "client_email": "sa@acme.iam.gserviceaccount.com", "private_key": sa_key, "private_key_id": "k1", "token_uri": "https://oauth2.googleapis.com/token"}).to_string()
            } else {
                "example-secret".to_owned()
            };
            std::fs::write(dir.join(name), content).unwrap();
        }
        if !toml.contains("client_id") {
            toml.push_str("client_id = \"app\"\nclient_secret = \"s3cret\"\n");
        }
        if !toml.contains("email_domains") {
            toml.push_str("email_domains = [\"*\"]\n");
        }
        toml.push_str("cookie_secret = \"0123456789abcdef0123456789abcdef\"\nupstreams = [\"http://127.0.0.1:8080/\"]\n");
        let file = dir.join(format!("example-{i}.cfg"));
        std::fs::write(&file, &toml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_authproxy"))
            .args(["--config", file.to_str().unwrap(), "--check"])
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docs/providers.md example {i} is refused:\n{toml}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(
        checked >= 16,
        "every provider section has an example ({checked})"
    );
}

/// One alpha-config entry.
fn entry(id: &str, kind: &str, client: (&str, &str), fields: &[(&str, String)]) -> String {
    let mut e = format!(
        "  - id: {id}\n    provider: {kind}\n    clientID: {}\n",
        client.0
    );
    if !client.1.is_empty() {
        e.push_str(&format!("    clientSecret: {}\n", client.1));
    }
    for (k, v) in fields {
        e.push_str(&format!("    {k}: {v}\n"));
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_providers_of_every_new_type_one_branded_button_each() {
    let adfs = oidc_kinds::adfs().await;
    let cidaas = oidc_kinds::cidaas().await;
    let login_gov = oidc_kinds::login_gov().await;
    let bb = bitbucket::start(vec![(
        "alice",
        BbUser {
            emails: vec![("alice@example.com".into(), true, true)],
            workspaces: vec!["acme".into()],
            contributes_to: Vec::new(),
        },
    )])
    .await;
    let dig = digitalocean::start().await;
    let fb = facebook::start().await;
    let kc = keycloak::start().await;
    let li = linkedin::start().await;
    let nc = nextcloud::start().await;
    let srht = sourcehut::start().await;
    let o = (oauth::CLIENT_ID, oauth::CLIENT_SECRET);
    let oc = (oidc::CLIENT_ID, oidc::CLIENT_SECRET);
    let issuer = |f: &oidc::OidcFake| format!("\n      issuerURL: {}", f.issuer);
    let providers = [
        entry(
            "corp-adfs",
            "adfs",
            oc,
            &[
                ("ADFSConfig", "\n      skipScope: true".into()),
                ("oidcConfig", issuer(&adfs)),
            ],
        ),
        entry(
            "bb",
            "bitbucket",
            o,
            &[
                ("loginURL", bb.url("/site/oauth2/authorize")),
                ("redeemURL", bb.url("/site/oauth2/access_token")),
                ("validateURL", bb.url("/2.0/user/emails")),
                ("bitbucketConfig", "\n      team: acme".into()),
            ],
        ),
        entry("cid", "cidaas", oc, &[("oidcConfig", issuer(&cidaas))]),
        entry(
            "do",
            "digitalocean",
            o,
            &[
                ("loginURL", dig.url("/v1/oauth/authorize")),
                ("redeemURL", dig.url("/v1/oauth/token")),
                ("profileURL", dig.url("/v2/account")),
                ("validateURL", dig.url("/v2/account")),
            ],
        ),
        entry(
            "fb",
            "facebook",
            o,
            &[
                ("loginURL", fb.url("/v2.5/dialog/oauth")),
                ("redeemURL", fb.url("/v2.5/oauth/access_token")),
                ("profileURL", fb.url("/v2.5/me")),
                ("validateURL", fb.url("/v2.5/me")),
            ],
        ),
        entry(
            "kc",
            "keycloak",
            o,
            &[
                ("loginURL", keycloak::endpoint(&kc, "auth")),
                ("redeemURL", keycloak::endpoint(&kc, "token")),
                ("validateURL", keycloak::endpoint(&kc, "userinfo")),
                ("keycloakConfig", "\n      groups: [/staff]".into()),
            ],
        ),
        entry(
            "li",
            "linkedin",
            o,
            &[
                ("loginURL", li.url("/oauth/v2/authorization")),
                ("redeemURL", li.url("/uas/oauth2/accessToken")),
                ("profileURL", li.url("/v2/emailAddress")),
                ("validateURL", li.url("/v2/me")),
            ],
        ),
        entry(
            "lg",
            "login.gov",
            (LOGIN_GOV_CLIENT_ID, ""),
            &[
                (
                    "loginURL",
                    format!("{}/openid_connect/authorize", login_gov.base()),
                ),
                (
                    "loginGovConfig",
                    format!(
                        "\n      jwtKeyFile: {}\n      pubjwkURL: {}/api/openid_connect/certs",
                        fixture("logingov-client-rsa.pem").display(),
                        login_gov.base()
                    ),
                ),
            ],
        ),
        entry(
            "nc",
            "nextcloud",
            o,
            &[
                ("loginURL", nc.url("/index.php/apps/oauth2/authorize")),
                ("redeemURL", nc.url("/index.php/apps/oauth2/api/v1/token")),
                ("validateURL", nc.url("/ocs/v2.php/cloud/user?format=json")),
            ],
        ),
        entry(
            "sr",
            "sourcehut",
            o,
            &[
                ("loginURL", srht.url("/oauth2/authorize")),
                ("redeemURL", srht.url("/oauth2/access-token")),
                ("profileURL", srht.url("/query")),
            ],
        ),
    ];
    let port = free_port();
    let dir =
        std::env::temp_dir().join(format!("authproxy-e2e-kinds-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let alpha = dir.join("alpha.yaml");
    let providers = format!("providers:\n{}", providers.concat());
    let app = EchoApp::start().await;
    let proxy = Proxy::start(
        ProxyConfig::new(port, "http://unused.invalid", &app.url()).into_alpha(&providers, &alpha),
    )
    .await;
    // (id, button class, default name, authorize URL prefix, email the app sees)
    let cases = [
        (
            "corp-adfs",
            "adfs",
            "ADFS",
            format!("{}/adfs/oauth2/authorize", adfs.base()),
            "jdoe@corp.example",
        ),
        (
            "bb",
            "bitbucket",
            "Bitbucket",
            bb.url("/site/oauth2/authorize"),
            "alice@example.com",
        ),
        (
            "cid",
            "cidaas",
            "CIDAAS",
            format!("{}/authz-srv/authz", cidaas.base()),
            "cara@example.com",
        ),
        (
            "do",
            "digitalocean",
            "DigitalOcean",
            dig.url("/v1/oauth/authorize"),
            "sammy@example.com",
        ),
        (
            "fb",
            "facebook",
            "Facebook",
            fb.url("/v2.5/dialog/oauth"),
            "ann@example.com",
        ),
        (
            "kc",
            "keycloak",
            "Keycloak",
            keycloak::endpoint(&kc, "auth"),
            "kim@example.com",
        ),
        (
            "li",
            "linkedin",
            "LinkedIn",
            li.url("/oauth/v2/authorization"),
            "hsimpson@example.com",
        ),
        (
            "lg",
            "logingov",
            "login.gov",
            format!("{}/openid_connect/authorize", login_gov.base()),
            "lgu@example.gov",
        ),
        (
            "nc",
            "nextcloud",
            "Nextcloud",
            nc.url("/index.php/apps/oauth2/authorize"),
            "alice@example.com",
        ),
        (
            "sr",
            "sourcehut",
            "SourceHut",
            srht.url("/oauth2/authorize"),
            "drew@example.org",
        ),
    ];
    let page = Browser::new().get(&proxy.url("/private")).await;
    assert_eq!(page.status(), 403);
    let page = page.text().await.unwrap();
    assert_eq!(
        page.matches("class=\"btn btn-").count(),
        cases.len(),
        "{page}"
    );
    for (id, class, name, _, _) in &cases {
        let button = format!(
            "<a class=\"btn btn-{class}\" href=\"/oauth2/start?provider={id}&amp;rd=%2Fprivate\">"
        );
        assert!(page.contains(&button), "{id}: {button} in {page}");
        assert!(
            page.contains(&format!("Sign in with {name}</span>")),
            "{id}: {name}"
        );
    }
    for (id, _, _, authorize, email) in &cases {
        let browser = Browser::new();
        let (callback, sent) = login_at(&browser, &proxy, Some(id), authorize).await;
        if *id == "corp-adfs" {
            // ADFSConfig.skipScope.
            assert!(!sent.query_pairs().any(|(k, _)| k == "scope"), "{sent}");
        }
        let echo = reach_app(&browser, &proxy, callback).await;
        assert_eq!(echo.header("x-forwarded-email"), Some(*email), "{id}");
        assert_eq!(echo.header("x-forwarded-provider"), Some(*id), "{id}");
    }
    assert_eq!(app.hits(), cases.len());
}
