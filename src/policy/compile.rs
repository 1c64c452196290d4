//! Rules and criteria compiled for the hot path: sets for lists, a compiled regex, the
//! authentication methods as a bit mask, claims by slot. Nothing here allocates when it
//! matches.

use std::collections::HashSet;

use regex::Regex;

use crate::config::policy::{AuthKind, ClaimTest, Criterion, PathMatch, PolicyRule};
use crate::session::derived::ClaimValue;

use super::Subject;

/// A compiled rule.
pub(super) struct Rule {
    pub name: Box<str>,
    pub path: PathRule,
    /// Upper-case; empty: any.
    pub methods: Box<[Box<str>]>,
    /// Empty: any.
    pub hosts: Box<[HostRule]>,
    pub allow: Option<Node>,
    pub deny: Option<Node>,
}

pub(super) enum PathRule {
    Any,
    /// `/admin`: the path itself and everything below it.
    Segment(Box<str>),
    /// `/admin/` (ends with `/`): everything that starts with it.
    Below(Box<str>),
    Regex(Regex),
}

pub(super) enum HostRule {
    Exact(Box<str>),
    /// `*.example.com` as `.example.com`: strict subdomains.
    Subdomains(Box<str>),
}

/// A compiled criterion.
pub(super) enum Node {
    True,
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Groups(HashSet<Box<str>>),
    /// Lower-case.
    Emails(HashSet<Box<str>>),
    /// Lower-case exact domains, and lower-case `.suffix`es.
    Domains {
        exact: Box<[Box<str>]>,
        suffixes: Box<[Box<str>]>,
    },
    Users(HashSet<Box<str>>),
    Claim {
        slot: usize,
        test: Test,
    },
    Providers(Box<[Box<str>]>),
    /// Bits of [`auth_bit`].
    Auth(u8),
}

pub(super) enum Test {
    Equals(Box<str>),
    Contains(Box<str>),
    In(HashSet<Box<str>>),
}

pub(super) fn auth_bit(k: AuthKind) -> u8 {
    match k {
        AuthKind::Session => 1,
        AuthKind::Bearer => 2,
        AuthKind::Htpasswd => 4,
    }
}

fn set(items: &[String]) -> HashSet<Box<str>> {
    items.iter().map(|s| Box::from(s.as_str())).collect()
}

fn boxed(items: &[String]) -> Box<[Box<str>]> {
    items.iter().map(|s| Box::from(s.as_str())).collect()
}

/// Compile one validated rule; `claims` are the policy's claim names (slots).
pub(super) fn rule(r: &PolicyRule, claims: &[String]) -> Result<Rule, String> {
    let path = match &r.path {
        PathMatch::Any => PathRule::Any,
        PathMatch::Prefix(p) if p == "/" => PathRule::Any,
        PathMatch::Prefix(p) if p.ends_with('/') => PathRule::Below(p.as_str().into()),
        PathMatch::Prefix(p) => PathRule::Segment(p.as_str().into()),
        PathMatch::Regex(re) => PathRule::Regex(
            regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("policy rule {:?}: pathRegex: {e}", r.name))?,
        ),
    };
    let hosts = r
        .hosts
        .iter()
        .map(|h| match h.strip_prefix('*') {
            Some(suffix) => HostRule::Subdomains(suffix.into()),
            None => HostRule::Exact(h.as_str().into()),
        })
        .collect();
    Ok(Rule {
        name: r.name.as_str().into(),
        path,
        methods: boxed(&r.methods),
        hosts,
        allow: r.allow.as_ref().map(|c| node(c, claims)),
        deny: r.deny.as_ref().map(|c| node(c, claims)),
    })
}

fn node(c: &Criterion, claims: &[String]) -> Node {
    match c {
        Criterion::SignedIn => Node::True,
        Criterion::And(v) => Node::And(v.iter().map(|c| node(c, claims)).collect()),
        Criterion::Or(v) => Node::Or(v.iter().map(|c| node(c, claims)).collect()),
        Criterion::Not(c) => Node::Not(Box::new(node(c, claims))),
        Criterion::Groups(g) => Node::Groups(set(g)),
        Criterion::Emails(e) => Node::Emails(set(e)),
        Criterion::EmailDomains(d) => Node::Domains {
            exact: d
                .iter()
                .filter(|d| !d.starts_with('.'))
                .map(|d| Box::from(d.as_str()))
                .collect(),
            suffixes: d
                .iter()
                .filter(|d| d.starts_with('.'))
                .map(|d| Box::from(d.as_str()))
                .collect(),
        },
        Criterion::Users(u) => Node::Users(set(u)),
        Criterion::Claim(c) => Node::Claim {
            slot: claims
                .iter()
                .position(|n| *n == c.name)
                .unwrap_or(usize::MAX),
            test: match &c.test {
                ClaimTest::Equals(v) => Test::Equals(v.as_str().into()),
                ClaimTest::Contains(v) => Test::Contains(v.as_str().into()),
                ClaimTest::In(v) => Test::In(set(v)),
            },
        },
        Criterion::Providers(p) => Node::Providers(boxed(p)),
        Criterion::AuthMethods(m) => Node::Auth(m.iter().fold(0, |acc, k| acc | auth_bit(*k))),
    }
}

/// The host without its port (`[::1]:8080` → `[::1]`, `app:443` → `app`).
pub(super) fn bare_host(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// A well-formed `local@domain`'s domain (as the global rules require it).
fn email_domain(email: &str) -> Option<&str> {
    let (local, domain) = email.split_once('@')?;
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some(domain)
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() > suffix.len()
        && s.get(s.len() - suffix.len()..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

impl Rule {
    /// Whether the route (path, method, host) covers the request. `path` is normalized.
    pub fn route_matches(&self, method: &str, host: &str, path: &str) -> bool {
        let path_ok = match &self.path {
            PathRule::Any => true,
            PathRule::Segment(p) => {
                path == &**p
                    || path
                        .strip_prefix(&**p)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            PathRule::Below(p) => path.starts_with(&**p),
            PathRule::Regex(re) => re.is_match(path),
        };
        path_ok
            && (self.methods.is_empty()
                || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
            && (self.hosts.is_empty()
                || self.hosts.iter().any(|h| match h {
                    HostRule::Exact(e) => host.eq_ignore_ascii_case(e),
                    HostRule::Subdomains(s) => ends_with_ignore_case(host, s),
                }))
    }
}

impl Node {
    /// Whether the criterion holds for `who`.
    pub fn holds(&self, who: &Subject<'_>) -> bool {
        match self {
            Node::True => true,
            Node::And(v) => v.iter().all(|n| n.holds(who)),
            Node::Or(v) => v.iter().any(|n| n.holds(who)),
            Node::Not(n) => !n.holds(who),
            Node::Groups(g) => who.groups.iter().any(|x| g.contains(x.as_str())),
            Node::Emails(e) => {
                email_domain(who.email).is_some()
                    && if who.email.bytes().any(|b| b.is_ascii_uppercase()) {
                        e.iter().any(|x| x.eq_ignore_ascii_case(who.email))
                    } else {
                        e.contains(who.email)
                    }
            }
            Node::Domains { exact, suffixes } => email_domain(who.email).is_some_and(|d| {
                exact.iter().any(|x| d.eq_ignore_ascii_case(x))
                    || suffixes.iter().any(|s| ends_with_ignore_case(d, s))
            }),
            Node::Users(u) => !who.user.is_empty() && u.contains(who.user),
            Node::Claim { slot, test } => {
                let value = who.claims.get(*slot).unwrap_or(&ClaimValue::Absent);
                test.holds(value)
            }
            Node::Providers(p) => p.iter().any(|x| &**x == who.provider),
            Node::Auth(mask) => mask & auth_bit(who.auth) != 0,
        }
    }
}

impl Test {
    pub fn holds(&self, v: &ClaimValue) -> bool {
        match (self, v) {
            (_, ClaimValue::Absent) => false,
            (Test::Equals(want), ClaimValue::One(have)) => **want == **have,
            (Test::Equals(_), ClaimValue::Many(_)) => false,
            (Test::Contains(want), ClaimValue::One(have)) => have.contains(&**want),
            (Test::Contains(want), ClaimValue::Many(items)) => items.iter().any(|i| **i == **want),
            (Test::In(set), ClaimValue::One(have)) => set.contains(have.as_str()),
            (Test::In(set), ClaimValue::Many(items)) => {
                items.iter().any(|i| set.contains(i.as_str()))
            }
        }
    }
}
