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
        if let Some(e) = untrimmed_network(&entry) {
            c.fail("trusted_proxy_ips", e);
            continue;
        }
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
    let skip = match SkipConfig::parse_warned(
        &c.list("skip_auth_routes"),
        &c.list("skip_auth_regex"),
        &c.list("api_routes"),
        &c.list("trusted_ips"),
        c.boolean("skip_auth_preflight"),
    ) {
        Ok((s, warnings)) => {
            for w in warnings {
                c.warn_about(w.key, w.message);
            }
            s
        }
        Err(errors) => {
            for e in errors {
                c.fail(e.key, e.message);
            }
            SkipConfig::default()
        }
    };
    (trusted_proxy_ips, skip)
}

/// v7 parses networks without trimming, so an entry with spaces (`a, b` in an environment
/// variable) is refused there: refused here too, saying why.
pub(crate) fn untrimmed_network(entry: &str) -> Option<String> {
    (entry.trim() != entry || entry.is_empty()).then(|| {
        format!("entry {entry:?} could not be recognized (oauth2-proxy refuses it too: list entries are not trimmed; separate them with a bare comma)")
    })
}

/// Why an `email_domains` entry can never match an email address (v7 accepts it and matches
/// nothing with it), if it cannot.
pub(crate) fn never_matching_email_domain(entry: &str) -> Option<&'static str> {
    if entry == "*" {
        return None;
    }
    let domain = entry
        .strip_prefix("*.")
        .or_else(|| entry.strip_prefix('.'))
        .unwrap_or(entry);
    if domain.is_empty() {
        Some("it is empty")
    } else if domain.contains('@') {
        Some("it contains '@' (write the domain alone, e.g. example.com)")
    } else if domain.contains('*') {
        Some("a wildcard is only allowed alone (*) or as a leading '*.'")
    } else if domain
        .chars()
        .any(|ch| ch.is_whitespace() || ch.is_control())
    {
        Some("it contains spaces or control characters")
    } else if domain.starts_with('.') || domain.contains("..") {
        Some("it has an empty label")
    } else {
        None
    }
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
    let configured = c.list("email_domains");
    let mut email_domains = Vec::with_capacity(configured.len());
    for d in &configured {
        match never_matching_email_domain(d) {
            None => email_domains.push(d.to_ascii_lowercase()),
            Some(why) => c.warn_about(
                "email_domains",
                format!("entry {d:?} matches no email address ({why}); it is ignored, as it matches nothing in oauth2-proxy either"),
            ),
        }
    }
    let file = c.opt_string("authenticated_emails_file").map(PathBuf::from);
    let emails = file.as_ref().and_then(|f| match read_emails_file(f) {
        Ok((set, warnings)) => {
            for w in warnings {
                c.warn_about("authenticated_emails_file", w);
            }
            Some(set)
        }
        Err(e) => {
            c.fail("authenticated_emails_file", e);
            None
        }
    });
    // v7 counts the entries as written (an entry that matches nothing still satisfies it).
    if configured.is_empty() && file.is_none() && c.opt_string("htpasswd_file").is_none() {
        c.errors.push(ConfigError::new(
            "email_domains",
            "option `email_domains`, `authenticated_emails_file` or `htpasswd_file` is required (as in oauth2-proxy); use email_domains = [\"*\"] to allow every email (env OAUTH2_PROXY_EMAIL_DOMAINS, flag --email-domain)",
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
    let issuers = c.list("extra_jwt_issuers");
    if !issuers.is_empty() && !skip_jwt_bearer_tokens {
        // v7 reads them only with skip_jwt_bearer_tokens.
        c.warn_about(
            "extra_jwt_issuers",
            "is ignored: it only applies with skip_jwt_bearer_tokens = true (as in oauth2-proxy)",
        );
    }
    for entry in issuers.iter().filter(|_| skip_jwt_bearer_tokens) {
        if entry.trim() != entry {
            c.fail("extra_jwt_issuers", format!("entry {entry:?} has surrounding spaces; oauth2-proxy keeps them and cannot discover such an issuer either (separate entries with a bare comma)"));
            continue;
        }
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
    let htpasswd_file = c.opt_string("htpasswd_file").map(PathBuf::from);
    if let Some(path) = &htpasswd_file {
        if let Err(e) = crate::htpasswd::Htpasswd::load(path) {
            c.fail("htpasswd_file", e);
        }
    }
    let htpasswd_user_groups = c.list("htpasswd_user_groups");
    if !htpasswd_user_groups.is_empty() && htpasswd_file.is_none() {
        c.warn_about(
            "htpasswd_user_groups",
            "has no effect without htpasswd_file (oauth2-proxy ignores it too)",
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

/// The emails file as v7 reads it: CSV (comma separated, `#` comment lines, leading spaces of
/// fields skipped), the first field of each record, trimmed and lower-cased. A file Go's CSV
/// reader cannot read (a stray quote, records with different field counts) gives no email at
/// all in v7, which only logs an error: the same here, with a warning. Entries that are no
/// email address match nothing (as in v7) and get a warning.
pub(crate) fn read_emails_file(path: &Path) -> Result<(HashSet<String>, Vec<String>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut set = HashSet::new();
    let mut warnings = Vec::new();
    let mut fields_per_record = None;
    let mut odd = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let record = match crate::config::sources::read_csv(line, true) {
            Ok(r) => r,
            Err(e) => {
                warnings.push(format!("{}:{}: {e}; oauth2-proxy cannot read this file then and allows no email through it, so neither does authproxy", path.display(), n + 1));
                return Ok((HashSet::new(), warnings));
            }
        };
        match fields_per_record {
            None => fields_per_record = Some(record.len()),
            Some(k) if k != record.len() => {
                warnings.push(format!("{}:{}: wrong number of fields ({} instead of {k}); oauth2-proxy cannot read this file then and allows no email through it, so neither does authproxy", path.display(), n + 1, record.len()));
                return Ok((HashSet::new(), warnings));
            }
            Some(_) => {}
        }
        let address = record
            .first()
            .map(|f| f.trim().to_lowercase())
            .unwrap_or_default();
        let valid = address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        }) && !address
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control());
        if !valid {
            odd.push(format!("{}:{}: {address:?}", path.display(), n + 1));
        }
        set.insert(address);
    }
    if !odd.is_empty() {
        warnings.push(format!(
            "entries that are no email address match nothing: {}",
            odd.join(", ")
        ));
    }
    Ok((set, warnings))
}
