//! The system under test: the `authproxy` binary, started with oauth2-proxy flags.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{dump_log, log_path, CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET, STARTUP_TIMEOUT};

/// The proxy's command line, as oauth2-proxy flags, plus extra environment.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    port: u16,
    /// `(flag name without dashes, value)`; `None` is a bare boolean flag.
    flags: Vec<(String, Option<String>)>,
    env: Vec<(String, String)>,
    /// `ulimit -n` for the process (soft and hard), when set.
    nofile: Option<u64>,
    /// A program (and its arguments) that starts the binary: `program args… authproxy flags…`.
    launcher: Option<Vec<String>>,
    /// Connect stdout to a pipe that nobody reads (stderr still goes to the log file).
    stdout_unread: bool,
}

impl ProxyConfig {
    /// The flags every scenario starts from: OIDC against `issuer`, the app at `upstream`,
    /// plain-HTTP cookies with SameSite=Lax, identity headers on.
    pub fn new(port: u16, issuer: &str, upstream: &str) -> ProxyConfig {
        ProxyConfig::bare(port)
            .set("http-address", &format!("127.0.0.1:{port}"))
            .set("provider", "oidc")
            .set("oidc-issuer-url", issuer)
            .set("client-id", CLIENT_ID)
            .set("client-secret", CLIENT_SECRET)
            .set("cookie-secret", COOKIE_SECRET)
            .set("cookie-secure", "false")
            .set("cookie-samesite", "lax")
            .set(
                "redirect-url",
                &format!("http://127.0.0.1:{port}/oauth2/callback"),
            )
            .set("upstream", upstream)
            .set("email-domain", "*")
            .enable("pass-user-headers")
            .enable("set-xauthrequest")
            .enable("pass-access-token")
    }

    /// For `--alpha-config`, where oauth2-proxy (and authproxy) refuse the legacy provider,
    /// listener, upstream and header flags and a section the file leaves out stays empty:
    /// writes `file` with `providers` (a `providers:` YAML block) and the other sections as
    /// `--convert-config-to-alpha` writes them for this command line, then replaces those
    /// flags with `--alpha-config=file`.
    pub fn into_alpha(self, providers: &str, file: &std::path::Path) -> ProxyConfig {
        let out = Command::new(env!("CARGO_BIN_EXE_authproxy"))
            .args(self.args())
            .arg("--convert-config-to-alpha")
            .output()
            .expect("run authproxy --convert-config-to-alpha");
        assert!(
            out.status.success(),
            "--convert-config-to-alpha failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let converted = String::from_utf8(out.stdout).expect("UTF-8 YAML");
        let mut yaml = String::new();
        let mut in_providers = false;
        for line in converted.lines() {
            if !line.is_empty() && !line.starts_with([' ', '#']) {
                in_providers = line.starts_with("providers:");
            }
            if !in_providers {
                yaml.push_str(line);
                yaml.push('\n');
            }
        }
        yaml.push_str(providers);
        std::fs::write(file, yaml).expect("write the alpha file");
        let mut c = self;
        for flag in [
            "provider",
            "oidc-issuer-url",
            "client-id",
            "client-secret",
            "http-address",
            "upstream",
            "pass-user-headers",
            "set-xauthrequest",
            "pass-access-token",
        ] {
            c = c.remove(flag);
        }
        c.set("alpha-config", file.to_str().expect("UTF-8 path"))
    }

    /// No flags at all (for `--config FILE` and environment scenarios); `port` is only where the
    /// harness expects the proxy to listen.
    pub fn bare(port: u16) -> ProxyConfig {
        ProxyConfig {
            port,
            flags: Vec::new(),
            env: Vec::new(),
            nofile: None,
            launcher: None,
            stdout_unread: false,
        }
    }

    /// Start the binary through `launcher` (a program and its first arguments; the binary's
    /// path and flags follow them).
    pub fn launcher(mut self, launcher: &[&str]) -> Self {
        self.launcher = Some(launcher.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Runs the proxy with `ulimit -n n` (soft and hard limit of open files).
    pub fn nofile(mut self, n: u64) -> Self {
        self.nofile = Some(n);
        self
    }

    /// Connects the proxy's stdout to a pipe that is never read (a stuck log collector).
    pub fn stdout_unread(mut self) -> Self {
        self.stdout_unread = true;
        self
    }

    /// The port the proxy will listen on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets `--name=value`, replacing every earlier value of `name`.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.flags.retain(|(n, _)| n != name);
        self.flags.push((name.to_string(), Some(value.to_string())));
        self
    }

    /// Appends another `--name=value` (repeatable flags such as `--upstream`).
    pub fn add(mut self, name: &str, value: &str) -> Self {
        self.flags.push((name.to_string(), Some(value.to_string())));
        self
    }

    /// Sets the bare boolean flag `--name`.
    pub fn enable(mut self, name: &str) -> Self {
        self.flags.retain(|(n, _)| n != name);
        self.flags.push((name.to_string(), None));
        self
    }

    /// Drops every value of `name`.
    pub fn remove(mut self, name: &str) -> Self {
        self.flags.retain(|(n, _)| n != name);
        self
    }

    /// Adds an environment variable for the proxy process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The command-line arguments.
    pub fn args(&self) -> Vec<String> {
        self.flags
            .iter()
            .map(|(name, value)| match value {
                Some(v) => format!("--{name}={v}"),
                None => format!("--{name}"),
            })
            .collect()
    }
}

/// A running proxy process; killed on drop (its log is printed if the test panicked).
pub struct Proxy {
    port: u16,
    child: Child,
    log: PathBuf,
    /// The read end of an unread stdout pipe, kept open so that writes block instead of failing.
    _stdout: Option<std::process::ChildStdout>,
}

impl Proxy {
    /// Starts the proxy and waits until `/ready` answers 200.
    pub async fn start(config: ProxyConfig) -> Proxy {
        let mut proxy = Self::spawn(&config);
        if let Err(why) = proxy.wait_ready(STARTUP_TIMEOUT).await {
            // Dropping `proxy` while panicking prints its log.
            panic!("authproxy did not become ready: {why}");
        }
        proxy
    }

    /// Starts the proxy without waiting for anything.
    pub fn spawn(config: &ProxyConfig) -> Proxy {
        let log = log_path("proxy");
        let out = std::fs::File::create(&log).expect("create proxy log");
        let err = out.try_clone().expect("clone log handle");
        let bin = env!("CARGO_BIN_EXE_authproxy");
        let mut command = match (config.nofile, &config.launcher) {
            (_, Some(launcher)) => {
                let mut c = Command::new(&launcher[0]);
                c.args(&launcher[1..]).arg(bin);
                c
            }
            (Some(n), None) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
            (None, None) => Command::new(bin),
        };
        command.args(config.args());
        // The scenario decides the whole configuration: nothing leaks in from the developer's
        // environment (OAUTH2_PROXY_* settings, or an HTTP proxy for the IdP's loopback URLs).
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().to_string();
            if key.starts_with("OAUTH2_PROXY_")
                || key.to_ascii_lowercase().ends_with("_proxy")
                || key == "SSL_CERT_FILE"
                || key == "SSL_CERT_DIR"
            {
                command.env_remove(&key);
            }
        }
        command
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("RUST_LOG", "info,authproxy=debug")
            .env("RUST_BACKTRACE", "1");
        for (key, value) in &config.env {
            command.env(key, value);
        }
        let stdout = if config.stdout_unread {
            Stdio::piped()
        } else {
            Stdio::from(out)
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start authproxy: {e}"));
        Proxy {
            port: config.port(),
            _stdout: child.stdout.take(),
            child,
            log,
        }
    }

    /// Polls `/ready` until it answers 200, the process exits, or `timeout` passes.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("authproxy exited with {status}"));
            }
            match self.ready_status().await {
                Some(200) => return Ok(()),
                Some(code) => last = format!("/ready answered {code}"),
                None => {}
            }
            if Instant::now() > deadline {
                return Err(format!("{last} after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The status of `GET /ready`, or `None` when nothing answers.
    pub async fn ready_status(&self) -> Option<u16> {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?
            .get(self.url("/ready"))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// The process id (to send signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Everything the proxy logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            dump_log("proxy", &self.log);
        }
    }
}
