//! `authproxy policy explain [PROXY OPTIONS] --user EMAIL [--groups a,b] [--provider-id ID]
//! [--auth-method session|bearer|htpasswd] [--claim NAME=VALUE] [--host HOST] METHOD PATH`
//!
//! Loads the configuration exactly as the proxy does (the same `--config`, `--alpha-config`,
//! flags and `OAUTH2_PROXY_*` variables), then prints how the policy decides the request: the
//! global rules' verdict, each rule's route and criteria with the facts they looked at, and
//! the decision. Exit status: 0 allowed, 1 denied, 2 bad usage or configuration.

use std::ffi::OsString;
use std::process::ExitCode;

use crate::config::policy::AuthKind;
use crate::session::SessionState;

use super::{explain, Policy, Subject, Target};

const USAGE: &str = "usage: authproxy policy explain [--config FILE] [--alpha-config FILE] [PROXY OPTIONS]\n\
    \x20      --user EMAIL [--groups G1,G2] [--provider-id ID] [--auth-method session|bearer|htpasswd]\n\
    \x20      [--claim NAME=VALUE]... [--host HOST] METHOD PATH\n\
    Prints which policy rule decides the request and why. Exit status: 0 allowed, 1 denied, 2 error.";

/// What `policy explain` was asked.
#[derive(Debug, Default, PartialEq)]
struct Request {
    user: String,
    groups: Vec<String>,
    provider: Option<String>,
    auth: Option<AuthKind>,
    claims: Vec<(String, serde_json::Value)>,
    host: String,
    method: String,
    path: String,
    /// Everything else: the proxy's own options.
    proxy_args: Vec<OsString>,
}

fn parse(args: &[OsString]) -> Result<Request, String> {
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.to_str()
                .map(str::to_owned)
                .ok_or("arguments must be UTF-8")
        })
        .collect::<Result<_, _>>()?;
    match args.first().map(String::as_str) {
        Some("explain") => {}
        Some("-h" | "--help" | "help") | None => return Err(String::new()),
        Some(other) => return Err(format!("unknown policy command {other:?}")),
    }
    let rest = &args[1..];
    if rest.len() < 2 {
        return Err("give the request: METHOD PATH (e.g. GET /admin/x)".into());
    }
    let (opts, positional) = rest.split_at(rest.len() - 2);
    let mut r = Request {
        method: positional[0].to_ascii_uppercase(),
        path: positional[1].clone(),
        ..Request::default()
    };
    if http::Method::from_bytes(r.method.as_bytes()).is_err() || r.method.starts_with('-') {
        return Err(format!("{:?} is not an HTTP method", positional[0]));
    }
    if !r.path.starts_with('/') {
        return Err(format!("the path {:?} must start with /", r.path));
    }
    let mut i = 0;
    while i < opts.len() {
        let arg = &opts[i];
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let ours = matches!(
            name,
            "--user"
                | "--groups"
                | "--group"
                | "--provider-id"
                | "--auth-method"
                | "--claim"
                | "--host"
        );
        if !ours {
            r.proxy_args.push(OsString::from(arg));
            i += 1;
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                opts.get(i)
                    .cloned()
                    .ok_or(format!("{name} needs a value"))?
            }
        };
        match name {
            "--user" => r.user = value,
            "--groups" | "--group" => r.groups.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned),
            ),
            "--provider-id" => r.provider = Some(value),
            "--auth-method" => {
                r.auth = Some(match value.to_ascii_lowercase().as_str() {
                    "session" | "browser" | "cookie" => AuthKind::Session,
                    "bearer" | "jwt" => AuthKind::Bearer,
                    "htpasswd" | "basic" => AuthKind::Htpasswd,
                    _ => {
                        return Err(format!(
                            "--auth-method {value:?}: one of session, bearer, htpasswd"
                        ))
                    }
                })
            }
            "--claim" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or(format!("--claim {value:?}: write NAME=VALUE"))?;
                let v = serde_json::from_str(v)
                    .unwrap_or_else(|_| serde_json::Value::String(v.to_owned()));
                r.claims.push((k.trim().to_owned(), v));
            }
            _ => r.host = value,
        }
        i += 1;
    }
    if r.user.is_empty() {
        return Err("--user EMAIL is required (the identity to explain)".into());
    }
    Ok(r)
}

/// Run `authproxy policy …` (arguments after `policy`).
pub fn run_cli(args: &[OsString]) -> ExitCode {
    let req = match parse(args) {
        Ok(r) => r,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("authproxy policy: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let env = crate::config::process_env();
    let cfg = match crate::config::load(&req.proxy_args, &env) {
        Ok(crate::config::Command::Run(cfg)) | Ok(crate::config::Command::Check(cfg)) => *cfg,
        Ok(_) => {
            eprintln!("authproxy policy: --help/--version are not proxy options here\n{USAGE}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("authproxy policy: invalid configuration:\n{e}");
            return ExitCode::from(2);
        }
    };
    let Some(policy_cfg) = &cfg.policy else {
        eprintln!("authproxy policy: the configuration has no policy (authproxyPolicy in the alpha file, or [authproxy_policy] in the TOML file)");
        return ExitCode::from(2);
    };
    let policy = match Policy::new(policy_cfg, false) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("authproxy policy: {e}");
            return ExitCode::from(2);
        }
    };
    let provider = req
        .provider
        .clone()
        .or_else(|| cfg.providers.first().map(|p| p.id.clone()))
        .unwrap_or_default();
    let Some(provider_index) = cfg.providers.iter().position(|p| p.id == provider) else {
        let ids: Vec<&str> = cfg.providers.iter().map(|p| p.id.as_str()).collect();
        eprintln!(
            "authproxy policy: --provider {provider:?} is not configured (configured: {})",
            ids.join(", ")
        );
        return ExitCode::from(2);
    };
    let auth = req.auth.unwrap_or(AuthKind::Session);
    let mut session = SessionState {
        email: req.user.clone(),
        user: req.user.clone(),
        groups: req.groups.clone(),
        ..SessionState::default()
    };
    for (k, v) in &req.claims {
        session
            .additional_claims
            .insert(k.clone(), crate::session::claims::from_json(v));
    }
    let claims = super::session_claims(Some(&policy), &session);
    let who = Subject {
        email: &session.email,
        user: &session.user,
        groups: &session.groups,
        provider: &provider,
        auth,
        claims: &claims,
    };
    let target = Target {
        method: &req.method,
        host: &req.host,
        path: Some(&req.path),
    };
    println!(
        "request: {} {}{}",
        req.method,
        req.path,
        if req.host.is_empty() {
            String::new()
        } else {
            format!(" (host {})", req.host)
        }
    );
    println!(
        "identity: {} (groups: {}; provider: {provider}; authenticated by {})",
        req.user,
        if req.groups.is_empty() {
            "none".to_owned()
        } else {
            req.groups.join(", ")
        },
        auth.as_str()
    );
    let global = match crate::authz::AuthzPolicy::from_config(&cfg.authz) {
        Ok(authz) => {
            let groups = cfg.providers[provider_index]
                .allowed_groups
                .iter()
                .cloned()
                .collect();
            crate::authz::decide_with_provider(&authz, &groups, &session.email, &session.groups)
        }
        Err(e) => {
            eprintln!("authproxy policy: email_domains: {e}");
            return ExitCode::from(2);
        }
    };
    match global {
        crate::authz::Decision::Allow => {
            println!(
                "global rules (email_domains, allowed_groups, provider allowedGroups): allowed"
            );
        }
        crate::authz::Decision::Deny(reason) => {
            println!("global rules (email_domains, allowed_groups, provider allowedGroups): DENIED ({reason}); the policy is not consulted");
            return ExitCode::from(1);
        }
    }
    let (decision, text) = explain(&policy, &target, &who);
    print!("{text}");
    if decision.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_split_into_the_request_and_the_proxy_options() {
        let r = parse(&os(&[
            "explain",
            "--config",
            "/etc/a.cfg",
            "--user=alice@example.com",
            "--groups",
            "a, b",
            "--claim",
            "roles=[\"x\"]",
            "--claim=level=3",
            "--auth-method",
            "bearer",
            "--alpha-config=/etc/alpha.yaml",
            "get",
            "/admin/x",
        ]))
        .unwrap();
        assert_eq!(r.user, "alice@example.com");
        assert_eq!(r.groups, ["a", "b"]);
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/admin/x");
        assert_eq!(r.auth, Some(AuthKind::Bearer));
        assert_eq!(r.claims[0], ("roles".into(), serde_json::json!(["x"])));
        assert_eq!(r.claims[1], ("level".into(), serde_json::json!(3)));
        assert_eq!(
            r.proxy_args,
            os(&["--config", "/etc/a.cfg", "--alpha-config=/etc/alpha.yaml"])
        );
    }

    #[test]
    fn bad_usage_is_explained() {
        for (args, want) in [
            (vec!["explain", "GET", "/x"], "--user"),
            (
                vec!["explain", "--user", "a@b.c", "GET", "x"],
                "must start with /",
            ),
            (
                vec!["explain", "--user", "a@b.c", "G T", "/x"],
                "not an HTTP method",
            ),
            (vec!["frobnicate"], "unknown policy command"),
            (vec!["explain", "--user"], "METHOD PATH"),
            (
                vec![
                    "explain",
                    "--auth-method",
                    "magic",
                    "--user",
                    "a@b.c",
                    "GET",
                    "/",
                ],
                "one of session",
            ),
        ] {
            let e = parse(&os(&args)).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
        assert_eq!(parse(&os(&[])).unwrap_err(), "");
    }
}
