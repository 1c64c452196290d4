//! `authproxy demo`: the development identity provider, the sample app and the proxy, all on
//! loopback, wired together so a newcomer can sign in within a minute.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use tokio::net::TcpListener;

const USAGE: &str = "\
authproxy demo — run the proxy with a built-in DEVELOPMENT identity provider and a sample app

USAGE:
    authproxy demo [--port N] [--idp-port N] [--app-port N] [-- <extra authproxy flags>]

All three listen on 127.0.0.1 only. Defaults: proxy 4180, identity provider 4181, app 4182.
Anything after `--` is passed to the proxy as oauth2-proxy flags, e.g.
    authproxy demo -- --allowed-group=admins --skip-provider-button
";

#[derive(Debug)]
struct DemoPorts {
    proxy: u16,
    idp: u16,
    app: u16,
    extra: Vec<OsString>,
}

fn parse(args: &[OsString]) -> Result<Option<DemoPorts>, String> {
    let mut ports = DemoPorts {
        proxy: 4180,
        idp: 4181,
        app: 4182,
        extra: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let s = arg.to_string_lossy();
        if s == "--" {
            ports.extra.extend(it.cloned());
            break;
        }
        if s == "-h" || s == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match s.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (s.to_string(), None),
        };
        let slot = match flag.as_str() {
            "--port" => &mut ports.proxy,
            "--idp-port" => &mut ports.idp,
            "--app-port" => &mut ports.app,
            other => {
                return Err(format!(
                    "unknown demo option `{other}` (see `authproxy demo --help`)"
                ))
            }
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or_else(|| format!("`{flag}` needs a port number"))?,
        };
        *slot = value
            .parse()
            .map_err(|_| format!("`{flag}`: `{value}` is not a port number"))?;
    }
    Ok(Some(ports))
}

async fn bind(port: u16, what: &str, flag: &str) -> Result<TcpListener, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpListener::bind(addr)
        .await
        .map_err(|e| port_error(addr, what, flag, &e))
}

/// The port-clash message: which port, for what, and the flag that moves it.
fn port_error(addr: SocketAddr, what: &str, flag: &str, e: &dyn std::fmt::Display) -> String {
    format!(
        "cannot listen on {addr} for the {what}: {e}; choose another port with {flag}          (the demo's ports: --port for the proxy, --idp-port for the identity provider,          --app-port for the sample app)"
    )
}

/// Entry point of `authproxy demo`.
pub async fn run_cli(args: &[OsString]) -> ExitCode {
    let ports = match parse(args) {
        Ok(Some(p)) => p,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("authproxy demo: {e}");
            return ExitCode::from(2);
        }
    };
    let _log_guard = crate::telemetry::init(&crate::config::LoggingConfig::default());
    // The proxy binds its own listener later; checking the port now gives the same clear
    // message as for the other two.
    if let Err(e) = bind(ports.proxy, "proxy", "--port").await {
        eprintln!("authproxy demo: {e}");
        return ExitCode::FAILURE;
    }
    let (idp_l, app_l) = match (
        bind(ports.idp, "identity provider", "--idp-port").await,
        bind(ports.app, "sample app", "--app-port").await,
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("authproxy demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let issuer = format!("http://127.0.0.1:{}", ports.idp);
    let proxy_url = format!("http://127.0.0.1:{}", ports.proxy);
    let secret = crate::crypto::random_urlsafe(32);
    let client_secret = crate::crypto::random_urlsafe(24);
    let client = super::DemoClient {
        id: "authproxy-demo".into(),
        secret: client_secret.clone(),
        redirect_uris: vec![format!("{proxy_url}/oauth2/callback")],
    };
    let Ok(issuer_url) = url::Url::parse(&issuer) else {
        return ExitCode::FAILURE;
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let idp = tokio::spawn(super::run_idp(
        idp_l,
        issuer_url,
        client,
        wait(stop_rx.clone()),
    ));
    let app = tokio::spawn(super::run_app(app_l, wait(stop_rx.clone())));

    let mut flags: Vec<OsString> = [
        format!("--http-address=127.0.0.1:{}", ports.proxy),
        "--provider=oidc".into(),
        "--provider-display-name=authproxy demo IdP".into(),
        format!("--oidc-issuer-url={issuer}"),
        "--client-id=authproxy-demo".into(),
        format!("--client-secret={client_secret}"),
        format!("--cookie-secret={secret}"),
        "--cookie-secure=false".into(),
        format!("--redirect-url={proxy_url}/oauth2/callback"),
        format!("--upstream=http://127.0.0.1:{}", ports.app),
        "--email-domain=*".into(),
        "--pass-user-headers=true".into(),
        "--set-xauthrequest=true".into(),
        "--pass-access-token=true".into(),
        "--pass-authorization-header=true".into(),
        "--cookie-refresh=1m".into(),
        "--oidc-rp-initiated-logout=true".into(),
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    flags.extend(ports.extra.iter().cloned());
    let cfg = match crate::config::load(&flags, &Default::default()) {
        Ok(crate::config::Command::Run(cfg)) => *cfg,
        Ok(_) => {
            eprintln!("authproxy demo: extra flags may not ask for --help/--version/--check");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("authproxy demo: invalid extra flags:\n{e}");
            return ExitCode::from(2);
        }
    };
    println!();
    println!("  authproxy demo — DEVELOPMENT ONLY, everything on 127.0.0.1");
    println!("  ─────────────────────────────────────────────────────────");
    println!("  Open            {proxy_url}/   (any username signs in)");
    println!("  Identity prov.  {issuer}/.well-known/openid-configuration");
    println!(
        "  Sample app      http://127.0.0.1:{} (behind the proxy)",
        ports.app
    );
    println!("  Stop with Ctrl-C.");
    println!();
    let code = crate::run(cfg).await;
    let _ = stop_tx.send(true);
    let _ = idp.await;
    let _ = app.await;
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn demo_ports_default_and_override() {
        let p = parse(&os(&[])).unwrap().unwrap();
        assert_eq!((p.proxy, p.idp, p.app), (4180, 4181, 4182));
        let p = parse(&os(&[
            "--port",
            "5000",
            "--app-port=5002",
            "--",
            "--skip-provider-button",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((p.proxy, p.idp, p.app), (5000, 4181, 5002));
        assert_eq!(p.extra, os(&["--skip-provider-button"]));
    }

    #[test]
    fn demo_rejects_unknown_options_and_bad_ports() {
        assert!(parse(&os(&["--bogus"])).unwrap_err().contains("--bogus"));
        assert!(parse(&os(&["--port", "x"]))
            .unwrap_err()
            .contains("not a port"));
        assert!(parse(&os(&["--help"])).unwrap().is_none());
    }
}
