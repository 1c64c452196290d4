//! Authorization: may this signed-in identity use the app?
//!
//! Pure policy, evaluated on every authenticated request (oauth2-proxy re-checks the email on
//! every request too, so a changed `authenticated_emails_file` takes effect without a new
//! login). The rules are oauth2-proxy's (`validator.go`, the providers' group check):
//!
//! * **Email** (one of these must hold):
//!   * `email_domains` contains `*`;
//!   * the part after the `@` equals an `email_domains` entry (`example.com`);
//!   * the part after the `@` is a *subdomain* of a `.example.com` or `*.example.com` entry
//!     (as in oauth2-proxy, such an entry does **not** match `example.com` itself);
//!   * the address is listed in `authenticated_emails_file`.
//!
//!   Comparison ignores ASCII case. An address with more than one `@`, an empty local part
//!   or domain, or whitespace/control characters never matches anything, not even `*`:
//!   oauth2-proxy before v7.15.2 let `attacker@evil.com@example.com` through an
//!   `example.com` rule.
//! * **Groups**: when `allowed_groups` is set, the session must carry at least one of them
//!   (exact, case-sensitive, as oauth2-proxy). This is an AND with the email rule.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::config::AuthzConfig;

#[cfg(test)]
mod tests;

/// Why a signed-in user is not allowed. Each variant states a fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// The session has no email address.
    #[error("the session has no email address")]
    EmailMissing,
    /// The email address is not a single `local@domain` (two `@`, empty part, whitespace).
    #[error("the email address is malformed")]
    EmailMalformed,
    /// Neither `email_domains` nor `authenticated_emails_file` is configured: nobody is allowed.
    #[error("no email_domains and no authenticated_emails_file are configured")]
    NoEmailRules,
    /// Only `email_domains` is configured and the address's domain matches none of them.
    #[error("the email domain is not in email_domains")]
    EmailDomainNotAllowed,
    /// Only `authenticated_emails_file` is configured and the address is not in it.
    #[error("the email address is not in authenticated_emails_file")]
    EmailNotInList,
    /// Both are configured and the address matches neither.
    #[error("the email address matches neither email_domains nor authenticated_emails_file")]
    EmailNotInDomainsOrList,
    /// `allowed_groups` is set and the session carries none of them.
    #[error("the user is in none of allowed_groups")]
    NotInAllowedGroups,
    /// The session's provider has `allowedGroups` (alpha config) and the session carries none.
    #[error("the user is in none of the allowedGroups of the provider they signed in with")]
    NotInProviderAllowedGroups,
}

impl DenyReason {
    /// Every reason (the metrics export each one from startup, at 0).
    pub const ALL: [DenyReason; 8] = [
        Self::EmailMissing,
        Self::EmailMalformed,
        Self::NoEmailRules,
        Self::EmailDomainNotAllowed,
        Self::EmailNotInList,
        Self::EmailNotInDomainsOrList,
        Self::NotInAllowedGroups,
        Self::NotInProviderAllowedGroups,
    ];

    /// A short, stable identifier for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailMissing => "email_missing",
            Self::EmailMalformed => "email_malformed",
            Self::NoEmailRules => "no_email_rules",
            Self::EmailDomainNotAllowed => "email_domain_not_allowed",
            Self::EmailNotInList => "email_not_in_list",
            Self::EmailNotInDomainsOrList => "email_not_in_domains_or_list",
            Self::NotInAllowedGroups => "not_in_allowed_groups",
            Self::NotInProviderAllowedGroups => "not_in_provider_allowed_groups",
        }
    }
}

/// The outcome of [`decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(DenyReason),
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// The compiled authorization rules.
#[derive(Clone, Debug, Default)]
pub struct AuthzPolicy {
    /// `email_domains` contains `*`.
    any_domain: bool,
    /// Exact domains, lower-case (`example.com`).
    domains: Vec<String>,
    /// Subdomain suffixes, lower-case, with their leading dot (`.example.com`).
    subdomain_suffixes: Vec<String>,
    /// `authenticated_emails_file`, lower-case; `None` when not configured.
    emails: Option<HashSet<String>>,
    /// `allowed_groups`; empty = no group restriction.
    allowed_groups: HashSet<String>,
    /// Sessions without an email (htpasswd users) skip the email rules; see
    /// [`AuthzPolicy::allow_users_without_email`].
    users_without_email: bool,
}

impl AuthzPolicy {
    /// Compiles the rules. An `email_domains` entry that can never match (`@example.com`,
    /// `*example.com`, an empty string, whitespace) is an error naming the entry, instead of
    /// silently locking everyone out as oauth2-proxy does.
    pub fn from_config(cfg: &AuthzConfig) -> Result<Self, String> {
        let mut policy = Self {
            emails: cfg.authenticated_emails.as_ref().map(|set| {
                set.iter()
                    .map(|e| e.trim().to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            }),
            allowed_groups: cfg.allowed_groups.iter().cloned().collect(),
            ..Self::default()
        };
        for entry in &cfg.email_domains {
            let bad = |why: &str| format!("email_domains entry {entry:?}: {why}");
            if entry == "*" {
                policy.any_domain = true;
                continue;
            }
            let (subdomains, domain) = if let Some(d) = entry.strip_prefix("*.") {
                (true, d)
            } else if let Some(d) = entry.strip_prefix('.') {
                (true, d)
            } else {
                (false, entry.as_str())
            };
            if domain.is_empty() {
                return Err(bad("is empty"));
            }
            if domain.contains('@') {
                return Err(bad("write the domain without '@' (e.g. example.com)"));
            }
            if domain.contains('*') {
                return Err(bad(
                    "a wildcard is only allowed alone (*) or as a leading '*.' (e.g. *.example.com)",
                ));
            }
            if domain.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("contains whitespace or control characters"));
            }
            if domain.starts_with('.') || domain.contains("..") {
                return Err(bad("has an empty label"));
            }
            let domain = domain.to_ascii_lowercase();
            if subdomains {
                policy.subdomain_suffixes.push(format!(".{domain}"));
            } else {
                policy.domains.push(domain);
            }
        }
        Ok(policy)
    }

    /// Let sessions without an email address through the email rules (groups still apply).
    /// Only htpasswd users have no email (oauth2-proxy's semantics: the operator listed them
    /// in `htpasswd_file`); identity-provider logins and bearer tokens always carry one, so
    /// without an htpasswd file an empty email stays a denial.
    pub fn allow_users_without_email(&mut self, on: bool) {
        self.users_without_email = on;
    }

    /// True when `allowed_groups` is configured.
    pub fn restricts_groups(&self) -> bool {
        !self.allowed_groups.is_empty()
    }

    fn domain_allowed(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| domain.eq_ignore_ascii_case(d))
            || self.subdomain_suffixes.iter().any(|suffix| {
                domain.len() > suffix.len()
                    && domain
                        .get(domain.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            })
    }

    fn listed(&self, email: &str) -> bool {
        let Some(list) = &self.emails else {
            return false;
        };
        // Allocate only when the address actually has upper-case letters.
        let email: Cow<'_, str> = if email.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(email.to_ascii_lowercase())
        } else {
            Cow::Borrowed(email)
        };
        list.contains(email.as_ref())
    }

    fn email_denial(&self) -> DenyReason {
        let has_domains = !self.domains.is_empty() || !self.subdomain_suffixes.is_empty();
        match (has_domains, self.emails.is_some()) {
            (false, false) => DenyReason::NoEmailRules,
            (true, false) => DenyReason::EmailDomainNotAllowed,
            (false, true) => DenyReason::EmailNotInList,
            (true, true) => DenyReason::EmailNotInDomainsOrList,
        }
    }
}

/// Splits a well-formed `local@domain`; `None` for anything else.
fn split_email(email: &str) -> Option<(&str, &str)> {
    let (local, domain) = email.split_once('@')?;
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some((local, domain))
}

/// Decides whether the identity (`email`, `groups`) may use the app.
pub fn decide(policy: &AuthzPolicy, email: &str, groups: &[String]) -> Decision {
    if email.is_empty() {
        if !policy.users_without_email {
            return Decision::Deny(DenyReason::EmailMissing);
        }
        if policy.restricts_groups() && !groups.iter().any(|g| policy.allowed_groups.contains(g)) {
            return Decision::Deny(DenyReason::NotInAllowedGroups);
        }
        return Decision::Allow;
    }
    // Checked before `*` on purpose: a malformed address is refused under every rule.
    let Some((_, domain)) = split_email(email) else {
        return Decision::Deny(DenyReason::EmailMalformed);
    };
    let email_ok = policy.any_domain || policy.domain_allowed(domain) || policy.listed(email);
    if !email_ok {
        return Decision::Deny(policy.email_denial());
    }
    if policy.restricts_groups() && !groups.iter().any(|g| policy.allowed_groups.contains(g)) {
        return Decision::Deny(DenyReason::NotInAllowedGroups);
    }
    Decision::Allow
}

/// [`decide`], then the signed-in provider's own `allowedGroups` (alpha config; empty = no
/// restriction): both must allow. Evaluated at login and on every request.
pub fn decide_with_provider(
    policy: &AuthzPolicy,
    provider_groups: &HashSet<String>,
    email: &str,
    groups: &[String],
) -> Decision {
    match decide(policy, email, groups) {
        Decision::Allow
            if !provider_groups.is_empty()
                && !groups.iter().any(|g| provider_groups.contains(g)) =>
        {
            Decision::Deny(DenyReason::NotInProviderAllowedGroups)
        }
        d => d,
    }
}
