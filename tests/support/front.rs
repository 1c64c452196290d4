//! Real front proxies (nginx, Traefik, Envoy) started from the TESTED example configurations
//! in `docs/front-proxies/`, with `{{NAME}}` placeholders filled in; and a way to get an ID token
//! from the IdP for bearer-token scenarios.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

use super::browser::{location, Browser};
use super::idp::{self, Idp, Login};
use super::{dump_log, log_path, CLIENT_ID, CLIENT_SECRET, STARTUP_TIMEOUT};

/// `docs/front-proxies/<name>`.
pub fn example_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join("front-proxies")
        .join(name)
}

/// The example `name` with every `{{KEY}}` replaced; panics when a placeholder is left over.
pub fn render(name: &str, vars: &[(&str, String)]) -> String {
    let mut text = std::fs::read_to_string(example_path(name))
        .unwrap_or_else(|e| panic!("read docs/front-proxies/{name}: {e}"));
    for (key, value) in vars {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    // Placeholders in comments document themselves; only live ones must all be filled.
    let live = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .any(|l| l.contains("{{"));
    assert!(!live, "unfilled placeholder in docs/front-proxies/{name}");
    text
}

/// A fresh directory for one front proxy's rendered configuration and runtime files.
pub fn runtime_dir(kind: &str) -> PathBuf {
    let dir = log_path(kind).with_extension("d");
    std::fs::create_dir_all(&dir).expect("create runtime dir");
    dir
}

/// A running front proxy; killed on drop (its log is printed if the test panicked).
pub struct FrontProxy {
    kind: &'static str,
    port: u16,
    child: Child,
    log: PathBuf,
}

impl FrontProxy {
    /// Runs `program args` and waits until `http://127.0.0.1:port/oauth2/sign_in` is answered
    /// by authproxy through it (routes loaded, upstream reachable).
    pub async fn start(
        kind: &'static str,
        program: &str,
        args: &[String],
        port: u16,
    ) -> FrontProxy {
        let log = log_path(kind);
        let out = std::fs::File::create(&log).expect("create front proxy log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {kind} ({program}): {e}; scripts/test.sh installs it")
            });
        let mut front = FrontProxy {
            kind,
            port,
            child,
            log,
        };
        front.wait_ready().await;
        front
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}", self.kind);
            }
            if let Ok(resp) = client.get(self.url("/oauth2/sign_in")).send().await {
                if resp.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not serve /oauth2/sign_in within {STARTUP_TIMEOUT:?}",
                self.kind
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for FrontProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            dump_log(self.kind, &self.log);
        }
    }
}

/// An ID token for `login` from the IdP, by the authorization code flow with PKCE, as a
/// machine client would hold one (aud = [`CLIENT_ID`]). `redirect_uri` must be registered.
pub async fn id_token(idp: &Idp, login: &Login, redirect_uri: &str) -> String {
    let browser = Browser::new();
    let discovery: serde_json::Value = browser
        .get(&idp.url("/.well-known/openid-configuration"))
        .await
        .json()
        .await
        .expect("discovery JSON");
    let verifier = format!("v{}", "x".repeat(50));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut authorize =
        url::Url::parse(discovery["authorization_endpoint"].as_str().expect("authz")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", "machine-state-0123456789")
        .append_pair("nonce", "machine-nonce-0123456789")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let callback = idp::authorize(&browser, &authorize, login).await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {callback}"));
    let token: serde_json::Value = browser
        .client()
        .post(
            discovery["token_endpoint"]
                .as_str()
                .expect("token endpoint"),
        )
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    token["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no id_token in {token}"))
        .to_string()
}

/// Follows an unauthenticated browser's first answer from a front proxy to the IdP's
/// authorization URL: a 302 to `/oauth2/start` or `/oauth2/sign_in` (followed), a 302 to the
/// IdP, or the sign-in page (401/403/200 HTML) whose link to `/oauth2/start` is followed.
pub async fn to_idp(browser: &Browser, first: reqwest::Response, issuer: &str) -> url::Url {
    let mut resp = first;
    for _ in 0..4 {
        let status = resp.status().as_u16();
        if status == 302 || status == 303 {
            let next = location(&resp);
            if next.as_str().starts_with(issuer) {
                return next;
            }
            assert!(
                next.path().starts_with("/oauth2/"),
                "unexpected redirect to {next}"
            );
            resp = browser.get(next.as_str()).await;
            continue;
        }
        assert!(
            [200, 401, 403].contains(&status),
            "unexpected {status} from {}",
            resp.url()
        );
        let base = resp.url().clone();
        let page = resp.text().await.expect("sign-in page");
        let start = page
            .split('"')
            .find(|s| s.contains("/oauth2/start"))
            .unwrap_or_else(|| panic!("no /oauth2/start link in the sign-in page: {page}"));
        let start = super::html::decode_entities(start);
        resp = browser
            .get(base.join(&start).expect("start URL").as_str())
            .await;
    }
    panic!("no redirect to the IdP after 4 hops");
}
