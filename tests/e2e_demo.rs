//! The Quick start's first command, `authproxy demo`, run as a user runs it (on free ports
//! with `--port`, `--idp-port`, `--app-port`): sign in through the development identity
//! provider's form, reach the sample app with identity headers, sign out, which also ends the
//! session at the identity provider (RP-initiated logout) and comes back to the proxy. And a
//! port clash names the flag that moves the port.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::html::forms;
use support::{free_port, location, Browser};

struct Demo {
    child: Child,
    proxy: u16,
    idp: u16,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_demo() -> Demo {
    let (proxy, idp, app) = (free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args(["demo", "--port", &proxy.to_string()])
        .arg(format!("--idp-port={idp}"))
        .args(["--app-port", &app.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run authproxy demo");
    let demo = Demo { child, proxy, idp };
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = http
            .get(format!("http://127.0.0.1:{proxy}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return demo;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not become ready in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_signs_in_reaches_the_app_and_signs_out_at_the_idp_too() {
    let demo = start_demo().await;
    let base = format!("http://127.0.0.1:{}", demo.proxy);
    let browser = Browser::new();

    // The sign-in flow: /oauth2/start → the IdP's form → callback → the app.
    let resp = browser.get(&format!("{base}/oauth2/start?rd=%2F")).await;
    assert_eq!(resp.status(), 302);
    let authorize = location(&resp);
    assert_eq!(authorize.port(), Some(demo.idp));
    let page = browser.get(authorize.as_str()).await.text().await.unwrap();
    let mut form = forms(&page)
        .into_iter()
        .find(|f| f.action.ends_with("/authorize"))
        .expect("the development IdP's sign-in form");
    form.set("username", "alice");
    form.fields.push(("group".into(), "admins".into()));
    let resp = browser
        .post_form(
            &format!("http://127.0.0.1:{}/authorize", demo.idp),
            &form.fields,
        )
        .await;
    assert_eq!(resp.status(), 302);
    let callback = location(&resp);
    let resp = browser.get(callback.as_str()).await;
    assert_eq!(resp.status(), 302);
    let resp = browser.get(&format!("{base}/")).await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("alice@example.com"),
        "the app shows the user: {body}"
    );

    // Sign-out: the local session ends, the IdP's end-session endpoint is next, then back.
    let resp = browser.get(&format!("{base}/oauth2/sign_out")).await;
    assert_eq!(resp.status(), 302);
    let end = location(&resp);
    assert_eq!(end.port(), Some(demo.idp));
    assert_eq!(end.path(), "/logout");
    let q: std::collections::HashMap<String, String> = end.query_pairs().into_owned().collect();
    assert!(q.contains_key("id_token_hint"));
    assert_eq!(q["post_logout_redirect_uri"], format!("{base}/"));
    let resp = browser.get(end.as_str()).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(location(&resp).as_str(), format!("{base}/"));
    let resp = browser.get(&format!("{base}/")).await;
    assert_ne!(resp.status(), 200, "signed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_clash_names_the_flag_that_moves_the_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_authproxy"))
        .args([
            "demo",
            "--port",
            &free_port().to_string(),
            "--idp-port",
            &port.to_string(),
        ])
        .args(["--app-port", &free_port().to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run authproxy demo");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}"))
            && err.contains("choose another port with --idp-port"),
        "{err}"
    );
    assert!(
        err.contains("--port") && err.contains("--app-port"),
        "{err}"
    );
}
