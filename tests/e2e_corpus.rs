//! A corpus of oauth2-proxy v7 configurations written the way people deploy them (Helm-rendered
//! arguments, docker-compose environments, ConfigMap TOML files, alpha YAML; CRLF line endings,
//! quoted booleans, trailing spaces), each run through the authproxy binary and held to what
//! oauth2-proxy v7.15.3 does with it: it starts and a request through it behaves as v7's would,
//! it passes `--config-test` (with the warnings authproxy adds), or it fails naming the key.
//!
//! The cases are in `tests/corpus/cases.rs`. Every process talks to one in-process OIDC fake
//! and one echo app; the cases run concurrently (at most [`PARALLEL`] processes at a time), so
//! the whole corpus takes a few seconds.

mod fakes;
mod support;

#[path = "corpus/cases.rs"]
mod cases;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cases::{Case, Check, Expect, Style, CASES};
use fakes::oidc::{self, OidcFake};
use support::{free_port, location, log_path, Browser, EchoApp, EchoReply};

/// Processes running at the same time.
const PARALLEL: usize = 8;
/// How long a case's process gets to become ready or to exit.
const WAIT: Duration = Duration::from_secs(30);
/// A 32-byte cookie secret.
const SECRET: &str = "0123456789abcdef0123456789abcdef";

struct World {
    issuer: String,
    app: String,
    dir: PathBuf,
}

impl World {
    fn fill(&self, s: &str, port: u16) -> String {
        s.replace("{PORT}", &port.to_string())
            .replace("{ISSUER}", &self.issuer)
            .replace("{APP}", &self.app)
            .replace("{DIR}", &self.dir.display().to_string())
            .replace("{CID}", oidc::CLIENT_ID)
            .replace("{CSECRET}", oidc::CLIENT_SECRET)
            .replace("{SECRET}", SECRET)
    }
}

/// A case's process; killed on drop.
struct Running {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits for the exit status (`None` when still running after [`WAIT`]).
    async fn exit(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }

    async fn ready(&mut self) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Err(format!("exited with {s}"));
            }
            if let Ok(r) = client.get(self.url("/ready")).send().await {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("not ready after {WAIT:?}"))
    }
}

fn spawn(case: &Case, world: &World, extra: &[&str]) -> Running {
    let port = free_port();
    let mut args: Vec<String> = Vec::new();
    let mut env: Vec<(String, String)> = Vec::new();
    let write = |ext: &str, text: &str| -> PathBuf {
        let p = world.dir.join(format!("{}.{ext}", case.name));
        std::fs::write(&p, world.fill(text, port)).expect("write corpus file");
        p
    };
    match &case.style {
        Style::Args(a) => args.extend(a.iter().map(|s| world.fill(s, port))),
        Style::Env(vars) => env.extend(
            vars.iter()
                .map(|(k, v)| (k.to_string(), world.fill(v, port))),
        ),
        Style::Toml { file, args: a } => {
            args.push(format!("--config={}", write("cfg", file).display()));
            args.extend(a.iter().map(|s| world.fill(s, port)));
        }
        Style::TomlEnv { file, env: vars } => {
            args.push(format!("--config={}", write("cfg", file).display()));
            env.extend(
                vars.iter()
                    .map(|(k, v)| (k.to_string(), world.fill(v, port))),
            );
        }
        Style::Alpha {
            yaml,
            args: a,
            env: vars,
        } => {
            args.push(format!("--alpha-config={}", write("yaml", yaml).display()));
            args.extend(a.iter().map(|s| world.fill(s, port)));
            env.extend(
                vars.iter()
                    .map(|(k, v)| (k.to_string(), world.fill(v, port))),
            );
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let log = log_path(case.name);
    let out = std::fs::File::create(&log).expect("create log");
    let err = out.try_clone().expect("clone log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authproxy"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if key.to_ascii_uppercase().starts_with("OAUTH2_PROXY_")
            || key.to_ascii_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(&key);
        }
    }
    cmd.args(&args)
        .envs(env)
        .env("NO_PROXY", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start authproxy: {e}"));
    Running { child, log, port }
}

/// Sign in through the fake (which approves alice at once); the callback's response.
async fn sign_in(
    browser: &Browser,
    p: &Running,
    world: &World,
) -> Result<reqwest::Response, String> {
    let resp = browser.get(&p.url("/oauth2/start?rd=%2Fhello")).await;
    if resp.status() != 302 {
        return Err(format!("/oauth2/start answered {}", resp.status()));
    }
    let authorize = location(&resp);
    if !authorize
        .as_str()
        .starts_with(&format!("{}/authorize", world.issuer))
    {
        return Err(format!("/oauth2/start sent the browser to {authorize}"));
    }
    let resp = browser.get(authorize.as_str()).await;
    let callback = location(&resp);
    if !callback.as_str().starts_with(&p.url("/oauth2/callback")) {
        return Err(format!("the provider was given the callback {callback}"));
    }
    let resp = browser.get(callback.as_str()).await;
    if resp.status() != 302 {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("callback answered {status}: {body:.300}"));
    }
    Ok(resp)
}

fn headers_match(echo: &EchoReply, want: &[(&str, Option<&str>)]) -> Result<(), String> {
    for (name, value) in want {
        let got = echo.header_all(name);
        let ok = match value {
            Some(v) => {
                got.len() == 1
                    && match v.strip_suffix('*') {
                        Some(prefix) => got[0].starts_with(prefix),
                        None => got[0] == *v,
                    }
            }
            None => got.is_empty(),
        };
        if !ok {
            return Err(format!("the app saw {name}: {got:?}, expected {value:?}"));
        }
    }
    Ok(())
}

async fn check(c: &Check, p: &Running, world: &World) -> Result<(), String> {
    let browser = Browser::new();
    match c {
        Check::Login(want) => {
            let callback = sign_in(&browser, p, world).await?;
            let back = location(&callback);
            if back.path() != "/hello" {
                return Err(format!("after sign-in the browser goes to {back}"));
            }
            let resp = browser.get(back.as_str()).await;
            if resp.status() != 200 {
                return Err(format!("GET /hello after sign-in: {}", resp.status()));
            }
            let echo: EchoReply = resp.json().await.map_err(|e| e.to_string())?;
            headers_match(&echo, want)
        }
        Check::AuthRequest(want) => {
            sign_in(&browser, p, world).await?;
            let resp = browser.get(&p.url("/oauth2/auth")).await;
            if resp.status() != 202 {
                return Err(format!("/oauth2/auth answered {}", resp.status()));
            }
            for (name, value) in *want {
                let got = resp.headers().get(*name).and_then(|v| v.to_str().ok());
                if got != Some(value) {
                    return Err(format!(
                        "/oauth2/auth gave {name}: {got:?}, expected {value:?}"
                    ));
                }
            }
            Ok(())
        }
        Check::ToIdp { path, secure } => {
            let resp = browser.get(&p.url(path)).await;
            if resp.status() != 302 {
                return Err(format!("GET {path} answered {}", resp.status()));
            }
            let to = location(&resp);
            if !to
                .as_str()
                .starts_with(&format!("{}/authorize", world.issuer))
                || !to
                    .query_pairs()
                    .any(|(k, v)| k == "client_id" && v == oidc::CLIENT_ID)
            {
                return Err(format!("GET {path} redirected to {to}"));
            }
            let lines = support::browser::set_cookie_lines(&resp);
            let all_secure = !lines.is_empty()
                && lines
                    .iter()
                    .all(|l| l.to_ascii_lowercase().contains("; secure"));
            if all_secure != *secure {
                return Err(format!("cookies {lines:?}: expected Secure = {secure}"));
            }
            Ok(())
        }
        Check::Status(path, status) => {
            let resp = browser.get(&p.url(path)).await;
            if resp.status().as_u16() != *status {
                return Err(format!(
                    "GET {path} answered {}, expected {status}",
                    resp.status()
                ));
            }
            Ok(())
        }
        Check::Public { path, send, want } => {
            let mut req = browser.client().get(p.url(path));
            for (k, v) in *send {
                req = req.header(*k, *v);
            }
            let resp = req.send().await.map_err(|e| e.to_string())?;
            if resp.status() != 200 {
                return Err(format!("GET {path} answered {}", resp.status()));
            }
            let echo: EchoReply = resp.json().await.map_err(|e| e.to_string())?;
            if !echo
                .path
                .starts_with(path.split('?').next().unwrap_or(path))
            {
                return Err(format!("the app got path {}", echo.path));
            }
            headers_match(&echo, want)
        }
        Check::Basic {
            user,
            password,
            want,
        } => {
            let resp = browser
                .client()
                .get(p.url("/hello"))
                .basic_auth(user, Some(password))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if resp.status() != 200 {
                return Err(format!(
                    "GET /hello with basic auth answered {}",
                    resp.status()
                ));
            }
            let echo: EchoReply = resp.json().await.map_err(|e| e.to_string())?;
            headers_match(&echo, want)
        }
        Check::Rewritten { path, seen } => {
            let resp = browser.get(&p.url(path)).await;
            if resp.status() != 200 {
                return Err(format!("GET {path} answered {}", resp.status()));
            }
            let echo: EchoReply = resp.json().await.map_err(|e| e.to_string())?;
            if echo.path != *seen {
                return Err(format!("the app got {}, expected {seen}", echo.path));
            }
            Ok(())
        }
        Check::Log(text) => {
            let out = p.output();
            if out.contains(text) {
                Ok(())
            } else {
                Err(format!("the log lacks {text:?}"))
            }
        }
    }
}

async fn run_case(case: &'static Case, world: Arc<World>) -> Result<(), String> {
    match &case.expect {
        Expect::Serve(checks) => {
            let mut p = spawn(case, &world, &[]);
            if let Err(why) = p.ready().await {
                return Err(format!("{why}\n{}", p.output()));
            }
            for c in *checks {
                if let Err(why) = check(c, &p, &world).await {
                    return Err(format!("{c:?}: {why}\n{}", p.output()));
                }
            }
            Ok(())
        }
        Expect::Valid(warnings) => {
            let mut p = spawn(case, &world, &["--config-test"]);
            let status = p.exit().await;
            let out = p.output();
            if !status.is_some_and(|s| s.success()) || !out.contains("configuration is valid") {
                return Err(format!("--config-test: {status:?}\n{out}"));
            }
            for w in *warnings {
                if !out.contains(w) {
                    return Err(format!("no warning containing {w:?}:\n{out}"));
                }
            }
            Ok(())
        }
        Expect::Fails(wants) => {
            let mut p = spawn(case, &world, &[]);
            let status = p.exit().await;
            let out = p.output();
            match status {
                None => Err(format!("started, but oauth2-proxy refuses it:\n{out}")),
                Some(s) if s.success() => Err(format!("exited 0:\n{out}")),
                Some(_) => match wants.iter().find(|w| !out.contains(**w)) {
                    Some(w) => Err(format!("the error lacks {w:?}:\n{out}")),
                    None => Ok(()),
                },
            }
        }
    }
}

fn fixtures(dir: &Path) {
    // bcrypt is slow to check; {SHA} is one of the two schemes v7 reads.
    std::fs::write(
        dir.join("htpasswd"),
        "ops:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("emails.txt"),
        "alice@example.com\r\n# staff\r\nbob@example.org\r\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("client-secret"),
        format!("{}\n", oidc::CLIENT_SECRET),
    )
    .unwrap();
    std::fs::write(dir.join("cookie-secret"), "0123456789abcdef\n").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_corpus_configuration_does_what_oauth2_proxy_v7_does() {
    assert!(CASES.len() >= 40, "the corpus has {} cases", CASES.len());
    let names: std::collections::HashSet<&str> = CASES.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), CASES.len(), "case names are unique");
    let fake = OidcFake::start("").await;
    fake.add_user(
        "alice",
        serde_json::json!({
            "email": "alice@example.com",
            "email_verified": true,
            "groups": ["admins"],
            "preferred_username": "alice",
        }),
    );
    let app = EchoApp::start().await;
    let dir = std::env::temp_dir().join(format!("authproxy-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    fixtures(&dir);
    let world = Arc::new(World {
        issuer: fake.issuer.clone(),
        app: app.url(),
        dir: dir.clone(),
    });
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = Vec::new();
    for case in CASES {
        let world = world.clone();
        let gate = gate.clone();
        tasks.push((
            case.name,
            tokio::spawn(async move {
                let _slot = gate.acquire().await;
                tokio::time::timeout(Duration::from_secs(60), run_case(case, world))
                    .await
                    .unwrap_or_else(|_| Err("timed out after 60 s".into()))
            }),
        ));
    }
    let mut failures = Vec::new();
    let (mut served, mut valid, mut refused) = (0, 0, 0);
    for case in CASES {
        match case.expect {
            Expect::Serve(_) => served += 1,
            Expect::Valid(_) => valid += 1,
            Expect::Fails(_) => refused += 1,
        }
    }
    for (name, task) in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("--- {name}: {why}")),
            Err(e) => failures.push(format!("--- {name}: panicked: {e}")),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "corpus: {} cases ({served} serve a request, {valid} --config-test, {refused} refused) in {:?}",
        CASES.len(),
        started.elapsed()
    );
    assert!(
        served * 2 >= CASES.len(),
        "at least half the cases serve a request"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// A Helm-style legacy configuration, converted with `--convert-config-to-alpha` and started
/// from the YAML next to its core options, serves the same sign-in and headers as the legacy one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converted_configuration_starts_and_behaves_like_the_legacy_one() {
    let fake = OidcFake::start("").await;
    fake.add_user(
        "alice",
        serde_json::json!({"email": "alice@example.com", "email_verified": true, "groups": ["admins"], "preferred_username": "alice"}),
    );
    let app = EchoApp::start().await;
    let dir = std::env::temp_dir().join(format!("authproxy-corpus-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let world = World {
        issuer: fake.issuer.clone(),
        app: app.url(),
        dir: dir.clone(),
    };
    const CORE: &[&str] = &[
        "--cookie-secret={SECRET}",
        "--email-domain=*",
        "--cookie-secure=false",
    ];
    const LEGACY: &[&str] = &[
        "--http-address=127.0.0.1:{PORT}",
        "--provider=oidc",
        "--oidc-issuer-url={ISSUER}",
        "--client-id={CID}",
        "--client-secret={CSECRET}",
        "--redirect-url=http://127.0.0.1:{PORT}/oauth2/callback",
        "--upstream={APP}/",
        "--pass-access-token",
        "--set-xauthrequest",
        "--prefer-email-to-user",
    ];
    let want: &[(&str, Option<&str>)] = &[
        ("X-Forwarded-User", Some("alice@example.com")),
        ("X-Forwarded-Email", None),
        ("X-Forwarded-Groups", Some("admins")),
        ("X-Forwarded-Access-Token", Some("at-*")),
    ];
    let port = free_port();
    let fill = |a: &[&str]| a.iter().map(|s| world.fill(s, port)).collect::<Vec<_>>();
    let out = Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args(fill(CORE))
        .args(fill(LEGACY))
        .arg("--convert-config-to-alpha")
        .env_remove("OAUTH2_PROXY_CONFIG")
        .output()
        .expect("run --convert-config-to-alpha");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("    - name: X-Forwarded-Access-Token"),
        "{yaml}"
    );
    let file = dir.join("converted.yaml");
    std::fs::write(&file, &yaml).unwrap();
    for (label, args) in [
        ("legacy", [fill(CORE), fill(LEGACY)].concat()),
        (
            "converted",
            [
                fill(CORE),
                vec![format!("--alpha-config={}", file.display())],
            ]
            .concat(),
        ),
    ] {
        let case = Case {
            name: "converted",
            style: Style::Args(&[]),
            expect: Expect::Valid(&[]),
        };
        let mut p = spawn(
            &case,
            &world,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        p.port = port;
        p.ready()
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}\n{}", p.output()));
        check(&Check::Login(want), &p, &world)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}\n{}", p.output()));
        check(
            &Check::AuthRequest(&[("X-Auth-Request-Email", "alice@example.com")]),
            &p,
            &world,
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}\n{}", p.output()));
        drop(p);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
