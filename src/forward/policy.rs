//! Forward authentication policy: the per-location constraints a front proxy can put on
//! `/oauth2/auth` (oauth2-proxy's query options), and the pieces of the Envoy HTTP ext_authz
//! answer that do not depend on I/O.
//!
//! ## `/oauth2/auth` query options
//!
//! | option | meaning |
//! |---|---|
//! | `allowed_groups` | the session has at least one of these groups (exact, case-sensitive) |
//! | `allowed_emails` | the session's email is one of these (ASCII case-insensitive) |
//! | `allowed_email_domains` | the email's domain matches one entry: `example.com` exactly, `.example.com` / `*.example.com` that domain and its subdomains |
//! | `allowed_users` | the session's user is one of these (exact) |
//! | `require_all_matches` | `true` (default): every given option must hold; `false`: one is enough |
//! | `constraints_required` | `true`: a request without any of the options above is refused (default `false`) |
//!
//! Each list is comma-separated and may be repeated (`?allowed_groups=a,b&allowed_groups=c`).
//! These options sit in the front proxy's configuration (`auth_request /oauth2/auth?...`), not
//! in anything the browser controls; the Envoy ext_authz endpoint, whose path IS the client's
//! path, therefore never reads them.
//!
//! An email address with other than exactly one `@` (`a@evil.example@example.com`), an empty
//! local part or domain, or whitespace, matches no email or domain option.

use std::collections::HashSet;

/// Parsed `/oauth2/auth` query constraints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConstraints {
    groups: HashSet<String>,
    emails: HashSet<String>,
    email_domains: Vec<String>,
    users: HashSet<String>,
    require_all: bool,
    required: bool,
}

/// The identity the constraints are checked against.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub user: &'a str,
    pub email: &'a str,
    pub groups: &'a [String],
}

impl AuthConstraints {
    /// Reads the options from a raw query string (`None`: no query). A boolean option with a
    /// value other than Go's `strconv.ParseBool` spellings is an error naming it.
    pub fn from_query(query: Option<&str>) -> Result<AuthConstraints, String> {
        let mut c = AuthConstraints {
            require_all: true,
            ..AuthConstraints::default()
        };
        let Some(query) = query else { return Ok(c) };
        // oauth2-proxy reads these with Go's `URL.Query()`: invalid parameters are skipped.
        for (key, value) in crate::query::pairs(query) {
            let items = || {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            match key.as_ref() {
                "allowed_groups" => c.groups.extend(items()),
                "allowed_emails" => c
                    .emails
                    .extend(items().into_iter().map(|e| e.to_ascii_lowercase())),
                "allowed_email_domains" => c
                    .email_domains
                    .extend(items().into_iter().map(|d| d.to_ascii_lowercase())),
                "allowed_users" => c.users.extend(items()),
                "require_all_matches" => c.require_all = parse_bool("require_all_matches", &value)?,
                "constraints_required" => c.required = parse_bool("constraints_required", &value)?,
                _ => {}
            }
        }
        Ok(c)
    }

    /// True when no list option was given.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
            && self.emails.is_empty()
            && self.email_domains.is_empty()
            && self.users.is_empty()
    }

    /// Whether `who` satisfies the constraints.
    pub fn allows(&self, who: &Subject<'_>) -> bool {
        if self.is_empty() {
            return !self.required;
        }
        let mut checks = Vec::with_capacity(4);
        if !self.groups.is_empty() {
            checks.push(who.groups.iter().any(|g| self.groups.contains(g)));
        }
        if !self.emails.is_empty() {
            checks.push(
                well_formed_email(who.email)
                    .is_some_and(|_| self.emails.contains(&who.email.to_ascii_lowercase())),
            );
        }
        if !self.email_domains.is_empty() {
            checks.push(well_formed_email(who.email).is_some_and(|domain| {
                self.email_domains
                    .iter()
                    .any(|allowed| domain_allowed(domain, allowed))
            }));
        }
        if !self.users.is_empty() {
            checks.push(!who.user.is_empty() && self.users.contains(who.user));
        }
        if self.require_all {
            checks.iter().all(|&ok| ok)
        } else {
            checks.iter().any(|&ok| ok)
        }
    }
}

/// Go's `strconv.ParseBool` spellings.
fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("query option {key}={v:?} is not a boolean")),
    }
}

/// The domain of a single `local@domain` address, else `None`.
fn well_formed_email(email: &str) -> Option<&str> {
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

/// oauth2-proxy's endpoint rule for domains: exact, or `.d` / `*.d` for `d` and subdomains.
fn domain_allowed(domain: &str, allowed: &str) -> bool {
    let (base, subdomains) = if let Some(b) = allowed.strip_prefix("*.") {
        (b, true)
    } else if let Some(b) = allowed.strip_prefix('.') {
        (b, true)
    } else {
        (allowed, false)
    };
    if base.is_empty() {
        return false;
    }
    if domain.eq_ignore_ascii_case(base) {
        return true;
    }
    subdomains
        && domain.len() > base.len() + 1
        && domain.as_bytes()[domain.len() - base.len() - 1] == b'.'
        && domain[domain.len() - base.len()..].eq_ignore_ascii_case(base)
}

/// Every spelling of an identity header a client could use to forge one in the Envoy
/// ext_authz flow, where authproxy never sees the request to the app: the canonical name and
/// its all-underscore twin. The ext_authz answer lists those it does not set itself in
/// `x-envoy-auth-headers-to-remove`, so Envoy deletes client-sent copies.
pub const ENVOY_IDENTITY_HEADERS: &[&str] = &[
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-forwarded-id-token",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-preferred-username",
    "x-auth-request-access-token",
    "x-auth-request-redirect",
    "gap-auth",
    "gap-signature",
    "x_forwarded_user",
    "x_forwarded_email",
    "x_forwarded_groups",
    "x_forwarded_preferred_username",
    "x_forwarded_access_token",
    "x_forwarded_id_token",
    "x_auth_request_user",
    "x_auth_request_email",
    "x_auth_request_groups",
    "x_auth_request_preferred_username",
    "x_auth_request_access_token",
    "x_auth_request_redirect",
    "gap_auth",
    "gap_signature",
];

/// The `x-envoy-auth-headers-to-remove` value: every name of [`ENVOY_IDENTITY_HEADERS`] not in
/// `set` (the headers this answer sets, which Envoy overwrites anyway).
pub fn headers_to_remove<'a>(set: impl Iterator<Item = &'a str> + Clone) -> String {
    let mut out = String::with_capacity(512);
    for name in ENVOY_IDENTITY_HEADERS {
        if set.clone().any(|s| s.eq_ignore_ascii_case(name)) {
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(name);
    }
    out
}

/// The original request target behind the ext_authz path prefix: `{prefix}/ext_authz/a/b?c`
/// → `/a/b?c`. `rest` is what follows the endpoint path (possibly empty or only a query).
pub fn ext_authz_target(rest: &str) -> String {
    if rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn query_constraints_table() {
        let admins = groups(&["admins", "devs"]);
        let none: Vec<String> = Vec::new();
        let alice = Subject {
            user: "alice",
            email: "alice@example.com",
            groups: &admins,
        };
        let bob = Subject {
            user: "bob",
            email: "Bob@Sub.Example.com",
            groups: &none,
        };
        let twice = Subject {
            user: "mallory",
            email: "mallory@evil.example@example.com",
            groups: &admins,
        };
        let cases: &[(&str, &Subject<'_>, bool)] = &[
            ("", &alice, true),
            ("constraints_required=true", &alice, false),
            ("allowed_groups=admins", &alice, true),
            ("allowed_groups=ops,admins", &alice, true),
            ("allowed_groups=ops&allowed_groups=devs", &alice, true),
            ("allowed_groups=Admins", &alice, false),
            ("allowed_groups=admins", &bob, false),
            ("allowed_emails=ALICE@example.com", &alice, true),
            ("allowed_emails=bob@example.com", &alice, false),
            ("allowed_email_domains=example.com", &alice, true),
            ("allowed_email_domains=example.com", &bob, false),
            ("allowed_email_domains=.example.com", &bob, true),
            ("allowed_email_domains=*.example.com", &bob, true),
            ("allowed_email_domains=.example.com", &alice, true),
            ("allowed_email_domains=xample.com", &alice, false),
            ("allowed_email_domains=.ample.com", &alice, false),
            // Two `@`: no domain or email rule matches.
            ("allowed_email_domains=example.com", &twice, false),
            (
                "allowed_email_domains=example.com,evil.example",
                &twice,
                false,
            ),
            (
                "allowed_emails=mallory@evil.example@example.com",
                &twice,
                false,
            ),
            ("allowed_users=alice", &alice, true),
            ("allowed_users=alice", &bob, false),
            // AND by default, OR on request.
            ("allowed_groups=admins&allowed_users=bob", &alice, false),
            (
                "allowed_groups=admins&allowed_users=bob&require_all_matches=false",
                &alice,
                true,
            ),
            (
                "allowed_groups=ops&allowed_users=bob&require_all_matches=0",
                &alice,
                false,
            ),
            ("allowed_groups=,,&constraints_required=t", &alice, false),
            ("unrelated=1&allowed_groups=admins", &alice, true),
            ("allowed_groups=a%2Cb,admins", &alice, true),
        ];
        for (query, who, want) in cases {
            let c = AuthConstraints::from_query(Some(query)).unwrap();
            assert_eq!(c.allows(who), *want, "{query} for {}", who.email);
        }
        assert!(AuthConstraints::from_query(None).unwrap().allows(&alice));
    }

    #[test]
    fn bad_boolean_is_an_error_naming_the_option() {
        let e = AuthConstraints::from_query(Some("require_all_matches=yes")).unwrap_err();
        assert!(e.contains("require_all_matches"), "{e}");
        assert!(AuthConstraints::from_query(Some("constraints_required=2")).is_err());
    }

    #[test]
    fn headers_to_remove_lists_every_unset_identity_spelling() {
        let all = headers_to_remove([].iter().copied());
        assert_eq!(all.split(',').count(), ENVOY_IDENTITY_HEADERS.len());
        assert!(all.contains("x_auth_request_email"));
        let some = headers_to_remove(["X-Auth-Request-Email", "x-forwarded-user"].iter().copied());
        assert!(!some.split(',').any(|n| n == "x-auth-request-email"));
        assert!(!some.split(',').any(|n| n == "x-forwarded-user"));
        assert!(some.split(',').any(|n| n == "x_auth_request_email"));
        assert_eq!(some.split(',').count(), ENVOY_IDENTITY_HEADERS.len() - 2);
    }

    #[test]
    fn ext_authz_target_is_always_origin_form() {
        assert_eq!(ext_authz_target("/a/b?c=d"), "/a/b?c=d");
        assert_eq!(ext_authz_target(""), "/");
        assert_eq!(ext_authz_target("?x=1"), "/?x=1");
    }
}
