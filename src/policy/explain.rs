//! `authproxy policy explain`: which rule decides a request and why, rule by rule. The
//! decision printed is [`Policy::evaluate`]'s; the trace only describes it.

use std::fmt::Write as _;

use super::compile::{HostRule, Node, PathRule, Rule, Test};
use super::{Decision, Policy, Reason, Subject, Target};
use crate::config::policy::AuthKind;
use crate::session::derived::ClaimValue;

/// The decision for (`target`, `who`) and a human-readable account of it.
pub fn explain(policy: &Policy, target: &Target<'_>, who: &Subject<'_>) -> (Decision, String) {
    let decision = policy.evaluate(target, who);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "policy: {} ({} rules, default {})",
        policy.origin,
        policy.rules.len(),
        policy.default.as_str()
    );
    let path = target.path.map(crate::skip::normalize_path);
    match &path {
        None => {
            let _ = writeln!(
                out,
                "the original path is unknown (no trusted X-Forwarded-Uri)"
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(out, "the path cannot be matched safely: {e}");
        }
        Some(Ok(p)) => {
            let host = super::compile::bare_host(target.host);
            let mut decided = false;
            for (i, r) in policy.rules.iter().enumerate() {
                let matches = r.route_matches(target.method, host, p);
                let _ = write!(out, "\nrule {:?} ({}): ", r.name, route(r));
                if !matches {
                    let _ = writeln!(out, "route does not match");
                    continue;
                }
                let _ = writeln!(out, "route matches");
                let decides = decision.rule == Some(i);
                match &r.deny {
                    Some(d) => {
                        let note = if decides && decision.reason == Reason::DenyHolds {
                            "   <- decides"
                        } else {
                            ""
                        };
                        let _ = writeln!(out, "  deny:  {}{note}", describe(d, who, policy));
                    }
                    None => {
                        let _ = writeln!(out, "  deny:  (none)");
                    }
                }
                match &r.allow {
                    Some(a) => {
                        let note = if decision.reason == Reason::DenyHolds {
                            "   [not consulted: a deny holds]"
                        } else if decided {
                            "   [not consulted: an earlier rule decides]"
                        } else if decides {
                            "   <- decides"
                        } else {
                            ""
                        };
                        let _ = writeln!(out, "  allow: {}{note}", describe(a, who, policy));
                        decided = true;
                    }
                    None => {
                        let _ = writeln!(out, "  allow: (none: this rule only denies)");
                    }
                }
            }
        }
    }
    let verdict = if decision.allowed { "ALLOW" } else { "DENY" };
    let why = match (decision.reason, decision.rule) {
        (Reason::DenyHolds, Some(i)) => format!(
            "by rule {:?}: its deny holds (deny wins over every allow)",
            policy.rule_name(i)
        ),
        (Reason::AllowHolds, Some(i)) => format!(
            "by rule {:?}: the first matching rule with an allow, and its allow holds",
            policy.rule_name(i)
        ),
        (Reason::AllowFails, Some(i)) => format!(
            "by rule {:?}: the first matching rule with an allow, and its allow does not hold",
            policy.rule_name(i)
        ),
        (Reason::Default, _) => format!(
            "by the default ({}): no matching rule allows or denies",
            policy.default.as_str()
        ),
        (Reason::AmbiguousPath, _) => "the path cannot be matched safely (fail closed)".into(),
        (Reason::UnknownPath, _) => "the original path is unknown (fail closed)".into(),
        _ => String::new(),
    };
    let _ = writeln!(out, "\ndecision: {verdict} {why}");
    (decision, out)
}

fn route(r: &Rule) -> String {
    let mut parts = vec![match &r.path {
        PathRule::Any => "any path".to_owned(),
        PathRule::Segment(p) => format!("path {p} and below"),
        PathRule::Below(p) => format!("paths below {p}"),
        PathRule::Regex(re) => format!("paths matching {}", re.as_str()),
    }];
    if !r.methods.is_empty() {
        parts.push(format!("methods {}", r.methods.join(", ")));
    }
    if !r.hosts.is_empty() {
        let hosts: Vec<String> = r
            .hosts
            .iter()
            .map(|h| match h {
                HostRule::Exact(e) => e.to_string(),
                HostRule::Subdomains(s) => format!("*{s}"),
            })
            .collect();
        parts.push(format!("hosts {}", hosts.join(", ")));
    }
    parts.join("; ")
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn sorted<'a>(items: impl Iterator<Item = &'a Box<str>>) -> String {
    let mut v: Vec<&str> = items.map(|s| &**s).collect();
    v.sort_unstable();
    v.join(", ")
}

fn claim_text(v: &ClaimValue) -> String {
    match v {
        ClaimValue::Absent => "absent".into(),
        ClaimValue::One(s) => format!("{s:?}"),
        ClaimValue::Many(items) => format!("{items:?}"),
    }
}

/// `criterion → yes/no (the facts it looked at)`.
fn describe(n: &Node, who: &Subject<'_>, policy: &Policy) -> String {
    let held = yes(n.holds(who));
    match n {
        Node::True => format!("signedIn → {held}"),
        Node::And(v) | Node::Or(v) => {
            let op = if matches!(n, Node::And(_)) {
                "and"
            } else {
                "or"
            };
            let inner: Vec<String> = v.iter().map(|c| describe(c, who, policy)).collect();
            format!("{op} [{}] → {held}", inner.join("; "))
        }
        Node::Not(c) => format!("not ({}) → {held}", describe(c, who, policy)),
        Node::Groups(g) => format!(
            "groups [{}] → {held} (the user's groups: {})",
            sorted(g.iter()),
            if who.groups.is_empty() {
                "none".to_owned()
            } else {
                who.groups.join(", ")
            }
        ),
        Node::Emails(e) => format!(
            "emails [{}] → {held} (email {:?})",
            sorted(e.iter()),
            who.email
        ),
        Node::Domains { exact, suffixes } => format!(
            "emailDomains [{}] → {held} (email {:?})",
            sorted(exact.iter().chain(suffixes.iter())),
            who.email
        ),
        Node::Users(u) => format!(
            "users [{}] → {held} (user {:?})",
            sorted(u.iter()),
            who.user
        ),
        Node::Claim { slot, test } => {
            let name = policy.claim_names.get(*slot).map_or("?", String::as_str);
            let value = who.claims.get(*slot).unwrap_or(&ClaimValue::Absent);
            let t = match test {
                Test::Equals(v) => format!("equals {v:?}"),
                Test::Contains(v) => format!("contains {v:?}"),
                Test::In(set) => format!("in [{}]", sorted(set.iter())),
            };
            format!("claim {name} {t} → {held} (value: {})", claim_text(value))
        }
        Node::Providers(p) => format!(
            "provider [{}] → {held} (provider {:?})",
            p.join(", "),
            who.provider
        ),
        Node::Auth(mask) => {
            let names: Vec<&str> = [AuthKind::Session, AuthKind::Bearer, AuthKind::Htpasswd]
                .into_iter()
                .filter(|k| mask & super::compile::auth_bit(*k) != 0)
                .map(AuthKind::as_str)
                .collect();
            format!(
                "authMethod [{}] → {held} (authenticated by {})",
                names.join(", "),
                who.auth.as_str()
            )
        }
    }
}
