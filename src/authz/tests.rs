use std::collections::HashSet;

use super::*;
use DenyReason::*;

fn cfg(domains: &[&str], emails: Option<&[&str]>, groups: &[&str]) -> AuthzConfig {
    AuthzConfig {
        email_domains: domains.iter().map(|s| s.to_string()).collect(),
        authenticated_emails: emails
            .map(|e| e.iter().map(|s| s.to_string()).collect::<HashSet<_>>()),
        authenticated_emails_file: None,
        allowed_groups: groups.iter().map(|s| s.to_string()).collect(),
    }
}

fn policy(domains: &[&str], emails: Option<&[&str]>, groups: &[&str]) -> AuthzPolicy {
    AuthzPolicy::from_config(&cfg(domains, emails, groups)).expect("valid test policy")
}

fn groups(g: &[&str]) -> Vec<String> {
    g.iter().map(|s| s.to_string()).collect()
}

#[test]
fn email_domain_table() {
    let p = policy(
        &["example.com", ".corp.example.org", "*.wild.test"],
        None,
        &[],
    );
    let allowed = [
        "alice@example.com",
        "Alice@Example.COM",
        "ALICE@EXAMPLE.COM",
        "a.b+tag@example.com",
        "bob@eu.corp.example.org",
        "bob@A.B.CORP.EXAMPLE.ORG",
        "carol@x.wild.test",
    ];
    for email in allowed {
        assert_eq!(decide(&p, email, &[]), Decision::Allow, "{email}");
    }
    let denied = [
        ("", EmailMissing),
        ("a@b@example.com", EmailMalformed),
        ("attacker@evil.com@example.com", EmailMalformed),
        ("@example.com", EmailMalformed),
        ("alice@", EmailMalformed),
        ("alice", EmailMalformed),
        ("alice @example.com", EmailMalformed),
        ("alice@example.com\n", EmailMalformed),
        ("alice@example.com\0", EmailMalformed),
        ("alice@example.com.", EmailDomainNotAllowed),
        ("alice@sub.example.com", EmailDomainNotAllowed),
        ("alice@evilexample.com", EmailDomainNotAllowed),
        ("alice@example.com.evil.org", EmailDomainNotAllowed),
        ("alice@xexample.com", EmailDomainNotAllowed),
        ("bob@corp.example.org", EmailDomainNotAllowed),
        ("bob@evilcorp.example.org", EmailDomainNotAllowed),
        ("carol@wild.test", EmailDomainNotAllowed),
        ("carol@x.wild.test.evil", EmailDomainNotAllowed),
        ("example.com@evil.com", EmailDomainNotAllowed),
    ];
    for (email, reason) in denied {
        assert_eq!(decide(&p, email, &[]), Decision::Deny(reason), "{email:?}");
    }
}

#[test]
fn star_allows_any_well_formed_email_but_not_a_malformed_or_missing_one() {
    let p = policy(&["*"], None, &[]);
    assert_eq!(decide(&p, "anyone@anywhere.example", &[]), Decision::Allow);
    assert_eq!(decide(&p, "UPPER@CASE.EXAMPLE", &[]), Decision::Allow);
    assert_eq!(decide(&p, "", &[]), Decision::Deny(EmailMissing));
    assert_eq!(decide(&p, "a@b@c", &[]), Decision::Deny(EmailMalformed));
}

#[test]
fn authenticated_emails_are_an_or_with_domains() {
    let p = policy(
        &["example.com"],
        Some(&["guest@partner.org", "mixed@case.org"]),
        &[],
    );
    assert_eq!(decide(&p, "alice@example.com", &[]), Decision::Allow);
    assert_eq!(decide(&p, "guest@partner.org", &[]), Decision::Allow);
    assert_eq!(decide(&p, "GUEST@Partner.ORG", &[]), Decision::Allow);
    assert_eq!(
        decide(&p, "other@partner.org", &[]),
        Decision::Deny(EmailNotInDomainsOrList)
    );
    assert_eq!(
        decide(&p, "guest@partner.org@example.com", &[]),
        Decision::Deny(EmailMalformed)
    );
}

#[test]
fn the_email_list_alone_allows_only_listed_addresses() {
    let p = policy(&[], Some(&["Listed@Example.com"]), &[]);
    assert_eq!(decide(&p, "listed@example.com", &[]), Decision::Allow);
    assert_eq!(
        decide(&p, "other@example.com", &[]),
        Decision::Deny(EmailNotInList)
    );
}

#[test]
fn an_empty_email_list_file_allows_nobody() {
    let p = policy(&[], Some(&[]), &[]);
    assert_eq!(
        decide(&p, "a@example.com", &[]),
        Decision::Deny(EmailNotInList)
    );
}

#[test]
fn no_rules_at_all_allows_nobody() {
    let p = policy(&[], None, &[]);
    assert_eq!(
        decide(&p, "a@example.com", &[]),
        Decision::Deny(NoEmailRules)
    );
}

#[test]
fn allowed_groups_are_an_and_with_the_email_rule() {
    let p = policy(&["example.com"], None, &["admins", "ops"]);
    assert!(p.restricts_groups());
    assert_eq!(
        decide(&p, "a@example.com", &groups(&["dev", "ops"])),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, "a@example.com", &groups(&["dev"])),
        Decision::Deny(NotInAllowedGroups)
    );
    assert_eq!(
        decide(&p, "a@example.com", &[]),
        Decision::Deny(NotInAllowedGroups)
    );
    // Group names are compared exactly, as oauth2-proxy does.
    assert_eq!(
        decide(&p, "a@example.com", &groups(&["Admins", "admins "])),
        Decision::Deny(NotInAllowedGroups)
    );
    // The email rule is checked first: the right group does not rescue a foreign address.
    assert_eq!(
        decide(&p, "a@evil.com", &groups(&["admins"])),
        Decision::Deny(EmailDomainNotAllowed)
    );
}

#[test]
fn no_allowed_groups_means_no_group_restriction() {
    let p = policy(&["*"], None, &[]);
    assert!(!p.restricts_groups());
    assert_eq!(
        decide(&p, "a@example.com", &groups(&["anything"])),
        Decision::Allow
    );
}

#[test]
fn domain_entries_are_case_insensitive() {
    let p = policy(&["EXAMPLE.com", ".Corp.Example.ORG"], None, &[]);
    assert_eq!(decide(&p, "a@example.COM", &[]), Decision::Allow);
    assert_eq!(decide(&p, "a@x.corp.example.org", &[]), Decision::Allow);
}

#[test]
fn non_ascii_domains_never_match_an_ascii_rule_by_case_folding() {
    // U+212A KELVIN SIGN lower-cases to 'k' under Unicode rules; only ASCII case is folded.
    let p = policy(&["kample.com"], Some(&["k@kample.com"]), &[]);
    assert_eq!(
        decide(&p, "a@\u{212A}ample.com", &[]),
        Decision::Deny(EmailNotInDomainsOrList)
    );
    assert_eq!(
        decide(&p, "\u{212A}@kample.com", &[]),
        Decision::Allow,
        "the domain still matches; the local part is not part of the domain rule"
    );
    let list_only = policy(&[], Some(&["k@kample.com"]), &[]);
    assert_eq!(
        decide(&list_only, "\u{212A}@kample.com", &[]),
        Decision::Deny(EmailNotInList)
    );
}

#[test]
fn bad_email_domain_entries_are_errors_naming_the_entry() {
    for (entry, needle) in [
        ("", "is empty"),
        (".", "is empty"),
        ("*.", "is empty"),
        ("@example.com", "without '@'"),
        ("*example.com", "wildcard"),
        ("ex*ample.com", "wildcard"),
        ("example .com", "whitespace"),
        ("..example.com", "empty label"),
        ("example..com", "empty label"),
    ] {
        let err =
            AuthzPolicy::from_config(&cfg(&["ok.example", entry], None, &[])).expect_err(entry);
        assert!(err.contains("email_domains"), "{err}");
        assert!(
            err.contains(&format!("{entry:?}")),
            "{err} does not name {entry:?}"
        );
        assert!(err.contains(needle), "{err} does not mention {needle:?}");
    }
}

#[test]
fn deny_reasons_have_distinct_identifiers() {
    let all = [
        EmailMissing,
        EmailMalformed,
        NoEmailRules,
        EmailDomainNotAllowed,
        EmailNotInList,
        EmailNotInDomainsOrList,
        NotInAllowedGroups,
    ];
    let mut ids: Vec<_> = all.iter().map(|r| r.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len());
    assert!(Decision::Allow.is_allowed());
    assert!(!Decision::Deny(EmailMissing).is_allowed());
}

#[test]
fn sessions_without_email_pass_only_when_htpasswd_users_are_allowed() {
    let mut p = policy(&["example.com"], None, &[]);
    assert_eq!(decide(&p, "", &[]), Decision::Deny(EmailMissing));
    p.allow_users_without_email(true);
    assert_eq!(decide(&p, "", &[]), Decision::Allow);
    // An address still meets every email rule.
    assert_eq!(
        decide(&p, "eve@evil.example", &[]),
        Decision::Deny(EmailDomainNotAllowed)
    );
    let mut g = policy(&["example.com"], None, &["admins"]);
    g.allow_users_without_email(true);
    assert_eq!(
        decide(&g, "", &groups(&["users"])),
        Decision::Deny(NotInAllowedGroups)
    );
    assert_eq!(decide(&g, "", &groups(&["admins"])), Decision::Allow);
}

#[test]
fn a_providers_allowed_groups_add_to_the_global_rules() {
    let policy = AuthzPolicy::from_config(&AuthzConfig {
        email_domains: vec!["example.com".into()],
        ..AuthzConfig::default()
    })
    .unwrap();
    let staff: HashSet<String> = ["staff".to_string()].into_iter().collect();
    let none = HashSet::new();
    let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cases = [
        (&staff, "a@example.com", groups(&["staff"]), Decision::Allow),
        (
            &staff,
            "a@example.com",
            groups(&["guests"]),
            Decision::Deny(DenyReason::NotInProviderAllowedGroups),
        ),
        (&none, "a@example.com", groups(&[]), Decision::Allow),
        // The global rules still come first.
        (
            &staff,
            "a@evil.com",
            groups(&["staff"]),
            Decision::Deny(DenyReason::EmailDomainNotAllowed),
        ),
    ];
    for (provider_groups, email, g, want) in cases {
        assert_eq!(
            decide_with_provider(&policy, provider_groups, email, &g),
            want,
            "{email} {g:?}"
        );
    }
}
