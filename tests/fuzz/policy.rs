//! The per-route policy's decision (src/policy), property-tested against an independent
//! evaluator written here from docs/policy.md over the configuration model.
//!
//! Each input builds a policy (up to five rules: a route of a path prefix or regex, maybe
//! methods and hosts, an `allow` and/or a `deny` of nested criteria), an identity and a
//! request. Properties:
//! * deny always wins: when the `deny` of any rule whose route matches holds, the request is
//!   refused, by the first such rule;
//! * the default applies exactly when no rule decides: no matching rule's `deny` holds and no
//!   matching rule has an `allow` (in particular whenever no rule matches at all);
//! * otherwise the first matching rule with an `allow` decides, by whether it holds;
//! * a path that cannot be normalized is refused by no rule; an unknown path is refused.

use std::collections::HashMap;

use authproxy::config::policy::{
    AuthKind, ClaimCriterion, ClaimTest, Criterion, PathMatch, PolicyConfig, PolicyDefault,
    PolicyRule,
};
use authproxy::policy::{Policy, Reason, Subject, Target};
use authproxy::session::derived::ClaimValue;
use authproxy::skip::normalize_path;
use regex::Regex;

use crate::support::bytes;

const GROUPS: [&str; 3] = ["admins", "editors", "ops"];
const EMAILS: [&str; 5] = [
    "ada@example.com",
    "Bob@Corp.Example.com",
    "carl@other.test",
    "not-an-email",
    "",
];
const DOMAINS: [&str; 3] = ["example.com", ".example.com", "other.test"];
const PROVIDERS: [&str; 2] = ["oidc", "github"];
const AUTHS: [AuthKind; 3] = [AuthKind::Session, AuthKind::Bearer, AuthKind::Htpasswd];
const PREFIXES: [&str; 5] = ["/admin", "/api/", "/", "/public", "/admin/audit"];
const REGEXES: [&str; 2] = ["^/api/v[0-9]+/", "^/reports/[0-9]+$"];
const METHODS: [&str; 3] = ["GET", "POST", "DELETE"];
const HOSTS: [&str; 2] = ["app.example.com", "*.example.com"];
const TARGET_HOSTS: [&str; 5] = [
    "app.example.com",
    "App.Example.com:8443",
    "x.app.example.com",
    "example.com",
    "",
];
const PATHS: [&str; 14] = [
    "/admin",
    "/admin/",
    "/admin/x",
    "/administrator",
    "/admin/audit/log",
    "/api/v1/items",
    "/api/items",
    "/reports/42",
    "/reports/x",
    "/public/a.css?x=/admin",
    "/%61dmin/x",
    "/a/../admin",
    "/admin%2Fx",
    "/",
];
const CLAIM_NAMES: [&str; 2] = ["role", "level"];
const CLAIM_VALUES: [&str; 3] = ["editor", "3", "admin"];

/// Takes bytes off the front of the input (zeros once it runs out).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[usize::from(self.next()) % items.len()]
    }

    /// A non-empty subset of `items` (by a bit mask).
    fn subset<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        let mask = self.next();
        let mut out: Vec<T> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, t)| t.clone())
            .collect();
        if out.is_empty() {
            out.push(items[usize::from(mask) % items.len()].clone());
        }
        out
    }

    fn strings(&mut self, items: &[&str]) -> Vec<String> {
        self.subset(items).into_iter().map(str::to_owned).collect()
    }
}

fn criterion(b: &mut Bytes<'_>, depth: usize) -> Criterion {
    let kinds = if depth >= 3 { 8 } else { 11 };
    match b.next() % kinds {
        0 => Criterion::SignedIn,
        1 => Criterion::Groups(b.strings(&GROUPS)),
        2 => Criterion::Emails(
            b.strings(&EMAILS[..3])
                .into_iter()
                .map(|e| e.to_ascii_lowercase())
                .collect(),
        ),
        3 => Criterion::EmailDomains(b.strings(&DOMAINS)),
        4 => Criterion::Providers(b.strings(&PROVIDERS)),
        5 => Criterion::AuthMethods(b.subset(&AUTHS)),
        6 => Criterion::Users(b.strings(&["ada", "bob"])),
        7 => {
            let name = b.pick(&CLAIM_NAMES).to_string();
            let test = match b.next() % 3 {
                0 => ClaimTest::Equals(b.pick(&CLAIM_VALUES).to_string()),
                1 => ClaimTest::Contains(b.pick(&["dit", "admin", "3"]).to_string()),
                _ => ClaimTest::In(b.strings(&CLAIM_VALUES)),
            };
            Criterion::Claim(ClaimCriterion { name, test })
        }
        8 => Criterion::Not(Box::new(criterion(b, depth + 1))),
        k => {
            let n = 1 + usize::from(b.next() % 3);
            let v = (0..n).map(|_| criterion(b, depth + 1)).collect();
            if k == 9 {
                Criterion::And(v)
            } else {
                Criterion::Or(v)
            }
        }
    }
}

fn rule(b: &mut Bytes<'_>, i: usize) -> PolicyRule {
    let flags = b.next();
    let path = match flags % 4 {
        0 => PathMatch::Regex(b.pick(&REGEXES).to_string()),
        1 => PathMatch::Any,
        _ => PathMatch::Prefix(b.pick(&PREFIXES).to_string()),
    };
    let methods = if flags & 4 != 0 {
        b.strings(&METHODS)
    } else {
        Vec::new()
    };
    let hosts = if flags & 8 != 0 {
        b.strings(&HOSTS)
    } else {
        Vec::new()
    };
    let (allow, deny) = match (flags >> 4) % 3 {
        0 => (Some(criterion(b, 0)), None),
        1 => (None, Some(criterion(b, 0))),
        _ => (Some(criterion(b, 0)), Some(criterion(b, 0))),
    };
    PolicyRule {
        name: format!("r{i}"),
        path,
        methods,
        hosts,
        allow,
        deny,
    }
}

struct Who {
    email: String,
    user: String,
    groups: Vec<String>,
    provider: String,
    auth: AuthKind,
    claims: HashMap<String, ClaimValue>,
}

fn who(b: &mut Bytes<'_>) -> Who {
    let mut claims = HashMap::new();
    for name in CLAIM_NAMES {
        let v = match b.next() % 3 {
            0 => ClaimValue::Absent,
            1 => ClaimValue::One(b.pick(&CLAIM_VALUES).to_string()),
            _ => ClaimValue::Many(b.strings(&CLAIM_VALUES)),
        };
        claims.insert(name.to_string(), v);
    }
    let groups = if b.next().is_multiple_of(4) {
        Vec::new()
    } else {
        b.strings(&GROUPS)
    };
    Who {
        email: b.pick(&EMAILS).to_string(),
        user: b.pick(&["ada", "bob", ""]).to_string(),
        groups,
        provider: b.pick(&PROVIDERS).to_string(),
        auth: *b.pick(&AUTHS),
        claims,
    }
}

// ---- the independent evaluator (docs/policy.md) ----

fn domain_of(email: &str) -> Option<&str> {
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !domain.contains('@')).then_some(domain)
}

fn holds(c: &Criterion, w: &Who) -> bool {
    match c {
        Criterion::SignedIn => true,
        Criterion::And(v) => v.iter().all(|c| holds(c, w)),
        Criterion::Or(v) => v.iter().any(|c| holds(c, w)),
        Criterion::Not(c) => !holds(c, w),
        Criterion::Groups(g) => w.groups.iter().any(|x| g.contains(x)),
        Criterion::Emails(e) => {
            domain_of(&w.email).is_some() && e.iter().any(|x| x.eq_ignore_ascii_case(&w.email))
        }
        Criterion::EmailDomains(d) => domain_of(&w.email).is_some_and(|dom| {
            let dom = dom.to_ascii_lowercase();
            d.iter().any(|x| match x.strip_prefix('.') {
                Some(suffix) => dom.ends_with(&format!(".{suffix}")),
                None => dom == *x,
            })
        }),
        Criterion::Users(u) => !w.user.is_empty() && u.contains(&w.user),
        Criterion::Claim(c) => match (&c.test, &w.claims[&c.name]) {
            (_, ClaimValue::Absent) => false,
            (ClaimTest::Equals(want), ClaimValue::One(v)) => v == want,
            (ClaimTest::Equals(_), ClaimValue::Many(_)) => false,
            (ClaimTest::Contains(want), ClaimValue::One(v)) => v.contains(want.as_str()),
            (ClaimTest::Contains(want), ClaimValue::Many(v)) => v.contains(want),
            (ClaimTest::In(set), ClaimValue::One(v)) => set.contains(v),
            (ClaimTest::In(set), ClaimValue::Many(v)) => v.iter().any(|x| set.contains(x)),
        },
        Criterion::Providers(p) => p.contains(&w.provider),
        Criterion::AuthMethods(m) => m.contains(&w.auth),
    }
}

fn route_matches(r: &PolicyRule, method: &str, host: &str, path: &str) -> bool {
    let path_ok = match &r.path {
        PathMatch::Any => true,
        PathMatch::Prefix(p) if p.ends_with('/') => path.starts_with(p.as_str()),
        PathMatch::Prefix(p) => path == p || path.starts_with(&format!("{p}/")),
        PathMatch::Regex(re) => Regex::new(re).expect("regex").is_match(path),
    };
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    let host_ok = r.hosts.is_empty()
        || r.hosts.iter().any(|h| match h.strip_prefix("*.") {
            Some(d) => host.ends_with(&format!(".{d}")),
            None => host == *h,
        });
    path_ok && host_ok && (r.methods.is_empty() || r.methods.iter().any(|m| m == method))
}

#[test]
fn policy_decisions() {
    bytes("policy", 160, |input| {
        let mut b = Bytes(input);
        let n_rules = usize::from(b.next() % 6);
        let default = if b.next().is_multiple_of(2) {
            PolicyDefault::Deny
        } else {
            PolicyDefault::AllowSignedIn
        };
        let cfg = PolicyConfig {
            default,
            rules: (0..n_rules).map(|i| rule(&mut b, i)).collect(),
            audit_log: None,
            origin: "fuzz".into(),
        };
        let w = who(&mut b);
        let method = *b.pick(&METHODS);
        let host = *b.pick(&TARGET_HOSTS);
        let raw = *b.pick(&PATHS);
        let policy = Policy::new(&cfg, false).expect("a valid policy compiles");
        let claims: Vec<ClaimValue> = policy
            .claim_names()
            .iter()
            .map(|n| w.claims[n].clone())
            .collect();
        let subject = Subject {
            email: &w.email,
            user: &w.user,
            groups: &w.groups,
            provider: &w.provider,
            auth: w.auth,
            claims: &claims,
        };
        let target = Target {
            method,
            host,
            path: Some(raw),
        };
        let d = policy.evaluate(&target, &subject);
        let unknown = policy.evaluate(
            &Target {
                path: None,
                ..target
            },
            &subject,
        );
        assert!(!unknown.allowed && unknown.reason == Reason::UnknownPath);

        let Ok(path) = normalize_path(raw) else {
            assert!(!d.allowed, "{raw}: an ambiguous path is allowed");
            assert_eq!((d.rule, d.reason), (None, Reason::AmbiguousPath));
            return;
        };
        let matching: Vec<usize> = cfg
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| route_matches(r, method, host, &path))
            .map(|(i, _)| i)
            .collect();
        let first_deny = matching
            .iter()
            .copied()
            .find(|&i| cfg.rules[i].deny.as_ref().is_some_and(|c| holds(c, &w)));
        let first_allow = matching
            .iter()
            .copied()
            .find(|&i| cfg.rules[i].allow.is_some());
        let at = format!("{method} {host} {raw} by {}: {cfg:#?}", w.email);
        // Deny always wins.
        if let Some(i) = first_deny {
            assert!(!d.allowed, "a deny holds but allowed: {at}");
            assert_eq!((d.rule, d.reason), (Some(i), Reason::DenyHolds), "{at}");
            return;
        }
        assert_ne!(d.reason, Reason::DenyHolds, "no deny holds: {at}");
        // The default applies exactly when no rule decides.
        match first_allow {
            None => {
                assert_eq!((d.rule, d.reason), (None, Reason::Default), "{at}");
                assert_eq!(d.allowed, default == PolicyDefault::AllowSignedIn, "{at}");
            }
            Some(i) => {
                assert_ne!(d.reason, Reason::Default, "a rule with allow matches: {at}");
                let allowed = holds(cfg.rules[i].allow.as_ref().expect("allow"), &w);
                assert_eq!(d.rule, Some(i), "{at}");
                assert_eq!(d.allowed, allowed, "{at}");
            }
        }
        if matching.is_empty() {
            assert_eq!(d.reason, Reason::Default, "nothing matches: {at}");
        }
    });
}
