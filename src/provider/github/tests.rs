//! Unit tests of the GitHub provider: restriction parsing and decisions, groups, the email.

use super::*;

fn restrictions(org: &str, team: &str, repo: &str, users: &[&str]) -> Restrictions {
    Restrictions::from_options(&crate::config::GithubOptions {
        org: org.into(),
        team: team.into(),
        repo: repo.into(),
        token: Secret::default(),
        users: users.iter().map(|u| (*u).to_owned()).collect(),
    })
    .unwrap()
}

#[test]
fn team_options_accept_slugs_of_the_org_and_org_colon_team() {
    let r = restrictions("acme", "ops, other:devs", "", &[]);
    assert_eq!(
        r.teams,
        vec![
            ("acme".to_owned(), "ops".to_owned()),
            ("other".to_owned(), "devs".to_owned())
        ]
    );
    let bare = Restrictions::from_options(&crate::config::GithubOptions {
        team: "ops".into(),
        ..Default::default()
    });
    assert!(matches!(
        bare,
        Err(ProviderError::Config {
            key: "github_team",
            ..
        })
    ));
    // oauth2-proxy starts with a repo that is not owner/name and nobody passes the check:
    // kept as a repository restriction with no name, which repo_access answers false.
    let bad_repo = Restrictions::from_options(&crate::config::GithubOptions {
        repo: "just-a-name".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        bad_repo.repo,
        Some(("just-a-name".to_owned(), String::new()))
    );
}

fn rule(r: Result<(), ProviderError>) -> Option<&'static str> {
    match r {
        Ok(()) => None,
        Err(ProviderError::Denied { rule, .. }) => Some(rule),
        Err(e) => panic!("unexpected {e:?}"),
    }
}

#[test]
fn restrictions_are_decided_like_oauth2_proxy() {
    let orgs = vec!["acme".to_owned()];
    let teams = vec![("acme".to_owned(), "ops".to_owned())];
    let m = |login, repo_access| Membership {
        login,
        orgs: &orgs,
        teams: &teams,
        repo_access,
    };
    let table: Vec<(Restrictions, Membership<'_>, Option<&str>)> = vec![
        (restrictions("", "", "", &[]), m("alice", None), None),
        (restrictions("acme", "", "", &[]), m("alice", None), None),
        (restrictions("ACME", "", "", &[]), m("alice", None), None),
        (
            restrictions("other", "", "", &[]),
            m("alice", None),
            Some("github_org"),
        ),
        (restrictions("acme", "ops", "", &[]), m("alice", None), None),
        (
            restrictions("acme", "devs", "", &[]),
            m("alice", None),
            Some("github_team"),
        ),
        (
            restrictions("", "acme:ops", "", &[]),
            m("alice", None),
            None,
        ),
        (
            restrictions("", "", "acme/app", &[]),
            m("alice", Some(false)),
            Some("github_repo"),
        ),
        (
            restrictions("", "", "acme/app", &[]),
            m("alice", Some(true)),
            None,
        ),
        (
            restrictions("acme", "", "acme/app", &[]),
            m("alice", Some(false)),
            Some("github_repo"),
        ),
        (
            restrictions("", "", "", &["bob"]),
            m("alice", None),
            Some("github_user"),
        ),
        (restrictions("", "", "", &["Alice"]), m("alice", None), None),
        // A listed user gets in although not in the org.
        (
            restrictions("other", "", "", &["alice"]),
            m("alice", None),
            None,
        ),
    ];
    for (i, (r, m, want)) in table.into_iter().enumerate() {
        assert_eq!(rule(decide(&r, &m)), want, "case {i}");
    }
}

#[test]
fn groups_are_orgs_and_org_colon_team() {
    assert_eq!(
        groups(
            &["acme".into(), "oss".into()],
            &[("acme".into(), "ops".into())]
        ),
        vec!["acme", "oss", "acme:ops"]
    );
}

#[test]
fn the_primary_verified_address_is_the_email() {
    let e = |email: &str, primary, verified| Email {
        email: email.into(),
        primary,
        verified,
    };
    assert_eq!(
        primary_email(&[e("a@x", false, true), e("b@x", true, true)]).unwrap(),
        "b@x"
    );
    assert!(matches!(
        primary_email(&[e("b@x", true, false), e("a@x", false, true)]),
        Err(ProviderError::UnverifiedEmail { .. })
    ));
    assert!(matches!(
        primary_email(&[]),
        Err(ProviderError::MissingEmail { .. })
    ));
}
