//! The per-route authorization policy (authproxy extension, docs/policy.md): plain, validated
//! data. It is written as the `authproxyPolicy` section of the alpha YAML file or the
//! `[authproxy_policy]` table of the TOML config file (one reader, [`read`], for both: field
//! names match ignoring case, `_` and `-`, so `emailDomains` and `email_domains` are the same
//! field). The request path compiles it once into a matcher (`crate::policy`).

use std::path::PathBuf;

mod read;
#[cfg(test)]
mod tests;

pub use read::read;

/// What happens to a signed-in request that no rule decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PolicyDefault {
    /// Every signed-in user the global rules allow may pass.
    AllowSignedIn,
    /// Refused (403). The default: a policy fails closed.
    #[default]
    Deny,
}

impl PolicyDefault {
    /// The spelling in the configuration (`allowSignedIn`, `deny`).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyDefault::AllowSignedIn => "allowSignedIn",
            PolicyDefault::Deny => "deny",
        }
    }
}

/// The whole policy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyConfig {
    pub default: PolicyDefault,
    /// In configuration order.
    pub rules: Vec<PolicyRule>,
    /// `auditLog`: one JSON line per decision is appended to this file.
    pub audit_log: Option<PathBuf>,
    /// Where the policy was read, for messages (`/etc/authproxy/alpha.yaml field authproxyPolicy`).
    pub origin: String,
}

impl PolicyConfig {
    /// Every claim name a `claim` criterion reads, each once, in first-use order.
    pub fn claim_names(&self) -> Vec<String> {
        fn walk(c: &Criterion, out: &mut Vec<String>) {
            match c {
                Criterion::And(v) | Criterion::Or(v) => v.iter().for_each(|c| walk(c, out)),
                Criterion::Not(c) => walk(c, out),
                Criterion::Claim(c) if !out.contains(&c.name) => out.push(c.name.clone()),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for r in &self.rules {
            for c in r.allow.iter().chain(r.deny.iter()) {
                walk(c, &mut out);
            }
        }
        out
    }

    /// Every provider id a `provider` criterion names (checked against the configured ones).
    pub fn provider_ids(&self) -> Vec<&str> {
        fn walk<'a>(c: &'a Criterion, out: &mut Vec<&'a str>) {
            match c {
                Criterion::And(v) | Criterion::Or(v) => v.iter().for_each(|c| walk(c, out)),
                Criterion::Not(c) => walk(c, out),
                Criterion::Providers(ids) => out.extend(ids.iter().map(String::as_str)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for r in &self.rules {
            for c in r.allow.iter().chain(r.deny.iter()) {
                walk(c, &mut out);
            }
        }
        out
    }
}

/// One rule: a route and what is allowed or denied on it.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyRule {
    /// Unique; in logs, metrics and the audit log (never shown to users).
    pub name: String,
    pub path: PathMatch,
    /// Upper-case methods; empty: any.
    pub methods: Vec<String>,
    /// Lower-case host patterns (`app.example.com`, `*.example.com`); empty: any.
    pub hosts: Vec<String>,
    pub allow: Option<Criterion>,
    pub deny: Option<Criterion>,
}

/// Which paths a rule covers. Paths are matched after the normalization the skip rules use
/// (`crate::skip::normalize_path`): decoded, never the query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// Every path.
    Any,
    /// `path: /admin`: `/admin` and everything below it (`/admin/x`), not `/administrator`;
    /// `path: /admin/`: everything below `/admin/`.
    Prefix(String),
    /// `pathRegex`: a regular expression (validated), matched against the whole path
    /// (anchor it yourself: `^/api/v[0-9]+/`).
    Regex(String),
}

/// An authentication method, as criteria name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// A browser session (the session cookie).
    Session,
    /// `Authorization: Bearer <JWT>` (`skip_jwt_bearer_tokens`).
    Bearer,
    /// `Authorization: Basic` with an `htpasswd_file` user.
    Htpasswd,
}

impl AuthKind {
    /// The spelling in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Session => "session",
            AuthKind::Bearer => "bearer",
            AuthKind::Htpasswd => "htpasswd",
        }
    }
}

/// What a `claim` criterion tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimTest {
    /// The claim is a single value (string, number, boolean) equal to this text.
    Equals(String),
    /// A list claim has an element equal to this text; a string claim contains it.
    Contains(String),
    /// The claim's value (a list claim: any element) is one of these.
    In(Vec<String>),
}

/// `claim: {name: …, equals|contains|in: …}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimCriterion {
    /// A session claim (`email`, `user`, `groups`, `preferred_username`) or any claim of the
    /// ID token or bearer token, with dots for nested objects (`realm_access.roles`).
    pub name: String,
    pub test: ClaimTest,
}

/// A condition on the signed-in identity.
#[derive(Clone, Debug, PartialEq)]
pub enum Criterion {
    /// `signedIn: true`: always holds (the request is authenticated).
    SignedIn,
    /// `and` (and a mapping of several criteria): every one holds.
    And(Vec<Criterion>),
    /// `or`: at least one holds.
    Or(Vec<Criterion>),
    Not(Box<Criterion>),
    /// The session has at least one of these groups (exact, case-sensitive).
    Groups(Vec<String>),
    /// The email is one of these (ASCII case-insensitive), lower-cased.
    Emails(Vec<String>),
    /// The email's domain: `example.com` exactly; `.example.com` / `*.example.com` its
    /// subdomains (not itself), as `email_domains`. Lower-cased, with the leading `.`/`*.`.
    EmailDomains(Vec<String>),
    /// The session's user (subject) is one of these (exact).
    Users(Vec<String>),
    Claim(ClaimCriterion),
    /// The session was signed in with one of these providers (ids).
    Providers(Vec<String>),
    AuthMethods(Vec<AuthKind>),
}
