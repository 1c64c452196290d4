//! Test-only launcher of the GitHub fake (tests/fakes/github.rs) for tests that are not Rust,
//! e.g. the browser tests in tests/browser: it serves GitHub's OAuth web flow and REST API
//! (GitHub Enterprise layout, `/api/v3`) on 127.0.0.1 and prints `READY http://127.0.0.1:PORT`
//! on stdout once listening.
//!
//! Usage: `fake_github [LOGIN[:ORG[/TEAM],...] ...]`. Every argument adds an account with the
//! verified primary address `LOGIN@example.com`, member of the listed orgs (and `ORG/TEAM`
//! teams, which also make it an ORG member). Without arguments: `alice:acme/ops` and
//! `mallory`. The first account approves authorizations; a line `as LOGIN` on stdin switches
//! to another one (answered with `OK` or `ERR ...`). Ends when stdin closes or on SIGTERM.
//!
//! OAuth client: id `gh-client`, secret `gh-secret`.

#[path = "../tests/fakes/mod.rs"]
mod fakes;

use fakes::github::{GhUser, GithubFake};
use std::io::{BufRead, Write};

/// Parses `LOGIN[:ORG[/TEAM],...]` into an account with id `id`.
fn parse_user(spec: &str, id: u64) -> Result<GhUser, String> {
    let (login, memberships) = spec.split_once(':').unwrap_or((spec, ""));
    if login.is_empty() || !login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "bad login in {spec:?}: letters, digits and '-' only"
        ));
    }
    let mut user = GhUser::new(login, id);
    for m in memberships.split(',').filter(|m| !m.is_empty()) {
        let (org, team) = match m.split_once('/') {
            Some((org, team)) if !team.is_empty() => (org, Some(team)),
            Some(_) => return Err(format!("empty team in {spec:?}")),
            None => (m, None),
        };
        if org.is_empty() {
            return Err(format!("empty org in {spec:?}"));
        }
        if !user.orgs.iter().any(|o| o == org) {
            user.orgs.push(org.to_owned());
        }
        if let Some(team) = team {
            user.teams.push((org.to_owned(), team.to_owned()));
        }
    }
    Ok(user)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut specs: Vec<String> = std::env::args().skip(1).collect();
    if specs.is_empty() {
        specs = vec!["alice:acme/ops".into(), "mallory".into()];
    }
    let mut users = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        match parse_user(spec, i as u64 + 1) {
            Ok(u) => users.push(u),
            Err(e) => {
                eprintln!("fake_github: {e}");
                std::process::exit(2);
            }
        }
    }
    let fake = GithubFake::start().await;
    for u in users {
        fake.add_user(u);
    }
    println!("READY {}", fake.base());
    // stdin is read on a plain thread (tokio's io-std feature is not enabled for the crate).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake_github: cannot watch SIGTERM: {e}");
            std::process::exit(1);
        }
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            line = rx.recv() => {
                // None: stdin closed, the parent is gone.
                let Some(line) = line else { break };
                let answer = match line.trim().strip_prefix("as ").map(str::trim) {
                    Some(login) if fake.state.lock().is_ok_and(|s| s.users.contains_key(login)) => {
                        fake.sign_in_as(login);
                        "OK".to_owned()
                    }
                    Some(login) => format!("ERR no account {login:?}"),
                    None => format!("ERR unknown command {line:?}"),
                };
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{answer}");
                let _ = out.flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_user;

    #[test]
    fn parses_orgs_and_teams_and_rejects_bad_specs() {
        let u = parse_user("alice:acme/ops,oss", 1).unwrap();
        assert_eq!(u.login, "alice");
        assert_eq!(u.orgs, vec!["acme", "oss"]);
        assert_eq!(u.teams, vec![("acme".to_owned(), "ops".to_owned())]);
        assert!(parse_user("mallory", 2).unwrap().orgs.is_empty());
        for bad in ["", ":acme", "a b", "x:acme/", "x:/ops"] {
            assert!(parse_user(bad, 3).is_err(), "{bad:?}");
        }
    }
}
