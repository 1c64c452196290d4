//! End-to-end test harness: the real `oidc-provider` IdP (tests/idp), an in-process echo app,
//! the `authproxy` binary, and a browser-like HTTP client that never follows redirects so every
//! hop of a flow is asserted by the test itself.
//!
//! Everything listens on 127.0.0.1 only, on ports picked per test, and every process or task is
//! stopped when its handle is dropped. Logs of child processes go to
//! `$CARGO_TARGET_TMPDIR/e2e-logs/` and are printed when a test panics.
// Each test binary uses a different subset of the harness.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod browser;
pub mod flow;
pub mod front;
pub mod h2raw;
pub mod html;
pub mod idp;
pub mod prometheus;
pub mod proxy;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use app::{EchoApp, EchoReply};
pub use browser::{location, set_cookies, Browser, Jar};
pub use idp::{Idp, IdpConfig, IdpStats, Login};
pub use proxy::{Proxy, ProxyConfig};

/// The client registered at the IdP that authenticates with `client_secret_basic`.
pub const CLIENT_ID: &str = "authproxy";
/// Secret of [`CLIENT_ID`].
pub const CLIENT_SECRET: &str = "authproxy-secret";
/// The client registered at the IdP that authenticates with `client_secret_post`.
pub const POST_CLIENT_ID: &str = "authproxy-post";
/// Secret of [`POST_CLIENT_ID`].
pub const POST_CLIENT_SECRET: &str = "authproxy-post-secret";
/// A cookie secret in the shape `openssl rand -base64 32` prints (32 bytes, standard base64).
pub const COOKIE_SECRET: &str = "q2n4Lw6h0Ue7kGf1yS3ZpV9tXcB8rJmA5dHoQiKzW0E=";
/// The proxy's default session cookie name (oauth2-proxy's).
pub const COOKIE_NAME: &str = "_oauth2_proxy";

/// How long a process gets to come up before the test fails.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// A TCP port on 127.0.0.1 that was free a moment ago, for a process a test starts.
///
/// Taken from 20000–31999, below the kernel's ephemeral range (32768–60999 by default): a port
/// the kernel hands out for `bind(0)` or an outgoing connection could be taken by another test
/// between this check and the child's bind ("Address already in use"). A counter keeps the
/// ports of one test binary distinct; its start depends on the process id, so test binaries
/// run one after another do not begin on the same ports.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % COUNT;
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + (start + n) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Where child-process logs go; created on first use.
pub fn log_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-logs");
    std::fs::create_dir_all(&dir).expect("create e2e log dir");
    dir
}

/// A unique log file path for a process of `kind` in this test binary.
pub fn log_path(kind: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("main").replace("::", "-").replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
        "_",
    );
    log_dir().join(format!("{test}-{kind}-{}-{n}.log", std::process::id()))
}

/// Prints the tail of a log file to stderr (used when a test panics).
pub fn dump_log(label: &str, path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(80);
    eprintln!("----- {label} log ({}) -----", path.display());
    for line in &lines[start..] {
        eprintln!("{line}");
    }
    eprintln!("----- end of {label} log -----");
}

/// The whole system under test: IdP, echo app and proxy, wired together.
pub struct Stack {
    /// The OpenID Connect provider.
    pub idp: Idp,
    /// The upstream application.
    pub app: EchoApp,
    /// The authproxy process.
    pub proxy: Proxy,
}

impl Stack {
    /// IdP + app + proxy with the default flags of [`ProxyConfig::new`].
    pub async fn start() -> Stack {
        Self::start_with(IdpConfig::default(), |c| c).await
    }

    /// IdP + app + proxy; `configure` adjusts the proxy flags.
    pub async fn start_with(
        idp: IdpConfig,
        configure: impl FnOnce(ProxyConfig) -> ProxyConfig,
    ) -> Stack {
        let app = EchoApp::start().await;
        let proxy_port = free_port();
        let idp = Idp::start(idp.redirect_to_proxy(proxy_port)).await;
        let config = configure(ProxyConfig::new(proxy_port, idp.issuer(), &app.url()));
        let proxy = Proxy::start(config).await;
        Stack { idp, app, proxy }
    }

    /// `GET /oauth2/start?rd=<path>`: asserts the 302 to the IdP's authorization endpoint and
    /// returns that URL.
    pub async fn start_login(&self, browser: &Browser, path: &str) -> url::Url {
        let start = self
            .proxy
            .url(&format!("/oauth2/start?rd={}", encode(path)));
        let resp = browser.get(&start).await;
        assert_eq!(resp.status(), 302, "/oauth2/start must redirect to the IdP");
        let authorize = location(&resp);
        assert!(
            authorize.as_str().starts_with(self.idp.issuer()),
            "start redirected to {authorize}, not the IdP"
        );
        authorize
    }

    /// Starts a login for `path` and signs in at the IdP; returns the proxy callback URL (with
    /// `code` and `state`) without visiting it.
    pub async fn callback_url(&self, browser: &Browser, path: &str, login: &Login) -> url::Url {
        let authorize = self.start_login(browser, path).await;
        let callback = idp::authorize(browser, &authorize, login).await;
        assert!(
            callback
                .as_str()
                .starts_with(&self.proxy.url("/oauth2/callback")),
            "IdP redirected to {callback}, not the proxy callback"
        );
        callback
    }

    /// The whole login for `path` up to and including the callback; asserts the callback's 302
    /// back to `path` and returns that absolute URL (the session cookie is now in the jar).
    pub async fn complete_login(&self, browser: &Browser, path: &str, login: &Login) -> url::Url {
        let callback = self.callback_url(browser, path, login).await;
        let resp = browser.get(callback.as_str()).await;
        assert_eq!(resp.status(), 302, "callback must redirect back to the app");
        let back = location(&resp);
        assert_eq!(back.as_str(), self.proxy.url(path), "callback return URL");
        back
    }

    /// Signs `login` in through the whole flow, starting at `/oauth2/start?rd=<path>`, asserting
    /// each hop, and returns the app's echo of the final request to `path`.
    pub async fn sign_in(&self, browser: &Browser, path: &str, login: &Login) -> EchoReply {
        let back = self.complete_login(browser, path, login).await;
        let resp = browser.get(back.as_str()).await;
        assert_eq!(resp.status(), 200, "signed-in request must reach the app");
        resp.json::<EchoReply>().await.expect("echo JSON")
    }
}

/// A plain HTTP client for tests: no proxy from the environment, no redirect followed, every
/// request bounded to 20 s.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The session cookie a response sets: `_oauth2_proxy` or its first chunk `_oauth2_proxy_0`,
/// excluding deletions.
pub fn session_set_cookie(resp: &reqwest::Response) -> Option<cookie::Cookie<'static>> {
    set_cookies(resp).into_iter().find(|c| {
        (c.name() == COOKIE_NAME || c.name() == format!("{COOKIE_NAME}_0"))
            && !browser::is_deletion(c)
    })
}

/// Names of the proxy's session cookies (base name or chunks) a response deletes.
pub fn deleted_session_cookies(resp: &reqwest::Response) -> Vec<String> {
    let mut names: Vec<String> = set_cookies(resp)
        .into_iter()
        .filter(|c| is_session_cookie_name(c.name()) && browser::is_deletion(c))
        .map(|c| c.name().to_string())
        .collect();
    names.sort();
    names
}

/// `_oauth2_proxy` or `_oauth2_proxy_<digits>`.
pub fn is_session_cookie_name(name: &str) -> bool {
    match name.strip_prefix(COOKIE_NAME) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('_')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// Every group in the (possibly repeated, possibly comma-joined) header `name`.
pub fn header_groups(echo: &EchoReply, name: &str) -> Vec<String> {
    echo.header_all(name)
        .iter()
        .flat_map(|v| v.split(','))
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect()
}

/// True when a response tells caches not to store it.
pub fn is_no_cache(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get_all("cache-control")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("no-cache") || v.contains("no-store"))
}

/// The media type of a response (`text/html`, `application/json`, …).
pub fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}
