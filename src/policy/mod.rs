//! The per-route policy (authproxy extension; docs/policy.md), compiled once from
//! [`crate::config::policy::PolicyConfig`] into a matcher the hot path evaluates without
//! allocating (a path with percent escapes is decoded into a new string first, as for the skip
//! rules).
//!
//! It applies after authentication and after the global rules (`email_domains`,
//! `allowed_groups`, a provider's `allowedGroups`), on protected requests and on the
//! forward-auth endpoints (`/oauth2/auth` with the original method and URI from a trusted
//! proxy, HTTP and gRPC ext_authz with the original request Envoy describes).
//!
//! ## How a request is decided
//!
//! A rule *matches* a request when its route does: the path (a prefix on whole segments, or a
//! regular expression), and, when given, one of its methods and one of its hosts.
//!
//! 1. Deny wins: if the `deny` of ANY matching rule holds, the request is refused, by the
//!    first such rule.
//! 2. Otherwise the FIRST matching rule that has an `allow` decides: allowed when its `allow`
//!    holds, refused when it does not.
//! 3. Otherwise (no rule matches, or only rules with `deny` alone, none holding): the default
//!    (`allowSignedIn` or `deny`).
//!
//! A path that cannot be matched safely ([`crate::skip::normalize_path`]: `..` segments,
//! encoded `/`, …) and a forward-auth check without a trusted original URI are refused: the
//! policy fails closed.
//!
//! [`evaluate`](Policy::evaluate) is a pure function of the compiled policy, the request
//! target and the identity ([`Subject`]): table-tested in `tests.rs`, property-tested in
//! `tests/fuzz/policy.rs`.

mod audit;
pub mod cli;
mod compile;
mod explain;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::config::policy::{AuthKind, PolicyConfig, PolicyDefault};
use crate::metrics::PolicyCounters;
use crate::session::derived::ClaimValue;
use crate::session::SessionState;

pub use audit::AuditEntry;
use compile::Rule;
pub use explain::explain;

/// What a request asks for.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub method: &'a str,
    /// The host as the client addressed it (a port is ignored); empty when unknown.
    pub host: &'a str,
    /// The path (a query is ignored), raw as in the request line; `None`: unknown (a
    /// forward-auth check without a trusted original URI).
    pub path: Option<&'a str>,
}

/// Who asks.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub email: &'a str,
    pub user: &'a str,
    pub groups: &'a [String],
    /// The id of the provider the session was signed in with.
    pub provider: &'a str,
    pub auth: AuthKind,
    /// The claims the policy tests, in [`Policy::claim_names`] order (from [`session_claims`]).
    pub claims: &'a [ClaimValue],
}

/// Why a decision was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The rule's `deny` holds.
    DenyHolds,
    /// The rule's `allow` holds.
    AllowHolds,
    /// The first matching rule with an `allow`: it does not hold.
    AllowFails,
    /// No rule decided: the default.
    Default,
    /// The path cannot be matched safely.
    AmbiguousPath,
    /// The original path is unknown (forward auth without a trusted `X-Forwarded-Uri`).
    UnknownPath,
}

impl Reason {
    /// A short identifier for logs and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::DenyHolds => "deny_holds",
            Reason::AllowHolds => "allow_holds",
            Reason::AllowFails => "allow_fails",
            Reason::Default => "default",
            Reason::AmbiguousPath => "ambiguous_path",
            Reason::UnknownPath => "unknown_path",
        }
    }
}

/// The outcome of [`Policy::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The deciding rule's index; `None` for the default and unmatchable paths.
    pub rule: Option<usize>,
    pub reason: Reason,
}

/// The compiled policy.
pub struct Policy {
    rules: Vec<Rule>,
    default: PolicyDefault,
    claim_names: Vec<String>,
    counters: Arc<PolicyCounters>,
    audit: Option<audit::AuditLog>,
    origin: String,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("rules", &self.rules.len())
            .field("default", &self.default)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Compile the validated policy. With `open_audit`, the audit log file (if any) is opened
    /// for appending now, and a writer thread started (an error names the file).
    pub fn new(cfg: &PolicyConfig, open_audit: bool) -> Result<Policy, String> {
        let rules = cfg
            .rules
            .iter()
            .map(|r| compile::rule(r, &cfg.claim_names()))
            .collect::<Result<Vec<_>, _>>()?;
        let counters = PolicyCounters::new(cfg.rules.iter().map(|r| r.name.as_str()));
        let audit = match (&cfg.audit_log, open_audit) {
            (Some(path), true) => Some(audit::AuditLog::open(path, counters.clone())?),
            _ => None,
        };
        Ok(Policy {
            rules,
            default: cfg.default,
            claim_names: cfg.claim_names(),
            counters,
            audit,
            origin: cfg.origin.clone(),
        })
    }

    /// The counters to export on `/metrics`.
    pub fn counters(&self) -> &Arc<PolicyCounters> {
        &self.counters
    }

    /// The claims the policy tests, in slot order.
    pub fn claim_names(&self) -> &[String] {
        &self.claim_names
    }

    /// A rule's name.
    pub fn rule_name(&self, i: usize) -> &str {
        self.rules.get(i).map_or("", |r| &r.name)
    }

    /// Decide (pure; see the module docs).
    pub fn evaluate(&self, target: &Target<'_>, who: &Subject<'_>) -> Decision {
        let Some(raw) = target.path else {
            return Decision {
                allowed: false,
                rule: None,
                reason: Reason::UnknownPath,
            };
        };
        let Ok(path) = crate::skip::normalize_path(raw) else {
            return Decision {
                allowed: false,
                rule: None,
                reason: Reason::AmbiguousPath,
            };
        };
        let host = compile::bare_host(target.host);
        let mut first_allow = None;
        for (i, r) in self.rules.iter().enumerate() {
            if !r.route_matches(target.method, host, &path) {
                continue;
            }
            if r.deny.as_ref().is_some_and(|d| d.holds(who)) {
                return Decision {
                    allowed: false,
                    rule: Some(i),
                    reason: Reason::DenyHolds,
                };
            }
            if first_allow.is_none() && r.allow.is_some() {
                first_allow = Some(i);
            }
        }
        match first_allow {
            Some(i) => {
                let allowed = self.rules[i].allow.as_ref().is_some_and(|a| a.holds(who));
                Decision {
                    allowed,
                    rule: Some(i),
                    reason: if allowed {
                        Reason::AllowHolds
                    } else {
                        Reason::AllowFails
                    },
                }
            }
            None => Decision {
                allowed: self.default == PolicyDefault::AllowSignedIn,
                rule: None,
                reason: Reason::Default,
            },
        }
    }

    /// Count `d` in the metrics, and write it to the audit log when there is one.
    pub fn record(&self, d: &Decision, entry: impl FnOnce() -> AuditEntry) {
        let slot = match (d.rule, d.reason) {
            (Some(i), _) => i,
            (None, Reason::Default) => self.counters.default_slot(),
            (None, _) => self.counters.unmatchable_slot(),
        };
        self.counters.record(slot, d.allowed);
        if let Some(log) = &self.audit {
            log.write(entry());
        }
    }

    /// The label of the deciding rule (`(default)`, `(unmatchable)` when none).
    pub fn label(&self, d: &Decision) -> &str {
        match (d.rule, d.reason) {
            (Some(i), _) => self.rule_name(i),
            (None, Reason::Default) => crate::metrics::POLICY_DEFAULT_LABEL,
            (None, _) => crate::metrics::POLICY_UNMATCHABLE_LABEL,
        }
    }
}

/// The claims `policy` tests, read from a session: the session's own fields (`email`,
/// `user`, `groups`, `preferred_username`), its kept claims, then the claims of its ID token
/// (or bearer token), which the session's integrity protects (it was verified when the session
/// was made). Empty without a policy or claim criteria.
pub fn session_claims(policy: Option<&Policy>, s: &SessionState) -> Vec<ClaimValue> {
    let Some(p) = policy.filter(|p| !p.claim_names.is_empty()) else {
        return Vec::new();
    };
    let token = token_claims(&s.id_token);
    p.claim_names
        .iter()
        .map(|name| match name.as_str() {
            "email" => ClaimValue::One(s.email.clone()),
            "user" => ClaimValue::One(s.user.clone()),
            "groups" => ClaimValue::Many(s.groups.clone()),
            "preferred_username" if !s.preferred_username.is_empty() => {
                ClaimValue::One(s.preferred_username.clone())
            }
            other => match s.additional_claims.get(other) {
                Some(v) => ClaimValue::from_json(&crate::session::claims::to_json(v)),
                None => token
                    .as_ref()
                    .and_then(|t| lookup(t, other))
                    .map_or(ClaimValue::Absent, ClaimValue::from_json),
            },
        })
        .collect()
}

/// The payload of a JWT, without checking anything (the caller knows it was verified).
fn token_claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = crate::crypto::b64url_nopad_decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `a.b.c` in nested objects (a claim literally named `a.b.c` wins).
fn lookup<'v>(v: &'v serde_json::Value, name: &str) -> Option<&'v serde_json::Value> {
    if let Some(direct) = v.get(name) {
        return Some(direct);
    }
    name.split('.').try_fold(v, |v, part| v.get(part))
}
