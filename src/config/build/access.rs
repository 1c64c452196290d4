//! Who may in: email domains and files, groups, machine clients (bearer tokens, htpasswd),
//! trusted proxies and the skip rules, and redirect whitelists.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::super::*;
use super::ctx::{subject, Ctx};
use super::http_url;

/// `trusted_proxy_ips` and the skip rules (`skip_auth_*`, `trusted_ips`, `api_routes`).
pub(crate) fn forwarding_and_skip(c: &mut Ctx) -> (Vec<crate::net::Cidr>, SkipConfig) {
    let mut trusted_proxy_ips = Vec::new();
    for entry in c.list("trusted_proxy_ips") {
        match crate::net::Cidr::parse(&entry) {
            Ok(n) => trusted_proxy_ips.push(n),
            Err(e) => c.fail("trusted_proxy_ips", e),
        }
    }
    if !c.boolean("skip_auth_strip_headers") {
        c.warn(format!(
            "{}: false would let clients send their own identity headers to the app; authproxy keeps stripping them (oauth2-proxy would not)",
            subject("skip_auth_strip_headers", &c.origin("skip_auth_strip_headers"))
        ));
    }
    let skip = match SkipConfig::parse(
        &c.list("skip_auth_routes"),
        &c.list("skip_auth_regex"),
        &c.list("api_routes"),
        &c.list("trusted_ips"),
        c.boolean("skip_auth_preflight"),
    ) {
        Ok(s) => s,
        Err(errors) => {
            for e in errors {
                c.fail(e.key, e.message);
            }
            SkipConfig::default()
        }
    };
    (trusted_proxy_ips, skip)
}

/// `example.com`, `.example.com`, `*.example.com`, each with an optional `:port` or `:*`.
pub(crate) fn validate_whitelist_domain(entry: &str) -> Result<(), String> {
    if entry.contains("://") || entry.contains('/') {
        return Err("must be a host name such as .example.com, not a URL".into());
    }
    let host_port = entry
        .strip_prefix("*.")
        .or_else(|| entry.strip_prefix('.'))
        .unwrap_or(entry);
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed [ in IPv6 address")?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| "invalid IPv6 address")?;
        (None, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(host_port), None),
        }
    };
    if let Some(p) = port {
        if p != "*" && p.parse::<u16>().is_err() {
            return Err(format!("port {p:?} must be a number or *"));
        }
    }
    if let Some(h) = host {
        validate_hostname(h)?;
    }
    Ok(())
}

pub(crate) fn validate_hostname(h: &str) -> Result<(), String> {
    if h.is_empty() {
        return Err("empty host name".into());
    }
    for label in h.split('.') {
        if label.is_empty() {
            return Err(format!("{h:?} has an empty label"));
        }
        if !label
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return Err(format!(
                "{h:?} may only contain letters, digits, '-', '_' and '.' (use punycode for international names)"
            ));
        }
    }
    Ok(())
}

pub(crate) fn authz(c: &mut Ctx) -> AuthzConfig {
    let email_domains: Vec<String> = c
        .list("email_domains")
        .into_iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    for d in &email_domains {
        if d != "*" && (d.contains('@') || d.chars().any(char::is_whitespace)) {
            c.fail(
                "email_domains",
                format!("entry {d:?} must be a domain such as example.com (or * for any)"),
            );
        }
    }
    let file = c.opt_string("authenticated_emails_file").map(PathBuf::from);
    let emails = file.as_ref().and_then(|f| match read_emails_file(f) {
        Ok(set) => Some(set),
        Err(e) => {
            c.fail("authenticated_emails_file", e);
            None
        }
    });
    if email_domains.is_empty() && file.is_none() {
        c.errors.push(ConfigError::new(
            "email_domains",
            "option `email_domains` or `authenticated_emails_file` is required; use email_domains = [\"*\"] to allow every email (env OAUTH2_PROXY_EMAIL_DOMAINS, flag --email-domain)",
        ));
    }
    AuthzConfig {
        email_domains,
        authenticated_emails: emails,
        authenticated_emails_file: file,
        allowed_groups: c.list("allowed_groups"),
    }
}

/// `skip_jwt_bearer_tokens`, `extra_jwt_issuers`, `bearer_token_login_fallback`,
/// `htpasswd_file`, `htpasswd_user_groups`, `display_htpasswd_form`.
pub(crate) fn machine(c: &mut Ctx) -> MachineConfig {
    let skip_jwt_bearer_tokens = c.boolean("skip_jwt_bearer_tokens");
    let mut extra_jwt_issuers: Vec<TrustedIssuer> = Vec::new();
    for entry in c.list("extra_jwt_issuers") {
        let parsed = match entry.split('=').collect::<Vec<_>>().as_slice() {
            [issuer, audience] if !issuer.trim().is_empty() && !audience.trim().is_empty() => {
                http_url(issuer).map(|u| (u, audience.trim().to_owned()))
            }
            _ => Err(format!(
                "entry {entry:?} must be issuer=audience (e.g. https://login.example.com/realm=my-api)"
            )),
        };
        match parsed {
            Ok((issuer, audience)) => {
                match extra_jwt_issuers.iter_mut().find(|t| t.issuer == issuer) {
                    Some(t) => t.audiences.push(audience),
                    None => extra_jwt_issuers.push(TrustedIssuer {
                        issuer,
                        audiences: vec![audience],
                    }),
                }
            }
            Err(e) => c.fail("extra_jwt_issuers", e),
        }
    }
    if !extra_jwt_issuers.is_empty() && !skip_jwt_bearer_tokens {
        c.fail(
            "extra_jwt_issuers",
            "has no effect unless skip_jwt_bearer_tokens is true",
        );
    }
    let htpasswd_file = c.opt_string("htpasswd_file").map(PathBuf::from);
    if let Some(path) = &htpasswd_file {
        if let Err(e) = crate::htpasswd::Htpasswd::load(path) {
            c.fail("htpasswd_file", e);
        }
    }
    let htpasswd_user_groups = c.list("htpasswd_user_groups");
    if !htpasswd_user_groups.is_empty() && htpasswd_file.is_none() {
        c.fail(
            "htpasswd_user_groups",
            "has no effect without htpasswd_file",
        );
    }
    MachineConfig {
        skip_jwt_bearer_tokens,
        extra_jwt_issuers,
        bearer_token_login_fallback: c.boolean("bearer_token_login_fallback"),
        htpasswd_file,
        htpasswd_user_groups,
        display_htpasswd_form: c.boolean("display_htpasswd_form"),
    }
}

/// One email per line; trimmed, lower-cased; blank lines and `#` comments ignored.
pub(crate) fn read_emails_file(path: &Path) -> Result<HashSet<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut set = HashSet::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let valid = l.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        }) && !l
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control() || ch == ',');
        if valid {
            set.insert(l.to_lowercase());
        } else {
            bad.push(format!(
                "{}:{}: {l:?} is not an email address",
                path.display(),
                n + 1
            ));
        }
    }
    if bad.is_empty() {
        Ok(set)
    } else {
        Err(bad.join("; "))
    }
}
