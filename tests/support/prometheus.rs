//! A real Prometheus (Debian's `prometheus` package: `prometheus` and `promtool`) on 127.0.0.1,
//! installed with apt-get when missing, with a temporary configuration and data directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{dump_log, free_port, log_path, STARTUP_TIMEOUT};

/// Installs Debian's `prometheus` package (it ships `prometheus` and `promtool`) when either is
/// not on PATH, as scripts/test.sh's `ensure_apt prometheus:prometheus` does. Panics with the
/// reason when it cannot: a test never skips because a tool is missing.
pub fn ensure_installed() {
    if on_path("prometheus") && on_path("promtool") {
        return;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let run = |args: &[&str]| {
        let mut c = if root {
            Command::new(args[0])
        } else {
            let mut c = Command::new("sudo");
            c.arg("-n").arg(args[0]);
            c
        };
        let status = c
            .args(&args[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {args:?} (need root or sudo -n): {e}"));
        assert!(status.success(), "{args:?} failed with {status}");
    };
    eprintln!("e2e_monitoring: installing Debian's prometheus package (prometheus, promtool)");
    run(&["apt-get", "update", "-qq"]);
    run(&[
        "apt-get",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "prometheus",
    ]);
    assert!(
        on_path("prometheus") && on_path("promtool"),
        "the prometheus package is installed but prometheus/promtool are not on PATH"
    );
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

/// Runs `promtool ARGS` in `dir`; `Err(output)` when it exits non-zero.
pub fn promtool(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "promtool {args:?} exited with {}:\n{text}",
            out.status
        ))
    }
}

/// A running Prometheus; killed on drop (its log is printed if the test panicked).
pub struct Prometheus {
    port: u16,
    child: Child,
    log: PathBuf,
    client: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus with `config` (YAML text, written to `dir/prometheus.yml`), its data in
    /// `dir/data`, and waits until `/-/ready` answers 200.
    pub async fn start(dir: &Path, config: &str) -> Prometheus {
        let port = free_port();
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let log = log_path("prometheus");
        let out = std::fs::File::create(&log).expect("create prometheus log");
        let err = out.try_clone().expect("clone log handle");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1h")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start prometheus: {e}"));
        let mut prometheus = Prometheus {
            port,
            child,
            log,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = prometheus.child.try_wait() {
                panic!("prometheus exited with {status}");
            }
            let ready = prometheus
                .client
                .get(prometheus.url("/-/ready"))
                .send()
                .await
                .map(|r| r.status() == 200)
                .unwrap_or(false);
            if ready {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready after {STARTUP_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `GET /api/v1/<path>` with `query` parameters; the `data` member of a `success` answer,
    /// or the error Prometheus gave.
    pub async fn api(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, String> {
        let url = url::Url::parse_with_params(&self.url(&format!("/api/v1/{path}")), query)
            .map_err(|e| format!("/api/v1/{path}: {e}"))?;
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET /api/v1/{path}: {e}"))?;
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| format!("GET /api/v1/{path}: not JSON: {e}"))?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!(
                "{}: {}",
                body["errorType"].as_str().unwrap_or("error"),
                body["error"].as_str().unwrap_or("(no message)")
            ))
        }
    }

    /// An instant query: the result vector (an error for other result types).
    pub async fn query(&self, expr: &str) -> Result<Vec<serde_json::Value>, String> {
        let data = self.api("query", &[("query", expr)]).await?;
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"].as_array().cloned().unwrap_or_default()),
            other => Err(format!("result type {other:?}, not a vector")),
        }
    }

    /// Sum of the values of an instant query's result (0 for no series; NaN counts as 0).
    pub async fn value(&self, expr: &str) -> f64 {
        self.query(expr)
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
            .filter(|v| !v.is_nan())
            .sum()
    }

    /// Polls `check` every 250 ms until it is true; panics with `what` after `timeout`.
    pub async fn wait_until<F, Fut>(&self, what: &str, timeout: Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        while !check().await {
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            dump_log("prometheus", &self.log);
        }
    }
}
