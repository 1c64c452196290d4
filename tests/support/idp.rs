//! The IdP: `node tests/idp/server.mjs` (the npm package `oidc-provider`), plus a driver for its
//! plain-HTML login and consent forms.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::browser::{location, Browser};
use super::html;
use super::{dump_log, free_port, log_path, STARTUP_TIMEOUT};

/// How the IdP is started.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    /// Registered redirect URIs (both clients).
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// id_token signing algorithm: RS256, PS256, ES256 or EdDSA.
    pub id_token_alg: String,
    /// Access token lifetime in seconds.
    pub access_token_ttl: u64,
    /// id_token lifetime in seconds.
    pub id_token_ttl: u64,
    /// Refresh token lifetime in seconds.
    pub refresh_token_ttl: u64,
    /// Client IDs that get Keycloak-shaped claims (`realm_access.roles`,
    /// `resource_access.<client>.roles`) from the login's roles (`IDP_KEYCLOAK_CLIENTS`).
    pub keycloak_clients: Vec<String>,
    /// An extra `client_secret_basic` client `(id, secret)` (`IDP_KEYCLOAK_CLIENT_ID/SECRET`).
    pub keycloak_client: Option<(String, String)>,
    /// A PEM private key file the IdP signs RS256 tokens with (`IDP_RSA_KEY_FILE`) instead of a
    /// fresh key, for tests that pin its public key.
    pub rsa_key_file: Option<PathBuf>,
    /// The back-channel logout URI registered for every client (`IDP_BACKCHANNEL_LOGOUT_URI`).
    pub backchannel_logout_uri: Option<String>,
}

impl Default for IdpConfig {
    fn default() -> Self {
        IdpConfig {
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            id_token_alg: "RS256".to_string(),
            access_token_ttl: 300,
            id_token_ttl: 300,
            refresh_token_ttl: 3600,
            keycloak_clients: Vec::new(),
            keycloak_client: None,
            rsa_key_file: None,
            backchannel_logout_uri: None,
        }
    }
}

impl IdpConfig {
    /// Adds the callback of a proxy on `port` to the redirect URIs.
    pub fn redirect_to_proxy(mut self, port: u16) -> Self {
        self.redirect_uris
            .push(format!("http://127.0.0.1:{port}/oauth2/callback"));
        self.post_logout_redirect_uris
            .push(format!("http://127.0.0.1:{port}/"));
        self
    }

    /// Registers the client `(id, secret)` and gives it Keycloak-shaped role claims.
    pub fn keycloak(mut self, id: &str, secret: &str) -> Self {
        self.keycloak_client = Some((id.to_string(), secret.to_string()));
        self.keycloak_clients.push(id.to_string());
        self
    }
}

/// Counters the IdP keeps (GET /test/stats).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct IdpStats {
    /// Every POST to the token endpoint, successful or not.
    pub token_requests: u64,
    /// Successful grants by type.
    pub grants: Grants,
    /// Token endpoint requests that failed.
    pub grant_errors: u64,
}

/// Successful grants by type.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct Grants {
    /// `grant_type=authorization_code`.
    pub authorization_code: u64,
    /// `grant_type=refresh_token`.
    pub refresh_token: u64,
}

/// A running IdP process; killed on drop.
pub struct Idp {
    port: u16,
    issuer: String,
    config: IdpConfig,
    child: Option<Child>,
    log: PathBuf,
}

fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("idp")
}

impl Idp {
    /// Starts the IdP on a free port and waits for it to listen.
    pub async fn start(config: IdpConfig) -> Idp {
        Self::start_on(free_port(), config).await
    }

    /// Starts the IdP on `port` (e.g. one a proxy was already pointed at).
    pub async fn start_on(port: u16, config: IdpConfig) -> Idp {
        let dir = idp_dir();
        assert!(
            dir.join("node_modules").join("oidc-provider").is_dir(),
            "the test IdP's npm dependencies are missing: run `npm ci` in {} \
             (scripts/test.sh does this before running the tests)",
            dir.display()
        );
        let log = log_path("idp");
        tokio::task::spawn_blocking(move || spawn_node(port, &config, &log))
            .await
            .expect("IdP start task")
    }

    /// The issuer URL, `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The port the IdP listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `issuer` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Stops the IdP (it can be started again on the same port with [`Idp::start_on`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &IdpConfig {
        &self.config
    }

    /// The IdP's counters.
    pub async fn stats(&self) -> IdpStats {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .get(self.url("/test/stats"))
            .send()
            .await
            .expect("GET /test/stats")
            .json()
            .await
            .expect("stats JSON")
    }

    /// Forgets the account `login`, so its refresh tokens stop working.
    pub async fn revoke(&self, login: &str) {
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .post(self.url(&format!("/test/revoke?login={login}")))
            .send()
            .await
            .expect("POST /test/revoke");
        assert_eq!(resp.status(), 200, "IdP had no account {login}");
    }
}

/// Starts the IdP; a start that hangs (seen once in a while on a loaded 2-core machine: node
/// alive but silent) is killed and tried once more before the test fails.
fn spawn_node(port: u16, config: &IdpConfig, log: &Path) -> Idp {
    match try_spawn_node(port, config, log, STARTUP_TIMEOUT / 3) {
        Ok(idp) => idp,
        Err(first) => {
            eprintln!("IdP start attempt failed ({first}); trying once more");
            try_spawn_node(port, config, log, STARTUP_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
        }
    }
}

fn try_spawn_node(
    port: u16,
    config: &IdpConfig,
    log: &Path,
    timeout: Duration,
) -> Result<Idp, String> {
    let mut file = std::fs::File::create(log).expect("create IdP log");
    let stderr = file.try_clone().expect("clone log handle");
    let (kc_id, kc_secret) = config.keycloak_client.clone().unwrap_or_default();
    let mut child = Command::new("node")
        .arg("server.mjs")
        .arg(port.to_string())
        .current_dir(idp_dir())
        .env("IDP_REDIRECT_URIS", config.redirect_uris.join(","))
        .env(
            "IDP_POST_LOGOUT_REDIRECT_URIS",
            config.post_logout_redirect_uris.join(","),
        )
        .env("IDP_ID_TOKEN_ALG", &config.id_token_alg)
        .env("IDP_ACCESS_TOKEN_TTL", config.access_token_ttl.to_string())
        .env("IDP_ID_TOKEN_TTL", config.id_token_ttl.to_string())
        .env(
            "IDP_REFRESH_TOKEN_TTL",
            config.refresh_token_ttl.to_string(),
        )
        .env("IDP_KEYCLOAK_CLIENTS", config.keycloak_clients.join(","))
        .env("IDP_KEYCLOAK_CLIENT_ID", kc_id)
        .env("IDP_KEYCLOAK_CLIENT_SECRET", kc_secret)
        .env(
            "IDP_RSA_KEY_FILE",
            config.rsa_key_file.clone().unwrap_or_default(),
        )
        .env(
            "IDP_BACKCHANNEL_LOGOUT_URI",
            config.backchannel_logout_uri.clone().unwrap_or_default(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20+ is required): {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(issuer) = line.strip_prefix("READY ") {
                let _ = ready_tx.send(issuer.to_string());
            }
            let _ = writeln!(file, "{line}");
        }
    });
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match ready_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(issuer) => {
                return Ok(Idp {
                    port,
                    issuer,
                    config: config.clone(),
                    child: Some(child),
                    log: log.to_path_buf(),
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            dump_log("IdP", log);
            return Err(format!("the IdP exited during startup with {status}"));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            dump_log("IdP", log);
            return Err(format!("the IdP did not print READY within {timeout:?}"));
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            dump_log("IdP", &self.log);
        }
    }
}

/// Who signs in at the IdP's login form.
#[derive(Debug, Clone)]
pub struct Login {
    /// Username (or full email address); becomes `sub` and `preferred_username`.
    pub username: String,
    /// Groups claim.
    pub groups: Vec<String>,
    /// `email_verified` claim.
    pub email_verified: bool,
    /// Keycloak realm roles (for clients in [`IdpConfig::keycloak_clients`]).
    pub realm_roles: Vec<String>,
    /// Keycloak client roles: `ROLE` for the asking client, `CLIENT:ROLE` for another.
    pub client_roles: Vec<String>,
    /// The custom claims `tenant_id` and `organization` (`{name: "<tenant> Inc.", id}`), in the
    /// id_token and userinfo; empty: none.
    pub tenant: String,
    /// The claim `department`, in userinfo only; empty: none.
    pub department: String,
}

impl Login {
    /// `username` with no groups and a verified email.
    pub fn new(username: &str) -> Login {
        Login {
            username: username.to_string(),
            groups: Vec::new(),
            email_verified: true,
            realm_roles: Vec::new(),
            client_roles: Vec::new(),
            tenant: String::new(),
            department: String::new(),
        }
    }

    /// Sets the tenant (the `tenant_id` and `organization` claims).
    pub fn tenant(mut self, tenant: &str) -> Login {
        self.tenant = tenant.to_string();
        self
    }

    /// Sets the userinfo-only `department` claim.
    pub fn department(mut self, department: &str) -> Login {
        self.department = department.to_string();
        self
    }

    /// Sets the Keycloak realm roles.
    pub fn realm_roles<S: AsRef<str>>(mut self, roles: &[S]) -> Login {
        self.realm_roles = roles.iter().map(|r| r.as_ref().to_string()).collect();
        self
    }

    /// Sets the Keycloak client roles (`ROLE` or `CLIENT:ROLE`).
    pub fn client_roles<S: AsRef<str>>(mut self, roles: &[S]) -> Login {
        self.client_roles = roles.iter().map(|r| r.as_ref().to_string()).collect();
        self
    }

    /// Sets the groups claim.
    pub fn groups<S: AsRef<str>>(mut self, groups: &[S]) -> Login {
        self.groups = groups.iter().map(|g| g.as_ref().to_string()).collect();
        self
    }

    /// Sets `email_verified`.
    pub fn email_verified(mut self, verified: bool) -> Login {
        self.email_verified = verified;
        self
    }

    /// The email the IdP derives from the username.
    pub fn email(&self) -> String {
        if self.username.contains('@') {
            self.username.clone()
        } else {
            format!("{}@example.com", self.username)
        }
    }
}

/// What to do at the IdP's interaction pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Allow,
    Deny,
}

/// Follows an authorization URL through the IdP's login and consent pages as `login` and
/// returns where the IdP finally sends the browser (the client's redirect_uri with `code` and
/// `state`). Each hop must be a 302/303 or a 200 page with the expected form.
pub async fn authorize(browser: &Browser, authorize_url: &Url, login: &Login) -> Url {
    drive(browser, authorize_url, Some(login), Choice::Allow).await
}

/// Like [`authorize`] but presses "Deny" on the first page: the IdP redirects to the client
/// with `error=access_denied`.
pub async fn deny(browser: &Browser, authorize_url: &Url) -> Url {
    drive(browser, authorize_url, None, Choice::Deny).await
}

async fn drive(browser: &Browser, start: &Url, login: Option<&Login>, choice: Choice) -> Url {
    let idp_origin = start.origin();
    let mut next = start.clone();
    for _ in 0..12 {
        if next.origin() != idp_origin {
            return next;
        }
        let resp = browser.get(next.as_str()).await;
        let status = resp.status().as_u16();
        if status == 302 || status == 303 {
            next = location(&resp);
            continue;
        }
        let url = resp.url().clone();
        let body = resp.text().await.expect("IdP page body");
        assert_eq!(status, 200, "IdP page {url} failed: {body}");
        let form = match choice {
            Choice::Deny => html::form_by_id(&body, "deny"),
            Choice::Allow => {
                html::form_by_id(&body, "login").or_else(|| html::form_by_id(&body, "consent"))
            }
        };
        let mut form = form.unwrap_or_else(|| panic!("no expected form on IdP page {url}: {body}"));
        if form.id.as_deref() == Some("login") {
            let login = login.expect("a login is needed to sign in");
            form.set("login", &login.username);
            form.set("password", "ignored");
            form.set("groups", &login.groups.join(","));
            form.set("realm_roles", &login.realm_roles.join(","));
            form.set("client_roles", &login.client_roles.join(","));
            form.set("tenant", &login.tenant);
            form.set("department", &login.department);
            form.set(
                "email_verified",
                if login.email_verified {
                    "true"
                } else {
                    "false"
                },
            );
        }
        assert_eq!(form.method, "post", "IdP forms post");
        let action = url.join(&form.action).expect("form action URL");
        let resp = browser.post_form(action.as_str(), &form.fields).await;
        let status = resp.status().as_u16();
        assert!(
            status == 302 || status == 303,
            "IdP form {action} answered {status}: {}",
            resp.text().await.unwrap_or_default()
        );
        next = location(&resp);
    }
    panic!("the IdP flow did not leave the IdP within 12 hops");
}
