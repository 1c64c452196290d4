//! End to end: the per-route policy (docs/policy.md) and the signed identity assertion
//! (docs/identity-assertion.md), with the real oidc-provider IdP, the echo app, authproxy and a
//! real nginx (`auth_request`, the documented docs/front-proxies/nginx.conf) in front of the
//! same authproxy.
//!
//! A policy of seven rules over six routes is asked, for three kinds of users (an admin, an
//! editor, a viewer; plus a second admin whom a deny rule singles out), both directly through
//! the proxy and through nginx: every status is checked, the deciding rule is checked through
//! the `/metrics` counters and the audit log, a denial names its rule in the log and never in
//! the answer. The assertion the app receives is verified by the Python (PyJWT) and Node
//! (`jose`) examples of docs/identity-assertion.md, run as written against the live JWKS.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use support::front::{self, FrontProxy};
use support::idp::{IdpConfig, Login};
use support::{content_type, free_port, Browser, EchoReply, Stack};

const ASSERTION_HEADER: &str = "x-authproxy-jwt-assertion";

/// The policy, in the TOML form (`[authproxy_policy]` of the `--config` file).
fn policy_toml(audit_log: &Path) -> String {
    format!(
        r#"
[authproxy_policy]
default = "deny"
audit_log = "{}"

[[authproxy_policy.rules]]
name = "public"
path = "/public"
allow = {{ signed_in = true }}

[[authproxy_policy.rules]]
name = "audit-owner-only"
path = "/admin/audit"
deny = {{ not = {{ emails = ["ada@example.com"] }} }}

[[authproxy_policy.rules]]
name = "admin"
path = "/admin"
allow = {{ groups = ["admins"] }}

[[authproxy_policy.rules]]
name = "api-write"
path_regex = "^/api/"
methods = ["POST", "PUT", "DELETE"]
[authproxy_policy.rules.allow]
or = [ {{ groups = ["editors"] }}, {{ and = [ {{ groups = ["admins"] }}, {{ email_domains = ["example.com"] }} ] }} ]

[[authproxy_policy.rules]]
name = "api-read"
path = "/api"
methods = ["GET"]
allow = {{ signed_in = true }}

[[authproxy_policy.rules]]
name = "reports"
path_regex = "^/reports/[0-9]+$"
allow = {{ groups = ["editors", "admins"] }}

[[authproxy_policy.rules]]
name = "no-bearer-reports"
path = "/reports"
deny = {{ auth_method = "bearer" }}
"#,
        audit_log.display()
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum User {
    /// ada: admins; the only one allowed on /admin/audit.
    Ada,
    /// grace: admins too, but not ada.
    Grace,
    /// bob: editors.
    Bob,
    /// carl: no groups (a viewer).
    Carl,
}

impl User {
    const ALL: [User; 4] = [User::Ada, User::Grace, User::Bob, User::Carl];

    fn login(self) -> Login {
        match self {
            User::Ada => Login::new("ada").groups(&["admins"]),
            User::Grace => Login::new("grace").groups(&["admins"]),
            User::Bob => Login::new("bob").groups(&["editors"]),
            User::Carl => Login::new("carl"),
        }
    }
}

/// Whether `user` may make `method path`, and the rule (or `(default)`) that decides.
fn expected(user: User, method: &str, path: &str) -> (bool, &'static str) {
    use User::*;
    let admin = matches!(user, Ada | Grace);
    let editor = user == Bob;
    match (method, path) {
        ("GET", "/public/index.html") => (true, "public"),
        ("GET", "/admin/settings") => (admin, "admin"),
        ("GET", "/admin/audit") if user == Ada => (true, "admin"),
        ("GET", "/admin/audit") => (false, "audit-owner-only"),
        ("POST" | "DELETE", "/api/items") => (admin || editor, "api-write"),
        ("GET", "/api/items") => (true, "api-read"),
        ("GET", "/reports/42") => (admin || editor, "reports"),
        // /administrator is not below /admin; /reports/x matches no allow rule.
        ("GET", "/administrator" | "/reports/x" | "/other") => (false, "(default)"),
        _ => unreachable!("{method} {path}"),
    }
}

const REQUESTS: [(&str, &str); 11] = [
    ("GET", "/public/index.html"),
    ("GET", "/admin/settings"),
    ("GET", "/admin/audit"),
    ("POST", "/api/items"),
    ("DELETE", "/api/items"),
    ("GET", "/api/items"),
    ("GET", "/reports/42"),
    ("GET", "/reports/x"),
    ("GET", "/administrator"),
    ("GET", "/other"),
    ("GET", "/admin/settings?x=/public/"),
];

fn path_only(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

struct Setup {
    stack: Stack,
    nginx: FrontProxy,
    metrics_port: u16,
    audit_log: PathBuf,
    config_file: PathBuf,
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

async fn start() -> Setup {
    let dir = front::runtime_dir("policy");
    let audit_log = dir.join("audit.jsonl");
    let config_file = dir.join("authproxy.cfg");
    std::fs::write(&config_file, policy_toml(&audit_log)).unwrap();
    let metrics_port = free_port();
    let stack = Stack::start_with(IdpConfig::default(), |c| {
        c.set("config", config_file.to_str().unwrap())
            .set("metrics-address", &format!("127.0.0.1:{metrics_port}"))
            .enable("reverse-proxy")
            .enable("skip-jwt-bearer-tokens")
            .enable("pass-identity-assertion")
            .set(
                "identity-assertion-key-file",
                &fixture("assertion-es256.pem"),
            )
            .set(
                "identity-assertion-previous-key-file",
                &fixture("assertion-es256-previous.pub.pem"),
            )
    })
    .await;
    let nginx_port = free_port();
    let conf = front::render(
        "nginx.conf",
        &[
            ("LISTEN", format!("127.0.0.1:{nginx_port}")),
            ("AUTHPROXY", format!("127.0.0.1:{}", stack.proxy.port())),
            ("APP", format!("127.0.0.1:{}", stack.app.port())),
            ("RUNTIME_DIR", dir.display().to_string()),
        ],
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let s = |v: &str| v.to_string();
    let args = vec![
        s("-p"),
        dir.display().to_string(),
        s("-e"),
        dir.join("error.log").display().to_string(),
        s("-c"),
        path.display().to_string(),
        s("-g"),
        s("daemon off; master_process off;"),
    ];
    let nginx = FrontProxy::start("nginx", "nginx", &args, nginx_port).await;
    Setup {
        stack,
        nginx,
        metrics_port,
        audit_log,
        config_file,
    }
}

/// `authproxy_policy_decisions_total` by (rule, decision).
async fn decisions(metrics_port: u16) -> BTreeMap<(String, String), u64> {
    let text = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("authproxy_policy_decisions_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").unwrap();
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                .unwrap()
                .trim_end_matches('"')
                .to_string()
        };
        out.insert((label("rule"), label("decision")), value.parse().unwrap());
    }
    assert!(!out.is_empty(), "no policy counters in /metrics:\n{text}");
    out
}

fn verdict(allowed: bool) -> String {
    if allowed { "allow" } else { "deny" }.to_string()
}

/// The policy matrix through the proxy and through nginx, counted by rule, and the 403s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_decides_per_route_through_the_proxy_and_nginx_auth_request() {
    let setup = start().await;
    let stack = &setup.stack;
    let mut browsers = Vec::new();
    for user in User::ALL {
        let browser = Browser::new();
        stack
            .sign_in(&browser, "/public/index.html", &user.login())
            .await;
        browsers.push((user, browser));
    }
    let before = decisions(setup.metrics_port).await;
    let mut want: BTreeMap<(String, String), u64> = before.clone();
    for (user, browser) in &browsers {
        for (method, path) in REQUESTS {
            let (allowed, rule) = expected(*user, method, path_only(path));
            for (via, url) in [
                ("proxy", stack.proxy.url(path)),
                ("nginx", setup.nginx.url(path)),
            ] {
                let hits = stack.app.hits();
                let resp = browser
                    .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
                    .header("accept", "text/html")
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap();
                let at = format!("{user:?} {method} {path} via {via}");
                if allowed {
                    assert_eq!(status, 200, "{at}: {body}");
                    let echo: EchoReply = serde_json::from_str(&body).unwrap();
                    assert_eq!(echo.method, method, "{at}");
                    assert_eq!(echo.path, path, "{at}");
                    assert_eq!(stack.app.hits(), hits + 1, "{at}");
                } else {
                    assert_eq!(status, 403, "{at}: {body}");
                    assert_eq!(stack.app.hits(), hits, "{at}: reached the app");
                    // (Plain words such as `admin` may appear in any page: check the
                    // distinctive names.)
                    if rule.contains(['-', '(']) {
                        assert!(!body.contains(rule), "{at}: the answer names the rule");
                    }
                }
                *want
                    .entry((rule.to_string(), verdict(allowed)))
                    .or_default() += 1;
            }
        }
    }
    let after = decisions(setup.metrics_port).await;
    assert_eq!(after, want, "decisions by rule (before: {before:?})");

    // An API client gets a JSON 403; a browser the HTML error page; neither names the rule.
    let (_, carl) = &browsers[3];
    let resp = carl.get_json(&stack.proxy.url("/admin/settings")).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(content_type(&resp), "application/json");
    let body = resp.text().await.unwrap();
    assert!(body.contains("403") && !body.contains("admin"), "{body}");
    let resp = carl.get(&stack.proxy.url("/admin/audit")).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(content_type(&resp), "text/html");
    assert!(!resp.text().await.unwrap().contains("audit-owner-only"));
    // The log names the rule.
    let log = stack.proxy.log();
    assert!(
        log.lines().any(|l| l.contains("policy denied")
            && l.contains("audit-owner-only")
            && l.contains("grace@example.com")),
        "no log line names the deciding rule"
    );

    // Envoy's HTTP ext_authz check (`{prefix}/ext_authz/<original path>`, original method): the
    // same rules; an allowed check carries the assertion for the app.
    for (user, browser) in &browsers {
        for (method, path) in [
            ("GET", "/admin/audit"),
            ("POST", "/api/items"),
            ("GET", "/other"),
        ] {
            let (allowed, _) = expected(*user, method, path);
            let resp = browser
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &stack.proxy.url(&format!("/oauth2/ext_authz{path}")),
                )
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            let at = format!("ext_authz {user:?} {method} {path}");
            if allowed {
                assert_eq!(resp.status(), 200, "{at}");
                let token = resp.headers().get(ASSERTION_HEADER);
                assert!(
                    token.is_some_and(|t| t.as_bytes().starts_with(b"eyJ")),
                    "{at}: no assertion for the app"
                );
            } else {
                assert_eq!(resp.status(), 403, "{at}");
                assert_eq!(content_type(&resp), "application/json", "{at}");
            }
        }
    }

    // A bearer JWT is another authentication method: denied on /reports by its own rule.
    let token = front::id_token(
        &stack.idp,
        &User::Bob.login(),
        &stack.proxy.url("/oauth2/callback"),
    )
    .await;
    for (path, status) in [("/reports/42", 403), ("/api/items", 200)] {
        for url in [stack.proxy.url(path), setup.nginx.url(path)] {
            let resp = Browser::new()
                .client()
                .get(&url)
                .header("accept", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), status, "bearer {url}");
        }
    }

    // The audit log: one JSON line per decision, with the rule, from both endpoints.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines: Vec<serde_json::Value> = loop {
        let text = std::fs::read_to_string(&setup.audit_log).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 4 * REQUESTS.len() * 2 + 6 || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let find = |endpoint: &str, email: &str, path: &str| {
        lines
            .iter()
            .find(|l| l["endpoint"] == endpoint && l["email"] == email && l["path"] == path)
            .unwrap_or_else(|| panic!("no audit line for {endpoint} {email} {path}"))
    };
    let l = find("ext_authz", "grace@example.com", "/admin/audit");
    assert_eq!(l["rule"], "audit-owner-only");
    for endpoint in ["proxy", "auth_request"] {
        let l = find(endpoint, "grace@example.com", "/admin/audit");
        assert_eq!(l["rule"], "audit-owner-only");
        assert_eq!(l["decision"], "deny");
        assert_eq!(l["reason"], "deny_holds");
        let l = find(endpoint, "bob@example.com", "/api/items");
        assert_eq!(l["decision"], "allow");
        let l = find(endpoint, "carl@example.com", "/other");
        assert_eq!(l["rule"], "(default)");
        assert_eq!(l["decision"], "deny");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["auth_method"] == "bearer" && l["rule"] == "no-bearer-reports"),
        "the bearer denial is audited"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l["path"].as_str().unwrap().contains('?')),
        "the query is never written"
    );

    // `authproxy policy explain` with the same configuration says the same.
    let explain = |user: &str, groups: &str, method: &str, path: &str| {
        let mut args = vec![
            "policy".to_string(),
            "explain".to_string(),
            format!("--config={}", setup.config_file.display()),
        ];
        args.extend(proxy_options(stack));
        args.extend([
            "--user".to_string(),
            user.to_string(),
            "--groups".to_string(),
            groups.to_string(),
            method.to_string(),
            path.to_string(),
        ]);
        let out = Command::new(env!("CARGO_BIN_EXE_authproxy"))
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = explain("grace@example.com", "admins,ops", "GET", "/admin/audit");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("decision: DENY by rule \"audit-owner-only\""),
        "{out}{err}"
    );
    let (code, out, err) = explain("ada@example.com", "admins", "GET", "/admin/x");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("decision: ALLOW by rule \"admin\""), "{out}");
    let (code, out, _) = explain("carl@example.com", "", "GET", "/other");
    assert_eq!(code, Some(1));
    assert!(out.contains("by the default (deny)"), "{out}");
}

/// The proxy options of the test stack, for `policy explain` (the same configuration).
fn proxy_options(stack: &Stack) -> Vec<String> {
    vec![
        "--provider=oidc".into(),
        format!("--oidc-issuer-url={}", stack.idp.issuer()),
        format!("--client-id={}", support::CLIENT_ID),
        format!("--client-secret={}", support::CLIENT_SECRET),
        format!("--cookie-secret={}", support::COOKIE_SECRET),
        format!("--upstream={}", stack.app.url()),
        "--email-domain=*".into(),
    ]
}

// ---------------------------------------------------------------------------------------------
// The identity assertion, verified by the documented examples.

/// The fenced code block of docs/identity-assertion.md whose first line is `first_line`.
fn doc_example(first_line: &str) -> String {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/identity-assertion.md"),
    )
    .unwrap();
    let mut blocks = doc.split("```").skip(1).step_by(2);
    let block = blocks
        .find(|b| b.lines().nth(1).is_some_and(|l| l.trim() == first_line))
        .unwrap_or_else(|| panic!("docs/identity-assertion.md has no example {first_line}"));
    // Drop the info string (`python`, `js`).
    block.split_once('\n').unwrap().1.to_string()
}

/// `NAME = "…"` (Python) or `const NAME = "…";` (JS) replaced by the live value.
fn set_constants(code: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut replaced = 0;
    for line in code.lines() {
        let mut line = line.to_string();
        for (name, value) in values {
            if line.starts_with(&format!("{name} = ")) {
                line = format!("{name} = \"{value}\"");
                replaced += 1;
            } else if line.starts_with(&format!("const {name} = ")) {
                line = format!("const {name} = \"{value}\";");
                replaced += 1;
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    assert_eq!(replaced, values.len(), "constants of the example:\n{code}");
    out
}

fn assertion_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/assertion")
}

/// PyJWT (with its crypto backend) and the pinned `jose` (tests/assertion), installed when
/// missing; a failed install fails the test.
fn ensure_verifiers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let have_pyjwt = Command::new("python3")
            .args(["-c", "import jwt, cryptography"])
            .status()
            .is_ok_and(|s| s.success());
        if !have_pyjwt {
            let ok = ["--quiet", "--quiet --break-system-packages"]
                .iter()
                .any(|extra| {
                    let mut args = vec!["-m", "pip", "install", "--disable-pip-version-check"];
                    args.extend(extra.split(' '));
                    args.push("pyjwt[crypto]");
                    Command::new("python3")
                        .args(&args)
                        .status()
                        .is_ok_and(|s| s.success())
                });
            assert!(
                ok,
                "pip install pyjwt[crypto] failed (the Python example needs it)"
            );
        }
        let jose = assertion_dir().join("node_modules/jose/package.json");
        let want = "6.2.17";
        let have = std::fs::read(&jose)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        if have.as_deref() != Some(want) {
            let ok = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(assertion_dir())
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "npm ci in tests/assertion failed (the Node example needs jose)"
            );
        }
    });
}

struct Verifier {
    python: PathBuf,
    node: PathBuf,
}

/// The two documented examples with these constants, plus a main that prints the claims.
fn verifiers(jwks: &str, issuer: &str, audience: &str) -> Verifier {
    ensure_verifiers();
    let values = [
        ("JWKS_URL", jwks),
        ("ISSUER", issuer),
        ("AUDIENCE", audience),
    ];
    let n = free_port();
    let py = set_constants(&doc_example("# verify_assertion.py"), &values)
        + "\nimport json, sys\nprint(json.dumps(verify(sys.argv[1])))\n";
    let python = support::log_dir().join(format!("verify_assertion_{n}.py"));
    std::fs::write(&python, py).unwrap();
    // In tests/assertion/.run so that `import "jose"` resolves to tests/assertion/node_modules.
    let js = set_constants(&doc_example("// verify-assertion.mjs"), &values)
        + "\nconsole.log(JSON.stringify(await verify(process.argv[2])));\n";
    let run = assertion_dir().join(".run");
    std::fs::create_dir_all(&run).unwrap();
    let node = run.join(format!("verify-assertion-{n}.mjs"));
    std::fs::write(&node, js).unwrap();
    Verifier { python, node }
}

impl Verifier {
    /// The claims each example prints, or its error output.
    fn run(&self, token: &str) -> [Result<serde_json::Value, String>; 2] {
        let run = |program: &str, script: &Path| {
            let out = Command::new(program)
                .arg(script)
                .arg(token)
                .output()
                .unwrap_or_else(|e| panic!("{program}: {e}"));
            if out.status.success() {
                Ok(serde_json::from_slice(&out.stdout).unwrap())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        };
        [run("python3", &self.python), run("node", &self.node)]
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.python);
        let _ = std::fs::remove_file(&self.node);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_gets_an_assertion_the_documented_python_and_node_examples_verify() {
    let setup = start().await;
    let stack = &setup.stack;
    let browser = Browser::new();
    stack
        .sign_in(&browser, "/public/index.html", &User::Bob.login())
        .await;
    let issuer = stack.proxy.url("");

    // The JWKS: the current key first, the previous one still published; both paths alike.
    let jwks_url = stack.proxy.url("/oauth2/jwks.json");
    let resp = Browser::new().get(&jwks_url).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/json");
    let jwks: serde_json::Value = resp.json().await.unwrap();
    let well_known: serde_json::Value = Browser::new()
        .get(&stack.proxy.url("/.well-known/authproxy/jwks.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks, well_known);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{jwks}");
    assert!(keys
        .iter()
        .all(|k| k["kty"] == "EC" && k.get("d").is_none()));

    for (via, base, audience) in [
        (
            "proxy",
            stack.proxy.url(""),
            format!("127.0.0.1:{}", stack.proxy.port()),
        ),
        (
            "nginx",
            setup.nginx.url(""),
            setup
                .nginx
                .url("")
                .trim_start_matches("http://")
                .to_string(),
        ),
    ] {
        // A client-sent assertion never reaches the app.
        let resp = browser
            .client()
            .get(format!("{base}/api/items"))
            .header(
                ASSERTION_HEADER,
                "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{via}");
        let echo: EchoReply = resp.json().await.unwrap();
        let user = echo
            .header("x-forwarded-user")
            .unwrap_or_else(|| panic!("{via}: no X-Forwarded-User"))
            .to_string();
        let token = echo
            .header(ASSERTION_HEADER)
            .unwrap_or_else(|| panic!("{via}: no assertion at the app: {:?}", echo.headers))
            .to_string();
        assert!(
            !token.contains("eyJzdWIiOiJtYWxsb3J5In0"),
            "{via}: forged assertion passed"
        );
        let header: serde_json::Value =
            serde_json::from_slice(&base64_url(token.split('.').next().unwrap())).unwrap();
        assert_eq!(header["alg"], "ES256", "{via}");
        assert_eq!(
            header["kid"], keys[0]["kid"],
            "{via}: signed by the current key"
        );

        let good = verifiers(&jwks_url, &issuer, &audience);
        for (lang, result) in ["python", "node"].iter().zip(good.run(&token)) {
            let claims = result.unwrap_or_else(|e| panic!("{via} {lang}: rejected: {e}"));
            assert_eq!(claims["email"], "bob@example.com", "{via} {lang}");
            assert_eq!(
                claims["groups"],
                serde_json::json!(["editors"]),
                "{via} {lang}"
            );
            assert_eq!(claims["iss"], issuer.as_str(), "{via} {lang}");
            assert_eq!(claims["aud"], audience.as_str(), "{via} {lang}");
            assert_eq!(
                claims["sub"],
                user.as_str(),
                "{via} {lang}: the session's user"
            );
            let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
            assert_eq!(lifetime, 300, "{via} {lang}: five minutes");
            assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
        }
        // Another audience (an assertion replayed against another app), and a tampered token.
        let other = verifiers(&jwks_url, &issuer, "other.example.com");
        for (lang, result) in ["python", "node"].iter().zip(other.run(&token)) {
            assert!(result.is_err(), "{via} {lang}: accepted another audience");
        }
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut claims: serde_json::Value = serde_json::from_slice(&base64_url(&parts[1])).unwrap();
        claims["email"] = "mallory@example.com".into();
        claims["groups"] = serde_json::json!(["admins"]);
        parts[1] = base64_url_encode(claims.to_string().as_bytes());
        let tampered = parts.join(".");
        assert_ne!(tampered, token);
        for (lang, result) in ["python", "node"].iter().zip(good.run(&tampered)) {
            assert!(result.is_err(), "{via} {lang}: accepted a tampered token");
        }

        // The session reuses its assertion (cached for a fifth of its lifetime).
        let echo: EchoReply = browser
            .get(&format!("{base}/api/items"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            echo.header(ASSERTION_HEADER),
            Some(token.as_str()),
            "{via}: reused"
        );
    }
}

fn base64_url_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}
