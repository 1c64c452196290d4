//! Typing, validation and compilation of the merged settings into [`Config`]. Every
//! problem is collected (not just the first) and names the option and its origin.

use std::path::PathBuf;

mod access;
mod cookie;
mod ctx;
pub mod headers;
mod logging;
mod provider;
mod provider_opts;
mod redirect;
pub(super) mod server;
mod session;
mod signing;
pub(super) mod upstreams;

use super::*;
use access::{authz, forwarding_and_skip, machine, validate_whitelist_domain};
use cookie::cookie;
pub(super) use ctx::go_parse_int;
pub(super) use ctx::Ctx;
use headers::legacy_headers;
use provider::{alpha_providers, provider};
use upstreams::legacy_upstreams;

#[cfg(test)]
pub(crate) use access::validate_whitelist_domain as check_whitelist_domain;
#[cfg(test)]
pub(crate) use ctx::typed;

/// Compile the merged settings into a validated [`Config`].
pub(super) fn build(
    mut c: Ctx,
    config_file: Option<PathBuf>,
    alpha: Option<super::alpha::Alpha>,
    policy: Option<super::policy::PolicyConfig>,
) -> Result<Config, ConfigErrors> {
    let alpha_sections = alpha.as_ref();
    // With --alpha-config, a section the file leaves out is empty, as in oauth2-proxy v7 (it
    // never falls back to the legacy options, which it refuses in alpha mode).
    let server = match alpha_sections {
        Some(a) => a.server.clone().unwrap_or_else(|| {
            c.warn(format!(
                "alpha config file {} has no server section, so the proxy has no listener: oauth2-proxy exits at once then (status 0), authproxy exits with status 2 saying so; add server.bindAddress",
                a.file.display()
            ));
            ServerConfig::default()
        }),
        None => server::main_server(&mut c),
    };
    let metrics_server = match alpha_sections {
        Some(a) => a.metrics_server.clone().unwrap_or_default(),
        None => server::metrics_server(&mut c),
    };
    let grpc_ext_authz_address = match c.string("grpc_ext_authz_address").trim() {
        "" => None,
        s => {
            match server::parse_secure_address(s) {
                Ok(Some(a)) if server.bind_address == Some(BindAddress::Tcp(a)) => {
                    c.fail(
                    "grpc_ext_authz_address",
                    format!("{a} is also http_address; the gRPC ext_authz service needs its own port"),
                );
                    None
                }
                Ok(a) => a,
                Err(e) => {
                    c.fail("grpc_ext_authz_address", e);
                    None
                }
            }
        }
    };
    let proxy_prefix = path_option(&mut c, "proxy_prefix", true);
    let ping_path = endpoint_path(&mut c, "ping_path");
    let ready_path = endpoint_path(&mut c, "ready_path");
    let relative_redirect_url = c.boolean("relative_redirect_url");
    let (redirect_url, redirect_path) = redirect_url(&mut c, &proxy_prefix);
    let upstream_config = match alpha_sections {
        Some(a) => a.upstream_config.clone().unwrap_or_default(),
        None => legacy_upstreams(&mut c),
    };
    let mut real_client_ip_header = c.string("real_client_ip_header");
    const IP_HEADERS: [&str; 5] = [
        "X-Forwarded-For",
        "X-Real-IP",
        "X-ProxyUser-IP",
        "X-Envoy-External-Address",
        "CF-Connecting-IP",
    ];
    if !IP_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&real_client_ip_header))
        && !c.boolean("reverse_proxy")
    {
        // v7 checks it only with reverse_proxy; without, it is never read.
        c.warn_about(
            "real_client_ip_header",
            format!("{real_client_ip_header:?} is not one of {}; it has no effect without reverse_proxy (oauth2-proxy refuses it when reverse_proxy is on)", IP_HEADERS.join(", ")),
        );
        real_client_ip_header = "X-Real-IP".into();
    } else if !IP_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&real_client_ip_header))
    {
        c.fail(
            "real_client_ip_header",
            format!(
                "{real_client_ip_header:?} is not one of {}",
                IP_HEADERS.join(", ")
            ),
        );
    }
    // v7 accepts any entry; one that is no host[:port] matches no redirect there, so it is
    // left out here (fewer redirects allowed, never more), with a warning.
    let mut whitelist_domains = c.list("whitelist_domains");
    let mut dropped = Vec::new();
    whitelist_domains.retain(|d| match validate_whitelist_domain(d) {
        Ok(()) => true,
        Err(e) => {
            dropped.push(format!("entry {d:?} is ignored: {e} (oauth2-proxy accepts it but no redirect target matches it)"));
            false
        }
    });
    for w in dropped {
        c.warn_about("whitelist_domains", w);
    }
    let providers = match alpha.as_ref() {
        Some(a) if a.providers.is_empty() => {
            c.errors.push(ConfigError::new(
                "alpha-config",
                format!(
                    "alpha config file {} defines no provider; with --alpha-config the providers are configured in its providers section (oauth2-proxy refuses this too)",
                    a.file.display()
                ),
            ));
            None
        }
        Some(a) => alpha_providers(&mut c, a),
        None => provider(&mut c).map(|mut p| {
            // oauth2-proxy's id for the provider built from the legacy options.
            p.id = format!("{}={}", p.kind, p.client_id);
            vec![p]
        }),
    };
    let cookie = cookie(&mut c);
    let (mut inject_request_headers, mut inject_response_headers) = match alpha_sections {
        Some(a) => a.headers.clone().unwrap_or_default(),
        None => legacy_headers(&mut c),
    };
    let identity_assertion = super::assertion::identity_assertion(
        &mut c,
        &mut inject_request_headers,
        &mut inject_response_headers,
    );
    if let (Some(p), Some(configured)) = (&policy, &providers) {
        for id in p.provider_ids() {
            if !configured.iter().any(|x| x.id == id) {
                let ids: Vec<&str> = configured.iter().map(|x| x.id.as_str()).collect();
                c.errors.push(ConfigError::new(
                    "authproxy_policy",
                    format!(
                        "{}: provider {id:?} is not a configured provider (configured: {})",
                        p.origin,
                        ids.join(", ")
                    ),
                ));
            }
        }
    }
    cookie::check_minimal(
        &mut c,
        cookie.as_ref(),
        &inject_request_headers,
        &inject_response_headers,
    );
    let providers = providers.map(|mut ps| {
        provider_opts::keep_header_claims(
            &mut ps,
            &[&inject_request_headers, &inject_response_headers],
        );
        ps
    });
    let authz = authz(&mut c);
    let machine = machine(&mut c);
    let pages = PageConfig {
        custom_templates_dir: c.opt_string("custom_templates_dir").map(PathBuf::from),
        banner: c.opt_string("banner"),
        footer: c.opt_string("footer"),
        skip_provider_button: c.boolean("skip_provider_button"),
        show_debug_on_error: c.boolean("show_debug_on_error"),
        custom_sign_in_logo: c.opt_string("custom_sign_in_logo"),
    };
    let json = match c
        .string("logging_format")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "text" | "" => false,
        "json" => true,
        other => {
            c.fail(
                "logging_format",
                format!("{other:?} is not one of text, json"),
            );
            false
        }
    };
    let exclude_logging_paths = c.list("exclude_logging_paths");
    for p in &exclude_logging_paths {
        if !p.starts_with('/') {
            c.warn_about(
                "exclude_logging_paths",
                format!("entry {p:?} does not start with / and matches no request path (as in oauth2-proxy)"),
            );
        }
    }
    let (trusted_proxy_ips, skip) = forwarding_and_skip(&mut c);
    let mut template =
        |kind: crate::logformat::TemplateKind| match crate::logformat::LogTemplate::parse(
            kind,
            &c.string(kind.option()),
        ) {
            Ok(t) => t,
            Err(e) => {
                c.fail(kind.option(), e);
                crate::logformat::LogTemplate::default_for(kind)
            }
        };
    let standard_format = template(crate::logformat::TemplateKind::Standard);
    let auth_format = template(crate::logformat::TemplateKind::Auth);
    let request_format = template(crate::logformat::TemplateKind::Request);
    let logging = LoggingConfig {
        standard_format,
        auth_format,
        request_format,
        json,
        request_logging: c.boolean("request_logging"),
        auth_logging: c.boolean("auth_logging"),
        standard_logging: c.boolean("standard_logging"),
        silence_ping_logging: c.boolean("silence_ping_logging"),
        exclude_logging_paths,
        ..logging::log_outputs(&mut c)
    };
    let limits = super::limits::limits(&mut c);
    let signature = signing::signature(&mut c);
    let session_store = session::session_store(&mut c);
    let logout = session::logout(&mut c, &session_store);
    let tracing = super::TracingConfig {
        enabled: c.boolean("otel_traces_enabled"),
        record_user: c.boolean("otel_traces_record_user"),
    };
    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    let (Some(providers), Some(cookie)) = (providers, cookie) else {
        // Each `None` above recorded an error; this is only reached if that invariant breaks.
        return Err(ConfigErrors(vec![ConfigError::new(
            "config",
            "internal error: configuration incomplete",
        )]));
    };
    Ok(Config {
        server,
        metrics_server,
        grpc_ext_authz_address,
        proxy_prefix,
        ping_path,
        ready_path,
        ping_user_agent: c.opt_string("ping_user_agent"),
        gcp_healthchecks: c.boolean("gcp_healthchecks"),
        redirect_url,
        redirect_path,
        relative_redirect_url,
        upstream_config,
        inject_request_headers,
        inject_response_headers,
        prefer_email_to_user: c.boolean("prefer_email_to_user"),
        reverse_proxy: c.boolean("reverse_proxy"),
        real_client_ip_header,
        whitelist_domains,
        providers,
        cookie,
        authz,
        pages,
        logging,
        machine,
        skip_auth_preflight: c.boolean("skip_auth_preflight"),
        trusted_proxy_ips,
        skip,
        force_https: c.boolean("force_https"),
        encode_state: c.boolean("encode_state"),
        config_file,
        alpha_config_file: alpha.map(|a| a.file),
        limits,
        force_json_errors: c.boolean("force_json_errors"),
        allow_query_semicolons: c.boolean("allow_query_semicolons"),
        signature,
        session_store,
        identity_assertion,
        policy,
        logout,
        tracing,
        load_warnings: c.warnings,
    })
}

/// `[http://]<ip>:<port>`; `:4180` means every IPv4 interface, `localhost` is 127.0.0.1.
/// A URL path option: must start with `/`; `strip_trailing` removes a trailing `/`.
pub(crate) fn path_option(c: &mut Ctx, key: &str, strip_trailing: bool) -> String {
    let raw = c.string(key);
    let mut v = raw.trim();
    let normalized = redirect::normalized_prefix(v);
    if let Some(n) = &normalized {
        c.warn_about(
            key,
            format!("{v:?} does not start with a single /: oauth2-proxy starts with it but then serves none of its endpoints (every request gets the sign-in page, whose links lead nowhere); authproxy serves them at {n:?}"),
        );
        v = n;
    }
    if !v.is_empty() && (!v.starts_with('/') || v.starts_with("//")) {
        c.fail(
            key,
            format!("{v:?} must be a path starting with a single /"),
        );
    }
    let encoded = redirect::encoded_prefix(v);
    if let Some(e) = &encoded {
        c.warn_about(
            key,
            format!("{v:?} has characters a URL path cannot carry as they are (whitespace, control characters, ?, #, % or \\): oauth2-proxy starts with it but serves none of its endpoints; authproxy serves them at {e:?}"),
        );
        v = e;
    }
    let v = if strip_trailing {
        v.trim_end_matches('/')
    } else {
        v
    };
    v.to_string()
}

/// Parse an absolute http(s) URL with a host.
pub(crate) fn http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a valid URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{s:?} must be an http:// or https:// URL"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} has no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("{s:?} must not contain credentials"));
    }
    if u.fragment().is_some() {
        return Err(format!("{s:?} must not have a #fragment"));
    }
    Ok(u)
}

pub(crate) fn opt_url(c: &mut Ctx, key: &str) -> Option<url::Url> {
    let s = c.opt_string(key)?;
    match http_url(&s) {
        Ok(u) => Some(u),
        Err(e) => {
            c.fail(key, e);
            None
        }
    }
}

/// `ping_path` / `ready_path`: v7 takes any string; one that does not start with `/` matches no
/// request (the endpoint is off), which is accepted with a warning.
pub(crate) fn endpoint_path(c: &mut Ctx, key: &str) -> String {
    let raw = c.string(key);
    let v = raw.trim();
    if !v.starts_with('/') {
        c.warn_about(
            key,
            format!("{v:?} does not start with /, so no request reaches this endpoint (as in oauth2-proxy)"),
        );
    }
    v.to_string()
}

/// `redirect_url`: an absolute URL, or a path (v7 accepts any relative form: the callback URL
/// is then this request's scheme and host with that path). Only what Go's `url.Parse` refuses
/// is refused; forms that cannot work are accepted with a warning.
pub(crate) fn redirect_url(c: &mut Ctx, proxy_prefix: &str) -> (Option<url::Url>, Option<String>) {
    let Some(s) = c.opt_string("redirect_url") else {
        return (None, None);
    };
    let want = format!("{proxy_prefix}/callback");
    let mut s = s;
    match redirect::relative_ref(&s, &want) {
        Err(e) => {
            c.fail("redirect_url", format!("{s:?} is not a valid URL: {e}"));
            return (None, None);
        }
        Ok(redirect::RelativeRef::Path(p)) => {
            if p == want {
                return (None, None);
            }
            if p.contains('#') {
                c.warn_about(
                    "redirect_url",
                    format!("{s:?} has a #fragment, which providers refuse in a redirect URI"),
                );
            }
            c.warn_about(
                "redirect_url",
                format!("the relative callback {s:?} is not this proxy's callback endpoint {want:?}; the provider sends users to this host's {p}, so make sure it routes to {want}"),
            );
            return (None, Some(p));
        }
        Ok(redirect::RelativeRef::NoScheme) => {
            c.warn_about(
                "redirect_url",
                format!("{s:?} has a host but no scheme; oauth2-proxy sends it to the provider as it is (providers refuse it), authproxy uses https:{s}"),
            );
            s = format!("https:{s}");
        }
        Ok(redirect::RelativeRef::Absolute) => {}
    }
    match url::Url::parse(&s) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            if !u.username().is_empty() || u.password().is_some() || u.fragment().is_some() {
                c.warn_about(
                    "redirect_url",
                    format!("{s:?} has credentials or a #fragment, which providers refuse in a redirect URI"),
                );
            }
            (Some(u), None)
        }
        Ok(u) => {
            c.warn_about(
                "redirect_url",
                format!("{s:?} is not an http:// or https:// URL with a host; providers will refuse it as a redirect URI (oauth2-proxy starts with it too)"),
            );
            (Some(u), None)
        }
        Err(e) => {
            c.fail("redirect_url", format!("{s:?} is not a valid URL: {e}"));
            (None, None)
        }
    }
}
